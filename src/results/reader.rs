//! The one reader of a results directory: compat's layout (manifest.json +
//! config folders) and the original framework's (config folders only,
//! `config_info.json` with `is_lossy`/`total_gpus`, timings in
//! `batch_generation.log`). Analysis reads a run through [`read`]; `--resume`
//! reads the manifest through [`read_manifest`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::matrix::Role;
use crate::registry::Registry;
use crate::results::batch_log::{BatchLog, Crash};
use crate::results::original::OriginalManifest;
use crate::results::{self, BatchRecords, ConfigInfo, ConfigState, Manifest};

/// Why a directory cannot be analysed at all (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The path does not exist or is not a directory.
    #[error("{0}: not a directory")]
    NotADirectory(PathBuf),
    /// Neither a manifest nor any config folder.
    #[error(
        "{0} is not a results directory: it has no manifest.json and no config folders \
         (a `baseline/` folder, or folders holding config_info.json or prompt_NN.png)"
    )]
    NotResults(PathBuf),
    /// The manifest exists but cannot be read.
    #[error("{path}: {why}")]
    BadManifest {
        /// The manifest's path.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// Reading the directory failed.
    #[error("failed to list {path}: {why}")]
    List {
        /// The directory.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// One configuration as found on disk and in the manifest.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// Config name ("baseline", "cfg_parallel+teacache").
    pub name: String,
    /// What it is for; the original's layout is given roles by name.
    pub role: Option<Role>,
    /// Feature ids.
    pub features: Vec<String>,
    /// GPUs needed.
    pub gpus: u32,
    /// Holds a lossy feature.
    pub lossy: bool,
    /// Its folder, when it exists.
    pub dir: Option<PathBuf>,
    /// Not run, and why.
    pub skip_reason: Option<String>,
    /// Config-level error (state, `error`, exit code).
    pub error: Option<String>,
    /// Configs that ran at the same time.
    pub concurrent_with: Vec<String>,
    /// The features' arguments (compat's layout).
    pub args: Vec<String>,
    /// The devices it was given.
    pub devices: Vec<String>,
    /// Peak used GPU memory per device, sampled by the runner through NVML.
    pub gpu_memory_peak_bytes: BTreeMap<String, u64>,
    /// Used GPU memory per device when it started (NVML's first sample).
    pub gpu_memory_start_bytes: BTreeMap<String, u64>,
    /// results.jsonl, when present.
    pub records: Option<BatchRecords>,
    /// The engine it ran on, as the manifest recorded it from the probe.
    pub engine: Option<crate::probe::EngineInfo>,
    /// Log timings (0-based prompt → seconds), used without results.jsonl.
    pub log_timings: BTreeMap<usize, f64>,
    /// The image of each prompt when the files' names do not say it: the
    /// original framework renamed its images by position, the log says whose
    /// they are ([`reattribute`]). `None`: `prompt_NN.png` is prompt NN's.
    pub images: Option<BTreeMap<usize, PathBuf>>,
    /// Why a prompt has no image, from the log (its warning).
    pub log_errors: BTreeMap<usize, String>,
    /// prompt_NN.exitcode values.
    pub prompt_exitcodes: BTreeMap<usize, i32>,
    /// Highest prompt index seen in file names, +1.
    pub prompts_seen: usize,
    /// Wall time of the backend process (manifest, else config_info.json's
    /// start and finish): no prompt can have taken longer.
    pub wall_seconds: Option<f64>,
}

/// Without a recorded wall time, a prompt time beyond this (30 days) is
/// taken as garbage, not as a measurement.
pub const MAX_PROMPT_SECONDS: f64 = 30.0 * 24.0 * 3600.0;

/// Why a reported prompt time is not a time: not finite, negative, or
/// longer than the process that measured it ran.
pub fn invalid_time(seconds: f64, wall: Option<f64>) -> Option<String> {
    if !seconds.is_finite() {
        return Some("not a finite number".into());
    }
    if seconds < 0.0 {
        return Some("negative".into());
    }
    match wall {
        // Clocks inside and outside the process differ a little.
        Some(w) if w.is_finite() && w >= 0.0 => (seconds > w * 1.01 + 1.0)
            .then(|| format!("longer than the backend ran ({w:.1} s wall time)")),
        _ => (seconds > MAX_PROMPT_SECONDS)
            .then(|| format!("longer than {MAX_PROMPT_SECONDS} s (30 days)")),
    }
}

impl ConfigSource {
    /// Path of prompt `i`'s image (in its folder, or where it would be).
    pub fn image_path(&self, i: usize) -> Option<PathBuf> {
        match &self.images {
            Some(images) => images.get(&i).cloned(),
            None => self.dir.as_ref().map(|d| d.join(results::prompt_image(i))),
        }
    }

    /// Per-prompt seconds for prompts `0..n`, and where they came from.
    /// Only valid times ([`invalid_time`]); see [`Self::invalid_times`].
    pub fn timings(&self, n: usize) -> (Vec<Option<f64>>, &'static str) {
        let (raw, source) = self.raw_timings(n);
        let v = raw
            .into_iter()
            .map(|s| s.filter(|s| invalid_time(*s, self.wall_seconds).is_none()))
            .collect();
        (v, source)
    }

    /// Per-prompt seconds as reported, valid or not.
    fn raw_timings(&self, n: usize) -> (Vec<Option<f64>>, &'static str) {
        if let Some(r) = &self.records
            && (r.prompts.values().any(|p| p.seconds.is_some()) || !r.bad_seconds.is_empty())
        {
            let v = (0..n)
                .map(|i| r.prompts.get(&i).filter(|p| p.ok).and_then(|p| p.seconds))
                .collect();
            return (v, results::RESULTS);
        }
        let v = (0..n).map(|i| self.log_timings.get(&i).copied()).collect();
        (v, results::LOG)
    }

    /// The times of prompts `0..n` that were reported but are not times
    /// (left out of every statistic): (prompt, why), the value shown.
    pub fn invalid_times(&self, n: usize) -> Vec<(usize, String)> {
        let (raw, source) = self.raw_timings(n);
        let mut out: Vec<(usize, String)> = raw
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let s = (*s)?;
                let why = invalid_time(s, self.wall_seconds)?;
                Some((i, format!("{s} s in {source}: {why}")))
            })
            .collect();
        if let Some(r) = &self.records {
            // NaN and Infinity were read as null: say what was written.
            for (&i, (value, line)) in r.bad_seconds.range(..n) {
                if !out.iter().any(|(p, _)| *p == i) {
                    out.push((
                        i,
                        format!(
                            "{value} s in {}:{line}: not a finite number",
                            results::RESULTS
                        ),
                    ));
                }
            }
        }
        out.sort_by_key(|(i, _)| *i);
        out
    }
}

