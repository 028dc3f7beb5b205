//! One configuration judged: its prompts' rows, timing and speedup, metric
//! summaries against the baseline and the baseline feature, then the status
//! rules ([`super::status`]).

use std::path::Path;

use super::images::PromptCompare;
use super::noise::Floor;
use super::parents::Parent;
use super::plan::Overrides;
use super::{plugins, status, timing};
use crate::matrix::Role;
use crate::registry::Expect;
use crate::registry::Registry;
use crate::report::model::{
    ColdPrompt, ConfigResult, Effect, ImageMetrics, Interval, MetricSummary, ParentResult,
    PromptResult, Status, TimingStats, WorstPrompt,
};
use crate::results;
use crate::results::reader::{ConfigSource, RunDir};

/// A feature has "no effect" on speed when the 95% interval of its speedup
/// over its parent lies within 1/1.1 .. 1.1: shown to change the time by
/// less than 10% either way.
const NO_EFFECT: f64 = 1.1;

/// Lines of `batch_generation.log` kept for a SKIP or ERROR configuration.
const LOG_TAIL_LINES: usize = 40;

/// A config's per-prompt seconds to time it by: a cold first prompt left
/// out when the backend did no warm-up of its own (no `{"event": "warmup"}`).
pub(crate) struct Steady {
    pub secs: Vec<f64>,
    /// Where they came from (results.jsonl or the log).
    pub source: &'static str,
    /// The cold first prompt left out, if any.
    pub cold: Option<ColdPrompt>,
}

impl Steady {
    /// Every config's, once: each is read against the baseline's and, for
    /// "did it do anything?", against its parents'.
    pub fn of_all(run: &RunDir) -> Vec<Steady> {
        run.configs
            .iter()
            .map(|c| Steady::of(c, run.num_prompts))
            .collect()
    }

    fn of(c: &ConfigSource, n: usize) -> Steady {
        let (times, source) = c.timings(n);
        let warmed = c
            .records
            .as_ref()
            .is_some_and(|r| r.warmup_seconds.is_some());
        let cold = if warmed {
            None
        } else {
            timing::cold_first(&times)
        };
        let skip = usize::from(cold.is_some());
        let secs = times.into_iter().skip(skip).flatten().collect();
        Steady { secs, source, cold }
    }
}

/// The per-config inputs that do not change from config to config.
pub(crate) struct Judge<'a> {
    pub run: &'a RunDir,
    /// Every config's steady timings, by index.
    pub steady: &'a [Steady],
    pub overrides: &'a Overrides,
    pub registry: &'a Registry,
    /// Each config's parents (see [`super::parents`]).
    pub parents: &'a [Vec<Parent>],
    /// The engine's own run-to-run difference, with `--repeat-baseline`.
    pub floor: Option<Floor>,
    /// The metric plugins' values (docs/metrics.md).
    pub measured: &'a super::plugins::Measured,
}

/// Speed: timing statistics, the speedup over the baseline and its interval.
#[derive(Default)]
struct Speed {
    timing: Option<TimingStats>,
    speedup: Option<f64>,
    interval: Option<Interval>,
    method: Option<&'static str>,
}

