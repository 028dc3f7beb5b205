//! `--charts` and `--html`: maps the [`Report`] onto the charts' and the page's
//! own plain input types (they never see the report), then draws them.

use std::path::{Path, PathBuf};

use super::charts::{self, ChartRow, ChartThresholds};
use super::html::{
    self, HtmlChart, HtmlConfig, HtmlImages, HtmlMetric, HtmlPage, HtmlPrompt, HtmlSummary,
    HtmlThresholds, HtmlValue,
};
use super::model::{ConfigResult, Report, Status};
use crate::results;
use crate::text::clean;

/// Draws the charts into `dir`; returns the files written and the errors of
/// the charts that failed (one bad chart never stops the others).
/// `tradeoff_metric`: the trade-off chart's quality axis is that metric
/// plugin's figure instead of PSNR.
pub fn write_charts(
    report: &Report,
    dir: &Path,
    tradeoff_metric: Option<&str>,
) -> (Vec<PathBuf>, Vec<anyhow::Error>) {
    let rows: Vec<ChartRow> = report.results.iter().map(chart_row).collect();
    let t = report.thresholds;
    let th = ChartThresholds {
        lossless_mean: t.lossless_mean,
        lossy_mean: t.lossy_mean,
        lossy_fail_mean: t.lossy_fail_mean,
        noise_floor: report.baseline_repeat.map(|b| b.floor_mean_diff),
    };
    let metric = tradeoff_metric.and_then(|name| report.metrics.iter().find(|m| m.name == name));
    let (mut ok, mut errors) = (Vec::new(), Vec::new());
    if let (Some(name), None) = (tradeoff_metric, metric) {
        errors.push(anyhow::anyhow!(
            "--tradeoff-metric {name}: the report has no such metric; the trade-off chart shows PSNR"
        ));
    }
    // The metric's figure in PSNR's place: a plain number, never "identical".
    let metric_rows: Vec<ChartRow> = match metric {
        Some(m) => report
            .results
            .iter()
            .map(|r| ChartRow {
                psnr: r.metrics.get(&m.name).and_then(|c| c.judged_value()),
                identical: false,
                ..chart_row(r)
            })
            .collect(),
        None => Vec::new(),
    };
    let axis = metric.map(|m| charts::QualityAxis {
        label: m.heading(),
        desc: format!(
            "{} vs baseline ({} is better)",
            m.heading(),
            match m.better {
                crate::registry::Better::Lower => "lower",
                crate::registry::Better::Higher => "higher",
            }
        ),
    });
    let tradeoff = axis.as_ref().map(|a| (metric_rows.as_slice(), a));
    for r in charts::write_all_with(&rows, &th, dir, tradeoff) {
        match r {
            Ok(p) => ok.push(p),
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

fn chart_row(r: &ConfigResult) -> ChartRow {
    ChartRow {
        name: r.name.clone(),
        status: r.compat_status.as_str().to_string(),
        lossy: r.is_lossy,
        gpus: r.total_gpus,
        mean_diff: r.mean_diff_avg,
        speedup: r.speedup,
        speedup_ci: r.speedup_ci.map(|i| (i.low, i.high)),
        psnr: r.psnr_avg,
        identical: r.all_identical(),
        reason: r.reason.as_deref().map(crate::text::one_line),
    }
}

/// Writes `diff_report.html` (and its assets) into `dir`.
pub fn write_html(
    report: &Report,
    dir: &Path,
    templates: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    html::write_report(&page(report, dir), dir, templates)
}

/// The page's context, from the report alone; `dir` only locates the images.
pub fn page(report: &Report, dir: &Path) -> HtmlPage {
    let run = &report.run;
    let baseline_dir = report.baseline.as_deref().unwrap_or(results::BASELINE);
    let configs = report
        .results
        .iter()
        .map(|r| config(report, r, dir, baseline_dir))
        .collect();
    HtmlPage {
        title: format!(
            "compat — {} on {}",
            report
                .baseline_feature
                .as_deref()
                .unwrap_or("addons on the pure baseline"),
            run.backend.as_deref().unwrap_or("?")
        ),
        generated: report.generated.clone(),
        tool_version: report.tool_version.clone(),
        summary: HtmlSummary {
            backend: run.backend.clone().unwrap_or_default(),
            baseline_feature: report
                .baseline_feature
                .clone()
                .unwrap_or_else(|| "none (each addon on the pure baseline)".into()),
            settings: run.settings.clone().unwrap_or_default(),
            noise_floor: report.baseline_repeat.map(|b| {
                if b.identical {
                    "none: the baseline run twice gave identical images".to_string()
                } else {
                    format!(
                        "up to MeanDiff {:.4}, MaxDiff {:.4} (the baseline run twice with the same seeds)",
                        b.floor_mean_diff, b.floor_max_diff
                    )
                }
            }),
            engine: {
                let engines = report.engines();
                if engines.is_empty() {
                    run.engine_probe.clone()
                } else {
                    Some(engines.join(", "))
                }
            },
            devices: run
                .devices
                .as_ref()
                .map(|d| d.detail.clone())
                .unwrap_or_default(),
        },
        thresholds: HtmlThresholds {
            lossless_mean: report.thresholds.lossless_mean,
            lossless_max: report.thresholds.lossless_max,
            lossy_mean: report.thresholds.lossy_mean,
            lossy_fail_mean: report.thresholds.lossy_fail_mean,
        },
        configs,
        charts: [
            ("MeanDiff vs the pure baseline", charts::QUALITY_FILE),
            ("Speedup (95% interval)", charts::SPEEDGAIN_FILE),
            ("Speed / quality trade-off", charts::TRADEOFF_FILE),
        ]
        .map(|(title, file)| HtmlChart {
            title: title.into(),
            file: file.into(),
        })
        .to_vec(),
        num_prompts: run.num_prompts,
        metrics: report
            .metrics
            .iter()
            .map(|m| HtmlMetric {
                heading: clean(&m.heading()),
                summary: clean(&m.summary_line()),
            })
            .collect(),
    }
}

/// One configuration's section of the page.
fn config(report: &Report, r: &ConfigResult, dir: &Path, baseline_dir: &str) -> HtmlConfig {
    HtmlConfig {
        name: r.name.clone(),
        role: r.role.as_str().to_string(),
        status: r.compat_status.as_str().to_string(),
        features: r.features.clone(),
        args: r.args.clone(),
        gpus: r.total_gpus,
        lossy: r.is_lossy,
        devices: r.devices.clone(),
        engine: r.engine.as_ref().map(crate::probe::EngineInfo::label),
        speedup: r.speedup,
        speedup_lo: r.speedup_ci.map(|i| i.low),
        speedup_hi: r.speedup_ci.map(|i| i.high),
        speedup_note: super::speedup_note(r).map(str::to_string),
        notes: r
            .notes
            .iter()
            .map(|n| clean(n))
            .chain(work_note(r))
            .collect(),
        mean_seconds: r.timing.as_ref().map(|t| t.mean),
        median_seconds: r.timing.as_ref().map(|t| t.median),
        p95_seconds: r.timing.as_ref().map(|t| t.p95),
        timing_n: r.timing.as_ref().map(|t| t.n),
        mean_diff: r.mean_diff_avg,
        max_diff: r.max_diff_avg,
        psnr: r.psnr_avg,
        ssim: r.ssim_avg,
        changed: r.changed_share_avg,
        identical: r.all_identical(),
        worst_prompt: r.worst_prompt.as_ref().map(|w| w.prompt),
        metrics: super::metric_model::cells(&report.metrics, r),
        thresholds_applied: super::thresholds_text(r)
            + &super::metric_model::thresholds_text(&report.metrics, r),
        reason: r.reason.as_deref().map(clean),
        log_tail: r.log_tail.as_deref().map(clean),
        prompts: if r.compat_status == Status::Skip {
            vec![]
        } else {
            prompts(report, r, dir, baseline_dir)
        },
    }
}

/// Every prompt of a configuration, with the baseline's and its own image.
fn prompts(report: &Report, r: &ConfigResult, dir: &Path, baseline_dir: &str) -> Vec<HtmlPrompt> {
    (0..report.run.num_prompts)
        .map(|i| {
            let row = r.prompts.iter().find(|p| p.prompt == i);
            let m = row.and_then(|p| p.vs_baseline.as_ref());
            let image = row
                .and_then(|p| p.image.clone())
                .unwrap_or_else(|| results::prompt_image(i));
            HtmlPrompt {
                index: i,
                text: clean(report.run.prompts.get(i).map_or("", String::as_str)),
                seconds: row.and_then(|p| p.seconds),
                mean_diff: m.map(|m| m.mean_diff),
                max_diff: m.map(|m| m.max_diff),
                psnr: m.and_then(|m| m.psnr),
                ssim: m.map(|m| m.ssim),
                changed: m.map(|m| m.changed_share),
                identical: m.is_some_and(|m| m.identical),
                error: row.and_then(|p| p.error.as_deref()).map(clean),
                metrics: report
                    .metrics
                    .iter()
                    .filter_map(|m| {
                        let v = row?.metrics.get(&m.name)?;
                        Some(HtmlValue {
                            name: clean(&m.label),
                            value: format!("{v:.4}"),
                        })
                    })
                    .collect(),
                // Only the folder's own files reach the page: a link out of
                // it (refused by the analysis too) is not published.
                baseline_png: Some(dir.join(baseline_dir).join(results::prompt_image(i)))
                    .filter(|p| results::files::within(dir, p)),
                config_png: Some(dir.join(&r.name).join(image))
                    .filter(|p| results::files::within(dir, p)),
                images: HtmlImages::default(),
            }
        })
        .collect()
}

/// The engine's own work counters as a note: how much a cache really
/// skipped, next to what the clock says.
fn work_note(r: &crate::report::model::ConfigResult) -> Option<String> {
    if r.work.is_empty() {
        return None;
    }
    let list = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(u, n)| format!("{u} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let branches: Vec<String> = r
        .work_by_branch
        .iter()
        .map(|(b, m)| format!("{b}: {}", list(m)))
        .collect();
    let branches = if branches.is_empty() {
        String::new()
    } else {
        format!(" ({})", branches.join("; "))
    };
    Some(clean(&format!(
        "engine work over the timed prompts: {}{branches}",
        list(&r.work)
    )))
}
