//! `chart_quality.png`: MeanDiff per config against the pure baseline —
//! horizontal bars coloured lossless / lossy, the applied thresholds as dashed
//! lines, every value labelled; SKIP and ERROR rows get a label and no bar.

use plotters::prelude::*;

use super::draw::{self, Area, BarLayout, Chart, LOSSLESS, LOSSY, MUTED, Swatch};
use super::{ChartRow, ChartThresholds};

const WIDTH: u32 = 1200;
const RIGHT_PX: u32 = 30;

/// MeanDiff as a short label: tiny differences keep their magnitude.
fn fmt_mean_diff(row: &ChartRow, v: f64) -> String {
    if row.identical || v == 0.0 {
        "0 (identical)".into()
    } else if v < 0.001 {
        format!("{v:.2e}")
    } else {
        format!("{v:.4}")
    }
}

/// The text drawn at the end of a row: the value and the status, or why there
/// is no value.
fn row_label(row: &ChartRow) -> (String, RGBColor) {
    let color = draw::status_color(&row.status);
    match draw::finite(row.mean_diff) {
        Some(v) if !row.is_not_run() => {
            (format!("{}  {}", fmt_mean_diff(row, v), row.status), color)
        }
        _ => {
            let why =
                row.reason
                    .as_deref()
                    .unwrap_or(if row.is_not_run() { "" } else { "no MeanDiff" });
            let label = if why.is_empty() {
                row.status.clone()
            } else {
                format!("{} — {why}", row.status)
            };
            (label, color)
        }
    }
}

/// A threshold drawn as a dashed line, with its legend text.
struct Threshold {
    x: f64,
    color: RGBColor,
    label: String,
}

/// Only the thresholds that applied to some row (all when there are none):
/// a lossy line on an all-lossless run would suggest a rule that was not used.
fn thresholds(rows: &[ChartRow], th: &ChartThresholds) -> Vec<Threshold> {
    let any_lossless = rows.iter().any(|r| !r.lossy);
    let any_lossy = rows.iter().any(|r| r.lossy);
    let (show_lossless, show_lossy) = match (any_lossless, any_lossy) {
        (false, false) => (true, true),
        other => other,
    };
    let mut lines = Vec::new();
    if show_lossless {
        lines.push(Threshold {
            x: th.lossless_mean,
            color: LOSSLESS,
            label: format!("lossless FAIL > {}", th.lossless_mean),
        });
    }
    if show_lossy {
        lines.push(Threshold {
            x: th.lossy_mean,
            color: LOSSY,
            label: format!("lossy WARN > {}", th.lossy_mean),
        });
        lines.push(Threshold {
            x: th.lossy_fail_mean,
            color: draw::FAIL_LINE,
            label: format!("lossy FAIL > {}", th.lossy_fail_mean),
        });
    }
    // The engine's own run-to-run MeanDiff (--repeat-baseline): lossless
    // configs at or under it are PASS whatever the lossless threshold says.
    if let Some(x) = th.noise_floor {
        lines.push(Threshold {
            x,
            color: draw::MUTED,
            label: format!("engine noise ≤ {x:.4}"),
        });
    }
    lines.retain(|l| l.x.is_finite() && l.x > 0.0);
    lines
}

/// The MeanDiff a row's bar shows, if it gets one.
fn bar_value(row: &ChartRow) -> Option<f64> {
    draw::finite(row.mean_diff).filter(|_| !row.is_not_run())
}

/// The right end of the x axis: every threshold, and room for each value
/// label right of its bar (the label may take at most 60% of the plot).
fn x_max(rows: &[ChartRow], lines: &[Threshold], plot_px: f64) -> f64 {
    let mut x_max = lines.iter().map(|l| l.x).fold(1e-3_f64, f64::max);
    for row in rows {
        if let Some(v) = bar_value(row) {
            let label_px = draw::measure(&row_label(row).0, draw::SMALL_SIZE).0 as f64 + 16.0;
            let share = (label_px / plot_px).min(0.6);
            x_max = x_max.max(v.max(0.0) / (1.0 - share));
        }
    }
    x_max * 1.05
}

fn legend(lines: &[Threshold]) -> Vec<(Swatch, String)> {
    let mut legend = vec![
        (Swatch::Box(LOSSLESS), "lossless config".to_string()),
        (Swatch::Box(LOSSY), "lossy config".to_string()),
    ];
    legend.extend(
        lines
            .iter()
            .map(|l| (Swatch::Dash(l.color), l.label.clone())),
    );
    legend
}

/// One config's row: its name, then its bar and value, or its note.
fn draw_row(
    root: &Area<'_>,
    chart: &mut Chart<'_, '_>,
    layout: &BarLayout,
    i: usize,
    row: &ChartRow,
    x_max: f64,
) -> anyhow::Result<()> {
    let y = layout.y(i);
    let (px, py) = layout.name(root, chart, i, 0.0)?;
    let (label, color) = row_label(row);
    match bar_value(row) {
        Some(v) => {
            let v = v.clamp(0.0, x_max);
            let fill = if row.lossy { LOSSY } else { LOSSLESS };
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, y - 0.32), (v, y + 0.32)],
                fill.filled(),
            )))?;
            let (bx, by) = chart.backend_coord(&(v, y));
            draw::label_on_white(root, label, (bx + 8, by), draw::SMALL_SIZE, color)
        }
        None => {
            // A run config without a MeanDiff is a gap in the analysis, not a
            // verdict: muted, unlike the status colour of SKIP and ERROR.
            let color = if row.is_not_run() { color } else { MUTED };
            let plot_px = layout.plot_px(RIGHT_PX);
            draw::row_note(root, &label, (px, py), plot_px, color)
        }
    }
}

pub fn render(rows: &[ChartRow], th: &ChartThresholds) -> anyhow::Result<image::RgbImage> {
    let layout = BarLayout::new(rows.iter().map(|r| r.name.clone()), WIDTH);
    let lines = thresholds(rows, th);
    let x_max = x_max(rows, &lines, layout.plot_px(RIGHT_PX));

    draw::render(layout.width, layout.height, |root| {
        draw::header(
            root,
            "Image difference vs the pure baseline (mean MeanDiff over prompts)",
            &legend(&lines),
        )?;
        let mut chart = layout.chart(root, 0.0..x_max, RIGHT_PX)?;
        draw::bar_axis(
            &mut chart,
            "MeanDiff (0 = identical, 1 = opposite)",
            8,
            &|v| format!("{v:.3}"),
        )?;

        // Threshold lines first, so that bars and labels sit on top of them.
        let n = layout.names.len().max(1) as f64;
        for line in &lines {
            draw::vdash(&mut chart, line.x, 0.0, n, line.color)?;
        }
        for (i, row) in rows.iter().enumerate() {
            draw_row(root, &mut chart, &layout, i, row, x_max)?;
        }
        Ok(())
    })
}