impl Judge<'_> {
    /// Judges config `ci` from its comparisons (one per prompt).
    pub fn config(&self, ci: usize, compared: &[PromptCompare]) -> ConfigResult {
        let run = self.run;
        let c = &run.configs[ci];
        let is_baseline = Some(ci) == run.baseline;
        // The repeated baseline is measured against the baseline like any
        // config, but it is the floor, not a feature: PASS when it ran.
        let is_repeat = c.role == Some(Role::BaselineRepeat);
        let mut facts = status::Facts {
            is_baseline: is_baseline || is_repeat,
            skip_reason: c.skip_reason.clone(),
            error: c.error.clone(),
            lossy: c.lossy,
            ..Default::default()
        };
        let judged = c.skip_reason.is_none() && c.dir.is_some();
        let (mut rows, speed) = if judged {
            (self.rows(c, compared), self.speed(ci, is_baseline))
        } else {
            (Vec::new(), Speed::default())
        };
        plugins::judge::fill_rows(&mut rows, self.measured, ci);
        let (metrics, metric_notes) = plugins::judge::summarise(
            self.measured,
            ci,
            run.baseline,
            run.num_prompts,
            judged && !(is_baseline || is_repeat),
            c.lossy,
        );
        if judged && run.num_prompts == 0 && facts.error.is_none() {
            facts.error = Some("no prompts: no images, no prompts.txt, no manifest prompts".into());
        }
        let (base_summary, worst, bf_summary) = if judged && !is_baseline {
            self.summaries(&rows, &mut facts)
        } else {
            (None, None, None)
        };
        if judged && facts.error.is_none() {
            facts.error = prompt_errors(&rows);
        }
        let thresholds = status::thresholds_for(self.registry, &c.features, self.overrides);
        let verdict = self.verdict(ci, &facts, &thresholds, judged, compared, &metrics);
        let (mut compat_status, mut reason, vs_parents, mut notes) = verdict;
        notes.extend(metric_notes);
        let b = base_summary.as_ref();
        notes.extend(timing_notes(c, &speed, run.num_prompts));
        // A config whose every reported time is garbage has no speed: that
        // is not a PASS to take at its word.
        if judged
            && compat_status == Status::Pass
            && speed.timing.is_none()
            && let Some(why) = no_valid_time(c, run.num_prompts)
        {
            compat_status = Status::Warn;
            reason = Some(why);
        }
        // A cache that hands one CFG branch the other's output changed the
        // guidance, whatever its images and clock say: not a PASS.
        if let Some(why) = judged.then(|| cross_branch_reason(c)).flatten() {
            if compat_status == Status::Pass {
                compat_status = Status::Warn;
                reason = Some(why);
            } else {
                notes.push(why);
            }
        }
        let not_run = matches!(compat_status, Status::Skip | Status::Error);
        ConfigResult {
            name: c.name.clone(),
            role: c.role.unwrap_or(Role::Combo),
            features: c.features.clone(),
            total_gpus: c.gpus,
            is_lossy: c.lossy,
            compat_status,
            reason,
            thresholds,
            mean_gen_time_ms: speed.timing.as_ref().map(|t| t.mean * 1000.0),
            speedup: speed.speedup,
            speedup_significant: speed.interval.map(|i| !(i.low <= 1.0 && i.high >= 1.0)),
            speedup_ci: speed.interval,
            speedup_method: speed.method.map(str::to_string),
            timing: speed.timing,
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
            peak_memory_bytes: c.gpu_memory_peak_bytes.clone(),
            engine_memory_peak_bytes: engine_memory(c),
            work: c
                .records
                .as_ref()
                .map(|r| r.work.clone())
                .unwrap_or_default(),
            work_by_branch: c
                .records
                .as_ref()
                .map(|r| r.work_branches.clone())
                .unwrap_or_default(),
            cross_branch: c
                .records
                .as_ref()
                .map(|r| r.cross_branch.clone())
                .unwrap_or_default(),
            vs_parents,
            notes,
            engine: c
                .records
                .as_ref()
                .and_then(|r| r.engine.clone())
                .or_else(|| c.engine.clone()),
            args: c.args.clone(),
            devices: c.devices.clone(),
            log_tail: if not_run { log_tail(c) } else { None },
            metrics,
            prompts: rows,
        }
    }

    /// The status and its reason: the rules, then the engine's noise floor
    /// (a lossless FAIL within it is PASS), then the parents (a PASS whose
    /// feature did nothing is WARN). Also the parent comparisons and notes.
    fn verdict(
        &self,
        ci: usize,
        facts: &status::Facts,
        thresholds: &crate::registry::Thresholds,
        judged: bool,
        compared: &[PromptCompare],
        metrics: &std::collections::BTreeMap<String, crate::report::model::ConfigMetric>,
    ) -> (Status, Option<String>, Vec<ParentResult>, Vec<String>) {
        let c = &self.run.configs[ci];
        let (mut compat_status, mut reason) = status::judge(facts, thresholds);
        let mut notes = Vec::new();
        if let (Some(floor), Status::Fail, false) = (self.floor, compat_status, c.lossy) {
            (compat_status, reason) = within_floor(&floor, facts, reason, &mut notes);
        }
        // The metric plugins' thresholds: the strictest verdict wins.
        let plugins: Vec<_> = self.measured.outcomes.iter().map(|o| &o.plugin).collect();
        (compat_status, reason) =
            plugins::judge::apply(compat_status, reason, metrics, &plugins, c.lossy);
        let vs_parents = if judged {
            self.vs_parents(ci, compared)
        } else {
            Vec::new()
        };
        // A PASS whose feature did nothing is not a pass: the feature was
        // silently not applied, or never engages.
        if compat_status == Status::Pass
            && let Some(why) = vs_parents.iter().find_map(no_effect_reason)
        {
            compat_status = Status::Warn;
            reason = Some(why);
        }
        (compat_status, reason, vs_parents, notes)
    }

    /// Config `ci` against each of its parents.
    fn vs_parents(&self, ci: usize, compared: &[PromptCompare]) -> Vec<ParentResult> {
        let run = self.run;
        let n = run.num_prompts;
        let c = &run.configs[ci];
        self.parents[ci]
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let parent = &run.configs[p.index];
                let metrics: Vec<Option<&ImageMetrics>> = compared
                    .iter()
                    .map(|cmp| cmp.parents.get(k).and_then(|r| r.as_ref()?.as_ref().ok()))
                    .collect();
                let all = metrics.len() == n && n > 0 && metrics.iter().all(Option::is_some);
                // Identical, or (with --repeat-baseline) within the engine's
                // own run-to-run difference.
                let identical = all
                    && metrics
                        .iter()
                        .flatten()
                        .all(|m| m.identical || self.floor.is_some_and(|f| f.holds(m)));
                let max_mean_diff = metrics
                    .iter()
                    .flatten()
                    .map(|m| m.mean_diff)
                    .max_by(f64::total_cmp);
                let speed = timing::speedup(&self.steady[p.index].secs, &self.steady[ci].secs);
                let interval = speed.and_then(|s| s.interval);
                let significant = interval.map(|i| !(i.low <= 1.0 && i.high >= 1.0));
                // "No effect" must be shown, not assumed: the interval must
                // rule out a change of more than NO_EFFECT either way. A wide
                // interval (few or noisy timings) cannot tell.
                let unchanged = interval.map(|i| {
                    if i.low > 1.0 / NO_EFFECT && i.high < NO_EFFECT {
                        Some(false)
                    } else {
                        significant.filter(|s| *s)
                    }
                });
                let (verdict, idle_devices, same_work) =
                    self.effect(&p.feature, parent, c, identical, all, unchanged.flatten());
                ParentResult {
                    feature: p.feature.clone(),
                    parent: parent.name.clone(),
                    speedup: speed.map(|s| s.estimate),
                    speedup_ci: speed.and_then(|s| s.interval),
                    speedup_significant: significant,
                    identical,
                    compared: metrics.iter().flatten().count(),
                    max_mean_diff,
                    idle_devices,
                    same_work,
                    verdict,
                }
            })
            .collect()
    }

    /// Did `feature` do anything in `c` over `parent`? The verdict, the
    /// devices that stayed idle, and whether the engine did the same work.
    /// `unchanged`: Some(true) faster or slower, Some(false) shown
    /// unchanged, None cannot tell.
    fn effect(
        &self,
        feature_id: &str,
        parent: &ConfigSource,
        c: &ConfigSource,
        identical: bool,
        all: bool,
        unchanged: Option<bool>,
    ) -> (Effect, Vec<String>, Option<bool>) {
        let feature = self.registry.feature(feature_id);
        let expect = feature.map_or(Expect::Speed, |f| f.expect);
        // A feature that multiplies the GPUs (the config needs more than its
        // parent) must use every one of them.
        let idle_devices = if c.gpus > parent.gpus {
            idle_devices(c)
        } else {
            Vec::new()
        };
        // A cache that did exactly its parent's work (the engine's own
        // counters) and changed no pixel never engaged: that needs no clock,
        // which on a busy machine cannot tell. Other features (compile,
        // parallelism) change speed without changing work, so for them the
        // counters say nothing.
        let same_work = if feature.is_some_and(|f| f.category == "cache") {
            same_work(parent, c)
        } else {
            None
        };
        let never_engaged = same_work == Some(true);
        let verdict = match (expect, all, identical, unchanged) {
            (Expect::None, ..) | (_, false, ..) => Effect::Unknown,
            (_, true, false, _) => Effect::Applied,
            (Expect::Speed, true, true, _) if never_engaged => Effect::NoEffect,
            (_, true, true, Some(true)) => Effect::Applied,
            (_, true, true, None) => Effect::Unknown,
            (Expect::Speed, true, true, Some(false)) => Effect::NoEffect,
            (Expect::Memory, true, true, Some(false)) => {
                memory_effect(&peak_memory(parent), &peak_memory(c))
            }
        };
        if idle_devices.is_empty() {
            (verdict, idle_devices, same_work)
        } else {
            (Effect::NotApplied, idle_devices, same_work)
        }
    }

    /// One row per prompt, with the seconds measured for it.
    fn rows(&self, c: &ConfigSource, compared: &[PromptCompare]) -> Vec<PromptResult> {
        let n = self.run.num_prompts;
        let root = format!("{}{}", self.run.dir.display(), std::path::MAIN_SEPARATOR);
        let (times, _) = c.timings(n);
        (0..n)
            .map(|i| {
                let cmp = compared.get(i).cloned().unwrap_or_default();
                let (vb, vf) = (cmp.base, cmp.bf);
                let path = c.image_path(i);
                let exists = path.as_deref().is_some_and(Path::is_file);
                // A failure against the baseline feature alone (its image
                // missing) is that config's error, not this one's: only the
                // row loses it.
                let error = prompt_error(c, i, exists, vb.as_ref()).map(|e| e.replace(&root, ""));
                let image = path
                    .as_deref()
                    .filter(|_| exists)
                    .and_then(Path::file_name)
                    .map(|n| n.to_string_lossy().into_owned());
                PromptResult {
                    prompt: i,
                    image,
                    seconds: times.get(i).copied().flatten(),
                    vs_baseline: vb.and_then(Result::ok),
                    vs_baseline_feature: vf.and_then(Result::ok),
                    error,
                    metrics: Default::default(),
                }
            })
            .collect()
    }

    fn speed(&self, ci: usize, is_baseline: bool) -> Speed {
        let own = &self.steady[ci];
        let mut timing = timing::stats(&own.secs, own.source);
        if let Some(t) = &mut timing {
            t.cold_first = own.cold;
        }
        let mut speed = Speed {
            timing,
            ..Speed::default()
        };
        let base = self
            .run
            .baseline
            .map_or(&[][..], |b| &self.steady[b].secs[..]);
        if speed.timing.is_none() || base.is_empty() {
            return speed;
        }
        if is_baseline {
            speed.speedup = Some(1.0);
        } else if let Some(s) = timing::speedup(base, &own.secs) {
            speed.speedup = Some(s.estimate);
            speed.interval = s.interval;
            speed.method = Some(s.method);
        }
        speed
    }

    /// The summaries against the baseline (setting the facts' means when
    /// every prompt was compared), the worst prompt, and the summary against
    /// the baseline feature.
    fn summaries(
        &self,
        rows: &[PromptResult],
        facts: &mut status::Facts,
    ) -> (
        Option<MetricSummary>,
        Option<WorstPrompt>,
        Option<MetricSummary>,
    ) {
        let run = self.run;
        let n = run.num_prompts;
        let vb: Vec<&ImageMetrics> = rows.iter().filter_map(|r| r.vs_baseline.as_ref()).collect();
        let base_summary = if vb.len() == n && n > 0 {
            let name = run.baseline.map_or("baseline", |b| &run.configs[b].name);
            let s = summarise(name, &vb);
            facts.mean_diff = s.mean_diff_avg;
            facts.max_diff = s.max_diff_avg;
            Some(s)
        } else if !vb.is_empty() {
            Some(summarise("baseline", &vb))
        } else {
            None
        };
        let worst = rows
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
        let bf_summary = run
            .baseline_feature
            .filter(|_| !vf.is_empty())
            .map(|bf| summarise(&run.configs[bf].name, &vf));
        (base_summary, worst, bf_summary)
    }
}

