//! End-to-end tests of `compat run --executor slurm` against a real one-node
//! Slurm cluster with 8 simulated GPUs (scripts/slurm-up.sh).
//!
//! Ignored unless asked for (`cargo test` lists them as ignored, never as
//! passed): they need the cluster up and SLURM_CONF pointing at it. CI runs:
//!
//! ```sh
//! sudo scripts/slurm-up.sh && export SLURM_CONF=/tmp/slurmci/slurm.conf
//! cargo test --test slurm -- --ignored
//! ```

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn configs(m: &Value) -> &Vec<Value> {
    m["configs"].as_array().expect("configs")
}

/// The devices Slurm gave a configuration.
fn devices_of(c: &Value) -> BTreeSet<String> {
    c["devices"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
#[ignore = "needs a Slurm cluster (scripts/slurm-up.sh)"]
fn matrix_runs_as_slurm_jobs_on_disjoint_gpus() {
    let env = Env::new();
    env.run(&[
        "--baseline",
        "par",
        "--addons",
        "slow",
        "lossy",
        "crash",
        "--executor",
        "slurm",
    ])
    .assert()
    .code(1); // the crash config fails; the rest complete
    let m = env.manifest("par");
    assert_eq!(m["executor"], "slurm");
    assert_eq!(m["devices"]["source"], "slurm");
    assert_eq!(m["devices"]["count"], 8);
    for c in configs(&m) {
        let name = c["name"].as_str().unwrap_or("");
        assert!(
            c["slurm_job_id"].as_str().is_some_and(|id| !id.is_empty()),
            "{name}: {c}"
        );
        assert_eq!(
            devices_of(c).len() as u64,
            c["gpus"].as_u64().unwrap_or(0),
            "{name}: {c}"
        );
        let info = read_json(&env.out("par").join(name).join("config_info.json"));
        assert_eq!(info["slurm_job_id"], c["slurm_job_id"]);
        if name == "par+crash" {
            assert_eq!(c["state"], "failed");
            assert_eq!(c["exit_code"], 1);
            assert!(
                c["error"]
                    .as_str()
                    .unwrap_or("")
                    .contains("CUDA out of memory"),
                "{c}"
            );
        } else {
            assert_eq!(c["state"], "completed", "{name}: {c}");
        }
    }
    // Configurations that ran side by side got disjoint GPUs from Slurm.
    for a in configs(&m) {
        for other in a["concurrent_with"].as_array().into_iter().flatten() {
            let b = config(&m, other.as_str().unwrap_or(""));
            assert!(
                devices_of(a).is_disjoint(&devices_of(b)),
                "{} and {} shared a GPU",
                a["name"],
                b["name"]
            );
        }
    }
    assert!(
        configs(&m).iter().any(|c| c["concurrent_with"]
            .as_array()
            .is_some_and(|v| !v.is_empty())),
        "Slurm ran nothing concurrently: {m}"
    );
}

#[test]
#[ignore = "needs a Slurm cluster (scripts/slurm-up.sh)"]
fn a_job_slurm_refuses_is_an_error_with_slurms_message() {
    let env = Env::new();
    // Claim 32 GPUs so the matrix does not SKIP par+huge; Slurm's node has 8.
    env.run(&[
        "--baseline",
        "par",
        "--addons",
        "huge",
        "--executor",
        "slurm",
        "--gpus",
        "32",
    ])
    .assert()
    .code(1);
    let m = env.manifest("par");
    let big = config(&m, "par+huge");
    assert_eq!(big["state"], "failed");
    let err = big["error"].as_str().unwrap_or("");
    assert!(
        err.contains("srun: error"),
        "Slurm's own message expected: {err}"
    );
    assert_eq!(config(&m, "par")["state"], "completed");
}

#[test]
#[ignore = "needs a Slurm cluster (scripts/slurm-up.sh)"]
fn ctrl_c_cancels_the_runs_slurm_jobs() {
    let env = Env::new();
    let child = env.spawn_run(&[
        "--baseline",
        "hang",
        "--addons",
        "par",
        "--executor",
        "slurm",
    ]);
    let pid = child.id();
    // Wait until Slurm runs the hanging jobs.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "jobs never started");
        let running = squeue(&format!("compat-{pid}-"));
        if running.len() >= 2 && running.iter().all(|(_, state)| state == "RUNNING") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = interrupt(child);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !squeue(&format!("compat-{pid}-")).is_empty() {
        assert!(
            Instant::now() < deadline,
            "jobs still in the queue after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let m = env.manifest("hang");
    assert_eq!(config(&m, "hang")["state"], "interrupted", "{m}");
    assert_eq!(config(&m, "par+hang")["state"], "interrupted", "{m}");
}

/// (job name, state) of queued or running jobs whose name starts with `prefix`.
/// A shared model load under Slurm (docs/sessions.md): the session is one
/// job with its configurations' time limit times its runs, and every member
/// records that job.
#[test]
#[ignore = "needs a Slurm cluster (scripts/slurm-up.sh)"]
fn a_session_is_one_slurm_job() {
    let env = Env::new();
    let text = std::fs::read_to_string(env.path().join("features.toml")).expect("registry");
    let text = text.replacen(
        "model = \"fake-model\"\n",
        "model = \"fake-model\"\nswitchable = [\"lossy\", \"slow\"]\n",
        1,
    );
    std::fs::write(env.path().join("sessions.toml"), text).expect("write");
    env.run(&[
        "--features",
        "sessions.toml",
        "--addons",
        "lossy",
        "slow",
        "--executor",
        "slurm",
        "--slurm-time",
        "2",
    ])
    .assert()
    .code(0);
    let m = env.manifest("baseline");
    assert_eq!(m["sessions"][0]["check"]["result"], "identical", "{m}");
    let id = config(&m, "baseline")["slurm_job_id"].clone();
    assert!(id.as_str().is_some_and(|x| !x.is_empty()), "{m}");
    for name in ["baseline", "lossy", "slow"] {
        let c = config(&m, name);
        assert_eq!(c["state"], "completed", "{name}: {c}");
        assert_eq!(c["slurm_job_id"], id, "{name}: one job for the session");
        assert_eq!(devices_of(c).len(), 1, "{name}: {c}");
    }
    // One after another inside the job, not each from the job's start.
    let at = |c: &str, k: &str| config(&m, c)[k].as_str().unwrap_or_default().to_string();
    assert!(at("baseline", "finished") <= at("lossy", "started"), "{m}");
    assert!(at("lossy", "finished") <= at("slow", "started"), "{m}");
    assert!(
        config(&m, "slow")["concurrent_with"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{m}"
    );
    // Three configurations and the check, two minutes each: the job was
    // given eight (slurmctld keeps finished jobs for MinJobAge, an hour).
    let job = std::process::Command::new("scontrol")
        .args(["show", "job", id.as_str().unwrap_or("")])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    assert!(job.contains("TimeLimit=00:08:00"), "{job}");
}

fn squeue(prefix: &str) -> Vec<(String, String)> {
    let out = std::process::Command::new("squeue")
        .args(["-h", "-o", "%j %T"])
        .output()
        .expect("squeue runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(n, s)| (n.to_string(), s.trim().to_string()))
        .collect()
}
