//! The embedded reference engine (DESIGN §8): `compat generate`.
//! Placeholder until the engine lands (issue 3).

use std::path::PathBuf;

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
}

pub fn main(_args: GenerateArgs) -> anyhow::Result<()> {
    anyhow::bail!("the reference engine is not built yet")
}
