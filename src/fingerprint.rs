//! Fingerprints: what determines a configuration's output, hashed, so
//! `--resume` keeps only results that the same inputs would produce again.

use crate::matrix::Config;
use crate::results::Manifest;

/// The fingerprint of configuration `c` in the run described by `m`: its
/// features and arguments, the backend and its command, the prompts and
/// every run [`Settings`](crate::settings::Settings) field. Not when or where
/// it ran.
pub fn of_config(m: &Manifest, c: &Config) -> String {
    let inputs = (
        &c.features,
        &c.args,
        &m.backend,
        &m.backend_command,
        &m.prompts,
        &m.settings,
    );
    // The engine build is not hashed here: `--resume` compares it apart
    // (runner::outdir::keeps), so a run whose probe did not answer this time
    // still keeps what it completed.
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
            settings: crate::settings::Settings {
                model: "m".into(),
                steps: 20,
                height: 64,
                width: 64,
                cfg_scale: 4.0,
                guidance_scale: None,
                seed: 42,
                negative_prompt: String::new(),
                warmup: 1,
            },
            prompts: vec!["a".into(), "b".into()],
            baseline_feature: Some("cfg_parallel".into()),
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
            engine: None,
            engine_probe: None,
            sessions: vec![],
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
        other.settings.seed = 43;
        assert_ne!(base, of_config(&other, &c));
        let mut other = m.clone();
        other.prompts.push("c".into());
        assert_ne!(base, of_config(&other, &c));
        let mut other = m.clone();
        other.settings.height = 128;
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
        // The engine is compared apart by --resume (runner::outdir::keeps).
        let mut other = m.clone();
        other.engine_probe = Some("not probed".into());
        assert_eq!(base, of_config(&other, &c));
    }
}
