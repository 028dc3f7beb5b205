//! The contamination check of a shared model load with a repeated baseline
//! (docs/sessions.md). Without one the executor already made every member of
//! a session whose base came out different the second time ERROR; with one,
//! byte identity is not promised, so the base's second run is judged here
//! against the engine's own noise floor: within it, a note on every member;
//! beyond it (or with no floor to judge by), every member is ERROR.

use std::path::{Path, PathBuf};

use super::metrics;
use super::noise::Floor;
use crate::report::model::{ConfigResult, Status};
use crate::results::reader::RunDir;
use crate::results::{self, BatchRecords, SessionCheck};

/// Applies each differing session check of `run` to its members in `out`.
pub(crate) fn judge(run: &RunDir, floor: Option<Floor>, out: &mut [ConfigResult]) {
    let Some(m) = run.manifest.as_ref() else {
        return;
    };
    for r in &m.sessions {
        let SessionCheck::Differs { prompts } = &r.check else {
            continue;
        };
        let verdict = match floor {
            None => Err(
                "and no noise floor to judge it by (the repeated baseline has no result)"
                    .to_string(),
            ),
            Some(f) => within_floor(run, &r.base, &r.check_dir, prompts, &f),
        };
        // Only the members that ran in that session: one rerun alone since
        // (`--resume`) is not judged by its check.
        let ran_in = |name: &str| {
            m.configs
                .iter()
                .any(|e| e.name == name && e.session.as_deref() == Some(r.base.as_str()))
        };
        for c in out
            .iter_mut()
            .filter(|c| r.members.contains(&c.name) && ran_in(&c.name))
        {
            match &verdict {
                Ok(note) => c.notes.push(note.clone()),
                Err(why) if c.compat_status != Status::Error => {
                    let leak = crate::executor::session_leak(&r.base, prompts);
                    c.compat_status = Status::Error;
                    c.reason = Some(format!("{leak}, {why}"));
                }
                Err(_) => {}
            }
        }
    }
}

/// The base's second run against its first, prompt by prompt: Ok(note) when
/// every differing image is within the floor, else why not.
fn within_floor(
    run: &RunDir,
    base: &str,
    check_dir: &str,
    prompts: &[usize],
    floor: &Floor,
) -> Result<String, String> {
    let first = run
        .configs
        .iter()
        .find(|c| c.name == base)
        .ok_or_else(|| format!("and its base '{base}' is not in the run"))?;
    let check = run.dir.join(check_dir);
    // The manifest names the folder: one outside the run is not read.
    if Path::new(check_dir).is_absolute()
        || check_dir.split('/').any(|p| p == "..")
        || !results::files::within(&run.dir, &check)
    {
        return Err(format!(
            "and its check folder '{check_dir}' is outside the run"
        ));
    }
    let records = results::files::read_regular(&check.join(results::RESULTS))
        .map(|b| BatchRecords::parse_jsonl(&String::from_utf8_lossy(&b)))
        .map_err(|e| format!("and its check run cannot be read ({e})"))?;
    let limits = super::images::limits_of(run);
    let (mut mean, mut max) = (0.0f64, 0.0f64);
    for &i in prompts {
        let a = first.image_path(i);
        // The canonical file, never the name a record gives (one naming
        // the base's own image would compare it with itself).
        let b: Option<PathBuf> = records
            .prompts
            .get(&i)
            .and_then(|p| p.image.as_ref())
            .map(|_| check.join(results::prompt_image(i)));
        let (Some(a), Some(b)) = (a, b) else {
            return Err(format!("and prompt {i} has an image in one run only"));
        };
        // Within the run's own size, as every other image of the analysis.
        let decode = |p: &Path| {
            let bytes =
                metrics::read_bytes_into(p, Vec::new(), &limits).map_err(|e| e.to_string())?;
            metrics::decode_limited(p, &bytes, &limits).map_err(|e| e.to_string())
        };
        let (da, db) = (decode(&a)?, decode(&b)?);
        let got = metrics::compare(&da, &db).map_err(|e| e.to_string())?;
        if !floor.holds(&got) {
            return Err(format!(
                "beyond the engine's noise floor (prompt {i}: MeanDiff {:.4}, MaxDiff {:.4}; floor {:.4}, {:.4})",
                got.mean_diff, got.max_diff, floor.mean_diff, floor.max_diff
            ));
        }
        mean = mean.max(got.mean_diff);
        max = max.max(got.max_diff);
    }
    Ok(format!(
        "session {base}: the base's second run differs from its first within the engine's noise \
         floor (worst MeanDiff {mean:.4}, MaxDiff {max:.4}): no state leaked beyond run-to-run noise"
    ))
}
