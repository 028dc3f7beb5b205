//! `compat analyze`: metrics on synthetic images with known answers, the
//! status rules and threshold precedence, and the binary on fixture
//! directories (compat's layout and the original's), with snapshots.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use compat::analysis::metrics::{self, Decoded};
use compat::analysis::status::{self, Facts};
use compat::analysis::{Overrides, timing};
use compat::matrix::Role;
use compat::registry::{Registry, Thresholds};
use compat::report::model::{Report, Status};
use compat::results::{self, ConfigEntry, ConfigState, DeviceInfo, Manifest};

// ------------------------------------------------------------------ helpers --

const W: u32 = 64;
const H: u32 = 64;

fn pattern(x: u32, y: u32, seed: u32) -> [u8; 3] {
    let v = (x * 3 + y * 5 + seed * 11) % 200 + 20;
    [v as u8, (v / 2 + 40) as u8, (255 - v) as u8]
}

fn write_png(path: &Path, w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb(f(x, y)));
    img.save(path).expect("write png");
}

fn decoded(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Decoded {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb(f(x, y)));
    Decoded::from_rgb(&PathBuf::from("mem.png"), w, h, img.into_raw())
}

/// A config folder in the original's layout: config_info.json with the
/// original's keys, prompt_NN.png, prompt_NN.exitcode, and a log.
fn original_config(
    root: &Path,
    name: &str,
    gpus: u32,
    lossy: bool,
    prompts: u32,
    secs: f64,
    f: impl Fn(u32, u32, u32) -> [u8; 3],
) -> PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(&d).expect("mkdir");
    let info =
        serde_json::json!({"name": name, "extra_args": [], "total_gpus": gpus, "is_lossy": lossy});
    std::fs::write(d.join("config_info.json"), info.to_string()).expect("info");
    let mut log = String::from("Loading model...\n");
    for p in 0..prompts {
        write_png(&d.join(format!("prompt_{p:02}.png")), W, H, |x, y| {
            f(x, y, p)
        });
        std::fs::write(d.join(format!("prompt_{p:02}.exitcode")), "0\n").expect("ec");
        log.push_str(&format!(
            "  Prompt {}: {:.3} seconds\n",
            p + 1,
            secs + 0.01 * f64::from(p)
        ));
    }
    std::fs::write(d.join("batch_generation.log"), log).expect("log");
    std::fs::write(d.join("batch_generation.exitcode"), "0\n").expect("ec");
    d
}

fn offset(v: [u8; 3], by: u8) -> [u8; 3] {
    v.map(|c| c.saturating_add(by))
}

/// The original's layout: baseline, cfg_parallel (byte-identical), and
/// cfg_parallel+teacache (lossy, +10 on every channel), 4 prompts, no manifest.
fn original_fixture(root: &Path) {
    original_config(root, "baseline", 1, false, 4, 2.0, pattern);
    original_config(root, "cfg_parallel", 2, false, 4, 1.0, pattern);
    original_config(root, "cfg_parallel+teacache", 2, true, 4, 0.5, |x, y, p| {
        offset(pattern(x, y, p), 10)
    });
}

fn entry(
    name: &str,
    role: Role,
    features: &[&str],
    gpus: u32,
    lossy: bool,
    state: ConfigState,
) -> ConfigEntry {
    ConfigEntry {
        name: name.into(),
        role,
        features: features.iter().map(|s| s.to_string()).collect(),
        args: vec![],
        argv: vec![],
        gpus,
        lossy,
        state,
        skip_reason: None,
        error: None,
        devices: vec![],
        started: None,
        finished: None,
        seconds: None,
        exit_code: None,
        prompts_ok: 0,
        fingerprint: String::new(),
        concurrent_with: vec![],
        gpu_memory_peak_bytes: Default::default(),
        gpu_memory_start_bytes: Default::default(),
        session: None,
        slurm_job_id: None,
        engine: None,
    }
}

