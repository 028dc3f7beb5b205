//! `compat run` against hostile folders, hostile numbers and a compat that
//! is killed outright: nothing lost, nothing overwritten, no panic, clear
//! refusals (exit 2) before anything starts.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Live (not zombie) processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<i32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    rd.flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let state = stat[stat.rfind(')')? + 1..].split_whitespace().next()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (state != "Z" && text.contains(needle)).then_some(pid)
        })
        .collect()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let state = s[s.rfind(')')? + 1..]
                .split_whitespace()
                .next()?
                .to_string();
            Some(state != "Z")
        })
        .unwrap_or(false)
}

fn wait_until(what: &str, limit: Duration, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigkill(child: &mut std::process::Child) {
    // SAFETY: a signal to our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGKILL);
    }
    child.wait().expect("reaped");
}

/// Kills the given processes (of this test's own making) when dropped.
struct KillOnDrop(Vec<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for &pid in self.0.iter().filter(|&&p| alive(p)) {
            // SAFETY: a signal to a backend this test started.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// A registry whose backend is the test double behind a shell that starts
/// it as a job: the shell is the group's leader, the Python engine its
/// child, as torchrun's workers are. Killing the leader leaves the child.
fn wrapped_registry(dir: &Path) -> std::path::PathBuf {
    let text = format!(
        r#"
default_backend = "wrapped"

[backends.wrapped]
command = ["sh", "-c", "python3 \"$0\" \"$@\" & wait", "{backend}",
           "--prompt-file", "{{prompt_file}}", "--output", "{{output_dir}}", "--seed", "{{seed}}"]
model = "fake-model"

[features.slow]
args = ["--slow", "0.5"]
"#,
        backend = fake_backend().display()
    );
    let path = dir.join("wrapped.toml");
    std::fs::write(&path, text).expect("write registry");
    path
}

/// PR_SET_PDEATHSIG: a compat killed with SIGKILL takes its backend with it.
#[test]
fn a_backend_dies_with_a_compat_killed_by_sigkill() {
    let env = Env::new();
    let mut child = env.spawn_run(&["--baseline", "hang", "--gpus", "1", "--timeout", "5m"]);
    env.wait_for_manifest("hang", "the hanging config running", |m| {
        in_state(m, "running").iter().any(|c| c["name"] == "hang")
    });
    let marker = env.out("hang").join("hang").display().to_string();
    wait_until("the backend started", Duration::from_secs(30), || {
        !processes_mentioning(&marker).is_empty()
    });
    let backends = processes_mentioning(&marker);
    // Should the test fail, its hanging backend must not outlive it.
    let _guard = KillOnDrop(backends.clone());
    sigkill(&mut child);
    wait_until(
        "the backend to die with compat",
        Duration::from_secs(10),
        || backends.iter().all(|&p| !alive(p)),
    );
}

/// A run folder copied with its lock while its run goes on (`cp -a`): a run
/// on the copy takes the copy's lock and finds the live run's token there.
/// That run is alive, so its backends are left alone (review of issue 19).
#[test]
fn a_copied_lock_never_ends_a_live_runs_backends() {
    let env = Env::new();
    let mut child = env.spawn_run(&["--baseline", "hang", "--gpus", "1", "--timeout", "5m"]);
    env.wait_for_manifest("hang", "the hanging config running", |m| {
        in_state(m, "running").iter().any(|c| c["name"] == "hang")
    });
    let marker = env.out("hang").join("hang").display().to_string();
    // The Python interpreter itself: `python3` may be a shim (pyenv) whose
    // short-lived subshells carry the same command line and end on their own.
    let interpreters = || -> Vec<i32> {
        processes_mentioning(&marker)
            .into_iter()
            .filter(|pid| {
                std::fs::read_link(format!("/proc/{pid}/exe"))
                    .is_ok_and(|exe| exe.to_string_lossy().contains("python"))
            })
            .collect()
    };
    wait_until("the backend started", Duration::from_secs(30), || {
        !interpreters().is_empty()
    });
    let backends = interpreters();
    let _guard = KillOnDrop(backends.clone());
    let results = env.path().join("compat_results");
    let copy = env.path().join("copy");
    std::fs::create_dir_all(&copy).expect("mkdir");
    // The copy's run is `copy/par`, locked by `copy/.par.lock`: it holds
    // the live run's lock text, as a copied folder's lock does.
    std::fs::copy(results.join(".hang.lock"), copy.join(".par.lock")).expect("copy the lock");
    let out = env
        .run(&["--baseline", "par", "--gpus", "2", "--output-dir", "copy"])
        .output()
        .expect("runs");
    assert!(
        stderr(&out).contains("which is still running"),
        "{}",
        stderr(&out)
    );
    assert!(
        backends.iter().all(|&p| alive(p)),
        "a live run's backend was killed"
    );
    sigkill(&mut child);
}

/// `kill -9` of compat, then `--resume` at once: the old run's engine (a
/// child of the group leader, so the leader's death signal does not reach
/// it) is ended before the resumed run touches the folder, and never
/// overwrites what the resumed run wrote.
#[test]
fn resume_after_kill_9_ends_the_old_runs_backends_first() {
    let env = Env::new();
    let registry = wrapped_registry(env.path());
    let registry = registry.to_str().expect("utf-8 path");
    let spawn = |args: &[&str]| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("compat"))
            .current_dir(env.path())
            .env_remove("CUDA_VISIBLE_DEVICES")
            .args([
                "--features",
                registry,
                "run",
                "--baseline",
                "slow",
                "--gpus",
                "1",
            ])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn compat")
    };
    // 8 prompts of 0.5 s each: 4 s of work left when compat is killed.
    let mut old = spawn(&["--num-prompts", "8", "--seed", "1"]);
    env.wait_for_manifest("slow", "the slow config running", |m| {
        in_state(m, "running").iter().any(|c| c["name"] == "slow")
    });
    let slow = env.out("slow").join("slow");
    wait_until(
        "the old engine's first image",
        Duration::from_secs(30),
        || slow.join("prompt_00.png").is_file(),
    );
    let engines = processes_mentioning(&slow.display().to_string());
    assert!(!engines.is_empty());
    let _guard = KillOnDrop(engines.clone());
    sigkill(&mut old);

    // One prompt with another seed: the resumed run is done long before the
    // old engine would be.
    let resumed = spawn(&["--num-prompts", "1", "--seed", "9", "--resume"])
        .wait_with_output()
        .expect("resumed run");
    assert_eq!(code(&resumed), 0, "{}", stderr(&resumed));
    let outlived: Vec<i32> = engines.iter().copied().filter(|&p| alive(p)).collect();
    // Past the old engine's remaining time: the folder is the resumed run's.
    std::thread::sleep(Duration::from_secs(4));
    let mut names: Vec<String> = std::fs::read_dir(&slow)
        .expect("slow folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".png"))
        .collect();
    names.sort();
    assert_eq!(names, ["prompt_00.png"], "images of the old run landed");
    // Green is (seed + prompt) % 256: the resumed run's seed.
    let green = image::open(slow.join("prompt_00.png"))
        .expect("png")
        .to_rgb8()
        .get_pixel(0, 0)[1];
    assert_eq!(green, 9);
    let results = std::fs::read_to_string(slow.join("results.jsonl")).expect("results");
    assert_eq!(
        results.lines().filter(|l| l.contains("\"prompt\"")).count(),
        1,
        "{results}"
    );
    assert!(
        outlived.is_empty(),
        "the old engine outlived the resumed run: {outlived:?}"
    );
    assert!(
        stderr(&resumed).contains("left 1 backend process group(s) running"),
        "{}",
        stderr(&resumed)
    );
}

/// One folder reached through a symlink takes the same lock.
#[test]
fn a_run_folder_through_a_symlink_is_locked_once() {
    let env = Env::new();
    let args = ["--baseline", "slow", "--gpus", "1", "--num-prompts", "3"];
    let mut first = env.spawn_run(&args);
    env.wait_for_manifest("slow", "the first run started", |m| {
        !in_state(m, "running").is_empty()
    });
    // The run folder itself is the link: elsewhere/slow -> compat_results/slow.
    std::fs::create_dir(env.path().join("elsewhere")).expect("mkdir");
    std::os::unix::fs::symlink(env.out("slow"), env.path().join("elsewhere/slow"))
        .expect("symlink");
    let out = env
        .run(&args)
        .args(["--output-dir", "elsewhere", "--resume"])
        .output()
        .expect("runs");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("another compat run (PID {}", first.id())),
        "{}",
        stderr(&out)
    );
    assert!(first.wait().expect("waits").success());
}

