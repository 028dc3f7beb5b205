//! `compat analyze` speed: 20 prompts × 4 configs at 1024×1024 in the original
//! framework's layout (no manifest, timings in the log), generated here.
//! Prints analyze's wall time and the time to merely decode the PNGs analyze
//! had to decode (the baseline's and every image not byte-identical to its
//! reference), in parallel on the same rayon pool.
//!
//! `cargo bench --bench analyze` (or `-- --prompts 20 --size 1024 --runs 5`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;

fn noise(x: u32, y: u32, salt: u32) -> u32 {
    let mut h =
        x.wrapping_mul(0x9E37_79B1) ^ y.wrapping_mul(0x85EB_CA77) ^ salt.wrapping_mul(0xC2B2_AE3D);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^= h >> 12;
    h
}

/// A smooth, photo-like field with a little grain; `perturb` adds a lossy
/// feature's differences (a few levels, more in places).
fn image(size: u32, prompt: u32, perturb: u32) -> image::RgbImage {
    image::RgbImage::from_fn(size, size, |x, y| {
        let (fx, fy) = (x as f32 / size as f32, y as f32 / size as f32);
        let p = prompt as f32;
        let base = [
            128.0 + 90.0 * (fx * 6.0 + p).sin() * (fy * 3.0).cos(),
            128.0 + 80.0 * (fy * 5.0 - p * 0.5).sin(),
            128.0 + 70.0 * ((fx + fy) * 4.0 + p * 0.3).cos(),
        ];
        let grain = (noise(x, y, prompt) % 7) as f32 - 3.0;
        let delta = if perturb > 0 {
            ((noise(x / 8, y / 8, prompt * 31 + perturb) % 9) as f32 - 4.0) * 1.5
        } else {
            0.0
        };
        image::Rgb(base.map(|c| (c + grain + delta).clamp(0.0, 255.0) as u8))
    })
}

#[allow(clippy::too_many_arguments)]
fn write_config(
    root: &Path,
    name: &str,
    gpus: u32,
    lossy: bool,
    prompts: u32,
    size: u32,
    perturb: u32,
    copy_of: Option<&Path>,
) {
    let d = root.join(name);
    std::fs::create_dir_all(&d).expect("mkdir");
    let info =
        serde_json::json!({"name": name, "extra_args": [], "total_gpus": gpus, "is_lossy": lossy});
    std::fs::write(d.join("config_info.json"), info.to_string()).expect("config_info");
    let mut log = String::new();
    (0..prompts).into_par_iter().for_each(|p| {
        let file = format!("prompt_{p:02}.png");
        match copy_of {
            Some(src) => {
                std::fs::copy(src.join(&file), d.join(&file)).expect("copy");
            }
            None => image(size, p, perturb).save(d.join(&file)).expect("png"),
        }
        std::fs::write(d.join(format!("prompt_{p:02}.exitcode")), "0\n").expect("exitcode");
    });
    for p in 0..prompts {
        log.push_str(&format!(
            "  Prompt {}: {:.3} seconds\n",
            p + 1,
            10.0 / f64::from(gpus) + f64::from(p % 3) * 0.1
        ));
    }
    std::fs::write(d.join("batch_generation.log"), log).expect("log");
    std::fs::write(d.join("batch_generation.exitcode"), "0\n").expect("exitcode");
}

