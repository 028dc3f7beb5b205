//! Run settings resolved from the command line, the backend's defaults and
//! compat's, and the argv a configuration starts with.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::exit::UsageError;
use crate::matrix::Config;
use crate::registry::Backend;

/// compat's own defaults (the original framework's): below a backend's.
pub const DEFAULT_STEPS: u32 = 30;
pub const DEFAULT_SIZE: u32 = 1024;
pub const DEFAULT_NUM_PROMPTS: usize = 20;
pub const DEFAULT_CFG_SCALE: f64 = 4.0;
pub const DEFAULT_SEED: u64 = 42;
/// One untimed generation first: compilation, autotuning and CUDA
/// initialisation make a first prompt 3–50× slower on real engines.
pub const DEFAULT_WARMUP: u32 = 1;

/// Most inference steps a run may ask for: diffusion models are trained on
/// 1000 timesteps, and every engine compat drives refuses more (a value
/// beyond would fail in every configuration, after the whole run started).
pub const MAX_STEPS: u32 = 1000;
/// Largest guidance scale: in use they are 1–20; 1e30 is a typo.
pub const MAX_CFG_SCALE: f64 = 100.0;
/// Most warm-up generations per configuration.
pub const MAX_WARMUP: u32 = 100;

/// The run settings: everything that goes into the backend's placeholders
/// and determines its images. The single list: flattened into the manifest
/// and report.json, hashed by the fingerprint, printed by the dry run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Model id passed to the backend.
    pub model: String,
    /// Inference steps.
    pub steps: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Image width in pixels.
    pub width: u32,
    /// Classifier-free guidance scale: true CFG, a second (unconditional)
    /// pass per step.
    pub cfg_scale: f64,
    /// Distilled guidance (FLUX.1-dev's `guidance_scale`, an input of the
    /// model, no second pass), the backend's `{guidance_scale}`; `None`:
    /// the engine's own (the placeholder is then empty). Absent from
    /// manifests and fingerprints of runs that did not set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance_scale: Option<f64>,
    /// Seed of prompt 0; prompt i uses seed + i.
    pub seed: u64,
    /// The unconditional branch of CFG (absent from reports written before
    /// it was recorded: empty).
    #[serde(default)]
    pub negative_prompt: String,
    /// Untimed generations the backend does before the timed ones (its
    /// `{warmup}` placeholder); 1 where a run did not record it.
    #[serde(default = "one")]
    pub warmup: u32,
}

fn one() -> u32 {
    1
}

/// Settings given on the command line; `None` falls back to the backend's
/// defaults, then compat's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Requested {
    pub model: Option<String>,
    pub steps: Option<u32>,
    pub height: Option<u32>,
    pub width: Option<u32>,
    pub num_prompts: Option<usize>,
    pub cfg_scale: Option<f64>,
    pub guidance_scale: Option<f64>,
    pub seed: Option<u64>,
    pub negative_prompt: Option<String>,
    pub warmup: Option<u32>,
}