/// Peak memory per device as the engine itself reported it.
fn engine_memory(c: &ConfigSource) -> std::collections::BTreeMap<String, u64> {
    c.records
        .as_ref()
        .map(|r| r.peak_memory.clone())
        .unwrap_or_default()
}

/// The last lines of the config's log (for a SKIP or ERROR).
fn log_tail(c: &ConfigSource) -> Option<String> {
    results::log_tail(&c.dir.as_ref()?.join(results::LOG), LOG_TAIL_LINES)
}

/// A lossless FAIL against the engine's own noise floor: PASS with a note
/// when within it, else the FAIL's reason states the floor.
fn within_floor(
    floor: &Floor,
    facts: &status::Facts,
    reason: Option<String>,
    notes: &mut Vec<String>,
) -> (Status, Option<String>) {
    let (mean, max) = (
        facts.mean_diff.unwrap_or(f64::INFINITY),
        facts.max_diff.unwrap_or(f64::INFINITY),
    );
    let floor_text = format!(
        "the engine's own run-to-run difference (baseline vs {}) is up to MeanDiff {:.4}, MaxDiff {:.4}",
        crate::matrix::BASELINE_REPEAT,
        floor.mean_diff,
        floor.max_diff
    );
    if mean <= floor.mean_diff && max <= floor.max_diff {
        notes.push(format!(
            "within the engine's own run-to-run difference: MeanDiff {mean:.4}, MaxDiff {max:.4}; {floor_text}"
        ));
        return (Status::Pass, None);
    }
    (Status::Fail, reason.map(|r| format!("{r}; {floor_text}")))
}

