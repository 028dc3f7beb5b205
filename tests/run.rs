//! End-to-end tests of `compat run` with a test-double backend
//! (tests/fixtures/fake_backend.py), in temporary directories.

mod common;

use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::*;
use predicates::prelude::*;
use serde_json::Value;

#[test]
fn normal_run_writes_the_layout_with_skips() {
    let env = Env::new();
    env.run(&[
        "--baseline",
        "par",
        "--addons",
        "lossy",
        "big",
        "--gpus",
        "2",
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains(
        "requires 8 GPUs, only 2 available",
    ));
    let out = env.out("par");
    let m = env.manifest("par");
    assert_eq!(m["prompts"].as_array().map(Vec::len), Some(3));
    assert_eq!(m["devices"]["source"], "--gpus");
    let names: Vec<&str> = m["configs"]
        .as_array()
        .expect("configs")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["baseline", "par", "par+lossy", "par+big"]);
    let big = config(&m, "par+big");
    assert_eq!(big["state"], "skipped");
    assert_eq!(big["skip_reason"], "requires 8 GPUs, only 2 available");
    assert!(
        !out.join("par+big").exists(),
        "a skipped config gets no folder"
    );

    for name in ["baseline", "par", "par+lossy"] {
        let c = config(&m, name);
        assert_eq!(c["state"], "completed", "{c}");
        assert_eq!(c["prompts_ok"], 3);
        let dir = out.join(name);
        for f in [
            "config_info.json",
            "batch_generation.log",
            "batch_generation.exitcode",
            "results.jsonl",
        ] {
            assert!(dir.join(f).is_file(), "{name}/{f}");
        }
        for i in 0..3 {
            assert!(dir.join(format!("prompt_{i:02}.png")).is_file());
            assert_eq!(
                std::fs::read_to_string(dir.join(format!("prompt_{i:02}.exitcode"))).expect("code"),
                "0\n"
            );
        }
        assert_eq!(
            std::fs::read_to_string(dir.join("batch_generation.exitcode")).expect("code"),
            "0\n"
        );
    }
    let info = read_json(&out.join("par+lossy/config_info.json"));
    assert_eq!(info["total_gpus"], 2);
    assert_eq!(info["is_lossy"], true);
    assert_eq!(
        info["extra_args"],
        serde_json::json!(["--par", "2", "--lossy"])
    );
    assert_eq!(info["role"], "addon");
    // Devices reach the backend; seeds are the run's.
    let seen = read_json(&out.join("par/argv.json"));
    assert_eq!(seen["CUDA_VISIBLE_DEVICES"], "0,1");
    assert_eq!(seen["COMPAT_DEVICES"], "0,1");
    assert_eq!(
        std::fs::read_to_string(out.join("prompts.txt"))
            .expect("prompts")
            .lines()
            .count(),
        3
    );
    // Prompt i uses seed + i: the double paints green = seed + i.
    let green = image::open(out.join("baseline/prompt_02.png"))
        .expect("png")
        .to_rgb8()
        .get_pixel(0, 0)[1];
    assert_eq!(green, 44);
}

#[test]
fn crashing_backend_costs_one_config() {
    let env = Env::new();
    env.run(&[
        "--baseline",
        "par",
        "--addons",
        "crash",
        "lossy",
        "--gpus",
        "2",
    ])
    .assert()
    .code(1);
    let m = env.manifest("par");
    let crash = config(&m, "par+crash");
    assert_eq!(crash["state"], "failed");
    assert_eq!(crash["exit_code"], 1);
    let err = crash["error"].as_str().expect("error");
    assert!(
        err.contains("exited with code 1") && err.contains("CUDA out of memory"),
        "{err}"
    );
    assert_eq!(
        config(&m, "par+lossy")["state"],
        "completed",
        "later configs still run"
    );
    let dir = env.out("par").join("par+crash");
    assert_eq!(
        std::fs::read_to_string(dir.join("prompt_00.exitcode")).expect("code"),
        "0\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("prompt_01.exitcode")).expect("code"),
        "1\n"
    );
    assert_eq!(read_json(&dir.join("config_info.json"))["state"], "failed");
}

