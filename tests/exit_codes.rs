//! README's exit-code table, row by row: every code it documents is produced
//! by a real run of the binary in the situation the row names, and the table
//! documents no code this test does not produce. CI gates on these codes, so
//! the table and the binary must not drift apart.

mod common;

use std::collections::BTreeSet;

use common::*;

/// The codes in README's "### Exit codes" table, in order.
fn readme_codes() -> Vec<i32> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let table = readme
        .split("### Exit codes")
        .nth(1)
        .expect("README has an '### Exit codes' section");
    table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.split('|').nth(1)?.trim().parse().ok())
        .collect()
}

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn every_documented_exit_code_is_produced_as_the_readme_says() {
    let documented = readme_codes();
    assert_eq!(documented, [0, 1, 2, 3, 130], "README's table changed");
    let mut seen = BTreeSet::new();
    let env = Env::new();
    let mut check = |want: i32, out: std::process::Output, what: &str| {
        assert_eq!(code(&out), want, "{what}: {}", stderr(&out));
        seen.insert(want);
    };

    // 0 — success: a run and its analysis, all PASS.
    let ok = env
        .run(&["--baseline", "par", "--gpus", "2"])
        .output()
        .expect("run");
    check(0, ok, "run of a passing matrix");
    let ok = env.compat().args(["analyze"]).output().expect("analyze");
    check(0, ok, "analyze of an all-PASS run");

    // 1 — a configuration could not complete (run), a FAIL/ERROR (analyze).
    let out = env
        .run(&[
            "--baseline",
            "par",
            "--addons",
            "crash",
            "--gpus",
            "2",
            "--output-dir",
            "r1",
        ])
        .output()
        .expect("run");
    check(1, out, "run with a crashing config");
    let out = env
        .compat()
        .args(["analyze", "--results-dir", "r1/par"])
        .output()
        .expect("analyze");
    check(1, out, "analyze of a run with an ERROR");

    // 2 — bad usage or input, nothing written.
    let out = env
        .run(&["--baseline", "nosuch", "--output-dir", "r2"])
        .output()
        .expect("run");
    assert!(stderr(&out).contains("unknown feature 'nosuch'"));
    check(2, out, "unknown feature");
    assert!(!env.path().join("r2").exists(), "nothing written on exit 2");
    let out = env
        .run(&["--baseline", "par", "--jobs", "0"])
        .output()
        .expect("run");
    check(2, out, "--jobs 0");
    // A run already in the folder.
    let out = env
        .run(&["--baseline", "par", "--gpus", "2"])
        .output()
        .expect("run");
    check(2, out, "a run already in the directory");

    // 3 — an output could not be written; the verdict was still printed.
    // A directory where report.json goes makes the write fail, even as root.
    let report = env.out("par").join("report.json");
    std::fs::remove_file(&report).expect("the first analyze wrote report.json");
    std::fs::create_dir_all(report.join("x")).expect("mkdir");
    let out = env.compat().args(["analyze"]).output().expect("analyze");
    assert!(String::from_utf8_lossy(&out.stdout).contains("configs:"));
    assert!(stderr(&out).contains("report.json"));
    check(3, out, "report.json cannot be written");

    // 130 — interrupted; --resume finishes it.
    let child = env.spawn_run(&[
        "--baseline",
        "slow",
        "--gpus",
        "1",
        "--serial",
        "--output-dir",
        "r130",
    ]);
    let dir = env.path().join("r130/slow");
    let t = std::time::Instant::now();
    while !dir.join("manifest.json").exists() && t.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = interrupt(child);
    assert!(stderr(&out).contains("--resume"), "{}", stderr(&out));
    check(130, out, "Ctrl-C");

    let documented: BTreeSet<i32> = documented.into_iter().collect();
    assert_eq!(seen, documented, "every row of the table, and nothing else");
}
