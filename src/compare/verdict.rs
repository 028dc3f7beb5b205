//! The verdict rules for one config, one report against the first.
//!
//! **Speed** is judged on the absolute mean generation time per image
//! (`mean_gen_time_ms`), not on the speedup: an optimisation of the engine
//! itself makes the baseline faster too and leaves every speedup near where it
//! was, so comparing speedups would hide exactly the "before/after
//! optimisation" change this command exists for.
//!
//! The noise comes from the speedup intervals. A report's 95% bootstrap
//! interval `[lo, hi]` of `speedup = T_baseline / T` maps onto the time axis
//! as `[T·S/hi, T·S/lo]`: the times consistent with the measured speedup. It
//! carries the sampling noise of both the config and its baseline, so it is a
//! conservative interval for `T` — we would rather say Unchanged than cry wolf.
//!
//! * **Improved** — B's interval lies entirely below A's (faster) *and* the
//!   time fell by more than the noise threshold (`--noise`, default 2%).
//! * **Regressed** — B's interval lies entirely above A's *and* the time rose by
//!   more than the noise threshold.
//! * **Unchanged** — anything else: overlapping intervals are noise, however
//!   large the point change; disjoint ones within the threshold are too small
//!   to matter (criterion's "NonSignificant").
//! * Without a speedup interval on either side (the pure baseline has none),
//!   the two reports' own per-prompt times are bootstrapped instead (95%
//!   interval of mean(A)/mean(B)): disjoint from 1 is a real change, otherwise
//!   noise. Only with fewer than 2 timings a side does the point change alone
//!   meet the noise threshold; the change is then marked "no interval".
//!
//! **Status** dominates speed. Status order: PASS < WARN < FAIL < ERROR. A
//! worse status is Regressed, a better one Improved, whatever the timings.
//! SKIP on one side only is **NotComparable** (a SKIP depends on the GPUs the
//! run saw, not on the engine) and never a regression; SKIP on both sides is
//! Unchanged. A config only in B is **New**, only in A **Missing**.
//!
//! **The gate** (`--fail-on-regression`) fails on: a worse status; a slowdown
//! beyond `--max-slowdown` (default 5%) unless the intervals overlap; a config
//! Missing from B that was PASS or WARN in A (a working config vanished).
//! New, NotComparable, a Missing config that was FAIL/ERROR/SKIP, and a
//! MeanDiff change (status already judges quality) never fail it.

use serde::Serialize;

use crate::report::model::{ConfigResult, Status};

/// The outcome for one config, one report against the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// Better status, or significantly faster beyond the noise.
    Improved,
    /// Worse status, or significantly slower beyond the noise.
    Regressed,
    /// Same status; the speed change is within the noise.
    Unchanged,
    /// SKIP on one side only.
    NotComparable,
    /// Only in this report.
    New,
    /// Only in the first report.
    Missing,
}

impl Verdict {
    /// "Improved", "Regressed", …
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Improved => "Improved",
            Verdict::Regressed => "Regressed",
            Verdict::Unchanged => "Unchanged",
            Verdict::NotComparable => "NotComparable",
            Verdict::New => "New",
            Verdict::Missing => "Missing",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The thresholds of the rules, as fractions (0.05 = 5%).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rules {
    /// A time change at most this large is Unchanged.
    pub noise: f64,
    /// The gate fails on a (non-overlapping) slowdown beyond this.
    pub max_slowdown: f64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            noise: 0.02,
            max_slowdown: 0.05,
        }
    }
}

/// How the mean time changed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpeedChange {
    /// B's mean time / A's − 1: negative is faster.
    pub time_change: f64,
    /// True when the time intervals are disjoint, false when they overlap,
    /// null when a side has no interval.
    pub significant: Option<bool>,
    /// Improved, Regressed or Unchanged, on speed alone.
    pub verdict: Verdict,
}

/// The judgement of one config, one report against the first.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The verdict.
    pub verdict: Verdict,
    /// The speed comparison, when both sides have a mean time.
    pub speed: Option<SpeedChange>,
    /// A human note: "SKIP → PASS: not comparable", "no interval", …
    pub note: Option<String>,
    /// Why this config fails `--fail-on-regression`; None when it does not.
    pub gate: Option<String>,
}

/// 0 for PASS … 3 for ERROR; None for SKIP, which has no place in the order.
pub fn severity(s: Status) -> Option<u8> {
    match s {
        Status::Pass => Some(0),
        Status::Warn => Some(1),
        Status::Fail => Some(2),
        Status::Error => Some(3),
        Status::Skip => None,
    }
}

