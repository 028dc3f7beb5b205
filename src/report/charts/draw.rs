//! What the charts share: the canvas, colours, text measuring (labels are
//! sized and shortened so they never overlap), the bar charts' layout and
//! the legend.

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};

use anyhow::{Context, anyhow};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::Canvas;
use super::font;

/// The family name the text styles carry. The canvas lays every string out
/// with the embedded font whatever the family says.
pub const FONT: &str = "sans-serif";

/// Title, axis, label and small text sizes in pixels.
pub const TITLE_SIZE: f64 = 22.0;
pub const LABEL_SIZE: f64 = 15.0;
pub const SMALL_SIZE: f64 = 13.0;

pub const INK: RGBColor = RGBColor(33, 37, 41);
pub const MUTED: RGBColor = RGBColor(108, 117, 125);
pub const GRID: RGBColor = RGBColor(222, 226, 230);
pub const LOSSLESS: RGBColor = RGBColor(49, 110, 196);
pub const LOSSY: RGBColor = RGBColor(230, 136, 32);
pub const FASTER: RGBColor = RGBColor(46, 148, 84);
pub const SLOWER: RGBColor = RGBColor(205, 55, 64);
pub const FAIL_LINE: RGBColor = RGBColor(205, 55, 64);

/// The canvas every chart draws on.
pub type Area<'b> = DrawingArea<Canvas<'b>, Shift>;
/// A chart with linear `f64` axes on that canvas.
pub type Chart<'c, 'b> = ChartContext<'c, Canvas<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The colour of a status, as in the HTML report's chips.
pub fn status_color(status: &str) -> RGBColor {
    match status {
        "PASS" => RGBColor(46, 148, 84),
        "WARN" => RGBColor(214, 140, 0),
        "FAIL" => RGBColor(205, 55, 64),
        "ERROR" => RGBColor(138, 43, 150),
        _ => MUTED,
    }
}

/// Runs a chart renderer, turning a panic inside plotters (degenerate ranges,
/// poisoned locks) into an error so that the other charts still get written.
pub fn guarded<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(anyhow!("chart renderer panicked: {msg}"))
        }
    }
}

