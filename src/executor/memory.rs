//! GPU memory of a running configuration: where NVML is available, a light
//! background poll of each assigned device's used memory, keeping the peak.
//! Memory-saving features (offload, quantisation) are judged on it as much as
//! on speed. Without NVML (no NVIDIA driver) nothing is sampled and nothing
//! fails.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nvml_wrapper::Nvml;

/// How often a running configuration's devices are sampled.
const PERIOD: Duration = Duration::from_millis(250);

/// A handle on NVML, shared by every configuration of a run.
pub struct GpuMemory {
    nvml: Nvml,
}

impl std::fmt::Debug for GpuMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GpuMemory(nvml)")
    }
}

impl GpuMemory {
    /// NVML, or `None` where there is no NVIDIA driver.
    pub fn init() -> Option<Arc<GpuMemory>> {
        Nvml::init().ok().map(|nvml| Arc::new(GpuMemory { nvml }))
    }

    /// Used bytes of one device, by index (`"0"`) or UUID (`"GPU-…"`).
    fn used(&self, id: &str) -> Option<u64> {
        let device = match id.parse::<u32>() {
            Ok(i) => self.nvml.device_by_index(i),
            Err(_) => self.nvml.device_by_uuid(id),
        }
        .ok()?;
        device.memory_info().ok().map(|m| m.used)
    }
}

/// One device's used bytes while a configuration ran: the first sample
/// (before the engine loaded anything) and the peak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub start: u64,
    pub peak: u64,
}

/// Usage per device, filled while a configuration runs.
pub type Peaks = Arc<Mutex<BTreeMap<String, Usage>>>;

/// One sample of device `id` into `usage`.
pub fn record(usage: &mut BTreeMap<String, Usage>, id: &str, used: u64) {
    usage
        .entry(id.to_string())
        .and_modify(|u| u.peak = u.peak.max(used))
        .or_insert(Usage {
            start: used,
            peak: used,
        });
}

/// Samples `devices` until aborted, keeping each one's usage in `peaks`.
pub async fn sample(mem: Arc<GpuMemory>, devices: Vec<String>, peaks: Peaks) {
    loop {
        for id in &devices {
            if let Some(used) = mem.used(id)
                && let Ok(mut p) = peaks.lock()
            {
                record(&mut p, id, used);
            }
        }
        tokio::time::sleep(PERIOD).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recorded trace of a 4-GPU config (MiB every 250 ms): devices 0-2
    /// load a model, device 3 never does (a parallel degree the engine
    /// dropped).
    #[test]
    fn a_trace_gives_start_and_peak_per_device() {
        const MIB: u64 = 1 << 20;
        let trace: [[u64; 4]; 5] = [
            [500, 500, 500, 500],
            [9_000, 8_800, 8_900, 500],
            [21_000, 20_500, 20_800, 510],
            [23_000, 22_700, 22_900, 505],
            [22_000, 21_000, 21_500, 500],
        ];
        let mut usage = BTreeMap::new();
        for row in trace {
            for (d, mib) in row.iter().enumerate() {
                record(&mut usage, &d.to_string(), mib * MIB);
            }
        }
        assert_eq!(
            usage["0"],
            Usage {
                start: 500 * MIB,
                peak: 23_000 * MIB
            }
        );
        assert_eq!(
            usage["3"],
            Usage {
                start: 500 * MIB,
                peak: 510 * MIB
            }
        );
    }
}
