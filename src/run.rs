//! `compat run`: registry → matrix → devices → executor → results directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, watch};

use crate::executor::{self, Cancel, Event, Job};
use crate::exit::{self, usage};
use crate::matrix::{self, Combos, Config};
use crate::progress::Progress;
use crate::registry::Registry;
use crate::results::{self, ConfigEntry, ConfigInfo, ConfigState, Manifest, atomic};
use crate::settings;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The feature every configuration is built on (e.g. cfg_parallel)
    #[arg(long, alias = "baseline-feature", value_name = "FEATURE")]
    pub baseline: String,
    /// Features added to the baseline feature, one configuration each (or every subset)
    #[arg(long, num_args = 0.., value_name = "FEATURE")]
    pub addons: Vec<String>,
    /// pairs: baseline feature + each addon; all: every subset of the addons
    #[arg(long, value_enum, default_value = "pairs")]
    pub combos: Combos,
    /// Backend from the registry [default: the registry's default_backend]
    #[arg(long)]
    pub backend: Option<String>,
    /// Model id passed to the backend [default: the backend's]
    #[arg(long)]
    pub model: Option<String>,
    /// Prompts to run [default: the backend's, else 20]
    #[arg(long)]
    pub num_prompts: Option<usize>,
    /// One prompt per line; blank lines and # comments ignored [default: built-in prompts]
    #[arg(long, value_name = "FILE")]
    pub prompt_file: Option<PathBuf>,
    /// Inference steps [default: the backend's, else 30]
    #[arg(long)]
    pub steps: Option<u32>,
    /// Image height in pixels [default: the backend's, else 1024]
    #[arg(long)]
    pub height: Option<u32>,
    /// Image width in pixels [default: the backend's, else 1024]
    #[arg(long)]
    pub width: Option<u32>,
    /// Classifier-free guidance scale [default: 4.0]
    #[arg(long)]
    pub cfg_scale: Option<f64>,
    /// Seed of prompt 0; prompt i uses seed + i [default: 42]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Negative prompt (the unconditional branch of CFG) [default: empty]
    #[arg(long)]
    pub negative_prompt: Option<String>,
    /// Devices available (overrides discovery)
    #[arg(long, value_name = "N")]
    pub gpus: Option<usize>,
    /// Results root; the run goes into <output-dir>/<baseline>/
    #[arg(long, default_value = "compat_results")]
    pub output_dir: PathBuf,
    /// Finish an earlier run: keep configurations that completed with the same inputs
    #[arg(long, conflicts_with = "force")]
    pub resume: bool,
    /// Start over, deleting an earlier run in the same directory
    #[arg(long)]
    pub force: bool,
    /// Per-configuration time limit (e.g. 30m, 2h)
    #[arg(long, default_value = "2h", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Wait between TERM and KILL when stopping a backend
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, hide = true)]
    pub kill_grace: Duration,
    /// Most configurations running at once (packed onto disjoint devices)
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// One configuration at a time (for timing-sensitive runs)
    #[arg(long, conflicts_with = "jobs")]
    pub serial: bool,
    /// Where backends run: local processes, or one Slurm job per configuration
    #[arg(long, value_enum, default_value = "local")]
    pub executor: ExecutorKind,
    /// Slurm partition [default: the registry's [slurm] partition]
    #[arg(long, help_heading = "Slurm")]
    pub partition: Option<String>,
    /// Slurm account
    #[arg(long, help_heading = "Slurm")]
    pub account: Option<String>,
    /// Slurm time limit per job, in Slurm's format (e.g. 02:00:00)
    #[arg(long, help_heading = "Slurm", value_name = "TIME")]
    pub slurm_time: Option<String>,
    /// Extra srun argument (repeatable), e.g. --srun-arg=--qos=high
    #[arg(
        long = "srun-arg",
        help_heading = "Slurm",
        value_name = "ARG",
        allow_hyphen_values = true
    )]
    pub srun_args: Vec<String>,
    /// Print every configuration, its GPUs, SKIP reason and argv; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Run `compat analyze` on the results afterwards (with the flags below)
    #[arg(long)]
    pub analyze: bool,
    #[command(flatten, next_help_heading = "Analysis (with --analyze)")]
    pub analysis: crate::analysis::AnalyzeOptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecutorKind {
    Local,
    Slurm,
}

