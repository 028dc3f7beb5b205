//! Level shifts: where a noisy series settles at another level.
//!
//! The series is fitted with piecewise-constant levels (asv's approach: fit
//! levels, do not alert on points), in three stages, each for a reason:
//!
//! 1. **Median of three** (at the ends: the end night, its neighbour and the
//!    neighbour's filtered value). Any single night
//!    unlike both its neighbours is replaced by them, so one outlier night can
//!    never become a level, by construction; a real step keeps its exact night
//!    (the median of a, a, b is a and of a, b, b is b).
//! 2. **Optimal partitioning** (exact dynamic programming with PELT pruning)
//!    of the filtered values: the least squared error plus a penalty per level
//!    of `PENALTY · σ² · ln n`, σ the night-to-night noise estimated robustly
//!    from the raw series (the MAD of successive differences, which a step
//!    barely moves). Every level holds at least [`MIN_RUN`] nights.
//! 3. **A minimum effect**: neighbouring levels whose medians (of the
//!    filtered values) differ by less
//!    than the metric's smallest meaningful change are merged, so a
//!    statistically clean but tiny shift (1% on a quiet machine) is no alert.
//!
//! Why not a test on each run's own interval: a night's interval measures the
//! spread of its prompts, not the night-to-night spread (another machine,
//! another load, thermal state), and with CI's few prompts it is wide
//! ([0.09, 13.7] for 2 prompts); the series' own scatter is the noise that
//! matters for "did it change".

/// Fewest nights on a level: a new level needs a second night to confirm it.
pub const MIN_RUN: usize = 2;
/// Fewest nights fitted at all: the noise is estimated from the series
/// itself, and fewer than five night-to-night differences are a guess.
pub const MIN_NIGHTS: usize = 6;
/// The penalty per level, in units of σ² · ln n. The BIC's 2 is too lenient
/// here: the median filter makes neighbours alike, so noise looks like
/// short levels. At 5, one of 1000 simulated flat series of 60 nights with
/// ±5% noise had a 5% "step"; at 8 none had, and a 15% step is still found
/// every time (tests below).
const PENALTY: f64 = 8.0;

/// A change of level found in a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Index (into the values) of the first value on the new level.
    pub at: usize,
    /// The median of the raw values of the level before and after.
    pub before: f64,
    pub after: f64,
}

/// How a metric is fitted.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Fit the logarithm (ratios: speed, memory) or the values (MeanDiff).
    pub log: bool,
    /// The smallest change that counts: a ratio − 1 for log metrics
    /// (0.05 = 5%), an absolute difference otherwise.
    pub min_effect: f64,
    /// The least noise assumed (a perfectly repeatable metric would make
    /// any difference "significant"), in the fitted units.
    pub noise_floor: f64,
}

/// The steps in `values` (in order), oldest first.
pub fn find(values: &[f64], scale: Scale) -> Vec<Step> {
    let n = values.len();
    if n < MIN_NIGHTS.max(2 * MIN_RUN) || values.iter().any(|v| !v.is_finite()) {
        return Vec::new();
    }
    if scale.log && values.iter().any(|v| *v <= 0.0) {
        return Vec::new();
    }
    let y: Vec<f64> = if scale.log {
        values.iter().map(|v| v.ln()).collect()
    } else {
        values.to_vec()
    };
    let f = median3(&y);
    let sigma = noise(&y).max(scale.noise_floor);
    let beta = PENALTY * sigma * sigma * (n as f64).ln();
    let mut bounds = partition(&f, beta, MIN_RUN);
    // Levels are the medians of the filtered values, in real units: the
    // filter has already removed single outliers, which a two-night level's
    // raw median would still hold half of.
    let real: Vec<f64> = if scale.log {
        f.iter().map(|v| v.exp()).collect()
    } else {
        f.clone()
    };
    // Merge the neighbours closest in level until every change is large
    // enough.
    loop {
        let levels = segment_medians(&real, &bounds);
        let smallest = (1..levels.len())
            .map(|i| (i, effect(levels[i - 1], levels[i], scale)))
            .filter(|(_, e)| *e < scale.min_effect)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        match smallest {
            Some((i, _)) => {
                bounds.remove(i);
            }
            None => {
                return (1..levels.len())
                    .map(|i| Step {
                        at: bounds[i],
                        before: levels[i - 1],
                        after: levels[i],
                    })
                    .collect();
            }
        }
    }
}

