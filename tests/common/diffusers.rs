//! Shared helpers of the end-to-end tests that run the diffusers backend for
//! real (tests/diffusers_backend.rs, tests/diffusers_cache_dit.rs): the
//! pinned venv (`COMPAT_DIFFUSERS_VENV`), compat run offline with the venv's
//! python3 first on PATH, a tiny pipeline, and readers of report.json.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub fn venv() -> PathBuf {
    let v = std::env::var_os("COMPAT_DIFFUSERS_VENV")
        .expect("COMPAT_DIFFUSERS_VENV: the venv with backends/diffusers/requirements.txt");
    PathBuf::from(v)
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `compat run`'s settings for the tiny pipeline: the diffusers backend,
/// 64×64, guidance on (the backend's default cfg), one "GPU" (the script
/// finds no CUDA and runs on the CPU), `steps` steps, `prompts` prompts.
pub const fn small(steps: &'static str, prompts: &'static str) -> [&'static str; 12] {
    [
        "--backend",
        "diffusers",
        "--gpus",
        "1",
        "--height",
        "64",
        "--width",
        "64",
        "--steps",
        steps,
        "--num-prompts",
        prompts,
    ]
}

/// `compat ARGS` with the venv's python3 first on PATH, offline.
pub fn compat(dir: &Path, args: &[&str]) -> std::process::Output {
    compat_with(dir, &root().join("features.toml"), args)
}

/// [`compat`] with another registry.
pub fn compat_with(dir: &Path, registry: &Path, args: &[&str]) -> std::process::Output {
    let path = format!(
        "{}:{}",
        venv().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(assert_cmd::cargo::cargo_bin("compat"))
        .current_dir(dir)
        .env("PATH", path)
        .env("HF_HUB_OFFLINE", "1")
        .env("NO_COLOR", "1")
        .env_remove("CUDA_VISIBLE_DEVICES")
        .arg("--features")
        .arg(registry)
        .args(args)
        .output()
        .expect("compat runs")
}

/// A tiny Qwen-Image pipeline with `layers` transformer blocks.
pub fn tiny(dir: &Path, layers: &str) -> String {
    let out = dir.join(format!("tiny-{layers}"));
    let made = Command::new(venv().join("bin/python3"))
        .arg(root().join("backends/diffusers/make_tiny_pipeline.py"))
        .arg(&out)
        .args(["--layers", layers])
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("python runs");
    assert!(
        made.status.success(),
        "make_tiny_pipeline.py: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    out.display().to_string()
}

pub fn report(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
    serde_json::from_str(&text).expect("report.json is JSON")
}

pub fn result<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["results"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no config {name} in the report"))
}

pub fn status(r: &Value, name: &str) -> String {
    result(r, name)["compat_status"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

pub fn reason(r: &Value, name: &str) -> String {
    let c = result(r, name);
    let mut text = c["reason"].as_str().unwrap_or("").to_string();
    for n in c["notes"].as_array().cloned().unwrap_or_default() {
        text += &format!(" | {}", n.as_str().unwrap_or(""));
    }
    text
}
