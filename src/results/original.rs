//! The original framework's `manifest.json`, read for what it says. Written
//! by `compatibility/run_compat_test.py` (R:400-426 at 7bd8f25f, branch
//! `compat` of github.com/wtomin/vllm-omni) as `json.dumps(manifest,
//! indent=2)`: the run's settings, `gpu_count`, and the configs by name only
//! (skipped ones included, which get no folder).

use serde::Deserialize;

use crate::settings::Settings;

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct OriginalManifest {
    pub baseline_feature: String,
    #[serde(default)]
    pub addons: Vec<String>,
    #[serde(default)]
    pub model: String,
    pub steps: u32,
    pub height: u32,
    pub width: u32,
    pub cfg_scale: f64,
    pub seed: u64,
    #[serde(default)]
    pub negative_prompt: String,
    /// As asked on the command line, not clamped to the prompt file (R:419):
    /// the prompt files on disk say how many ran.
    #[serde(default)]
    pub num_prompts: usize,
    /// `torch.cuda.device_count()`, 0 when it could not tell (R:303-314).
    #[serde(default)]
    pub gpu_count: usize,
    /// Config names, in the order they were planned.
    pub configs: Vec<String>,
    /// `datetime.now().isoformat()`, local time without a zone.
    #[serde(default)]
    pub created_at: String,
}

impl OriginalManifest {
    pub fn settings(&self) -> Settings {
        Settings {
            model: self.model.clone(),
            steps: self.steps,
            height: self.height,
            width: self.width,
            cfg_scale: self.cfg_scale,
            guidance_scale: None,
            seed: self.seed,
            negative_prompt: self.negative_prompt.clone(),
            // The original's batch script does no warm-up (B:358-421).
            warmup: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As R:408-425 writes it (key order, types, no trailing newline).
    pub(crate) const MANIFEST: &str = r#"{
  "baseline_feature": "cfg_parallel",
  "addons": [
    "teacache"
  ],
  "model": "Qwen/Qwen-Image-2512",
  "output_dir": "compat_results/cfg_parallel",
  "steps": 10,
  "height": 64,
  "width": 64,
  "cfg_scale": 4.0,
  "seed": 42,
  "negative_prompt": "low quality, blurry, distorted, watermark, noise",
  "num_prompts": 3,
  "gpu_count": 2,
  "configs": [
    "baseline",
    "cfg_parallel",
    "cfg_parallel+teacache"
  ],
  "created_at": "2026-03-23T16:30:00.123456"
}"#;

    #[test]
    fn reads_what_the_original_writes() {
        let m: OriginalManifest = serde_json::from_str(MANIFEST).expect("parses");
        assert_eq!(m.configs.len(), 3);
        assert_eq!(m.settings().steps, 10);
        assert_eq!(m.gpu_count, 2);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC*") {
            let _ = serde_json::from_str::<OriginalManifest>(&text);
            let _ = serde_json::from_str::<crate::results::Manifest>(&text);
        }

        #[test]
        fn well_formed_manifests_always_parse(
            names in proptest::collection::vec("[a-z_]{1,10}(\\+[a-z_]{1,10})?", 0..6),
            steps in 1u32..100, gpus in 0usize..16,
        ) {
            let text = serde_json::json!({
                "baseline_feature": "cfg_parallel", "addons": [], "model": "m",
                "output_dir": "x", "steps": steps, "height": 64, "width": 64,
                "cfg_scale": 4.0, "seed": 42, "negative_prompt": "", "num_prompts": 3,
                "gpu_count": gpus, "configs": names, "created_at": "2026-01-01T00:00:00",
            }).to_string();
            let m: OriginalManifest = serde_json::from_str(&text).expect("parses");
            proptest::prop_assert_eq!(m.configs, names);
        }
    }
}
