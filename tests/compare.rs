//! `compat compare` on hand-made reports: every verdict, `--best` (per GPU
//! count, `--allow-warn`), the refusal and `--force`, the schema check, a
//! directory in place of its report.json, the JSON and Markdown outputs, and
//! the exit codes 0/1/2.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use compat::registry::Thresholds;
use compat::report::model::{
    ConfigResult, Interval, Report, RunInfo, SCHEMA_VERSION, Status, Summary,
};
use predicates::prelude::*;

/// A config: mean time `t` ms against a 1000 ms baseline, with a speedup
/// interval ±`rel` (relative) when given.
fn cfg(name: &str, gpus: u32, status: Status, t: Option<f64>, rel: Option<f64>) -> ConfigResult {
    let speedup = t.map(|t| 1000.0 / t);
    ConfigResult {
        name: name.into(),
        role: compat::matrix::Role::Addon,
        features: name.split('+').map(str::to_string).collect(),
        total_gpus: gpus,
        is_lossy: false,
        compat_status: status,
        reason: None,
        thresholds: Thresholds::default(),
        mean_gen_time_ms: t,
        speedup,
        speedup_ci: speedup.zip(rel).map(|(s, r)| Interval {
            low: s * (1.0 - r),
            high: s * (1.0 + r),
        }),
        speedup_significant: None,
        speedup_method: None,
        timing: None,
        load_seconds: None,
        mean_diff_avg: Some(0.001),
        max_diff_avg: Some(0.01),
        psnr_avg: None,
        ssim_avg: None,
        changed_share_avg: None,
        identical_prompts: 0,
        worst_prompt: None,
        vs_baseline_feature: None,
        concurrent_with: vec![],
        peak_memory_bytes: Default::default(),
        engine_memory_peak_bytes: Default::default(),
        work: Default::default(),
        work_by_branch: Default::default(),
        cross_branch: Default::default(),
        args: vec![],
        devices: vec![],
        vs_parents: vec![],
        engine: None,
        notes: vec![],
        log_tail: None,
        metrics: Default::default(),
        prompts: vec![],
    }
}

fn report(results: Vec<ConfigResult>) -> Report {
    Report {
        schema_version: SCHEMA_VERSION,
        tool: "compat".into(),
        tool_version: "0.1.0".into(),
        generated: "2025-01-01T00:00:00Z".into(),
        results_dir: "x".into(),
        layout: "compat".into(),
        registry: "built-in".into(),
        run: RunInfo {
            backend: Some("reference".into()),
            settings: Some(compat::settings::Settings {
                model: "ref-dit".into(),
                steps: 20,
                height: 64,
                width: 64,
                cfg_scale: 4.0,
                guidance_scale: None,
                seed: 42,
                negative_prompt: String::new(),
                warmup: 1,
            }),
            prompts: (0..3).map(|i| format!("prompt {i}")).collect(),
            num_prompts: 3,
            ..RunInfo::default()
        },
        thresholds: Thresholds::default(),
        baseline: Some("baseline".into()),
        baseline_feature: Some("cfg_parallel".into()),
        ssim_downsample: 1,
        baseline_repeat: None,
        metrics: vec![],
        bill: None,
        summary: Summary::default(),
        results,
    }
}

/// Writes `r` as `dir/name/report.json` and returns that directory.
fn write(dir: &Path, name: &str, r: &Report) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).expect("mkdir");
    let text = serde_json::to_string_pretty(r).expect("serialise");
    std::fs::write(d.join("report.json"), text).expect("write");
    d
}

fn compat() -> Command {
    let mut c = Command::cargo_bin("compat").expect("binary");
    c.env("NO_COLOR", "1");
    c
}

/// "Before": every kind of config, tight intervals (±1%).
fn before() -> Report {
    report(vec![
        cfg("baseline", 1, Status::Pass, Some(1000.0), Some(0.01)),
        cfg("cfg_parallel", 2, Status::Pass, Some(520.0), Some(0.01)),
        cfg(
            "cfg_parallel+teacache",
            2,
            Status::Pass,
            Some(300.0),
            Some(0.01),
        ),
        cfg(
            "cfg_parallel+ulysses",
            4,
            Status::Pass,
            Some(400.0),
            Some(0.01),
        ),
        cfg(
            "cfg_parallel+ring",
            4,
            Status::Fail,
            Some(450.0),
            Some(0.01),
        ),
        cfg("cfg_parallel+tp", 8, Status::Skip, None, None),
        cfg(
            "cfg_parallel+cache_dit",
            2,
            Status::Warn,
            Some(280.0),
            Some(0.01),
        ),
        cfg("noisy", 1, Status::Pass, Some(900.0), Some(0.3)),
        cfg("old_feature", 2, Status::Pass, Some(500.0), Some(0.01)),
    ])
}