/// Notes on a config's timings: a cold first prompt left out, results.jsonl
/// lines that could not be read, times that are not times (left out).
fn timing_notes(c: &ConfigSource, speed: &Speed, n: usize) -> Vec<String> {
    let cold = speed.timing.as_ref().and_then(|t| t.cold_first);
    let malformed = c.records.iter().flat_map(|r| &r.malformed);
    cold.map(|c| c.note())
        .into_iter()
        .chain(
            malformed
                .map(|(line, why)| format!("{}/results.jsonl:{line}: not read ({why})", c.name)),
        )
        .chain(
            c.invalid_times(n)
                .into_iter()
                .map(|(i, why)| format!("prompt {i}: its time is left out: {why}")),
        )
        .chain(out_of_range(c, n))
        .collect()
}

/// A note on results.jsonl lines for prompts this run does not have: they
/// are ignored (they name no image of the run).
fn out_of_range(c: &ConfigSource, n: usize) -> Option<String> {
    let r = c.records.as_ref()?;
    let outside: Vec<String> = r.prompts.range(n..).map(|(i, _)| i.to_string()).collect();
    let first = outside
        .iter()
        .take(3)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let more = if outside.len() > 3 { ", …" } else { "" };
    (!outside.is_empty()).then(|| {
        format!(
            "{}/{}: line(s) for prompt {first}{more} ignored: the run has prompts 0..{}",
            c.name,
            results::RESULTS,
            n.saturating_sub(1)
        )
    })
}

