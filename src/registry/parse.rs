//! `features.toml` text → [`Registry`], every error located in the file.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::error::{Located, RegistryError, did_you_mean, line_of};
use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    default_backend: Option<Spanned<String>>,
    #[serde(default)]
    backends: BTreeMap<Spanned<String>, Spanned<RawBackend>>,
    #[serde(default)]
    features: BTreeMap<Spanned<String>, Spanned<RawFeature>>,
    #[serde(default)]
    conflicts: Vec<Spanned<RawConflict>>,
    thresholds: Option<RawThresholds>,
    slurm: Option<RawSlurm>,
    #[serde(default)]
    metrics: BTreeMap<Spanned<String>, Spanned<super::metrics::RawMetric>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    command: Option<Spanned<Vec<String>>>,
    probe: Option<Spanned<Vec<String>>>,
    /// Features the backend can switch on a loaded pipeline and off again
    /// (docs/sessions.md): configs differing only in them share one load.
    switchable: Option<Spanned<Vec<String>>>,
    /// Of those, the ones that must go on before anything structural
    /// (parallelism, compile): switched only in a session of bare processes.
    switchable_on_bare: Option<Spanned<Vec<String>>>,
    /// Features whose configurations never share a process: applied after
    /// the switchable ones in a process of their own (compile), an order a
    /// session, which built the process first, cannot reproduce.
    unshared: Option<Spanned<Vec<String>>>,
    builtin: Option<Spanned<String>>,
    model: Option<String>,
    devices: Option<Spanned<String>>,
    #[serde(default)]
    defaults: RawDefaults,
    /// Per model id: defaults that beat the backend's for that model
    /// (FLUX.1-dev: distilled guidance 3.5, no true CFG).
    #[serde(default)]
    model_defaults: BTreeMap<String, RawDefaults>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    height: Option<u32>,
    width: Option<u32>,
    steps: Option<u32>,
    num_prompts: Option<usize>,
    cfg_scale: Option<f64>,
    guidance_scale: Option<f64>,
    seed: Option<u64>,
    negative_prompt: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeature {
    label: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    backend_args: BTreeMap<Spanned<String>, Vec<String>>,
    #[serde(default)]
    unsupported: BTreeMap<Spanned<String>, Unsupported>,
    gpus: Option<Spanned<i64>>,
    #[serde(default)]
    lossy: bool,
    #[serde(default)]
    category: Option<String>,
    exclusive: Option<String>,
    #[serde(default)]
    addon_only: bool,
    #[serde(default)]
    single_card_only: bool,
    min_gpus: Option<Spanned<i64>>,
    #[serde(default)]
    expect: Expect,
    #[serde(default)]
    thresholds: RawFeatureThresholds,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFeatureThresholds {
    mean: Option<Spanned<f64>>,
    max: Option<Spanned<f64>>,
    fail_mean: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConflict {
    features: Vec<Spanned<String>>,
    /// Only on these backends (default: every backend).
    backends: Option<Spanned<Vec<Spanned<String>>>>,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThresholds {
    lossless: Option<RawLossless>,
    lossy: Option<RawLossy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLossless {
    mean: Option<Spanned<f64>>,
    max: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLossy {
    mean: Option<Spanned<f64>>,
    fail_mean: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlurm {
    partition: Option<String>,
    account: Option<String>,
    time: Option<String>,
    gpu_flag: Option<Spanned<String>>,
    #[serde(default)]
    sbatch_args: Vec<String>,
    #[serde(default)]
    srun_args: Vec<String>,
}

/// The largest GPU multiplier a feature may declare: far beyond any node,
/// and small enough that products of a few features cannot overflow.
const MAX_GPUS: i64 = 1024;

/// Builds located errors for one file.
pub(super) struct Ctx<'a> {
    text: &'a str,
    file: &'a str,
}

impl Ctx<'_> {
    pub(super) fn err(
        &self,
        offset: usize,
        message: String,
        help: impl Into<Option<String>>,
    ) -> RegistryError {
        RegistryError::Invalid(Located {
            file: self.file.to_string(),
            line: line_of(self.text, offset),
            message,
            help: help.into(),
        })
    }
}

pub(super) fn parse(text: &str, file: &str) -> Result<Registry, RegistryError> {
    let cx = Ctx { text, file };
    let raw: RawRegistry = toml::from_str(text).map_err(|e| syntax_error(&cx, &e))?;
    // The sections are checked in this order, so a file with several
    // problems always reports the same (first) one: features, backends,
    // default_backend, backend_args, conflicts, thresholds, slurm.
    let features = features(&cx, raw.features)?;
    let backends = backends(&cx, raw.backends, &features)?;
    let default_backend = default_backend(&cx, raw.default_backend, &backends)?;
    check_backend_args(&cx, &features, &backends)?;
    let conflicts = conflicts(&cx, raw.conflicts, &features, &backends)?;
    let thresholds = thresholds(&cx, raw.thresholds)?;
    let slurm = slurm(&cx, raw.slurm)?;
    let metrics = super::metrics::metrics(&cx, raw.metrics)?;
    Ok(Registry {
        source: file.to_string(),
        default_backend,
        backends,
        features,
        conflicts,
        thresholds,
        slurm,
        metrics,
    })
}

/// Features, in the order they appear in the file (the TOML map is sorted
/// by id; registry order is what `compat features` and the matrix show).
fn features(
    cx: &Ctx,
    raw: BTreeMap<Spanned<String>, Spanned<RawFeature>>,
) -> Result<Vec<Feature>, RegistryError> {
    let mut raw_features: Vec<_> = raw.into_iter().collect();
    raw_features.sort_by_key(|(k, _)| k.span().start);
    let mut features = Vec::with_capacity(raw_features.len());
    for (id, body) in raw_features {
        features.push(feature(cx, id, body)?);
    }
    Ok(features)
}

/// Backends by name; at least one must be defined.
fn backends(
    cx: &Ctx,
    raw: BTreeMap<Spanned<String>, Spanned<RawBackend>>,
    features: &[Feature],
) -> Result<BTreeMap<String, Backend>, RegistryError> {
    let mut backends = BTreeMap::new();
    for (name, body) in raw {
        let b = backend(cx, name.get_ref(), body, features)?;
        backends.insert(b.name.clone(), b);
    }
    if backends.is_empty() {
        return Err(cx.err(
            0,
            "no backends defined".into(),
            "add a [backends.NAME] table with a `command` (or `builtin = \"reference\"`)"
                .to_string(),
        ));
    }
    Ok(backends)
}

/// A backend's `switchable` (or `switchable_on_bare`) list: feature ids of
/// this registry, each once.
fn switchable_ids(
    cx: &Ctx,
    name: &str,
    key: &str,
    raw: Option<Spanned<Vec<String>>>,
    features: &[Feature],
) -> Result<Vec<String>, RegistryError> {
    let Some(list) = raw else {
        return Ok(Vec::new());
    };
    let at = list.span().start;
    let ids: Vec<&str> = features.iter().map(|f| f.id.as_str()).collect();
    let mut seen = std::collections::BTreeSet::new();
    for id in list.get_ref() {
        if !ids.contains(&id.as_str()) {
            return Err(cx.err(
                at,
                format!("backend '{name}': {key} names '{id}', which is not a feature"),
                suggest(id, &ids, "features"),
            ));
        }
        if !seen.insert(id.as_str()) {
            return Err(cx.err(
                at,
                format!("backend '{name}': {key} names '{id}' twice"),
                "list each feature once".to_string(),
            ));
        }
    }
    Ok(list.into_inner())
}

/// The named default, which must exist; optional when there is one backend.
fn default_backend(
    cx: &Ctx,
    named: Option<Spanned<String>>,
    backends: &BTreeMap<String, Backend>,
) -> Result<String, RegistryError> {
    match named {
        Some(d) => {
            if !backends.contains_key(d.get_ref()) {
                let names: Vec<&str> = backends.keys().map(String::as_str).collect();
                return Err(cx.err(
                    d.span().start,
                    format!("default_backend '{}' is not defined", d.get_ref()),
                    suggest(d.get_ref(), &names, "backends"),
                ));
            }
            Ok(d.into_inner())
        }
        None if backends.len() == 1 => Ok(backends.keys().next().cloned().unwrap_or_default()),
        None => Err(cx.err(
            0,
            "several backends but no default_backend".into(),
            "add `default_backend = \"NAME\"` at the top of the file".to_string(),
        )),
    }
}

/// backend_args and unsupported may only name backends that exist, and a
/// backend cannot be given flags for a feature it is declared unable to do.
/// Checked after parsing, as features come before backends; the error points
/// at the feature's table, since the parsed feature no longer carries spans.
fn check_backend_args(
    cx: &Ctx,
    features: &[Feature],
    backends: &BTreeMap<String, Backend>,
) -> Result<(), RegistryError> {
    for f in features {
        let offset = cx.text.find(&format!("[features.{}", f.id)).unwrap_or(0);
        let named = f
            .backend_args
            .keys()
            .map(|b| (b, "backend_args"))
            .chain(f.unsupported.keys().map(|b| (b, "unsupported")));
        for (b, table) in named {
            if !backends.contains_key(b) {
                let names: Vec<&str> = backends.keys().map(String::as_str).collect();
                return Err(cx.err(
                    offset,
                    format!("feature '{}' has {table} for unknown backend '{b}'", f.id),
                    suggest(b, &names, "backends"),
                ));
            }
        }
        for (b, u) in &f.unsupported {
            if matches!(u, Unsupported::PerModel(m) if m.is_empty()) {
                return Err(cx.err(
                    offset,
                    format!("feature '{}' has an empty unsupported.{b} table", f.id),
                    "name the models it cannot run on (\"*\" for every other), or remove it"
                        .to_string(),
                ));
            }
            let everywhere = match u {
                Unsupported::Always(_) => true,
                Unsupported::PerModel(m) => m.contains_key("*"),
            };
            if everywhere && f.backend_args.contains_key(b) {
                return Err(cx.err(
                    offset,
                    format!(
                        "feature '{}' has backend_args for '{b}' but is unsupported there",
                        f.id
                    ),
                    format!(
                        "remove one of them, or make `unsupported.{b}` a table of the models it does not support"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// [[conflicts]]: at least two features each, all of them defined.
fn conflicts(
    cx: &Ctx,
    raw: Vec<Spanned<RawConflict>>,
    features: &[Feature],
    backends: &BTreeMap<String, Backend>,
) -> Result<Vec<Conflict>, RegistryError> {
    let ids: Vec<&str> = features.iter().map(|f| f.id.as_str()).collect();
    let mut conflicts = Vec::new();
    for c in raw {
        let span = c.span();
        let c = c.into_inner();
        if c.features.len() < 2 {
            return Err(cx.err(
                span.start,
                "a [[conflicts]] entry needs at least two features".into(),
                "list the features that cannot run together: features = [\"a\", \"b\"]".to_string(),
            ));
        }
        for f in &c.features {
            if !ids.contains(&f.get_ref().as_str()) {
                return Err(cx.err(
                    f.span().start,
                    format!("unknown feature '{}' in [[conflicts]]", f.get_ref()),
                    suggest(f.get_ref(), &ids, "features"),
                ));
            }
        }
        let names: Vec<&str> = backends.keys().map(String::as_str).collect();
        if let Some(b) = c.backends.as_ref().filter(|b| b.get_ref().is_empty()) {
            return Err(cx.err(
                b.span().start,
                "a [[conflicts]] entry has an empty `backends` list".into(),
                "name the backends it holds on, or leave `backends` out for every backend"
                    .to_string(),
            ));
        }
        let listed: Vec<Spanned<String>> = c.backends.map(Spanned::into_inner).unwrap_or_default();
        for b in &listed {
            if !backends.contains_key(b.get_ref()) {
                return Err(cx.err(
                    b.span().start,
                    format!("unknown backend '{}' in [[conflicts]]", b.get_ref()),
                    suggest(b.get_ref(), &names, "backends"),
                ));
            }
        }
        let features: Vec<String> = c.features.into_iter().map(Spanned::into_inner).collect();
        let reason = c
            .reason
            .unwrap_or_else(|| format!("{} are declared incompatible", features.join(" and ")));
        let backends = listed.into_iter().map(Spanned::into_inner).collect();
        conflicts.push(Conflict {
            features,
            reason,
            backends,
        });
    }
    Ok(conflicts)
}

/// [thresholds]: the defaults, overridden per key; each within 0..1 and
/// lossy.fail_mean at least lossy.mean (WARN must come before FAIL).
fn thresholds(cx: &Ctx, raw: Option<RawThresholds>) -> Result<Thresholds, RegistryError> {
    let mut thresholds = Thresholds::default();
    if let Some(t) = raw {
        if let Some(l) = t.lossless {
            set_threshold(cx, &mut thresholds.lossless_mean, l.mean)?;
            set_threshold(cx, &mut thresholds.lossless_max, l.max)?;
        }
        if let Some(l) = t.lossy {
            set_threshold(cx, &mut thresholds.lossy_mean, l.mean)?;
            set_threshold(cx, &mut thresholds.lossy_fail_mean, l.fail_mean)?;
        }
    }
    if thresholds.lossy_fail_mean < thresholds.lossy_mean {
        let offset = cx.text.find("[thresholds]").unwrap_or(0);
        return Err(cx.err(
            offset,
            format!(
                "lossy.fail_mean ({}) is below lossy.mean ({})",
                thresholds.lossy_fail_mean, thresholds.lossy_mean
            ),
            "fail_mean is where WARN turns into FAIL: make it at least `mean`".to_string(),
        ));
    }
    Ok(thresholds)
}

/// [slurm]: passed through, except gpu_flag, which must be a known style.
fn slurm(cx: &Ctx, raw: Option<RawSlurm>) -> Result<SlurmDefaults, RegistryError> {
    let Some(s) = raw else {
        return Ok(SlurmDefaults::default());
    };
    if let Some(flag) = &s.gpu_flag
        && !matches!(flag.get_ref().as_str(), "gres" | "gpus")
    {
        return Err(cx.err(
            flag.span().start,
            format!("unknown slurm gpu_flag '{}'", flag.get_ref()),
            "use \"gres\" (--gres=gpu:N) or \"gpus\" (--gpus=N)".to_string(),
        ));
    }
    Ok(SlurmDefaults {
        partition: s.partition,
        account: s.account,
        time: s.time,
        gpu_flag: s.gpu_flag.map(Spanned::into_inner),
        sbatch_args: s.sbatch_args,
        srun_args: s.srun_args,
    })
}

fn suggest(word: &str, candidates: &[&str], what: &str) -> String {
    match did_you_mean(word, candidates) {
        Some(s) => format!("did you mean '{s}'?"),
        None => format!("defined {what}: {}", candidates.join(", ")),
    }
}

fn set_threshold(
    cx: &Ctx,
    slot: &mut f64,
    value: Option<Spanned<f64>>,
) -> Result<(), RegistryError> {
    if let Some(v) = value {
        check_threshold(cx, &v)?;
        *slot = *v.get_ref();
    }
    Ok(())
}

fn check_threshold(cx: &Ctx, v: &Spanned<f64>) -> Result<(), RegistryError> {
    let x = *v.get_ref();
    if !(0.0..=1.0).contains(&x) {
        return Err(cx.err(
            v.span().start,
            format!("threshold {x} is outside 0..1"),
            "differences are fractions of full scale: 0.02 means 2%".to_string(),
        ));
    }
    Ok(())
}

fn feature(
    cx: &Ctx,
    id: Spanned<String>,
    body: Spanned<RawFeature>,
) -> Result<Feature, RegistryError> {
    let at = id.span().start;
    let id = id.into_inner();
    check_feature_id(cx, at, &id)?;
    let body_at = body.span().start;
    let raw = body.into_inner();
    let gpus = feature_gpus(cx, &id, raw.gpus)?;
    if raw.args.is_empty() && raw.backend_args.is_empty() {
        return Err(cx.err(
            body_at,
            format!("feature '{id}' has no args"),
            "add the flags that turn it on, e.g. args = [\"--cache-backend\", \"tea_cache\"]"
                .to_string(),
        ));
    }
    let th = raw.thresholds;
    for v in [&th.mean, &th.max, &th.fail_mean].into_iter().flatten() {
        check_threshold(cx, v)?;
    }
    Ok(Feature {
        label: raw.label.unwrap_or_else(|| id.clone()),
        description: raw.description,
        args: raw.args,
        backend_args: raw
            .backend_args
            .into_iter()
            .map(|(k, v)| (k.into_inner(), v))
            .collect(),
        unsupported: raw
            .unsupported
            .into_iter()
            .map(|(k, v)| (k.into_inner(), v))
            .collect(),
        gpus,
        lossy: raw.lossy,
        category: raw.category.unwrap_or_else(|| "other".to_string()),
        exclusive: raw.exclusive,
        addon_only: raw.addon_only,
        single_card_only: raw.single_card_only,
        min_gpus: match raw.min_gpus {
            None => None,
            Some(n) if (2..=1024).contains(n.get_ref()) => Some(*n.get_ref() as u32),
            Some(n) => {
                return Err(cx.err(
                    n.span().start,
                    format!("feature '{id}' has min_gpus = {}", n.get_ref()),
                    "min_gpus is the fewest GPUs the features beside it must bring (2..=1024)"
                        .to_string(),
                ));
            }
        },
        expect: raw.expect,
        thresholds: FeatureThresholds {
            mean: th.mean.map(Spanned::into_inner),
            max: th.max.map(Spanned::into_inner),
            fail_mean: th.fail_mean.map(Spanned::into_inner),
        },
        id,
    })
}

/// A feature id names config folders and goes into config names joined by
/// `+`, so it is kept to a-z, 0-9 and _, and may not be "baseline".
fn check_feature_id(cx: &Ctx, at: usize, id: &str) -> Result<(), RegistryError> {
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        let fixed: String = id
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        return Err(cx.err(
            at,
            format!("feature id '{id}' may only hold a-z, 0-9 and _"),
            format!("rename it, e.g. [features.{fixed}]"),
        ));
    }
    // Config folders are named after feature ids; the pure baseline's
    // folder is "baseline", so a feature may not take that name.
    if id == crate::results::BASELINE {
        return Err(cx.err(
            at,
            format!("feature id '{id}' is reserved for the pure baseline (no feature)"),
            "rename the feature, e.g. [features.baseline_feature]".to_string(),
        ));
    }
    // The run folder's `sessions/` holds the shared loads' files and checks
    // (docs/sessions.md): a config folder of that name would delete them.
    if id == "sessions" {
        return Err(cx.err(
            at,
            "feature id 'sessions' is reserved: the run folder's sessions/ holds the shared \
             model loads' files"
                .to_string(),
            "rename the feature, e.g. [features.sessions_feature]".to_string(),
        ));
    }
    Ok(())
}

/// The GPU multiplier: 1 when absent, else 1..=MAX_GPUS.
fn feature_gpus(cx: &Ctx, id: &str, gpus: Option<Spanned<i64>>) -> Result<u32, RegistryError> {
    match gpus {
        None => Ok(1),
        Some(g) if *g.get_ref() < 1 => Err(cx.err(
            g.span().start,
            format!("feature '{id}' has gpus = {}", g.get_ref()),
            "gpus is a multiplier of at least 1 (1 for features that need no extra GPU)"
                .to_string(),
        )),
        Some(g) if *g.get_ref() > MAX_GPUS => Err(cx.err(
            g.span().start,
            format!(
                "feature '{id}' has gpus = {}, more than any node has",
                g.get_ref()
            ),
            format!("gpus is the feature's parallel degree, at most {MAX_GPUS}"),
        )),
        Some(g) => u32::try_from(*g.get_ref()).map_err(|_| {
            cx.err(
                g.span().start,
                format!(
                    "feature '{id}' has gpus = {}, far beyond any machine",
                    g.get_ref()
                ),
                "use the feature's parallel degree, e.g. gpus = 2".to_string(),
            )
        }),
    }
}

fn backend(
    cx: &Ctx,
    name: &str,
    body: Spanned<RawBackend>,
    features: &[Feature],
) -> Result<Backend, RegistryError> {
    let at = body.span().start;
    let raw = body.into_inner();
    let switchable = switchable_ids(cx, name, "switchable", raw.switchable, features)?;
    let switchable_on_bare = switchable_ids(
        cx,
        name,
        "switchable_on_bare",
        raw.switchable_on_bare,
        features,
    )?;
    let unshared = switchable_ids(cx, name, "unshared", raw.unshared, features)?;
    let builtin = match raw.builtin {
        Some(b) if b.get_ref() != "reference" => {
            return Err(cx.err(
                b.span().start,
                format!("backend '{name}': unknown builtin '{}'", b.get_ref()),
                "the only builtin engine is \"reference\"".to_string(),
            ));
        }
        b => b.map(Spanned::into_inner),
    };
    if builtin.is_some() && !(switchable.is_empty() && switchable_on_bare.is_empty()) {
        return Err(cx.err(
            at,
            format!("backend '{name}': the builtin engine has no session mode (--session)"),
            "remove switchable / switchable_on_bare from this backend".to_string(),
        ));
    }
    let command = match (raw.command, &builtin) {
        (Some(c), _) => {
            if c.get_ref().is_empty() {
                return Err(cx.err(
                    c.span().start,
                    format!("backend '{name}' has an empty command"),
                    "give the program and its arguments: command = [\"python3\", \"gen.py\", \"--output\", \"{output_dir}\"]"
                        .to_string(),
                ));
            }
            for arg in c.get_ref() {
                if let Err(bad) = check_placeholders(arg) {
                    return Err(cx.err(
                        c.span().start,
                        format!("backend '{name}': unknown placeholder {{{bad}}} in command"),
                        format!("placeholders are {{{}}}", PLACEHOLDERS.join("} {")),
                    ));
                }
            }
            c.into_inner()
        }
        (None, Some(_)) => reference_command(),
        (None, None) => {
            return Err(cx.err(
                at,
                format!("backend '{name}' has no command"),
                "add command = [\"program\", \"arg\", \"{output_dir}\", ...] or builtin = \"reference\""
                    .to_string(),
            ));
        }
    };
    let probe = match raw.probe {
        None => None,
        Some(p) => {
            if p.get_ref().is_empty() {
                return Err(cx.err(
                    p.span().start,
                    format!("backend '{name}' has an empty probe"),
                    "give the program and its arguments: probe = [\"python3\", \"gen.py\", \"--probe\", \"{probe_request}\", \"--output\", \"{probe_output}\"], or leave it out".to_string(),
                ));
            }
            for arg in p.get_ref() {
                if let Err(bad) = check_names(arg, PROBE_PLACEHOLDERS) {
                    return Err(cx.err(
                        p.span().start,
                        format!("backend '{name}': unknown placeholder {{{bad}}} in probe"),
                        format!("placeholders are {{{}}}", PROBE_PLACEHOLDERS.join("} {")),
                    ));
                }
            }
            Some(p.into_inner())
        }
    };
    let devices = match raw.devices {
        None if builtin.is_some() => DeviceSource::CpuCores,
        None => DeviceSource::Gpu,
        Some(d) => match d.get_ref().as_str() {
            "gpu" => DeviceSource::Gpu,
            "cpu" => DeviceSource::CpuCores,
            other => {
                return Err(cx.err(
                    d.span().start,
                    format!("backend '{name}': unknown devices '{other}'"),
                    "use \"gpu\" (NVML / CUDA_VISIBLE_DEVICES) or \"cpu\" (one per CPU core)"
                        .to_string(),
                ));
            }
        },
    };
    // A guidance_scale default the command cannot pass would be refused on
    // every run: say so where it is written.
    let guided = raw.defaults.guidance_scale.is_some()
        || raw
            .model_defaults
            .values()
            .any(|d| d.guidance_scale.is_some());
    if guided && builtin.is_none() && !crate::settings::uses_placeholder(&command, "guidance_scale")
    {
        return Err(cx.err(
            at,
            format!("backend '{name}': a guidance_scale default, but its command takes no {{guidance_scale}}"),
            "add \"--guidance-scale={guidance_scale}\" (or the engine's flag) to its command, or drop the default".to_string(),
        ));
    }
    let defaults = |d: RawDefaults| RunDefaults {
        height: d.height,
        width: d.width,
        steps: d.steps,
        num_prompts: d.num_prompts,
        cfg_scale: d.cfg_scale,
        guidance_scale: d.guidance_scale,
        seed: d.seed,
        negative_prompt: d.negative_prompt,
    };
    Ok(Backend {
        name: name.to_string(),
        command,
        probe,
        switchable,
        switchable_on_bare,
        unshared,
        builtin,
        model: raw.model,
        devices,
        defaults: defaults(raw.defaults),
        model_defaults: raw
            .model_defaults
            .into_iter()
            .map(|(model, d)| (model, defaults(d)))
            .collect(),
    })
}

/// The embedded engine's template: compat itself, `generate` subcommand.
/// Every value joined to its flag (`--flag=value`): a value that starts
/// with `-` (a negative prompt "-blurry") is then data, never a flag.
pub fn reference_command() -> Vec<String> {
    [
        "{compat}",
        "generate",
        "--prompt-file={prompt_file}",
        "--output={output_dir}",
        "--num-inference-steps={steps}",
        "--height={height}",
        "--width={width}",
        "--cfg-scale={cfg_scale}",
        "--seed={seed}",
        "--negative-prompt={negative_prompt}",
        "--warmup={warmup}",
    ]
    .map(String::from)
    .to_vec()
}

/// Every `{name}` in `arg` is a known placeholder; `{{` escapes a brace.
fn check_placeholders(arg: &str) -> Result<(), String> {
    check_names(arg, PLACEHOLDERS)
}

/// [`check_placeholders`] against a given set of names.
pub(super) fn check_names(arg: &str, names: &[&str]) -> Result<(), String> {
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        if rest[open..].starts_with("{{") {
            rest = &rest[open + 2..];
            continue;
        }
        let Some(close) = rest[open..].find('}') else {
            return Err(rest[open + 1..].to_string());
        };
        let name = &rest[open + 1..open + close];
        if !names.contains(&name) {
            return Err(name.to_string());
        }
        rest = &rest[open + close + 1..];
    }
    Ok(())
}

/// Turns a TOML or schema error into a located one with a fix.
fn syntax_error(cx: &Ctx, e: &toml::de::Error) -> RegistryError {
    let offset = e.span().map(|s| s.start).unwrap_or(0);
    let message = e.message().trim().to_string();
    let help = if let Some(rest) = message.strip_prefix("unknown field `") {
        // "unknown field `lable`, expected one of `label`, `args`, ..."
        let word = rest.split('`').next().unwrap_or_default();
        let expected: Vec<&str> = rest
            .split("expected")
            .nth(1)
            .map(|s| s.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        match did_you_mean(word, &expected) {
            Some(s) => format!("did you mean '{s}'?"),
            None => format!("remove `{word}`; see README.md, \"features.toml reference\""),
        }
    } else if message.contains("duplicate") {
        "each key and table is defined once: remove or rename the second definition".to_string()
    } else if message.contains("missing field") {
        "add the field named above".to_string()
    } else {
        "see README.md, \"features.toml reference\"".to_string()
    };
    RegistryError::Invalid(Located {
        file: cx.file.to_string(),
        line: if e.span().is_some() {
            line_of(cx.text, offset)
        } else {
            0
        },
        message,
        help: Some(help),
    })
}
