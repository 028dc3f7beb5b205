//! Changes found in hand-made series: every rule of docs/history.md.

use super::model::*;
use super::*;
use crate::report::model::Status::{self, *};

fn runs(n: usize, commit: impl Fn(usize) -> String) -> Vec<Run> {
    (0..n)
        .map(|i| Run {
            generated: format!("2026-10-{:02}T02:00:00.000Z", 1 + i % 28)
                .replace("2026-10", &format!("2026-{:02}", 10 + i / 28)),
            source: format!("night{i:03}/report.json"),
            settings: "s1".into(),
            engine: Some(format!("eng {}", commit(i))),
            ..Run::default()
        })
        .collect()
}

fn point(run: usize, status: Status, speedup: f64, commit: &str) -> Point {
    Point {
        run,
        status,
        reason: None,
        speedup: Some(speedup),
        speedup_ci: Some([speedup * 0.9, speedup * 1.1]),
        time_ms: Some(100.0 / speedup),
        mean_diff: Some(0.001),
        psnr: Some(40.0),
        memory_bytes: Some(1 << 30),
        engine: Some(Engine {
            label: format!("eng 1.0 ({commit})"),
            version: "1.0".into(),
            commit: Some(commit.into()),
        }),
        metrics: Default::default(),
    }
}

fn series(name: &str, points: Vec<Point>) -> Series {
    Series {
        config: name.into(),
        settings: "s1".into(),
        features: name.split('+').map(String::from).collect(),
        points,
    }
}

/// Deterministic ±3% noise.
fn jitter(i: usize) -> f64 {
    1.0 + 0.03 * (((i * 7919) % 13) as f64 / 6.0 - 1.0)
}

fn commit(i: usize) -> String {
    format!("c{:03}", i / 2) // a new engine commit every two nights
}

#[test]
fn a_status_regression_names_first_bad_and_last_good_with_their_commits() {
    let r = runs(30, commit);
    let pts = (0..30)
        .map(|i| {
            point(
                i,
                if i < 17 { Pass } else { Fail },
                1.8 * jitter(i),
                &commit(i),
            )
        })
        .collect();
    let changes = find_changes(&[series("cfg_parallel+teacache", pts)], &r);
    let status: Vec<&Change> = changes.iter().filter(|c| c.kind == Kind::Status).collect();
    assert_eq!(status.len(), 1, "{changes:#?}");
    let c = status[0];
    assert_eq!(c.direction, Direction::Regression);
    assert_eq!(
        (c.from.as_deref(), c.to.as_deref()),
        (Some("PASS"), Some("FAIL"))
    );
    assert_eq!(c.first_bad.run, 17);
    assert_eq!(c.first_bad.generated, r[17].generated);
    assert_eq!(c.first_bad.engine_commit.as_deref(), Some("c008"));
    let last = c.last_good.as_ref().expect("last good");
    assert_eq!(
        (last.run, last.engine_commit.as_deref()),
        (16, Some("c008"))
    );
    assert!(
        c.summary.contains(
            "PASS → FAIL, first bad 2026-10-18 (engine c008), last good 2026-10-17 (engine c008)"
        ),
        "{}",
        c.summary
    );
    assert!(!c.new, "an old failure is not new");
    assert!(
        changes
            .iter()
            .all(|c| c.kind != Kind::Flaky && c.kind != Kind::Speed)
    );
}

#[test]
fn a_failure_on_the_newest_night_is_new_and_an_old_one_is_not() {
    let r = runs(20, commit);
    let fresh = (0..20)
        .map(|i| {
            point(
                i,
                if i == 19 { Error } else { Pass },
                2.0 * jitter(i),
                &commit(i),
            )
        })
        .collect();
    let old = (0..20)
        .map(|i| {
            point(
                i,
                if i >= 5 { Fail } else { Pass },
                2.0 * jitter(i),
                &commit(i),
            )
        })
        .collect();
    let h = History {
        changes: find_changes(&[series("a", fresh), series("b", old)], &r),
        runs: r,
        ..History::default()
    };
    let new = new_regressions(&h);
    assert_eq!(new.len(), 1, "{:#?}", h.changes);
    assert_eq!((new[0].config.as_str(), new[0].first_bad.run), ("a", 19));
}

