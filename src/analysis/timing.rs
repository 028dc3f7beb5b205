//! Timing: statistics of per-prompt seconds, a cold first prompt left out,
//! and the speedup over the baseline with an interval whose coverage holds.
//!
//! The speedup is the Hodges–Lehmann estimate of the ratio of the two
//! configs' typical times: the median of every baseline/config ratio
//! `b_i / c_j`. One slow prompt moves it by at most one rank (a mean ratio
//! moves with it in full). Its 95% interval:
//!
//! - n ≥ 4 timings on both sides: the distribution-free interval of the
//!   Mann–Whitney test inverted (Bauer 1972), the `k`-th smallest and largest
//!   pairwise ratio with `k` from the exact null distribution of U (normal
//!   approximation above 400 pairs). Its coverage is at least 95% whenever the
//!   noise is multiplicative with one distribution for both sides, whatever
//!   that distribution is (a simulation test checks ≥ 93% with normal and
//!   skewed noise).
//! - 2–3 timings on a side: no distribution-free 95% interval exists (with 3
//!   against 3 the smallest two-sided p is 0.1), so Welch's t interval on log
//!   seconds, which assumes log-normal noise; `method` says so.
//! - fewer: no interval; "too few prompts".

use crate::report::model::{ColdPrompt, Interval, TimingStats};

/// How a speedup's interval was found.
pub const HODGES_LEHMANN: &str = "hodges-lehmann";
pub const WELCH_LOG: &str = "welch-log (few prompts: assumes log-normal noise)";
pub use crate::report::model::TOO_FEW;

/// Statistics of per-prompt seconds; `None` for no (finite) timings.
pub fn stats(seconds: &[f64], source: &str) -> Option<TimingStats> {
    let mut v: Vec<f64> = seconds.iter().copied().filter(|s| s.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n as f64;
    let stdev = if n > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    Some(TimingStats {
        n,
        mean,
        median: percentile(&v, 0.5),
        p95: percentile(&v, 0.95),
        stdev,
        min: v[0],
        max: v[n - 1],
        source: source.to_string(),
        cold_first: None,
    })
}

/// Linear-interpolated percentile of sorted, non-empty data; `q` in 0..=1.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    percentile(&s, 0.5)
}

/// A cold first prompt: compiling, autotuning, CUDA initialisation. Prompt 0
/// is cold when it is both 1.5× the median of the others and more than
/// three robust standard deviations (1.4826 × MAD) above it; it needs at
/// least two other timings to tell. Only for backends that did no warm-up of
/// their own.
pub fn cold_first(times: &[Option<f64>]) -> Option<ColdPrompt> {
    let first = (*times.first()?)?;
    let rest: Vec<f64> = times[1..].iter().flatten().copied().collect();
    if rest.len() < 2 || !first.is_finite() {
        return None;
    }
    let m = median(&rest);
    let dev: Vec<f64> = rest.iter().map(|x| (x - m).abs()).collect();
    let spread = 1.4826 * median(&dev);
    (m > 0.0 && first > 1.5 * m && first > m + 3.0 * spread).then(|| ColdPrompt {
        prompt: 0,
        seconds: first,
        factor: first / m,
    })
}

/// A speedup: its estimate, its 95% interval, and how that was found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speedup {
    pub estimate: f64,
    pub interval: Option<Interval>,
    pub method: &'static str,
}

/// The speedup of `config` over `baseline` (per-prompt seconds); `None`
/// when either side has no positive finite timing.
pub fn speedup(baseline: &[f64], config: &[f64]) -> Option<Speedup> {
    let ok = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .copied()
            .filter(|s| s.is_finite() && *s > 0.0)
            .collect()
    };
    let (b, c) = (ok(baseline), ok(config));
    if b.is_empty() || c.is_empty() {
        return None;
    }
    let mut ratios: Vec<f64> = b
        .iter()
        .flat_map(|x| c.iter().map(move |y| x / y))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let estimate = percentile(&ratios, 0.5);
    let (interval, method) = if b.len() >= 4 && c.len() >= 4 {
        let k = mann_whitney_rank(b.len(), c.len());
        let interval = Interval {
            low: ratios[k - 1],
            high: ratios[ratios.len() - k],
        };
        (Some(interval), HODGES_LEHMANN)
    } else if b.len() >= 2 && c.len() >= 2 {
        (Some(welch_log(&b, &c)), WELCH_LOG)
    } else {
        (None, TOO_FEW)
    };
    Some(Speedup {
        estimate,
        interval,
        method,
    })
}

