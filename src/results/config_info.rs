//! `config_info.json`: one configuration's facts, in compat's keys and the
//! original framework's (`extra_args`, `total_gpus`, `is_lossy`), so the
//! original analyzer can read a compat run and compat can read the original's.

use serde::{Deserialize, Serialize};

use super::manifest::{ConfigEntry, ConfigState};
use crate::matrix::Role;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfigInfo {
    pub name: String,
    /// baseline | baseline_feature | addon | combo
    /// Absent in the original framework's files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub argv: Vec<String>,
    #[serde(default)]
    pub gpus: u32,
    #[serde(default)]
    pub lossy: bool,
    #[serde(default)]
    pub devices: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ConfigState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_job_id: Option<String>,
    /// Peak used memory per assigned GPU (NVML sampling).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub gpu_memory_peak_bytes: std::collections::BTreeMap<String, u64>,
    /// The original's key: the feature arguments. The original writes them
    /// as one string, `" ".join(args)` (`compatibility/run_compat_test.py`
    /// R:438 at 7bd8f25f); compat writes a list. Both are read.
    #[serde(default, deserialize_with = "string_or_list")]
    pub extra_args: Vec<String>,
    /// The original's key: GPUs needed.
    #[serde(default)]
    pub total_gpus: u32,
    /// The original's key: holds a lossy feature.
    #[serde(default)]
    pub is_lossy: bool,
}

/// A list of strings, or one string split on whitespace (the original's
/// `" ".join(args)`; its arguments hold no spaces).
fn string_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Args {
        List(Vec<String>),
        Joined(String),
    }
    Ok(match Option::<Args>::deserialize(d)? {
        Some(Args::List(v)) => v,
        Some(Args::Joined(s)) => s.split_whitespace().map(str::to_string).collect(),
        None => Vec::new(),
    })
}

impl ConfigInfo {
    pub fn from_entry(e: &ConfigEntry) -> ConfigInfo {
        ConfigInfo {
            name: e.name.clone(),
            role: Some(e.role),
            features: e.features.clone(),
            args: e.args.clone(),
            argv: e.argv.clone(),
            gpus: e.gpus,
            lossy: e.lossy,
            devices: e.devices.clone(),
            state: Some(e.state),
            skip_reason: e.skip_reason.clone(),
            error: e.error.clone(),
            started: e.started.clone(),
            finished: e.finished.clone(),
            exit_code: e.exit_code,
            slurm_job_id: e.slurm_job_id.clone(),
            gpu_memory_peak_bytes: e.gpu_memory_peak_bytes.clone(),
            extra_args: e.args.clone(),
            total_gpus: e.gpus,
            is_lossy: e.lossy,
        }
    }

    /// GPUs, from compat's key or the original's.
    pub fn total_gpus(&self) -> u32 {
        self.gpus.max(self.total_gpus)
    }

    /// Lossy, from compat's key or the original's.
    pub fn is_lossy(&self) -> bool {
        self.lossy || self.is_lossy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_originals_keys() {
        let original = r#"{"name": "cfg_parallel+teacache", "extra_args": ["--cache-backend", "tea_cache"],
                           "total_gpus": 2, "is_lossy": true}"#;
        let info: ConfigInfo = serde_json::from_str(original).expect("parses");
        assert_eq!(info.total_gpus(), 2);
        assert!(info.is_lossy());
        assert_eq!(info.state, None);
    }

    /// config_info.json exactly as the original writes it
    /// (`compatibility/run_compat_test.py` R:429-450 at 7bd8f25f:
    /// `json.dumps(info, indent=2)`, no trailing newline).
    #[test]
    fn reads_the_originals_file_as_written() {
        let original = r#"{
  "name": "cfg_parallel+teacache",
  "role": "addon",
  "features": [
    "cfg_parallel",
    "teacache"
  ],
  "extra_args": "--cfg-parallel-size 2 --cache-backend tea_cache",
  "total_gpus": 2,
  "is_lossy": true,
  "model": "Qwen/Qwen-Image-2512",
  "steps": 30,
  "height": 1024,
  "width": 1024,
  "cfg_scale": 4.0,
  "seed": 42,
  "negative_prompt": "low quality, blurry, distorted, watermark, noise",
  "num_prompts": 20
}"#;
        let info: ConfigInfo = serde_json::from_str(original).expect("parses");
        assert_eq!(
            info.extra_args,
            ["--cfg-parallel-size", "2", "--cache-backend", "tea_cache"]
        );
        assert_eq!(info.role, Some(Role::Addon));
        let baseline = r#"{"name": "baseline", "role": "baseline1", "features": [], "extra_args": "", "total_gpus": 1, "is_lossy": false}"#;
        let info: ConfigInfo = serde_json::from_str(baseline).expect("parses");
        assert!(info.extra_args.is_empty());
        assert_eq!(info.role, Some(Role::Baseline));
        let bf = r#"{"name": "cfg_parallel", "role": "baseline2", "extra_args": "--cfg-parallel-size 2"}"#;
        let info: ConfigInfo = serde_json::from_str(bf).expect("parses");
        assert_eq!(info.role, Some(Role::BaselineFeature));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC*") {
            let _ = serde_json::from_str::<ConfigInfo>(&text);
        }

        #[test]
        fn well_formed_files_in_either_form_always_parse(
            args in proptest::collection::vec("--[a-z-]{1,12}|[0-9]{1,3}", 0..6),
            joined in proptest::bool::ANY,
        ) {
            let value = if joined {
                serde_json::Value::from(args.join(" "))
            } else {
                serde_json::json!(args)
            };
            let text = serde_json::json!({"name": "x", "extra_args": value, "total_gpus": 2}).to_string();
            let info: ConfigInfo = serde_json::from_str(&text).expect("parses");
            proptest::prop_assert_eq!(info.extra_args, args);
        }
    }
}
