//! The comparison, as data: what `--json` prints and what the table and the
//! Markdown are rendered from. This struct *is* the `--json` schema.

use serde::Serialize;

use super::verdict::{Rules, Verdict};
use crate::report::model::{Interval, Status};

/// The `--json` schema version; bump when a field changes meaning.
pub const COMPARE_SCHEMA_VERSION: u32 = 1;

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// [`COMPARE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Always "compat".
    pub tool: String,
    /// Version of the compat binary.
    pub tool_version: String,
    /// What was compared: always "mean_gen_time_ms" (see `compat compare --help`).
    pub speed_metric: String,
    /// The noise threshold and the gate's slowdown limit, as fractions.
    pub rules: Rules,
    /// The reports, the first being the reference.
    pub reports: Vec<ReportRef>,
    /// Differences that did not stop the comparison (and all of them under --force).
    pub warnings: Vec<String>,
    /// The metric plugins' columns (docs/metrics.md): those any report
    /// measured, in the first report's order then new ones.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricColumn>,
    /// One row per config name, the first report's order then new ones.
    pub configs: Vec<ConfigRow>,
    /// Verdict counts per report after the first.
    pub summary: Vec<ReportSummary>,
    /// The `--best` choices; null without `--best`.
    pub best: Option<Best>,
    /// The `--fail-on-regression` gate.
    pub gate: Gate,
}

/// A metric plugin's column.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MetricColumn {
    /// The `[metrics.NAME]` name (the key of `metrics` and `metric_deltas`).
    pub name: String,
    /// Its heading ("LPIPS", "CLIP Δ").
    pub heading: String,
}

/// One input report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportRef {
    /// "A", "B", …
    pub label: String,
    /// The report.json read.
    pub path: String,
    /// Its schema version.
    pub schema_version: u32,
    /// When it was written.
    pub generated: String,
    /// Model.
    pub model: Option<String>,
    /// Backend.
    pub backend: Option<String>,
    /// Steps.
    pub steps: Option<u32>,
    /// Height.
    pub height: Option<u32>,
    /// Width.
    pub width: Option<u32>,
    /// Prompts per config.
    pub num_prompts: usize,
    /// What its run cost (report.json's bill); null where it has none.
    pub cost: Option<Cost>,
}

/// A run's cost, from its report's bill (report::bill).
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    /// GPU-seconds held by its configurations.
    pub gpu_seconds: f64,
    /// Seconds during which some configuration ran.
    pub makespan_seconds: Option<f64>,
    /// max(longest configuration, GPU-seconds / devices).
    pub lower_bound_seconds: f64,
    pub loads: usize,
    pub loads_avoided: usize,
}

/// A config as one report has it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// PASS … SKIP.
    pub status: Status,
    /// Mean generation time per image, ms.
    pub mean_gen_time_ms: Option<f64>,
    /// Speedup against the report's own baseline.
    pub speedup: Option<f64>,
    /// Its 95% interval.
    pub speedup_ci: Option<Interval>,
    /// Mean MeanDiff against the report's own baseline.
    pub mean_diff_avg: Option<f64>,
    /// The report's reason (skip reason, error, threshold).
    pub reason: Option<String>,
    /// Each metric plugin's judged figure: the mean ("pair"), the change
    /// against the report's own baseline ("prompt").
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metrics: std::collections::BTreeMap<String, f64>,
}

/// One config across every report.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigRow {
    /// Config name.
    pub name: String,
    /// GPUs, from the first report holding it.
    pub total_gpus: u32,
    /// One per report, in order; null where the report lacks the config.
    pub entries: Vec<Option<Entry>>,
    /// One per report after the first: its change against the first.
    pub changes: Vec<Change>,
}

/// One config, one report against the first.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// This report's label.
    pub report: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Status in the first report (null: Missing there).
    pub status_from: Option<Status>,
    /// Status in this report (null: Missing here).
    pub status_to: Option<Status>,
    /// Mean time ratio − 1 (negative: faster).
    pub time_change: Option<f64>,
    /// Whether the time intervals are disjoint (null: no interval on a side).
    pub significant: Option<bool>,
    /// Speedup here − speedup in the first.
    pub speedup_delta: Option<f64>,
    /// MeanDiff here − MeanDiff in the first.
    pub mean_diff_delta: Option<f64>,
    /// Each metric's figure here − in the first, where both have it.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metric_deltas: std::collections::BTreeMap<String, f64>,
    /// A note ("SKIP → PASS: not comparable", "no interval").
    pub note: Option<String>,
    /// Why it fails the gate; null when it does not.
    pub gate: Option<String>,
}

/// Verdict counts of one report against the first.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReportSummary {
    /// The report's label.
    pub report: String,
    /// Improved configs.
    pub improved: usize,
    /// Regressed configs.
    pub regressed: usize,
    /// Unchanged configs.
    pub unchanged: usize,
    /// SKIP on one side only.
    pub not_comparable: usize,
    /// Only in this report.
    pub new: usize,
    /// Only in the first.
    pub missing: usize,
    /// Configs whose status changed.
    pub status_changes: usize,
}

/// A chosen config.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Pick {
    /// The report's label.
    pub report: String,
    /// Config name.
    pub name: String,
    /// Its GPUs.
    pub total_gpus: u32,
    /// Its status (PASS, or WARN with --allow-warn).
    pub status: Status,
    /// Mean time per image, ms.
    pub mean_gen_time_ms: f64,
    /// Its speedup against its report's baseline.
    pub speedup: Option<f64>,
}

/// The best of one report.
#[derive(Debug, Clone, Serialize)]
pub struct BestOfReport {
    /// The report's label.
    pub report: String,
    /// The fastest eligible config.
    pub fastest: Option<Pick>,
    /// The fastest eligible config per GPU count, by GPU count.
    pub per_gpus: Vec<Pick>,
}

/// `--best`.
#[derive(Debug, Clone, Serialize)]
pub struct Best {
    /// WARN configs were eligible.
    pub allow_warn: bool,
    /// Per report.
    pub per_report: Vec<BestOfReport>,
    /// The fastest over all reports.
    pub overall: Option<Pick>,
    /// The fastest per GPU count over all reports.
    pub overall_per_gpus: Vec<Pick>,
}

/// The `--fail-on-regression` gate.
#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    /// `--fail-on-regression` was given.
    pub enabled: bool,
    /// Some config fails it (reported even when not enabled).
    pub failed: bool,
    /// "B: cfg_parallel+teacache: status PASS → FAIL", …
    pub reasons: Vec<String>,
}
