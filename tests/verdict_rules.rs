//! Verdict rules end to end, through the real binary: a cache that never
//! engages in the reference engine (its work counters say so), and the
//! "no effect" rule's ±10% bound on a speedup interval.

use std::path::Path;

use assert_cmd::Command;
use serde_json::{Value, json};

fn compat(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("compat").expect("binary");
    c.current_dir(dir).env_remove("CUDA_VISIBLE_DEVICES");
    c
}

fn config<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no config {name} in {report}"))
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// The reference engine's work line (`{"event": "work"}`) of a config.
fn work_event(lines: &[Value]) -> &Value {
    let work: Vec<&Value> = lines.iter().filter(|l| l["event"] == "work").collect();
    assert_eq!(work.len(), 1, "one work line: {lines:?}");
    &work[0]["counts"]
}

/// Issue 19 item 15. At 6 steps TeaCache (first and last step always
/// computed, its accumulated change never under the threshold in between)
/// skips nothing: the images are byte-identical to cfg_parallel's. The
/// engine's own work counters show it never engaged, which the clock on a
/// shared machine cannot: WARN "no effect", not PASS. cache_dit does skip
/// (DBCache's Fn block still runs): fewer blocks, changed pixels, PASS.
#[test]
fn a_cache_that_never_engages_at_few_steps_is_warn_no_effect() {
    let tmp = tempfile::tempdir().expect("tempdir");
    compat(tmp.path())
        .args([
            "run",
            "--baseline",
            "cfg_parallel",
            "--addons",
            "teacache",
            "cache_dit",
            "--num-prompts",
            "3",
            "--steps",
            "6",
            "--height",
            "64",
            "--width",
            "64",
            "--gpus",
            "2",
            "--analyze",
        ])
        .assert()
        .code(0); // a WARN is not a failure without --fail-on warn
    let out = tmp.path().join("compat_results/cfg_parallel");

    // The engine speaks the protocol: per-prompt counters and the work line.
    let parent = jsonl(&out.join("cfg_parallel/results.jsonl"));
    let tea = jsonl(&out.join("cfg_parallel+teacache/results.jsonl"));
    let dbc = jsonl(&out.join("cfg_parallel+cache_dit/results.jsonl"));
    let prompts: Vec<&Value> = tea.iter().filter(|l| l.get("prompt").is_some()).collect();
    assert_eq!(prompts.len(), 3);
    for p in &prompts {
        assert_eq!(p["skipped_evals"], 0, "{p}");
    }
    // 3 prompts × 6 steps × 2 guidance branches × 4 blocks, the warm-up not counted.
    assert_eq!(
        work_event(&parent),
        &json!({"transformer_block": 144, "transformer_eval": 36})
    );
    assert_eq!(work_event(&tea), work_event(&parent));
    let blocks = |w: &Value| w["transformer_block"].as_u64().expect("count");
    assert!(blocks(work_event(&dbc)) < 144, "{}", work_event(&dbc));
    let baseline = jsonl(&out.join("baseline/results.jsonl"));
    assert_eq!(
        work_event(&baseline),
        work_event(&parent),
        "parallelism splits the work, it does not change it"
    );

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("report"))
            .expect("json");
    let t = config(&report, "cfg_parallel+teacache");
    assert_eq!(t["compat_status"], "WARN", "{t}");
    let reason = t["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with(
            "teacache had no effect: images identical to cfg_parallel's and the engine did the same work"
        ),
        "{reason}"
    );
    let vp = &t["vs_parents"][0];
    assert_eq!(
        (&vp["feature"], &vp["verdict"], &vp["same_work"]),
        (&json!("teacache"), &json!("no_effect"), &json!(true)),
        "{vp}"
    );
    assert_eq!(t["work"], *work_event(&tea));

    let d = config(&report, "cfg_parallel+cache_dit");
    assert_eq!(d["compat_status"], "PASS", "{d}");
    let vp = &d["vs_parents"][0];
    assert_eq!(
        (&vp["verdict"], &vp["same_work"]),
        (&json!("applied"), &json!(false)),
        "{vp}"
    );
}

/// A folder of the original framework's shape: each config's per-prompt
/// seconds in results.jsonl after a warm-up (so no cold first prompt is
/// looked for), and the same tiny images in every config.
fn write_run(root: &Path, configs: &[(&str, &[f64])]) {
    for (name, secs) in configs {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let mut lines = vec![json!({"event": "warmup", "seconds": 1.0})];
        for (i, s) in secs.iter().enumerate() {
            let image = format!("prompt_{i:02}.png");
            image::RgbImage::from_pixel(16, 16, image::Rgb([i as u8 * 20, 40, 60]))
                .save(dir.join(&image))
                .expect("png");
            lines.push(json!({"prompt": i, "image": image, "seconds": s, "ok": true}));
        }
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(dir.join("results.jsonl"), text).expect("jsonl");
    }
}