/// The rank `k` (1-based) of the pairwise difference that bounds the
/// two-sided 95% Mann–Whitney interval: the largest `k` with P(U < k) ≤
/// 0.025 under the null, at least 1.
pub fn mann_whitney_rank(n: usize, m: usize) -> usize {
    if n * m > 400 {
        normal_rank(n, m)
    } else {
        exact_rank(n, m)
    }
}

/// [`mann_whitney_rank`] by the normal approximation of U (with the
/// continuity correction).
fn normal_rank(n: usize, m: usize) -> usize {
    let pairs = n * m;
    let sd = ((pairs * (n + m + 1)) as f64 / 12.0).sqrt();
    let k = (pairs as f64 / 2.0 - 1.959_964 * sd + 0.5).floor() as usize;
    k.max(1)
}

/// [`mann_whitney_rank`] from the exact null distribution of U.
fn exact_rank(n: usize, m: usize) -> usize {
    // counts[u] = arrangements of n and m items whose U statistic is u:
    // f(n, m, u) = f(n - 1, m, u - m) + f(n, m - 1, u), built up over n.
    let mut prev: Vec<Vec<f64>> = (0..=m).map(|_| vec![1.0]).collect();
    for i in 1..=n {
        let mut cur: Vec<Vec<f64>> = Vec::with_capacity(m + 1);
        cur.push(vec![1.0]);
        for j in 1..=m {
            let mut f = vec![0.0; i * j + 1];
            for (u, v) in prev[j].iter().enumerate() {
                f[u + j] += v;
            }
            for (u, v) in cur[j - 1].iter().enumerate() {
                f[u] += v;
            }
            cur.push(f);
        }
        prev = cur;
    }
    let counts = &prev[m];
    let total: f64 = counts.iter().sum();
    let mut cumulative = 0.0;
    let mut k = 0;
    for c in counts {
        if (cumulative + c) / total > 0.025 {
            break;
        }
        cumulative += c;
        k += 1;
    }
    k.max(1)
}

