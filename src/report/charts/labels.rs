//! Text labels on white boxes, and the dashed threshold and baseline lines
//! that never cross them: a label moves right of a line that would cut its
//! first few words, and a line that would cross a label further in stops
//! short of it and resumes after.

use std::ops::Range;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::draw::{Area, Chart, SMALL_SIZE, fit_end, measure, text};
use super::geom::{self, Axis, Rect};

/// The pixel column of chart x `x` and the pixel rows of the plot: where a
/// vertical line across the whole plot of `chart` runs.
pub fn plot_vline(chart: &Chart<'_, '_>, x: f64) -> (i32, Range<i32>) {
    let (px, _) = chart.backend_coord(&(x, 0.0));
    let (_, rows) = chart.plotting_area().get_pixel_range();
    (px, rows)
}

/// The dashes `dashed` draws: 6 pixels on, 4 off, none passing within
/// `geom::CLEARANCE` pixels beside a box in `avoid`, and those stopped by a
/// box ending `geom::GAP` pixels short of it.
pub fn dash_segments(
    (axis, at, span): (Axis, i32, Range<i32>),
    avoid: &[Rect],
    width: u32,
) -> Vec<Range<i32>> {
    let half = (width as i32 + 1) / 2;
    let reach = (half + geom::CLEARANCE, geom::GAP);
    let pieces = geom::clear_spans(axis, at, span.clone(), reach, avoid);
    geom::dashes(&pieces, 6, 4)
}

/// A dashed line (6 pixels on, 4 off) of `width` pixels at `at` over `span`,
/// interrupted wherever it would cross or graze a box in `avoid`: threshold
/// and baseline lines never cross text.
pub fn dashed(
    area: &Area<'_>,
    (axis, at, span): (Axis, i32, Range<i32>),
    avoid: &[Rect],
    color: RGBColor,
    width: u32,
) -> anyhow::Result<()> {
    // Each dash is a filled box, `width` pixels across from `at - width / 2`:
    // exact, and a one-pixel dash where a piece ends is still a box. (The
    // bitmap backend fills a box's far corner exclusively, like `Rect`.)
    let side = at - width as i32 / 2;
    let across = side..side + width.max(1) as i32;
    for d in dash_segments((axis, at, span), avoid, width) {
        let (a, b) = match axis {
            Axis::Horizontal => ((d.start, across.start), (d.end, across.end)),
            Axis::Vertical => ((across.start, d.start), (across.end, d.end)),
        };
        area.draw(&Rectangle::new([a, b], color.filled()))?;
    }
    Ok(())
}

/// Pixels into a label within which a vertical line crossing it moves the
/// label right of the line rather than being interrupted.
const MOVE_PX: i32 = 120;
/// Half the width of a 2-pixel threshold line, rounded up.
const LINE_HALF_WIDTH: i32 = 1;

/// A line of text drawn left-aligned and vertically centred at `at`, on a
/// white box so that grid lines behind it do not cross the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub text: String,
    pub at: (i32, i32),
    pub size: f64,
    pub color: RGBColor,
}

impl Label {
    pub fn new(text: String, at: (i32, i32), size: f64, color: RGBColor) -> Self {
        Label {
            text,
            at,
            size,
            color,
        }
    }

    /// The white box under the text: what lines must keep clear of.
    pub fn rect(&self) -> Rect {
        let (w, h) = measure(&self.text, self.size);
        let (w, h) = (w as i32, h as i32);
        let top = self.at.1 - h / 2;
        Rect {
            x0: self.at.0 - 2,
            y0: top - 1,
            x1: self.at.0 + w + 3,
            y1: top + h + 1,
        }
    }

    /// The label moved right of each vertical line (at the pixel columns
    /// `lines`) that would cross its first `MOVE_PX` pixels, as long as it
    /// still ends by the pixel column `right`: such a line is a threshold
    /// just past a short bar, and is better left whole. A line further in
    /// stays where it is and stops short of the label (`dashed`).
    pub fn right_of_lines(mut self, lines: &[i32], right: i32) -> Label {
        let mut lines = lines.to_vec();
        lines.sort_unstable();
        let reach = LINE_HALF_WIDTH + geom::CLEARANCE;
        for line in lines {
            let r = self.rect();
            let crosses = line + reach >= r.x0 && line - reach < r.x1;
            if !crosses || line - r.x0 >= MOVE_PX {
                continue;
            }
            // Its box (2 pixels left of the text) just clear of the line.
            let moved = Label {
                at: (line + reach + 3, self.at.1),
                ..self.clone()
            };
            if moved.rect().x1 > right {
                break;
            }
            self = moved;
        }
        self
    }

    pub fn draw(&self, area: &Area<'_>) -> anyhow::Result<()> {
        let r = self.rect();
        area.draw(&Rectangle::new(
            [(r.x0, r.y0), (r.x1, r.y1)],
            WHITE.filled(),
        ))?;
        area.draw(&Text::new(
            self.text.clone(),
            self.at,
            text(self.size, self.color).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        Ok(())
    }
}

/// The note of a row without a bar (its status and why), from the bar's start
/// pixel `at`, shortened to the plot's width so it never runs off the canvas.
pub fn row_note(label: &str, at: (i32, i32), plot_px: f64, color: RGBColor) -> Label {
    let room = (plot_px as u32).saturating_sub(16);
    let text = fit_end(label, SMALL_SIZE, room);
    Label::new(text, (at.0 + 8, at.1), SMALL_SIZE, color)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(x: i32) -> Label {
        Label::new("0 (identical)  PASS".into(), (x, 50), SMALL_SIZE, INK_TEST)
    }

    const INK_TEST: RGBColor = RGBColor(0, 0, 0);

    #[test]
    fn a_label_moves_right_of_a_line_that_cuts_its_first_words() {
        let moved = label(100).right_of_lines(&[130], 1000);
        assert!(moved.rect().x0 > 130 + LINE_HALF_WIDTH + geom::CLEARANCE);
        assert_eq!(moved.at.1, 50);
        // Two lines close together: right of both.
        let moved = label(100).right_of_lines(&[170, 130], 1000);
        assert!(moved.rect().x0 > 170);
    }

    #[test]
    fn a_label_stays_when_the_line_is_far_in_or_there_is_no_room() {
        let long = Label::new("x".repeat(60), (100, 50), SMALL_SIZE, INK_TEST);
        let far = 100 + MOVE_PX + 10;
        assert!(long.rect().x1 > far);
        assert_eq!(long.clone().right_of_lines(&[far], 2000), long);
        let short = label(100);
        let right = short.rect().x1 + 20;
        assert_eq!(short.clone().right_of_lines(&[130], right), short);
        // A line that misses it leaves it alone.
        assert_eq!(short.clone().right_of_lines(&[60, 400], 1000), short);
    }
}