#[test]
fn a_flaky_config_is_labelled_with_its_flips_and_is_no_regression() {
    let r = runs(40, |_| "same".into());
    // Bounces to ERROR on the same engine commit: nights 10, 20-21, 30, 39.
    let bad = [10, 20, 21, 30, 39];
    let pts = (0..40)
        .map(|i| {
            point(
                i,
                if bad.contains(&i) { Error } else { Pass },
                1.5 * jitter(i),
                "same",
            )
        })
        .collect();
    let h = History {
        changes: find_changes(&[series("cfg_parallel+cache_dit", pts)], &r),
        runs: r,
        ..History::default()
    };
    let flaky: Vec<&Change> = h.changes.iter().filter(|c| c.kind == Kind::Flaky).collect();
    assert_eq!(flaky.len(), 1, "{:#?}", h.changes);
    assert_eq!(flaky[0].flips, Some(7));
    assert_eq!(flaky[0].first_bad.run, 10);
    assert!(
        h.changes.iter().all(|c| c.kind != Kind::Status),
        "{:#?}",
        h.changes
    );
    // Tonight's ERROR (night 39) is one more bounce of a flaky config.
    assert!(new_regressions(&h).is_empty());
}

#[test]
fn a_regression_that_lasts_is_not_flaky_even_when_fixed_later() {
    let r = runs(40, commit);
    let pts = (0..40)
        .map(|i| {
            point(
                i,
                if (10..25).contains(&i) { Fail } else { Pass },
                1.5,
                &commit(i),
            )
        })
        .collect();
    let changes = find_changes(&[series("x", pts)], &r);
    assert!(
        changes.iter().all(|c| c.kind != Kind::Flaky),
        "{changes:#?}"
    );
    let kinds: Vec<(Direction, usize)> = changes
        .iter()
        .map(|c| (c.direction, c.first_bad.run))
        .collect();
    assert_eq!(
        kinds,
        vec![(Direction::Regression, 10), (Direction::Improvement, 25)]
    );
}

#[test]
fn a_speed_step_is_found_on_its_night_and_a_single_slow_night_is_not() {
    let r = runs(45, commit);
    let pts = (0..45)
        .map(|i| {
            let level = if i < 20 { 2.0 } else { 1.7 };
            let v = if i == 8 { 1.0 } else { level * jitter(i) };
            point(i, Pass, v, &commit(i))
        })
        .collect();
    let changes = find_changes(&[series("ulysses", pts)], &r);
    assert_eq!(changes.len(), 1, "{changes:#?}");
    let c = &changes[0];
    assert_eq!(
        (c.kind, c.direction, c.first_bad.run),
        (Kind::Speed, Direction::Regression, 20)
    );
    assert_eq!(c.last_good.as_ref().map(|l| l.run), Some(19));
    let d = c.delta.expect("delta");
    assert!((d + 0.15).abs() < 0.04, "{d}");
}

#[test]
fn quality_and_memory_shifts_and_their_directions() {
    let r = runs(30, commit);
    let pts = (0..30)
        .map(|i| {
            let mut p = point(i, Pass, 2.0, &commit(i));
            p.mean_diff = Some(if i < 12 { 0.001 } else { 0.02 });
            p.memory_bytes = Some(if i < 18 { 4 << 30 } else { 3 << 30 });
            p
        })
        .collect();
    let changes = find_changes(&[series("teacache", pts)], &r);
    let got: Vec<(Kind, Direction, usize)> = changes
        .iter()
        .map(|c| (c.kind, c.direction, c.first_bad.run))
        .collect();
    assert_eq!(
        got,
        vec![
            (Kind::Quality, Direction::Regression, 12),
            (Kind::Memory, Direction::Improvement, 18)
        ]
    );
}

fn entry(i: usize, model: &str, configs: &[(&str, Status)]) -> Entry {
    let group = SettingsGroup {
        fingerprint: format!("fp-{model}"),
        label: model.into(),
        model: Some(model.into()),
        ..SettingsGroup::default()
    };
    let generated = format!("2026-11-{:02}T02:00:00.000Z", i + 1);
    Entry {
        time: crate::results::parse_time(&generated).expect("time"),
        run: Run {
            generated,
            source: format!("{i}/report.json"),
            settings: group.fingerprint.clone(),
            ..Run::default()
        },
        group,
        configs: configs
            .iter()
            .map(|(n, s)| {
                (
                    n.to_string(),
                    n.split('+').map(String::from).collect(),
                    point(0, *s, 1.5, "c"),
                )
            })
            .collect(),
    }
}