/// A results directory, loaded (images not yet read).
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The directory.
    pub dir: PathBuf,
    /// compat's manifest.json, when present.
    pub manifest: Option<Manifest>,
    /// The original framework's manifest.json, when that is what is there.
    pub original: Option<OriginalManifest>,
    /// The prompts (manifest, else prompts.txt).
    pub prompts: Vec<String>,
    /// Prompts to judge per config.
    pub num_prompts: usize,
    /// Every config, in matrix order.
    pub configs: Vec<ConfigSource>,
    /// Index of the pure baseline.
    pub baseline: Option<usize>,
    /// Index of the baseline feature alone.
    pub baseline_feature: Option<usize>,
}

fn state_error(state: ConfigState) -> Option<&'static str> {
    match state {
        ConfigState::Failed => Some("the backend failed"),
        ConfigState::TimedOut => Some("timed out"),
        ConfigState::Interrupted => Some("interrupted (Ctrl-C)"),
        ConfigState::Running => Some("did not finish (the run was killed while it ran)"),
        _ => None,
    }
}

/// Reads a text file lossily (non-UTF-8 bytes become U+FFFD); only a
/// regular file (a FIFO named like a result would block for ever).
fn read_lossy(path: &Path) -> Option<String> {
    results::files::read_regular(path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn read_exitcode(path: &Path) -> Option<Result<i32, String>> {
    let text = read_lossy(path)?;
    Some(
        text.trim()
            .parse::<i32>()
            .map_err(|_| format!("{}: not an exit code: {:?}", path.display(), text.trim())),
    )
}

/// Parses `prompt_NN.png` / `prompt_NN.exitcode` into (NN, extension).
fn prompt_file(name: &str) -> Option<(usize, &str)> {
    let rest = name.strip_prefix("prompt_")?;
    let (n, ext) = rest.split_once('.')?;
    Some((n.parse().ok()?, ext))
}

/// Is this folder a config folder?
fn looks_like_config(dir: &Path) -> bool {
    if dir.join(results::CONFIG_INFO).is_file() || dir.file_name() == Some("baseline".as_ref()) {
        return true;
    }
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten().any(|e| {
                prompt_file(&e.file_name().to_string_lossy()).is_some()
                    || e.file_name() == results::LOG
            })
        })
        .unwrap_or(false)
}

