//! The charts' text: DejaVu Sans compiled into the binary, laid out and
//! rasterised here with `ab_glyph` rather than by plotters.
//!
//! plotters 0.3.7's `ab_glyph` backend draws each glyph's coverage from the
//! glyph's pixel box, whose left edge already holds the glyph's left side
//! bearing, but then places that box at the pen position, dropping the
//! bearing; it also truncates the pen to whole pixels. Narrow glyphs with wide
//! bearings (`i`, `l`, `.`) slide left by a pixel or more and the gap after
//! them opens up ("baselin e", "0.1 00"). Here each glyph is positioned at its
//! exact (sub-pixel) pen position on the baseline and its coverage is put
//! where the glyph's own pixel box says.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, Glyph, PxScale, ScaleFont, point};
use anyhow::anyhow;

static DEJAVU_SANS: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// The embedded font, parsed once per process.
pub fn font() -> anyhow::Result<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(DEJAVU_SANS).ok())
        .as_ref()
        .ok_or_else(|| anyhow!("the embedded chart font could not be loaded"))
}

/// One line of text laid out at a pixel size: `size` is the font's height
/// (ascent − descent), the scale plotters gives the same number. The line's
/// box runs from (0, 0) to (`width`, `height`); the baseline is at `ascent`.
pub struct Layout {
    pub glyphs: Vec<Glyph>,
    /// Sum of the advances and kerning: where the next glyph would start.
    pub width: f32,
    pub height: f32,
}

/// Lays `text` out on one line: each glyph at the pen position (advance
/// widths plus kerning, never rounded), on the baseline.
pub fn layout(font: &FontRef<'static>, text: &str, size: f64) -> Layout {
    let scaled = font.as_scaled(PxScale::from(size as f32));
    let baseline = scaled.ascent();
    let mut pen = 0.0_f32;
    let mut prev = None;
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(prev) = prev {
            pen += scaled.kern(prev, id);
        }
        glyphs.push(id.with_scale_and_position(scaled.scale(), point(pen, baseline)));
        pen += scaled.h_advance(id);
        prev = Some(id);
    }
    Layout {
        glyphs,
        width: pen,
        height: scaled.height(),
    }
}

/// Calls `put(x, y, coverage)` for every pixel the text covers, in the
/// coordinates of the line's box (0, 0 at its top left); coverage is 0..=1.
pub fn rasterize(font: &FontRef<'static>, line: &Layout, mut put: impl FnMut(i32, i32, f32)) {
    for glyph in &line.glyphs {
        if let Some(outline) = font.outline_glyph(glyph.clone()) {
            let min = outline.px_bounds().min;
            let (x0, y0) = (min.x as i32, min.y as i32);
            outline.draw(|x, y, c| {
                if c > 0.0 {
                    put(x0 + x as i32, y0 + y as i32, c.min(1.0));
                }
            });
        }
    }
}

/// Width and height in whole pixels of `text` at `size` (0 × 0 when the
/// font could not be loaded).
pub fn measure(text: &str, size: f64) -> (u32, u32) {
    match font() {
        Ok(font) => {
            let line = layout(font, text, size);
            (line.width.ceil() as u32, line.height.round() as u32)
        }
        Err(_) => (0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leftmost column with ink of each glyph drawn on its own.
    fn ink_left(font: &FontRef<'static>, line: &Layout) -> Vec<Option<i32>> {
        line.glyphs
            .iter()
            .map(|g| {
                let one = Layout {
                    glyphs: vec![g.clone()],
                    width: 0.0,
                    height: line.height,
                };
                let mut left: Option<i32> = None;
                rasterize(font, &one, |x, _, c| {
                    if c > 0.25 {
                        left = Some(left.map_or(x, |l| l.min(x)));
                    }
                });
                left
            })
            .collect()
    }

    #[test]
    fn advances_are_the_fonts_own_widths_and_never_rounded() {
        let font = font().unwrap();
        let size = 15.0;
        let scaled = font.as_scaled(PxScale::from(size as f32));
        let text = "baseline 0.100 cfg_parallel+teacache";
        let line = layout(font, text, size);
        let mut pen = 0.0_f32;
        let mut prev = None;
        for (c, g) in text.chars().zip(&line.glyphs) {
            let id = font.glyph_id(c);
            // hmtx advance in font units, scaled by hand: the layout must
            // agree with the font file, not with a rounded pixel grid.
            let advance = font.h_advance_unscaled(id) * scaled.h_scale_factor();
            if let Some(p) = prev {
                pen += scaled.kern(p, id);
            }
            assert!(
                (g.position.x - pen).abs() < 1e-3,
                "{c:?} at {}",
                g.position.x
            );
            pen += advance;
            prev = Some(id);
        }
        assert!((line.width - pen).abs() < 1e-3);
        // Fractional positions survive: nothing snapped them to pixels.
        assert!(line.glyphs.iter().any(|g| g.position.x.fract() != 0.0));
    }

    #[test]
    fn pen_positions_increase_and_width_grows_with_the_text() {
        let font = font().unwrap();
        for text in ["baseline", "0.100", "lossless FAIL > 0.02", "1.00×"] {
            let line = layout(font, text, 13.0);
            let xs: Vec<f32> = line.glyphs.iter().map(|g| g.position.x).collect();
            assert!(xs.windows(2).all(|w| w[1] > w[0]), "{text}: {xs:?}");
            let mut prefix = 0;
            for (i, _) in text.char_indices().skip(1) {
                let w = measure(&text[..i], 13.0).0;
                assert!(w >= prefix, "{text}: width shrank at {i}");
                prefix = w;
            }
        }
    }

    /// The defect of plotters' text: each glyph's ink was put at the pen
    /// position, dropping the left side bearing. Here the ink of every glyph
    /// starts where its bearing says, within a pixel.
    #[test]
    fn ink_starts_at_the_pen_plus_the_left_side_bearing() {
        let font = font().unwrap();
        // Large enough that a dropped bearing (~0.1 em) is over two pixels.
        let size = 30.0;
        let scaled = font.as_scaled(PxScale::from(size as f32));
        let line = layout(font, "baseline il.1", size);
        for (g, left) in line.glyphs.iter().zip(ink_left(font, &line)) {
            let Some(left) = left else { continue };
            let expected = g.position.x + scaled.h_side_bearing(g.id);
            assert!(
                (left as f32 - expected).abs() <= 1.0,
                "glyph {:?}: ink at {left}, bearing says {expected}",
                g.id
            );
        }
    }

    #[test]
    fn measure_is_the_advance_width_and_the_font_height() {
        let (w, h) = measure("baseline", 15.0);
        let font = font().unwrap();
        let line = layout(font, "baseline", 15.0);
        assert_eq!(w, line.width.ceil() as u32);
        assert_eq!(h, 15);
        assert_eq!(measure("", 15.0), (0, 15));
        assert!(measure("ii", 15.0).0 < measure("mm", 15.0).0);
    }
}
