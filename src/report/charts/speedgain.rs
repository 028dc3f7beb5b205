//! `chart_speedgain.png`: speedup per config (the median of the per-prompt
//! baseline/config ratios), bars growing from 1× so that slower-than-baseline
//! configs point the other way in their own colour, with the 95% interval as
//! whiskers; a bar whose interval holds 1× is hollow and grey.

use plotters::prelude::*;

use super::ChartRow;
use super::ChartThresholds;
use super::draw::{self, BarLayout, Chart, FASTER, INK, MUTED, SLOWER, Swatch};
use super::geom::{Axis, Rect};
use super::labels::{self, Label};

const WIDTH: u32 = 1200;
const RIGHT_PX: u32 = 30;

/// The speedup and its interval, when the row has a usable one.
fn values(row: &ChartRow) -> Option<(f64, Option<(f64, f64)>)> {
    if row.is_not_run() {
        return None;
    }
    let s = draw::finite(row.speedup).filter(|s| *s > 0.0)?;
    let ci = row
        .speedup_ci
        .filter(|(lo, hi)| lo.is_finite() && hi.is_finite() && lo <= hi);
    Some((s, ci))
}

/// Whether the bar may be read as faster or slower: its interval excludes
/// 1×. Without an interval nothing can be told (too few prompts), except
/// for the baseline itself (exactly 1×, no bar).
fn significant(s: f64, ci: Option<(f64, f64)>) -> bool {
    match ci {
        Some((lo, hi)) => !(lo <= 1.0 && hi >= 1.0),
        None => s == 1.0,
    }
}

fn value_label(s: f64, ci: Option<(f64, f64)>) -> String {
    match ci {
        Some((lo, hi)) if significant(s, ci) => format!("{s:.2}×  [{lo:.2}–{hi:.2}]"),
        Some((lo, hi)) => format!("{s:.2}×  [{lo:.2}–{hi:.2}]  not significant"),
        None if s == 1.0 => format!("{s:.2}×"),
        None => format!("{s:.2}×  too few prompts"),
    }
}

/// Where a row's bar or whisker ends on the right (never left of 1×, where
/// every bar starts): its value label goes just after it.
fn right_end(s: f64, ci: Option<(f64, f64)>) -> f64 {
    ci.map_or(s, |c| c.1).max(s).max(1.0)
}

/// The x range: always around 1× (the baseline), wide enough for every
/// whisker, plus room right of the furthest right end for the value label.
fn x_range(rows: &[ChartRow], plot_px: f64) -> (f64, f64) {
    let mut lo = 0.8_f64;
    let mut hi = 1.2_f64;
    for (s, ci) in rows.iter().filter_map(values) {
        let (a, b) = ci.unwrap_or((s, s));
        lo = lo.min(a.min(s));
        hi = hi.max(b.max(s));
    }
    lo = (lo - 0.05 * (hi - lo)).max(0.0);
    let mut x_max = hi;
    for (s, ci) in rows.iter().filter_map(values) {
        let end = right_end(s, ci);
        let label_px = draw::measure(&value_label(s, ci), draw::SMALL_SIZE).0 as f64 + 16.0;
        let share = (label_px / plot_px).min(0.6);
        // Solve (x_max - end) / (x_max - lo) >= share for x_max.
        x_max = x_max.max((end - share * lo) / (1.0 - share));
    }
    (lo, x_max + 0.02 * (x_max - lo))
}