#[test]
fn hanging_backend_times_out() {
    let env = Env::new();
    let t = Instant::now();
    env.run(&[
        "--baseline",
        "par",
        "--addons",
        "hang",
        "--gpus",
        "2",
        "--timeout",
        "2s",
        "--kill-grace",
        "1s",
    ])
    .assert()
    .code(1);
    assert!(t.elapsed() < Duration::from_secs(30));
    let m = env.manifest("par");
    let hang = config(&m, "par+hang");
    assert_eq!(hang["state"], "timed_out");
    assert_eq!(hang["error"], "timed out after 2s");
    assert_eq!(config(&m, "par")["state"], "completed");
    let log =
        std::fs::read_to_string(env.out("par").join("par+hang/batch_generation.log")).expect("log");
    assert!(
        log.contains("loading fake model") && log.contains("[compat] timed out after 2s"),
        "{log}"
    );
}

#[test]
fn log_only_backend_with_a_missing_image_keeps_prompts_aligned() {
    let env = Env::new();
    env.run(&["--baseline", "par", "--addons", "logonly", "--gpus", "2"])
        .assert()
        .code(1);
    let dir = env.out("par").join("par+logonly");
    // Prompt 1 made no image; prompts 0 and 2 keep their own (red = 10 × index).
    assert_eq!(red_of(&dir.join("prompt_00.png")), 0);
    assert!(!dir.join("prompt_01.png").exists());
    assert_eq!(red_of(&dir.join("prompt_02.png")), 20);
    assert_eq!(
        std::fs::read_to_string(dir.join("prompt_01.exitcode")).expect("code"),
        "1\n"
    );
    let m = env.manifest("par");
    let c = config(&m, "par+logonly");
    assert_eq!(c["state"], "failed");
    let error = c["error"].as_str().expect("error");
    assert!(
        error.contains("prompt 1") && error.contains("No images found for prompt 2"),
        "{c}"
    );
    // The runner wrote results.jsonl from the log's timings (the real
    // script's "(… ms)" suffix included).
    let jsonl = std::fs::read_to_string(dir.join("results.jsonl")).expect("jsonl");
    assert!(
        jsonl.contains("\"prompt\":2") && jsonl.contains("\"seconds\":0.1"),
        "{jsonl}"
    );
    // And the engine's own load line is the load (the bill's load GPU-s).
    assert!(
        jsonl.contains("{\"event\":\"load\",\"seconds\":0.5}"),
        "{jsonl}"
    );
}

#[test]
fn refuses_to_clobber_then_force_starts_over() {
    let env = Env::new();
    env.run(&["--baseline", "par", "--gpus", "2"])
        .assert()
        .success();
    let manifest = env.out("par").join("manifest.json");
    let before = std::fs::read(&manifest).expect("manifest");
    env.run(&["--baseline", "par", "--gpus", "2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--resume").and(predicate::str::contains("--force")));
    assert_eq!(
        std::fs::read(&manifest).expect("manifest"),
        before,
        "nothing overwritten"
    );
    env.run(&["--baseline", "par", "--gpus", "2", "--force"])
        .assert()
        .success();
}

#[test]
fn interrupt_then_resume_finishes_the_run() {
    let env = Env::new();
    let args = [
        "--baseline",
        "slow",
        "--addons",
        "par",
        "--gpus",
        "2",
        "--serial",
        "--num-prompts",
        "3",
    ];
    let child = env.spawn_run(&args);
    // Ctrl-C once the first configuration is done and the second is running.
    env.wait_for_manifest("slow", "a second configuration running", |m| {
        !in_state(m, "completed").is_empty() && !in_state(m, "running").is_empty()
    });
    let out = interrupt(child);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
    let m = env.manifest("slow");
    let states: Vec<&str> = m["configs"]
        .as_array()
        .expect("configs")
        .iter()
        .map(|c| c["state"].as_str().unwrap_or(""))
        .collect();
    assert!(states.contains(&"interrupted"), "{states:?}");
    assert!(states.contains(&"completed"), "{states:?}");
    let kept: Vec<(String, Value)> = m["configs"]
        .as_array()
        .expect("configs")
        .iter()
        .filter(|c| c["state"] == "completed")
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["started"].clone(),
            )
        })
        .collect();

    env.run(&[
        "--baseline",
        "slow",
        "--addons",
        "par",
        "--gpus",
        "2",
        "--serial",
        "--num-prompts",
        "3",
        "--resume",
    ])
    .assert()
    .success()
    .stderr(predicate::str::contains("already complete"));
    let m = env.manifest("slow");
    assert!(
        m["configs"]
            .as_array()
            .expect("configs")
            .iter()
            .all(|c| c["state"] == "completed"),
        "{m}"
    );
    for (name, started) in kept {
        assert_eq!(
            config(&m, &name)["started"],
            started,
            "{name} was not rerun"
        );
    }
}