/// Reads `manifest.json` of `dir`, if there is one.
pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>, ReadError> {
    let path = dir.join(results::MANIFEST);
    if !path.is_file() {
        return Ok(None);
    }
    let bad = |why: String| ReadError::BadManifest {
        path: path.clone(),
        why,
    };
    let text =
        results::files::read_regular(&path).map_err(|e| bad(format!("failed to read: {e}")))?;
    let m: Manifest =
        serde_json::from_slice(&text).map_err(|e| bad(format!("failed to parse: {e}")))?;
    check_names(m.configs.iter().map(|c| c.name.as_str())).map_err(bad)?;
    Ok(Some(m))
}

/// Every config name must be a plain folder name: a manifest naming
/// `../victim/f1` would have its images read (and copied into the page)
/// from outside the run.
fn check_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    for name in names {
        if let Some(why) = results::files::unsafe_name(name) {
            return Err(format!(
                "config name {:?} cannot be a folder of the run: {why}",
                crate::text::clean(name)
            ));
        }
    }
    Ok(())
}

/// The config folders directly under `dir`, by name.
fn config_folders(dir: &Path) -> Result<BTreeMap<String, PathBuf>, ReadError> {
    let mut folders = BTreeMap::new();
    let walk = walkdir::WalkDir::new(dir).min_depth(1).max_depth(1);
    for entry in walk {
        let entry = entry.map_err(|e| ReadError::List {
            path: dir.to_path_buf(),
            why: e.to_string(),
        })?;
        let path = entry.path();
        // The entry's own type: a config folder that is a symlink to
        // elsewhere is not this run's folder (its images would be read and
        // published from outside the results folder).
        if entry.file_type().is_dir() && looks_like_config(path) {
            folders.insert(
                entry.file_name().to_string_lossy().into_owned(),
                path.to_path_buf(),
            );
        }
    }
    Ok(folders)
}

/// The manifest's configs, in matrix order, with the state it recorded.
fn from_manifest(m: &Manifest, folders: &mut BTreeMap<String, PathBuf>) -> Vec<ConfigSource> {
    m.configs
        .iter()
        .map(|e| {
            let mut c = ConfigSource {
                name: e.name.clone(),
                role: Some(e.role),
                features: e.features.clone(),
                gpus: e.gpus,
                lossy: e.lossy,
                concurrent_with: e.concurrent_with.clone(),
                gpu_memory_peak_bytes: e.gpu_memory_peak_bytes.clone(),
                gpu_memory_start_bytes: e.gpu_memory_start_bytes.clone(),
                args: e.args.clone(),
                devices: e.devices.clone(),
                engine: e.engine.clone(),
                wall_seconds: e.seconds,
                ..ConfigSource::default()
            };
            match e.state {
                ConfigState::Skipped => {
                    c.skip_reason = Some(e.skip_reason.clone().unwrap_or_else(|| "skipped".into()))
                }
                ConfigState::Pending => c.skip_reason = Some("not run yet (pending)".into()),
                s => c.error = state_error_text(s, e.error.as_deref()),
            }
            c.dir = folders.remove(&e.name);
            c
        })
        .collect()
}

