//! `compat compare` (issue 6, DESIGN §1's last stage): several report.json
//! files side by side — "before optimisation / after optimisation".
//!
//! Configs are aligned by name; every report after the first is judged
//! against the first, config by config (rules in [`verdict`]): Improved,
//! Regressed, Unchanged, NotComparable (SKIP on one side), New, Missing.
//! `--best` picks the fastest PASS config (see [`best`]). Reports whose
//! workloads differ (model, steps, size, prompts) or whose schema version is
//! unknown are refused (exit 2) unless `--force`.
//!
//! Exit codes: 0 compared; 1 with `--fail-on-regression` when the gate fails;
//! 2 bad usage or input (unreadable report, refusal). Without
//! `--fail-on-regression` regressions are shown, not gated.

pub mod align;
pub mod best;
pub mod load;
pub mod model;
pub mod output;
pub mod verdict;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use model::{Change, Comparison, ConfigRow, Entry, Gate, ReportRef, ReportSummary};
pub use verdict::Rules;
use verdict::Verdict;

use crate::report::model::ConfigResult;

/// What `compat compare` is asked to do (resolved by `cmd::compare`).
#[derive(Debug, Clone, Default)]
pub struct ComparePlan {
    /// report.json files (or results directories holding one); the first is the reference.
    pub reports: Vec<PathBuf>,
    /// `Some(allow_warn)`: show the fastest eligible config per report.
    pub best: Option<bool>,
    /// The comparison as JSON on stdout instead of the table.
    pub json: bool,
    /// Where to write the Markdown comparison.
    pub markdown: Option<PathBuf>,
    /// Exit 1 when the gate fails.
    pub fail_on_regression: bool,
    pub rules: Rules,
    /// Compare reports whose workloads or schema versions differ.
    pub force: bool,
}

/// `compat compare`: load, judge, print, gate.
pub fn run(plan: &ComparePlan) -> anyhow::Result<ExitCode> {
    let cmp = build(plan)?;
    if plan.json {
        let text =
            serde_json::to_string_pretty(&cmp).context("failed to serialise the comparison")?;
        println!("{text}");
    } else {
        let color = crate::report::table::color_wanted();
        print!("{}", output::table(&cmp, color));
    }
    if let Some(path) = &plan.markdown {
        crate::results::atomic::write(path, output::markdown(&cmp).as_bytes())?;
    }
    Ok(ExitCode::from(if cmp.gate.enabled && cmp.gate.failed {
        crate::exit::FAILURE
    } else {
        crate::exit::SUCCESS
    }))
}

/// Loads the reports and builds the [`Comparison`] (prints and writes nothing).
pub fn build(plan: &ComparePlan) -> anyhow::Result<Comparison> {
    let (loaded, mut warnings) =
        load::load_all(&plan.reports, plan.force).map_err(crate::exit::bad_input)?;
    Ok(compare(
        &loaded,
        &plan.rules,
        plan.best,
        plan.fail_on_regression,
        &mut warnings,
    ))
}

/// The comparison of loaded reports; `best` is `Some(allow_warn)` for `--best`.
pub fn compare(
    loaded: &[load::Loaded],
    rules: &Rules,
    best: Option<bool>,
    gate_enabled: bool,
    warnings: &mut Vec<String>,
) -> Comparison {
    let reports: Vec<_> = loaded.iter().map(|l| &l.report).collect();
    let rows = align::align(&reports, warnings);
    let mut summary: Vec<ReportSummary> = loaded
        .iter()
        .skip(1)
        .map(|l| ReportSummary {
            report: l.label.clone(),
            ..ReportSummary::default()
        })
        .collect();
    let mut reasons = Vec::new();
    let configs = rows
        .iter()
        .map(|row| config_row(row, loaded, rules, &mut summary, &mut reasons))
        .collect();
    Comparison {
        schema_version: model::COMPARE_SCHEMA_VERSION,
        tool: "compat".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        speed_metric: "mean_gen_time_ms".into(),
        rules: *rules,
        reports: loaded.iter().map(report_ref).collect(),
        warnings: warnings.clone(),
        metrics: metric_columns(loaded),
        configs,
        summary,
        best: best.map(|allow_warn| best::best(loaded, allow_warn)),
        gate: Gate {
            enabled: gate_enabled,
            failed: !reasons.is_empty(),
            reasons,
        },
    }
}

