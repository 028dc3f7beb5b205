//! Shared helpers of the end-to-end tests: a registry whose backend is the
//! test double (tests/fixtures/fake_backend.py), temporary run directories.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

pub fn fake_backend() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake_backend.py")
}

/// A registry whose backend is the test double; features that misbehave.
pub fn registry(dir: &Path) -> PathBuf {
    let text = format!(
        r#"
default_backend = "fake"

[backends.fake]
command = ["python3", "{backend}", "--prompt-file", "{{prompt_file}}", "--output", "{{output_dir}}",
           "--seed", "{{seed}}", "--negative-prompt", "{{negative_prompt}}"]
model = "fake-model"

[backends.fake.defaults]
num_prompts = 3
steps = 2

[features.par]
args = ["--par", "2"]
gpus = 2

[features.lossy]
args = ["--lossy"]
lossy = true
exclusive = "cache"
addon_only = true

[features.lossy2]
args = ["--lossy"]
lossy = true
exclusive = "cache"

[features.big]
args = ["--par", "4"]
gpus = 4

[features.huge]
args = ["--par", "16"]
gpus = 16

[features.crash]
args = ["--crash-after", "1"]

[features.hang]
args = ["--hang"]

[features.slow]
args = ["--slow", "0.4"]

[features.hostile]
args = ["--crash-after", "0", "--hostile"]

[features.noop]
args = ["--noop"]

[features.logonly]
args = ["--log-only", "--skip-prompt", "1"]
"#,
        backend = fake_backend().display()
    );
    let path = dir.join("features.toml");
    std::fs::write(&path, text).expect("write registry");
    path
}

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let env = Env {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        registry(env.dir.path());
        env
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn out(&self, baseline: &str) -> PathBuf {
        self.path().join("compat_results").join(baseline)
    }

    pub fn compat(&self) -> Command {
        let mut c = Command::cargo_bin("compat").expect("binary");
        c.current_dir(self.path())
            .env_remove("CUDA_VISIBLE_DEVICES");
        c
    }

    pub fn run(&self, args: &[&str]) -> Command {
        let mut c = self.compat();
        c.arg("run").args(args);
        c
    }

    pub fn manifest(&self, baseline: &str) -> Value {
        read_json(&self.out(baseline).join("manifest.json"))
    }
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("json")
}

pub fn config<'a>(manifest: &'a Value, name: &str) -> &'a Value {
    manifest["configs"]
        .as_array()
        .expect("configs")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no config {name} in {manifest}"))
}

pub fn red_of(path: &Path) -> u8 {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
        .get_pixel(0, 0)[0]
}

impl Env {
    /// Starts `compat run ARGS` in the background (for tests that interrupt it).
    pub fn spawn_run(&self, args: &[&str]) -> std::process::Child {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("compat"))
            .current_dir(self.path())
            .env_remove("CUDA_VISIBLE_DEVICES")
            .arg("run")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn compat")
    }

    /// Polls the run's manifest until `ready` holds for it (60 s at most).
    pub fn wait_for_manifest(
        &self,
        baseline: &str,
        what: &str,
        ready: impl Fn(&Value) -> bool,
    ) -> Value {
        let path = self.out(baseline).join("manifest.json");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting: {what}"
            );
            let m: Value = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(Value::Null);
            if ready(&m) {
                return m;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// The configs of a manifest in `state`.
pub fn in_state<'a>(m: &'a Value, state: &str) -> Vec<&'a Value> {
    m["configs"]
        .as_array()
        .map(|c| c.iter().filter(|c| c["state"] == state).collect())
        .unwrap_or_default()
}

/// Ctrl-C to a running compat, then its output.
pub fn interrupt(child: std::process::Child) -> std::process::Output {
    // SAFETY: sending a signal to our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    child.wait_with_output().expect("wait for compat")
}