/// "the backend failed: <error>", the error alone, or nothing.
fn state_error_text(state: ConfigState, error: Option<&str>) -> Option<String> {
    // A shared load's check (docs/sessions.md) fails configurations whose
    // backend did not: its reason stands alone.
    let own = |e: &str| {
        e.starts_with(results::SESSION_LEAKED) || e.starts_with(results::SESSION_UNVERIFIED)
    };
    match (state_error(state), error) {
        (Some(_), Some(err)) if own(err) => Some(err.to_string()),
        (Some(msg), Some(err)) => Some(format!("{msg}: {err}")),
        (Some(msg), None) => Some(msg.to_string()),
        (None, err) => err.map(str::to_string),
    }
}

/// The original framework's manifest, when `dir` holds one.
fn read_original(dir: &Path) -> Option<OriginalManifest> {
    let text = results::files::read_regular(&dir.join(results::MANIFEST)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// The configs the original's manifest names, in its order. A config with
/// no folder was either skipped by the original (GPU budget, conflict: what
/// the registry says of it, with the manifest's `gpu_count`) or lost:
/// an ERROR "no results", never silently absent.
fn from_original(
    m: &OriginalManifest,
    folders: &mut BTreeMap<String, PathBuf>,
    registry: &Registry,
) -> Vec<ConfigSource> {
    // gpu_count 0 means the original could not count: no budget is known.
    let devices = if m.gpu_count == 0 {
        usize::MAX
    } else {
        m.gpu_count
    };
    // The original framework drives vLLM-Omni: judge what it could run by
    // that backend's limits where the registry has it.
    let backend = match registry.backend("vllm-omni") {
        Some(b) => b.name.as_str(),
        None => registry.default_backend.as_str(),
    };
    let planned = crate::matrix::expand(
        registry,
        Some(m.baseline_feature.as_str()),
        &m.addons,
        crate::matrix::Combos::Pairs,
        crate::matrix::Target {
            backend,
            model: &m.model,
            devices,
            engine: None,
        },
    )
    .unwrap_or_default();
    m.configs
        .iter()
        .map(|name| {
            let plan = planned.iter().find(|c| c.name == *name);
            let mut c = by_name(name.clone(), registry);
            c.dir = folders.remove(name);
            if c.dir.is_none() {
                match plan.and_then(|p| p.skip.clone()) {
                    Some(reason) => c.skip_reason = Some(reason),
                    None => {
                        c.error = Some(format!(
                            "no results: manifest.json names {name} but {name}/ does not exist"
                        ))
                    }
                }
            }
            c
        })
        .collect()
}

/// Config folders of the original's layout (no manifest): the baseline
/// first, then by number of features, then by name.
fn from_folders(folders: BTreeMap<String, PathBuf>, registry: &Registry) -> Vec<ConfigSource> {
    let mut extra: Vec<(String, PathBuf)> = folders.into_iter().collect();
    extra.sort_by_key(|(n, _)| (n != results::BASELINE, n.matches('+').count(), n.clone()));
    extra
        .into_iter()
        .map(|(name, path)| ConfigSource {
            dir: Some(path),
            ..by_name(name, registry)
        })
        .collect()
}

/// A config known only by its name (feature ids joined by `+`): its features,
/// and the GPUs and lossiness the registry gives them.
fn by_name(name: String, registry: &Registry) -> ConfigSource {
    let features: Vec<String> =
        if name == results::BASELINE || name == crate::matrix::BASELINE_REPEAT {
            Vec::new()
        } else {
            name.split('+').map(str::to_string).collect()
        };
    let known: Vec<_> = features
        .iter()
        .filter_map(|f| registry.feature(f))
        .collect();
    ConfigSource {
        gpus: known.iter().map(|f| f.gpus).product::<u32>().max(1),
        lossy: known.iter().any(|f| f.lossy),
        features,
        name,
        ..ConfigSource::default()
    }
}

/// What `config_info.json` adds to a config.
fn apply_config_info(c: &mut ConfigSource, info: &ConfigInfo, has_manifest: bool) {
    if !has_manifest || c.role.is_none() {
        c.role = c.role.or(info.role);
    }
    if !info.features.is_empty() && c.features.is_empty() {
        c.features = info.features.clone();
    }
    if info.total_gpus() > 0 {
        c.gpus = info.total_gpus();
    }
    c.lossy = c.lossy || info.is_lossy();
    if c.wall_seconds.is_none()
        && let (Some(a), Some(b)) = (
            info.started.as_deref().and_then(results::parse_time),
            info.finished.as_deref().and_then(results::parse_time),
        )
    {
        c.wall_seconds = b.duration_since(a).ok().map(|d| d.as_secs_f64());
    }
    if info.state == Some(ConfigState::Skipped) && c.skip_reason.is_none() {
        c.skip_reason = Some(info.skip_reason.clone().unwrap_or_else(|| "skipped".into()));
    }
    if c.error.is_none() {
        c.error = match info.state {
            Some(s) => state_error_text(s, info.error.as_deref()),
            None => info.error.clone(),
        };
    }
}

/// Reads one config folder's files: config_info.json, the exit code,
/// results.jsonl, the log, prompt_NN files.
fn read_config_files(c: &mut ConfigSource, d: &Path, has_manifest: bool) {
    let info_path = d.join(results::CONFIG_INFO);
    if let Some(text) = read_lossy(&info_path) {
        match serde_json::from_str::<ConfigInfo>(&text) {
            Ok(info) => apply_config_info(c, &info, has_manifest),
            Err(e) => {
                if c.error.is_none() {
                    c.error = Some(format!("{}: failed to parse: {e}", info_path.display()));
                }
            }
        }
    }
    if c.skip_reason.is_some() {
        return;
    }
    if c.error.is_none() {
        match read_exitcode(&d.join(results::EXITCODE)) {
            Some(Ok(0)) | None => {}
            Some(Ok(code)) => c.error = Some(format!("the backend exited with code {code}")),
            Some(Err(e)) => c.error = Some(e),
        }
    }
    if let Some(text) = read_lossy(&d.join(results::RESULTS)) {
        c.records = Some(BatchRecords::parse_jsonl(&text));
    }
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some((i, ext)) = prompt_file(&name)
                && i < MAX_GUESSED_PROMPTS
            {
                c.prompts_seen = c.prompts_seen.max(i + 1);
                if ext == "exitcode"
                    && let Some(Ok(code)) = read_exitcode(&e.path())
                {
                    c.prompt_exitcodes.insert(i, code);
                }
            }
        }
    }
    if let Some(text) = read_lossy(&d.join(results::LOG)) {
        let log = BatchLog::parse(&text);
        c.log_timings = log.times();
        // The batch script died (no try around a prompt, B:361-421): say on
        // which prompt and why, not only the exit code.
        let failed =
            matches!(read_exitcode(&d.join(results::EXITCODE)), Some(Ok(code)) if code != 0);
        let crash = log.crash.clone().filter(|_| failed);
        if let (Some(crash), Some(e)) = (&crash, &mut c.error) {
            e.push_str(&format!("; {}", crash.describe()));
        }
        if !has_manifest && c.records.is_none() {
            reattribute(c, d, &log, crash.as_ref());
        }
    }
}

