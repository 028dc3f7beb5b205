//! `compat analyze` (DESIGN §7): read a results directory, compare every
//! image against the pure baseline, take timing statistics, apply the status
//! rules, and hand the [`crate::report::Report`] to the exporters.

mod images;
mod judge;
pub mod metrics;
mod noise;
mod parents;
mod plan;
pub mod plugins;
mod sessions;
pub mod status;
pub mod timing;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub use plan::{AnalyzePlan, BadThreshold, FailOn, Overrides};

use crate::exit::bad_input;
use crate::registry::Registry;
use crate::report::model::{Report, RunInfo, SCHEMA_VERSION, Status, Summary};
use crate::results::{self, reader};

/// Judges `plan.dir`, writes report.json and the exports, returns the exit code.
pub fn run(plan: &AnalyzePlan, registry: &Registry) -> anyhow::Result<ExitCode> {
    let plugins = chosen_plugins(plan, registry)?;
    let report = build_report_with(&plan.dir, &plan.overrides, registry, &plugins)?;
    crate::report::export::publish(&report, &plan.dir, &plan.exports)?;
    Ok(exit_code(&report, plan.fail_on))
}

/// The metric plugins `plan` runs (`--metrics`, else the registry's
/// enabled ones), checked with `--tradeoff-metric` against the registry: a
/// usage error before any work (`run --analyze` checks before the run).
pub fn chosen_plugins(
    plan: &AnalyzePlan,
    registry: &Registry,
) -> anyhow::Result<Vec<crate::registry::MetricPlugin>> {
    let plugins = plugins::chosen(registry, plan.metrics.as_deref()).map_err(crate::exit::usage)?;
    if let Some(name) = &plan.exports.tradeoff_metric
        && !plugins.iter().any(|p| &p.name == name)
    {
        let measured: Vec<&str> = plugins.iter().map(|p| p.name.as_str()).collect();
        return Err(crate::exit::usage(format!(
            "--tradeoff-metric {name}: not among the metrics this analysis measures ({}); add it to --metrics",
            if measured.is_empty() {
                "none".to_string()
            } else {
                measured.join(", ")
            }
        )));
    }
    Ok(plugins)
}

/// The newest run under `root`: the newest manifest.json mtime among
/// `root/*/` (a folder with config folders but no manifest counts by its own mtime).
pub fn newest_run(root: &Path) -> anyhow::Result<PathBuf> {
    let rd = std::fs::read_dir(root).map_err(|e| {
        crate::exit::usage(format!(
            "no --results-dir given and {} cannot be read ({e}); pass --results-dir DIR",
            root.display()
        ))
    })?;
    let stamp = |path: &Path| {
        let manifest = path.join(results::MANIFEST);
        let has_configs = || {
            std::fs::read_dir(path).is_ok_and(|rd| {
                rd.flatten().any(|e| {
                    e.path().is_dir()
                        && (e.path().join(results::CONFIG_INFO).is_file()
                            || e.file_name() == results::BASELINE)
                })
            })
        };
        let stamped = if manifest.is_file() {
            manifest
        } else if has_configs() {
            path.to_path_buf()
        } else {
            return None;
        };
        std::fs::metadata(stamped).and_then(|m| m.modified()).ok()
    };
    rd.flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter_map(|p| Some((stamp(&p)?, p)))
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p)
        .ok_or_else(|| {
            crate::exit::usage(format!(
                "no runs under {} (no folder with a manifest.json or config folders); \
                 pass --results-dir DIR",
                root.display()
            ))
        })
}

/// 1 on any FAIL or ERROR (and WARN with `--fail-on warn`), else 0.
pub fn exit_code(report: &Report, fail_on: FailOn) -> ExitCode {
    let s = &report.summary;
    let failed = s.fail > 0 || s.error > 0 || (fail_on == FailOn::Warn && s.warn > 0);
    ExitCode::from(if failed {
        crate::exit::FAILURE
    } else {
        crate::exit::SUCCESS
    })
}

/// Reads and judges `dir` into a [`Report`] (writes nothing), without
/// metric plugins.
pub fn build_report(
    dir: &Path,
    overrides: &Overrides,
    registry: &Registry,
) -> anyhow::Result<Report> {
    build_report_with(dir, overrides, registry, &[])
}

/// [`build_report`] with these metric plugins run over the images.
pub fn build_report_with(
    dir: &Path,
    overrides: &Overrides,
    registry: &Registry,
    plugins: &[crate::registry::MetricPlugin],
) -> anyhow::Result<Report> {
    let run = reader::read(dir, registry).map_err(bad_input)?;
    let parents = parents::of(&run);
    let (compared, ssim_downsample) = images::compare_all(&run, &parents);
    let steady = judge::Steady::of_all(&run);
    let floor = noise::floor(&run, &compared);
    let measured = plugins::measure(&run, &compared, plugins);
    let judge = judge::Judge {
        run: &run,
        steady: &steady,
        overrides,
        registry,
        parents: &parents,
        floor,
        measured: &measured,
    };
    let mut out: Vec<_> = (0..run.configs.len())
        .map(|ci| judge.config(ci, &compared[ci]))
        .collect();
    sessions::judge(&run, floor, &mut out);
    let mut summary = Summary {
        total: out.len(),
        ..Summary::default()
    };
    for r in &out {
        match r.compat_status {
            Status::Pass => summary.pass += 1,
            Status::Warn => summary.warn += 1,
            Status::Fail => summary.fail += 1,
            Status::Error => summary.error += 1,
            Status::Skip => summary.skip += 1,
        }
    }
    let m = run.manifest.as_ref();
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        tool: "compat".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        generated: results::now_rfc3339(),
        results_dir: dir.display().to_string(),
        layout: if m.is_some() { "compat" } else { "original" }.into(),
        registry: registry.source.clone(),
        run: RunInfo {
            backend: m.map(|m| m.backend.clone()),
            settings: m
                .map(|m| m.settings.clone())
                .or_else(|| run.original.as_ref().map(|o| o.settings())),
            devices: m.map(|m| m.devices.clone()),
            executor: m.map(|m| m.executor.clone()),
            engine_probe: m.and_then(|m| m.engine_probe.clone()),
            created: m
                .map(|m| m.created.clone())
                .or_else(|| run.original.as_ref().map(|o| o.created_at.clone())),
            prompts: run.prompts.clone(),
            num_prompts: run.num_prompts,
            concurrent: run.configs.iter().any(|c| !c.concurrent_with.is_empty()),
        },
        thresholds: status::apply_cli(registry.thresholds, overrides),
        baseline: run.baseline.map(|b| run.configs[b].name.clone()),
        baseline_feature: run.baseline_feature.map(|b| run.configs[b].name.clone()),
        ssim_downsample,
        baseline_repeat: noise::repeat_index(&run)
            .zip(floor)
            .map(|(r, f)| noise::summary(&out[r], &f)),
        metrics: measured.runs,
        bill: m.and_then(|m| crate::report::bill::of_run(m, dir)),
        summary,
        results: out,
    })
}
