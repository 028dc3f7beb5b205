//! Reading the reports and deciding whether they can be compared honestly.

use std::path::{Path, PathBuf};

use crate::report::model::{Report, SCHEMA_VERSION};
use crate::results;

/// What can go wrong before anything is compared. All are bad input (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The path is neither a report.json nor a directory holding one.
    #[error("{path}: no {file} here (pass a report.json or a results directory; run `compat analyze` first)", file = results::REPORT)]
    NoReport { path: String },
    /// A directory whose sub-directories hold several reports.
    #[error("{path} holds several runs ({runs}); pass one of their report.json files")]
    SeveralRuns { path: String, runs: String },
    /// The path cannot be read.
    #[error("failed to read {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// Not JSON, or not a report.
    #[error("{path} is not a compat report.json: {reason}")]
    NotAReport { path: String, reason: String },
    /// A schema version this binary does not know, without `--force`.
    #[error(
        "{path} has report schema version {found}; this compat reads version {SCHEMA_VERSION}; pass --force to compare anyway"
    )]
    UnknownSchema { path: String, found: u64 },
    /// The run changed after its report was written (a `--resume`), without
    /// `--force`: the report no longer says what is in the folder.
    #[error(
        "{path} was written {generated}, before its run last changed ({updated}, manifest.json); run `compat analyze` again, or pass --force"
    )]
    Stale {
        path: String,
        generated: String,
        updated: String,
    },
    /// The workloads differ, without `--force`.
    #[error("{0}; pass --force to compare anyway")]
    Incomparable(String),
}

/// One loaded report.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// "A", "B", … in command-line order.
    pub label: String,
    /// The report.json actually read.
    pub path: PathBuf,
    /// Its content.
    pub report: Report,
}

