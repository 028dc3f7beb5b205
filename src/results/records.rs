//! Per-prompt records: `results.jsonl` (DESIGN §4) and, for scripts that only
//! log, the original framework's timing lines.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One prompt's line of `results.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PromptRecord {
    /// 0-based prompt index.
    pub prompt: usize,
    /// Image file name in the config directory; null when none was made.
    pub image: Option<String>,
    /// Generation wall time, warm-up excluded.
    pub seconds: Option<f64>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Anything else the backend reported (cache counters, memory, …).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Everything a backend reported for one configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchRecords {
    /// By prompt index; the last line for a prompt wins.
    pub prompts: BTreeMap<usize, PromptRecord>,
    /// Model load time (`{"event": "load"}`).
    pub load_seconds: Option<f64>,
    /// Warm-up time (`{"event": "warmup"}`).
    pub warmup_seconds: Option<f64>,
    /// Peak memory per device (`{"event": "memory"}`).
    pub peak_memory: BTreeMap<String, u64>,
    /// Work the engine did over the timed prompts, by unit, summed over
    /// `{"event": "work", "counts": {"transformer_block": 240, ...}}` lines:
    /// a cache that computed exactly what its parent computed never engaged,
    /// whatever the clock says.
    pub work: BTreeMap<String, u64>,
    /// The same work per CFG branch (the work event's `branches`: the
    /// pipeline's `cache_context` names, e.g. cond and uncond).
    pub work_branches: BTreeMap<String, BTreeMap<String, u64>>,
    /// Calls a cache answered with the other CFG branch's output of the same
    /// step, by unit (the work event's `cross_branch`): a cache that keeps one
    /// state for both branches changes guidance, not only steps.
    pub cross_branch: BTreeMap<String, u64>,
    /// The engine as the backend itself reported it, in its `{"event":
    /// "settings", "engine": {"engine": …, "version": …, "commit": …}}`
    /// line: what really ran, which beats what the probe saw before.
    pub engine: Option<crate::probe::EngineInfo>,
    /// Lines that could not be read: (1-based line, why). A backend killed
    /// mid-write leaves one; it costs that line, not the file.
    pub malformed: Vec<(usize, String)>,
    /// Prompts whose `seconds` is not a duration: NaN or ±Infinity (which
    /// Python's `json.dumps` writes as bare tokens) or negative, with the
    /// value as written and its line.
    pub bad_seconds: BTreeMap<usize, (String, usize)>,
}

/// Adds a work event's `{"unit": n}` object to `into`; what is not a count
/// (negative, fractional, not a number) is left out.
fn add_counts(into: &mut BTreeMap<String, u64>, counts: Option<&serde_json::Value>) {
    let counts = counts.and_then(|c| c.as_object());
    for (unit, n) in counts.into_iter().flatten() {
        if let Some(n) = n.as_u64() {
            let slot = into.entry(unit.clone()).or_insert(0);
            *slot = slot.saturating_add(n);
        }
    }
}

/// Python's `json.dumps` writes non-finite floats as these bare tokens,
/// which are not JSON.
const NON_FINITE: [&str; 3] = ["-Infinity", "Infinity", "NaN"];

/// The line with `NaN`/`Infinity` values as `null`, and the token replaced.
fn without_non_finite(line: &str) -> Option<(String, &'static str)> {
    for token in NON_FINITE {
        for sep in [": ", ":"] {
            let pat = format!("{sep}{token}");
            if line.contains(&pat) {
                return Some((line.replace(&pat, &format!("{sep}null")), token));
            }
        }
    }
    None
}

