//! THE report.json schema (DESIGN §7). This struct *is* the schema: the terminal
//! table, JUnit, Markdown, charts, HTML and `compat compare` all read it.
//!
//! A superset of the original framework's keys: `results[]` entries keep
//! `name`, `total_gpus`, `is_lossy`, `compat_status`, `mean_gen_time_ms`,
//! `speedup`, `mean_diff_avg`, `max_diff_avg`, so scripts written for the
//! original keep working. Bump [`SCHEMA_VERSION`] when a field changes meaning;
//! adding optional fields does not bump it.

use serde::{Deserialize, Serialize};

use crate::matrix::Role;
use crate::registry::Thresholds;
use crate::results::DeviceInfo;
use crate::settings::Settings;

pub use super::metric_model::{ConfigMetric, MetricRun};

/// The report.json schema version.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole report: run metadata, the thresholds, one entry per configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// Schema version of this file ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Always "compat".
    pub tool: String,
    /// Version of the compat binary that wrote this report.
    pub tool_version: String,
    /// When the report was written (RFC 3339, UTC).
    pub generated: String,
    /// The results directory that was analysed, as given.
    pub results_dir: String,
    /// "compat" (a manifest.json was present) or "original" (the original
    /// framework's layout: config folders only).
    pub layout: String,
    /// Where the feature registry (and thus feature thresholds) came from.
    pub registry: String,
    /// Run metadata, from the manifest when there is one.
    pub run: RunInfo,
    /// The run-wide thresholds: CLI overrides over the registry's `[thresholds]`
    /// over the defaults. A config may have stricter ones from its features;
    /// each `results[].thresholds` holds what was applied to that config.
    pub thresholds: Thresholds,
    /// Name of the pure baseline config ("baseline"); null when absent.
    pub baseline: Option<String>,
    /// Name of the baseline feature alone (e.g. "cfg_parallel"); null when unknown.
    pub baseline_feature: Option<String>,
    /// The factor SSIM downsampled the compared images by before its window
    /// (Wang's `ssim.m` and piq: `max(1, round(min(H, W) / 256))`, f×f block
    /// average): 4 for 1024×1024, 1 for images under 384 px (the largest if
    /// sizes differ; 1 when no image had to be decoded). Absent in reports
    /// written before downsampling, which read as 1.
    #[serde(default = "one")]
    pub ssim_downsample: u32,
    /// The pure baseline against itself run again with the same seeds
    /// (`--repeat-baseline`): the engine's own run-to-run difference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_repeat: Option<BaselineRepeat>,
    /// The metric plugins that ran (docs/metrics.md): timing, errors, notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricRun>,
    /// What the run cost in GPU-seconds and how well it was packed
    /// (report::bill); absent for the original's layout and for reports
    /// written before the bill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bill: Option<crate::report::bill::Bill>,
    /// Counts per status, and the verdict.
    pub summary: Summary,
    /// One entry per configuration, in matrix order (SKIPPED ones included).
    pub results: Vec<ConfigResult>,
}

impl Report {
    /// The engine builds its configurations ran on ("xfuser 0.7.0"),
    /// distinct and sorted; empty when no config recorded one.
    pub fn engines(&self) -> Vec<String> {
        let set: std::collections::BTreeSet<String> = self
            .results
            .iter()
            .filter_map(|r| r.engine.as_ref().map(crate::probe::EngineInfo::label))
            .collect();
        set.into_iter().collect()
    }
}

fn one() -> u32 {
    1
}

/// Run metadata (DESIGN §3 manifest); fields are null for the original's layout.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunInfo {
    /// Backend name from the registry.
    pub backend: Option<String>,
    /// The run settings (model, steps, height, width, cfg_scale, seed,
    /// negative_prompt) as top-level keys, from the manifest; absent for the
    /// original's layout, which has none.
    #[serde(flatten)]
    pub settings: Option<Settings>,
    /// The devices the run saw.
    pub devices: Option<DeviceInfo>,
    /// "local" or "slurm".
    pub executor: Option<String>,
    /// What the run's engine probe came to (docs/probe.md), in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_probe: Option<String>,
    /// When the run started (RFC 3339).
    pub created: Option<String>,
    /// The prompts (manifest, else prompts.txt; empty when neither exists).
    pub prompts: Vec<String>,
    /// Number of prompts judged per config.
    pub num_prompts: usize,
    /// True when some configs ran at the same time as others (packing, Slurm):
    /// their timings were taken under concurrency and speedups are indicative.
    pub concurrent: bool,
}

