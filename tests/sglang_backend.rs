//! The SGLang backend (backends/sglang/, sglang 0.5.23) as compat plans it:
//! the dry run shows SGLang's own flags, the automatic acceleration pinned off
//! in its command, and SKIPs with SGLang's reasons -- from features.toml
//! (`--no-probe`), and from the adapter's probe answering through the stand-in
//! sglang (tests/python/standin) when one is importable.

use std::path::Path;

use assert_cmd::Command;

const PINS: &str = "--performance-mode manual --enable-cfg-parallel false --encoder-parallel replicate --warmup-mode off";

struct DryRun {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl DryRun {
    /// The argv line printed under the config named `name`.
    fn argv_of(&self, name: &str) -> &str {
        let mut lines = self.stdout.lines();
        while let Some(line) = lines.next() {
            if line.split_whitespace().nth(1) == Some(name) && !line.contains("SKIP") {
                return lines.next().map(str::trim).unwrap_or("");
            }
        }
        panic!("no config {name} in:\n{}", self.stdout)
    }

    fn line_of(&self, name: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no config {name} in:\n{}", self.stdout))
    }
}

fn dry_run(dir: &Path, args: &[&str], pythonpath: Option<&Path>) -> DryRun {
    let mut c = Command::cargo_bin("compat").expect("binary");
    c.current_dir(dir)
        .env_remove("CUDA_VISIBLE_DEVICES")
        .env_remove("PYTHONPATH")
        .args(["run", "--dry-run", "--backend", "sglang", "--gpus", "4"])
        .args(args);
    if let Some(path) = pythonpath {
        c.env("PYTHONPATH", path);
    }
    let out = c.output().expect("compat runs");
    DryRun {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn dry_run_shows_sglangs_flags_and_the_pinned_off_auto_features() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dry_run(
        dir.path(),
        &[
            "--no-probe",
            "--baseline",
            "cfg_parallel",
            "--addons",
            "cache_dit",
            "ulysses",
        ],
        None,
    );
    assert_eq!(t.code, Some(0), "{}\n{}", t.stdout, t.stderr);
    let baseline = t.argv_of("baseline");
    assert!(
        baseline.starts_with(
            "python3 backends/sglang/batch_text_to_image.py --model=Qwen/Qwen-Image-2512 "
        ),
        "{baseline}"
    );
    // compat's negative prompt always passed, "" included
    assert!(baseline.contains(" --negative-prompt= "), "{baseline}");
    assert!(
        baseline.ends_with(&format!("--num-gpus 1 {PINS}")),
        "{baseline}"
    );
    assert_eq!(
        t.argv_of("cfg_parallel")
            .rsplit_once(" --num-gpus ")
            .map(|x| x.1),
        Some(format!("2 {PINS} --cfg-parallel-size 2").as_str())
    );
    assert!(t.argv_of("cfg_parallel+cache_dit").ends_with(&format!(
        "--num-gpus 2 {PINS} --cfg-parallel-size 2 --enable-cache-dit"
    )));
    assert!(t.argv_of("cfg_parallel+ulysses").ends_with(&format!(
        "--num-gpus 4 {PINS} --cfg-parallel-size 2 --ulysses-degree 2"
    )));
    assert!(
        t.stderr.contains("SKIPs come from features.toml alone"),
        "{}",
        t.stderr
    );
    assert!(
        !dir.path().join("compat_results").exists(),
        "a dry run writes nothing"
    );
}

#[test]
fn dry_run_skips_with_sglangs_reasons() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dry_run(
        dir.path(),
        &[
            "--no-probe",
            "--baseline",
            "cfg_parallel",
            "--addons",
            "cache_dit",
            "ulysses",
            "teacache",
            "magcache",
            "eager",
            "vae_patch_parallel",
            "group_offload",
            "compile",
            "fp8",
            "tp",
        ],
        None,
    );
    assert_eq!(t.code, Some(0), "{}\n{}", t.stdout, t.stderr);
    let expect = [
        (
            "cfg_parallel+teacache",
            "sglang 0.5.23: --enable-teacache is a silent no-op: QwenImage2512SamplingParams has no teacache_params (configs/sample/qwenimage.py:18-20)",
        ),
        ("cfg_parallel+magcache", "sglang 0.5.23 has no MagCache"),
        (
            "cfg_parallel+eager",
            "SGLang runs eager unless torch.compile is asked for",
        ),
        (
            "cfg_parallel+vae_patch_parallel",
            "sglang 0.5.23 has no VAE patch parallelism",
        ),
        (
            "cfg_parallel+group_offload",
            "it streams DiT layers with --dit-layerwise-offload",
        ),
    ];
    for (config, reason) in expect {
        let line = t.line_of(config);
        assert!(line.contains("SKIP: sglang: "), "{line}");
        assert!(line.contains(reason), "{line}");
    }
    assert!(
        t.argv_of("cfg_parallel+compile")
            .ends_with("--cfg-parallel-size 2 --enable-torch-compile")
    );
    assert!(
        t.argv_of("cfg_parallel+fp8")
            .ends_with("--cfg-parallel-size 2 --quantization fp8")
    );
    assert!(
        t.argv_of("cfg_parallel+tp")
            .ends_with("--cfg-parallel-size 2 --tp-size 2")
    );

    // FLUX.1-dev has no CFG to split: SGLang's own note (server_args.py:1684-1687).
    let flux = dry_run(
        dir.path(),
        &[
            "--no-probe",
            "--model",
            "black-forest-labs/FLUX.1-dev",
            "--baseline",
            "cfg_parallel",
        ],
        None,
    );
    assert_eq!(flux.code, Some(0), "{}\n{}", flux.stdout, flux.stderr);
    assert!(
        flux.line_of("cfg_parallel")
            .contains("FLUX.1-dev is guidance-distilled, its defaults have no negative prompt"),
        "{}",
        flux.stdout
    );
}

/// The probe (docs/probe.md) through the adapter and the stand-in sglang:
/// the engine's word decides, e.g. TeaCache on Qwen-Image-2512.
#[test]
fn the_adapters_probe_decides_where_sglang_answers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let standin = root.join("tests/python/standin");
    // The repository root: the probe's argv names the script by relative path.
    let t = dry_run(
        root,
        &["--baseline", "ulysses", "--addons", "teacache", "compile"],
        Some(&standin),
    );
    assert_eq!(t.code, Some(0), "{}\n{}", t.stdout, t.stderr);
    assert!(
        t.stderr.contains("engine: sglang 0.5.23 (probed"),
        "{}",
        t.stderr
    );
    let teacache = t.line_of("teacache+ulysses");
    assert!(
        teacache.contains("SKIP: sglang 0.5.23: Qwen/Qwen-Image-2512: QwenImage2512SamplingParams has no teacache_params"),
        "{teacache}"
    );
    assert!(
        t.argv_of("ulysses+compile")
            .ends_with("--ulysses-degree 2 --enable-torch-compile")
    );
    assert!(
        !root.join("compat_results").join("ulysses").exists(),
        "a dry run writes nothing"
    );
}
