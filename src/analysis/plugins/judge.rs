//! Plugin values judged for one config: summarised, thresholds applied
//! (README "Status rules": after the pixel rules, the strictest verdict
//! wins), and notes for whatever a plugin could not measure.

use std::collections::BTreeMap;

use super::Measured;
use crate::registry::{Better, MetricKind, MetricPlugin};
use crate::report::model::{ConfigMetric, PromptResult, Status};

/// Per-prompt values into the rows of config `ci`.
pub(crate) fn fill_rows(rows: &mut [PromptResult], measured: &Measured, ci: usize) {
    for o in &measured.outcomes {
        for row in rows.iter_mut() {
            if let Some(Ok(v)) = o.values.get(&(ci, row.prompt)) {
                row.metrics.insert(o.plugin.name.clone(), *v);
            }
        }
    }
}

/// Config `ci`'s summary per metric, and notes on what is missing.
/// `judged`: whether thresholds may apply at all (not the baseline, not the
/// repeat); `lossy`: which class of config it is.
pub(crate) fn summarise(
    measured: &Measured,
    ci: usize,
    baseline: Option<usize>,
    n: usize,
    judged: bool,
    lossy: bool,
) -> (BTreeMap<String, ConfigMetric>, Vec<String>) {
    let mut out = BTreeMap::new();
    let mut notes = Vec::new();
    for o in &measured.outcomes {
        let p = &o.plugin;
        if let Some(why) = &o.failed {
            if judged {
                notes.push(why.clone());
            }
            continue;
        }
        let own: BTreeMap<usize, f64> = (0..n)
            .filter_map(|i| Some((i, *o.values.get(&(ci, i))?.as_ref().ok()?)))
            .collect();
        let missing: Vec<(usize, &String)> = (0..n)
            .filter_map(|i| Some((i, o.values.get(&(ci, i))?.as_ref().err()?)))
            .collect();
        if let Some((i, why)) = missing.first() {
            let more = if missing.len() > 1 {
                format!(" (and {} more)", missing.len() - 1)
            } else {
                String::new()
            };
            notes.push(format!("{}: no value for prompt {i}: {why}{more}", p.name));
        }
        if own.is_empty() {
            continue;
        }
        let mut unmeasured = missing.len();
        let mean = mean_of(own.values().copied());
        let (baseline_mean, change) = match (p.kind, baseline) {
            (MetricKind::Prompt, Some(b)) if b != ci => {
                let pairs: Vec<(f64, f64)> = own
                    .iter()
                    .filter_map(|(i, v)| Some((*v, *o.values.get(&(b, *i))?.as_ref().ok()?)))
                    .collect();
                // A score with no baseline score beside it is no change.
                if pairs.len() < own.len() {
                    unmeasured += own.len() - pairs.len();
                    notes.push(format!(
                        "{}: {} of {} prompt(s) have no baseline value to compare with",
                        p.name,
                        own.len() - pairs.len(),
                        own.len()
                    ));
                }
                let base = mean_of(pairs.iter().map(|p| p.1));
                let change = mean_of(pairs.iter().map(|p| p.0 - p.1));
                (base, change)
            }
            _ => (None, None),
        };
        out.insert(
            p.name.clone(),
            ConfigMetric {
                mean,
                baseline_mean,
                change,
                measured: own.len(),
                unmeasured,
                warn: p.warn,
                fail: p.fail,
                judged: judged && (lossy || p.lossless) && (p.warn.is_some() || p.fail.is_some()),
            },
        );
    }
    (out, notes)
}

/// The status after the metrics' thresholds: the strictest verdict wins;
/// verdicts as strict as the current one add their reason to it. Only a
/// PASS, WARN or FAIL is touched (an ERROR or SKIP has no images to judge).
pub(crate) fn apply(
    status: Status,
    reason: Option<String>,
    metrics: &BTreeMap<String, ConfigMetric>,
    plugins: &[&MetricPlugin],
    lossy: bool,
) -> (Status, Option<String>) {
    if !matches!(status, Status::Pass | Status::Warn | Status::Fail) {
        return (status, reason);
    }
    let (mut status, mut reason) = (status, reason);
    for p in plugins {
        let Some(m) = metrics.get(&p.name).filter(|m| m.judged) else {
            continue;
        };
        let Some((verdict, why)) = verdict(p, m, lossy).or_else(|| unmeasured(p, m)) else {
            continue;
        };
        if rank(verdict) > rank(status) {
            (status, reason) = (verdict, Some(why));
        } else if rank(verdict) == rank(status) {
            reason = Some(match reason {
                Some(r) => format!("{r}; {why}"),
                None => why,
            });
        }
    }
    (status, reason)
}

