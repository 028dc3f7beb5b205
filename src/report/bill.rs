//! The bill: what a run cost in GPU-seconds, and how well it was packed.
//!
//! A configuration holds its GPUs from its start to its end, so what it was
//! billed is wall seconds × GPUs. That is split by what the backend reported
//! in results.jsonl: the model load and the warm-up (their events) and the
//! timed prompts (their per-prompt seconds), each × GPUs; the rest is held
//! but idle (process start, saving images, teardown, or a load the backend
//! did not report). Read from the manifest and the config folders, so the run
//! summary and report.json say the same.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::results::{self, BatchRecords, ConfigState, Manifest};

/// The whole run's cost.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Bill {
    /// Devices the run packed onto.
    pub devices: usize,
    /// GPU-seconds held by every configuration that ran: Σ wall × GPUs.
    pub gpu_seconds: f64,
    /// Of which loading the model (Σ load × GPUs).
    pub load_gpu_seconds: f64,
    /// Of which warm-up generations.
    pub warmup_gpu_seconds: f64,
    /// Of which timed prompts.
    pub timed_gpu_seconds: f64,
    /// Of which held but doing none of the above.
    pub idle_gpu_seconds: f64,
    /// Model loads paid: one per configuration that started a backend.
    pub loads: usize,
    /// Model loads saved by running several configurations in one backend
    /// process (a session, docs/sessions.md): Σ its configurations that ran − 1.
    pub loads_avoided: usize,
    /// Sessions' contamination checks (the base run again), × GPUs: the
    /// price of trusting a shared load, included in `gpu_seconds`.
    #[serde(default)]
    pub check_gpu_seconds: f64,
    /// Seconds during which some configuration was running (the union of
    /// their start–finish spans, so a resumed run's pause is not counted);
    /// null when no configuration recorded both times.
    pub makespan_seconds: Option<f64>,
    /// max(longest configuration, GPU-seconds / devices) of the same
    /// durations: no order of them finishes sooner.
    pub lower_bound_seconds: f64,
    /// Per configuration that ran, in matrix order.
    pub configs: Vec<ConfigBill>,
}

/// One configuration's cost.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConfigBill {
    pub name: String,
    pub gpus: u32,
    /// From its start to its end.
    pub wall_seconds: f64,
    /// wall × GPUs.
    pub gpu_seconds: f64,
    /// Load × GPUs; null when the backend reported no load.
    pub load_gpu_seconds: Option<f64>,
    /// Warm-up × GPUs; null when the backend reported none.
    pub warmup_gpu_seconds: Option<f64>,
    /// Σ per-prompt seconds × GPUs.
    pub timed_gpu_seconds: f64,
    /// The rest of what was held.
    pub idle_gpu_seconds: f64,
}

impl Bill {
    /// makespan / lower bound (1.0 is a perfect packing).
    pub fn packing_ratio(&self) -> Option<f64> {
        let m = self.makespan_seconds?;
        (self.lower_bound_seconds > 0.0).then(|| m / self.lower_bound_seconds)
    }

    /// One line for the run summary and `compare`.
    pub fn line(&self) -> String {
        let mut s = format!(
            "bill: {:.1} GPU-s held (load {:.1}, warm-up {:.1}, timed {:.1}, idle {:.1}{}); \
             {} model load(s), {} avoided",
            self.gpu_seconds,
            self.load_gpu_seconds,
            self.warmup_gpu_seconds,
            self.timed_gpu_seconds,
            self.idle_gpu_seconds,
            if self.check_gpu_seconds > 0.0 {
                format!(", session checks {:.1}", self.check_gpu_seconds)
            } else {
                String::new()
            },
            self.loads,
            self.loads_avoided
        );
        if let (Some(m), Some(r)) = (self.makespan_seconds, self.packing_ratio()) {
            s += &format!(
                "; makespan {m:.1} s vs lower bound {:.1} s ({r:.2}×) on {} device(s)",
                self.lower_bound_seconds, self.devices
            );
        }
        s
    }
}

