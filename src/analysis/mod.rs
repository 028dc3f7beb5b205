//! `compat analyze` (DESIGN §7): load a results directory, compare every
//! image against the pure baseline, take timing statistics, apply the status
//! rules, and export the [`crate::report::Report`].

use std::path::PathBuf;

/// How strict the exit code is.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    /// Exit 1 on FAIL or ERROR (the default).
    Fail,
    /// Exit 1 on WARN too.
    Warn,
}

/// Every `compat analyze` flag except the directory; `compat run --analyze`
/// flattens it too.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AnalyzeOptions {
    /// Lossless configs FAIL when mean MeanDiff exceeds this [default: registry, else 0.02]
    #[arg(long, value_name = "X")]
    pub lossless_mean_threshold: Option<f64>,
    /// Lossless configs FAIL when mean MaxDiff exceeds this [default: registry, else 0.2]
    #[arg(long, value_name = "X")]
    pub lossless_max_threshold: Option<f64>,
    /// Lossy configs WARN when mean MeanDiff exceeds this [default: registry, else 0.15]
    #[arg(long, value_name = "X")]
    pub lossy_mean_threshold: Option<f64>,
    /// Lossy configs FAIL when mean MeanDiff exceeds this [default: registry, else 0.30]
    #[arg(long, value_name = "X")]
    pub lossy_fail_threshold: Option<f64>,
    /// Exit 1 on WARN as well as on FAIL and ERROR
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub fail_on: Option<FailOn>,
    /// Write a JUnit XML file: one testcase per config
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary (for $GITHUB_STEP_SUMMARY or a PR comment)
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Print report.json to stdout instead of the table
    #[arg(long)]
    pub json: bool,
    /// Draw chart_quality.png and chart_speedgain.png
    #[arg(long)]
    pub charts: bool,
    /// Write diff_report.html
    #[arg(long)]
    pub html: bool,
    /// Templates directory overriding the built-in HTML templates
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

/// `compat analyze`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AnalyzeArgs {
    /// The results directory [default: the newest run under ./compat_results]
    #[arg(long, value_name = "DIR")]
    pub results_dir: Option<PathBuf>,
    #[command(flatten)]
    pub opts: AnalyzeOptions,
}

pub mod load;
pub mod metrics;
pub mod status;
pub mod timing;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use rayon::prelude::*;

use crate::registry::Registry;
use crate::report::model::{
    ConfigResult, ImageMetrics, MetricSummary, PromptResult, Report, RunInfo, SCHEMA_VERSION,
    Status, Summary, WorstPrompt,
};
use crate::results;
use load::{ConfigSource, RunDir};
use metrics::{Decoded, ImageError};

/// `compat analyze`: the directory from `--results-dir`, else the newest run
/// under `./compat_results`.
pub fn command(args: AnalyzeArgs, features: Option<&Path>) -> anyhow::Result<ExitCode> {
    let dir = match args.results_dir {
        Some(d) => d,
        None => newest_run(Path::new("compat_results"))?,
    };
    analyze(&dir, &args.opts, features)
}

/// The newest run under `root`: the newest manifest.json mtime among
/// `root/*/` (a folder with config folders but no manifest counts by its own mtime).
pub fn newest_run(root: &Path) -> anyhow::Result<PathBuf> {
    let rd = std::fs::read_dir(root).map_err(|e| {
        crate::exit::usage(format!(
            "no --results-dir given and {} cannot be read ({e}); pass --results-dir DIR",
            root.display()
        ))
    })?;
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in rd.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let manifest = path.join(results::MANIFEST);
        let stamp = if manifest.is_file() {
            std::fs::metadata(&manifest).and_then(|m| m.modified()).ok()
        } else {
            let has_configs = std::fs::read_dir(&path)
                .map(|rd| {
                    rd.flatten().any(|e| {
                        e.path().is_dir()
                            && (e.path().join(results::CONFIG_INFO).is_file()
                                || e.file_name() == results::BASELINE)
                    })
                })
                .unwrap_or(false);
            if has_configs {
                std::fs::metadata(&path).and_then(|m| m.modified()).ok()
            } else {
                None
            }
        };
        if let Some(t) = stamp
            && best.as_ref().is_none_or(|(b, _)| t > *b)
        {
            best = Some((t, path));
        }
    }
    best.map(|(_, p)| p).ok_or_else(|| {
        crate::exit::usage(format!(
            "no runs under {} (no folder with a manifest.json or config folders); \
             pass --results-dir DIR",
            root.display()
        ))
    })
}

