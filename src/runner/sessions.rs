//! Shared model loads (docs/sessions.md): which configurations may run in one
//! backend process, and the session file that tells the backend what to run.
//!
//! Two configurations share a process only when they hold the same devices
//! and differ in nothing but features the backend can switch on a loaded
//! pipeline (and off again). Everything else — compile, parallel degrees,
//! offload — shapes the process itself and cannot be undone without a reload.
//! A session starts with its base (the configuration with exactly the
//! group's fixed features) and ends with the base again: the contamination
//! check compares the two runs.
//!
//! `group` and `session_file` are pure; [`plan`] applies them to a run's
//! pending configurations and writes the session files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::plan::RunPlan;
use crate::matrix::{Config, Role};
use crate::results::{self, ConfigState, Manifest, SessionCheck, SessionRecord, atomic};

/// Groups the manifest's pending configurations (what `--resume` has left
/// to run) for the run's backend; returns manifest indices. A session's base
/// that is already complete is not rerun for it: its group runs alone.
pub fn pending(plan: &RunPlan, m: &Manifest) -> Grouping {
    let pending: Vec<usize> = (0..m.configs.len())
        .filter(|&i| m.configs[i].state == ConfigState::Pending)
        .collect();
    let b = &plan.backend;
    if !plan.share_load || (b.switchable.is_empty() && b.switchable_on_bare.is_empty()) {
        return Grouping {
            sessions: Vec::new(),
            alone: pending,
        };
    }
    let configs: Vec<Config> = pending.iter().map(|&i| plan.configs[i].clone()).collect();
    let on_bare: BTreeSet<String> = b.switchable_on_bare.iter().cloned().collect();
    let rules = Rules {
        switchable: b.switchable.iter().chain(&on_bare).cloned().collect(),
        on_bare,
        unshared: b.unshared.iter().cloned().collect(),
    };
    let args_of = |id: &str| {
        plan.registry
            .feature(id)
            .map(|f| f.args_for(&b.name).to_vec())
            .unwrap_or_default()
    };
    let mut g = group(&configs, &rules, args_of);
    for s in &mut g.sessions {
        for member in &mut s.members {
            member.config = pending[member.config];
        }
    }
    for a in &mut g.alone {
        *a = pending[*a];
    }
    g
}

/// Writes each session's file into `<out>/sessions/`, gives its base the
/// `--session FILE` argument (its members record the same argv: that process
/// made them), marks the members and records the session in the manifest.
/// `out_abs` is the run folder as the backend must see it.
pub fn apply(plan: &RunPlan, m: &mut Manifest, g: &Grouping, out_abs: &Path) -> anyhow::Result<()> {
    let prompt_file = out_abs.join(results::PROMPTS);
    for s in &g.sessions {
        let file = session_file(
            s,
            &plan.configs,
            out_abs,
            &prompt_file,
            plan.settings.warmup,
        );
        let path = write_session_file(out_abs, &file)?;
        let base = &m.configs[s.base()];
        let base_name = base.name.clone();
        let mut argv = base.argv.clone();
        argv.extend(["--session".to_string(), path.display().to_string()]);
        for member in &s.members {
            let e = &mut m.configs[member.config];
            e.session = Some(base_name.clone());
            e.argv = argv.clone();
        }
        m.sessions.push(SessionRecord {
            base: base_name.clone(),
            members: s
                .members
                .iter()
                .map(|x| m.configs[x.config].name.clone())
                .collect(),
            gpus: s.gpus,
            check_dir: format!("{SESSIONS_DIR}/{base_name}.check"),
            check: SessionCheck::Pending,
            check_seconds: None,
        });
    }
    Ok(())
}

