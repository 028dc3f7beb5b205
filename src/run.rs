//! `compat run`.
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct RunArgs {}

pub fn run(_args: RunArgs, _features: Option<&Path>) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