/// Everything: load, judge, write report.json into `dir`, print the table (or
/// the JSON with `--json`), write JUnit/Markdown, return the exit code.
pub fn analyze(
    dir: &Path,
    opts: &AnalyzeOptions,
    features: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let registry = Registry::locate(features)?;
    let report = build_report(dir, opts, &registry)?;
    results::atomic::write_json(&dir.join(results::REPORT), &report)?;
    if opts.json {
        let text =
            serde_json::to_string_pretty(&report).context("failed to serialise the report")?;
        println!("{text}");
    } else {
        let color = crate::report::table::color_wanted();
        print!("{}", crate::report::table::render(&report, color));
    }
    if let Some(path) = &opts.junit {
        let xml = crate::report::junit::render(&report)?;
        results::atomic::write(path, xml.as_bytes())?;
    }
    if let Some(path) = &opts.markdown {
        let md = crate::report::markdown::render(&report);
        results::atomic::write(path, md.as_bytes())?;
    }
    if opts.charts || opts.html {
        let (written, errors) = crate::report::visual::write_charts(&report, dir);
        for p in &written {
            eprintln!("wrote {}", p.display());
        }
        // One bad chart must not cost the report or the page.
        for e in &errors {
            eprintln!("warning: {e:#}");
        }
    }
    if opts.html {
        let page = crate::report::visual::write_html(&report, dir, opts.templates.as_deref())?;
        eprintln!("wrote {}", page.display());
    }
    Ok(exit_code(&report, opts.fail_on.unwrap_or(FailOn::Fail)))
}

/// Peak GPU memory per device: the runner's NVML samples, else what the
/// backend reported (`{"event": "memory"}` lines of results.jsonl).
fn peak_memory(c: &load::ConfigSource) -> std::collections::BTreeMap<String, u64> {
    if !c.gpu_memory_peak_bytes.is_empty() {
        return c.gpu_memory_peak_bytes.clone();
    }
    c.records
        .as_ref()
        .map(|r| r.peak_memory.clone())
        .unwrap_or_default()
}

/// 1 on any FAIL or ERROR (and WARN with `--fail-on warn`), else 0.
pub fn exit_code(report: &Report, fail_on: FailOn) -> ExitCode {
    let s = &report.summary;
    let failed = s.fail > 0 || s.error > 0 || (fail_on == FailOn::Warn && s.warn > 0);
    ExitCode::from(if failed {
        crate::exit::FAILURE
    } else {
        crate::exit::SUCCESS
    })
}

/// Per-prompt comparison outcome: against the baseline, against the baseline feature.
type PromptCompare = (
    Option<Result<ImageMetrics, String>>,
    Option<Result<ImageMetrics, String>>,
);