/// WARN for a judged metric with prompts it could not measure: within the
/// thresholds on what it measured is not within them on every image.
fn unmeasured(p: &MetricPlugin, m: &ConfigMetric) -> Option<(Status, String)> {
    (m.unmeasured > 0).then(|| {
        (
            Status::Warn,
            format!(
                "{}: {} prompt(s) without a usable value (measured {}): a threshold cannot \
                 pass what was not measured",
                p.name, m.unmeasured, m.measured
            ),
        )
    })
}

fn rank(s: Status) -> u8 {
    match s {
        Status::Fail => 2,
        Status::Warn => 1,
        _ => 0,
    }
}

/// WARN or FAIL, with the reason, when `m` is beyond a threshold of `p`.
pub(crate) fn verdict(p: &MetricPlugin, m: &ConfigMetric, lossy: bool) -> Option<(Status, String)> {
    let class = if lossy { "lossy" } else { "lossless" };
    let levels = [(Status::Fail, m.fail), (Status::Warn, m.warn)];
    match p.kind {
        MetricKind::Pair => {
            let v = m.mean?;
            let (worse, op): (fn(f64, f64) -> bool, &str) = match p.better {
                Better::Lower => (|v, t| v > t, ">"),
                Better::Higher => (|v, t| v < t, "<"),
            };
            levels.iter().find_map(|(s, t)| {
                let t = (*t)?;
                worse(v, t).then(|| (*s, format!("{class}: mean {} {v:.4} {op} {t}", p.label)))
            })
        }
        MetricKind::Prompt => {
            let change = m.change?;
            // How much worse than the baseline's own score.
            let worsening = match p.better {
                Better::Lower => change,
                Better::Higher => -change,
            };
            levels.iter().find_map(|(s, t)| {
                let t = (*t)?;
                (worsening > t).then(|| {
                    (
                        *s,
                        format!(
                            "{class}: {} {change:+.4} against the baseline's {:.4} (worse by more than {t})",
                            p.label,
                            m.baseline_mean.unwrap_or(f64::NAN)
                        ),
                    )
                })
            })
        }
    }
}

