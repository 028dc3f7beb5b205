//! One backend process: starting it on its devices (or through Slurm) within
//! its time limit, following its progress, and turning what it left in its
//! folder into a [`JobResult`]. Used for a configuration of its own
//! ([`run_one`]) and by a session ([`super::session`]).

use std::path::Path;
use std::time::Duration;

use super::process::{self, Outcome, Spec};
use super::{CancelRx, Event, Events, Job, JobResult, Launcher, Options, collect};
use crate::results;

pub(super) async fn run_one(
    job: &Job,
    devices: &[String],
    opts: &Options,
    cancel: CancelRx,
    events: &Events,
) -> JobResult {
    if let Err(e) = fresh_dir(&job.dir) {
        return failed(format!("{e:#}"));
    }
    let poller = tokio::spawn(poll_progress(job.index, job.dir.clone(), events.clone()));
    let ran = launch(job, devices, opts, opts.timeout, cancel).await;
    poller.abort();
    let mut result = finish(job, ran.outcome, ran.elapsed);
    result.gpu_memory_peak = ran.gpu_memory_peak;
    result.gpu_memory_start = ran.gpu_memory_start;
    result.placement = ran.placement;
    result
}

/// What a backend process did, before its folder is read.
pub(super) struct Ran {
    pub outcome: Outcome,
    pub elapsed: Duration,
    pub gpu_memory_peak: std::collections::BTreeMap<String, u64>,
    pub gpu_memory_start: std::collections::BTreeMap<String, u64>,
    pub placement: Option<super::slurm::Placement>,
}

/// Starts `job`'s backend on `devices` (or through Slurm), samples its GPUs'
/// memory, and waits for it within `timeout`; its log goes to the job's folder.
pub(super) async fn launch(
    job: &Job,
    devices: &[String],
    opts: &Options,
    timeout: Option<Duration>,
    cancel: CancelRx,
) -> Ran {
    let (argv, env) = match &opts.launcher {
        Launcher::Local => {
            let list = devices.join(",");
            let env = vec![
                ("CUDA_VISIBLE_DEVICES".to_string(), list.clone()),
                ("COMPAT_DEVICES".to_string(), list),
            ];
            (job.argv.clone(), env)
        }
        // Slurm sets CUDA_VISIBLE_DEVICES on the node; srun passes our
        // environment on, so ours must not hide the allocation.
        Launcher::Slurm(s) => (s.wrap(&job.name, job.gpus, &job.argv), vec![]),
    };
    let log = job.dir.join(results::LOG);
    let peaks = super::memory::Peaks::default();
    let sampler = match (&opts.gpu_memory, &opts.launcher) {
        (Some(mem), Launcher::Local) if !devices.is_empty() => Some(tokio::spawn(
            super::memory::sample(mem.clone(), devices.to_vec(), peaks.clone()),
        )),
        _ => None,
    };
    let (outcome, elapsed) = process::run(
        Spec {
            argv: &argv,
            env: &env,
            log: &log,
            timeout,
            grace: opts.grace,
            unset: if matches!(opts.launcher, Launcher::Slurm(_)) {
                &["CUDA_VISIBLE_DEVICES", "COMPAT_DEVICES"]
            } else {
                &[]
            },
            groups: opts.groups.as_ref(),
        },
        cancel,
    )
    .await;
    if let Some(s) = sampler {
        s.abort();
    }
    let mut ran = Ran {
        outcome,
        elapsed,
        gpu_memory_peak: Default::default(),
        gpu_memory_start: Default::default(),
        placement: None,
    };
    if let Ok(p) = peaks.lock() {
        ran.gpu_memory_peak = p.iter().map(|(d, u)| (d.clone(), u.peak)).collect();
        ran.gpu_memory_start = p.iter().map(|(d, u)| (d.clone(), u.start)).collect();
    }
    if let Launcher::Slurm(s) = &opts.launcher {
        if matches!(ran.outcome, Outcome::TimedOut(_) | Outcome::Interrupted) {
            s.cancel(&job.name);
        }
        let log = std::fs::read(&log).unwrap_or_default();
        ran.placement = super::slurm::parse_marker(&String::from_utf8_lossy(&log));
    }
    ran
}

pub(super) fn failed(error: String) -> JobResult {
    JobResult {
        outcome: Outcome::SpawnFailed(error.clone()),
        seconds: 0.0,
        collected: None,
        error: Some(error),
        placement: None,
        gpu_memory_peak: Default::default(),
        gpu_memory_start: Default::default(),
        span: None,
    }
}

/// Turns a finished process into a result: exit code file, records, verdict.
pub(crate) fn finish(job: &Job, outcome: Outcome, elapsed: Duration) -> JobResult {
    finish_dir(
        &job.dir,
        job.num_prompts,
        outcome,
        elapsed,
        &job.dir.join(results::LOG),
    )
}

