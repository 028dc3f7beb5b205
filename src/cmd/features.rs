//! `compat features`: the registry as a table.

use std::path::Path;
use std::process::ExitCode;

use crate::registry::Registry;

pub fn command(features: Option<&Path>) -> anyhow::Result<ExitCode> {
    let registry = Registry::locate(features)?;
    print!("{}", crate::features_table::render(&registry));
    Ok(ExitCode::SUCCESS)
}
