//! Devices (DESIGN §1): how many the run may use, which ids, and how we know.

use crate::registry::DeviceSource;
use crate::results::DeviceInfo;

/// Most devices a run may be given: past any machine or Slurm node (the
/// largest have 8–16 GPUs), and small enough that a device list of that
/// length is nothing. `--gpus` above it is refused (exit 2).
pub const MAX_DEVICES: usize = 4096;

/// Finds the devices for a backend. `--gpus N` wins; a CPU backend has one
/// device per core; otherwise NVML's count, restricted by CUDA_VISIBLE_DEVICES.
pub fn discover(source: DeviceSource, gpus_flag: Option<usize>) -> DeviceInfo {
    let visible = std::env::var("CUDA_VISIBLE_DEVICES").ok();
    if let Some(n) = gpus_flag {
        // Keep the user's visible ids when there are enough of them, so
        // `CUDA_VISIBLE_DEVICES=4,5,6,7 compat run --gpus 2` uses 4 and 5.
        let listed = visible.as_deref().map(parse_visible).unwrap_or_default();
        let ids = if listed.len() >= n {
            listed[..n].to_vec()
        } else {
            (0..n).map(|i| i.to_string()).collect()
        };
        return DeviceInfo {
            count: n,
            ids,
            source: "--gpus".into(),
            detail: format!("{n} device{} from --gpus", plural(n)),
        };
    }
    match source {
        DeviceSource::CpuCores => {
            let n = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            DeviceInfo {
                count: n,
                ids: (0..n).map(|i| i.to_string()).collect(),
                source: "cpu-cores".into(),
                detail: format!(
                    "{n} CPU core{} (one reference-engine worker each)",
                    plural(n)
                ),
            }
        }
        DeviceSource::Gpu => gpus(visible.as_deref(), nvml_count()),
    }
}

/// GPU discovery from its two inputs, kept pure for tests.
fn gpus(visible: Option<&str>, nvml: Result<(usize, String), String>) -> DeviceInfo {
    if let Some(v) = visible {
        let ids = parse_visible(v);
        let note = match &nvml {
            Ok((n, names)) => format!("; NVML sees {n} ({names})"),
            Err(why) => format!("; {why}"),
        };
        return DeviceInfo {
            count: ids.len(),
            detail: format!(
                "{} device{} from CUDA_VISIBLE_DEVICES={v}{note}",
                ids.len(),
                plural(ids.len())
            ),
            ids,
            source: "CUDA_VISIBLE_DEVICES".into(),
        };
    }
    match nvml {
        Ok((n, names)) => DeviceInfo {
            count: n,
            ids: (0..n).map(|i| i.to_string()).collect(),
            source: "nvml".into(),
            detail: format!("{n} GPU{} from NVML ({names})", plural(n)),
        },
        Err(why) => DeviceInfo {
            count: 0,
            ids: vec![],
            source: "none".into(),
            detail: why,
        },
    }
}

/// CUDA's rules: comma-separated; an empty list or a leading invalid entry
/// (`-1`) hides everything, and parsing stops at the first invalid entry.
fn parse_visible(v: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for part in v.split(',').map(str::trim) {
        let valid = !part.is_empty()
            && (part.parse::<u32>().is_ok()
                || part.starts_with("GPU-")
                || part.starts_with("MIG-"));
        if !valid {
            break;
        }
        ids.push(part.to_string());
    }
    ids
}

/// NVML's device count and names; an error string when there is no driver
/// (that means "no GPUs", not a failure).
fn nvml_count() -> Result<(usize, String), String> {
    use nvml_wrapper::Nvml;
    let nvml = Nvml::init().map_err(|e| match e {
        nvml_wrapper::error::NvmlError::LibloadingError(_) => {
            "no NVIDIA driver (NVML not found)".to_string()
        }
        other => format!("NVML unavailable: {other}"),
    })?;
    let n = nvml
        .device_count()
        .map_err(|e| format!("NVML device count failed: {e}"))? as usize;
    let mut names: Vec<String> = (0..n as u32)
        .filter_map(|i| nvml.device_by_index(i).ok()?.name().ok())
        .collect();
    names.dedup();
    Ok((n, names.join(", ")))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Devices for a Slurm run: `--gpus`, else the most GPUs any node has
/// (`None` when Slurm cannot say).
pub fn slurm(gpus_flag: Option<usize>) -> Option<DeviceInfo> {
    let (n, source, detail) = match gpus_flag {
        Some(n) => (n, "--gpus", format!("{n} GPUs per job at most (--gpus)")),
        None => {
            // sinfo's text is not ours to trust with an allocation's size.
            let n = crate::executor::slurm::max_gpus_per_node()?.min(MAX_DEVICES);
            (
                n,
                "slurm",
                format!("{n} GPUs on the largest Slurm node (sinfo)"),
            )
        }
    };
    Some(DeviceInfo {
        count: n,
        ids: (0..n).map(|i| i.to_string()).collect(),
        source: source.into(),
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_devices_follow_cudas_rules() {
        assert_eq!(parse_visible("0,1"), ["0", "1"]);
        assert_eq!(parse_visible("2, 3,x,4"), ["2", "3"]);
        assert!(parse_visible("").is_empty());
        assert!(parse_visible("-1").is_empty());
        assert_eq!(parse_visible("GPU-abc"), ["GPU-abc"]);
    }

    #[test]
    fn no_driver_means_no_gpus() {
        let d = gpus(None, Err("no NVIDIA driver (NVML not found)".into()));
        assert_eq!(d.count, 0);
        assert_eq!(d.source, "none");
    }

    #[test]
    fn visible_restricts_nvml() {
        let d = gpus(Some("6,7"), Ok((8, "H100".into())));
        assert_eq!(d.ids, ["6", "7"]);
        assert_eq!(d.source, "CUDA_VISIBLE_DEVICES");
        let d = gpus(None, Ok((2, "H100".into())));
        assert_eq!(d.ids, ["0", "1"]);
    }

    #[test]
    fn cpu_backend_counts_cores() {
        let d = discover(DeviceSource::CpuCores, None);
        assert!(d.count >= 1);
        let d = discover(DeviceSource::CpuCores, Some(4));
        assert_eq!(d.count, 4);
    }
}