/// A prompt index above this, guessed from file names or log lines (no
/// manifest says how many prompts ran), is not believed: one stray
/// `prompt_99999999999.png` must not make analysis loop over them all.
pub const MAX_GUESSED_PROMPTS: usize = 10_000;

/// The original framework's runner renamed `image_{k:04}.png` to
/// `prompt_{k:02}.png` by position (`compatibility/run_compat_test.py`,
/// R:556-567 at 7bd8f25f), but the batch script's counter skips a prompt
/// that made no image, so after such a prompt every file sits on the wrong
/// prompt and the *last* prompt's exit code says 1. The log's `Saved image
/// to` lines say whose each image is: prompt `p`'s image is the file the
/// runner made of the image the log gives `p`.
///
/// When the batch script failed, the runner renamed nothing (R:548-550):
/// the images are still `image_NNNN.png`, and the log still says whose each
/// is. The prompt the traceback came from, and those after it, say so.
fn reattribute(c: &mut ConfigSource, dir: &Path, log: &BatchLog, crash: Option<&Crash>) {
    if !log.logs_saves {
        return;
    }
    let mut images = BTreeMap::new();
    for (&p, lp) in &log.prompts {
        let saved = lp.images.first().and_then(|name| {
            let k = name
                .strip_prefix("image_")?
                .strip_suffix(".png")?
                .parse::<usize>()
                .ok()?;
            Some((k, name))
        });
        match saved {
            Some((k, name)) => {
                let renamed = dir.join(results::prompt_image(k));
                let kept = dir.join(name);
                let path = if !renamed.exists() && kept.is_file() {
                    kept
                } else {
                    renamed
                };
                images.insert(p, path);
            }
            None => {
                let why = match (&lp.warning, crash) {
                    (Some(w), _) => format!("the backend logged \"{w}\""),
                    (None, Some(cr)) if cr.prompt == Some(p) => format!(
                        "the batch script crashed on this prompt: {}",
                        crate::text::clean(&cr.exception)
                    ),
                    (None, _) => "the log shows no saved image".to_string(),
                };
                c.log_errors.insert(p, why);
            }
        }
    }
    // Prompts the script never reached: after the one it died on.
    if let (Some(cr), Some(total)) = (crash, log.total)
        && let Some(at) = cr.prompt
    {
        let end = total.min(at.saturating_add(1).saturating_add(MAX_GUESSED_PROMPTS));
        for p in at.saturating_add(1)..end {
            c.log_errors.entry(p).or_insert_with(|| {
                format!("never run: the batch script stopped, {}", cr.describe())
            });
        }
    }
    if images
        .iter()
        .all(|(p, path)| *path == dir.join(results::prompt_image(*p)))
    {
        // Nothing moved: the names already say the truth.
        c.log_errors.clear();
        return;
    }
    // The runner's exit codes are positional too: the log replaces them.
    c.prompt_exitcodes.clear();
    c.images = Some(images);
}

