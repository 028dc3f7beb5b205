//! The comparison as text: the terminal table and the Markdown for a PR
//! comment. Both are rendered from [`Comparison`] alone (data in, text out).

use super::model::{Best, Comparison, ConfigRow, Entry, Gate, Pick};
use super::verdict::Verdict;
use crate::report::Status;
use crate::report::opt;
use crate::text_table::Table;

/// "PASS → FAIL", or one "PASS" when no report changed it; "—" where absent.
fn status_chain(row: &ConfigRow, md: bool) -> String {
    let cells: Vec<Option<Status>> = row
        .entries
        .iter()
        .map(|e| e.as_ref().map(|e| e.status))
        .collect();
    let show = |s: Option<Status>| match s {
        Some(s) if md => format!("{} {s}", icon(s)),
        Some(s) => s.to_string(),
        None => "—".into(),
    };
    if cells.windows(2).all(|w| w[0] == w[1]) {
        return show(cells[0]);
    }
    cells.into_iter().map(show).collect::<Vec<_>>().join(" → ")
}

/// ✅ PASS/WARN · ❌ FAIL/ERROR · ❓ SKIP, as `compat analyze --markdown`.
fn icon(s: Status) -> &'static str {
    match s {
        Status::Pass | Status::Warn => "✅",
        Status::Fail | Status::Error => "❌",
        Status::Skip => "❓",
    }
}

fn signed_pct(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

/// "812.3 → 640.1 (−21.2%)", the change against the first report in brackets.
fn time_chain(row: &ConfigRow) -> String {
    row.entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let t = opt(e.as_ref().and_then(|e| e.mean_gen_time_ms), 1);
            match i.checked_sub(1).and_then(|k| row.changes[k].time_change) {
                Some(c) => format!("{t} ({})", signed_pct(c)),
                None => t,
            }
        })
        .collect::<Vec<_>>()
        .join(" → ")
}

fn chain(row: &ConfigRow, f: impl Fn(&Entry) -> String) -> String {
    row.entries
        .iter()
        .map(|e| e.as_ref().map_or_else(|| "—".into(), &f))
        .collect::<Vec<_>>()
        .join(" → ")
}

/// One chain per metric column: each report's figure.
fn metric_chains(cmp: &Comparison, row: &ConfigRow) -> Vec<String> {
    cmp.metrics
        .iter()
        .map(|m| chain(row, |e| opt(e.metrics.get(&m.name).copied(), 4)))
        .collect()
}

fn speedup(e: &Entry) -> String {
    e.speedup.map_or_else(|| "—".into(), |s| format!("{s:.2}×"))
}

