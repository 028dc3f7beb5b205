//! End to end: a fixture results directory (tiny PNGs, one SKIP and one ERROR
//! config, a hostile prompt) → charts + diff_report.html.
//!
//! With `COMPAT_KEEP_REPORT_DIR=<dir>` the fixture and its report are left in
//! `<dir>/cfg_parallel/` for the browser test (tests/browser/run.sh).

use std::path::{Path, PathBuf};

use compat::report::charts::{self, ChartRow, ChartThresholds};
use compat::report::html::{
    self, HtmlChart, HtmlConfig, HtmlPage, HtmlPrompt, HtmlSummary, HtmlThresholds,
};
use image::{Rgb, RgbImage};

const HOSTILE: &str = "<img src=x onerror=alert(1)>";
const PROMPTS: [&str; 4] = [
    "a red fox in fresh snow, golden hour",
    HOSTILE,
    "a lighthouse at dusk, oil painting",
    "Tokyo street at night with neon signs & rain \"reflections\"",
];

/// What a fixture config does to the baseline images.
#[derive(Clone, Copy)]
enum Kind {
    Baseline,
    /// Every pixel shifted by this many grey levels (0 = identical).
    Shift(u8),
    /// A bright square of this size pasted in (a "lossy" artefact).
    Blob(u32),
    /// The backend died after this many prompts.
    Error(usize),
    Skip,
}

struct Fixture {
    name: &'static str,
    lossy: bool,
    gpus: u32,
    kind: Kind,
    speedup: f64,
}

fn fixtures() -> Vec<Fixture> {
    let f = |name, lossy, gpus, kind, speedup| Fixture {
        name,
        lossy,
        gpus,
        kind,
        speedup,
    };
    vec![
        f("baseline", false, 1, Kind::Baseline, 1.0),
        f("cfg_parallel", false, 2, Kind::Shift(0), 1.82),
        f("cfg_parallel+ulysses", false, 4, Kind::Shift(2), 2.9),
        f("cfg_parallel+teacache", true, 2, Kind::Blob(10), 2.6),
        f("cfg_parallel+cache_dit", true, 2, Kind::Blob(40), 0.93),
        f(
            "cfg_parallel+tensor_parallel",
            false,
            4,
            Kind::Error(1),
            0.0,
        ),
        f("cfg_parallel+hsdp", false, 4, Kind::Skip, 0.0),
    ]
}

/// A 64×64 image that differs per prompt (so thumbnails are recognisable).
fn baseline_image(prompt: usize) -> RgbImage {
    RgbImage::from_fn(64, 64, |x, y| {
        let p = prompt as u32;
        Rgb([
            (x * 4 + p * 40) as u8,
            (y * 4) as u8,
            ((x + y) * 2 + p * 60) as u8,
        ])
    })
}

fn variant(base: &RgbImage, kind: Kind) -> RgbImage {
    let mut img = base.clone();
    match kind {
        Kind::Shift(d) => img.pixels_mut().for_each(|p| {
            p.0 = p.0.map(|c| c.saturating_add(d));
        }),
        Kind::Blob(s) => {
            for y in 8..(8 + s).min(64) {
                for x in 20..(20 + s).min(64) {
                    img.put_pixel(x, y, Rgb([255, 255, 255]));
                }
            }
        }
        _ => {}
    }
    img
}

/// MeanDiff, MaxDiff, PSNR (None when identical), share changed > 8/255.
fn metrics(a: &RgbImage, b: &RgbImage) -> (f64, f64, Option<f64>, f64) {
    let (mut sum, mut max, mut sq, mut changed) = (0f64, 0f64, 0f64, 0usize);
    for (pa, pb) in a.pixels().zip(b.pixels()) {
        let mut px = 0f64;
        for c in 0..3 {
            let d = (pa[c] as f64 - pb[c] as f64).abs() / 255.0;
            sum += d;
            sq += d * d;
            max = max.max(d);
            px += d / 3.0;
        }
        if px > 8.0 / 255.0 {
            changed += 1;
        }
    }
    let n = (a.width() * a.height()) as f64;
    let mse = sq / (3.0 * n);
    let psnr = (mse > 0.0).then(|| -10.0 * mse.log10());
    (sum / (3.0 * n), max, psnr, changed as f64 / n)
}