/// Entry point of `compat run`.
pub fn run(args: RunArgs, features: Option<&Path>) -> anyhow::Result<ExitCode> {
    let registry = Registry::locate(features)?;
    let backend_name = args
        .backend
        .clone()
        .unwrap_or_else(|| registry.default_backend.clone());
    let backend = registry
        .backend(&backend_name)
        .ok_or_else(|| usage(registry.unknown_backend(&backend_name)))?
        .clone();
    let settings = settings::resolve(&args, &backend)?;
    let devices = match args.executor {
        ExecutorKind::Local => crate::devices::discover(backend.devices, args.gpus),
        ExecutorKind::Slurm => slurm_devices(args.gpus)?,
    };
    let configs = matrix::expand(
        &registry,
        &args.baseline,
        &args.addons,
        args.combos,
        &backend.name,
        devices.count,
    )
    .map_err(|e| usage(e.to_string()))?;
    let prompts = crate::prompts::load(args.prompt_file.as_deref(), settings.num_prompts)?;
    if let Some(asked) = prompts.clamped_from {
        eprintln!(
            "note: --num-prompts {asked} is more than {} holds; using its {} prompts",
            prompts.source,
            prompts.prompts.len()
        );
    }
    let out = args.output_dir.join(&args.baseline);
    let out_abs = absolute(&out)?;
    let exe = std::env::current_exe().context("cannot find compat's own executable")?;

    let mut manifest = Manifest {
        schema_version: results::manifest::SCHEMA_VERSION,
        tool: "compat".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        created: results::now_rfc3339(),
        updated: results::now_rfc3339(),
        registry: registry.source.clone(),
        backend: backend.name.clone(),
        backend_command: backend.command.clone(),
        model: settings.model.clone(),
        steps: settings.steps,
        height: settings.height,
        width: settings.width,
        cfg_scale: settings.cfg_scale,
        seed: settings.seed,
        negative_prompt: settings.negative_prompt.clone(),
        prompts: prompts.prompts.clone(),
        baseline_feature: args.baseline.clone(),
        addons: args.addons.clone(),
        combos: args.combos.as_str().into(),
        devices: devices.clone(),
        timeout_seconds: args.timeout.as_secs(),
        executor: match args.executor {
            ExecutorKind::Local => "local".into(),
            ExecutorKind::Slurm => "slurm".into(),
        },
        configs: Vec::new(),
    };
    let prompt_file = out_abs.join(results::PROMPTS);
    manifest.configs = configs
        .iter()
        .map(|c| {
            let dir = out_abs.join(&c.name);
            let argv = settings::argv(&backend, &settings, c, &exe, &prompt_file, &dir);
            entry(c, argv, &manifest)
        })
        .collect();

    if args.dry_run {
        print_dry_run(&manifest, &devices.detail);
        return Ok(ExitCode::SUCCESS);
    }

    prepare_dir(&out, &mut manifest, args.resume, args.force)?;
    atomic::write(&prompt_file, (prompts.prompts.join("\n") + "\n").as_bytes())?;
    write_manifest(&out, &mut manifest)?;

    let jobs: Vec<Job> = manifest
        .configs
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.state, ConfigState::Pending))
        .map(|(index, e)| Job {
            index,
            name: e.name.clone(),
            gpus: e.gpus,
            dir: out.join(&e.name),
            argv: e.argv.clone(),
            num_prompts: manifest.prompts.len(),
        })
        .collect();
    let kept = manifest
        .configs
        .iter()
        .filter(|e| e.state.is_done())
        .count();
    if kept > 0 {
        eprintln!(
            "resuming: {kept} configuration(s) already complete, {} to run",
            jobs.len()
        );
    }
    let launcher = match args.executor {
        ExecutorKind::Local => executor::Launcher::Local,
        ExecutorKind::Slurm => executor::Launcher::Slurm(slurm_options(&args, &registry)),
    };
    let opts = executor::Options {
        devices: devices.ids.clone(),
        jobs: if args.serial {
            1
        } else {
            args.jobs.unwrap_or(usize::MAX)
        },
        // Under Slurm the time limit is Slurm's (--time, from --timeout unless
        // given): it runs from the job's start, while ours would also count
        // the time spent waiting in the queue.
        timeout: match args.executor {
            ExecutorKind::Local => args.timeout,
            ExecutorKind::Slurm => Duration::from_secs(365 * 24 * 3600),
        },
        grace: args.kill_grace,
        gpu_memory: match (args.executor, backend.devices) {
            (ExecutorKind::Local, crate::registry::DeviceSource::Gpu) => {
                executor::memory::GpuMemory::init()
            }
            _ => None,
        },
        launcher,
    };
    let interrupted = execute(&out, &mut manifest, jobs, opts)?;
    // tokio's handlers outlive its runtime and would swallow a Ctrl-C during
    // the analysis below: give the signals back their default action.
    restore_default_signals();

    let summary = summary(&manifest, &out);
    // With --json, stdout is the report alone, for scripts.
    if args.analysis.json {
        eprint!("{summary}");
    } else {
        print!("{summary}");
    }
    if interrupted {
        eprintln!(
            "interrupted: results so far are in {}; finish with the same command and --resume",
            out.display()
        );
        return Ok(ExitCode::from(exit::INTERRUPTED));
    }
    if manifest
        .configs
        .iter()
        .all(|e| e.state == ConfigState::Skipped)
    {
        // Exit 0 here would let a CI job pass having tested nothing.
        eprintln!(
            "error: every configuration was SKIP, nothing was tested (devices: {}); \
             pass --gpus N or run where the devices are",
            manifest.devices.detail
        );
        return Ok(ExitCode::from(exit::FAILURE));
    }
    let failed = manifest.configs.iter().any(|e| {
        matches!(
            e.state,
            ConfigState::Failed | ConfigState::TimedOut | ConfigState::Interrupted
        )
    });
    let a = &args.analysis;
    let wants_analysis =
        args.analyze || a.charts || a.html || a.junit.is_some() || a.markdown.is_some();
    if wants_analysis {
        let code = crate::analysis::analyze(&out, &args.analysis, features)?;
        if failed {
            return Ok(ExitCode::from(exit::FAILURE));
        }
        return Ok(code);
    }
    Ok(ExitCode::from(if failed {
        exit::FAILURE
    } else {
        exit::SUCCESS
    }))
}

