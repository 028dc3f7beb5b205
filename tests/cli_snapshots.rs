//! Behaviour-pinning snapshots of what the real binary prints: `compat
//! features`, `compat run --dry-run`, the summary of a real run on the
//! embedded reference engine (with and without `--analyze`), and `compat
//! compare` (table, Markdown, JSON, refusal).
//!
//! Every test runs `compat` in a temporary directory and snapshots a
//! transcript: the command, its exit code, stdout and stderr. Unstable parts
//! are normalised before the snapshot: the temporary directory → `[TMP]`, the
//! binary's path → `[COMPAT]`, the version → `[VERSION]`, wall-clock seconds
//! → `[S]`, and the timing-derived columns of the analysis table (Gen ms,
//! Speedup) → `[ms]` / `[speedup]`. The report.json files `compare` reads are
//! written here as plain JSON (report.json schema version 1, as `compat
//! analyze` writes it), not through the crate's types, so these tests pin the
//! file format as well as the output.
//!
//! (`analyze`'s report.json is snapshotted in tests/analyze.rs.)

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{Value, json};

// ------------------------------------------------------------------ helpers --

/// A temporary working directory for one test.
struct Sandbox {
    dir: tempfile::TempDir,
}

/// What one command did, normalised.
struct Transcript {
    command: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Transcript {
    /// The command, its exit code, stdout and stderr, as one text.
    fn render(&self) -> String {
        let block = |s: &str| {
            if s.is_empty() {
                "(empty)\n".to_string()
            } else if s.ends_with('\n') {
                s.to_string()
            } else {
                format!("{s}\n(no newline at end)\n")
            }
        };
        format!(
            "$ {}\nexit code: {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.command,
            self.code
                .map_or_else(|| "killed by a signal".into(), |c| c.to_string()),
            block(&self.stdout),
            block(&self.stderr),
        )
    }
}

impl Sandbox {
    fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write");
        path
    }

    /// Runs `compat ARGS` here, with a neutral environment (no colour, no
    /// devices inherited), and returns the normalised transcript.
    fn compat(&self, args: &[&str]) -> Transcript {
        let out = Command::cargo_bin("compat")
            .expect("binary")
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env_remove("CUDA_VISIBLE_DEVICES")
            .env_remove("COMPAT_DEVICES")
            .args(args)
            .output()
            .expect("compat runs");
        Transcript {
            command: self.normalise(&command_line(args)),
            code: out.status.code(),
            stdout: self.normalise(&String::from_utf8_lossy(&out.stdout)),
            stderr: self.normalise(&String::from_utf8_lossy(&out.stderr)),
        }
    }

    /// The binary's and the sandbox's paths (as given and canonical) and the
    /// version, replaced by placeholders.
    fn normalise(&self, text: &str) -> String {
        let mut subs: Vec<(String, &str)> = Vec::new();
        let exe = assert_cmd::cargo::cargo_bin("compat");
        for (path, to) in [(exe, "[COMPAT]"), (self.path().to_path_buf(), "[TMP]")] {
            if let Ok(canonical) = path.canonicalize() {
                subs.push((canonical.display().to_string(), to));
            }
            subs.push((path.display().to_string(), to));
        }
        // Longest first, so that a path never loses only its prefix.
        subs.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        let mut text = text.to_string();
        for (from, to) in subs {
            text = text.replace(&from, to);
        }
        // The oversubscription warning depends on this machine's cores.
        if let Some(start) = text.find("warning: --gpus ")
            && let Some(len) = text[start..].find('\n')
        {
            text.replace_range(start..start + len + 1, "");
        }
        text.replace(
            &format!("\"tool_version\": \"{}\"", env!("CARGO_PKG_VERSION")),
            "\"tool_version\": \"[VERSION]\"",
        )
    }
}

/// `compat ARGS` as a reader would type it (arguments with spaces quoted).
fn command_line(args: &[&str]) -> String {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| {
            if a.is_empty() || a.contains(char::is_whitespace) {
                format!("{a:?}")
            } else {
                a.to_string()
            }
        })
        .collect();
    format!("compat {}", quoted.join(" "))
}

