//! Reading reports for the history: finding them (files, run folders, CI
//! artifact trees), reading only the fields a series needs, and refusing a
//! bad file with a note rather than stopping the whole history.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;

use crate::probe::EngineInfo;
use crate::report::model::{Interval, SCHEMA_VERSION, Status};
use crate::results;

use super::model::{Engine, Point};

/// The most report files one history reads (a typo such as `/` must not walk
/// the whole disk).
pub const MAX_REPORTS: usize = 100_000;
/// A report.json larger than this is not read (a real one of 100 configs ×
/// 100 prompts is about 3 MB).
pub const MAX_REPORT_BYTES: u64 = 256 * 1024 * 1024;

/// A path the user gave that holds no report at all: bad input.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error("{0}: no such file or folder")]
    Missing(String),
    #[error("{0}: no report.json in it or below it (run `compat analyze` first)")]
    NoReport(String),
    #[error("more than {MAX_REPORTS} report.json files under {0}; pass a narrower folder")]
    TooMany(String),
}

/// Every report.json named by `paths`: a file as it is; a folder's own
/// report.json and every report.json below it (symlinks not followed).
/// Sorted and without duplicates.
pub fn find(paths: &[PathBuf]) -> Result<Vec<PathBuf>, FindError> {
    let mut out = Vec::new();
    for p in paths {
        let shown = p.display().to_string();
        if p.is_file() {
            out.push(p.clone());
            continue;
        }
        if !p.is_dir() {
            return Err(FindError::Missing(shown));
        }
        let before = out.len();
        for entry in walkdir::WalkDir::new(p)
            .follow_links(false)
            .into_iter()
            .flatten()
        {
            if entry.file_type().is_file() && entry.file_name() == results::REPORT {
                out.push(entry.into_path());
                if out.len() > MAX_REPORTS {
                    return Err(FindError::TooMany(shown));
                }
            }
        }
        if out.len() == before {
            return Err(FindError::NoReport(shown));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The fields of report.json a history reads (report::model's names; serde
/// skips the rest, the per-prompt rows included, without building them).
#[derive(Debug, Deserialize)]
struct LeanReport {
    schema_version: u64,
    generated: String,
    run: LeanRun,
    results: Vec<LeanResult>,
    /// A bill that cannot be read is no bill (the night still counts).
    #[serde(default, deserialize_with = "lenient")]
    bill: Option<LeanBill>,
}

#[derive(Debug, Deserialize)]
struct LeanBill {
    gpu_seconds: f64,
    #[serde(default)]
    loads: usize,
    #[serde(default)]
    loads_avoided: usize,
    #[serde(default)]
    makespan_seconds: Option<f64>,
}

/// Whatever the field holds: the value when it reads, else None.
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

#[derive(Debug, Deserialize)]
struct LeanRun {
    #[serde(default)]
    backend: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    steps: Option<u32>,
    #[serde(default)]
    height: Option<u32>,
    #[serde(default)]
    width: Option<u32>,
    #[serde(default)]
    cfg_scale: Option<f64>,
    #[serde(default)]
    guidance_scale: Option<f64>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    negative_prompt: Option<String>,
    #[serde(default)]
    warmup: Option<u32>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    prompts: Vec<String>,
    #[serde(default)]
    num_prompts: usize,
}

#[derive(Debug, Deserialize)]
struct LeanResult {
    name: String,
    #[serde(default)]
    features: Vec<String>,
    compat_status: Status,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    mean_gen_time_ms: Option<f64>,
    #[serde(default)]
    speedup: Option<f64>,
    #[serde(default)]
    speedup_ci: Option<Interval>,
    #[serde(default)]
    mean_diff_avg: Option<f64>,
    #[serde(default)]
    psnr_avg: Option<f64>,
    #[serde(default)]
    peak_memory_bytes: BTreeMap<String, u64>,
    #[serde(default)]
    engine_memory_peak_bytes: BTreeMap<String, u64>,
    #[serde(default)]
    engine: Option<EngineInfo>,
    #[serde(default)]
    metrics: BTreeMap<String, LeanMetric>,
}

/// A metric plugin's summary of one config (report::metric_model::ConfigMetric).
#[derive(Debug, Deserialize)]
struct LeanMetric {
    #[serde(default)]
    mean: Option<f64>,
    #[serde(default)]
    change: Option<f64>,
}

/// The settings of one run, which decide its series.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunSettings {
    pub backend: Option<String>,
    pub model: Option<String>,
    pub steps: Option<u32>,
    pub height: Option<u32>,
    pub width: Option<u32>,
    pub cfg_scale: Option<f64>,
    pub guidance_scale: Option<f64>,
    pub seed: Option<u64>,
    pub negative_prompt: Option<String>,
    pub warmup: Option<u32>,
    pub num_prompts: usize,
    pub prompts: Vec<String>,
}

impl RunSettings {
    /// Hash of every setting and prompt: equal fingerprints, one series.
    pub fn fingerprint(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        format!("{:016x}", crate::rng::fnv1a(&bytes))
    }

    /// "compat-reference-dit, 64×64, 4 steps, 2 prompts, seed 42 (reference)".
    pub fn label(&self) -> String {
        let unknown = || "?".to_string();
        let size = match (self.width, self.height) {
            (Some(w), Some(h)) => format!("{w}×{h}"),
            _ => "size ?".into(),
        };
        format!(
            "{}, {size}, {} steps, {} prompts, seed {} ({})",
            self.model.clone().unwrap_or_else(unknown),
            self.steps.map_or_else(unknown, |s| s.to_string()),
            self.num_prompts,
            self.seed.map_or_else(unknown, |s| s.to_string()),
            self.backend.clone().unwrap_or_else(unknown),
        )
    }
}

/// One report, read.
#[derive(Debug, Clone)]
pub struct RunRead {
    pub path: PathBuf,
    pub generated: String,
    pub time: std::time::SystemTime,
    pub created: Option<String>,
    pub settings: RunSettings,
    /// (config name, features, point without its run index).
    pub configs: Vec<(String, Vec<String>, Point)>,
    /// The run's diff_report.html, when it sits beside the report.
    pub diff_report: Option<PathBuf>,
    /// Its bill, in short.
    pub cost: Option<super::model::RunCost>,
}

/// Why one report was left out (a note, never a stop: one bad night must
/// not hide the other 364).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}: cannot be read: {1}")]
    Io(String, std::io::Error),
    #[error("{0}: larger than {MAX_REPORT_BYTES} bytes, not a report")]
    TooLarge(String),
    #[error("{0}: not a compat report.json: {1}")]
    NotAReport(String, String),
    #[error("{0}: report schema version {1}; this compat reads version {SCHEMA_VERSION}")]
    Schema(String, u64),
    #[error("{0}: its `generated` time {1:?} is not an RFC 3339 time, so the run cannot be placed")]
    BadTime(String, String),
}

/// Reads one report.json.
pub fn read(path: &Path) -> Result<RunRead, ReadError> {
    let shown = path.display().to_string();
    let file = results::files::open_regular(path).map_err(|e| ReadError::Io(shown.clone(), e))?;
    let len = file
        .metadata()
        .map_err(|e| ReadError::Io(shown.clone(), e))?
        .len();
    if len > MAX_REPORT_BYTES {
        return Err(ReadError::TooLarge(shown));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    use std::io::Read;
    (&file)
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::Io(shown.clone(), e))?;
    // The version first, so a newer file is refused by its version rather
    // than by a confusing missing field.
    #[derive(Deserialize)]
    struct Version {
        schema_version: Option<serde_json::Value>,
    }
    let v: Version = serde_json::from_slice(&bytes)
        .map_err(|e| ReadError::NotAReport(shown.clone(), e.to_string()))?;
    match v
        .schema_version
        .as_ref()
        .and_then(serde_json::Value::as_u64)
    {
        Some(n) if n == u64::from(SCHEMA_VERSION) => {}
        Some(n) => return Err(ReadError::Schema(shown, n)),
        None => return Err(ReadError::NotAReport(shown, "no schema_version".into())),
    }
    let r: LeanReport = serde_json::from_slice(&bytes)
        .map_err(|e| ReadError::NotAReport(shown.clone(), e.to_string()))?;
    debug_assert_eq!(r.schema_version, u64::from(SCHEMA_VERSION));
    let time = results::parse_time(&r.generated)
        .ok_or_else(|| ReadError::BadTime(shown.clone(), crate::text::clean(&r.generated)))?;
    let mut seen = std::collections::HashSet::new();
    let mut configs = Vec::with_capacity(r.results.len());
    for c in r.results {
        if let Some(why) = results::files::unsafe_name(&c.name) {
            return Err(ReadError::NotAReport(
                shown,
                format!("config name {:?}: {why}", crate::text::clean(&c.name)),
            ));
        }
        if !seen.insert(c.name.clone()) {
            return Err(ReadError::NotAReport(
                shown,
                format!("config {:?} appears twice", c.name),
            ));
        }
        let point = point(&c);
        configs.push((c.name, c.features, point));
    }
    let cost = r
        .bill
        .filter(|b| b.gpu_seconds.is_finite() && b.gpu_seconds >= 0.0)
        .map(|b| super::model::RunCost {
            gpu_seconds: b.gpu_seconds,
            loads: b.loads,
            loads_avoided: b.loads_avoided,
            makespan_seconds: finite(b.makespan_seconds).filter(|m| *m >= 0.0),
        });
    let run = r.run;
    let settings = RunSettings {
        backend: run.backend,
        model: run.model,
        steps: run.steps,
        height: run.height,
        width: run.width,
        cfg_scale: run.cfg_scale,
        guidance_scale: run.guidance_scale,
        seed: run.seed,
        negative_prompt: run.negative_prompt,
        warmup: run.warmup,
        num_prompts: run.num_prompts,
        prompts: run.prompts,
    };
    let diff_report = path
        .parent()
        .map(|d| d.join(crate::report::html::REPORT_FILE))
        .filter(|p| p.is_file());
    Ok(RunRead {
        path: path.to_path_buf(),
        generated: r.generated,
        time,
        created: run.created,
        settings,
        configs,
        diff_report,
        cost,
    })
}

/// A finite number, else nothing (a report edited by hand may hold NaN-like
/// strings; serde refuses those, but a negative time is as useless).
fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite())
}

