//! `compat compare`: its flags and their resolution into a [`ComparePlan`].

use std::path::PathBuf;
use std::process::ExitCode;

use crate::compare::{self, ComparePlan, Rules};

const RULES_HELP: &str = "\
Verdict rules (each report against the first, per config):
  Speed is the mean generation time per image (mean_gen_time_ms), not the
  speedup: an engine-wide optimisation speeds up the baseline too and would be
  invisible in speedups. Each side's noise is its speedup interval mapped onto
  time, [T*S/hi, T*S/lo]. Improved: B's interval lies wholly below A's and the
  time fell by more than --noise. Regressed: wholly above and rose by more
  than --noise. Otherwise Unchanged. Without a speedup interval (the pure
  baseline) the per-prompt times of both reports are bootstrapped instead;
  with fewer than 2 timings the point change alone is held against --noise.
  Status dominates: PASS < WARN < FAIL < ERROR; worse is Regressed, better is
  Improved. SKIP on one side only is NotComparable, never a regression.
  A config only in B is New, only in A Missing.
Gate (--fail-on-regression, exit 1): a worse status; a slowdown beyond
  --max-slowdown whose intervals do not overlap; a config Missing that was
  PASS or WARN.
Refused (exit 2) unless --force: different model, steps, size or prompts, or an
  unknown report schema version.";

/// `compat compare`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_long_help = RULES_HELP)]
pub struct CompareArgs {
    /// report.json files (or results directories holding one); the first is the reference
    #[arg(required = true, num_args = 2.., value_name = "REPORT")]
    pub reports: Vec<PathBuf>,
    /// Show the fastest PASS config per report, over all, and per GPU count
    #[arg(long)]
    pub best: bool,
    /// With --best, WARN configs are eligible too
    #[arg(long)]
    pub allow_warn: bool,
    /// Print the comparison as JSON to stdout instead of the table
    #[arg(long)]
    pub json: bool,
    /// Write a Markdown comparison (for a PR comment)
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Exit 1 when a config regressed in status, slowed beyond --max-slowdown, or vanished
    #[arg(long)]
    pub fail_on_regression: bool,
    /// The gate's slowdown limit: "5%" or "0.05"
    #[arg(long, value_name = "FRACTION", default_value = "5%", value_parser = parse_fraction)]
    pub max_slowdown: f64,
    /// Time changes at most this large are Unchanged: "2%" or "0.02"
    #[arg(long, value_name = "FRACTION", default_value = "2%", value_parser = parse_fraction)]
    pub noise: f64,
    /// Compare reports whose workloads or schema versions differ, with a warning
    #[arg(long)]
    pub force: bool,
}

/// "5%" → 0.05, "0.05" → 0.05. A bare number above 1 is refused: "5" could
/// mean 5% or 500%, and a gate must not guess.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, pct) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (t, false),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a fraction; write 5% or 0.05"))?;
    let v = if pct { v / 100.0 } else { v };
    if !v.is_finite() || v < 0.0 {
        return Err(format!("'{s}' must be a non-negative fraction"));
    }
    if !pct && v > 1.0 {
        return Err(format!("'{s}' is ambiguous; write {s}% or {}", v / 100.0));
    }
    Ok(v)
}

impl CompareArgs {
    fn plan(self) -> ComparePlan {
        ComparePlan {
            reports: self.reports,
            best: self.best.then_some(self.allow_warn),
            json: self.json,
            markdown: self.markdown,
            fail_on_regression: self.fail_on_regression,
            rules: Rules {
                noise: self.noise,
                max_slowdown: self.max_slowdown,
            },
            force: self.force,
        }
    }
}

pub fn command(args: CompareArgs) -> anyhow::Result<ExitCode> {
    compare::run(&args.plan())
}

#[cfg(test)]
mod tests {
    use super::parse_fraction;

    #[test]
    fn fractions() {
        assert_eq!(parse_fraction("5%"), Ok(0.05));
        assert_eq!(parse_fraction("0.05"), Ok(0.05));
        assert_eq!(parse_fraction(" 12.5 % "), Ok(0.125));
        assert!(parse_fraction("5").is_err());
        assert!(parse_fraction("-1%").is_err());
        assert!(parse_fraction("fast").is_err());
    }
}