/// Loads and judges `dir` into a [`Report`] (writes nothing).
pub fn build_report(
    dir: &Path,
    opts: &AnalyzeOptions,
    registry: &Registry,
) -> anyhow::Result<Report> {
    status::validate(opts).map_err(crate::exit::usage)?;
    let run = load::load(dir, registry).map_err(|e| crate::exit::usage(e.to_string()))?;
    let n = run.num_prompts;
    let (compared, ssim_downsample) = compare_all(&run);

    let base_times: Vec<f64> = run
        .baseline
        .map(|b| run.configs[b].timings(n).0.into_iter().flatten().collect())
        .unwrap_or_default();
    let base_mean = timing::stats(&base_times, "").map(|s| s.mean);

    let mut out = Vec::with_capacity(run.configs.len());
    for (ci, c) in run.configs.iter().enumerate() {
        out.push(judge_config(
            &run,
            ci,
            c,
            &compared[ci],
            &base_times,
            base_mean,
            opts,
            registry,
        ));
    }
    let mut summary = Summary {
        total: out.len(),
        ..Summary::default()
    };
    for r in &out {
        match r.compat_status {
            Status::Pass => summary.pass += 1,
            Status::Warn => summary.warn += 1,
            Status::Fail => summary.fail += 1,
            Status::Error => summary.error += 1,
            Status::Skip => summary.skip += 1,
        }
    }
    let m = run.manifest.as_ref();
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        tool: "compat".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        generated: results::now_rfc3339(),
        results_dir: dir.display().to_string(),
        layout: if m.is_some() { "compat" } else { "original" }.into(),
        registry: registry.source.clone(),
        run: RunInfo {
            model: m.map(|m| m.model.clone()),
            backend: m.map(|m| m.backend.clone()),
            steps: m.map(|m| m.steps),
            height: m.map(|m| m.height),
            width: m.map(|m| m.width),
            cfg_scale: m.map(|m| m.cfg_scale),
            seed: m.map(|m| m.seed),
            devices: m.map(|m| m.devices.clone()),
            executor: m.map(|m| m.executor.clone()),
            created: m.map(|m| m.created.clone()),
            prompts: run.prompts.clone(),
            num_prompts: n,
            concurrent: run.configs.iter().any(|c| !c.concurrent_with.is_empty()),
        },
        thresholds: status::apply_cli(registry.thresholds, opts),
        baseline: run.baseline.map(|b| run.configs[b].name.clone()),
        baseline_feature: run.baseline_feature.map(|b| run.configs[b].name.clone()),
        ssim_downsample,
        summary,
        results: out,
    })
}

/// Compares every image of every judged config, prompt by prompt in
/// parallel: each prompt's images are read and decoded once (the baseline's
/// once for all configs) and dropped before the task ends, so memory holds a
/// few prompts' images at a time, whatever the number of prompts.
/// Returns, per config, per prompt, the comparisons; and the largest SSIM
/// downsampling factor among the decoded images (1 when none was decoded).
fn compare_all(run: &RunDir) -> (Vec<Vec<PromptCompare>>, u32) {
    let n = run.num_prompts;
    let judged: Vec<bool> = run
        .configs
        .iter()
        .map(|c| c.skip_reason.is_none() && c.dir.is_some())
        .collect();
    // File and pixel buffers go back to this pool after each prompt and are
    // reused by the next: no fresh (page-faulting) allocations per prompt.
    // It holds at most what was in flight at once, and is freed on return.
    let pool = Pool::default();
    let per_prompt: Vec<(Vec<PromptCompare>, u32)> = (0..n)
        .into_par_iter()
        .map(|i| compare_prompt(run, i, &judged, &pool))
        .collect();
    // Transpose to per config.
    let mut out: Vec<Vec<PromptCompare>> = vec![Vec::with_capacity(n); run.configs.len()];
    let mut factor = 1;
    for (row, f) in per_prompt {
        factor = factor.max(f);
        for (ci, cell) in row.into_iter().enumerate() {
            out[ci].push(cell);
        }
    }
    (out, factor)
}

/// Byte buffers shared between prompts (see [`compare_all`]).
#[derive(Default)]
struct Pool(std::sync::Mutex<Vec<Vec<u8>>>);