/// On `--resume`, after the completed configurations were kept: the
/// earlier run's sessions whose base is kept stay (their members keep their
/// verdicts, and the check that judged them stays with them). A member kept
/// from a session whose base reruns goes back to `fresh` (pending): its
/// check would be gone, and the check is what vouched for it.
pub fn keep_records(m: &mut Manifest, old: &Manifest, fresh: &Manifest) {
    for r in &old.sessions {
        let in_session = |e: &crate::results::ConfigEntry| {
            e.state.is_done() && e.session.as_deref() == Some(r.base.as_str())
        };
        let kept = m.configs.iter().any(|e| e.name == r.base && in_session(e));
        if kept {
            if !m.sessions.iter().any(|x| x.base == r.base) {
                m.sessions.push(r.clone());
            }
            continue;
        }
        for e in m.configs.iter_mut().filter(|e| in_session(e)) {
            if let Some(f) = fresh.configs.iter().find(|f| f.name == e.name) {
                *e = f.clone();
            }
        }
    }
}

/// The session file's format version (the backend refuses others).
pub const SESSION_FILE_VERSION: u32 = 1;

/// Folder under the run's output folder holding session files and the
/// contamination check's second base run.
pub const SESSIONS_DIR: &str = "sessions";

/// One configuration run inside a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Index into the configurations given to [`group`].
    pub config: usize,
    /// Its switchable features' arguments: what the backend turns on for it
    /// (and off after it).
    pub args: Vec<String>,
}

/// Configurations run by one backend process, one model load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// GPUs the process holds for all of its members.
    pub gpus: u32,
    /// The non-switchable features' arguments: the process's own command line.
    pub fixed_args: Vec<String>,
    /// The base first (no switchable feature), then the others in matrix
    /// order. The check's second base run is not a member.
    pub members: Vec<Member>,
}

impl Session {
    /// Index of the base configuration.
    pub fn base(&self) -> usize {
        self.members[0].config
    }

    /// Model loads this session saves against one process per member.
    pub fn loads_avoided(&self) -> usize {
        self.members.len().saturating_sub(1)
    }
}

/// How a matrix's runnable configurations are split into processes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grouping {
    pub sessions: Vec<Session>,
    /// Runnable configurations that run alone, in matrix order. Skipped
    /// configurations are in neither list.
    pub alone: Vec<usize>,
}

impl Grouping {
    /// The jobs as manifest indices: each alone, then each session's members
    /// (its base first).
    pub fn units(&self) -> Vec<Vec<usize>> {
        let alone = self.alone.iter().map(|&i| vec![i]);
        let sessions = self
            .sessions
            .iter()
            .map(|s| s.members.iter().map(|m| m.config).collect());
        alone.chain(sessions).collect()
    }

    /// Σ loads saved: what the bill's `loads_avoided` will count.
    pub fn loads_avoided(&self) -> usize {
        self.sessions.iter().map(Session::loads_avoided).sum()
    }
}

/// What a backend can switch (features.toml's `switchable`,
/// `switchable_on_bare`, `unshared`).
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Every switchable feature (`on_bare` included).
    pub switchable: BTreeSet<String>,
    /// Switchable only in a session whose base is the bare pipeline.
    pub on_bare: BTreeSet<String>,
    /// Configurations with one of these run alone.
    pub unshared: BTreeSet<String>,
}