impl BatchRecords {
    /// Parses `results.jsonl` text.
    pub fn parse_jsonl(text: &str) -> BatchRecords {
        let mut out = BatchRecords::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let mut bad_token = None;
            let value: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => match without_non_finite(line)
                    .and_then(|(l, t)| Some((serde_json::from_str(&l).ok()?, t)))
                {
                    Some((v, t)) => {
                        bad_token = Some(t);
                        v
                    }
                    None => {
                        out.malformed.push((n + 1, e.to_string()));
                        continue;
                    }
                },
            };
            if let Some(event) = value.get("event").and_then(|e| e.as_str()) {
                let seconds = value.get("seconds").and_then(|s| s.as_f64());
                match event {
                    "load" => out.load_seconds = seconds,
                    "warmup" => out.warmup_seconds = seconds,
                    "memory" => {
                        let device = match value.get("device") {
                            Some(serde_json::Value::String(s)) => s.clone(),
                            Some(v) => v.to_string(),
                            None => "?".to_string(),
                        };
                        if let Some(b) = value.get("peak_bytes").and_then(|b| b.as_u64()) {
                            let slot = out.peak_memory.entry(device).or_insert(0);
                            *slot = (*slot).max(b);
                        }
                    }
                    "work" => {
                        add_counts(&mut out.work, value.get("counts"));
                        add_counts(&mut out.cross_branch, value.get("cross_branch"));
                        let branches = value.get("branches").and_then(|b| b.as_object());
                        for (branch, counts) in branches.into_iter().flatten() {
                            let slot = out.work_branches.entry(branch.clone()).or_default();
                            add_counts(slot, Some(counts));
                        }
                    }
                    "settings" => {
                        if let Some(e) = value
                            .get("engine")
                            .and_then(|e| serde_json::from_value(e.clone()).ok())
                        {
                            out.engine = Some(e);
                        }
                    }
                    _ => {} // unknown events are allowed: the protocol grows
                }
                continue;
            }
            match serde_json::from_value::<PromptRecord>(value) {
                Ok(r) => {
                    let negative = r.seconds.filter(|s| *s < 0.0).map(|s| s.to_string());
                    if let Some(bad) = bad_token.map(str::to_string).or(negative) {
                        out.bad_seconds.insert(r.prompt, (bad, n + 1));
                    } else {
                        out.bad_seconds.remove(&r.prompt);
                    }
                    out.prompts.insert(r.prompt, r);
                }
                Err(e) => out.malformed.push((n + 1, e.to_string())),
            }
        }
        out
    }

    /// Serialises back to `results.jsonl` (used when the runner writes it for a
    /// backend that only logged).
    pub fn to_jsonl(&self) -> String {
        let mut s = String::new();
        let mut push = |v: serde_json::Value| {
            s.push_str(&v.to_string());
            s.push('\n');
        };
        if let Some(x) = self.load_seconds {
            push(serde_json::json!({"event": "load", "seconds": x}));
        }
        if let Some(x) = self.warmup_seconds {
            push(serde_json::json!({"event": "warmup", "seconds": x}));
        }
        for (d, b) in &self.peak_memory {
            push(serde_json::json!({"event": "memory", "device": d, "peak_bytes": b}));
        }
        if !self.work.is_empty() {
            let mut work = serde_json::json!({"event": "work", "counts": self.work});
            if !self.work_branches.is_empty() {
                work["branches"] = serde_json::json!(self.work_branches);
                work["cross_branch"] = serde_json::json!(self.cross_branch);
            }
            push(work);
        }
        for r in self.prompts.values() {
            push(serde_json::to_value(r).unwrap_or_default());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prompts_events_and_bad_lines() {
        let text = concat!(
            "{\"event\": \"load\", \"seconds\": 41.2}\n",
            "{\"prompt\": 0, \"image\": \"prompt_00.png\", \"seconds\": 1.5, \"ok\": true, \"skipped_evals\": 3}\n",
            "{\"prompt\": 1, \"image\": null, \"seconds\": null, \"ok\": false, \"error\": \"CUDA out of memory\"}\n",
            "{\"event\": \"memory\", \"device\": 0, \"peak_bytes\": 123}\n",
            "{\"event\": \"work\", \"counts\": {\"block\": 40, \"attention\": 40}}\n",
            "{\"event\": \"work\", \"counts\": {\"block\": 40, \"bad\": -1}, \"branches\": {\"cond\": {\"attention\": 20}, \"uncond\": {\"attention\": 6}}, \"cross_branch\": {\"attention\": 14, \"bad\": 1.5}}\n",
            "{\"prompt\": 2, \"ima"
        );
        let r = BatchRecords::parse_jsonl(text);
        assert_eq!(r.load_seconds, Some(41.2));
        assert_eq!(r.prompts.len(), 2);
        assert_eq!(r.prompts[&0].extra["skipped_evals"], 3);
        assert_eq!(r.prompts[&1].error.as_deref(), Some("CUDA out of memory"));
        assert_eq!(r.peak_memory["0"], 123);
        assert_eq!(r.malformed.len(), 1);
        assert_eq!(r.malformed[0].0, 7);
        assert_eq!(r.work["block"], 80);
        assert_eq!(r.work["attention"], 40);
        assert!(!r.work.contains_key("bad"), "not a count");
        assert_eq!(r.work_branches["cond"]["attention"], 20);
        assert_eq!(r.work_branches["uncond"]["attention"], 6);
        assert_eq!(r.cross_branch["attention"], 14);
        assert!(!r.cross_branch.contains_key("bad"), "not a count");
        let again = BatchRecords::parse_jsonl(&r.to_jsonl());
        assert_eq!(again.prompts, r.prompts);
        assert_eq!(again.work_branches, r.work_branches);
        assert_eq!(again.cross_branch, r.cross_branch);
    }

    /// Python's json.dumps writes NaN and Infinity as bare tokens; a
    /// negative time is no duration either.
    #[test]
    fn non_finite_and_negative_seconds_are_named() {
        let text = concat!(
            "{\"prompt\": 0, \"image\": \"prompt_00.png\", \"seconds\": NaN, \"ok\": true}\n",
            "{\"prompt\": 1, \"image\": \"prompt_01.png\", \"seconds\": -Infinity, \"ok\": true}\n",
            "{\"prompt\": 2, \"image\": \"prompt_02.png\", \"seconds\": -0.5, \"ok\": true}\n",
            "{\"prompt\": 3, \"image\": \"prompt_03.png\", \"seconds\": 0.5, \"ok\": true}\n",
        );
        let r = BatchRecords::parse_jsonl(text);
        assert_eq!(r.prompts.len(), 4);
        assert!(r.malformed.is_empty());
        assert_eq!(r.bad_seconds[&0], ("NaN".to_string(), 1));
        assert_eq!(r.bad_seconds[&1], ("-Infinity".to_string(), 2));
        assert_eq!(r.bad_seconds[&2], ("-0.5".to_string(), 3));
        assert!(!r.bad_seconds.contains_key(&3));
    }

    proptest::proptest! {
        /// A backend killed mid-write leaves anything: never a panic.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC*") {
            let _ = BatchRecords::parse_jsonl(&text);
        }

        /// Well-formed prompt lines always parse, whatever else surrounds them.
        #[test]
        fn well_formed_lines_always_parse(
            seconds in proptest::collection::vec(proptest::option::of(0.0f64..1e4), 1..12),
            noise in "[^\\n]{0,30}",
        ) {
            let mut text = String::new();
            for (i, s) in seconds.iter().enumerate() {
                let line = serde_json::json!({
                    "prompt": i, "image": format!("prompt_{i:02}.png"), "seconds": s, "ok": true,
                });
                text.push_str(&format!("{line}\n{noise}\n"));
            }
            let r = BatchRecords::parse_jsonl(&text);
            proptest::prop_assert_eq!(r.prompts.len(), seconds.len());
            // serde_json parses floats to within an ulp (no float_roundtrip).
            for (i, s) in seconds.iter().enumerate() {
                let got = r.prompts[&i].seconds;
                proptest::prop_assert_eq!(got.is_some(), s.is_some());
                if let (Some(g), Some(s)) = (got, s) {
                    proptest::prop_assert!((g - s).abs() <= s.abs() * 1e-15);
                }
            }
        }
    }
}
