//! `compat history`: its flags and their resolution into a [`HistoryPlan`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use crate::history::{self, HistoryPlan};

const HELP: &str = "\
RUNS are report.json files, run folders, or folders holding many (a CI
artifact tree): every report.json below them is read. Runs are ordered by
their report's `generated` time (ties: the run's start, then the path).
Runs with different settings (backend, model, steps, size, prompts, seed)
are separate series, never mixed.

Changes: status transitions; flaky configurations (at least 2 bounces: a
stretch of failing or passing nights of at most 3 nights, or one that ends on
the same engine commit it began on); speed, quality (MeanDiff) and memory
level shifts, found by fitting levels (docs/history.md). Each names its last
good and first bad run with their engine builds.

`compat history add REPORT --out DIR` adds tonight's report to a dashboard
folder: DIR/history.json holds every earlier run, so the old reports are not
needed.

Exit codes: 0; 1 with --fail-on-new-regression when the newest run brought a
regression (not a flaky config, not an old failure); 2 bad input; 3 an output
could not be written.";

/// `compat history`.
#[derive(clap::Args, Debug, Clone)]
#[command(
    after_long_help = HELP,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub add: Option<Sub>,
    /// report.json files, run folders, or trees of them
    #[arg(required = true, value_name = "RUNS")]
    pub runs: Vec<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum Sub {
    /// Add report(s) to a history folder (its history.json holds the earlier runs)
    Add(AddArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct AddArgs {
    /// Tonight's report.json (or its run folder)
    #[arg(required = true, value_name = "REPORT")]
    pub reports: Vec<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Common {
    /// Write the dashboard folder: index.html and history.json
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write a Markdown summary (for $GITHUB_STEP_SUMMARY)
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Print history.json to stdout instead of the summary
    #[arg(long)]
    pub json: bool,
    /// Only runs generated on or after DATE (2026-11-01 or an RFC 3339 time)
    #[arg(long, value_name = "DATE", value_parser = parse_since)]
    pub since: Option<SystemTime>,
    /// Exit 1 when the newest run brought a regression
    #[arg(long)]
    pub fail_on_new_regression: bool,
}

/// "2026-11-01" (midnight UTC) or an RFC 3339 time.
pub fn parse_since(s: &str) -> Result<SystemTime, String> {
    let t = s.trim();
    let full = if t.len() == 10 {
        format!("{t}T00:00:00Z")
    } else {
        t.to_string()
    };
    humantime::parse_rfc3339_weak(&full)
        .map_err(|e| format!("'{s}' is not a date (write 2026-11-01 or 2026-11-01T12:00:00Z): {e}"))
}

pub fn command(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let (inputs, add, c) = match args.add {
        Some(Sub::Add(a)) => (a.reports, true, a.common),
        None => (args.runs, false, args.common),
    };
    if add && c.out.is_none() {
        return Err(crate::exit::usage(
            "`compat history add` needs --out DIR (the folder holding history.json)",
        ));
    }
    if add && c.since.is_some() {
        // history.json is the folder's only copy of the older runs.
        return Err(crate::exit::usage(
            "`compat history add` keeps every run; --since would drop the older ones from history.json for good",
        ));
    }
    if let Some(md) = &c.markdown
        && let Some(dir) = md.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(crate::exit::usage(format!(
            "--markdown {}: folder {} does not exist",
            md.display(),
            dir.display()
        )));
    }
    history::run(&HistoryPlan {
        inputs,
        add,
        out: c.out,
        markdown: c.markdown,
        json: c.json,
        since: c.since,
        fail_on_new_regression: c.fail_on_new_regression,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_since;

    #[test]
    fn dates() {
        assert!(parse_since("2026-11-01").is_ok());
        assert!(parse_since("2026-11-01T12:00:00Z").is_ok());
        assert!(parse_since("yesterday").is_err());
        assert!(parse_since("2026-13-01").is_err());
    }
}
