//! The run's queue: estimates ([`super::estimate`]) fed to the order planner
//! ([`crate::executor::plan_order`]), and the plan as `--dry-run` shows it.

use super::estimate::{self, Estimate, Sample};
use super::plan::{QueueOrder, RunPlan};
use crate::executor::plan_order::{self, Choice, Node, Task};
use crate::results::Manifest;

/// The planned queue over the jobs (`units`) of the manifest.
pub struct Queue {
    /// Each job's first manifest index, in queue order.
    pub order: Vec<usize>,
    /// The jobs in queue order: one configuration, or a session's members
    /// (the base first).
    pub units: Vec<Vec<usize>>,
    /// Each job's estimated seconds, in queue order.
    pub seconds: Vec<f64>,
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

/// Plans the order of the jobs `units` of `m`: each one configuration, or a
/// session of several (its base first), which runs them in turn and the base
/// once more for its check.
pub fn plan(plan: &RunPlan, m: &Manifest, samples: &[Sample], units: &[Vec<usize>]) -> Queue {
    let is_cache = |f: &str| {
        plan.registry
            .feature(f)
            .is_some_and(|f| f.category == "cache")
    };
    let estimates = estimate::estimate(m, samples, &is_cache);
    let secs = |i: usize| estimates[i].as_ref().map_or(0.0, |e| e.seconds);
    let unloaded = |i: usize| estimates[i].as_ref().map_or(0.0, |e| e.seconds - e.load);
    // A session: one load, its members in turn, then the base again (the
    // check), each after the first without its load.
    let tasks: Vec<Task> = units
        .iter()
        .map(|u| Task {
            gpus: m.configs[u[0]].gpus,
            seconds: match u.as_slice() {
                [one] => secs(*one),
                [base, rest @ ..] => {
                    secs(*base) + rest.iter().map(|&i| unloaded(i)).sum::<f64>() + unloaded(*base)
                }
                [] => 0.0,
            },
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
        order: choice.order.iter().map(|&k| units[k][0]).collect(),
        units: choice.order.iter().map(|&k| units[k].clone()).collect(),
        seconds: choice.order.iter().map(|&k| tasks[k].seconds).collect(),
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
    for (k, u) in q.units.iter().enumerate() {
        let e = &m.configs[u[0]];
        let gpus = format!("{} {unit}{}", e.gpus, if e.gpus == 1 { "" } else { "s" });
        let line = |i: usize| {
            let (secs, from) = match &q.estimates[i] {
                Some(est) => (format!("{:.1}", est.seconds), est.source.describe()),
                None => (String::new(), String::new()),
            };
            format!("~{secs} s  [{from}]")
        };
        if u.len() == 1 {
            s += &format!("  {:>2}. {}  ({gpus})  {}\n", k + 1, e.name, line(u[0]));
            continue;
        }
        s += &format!(
            "  {:>2}. session {}  ({gpus}, one model load for {} configurations, then {} again to check \
             that no state leaked)  ~{:.1} s\n",
            k + 1,
            e.name,
            u.len(),
            e.name,
            q.seconds.get(k).copied().unwrap_or(0.0)
        );
        for &i in u {
            s += &format!("        {}  {}\n", m.configs[i].name, line(i));
        }
    }
    s
}
