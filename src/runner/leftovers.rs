//! Backends a killed run left behind. A compat killed with SIGKILL runs no
//! clean-up: its backends' leaders die with it (PR_SET_PDEATHSIG, see
//! `executor::process`), but their children (torchrun's workers, a shell's
//! jobs) live on in their process groups and would keep writing images into
//! the folder a resumed run is filling. The lock file lists those groups and
//! the run's token; the next run that takes the lock ends every group still
//! alive, and waits for it to be gone, before it touches the folder.
//!
//! A group number is only trusted with a witness: a live process in it whose
//! environment carries the old run's token. A group id cannot be reused while
//! any member lives, so one witness proves the whole group is the old run's;
//! a recycled number (all members gone, a stranger's group since) has none
//! and is never signalled.

use std::time::{Duration, Instant};

use crate::executor::RUN_ID_ENV;
use crate::exit::usage;

/// How long ended groups may take to go (a process in uninterruptible I/O
/// dies when the I/O returns).
const WAIT: Duration = Duration::from_secs(10);

/// Ends the live process groups recorded in an earlier holder's lock text.
pub fn end(lock_text: &str) -> anyhow::Result<()> {
    let Some(token) = lock_text
        .lines()
        .find_map(|l| l.strip_prefix("run "))
        .map(str::trim)
    else {
        return Ok(());
    };
    // The token names the compat that held the lock. Alive, it is no
    // killed run: this lock was copied with its folder (`cp -a`, an
    // archive) from a run still going, whose backends write to its own
    // folder, not this one. Never signal them.
    if let Some(pid) = owner_alive(token) {
        eprintln!(
            "note: the lock names run PID {pid}, which is still running (was this folder copied from a live run?): its backends are left alone"
        );
        return Ok(());
    }
    let mut groups: Vec<libc::pid_t> = lock_text
        .lines()
        .filter_map(|l| l.strip_prefix("pgid ")?.trim().parse().ok())
        .filter(|&g: &libc::pid_t| g > 1)
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let alive: Vec<libc::pid_t> = groups
        .into_iter()
        .filter(|&g| witnessed(g, token))
        .collect();
    if alive.is_empty() {
        return Ok(());
    }
    eprintln!(
        "note: the earlier run on this folder was killed and left {} backend process group(s) running ({}): ending them",
        alive.len(),
        alive
            .iter()
            .map(|g| g.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for &g in &alive {
        // SAFETY: killpg only sends a signal; the group is the old run's.
        unsafe {
            libc::killpg(g, libc::SIGKILL);
        }
    }
    let deadline = Instant::now() + WAIT;
    while alive.iter().any(|&g| witnessed(g, token)) {
        if Instant::now() > deadline {
            return Err(usage(format!(
                "backends of the earlier, killed run on this folder are still alive after SIGKILL \
                 (process groups {alive:?}); wait for them to end, then run again"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The pid in `token` ("<pid>-<nanos>") when that process is alive and is a
/// compat (its command name), so a recycled pid does not count.
#[cfg(target_os = "linux")]
fn owner_alive(token: &str) -> Option<libc::pid_t> {
    let pid: libc::pid_t = token.split('-').next()?.parse().ok()?;
    if pid <= 1 || pid == std::process::id() as libc::pid_t {
        return None;
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (state, _) = state_and_group(&stat)?;
    (comm.trim() == "compat" && state != 'Z').then_some(pid)
}

#[cfg(not(target_os = "linux"))]
fn owner_alive(_token: &str) -> Option<libc::pid_t> {
    None
}

/// Whether a live (not zombie) process in group `pgid` carries `token`.
#[cfg(target_os = "linux")]
fn witnessed(pgid: libc::pid_t, token: &str) -> bool {
    let want = format!("{RUN_ID_ENV}={token}");
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .any(|e| {
            let dir = e.path();
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
            let Some((state, group)) = state_and_group(&stat) else {
                return false;
            };
            state != 'Z'
                && group == pgid
                && std::fs::read(dir.join("environ"))
                    .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == want.as_bytes()))
        })
}

/// Without /proc nothing can witness a group: none is signalled.
#[cfg(not(target_os = "linux"))]
fn witnessed(_pgid: libc::pid_t, _token: &str) -> bool {
    false
}

/// The state and process group from a `/proc/PID/stat` line:
/// `pid (comm) state ppid pgrp …`, where comm may hold spaces and parentheses.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn state_and_group(stat: &str) -> Option<(char, libc::pid_t)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    Some((state, fields.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        assert_eq!(
            state_and_group("4250 (py (x) y) S 1 4250 4250 0 -1"),
            Some(('S', 4250))
        );
        assert_eq!(state_and_group("garbage"), None);
    }

    #[test]
    fn a_group_without_the_token_is_never_signalled() {
        // Our own group: alive, but no member carries this token.
        // SAFETY: getpgrp has no preconditions.
        let mine = unsafe { libc::getpgrp() };
        let text = format!("PID 1\nrun not-ours-{}\npgid {mine}\n", std::process::id());
        end(&text).expect("nothing to end");
        assert!(!witnessed(mine, "not-ours"));
    }
}
