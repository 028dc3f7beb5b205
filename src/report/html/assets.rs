//! The page's image files: thumbnails of every image and a diff heatmap of
//! every config image against the baseline image of its prompt, written into
//! the assets folder beside the page. Each PNG is decoded once; baselines are
//! shared by every config, so they are decoded first and kept.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use image::{Rgb, RgbImage};
use rayon::prelude::*;

use super::context::{HtmlImages, HtmlPage, HtmlPrompt};

/// Thumbnails fit in this many pixels on their longer side.
const THUMB_PX: u32 = 160;
/// Heatmaps are max-pooled down to at most this many pixels per side: small
/// enough for a page of 100+ of them, and pooling keeps isolated hot pixels.
const HEATMAP_PX: u32 = 512;

/// The heatmap's colour map (magma-like): dark = unchanged, bright = changed.
/// The template's colour bar uses the same stops.
pub const COLORMAP: [(f32, [u8; 3]); 5] = [
    (0.0, [0, 0, 4]),
    (0.25, [81, 18, 124]),
    (0.5, [183, 55, 121]),
    (0.75, [252, 137, 97]),
    (1.0, [252, 253, 191]),
];

fn colormap(t: f32) -> Rgb<u8> {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    for pair in COLORMAP.windows(2) {
        let ((t0, c0), (t1, c1)) = (pair[0], pair[1]);
        if t <= t1 {
            let f = (t - t0) / (t1 - t0);
            let mix = |a: u8, b: u8| (a as f32 + (b as f32 - a as f32) * f).round() as u8;
            return Rgb([mix(c0[0], c1[0]), mix(c0[1], c1[1]), mix(c0[2], c1[2])]);
        }
    }
    Rgb(COLORMAP[COLORMAP.len() - 1].1)
}

/// Per-pixel mean |a − b| over RGB in 0..1, max-pooled to at most
/// `HEATMAP_PX` per side, coloured relative to the largest difference (so a
/// small lossless drift is still visible); returns the image and that scale.
pub fn heatmap(a: &RgbImage, b: &RgbImage) -> anyhow::Result<(RgbImage, f64)> {
    if a.dimensions() != b.dimensions() {
        bail!(
            "size mismatch: baseline {}×{}, config {}×{}",
            a.width(),
            a.height(),
            b.width(),
            b.height()
        );
    }
    let (w, h) = a.dimensions();
    let factor = w.max(h).div_ceil(HEATMAP_PX).max(1);
    let (ow, oh) = (w.div_ceil(factor), h.div_ceil(factor));
    let mut pooled = vec![0f32; (ow * oh) as usize];
    for (x, y, pa) in a.enumerate_pixels() {
        let pb = b.get_pixel(x, y);
        let d = (0..3)
            .map(|c| (pa[c] as f32 - pb[c] as f32).abs())
            .sum::<f32>()
            / (3.0 * 255.0);
        let cell = &mut pooled[((y / factor) * ow + x / factor) as usize];
        *cell = cell.max(d);
    }
    let max = pooled.iter().copied().fold(0f32, f32::max);
    // Identical images get the scale of one grey level, so they render dark.
    let scale = max.max(1.0 / 255.0);
    let img = RgbImage::from_fn(ow, oh, |x, y| {
        colormap(pooled[(y * ow + x) as usize] / scale)
    });
    Ok((img, scale as f64))
}

/// A safe, stable directory name for a config: its index and its name with
/// anything outside `[A-Za-z0-9_.+-]` replaced.
pub fn slug(index: usize, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    format!("{index:02}-{clean}")
}

/// A relative path as a URL path: each component percent-encoded, so names
/// with spaces, `#` or `%` still resolve from `file://`.
pub fn url_of(rel: &Path) -> String {
    let mut parts = Vec::new();
    for comp in rel.components() {
        if let Component::Normal(s) = comp {
            let s = s.to_string_lossy();
            let mut enc = String::new();
            for b in s.bytes() {
                if b.is_ascii_alphanumeric() || b"-._~+".contains(&b) {
                    enc.push(b as char);
                } else {
                    enc.push_str(&format!("%{b:02X}"));
                }
            }
            parts.push(enc);
        }
    }
    parts.join("/")
}