/// Why a config that reported times (or lines that could not be read) has
/// no valid one; None when it has one, or never claimed any.
fn no_valid_time(c: &ConfigSource, n: usize) -> Option<String> {
    let invalid = c.invalid_times(n);
    let malformed = c.records.as_ref().map_or(0, |r| r.malformed.len());
    if invalid.is_empty() && malformed == 0 {
        return None;
    }
    let mut parts = Vec::new();
    if let Some((i, why)) = invalid.first() {
        let more = invalid.len() - 1;
        let more = if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        };
        parts.push(format!("prompt {i}: {why}{more}"));
    }
    if malformed > 0 {
        parts.push(format!(
            "{malformed} line(s) of {} not read",
            results::RESULTS
        ));
    }
    Some(format!(
        "no valid time, so no speedup: {}",
        parts.join("; ")
    ))
}

/// Why a config's cache crossed CFG branches, from the engine's own count
/// (the work event's `cross_branch`): None when it counted none.
fn cross_branch_reason(c: &ConfigSource) -> Option<String> {
    let records = c.records.as_ref()?;
    let crossed: Vec<String> = records
        .cross_branch
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(unit, n)| {
            let of = records.work.get(unit).map_or(String::new(), |computed| {
                format!(" (it computed {computed})")
            });
            format!("{n} {unit} calls{of}")
        })
        .collect();
    (!crossed.is_empty()).then(|| {
        format!(
            "reuses the other CFG branch's output: {} answered with the other branch's \
             output of the same step (one cache state for cond and uncond changes the guidance, \
             not only the steps)",
            crossed.join(", ")
        )
    })
}

