//! Image metrics (DESIGN §7): MeanDiff, MaxDiff, PSNR (peak 1.0), SSIM on
//! BT.601 luma, and the share of pixels changed by more than 8/255.
//!
//! SSIM follows Wang et al. (2004) as in their reference `ssim_index.m`: an
//! 11×11 Gaussian window with σ = 1.5 (normalised to sum 1), C1 = (0.01·L)²,
//! C2 = (0.03·L)² with L = 1, computed over every 'valid' window position (the
//! window wholly inside the image, so an H×W image gives (H−10)×(W−10) local
//! values) and averaged. Images smaller than 11 pixels on a side use one
//! window covering the whole image with uniform weights.

use std::path::{Path, PathBuf};

use crate::report::model::ImageMetrics;

/// Why one image could not be compared. Every variant names the file.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ImageError {
    /// The file does not exist.
    #[error("{}: no image", .0.display())]
    Missing(PathBuf),
    /// The file could not be read.
    #[error("{}: failed to read: {}", .0.display(), .1)]
    Read(PathBuf, String),
    /// The file is not a decodable image.
    #[error("{}: corrupt image: {}", .0.display(), .1)]
    Corrupt(PathBuf, String),
    /// The two images differ in size (never silently resized).
    #[error("size mismatch: {} is {}x{}, {} is {}x{}", .a.display(), .a_size.0, .a_size.1, .b.display(), .b_size.0, .b_size.1)]
    SizeMismatch {
        /// The image being judged.
        a: PathBuf,
        /// Its width and height.
        a_size: (u32, u32),
        /// The reference image.
        b: PathBuf,
        /// Its width and height.
        b_size: (u32, u32),
    },
}

/// A decoded RGB image with its luma plane.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The file it came from.
    pub path: PathBuf,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Interleaved RGB, 8 bits per channel.
    pub rgb: Vec<u8>,
    /// BT.601 luma in 0..1, row-major.
    pub luma: Vec<f32>,
}

/// Reads a file's bytes, mapping "not found" to [`ImageError::Missing`].
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, ImageError> {
    std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ImageError::Missing(path.to_path_buf())
        } else {
            ImageError::Read(path.to_path_buf(), e.to_string())
        }
    })
}

/// Decodes PNG (or any format `image` was built with) bytes to RGB + luma.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<Decoded, ImageError> {
    let img = image::load_from_memory(bytes)
        .map_err(|e| ImageError::Corrupt(path.to_path_buf(), e.to_string()))?;
    let rgb = img.into_rgb8();
    let (width, height) = rgb.dimensions();
    let rgb = rgb.into_raw();
    let luma = luma_of(&rgb);
    Ok(Decoded {
        path: path.to_path_buf(),
        width,
        height,
        rgb,
        luma,
    })
}

/// BT.601 luma (0.299 R + 0.587 G + 0.114 B) scaled to 0..1.
pub fn luma_of(rgb: &[u8]) -> Vec<f32> {
    const R: f32 = 0.299 / 255.0;
    const G: f32 = 0.587 / 255.0;
    const B: f32 = 0.114 / 255.0;
    rgb.chunks_exact(3)
        .map(|p| R * f32::from(p[0]) + G * f32::from(p[1]) + B * f32::from(p[2]))
        .collect()
}

/// The metrics of two identical images.
pub fn identical() -> ImageMetrics {
    ImageMetrics {
        mean_diff: 0.0,
        max_diff: 0.0,
        psnr: None,
        ssim: 1.0,
        changed_share: 0.0,
        identical: true,
    }
}

/// Compares `a` (judged) against `b` (reference).
pub fn compare(a: &Decoded, b: &Decoded) -> Result<ImageMetrics, ImageError> {
    if (a.width, a.height) != (b.width, b.height) {
        return Err(ImageError::SizeMismatch {
            a: a.path.clone(),
            a_size: (a.width, a.height),
            b: b.path.clone(),
            b_size: (b.width, b.height),
        });
    }
    let pixels = (a.width as usize) * (a.height as usize);
    if pixels == 0 {
        return Ok(identical());
    }
    let (sum_abs, sum_sq, max, changed) = pixel_sums(&a.rgb, &b.rgb);
    if sum_abs == 0 {
        return Ok(identical());
    }
    let samples = (pixels * 3) as f64;
    let mse = sum_sq as f64 / (255.0 * 255.0) / samples;
    Ok(ImageMetrics {
        mean_diff: sum_abs as f64 / 255.0 / samples,
        max_diff: f64::from(max) / 255.0,
        psnr: Some(10.0 * (1.0 / mse).log10()),
        ssim: ssim(&a.luma, &b.luma, a.width as usize, a.height as usize),
        changed_share: changed as f64 / pixels as f64,
        identical: false,
    })
}

