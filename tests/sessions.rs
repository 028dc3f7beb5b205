//! Issue 24, part 2: shared model loads (docs/sessions.md). The real binary
//! runs the test double (tests/fixtures/fake_backend.py) in its session form:
//! one process for the configurations that differ only in switchable
//! features, their verdicts equal to one process each, the contamination
//! check, a crash in the middle, `--resume`, `--dry-run`, `--no-share-load`.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

use common::{config, read_json};

/// Two backends over the test double: `fake` switches its caches cleanly,
/// `leaky` forgets to switch `--shift` off (a hook left attached).
fn registry(dir: &Path) -> PathBuf {
    let backend = |name: &str, extra: &str| {
        format!(
            r#"
[backends.{name}]
command = ["python3", "{fake}", "--prompt-file", "{{prompt_file}}", "--output", "{{output_dir}}",
           "--seed", "{{seed}}", "--load-seconds", "0.3"{extra}]
model = "fake-model"
switchable = ["shifty", "halfwork", "crashy"]

[backends.{name}.defaults]
num_prompts = 3
steps = 2
"#,
            fake = common::fake_backend().display()
        )
    };
    let text = format!(
        r#"
default_backend = "fake"
{}
{}
[features.par]
args = ["--par", "2"]
gpus = 2
category = "parallelism"

[features.shifty]
args = ["--shift", "1"]
lossy = true
category = "cache"
addon_only = true

[features.halfwork]
args = ["--work", "40"]
category = "cache"
addon_only = true

[features.crashy]
args = ["--crash-after", "1"]
category = "cache"
addon_only = true
"#,
        backend("fake", ""),
        backend("leaky", ", \"--leak\"")
    ) + &backend("flippy", ", \"--flip\", \"30\"");
    let path = dir.join("features.toml");
    std::fs::write(&path, text).expect("write registry");
    path
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        registry(dir.path());
        Env { dir }
    }

    fn run(&self, out: &str, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("compat").expect("binary");
        c.current_dir(self.dir.path())
            .env_remove("CUDA_VISIBLE_DEVICES")
            .env("NO_COLOR", "1")
            .args(["run", "--gpus", "2", "--output-dir", out])
            .args(args);
        c
    }

    fn out(&self, out: &str, name: &str) -> PathBuf {
        self.dir.path().join(out).join(name)
    }

    /// Points backend `fake` at a Python script of `code` instead of the
    /// test double (a backend that misbehaves in one particular way).
    fn backend_script(&self, file: &str, code: &str) {
        let script = self.dir.path().join(file);
        std::fs::write(&script, code).expect("write script");
        let path = self.dir.path().join("features.toml");
        let text = std::fs::read_to_string(&path).expect("registry");
        let text = text.replacen(
            &format!("\"python3\", \"{}\"", common::fake_backend().display()),
            &format!("\"python3\", \"{}\"", script.display()),
            1,
        );
        std::fs::write(&path, text).expect("write registry");
    }
}

/// A configuration's row in report.json.
fn result<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["results"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == name))
        .unwrap_or_else(|| panic!("no {name} in the report"))
}