impl RunInfo {
    /// The model, when the run recorded its settings.
    pub fn model(&self) -> Option<String> {
        self.settings.as_ref().map(|s| s.model.clone())
    }
    pub fn steps(&self) -> Option<u32> {
        self.settings.as_ref().map(|s| s.steps)
    }
    pub fn height(&self) -> Option<u32> {
        self.settings.as_ref().map(|s| s.height)
    }
    pub fn width(&self) -> Option<u32> {
        self.settings.as_ref().map(|s| s.width)
    }
    pub fn seed(&self) -> Option<u64> {
        self.settings.as_ref().map(|s| s.seed)
    }
    pub fn cfg_scale(&self) -> Option<f64> {
        self.settings.as_ref().map(|s| s.cfg_scale)
    }
}

/// Counts per status and the overall verdict.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    /// Configs in the report.
    pub total: usize,
    /// PASS count.
    pub pass: usize,
    /// WARN count.
    pub warn: usize,
    /// FAIL count.
    pub fail: usize,
    /// ERROR count.
    pub error: usize,
    /// SKIP count.
    pub skip: usize,
}

/// A config's verdict (DESIGN §7). Serialised upper-case, as the original did.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Within thresholds (or the pure baseline, which ran).
    Pass,
    /// Lossy config beyond `lossy_mean` but within `lossy_fail_mean`.
    Warn,
    /// Beyond the failing threshold.
    Fail,
    /// The backend failed, timed out, or a prompt has no (comparable) image.
    Error,
    /// Not run (GPU budget, conflict), with the reason.
    Skip,
}

impl Status {
    /// "PASS", "WARN", …
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Error => "ERROR",
            Status::Skip => "SKIP",
        }
    }
}