impl Pool {
    /// The smallest buffer holding `want` bytes, else a new one.
    fn take(&self, want: usize) -> Vec<u8> {
        let mut p = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let best = p
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= want)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        match best {
            Some(i) => p.swap_remove(i),
            None => Vec::with_capacity(want),
        }
    }

    fn give(&self, b: Vec<u8>) {
        if b.capacity() > 0 {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(b);
        }
    }
}

/// One image slot of a prompt: its bytes, decoded lazily, at most once.
struct Slot {
    path: Option<PathBuf>,
    bytes: Option<Result<Vec<u8>, ImageError>>,
    decoded: Option<Result<Decoded, ImageError>>,
}

impl Slot {
    fn new(c: &ConfigSource, i: usize, wanted: bool, pool: &Pool) -> Slot {
        let path = if wanted { c.image_path(i) } else { None };
        let bytes = path.as_deref().map(|p| {
            let size = std::fs::metadata(p).map_or(0, |m| m.len() as usize);
            metrics::read_bytes_into(p, pool.take(size))
        });
        Slot {
            path,
            bytes,
            decoded: None,
        }
    }

    fn bytes(&self) -> Option<&[u8]> {
        match &self.bytes {
            Some(Ok(b)) => Some(b),
            _ => None,
        }
    }

    /// Its bytes and pixels back to `pool`.
    fn recycle(self, pool: &Pool) {
        if let Some(Ok(b)) = self.bytes {
            pool.give(b);
        }
        if let Some(Ok(d)) = self.decoded {
            pool.give(d.rgb);
        }
    }

    fn decode(&mut self, pool: &Pool) -> Result<&Decoded, ImageError> {
        if self.decoded.is_none() {
            let r = match (&self.bytes, &self.path) {
                (Some(Ok(b)), Some(p)) => metrics::decode_into(p, b, |n| pool.take(n)),
                (Some(Err(e)), _) => Err(e.clone()),
                _ => Err(ImageError::Missing(self.path.clone().unwrap_or_default())),
            };
            self.decoded = Some(r);
        }
        match &self.decoded {
            Some(Ok(d)) => Ok(d),
            Some(Err(e)) => Err(e.clone()),
            None => Err(ImageError::Missing(self.path.clone().unwrap_or_default())),
        }
    }
}

/// `a` against `b`: byte-identical short-circuits without decoding.
fn compare_slots(
    slots: &mut [Slot],
    a: usize,
    b: usize,
    pool: &Pool,
) -> Result<ImageMetrics, String> {
    if let Some(Err(e)) = &slots[a].bytes {
        return Err(e.to_string());
    }
    if let Some(Err(e)) = &slots[b].bytes {
        return Err(format!("reference {e}"));
    }
    if let (Some(x), Some(y)) = (slots[a].bytes(), slots[b].bytes())
        && x == y
    {
        return Ok(metrics::identical());
    }
    slots[b]
        .decode(pool)
        .map_err(|e| format!("reference {e}"))?;
    slots[a].decode(pool).map_err(|e| e.to_string())?;
    let (da, db) = match (&slots[a].decoded, &slots[b].decoded) {
        (Some(Ok(x)), Some(Ok(y))) => (x, y),
        _ => return Err("internal: image not decoded".into()),
    };
    metrics::compare(da, db).map_err(|e| e.to_string())
}