fn mean_of(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(kind: MetricKind, better: Better, warn: f64, fail: f64) -> MetricPlugin {
        MetricPlugin {
            name: "m".into(),
            label: "M".into(),
            command: vec![],
            kind,
            better,
            warn: Some(warn),
            fail: Some(fail),
            lossless: false,
            enabled: false,
            timeout: std::time::Duration::from_secs(1),
        }
    }

    fn metric(p: &MetricPlugin, mean: f64, change: Option<f64>) -> ConfigMetric {
        ConfigMetric {
            unmeasured: 0,
            mean: Some(mean),
            baseline_mean: change.map(|c| mean - c),
            change,
            measured: 2,
            warn: p.warn,
            fail: p.fail,
            judged: true,
        }
    }

    #[test]
    fn pair_thresholds_read_in_the_metrics_direction() {
        let lower = plugin(MetricKind::Pair, Better::Lower, 0.1, 0.3);
        assert_eq!(verdict(&lower, &metric(&lower, 0.05, None), true), None);
        let (s, why) = verdict(&lower, &metric(&lower, 0.2, None), true).expect("warn");
        assert_eq!(
            (s, why.as_str()),
            (Status::Warn, "lossy: mean M 0.2000 > 0.1")
        );
        assert_eq!(
            verdict(&lower, &metric(&lower, 0.31, None), true).map(|v| v.0),
            Some(Status::Fail)
        );
        let higher = plugin(MetricKind::Pair, Better::Higher, 0.9, 0.7);
        assert_eq!(verdict(&higher, &metric(&higher, 0.95, None), true), None);
        assert_eq!(
            verdict(&higher, &metric(&higher, 0.8, None), true).map(|v| v.0),
            Some(Status::Warn)
        );
        assert_eq!(
            verdict(&higher, &metric(&higher, 0.6, None), false).map(|v| v.0),
            Some(Status::Fail)
        );
    }

    #[test]
    fn prompt_thresholds_judge_the_change_against_the_baseline() {
        let clip = plugin(MetricKind::Prompt, Better::Higher, 0.01, 0.05);
        // A better score than the baseline's is never worse.
        assert_eq!(verdict(&clip, &metric(&clip, 0.3, Some(0.2)), true), None);
        assert_eq!(
            verdict(&clip, &metric(&clip, 0.3, Some(-0.005)), true),
            None
        );
        let (s, why) = verdict(&clip, &metric(&clip, 0.28, Some(-0.02)), true).expect("warn");
        assert_eq!(s, Status::Warn);
        assert!(
            why.starts_with("lossy: M -0.0200 against the baseline's 0.3000"),
            "{why}"
        );
        assert_eq!(
            verdict(&clip, &metric(&clip, 0.2, Some(-0.1)), true).map(|v| v.0),
            Some(Status::Fail)
        );
    }

    #[test]
    fn the_strictest_verdict_wins_and_equals_add_their_reason() {
        let p = plugin(MetricKind::Pair, Better::Lower, 0.1, 0.3);
        let metrics = BTreeMap::from([("m".to_string(), metric(&p, 0.2, None))]);
        let (s, r) = apply(Status::Pass, None, &metrics, &[&p], true);
        assert_eq!(
            (s, r.as_deref()),
            (Status::Warn, Some("lossy: mean M 0.2000 > 0.1"))
        );
        let (s, r) = apply(Status::Warn, Some("pixels".into()), &metrics, &[&p], true);
        assert_eq!(
            (s, r.as_deref()),
            (Status::Warn, Some("pixels; lossy: mean M 0.2000 > 0.1"))
        );
        let (s, r) = apply(Status::Fail, Some("pixels".into()), &metrics, &[&p], true);
        assert_eq!((s, r.as_deref()), (Status::Fail, Some("pixels")));
        let (s, _) = apply(Status::Error, Some("x".into()), &metrics, &[&p], true);
        assert_eq!(s, Status::Error);
        // Not judged (a lossless config without `lossless = true`): no change.
        let mut quiet = metrics.clone();
        quiet.get_mut("m").expect("m").judged = false;
        assert_eq!(
            apply(Status::Pass, None, &quiet, &[&p], false).0,
            Status::Pass
        );
    }

    #[test]
    fn a_judged_metric_with_unmeasured_prompts_is_not_a_pass() {
        // Within the thresholds on what it measured, but one prompt has no
        // value (the plugin erred on it, or a "prompt" score has no baseline
        // score beside it): that prompt may be the bad one.
        let p = plugin(MetricKind::Pair, Better::Lower, 0.5, 1.0);
        let mut m = metric(&p, 0.0, None);
        let metrics = |m: &ConfigMetric| BTreeMap::from([("m".to_string(), m.clone())]);
        let (status, _) = apply(Status::Pass, None, &metrics(&m), &[&p], true);
        assert_eq!(status, Status::Pass);
        m.unmeasured = 1;
        let (status, reason) = apply(Status::Pass, None, &metrics(&m), &[&p], true);
        assert_eq!(status, Status::Warn);
        assert!(
            reason
                .expect("reason")
                .contains("1 prompt(s) without a usable value")
        );
        // Not judged (a lossless config without the opt-in): untouched.
        m.judged = false;
        let (status, _) = apply(Status::Pass, None, &metrics(&m), &[&p], true);
        assert_eq!(status, Status::Pass);
        // A prompt metric whose baseline has no value at all: no change to judge, WARN.
        let p = plugin(MetricKind::Prompt, Better::Higher, 0.5, 1.0);
        let mut m = metric(&p, 9.9, None);
        m.unmeasured = 2;
        let (status, _) = apply(Status::Pass, None, &metrics(&m), &[&p], true);
        assert_eq!(status, Status::Warn);
    }
}