impl ConfigResult {
    /// Every compared image was identical to the baseline's (PSNR is then
    /// undefined, shown as "identical").
    pub fn all_identical(&self) -> bool {
        self.psnr_avg.is_none() && self.identical_prompts > 0
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One configuration's judgement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfigResult {
    /// Config name: feature ids joined by `+`; "baseline" for none. (original key)
    pub name: String,
    /// baseline | baseline_feature | addon | combo (inferred in the original's layout).
    pub role: Role,
    /// Feature ids of this config.
    pub features: Vec<String>,
    /// GPUs the config needs. (original key)
    pub total_gpus: u32,
    /// Holds a lossy feature. (original key)
    pub is_lossy: bool,
    /// PASS | WARN | FAIL | ERROR | SKIP. (original key)
    pub compat_status: Status,
    /// Why: the skip reason, the error, or which threshold failed/warned;
    /// null for a plain PASS.
    pub reason: Option<String>,
    /// The thresholds applied to this config (CLI > feature > registry > defaults).
    pub thresholds: Thresholds,
    /// Mean per-prompt generation time in milliseconds, warm-up excluded. (original key)
    pub mean_gen_time_ms: Option<f64>,
    /// How much faster than the baseline: the median of every baseline/config
    /// ratio of per-prompt seconds (Hodges–Lehmann), a cold first prompt left
    /// out; 1 for the baseline. (original key, where it was the ratio of means)
    pub speedup: Option<f64>,
    /// 95% interval of `speedup` (see `speedup_method`); null with too few
    /// timings.
    pub speedup_ci: Option<Interval>,
    /// False when `speedup_ci` holds 1.0 ("not significant"); null without an
    /// interval (too few prompts to tell).
    pub speedup_significant: Option<bool>,
    /// How the interval was found: "hodges-lehmann" (Mann–Whitney,
    /// distribution-free, ≥ 4 timings a side), "welch-log (few prompts: …)",
    /// or "too few prompts".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speedup_method: Option<String>,
    /// Per-prompt timing statistics, seconds.
    pub timing: Option<TimingStats>,
    /// Model load time in seconds, where the backend reported it.
    pub load_seconds: Option<f64>,
    /// Mean over prompts of MeanDiff against the pure baseline (0..1). (original key)
    pub mean_diff_avg: Option<f64>,
    /// Mean over prompts of MaxDiff against the pure baseline (0..1). (original key)
    pub max_diff_avg: Option<f64>,
    /// Mean PSNR (dB, peak 1.0) over the prompts whose images differ; null when
    /// every compared image is identical (see `identical_prompts`).
    pub psnr_avg: Option<f64>,
    /// Mean SSIM (luma, 11×11 Gaussian σ 1.5) over prompts.
    pub ssim_avg: Option<f64>,
    /// Mean share of pixels changed by more than 8/255 in some channel (0..1).
    pub changed_share_avg: Option<f64>,
    /// Prompts whose image is pixel-identical to the baseline's.
    pub identical_prompts: usize,
    /// The prompt with the largest MeanDiff against the baseline.
    pub worst_prompt: Option<WorstPrompt>,
    /// Averages against the baseline feature alone (addons and combos only):
    /// what the addon itself changes.
    pub vs_baseline_feature: Option<MetricSummary>,
    /// Configs that ran at the same time as this one.
    pub concurrent_with: Vec<String>,
    /// Peak used memory per device in bytes, of the **whole device**, sampled
    /// by the runner through NVML while the config ran (every process on
    /// it, the engine's workers included); empty without a driver.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub peak_memory_bytes: std::collections::BTreeMap<String, u64>,
    /// Peak memory per device as **the engine itself** reported it
    /// (`{"event": "memory"}` in results.jsonl, e.g. torch's allocator peak):
    /// smaller than the device's, which also counts the CUDA context, caches
    /// and other processes.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub engine_memory_peak_bytes: std::collections::BTreeMap<String, u64>,
    /// The work the engine reported for the timed prompts, by unit
    /// (`{"event": "work"}`: e.g. transformer_block and attention calls):
    /// how much a cache really skipped.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub work: std::collections::BTreeMap<String, u64>,
    /// The same work per CFG branch (`cond`, `uncond`: the pipeline's cache
    /// contexts), where the backend counts it.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub work_by_branch: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>>,
    /// Calls the cache answered with the other CFG branch's output of the
    /// same step, by unit; present where the backend counts branches. Any
    /// above zero makes a PASS a WARN ("reuses the other CFG branch's output").
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub cross_branch: std::collections::BTreeMap<String, u64>,
    /// The engine it ran on: what the backend reported in its settings
    /// event, else what the run's probe found (docs/probe.md); null when
    /// neither said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<crate::probe::EngineInfo>,
    /// The features' arguments for the backend (compat's layout).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// The devices it ran on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    /// This config against each parent (the same config without one of its
    /// features): did that feature do anything?
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vs_parents: Vec<ParentResult>,
    /// What a reader of the verdict must know besides it: a cold first
    /// prompt left out of the timing, the engine's own noise, … Shown on
    /// every surface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Each metric plugin's values summarised, and its thresholds as applied,
    /// by metric name (docs/metrics.md).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metrics: std::collections::BTreeMap<String, ConfigMetric>,
    /// The last lines the backend printed, for a SKIP or ERROR config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_tail: Option<String>,
    /// Per-prompt rows (empty for SKIP).
    pub prompts: Vec<PromptResult>,
}

/// Averages of the image metrics over prompts against one reference.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetricSummary {
    /// The reference config's name.
    pub reference: String,
    /// Mean MeanDiff.
    pub mean_diff_avg: Option<f64>,
    /// Mean MaxDiff.
    pub max_diff_avg: Option<f64>,
    /// Mean PSNR over non-identical prompts (dB); null when all identical.
    pub psnr_avg: Option<f64>,
    /// Mean SSIM.
    pub ssim_avg: Option<f64>,
    /// Mean changed-pixel share.
    pub changed_share_avg: Option<f64>,
    /// Prompts identical to the reference.
    pub identical_prompts: usize,
    /// Prompts compared.
    pub compared: usize,
}

/// The worst prompt of a config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WorstPrompt {
    /// 0-based prompt index.
    pub prompt: usize,
    /// Its MeanDiff.
    pub mean_diff: f64,
    /// Its MaxDiff.
    pub max_diff: f64,
}

/// A closed interval.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Interval {
    /// Lower bound (2.5th percentile).
    pub low: f64,
    /// Upper bound (97.5th percentile).
    pub high: f64,
}

/// Per-prompt generation time statistics, seconds, warm-up excluded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TimingStats {
    /// Timings counted.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// 95th percentile (linear interpolation).
    pub p95: f64,
    /// Sample standard deviation (n − 1); 0 for n = 1.
    pub stdev: f64,
    /// Fastest prompt.
    pub min: f64,
    /// Slowest prompt.
    pub max: f64,
    /// Where the timings came from: "results.jsonl" or "batch_generation.log".
    pub source: String,
    /// A cold first prompt left out of these figures (compilation, autotuning,
    /// CUDA initialisation), found when the backend did no warm-up of its own:
    /// a real cost, shown apart, not a per-image speed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_first: Option<ColdPrompt>,
}

