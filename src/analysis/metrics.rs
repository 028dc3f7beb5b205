//! Image metrics (DESIGN §7): MeanDiff, MaxDiff, PSNR (peak 1.0), SSIM on
//! BT.601 luma, and the share of pixels changed by more than 8/255.
//!
//! SSIM follows Wang et al. (2004) as in their reference `ssim_index.m`: an
//! 11×11 Gaussian window with σ = 1.5 (normalised to sum 1), C1 = (0.01·L)²,
//! C2 = (0.03·L)² with L = 1, computed over every 'valid' window position (the
//! window wholly inside the image, so an H×W image gives (H−10)×(W−10) local
//! values) and averaged. Images smaller than 11 pixels on a side use one
//! window covering the whole image with uniform weights.
//!
//! Before SSIM, large images are downsampled exactly as
//! `piq.ssim(downsample=True)` does: `f = max(1, round(min(H, W) / 256))` with
//! Python's `round` (halves to even), then non-overlapping f×f block means
//! (`avg_pool2d`: trailing rows/columns that fill no block are dropped)
//! ([`ssim_downsample`]). Wang's `ssim.m` (2009) differs in two ways: MATLAB's
//! `round` takes halves away from zero (at min(H, W) = 640, 1152, 1664, …
//! its f is one larger: 640 → 3, piq 2), and it filters with a
//! symmetric-padded f×f box before keeping every f-th pixel, so its values
//! differ slightly at every f > 1. compat follows piq, the implementation
//! engine teams use from Python. Images under 384 px on a side have f = 1
//! and are unaffected. The block average is fused with the luma
//! conversion ([`ssim_plane`]): one pass over the RGB bytes.

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
    /// Its header claims more pixels (or the file more bytes) than the run's
    /// limits allow: a decompression bomb, never decoded.
    #[error("{}: image too large: {}", .0.display(), .1)]
    TooLarge(PathBuf, String),
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

/// A decoded RGB image with its SSIM plane.
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
    /// BT.601 luma in 0..1, row-major, averaged over `ssim_downsample`²
    /// blocks: `luma_width` × `luma_height` values (the full image when the
    /// factor is 1).
    pub luma: Vec<f32>,
    /// Width of the luma plane.
    pub luma_width: u32,
    /// Height of the luma plane.
    pub luma_height: u32,
    /// The SSIM downsampling factor ([`ssim_downsample`] of the image's size).
    pub ssim_downsample: u32,
}

impl Decoded {
    /// Wraps `width`×`height` interleaved RGB bytes, computing the SSIM plane.
    pub fn from_rgb(path: &Path, width: u32, height: u32, rgb: Vec<u8>) -> Decoded {
        let f = ssim_downsample(width, height);
        let (luma, luma_width, luma_height) = ssim_plane(&rgb, width, height, f);
        Decoded {
            path: path.to_path_buf(),
            width,
            height,
            rgb,
            luma,
            luma_width,
            luma_height,
            ssim_downsample: f,
        }
    }
}

/// piq's automatic SSIM downsampling factor: `max(1, round(min(H, W) /
/// 256))` with Python's `round`, halves to even (2.5 → 2, 3.5 → 4). 1 for
/// images under 384 px on a side, 4 for 1024×1024.
pub fn ssim_downsample(width: u32, height: u32) -> u32 {
    let f = (f64::from(width.min(height)) / 256.0).round_ties_even();
    (f as u32).max(1)
}

/// The SSIM input plane of `width`×`height` interleaved RGB: BT.601 luma in
/// 0..1, averaged over non-overlapping f×f blocks when `f` > 1 (the
/// `⌊W/f⌋`×`⌊H/f⌋` whole blocks), in one pass over the bytes. Returns the
/// plane, its width and its height.
pub fn ssim_plane(rgb: &[u8], width: u32, height: u32, f: u32) -> (Vec<f32>, u32, u32) {
    let (w, h) = (width as usize, height as usize);
    let f = f.max(1) as usize;
    if f == 1 || rgb.len() < 3 * w * h {
        return (luma_of(rgb), width, height);
    }
    let (lw, lh) = (w / f, h / f);
    // Column sums of f rows per channel: u8 added into u16 (vectorises at
    // full width) while 255·f fits, else u32.
    if 255 * f <= usize::from(u16::MAX) {
        (box_luma::<u16>(rgb, w, f, lw, lh), lw as u32, lh as u32)
    } else {
        (box_luma::<u32>(rgb, w, f, lw, lh), lw as u32, lh as u32)
    }
}