/// The URL of a full image: relative to the page when the file lies inside the
/// results directory, otherwise a copy in the assets folder (the page must work
/// when the folder is moved or opened elsewhere).
fn full_image_url(
    png: &Path,
    results_dir: &Path,
    assets: &Path,
    copy_as: &str,
) -> anyhow::Result<String> {
    if let Ok(rel) = png.strip_prefix(results_dir)
        && rel.components().all(|c| matches!(c, Component::Normal(_)))
    {
        return Ok(url_of(rel));
    }
    let dest = assets.join(copy_as);
    // Only a regular file is copied (a FIFO would block the copy).
    crate::results::files::open_regular(png)
        .with_context(|| format!("failed to read {}", png.display()))?;
    std::fs::copy(png, &dest)
        .with_context(|| format!("failed to copy {} to {}", png.display(), dest.display()))?;
    Ok(url_of(&PathBuf::from(super::ASSETS_DIR).join(copy_as)))
}

/// An image of the page: a regular file only, its header checked against
/// the decode ceiling before any pixel is decoded (the analysis refused a
/// bomb already; the page must not be the one to allocate for it).
fn decode(path: &Path) -> anyhow::Result<RgbImage> {
    use crate::analysis::metrics;
    let limits = metrics::DecodeLimits::CEILING;
    let read = || -> Result<RgbImage, metrics::ImageError> {
        let bytes = metrics::read_bytes_into(path, Vec::new(), &limits)?;
        metrics::decode_rgb(path, &bytes, &limits)
    };
    read().with_context(|| format!("failed to read image {}", path.display()))
}

fn save(img: &RgbImage, path: &Path) -> anyhow::Result<()> {
    img.save(path)
        .with_context(|| format!("failed to write {}", path.display()))
}

fn thumb(img: &RgbImage) -> RgbImage {
    let (w, h) = img.dimensions();
    let s = (THUMB_PX as f64 / w.max(h).max(1) as f64).min(1.0);
    let tw = ((w as f64 * s).round() as u32).max(1);
    let th = ((h as f64 * s).round() as u32).max(1);
    image::imageops::thumbnail(img, tw, th)
}

/// A decoded baseline image and its page URLs.
struct Baseline {
    img: RgbImage,
    url: String,
    thumb: String,
}

/// The baseline of prompt `index`: decoded, with its thumbnail written.
fn make_baseline(
    index: usize,
    path: &Path,
    results_dir: &Path,
    base_dir: &Path,
) -> anyhow::Result<Baseline> {
    let img = decode(path)?;
    let name = format!("p{index:02}");
    let thumb_file = base_dir.join(format!("{name}_thumb.png"));
    save(&thumb(&img), &thumb_file)?;
    let url = full_image_url(path, results_dir, base_dir, &format!("{name}.png"))?;
    let thumb_rel = PathBuf::from(super::ASSETS_DIR)
        .join("baseline")
        .join(format!("{name}_thumb.png"));
    Ok(Baseline {
        img,
        url,
        thumb: url_of(&thumb_rel),
    })
}

/// The baselines of the run by path, each a baseline or why it is not one.
type Baselines = HashMap<PathBuf, Result<Baseline, String>>;

/// The distinct baseline images, decoded once each, in parallel: every config
/// of a prompt shares its baseline, so decoding it per config would repeat work.
fn baselines(page: &HtmlPage, results_dir: &Path, base_dir: &Path) -> Baselines {
    let mut wanted: Vec<(usize, PathBuf)> = page
        .configs
        .iter()
        .flat_map(|c| &c.prompts)
        .filter_map(|p| p.baseline_png.clone().map(|b| (p.index, b)))
        .collect();
    wanted.sort();
    wanted.dedup_by(|a, b| a.1 == b.1);
    wanted
        .into_par_iter()
        .map(|(index, path)| {
            let made =
                make_baseline(index, &path, results_dir, base_dir).map_err(|e| format!("{e:#}"));
            (path, made)
        })
        .collect()
}

/// Where a prompt's files go and what they are compared with.
struct Job<'a> {
    results_dir: &'a Path,
    assets: &'a Path,
    /// The config's folder under `assets`.
    dir_name: &'a str,
}