/// The WARN reason of a parent comparison that found the feature did nothing.
fn no_effect_reason(p: &ParentResult) -> Option<String> {
    if p.verdict == Effect::NotApplied {
        let devices = p.idle_devices.join(", ");
        let s = if p.idle_devices.len() == 1 { "" } else { "s" };
        return Some(format!(
            "{} not applied: device{s} {devices} stayed idle",
            p.feature
        ));
    }
    if p.verdict != Effect::NoEffect {
        return None;
    }
    let speed = match (p.speedup, p.speedup_ci) {
        (Some(s), Some(ci)) => format!("{s:.2}× [{:.2}, {:.2}]", ci.low, ci.high),
        (Some(s), None) => format!("{s:.2}×"),
        _ => "no timing".into(),
    };
    if p.same_work == Some(true) {
        return Some(format!(
            "{} had no effect: images identical to {}'s and the engine did the same work \
             (its work counters equal); {speed}",
            p.feature, p.parent
        ));
    }
    Some(format!(
        "{} had no effect: images identical to {}'s, {speed} over {}",
        p.feature, p.parent, p.parent
    ))
}

/// Why prompt `i` of `c` has no usable image, if it has none.
fn prompt_error(
    c: &ConfigSource,
    i: usize,
    exists: bool,
    vs_baseline: Option<&Result<ImageMetrics, String>>,
) -> Option<String> {
    if let Some(why) = c.log_errors.get(&i) {
        return Some(why.clone());
    }
    if let Some(rec) = c.records.as_ref().and_then(|r| r.prompts.get(&i))
        && !rec.ok
    {
        return Some(
            rec.error
                .clone()
                .unwrap_or_else(|| "the backend reported a failure".into()),
        );
    }
    if let Some(&code) = c.prompt_exitcodes.get(&i)
        && code != 0
    {
        return Some(format!("{} is {code}", results::prompt_exitcode(i)));
    }
    if !exists {
        return Some(format!("no image ({})", results::prompt_image(i)));
    }
    match vs_baseline {
        Some(Err(e)) => Some(e.clone()),
        _ => None,
    }
}

/// A device "stayed idle" when its peak used memory rose less than this over
/// its level when the config started: a model shard is gigabytes.
const IDLE_BYTES: u64 = 256 << 20;

/// The config's devices that NVML shows idle while it ran.
fn idle_devices(c: &ConfigSource) -> Vec<String> {
    c.gpu_memory_peak_bytes
        .iter()
        .filter_map(|(d, peak)| {
            let start = c.gpu_memory_start_bytes.get(d)?;
            (peak.saturating_sub(*start) < IDLE_BYTES).then(|| d.clone())
        })
        .collect()
}

