//! The drawing backend of the charts: plotters' bitmap backend for every
//! shape, and our own text layout (`font`) for every string, including the
//! tick labels and axis names that plotters draws itself. plotters calls a
//! backend's `draw_text` and `estimate_text_size` for all text, so replacing
//! those two is enough to keep its `ab_glyph` text path out of the charts.

use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

use super::font;

/// A bitmap canvas whose text is laid out by `font`.
pub struct Canvas<'a>(pub BitMapBackend<'a>);

type Error<'a> = DrawingErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>;

fn font_error<E: std::error::Error + Send + Sync>(e: anyhow::Error) -> DrawingErrorKind<E> {
    DrawingErrorKind::FontError(e.into())
}

impl<'a> DrawingBackend for Canvas<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), Error<'a>> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), Error<'a>> {
        self.0.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<(), Error<'a>> {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), Error<'a>> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), Error<'a>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), Error<'a>> {
        self.0.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), Error<'a>> {
        self.0.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), Error<'a>> {
        self.0.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), Error<'a>> {
        self.0.blit_bitmap(pos, size, src)
    }

    /// The same anchoring and rotation as plotters' default `draw_text`
    /// (anchor offsets are applied before the rotation), with our layout.
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), Error<'a>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let font = font::font().map_err(font_error)?;
        let line = font::layout(font, text, style.size());
        let (w, h) = (line.width.round() as i32, line.height.round() as i32);
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0,
            HPos::Right => -w,
            HPos::Center => -w / 2,
        };
        let dy = match anchor.v_pos {
            VPos::Top => 0,
            VPos::Center => -h / 2,
            VPos::Bottom => -h,
        };
        let turn = style.transform();
        let mut result = Ok(());
        font::rasterize(font, &line, |x, y, coverage| {
            if result.is_ok() {
                let (x, y) = turn.transform(x + dx, y + dy);
                let ink = BackendColor {
                    alpha: color.alpha * f64::from(coverage),
                    rgb: color.rgb,
                };
                result = self.0.draw_pixel((pos.0 + x, pos.1 + y), ink);
            }
        });
        result
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), Error<'a>> {
        font::font().map_err(font_error)?;
        Ok(font::measure(text, style.size()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::style::FontTransform;
    use plotters::style::text_anchor::Pos;

    /// The bounding box of the ink on a canvas after `draw`.
    fn ink(draw: impl FnOnce(&mut Canvas<'_>)) -> (i32, i32, i32, i32) {
        let (w, h) = (200u32, 200u32);
        let mut buf = vec![255u8; (w * h * 3) as usize];
        draw(&mut Canvas(BitMapBackend::with_buffer(&mut buf, (w, h))));
        let mut b = (i32::MAX, i32::MAX, i32::MIN, i32::MIN);
        for (i, px) in buf.chunks(3).enumerate() {
            if px.iter().any(|&c| c < 128) {
                let (x, y) = ((i as u32 % w) as i32, (i as u32 / w) as i32);
                b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
            }
        }
        b
    }

    fn style(pos: Pos, turn: FontTransform) -> TextStyle<'static> {
        let mut s = TextStyle::from(("sans-serif", 20.0).into_font().transform(turn)).pos(pos);
        s.color = BLACK.to_backend_color();
        s
    }

    #[test]
    fn text_is_anchored_like_plotters_anchors_it() {
        let right = style(Pos::new(HPos::Right, VPos::Center), FontTransform::None);
        let (x0, y0, x1, y1) = ink(|c| c.draw_text("Hello", &right, (150, 100)).unwrap());
        assert!((145..=150).contains(&x1), "right edge {x1}");
        assert!(x0 > 80, "left edge {x0}");
        // Caps sit around the centre line, not above or below it.
        assert!(y0 < 100 && y1 > 95 && y1 < 110, "{y0}..{y1}");
    }

    #[test]
    fn rotated_text_runs_upwards() {
        let up = style(Pos::new(HPos::Center, VPos::Top), FontTransform::Rotate270);
        let (x0, y0, x1, y1) = ink(|c| c.draw_text("Speedup", &up, (100, 100)).unwrap());
        let (w, _) = font::measure("Speedup", 20.0);
        // Taller than wide, centred on y = 100, to the right of x = 100.
        assert!(y1 - y0 > x1 - x0, "{x0},{y0}..{x1},{y1}");
        assert!((y0 + y1) / 2 - 100 <= 3 && 100 - (y0 + y1) / 2 <= 3);
        assert!(x0 >= 100 && y1 - y0 <= w as i32);
    }
}
