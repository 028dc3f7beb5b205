//! Timing statistics and the bootstrap interval of a speedup.

use crate::report::model::{Interval, TimingStats};

/// Resamples for the speedup interval.
pub const RESAMPLES: usize = 2000;

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
    })
}

/// Linear-interpolated percentile of sorted, non-empty data; `q` in 0..=1.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// A stable seed for a config name, so each config's interval is
/// reproducible whatever the order of configs.
pub fn seed_for(name: &str) -> u64 {
    crate::rng::fnv1a(name.as_bytes())
}

/// 95% percentile-bootstrap interval of mean(baseline) / mean(config),
/// resampling both sides; `None` when either side has fewer than 2 timings
/// or a resampled mean is zero.
pub fn speedup_interval(baseline: &[f64], config: &[f64], seed: u64) -> Option<Interval> {
    if baseline.len() < 2 || config.len() < 2 {
        return None;
    }
    let mut rng = crate::rng::Rng::new(seed);
    let mut ratios = Vec::with_capacity(RESAMPLES);
    let resample_mean = |data: &[f64], rng: &mut crate::rng::Rng| {
        (0..data.len())
            .map(|_| data[rng.below(data.len())])
            .sum::<f64>()
            / data.len() as f64
    };
    for _ in 0..RESAMPLES {
        let b = resample_mean(baseline, &mut rng);
        let c = resample_mean(config, &mut rng);
        if c <= 0.0 || !c.is_finite() || !b.is_finite() {
            return None;
        }
        ratios.push(b / c);
    }
    ratios.sort_by(f64::total_cmp);
    Some(Interval {
        low: percentile(&ratios, 0.025),
        high: percentile(&ratios, 0.975),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn bootstrap_is_seeded_and_sensible() {
        let base = [2.0, 2.1, 1.9, 2.05, 1.95];
        let fast = [1.0, 1.05, 0.95, 1.02, 0.98];
        let a = speedup_interval(&base, &fast, 7).expect("interval");
        let b = speedup_interval(&base, &fast, 7).expect("interval");
        assert_eq!(a, b);
        assert!(a.low > 1.8 && a.high < 2.2, "{a:?}");
        let same = speedup_interval(&base, &base, 7).expect("interval");
        assert!(same.low < 1.0 && same.high > 1.0);
        assert!(speedup_interval(&[1.0], &fast, 7).is_none());
    }
}
