//! `chart_tradeoff.png`: speedup against PSNR, one labelled point per config —
//! where each feature sits on the speed/quality trade-off. Identical configs
//! (PSNR = ∞) sit at their own labelled position right of the PSNR ticks;
//! configs without both numbers are listed under the plot, never silently
//! left out.

use std::ops::Range;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::canvas::Canvas;
use super::draw::{self, Area, INK, MUTED, Swatch};
use super::geom::{Axis, Rect};
use super::labels::{self, Label};
use super::psnr_axis::{PsnrRange, XAxis};
use super::{ChartRow, ChartThresholds};

const WIDTH: u32 = 1200;
const PLOT_HEIGHT: u32 = 620;
const NOTE_TOP_PAD: u32 = 8;
const NOTE_LINE_PX: u32 = 20;
/// Names longer than this are shortened in the middle.
const MAX_LABEL_PX: u32 = 280;

/// Picks a box of `w`×`h` near `p` that overlaps neither a placed label nor a
/// marker, trying nearby spots first and further ones (with a leader line)
/// after. Falls back to the spot with the least overlap.
fn place(p: (i32, i32), w: i32, h: i32, taken: &[Rect], bounds: &Rect) -> (Rect, bool) {
    let mut best: Option<(i64, Rect, bool)> = None;
    for (ring, d) in [9, 24, 42, 64, 90].into_iter().enumerate() {
        let diag = d * 7 / 10;
        let spots = [
            (p.0 + d, p.1 - h / 2),
            (p.0 - d - w, p.1 - h / 2),
            (p.0 - w / 2, p.1 - d - h),
            (p.0 - w / 2, p.1 + d),
            (p.0 + diag, p.1 - diag - h),
            (p.0 + diag, p.1 + diag),
            (p.0 - diag - w, p.1 - diag - h),
            (p.0 - diag - w, p.1 + diag),
        ];
        for (x, y) in spots {
            let r = Rect {
                x0: x,
                y0: y,
                x1: x + w,
                y1: y + h,
            };
            if !r.inside(bounds) {
                continue;
            }
            let cost: i64 = taken.iter().map(|t| t.overlap(&r)).sum();
            if cost == 0 {
                return (r, ring > 0);
            }
            if best.as_ref().is_none_or(|b| cost < b.0) {
                best = Some((cost, r, ring > 0));
            }
        }
    }
    best.map(|(_, r, leader)| (r, leader)).unwrap_or((
        Rect {
            x0: p.0 + 9,
            y0: p.1 - h / 2,
            x1: p.0 + 9 + w,
            y1: p.1 + h / 2,
        },
        false,
    ))
}

/// A config on the chart: its PSNR (`None`: identical, drawn at the axis's
/// identical position) and its speedup.
struct Point<'a> {
    row: &'a ChartRow,
    psnr: Option<f64>,
    speedup: f64,
}

/// The quality axis when it is a metric plugin's (`--tradeoff-metric`):
/// the rows' `psnr` then holds that metric's figure.
pub struct QualityAxis {
    /// "LPIPS"
    pub label: String,
    /// "LPIPS vs baseline (lower = closer)"
    pub desc: String,
}

/// Splits the rows into plotted points and, for the rest, why they are not.
fn split<'a>(rows: &'a [ChartRow], quality: &str) -> (Vec<Point<'a>>, Vec<String>) {
    let mut points = Vec::new();
    let mut missing = Vec::new();
    for row in rows {
        let speedup = draw::finite(row.speedup).filter(|s| *s > 0.0);
        let psnr = draw::finite(row.psnr);
        match (row.is_not_run(), speedup, psnr, row.identical) {
            (false, Some(s), Some(p), _) => points.push(Point {
                row,
                psnr: Some(p),
                speedup: s,
            }),
            (false, Some(s), None, true) => points.push(Point {
                row,
                psnr: None,
                speedup: s,
            }),
            _ => missing.push(match (&row.reason, row.is_not_run()) {
                (Some(r), _) => format!("{} ({}: {r})", row.name, row.status),
                (None, true) => format!("{} ({})", row.name, row.status),
                (None, false) => format!("{} ({}: no speedup or {quality})", row.name, row.status),
            }),
        }
    }
    (points, missing)
}

