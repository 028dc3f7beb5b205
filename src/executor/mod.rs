//! Executors: start a backend per configuration, collect what it made.
//!
//! Plan, execute and report are separate (nextest): the executor sends
//! [`Event`]s; `run` turns them into the manifest and the progress display.

pub mod collect;
mod job;
pub mod memory;
pub mod plan_order;
pub mod process;
mod schedule;
mod session;
pub mod slurm;

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

pub use collect::Collected;
pub use process::{Cancel, Outcome};
pub use schedule::execute;
pub use session::leaked as session_leak;

/// One configuration to run.
#[derive(Debug, Clone)]
pub struct Job {
    /// Index into the manifest's configs.
    pub index: usize,
    pub name: String,
    pub gpus: u32,
    /// The configuration's results folder (emptied before the start).
    pub dir: PathBuf,
    /// The exact argv, placeholders substituted.
    pub argv: Vec<String>,
    pub num_prompts: usize,
    /// Several configurations in this one process (docs/sessions.md): the
    /// job is its base's, and `argv` already carries `--session FILE`.
    pub session: Option<SessionJob>,
}

/// What a session job runs after its load, and how it is checked.
#[derive(Debug, Clone)]
pub struct SessionJob {
    /// In run order, the base (the job's own configuration) first.
    pub members: Vec<Member>,
    /// Where the base's second run (the contamination check) writes.
    pub check_dir: PathBuf,
    /// Without a repeated baseline a difference is a leak; with one the
    /// analysis judges it against the engine's noise floor.
    pub byte_identity_required: bool,
}

/// One configuration of a session.
#[derive(Debug, Clone)]
pub struct Member {
    pub index: usize,
    pub name: String,
    pub dir: PathBuf,
}

/// How to run the jobs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Device ids to pack configurations onto.
    pub devices: Vec<String>,
    /// Most configurations at once.
    pub jobs: usize,
    /// Per configuration; None leaves the limit to Slurm.
    pub timeout: Option<Duration>,
    /// Between TERM and KILL.
    pub grace: Duration,
    /// Where the backends run.
    pub launcher: Launcher,
    /// NVML, to sample the assigned GPUs' memory (local runs with a driver).
    pub gpu_memory: Option<std::sync::Arc<memory::GpuMemory>>,
    /// Where each backend's process group is recorded (the run's lock file).
    pub groups: Option<GroupLog>,
}

/// The variable every backend's environment carries with its run's token:
/// a later run finds the groups a killed compat left behind by it.
pub const RUN_ID_ENV: &str = "COMPAT_RUN_ID";

/// The run's token and where a started backend's process group is recorded.
#[derive(Clone)]
pub struct GroupLog {
    pub token: String,
    pub sink: std::sync::Arc<dyn Fn(u32) + Send + Sync>,
}

impl std::fmt::Debug for GroupLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupLog")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// Where backends run.
#[derive(Debug, Clone)]
pub enum Launcher {
    /// Child processes on this machine, packed onto `devices`.
    Local,
    /// One Slurm job per configuration; Slurm assigns the devices.
    Slurm(slurm::SlurmOptions),
}

/// What the executor reports as it goes.
#[derive(Debug)]
pub enum Event {
    Started {
        index: usize,
        devices: Vec<String>,
    },
    Progress {
        index: usize,
        done: usize,
    },
    Finished {
        index: usize,
        result: Box<JobResult>,
    },
    /// A session's contamination check, after its process ended and before
    /// its members' `Finished`.
    SessionChecked {
        /// The base's manifest index.
        base: usize,
        check: crate::results::SessionCheck,
        check_seconds: Option<f64>,
    },
}

/// How one configuration ended.
#[derive(Debug, Clone)]
pub struct JobResult {
    pub outcome: Outcome,
    pub seconds: f64,
    /// What it produced (absent when the folder could not be read).
    pub collected: Option<Collected>,
    /// Why it is not a clean success, if it is not.
    pub error: Option<String>,
    /// Where and when Slurm ran it, when run through Slurm.
    pub placement: Option<slurm::Placement>,
    /// Peak used memory per assigned GPU, sampled through NVML (empty without it).
    pub gpu_memory_peak: std::collections::BTreeMap<String, u64>,
    /// Used memory per assigned GPU at the first sample, before the engine
    /// loaded: a device whose peak stays near it was never used.
    pub gpu_memory_start: std::collections::BTreeMap<String, u64>,
    /// When it really started and ended, where that is not the process's
    /// start and end (a configuration inside a session).
    pub span: Option<(std::time::SystemTime, std::time::SystemTime)>,
}

pub type Events = mpsc::UnboundedSender<Event>;
pub type CancelRx = watch::Receiver<Cancel>;