fn status(f: &Fixture, mean: f64, max: f64) -> &'static str {
    match f.kind {
        Kind::Error(_) => "ERROR",
        Kind::Skip => "SKIP",
        _ if !f.lossy && (mean > 0.02 || max > 0.2) => "FAIL",
        _ if f.lossy && mean > 0.30 => "FAIL",
        _ if f.lossy && mean > 0.15 => "WARN",
        _ => "PASS",
    }
}

/// Builds the results directory and returns (results dir, page, chart rows).
fn build_fixture(root: &Path) -> (PathBuf, HtmlPage, Vec<ChartRow>) {
    let dir = root.join("cfg_parallel");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let baselines: Vec<RgbImage> = (0..PROMPTS.len()).map(baseline_image).collect();
    let mut configs = Vec::new();
    let mut rows = Vec::new();
    let mut manifest_configs = Vec::new();
    for f in fixtures() {
        let cdir = dir.join(f.name);
        std::fs::create_dir_all(&cdir).unwrap();
        let mut prompts = Vec::new();
        let (mut means, mut maxes, mut psnrs, mut chg) = (vec![], vec![], vec![], vec![]);
        let mut log = String::from("loading model...\n");
        if !matches!(f.kind, Kind::Skip) {
            for (i, text) in PROMPTS.iter().enumerate() {
                let base_png = dir.join("baseline").join(format!("prompt_{i:02}.png"));
                let produced = match f.kind {
                    Kind::Error(n) => i < n,
                    _ => true,
                };
                let mut prompt = HtmlPrompt {
                    index: i,
                    text: text.to_string(),
                    baseline_png: Some(base_png),
                    ..Default::default()
                };
                if produced {
                    let img = variant(&baselines[i], f.kind);
                    let png = cdir.join(format!("prompt_{i:02}.png"));
                    img.save(&png).unwrap();
                    let (m, x, p, c) = metrics(&baselines[i], &img);
                    means.push(m);
                    maxes.push(x);
                    psnrs.push(p);
                    chg.push(c);
                    prompt.mean_diff = Some(m);
                    prompt.max_diff = Some(x);
                    prompt.psnr = p;
                    prompt.ssim = Some(1.0 - m * 2.0);
                    prompt.changed = Some(c);
                    prompt.identical = p.is_none();
                    prompt.seconds = Some(1.0 / f.speedup.max(0.1) + i as f64 * 0.01);
                    prompt.config_png = Some(png);
                    log.push_str(&format!(
                        "Generation time for prompt {}: 1.0 seconds\n",
                        i + 1
                    ));
                } else {
                    prompt.error = Some("no image: the backend exited before this prompt".into());
                    if i == 1 {
                        log.push_str(&format!(
                            "RuntimeError: CUDA out of memory while encoding {HOSTILE}\n</pre><script>alert(2)</script>\n"
                        ));
                    }
                }
                prompts.push(prompt);
            }
        }
        std::fs::write(cdir.join("batch_generation.log"), &log).unwrap();
        let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        let mean_diff = mean(&means);
        let max_diff = mean(&maxes);
        let identical = !psnrs.is_empty() && psnrs.iter().all(Option::is_none);
        let finite: Vec<f64> = psnrs.iter().flatten().copied().collect();
        let psnr = mean(&finite);
        let st = status(&f, mean_diff.unwrap_or(0.0), max_diff.unwrap_or(0.0));
        let ran = matches!(st, "PASS" | "WARN" | "FAIL");
        let reason = match f.kind {
            Kind::Skip => Some("requires 4 GPUs, only 2 available".to_string()),
            Kind::Error(_) => {
                Some("backend exited with code 1; prompts 1, 2, 3 have no image".to_string())
            }
            _ => None,
        };
        let speedup = ran.then_some(f.speedup);
        let worst = means
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i);
        configs.push(HtmlConfig {
            name: f.name.into(),
            role: if f.name == "baseline" {
                "baseline"
            } else {
                "combo"
            }
            .into(),
            status: st.into(),
            features: f
                .name
                .split('+')
                .filter(|s| *s != "baseline")
                .map(String::from)
                .collect(),
            gpus: f.gpus,
            lossy: f.lossy,
            speedup,
            speedup_lo: speedup.map(|s| s * 0.94),
            speedup_hi: speedup.map(|s| s * 1.05),
            mean_seconds: speedup.map(|s| 1.0 / s),
            median_seconds: speedup.map(|s| 1.0 / s),
            p95_seconds: speedup.map(|s| 1.1 / s),
            timing_n: speedup.map(|_| PROMPTS.len()),
            mean_diff,
            max_diff,
            psnr,
            ssim: mean_diff.map(|m| 1.0 - 2.0 * m),
            changed: mean(&chg),
            identical,
            worst_prompt: worst,
            thresholds_applied: if f.lossy {
                "lossy: WARN if MeanDiff > 0.15, FAIL if > 0.3".into()
            } else {
                "lossless: FAIL if MeanDiff > 0.02 or MaxDiff > 0.2".into()
            },
            log_tail: if matches!(st, "ERROR") {
                compat::results::log_tail(&cdir.join("batch_generation.log"), 40)
            } else {
                None
            },
            reason: reason.clone(),
            prompts,
            ..Default::default()
        });
        rows.push(ChartRow {
            name: f.name.into(),
            status: st.into(),
            lossy: f.lossy,
            gpus: f.gpus,
            mean_diff: if ran { mean_diff } else { None },
            speedup,
            speedup_ci: speedup.map(|s| (s * 0.94, s * 1.05)),
            psnr,
            identical,
            reason,
        });
        manifest_configs.push(serde_json::json!({
            "name": f.name,
            "state": match st { "SKIP" => "skipped", "ERROR" => "failed", _ => "completed" },
        }));
    }
    // The part of manifest.json the browser test reads (configs and prompts).
    let manifest = serde_json::json!({ "prompts": PROMPTS, "configs": manifest_configs });
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();

    let page = HtmlPage {
        title: "compat — cfg_parallel".into(),
        generated: "2025-01-01T00:00:00Z".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        summary: HtmlSummary {
            backend: "reference".into(),
            baseline_feature: "cfg_parallel".into(),
            settings: compat::settings::Settings {
                model: "fixture/tiny-dit".into(),
                steps: 20,
                height: 64,
                width: 64,
                cfg_scale: 4.0,
                guidance_scale: None,
                seed: 42,
                negative_prompt: String::new(),
                warmup: 1,
            },
            devices: "4 CPU cores (fixture)".into(),
            noise_floor: None,
            engine: None,
        },
        thresholds: HtmlThresholds {
            lossless_mean: 0.02,
            lossless_max: 0.2,
            lossy_mean: 0.15,
            lossy_fail_mean: 0.3,
        },
        configs,
        charts: vec![
            HtmlChart {
                title: "MeanDiff per config".into(),
                file: charts::QUALITY_FILE.into(),
            },
            HtmlChart {
                title: "Speedup per config".into(),
                file: charts::SPEEDGAIN_FILE.into(),
            },
            HtmlChart {
                title: "Speed / quality trade-off".into(),
                file: charts::TRADEOFF_FILE.into(),
            },
        ],
        num_prompts: PROMPTS.len(),
        metrics: vec![],
    };
    (dir, page, rows)
}

