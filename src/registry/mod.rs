//! The feature registry: `features.toml`, parsed and validated into plain data.
//!
//! Lookup order (DESIGN §2): `--features PATH`, else `./features.toml`, else the
//! copy compiled into the binary, so `cargo install` users have one too.

mod error;
mod metrics;
mod parse;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use error::{RegistryError, did_you_mean};
pub use metrics::{Better, METRIC_PLACEHOLDERS, MetricKind, MetricPlugin};

/// The registry compiled into the binary (the repository's `features.toml`).
pub const EMBEDDED: &str = include_str!("../../features.toml");

/// The name shown for the compiled-in registry in messages and the manifest.
pub const EMBEDDED_NAME: &str = "<built-in features.toml>";

/// Placeholders a backend's command template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "compat",
    "model",
    "prompt_file",
    "output_dir",
    "steps",
    "height",
    "width",
    "cfg_scale",
    "guidance_scale",
    "seed",
    "negative_prompt",
    "warmup",
    "gpus",
];

/// Placeholders of a backend's `probe` argv (docs/probe.md).
pub const PROBE_PLACEHOLDERS: &[&str] = &["compat", "model", "probe_request", "probe_output"];

/// A validated registry. Features keep the order of the file ("registry order"),
/// which names configurations and orders their arguments.
#[derive(Debug, Clone, Serialize)]
pub struct Registry {
    /// Where it came from: a path, or [`EMBEDDED_NAME`].
    pub source: String,
    pub default_backend: String,
    pub backends: BTreeMap<String, Backend>,
    pub features: Vec<Feature>,
    pub conflicts: Vec<Conflict>,
    pub thresholds: Thresholds,
    pub slurm: SlurmDefaults,
    /// `[metrics.NAME]` plugins, in file order (docs/metrics.md).
    pub metrics: Vec<MetricPlugin>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Backend {
    pub name: String,
    /// The argv template, placeholders in braces (see [`PLACEHOLDERS`]).
    pub command: Vec<String>,
    /// The argv that asks the installed engine what it can do, without
    /// loading weights (see [`PROBE_PLACEHOLDERS`]); `None`: no probe, the
    /// registry's `unsupported` tables are all compat knows.
    pub probe: Option<Vec<String>>,
    /// Features this backend switches on a loaded pipeline and off again
    /// (its `--session` mode, docs/sessions.md); empty: it shares no load.
    pub switchable: Vec<String>,
    /// Switchable only on a bare pipeline (a session whose base is the pure
    /// baseline): what must go on before parallelism or compile, as
    /// cache-dit must, cannot be switched on after them.
    pub switchable_on_bare: Vec<String>,
    /// Configurations with one of these never share a process: the feature
    /// goes on after the switchable ones in a process of its own (compile).
    pub unshared: Vec<String>,
    /// `Some("reference")` for the embedded engine.
    pub builtin: Option<String>,
    pub model: Option<String>,
    /// Where the backend's devices come from.
    pub devices: DeviceSource,
    pub defaults: RunDefaults,
    /// Defaults for one model id (`[backends.X.model_defaults."id"]`), over
    /// the backend's: a guidance-distilled model runs as intended.
    pub model_defaults: BTreeMap<String, RunDefaults>,
}

/// How a backend's devices are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceSource {
    /// NVIDIA GPUs: NVML, restricted by `CUDA_VISIBLE_DEVICES`.
    Gpu,
    /// One device per CPU core (the reference engine's workers).
    CpuCores,
}

/// Run settings a backend may default (the command line wins).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunDefaults {
    pub height: Option<u32>,
    pub width: Option<u32>,
    pub steps: Option<u32>,
    pub num_prompts: Option<usize>,
    pub cfg_scale: Option<f64>,
    pub guidance_scale: Option<f64>,
    pub seed: Option<u64>,
    pub negative_prompt: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Feature {
    pub id: String,
    pub label: String,
    pub description: String,
    pub args: Vec<String>,
    /// Per-backend overrides of `args` (`[features.X.backend_args] xdit = [...]`).
    pub backend_args: BTreeMap<String, Vec<String>>,
    /// Backends (per model where needed) that cannot do this feature:
    /// `[features.X.unsupported] xdit = "reason"`. Such configs are SKIP with
    /// the reason before anything starts, not ERROR after a model load.
    pub unsupported: BTreeMap<String, Unsupported>,
    /// GPU multiplier: a configuration needs the product over its features.
    pub gpus: u32,
    pub lossy: bool,
    pub category: String,
    pub exclusive: Option<String>,
    /// May only be added to a baseline feature, never be one.
    pub addon_only: bool,
    /// Cannot run beside a multi-GPU feature.
    pub single_card_only: bool,
    /// Needs a configuration of at least this many GPUs, brought by the
    /// features beside it (VAE patch parallel reuses the DiT's GPUs).
    pub min_gpus: Option<u32>,
    /// What the feature should buy; a config that buys nothing over its
    /// parent is WARN "no effect" (see analysis).
    pub expect: Expect,
    pub thresholds: FeatureThresholds,
}

