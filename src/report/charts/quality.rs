//! `chart_quality.png`: MeanDiff per config against the pure baseline —
//! horizontal bars coloured lossless / lossy, the applied thresholds as dashed
//! lines, every value labelled; SKIP and ERROR rows get a label and no bar.

use plotters::prelude::*;

use super::draw::{self, BarLayout, Chart, LOSSLESS, LOSSY, MUTED, Swatch};
use super::geom::{Axis, Rect};
use super::labels::{self, Label};
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

/// The text at the end of row `i`: right of its bar, or from the axis when
/// it has no bar (a run config without a MeanDiff is a gap in the analysis,
/// not a verdict: muted, unlike the status colour of SKIP and ERROR).
fn row_text(
    chart: &Chart<'_, '_>,
    layout: &BarLayout,
    i: usize,
    row: &ChartRow,
    x_max: f64,
) -> Label {
    let (label, color) = row_label(row);
    match bar_value(row) {
        Some(v) => {
            let (bx, by) = chart.backend_coord(&(v.clamp(0.0, x_max), layout.y(i)));
            Label::new(label, (bx + 8, by), draw::SMALL_SIZE, color)
        }
        None => {
            let color = if row.is_not_run() { color } else { MUTED };
            let at = chart.backend_coord(&(0.0, layout.y(i)));
            labels::row_note(&label, at, layout.plot_px(RIGHT_PX), color)
        }
    }
}

/// Every row's end text, in row order, moved right of a threshold line that
/// would cut its first words.
fn row_texts(
    chart: &Chart<'_, '_>,
    layout: &BarLayout,
    rows: &[ChartRow],
    (lines, x_max): (&[Threshold], f64),
) -> Vec<Label> {
    let columns: Vec<i32> = lines
        .iter()
        .map(|l| labels::plot_vline(chart, l.x).0)
        .collect();
    let right = chart.plotting_area().get_pixel_range().0.end;
    rows.iter()
        .enumerate()
        .map(|(i, row)| row_text(chart, layout, i, row, x_max).right_of_lines(&columns, right))
        .collect()
}

/// Row `i`'s bar, if it has one.
fn draw_bar(
    chart: &mut Chart<'_, '_>,
    layout: &BarLayout,
    i: usize,
    row: &ChartRow,
    x_max: f64,
) -> anyhow::Result<()> {
    if let Some(v) = bar_value(row) {
        let y = layout.y(i);
        let fill = if row.lossy { LOSSY } else { LOSSLESS };
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y - 0.32), (v.clamp(0.0, x_max), y + 0.32)],
            fill.filled(),
        )))?;
    }
    Ok(())
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

        // Threshold lines first, so that bars and labels sit on top of them;
        // they stop short of every label instead of running through it.
        let texts = row_texts(&chart, &layout, rows, (&lines, x_max));
        let boxes: Vec<Rect> = texts.iter().map(Label::rect).collect();
        for line in &lines {
            let (at, span) = labels::plot_vline(&chart, line.x);
            labels::dashed(root, (Axis::Vertical, at, span), &boxes, line.color, 2)?;
        }
        for (i, row) in rows.iter().enumerate() {
            layout.name(root, &chart, i, 0.0)?;
            draw_bar(&mut chart, &layout, i, row, x_max)?;
        }
        for text in &texts {
            text.draw(root)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, lossy: bool, mean_diff: Option<f64>, reason: Option<&str>) -> ChartRow {
        ChartRow {
            name: name.into(),
            status: if reason.is_some() { "SKIP" } else { "PASS" }.into(),
            lossy,
            gpus: 1,
            mean_diff,
            speedup: Some(1.0),
            speedup_ci: None,
            psnr: None,
            identical: mean_diff == Some(0.0),
            reason: reason.map(str::to_string),
        }
    }

    /// Every dash of the threshold lines, as a 3-pixel-wide stroke box.
    fn strokes(chart: &Chart<'_, '_>, lines: &[Threshold], boxes: &[Rect]) -> Vec<Vec<Rect>> {
        lines
            .iter()
            .map(|line| {
                let (at, span) = labels::plot_vline(chart, line.x);
                labels::dash_segments((Axis::Vertical, at, span), boxes, 2)
                    .into_iter()
                    .map(|d| Rect {
                        x0: at - 1,
                        y0: d.start,
                        x1: at + 2,
                        y1: d.end,
                    })
                    .collect()
            })
            .collect()
    }

    /// The run of issue 15: the lossless line at 0.02 ran through "PASS — no
    /// MeanDiff", "0 (identical)  PASS" and the SKIP note. Now those labels
    /// move right of it and it runs whole; a long note that the lossy lines
    /// would cross far into it interrupts them instead.
    #[test]
    fn threshold_lines_never_cross_a_row_label() {
        let long = "requires 4 GPUs, only 2 available, and a reason long enough to run \
                    across both lossy thresholds";
        let rows = vec![
            row("baseline", false, None, None),
            row("cfg_parallel", false, Some(0.0), None),
            row("cfg_parallel+teacache", true, Some(1.58e-4), None),
            row("cfg_parallel+ulysses", false, None, Some(long)),
        ];
        let th = ChartThresholds {
            lossless_mean: 0.02,
            lossy_mean: 0.15,
            lossy_fail_mean: 0.3,
            noise_floor: None,
        };
        let layout = BarLayout::new(rows.iter().map(|r| r.name.clone()), WIDTH);
        let lines = thresholds(&rows, &th);
        let x_max = x_max(&rows, &lines, layout.plot_px(RIGHT_PX));
        draw::render(layout.width, layout.height, |root| {
            let chart = layout.chart(root, 0.0..x_max, RIGHT_PX)?;
            let texts = row_texts(&chart, &layout, &rows, (&lines, x_max));
            let boxes: Vec<Rect> = texts.iter().map(Label::rect).collect();
            let strokes = strokes(&chart, &lines, &boxes);
            for (line, dashes) in lines.iter().zip(&strokes) {
                for d in dashes {
                    assert!(boxes.iter().all(|b| b.overlap(d) == 0), "{}", line.label);
                }
            }
            // The lossless line is whole: every label moved right of it.
            let (at, span) = labels::plot_vline(&chart, th.lossless_mean);
            assert!(boxes.iter().all(|b| b.x0 > at + 4), "{boxes:?}");
            let dashes = &strokes[0];
            assert!(dashes[0].y0 == span.start && dashes.last().unwrap().y1 >= span.end - 6);
            // The long note still starts at the axis side of the lossy lines,
            // which it interrupts: the test sees both ways of not crossing.
            let lossy_at = labels::plot_vline(&chart, th.lossy_mean).0;
            let note = boxes[3];
            assert!(note.x0 < lossy_at && lossy_at < note.x1, "{note:?}");
            Ok(())
        })
        .unwrap();
    }
}
