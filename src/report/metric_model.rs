//! report.json's metric plugin parts (docs/metrics.md): what each plugin
//! did, and per config its values summarised and judged.

use serde::{Deserialize, Serialize};

use crate::registry::{Better, MetricKind};

/// One metric plugin's run over the whole analysis (`metrics[]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetricRun {
    /// The `[metrics.NAME]` name: the key of every value of it.
    pub name: String,
    /// Its column heading.
    pub label: String,
    /// "pair" (baseline image vs config image) or "prompt" (image vs its
    /// prompt, judged as the change against the baseline's own score).
    pub kind: MetricKind,
    /// "lower" or "higher".
    pub better: Better,
    /// Items handed to the plugin (images measured).
    pub items: usize,
    /// Items it answered with a usable value.
    pub values: usize,
    /// Wall-clock seconds the plugin took (start to exit).
    pub seconds: f64,
    /// Why it gave no values at all (could not start, crashed, timed out);
    /// null when it answered.
    pub error: Option<String>,
    /// What was wrong with its answer (NaN, missing or repeated lines).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The plugin's own `{"event": "settings", ...}` line (network, version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<serde_json::Value>,
}

/// One metric of one config (`results[].metrics.NAME`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfigMetric {
    /// Mean of this config's values over its measured prompts: for "pair"
    /// its distance to the baseline, for "prompt" its own score.
    pub mean: Option<f64>,
    /// "prompt" kind: the baseline's mean score over the same prompts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_mean: Option<f64>,
    /// "prompt" kind: `mean − baseline_mean` (same prompts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<f64>,
    /// Prompts with a value.
    pub measured: usize,
    /// Prompts the plugin was given but answered without a usable value
    /// ("prompt" kind: also those whose baseline image has none to compare
    /// with). A judged metric with any is WARN: a threshold cannot pass what
    /// was not measured, and a gap can be exactly the bad prompt.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unmeasured: usize,
    /// The thresholds as applied to this config: WARN / FAIL beyond these
    /// ("pair": the mean; "prompt": how much worse than the baseline).
    pub warn: Option<f64>,
    pub fail: Option<f64>,
    /// Whether the thresholds were applied (lossy configs; lossless ones
    /// when the registry says `lossless = true`; never the baseline).
    pub judged: bool,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl ConfigMetric {
    /// The figure judged and compared: the change against the baseline
    /// ("prompt" kind), else the mean.
    pub fn judged_value(&self) -> Option<f64> {
        self.change.or(self.mean)
    }

    /// The figure a table shows: the mean for "pair", the signed change for
    /// "prompt" (its own score beside the baseline's means little alone).
    pub fn shown(&self, kind: MetricKind) -> Option<f64> {
        match kind {
            MetricKind::Pair => self.mean,
            MetricKind::Prompt => self.change.or(self.mean),
        }
    }
}

/// "0.1234" for a pair metric, "+0.0123" / "−0.0123" for a prompt change.
pub fn format_value(kind: MetricKind, m: Option<&ConfigMetric>) -> String {
    let Some(m) = m else {
        return "—".to_string();
    };
    match (kind, m.change, m.mean) {
        (MetricKind::Prompt, Some(c), _) => format!("{c:+.4}"),
        (_, _, Some(v)) => format!("{v:.4}"),
        _ => "—".to_string(),
    }
}

impl MetricRun {
    /// The column heading: the label, "Δ" for a change against the baseline.
    pub fn heading(&self) -> String {
        match self.kind {
            MetricKind::Pair => self.label.clone(),
            MetricKind::Prompt => format!("{} Δ", self.label),
        }
    }

    /// One line on what the plugin did: "lpips: 24 of 24 values in 3.1 s",
    /// or why it gave none.
    pub fn summary_line(&self) -> String {
        match &self.error {
            Some(e) => format!("{} ({:.1} s)", e, self.seconds),
            None => {
                let mut s = format!(
                    "{}: {} of {} value(s) in {:.1} s",
                    self.name, self.values, self.items, self.seconds
                );
                for n in &self.notes {
                    s.push_str("; ");
                    s.push_str(n);
                }
                s
            }
        }
    }
}

/// The metric cells of config `r`, in the report's metric order.
pub fn cells(runs: &[MetricRun], r: &super::model::ConfigResult) -> Vec<String> {
    runs.iter()
        .map(|m| format_value(m.kind, r.metrics.get(&m.name)))
        .collect()
}

/// "; LPIPS: WARN if > 0.1, FAIL if > 0.3" for each metric whose thresholds
/// were applied to `r` (appended to the pixel thresholds in words).
pub fn thresholds_text(runs: &[MetricRun], r: &super::model::ConfigResult) -> String {
    let mut out = String::new();
    for m in runs {
        let Some(c) = r.metrics.get(&m.name).filter(|c| c.judged) else {
            continue;
        };
        let (op, what) = match (m.kind, m.better) {
            (MetricKind::Pair, Better::Lower) => (">", "mean"),
            (MetricKind::Pair, Better::Higher) => ("<", "mean"),
            (MetricKind::Prompt, _) => (">", "worse than the baseline by"),
        };
        let parts: Vec<String> = [("WARN", c.warn), ("FAIL", c.fail)]
            .iter()
            .filter_map(|(s, t)| Some(format!("{s} if {what} {op} {}", (*t)?)))
            .collect();
        out.push_str(&format!("; {}: {}", m.label, parts.join(", ")));
    }
    out
}