fn entry(c: &Config, argv: Vec<String>, m: &Manifest) -> ConfigEntry {
    ConfigEntry {
        name: c.name.clone(),
        role: c.role.as_str().into(),
        features: c.features.clone(),
        args: c.args.clone(),
        gpus: c.gpus,
        lossy: c.lossy,
        state: if c.skip.is_some() {
            ConfigState::Skipped
        } else {
            ConfigState::Pending
        },
        skip_reason: c.skip.clone(),
        error: None,
        devices: vec![],
        started: None,
        finished: None,
        seconds: None,
        exit_code: None,
        prompts_ok: 0,
        fingerprint: crate::fingerprint::of_config(m, c),
        concurrent_with: vec![],
        slurm_job_id: None,
        gpu_memory_peak_bytes: Default::default(),
        argv: if c.skip.is_some() { vec![] } else { argv },
    }
}

/// Refuses to clobber an earlier run; with `--resume` keeps what is still valid.
fn prepare_dir(
    out: &Path,
    manifest: &mut Manifest,
    resume: bool,
    force: bool,
) -> anyhow::Result<()> {
    let path = out.join(results::MANIFEST);
    let old: Option<Manifest> = if path.is_file() {
        Some(atomic::read_json(&path).with_context(|| {
            format!(
                "{} exists but cannot be read; use --force to start over",
                path.display()
            )
        })?)
    } else {
        None
    };
    let has_content = out.is_dir()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
    if force {
        if out.exists() {
            std::fs::remove_dir_all(out)
                .with_context(|| format!("failed to remove {}", out.display()))?;
        }
    } else if resume {
        match &old {
            Some(old) => {
                manifest.created = old.created.clone();
                for e in &mut manifest.configs {
                    let prev = old.configs.iter().find(|o| o.name == e.name);
                    if let Some(prev) =
                        prev.filter(|p| p.state.is_done() && p.fingerprint == e.fingerprint)
                    {
                        *e = prev.clone();
                    }
                }
            }
            None if has_content => {
                return Err(usage(format!(
                    "{} holds files but no {}; nothing to resume — use --force to start over",
                    out.display(),
                    results::MANIFEST
                )));
            }
            None => {}
        }
    } else if let Some(old) = &old {
        let done = old.configs.iter().filter(|e| e.state.is_done()).count();
        return Err(usage(format!(
            "{} already holds a run (started {}, {done} of {} configurations complete) — \
             pass --resume to finish it, or --force to delete it and start over",
            out.display(),
            old.created,
            old.configs.len()
        )));
    } else if has_content {
        return Err(usage(format!(
            "{} is not empty — pass --force to delete its contents and start over, or choose another --output-dir",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).with_context(|| format!("failed to create {}", out.display()))
}

fn write_manifest(out: &Path, m: &mut Manifest) -> anyhow::Result<()> {
    m.updated = results::now_rfc3339();
    atomic::write_json(&out.join(results::MANIFEST), m)
}

fn write_config_info(out: &Path, e: &ConfigEntry) -> anyhow::Result<()> {
    let dir = out.join(&e.name);
    if dir.is_dir() {
        atomic::write_json(&dir.join(results::CONFIG_INFO), &ConfigInfo::from_entry(e))?;
    }
    Ok(())
}

/// Runs the jobs, keeping the manifest and each config_info.json current.
/// Returns whether the run was interrupted.
fn execute(
    out: &Path,
    manifest: &mut Manifest,
    jobs: Vec<Job>,
    opts: executor::Options,
) -> anyhow::Result<bool> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let total = jobs.len();
    let num_prompts = manifest.prompts.len();
    runtime.block_on(async {
        let (cancel_tx, cancel_rx) = watch::channel(Cancel::None);
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(watch_signals(cancel_tx));
        let mut progress = Progress::new(total, num_prompts);
        let exec = tokio::spawn(executor::execute(jobs, opts, cancel_rx.clone(), tx));
        while let Some(event) = rx.recv().await {
            match event {
                Event::Started { index, devices } => {
                    let running: Vec<String> = manifest
                        .configs
                        .iter()
                        .filter(|e| e.state == ConfigState::Running)
                        .map(|e| e.name.clone())
                        .collect();
                    let name = manifest.configs[index].name.clone();
                    for other in manifest
                        .configs
                        .iter_mut()
                        .filter(|e| running.contains(&e.name))
                    {
                        other.concurrent_with.push(name.clone());
                    }
                    let e = &mut manifest.configs[index];
                    e.state = ConfigState::Running;
                    e.devices = devices;
                    e.started = Some(results::now_rfc3339());
                    e.concurrent_with = running;
                    progress.started(&e.name, &e.devices);
                    write_manifest(out, manifest)?;
                    write_config_info(out, &manifest.configs[index])?;
                }
                Event::Progress { index, done } => {
                    progress.prompts(&manifest.configs[index].name, done)
                }
                Event::Finished { index, result } => {
                    let e = &mut manifest.configs[index];
                    e.finished = Some(results::now_rfc3339());
                    e.seconds = Some(result.seconds);
                    e.exit_code = Some(result.outcome.exit_code());
                    e.prompts_ok = result.collected.as_ref().map_or(0, |c| c.ok);
                    e.state = match (&result.outcome, &result.error) {
                        (executor::Outcome::Interrupted, _) => ConfigState::Interrupted,
                        (executor::Outcome::TimedOut(_), _) => ConfigState::TimedOut,
                        (_, None) => ConfigState::Completed,
                        (_, Some(_)) => ConfigState::Failed,
                    };
                    e.error = result.error.clone();
                    e.gpu_memory_peak_bytes = result.gpu_memory_peak.clone();
                    if let Some(p) = &result.placement {
                        e.slurm_job_id = Some(p.job_id.clone());
                        e.devices = p.devices.clone();
                        // Queue time is not run time: the job started on its node.
                        if let Some(t) = p.started {
                            e.started = Some(results::rfc3339(t));
                        }
                    }
                    progress.finished(
                        &e.name,
                        e.state,
                        e.prompts_ok,
                        num_prompts,
                        result.seconds,
                        e.error.as_deref(),
                    );
                    if result.placement.is_some() {
                        slurm_overlaps(manifest);
                    }
                    write_manifest(out, manifest)?;
                    write_config_info(out, &manifest.configs[index])?;
                }
            }
        }
        exec.await.context("the executor stopped unexpectedly")?;
        progress.done();
        let interrupted = *cancel_rx.borrow() != Cancel::None;
        Ok(interrupted)
    })
}

fn restore_default_signals() {
    // SAFETY: resetting a signal's disposition to the default has no
    // preconditions; no handler of ours is left running.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
    }
}

/// First Ctrl-C (or TERM): stop gracefully; second: kill at once.
async fn watch_signals(cancel: watch::Sender<Cancel>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    let mut count = 0;
    loop {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        count += 1;
        if count == 1 {
            eprintln!(
                "\ninterrupted: stopping running configurations (Ctrl-C again to kill them now)"
            );
            let _ = cancel.send(Cancel::Graceful);
        } else {
            let _ = cancel.send(Cancel::Now);
        }
    }
}

fn print_dry_run(m: &Manifest, devices: &str) {
    println!(
        "compat run (dry run): {} configurations, backend {}, devices: {devices}",
        m.configs.len(),
        m.backend
    );
    println!(
        "model {}, {} prompts, {} steps, {}x{}, cfg {}, seed {}",
        m.model,
        m.prompts.len(),
        m.steps,
        m.width,
        m.height,
        m.cfg_scale,
        m.seed
    );
    for (i, e) in m.configs.iter().enumerate() {
        let gpus = format!("{} GPU{}", e.gpus, if e.gpus == 1 { "" } else { "s" });
        match &e.skip_reason {
            Some(reason) => println!(
                "[{}/{}] {}  ({gpus})  SKIP: {reason}",
                i + 1,
                m.configs.len(),
                e.name
            ),
            None => {
                println!("[{}/{}] {}  ({gpus})", i + 1, m.configs.len(), e.name);
                println!("      {}", crate::settings::shell_quote(&e.argv));
            }
        }
    }
    println!("nothing written (dry run)");
}

fn summary(m: &Manifest, out: &Path) -> String {
    use std::fmt::Write;
    let mut s = format!(
        "\n{:<40} {:>4}  {:<12} {:>8}  detail\n",
        "config", "gpus", "state", "seconds"
    );
    for e in &m.configs {
        let secs = e.seconds.map(|s| format!("{s:.1}")).unwrap_or_default();
        let detail = e
            .skip_reason
            .as_deref()
            .or(e.error.as_deref())
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}/{} prompts", e.prompts_ok, m.prompts.len()));
        let _ = writeln!(
            s,
            "{:<40} {:>4}  {:<12} {:>8}  {detail}",
            e.name,
            e.gpus,
            e.state.as_str(),
            secs
        );
    }
    let _ = writeln!(s, "results: {}", out.display());
    s
}

