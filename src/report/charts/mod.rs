//! PNG charts of a run (issue 5): one file per chart, each taking the same small
//! plain rows, so the charts never see the analysis types.
//!
//! * `chart_quality.png`   — MeanDiff per config, thresholds as dashed lines;
//! * `chart_speedgain.png` — speedup per config with its 95% interval;
//! * `chart_tradeoff.png`  — speedup against PSNR, one labelled point per config.
//!
//! Text is drawn with DejaVu Sans compiled into the binary, laid out by our own
//! `ab_glyph` code (`font`, used by the `canvas` backend for all text, plotters'
//! tick labels included), so a chart looks the same on a bare CI machine
//! without system fonts. Threshold and baseline lines stop short of labels.
//! Each chart is rendered on its own and its failure (even a panic inside
//! plotters) is returned, not raised: one bad chart must not cost the others.

mod canvas;
mod draw;
mod font;
mod geom;
mod labels;
mod psnr_axis;
mod quality;
mod speedgain;
mod tradeoff;

pub use tradeoff::QualityAxis;

use std::path::{Path, PathBuf};

use anyhow::Context;

/// File name of the MeanDiff chart inside the results directory.
pub const QUALITY_FILE: &str = "chart_quality.png";
/// File name of the speedup chart inside the results directory.
pub const SPEEDGAIN_FILE: &str = "chart_speedgain.png";
/// File name of the speed/quality trade-off chart inside the results directory.
pub const TRADEOFF_FILE: &str = "chart_tradeoff.png";

/// One configuration as the charts see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartRow {
    /// Config name (feature ids joined by `+`), shown as the row label.
    pub name: String,
    /// PASS | WARN | FAIL | ERROR | SKIP.
    pub status: String,
    /// Holds a lossy feature (colours the quality bar).
    pub lossy: bool,
    /// Devices the config needs.
    pub gpus: u32,
    /// Mean over prompts of MeanDiff against the pure baseline (0..1).
    pub mean_diff: Option<f64>,
    /// Speedup over the baseline (median of per-prompt time ratios).
    pub speedup: Option<f64>,
    /// 95% interval of the speedup.
    pub speedup_ci: Option<(f64, f64)>,
    /// Mean PSNR in dB; `None` when identical (infinite) or missing.
    pub psnr: Option<f64>,
    /// Every image byte- or pixel-identical to the baseline (PSNR = ∞).
    pub identical: bool,
    /// Why the config was skipped or failed.
    pub reason: Option<String>,
}

impl ChartRow {
    /// A config without measurements of its own: SKIP or ERROR.
    fn is_not_run(&self) -> bool {
        matches!(self.status.as_str(), "SKIP" | "ERROR")
    }
}

/// The MeanDiff thresholds that were applied (DESIGN §7), drawn as dashed lines.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChartThresholds {
    /// Lossless configs FAIL above this mean MeanDiff.
    pub lossless_mean: f64,
    /// Lossy configs WARN above this mean MeanDiff.
    pub lossy_mean: f64,
    /// Lossy configs FAIL above this mean MeanDiff.
    pub lossy_fail_mean: f64,
    /// The engine's own run-to-run MeanDiff (`--repeat-baseline`), if measured.
    pub noise_floor: Option<f64>,
}

/// Renders every chart into `dir`: the path of each chart written, or why it
/// could not be (one bad chart never stops the others).
pub fn write_all(
    rows: &[ChartRow],
    th: &ChartThresholds,
    dir: &Path,
) -> Vec<anyhow::Result<PathBuf>> {
    write_all_with(rows, th, dir, None)
}