/// Command line > the backend's defaults for this model > the backend's
/// defaults > compat defaults; returns the settings and the number of
/// prompts.
pub fn resolve(r: &Requested, backend: &Backend) -> Result<(Settings, usize), UsageError> {
    let model = r
        .model
        .clone()
        .or_else(|| backend.model.clone())
        .unwrap_or_default();
    let d = &backend.defaults;
    let none = crate::registry::RunDefaults::default();
    let m = backend.model_defaults.get(&model).unwrap_or(&none);
    let s = Settings {
        steps: r.steps.or(m.steps).or(d.steps).unwrap_or(DEFAULT_STEPS),
        height: r.height.or(m.height).or(d.height).unwrap_or(DEFAULT_SIZE),
        width: r.width.or(m.width).or(d.width).unwrap_or(DEFAULT_SIZE),
        cfg_scale: r
            .cfg_scale
            .or(m.cfg_scale)
            .or(d.cfg_scale)
            .unwrap_or(DEFAULT_CFG_SCALE),
        guidance_scale: r.guidance_scale.or(m.guidance_scale).or(d.guidance_scale),
        seed: r.seed.or(m.seed).or(d.seed).unwrap_or(DEFAULT_SEED),
        negative_prompt: r
            .negative_prompt
            .clone()
            .or_else(|| m.negative_prompt.clone())
            .or_else(|| d.negative_prompt.clone())
            .unwrap_or_default(),
        model,
        // A backend without {warmup} does none that compat can ask for: the
        // manifest says 0, and the analysis detects a cold first prompt.
        warmup: if uses_placeholder(&backend.command, "warmup") {
            r.warmup.unwrap_or(DEFAULT_WARMUP)
        } else {
            0
        },
    };
    let num_prompts = r
        .num_prompts
        .or(m.num_prompts)
        .or(d.num_prompts)
        .unwrap_or(DEFAULT_NUM_PROMPTS);
    if s.steps == 0 || s.height == 0 || s.width == 0 {
        return Err(UsageError::new(
            "--steps, --height and --width must be at least 1",
        ));
    }
    if s.steps > MAX_STEPS {
        return Err(UsageError::new(format!(
            "--steps {} is more than {MAX_STEPS}, the most any engine runs",
            s.steps
        )));
    }
    if !s.cfg_scale.is_finite() || !(0.0..=MAX_CFG_SCALE).contains(&s.cfg_scale) {
        return Err(UsageError::new(format!(
            "--cfg-scale {} must be a number from 0 to {MAX_CFG_SCALE} (guidance scales in use are 1–20)",
            s.cfg_scale
        )));
    }
    if let Some(g) = s
        .guidance_scale
        .filter(|g| !g.is_finite() || !(0.0..=MAX_CFG_SCALE).contains(g))
    {
        return Err(UsageError::new(format!(
            "--guidance-scale {g} must be a number from 0 to {MAX_CFG_SCALE} (FLUX.1-dev's is 3.5)"
        )));
    }
    if s.guidance_scale.is_some() && !uses_placeholder(&backend.command, "guidance_scale") {
        return Err(UsageError::new(format!(
            "--guidance-scale: backend '{}' takes no {{guidance_scale}} (it has one guidance setting, --cfg-scale)",
            backend.name
        )));
    }
    if let Some(n) = r.warmup.filter(|&n| n > MAX_WARMUP) {
        return Err(UsageError::new(format!(
            "--warmup {n} is more than {MAX_WARMUP} untimed generations per configuration"
        )));
    }
    if s.model.is_empty() && backend.command.iter().any(|a| a.contains("{model}")) {
        return Err(UsageError::new(format!(
            "backend '{}' needs a model: pass --model or set `model` in its [backends.{}] table",
            backend.name, backend.name
        )));
    }
    Ok((s, num_prompts))
}

/// Whether a backend command uses placeholder `{name}` (not a literal
/// `{{name}}`).
pub fn uses_placeholder(command: &[String], name: &str) -> bool {
    let seen = std::cell::Cell::new(false);
    let probe = |n: &str| {
        if n == name {
            seen.set(true);
        }
        None
    };
    for arg in command {
        substitute(arg, &probe);
    }
    seen.get()
}

/// The argv for one configuration: the template with placeholders
/// substituted, then the features' arguments. Never through a shell.
pub fn argv(
    backend: &Backend,
    s: &Settings,
    c: &Config,
    exe: &Path,
    prompt_file: &Path,
    out: &Path,
) -> Vec<String> {
    let value = |name: &str| -> Option<String> {
        Some(match name {
            "compat" => exe.display().to_string(),
            "model" => s.model.clone(),
            "prompt_file" => prompt_file.display().to_string(),
            "output_dir" => out.display().to_string(),
            "steps" => s.steps.to_string(),
            "height" => s.height.to_string(),
            "width" => s.width.to_string(),
            "cfg_scale" => s.cfg_scale.to_string(),
            "guidance_scale" => s.guidance_scale.map(|g| g.to_string()).unwrap_or_default(),
            "seed" => s.seed.to_string(),
            "negative_prompt" => s.negative_prompt.clone(),
            "warmup" => s.warmup.to_string(),
            "gpus" => c.gpus.to_string(),
            _ => return None,
        })
    };
    let mut argv: Vec<String> = backend
        .command
        .iter()
        .map(|a| substitute(a, &value))
        .collect();
    argv.extend(c.args.iter().cloned());
    argv
}

