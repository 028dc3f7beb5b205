//! The recorder (nextest's reporter): turns the executor's event stream into
//! the manifest, each config_info.json and the progress display, writing the
//! manifest after every change so a crash loses nothing.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio::sync::{mpsc, watch};

use crate::executor::{self, Cancel, Event, Job, JobResult, Outcome};
use crate::progress::Progress;
use crate::results::{self, ConfigEntry, ConfigInfo, ConfigState, Manifest, atomic};

/// Keeps the manifest of a run current as events arrive.
pub struct Recorder<'a> {
    out: PathBuf,
    manifest: &'a mut Manifest,
    progress: Progress,
}

impl<'a> Recorder<'a> {
    pub fn new(out: &Path, manifest: &'a mut Manifest, jobs: usize) -> Recorder<'a> {
        let prompts = manifest.prompts.len();
        Recorder {
            out: out.to_path_buf(),
            manifest,
            progress: Progress::new(jobs, prompts),
        }
    }

    /// Writes the manifest (after stamping it).
    pub fn write_manifest(&mut self) -> anyhow::Result<()> {
        write_manifest(&self.out, self.manifest)
    }

    /// One event: the manifest, config_info.json and the display follow it.
    pub fn record(&mut self, event: Event) -> anyhow::Result<()> {
        let index = match event {
            Event::Started { index, devices } => {
                self.started(index, devices);
                index
            }
            Event::Progress { index, done } => {
                self.progress
                    .prompts(&self.manifest.configs[index].name, done);
                return Ok(());
            }
            Event::Finished { index, result } => {
                self.finished(index, &result);
                index
            }
            Event::SessionChecked {
                base,
                check,
                check_seconds,
            } => {
                let name = &self.manifest.configs[base].name;
                if let Some(r) = self.manifest.sessions.iter_mut().find(|r| &r.base == name) {
                    r.check = check;
                    r.check_seconds = check_seconds;
                }
                return self.write_manifest();
            }
        };
        self.write_manifest()?;
        write_config_info(&self.out, &self.manifest.configs[index])
    }

    fn started(&mut self, index: usize, devices: Vec<String>) {
        // Members of one session run one after another: an earlier member
        // waiting for the check is not running beside this one.
        let session = self.manifest.configs[index].session.clone();
        let running: Vec<String> = self
            .manifest
            .configs
            .iter()
            .filter(|e| e.state == ConfigState::Running)
            .filter(|e| session.is_none() || e.session != session)
            .map(|e| e.name.clone())
            .collect();
        let name = self.manifest.configs[index].name.clone();
        for other in self
            .manifest
            .configs
            .iter_mut()
            .filter(|e| running.contains(&e.name))
        {
            other.concurrent_with.push(name.clone());
        }
        let e = &mut self.manifest.configs[index];
        e.state = ConfigState::Running;
        e.devices = devices;
        e.started = Some(results::now_rfc3339());
        e.concurrent_with = running;
        self.progress.started(&e.name, &e.devices);
    }

    fn finished(&mut self, index: usize, result: &JobResult) {
        let num_prompts = self.manifest.prompts.len();
        let e = &mut self.manifest.configs[index];
        e.finished = Some(results::now_rfc3339());
        if let Some((start, end)) = result.span {
            e.started = Some(results::rfc3339(start));
            e.finished = Some(results::rfc3339(end));
        }
        e.seconds = Some(result.seconds);
        e.exit_code = Some(result.outcome.exit_code());
        e.prompts_ok = result.collected.as_ref().map_or(0, |c| c.ok);
        e.state = match (&result.outcome, &result.error) {
            (Outcome::Interrupted, _) => ConfigState::Interrupted,
            (Outcome::TimedOut(_), _) => ConfigState::TimedOut,
            (_, None) => ConfigState::Completed,
            (_, Some(_)) => ConfigState::Failed,
        };
        e.error = result.error.clone();
        e.gpu_memory_peak_bytes = result.gpu_memory_peak.clone();
        e.gpu_memory_start_bytes = result.gpu_memory_start.clone();
        if let Some(p) = &result.placement {
            e.slurm_job_id = Some(p.job_id.clone());
            e.devices = p.devices.clone();
            // Queue time is not run time: the job started on its node (a
            // session's member has its own span inside the job).
            if let Some(t) = p.started.filter(|_| result.span.is_none()) {
                e.started = Some(results::rfc3339(t));
            }
        }
        self.progress.finished(
            &e.name,
            e.state,
            e.prompts_ok,
            num_prompts,
            result.seconds,
            e.error.as_deref(),
        );
        if result.placement.is_some() {
            slurm_overlaps(self.manifest);
        }
    }
}

/// Stamps and writes manifest.json atomically.
pub fn write_manifest(out: &Path, m: &mut Manifest) -> anyhow::Result<()> {
    m.updated = results::now_rfc3339();
    atomic::write_json(&out.join(results::MANIFEST), m)
}

fn write_config_info(out: &Path, e: &ConfigEntry) -> anyhow::Result<()> {
    let dir = out.join(&e.name);
    if dir.is_dir() {
        atomic::write_json(&dir.join(results::CONFIG_INFO), &ConfigInfo::from_entry(e))?;
    }
    Ok(())
}

/// Runs the jobs, recording every event. Returns whether the run was
/// interrupted (Ctrl-C or TERM).
pub fn execute(
    out: &Path,
    manifest: &mut Manifest,
    jobs: Vec<Job>,
    opts: executor::Options,
) -> anyhow::Result<bool> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    // A session is one job of several configurations: the display counts these.
    let configs = jobs
        .iter()
        .map(|j| j.session.as_ref().map_or(1, |s| s.members.len()))
        .sum();
    let mut recorder = Recorder::new(out, manifest, configs);
    let interrupted = runtime.block_on(async {
        let (cancel_tx, cancel_rx) = watch::channel(Cancel::None);
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(watch_signals(cancel_tx));
        let exec = tokio::spawn(executor::execute(jobs, opts, cancel_rx.clone(), tx));
        while let Some(event) = rx.recv().await {
            recorder.record(event)?;
        }
        exec.await.context("the executor stopped unexpectedly")?;
        recorder.progress.done();
        anyhow::Ok(*cancel_rx.borrow() != Cancel::None)
    })?;
    drop(runtime);
    // tokio's handlers outlive its runtime and would swallow a Ctrl-C during
    // the analysis after the run: give the signals back their default action.
    restore_default_signals();
    Ok(interrupted)
}

