//! `compat run`'s flags checked and turned into the plan's parts: limits no
//! backend can run, devices, requested settings, Slurm options.

use super::run::{ExecutorKind, RunArgs};
use crate::executor::slurm::SlurmOptions;
use crate::exit::usage;
use crate::registry::Registry;
use crate::results::DeviceInfo;
use crate::settings::Requested;

impl RunArgs {
    /// The run's name: its baseline feature, or "baseline" for addons
    /// tested on the pure baseline alone. Names its folder and Slurm jobs.
    fn run_name(&self) -> &str {
        self.baseline.as_deref().unwrap_or(crate::matrix::BASELINE)
    }

    /// `<output-dir>/<run name>/`.
    pub(super) fn run_dir(&self) -> std::path::PathBuf {
        self.output_dir.join(self.run_name())
    }

    /// Values no backend can run, refused before anything starts or is
    /// written (exit 2): a zero timeout or job count, sizes past 16384, and
    /// the reference engine's own limits (a multiple of 16, 16..=2048).
    pub(super) fn check_limits(
        &self,
        backend: &crate::registry::Backend,
        s: &crate::settings::Settings,
    ) -> anyhow::Result<()> {
        if self.baseline.is_none() && self.addons.is_empty() {
            return Err(usage(
                "nothing to test: give --baseline FEATURE, or --addons FEATURE... to test \
                 each on the pure baseline (see `compat features`)",
            ));
        }
        // The run folder is named after it, and its lock `.<name>.lock` beside it.
        let lock_name = self.run_name().len() + ".".len() + ".lock".len();
        if lock_name > crate::matrix::NAME_MAX {
            return Err(usage(format!(
                "--baseline '{}…' is {} bytes: the run's folder and its lock file `.<name>.lock` \
                 must fit a file name ({} bytes) — shorten the feature id in features.toml",
                self.run_name().chars().take(60).collect::<String>(),
                self.run_name().len(),
                crate::matrix::NAME_MAX
            )));
        }
        if self.output_dir.exists() && !self.output_dir.is_dir() {
            return Err(usage(format!(
                "--output-dir {} is a file, not a folder",
                self.output_dir.display()
            )));
        }
        if self.timeout.is_zero() {
            return Err(usage("--timeout must be longer than 0 (e.g. 30m, 2h)"));
        }
        if let Some(n) = self.gpus.filter(|&n| n > crate::devices::MAX_DEVICES) {
            return Err(usage(format!(
                "--gpus {n} is more devices than any machine has (at most {})",
                crate::devices::MAX_DEVICES
            )));
        }
        if self.jobs == Some(0) {
            return Err(usage(
                "--jobs must be at least 1 (or --serial for one at a time)",
            ));
        }
        for (flag, v) in [("--height", s.height), ("--width", s.width)] {
            if v > 16384 {
                return Err(usage(format!("{flag} {v} is past 16384 pixels")));
            }
            if backend.builtin.as_deref() == Some("reference")
                && (!v.is_multiple_of(16) || !(16..=2048).contains(&v))
            {
                return Err(usage(format!(
                    "{flag} {v}: the reference engine needs a multiple of 16 between 16 and 2048"
                )));
            }
        }
        Ok(())
    }

    /// The devices: discovered here, or the largest Slurm node's.
    pub(super) fn devices(&self, backend: &crate::registry::Backend) -> anyhow::Result<DeviceInfo> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        if backend.devices == crate::registry::DeviceSource::CpuCores
            && let Some(n) = self.gpus.filter(|n| *n > cores)
        {
            eprintln!(
                "warning: --gpus {n} is more than this machine's {cores} CPU cores, the {}'s devices: \
                 configurations share cores and their timings are not comparable",
                backend.name
            );
        }
        match self.executor {
            ExecutorKind::Local => Ok(crate::devices::discover(backend.devices, self.gpus)),
            ExecutorKind::Slurm => crate::devices::slurm(self.gpus).ok_or_else(|| {
                usage(
                    "cannot ask Slurm for its GPUs (`sinfo -o %G` failed or lists none); pass --gpus N",
                )
            }),
        }
    }

    pub(super) fn requested(&self) -> Requested {
        Requested {
            model: self.model.clone(),
            steps: self.steps,
            height: self.height,
            width: self.width,
            num_prompts: self.num_prompts,
            cfg_scale: self.cfg_scale,
            guidance_scale: self.guidance_scale,
            seed: self.seed,
            negative_prompt: self.negative_prompt.clone(),
            warmup: self.warmup,
        }
    }

    /// Slurm settings: command line over the registry's `[slurm]` table; the
    /// time limit from `--slurm-time`, the registry, else `--timeout`.
    pub(super) fn slurm_options(&self, registry: &Registry) -> SlurmOptions {
        let d = &registry.slurm;
        let mut extra = d.sbatch_args.clone();
        extra.extend(d.srun_args.iter().cloned());
        extra.extend(self.srun_args.iter().cloned());
        let minutes = || self.timeout.as_secs().div_ceil(60).max(1).to_string();
        SlurmOptions {
            partition: self.partition.clone().or_else(|| d.partition.clone()),
            account: self.account.clone().or_else(|| d.account.clone()),
            time: self
                .slurm_time
                .clone()
                .or_else(|| d.time.clone())
                .or_else(|| Some(minutes())),
            gpu_flag: d.gpu_flag.clone().unwrap_or_else(|| "gres".into()),
            extra,
            job_prefix: format!("compat-{}-{}", std::process::id(), self.run_name()),
        }
    }
}
