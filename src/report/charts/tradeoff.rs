//! `chart_tradeoff.png`: speedup against PSNR, one labelled point per config —
//! where each feature sits on the speed/quality trade-off. Identical configs
//! (PSNR = ∞) sit in their own column at the right; configs without both
//! numbers are listed under the plot, never silently left out.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::draw::{self, Area, Chart, INK, MUTED, Swatch};
use super::{ChartRow, ChartThresholds};

const WIDTH: u32 = 1200;
const PLOT_HEIGHT: u32 = 620;
const NOTE_TOP_PAD: u32 = 8;
const NOTE_LINE_PX: u32 = 20;
/// Names longer than this are shortened in the middle.
const MAX_LABEL_PX: u32 = 280;

/// A point in pixel space with its label box, for overlap-free placement.
#[derive(Clone, Copy)]
struct Rect {
    x0: i32,
    y0: i32,
    x1: i32,
    y1: i32,
}

impl Rect {
    fn overlap(&self, o: &Rect) -> i64 {
        let w = (self.x1.min(o.x1) - self.x0.max(o.x0)).max(0) as i64;
        let h = (self.y1.min(o.y1) - self.y0.max(o.y0)).max(0) as i64;
        w * h
    }
    fn inside(&self, o: &Rect) -> bool {
        self.x0 >= o.x0 && self.y0 >= o.y0 && self.x1 <= o.x1 && self.y1 <= o.y1
    }
}

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

/// A config on the chart: its PSNR (`None`: identical, drawn in the ∞
/// column) and its speedup.
struct Point<'a> {
    row: &'a ChartRow,
    psnr: Option<f64>,
    speedup: f64,
}

