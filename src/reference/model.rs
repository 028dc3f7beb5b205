//! The DiT: dimensions, deterministic weights, and the per-worker shard of them.
//!
//! A latent token is one cell of the 16×-downsampled grid (patch size 1), with
//! [`LATENT_CHANNELS`] channels. Blocks are DiT blocks with adaLN modulation
//! (shift, scale, gate for attention and for the MLP) conditioned on the
//! timestep plus an encoding of the prompt.

use crate::rng::{Rng, fnv1a};

/// The documented weight seed: every run, everywhere, builds the same model.
pub const WEIGHT_SEED: u64 = 0x00C0_4DA7_2025;
/// Pixels per latent cell along each axis.
pub const DOWNSAMPLE: usize = 16;
pub const LATENT_CHANNELS: usize = 8;
pub const DIM: usize = 64;
pub const HEADS: usize = 4;
pub const HEAD_DIM: usize = DIM / HEADS;
pub const BLOCKS: usize = 4;
pub const MLP_HIDDEN: usize = 4 * DIM;
/// Width of the prompt encoding and of the sinusoidal timestep features.
pub const TEXT_DIM: usize = 64;
pub const FREQ_DIM: usize = 64;

/// One transformer block's full weights (row-major, `in × out`).
#[derive(Debug, Clone)]
pub struct BlockWeights {
    /// `DIM × 6·DIM`: shift1, scale1, gate1, shift2, scale2, gate2.
    pub ada_w: Vec<f32>,
    pub ada_b: Vec<f32>,
    /// `DIM × 3·DIM`, columns [q heads | k heads | v heads], head-major.
    pub qkv_w: Vec<f32>,
    pub qkv_b: Vec<f32>,
    pub out_w: Vec<f32>,
    pub out_b: Vec<f32>,
    pub fc1_w: Vec<f32>,
    pub fc1_b: Vec<f32>,
    pub fc2_w: Vec<f32>,
    pub fc2_b: Vec<f32>,
}

#[derive(Debug, Clone)]
pub struct Weights {
    pub patch_w: Vec<f32>,
    pub patch_b: Vec<f32>,
    pub t1_w: Vec<f32>,
    pub t1_b: Vec<f32>,
    pub t2_w: Vec<f32>,
    pub t2_b: Vec<f32>,
    pub text_w: Vec<f32>,
    pub blocks: Vec<BlockWeights>,
    /// Final adaLN (shift, scale) and projection back to latent channels.
    pub final_ada_w: Vec<f32>,
    pub final_ada_b: Vec<f32>,
    pub final_w: Vec<f32>,
    pub final_b: Vec<f32>,
}

/// Uniform init with variance `gain² / fan_in` (LeCun-style), from one stream.
fn init(rng: &mut Rng, fan_in: usize, fan_out: usize, gain: f32) -> Vec<f32> {
    let a = gain * (3.0 / fan_in as f32).sqrt();
    (0..fan_in * fan_out).map(|_| rng.symmetric(a)).collect()
}

fn bias(rng: &mut Rng, n: usize, a: f32) -> Vec<f32> {
    (0..n).map(|_| rng.symmetric(a)).collect()
}