#[test]
fn resume_reruns_configs_whose_inputs_changed() {
    let env = Env::new();
    env.run(&["--baseline", "par", "--gpus", "2"])
        .assert()
        .success();
    let first = env.manifest("par");
    std::thread::sleep(Duration::from_millis(1100));
    env.run(&[
        "--baseline",
        "par",
        "--gpus",
        "2",
        "--seed",
        "7",
        "--resume",
    ])
    .assert()
    .success();
    let second = env.manifest("par");
    assert_ne!(
        config(&first, "par")["started"],
        config(&second, "par")["started"]
    );
    assert_ne!(
        config(&first, "par")["fingerprint"],
        config(&second, "par")["fingerprint"]
    );
}

#[test]
fn hostile_prompts_reach_the_backend_byte_for_byte() {
    let env = Env::new();
    let prompts = "a \"quoted\" 'prompt' with $(touch pwned) and `id`\n<script>alert(1)</script> & ; | > x\nü 日本語 emoji 🎨 \\backslash\\ $HOME\n";
    std::fs::write(env.path().join("prompts.txt"), prompts).expect("prompts");
    let negative = "$(touch pwned2) \"; rm -rf / '";
    env.run(&[
        "--baseline",
        "par",
        "--gpus",
        "2",
        "--prompt-file",
        "prompts.txt",
        "--negative-prompt",
        negative,
    ])
    .assert()
    .success();
    let dir = env.out("par").join("baseline");
    assert_eq!(
        std::fs::read_to_string(dir.join("received.txt")).expect("received"),
        prompts
    );
    let seen = read_json(&dir.join("argv.json"));
    let argv: Vec<&str> = seen["argv"]
        .as_array()
        .expect("argv")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let i = argv
        .iter()
        .position(|a| *a == "--negative-prompt")
        .expect("flag");
    assert_eq!(argv[i + 1], negative);
    assert!(!env.path().join("pwned").exists() && !env.path().join("pwned2").exists());
    let m = env.manifest("par");
    assert_eq!(m["prompts"][2], "ü 日本語 emoji 🎨 \\backslash\\ $HOME");
}

#[test]
fn dry_run_prints_argv_and_skips_and_writes_nothing() {
    let env = Env::new();
    env.run(&[
        "--baseline",
        "par",
        "--addons",
        "big",
        "lossy",
        "--gpus",
        "2",
        "--dry-run",
    ])
    .assert()
    .success()
    .stdout(
        predicate::str::contains("par+big  (8 GPUs)  SKIP: requires 8 GPUs, only 2 available")
            .and(predicate::str::contains("--par 2 --lossy"))
            .and(predicate::str::contains("fake_backend.py")),
    );
    assert!(!env.path().join("compat_results").exists());
}

#[test]
fn exclusive_group_is_a_recorded_skip() {
    let env = Env::new();
    env.run(&[
        "--baseline",
        "par",
        "--addons",
        "lossy",
        "lossy2",
        "--combos",
        "all",
        "--gpus",
        "2",
    ])
    .assert()
    .success();
    let m = env.manifest("par");
    let both = config(&m, "par+lossy+lossy2");
    assert_eq!(both["state"], "skipped");
    assert!(
        both["skip_reason"]
            .as_str()
            .expect("reason")
            .contains("exclusive group 'cache'")
    );
}

