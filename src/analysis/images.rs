//! The images of a run, compared: every judged config's image of a prompt
//! against the pure baseline's (and the baseline feature's), prompt by prompt
//! in parallel. Each file is read and decoded at most once, and buffers are
//! pooled between prompts.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::metrics::{self, Decoded, ImageError};
use super::parents::Parent;
use crate::report::model::ImageMetrics;
use crate::results::reader::{ConfigSource, RunDir};

/// One image compared with a reference image (or why it could not be).
pub(crate) type Compared = Option<Result<ImageMetrics, String>>;

/// One prompt of one config, compared.
#[derive(Debug, Clone, Default)]
pub(crate) struct PromptCompare {
    /// Against the pure baseline.
    pub base: Compared,
    /// Against the baseline feature alone.
    pub bf: Compared,
    /// Against each parent (see [`super::parents`]), in its order.
    pub parents: Vec<Compared>,
}

/// Compares every image of every judged config, prompt by prompt in
/// parallel: each prompt's images are read and decoded once (the baseline's
/// once for all configs) and dropped before the task ends, so memory holds a
/// few prompts' images at a time, whatever the number of prompts.
/// Returns, per config, per prompt, the comparisons; and the largest SSIM
/// downsampling factor among the decoded images (1 when none was decoded).
pub(crate) fn compare_all(run: &RunDir, parents: &[Vec<Parent>]) -> (Vec<Vec<PromptCompare>>, u32) {
    let n = run.num_prompts;
    let limits = limits_of(run);
    let judged: Vec<bool> = run
        .configs
        .iter()
        .map(|c| c.skip_reason.is_none() && c.dir.is_some())
        .collect();
    // File and pixel buffers go back to this pool after each prompt and are
    // reused by the next: no fresh (page-faulting) allocations per prompt.
    // It holds at most what was in flight at once, and is freed on return.
    let pool = Pool::default();
    let per_prompt: Vec<(Vec<PromptCompare>, u32)> = (0..n)
        .into_par_iter()
        .map(|i| compare_prompt(run, parents, i, &judged, &pool, &limits))
        .collect();
    // Transpose to per config.
    let mut out: Vec<Vec<PromptCompare>> = vec![Vec::with_capacity(n); run.configs.len()];
    let mut factor = 1;
    for (row, f) in per_prompt {
        factor = factor.max(f);
        for (ci, cell) in row.into_iter().enumerate() {
            out[ci].push(cell);
        }
    }
    (out, factor)
}

/// How large an image of this run may be: from the run's own size (the
/// manifest's settings, which the baseline was made at), else the ceiling.
pub(crate) fn limits_of(run: &RunDir) -> metrics::DecodeLimits {
    let settings = run
        .manifest
        .as_ref()
        .map(|m| &m.settings)
        .map(|s| (s.width, s.height))
        .or_else(|| run.original.as_ref().map(|o| (o.width, o.height)));
    match settings {
        Some((w, h)) => metrics::DecodeLimits::for_run(w, h),
        None => metrics::DecodeLimits::CEILING,
    }
}

/// Byte buffers shared between prompts (see [`compare_all`]).
#[derive(Default)]
struct Pool(std::sync::Mutex<Vec<Vec<u8>>>);

impl Pool {
    /// The smallest buffer holding `want` bytes, else a new one.
    fn take(&self, want: usize) -> Vec<u8> {
        let mut p = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let best = p
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= want)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        match best {
            Some(i) => p.swap_remove(i),
            None => Vec::with_capacity(want),
        }
    }

    fn give(&self, b: Vec<u8>) {
        if b.capacity() > 0 {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(b);
        }
    }
}

/// One image slot of a prompt: its bytes, decoded lazily, at most once.
struct Slot {
    path: Option<PathBuf>,
    bytes: Option<Result<Vec<u8>, ImageError>>,
    decoded: Option<Result<Decoded, ImageError>>,
}

impl Slot {
    fn new(
        c: &ConfigSource,
        i: usize,
        wanted: bool,
        pool: &Pool,
        limits: &metrics::DecodeLimits,
        root: &Path,
    ) -> Slot {
        let path = if wanted { c.image_path(i) } else { None };
        let bytes = path.as_deref().map(|p| {
            if !crate::results::files::within(root, p) {
                return Err(ImageError::Read(
                    p.to_path_buf(),
                    "a link to a file outside the results folder; only the folder's own files are read"
                        .to_string(),
                ));
            }
            // A file over the limit is refused unread: no buffer for it.
            let size = std::fs::metadata(p)
                .ok()
                .filter(|m| m.is_file() && m.len() <= limits.max_file_bytes())
                .and_then(|m| usize::try_from(m.len()).ok())
                .unwrap_or(0);
            metrics::read_bytes_into(p, pool.take(size), limits)
        });
        Slot {
            path,
            bytes,
            decoded: None,
        }
    }

    fn bytes(&self) -> Option<&[u8]> {
        match &self.bytes {
            Some(Ok(b)) => Some(b),
            _ => None,
        }
    }

