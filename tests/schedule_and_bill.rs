//! Issue 24: the queue order planned by estimated durations, and the bill
//! (GPU-seconds) in the run summary, report.json and `compare`. Runs the real
//! binary with the test double (tests/fixtures/fake_backend.py) sleeping.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

/// A node of 4 devices where the 1-GPU pure baseline is the slowest (0.3 s a
/// prompt), `par` (2 GPUs) faster and `par+quad` (2 GPUs, a cache) fastest:
/// largest GPU count first starts both 2-GPU configs and the baseline only
/// after one of them, alone at the end; the planned order starts the
/// baseline beside `par`.
fn registry(dir: &Path) -> PathBuf {
    let text = format!(
        r#"
default_backend = "fake"

[backends.fake]
command = ["python3", "{backend}", "--prompt-file", "{{prompt_file}}", "--output", "{{output_dir}}",
           "--seed", "{{seed}}", "--slow", "0.3"]
model = "fake-model"

[backends.fake.defaults]
num_prompts = 3
steps = 2

[features.par]
args = ["--par", "2", "--slow", "0.1"]
gpus = 2
category = "parallelism"

[features.quad]
args = ["--slow", "0.05"]
gpus = 1
category = "cache"
addon_only = true
"#,
        backend = common::fake_backend().display()
    );
    let path = dir.join("features.toml");
    std::fs::write(&path, text).expect("write registry");
    path
}

struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        registry(dir.path());
        Node { dir }
    }

    fn compat(&self) -> Command {
        let mut c = Command::cargo_bin("compat").expect("binary");
        c.current_dir(self.dir.path())
            .env_remove("CUDA_VISIBLE_DEVICES");
        c
    }

    /// `compat run` of the three configs on 4 devices into `out`.
    fn run(&self, out: &str, extra: &[&str]) -> Command {
        let mut c = self.compat();
        c.args([
            "run",
            "--baseline",
            "par",
            "--addons",
            "quad",
            "--gpus",
            "4",
            "--output-dir",
            out,
        ])
        .args(extra);
        c
    }

    fn run_dir(&self, out: &str) -> PathBuf {
        self.dir.path().join(out).join("par")
    }

    fn manifest(&self, out: &str) -> Value {
        common::read_json(&self.run_dir(out).join("manifest.json"))
    }
}

fn started(m: &Value, name: &str) -> String {
    common::config(m, name)["started"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} has no start in {m}"))
        .to_string()
}

#[test]
fn the_slow_baseline_starts_first_and_largest_first_starts_it_last() {
    let node = Node::new();
    node.run("planned", &[]).assert().success();
    let m = node.manifest("planned");
    // RFC 3339 with milliseconds, all UTC: strings order as times do.
    assert!(
        started(&m, "baseline") <= started(&m, "par+quad"),
        "the planned order starts the slowest first: {m}"
    );
    // The order before planning, for comparison: the 2-GPU configs first,
    // the slow baseline last.
    node.run("before", &["--queue-order", "largest-first"])
        .assert()
        .success();
    let m = node.manifest("before");
    assert!(started(&m, "par+quad") < started(&m, "baseline"), "{m}");
}