fn restore_default_signals() {
    // SAFETY: resetting a signal's disposition to the default has no
    // preconditions; no handler of ours is left running.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
    }
}

/// First Ctrl-C (or TERM): stop gracefully; second: kill at once.
async fn watch_signals(cancel: watch::Sender<Cancel>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    let mut count = 0;
    loop {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        count += 1;
        if count == 1 {
            eprintln!(
                "\ninterrupted: stopping running configurations (Ctrl-C again to kill them now)"
            );
            let _ = cancel.send(Cancel::Graceful);
        } else {
            let _ = cancel.send(Cancel::Now);
        }
    }
}

/// Which Slurm jobs really ran side by side: all were submitted at once, so
/// only their start (on the node) and end times tell.
fn slurm_overlaps(m: &mut Manifest) {
    let window = |e: &ConfigEntry| -> Option<(std::time::SystemTime, std::time::SystemTime)> {
        e.slurm_job_id.as_ref()?;
        Some((
            results::parse_time(e.started.as_deref()?)?,
            results::parse_time(e.finished.as_deref()?)?,
        ))
    };
    let windows: Vec<_> = m.configs.iter().map(window).collect();
    let names: Vec<String> = m.configs.iter().map(|e| e.name.clone()).collect();
    for (i, e) in m.configs.iter_mut().enumerate() {
        let Some((start, end)) = windows[i] else {
            continue;
        };
        e.concurrent_with = windows
            .iter()
            .zip(&names)
            .enumerate()
            .filter(|&(j, (w, _))| j != i && w.is_some_and(|(s2, e2)| s2 < end && start < e2))
            .map(|(_, (_, name))| name.clone())
            .collect();
    }
}