/// [`finish`] for the configuration whose folder is `dir`, the backend's log
/// being `log` (a session's is in its base's folder).
pub(super) fn finish_dir(
    dir: &Path,
    num_prompts: usize,
    outcome: Outcome,
    elapsed: Duration,
    log: &Path,
) -> JobResult {
    let _ = results::atomic::write(
        &dir.join(results::EXITCODE),
        format!("{}\n", outcome.exit_code()).as_bytes(),
    );
    let collected = collect::collect(dir, num_prompts);
    let log_tail = last_log_line(log);
    let error = match (&outcome, &collected) {
        (Outcome::Exited(0), Ok(c)) => c.missing_summary(),
        (Outcome::Exited(0), Err(e)) => Some(format!("{e:#}")),
        (Outcome::Exited(code), _) => Some(match log_tail {
            Some(line) => format!("backend exited with code {code}: {line}"),
            None => format!("backend exited with code {code}"),
        }),
        (Outcome::TimedOut(d), _) => Some(format!(
            "timed out after {}",
            humantime::format_duration(*d)
        )),
        (Outcome::Interrupted, _) => Some("interrupted".to_string()),
        (Outcome::SpawnFailed(why), _) => Some(why.clone()),
    };
    JobResult {
        outcome,
        seconds: elapsed.as_secs_f64(),
        collected: collected.ok(),
        error,
        placement: None,
        gpu_memory_peak: Default::default(),
        gpu_memory_start: Default::default(),
        span: None,
    }
}

/// A clean folder: images of an earlier attempt must never be judged.
pub(super) fn fresh_dir(dir: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("failed to clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))
}

/// The line that says why a backend failed: a Slurm error about the job
/// itself (refused, cancelled, out of time) if there is one, else the last
/// line the backend printed (its error, usually). srun's own follow-up lines
/// ("task 0: Exited with exit code 1", "Terminating StepId") and compat's
/// markers say nothing new.
fn last_log_line(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    failure_line(&String::from_utf8_lossy(&bytes))
}

fn failure_line(log: &str) -> Option<String> {
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let slurm = lines.iter().rev().find(|l| {
        l.starts_with("srun: error:")
            && !l.contains("Exited with exit code")
            && !l.contains("Terminating")
    });
    // clap (the reference engine's parser) ends its error with a tip, the
    // usage and "For more information, try '--help'": the `error:` line
    // above them is the reason.
    let furniture = |l: &str| {
        l.starts_with("For more information") || l.starts_with("Usage:") || l.starts_with("tip:")
    };
    let backend = lines
        .iter()
        .rev()
        .filter(|l| !l.starts_with("[compat]") && !l.starts_with("srun:"))
        .find(|l| !furniture(l));
    slurm.or(backend).map(|l| l.chars().take(300).collect())
}

/// Counts finished prompts as the backend reports them.
async fn poll_progress(index: usize, dir: std::path::PathBuf, events: Events) {
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let done = count_done(&dir);
        if done != last {
            last = done;
            if events.send(Event::Progress { index, done }).is_err() {
                return;
            }
        }
    }
}

/// Prompts a results.jsonl's text reports so far (progress, not verdicts).
pub(super) fn prompt_lines(text: &str) -> usize {
    text.lines().filter(|l| l.contains("\"prompt\"")).count()
}

fn count_done(dir: &Path) -> usize {
    // read_regular: a FIFO planted as results.jsonl must not block the runtime.
    if let Ok(bytes) = results::files::read_regular(&dir.join(results::RESULTS)) {
        return prompt_lines(&String::from_utf8_lossy(&bytes));
    }
    std::fs::read(dir.join(results::LOG))
        .map(|b| {
            results::batch_log::BatchLog::parse(&String::from_utf8_lossy(&b))
                .times()
                .len()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::failure_line;

    #[test]
    fn the_backends_error_beats_sruns_follow_up_lines() {
        let log = "loading\nRuntimeError: CUDA out of memory\nsrun: error: vm: task 0: Exited with exit code 1\n\
                   srun: launch/slurm: _step_signal: Terminating StepId=47.0\n";
        assert_eq!(
            failure_line(log).as_deref(),
            Some("RuntimeError: CUDA out of memory")
        );
    }

    #[test]
    fn claps_error_line_beats_its_help_footer() {
        let log = "error: unexpected argument '-b' found\n\n  tip: to pass '-b' as a value, use '-- -b'\n\n\
                   Usage: compat generate [OPTIONS] --prompt-file <PROMPT_FILE>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            failure_line(log).as_deref(),
            Some("error: unexpected argument '-b' found")
        );
    }

    #[test]
    fn a_slurm_job_error_beats_the_backends_last_line() {
        let log = "[compat] slurm job 3 on vm at 1.0 CUDA_VISIBLE_DEVICES=0\n  Prompt 1: 1.0 seconds\n\
                   srun: error: *** STEP 3.0 ON vm CANCELLED AT 2026-11-22T12:00:00 DUE TO TIME LIMIT ***\n";
        assert!(failure_line(log).is_some_and(|l| l.contains("DUE TO TIME LIMIT")));
        let refused = "srun: error: Unable to allocate resources: Requested node configuration is not available\n";
        assert!(failure_line(refused).is_some_and(|l| l.contains("Unable to allocate")));
        assert_eq!(failure_line("[compat] timed out\n"), None);
    }
}
