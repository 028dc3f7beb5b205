//! `compat analyze`: its flags (also flattened into `compat run --analyze`)
//! and their resolution into an [`AnalyzePlan`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::analysis::{self, AnalyzePlan, FailOn, Overrides};
use crate::exit::{bad_input, usage};
use crate::registry::Registry;
use crate::report::export::Exports;

/// How strict the exit code is.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOnArg {
    /// Exit 1 on FAIL or ERROR (the default).
    Fail,
    /// Exit 1 on WARN too.
    Warn,
}

/// Every `compat analyze` flag except the directory; `compat run --analyze`
/// flattens it too.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AnalyzeFlags {
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
    pub fail_on: Option<FailOnArg>,
    /// Write a JUnit XML file: one testcase per config
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary (for $GITHUB_STEP_SUMMARY or a PR comment)
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Print report.json to stdout instead of the table
    #[arg(long)]
    pub json: bool,
    /// Draw chart_quality.png, chart_speedgain.png and chart_tradeoff.png
    #[arg(long)]
    pub charts: bool,
    /// Write diff_report.html
    #[arg(long)]
    pub html: bool,
    /// Metric plugins to run, by `[metrics.NAME]` name (docs/metrics.md); `none` runs none
    /// [default: those features.toml enables]
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    pub metrics: Option<Vec<String>>,
    /// The trade-off chart's quality axis: a metric plugin's name instead of MeanDiff
    #[arg(long, value_name = "NAME")]
    pub tradeoff_metric: Option<String>,
    /// Templates directory overriding the built-in HTML templates
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

impl AnalyzeFlags {
    /// The plan for `dir`, validated: thresholds, and the outputs' places
    /// (checked before any work, so a typo never costs a whole analysis).
    pub fn plan(&self, dir: PathBuf) -> anyhow::Result<AnalyzePlan> {
        if let Some(t) = self.templates.as_ref().filter(|t| !t.is_dir()) {
            return Err(usage(format!(
                "--templates {}: not a directory",
                t.display()
            )));
        }
        for (flag, path) in [("--junit", &self.junit), ("--markdown", &self.markdown)] {
            let Some(path) = path else { continue };
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            if parent.is_some_and(|p| !p.is_dir()) || path.is_dir() {
                return Err(usage(format!(
                    "{flag} {}: {}",
                    path.display(),
                    if path.is_dir() {
                        "is a directory"
                    } else {
                        "its folder does not exist"
                    }
                )));
            }
        }
        let overrides = Overrides::new([
            ("--lossless-mean-threshold", self.lossless_mean_threshold),
            ("--lossless-max-threshold", self.lossless_max_threshold),
            ("--lossy-mean-threshold", self.lossy_mean_threshold),
            ("--lossy-fail-threshold", self.lossy_fail_threshold),
        ])
        .map_err(bad_input)?;
        Ok(AnalyzePlan {
            dir,
            overrides,
            fail_on: match self.fail_on {
                Some(FailOnArg::Warn) => FailOn::Warn,
                Some(FailOnArg::Fail) | None => FailOn::Fail,
            },
            exports: Exports {
                json: self.json,
                junit: self.junit.clone(),
                markdown: self.markdown.clone(),
                charts: self.charts,
                html: self.html,
                templates: self.templates.clone(),
                tradeoff_metric: self.tradeoff_metric.clone(),
            },
            metrics: self.metrics.clone(),
        })
    }

    /// Whether any flag asks for the analysis (`run` analyses then).
    pub fn wanted(&self) -> bool {
        self.charts || self.html || self.junit.is_some() || self.markdown.is_some()
    }
}

/// `compat analyze`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AnalyzeArgs {
    /// The results directory [default: the newest run under ./compat_results]
    #[arg(long, value_name = "DIR")]
    pub results_dir: Option<PathBuf>,
    #[command(flatten)]
    pub flags: AnalyzeFlags,
}

/// `compat analyze`: the directory from `--results-dir`, else the newest run
/// under `./compat_results`.
pub fn command(args: AnalyzeArgs, features: Option<&Path>) -> anyhow::Result<ExitCode> {
    let dir = match args.results_dir {
        Some(d) => d,
        None => {
            let dir = analysis::newest_run(Path::new("compat_results"))?;
            // Several runs may be there: say which one is judged.
            eprintln!(
                "analyzing {} (the newest run under compat_results; --results-dir to choose)",
                dir.display()
            );
            dir
        }
    };
    // A live run's folder holds configurations still running: judged now,
    // they would be ERROR "killed while it ran", and the report would
    // outlive the run. `run --analyze` analyses after its own run, not here.
    if let Some(holder) = crate::runner::lock::holder(&dir) {
        return Err(usage(format!(
            "{} is being written by a compat run ({holder}) — analyze it when that run has finished (or use `compat run ... --analyze`)",
            dir.display()
        )));
    }
    let plan = args.flags.plan(dir)?;
    let registry = Registry::locate(features)?;
    analysis::run(&plan, &registry)
}
