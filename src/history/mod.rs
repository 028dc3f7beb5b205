//! `compat history` (issue 23): many nights of report.json → one series per
//! configuration, the changes in them (status transitions, flaky configs,
//! speed / quality / memory level shifts), each naming its last good and
//! first bad run; written as history.json, a static page, a terminal summary
//! and Markdown, with a gate for the nightly job.
//!
//! history.json holds every run and every series point, so `compat history
//! add` rebuilds from it plus tonight's report: the folder needs no old
//! reports. Docs: docs/history.md.

pub mod changes;
pub mod html;
pub mod load;
pub mod model;
pub mod output;
pub mod steps;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;

use load::RunRead;
use model::{Change, Direction, History, Kind, Point, Run, Series, SettingsGroup};

/// The data file inside a history folder.
pub const DATA_FILE: &str = "history.json";
/// The page inside a history folder.
pub const PAGE_FILE: &str = "index.html";

/// What `compat history` is asked to do (resolved by `cmd::history`).
#[derive(Debug, Clone, Default)]
pub struct HistoryPlan {
    /// Reports, run folders or trees of them.
    pub inputs: Vec<PathBuf>,
    /// `history add`: the folder's own history.json is read first.
    pub add: bool,
    /// The dashboard folder (index.html + history.json).
    pub out: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
    /// history.json to stdout instead of the summary.
    pub json: bool,
    /// Only runs generated at or after this time.
    pub since: Option<SystemTime>,
    pub fail_on_new_regression: bool,
}

/// One run before the history is assembled: its record, its settings group
/// and its configurations.
struct Entry {
    run: Run,
    time: SystemTime,
    group: SettingsGroup,
    configs: Vec<(String, Vec<String>, Point)>,
}

/// `compat history` and `compat history add`.
pub fn run(plan: &HistoryPlan) -> anyhow::Result<ExitCode> {
    if let Some(out) = &plan.out {
        std::fs::create_dir_all(out)
            .with_context(|| format!("failed to create {}", out.display()))
            .map_err(crate::exit::output_failed)?;
    }
    let existing = match (&plan.out, plan.add) {
        (Some(out), true) => Some(out.join(DATA_FILE)),
        (None, true) => return Err(crate::exit::usage("`compat history add` needs --out DIR")),
        _ => None,
    };
    let link_base = plan.out.clone().unwrap_or_else(|| PathBuf::from("."));
    let history = build(&plan.inputs, existing.as_deref(), &link_base, plan.since)?;
    if history.runs.is_empty() {
        return Err(crate::exit::usage(format!(
            "no run on or after --since ({})",
            history.notes.join("; ")
        )));
    }
    output::emit(&history, plan)
}

/// The history of the reports under `inputs` (after the runs of
/// `existing`, a history.json, when given and present), with links to each
/// night's diff_report.html relative to `link_base`. A report that cannot
/// be read is a note; no readable report at all is bad input.
pub fn build(
    inputs: &[PathBuf],
    existing: Option<&Path>,
    link_base: &Path,
    since: Option<SystemTime>,
) -> anyhow::Result<History> {
    let mut notes = Vec::new();
    let mut entries = Vec::new();
    if let Some(data) = existing {
        if data.exists() {
            let old: History = read_history(data).map_err(crate::exit::bad_input)?;
            entries.extend(from_history(old));
        } else {
            notes.push(format!(
                "{} did not exist: a new history begins",
                data.display()
            ));
        }
    }
    let paths = load::find(inputs).map_err(crate::exit::bad_input)?;
    let (reads, mut read_notes) = load::read_all(&paths);
    notes.append(&mut read_notes);
    if reads.is_empty() && entries.is_empty() {
        return Err(crate::exit::usage(format!(
            "no readable report among {} file(s): {}",
            paths.len(),
            notes.join("; ")
        )));
    }
    entries.extend(reads.into_iter().map(|r| from_read(r, link_base)));
    Ok(assemble(entries, since, notes))
}