fn compare_prompt(
    run: &RunDir,
    i: usize,
    judged: &[bool],
    pool: &Pool,
) -> (Vec<PromptCompare>, u32) {
    let mut slots: Vec<Slot> = run
        .configs
        .iter()
        .zip(judged)
        .map(|(c, &w)| Slot::new(c, i, w, pool))
        .collect();
    let mut out: Vec<PromptCompare> = vec![(None, None); run.configs.len()];
    for ci in 0..run.configs.len() {
        if !judged[ci] || Some(ci) == run.baseline {
            continue;
        }
        let vs_base = match run.baseline {
            Some(b) if judged[b] => Some(compare_slots(&mut slots, ci, b, pool)),
            _ => Some(Err("no baseline image to compare against".to_string())),
        };
        let vs_bf = match run.baseline_feature {
            Some(bf) if bf != ci && judged[bf] => {
                // Byte-identical references give the same answer twice.
                let same_refs = run.baseline.is_some_and(|b| {
                    matches!((slots[b].bytes(), slots[bf].bytes()), (Some(x), Some(y)) if x == y)
                });
                if same_refs {
                    vs_base.clone()
                } else {
                    Some(compare_slots(&mut slots, ci, bf, pool))
                }
            }
            _ => None,
        };
        out[ci] = (vs_base, vs_bf);
    }
    let factor = slots
        .iter()
        .filter_map(|s| match &s.decoded {
            Some(Ok(d)) => Some(d.ssim_downsample),
            _ => None,
        })
        .max()
        .unwrap_or(1);
    for s in slots {
        s.recycle(pool);
    }
    (out, factor)
}

