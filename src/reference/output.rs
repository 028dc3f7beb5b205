//! The fixed decoder (latent → RGB), PNG files and `results.jsonl`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};

use super::model::{DOWNSAMPLE, LATENT_CHANNELS};

/// Edge sharpness of the decoder's coverage, per latent unit: at guidance 4
/// the signed distance arrives in latent cells (16 px), so 13 per unit gives
/// an anti-aliased edge about 1.2 px wide.
const EDGE_SHARPNESS: f32 = 13.0;

/// Decodes a token-major latent (`gw·gh × LATENT_CHANNELS`) to `width × height`
/// RGB. Channels are upsampled bilinearly (a signed distance stays a good
/// distance, so shapes keep crisp round edges), then: background and
/// foreground colours through `0.5 + 0.5·tanh`, coverage = sigmoid(−k·sdf),
/// and a shading factor.
pub fn decode(latent: &[f32], width: usize, height: usize) -> image::RgbImage {
    let (gw, gh) = (width / DOWNSAMPLE, height / DOWNSAMPLE);
    let mut img = image::RgbImage::new(width as u32, height as u32);
    let axis = |p: usize, cells: usize| {
        let f = ((p as f32 + 0.5) / DOWNSAMPLE as f32 - 0.5).clamp(0.0, (cells - 1) as f32);
        let i0 = f.floor() as usize;
        (i0, (i0 + 1).min(cells - 1), f - i0 as f32)
    };
    for py in 0..height {
        let (y0, y1, wy) = axis(py, gh);
        for px in 0..width {
            let (x0, x1, wx) = axis(px, gw);
            let z: [f32; LATENT_CHANNELS] = std::array::from_fn(|c| {
                let at = |x: usize, y: usize| latent[(y * gw + x) * LATENT_CHANNELS + c];
                let top = at(x0, y0) * (1.0 - wx) + at(x1, y0) * wx;
                let bottom = at(x0, y1) * (1.0 - wx) + at(x1, y1) * wx;
                top * (1.0 - wy) + bottom * wy
            });
            let cover = 1.0 / (1.0 + (EDGE_SHARPNESS * z[6]).exp());
            let shade = 1.0 + 0.35 * z[7].tanh();
            let rgb = std::array::from_fn(|c| {
                let bg = 0.5 + 0.5 * z[c].tanh();
                let fg = 0.5 + 0.5 * z[3 + c].tanh();
                let v = (bg * (1.0 - cover) + fg * cover) * shade;
                (v.clamp(0.0, 1.0) * 255.0).round() as u8
            });
            img.put_pixel(px as u32, py as u32, image::Rgb(rgb));
        }
    }
    img
}

pub fn image_name(prompt: usize) -> String {
    format!("prompt_{prompt:02}.png")
}

pub fn save_png(img: &image::RgbImage, path: &Path) -> anyhow::Result<()> {
    img.save_with_format(path, image::ImageFormat::Png)
        .with_context(|| format!("failed to write {}", path.display()))
}

/// `results.jsonl`, one flushed line per event, so the runner can poll it.
pub struct Results {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Results {
    pub fn create(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("results.jsonl");
        let file =
            File::create(&path).with_context(|| format!("failed to create {}", path.display()))?;
        Ok(Results {
            path,
            out: BufWriter::new(file),
        })
    }

    pub fn write(&mut self, line: &Value) -> anyhow::Result<()> {
        writeln!(self.out, "{line}")
            .and_then(|()| self.out.flush())
            .with_context(|| format!("failed to write {}", self.path.display()))
    }

    pub fn event(&mut self, event: &str, seconds: f64) -> anyhow::Result<()> {
        self.write(&json!({"event": event, "seconds": round4(seconds)}))
    }
}

pub fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// This process's peak resident set (VmHWM), where /proc has it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_latent_decodes_to_mid_grey() {
        let img = decode(&vec![0.0; 4 * 4 * LATENT_CHANNELS], 64, 64);
        assert_eq!(img.get_pixel(10, 10).0, [128, 128, 128]);
    }
}
