//! Shared model loads on a real engine (issue 24, docs/sessions.md): the
//! diffusers backend's session mode on the tiny random-weight Qwen-Image
//! pipeline, through `compat run --backend diffusers`, on the CPU.
//!
//! - The caches of the pure baseline run in one process, one load: their
//!   verdicts and images equal those of one process per configuration
//!   (`--no-share-load`), and the contamination check passes.
//! - The same backend with its switch-off made a no-op
//!   (tests/fixtures/leaky_diffusers.py: TaylorSeer's hook left attached):
//!   the check's second baseline run differs, and every configuration of the
//!   session is ERROR "state leaked between configurations".
//!
//! Needs `COMPAT_DIFFUSERS_VENV` (`.ci/run` installs it and runs this with
//! `--ignored`).

#[path = "common/diffusers.rs"]
mod diffusers_env;

use std::path::Path;

use diffusers_env::{compat, compat_with, reason, report, root, status, tiny};
use serde_json::Value;

/// 64×64, 4 steps, 2 prompts, guidance on, one "GPU" (the CPU).
const SMALL: [&str; 12] = diffusers_env::small("4", "2");

/// first_block_cache never engages on random weights (WARN "no effect");
/// TaylorSeer with interval 2 does (PASS, other pixels): a leak of it shows.
const CACHES: [&str; 3] = ["--addons", "first_block_cache", "taylorseer"];

fn manifest(run: &Path) -> Value {
    let text = std::fs::read_to_string(run.join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("json")
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn loads(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("results.jsonl"))
        .expect("results.jsonl")
        .lines()
        .filter(|l| l.contains("\"event\": \"load\""))
        .count()
}

#[test]
#[ignore = "needs the diffusers venv (COMPAT_DIFFUSERS_VENV); .ci/run installs it"]
fn a_session_of_caches_equals_separate_processes_and_a_leak_is_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let model = tiny(dir, "4");
    let run_args = |out: &str, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["run", "--model", &model, "--output-dir", out]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(SMALL.iter().chain(&CACHES).map(|s| s.to_string()));
        a.extend(extra.iter().map(|s| s.to_string()));
        a.push("--analyze".into());
        a
    };

    // Shared: one process, one load, the check passes.
    let out = compat(dir, &refs(&run_args("shared", &[])));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let shared = dir.join("shared/baseline");
    let m = manifest(&shared);
    assert_eq!(
        m["sessions"][0]["members"],
        serde_json::json!(["baseline", "first_block_cache", "taylorseer"])
    );
    assert_eq!(
        m["sessions"][0]["check"]["result"], "identical",
        "{}",
        m["sessions"]
    );
    assert_eq!(loads(&shared.join("baseline")), 1);
    assert_eq!(loads(&shared.join("taylorseer")), 0);
    assert!(stdout.contains("1 model load(s), 2 avoided"), "{stdout}");

    // Alone: one process per configuration.
    let out = compat(dir, &refs(&run_args("alone", &["--no-share-load"])));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alone = dir.join("alone/baseline");
    assert_eq!(loads(&alone.join("taylorseer")), 1);

    // The same verdicts, the same reasons, the same images.
    let (rs, ra) = (report(&shared), report(&alone));
    for c in ["baseline", "first_block_cache", "taylorseer"] {
        assert_eq!(
            status(&rs, c),
            status(&ra, c),
            "{c}: {} | {}",
            reason(&rs, c),
            reason(&ra, c)
        );
        for p in ["prompt_00.png", "prompt_01.png"] {
            let a = std::fs::read(shared.join(c).join(p)).expect("png");
            let b = std::fs::read(alone.join(c).join(p)).expect("png");
            assert!(
                a == b,
                "{c}/{p}: a session's image differs from its own process's"
            );
        }
    }
    assert_eq!(
        status(&rs, "taylorseer"),
        "PASS",
        "{}",
        reason(&rs, "taylorseer")
    );
    assert_eq!(status(&rs, "first_block_cache"), "WARN");

    // Leaky: the backend exactly, but switch_off does nothing.
    let real = std::fs::read_to_string(root().join("features.toml")).expect("features.toml");
    let leaky = root().join("tests/fixtures/leaky_diffusers.py");
    let text = real.replacen(
        "\"python3\", \"backends/diffusers/batch_text_to_image.py\",\n  \"--model={model}\"",
        &format!(
            "\"python3\", \"{}\",\n  \"--model={{model}}\"",
            leaky.display()
        ),
        1,
    );
    assert_ne!(text, real, "the diffusers command in features.toml moved");
    let text = text.replace(
        "\"backends/diffusers/batch_text_to_image.py\"",
        &format!(
            "\"{}\"",
            root()
                .join("backends/diffusers/batch_text_to_image.py")
                .display()
        ),
    );
    let registry = dir.join("leaky.toml");
    std::fs::write(&registry, text).expect("write");
    // TaylorSeer alone: first_block_cache's hook left attached would make
    // TaylorSeer's switch-on fail ("already enabled") before any image.
    let mut args = run_args("leaky", &[]);
    args.retain(|a| a != "first_block_cache");
    let out = compat_with(dir, &registry, &refs(&args));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let run = dir.join("leaky/baseline");
    let m = manifest(&run);
    assert_eq!(
        m["sessions"][0]["check"]["result"], "differs",
        "{}",
        m["sessions"]
    );
    let r = report(&run);
    assert_eq!(
        m["sessions"][0]["members"],
        serde_json::json!(["baseline", "taylorseer"])
    );
    for c in ["baseline", "taylorseer"] {
        assert_eq!(status(&r, c), "ERROR", "{c}");
        assert!(
            reason(&r, c)
                .contains("state leaked between configurations (session baseline: prompts 0, 1"),
            "{c}: {}",
            reason(&r, c)
        );
    }
    // What it printed, for the note.
    println!("{stdout}");
}
