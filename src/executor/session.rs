//! A session job (docs/sessions.md): one backend process, one model load,
//! several configurations in sequence, each writing its own folder and
//! ending its results.jsonl with `{"event": "done"}`; then the base again
//! into the check folder, compared with the base's first run.
//!
//! Each member is reported as a configuration of its own: `Started` when the
//! one before it wrote `done` (as it happens), its span from there to its own
//! `done`. No member's `Finished` is sent before the check has been made, so
//! nothing is reported PASS that the check could still turn into ERROR.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::job::{failed, finish_dir, fresh_dir, launch, prompt_lines};
use super::{CancelRx, Event, Events, Job, JobResult, Options, Outcome, SessionJob, collect};
use crate::results::{self, SessionCheck};

/// How often the members' folders are looked at while the process runs.
const SWEEP: Duration = Duration::from_millis(250);

/// What the sweeps saw: when each member's `done` line appeared, and how
/// many members have been announced (`Started`; the base by the scheduler).
#[derive(Debug)]
struct Seen {
    ends: Vec<SystemTime>,
    announced: usize,
}

/// Runs the session; returns every member's result, in run order.
pub(super) async fn run(
    job: &Job,
    s: &SessionJob,
    devices: &[String],
    opts: &Options,
    cancel: CancelRx,
    events: &Events,
) -> Vec<(usize, JobResult)> {
    let dirs = s.members.iter().map(|m| m.dir.as_path());
    for dir in dirs.chain([s.check_dir.as_path()]) {
        if let Err(e) = fresh_dir(dir) {
            let why = format!("{e:#}");
            return s
                .members
                .iter()
                .map(|m| (m.index, failed(why.clone())))
                .collect();
        }
    }
    let started = SystemTime::now();
    let seen = Arc::new(Mutex::new(Seen {
        ends: Vec::new(),
        announced: 1,
    }));
    let watcher = tokio::spawn(watch(
        s.clone(),
        devices.to_vec(),
        seen.clone(),
        events.clone(),
    ));
    // Each entry gets what a process of its own would have had.
    let entries = u32::try_from(s.members.len() + 1).unwrap_or(u32::MAX);
    let timeout = opts.timeout.map(|t| t.saturating_mul(entries));
    let mut opts = opts.clone();
    if let super::Launcher::Slurm(s) = &opts.launcher {
        opts.launcher = super::Launcher::Slurm(s.scaled(entries));
    }
    let ran = launch(job, devices, &opts, timeout, cancel).await;
    watcher.abort();
    let ended = SystemTime::now();
    // Under Slurm the job started on its node after its time in the queue.
    let started = ran
        .placement
        .as_ref()
        .and_then(|p| p.started)
        .filter(|&t| t > started && t < ended)
        .unwrap_or(started);

    // The last sweep: entries that finished since the watcher last looked.
    let (mut ends, announced) = seen
        .lock()
        .map(|s| (s.ends.clone(), s.announced))
        .unwrap_or((Vec::new(), 1));
    while let Some(at) = s.members.get(ends.len()).and_then(|m| done_at(&m.dir)) {
        ends.push(at.min(ended));
    }
    let done = ends.len();
    // The member after the finished ones started if it wrote anything (the
    // base always did: its process started).
    let began = |k: usize| {
        k < done
            || (k == done
                && s.members
                    .get(k)
                    .is_some_and(|m| k == 0 || m.dir.join(results::RESULTS).exists()))
    };
    for k in announced..s.members.len() {
        if began(k) {
            announce(events, s.members[k].index, devices);
        }
    }
    let log = job.dir.join(results::LOG);
    let mut out = Vec::with_capacity(s.members.len());
    let mut stopped_by: Option<String> = None;
    for (k, m) in s.members.iter().enumerate() {
        let start = match k {
            0 => started,
            _ => ends.get(k - 1).copied().unwrap_or(ended),
        };
        let mut r = if k < done {
            finish_dir(
                &m.dir,
                job.num_prompts,
                Outcome::Exited(0),
                between(start, ends[k]),
                &log,
            )
        } else if k == done {
            let mut r = finish_dir(
                &m.dir,
                job.num_prompts,
                ran.outcome.clone(),
                between(start, ended),
                &log,
            );
            if r.error.is_none() {
                r.error = Some(if k == 0 {
                    // Not even the first entry: the backend ran its command
                    // line alone, as one without a session mode would.
                    "the backend ended without writing {\"event\": \"done\"}: a backend that lists \
                     switchable features must run the session file it is given (--session, \
                     docs/sessions.md)"
                        .to_string()
                } else {
                    "the session's process ended without finishing this configuration (no done event)"
                        .to_string()
                });
            }
            stopped_by = r.error.clone();
            r
        } else {
            let why = stopped_by.as_deref().unwrap_or("it stopped");
            let mut r = failed(format!(
                "not run: the session's process ended before it ({})",
                why.strip_prefix("not run: ").unwrap_or(why)
            ));
            if matches!(ran.outcome, Outcome::Interrupted) {
                r.outcome = Outcome::Interrupted;
            }
            r
        };
        // Only a member that ran has a span and a place: one that never
        // started held nothing (the bill, Slurm's overlaps).
        if began(k) {
            r.span = Some((start, if k < done { ends[k] } else { ended }));
            r.placement = ran.placement.clone();
        }
        out.push((m.index, r));
    }

    let (check, check_seconds) = if done == s.members.len() {
        let check_start = ends[done - 1];
        if let Some(at) = done_at(&s.check_dir) {
            let first = &s.members[0].dir;
            let secs = between(check_start, at.min(ended)).as_secs_f64();
            // The check must bracket every member: one finished before the
            // last member did covered no switch (a backend that ran the
            // entries out of order).
            let check = if at < check_start {
                SessionCheck::NotRun {
                    reason: "the check run finished before the last configuration did".to_string(),
                }
            } else {
                // The base's records as finish_dir collected them above.
                match &out[0].1.collected {
                    Some(a) => compare(first, a, &s.check_dir, job.num_prompts),
                    None => SessionCheck::NotRun {
                        reason: "the base's results could not be read".to_string(),
                    },
                }
            };
            (check, Some(secs))
        } else {
            let why = match &ran.outcome {
                Outcome::Exited(0) => "the check run wrote no done event".to_string(),
                Outcome::Exited(c) => {
                    format!("the process exited with code {c} during the check run")
                }
                Outcome::TimedOut(d) => {
                    format!(
                        "timed out after {} during the check run",
                        humantime::format_duration(*d)
                    )
                }
                Outcome::Interrupted => "interrupted during the check run".to_string(),
                Outcome::SpawnFailed(w) => w.clone(),
            };
            (
                SessionCheck::NotRun { reason: why },
                Some(between(check_start, ended).as_secs_f64()),
            )
        }
    } else {
        (
            SessionCheck::NotRun {
                reason: "the session ended before its last configuration".to_string(),
            },
            None,
        )
    };
    let base = &s.members[0].name;
    match &check {
        SessionCheck::Differs { prompts } if s.byte_identity_required => {
            // Every member: where it failed too, the leak may be why.
            let why = leaked(base, prompts);
            for (_, r) in out.iter_mut() {
                r.error = Some(match &r.error {
                    None => why.clone(),
                    Some(own) => format!("{why}; and its own error: {own}"),
                });
            }
        }
        // The base ran on the pipeline as loaded and the first member after
        // a base that switched nothing on: both are as a process of their
        // own. Later members could carry what an earlier one left behind,
        // which only the check would have shown.
        SessionCheck::NotRun { reason } => {
            for (_, r) in out.iter_mut().skip(2).filter(|(_, r)| r.error.is_none()) {
                r.error = Some(format!(
                    "{}session {base}'s contamination check did not run ({reason}); \
                     --resume runs it again",
                    results::SESSION_UNVERIFIED
                ));
            }
        }
        _ => {}
    }
    let _ = events.send(Event::SessionChecked {
        base: job.index,
        check,
        check_seconds,
    });
    out
}

