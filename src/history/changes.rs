//! Changes in one series: status transitions, flaky configurations, and
//! speed / quality / memory level shifts (see [`super::steps`]).

// Worse is larger; SKIP has no rank: compare's order of statuses.
use crate::compare::verdict::severity as rank;
use crate::report::model::Status;

use super::model::{Change, Direction, Kind, Point, Run, RunRef, Series};
use super::steps::{self, Scale};

/// A bounce (a stretch of nights in the other class between two of the
/// same) of at most this many nights is noise, not a regression and its fix.
pub const FLAKY_NIGHTS: usize = 3;
/// Bounces needed to call a configuration flaky.
pub const FLAKY_BOUNCES: usize = 2;

/// Speed: a level 5% away (a 15% step is well clear; run-to-run noise of a
/// few percent is not).
pub const SPEED: Scale = Scale {
    log: true,
    min_effect: 0.05,
    noise_floor: 0.005,
};
/// Quality: a MeanDiff level 0.002 away (half a grey level of 255).
pub const QUALITY: Scale = Scale {
    log: false,
    min_effect: 0.002,
    noise_floor: 1e-4,
};
/// Memory: a peak 10% away.
pub const MEMORY: Scale = Scale {
    log: true,
    min_effect: 0.10,
    noise_floor: 0.005,
};

/// Passing (PASS, WARN), failing (FAIL, ERROR) or neither (SKIP: not run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Good,
    Bad,
}

fn class(s: Status) -> Option<Class> {
    match s {
        Status::Pass | Status::Warn => Some(Class::Good),
        Status::Fail | Status::Error => Some(Class::Bad),
        Status::Skip => None,
    }
}

/// A run as a change names it, with this configuration's engine build there.
pub fn run_ref(runs: &[Run], p: &Point) -> RunRef {
    let run = &runs[p.run];
    let engine = p.engine.as_ref();
    RunRef {
        run: p.run,
        generated: run.generated.clone(),
        engine: engine
            .map(|e| e.label.clone())
            .or_else(|| run.engine.clone()),
        engine_version: engine.map(|e| e.version.clone()),
        engine_commit: engine.and_then(|e| e.commit.clone()),
        diff_report: run.diff_report.clone(),
    }
}

/// "2026-11-20 (engine abc123)".
fn night(r: &RunRef) -> String {
    let day = r.generated.get(..10).unwrap_or(&r.generated);
    let engine = r
        .engine_commit
        .as_deref()
        .map(|c| c.get(..12).unwrap_or(c).to_string())
        .or_else(|| r.engine.clone());
    match engine {
        Some(e) => format!("{day} (engine {e})"),
        None => day.to_string(),
    }
}

/// The range to bisect, in words fitting the direction: "first bad …, last
/// good …" for a regression, "first better …, last worse …" for an
/// improvement, "from …, before …" otherwise (the JSON keys stay
/// `first_bad` / `last_good`: the first run of the new state, the last of
/// the old).
fn bisect_text(direction: Direction, first: &RunRef, last: Option<&RunRef>) -> String {
    let (a, b) = match direction {
        Direction::Regression => ("first bad", "last good"),
        Direction::Improvement => ("first better", "last worse"),
        Direction::Other => ("from", "before"),
    };
    match last {
        Some(l) => format!("{a} {}, {b} {}", night(first), night(l)),
        None => format!("{a} {}, no earlier run", night(first)),
    }
}

/// Every change of one series, oldest first; level shifts only with
/// `levels`. `new` is left false, except on a level shift that the series'
/// last night confirms (the caller decides whether that night is tonight).
pub fn of_series(series: &Series, runs: &[Run], levels: bool) -> Vec<Change> {
    let mut out = Vec::new();
    let flaky = flaky(series, runs, &mut out);
    status_changes(series, runs, flaky.as_ref(), &mut out);
    if levels {
        level_shifts(series, runs, &mut out);
    }
    out.sort_by_key(|c| (c.first_bad.run, c.kind));
    out
}

