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
use verdict::{Rules, Verdict};

use crate::report::model::ConfigResult;

const RULES_HELP: &str = "\
Verdict rules (each report against the first, per config):
  Speed is the mean generation time per image (mean_gen_time_ms), not the
  speedup: an engine-wide optimisation speeds up the baseline too and would be
  invisible in speedups. Each side's noise is its speedup interval mapped onto
  time, [T*S/hi, T*S/lo]. Improved: B's interval lies wholly below A's and the
  time fell by more than --noise. Regressed: wholly above and rose by more
  than --noise. Otherwise Unchanged. Without a speedup interval (the pure
  baseline) the per-prompt times of both reports are bootstrapped instead;
  with fewer than 2 timings the point change alone is held against --noise.
  Status dominates: PASS < WARN < FAIL < ERROR; worse is Regressed, better is
  Improved. SKIP on one side only is NotComparable, never a regression.
  A config only in B is New, only in A Missing.
Gate (--fail-on-regression, exit 1): a worse status; a slowdown beyond
  --max-slowdown whose intervals do not overlap; a config Missing that was
  PASS or WARN.
Refused (exit 2) unless --force: different model, steps, size or prompts, or an
  unknown report schema version.";

/// `compat compare`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_long_help = RULES_HELP)]
pub struct CompareArgs {
    /// report.json files (or results directories holding one); the first is the reference
    #[arg(required = true, num_args = 2.., value_name = "REPORT")]
    pub reports: Vec<PathBuf>,
    /// Show the fastest PASS config per report, over all, and per GPU count
    #[arg(long)]
    pub best: bool,
    /// With --best, WARN configs are eligible too
    #[arg(long)]
    pub allow_warn: bool,
    /// Print the comparison as JSON to stdout instead of the table
    #[arg(long)]
    pub json: bool,
    /// Write a Markdown comparison (for a PR comment)
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Exit 1 when a config regressed in status, slowed beyond --max-slowdown, or vanished
    #[arg(long)]
    pub fail_on_regression: bool,
    /// The gate's slowdown limit: "5%" or "0.05"
    #[arg(long, value_name = "FRACTION", default_value = "5%", value_parser = parse_fraction)]
    pub max_slowdown: f64,
    /// Time changes at most this large are Unchanged: "2%" or "0.02"
    #[arg(long, value_name = "FRACTION", default_value = "2%", value_parser = parse_fraction)]
    pub noise: f64,
    /// Compare reports whose workloads or schema versions differ, with a warning
    #[arg(long)]
    pub force: bool,
}

/// "5%" → 0.05, "0.05" → 0.05. A bare number above 1 is refused: "5" could
/// mean 5% or 500%, and a gate must not guess.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, pct) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (t, false),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a fraction; write 5% or 0.05"))?;
    let v = if pct { v / 100.0 } else { v };
    if !v.is_finite() || v < 0.0 {
        return Err(format!("'{s}' must be a non-negative fraction"));
    }
    if !pct && v > 1.0 {
        return Err(format!("'{s}' is ambiguous; write {s}% or {}", v / 100.0));
    }
    Ok(v)
}

/// `compat compare`: load, judge, print, gate.
pub fn command(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let cmp = build(&args)?;
    if args.json {
        let text =
            serde_json::to_string_pretty(&cmp).context("failed to serialise the comparison")?;
        println!("{text}");
    } else {
        let color = crate::report::table::color_wanted();
        print!("{}", output::table(&cmp, color));
    }
    if let Some(path) = &args.markdown {
        crate::results::atomic::write(path, output::markdown(&cmp).as_bytes())?;
    }
    Ok(ExitCode::from(if cmp.gate.enabled && cmp.gate.failed {
        crate::exit::FAILURE
    } else {
        crate::exit::SUCCESS
    }))
}

/// Loads the reports and builds the [`Comparison`] (prints and writes nothing).
pub fn build(args: &CompareArgs) -> anyhow::Result<Comparison> {
    let (loaded, mut warnings) =
        load::load_all(&args.reports, args.force).map_err(|e| crate::exit::usage(e.to_string()))?;
    let rules = Rules {
        noise: args.noise,
        max_slowdown: args.max_slowdown,
    };
    Ok(compare(
        &loaded,
        &rules,
        args.best.then_some(args.allow_warn),
        args.fail_on_regression,
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
        .map(|row| {
            let first = row.cells.first().copied().flatten();
            let changes: Vec<Change> = row
                .cells
                .iter()
                .enumerate()
                .skip(1)
                .map(|(i, cell)| {
                    let label = &loaded[i].label;
                    let j = verdict::judge(first, *cell, rules);
                    let s = &mut summary[i - 1];
                    match j.verdict {
                        Verdict::Improved => s.improved += 1,
                        Verdict::Regressed => s.regressed += 1,
                        Verdict::Unchanged => s.unchanged += 1,
                        Verdict::NotComparable => s.not_comparable += 1,
                        Verdict::New => s.new += 1,
                        Verdict::Missing => s.missing += 1,
                    }
                    let (from, to) = (
                        first.map(|c| c.compat_status),
                        cell.map(|c| c.compat_status),
                    );
                    if from.is_some() && to.is_some() && from != to {
                        s.status_changes += 1;
                    }
                    if let Some(g) = &j.gate {
                        reasons.push(format!("{label}: {}: {g}", row.name));
                    }
                    let delta =
                        |f: fn(&ConfigResult) -> Option<f64>| Some(f((*cell)?)? - f(first?)?);
                    Change {
                        report: label.clone(),
                        verdict: j.verdict,
                        status_from: from,
                        status_to: to,
                        time_change: j.speed.map(|s| s.time_change),
                        significant: j.speed.and_then(|s| s.significant),
                        speedup_delta: delta(|c| c.speedup),
                        mean_diff_delta: delta(|c| c.mean_diff_avg),
                        note: j.note,
                        gate: j.gate,
                    }
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
                entries: row
                    .cells
                    .iter()
                    .map(|c| {
                        c.map(|c| Entry {
                            status: c.compat_status,
                            mean_gen_time_ms: c.mean_gen_time_ms,
                            speedup: c.speedup,
                            speedup_ci: c.speedup_ci,
                            mean_diff_avg: c.mean_diff_avg,
                            reason: c.reason.clone(),
                        })
                    })
                    .collect(),
                changes,
            }
        })
        .collect();
    Comparison {
        schema_version: model::COMPARE_SCHEMA_VERSION,
        tool: "compat".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        speed_metric: "mean_gen_time_ms".into(),
        rules: *rules,
        reports: loaded.iter().map(report_ref).collect(),
        warnings: warnings.clone(),
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

fn report_ref(l: &load::Loaded) -> ReportRef {
    let r = &l.report;
    ReportRef {
        label: l.label.clone(),
        path: display(&l.path),
        schema_version: r.schema_version,
        generated: r.generated.clone(),
        model: r.run.model.clone(),
        backend: r.run.backend.clone(),
        steps: r.run.steps,
        height: r.run.height,
        width: r.run.width,
        num_prompts: r.run.num_prompts,
    }
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::parse_fraction;

    #[test]
    fn fractions() {
        assert_eq!(parse_fraction("5%"), Ok(0.05));
        assert_eq!(parse_fraction("0.05"), Ok(0.05));
        assert_eq!(parse_fraction(" 12.5 % "), Ok(0.125));
        assert!(parse_fraction("5").is_err());
        assert!(parse_fraction("-1%").is_err());
        assert!(parse_fraction("fast").is_err());
    }
}