#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    let env = Env::new();
    env.run(&["--baseline", "par", "--addons", "crsh"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unknown feature 'crsh' — did you mean 'crash'?",
        ));
    env.run(&["--baseline", "lossy"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("addon-only"));
    env.run(&["--baseline", "par", "--backend", "fak"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean 'fake'"));
    std::fs::write(env.path().join("empty.txt"), "# nothing\n\n").expect("write");
    env.run(&["--baseline", "par", "--prompt-file", "empty.txt"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("holds no prompts"));
    let bad = env.path().join("bad.toml");
    std::fs::write(&bad, "[features.x]\nargs = [\"--x\"]\ngpus = 0\n").expect("write");
    env.compat()
        .args(["--features", bad.to_str().expect("utf-8"), "features"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.toml:3:").and(predicate::str::contains("gpus = 0")));
    assert!(
        !env.path().join("compat_results").exists(),
        "nothing written"
    );
}

#[test]
fn features_lists_the_builtin_registry_outside_a_project() {
    let dir = tempfile::tempdir().expect("tempdir");
    Command::cargo_bin("compat")
        .expect("binary")
        .current_dir(dir.path())
        .arg("features")
        .assert()
        .success()
        .stdout(
            predicate::str::contains("<built-in features.toml>")
                .and(predicate::str::contains("cfg_parallel")),
        );
}

#[test]
fn packed_configs_get_disjoint_devices_and_ctrl_c_stops_them_all() {
    let env = Env::new();
    let args = [
        "--baseline",
        "slow",
        "--addons",
        "par",
        "--gpus",
        "4",
        "--num-prompts",
        "3",
    ];
    let child = env.spawn_run(&args);
    let m = env.wait_for_manifest("slow", "two configurations side by side", |m| {
        in_state(m, "running").len() >= 2
    });
    let running: Vec<Value> = in_state(&m, "running").into_iter().cloned().collect();
    let out = interrupt(child);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Side by side on disjoint devices, and each knows the other ran beside it.
    let (a, b) = (&running[0], &running[1]);
    let devs = |c: &Value| -> Vec<String> {
        c["devices"]
            .as_array()
            .expect("devices")
            .iter()
            .filter_map(|d| d.as_str().map(String::from))
            .collect()
    };
    assert!(devs(a).iter().all(|d| !devs(b).contains(d)), "{a} / {b}");
    let m = env.manifest("slow");
    for c in [a, b] {
        let name = c["name"].as_str().expect("name");
        let entry = config(&m, name);
        assert_eq!(entry["state"], "interrupted", "{entry}");
        assert!(
            !entry["concurrent_with"]
                .as_array()
                .expect("list")
                .is_empty(),
            "{entry}"
        );
    }

    env.run(&[
        "--baseline",
        "slow",
        "--addons",
        "par",
        "--gpus",
        "4",
        "--num-prompts",
        "3",
        "--resume",
    ])
    .assert()
    .success();
    let m = env.manifest("slow");
    assert!(
        m["configs"]
            .as_array()
            .expect("configs")
            .iter()
            .all(|c| c["state"] == "completed"),
        "{m}"
    );
}

#[test]
fn run_with_analyze_json_prints_only_the_report_on_stdout() {
    let env = Env::new();
    let out = env
        .run(&[
            "--baseline",
            "par",
            "--addons",
            "lossy",
            "big",
            "--gpus",
            "2",
            "--analyze",
            "--json",
            "--junit",
            "junit.xml",
        ])
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("stdout is the report alone");
    let status = |name: &str| {
        report["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| r["compat_status"].clone())
    };
    assert_eq!(status("baseline"), Some("PASS".into()));
    assert_eq!(status("par+lossy"), Some("PASS".into()));
    assert_eq!(status("par+big"), Some("SKIP".into()));
    assert!(env.out("par").join("report.json").is_file());
    assert!(env.path().join("junit.xml").is_file());
}

#[test]
fn a_run_where_everything_is_skipped_fails_loudly() {
    let env = Env::new();
    env.run(&["--baseline", "par", "--gpus", "0"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no feature was tested"));
    let m = env.manifest("par");
    assert_eq!(
        config(&m, "baseline")["skip_reason"],
        "requires 1 GPU, only 0 available"
    );
}

/// The pure baseline ran, but every feature was SKIP (here: more GPUs than
/// there are): nothing was tested, and CI must not see exit 0.
#[test]
fn a_run_where_only_the_baseline_ran_fails_loudly() {
    let env = Env::new();
    env.run(&["--addons", "big", "huge", "--gpus", "2", "--analyze"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no feature was tested"))
        .stderr(predicate::str::contains(
            "big: requires 4 GPUs, only 2 available",
        ));
    let m = env.manifest("baseline");
    assert_eq!(config(&m, "baseline")["state"], "completed");
}

/// Values no backend can run are refused before anything starts: exit 2,
/// a message naming the flag, and no run folder left to block the rerun.
#[test]
fn impossible_values_are_refused_before_anything_is_written() {
    let env = Env::new();
    for (args, flag) in [
        (vec!["--timeout", "0s"], "--timeout"),
        (vec!["--jobs", "0"], "--jobs"),
        (vec!["--height", "100000"], "--height"),
    ] {
        let out = env
            .run(&["--baseline", "par", "--gpus", "2"])
            .args(&args)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(flag),
            "{args:?}"
        );
        assert!(!env.path().join("compat_results").exists(), "{args:?}");
    }
    // The reference engine's own limits are known up front (the built-in
    // registry: a folder without features.toml).
    let bare = tempfile::tempdir().expect("tempdir");
    for (flag, v) in [("--height", "7"), ("--width", "100")] {
        let out = assert_cmd::Command::cargo_bin("compat")
            .expect("binary")
            .current_dir(bare.path())
            .args(["run", "--baseline", "cfg_parallel", flag, v, "--gpus", "2"])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{flag} {v}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("multiple of 16"), "{err}");
        assert!(!bare.path().join("compat_results").exists());
    }
}

/// One run per folder: while a run holds it, a second `--force` (or
/// `--resume`) is refused with exit 2 naming the live run's PID; the first
/// run finishes untouched. The lock is the kernel's: a killed run leaves
/// none behind.
#[test]
fn a_second_run_on_a_live_folder_is_refused() {
    let env = Env::new();
    let args = [
        "--baseline",
        "par",
        "--addons",
        "slow",
        "--gpus",
        "2",
        "--serial",
    ];
    let mut first = env.spawn_run(&args);
    env.wait_for_manifest("par", "the first run started", |m| {
        !in_state(m, "running").is_empty()
    });
    for extra in ["--force", "--resume"] {
        let out = env.run(&args).arg(extra).output().expect("runs");
        assert_eq!(out.status.code(), Some(2), "{extra}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("another compat run") && err.contains(&format!("PID {}", first.id())),
            "{err}"
        );
    }
    assert!(first.wait().expect("waits").success());
    let m = env.manifest("par");
    assert_eq!(in_state(&m, "completed").len(), 3, "{m}");
    // Killed hard, it leaves no lock: the next run resumes.
    let mut again = env.spawn_run(&[&args[..], &["--force"]].concat());
    env.wait_for_manifest("par", "the second run started", |m| {
        !in_state(m, "running").is_empty()
    });
    again.kill().expect("kill");
    again.wait().expect("reaped");
    env.run(&args).arg("--resume").assert().success();
}

/// A run that changes its folder removes what was derived from it, and
/// `compare` refuses a report older than its run's manifest.
#[test]
fn a_resumed_run_leaves_no_stale_report() {
    let env = Env::new();
    let args = ["--baseline", "par", "--gpus", "2"];
    env.run(&args).arg("--analyze").assert().success();
    let dir = env.out("par");
    assert!(dir.join("report.json").is_file());
    // A report whose run changed after it was written is refused by compare.
    let path = dir.join("manifest.json");
    let mut m = read_json(&path);
    m["updated"] = Value::from("2999-01-01T00:00:00.000Z");
    std::fs::write(&path, serde_json::to_string_pretty(&m).expect("json")).expect("write");
    let out = env
        .compat()
        .args(["compare"])
        .arg(&dir)
        .arg(&dir)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("before its run last changed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --resume changes the folder: the old report goes.
    env.run(&args).arg("--resume").assert().success();
    assert!(!dir.join("report.json").exists());
}

/// `--force` replaces a compat run, never a folder of someone else's files.
#[test]
fn force_refuses_a_folder_that_holds_no_compat_run() {
    let env = Env::new();
    let dir = env.out("par");
    std::fs::create_dir_all(dir.join("cfg_parallel")).expect("mkdir");
    std::fs::write(dir.join("cfg_parallel/thesis.txt"), "years of work").expect("write");
    let out = env
        .run(&["--baseline", "par", "--gpus", "2", "--force"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no compat run") && err.contains("cfg_parallel/"),
        "{err}"
    );
    assert!(dir.join("cfg_parallel/thesis.txt").is_file());
}

/// A backend whose error holds ESC, NUL and markup: the terminal, the
/// Markdown and the HTML page show it as text, one line where a table is.
#[test]
fn hostile_backend_text_is_shown_as_text_everywhere() {
    let env = Env::new();
    let out = env
        .run(&["--baseline", "par", "--addons", "hostile", "--gpus", "2"])
        .args(["--analyze", "--markdown", "summary.md", "--html"])
        .env("NO_COLOR", "1")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\0'),
        "{stdout:?}"
    );
    assert!(
        stdout.contains("RuntimeError: \u{FFFD}[31mred\u{FFFD}"),
        "{stdout}"
    );
    // One line per config: the traceback's exception, not its frames.
    assert!(!stdout.contains("File \"x\""), "{stdout}");
    let md = std::fs::read_to_string(env.path().join("summary.md")).expect("md");
    assert!(
        !md.contains("<script>") && md.contains("&lt;script&gt;"),
        "{md}"
    );
    assert!(!md.contains('\u{1b}') && !md.contains('\0'));
    let html = std::fs::read_to_string(env.out("par").join("diff_report.html")).expect("html");
    assert!(!html.contains("<script>alert(1)") && !html.contains('\0') && !html.contains('\u{1b}'));
}

/// On the reference engine a device is a CPU core: the dry run says so, and
/// asking for more than the machine has is warned about.
#[test]
fn reference_engine_devices_are_cpu_cores() {
    let bare = tempfile::tempdir().expect("tempdir");
    let out = assert_cmd::Command::cargo_bin("compat")
        .expect("binary")
        .current_dir(bare.path())
        .args([
            "run",
            "--baseline",
            "cfg_parallel",
            "--gpus",
            "4096",
            "--dry-run",
        ])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(2 CPU cores)"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: --gpus 4096 is more than"),
        "{stderr}"
    );
}

/// `--resume` with changed settings says what changed and what reruns;
/// `--dry-run --resume` shows it without running.
#[test]
fn resume_says_what_changed_and_what_reruns() {
    let env = Env::new();
    env.run(&["--baseline", "par", "--gpus", "2"])
        .assert()
        .success();
    let out = env
        .run(&[
            "--baseline",
            "par",
            "--gpus",
            "2",
            "--resume",
            "--dry-run",
            "--seed",
            "7",
        ])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("resume: keeping 0 completed configuration(s); seed 42 → 7: 2 completed configuration(s) rerun (baseline, par) (dry run)"),
        "{stdout}"
    );
    let out = env
        .run(&["--baseline", "par", "--gpus", "2", "--resume"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("resume: keeping 2 completed configuration(s) (baseline, par)"),
        "{stderr}"
    );
}

/// `--output-dir` naming a file is bad usage, found before anything runs.
#[test]
fn output_dir_that_is_a_file_is_refused_up_front() {
    let env = Env::new();
    std::fs::write(env.path().join("results.txt"), "mine").expect("write");
    let out = env
        .run(&[
            "--baseline",
            "par",
            "--gpus",
            "2",
            "--output-dir",
            "results.txt",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a file"));
    assert_eq!(
        std::fs::read_to_string(env.path().join("results.txt")).expect("read"),
        "mine"
    );
}

/// Without --baseline, each addon is tested alone on the pure baseline
/// (diffusers' caches and compile have no parallel feature to stand on);
/// with neither, there is nothing to test.
#[test]
fn addons_alone_on_the_pure_baseline() {
    let env = Env::new();
    env.run(&["--addons", "lossy", "par", "--gpus", "2", "--analyze"])
        .assert()
        .success();
    // One field of each entry of a JSON array.
    let each = |v: &Value, list: &str, key: &str| -> Vec<String> {
        v[list]
            .as_array()
            .map(|a| a.iter().map(|c| c[key].as_str().unwrap_or("").to_string()))
            .into_iter()
            .flatten()
            .collect()
    };
    let m = read_json(&env.out("baseline").join("manifest.json"));
    assert!(m["baseline_feature"].is_null(), "{m}");
    assert_eq!(each(&m, "configs", "name"), ["baseline", "lossy", "par"]);
    let r = read_json(&env.out("baseline").join("report.json"));
    // No addon is promoted to "baseline feature" by guesswork.
    assert_eq!(each(&r, "results", "role"), ["baseline", "addon", "addon"]);
    env.run(&["--output-dir", "none"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nothing to test"));
    assert!(!env.path().join("none").exists());
}