fn box_luma<T>(rgb: &[u8], w: usize, f: usize, lw: usize, lh: usize) -> Vec<f32>
where
    T: Copy + Default + From<u8> + std::ops::AddAssign + Into<u64>,
{
    let used = 3 * lw * f; // bytes of a row that fall in whole blocks
    let scale = 1.0 / (255.0 * (f * f) as f64);
    let (r, g, b) = (0.299 * scale, 0.587 * scale, 0.114 * scale);
    let mut cols = vec![T::default(); used];
    let mut out = Vec::with_capacity(lw * lh);
    for by in 0..lh {
        cols.fill(T::default());
        for y in by * f..(by + 1) * f {
            let row = &rgb[3 * w * y..3 * w * y + used];
            for (c, &v) in cols.iter_mut().zip(row) {
                *c += T::from(v);
            }
        }
        out.extend(cols.chunks_exact(3 * f).map(|block| {
            let (mut sr, mut sg, mut sb) = (0u64, 0u64, 0u64);
            for p in block.chunks_exact(3) {
                sr += p[0].into();
                sg += p[1].into();
                sb += p[2].into();
            }
            (r * sr as f64 + g * sg as f64 + b * sb as f64) as f32
        }));
    }
    out
}
/// How large an image may be before it is decoded: a PNG header is 8
/// bytes claiming any size up to 2³¹ on a side, so a 74-byte file could ask
/// for 30 GB. Checked against the header, before any pixel buffer exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Most pixels (width × height).
    pub max_pixels: u64,
    /// Longest side.
    pub max_side: u32,
}

impl DecodeLimits {
    /// The ceiling whatever the run: 8192×8192 (64 Mpx, 192 MiB of RGB),
    /// four times the largest image diffusion engines make today.
    pub const CEILING: DecodeLimits = DecodeLimits {
        max_pixels: 8192 * 8192,
        max_side: 16384,
    };

    /// For a run of `width`×`height` images: up to four times its pixels
    /// and twice its sides (a wrong size is then a size mismatch, with both
    /// sizes named), never above [`Self::CEILING`].
    pub fn for_run(width: u32, height: u32) -> DecodeLimits {
        let c = Self::CEILING;
        if width == 0 || height == 0 {
            return c;
        }
        DecodeLimits {
            max_pixels: (u64::from(width) * u64::from(height))
                .saturating_mul(4)
                .min(c.max_pixels),
            max_side: width.max(height).saturating_mul(2).min(c.max_side),
        }
    }

    /// The most bytes an image file may have: 8 bytes a pixel (16-bit
    /// RGBA, stored) plus headers. A larger file is not read at all.
    pub fn max_file_bytes(&self) -> u64 {
        self.max_pixels.saturating_mul(8).saturating_add(1 << 20)
    }

    /// Why a `width`×`height` image is refused, if it is.
    pub fn refuse(&self, width: u32, height: u32) -> Option<String> {
        let pixels = u64::from(width) * u64::from(height);
        (pixels > self.max_pixels || width.max(height) > self.max_side).then(|| {
            format!(
                "{width}x{height} is more than the limit of {} pixels, {} on a side",
                self.max_pixels, self.max_side
            )
        })
    }

    /// The same limits for the `image` crate's own decoders.
    fn image_limits(&self) -> image::Limits {
        let mut l = image::Limits::default();
        l.max_image_width = Some(self.max_side);
        l.max_image_height = Some(self.max_side);
        l.max_alloc = Some(self.max_pixels.saturating_mul(8).max(1 << 20));
        l
    }
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self::CEILING
    }
}

