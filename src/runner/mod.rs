//! `compat run`: plan → manifest → run folder → executor (events recorded
//! into the manifest) → summary → analysis.

mod estimate;
mod leftovers;
pub(crate) mod lock;
mod outdir;
mod plan;
mod queue;
mod recorder;
mod sessions;
mod summary;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

pub use plan::{ExecutorPlan, OutputMode, QueueOrder, RunPlan};

use crate::executor::{self, Job};
use crate::exit;
use crate::matrix::{Config, Role};
use crate::results::{self, ConfigEntry, ConfigState, Manifest, atomic};

/// Runs the plan; returns the exit code (DESIGN §2).
pub fn run(plan: RunPlan) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find compat's own executable")?;
    let out_abs = std::path::absolute(&plan.out)
        .with_context(|| format!("cannot resolve {}", plan.out.display()))?;
    let mut manifest = manifest(&plan, &exe, &out_abs);
    // The earlier run --resume continues: its durations plan the order.
    let resumed = match plan.output {
        OutputMode::Resume => results::reader::read_manifest(&plan.out).ok().flatten(),
        _ => None,
    };
    let samples = queue::samples(&plan, resumed.as_ref())?;
    if plan.dry_run {
        let cpu = plan.backend.devices == crate::registry::DeviceSource::CpuCores;
        print!("{}", summary::dry_run(&manifest, &plan.devices.detail, cpu));
        let grouping = sessions::pending(&plan, &manifest);
        let units = grouping.units();
        if !units.is_empty() {
            let q = queue::plan(&plan, &manifest, &samples, &units);
            print!("{}", queue::describe(&q, &manifest, cpu));
            if !grouping.sessions.is_empty() {
                println!(
                    "shared model loads: {} session(s), {} model load(s) avoided (--no-share-load: one process per configuration)",
                    grouping.sessions.len(),
                    grouping.loads_avoided()
                );
            }
        }
        println!("nothing written (dry run)");
        if plan.output == OutputMode::Resume
            && let Ok(Some(old)) = results::reader::read_manifest(&plan.out)
        {
            println!("{} (dry run)", outdir::resume_plan(&manifest, &old));
        }
        if plan.output == OutputMode::Fresh && plan.out.join(results::MANIFEST).is_file() {
            eprintln!(
                "note: {} already holds a run: the real command needs --resume (keep what completed) or --force",
                plan.out.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let out = &plan.out;
    // Held until this function returns: a second run on the folder is refused.
    let lock = lock::acquire(out)?;
    // What a configuration kept by --resume goes back to when its session's
    // check no longer vouches for it (sessions::keep_records).
    let fresh = resumed.as_ref().map(|_| manifest.clone());
    outdir::prepare(out, &mut manifest, plan.output)?;
    // What was derived from the folder no longer holds once the run changes it.
    outdir::remove_derived(out)?;
    let prompts = manifest.prompts.join("\n") + "\n";
    atomic::write(&out.join(results::PROMPTS), prompts.as_bytes())?;
    if let (Some(old), Some(fresh)) = (&resumed, &fresh) {
        sessions::keep_records(&mut manifest, old, fresh);
    }
    let grouping = sessions::pending(&plan, &manifest);
    sessions::apply(&plan, &mut manifest, &grouping, &out_abs)?;
    recorder::write_manifest(out, &mut manifest)?;

    let mut jobs = jobs(&plan, &manifest, &grouping);
    let q = queue::plan(&plan, &manifest, &samples, &grouping.units());
    jobs.sort_by_key(|j| q.order.iter().position(|&i| i == j.index));
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
    let mut options = executor_options(&plan);
    options.groups = Some(lock.group_log());
    let interrupted = recorder::execute(out, &mut manifest, jobs, options)?;

    let table = summary::table(&manifest, out);
    if plan.summary_to_stderr() {
        eprint!("{table}");
    } else {
        print!("{table}");
    }
    if interrupted {
        eprintln!(
            "interrupted: results so far are in {}; finish with the same command and --resume",
            out.display()
        );
        return Ok(ExitCode::from(exit::INTERRUPTED));
    }
    finish(&plan, &manifest)
}

/// The exit policy after a complete run, analysing first when asked.
fn finish(plan: &RunPlan, manifest: &Manifest) -> anyhow::Result<ExitCode> {
    // Exit 0 here would let a CI job pass having tested nothing: the pure
    // baseline (and its repeat) test no feature.
    let tested = |e: &&ConfigEntry| !matches!(e.role, Role::Baseline | Role::BaselineRepeat);
    if manifest
        .configs
        .iter()
        .filter(tested)
        .all(|e| e.state == ConfigState::Skipped)
    {
        let reasons: Vec<String> = manifest
            .configs
            .iter()
            .filter(tested)
            .filter_map(|e| Some(format!("{}: {}", e.name, e.skip_reason.as_deref()?)))
            .take(3)
            .collect();
        eprintln!(
            "error: every feature configuration was SKIP, no feature was tested (devices: {}){}",
            manifest.devices.detail,
            if reasons.is_empty() {
                String::new()
            } else {
                format!("\n  {}", reasons.join("\n  "))
            }
        );
        return Ok(ExitCode::from(exit::FAILURE));
    }
    let failed = manifest.configs.iter().any(|e| {
        matches!(
            e.state,
            ConfigState::Failed | ConfigState::TimedOut | ConfigState::Interrupted
        )
    });
    let analysed = match &plan.analysis {
        Some(a) => Some(crate::analysis::run(a, &plan.registry)?),
        None => None,
    };
    Ok(match analysed {
        _ if failed => ExitCode::from(exit::FAILURE),
        Some(code) => code,
        None => ExitCode::from(exit::SUCCESS),
    })
}

/// The manifest of a fresh run: every configuration pending or SKIPPED.
/// Backends get absolute paths (`out_abs`): they may change directory.
fn manifest(plan: &RunPlan, exe: &Path, out_abs: &Path) -> Manifest {
    let now = results::now_rfc3339();
    let mut m = Manifest {
        schema_version: results::manifest::SCHEMA_VERSION,
        tool: "compat".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        created: now.clone(),
        updated: now,
        registry: plan.registry.source.clone(),
        backend: plan.backend.name.clone(),
        backend_command: plan.backend.command.clone(),
        settings: plan.settings.clone(),
        prompts: plan.prompts.clone(),
        baseline_feature: plan.baseline_feature.clone(),
        addons: plan.addons.clone(),
        combos: plan.combos.as_str().into(),
        devices: plan.devices.clone(),
        timeout_seconds: plan.timeout.as_secs(),
        executor: plan.executor_name().into(),
        configs: Vec::new(),
        sessions: Vec::new(),
        engine: plan.engine.answer().map(|a| a.engine.clone()),
        engine_probe: Some(plan.engine.describe()),
    };
    let prompt_file = out_abs.join(results::PROMPTS);
    m.configs = plan
        .configs
        .iter()
        .map(|c| {
            let dir = out_abs.join(&c.name);
            let argv =
                crate::settings::argv(&plan.backend, &plan.settings, c, exe, &prompt_file, &dir);
            entry(c, argv, &m)
        })
        .collect();
    m
}

fn entry(c: &Config, argv: Vec<String>, m: &Manifest) -> ConfigEntry {
    let skipped = c.skip.is_some();
    ConfigEntry {
        name: c.name.clone(),
        role: c.role,
        features: c.features.clone(),
        args: c.args.clone(),
        gpus: c.gpus,
        lossy: c.lossy,
        state: if skipped {
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
        engine: if skipped { None } else { m.engine.clone() },
        gpu_memory_peak_bytes: Default::default(),
        gpu_memory_start_bytes: Default::default(),
        session: None,
        argv: if skipped { vec![] } else { argv },
    }
}

/// The configurations still to run: one job each, or one per session.
fn jobs(plan: &RunPlan, m: &Manifest, g: &sessions::Grouping) -> Vec<Job> {
    let job = |index: usize| {
        let e = &m.configs[index];
        Job {
            index,
            name: e.name.clone(),
            gpus: e.gpus,
            dir: plan.out.join(&e.name),
            argv: e.argv.clone(),
            num_prompts: m.prompts.len(),
            session: None,
        }
    };
    // With a repeated baseline the engine's noise floor judges the check
    // (compat analyze); without one a single differing byte is a leak.
    let repeat = m
        .configs
        .iter()
        .any(|e| e.role == Role::BaselineRepeat && e.state != ConfigState::Skipped);
    let mut jobs: Vec<Job> = g.alone.iter().map(|&i| job(i)).collect();
    for s in &g.sessions {
        let mut j = job(s.base());
        j.session = Some(executor::SessionJob {
            members: s
                .members
                .iter()
                .map(|x| executor::Member {
                    index: x.config,
                    name: m.configs[x.config].name.clone(),
                    dir: plan.out.join(&m.configs[x.config].name),
                })
                .collect(),
            check_dir: sessions::check_dir(&plan.out, &j.name),
            byte_identity_required: !repeat,
        });
        jobs.push(j);
    }
    jobs
}

fn executor_options(plan: &RunPlan) -> executor::Options {
    executor::Options {
        devices: plan.devices.ids.clone(),
        jobs: plan.jobs,
        timeout: plan.executor_timeout(),
        grace: plan.grace,
        gpu_memory: if plan.samples_gpu_memory() {
            executor::memory::GpuMemory::init()
        } else {
            None
        },
        launcher: match &plan.executor {
            ExecutorPlan::Local => executor::Launcher::Local,
            ExecutorPlan::Slurm(o) => executor::Launcher::Slurm(o.clone()),
        },
        groups: None,
    }
}