/// Splits the rows into plotted points and, for the rest, why they are not.
fn split(rows: &[ChartRow]) -> (Vec<Point<'_>>, Vec<String>) {
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
                (None, false) => format!("{} ({}: no speedup or PSNR)", row.name, row.status),
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

/// The axis ranges, in chart units.
struct Axes {
    x_lo: f64,
    /// The largest PSNR tick; right of it lies the identical column, if any.
    x_hi: f64,
    x_max: f64,
    /// Centre of the identical (∞) column, and the line separating it.
    inf_x: f64,
    sep_x: f64,
    any_identical: bool,
    y_lo: f64,
    y_hi: f64,
}

impl Axes {
    fn new(points: &[Point<'_>]) -> Self {
        // x: finite PSNRs, then a separate column for "identical" (∞).
        let finite: Vec<f64> = points.iter().filter_map(|p| p.psnr).collect();
        let (x_lo, x_hi) = match (
            finite.iter().copied().reduce(f64::min),
            finite.iter().copied().reduce(f64::max),
        ) {
            (Some(a), Some(b)) => (a, b),
            _ => (20.0, 50.0),
        };
        let pad = ((x_hi - x_lo) * 0.12).max(3.0);
        let (x_lo, x_hi) = ((x_lo - pad).floor(), (x_hi + pad).ceil());
        let span = x_hi - x_lo;
        let any_identical = points.iter().any(|p| p.psnr.is_none());
        let inf_x = x_hi + span * 0.16;
        let x_max = if any_identical {
            inf_x + span * 0.1
        } else {
            x_hi
        };

        // y: always around 1× (the baseline speed).
        let y_lo = points.iter().map(|p| p.speedup).fold(0.9_f64, f64::min);
        let y_hi = points.iter().map(|p| p.speedup).fold(1.1_f64, f64::max);
        let y_pad = (y_hi - y_lo) * 0.12;
        Axes {
            x_lo,
            x_hi,
            x_max,
            inf_x,
            sep_x: x_hi + span * 0.06,
            any_identical,
            y_lo: (y_lo - y_pad).max(0.0),
            y_hi: y_hi + y_pad,
        }
    }
}

const IDENTICAL_CAPTION: &str = "identical (PSNR ∞)";

fn draw_header(area: &Area<'_>) -> anyhow::Result<()> {
    draw::header(
        area,
        "Speed / quality trade-off (mean PSNR vs the pure baseline; up and right is better)",
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

/// The chart with its axes, the 1× line and the identical column.
fn draw_axes<'c, 'b>(area: &Area<'b>, ax: &Axes) -> anyhow::Result<Chart<'c, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .margin_top(draw::TOP_PX)
        .margin_right(30)
        .x_label_area_size(56)
        .y_label_area_size(80)
        .build_cartesian_2d(ax.x_lo..ax.x_max, ax.y_lo..ax.y_hi)?;
    chart
        .configure_mesh()
        .x_desc("PSNR vs baseline (dB, higher = closer)")
        .y_desc("Speedup (×)")
        .axis_desc_style(draw::text(draw::LABEL_SIZE, INK))
        .label_style(draw::text(draw::SMALL_SIZE, INK))
        // No PSNR ticks over the identical column: ∞ has no number.
        .x_label_formatter(&|v| {
            if *v > ax.x_hi {
                String::new()
            } else {
                format!("{v:.0}")
            }
        })
        .y_label_formatter(&|v| format!("{v:.2}×"))
        .bold_line_style(draw::GRID)
        .light_line_style(WHITE)
        .draw()?;
    chart
        .draw_series(DashedLineSeries::new(
            vec![(ax.x_lo, 1.0), (ax.x_max, 1.0)],
            6,
            4,
            MUTED.stroke_width(1),
        ))
        .map_err(|e| anyhow::anyhow!("failed to draw the 1× line: {e}"))?;
    if ax.any_identical {
        draw::vdash(&mut chart, ax.sep_x, ax.y_lo, ax.y_hi, draw::GRID)?;
        let (ix, iy) = chart.backend_coord(&(ax.inf_x, ax.y_hi));
        area.draw(&Text::new(
            IDENTICAL_CAPTION,
            (ix, iy + 8),
            draw::text(draw::SMALL_SIZE, INK).pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;
    }
    Ok(chart)
}

/// What no label may cover: every marker (not only the label's own), the 1×
/// line so that it reads as one line, and the identical column's caption.
fn obstacles(chart: &Chart<'_, '_>, ax: &Axes, pixels: &[(i32, i32)], bounds: &Rect) -> Vec<Rect> {
    let mut taken: Vec<Rect> = pixels
        .iter()
        .map(|&(x, y)| Rect {
            x0: x - 7,
            y0: y - 7,
            x1: x + 7,
            y1: y + 7,
        })
        .collect();
    let (_, one_y) = chart.backend_coord(&(ax.x_lo, 1.0));
    taken.push(Rect {
        x0: bounds.x0,
        y0: one_y - 1,
        x1: bounds.x1,
        y1: one_y + 1,
    });
    if ax.any_identical {
        let (ix, iy) = chart.backend_coord(&(ax.inf_x, ax.y_hi));
        let (w, h) = draw::measure(IDENTICAL_CAPTION, draw::SMALL_SIZE);
        let (w, h) = (w as i32, h as i32);
        taken.push(Rect {
            x0: ix - w / 2 - 4,
            y0: iy,
            x1: ix + w / 2 + 4,
            y1: iy + h + 12,
        });
    }
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

/// The name of each point, placed in turn (each placed label is an obstacle
/// for the next), with a leader line when it had to move away.
fn draw_labels(
    area: &Area<'_>,
    points: &[Point<'_>],
    pixels: &[(i32, i32)],
    mut taken: Vec<Rect>,
    bounds: &Rect,
) -> anyhow::Result<()> {
    for (p, &(x, y)) in points.iter().zip(pixels) {
        let label = draw::fit(&p.row.name, draw::SMALL_SIZE, MAX_LABEL_PX);
        let (w, h) = draw::measure(&label, draw::SMALL_SIZE);
        let (w, h) = (w as i32 + 4, h as i32 + 4);
        let (r, leader) = place((x, y), w, h, &taken, bounds);
        if leader {
            let cx = (r.x0 + r.x1) / 2;
            let cy = (r.y0 + r.y1) / 2;
            let tx = cx.clamp(r.x0, r.x1).clamp(x.min(r.x1), x.max(r.x0));
            let ty = if cy < y { r.y1 } else { r.y0 };
            area.draw(&PathElement::new(
                vec![(x, y), (tx, ty)],
                MUTED.stroke_width(1),
            ))?;
        }
        area.draw(&Text::new(
            label,
            (r.x0 + 2, (r.y0 + r.y1) / 2),
            draw::text(draw::SMALL_SIZE, INK).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        taken.push(r);
    }
    Ok(())
}

/// Points, markers and labels inside the plotting area of `chart`.
fn draw_points(
    area: &Area<'_>,
    chart: &Chart<'_, '_>,
    ax: &Axes,
    points: &[Point<'_>],
) -> anyhow::Result<()> {
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let bounds = Rect {
        x0: xr.start + 2,
        y0: yr.start + 2,
        x1: xr.end - 2,
        y1: yr.end - 2,
    };
    let pixels: Vec<(i32, i32)> = points
        .iter()
        .map(|p| chart.backend_coord(&(p.psnr.unwrap_or(ax.inf_x), p.speedup)))
        .collect();
    let taken = obstacles(chart, ax, &pixels, &bounds);
    draw_markers(area, points, &pixels)?;
    draw_labels(area, points, &pixels, taken, &bounds)
}

pub fn render(rows: &[ChartRow], _th: &ChartThresholds) -> anyhow::Result<image::RgbImage> {
    let (points, missing) = split(rows);
    let note = note_lines(&missing);
    let height = PLOT_HEIGHT + NOTE_TOP_PAD + note.len() as u32 * NOTE_LINE_PX + 8;
    let ax = Axes::new(&points);

    draw::render(WIDTH, height, |root| {
        let (plot_area, note_area) = root.split_vertically(PLOT_HEIGHT);
        draw_header(&plot_area)?;
        let chart = draw_axes(&plot_area, &ax)?;
        draw_points(&plot_area, &chart, &ax, &points)?;
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
