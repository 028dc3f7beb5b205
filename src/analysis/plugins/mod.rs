//! Metric plugins (docs/metrics.md): each chosen `[metrics.NAME]` runs once
//! per analysis over every judged image, handed over by path; its values
//! are checked here and judged in [`super::judge`]. A plugin that cannot
//! start, crashes, hangs or lies costs its own values, with a note, never
//! the report.

pub(crate) mod judge;
mod process;
pub mod protocol;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use super::images::PromptCompare;
use crate::registry::{MetricKind, MetricPlugin, Registry};
use crate::report::model::MetricRun;
use crate::results::reader::RunDir;
use protocol::Item;

/// Which plugins `analyze` runs: `--metrics a,b`, else those the registry
/// enables. `none` (alone) runs none.
pub fn chosen(registry: &Registry, names: Option<&[String]>) -> Result<Vec<MetricPlugin>, String> {
    let Some(names) = names else {
        return Ok(registry
            .metrics
            .iter()
            .filter(|m| m.enabled)
            .cloned()
            .collect());
    };
    if names.iter().all(|n| n == "none") {
        return Ok(Vec::new());
    }
    let mut out: Vec<MetricPlugin> = Vec::new();
    for name in names {
        let Some(m) = registry.metric(name) else {
            let known: Vec<&str> = registry.metrics.iter().map(|m| m.name.as_str()).collect();
            return Err(match crate::registry::did_you_mean(name, &known) {
                Some(s) => format!("--metrics: unknown metric '{name}' — did you mean '{s}'?"),
                None if known.is_empty() => format!(
                    "--metrics: unknown metric '{name}' — {} defines no [metrics.NAME] (docs/metrics.md)",
                    registry.source
                ),
                None => format!(
                    "--metrics: unknown metric '{name}' — metrics in {}: {}",
                    registry.source,
                    known.join(", ")
                ),
            });
        };
        if !out.iter().any(|o| o.name == m.name) {
            out.push(m.clone());
        }
    }
    Ok(out)
}

/// One plugin's outcome.
pub(crate) struct Outcome {
    pub plugin: MetricPlugin,
    /// (config index, prompt) → the value, or why there is none.
    pub values: BTreeMap<(usize, usize), Result<f64, String>>,
    /// Why it gave no values at all.
    pub failed: Option<String>,
}

/// Every plugin's outcome, and what each did for the report.
#[derive(Default)]
pub(crate) struct Measured {
    pub outcomes: Vec<Outcome>,
    pub runs: Vec<MetricRun>,
}

/// Runs each plugin over the run's judged images, one after the other (each
/// loads a network; two at once would compete for the same device).
pub(crate) fn measure(
    run: &RunDir,
    compared: &[Vec<PromptCompare>],
    plugins: &[MetricPlugin],
) -> Measured {
    let mut measured = Measured::default();
    for plugin in plugins {
        let keyed = items(run, compared, plugin.kind);
        eprintln!(
            "metric {}: measuring {} image(s)…",
            plugin.name,
            keyed.len()
        );
        let started = Instant::now();
        let result = run_one(plugin, &keyed);
        let seconds = started.elapsed().as_secs_f64();
        let (outcome, mut run_row) = collect(plugin, &keyed, result);
        run_row.seconds = seconds;
        match &run_row.error {
            None => eprintln!(
                "metric {}: {} of {} value(s) in {seconds:.1} s",
                plugin.name, run_row.values, run_row.items
            ),
            Some(e) => eprintln!(
                "metric {}: no values after {seconds:.1} s: {e}",
                plugin.name
            ),
        }
        measured.outcomes.push(outcome);
        measured.runs.push(run_row);
    }
    measured
}