/// `compat analyze` of a folder a run holds is refused, naming the run; no
/// report is left behind. After the run, it analyses.
#[test]
fn analyze_refuses_a_folder_a_live_run_holds() {
    let env = Env::new();
    let mut run = env.spawn_run(&["--baseline", "slow", "--gpus", "1", "--num-prompts", "3"]);
    env.wait_for_manifest("slow", "the run started", |m| {
        !in_state(m, "running").is_empty()
    });
    let out = env
        .compat()
        .args(["analyze", "--results-dir", "compat_results/slow", "--html"])
        .output()
        .expect("analyze");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("being written by a compat run")
            && err.contains(&format!("PID {}", run.id()))
            && err.contains("started "),
        "{err}"
    );
    assert!(run.wait().expect("waits").success());
    assert!(!env.out("slow").join("report.json").exists());
    assert!(!env.out("slow").join("diff_report.html").exists());
    let out = env
        .compat()
        .args(["analyze", "--results-dir", "compat_results/slow"])
        .output()
        .expect("analyze");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// Numbers no run can use: refused with exit 2 and the flag named, never a
/// panic (101) or an abort (134), dry run or not.
#[test]
fn numbers_no_run_can_use_are_refused_up_front() {
    let env = Env::new();
    let cases: &[(&[&str], &str)] = &[
        (&["--gpus", "18446744073709551615", "--dry-run"], "--gpus"),
        (&["--gpus", "100000000"], "--gpus"),
        (
            &["--steps", "4294967295", "--dry-run"],
            "--steps 4294967295",
        ),
        (&["--steps", "4294967295"], "--steps 4294967295"),
        (&["--cfg-scale=-1e30"], "--cfg-scale"),
        (&["--cfg-scale", "1e30", "--dry-run"], "--cfg-scale"),
        (&["--warmup", "4294967295", "--dry-run"], "--warmup"),
    ];
    for (extra, flag) in cases {
        let out = env
            .run(&["--baseline", "par", "--output-dir", "numbers"])
            .args(*extra)
            .output()
            .expect("runs");
        assert_eq!(code(&out), 2, "{extra:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(flag), "{extra:?}: {}", stderr(&out));
    }
    assert!(!env.path().join("numbers").exists());
}

/// Feature ids whose configuration name cannot be a folder name: refused
/// before anything starts, for one long id and for ids joined by --combos all.
#[test]
fn names_past_a_file_name_are_refused_before_anything_starts() {
    let env = Env::new();
    let long = "x".repeat(300);
    let ids: Vec<String> = ["a", "b", "c"].iter().map(|c| c.repeat(100)).collect();
    let mut text = std::fs::read_to_string(env.path().join("features.toml")).expect("registry");
    for id in std::iter::once(&long).chain(&ids) {
        text += &format!("\n[features.{id}]\nargs = [\"--noop\"]\n");
    }
    std::fs::write(env.path().join("features.toml"), text).expect("write");
    let out = env
        .run(&["--baseline", &long, "--dry-run"])
        .output()
        .expect("runs");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("300 bytes"), "{}", stderr(&out));
    for dry in [true, false] {
        let mut cmd = env.run(&["--addons", &ids[0], &ids[1], &ids[2], "--combos", "all"]);
        if dry {
            cmd.arg("--dry-run");
        }
        let out = cmd.output().expect("runs");
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        assert!(
            stderr(&out).contains("302 bytes") && stderr(&out).contains("at most 255"),
            "{}",
            stderr(&out)
        );
    }
    assert!(!env.path().join("compat_results").exists());
}

