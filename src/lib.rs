//! compat — the compatibility test matrix for diffusion serving engines.
//!
//! Stages as modules, plain data between them (DESIGN §1):
//! `registry` → `matrix` → `devices` → `executor` → results on disk (`results`)
//! → `analysis` → `report` → `compare`. The reference engine (`reference`) is
//! reached only through the backend protocol, as a child process.

pub mod analysis;
pub mod cli;
pub mod compare;
pub mod devices;
pub mod executor;
pub mod exit;
pub mod features_table;
pub mod fingerprint;
pub mod matrix;
pub mod progress;
pub mod prompts;
pub mod reference;
pub mod registry;
pub mod report;
pub mod results;
pub mod rng;
pub mod run;
pub mod settings;