/// The class runs of a series: (class, index of its first point, nights).
fn stretches(points: &[Point]) -> Vec<(Class, usize, usize)> {
    let mut out: Vec<(Class, usize, usize)> = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let Some(c) = class(p.status) else { continue };
        match out.last_mut() {
            Some(last) if last.0 == c => last.2 += 1,
            _ => out.push((c, i, 1)),
        }
    }
    out
}

/// Nights (indices into points) that belong to a bounce, when the series is
/// flaky; pushes the flaky change.
fn flaky(series: &Series, runs: &[Run], out: &mut Vec<Change>) -> Option<Vec<bool>> {
    let s = stretches(&series.points);
    let flips = s.len().saturating_sub(1);
    let mut in_bounce = vec![false; series.points.len()];
    let mut bounces = 0;
    let mut first: Option<usize> = None;
    for k in 1..s.len().saturating_sub(1) {
        let (_, start, len) = s[k];
        let engine_at = |i: usize| series.points[i].engine.as_ref();
        // Short, or back where it was on the same engine build (with a
        // commit to tell builds apart): nothing in the engine explains it.
        // `end`: the night it returned on (SKIP nights may lie between).
        let end = s[k + 1].1;
        let same_build = match (engine_at(start.saturating_sub(1)), engine_at(end)) {
            (Some(a), Some(b)) => a.commit.is_some() && a == b,
            _ => false,
        };
        if len <= FLAKY_NIGHTS || same_build {
            bounces += 1;
            first.get_or_insert(start);
            // The bounce and the night it returned on.
            for b in in_bounce.iter_mut().take(end + 1).skip(start) {
                *b = true;
            }
        }
    }
    if bounces < FLAKY_BOUNCES {
        return None;
    }
    // Tonight's failure of a flaky config is one more bounce until it
    // outlasts one: after FLAKY_NIGHTS nights it is a regression (and new).
    if s.len() >= 2
        && let Some(&(_, start, len)) = s.last()
        && len <= FLAKY_NIGHTS
    {
        for b in in_bounce.iter_mut().skip(start) {
            *b = true;
        }
    }
    let at = first?;
    let p = &series.points[at];
    let first_bad = run_ref(runs, p);
    let last_good = at.checked_sub(1).map(|i| run_ref(runs, &series.points[i]));
    out.push(Change {
        config: series.config.clone(),
        settings: series.settings.clone(),
        kind: Kind::Flaky,
        direction: Direction::Other,
        summary: format!(
            "{} is flaky: {flips} status flips over {} nights ({bounces} short bounces), {}",
            series.config,
            series.points.len(),
            bisect_text(Direction::Regression, &first_bad, last_good.as_ref())
        ),
        first_bad,
        last_good,
        from: None,
        to: None,
        before: None,
        after: None,
        delta: None,
        flips: Some(flips),
        new: false,
    });
    Some(in_bounce)
}

fn status_changes(series: &Series, runs: &[Run], flaky: Option<&Vec<bool>>, out: &mut Vec<Change>) {
    // A ranked status is compared with the last ranked one before it, so a
    // SKIP night between PASS and FAIL does not hide the regression (as a
    // missing night does not).
    let mut last_ranked: Option<&Point> = None;
    for (i, b) in series.points.iter().enumerate() {
        let before = if rank(b.status).is_some() {
            last_ranked.or_else(|| i.checked_sub(1).map(|j| &series.points[j]))
        } else {
            i.checked_sub(1).map(|j| &series.points[j])
        };
        if rank(b.status).is_some() {
            last_ranked = Some(b);
        }
        let Some(a) = before.filter(|a| a.status != b.status) else {
            continue;
        };
        // A flaky configuration's bounces are its flaky entry, not a
        // regression and a fix each: unless the class held (PASS → WARN).
        let crosses = class(a.status) != class(b.status);
        if crosses && flaky.is_some_and(|f| f.get(i).copied().unwrap_or(false)) {
            continue;
        }
        let direction = match (rank(a.status), rank(b.status)) {
            (Some(x), Some(y)) if y > x => Direction::Regression,
            (Some(_), Some(_)) => Direction::Improvement,
            _ => Direction::Other,
        };
        let first_bad = run_ref(runs, b);
        let last_good = run_ref(runs, a);
        out.push(Change {
            config: series.config.clone(),
            settings: series.settings.clone(),
            kind: Kind::Status,
            direction,
            summary: format!(
                "{} {} → {}, {}",
                series.config,
                a.status,
                b.status,
                bisect_text(direction, &first_bad, Some(&last_good))
            ),
            first_bad,
            last_good: Some(last_good),
            from: Some(a.status.to_string()),
            to: Some(b.status.to_string()),
            before: None,
            after: None,
            delta: None,
            flips: None,
            new: false,
        });
    }
}

