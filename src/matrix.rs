//! The matrix (DESIGN §6): the configurations a run holds, with GPU needs and
//! SKIP reasons.

use serde::{Deserialize, Serialize};

use crate::registry::Registry;

/// Which configurations to build from the addons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Combos {
    /// baseline, the baseline feature alone, then baseline feature + each addon.
    Pairs,
    /// Every subset of the addons with the baseline feature.
    All,
}

impl Combos {
    pub fn as_str(self) -> &'static str {
        match self {
            Combos::Pairs => "pairs",
            Combos::All => "all",
        }
    }
}

/// What a configuration is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// No feature: what everything is judged against. The original
    /// framework calls it "baseline1".
    #[serde(alias = "baseline1")]
    Baseline,
    /// The baseline feature alone; the original's "baseline2".
    #[serde(alias = "baseline2")]
    BaselineFeature,
    /// The baseline feature and one addon.
    Addon,
    /// The baseline feature and several addons.
    Combo,
    /// The pure baseline run a second time with the same seeds
    /// (`--repeat-baseline`): the engine's own run-to-run difference.
    BaselineRepeat,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Baseline => "baseline",
            Role::BaselineFeature => "baseline_feature",
            Role::Addon => "addon",
            Role::Combo => "combo",
            Role::BaselineRepeat => "baseline_repeat",
        }
    }
}

/// The pure baseline's config (and folder) name.
pub const BASELINE: &str = "baseline";

/// The folder and config name of the repeated baseline.
pub const BASELINE_REPEAT: &str = "baseline.repeat";

/// The pure baseline again (`--repeat-baseline`), as its own configuration.
pub fn baseline_repeat() -> Config {
    Config {
        name: BASELINE_REPEAT.to_string(),
        role: Role::BaselineRepeat,
        features: Vec::new(),
        args: Vec::new(),
        gpus: 1,
        lossy: false,
        skip: None,
    }
}

/// One configuration of the matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Feature ids joined by `+` in registry order; "baseline" for none.
    pub name: String,
    pub role: Role,
    /// Feature ids in registry order.
    pub features: Vec<String>,
    /// The features' arguments for the backend, in registry order.
    pub args: Vec<String>,
    /// Product of the features' GPU multipliers.
    pub gpus: u32,
    pub lossy: bool,
    /// Why it will not run, if it will not.
    pub skip: Option<String>,
}

/// A problem with the features named on the command line (exit 2).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MatrixError {
    #[error("{0}")]
    UnknownFeature(String),
    #[error(
        "'{0}' is an addon-only feature and cannot be the baseline feature — pass it with --addons"
    )]
    AddonOnlyBaseline(String),
    #[error("'{0}' is the baseline feature; it cannot be an addon too")]
    BaselineAsAddon(String),
    #[error("addon '{0}' is given twice")]
    DuplicateAddon(String),
    #[error(
        "--combos all over {0} addons would make {1} configurations; use --combos pairs or fewer addons"
    )]
    TooMany(usize, String),
    #[error(
        "configuration name '{shown}' is {bytes} bytes, but a folder name holds at most {NAME_MAX}: \
         shorten the feature ids in features.toml{hint}"
    )]
    NameTooLong {
        shown: String,
        bytes: usize,
        hint: &'static str,
    },
}

/// Longest file name (bytes) Linux and macOS file systems take: a
/// configuration's name is its folder's name.
pub const NAME_MAX: usize = 255;

/// How many configurations `--combos all` over `n` addons makes, in words:
/// every non-empty subset (2ⁿ − 1), the pure baseline and, with one, the
/// baseline feature alone. Exact wherever a number can be written.
fn all_count(n: usize, with_baseline_feature: bool) -> String {
    let extra = u128::from(with_baseline_feature);
    match u32::try_from(n).ok().and_then(|n| 1u128.checked_shl(n)) {
        Some(subsets) if n < 128 => (subsets + extra).to_string(),
        _ => format!("2^{n}, far more than 2^64,"),
    }
}

/// What the matrix is expanded for: a backend running a model on so many
/// devices. Each decides which configs can run.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub backend: &'a str,
    pub model: &'a str,
    pub devices: usize,
    /// The installed engine's own word on the run's features (a probe's
    /// answer): where it speaks, it overrides features.toml's `unsupported`
    /// tables, which were copied from some release and go stale.
    pub engine: Option<&'a crate::probe::Answer>,
}

