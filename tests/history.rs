//! `compat history` end to end, on a synthetic history made of real runs of
//! the embedded reference engine.
//!
//! Twelve real `compat run`s (64×64, 8 steps, 3 prompts; a few seconds in
//! all), three under each of four feature registries, interleaved: as
//! shipped (with a quality bar on teacache), with cache_dit's flag broken
//! (the backend exits with an error: the flaky nights), with teacache's
//! threshold raised (the injected regression: teacache's images drift past
//! the bar, PASS → FAIL), and both. Sixty nights are made from them: night
//! i is a copy of a real report of its registry, stamped with that night's
//! time and engine commit, each configuration's entry drawn from the real
//! runs whose registry gives that configuration the same arguments as
//! tonight's (the baseline and cfg_parallel: any of the twelve). A real
//! 60-run history would take minutes on CI; the timings and images are all
//! real, and no configuration's timings come from one batch of runs only
//! (on a loaded machine, a batch's load would be a real level shift). The
//! regression lands on night 42; cache_dit bounces to ERROR on nights 12,
//! 25-26, 37 and 50; nights 33 and 34 are missing.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use serde_json::Value;

const NIGHTS: usize = 60;
const REGRESSION: usize = 42;
const FLAKY: [usize; 5] = [12, 25, 26, 37, 50];
const MISSING: [usize; 2] = [33, 34];

fn compat() -> Command {
    Command::cargo_bin("compat").expect("compat binary")
}

fn generated(night: usize) -> String {
    let t = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(1_790_000_000 + night as u64 * 86_400);
    humantime::format_rfc3339_millis(t).to_string()
}

fn commit(night: usize) -> String {
    let h = (night as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{h:016x}{night:024x}")
}

/// Which of `n` real runs night `night` takes (per config: `salt`): a
/// stride of 5, coprime to 3, 6 and 12, so consecutive nights never reuse a
/// run and each run recurs only every n nights. A run that a load spike hit
/// is then one odd night, as it would be in a real history, never a cluster
/// of copies that looks like a level.
fn pick(night: usize, salt: usize, n: usize) -> usize {
    (night * 5 + salt * 7) % n
}

struct Synthetic {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Synthetic {
    fn night(&self, i: usize) -> PathBuf {
        self.root.join("nights").join(format!("night_{i:02}"))
    }
    fn nights_upto(&self, last: usize) -> Vec<PathBuf> {
        (0..=last)
            .filter(|i| !MISSING.contains(i))
            .map(|i| self.night(i))
            .collect()
    }
}

fn registry(src: &str, regressed: bool, flaky: bool) -> String {
    // The team's quality bar for teacache, on every night.
    let mut s = src.replacen(
        "[features.teacache]\n",
        "[features.teacache]\nthresholds = { mean = 0.004, fail_mean = 0.008 }\n",
        1,
    );
    if regressed {
        s = s.replacen(
            r#"args = ["--cache-backend", "tea_cache"]"#,
            r#"args = ["--cache-backend", "tea_cache", "--tea-cache-threshold", "50"]"#,
            1,
        );
    }
    if flaky {
        s = s.replacen(
            r#"args = ["--cache-backend", "cache_dit"]"#,
            r#"args = ["--cache-backend", "cache_dit_v2"]"#,
            1,
        );
    }
    assert_ne!(s, src);
    s
}

/// The real runs, then the nights.
fn synthetic() -> &'static Synthetic {
    static S: OnceLock<Synthetic> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let shipped =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/features.toml"))
                .expect("features.toml");
        let variants = [(false, false), (false, true), (true, false), (true, true)];
        let mut real: Vec<Vec<PathBuf>> = vec![Vec::new(); variants.len()];
        for (v, (regressed, flaky)) in variants.into_iter().enumerate() {
            let toml = root.join(format!("registry_{v}.toml"));
            std::fs::write(&toml, registry(&shipped, regressed, flaky)).expect("registry");
        }
        // Interleaved, so no registry's runs share one stretch of machine load.
        for k in 0..3 {
            for (v, runs) in real.iter_mut().enumerate() {
                let toml = root.join(format!("registry_{v}.toml"));
                let out = root.join(format!("real_{v}_{k}"));
                let o = compat()
                    .args(["--features"])
                    .arg(&toml)
                    .args([
                        "run",
                        "--baseline",
                        "cfg_parallel",
                        "--addons",
                        "teacache",
                        "cache_dit",
                    ])
                    .args([
                        "--num-prompts",
                        "3",
                        "--height",
                        "64",
                        "--width",
                        "64",
                        "--steps",
                        "8",
                    ])
                    .args(["--gpus", "2", "--output-dir"])
                    .arg(&out)
                    .args(["--analyze", "--html"])
                    .output()
                    .expect("run");
                // Exit 1 is a FAIL or ERROR: expected on the bad nights.
                assert!(o.status.code().is_some_and(|c| c <= 1), "{o:?}");
                runs.push(out.join("cfg_parallel"));
            }
        }
        let read = |p: &Path| -> Value {
            serde_json::from_str(&std::fs::read_to_string(p.join("report.json")).expect("report"))
                .expect("json")
        };
        let reports: Vec<Vec<Value>> = real
            .iter()
            .map(|rs| rs.iter().map(|p| read(p)).collect())
            .collect();
        // The variants in which a config has tonight's arguments.
        let same_args = |config: &str, v: usize| -> Vec<usize> {
            match config {
                "cfg_parallel+teacache" => vec![v & 2, (v & 2) | 1],
                "cfg_parallel+cache_dit" => vec![v & 1, (v & 1) | 2],
                _ => vec![0, 1, 2, 3],
            }
        };
        for i in 0..NIGHTS {
            if MISSING.contains(&i) {
                continue;
            }
            let v = usize::from(i >= REGRESSION) * 2 + usize::from(FLAKY.contains(&i));
            let k = pick(i, 0, 3);
            let src = &real[v][k];
            let mut r = reports[v][k].clone();
            for (salt, c) in r["results"]
                .as_array_mut()
                .expect("results")
                .iter_mut()
                .enumerate()
            {
                let name = c["name"].as_str().expect("name").to_string();
                let pool: Vec<&Value> = same_args(&name, v)
                    .into_iter()
                    .flat_map(|w| reports[w].iter())
                    .collect();
                let from = pool[pick(i, salt + 1, pool.len())];
                if let Some(e) = from["results"]
                    .as_array()
                    .and_then(|rs| rs.iter().find(|e| e["name"] == name.as_str()))
                {
                    *c = e.clone();
                }
            }
            r["generated"] = Value::from(generated(i));
            r["run"]["created"] = Value::from(generated(i));
            for c in r["results"].as_array_mut().expect("results") {
                if let Some(e) = c.get_mut("engine").filter(|e| e.is_object()) {
                    e["commit"] = Value::from(commit(i));
                }
            }
            let night = root.join("nights").join(format!("night_{i:02}"));
            std::fs::create_dir_all(&night).expect("mkdir");
            std::fs::write(
                night.join("report.json"),
                serde_json::to_vec(&r).expect("json"),
            )
            .expect("write");
            std::fs::copy(src.join("diff_report.html"), night.join("diff_report.html"))
                .expect("copy page");
        }
        Synthetic { _dir: dir, root }
    })
}