/// The images a plugin of `kind` measures, with their (config, prompt):
/// every image compat compared without error (so none leaves the results
/// folder or breaks the decode limits), and for "prompt" plugins the
/// baseline's own images too, whose scores the others are judged against.
fn items(
    run: &RunDir,
    compared: &[Vec<PromptCompare>],
    kind: MetricKind,
) -> Vec<(usize, usize, Item)> {
    let Some(b) = run.baseline else {
        return Vec::new();
    };
    let abs = |p: &Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let prompt = |i: usize| run.prompts.get(i).cloned().unwrap_or_default();
    let mut out = Vec::new();
    for (ci, c) in run.configs.iter().enumerate() {
        if c.skip_reason.is_some() || c.dir.is_none() {
            continue;
        }
        for i in 0..run.num_prompts {
            let cmp = compared.get(ci).and_then(|v| v.get(i));
            let good = if ci == b {
                // The baseline is compared with nothing; its image is good
                // when it is there and decoded (an error is recorded).
                kind == MetricKind::Prompt
                    && cmp.is_some_and(|c| c.base.is_none())
                    && c.image_path(i).is_some_and(|p| p.is_file())
            } else {
                cmp.is_some_and(|c| matches!(c.base, Some(Ok(_))))
            };
            let Some(image) = c.image_path(i).filter(|_| good) else {
                continue;
            };
            let reference = match kind {
                MetricKind::Pair => run.configs[b].image_path(i).map(|p| abs(&p)),
                MetricKind::Prompt => None,
            };
            out.push((
                ci,
                i,
                Item {
                    index: out.len(),
                    config: c.name.clone(),
                    prompt_index: i,
                    prompt: prompt(i),
                    image: abs(&image),
                    reference,
                },
            ));
        }
    }
    out
}

/// Writes the items, runs the plugin, reads its answer.
fn run_one(
    plugin: &MetricPlugin,
    keyed: &[(usize, usize, Item)],
) -> Result<protocol::Answer, String> {
    if keyed.is_empty() {
        return Ok(protocol::Answer::default());
    }
    let scratch = process::Scratch::new(&plugin.name)
        .map_err(|e| format!("cannot make a folder for the plugin: {e}"))?;
    let items_path = scratch.path().join("items.jsonl");
    let values_path = scratch.path().join("values.jsonl");
    let mut text = String::new();
    for (_, _, item) in keyed {
        let line = serde_json::to_string(item).map_err(|e| e.to_string())?;
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(&items_path, text).map_err(|e| format!("cannot write the items: {e}"))?;
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "compat".into());
    let value = |name: &str| -> Option<String> {
        Some(match name {
            "items" => items_path.display().to_string(),
            "values" => values_path.display().to_string(),
            "compat" => exe.clone(),
            "metric" => plugin.name.clone(),
            _ => return None,
        })
    };
    let argv: Vec<String> = plugin
        .command
        .iter()
        .map(|a| crate::settings::substitute(a, &value))
        .collect();
    process::run(&argv, &scratch.path().join("output.log"), plugin.timeout)
        .map_err(|f| f.to_string())?;
    let answer = read_limited(&values_path)
        .map_err(|e| format!("exited 0 but its values cannot be read: {e}"))?;
    Ok(protocol::read_answer(&answer, keyed.len()))
}

/// The values file, at most 64 MiB (far beyond a value per image).
fn read_limited(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(64 << 20)
        .read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The answer mapped back to (config, prompt), and the report's row.
fn collect(
    plugin: &MetricPlugin,
    keyed: &[(usize, usize, Item)],
    result: Result<protocol::Answer, String>,
) -> (Outcome, MetricRun) {
    let mut row = MetricRun {
        name: plugin.name.clone(),
        label: plugin.label.clone(),
        kind: plugin.kind,
        better: plugin.better,
        items: keyed.len(),
        values: 0,
        seconds: 0.0,
        error: None,
        notes: Vec::new(),
        plugin: None,
    };
    let mut values = BTreeMap::new();
    let failed = match result {
        Err(why) => {
            let why = format!("{} not measured: the plugin {why}", plugin.name);
            row.error = Some(why.clone());
            Some(why)
        }
        Ok(answer) => {
            for (ci, i, item) in keyed {
                let v = match answer.values.get(&item.index) {
                    Some(v) => Ok(*v),
                    None => Err(answer
                        .missing
                        .get(&item.index)
                        .cloned()
                        .unwrap_or_else(|| "no value".into())),
                };
                values.insert((*ci, *i), v);
            }
            row.values = answer.values.len();
            row.notes = answer.notes;
            row.plugin = answer.settings;
            None
        }
    };
    (
        Outcome {
            plugin: plugin.clone(),
            values,
            failed,
        },
        row,
    )
}
