//! `compat run`: its flags, resolved into a [`RunPlan`] before any work
//! starts: registry, backend, settings, devices, matrix, prompts, executor,
//! analysis.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use super::analyze::AnalyzeFlags;
use crate::exit::{bad_input, usage};
use crate::matrix::{self, Combos};
use crate::registry::Registry;
use crate::runner::{self, ExecutorPlan, OutputMode, RunPlan};
use crate::settings;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The feature every configuration is built on (e.g. cfg_parallel); without it,
    /// each addon is tested on the pure baseline alone
    #[arg(long, alias = "baseline-feature", value_name = "FEATURE")]
    pub baseline: Option<String>,
    /// Features added to the baseline feature, one configuration each (or every subset)
    #[arg(long, num_args = 0.., value_name = "FEATURE")]
    pub addons: Vec<String>,
    /// pairs: baseline feature + each addon; all: every subset of the addons
    #[arg(long, value_enum, default_value = "pairs")]
    pub combos: CombosArg,
    /// Backend from the registry [default: the registry's default_backend]
    #[arg(long)]
    pub backend: Option<String>,
    /// Model id passed to the backend [default: the backend's]
    #[arg(long)]
    pub model: Option<String>,
    /// Prompts to run [default: the backend's, else 20]
    #[arg(long)]
    pub num_prompts: Option<usize>,
    /// One prompt per line; blank lines and # comments ignored [default: built-in prompts]
    #[arg(long, value_name = "FILE")]
    pub prompt_file: Option<PathBuf>,
    /// Inference steps [default: the backend's, else 30]
    #[arg(long)]
    pub steps: Option<u32>,
    /// Image height in pixels [default: the backend's, else 1024]
    #[arg(long)]
    pub height: Option<u32>,
    /// Image width in pixels [default: the backend's, else 1024]
    #[arg(long)]
    pub width: Option<u32>,
    /// Classifier-free guidance scale [default: 4.0]
    #[arg(long)]
    pub cfg_scale: Option<f64>,
    /// Distilled guidance, a model input (FLUX.1-dev: 3.5 with --cfg-scale 1),
    /// for backends with {guidance_scale} [default: the backend's, else the engine's]
    #[arg(long)]
    pub guidance_scale: Option<f64>,
    /// Seed of prompt 0; prompt i uses seed + i [default: 42]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Negative prompt (the unconditional branch of CFG) [default: empty]
    #[arg(long)]
    pub negative_prompt: Option<String>,
    /// Run the pure baseline twice with the same seeds (folder
    /// baseline.repeat): the engine's own run-to-run difference, against
    /// which lossless features are judged when the engine is not deterministic
    #[arg(long)]
    pub repeat_baseline: bool,
    /// Untimed generations before the timed ones, per configuration (the
    /// backend's {warmup} placeholder) [default: 1]
    #[arg(long, value_name = "N")]
    pub warmup: Option<u32>,
    /// Devices available (overrides discovery)
    #[arg(long, value_name = "N")]
    pub gpus: Option<usize>,
    /// Results root; the run goes into <output-dir>/<baseline>/
    #[arg(long, default_value = "compat_results")]
    pub output_dir: PathBuf,
    /// Finish an earlier run: keep configurations that completed with the same inputs
    #[arg(long, conflicts_with = "force")]
    pub resume: bool,
    /// Start over, deleting an earlier run in the same directory
    #[arg(long)]
    pub force: bool,
    /// Per-configuration time limit (e.g. 30m, 2h)
    #[arg(long, default_value = "2h", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Wait between TERM and KILL when stopping a backend
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, hide = true)]
    pub kill_grace: Duration,
    /// Most configurations running at once (packed onto disjoint devices)
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// One configuration at a time (for timing-sensitive runs)
    #[arg(long, conflicts_with = "jobs")]
    pub serial: bool,
    /// Where backends run: local processes, or one Slurm job per configuration
    #[arg(long, value_enum, default_value = "local")]
    pub executor: ExecutorKind,
    /// Slurm partition [default: the registry's [slurm] partition]
    #[arg(long, help_heading = "Slurm")]
    pub partition: Option<String>,
    /// Slurm account
    #[arg(long, help_heading = "Slurm")]
    pub account: Option<String>,
    /// Slurm time limit per job, in Slurm's format (e.g. 02:00:00)
    #[arg(long, help_heading = "Slurm", value_name = "TIME")]
    pub slurm_time: Option<String>,
    /// Extra srun argument (repeatable), e.g. --srun-arg=--qos=high
    #[arg(
        long = "srun-arg",
        help_heading = "Slurm",
        value_name = "ARG",
        allow_hyphen_values = true
    )]
    pub srun_args: Vec<String>,
    /// Print every configuration, its GPUs, SKIP reason and argv, and the
    /// planned order; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Plan the order with the durations of an earlier run (its folder, its
    /// manifest.json, or its report.json); `--resume` uses the folder's own
    #[arg(long, value_name = "PATH")]
    pub estimates_from: Option<PathBuf>,
    /// The queue order: planned by estimated durations, or largest GPU count
    /// first (the order before planning, for comparison)
    #[arg(long, value_enum, default_value = "planned", hide = true)]
    pub queue_order: runner::QueueOrder,
    /// One backend process (one model load) per configuration, even where the
    /// backend can switch features on a loaded pipeline (docs/sessions.md)
    #[arg(long)]
    pub no_share_load: bool,
    /// Do not ask the installed engine what it supports (its `probe` in
    /// features.toml); SKIPs then come from features.toml alone
    #[arg(long)]
    pub no_probe: bool,
    /// Longest wait for the engine's probe
    #[arg(long, default_value = "3m", value_parser = humantime::parse_duration, hide = true)]
    pub probe_timeout: std::time::Duration,
    /// Run `compat analyze` on the results afterwards (with the flags below)
    #[arg(long)]
    pub analyze: bool,
    #[command(flatten, next_help_heading = "Analysis (with --analyze)")]
    pub analysis: AnalyzeFlags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecutorKind {
    Local,
    Slurm,
}

