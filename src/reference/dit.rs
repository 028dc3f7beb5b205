//! The DiT forward pass on one worker, for its shard of tokens (Ulysses/ring)
//! and of heads and MLP columns (tensor parallelism), plus the cache hooks.

use std::sync::Arc;

use super::attention::OnlineSoftmax;
use super::cache::{CacheBackend, DbCache, TeaCache};
use super::comm::Group;
use super::linalg::{add_row_bias, gelu_inplace, layernorm_modulate, linear, silu};
use super::model::{
    BlockShard, DIM, HEAD_DIM, LATENT_CHANNELS, TEXT_DIM, Weights, position_embedding,
    timestep_features,
};

/// This worker's place in the groups it talks to.
#[derive(Debug, Clone)]
pub struct Parallel {
    pub tp: Arc<Group>,
    pub tp_rank: usize,
    pub ulysses: Arc<Group>,
    pub ulysses_rank: usize,
    pub ring: Arc<Group>,
    pub ring_rank: usize,
    /// Ulysses × ring: everyone holding a shard of this branch's tokens.
    pub sp: Arc<Group>,
    pub sp_rank: usize,
}

/// Per-branch (conditional / unconditional) cache state and counters.
#[derive(Debug, Default)]
pub struct BranchState {
    tea: Option<(TeaCache, Option<Vec<f32>>)>,
    db: Option<(DbCache, Option<Vec<f32>>)>,
    /// The cached residual of the skipped part (all blocks, or blocks after Fn).
    residual: Option<Vec<f32>>,
    pub evals: usize,
    pub skipped: usize,
    pub blocks_run: usize,
    /// The cache's decision input per step (TeaCache: raw relative L1 change
    /// of the modulated input; DBCache: the Fn residual difference).
    pub rel_l1_trace: Vec<f64>,
    /// TeaCache: relative L1 change of the blocks' residual between two
    /// consecutive computed steps — what the rescaling polynomial predicts.
    pub residual_trace: Vec<f64>,
}

impl BranchState {
    /// `tea_threshold` overrides TeaCache's default (for calibration runs).
    pub fn new(cache: Option<CacheBackend>, tea_threshold: Option<f64>) -> Self {
        let mut tea = TeaCache::default();
        if let Some(t) = tea_threshold {
            tea.threshold = t;
        }
        BranchState {
            tea: (cache == Some(CacheBackend::TeaCache)).then_some((tea, None)),
            db: (cache == Some(CacheBackend::CacheDit)).then(|| (DbCache::default(), None)),
            ..Default::default()
        }
    }
}

/// The model as one worker holds it.
#[derive(Debug)]
pub struct Dit {
    weights: Arc<Weights>,
    blocks: Vec<BlockShard>,
    par: Parallel,
}

/// Relative L1 distance Σ|a−b| / Σ|b| over the whole sequence: the shard sums
/// are all-reduced, so every rank of the branch takes the same decision.
fn rel_l1(group: &Group, rank: usize, a: &[f32], b: &[f32]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(x, y)| f64::from((x - y).abs())).sum();
    let base: f64 = b.iter().map(|y| f64::from(y.abs())).sum();
    let sums = group.all_reduce_f64(rank, &[diff, base]);
    sums[0] / sums[1].max(1e-12)
}

impl Dit {
    pub fn new(weights: Arc<Weights>, par: Parallel) -> Self {
        let tp = par.tp.size();
        let blocks = weights
            .blocks
            .iter()
            .map(|b| BlockShard::new(b, par.tp_rank, tp))
            .collect();
        Dit {
            weights,
            blocks,
            par,
        }
    }

    /// SiLU(timestep embedding + prompt projection), input to every adaLN.
    pub fn conditioning(&self, t: f32, text: &[f32]) -> Vec<f32> {
        let w = &self.weights;
        let mut e = linear(
            &timestep_features(t),
            1,
            super::model::FREQ_DIM,
            &w.t1_w,
            DIM,
            Some(&w.t1_b),
        );
        e.iter_mut().for_each(|x| *x = silu(*x));
        let mut c = linear(&e, 1, DIM, &w.t2_w, DIM, Some(&w.t2_b));
        let p = linear(text, 1, TEXT_DIM, &w.text_w, DIM, None);
        c.iter_mut().zip(&p).for_each(|(c, p)| *c = silu(*c + p));
        c
    }

