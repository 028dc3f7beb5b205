//! `compat generate`'s flags, resolved and validated into the reference
//! engine's [`Settings`] before any work starts: a bad flag or an impossible
//! topology fails here.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::exit::usage;
use crate::reference::{CacheBackend, DOWNSAMPLE, HEADS, Settings, Topology, visible_devices};

/// `compat generate`: the vLLM-Omni batch-script flags.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// One prompt per line
    #[arg(long)]
    pub prompt_file: PathBuf,
    /// Output directory for prompt_NN.png and results.jsonl
    #[arg(long)]
    pub output: PathBuf,
    #[arg(long, default_value_t = 20)]
    pub num_inference_steps: u32,
    #[arg(long, default_value_t = 256)]
    pub height: u32,
    #[arg(long, default_value_t = 256)]
    pub width: u32,
    #[arg(long, default_value_t = 4.0)]
    pub cfg_scale: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value = "")]
    pub negative_prompt: String,
    #[arg(long, default_value_t = 1)]
    pub cfg_parallel_size: usize,
    /// tea_cache or cache_dit
    #[arg(long)]
    pub cache_backend: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub ulysses_degree: usize,
    #[arg(long, default_value_t = 1)]
    pub ring_degree: usize,
    #[arg(long, default_value_t = 1)]
    pub tensor_parallel_size: usize,
    /// Untimed generations before the timed ones
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// TeaCache threshold (vLLM-Omni's rel_l1_thresh); 0 computes every step,
    /// which with the traces in results.jsonl calibrates the polynomial
    #[arg(long, hide = true)]
    pub tea_cache_threshold: Option<f64>,
}

pub fn command(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let devices = visible_devices(
        std::env::var("COMPAT_DEVICES").ok(),
        std::env::var("CUDA_VISIBLE_DEVICES").ok(),
    );
    crate::reference::main(resolve_with(args, devices)?)?;
    Ok(ExitCode::SUCCESS)
}

/// The flags' values checked one by one; returns the cache backend.
fn check_values(a: &GenerateArgs) -> anyhow::Result<Option<CacheBackend>> {
    if a.num_inference_steps == 0 || a.num_inference_steps > 1000 {
        return Err(usage(format!(
            "--num-inference-steps must be 1..=1000, got {}",
            a.num_inference_steps
        )));
    }
    for (flag, v) in [("--height", a.height), ("--width", a.width)] {
        if v == 0 || !v.is_multiple_of(DOWNSAMPLE as u32) || v > 2048 {
            return Err(usage(format!(
                "{flag} must be a multiple of {DOWNSAMPLE} between {DOWNSAMPLE} and 2048 (the latent is {DOWNSAMPLE}× downsampled), got {v}"
            )));
        }
    }
    if !a.cfg_scale.is_finite() || a.cfg_scale < 0.0 {
        return Err(usage(format!(
            "--cfg-scale must be a non-negative number, got {}",
            a.cfg_scale
        )));
    }
    let cache = a
        .cache_backend
        .as_deref()
        .filter(|s| !s.is_empty() && *s != "none")
        .map(str::parse::<CacheBackend>)
        .transpose()
        .map_err(usage)?;
    for (flag, v) in [
        ("--cfg-parallel-size", a.cfg_parallel_size),
        ("--ulysses-degree", a.ulysses_degree),
        ("--ring-degree", a.ring_degree),
        ("--tensor-parallel-size", a.tensor_parallel_size),
    ] {
        if v == 0 {
            return Err(usage(format!("{flag} must be at least 1")));
        }
    }
    if a.cfg_parallel_size > 2 {
        return Err(usage(format!(
            "--cfg-parallel-size must be 1 or 2 (there are two guidance branches), got {}",
            a.cfg_parallel_size
        )));
    }
    if a.cfg_parallel_size == 2 && a.cfg_scale <= 1.0 {
        return Err(usage(format!(
            "--cfg-parallel-size 2 needs classifier-free guidance (--cfg-scale > 1), got --cfg-scale {}",
            a.cfg_scale
        )));
    }
    Ok(cache)
}