/// Which configurations to build from the addons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CombosArg {
    /// baseline, the baseline feature alone, then baseline feature + each addon.
    Pairs,
    /// Every subset of the addons with the baseline feature.
    All,
}

pub fn command(args: RunArgs, features: Option<&Path>) -> anyhow::Result<ExitCode> {
    runner::run(args.plan(features)?)
}

impl RunArgs {
    /// Resolves every flag; nothing is written or started here.
    pub fn plan(self, features: Option<&Path>) -> anyhow::Result<RunPlan> {
        let registry = Registry::locate(features)?;
        let backend_name = self
            .backend
            .clone()
            .unwrap_or_else(|| registry.default_backend.clone());
        let backend = registry
            .backend(&backend_name)
            .ok_or_else(|| usage(registry.unknown_backend(&backend_name)))?
            .clone();
        let (settings, num_prompts) =
            settings::resolve(&self.requested(), &backend).map_err(bad_input)?;
        self.check_limits(&backend, &settings)?;
        if let Some(n) = self.warmup
            && !settings::uses_placeholder(&backend.command, "warmup")
        {
            eprintln!(
                "note: --warmup {n} has no effect: backend '{}' has no {{warmup}} in its command \
                 (a cold first prompt is detected and left out instead)",
                backend.name
            );
        }
        let devices = self.devices(&backend)?;
        let engine = self.probe(&registry, &backend, &settings);
        let combos = match self.combos {
            CombosArg::Pairs => Combos::Pairs,
            CombosArg::All => Combos::All,
        };
        let configs = matrix::expand(
            &registry,
            self.baseline.as_deref(),
            &self.addons,
            combos,
            matrix::Target {
                backend: &backend.name,
                model: &settings.model,
                devices: devices.count,
                engine: engine.answer(),
            },
        )
        .map_err(bad_input)?;
        let mut configs = configs;
        if self.repeat_baseline {
            // Right after the baseline, so the two run back to back.
            configs.insert(1, matrix::baseline_repeat());
        }
        let prompts = crate::prompts::load(self.prompt_file.as_deref(), num_prompts)?;
        if let Some(asked) = prompts.clamped_from {
            eprintln!(
                "note: --num-prompts {asked} is more than {} holds; using its {} prompts",
                prompts.source,
                prompts.prompts.len()
            );
        }
        let executor = match self.executor {
            ExecutorKind::Local => ExecutorPlan::Local,
            ExecutorKind::Slurm => ExecutorPlan::Slurm(self.slurm_options(&registry)),
        };
        let analysis = if self.analyze || self.analysis.wanted() {
            Some(self.analysis.plan(self.run_dir())?)
        } else {
            None
        };
        // An unknown --metrics name must not wait for the whole run.
        if let Some(a) = &analysis {
            crate::analysis::chosen_plugins(a, &registry)?;
        }
        Ok(RunPlan {
            backend,
            settings,
            prompts: prompts.prompts,
            out: self.run_dir(),
            baseline_feature: self.baseline,
            addons: self.addons,
            combos,
            configs,
            engine,
            devices,
            output: match (self.resume, self.force) {
                (true, _) => OutputMode::Resume,
                (_, true) => OutputMode::Force,
                _ => OutputMode::Fresh,
            },
            executor,
            timeout: self.timeout,
            grace: self.kill_grace,
            jobs: if self.serial {
                1
            } else {
                self.jobs.unwrap_or(usize::MAX)
            },
            dry_run: self.dry_run,
            analysis,
            estimates_from: self.estimates_from,
            queue_order: self.queue_order,
            share_load: !self.no_share_load,
            registry,
        })
    }
}
