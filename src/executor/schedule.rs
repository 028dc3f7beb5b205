//! Packs configurations onto disjoint device sets in the planned queue order
//! ([`super::plan_order`]), filling gaps as configurations finish; runs each
//! job through [`super::job`] (one configuration) or [`super::session`]
//! (several in one process).

use std::collections::HashMap;

use tokio::task::JoinSet;

use super::job::{failed, run_one};
use super::process::Cancel;
use super::{CancelRx, Event, Events, Job, JobResult, Launcher, Options};

/// Runs `jobs`; returns when all finished or, after a cancellation, when the
/// running ones stopped (the rest are never started).
pub async fn execute(jobs: Vec<Job>, opts: Options, cancel: CancelRx, events: Events) {
    let rank: HashMap<String, usize> = opts
        .devices
        .iter()
        .enumerate()
        .map(|(i, d)| (d.clone(), i))
        .collect();
    // Slurm places jobs itself: locally, every job "fits".
    let local = matches!(opts.launcher, Launcher::Local);
    let mut free = opts.devices.clone();
    // In the order the runner planned (plan_order): the first queued job
    // that fits the free devices starts; under Slurm, the submission order.
    let mut queue = jobs;
    let mut running = JoinSet::new();
    loop {
        while *cancel.borrow() == Cancel::None && running.len() < opts.jobs.max(1) {
            let Some(pos) = queue
                .iter()
                .position(|j| !local || j.gpus as usize <= free.len())
            else {
                break;
            };
            let job = queue.remove(pos);
            let devices: Vec<String> = if local {
                free.drain(..job.gpus as usize).collect()
            } else {
                vec![]
            };
            let _ = events.send(Event::Started {
                index: job.index,
                devices: devices.clone(),
            });
            let (opts, cancel, events) = (opts.clone(), cancel.clone(), events.clone());
            running.spawn(async move {
                let results = run_job(&job, &devices, &opts, cancel, &events).await;
                (devices, results)
            });
        }
        match running.join_next().await {
            None => break,
            Some(Ok((devices, results))) => {
                free.extend(devices);
                free.sort_by_key(|d| rank.get(d).copied().unwrap_or(usize::MAX));
                for (index, result) in results {
                    let _ = events.send(Event::Finished {
                        index,
                        result: Box::new(result),
                    });
                }
            }
            // A panicking task is a bug; its devices stay taken rather than
            // being handed to a second configuration.
            Some(Err(e)) => eprintln!("compat: internal error in a configuration task: {e}"),
        }
    }
    for job in queue
        .iter()
        .filter(|j| local && j.gpus as usize > opts.devices.len())
    {
        let why = format!(
            "requires {} devices, only {} available",
            job.gpus,
            opts.devices.len()
        );
        for index in job.indices() {
            let _ = events.send(Event::Finished {
                index,
                result: Box::new(failed(why.clone())),
            });
        }
    }
}

impl Job {
    /// The manifest indices this job runs: its own, or its session's.
    fn indices(&self) -> Vec<usize> {
        match &self.session {
            Some(s) => s.members.iter().map(|m| m.index).collect(),
            None => vec![self.index],
        }
    }
}

/// Runs one job: a configuration, or a session of several.
async fn run_job(
    job: &Job,
    devices: &[String],
    opts: &Options,
    cancel: CancelRx,
    events: &Events,
) -> Vec<(usize, JobResult)> {
    match &job.session {
        Some(s) => super::session::run(job, s, devices, opts, cancel, events).await,
        None => vec![(job.index, run_one(job, devices, opts, cancel, events).await)],
    }
}