/// Gives every config a role (the original's layout has none); returns the
/// indices of the pure baseline and of the baseline feature alone.
fn assign_roles(configs: &mut [ConfigSource]) -> (Option<usize>, Option<usize>) {
    // compat's manifest names every role; a run of addons on the pure
    // baseline has no baseline feature, and none may be guessed for it.
    let roles_known = configs.iter().any(|c| c.role.is_some());
    let baseline = configs.iter().position(|c| c.name == results::BASELINE);
    if let Some(b) = baseline {
        configs[b].role = Some(Role::Baseline);
    }
    let mut baseline_feature = configs
        .iter()
        .position(|c| c.role == Some(Role::BaselineFeature));
    if baseline_feature.is_none() && !roles_known {
        let names: Vec<&str> = configs
            .iter()
            .filter(|c| c.name != results::BASELINE)
            .map(|c| c.name.as_str())
            .collect();
        baseline_feature = configs.iter().position(|c| {
            c.features.len() == 1
                && c.name != results::BASELINE
                && names
                    .iter()
                    .all(|n| *n == c.name || n.starts_with(&format!("{}+", c.name)))
        });
    }
    for (i, c) in configs.iter_mut().enumerate() {
        if c.name == crate::matrix::BASELINE_REPEAT {
            c.role = Some(Role::BaselineRepeat);
        } else if Some(i) == baseline_feature {
            c.role = Some(Role::BaselineFeature);
        } else if c.role.is_none() {
            c.role = Some(match (c.features.len(), baseline_feature.is_some()) {
                (0, _) => Role::Baseline,
                (2, true) => Role::Addon,
                _ => Role::Combo,
            });
        }
    }
    (baseline, baseline_feature)
}

