//! The flow-matching Euler sampler with classifier-free guidance, run as one
//! SPMD program on every worker (like `torchrun` ranks): each worker keeps a
//! replica of the latent, computes the velocity rows it owns, and an
//! all-gather after every step gives everyone the full guided velocity.

use std::sync::Arc;

use super::cache::CacheBackend;
use super::comm::Group;
use super::dit::{BranchState, Dit};
use super::model::{DOWNSAMPLE, LATENT_CHANNELS, encode_prompt};
use super::scene::Scene;
use crate::rng::Rng;

/// How much of each latent channel's velocity the DiT contributes on top of
/// the scene's flow: colours and shape a little (texture, wobble), shading more.
pub const DIT_GAIN: [f32; LATENT_CHANNELS] = [0.15, 0.15, 0.15, 0.15, 0.15, 0.15, 0.04, 0.6];

/// cfg × ulysses × ring × tp, and where a rank sits in that grid
/// (tp innermost, as engines put it on the fastest links).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topology {
    pub cfg: usize,
    pub ulysses: usize,
    pub ring: usize,
    pub tp: usize,
}

/// A rank's coordinates in the [`Topology`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coords {
    pub cfg: usize,
    pub ring: usize,
    pub ulysses: usize,
    pub tp: usize,
}

impl Topology {
    pub fn world(&self) -> usize {
        self.cfg * self.ulysses * self.ring * self.tp
    }

    pub fn coords(&self, rank: usize) -> Coords {
        Coords {
            tp: rank % self.tp,
            ulysses: rank / self.tp % self.ulysses,
            ring: rank / (self.tp * self.ulysses) % self.ring,
            cfg: rank / (self.tp * self.ulysses * self.ring),
        }
    }

    /// Index of a rank's token shard: ring-major, then ulysses, so a Ulysses
    /// group's shards are contiguous (the chunk the ring then passes around).
    pub fn sp_rank(&self, c: Coords) -> usize {
        c.ring * self.ulysses + c.ulysses
    }
}

/// One generation request (one image).
#[derive(Debug, Clone)]
pub struct Job {
    pub prompt: String,
    pub negative_prompt: String,
    pub seed: u64,
    pub steps: usize,
    pub height: usize,
    pub width: usize,
    pub cfg_scale: f32,
    pub cache: Option<CacheBackend>,
    pub tea_threshold: Option<f64>,
}

/// Result of a generation, as rank 0 reports it.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    /// Final latent, token-major.
    pub latent: Vec<f32>,
    /// Transformer evaluations asked for (steps × branches) and how many a
    /// cache skipped (wholly for TeaCache; all but the Fn blocks for DBCache).
    pub evals: usize,
    pub skipped: usize,
    pub blocks_run: usize,
    /// Rank 0's cache traces, per branch (see `BranchState`).
    pub rel_l1: Vec<Vec<f64>>,
    pub residual_change: Vec<Vec<f64>>,
}

#[derive(Debug)]
pub struct Worker {
    pub rank: usize,
    pub topo: Topology,
    pub world: Arc<Group>,
    pub dit: Dit,
}

/// Initial noise for a seed: the same for every rank and every topology.
pub fn noise(seed: u64, len: usize) -> Vec<f32> {
    let mut rng = Rng::new(seed ^ 0x005E_ED0F_1A7E_u64);
    (0..len).map(|_| rng.normal()).collect()
}

