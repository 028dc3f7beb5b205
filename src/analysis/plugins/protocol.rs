//! The metric plugin protocol's two files (docs/metrics.md): the items
//! compat writes, one JSON object a line, and the values the plugin answers,
//! checked line by line: a plugin that lies (NaN, a missing or repeated
//! index, a wrong count) loses those values with a note, never the report.

use std::collections::BTreeMap;

use serde::Serialize;

/// One image to measure.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Item {
    /// 0-based line number: the answer names it.
    pub index: usize,
    /// The configuration the image belongs to.
    pub config: String,
    /// 0-based prompt index.
    pub prompt_index: usize,
    /// The prompt text.
    pub prompt: String,
    /// The image (an absolute path: images are handed over by path, never
    /// re-encoded).
    pub image: String,
    /// "pair" plugins: the pure baseline's image of the same prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// What the values file came to.
#[derive(Debug, Default, PartialEq)]
pub struct Answer {
    /// Item index → value, for items answered with a finite number.
    pub values: BTreeMap<usize, f64>,
    /// Item index → why the plugin (or compat) has no value for it.
    pub missing: BTreeMap<usize, String>,
    /// What was wrong with the file as a whole, one line each.
    pub notes: Vec<String>,
    /// The plugin's `{"event": "settings", ...}` line, when it wrote one.
    pub settings: Option<serde_json::Value>,
}

/// At most this many notes per kind of problem are spelled out.
const SHOWN: usize = 3;

/// Reads the plugin's answer for `n` items.
pub fn read_answer(text: &str, n: usize) -> Answer {
    let mut answer = Answer::default();
    let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
    let mut bad_lines: Vec<String> = Vec::new();
    let mut repeated: Vec<usize> = Vec::new();
    for (no, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() {
            continue;
        }
        let obj = match serde_json::from_str::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(o)) => o,
            Ok(_) => {
                bad_lines.push(format!("line {no}: not a JSON object"));
                continue;
            }
            Err(e) => {
                // Python's json.dumps writes NaN and Infinity, which JSON has not.
                let nan = ["NaN", "Infinity"].iter().any(|t| line.contains(t));
                bad_lines.push(if nan {
                    format!("line {no}: a NaN or infinite value (not a number)")
                } else {
                    format!("line {no}: not JSON ({e})")
                });
                continue;
            }
        };
        if let Some(event) = obj.get("event") {
            if event == "settings" {
                answer.settings = Some(serde_json::Value::Object(obj));
            }
            continue;
        }
        let index = match obj.get("index").and_then(serde_json::Value::as_u64) {
            Some(i) if (i as usize) < n => i as usize,
            Some(i) => {
                bad_lines.push(format!("line {no}: index {i} is not an item (0..{n})"));
                continue;
            }
            None => {
                bad_lines.push(format!("line {no}: no \"index\" (a whole number)"));
                continue;
            }
        };
        *seen.entry(index).or_default() += 1;
        if seen[&index] > 1 {
            repeated.push(index);
            continue;
        }
        match (obj.get("value"), obj.get("error")) {
            (Some(v), _) if v.as_f64().is_some_and(f64::is_finite) => {
                answer.values.insert(index, v.as_f64().unwrap_or_default());
            }
            (_, Some(e)) => {
                let why = e.as_str().map_or_else(|| e.to_string(), str::to_string);
                answer.missing.insert(
                    index,
                    format!("the plugin: {}", crate::text::one_line(&why)),
                );
            }
            (Some(v), None) => {
                answer
                    .missing
                    .insert(index, format!("not a finite number: {v}"));
            }
            (None, None) => {
                answer
                    .missing
                    .insert(index, "no \"value\" and no \"error\"".into());
            }
        }
    }
    // An index answered twice cannot be trusted either way: which one is it?
    repeated.sort_unstable();
    repeated.dedup();
    for &i in &repeated {
        answer.values.remove(&i);
        answer
            .missing
            .insert(i, "answered more than once".to_string());
    }
    if !repeated.is_empty() {
        answer.notes.push(format!(
            "{} item(s) answered more than once (first: {}): their values are left out",
            repeated.len(),
            repeated[0]
        ));
    }
    if !bad_lines.is_empty() {
        let more = bad_lines.len().saturating_sub(SHOWN);
        let mut text = bad_lines[..bad_lines.len().min(SHOWN)].join("; ");
        if more > 0 {
            text.push_str(&format!("; and {more} more"));
        }
        answer.notes.push(format!("values not read: {text}"));
    }
    let unanswered: Vec<usize> = (0..n).filter(|i| !seen.contains_key(i)).collect();
    for &i in &unanswered {
        answer.missing.insert(i, "no value in the answer".into());
    }
    if !unanswered.is_empty() {
        answer.notes.push(format!(
            "{} of {n} item(s) have no value in the answer (first: item {})",
            unanswered.len(),
            unanswered[0]
        ));
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_values_errors_and_settings() {
        let a = read_answer(
            "{\"event\": \"settings\", \"net\": \"alex\"}\n{\"index\": 1, \"value\": 0.5}\n\n{\"index\": 0, \"error\": \"bad image\"}\n",
            2,
        );
        assert_eq!(a.values, BTreeMap::from([(1, 0.5)]));
        assert_eq!(a.missing[&0], "the plugin: bad image");
        assert!(a.notes.is_empty(), "{:?}", a.notes);
        assert_eq!(a.settings.expect("settings")["net"], "alex");
    }

    /// Every way a plugin can lie loses only the values it lied about.
    #[test]
    fn a_lying_answer_loses_those_values_with_notes() {
        let a = read_answer(
            "{\"index\": 0, \"value\": NaN}\n{\"index\": 1, \"value\": \"0.3\"}\n{\"index\": 2, \"value\": 0.1}\n{\"index\": 2, \"value\": 0.2}\n{\"index\": 9, \"value\": 0.1}\nnot json\n[1]\n{\"value\": 0.4}\n{\"index\": 3, \"value\": null}\n",
            5,
        );
        assert!(a.values.is_empty(), "{:?}", a.values);
        assert_eq!(a.missing[&0], "no value in the answer");
        assert!(
            a.missing[&1].starts_with("not a finite number"),
            "{:?}",
            a.missing
        );
        assert_eq!(a.missing[&2], "answered more than once");
        assert!(
            a.missing[&3].starts_with("not a finite number"),
            "{:?}",
            a.missing
        );
        assert_eq!(a.missing[&4], "no value in the answer");
        let notes = a.notes.join("\n");
        assert!(notes.contains("line 1: a NaN or infinite value"), "{notes}");
        assert!(notes.contains("and 2 more"), "{notes}");
        assert!(
            notes.contains("1 item(s) answered more than once"),
            "{notes}"
        );
        assert!(notes.contains("2 of 5 item(s) have no value"), "{notes}");
    }
}