/// [`write_all`], the trade-off chart's quality axis a metric plugin's
/// figure when `tradeoff` is given (`--tradeoff-metric`): its rows' figure
/// in place of PSNR.
pub fn write_all_with(
    rows: &[ChartRow],
    th: &ChartThresholds,
    dir: &Path,
    tradeoff: Option<(&[ChartRow], &tradeoff::QualityAxis)>,
) -> Vec<anyhow::Result<PathBuf>> {
    type Render<'a> = Box<dyn Fn() -> anyhow::Result<image::RgbImage> + 'a>;
    let charts: [(&str, Render); 3] = [
        (QUALITY_FILE, Box::new(|| quality::render(rows, th))),
        (SPEEDGAIN_FILE, Box::new(|| speedgain::render(rows, th))),
        (
            TRADEOFF_FILE,
            Box::new(move || match tradeoff {
                Some((metric_rows, axis)) => tradeoff::render_with(metric_rows, th, Some(axis)),
                None => tradeoff::render(rows, th),
            }),
        ),
    ];
    charts
        .iter()
        .map(|(file, render)| {
            let path = dir.join(file);
            draw::guarded(render)
                .and_then(|img| {
                    img.save(&path)
                        .with_context(|| format!("failed to save {}", path.display()))
                })
                .with_context(|| format!("failed to write chart {}", path.display()))
                .map(|()| path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, status: &str, lossy: bool, md: Option<f64>, sp: Option<f64>) -> ChartRow {
        ChartRow {
            name: name.into(),
            status: status.into(),
            lossy,
            gpus: 2,
            mean_diff: md,
            speedup: sp,
            speedup_ci: sp.map(|s| (s * 0.9, s * 1.1)),
            psnr: md.filter(|m| *m > 0.0).map(|m| -20.0 * m.log10()),
            identical: md == Some(0.0),
            reason: None,
        }
    }

    #[test]
    fn writes_three_charts_even_for_degenerate_rows() {
        let dir = tempfile::tempdir().unwrap();
        let th = ChartThresholds {
            lossless_mean: 0.02,
            lossy_mean: 0.15,
            lossy_fail_mean: 0.3,
            noise_floor: None,
        };
        let cases: Vec<Vec<ChartRow>> = vec![
            vec![],
            vec![row("baseline", "PASS", false, Some(0.0), Some(1.0))],
            vec![
                row("a", "SKIP", false, None, None),
                row("b", "ERROR", true, None, None),
            ],
            vec![row(
                "nan",
                "PASS",
                false,
                Some(f64::NAN),
                Some(f64::INFINITY),
            )],
        ];
        for rows in cases {
            let errors: Vec<_> = write_all(&rows, &th, dir.path())
                .into_iter()
                .filter_map(Result::err)
                .collect();
            assert!(errors.is_empty(), "{rows:?}: {errors:?}");
            for f in [QUALITY_FILE, SPEEDGAIN_FILE, TRADEOFF_FILE] {
                assert!(dir.path().join(f).is_file());
            }
        }
    }

    #[test]
    fn many_long_named_and_identical_rows_still_render() {
        let dir = tempfile::tempdir().unwrap();
        let th = ChartThresholds {
            lossless_mean: 0.02,
            lossy_mean: 0.15,
            lossy_fail_mean: 0.3,
            noise_floor: None,
        };
        let rows: Vec<ChartRow> = (0..16)
            .map(|k| {
                let name = format!("cfg_parallel+teacache+ulysses+ring+tensor_parallel_{k}");
                let mut r = row(
                    &name,
                    "PASS",
                    k % 2 == 0,
                    Some(0.0),
                    Some(1.5 + 0.01 * k as f64),
                );
                r.reason = Some("a long reason ".repeat(20));
                r
            })
            .collect();
        assert!(write_all(&rows, &th, dir.path()).iter().all(Result::is_ok));
        let img = image::open(dir.path().join(QUALITY_FILE)).unwrap();
        // One row per config: the chart grows with the matrix.
        assert!(img.height() >= 16 * draw::ROW_PX);
    }

    #[test]
    fn a_missing_directory_fails_every_chart_without_panicking() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let th = ChartThresholds {
            lossless_mean: 0.02,
            lossy_mean: 0.15,
            lossy_fail_mean: 0.3,
            noise_floor: None,
        };
        let rows = vec![row("a", "PASS", false, Some(0.01), Some(1.5))];
        let errors: Vec<_> = write_all(&rows, &th, &missing)
            .into_iter()
            .filter_map(Result::err)
            .collect();
        assert_eq!(errors.len(), 3);
        assert!(format!("{:#}", errors[0]).contains("chart_quality.png"));
    }
}