fn manifest(configs: Vec<ConfigEntry>, prompts: usize) -> Manifest {
    Manifest {
        schema_version: 1,
        tool: "compat".into(),
        tool_version: "0.1.0".into(),
        created: "2026-01-01T00:00:00Z".into(),
        updated: "2026-01-01T00:00:00Z".into(),
        registry: "<built-in features.toml>".into(),
        backend: "reference".into(),
        backend_command: vec![],
        settings: compat::settings::Settings {
            model: "compat-reference-dit".into(),
            steps: 20,
            height: H,
            width: W,
            cfg_scale: 4.0,
            guidance_scale: None,
            seed: 42,
            negative_prompt: String::new(),
            warmup: 1,
        },
        prompts: (0..prompts).map(|i| format!("prompt number {i}")).collect(),
        baseline_feature: Some("cfg_parallel".into()),
        addons: vec!["teacache".into(), "ulysses".into()],
        combos: "pairs".into(),
        devices: DeviceInfo {
            count: 2,
            ids: vec!["0".into(), "1".into()],
            source: "cpu-cores".into(),
            detail: "2 CPU cores".into(),
        },
        timeout_seconds: 1800,
        executor: "local".into(),
        configs,
        engine: None,
        engine_probe: None,
        sessions: vec![],
    }
}

/// compat's layout: manifest, results.jsonl, a SKIPPED config with no folder.
fn compat_fixture(root: &Path) {
    let n = 3;
    for (name, secs, by) in [
        ("baseline", 2.0, 0u8),
        ("cfg_parallel", 1.0, 0),
        ("cfg_parallel+teacache", 0.5, 60),
    ] {
        let d = root.join(name);
        std::fs::create_dir_all(&d).expect("mkdir");
        let mut jsonl = String::from("{\"event\": \"load\", \"seconds\": 12.5}\n");
        for p in 0..n {
            write_png(&d.join(results::prompt_image(p)), W, H, |x, y| {
                offset(pattern(x, y, p as u32), by)
            });
            jsonl.push_str(&format!(
                "{{\"prompt\": {p}, \"image\": \"prompt_{p:02}.png\", \"seconds\": {}, \"ok\": true}}\n",
                secs + 0.02 * p as f64
            ));
        }
        std::fs::write(d.join(results::RESULTS), jsonl).expect("jsonl");
        std::fs::write(d.join(results::EXITCODE), "0").expect("ec");
    }
    let mut skipped = entry(
        "cfg_parallel+ulysses",
        Role::Addon,
        &["cfg_parallel", "ulysses"],
        4,
        false,
        ConfigState::Skipped,
    );
    skipped.skip_reason = Some("requires 4 GPUs, only 2 available".into());
    let m = manifest(
        vec![
            entry(
                "baseline",
                Role::Baseline,
                &[],
                1,
                false,
                ConfigState::Completed,
            ),
            entry(
                "cfg_parallel",
                Role::BaselineFeature,
                &["cfg_parallel"],
                2,
                false,
                ConfigState::Completed,
            ),
            entry(
                "cfg_parallel+teacache",
                Role::Addon,
                &["cfg_parallel", "teacache"],
                2,
                true,
                ConfigState::Completed,
            ),
            skipped,
        ],
        n,
    );
    results::atomic::write_json(&root.join(results::MANIFEST), &m).expect("manifest");
}

fn compat_cmd(cwd: &Path) -> Command {
    let mut c = Command::cargo_bin("compat").expect("binary");
    c.current_dir(cwd).env("NO_COLOR", "1");
    c
}

fn analyze(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = compat_cmd(dir)
        .arg("analyze")
        .arg("--results-dir")
        .arg(dir)
        .args(extra)
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn report(dir: &Path) -> Report {
    results::atomic::read_json(&dir.join("report.json")).expect("report.json")
}

fn result<'a>(r: &'a Report, name: &str) -> &'a compat::report::ConfigResult {
    r.results
        .iter()
        .find(|c| c.name == name)
        .expect("config in report")
}

// ------------------------------------------------------------------ metrics --

#[test]
fn identical_images_are_zero_and_ssim_one() {
    let a = decoded(W, H, |x, y| pattern(x, y, 1));
    let m = metrics::compare(&a, &a.clone()).expect("compare");
    assert!(m.identical);
    assert_eq!((m.mean_diff, m.max_diff, m.changed_share), (0.0, 0.0, 0.0));
    assert_eq!(m.psnr, None, "identical: no number that breaks JSON");
    assert_eq!(m.ssim, 1.0);
    let flat = vec![0.5f32; 64 * 64];
    assert!((metrics::ssim(&flat, &flat, 64, 64) - 1.0).abs() < 1e-6);
}