#[test]
fn fixture_run_gets_charts_and_an_escaped_report() {
    let keep = std::env::var_os("COMPAT_KEEP_REPORT_DIR").map(PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let root = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&root).unwrap();
    let (dir, page, rows) = build_fixture(&root);

    let th = ChartThresholds {
        lossless_mean: 0.02,
        lossy_mean: 0.15,
        lossy_fail_mean: 0.3,
        noise_floor: None,
    };
    let errors: Vec<_> = charts::write_all(&rows, &th, &dir)
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    for f in [
        charts::QUALITY_FILE,
        charts::SPEEDGAIN_FILE,
        charts::TRADEOFF_FILE,
    ] {
        let img = image::open(dir.join(f)).unwrap();
        assert!(img.width() >= 800 && img.height() >= 300, "{f} too small");
    }

    let path = html::write_report(&page, &dir, None).unwrap();
    assert_eq!(path, dir.join(html::REPORT_FILE));
    let src = std::fs::read_to_string(&path).unwrap();

    // The hostile prompt and the log are text, never markup.
    assert!(!src.contains(HOSTILE));
    assert!(!src.contains("<script>alert(2)"));
    assert!(src.contains("&lt;img src=x onerror=alert(1)&gt;"));
    // No network: nothing refers to another origin.
    for bad in ["http://", "https://", "//cdn"] {
        assert!(!src.contains(bad), "page refers to {bad}");
    }
    // Every prompt of every config that ran is on the page.
    let ran = page.configs.iter().filter(|c| c.status != "SKIP").count();
    assert_eq!(
        src.matches("<article class=\"prompt\"").count(),
        ran * PROMPTS.len()
    );
    assert_eq!(
        src.matches("<section class=\"config\"").count(),
        page.configs.len()
    );
    // Assets: a thumbnail per image, a heatmap per compared config image.
    let assets = dir.join(html::ASSETS_DIR);
    assert!(assets.join("baseline/p00_thumb.png").is_file());
    assert!(
        assets
            .join("02-cfg_parallel+ulysses/p03_thumb.png")
            .is_file()
    );
    assert!(
        assets
            .join("02-cfg_parallel+ulysses/p03_diff.png")
            .is_file()
    );
    assert!(
        !assets.join("00-baseline").exists(),
        "the baseline section reuses assets/baseline"
    );
    // A pixel-identical pair says so instead of a black heatmap; a lossy
    // blob is boxed on the config's image.
    assert!(!assets.join("01-cfg_parallel/p00_diff.png").exists());
    assert!(src.contains("<div class=\"missing\">identical</div>"));
    assert!(src.contains("<span class=\"region\" title=\"changed region 1: "));
    assert!(
        !assets
            .join("05-cfg_parallel+tensor_parallel/p02_thumb.png")
            .exists()
    );
    // Full images are linked where they are, relative to the page.
    assert!(
        src.contains("href=\"cfg_parallel+teacache&#x2f;prompt_00.png\"")
            || src.contains("href=\"cfg_parallel+teacache/prompt_00.png\"")
    );
    // The SKIP and ERROR reasons are shown.
    assert!(src.contains("requires 4 GPUs, only 2 available"));
    assert!(src.contains("RuntimeError: CUDA out of memory"));

    // Rendering again replaces the page and its assets (no stale files).
    std::fs::write(assets.join("stale.png"), b"x").unwrap();
    html::write_report(&page, &dir, None).unwrap();
    assert!(!assets.join("stale.png").exists());
}

#[test]
fn unreadable_images_are_reported_on_the_page_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, mut page, _) = build_fixture(tmp.path());
    // Corrupt one config image and point another at a file that is not there.
    let bad = dir.join("cfg_parallel+teacache/prompt_01.png");
    std::fs::write(&bad, b"not a png").unwrap();
    page.configs[4].prompts[0].config_png = Some(dir.join("nope.png"));
    page.charts.clear();
    let path = html::write_report(&page, &dir, None).unwrap();
    let src = std::fs::read_to_string(path).unwrap();
    assert!(src.contains("failed to read image"));
}
