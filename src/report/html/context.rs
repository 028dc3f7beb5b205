//! The context of `diff_report.html`: the only data the template sees. Plain
//! numbers and strings, mapped from the analysis by the caller, so a template
//! (or a user's override of it) never depends on internal types.
//!
//! Fields marked "filled by `write_report`" are computed by the renderer (image
//! assets) and ignored on input; image paths on input are `#[serde(skip)]` so
//! that no absolute filesystem path ends up in the page.

use std::path::PathBuf;

use serde::Serialize;

use crate::settings::Settings;

/// The whole page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HtmlPage {
    /// Page title, e.g. "compat — cfg_parallel".
    pub title: String,
    /// When the report was made (RFC 3339).
    pub generated: String,
    /// compat's version.
    pub tool_version: String,
    pub summary: HtmlSummary,
    /// The thresholds of the registry/CLI (each config also states its own).
    pub thresholds: HtmlThresholds,
    /// Every config in run order, SKIP and ERROR included, the baseline first.
    pub configs: Vec<HtmlConfig>,
    /// Charts to show; file names relative to the results directory. Those
    /// missing on disk are dropped by `write_report` (no broken images).
    pub charts: Vec<HtmlChart>,
    /// Total number of prompts of the run.
    pub num_prompts: usize,
    /// The metric plugins that ran (docs/metrics.md): a column each.
    pub metrics: Vec<HtmlMetric>,
}

/// One metric plugin on the page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HtmlMetric {
    /// The column heading ("LPIPS", "CLIP Δ").
    pub heading: String,
    /// What the plugin did, in words (values, seconds, errors).
    pub summary: String,
}

/// One metric value of a config or a prompt.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HtmlValue {
    pub name: String,
    pub value: String,
}

/// The run summary at the top.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HtmlSummary {
    pub backend: String,
    pub baseline_feature: String,
    /// model, steps, height, width, cfg_scale, seed, negative_prompt.
    #[serde(flatten)]
    pub settings: Settings,
    /// The devices seen, in words ("2 × NVIDIA H100 (NVML)", "8 CPU cores").
    pub devices: String,
    /// The engine's own run-to-run difference, with `--repeat-baseline`.
    pub noise_floor: Option<String>,
    /// The engine builds the configs ran on ("xfuser 0.7.0"), or what the
    /// probe said when none recorded one.
    pub engine: Option<String>,
}

/// MeanDiff/MaxDiff thresholds (DESIGN §7).
#[derive(Debug, Clone, Default, Serialize)]
pub struct HtmlThresholds {
    pub lossless_mean: f64,
    pub lossless_max: f64,
    pub lossy_mean: f64,
    pub lossy_fail_mean: f64,
}

/// One configuration.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HtmlConfig {
    /// Feature ids joined by `+`; "baseline" for the pure baseline.
    pub name: String,
    /// baseline | baseline_feature | addon | combo
    pub role: String,
    /// PASS | WARN | FAIL | ERROR | SKIP
    pub status: String,
    pub features: Vec<String>,
    /// The feature args passed to the backend.
    pub args: Vec<String>,
    pub gpus: u32,
    pub lossy: bool,
    /// Devices assigned to it.
    pub devices: Vec<String>,
    /// The engine build it ran on, when known.
    pub engine: Option<String>,
    /// Baseline mean latency / this config's.
    pub speedup: Option<f64>,
    pub speedup_lo: Option<f64>,
    pub speedup_hi: Option<f64>,
    /// Notes besides the verdict (cold first prompt, the engine's noise, …).
    pub notes: Vec<String>,
    /// "not significant" (the interval holds 1×) or "too few prompts".
    pub speedup_note: Option<String>,
    /// Mean / median / p95 seconds per image (warm-up excluded) and their count.
    pub mean_seconds: Option<f64>,
    pub median_seconds: Option<f64>,
    pub p95_seconds: Option<f64>,
    pub timing_n: Option<usize>,
    /// Means over prompts; PSNR `None` with `identical` means ∞.
    pub mean_diff: Option<f64>,
    pub max_diff: Option<f64>,
    pub psnr: Option<f64>,
    pub ssim: Option<f64>,
    /// Share of pixels changed by more than 8/255 (0..1).
    pub changed: Option<f64>,
    pub identical: bool,
    /// Index of the prompt with the largest MeanDiff.
    pub worst_prompt: Option<usize>,
    /// The metric plugins' cells, in the order of `HtmlPage::metrics`.
    pub metrics: Vec<String>,
    /// The thresholds applied to this config, in words
    /// ("lossless: FAIL if MeanDiff > 0.02 or MaxDiff > 0.2").
    pub thresholds_applied: String,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
    /// The last lines of `batch_generation.log` (for ERROR configs at least).
    pub log_tail: Option<String>,
    /// Every prompt of the run (empty for SKIP configs).
    pub prompts: Vec<HtmlPrompt>,
}

/// One prompt of one configuration.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HtmlPrompt {
    /// 0-based prompt index.
    pub index: usize,
    pub text: String,
    /// Seconds this image took.
    pub seconds: Option<f64>,
    pub mean_diff: Option<f64>,
    pub max_diff: Option<f64>,
    pub psnr: Option<f64>,
    pub ssim: Option<f64>,
    pub changed: Option<f64>,
    pub identical: bool,
    /// Why there is no image or no metric for this prompt.
    pub error: Option<String>,
    /// The metric plugins' values for this image.
    pub metrics: Vec<HtmlValue>,
    /// Input: the pure baseline's image of this prompt.
    #[serde(skip)]
    pub baseline_png: Option<PathBuf>,
    /// Input: this config's image of this prompt.
    #[serde(skip)]
    pub config_png: Option<PathBuf>,
    /// Filled by `write_report`: links and thumbnails, relative to the page.
    pub images: HtmlImages,
}

/// Image files of one prompt, as URLs relative to `diff_report.html`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HtmlImages {
    pub baseline: Option<String>,
    pub baseline_thumb: Option<String>,
    pub config: Option<String>,
    pub config_thumb: Option<String>,
    pub diff: Option<String>,
    /// The MeanDiff value at the top of the heatmap's colour bar.
    pub diff_scale: Option<f64>,
    pub width: u32,
    pub height: u32,
    /// Why an image could not be shown (unreadable file, size mismatch).
    pub problem: Option<String>,
    /// Pixel-identical to the baseline's: no heatmap, the page says so.
    pub identical: bool,
    /// Where it differs from the baseline's, largest first (boxes over the
    /// thumbnail, in fractions of the image).
    pub regions: Vec<super::regions::Region>,
}

/// A chart image.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HtmlChart {
    pub title: String,
    /// File name relative to the results directory (`chart_quality.png`).
    pub file: String,
}
