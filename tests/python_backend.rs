//! Runs the vLLM-Omni batch script's own tests (Python unittest, against a
//! stand-in `vllm_omni` module) as part of `cargo test`.

#[test]
fn vllm_omni_batch_script_tests_pass() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::process::Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests/python"])
        .current_dir(root)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python tests failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