impl Job<'_> {
    /// The config image `png` of `prompt`: thumbnail, URL, and the heatmap
    /// against `base`. Fills `images` as it goes, so that what was written
    /// before a failure is still shown.
    fn config_image(
        &self,
        prompt: &HtmlPrompt,
        png: &Path,
        base: Option<&Baseline>,
        images: &mut HtmlImages,
    ) -> anyhow::Result<()> {
        let dir = self.assets.join(self.dir_name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let img = decode(png)?;
        let stem = format!("p{:02}", prompt.index);
        save(&thumb(&img), &dir.join(format!("{stem}_thumb.png")))?;
        let rel = PathBuf::from(super::ASSETS_DIR).join(self.dir_name);
        images.config_thumb = Some(url_of(&rel.join(format!("{stem}_thumb.png"))));
        images.config = Some(full_image_url(
            png,
            self.results_dir,
            &dir,
            &format!("{stem}.png"),
        )?);
        images.width = img.width();
        images.height = img.height();
        // The baseline compared with itself needs no heatmap.
        if let Some(b) = base
            && prompt.baseline_png.as_deref() != Some(png)
        {
            if b.img == img {
                images.identical = true;
                return Ok(());
            }
            images.regions = super::regions::changed_regions(&b.img, &img);
            let (heat, scale) = heatmap(&b.img, &img)?;
            save(&heat, &dir.join(format!("{stem}_diff.png")))?;
            images.diff = Some(url_of(&rel.join(format!("{stem}_diff.png"))));
            images.diff_scale = Some(scale);
        }
        Ok(())
    }

    /// Fills `prompt.images`; returns its problems as one warning, if any.
    fn prompt(&self, prompt: &mut HtmlPrompt, baselines: &Baselines) -> Option<String> {
        let base = prompt.baseline_png.as_ref().and_then(|p| baselines.get(p));
        let mut images = HtmlImages::default();
        let mut problems = Vec::new();
        if let Some(Ok(b)) = base {
            images.baseline = Some(b.url.clone());
            images.baseline_thumb = Some(b.thumb.clone());
            images.width = b.img.width();
            images.height = b.img.height();
        } else if let Some(Err(e)) = base {
            problems.push(e.clone());
        }
        if let Some(png) = prompt.config_png.clone() {
            let base = base.and_then(|b| b.as_ref().ok());
            if let Err(e) = self.config_image(prompt, &png, base, &mut images) {
                problems.push(format!("{e:#}"));
            }
        }
        let warning = (!problems.is_empty()).then(|| problems.join("; "));
        images.problem = warning.clone();
        prompt.images = images;
        warning
    }
}

/// Writes every thumbnail and heatmap under `assets` and fills each prompt's
/// `images`. An image that cannot be read or compared is noted on its prompt
/// (`images.problem`) and returned as a warning; it never stops the page.
pub fn build(page: &mut HtmlPage, results_dir: &Path, assets: &Path) -> Vec<String> {
    let base_dir = assets.join("baseline");
    if let Err(e) = std::fs::create_dir_all(&base_dir) {
        return vec![format!("failed to create {}: {e}", base_dir.display())];
    }
    let baselines = baselines(page, results_dir, &base_dir);

    let mut jobs = Vec::new();
    for (ci, config) in page.configs.iter_mut().enumerate() {
        let dir_name = slug(ci, &config.name);
        // The baseline's section shows the baseline's images (assets/baseline):
        // a second copy of them would be written and never shown.
        let is_baseline = config.role == "baseline";
        for prompt in config.prompts.iter_mut() {
            if is_baseline {
                prompt.config_png = None;
            }
            jobs.push((dir_name.clone(), prompt));
        }
    }
    jobs.into_par_iter()
        .filter_map(|(dir_name, prompt)| {
            let job = Job {
                results_dir,
                assets,
                dir_name: &dir_name,
            };
            job.prompt(prompt, &baselines)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heatmap_of_identical_images_is_dark() {
        let a = RgbImage::from_pixel(8, 8, Rgb([10, 20, 30]));
        let (h, scale) = heatmap(&a, &a).unwrap();
        assert_eq!(h.get_pixel(3, 3), &Rgb([0, 0, 4]));
        assert!((scale - 1.0 / 255.0).abs() < 1e-6);
    }

    #[test]
    fn heatmap_pools_large_images_and_rejects_size_mismatch() {
        let a = RgbImage::new(1100, 600);
        let mut b = a.clone();
        b.put_pixel(1099, 599, Rgb([255, 255, 255]));
        let (h, scale) = heatmap(&a, &b).unwrap();
        assert_eq!(h.dimensions(), (367, 200));
        assert_eq!(h.get_pixel(366, 199), &Rgb([252, 253, 191]));
        assert!((scale - 1.0).abs() < 1e-6);
        assert!(heatmap(&a, &RgbImage::new(10, 10)).is_err());
    }

    #[test]
    fn urls_are_relative_and_encoded() {
        assert_eq!(
            url_of(Path::new("cfg_parallel+teacache/prompt 00#.png")),
            "cfg_parallel+teacache/prompt%2000%23.png"
        );
        assert_eq!(slug(3, "a+b/../c"), "03-a+b_.._c");
    }
}
