//! Multi-head attention by online softmax (Milakov & Gimelshein 2018, as in
//! FlashAttention and ring attention): K/V arrive in blocks, each block updates
//! a running row maximum, normaliser and weighted sum. One block is ordinary
//! attention; ring attention feeds the blocks that travel round the ring.

use super::linalg::{fast_exp, gemm_strided};
use super::model::HEAD_DIM;

/// Running state for all heads of a query chunk.
#[derive(Debug)]
pub struct OnlineSoftmax {
    heads: usize,
    rows: usize,
    /// Per head, per row: running max and normaliser.
    max: Vec<f32>,
    norm: Vec<f32>,
    /// Per head: `rows × HEAD_DIM` unnormalised output.
    acc: Vec<f32>,
    scores: Vec<f32>,
}

impl OnlineSoftmax {
    pub fn new(rows: usize, heads: usize) -> Self {
        OnlineSoftmax {
            heads,
            rows,
            max: vec![f32::NEG_INFINITY; heads * rows],
            norm: vec![0.0; heads * rows],
            acc: vec![0.0; heads * rows * HEAD_DIM],
            scores: Vec::new(),
        }
    }

    /// Folds in one K/V block. `q`: `rows` rows of stride `q_stride`, head `h`
    /// at column `h·HEAD_DIM`. `kv`: `kv_rows` rows of stride `kv_stride`,
    /// K of head `h` at `h·HEAD_DIM`, V at `(heads + h)·HEAD_DIM`.
    pub fn update(
        &mut self,
        q: &[f32],
        q_stride: usize,
        kv: &[f32],
        kv_stride: usize,
        kv_rows: usize,
    ) {
        let (rows, heads) = (self.rows, self.heads);
        let scale = 1.0 / (HEAD_DIM as f32).sqrt();
        self.scores.resize(rows * kv_rows, 0.0);
        for h in 0..heads {
            let scores = &mut self.scores[..rows * kv_rows];
            // S = scale · Q Kᵀ, Kᵀ read through swapped strides.
            gemm_strided(
                rows,
                HEAD_DIM,
                kv_rows,
                scale,
                &q[h * HEAD_DIM..],
                (q_stride, 1),
                &kv[h * HEAD_DIM..],
                (1, kv_stride),
                0.0,
                scores,
            );
            let acc = &mut self.acc[h * rows * HEAD_DIM..(h + 1) * rows * HEAD_DIM];
            for (i, row) in scores.chunks_exact_mut(kv_rows).enumerate() {
                let m_old = self.max[h * rows + i];
                let m_new = row.iter().copied().fold(m_old, f32::max);
                let mut sum = 0.0;
                for s in row.iter_mut() {
                    *s = fast_exp(*s - m_new);
                    sum += *s;
                }
                // exp(-inf) = 0 on the first block: nothing accumulated yet.
                let correction = if m_old == f32::NEG_INFINITY {
                    0.0
                } else {
                    fast_exp(m_old - m_new)
                };
                self.norm[h * rows + i] = self.norm[h * rows + i] * correction + sum;
                self.max[h * rows + i] = m_new;
                acc[i * HEAD_DIM..(i + 1) * HEAD_DIM]
                    .iter_mut()
                    .for_each(|a| *a *= correction);
            }
            // acc += P · V
            gemm_strided(
                rows,
                kv_rows,
                HEAD_DIM,
                1.0,
                scores,
                (kv_rows, 1),
                &kv[(heads + h) * HEAD_DIM..],
                (kv_stride, 1),
                1.0,
                acc,
            );
        }
    }

    /// The normalised output, `rows × heads·HEAD_DIM`, head-major columns.
    pub fn finish(self) -> Vec<f32> {
        let (rows, heads) = (self.rows, self.heads);
        let mut out = vec![0.0; rows * heads * HEAD_DIM];
        for h in 0..heads {
            for i in 0..rows {
                let inv = 1.0 / self.norm[h * rows + i];
                let src = &self.acc[(h * rows + i) * HEAD_DIM..(h * rows + i + 1) * HEAD_DIM];
                let dst = &mut out[(i * heads + h) * HEAD_DIM..(i * heads + h + 1) * HEAD_DIM];
                for (d, s) in dst.iter_mut().zip(src) {
                    *d = s * inv;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Plain softmax attention in f64, the ground truth.
    fn reference(q: &[f32], k: &[f32], v: &[f32], n: usize) -> Vec<f64> {
        let scale = 1.0 / (HEAD_DIM as f64).sqrt();
        let mut out = vec![0.0; n * HEAD_DIM];
        for i in 0..n {
            let s: Vec<f64> = (0..n)
                .map(|j| {
                    (0..HEAD_DIM)
                        .map(|d| q[i * HEAD_DIM + d] as f64 * k[j * HEAD_DIM + d] as f64)
                        .sum::<f64>()
                        * scale
                })
                .collect();
            let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
            let z: f64 = e.iter().sum();
            for d in 0..HEAD_DIM {
                out[i * HEAD_DIM + d] = (0..n)
                    .map(|j| e[j] * v[j * HEAD_DIM + d] as f64)
                    .sum::<f64>()
                    / z;
            }
        }
        out
    }

    #[test]
    fn ring_blocks_equal_full_attention() {
        let n = 24;
        let mut rng = Rng::new(3);
        let mut r = |len: usize| (0..len).map(|_| rng.normal() * 2.0).collect::<Vec<f32>>();
        let (q, k, v) = (r(n * HEAD_DIM), r(n * HEAD_DIM), r(n * HEAD_DIM));
        let kv: Vec<f32> = (0..n)
            .flat_map(|j| {
                k[j * HEAD_DIM..(j + 1) * HEAD_DIM]
                    .iter()
                    .chain(&v[j * HEAD_DIM..(j + 1) * HEAD_DIM])
                    .copied()
            })
            .collect();
        let want = reference(&q, &k, &v, n);
        for blocks in [1, 2, 3, 4] {
            let per = n / blocks;
            let mut state = OnlineSoftmax::new(n, 1);
            // Visit the blocks in ring order starting from the middle, as rank 1 would.
            for b in (0..blocks).map(|s| (s + 1) % blocks) {
                state.update(
                    &q,
                    HEAD_DIM,
                    &kv[b * per * 2 * HEAD_DIM..],
                    2 * HEAD_DIM,
                    per,
                );
            }
            let got = state.finish();
            for (g, w) in got.iter().zip(&want) {
                assert!((*g as f64 - w).abs() < 1e-5, "blocks={blocks}: {g} vs {w}");
            }
        }
    }
}
