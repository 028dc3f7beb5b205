//! The run's queue: estimates ([`super::estimate`]) fed to the order planner
//! ([`crate::executor::plan_order`]), and the plan as `--dry-run` shows it.

use super::estimate::{self, Estimate, Sample};
use super::plan::{QueueOrder, RunPlan};
use crate::executor::plan_order::{self, Choice, Node, Task};
use crate::results::Manifest;

/// The planned queue over the configurations `indices` of the manifest.
pub struct Queue {
    /// Manifest indices in queue order.
    pub order: Vec<usize>,
    pub choice: Choice,
    /// Per manifest index (None for a SKIP).
    pub estimates: Vec<Option<Estimate>>,
}

/// What earlier runs say: `--estimates-from`, then (winning, as it is the
/// same folder) the earlier run that `--resume` continues.
pub fn samples(plan: &RunPlan, resumed: Option<&Manifest>) -> anyhow::Result<Vec<Sample>> {
    let mut out = match &plan.estimates_from {
        Some(p) => estimate::from_path(p).map_err(crate::exit::bad_input)?,
        None => vec![],
    };
    if let Some(old) = resumed {
        out.extend(estimate::from_manifest(old, &plan.out, "the earlier run"));
    }
    Ok(out)
}

/// Plans the order of the configurations `indices` of `m`.
pub fn plan(plan: &RunPlan, m: &Manifest, samples: &[Sample], indices: &[usize]) -> Queue {
    let is_cache = |f: &str| {
        plan.registry
            .feature(f)
            .is_some_and(|f| f.category == "cache")
    };
    let estimates = estimate::estimate(m, samples, &is_cache);
    let tasks: Vec<Task> = indices
        .iter()
        .map(|&i| Task {
            gpus: m.configs[i].gpus,
            seconds: estimates[i].as_ref().map_or(0.0, |e| e.seconds),
        })
        .collect();
    let node = Node {
        devices: plan.devices.count,
        jobs: plan.jobs,
    };
    let mut choice = plan_order::choose(&tasks, node);
    if plan.queue_order == QueueOrder::LargestFirst {
        choice.order = plan_order::largest_first(&tasks);
        choice.makespan = choice.largest_first;
        choice.strategy = plan_order::Strategy::LargestFirst;
    }
    Queue {
        order: choice.order.iter().map(|&k| indices[k]).collect(),
        choice,
        estimates,
    }
}

/// The plan in words, for `--dry-run`.
pub fn describe(q: &Queue, m: &Manifest, cpu: bool) -> String {
    // On a CPU backend (the reference engine) a "GPU" is a CPU core.
    let unit = if cpu { "CPU core" } else { "GPU" };
    let c = &q.choice;
    let mut s = format!(
        "queue order ({}, {} devices): estimated makespan {:.1} s; largest GPU count first {:.1} s; \
         lower bound {:.1} s (max of the longest and GPU-seconds / devices)\n",
        c.strategy.as_str(),
        m.devices.count,
        c.makespan,
        c.largest_first,
        c.lower_bound
    );
    for (k, &i) in q.order.iter().enumerate() {
        let e = &m.configs[i];
        let (secs, from) = match &q.estimates[i] {
            Some(est) => (format!("{:.1}", est.seconds), est.source.describe()),
            None => (String::new(), String::new()),
        };
        s += &format!(
            "  {:>2}. {}  ({} {unit}{})  ~{secs} s  [{from}]\n",
            k + 1,
            e.name,
            e.gpus,
            if e.gpus == 1 { "" } else { "s" }
        );
    }
    s
}