/// What a feature is for, so that "did it do anything?" can be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Faster images (parallelism, caches, compilation): the default.
    #[default]
    Speed,
    /// Less device memory (offload, quantisation): no effect means no
    /// speedup *and* no memory saving.
    Memory,
    /// Nothing measurable (determinism, eager mode): never judged.
    None,
}

/// Why a backend cannot do a feature: for every model, or per model id.
/// In features.toml: `backend = "reason"` or `backend = { "model id" =
/// "reason", "*" = "…" }`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(
    untagged,
    expecting = "a reason (a string) or a table of model id = reason (\"*\" for every other model)"
)]
pub enum Unsupported {
    Always(String),
    /// Model id → reason; `"*"` stands for every model not named.
    PerModel(BTreeMap<String, String>),
}

impl Feature {
    /// The arguments that turn this feature on for `backend`.
    pub fn args_for(&self, backend: &str) -> &[String] {
        self.backend_args.get(backend).unwrap_or(&self.args)
    }

    /// Why `backend` cannot run this feature on `model`, if it cannot: a
    /// declared `unsupported` entry, or a feature that has flags for other
    /// backends only (running it with no flags would measure the baseline
    /// and pass as "lossless" — the worst verdict compat could print).
    pub fn unsupported_on(&self, backend: &str, model: &str) -> Option<String> {
        match self.unsupported.get(backend) {
            Some(Unsupported::Always(reason)) => return Some(reason.clone()),
            Some(Unsupported::PerModel(models)) => {
                let named = models
                    .iter()
                    .find(|(id, _)| model_matches(id, model))
                    .or_else(|| models.get_key_value("*"));
                if let Some((_, reason)) = named {
                    return Some(reason.clone());
                }
            }
            None => {}
        }
        if self.args_for(backend).is_empty() {
            let with: Vec<&str> = self
                .backend_args
                .iter()
                .filter(|(_, a)| !a.is_empty())
                .map(|(b, _)| b.as_str())
                .collect();
            return Some(if with.is_empty() {
                format!("no flags for {} in features.toml", self.id)
            } else {
                format!(
                    "no flags for {} (features.toml has them for {} only)",
                    self.id,
                    with.join(", ")
                )
            });
        }
        None
    }
}

/// A model id in the registry names `model` when equal to it (ignoring case
/// and a trailing `/`, as the Hugging Face Hub does), when `model` is a local
/// path ending in it (`/data/Qwen/Qwen-Image` is `Qwen/Qwen-Image`), or a
/// Hugging Face cache folder of it (`…/models--Qwen--Qwen-Image/snapshots/<hash>`),
/// so a downloaded copy keeps its limits.
fn model_matches(id: &str, model: &str) -> bool {
    if id == "*" {
        return false;
    }
    let id = id.to_ascii_lowercase();
    let model = model.to_ascii_lowercase();
    let model = model.trim_end_matches('/');
    let cached = model
        .split('/')
        .find_map(|part| part.strip_prefix("models--"))
        .map(|name| name.replacen("--", "/", 1));
    model == id
        || model
            .strip_suffix(id.as_str())
            .is_some_and(|head| head.ends_with('/'))
        || cached.is_some_and(|c| c == id)
}

#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    pub features: Vec<String>,
    pub reason: String,
    /// The backends it holds on; empty: every backend.
    pub backends: Vec<String>,
}

impl Conflict {
    /// Whether `features` together hit this conflict on `backend`.
    pub fn holds(&self, features: &[String], backend: &str) -> bool {
        (self.backends.is_empty() || self.backends.iter().any(|b| b == backend))
            && self.features.iter().all(|f| features.contains(f))
    }
}

/// Per-feature threshold overrides; any left out fall back to `[thresholds]`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct FeatureThresholds {
    pub mean: Option<f64>,
    pub max: Option<f64>,
    pub fail_mean: Option<f64>,
}

/// The status thresholds (DESIGN §7).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Thresholds {
    /// Lossless configs FAIL beyond this mean MeanDiff…
    pub lossless_mean: f64,
    /// …or beyond this mean MaxDiff.
    pub lossless_max: f64,
    /// Lossy configs WARN beyond this mean MeanDiff…
    pub lossy_mean: f64,
    /// …and FAIL beyond this one.
    pub lossy_fail_mean: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            lossless_mean: 0.02,
            lossless_max: 0.2,
            lossy_mean: 0.15,
            lossy_fail_mean: 0.30,
        }
    }
}

