//! What `compat analyze` (and `compat run --analyze`) is asked to do, resolved
//! from the command line by `cmd::analyze` before any work starts.

use std::path::PathBuf;

use crate::report::export::Exports;

/// How strict the exit code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailOn {
    /// Exit 1 on FAIL or ERROR (the default).
    #[default]
    Fail,
    /// Exit 1 on WARN too.
    Warn,
}

/// Threshold overrides from the command line; `None` keeps the registry's.
/// Checked finite and non-negative when built ([`Overrides::new`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Overrides {
    pub lossless_mean: Option<f64>,
    pub lossless_max: Option<f64>,
    pub lossy_mean: Option<f64>,
    pub lossy_fail_mean: Option<f64>,
}

/// A threshold that is not a non-negative number.
#[derive(Debug, thiserror::Error)]
#[error("{flag} must be a non-negative number, got {value}")]
pub struct BadThreshold {
    pub flag: &'static str,
    pub value: f64,
}

impl Overrides {
    /// `(flag, value)` pairs in the order lossless mean, lossless max, lossy
    /// mean, lossy fail mean; the flag names the value in errors.
    pub fn new(values: [(&'static str, Option<f64>); 4]) -> Result<Overrides, BadThreshold> {
        for (flag, v) in values {
            if let Some(value) = v
                && !(value.is_finite() && value >= 0.0)
            {
                return Err(BadThreshold { flag, value });
            }
        }
        let [a, b, c, d] = values.map(|(_, v)| v);
        Ok(Overrides {
            lossless_mean: a,
            lossless_max: b,
            lossy_mean: c,
            lossy_fail_mean: d,
        })
    }
}

/// One analysis: which folder, which thresholds, what to export.
#[derive(Debug, Clone, Default)]
pub struct AnalyzePlan {
    /// The results directory.
    pub dir: PathBuf,
    pub overrides: Overrides,
    pub fail_on: FailOn,
    pub exports: Exports,
    /// `--metrics a,b`: the metric plugins to run; None: those the registry
    /// enables (docs/metrics.md).
    pub metrics: Option<Vec<String>>,
}
