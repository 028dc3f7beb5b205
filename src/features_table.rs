//! `compat features`: the registry as a table.

use std::path::Path;
use std::process::ExitCode;

pub fn print(features: Option<&Path>) -> anyhow::Result<ExitCode> {
    let registry = crate::registry::Registry::locate(features)?;
    for f in &registry.features {
        println!("{} {}", f.id, f.gpus);
    }
    Ok(ExitCode::SUCCESS)
}