/// Replaces `{name}` in one argument; `{{` and `}}` are literal braces.
pub(crate) fn substitute(arg: &str, value: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
        } else if let Some(close) = tail.find('}').filter(|_| tail.starts_with('{')) {
            match value(&tail[1..close]) {
                Some(v) => out.push_str(&v),
                None => out.push_str(&tail[..=close]),
            }
            rest = &tail[close + 1..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// An argv as a line a person can paste into a POSIX shell.
pub fn shell_quote(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_placeholders_inside_arguments() {
        let v = |n: &str| (n == "seed").then(|| "42".to_string());
        assert_eq!(substitute("--seed={seed}", &v), "--seed=42");
        assert_eq!(substitute("{{seed}}", &v), "{seed}");
        assert_eq!(substitute("{unknown}", &v), "{unknown}");
        assert_eq!(substitute("a}b", &v), "a}b");
    }

    #[test]
    fn distilled_guidance_is_a_setting_of_its_own() {
        let text = "default_backend = \"b\"\n\
            [backends.b]\ncommand = [\"gen\", \"--g={guidance_scale}\", \"--cfg={cfg_scale}\"]\n\
            [backends.b.defaults]\nguidance_scale = 3.5\n\
            [backends.plain]\ncommand = [\"gen\", \"--cfg={cfg_scale}\"]\n\
            [features.x]\nargs = [\"--x\"]\n";
        let r = crate::registry::Registry::parse(text, "t").expect("registry");
        let (b, plain) = (
            r.backend("b").expect("b"),
            r.backend("plain").expect("plain"),
        );
        let asked = |g: Option<f64>| Requested {
            guidance_scale: g,
            cfg_scale: Some(1.0),
            ..Requested::default()
        };
        // The backend's default, unless the command line says otherwise.
        let (s, _) = resolve(&asked(None), b).expect("resolves");
        assert_eq!(s.guidance_scale, Some(3.5));
        let (s, _) = resolve(&asked(Some(2.0)), b).expect("resolves");
        assert_eq!(s.guidance_scale, Some(2.0));
        let c = Config {
            name: "baseline".into(),
            role: crate::matrix::Role::Baseline,
            features: vec![],
            args: vec![],
            gpus: 1,
            lossy: false,
            skip: None,
        };
        let p = Path::new("p");
        assert_eq!(argv(b, &s, &c, p, p, p)[1..], ["--g=2", "--cfg=1"]);
        // Unset: the placeholder is empty, the engine keeps its own.
        let (s, _) = resolve(&Requested::default(), plain).expect("resolves");
        assert_eq!(s.guidance_scale, None);
        // Refused up front: a backend without the placeholder, a non-number.
        assert!(resolve(&asked(Some(3.5)), plain).is_err());
        assert!(resolve(&asked(Some(f64::NAN)), b).is_err());
        assert!(resolve(&asked(Some(1e30)), b).is_err());
        // A run that sets none keeps the manifest (and fingerprint) it had.
        let json = serde_json::to_string(&Settings::default()).expect("json");
        assert!(!json.contains("guidance"), "{json}");
    }

    #[test]
    fn a_model_s_defaults_beat_the_backend_s() {
        let text = "default_backend = \"b\"\n\
            [backends.b]\ncommand = [\"gen\", \"--model={model}\", \"--g={guidance_scale}\", \"--cfg={cfg_scale}\"]\n\
            model = \"org/plain\"\n\
            [backends.b.defaults]\ncfg_scale = 4.0\nsteps = 30\n\
            [backends.b.model_defaults.\"org/distilled\"]\ncfg_scale = 1.0\nguidance_scale = 3.5\nsteps = 28\n\
            [features.x]\nargs = [\"--x\"]\n";
        let r = crate::registry::Registry::parse(text, "t").expect("registry");
        let b = r.backend("b").expect("b");
        let model = |m: Option<&str>| Requested {
            model: m.map(str::to_string),
            ..Requested::default()
        };
        // The backend's model: its defaults only.
        let (s, _) = resolve(&model(None), b).expect("resolves");
        assert_eq!((s.cfg_scale, s.guidance_scale, s.steps), (4.0, None, 30));
        // The distilled model, asked by name: its own, over the backend's.
        let (s, _) = resolve(&model(Some("org/distilled")), b).expect("resolves");
        assert_eq!(
            (s.cfg_scale, s.guidance_scale, s.steps),
            (1.0, Some(3.5), 28)
        );
        // The command line beats both.
        let asked = Requested {
            cfg_scale: Some(2.0),
            ..model(Some("org/distilled"))
        };
        let (s, _) = resolve(&asked, b).expect("resolves");
        assert_eq!((s.cfg_scale, s.guidance_scale), (2.0, Some(3.5)));
        // A guidance default on a command that cannot pass it: refused where written.
        let bad = text.replace("\"--g={guidance_scale}\", ", "");
        let e = crate::registry::Registry::parse(&bad, "t").expect_err("refused");
        assert!(e.to_string().contains("takes no {guidance_scale}"), "{e}");
    }

    #[test]
    fn quotes_for_the_shell() {
        let a = vec![
            "gen".to_string(),
            "it's $(x)".to_string(),
            "".to_string(),
            "--k=v".to_string(),
        ];
        assert_eq!(shell_quote(&a), "gen 'it'\\''s $(x)' '' --k=v");
    }
}
