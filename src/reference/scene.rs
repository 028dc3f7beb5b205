//! Prompt → procedural scene: the latent the sampler converges to.
//!
//! The prompt's words pick a background, objects (shape, colour, size,
//! position) and a count; the scene is rendered straight into the latent
//! channels the fixed decoder (`output.rs`) understands:
//! background RGB, foreground RGB, a signed distance to the objects' union and
//! a shading term. Unknown words still change the picture (through the
//! prompt hash: palette and, if nothing else is named, the object), so two
//! prompts never collapse onto one image; a prompt of only filler words
//! ("blurry, low quality", or empty) is the all-zero "mean" latent, which is
//! what the unconditional branch of classifier-free guidance should predict.

use super::model::{LATENT_CHANNELS, words};
use crate::rng::{Rng, fnv1a};

/// The latent values are calibrated for guidance 4 (as a guidance-distilled
/// model is): with an all-zero unconditional prediction, CFG at scale 4
/// multiplies the scene by 4, and the decoder sees the intended colours.
pub const GUIDANCE_CALIBRATION: f32 = 4.0;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Circle,
    Square,
    Triangle,
    Ring,
    Cross,
    Diamond,
    Star,
    Flower,
    /// A horizontal band from `y` to the bottom edge: sea, grass, sand.
    Band,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Free,
    Top,
    Bottom,
}

type Rgb = [f32; 3];

fn colour(word: &str) -> Option<Rgb> {
    Some(match word {
        "red" | "crimson" | "scarlet" => [0.86, 0.08, 0.08],
        "orange" => [1.0, 0.5, 0.05],
        "yellow" => [1.0, 0.86, 0.1],
        "gold" | "golden" => [0.95, 0.72, 0.15],
        "green" | "emerald" => [0.12, 0.68, 0.2],
        "blue" | "azure" => [0.1, 0.3, 0.92],
        "navy" => [0.05, 0.1, 0.42],
        "cyan" | "teal" | "turquoise" => [0.08, 0.75, 0.8],
        "purple" | "violet" => [0.55, 0.18, 0.78],
        "magenta" => [0.9, 0.1, 0.7],
        "pink" => [1.0, 0.5, 0.72],
        "white" => [0.97, 0.97, 0.97],
        "silver" => [0.76, 0.78, 0.82],
        "gray" | "grey" => [0.5, 0.5, 0.52],
        "black" => [0.04, 0.04, 0.05],
        "brown" => [0.48, 0.28, 0.1],
        _ => return None,
    })
}

/// Object nouns: shape, default colour, default placement.
fn object(word: &str) -> Option<(Shape, Option<Rgb>, Place)> {
    use Shape::*;
    Some(match word {
        "circle" | "disc" | "disk" | "dot" | "ball" | "sphere" | "orb" | "bubble" | "planet" => {
            (Circle, None, Place::Free)
        }
        "sun" => (Circle, Some([1.0, 0.82, 0.15]), Place::Top),
        "moon" => (Circle, Some([0.93, 0.93, 0.82]), Place::Top),
        "apple" | "cherry" | "tomato" => (Circle, Some([0.85, 0.1, 0.1]), Place::Free),
        "square" | "box" | "cube" | "block" | "rectangle" | "house" | "building" | "window"
        | "door" => (Square, None, Place::Free),
        "triangle" | "pyramid" | "tent" => (Triangle, None, Place::Free),
        "mountain" | "hill" | "volcano" => (Triangle, Some([0.45, 0.45, 0.5]), Place::Bottom),
        "tree" | "pine" => (Triangle, Some([0.1, 0.5, 0.18]), Place::Bottom),
        "ring" | "donut" | "doughnut" | "wheel" | "hoop" | "tire" => (Ring, None, Place::Free),
        "cross" | "plus" => (Cross, None, Place::Free),
        "diamond" | "gem" | "crystal" | "kite" => (Diamond, Some([0.3, 0.85, 0.95]), Place::Free),
        "star" => (Star, Some([1.0, 0.85, 0.2]), Place::Free),
        "flower" | "blossom" | "rose" => (Flower, Some([0.95, 0.35, 0.6]), Place::Free),
        "sea" | "ocean" | "lake" | "water" | "river" | "beach" => {
            (Band, Some([0.08, 0.35, 0.7]), Place::Bottom)
        }
        "grass" | "field" | "meadow" | "lawn" | "forest" | "garden" => {
            (Band, Some([0.2, 0.6, 0.2]), Place::Bottom)
        }
        "desert" | "sand" | "dune" => (Band, Some([0.9, 0.76, 0.45]), Place::Bottom),
        "snow" | "ice" | "winter" => (Band, Some([0.95, 0.96, 1.0]), Place::Bottom),
        _ => return None,
    })
}

