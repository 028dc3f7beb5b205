//! Exporters: one file per format, each built from the [`model::Report`] alone
//! (data in, text out), so they can be tested without running anything.

pub mod bill;
pub mod charts;
pub mod export;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod metric_model;
pub mod model;
pub mod table;
pub mod visual;

pub use model::{ConfigResult, Report, Status};

/// "1.23" or "—".
pub(crate) fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".to_string(), |x| format!("{x:.digits$}"))
}

/// PSNR cell: dB, "identical" when every compared image is identical.
pub(crate) fn psnr_cell(r: &ConfigResult) -> String {
    match r.psnr_avg {
        Some(p) => format!("{p:.2}"),
        None if r.all_identical() => "identical".to_string(),
        None => "—".to_string(),
    }
}

/// What must be said beside a speedup that cannot be read as a change:
/// "not significant" (its interval holds 1) or "too few prompts" (none).
pub(crate) fn speedup_note(r: &ConfigResult) -> Option<&'static str> {
    r.speedup?;
    match r.speedup_significant {
        Some(false) => Some("not significant"),
        None if r.speedup_method.as_deref() == Some(model::TOO_FEW) => Some(model::TOO_FEW),
        _ => None,
    }
}

/// "2.01× [1.95, 2.08]", with "not significant" when the interval holds 1,
/// and "too few prompts" when there is none to tell.
pub(crate) fn speedup_cell(r: &ConfigResult) -> String {
    let Some(s) = r.speedup else {
        return "—".to_string();
    };
    match (r.speedup_ci, speedup_note(r)) {
        (Some(ci), note) => format!(
            "{s:.2}× [{:.2}, {:.2}]{}",
            ci.low,
            ci.high,
            note.map_or(String::new(), |n| format!(" {n}"))
        ),
        (None, Some(note)) => format!("{s:.2}× ({note})"),
        (None, None) => format!("{s:.2}×"),
    }
}

/// The thresholds applied, in words.
pub(crate) fn thresholds_text(r: &ConfigResult) -> String {
    let t = &r.thresholds;
    if r.is_lossy {
        format!(
            "lossy thresholds: WARN above mean {}, FAIL above mean {}",
            t.lossy_mean, t.lossy_fail_mean
        )
    } else {
        format!(
            "lossless thresholds: FAIL above mean {} or max {}",
            t.lossless_mean, t.lossless_max
        )
    }
}