/// The parallel topology, checked against the visible devices, the heads
/// and the latent tokens.
fn topology(a: &GenerateArgs, devices: usize, source: &str) -> anyhow::Result<Topology> {
    let topology = Topology {
        cfg: a.cfg_parallel_size,
        ulysses: a.ulysses_degree,
        ring: a.ring_degree,
        tp: a.tensor_parallel_size,
    };
    // The product of four numbers from the command line: checked, a
    // product past usize is more workers than any device count.
    let workers = [topology.ulysses, topology.ring, topology.tp]
        .iter()
        .try_fold(topology.cfg, |p, &d| p.checked_mul(d))
        .unwrap_or(usize::MAX);
    if workers > devices {
        anyhow::bail!(
            "requested {workers} workers (cfg {} × ulysses {} × ring {} × tp {}) but only {devices} devices are visible ({source})",
            topology.cfg,
            topology.ulysses,
            topology.ring,
            topology.tp
        );
    }
    if !HEADS.is_multiple_of(topology.tp * topology.ulysses) {
        anyhow::bail!(
            "the model's {HEADS} attention heads cannot be split over tp {} × ulysses {}",
            topology.tp,
            topology.ulysses
        );
    }
    let tokens = (a.height as usize / DOWNSAMPLE) * (a.width as usize / DOWNSAMPLE);
    let sp = topology.ulysses * topology.ring;
    if !tokens.is_multiple_of(sp) {
        anyhow::bail!(
            "{tokens} latent tokens ({}×{} / {DOWNSAMPLE}²) cannot be split evenly over ulysses {} × ring {}",
            a.width,
            a.height,
            topology.ulysses,
            topology.ring
        );
    }
    Ok(topology)
}

/// The engine's settings from its flags and the visible devices (count, and
/// where the count came from).
pub fn resolve_with(
    a: GenerateArgs,
    (devices, source): (usize, String),
) -> anyhow::Result<Settings> {
    let cache = check_values(&a)?;
    let topology = topology(&a, devices, &source)?;
    Ok(Settings {
        prompt_file: a.prompt_file,
        output: a.output,
        steps: a.num_inference_steps as usize,
        height: a.height as usize,
        width: a.width as usize,
        cfg_scale: a.cfg_scale as f32,
        seed: a.seed,
        negative_prompt: a.negative_prompt,
        cache,
        topology,
        warmup: a.warmup,
        tea_threshold: a.tea_cache_threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: GenerateArgs,
    }

    fn parse(extra: &[&str]) -> GenerateArgs {
        let mut argv = vec!["x", "--prompt-file", "p.txt", "--output", "o"];
        argv.extend_from_slice(extra);
        Cli::parse_from(argv).args
    }

    #[test]
    fn oversubscription_is_refused_with_the_counts() {
        let err = resolve_with(
            parse(&["--cfg-parallel-size", "2", "--ulysses-degree", "2"]),
            (2, "COMPAT_DEVICES=0,1".into()),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "requested 4 workers (cfg 2 × ulysses 2 × ring 1 × tp 1) but only 2 devices are visible (COMPAT_DEVICES=0,1)"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        let dev = || (8, "test".to_string());
        assert!(
            resolve_with(parse(&["--ulysses-degree", "3"]), dev()).is_err(),
            "heads % 3"
        );
        assert!(resolve_with(parse(&["--height", "100"]), dev()).is_err());
        assert!(resolve_with(parse(&["--cache-backend", "magic"]), dev()).is_err());
        assert!(resolve_with(parse(&["--cache-backend", "cache_dit"]), dev()).is_ok());
        // Degrees whose product is past usize: refused, not an overflow.
        let huge = usize::MAX.to_string();
        let err = resolve_with(
            parse(&["--ulysses-degree", &huge, "--ring-degree", &huge]),
            dev(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("requested"), "{err}");
    }

    #[test]
    fn devices_come_from_the_environment() {
        assert_eq!(visible_devices(Some("0,1,2".into()), Some("0".into())).0, 3);
        assert_eq!(visible_devices(None, Some("3".into())).0, 1);
        assert!(visible_devices(Some(String::new()), None).0 >= 1);
    }
}
