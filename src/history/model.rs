//! history.json's schema (docs/history.md). These structs *are* the schema:
//! `compat history add` reads the same file back, so the folder never needs
//! the old reports — the runs and the series points are all it keeps.

use serde::{Deserialize, Serialize};

use crate::report::model::Status;

/// The history.json schema version.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole file: the runs, their settings groups, one series per
/// (configuration, settings) and the changes found in them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct History {
    pub schema_version: u32,
    /// Always "compat".
    pub tool: String,
    pub tool_version: String,
    /// When this file was written (RFC 3339, UTC).
    pub generated: String,
    /// Every run, oldest first (see [`Run`] for the order).
    pub runs: Vec<Run>,
    /// One entry per settings fingerprint: runs with different settings are
    /// different series, never mixed.
    pub settings: Vec<SettingsGroup>,
    /// One series per configuration name and settings fingerprint.
    pub series: Vec<Series>,
    /// What changed, oldest first by `first_bad`.
    pub changes: Vec<Change>,
    /// What the reader must know: reports left out and why, configs that
    /// vanished or appeared, ties in time.
    pub notes: Vec<String>,
}

/// One run (one report.json). Runs are ordered by the report's `generated`
/// time; ties by the run's start (`created`), then by `source`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Run {
    /// When the report was written (the report's `generated`).
    pub generated: String,
    /// When the run started (`run.created`), when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The report.json it came from, as given.
    pub source: String,
    /// That night's diff_report.html, relative to the history folder (or to
    /// the working directory without `--out`); null when none sat beside
    /// the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_report: Option<String>,
    /// The settings fingerprint (a key of [`History::settings`]).
    pub settings: String,
    /// The engine builds its configurations ran on ("vllm-omni 0.30.0
    /// (abc123)"), joined by ", "; null when none was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// What the run cost (its report's `bill`), when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<RunCost>,
}

/// A run's bill, in short: cost next to speed, night by night.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunCost {
    /// GPU-seconds held by every configuration that ran.
    pub gpu_seconds: f64,
    /// Model loads paid.
    pub loads: usize,
    /// Model loads saved by shared loads (docs/sessions.md).
    #[serde(default)]
    pub loads_avoided: usize,
    /// Wall seconds during which some configuration ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub makespan_seconds: Option<f64>,
}

/// The settings that make a series: two runs are comparable only when all
/// of these are equal.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SettingsGroup {
    /// Hash of every field below and the prompts themselves.
    pub fingerprint: String,
    /// "compat-reference-dit, 64×64, 4 steps, 2 prompts, seed 42 (reference)".
    pub label: String,
    pub backend: Option<String>,
    pub model: Option<String>,
    pub steps: Option<u32>,
    pub height: Option<u32>,
    pub width: Option<u32>,
    pub num_prompts: usize,
    pub seed: Option<u64>,
    pub cfg_scale: Option<f64>,
    /// Runs in this group.
    pub runs: usize,
}

/// One configuration's nights under one settings fingerprint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Series {
    /// The configuration's name (its features joined by `+`).
    pub config: String,
    /// The settings fingerprint.
    pub settings: String,
    /// Its features (from the newest run holding it).
    pub features: Vec<String>,
    /// One point per run holding this configuration, oldest first.
    pub points: Vec<Point>,
}

/// One configuration in one run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Point {
    /// Index into [`History::runs`].
    pub run: usize,
    pub status: Status,
    /// Why (SKIP reason, error, threshold); null for a plain PASS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Speedup against that run's own pure baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speedup: Option<f64>,
    /// Its 95% interval, `[low, high]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speedup_ci: Option<[f64; 2]>,
    /// Mean generation time per image, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_ms: Option<f64>,
    /// Mean MeanDiff against the pure baseline (0..1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_diff: Option<f64>,
    /// Mean PSNR (dB); null when every image was identical.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psnr: Option<f64>,
    /// Peak memory, bytes: the largest device's, as the engine reported it,
    /// else as NVML saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// The engine build this configuration ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<Engine>,
    /// Metric plugins' values (docs/metrics.md), as judged: a "pair"
    /// metric's mean, a "prompt" metric's change against the baseline's own
    /// score.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metrics: std::collections::BTreeMap<String, f64>,
}

/// An engine build.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Engine {
    /// "vllm-omni 0.30.0 (abc123def456)".
    pub label: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// What changed in a series.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The status changed (PASS → FAIL, …).
    Status,
    /// The speed settled at another level.
    Speed,
    /// The image difference against the baseline settled at another level.
    Quality,
    /// Peak memory settled at another level.
    Memory,
    /// The status goes back and forth without a lasting change.
    Flaky,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Status => "status",
            Kind::Speed => "speed",
            Kind::Quality => "quality",
            Kind::Memory => "memory",
            Kind::Flaky => "flaky",
        }
    }
}

/// Which way a change went.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Worse: a worse status, slower, larger difference, more memory.
    Regression,
    /// Better.
    Improvement,
    /// Neither (to or from SKIP; flaky).
    Other,
}

/// A run named in a change: enough to bisect between `last_good` and
/// `first_bad` without opening the reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRef {
    /// Index into [`History::runs`].
    pub run: usize,
    /// The run's `generated` time.
    pub generated: String,
    /// The engine build of this configuration in that run ("vllm-omni
    /// 0.30.0 (abc123)"); null when the report recorded none.
    pub engine: Option<String>,
    pub engine_version: Option<String>,
    pub engine_commit: Option<String>,
    /// That night's diff_report.html, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_report: Option<String>,
}

/// One change in one series.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Change {
    pub config: String,
    /// The settings fingerprint of the series.
    pub settings: String,
    pub kind: Kind,
    pub direction: Direction,
    /// The first run showing the change (for `flaky`, the first bad night of
    /// the first bounce).
    pub first_bad: RunRef,
    /// The run before it in this series; null when it is the first.
    pub last_good: Option<RunRef>,
    /// Status changes: the statuses before and after ("PASS", "FAIL").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Level shifts: the level before and after (the median of each
    /// level's nights: speedup ×, MeanDiff, bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<f64>,
    /// Level shifts: after / before − 1 (speed, memory) or after − before
    /// (quality, in MeanDiff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
    /// Flaky: how many times the status crossed between passing (PASS,
    /// WARN) and failing (FAIL, ERROR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flips: Option<usize>,
    /// Found only once the newest run was added: what the nightly gate
    /// (`--fail-on-new-regression`) looks at.
    pub new: bool,
    /// One line: "cfg_parallel+teacache PASS → FAIL, first bad … (engine …,
    /// last good …)".
    pub summary: String,
}
