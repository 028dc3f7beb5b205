//! Parents: for a config with feature F, the same config without F (the
//! baseline for the baseline feature alone, the baseline feature for an
//! addon, the combo without one addon for a combo). Comparing a config with
//! its parent answers "did F do anything?", which its difference from the
//! pure baseline cannot: a cache that never engages on top of CFG-parallel
//! is as fast as CFG-parallel, and faster than the baseline.

use std::collections::BTreeSet;

use crate::matrix::Role;
use crate::results::reader::RunDir;

/// Config `index` is the parent, without `feature`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parent {
    pub feature: String,
    pub index: usize,
}

/// Each config's parents that ran, in the order of its features. The
/// baseline feature is a parent's feature only for the baseline feature
/// alone: every other config holds it.
pub(crate) fn of(run: &RunDir) -> Vec<Vec<Parent>> {
    let sets: Vec<BTreeSet<&str>> = run
        .configs
        .iter()
        .map(|c| c.features.iter().map(String::as_str).collect())
        .collect();
    let ran: Vec<bool> = run
        .configs
        .iter()
        .map(|c| c.skip_reason.is_none() && c.dir.is_some())
        .collect();
    // The repeated baseline is never a parent (nor has one).
    let candidate = |j: usize| ran[j] && run.configs[j].role != Some(Role::BaselineRepeat);
    let base_feature: Option<&str> = run
        .baseline_feature
        .and_then(|b| run.configs[b].features.first())
        .map(String::as_str);
    run.configs
        .iter()
        .enumerate()
        .map(|(ci, c)| {
            if !candidate(ci) || c.features.is_empty() {
                return Vec::new();
            }
            c.features
                .iter()
                .filter(|f| c.features.len() == 1 || Some(f.as_str()) != base_feature)
                .filter_map(|f| {
                    let mut without = sets[ci].clone();
                    without.remove(f.as_str());
                    let index =
                        (0..run.configs.len()).find(|&j| candidate(j) && sets[j] == without)?;
                    Some(Parent {
                        feature: f.clone(),
                        index,
                    })
                })
                .collect()
        })
        .collect()
}
