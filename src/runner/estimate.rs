//! Expected wall seconds per configuration, for the queue order
//! ([`crate::executor::plan_order`]).
//!
//! What is known beats what is modelled: a configuration that ran before with
//! the same fingerprint (the earlier run on `--resume`, or `--estimates-from`
//! last night's run) is expected to take what it took. Otherwise a model:
//! one load that does not shrink, then warm-up and timed prompts whose time a
//! parallel feature divides by its GPU multiplier and a cache by about
//! [`CACHE_SPEEDUP`]; the pure baseline is thus the slowest. The model's load
//! and per-prompt seconds are fitted to the earlier runs of the same settings
//! when there are any, else nominal (only their ratio matters for the order).

use std::path::{Path, PathBuf};

use crate::report::Report;
use crate::results::{self, BatchRecords, ConfigState, Manifest};
use crate::settings::Settings;

/// What a cache feature is expected to buy per prompt (TeaCache, DBCache and
/// their kind skip roughly a third to a half of the transformer's work).
pub const CACHE_SPEEDUP: f64 = 1.6;
/// Nominal model load, seconds, when no earlier run says better.
const NOMINAL_LOAD: f64 = 60.0;
/// Nominal seconds per prompt on one GPU with no feature.
const NOMINAL_PROMPT: f64 = 10.0;

/// One configuration that ran before, and what it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    /// Its settings fingerprint; None when the source has none (report.json).
    pub fingerprint: Option<String>,
    pub backend: String,
    pub settings: Option<Settings>,
    pub prompts: usize,
    pub features: Vec<String>,
    pub gpus: u32,
    /// Start to end.
    pub wall: f64,
    /// The load it reported.
    pub load: Option<f64>,
    /// Where it was read ("the earlier run", a path).
    pub from: String,
}

/// Where an estimate came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The same configuration's earlier run.
    Measured { from: String },
    /// The model, fitted to this many earlier configurations (0: nominal).
    Model { fitted_on: usize },
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Measured { from } => format!("measured in {from}"),
            Source::Model { fitted_on: 0 } => {
                "model, nominal (no earlier run of these settings)".into()
            }
            Source::Model { fitted_on } => {
                format!("model fitted on {fitted_on} earlier config(s)")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub seconds: f64,
    /// Of which the model load: what a configuration inside a session,
    /// after its first, does not pay.
    pub load: f64,
    pub source: Source,
}

/// The completed configurations of an earlier run `m` in `dir` (its
/// results.jsonl give their loads).
pub fn from_manifest(m: &Manifest, dir: &Path, from: &str) -> Vec<Sample> {
    m.configs
        .iter()
        .filter(|e| e.state == ConfigState::Completed)
        .filter_map(|e| {
            let wall = e.seconds.filter(|s| s.is_finite() && *s > 0.0)?;
            Some(Sample {
                name: e.name.clone(),
                fingerprint: Some(e.fingerprint.clone()),
                backend: m.backend.clone(),
                settings: Some(m.settings.clone()),
                prompts: m.prompts.len(),
                features: e.features.clone(),
                gpus: e.gpus,
                wall,
                load: load_of(&dir.join(&e.name)),
                from: from.to_string(),
            })
        })
        .collect()
}

fn load_of(config_dir: &Path) -> Option<f64> {
    let bytes = results::files::read_regular(&config_dir.join(results::RESULTS)).ok()?;
    BatchRecords::parse_jsonl(&String::from_utf8_lossy(&bytes))
        .load_seconds
        .filter(|s| s.is_finite() && *s >= 0.0)
}

/// The configurations of a report.json that has a bill: matched by name and
/// settings, having no fingerprint.
fn from_report(r: &Report, from: &str) -> Vec<Sample> {
    let Some(bill) = &r.bill else {
        return vec![];
    };
    bill.configs
        .iter()
        .filter_map(|c| {
            let res = r.results.iter().find(|x| x.name == c.name)?;
            Some(Sample {
                name: c.name.clone(),
                fingerprint: None,
                backend: r.run.backend.clone()?,
                settings: r.run.settings.clone(),
                prompts: r.run.num_prompts,
                features: res.features.clone(),
                gpus: c.gpus,
                wall: c.wall_seconds,
                load: c
                    .load_gpu_seconds
                    .map(|g| g / f64::from(c.gpus.max(1)))
                    .filter(|l| l.is_finite() && *l >= 0.0),
                from: from.to_string(),
            })
        })
        .filter(|s| s.wall.is_finite() && s.wall > 0.0)
        .collect()
}

/// Why `--estimates-from` cannot be used (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum EstimatesError {
    #[error("--estimates-from: cannot read {path}: {why}")]
    Read { path: String, why: String },
    #[error("--estimates-from: {path} is not JSON: {why}")]
    NotJson { path: String, why: String },
    #[error("--estimates-from: {path} is not a compat {what} this version reads: {why}")]
    Schema {
        path: String,
        what: &'static str,
        why: String,
    },
    #[error(
        "--estimates-from: {0} has no bill (written before compat billed runs, or of the \
         original's layout): pass the run's manifest.json instead"
    )]
    NoBill(String),
    #[error(
        "--estimates-from: {0} is neither a compat manifest.json (no \"configs\") nor a \
         report.json (no \"results\")"
    )]
    Unknown(String),
}