/// A lock that cannot be made (its name taken by a folder, a folder that
/// cannot be written) is bad input, exit 2 — never 1, which is a verdict.
#[test]
fn a_lock_that_cannot_be_made_is_exit_2() {
    let env = Env::new();
    std::fs::create_dir_all(env.path().join("compat_results/.par.lock")).expect("mkdir");
    let out = env
        .run(&["--baseline", "par", "--gpus", "2"])
        .output()
        .expect("runs");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot lock the run folder"),
        "{}",
        stderr(&out)
    );

    // SAFETY: geteuid has no preconditions. root writes anywhere.
    if unsafe { libc::geteuid() } != 0 {
        use std::os::unix::fs::PermissionsExt;
        let ro = env.path().join("ro");
        std::fs::create_dir(&ro).expect("mkdir");
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).expect("chmod");
        let out = env
            .run(&["--baseline", "par", "--gpus", "2", "--output-dir", "ro"])
            .output()
            .expect("runs");
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        assert!(stderr(&out).contains("cannot lock"), "{}", stderr(&out));
    }
}

/// A lock file that is a symlink or a FIFO (planted, or unpacked from an
/// archive) is refused: the symlink's target is never overwritten, and
/// neither `run` nor `analyze` blocks on the FIFO (review of issue 19).
#[test]
fn a_lock_that_is_a_symlink_or_a_fifo_is_refused() {
    let env = Env::new();
    let results = env.path().join("compat_results");
    std::fs::create_dir_all(&results).expect("mkdir");
    let victim = env.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").expect("victim");
    std::os::unix::fs::symlink(&victim, results.join(".par.lock")).expect("symlink");
    let out = env
        .run(&["--baseline", "par", "--gpus", "2", "--force"])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "precious\n"
    );

    std::fs::remove_file(results.join(".par.lock")).expect("rm");
    let fifo = std::ffi::CString::new(results.join(".par.lock").to_string_lossy().as_bytes())
        .expect("path");
    // SAFETY: mkfifo on a NUL-terminated path we own.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let out = env
        .run(&["--baseline", "par", "--gpus", "2", "--resume"])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    assert_eq!(code(&out), 2, "no hang: {}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    std::fs::create_dir_all(results.join("par")).expect("mkdir");
    let out = env
        .compat()
        .args(["analyze", "--results-dir", "compat_results/par"])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    assert_ne!(
        out.status.code(),
        None,
        "analyze was killed: it hung on the FIFO"
    );
}