#[test]
fn the_dry_run_shows_the_plan_and_where_each_estimate_came_from() {
    let node = Node::new();
    let out = node.run("r", &["--dry-run"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("queue order ("), "{text}");
    assert!(text.contains("estimated makespan"), "{text}");
    assert!(text.contains("lower bound"), "{text}");
    // Nothing ran before: the model, the pure baseline first.
    let first = text
        .lines()
        .find(|l| l.trim_start().starts_with("1. "))
        .unwrap_or_default();
    assert!(
        first.contains("baseline") && first.contains("model, nominal"),
        "{text}"
    );
    assert!(
        !node.dir.path().join("r").exists(),
        "a dry run writes nothing"
    );

    // After a run, its durations: by --estimates-from, and on --resume.
    node.run("r", &[]).assert().success();
    let m = node.manifest("r");
    let took = common::config(&m, "par+quad")["seconds"]
        .as_f64()
        .expect("seconds");
    let dir = node.run_dir("r");
    for extra in [
        vec![
            "--dry-run",
            "--estimates-from",
            dir.to_str().expect("utf-8"),
        ],
        vec!["--dry-run", "--resume"],
    ] {
        let out = node.run("r", &extra).assert().success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        let line = text
            .lines()
            .find(|l| l.contains(". par+quad"))
            .unwrap_or_default();
        assert!(line.contains("measured in"), "{extra:?}: {text}");
        assert!(line.contains(&format!("~{took:.1} s")), "{extra:?}: {line}");
    }
}

#[test]
fn a_bad_estimates_file_is_a_usage_error_naming_it() {
    let node = Node::new();
    let bad = node.dir.path().join("notes.json");
    std::fs::write(&bad, "{\"hello\": 1}").expect("write");
    node.run("r", &["--estimates-from", bad.to_str().expect("utf-8")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("notes.json"))
        .stderr(predicate::str::contains("neither a compat manifest.json"));
    assert!(!node.dir.path().join("r").exists(), "nothing written");
    node.run("r", &["--estimates-from", "missing.json", "--dry-run"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read missing.json"));
}

#[test]
fn the_summary_report_and_compare_show_the_bill() {
    let node = Node::new();
    let out = node.run("a", &[]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("GPU-s"), "{text}");
    assert!(text.contains("bill: "), "{text}");
    assert!(text.contains("3 model load(s), 0 avoided"), "{text}");
    assert!(text.contains("vs lower bound"), "{text}");

    let m = node.manifest("a");
    node.compat()
        .args(["analyze", "--results-dir"])
        .arg(node.run_dir("a"))
        .assert()
        .success();
    let report = common::read_json(&node.run_dir("a").join("report.json"));
    let bill = &report["bill"];
    assert_eq!(bill["devices"], 4);
    assert_eq!(bill["loads"], 3);
    assert_eq!(bill["loads_avoided"], 0);
    let configs = bill["configs"].as_array().expect("configs");
    assert_eq!(configs.len(), 3);
    let mut total = 0.0;
    let mut longest: f64 = 0.0;
    for c in configs {
        let name = c["name"].as_str().expect("name");
        let e = common::config(&m, name);
        let wall = e["seconds"].as_f64().expect("seconds");
        let gpus = e["gpus"].as_f64().expect("gpus");
        let f = |k: &str| c[k].as_f64().unwrap_or_else(|| panic!("{k} in {c}"));
        assert!((f("gpu_seconds") - wall * gpus).abs() < 1e-9, "{c}");
        // The test double reports a 0.5 s load and 0.2 / par s a prompt.
        assert!((f("load_gpu_seconds") - 0.5 * gpus).abs() < 1e-9, "{c}");
        let par = if name == "baseline" { 1.0 } else { 2.0 };
        assert!(
            (f("timed_gpu_seconds") - 3.0 * 0.2 / par * gpus).abs() < 1e-9,
            "{c}"
        );
        let used = f("load_gpu_seconds") + f("timed_gpu_seconds");
        assert!(
            (f("idle_gpu_seconds") - (wall * gpus - used).max(0.0)).abs() < 1e-9,
            "{c}"
        );
        total += wall * gpus;
        longest = longest.max(wall);
    }
    let f = |k: &str| bill[k].as_f64().unwrap_or_else(|| panic!("{k} in {bill}"));
    assert!((f("gpu_seconds") - total).abs() < 1e-9);
    assert!((f("lower_bound_seconds") - longest.max(total / 4.0)).abs() < 1e-9);
    assert!(
        f("makespan_seconds") + 0.01 >= f("lower_bound_seconds"),
        "{bill}"
    );

    // The report's bill plans a later run's order (by name and settings).
    let report_path = node.run_dir("a").join("report.json");
    let out = node
        .run("c", &["--dry-run", "--estimates-from"])
        .arg(&report_path)
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let line = text
        .lines()
        .find(|l| l.contains(". baseline "))
        .unwrap_or_default();
    let wall = common::config(&m, "baseline")["seconds"]
        .as_f64()
        .expect("seconds");
    assert!(
        line.contains("measured in") && line.contains(&format!("~{wall:.1} s")),
        "{text}"
    );

    // A second run, analysed: compare shows the cost next to the speed.
    node.run("b", &["--serial"]).assert().success();
    node.compat()
        .args(["analyze", "--results-dir"])
        .arg(node.run_dir("b"))
        .assert()
        .success();
    node.compat()
        .arg("compare")
        .arg(node.run_dir("a").join("report.json"))
        .arg(node.run_dir("b").join("report.json"))
        .assert()
        .stdout(predicate::str::contains("cost B vs A: GPU-seconds"))
        .stdout(predicate::str::contains("makespan"));
}
