//! A Markdown summary for `$GITHUB_STEP_SUMMARY` or a PR comment: the verdict,
//! the feature-compatibility matrix in the engines' docs style (✅ PASS/WARN,
//! ❌ FAIL/ERROR, ❓ SKIP), and the per-config table.

use std::collections::BTreeSet;

use super::{Report, Status, opt, psnr_cell, speedup_cell};

fn icon(s: Status) -> &'static str {
    match s {
        Status::Pass | Status::Warn => "✅",
        Status::Fail | Status::Error => "❌",
        Status::Skip => "❓",
    }
}

/// Escapes a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The Markdown text.
pub fn render(report: &Report) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let verdict = if s.fail + s.error > 0 {
        "❌ incompatibilities found"
    } else if s.warn > 0 {
        "✅ compatible (with warnings)"
    } else {
        "✅ compatible"
    };
    out.push_str(&format!("## compat: {verdict}\n\n"));
    let mut meta = Vec::new();
    if let Some(m) = report.run.model() {
        meta.push(format!("model `{m}`"));
    }
    if let Some(b) = &report.run.backend {
        meta.push(format!("backend `{b}`"));
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

    // The matrix: a cell per pair of features (the diagonal: the feature alone,
    // with the baseline feature where there is one).
    let bf = report.baseline_feature.as_deref();
    let mut feats: Vec<&str> = Vec::new();
    for r in &report.results {
        for f in &r.features {
            if !feats.contains(&f.as_str()) {
                feats.push(f);
            }
        }
    }
    if !feats.is_empty() {
        let find = |set: BTreeSet<&str>| {
            let mut with_bf = set.clone();
            if let Some(b) = bf {
                with_bf.insert(b);
            }
            report
                .results
                .iter()
                .find(|r| {
                    r.features
                        .iter()
                        .map(String::as_str)
                        .collect::<BTreeSet<_>>()
                        == set
                })
                .or_else(|| {
                    report.results.iter().find(|r| {
                        r.features
                            .iter()
                            .map(String::as_str)
                            .collect::<BTreeSet<_>>()
                            == with_bf
                    })
                })
        };
        out.push_str("### Feature compatibility\n\n|  |");
        for f in &feats {
            out.push_str(&format!(" {} |", cell(f)));
        }
        out.push_str("\n|---|");
        out.push_str(&":---:|".repeat(feats.len()));
        out.push('\n');
        for a in &feats {
            out.push_str(&format!("| **{}** |", cell(a)));
            for b in &feats {
                let set: BTreeSet<&str> = [*a, *b].into_iter().collect();
                let c = find(set).map_or(String::new(), |r| icon(r.compat_status).to_string());
                out.push_str(&format!(" {c} |"));
            }
            out.push('\n');
        }
        out.push_str("\n✅ PASS/WARN · ❌ FAIL/ERROR · ❓ SKIP · blank: not tested\n\n");
    }

    out.push_str("### Configurations\n\n");
    out.push_str(
        "| Config | GPUs | Status | Gen ms | Speedup [95% CI] | MeanDiff | MaxDiff | PSNR | SSIM | Note |\n",
    );
    out.push_str("|---|---:|---|---:|---:|---:|---:|---:|---:|---|\n");
    for r in &report.results {
        out.push_str(&format!(
            "| `{}` | {} | {} {} | {} | {} | {} | {} | {} | {} | {} |\n",
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
            cell(r.reason.as_deref().unwrap_or("")),
        ));
    }
    let t = &report.thresholds;
    out.push_str(&format!(
        "\nThresholds: lossless FAIL above mean {} or max {}; lossy WARN above mean {}, FAIL above {}.\n",
        t.lossless_mean, t.lossless_max, t.lossy_mean, t.lossy_fail_mean
    ));
    out
}
