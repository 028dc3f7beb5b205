//! One backend process: its own process group, output into the log, a
//! timeout, and graceful-then-forced termination (nextest's manners).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// How hard the run is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cancel {
    /// Keep going.
    None,
    /// First Ctrl-C: terminate the groups, wait the grace period.
    Graceful,
    /// Second Ctrl-C: kill at once.
    Now,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Exited by itself; the code, or 128 + signal.
    Exited(i32),
    /// Killed after the timeout.
    TimedOut(Duration),
    /// Stopped by Ctrl-C.
    Interrupted,
    /// Could not be started at all.
    SpawnFailed(String),
}

impl Outcome {
    /// The code for `batch_generation.exitcode`.
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Exited(c) => *c,
            Outcome::TimedOut(_) => 124,
            Outcome::Interrupted => 130,
            Outcome::SpawnFailed(_) => 127,
        }
    }
}

/// What to start.
pub struct Spec<'a> {
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
    pub log: &'a Path,
    /// None: no limit of ours (under Slurm the limit is Slurm's).
    pub timeout: Option<Duration>,
    pub grace: Duration,
    /// Variables removed from the inherited environment.
    pub unset: &'a [&'a str],
    /// The run's token for the environment, and where the group is recorded.
    pub groups: Option<&'a super::GroupLog>,
}

/// Runs one backend to completion, timeout or cancellation.
pub async fn run(spec: Spec<'_>, mut cancel: watch::Receiver<Cancel>) -> (Outcome, Duration) {
    let started = Instant::now();
    let outcome = run_inner(&spec, &mut cancel).await;
    if let Outcome::TimedOut(_) | Outcome::Interrupted = outcome {
        let why = match &outcome {
            Outcome::TimedOut(d) => format!("timed out after {}", humantime::format_duration(*d)),
            _ => "interrupted".to_string(),
        };
        append_log(
            spec.log,
            &format!("\n[compat] {why}: process group terminated\n"),
        );
    }
    if let Outcome::SpawnFailed(why) = &outcome {
        append_log(spec.log, &format!("[compat] {why}\n"));
    }
    (outcome, started.elapsed())
}

