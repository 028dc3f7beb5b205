//! Hostile results folders and lying backends (issue 19): decompression
//! bombs, FIFOs, config names that leave the folder, garbage times, a
//! crashed batch of the original framework, control characters and
//! Markdown in names. The real binary on temp folders; no panic, no abort,
//! no hang, and nothing written is lost.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use common::{Env, config, read_json};
use serde_json::Value;

// ------------------------------------------------------------------ helpers --

const SIDE: u32 = 64;

fn png(path: &Path, seed: u8) {
    let img = image::RgbImage::from_fn(SIDE, SIDE, |x, y| {
        image::Rgb([
            (x as u8).wrapping_mul(3) ^ seed,
            (y as u8).wrapping_add(seed),
            seed,
        ])
    });
    img.save(path).expect("write png");
}

/// The CRC-32 of PNG chunks (ISO 3309), bit by bit: small and exact.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).expect("len").to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A PNG whose IHDR (valid CRC) claims `w`×`h` with `color` type and bit
/// `depth`, followed by a tiny IDAT and IEND: a decompression bomb when
/// the size is large. 8-bit RGB of 100000² is 69 bytes + the IDAT.
fn png_header(w: u32, h: u32, depth: u8, color: u8) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[depth, color, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    // zlib of nothing much: a stored empty block.
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x01, 0x01, 0x00, 0x00, 0xff, 0xff],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A config folder of the original framework's layout: config_info.json,
/// prompt_NN.png and their exit codes, the log's summary lines.
fn original_config(root: &Path, name: &str, prompts: usize, secs: f64, seed: u8) -> PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(&d).expect("mkdir");
    let info =
        serde_json::json!({"name": name, "extra_args": [], "total_gpus": 1, "is_lossy": false});
    std::fs::write(d.join("config_info.json"), info.to_string()).expect("info");
    let mut log = String::new();
    for p in 0..prompts {
        png(&d.join(format!("prompt_{p:02}.png")), seed);
        std::fs::write(d.join(format!("prompt_{p:02}.exitcode")), "0").expect("ec");
        log.push_str(&format!("  Prompt {}: {secs:.4} seconds\n", p + 1));
    }
    std::fs::write(d.join("batch_generation.log"), log).expect("log");
    std::fs::write(d.join("batch_generation.exitcode"), "0").expect("ec");
    d
}

/// baseline and `other`, both byte-identical images, 3 prompts.
fn two_configs(root: &Path, other: &str) -> PathBuf {
    original_config(root, "baseline", 3, 2.0, 7);
    original_config(root, other, 3, 1.0, 7)
}