/// Groups `configs` for a backend that can switch the features in
/// `rules`; `args_of(id)` gives a feature's arguments for that backend.
///
/// Kept apart (run alone): skipped configurations (not returned at all), the
/// repeated baseline (it measures run-to-run noise across processes, which
/// sharing the first baseline's process would hide), groups without their
/// base in the matrix (nothing to check them against without an extra,
/// unreported run), and groups of one.
///
/// `on_bare` are switchable only in a session whose base is the bare
/// pipeline (no fixed feature): a config with one of them beside a fixed
/// feature runs alone.
pub fn group(configs: &[Config], rules: &Rules, args_of: impl Fn(&str) -> Vec<String>) -> Grouping {
    let Rules {
        switchable,
        on_bare,
        unshared,
    } = rules;
    // Key: devices and the fixed (non-switchable) feature ids, which are in
    // registry order in every config, so equal sets compare equal.
    let mut groups: BTreeMap<(u32, Vec<&str>), Vec<usize>> = BTreeMap::new();
    let mut alone = Vec::new();
    for (i, c) in configs.iter().enumerate() {
        if c.skip.is_some() {
            continue;
        }
        if c.role == Role::BaselineRepeat
            || switchable.is_empty()
            || c.features.iter().any(|f| unshared.contains(f))
        {
            alone.push(i);
            continue;
        }
        let fixed: Vec<&str> = c
            .features
            .iter()
            .map(String::as_str)
            .filter(|f| !switchable.contains(*f))
            .collect();
        if !fixed.is_empty() && c.features.iter().any(|f| on_bare.contains(f)) {
            alone.push(i);
            continue;
        }
        groups.entry((c.gpus, fixed)).or_default().push(i);
    }

    let mut sessions = Vec::new();
    for ((gpus, fixed), indices) in groups {
        let base = indices
            .iter()
            .copied()
            .find(|&i| configs[i].features.len() == fixed.len());
        let Some(base) = base.filter(|_| indices.len() > 1) else {
            alone.extend(indices);
            continue;
        };
        let switch_args = |c: &Config| -> Vec<String> {
            c.features
                .iter()
                .filter(|f| switchable.contains(*f))
                .flat_map(|f| args_of(f))
                .collect()
        };
        let mut members = vec![Member {
            config: base,
            args: Vec::new(),
        }];
        members.extend(indices.iter().filter(|&&i| i != base).map(|&i| Member {
            config: i,
            args: switch_args(&configs[i]),
        }));
        sessions.push(Session {
            gpus,
            fixed_args: fixed.iter().flat_map(|f| args_of(f)).collect(),
            members,
        });
    }
    alone.sort_unstable();
    sessions.sort_by_key(Session::base);
    Grouping { sessions, alone }
}

/// The session file the backend reads (`--session FILE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionFile {
    pub version: u32,
    /// Run in this order: the base, the others, the base again (`check`).
    pub entries: Vec<SessionEntry>,
}

/// One run inside a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionEntry {
    /// The configuration's name (the check entry has the base's).
    pub name: String,
    /// Folder for its images and results.jsonl.
    pub output: PathBuf,
    /// Switchable feature arguments to turn on for this entry only.
    pub args: Vec<String>,
    /// Untimed warm-up generations after switching.
    pub warmup: u32,
    pub prompt_file: PathBuf,
    /// The base's second run, compared with its first; never a config.
    pub check: bool,
}

/// Where the check entry writes: `<out>/sessions/<base>.check`.
pub fn check_dir(out: &Path, base: &str) -> PathBuf {
    out.join(SESSIONS_DIR).join(format!("{base}.check"))
}

/// Where the session file goes: `<out>/sessions/<base>.json`.
pub fn session_path(out: &Path, base: &str) -> PathBuf {
    out.join(SESSIONS_DIR).join(format!("{base}.json"))
}

/// The session file for `session`: each member's folder is `<out>/<name>`,
/// as for a config run alone.
pub fn session_file(
    session: &Session,
    configs: &[Config],
    out: &Path,
    prompt_file: &Path,
    warmup: u32,
) -> SessionFile {
    let entry = |m: &Member, output: PathBuf, check: bool| SessionEntry {
        name: configs[m.config].name.clone(),
        output,
        args: m.args.clone(),
        warmup,
        prompt_file: prompt_file.to_path_buf(),
        check,
    };
    let mut entries: Vec<SessionEntry> = session
        .members
        .iter()
        .map(|m| entry(m, out.join(&configs[m.config].name), false))
        .collect();
    let base = &session.members[0];
    entries.push(entry(
        base,
        check_dir(out, &configs[base.config].name),
        true,
    ));
    SessionFile {
        version: SESSION_FILE_VERSION,
        entries,
    }
}