#[test]
fn one_pixel_changed() {
    let a = decoded(W, H, |x, y| pattern(x, y, 1));
    let b = decoded(W, H, |x, y| {
        let mut p = pattern(x, y, 1);
        if (x, y) == (10, 20) {
            p[1] = p[1].wrapping_add(100);
        }
        p
    });
    let m = metrics::compare(&b, &a).expect("compare");
    let d = f64::from(pattern(10, 20, 1)[1].abs_diff(pattern(10, 20, 1)[1].wrapping_add(100)));
    let samples = f64::from(W * H * 3);
    assert!((m.mean_diff - d / 255.0 / samples).abs() < 1e-12);
    assert!((m.max_diff - d / 255.0).abs() < 1e-12);
    assert!((m.changed_share - 1.0 / f64::from(W * H)).abs() < 1e-12);
    let mse = (d / 255.0).powi(2) / samples;
    assert!((m.psnr.expect("psnr") - 10.0 * (1.0 / mse).log10()).abs() < 1e-9);
    assert!(m.ssim < 1.0 && m.ssim > 0.99);
}

#[test]
fn constant_offset_gives_exact_meandiff_and_psnr() {
    let a = decoded(W, H, |x, y| pattern(x, y, 2));
    let b = decoded(W, H, |x, y| offset(pattern(x, y, 2), 8));
    let m = metrics::compare(&b, &a).expect("compare");
    assert!((m.mean_diff - 8.0 / 255.0).abs() < 1e-12);
    assert!((m.max_diff - 8.0 / 255.0).abs() < 1e-12);
    let psnr = 20.0 * (255.0f64 / 8.0).log10();
    assert!(
        (m.psnr.expect("psnr") - psnr).abs() < 1e-9,
        "{:?} vs {psnr}",
        m.psnr
    );
    assert_eq!(m.changed_share, 0.0, "8/255 is not *more* than 8/255");
    let c = decoded(W, H, |x, y| offset(pattern(x, y, 2), 9));
    assert_eq!(
        metrics::compare(&c, &a).expect("compare").changed_share,
        1.0
    );
}

/// Reference values from scripts/ssim_reference.py (pure Python, direct 2-D
/// window sums, 'valid' windows, C1 = 0.01², C2 = 0.03², 11×11 σ 1.5).
#[test]
fn ssim_matches_an_independent_implementation() {
    let (w, h) = (32usize, 24usize);
    let plane = |f: &dyn Fn(f64, f64) -> f64| -> Vec<f32> {
        (0..h)
            .flat_map(|i| (0..w).map(move |j| (i, j)))
            .map(|(i, j)| f(i as f64, j as f64) as f32)
            .collect()
    };
    let pa = |i: f64, j: f64| ((i as usize * 7 + j as usize * 3) % 17) as f64 / 16.0;
    let pb =
        |i: f64, j: f64| (pa(i, j) * 0.8 + 0.1 + 0.05 * (i * 0.7 + j * 0.3).sin()).clamp(0.0, 1.0);
    let pc = |i: f64, j: f64| (i * w as f64 + j) / (w * h - 1) as f64;
    let pd = |i: f64, j: f64| 1.0 - pc(i, j);
    let (a, b, c, d) = (plane(&pa), plane(&pb), plane(&pc), plane(&pd));
    assert!((metrics::ssim(&a, &b, w, h) - 0.969_295_252_539_228_9).abs() < 1e-5);
    assert!((metrics::ssim(&c, &d, w, h) - -0.643_152_691_212_216_7).abs() < 1e-5);
    assert!((metrics::ssim(&a, &a, w, h) - 1.0).abs() < 1e-6);
}