    /// One evaluation for this worker's `x` shard (`rows × LATENT_CHANNELS`,
    /// first token `token0` on a `grid_w`-wide grid): the DiT's output rows.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        x: &[f32],
        token0: usize,
        grid_w: usize,
        cond: &[f32],
        state: &mut BranchState,
        step: usize,
        steps: usize,
    ) -> Vec<f32> {
        let w = &self.weights;
        let rows = x.len() / LATENT_CHANNELS;
        let mods: Vec<Vec<f32>> = self
            .blocks
            .iter()
            .map(|b| linear(cond, 1, DIM, &b.ada_w, 6 * DIM, Some(&b.ada_b)))
            .collect();
        let mut h = linear(x, rows, LATENT_CHANNELS, &w.patch_w, DIM, Some(&w.patch_b));
        for (i, row) in h.chunks_exact_mut(DIM).enumerate() {
            let pos = position_embedding(token0 + i, grid_w);
            row.iter_mut().zip(pos).for_each(|(v, p)| *v += p);
        }
        state.evals += 1;
        let (sp, sp_rank) = (&*self.par.sp, self.par.sp_rank);

        if let Some((rule, prev)) = &mut state.tea {
            let m = layernorm_modulate(&h, DIM, &mods[0][..DIM], &mods[0][DIM..2 * DIM]);
            let change = prev
                .as_ref()
                .map_or(f64::INFINITY, |p| rel_l1(sp, sp_rank, &m, p));
            state.rel_l1_trace.push(change);
            let compute = rule.should_compute(step, steps, change) || state.residual.is_none();
            *prev = Some(m);
            if compute {
                let before = h.clone();
                self.run_blocks(&mut h, 0..self.blocks.len(), &mods, &mut state.blocks_run);
                let residual: Vec<f32> = h.iter().zip(&before).map(|(a, b)| a - b).collect();
                if let Some(old) = &state.residual {
                    state
                        .residual_trace
                        .push(rel_l1(sp, sp_rank, &residual, old));
                }
                state.residual = Some(residual);
            } else {
                add_assign(&mut h, state.residual.as_deref().unwrap_or(&[]));
                state.skipped += 1;
            }
        } else if let Some((rule, prev_fn)) = &mut state.db {
            let fn_blocks = rule.compute_blocks.min(self.blocks.len());
            let before = h.clone();
            self.run_blocks(&mut h, 0..fn_blocks, &mods, &mut state.blocks_run);
            let fn_residual: Vec<f32> = h.iter().zip(&before).map(|(a, b)| a - b).collect();
            let diff = prev_fn
                .as_ref()
                .map_or(f64::INFINITY, |p| rel_l1(sp, sp_rank, &fn_residual, p));
            state.rel_l1_trace.push(diff);
            if rule.use_cache(step, diff) && state.residual.is_some() {
                add_assign(&mut h, state.residual.as_deref().unwrap_or(&[]));
                state.skipped += 1;
            } else {
                // The reference for the next comparison is this fully computed step.
                *prev_fn = Some(fn_residual);
                let mid = h.clone();
                self.run_blocks(
                    &mut h,
                    fn_blocks..self.blocks.len(),
                    &mods,
                    &mut state.blocks_run,
                );
                state.residual = Some(h.iter().zip(&mid).map(|(a, b)| a - b).collect());
            }
        } else {
            self.run_blocks(&mut h, 0..self.blocks.len(), &mods, &mut state.blocks_run);
        }

        let fmod = linear(cond, 1, DIM, &w.final_ada_w, 2 * DIM, Some(&w.final_ada_b));
        let y = layernorm_modulate(&h, DIM, &fmod[..DIM], &fmod[DIM..]);
        linear(&y, rows, DIM, &w.final_w, LATENT_CHANNELS, Some(&w.final_b))
    }

    fn run_blocks(
        &self,
        h: &mut [f32],
        range: std::ops::Range<usize>,
        mods: &[Vec<f32>],
        counter: &mut usize,
    ) {
        for i in range {
            self.block(i, h, &mods[i]);
            *counter += 1;
        }
    }

    /// One adaLN DiT block, in place on this worker's token rows.
    fn block(&self, i: usize, h: &mut [f32], m: &[f32]) {
        let s = &self.blocks[i];
        let rows = h.len() / DIM;
        let (tp, tp_rank) = (&*self.par.tp, self.par.tp_rank);
        let seg = |k: usize| &m[k * DIM..(k + 1) * DIM];

        let x1 = layernorm_modulate(h, DIM, seg(0), seg(1));
        let width = s.heads * HEAD_DIM;
        let qkv = linear(&x1, rows, DIM, &s.qkv_w, 3 * width, Some(&s.qkv_b));
        let attn = self.attention(&qkv, rows, s.heads);
        // Row-parallel output projection: partial sums over this rank's heads.
        let mut o = linear(&attn, rows, width, &s.out_w, DIM, None);
        tp.all_reduce_sum(tp_rank, &mut o);
        add_row_bias(&mut o, &s.out_b);
        add_gated(h, &o, seg(2));

        let x2 = layernorm_modulate(h, DIM, seg(3), seg(4));
        let mut a = linear(&x2, rows, DIM, &s.fc1_w, s.hidden, Some(&s.fc1_b));
        gelu_inplace(&mut a);
        let mut y = linear(&a, rows, s.hidden, &s.fc2_w, DIM, None);
        tp.all_reduce_sum(tp_rank, &mut y);
        add_row_bias(&mut y, &s.fc2_b);
        add_gated(h, &y, seg(5));
    }

    /// Attention for this rank's tokens and heads. Ulysses: all-to-all from
    /// (token shard, all local heads) to (ulysses group's tokens, heads/u);
    /// ring: K/V blocks travel round the ring, merged by online softmax;
    /// then all-to-all back.
    fn attention(&self, qkv: &[f32], rows: usize, heads: usize) -> Vec<f32> {
        let p = &self.par;
        let u = p.ulysses.size();
        let hu = heads / u;
        let width = heads * HEAD_DIM;
        let part = hu * HEAD_DIM;

        let (chunk, chunk_rows) = if u == 1 {
            (qkv.to_vec(), rows)
        } else {
            // To rank j: our rows, the q/k/v columns of head group j.
            let outgoing = (0..u)
                .map(|j| {
                    qkv.chunks_exact(3 * width)
                        .flat_map(|row| {
                            (0..3).flat_map(move |k| {
                                &row[k * width + j * part..k * width + (j + 1) * part]
                            })
                        })
                        .copied()
                        .collect()
                })
                .collect();
            let incoming = p.ulysses.exchange(p.ulysses_rank, outgoing);
            (incoming.concat(), rows * u)
        };

        let row = 3 * part;
        let mut kv: Vec<f32> = chunk
            .chunks_exact(row)
            .flat_map(|r| &r[part..])
            .copied()
            .collect();
        let mut state = OnlineSoftmax::new(chunk_rows, hu);
        let r = p.ring.size();
        for step in 0..r {
            state.update(&chunk, row, &kv, 2 * part, chunk_rows);
            if step + 1 < r {
                kv = p.ring.ring_shift(p.ring_rank, kv);
            }
        }
        let out = state.finish();

        if u == 1 {
            return out;
        }
        // Back: to rank s, its rows of our head group.
        let outgoing = out.chunks_exact(rows * part).map(<[f32]>::to_vec).collect();
        let incoming = p.ulysses.exchange(p.ulysses_rank, outgoing);
        let mut local = vec![0.0; rows * width];
        for (j, msg) in incoming.iter().enumerate() {
            for (t, src) in msg.chunks_exact(part).enumerate() {
                local[t * width + j * part..t * width + (j + 1) * part].copy_from_slice(src);
            }
        }
        local
    }
}

