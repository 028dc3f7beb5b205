//! Fingerprints: what determines a configuration's output, hashed, so
//! `--resume` keeps only results that the same inputs would produce again.

use serde::Serialize;

use crate::matrix::Config;
use crate::results::Manifest;

#[derive(Serialize)]
struct Inputs<'a> {
    features: &'a [String],
    args: &'a [String],
    backend: &'a str,
    backend_command: &'a [String],
    model: &'a str,
    prompts: &'a [String],
    steps: u32,
    height: u32,
    width: u32,
    cfg_scale: f64,
    seed: u64,
    negative_prompt: &'a str,
}

/// The fingerprint of configuration `c` in the run described by `m`.
pub fn of_config(m: &Manifest, c: &Config) -> String {
    let inputs = Inputs {
        features: &c.features,
        args: &c.args,
        backend: &m.backend,
        backend_command: &m.backend_command,
        model: &m.model,
        prompts: &m.prompts,
        steps: m.steps,
        height: m.height,
        width: m.width,
        cfg_scale: m.cfg_scale,
        seed: m.seed,
        negative_prompt: &m.negative_prompt,
    };
    let bytes = serde_json::to_vec(&inputs).unwrap_or_default();
    format!("{:016x}", crate::rng::fnv1a(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Role;
    use crate::results::DeviceInfo;

    fn manifest() -> Manifest {
        Manifest {
            schema_version: 1,
            tool: "compat".into(),
            tool_version: "0".into(),
            created: String::new(),
            updated: String::new(),
            registry: String::new(),
            backend: "reference".into(),
            backend_command: vec!["{compat}".into()],
            model: "m".into(),
            steps: 20,
            height: 64,
            width: 64,
            cfg_scale: 4.0,
            seed: 42,
            negative_prompt: String::new(),
            prompts: vec!["a".into(), "b".into()],
            baseline_feature: "cfg_parallel".into(),
            addons: vec![],
            combos: "pairs".into(),
            devices: DeviceInfo {
                count: 2,
                ids: vec![],
                source: String::new(),
                detail: String::new(),
            },
            timeout_seconds: 60,
            executor: "local".into(),
            configs: vec![],
        }
    }

    fn config() -> Config {
        Config {
            name: "cfg_parallel".into(),
            role: Role::BaselineFeature,
            features: vec!["cfg_parallel".into()],
            args: vec!["--cfg-parallel-size".into(), "2".into()],
            gpus: 2,
            lossy: false,
            skip: None,
        }
    }

    #[test]
    fn stable_and_sensitive_to_every_input() {
        let (m, c) = (manifest(), config());
        let base = of_config(&m, &c);
        assert_eq!(base, of_config(&m, &c));
        let mut other = m.clone();
        other.seed = 43;
        assert_ne!(base, of_config(&other, &c));
        let mut other = m.clone();
        other.prompts.push("c".into());
        assert_ne!(base, of_config(&other, &c));
        let mut other = m.clone();
        other.height = 128;
        assert_ne!(base, of_config(&other, &c));
        let mut other = m.clone();
        other.backend_command.push("--x".into());
        assert_ne!(base, of_config(&other, &c));
        let mut c2 = c.clone();
        c2.args.push("--more".into());
        assert_ne!(base, of_config(&m, &c2));
        // Not part of the inputs: when and where it ran.
        let mut other = m.clone();
        other.created = "yesterday".into();
        other.timeout_seconds = 1;
        assert_eq!(base, of_config(&other, &c));
    }
}