/// piq's automatic downsampling (as Wang's ssim.m here): 515×389 has f = round(389 /
/// 256) = 2, so SSIM runs on the 257×194 plane of 2×2 block means (the last
/// column and row are dropped). Value from `scripts/ssim_reference.py
/// --downsampled` (pure Python, RGB → luma → block means → direct windows).
#[test]
fn large_images_are_downsampled_before_ssim_as_in_the_reference() {
    let a = |x: u32, y: u32| {
        [
            ((x * 3 + y * 5) % 200 + 20) as u8,
            ((x * y / 16) % 256) as u8,
            ((x ^ y) & 255) as u8,
        ]
    };
    let b = |x: u32, y: u32| a(x, y).map(|c| c.saturating_add(((x / 8 + y / 4) % 5 * 6) as u8));
    let (da, db) = (decoded(515, 389, a), decoded(515, 389, b));
    assert_eq!(da.ssim_downsample, 2);
    assert_eq!((da.luma_width, da.luma_height), (257, 194));
    let m = metrics::compare(&db, &da).expect("compare");
    assert!(
        (m.ssim - 0.967_115_364_776_374_9).abs() < 1e-5,
        "ssim {}",
        m.ssim
    );
    // The factor: 1 under 384 px (so the known values above stand), then
    // round(min / 256) with halves to even, as piq (MATLAB's ssim.m gives 3
    // at 640).
    let f = metrics::ssim_downsample;
    assert_eq!((f(383, 4000), f(64, 64), f(0, 0)), (1, 1, 1));
    assert_eq!((f(384, 384), f(512, 512), f(640, 640)), (2, 2, 2));
    assert_eq!((f(1024, 1024), f(1024, 768), f(2048, 1536)), (4, 3, 6));
}

#[test]
fn size_mismatch_is_an_error_naming_both_files() {
    let a = decoded(64, 64, |x, y| pattern(x, y, 0));
    let mut b = decoded(32, 64, |x, y| pattern(x, y, 0));
    b.path = PathBuf::from("other.png");
    let e = metrics::compare(&b, &a).expect_err("mismatch").to_string();
    assert!(
        e.contains("other.png is 32x64") && e.contains("mem.png is 64x64"),
        "{e}"
    );
}

#[test]
fn corrupt_bytes_are_an_error_not_a_panic() {
    let e = metrics::decode(Path::new("x/prompt_00.png"), b"\x89PNG\r\n\x1a\nnot really")
        .expect_err("corrupt")
        .to_string();
    assert!(
        e.contains("x/prompt_00.png") && e.contains("corrupt"),
        "{e}"
    );
}

#[test]
fn timing_stats_and_bootstrap() {
    let s = timing::stats(&[1.0, 2.0, 3.0, 4.0, 10.0], "t").expect("stats");
    assert_eq!(s.n, 5);
    assert!((s.mean - 4.0).abs() < 1e-12 && (s.median - 3.0).abs() < 1e-12);
    assert!((s.p95 - 8.8).abs() < 1e-12);
    let s = timing::speedup(&[2.0, 2.2, 1.8], &[1.0, 1.1, 0.9]).expect("speedup");
    assert!((s.estimate - 2.0).abs() < 1e-12, "{s:?}");
    assert!(s.interval.expect("ci").low > 1.0);
}

// ------------------------------------------------------------------ status --

fn facts(lossy: bool, mean: f64, max: f64) -> Facts {
    Facts {
        lossy,
        mean_diff: Some(mean),
        max_diff: Some(max),
        ..Facts::default()
    }
}

#[test]
fn status_rules_first_match_wins() {
    let t = Thresholds::default();
    let err = Facts {
        error: Some("timed out".into()),
        skip_reason: Some("x".into()),
        ..facts(false, 0.0, 0.0)
    };
    let skip = Facts {
        skip_reason: Some("requires 4 GPUs, only 2 available".into()),
        ..Facts::default()
    };
    let base = Facts {
        is_baseline: true,
        ..Facts::default()
    };
    let cases: Vec<(&str, Facts, Status)> = vec![
        ("error beats everything", err, Status::Error),
        ("skip", skip, Status::Skip),
        ("baseline that ran", base, Status::Pass),
        ("lossless identical", facts(false, 0.0, 0.0), Status::Pass),
        (
            "lossless at mean threshold",
            facts(false, 0.02, 0.1),
            Status::Pass,
        ),
        (
            "lossless above mean",
            facts(false, 0.021, 0.1),
            Status::Fail,
        ),
        ("lossless above max", facts(false, 0.01, 0.21), Status::Fail),
        ("lossy small", facts(true, 0.1, 0.9), Status::Pass),
        (
            "lossy at warn threshold",
            facts(true, 0.15, 1.0),
            Status::Pass,
        ),
        ("lossy warn", facts(true, 0.2, 1.0), Status::Warn),
        (
            "lossy at fail threshold",
            facts(true, 0.30, 1.0),
            Status::Warn,
        ),
        ("lossy fail", facts(true, 0.31, 1.0), Status::Fail),
        ("lossy ignores max", facts(true, 0.0, 1.0), Status::Pass),
        ("no metrics", Facts::default(), Status::Error),
    ];
    for (what, f, want) in cases {
        let (got, reason) = status::judge(&f, &t);
        assert_eq!(got, want, "{what}");
        assert_eq!(reason.is_some(), want != Status::Pass, "{what}: {reason:?}");
    }
    let (_, reason) = status::judge(&facts(false, 0.01, 0.21), &t);
    assert!(reason.expect("reason").contains("MaxDiff 0.2100 > 0.2"));
}