/// The reason every member of a leaky session is ERROR.
pub fn leaked(base: &str, prompts: &[usize]) -> String {
    let list: Vec<String> = prompts.iter().take(5).map(ToString::to_string).collect();
    let more = if prompts.len() > 5 { ", …" } else { "" };
    format!(
        "{} (session {base}: prompt{} {}{more} of the base's second run differ{} from its first)",
        results::SESSION_LEAKED,
        if prompts.len() == 1 { "" } else { "s" },
        list.join(", "),
        if prompts.len() == 1 { "s" } else { "" },
    )
}

fn between(a: SystemTime, b: SystemTime) -> Duration {
    b.duration_since(a).unwrap_or_default()
}

fn announce(events: &Events, index: usize, devices: &[String]) {
    let _ = events.send(Event::Started {
        index,
        devices: devices.to_vec(),
    });
}

/// Follows the running member: its prompts as progress, its `done` line as
/// its end and the next member's start.
async fn watch(s: SessionJob, devices: Vec<String>, seen: Arc<Mutex<Seen>>, events: Events) {
    let mut last = 0;
    loop {
        tokio::time::sleep(SWEEP).await;
        let k = seen.lock().map(|s| s.ends.len()).unwrap_or(usize::MAX);
        let Some(m) = s.members.get(k) else {
            return;
        };
        // One read a sweep: the prompts so far and whether it is done.
        let (n, done) = look(&m.dir);
        if n != last {
            last = n;
            let _ = events.send(Event::Progress {
                index: m.index,
                done: n,
            });
        }
        if let Some(at) = done {
            last = 0;
            let next = s.members.get(k + 1);
            if let Ok(mut seen) = seen.lock() {
                seen.ends.push(at);
                if let Some(next) = next {
                    announce(&events, next.index, &devices);
                    seen.announced = seen.announced.max(k + 2);
                }
            }
        }
    }
}

/// When the entry writing `dir` finished, if it did: the time its
/// results.jsonl was last written, once that ends with the done line. The
/// file's own time, not when a sweep saw it: entries shorter than a sweep
/// keep their real spans.
fn done_at(dir: &Path) -> Option<SystemTime> {
    look(dir).1
}

