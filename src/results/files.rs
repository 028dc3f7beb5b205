//! Reading what a backend (or a hand) left in a results folder without
//! trusting it: config names that become paths, and files that must be
//! regular files before they are opened.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Why a config name cannot be a folder name under the results directory.
/// A manifest (or report) is data: a name like `../victim/f1` must never
/// reach a path outside the run.
pub fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.contains('\0') {
        Some("it holds a NUL byte")
    } else if name.contains('/') || name.contains('\\') {
        Some("it holds a path separator")
    } else if name == "." || name.contains("..") {
        Some("it holds \"..\" or is \".\"")
    } else {
        None
    }
}

/// Opens `path` for reading only when it is a regular file (following
/// symlinks): a FIFO, socket or device named like a result would block the
/// reader forever or feed it without end. Opened with `O_NONBLOCK` and the
/// file type checked again on the open descriptor, so a file swapped for a
/// FIFO between the two checks cannot block either.
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let not_regular = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, socket, device or folder); only regular files are read",
        )
    };
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(not_regular());
    }
    Ok(file)
}

/// Whether `path` stays inside `root` once its symlinks are resolved: a
/// results folder from elsewhere (a CI artifact, an archive) may hold
/// `prompt_00.png -> /home/you/secret.png`, and the analysis, the report and
/// the page must not read or publish what lies outside it. A path that does
/// not resolve (missing) is left to the reader's own error.
pub fn within(root: &Path, path: &Path) -> bool {
    match (root.canonicalize(), path.canonicalize()) {
        (Ok(r), Ok(p)) => p.starts_with(r),
        _ => true,
    }
}

/// [`open_regular`], read whole into `buf` (cleared first, its allocation
/// reused). Refuses a file larger than `max_bytes` before reading it.
pub fn read_regular_into(
    path: &Path,
    mut buf: Vec<u8>,
    max_bytes: u64,
) -> std::io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let len = file.metadata()?.len();
    if len > max_bytes {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{len} bytes, more than the {max_bytes} a result file may have"),
        ));
    }
    buf.clear();
    buf.try_reserve_exact(usize::try_from(len).unwrap_or(0))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::OutOfMemory, e.to_string()))?;
    // A file that grows while it is read stops at the limit all the same.
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut buf)?;
    if buf.len() as u64 > max_bytes {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("more than the {max_bytes} bytes a result file may have"),
        ));
    }
    Ok(buf)
}

/// The largest text file (log, results.jsonl, manifest) read whole: far
/// above what a real run writes, far below what could exhaust memory.
pub const MAX_TEXT_BYTES: u64 = 1 << 30;

/// A regular file's bytes (at most [`MAX_TEXT_BYTES`]).
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    read_regular_into(path, Vec::new(), MAX_TEXT_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_leave_the_folder_are_refused() {
        for bad in ["", "../victim/f1", "a/b", "a\\b", "..", ".", "x..y", "a\0b"] {
            assert!(unsafe_name(bad).is_some(), "{bad:?}");
        }
        for good in [
            "baseline",
            "cfg_parallel+teacache",
            "baseline_repeat",
            "a.b",
        ] {
            assert_eq!(unsafe_name(good), None, "{good:?}");
        }
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("prompt_00.png");
        let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path and a mode.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let e = read_regular(&fifo).expect_err("a FIFO is not read");
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(read_regular(dir.path()).is_err());
    }

    #[test]
    fn a_file_over_the_limit_is_not_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        std::fs::write(&p, [0u8; 100]).expect("write");
        assert!(read_regular_into(&p, Vec::new(), 99).is_err());
        assert_eq!(
            read_regular_into(&p, Vec::new(), 100).expect("read").len(),
            100
        );
    }
}
