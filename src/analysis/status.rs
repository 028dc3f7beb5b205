//! The status rules (DESIGN §7), first match wins, and threshold precedence.

use crate::analysis::Overrides;
use crate::registry::{Registry, Thresholds};
use crate::report::model::Status;

/// What the rules look at for one config.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The pure baseline.
    pub is_baseline: bool,
    /// Why it was not run, when it was not.
    pub skip_reason: Option<String>,
    /// Why it is an error (backend failed, timed out, a prompt has no image, …).
    pub error: Option<String>,
    /// Holds a lossy feature.
    pub lossy: bool,
    /// Mean over prompts of MeanDiff against the baseline.
    pub mean_diff: Option<f64>,
    /// Mean over prompts of MaxDiff against the baseline.
    pub max_diff: Option<f64>,
}

/// The status and its reason (null for a plain PASS).
pub fn judge(f: &Facts, t: &Thresholds) -> (Status, Option<String>) {
    if let Some(e) = &f.error {
        return (Status::Error, Some(e.clone()));
    }
    if let Some(r) = &f.skip_reason {
        return (Status::Skip, Some(r.clone()));
    }
    if f.is_baseline {
        return (Status::Pass, None);
    }
    let (Some(mean), Some(max)) = (f.mean_diff, f.max_diff) else {
        return (Status::Error, Some("no images were compared".to_string()));
    };
    if !f.lossy {
        if mean > t.lossless_mean {
            return (
                Status::Fail,
                Some(format!(
                    "lossless: mean MeanDiff {mean:.4} > {}",
                    t.lossless_mean
                )),
            );
        }
        if max > t.lossless_max {
            return (
                Status::Fail,
                Some(format!(
                    "lossless: mean MaxDiff {max:.4} > {}",
                    t.lossless_max
                )),
            );
        }
        return (Status::Pass, None);
    }
    if mean > t.lossy_fail_mean {
        return (
            Status::Fail,
            Some(format!(
                "lossy: mean MeanDiff {mean:.4} > {}",
                t.lossy_fail_mean
            )),
        );
    }
    if mean > t.lossy_mean {
        return (
            Status::Warn,
            Some(format!("lossy: mean MeanDiff {mean:.4} > {}", t.lossy_mean)),
        );
    }
    (Status::Pass, None)
}

/// Command-line overrides over `base`.
pub fn apply_cli(base: Thresholds, o: &Overrides) -> Thresholds {
    Thresholds {
        lossless_mean: o.lossless_mean.unwrap_or(base.lossless_mean),
        lossless_max: o.lossless_max.unwrap_or(base.lossless_max),
        lossy_mean: o.lossy_mean.unwrap_or(base.lossy_mean),
        lossy_fail_mean: o.lossy_fail_mean.unwrap_or(base.lossy_fail_mean),
    }
}

/// The thresholds for a config: CLI > the features' own > `[thresholds]` > defaults.
pub fn thresholds_for(registry: &Registry, features: &[String], o: &Overrides) -> Thresholds {
    apply_cli(registry.thresholds_for(features), o)
}
