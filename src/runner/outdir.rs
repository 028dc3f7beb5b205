//! The run's folder: refuse to clobber an earlier run; with `--resume` keep
//! what is still valid; with `--force` start over.

use std::path::Path;

use anyhow::Context;

use super::plan::OutputMode;
use crate::exit::{bad_input, usage};
use crate::results::{self, Manifest, reader};

/// Prepares `out` for `manifest` (which `--resume` fills from the earlier run).
pub fn prepare(out: &Path, manifest: &mut Manifest, mode: OutputMode) -> anyhow::Result<()> {
    let mut unreadable = false;
    let old = match reader::read_manifest(out) {
        Ok(old) => old,
        Err(e) => match foreign_manifest(out) {
            // Someone else's file: --force must not delete their folder.
            Some(what) => {
                return Err(usage(format!(
                    "{} is not compat's ({what}): this folder does not hold a compat run, and --force \
                     replaces only a compat run — choose another --output-dir, or move that file away",
                    out.join(results::MANIFEST).display()
                )));
            }
            // compat's own, unreadable (another version's schema): only
            // --force, which starts over, may go on.
            None if mode == OutputMode::Force => {
                unreadable = true;
                None
            }
            None => {
                return Err(bad_input(e).context(
                    "it is compat's manifest but cannot be read: use --force to start over",
                ));
            }
        },
    };
    let has_content = out.is_dir()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
    match (mode, &old) {
        (OutputMode::Force, None) if has_content && !unreadable => {
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
                // Through a symlink, the folder it names starts over: the
                // link stays, so the run keeps the lock of the folder it writes.
                let target = std::fs::canonicalize(out)
                    .with_context(|| format!("cannot resolve {}", out.display()))?;
                std::fs::remove_dir_all(&target)
                    .with_context(|| format!("failed to remove {}", target.display()))?;
                std::fs::create_dir_all(&target)
                    .with_context(|| format!("failed to create {}", target.display()))?;
            }
        }
        (OutputMode::Resume, Some(old)) => {
            eprintln!("{}", resume_plan(manifest, old));
            keep_completed(manifest, old);
        }
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

/// Why the folder's manifest.json is not compat's ("not JSON", "JSON
/// without \"tool\": \"compat\""), or None when it is compat's.
fn foreign_manifest(out: &Path) -> Option<String> {
    let bytes = std::fs::read(out.join(results::MANIFEST)).ok()?;
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Err(_) => Some("not JSON".into()),
        Ok(v) if v.get("tool").and_then(|t| t.as_str()) == Some("compat") => None,
        Ok(v) => Some(match v.get("tool").and_then(|t| t.as_str()) {
            Some(tool) => format!(
                "written by '{}', not compat",
                crate::text::clean(&tool.chars().take(60).collect::<String>())
            ),
            None => "JSON without \"tool\": \"compat\"".into(),
        }),
    }
}

/// What changed between the earlier run and this one, in words:
/// "steps 4 → 5", "prompts (3 → 4)", "backend command".
pub fn changes(old: &Manifest, new: &Manifest) -> Vec<String> {
    let (a, b) = (&old.settings, &new.settings);
    let mut out = Vec::new();
    let mut check = |name: &str, x: String, y: String| {
        if x != y {
            out.push(format!("{name} {x} → {y}"));
        }
    };
    check("model", a.model.clone(), b.model.clone());
    check("steps", a.steps.to_string(), b.steps.to_string());
    check("height", a.height.to_string(), b.height.to_string());
    check("width", a.width.to_string(), b.width.to_string());
    check(
        "cfg scale",
        a.cfg_scale.to_string(),
        b.cfg_scale.to_string(),
    );
    let guidance = |g: Option<f64>| g.map_or("the engine's".to_string(), |g| g.to_string());
    check(
        "guidance scale",
        guidance(a.guidance_scale),
        guidance(b.guidance_scale),
    );
    check("seed", a.seed.to_string(), b.seed.to_string());
    check("warm-up", a.warmup.to_string(), b.warmup.to_string());
    if a.negative_prompt != b.negative_prompt {
        out.push("negative prompt".into());
    }
    if old.prompts != new.prompts {
        out.push(format!(
            "prompts ({} → {})",
            old.prompts.len(),
            new.prompts.len()
        ));
    }
    if old.backend != new.backend || old.backend_command != new.backend_command {
        out.push("backend command".into());
    }
    // The earlier run's engine: its probe's, else what its completed
    // configs ran on (a resume that was not probed keeps theirs).
    let before = old.engine.as_ref().or_else(|| {
        old.configs
            .iter()
            .filter(|c| c.state.is_done())
            .find_map(|c| c.engine.as_ref())
    });
    if let (Some(x), Some(y)) = (before, &new.engine)
        && !x.same_build(y)
    {
        out.push(format!("engine {} → {}", x.label(), y.label()));
    }
    out
}

/// Whether a completed config `prev` may be kept as `now`'s result: the same
/// inputs, and the same engine build where both runs know it. A run whose
/// probe did not answer this time (`--no-probe`, a slow file system) keeps
/// what the earlier run completed rather than redoing it for not knowing.
fn keeps(prev: &crate::results::ConfigEntry, now: &crate::results::ConfigEntry) -> bool {
    prev.state.is_done()
        && prev.fingerprint == now.fingerprint
        && match (&prev.engine, &now.engine) {
            (Some(a), Some(b)) => a.same_build(b),
            _ => true,
        }
}

/// What `--resume` will do, in one line: which completed configurations are
/// kept and which rerun, and why.
pub fn resume_plan(new: &Manifest, old: &Manifest) -> String {
    let done = |e: &&crate::results::ConfigEntry| e.state.is_done();
    let (kept, rerun): (Vec<&str>, Vec<&str>) = old
        .configs
        .iter()
        .filter(done)
        .map(|o| {
            let same = new.configs.iter().any(|e| e.name == o.name && keeps(o, e));
            (o.name.as_str(), same)
        })
        .fold((Vec::new(), Vec::new()), |(mut k, mut r), (n, same)| {
            if same {
                k.push(n)
            } else {
                r.push(n)
            }
            (k, r)
        });
    let why = changes(old, new);
    let mut line = format!(
        "resume: keeping {} completed configuration(s){}",
        kept.len(),
        if kept.is_empty() {
            String::new()
        } else {
            format!(" ({})", kept.join(", "))
        }
    );
    if !rerun.is_empty() {
        let why = if why.is_empty() {
            "their arguments changed".to_string()
        } else {
            why.join(", ")
        };
        line.push_str(&format!(
            "; {why}: {} completed configuration(s) rerun ({})",
            rerun.len(),
            rerun.join(", ")
        ));
    }
    line
}

/// Keeps every configuration of `old` that completed with the same fingerprint.
fn keep_completed(manifest: &mut Manifest, old: &Manifest) {
    manifest.created = old.created.clone();
    for e in &mut manifest.configs {
        let prev = old.configs.iter().find(|o| o.name == e.name);
        if let Some(prev) = prev.filter(|p| keeps(p, e)) {
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
