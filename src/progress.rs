//! Progress of a run: an indicatif display on a terminal, plain lines
//! otherwise (CI logs), both on stderr.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::results::ConfigState;

pub struct Progress {
    total: usize,
    prompts: usize,
    started: usize,
    t0: Instant,
    bars: Option<(MultiProgress, ProgressBar)>,
    running: HashMap<String, (usize, ProgressBar)>,
}

impl Progress {
    pub fn new(total: usize, prompts: usize) -> Progress {
        let bars = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(total as u64));
            overall.set_style(
                ProgressStyle::with_template("{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} configs · {elapsed_precise} elapsed · ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            overall.set_prefix("compat run");
            (multi, overall)
        });
        Progress {
            total,
            prompts,
            started: 0,
            t0: Instant::now(),
            bars,
            running: HashMap::new(),
        }
    }

    pub fn started(&mut self, name: &str, devices: &[String]) {
        self.started += 1;
        let n = self.started;
        // Slurm assigns devices on the node; until then the job is submitted.
        let place = if devices.is_empty() {
            "submitted to Slurm".to_string()
        } else {
            format!("on devices {}", devices.join(","))
        };
        let bar = match &self.bars {
            Some((multi, _)) => {
                let bar = multi.add(ProgressBar::new(self.prompts as u64));
                bar.set_style(
                    ProgressStyle::with_template("  [{prefix}] {msg} {bar:20.green/white} {pos}/{len} prompts · {elapsed} · ETA {eta}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                bar.set_prefix(format!("{n}/{}", self.total));
                bar.set_message(format!("{name} {place}"));
                bar.enable_steady_tick(std::time::Duration::from_millis(200));
                bar
            }
            None => {
                eprintln!("[{n}/{}] {name}: started {place}", self.total);
                ProgressBar::hidden()
            }
        };
        self.running.insert(name.to_string(), (n, bar));
    }

    pub fn prompts(&mut self, name: &str, done: usize) {
        if let Some((n, bar)) = self.running.get(name) {
            if self.bars.is_some() {
                bar.set_position(done as u64);
            } else {
                eprintln!(
                    "[{n}/{}] {name}: {done}/{} prompts",
                    self.total, self.prompts
                );
            }
        }
    }

    pub fn finished(
        &mut self,
        name: &str,
        state: ConfigState,
        ok: usize,
        total: usize,
        secs: f64,
        error: Option<&str>,
    ) {
        let Some((n, bar)) = self.running.remove(name) else {
            return;
        };
        let what = match error {
            None => format!("done, {ok}/{total} prompts in {secs:.1}s"),
            // A backend's text: one line, control characters replaced, as
            // in the run summary.
            Some(e) => format!(
                "{} after {secs:.1}s: {}",
                state.as_str(),
                crate::text::one_line(e)
            ),
        };
        let line = format!("[{n}/{}] {name}: {what}", self.total);
        match &self.bars {
            Some((multi, overall)) => {
                bar.finish_and_clear();
                multi.remove(&bar);
                let _ = multi.println(line);
                overall.inc(1);
            }
            None => eprintln!("{line}"),
        }
    }

    pub fn done(&self) {
        if let Some((_, overall)) = &self.bars {
            overall.finish_and_clear();
        }
        if self.total > 0 {
            eprintln!(
                "ran {} configuration(s) in {:.1}s",
                self.started,
                self.t0.elapsed().as_secs_f64()
            );
        }
    }
}
