//! The Slurm launcher: each configuration is one `srun` job asking for its
//! GPUs. srun stays our child (its own process group), so its output streams
//! into the configuration's log and its exit code is the backend's; Slurm
//! picks the node and sets CUDA_VISIBLE_DEVICES. The results layout is the
//! same as a local run, so analysis never knows where a configuration ran.

use std::process::Command;

/// Slurm settings: command line over the registry's `[slurm]` table.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub account: Option<String>,
    /// Slurm's time limit per job (e.g. "02:00:00").
    pub time: Option<String>,
    /// "gres" (`--gres=gpu:N`, default) or "gpus" (`--gpus=N`).
    pub gpu_flag: String,
    /// Extra srun arguments (the registry's sbatch_args and srun_args both
    /// land here: srun takes the allocation options too).
    pub extra: Vec<String>,
    /// Prefix of every job name, unique per run, so cancellation finds them.
    pub job_prefix: String,
}

/// The marker line the job prints first: job id, node and devices.
pub const MARKER: &str = "[compat] slurm job";

impl SlurmOptions {
    /// These options with the time limit `factor` times longer (a session
    /// job runs several configurations, each with what one would have had).
    /// A limit in a form Slurm takes that this cannot read ("UNLIMITED")
    /// stays as given.
    pub fn scaled(&self, factor: u32) -> SlurmOptions {
        let mut out = self.clone();
        if let Some(secs) = self.time.as_deref().and_then(slurm_seconds) {
            out.time = Some(slurm_time(secs.saturating_mul(u64::from(factor))));
        }
        out
    }

    /// The job name of one configuration.
    pub fn job_name(&self, config: &str) -> String {
        format!("{}:{config}", self.job_prefix)
    }

    /// `srun ... -- sh -c 'echo marker; exec "$@"' compat-job <argv>`. The
    /// small shell only prints where the job landed; the backend's argv goes
    /// through `"$@"`, never parsed by a shell.
    pub fn wrap(&self, config: &str, gpus: u32, argv: &[String]) -> Vec<String> {
        let mut out = vec![
            "srun".to_string(),
            format!("--job-name={}", self.job_name(config)),
            "--ntasks=1".to_string(),
            "--kill-on-bad-exit=1".to_string(),
        ];
        out.push(if self.gpu_flag == "gpus" {
            format!("--gpus={gpus}")
        } else {
            format!("--gres=gpu:{gpus}")
        });
        if let Some(p) = &self.partition {
            out.push(format!("--partition={p}"));
        }
        if let Some(a) = &self.account {
            out.push(format!("--account={a}"));
        }
        if let Some(t) = &self.time {
            out.push(format!("--time={t}"));
        }
        out.extend(self.extra.iter().cloned());
        out.extend(
            [
                "sh",
                "-c",
                "echo \"[compat] slurm job $SLURM_JOB_ID on $(hostname) at $(date +%s.%N) CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES\"; exec \"$@\"",
                "compat-job",
            ]
            .map(String::from),
        );
        out.extend(argv.iter().cloned());
        out
    }

    /// Cancels a configuration's job, queued or running (best effort).
    pub fn cancel(&self, config: &str) {
        let _ = Command::new("scancel")
            .arg(format!("--name={}", self.job_name(config)))
            .status();
    }
}

/// Where and when a job ran, from the marker line it printed first.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub job_id: String,
    pub devices: Vec<String>,
    /// When the job started on its node (not when it was queued).
    pub started: Option<std::time::SystemTime>,
}

