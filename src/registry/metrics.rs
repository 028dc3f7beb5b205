//! `[metrics.NAME]`: metric plugins (docs/metrics.md). A plugin is a program
//! compat starts once per `analyze`, hands a JSON-lines file of images and
//! reads a JSON-lines file of values back from; compat stays the judge.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::RegistryError;
use super::parse::{Ctx, check_names};

/// Placeholders of a metric plugin's command.
pub const METRIC_PLACEHOLDERS: &[&str] = &["compat", "items", "values", "metric"];

/// How long a plugin may run when its entry names no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// What a plugin measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// The baseline's image against the config's (LPIPS, DreamSim).
    Pair,
    /// An image against its prompt text (CLIP score), judged as the change
    /// against the baseline's own score.
    Prompt,
}

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Lower,
    Higher,
}

/// One `[metrics.NAME]` entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricPlugin {
    pub name: String,
    /// The column heading ("LPIPS"); the name when not given.
    pub label: String,
    /// The argv template (see [`METRIC_PLACEHOLDERS`]).
    pub command: Vec<String>,
    pub kind: MetricKind,
    pub better: Better,
    /// WARN beyond this; for "pair" the config's mean value, for "prompt"
    /// how much worse than the baseline's own mean score it is.
    pub warn: Option<f64>,
    /// FAIL beyond this (same reading as `warn`).
    pub fail: Option<f64>,
    /// Apply the thresholds to lossless configurations too (default: lossy only).
    pub lossless: bool,
    /// Measured by `compat analyze` without `--metrics`.
    pub enabled: bool,
    #[serde(with = "secs")]
    pub timeout: Duration,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetric {
    label: Option<String>,
    command: Spanned<Vec<String>>,
    kind: MetricKind,
    better: Better,
    warn: Option<Spanned<f64>>,
    fail: Option<Spanned<f64>>,
    #[serde(default)]
    lossless: bool,
    #[serde(default)]
    enabled: bool,
    timeout: Option<Spanned<String>>,
}

/// The entries in file order (the order of the report's columns).
pub(super) fn metrics(
    cx: &Ctx,
    raw: BTreeMap<Spanned<String>, Spanned<RawMetric>>,
) -> Result<Vec<MetricPlugin>, RegistryError> {
    let mut raw: Vec<_> = raw.into_iter().collect();
    raw.sort_by_key(|(k, _)| k.span().start);
    raw.into_iter()
        .map(|(name, body)| metric(cx, &name, body))
        .collect()
}

fn metric(
    cx: &Ctx,
    name: &Spanned<String>,
    body: Spanned<RawMetric>,
) -> Result<MetricPlugin, RegistryError> {
    let at = body.span().start;
    let raw = body.into_inner();
    let id = name.get_ref();
    // Names become report keys, columns and `--metrics` words.
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(cx.err(
            name.span().start,
            format!("metric name '{id}' must be letters, digits, '_' or '-'"),
            "e.g. [metrics.lpips]".to_string(),
        ));
    }
    if raw.command.get_ref().is_empty() {
        return Err(cx.err(
            raw.command.span().start,
            format!("metric '{id}' has an empty command"),
            "give the program and its arguments: command = [\"python3\", \"m.py\", \"{items}\", \"{values}\"]".to_string(),
        ));
    }
    for arg in raw.command.get_ref() {
        if let Err(bad) = check_names(arg, METRIC_PLACEHOLDERS) {
            return Err(cx.err(
                raw.command.span().start,
                format!("metric '{id}': unknown placeholder {{{bad}}} in command"),
                format!("placeholders are {{{}}}", METRIC_PLACEHOLDERS.join("} {")),
            ));
        }
    }
    let names_both = ["{items}", "{values}"]
        .iter()
        .all(|p| raw.command.get_ref().iter().any(|a| a.contains(p)));
    if !names_both {
        return Err(cx.err(
            raw.command.span().start,
            format!("metric '{id}': the command must name {{items}} and {{values}}"),
            "the plugin reads the items from {items} and writes its values to {values} (docs/metrics.md)".to_string(),
        ));
    }
    for t in [&raw.warn, &raw.fail].into_iter().flatten() {
        let x = *t.get_ref();
        if !x.is_finite() || (raw.kind == MetricKind::Prompt && x < 0.0) {
            return Err(cx.err(
                t.span().start,
                format!("metric '{id}': threshold {x} is not a finite number{}", if raw.kind == MetricKind::Prompt { " ≥ 0" } else { "" }),
                "for kind = \"prompt\" a threshold is how much worse than the baseline's own score a config may be".to_string(),
            ));
        }
    }
    if let (Some(w), Some(f)) = (&raw.warn, &raw.fail) {
        let (w, f) = (*w.get_ref(), *f.get_ref());
        // "fail" must be at least as bad as "warn".
        let ordered = match (raw.kind, raw.better) {
            (MetricKind::Pair, Better::Higher) => f <= w,
            _ => f >= w,
        };
        if !ordered {
            return Err(cx.err(
                at,
                format!("metric '{id}': fail ({f}) is better than warn ({w})"),
                "fail is where WARN turns into FAIL: it must be at least as bad as warn"
                    .to_string(),
            ));
        }
    }
    let timeout = match &raw.timeout {
        None => DEFAULT_TIMEOUT,
        Some(t) => match humantime::parse_duration(t.get_ref()) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                return Err(cx.err(
                    t.span().start,
                    format!("metric '{id}': timeout must be more than 0"),
                    "e.g. timeout = \"10m\"".to_string(),
                ));
            }
            Err(e) => {
                return Err(cx.err(
                    t.span().start,
                    format!("metric '{id}': timeout '{}': {e}", t.get_ref()),
                    "e.g. timeout = \"10m\" or \"90s\"".to_string(),
                ));
            }
        },
    };
    Ok(MetricPlugin {
        name: id.clone(),
        label: raw.label.unwrap_or_else(|| id.clone()),
        command: raw.command.into_inner(),
        kind: raw.kind,
        better: raw.better,
        warn: raw.warn.map(Spanned::into_inner),
        fail: raw.fail.map(Spanned::into_inner),
        lossless: raw.lossless,
        enabled: raw.enabled,
        timeout,
    })
}