/// A bar from 1× to the speedup and the interval's whiskers. Everything is
/// clamped to the x range so a wild interval cannot leave it.
fn draw_bar(
    chart: &mut Chart<'_, '_>,
    y: f64,
    (s, ci): (f64, Option<(f64, f64)>),
    (lo, x_max): (f64, f64),
) -> anyhow::Result<()> {
    // A bar whose interval holds 1× is drawn hollow and grey: it must not
    // read as "faster" (or "slower").
    let style = match (significant(s, ci), s < 1.0) {
        (false, _) => MUTED.stroke_width(2),
        (true, true) => SLOWER.filled(),
        (true, false) => FASTER.filled(),
    };
    chart.draw_series(std::iter::once(Rectangle::new(
        [(1.0, y - 0.3), (s.clamp(lo, x_max), y + 0.3)],
        style,
    )))?;
    if let Some((a, b)) = ci {
        let (a, b) = (a.clamp(lo, x_max), b.clamp(lo, x_max));
        let whisker = INK.stroke_width(2);
        chart.draw_series([
            PathElement::new(vec![(a, y), (b, y)], whisker),
            PathElement::new(vec![(a, y - 0.18), (a, y + 0.18)], whisker),
            PathElement::new(vec![(b, y - 0.18), (b, y + 0.18)], whisker),
        ])?;
    }
    Ok(())
}

/// Why a row has no bar.
fn no_bar_label(row: &ChartRow) -> String {
    match (&row.reason, row.is_not_run()) {
        (Some(why), _) => format!("{} — {why}", row.status),
        (None, true) => row.status.clone(),
        (None, false) => format!("{} — no timing", row.status),
    }
}

/// The text at the end of row `i`: the value right of its bar or whisker,
/// or why it has none, from the axis.
fn row_text(
    chart: &Chart<'_, '_>,
    layout: &BarLayout,
    i: usize,
    row: &ChartRow,
    (lo, x_max): (f64, f64),
) -> Label {
    let y = layout.y(i);
    match values(row) {
        Some((s, ci)) => {
            let (bx, by) = chart.backend_coord(&(right_end(s, ci).min(x_max), y));
            Label::new(value_label(s, ci), (bx + 8, by), draw::SMALL_SIZE, INK)
        }
        None => {
            let color = draw::status_color(&row.status);
            let at = chart.backend_coord(&(lo, y));
            labels::row_note(&no_bar_label(row), at, layout.plot_px(RIGHT_PX), color)
        }
    }
}

pub fn render(rows: &[ChartRow], _th: &ChartThresholds) -> anyhow::Result<image::RgbImage> {
    let layout = BarLayout::new(rows.iter().map(|r| r.name.clone()), WIDTH);
    let (lo, x_max) = x_range(rows, layout.plot_px(RIGHT_PX));

    draw::render(layout.width, layout.height, |root| {
        draw::header(
            root,
            "Speedup vs the pure baseline (median of per-prompt ratios, 95% interval)",
            &[
                (Swatch::Box(FASTER), "faster than baseline".into()),
                (Swatch::Box(SLOWER), "slower than baseline".into()),
                (
                    Swatch::Outline(MUTED),
                    "not significant: interval holds 1×".into(),
                ),
                (Swatch::Dash(MUTED), "baseline (1×)".into()),
                (Swatch::Whisker(INK), "whiskers: 95% interval".into()),
            ],
        )?;
        let mut chart = layout.chart(root, lo..x_max, RIGHT_PX)?;
        draw::bar_axis(
            &mut chart,
            "Speedup (baseline time / config time; > 1 is faster)",
            10,
            &|v| format!("{v:.2}×"),
        )?;

        // The 1× line goes under the bars; a note it would cut near its
        // start moves right of it, and it stops short of any other label.
        let (at, span) = labels::plot_vline(&chart, 1.0);
        let right = chart.plotting_area().get_pixel_range().0.end;
        let texts: Vec<Label> = (rows.iter().enumerate())
            .map(|(i, row)| row_text(&chart, &layout, i, row, (lo, x_max)))
            .map(|t| t.right_of_lines(&[at], right))
            .collect();
        let boxes: Vec<Rect> = texts.iter().map(Label::rect).collect();
        labels::dashed(root, (Axis::Vertical, at, span), &boxes, MUTED, 2)?;
        for (i, row) in rows.iter().enumerate() {
            layout.name(root, &chart, i, lo)?;
            if let Some(v) = values(row) {
                draw_bar(&mut chart, layout.y(i), v, (lo, x_max))?;
            }
        }
        for text in &texts {
            text.draw(root)?;
        }
        Ok(())
    })
}