/// `[slurm]` defaults for the Slurm executor; the command line wins.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SlurmDefaults {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub time: Option<String>,
    /// `--gres=gpu:N` (default) or `--gpus=N`.
    pub gpu_flag: Option<String>,
    pub sbatch_args: Vec<String>,
    pub srun_args: Vec<String>,
}

impl Registry {
    /// Finds and loads the registry: `explicit`, else `./features.toml`, else
    /// the embedded copy.
    pub fn locate(explicit: Option<&Path>) -> Result<Registry, RegistryError> {
        if let Some(path) = explicit {
            return Registry::load(path);
        }
        let local = PathBuf::from("features.toml");
        if local.is_file() {
            return Registry::load(&local);
        }
        Registry::parse(EMBEDDED, EMBEDDED_NAME)
    }

    pub fn load(path: &Path) -> Result<Registry, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(|source| RegistryError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut registry = Registry::parse(&text, &path.display().to_string())?;
        if let Some(dir) = path.parent() {
            registry.anchor_scripts(dir);
        }
        Ok(registry)
    }

    /// Makes relative script paths in backend commands, probes and metric
    /// plugins' commands (such as
    /// `backends/vllm_omni/batch_text_to_image.py`) relative to the registry
    /// file, as paths in a config file are, so compat runs from any directory.
    /// Only arguments that name an existing file beside the registry and not
    /// one in the current directory are touched.
    fn anchor_scripts(&mut self, dir: &Path) {
        let backends = self.backends.values_mut().flat_map(|b| {
            let probe = b.probe.iter_mut().flatten();
            b.command.iter_mut().chain(probe)
        });
        let metrics = self.metrics.iter_mut().flat_map(|m| m.command.iter_mut());
        {
            for arg in backends.chain(metrics) {
                let p = Path::new(arg.as_str());
                if arg.contains('{') || !arg.contains('/') || p.is_absolute() || p.is_file() {
                    continue;
                }
                let beside = dir.join(p);
                if beside.is_file()
                    && let Ok(abs) = beside.canonicalize()
                {
                    *arg = abs.display().to_string();
                }
            }
        }
    }

    /// Parses and validates registry text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Registry, RegistryError> {
        parse::parse(text, source)
    }

    pub fn feature(&self, id: &str) -> Option<&Feature> {
        self.features.iter().find(|f| f.id == id)
    }

    /// Position of a feature in registry order.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.features.iter().position(|f| f.id == id)
    }

    pub fn metric(&self, name: &str) -> Option<&MetricPlugin> {
        self.metrics.iter().find(|m| m.name == name)
    }

    pub fn backend(&self, name: &str) -> Option<&Backend> {
        self.backends.get(name)
    }

    /// A usage error for an unknown feature id, with a suggestion.
    pub fn unknown_feature(&self, id: &str) -> String {
        let ids: Vec<&str> = self.features.iter().map(|f| f.id.as_str()).collect();
        match error::did_you_mean(id, &ids) {
            Some(s) => format!("unknown feature '{id}' — did you mean '{s}'?"),
            None => format!(
                "unknown feature '{id}' — known features: {} (see `compat features`)",
                ids.join(", ")
            ),
        }
    }

    /// A usage error for an unknown backend name, with a suggestion.
    pub fn unknown_backend(&self, name: &str) -> String {
        let names: Vec<&str> = self.backends.keys().map(String::as_str).collect();
        match error::did_you_mean(name, &names) {
            Some(s) => format!("unknown backend '{name}' — did you mean '{s}'?"),
            None => format!(
                "unknown backend '{name}' — backends in {}: {}",
                self.source,
                names.join(", ")
            ),
        }
    }

    /// The thresholds for a configuration made of `features`: each value is the
    /// strictest override any of its features sets, else the registry's.
    pub fn thresholds_for(&self, features: &[String]) -> Thresholds {
        let feats: Vec<&Feature> = features.iter().filter_map(|id| self.feature(id)).collect();
        // The strictest override among the features of one class, else the registry's.
        let strictest = |base: f64, lossy: bool, pick: fn(&FeatureThresholds) -> Option<f64>| {
            feats
                .iter()
                .filter(|f| f.lossy == lossy)
                .filter_map(|f| pick(&f.thresholds))
                .reduce(f64::min)
                .unwrap_or(base)
        };
        let t = self.thresholds;
        Thresholds {
            lossless_mean: strictest(t.lossless_mean, false, |o| o.mean),
            lossless_max: strictest(t.lossless_max, false, |o| o.max),
            lossy_mean: strictest(t.lossy_mean, true, |o| o.mean),
            lossy_fail_mean: strictest(t.lossy_fail_mean, true, |o| o.fail_mean),
        }
    }
}

#[cfg(test)]
mod tests;