/// The engine's noise floor: the baseline against its repeat.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct BaselineRepeat {
    /// Every image identical both times: the engine is deterministic.
    pub identical: bool,
    /// Mean over prompts of MeanDiff / MaxDiff between the two runs.
    pub mean_diff_avg: Option<f64>,
    pub max_diff_avg: Option<f64>,
    pub psnr_avg: Option<f64>,
    pub ssim_avg: Option<f64>,
    /// The floor lossless configs are held to: the largest per-prompt
    /// MeanDiff and MaxDiff between the two runs.
    pub floor_mean_diff: f64,
    pub floor_max_diff: f64,
    /// The first run's time over the repeat's (1 when the engine's speed is
    /// steady).
    pub time_ratio: Option<f64>,
}

/// A config against its parent, the same config without `feature`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ParentResult {
    /// The feature this config adds to its parent.
    pub feature: String,
    /// The parent config's name.
    pub parent: String,
    /// Parent's time / this config's (median of per-prompt ratios).
    pub speedup: Option<f64>,
    pub speedup_ci: Option<Interval>,
    pub speedup_significant: Option<bool>,
    /// Every compared prompt's image is identical to the parent's.
    pub identical: bool,
    /// Prompts compared.
    pub compared: usize,
    /// The largest per-prompt MeanDiff against the parent.
    pub max_mean_diff: Option<f64>,
    /// Devices assigned to this multi-GPU feature that stayed idle (NVML: the
    /// peak within 256 MiB of the level before the config started).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idle_devices: Vec<String>,
    /// The engine's work counters (`{"event": "work"}`, e.g. transformer
    /// block calls) equal to the parent's: a cache that never engaged.
    /// None when either side reported none, or for a feature that is no
    /// cache (compile and parallelism change speed, not work).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_work: Option<bool>,
    /// applied | no effect | not applied | unknown.
    pub verdict: Effect,
}

/// Whether a feature did anything.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// The images changed, or the config is significantly faster or slower
    /// (or, for a memory feature, uses less memory).
    Applied,
    /// Images identical to the parent's and no significant change in speed.
    NoEffect,
    /// A device assigned to a multi-GPU feature stayed idle.
    NotApplied,
    /// Too few prompts or images to tell, or the feature expects nothing.
    Unknown,
}

/// `speedup_method` when there are too few timings for an interval.
pub const TOO_FEW: &str = "too few prompts";

/// A first prompt much slower than the rest, left out of the timing.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ColdPrompt {
    /// Which prompt (always 0).
    pub prompt: usize,
    /// Its seconds.
    pub seconds: f64,
    /// Its seconds over the median of the others.
    pub factor: f64,
}

impl ColdPrompt {
    /// "prompt 0 left out of timing: 4.9× the median of the rest (0.20 s)".
    pub fn note(&self) -> String {
        format!(
            "prompt {} left out of timing: {:.1}× the median of the rest ({:.2} s)",
            self.prompt, self.factor, self.seconds
        )
    }
}

/// Image metrics of one image against a reference image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageMetrics {
    /// Mean |a − b| over pixels and RGB channels, 0..1.
    pub mean_diff: f64,
    /// Max |a − b| over pixels and channels, 0..1.
    pub max_diff: f64,
    /// PSNR in dB (peak 1.0); null when the images are identical (infinite PSNR).
    pub psnr: Option<f64>,
    /// SSIM on BT.601 luma, 11×11 Gaussian window σ 1.5, 'valid' windows,
    /// after the report's `ssim_downsample`.
    pub ssim: f64,
    /// Share of pixels where some channel differs by more than 8/255.
    pub changed_share: f64,
    /// Pixel-identical (or byte-identical files).
    pub identical: bool,
}

/// One prompt of one config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PromptResult {
    /// 0-based prompt index.
    pub prompt: usize,
    /// The image file name, when it exists.
    pub image: Option<String>,
    /// Generation seconds, when reported.
    pub seconds: Option<f64>,
    /// Against the pure baseline's image of the same prompt.
    pub vs_baseline: Option<ImageMetrics>,
    /// Against the baseline feature's image (addons and combos).
    pub vs_baseline_feature: Option<ImageMetrics>,
    /// Why this prompt could not be judged (names the file and why).
    pub error: Option<String>,
    /// Each metric plugin's value for this image, by metric name ("pair":
    /// against the baseline's image; "prompt": this image's own score).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metrics: std::collections::BTreeMap<String, f64>,
}