/// Writes `file` to `<out>/sessions/<base>.json` (atomically, creating the
/// folder) and returns its path.
pub fn write_session_file(out: &Path, file: &SessionFile) -> anyhow::Result<PathBuf> {
    let base = file
        .entries
        .first()
        .map(|e| e.name.as_str())
        .ok_or_else(|| anyhow::anyhow!("a session file needs at least one entry"))?;
    let path = session_path(out, base);
    let dir = out.join(SESSIONS_DIR);
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    atomic::write_json(&path, file)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str, features: &[&str], gpus: u32) -> Config {
        Config {
            name: name.to_string(),
            role: if features.is_empty() {
                Role::Baseline
            } else {
                Role::Addon
            },
            features: features.iter().map(|f| f.to_string()).collect(),
            args: Vec::new(),
            gpus,
            lossy: false,
            skip: None,
        }
    }

    fn caches() -> Rules {
        Rules {
            switchable: ["fbc", "taylor"].iter().map(|s| s.to_string()).collect(),
            ..Rules::default()
        }
    }

    fn args_of(id: &str) -> Vec<String> {
        vec![format!("--{id}")]
    }

    #[test]
    fn caches_on_one_layout_share_the_base_process() {
        let configs = [
            config("baseline", &[], 1),
            config("fbc", &["fbc"], 1),
            config("ulysses", &["ulysses"], 2),
            config("taylor", &["taylor"], 1),
        ];
        let g = group(&configs, &caches(), args_of);
        assert_eq!(g.alone, [2]);
        assert_eq!(g.sessions.len(), 1);
        let s = &g.sessions[0];
        assert_eq!((s.gpus, s.base()), (1, 0));
        assert!(s.fixed_args.is_empty());
        let members: Vec<(usize, Vec<String>)> = s
            .members
            .iter()
            .map(|m| (m.config, m.args.clone()))
            .collect();
        assert_eq!(
            members,
            [
                (0, vec![]),
                (1, vec!["--fbc".to_string()]),
                (3, vec!["--taylor".to_string()]),
            ]
        );
        assert_eq!(g.loads_avoided(), 2);
    }

    #[test]
    fn fixed_features_go_on_the_command_line_and_split_groups() {
        let configs = [
            config("ulysses", &["ulysses"], 2),
            config("ulysses+fbc", &["ulysses", "fbc"], 2),
            config("compile", &["compile"], 1),
            config("compile+fbc", &["compile", "fbc"], 1),
            config("baseline", &[], 1),
        ];
        let g = group(&configs, &caches(), args_of);
        // The baseline has no cache to share with: alone.
        assert_eq!(g.alone, [4]);
        let shape: Vec<(usize, Vec<String>, Vec<usize>)> = g
            .sessions
            .iter()
            .map(|s| {
                (
                    s.base(),
                    s.fixed_args.clone(),
                    s.members.iter().map(|m| m.config).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                (0, vec!["--ulysses".to_string()], vec![0, 1]),
                (2, vec!["--compile".to_string()], vec![2, 3]),
            ]
        );
        assert_eq!(g.sessions[0].members[1].args, ["--fbc"]);
    }

    #[test]
    fn a_group_without_its_base_runs_alone() {
        let configs = [
            config("ulysses+fbc", &["ulysses", "fbc"], 2),
            config("ulysses+taylor", &["ulysses", "taylor"], 2),
        ];
        let g = group(&configs, &caches(), args_of);
        assert!(g.sessions.is_empty());
        assert_eq!(g.alone, [0, 1]);
        assert_eq!(g.loads_avoided(), 0);
    }

    #[test]
    fn skipped_repeat_and_unswitchable_backends_are_kept_apart() {
        let mut skipped = config("taylor", &["taylor"], 1);
        skipped.skip = Some("not supported".into());
        let mut repeat = config("baseline.repeat", &[], 1);
        repeat.role = Role::BaselineRepeat;
        let configs = [
            config("baseline", &[], 1),
            repeat,
            skipped,
            config("fbc", &["fbc"], 1),
        ];
        let g = group(&configs, &caches(), args_of);
        assert_eq!(g.alone, [1]);
        assert_eq!(g.sessions.len(), 1);
        let members: Vec<usize> = g.sessions[0].members.iter().map(|m| m.config).collect();
        assert_eq!(members, [0, 3]);

        // A backend that declares nothing switchable shares nothing.
        let g = group(&configs, &Rules::default(), args_of);
        assert!(g.sessions.is_empty());
        assert_eq!(g.alone, [0, 1, 3]);
    }

    #[test]
    fn a_bare_only_feature_beside_a_fixed_one_runs_alone() {
        let configs = [
            config("baseline", &[], 1),
            config("taylor", &["taylor"], 1),
            config("compile", &["compile"], 1),
            config("compile+fbc", &["compile", "fbc"], 1),
            config("compile+taylor", &["compile", "taylor"], 1),
        ];
        let rules = Rules {
            on_bare: ["taylor".to_string()].into(),
            ..caches()
        };
        let g = group(&configs, &rules, args_of);
        // taylor shares the bare baseline's process, not compile's.
        let members: Vec<Vec<usize>> = g
            .sessions
            .iter()
            .map(|s| s.members.iter().map(|m| m.config).collect())
            .collect();
        assert_eq!(members, [vec![0, 1], vec![2, 3]]);
        assert_eq!(g.alone, [4]);
    }

    #[test]
    fn an_unshared_feature_keeps_its_configs_alone() {
        let configs = [
            config("compile", &["compile"], 1),
            config("compile+fbc", &["compile", "fbc"], 1),
            config("baseline", &[], 1),
            config("fbc", &["fbc"], 1),
        ];
        let rules = Rules {
            unshared: ["compile".to_string()].into(),
            ..caches()
        };
        let g = group(&configs, &rules, args_of);
        assert_eq!(g.alone, [0, 1]);
        let members: Vec<usize> = g.sessions[0].members.iter().map(|m| m.config).collect();
        assert_eq!(members, [2, 3]);
    }

    #[test]
    fn two_switchable_features_in_one_config_are_both_its_entry_args() {
        let configs = [
            config("baseline", &[], 1),
            config("fbc+taylor", &["fbc", "taylor"], 1),
        ];
        let g = group(&configs, &caches(), args_of);
        assert_eq!(g.sessions[0].members[1].args, ["--fbc", "--taylor"]);
    }

    #[test]
    fn the_session_file_brackets_the_members_with_the_base_and_reads_back() {
        let configs = [
            config("ulysses", &["ulysses"], 2),
            config("ulysses+fbc", &["ulysses", "fbc"], 2),
        ];
        let g = group(&configs, &caches(), args_of);
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path();
        let prompts = out.join("prompts.txt");
        let file = session_file(&g.sessions[0], &configs, out, &prompts, 2);
        let names: Vec<(&str, bool)> = file
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.check))
            .collect();
        assert_eq!(
            names,
            [
                ("ulysses", false),
                ("ulysses+fbc", false),
                ("ulysses", true)
            ]
        );
        assert_eq!(file.entries[1].output, out.join("ulysses+fbc"));
        assert_eq!(file.entries[1].args, ["--fbc"]);
        assert_eq!(file.entries[2].output, out.join("sessions/ulysses.check"));
        assert!(file.entries.iter().all(|e| e.warmup == 2));

        let path = write_session_file(out, &file).expect("write");
        assert_eq!(path, out.join("sessions/ulysses.json"));
        let back: SessionFile = atomic::read_json(&path).expect("read back");
        assert_eq!(back, file);
        assert_eq!(back.version, SESSION_FILE_VERSION);
    }

    #[test]
    fn an_empty_session_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = SessionFile {
            version: SESSION_FILE_VERSION,
            entries: Vec::new(),
        };
        let err = write_session_file(dir.path(), &file).expect_err("empty");
        assert!(err.to_string().contains("at least one entry"), "{err}");
    }
}