/// The bill of the run in `dir` described by `m`; None when no configuration
/// ran (nothing was paid).
pub fn of_run(m: &Manifest, dir: &Path) -> Option<Bill> {
    let records = |name: &str| -> Option<BatchRecords> {
        let bytes = results::files::read_regular(&dir.join(name).join(results::RESULTS)).ok()?;
        Some(BatchRecords::parse_jsonl(&String::from_utf8_lossy(&bytes)))
    };
    // A configuration that never started (no devices for it, a session that
    // ended before it) held nothing and paid no load.
    let ran: Vec<_> = m
        .configs
        .iter()
        .filter(|e| e.state != ConfigState::Skipped && e.started.is_some())
        .filter_map(|e| Some((e, seconds(e.seconds)?)))
        .collect();
    if ran.is_empty() {
        return None;
    }
    let configs: Vec<ConfigBill> = ran
        .iter()
        .map(|(e, wall)| config(&e.name, e.gpus, *wall, records(&e.name).as_ref()))
        .collect();
    let t = |x: &str| {
        results::parse_time(x)?
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .ok()
    };
    let mut spans: Vec<(f64, f64)> = ran
        .iter()
        .filter_map(|(e, _)| Some((t(e.started.as_deref()?)?, t(e.finished.as_deref()?)?)))
        .collect();
    // A session's check runs after its last member, still holding the devices.
    for r in &m.sessions {
        let last = ran
            .iter()
            .filter(|(e, _)| e.session.as_deref() == Some(r.base.as_str()))
            .filter_map(|(e, _)| t(e.finished.as_deref()?))
            .fold(None, |a: Option<f64>, x| Some(a.map_or(x, |a| a.max(x))));
        if let (Some(end), Some(check)) = (last, seconds(r.check_seconds)) {
            spans.push((end, end + check));
        }
    }
    let mut bill = total(configs, m.devices.count.max(1), union_length(spans));
    // A session is one process: its configurations that ran paid one load.
    for r in &m.sessions {
        let members = ran
            .iter()
            .filter(|(e, _)| e.session.as_deref() == Some(r.base.as_str()))
            .count();
        bill.loads_avoided += members.saturating_sub(1);
        if members > 0 {
            let check = seconds(r.check_seconds).unwrap_or(0.0) * f64::from(r.gpus);
            bill.check_gpu_seconds += check;
            bill.gpu_seconds += check;
        }
    }
    bill.loads -= bill.loads_avoided.min(bill.loads);
    bill.lower_bound_seconds = bill
        .lower_bound_seconds
        .max(bill.gpu_seconds / bill.devices.max(1) as f64);
    Some(bill)
}

/// A year: no configuration of a matrix runs longer, and a larger figure in a
/// manifest or results.jsonl is a lie that would make the totals infinite
/// (which JSON cannot hold: report.json would no longer read back).
const MAX_SECONDS: f64 = 366.0 * 24.0 * 3600.0;

/// A duration the bill can use: finite, not negative, at most a year.
fn seconds(x: Option<f64>) -> Option<f64> {
    x.filter(|s| s.is_finite() && (0.0..=MAX_SECONDS).contains(s))
}

/// One configuration's bill from its wall seconds and what it reported.
pub fn config(name: &str, gpus: u32, wall: f64, records: Option<&BatchRecords>) -> ConfigBill {
    let g = f64::from(gpus);
    let valid = seconds;
    let load = records.and_then(|r| valid(r.load_seconds));
    let warmup = records.and_then(|r| valid(r.warmup_seconds));
    let timed: f64 = records
        .map(|r| r.prompts.values().filter_map(|p| valid(p.seconds)).sum())
        .unwrap_or(0.0);
    let held = wall * g;
    let used = (load.unwrap_or(0.0) + warmup.unwrap_or(0.0) + timed) * g;
    ConfigBill {
        name: name.to_string(),
        gpus,
        wall_seconds: wall,
        gpu_seconds: held,
        load_gpu_seconds: load.map(|x| x * g),
        warmup_gpu_seconds: warmup.map(|x| x * g),
        timed_gpu_seconds: timed * g,
        // A backend's own clock may run a little past compat's (or lie):
        // what is held is never negative.
        idle_gpu_seconds: (held - used).max(0.0),
    }
}

/// The run's totals over its configurations.
pub fn total(configs: Vec<ConfigBill>, devices: usize, makespan: Option<f64>) -> Bill {
    let sum = |f: &dyn Fn(&ConfigBill) -> f64| configs.iter().map(f).sum::<f64>();
    let gpu_seconds = sum(&|c| c.gpu_seconds);
    let longest = configs.iter().map(|c| c.wall_seconds).fold(0.0, f64::max);
    Bill {
        devices,
        gpu_seconds,
        load_gpu_seconds: sum(&|c| c.load_gpu_seconds.unwrap_or(0.0)),
        warmup_gpu_seconds: sum(&|c| c.warmup_gpu_seconds.unwrap_or(0.0)),
        timed_gpu_seconds: sum(&|c| c.timed_gpu_seconds),
        idle_gpu_seconds: sum(&|c| c.idle_gpu_seconds),
        loads: configs.len(),
        loads_avoided: 0,
        check_gpu_seconds: 0.0,
        // The timestamps are the executor's events, to the millisecond; a
        // config's own seconds are its process's: the span covers each.
        makespan_seconds: makespan.map(|m| m.max(longest)),
        lower_bound_seconds: longest.max(gpu_seconds / devices.max(1) as f64),
        configs,
    }
}

