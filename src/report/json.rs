//! report.json: the [`Report`] struct, pretty-printed.

use super::Report;

/// The report as pretty JSON with a trailing newline.
pub fn render(report: &Report) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(report)?;
    s.push('\n');
    Ok(s)
}

/// Reads a report.json back.
pub fn read(path: &std::path::Path) -> anyhow::Result<Report> {
    crate::results::atomic::read_json(path)
}
