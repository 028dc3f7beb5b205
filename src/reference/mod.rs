//! The embedded reference engine (DESIGN §8): `compat generate`.
//!
//! A small DiT on the 16×-downsampled latent grid, a flow-matching Euler
//! sampler with true classifier-free guidance, and a fixed decoder to RGB,
//! all on CPU worker threads, one per "device". The parallel and cache
//! features are the real algorithms:
//!
//! - `settings` the checked settings (`cmd::generate` resolves the flags into them)
//! - `model`    dimensions, the seeded weights, tensor-parallel shards
//! - `dit`      the forward pass: adaLN blocks, Ulysses / ring / TP, cache hooks
//! - `attention` online-softmax attention (one block = full, several = ring)
//! - `comm`     thread collectives: all-to-all, all-gather, all-reduce, ring shift
//! - `cache`    TeaCache and DBCache decision rules
//! - `scene`    prompt words → the procedural scene the sampler converges to
//! - `sampler`  the SPMD Euler/CFG loop each worker runs
//! - `workers`  the thread pool
//! - `output`   decoder, PNG, results.jsonl

mod attention;
mod cache;
mod comm;
mod dit;
mod linalg;
mod model;
mod output;
mod sampler;
mod scene;
mod settings;
mod workers;

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;

pub use cache::CacheBackend;
pub use model::{DOWNSAMPLE, HEADS};
use output::{Results, round4};
use sampler::Job;
pub use sampler::Topology;
pub use settings::{Settings, visible_devices};
use workers::Pool;

/// The work the engine did over the timed prompts that produced an image
/// (the warm-up is not counted), for the protocol's `{"event": "work"}` line:
/// compat compares it with the parent configuration's, so a cache that
/// computed exactly what its parent computed is seen to have never engaged,
/// whatever the clock says. Parallelism does not change it: the counters are
/// one representative's per guidance branch (see `sampler`).
#[derive(Debug, Default, PartialEq)]
struct Work {
    /// DiT blocks run (each is one attention and one MLP).
    blocks: usize,
    /// Transformer evaluations computed, not served from a cache (a DBCache
    /// hit still runs its Fn blocks: counted in `blocks`, not here).
    evals: usize,
}

impl Work {
    fn add(&mut self, g: &sampler::Generated) {
        self.blocks += g.blocks_run;
        self.evals += g.evals.saturating_sub(g.skipped);
    }

    /// The line, or None when no prompt produced an image (nothing to compare).
    fn event(&self) -> Option<serde_json::Value> {
        (self.blocks > 0).then(|| {
            json!({"event": "work", "counts": {
                "transformer_block": self.blocks,
                "transformer_eval": self.evals,
            }})
        })
    }
}

/// Generates every prompt of `settings.prompt_file` (the backend protocol).
pub fn main(settings: Settings) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&settings.prompt_file).with_context(|| {
        format!(
            "failed to read the prompt file {}",
            settings.prompt_file.display()
        )
    })?;
    // One prompt per line, as the runner wrote them; `lines` drops the final newline.
    let prompts: Vec<&str> = text.lines().collect();
    std::fs::create_dir_all(&settings.output)
        .with_context(|| format!("failed to create {}", settings.output.display()))?;
    let mut results = Results::create(&settings.output)?;

    let load = Instant::now();
    let weights = Arc::new(model::Weights::generate());
    let mut pool = Pool::start(settings.topology, weights)?;
    results.event("load", load.elapsed().as_secs_f64())?;

    let job = |prompt: &str, index: usize| Job {
        prompt: prompt.to_string(),
        negative_prompt: settings.negative_prompt.clone(),
        seed: settings.seed.wrapping_add(index as u64),
        steps: settings.steps,
        height: settings.height,
        width: settings.width,
        cfg_scale: settings.cfg_scale,
        cache: settings.cache,
        tea_threshold: settings.tea_threshold,
    };

    if settings.warmup > 0
        && let Some(first) = prompts.first()
    {
        let start = Instant::now();
        for _ in 0..settings.warmup {
            pool.run(job(first, 0))
                .context("warm-up generation failed")?;
        }
        results.event("warmup", start.elapsed().as_secs_f64())?;
    }

    let mut failed = 0;
    let mut work = Work::default();
    for (i, prompt) in prompts.iter().enumerate() {
        let start = Instant::now();
        let outcome = pool.run(job(prompt, i)).and_then(|g| {
            let img = output::decode(&g.latent, settings.width, settings.height);
            output::save_png(&img, &settings.output.join(output::image_name(i)))?;
            Ok(g)
        });
        let seconds = start.elapsed().as_secs_f64();
        match outcome {
            Ok(g) => {
                work.add(&g);
                let mut line = json!({
                    "prompt": i,
                    "image": output::image_name(i),
                    "seconds": round4(seconds),
                    "ok": true,
                    "transformer_evals": g.evals,
                    "skipped_evals": g.skipped,
                    "blocks_run": g.blocks_run,
                    "blocks_total": g.evals * model::BLOCKS,
                });
                if settings.cache.is_some() {
                    // Decision inputs per branch (rank 0's), for calibration and reports.
                    let r4 = |t: &[Vec<f64>]| -> Vec<Vec<f64>> {
                        t.iter()
                            .map(|b| b.iter().map(|v| round4(*v)).collect())
                            .collect()
                    };
                    line["cache_rel_l1"] = json!(r4(&g.rel_l1));
                    if settings.cache == Some(cache::CacheBackend::TeaCache) {
                        line["cache_residual_change"] = json!(r4(&g.residual_change));
                    }
                }
                results.write(&line)?;
                println!("  Prompt {}: {seconds:.4} seconds", i + 1);
            }
            Err(e) => {
                failed += 1;
                results.write(&json!({
                    "prompt": i, "image": null, "seconds": null, "ok": false, "error": format!("{e:#}"),
                }))?;
                eprintln!("  Prompt {} failed: {e:#}", i + 1);
            }
        }
        std::io::stdout()
            .flush()
            .context("failed to write to stdout")?;
    }
    if let Some(line) = work.event() {
        results.write(&line)?;
    }
    if let Some(peak) = output::peak_rss_bytes() {
        // The whole process: every worker shares it, so it is reported as device 0.
        results.write(&json!({"event": "memory", "device": 0, "peak_bytes": peak}))?;
    }
    drop(pool);
    if failed > 0 {
        anyhow::bail!("{failed} of {} prompts failed", prompts.len());
    }
    Ok(())
}
