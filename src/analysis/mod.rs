//! `compat analyze` (DESIGN §7): load a results directory, compare every
//! image against the pure baseline, take timing statistics, apply the status
//! rules, and export the [`crate::report::Report`].

use std::path::PathBuf;

/// How strict the exit code is.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    /// Exit 1 on FAIL or ERROR (the default).
    Fail,
    /// Exit 1 on WARN too.
    Warn,
}

/// Every `compat analyze` flag except the directory; `compat run --analyze`
/// flattens it too.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AnalyzeOptions {
    /// Lossless configs FAIL when mean MeanDiff exceeds this [default: registry, else 0.02]
    #[arg(long, value_name = "X")]
    pub lossless_mean_threshold: Option<f64>,
    /// Lossless configs FAIL when mean MaxDiff exceeds this [default: registry, else 0.2]
    #[arg(long, value_name = "X")]
    pub lossless_max_threshold: Option<f64>,
    /// Lossy configs WARN when mean MeanDiff exceeds this [default: registry, else 0.15]
    #[arg(long, value_name = "X")]
    pub lossy_mean_threshold: Option<f64>,
    /// Lossy configs FAIL when mean MeanDiff exceeds this [default: registry, else 0.30]
    #[arg(long, value_name = "X")]
    pub lossy_fail_threshold: Option<f64>,
    /// Exit 1 on WARN as well as on FAIL and ERROR
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub fail_on: Option<FailOn>,
    /// Write a JUnit XML file: one testcase per config
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary (for $GITHUB_STEP_SUMMARY or a PR comment)
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Print report.json to stdout instead of the table
    #[arg(long)]
    pub json: bool,
    /// Draw chart_quality.png and chart_speedgain.png
    #[arg(long)]
    pub charts: bool,
    /// Write diff_report.html
    #[arg(long)]
    pub html: bool,
    /// Templates directory overriding the built-in HTML templates
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

/// `compat analyze`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AnalyzeArgs {
    /// The results directory [default: the newest run under ./compat_results]
    #[arg(long, value_name = "DIR")]
    pub results_dir: Option<PathBuf>,
    #[command(flatten)]
    pub opts: AnalyzeOptions,
}