/// Words that set the sky: (top, bottom) colours.
fn backdrop(word: &str) -> Option<(Rgb, Rgb)> {
    Some(match word {
        "sky" | "day" | "daylight" | "beach" | "desert" => ([0.35, 0.6, 0.95], [0.78, 0.88, 1.0]),
        "sunset" | "dusk" | "evening" => ([0.3, 0.15, 0.45], [1.0, 0.5, 0.2]),
        "sunrise" | "dawn" | "morning" => ([0.55, 0.65, 0.95], [1.0, 0.72, 0.45]),
        "night" | "space" | "dark" | "stars" | "galaxy" => ([0.01, 0.02, 0.08], [0.08, 0.08, 0.25]),
        "fog" | "mist" | "cloudy" | "storm" => ([0.55, 0.57, 0.6], [0.75, 0.76, 0.78]),
        _ => return None,
    })
}

fn filler(word: &str) -> bool {
    matches!(
        word,
        "a" | "an"
            | "the"
            | "of"
            | "on"
            | "in"
            | "with"
            | "and"
            | "at"
            | "to"
            | "is"
            | "are"
            | "by"
            | "for"
            | "from"
            | "over"
            | "under"
            | "its"
            | "it"
            | "photo"
            | "picture"
            | "image"
            | "painting"
            | "drawing"
            | "render"
            | "high"
            | "quality"
            | "detailed"
            | "blurry"
            | "blur"
            | "low"
            | "ugly"
            | "bad"
            | "worst"
            | "distorted"
            | "watermark"
            | "text"
            | "jpeg"
            | "artifacts"
            | "deformed"
            | "noisy"
            | "noise"
            | "hd"
            | "4k"
            | "8k"
            | "beautiful"
            | "simple"
            | "very"
            | "background"
            | "backdrop"
            | "wall"
    )
}

fn size_word(word: &str) -> Option<f32> {
    match word {
        "small" | "tiny" | "little" | "mini" => Some(0.6),
        "big" | "large" | "huge" | "giant" | "enormous" => Some(1.4),
        _ => None,
    }
}

fn count_word(word: &str) -> Option<usize> {
    match word {
        "two" | "2" | "pair" | "twin" => Some(2),
        "three" | "3" => Some(3),
        "four" | "4" => Some(4),
        "several" | "many" | "five" | "5" => Some(5),
        _ => None,
    }
}

/// Horizontal / vertical anchor words.
fn position_word(word: &str) -> Option<(Option<f32>, Option<f32>)> {
    match word {
        "left" => Some((Some(-0.27), None)),
        "right" => Some((Some(0.27), None)),
        "top" | "upper" | "above" => Some((None, Some(-0.24))),
        "bottom" | "lower" | "below" => Some((None, Some(0.22))),
        "center" | "centre" | "middle" => Some((Some(0.0), Some(0.0))),
        _ => None,
    }
}

#[derive(Debug, Clone)]
struct Object {
    shape: Shape,
    colour: Option<Rgb>,
    place: Place,
    size: f32,
    count: usize,
    x: Option<f32>,
    y: Option<f32>,
}

/// What a prompt asks for, before layout.
#[derive(Debug, Clone)]
pub struct Scene {
    objects: Vec<Object>,
    sky: Option<(Rgb, Rgb)>,
    /// Prompt hash: palette and fallback choices for unknown words.
    hash: u64,
    /// Nothing but filler: the unconditional "mean" scene.
    empty: bool,
}

fn singular(word: &str) -> String {
    if (object(word).is_none() && backdrop(word).is_none())
        && let Some(stem) = word.strip_suffix('s')
        && object(stem).is_some()
    {
        return stem.to_string();
    }
    word.to_string()
}