/// `12.3s` → `[S]s` wherever a decimal number of seconds stands alone.
fn mask_seconds(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '.');
        if starts_word && chars[i].is_ascii_digit() {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            if j + 1 < chars.len() && chars[j] == '.' && chars[j + 1].is_ascii_digit() {
                let mut k = j + 1;
                while k < chars.len() && chars[k].is_ascii_digit() {
                    k += 1;
                }
                let ends_word = chars.get(k + 1).is_none_or(|c| !c.is_alphanumeric());
                if chars.get(k) == Some(&'s') && ends_word {
                    out.push_str("[S]s");
                    i = k + 1;
                    continue;
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The run's progress on stderr (plain lines, stderr not being a terminal),
/// without the per-prompt lines, whose number depends on how fast the engine
/// is, and with every duration masked.
fn normalise_progress(stderr: &str) -> String {
    let per_prompt = |line: &str| {
        line.starts_with('[')
            && line.strip_suffix(" prompts").is_some_and(|rest| {
                rest.rsplit_once(": ").is_some_and(|(_, count)| {
                    count
                        .split_once('/')
                        .is_some_and(|(a, b)| is_number(a) && is_number(b))
                })
            })
    };
    let kept: String = stderr
        .lines()
        .filter(|l| !per_prompt(l))
        .map(|l| format!("{l}\n"))
        .collect();
    mask_seconds(&kept)
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The run summary's `seconds` and `GPU-s` columns → `[S]`, right-aligned
/// in their places, and the bill line's numbers → `[N]`.
fn mask_summary_seconds(stdout: &str) -> String {
    let mut columns: Vec<(usize, usize)> = Vec::new();
    let mut out = String::new();
    for line in stdout.lines() {
        if line.starts_with("config ") && line.contains(" seconds ") {
            // The columns' widths (summary.rs): seconds 8, GPU-s 7.
            columns = [(" seconds", 8), (" GPU-s", 7)]
                .iter()
                .filter_map(|(h, w)| line.find(h).map(|at| (at + h.len() - w, at + h.len())))
                .collect();
        } else if line.starts_with("results: ") {
            columns.clear();
        } else if line.starts_with("bill: ") {
            out.push_str(&mask_numbers(line));
            out.push('\n');
            continue;
        } else if !columns.is_empty() {
            let mut chars: Vec<char> = line.chars().collect();
            for &(start, end) in &columns {
                if chars.len() < end {
                    continue;
                }
                let cell: String = chars[start..end].iter().collect();
                let value = cell.trim();
                if value.is_empty() {
                    continue;
                }
                assert!(
                    value.parse::<f64>().is_ok(),
                    "not a seconds cell: {cell:?} in {line:?}"
                );
                let masked: Vec<char> = format!("{:>w$}", "[S]", w = end - start).chars().collect();
                chars.splice(start..end, masked);
            }
            out.extend(chars);
            out.push('\n');
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every decimal number (`12.3`) → `[N]`.
fn mask_numbers(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let mut k = i;
            while k < chars.len() && (chars[k].is_ascii_digit() || chars[k] == '.') {
                k += 1;
            }
            let num: String = chars[i..k].iter().collect();
            if num.contains('.') {
                out.push_str("[N]");
            } else {
                out.push_str(&num);
            }
            i = k;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The analysis table with its timing-derived columns masked: Gen ms →
/// `[ms]`, Speedup [95% CI] → `[speedup]` ("—" kept: it says there is no
/// timing), re-aligned. Every other column, the reason lines and the summary
/// line stay as printed. Lines before and after the table are kept.
fn mask_analysis_table(stdout: &str) -> String {
    let mut out = String::new();
    let mut lines = stdout.lines().peekable();
    while let Some(line) = lines.next() {
        if !(line.starts_with("Config ") && line.contains("Speedup [95% CI]")) {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut rows: Vec<Vec<String>> = vec![cells(line)];
        let mut reasons: Vec<(usize, String)> = Vec::new();
        let rule = lines.next().expect("the rule under the header");
        assert!(rule.chars().all(|c| c == '─'), "{rule}");
        while let Some(row) = lines.next_if(|l| !l.is_empty()) {
            if row.starts_with("  └─ ") {
                // A "no effect" reason ends with the measured speedup.
                let row = match row.rsplit_once("; ") {
                    Some((head, tail)) if tail.contains('×') => format!("{head}; [speedup]"),
                    _ => row.to_string(),
                };
                reasons.push((rows.len() - 1, row));
                continue;
            }
            let mut c = cells(row);
            assert_eq!(c.len(), 9, "a table row of 9 cells: {row:?}");
            for (i, mask) in [(3, "[ms]"), (4, "[speedup]")] {
                if c[i] != "—" {
                    c[i] = mask.to_string();
                }
            }
            rows.push(c);
        }
        let widths: Vec<usize> = (0..9)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        for (ri, r) in rows.iter().enumerate() {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
                .collect();
            out.push_str(line.join(" | ").trim_end());
            out.push('\n');
            if ri == 0 {
                out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 3 * 8));
                out.push('\n');
            }
            for (_, reason) in reasons.iter().filter(|(at, _)| *at == ri) {
                out.push_str(reason);
                out.push('\n');
            }
        }
    }
    out
}

/// A table line's cells: columns are two or more spaces apart, cells hold
/// single spaces at most.
fn cells(line: &str) -> Vec<String> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// The sizes every real run here uses: the reference engine takes multiples
/// of 16 (its latent is 16× downsampled); 2 steps, 2 prompts.
const TINY: [&str; 8] = [
    "--steps",
    "2",
    "--height",
    "32",
    "--width",
    "32",
    "--num-prompts",
    "2",
];

fn with_tiny<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(TINY);
    v
}

// A small registry: a command backend with every placeholder, and one
// feature of each kind (multi-GPU, lossy with its own threshold, exclusive
// addon-only, single-card-only, too big), with a declared conflict.
const CUSTOM_REGISTRY: &str = r#"
default_backend = "engine"

[backends.engine]
command = ["python3", "engine.py", "--model", "{model}", "--prompt-file", "{prompt_file}",
           "--output", "{output_dir}", "--steps", "{steps}", "--size", "{width}x{height}",
           "--cfg", "{cfg_scale}", "--seed", "{seed}", "--negative-prompt", "{negative_prompt}",
           "--world-size", "{gpus}", "--literal", "{{braces}}"]
model = "tiny-dit"

[backends.engine.defaults]
steps = 3
height = 48
width = 64
num_prompts = 2
cfg_scale = 5.5

[backends.reference]
builtin = "reference"
model = "compat-reference-dit"

[features.par]
label = "Parallel (×2)"
description = "Two-way data parallelism"
args = ["--par", "2"]
gpus = 2
category = "parallelism"

[features.par.backend_args]
reference = ["--cfg-parallel-size", "2"]

[features.quant]
label = "FP8"
args = ["--quant", "fp8"]
lossy = true
category = "quantization"
thresholds = { mean = 0.05 }

[features.fastcache]
label = "FastCache"
args = ["--cache", "fast"]
lossy = true
category = "cache"
exclusive = "cache"
addon_only = true

[features.slowcache]
args = ["--cache", "slow"]
lossy = true
category = "cache"
exclusive = "cache"
addon_only = true

[features.offload]
label = "CPU offload"
args = ["--cpu-offload"]
category = "memory"
single_card_only = true

[features.wide]
label = "Wide (×4)"
args = ["--wide", "4"]
gpus = 4
category = "parallelism"

[[conflicts]]
features = ["quant", "fastcache"]
reason = "FP8 kernels have no cached path"
"#;

// ----------------------------------------------------------------- features --

#[test]
fn features_default_registry() {
    let s = Sandbox::new();
    insta::assert_snapshot!("features_default", s.compat(&["features"]).render());
}

#[test]
fn features_custom_registry() {
    let s = Sandbox::new();
    s.write("custom.toml", CUSTOM_REGISTRY);
    let t = s.compat(&["--features", "custom.toml", "features"]);
    insta::assert_snapshot!("features_custom", t.render());
}

// ------------------------------------------------------------------ dry run --

/// The built-in registry, every subset: SKIPs for the GPU budget and for the
/// cache-backend exclusive group; the reference engine's argv.
#[test]
fn dry_run_all_combos_with_skips() {
    let s = Sandbox::new();
    let t = s.compat(&with_tiny(&[
        "run",
        "--dry-run",
        "--baseline",
        "cfg_parallel",
        "--addons",
        "teacache",
        "cache_dit",
        "ulysses",
        "ring",
        "tp",
        "--combos",
        "all",
        "--gpus",
        "2",
    ]));
    assert!(
        !s.path().join("compat_results").exists(),
        "a dry run writes nothing"
    );
    insta::assert_snapshot!("dry_run_all_combos", t.render());
}

/// The built-in registry with enough devices for sequence and tensor
/// parallelism (pairs, the default).
#[test]
fn dry_run_pairs_with_four_gpus() {
    let s = Sandbox::new();
    let t = s.compat(&with_tiny(&[
        "run",
        "--dry-run",
        "--baseline",
        "cfg_parallel",
        "--addons",
        "teacache",
        "ulysses",
        "ring",
        "tp",
        "--gpus",
        "4",
    ]));
    insta::assert_snapshot!("dry_run_pairs_four_gpus", t.render());
}

/// A command backend: placeholders (inside arguments too, `{{` literal), the
/// backend's defaults under the command line's, shell quoting; SKIP for a
/// declared conflict, a single-card-only feature and the GPU budget.
#[test]
fn dry_run_custom_backend() {
    let s = Sandbox::new();
    s.write("custom.toml", CUSTOM_REGISTRY);
    let t = s.compat(&[
        "--features",
        "custom.toml",
        "run",
        "--dry-run",
        "--baseline",
        "par",
        "--addons",
        "quant",
        "fastcache",
        "offload",
        "wide",
        "--combos",
        "all",
        "--gpus",
        "4",
        "--seed",
        "7",
        "--negative-prompt",
        "it's blurry",
    ]);
    insta::assert_snapshot!("dry_run_custom_backend", t.render());
}

/// Each real engine's dry run: its own flag spellings in the argv, and a
/// SKIP with the engine's reason for what it cannot do (issue 14), decided
/// before any model load.
#[test]
fn dry_run_each_engine() {
    let s = Sandbox::new();
    let engines: [(&str, &[&str]); 3] = [
        (
            "vllm-omni",
            &[
                "--baseline",
                "cfg_parallel",
                "--addons",
                "teacache",
                "ulysses",
                "tp",
                "cpu_offload",
                "layerwise_offload",
                "fp8",
                "vae_patch_parallel",
                "eager",
                "fa_deterministic",
                "compile",
            ],
        ),
        (
            "xdit",
            &[
                "--baseline",
                "ulysses",
                "--addons",
                "cfg_parallel",
                "teacache",
                "cache_dit",
                "ring",
                "tp",
                "compile",
                "fp8",
                "cpu_offload",
                "first_block_cache",
                "group_offload",
            ],
        ),
        (
            "diffusers",
            &[
                "--baseline",
                "ulysses",
                "--addons",
                "tp",
                "cfg_parallel",
                "teacache",
                "first_block_cache",
                "taylorseer",
                "compile",
                "group_offload",
                "eager",
            ],
        ),
    ];
    // features.toml's own tables: the engines are not installed here, and
    // what their probes answer is tested in tests/probe.rs and the Python
    // suites (tests/python/test_probe.py).
    for (backend, args) in engines {
        let mut argv = vec![
            "run",
            "--dry-run",
            "--no-probe",
            "--backend",
            backend,
            "--gpus",
            "8",
        ];
        argv.extend_from_slice(args);
        let t = s.compat(&argv);
        assert_eq!(t.code, Some(0), "{}", t.render());
        insta::assert_snapshot!(format!("dry_run_{backend}"), t.render());
    }
}

// ----------------------------------------------------------------- real run --

/// A real run on the embedded reference engine: the summary on stdout, the
/// progress lines on stderr.
#[test]
fn run_summary_on_the_reference_engine() {
    let s = Sandbox::new();
    let mut t = s.compat(&with_tiny(&[
        "run",
        "--gpus",
        "2",
        "--baseline",
        "cfg_parallel",
        "--addons",
        "teacache",
        "ulysses",
    ]));
    t.stdout = mask_summary_seconds(&t.stdout);
    t.stderr = normalise_progress(&t.stderr);
    assert!(
        s.path()
            .join("compat_results/cfg_parallel/manifest.json")
            .is_file()
    );
    insta::assert_snapshot!("run_summary", t.render());
}

/// The same with `--analyze`: the summary, then the analysis table (timing
/// columns masked; with 2 steps TeaCache changes no pixel, so the image
/// metrics are exact).
#[test]
fn run_analyze_table_on_the_reference_engine() {
    let s = Sandbox::new();
    let mut t = s.compat(&with_tiny(&[
        "run",
        "--gpus",
        "2",
        "--baseline",
        "cfg_parallel",
        "--addons",
        "teacache",
        "ulysses",
        "--analyze",
    ]));
    t.stdout = mask_analysis_table(&mask_summary_seconds(&t.stdout));
    t.stderr = normalise_progress(&t.stderr);
    assert!(
        s.path()
            .join("compat_results/cfg_parallel/report.json")
            .is_file()
    );
    insta::assert_snapshot!("run_analyze_table", t.render());
}

/// A configuration the engine refuses (its feature asks for more workers than
/// its registry entry's `gpus` gives it): failed in the summary, ERROR in the
/// table with the backend's last line, exit 1; the other configs still run.
#[test]
fn run_with_a_failing_config_and_analyze() {
    let s = Sandbox::new();
    s.write(
        "features.toml",
        r#"
default_backend = "reference"

[backends.reference]
builtin = "reference"
model = "compat-reference-dit"

[features.cfg_parallel]
args = ["--cfg-parallel-size", "2"]
gpus = 2

# A cache (the category): its verdict then rests on the engine's own work
# counts, not on two prompts' timings, which made this snapshot's status
# depend on how busy the machine was (at 2 steps TeaCache skips nothing).
[features.teacache]
args = ["--cache-backend", "tea_cache"]
lossy = true
addon_only = true
category = "cache"

[features.undercount]
description = "Asks for a ring of 2 but declares no GPUs of its own"
args = ["--ring-degree", "2"]
"#,
    );
    // ./features.toml is found without --features.
    let mut t = s.compat(&with_tiny(&[
        "run",
        "--gpus",
        "2",
        "--baseline",
        "cfg_parallel",
        "--addons",
        "teacache",
        "undercount",
        "--analyze",
    ]));
    t.stdout = mask_analysis_table(&mask_summary_seconds(&t.stdout));
    t.stderr = normalise_progress(&t.stderr);
    insta::assert_snapshot!("run_failing_config_analyze", t.render());
}

// ------------------------------------------------------------------ compare --

fn thresholds() -> Value {
    json!({
        "lossless_mean": 0.02,
        "lossless_max": 0.2,
        "lossy_mean": 0.15,
        "lossy_fail_mean": 0.3
    })
}

/// One `results[]` entry: mean time `t` ms against a 1000 ms baseline, a
/// speedup interval ±`rel` (relative) when given, MeanDiff `diff`.
fn cfg(name: &str, gpus: u32, status: &str, t: Option<f64>, rel: Option<f64>, diff: f64) -> Value {
    let features: Vec<&str> = if name == "baseline" {
        vec![]
    } else {
        name.split('+').collect()
    };
    let role = match features.len() {
        0 => "baseline",
        1 => "baseline_feature",
        _ => "addon",
    };
    let speedup = t.map(|t| 1000.0 / t);
    let reason = match status {
        "SKIP" => Some(format!("requires {gpus} GPUs, only 4 available")),
        "FAIL" if name.contains("cache") => Some(format!("lossy: mean MeanDiff {diff:.4} > 0.3")),
        "FAIL" => Some(format!("lossless: mean MeanDiff {diff:.4} > 0.02")),
        "WARN" => Some(format!("lossy: mean MeanDiff {diff:.4} > 0.15")),
        _ => None,
    };
    let ran = status != "SKIP";
    json!({
        "name": name,
        "role": role,
        "features": features,
        "total_gpus": gpus,
        "is_lossy": name.contains("cache"),
        "compat_status": status,
        "reason": reason,
        "thresholds": thresholds(),
        "mean_gen_time_ms": t,
        "speedup": speedup,
        "speedup_ci": speedup.zip(rel).map(|(s, r)| json!({"low": s * (1.0 - r), "high": s * (1.0 + r)})),
        "speedup_significant": speedup.zip(rel).map(|(s, r)| s * (1.0 - r) > 1.0 || s * (1.0 + r) < 1.0),
        "timing": null,
        "load_seconds": null,
        "mean_diff_avg": (ran && role != "baseline").then_some(diff),
        "max_diff_avg": (ran && role != "baseline").then_some(diff * 4.0),
        "psnr_avg": null,
        "ssim_avg": null,
        "changed_share_avg": null,
        "identical_prompts": 0,
        "worst_prompt": null,
        "vs_baseline_feature": null,
        "concurrent_with": [],
        "prompts": []
    })
}

/// A report.json as `compat analyze` (schema version 1) writes it.
fn report(results: Vec<Value>) -> Value {
    let count = |s: &str| results.iter().filter(|r| r["compat_status"] == s).count();
    json!({
        "schema_version": 1,
        "tool": "compat",
        "tool_version": "0.1.0",
        "generated": "2025-01-01T00:00:00Z",
        "results_dir": "compat_results/cfg_parallel",
        "layout": "compat",
        "registry": "<built-in features.toml>",
        "run": {
            "model": "compat-reference-dit",
            "backend": "reference",
            "steps": 20,
            "height": 256,
            "width": 256,
            "cfg_scale": 4.0,
            "seed": 42,
            "devices": {"count": 4, "ids": ["0", "1", "2", "3"], "source": "--gpus", "detail": "4 devices from --gpus"},
            "executor": "local",
            "created": "2025-01-01T00:00:00Z",
            "prompts": ["a red cube", "a lighthouse at dusk", "the word HELLO"],
            "num_prompts": 3,
            "concurrent": false
        },
        "thresholds": thresholds(),
        "baseline": "baseline",
        "baseline_feature": "cfg_parallel",
        "ssim_downsample": 1,
        "summary": {
            "total": results.len(),
            "pass": count("PASS"),
            "warn": count("WARN"),
            "fail": count("FAIL"),
            "error": count("ERROR"),
            "skip": count("SKIP")
        },
        "results": results
    })
}

/// "Before": every kind of config, tight intervals (±1%).
fn before() -> Value {
    report(vec![
        cfg("baseline", 1, "PASS", Some(1000.0), None, 0.0),
        cfg("cfg_parallel", 2, "PASS", Some(520.0), Some(0.01), 0.0),
        cfg(
            "cfg_parallel+teacache",
            2,
            "PASS",
            Some(300.0),
            Some(0.01),
            0.05,
        ),
        cfg(
            "cfg_parallel+ulysses",
            4,
            "PASS",
            Some(400.0),
            Some(0.01),
            0.001,
        ),
        cfg(
            "cfg_parallel+ring",
            4,
            "FAIL",
            Some(450.0),
            Some(0.01),
            0.03,
        ),
        cfg("cfg_parallel+tp", 8, "SKIP", None, None, 0.0),
        cfg(
            "cfg_parallel+cache_dit",
            2,
            "WARN",
            Some(280.0),
            Some(0.01),
            0.2,
        ),
        cfg("noisy", 1, "PASS", Some(900.0), Some(0.3), 0.0),
        cfg("old_feature", 2, "PASS", Some(500.0), Some(0.01), 0.0),
    ])
}

/// "After": Improved, Unchanged, Regressed (status and speed), NotComparable,
/// New, Missing.
fn after() -> Value {
    report(vec![
        cfg("baseline", 1, "PASS", Some(1005.0), None, 0.0),
        cfg("cfg_parallel", 2, "PASS", Some(400.0), Some(0.01), 0.0),
        cfg(
            "cfg_parallel+teacache",
            2,
            "FAIL",
            Some(250.0),
            Some(0.01),
            0.35,
        ),
        cfg(
            "cfg_parallel+ulysses",
            4,
            "PASS",
            Some(480.0),
            Some(0.01),
            0.001,
        ),
        cfg(
            "cfg_parallel+ring",
            4,
            "PASS",
            Some(450.0),
            Some(0.01),
            0.01,
        ),
        cfg("cfg_parallel+tp", 8, "PASS", Some(200.0), Some(0.01), 0.002),
        cfg(
            "cfg_parallel+cache_dit",
            2,
            "WARN",
            Some(150.0),
            Some(0.01),
            0.18,
        ),
        cfg("noisy", 1, "PASS", Some(1100.0), Some(0.3), 0.0),
        cfg(
            "cfg_parallel+fbcache",
            2,
            "PASS",
            Some(310.0),
            Some(0.01),
            0.04,
        ),
    ])
}

/// Writes `before()` to `a/`, `after()` to `b/` and `before()` again to `c/`.
fn compare_sandbox() -> Sandbox {
    let s = Sandbox::new();
    for (dir, r) in [("a", before()), ("b", after()), ("c", before())] {
        let text = serde_json::to_string_pretty(&r).expect("serialise");
        s.write(&format!("{dir}/report.json"), &text);
    }
    s
}

/// Two reports: the table with every verdict, notes and the (unenforced) gate.
#[test]
fn compare_table() {
    let s = compare_sandbox();
    let t = s.compat(&["compare", "a/report.json", "b"]);
    insta::assert_snapshot!("compare_table", t.render());
}

/// Three reports (labelled verdicts), `--best`, and the enforced gate (exit 1).
#[test]
fn compare_table_three_reports_best_and_gate() {
    let s = compare_sandbox();
    let t = s.compat(&["compare", "a", "b", "c", "--best", "--fail-on-regression"]);
    insta::assert_snapshot!("compare_table_three_best_gate", t.render());
}

/// `--markdown FILE`: the file (stdout is the table, pinned above).
#[test]
fn compare_markdown() {
    let s = compare_sandbox();
    let t = s.compat(&["compare", "a", "b", "--best", "--markdown", "cmp.md"]);
    assert_eq!(t.code, Some(0), "{}", t.render());
    let md = std::fs::read_to_string(s.path().join("cmp.md")).expect("markdown written");
    insta::assert_snapshot!("compare_markdown", s.normalise(&md));
}

/// `--json`: the comparison document on stdout.
#[test]
fn compare_json() {
    let s = compare_sandbox();
    let t = s.compat(&["compare", "a", "b", "--best", "--json"]);
    let _: Value = serde_json::from_str(&t.stdout).expect("stdout is JSON");
    insta::assert_snapshot!("compare_json", t.render());
}

/// Different workloads: refused (exit 2, nothing on stdout), then `--force`.
#[test]
fn compare_refusal_and_force() {
    let s = compare_sandbox();
    let mut other = after();
    other["run"]["steps"] = json!(30);
    other["run"]["width"] = json!(512);
    s.write(
        "d/report.json",
        &serde_json::to_string_pretty(&other).expect("serialise"),
    );
    let refused = s.compat(&["compare", "a", "d"]);
    let forced = s.compat(&["compare", "a", "d", "--force"]);
    let both = format!("{}\n{}", refused.render(), forced.render());
    insta::assert_snapshot!("compare_refusal_and_force", both);
}