/// Welch's 95% t interval of exp(mean log b − mean log c); degrees of
/// freedom by Welch–Satterthwaite, rounded down (conservative).
fn welch_log(b: &[f64], c: &[f64]) -> Interval {
    let moments = |v: &[f64]| {
        let l: Vec<f64> = v.iter().map(|x| x.ln()).collect();
        let n = l.len() as f64;
        let mean = l.iter().sum::<f64>() / n;
        let var = l.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var / n)
    };
    let ((mb, vb), (mc, vc)) = (moments(b), moments(c));
    let se2 = vb + vc;
    let df = if se2 > 0.0 {
        se2 * se2
            / (vb * vb / (b.len() as f64 - 1.0) + vc * vc / (c.len() as f64 - 1.0))
                .max(f64::MIN_POSITIVE)
    } else {
        f64::INFINITY
    };
    let half = t975(df) * se2.sqrt();
    let d = mb - mc;
    Interval {
        low: (d - half).exp(),
        high: (d + half).exp(),
    }
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom (rounded
/// down; a table to 30, then z + 2.37/df, within 0.003 of the true value).
fn t975(df: f64) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    if !df.is_finite() {
        return 1.959_964;
    }
    // Rounded down, but not below an integer the arithmetic missed by an
    // ulp: two equal variances of 3 prompts give df = 3.9999999999999996
    // for an exact 4, and flooring that took 3 df's wider quantile.
    let d = (df + 1e-9).floor().max(1.0) as usize;
    match TABLE.get(d - 1) {
        Some(t) => *t,
        None => 1.959_964 + 2.37 / d as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn stats_of_known_data() {
        let s = stats(&[1.0, 2.0, 3.0, 4.0], "x").expect("stats");
        assert_eq!(s.n, 4);
        assert!((s.mean - 2.5).abs() < 1e-12);
        assert!((s.median - 2.5).abs() < 1e-12);
        assert!((s.p95 - 3.85).abs() < 1e-12);
        assert!((s.stdev - 1.290_994_448_735_805_6).abs() < 1e-12);
        assert!(stats(&[], "x").is_none());
        assert_eq!(stats(&[2.0], "x").map(|s| s.stdev), Some(0.0));
    }

    /// Critical values of the two-sided 5% Mann–Whitney test (U ≤ c rejects)
    /// from the standard tables: k = c + 1.
    #[test]
    fn mann_whitney_ranks_match_the_tables() {
        for (n, m, c) in [
            (4, 4, 0),
            (5, 5, 2),
            (6, 6, 5),
            (8, 8, 13),
            (10, 10, 23),
            (5, 8, 6),
        ] {
            assert_eq!(mann_whitney_rank(n, m), c + 1, "{n}×{m}");
        }
        // The normal approximation takes over within a rank of the exact value.
        for (n, m) in [(20, 20), (21, 21), (15, 30), (25, 25)] {
            let (exact, approx) = (exact_rank(n, m), normal_rank(n, m));
            assert!(exact.abs_diff(approx) <= 1, "{n}×{m}: {exact} vs {approx}");
        }
    }

    #[test]
    fn t_quantiles() {
        assert_eq!(t975(2.7), 4.303);
        assert!((t975(40.0) - 2.021).abs() < 0.003);
        assert!((t975(120.0) - 1.980).abs() < 0.003);
    }

    #[test]
    fn one_slow_prompt_barely_moves_the_estimate() {
        let base = [2.0, 2.0, 2.0, 2.0, 2.0];
        let fast = [1.0, 1.0, 1.0, 1.0, 1.0];
        let mut slow = fast;
        slow[0] = 20.0;
        assert_eq!(speedup(&base, &fast).expect("s").estimate, 2.0);
        assert_eq!(speedup(&base, &slow).expect("s").estimate, 2.0);
    }

    /// Coverage of the 95% interval for a known ratio, fixed seeds: times
    /// are T × noise with one noise distribution for both sides.
    #[test]
    fn intervals_cover_the_true_ratio() {
        let normal = |r: &mut Rng| {
            // Box–Muller; 5% relative noise.
            let (u, v) = (r.uniform().max(1e-12), r.uniform());
            1.0 + 0.05 * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        // Skewed: mostly steady, an exponential tail (background load).
        let skewed = |r: &mut Rng| 1.0 + 0.1 * -(r.uniform().max(1e-12)).ln();
        type Noise<'a> = &'a dyn Fn(&mut Rng) -> f64;
        let noises: [(&str, Noise); 2] = [("normal", &normal), ("skewed", &skewed)];
        for (name, noise) in noises {
            for n in [5usize, 8, 12] {
                let mut rng = Rng::new(42 + n as u64);
                let trials = 1000;
                let mut covered = 0;
                for _ in 0..trials {
                    let b: Vec<f64> = (0..n).map(|_| 2.0 * noise(&mut rng)).collect();
                    let c: Vec<f64> = (0..n).map(|_| 1.0 * noise(&mut rng)).collect();
                    let s = speedup(&b, &c).expect("speedup");
                    let i = s.interval.expect("interval");
                    if i.low <= 2.0 && 2.0 <= i.high {
                        covered += 1;
                    }
                }
                let share = covered as f64 / trials as f64;
                assert!(share >= 0.93, "{name} noise, n = {n}: coverage {share}");
            }
        }
    }

    /// Only positive, finite seconds are timings: a zero, negative, NaN or
    /// infinite one is left out on either side, not turned into a ratio.
    #[test]
    fn speedup_ignores_times_that_are_not_durations() {
        let bad = [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
        let clean = speedup(&[2.0, 2.2, 1.8], &[1.0, 1.1, 0.9]);
        let mut b = vec![2.0, 2.2, 1.8];
        b.extend(bad);
        let mut c = vec![1.0, 1.1, 0.9];
        c.extend(bad);
        assert_eq!(speedup(&b, &c), clean);
        assert!(speedup(&bad, &[1.0]).is_none());
        assert!(speedup(&[1.0], &bad).is_none());
    }

    #[test]
    fn few_prompts_are_said_to_be_few() {
        let s = speedup(&[2.0, 2.1, 1.9], &[1.0, 1.1, 0.9]).expect("s");
        assert_eq!(s.method, WELCH_LOG);
        let s = speedup(&[2.0], &[1.0, 1.1]).expect("s");
        assert_eq!((s.interval, s.method), (None, TOO_FEW));
        assert!(speedup(&[], &[1.0]).is_none());
    }

    #[test]
    fn a_cold_first_prompt_is_found_and_a_warm_one_is_not() {
        let cold =
            cold_first(&[Some(0.1997), Some(0.0398), Some(0.0414), Some(0.0411)]).expect("cold");
        assert!((cold.factor - 0.1997 / 0.0411).abs() < 1e-9);
        assert!(cold_first(&[Some(0.041), Some(0.0398), Some(0.0414), Some(0.0411)]).is_none());
        assert!(
            cold_first(&[Some(9.0), Some(1.0)]).is_none(),
            "one other timing cannot tell"
        );
        assert!(cold_first(&[None, Some(1.0), Some(1.0)]).is_none());
    }

    /// Cold needs both: 1.5× the others' median *and* three robust standard
    /// deviations above it. Either alone is ordinary variation: 10% over a
    /// perfectly steady rest (MAD 0), or 1.6× over a rest that spreads from
    /// 0.5 to 1.5.
    #[test]
    fn a_cold_first_prompt_needs_both_the_factor_and_the_spread() {
        let times = |v: &[f64]| v.iter().copied().map(Some).collect::<Vec<_>>();
        assert_eq!(
            cold_first(&times(&[1.1, 1.0, 1.0, 1.0])),
            None,
            "factor 1.1"
        );
        assert_eq!(
            cold_first(&times(&[1.6, 0.5, 1.0, 1.5])),
            None,
            "within 3 MADs"
        );
        // Just over both: factor 1.6, and 1.6 > 1.0 + 3 × 1.4826 × 0.1.
        let cold = cold_first(&times(&[1.6, 0.9, 1.0, 1.1])).expect("cold");
        assert_eq!((cold.prompt, cold.seconds), (0, 1.6));
        assert!((cold.factor - 1.6).abs() < 1e-12);
        // On the factor exactly is not over it.
        assert_eq!(cold_first(&times(&[1.5, 1.0, 1.0, 1.0])), None);
        // A first prompt that failed (no time) or is not a number tells nothing.
        assert_eq!(cold_first(&times(&[f64::INFINITY, 1.0, 1.0])), None);
        assert_eq!(cold_first(&[]), None);
    }

    /// The few-prompt interval's bounds against Student's t quantiles from
    /// the standard tables (t₀.₉₇₅ with 4 df = 2.7764, with 2 df = 4.3027),
    /// on data whose log moments are exact: b = 2·e^(−0.1, 0, 0.1), so
    /// mean log b − mean log c = ln 2 and each side's sample variance of
    /// logs is 0.01. The normal quantile (1.96) would give a third narrower
    /// interval ([1.704, 2.347] for the first).
    #[test]
    fn the_few_prompt_interval_uses_students_t() {
        let spread = |scale: f64| [-0.1f64, 0.0, 0.1].map(|l| scale * l.exp());
        let near = |got: f64, want: f64| (got - want).abs() < 2e-3;
        // Equal variances, 3 against 3: Welch's df = 4; se = √(0.02/3),
        // bounds 2·e^(∓2.7764·se).
        let s = speedup(&spread(2.0), &spread(1.0)).expect("speedup");
        assert_eq!(s.method, WELCH_LOG);
        let i = s.interval.expect("interval");
        assert!(near(i.low, 1.594_326) && near(i.high, 2.508_896), "{i:?}");
        // One side constant: df = 2; se = √(0.01/3), bounds 2·e^(∓4.3027·se).
        let i = speedup(&spread(2.0), &[1.0, 1.0, 1.0])
            .and_then(|s| s.interval)
            .expect("interval");
        assert!(near(i.low, 1.560_074) && near(i.high, 2.563_981), "{i:?}");
        // No variance on either side: the interval is the point itself.
        let i = speedup(&[2.0, 2.0], &[1.0, 1.0])
            .and_then(|s| s.interval)
            .expect("interval");
        assert!(near(i.low, 2.0) && near(i.high, 2.0), "{i:?}");
    }
}
