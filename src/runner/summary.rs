//! What `compat run` prints: the dry-run plan and the summary table.

use std::path::Path;

use crate::results::Manifest;
use crate::text_table::{Rule, Table};

/// What the backend will really do before the timed prompts.
fn warmup(m: &Manifest) -> String {
    if crate::settings::uses_placeholder(&m.backend_command, "warmup") {
        format!("warm-up {}", m.settings.warmup)
    } else {
        "warm-up: none (the backend has no {warmup}); a cold first prompt is detected and left out"
            .to_string()
    }
}

/// The plan: every configuration, its GPUs, its SKIP reason or its argv.
pub fn dry_run(m: &Manifest, devices: &str, cpu: bool) -> String {
    let s = &m.settings;
    let mut out = format!(
        "compat run (dry run): {} configurations, backend {}, devices: {devices}\n",
        m.configs.len(),
        m.backend
    );
    out += &format!(
        "model {}, {} prompts, {} steps, {}x{}, cfg {}{}, seed {}, {}\n",
        s.model,
        m.prompts.len(),
        s.steps,
        s.width,
        s.height,
        s.cfg_scale,
        s.guidance_scale
            .map(|g| format!(", guidance {g}"))
            .unwrap_or_default(),
        s.seed,
        warmup(m)
    );
    let n = m.configs.len();
    for (i, e) in m.configs.iter().enumerate() {
        // On a CPU backend (the reference engine) a "GPU" is a CPU core.
        let unit = if cpu { "CPU core" } else { "GPU" };
        let gpus = format!("{} {unit}{}", e.gpus, if e.gpus == 1 { "" } else { "s" });
        match &e.skip_reason {
            Some(reason) => {
                out += &format!("[{}/{n}] {}  ({gpus})  SKIP: {reason}\n", i + 1, e.name)
            }
            None => {
                out += &format!("[{}/{n}] {}  ({gpus})\n", i + 1, e.name);
                out += &format!("      {}\n", crate::settings::shell_quote(&e.argv));
            }
        }
    }
    out
}

/// The table after a run: config, GPUs, state, seconds, GPU-seconds held
/// (seconds × GPUs), and the detail (SKIP reason, error, or prompts done);
/// then the bill (report::bill).
pub fn table(m: &Manifest, out: &Path) -> String {
    let rows = m.configs.iter().map(|e| {
        let secs = e.seconds.map(|s| format!("{s:.1}")).unwrap_or_default();
        let held = e
            .seconds
            .map(|s| format!("{:.1}", s * f64::from(e.gpus)))
            .unwrap_or_default();
        let detail = e
            .skip_reason
            .as_deref()
            .or(e.error.as_deref())
            .map(crate::text::one_line)
            .unwrap_or_else(|| format!("{}/{} prompts", e.prompts_ok, m.prompts.len()));
        vec![
            e.name.clone(),
            e.gpus.to_string(),
            e.state.as_str().to_string(),
            secs,
            held,
            detail,
        ]
    });
    let table = Table::new(["config", "gpus", "state", "seconds", "GPU-s", "detail"])
        .right(&[1, 3, 4])
        .min_width(0, 40)
        .min_width(1, 4)
        .min_width(2, 12)
        .min_width(3, 8)
        .min_width(4, 7)
        .gap(0, " ")
        .gap(2, " ")
        .rule(Rule::None)
        .rows(rows);
    let bill = crate::report::bill::of_run(m, out)
        .map(|b| format!("{}\n", b.line()))
        .unwrap_or_default();
    format!("\n{}{bill}results: {}\n", table.render(), out.display())
}
