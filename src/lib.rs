//! compat — the compatibility test matrix for diffusion serving engines.
//!
//! # Module map
//!
//! Stages as modules, plain data between them (DESIGN §1). Each line: the
//! folder, what it owns, what it may import.
//!
//! ```text
//! cmd/        the command line: one file per subcommand, clap struct → plan.
//!             The only place clap lives; imports any stage, none imports it.
//! registry/   features.toml → Registry (features, backends, conflicts,
//!             thresholds); errors with file:line. Imports nothing of ours.
//! matrix      Registry + baseline/addons → Configs with GPU needs and SKIP
//!             reasons. Imports registry.
//! settings    the run settings (the single list: manifest, report, fingerprint)
//!             and a config's argv. Imports registry, matrix.
//! devices     how many devices and which ids (NVML, CUDA_VISIBLE_DEVICES,
//!             CPU cores, Slurm). Imports registry, results.
//! executor/   start backends (local processes, Slurm), pack them onto devices,
//!             collect their files; sends Events. Imports results.
//! runner/     `compat run`'s flow: RunPlan → manifest → executor, with the
//!             recorder turning events into the manifest. Imports the stages.
//! results/    the results folder: names, on-disk types (manifest,
//!             config_info, results.jsonl), atomic writes, and the one reader.
//!             Imports matrix (Role), settings.
//! analysis/   results → Report: image metrics, timing, status rules.
//!             Imports results, registry, report (model, export).
//! report/     the Report (report.json's schema) and its exporters, one file
//!             per format behind `export::Exporter`. Imports results.
//! compare/    several report.json → verdicts and a gate. Imports report.
//! history/    many nights of report.json → series, changes (status, flaky,
//!             level shifts), history.json and a page. Imports report, results.
//! reference/  the embedded CPU engine, a backend like any other (reached
//!             through the backend protocol, `compat generate`).
//! probe       ask the installed engine what it can do, and its version,
//!             before the matrix (docs/probe.md). Imports registry, settings, text.
//! text        backend text made safe and short (one line, no control chars).
//! text_table  the aligned text table every terminal table is written with.
//! ```
//!
//! Where to add: a feature → `features.toml` (and the backend's flags); a
//! metric → `analysis/metrics.rs` + a field in `report/model.rs`; an exporter
//! → a file in `report/` implementing `export::Exporter`, listed in
//! `export::publish`; a backend → a `[backends.NAME]` table speaking the
//! protocol of DESIGN §4 (the runner never needs to change); a run setting →
//! `settings::Settings` (manifest, report and fingerprint follow).

pub mod analysis;
mod cmd;
pub mod compare;
pub(crate) mod devices;
pub(crate) mod executor;
pub mod exit;
pub(crate) mod features_table;
pub(crate) mod fingerprint;
pub mod history;
pub mod matrix;
pub mod probe;
pub(crate) mod progress;
pub(crate) mod prompts;
pub(crate) mod reference;
pub mod registry;
pub mod report;
pub mod results;
pub(crate) mod rng;
pub(crate) mod runner;
pub mod settings;
pub(crate) mod text;
pub(crate) mod text_table;

pub use cmd::main;