fn io_error(path: &Path, e: std::io::Error) -> ImageError {
    match e.kind() {
        std::io::ErrorKind::NotFound => ImageError::Missing(path.to_path_buf()),
        std::io::ErrorKind::InvalidData => ImageError::TooLarge(path.to_path_buf(), e.to_string()),
        _ => ImageError::Read(path.to_path_buf(), e.to_string()),
    }
}

/// Reads a file's bytes (a regular file only, within the ceiling's size),
/// mapping "not found" to [`ImageError::Missing`].
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, ImageError> {
    read_bytes_into(path, Vec::new(), &DecodeLimits::CEILING)
}

/// [`read_bytes`] into `buf` (cleared first; its allocation is reused). A
/// FIFO or device named like an image is refused without being opened for
/// a blocking read; a file above `limits` is refused without being read.
pub fn read_bytes_into(
    path: &Path,
    buf: Vec<u8>,
    limits: &DecodeLimits,
) -> Result<Vec<u8>, ImageError> {
    crate::results::files::read_regular_into(path, buf, limits.max_file_bytes())
        .map_err(|e| io_error(path, e))
}

/// [`decode`], the RGB bytes going into `buf(n)` (a buffer to reuse, of any
/// length, ideally of capacity ≥ n) when the file is an 8-bit RGB PNG (what
/// diffusion backends write); anything else goes through [`decode`]. Same
/// limits, same pixels.
pub fn decode_into(
    path: &Path,
    bytes: &[u8],
    limits: &DecodeLimits,
    buf: impl FnOnce(usize) -> Vec<u8>,
) -> Result<Decoded, ImageError> {
    use image::ImageDecoder;
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        let corrupt = |e: image::ImageError| ImageError::Corrupt(path.to_path_buf(), e.to_string());
        let dec = image::codecs::png::PngDecoder::with_limits(
            std::io::Cursor::new(bytes),
            limits.image_limits(),
        )
        .map_err(|e| too_large_or_corrupt(path, limits, e))?;
        let (width, height) = dec.dimensions();
        if let Some(why) = limits.refuse(width, height) {
            return Err(ImageError::TooLarge(path.to_path_buf(), why));
        }
        if dec.color_type() == image::ColorType::Rgb8 {
            let n = usize::try_from(dec.total_bytes()).unwrap_or(usize::MAX);
            let mut buf = buf(n);
            buf.clear();
            buf.try_reserve_exact(n).map_err(|e| {
                ImageError::Corrupt(path.to_path_buf(), format!("{width}x{height}: {e}"))
            })?;
            buf.resize(n, 0);
            dec.read_image(&mut buf).map_err(corrupt)?;
            return Ok(Decoded::from_rgb(path, width, height, buf));
        }
    }
    decode_limited(path, bytes, limits)
}

/// Decodes PNG (or any format `image` was built with) bytes to RGB + the
/// SSIM plane, within [`DecodeLimits::CEILING`].
pub fn decode(path: &Path, bytes: &[u8]) -> Result<Decoded, ImageError> {
    decode_limited(path, bytes, &DecodeLimits::CEILING)
}

/// [`decode`] within `limits`.
pub fn decode_limited(
    path: &Path,
    bytes: &[u8],
    limits: &DecodeLimits,
) -> Result<Decoded, ImageError> {
    let rgb = decode_rgb(path, bytes, limits)?;
    let (width, height) = rgb.dimensions();
    Ok(Decoded::from_rgb(path, width, height, rgb.into_raw()))
}

/// The image in `bytes` as 8-bit RGB, its size checked against `limits`
/// from its header before any pixel is decoded (the HTML page's thumbnails
/// and heatmaps read images through this too).
pub fn decode_rgb(
    path: &Path,
    bytes: &[u8],
    limits: &DecodeLimits,
) -> Result<image::RgbImage, ImageError> {
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| ImageError::Read(path.to_path_buf(), e.to_string()))
    };
    let (width, height) = reader()?
        .into_dimensions()
        .map_err(|e| too_large_or_corrupt(path, limits, e))?;
    if let Some(why) = limits.refuse(width, height) {
        return Err(ImageError::TooLarge(path.to_path_buf(), why));
    }
    let mut r = reader()?;
    r.limits(limits.image_limits());
    let img = r
        .decode()
        .map_err(|e| too_large_or_corrupt(path, limits, e))?;
    // An RGB copy of a grey or palette image is 3 bytes a pixel: within
    // the pixel limit checked above.
    Ok(img.into_rgb8())
}