/// The prompts (manifest, else prompts.txt) and how many to judge: their
/// count, else the highest prompt index any config has files or lines for.
fn prompts_of(
    manifest: Option<&Manifest>,
    dir: &Path,
    configs: &[ConfigSource],
) -> (Vec<String>, usize) {
    let prompts: Vec<String> = match manifest {
        Some(m) if !m.prompts.is_empty() => m.prompts.clone(),
        _ => read_lossy(&dir.join(results::PROMPTS))
            .map(|t| {
                t.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    };
    if !prompts.is_empty() {
        let n = prompts.len();
        return (prompts, n);
    }
    let seen: BTreeSet<usize> = configs
        .iter()
        .flat_map(|c| {
            let mut v = vec![c.prompts_seen];
            if let Some(r) = &c.records {
                v.extend(r.prompts.keys().map(|k| k.saturating_add(1)));
            }
            v.extend(c.log_timings.keys().map(|k| k.saturating_add(1)));
            v
        })
        .filter(|&k| k <= MAX_GUESSED_PROMPTS)
        .collect();
    (prompts, seen.last().copied().unwrap_or(0))
}

/// Reads a results directory (images not yet).
pub fn read(dir: &Path, registry: &Registry) -> Result<RunDir, ReadError> {
    if !dir.is_dir() {
        return Err(ReadError::NotADirectory(dir.to_path_buf()));
    }
    let (manifest, original) = match read_manifest(dir) {
        Ok(m) => (m, None),
        Err(e) => (None, Some(read_original(dir).ok_or(e)?)),
    };
    if let Some(o) = &original {
        check_names(o.configs.iter().map(String::as_str)).map_err(|why| {
            ReadError::BadManifest {
                path: dir.join(results::MANIFEST),
                why,
            }
        })?;
    }
    let mut folders = config_folders(dir)?;
    if manifest.is_none() && original.is_none() && folders.is_empty() {
        return Err(ReadError::NotResults(dir.to_path_buf()));
    }
    let mut configs = match (&manifest, &original) {
        (None, Some(o)) => {
            let mut configs = from_original(o, &mut folders, registry);
            // The original's analyzer judges every folder: so does compat.
            configs.extend(from_folders(folders, registry));
            configs
        }
        (Some(m), _) => {
            let configs = from_manifest(m, &mut folders);
            // A folder the manifest does not name is left over from an
            // earlier run with other addons (kept by --resume): judging it
            // against this run's baseline would mix two runs.
            if !folders.is_empty() {
                let names: Vec<&str> = folders.keys().map(String::as_str).collect();
                eprintln!(
                    "note: ignoring folder(s) not in this run's manifest (left from an earlier run): {}",
                    names.join(", ")
                );
            }
            configs
        }
        // Without a manifest (the original's layout) every folder is a config.
        (None, None) => from_folders(folders, registry),
    };
    for c in &mut configs {
        match c.dir.clone() {
            Some(d) => read_config_files(c, &d, manifest.is_some()),
            None if c.skip_reason.is_none() && c.error.is_none() => {
                c.error = Some(format!("no folder {}", dir.join(&c.name).display()));
            }
            None => {}
        }
    }
    let (baseline, baseline_feature) = assign_roles(&mut configs);
    let (prompts, num_prompts) = prompts_of(manifest.as_ref(), dir, &configs);
    Ok(RunDir {
        dir: dir.to_path_buf(),
        manifest,
        original,
        prompts,
        num_prompts,
        configs,
        baseline,
        baseline_feature,
    })
}