/// The report.json for a path: the file itself, `DIR/report.json`, or — for
/// a run's `--output-dir`, which holds one folder per baseline feature — the
/// only `DIR/*/report.json`.
pub fn resolve(path: &Path) -> Result<PathBuf, LoadError> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let shown = path.display().to_string();
    if !path.is_dir() {
        return Err(LoadError::NoReport { path: shown });
    }
    let direct = path.join(results::REPORT);
    if direct.is_file() {
        return Ok(direct);
    }
    let rd = std::fs::read_dir(path).map_err(|source| LoadError::Read {
        path: shown.clone(),
        source,
    })?;
    let mut found: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path().join(results::REPORT))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    match found.len() {
        0 => Err(LoadError::NoReport { path: shown }),
        1 => Ok(found.remove(0)),
        _ => Err(LoadError::SeveralRuns {
            path: shown,
            runs: found
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Reads one report. The schema version is checked before the body is
/// parsed, so a newer file is refused by its version rather than by a
/// confusing missing-field error. Under `force` an unknown version is read
/// anyway and a warning is pushed.
pub fn read(path: &Path, force: bool, warnings: &mut Vec<String>) -> Result<Report, LoadError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: shown.clone(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| LoadError::NotAReport {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    let version = value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| LoadError::NotAReport {
            path: shown.clone(),
            reason: "no schema_version".into(),
        })?;
    if version != u64::from(SCHEMA_VERSION) {
        if !force {
            return Err(LoadError::UnknownSchema {
                path: shown,
                found: version,
            });
        }
        warnings.push(format!(
            "{shown} has report schema version {version} (this compat reads {SCHEMA_VERSION}); compared under --force"
        ));
    }
    let report: Report = serde_json::from_value(value).map_err(|e| LoadError::NotAReport {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    // A config's name is a folder of its run: one that is not a plain
    // folder name was not written by compat.
    for r in &report.results {
        if let Some(why) = results::files::unsafe_name(&r.name) {
            return Err(LoadError::NotAReport {
                path: shown,
                reason: format!(
                    "config name {:?} cannot be a folder of the run: {why}",
                    crate::text::clean(&r.name)
                ),
            });
        }
    }
    Ok(report)
}

/// Differences between two reports' workloads: `hard` ones make the
/// comparison dishonest (model, steps, size, prompts); `soft` ones are worth
/// a warning (backend, seed, cfg scale, devices, concurrency, unknown fields).
#[derive(Debug, Default, PartialEq)]
pub struct Differences {
    /// "steps (20 vs 30)", …
    pub hard: Vec<String>,
    /// "seed (42 vs 7)", …
    pub soft: Vec<String>,
}

fn show<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "unknown".into(), |x| x.to_string())
}

/// Pushes `what (a vs b)` to `hard` when both are known and differ, to `soft`
/// when only one is known (unknown is not proof of a difference).
fn check<T: PartialEq + std::fmt::Display>(
    d: &mut Differences,
    what: &str,
    a: &Option<T>,
    b: &Option<T>,
    hard: bool,
) {
    match (a, b) {
        (Some(x), Some(y)) if x != y => {
            let line = format!("{what} ({x} vs {y})");
            if hard {
                d.hard.push(line)
            } else {
                d.soft.push(line)
            }
        }
        (Some(_), None) | (None, Some(_)) => {
            d.soft.push(format!("{what} ({} vs {})", show(a), show(b)))
        }
        _ => {}
    }
}

/// What differs between the first report `a` and another `b`.
pub fn differences(a: &Report, b: &Report) -> Differences {
    let (ra, rb) = (&a.run, &b.run);
    let mut d = Differences::default();
    check(&mut d, "model", &ra.model(), &rb.model(), true);
    check(&mut d, "steps", &ra.steps(), &rb.steps(), true);
    let size = |r: &crate::report::model::RunInfo| match (r.width(), r.height()) {
        (Some(w), Some(h)) => Some(format!("{w}×{h}")),
        _ => None,
    };
    check(&mut d, "size", &size(ra), &size(rb), true);
    if ra.num_prompts != rb.num_prompts {
        d.hard.push(format!(
            "prompts ({} vs {})",
            ra.num_prompts, rb.num_prompts
        ));
    } else if !ra.prompts.is_empty() && !rb.prompts.is_empty() && ra.prompts != rb.prompts {
        let n = ra
            .prompts
            .iter()
            .zip(&rb.prompts)
            .filter(|(x, y)| x != y)
            .count()
            + ra.prompts.len().abs_diff(rb.prompts.len());
        d.hard
            .push(format!("prompts ({n} of {} differ)", ra.prompts.len()));
    }
    check(&mut d, "backend", &ra.backend, &rb.backend, false);
    // Runs built on different baseline features line configs up under other
    // roles (ulysses an addon in one, the baseline feature in the other).
    if a.baseline_feature != b.baseline_feature {
        let bf = |r: &Report| {
            r.baseline_feature
                .clone()
                .unwrap_or_else(|| "none".to_string())
        };
        d.soft
            .push(format!("baseline feature ({} vs {})", bf(a), bf(b)));
    }
    // Another engine build is the usual reason for a regression: say so
    // before the verdicts are read as compat's.
    let (ea, eb) = (a.engines(), b.engines());
    if !ea.is_empty() && !eb.is_empty() && ea != eb {
        d.soft.push(format!(
            "engine ({} vs {}): a change in a verdict may be the engine's",
            ea.join(", "),
            eb.join(", ")
        ));
    } else if ea.is_empty() != eb.is_empty() {
        let show = |e: &[String]| {
            if e.is_empty() {
                "unknown".to_string()
            } else {
                e.join(", ")
            }
        };
        d.soft
            .push(format!("engine ({} vs {})", show(&ea), show(&eb)));
    }
    check(&mut d, "seed", &ra.seed(), &rb.seed(), false);
    check(&mut d, "cfg scale", &ra.cfg_scale(), &rb.cfg_scale(), false);
    let dev = |r: &crate::report::model::RunInfo| r.devices.as_ref().map(|x| x.detail.clone());
    check(&mut d, "devices", &dev(ra), &dev(rb), false);
    if ra.concurrent || rb.concurrent {
        d.soft
            .push("timings taken under concurrency: speed verdicts are indicative".into());
    }
    d
}

/// "a, b and c".
pub fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Loads every report, checks they can be compared with the first, and
/// returns them with the warnings to show.
pub fn load_all(paths: &[PathBuf], force: bool) -> Result<(Vec<Loaded>, Vec<String>), LoadError> {
    let mut warnings = Vec::new();
    let mut loaded = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        let path = resolve(p)?;
        let report = read(&path, force, &mut warnings)?;
        check_fresh(&path, &report, force, &mut warnings)?;
        loaded.push(Loaded {
            label: label(i),
            path,
            report,
        });
    }
    let mut refusals = Vec::new();
    if let Some((first, rest)) = loaded.split_first() {
        for other in rest {
            let d = differences(&first.report, &other.report);
            let pair = format!(
                "{} ({}) and {} ({})",
                first.label,
                first.path.display(),
                other.label,
                other.path.display()
            );
            if !d.hard.is_empty() {
                let line = format!("reports {pair} differ in {}", and_list(&d.hard));
                if force {
                    warnings.push(format!("{line}; compared under --force"));
                } else {
                    refusals.push(line);
                }
            }
            for s in d.soft {
                warnings.push(format!("{} vs {}: {s}", other.label, first.label));
            }
        }
    }
    if !refusals.is_empty() {
        return Err(LoadError::Incomparable(refusals.join("; ")));
    }
    Ok((loaded, warnings))
}

/// A report older than its run's manifest (the run changed after it was
/// analysed) is refused; with `force`, a warning.
fn check_fresh(
    path: &Path,
    report: &Report,
    force: bool,
    warnings: &mut Vec<String>,
) -> Result<(), LoadError> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    let Ok(Some(m)) = crate::results::reader::read_manifest(dir) else {
        return Ok(());
    };
    let (Some(updated), Some(generated)) = (
        crate::results::parse_time(&m.updated),
        crate::results::parse_time(&report.generated),
    ) else {
        return Ok(());
    };
    if updated <= generated {
        return Ok(());
    }
    let err = LoadError::Stale {
        path: path.display().to_string(),
        generated: report.generated.clone(),
        updated: m.updated.clone(),
    };
    if force {
        warnings.push(format!("{err} (compared under --force)"));
        return Ok(());
    }
    Err(err)
}

/// "A", "B", … "Z", "R27", …
pub fn label(i: usize) -> String {
    match u8::try_from(i) {
        Ok(n) if n < 26 => char::from(b'A' + n).to_string(),
        _ => format!("R{}", i + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any file is a report or a clear refusal, never a panic.
        #[test]
        fn arbitrary_files_never_panic(text in "\\PC*", force in proptest::bool::ANY) {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("report.json");
            std::fs::write(&path, &text).expect("write");
            let _ = read(&path, force, &mut Vec::new());
        }

        /// JSON of the right version but arbitrary shape: refused, not a panic.
        #[test]
        fn arbitrary_json_with_the_version_never_panics(
            keys in proptest::collection::vec("[a-z_]{1,12}", 0..8),
            n in proptest::num::i64::ANY,
        ) {
            let mut v = serde_json::json!({"schema_version": SCHEMA_VERSION});
            for k in keys {
                v[k] = serde_json::json!(n);
            }
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("report.json");
            std::fs::write(&path, v.to_string()).expect("write");
            let _ = read(&path, false, &mut Vec::new());
        }
    }
}
