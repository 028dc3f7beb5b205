//! The command line (DESIGN §2): parse, dispatch, turn errors into exit codes.

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
pub struct Cli {
    /// The feature registry [default: ./features.toml, else the built-in copy]
    #[arg(long = "features", global = true, value_name = "PATH")]
    pub features: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the matrix: one backend batch per configuration
    Run(Box<crate::run::RunArgs>),
    /// Print the feature registry as a table, with GPU needs
    Features,
    /// The embedded reference engine (a CPU diffusion backend; started by `run`)
    Generate(crate::reference::GenerateArgs),
    /// Judge a results directory: metrics, timing, PASS/WARN/FAIL/ERROR/SKIP
    Analyze(crate::analysis::AnalyzeArgs),
    /// Compare report.json files: per-config verdicts, --best, a regression gate
    Compare(crate::compare::CompareArgs),
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
        Command::Run(args) => crate::run::run(*args, features),
        Command::Features => crate::features_table::print(features),
        Command::Analyze(args) => crate::analysis::command(args, features),
        Command::Compare(args) => crate::compare::command(args),
        Command::Generate(args) => {
            crate::reference::main(args)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