/// Reads the marker line of a log.
pub fn parse_marker(log: &str) -> Option<Placement> {
    let line = log.lines().find(|l| l.starts_with(MARKER))?;
    let rest = line[MARKER.len()..].trim();
    let job_id = rest.split_whitespace().next()?.to_string();
    let devices = rest
        .split("CUDA_VISIBLE_DEVICES=")
        .nth(1)
        .map(|d| {
            d.trim()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let started = rest
        .split(" at ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|t| t.is_finite() && *t > 0.0)
        // A line any job may print: a time past what SystemTime holds is none.
        .and_then(|t| std::time::Duration::try_from_secs_f64(t).ok())
        .and_then(|d| std::time::UNIX_EPOCH.checked_add(d));
    Some(Placement {
        job_id,
        devices,
        started,
    })
}

/// The most GPUs any node offers, from `sinfo` (None without Slurm).
pub fn max_gpus_per_node() -> Option<usize> {
    let out = Command::new("sinfo")
        .args(["-h", "-o", "%G"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().filter_map(gres_gpus).max()
}

/// `gpu:8`, `gpu:a100:4(S:0-1)`, `gpu:2,shard:4` → the GPU count.
fn gres_gpus(line: &str) -> Option<usize> {
    line.split(',')
        .filter(|g| g.starts_with("gpu"))
        .filter_map(|g| g.split('(').next()?.rsplit(':').next()?.parse().ok())
        .max()
}

/// Seconds of a Slurm time limit: "M", "M:S", "H:M:S", "D-H", "D-H:M",
/// "D-H:M:S" (sbatch(1), --time).
fn slurm_seconds(t: &str) -> Option<u64> {
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (d.parse::<u64>().ok()?, Some(r)),
        None => (0, None),
    };
    let parts: Vec<u64> = rest
        .unwrap_or(t)
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let (h, m, s) = match (rest.is_some(), parts.as_slice()) {
        (false, [m]) => (0, *m, 0),
        (false, [m, s]) => (0, *m, *s),
        (false, [h, m, s]) | (true, [h, m, s]) => (*h, *m, *s),
        (true, [h]) => (*h, 0, 0),
        (true, [h, m]) => (*h, *m, 0),
        _ => return None,
    };
    Some(((days * 24 + h) * 60 + m) * 60 + s)
}

/// "D-HH:MM:SS", which Slurm reads back.
fn slurm_time(secs: u64) -> String {
    let (d, rest) = (secs / 86_400, secs % 86_400);
    format!(
        "{d}-{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_job_gets_each_configurations_time() {
        assert_eq!(slurm_seconds("90"), Some(5400));
        assert_eq!(slurm_seconds("90:30"), Some(5430));
        assert_eq!(slurm_seconds("02:00:00"), Some(7200));
        assert_eq!(slurm_seconds("1-2"), Some(93_600));
        assert_eq!(slurm_seconds("1-02:30"), Some(95_400));
        assert_eq!(slurm_seconds("1-02:30:05"), Some(95_405));
        assert_eq!(slurm_seconds("UNLIMITED"), None);
        assert_eq!(slurm_seconds("1:2:3:4"), None);
        let o = SlurmOptions {
            time: Some("02:00:00".into()),
            ..SlurmOptions::default()
        };
        assert_eq!(o.scaled(3).time.as_deref(), Some("0-06:00:00"));
        let o = SlurmOptions {
            time: Some("UNLIMITED".into()),
            ..SlurmOptions::default()
        };
        assert_eq!(o.scaled(3).time.as_deref(), Some("UNLIMITED"));
    }

    #[test]
    fn wraps_argv_without_a_shell_parsing_it() {
        let o = SlurmOptions {
            partition: Some("gpu".into()),
            gpu_flag: "gres".into(),
            job_prefix: "compat-1".into(),
            ..Default::default()
        };
        let argv = o.wrap("cfg_parallel", 2, &["gen".into(), "$(x) 'y'".into()]);
        assert_eq!(argv[0], "srun");
        assert!(argv.contains(&"--gres=gpu:2".to_string()));
        assert!(argv.contains(&"--partition=gpu".to_string()));
        assert!(argv.contains(&"--job-name=compat-1:cfg_parallel".to_string()));
        assert_eq!(
            argv[argv.len() - 2..],
            ["gen".to_string(), "$(x) 'y'".to_string()]
        );
    }

    #[test]
    fn reads_the_marker_and_gres() {
        let log = "[compat] slurm job 17 on node1 at 1700000000.5 CUDA_VISIBLE_DEVICES=2,3\n  Prompt 1: 1 seconds\n";
        let p = parse_marker(log).expect("marker");
        assert_eq!(p.job_id, "17");
        assert_eq!(p.devices, ["2", "3"]);
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_500);
        assert_eq!(p.started, Some(t));
        assert_eq!(gres_gpus("gpu:8"), Some(8));
        assert_eq!(gres_gpus("gpu:a100:4(S:0-1)"), Some(4));
        assert_eq!(gres_gpus("(null)"), None);
    }

    #[test]
    fn a_start_time_past_any_clock_is_none_not_a_panic() {
        for t in ["1e20", "1e300", "18446744073709551616"] {
            let log = format!("[compat] slurm job 1 on n at {t} CUDA_VISIBLE_DEVICES=0\n");
            let p = parse_marker(&log).expect("marker");
            assert_eq!(p.started, None, "{t}");
        }
    }
}
