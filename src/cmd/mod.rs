//! The command line (DESIGN §2): one file per subcommand, each holding its
//! clap struct and the resolution of its flags into a plain, validated plan
//! before any work starts (ripgrep's args → settings). No stage imports this
//! module or clap: the plans are the stages' own types.

mod analyze;
mod compare;
mod features;
mod generate;
mod history;
mod probe;
mod run;
mod run_resolve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit;

#[derive(Debug, Parser)]
#[command(
    name = "compat",
    version,
    about = "Compatibility test matrix for diffusion serving engines",
    long_about = "Expands a feature registry into GPU-budgeted configurations, runs a \
                  text-to-image batch per configuration, and judges each against a pure \
                  baseline: speedup and per-pixel difference, PASS/WARN/FAIL/ERROR/SKIP."
)]
struct Cli {
    /// The feature registry [default: ./features.toml, else the built-in copy]
    #[arg(long = "features", global = true, value_name = "PATH")]
    features: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the matrix: one backend batch per configuration
    Run(Box<run::RunArgs>),
    /// Print the feature registry as a table, with GPU needs
    Features(features::FeaturesArgs),
    /// The embedded reference engine (a CPU diffusion backend; started by `run`)
    Generate(generate::GenerateArgs),
    /// Judge a results directory: metrics, timing, PASS/WARN/FAIL/ERROR/SKIP
    Analyze(analyze::AnalyzeArgs),
    /// Compare report.json files: per-config verdicts, --best, a regression gate
    Compare(compare::CompareArgs),
    /// Many nights of reports: series per config, what broke and when, a dashboard
    History(history::HistoryArgs),
}

/// Parses the command line, runs the command, returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("Error: {err:#}");
            exit::code_for(&err)
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let features = cli.features.as_deref();
    match cli.command {
        Command::Run(args) => run::command(*args, features),
        Command::Features(args) => features::command(args, features),
        Command::Analyze(args) => analyze::command(args, features),
        Command::Compare(args) => compare::command(args),
        Command::History(args) => history::command(args),
        Command::Generate(args) => generate::command(args),
    }
}
