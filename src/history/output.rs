//! The history's outputs: history.json and the page in `--out`, `--markdown`,
//! the terminal summary (or `--json`), and the nightly gate's exit code.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;

use super::model::{Change, Direction, History, Kind};
use super::{DATA_FILE, HistoryPlan, PAGE_FILE};
use crate::exit;

/// Writes what was asked, prints the summary, and returns the exit code:
/// 3 when an output could not be written (after printing), else 1 when the
/// gate is on and the newest run brought a regression, else 0.
pub fn emit(h: &History, plan: &HistoryPlan) -> anyhow::Result<ExitCode> {
    let mut written = Vec::new();
    let mut failed: Option<anyhow::Error> = None;
    if let Some(out) = &plan.out {
        let data = out.join(DATA_FILE);
        match crate::results::atomic::write_json(&data, h) {
            Ok(()) => written.push(data),
            Err(e) => failed = failed.or(Some(e)),
        }
        let page = out.join(PAGE_FILE);
        let result = super::html::render(h)
            .and_then(|html| crate::results::atomic::write(&page, html.as_bytes()));
        match result {
            Ok(()) => written.push(page),
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    if let Some(md) = &plan.markdown {
        match crate::results::atomic::write(md, markdown(h).as_bytes()) {
            Ok(()) => written.push(md.clone()),
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    if plan.json {
        let text = serde_json::to_string_pretty(h).context("failed to serialise the history")?;
        println!("{text}");
    } else {
        print!("{}", terminal(h));
        for w in &written {
            println!("wrote {}", w.display());
        }
    }
    if let Some(e) = failed {
        return Err(exit::output_failed(e));
    }
    let new = super::new_regressions(h);
    if plan.fail_on_new_regression && !new.is_empty() {
        eprintln!(
            "--fail-on-new-regression: the newest run brought {} regression(s)",
            new.len()
        );
        return Ok(ExitCode::from(exit::FAILURE));
    }
    Ok(ExitCode::from(exit::SUCCESS))
}

fn day(t: &str) -> &str {
    t.get(..10).unwrap_or(t)
}

fn span(h: &History) -> String {
    match (h.runs.first(), h.runs.last()) {
        (Some(a), Some(b)) => format!("{} … {}", day(&a.generated), day(&b.generated)),
        _ => "no runs".into(),
    }
}

fn headline(h: &History) -> String {
    let configs: std::collections::BTreeSet<&str> =
        h.series.iter().map(|s| s.config.as_str()).collect();
    format!(
        "{} runs ({}), {} configurations, {} settings",
        h.runs.len(),
        span(h),
        configs.len(),
        h.settings.len()
    )
}

/// The newest run's cost, against the previous run of the same settings:
/// cost next to speed (a cache that saves time should save GPU-seconds).
fn cost_line(h: &History) -> Option<String> {
    let last = h.runs.last()?;
    let c = last.cost.as_ref()?;
    let mut line = format!(
        "cost of the newest run: {:.1} GPU-s, {} model load(s), {} avoided",
        c.gpu_seconds, c.loads, c.loads_avoided
    );
    if let Some(m) = c.makespan_seconds {
        line += &format!(", makespan {m:.1} s");
    }
    let before = h.runs[..h.runs.len() - 1]
        .iter()
        .rev()
        .filter(|r| r.settings == last.settings)
        .find_map(|r| Some((r, r.cost.as_ref()?)));
    if let Some((r, b)) = before
        && b.gpu_seconds > 0.0
    {
        line += &format!(
            "; {} (same settings): {:.1} GPU-s ({:+.0}%)",
            day(&r.generated),
            b.gpu_seconds,
            (c.gpu_seconds / b.gpu_seconds - 1.0) * 100.0
        );
    }
    Some(line)
}

fn is_open_flaky(c: &Change) -> bool {
    c.kind == Kind::Flaky
}

/// The terminal summary.
pub fn terminal(h: &History) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "compat history: {}", headline(h));
    if let Some(cost) = cost_line(h) {
        let _ = writeln!(s, "{cost}");
    }
    let new: Vec<&Change> = h.changes.iter().filter(|c| c.new).collect();
    let previous = h
        .runs
        .len()
        .checked_sub(2)
        .map(|i| day(&h.runs[i].generated).to_string());
    match (&previous, new.is_empty()) {
        (Some(p), true) => {
            let _ = writeln!(s, "nothing new since the previous run ({p})");
        }
        (Some(p), false) => {
            let _ = writeln!(s, "new since the previous run ({p}):");
            for c in &new {
                let _ = writeln!(s, "  {} {}", mark(c), crate::text::clean(&c.summary));
            }
        }
        (None, _) => {}
    }
    let flaky: Vec<&Change> = h.changes.iter().filter(|c| is_open_flaky(c)).collect();
    if !flaky.is_empty() {
        let _ = writeln!(s, "flaky (not regressions):");
        for c in flaky {
            let _ = writeln!(s, "  {}", crate::text::clean(&c.summary));
        }
    }
    let rest: Vec<&Change> = h.changes.iter().filter(|c| c.kind != Kind::Flaky).collect();
    if rest.is_empty() {
        let _ = writeln!(s, "no status changes or level shifts");
    } else {
        let _ = writeln!(s, "changes, oldest first ({}):", rest.len());
        for c in rest {
            let _ = writeln!(
                s,
                "  {} {:<7} {}",
                mark(c),
                c.kind.as_str(),
                crate::text::clean(&c.summary)
            );
        }
    }
    for n in &h.notes {
        let _ = writeln!(s, "note: {}", crate::text::clean(n));
    }
    s
}

fn mark(c: &Change) -> &'static str {
    match c.direction {
        Direction::Regression => "▼",
        Direction::Improvement => "▲",
        Direction::Other => "•",
    }
}

/// Markdown for `$GITHUB_STEP_SUMMARY`: what is new first, then the flaky
/// configs, then every change.
pub fn markdown(h: &History) -> String {
    let md = crate::text::markdown;
    let mut s = String::new();
    let _ = writeln!(s, "## compat history\n\n{}\n", md(&headline(h)));
    if let Some(cost) = cost_line(h) {
        let _ = writeln!(s, "{}\n", md(&cost));
    }
    let new: Vec<&Change> = h.changes.iter().filter(|c| c.new).collect();
    if new.is_empty() {
        let _ = writeln!(s, "Nothing new since the previous run.\n");
    } else {
        let _ = writeln!(s, "**New since the previous run:**\n");
        for c in &new {
            let _ = writeln!(s, "- {} {}", mark(c), md(&c.summary));
        }
        s.push('\n');
    }
    let flaky: Vec<&Change> = h.changes.iter().filter(|c| c.kind == Kind::Flaky).collect();
    if !flaky.is_empty() {
        let _ = writeln!(s, "**Flaky** (not counted as regressions):\n");
        for c in flaky {
            let _ = writeln!(s, "- {}", md(&c.summary));
        }
        s.push('\n');
    }
    let rest: Vec<&Change> = h.changes.iter().filter(|c| c.kind != Kind::Flaky).collect();
    if !rest.is_empty() {
        let _ = writeln!(
            s,
            "| config | kind | change | first bad | last good |\n|---|---|---|---|---|"
        );
        for c in rest {
            let what = match (&c.from, &c.to, c.delta) {
                (Some(f), Some(t), _) => format!("{f} → {t}"),
                (_, _, Some(d)) if c.kind == Kind::Quality => format!("MeanDiff {d:+.4}"),
                (_, _, Some(d)) => format!("{:+.0}%", d * 100.0),
                _ => String::new(),
            };
            let run = |r: &super::model::RunRef| {
                let engine = r
                    .engine_commit
                    .clone()
                    .or_else(|| r.engine.clone())
                    .unwrap_or_else(|| "engine unknown".into());
                format!("{} ({})", day(&r.generated), engine)
            };
            let _ = writeln!(
                s,
                "| {} | {} {} | {} | {} | {} |",
                md(&c.config),
                mark(c),
                c.kind.as_str(),
                md(&what),
                md(&run(&c.first_bad)),
                md(&c.last_good.as_ref().map(run).unwrap_or_else(|| "—".into()))
            );
        }
        s.push('\n');
    }
    for n in &h.notes {
        let _ = writeln!(s, "> {}", md(n));
    }
    s
}
