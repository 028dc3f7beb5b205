//! The reference engine's settings, resolved and checked by
//! `compat generate`'s command line before any work starts.

use std::path::PathBuf;

use super::cache::CacheBackend;
use super::sampler::Topology;

/// Everything a run needs, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub prompt_file: PathBuf,
    pub output: PathBuf,
    pub steps: usize,
    pub height: usize,
    pub width: usize,
    pub cfg_scale: f32,
    pub seed: u64,
    pub negative_prompt: String,
    pub cache: Option<CacheBackend>,
    pub topology: Topology,
    pub warmup: usize,
    pub tea_threshold: Option<f64>,
}

/// The visible devices: `COMPAT_DEVICES`, else `CUDA_VISIBLE_DEVICES`, else one
/// per CPU core. Returns the count and how it was found, for messages.
pub fn visible_devices(compat: Option<String>, cuda: Option<String>) -> (usize, String) {
    for (name, value) in [("COMPAT_DEVICES", compat), ("CUDA_VISIBLE_DEVICES", cuda)] {
        if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
            let n = v.split(',').filter(|d| !d.trim().is_empty()).count();
            return (n, format!("{name}={v}"));
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    (
        cores,
        format!("{cores} CPU cores; set COMPAT_DEVICES to choose"),
    )
}
