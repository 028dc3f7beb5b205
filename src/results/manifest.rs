//! `manifest.json`: the run's metadata and every configuration, SKIPPED ones
//! with their reason. Rewritten atomically after every configuration.

use serde::{Deserialize, Serialize};

use crate::matrix::Role;
use crate::settings::Settings;

/// Bumped when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Manifest schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// "compat".
    pub tool: String,
    /// compat's version.
    pub tool_version: String,
    /// When the run was first started (RFC 3339).
    pub created: String,
    /// When this file was last written.
    pub updated: String,
    /// Where the feature registry came from.
    pub registry: String,
    /// Backend name from the registry.
    pub backend: String,
    /// The backend's argv template, placeholders unsubstituted.
    pub backend_command: Vec<String>,
    /// The run settings (model, steps, size, CFG scale, seed, negative
    /// prompt), as top-level keys.
    #[serde(flatten)]
    pub settings: Settings,
    /// The prompts actually used (also in prompts.txt).
    pub prompts: Vec<String>,
    /// None: each addon tested on the pure baseline alone.
    #[serde(default)]
    pub baseline_feature: Option<String>,
    pub addons: Vec<String>,
    /// "pairs" or "all".
    pub combos: String,
    /// What devices were found, and how.
    pub devices: DeviceInfo,
    /// Per-configuration timeout in seconds.
    pub timeout_seconds: u64,
    /// "local" or "slurm".
    #[serde(default = "default_executor")]
    pub executor: String,
    /// The installed engine as its probe reported it (docs/probe.md); none
    /// when no probe answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<crate::probe::EngineInfo>,
    /// What the probe came to, in words ("xfuser 0.7.0 (probed: …)", or why
    /// it was not probed and the SKIPs come from features.toml alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_probe: Option<String>,
    /// Every configuration, in matrix order.
    pub configs: Vec<ConfigEntry>,
    /// Configurations that shared one backend process, one model load
    /// (docs/sessions.md), and what the contamination check found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<SessionRecord>,
}

/// One backend process that ran several configurations (a session).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionRecord {
    /// The configuration run first, and again last for the check.
    pub base: String,
    /// Every configuration of the session in run order, the base first.
    pub members: Vec<String>,
    pub gpus: u32,
    /// The base's second run, relative to the run folder.
    pub check_dir: String,
    pub check: SessionCheck,
    /// Wall seconds of the check run (the price of trusting the session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_seconds: Option<f64>,
}

/// How the reasons a session's check gives its members begin
/// (docs/sessions.md): compat's own verdicts on configurations whose backend
/// did not fail, which the reader shows without "the backend failed".
pub const SESSION_LEAKED: &str = "state leaked between configurations";
/// See [`SESSION_LEAKED`]: a member the check could not vouch for.
pub const SESSION_UNVERIFIED: &str = "not verified: ";

/// The contamination check: the base's second run against its first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum SessionCheck {
    /// Not run yet.
    Pending,
    /// Every image byte-identical: no state leaked.
    Identical,
    /// These prompts' images differ (0-based): state leaked, unless the run
    /// has a repeated baseline whose noise floor covers the difference
    /// (judged by `compat analyze`).
    Differs { prompts: Vec<usize> },
    /// The check could not be made (the session ended early, the base failed).
    NotRun { reason: String },
}

fn default_executor() -> String {
    "local".to_string()
}

/// The devices the run could use.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceInfo {
    pub count: usize,
    /// Device ids as they go into CUDA_VISIBLE_DEVICES / COMPAT_DEVICES.
    pub ids: Vec<String>,
    /// How they were found: "nvml", "CUDA_VISIBLE_DEVICES", "--gpus", "cpu-cores", "none".
    pub source: String,
    /// A human sentence: "2 GPUs from NVML (NVIDIA H100 80GB HBM3)", "no NVIDIA driver".
    pub detail: String,
}

/// What happened to a configuration.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConfigState {
    /// Not run yet.
    Pending,
    /// Running now (a manifest left in this state was killed hard).
    Running,
    /// Not run: GPU budget, conflict (see `skip_reason`).
    Skipped,
    /// The backend exited 0 and every prompt has its image.
    Completed,
    /// The backend failed, or some prompt has no image (see `error`).
    Failed,
    /// Killed after the per-config timeout.
    TimedOut,
    /// Stopped by Ctrl-C; `--resume` reruns it.
    Interrupted,
}

impl ConfigState {
    /// The name as written in manifest.json ("timed_out").
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigState::Pending => "pending",
            ConfigState::Running => "running",
            ConfigState::Skipped => "skipped",
            ConfigState::Completed => "completed",
            ConfigState::Failed => "failed",
            ConfigState::TimedOut => "timed_out",
            ConfigState::Interrupted => "interrupted",
        }
    }

    /// Finished for good: `--resume` keeps it when the fingerprint matches.
    pub fn is_done(self) -> bool {
        matches!(self, ConfigState::Completed)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfigEntry {
    /// Feature ids joined by `+` in registry order; "baseline" for none.
    pub name: String,
    /// baseline | baseline_feature | addon | combo
    pub role: Role,
    pub features: Vec<String>,
    /// The features' arguments for this backend, in registry order.
    pub args: Vec<String>,
    /// The exact argv started (empty for SKIPPED).
    pub argv: Vec<String>,
    /// GPUs needed: the product of the features' multipliers.
    pub gpus: u32,
    /// Holds a lossy feature.
    pub lossy: bool,
    pub state: ConfigState,
    /// Why it was not run (SKIPPED only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Devices assigned.
    pub devices: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// Wall time of the backend process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Prompts that produced an image.
    pub prompts_ok: usize,
    /// Hash of everything that determines the output (features, args, prompts,
    /// steps, size, seed, backend command); `--resume` keeps a completed config
    /// only when it still matches.
    pub fingerprint: String,
    /// Configurations that ran at the same time (packing / Slurm).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub concurrent_with: Vec<String>,
    /// The engine this configuration ran on (the run's probe when it was
    /// started; a resumed run keeps each completed config's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<crate::probe::EngineInfo>,
    /// Slurm job id, when run through Slurm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_job_id: Option<String>,
    /// Peak used memory per assigned GPU, sampled through NVML while it ran.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub gpu_memory_peak_bytes: std::collections::BTreeMap<String, u64>,
    /// Used memory per assigned GPU when it started (NVML's first sample).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub gpu_memory_start_bytes: std::collections::BTreeMap<String, u64>,
    /// The session (its base's name) this configuration ran in, when it
    /// shared a backend process with others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}