fn mean_of(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

fn summarise(reference: &str, rows: &[&ImageMetrics]) -> MetricSummary {
    MetricSummary {
        reference: reference.to_string(),
        mean_diff_avg: mean_of(rows.iter().map(|m| m.mean_diff)),
        max_diff_avg: mean_of(rows.iter().map(|m| m.max_diff)),
        psnr_avg: mean_of(rows.iter().filter_map(|m| m.psnr)),
        ssim_avg: mean_of(rows.iter().map(|m| m.ssim)),
        changed_share_avg: mean_of(rows.iter().map(|m| m.changed_share)),
        identical_prompts: rows.iter().filter(|m| m.identical).count(),
        compared: rows.len(),
    }
}

#[allow(clippy::too_many_arguments)]
fn judge_config(
    run: &RunDir,
    ci: usize,
    c: &ConfigSource,
    compared: &[PromptCompare],
    base_times: &[f64],
    base_mean: Option<f64>,
    opts: &AnalyzeOptions,
    registry: &Registry,
) -> ConfigResult {
    let n = run.num_prompts;
    let thresholds = status::thresholds_for(registry, &c.features, opts);
    let is_baseline = Some(ci) == run.baseline;
    let mut facts = status::Facts {
        is_baseline,
        skip_reason: c.skip_reason.clone(),
        error: c.error.clone(),
        lossy: c.lossy,
        ..Default::default()
    };
    let mut rows = Vec::new();
    let mut timing = None;
    let mut speedup = None;
    let mut speedup_ci = None;
    let mut prompt_errors: Vec<String> = Vec::new();
    let mut base_summary = None;
    let mut bf_summary = None;
    let mut worst = None;
    let root = format!("{}{}", run.dir.display(), std::path::MAIN_SEPARATOR);

    if c.skip_reason.is_none() && c.dir.is_some() {
        let (times, source) = c.timings(n);
        for i in 0..n {
            let (vb, vf) = compared.get(i).cloned().unwrap_or((None, None));
            let path = c.image_path(i);
            let exists = path.as_deref().is_some_and(Path::is_file);
            let mut error: Option<String> = None;
            if let Some(rec) = c.records.as_ref().and_then(|r| r.prompts.get(&i))
                && !rec.ok
            {
                error = Some(
                    rec.error
                        .clone()
                        .unwrap_or_else(|| "the backend reported a failure".into()),
                );
            }
            if error.is_none()
                && let Some(&code) = c.prompt_exitcodes.get(&i)
                && code != 0
            {
                error = Some(format!("{} is {code}", results::prompt_exitcode(i)));
            }
            if error.is_none() && !exists {
                error = Some(format!("no image ({})", results::prompt_image(i)));
            }
            if error.is_none()
                && let Some(Err(e)) = &vb
            {
                error = Some(e.clone());
            }
            // A failure against the baseline feature alone (its image missing)
            // is that config's error, not this one's: only the row loses it.
            let _ = &vf;
            if let Some(e) = &mut error {
                *e = e.replace(&root, "");
            }
            if let Some(e) = &error {
                prompt_errors.push(format!("prompt {i}: {e}"));
            }
            rows.push(PromptResult {
                prompt: i,
                image: exists.then(|| results::prompt_image(i)),
                seconds: times.get(i).copied().flatten(),
                vs_baseline: vb.and_then(Result::ok),
                vs_baseline_feature: vf.and_then(Result::ok),
                error,
            });
        }
        if n == 0 && facts.error.is_none() {
            facts.error = Some("no prompts: no images, no prompts.txt, no manifest prompts".into());
        }
        let secs: Vec<f64> = times.into_iter().flatten().collect();
        timing = timing::stats(&secs, source);
        if let (Some(t), Some(bm)) = (&timing, base_mean)
            && t.mean > 0.0
        {
            speedup = Some(bm / t.mean);
            if !is_baseline {
                speedup_ci = timing::speedup_interval(base_times, &secs, timing::seed_for(&c.name));
            }
        }
        if !is_baseline {
            let vb: Vec<&ImageMetrics> =
                rows.iter().filter_map(|r| r.vs_baseline.as_ref()).collect();
            if vb.len() == n && n > 0 {
                let s = summarise(
                    run.baseline.map_or("baseline", |b| &run.configs[b].name),
                    &vb,
                );
                facts.mean_diff = s.mean_diff_avg;
                facts.max_diff = s.max_diff_avg;
                base_summary = Some(s);
            } else if !vb.is_empty() {
                base_summary = Some(summarise("baseline", &vb));
            }
            worst = rows
                .iter()
                .filter_map(|r| r.vs_baseline.as_ref().map(|m| (r.prompt, m)))
                .max_by(|a, b| a.1.mean_diff.total_cmp(&b.1.mean_diff))
                .map(|(p, m)| WorstPrompt {
                    prompt: p,
                    mean_diff: m.mean_diff,
                    max_diff: m.max_diff,
                });
            let vf: Vec<&ImageMetrics> = rows
                .iter()
                .filter_map(|r| r.vs_baseline_feature.as_ref())
                .collect();
            if let Some(bf) = run.baseline_feature
                && !vf.is_empty()
            {
                bf_summary = Some(summarise(&run.configs[bf].name, &vf));
            }
        }
        if facts.error.is_none() && !prompt_errors.is_empty() {
            let more = prompt_errors.len().saturating_sub(3);
            let mut e = prompt_errors
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ");
            if more > 0 {
                e.push_str(&format!("; and {more} more"));
            }
            facts.error = Some(e);
        }
    }
    let (compat_status, reason) = status::judge(&facts, &thresholds);
    let b = base_summary.as_ref();
    ConfigResult {
        name: c.name.clone(),
        role: c.role.clone(),
        features: c.features.clone(),
        total_gpus: c.gpus,
        is_lossy: c.lossy,
        compat_status,
        reason,
        thresholds,
        mean_gen_time_ms: timing.as_ref().map(|t| t.mean * 1000.0),
        speedup,
        speedup_significant: speedup_ci.map(|i| !(i.low <= 1.0 && i.high >= 1.0)),
        speedup_ci,
        timing,
        load_seconds: c.records.as_ref().and_then(|r| r.load_seconds),
        mean_diff_avg: b.and_then(|s| s.mean_diff_avg),
        max_diff_avg: b.and_then(|s| s.max_diff_avg),
        psnr_avg: b.and_then(|s| s.psnr_avg),
        ssim_avg: b.and_then(|s| s.ssim_avg),
        changed_share_avg: b.and_then(|s| s.changed_share_avg),
        identical_prompts: b.map_or(0, |s| s.identical_prompts),
        worst_prompt: worst,
        vs_baseline_feature: bf_summary,
        concurrent_with: c.concurrent_with.clone(),
        peak_memory_bytes: peak_memory(c),
        prompts: rows,
    }
}