/// `--estimates-from PATH`: a run folder, its manifest.json, or a report.json
/// written by `compat analyze` (which carries the bill).
pub fn from_path(path: &Path) -> Result<Vec<Sample>, EstimatesError> {
    let file: PathBuf = if path.is_dir() {
        let m = path.join(results::MANIFEST);
        if m.is_file() {
            m
        } else {
            path.join(results::REPORT)
        }
    } else {
        path.to_path_buf()
    };
    let shown = file.display().to_string();
    let bytes = results::files::read_regular(&file).map_err(|e| EstimatesError::Read {
        path: shown.clone(),
        why: e.to_string(),
    })?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| EstimatesError::NotJson {
            path: shown.clone(),
            why: e.to_string(),
        })?;
    let schema = |what, e: serde_json::Error| EstimatesError::Schema {
        path: shown.clone(),
        what,
        why: e.to_string(),
    };
    let dir = file.parent().unwrap_or(Path::new("."));
    if value.get("configs").is_some() {
        let m: Manifest = serde_json::from_value(value).map_err(|e| schema("manifest.json", e))?;
        return Ok(from_manifest(&m, dir, &shown));
    }
    if value.get("results").is_some() {
        let r: Report = serde_json::from_value(value).map_err(|e| schema("report.json", e))?;
        if r.bill.is_none() {
            return Err(EstimatesError::NoBill(shown));
        }
        return Ok(from_report(&r, &shown));
    }
    Err(EstimatesError::Unknown(shown))
}

/// Expected per-prompt speedup of a configuration over the pure baseline.
fn speedup(features: &[String], gpus: u32, is_cache: &dyn Fn(&str) -> bool) -> f64 {
    let caches = features.iter().filter(|f| is_cache(f)).count();
    f64::from(gpus.max(1)) * CACHE_SPEEDUP.powi(caches as i32)
}