/// Expands the matrix for `target`.
pub fn expand(
    registry: &Registry,
    baseline: Option<&str>,
    addons: &[String],
    combos: Combos,
    target: Target,
) -> Result<Vec<Config>, MatrixError> {
    if let Some(b) = baseline {
        let base = registry
            .feature(b)
            .ok_or_else(|| MatrixError::UnknownFeature(registry.unknown_feature(b)))?;
        if base.addon_only {
            return Err(MatrixError::AddonOnlyBaseline(b.to_string()));
        }
    }
    let mut seen = Vec::new();
    for a in addons {
        if registry.feature(a).is_none() {
            return Err(MatrixError::UnknownFeature(registry.unknown_feature(a)));
        }
        if Some(a.as_str()) == baseline {
            return Err(MatrixError::BaselineAsAddon(a.clone()));
        }
        if seen.contains(&a) {
            return Err(MatrixError::DuplicateAddon(a.clone()));
        }
        seen.push(a);
    }

    // Without a baseline feature, each addon stands on the pure baseline.
    fn on_base<'a>(baseline: Option<&'a str>, extra: &[&'a str]) -> Vec<&'a str> {
        baseline.into_iter().chain(extra.iter().copied()).collect()
    }
    let mut sets: Vec<(Role, Vec<&str>)> = vec![(Role::Baseline, vec![])];
    if let Some(b) = baseline {
        sets.push((Role::BaselineFeature, vec![b]));
    }
    match combos {
        Combos::Pairs => {
            for a in addons {
                sets.push((Role::Addon, on_base(baseline, &[a.as_str()])));
            }
        }
        Combos::All => {
            if addons.len() > 16 {
                return Err(MatrixError::TooMany(
                    addons.len(),
                    all_count(addons.len(), baseline.is_some()),
                ));
            }
            // Subsets by size, then in the addons' order: pairs first, as in `pairs`.
            let n = addons.len();
            let mut masks: Vec<u32> = (1..(1u32 << n)).collect();
            let members = |m: u32| -> Vec<usize> { (0..n).filter(|i| m & (1 << i) != 0).collect() };
            masks.sort_by_key(|&m| (m.count_ones(), members(m)));
            for m in masks {
                let extra: Vec<&str> = members(m).into_iter().map(|i| addons[i].as_str()).collect();
                let set = on_base(baseline, &extra);
                let role = if m.count_ones() == 1 {
                    Role::Addon
                } else {
                    Role::Combo
                };
                sets.push((role, set));
            }
        }
    }
    let configs: Vec<Config> = sets
        .into_iter()
        .map(|(role, set)| build(registry, role, &set, target))
        .collect();
    // Refused here, not by the file system once the run has started.
    if let Some(c) = configs.iter().find(|c| c.name.len() > NAME_MAX) {
        return Err(MatrixError::NameTooLong {
            shown: format!("{}…", c.name.chars().take(60).collect::<String>()),
            bytes: c.name.len(),
            hint: if c.features.len() > 1 && combos == Combos::All {
                " (or use --combos pairs, whose names join fewer ids)"
            } else {
                ""
            },
        });
    }
    Ok(configs)
}

fn build(registry: &Registry, role: Role, set: &[&str], target: Target) -> Config {
    let mut feats: Vec<_> = set.iter().filter_map(|id| registry.feature(id)).collect();
    feats.sort_by_key(|f| registry.position(&f.id));
    let features: Vec<String> = feats.iter().map(|f| f.id.clone()).collect();
    let name = if features.is_empty() {
        BASELINE.to_string()
    } else {
        features.join("+")
    };
    // Saturating: a product beyond u32 is simply more than any machine has.
    let gpus = feats.iter().fold(1u32, |p, f| p.saturating_mul(f.gpus));
    Config {
        args: feats
            .iter()
            .flat_map(|f| f.args_for(target.backend).iter().cloned())
            .collect(),
        lossy: feats.iter().any(|f| f.lossy),
        skip: skip_reason(registry, &features, gpus, target),
        name,
        role,
        features,
        gpus,
    }
}

/// Why `target` cannot run feature `f`: the installed engine's word when it
/// gave one ("xfuser 0.7.0: …"), else the registry's ("xdit: …").
fn unsupported(f: &crate::registry::Feature, target: &Target) -> Option<String> {
    match target.engine {
        Some(engine) if engine.knows(&f.id) && !f.args_for(target.backend).is_empty() => {
            engine.unsupported(&f.id)
        }
        _ => f
            .unsupported_on(target.backend, target.model)
            .map(|reason| format!("{}: {reason}", target.backend)),
    }
}

/// Why a configuration cannot run, first reason wins: a feature the backend
/// cannot do, exclusive groups, declared conflicts, single-card-only
/// features, then the GPU budget.
fn skip_reason(
    registry: &Registry,
    features: &[String],
    gpus: u32,
    target: Target,
) -> Option<String> {
    let feats: Vec<_> = features
        .iter()
        .filter_map(|id| registry.feature(id))
        .collect();
    if let Some(reason) = feats.iter().find_map(|f| unsupported(f, &target)) {
        return Some(reason);
    }
    for (i, a) in feats.iter().enumerate() {
        for b in &feats[i + 1..] {
            if let (Some(ga), Some(gb)) = (&a.exclusive, &b.exclusive)
                && ga == gb
            {
                return Some(format!(
                    "conflict: {} and {} are both in exclusive group '{ga}'",
                    a.id, b.id
                ));
            }
        }
    }
    for c in &registry.conflicts {
        if c.holds(features, target.backend) {
            return Some(format!(
                "conflict: {} — {}",
                c.features.join(" + "),
                c.reason
            ));
        }
    }
    if let Some(single) = feats.iter().find(|f| f.single_card_only)
        && let Some(multi) = feats.iter().find(|f| f.gpus > 1)
    {
        return Some(format!(
            "conflict: {} runs on a single card only, {} needs {} GPUs",
            single.id, multi.id, multi.gpus
        ));
    }
    if let Some((f, n)) = feats
        .iter()
        .find_map(|f| Some((f, f.min_gpus.filter(|n| gpus < *n)?)))
    {
        return Some(format!(
            "{} needs a configuration of at least {n} GPUs from the features beside it (it reuses their GPUs); this one has {gpus}",
            f.id
        ));
    }
    let devices = target.devices;
    if gpus as usize > devices {
        return Some(format!(
            "requires {gpus} GPU{}, only {devices} available",
            if gpus == 1 { "" } else { "s" }
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{EMBEDDED, Registry};

    fn registry() -> Registry {
        let text = format!(
            "{EMBEDDED}\n[features.offload]\nargs = [\"--cpu-offload\"]\nsingle_card_only = true\n\n[[conflicts]]\nfeatures = [\"ulysses\", \"offload\"]\nreason = \"test conflict\"\n"
        );
        Registry::parse(&text, "features.toml").expect("registry")
    }

    fn on(devices: usize) -> Target<'static> {
        Target {
            backend: "reference",
            model: "m",
            devices,
            engine: None,
        }
    }

    fn names(c: &[Config]) -> Vec<&str> {
        c.iter().map(|c| c.name.as_str()).collect()
    }

    fn addons(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pairs_in_the_originals_order() {
        let r = registry();
        let c = expand(
            &r,
            Some("cfg_parallel"),
            &addons(&["ulysses", "teacache"]),
            Combos::Pairs,
            on(2),
        )
        .expect("expands");
        assert_eq!(
            names(&c),
            [
                "baseline",
                "cfg_parallel",
                "cfg_parallel+ulysses",
                "cfg_parallel+teacache"
            ]
        );
        assert_eq!(c[0].role, Role::Baseline);
        assert_eq!(c[1].role, Role::BaselineFeature);
        assert_eq!(c[2].role, Role::Addon);
        // Names and args in registry order, whatever the command-line order.
        assert_eq!(
            c[3].args,
            ["--cfg-parallel-size", "2", "--cache-backend", "tea_cache"]
        );
        assert_eq!(c[2].gpus, 4);
        assert_eq!(
            c[2].skip.as_deref(),
            Some("requires 4 GPUs, only 2 available")
        );
        assert_eq!(c[3].skip, None);
        assert!(c[3].lossy && !c[2].lossy);
    }

    #[test]
    fn all_is_every_subset() {
        let r = registry();
        let c = expand(
            &r,
            Some("ulysses"),
            &addons(&["teacache", "cache_dit", "ring"]),
            Combos::All,
            on(8),
        )
        .expect("expands");
        assert_eq!(c.len(), 2 + 7);
        assert_eq!(
            names(&c),
            [
                "baseline",
                "ulysses",
                "teacache+ulysses",
                "cache_dit+ulysses",
                "ulysses+ring",
                "teacache+cache_dit+ulysses",
                "teacache+ulysses+ring",
                "cache_dit+ulysses+ring",
                "teacache+cache_dit+ulysses+ring",
            ]
        );
        assert!(
            c.iter()
                .skip(2)
                .all(|c| c.features.contains(&"ulysses".to_string()))
        );
        assert_eq!(c[8].role, Role::Combo);
    }

    #[test]
    fn exclusive_group_is_skipped() {
        let r = registry();
        let c = expand(
            &r,
            Some("cfg_parallel"),
            &addons(&["teacache", "cache_dit"]),
            Combos::All,
            on(8),
        )
        .expect("expands");
        let both = c
            .iter()
            .find(|c| c.name == "cfg_parallel+teacache+cache_dit")
            .expect("combo");
        assert_eq!(
            both.skip.as_deref(),
            Some("conflict: teacache and cache_dit are both in exclusive group 'cache-backend'")
        );
    }

    #[test]
    fn a_feature_the_backend_cannot_do_is_skipped_first_with_its_reason() {
        let text = EMBEDDED.replace(
            "[features.ulysses.backend_args]",
            "[features.ulysses.unsupported]\nreference = { \"m\" = \"m has no Ulysses\" }\n\n\
             [features.ulysses.backend_args]",
        );
        let r = Registry::parse(&text, "features.toml").expect("registry");
        let c = expand(
            &r,
            Some("cfg_parallel"),
            &addons(&["ulysses"]),
            Combos::Pairs,
            on(0),
        )
        .expect("expands");
        // The engine's limit wins over the GPU budget: more GPUs would not help.
        assert_eq!(c[2].skip.as_deref(), Some("reference: m has no Ulysses"));
        let other = Target {
            model: "other",
            ..on(8)
        };
        let c = expand(
            &r,
            Some("cfg_parallel"),
            &addons(&["ulysses"]),
            Combos::Pairs,
            other,
        )
        .expect("expands");
        assert_eq!(c[2].skip, None);
    }

    /// Without a baseline feature, each addon (or subset) stands on the
    /// pure baseline: no config named twice, none named like the baseline.
    #[test]
    fn addons_alone_on_the_pure_baseline() {
        let r = registry();
        let c = expand(
            &r,
            None,
            &addons(&["ulysses", "teacache"]),
            Combos::Pairs,
            on(2),
        )
        .expect("expands");
        assert_eq!(names(&c), ["baseline", "ulysses", "teacache"]);
        assert_eq!(c[1].role, Role::Addon);
        assert_eq!(c[2].args, ["--cache-backend", "tea_cache"]);
        let c = expand(
            &r,
            None,
            &addons(&["ulysses", "teacache", "ring"]),
            Combos::All,
            on(8),
        )
        .expect("expands");
        let n = names(&c);
        assert_eq!(n.len(), 8);
        let mut unique = n.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 8, "{n:?}");
        assert_eq!(n.iter().filter(|x| **x == BASELINE).count(), 1);
        assert_eq!(c.last().map(|c| c.role), Some(Role::Combo));
    }

    /// A conflict that names backends holds on those only; min_gpus needs
    /// the GPUs from the features beside it.
    #[test]
    fn backend_conflicts_and_min_gpus() {
        let text = format!(
            "{EMBEDDED}\n[[conflicts]]\nfeatures = [\"ulysses\", \"ring\"]\nbackends = [\"xdit\"]\nreason = \"test\"\n"
        );
        let r = Registry::parse(&text, "features.toml").expect("registry");
        let c = expand(
            &r,
            Some("ulysses"),
            &addons(&["ring"]),
            Combos::Pairs,
            on(8),
        )
        .expect("expands");
        assert_eq!(c[2].skip, None, "not on the reference engine");
        let xdit = Target {
            backend: "xdit",
            model: "Qwen/Qwen-Image",
            devices: 8,
            engine: None,
        };
        let c =
            expand(&r, Some("ulysses"), &addons(&["ring"]), Combos::Pairs, xdit).expect("expands");
        assert_eq!(
            c[2].skip.as_deref(),
            Some("conflict: ulysses + ring — test")
        );
        let vllm = Target {
            backend: "vllm-omni",
            ..xdit
        };
        let c = expand(
            &r,
            None,
            &addons(&["vae_patch_parallel"]),
            Combos::Pairs,
            vllm,
        )
        .expect("expands");
        assert!(
            c[1].skip
                .as_deref()
                .is_some_and(|s| s.contains("at least 2 GPUs")),
            "{:?}",
            c[1].skip
        );
        let c = expand(
            &r,
            Some("ulysses"),
            &addons(&["vae_patch_parallel"]),
            Combos::Pairs,
            vllm,
        )
        .expect("expands");
        assert_eq!(c[2].skip, None);
    }

    #[test]
    fn declared_conflict_and_single_card_are_skipped() {
        let r = registry();
        let c = expand(
            &r,
            Some("ulysses"),
            &addons(&["offload"]),
            Combos::Pairs,
            on(8),
        )
        .expect("expands");
        assert_eq!(
            c[2].skip.as_deref(),
            Some("conflict: ulysses + offload — test conflict")
        );
        let c = expand(
            &r,
            Some("cfg_parallel"),
            &addons(&["offload"]),
            Combos::Pairs,
            on(8),
        )
        .expect("expands");
        assert_eq!(
            c[2].skip.as_deref(),
            Some("conflict: offload runs on a single card only, cfg_parallel needs 2 GPUs")
        );
    }

    #[test]
    fn budget_counts_the_baseline_too() {
        let r = registry();
        let c = expand(&r, Some("cfg_parallel"), &[], Combos::Pairs, on(0)).expect("expands");
        assert_eq!(
            c[0].skip.as_deref(),
            Some("requires 1 GPU, only 0 available")
        );
        assert_eq!(
            c[1].skip.as_deref(),
            Some("requires 2 GPUs, only 0 available")
        );
    }

    #[test]
    fn usage_errors() {
        let r = registry();
        assert_eq!(
            expand(&r, Some("teacache"), &[], Combos::Pairs, on(2),),
            Err(MatrixError::AddonOnlyBaseline("teacache".into()))
        );
        let e = expand(
            &r,
            Some("cfg_parallel"),
            &addons(&["teacach"]),
            Combos::Pairs,
            on(2),
        )
        .expect_err("unknown");
        assert!(e.to_string().contains("did you mean 'teacache'"), "{e}");
        assert!(
            expand(
                &r,
                Some("cfg_parallel"),
                &addons(&["cfg_parallel"]),
                Combos::Pairs,
                on(2),
            )
            .is_err()
        );
        assert!(
            expand(
                &r,
                Some("cfg_parallel"),
                &addons(&["ring", "ring"]),
                Combos::Pairs,
                on(2),
            )
            .is_err()
        );
    }

    /// The count in the refusal never wraps: 64 addons are not "1".
    #[test]
    fn too_many_combos_says_the_real_count() {
        let ids: Vec<String> = (0..200).map(|i| format!("f{i}")).collect();
        let text: String = ids
            .iter()
            .map(|id| format!("[features.{id}]\nargs = [\"--{id}\"]\n"))
            .collect();
        let r = Registry::parse(&format!("{EMBEDDED}\n{text}"), "features.toml").expect("registry");
        let err = |n: usize, base: Option<&str>| {
            expand(&r, base, &ids[..n], Combos::All, on(2))
                .expect_err("too many")
                .to_string()
        };
        assert!(err(17, None).contains("make 131072 configurations"));
        assert!(err(17, Some("cfg_parallel")).contains("make 131073 configurations"));
        assert!(err(64, None).contains("make 18446744073709551616 configurations"));
        assert!(
            err(200, None).contains("2^200, far more than 2^64,"),
            "{}",
            err(200, None)
        );
    }

    /// A name past a file name's 255 bytes is refused up front, from one
    /// long id or several joined under --combos all.
    #[test]
    fn names_that_cannot_be_folders_are_refused() {
        let long = "x".repeat(300);
        let mid: Vec<String> = ["a", "b", "c"].iter().map(|c| c.repeat(100)).collect();
        let text = format!(
            "{EMBEDDED}\n[features.{long}]\nargs = [\"--l\"]\n{}",
            mid.iter()
                .map(|id| format!("[features.{id}]\nargs = [\"--m\"]\n"))
                .collect::<String>()
        );
        let r = Registry::parse(&text, "features.toml").expect("registry");
        let e = expand(&r, Some(&long), &[], Combos::Pairs, on(2)).expect_err("too long");
        assert!(
            matches!(e, MatrixError::NameTooLong { bytes: 300, .. }),
            "{e}"
        );
        let e = expand(&r, None, &mid, Combos::All, on(2)).expect_err("joined too long");
        assert!(
            e.to_string().contains("302 bytes") && e.to_string().contains("--combos pairs"),
            "{e}"
        );
        // Each alone (pairs) fits.
        assert!(expand(&r, None, &mid, Combos::Pairs, on(2)).is_ok());
    }
}