impl Scene {
    pub fn parse(prompt: &str) -> Scene {
        let words: Vec<String> = words(prompt).iter().map(|w| singular(w)).collect();
        let mut scene = Scene {
            objects: Vec::new(),
            sky: None,
            hash: fnv1a(prompt.trim().as_bytes()),
            empty: true,
        };
        let (mut colour_pending, mut size_pending, mut count_pending) = (None, None, None);
        let mut pos_pending: (Option<f32>, Option<f32>) = (None, None);
        let mut unknown = false;
        for (i, w) in words.iter().enumerate() {
            if let Some(c) = colour(w) {
                // "orange" before a noun is a colour; "an orange" at the end is fruit.
                colour_pending = Some(c);
            } else if let Some((shape, default_colour, place)) = object(w) {
                let pos = std::mem::take(&mut pos_pending);
                scene.objects.push(Object {
                    shape,
                    colour: colour_pending.take().or(default_colour),
                    place,
                    size: size_pending.take().unwrap_or(1.0),
                    count: count_pending.take().unwrap_or(1),
                    x: pos.0,
                    y: pos.1,
                });
            } else if let Some(sky) = backdrop(w) {
                scene.sky = Some(sky);
            } else if matches!(w.as_str(), "background" | "backdrop" | "wall") {
                if let Some(c) = colour_pending.take() {
                    let lighter = c.map(|v| v + (1.0 - v) * 0.25);
                    scene.sky = Some((c, lighter));
                }
            } else if let Some(s) = size_word(w) {
                size_pending = Some(s);
            } else if let Some(n) = count_word(w) {
                count_pending = Some(n);
            } else if let Some((x, y)) = position_word(w) {
                // "a circle on the left" (after the noun) or "left circle" (before).
                let after_noun =
                    i > 0 && scene.objects.last().is_some() && colour_pending.is_none();
                match scene.objects.last_mut() {
                    Some(o) if after_noun && o.shape != Shape::Band => {
                        o.x = x.or(o.x);
                        o.y = y.or(o.y);
                    }
                    _ => pos_pending = (x.or(pos_pending.0), y.or(pos_pending.1)),
                }
            } else if !filler(w) {
                unknown = true;
            }
        }
        if let Some(c) = colour_pending {
            if scene.objects.is_empty() {
                // A colour alone ("red"): a disc of it.
                scene.objects.push(Object {
                    shape: Shape::Circle,
                    colour: Some(c),
                    place: Place::Free,
                    size: 1.0,
                    count: 1,
                    x: None,
                    y: None,
                });
            } else if let Some(o) = scene.objects.iter_mut().rev().find(|o| o.colour.is_none()) {
                // A trailing colour ("a circle, red") colours the last uncoloured object.
                o.colour = Some(c);
            }
        }
        if scene.objects.is_empty() && unknown {
            // Something unnamed: the prompt hash picks an object.
            let shapes = [
                Shape::Circle,
                Shape::Square,
                Shape::Triangle,
                Shape::Ring,
                Shape::Diamond,
                Shape::Star,
            ];
            let shape = shapes[(scene.hash % shapes.len() as u64) as usize];
            scene.objects.push(Object {
                shape,
                colour: None,
                place: Place::Free,
                size: 1.0,
                count: 1,
                x: None,
                y: None,
            });
        }
        scene.empty = scene.objects.is_empty() && scene.sky.is_none() && !unknown;
        scene
    }