/// "After": Improved, Unchanged, Regressed (status and speed), NotComparable,
/// New, Missing.
fn after() -> Report {
    report(vec![
        cfg("baseline", 1, Status::Pass, Some(1005.0), Some(0.01)), // within noise
        cfg("cfg_parallel", 2, Status::Pass, Some(400.0), Some(0.01)), // faster
        cfg(
            "cfg_parallel+teacache",
            2,
            Status::Fail,
            Some(250.0),
            Some(0.01),
        ), // PASS → FAIL
        cfg(
            "cfg_parallel+ulysses",
            4,
            Status::Pass,
            Some(480.0),
            Some(0.01),
        ), // 20% slower
        cfg(
            "cfg_parallel+ring",
            4,
            Status::Pass,
            Some(450.0),
            Some(0.01),
        ), // FAIL → PASS
        cfg("cfg_parallel+tp", 8, Status::Pass, Some(200.0), Some(0.01)), // SKIP → PASS
        cfg(
            "cfg_parallel+cache_dit",
            2,
            Status::Warn,
            Some(150.0),
            Some(0.01),
        ),
        cfg("noisy", 1, Status::Pass, Some(1100.0), Some(0.3)), // overlapping: noise
        cfg(
            "cfg_parallel+fbcache",
            2,
            Status::Pass,
            Some(310.0),
            Some(0.01),
        ), // new
    ])
}

fn json_of(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).expect("valid JSON on stdout")
}

fn verdict_of(v: &serde_json::Value, name: &str) -> String {
    v["configs"]
        .as_array()
        .expect("configs")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no row {name}"))["changes"][0]["verdict"]
        .as_str()
        .expect("verdict")
        .to_string()
}

#[test]
fn every_verdict() {
    let t = tempfile::tempdir().expect("tempdir");
    let a = write(t.path(), "a", &before());
    let b = write(t.path(), "b", &after());
    let out = compat()
        .args(["compare", "--json"])
        .arg(a.join("report.json"))
        .arg(&b)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json_of(&out);
    assert_eq!(v["schema_version"], 1);
    for (name, want) in [
        ("baseline", "Unchanged"),
        ("cfg_parallel", "Improved"),
        ("cfg_parallel+teacache", "Regressed"),
        ("cfg_parallel+ulysses", "Regressed"),
        ("cfg_parallel+ring", "Improved"),
        ("cfg_parallel+tp", "NotComparable"),
        ("cfg_parallel+cache_dit", "Improved"),
        ("noisy", "Unchanged"),
        ("old_feature", "Missing"),
        ("cfg_parallel+fbcache", "New"),
    ] {
        assert_eq!(verdict_of(&v, name), want, "{name}");
    }
    let s = &v["summary"][0];
    assert_eq!(s["improved"], 3);
    assert_eq!(s["regressed"], 2);
    assert_eq!(s["new"], 1);
    assert_eq!(s["missing"], 1);
    // Gate reasons are computed (not enforced without the flag).
    assert_eq!(v["gate"]["enabled"], false);
    let reasons = v["gate"]["reasons"].to_string();
    assert!(reasons.contains("status PASS → FAIL"), "{reasons}");
    assert!(reasons.contains("cfg_parallel+ulysses"), "{reasons}");
    assert!(
        reasons.contains("old_feature: missing, was PASS"),
        "{reasons}"
    );
    assert!(!reasons.contains("noisy"), "overlap is noise: {reasons}");
}

#[test]
fn table_shows_changes_and_notes() {
    let t = tempfile::tempdir().expect("tempdir");
    let a = write(t.path(), "a", &before());
    let b = write(t.path(), "b", &after());
    compat()
        .arg("compare")
        .arg(&a)
        .arg(&b)
        .assert()
        .success()
        .stdout(predicate::str::contains("PASS → FAIL"))
        .stdout(predicate::str::contains("SKIP → PASS: not comparable"))
        .stdout(predicate::str::contains("520.0 → 400.0 (-23.1%)"))
        .stdout(predicate::str::contains("gate (not enforced"));
}

#[test]
fn gate_exit_codes() {
    let t = tempfile::tempdir().expect("tempdir");
    let a = write(t.path(), "a", &before());
    let b = write(t.path(), "b", &after());
    compat()
        .args(["compare", "--fail-on-regression"])
        .arg(&a)
        .arg(&b)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("gate FAILED"));
    // A report against itself passes the gate.
    compat()
        .args(["compare", "--fail-on-regression"])
        .arg(&a)
        .arg(&a)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("gate passed"));
}

