//! Benchmark of the reference engine (`cargo bench --bench reference`): runs
//! `compat generate` at 256×256, 20 steps, 8 prompts, for the baseline and
//! each feature, and prints seconds per image, speedup, skipped evaluations,
//! MeanDiff against the baseline and peak RSS. Figures, not assertions.
//!
//! `COMPAT_BENCH_PROMPTS=N` changes the prompt count.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

const PROMPTS: [&str; 8] = [
    "a red circle on a blue background",
    "a yellow star at night",
    "two green triangles",
    "sunset over the ocean",
    "a purple ring",
    "an astronaut riding a horse",
    "three small pink squares on the left",
    "the sun above the mountains",
];

struct Figures {
    per_image: f64,
    wall: f64,
    skipped: f64,
    evals: f64,
    peak_mb: f64,
}

fn run(dir: &Path, name: &str, args: &[&str], devices: &str) -> Figures {
    let out = dir.join(name);
    let start = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_compat"))
        .env("COMPAT_DEVICES", devices)
        .args(["generate", "--prompt-file"])
        .arg(dir.join("prompts.txt"))
        .arg("--output")
        .arg(&out)
        .args([
            "--height",
            "256",
            "--width",
            "256",
            "--num-inference-steps",
            "20",
        ])
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run compat generate");
    let wall = start.elapsed().as_secs_f64();
    assert!(status.success(), "{name} failed");
    let text = std::fs::read_to_string(out.join("results.jsonl")).expect("results.jsonl");
    let mut f = Figures {
        per_image: 0.0,
        wall,
        skipped: 0.0,
        evals: 0.0,
        peak_mb: 0.0,
    };
    let mut n = 0.0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        if v.get("prompt").is_some() {
            f.per_image += v["seconds"].as_f64().unwrap_or(0.0);
            f.skipped += v["skipped_evals"].as_f64().unwrap_or(0.0);
            f.evals += v["transformer_evals"].as_f64().unwrap_or(0.0);
            n += 1.0;
        } else if v["event"] == "memory" {
            f.peak_mb = v["peak_bytes"].as_f64().unwrap_or(0.0) / 1e6;
        }
    }
    f.per_image /= n;
    f
}

fn mean_diff(a: &Path, b: &Path) -> f64 {
    let (a, b) = (
        image::open(a).expect("png").to_rgb8(),
        image::open(b).expect("png").to_rgb8(),
    );
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.as_raw().len() as f64 / 255.0
}

fn main() {
    let n: usize = std::env::var("COMPAT_BENCH_PROMPTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let dir = tempfile::tempdir().expect("tempdir");
    let prompts: Vec<&str> = PROMPTS.iter().cycle().take(n).copied().collect();
    std::fs::write(dir.path().join("prompts.txt"), prompts.join("\n") + "\n").expect("prompts");
    let configs: [(&str, &[&str], &str); 9] = [
        ("baseline", &[], "0"),
        ("cfg_parallel", &["--cfg-parallel-size", "2"], "0,1"),
        ("ulysses", &["--ulysses-degree", "2"], "0,1"),
        ("ring", &["--ring-degree", "2"], "0,1"),
        ("tp", &["--tensor-parallel-size", "2"], "0,1"),
        ("tea_cache", &["--cache-backend", "tea_cache"], "0"),
        ("cache_dit", &["--cache-backend", "cache_dit"], "0"),
        (
            "cfg_parallel+tea_cache",
            &["--cfg-parallel-size", "2", "--cache-backend", "tea_cache"],
            "0,1",
        ),
        (
            "cfg_parallel+ulysses",
            &["--cfg-parallel-size", "2", "--ulysses-degree", "2"],
            "0,1,2,3",
        ),
    ];
    println!("reference engine, 256×256, 20 steps, {n} prompts, 1 warm-up");
    println!(
        "{:<24} {:>9} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8}",
        "config", "s/image", "speedup", "skipped", "MeanDiff", "max", "wall s", "peak MB"
    );
    let mut base = 0.0;
    for (name, args, devices) in configs {
        let f = run(dir.path(), name, args, devices);
        if name == "baseline" {
            base = f.per_image;
        }
        let diffs: Vec<f64> = (0..n)
            .map(|i| {
                let img = format!("prompt_{i:02}.png");
                mean_diff(
                    &dir.path().join("baseline").join(&img),
                    &dir.path().join(name).join(&img),
                )
            })
            .collect();
        let mean = diffs.iter().sum::<f64>() / n as f64;
        let max = diffs.iter().copied().fold(0.0, f64::max);
        println!(
            "{name:<24} {:>9.3} {:>7.2}× {:>7.0}% {mean:>9.5} {max:>9.5} {:>8.1} {:>8.1}",
            f.per_image,
            base / f.per_image,
            100.0 * f.skipped / f.evals.max(1.0),
            f.wall,
            f.peak_mb
        );
    }
}