impl Weights {
    /// Builds the model from [`WEIGHT_SEED`]. The adaLN projections get a small
    /// gain so gates and scales stay O(0.1–0.5), as in a trained DiT, and the
    /// residual stream stays well-conditioned through the blocks.
    pub fn generate() -> Self {
        let mut rng = Rng::new(WEIGHT_SEED);
        let r = &mut rng;
        let blocks = (0..BLOCKS)
            .map(|_| BlockWeights {
                ada_w: init(r, DIM, 6 * DIM, 0.5),
                ada_b: bias(r, 6 * DIM, 0.1),
                qkv_w: init(r, DIM, 3 * DIM, 1.0),
                qkv_b: bias(r, 3 * DIM, 0.05),
                out_w: init(r, DIM, DIM, 1.0),
                out_b: bias(r, DIM, 0.05),
                fc1_w: init(r, DIM, MLP_HIDDEN, 1.0),
                fc1_b: bias(r, MLP_HIDDEN, 0.05),
                fc2_w: init(r, MLP_HIDDEN, DIM, 1.0),
                fc2_b: bias(r, DIM, 0.05),
            })
            .collect();
        Weights {
            patch_w: init(r, LATENT_CHANNELS, DIM, 1.0),
            patch_b: bias(r, DIM, 0.05),
            t1_w: init(r, FREQ_DIM, DIM, 1.0),
            t1_b: bias(r, DIM, 0.05),
            t2_w: init(r, DIM, DIM, 1.0),
            t2_b: bias(r, DIM, 0.05),
            text_w: init(r, TEXT_DIM, DIM, 1.0),
            blocks,
            final_ada_w: init(r, DIM, 2 * DIM, 0.5),
            final_ada_b: bias(r, 2 * DIM, 0.1),
            final_w: init(r, DIM, LATENT_CHANNELS, 1.0),
            final_b: bias(r, LATENT_CHANNELS, 0.05),
        }
    }
}

/// A worker's tensor-parallel slice of one block: its heads' Q/K/V columns
/// and output-projection rows, its MLP hidden columns and `fc2` rows.
/// Biases of the row-parallel projections are added once, after the all-reduce.
#[derive(Debug, Clone)]
pub struct BlockShard {
    pub ada_w: Vec<f32>,
    pub ada_b: Vec<f32>,
    /// `DIM × 3·heads·HEAD_DIM`, columns [q local | k local | v local].
    pub qkv_w: Vec<f32>,
    pub qkv_b: Vec<f32>,
    /// `heads·HEAD_DIM × DIM`.
    pub out_w: Vec<f32>,
    pub out_b: Vec<f32>,
    pub fc1_w: Vec<f32>,
    pub fc1_b: Vec<f32>,
    pub fc2_w: Vec<f32>,
    pub fc2_b: Vec<f32>,
    /// Heads held by this shard.
    pub heads: usize,
    /// MLP hidden columns held by this shard.
    pub hidden: usize,
}

fn columns(w: &[f32], cols: usize, range: std::ops::Range<usize>) -> Vec<f32> {
    w.chunks_exact(cols)
        .flat_map(|row| row[range.clone()].iter().copied())
        .collect()
}

fn rows(w: &[f32], cols: usize, range: std::ops::Range<usize>) -> Vec<f32> {
    w[range.start * cols..range.end * cols].to_vec()
}

impl BlockShard {
    /// Rank `rank` of `tp`: heads `[rank·H/tp, (rank+1)·H/tp)`, hidden likewise.
    pub fn new(full: &BlockWeights, rank: usize, tp: usize) -> Self {
        let heads = HEADS / tp;
        let hidden = MLP_HIDDEN / tp;
        let (c0, c1) = (rank * heads * HEAD_DIM, (rank + 1) * heads * HEAD_DIM);
        let qkv_cols: Vec<std::ops::Range<usize>> = (0..3)
            .map(|part| part * DIM + c0..part * DIM + c1)
            .collect();
        let qkv_w = full
            .qkv_w
            .chunks_exact(3 * DIM)
            .flat_map(|row| {
                qkv_cols
                    .iter()
                    .flat_map(move |r| row[r.clone()].iter().copied())
            })
            .collect();
        let qkv_b = qkv_cols
            .iter()
            .flat_map(|r| full.qkv_b[r.clone()].iter().copied())
            .collect();
        let (h0, h1) = (rank * hidden, (rank + 1) * hidden);
        BlockShard {
            ada_w: full.ada_w.clone(),
            ada_b: full.ada_b.clone(),
            qkv_w,
            qkv_b,
            out_w: rows(&full.out_w, DIM, c0..c1),
            out_b: full.out_b.clone(),
            fc1_w: columns(&full.fc1_w, MLP_HIDDEN, h0..h1),
            fc1_b: full.fc1_b[h0..h1].to_vec(),
            fc2_w: rows(&full.fc2_w, DIM, h0..h1),
            fc2_b: full.fc2_b.clone(),
            heads,
            hidden,
        }
    }
}