#[test]
fn only_pass_to_fail_fails_the_gate() {
    let t = tempfile::tempdir().expect("tempdir");
    let r = before();
    let a = write(t.path(), "a", &r);
    let mut edited = r.clone();
    edited.results[1].compat_status = Status::Fail;
    let b = write(t.path(), "b", &edited);
    compat()
        .args(["compare", "--fail-on-regression"])
        .arg(&a)
        .arg(&b)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "B: cfg_parallel: status PASS → FAIL",
        ));
}

#[test]
fn max_slowdown_sets_the_speed_limit() {
    let t = tempfile::tempdir().expect("tempdir");
    let a = write(
        t.path(),
        "a",
        &report(vec![cfg("x", 1, Status::Pass, Some(1000.0), Some(0.005))]),
    );
    let b = write(
        t.path(),
        "b",
        &report(vec![cfg("x", 1, Status::Pass, Some(1080.0), Some(0.005))]),
    );
    // 8% slower: beyond the default 5%.
    compat()
        .args(["compare", "--fail-on-regression"])
        .arg(&a)
        .arg(&b)
        .assert()
        .code(1);
    for limit in ["10%", "0.1"] {
        compat()
            .args(["compare", "--fail-on-regression", "--max-slowdown", limit])
            .arg(&a)
            .arg(&b)
            .assert()
            .code(0);
    }
    compat()
        .args(["compare", "--max-slowdown", "5"])
        .arg(&a)
        .arg(&b)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("ambiguous"));
}

#[test]
fn missing_failing_config_is_no_regression() {
    let t = tempfile::tempdir().expect("tempdir");
    let a = write(
        t.path(),
        "a",
        &report(vec![
            cfg("baseline", 1, Status::Pass, Some(1000.0), Some(0.01)),
            cfg("broken", 1, Status::Error, None, None),
        ]),
    );
    let b = write(
        t.path(),
        "b",
        &report(vec![cfg(
            "baseline",
            1,
            Status::Pass,
            Some(1000.0),
            Some(0.01),
        )]),
    );
    compat()
        .args(["compare", "--fail-on-regression"])
        .arg(&a)
        .arg(&b)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Missing"));
}

#[test]
fn best_per_report_overall_and_per_gpu_count() {
    let t = tempfile::tempdir().expect("tempdir");
    let a = write(t.path(), "a", &before());
    let b = write(t.path(), "b", &after());
    let out = compat()
        .args(["compare", "--best", "--json"])
        .arg(&a)
        .arg(&b)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json_of(&out);
    let best = &v["best"];
    // A: teacache (PASS, 300 ms) — cache_dit is faster but WARN.
    assert_eq!(
        best["per_report"][0]["fastest"]["name"],
        "cfg_parallel+teacache"
    );
    // B: the 8-GPU tp (200 ms); teacache now FAILs, cache_dit is WARN.
    assert_eq!(best["per_report"][1]["fastest"]["name"], "cfg_parallel+tp");
    assert_eq!(best["overall"]["report"], "B");
    let per: Vec<(u64, String)> = best["overall_per_gpus"]
        .as_array()
        .expect("per gpus")
        .iter()
        .map(|p| {
            (
                p["total_gpus"].as_u64().expect("gpus"),
                format!(
                    "{}:{}",
                    p["report"].as_str().expect("r"),
                    p["name"].as_str().expect("n")
                ),
            )
        })
        .collect();
    assert_eq!(
        per,
        vec![
            (1, "A:noisy".to_string()),
            (2, "A:cfg_parallel+teacache".to_string()),
            (4, "A:cfg_parallel+ulysses".to_string()),
            (8, "B:cfg_parallel+tp".to_string()),
        ]
    );

    // --allow-warn: cache_dit (WARN, 150 ms in B) wins the 2-GPU slot.
    let out = compat()
        .args(["compare", "--best", "--allow-warn", "--json"])
        .arg(&a)
        .arg(&b)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json_of(&out);
    assert_eq!(
        v["best"]["per_report"][0]["fastest"]["name"],
        "cfg_parallel+cache_dit"
    );
    assert_eq!(
        v["best"]["overall_per_gpus"][1]["name"],
        "cfg_parallel+cache_dit"
    );
    assert_eq!(v["best"]["overall_per_gpus"][1]["report"], "B");

    // And in the table.
    compat()
        .args(["compare", "--best"])
        .arg(&a)
        .arg(&b)
        .assert()
        .success()
        .stdout(predicate::str::contains("Best (PASS"))
        .stdout(predicate::str::contains("overall: B: cfg_parallel+tp"))
        .stdout(predicate::str::contains("Best per GPU count"));
}

