//! End-to-end tests of `compat generate` (the reference engine), run as the
//! real binary at 64×64 with few steps so the suite stays fast on two cores.
//! They check properties, never timings.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

const PROMPTS: &str = "a red circle on a blue background\na yellow star at night\n";

struct Run {
    dir: tempfile::TempDir,
    stdout: String,
}

impl Run {
    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn image(&self, i: usize) -> image::RgbImage {
        let path = self.out().join(format!("prompt_{i:02}.png"));
        image::open(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .to_rgb8()
    }

    fn bytes(&self, i: usize) -> Vec<u8> {
        std::fs::read(self.out().join(format!("prompt_{i:02}.png"))).expect("png")
    }

    fn results(&self) -> Vec<Value> {
        let text =
            std::fs::read_to_string(self.out().join("results.jsonl")).expect("results.jsonl");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    }

    fn prompt_rows(&self) -> Vec<Value> {
        self.results()
            .into_iter()
            .filter(|v| v.get("prompt").is_some())
            .collect()
    }
}

fn generate_with(prompts: &str, steps: u32, args: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let prompt_file = dir.path().join("prompts.txt");
    std::fs::write(&prompt_file, prompts).expect("write prompts");
    let output = Command::cargo_bin("compat")
        .expect("binary")
        .env("COMPAT_DEVICES", "0,1,2,3")
        .args(["generate", "--prompt-file"])
        .arg(&prompt_file)
        .arg("--output")
        .arg(dir.path().join("out"))
        .args([
            "--height",
            "64",
            "--width",
            "64",
            "--num-inference-steps",
            &steps.to_string(),
            "--warmup",
            "0",
        ])
        .args(args)
        .output()
        .expect("run compat");
    assert!(
        output.status.success(),
        "compat generate {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Run {
        dir,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    }
}

fn generate(args: &[&str]) -> Run {
    generate_with(PROMPTS, 6, args)
}

/// Mean |a − b| / 255 over RGB, the runner's MeanDiff.
fn mean_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.as_raw().len() as f64 / 255.0
}

fn max_mean_diff(a: &Run, b: &Run, n: usize) -> f64 {
    (0..n)
        .map(|i| mean_diff(&a.image(i), &b.image(i)))
        .fold(0.0, f64::max)
}

#[test]
fn baseline_writes_the_protocol() {
    let run = generate(&[]);
    assert!(run.stdout.contains("  Prompt 1: "), "{}", run.stdout);
    assert!(run.stdout.contains("  Prompt 2: "), "{}", run.stdout);
    let results = run.results();
    assert_eq!(results[0]["event"], "load");
    let rows = run.prompt_rows();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["image"], "prompt_01.png");
    assert_eq!(rows[1]["ok"], true);
    assert_eq!(rows[0]["transformer_evals"], 12, "6 steps × 2 CFG branches");
    assert_eq!(rows[0]["skipped_evals"], 0);
    assert_eq!(run.image(0).dimensions(), (64, 64));
}

#[test]
fn runs_are_deterministic_and_prompts_matter() {
    let (a, b) = (generate(&[]), generate(&[]));
    assert_eq!(a.bytes(0), b.bytes(0));
    assert_eq!(a.bytes(1), b.bytes(1));
    let d = mean_diff(&a.image(0), &a.image(1));
    assert!(
        d > 0.1,
        "two prompts should give clearly different images, MeanDiff {d}"
    );
}

#[test]
fn cfg_parallel_is_byte_identical() {
    let base = generate(&[]);
    let cfg = generate(&["--cfg-parallel-size", "2"]);
    for i in 0..2 {
        assert_eq!(base.bytes(i), cfg.bytes(i), "prompt {i}");
    }
}

#[test]
fn sequence_and_tensor_parallel_match_the_baseline() {
    let base = generate(&[]);
    for args in [
        ["--ulysses-degree", "2"],
        ["--ring-degree", "2"],
        ["--tensor-parallel-size", "2"],
        ["--ulysses-degree", "4"],
    ] {
        let run = generate(&args);
        let d = max_mean_diff(&base, &run, 2);
        assert!(d < 1e-3, "{args:?}: MeanDiff {d}");
    }
}

#[test]
fn caches_skip_a_quarter_and_stay_close() {
    let prompt = "a red circle on a blue background\n";
    let base = generate_with(prompt, 20, &[]);
    for backend in ["tea_cache", "cache_dit"] {
        let run = generate_with(prompt, 20, &["--cache-backend", backend]);
        let row = &run.prompt_rows()[0];
        let evals = row["transformer_evals"].as_f64().expect("evals");
        let skipped = row["skipped_evals"].as_f64().expect("skipped");
        assert_eq!(evals, 40.0);
        assert!(
            skipped / evals >= 0.25,
            "{backend} skipped only {skipped} of {evals}"
        );
        let d = max_mean_diff(&base, &run, 1);
        assert!(d < 0.15, "{backend}: MeanDiff {d}");
    }
}

#[test]
fn oversubscription_fails_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prompt_file = dir.path().join("p.txt");
    std::fs::write(&prompt_file, "a red circle\n").expect("write");
    Command::cargo_bin("compat")
        .expect("binary")
        .env("COMPAT_DEVICES", "0,1")
        .args(["generate", "--cfg-parallel-size", "2", "--ulysses-degree", "2", "--prompt-file"])
        .arg(&prompt_file)
        .arg("--output")
        .arg(dir.path().join("out"))
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "requested 4 workers (cfg 2 × ulysses 2 × ring 1 × tp 1) but only 2 devices are visible (COMPAT_DEVICES=0,1)",
        ));
    assert!(!Path::new(&dir.path().join("out").join("prompt_00.png")).exists());
}

#[test]
fn every_pair_of_features_runs() {
    let features: [(&str, &[&str]); 6] = [
        ("cfg", &["--cfg-parallel-size", "2"]),
        ("ulysses", &["--ulysses-degree", "2"]),
        ("ring", &["--ring-degree", "2"]),
        ("tp", &["--tensor-parallel-size", "2"]),
        ("tea_cache", &["--cache-backend", "tea_cache"]),
        ("cache_dit", &["--cache-backend", "cache_dit"]),
    ];
    let base = generate_with("a green triangle\n", 4, &[]);
    for (i, (a, a_args)) in features.iter().enumerate() {
        for (b, b_args) in &features[i + 1..] {
            if a_args[0] == b_args[0] {
                continue; // two cache backends cannot combine
            }
            let args: Vec<&str> = a_args.iter().chain(b_args.iter()).copied().collect();
            let run = generate_with("a green triangle\n", 4, &args);
            let d = max_mean_diff(&base, &run, 1);
            assert!(d < 0.15, "{a} + {b}: MeanDiff {d}");
        }
    }
}