/// `--force` on a folder whose manifest.json is someone else's says so (not
/// "use --force"); compat's own manifest that cannot be read is replaced.
#[test]
fn force_names_a_manifest_that_is_not_compats() {
    let env = Env::new();
    let dir = env.out("par");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("manifest.json"),
        r#"{"tool": "other", "data": [1]}"#,
    )
    .expect("write");
    let out = env
        .run(&["--baseline", "par", "--gpus", "2", "--force"])
        .output()
        .expect("runs");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("is not compat's") && err.contains("'other'") && !err.contains("use --force"),
        "{err}"
    );
    assert!(dir.join("manifest.json").is_file(), "their file is kept");
    // compat's, from a version whose schema this one cannot read: --force
    // starts over.
    std::fs::write(
        dir.join("manifest.json"),
        r#"{"tool": "compat", "configs": 3}"#,
    )
    .expect("write");
    let out = env
        .run(&["--baseline", "par", "--gpus", "2", "--resume"])
        .output()
        .expect("runs");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("use --force"), "{}", stderr(&out));
    env.run(&["--baseline", "par", "--gpus", "2", "--force"])
        .assert()
        .success();
}

/// A backend with no {warmup} is told of no warm-up, and the dry run and
/// the manifest say so; the reference engine keeps its warm-up.
#[test]
fn warm_up_is_what_the_backend_really_does() {
    let env = Env::new();
    let out = env
        .run(&["--baseline", "par", "--gpus", "2", "--dry-run"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "warm-up: none (the backend has no {warmup}); a cold first prompt is detected"
        ),
        "{text}"
    );
    env.run(&["--baseline", "par", "--gpus", "2"])
        .assert()
        .success();
    assert_eq!(env.manifest("par")["warmup"], 0);
    let out = env
        .run(&[
            "--baseline",
            "par",
            "--gpus",
            "2",
            "--warmup",
            "3",
            "--dry-run",
        ])
        .output()
        .expect("runs");
    assert!(
        stderr(&out).contains("--warmup 3 has no effect"),
        "{}",
        stderr(&out)
    );

    let bare = tempfile::tempdir().expect("tempdir");
    let out = assert_cmd::Command::cargo_bin("compat")
        .expect("binary")
        .current_dir(bare.path())
        .args(["run", "--baseline", "cfg_parallel", "--dry-run"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("seed 42, warm-up 1\n"), "{text}");
}

/// A negative prompt that starts with `-` is data to the reference engine,
/// and a backend's clap error shows its `error:` line, not the help footer.
#[test]
fn leading_dashes_are_data_and_a_backends_error_line_is_the_reason() {
    let bare = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        bare.path().join("features.toml"),
        "default_backend = \"reference\"\n[backends.reference]\nbuiltin = \"reference\"\n\
         model = \"m\"\n[features.plain]\nargs = [\"--cache-backend=none\"]\n[features.bogus]\nargs = [\"--no-such-flag\"]\n",
    )
    .expect("registry");
    let run = |extra: &[&str]| {
        assert_cmd::Command::cargo_bin("compat")
            .expect("binary")
            .current_dir(bare.path())
            .args([
                "run",
                "--num-prompts",
                "1",
                "--steps",
                "2",
                "--height",
                "32",
            ])
            .args(["--width", "32", "--gpus", "1", "--negative-prompt=-blurry"])
            .args(extra)
            .output()
            .expect("runs")
    };
    let out = run(&["--baseline", "plain"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The reference engine's probe finds the flag missing before a start…
    let out = run(&["--addons", "bogus", "--output-dir", "r3", "--dry-run"]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("SKIP: compat-reference 0.1.0: unexpected argument '--no-such-flag' found"),
        "{out:?}"
    );
    // …and without it the backend's own error line is the reason.
    let out = run(&["--addons", "bogus", "--output-dir", "r2", "--no-probe"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("error: unexpected argument '--no-such-flag'")
            && !err.contains("For more information"),
        "{err}"
    );
}

/// A backend's error with ESC and NUL reaches the progress lines cleaned.
#[test]
fn the_failed_progress_line_holds_no_control_characters() {
    let env = Env::new();
    let out = env
        .run(&["--baseline", "par", "--addons", "hostile", "--gpus", "2"])
        .output()
        .expect("runs");
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(err.contains("hostile: failed after"), "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\0'), "{err:?}");
}