#[test]
fn other_settings_are_other_series_and_renames_and_gaps_are_noted() {
    let mut entries = Vec::new();
    for i in [0, 1, 2, 3, 4, 5, 12, 13] {
        // Night 6-11 missing; the config is renamed on night 12.
        let name = if i < 12 { "a+b" } else { "b+a" };
        entries.push(entry(i, "m1", &[("baseline", Pass), (name, Pass)]));
    }
    entries.push(entry(20, "m2", &[("baseline", Pass), ("a+b", Fail)]));
    // Given out of order: ordered by time.
    entries.reverse();
    let h = assemble(entries, None, Vec::new());
    assert_eq!(h.runs.len(), 9);
    assert!(h.runs.windows(2).all(|w| w[0].generated < w[1].generated));
    assert_eq!(h.settings.len(), 2);
    let ab: Vec<&Series> = h.series.iter().filter(|s| s.config == "a+b").collect();
    assert_eq!(ab.len(), 2, "one series per settings");
    assert!(ab.iter().all(|s| {
        s.points
            .iter()
            .all(|p| h.runs[p.run].settings == s.settings)
    }));
    // The m2 FAIL is its own series' first point: no status change across models.
    assert!(
        h.changes.iter().all(|c| c.kind != Kind::Status),
        "{:#?}",
        h.changes
    );
    let notes = h.notes.join("\n");
    assert!(notes.contains("2 different settings"), "{notes}");
    assert!(notes.contains("a+b seems renamed to b+a"), "{notes}");
    assert!(notes.contains("no run between 2026-11-06"), "{notes}");
}

#[test]
fn since_and_duplicates() {
    let entries = vec![
        entry(0, "m", &[("baseline", Pass)]),
        entry(1, "m", &[("baseline", Pass)]),
        entry(1, "m", &[("baseline", Pass)]),
        entry(2, "m", &[("baseline", Pass)]),
    ];
    let since = crate::results::parse_time("2026-11-02T00:00:00Z");
    let h = assemble(entries, since, Vec::new());
    assert_eq!(h.runs.len(), 2);
    assert!(
        h.notes.iter().any(|n| n.contains("already in the history")),
        "{:?}",
        h.notes
    );
    assert!(
        h.notes.iter().any(|n| n.contains("before --since")),
        "{:?}",
        h.notes
    );
}

#[test]
fn history_json_round_trips_through_add() {
    let entries: Vec<Entry> = (0..6)
        .map(|i| {
            entry(
                i,
                "m",
                &[("baseline", Pass), ("x", if i == 5 { Fail } else { Pass })],
            )
        })
        .collect();
    let h = assemble(entries, None, Vec::new());
    let text = serde_json::to_string(&h).expect("json");
    let back: History = serde_json::from_str(&text).expect("parse");
    let mut again = from_history(back);
    again.push(entry(6, "m", &[("baseline", Pass), ("x", Fail)]));
    let h2 = assemble(again, None, Vec::new());
    assert_eq!(h2.runs.len(), 7);
    assert_eq!(h2.series.iter().map(|s| s.points.len()).sum::<usize>(), 14);
    let c: Vec<&Change> = h2
        .changes
        .iter()
        .filter(|c| c.kind == Kind::Status)
        .collect();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].first_bad.run, 5);
    assert!(!c[0].new, "night 5's failure is not new on night 6");
}

#[test]
fn a_level_shift_is_new_on_the_night_that_confirms_it_only() {
    let slow = |n: usize| {
        let r = runs(n, commit);
        let pts = (0..n)
            .map(|i| {
                point(
                    i,
                    Pass,
                    if i < 20 { 2.0 } else { 1.6 } * jitter(i),
                    &commit(i),
                )
            })
            .collect();
        let h = History {
            changes: find_changes(&[series("ring", pts)], &r),
            runs: r,
            ..History::default()
        };
        new_regressions(&h).len()
    };
    assert_eq!(slow(21), 0, "one slow night is not yet a level");
    assert_eq!(slow(22), 1, "the second night confirms it: new");
    assert_eq!(slow(23), 0, "known the night after");
}

#[test]
fn a_skip_night_between_pass_and_fail_does_not_hide_the_regression() {
    // PASS ×6, one night SKIP (a GPU short), then FAIL: a regression from the
    // last PASS, new on the newest night, as a missing night would be.
    let r = runs(8, commit);
    let statuses = [Pass, Pass, Pass, Pass, Pass, Pass, Skip, Fail];
    let pts = statuses
        .iter()
        .enumerate()
        .map(|(i, s)| point(i, *s, 1.8, &commit(i)))
        .collect();
    let changes = find_changes(&[series("par", pts)], &r);
    let regression = changes
        .iter()
        .find(|c| c.kind == Kind::Status && c.direction == Direction::Regression)
        .unwrap_or_else(|| panic!("no regression in {changes:#?}"));
    assert_eq!(
        (regression.from.as_deref(), regression.to.as_deref()),
        (Some("PASS"), Some("FAIL"))
    );
    assert_eq!(regression.first_bad.run, 7);
    assert_eq!(regression.last_good.as_ref().map(|l| l.run), Some(5));
    assert!(regression.new, "the newest night brought it");
}