/// The speed of a point: its speedup against its run's own pure baseline,
/// measured minutes apart on the same machine, so the machine's speed and
/// load cancel out. The pure baseline itself (speedup 1 by definition) has
/// no speed series: its absolute time measures the runner as much as the
/// engine (on a shared CI machine it doubles from one night to the next);
/// its time is on the page, not judged.
fn speed(series: &Series, p: &Point) -> Option<f64> {
    if series.config == crate::results::BASELINE {
        None
    } else {
        p.speedup
    }
}

/// A figure of a point, when it has one.
type Metric<'a> = dyn Fn(&Point) -> Option<f64> + 'a;

fn level_shifts(series: &Series, runs: &[Run], out: &mut Vec<Change>) {
    // Only nights whose figures mean something: the config ran and was
    // judged (an ERROR's timing is of a crash).
    let ran: Vec<&Point> = series
        .points
        .iter()
        .filter(|p| matches!(p.status, Status::Pass | Status::Warn | Status::Fail))
        .collect();
    let metrics: [(Kind, Scale, &Metric, bool); 3] = [
        (Kind::Speed, SPEED, &|p| speed(series, p), false),
        (Kind::Quality, QUALITY, &|p| p.mean_diff, true),
        (
            Kind::Memory,
            MEMORY,
            &|p| p.memory_bytes.map(|b| b as f64),
            true,
        ),
    ];
    for (kind, scale, get, up_is_worse) in metrics {
        let pts: Vec<(&Point, f64)> = ran.iter().filter_map(|p| get(p).map(|v| (*p, v))).collect();
        let values: Vec<f64> = pts.iter().map(|(_, v)| *v).collect();
        let last_ran = pts.last().map(|(p, _)| p.run);
        let last_point = series.points.last().map(|p| p.run);
        for step in steps::find(&values, scale) {
            // Confirmed by the last night: the new level's second night.
            let confirmed_now = step.at + steps::MIN_RUN == values.len() && last_ran == last_point;
            let worse = (step.after > step.before) == up_is_worse;
            let first_bad = run_ref(runs, pts[step.at].0);
            let last_good = run_ref(runs, pts[step.at - 1].0);
            let (delta, shown) = if scale.log {
                let d = step.after / step.before - 1.0;
                (d, format!("{:+.0}%", d * 100.0))
            } else {
                let d = step.after - step.before;
                (
                    d,
                    format!("MeanDiff {:.4} → {:.4}", step.before, step.after),
                )
            };
            let what = match kind {
                Kind::Speed => format!("speed {shown}"),
                Kind::Memory => format!("peak memory {shown}"),
                _ => shown,
            };
            let direction = if worse {
                Direction::Regression
            } else {
                Direction::Improvement
            };
            out.push(Change {
                config: series.config.clone(),
                settings: series.settings.clone(),
                kind,
                direction,
                summary: format!(
                    "{} {what}, {}",
                    series.config,
                    bisect_text(direction, &first_bad, Some(&last_good))
                ),
                first_bad,
                last_good: Some(last_good),
                from: None,
                to: None,
                before: Some(step.before),
                after: Some(step.after),
                delta: Some(delta),
                flips: None,
                new: confirmed_now,
            });
        }
    }
}
