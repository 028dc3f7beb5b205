//! One plugin process: its own process group (a timeout ends its workers
//! too, as the runner ends a backend's), output kept for the note, at most
//! its entry's timeout.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// After TERM, how long the group has before KILL.
const GRACE: Duration = Duration::from_secs(5);

/// How the plugin ended, when it did not end well.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Could not be started.
    Spawn(String),
    /// Exited non-zero (or by a signal), with its last output lines.
    Exit(String),
    /// Killed at the timeout.
    TimedOut(Duration),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Spawn(why) | Failure::Exit(why) => f.write_str(why),
            Failure::TimedOut(d) => write!(
                f,
                "did not finish within {}: its process group was killed",
                humantime::format_duration(*d)
            ),
        }
    }
}

/// A private folder under the system's temporary directory, removed when
/// dropped: the items, the values and the plugin's output live there.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(name: &str) -> std::io::Result<Scratch> {
        use std::os::unix::fs::DirBuilderExt;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "compat-metric-{name}-{}-{nanos:09}",
            std::process::id()
        ));
        // 0700 and must not exist: another user cannot plant the values.
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(Scratch(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `argv` to completion or `timeout`; its stdout and stderr go to `log`.
pub fn run(argv: &[String], log: &Path, timeout: Duration) -> Result<(), Failure> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Failure::Spawn("the command is empty".into()))?;
    let out = std::fs::File::create(log)
        .map_err(|e| Failure::Spawn(format!("cannot create {}: {e}", log.display())))?;
    let err = out.try_clone().map_err(|e| Failure::Spawn(e.to_string()))?;
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| Failure::Spawn(format!("cannot start `{program}`: {e}")))?
    };
    let pgid = child.id() as libc::pid_t;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() >= timeout => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                signal_group(pgid, libc::SIGKILL);
                let _ = child.wait();
                return Err(Failure::Exit(format!("cannot wait for the plugin: {e}")));
            }
        }
    };
    let Some(status) = status else {
        signal_group(pgid, libc::SIGTERM);
        let grace = Instant::now();
        while grace.elapsed() < GRACE && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        signal_group(pgid, libc::SIGKILL);
        let _ = child.wait();
        return Err(Failure::TimedOut(timeout));
    };
    // Helpers the plugin left behind in its group (data loader workers)
    // must not outlive the analysis.
    signal_group(pgid, libc::SIGKILL);
    if status.success() {
        return Ok(());
    }
    let how = {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(sig)) => format!("was killed by signal {sig}"),
            _ => "failed".to_string(),
        }
    };
    Err(Failure::Exit(format!("{how}: {}", last_lines(log))))
}

/// The plugin's last words: for a Python traceback the exception, else the
/// last non-empty line of its output.
fn last_lines(log: &Path) -> String {
    let mut text = String::new();
    let _ = std::fs::File::open(log).and_then(|f| {
        let len = f.metadata()?.len();
        let mut f = f;
        // The tail only: a chatty plugin may have written megabytes.
        if len > 64 * 1024 {
            use std::io::Seek;
            f.seek(std::io::SeekFrom::Start(len - 64 * 1024))?;
        }
        let mut bytes = Vec::new();
        f.take(64 * 1024).read_to_end(&mut bytes)?;
        text = String::from_utf8_lossy(&bytes).into_owned();
        Ok(())
    });
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(crate::text::clean)
        .unwrap_or_else(|| "no output".to_string())
}

fn signal_group(pgid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: killpg only sends a signal to the group we made; ESRCH (the
    // group is gone) is expected.
    unsafe {
        libc::killpg(pgid, sig);
    }
}
