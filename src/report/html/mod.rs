//! `diff_report.html`: one self-contained page (CSS and JS inline, no network)
//! with the run summary, the config table, the charts, and every prompt of
//! every config as baseline | config | diff heatmap with a compare mode.
//!
//! The template lives in `templates/` and is compiled in; `--templates DIR`
//! overrides it with a same-named file. It sees only [`HtmlPage`] (plain data),
//! always with HTML autoescaping, so prompt and log text render as text.

mod assets;
pub mod context;
mod regions;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

pub use context::{
    HtmlChart, HtmlConfig, HtmlImages, HtmlMetric, HtmlPage, HtmlPrompt, HtmlSummary,
    HtmlThresholds, HtmlValue,
};

/// The page's file name inside the results directory.
pub const REPORT_FILE: &str = "diff_report.html";
/// The folder beside the page holding its thumbnails and heatmaps.
pub const ASSETS_DIR: &str = "diff_report_assets";
/// The template's name, in `templates/` and in a `--templates` directory.
pub const TEMPLATE: &str = "diff_report.html.j2";

/// The templates compiled into the binary: (name, source).
const BUILTIN: &[(&str, &str)] = &[(
    TEMPLATE,
    include_str!("../../../templates/diff_report.html.j2"),
)];

/// Writes `diff_report.html` into `results_dir` and its images into
/// `diff_report_assets/` beside it; returns the page's path. Images that cannot
/// be read are shown as such on the page; only a template or write failure is
/// an error.
pub fn write_report(
    page: &HtmlPage,
    results_dir: &Path,
    templates: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    let mut page = page.clone();
    page.charts
        .retain(|c| safe_relative(&c.file) && results_dir.join(&c.file).is_file());

    let assets = results_dir.join(ASSETS_DIR);
    // Stale thumbnails of an earlier report must not survive a re-render.
    if assets.exists() {
        std::fs::remove_dir_all(&assets)
            .with_context(|| format!("failed to clear {}", assets.display()))?;
    }
    std::fs::create_dir_all(&assets)
        .with_context(|| format!("failed to create {}", assets.display()))?;
    // Per-image problems are already on the page; the caller need not stop.
    let _problems = assets::build(&mut page, results_dir, &assets);

    let html = render(&page, templates)?;
    let path = results_dir.join(REPORT_FILE);
    crate::results::atomic::write(&path, html.as_bytes())
        .with_context(|| format!("failed to write {}", path.display()))?;
    Ok(path)
}

/// Renders the page to a string (no files written).
pub fn render(page: &HtmlPage, templates: Option<&Path>) -> anyhow::Result<String> {
    let env = environment(templates)?;
    let template = env
        .get_template(TEMPLATE)
        .with_context(|| format!("failed to load template {TEMPLATE}"))?;
    template
        .render(
            minijinja::context! { page => minijinja::value::Serde(page), colormap => colormap_css() },
        )
        .map_err(|e| anyhow::anyhow!("failed to render {TEMPLATE}: {e:#}"))
}

/// A template environment: the user's directory first (if any), then the
/// templates compiled in. Autoescaping is on for every template whatever its
/// name, and undefined names are errors, so a typo in an override is caught.
fn environment(templates: Option<&Path>) -> anyhow::Result<Environment<'static>> {
    if let Some(dir) = templates
        && !dir.is_dir()
    {
        bail!("template directory {} does not exist", dir.display());
    }
    let dir = templates.map(Path::to_path_buf);
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_loader(move |name| {
        if let Some(dir) = &dir
            && safe_relative(name)
        {
            let path = dir.join(name);
            if path.is_file() {
                return std::fs::read_to_string(&path).map(Some).map_err(|e| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::TemplateNotFound,
                        format!("failed to read {}: {e}", path.display()),
                    )
                });
            }
        }
        Ok(BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, src)| src.to_string()))
    });
    env.add_filter("num", num);
    env.add_filter("pct", pct);
    Ok(env)
}

/// A relative path without `..` or a root: a template name or a chart file.
fn safe_relative(name: &str) -> bool {
    let p = Path::new(name);
    !name.is_empty()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// `x|num(3)`: a number with that many decimals; "—" for none; tiny values
/// in scientific notation so that 0.00004 does not read as 0.
fn num(value: Value, digits: Option<usize>) -> String {
    let digits = digits.unwrap_or(3);
    match f64::try_from(value) {
        Ok(v) if v.is_nan() => "NaN".into(),
        Ok(v) if v.is_infinite() => if v > 0.0 { "∞" } else { "−∞" }.into(),
        Ok(v) if v != 0.0 && v.abs() < 0.5 * 10f64.powi(-(digits as i32)) => format!("{v:.1e}"),
        Ok(v) => format!("{v:.digits$}"),
        Err(_) => "—".into(),
    }
}

/// `x|pct`: a 0..1 share as a percentage with one decimal; "—" for none.
fn pct(value: Value) -> String {
    match f64::try_from(value) {
        Ok(v) if v.is_finite() => format!("{:.1}%", v * 100.0),
        _ => "—".into(),
    }
}

/// The heatmap colour map as a CSS gradient, so the colour bar matches.
fn colormap_css() -> String {
    let stops: Vec<String> = assets::COLORMAP
        .iter()
        .map(|(t, [r, g, b])| format!("rgb({r},{g},{b}) {:.0}%", t * 100.0))
        .collect();
    format!("linear-gradient(to right, {})", stops.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_with_prompt(text: &str) -> HtmlPage {
        HtmlPage {
            title: "t".into(),
            num_prompts: 1,
            configs: vec![HtmlConfig {
                name: "cfg_parallel".into(),
                status: "PASS".into(),
                prompts: vec![HtmlPrompt {
                    text: text.into(),
                    ..Default::default()
                }],
                log_tail: Some("</pre><script>alert(2)</script>".into()),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn prompts_and_logs_are_escaped() {
        let html = render(&page_with_prompt("<img src=x onerror=alert(1)>"), None).unwrap();
        assert!(!html.contains("<img src=x"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(!html.contains("<script>alert(2)"));
    }

    #[test]
    fn a_template_directory_overrides_the_builtin() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(TEMPLATE),
            "{% for c in page.configs %}{{ c.name }}:{{ c.prompts[0].text }}{% endfor %}",
        )
        .unwrap();
        let html = render(&page_with_prompt("<b>"), Some(dir.path())).unwrap();
        assert_eq!(html, "cfg_parallel:&lt;b&gt;");
        assert!(render(&page_with_prompt(""), Some(&dir.path().join("nope"))).is_err());
    }

    #[test]
    fn numbers_format_for_people() {
        assert_eq!(num(Value::from(0.12345), Some(3)), "0.123");
        assert_eq!(num(Value::from(0.00004), Some(3)), "4.0e-5");
        assert_eq!(num(Value::from(()), None), "—");
        assert_eq!(pct(Value::from(0.25)), "25.0%");
    }
}
