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
    /// Ask the installed engine (the backend's probe) which features it
    /// supports for the model, beside what features.toml says
    #[arg(long)]
    pub probe: bool,
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
    if args.probe {
        return probe_table(&registry, backend, &model);
    }
    print!(
        "{}",
        crate::features_table::render(&registry, &backend.name, &model)
    );
    Ok(ExitCode::SUCCESS)
}

/// `--probe`: every feature with flags for this backend, the installed
/// engine's word beside the registry's. Exit 2 (the input: no engine here)
/// when none answered.
fn probe_table(
    registry: &Registry,
    backend: &crate::registry::Backend,
    model: &str,
) -> anyhow::Result<ExitCode> {
    let settings = crate::settings::Settings {
        model: model.to_string(),
        ..crate::settings::Settings::default()
    };
    let ids: Vec<String> = registry.features.iter().map(|f| f.id.clone()).collect();
    let request = super::probe::request(registry, backend, &ids, &settings);
    let outcome = super::probe::ask(registry, backend, &request, crate::probe::TIMEOUT);
    println!(
        "backend {}, model {model}: engine {}",
        backend.name,
        outcome.describe()
    );
    let Some(answer) = outcome.answer() else {
        eprintln!(
            "error: no engine answered for backend '{}': install it here, or see `compat features --backend {}` for features.toml's table",
            backend.name, backend.name
        );
        return Ok(ExitCode::from(crate::exit::USAGE));
    };
    let rows = registry.features.iter().map(|f| {
        let registry_says = match f.unsupported_on(&backend.name, model) {
            Some(why) => format!("SKIP: {why}"),
            None => "runs".to_string(),
        };
        let engine_says = match (answer.knows(&f.id), answer.unsupported(&f.id)) {
            (false, _) => "not asked (no flags)".to_string(),
            (true, None) => "supported".to_string(),
            (true, Some(why)) => format!("SKIP: {why}"),
        };
        vec![
            f.id.clone(),
            f.args_for(&backend.name).join(" "),
            engine_says,
            registry_says,
        ]
    });
    let table =
        crate::text_table::Table::new(["feature", "flags", "engine says", "features.toml says"])
            .rule(crate::text_table::Rule::PerColumn)
            .rows(rows);
    print!("{}", table.render());
    for n in &answer.notes {
        println!("note: {n}");
    }
    println!("\n`compat run` follows the engine where it answered, features.toml elsewhere.");
    Ok(ExitCode::SUCCESS)
}
