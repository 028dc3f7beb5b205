//! Where two images differ: the connected regions (8-connected) of pixels
//! changed by more than 8/255 in some channel (the "changed share" rule),
//! largest first, as boxes in image fractions for the page to draw over the
//! config's thumbnail. Labelled here with a union–find in two passes: the
//! crate that offers it (imageproc) would bring nalgebra into the build for
//! forty lines.

use image::RgbImage;

/// A changed region: its bounding box as fractions of the image, and its
/// share of the image's pixels.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Region {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub share: f64,
}

/// At most this many regions are boxed: the largest.
pub const MAX_REGIONS: usize = 5;
/// A channel changed by more than this is a changed pixel.
const CHANGED: u8 = 8;

fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        parent[i as usize] = parent[parent[i as usize] as usize];
        i = parent[i as usize];
    }
    i
}

/// The largest changed regions of `b` against `a` (same size), largest first.
pub fn changed_regions(a: &RgbImage, b: &RgbImage) -> Vec<Region> {
    let (w, h) = a.dimensions();
    if b.dimensions() != (w, h) || w == 0 || h == 0 {
        return Vec::new();
    }
    let (wu, n) = (w as usize, (w * h) as usize);
    let changed: Vec<bool> = a
        .as_raw()
        .chunks_exact(3)
        .zip(b.as_raw().chunks_exact(3))
        .map(|(p, q)| p.iter().zip(q).any(|(x, y)| x.abs_diff(*y) > CHANGED))
        .collect();
    let mut parent: Vec<u32> = (0..n as u32).collect();
    for i in 0..n {
        if !changed[i] {
            continue;
        }
        let (x, y) = (i % wu, i / wu);
        // Neighbours already visited: left, and the three above.
        let mut union = |j: usize| {
            if changed[j] {
                let (ri, rj) = (find(&mut parent, i as u32), find(&mut parent, j as u32));
                parent[ri.max(rj) as usize] = ri.min(rj);
            }
        };
        if x > 0 {
            union(i - 1);
        }
        if y > 0 {
            union(i - wu);
            if x > 0 {
                union(i - wu - 1);
            }
            if x + 1 < wu {
                union(i - wu + 1);
            }
        }
    }
    // (pixels, min x, min y, max x, max y) per root.
    let mut boxes: std::collections::HashMap<u32, (usize, usize, usize, usize, usize)> =
        std::collections::HashMap::new();
    for i in (0..n).filter(|&i| changed[i]) {
        let (x, y) = (i % wu, i / wu);
        let e = boxes
            .entry(find(&mut parent, i as u32))
            .or_insert((0, x, y, x, y));
        *e = (e.0 + 1, e.1.min(x), e.2.min(y), e.3.max(x), e.4.max(y));
    }
    let mut regions: Vec<_> = boxes.into_values().collect();
    regions.sort_by(|p, q| q.0.cmp(&p.0).then((p.1, p.2).cmp(&(q.1, q.2))));
    let (wf, hf) = (f64::from(w), f64::from(h));
    regions
        .into_iter()
        .take(MAX_REGIONS)
        .map(|(count, x0, y0, x1, y1)| Region {
            x: x0 as f64 / wf,
            y: y0 as f64 / hf,
            w: (x1 - x0 + 1) as f64 / wf,
            h: (y1 - y0 + 1) as f64 / hf,
            share: count as f64 / n as f64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn two_blobs_largest_first_and_small_changes_ignored() {
        let a = RgbImage::from_pixel(20, 10, Rgb([100, 100, 100]));
        let mut b = a.clone();
        // A 4×4 blob at (1, 1), a diagonal 3-pixel blob at (10, 5) (8-connected).
        for y in 1..5 {
            for x in 1..5 {
                b.put_pixel(x, y, Rgb([200, 100, 100]));
            }
        }
        for k in 0..3 {
            b.put_pixel(10 + k, 5 + k, Rgb([100, 100, 0]));
        }
        b.put_pixel(18, 1, Rgb([105, 100, 100])); // within 8/255: not a change
        let r = changed_regions(&a, &b);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].x, r[0].y, r[0].w, r[0].h), (0.05, 0.1, 0.2, 0.4));
        assert!((r[0].share - 16.0 / 200.0).abs() < 1e-12);
        assert_eq!((r[1].x, r[1].w), (0.5, 0.15));
        assert!(changed_regions(&a, &a).is_empty());
        assert!(changed_regions(&a, &RgbImage::new(3, 3)).is_empty());
    }
}
