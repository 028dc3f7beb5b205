//! Cache-DiT for real: the cache-dit package (1.5.3, pinned in
//! `backends/diffusers/requirements.txt`) on a tiny random-weight Qwen-Image
//! pipeline, through `compat run --backend diffusers --addons cache_dit …` on
//! the CPU, judged by `--analyze` from the engine's own counts.
//!
//! Needs the pinned environment: `COMPAT_DIFFUSERS_VENV` names the virtual
//! environment (`.ci/run` installs it and runs this with `--ignored`).
//!
//! What it asserts is what cache-dit 1.5.3 really does here (measured first,
//! see backends/diffusers/README.md):
//! - DBCache with its documented defaults never caches on random weights: the
//!   first 8 blocks' residual changes by ~0.4-0.5 between steps, far above the
//!   0.08 threshold. cache-dit says so itself (0 cached steps), the blocks ran
//!   as often as the baseline's, the pixels are the baseline's: WARN "no effect".
//!   The TaylorSeer calibrator only forecasts cached steps: the same WARN.
//! - The static steps computation mask caches the masked steps whatever the
//!   residual: 4 of 12 steps per branch, images close to the baseline's but
//!   not identical: PASS.
//! - On the 4-block tiny pipeline DBCache's default Fn_compute_blocks = 8
//!   cannot run: every prompt fails with cache-dit's own assertion (ERROR).

#[path = "common/diffusers.rs"]
mod diffusers_env;

use std::path::Path;

use diffusers_env::{compat, reason, report, result, status, tiny};
use serde_json::Value;

/// The `work` event's counts a config's backend wrote.
fn work(run: &Path, config: &str) -> Value {
    let text = std::fs::read_to_string(run.join(config).join("results.jsonl")).expect("jsonl");
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "work")
        .map(|v| v["counts"].clone())
        .unwrap_or_else(|| panic!("{config}: no work event in\n{text}"))
}

/// 64×64, 12 steps (DBCache warms up for 8: 4 are left to cache), 2 prompts,
/// guidance on, one "GPU" (the CPU).
const SMALL: [&str; 12] = diffusers_env::small("12", "2");

#[test]
#[ignore = "needs the diffusers venv with cache-dit (COMPAT_DIFFUSERS_VENV); .ci/run installs it"]
fn cache_dit_on_a_tiny_pipeline() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    // Ten blocks: DBCache computes the first 8 (Fn_compute_blocks) every step
    // and can skip the last 2.
    let model = tiny(dir, "10");
    let mut args = vec!["run", "--model", &model];
    args.extend(SMALL);
    args.extend([
        "--addons",
        "cache_dit",
        "cache_dit_taylorseer",
        "cache_dit_scm",
        "--analyze",
    ]);
    let out = compat(dir, &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // The probe saw cache-dit installed and Qwen-Image among its pipelines.
    assert!(
        stderr.contains("engine: diffusers 0.42.1 (probed: 3 of 3 features supported)"),
        "{stderr}"
    );
    let run = dir.join("compat_results/baseline");
    let r = report(&run);
    assert_eq!(status(&r, "baseline"), "PASS", "{}", reason(&r, "baseline"));

    // The settings event names cache-dit's config.
    let settings = std::fs::read_to_string(run.join("cache_dit/results.jsonl")).expect("jsonl");
    assert!(
        settings.contains("\"strify\": \"DBCache_F8B0_W8I1M0MC0_R0.08_CFG1\""),
        "{settings}"
    );

    // Never engaged, by cache-dit's own count and the block counters.
    for cache in ["cache_dit", "cache_dit_taylorseer"] {
        let w = work(&run, cache);
        assert_eq!(w["cache_dit_cached_steps"], 0, "{cache}: {w}");
        assert_eq!(w["cache_dit_cfg_cached_steps"], 0, "{cache}: {w}");
        assert_eq!(
            w["transformer_block"],
            work(&run, "baseline")["transformer_block"]
        );
        assert_eq!(status(&r, cache), "WARN", "{cache}: {}", reason(&r, cache));
        assert!(
            reason(&r, cache).contains("had no effect")
                && reason(&r, cache).contains("the engine did the same work"),
            "{cache}: {}",
            reason(&r, cache)
        );
        let p = &result(&r, cache)["vs_parents"][0];
        assert_eq!(p["same_work"], true, "{cache}");
        assert_eq!(p["identical"], true, "{cache}");
    }

    // The static mask caches 4 of 12 steps per guidance branch per prompt, and
    // each cached call skips the last 2 of 10 blocks.
    let w = work(&run, "cache_dit_scm");
    assert_eq!(w["cache_dit_cached_steps"], 8, "{w}");
    assert_eq!(w["cache_dit_cfg_cached_steps"], 8, "{w}");
    assert_eq!(w["transformer_block"], 480 - 16 * 2, "{w}");
    assert_eq!(
        status(&r, "cache_dit_scm"),
        "PASS",
        "{}",
        reason(&r, "cache_dit_scm")
    );
    let p = &result(&r, "cache_dit_scm")["vs_parents"][0];
    assert_eq!(p["same_work"], false);
    assert_eq!(p["identical"], false);
    // Close: MaxDiff (0..1, averaged over the prompts) well inside the lossy limits.
    let max_diff = result(&r, "cache_dit_scm")["max_diff_avg"]
        .as_f64()
        .expect("max_diff_avg");
    assert!(max_diff > 0.0 && max_diff < 0.1, "max diff {max_diff}");
    for c in ["cache_dit", "cache_dit_taylorseer", "cache_dit_scm"] {
        eprintln!(
            "{c}: {} cached steps {}+{} MaxDiff {}",
            status(&r, c),
            work(&run, c)["cache_dit_cached_steps"],
            work(&run, c)["cache_dit_cfg_cached_steps"],
            result(&r, c)["max_diff_avg"]
        );
    }

    // Four blocks: fewer than DBCache's default Fn_compute_blocks, so cache-dit
    // refuses at the first forward, every prompt, in its own words.
    let small = tiny(dir, "4");
    let mut args = vec!["run", "--model", &small];
    args.extend(SMALL);
    args.extend([
        "--addons",
        "cache_dit",
        "--analyze",
        "--output-dir",
        "four-blocks",
    ]);
    let out = compat(dir, &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let r = report(&dir.join("four-blocks/baseline"));
    assert_eq!(status(&r, "baseline"), "PASS");
    assert_eq!(status(&r, "cache_dit"), "ERROR");
    assert!(
        reason(&r, "cache_dit").contains(
            "AssertionError: Fn_compute_blocks 8 must be less than the number of transformer blocks 4"
        ),
        "{}",
        reason(&r, "cache_dit")
    );
}
