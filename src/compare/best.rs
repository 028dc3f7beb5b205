//! `--best`: the fastest config whose status is PASS (or WARN with
//! `--allow-warn`), per report, over all, and per GPU count.
//!
//! "Fastest" is the lowest mean time per image; ties go to fewer GPUs, then
//! to the name, so the choice is stable. Over all reports the absolute time
//! is the only fair yardstick: each speedup is relative to its own report's
//! baseline.

use std::collections::BTreeMap;

use super::load::Loaded;
use super::model::{Best, BestOfReport, Pick};
use crate::report::model::Status;

fn eligible(s: Status, allow_warn: bool) -> bool {
    s == Status::Pass || (allow_warn && s == Status::Warn)
}

fn better(a: &Pick, b: &Pick) -> bool {
    (a.mean_gen_time_ms, a.total_gpus, &a.name) < (b.mean_gen_time_ms, b.total_gpus, &b.name)
}

fn keep_best(slot: &mut Option<Pick>, p: &Pick) {
    if slot.as_ref().is_none_or(|cur| better(p, cur)) {
        *slot = Some(p.clone());
    }
}

/// The eligible configs of a report with a usable time.
fn picks(l: &Loaded, allow_warn: bool) -> Vec<Pick> {
    l.report
        .results
        .iter()
        .filter(|c| eligible(c.compat_status, allow_warn))
        .filter_map(|c| {
            let t = c.mean_gen_time_ms.filter(|t| t.is_finite() && *t > 0.0)?;
            Some(Pick {
                report: l.label.clone(),
                name: c.name.clone(),
                total_gpus: c.total_gpus,
                status: c.compat_status,
                mean_gen_time_ms: t,
                speedup: c.speedup,
            })
        })
        .collect()
}

fn choose(picks: &[Pick]) -> (Option<Pick>, Vec<Pick>) {
    let mut fastest = None;
    let mut per: BTreeMap<u32, Option<Pick>> = BTreeMap::new();
    for p in picks {
        keep_best(&mut fastest, p);
        keep_best(per.entry(p.total_gpus).or_default(), p);
    }
    (fastest, per.into_values().flatten().collect())
}

/// The `--best` choices.
pub fn best(reports: &[Loaded], allow_warn: bool) -> Best {
    let mut all = Vec::new();
    let mut per_report = Vec::new();
    for l in reports {
        let p = picks(l, allow_warn);
        let (fastest, per_gpus) = choose(&p);
        per_report.push(BestOfReport {
            report: l.label.clone(),
            fastest,
            per_gpus,
        });
        all.extend(p);
    }
    let (overall, overall_per_gpus) = choose(&all);
    Best {
        allow_warn,
        per_report,
        overall,
        overall_per_gpus,
    }
}