fn effect(a: f64, b: f64, scale: Scale) -> f64 {
    if scale.log {
        (b / a - 1.0).abs().max((a / b - 1.0).abs())
    } else {
        (b - a).abs()
    }
}

/// Running median of three; at each end, the median of the end night, its
/// neighbour and the neighbour's filtered value.
fn median3(y: &[f64]) -> Vec<f64> {
    let n = y.len();
    let med = |a: f64, b: f64, c: f64| a.max(b).min(a.min(b).max(c));
    let mut f = y.to_vec();
    for i in 1..n.saturating_sub(1) {
        f[i] = med(y[i - 1], y[i], y[i + 1]);
    }
    if n >= 3 {
        f[0] = med(y[0], y[1], f[1]);
        // Not Tukey's extrapolating end rule: after a low-ish night it
        // pushes an outlier's neighbour further down. An end night, its
        // neighbour and the neighbour's filtered value: a lone outlier at
        // either end goes, two nights on a new level stay.
        f[n - 1] = med(y[n - 1], y[n - 2], f[n - 2]);
    }
    f
}

/// The night-to-night noise: 1.4826 · median |Δy| / √2 (σ for Gaussian
/// noise; a few steps among many nights hardly move a median).
fn noise(y: &[f64]) -> f64 {
    let mut d: Vec<f64> = y.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    if d.is_empty() {
        return 0.0;
    }
    d.sort_by(f64::total_cmp);
    1.4826 * median_sorted(&d) / std::f64::consts::SQRT_2
}

