//! Asking the installed engine what it can do, before the matrix starts
//! (docs/probe.md).
//!
//! A registry copied by hand from one engine commit goes stale with the next
//! release: a feature the engine gained is SKIPped with a reason that is no
//! longer true, one it dropped fails after a model load. So a backend may
//! declare a `probe` argv: compat writes a request (the model, and for each
//! feature of the run the exact flags it would pass), the backend imports its
//! engine without loading weights and answers, per feature, with the
//! engine's own capability tables, plus the engine's name, version and
//! commit. Where no engine answers (not installed here, `--no-probe`, a
//! probe that fails), features.toml's static `unsupported` tables decide, and
//! the run says so.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::registry::Backend;
use crate::text::{clean, one_line};

/// Protocol version of the request and the answer.
pub const PROTOCOL: u32 = 1;

/// How long a probe may take: it imports the engine (torch and all), which
/// is seconds on a warm file cache and can be a minute on a cold shared file
/// system; it loads no weights.
pub const TIMEOUT: Duration = Duration::from_secs(180);

/// Exit code of a probe whose engine does not import here.
const NOT_IMPORTABLE: i32 = 3;

/// The engine a configuration ran on, as it reported itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EngineInfo {
    /// The engine's package name ("xfuser", "vllm-omni", "diffusers").
    pub engine: String,
    /// Its version as installed.
    pub version: String,
    /// The git commit of an editable install, which is what engine
    /// developers run between releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// "wheel", "editable", "builtin" or "unknown".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<String>,
}

impl EngineInfo {
    /// "xfuser 0.7.0", "xfuser 0.7.1.dev3 (abc1234)".
    pub fn label(&self) -> String {
        match &self.commit {
            Some(c) => format!("{} {} ({})", self.engine, self.version, short(c)),
            None => format!("{} {}", self.engine, self.version),
        }
    }

    /// Whether two configurations ran the same engine build.
    pub fn same_build(&self, other: &EngineInfo) -> bool {
        self.engine == other.engine && self.version == other.version && self.commit == other.commit
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// What compat asks the probe.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    pub protocol: u32,
    pub model: String,
    /// Feature name → the exact flags compat would pass for it.
    pub features: BTreeMap<String, Vec<String>>,
    pub settings: crate::settings::Settings,
}

/// One feature as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    Supported,
    Unsupported(String),
}

#[derive(Debug, Deserialize)]
struct RawFeature {
    supported: bool,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawAnswer {
    #[serde(default)]
    event: Option<String>,
    engine: String,
    /// null when the engine has no metadata and no `__version__`.
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    commit: Option<String>,
    #[serde(default)]
    install: Option<String>,
    #[serde(default)]
    features: BTreeMap<String, RawFeature>,
    #[serde(default)]
    notes: Vec<String>,
}

/// The engine's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub engine: EngineInfo,
    pub features: BTreeMap<String, Support>,
    pub notes: Vec<String>,
}

impl Answer {
    /// Why the installed engine cannot run `feature`, as "xfuser 0.7.0:
    /// reason"; `None` when it can or did not say.
    pub fn unsupported(&self, feature: &str) -> Option<String> {
        match self.features.get(feature)? {
            Support::Supported => None,
            Support::Unsupported(why) => Some(format!("{}: {why}", self.engine.label())),
        }
    }

    /// Whether the engine gave its word on `feature` (it then overrides
    /// features.toml's static table).
    pub fn knows(&self, feature: &str) -> bool {
        self.features.contains_key(feature)
    }
}

/// What a probe came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The engine answered.
    Answered(Answer),
    /// No answer: why, in one line ("xfuser not importable: No module named
    /// 'xfuser'", "the backend has no probe", "--no-probe").
    Unavailable(String),
}

impl Outcome {
    pub fn answer(&self) -> Option<&Answer> {
        match self {
            Outcome::Answered(a) => Some(a),
            Outcome::Unavailable(_) => None,
        }
    }

    /// One line for the dry-run header, the manifest and the run's notes.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Answered(a) => {
                let unsupported = a
                    .features
                    .values()
                    .filter(|s| matches!(s, Support::Unsupported(_)))
                    .count();
                format!(
                    "{} (probed: {} of {} features supported)",
                    a.engine.label(),
                    a.features.len() - unsupported,
                    a.features.len()
                )
            }
            Outcome::Unavailable(why) => {
                format!("not probed ({why}); SKIPs come from features.toml alone")
            }
        }
    }
}