/// The model's fitted constants: (load seconds, seconds per prompt on one
/// GPU with no feature, samples fitted on).
fn fit(m: &Manifest, samples: &[&Sample], is_cache: &dyn Fn(&str) -> bool) -> (f64, f64, usize) {
    if samples.is_empty() {
        return (NOMINAL_LOAD, NOMINAL_PROMPT, 0);
    }
    let mut loads: Vec<f64> = samples.iter().filter_map(|s| s.load).collect();
    let load = median(&mut loads).unwrap_or(0.0);
    let generations = f64::from(m.settings.warmup) + m.prompts.len() as f64;
    let mut units: Vec<f64> = samples
        .iter()
        .map(|s| {
            let work = generations.max(1.0) / speedup(&s.features, s.gpus, is_cache);
            (s.wall - s.load.unwrap_or(load)).max(0.0) / work
        })
        .collect();
    let unit = median(&mut units).unwrap_or(NOMINAL_PROMPT);
    (load, unit, samples.len())
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// One estimate per configuration of `m` (None for a SKIP).
pub fn estimate(
    m: &Manifest,
    samples: &[Sample],
    is_cache: &dyn Fn(&str) -> bool,
) -> Vec<Option<Estimate>> {
    let same_settings = |s: &&Sample| {
        s.backend == m.backend
            && s.prompts == m.prompts.len()
            && s.settings.as_ref() == Some(&m.settings)
    };
    let comparable: Vec<&Sample> = samples.iter().filter(same_settings).collect();
    let (load, unit, fitted_on) = fit(m, &comparable, is_cache);
    let generations = f64::from(m.settings.warmup) + m.prompts.len() as f64;
    m.configs
        .iter()
        .map(|e| {
            if e.state == ConfigState::Skipped {
                return None;
            }
            // The latest sample wins: --resume's earlier run is added last.
            let measured = samples.iter().rev().find(|s| match &s.fingerprint {
                Some(f) => *f == e.fingerprint,
                None => same_settings(s) && s.name == e.name,
            });
            Some(match measured {
                Some(s) => Estimate {
                    seconds: s.wall,
                    load: s.load.unwrap_or(load).clamp(0.0, s.wall),
                    source: Source::Measured {
                        from: s.from.clone(),
                    },
                },
                None => Estimate {
                    // Never negative, whatever a hostile file held.
                    seconds: (load + unit * generations / speedup(&e.features, e.gpus, is_cache))
                        .max(0.0),
                    load: load.max(0.0),
                    source: Source::Model { fitted_on },
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Role;
    use crate::results::{ConfigEntry, DeviceInfo};

    fn entry(name: &str, features: &[&str], gpus: u32) -> ConfigEntry {
        ConfigEntry {
            name: name.into(),
            role: Role::Addon,
            features: features.iter().map(|f| f.to_string()).collect(),
            args: vec![],
            gpus,
            lossy: false,
            state: ConfigState::Pending,
            skip_reason: None,
            error: None,
            devices: vec![],
            started: None,
            finished: None,
            seconds: None,
            exit_code: None,
            prompts_ok: 0,
            fingerprint: format!("fp-{name}"),
            concurrent_with: vec![],
            slurm_job_id: None,
            engine: None,
            gpu_memory_peak_bytes: Default::default(),
            gpu_memory_start_bytes: Default::default(),
            session: None,
            argv: vec![],
        }
    }

    fn manifest() -> Manifest {
        Manifest {
            schema_version: 1,
            tool: "compat".into(),
            tool_version: "0".into(),
            created: String::new(),
            updated: String::new(),
            registry: String::new(),
            backend: "b".into(),
            backend_command: vec![],
            settings: Settings {
                warmup: 0,
                ..Settings::default()
            },
            prompts: vec!["p".into(); 4],
            baseline_feature: Some("cfg_parallel".into()),
            addons: vec![],
            combos: "pairs".into(),
            devices: DeviceInfo {
                count: 4,
                ids: vec![],
                source: String::new(),
                detail: String::new(),
            },
            timeout_seconds: 60,
            executor: "local".into(),
            configs: vec![
                entry("baseline", &[], 1),
                entry("cfg_parallel", &["cfg_parallel"], 2),
                entry("cfg_parallel+teacache", &["cfg_parallel", "teacache"], 2),
                entry("cfg_parallel+ulysses", &["cfg_parallel", "ulysses"], 4),
            ],
            engine: None,
            engine_probe: None,
            sessions: vec![],
        }
    }

    fn is_cache(f: &str) -> bool {
        f == "teacache"
    }

    fn sample(m: &Manifest, i: usize, wall: f64, load: Option<f64>) -> Sample {
        let e = &m.configs[i];
        Sample {
            name: e.name.clone(),
            fingerprint: Some(e.fingerprint.clone()),
            backend: m.backend.clone(),
            settings: Some(m.settings.clone()),
            prompts: m.prompts.len(),
            features: e.features.clone(),
            gpus: e.gpus,
            wall,
            load,
            from: "last night".into(),
        }
    }

    #[test]
    fn without_history_the_baseline_is_slowest_and_a_degree_divides_the_prompts() {
        let m = manifest();
        let e: Vec<f64> = estimate(&m, &[], &is_cache)
            .into_iter()
            .map(|e| e.map(|e| e.seconds).unwrap_or(0.0))
            .collect();
        assert_eq!(e[0], NOMINAL_LOAD + 4.0 * NOMINAL_PROMPT);
        assert_eq!(e[1], NOMINAL_LOAD + 2.0 * NOMINAL_PROMPT);
        assert!(e[2] < e[1] && e[3] < e[1]);
        assert!(e.iter().all(|&x| x <= e[0] && x >= NOMINAL_LOAD));
    }

    #[test]
    fn a_measured_config_is_expected_to_take_what_it_took_and_fits_the_rest() {
        let m = manifest();
        // Baseline: load 2 + 4 prompts × 2.5 s.
        let samples = vec![sample(&m, 0, 12.0, Some(2.0))];
        let est = estimate(&m, &samples, &is_cache);
        let base = est[0].as_ref().map(|e| (e.seconds, e.source.clone()));
        assert_eq!(
            base,
            Some((
                12.0,
                Source::Measured {
                    from: "last night".into()
                }
            ))
        );
        let par = est[1].as_ref().map(|e| (e.seconds, e.source.clone()));
        assert_eq!(par, Some((2.0 + 5.0, Source::Model { fitted_on: 1 })));
        // Another fingerprint (other settings) is neither matched nor fitted on.
        let mut other = sample(&m, 1, 99.0, None);
        other.fingerprint = Some("else".into());
        other.settings = Some(Settings {
            steps: 99,
            ..Settings::default()
        });
        let est = estimate(&m, &[other], &is_cache);
        assert_eq!(
            est[1].as_ref().map(|e| e.source.clone()),
            Some(Source::Model { fitted_on: 0 })
        );
    }

    #[test]
    fn a_hostile_load_never_makes_an_estimate_negative() {
        let m = manifest();
        // A report whose load is a million seconds more than the config ran.
        let samples = vec![sample(&m, 0, 12.0, Some(-1e6))];
        let est = estimate(&m, &samples, &is_cache);
        assert!(
            est.iter().flatten().all(|e| e.seconds >= 0.0),
            "{:?}",
            est.iter().flatten().map(|e| e.seconds).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_skipped_config_has_no_estimate() {
        let mut m = manifest();
        m.configs[3].state = ConfigState::Skipped;
        assert!(estimate(&m, &[], &is_cache)[3].is_none());
    }

    #[test]
    fn a_bad_estimates_file_says_what_and_where() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        std::fs::write(&p, "{\"tool\": 1}").unwrap();
        let e = from_path(&p).unwrap_err().to_string();
        assert!(e.contains("x.json") && e.contains("neither"), "{e}");
        std::fs::write(&p, "not json").unwrap();
        assert!(from_path(&p).unwrap_err().to_string().contains("not JSON"));
        let e = from_path(&d.path().join("none")).unwrap_err().to_string();
        assert!(e.contains("cannot read"), "{e}");
    }
}
