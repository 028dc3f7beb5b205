//! A Markdown summary for `$GITHUB_STEP_SUMMARY` or a PR comment: the verdict,
//! the feature-compatibility matrix in the engines' docs style (✅ PASS/WARN,
//! ❌ FAIL/ERROR, ❓ SKIP), and the per-config table.

use std::collections::BTreeSet;

use super::{ConfigResult, Report, Status, opt, psnr_cell, speedup_cell};

fn icon(s: Status) -> &'static str {
    match s {
        Status::Pass | Status::Warn => "✅",
        Status::Fail | Status::Error => "❌",
        Status::Skip => "❓",
    }
}

/// A table cell: names and backend text shown as text, never as markup
/// ([`crate::text::markdown`], shared with `compare --markdown`).
fn cell(s: &str) -> String {
    crate::text::markdown(s)
}

/// The Markdown text.
pub fn render(report: &Report) -> String {
    let mut out = header(report);
    out.push_str(&matrix(report));
    out.push_str(&configs(report));
    out.push_str(&footer(report));
    out
}

/// The verdict as a heading, the run in one line, and the counts per status.
fn header(report: &Report) -> String {
    let s = &report.summary;
    let verdict = if s.fail + s.error > 0 {
        "❌ incompatibilities found"
    } else if s.warn > 0 {
        "✅ compatible (with warnings)"
    } else {
        "✅ compatible"
    };
    let mut out = format!("## compat: {verdict}\n\n");
    let mut meta = Vec::new();
    if let Some(m) = report.run.model() {
        meta.push(format!("model {}", cell(&m)));
    }
    if let Some(b) = &report.run.backend {
        meta.push(format!("backend {}", cell(b)));
    }
    if let (Some(w), Some(h)) = (report.run.width(), report.run.height()) {
        meta.push(format!("{w}×{h}"));
    }
    if let Some(st) = report.run.steps() {
        meta.push(format!("{st} steps"));
    }
    meta.push(format!("{} prompts", report.run.num_prompts));
    out.push_str(&format!(
        "{} · **{}** configs: {} PASS, {} WARN, {} FAIL, {} ERROR, {} SKIP\n\n",
        meta.join(" · "),
        s.total,
        s.pass,
        s.warn,
        s.fail,
        s.error,
        s.skip
    ));
    if report.run.concurrent {
        out.push_str("> Timings were taken while other configs ran: speedups are indicative.\n\n");
    }
    out
}

/// The config with exactly these features, if the matrix had one.
fn config_with<'r>(report: &'r Report, set: &BTreeSet<&str>) -> Option<&'r ConfigResult> {
    report.results.iter().find(|r| {
        r.features
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
            == *set
    })
}

/// The config of a matrix cell: the features alone, else with the baseline
/// feature, as the matrix pairs every feature with it when there is one.
fn cell_config<'r>(report: &'r Report, a: &str, b: &str) -> Option<&'r ConfigResult> {
    let set: BTreeSet<&str> = [a, b].into_iter().collect();
    config_with(report, &set).or_else(|| {
        let mut with_bf = set.clone();
        if let Some(bf) = report.baseline_feature.as_deref() {
            with_bf.insert(bf);
        }
        config_with(report, &with_bf)
    })
}

/// The matrix: a cell per pair of features (the diagonal: the feature alone,
/// with the baseline feature where there is one). Empty when no config has
/// features (the original's layout).
fn matrix(report: &Report) -> String {
    let mut feats: Vec<&str> = Vec::new();
    for r in &report.results {
        for f in &r.features {
            if !feats.contains(&f.as_str()) {
                feats.push(f);
            }
        }
    }
    if feats.is_empty() {
        return String::new();
    }
    let mut out = String::from("### Feature compatibility\n\n|  |");
    for f in &feats {
        out.push_str(&format!(" {} |", cell(f)));
    }
    out.push_str("\n|---|");
    out.push_str(&":---:|".repeat(feats.len()));
    out.push('\n');
    for a in &feats {
        out.push_str(&format!("| **{}** |", cell(a)));
        for b in &feats {
            let c = cell_config(report, a, b)
                .map_or(String::new(), |r| icon(r.compat_status).to_string());
            out.push_str(&format!(" {c} |"));
        }
        out.push('\n');
    }
    out.push_str("\n✅ PASS/WARN · ❌ FAIL/ERROR · ❓ SKIP · blank: not tested\n\n");
    out
}

/// The per-config table: one row per config, in matrix order.
fn configs(report: &Report) -> String {
    let mut out = String::from("### Configurations\n\n");
    // One column per metric plugin, before the note (docs/metrics.md).
    let metric_heads: String = report
        .metrics
        .iter()
        .map(|m| format!(" {} |", cell(&m.heading())))
        .collect();
    out.push_str(&format!(
        "| Config | GPUs | Status | Gen ms | Speedup [95% CI] | MeanDiff | MaxDiff | PSNR | SSIM |{metric_heads} Note |\n",
    ));
    out.push_str(&format!(
        "|---|---:|---|---:|---:|---:|---:|---:|---:|{}---|\n",
        "---:|".repeat(report.metrics.len())
    ));
    for r in &report.results {
        let metric_cells: String = super::metric_model::cells(&report.metrics, r)
            .iter()
            .map(|c| format!(" {c} |"))
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} {} | {} | {} | {} | {} | {} | {} |{metric_cells} {} |\n",
            cell(&r.name),
            r.total_gpus,
            icon(r.compat_status),
            r.compat_status,
            opt(r.mean_gen_time_ms, 1),
            speedup_cell(r),
            opt(r.mean_diff_avg, 4),
            opt(r.max_diff_avg, 4),
            psnr_cell(r),
            opt(r.ssim_avg, 4),
            cell(
                &r.reason
                    .iter()
                    .chain(&r.notes)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ));
    }
    out
}

/// The run-wide thresholds the statuses were judged by, and what each
/// metric plugin did.
fn footer(report: &Report) -> String {
    let t = &report.thresholds;
    let mut out = format!(
        "\nThresholds: lossless FAIL above mean {} or max {}; lossy WARN above mean {}, FAIL above {}.\n",
        t.lossless_mean, t.lossless_max, t.lossy_mean, t.lossy_fail_mean
    );
    for m in &report.metrics {
        out.push_str(&format!("\nMetric {}\n", cell(&m.summary_line())));
    }
    out
}