/// One aligned config: its entry in every report and its change in every
/// report after the first. Each change is also counted in that report's
/// `summary` and, when it fails the gate, added to `reasons` (row by row,
/// report by report: the order the gate lists them in).
fn config_row(
    row: &align::Aligned,
    loaded: &[load::Loaded],
    rules: &Rules,
    summary: &mut [ReportSummary],
    reasons: &mut Vec<String>,
) -> ConfigRow {
    let first = row.cells.first().copied().flatten();
    let changes: Vec<Change> = row
        .cells
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, cell)| {
            let label = &loaded[i].label;
            let c = change(label, first, *cell, rules);
            count(&mut summary[i - 1], &c);
            if let Some(g) = &c.gate {
                reasons.push(format!("{label}: {}: {g}", row.name));
            }
            c
        })
        .collect();
    ConfigRow {
        name: row.name.to_string(),
        total_gpus: row
            .cells
            .iter()
            .flatten()
            .map(|c| c.total_gpus)
            .next()
            .unwrap_or(0),
        entries: row.cells.iter().map(|c| c.map(entry)).collect(),
        changes,
    }
}

/// The config in report `label` (`cell`) judged against the first (`first`).
fn change(
    label: &str,
    first: Option<&ConfigResult>,
    cell: Option<&ConfigResult>,
    rules: &Rules,
) -> Change {
    let j = verdict::judge(first, cell, rules);
    let delta = |f: fn(&ConfigResult) -> Option<f64>| Some(f(cell?)? - f(first?)?);
    Change {
        report: label.to_string(),
        verdict: j.verdict,
        status_from: first.map(|c| c.compat_status),
        status_to: cell.map(|c| c.compat_status),
        time_change: j.speed.map(|s| s.time_change),
        significant: j.speed.and_then(|s| s.significant),
        speedup_delta: delta(|c| c.speedup),
        mean_diff_delta: delta(|c| c.mean_diff_avg),
        metric_deltas: match (first, cell) {
            (Some(a), Some(b)) => {
                let (a, b) = (entry(a).metrics, entry(b).metrics);
                b.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v - a.get(k)?)))
                    .collect()
            }
            _ => Default::default(),
        },
        note: j.note,
        gate: j.gate,
    }
}

/// Tallies one change in its report's summary. A status change counts only
/// when the config is in both reports (New and Missing are not changes).
fn count(s: &mut ReportSummary, c: &Change) {
    match c.verdict {
        Verdict::Improved => s.improved += 1,
        Verdict::Regressed => s.regressed += 1,
        Verdict::Unchanged => s.unchanged += 1,
        Verdict::NotComparable => s.not_comparable += 1,
        Verdict::New => s.new += 1,
        Verdict::Missing => s.missing += 1,
    }
    if c.status_from.is_some() && c.status_to.is_some() && c.status_from != c.status_to {
        s.status_changes += 1;
    }
}

/// A config's figures as the comparison shows them.
fn entry(c: &ConfigResult) -> Entry {
    Entry {
        status: c.compat_status,
        mean_gen_time_ms: c.mean_gen_time_ms,
        speedup: c.speedup,
        speedup_ci: c.speedup_ci,
        mean_diff_avg: c.mean_diff_avg,
        reason: c.reason.clone(),
        metrics: c
            .metrics
            .iter()
            .filter_map(|(k, m)| Some((k.clone(), m.judged_value()?)))
            .collect(),
    }
}

/// The metric columns: every report's plugins, first seen first.
fn metric_columns(loaded: &[load::Loaded]) -> Vec<model::MetricColumn> {
    let mut out: Vec<model::MetricColumn> = Vec::new();
    for m in loaded.iter().flat_map(|l| &l.report.metrics) {
        if !out.iter().any(|c| c.name == m.name) {
            out.push(model::MetricColumn {
                name: m.name.clone(),
                heading: m.heading(),
            });
        }
    }
    out
}

fn report_ref(l: &load::Loaded) -> ReportRef {
    let r = &l.report;
    ReportRef {
        label: l.label.clone(),
        path: display(&l.path),
        schema_version: r.schema_version,
        generated: r.generated.clone(),
        model: r.run.model(),
        backend: r.run.backend.clone(),
        steps: r.run.steps(),
        height: r.run.height(),
        width: r.run.width(),
        num_prompts: r.run.num_prompts,
        cost: r.bill.as_ref().map(|b| model::Cost {
            gpu_seconds: b.gpu_seconds,
            makespan_seconds: b.makespan_seconds,
            lower_bound_seconds: b.lower_bound_seconds,
            loads: b.loads,
            loads_avoided: b.loads_avoided,
        }),
    }
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