/// The time interval implied by a config's speedup interval (see the module doc).
pub fn time_interval(c: &ConfigResult) -> Option<(f64, f64)> {
    let t = c.mean_gen_time_ms?;
    let s = c.speedup?;
    let ci = c.speedup_ci?;
    let sane = |x: f64| x.is_finite() && x > 0.0;
    if !(sane(t) && sane(s) && sane(ci.low) && sane(ci.high) && ci.high >= ci.low) {
        return None;
    }
    Some((t * s / ci.high, t * s / ci.low))
}

/// The speed comparison of B against A; None when either has no usable mean time.
pub fn speed(a: &ConfigResult, b: &ConfigResult, rules: &Rules) -> Option<SpeedChange> {
    let usable = |t: Option<f64>| t.filter(|x| x.is_finite() && *x > 0.0);
    let ta = usable(a.mean_gen_time_ms)?;
    let tb = usable(b.mean_gen_time_ms)?;
    let change = tb / ta - 1.0;
    let (faster, slower, significant) = match (time_interval(a), time_interval(b)) {
        (Some(ia), Some(ib)) => {
            let faster = ib.1 < ia.0;
            let slower = ib.0 > ia.1;
            (faster, slower, Some(faster || slower))
        }
        // No speedup interval (the pure baseline has none): bootstrap the
        // two reports' own per-prompt times; only without those does the
        // point change decide, against the threshold alone.
        _ => match prompt_time_ratio(a, b) {
            Some(ci) => {
                let (faster, slower) = (ci.low > 1.0, ci.high < 1.0);
                (faster, slower, Some(faster || slower))
            }
            None => (change < 0.0, change > 0.0, None),
        },
    };
    let verdict = if faster && change < -rules.noise {
        Verdict::Improved
    } else if slower && change > rules.noise {
        Verdict::Regressed
    } else {
        Verdict::Unchanged
    };
    Some(SpeedChange {
        time_change: change,
        significant,
        verdict,
    })
}

/// 95% bootstrap interval of mean time(A) / mean time(B) from the prompts'
/// own seconds (> 1: B is faster); None with fewer than 2 timings a side.
fn prompt_time_ratio(a: &ConfigResult, b: &ConfigResult) -> Option<crate::report::model::Interval> {
    let secs = |c: &ConfigResult| -> Vec<f64> {
        c.prompts
            .iter()
            .filter_map(|p| p.seconds)
            .filter(|s| s.is_finite() && *s > 0.0)
            .collect()
    };
    crate::analysis::timing::speedup(&secs(a), &secs(b))?.interval
}

/// Why a report's times for `c` are not times (a hand-edited or corrupt
/// report.json): a mean or a prompt time that is not finite, not
/// positive, or beyond [`crate::results::reader::MAX_PROMPT_SECONDS`].
pub fn bad_time(c: &ConfigResult) -> Option<String> {
    let max_ms = crate::results::reader::MAX_PROMPT_SECONDS * 1000.0;
    if let Some(t) = c.mean_gen_time_ms
        && !(t.is_finite() && t > 0.0 && t <= max_ms)
    {
        return Some(format!("mean time {t} ms is not a time"));
    }
    c.prompts.iter().find_map(|p| {
        let s = p.seconds?;
        (!(s.is_finite() && s >= 0.0 && s * 1000.0 <= max_ms))
            .then(|| format!("prompt {} time {s} s is not a time", p.prompt))
    })
}