/// Sinusoidal features of the time `t ∈ [0, 1]`. The fastest frequency is
/// kept low (a step of 0.05 turns it 0.2 rad) because a trained DiT is a smooth
/// function of time; random weights on DiT's usual `t·1000` features would make
/// the conditioning jump every step, which no trained model does.
pub fn timestep_features(t: f32) -> Vec<f32> {
    let half = FREQ_DIM / 2;
    let mut out = vec![0.0; FREQ_DIM];
    for i in 0..half {
        let freq = (-(100f32.ln()) * i as f32 / half as f32).exp();
        let arg = t * 4.0 * freq;
        out[i] = arg.cos();
        out[half + i] = arg.sin();
    }
    out
}

/// Lower-cased words of letters and digits.
pub fn words(prompt: &str) -> Vec<String> {
    prompt
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The deterministic prompt encoding: each word (lower-cased, letters and
/// digits) hashes to a seeded random unit vector; the prompt is their mean.
/// An empty prompt encodes to zeros — the "unconditional" input.
pub fn encode_prompt(prompt: &str) -> Vec<f32> {
    let mut sum = vec![0.0f32; TEXT_DIM];
    let mut count = 0usize;
    for word in words(prompt) {
        let mut rng = Rng::new(fnv1a(word.as_bytes()) ^ WEIGHT_SEED);
        let v: Vec<f32> = (0..TEXT_DIM).map(|_| rng.normal()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        for (s, x) in sum.iter_mut().zip(&v) {
            *s += x / norm;
        }
        count += 1;
    }
    if count > 0 {
        // Norm √TEXT_DIM whatever the word count (a sum of `count` random unit
        // vectors has norm ≈ √count), so the projected condition is O(1) per channel.
        let k = (TEXT_DIM as f32 / count as f32).sqrt();
        sum.iter_mut().for_each(|s| *s *= k);
    }
    sum
}

/// 2-D sinusoidal position embedding of token `index` on a `grid_w`-wide grid:
/// half the channels encode the row, half the column.
pub fn position_embedding(index: usize, grid_w: usize) -> [f32; DIM] {
    let (row, col) = ((index / grid_w) as f32, (index % grid_w) as f32);
    let mut out = [0.0; DIM];
    let quarter = DIM / 4;
    for i in 0..quarter {
        let freq = (-(100f32.ln()) * i as f32 / quarter as f32).exp();
        out[i] = (row * freq).sin();
        out[quarter + i] = (row * freq).cos();
        out[2 * quarter + i] = (col * freq).sin();
        out[3 * quarter + i] = (col * freq).cos();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_deterministic() {
        let (a, b) = (Weights::generate(), Weights::generate());
        assert_eq!(a.blocks[3].fc2_w, b.blocks[3].fc2_w);
        assert_eq!(a.final_b, b.final_b);
    }

    #[test]
    fn tp_shards_partition_the_block() {
        let w = Weights::generate();
        let full = BlockShard::new(&w.blocks[0], 0, 1);
        let halves = [
            BlockShard::new(&w.blocks[0], 0, 2),
            BlockShard::new(&w.blocks[0], 1, 2),
        ];
        assert_eq!(full.qkv_w, w.blocks[0].qkv_w);
        let mut out_rows = halves[0].out_w.clone();
        out_rows.extend_from_slice(&halves[1].out_w);
        assert_eq!(out_rows, w.blocks[0].out_w);
        assert_eq!(halves[1].fc1_w.len(), DIM * MLP_HIDDEN / 2);
    }

    #[test]
    fn prompts_encode_differently() {
        assert_ne!(
            encode_prompt("a red circle"),
            encode_prompt("a blue square")
        );
        assert!(encode_prompt("").iter().all(|&x| x == 0.0));
    }
}