    /// Its bytes and pixels back to `pool`.
    fn recycle(self, pool: &Pool) {
        if let Some(Ok(b)) = self.bytes {
            pool.give(b);
        }
        if let Some(Ok(d)) = self.decoded {
            pool.give(d.rgb);
        }
    }

    fn decode(
        &mut self,
        pool: &Pool,
        limits: &metrics::DecodeLimits,
    ) -> Result<&Decoded, ImageError> {
        if self.decoded.is_none() {
            let r = match (&self.bytes, &self.path) {
                (Some(Ok(b)), Some(p)) => metrics::decode_into(p, b, limits, |n| pool.take(n)),
                (Some(Err(e)), _) => Err(e.clone()),
                _ => Err(ImageError::Missing(self.path.clone().unwrap_or_default())),
            };
            self.decoded = Some(r);
        }
        match &self.decoded {
            Some(Ok(d)) => Ok(d),
            Some(Err(e)) => Err(e.clone()),
            None => Err(ImageError::Missing(self.path.clone().unwrap_or_default())),
        }
    }
}

/// `a` against `b`: byte-identical files short-circuit once the reference
/// has decoded.
fn compare_slots(
    slots: &mut [Slot],
    a: usize,
    b: usize,
    pool: &Pool,
    limits: &metrics::DecodeLimits,
) -> Result<ImageMetrics, String> {
    if let Some(Err(e)) = &slots[a].bytes {
        return Err(e.to_string());
    }
    if let Some(Err(e)) = &slots[b].bytes {
        return Err(format!("reference {e}"));
    }
    let same_bytes = matches!(
        (slots[a].bytes(), slots[b].bytes()),
        (Some(x), Some(y)) if x == y
    );
    // The reference is decoded first even when the bytes match: two equal
    // files that are not images (a full disk's empty files, the same
    // decompression bomb twice) are not an identical image, and calling
    // them one would be a PASS for nothing. Its decode is kept for the
    // other configs of this prompt, so this costs no second decode.
    slots[b]
        .decode(pool, limits)
        .map_err(|e| format!("reference {e}"))?;
    if same_bytes {
        return Ok(metrics::identical());
    }
    slots[a].decode(pool, limits).map_err(|e| e.to_string())?;
    let (da, db) = match (&slots[a].decoded, &slots[b].decoded) {
        (Some(Ok(x)), Some(Ok(y))) => (x, y),
        _ => return Err("internal: image not decoded".into()),
    };
    metrics::compare(da, db).map_err(|e| e.to_string())
}

fn compare_prompt(
    run: &RunDir,
    parents: &[Vec<Parent>],
    i: usize,
    judged: &[bool],
    pool: &Pool,
    limits: &metrics::DecodeLimits,
) -> (Vec<PromptCompare>, u32) {
    let mut slots: Vec<Slot> = run
        .configs
        .iter()
        .zip(judged)
        .map(|(c, &w)| Slot::new(c, i, w, pool, limits, &run.dir))
        .collect();
    let mut out: Vec<PromptCompare> = vec![PromptCompare::default(); run.configs.len()];
    // The baseline is the reference of every other image: one it cannot
    // read is its own prompt's ERROR, not a PASS that blames the others.
    if let Some(b) = run.baseline.filter(|&b| judged[b])
        && slots[b].path.as_deref().is_some_and(Path::is_file)
        && let Err(e) = slots[b].decode(pool, limits)
    {
        out[b].base = Some(Err(e.to_string()));
    }
    for ci in 0..run.configs.len() {
        if !judged[ci] || Some(ci) == run.baseline {
            continue;
        }
        let vs_base = match run.baseline {
            Some(b) if judged[b] => Some(compare_slots(&mut slots, ci, b, pool, limits)),
            _ => Some(Err("no baseline image to compare against".to_string())),
        };
        let vs_bf = match run.baseline_feature {
            Some(bf) if bf != ci && judged[bf] => {
                // Byte-identical references give the same answer twice.
                let same_refs = run.baseline.is_some_and(|b| {
                    matches!((slots[b].bytes(), slots[bf].bytes()), (Some(x), Some(y)) if x == y)
                });
                if same_refs {
                    vs_base.clone()
                } else {
                    Some(compare_slots(&mut slots, ci, bf, pool, limits))
                }
            }
            _ => None,
        };
        // A parent that is the baseline or the baseline feature was just
        // compared; others (combos) are compared here.
        let vs_parents = parents[ci]
            .iter()
            .map(|p| {
                match (
                    Some(p.index) == run.baseline,
                    Some(p.index) == run.baseline_feature,
                ) {
                    (true, _) => vs_base.clone(),
                    (_, true) => vs_bf.clone(),
                    _ => Some(compare_slots(&mut slots, ci, p.index, pool, limits)),
                }
            })
            .collect();
        out[ci] = PromptCompare {
            base: vs_base,
            bf: vs_bf,
            parents: vs_parents,
        };
    }
    let factor = slots
        .iter()
        .filter_map(|s| match &s.decoded {
            Some(Ok(d)) => Some(d.ssim_downsample),
            _ => None,
        })
        .max()
        .unwrap_or(1);
    for s in slots {
        s.recycle(pool);
    }
    (out, factor)
}