/// Judges config `b` (this report) against `a` (the first report).
pub fn judge(a: Option<&ConfigResult>, b: Option<&ConfigResult>, rules: &Rules) -> Judgement {
    let (a, b) = match (a, b) {
        (Some(a), Some(b)) => (a, b),
        (None, Some(_)) => {
            return Judgement {
                verdict: Verdict::New,
                speed: None,
                note: Some("only in this report".into()),
                gate: None,
            };
        }
        (Some(a), None) => {
            let was_working = matches!(a.compat_status, Status::Pass | Status::Warn);
            return Judgement {
                verdict: Verdict::Missing,
                speed: None,
                note: Some(format!("missing (was {})", a.compat_status)),
                gate: was_working.then(|| format!("missing, was {}", a.compat_status)),
            };
        }
        (None, None) => {
            return Judgement {
                verdict: Verdict::Unchanged,
                speed: None,
                note: None,
                gate: None,
            };
        }
    };
    let (sa, sb) = (a.compat_status, b.compat_status);
    let mut notes = Vec::new();
    let mut gates = Vec::new();
    // Garbage times compare to nothing: "Unchanged" would be a claim.
    let bad = bad_time(a)
        .map(|w| format!("first report's {w}"))
        .or_else(|| bad_time(b));
    let speed = if bad.is_some() {
        None
    } else {
        speed(a, b, rules)
    };

    let verdict = match (severity(sa), severity(sb)) {
        (Some(x), Some(y)) if x == y && bad.is_some() => {
            notes.push(format!(
                "not comparable: {}",
                bad.clone().unwrap_or_default()
            ));
            Verdict::NotComparable
        }
        (Some(x), Some(y)) if y > x => {
            gates.push(format!("status {sa} → {sb}"));
            Verdict::Regressed
        }
        (Some(x), Some(y)) if y < x => Verdict::Improved,
        (Some(_), Some(_)) => speed.map_or(Verdict::Unchanged, |s| s.verdict),
        (None, None) => Verdict::Unchanged,
        _ => {
            notes.push(format!("{sa} → {sb}: not comparable"));
            Verdict::NotComparable
        }
    };
    if let Some(s) = speed {
        if s.significant.is_none() {
            notes.push("no interval".into());
        }
        // The gate looks at the size of a slowdown whatever the status did; an
        // overlap of the intervals means we cannot tell it from noise.
        if s.time_change > rules.max_slowdown && s.significant != Some(false) {
            gates.push(format!(
                "{:.1}% slower (limit {:.1}%)",
                s.time_change * 100.0,
                rules.max_slowdown * 100.0
            ));
        }
    }
    Judgement {
        verdict,
        speed,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        gate: (!gates.is_empty()).then(|| gates.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Thresholds;
    use crate::report::model::Interval;

    /// A config with mean time `t` ms; `rel` is the speedup interval's
    /// half-width relative to the speedup (None: no interval).
    fn cfg(status: Status, t: Option<f64>, rel: Option<f64>) -> ConfigResult {
        let speedup = t.map(|t| 1000.0 / t);
        ConfigResult {
            name: "x".into(),
            role: crate::matrix::Role::Addon,
            features: vec![],
            total_gpus: 1,
            is_lossy: false,
            compat_status: status,
            reason: None,
            thresholds: Thresholds::default(),
            mean_gen_time_ms: t,
            speedup,
            speedup_ci: speedup.zip(rel).map(|(s, r)| Interval {
                low: s * (1.0 - r),
                high: s * (1.0 + r),
            }),
            speedup_significant: None,
            speedup_method: None,
            timing: None,
            load_seconds: None,
            mean_diff_avg: Some(0.0),
            max_diff_avg: Some(0.0),
            psnr_avg: None,
            ssim_avg: None,
            changed_share_avg: None,
            identical_prompts: 0,
            worst_prompt: None,
            vs_baseline_feature: None,
            concurrent_with: vec![],
            peak_memory_bytes: Default::default(),
            engine_memory_peak_bytes: Default::default(),
            work: Default::default(),
            work_by_branch: Default::default(),
            cross_branch: Default::default(),
            args: vec![],
            devices: vec![],
            vs_parents: vec![],
            engine: None,
            notes: vec![],
            log_tail: None,
            metrics: Default::default(),
            prompts: vec![],
        }
    }

    fn j(a: &ConfigResult, b: &ConfigResult) -> Judgement {
        judge(Some(a), Some(b), &Rules::default())
    }

    #[test]
    fn disjoint_and_faster_beyond_noise_is_improved() {
        let a = cfg(Status::Pass, Some(1000.0), Some(0.02));
        let b = cfg(Status::Pass, Some(800.0), Some(0.02));
        let r = j(&a, &b);
        assert_eq!(r.verdict, Verdict::Improved);
        assert_eq!(r.speed.and_then(|s| s.significant), Some(true));
        assert_eq!(r.gate, None);
    }

    #[test]
    fn overlapping_intervals_are_unchanged_however_large_the_change() {
        // 20% slower, but each interval is ±30% wide: noise.
        let a = cfg(Status::Pass, Some(1000.0), Some(0.3));
        let b = cfg(Status::Pass, Some(1200.0), Some(0.3));
        let r = j(&a, &b);
        assert_eq!(r.verdict, Verdict::Unchanged);
        assert_eq!(r.speed.and_then(|s| s.significant), Some(false));
        assert_eq!(r.gate, None, "an overlap never fails the gate");
    }

    #[test]
    fn disjoint_but_within_noise_threshold_is_unchanged() {
        // 1.5% slower with very tight intervals: real, but below --noise 2%.
        let a = cfg(Status::Pass, Some(1000.0), Some(0.001));
        let b = cfg(Status::Pass, Some(1015.0), Some(0.001));
        assert_eq!(j(&a, &b).verdict, Verdict::Unchanged);
    }

    #[test]
    fn disjoint_and_slower_is_regressed_and_gated_beyond_max_slowdown() {
        let a = cfg(Status::Pass, Some(1000.0), Some(0.01));
        let b = cfg(Status::Pass, Some(1030.0), Some(0.005));
        let r = j(&a, &b);
        assert_eq!(r.verdict, Verdict::Regressed);
        assert_eq!(r.gate, None, "3% is within --max-slowdown 5%");
        let c = cfg(Status::Pass, Some(1100.0), Some(0.01));
        let r = j(&a, &c);
        assert_eq!(r.verdict, Verdict::Regressed);
        assert!(r.gate.as_deref().unwrap_or("").contains("10.0% slower"));
    }

    fn with_prompt_times(mut c: ConfigResult, secs: &[f64]) -> ConfigResult {
        c.prompts = secs
            .iter()
            .enumerate()
            .map(|(i, &s)| crate::report::model::PromptResult {
                prompt: i,
                image: None,
                seconds: Some(s),
                vs_baseline: None,
                vs_baseline_feature: None,
                error: None,
                metrics: Default::default(),
            })
            .collect();
        c
    }

    #[test]
    fn without_speedup_intervals_the_prompt_times_are_bootstrapped() {
        // The pure baseline has no speedup interval: 4% slower on average,
        // but well inside the prompts' own spread → Unchanged, not gated.
        let a = with_prompt_times(
            cfg(Status::Pass, Some(1000.0), None),
            &[0.9, 1.1, 0.95, 1.05],
        );
        let b = with_prompt_times(
            cfg(Status::Pass, Some(1040.0), None),
            &[1.0, 1.1, 0.96, 1.1],
        );
        let r = j(&a, &b);
        assert_eq!(r.verdict, Verdict::Unchanged);
        assert_eq!(r.speed.map(|s| s.significant), Some(Some(false)));
        assert_eq!(r.gate, None);
        // Clearly slower on every prompt → Regressed and gated.
        let c = with_prompt_times(cfg(Status::Pass, Some(1500.0), None), &[1.4, 1.5, 1.5, 1.6]);
        let r = j(&a, &c);
        assert_eq!(r.verdict, Verdict::Regressed);
        assert!(r.gate.is_some());
    }

    #[test]
    fn without_intervals_the_point_change_decides() {
        let a = cfg(Status::Pass, Some(1000.0), None);
        let b = cfg(Status::Pass, Some(1010.0), None);
        let r = j(&a, &b);
        assert_eq!(r.verdict, Verdict::Unchanged);
        assert_eq!(r.note.as_deref(), Some("no interval"));
        let c = cfg(Status::Pass, Some(1100.0), Some(0.01));
        let r = j(&a, &c);
        assert_eq!(r.verdict, Verdict::Regressed);
        assert!(r.gate.is_some());
    }

    #[test]
    fn worse_status_is_regressed_even_when_faster() {
        let a = cfg(Status::Pass, Some(1000.0), Some(0.01));
        let b = cfg(Status::Fail, Some(500.0), Some(0.01));
        let r = j(&a, &b);
        assert_eq!(r.verdict, Verdict::Regressed);
        assert_eq!(r.gate.as_deref(), Some("status PASS → FAIL"));
        let w = cfg(Status::Warn, Some(1000.0), Some(0.01));
        assert_eq!(
            j(&a, &w).verdict,
            Verdict::Regressed,
            "PASS → WARN is worse"
        );
    }

    #[test]
    fn better_status_is_improved() {
        let a = cfg(Status::Error, None, None);
        let b = cfg(Status::Pass, Some(900.0), Some(0.01));
        let r = j(&a, &b);
        assert_eq!(r.verdict, Verdict::Improved);
        assert_eq!(r.gate, None);
    }

    #[test]
    fn skip_on_one_side_is_not_comparable_and_not_gated() {
        let a = cfg(Status::Pass, Some(1000.0), Some(0.01));
        let b = cfg(Status::Skip, None, None);
        for (x, y) in [(&a, &b), (&b, &a)] {
            let r = j(x, y);
            assert_eq!(r.verdict, Verdict::NotComparable);
            assert_eq!(r.gate, None);
        }
        assert_eq!(j(&b, &b).verdict, Verdict::Unchanged);
    }

    #[test]
    fn new_and_missing() {
        let pass = cfg(Status::Pass, Some(1000.0), None);
        let fail = cfg(Status::Fail, Some(1000.0), None);
        let rules = Rules::default();
        assert_eq!(judge(None, Some(&pass), &rules).verdict, Verdict::New);
        let m = judge(Some(&pass), None, &rules);
        assert_eq!(m.verdict, Verdict::Missing);
        assert!(m.gate.is_some(), "a working config vanished");
        let m = judge(Some(&fail), None, &rules);
        assert_eq!(m.verdict, Verdict::Missing);
        assert_eq!(m.gate, None, "a failing config vanishing is no regression");
    }
}
