//! The engine's own noise floor (`--repeat-baseline`): the pure baseline run
//! twice with the same seeds. An engine that is not deterministic (Qwen-Image
//! without deterministic attention flips between visibly different outputs,
//! vLLM-Omni issue #5734) differs from itself; a lossless feature that
//! differs from the baseline no more than the baseline differs from itself
//! is not a regression, and one that differs more still is.

use super::images::PromptCompare;
use crate::matrix::Role;
use crate::report::model::{BaselineRepeat, ConfigResult, ImageMetrics};
use crate::results::reader::RunDir;

/// The largest per-prompt MeanDiff and MaxDiff between the two baseline runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Floor {
    pub mean_diff: f64,
    pub max_diff: f64,
}

impl Floor {
    /// Whether `m` (one image against its reference) is within the floor.
    pub fn holds(&self, m: &ImageMetrics) -> bool {
        m.mean_diff <= self.mean_diff && m.max_diff <= self.max_diff
    }
}

/// The repeated baseline's index, when it ran.
pub(crate) fn repeat_index(run: &RunDir) -> Option<usize> {
    run.configs.iter().position(|c| {
        c.role == Some(Role::BaselineRepeat) && c.skip_reason.is_none() && c.dir.is_some()
    })
}

/// The floor, when the repeat ran and every prompt of it was compared.
pub(crate) fn floor(run: &RunDir, compared: &[Vec<PromptCompare>]) -> Option<Floor> {
    let r = repeat_index(run)?;
    let metrics: Vec<&ImageMetrics> = compared[r]
        .iter()
        .map(|p| p.base.as_ref()?.as_ref().ok())
        .collect::<Option<_>>()?;
    if metrics.is_empty() {
        return None;
    }
    let worst = |f: fn(&ImageMetrics) -> f64| metrics.iter().map(|m| f(m)).fold(0.0, f64::max);
    Some(Floor {
        mean_diff: worst(|m| m.mean_diff),
        max_diff: worst(|m| m.max_diff),
    })
}

/// report.json's `baseline_repeat`, from the repeat's judged result.
pub(crate) fn summary(repeat: &ConfigResult, floor: &Floor) -> BaselineRepeat {
    BaselineRepeat {
        identical: repeat.all_identical(),
        mean_diff_avg: repeat.mean_diff_avg,
        max_diff_avg: repeat.max_diff_avg,
        psnr_avg: repeat.psnr_avg,
        ssim_avg: repeat.ssim_avg,
        floor_mean_diff: floor.mean_diff,
        floor_max_diff: floor.max_diff,
        time_ratio: repeat.speedup,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One image within the floor must be within it on both metrics: a
    /// lossless feature's few wildly wrong pixels (MaxDiff) are not excused
    /// by a small MeanDiff.
    #[test]
    fn the_floor_holds_an_image_only_within_both_metrics() {
        let floor = Floor {
            mean_diff: 0.03,
            max_diff: 0.25,
        };
        let m = |mean_diff, max_diff| ImageMetrics {
            mean_diff,
            max_diff,
            identical: false,
            ..crate::analysis::metrics::identical()
        };
        assert!(floor.holds(&m(0.03, 0.25)), "on the floor is within it");
        assert!(!floor.holds(&m(0.01, 0.5)), "MaxDiff beyond the floor");
        assert!(!floor.holds(&m(0.05, 0.1)), "MeanDiff beyond the floor");
    }
}