/// history.json read back, with a clear error for a file that is not one.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("failed to read {0}")]
    Read(String, #[source] std::io::Error),
    #[error("{0} is not a compat history.json: {1} (move it away to start a new history)")]
    Parse(String, String),
    #[error("{0} has history schema version {1}; this compat reads version {2}")]
    Schema(String, u32, u32),
}

pub fn read_history(path: &Path) -> Result<History, DataError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| DataError::Read(shown.clone(), e))?;
    let h: History = serde_json::from_slice(&bytes)
        .map_err(|e| DataError::Parse(shown.clone(), e.to_string()))?;
    if h.schema_version != model::SCHEMA_VERSION {
        return Err(DataError::Schema(
            shown,
            h.schema_version,
            model::SCHEMA_VERSION,
        ));
    }
    // Indices must point at runs: a hand-edited file must not panic us.
    for s in &h.series {
        if let Some(p) = s.points.iter().find(|p| p.run >= h.runs.len()) {
            return Err(DataError::Parse(
                shown,
                format!(
                    "series {} names run {} of {}",
                    s.config,
                    p.run,
                    h.runs.len()
                ),
            ));
        }
    }
    Ok(h)
}

fn from_history(h: History) -> Vec<Entry> {
    let groups: HashMap<String, SettingsGroup> = h
        .settings
        .into_iter()
        .map(|g| (g.fingerprint.clone(), g))
        .collect();
    let mut entries: Vec<Entry> = h
        .runs
        .into_iter()
        .map(|run| Entry {
            time: crate::results::parse_time(&run.generated).unwrap_or(SystemTime::UNIX_EPOCH),
            group: groups
                .get(&run.settings)
                .cloned()
                .unwrap_or_else(|| SettingsGroup {
                    fingerprint: run.settings.clone(),
                    label: format!("settings {}", run.settings),
                    ..SettingsGroup::default()
                }),
            run,
            configs: Vec::new(),
        })
        .collect();
    for s in h.series {
        for p in s.points {
            if let Some(e) = entries.get_mut(p.run) {
                e.configs.push((s.config.clone(), s.features.clone(), p));
            }
        }
    }
    entries
}

fn from_read(r: RunRead, link_base: &Path) -> Entry {
    let fingerprint = r.settings.fingerprint();
    let mut engines: Vec<String> = r
        .configs
        .iter()
        .filter_map(|(_, _, p)| p.engine.as_ref().map(|e| e.label.clone()))
        .collect();
    engines.sort();
    engines.dedup();
    let group = SettingsGroup {
        fingerprint: fingerprint.clone(),
        label: crate::text::clean(&r.settings.label()),
        backend: r.settings.backend.clone(),
        model: r.settings.model.clone(),
        steps: r.settings.steps,
        height: r.settings.height,
        width: r.settings.width,
        num_prompts: r.settings.num_prompts,
        seed: r.settings.seed,
        cfg_scale: r.settings.cfg_scale,
        runs: 0,
    };
    Entry {
        run: Run {
            generated: r.generated,
            created: r.created,
            source: r.path.display().to_string(),
            diff_report: r.diff_report.map(|d| relative(link_base, &d)),
            settings: fingerprint,
            engine: (!engines.is_empty()).then(|| engines.join(", ")),
            cost: r.cost,
        },
        time: r.time,
        group,
        configs: r.configs,
    }
}

/// `target` as a link from the folder `base`: relative when both resolve,
/// else as given.
fn relative(base: &Path, target: &Path) -> String {
    let (Ok(b), Ok(t)) = (std::fs::canonicalize(base), std::fs::canonicalize(target)) else {
        return target.display().to_string();
    };
    let bc: Vec<_> = b.components().collect();
    let tc: Vec<_> = t.components().collect();
    let common = bc.iter().zip(&tc).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..bc.len() {
        out.push("..");
    }
    for c in &tc[common..] {
        out.push(c);
    }
    out.to_string_lossy().replace('\\', "/")
}