fn add_assign(h: &mut [f32], r: &[f32]) {
    h.iter_mut().zip(r).for_each(|(a, b)| *a += b);
}

/// `h += gate ⊙ y`, the gate broadcast over rows.
fn add_gated(h: &mut [f32], y: &[f32], gate: &[f32]) {
    for (hr, yr) in h.chunks_exact_mut(DIM).zip(y.chunks_exact(DIM)) {
        for ((a, b), g) in hr.iter_mut().zip(yr).zip(gate) {
            *a += g * b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::sampler::Topology;

    /// One forward pass under `topo` (cfg 1), all ranks on threads; the
    /// output rows reassembled in token order.
    fn forward_under(topo: Topology, x: &[f32], grid_w: usize) -> Vec<f32> {
        let weights = Arc::new(Weights::generate());
        let n = x.len() / LATENT_CHANNELS;
        let sp = topo.ulysses * topo.ring;
        let rows = n / sp;
        let tp_groups: Vec<_> = (0..sp).map(|_| Group::new(topo.tp)).collect();
        let u_groups: Vec<_> = (0..topo.ring * topo.tp)
            .map(|_| Group::new(topo.ulysses))
            .collect();
        let r_groups: Vec<_> = (0..topo.ulysses * topo.tp)
            .map(|_| Group::new(topo.ring))
            .collect();
        let sp_groups: Vec<_> = (0..topo.tp).map(|_| Group::new(sp)).collect();
        let text = crate::reference::model::encode_prompt("a red circle");
        let outs: Vec<(usize, usize, Vec<f32>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..topo.world())
                .map(|rank| {
                    let c = topo.coords(rank);
                    let par = Parallel {
                        tp: tp_groups[topo.sp_rank(c)].clone(),
                        tp_rank: c.tp,
                        ulysses: u_groups[c.ring * topo.tp + c.tp].clone(),
                        ulysses_rank: c.ulysses,
                        ring: r_groups[c.ulysses * topo.tp + c.tp].clone(),
                        ring_rank: c.ring,
                        sp: sp_groups[c.tp].clone(),
                        sp_rank: topo.sp_rank(c),
                    };
                    let (weights, text) = (weights.clone(), text.clone());
                    s.spawn(move || {
                        let dit = Dit::new(weights, par);
                        let t0 = topo.sp_rank(c) * rows;
                        let xs = &x[t0 * LATENT_CHANNELS..(t0 + rows) * LATENT_CHANNELS];
                        let cond = dit.conditioning(0.7, &text);
                        let mut state = BranchState::new(None, None);
                        (
                            c.tp,
                            t0,
                            dit.forward(xs, t0, grid_w, &cond, &mut state, 3, 10),
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("rank"))
                .collect()
        });
        let mut out = vec![0.0; x.len()];
        for (tp, t0, rows_out) in outs {
            if tp == 0 {
                out[t0 * LATENT_CHANNELS..t0 * LATENT_CHANNELS + rows_out.len()]
                    .copy_from_slice(&rows_out);
            }
        }
        out
    }

    #[test]
    fn parallel_forwards_equal_the_serial_one() {
        let (gw, gh) = (4, 4);
        let x = crate::reference::sampler::noise(5, gw * gh * LATENT_CHANNELS);
        let serial = forward_under(
            Topology {
                cfg: 1,
                ulysses: 1,
                ring: 1,
                tp: 1,
            },
            &x,
            gw,
        );
        for (u, r, tp) in [
            (2, 1, 1),
            (4, 1, 1),
            (1, 2, 1),
            (1, 4, 1),
            (1, 1, 2),
            (2, 2, 1),
            (2, 1, 2),
            (1, 2, 2),
        ] {
            let topo = Topology {
                cfg: 1,
                ulysses: u,
                ring: r,
                tp,
            };
            let par = forward_under(topo, &x, gw);
            let worst = serial
                .iter()
                .zip(&par)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-5, "{topo:?}: max |Δ| {worst}");
            if r == 1 && tp == 1 {
                // Ulysses does the serial arithmetic, only elsewhere.
                assert_eq!(serial, par, "{topo:?} should be bit-identical");
            }
        }
    }
}
