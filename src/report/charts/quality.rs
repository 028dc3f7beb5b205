//! `chart_quality.png`: MeanDiff per config against the pure baseline —
//! horizontal bars coloured lossless / lossy, the applied thresholds as dashed
//! lines, every value labelled; SKIP and ERROR rows get a label and no bar.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::draw::{self, BarLayout, INK, LOSSLESS, LOSSY, MUTED, Swatch};
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

pub fn render(rows: &[ChartRow], th: &ChartThresholds) -> anyhow::Result<image::RgbImage> {
    let layout = BarLayout::new(rows.iter().map(|r| r.name.clone()), WIDTH);
    let plot_px = (WIDTH - layout.left - RIGHT_PX) as f64;

    // Only the thresholds that applied to some row (all when there are none).
    let any_lossless = rows.iter().any(|r| !r.lossy);
    let any_lossy = rows.iter().any(|r| r.lossy);
    let (show_lossless, show_lossy) = match (any_lossless, any_lossy) {
        (false, false) => (true, true),
        other => other,
    };
    let mut lines: Vec<(f64, RGBColor, String)> = Vec::new();
    if show_lossless {
        lines.push((
            th.lossless_mean,
            LOSSLESS,
            format!("lossless FAIL > {}", th.lossless_mean),
        ));
    }
    if show_lossy {
        lines.push((
            th.lossy_mean,
            LOSSY,
            format!("lossy WARN > {}", th.lossy_mean),
        ));
        lines.push((
            th.lossy_fail_mean,
            draw::FAIL_LINE,
            format!("lossy FAIL > {}", th.lossy_fail_mean),
        ));
    }
    lines.retain(|(v, _, _)| v.is_finite() && *v > 0.0);

    // The x range leaves room for each value label right of its bar.
    let mut x_max = lines.iter().map(|l| l.0).fold(1e-3_f64, f64::max);
    for row in rows {
        if let Some(v) = draw::finite(row.mean_diff).filter(|_| !row.is_not_run()) {
            let label_px = draw::measure(&row_label(row).0, draw::SMALL_SIZE).0 as f64 + 16.0;
            let share = (label_px / plot_px).min(0.6);
            x_max = x_max.max(v.max(0.0) / (1.0 - share));
        }
    }
    x_max *= 1.05;

    draw::render(layout.width, layout.height, |root| {
        root.draw(&Text::new(
            "Image difference vs the pure baseline (mean MeanDiff over prompts)",
            (16, 14),
            draw::text(draw::TITLE_SIZE, INK),
        ))?;
        let mut legend = vec![
            (Swatch::Box(LOSSLESS), "lossless config".to_string()),
            (Swatch::Box(LOSSY), "lossy config".to_string()),
        ];
        legend.extend(lines.iter().map(|(_, c, l)| (Swatch::Dash(*c), l.clone())));
        draw::legend(root, 16, 58, &legend)?;

        let n = layout.names.len().max(1) as f64;
        let mut chart = ChartBuilder::on(root)
            .margin_top(draw::TOP_PX)
            .margin_right(RIGHT_PX)
            .x_label_area_size(draw::BOTTOM_PX)
            .y_label_area_size(layout.left)
            .build_cartesian_2d(0.0..x_max, 0.0..n)?;
        draw::bar_axis(
            &mut chart,
            "MeanDiff (0 = identical, 1 = opposite)",
            8,
            &|v| format!("{v:.3}"),
        )?;

        // Threshold lines first, so that bars and labels sit on top of them.
        for (x, color, _) in &lines {
            draw::vdash(&mut chart, *x, 0.0, n, *color)?;
        }
        for (i, row) in rows.iter().enumerate() {
            let y = layout.y(i);
            let (px, py) = chart.backend_coord(&(0.0, y));
            root.draw(&Text::new(
                layout.names[i].clone(),
                (px - 10, py),
                draw::text(draw::LABEL_SIZE, INK).pos(Pos::new(HPos::Right, VPos::Center)),
            ))?;
            let (label, color) = row_label(row);
            match draw::finite(row.mean_diff).filter(|_| !row.is_not_run()) {
                Some(v) => {
                    let v = v.clamp(0.0, x_max);
                    let fill = if row.lossy { LOSSY } else { LOSSLESS };
                    chart.draw_series(std::iter::once(Rectangle::new(
                        [(0.0, y - 0.32), (v, y + 0.32)],
                        fill.filled(),
                    )))?;
                    let (bx, by) = chart.backend_coord(&(v, y));
                    draw::label_on_white(root, label, (bx + 8, by), draw::SMALL_SIZE, color)?;
                }
                None => {
                    // No bar: the status and its reason, in the status colour.
                    let room = (plot_px as u32).saturating_sub(16);
                    let color = if row.is_not_run() { color } else { MUTED };
                    let label = draw::fit_end(&label, draw::SMALL_SIZE, room);
                    draw::label_on_white(root, label, (px + 8, py), draw::SMALL_SIZE, color)?;
                }
            }
        }
        Ok(())
    })
}