fn changes_of<'a>(h: &'a Value, config: &str) -> Vec<&'a Value> {
    h["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["config"] == config)
        .collect()
}

#[test]
fn the_injected_regression_and_the_flaky_config_are_named_and_nothing_else() {
    let s = synthetic();
    let site = s.root.join("site");
    let md = s.root.join("summary.md");
    let o = compat()
        .arg("history")
        .arg(s.root.join("nights"))
        .arg("--out")
        .arg(&site)
        .arg("--markdown")
        .arg(&md)
        .output()
        .expect("history");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let h: Value = serde_json::from_slice(&std::fs::read(site.join("history.json")).expect("json"))
        .expect("parse");
    assert_eq!(
        h["runs"].as_array().map(Vec::len),
        Some(NIGHTS - MISSING.len())
    );

    // The regression: one status change, on night 42, naming both nights'
    // engine commits; plus the quality level it moved to, on the same night.
    let tea = changes_of(&h, "cfg_parallel+teacache");
    let status: Vec<&&Value> = tea.iter().filter(|c| c["kind"] == "status").collect();
    assert_eq!(status.len(), 1, "{tea:#?}");
    let c = status[0];
    assert_eq!(c["direction"], "regression");
    assert_eq!(
        (c["from"].as_str(), c["to"].as_str()),
        (Some("PASS"), Some("FAIL"))
    );
    assert_eq!(c["first_bad"]["generated"], generated(REGRESSION).as_str());
    assert_eq!(c["first_bad"]["engine_commit"], commit(REGRESSION).as_str());
    assert_eq!(
        c["last_good"]["generated"],
        generated(REGRESSION - 1).as_str()
    );
    assert_eq!(
        c["last_good"]["engine_commit"],
        commit(REGRESSION - 1).as_str()
    );
    assert_eq!(c["first_bad"]["engine_version"], "0.1.0");
    assert!(
        c["first_bad"]["diff_report"]
            .as_str()
            .is_some_and(|d| d.ends_with("night_42/diff_report.html"))
    );
    // The raised threshold also skips more steps: the images move further
    // from the baseline's (deterministic: on night 42 exactly) and it runs
    // faster (real timings on a shared machine: the fitted level may start a
    // night or two off, never elsewhere, and is an improvement).
    let night_of = |c: &Value| {
        (0..NIGHTS)
            .find(|i| c["first_bad"]["generated"] == generated(*i).as_str())
            .expect("a night")
    };
    for c in &tea {
        match c["kind"].as_str() {
            Some("status" | "quality") => assert_eq!(night_of(c), REGRESSION, "{c:#}"),
            Some("speed") => {
                assert_eq!(c["direction"], "improvement", "{c:#}");
                assert!(night_of(c).abs_diff(REGRESSION) <= 3, "{c:#}");
            }
            _ => panic!("no other change on teacache: {c:#}"),
        }
    }

    // The flaky config: labelled, with its flips, and no regression.
    let dit = changes_of(&h, "cfg_parallel+cache_dit");
    assert_eq!(dit.len(), 1, "{dit:#?}");
    assert_eq!(dit[0]["kind"], "flaky");
    assert_eq!(dit[0]["flips"], 8, "4 bounces (25-26 is one) out and back");
    assert_eq!(dit[0]["first_bad"]["generated"], generated(12).as_str());

    // No false step anywhere else (real timings of eight runs, 58 nights).
    for other in ["baseline", "cfg_parallel"] {
        assert_eq!(changes_of(&h, other), Vec::<&Value>::new(), "{other}");
    }
    assert!(h["notes"].as_array().expect("notes").iter().any(|n| {
        n.as_str()
            .is_some_and(|n| n.contains("no run between") && n.contains(&generated(32)))
    }));

    // The terminal and Markdown summaries say the same.
    assert!(
        stdout.contains("cfg_parallel+teacache PASS → FAIL, first bad"),
        "{stdout}"
    );
    assert!(
        stdout.contains("cfg_parallel+cache_dit is flaky: 8 status flips"),
        "{stdout}"
    );
    let md = std::fs::read_to_string(&md).expect("markdown");
    assert!(md.contains("## compat history"), "{md}");
    assert!(
        md.contains("PASS → FAIL") && md.contains("**Flaky**"),
        "{md}"
    );
    let page = std::fs::read_to_string(site.join("index.html")).expect("page");
    assert!(page.contains("never mixed") && page.contains("cfg_parallel+teacache"));

    // Cost next to speed: every night's bill, the newest against the one
    // before it of the same settings, on the page's nights table too.
    for r in h["runs"].as_array().expect("runs") {
        let c = &r["cost"];
        assert!(c["gpu_seconds"].as_f64().is_some_and(|x| x > 0.0), "{r}");
        assert_eq!(c["loads"], 4, "four configurations, one load each: {r}");
    }
    let newest = h["runs"].as_array().and_then(|r| r.last()).expect("newest");
    let line = format!(
        "cost of the newest run: {:.1} GPU-s, 4 model load(s), 0 avoided",
        newest["cost"]["gpu_seconds"].as_f64().unwrap_or_default()
    );
    assert!(
        stdout.contains(&line) && stdout.contains("(same settings): "),
        "{stdout}"
    );
    assert!(md.contains("cost of the newest run: "), "{md}");
    assert!(page.contains("run GPU-s"), "the nights table's column");
}