/// The length of the union of `[start, end]` spans; None without spans.
fn union_length(mut spans: Vec<(f64, f64)>) -> Option<f64> {
    if spans.is_empty() {
        return None;
    }
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut total, mut cur) = (0.0, spans[0]);
    for &(s, e) in &spans[1..] {
        if s <= cur.1 {
            cur.1 = cur.1.max(e);
        } else {
            total += (cur.1 - cur.0).max(0.0);
            cur = (s, e);
        }
    }
    Some(total + (cur.1 - cur.0).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> BatchRecords {
        BatchRecords::parse_jsonl(text)
    }

    #[test]
    fn a_config_is_billed_wall_times_gpus_split_by_what_it_reported() {
        let r = records(
            "{\"event\": \"load\", \"seconds\": 2.0}\n{\"event\": \"warmup\", \"seconds\": 0.5}\n\
             {\"prompt\": 0, \"image\": \"a.png\", \"seconds\": 1.0, \"ok\": true}\n\
             {\"prompt\": 1, \"image\": \"b.png\", \"seconds\": 1.5, \"ok\": true}\n",
        );
        let c = config("x", 2, 6.0, Some(&r));
        assert_eq!(c.gpu_seconds, 12.0);
        assert_eq!(c.load_gpu_seconds, Some(4.0));
        assert_eq!(c.warmup_gpu_seconds, Some(1.0));
        assert_eq!(c.timed_gpu_seconds, 5.0);
        assert_eq!(c.idle_gpu_seconds, 2.0);
        // Nothing reported: all of it idle, never negative.
        let bare = config("y", 1, 3.0, None);
        assert_eq!((bare.load_gpu_seconds, bare.idle_gpu_seconds), (None, 3.0));
        let liar = records("{\"event\": \"load\", \"seconds\": 100.0}\n");
        assert_eq!(config("z", 1, 3.0, Some(&liar)).idle_gpu_seconds, 0.0);
    }

    #[test]
    fn totals_and_the_lower_bound() {
        let b = total(
            vec![config("a", 1, 10.0, None), config("b", 4, 3.0, None)],
            4,
            Some(13.0),
        );
        assert_eq!(b.gpu_seconds, 22.0);
        assert_eq!(b.loads, 2);
        assert_eq!(b.loads_avoided, 0);
        // max(longest 10, 22 / 4)
        assert_eq!(b.lower_bound_seconds, 10.0);
        assert_eq!(b.packing_ratio(), Some(1.3));
        assert!(b.line().contains("22.0 GPU-s"), "{}", b.line());
    }

    #[test]
    fn the_makespan_skips_the_pause_between_sessions() {
        assert_eq!(union_length(vec![]), None);
        let spans = vec![(0.0, 4.0), (1.0, 5.0), (100.0, 102.0)];
        assert_eq!(union_length(spans), Some(7.0));
    }

    #[test]
    fn a_lying_duration_never_makes_a_total_infinite() {
        // 1e308 s × 2 GPUs is infinite, which JSON writes as null and no
        // reader takes back: a figure beyond a year is left out.
        assert_eq!(seconds(Some(1e308)), None);
        assert_eq!(seconds(Some(-1.0)), None);
        assert_eq!(seconds(Some(f64::NAN)), None);
        assert_eq!(seconds(Some(12.5)), Some(12.5));
        let r = records(
            "{\"event\": \"load\", \"seconds\": 1e308}\n{\"prompt\": 0, \"image\": \"a.png\", \"seconds\": 1e308, \"ok\": true}\n",
        );
        let c = config("c", 4096, 10.0, Some(&r));
        let json = serde_json::to_string(&c).expect("json");
        serde_json::from_str::<ConfigBill>(&json).expect("reads back");
        assert!(
            c.gpu_seconds.is_finite() && c.idle_gpu_seconds.is_finite(),
            "{json}"
        );
    }
}
