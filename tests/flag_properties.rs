//! Arbitrary numbers in every numeric flag of `compat run`, through the real
//! binary (issue 19): a clear refusal (exit 2) or a plan (exit 0), never a
//! panic (101), an abort (134) or a hang.

use std::time::Duration;

use assert_cmd::Command;
use proptest::prelude::*;

/// Numbers users and scripts really pass by mistake: the edges of every
/// integer width, negative and non-finite values, exponents, garbage.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| x.to_string()),
        prop::sample::select(EDGES).prop_map(str::to_string),
    ]
}

const FLAGS: &[&str] = &[
    "--gpus",
    "--steps",
    "--height",
    "--width",
    "--cfg-scale",
    "--num-prompts",
    "--seed",
    "--warmup",
    "--jobs",
    "--timeout",
];

const EDGES: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "1e20",
    "1e400",
    "-1e30",
    "NaN",
    "inf",
    "-inf",
    "0x10",
    "",
    " 3",
];

fn run(args: &[String]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    Command::cargo_bin("compat")
        .expect("binary")
        .current_dir(dir.path())
        .env_remove("CUDA_VISIBLE_DEVICES")
        .args([
            "run",
            "--dry-run",
            "--baseline",
            "cfg_parallel",
            "--addons",
            "teacache",
            "ulysses",
        ])
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs")
}

/// Every flag alone at every edge value: the sweep that found `--gpus
/// 18446744073709551615` panicking with "capacity overflow".
#[test]
fn every_numeric_flag_at_every_edge_is_a_plan_or_a_refusal() {
    for flag in FLAGS {
        for v in EDGES {
            let out = run(&[format!("{flag}={v}")]);
            assert!(
                matches!(out.status.code(), Some(0) | Some(2)),
                "{flag}={v}: exit {:?}\n{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn numeric_flags_never_panic_abort_or_hang(
        values in prop::collection::vec(number(), FLAGS.len()),
        mask in any::<u16>(),
    ) {
        // `--flag=value`: a leading '-' is the value, not a flag.
        let args: Vec<String> = FLAGS
            .iter()
            .zip(&values)
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, (flag, v))| format!("{flag}={v}"))
            .collect();
        let out = run(&args);
        let code = out.status.code();
        prop_assert!(
            matches!(code, Some(0) | Some(2)),
            "exit {:?} for {:?}\n{}",
            code,
            values,
            String::from_utf8_lossy(&out.stderr)
        );
        prop_assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}
