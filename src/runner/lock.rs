//! One run per folder at a time: an OS lock (flock) on `<output-dir>/.<name>.lock`,
//! held for the whole run. The kernel releases it when the process dies,
//! so a SIGKILL never leaves a folder locked.
//!
//! The lock file's text names the holder and what it started:
//!
//! ```text
//! PID 4242 on host gpu-07, started 2026-12-07T01:37:14.000Z
//! run 4242-1796650634000000000
//! pgid 4250
//! pgid 4301
//! ```
//!
//! The first line names the live run in a refusal. The `run` token is in
//! every backend's environment ([`crate::executor::RUN_ID_ENV`]) and each
//! backend's process group is appended as it starts: a compat killed with
//! SIGKILL cannot stop its backends' children, so the next run that takes
//! the lock ends the groups still alive (see [`super::leftovers`]) before it
//! touches the folder.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;

use crate::executor::GroupLog;
use crate::exit::usage;

/// The lock, released when dropped (or when the process ends).
pub struct RunLock {
    file: Arc<Mutex<File>>,
    token: String,
}

impl RunLock {
    /// Where the run's backends record their process groups.
    pub fn group_log(&self) -> GroupLog {
        let file = self.file.clone();
        GroupLog {
            token: self.token.clone(),
            sink: Arc::new(move |pgid| {
                if let Ok(f) = file.lock() {
                    // A lost line only costs the clean-up after a SIGKILL.
                    let _ = (&*f).write_all(format!("pgid {pgid}\n").as_bytes());
                }
            }),
        }
    }
}

/// The folder as the file system knows it: `out` itself when it exists (a
/// symlink resolved), else its resolved parent and its name. Two spellings
/// of one folder (a symlink, `a/../b`) must take one lock.
fn canonical(out: &Path) -> std::io::Result<PathBuf> {
    if std::fs::symlink_metadata(out).is_ok() {
        return std::fs::canonicalize(out);
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path has no name")
    })?;
    Ok(std::fs::canonicalize(parent)?.join(name))
}

/// The lock file of the run folder `out`: beside it, so `--force` (which
/// deletes the folder) cannot delete it.
fn lock_path(out: &Path) -> std::io::Result<PathBuf> {
    let out = canonical(out)?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(out.with_file_name(format!(".{name}.lock")))
}

/// The lock file could not be made: the folder's place is not writable. Bad
/// input (exit 2), like an `--output-dir` that is a file: nothing ran.
fn cannot_lock(what: &str, path: &Path, e: std::io::Error) -> anyhow::Error {
    usage(format!(
        "cannot lock the run folder: failed to {what} {}: {e} — choose an --output-dir you can write to",
        path.display()
    ))
}

/// Takes the lock of `out`, or refuses (exit 2) naming the live run. Process
/// groups an earlier, killed run left behind are ended first.
pub fn acquire(out: &Path) -> anyhow::Result<RunLock> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| cannot_lock("create", parent, e))?;
    }
    let path = lock_path(out).map_err(|e| cannot_lock("resolve", out, e))?;
    let mut file = open_lock(&path, true).map_err(|e| cannot_lock("open", &path, e))?;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    let mut earlier = String::new();
    let _ = file.read_to_string(&mut earlier);
    if !taken {
        return Err(usage(format!(
            "{} is being written by another compat run ({}) — wait for it, or choose another --output-dir",
            out.display(),
            holder_line(&earlier)
        )));
    }
    // The earlier holder is dead (its lock is gone); its backends may not be.
    super::leftovers::end(&earlier)?;
    let token = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let me = format!(
        "PID {} on host {}, started {}\nrun {token}\n",
        std::process::id(),
        hostname(),
        crate::results::now_rfc3339()
    );
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(me.as_bytes()))
        .and_then(|()| file.flush())
        .with_context(|| format!("failed to write {}", path.display()))?;
    Ok(RunLock {
        file: Arc::new(Mutex::new(file)),
        token,
    })
}

/// The live run holding `out`'s lock, named ("PID 4242 on host gpu-07,
/// started …"); None when no run holds it. Only looks: creates nothing, and
/// a folder whose lock cannot be read is taken as free.
pub fn holder(out: &Path) -> Option<String> {
    let path = lock_path(out).ok()?;
    let mut file = open_lock(&path, false).ok()?;
    // SAFETY: as in `acquire`. A shared lock is refused while a run holds
    // the exclusive one; when taken, it is released as `file` is dropped.
    let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
    if free {
        return None;
    }
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    Some(holder_line(&text))
}

/// Opens a lock file, creating it when `create`, never through a symlink
/// (a planted `.name.lock -> ~/.bashrc` would be overwritten) and never
/// blocking (a FIFO there would hang `run` and `analyze`): anything but a
/// regular file is refused.
fn open_lock(path: &Path, create: bool) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(create)
        .create(create)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other(
            "it is not a regular file; remove it if no compat run is using the folder",
        ));
    }
    Ok(file)
}

/// The holder's first line, shown as text (it is a file anyone may write).
fn holder_line(text: &str) -> String {
    match text.lines().next().map(str::trim) {
        Some(line) if !line.is_empty() => crate::text::clean(line),
        _ => "unknown PID".to_string(),
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is ours and its length is passed; gethostname
    // writes at most that many bytes.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(h) if ok && !h.is_empty() => h.to_string(),
        _ => "unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_and_its_target_share_one_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("real");
        std::fs::create_dir(&real).expect("mkdir");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let _held = acquire(&real).expect("first lock");
        let err = acquire(&link).err().expect("the link is the same folder");
        assert!(err.to_string().contains("another compat run"), "{err}");
        assert!(holder(&link).is_some_and(|h| h.starts_with("PID ")));
        // A folder not made yet locks through its resolved parent.
        let dotted = dir.path().join("real/../fresh");
        let _fresh = acquire(&dotted).expect("fresh lock");
        assert!(acquire(&dir.path().join("fresh")).is_err());
    }

    #[test]
    fn an_unlocked_folder_has_no_holder_and_probing_creates_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("run");
        assert_eq!(holder(&out), None);
        assert!(!dir.path().join(".run.lock").exists());
        drop(acquire(&out).expect("lock"));
        assert_eq!(holder(&out), None, "released on drop");
    }
}