#[test]
fn threshold_precedence_cli_over_feature_over_table_over_defaults() {
    let text = r#"
default_backend = "fake"
[backends.fake]
command = ["fake"]
[features.cfg_parallel]
args = ["--cfg-parallel-size", "2"]
gpus = 2
[features.teacache]
args = ["--cache-backend", "tea_cache"]
lossy = true
thresholds = { mean = 0.08 }
[thresholds]
lossless = { mean = 0.05, max = 0.3 }
lossy = { mean = 0.1, fail_mean = 0.2 }
"#;
    let reg = Registry::parse(text, "features.toml").expect("registry");
    let feats = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let none = Overrides::default();
    let cli = Overrides {
        lossy_mean: Some(0.12),
        lossless_max: Some(0.25),
        ..Overrides::default()
    };
    let defaults =
        Registry::parse(&text[..text.find("[thresholds]").expect("table")], "f").expect("registry");
    type Row = (&'static str, Thresholds, f64, f64, f64, f64);
    let rows: Vec<Row> = vec![
        (
            "defaults",
            status::thresholds_for(&defaults, &feats(&["cfg_parallel"]), &none),
            0.02,
            0.2,
            0.15,
            0.30,
        ),
        (
            "table",
            status::thresholds_for(&reg, &feats(&["cfg_parallel"]), &none),
            0.05,
            0.3,
            0.1,
            0.2,
        ),
        (
            "feature",
            status::thresholds_for(&reg, &feats(&["cfg_parallel", "teacache"]), &none),
            0.05,
            0.3,
            0.08,
            0.2,
        ),
        (
            "cli",
            status::thresholds_for(&reg, &feats(&["cfg_parallel", "teacache"]), &cli),
            0.05,
            0.25,
            0.12,
            0.2,
        ),
    ];
    for (what, t, lm, lx, ym, yf) in rows {
        assert_eq!(
            (
                t.lossless_mean,
                t.lossless_max,
                t.lossy_mean,
                t.lossy_fail_mean
            ),
            (lm, lx, ym, yf),
            "{what}"
        );
    }
}

// ------------------------------------------------------------------ the binary --

#[test]
fn original_layout_passes_and_writes_report() {
    let tmp = tempfile::tempdir().expect("tmp");
    original_fixture(tmp.path());
    let (code, out, err) = analyze(tmp.path(), &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("Config") && out.contains("Speedup [95% CI]"),
        "{out}"
    );
    let r = report(tmp.path());
    assert_eq!(r.layout, "original");
    assert_eq!(r.baseline_feature.as_deref(), Some("cfg_parallel"));
    assert_eq!(r.run.num_prompts, 4);
    let tc = result(&r, "cfg_parallel+teacache");
    assert_eq!(tc.compat_status, Status::Pass);
    assert_eq!(tc.role, Role::Addon);
    assert!(tc.is_lossy && tc.total_gpus == 2);
    assert!((tc.mean_diff_avg.expect("mean") - 10.0 / 255.0).abs() < 1e-3);
    let cp = result(&r, "cfg_parallel");
    assert_eq!(cp.identical_prompts, 4);
    assert_eq!(cp.psnr_avg, None);
    let sp = cp.speedup.expect("speedup");
    assert!((sp - 2.015 / 1.015).abs() < 0.01, "{sp}");
    assert_eq!(
        cp.timing.as_ref().map(|t| t.source.as_str()),
        Some("batch_generation.log")
    );
    // The original's keys, for scripts written for it.
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("report.json")).expect("read"))
            .expect("json");
    for key in [
        "name",
        "total_gpus",
        "is_lossy",
        "compat_status",
        "mean_gen_time_ms",
        "speedup",
        "mean_diff_avg",
        "max_diff_avg",
    ] {
        assert!(raw["results"][0].get(key).is_some(), "missing {key}");
    }
    assert_eq!(raw["results"][2]["compat_status"], "PASS");
}