/// A decoder's refusal on its limits is "too large", anything else corrupt.
fn too_large_or_corrupt(path: &Path, limits: &DecodeLimits, e: image::ImageError) -> ImageError {
    match e {
        image::ImageError::Limits(l) => ImageError::TooLarge(
            path.to_path_buf(),
            format!(
                "{l} (limit {} pixels, {} on a side)",
                limits.max_pixels, limits.max_side
            ),
        ),
        e => ImageError::Corrupt(path.to_path_buf(), e.to_string()),
    }
}

/// BT.601 luma (0.299 R + 0.587 G + 0.114 B) scaled to 0..1.
pub fn luma_of(rgb: &[u8]) -> Vec<f32> {
    const R: f32 = 0.299 / 255.0;
    const G: f32 = 0.587 / 255.0;
    const B: f32 = 0.114 / 255.0;
    let px = |p: &[u8]| R * f32::from(p[0]) + G * f32::from(p[1]) + B * f32::from(p[2]);
    let mut out = vec![0f32; rgb.len() / 3];
    // Blocks of 16 pixels with fixed sizes, so the compiler unrolls and vectorises.
    let blocks = rgb.chunks_exact(48);
    let rest = blocks.remainder();
    let mut o = out.chunks_exact_mut(16);
    for (src, dst) in blocks.zip(&mut o) {
        let src: &[u8; 48] = src.try_into().unwrap_or(&[0; 48]);
        for (i, d) in dst.iter_mut().enumerate() {
            *d = R * f32::from(src[3 * i])
                + G * f32::from(src[3 * i + 1])
                + B * f32::from(src[3 * i + 2]);
        }
    }
    for (d, p) in o.into_remainder().iter_mut().zip(rest.chunks_exact(3)) {
        *d = px(p);
    }
    out
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
        ssim: ssim(
            &a.luma,
            &b.luma,
            a.luma_width as usize,
            a.luma_height as usize,
        ),
        changed_share: changed as f64 / pixels as f64,
        identical: false,
    })
}

/// (Σ|d|, Σd², max |d|, pixels with some |d| > 8) over interleaved RGB: every
/// metric but SSIM in one pass over the bytes.
fn pixel_sums(a: &[u8], b: &[u8]) -> (u64, u64, u8, u64) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU was just checked to support AVX2.
        return unsafe { pixel_sums_avx2(a, b) };
    }
    pixel_sums_generic(a, b)
}

/// [`pixel_sums`] compiled for AVX2 (integer arithmetic: the same answer).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn pixel_sums_avx2(a: &[u8], b: &[u8]) -> (u64, u64, u8, u64) {
    pixel_sums_generic(a, b)
}

