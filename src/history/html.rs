//! The history page: `index.html`, one self-contained file (CSS, JS and the
//! data inline; no network), which opens from `file://` and GitHub Pages.
//!
//! The page holds the data once, compactly (columns per series), and builds
//! rows as they scroll into view: 100 configurations × 365 nights is 36,500
//! points, drawn on one canvas per row, never one element per night.

use std::collections::HashMap;

use anyhow::Context;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::model::{Change, History, Point};

const TEMPLATE: &str = include_str!("../../templates/history.html.j2");

#[derive(Serialize)]
struct PageRun<'a> {
    /// generated
    g: &'a str,
    /// diff_report link
    #[serde(skip_serializing_if = "Option::is_none")]
    d: Option<&'a str>,
    /// settings group index
    s: usize,
    /// the run's GPU-seconds (its bill)
    #[serde(skip_serializing_if = "Option::is_none")]
    c: Option<f64>,
}

#[derive(Serialize)]
struct PageSeries<'a> {
    c: &'a str,
    s: usize,
    f: &'a [String],
    /// run index per point
    r: Vec<usize>,
    /// status letters per point: P W F E S
    st: String,
    sp: Vec<Option<f64>>,
    lo: Vec<Option<f64>>,
    hi: Vec<Option<f64>>,
    md: Vec<Option<f64>>,
    ps: Vec<Option<f64>>,
    t: Vec<Option<f64>>,
    m: Vec<Option<u64>>,
    /// metric plugins' values per point, by metric name (docs/metrics.md)
    x: std::collections::BTreeMap<&'a str, Vec<Option<f64>>>,
    /// engine label index per point (into `engines`), -1 for none
    e: Vec<i64>,
    /// reason index per point (into `reasons`), -1 for none
    why: Vec<i64>,
}

#[derive(Serialize)]
struct PageData<'a> {
    runs: Vec<PageRun<'a>>,
    settings: Vec<&'a str>,
    series: Vec<PageSeries<'a>>,
    engines: Vec<String>,
    reasons: Vec<String>,
    changes: &'a [Change],
}

struct Interner(HashMap<String, i64>, Vec<String>);

impl Interner {
    fn get(&mut self, s: Option<&str>) -> i64 {
        let Some(s) = s else { return -1 };
        if let Some(i) = self.0.get(s) {
            return *i;
        }
        let i = self.1.len() as i64;
        self.0.insert(s.to_string(), i);
        self.1.push(s.to_string());
        i
    }
}

fn letter(p: &Point) -> char {
    p.status.as_str().chars().next().unwrap_or('?')
}

/// The page's data, columnar.
fn data(h: &History) -> PageData<'_> {
    let group: HashMap<&str, usize> = h
        .settings
        .iter()
        .enumerate()
        .map(|(i, g)| (g.fingerprint.as_str(), i))
        .collect();
    let gi = |fp: &str| group.get(fp).copied().unwrap_or(0);
    let mut engines = Interner(HashMap::new(), Vec::new());
    let mut reasons = Interner(HashMap::new(), Vec::new());
    let series = h
        .series
        .iter()
        .map(|s| PageSeries {
            c: &s.config,
            s: gi(&s.settings),
            f: &s.features,
            r: s.points.iter().map(|p| p.run).collect(),
            st: s.points.iter().map(letter).collect(),
            sp: s.points.iter().map(|p| p.speedup).collect(),
            lo: s
                .points
                .iter()
                .map(|p| p.speedup_ci.map(|c| c[0]))
                .collect(),
            hi: s
                .points
                .iter()
                .map(|p| p.speedup_ci.map(|c| c[1]))
                .collect(),
            md: s.points.iter().map(|p| p.mean_diff).collect(),
            ps: s.points.iter().map(|p| p.psnr).collect(),
            t: s.points.iter().map(|p| p.time_ms).collect(),
            m: s.points.iter().map(|p| p.memory_bytes).collect(),
            x: s.points
                .iter()
                .flat_map(|p| p.metrics.keys())
                .map(|name| {
                    let values = s.points.iter().map(|p| p.metrics.get(name).copied());
                    (name.as_str(), values.collect())
                })
                .collect(),
            e: s.points
                .iter()
                .map(|p| engines.get(p.engine.as_ref().map(|e| e.label.as_str())))
                .collect(),
            why: s
                .points
                .iter()
                .map(|p| reasons.get(p.reason.as_deref()))
                .collect(),
        })
        .collect();
    PageData {
        runs: h
            .runs
            .iter()
            .map(|r| PageRun {
                g: &r.generated,
                d: r.diff_report.as_deref(),
                s: gi(&r.settings),
                c: r.cost
                    .as_ref()
                    .map(|c| (c.gpu_seconds * 10.0).round() / 10.0),
            })
            .collect(),
        settings: h.settings.iter().map(|g| g.label.as_str()).collect(),
        series,
        engines: engines.1,
        reasons: reasons.1,
        changes: &h.changes,
    }
}

/// JSON safe inside a `<script>` element: no `<`, `>` or `&` survives, so
/// neither `</script>` nor `<!--` in a config name or reason ends it.
fn script_json<T: Serialize>(v: &T) -> anyhow::Result<String> {
    let text = serde_json::to_string(v).context("failed to serialise the page's data")?;
    Ok(text
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029"))
}

/// The page, as a string.
pub fn render(h: &History) -> anyhow::Result<String> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_template("history.html.j2", TEMPLATE)
        .context("the history template does not parse")?;
    let t = env
        .get_template("history.html.j2")
        .context("failed to load the history template")?;
    let json = script_json(&data(h))?;
    let first = h
        .runs
        .first()
        .map(|r| r.generated.clone())
        .unwrap_or_default();
    let last = h
        .runs
        .last()
        .map(|r| r.generated.clone())
        .unwrap_or_default();
    t.render(minijinja::context! {
        data => minijinja::Value::from_safe_string(json),
        runs => h.runs.len(),
        series => h.series.len(),
        first => first,
        last => last,
        settings => minijinja::value::Serde(&h.settings),
        notes => &h.notes,
        changes => minijinja::value::Serde(&h.changes),
        generated => &h.generated,
    })
    .map_err(|e| anyhow::anyhow!("failed to render the history page: {e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_data_cannot_close_its_element() {
        let s = script_json(&"</script><!-- & \u{2028}").expect("json");
        assert!(!s.contains('<') && !s.contains('>') && !s.contains('&'));
        let back: String = serde_json::from_str(&s).expect("still JSON");
        assert_eq!(back, "</script><!-- & \u{2028}");
    }
}