/// Draws into an RGB buffer of `w`×`h` and returns it as an image. We encode
/// with `image` (already a dependency) rather than plotters' own encoder.
pub fn render(
    w: u32,
    h: u32,
    draw: impl FnOnce(&Area<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<image::RgbImage> {
    font::font()?;
    let mut buf = vec![0u8; w as usize * h as usize * 3];
    {
        let root = Canvas(BitMapBackend::with_buffer(&mut buf, (w, h))).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    image::RgbImage::from_raw(w, h, buf).context("chart buffer has the wrong size")
}

/// The title line and the legend under it, at the same place on every chart
/// so that the three read as one set.
pub fn header(area: &Area<'_>, title: &str, items: &[(Swatch, String)]) -> anyhow::Result<()> {
    area.draw(&Text::new(title, (16, 14), text(TITLE_SIZE, INK)))?;
    legend(area, 16, 58, items)
}

/// A text style at `size` pixels in `color`.
pub fn text(size: f64, color: RGBColor) -> TextStyle<'static> {
    // `TextStyle::color` ties the style to the colour's borrow; set the field.
    let mut style = TextStyle::from((FONT, size).into_font());
    style.color = color.to_backend_color();
    style
}

/// Width and height of `s` in pixels at `size` (0 when the font cannot say).
pub fn measure(s: &str, size: f64) -> (u32, u32) {
    font::measure(s, size)
}

/// `s` shortened in the middle with "…" so that it fits `max_px`: config names
/// differ at both ends (`cfg_parallel+…+ulysses`), so keep both.
pub fn fit(s: &str, size: f64, max_px: u32) -> String {
    if measure(s, size).0 <= max_px {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut keep = chars.len();
    while keep > 2 {
        keep -= 1;
        let head = keep.div_ceil(2);
        let tail = keep - head;
        let candidate: String = chars[..head]
            .iter()
            .chain(std::iter::once(&'…'))
            .chain(&chars[chars.len() - tail..])
            .collect();
        if measure(&candidate, size).0 <= max_px {
            return candidate;
        }
    }
    "…".into()
}

/// `s` shortened at the end with "…" to fit `max_px` (for reasons and notes).
pub fn fit_end(s: &str, size: f64, max_px: u32) -> String {
    if measure(s, size).0 <= max_px {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut keep = chars.len();
    while keep > 0 {
        keep -= 1;
        let candidate: String = chars[..keep].iter().chain(std::iter::once(&'…')).collect();
        if measure(&candidate, size).0 <= max_px {
            return candidate;
        }
    }
    "…".into()
}

/// Greedy word wrap of `s` into lines no wider than `max_px`.
pub fn wrap(s: &str, size: f64, max_px: u32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if measure(&candidate, size).0 <= max_px || line.is_empty() {
            line = candidate;
        } else {
            lines.push(std::mem::replace(&mut line, word.to_string()));
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
        .into_iter()
        .map(|l| fit_end(&l, size, max_px))
        .collect()
}

/// A finite value, or `None` (NaN and ±∞ from a broken analysis are not drawn).
pub fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

/// The geometry shared by the two horizontal bar charts: one row per config,
/// names on the left, measured so that no label overlaps another.
pub struct BarLayout {
    pub width: u32,
    pub height: u32,
    /// Pixels left of the plot: the widest (shortened) name plus padding.
    pub left: u32,
    /// Names as drawn, possibly shortened in the middle.
    pub names: Vec<String>,
}

/// Row height in pixels: a label line plus air, so that 10+ rows stay legible.
pub const ROW_PX: u32 = 30;
/// Pixels above the plot (title and legend) and below it (axis and its name).
pub const TOP_PX: u32 = 84;
pub const BOTTOM_PX: u32 = 64;
/// Names wider than this are shortened in the middle.
const MAX_NAME_PX: u32 = 340;

impl BarLayout {
    pub fn new(names: impl IntoIterator<Item = String>, width: u32) -> Self {
        let names: Vec<String> = names
            .into_iter()
            .map(|n| fit(&n, LABEL_SIZE, MAX_NAME_PX))
            .collect();
        let widest = names
            .iter()
            .map(|n| measure(n, LABEL_SIZE).0)
            .max()
            .unwrap_or(0);
        let rows = names.len().max(1) as u32;
        BarLayout {
            width,
            height: TOP_PX + BOTTOM_PX + rows * ROW_PX + 16,
            left: widest.max(60) + 24,
            names,
        }
    }

    /// Pixels between the names and a right margin of `right_px`: what a value
    /// label must share with its bar.
    pub fn plot_px(&self, right_px: u32) -> f64 {
        (self.width - self.left - right_px) as f64
    }

    /// The chart of this layout: `x` across, one unit per row up.
    pub fn chart<'c, 'b>(
        &self,
        root: &Area<'b>,
        x: Range<f64>,
        right_px: u32,
    ) -> anyhow::Result<Chart<'c, 'b>> {
        let n = self.names.len().max(1) as f64;
        Ok(ChartBuilder::on(root)
            .margin_top(TOP_PX)
            .margin_right(right_px)
            .x_label_area_size(BOTTOM_PX)
            .y_label_area_size(self.left)
            .build_cartesian_2d(x, 0.0..n)?)
    }

    /// Draws row `i`'s name right-aligned left of chart x `x0` and returns the
    /// pixel where its bar starts. The names are drawn by hand rather than as
    /// y labels: plotters would place them on ticks, not on the rows.
    pub fn name(
        &self,
        root: &Area<'_>,
        chart: &Chart<'_, '_>,
        i: usize,
        x0: f64,
    ) -> anyhow::Result<(i32, i32)> {
        let (px, py) = chart.backend_coord(&(x0, self.y(i)));
        root.draw(&Text::new(
            self.names[i].clone(),
            (px - 10, py),
            text(LABEL_SIZE, INK).pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
        Ok((px, py))
    }

    /// The y coordinate (in chart units, 0 at the bottom) of row `i`'s centre:
    /// the first config is drawn at the top, in the order it was run.
    pub fn y(&self, i: usize) -> f64 {
        self.names.len().max(1) as f64 - i as f64 - 0.5
    }
}

/// Draws a one-line legend of (swatch, text) items at `(x, y)` on `area`.
pub enum Swatch {
    Box(RGBColor),
    /// A hollow box: how a bar that must not be read as a change is drawn.
    Outline(RGBColor),
    Dash(RGBColor),
    /// A solid line with end ticks: the interval whiskers.
    Whisker(RGBColor),
    Dot(RGBColor),
}

pub fn legend(
    area: &Area<'_>,
    mut x: i32,
    y: i32,
    items: &[(Swatch, String)],
) -> anyhow::Result<()> {
    let style = text(SMALL_SIZE, INK);
    for (swatch, label) in items {
        match swatch {
            Swatch::Box(c) => {
                area.draw(&Rectangle::new([(x, y - 6), (x + 16, y + 6)], c.filled()))?;
            }
            Swatch::Outline(c) => {
                area.draw(&Rectangle::new(
                    [(x, y - 6), (x + 16, y + 6)],
                    c.stroke_width(2),
                ))?;
            }
            Swatch::Whisker(c) => {
                let s = c.stroke_width(2);
                area.draw(&PathElement::new(vec![(x, y), (x + 16, y)], s))?;
                area.draw(&PathElement::new(vec![(x, y - 4), (x, y + 4)], s))?;
                area.draw(&PathElement::new(vec![(x + 16, y - 4), (x + 16, y + 4)], s))?;
            }
            Swatch::Dash(c) => {
                for k in 0..3 {
                    let x0 = x + k * 7;
                    area.draw(&PathElement::new(
                        vec![(x0, y), (x0 + 4, y)],
                        c.stroke_width(2),
                    ))?;
                }
            }
            Swatch::Dot(c) => {
                area.draw(&Circle::new((x + 8, y), 5, c.filled()))?;
            }
        }
        x += 22;
        area.draw(&Text::new(
            label.clone(),
            (x, y),
            style.pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        x += measure(label, SMALL_SIZE).0 as i32 + 22;
    }
    Ok(())
}

/// The x axis of a horizontal bar chart (one row per config, no y labels:
/// the rows are named by the caller): grid, description, formatted ticks.
pub fn bar_axis<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    desc: &str,
    ticks: usize,
    format: &dyn Fn(&f64) -> String,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(ticks)
        .x_desc(desc)
        .axis_desc_style(text(LABEL_SIZE, INK))
        .x_label_style(text(SMALL_SIZE, INK))
        .x_label_formatter(format)
        .bold_line_style(GRID)
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| anyhow!("failed to draw the axes: {e}"))
}