fn verdicts(row: &ConfigRow, labelled: bool) -> String {
    row.changes
        .iter()
        .map(|c| {
            if labelled {
                format!("{} {}", c.report, c.verdict)
            } else {
                c.verdict.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn paint(v: Verdict, text: &str, color: bool) -> String {
    let code = match v {
        Verdict::Improved => "32",
        Verdict::Regressed => "31",
        Verdict::NotComparable | Verdict::Missing => "33",
        Verdict::Unchanged | Verdict::New => return text.to_string(),
    };
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Aligned columns ([`Table`]); `right` marks right-aligned ones. `paint`
/// colours a padded cell (row, column).
fn grid(
    header: &[&str],
    rows: &[Vec<String>],
    right: &[usize],
    paint: impl Fn(usize, usize, &str) -> String,
) -> String {
    Table::new(header.iter().copied())
        .right(right)
        .rows(rows.iter().cloned())
        .render_with(paint)
}

/// "B vs A: GPU-seconds -3.2%, makespan -5.0%", per report after the first
/// where both have a bill: cost next to speed.
fn cost_lines(cmp: &Comparison) -> Vec<String> {
    let Some(first) = cmp.reports.first() else {
        return vec![];
    };
    let Some(a) = &first.cost else {
        return vec![];
    };
    let pct = |x: f64, y: f64| {
        if y > 0.0 {
            signed_pct(x / y - 1.0)
        } else {
            "—".into()
        }
    };
    cmp.reports[1..]
        .iter()
        .filter_map(|r| {
            let b = r.cost.as_ref()?;
            let mut s = format!(
                "cost {} vs {}: GPU-seconds {:.1} → {:.1} ({})",
                r.label,
                first.label,
                a.gpu_seconds,
                b.gpu_seconds,
                pct(b.gpu_seconds, a.gpu_seconds)
            );
            if let (Some(x), Some(y)) = (a.makespan_seconds, b.makespan_seconds) {
                s += &format!(", makespan {x:.1} → {y:.1} s ({})", pct(y, x));
            }
            s += &format!(", model loads {} → {}", a.loads, b.loads);
            Some(s)
        })
        .collect()
}

fn describe(cmp: &Comparison) -> Vec<String> {
    cmp.reports
        .iter()
        .map(|r| {
            let mut meta = Vec::new();
            if let Some(m) = &r.model {
                meta.push(m.clone());
            }
            if let (Some(w), Some(h)) = (r.width, r.height) {
                meta.push(format!("{w}×{h}"));
            }
            if let Some(s) = r.steps {
                meta.push(format!("{s} steps"));
            }
            meta.push(format!("{} prompts", r.num_prompts));
            if let Some(c) = &r.cost {
                meta.push(format!("{:.1} GPU-s", c.gpu_seconds));
                if let Some(m) = c.makespan_seconds {
                    meta.push(format!("makespan {m:.1} s"));
                }
            }
            format!("{}: {} ({})", r.label, r.path, meta.join(", "))
        })
        .collect()
}

fn pick_text(p: &Pick, with_report: bool) -> String {
    let sp = p.speedup.map_or_else(String::new, |s| format!(", {s:.2}×"));
    let warn = if p.status == Status::Warn {
        ", WARN"
    } else {
        ""
    };
    let who = if with_report {
        format!("{}: ", p.report)
    } else {
        String::new()
    };
    format!(
        "{who}{} ({} GPU{}, {:.1} ms{sp}{warn})",
        p.name,
        p.total_gpus,
        if p.total_gpus == 1 { "" } else { "s" },
        p.mean_gen_time_ms
    )
}

/// The notes of a row's changes, one per report that has any: the judge's
/// note and the gate's reason, "B: SKIP → PASS: not comparable; gate: …".
fn change_notes(row: &ConfigRow) -> Vec<String> {
    row.changes
        .iter()
        .filter_map(|c| {
            let mut parts: Vec<String> = c.note.iter().cloned().collect();
            parts.extend(c.gate.iter().map(|g| format!("gate: {g}")));
            (!parts.is_empty()).then(|| format!("{}: {}", c.report, parts.join("; ")))
        })
        .collect()
}

/// Which statuses `--best` took: "PASS" or "PASS or WARN".
fn eligible(best: &Best) -> &'static str {
    if best.allow_warn {
        "PASS or WARN"
    } else {
        "PASS"
    }
}

/// The GPU counts of the overall per-GPU picks (already in ascending order).
fn gpu_counts(best: &Best) -> Vec<u32> {
    let mut gpus: Vec<u32> = best.overall_per_gpus.iter().map(|p| p.total_gpus).collect();
    gpus.dedup();
    gpus
}

/// "1 regression", "3 regressions": the gate's reasons, counted.
fn regressions(gate: &Gate) -> String {
    let n = gate.reasons.len();
    format!("{n} regression{}", if n == 1 { "" } else { "s" })
}

/// The terminal table, notes, summary, `--best` and the gate.
pub fn table(cmp: &Comparison, color: bool) -> String {
    let first = cmp.reports.first().map_or("A", |r| r.label.as_str());
    // Names, paths and notes come from report.json files: no control
    // character of theirs reaches the terminal (the grid's cells are
    // cleaned by the table itself; only the verdict colours are ours).
    let mut out = crate::text::clean(&table_head(cmp));
    out.push_str(&config_grid(cmp, first, color));
    out.push_str("\n\n");
    for s in &cmp.summary {
        out.push_str(&format!(
            "{} vs {first}: {} improved, {} regressed, {} unchanged, {} not comparable, {} new, {} missing ({} status changes)\n",
            s.report, s.improved, s.regressed, s.unchanged, s.not_comparable, s.new, s.missing, s.status_changes
        ));
    }
    for line in cost_lines(cmp) {
        out.push_str(&line);
        out.push('\n');
    }
    if let Some(best) = &cmp.best {
        out.push_str(&crate::text::clean(&best_text(best)));
    }
    out.push_str(&crate::text::clean(&gate_text(&cmp.gate)));
    out
}

/// "Comparing A: path (model, size, …)", one line per report, then the
/// warnings and a blank line.
fn table_head(cmp: &Comparison) -> String {
    let mut out = String::new();
    for (i, d) in describe(cmp).iter().enumerate() {
        out.push_str(if i == 0 { "Comparing " } else { "          " });
        out.push_str(d);
        out.push('\n');
    }
    for w in &cmp.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out.push('\n');
    out
}

/// One row per config, the verdict cell coloured, each row's notes on a
/// line of their own under it (no trailing newline).
fn config_grid(cmp: &Comparison, first: &str, color: bool) -> String {
    let labelled = cmp.reports.len() > 2;
    let time_header = format!("Gen ms (Δ vs {first})");
    let mut header: Vec<&str> = vec![
        "Config",
        "GPUs",
        "Status",
        time_header.as_str(),
        "Speedup",
        "MeanDiff",
    ];
    // The metric plugins' figures, before the verdict (docs/metrics.md).
    header.extend(cmp.metrics.iter().map(|m| m.heading.as_str()));
    header.push("Verdict");
    let verdict_col = header.len() - 1;
    let rows: Vec<Vec<String>> = cmp
        .configs
        .iter()
        .map(|r| {
            let mut row = vec![
                r.name.clone(),
                r.total_gpus.to_string(),
                status_chain(r, false),
                time_chain(r),
                chain(r, speedup),
                chain(r, |e| opt(e.mean_diff_avg, 4)),
            ];
            row.extend(metric_chains(cmp, r));
            row.push(verdicts(r, labelled));
            row
        })
        .collect();
    let body = grid(&header, &rows, &[1], |ri, ci, text| {
        let row = &cmp.configs[ri];
        // One colour per row's verdict cell: the worst of its changes.
        let worst = row
            .changes
            .iter()
            .map(|c| c.verdict)
            .find(|v| *v == Verdict::Regressed)
            .or_else(|| row.changes.first().map(|c| c.verdict));
        match worst {
            Some(v) if ci == verdict_col => paint(v, text, color),
            _ => text.to_string(),
        }
    });
    // Notes go in after rendering, so they do not widen the columns: the
    // grid's first two lines are the header and its rule, then one line
    // per config.
    let mut lines = body.lines().map(str::to_string).collect::<Vec<_>>();
    let mut with_notes = lines.drain(..2).collect::<Vec<_>>();
    for (row, line) in cmp.configs.iter().zip(lines) {
        with_notes.push(line);
        let notes = change_notes(row);
        if !notes.is_empty() {
            with_notes.push(format!("  └─ {}", crate::text::cell(&notes.join(" · "))));
        }
    }
    with_notes.join("\n")
}

/// `--best`: the fastest pick per report and overall, then a grid of the
/// fastest per GPU count (when any config was eligible).
fn best_text(best: &Best) -> String {
    let mut out = format!(
        "\nBest ({}, fastest mean time per image):\n",
        eligible(best)
    );
    for b in &best.per_report {
        out.push_str(&format!(
            "  {}: {}\n",
            b.report,
            b.fastest
                .as_ref()
                .map_or_else(|| "none eligible".into(), |p| pick_text(p, false))
        ));
    }
    out.push_str(&format!(
        "  overall: {}\n",
        best.overall
            .as_ref()
            .map_or_else(|| "none eligible".into(), |p| pick_text(p, true))
    ));
    let gpus = gpu_counts(best);
    if !gpus.is_empty() {
        out.push_str("\nBest per GPU count:\n");
        for l in best_per_gpus_grid(best, &gpus).lines() {
            out.push_str(&format!("  {l}\n"));
        }
    }
    out
}

/// GPU count × (each report, overall): the fastest pick with that count.
fn best_per_gpus_grid(best: &Best, gpus: &[u32]) -> String {
    let mut header: Vec<String> = vec!["GPUs".into()];
    header.extend(best.per_report.iter().map(|b| b.report.clone()));
    header.push("overall".into());
    let cell = |ps: &[Pick], g: u32, with_report: bool| {
        ps.iter().find(|p| p.total_gpus == g).map_or_else(
            || "—".into(),
            |p| {
                let who = if with_report {
                    format!("{}: ", p.report)
                } else {
                    String::new()
                };
                format!("{who}{} {:.1} ms", p.name, p.mean_gen_time_ms)
            },
        )
    };
    let rows: Vec<Vec<String>> = gpus
        .iter()
        .map(|&g| {
            let mut r = vec![g.to_string()];
            r.extend(best.per_report.iter().map(|b| cell(&b.per_gpus, g, false)));
            r.push(cell(&best.overall_per_gpus, g, true));
            r
        })
        .collect();
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    grid(&h, &rows, &[0], |_, _, t| t.to_string())
}

/// The gate's verdict: its reasons when it fails (enforced or not), "gate
/// passed" when enforced and clean, nothing otherwise.
fn gate_text(gate: &Gate) -> String {
    if gate.failed {
        let mut out = format!(
            "\n{} {}:\n",
            if gate.enabled {
                "gate FAILED:"
            } else {
                "gate (not enforced, pass --fail-on-regression):"
            },
            regressions(gate)
        );
        for r in &gate.reasons {
            out.push_str(&format!("  {r}\n"));
        }
        out
    } else if gate.enabled {
        "\ngate passed: no regression\n".to_string()
    } else {
        String::new()
    }
}

/// A Markdown cell: the same escaping as `compat analyze --markdown`.
fn md_cell(s: &str) -> String {
    crate::text::markdown(s)
}

fn verdict_md(v: Verdict) -> &'static str {
    match v {
        Verdict::Improved => "🟢 Improved",
        Verdict::Regressed => "🔴 **Regressed**",
        Verdict::Unchanged => "⚪ Unchanged",
        Verdict::NotComparable => "❓ NotComparable",
        Verdict::New => "🆕 New",
        Verdict::Missing => "➖ Missing",
    }
}

/// The Markdown for a PR comment.
pub fn markdown(cmp: &Comparison) -> String {
    let mut out = markdown_head(cmp);
    out.push_str(&markdown_rows(cmp));
    let cost = cost_lines(cmp);
    if !cost.is_empty() {
        out.push('\n');
        for line in cost {
            out.push_str(&format!("- {}\n", md_cell(&line)));
        }
    }
    if let Some(best) = &cmp.best {
        out.push_str(&markdown_best(best));
    }
    out.push_str(&format!(
        "\nSpeed: mean time per image; Unchanged within {:.1}% or when the speedup intervals overlap. Gate: worse status, slowdown beyond {:.1}%, or a working config missing.\n",
        cmp.rules.noise * 100.0,
        cmp.rules.max_slowdown * 100.0
    ));
    out
}

/// The title (the gate's outcome, or slowdowns within the limit), the
/// reports compared, and the warnings as quotes.
fn markdown_head(cmp: &Comparison) -> String {
    let regressed: usize = cmp.summary.iter().map(|s| s.regressed).sum();
    let title = if cmp.gate.failed {
        format!("❌ {}", regressions(&cmp.gate))
    } else if regressed > 0 {
        format!("⚠️ {regressed} slower within the limit")
    } else {
        "✅ no regressions".into()
    };
    let mut out = format!("## compat compare: {title}\n\n");
    for d in describe(cmp) {
        out.push_str(&format!("- {}\n", md_cell(&d)));
    }
    out.push('\n');
    for w in &cmp.warnings {
        out.push_str(&format!("> ⚠️ {}\n", md_cell(w)));
    }
    if !cmp.warnings.is_empty() {
        out.push('\n');
    }
    out
}

/// The config table, notes in a column of their own.
fn markdown_rows(cmp: &Comparison) -> String {
    let labelled = cmp.reports.len() > 2;
    let mut out = String::new();
    let heads: String = cmp
        .metrics
        .iter()
        .map(|m| format!(" {} |", md_cell(&m.heading)))
        .collect();
    out.push_str(&format!(
        "| Config | GPUs | Status | Gen ms (Δ) | Speedup | MeanDiff |{heads} Verdict | Note |\n"
    ));
    out.push_str(&format!(
        "|---|---:|---|---:|---:|---:|{}---|---|\n",
        "---:|".repeat(cmp.metrics.len())
    ));
    for r in &cmp.configs {
        let verdict = r
            .changes
            .iter()
            .map(|c| {
                if labelled {
                    format!("{} {}", c.report, verdict_md(c.verdict))
                } else {
                    verdict_md(c.verdict).to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("<br>");
        let note = change_notes(r)
            .iter()
            .map(|n| md_cell(n))
            .collect::<Vec<_>>()
            .join("<br>");
        let metric_cells: String = metric_chains(cmp, r)
            .iter()
            .map(|c| format!(" {c} |"))
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |{metric_cells} {} | {} |\n",
            md_cell(&r.name),
            r.total_gpus,
            status_chain(r, true),
            time_chain(r),
            chain(r, speedup),
            chain(r, |e| opt(e.mean_diff_avg, 4)),
            verdict,
            note
        ));
    }
    out
}

/// `--best`: one row per report and one overall; columns: the fastest,
/// then the fastest per GPU count.
fn markdown_best(best: &Best) -> String {
    let gpus = gpu_counts(best);
    let mut out = format!("\n### Best ({})\n\n| | Fastest |", eligible(best));
    for g in &gpus {
        out.push_str(&format!(" {g} GPU{} |", if *g == 1 { "" } else { "s" }));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(gpus.len()));
    out.push('\n');
    let cell = |p: Option<&Pick>, with_report: bool| {
        p.map_or_else(
            || "—".into(),
            |p| {
                let who = if with_report {
                    format!("{} ", p.report)
                } else {
                    String::new()
                };
                format!("{who}{} {:.1} ms", md_cell(&p.name), p.mean_gen_time_ms)
            },
        )
    };
    // One row: the fastest, then the fastest of `per_gpus` at each count.
    let row = |name: &str, fastest: Option<&Pick>, per_gpus: &[Pick], with_report: bool| {
        let mut line = format!("| {name} | {} |", cell(fastest, with_report));
        for g in &gpus {
            let p = per_gpus.iter().find(|p| p.total_gpus == *g);
            line.push_str(&format!(" {} |", cell(p, with_report)));
        }
        line.push('\n');
        line
    };
    for b in &best.per_report {
        out.push_str(&row(&b.report, b.fastest.as_ref(), &b.per_gpus, false));
    }
    out.push_str(&row(
        "**overall**",
        best.overall.as_ref(),
        &best.overall_per_gpus,
        true,
    ));
    out
}