/// Orders the runs, builds the series and finds the changes.
fn assemble(mut entries: Vec<Entry>, since: Option<SystemTime>, mut notes: Vec<String>) -> History {
    if let Some(t) = since {
        let before = entries.len();
        entries.retain(|e| e.time >= t);
        if entries.len() < before {
            notes.push(format!(
                "{} run(s) before --since left out",
                before - entries.len()
            ));
        }
    }
    // Oldest first by the report's own time; ties (two reports written in
    // the same millisecond, or copies) by the run's start, then the path.
    entries.sort_by(|a, b| {
        a.time
            .cmp(&b.time)
            .then_with(|| a.run.created.cmp(&b.run.created))
            .then_with(|| a.run.source.cmp(&b.run.source))
    });
    // The same report given twice (or added twice) is one run.
    let mut seen = HashSet::new();
    entries.retain(|e| {
        let key = (
            e.run.generated.clone(),
            e.run.settings.clone(),
            config_key(e),
        );
        let fresh = seen.insert(key);
        if !fresh {
            notes.push(format!(
                "{}: the run of {} is already in the history; read once",
                e.run.source, e.run.generated
            ));
        }
        fresh
    });
    for w in entries.windows(2) {
        if w[0].time == w[1].time {
            notes.push(format!(
                "{} and {} have the same time {}; ordered by start time, then path",
                w[0].run.source, w[1].run.source, w[1].run.generated
            ));
        }
    }

    let mut groups: Vec<SettingsGroup> = Vec::new();
    let mut series: Vec<Series> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut runs = Vec::with_capacity(entries.len());
    for (i, e) in entries.into_iter().enumerate() {
        match groups
            .iter_mut()
            .find(|g| g.fingerprint == e.group.fingerprint)
        {
            Some(g) => g.runs += 1,
            None => groups.push(SettingsGroup { runs: 1, ..e.group }),
        }
        for (config, features, mut p) in e.configs {
            p.run = i;
            let key = (config, e.run.settings.clone());
            let k = *index.entry(key.clone()).or_insert_with(|| {
                series.push(Series {
                    config: key.0.clone(),
                    settings: key.1.clone(),
                    features: Vec::new(),
                    points: Vec::new(),
                });
                series.len() - 1
            });
            series[k].features = features;
            series[k].points.push(p);
        }
        runs.push(e.run);
    }
    if groups.len() > 1 {
        notes.push(format!(
            "{} different settings among the runs ({}): each is its own series, never mixed",
            groups.len(),
            groups
                .iter()
                .map(|g| format!("{} run(s) of {}", g.runs, g.label))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    notes.extend(gaps(&runs));
    notes.extend(vanished(&series, &runs));

    let changes = find_changes(&series, &runs);
    History {
        schema_version: model::SCHEMA_VERSION,
        tool: "compat".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        generated: crate::results::now_rfc3339(),
        runs,
        settings: groups,
        series,
        changes,
        notes,
    }
}

/// What tells two runs of the same time apart: their configurations.
fn config_key(e: &Entry) -> String {
    e.configs
        .iter()
        .map(|(n, _, p)| format!("{n}={}", p.status))
        .collect::<Vec<_>>()
        .join(",")
}

/// Every change, oldest first. `new` marks what the newest run brought: a
/// status change or flaky label absent when the series is analysed without
/// it, and a level shift that the newest night confirms (its new level's
/// second night: one night alone is an outlier until then).
pub fn find_changes(series: &[Series], runs: &[Run]) -> Vec<Change> {
    use rayon::prelude::*;
    let newest = runs.len().checked_sub(1);
    let mut all: Vec<Change> = series
        .par_iter()
        .flat_map_iter(|s| {
            let mut now = changes::of_series(s, runs, true);
            let tonight = newest.is_some() && s.points.last().map(|p| p.run) == newest;
            if !tonight {
                now.iter_mut().for_each(|c| c.new = false);
                return now;
            }
            // Status and flaky without tonight; level shifts carry their
            // own `new` (re-fitting every level without tonight would
            // double the work for the same answer).
            let mut before = s.clone();
            before.points.pop();
            let old: HashSet<(Kind, Direction, usize)> = changes::of_series(&before, runs, false)
                .into_iter()
                .map(|c| (c.kind, c.direction, c.first_bad.run))
                .collect();
            for c in now
                .iter_mut()
                .filter(|c| matches!(c.kind, Kind::Status | Kind::Flaky))
            {
                c.new = !old.contains(&(c.kind, c.direction, c.first_bad.run));
            }
            // One alarm per incident: a level shift confirmed tonight on
            // the night of a regression already reported then (the same
            // night's PASS → FAIL, alarmed the night it happened) is not
            // new again.
            let alarmed: HashSet<usize> = now
                .iter()
                .filter(|c| !c.new && c.direction == Direction::Regression)
                .map(|c| c.first_bad.run)
                .collect();
            for c in &mut now {
                if c.new && c.kind != Kind::Status && alarmed.contains(&c.first_bad.run) {
                    c.new = false;
                }
            }
            now
        })
        .collect();
    all.sort_by(|a, b| {
        (a.first_bad.run, &a.config, a.kind).cmp(&(b.first_bad.run, &b.config, b.kind))
    });
    all
}

/// Whether the newest run brought a regression (the nightly gate): a new
/// status, speed, quality or memory regression; never a flaky label.
pub fn new_regressions(h: &History) -> Vec<&Change> {
    h.changes
        .iter()
        .filter(|c| c.new && c.direction == Direction::Regression && c.kind != Kind::Flaky)
        .collect()
}

/// Missing nights: a gap between runs more than twice the usual one.
fn gaps(runs: &[Run]) -> Vec<String> {
    let times: Vec<SystemTime> = runs
        .iter()
        .filter_map(|r| crate::results::parse_time(&r.generated))
        .collect();
    let mut d: Vec<u64> = times
        .windows(2)
        .filter_map(|w| w[1].duration_since(w[0]).ok())
        .map(|d| d.as_secs())
        .collect();
    if d.len() < 3 {
        return Vec::new();
    }
    let mut sorted = d.clone();
    sorted.sort_unstable();
    let usual = sorted[sorted.len() / 2].max(3600);
    let mut out = Vec::new();
    for (i, gap) in d.drain(..).enumerate() {
        if gap > 2 * usual {
            out.push(format!(
                "no run between {} and {} ({:.1} days; runs are usually {:.1} days apart)",
                runs[i].generated,
                runs[i + 1].generated,
                gap as f64 / 86_400.0,
                usual as f64 / 86_400.0
            ));
        }
    }
    out
}

/// Configurations missing from their settings' newest run, and renamings
/// (a name gone and a new one with the same features).
fn vanished(series: &[Series], runs: &[Run]) -> Vec<String> {
    let mut newest: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, r) in runs.iter().enumerate() {
        newest.insert(r.settings.as_str(), i);
    }
    let mut out = Vec::new();
    for s in series {
        let (Some(last), Some(&n)) = (s.points.last(), newest.get(s.settings.as_str())) else {
            continue;
        };
        if last.run == n {
            continue;
        }
        let mut sorted = s.features.clone();
        sorted.sort();
        let renamed = series.iter().find(|o| {
            o.settings == s.settings
                && o.config != s.config
                && o.points.first().is_some_and(|p| p.run > last.run)
                && {
                    let mut f = o.features.clone();
                    f.sort();
                    f == sorted
                }
        });
        match renamed {
            Some(o) => out.push(format!(
                "{} seems renamed to {} (same features) from {}: separate series",
                s.config, o.config, runs[o.points[0].run].generated
            )),
            None => out.push(format!(
                "{} is not in the newest run (last seen {})",
                s.config, runs[last.run].generated
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests;