/// The lines of the note under the plot listing the configs left off it.
fn note_lines(missing: &[String]) -> Vec<String> {
    if missing.is_empty() {
        return Vec::new();
    }
    draw::wrap(
        &format!("Not on the chart — {}", missing.join("; ")),
        draw::SMALL_SIZE,
        WIDTH - 32,
    )
}

/// The chart of this module: PSNR across with the ticks chosen here,
/// speedup up.
type Chart<'c, 'b> = ChartContext<'c, Canvas<'b>, Cartesian2d<PsnrRange, RangedCoordf64>>;

/// The speedup axis: always around 1× (the baseline speed).
fn y_range(points: &[Point<'_>]) -> (f64, f64) {
    let lo = points.iter().map(|p| p.speedup).fold(0.9_f64, f64::min);
    let hi = points.iter().map(|p| p.speedup).fold(1.1_f64, f64::max);
    let pad = (hi - lo) * 0.12;
    ((lo - pad).max(0.0), hi + pad)
}

fn draw_header(area: &Area<'_>, axis: Option<&QualityAxis>) -> anyhow::Result<()> {
    let title = match axis {
        None => {
            "Speed / quality trade-off (mean PSNR vs the pure baseline; up and right is better)"
                .to_string()
        }
        Some(a) => format!("Speed / quality trade-off ({}; up is faster)", a.desc),
    };
    draw::header(
        area,
        &title,
        &[
            (Swatch::Dot(draw::status_color("PASS")), "PASS".into()),
            (Swatch::Dot(draw::status_color("WARN")), "WARN".into()),
            (Swatch::Dot(draw::status_color("FAIL")), "FAIL".into()),
            (Swatch::Dash(MUTED), "baseline speed (1×)".into()),
            (
                Swatch::Box(INK),
                "lossy: square marker, lossless: round".into(),
            ),
        ],
    )
}

/// The chart with its axes: a tick (and a grid line) at every PSNR tick and
/// at the identical position, each one labelled.
fn draw_axes<'c, 'b>(area: &Area<'b>, x: &XAxis, y: (f64, f64)) -> anyhow::Result<Chart<'c, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .margin_top(draw::TOP_PX)
        .margin_right(30)
        .x_label_area_size(56)
        .y_label_area_size(80)
        .build_cartesian_2d(x.range(), y.0..y.1)?;
    chart
        .configure_mesh()
        .x_desc(x.desc())
        .y_desc("Speedup (×)")
        .axis_desc_style(draw::text(draw::LABEL_SIZE, INK))
        .label_style(draw::text(draw::SMALL_SIZE, INK))
        .x_label_formatter(&|v| x.label(*v))
        .y_label_formatter(&|v| format!("{v:.2}×"))
        .bold_line_style(draw::GRID)
        .light_line_style(WHITE)
        .draw()?;
    Ok(chart)
}

/// A dashed line: where it runs, its colour and width.
type Line = ((Axis, i32, Range<i32>), RGBColor, u32);

/// The 1× line, and the axis break before the identical position.
fn lines(chart: &Chart<'_, '_>, x: &XAxis) -> Vec<Line> {
    let (xs, ys) = chart.plotting_area().get_pixel_range();
    let mut lines = Vec::new();
    let (_, one) = chart.backend_coord(&(x.lo, 1.0));
    if ys.contains(&one) {
        lines.push(((Axis::Horizontal, one, xs), MUTED, 1));
    }
    if let Some(b) = x.break_at {
        let (at, _) = chart.backend_coord(&(b, 1.0));
        lines.push(((Axis::Vertical, at, ys), draw::GRID, 2));
    }
    lines
}

/// What no label may cover: every marker (not only the label's own) and the
/// 1× line, so that it reads as one line.
fn obstacles(chart: &Chart<'_, '_>, x: &XAxis, pixels: &[(i32, i32)], bounds: &Rect) -> Vec<Rect> {
    let mut taken: Vec<Rect> = pixels
        .iter()
        .map(|&(x, y)| Rect {
            x0: x - 7,
            y0: y - 7,
            x1: x + 7,
            y1: y + 7,
        })
        .collect();
    let (_, one_y) = chart.backend_coord(&(x.lo, 1.0));
    taken.push(Rect {
        x0: bounds.x0,
        y0: one_y - 1,
        x1: bounds.x1,
        y1: one_y + 1,
    });
    taken
}

/// A marker per point: its shape tells lossy from lossless, its colour the status.
fn draw_markers(
    area: &Area<'_>,
    points: &[Point<'_>],
    pixels: &[(i32, i32)],
) -> anyhow::Result<()> {
    for (p, &(x, y)) in points.iter().zip(pixels) {
        let color = draw::status_color(&p.row.status);
        if p.row.lossy {
            area.draw(&Rectangle::new(
                [(x - 5, y - 5), (x + 5, y + 5)],
                color.filled(),
            ))?;
        } else {
            area.draw(&Circle::new((x, y), 6, color.filled()))?;
        }
    }
    Ok(())
}

/// A point's name where it was placed, and whether it needs a leader line.
struct Placed {
    label: Label,
    rect: Rect,
    leader: bool,
}

/// The name of each point, placed in turn (each placed label is an obstacle
/// for the next).
fn place_labels(
    points: &[Point<'_>],
    pixels: &[(i32, i32)],
    mut taken: Vec<Rect>,
    bounds: &Rect,
) -> Vec<Placed> {
    let mut placed = Vec::with_capacity(points.len());
    for (p, &(x, y)) in points.iter().zip(pixels) {
        let text = draw::fit(&p.row.name, draw::SMALL_SIZE, MAX_LABEL_PX);
        let (w, h) = draw::measure(&text, draw::SMALL_SIZE);
        let (w, h) = (w as i32 + 6, h as i32 + 4);
        let (rect, leader) = place((x, y), w, h, &taken, bounds);
        let at = (rect.x0 + 2, (rect.y0 + rect.y1) / 2);
        let label = Label::new(text, at, draw::SMALL_SIZE, INK);
        taken.push(rect);
        placed.push(Placed {
            label,
            rect,
            leader,
        });
    }
    placed
}

/// Leader lines (from a point to its label when it had to move away), then
/// the labels on top.
fn draw_labels(area: &Area<'_>, placed: &[Placed], pixels: &[(i32, i32)]) -> anyhow::Result<()> {
    for (p, &(x, y)) in placed.iter().zip(pixels) {
        if p.leader {
            let r = p.rect;
            let tx = ((r.x0 + r.x1) / 2).clamp(x.min(r.x1), x.max(r.x0));
            let ty = if (r.y0 + r.y1) / 2 < y { r.y1 } else { r.y0 };
            area.draw(&PathElement::new(
                vec![(x, y), (tx, ty)],
                MUTED.stroke_width(1),
            ))?;
        }
    }
    for p in placed {
        p.label.draw(area)?;
    }
    Ok(())
}

/// Each point's pixel and its placed name.
fn layout_points(
    chart: &Chart<'_, '_>,
    x: &XAxis,
    points: &[Point<'_>],
) -> (Vec<(i32, i32)>, Vec<Placed>) {
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let bounds = Rect {
        x0: xr.start + 2,
        y0: yr.start + 2,
        x1: xr.end - 2,
        y1: yr.end - 2,
    };
    let pixels: Vec<(i32, i32)> = points
        .iter()
        .map(|p| chart.backend_coord(&(x.x(p.psnr), p.speedup)))
        .collect();
    let taken = obstacles(chart, x, &pixels, &bounds);
    let placed = place_labels(points, &pixels, taken, &bounds);
    (pixels, placed)
}

/// Points, markers, labels, and the lines, which stop short of the labels.
fn draw_plot(
    area: &Area<'_>,
    chart: &Chart<'_, '_>,
    x: &XAxis,
    points: &[Point<'_>],
) -> anyhow::Result<()> {
    let (pixels, placed) = layout_points(chart, x, points);
    let boxes: Vec<Rect> = placed.iter().map(|p| p.label.rect()).collect();
    for (run, color, width) in lines(chart, x) {
        labels::dashed(area, run, &boxes, color, width)?;
    }
    draw_markers(area, points, &pixels)?;
    draw_labels(area, &placed, &pixels)
}

pub fn render(rows: &[ChartRow], th: &ChartThresholds) -> anyhow::Result<image::RgbImage> {
    render_with(rows, th, None)
}

/// The chart with PSNR across, or a metric plugin's figure (`axis`).
pub fn render_with(
    rows: &[ChartRow],
    _th: &ChartThresholds,
    axis: Option<&QualityAxis>,
) -> anyhow::Result<image::RgbImage> {
    let (points, missing) = split(rows, axis.map_or("PSNR", |a| a.label.as_str()));
    let note = note_lines(&missing);
    let height = PLOT_HEIGHT + NOTE_TOP_PAD + note.len() as u32 * NOTE_LINE_PX + 8;
    let psnrs: Vec<Option<f64>> = points.iter().map(|p| p.psnr).collect();
    let mut x = XAxis::new(&psnrs);
    x.name = axis.map(|a| a.desc.clone());
    let y = y_range(&points);

    draw::render(WIDTH, height, |root| {
        let (plot_area, note_area) = root.split_vertically(PLOT_HEIGHT);
        draw_header(&plot_area, axis)?;
        let chart = draw_axes(&plot_area, &x, y)?;
        draw_plot(&plot_area, &chart, &x, &points)?;
        for (i, line) in note.iter().enumerate() {
            note_area.draw(&Text::new(
                line.clone(),
                (16, (NOTE_TOP_PAD + i as u32 * NOTE_LINE_PX) as i32),
                draw::text(draw::SMALL_SIZE, INK),
            ))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, psnr: Option<f64>, speedup: f64) -> ChartRow {
        ChartRow {
            name: name.into(),
            status: "PASS".into(),
            lossy: psnr.is_some(),
            gpus: 2,
            mean_diff: None,
            speedup: Some(speedup),
            speedup_ci: None,
            psnr,
            identical: psnr.is_none(),
            reason: None,
        }
    }

    /// The run that showed the defect: identical configs bunched at the right
    /// push a name left over the axis break, and names sit near the 1× line.
    #[test]
    fn the_1x_line_and_the_axis_break_never_cross_a_name() {
        let rows = [
            row("cfg_parallel+cache_dit", Some(57.03), 1.23),
            row("cfg_parallel+teacache", Some(66.23), 1.01),
            row("cfg_parallel", None, 0.64),
            row("cfg_parallel+ulysses", None, 0.23),
            row("cfg_parallel+ring", None, 0.29),
            row("cfg_parallel+tp", None, 0.21),
        ];
        let (points, _) = split(&rows, "PSNR");
        let psnrs: Vec<Option<f64>> = points.iter().map(|p| p.psnr).collect();
        let x = XAxis::new(&psnrs);
        draw::render(WIDTH, PLOT_HEIGHT, |root| {
            let chart = draw_axes(root, &x, y_range(&points))?;
            let (_, placed) = layout_points(&chart, &x, &points);
            let boxes: Vec<Rect> = placed.iter().map(|p| p.label.rect()).collect();
            let mut straddled = 0;
            for ((axis, at, span), _, width) in lines(&chart, &x) {
                straddled += boxes
                    .iter()
                    .filter(|b| match axis {
                        Axis::Vertical => b.x0 <= at && at < b.x1,
                        Axis::Horizontal => b.y0 <= at && at < b.y1,
                    })
                    .count();
                let half = width as i32;
                for d in labels::dash_segments((axis, at, span), &boxes, width) {
                    let stroke = match axis {
                        Axis::Vertical => Rect {
                            x0: at - half,
                            y0: d.start,
                            x1: at + half + 1,
                            y1: d.end,
                        },
                        Axis::Horizontal => Rect {
                            x0: d.start,
                            y0: at - half,
                            x1: d.end,
                            y1: at + half + 1,
                        },
                    };
                    assert!(
                        boxes.iter().all(|b| b.overlap(&stroke) == 0),
                        "{axis:?} {d:?}"
                    );
                }
            }
            assert!(straddled >= 1, "no name lies across a line: {boxes:?}");
            Ok(())
        })
        .unwrap();
    }
}