/// Errors of a probe's answer file.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AnswerError {
    #[error("the probe's answer is not JSON of the probe protocol: {0}")]
    Malformed(String),
    #[error("the probe's answer is an event '{0}', not 'probe'")]
    WrongEvent(String),
    #[error("the probe did not answer for feature(s) {0}")]
    Missing(String),
    #[error("the probe says {0} is unsupported without a reason")]
    NoReason(String),
    #[error("the probe names no engine")]
    Anonymous,
}

/// Reads an answer and checks it against the request: every feature asked
/// has a word, every refusal a reason. A probe that lies about its protocol
/// is no answer (the static tables decide), never a guess.
pub fn parse_answer(
    text: &str,
    asked: &BTreeMap<String, Vec<String>>,
) -> Result<Answer, AnswerError> {
    let raw: RawAnswer =
        serde_json::from_str(text).map_err(|e| AnswerError::Malformed(e.to_string()))?;
    if let Some(ev) = raw.event.as_deref()
        && ev != "probe"
    {
        return Err(AnswerError::WrongEvent(clean(ev)));
    }
    if raw.engine.trim().is_empty() {
        return Err(AnswerError::Anonymous);
    }
    let version = raw
        .version
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or("unknown");
    let missing: Vec<&str> = asked
        .keys()
        .filter(|f| !raw.features.contains_key(*f))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(AnswerError::Missing(missing.join(", ")));
    }
    let mut features = BTreeMap::new();
    let mut notes: Vec<String> = raw.notes.iter().map(|n| clean(n)).collect();
    for (name, f) in raw.features {
        if !asked.contains_key(&name) {
            notes.push(format!(
                "the probe answered for '{}', which was not asked",
                clean(&name)
            ));
            continue;
        }
        let support = if f.supported {
            Support::Supported
        } else {
            match f.reason.as_deref().map(str::trim) {
                Some(r) if !r.is_empty() => Support::Unsupported(one_line(r)),
                _ => return Err(AnswerError::NoReason(name)),
            }
        };
        features.insert(name, support);
    }
    Ok(Answer {
        engine: EngineInfo {
            engine: clean(raw.engine.trim()),
            version: clean(version),
            commit: raw
                .commit
                .map(|c| clean(c.trim()))
                .filter(|c| !c.is_empty()),
            install: raw.install.map(|i| clean(&i)),
        },
        features,
        notes,
    })
}

/// Fills the probe argv's placeholders, in one pass like the backend's
/// command (`{{` is a literal brace; a value is never substituted again).
fn argv(
    template: &[String],
    exe: &Path,
    model: &str,
    request: &Path,
    output: &Path,
) -> Vec<String> {
    let value = |name: &str| -> Option<String> {
        Some(match name {
            "compat" => exe.display().to_string(),
            "model" => model.to_string(),
            "probe_request" => request.display().to_string(),
            "probe_output" => output.display().to_string(),
            _ => return None,
        })
    };
    template
        .iter()
        .map(|a| crate::settings::substitute(a, &value))
        .collect()
}