/// "No effect" on speed must be shown: the 95% interval of the speedup over
/// the parent within 1/1.1 .. 1.1. Times alternating 0.8 and 1.25 against a
/// steady parent give the interval [0.8, 1.25]: it neither rules out a 10%
/// change nor shows one, so with identical images the verdict is PASS
/// (effect unknown), not "no effect". Times alternating 0.95 and 1.05 give
/// [0.95, 1.05]: shown unchanged, WARN.
#[test]
fn no_effect_needs_the_interval_within_ten_percent() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let steady = [1.0; 8];
    let wide = [0.8, 1.25, 0.8, 1.25, 0.8, 1.25, 0.8, 1.25];
    let narrow = [0.95, 1.05, 0.95, 1.05, 0.95, 1.05, 0.95, 1.05];
    write_run(
        tmp.path(),
        &[
            ("baseline", &steady),
            ("cfg_parallel", &wide),
            ("ulysses", &narrow),
        ],
    );
    let out = compat(tmp.path())
        .args(["analyze", "--json", "--results-dir"])
        .arg(tmp.path())
        .output()
        .expect("runs");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));

    let wide = config(&report, "cfg_parallel");
    let vp = &wide["vs_parents"][0];
    assert_eq!(vp["parent"], "baseline", "{vp}");
    assert_eq!(vp["identical"], true, "{vp}");
    let ci = &vp["speedup_ci"];
    assert_eq!(
        (&ci["low"], &ci["high"]),
        (&json!(0.8), &json!(1.25)),
        "{vp}"
    );
    assert_eq!(vp["verdict"], "unknown", "{vp}");
    assert_eq!(wide["compat_status"], "PASS", "{wide}");

    let narrow = config(&report, "ulysses");
    assert_eq!(narrow["vs_parents"][0]["verdict"], "no_effect", "{narrow}");
    assert_eq!(narrow["compat_status"], "WARN", "{narrow}");
    let reason = narrow["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with(
            "ulysses had no effect: images identical to baseline's, 1.00× [0.95, 1.05]"
        ),
        "{reason}"
    );
}

/// "Not applied" (an assigned device NVML saw idle) is a verdict on the
/// feature that multiplied the GPUs. A feature added on top of a 2-GPU
/// parent without needing more (here a lossy addon over `par`) is judged on
/// its own effect: the idle device is the parent's fault, and the addon is
/// not WARN "not applied" for it.
#[test]
fn an_idle_device_is_blamed_on_the_feature_that_needed_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        tmp.path().join("features.toml"),
        format!(
            "default_backend = \"fake\"\n\n[backends.fake]\ncommand = [\"python3\", \"{}\", \
             \"--prompt-file\", \"{{prompt_file}}\", \"--output\", \"{{output_dir}}\", \
             \"--seed\", \"{{seed}}\"]\n\n[features.par]\nargs = [\"--par\", \"2\"]\ngpus = 2\n\n\
             [features.lossy]\nargs = [\"--lossy\"]\nlossy = true\n",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/fake_backend.py")
                .display()
        ),
    )
    .expect("registry");
    compat(tmp.path())
        .args([
            "run",
            "--baseline",
            "par",
            "--addons",
            "lossy",
            "--gpus",
            "2",
            "--num-prompts",
            "3",
        ])
        .assert()
        .success();
    let dir = tmp.path().join("compat_results/par");
    let path = dir.join("manifest.json");
    let mut m: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("manifest")).expect("json");
    const MIB: u64 = 1 << 20;
    for c in m["configs"].as_array_mut().expect("configs") {
        if c["name"] == "par+lossy" {
            c["gpu_memory_start_bytes"] = json!({"0": 500 * MIB, "1": 500 * MIB});
            c["gpu_memory_peak_bytes"] = json!({"0": 23_000 * MIB, "1": 510 * MIB});
        }
    }
    std::fs::write(&path, m.to_string()).expect("write");
    let out = compat(tmp.path())
        .args(["analyze", "--json", "--results-dir"])
        .arg(&dir)
        .output()
        .expect("runs");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let c = config(&report, "par+lossy");
    let vp = &c["vs_parents"][0];
    assert_eq!(vp["parent"], "par", "{vp}");
    assert!(vp.get("idle_devices").is_none(), "{vp}");
    assert_eq!(vp["verdict"], "applied", "its pixels changed: {vp}");
    assert_ne!(c["compat_status"], "WARN", "{c}");
}
