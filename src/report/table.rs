//! The terminal table: Config | GPUs | Status | Gen ms | Speedup [95% CI] |
//! MeanDiff | MaxDiff | PSNR | SSIM; SKIP and ERROR rows show their reason on
//! the line below. Coloured only on a terminal without `NO_COLOR`.

use std::io::IsTerminal;

use super::{Report, Status, opt, psnr_cell, speedup_cell};
use crate::text_table::Table;

/// Colour when stdout is a terminal and `NO_COLOR` is unset or empty.
pub fn color_wanted() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn paint(status: Status, text: &str, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let code = match status {
        Status::Pass => "32",
        Status::Warn => "33",
        Status::Fail | Status::Error => "31",
        Status::Skip => "90",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Renders the table (with a header and a summary line).
pub fn render(report: &Report, color: bool) -> String {
    let mut header: Vec<String> = [
        "Config",
        "GPUs",
        "Status",
        "Gen ms",
        "Speedup [95% CI]",
        "MeanDiff",
        "MaxDiff",
        "PSNR",
        "SSIM",
    ]
    .map(str::to_string)
    .to_vec();
    // One column per metric plugin (docs/metrics.md).
    header.extend(report.metrics.iter().map(|m| m.heading()));
    let rows: Vec<Vec<String>> = report
        .results
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.total_gpus.to_string(),
                r.compat_status.to_string(),
                opt(r.mean_gen_time_ms, 1),
                speedup_cell(r),
                opt(r.mean_diff_avg, 4),
                opt(r.max_diff_avg, 4),
                psnr_cell(r),
                opt(r.ssim_avg, 4),
            ]
            .into_iter()
            .chain(super::metric_model::cells(&report.metrics, r))
            .collect()
        })
        .collect();
    let right: Vec<usize> = [1, 3, 4, 5, 6, 7, 8]
        .into_iter()
        .chain(9..9 + report.metrics.len())
        .collect();
    let table = Table::new(header).right(&right).rows(rows);
    let body = table.render_with(|ri, ci, text| {
        if ci == 2 {
            paint(report.results[ri].compat_status, text, color)
        } else {
            text.to_string()
        }
    });
    let mut lines = body.lines();
    let mut out = String::new();
    for l in lines.by_ref().take(2) {
        out.push_str(l);
        out.push('\n');
    }
    for (r, line) in report.results.iter().zip(lines) {
        out.push_str(line);
        out.push('\n');
        if let Some(reason) = &r.reason
            && r.compat_status != Status::Pass
        {
            out.push_str(&format!("  └─ {}\n", crate::text::one_line(reason)));
        }
        for note in &r.notes {
            out.push_str(&format!("  └─ note: {}\n", crate::text::one_line(note)));
        }
    }
    let s = &report.summary;
    out.push_str(&format!(
        "\n{} configs: {} PASS, {} WARN, {} FAIL, {} ERROR, {} SKIP",
        s.total, s.pass, s.warn, s.fail, s.error, s.skip
    ));
    if report.run.concurrent {
        out.push_str(" (timings taken under concurrency: speedups are indicative)");
    }
    out.push('\n');
    for m in &report.metrics {
        out.push_str(&format!(
            "metric {}\n",
            crate::text::one_line(&m.summary_line())
        ));
    }
    out
}