/// The entry writing `dir`, from one read of its results.jsonl: the prompts
/// it reported, and when it finished if its last line is `{"event": "done"}`
/// (docs/sessions.md).
fn look(dir: &Path) -> (usize, Option<SystemTime>) {
    let path = dir.join(results::RESULTS);
    // read_regular: a FIFO planted as results.jsonl must not block the
    // executor (it would block every job: one thread runs them all).
    let Ok(bytes) = results::files::read_regular(&path) else {
        return (0, None);
    };
    let text = String::from_utf8_lossy(&bytes);
    let done = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .is_some_and(|v| v.get("event").and_then(|e| e.as_str()) == Some("done"));
    let at = done.then(|| {
        std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| SystemTime::now())
    });
    (prompt_lines(&text), at)
}

/// The base's two runs, image by image: which prompts differ (a prompt with
/// an image in one run only differs; one with none in both does not).
/// `a` is what was collected from `first` (the base's result).
fn compare(
    first: &Path,
    a: &collect::Collected,
    second: &Path,
    num_prompts: usize,
) -> SessionCheck {
    let Ok(b) = collect::collect(second, num_prompts) else {
        return SessionCheck::NotRun {
            reason: "the check run's results could not be read".to_string(),
        };
    };
    // The canonical file (what collect moved there and analysis judges),
    // never the name a record gives: a record naming another folder's file
    // would compare that file with itself.
    let image = |dir: &Path, c: &collect::Collected, i: usize| -> Option<Vec<u8>> {
        c.records.prompts.get(&i)?.image.as_ref()?;
        results::files::read_regular(&dir.join(results::prompt_image(i))).ok()
    };
    let mut compared = 0;
    let mut prompts = Vec::new();
    for i in 0..num_prompts {
        match (image(first, a, i), image(second, &b, i)) {
            (None, None) => {}
            (x, y) if x == y => compared += 1,
            _ => prompts.push(i),
        }
    }
    if !prompts.is_empty() {
        SessionCheck::Differs { prompts }
    } else if compared == 0 {
        // A base that made no image in either run checks nothing.
        SessionCheck::NotRun {
            reason: "the base made no image to compare in either run".to_string(),
        }
    } else {
        SessionCheck::Identical
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_is_the_last_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(done_at(dir.path()).is_none());
        let f = dir.path().join(results::RESULTS);
        std::fs::write(&f, "{\"event\": \"done\"}\n{\"prompt\": 0}\n").expect("write");
        assert!(done_at(dir.path()).is_none());
        std::fs::write(&f, "{\"prompt\": 0}\n{\"event\": \"done\"}\n\n").expect("write");
        assert!(done_at(dir.path()).is_some());
        std::fs::write(&f, "{\"prompt\": 0}\n{\"event\": \"do").expect("write");
        assert!(done_at(dir.path()).is_none());
    }

    fn got(dir: &Path) -> collect::Collected {
        collect::collect(dir, 2).expect("collect")
    }

    #[test]
    fn the_check_names_the_prompts_that_differ() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for (d, second) in [(&a, b"x"), (&b, b"y")] {
            std::fs::create_dir_all(d).expect("mkdir");
            std::fs::write(d.join("prompt_00.png"), b"same").expect("write");
            std::fs::write(d.join("prompt_01.png"), second).expect("write");
            std::fs::write(
                d.join(results::RESULTS),
                "{\"prompt\": 0, \"image\": \"prompt_00.png\", \"seconds\": 1, \"ok\": true}\n\
                 {\"prompt\": 1, \"image\": \"prompt_01.png\", \"seconds\": 1, \"ok\": true}\n",
            )
            .expect("write");
        }
        assert_eq!(
            compare(&a, &got(&a), &b, 2),
            SessionCheck::Differs { prompts: vec![1] }
        );
        assert_eq!(compare(&a, &got(&a), &a, 2), SessionCheck::Identical);
        // A record that names the other run's file is not taken at its word.
        std::fs::write(
            b.join(results::RESULTS),
            format!(
                "{{\"prompt\": 0, \"image\": \"prompt_00.png\", \"seconds\": 1, \"ok\": true}}\n\
                 {{\"prompt\": 1, \"image\": \"{}\", \"seconds\": 1, \"ok\": true}}\n",
                a.join("prompt_01.png").display()
            ),
        )
        .expect("write");
        assert_eq!(
            compare(&a, &got(&a), &b, 2),
            SessionCheck::Differs { prompts: vec![1] }
        );
        // Nothing compared is no check.
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).expect("mkdir");
        std::fs::write(
            empty.join(results::RESULTS),
            "{\"prompt\": 0, \"image\": null, \"seconds\": null, \"ok\": false}\n",
        )
        .expect("write");
        assert!(matches!(
            compare(&empty, &got(&empty), &empty, 2),
            SessionCheck::NotRun { .. }
        ));
        assert!(
            leaked("baseline", &[1])
                .contains("session baseline: prompt 1 of the base's second run differs")
        );
    }
}
