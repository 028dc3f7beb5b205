//! JUnit XML (quick-junit), built from the report: one testcase per config;
//! SKIP as skipped; FAIL and ERROR as failures whose message holds the
//! metrics and the thresholds applied.

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::{ConfigResult, Report, Status, opt, psnr_cell, speedup_cell, thresholds_text};

fn metrics_text(report: &Report, r: &ConfigResult) -> String {
    let mut text = format!(
        "MeanDiff {} MaxDiff {} PSNR {} SSIM {} speedup {}",
        opt(r.mean_diff_avg, 4),
        opt(r.max_diff_avg, 4),
        psnr_cell(r),
        opt(r.ssim_avg, 4),
        speedup_cell(r)
    );
    // The metric plugins' figures, with the thresholds applied to them.
    for (m, value) in report
        .metrics
        .iter()
        .zip(super::metric_model::cells(&report.metrics, r))
    {
        text.push_str(&format!(" {} {value}", m.heading()));
        if let Some(c) = r.metrics.get(&m.name).filter(|c| c.judged) {
            let t = |v: Option<f64>| v.map_or_else(|| "—".to_string(), |v| v.to_string());
            text.push_str(&format!(" (warn {}, fail {})", t(c.warn), t(c.fail)));
        }
    }
    text
}

/// The JUnit XML text.
pub fn render(report: &Report) -> anyhow::Result<String> {
    let mut suite = TestSuite::new(format!(
        "compat:{}",
        report.baseline_feature.as_deref().unwrap_or("matrix")
    ));
    for r in &report.results {
        let status = match r.compat_status {
            Status::Pass | Status::Warn => TestCaseStatus::success(),
            Status::Skip => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(r.reason.clone().unwrap_or_else(|| "skipped".into()));
                s
            }
            Status::Fail | Status::Error => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_type(r.compat_status.as_str());
                s.set_message(format!(
                    "{}: {} — {}; {}",
                    r.compat_status,
                    r.reason.as_deref().unwrap_or(""),
                    metrics_text(report, r),
                    thresholds_text(r)
                ));
                let errors: Vec<String> = r
                    .prompts
                    .iter()
                    .filter_map(|p| {
                        p.error
                            .as_ref()
                            .map(|e| format!("prompt {}: {e}", p.prompt))
                    })
                    .collect();
                if !errors.is_empty() {
                    s.set_description(errors.join("\n"));
                }
                s
            }
        };
        let mut case = TestCase::new(r.name.clone(), status);
        case.set_classname(format!("compat.{}", r.role.as_str()));
        // The testcase's time: the config's generation seconds over its prompts.
        let total: f64 = r.prompts.iter().filter_map(|p| p.seconds).sum();
        // A hand-edited report may hold any number: a time Duration cannot
        // hold (1e20 s) is left out, not a panic.
        if r.timing.is_some()
            && let Ok(time) = std::time::Duration::try_from_secs_f64(total)
        {
            case.set_time(time);
        }
        let mut out = if r.compat_status == Status::Warn {
            format!(
                "WARN: {} — {}; {}",
                r.reason.as_deref().unwrap_or(""),
                metrics_text(report, r),
                thresholds_text(r)
            )
        } else {
            format!("{} — {}", r.compat_status, metrics_text(report, r))
        };
        for note in &r.notes {
            out.push_str(&format!("\nnote: {note}"));
        }
        case.set_system_out(out);
        suite.add_test_case(case);
    }
    let mut junit = quick_junit::Report::new("compat");
    junit.add_test_suite(suite);
    Ok(junit.to_string()?)
}
