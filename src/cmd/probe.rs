//! The probe of a run (docs/probe.md): which features to ask about, with
//! which flags, and the embedded reference engine's own answer.

use std::collections::BTreeMap;
use std::path::Path;

use super::run::RunArgs;
use crate::probe::{self, Answer, EngineInfo, Outcome, Request, Support};
use crate::registry::{Backend, Registry};
use crate::settings::Settings;
use crate::text::one_line;

/// The request for `features` on `backend`: each feature with the flags
/// compat would pass. A feature with no flags on this backend is left out:
/// the registry already SKIPs it, and an engine asked about no flags would
/// say "supported" of the baseline.
pub(super) fn request<'a>(
    registry: &Registry,
    backend: &Backend,
    features: impl IntoIterator<Item = &'a String>,
    settings: &Settings,
) -> Request {
    let features = features
        .into_iter()
        .filter_map(|id| registry.feature(id))
        .filter(|f| !f.args_for(&backend.name).is_empty())
        .map(|f| (f.id.clone(), f.args_for(&backend.name).to_vec()))
        .collect();
    Request {
        protocol: probe::PROTOCOL,
        model: settings.model.clone(),
        features,
        settings: settings.clone(),
    }
}

/// Asks `backend`'s engine: the embedded engine answers in process, a
/// backend with a `probe` argv runs it, any other has no answer.
pub(super) fn ask(
    registry: &Registry,
    backend: &Backend,
    request: &Request,
    timeout: std::time::Duration,
) -> Outcome {
    if backend.builtin.as_deref() == Some("reference") {
        // Its parser knows its flags, not its limits per model: those stay
        // the registry's (the engine is compiled in, so they cannot drift).
        let mut outcome = answer(request);
        if let Outcome::Answered(a) = &mut outcome {
            for (id, support) in a.features.iter_mut() {
                if *support == Support::Supported
                    && let Some(why) = registry
                        .feature(id)
                        .and_then(|f| f.unsupported_on(&backend.name, &request.model))
                {
                    *support = Support::Unsupported(why);
                }
            }
        }
        return outcome;
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| Path::new("compat").to_path_buf());
    probe::run(backend, request, &exe, timeout)
}

impl RunArgs {
    /// The run's probe: every feature of the run (baseline feature and
    /// addons), unless `--no-probe`. Its outcome is shown on stderr.
    pub(super) fn probe(
        &self,
        registry: &Registry,
        backend: &Backend,
        settings: &Settings,
    ) -> Outcome {
        let outcome = if self.no_probe {
            Outcome::Unavailable("--no-probe".to_string())
        } else {
            let request = request(
                registry,
                backend,
                self.baseline.iter().chain(&self.addons),
                settings,
            );
            ask(registry, backend, &request, self.probe_timeout)
        };
        eprintln!("engine: {}", outcome.describe());
        if let Some(a) = outcome.answer() {
            for n in &a.notes {
                eprintln!("note: {}: {n}", a.engine.label());
            }
        }
        outcome
    }
}

/// The embedded reference engine answers for itself, in process: each
/// feature's flags go through `compat generate`'s own parser, so a flag it
/// does not have is refused in the parser's words, as a released engine's
/// probe refuses with its own.
fn answer(request: &Request) -> Outcome {
    use clap::Parser;
    #[derive(Parser)]
    #[command(name = "compat generate", no_binary_name = true)]
    struct Generate {
        #[command(flatten)]
        args: super::generate::GenerateArgs,
    }
    let mut features = BTreeMap::new();
    for (name, flags) in &request.features {
        let mut argv = vec![
            "--prompt-file".to_string(),
            "p".into(),
            "--output".into(),
            "o".into(),
        ];
        argv.extend(flags.iter().cloned());
        let support = match Generate::try_parse_from(&argv) {
            Ok(_) => Support::Supported,
            Err(e) => Support::Unsupported(
                e.to_string()
                    .lines()
                    .find(|l| l.starts_with("error:"))
                    .map(|l| one_line(l.trim_start_matches("error:")))
                    .unwrap_or_else(|| "its flags do not parse".to_string()),
            ),
        };
        features.insert(name.clone(), support);
    }
    Outcome::Answered(Answer {
        engine: EngineInfo {
            engine: "compat-reference".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            commit: None,
            install: Some("builtin".to_string()),
        },
        features,
        notes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::PROTOCOL;

    #[test]
    fn the_reference_engine_refuses_a_flag_it_does_not_have() {
        let request = Request {
            protocol: PROTOCOL,
            model: "m".into(),
            features: [
                (
                    "teacache".to_string(),
                    vec!["--cache-backend".to_string(), "tea_cache".into()],
                ),
                ("warp".to_string(), vec!["--warp-drive".to_string()]),
            ]
            .into_iter()
            .collect(),
            settings: crate::settings::Settings {
                model: "m".into(),
                steps: 2,
                height: 64,
                width: 64,
                cfg_scale: 4.0,
                guidance_scale: None,
                seed: 1,
                negative_prompt: String::new(),
                warmup: 1,
            },
        };
        let Outcome::Answered(a) = answer(&request) else {
            panic!("the reference engine always answers")
        };
        assert_eq!(a.unsupported("teacache"), None);
        let why = a.unsupported("warp").unwrap();
        assert!(why.contains("--warp-drive"), "{why}");
    }
}