fn positive(x: Option<f64>) -> Option<f64> {
    finite(x).filter(|v| *v > 0.0)
}

fn point(c: &LeanResult) -> Point {
    // The engine's own peak is what it allocated; NVML's counts everything
    // on the device. Prefer the engine's, as the series is about the engine.
    let memory = c
        .engine_memory_peak_bytes
        .values()
        .max()
        .or_else(|| c.peak_memory_bytes.values().max())
        .copied();
    Point {
        run: 0,
        status: c.compat_status,
        reason: c.reason.as_deref().map(crate::text::one_line),
        speedup: positive(c.speedup),
        speedup_ci: c
            .speedup_ci
            .filter(|i| i.low.is_finite() && i.high.is_finite())
            .map(|i| [i.low, i.high]),
        time_ms: positive(c.mean_gen_time_ms),
        mean_diff: finite(c.mean_diff_avg).filter(|v| *v >= 0.0),
        psnr: finite(c.psnr_avg),
        memory_bytes: memory,
        engine: c.engine.as_ref().map(|e| Engine {
            label: crate::text::clean(&e.label()),
            version: crate::text::clean(&e.version),
            commit: e.commit.as_deref().map(crate::text::clean),
        }),
        metrics: c
            .metrics
            .iter()
            .filter_map(|(name, m)| {
                finite(m.change.or(m.mean)).map(|v| (crate::text::clean(name), v))
            })
            .collect(),
    }
}