fn median_sorted(s: &[f64]) -> f64 {
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn segment_medians(values: &[f64], bounds: &[usize]) -> Vec<f64> {
    (0..bounds.len())
        .map(|i| {
            let end = bounds.get(i + 1).copied().unwrap_or(values.len());
            let mut s = values[bounds[i]..end].to_vec();
            s.sort_by(f64::total_cmp);
            median_sorted(&s)
        })
        .collect()
}

/// Optimal partitioning of `y` into levels of at least `min` values under
/// squared error plus `beta` per level (PELT: candidates that can no longer
/// be optimal are pruned, which keeps long flat series near linear). Returns
/// the start index of every level, 0 first.
fn partition(y: &[f64], beta: f64, min: usize) -> Vec<usize> {
    let n = y.len();
    let mut s1 = vec![0.0; n + 1];
    let mut s2 = vec![0.0; n + 1];
    for (i, v) in y.iter().enumerate() {
        s1[i + 1] = s1[i] + v;
        s2[i + 1] = s2[i] + v * v;
    }
    // best[j]: the least total cost of y[..j]; last[j]: where its last level starts.
    let mut best = vec![f64::INFINITY; n + 1];
    let mut last = vec![0usize; n + 1];
    best[0] = -beta;
    let mut candidates: Vec<usize> = Vec::new();
    // Each candidate's best[i] + cost(i, j), kept for the pruning below.
    let mut totals: Vec<f64> = Vec::new();
    for j in min..=n {
        // A level may start at j − min once y[..j−min] itself can be split.
        let newly = j - min;
        if newly == 0 || (newly >= min && best[newly].is_finite()) {
            candidates.push(newly);
        }
        let (sj1, sj2) = (s1[j], s2[j]);
        totals.clear();
        let mut bj = f64::INFINITY;
        let mut lj = 0;
        for &i in &candidates {
            let m = (j - i) as f64;
            let s = sj1 - s1[i];
            let t = best[i] + (sj2 - s2[i] - s * s / m).max(0.0);
            totals.push(t);
            if t + beta < bj {
                bj = t + beta;
                lj = i;
            }
        }
        best[j] = bj;
        last[j] = lj;
        // PELT: a start that is worse than the best by more than β now stays
        // worse for every later end.
        let mut k = 0;
        candidates.retain(|_| {
            let keep = totals[k] <= bj;
            k += 1;
            keep
        });
    }
    let mut bounds = Vec::new();
    let mut j = n;
    while j > 0 {
        let i = last[j];
        bounds.push(i);
        j = i;
    }
    bounds.reverse();
    if bounds.is_empty() {
        bounds.push(0);
    }
    bounds
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEED: Scale = Scale {
        log: true,
        min_effect: 0.05,
        noise_floor: 0.005,
    };

    /// Deterministic noise: uniform in [-1, 1] from a seed (xorshift).
    fn noise_at(seed: &mut u64) -> f64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        (*seed % 20_001) as f64 / 10_000.0 - 1.0
    }

    fn noisy(levels: &[(usize, f64)], amplitude: f64, seed: u64) -> Vec<f64> {
        let mut s = seed.max(1);
        levels
            .iter()
            .flat_map(|&(n, level)| std::iter::repeat_n(level, n))
            .map(|l| l * (1.0 + amplitude * noise_at(&mut s)))
            .collect()
    }

    #[test]
    fn a_15_percent_step_after_20_noisy_nights_is_found_on_its_night() {
        for seed in 1..=50 {
            // ±4% uniform noise (σ ≈ 2.3%), 20 nights at 2.0×, then 1.7×.
            let v = noisy(&[(20, 2.0), (20, 1.7)], 0.04, seed);
            let steps = find(&v, SPEED);
            assert_eq!(steps.len(), 1, "seed {seed}: {steps:?} in {v:?}");
            assert_eq!(steps[0].at, 20, "seed {seed}");
            assert!((steps[0].after / steps[0].before - 0.85).abs() < 0.03);
        }
    }

    #[test]
    fn a_single_outlier_night_is_not_a_step() {
        for seed in 1..=50 {
            for at in [0, 7, 20, 39] {
                let mut v = noisy(&[(40, 2.0)], 0.04, seed);
                v[at] = 0.7; // one night 65% slower
                assert_eq!(find(&v, SPEED), vec![], "seed {seed}, outlier at {at}");
            }
        }
    }

    #[test]
    fn pure_noise_has_no_step() {
        for seed in 1..=1000 {
            let v = noisy(&[(60, 1.5)], 0.05, seed);
            assert_eq!(find(&v, SPEED), vec![], "seed {seed}");
        }
    }

    #[test]
    fn a_step_on_the_newest_two_nights_is_found_but_one_night_is_not() {
        let mut v = noisy(&[(30, 2.0)], 0.02, 3);
        v.push(1.5);
        assert_eq!(
            find(&v, SPEED),
            vec![],
            "one night is an outlier until confirmed"
        );
        v.push(1.5);
        let steps = find(&v, SPEED);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].at, 30);
    }

    #[test]
    fn small_shifts_are_below_the_minimum_effect() {
        // A clean 3% shift on a quiet series: real, but not worth an alert.
        let v = noisy(&[(30, 2.0), (30, 1.94)], 0.001, 5);
        assert_eq!(find(&v, SPEED), vec![]);
    }

    #[test]
    fn two_steps_and_linear_metrics() {
        let q = Scale {
            log: false,
            min_effect: 0.002,
            noise_floor: 1e-4,
        };
        let mut v = vec![0.0; 15];
        v.extend(vec![0.01; 10]);
        v.extend(vec![0.0; 15]);
        let steps = find(&v, q);
        assert_eq!(steps.iter().map(|s| s.at).collect::<Vec<_>>(), vec![15, 25]);
    }

    #[test]
    fn short_or_odd_series_do_not_panic() {
        for v in [
            vec![],
            vec![1.0],
            vec![1.0, 2.0, 3.0],
            vec![f64::NAN; 8],
            vec![0.0; 8],
        ] {
            let _ = find(&v, SPEED);
        }
    }
}
