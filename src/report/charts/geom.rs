//! Pixel boxes, and the parts of a straight line that stay clear of them: a
//! threshold or baseline line stops short of every label it would cross.

use std::ops::Range;

/// A box in canvas pixels, `x0..x1` × `y0..y1` (the ends excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x0: i32,
    pub y0: i32,
    pub x1: i32,
    pub y1: i32,
}

impl Rect {
    /// Area shared with `o`, in pixels.
    pub fn overlap(&self, o: &Rect) -> i64 {
        let w = (self.x1.min(o.x1) - self.x0.max(o.x0)).max(0) as i64;
        let h = (self.y1.min(o.y1) - self.y0.max(o.y0)).max(0) as i64;
        w * h
    }

    pub fn inside(&self, o: &Rect) -> bool {
        self.x0 >= o.x0 && self.y0 >= o.y0 && self.x1 <= o.x1 && self.y1 <= o.y1
    }
}

/// The direction of a straight line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Along x, at a fixed y.
    Horizontal,
    /// Along y, at a fixed x.
    Vertical,
}

/// Pixels a line passing beside a box keeps from it, beyond half its width.
pub const CLEARANCE: i32 = 4;
/// Pixels between a line's end and the box it stops at.
pub const GAP: i32 = 3;

/// The pieces of the line at `at` (y for a horizontal line, x for a vertical
/// one) over `span` that cross none of `boxes`: a box within `across` pixels
/// of the line's centre cuts it from `along` pixels before the box to `along`
/// pixels after. In order, never empty.
pub fn clear_spans(
    axis: Axis,
    at: i32,
    span: Range<i32>,
    (across, along): (i32, i32),
    boxes: &[Rect],
) -> Vec<Range<i32>> {
    let mut cuts: Vec<Range<i32>> = boxes
        .iter()
        .filter_map(|b| {
            let (side, run) = match axis {
                Axis::Horizontal => (b.y0..b.y1, b.x0..b.x1),
                Axis::Vertical => (b.x0..b.x1, b.y0..b.y1),
            };
            let hit = at + across >= side.start && at - across < side.end;
            hit.then(|| run.start - along..run.end + along)
        })
        .collect();
    cuts.sort_by_key(|c| c.start);
    let mut pieces = Vec::new();
    let mut from = span.start;
    for cut in cuts {
        if cut.start > from {
            pieces.push(from..cut.start.min(span.end));
        }
        from = from.max(cut.end);
    }
    if from < span.end {
        pieces.push(from..span.end);
    }
    pieces.retain(|p| p.start < p.end);
    pieces
}

/// The dashes (`on` pixels drawn, `off` skipped) of each of `pieces`, each
/// piece starting with a whole dash so that a line broken by labels still
/// reads as dashed between them.
pub fn dashes(pieces: &[Range<i32>], on: i32, off: i32) -> Vec<Range<i32>> {
    let period = (on + off).max(1);
    let mut out = Vec::new();
    for piece in pieces {
        let mut start = piece.start;
        while start < piece.end {
            out.push(start..(start + on).min(piece.end));
            start += period;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x0: i32, y0: i32, x1: i32, y1: i32) -> Rect {
        Rect { x0, y0, x1, y1 }
    }

    fn grow(b: &Rect, d: i32) -> Rect {
        rect(b.x0 - d, b.y0 - d, b.x1 + d, b.y1 + d)
    }

    #[test]
    fn a_vertical_line_stops_short_of_the_boxes_it_crosses() {
        let boxes = [
            rect(40, 20, 120, 35),  // crossed by x = 50
            rect(10, 60, 47, 75),   // ends left of the line, within reach
            rect(200, 0, 260, 300), // far right: ignored
        ];
        let pieces = clear_spans(Axis::Vertical, 50, 0..100, (5, 5), &boxes);
        assert_eq!(pieces, vec![0..15, 40..55, 80..100]);
        for p in &pieces {
            let stroke = rect(49, p.start, 52, p.end);
            assert!(boxes.iter().all(|b| grow(b, 3).overlap(&stroke) == 0));
        }
    }

    #[test]
    fn a_horizontal_line_without_boxes_is_one_piece() {
        assert_eq!(
            clear_spans(Axis::Horizontal, 10, 5..90, (5, 3), &[]),
            vec![5..90]
        );
        // A box covering the whole line leaves nothing.
        let all = [rect(0, 0, 100, 20)];
        assert!(clear_spans(Axis::Horizontal, 10, 5..90, (5, 3), &all).is_empty());
        // Overlapping boxes make one gap.
        let two = [rect(20, 5, 40, 15), rect(35, 8, 60, 12)];
        assert_eq!(
            clear_spans(Axis::Horizontal, 10, 0..100, (2, 2), &two),
            vec![0..18, 62..100]
        );
    }

    #[test]
    fn every_piece_starts_with_a_whole_dash() {
        let d = dashes(&[0..12, 23..40], 6, 4);
        assert_eq!(d, vec![0..6, 10..12, 23..29, 33..39]);
        assert!(dashes(&[], 6, 4).is_empty());
    }
}