/// Which Slurm jobs really ran side by side: all were submitted at once, so
/// only their start (on the node) and end times tell.
fn slurm_overlaps(m: &mut Manifest) {
    let window = |e: &ConfigEntry| -> Option<(std::time::SystemTime, std::time::SystemTime)> {
        e.slurm_job_id.as_ref()?;
        Some((
            results::parse_time(e.started.as_deref()?)?,
            results::parse_time(e.finished.as_deref()?)?,
        ))
    };
    let windows: Vec<_> = m.configs.iter().map(window).collect();
    let names: Vec<String> = m.configs.iter().map(|e| e.name.clone()).collect();
    for (i, e) in m.configs.iter_mut().enumerate() {
        let Some((start, end)) = windows[i] else {
            continue;
        };
        e.concurrent_with = windows
            .iter()
            .zip(&names)
            .enumerate()
            .filter(|&(j, (w, _))| j != i && w.is_some_and(|(s2, e2)| s2 < end && start < e2))
            .map(|(_, (_, name))| name.clone())
            .collect();
    }
}

/// Devices for a Slurm run: `--gpus`, else the most GPUs any node has.
fn slurm_devices(gpus: Option<usize>) -> anyhow::Result<results::DeviceInfo> {
    let (n, source, detail) = match gpus {
        Some(n) => (n, "--gpus", format!("{n} GPUs per job at most (--gpus)")),
        None => {
            let n = executor::slurm::max_gpus_per_node().ok_or_else(|| {
                usage("cannot ask Slurm for its GPUs (`sinfo -o %G` failed or lists none); pass --gpus N")
            })?;
            (
                n,
                "slurm",
                format!("{n} GPUs on the largest Slurm node (sinfo)"),
            )
        }
    };
    Ok(results::DeviceInfo {
        count: n,
        ids: (0..n).map(|i| i.to_string()).collect(),
        source: source.into(),
        detail,
    })
}

/// Slurm settings: command line over the registry's `[slurm]` table.
fn slurm_options(args: &RunArgs, registry: &Registry) -> executor::slurm::SlurmOptions {
    let d = &registry.slurm;
    let mut extra = d.sbatch_args.clone();
    extra.extend(d.srun_args.iter().cloned());
    extra.extend(args.srun_args.iter().cloned());
    executor::slurm::SlurmOptions {
        partition: args.partition.clone().or_else(|| d.partition.clone()),
        account: args.account.clone().or_else(|| d.account.clone()),
        time: args
            .slurm_time
            .clone()
            .or_else(|| d.time.clone())
            .or_else(|| Some(args.timeout.as_secs().div_ceil(60).max(1).to_string())),
        gpu_flag: d.gpu_flag.clone().unwrap_or_else(|| "gres".into()),
        extra,
        job_prefix: format!("compat-{}-{}", std::process::id(), args.baseline),
    }
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    Ok(std::env::current_dir()
        .context("cannot read the current directory")?
        .join(p))
}