fn arg(name: &str, default: u32) -> u32 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time of this process so far (all threads, user + system): unlike wall
/// time, it does not depend on what else the (shared) machine is doing.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Minor page faults of this process so far (fresh pages touched).
fn minor_faults() -> i64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    u.ru_minflt
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let prompts = arg("--prompts", 20);
    let size = arg("--size", 1024);
    let runs = arg("--runs", 5).max(1);
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let t = Instant::now();
    write_config(root, "baseline", 1, false, prompts, size, 0, None);
    write_config(
        root,
        "cfg_parallel",
        2,
        false,
        prompts,
        size,
        0,
        Some(&root.join("baseline")),
    );
    write_config(
        root,
        "cfg_parallel+teacache",
        2,
        true,
        prompts,
        size,
        1,
        None,
    );
    write_config(
        root,
        "cfg_parallel+cache_dit",
        2,
        true,
        prompts,
        size,
        2,
        None,
    );
    let bytes: u64 = walkdir::WalkDir::new(root)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "fixture: {prompts} prompts × 4 configs at {size}×{size} (original layout), {:.1} MB, made in {:.1} s",
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    println!("rayon threads: {}", rayon::current_num_threads());

    // What analyze must decode: the baseline's images and the two lossy
    // configs' (cfg_parallel is byte-identical to the baseline, and so is the
    // reference for "what the addon adds").
    let to_decode: Vec<PathBuf> = [
        "baseline",
        "cfg_parallel+teacache",
        "cfg_parallel+cache_dit",
    ]
    .iter()
    .flat_map(|c| (0..prompts).map(move |p| root.join(c).join(format!("prompt_{p:02}.png"))))
    .collect();

    let registry = compat::registry::Registry::parse(compat::registry::EMBEDDED, "built-in")
        .expect("registry");
    let opts = compat::analysis::Overrides::default();
    let mut analyze_t = Vec::new();
    let mut decode_t = Vec::new();
    let mut report = None;
    let (mut analyze_cpu, mut decode_cpu) = (Vec::new(), Vec::new());
    let (mut analyze_flt, mut decode_flt) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let f = minor_faults();
        let c = cpu_time();
        let t = Instant::now();
        let pixels: usize = to_decode
            .par_iter()
            .map(|p| {
                let b = std::fs::read(p).expect("read");
                image::load_from_memory(&b)
                    .expect("decode")
                    .into_rgb8()
                    .len()
            })
            .sum();
        decode_t.push(t.elapsed());
        decode_cpu.push(cpu_time() - c);
        decode_flt.push(minor_faults() - f);
        assert!(pixels > 0);

        let f = minor_faults();
        let c = cpu_time();
        let t = Instant::now();
        let r = compat::analysis::build_report(root, &opts, &registry).expect("analyze");
        compat::results::atomic::write_json(&root.join("report.json"), &r).expect("write");
        analyze_t.push(t.elapsed());
        analyze_cpu.push(cpu_time() - c);
        analyze_flt.push(minor_faults() - f);
        report = Some(r);
    }
    let (a, d) = (median(analyze_t.clone()), median(decode_t.clone()));
    println!(
        "decode only ({} PNGs): median {:.3} s  (runs: {:?})",
        to_decode.len(),
        d.as_secs_f64(),
        decode_t
    );
    println!(
        "analyze (build_report + report.json): median {:.3} s  (runs: {:?})",
        a.as_secs_f64(),
        analyze_t
    );
    println!(
        "ratio analyze / decode-only (wall): {:.2}×",
        a.as_secs_f64() / d.as_secs_f64()
    );
    let (ac, dc) = (median(analyze_cpu), median(decode_cpu));
    println!(
        "CPU time (all threads): decode only {:.3} s, analyze {:.3} s, ratio {:.2}×",
        dc.as_secs_f64(),
        ac.as_secs_f64(),
        ac.as_secs_f64() / dc.as_secs_f64()
    );
    analyze_flt.sort_unstable();
    decode_flt.sort_unstable();
    println!(
        "minor page faults per run (median): decode only {}, analyze {}",
        decode_flt[decode_flt.len() / 2],
        analyze_flt[analyze_flt.len() / 2]
    );
    let load_t = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let run = compat::results::reader::read(root, &registry).expect("load");
            assert_eq!(run.num_prompts, prompts as usize);
            t.elapsed()
        })
        .collect();
    println!(
        "of which loading the directory (config_info, logs, exit codes): median {:.1} ms",
        median(load_t).as_secs_f64() * 1e3
    );
    // Where the time goes, one image / pair, one thread.
    let a_path = root.join("baseline/prompt_00.png");
    let b_path = root.join("cfg_parallel+teacache/prompt_00.png");
    let (ab, bb) = (
        std::fs::read(&a_path).expect("read"),
        std::fs::read(&b_path).expect("read"),
    );
    let best = |f: &mut dyn FnMut()| {
        (0..7)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .min()
            .unwrap_or_default()
    };
    let a = compat::analysis::metrics::decode(&a_path, &ab).expect("decode");
    let b = compat::analysis::metrics::decode(&b_path, &bb).expect("decode");
    let t_decode = best(&mut || {
        let _ = compat::analysis::metrics::decode(&a_path, &ab).expect("decode");
    });
    let t_plain = best(&mut || {
        let _ = image::load_from_memory(&ab).expect("decode").into_rgb8();
    });
    let mut s = 0.0;
    let t_ssim = best(&mut || {
        s = compat::analysis::metrics::ssim(
            &a.luma,
            &b.luma,
            a.luma_width as usize,
            a.luma_height as usize,
        );
    });
    let mut m = compat::analysis::metrics::identical();
    let t_compare = best(&mut || {
        m = compat::analysis::metrics::compare(&b, &a).expect("compare");
    });
    println!(
        "one image (best of 7): decode {:.1} ms (+luma: {:.1} ms); one pair: SSIM {:.1} ms, all metrics {:.1} ms (ssim {s:.4}, {m:?})",
        t_plain.as_secs_f64() * 1e3,
        t_decode.as_secs_f64() * 1e3,
        t_ssim.as_secs_f64() * 1e3,
        t_compare.as_secs_f64() * 1e3
    );
    if let Some(r) = report {
        print!("{}", compat::report::table::render(&r, false));
    }
}