async fn run_inner(spec: &Spec<'_>, cancel: &mut watch::Receiver<Cancel>) -> Outcome {
    let Some((program, args)) = spec.argv.split_first() else {
        return Outcome::SpawnFailed("empty command".into());
    };
    let (out, err) = match std::fs::File::create(spec.log).and_then(|f| Ok((f.try_clone()?, f))) {
        Ok(pair) => pair,
        Err(e) => {
            return Outcome::SpawnFailed(format!("cannot create {}: {e}", spec.log.display()));
        }
    };
    let mut cmd = tokio::process::Command::new(program);
    for var in spec.unset {
        cmd.env_remove(var);
    }
    cmd.args(args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        // Its own group, so a signal reaches the backend's workers too.
        .process_group(0)
        .kill_on_drop(true);
    if let Some(g) = spec.groups {
        cmd.env(super::RUN_ID_ENV, &g.token);
    }
    die_with_parent(&mut cmd);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::SpawnFailed(format!("failed to start `{program}`: {e}")),
    };
    let Some(pid) = child.id() else {
        return Outcome::Exited(child.wait().await.map(code_of).unwrap_or(-1));
    };
    if let Some(g) = spec.groups {
        (g.sink)(pid);
    }
    let pgid = pid as libc::pid_t;

    let deadline = async {
        match spec.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let outcome = tokio::select! {
        status = child.wait() => Outcome::Exited(status.map(code_of).unwrap_or(-1)),
        _ = &mut deadline => {
            terminate(pgid, &mut child, spec.grace, cancel).await;
            Outcome::TimedOut(spec.timeout.unwrap_or_default())
        }
        _ = wait_for(cancel, Cancel::Graceful) => {
            terminate(pgid, &mut child, spec.grace, cancel).await;
            Outcome::Interrupted
        }
    };
    // Stragglers the backend left in its group (workers, loaders) must not
    // hold devices the next configuration gets.
    signal_group(pgid, libc::SIGKILL);
    outcome
}

/// The backend is killed when compat dies, even by SIGKILL (which runs no
/// clean-up of ours): PR_SET_PDEATHSIG, set in the child before exec.
///
/// The signal fires when the *thread* that forked the child ends, not the
/// process. Backends are spawned from the run's tokio runtime, which is a
/// current-thread runtime driven by `block_on` on compat's main thread
/// (`runner::recorder::execute`), and `Command::spawn` forks on the calling
/// thread (no blocking-pool thread is involved): the forking thread lives
/// as long as compat. The leader's own children stay in its process group;
/// the next run on the folder ends that group (`runner::leftovers`).
fn die_with_parent(cmd: &mut tokio::process::Command) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the closure runs between fork and exec and only makes
        // async-signal-safe calls (prctl, getppid); it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // compat died before the prctl: the signal will never come.
                if libc::getppid() != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// TERM the group; after `grace` (or at a second Ctrl-C), KILL it.
async fn terminate(
    pgid: libc::pid_t,
    child: &mut tokio::process::Child,
    grace: Duration,
    cancel: &mut watch::Receiver<Cancel>,
) {
    signal_group(pgid, libc::SIGTERM);
    tokio::select! {
        _ = child.wait() => {}
        _ = tokio::time::sleep(grace) => {}
        _ = wait_for(cancel, Cancel::Now) => {}
    }
    signal_group(pgid, libc::SIGKILL);
    let _ = child.wait().await;
}

async fn wait_for(cancel: &mut watch::Receiver<Cancel>, level: Cancel) {
    if cancel.wait_for(|c| *c >= level).await.is_err() {
        // The sender is gone: nobody can cancel any more.
        std::future::pending::<()>().await;
    }
}

fn signal_group(pgid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: killpg only sends a signal; ESRCH (group gone) is expected.
    unsafe {
        libc::killpg(pgid, sig);
    }
}

fn code_of(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

fn append_log(path: &Path, text: &str) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    {
        let _ = f.write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    async fn go(cmd: &[&str], timeout_ms: u64) -> (Outcome, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("log");
        let (_tx, rx) = watch::channel(Cancel::None);
        let a = argv(cmd);
        let (o, _) = run(
            Spec {
                argv: &a,
                env: &[("X".into(), "y".into())],
                log: &log,
                timeout: Some(Duration::from_millis(timeout_ms)),
                grace: Duration::from_millis(500),
                unset: &[],
                groups: None,
            },
            rx,
        )
        .await;
        (o, std::fs::read_to_string(&log).unwrap_or_default())
    }

    #[tokio::test]
    async fn exit_code_and_output_reach_the_log() {
        let (o, log) = go(&["sh", "-c", "echo out $X; echo err >&2; exit 3"], 10_000).await;
        assert_eq!(o, Outcome::Exited(3));
        assert!(log.contains("out y") && log.contains("err"), "{log}");
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let t = Instant::now();
        // The child shell ignores TERM and has a grandchild: KILL must reach both.
        let (o, log) = go(&["sh", "-c", "trap '' TERM; sleep 30 & sleep 30"], 300).await;
        assert!(matches!(o, Outcome::TimedOut(_)), "{o:?}");
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(log.contains("timed out after 300ms"), "{log}");
    }

    #[tokio::test]
    async fn missing_program_is_a_spawn_failure() {
        let (o, _) = go(&["/nonexistent/backend"], 1000).await;
        assert!(
            matches!(o, Outcome::SpawnFailed(ref m) if m.contains("/nonexistent/backend")),
            "{o:?}"
        );
    }

    #[tokio::test]
    async fn cancellation_interrupts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("log");
        let (tx, rx) = watch::channel(Cancel::None);
        let a = argv(&["sleep", "30"]);
        let handle = tokio::spawn(async move {
            run(
                Spec {
                    argv: &a,
                    env: &[],
                    log: &log,
                    timeout: Some(Duration::from_secs(60)),
                    grace: Duration::from_secs(5),
                    unset: &[],
                    groups: None,
                },
                rx,
            )
            .await
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        tx.send(Cancel::Graceful).expect("send");
        let (o, elapsed) = handle.await.expect("join");
        assert_eq!(o, Outcome::Interrupted);
        assert!(elapsed < Duration::from_secs(4));
    }
}