impl Worker {
    pub fn generate(&self, job: &Job) -> Option<Generated> {
        let (topo, c) = (self.topo, self.topo.coords(self.rank));
        let (gw, gh) = (job.width / DOWNSAMPLE, job.height / DOWNSAMPLE);
        let n = gw * gh;
        let sp = topo.ulysses * topo.ring;
        let rows = n / sp;
        let token0 = topo.sp_rank(c) * rows;
        let lo = token0 * LATENT_CHANNELS;
        let hi = (token0 + rows) * LATENT_CHANNELS;

        // Branch 0: the prompt; branch 1: the negative prompt (true CFG).
        let guided = job.cfg_scale > 1.0;
        let prompts: Vec<&str> = if guided {
            vec![&job.prompt, &job.negative_prompt]
        } else {
            vec![&job.prompt]
        };
        let mine: Vec<usize> = if topo.cfg > 1 {
            vec![c.cfg]
        } else {
            (0..prompts.len()).collect()
        };
        let texts: Vec<Vec<f32>> = prompts.iter().map(|p| encode_prompt(p)).collect();
        let scenes: Vec<Vec<f32>> = prompts
            .iter()
            .map(|p| Scene::parse(p).render(gw, gh, job.seed))
            .collect();
        let mut states: Vec<BranchState> = mine
            .iter()
            .map(|_| BranchState::new(job.cache, job.tea_threshold))
            .collect();

        let mut x = noise(job.seed, n * LATENT_CHANNELS);
        let dt = 1.0 / job.steps as f32;
        let mut v_full = vec![vec![0.0f32; n * LATENT_CHANNELS]; prompts.len()];
        for step in 0..job.steps {
            let t = 1.0 - step as f32 * dt;
            let mut msg = Vec::with_capacity(mine.len() * (hi - lo));
            for (state, &b) in states.iter_mut().zip(&mine) {
                let cond = self.dit.conditioning(t, &texts[b]);
                let xs = &x[lo..hi];
                let out = self
                    .dit
                    .forward(xs, token0, gw, &cond, state, step, job.steps);
                // Rectified flow: x_t = (1−t)·x0 + t·ε, so v = (x_t − x0)/t
                // for the scene's x0, plus the DiT's share.
                for (i, o) in out.iter().enumerate() {
                    let scene_v = (xs[i] - scenes[b][lo + i]) / t;
                    msg.push(scene_v + DIT_GAIN[i % LATENT_CHANNELS] * o);
                }
            }
            // Tensor-parallel replicas hold the same rows; one copy suffices.
            let send: &[f32] = if c.tp == 0 { &msg } else { &[] };
            let gathered = self.world.all_gather(self.rank, send);
            for (src, data) in gathered.iter().enumerate() {
                let sc = topo.coords(src);
                if sc.tp != 0 {
                    continue;
                }
                let theirs: Vec<usize> = if topo.cfg > 1 {
                    vec![sc.cfg]
                } else {
                    (0..prompts.len()).collect()
                };
                let t0 = topo.sp_rank(sc) * rows * LATENT_CHANNELS;
                for (k, &b) in theirs.iter().enumerate() {
                    let part = &data[k * rows * LATENT_CHANNELS..(k + 1) * rows * LATENT_CHANNELS];
                    v_full[b][t0..t0 + part.len()].copy_from_slice(part);
                }
            }
            let s = job.cfg_scale;
            for i in 0..x.len() {
                let v = if guided {
                    v_full[1][i] + s * (v_full[0][i] - v_full[1][i])
                } else {
                    v_full[0][i]
                };
                x[i] -= dt * v;
            }
        }

        // Counters: one representative per branch group (tp 0, first shard).
        let rep = c.tp == 0 && topo.sp_rank(c) == 0;
        let counts: Vec<f32> = if rep {
            states
                .iter()
                .flat_map(|s| [s.evals as f32, s.skipped as f32, s.blocks_run as f32])
                .collect()
        } else {
            Vec::new()
        };
        let all = self.world.all_gather(self.rank, &counts);
        if self.rank != 0 {
            return None;
        }
        let mut g = Generated {
            latent: x,
            ..Default::default()
        };
        for part in all {
            for triple in part.chunks_exact(3) {
                g.evals += triple[0] as usize;
                g.skipped += triple[1] as usize;
                g.blocks_run += triple[2] as usize;
            }
        }
        g.residual_change = states.iter().map(|s| s.residual_trace.clone()).collect();
        g.rel_l1 = states.into_iter().map(|s| s.rel_l1_trace).collect();
        Some(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coords_round_trip() {
        let topo = Topology {
            cfg: 2,
            ulysses: 2,
            ring: 2,
            tp: 1,
        };
        let mut seen = std::collections::HashSet::new();
        for r in 0..topo.world() {
            let c = topo.coords(r);
            assert!(seen.insert((c.cfg, topo.sp_rank(c), c.tp)));
        }
        assert_eq!(
            topo.coords(5),
            Coords {
                cfg: 1,
                ring: 0,
                ulysses: 1,
                tp: 0
            }
        );
    }
}