#[test]
fn compat_layout_with_skip_and_warn() {
    let tmp = tempfile::tempdir().expect("tmp");
    compat_fixture(tmp.path());
    let (code, out, err) = analyze(tmp.path(), &[]);
    assert_eq!(code, 0, "WARN alone exits 0\n{out}\n{err}");
    assert!(out.contains("requires 4 GPUs, only 2 available"), "{out}");
    let r = report(tmp.path());
    assert_eq!(
        result(&r, "cfg_parallel+ulysses").compat_status,
        Status::Skip
    );
    let tc = result(&r, "cfg_parallel+teacache");
    assert_eq!(tc.compat_status, Status::Warn, "{:?}", tc.reason);
    assert_eq!(tc.load_seconds, Some(12.5));
    assert!(tc.vs_baseline_feature.is_some());
    assert_eq!(r.run.model().as_deref(), Some("compat-reference-dit"));
    let (code, _, _) = analyze(tmp.path(), &["--fail-on", "warn"]);
    assert_eq!(code, 1);
    let (code, _, _) = analyze(
        tmp.path(),
        &[
            "--lossy-fail-threshold",
            "0.1",
            "--lossy-mean-threshold",
            "0.05",
        ],
    );
    assert_eq!(code, 1);
    let r = report(tmp.path());
    let tc = result(&r, "cfg_parallel+teacache");
    assert_eq!(tc.compat_status, Status::Fail);
    assert_eq!(tc.thresholds.lossy_fail_mean, 0.1);
}

#[test]
fn json_flag_prints_the_report() {
    let tmp = tempfile::tempdir().expect("tmp");
    compat_fixture(tmp.path());
    let (code, out, _) = analyze(tmp.path(), &["--json"]);
    assert_eq!(code, 0);
    let r: Report = serde_json::from_str(&out).expect("stdout is report.json");
    assert_eq!(r.schema_version, compat::report::model::SCHEMA_VERSION);
    assert_eq!(r.results.len(), 4);
}

fn error_reason(dir: &Path, name: &str) -> String {
    let (code, out, err) = analyze(dir, &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    let r = report(dir);
    let c = result(&r, name);
    assert_eq!(c.compat_status, Status::Error, "{c:?}");
    c.reason.clone().expect("reason")
}

#[test]
fn corrupt_png_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    original_fixture(tmp.path());
    std::fs::write(
        tmp.path().join("cfg_parallel+teacache/prompt_02.png"),
        b"\x89PNG garbage",
    )
    .expect("w");
    let why = error_reason(tmp.path(), "cfg_parallel+teacache");
    assert!(
        why.contains("prompt 2") && why.contains("prompt_02.png") && why.contains("corrupt"),
        "{why}"
    );
}

/// A corrupt or empty baseline image: the baseline is ERROR (not PASS), and
/// the configs say their reference is what is missing.
#[test]
fn a_corrupt_baseline_image_is_the_baselines_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    original_fixture(tmp.path());
    std::fs::write(tmp.path().join("baseline/prompt_01.png"), b"").expect("w");
    let why = error_reason(tmp.path(), "baseline");
    assert!(
        why.contains("prompt 1") && why.contains("prompt_01.png"),
        "{why}"
    );
    let other = error_reason(tmp.path(), "cfg_parallel");
    assert!(other.contains("prompt 1: reference"), "{other}");
}

#[test]
fn size_mismatch_is_an_error_for_that_prompt() {
    let tmp = tempfile::tempdir().expect("tmp");
    original_fixture(tmp.path());
    write_png(
        &tmp.path().join("cfg_parallel+teacache/prompt_01.png"),
        32,
        32,
        |x, y| pattern(x, y, 1),
    );
    let why = error_reason(tmp.path(), "cfg_parallel+teacache");
    assert!(
        why.contains("prompt 1") && why.contains("size mismatch") && why.contains("32x32"),
        "{why}"
    );
}

