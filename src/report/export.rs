//! One exporter interface (hyperfine's `Exporter`): a [`Report`] in, bytes or
//! files out. [`Exports`] says which formats a command asked for and where
//! they go; [`publish`] renders and writes them, one after the other, so one
//! failing format never costs the others.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::Report;
use crate::results::atomic;

/// What an exporter made.
pub enum Output {
    /// One file's contents (or stdout's), written by the caller.
    Bytes(Vec<u8>),
    /// Files the exporter wrote itself (images, a page with its assets).
    Files(Vec<PathBuf>),
}

/// One output format.
pub trait Exporter {
    /// Renders `report` (writing files under `dir` for multi-file formats).
    fn export(&self, report: &Report, dir: &Path) -> anyhow::Result<Output>;
}

/// report.json, pretty-printed with a trailing newline.
pub struct Json;

impl Exporter for Json {
    fn export(&self, report: &Report, _: &Path) -> anyhow::Result<Output> {
        let mut s =
            serde_json::to_string_pretty(report).context("failed to serialise the report")?;
        s.push('\n');
        Ok(Output::Bytes(s.into_bytes()))
    }
}

/// The terminal table.
pub struct Table {
    pub color: bool,
}

impl Exporter for Table {
    fn export(&self, report: &Report, _: &Path) -> anyhow::Result<Output> {
        Ok(Output::Bytes(
            super::table::render(report, self.color).into_bytes(),
        ))
    }
}

/// JUnit XML.
pub struct Junit;

impl Exporter for Junit {
    fn export(&self, report: &Report, _: &Path) -> anyhow::Result<Output> {
        Ok(Output::Bytes(super::junit::render(report)?.into_bytes()))
    }
}

/// The Markdown summary.
pub struct Markdown;

impl Exporter for Markdown {
    fn export(&self, report: &Report, _: &Path) -> anyhow::Result<Output> {
        Ok(Output::Bytes(super::markdown::render(report).into_bytes()))
    }
}

/// The charts, as PNG files in the results directory.
pub struct Charts {
    /// `--tradeoff-metric`: the trade-off chart's quality axis.
    pub tradeoff_metric: Option<String>,
}

impl Exporter for Charts {
    fn export(&self, report: &Report, dir: &Path) -> anyhow::Result<Output> {
        let (written, errors) =
            super::visual::write_charts(report, dir, self.tradeoff_metric.as_deref());
        // One bad chart must not cost the others, the report or the page.
        for e in &errors {
            eprintln!("warning: {e:#}");
        }
        Ok(Output::Files(written))
    }
}

/// diff_report.html and its assets.
pub struct Html {
    pub templates: Option<PathBuf>,
}

impl Exporter for Html {
    fn export(&self, report: &Report, dir: &Path) -> anyhow::Result<Output> {
        let page = super::visual::write_html(report, dir, self.templates.as_deref())?;
        Ok(Output::Files(vec![page]))
    }
}

/// The formats asked for, besides report.json (always written into the
/// results directory).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exports {
    /// report.json to stdout instead of the table.
    pub json: bool,
    pub junit: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
    pub charts: bool,
    pub html: bool,
    /// Templates overriding the built-in HTML ones.
    pub templates: Option<PathBuf>,
    /// `--tradeoff-metric NAME`: the trade-off chart's quality axis.
    pub tradeoff_metric: Option<String>,
}

impl Exports {
    /// Whether anything beyond report.json and the table was asked for.
    pub fn any_file(&self) -> bool {
        self.junit.is_some() || self.markdown.is_some() || self.charts || self.html
    }
}

/// Where an exporter's bytes go.
enum Sink {
    Stdout,
    File(PathBuf),
    /// Multi-file formats write under the results directory themselves.
    Dir,
}

/// Writes report.json into `dir`, prints the table (or the JSON), then every
/// format in `exports`.
pub fn publish(report: &Report, dir: &Path, exports: &Exports) -> anyhow::Result<()> {
    let mut plan: Vec<(Box<dyn Exporter>, Sink)> =
        vec![(Box::new(Json), Sink::File(dir.join(crate::results::REPORT)))];
    if exports.json {
        plan.push((Box::new(Json), Sink::Stdout));
    } else {
        let color = super::table::color_wanted();
        plan.push((Box::new(Table { color }), Sink::Stdout));
    }
    if let Some(p) = &exports.junit {
        plan.push((Box::new(Junit), Sink::File(p.clone())));
    }
    if let Some(p) = &exports.markdown {
        plan.push((Box::new(Markdown), Sink::File(p.clone())));
    }
    // The page links the charts, so they come first.
    if exports.charts || exports.html {
        let tradeoff_metric = exports.tradeoff_metric.clone();
        plan.push((Box::new(Charts { tradeoff_metric }), Sink::Dir));
    }
    if exports.html {
        let templates = exports.templates.clone();
        plan.push((Box::new(Html { templates }), Sink::Dir));
    }
    let report_json = dir.join(crate::results::REPORT);
    let mut unsaved = None;
    for (exporter, sink) in plan {
        let output = exporter
            .export(report, dir)
            .map_err(crate::exit::output_failed)?;
        match (output, sink) {
            // A read-only results folder must not cost the verdict: it still
            // reaches stdout, with a note, and the exit code says an output
            // is missing (an older report.json may still be there; `compare`
            // refuses one older than its run's manifest).
            (Output::Bytes(b), Sink::File(path)) if path == report_json => {
                if let Err(e) = atomic::write(&path, &b) {
                    eprintln!("note: {e:#}; the verdict below is not saved");
                    unsaved = Some(e);
                }
            }
            (Output::Bytes(b), Sink::Stdout) => {
                let mut out = std::io::stdout().lock();
                out.write_all(&b)
                    .and_then(|()| out.flush())
                    .context("failed to write to stdout")?;
            }
            (Output::Bytes(b), Sink::File(path)) => {
                atomic::write(&path, &b).map_err(crate::exit::output_failed)?
            }
            (Output::Files(files), _) => {
                for p in files {
                    eprintln!("wrote {}", p.display());
                }
            }
            (Output::Bytes(_), Sink::Dir) => {}
        }
    }
    match unsaved {
        Some(e) => Err(crate::exit::output_failed(e)),
        None => Ok(()),
    }
}
