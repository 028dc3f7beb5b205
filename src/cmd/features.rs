//! `compat features`: the registry as a table.

use std::path::Path;
use std::process::ExitCode;

use crate::exit::usage;
use crate::registry::Registry;

#[derive(Debug, clap::Args)]
pub struct FeaturesArgs {
    /// Show this backend's flags and what it cannot do (default: the registry's default backend)
    #[arg(long, value_name = "NAME")]
    pub backend: Option<String>,
    /// The model whose limits apply (default: the backend's model)
    #[arg(long, value_name = "ID")]
    pub model: Option<String>,
}

pub fn command(args: FeaturesArgs, features: Option<&Path>) -> anyhow::Result<ExitCode> {
    let registry = Registry::locate(features)?;
    let name = args
        .backend
        .unwrap_or_else(|| registry.default_backend.clone());
    let backend = registry
        .backend(&name)
        .ok_or_else(|| usage(registry.unknown_backend(&name)))?;
    let model = args
        .model
        .or_else(|| backend.model.clone())
        .unwrap_or_default();
    print!(
        "{}",
        crate::features_table::render(&registry, &backend.name, &model)
    );
    Ok(ExitCode::SUCCESS)
}