fn compat(cwd: &Path) -> Command {
    let mut c = Command::cargo_bin("compat").expect("binary");
    c.current_dir(cwd)
        .env("NO_COLOR", "1")
        // A hang is a failure, not a stuck suite.
        .timeout(Duration::from_secs(60));
    c
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn analyze(dir: &Path, extra: &[&str]) -> Out {
    let out = compat(dir)
        .arg("analyze")
        .arg("--results-dir")
        .arg(dir)
        .args(extra)
        .output()
        .expect("runs");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn result<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["results"]
        .as_array()
        .and_then(|r| r.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

// ------------------------------------------------------------ item 7: bombs --

/// A 100000² header (30 GB of RGB) and a 15000² one (which passes the
/// image library's default limits): each prompt is ERROR "image too
/// large", the others are judged, and every output is written.
#[test]
fn a_decompression_bomb_is_an_error_not_an_abort() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = two_configs(tmp.path(), "cfg_parallel");
    std::fs::write(
        cfg.join("prompt_01.png"),
        png_header(100_000, 100_000, 8, 2),
    )
    .expect("bomb");
    std::fs::write(cfg.join("prompt_02.png"), png_header(15_000, 15_000, 8, 0)).expect("bomb");
    let out = analyze(
        tmp.path(),
        &["--html", "--markdown", "summary.md", "--junit", "junit.xml"],
    );
    assert_eq!(out.code, 1, "an ERROR, not an abort: {}", out.stderr);
    let r = read_json(&tmp.path().join("report.json"));
    let c = result(&r, "cfg_parallel");
    assert_eq!(c["compat_status"], "ERROR", "{c}");
    for p in [1, 2] {
        let e = c["prompts"][p]["error"].as_str().unwrap_or("");
        assert!(e.contains("image too large"), "prompt {p}: {e}");
    }
    assert!(c["prompts"][0]["error"].is_null(), "{c}");
    assert!(c["prompts"][0]["vs_baseline"]["identical"] == true, "{c}");
    for f in ["summary.md", "junit.xml", "diff_report.html"] {
        assert!(tmp.path().join(f).is_file(), "{f} written");
    }
}

/// The bomb as the baseline's image: the reference is refused, the run
/// still reports.
#[test]
fn a_bomb_as_the_reference_is_refused_too() {
    let tmp = tempfile::tempdir().expect("tempdir");
    two_configs(tmp.path(), "cfg_parallel");
    let base = tmp.path().join("baseline/prompt_00.png");
    std::fs::write(&base, png_header(100_000, 100_000, 8, 2)).expect("bomb");
    let out = analyze(tmp.path(), &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let r = read_json(&tmp.path().join("report.json"));
    let e = result(&r, "cfg_parallel")["prompts"][0]["error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(e.contains("too large"), "{e}");
}

// ------------------------------------------------------------- item 8: FIFO --

/// Two equal files that are not images (a full disk's empty files, one bomb
/// copied twice) are not "identical images": the feature is ERROR, never a
/// PASS for nothing (review of issue 19).
#[test]
fn equal_bytes_that_are_not_an_image_are_not_identical() {
    for (name, bytes) in [
        ("empty", Vec::new()),
        ("bomb", png_header(100_000, 100_000, 8, 2)),
    ] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cfg = two_configs(tmp.path(), "cfg_parallel");
        std::fs::write(tmp.path().join("baseline/prompt_00.png"), &bytes).expect("write");
        std::fs::write(cfg.join("prompt_00.png"), &bytes).expect("write");
        let out = analyze(tmp.path(), &[]);
        assert_eq!(out.code, 1, "{name}: {}", out.stderr);
        let r = read_json(&tmp.path().join("report.json"));
        let c = result(&r, "cfg_parallel");
        assert_eq!(c["compat_status"], "ERROR", "{name}: {c}");
        let e = c["prompts"][0]["error"].as_str().unwrap_or("");
        assert!(e.starts_with("reference"), "{name}: {e}");
    }
}

/// A results folder from elsewhere may link out of itself: an image that
/// is a symlink to a file outside the folder is that prompt's ERROR, never
/// read (nor published on the page), and a config folder that is a symlink
/// is not taken for the run's (review of issue 19).
#[test]
fn links_out_of_the_results_folder_are_not_followed() {
    let outside = tempfile::tempdir().expect("tempdir");
    let secret = outside.path().join("secret.png");
    png(&secret, 9);
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = two_configs(tmp.path(), "cfg_parallel");
    std::fs::remove_file(cfg.join("prompt_00.png")).expect("rm");
    std::os::unix::fs::symlink(&secret, cfg.join("prompt_00.png")).expect("symlink");
    // A link inside the folder stays fine.
    std::fs::remove_file(cfg.join("prompt_01.png")).expect("rm");
    std::os::unix::fs::symlink(
        tmp.path().join("baseline/prompt_01.png"),
        cfg.join("prompt_01.png"),
    )
    .expect("symlink");
    let out = analyze(tmp.path(), &["--html"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let r = read_json(&tmp.path().join("report.json"));
    let c = result(&r, "cfg_parallel");
    let e = c["prompts"][0]["error"].as_str().unwrap_or("");
    assert!(e.contains("outside the results folder"), "{c}");
    assert!(c["prompts"][1]["error"].is_null(), "{c}");
    let page_assets = tmp.path().join("diff_report_assets");
    for entry in walkdir::WalkDir::new(&page_assets) {
        let entry = entry.expect("assets");
        assert!(
            !(entry.path().to_string_lossy().contains("cfg_parallel")
                && entry.file_name().to_string_lossy().starts_with("p00")),
            "the outside image reached the page: {}",
            entry.path().display()
        );
    }

    let moved = outside.path().join("ring");
    original_config(outside.path(), "ring", 3, 1.0, 7);
    std::os::unix::fs::symlink(&moved, tmp.path().join("ring")).expect("symlink");
    let out = analyze(tmp.path(), &[]);
    let r = read_json(&tmp.path().join("report.json"));
    let names: Vec<&str> = r["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        !names.contains(&"ring"),
        "a linked folder was read: {names:?} {}",
        out.stderr
    );
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(status.success());
}

/// A FIFO named prompt_00.png (and one named results.jsonl) would block
/// `open` for ever: analyze finishes, the prompt has no image.
#[test]
fn a_fifo_named_like_an_image_does_not_hang_analyze() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = two_configs(tmp.path(), "cfg_parallel");
    std::fs::remove_file(cfg.join("prompt_00.png")).expect("rm");
    mkfifo(&cfg.join("prompt_00.png"));
    mkfifo(&cfg.join("results.jsonl"));
    let out = analyze(tmp.path(), &["--html"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let r = read_json(&tmp.path().join("report.json"));
    let c = result(&r, "cfg_parallel");
    assert_eq!(c["compat_status"], "ERROR", "{c}");
    assert!(c["prompts"][0]["error"].is_string(), "{c}");
    assert!(c["prompts"][1]["error"].is_null(), "{c}");
}

// ------------------------------------------------------ item 16: names → paths --

/// A manifest naming `../victim/f1` is refused (exit 2) before any image
/// is read; so is the original's manifest naming one.
#[test]
fn config_names_that_leave_the_folder_are_refused() {
    let env = Env::new();
    env.run(&["--baseline", "par", "--gpus", "2"])
        .assert()
        .success();
    let out = env.out("par");
    let victim = env.path().join("compat_results/victim/f1");
    std::fs::create_dir_all(&victim).expect("victim");
    png(&victim.join("prompt_00.png"), 1);
    let path = out.join("manifest.json");
    let mut m = read_json(&path);
    m["configs"][1]["name"] = Value::from("../victim/f1");
    std::fs::write(&path, m.to_string()).expect("manifest");
    std::fs::remove_file(out.join("report.json")).ok();
    let a = analyze(&out, &["--html"]);
    assert_eq!(a.code, 2, "{}{}", a.stdout, a.stderr);
    assert!(a.stderr.contains("../victim/f1"), "{}", a.stderr);
    assert!(a.stderr.contains("path separator"), "{}", a.stderr);
    assert!(!out.join("report.json").exists());

    // The original framework's manifest (R:400-426), names only.
    let tmp = tempfile::tempdir().expect("tempdir");
    two_configs(tmp.path(), "cfg_parallel");
    let original = serde_json::json!({
        "baseline_feature": "cfg_parallel", "addons": [], "model": "m", "steps": 4,
        "height": 64, "width": 64, "cfg_scale": 4.0, "seed": 42, "num_prompts": 3,
        "gpu_count": 2, "configs": ["baseline", "cfg_parallel", ".."],
    });
    std::fs::write(tmp.path().join("manifest.json"), original.to_string()).expect("m");
    let a = analyze(tmp.path(), &[]);
    assert_eq!(a.code, 2, "{}", a.stderr);
    assert!(a.stderr.contains("\"..\""), "{}", a.stderr);
}

// ------------------------------------------------------ item 14: garbage times --

/// Every results.jsonl line unreadable (1e400, random bytes, wrong types):
/// no valid time, so no speedup, and WARN saying why, not a silent PASS.
/// `Infinity` is the same rule, not an ERROR; 1e20 s is left out, not
/// taken as a time.
#[test]
fn a_config_without_one_valid_time_is_warn_with_the_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = two_configs(tmp.path(), "cfg_parallel");
    std::fs::write(cfg.join("batch_generation.log"), "").expect("no log times");
    let mut jsonl =
        b"{\"prompt\": 0, \"image\": \"prompt_00.png\", \"seconds\": 1e400, \"ok\": true}\n"
            .to_vec();
    jsonl.extend_from_slice(b"\x00\xff\xfe garbage {\n");
    jsonl.extend_from_slice(b"{\"prompt\": \"two\", \"seconds\": [1], \"ok\": 3}\n");
    jsonl.extend_from_slice(
        b"{\"prompt\": 1, \"image\": \"prompt_01.png\", \"seconds\": Infinity, \"ok\": true}\n",
    );
    jsonl.extend_from_slice(
        b"{\"prompt\": 2, \"image\": \"prompt_02.png\", \"seconds\": 1e20, \"ok\": true}\n",
    );
    std::fs::write(cfg.join("results.jsonl"), jsonl).expect("jsonl");
    // And a line for a prompt this run does not have (the original's
    // layout has no manifest to say how many: it must not count).
    let baseline = tmp.path().join("baseline/results.jsonl");
    std::fs::write(
        &baseline,
        "{\"prompt\": 18446744073709551615, \"image\": \"prompt_00.png\", \"seconds\": 1.0, \"ok\": true}\n",
    )
    .expect("jsonl");
    let out = analyze(tmp.path(), &["--junit", "junit.xml"]);
    assert_eq!(out.code, 0, "WARN is not a failure: {}", out.stderr);
    let r = read_json(&tmp.path().join("report.json"));
    let c = result(&r, "cfg_parallel");
    assert_eq!(c["compat_status"], "WARN", "{c}");
    let reason = c["reason"].as_str().unwrap_or("");
    assert!(reason.contains("no valid time"), "{reason}");
    assert!(c["speedup"].is_null(), "{c}");
    assert!(c["mean_gen_time_ms"].is_null(), "{c}");
    for p in 0..3 {
        assert!(c["prompts"][p]["seconds"].is_null(), "{c}");
        assert!(
            c["prompts"][p]["error"].is_null(),
            "prompt {p} has its image: {c}"
        );
    }
    let notes = c["notes"].to_string();
    assert!(notes.contains("Infinity"), "{notes}");
    assert!(
        notes.contains("1e20") || notes.contains("100000000000000000000"),
        "{notes}"
    );
    assert!(tmp.path().join("junit.xml").is_file());
    assert_eq!(r["run"]["num_prompts"], 3, "{}", r["run"]);
    let b = result(&r, "baseline");
    assert!(
        b["notes"].to_string().contains("18446744073709551615"),
        "{b}"
    );
}

/// `"seconds": 1e20` with `--junit` wrote no report before (a panic in
/// Duration); a report.json edited to say so is read without one.
#[test]
fn absurd_times_with_junit_do_not_panic() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = two_configs(tmp.path(), "cfg_parallel");
    std::fs::write(
        cfg.join("results.jsonl"),
        "{\"prompt\": 0, \"image\": \"prompt_00.png\", \"seconds\": 1e20, \"ok\": true}\n\
         {\"prompt\": 1, \"image\": \"prompt_01.png\", \"seconds\": 1.0, \"ok\": true}\n\
         {\"prompt\": 2, \"image\": \"prompt_02.png\", \"seconds\": 1.0, \"ok\": true}\n",
    )
    .expect("jsonl");
    let out = analyze(
        tmp.path(),
        &["--junit", "junit.xml", "--markdown", "s.md", "--html"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = read_json(&tmp.path().join("report.json"));
    let c = result(&r, "cfg_parallel");
    assert_eq!(c["prompts"][1]["seconds"], 1.0);
    assert!(c["prompts"][0]["seconds"].is_null(), "{c}");
    for f in ["junit.xml", "s.md", "diff_report.html"] {
        assert!(tmp.path().join(f).is_file(), "{f}");
    }
}

/// The JUnit exporter on a report whose prompt times no Duration holds
/// (1e20 s, edited by hand or from an older compat): the time is left out.
#[test]
fn junit_of_absurd_seconds_is_written_without_a_panic() {
    let tmp = tempfile::tempdir().expect("tempdir");
    two_configs(tmp.path(), "cfg_parallel");
    assert_eq!(analyze(tmp.path(), &[]).code, 0);
    let mut r = read_json(&tmp.path().join("report.json"));
    for c in r["results"].as_array_mut().expect("results") {
        for p in c["prompts"].as_array_mut().expect("prompts") {
            p["seconds"] = Value::from(1e20);
        }
    }
    let report: compat::report::Report = serde_json::from_value(r).expect("a report");
    let xml = compat::report::junit::render(&report).expect("junit");
    assert!(xml.contains("cfg_parallel"), "{xml}");
}

/// `compare` on a hand-edited report whose times are negative or absurd:
/// "not comparable", never "Unchanged".
#[test]
fn compare_flags_garbage_times_in_a_report() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = tmp.path().join("a");
    std::fs::create_dir_all(&a).expect("a");
    two_configs(&a, "cfg_parallel");
    assert_eq!(analyze(&a, &[]).code, 0);
    let b = tmp.path().join("b");
    std::fs::create_dir_all(&b).expect("b");
    let mut r = read_json(&a.join("report.json"));
    for c in r["results"].as_array_mut().expect("results") {
        if c["name"] == "cfg_parallel" {
            c["mean_gen_time_ms"] = Value::from(-5.0);
        }
    }
    std::fs::write(b.join("report.json"), r.to_string()).expect("b");
    let out = compat(tmp.path())
        .args(["compare"])
        .arg(a.join("report.json"))
        .arg(b.join("report.json"))
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text
        .lines()
        .find(|l| l.starts_with("cfg_parallel"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("NotComparable"), "{text}");
    assert!(text.contains("not a time"), "{text}");
}

// ------------------------------------- items 17, 18: terminal and Markdown --

/// A config folder named with terminal escapes, Markdown and HTML: the
/// analyze and compare tables show no control character; the Markdown of
/// both loads no image, pings no one, opens no code span or tag.
#[test]
fn names_reach_terminal_and_markdown_as_text() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // A folder name cannot hold '/': the name's URL has '|' for slashes;
    // the backend's error text (config_info.json) carries a real one.
    let name = "x\u{1b}]0;pwned\u{7}\u{1b}[2J`<script>alert(1)<script>![px](https:||evil.example|p.png)@everyone**b**";
    let d = two_configs(tmp.path(), name);
    let info = serde_json::json!({
        "name": name, "total_gpus": 1, "is_lossy": false,
        "error": "![px](https://evil.example/p.png) [x](https://evil.example) @everyone **b** <img src=x>",
    });
    std::fs::write(d.join("config_info.json"), info.to_string()).expect("info");
    let out = analyze(tmp.path(), &["--markdown", "s.md"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout.contains("pwned"),
        "the config is in the table: {}",
        out.stdout
    );
    assert!(!out.stdout.contains('\u{1b}'), "{:?}", out.stdout);
    assert!(!out.stdout.contains('\u{7}'), "{:?}", out.stdout);
    let md = std::fs::read_to_string(tmp.path().join("s.md")).expect("md");
    assert!(md.contains("pwned") && md.contains("evil.example"), "{md}");
    for live in ["<script", "<img", "![", "@everyone", "**b", "`<", "\u{1b}"] {
        assert!(!md.contains(live), "{live:?} live in {md}");
    }

    let cmp = compat(tmp.path())
        .args(["compare", "--markdown", "c.md"])
        .arg(tmp.path().join("report.json"))
        .arg(tmp.path().join("report.json"))
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&cmp.stdout);
    assert!(
        cmp.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&cmp.stderr)
    );
    assert!(stdout.contains("pwned"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
    let md = std::fs::read_to_string(tmp.path().join("c.md")).expect("md");
    assert!(md.contains("pwned"), "{md}");
    for live in ["<script", "![", "@everyone", "**b", "`<", "\u{1b}"] {
        assert!(!md.contains(live), "{live:?} live in {md}");
    }
}

// ---------------------------------------- item 6: a crashed original batch --

/// The original framework's folder after its batch script died on the
/// fourth prompt (0-based 3): no try around a prompt (B:361-421), so the
/// script ends with a traceback, which the runner merges into the log
/// (R:503-506) and saves with the exit code (R:541-546); on rc != 0 the
/// runner returns before renaming anything (R:548-550): the three images
/// stay `image_0000..0002.png` and there are no prompt_NN files.
#[test]
fn a_crashed_original_batch_keeps_what_it_wrote_and_names_the_prompt() {
    let tmp = tempfile::tempdir().expect("tempdir");
    original_config(tmp.path(), "baseline", 5, 2.0, 7);
    let d = tmp.path().join("cfg_parallel");
    std::fs::create_dir_all(&d).expect("mkdir");
    let info = serde_json::json!({"name": "cfg_parallel", "extra_args": [], "total_gpus": 2, "is_lossy": false});
    std::fs::write(d.join("config_info.json"), info.to_string()).expect("info"); // R:588
    let mut log = String::new();
    for i in 1..=4 {
        let eq = "=".repeat(60);
        log.push_str(&format!(
            "\n{eq}\nProcessing prompt {i}/5\nPrompt: p{i}\n{eq}\n\n"
        )); // B:362-365
        if i == 4 {
            break;
        }
        log.push_str(&format!(
            "Generation time for prompt {i}: 1.0000 seconds (1000.00 ms)\n" // B:392-394
        ));
        let file = format!("image_{:04}.png", i - 1); // B:418
        log.push_str(&format!("Saved image to {}/{file}\n", d.display())); // B:420
        png(&d.join(&file), 7); // B:419
    }
    log.push_str(
        "Traceback (most recent call last):\n  File \"batch_text_to_image.py\", line 381, in <module>\n    \
         outputs = omni.generate(\n           ^^^^^^^^^^^^^\nRuntimeError: CUDA error: an illegal memory access was encountered\n",
    );
    std::fs::write(d.join("batch_generation.log"), log).expect("log"); // R:541-542
    std::fs::write(d.join("batch_generation.exitcode"), "1").expect("rc"); // R:545-546

    let out = analyze(tmp.path(), &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let r = read_json(&tmp.path().join("report.json"));
    let c = result(&r, "cfg_parallel");
    assert_eq!(c["compat_status"], "ERROR", "{c}");
    let reason = c["reason"].as_str().unwrap_or("");
    assert!(reason.contains("crashed on prompt 3"), "{reason}");
    assert!(reason.contains("illegal memory access"), "{reason}");
    for p in 0..3 {
        assert_eq!(
            c["prompts"][p]["vs_baseline"]["identical"], true,
            "prompt {p}: {c}"
        );
        assert!(c["prompts"][p]["error"].is_null(), "prompt {p}: {c}");
    }
    let e3 = c["prompts"][3]["error"].as_str().unwrap_or("");
    assert!(
        e3.contains("crashed on this prompt") && e3.contains("RuntimeError"),
        "{e3}"
    );
    let e4 = c["prompts"][4]["error"].as_str().unwrap_or("");
    assert!(e4.contains("never run"), "{e4}");
    assert_eq!(c["prompts"][1]["seconds"], 1.0, "the log's times are used");
}

// ------------------------------------------ items 2, 3: a lying backend --

/// A fake backend registry whose backend is a shell script writing what
/// the test says, for one config.
fn lying_backend(dir: &Path, script: &str) -> PathBuf {
    let path = dir.join("liar.sh");
    std::fs::write(&path, script).expect("script");
    let registry = format!(
        r#"
default_backend = "liar"

[backends.liar]
command = ["sh", "{script}", "{{output_dir}}"]
model = "m"

[backends.liar.defaults]
num_prompts = 2
steps = 2

[features.par]
args = ["--par"]
expect = "none"
"#,
        script = path.display()
    );
    std::fs::write(dir.join("features.toml"), registry).expect("registry");
    dir.join("features.toml")
}

/// A backend that names compat's own log and results as its image, and
/// claims prompt 18446744073709551615 is its valid prompt_00.png: the log
/// and the images stay where they are; the stray line is a note.
#[test]
fn a_backend_cannot_move_compats_files_or_other_prompts_images() {
    let env = Env::new();
    let png0 = env.path().join("p0.png");
    png(&png0, 3);
    lying_backend(
        env.path(),
        &format!(
            "echo 'the log line that must survive'\n\
             cp {png} \"$1/prompt_01.png\"\n\
             printf '%s\\n' \
             '{{\"prompt\": 0, \"image\": \"batch_generation.log\", \"seconds\": 1.0, \"ok\": true}}' \
             '{{\"prompt\": 1, \"image\": \"results.jsonl\", \"seconds\": 1.0, \"ok\": true}}' \
             '{{\"prompt\": 18446744073709551615, \"image\": \"prompt_00.png\", \"seconds\": 1.0, \"ok\": true}}' \
             > \"$1/results.jsonl\"\n",
            png = png0.display()
        ),
    );
    // Prompt 0 has no image: each config fails, and says so (exit 1).
    env.run(&["--baseline", "par", "--gpus", "1", "--analyze"])
        .timeout(Duration::from_secs(120))
        .assert()
        .code(1);
    let out = env.out("par");
    for cfg in ["baseline", "par"] {
        let d = out.join(cfg);
        let log = std::fs::read_to_string(d.join("batch_generation.log")).expect("log kept");
        assert!(
            log.contains("the log line that must survive"),
            "{cfg}: {log}"
        );
        let jsonl = std::fs::read_to_string(d.join("results.jsonl")).expect("results kept");
        assert!(jsonl.contains("18446744073709551615"), "{cfg}: {jsonl}");
        assert!(
            !d.join("prompt_00.png").exists(),
            "{cfg}: nothing became prompt 0's image"
        );
        let img = std::fs::read(d.join("prompt_01.png")).expect("image kept");
        assert!(img.starts_with(b"\x89PNG"), "{cfg}");
    }
    let m = env.manifest("par");
    let state = &config(&m, "par")["error"];
    assert!(
        state.to_string().contains("prompt_00.png is missing"),
        "{m}"
    );
    let r = read_json(&out.join("report.json"));
    let par = result(&r, "par");
    assert_eq!(par["prompts"][1]["error"], Value::Null, "{par}");
    assert!(
        par["notes"].to_string().contains("18446744073709551615"),
        "{par}"
    );
}

// -------------------------------------------------- property: no panic --

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn registry() -> compat::registry::Registry {
        compat::registry::Registry::parse(compat::registry::EMBEDDED, "embedded").expect("registry")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Arbitrary results.jsonl lines and an arbitrary PNG header (sizes
        /// up to 2³², any depth and colour type) through the real reader,
        /// decoder and judge: a report or a clear error, never a panic or an
        /// allocation of what the header claims.
        #[test]
        fn arbitrary_lines_and_headers_are_judged_without_panic(
            lines in proptest::collection::vec(
                prop_oneof![
                    "\\PC{0,60}",
                    (any::<u64>(), any::<f64>(), any::<bool>()).prop_map(|(p, s, ok)| format!(
                        "{{\"prompt\": {p}, \"image\": \"prompt_00.png\", \"seconds\": {s:e}, \"ok\": {ok}}}"
                    )),
                    (0u64..4, prop_oneof![Just("Infinity"), Just("-Infinity"), Just("NaN"), Just("1e400"), Just("-1"), Just("1e20")])
                        .prop_map(|(p, s)| format!("{{\"prompt\": {p}, \"image\": \"x.png\", \"seconds\": {s}, \"ok\": true}}")),
                ],
                0..6,
            ),
            w in any::<u32>(),
            h in any::<u32>(),
            depth in prop_oneof![Just(1u8), Just(2), Just(4), Just(8), Just(16), any::<u8>()],
            color in prop_oneof![Just(0u8), Just(2), Just(3), Just(4), Just(6), any::<u8>()],
        ) {
            let tmp = tempfile::tempdir().expect("tempdir");
            let cfg = two_configs(tmp.path(), "cfg_parallel");
            std::fs::write(cfg.join("results.jsonl"), lines.join("\n")).expect("jsonl");
            let header = png_header(w, h, depth, color);
            std::fs::write(cfg.join("prompt_01.png"), &header).expect("png");
            let _ = compat::analysis::metrics::decode(Path::new("x.png"), &header);
            let report = compat::analysis::build_report(
                tmp.path(),
                &compat::analysis::Overrides::default(),
                &registry(),
            );
            let report = report.expect("a report, whatever the files say");
            prop_assert_eq!(report.results.len(), 2);
            // Then every exporter, as the binary runs them.
            let _ = compat::report::junit::render(&report).expect("junit");
            let _ = compat::report::markdown::render(&report);
        }
    }
}
