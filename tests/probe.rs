//! The engine probe (docs/probe.md) end to end: a backend whose probe is a
//! test double (tests/fixtures/fake_probe.py) answering for the run's
//! features, misbehaving the ways a real probe can.

mod common;

use std::path::{Path, PathBuf};

use common::{Env, config, read_json};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A registry whose backend has a probe run with `probe_args`; `lossy` is
/// statically supported (the engine refuses it) and `par` statically
/// refused (the engine supports it: the static table went stale).
fn registry(env: &Env, probe_args: &[&str]) -> PathBuf {
    let probe: Vec<String> = [
        "python3",
        &fixture("fake_probe.py").display().to_string(),
        "{probe_request}",
        "--output",
        "{probe_output}",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(probe_args.iter().map(|s| s.to_string()))
    .collect();
    let text = format!(
        r#"
default_backend = "fake"

[backends.fake]
command = ["python3", "{backend}", "--prompt-file", "{{prompt_file}}", "--output", "{{output_dir}}",
           "--seed", "{{seed}}"]
probe = {probe:?}
model = "fake-model"

[backends.fake.defaults]
num_prompts = 2
steps = 2

[features.par]
args = ["--par", "2"]
gpus = 2

[features.par.unsupported]
fake = "the registry says the fake engine has no par (stale)"

[features.lossy]
args = ["--lossy"]
lossy = true
"#,
        backend = common::fake_backend().display()
    );
    let path = env.path().join("probe-features.toml");
    std::fs::write(&path, text).expect("write registry");
    path
}

fn dry_run(env: &Env, features: &Path, extra: &[&str]) -> (String, String) {
    let out = env
        .run(&[
            "--features",
            &features.display().to_string(),
            "--baseline",
            "par",
            "--addons",
            "lossy",
            "--gpus",
            "2",
            "--dry-run",
        ])
        .args(extra)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_engine_overrides_a_stale_registry_both_ways() {
    let env = Env::new();
    let features = registry(&env, &[]);
    let (stdout, stderr) = dry_run(&env, &features, &[]);
    assert!(
        stderr.contains("engine: fake-engine 1.2.3 (probed: 1 of 2 features supported)"),
        "{stderr}"
    );
    // The registry refused par; the engine says it can: it runs.
    assert!(!stdout.contains("has no par"), "{stdout}");
    assert!(stdout.contains("[2/3] par  (2 GPUs)\n"), "{stdout}");
    // The registry let lossy through; the engine refuses it, in its words.
    assert!(
        stdout.contains("SKIP: fake-engine 1.2.3: fake-engine has no lossy cache for fake-model"),
        "{stdout}"
    );
}

#[test]
fn without_an_answer_the_registry_decides_and_the_run_says_why() {
    let env = Env::new();
    for (mode, why) in [
        (
            "not-importable",
            "fake_engine not importable: No module named 'fake_engine'",
        ),
        (
            "fail",
            "the probe failed (exit 1): RuntimeError: CUDA driver too old",
        ),
        ("partial", "the probe did not answer for feature(s) lossy"),
        (
            "garbage",
            "the probe's answer is not JSON of the probe protocol",
        ),
    ] {
        let features = registry(&env, &["--mode", mode]);
        let (stdout, stderr) = dry_run(&env, &features, &[]);
        assert!(
            stderr.contains(&format!("engine: not probed ({why}")),
            "{mode}: {stderr}"
        );
        assert!(
            stderr.contains("SKIPs come from features.toml alone"),
            "{mode}: {stderr}"
        );
        assert!(
            stdout.contains("SKIP: fake: the registry says the fake engine has no par (stale)"),
            "{mode}: {stdout}"
        );
    }
    let features = registry(&env, &[]);
    let (_, stderr) = dry_run(&env, &features, &["--no-probe"]);
    assert!(
        stderr.contains("engine: not probed (--no-probe)"),
        "{stderr}"
    );
}

#[test]
fn a_hung_probe_costs_its_timeout_not_the_run() {
    let env = Env::new();
    let features = registry(&env, &["--mode", "hang"]);
    let start = std::time::Instant::now();
    let (_, stderr) = dry_run(&env, &features, &["--probe-timeout", "1s"]);
    assert!(
        stderr.contains("the probe did not answer within 1s"),
        "{stderr}"
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(60),
        "the hung probe was waited for"
    );
}

#[test]
fn the_engine_version_reaches_the_manifest_the_report_and_compare() {
    let env = Env::new();
    let run = |version: &str, out: &str| {
        let features = registry(&env, &["--version", version]);
        env.run(&[
            "--features",
            &features.display().to_string(),
            "--addons",
            "par",
            "lossy",
            "--gpus",
            "2",
            "--output-dir",
            out,
            "--analyze",
        ])
        .assert()
        .code(predicates::ord::ge(0));
    };
    run("1.2.3", "old");
    run("1.3.0", "new");
    let old = env.path().join("old/baseline");
    let m = read_json(&old.join("manifest.json"));
    assert_eq!(m["engine"]["version"], "1.2.3", "{m}");
    assert_eq!(config(&m, "baseline")["engine"]["engine"], "fake-engine");
    let r = read_json(&old.join("report.json"));
    let base = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "baseline")
        .unwrap();
    assert_eq!(base["engine"]["version"], "1.2.3", "{base}");
    let lossy = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "lossy")
        .unwrap();
    assert_eq!(lossy["compat_status"], "SKIP");
    let new = env.path().join("new/baseline");
    let out = env
        .compat()
        .args([
            "compare",
            &old.join("report.json").display().to_string(),
            &new.join("report.json").display().to_string(),
        ])
        .output()
        .expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("engine (fake-engine 1.2.3 vs fake-engine 1.3.0): a change in a verdict may be the engine's"),
        "{text}"
    );
}

/// `--resume` keeps a completed config only for the same engine build, and
/// says why it reruns; a resume whose probe does not answer keeps what
/// completed instead of redoing it for not knowing.
#[test]
fn resume_reruns_what_another_engine_build_made() {
    let env = Env::new();
    let resume = |version: &str, extra: &[&str]| {
        let features = registry(&env, &["--version", version]);
        let out = env
            .run(&[
                "--features",
                &features.display().to_string(),
                "--addons",
                "par",
                "--gpus",
                "2",
            ])
            .args(extra)
            .output()
            .expect("runs");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    resume("1.2.3", &[]);
    let err = resume("1.2.3", &["--resume"]);
    assert!(
        err.contains("resume: keeping 2 completed configuration(s)"),
        "{err}"
    );
    let err = resume("1.2.3", &["--resume", "--no-probe"]);
    assert!(
        err.contains("resume: keeping 2 completed configuration(s)"),
        "{err}"
    );
    let err = resume("1.3.0", &["--resume"]);
    assert!(
        err.contains(
            "engine fake-engine 1.2.3 → fake-engine 1.3.0: 2 completed configuration(s) rerun"
        ),
        "{err}"
    );
    let m = read_json(&env.path().join("compat_results/baseline/manifest.json"));
    assert_eq!(config(&m, "par")["engine"]["version"], "1.3.0", "{m}");
}
