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

/// Peak used bytes per device, filled while a configuration runs.
pub type Peaks = Arc<Mutex<BTreeMap<String, u64>>>;

/// Samples `devices` until aborted, keeping each one's peak in `peaks`.
pub async fn sample(mem: Arc<GpuMemory>, devices: Vec<String>, peaks: Peaks) {
    loop {
        for id in &devices {
            if let Some(used) = mem.used(id)
                && let Ok(mut p) = peaks.lock()
            {
                let slot = p.entry(id.clone()).or_insert(0);
                *slot = (*slot).max(used);
            }
        }
        tokio::time::sleep(PERIOD).await;
    }
}
