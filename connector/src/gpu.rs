//! GPU health for `/metrics` through NVIDIA's NVML (nvml-wrapper loads libnvidia-ml at run time).
//! Without an NVIDIA driver the probe reports that once, at start-up, and renders nothing.

use std::fmt::Write;

use nvml_wrapper::Nvml;

/// An NVML handle, or the reason there is none.
pub struct GpuProbe {
    nvml: Option<Nvml>,
}

impl GpuProbe {
    /// Tries to load NVML; logs once (info, not an error) when no driver is present.
    pub fn start() -> GpuProbe {
        match Nvml::init() {
            Ok(nvml) => {
                let n = nvml.device_count().unwrap_or(0);
                tracing::info!(gpus = n, "NVIDIA driver found: GPU utilisation and memory are in /metrics");
                GpuProbe { nvml: Some(nvml) }
            }
            Err(e) => {
                tracing::info!("no NVIDIA driver ({e}): GPU metrics are off");
                GpuProbe { nvml: None }
            }
        }
    }

    /// Appends utilisation and memory gauges per GPU.
    pub fn render(&self, out: &mut String) {
        let Some(nvml) = &self.nvml else { return };
        let count = nvml.device_count().unwrap_or(0);
        let _ = writeln!(
            out,
            "# HELP twinloom_gpu_utilization_ratio GPU busy share (0-1).\n# TYPE twinloom_gpu_utilization_ratio gauge"
        );
        let mut mem = String::new();
        for i in 0..count {
            let Ok(dev) = nvml.device_by_index(i) else { continue };
            if let Ok(u) = dev.utilization_rates() {
                let _ = writeln!(out, "twinloom_gpu_utilization_ratio{{gpu=\"{i}\"}} {}", u.gpu as f64 / 100.0);
            }
            if let Ok(m) = dev.memory_info() {
                let _ = writeln!(mem, "twinloom_gpu_memory_used_bytes{{gpu=\"{i}\"}} {}", m.used);
                let _ = writeln!(mem, "twinloom_gpu_memory_total_bytes{{gpu=\"{i}\"}} {}", m.total);
            }
        }
        let _ = writeln!(
            out,
            "# HELP twinloom_gpu_memory_used_bytes GPU memory in use.\n# TYPE twinloom_gpu_memory_used_bytes gauge"
        );
        out.push_str(&mem);
    }
}
