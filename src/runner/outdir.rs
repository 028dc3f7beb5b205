//! The run's folder: refuse to clobber an earlier run; with `--resume` keep
//! what is still valid; with `--force` start over.

use std::path::Path;

use anyhow::Context;

use super::plan::OutputMode;
use crate::exit::{bad_input, usage};
use crate::results::{self, Manifest, reader};

/// Prepares `out` for `manifest` (which `--resume` fills from the earlier run).
pub fn prepare(out: &Path, manifest: &mut Manifest, mode: OutputMode) -> anyhow::Result<()> {
    let old = reader::read_manifest(out)
        .map_err(bad_input)
        .context("use --force to start over")?;
    let has_content = out.is_dir()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
    match (mode, &old) {
        (OutputMode::Force, None) if has_content => {
            // --force replaces a compat run, never someone's files.
            return Err(usage(format!(
                "{} holds files but no compat run ({} missing): {} — --force replaces only a compat run; choose another --output-dir",
                out.display(),
                results::MANIFEST,
                some_entries(out)
            )));
        }
        (OutputMode::Force, _) => {
            if out.exists() {
                std::fs::remove_dir_all(out)
                    .with_context(|| format!("failed to remove {}", out.display()))?;
            }
        }
        (OutputMode::Resume, Some(old)) => keep_completed(manifest, old),
        (OutputMode::Resume, None) if has_content => {
            return Err(usage(format!(
                "{} holds files but no {}; nothing to resume — use --force to start over",
                out.display(),
                results::MANIFEST
            )));
        }
        (OutputMode::Resume, None) => {}
        (OutputMode::Fresh, Some(old)) => {
            let done = old.configs.iter().filter(|e| e.state.is_done()).count();
            return Err(usage(format!(
                "{} already holds a run (started {}, {done} of {} configurations complete) — \
                 pass --resume to finish it, or --force to delete it and start over",
                out.display(),
                old.created,
                old.configs.len()
            )));
        }
        (OutputMode::Fresh, None) if has_content => {
            return Err(usage(format!(
                "{} is not empty — pass --force to delete its contents and start over, or choose another --output-dir",
                out.display()
            )));
        }
        (OutputMode::Fresh, None) => {}
    }
    std::fs::create_dir_all(out).with_context(|| format!("failed to create {}", out.display()))
}

/// Keeps every configuration of `old` that completed with the same fingerprint.
fn keep_completed(manifest: &mut Manifest, old: &Manifest) {
    manifest.created = old.created.clone();
    for e in &mut manifest.configs {
        let prev = old.configs.iter().find(|o| o.name == e.name);
        if let Some(prev) = prev.filter(|p| p.state.is_done() && p.fingerprint == e.fingerprint) {
            *e = prev.clone();
        }
    }
}

/// Removes what `compat analyze` derived from the folder (report.json, the
/// charts, the HTML page and its assets): a run that changes the folder makes
/// them stale, and a stale report.json would be compared as if current.
pub fn remove_derived(out: &Path) -> anyhow::Result<()> {
    use crate::report::{charts, html};
    let files = [
        results::REPORT,
        charts::QUALITY_FILE,
        charts::SPEEDGAIN_FILE,
        charts::TRADEOFF_FILE,
        html::REPORT_FILE,
    ];
    for f in files {
        let p = out.join(f);
        if p.is_file() {
            std::fs::remove_file(&p)
                .with_context(|| format!("failed to remove {}", p.display()))?;
        }
    }
    let assets = out.join(html::ASSETS_DIR);
    if assets.is_dir() {
        std::fs::remove_dir_all(&assets)
            .with_context(|| format!("failed to remove {}", assets.display()))?;
    }
    Ok(())
}

/// A few of the folder's entries, for a refusal: "thesis.txt, notes/, … (5 in all)".
fn some_entries(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let slash = if e.path().is_dir() { "/" } else { "" };
                    format!("{}{slash}", e.file_name().to_string_lossy())
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let total = names.len();
    let shown = names.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if total > 3 {
        format!("{shown}, … ({total} in all)")
    } else {
        shown
    }
}
