//! The diffusers backend for real: a tiny Qwen-Image pipeline with random
//! weights, built offline by `backends/diffusers/make_tiny_pipeline.py`, run
//! through `compat run --backend diffusers` on the CPU, judged by `--analyze`.
//!
//! Needs the pinned environment of `backends/diffusers/requirements.txt`:
//! `COMPAT_DIFFUSERS_VENV` names the virtual environment (`.ci/run` installs
//! it and runs this with `--ignored`). What it asserts is what diffusers
//! 0.42.1 really does on Qwen-Image with guidance on (measured first, see
//! backends/diffusers/README.md): two caches crash, two never engage, the
//! rest pass, and two caches crash beside `compile_repeated_blocks`.

#[path = "common/diffusers.rs"]
mod diffusers_env;

use diffusers_env::{compat, reason, report, result, status, tiny};

/// The settings of every run: 64×64, 10 steps, 3 prompts, guidance on, one
/// CPU thread per backend (the script's default on CPU), one "GPU" (the
/// script finds no CUDA and runs on the CPU).
const SMALL: [&str; 12] = diffusers_env::small("10", "3");

#[test]
#[ignore = "needs the diffusers venv (COMPAT_DIFFUSERS_VENV); .ci/run installs it"]
fn diffusers_caches_and_compile_on_a_tiny_pipeline() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let model = tiny(dir, "4"); // make_tiny_pipeline.py's default

    // Each cache alone on the pure baseline.
    let mut args = vec!["run", "--model", &model];
    args.extend(SMALL);
    args.extend([
        "--addons",
        "first_block_cache",
        "taylorseer",
        "magcache",
        "seacache",
        "pab",
        "faster_cache",
        "--analyze",
        "--html",
    ]);
    let out = compat(dir, &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "two configs crash:\n{stdout}\n{stderr}"
    );
    let run = dir.join("compat_results/baseline");
    let r = report(&run);
    assert_eq!(status(&r, "baseline"), "PASS");
    // The installed engine answered the probe, and what really ran is named
    // per config (docs/probe.md).
    assert!(
        stderr.contains("engine: diffusers 0.42.1 (probed: 6 of 6 features supported)"),
        "{stderr}"
    );
    assert_eq!(result(&r, "baseline")["engine"]["engine"], "diffusers");
    assert_eq!(result(&r, "taylorseer")["engine"]["version"], "0.42.1");
    // Crashes, with diffusers' own one-line reason.
    assert_eq!(status(&r, "pab"), "ERROR");
    assert!(
        reason(&r, "pab").contains("RuntimeError: The size of tensor a"),
        "{}",
        reason(&r, "pab")
    );
    assert_eq!(status(&r, "faster_cache"), "ERROR");
    assert!(
        reason(&r, "faster_cache").contains("IndexError: tuple index out of range"),
        "{}",
        reason(&r, "faster_cache")
    );
    // Never engaged: the same work as the baseline, not one pixel changed.
    for cache in ["first_block_cache", "seacache"] {
        assert_eq!(status(&r, cache), "WARN", "{cache}: {}", reason(&r, cache));
        assert!(
            reason(&r, cache).contains("had no effect"),
            "{cache}: {}",
            reason(&r, cache)
        );
        assert_eq!(result(&r, cache)["vs_parents"][0]["same_work"], true);
    }
    // Engaged: less work, slightly different pixels, within the lossy limits.
    for cache in ["taylorseer", "magcache"] {
        assert_eq!(status(&r, cache), "PASS", "{cache}: {}", reason(&r, cache));
        let p = &result(&r, cache)["vs_parents"][0];
        assert_eq!(p["same_work"], false, "{cache}");
        assert_eq!(p["identical"], false, "{cache}");
    }
    let html = std::fs::read_to_string(run.join("diff_report.html")).expect("html");
    assert!(
        html.contains("engine work over the timed prompts: attention 120, transformer_block 240"),
        "TaylorSeer's own counters on the page"
    );
    // The thread count is recorded, so timings can be compared.
    let jsonl = std::fs::read_to_string(run.join("baseline/results.jsonl")).expect("jsonl");
    assert!(jsonl.contains("\"threads\": 1"), "{jsonl}");

    // compile as the baseline feature: the caches beside it crash.
    let mut args = vec!["run", "--model", &model];
    args.extend(SMALL);
    args.extend([
        "--baseline",
        "compile",
        "--addons",
        "first_block_cache",
        "taylorseer",
        "--analyze",
    ]);
    let out = compat(dir, &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let run2 = dir.join("compat_results/compile");
    let r = report(&run2);
    assert_eq!(status(&r, "compile"), "PASS", "{}", reason(&r, "compile"));
    for combo in ["compile+first_block_cache", "compile+taylorseer"] {
        assert_eq!(status(&r, combo), "ERROR");
        assert!(
            reason(&r, combo).contains("Skip inlining"),
            "{combo}: {}",
            reason(&r, combo)
        );
    }

    // Every image is a function of (prompt, seed + i): the two runs' pure
    // baselines, separate processes, are byte-identical.
    for i in 0..3 {
        let name = format!("prompt_{i:02}.png");
        let a = std::fs::read(run.join("baseline").join(&name)).expect("png");
        let b = std::fs::read(run2.join("baseline").join(&name)).expect("png");
        assert!(a == b, "{name} differs between two runs of the baseline");
    }
}