/// Reads every report in parallel; a report that cannot be read is a note.
pub fn read_all(paths: &[PathBuf]) -> (Vec<RunRead>, Vec<String>) {
    let read: Vec<Result<RunRead, ReadError>> = paths.par_iter().map(|p| read(p)).collect();
    let mut runs = Vec::with_capacity(read.len());
    let mut notes = Vec::new();
    for r in read {
        match r {
            Ok(run) => runs.push(run),
            Err(e) => notes.push(format!("left out {e}")),
        }
    }
    (runs, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any file is a report or a note, never a panic.
        #[test]
        fn arbitrary_files_never_panic(text in "\\PC*") {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("report.json");
            std::fs::write(&path, &text).expect("write");
            let _ = read(&path);
        }
    }

    #[test]
    fn garbage_is_named_with_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.json");
        std::fs::write(&path, b"\x00\xffnot json").expect("write");
        let err = read(&path).expect_err("garbage");
        assert!(
            err.to_string()
                .contains("report.json: not a compat report.json"),
            "{err}"
        );
        std::fs::write(&path, br#"{"schema_version": 99}"#).expect("write");
        let err = read(&path).expect_err("newer");
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }

    #[test]
    fn metric_plugins_values_join_the_series() {
        // As a report with `--metrics lpips,clip` writes them
        // (report::metric_model::ConfigMetric): the judged value is a pair
        // metric's mean and a prompt metric's change; NaN is left out.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.json");
        let report = serde_json::json!({
            "schema_version": 1, "generated": "2026-12-07T00:00:00Z", "run": {},
            "results": [{"name": "teacache", "compat_status": "PASS", "metrics": {
                "lpips": {"mean": 0.12, "measured": 4},
                "clip": {"mean": 30.5, "baseline_mean": 31.0, "change": -0.5, "measured": 4},
                "broken": {"mean": null, "measured": 0}
            }}]
        });
        std::fs::write(&path, report.to_string()).expect("write");
        let run = read(&path).expect("a report");
        let metrics = &run.configs[0].2.metrics;
        assert_eq!(metrics.get("lpips"), Some(&0.12));
        assert_eq!(metrics.get("clip"), Some(&-0.5));
        assert!(!metrics.contains_key("broken"), "{metrics:?}");
    }
}
