//! What `compat run` is asked to do: every flag resolved and checked by
//! `cmd::run` before any work starts.

use std::path::PathBuf;
use std::time::Duration;

use crate::analysis::AnalyzePlan;
use crate::executor::slurm::SlurmOptions;
use crate::matrix::{Combos, Config};
use crate::registry::{Backend, DeviceSource, Registry};
use crate::results::DeviceInfo;
use crate::settings::Settings;

/// What to do with an earlier run in the output folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// Refuse to touch an earlier run.
    Fresh,
    /// Keep the configurations that completed with the same inputs.
    Resume,
    /// Delete the earlier run first.
    Force,
}

/// Where the backends run.
#[derive(Debug, Clone)]
pub enum ExecutorPlan {
    /// Child processes here, packed onto the devices.
    Local,
    /// One Slurm job per configuration; Slurm enforces the time limit.
    Slurm(SlurmOptions),
}

/// One `compat run`, resolved.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub registry: Registry,
    pub backend: Backend,
    pub settings: Settings,
    /// The prompts to run.
    pub prompts: Vec<String>,
    /// None: each addon tested on the pure baseline alone.
    pub baseline_feature: Option<String>,
    pub addons: Vec<String>,
    pub combos: Combos,
    /// The matrix, SKIPs included.
    pub configs: Vec<Config>,
    /// What the installed engine said of itself and the run's features.
    pub engine: crate::probe::Outcome,
    pub devices: DeviceInfo,
    /// `<output-dir>/<baseline feature>`, as given.
    pub out: PathBuf,
    pub output: OutputMode,
    pub executor: ExecutorPlan,
    /// Per configuration (recorded in the manifest; under Slurm, Slurm's).
    pub timeout: Duration,
    /// Between TERM and KILL.
    pub grace: Duration,
    /// Most configurations at once.
    pub jobs: usize,
    /// Print the plan, write nothing.
    pub dry_run: bool,
    /// Analyse afterwards.
    pub analysis: Option<AnalyzePlan>,
    /// An earlier run whose durations the queue order is planned with.
    pub estimates_from: Option<PathBuf>,
    /// How the executor's queue is ordered.
    pub queue_order: QueueOrder,
    /// Run configurations that differ only in switchable features in one
    /// backend process (docs/sessions.md); off with `--no-share-load`.
    pub share_load: bool,
}

/// How the executor's queue is ordered (`--queue-order`, for benchmarks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueueOrder {
    /// The shortest simulated makespan under the estimates (executor::plan_order).
    Planned,
    /// Largest GPU count first, matrix order among equals (before planning).
    LargestFirst,
}

impl RunPlan {
    /// Our own time limit: none under Slurm, whose limit runs from the job's
    /// start while ours would also count the time spent in the queue.
    pub fn executor_timeout(&self) -> Option<Duration> {
        match self.executor {
            ExecutorPlan::Local => Some(self.timeout),
            ExecutorPlan::Slurm(_) => None,
        }
    }

    /// NVML memory sampling: local runs on GPUs only.
    pub fn samples_gpu_memory(&self) -> bool {
        matches!(self.executor, ExecutorPlan::Local) && self.backend.devices == DeviceSource::Gpu
    }

    /// "local" or "slurm", as the manifest says.
    pub fn executor_name(&self) -> &'static str {
        match self.executor {
            ExecutorPlan::Local => "local",
            ExecutorPlan::Slurm(_) => "slurm",
        }
    }

    /// Whether the run summary goes to stderr: `--analyze --json` keeps
    /// stdout for the report alone, for scripts.
    pub fn summary_to_stderr(&self) -> bool {
        self.analysis.as_ref().is_some_and(|a| a.exports.json)
    }
}
