//! The PSNR axis of the trade-off chart: round ticks over the measured
//! PSNRs, every one labelled, and right of them, apart, a labelled position
//! for configs identical to the baseline (PSNR = ∞). When every config is
//! identical that position is the whole axis: no PSNR numbers where no PSNR
//! was measured.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;

/// A linear x range whose grid lines and labels are at given points only
/// (plotters' `WithKeyPoints` cannot take a label formatter over `f64`).
pub struct PsnrRange {
    linear: RangedCoordf64,
    keys: Vec<f64>,
}

impl Ranged for PsnrRange {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Bold points only: no light grid lines between the ticks.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.keys.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.linear.range()
    }
}

/// The tick label of the identical position.
const IDENTICAL_TICK: &str = "identical (∞)";

/// A round tick step (1, 2 or 5 × 10ⁿ) giving at most `max_ticks` steps over `span`.
fn nice_step(span: f64, max_ticks: f64) -> f64 {
    let rough = (span / max_ticks).max(1e-9);
    let magnitude = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * magnitude)
}

/// The x axis: PSNR ticks over the measured PSNRs, every one labelled, and
/// right of them, apart, the position of identical configs (PSNR = ∞).
pub struct XAxis {
    pub lo: f64,
    max: f64,
    /// PSNR ticks, in order (none when every config is identical).
    ticks: Vec<f64>,
    decimals: usize,
    /// Where identical configs are drawn, when there are any.
    identical: Option<f64>,
    /// Between the last PSNR tick and the identical position: the axis is
    /// not continuous there.
    pub break_at: Option<f64>,
    /// The axis name when it is not PSNR (`--tradeoff-metric`).
    pub name: Option<String>,
}

impl XAxis {
    /// The axis for these PSNRs, `None` standing for an identical config.
    pub fn new(psnrs: &[Option<f64>]) -> Self {
        let finite: Vec<f64> = psnrs.iter().flatten().copied().collect();
        let any_identical = psnrs.iter().any(Option::is_none);
        let range = finite.iter().fold(None, |r: Option<(f64, f64)>, &v| {
            Some(r.map_or((v, v), |(a, b)| (a.min(v), b.max(v))))
        });
        let (lo, hi) = match (range, any_identical) {
            // Every config identical: one labelled position, nothing else.
            (None, true) => return Self::identical_only(),
            (None, false) => (20.0, 50.0),
            (Some((a, b)), _) => {
                let pad = ((b - a) * 0.1).max(1.0);
                (a - pad, b + pad)
            }
        };
        let step = nice_step(hi - lo, 8.0);
        let (first, last) = ((lo / step).floor() as i64, (hi / step).ceil() as i64);
        let ticks: Vec<f64> = (first..=last).map(|k| k as f64 * step).collect();
        let (lo, hi) = (ticks[0], ticks[ticks.len() - 1]);
        let decimals = if step >= 1.0 {
            0
        } else {
            (-step.log10().floor()) as usize
        };
        let (identical, break_at, max) = if any_identical {
            (
                Some(hi + 1.5 * step),
                Some(hi + 0.75 * step),
                hi + 2.5 * step,
            )
        } else {
            (None, None, hi)
        };
        XAxis {
            lo,
            max,
            ticks,
            decimals,
            identical,
            break_at,
            name: None,
        }
    }

    /// Every config identical: the one position in the middle.
    fn identical_only() -> Self {
        XAxis {
            lo: 0.0,
            max: 1.0,
            ticks: Vec::new(),
            decimals: 0,
            identical: Some(0.5),
            break_at: None,
            name: None,
        }
    }

    /// Every tick, the identical position last.
    pub fn key_points(&self) -> Vec<f64> {
        self.ticks.iter().copied().chain(self.identical).collect()
    }

    /// The range to build the chart on: grid lines and labels at the key
    /// points only.
    pub fn range(&self) -> PsnrRange {
        PsnrRange {
            linear: (self.lo..self.max).into(),
            keys: self.key_points(),
        }
    }