/// Whether `c` did the same work as `parent` by the engine's counters; None
/// when either reported none. A unit only one of them reports counts as 0 on
/// the other side: a cache's own count of what it skipped (cache-dit's
/// `cache_dit_cached_steps`) exists only where the cache is on, and its 0 is
/// the engine's word that it skipped nothing, while any step it did skip makes
/// the work differ even if the block counters could not see it.
fn same_work(parent: &ConfigSource, c: &ConfigSource) -> Option<bool> {
    fn work(c: &ConfigSource) -> Option<&std::collections::BTreeMap<String, u64>> {
        c.records.as_ref().map(|r| &r.work)
    }
    match (work(parent)?, work(c)?) {
        (p, w) if p.is_empty() || w.is_empty() => None,
        (p, w) => {
            let count = |m: &std::collections::BTreeMap<String, u64>, unit: &str| {
                m.get(unit).copied().unwrap_or(0)
            };
            Some(
                p.keys()
                    .chain(w.keys())
                    .all(|unit| count(p, unit) == count(w, unit)),
            )
        }
    }
}

/// The peak memory a memory feature is judged on: the device's (NVML), else
/// the engine's own report.
fn peak_memory(c: &ConfigSource) -> std::collections::BTreeMap<String, u64> {
    if !c.gpu_memory_peak_bytes.is_empty() {
        return c.gpu_memory_peak_bytes.clone();
    }
    engine_memory(c)
}

/// A memory feature with identical images and no speed change: applied when
/// its peak device memory is at least 5% below its parent's, no effect when
/// not, unknown without figures.
fn memory_effect(
    parent: &std::collections::BTreeMap<String, u64>,
    config: &std::collections::BTreeMap<String, u64>,
) -> Effect {
    let peak = |m: &std::collections::BTreeMap<String, u64>| m.values().copied().max();
    match (peak(parent), peak(config)) {
        (Some(p), Some(c)) if (c as f64) < 0.95 * p as f64 => Effect::Applied,
        (Some(_), Some(_)) => Effect::NoEffect,
        _ => Effect::Unknown,
    }
}