/// (Σ|d|, Σd², max |d|, pixels with some |d| > 8) over interleaved RGB.
fn pixel_sums(a: &[u8], b: &[u8]) -> (u64, u64, u8, u64) {
    let (mut sum_abs, mut sum_sq, mut max, mut changed) = (0u64, 0u64, 0u8, 0u64);
    // Rows of pixels in blocks so the inner sums stay in u32 and vectorise.
    for (ca, cb) in a.chunks(3 * 4096).zip(b.chunks(3 * 4096)) {
        let (mut s1, mut s2, mut m) = (0u32, 0u32, 0u8);
        for (&x, &y) in ca.iter().zip(cb) {
            let d = x.abs_diff(y);
            s1 += u32::from(d);
            s2 += u32::from(d) * u32::from(d);
            m = m.max(d);
        }
        for (pa, pb) in ca.chunks_exact(3).zip(cb.chunks_exact(3)) {
            let d = pa[0]
                .abs_diff(pb[0])
                .max(pa[1].abs_diff(pb[1]))
                .max(pa[2].abs_diff(pb[2]));
            changed += u64::from(d > 8);
        }
        sum_abs += u64::from(s1);
        sum_sq += u64::from(s2);
        max = max.max(m);
    }
    (sum_abs, sum_sq, max, changed)
}

const C1: f32 = 0.01 * 0.01;
const C2: f32 = 0.03 * 0.03;
const WIN: usize = 11;

/// The 11-tap Gaussian, σ = 1.5, normalised to sum 1.
fn gaussian() -> [f32; WIN] {
    let mut g = [0f64; WIN];
    for (i, v) in g.iter_mut().enumerate() {
        let x = i as f64 - 5.0;
        *v = (-(x * x) / (2.0 * 1.5 * 1.5)).exp();
    }
    let s: f64 = g.iter().sum();
    g.map(|v| (v / s) as f32)
}

/// Mean SSIM of two luma planes (0..1) of `w`×`h` pixels (see module docs).
pub fn ssim(x: &[f32], y: &[f32], w: usize, h: usize) -> f64 {
    if w < WIN || h < WIN {
        return ssim_global(x, y);
    }
    let g = gaussian();
    let ow = w - (WIN - 1);
    // Vertically filtered rows of x, y, x², y², xy, then horizontal taps.
    let mut vx = vec![0f32; w];
    let mut vy = vec![0f32; w];
    let mut vxx = vec![0f32; w];
    let mut vyy = vec![0f32; w];
    let mut vxy = vec![0f32; w];
    let mut hx = vec![0f32; ow];
    let mut hy = vec![0f32; ow];
    let mut hxx = vec![0f32; ow];
    let mut hyy = vec![0f32; ow];
    let mut hxy = vec![0f32; ow];
    let mut total = 0f64;
    for oy in 0..h - (WIN - 1) {
        for v in [&mut vx, &mut vy, &mut vxx, &mut vyy, &mut vxy] {
            v.fill(0.0);
        }
        for (k, &gk) in g.iter().enumerate() {
            let r = (oy + k) * w;
            let (rx, ry) = (&x[r..r + w], &y[r..r + w]);
            for i in 0..w {
                let (a, b) = (rx[i], ry[i]);
                vx[i] += gk * a;
                vy[i] += gk * b;
                vxx[i] += gk * a * a;
                vyy[i] += gk * b * b;
                vxy[i] += gk * a * b;
            }
        }
        for (src, dst) in [
            (&vx, &mut hx),
            (&vy, &mut hy),
            (&vxx, &mut hxx),
            (&vyy, &mut hyy),
            (&vxy, &mut hxy),
        ] {
            dst.fill(0.0);
            for (k, &gk) in g.iter().enumerate() {
                let s = &src[k..k + ow];
                for (d, &v) in dst.iter_mut().zip(s) {
                    *d += gk * v;
                }
            }
        }
        let mut row = 0f32;
        for i in 0..ow {
            let (mx, my) = (hx[i], hy[i]);
            let sxx = hxx[i] - mx * mx;
            let syy = hyy[i] - my * my;
            let sxy = hxy[i] - mx * my;
            let num = (2.0 * mx * my + C1) * (2.0 * sxy + C2);
            let den = (mx * mx + my * my + C1) * (sxx + syy + C2);
            row += num / den;
        }
        total += f64::from(row);
    }
    total / ((h - (WIN - 1)) * ow) as f64
}

/// SSIM with one uniform window over the whole (small) image.
fn ssim_global(x: &[f32], y: &[f32]) -> f64 {
    let n = x.len().min(y.len());
    if n == 0 {
        return 1.0;
    }
    let nf = n as f64;
    let mx = x.iter().map(|&v| f64::from(v)).sum::<f64>() / nf;
    let my = y.iter().map(|&v| f64::from(v)).sum::<f64>() / nf;
    let (mut sxx, mut syy, mut sxy) = (0f64, 0f64, 0f64);
    for (&a, &b) in x.iter().zip(y) {
        let (da, db) = (f64::from(a) - mx, f64::from(b) - my);
        sxx += da * da;
        syy += db * db;
        sxy += da * db;
    }
    let (sxx, syy, sxy) = (sxx / nf, syy / nf, sxy / nf);
    let (c1, c2) = (f64::from(C1), f64::from(C2));
    ((2.0 * mx * my + c1) * (2.0 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
}