#[test]
fn missing_image_is_an_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    original_fixture(tmp.path());
    std::fs::remove_file(tmp.path().join("cfg_parallel/prompt_03.png")).expect("rm");
    let why = error_reason(tmp.path(), "cfg_parallel");
    assert!(why.contains("prompt 3: no image"), "{why}");
}

#[test]
fn failed_backend_is_an_error_with_its_exit_code() {
    let tmp = tempfile::tempdir().expect("tmp");
    original_fixture(tmp.path());
    std::fs::write(
        tmp.path()
            .join("cfg_parallel+teacache/batch_generation.exitcode"),
        "137\n",
    )
    .expect("w");
    let why = error_reason(tmp.path(), "cfg_parallel+teacache");
    assert!(why.contains("137"), "{why}");
}

#[test]
fn truncated_and_non_utf8_logs_are_read() {
    let tmp = tempfile::tempdir().expect("tmp");
    original_fixture(tmp.path());
    std::fs::write(
        tmp.path().join("cfg_parallel/batch_generation.log"),
        "  Prompt 1: 1.0 seconds\n  Prompt 2: 1.1 sec",
    )
    .expect("w");
    let mut bytes =
        b"\xff\xfe garbage \xc3\x28\n  Prompt 1: 0.5 seconds\n\x80\x81\n  Prompt 2: 0.6 seconds\n"
            .to_vec();
    bytes.extend_from_slice(b"  Prompt 3: 0.7 seconds\n  Prompt 4: 0.8 seconds\n");
    std::fs::write(
        tmp.path()
            .join("cfg_parallel+teacache/batch_generation.log"),
        bytes,
    )
    .expect("w");
    let (code, out, err) = analyze(tmp.path(), &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let r = report(tmp.path());
    assert_eq!(
        result(&r, "cfg_parallel").timing.as_ref().map(|t| t.n),
        Some(1)
    );
    let t = result(&r, "cfg_parallel+teacache")
        .timing
        .clone()
        .expect("timing");
    assert_eq!(t.n, 4);
    assert!((t.mean - 0.65).abs() < 1e-9);
    assert!(
        result(&r, "cfg_parallel").speedup_ci.is_none(),
        "n < 2: no interval"
    );
}

#[test]
fn empty_or_missing_directory_exits_2_saying_what_is_missing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (code, _, err) = analyze(tmp.path(), &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("not a results directory") && err.contains("manifest.json"),
        "{err}"
    );
    assert!(!tmp.path().join("report.json").exists(), "nothing written");
    let out = compat_cmd(tmp.path())
        .args(["analyze", "--results-dir", "nope"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope: not a directory"));
}

#[test]
fn default_is_the_newest_run_under_compat_results() {
    let tmp = tempfile::tempdir().expect("tmp");
    let old = tmp.path().join("compat_results/old");
    let new = tmp.path().join("compat_results/cfg_parallel");
    std::fs::create_dir_all(&old).expect("mkdir");
    std::fs::create_dir_all(&new).expect("mkdir");
    compat_fixture(&old);
    std::thread::sleep(std::time::Duration::from_millis(20));
    compat_fixture(&new);
    let out = compat_cmd(tmp.path()).arg("analyze").output().expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(new.join("report.json").is_file());
    assert!(!old.join("report.json").exists());
    // It says which run it picked.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("analyzing compat_results/cfg_parallel (the newest run"),
        "{err}"
    );
    let empty = tempfile::tempdir().expect("tmp");
    let out = compat_cmd(empty.path())
        .arg("analyze")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn junit_parses_back() {
    let tmp = tempfile::tempdir().expect("tmp");
    compat_fixture(tmp.path());
    std::fs::remove_file(tmp.path().join("cfg_parallel/prompt_01.png")).expect("rm");
    let junit = tmp.path().join("junit.xml");
    let (code, _, _) = analyze(tmp.path(), &["--junit", junit.to_str().expect("utf8")]);
    assert_eq!(code, 1);
    let text = std::fs::read_to_string(&junit).expect("junit");
    let parsed = quick_junit::Report::deserialize_from_str(&text).expect("valid junit");
    let suite = &parsed.test_suites[0];
    assert_eq!(suite.test_cases.len(), 4);
    let case = |n: &str| {
        suite
            .test_cases
            .iter()
            .find(|c| c.name.as_str() == n)
            .expect("case")
    };
    assert!(matches!(
        case("cfg_parallel+ulysses").status,
        quick_junit::TestCaseStatus::Skipped { .. }
    ));
    match &case("cfg_parallel").status {
        quick_junit::TestCaseStatus::NonSuccess { message, .. } => {
            let m = message.as_ref().expect("message").as_str();
            assert!(
                m.contains("ERROR") && m.contains("prompt 1") && m.contains("lossless thresholds"),
                "{m}"
            );
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(matches!(
        case("baseline").status,
        quick_junit::TestCaseStatus::Success { .. }
    ));
}

// ------------------------------------------------------------------ snapshots --

fn rounded(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            serde_json::json!((x * 1e5).round() / 1e5)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(rounded).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, rounded(v))).collect()),
        other => other,
    }
}

