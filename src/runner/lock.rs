//! One run per folder at a time: an OS lock (flock) on `<output-dir>/.<name>.lock`,
//! held for the whole run. The kernel releases it when the process dies,
//! so a SIGKILL never leaves a folder locked; the file's text (PID, start
//! time) only names the holder in the refusal.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit::usage;

/// The lock, released when dropped (or when the process ends).
pub struct RunLock {
    _file: File,
}

/// The lock file of the run folder `out`: beside it, so `--force` (which
/// deletes the folder) cannot delete it.
fn lock_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!(".{name}.lock"))
}

/// Takes the lock of `out`, or refuses (exit 2) naming the live run.
pub fn acquire(out: &Path) -> anyhow::Result<RunLock> {
    let path = lock_path(out);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("failed to create {}", parent.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("failed to open {}", path.display()))?;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    if !taken {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        return Err(usage(format!(
            "{} is being written by another compat run ({}) — wait for it, or choose another --output-dir",
            out.display(),
            if holder.is_empty() {
                "unknown PID"
            } else {
                holder
            }
        )));
    }
    let me = format!(
        "PID {}, started {}",
        std::process::id(),
        crate::results::now_rfc3339()
    );
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(me.as_bytes()))
        .and_then(|()| file.flush())
        .with_context(|| format!("failed to write {}", path.display()))?;
    Ok(RunLock { _file: file })
}
