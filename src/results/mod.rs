//! The results directory (DESIGN §3): names, on-disk types, atomic writes.
//!
//! ```text
//! <output-dir>/<baseline_feature>/
//!   manifest.json  prompts.txt  report.json ...
//!   baseline/  config_info.json  batch_generation.log  batch_generation.exitcode
//!              results.jsonl  prompt_00.png  prompt_00.exitcode ...
//!   cfg_parallel/  cfg_parallel+teacache/ ...
//! ```
//! Every stage after the executor reads only these files, so analysis never
//! knows where (or by what) a configuration ran.

pub mod atomic;
pub mod batch_log;
pub mod config_info;
pub mod files;
pub mod manifest;
pub mod original;
pub mod reader;
pub mod records;

pub use config_info::ConfigInfo;
pub use manifest::{
    ConfigEntry, ConfigState, DeviceInfo, Manifest, SESSION_LEAKED, SESSION_UNVERIFIED,
    SessionCheck, SessionRecord,
};
pub use records::{BatchRecords, PromptRecord};

pub const MANIFEST: &str = "manifest.json";
pub const PROMPTS: &str = "prompts.txt";
pub const REPORT: &str = "report.json";
pub const CONFIG_INFO: &str = "config_info.json";
pub const LOG: &str = "batch_generation.log";
pub const EXITCODE: &str = "batch_generation.exitcode";
pub const RESULTS: &str = "results.jsonl";
/// The pure baseline's directory name.
pub use crate::matrix::BASELINE;

/// `prompt_NN.png`: 0-based, at least two digits.
pub fn prompt_image(i: usize) -> String {
    format!("prompt_{i:02}.png")
}

/// `prompt_NN.exitcode`: 0 when the prompt produced its image.
pub fn prompt_exitcode(i: usize) -> String {
    format!("prompt_{i:02}.exitcode")
}

use std::path::Path;

/// Now, as RFC 3339 UTC with milliseconds (precise enough to tell which
/// configurations overlapped).
pub fn now_rfc3339() -> String {
    rfc3339(std::time::SystemTime::now())
}

pub fn rfc3339(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Parses a timestamp written by [`rfc3339`].
pub fn parse_time(s: &str) -> Option<std::time::SystemTime> {
    humantime::parse_rfc3339_weak(s).ok()
}

/// The last `max_lines` lines of a log (reading at most its last 64 KiB), for
/// the ERROR and SKIP sections; `None` when it is missing or empty.
pub fn log_tail(path: &Path, max_lines: usize) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = files::open_regular(path).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(64 * 1024);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(max_lines)..].join("\n");
    (!tail.trim().is_empty()).then_some(tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("batch_generation.log");
        std::fs::write(&log, "a\nb\nc\nd\n").unwrap();
        assert_eq!(log_tail(&log, 2).as_deref(), Some("c\nd"));
        assert_eq!(log_tail(&dir.path().join("missing"), 2), None);
    }
}