/// A configuration's error in manifest.json ("" without one).
fn error_of(m: &Value, name: &str) -> String {
    config(m, name)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["compat_status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn loads(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("results.jsonl"))
        .expect("results.jsonl")
        .lines()
        .filter(|l| l.contains("\"event\": \"load\""))
        .count()
}

#[test]
fn one_load_runs_the_caches_with_the_verdicts_of_separate_processes() {
    let env = Env::new();
    let addons = ["--addons", "shifty", "halfwork", "--analyze"];
    let shared = env.run("shared", &addons).output().expect("runs");
    let alone = env
        .run("alone", &[&addons[..], &["--no-share-load"]].concat())
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&shared.stdout);
    assert_eq!(shared.status.code(), alone.status.code(), "{stdout}");

    // The same verdicts, the same images.
    let r_shared = read_json(&env.out("shared", "baseline").join("report.json"));
    let r_alone = read_json(&env.out("alone", "baseline").join("report.json"));
    assert_eq!(statuses(&r_shared), statuses(&r_alone));
    assert_eq!(statuses(&r_shared).len(), 3);
    for c in ["baseline", "shifty", "halfwork"] {
        for p in ["prompt_00.png", "prompt_02.png"] {
            let a = std::fs::read(env.out("shared", "baseline").join(c).join(p));
            let b = std::fs::read(env.out("alone", "baseline").join(c).join(p));
            assert_eq!(a.ok(), b.ok(), "{c}/{p}");
        }
    }

    // One process, one load; the check ran and passed.
    let run = env.out("shared", "baseline");
    let m = read_json(&run.join("manifest.json"));
    let s = &m["sessions"][0];
    assert_eq!(s["base"], "baseline");
    assert_eq!(
        s["members"],
        serde_json::json!(["baseline", "shifty", "halfwork"])
    );
    assert_eq!(s["check"]["result"], "identical", "{s}");
    assert!(s["check_seconds"].as_f64().is_some_and(|x| x > 0.0), "{s}");
    assert_eq!(m["sessions"].as_array().map(Vec::len), Some(1));
    assert_eq!(loads(&run.join("baseline")), 1);
    assert_eq!(loads(&run.join("shifty")), 0);
    assert_eq!(loads(&run.join("halfwork")), 0);
    assert!(run.join("sessions/baseline.check/prompt_00.png").is_file());
    for c in ["baseline", "shifty", "halfwork"] {
        let e = config(&m, c);
        assert_eq!(e["state"], "completed", "{e}");
        assert_eq!(e["session"], "baseline", "{e}");
        let argv: Vec<&str> = e["argv"]
            .as_array()
            .expect("argv")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(argv.contains(&"--session"), "{argv:?}");
    }
    // Spans one after another, not all the process's.
    // RFC 3339 in UTC to the millisecond: the strings order as the times.
    let t = |c: &str, k: &str| config(&m, c)[k].as_str().expect("time").to_string();
    assert!(t("baseline", "finished") <= t("shifty", "started"));
    assert!(t("shifty", "finished") <= t("halfwork", "started"));
    assert!(
        config(&m, "shifty")["concurrent_with"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{}",
        config(&m, "shifty")
    );

    // The bill: one load paid, two avoided; the check priced.
    assert!(stdout.contains("1 model load(s), 2 avoided"), "{stdout}");
    assert!(stdout.contains("session checks"), "{stdout}");
    let bill = &r_shared["bill"];
    assert_eq!(
        (bill["loads"].as_u64(), bill["loads_avoided"].as_u64()),
        (Some(1), Some(2)),
        "{bill}"
    );
    assert!(
        bill["check_gpu_seconds"].as_f64().is_some_and(|x| x > 0.0),
        "{bill}"
    );
    // The check's time is in the makespan as in the GPU-seconds: no packing
    // better than the bound.
    let (span, bound) = (
        bill["makespan_seconds"].as_f64(),
        bill["lower_bound_seconds"].as_f64(),
    );
    assert!(
        span.zip(bound).is_some_and(|(s, b)| s >= b - 1e-3),
        "{bill}"
    );
    let alone_bill = &r_alone["bill"];
    assert_eq!(
        (
            alone_bill["loads"].as_u64(),
            alone_bill["loads_avoided"].as_u64()
        ),
        (Some(3), Some(0))
    );
    let alone_m = read_json(&env.out("alone", "baseline").join("manifest.json"));
    assert!(alone_m.get("sessions").is_none(), "{alone_m}");
    assert_eq!(loads(&env.out("alone", "baseline").join("shifty")), 1);
}

#[test]
fn a_leaking_session_makes_every_config_error() {
    let env = Env::new();
    let out = env
        .run(
            "leak",
            &[
                "--backend",
                "leaky",
                "--addons",
                "shifty",
                "halfwork",
                "--analyze",
            ],
        )
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let run = env.out("leak", "baseline");
    let m = read_json(&run.join("manifest.json"));
    assert_eq!(m["sessions"][0]["check"]["result"], "differs");
    assert_eq!(
        m["sessions"][0]["check"]["prompts"],
        serde_json::json!([0, 1, 2])
    );
    let why = "state leaked between configurations (session baseline: prompts 0, 1, 2 of the base's \
               second run differ from its first)";
    let r = read_json(&run.join("report.json"));
    for c in ["baseline", "shifty", "halfwork"] {
        assert_eq!(config(&m, c)["error"], why, "{c}");
        assert_eq!(result(&r, c)["compat_status"], "ERROR", "{c}");
    }
    // Without the leak the same matrix passes its check (above); with
    // separate processes the leaky backend has nothing to leak into.
    let out = env
        .run(
            "leak-alone",
            &[
                "--backend",
                "leaky",
                "--addons",
                "shifty",
                "halfwork",
                "--no-share-load",
            ],
        )
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_crash_costs_the_unfinished_and_the_unverified_and_resume_reruns_them() {
    let env = Env::new();
    let args = ["--addons", "shifty", "halfwork", "crashy"];
    let out = env.run("crash", &args).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    // Each member announced once, as it started (not again at the end).
    let stderr = String::from_utf8_lossy(&out.stderr);
    for c in ["baseline", "shifty", "halfwork", "crashy"] {
        assert_eq!(
            stderr.matches(&format!("] {c}: started")).count(),
            1,
            "{c}: {stderr}"
        );
    }
    assert!(stderr.contains("[4/4] crashy: started"), "{stderr}");
    let run = env.out("crash", "baseline");
    let m = read_json(&run.join("manifest.json"));
    let state = |m: &Value, c: &str| {
        config(m, c)["state"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    // The base and the first member ran as a process of their own would.
    assert_eq!(state(&m, "baseline"), "completed");
    assert_eq!(state(&m, "shifty"), "completed");
    // halfwork finished, but the check that would vouch for it never ran.
    assert_eq!(state(&m, "halfwork"), "failed");
    let err = error_of(&m, "halfwork");
    assert!(
        err.starts_with("not verified: session baseline's contamination check did not run"),
        "{err}"
    );
    assert_eq!(state(&m, "crashy"), "failed");
    let err = error_of(&m, "crashy");
    assert!(err.contains("RuntimeError: CUDA out of memory"), "{err}");
    assert_eq!(m["sessions"][0]["check"]["result"], "not_run");

    // --resume keeps what is trusted and reruns the rest, each alone (the
    // base is complete: no session to check them against).
    let out = env
        .run("crash", &[&args[..], &["--resume"]].concat())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let m2 = read_json(&run.join("manifest.json"));
    assert_eq!(
        config(&m2, "baseline")["started"],
        config(&m, "baseline")["started"]
    );
    assert_eq!(
        config(&m2, "shifty")["started"],
        config(&m, "shifty")["started"]
    );
    assert_eq!(state(&m2, "halfwork"), "completed");
    assert!(config(&m2, "halfwork").get("session").is_none());
    assert_eq!(loads(&run.join("halfwork")), 1);
    assert_eq!(state(&m2, "crashy"), "failed");
    // The kept session's record stays with the configurations it judged.
    assert_eq!(m2["sessions"][0]["base"], "baseline");
}

#[test]
fn dry_run_shows_the_session_and_share_load_groups_by_layout() {
    let env = Env::new();
    let out = env
        .run(
            "dry",
            &[
                "--baseline",
                "par",
                "--addons",
                "shifty",
                "halfwork",
                "--dry-run",
            ],
        )
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    // The pure baseline has no switchable sibling in this matrix: alone.
    assert!(
        stdout
            .contains("session par  (2 GPUs, one model load for 3 configurations, then par again"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 session(s), 2 model load(s) avoided"),
        "{stdout}"
    );
    let out = env
        .run(
            "dry",
            &[
                "--baseline",
                "par",
                "--addons",
                "shifty",
                "--dry-run",
                "--no-share-load",
            ],
        )
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("session"), "{stdout}");
}

#[test]
fn with_a_repeated_baseline_the_check_is_judged_against_the_noise_floor() {
    let env = Env::new();
    // A leak on a deterministic engine: its floor is 0, the leak beyond it.
    let out = env
        .run(
            "floor-leak",
            &[
                "--backend",
                "leaky",
                "--repeat-baseline",
                "--addons",
                "shifty",
                "--analyze",
            ],
        )
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let run = env.out("floor-leak", "baseline");
    let m = read_json(&run.join("manifest.json"));
    // The executor leaves the verdict to the analysis: the configs completed.
    assert_eq!(m["sessions"][0]["check"]["result"], "differs");
    assert_eq!(config(&m, "shifty")["state"], "completed");
    assert!(config(&m, "baseline.repeat").get("session").is_none());
    let r = read_json(&run.join("report.json"));
    for c in ["baseline", "shifty"] {
        let x = result(&r, c);
        assert_eq!(x["compat_status"], "ERROR", "{x}");
        let why = x["reason"].as_str().unwrap_or_default();
        assert!(
            why.starts_with("state leaked between configurations (session baseline: prompts 0, 1, 2")
                && why.contains("beyond the engine's noise floor (prompt 0: MeanDiff 0.0013, MaxDiff 0.0039; floor 0.0000, 0.0000)"),
            "{why}"
        );
    }
    assert_eq!(result(&r, "baseline.repeat")["compat_status"], "PASS");

    // An engine that differs from itself from run to run: the check's
    // difference is that noise, within the floor the repeat measured.
    let out = env
        .run(
            "floor-noise",
            // One after another, the repeat first: the double's run counter
            // then makes the repeat (run 0), base (1) and check (3) differ
            // from each other on the same prompts by the same amount.
            &[
                "--backend",
                "flippy",
                "--repeat-baseline",
                "--addons",
                "halfwork",
                "--analyze",
                "--serial",
                "--queue-order",
                "largest-first",
            ],
        )
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let run = env.out("floor-noise", "baseline");
    let m = read_json(&run.join("manifest.json"));
    assert_eq!(m["sessions"][0]["check"]["result"], "differs", "{stdout}");
    let r = read_json(&run.join("report.json"));
    for c in ["baseline", "halfwork"] {
        let x = result(&r, c);
        assert_ne!(x["compat_status"], "ERROR", "{x}");
        let notes = x["notes"].to_string();
        assert!(notes.contains("session baseline: the base's second run differs from its first within the engine's noise floor"), "{notes}");
    }
}

#[test]
fn a_backend_that_ignores_the_session_file_is_told_why() {
    let env = Env::new();
    // The command drops --session: a backend without the session mode.
    env.backend_script(
        "no_session.py",
        &format!(
            "import os, sys\nargv = sys.argv[1:]\ni = argv.index('--session')\ndel argv[i:i + 2]\n\
             os.execvp('python3', ['python3', {:?}] + argv)\n",
            common::fake_backend().display().to_string()
        ),
    );
    let out = env
        .run("ignored", &["--addons", "shifty"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let m = read_json(&env.out("ignored", "baseline").join("manifest.json"));
    let err = error_of(&m, "baseline");
    assert!(
        err.contains("must run the session file it is given (--session"),
        "{err}"
    );
    let err = error_of(&m, "shifty");
    assert!(
        err.starts_with("not run: the session's process ended before it"),
        "{err}"
    );
}

/// A folder that lies must not hang compat: a backend that leaves a FIFO
/// where results.jsonl should be (compat's sweeps read that file every
/// 250 ms, on the one thread that runs every job).
#[test]
fn a_fifo_for_results_jsonl_does_not_hang_the_run() {
    let env = Env::new();
    env.backend_script(
        "fifo_backend.py",
        "import os, sys, time\nout = sys.argv[sys.argv.index('--output') + 1]\nos.makedirs(out, exist_ok=True)\n\
         os.mkfifo(os.path.join(out, 'results.jsonl'))\ntime.sleep(1)\n",
    );
    let out = env
        .run("fifo", &["--addons", "shifty"])
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = read_json(&env.out("fifo", "baseline").join("manifest.json"));
    assert_eq!(config(&m, "baseline")["state"], "failed");
    assert_eq!(config(&m, "shifty")["state"], "failed");
}

/// A member's verdict rests on its session's check: when `--resume` reruns
/// the base (it failed by itself), the members it vouched for run again with
/// it, never kept without their check.
#[test]
fn resume_never_keeps_a_member_without_its_sessions_check() {
    let env = Env::new();
    let args = [
        "--backend",
        "leaky",
        "--repeat-baseline",
        "--addons",
        "shifty",
        "halfwork",
        "--analyze",
    ];
    let out = env.run("resume-check", &args).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let run = env.out("resume-check", "baseline");
    let status = |c: &str| result(&read_json(&run.join("report.json")), c)["compat_status"].clone();
    assert_eq!(status("halfwork"), "ERROR");
    // The base fails by itself (an out-of-memory on one prompt, say): as a
    // crashed base is recorded.
    let path = run.join("manifest.json");
    let mut m = read_json(&path);
    for c in m["configs"].as_array_mut().expect("configs") {
        if c["name"] == "baseline" {
            c["state"] = "failed".into();
            c["error"] = "backend exited with code 1: RuntimeError: CUDA out of memory".into();
        }
    }
    std::fs::write(&path, serde_json::to_vec(&m).expect("json")).expect("write");
    let out = env
        .run("resume-check", &[&args[..], &["--resume"]].concat())
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let m = read_json(&path);
    // The members ran again, in a new session with the base, and its check
    // judged them again.
    for c in ["baseline", "shifty", "halfwork"] {
        assert_eq!(config(&m, c)["session"], "baseline", "{c}");
        assert_eq!(status(c), "ERROR", "{c}");
    }
    assert_eq!(m["sessions"].as_array().map(Vec::len), Some(1));
    assert_eq!(m["sessions"][0]["check"]["result"], "differs");
}