/// The first three prompt errors as one line, "and N more".
fn prompt_errors(rows: &[PromptResult]) -> Option<String> {
    let failures: Vec<(usize, String)> = rows
        .iter()
        .filter_map(|r| Some((r.prompt, r.error.clone()?)))
        .collect();
    crate::text::prompt_failures(&failures, rows.len())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lossless_fail(mean_diff: f64, max_diff: f64) -> status::Facts {
        status::Facts {
            mean_diff: Some(mean_diff),
            max_diff: Some(max_diff),
            ..Default::default()
        }
    }

    /// The floor holds both MeanDiff and MaxDiff. A real engine's floor is
    /// not one ratio of the two (a few flipped pixels make a large MaxDiff
    /// over a tiny MeanDiff), so a FAIL whose MeanDiff is within the floor
    /// but whose MaxDiff is not must stay FAIL, and say the floor.
    #[test]
    fn a_fail_within_the_floor_on_one_metric_only_stays_fail() {
        let floor = Floor {
            mean_diff: 0.03,
            max_diff: 0.25,
        };
        let mut notes = Vec::new();
        let (status, reason) = within_floor(
            &floor,
            &lossless_fail(0.025, 0.6),
            Some("lossless: mean MaxDiff 0.6000 > 0.2".into()),
            &mut notes,
        );
        assert_eq!(status, Status::Fail);
        let reason = reason.expect("a reason");
        assert!(
            reason.starts_with(
                "lossless: mean MaxDiff 0.6000 > 0.2; the engine's own run-to-run difference"
            ),
            "{reason}"
        );
        assert!(notes.is_empty(), "{notes:?}");
        // And the other way round: MaxDiff within, MeanDiff beyond.
        let (status, _) = within_floor(&floor, &lossless_fail(0.05, 0.2), None, &mut notes);
        assert_eq!(status, Status::Fail);
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn a_fail_within_the_floor_on_both_metrics_is_pass_with_a_note() {
        let floor = Floor {
            mean_diff: 0.03,
            max_diff: 0.25,
        };
        let mut notes = Vec::new();
        // On the floor exactly is within it.
        let (status, reason) = within_floor(
            &floor,
            &lossless_fail(0.03, 0.25),
            Some("lossless: mean MeanDiff 0.0300 > 0.02".into()),
            &mut notes,
        );
        assert_eq!((status, reason), (Status::Pass, None));
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].starts_with(
                "within the engine's own run-to-run difference: MeanDiff 0.0300, MaxDiff 0.2500"
            ),
            "{notes:?}"
        );
        // No figures (nothing compared) is never within a floor.
        let (status, _) = within_floor(&floor, &status::Facts::default(), None, &mut notes);
        assert_eq!(status, Status::Fail);
    }

    fn memory(peaks: &[(&str, u64)]) -> std::collections::BTreeMap<String, u64> {
        peaks.iter().map(|(d, b)| (d.to_string(), *b)).collect()
    }

    /// A memory feature with identical images and unchanged speed is applied
    /// only when its highest device peak is at least 5% under its parent's.
    #[test]
    fn a_memory_feature_is_applied_only_five_percent_under_its_parent() {
        let parent = memory(&[("0", 1000), ("1", 10)]);
        assert_eq!(
            memory_effect(&parent, &memory(&[("0", 940)])),
            Effect::Applied
        );
        assert_eq!(
            memory_effect(&parent, &memory(&[("0", 960)])),
            Effect::NoEffect
        );
        assert_eq!(
            memory_effect(&parent, &memory(&[("0", 950)])),
            Effect::NoEffect,
            "5% exactly is not under it"
        );
        // The peak is the highest device's: moving the load to another
        // device saves nothing.
        assert_eq!(
            memory_effect(&parent, &memory(&[("0", 10), ("1", 990)])),
            Effect::NoEffect
        );
        assert_eq!(memory_effect(&parent, &memory(&[])), Effect::Unknown);
        assert_eq!(memory_effect(&memory(&[]), &parent), Effect::Unknown);
    }

    fn with_work(counts: &[(&str, u64)]) -> ConfigSource {
        ConfigSource {
            records: Some(results::records::BatchRecords {
                work: counts.iter().map(|(u, n)| (u.to_string(), *n)).collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Same work only when both configs reported work, and all of it equal;
    /// a config that reported none says nothing either way.
    #[test]
    fn same_work_needs_both_configs_counters() {
        let parent = with_work(&[("transformer_block", 144), ("transformer_eval", 36)]);
        let same = with_work(&[("transformer_block", 144), ("transformer_eval", 36)]);
        let less = with_work(&[("transformer_block", 141), ("transformer_eval", 36)]);
        assert_eq!(same_work(&parent, &same), Some(true));
        assert_eq!(same_work(&parent, &less), Some(false));
        assert_eq!(same_work(&parent, &with_work(&[])), None);
        assert_eq!(same_work(&with_work(&[]), &parent), None);
        assert_eq!(same_work(&parent, &ConfigSource::default()), None);
        assert_eq!(same_work(&ConfigSource::default(), &parent), None);
    }

    /// A cache's own count of skipped steps, reported only where the cache is
    /// on: 0 is the same work as a parent without it, any skipped step is not.
    #[test]
    fn same_work_reads_a_unit_one_side_lacks_as_zero() {
        let parent = with_work(&[("transformer_block", 480), ("attention", 480)]);
        let idle = with_work(&[
            ("transformer_block", 480),
            ("attention", 480),
            ("cache_dit_cached_steps", 0),
            ("cache_dit_cfg_cached_steps", 0),
        ]);
        let skipped = with_work(&[
            ("transformer_block", 480),
            ("attention", 480),
            ("cache_dit_cached_steps", 8),
            ("cache_dit_cfg_cached_steps", 8),
        ]);
        assert_eq!(same_work(&parent, &idle), Some(true));
        assert_eq!(same_work(&idle, &parent), Some(true));
        assert_eq!(same_work(&parent, &skipped), Some(false));
        assert_eq!(same_work(&skipped, &parent), Some(false));
        let fewer_units = with_work(&[("transformer_block", 480)]);
        assert_eq!(same_work(&parent, &fewer_units), Some(false));
    }
}