fn stable(mut r: Report) -> Report {
    r.generated = "[generated]".into();
    r.results_dir = "[dir]".into();
    r.tool_version = "[version]".into();
    r
}

#[test]
fn snapshot_report_json_and_markdown() {
    let tmp = tempfile::tempdir().expect("tmp");
    compat_fixture(tmp.path());
    let md = tmp.path().join("summary.md");
    let (code, _, err) = analyze(tmp.path(), &["--markdown", md.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{err}");
    let r = stable(report(tmp.path()));
    // Floats rounded: SIMD width changes the last bits of f32 sums.
    let value = rounded(serde_json::to_value(&r).expect("json"));
    insta::assert_snapshot!(
        "report_json",
        serde_json::to_string_pretty(&value).expect("json")
    );
    let text = std::fs::read_to_string(&md).expect("markdown");
    insta::assert_snapshot!("markdown", text);
    let table = compat::report::table::render(&r, false);
    insta::assert_snapshot!("table", table);
}

#[test]
fn snapshot_original_layout_table() {
    let tmp = tempfile::tempdir().expect("tmp");
    original_fixture(tmp.path());
    std::fs::remove_file(tmp.path().join("cfg_parallel/prompt_03.png")).expect("rm");
    let (_, out, _) = analyze(tmp.path(), &[]);
    insta::assert_snapshot!("original_table", out);
}

/// A results folder that cannot be written to: the verdict still reaches
/// stdout, a note says report.json was not saved, and the exit code is 3
/// (an output is missing), not a verdict's 0 or 1.
#[test]
fn a_read_only_folder_still_prints_the_verdict() {
    let tmp = tempfile::tempdir().expect("tmp");
    original_fixture(tmp.path());
    // A directory named report.json makes the write fail even as root.
    std::fs::create_dir(tmp.path().join("report.json")).expect("mkdir");
    let (code, out, err) = analyze(tmp.path(), &[]);
    assert_eq!(code, 3, "{err}");
    assert!(out.contains("PASS") && out.contains("configs:"), "{out}");
    assert!(
        err.contains("report.json") && err.contains("not saved"),
        "{err}"
    );
    let (_, json, _) = analyze(tmp.path(), &["--json"]);
    assert!(json.contains("\"compat_status\""), "{json}");
}

/// Exit 1 is a verdict, never an output problem: a bad output place is
/// exit 2 before any work, an output that cannot be written exit 3.
#[test]
fn output_problems_have_their_own_exit_codes() {
    let tmp = tempfile::tempdir().expect("tmp");
    original_fixture(tmp.path());
    let (code, _, err) = analyze(tmp.path(), &["--templates", "no-such-dir", "--html"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--templates"), "{err}");
    assert!(!tmp.path().join("report.json").exists(), "nothing written");
    let (code, _, err) = analyze(tmp.path(), &["--junit", "missing/j.xml"]);
    assert_eq!(code, 2, "{err}");
    // Written at the end, and refused by the system: exit 3, the verdict shown.
    let (code, out, err) = analyze(tmp.path(), &["--junit", "/proc/self/j.xml"]);
    assert_eq!(code, 3, "{err}");
    assert!(out.contains("configs:"), "{out}");
    assert!(err.contains("an output could not be written"), "{err}");
}
