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

#[cfg(test)]
mod tests {
    use crate::registry::{EMBEDDED, EMBEDDED_NAME, Registry};

    use super::*;

    const HEAD: &str = "[backends.b]\ncommand = [\"true\", \"{output_dir}\"]\n";

    fn parse(metrics: &str) -> Result<Registry, String> {
        Registry::parse(&format!("{HEAD}{metrics}"), "features.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn an_entry_with_defaults_and_in_file_order() {
        let r = parse(
            "[metrics.zeta]\ncommand = [\"z\", \"{items}\", \"{values}\", \"{metric}\", \"{compat}\"]\nkind = \"prompt\"\nbetter = \"higher\"\n\
             [metrics.alpha]\nlabel = \"A\"\ncommand = [\"a\", \"--in={items}\", \"--out={values}\"]\nkind = \"pair\"\nbetter = \"lower\"\nwarn = 0.1\nfail = 0.3\nlossless = true\nenabled = true\ntimeout = \"90s\"\n",
        )
        .expect("parses");
        let names: Vec<&str> = r.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha"], "file order, not sorted");
        let z = &r.metrics[0];
        assert_eq!(
            (z.label.as_str(), z.enabled, z.lossless),
            ("zeta", false, false)
        );
        assert_eq!(z.timeout, DEFAULT_TIMEOUT);
        let a = r.metric("alpha").expect("alpha");
        assert_eq!(
            (a.warn, a.fail, a.timeout),
            (Some(0.1), Some(0.3), Duration::from_secs(90))
        );
    }

    #[test]
    fn bad_entries_name_the_line_and_the_fix() {
        let cases = [
            (
                "command = [\"x\", \"{items}\"]\nkind = \"pair\"\nbetter = \"lower\"\n",
                "features.toml:4: metric 'm': the command must name {items} and {values}",
            ),
            (
                "command = [\"x\", \"{items}\", \"{values}\", \"{model}\"]\nkind = \"pair\"\nbetter = \"lower\"\n",
                "unknown placeholder {model} in command",
            ),
            (
                "command = []\nkind = \"pair\"\nbetter = \"lower\"\n",
                "metric 'm' has an empty command",
            ),
            (
                "command = [\"x\", \"{items}\", \"{values}\"]\nkind = \"pair\"\nbetter = \"lower\"\nwarn = 0.5\nfail = 0.2\n",
                "fail (0.2) is better than warn (0.5)",
            ),
            (
                "command = [\"x\", \"{items}\", \"{values}\"]\nkind = \"pair\"\nbetter = \"higher\"\nwarn = 0.5\nfail = 0.7\n",
                "fail (0.7) is better than warn (0.5)",
            ),
            (
                "command = [\"x\", \"{items}\", \"{values}\"]\nkind = \"prompt\"\nbetter = \"higher\"\nwarn = -1.0\n",
                "threshold -1 is not a finite number ≥ 0",
            ),
            (
                "command = [\"x\", \"{items}\", \"{values}\"]\nkind = \"pair\"\nbetter = \"lower\"\ntimeout = \"soon\"\n",
                "timeout 'soon'",
            ),
            (
                "command = [\"x\", \"{items}\", \"{values}\"]\nkind = \"pair\"\nbetter = \"lower\"\ntimeout = \"0s\"\n",
                "timeout must be more than 0",
            ),
            (
                "command = [\"x\", \"{items}\", \"{values}\"]\nkind = \"pairs\"\nbetter = \"lower\"\n",
                "pairs",
            ),
            (
                "command = [\"x\", \"{items}\", \"{values}\"]\nkind = \"pair\"\n",
                "better",
            ),
        ];
        for (body, want) in cases {
            let err = parse(&format!("[metrics.m]\n{body}")).expect_err(body);
            assert!(err.contains(want), "{body}\n→ {err}");
        }
        let err = parse("[metrics.\"a b\"]\ncommand = [\"x\", \"{items}\", \"{values}\"]\nkind = \"pair\"\nbetter = \"lower\"\n")
            .expect_err("name");
        assert!(err.contains("metric name 'a b' must be letters"), "{err}");
    }

    /// The shipped entries parse, and none runs unless named: analyze
    /// without `--metrics` stays as fast as before.
    #[test]
    fn the_shipped_metrics_are_there_and_not_enabled() {
        let r = Registry::parse(EMBEDDED, EMBEDDED_NAME).expect("embedded");
        let names: Vec<&str> = r.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["lpips", "lpips_vgg", "clip"]);
        assert!(r.metrics.iter().all(|m| !m.enabled));
        let clip = r.metric("clip").expect("clip");
        assert_eq!(
            (clip.kind, clip.better),
            (MetricKind::Prompt, Better::Higher)
        );
    }
}