    /// The target latent on a `gw × gh` grid, token-major (`gw·gh × LATENT_CHANNELS`).
    /// `seed` jitters positions and sizes a little, like a different noise
    /// draw gives a different composition.
    pub fn render(&self, gw: usize, gh: usize, seed: u64) -> Vec<f32> {
        let mut out = vec![0.0; gw * gh * LATENT_CHANNELS];
        if self.empty {
            return out;
        }
        let mut rng = Rng::new(self.hash ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut palette = Rng::new(self.hash);
        let hue = palette.uniform() as f32;
        let (sky_top, sky_bottom) = self
            .sky
            .unwrap_or_else(|| (pastel(hue, 0.55), pastel(hue + 0.08, 0.85)));
        let placed = self.layout(&mut rng, &mut palette);
        let s = gw.min(gh) as f32;
        for gy in 0..gh {
            for gx in 0..gw {
                let p = [
                    ((gx as f32 + 0.5) - gw as f32 / 2.0) / s,
                    ((gy as f32 + 0.5) - gh as f32 / 2.0) / s,
                ];
                let v = (gy as f32 + 0.5) / gh as f32;
                let bg: Rgb =
                    std::array::from_fn(|c| sky_top[c] + (sky_bottom[c] - sky_top[c]) * v);
                let mut best = (f32::INFINITY, bg, 0.0f32);
                for o in &placed {
                    let d = o.sdf(p);
                    if d < best.0 {
                        // Highlight towards the upper left: a little volume.
                        let q = [
                            (p[0] - o.x + 0.35 * o.r) / o.r,
                            (p[1] - o.y + 0.35 * o.r) / o.r,
                        ];
                        let shine = (-(q[0] * q[0] + q[1] * q[1]) * 1.5).exp();
                        best = (d, o.colour, shine);
                    }
                }
                let cell = &mut out
                    [(gy * gw + gx) * LATENT_CHANNELS..(gy * gw + gx + 1) * LATENT_CHANNELS];
                for c in 0..3 {
                    cell[c] = colour_latent(bg[c]);
                    cell[3 + c] = colour_latent(best.1[c]);
                }
                // Signed distance in latent cells, scaled so guidance 4 restores it.
                let d = if best.0.is_finite() { best.0 * s } else { 8.0 };
                cell[6] = (d / GUIDANCE_CALIBRATION).clamp(-1.0, 1.0);
                // Shading: the sky lighter at the top, objects lit from the upper left.
                let shade = if best.0 < 0.0 {
                    0.6 * best.2 - 0.2
                } else {
                    0.25 * (0.5 - v)
                };
                cell[7] = shade / GUIDANCE_CALIBRATION;
            }
        }
        out
    }

    fn layout(&self, rng: &mut Rng, palette: &mut Rng) -> Vec<Placed> {
        let free: usize = self
            .objects
            .iter()
            .filter(|o| o.x.is_none() && o.shape != Shape::Band)
            .map(|o| o.count)
            .sum();
        let all: usize = self
            .objects
            .iter()
            .filter(|o| o.shape != Shape::Band)
            .map(|o| o.count)
            .sum();
        let mut slot = 0usize;
        let mut placed = Vec::new();
        for o in &self.objects {
            let colour = o.colour.unwrap_or_else(|| vivid(palette.uniform() as f32));
            for k in 0..o.count {
                let jitter = |rng: &mut Rng, a: f32| rng.symmetric(a);
                if o.shape == Shape::Band {
                    placed.push(Placed {
                        shape: Shape::Band,
                        x: 0.0,
                        y: 0.18 + jitter(rng, 0.03),
                        r: 1.0,
                        colour,
                        turn: 0.0,
                    });
                    continue;
                }
                let crowd = free.max(1) as f32;
                let r = 0.27 * o.size / (all.max(1) as f32).powf(0.6) * (1.0 + jitter(rng, 0.08));
                let x = match o.x {
                    Some(x) => {
                        // A placed group: a row around the anchor, kept inside the frame.
                        let half_row = (o.count as f32 - 1.0) / 2.0 * 2.3 * r;
                        let centre = x.clamp(
                            -0.48 + half_row + r,
                            (0.48 - half_row - r).max(-0.48 + half_row + r),
                        );
                        centre + (k as f32 - (o.count as f32 - 1.0) / 2.0) * 2.3 * r
                    }
                    None => {
                        let x = (slot as f32 + 0.5) / crowd - 0.5;
                        slot += 1;
                        x * 0.9
                    }
                };
                let y = o.y.unwrap_or(match o.place {
                    Place::Top => -0.22,
                    Place::Bottom => 0.12,
                    Place::Free => 0.0,
                });
                let (x, y) = (x + jitter(rng, 0.04), y + jitter(rng, 0.04));
                let turn = jitter(rng, 0.25);
                placed.push(Placed {
                    shape: o.shape,
                    x,
                    y,
                    r,
                    colour,
                    turn,
                });
            }
        }
        placed
    }
}

#[derive(Debug, Clone)]
struct Placed {
    shape: Shape,
    x: f32,
    y: f32,
    r: f32,
    colour: Rgb,
    /// Rotation in radians.
    turn: f32,
}

impl Placed {
    /// Signed distance (image units, negative inside). Exact for circle,
    /// square, ring, cross and band; a good approximation for the rest, which
    /// only needs the right sign and a sensible slope for the decoder's edge.
    fn sdf(&self, p: [f32; 2]) -> f32 {
        let (c, s) = (self.turn.cos(), self.turn.sin());
        let (dx, dy) = (p[0] - self.x, p[1] - self.y);
        let (x, y) = (c * dx + s * dy, -s * dx + c * dy);
        let r = self.r;
        let boxd = |x: f32, y: f32, hx: f32, hy: f32| {
            let (qx, qy) = (x.abs() - hx, y.abs() - hy);
            (qx.max(0.0).hypot(qy.max(0.0))) + qx.max(qy).min(0.0)
        };
        match self.shape {
            Shape::Circle => dx.hypot(dy) - r,
            Shape::Square => boxd(x, y, 0.85 * r, 0.85 * r),
            Shape::Ring => (dx.hypot(dy) - 0.8 * r).abs() - 0.28 * r,
            Shape::Cross => boxd(x, y, r, 0.3 * r).min(boxd(x, y, 0.3 * r, r)),
            Shape::Diamond => (x.abs() * 0.8 + y.abs() * 0.6 - 0.75 * r) * 0.9,
            Shape::Triangle => {
                // Equilateral, apex up (image y grows downwards).
                let k = 3f32.sqrt();
                let (mut px, mut py) = (x.abs() - r, -(y - 0.25 * r) + r / k);
                if px + k * py > 0.0 {
                    (px, py) = ((px - k * py) / 2.0, (-k * px - py) / 2.0);
                }
                px -= px.clamp(-2.0 * r, 0.0);
                -px.hypot(py) * py.signum()
            }
            Shape::Star | Shape::Flower => {
                let a = y.atan2(x);
                let (depth, base) = if self.shape == Shape::Star {
                    (0.45, 0.6)
                } else {
                    (0.25, 0.78)
                };
                let petals = if self.shape == Shape::Star {
                    (5.0 * (a + std::f32::consts::FRAC_PI_2)).cos()
                } else {
                    (6.0 * a).cos()
                };
                (dx.hypot(dy) - r * (base + depth * petals)) * 0.7
            }
            Shape::Band => -(p[1] - self.y),
        }
    }
}

/// Colour in [0, 1] → latent value, the inverse of the decoder's
/// `0.5 + 0.5·tanh(z)` at guidance [`GUIDANCE_CALIBRATION`].
fn colour_latent(c: f32) -> f32 {
    (2.0 * c - 1.0).clamp(-0.96, 0.96).atanh() / GUIDANCE_CALIBRATION
}

fn hsv(h: f32, s: f32, v: f32) -> Rgb {
    let h = h.rem_euclid(1.0) * 6.0;
    let f = |n: f32| {
        let k = (n + h) % 6.0;
        v - v * s * k.min(4.0 - k).clamp(0.0, 1.0)
    };
    [f(5.0), f(3.0), f(1.0)]
}

fn pastel(h: f32, v: f32) -> Rgb {
    hsv(h, 0.3, 0.55 + 0.4 * v)
}

fn vivid(h: f32) -> Rgb {
    hsv(h, 0.8, 0.9)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_channel(lat: &[f32], c: usize) -> f32 {
        lat.chunks_exact(LATENT_CHANNELS)
            .map(|cell| cell[c])
            .sum::<f32>()
            / (lat.len() / LATENT_CHANNELS) as f32
    }

    #[test]
    fn red_circle_is_red_inside_and_round() {
        let lat = Scene::parse("a red circle").render(16, 16, 1);
        let centre = &lat[(8 * 16 + 8) * LATENT_CHANNELS..];
        assert!(centre[6] < 0.0, "centre is inside");
        assert!(
            centre[3] > 0.0 && centre[4] < 0.0 && centre[5] < 0.0,
            "foreground is red"
        );
        let corner = &lat[..LATENT_CHANNELS];
        assert!(corner[6] > 0.0, "corner is outside");
    }

    #[test]
    fn filler_is_the_zero_scene_and_prompts_differ() {
        assert!(Scene::parse("").render(4, 4, 0).iter().all(|&v| v == 0.0));
        assert!(
            Scene::parse("blurry, low quality")
                .render(4, 4, 0)
                .iter()
                .all(|&v| v == 0.0)
        );
        let a = Scene::parse("a blue square").render(16, 16, 0);
        let b = Scene::parse("a yellow star at night").render(16, 16, 0);
        assert!((mean_channel(&a, 2) - mean_channel(&b, 2)).abs() > 0.01 || a != b);
        assert_ne!(a, b);
        assert_ne!(
            Scene::parse("an astronaut").render(8, 8, 0),
            Scene::parse("a teapot").render(8, 8, 0)
        );
    }
}