#[test]
fn different_workloads_are_refused_unless_forced() {
    let t = tempfile::tempdir().expect("tempdir");
    let a = write(t.path(), "a", &before());
    let mut other = after();
    other.run.settings.as_mut().expect("settings").steps = 30;
    other.run.num_prompts = 10;
    other.run.prompts = (0..10).map(|i| format!("prompt {i}")).collect();
    let b = write(t.path(), "b", &other);
    compat()
        .arg("compare")
        .arg(&a)
        .arg(&b)
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(
            "differ in steps (20 vs 30) and prompts (3 vs 10); pass --force to compare anyway",
        ));
    compat()
        .args(["compare", "--force"])
        .arg(&a)
        .arg(&b)
        .assert()
        .success()
        .stdout(predicate::str::contains("warning: reports A"))
        .stdout(predicate::str::contains("compared under --force"));
}

#[test]
fn same_count_different_prompts_and_model_are_refused() {
    let t = tempfile::tempdir().expect("tempdir");
    let a = write(t.path(), "a", &before());
    let mut other = before();
    other.run.prompts[1] = "a different prompt".into();
    let s = other.run.settings.as_mut().expect("settings");
    s.model = "other-model".into();
    s.width = 128;
    let b = write(t.path(), "b", &other);
    compat()
        .arg("compare")
        .arg(&a)
        .arg(&b)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "model (ref-dit vs other-model), size (64×64 vs 128×64) and prompts (1 of 3 differ)",
        ));
}

#[test]
fn unknown_schema_version_is_refused_unless_forced() {
    let t = tempfile::tempdir().expect("tempdir");
    let a = write(t.path(), "a", &before());
    let mut newer = before();
    newer.schema_version = 99;
    let b = write(t.path(), "b", &newer);
    compat()
        .arg("compare")
        .arg(&a)
        .arg(&b)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("schema version 99"))
        .stderr(predicate::str::contains("--force"));
    compat()
        .args(["compare", "--force"])
        .arg(&a)
        .arg(&b)
        .assert()
        .success()
        .stdout(predicate::str::contains("schema version 99"));
}

#[test]
fn bad_inputs_exit_2() {
    let t = tempfile::tempdir().expect("tempdir");
    let a = write(t.path(), "a", &before());
    // Only one report.
    compat().arg("compare").arg(&a).assert().code(2);
    // Not there.
    compat()
        .arg("compare")
        .arg(&a)
        .arg(t.path().join("nope"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no report.json"));
    // Not a report.
    let junk = t.path().join("junk.json");
    std::fs::write(&junk, "{\"hello\": 1}").expect("write");
    compat()
        .arg("compare")
        .arg(&a)
        .arg(&junk)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a compat report.json"));
}

#[test]
fn output_dir_with_one_run_is_accepted() {
    // `compat run --output-dir OUT` writes OUT/<baseline_feature>/report.json.
    let t = tempfile::tempdir().expect("tempdir");
    let out_a = t.path().join("outA");
    write(&out_a, "cfg_parallel", &before());
    let b = write(t.path(), "b", &before());
    compat()
        .args(["compare", "--fail-on-regression"])
        .arg(&out_a)
        .arg(&b)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("cfg_parallel/report.json"));
}

#[test]
fn three_reports_and_markdown() {
    let t = tempfile::tempdir().expect("tempdir");
    let a = write(t.path(), "a", &before());
    let b = write(t.path(), "b", &after());
    let c = write(t.path(), "c", &before());
    let md = t.path().join("cmp.md");
    compat()
        .args(["compare", "--best", "--markdown"])
        .arg(&md)
        .arg(&a)
        .arg(&b)
        .arg(&c)
        .assert()
        .success()
        .stdout(predicate::str::contains("B Regressed, C Unchanged"))
        .stdout(predicate::str::contains("C vs A: 0 improved"));
    let text = std::fs::read_to_string(&md).expect("markdown written");
    assert!(text.starts_with("## compat compare: ❌"), "{text}");
    assert!(text.contains("✅ PASS → ❌ FAIL → ✅ PASS"), "{text}");
    assert!(text.contains("🔴 **Regressed**"), "{text}");
    assert!(text.contains("### Best (PASS)"), "{text}");
}

/// Runs built on different baseline features (or one without any) line
/// their configs up under other roles: compared, with a warning naming it.
#[test]
fn different_baseline_features_are_a_warning() {
    let t = tempfile::tempdir().expect("tempdir");
    let a = write(t.path(), "a", &before());
    let mut other = after();
    other.baseline_feature = None;
    let b = write(t.path(), "b", &other);
    compat()
        .arg("compare")
        .arg(&a)
        .arg(&b)
        .assert()
        .stdout(predicate::str::contains(
            "baseline feature (cfg_parallel vs none)",
        ));
}