/// A private folder under the system's temporary directory, removed when
/// dropped: the probe's request, answer and stderr live there, so a dry run
/// writes nothing of the user's.
struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    fn new() -> std::io::Result<ScratchDir> {
        use std::os::unix::fs::DirBuilderExt;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("compat-probe-{}-{nanos:09}", std::process::id()));
        // 0700 and must not exist: another user cannot plant the answer.
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(ScratchDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `backend`'s probe for `request`, at most `timeout`. Never fails: a
/// probe that cannot answer is [`Outcome::Unavailable`] with the reason.
pub fn run(backend: &Backend, request: &Request, exe: &Path, timeout: Duration) -> Outcome {
    let Some(template) = &backend.probe else {
        return Outcome::Unavailable(format!("backend '{}' declares no probe", backend.name));
    };
    match run_inner(template, request, exe, timeout) {
        Ok(outcome) => outcome,
        Err(why) => Outcome::Unavailable(why),
    }
}

fn run_inner(
    template: &[String],
    request: &Request,
    exe: &Path,
    timeout: Duration,
) -> Result<Outcome, String> {
    let dir = ScratchDir::new().map_err(|e| format!("cannot make a folder for the probe: {e}"))?;
    let req_path = dir.path().join("request.json");
    let out_path = dir.path().join("answer.json");
    let body = serde_json::to_vec_pretty(request).map_err(|e| e.to_string())?;
    std::fs::write(&req_path, body).map_err(|e| format!("cannot write the probe request: {e}"))?;
    let argv = argv(template, exe, &request.model, &req_path, &out_path);
    let (program, args) = argv.split_first().ok_or("the probe argv is empty")?;
    let stderr_path = dir.path().join("stderr");
    let stderr = std::fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            // Its own group, so a timeout kills the engine's helpers too.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start the probe `{program}`: {e}"))?
    };
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() >= timeout => {
                // SAFETY: kill(2) on the group we made; no memory is touched.
                unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
                let _ = child.wait();
                return Err(format!(
                    "the probe did not answer within {}",
                    humantime::format_duration(timeout)
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("cannot wait for the probe: {e}")),
        }
    };
    let last_line = || {
        let mut text = String::new();
        let _ = std::fs::File::open(&stderr_path)
            .and_then(|f| f.take(64 * 1024).read_to_string(&mut text));
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(one_line)
            .unwrap_or_else(|| "no message".to_string())
    };
    match status.code() {
        Some(0) => {}
        Some(NOT_IMPORTABLE) => {
            let line = last_line();
            return Err(line.strip_prefix("probe: ").unwrap_or(&line).to_string());
        }
        Some(code) => return Err(format!("the probe failed (exit {code}): {}", last_line())),
        None => return Err(format!("the probe was killed by a signal: {}", last_line())),
    }
    let mut text = String::new();
    std::fs::File::open(&out_path)
        .and_then(|f| f.take(4 * 1024 * 1024).read_to_string(&mut text))
        .map_err(|e| format!("the probe exited 0 but wrote no answer: {e}"))?;
    parse_answer(&text, &request.features)
        .map(Outcome::Answered)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(names: &[&str]) -> BTreeMap<String, Vec<String>> {
        names
            .iter()
            .map(|n| (n.to_string(), vec![format!("--{n}")]))
            .collect()
    }

    #[test]
    fn reads_an_answer_and_names_the_engine_in_refusals() {
        let text = r#"{"event": "probe", "protocol": 1, "engine": "xfuser", "version": "0.7.0",
            "commit": null, "install": "wheel",
            "features": {"cache_dit": {"supported": true},
                         "teacache": {"supported": false, "reason": "Qwen-Image has no TeaCache"}}}"#;
        let a = parse_answer(text, &asked(&["cache_dit", "teacache"])).unwrap();
        assert_eq!(a.engine.label(), "xfuser 0.7.0");
        assert_eq!(a.unsupported("cache_dit"), None);
        assert_eq!(
            a.unsupported("teacache").as_deref(),
            Some("xfuser 0.7.0: Qwen-Image has no TeaCache")
        );
        assert!(a.knows("teacache") && !a.knows("ring"));
    }

    #[test]
    fn an_answer_that_leaves_a_feature_out_or_refuses_without_reason_is_no_answer() {
        let partial = r#"{"engine": "e", "version": "1", "features": {"a": {"supported": true}}}"#;
        assert_eq!(
            parse_answer(partial, &asked(&["a", "b"])),
            Err(AnswerError::Missing("b".into()))
        );
        let bare = r#"{"engine": "e", "version": "1", "features": {"a": {"supported": false}}}"#;
        assert_eq!(
            parse_answer(bare, &asked(&["a"])),
            Err(AnswerError::NoReason("a".into()))
        );
        let unversioned = r#"{"engine": "e", "version": null, "features": {}}"#;
        let a = parse_answer(unversioned, &asked(&[])).unwrap();
        assert_eq!(a.engine.label(), "e unknown");
        let nameless = r#"{"engine": " ", "version": "1", "features": {}}"#;
        assert_eq!(
            parse_answer(nameless, &asked(&[])),
            Err(AnswerError::Anonymous)
        );
        let other = r#"{"event": "settings", "engine": "e", "version": "1"}"#;
        assert!(matches!(
            parse_answer(other, &asked(&[])),
            Err(AnswerError::WrongEvent(_))
        ));
        assert!(matches!(
            parse_answer("not json", &asked(&[])),
            Err(AnswerError::Malformed(_))
        ));
    }

    #[test]
    fn engine_text_reaches_the_terminal_without_control_characters() {
        let text = "{\"engine\": \"x\\u001b]0;pwned\\u0007\", \"version\": \"1\", \"features\": {\"a\": {\"supported\": false, \"reason\": \"no\\u001b[2J\"}}}";
        let a = parse_answer(text, &asked(&["a"])).unwrap();
        assert!(!a.engine.engine.contains('\u{1b}'));
        assert!(!a.unsupported("a").unwrap().contains('\u{1b}'));
    }
}