#[inline(always)]
fn pixel_sums_generic(a: &[u8], b: &[u8]) -> (u64, u64, u8, u64) {
    let (mut sum_abs, mut sum_sq, mut max, mut changed) = (0u64, 0u64, 0u8, 0u64);
    // Blocks of 16 pixels (48 bytes) of fixed size, so the loops vectorise;
    // per-block sums fit u32 easily.
    let (ba, bb) = (a.chunks_exact(48), b.chunks_exact(48));
    let (ra, rb) = (ba.remainder(), bb.remainder());
    for (ca, cb) in ba.zip(bb) {
        let (ca, cb): (&[u8; 48], &[u8; 48]) = match (ca.try_into(), cb.try_into()) {
            (Ok(x), Ok(y)) => (x, y),
            _ => continue,
        };
        let mut d = [0u8; 48];
        for i in 0..48 {
            d[i] = ca[i].abs_diff(cb[i]);
        }
        let (mut s1, mut s2, mut m) = (0u32, 0u32, 0u8);
        for &v in &d {
            s1 += u32::from(v);
            s2 += u32::from(v) * u32::from(v);
            m = m.max(v);
        }
        let mut c = 0u32;
        for p in 0..16 {
            c += u32::from(d[3 * p].max(d[3 * p + 1]).max(d[3 * p + 2]) > 8);
        }
        sum_abs += u64::from(s1);
        sum_sq += u64::from(s2);
        max = max.max(m);
        changed += u64::from(c);
    }
    for (pa, pb) in ra.chunks_exact(3).zip(rb.chunks_exact(3)) {
        let d = [0, 1, 2].map(|i| pa[i].abs_diff(pb[i]));
        for v in d {
            sum_abs += u64::from(v);
            sum_sq += u64::from(v) * u64::from(v);
            max = max.max(v);
        }
        changed += u64::from(d[0].max(d[1]).max(d[2]) > 8);
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
///
/// Separable and streaming: each input row's x, y, x², y², xy go once into a
/// ring of 11 rows; each output row is a vertical then a horizontal pass over
/// those five channels, using the window's symmetry (g[k] = g[10−k]). Memory
/// is O(width); the loops run over contiguous slices so they vectorise.
pub fn ssim(x: &[f32], y: &[f32], w: usize, h: usize) -> f64 {
    if w < WIN || h < WIN || x.len() < w * h || y.len() < w * h {
        return ssim_global(x, y);
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU was just checked to support AVX2.
        return unsafe { ssim_avx2(x, y, w, h) };
    }
    ssim_windows(x, y, w, h)
}

/// The same code compiled for AVX2 (8 lanes instead of SSE2's 4); same
/// operations in the same order, so the same answer up to rounding.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn ssim_avx2(x: &[f32], y: &[f32], w: usize, h: usize) -> f64 {
    ssim_windows(x, y, w, h)
}

#[inline(always)]
fn ssim_windows(x: &[f32], y: &[f32], w: usize, h: usize) -> f64 {
    let g = gaussian();
    let (ow, oh) = (w - (WIN - 1), h - (WIN - 1));
    // SSIM needs σx² + σy² only, so x² + y² is one channel: four, not five.
    const CH: usize = 4;
    let stride = CH * w; // one ring slot: [x | y | x²+y² | xy]
    let mut ring = vec![0f32; WIN * stride];
    let fill = |ring: &mut [f32], r: usize| {
        let slot = &mut ring[(r % WIN) * stride..(r % WIN + 1) * stride];
        let (sx, rest) = slot.split_at_mut(w);
        let (sy, rest) = rest.split_at_mut(w);
        let (sq, sxy) = rest.split_at_mut(w);
        let (rx, ry) = (&x[r * w..(r + 1) * w], &y[r * w..(r + 1) * w]);
        sx.copy_from_slice(rx);
        sy.copy_from_slice(ry);
        for (((a, b), q), xy) in rx.iter().zip(ry).zip(sq).zip(sxy) {
            *q = a * a + b * b;
            *xy = a * b;
        }
    };
    for r in 0..WIN - 1 {
        fill(&mut ring, r);
    }
    let mut v = vec![0f32; stride];
    let mut hz = vec![0f32; CH * ow];
    let mut local = vec![0f32; ow];
    let mut total = 0f64;
    for oy in 0..oh {
        fill(&mut ring, oy + WIN - 1);
        let row = |k: usize| &ring[((oy + k) % WIN) * stride..((oy + k) % WIN + 1) * stride];
        // Vertical: v = g5·r5 + Σ_{k<5} g_k·(r_k + r_{10−k}).
        for (d, &c) in v.iter_mut().zip(row(5)) {
            *d = g[5] * c;
        }
        for (k, &gk) in g.iter().enumerate().take(5) {
            for ((d, &a), &b) in v.iter_mut().zip(row(k)).zip(row(WIN - 1 - k)) {
                *d += gk * (a + b);
            }
        }
        // Horizontal, per channel.
        for c in 0..CH {
            let src = &v[c * w..(c + 1) * w];
            let dst = &mut hz[c * ow..(c + 1) * ow];
            for (d, &m) in dst.iter_mut().zip(&src[5..5 + ow]) {
                *d = g[5] * m;
            }
            for k in 0..5 {
                let gk = g[k];
                let (a, b) = (&src[k..k + ow], &src[WIN - 1 - k..WIN - 1 - k + ow]);
                for ((d, &p), &q) in dst.iter_mut().zip(a).zip(b) {
                    *d += gk * (p + q);
                }
            }
        }
        let (mx, rest) = hz.split_at(ow);
        let (my, rest) = rest.split_at(ow);
        let (msq, mxy) = rest.split_at(ow);
        // Element-wise into a buffer (vectorises), then an 8-lane sum: a
        // plain `acc += …` is a serial float reduction the compiler may not
        // reorder, which would keep this loop scalar.
        for ((((o, &mx), &my), &sq), &xy) in local.iter_mut().zip(mx).zip(my).zip(msq).zip(mxy) {
            let mm = mx * mx + my * my;
            let num = (2.0 * mx * my + C1) * (2.0 * (xy - mx * my) + C2);
            let den = (mm + C1) * ((sq - mm) + C2);
            *o = num / den;
        }
        let mut lanes = [0f32; 8];
        let chunks = local.chunks_exact(8);
        let tail: f32 = chunks.remainder().iter().sum();
        for c in chunks {
            for (l, &v) in lanes.iter_mut().zip(c) {
                *l += v;
            }
        }
        total += f64::from(lanes.iter().sum::<f32>() + tail);
    }
    total / (oh * ow) as f64
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

#[cfg(test)]
mod tests {
    use super::*;

    /// SSIM on dark, low-contrast planes, where C1 = 0.01² is a large share
    /// of the luminance term (means near 0.02, so mx² + my² ≈ 1e-3): a C1 off
    /// by 10% moves this value by 1.7e-4, while on the high-contrast planes
    /// of tests/analyze.rs it moves by less than 1e-7. Reference value from
    /// scripts/ssim_reference.py (`e_f`: pure Python, direct 2-D window
    /// sums in f64), and scikit-image 0.26's `structural_similarity(x, y,
    /// data_range=1, gaussian_weights=True, sigma=1.5,
    /// use_sample_covariance=False)` gives the same to 1e-15. Both windowed
    /// (32×24) and single-window (10×8) paths are checked.
    #[test]
    fn ssim_on_low_contrast_planes_matches_the_reference() {
        let plane = |w: usize, h: usize, f: &dyn Fn(f64, f64) -> f64| -> Vec<f32> {
            (0..h)
                .flat_map(|i| (0..w).map(move |j| (i, j)))
                .map(|(i, j)| f(i as f64, j as f64) as f32)
                .collect()
        };
        let pe =
            |i: f64, j: f64| 0.02 + 0.01 * ((i as usize * 5 + j as usize * 3) % 7) as f64 / 6.0;
        let pf = |i: f64, j: f64| pe(i, j) * 1.3 + 0.004 * (i * 0.9 - j * 0.4).sin();
        let (w, h) = (32, 24);
        let got = ssim(&plane(w, h, &pe), &plane(w, h, &pf), w, h);
        assert!((got - 0.959_797_698_039_505).abs() < 1e-5, "ssim {got}");
        let got = ssim(&plane(10, 8, &pe), &plane(10, 8, &pf), 10, 8);
        // One uniform window (population variances), by hand from the same
        // formula in f64: 0.960914376135 (C1 10% off: 0.961081).
        assert!((got - 0.960_914_376_135_244_8).abs() < 1e-5, "ssim {got}");
    }

    /// The sizes where the roundings differ: min(H, W) / 256 ends in .5.
    /// piq (Python's round, halves to even) against MATLAB's `ssim.m`
    /// (halves away from zero): 640 → 2 not 3, 1152 → 4 not 5, 1664 → 6
    /// not 7; 384 → 2 and 896 → 4 in both.
    #[test]
    fn downsampling_factor_rounds_halves_to_even_as_piq() {
        for (w, h, f) in [
            (1536, 640, 2),
            (640, 640, 2),
            (1152, 2048, 4),
            (1664, 1664, 6),
            (384, 384, 2),
            (896, 1200, 4),
            (383, 1000, 1),
            (1024, 1024, 4),
            (100, 50, 1),
        ] {
            assert_eq!(ssim_downsample(w, h), f, "{w}x{h}");
        }
    }
}