    /// The tick label at `v`.
    pub fn label(&self, v: f64) -> String {
        match self.identical {
            Some(x) if (v - x).abs() < 1e-9 => IDENTICAL_TICK.to_string(),
            _ => format!("{v:.*}", self.decimals),
        }
    }

    /// The axis name.
    pub fn desc(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        if self.ticks.is_empty() {
            "PSNR vs baseline: every config is pixel-identical (PSNR ∞)".into()
        } else {
            "PSNR vs baseline (dB, higher = closer)".into()
        }
    }

    /// Where a point is drawn across.
    pub fn x(&self, psnr: Option<f64>) -> f64 {
        psnr.or(self.identical).unwrap_or(self.lo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every grid line has a label, a number unless it is the identical
    /// position, which is right of every number.
    fn assert_all_labelled(x: &XAxis) {
        let keys = x.key_points();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        for k in &x.ticks {
            let label = x.label(*k);
            assert!((label.parse::<f64>().unwrap() - k).abs() < 1e-6, "{label}");
        }
        if let Some(i) = x.identical {
            assert_eq!(x.label(i), IDENTICAL_TICK);
            assert_eq!(keys.last(), Some(&i));
            assert!(i < x.max && x.ticks.iter().all(|t| *t < i));
        }
        assert!(keys.iter().all(|k| (x.lo..=x.max).contains(k)));
    }

    #[test]
    fn psnr_ticks_past_70_db_are_labelled_and_cover_every_point() {
        let x = XAxis::new(&[Some(48.3), Some(93.7)]);
        assert_all_labelled(&x);
        assert!(x.ticks.len() >= 4 && x.ticks.len() <= 10, "{:?}", x.ticks);
        assert!(x.lo <= 48.3 && *x.ticks.last().unwrap() >= 93.7);
        assert!(x.ticks.iter().any(|t| *t > 70.0));
        assert_eq!(x.identical, None);
    }

    #[test]
    fn identical_configs_get_a_labelled_position_right_of_the_psnr_ticks() {
        let x = XAxis::new(&[Some(64.06), None, None]);
        assert_all_labelled(&x);
        let b = x.break_at.unwrap();
        assert!(*x.ticks.last().unwrap() < b && b < x.identical.unwrap());
        assert!(x.ticks[0] <= 64.06 && 64.06 <= *x.ticks.last().unwrap());
        assert_eq!(x.x(None), x.identical.unwrap());
        assert_eq!(x.x(Some(64.06)), 64.06);
    }

    #[test]
    fn when_every_config_is_identical_the_axis_has_only_that_position() {
        let x = XAxis::new(&[None, None]);
        assert_all_labelled(&x);
        assert!(x.ticks.is_empty());
        assert_eq!(x.key_points(), vec![x.identical.unwrap()]);
        assert!(x.desc().contains("identical"));
        assert!(x.break_at.is_none());
    }

    #[test]
    fn without_points_the_axis_is_still_labelled() {
        let x = XAxis::new(&[]);
        assert_all_labelled(&x);
        assert!(!x.ticks.is_empty() && x.identical.is_none());
    }

    #[test]
    fn nice_steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_step(30.0, 8.0), 5.0);
        assert_eq!(nice_step(2.0, 8.0), 0.5);
        assert_eq!(nice_step(63.0, 8.0), 10.0);
        assert_eq!(nice_step(0.1, 8.0), 0.02);
    }

    #[test]
    fn the_range_has_grid_lines_at_the_key_points_only() {
        let x = XAxis::new(&[Some(30.0), Some(41.0), None]);
        let r = x.range();
        assert_eq!(r.key_points(8usize), Vec::<f64>::new());
        assert_eq!(
            r.key_points(plotters::coord::ranged1d::BoldPoints(3)),
            x.key_points()
        );
        assert_eq!(r.range(), x.lo..x.max);
    }
}