fn gate(paths: &[PathBuf]) -> (Option<i32>, String) {
    let o = compat()
        .arg("history")
        .args(paths)
        .arg("--fail-on-new-regression")
        .output()
        .expect("history");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

#[test]
fn the_gate_trips_only_on_the_night_a_regression_is_new() {
    let s = synthetic();
    let (code, out) = gate(&s.nights_upto(REGRESSION));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("new since the previous run"), "{out}");
    // The next night, the failure is known: no alarm.
    assert_eq!(gate(&s.nights_upto(REGRESSION + 1)).0, Some(0));
    // A flaky config failing tonight is not a regression.
    let (code, out) = gate(&s.nights_upto(50));
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn add_builds_the_same_history_without_the_old_reports() {
    let s = synthetic();
    let tmp = tempfile::tempdir().expect("tempdir");
    let site = tmp.path().join("site");
    // The first 40 nights' reports, copied so they can be deleted after.
    let old = tmp.path().join("old");
    for n in s.nights_upto(40) {
        let to = old.join(n.file_name().expect("name"));
        std::fs::create_dir_all(&to).expect("mkdir");
        std::fs::copy(n.join("report.json"), to.join("report.json")).expect("copy");
    }
    compat()
        .arg("history")
        .arg(&old)
        .arg("--out")
        .arg(&site)
        .assert()
        .success();
    std::fs::remove_dir_all(&old).expect("old reports gone");
    compat()
        .args(["history", "add"])
        .arg(s.night(41))
        .arg("--out")
        .arg(&site)
        .assert()
        .success();
    // Tonight brings the regression: the gate trips.
    compat()
        .args(["history", "add"])
        .arg(s.night(REGRESSION).join("report.json"))
        .arg("--out")
        .arg(&site)
        .arg("--fail-on-new-regression")
        .assert()
        .code(1);
    let added: Value =
        serde_json::from_slice(&std::fs::read(site.join("history.json")).expect("read"))
            .expect("json");
    let direct = compat()
        .arg("history")
        .args(s.nights_upto(REGRESSION))
        .arg("--json")
        .output()
        .expect("history");
    let direct: Value = serde_json::from_slice(&direct.stdout).expect("json");
    let strip = |h: &Value| {
        let mut c = h["changes"].clone();
        for x in c.as_array_mut().expect("changes") {
            for k in ["first_bad", "last_good"] {
                if let Some(r) = x.get_mut(k).filter(|r| r.is_object()) {
                    r.as_object_mut().expect("obj").remove("diff_report");
                }
            }
        }
        c
    };
    assert_eq!(strip(&added), strip(&direct));
    assert_eq!(added["runs"].as_array().map(Vec::len), Some(41));
    // Adding the same report again changes nothing.
    compat()
        .args(["history", "add"])
        .arg(s.night(REGRESSION))
        .arg("--out")
        .arg(&site)
        .assert()
        .success();
    let again: Value =
        serde_json::from_slice(&std::fs::read(site.join("history.json")).expect("read"))
            .expect("json");
    assert_eq!(again["runs"].as_array().map(Vec::len), Some(41));
}

#[test]
fn hostile_inputs_are_notes_or_clear_errors_never_panics() {
    let s = synthetic();
    let tmp = tempfile::tempdir().expect("tempdir");
    let tree = tmp.path().join("tree");
    for i in [0, 1, 2, 3] {
        let to = tree.join(format!("n{i}"));
        std::fs::create_dir_all(&to).expect("mkdir");
        std::fs::copy(s.night(i).join("report.json"), to.join("report.json")).expect("copy");
    }
    // Garbage, an empty file, and a report of another model between them.
    std::fs::create_dir_all(tree.join("garbage")).expect("mkdir");
    std::fs::write(tree.join("garbage/report.json"), b"\x00{not json").expect("write");
    std::fs::create_dir_all(tree.join("empty")).expect("mkdir");
    std::fs::write(tree.join("empty/report.json"), b"").expect("write");
    let mut other: Value =
        serde_json::from_slice(&std::fs::read(s.night(2).join("report.json")).expect("read"))
            .expect("json");
    other["run"]["model"] = Value::from("another/model");
    other["generated"] = Value::from(generated(2).replace("02:", "03:"));
    for c in other["results"].as_array_mut().expect("results") {
        c["compat_status"] = Value::from("ERROR");
    }
    std::fs::create_dir_all(tree.join("other")).expect("mkdir");
    std::fs::write(tree.join("other/report.json"), other.to_string()).expect("write");

    let o = compat()
        .arg("history")
        .arg(&tree)
        .arg("--json")
        .output()
        .expect("history");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let h: Value = serde_json::from_slice(&o.stdout).expect("json");
    let notes = h["notes"].to_string();
    assert!(
        notes.contains("garbage/report.json: not a compat report.json"),
        "{notes}"
    );
    assert!(notes.contains("empty/report.json"), "{notes}");
    assert!(notes.contains("2 different settings"), "{notes}");
    // Another model's ERRORs are its own series: no change in ours.
    assert_eq!(h["changes"], Value::Array(vec![]), "{:#}", h["changes"]);

    // Nothing readable, no such path, a history.json that is not one: exit 2.
    compat()
        .arg("history")
        .arg(tree.join("garbage"))
        .assert()
        .code(2);
    compat()
        .arg("history")
        .arg(tmp.path().join("nope"))
        .assert()
        .code(2);
    let site = tmp.path().join("site");
    std::fs::create_dir_all(&site).expect("mkdir");
    std::fs::write(site.join("history.json"), b"[1,2").expect("write");
    let o = compat()
        .args(["history", "add"])
        .arg(s.night(0))
        .arg("--out")
        .arg(&site)
        .output()
        .expect("add");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is not a compat history.json"), "{err}");
    assert_eq!(
        std::fs::read(site.join("history.json")).expect("kept"),
        b"[1,2",
        "nothing lost"
    );
    // --since that leaves nothing, or with `add` (it would drop runs for good).
    compat()
        .arg("history")
        .arg(&tree)
        .args(["--since", "2099-01-01"])
        .assert()
        .code(2);
    compat()
        .args(["history", "add"])
        .arg(s.night(0))
        .arg("--out")
        .arg(&site)
        .args(["--since", "2026-01-01"])
        .assert()
        .code(2);
    // `add` without --out is a usage error.
    compat()
        .args(["history", "add"])
        .arg(s.night(0))
        .assert()
        .code(2);
}
