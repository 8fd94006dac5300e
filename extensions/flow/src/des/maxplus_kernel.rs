//! The max-plus kernel (`kernels/maxplus.cu`): its parameter layout, the host-compiled build of it (build.rs
//! compiles the same source with the host C++ compiler, so CPU-only CI runs the kernel's per-replication
//! code), and with the `cuda` feature the GPU launch (one thread per replication).

use crate::des::dist::Dist;
use crate::des::maxplus::{MaxPlusLine, MpRun};
use crate::error::{FlowError, Result};

/// The kernel source (the GPU path prepends the prelude of `twinloom-gpu`).
pub const SOURCE: &str = include_str!("../../kernels/maxplus.cu");
/// The kernel's entry point (one thread per replication).
pub const FUNCTION: &str = "maxplus_reps";
/// Most stations the kernel takes (`TL_MP_MAX_STATIONS`).
pub const MAX_STATIONS: usize = 64;
/// Most ring slots per replication, `Σ (buffer places + 1)` over the stations (`TL_MP_MAX_SLOTS`).
pub const MAX_SLOTS: usize = 512;

/// A line flattened into the kernel's arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Distribution code per station (0 const, 1 exp, 2 uniform, 3 triangular, 4 normal, 5 lognormal, 6 erlang).
    pub kind: Vec<i32>,
    /// Three parameters per station.
    pub par: Vec<f64>,
    /// Buffer places after each station but the last (one entry at least, so the array is never empty).
    pub cap: Vec<u32>,
    pub stations: u32,
    pub jobs: u64,
    pub warmup: u64,
}

impl Params {
    /// Flattens `line`; a line over the kernel's caps is an error that says which.
    pub fn of(line: &MaxPlusLine) -> Result<Params> {
        line.validate()?;
        let n = line.stations.len();
        let over = |msg: String| Err(FlowError::invalid(format!("max-plus line {:?}", line.name), msg));
        if n > MAX_STATIONS {
            return over(format!("{n} stations: the max-plus kernel takes at most {MAX_STATIONS}"));
        }
        let slots: usize = 1 + line.stations[..n - 1]
            .iter()
            .map(|s| s.buffer_after.saturating_add(1))
            .fold(0usize, usize::saturating_add);
        if slots > MAX_SLOTS {
            return over(format!(
                "buffers too large for the max-plus kernel: Σ(buffer places + 1) + 1 = {slots} > {MAX_SLOTS}"
            ));
        }
        let mut kind = Vec::with_capacity(n);
        let mut par = Vec::with_capacity(3 * n);
        for s in &line.stations {
            let (k, p) = match s.time {
                Dist::Const { value } => (0, [value, 0.0, 0.0]),
                Dist::Exp { mean } => (1, [mean, 0.0, 0.0]),
                Dist::Uniform { min, max } => (2, [min, max, 0.0]),
                Dist::Triangular { min, mode, max } => (3, [min, mode, max]),
                Dist::Normal { mean, sd } => (4, [mean, sd, 0.0]),
                Dist::Lognormal { mean, sd } => (5, [mean, sd, 0.0]),
                Dist::Erlang { mean, k } => (6, [mean, k as f64, 0.0]),
            };
            kind.push(k);
            par.extend(p);
        }
        let mut cap: Vec<u32> = line.stations[..n - 1].iter().map(|s| s.buffer_after as u32).collect();
        if cap.is_empty() {
            cap.push(0);
        }
        Ok(Params { kind, par, cap, stations: n as u32, jobs: line.jobs, warmup: line.warmup_jobs })
    }

    /// Doubles per replication in the kernel's output.
    pub fn row(&self) -> usize {
        3 + 2 * self.stations as usize
    }

    /// One replication's results from its output row.
    pub fn unpack(&self, row: &[f64]) -> MpRun {
        let n = self.stations as usize;
        MpRun {
            throughput_per_h: row[0],
            mean_interdeparture_s: row[1],
            mean_flow_time_s: row[2],
            utilisation: row[3..3 + n].to_vec(),
            blocked: row[3 + n..3 + 2 * n].to_vec(),
        }
    }
}

mod ffi {
    extern "C" {
        pub fn tl_maxplus_host(
            kind: *const i32,
            par: *const f64,
            cap: *const u32,
            n: u32,
            jobs: u64,
            warmup: u64,
            seed: u64,
            first_rep: u64,
            reps: u32,
            out: *mut f64,
        );
        pub fn tl_maxplus_limits(stations: *mut u32, slots: *mut u32);
    }
}

/// The kernel's compile-time caps as the host build of it reports them: (stations, ring slots).
pub fn host_limits() -> (usize, usize) {
    let (mut stations, mut slots) = (0u32, 0u32);
    // SAFETY: the function writes one u32 through each pointer.
    unsafe { ffi::tl_maxplus_limits(&mut stations, &mut slots) };
    (stations as usize, slots as usize)
}

/// Replications `first..first + reps` of `seed` by the host-compiled kernel (one after the other).
pub fn runs_host(line: &MaxPlusLine, first: u64, reps: u32, seed: u64) -> Result<Vec<MpRun>> {
    let p = Params::of(line)?;
    let mut out = vec![0.0f64; p.row() * reps as usize];
    // SAFETY: the arrays have the lengths the kernel reads (n kinds, 3n parameters, n-1 capacities, at least
    // one) and `out` holds `reps` rows of 3 + 2n doubles; the caps were checked by `Params::of`.
    unsafe {
        ffi::tl_maxplus_host(
            p.kind.as_ptr(),
            p.par.as_ptr(),
            p.cap.as_ptr(),
            p.stations,
            p.jobs,
            p.warmup,
            seed,
            first,
            reps,
            out.as_mut_ptr(),
        );
    }
    Ok(out.chunks_exact(p.row()).map(|r| p.unpack(r)).collect())
}

#[cfg(feature = "cuda")]
pub use gpu::GpuMaxPlus;

#[cfg(feature = "cuda")]
mod gpu {
    //! The launch: upload the parameters, one thread per replication, copy the rows back.
    use std::sync::Arc;

    use twinloom_gpu::cudarc::driver::{CudaFunction, LaunchConfig, PushKernelArg};
    use twinloom_gpu::{Gpu, GpuError};

    use super::{Params, FUNCTION, SOURCE};
    use crate::des::maxplus::{MaxPlusLine, MpRun};
    use crate::error::{FlowError, Result};

    const BLOCK: u32 = 128;

    fn driver(what: &'static str) -> impl Fn(twinloom_gpu::cudarc::driver::DriverError) -> GpuError {
        move |e| GpuError::Driver { what: what.to_string(), message: e.to_string() }
    }

    /// The compiled kernel on a GPU (compile once, run many lines).
    pub struct GpuMaxPlus {
        gpu: Arc<Gpu>,
        func: CudaFunction,
    }

    impl GpuMaxPlus {
        /// Compiles the kernel with NVRTC for `gpu`.
        pub fn new(gpu: Arc<Gpu>) -> Result<GpuMaxPlus> {
            let mut funcs = gpu.compile("maxplus", SOURCE, &[FUNCTION])?;
            let func = funcs.pop().ok_or_else(|| GpuError::Compile {
                kernel: "maxplus".into(),
                message: "maxplus_reps was not loaded".into(),
            })?;
            Ok(GpuMaxPlus { gpu, func })
        }

        /// Replications `0..n` of `seed`, one GPU thread each.
        pub fn runs(&self, line: &MaxPlusLine, n: usize, seed: u64) -> Result<Vec<MpRun>> {
            let p = Params::of(line)?;
            let reps = u32::try_from(n.max(1))
                .map_err(|_| FlowError::invalid("replications", format!("{n} is more than one launch takes")))?;
            let stream = self.gpu.stream();
            let kind = stream.clone_htod(&p.kind).map_err(driver("uploading kinds"))?;
            let par = stream.clone_htod(&p.par).map_err(driver("uploading parameters"))?;
            let cap = stream.clone_htod(&p.cap).map_err(driver("uploading buffers"))?;
            let mut out =
                stream.alloc_zeros::<f64>(p.row() * reps as usize).map_err(driver("allocating the results"))?;
            let cfg =
                LaunchConfig { grid_dim: (reps.div_ceil(BLOCK), 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 };
            let first = 0u64;
            let mut launch = stream.launch_builder(&self.func);
            launch
                .arg(&kind)
                .arg(&par)
                .arg(&cap)
                .arg(&p.stations)
                .arg(&p.jobs)
                .arg(&p.warmup)
                .arg(&seed)
                .arg(&first)
                .arg(&reps)
                .arg(&mut out);
            // SAFETY: the arguments match `maxplus_reps` in order and type (three device arrays of the
            // lengths `Params` documents, u32 n, four u64, u32 reps, and reps rows of 3 + 2n doubles).
            unsafe { launch.launch(cfg) }.map_err(driver("launching maxplus_reps"))?;
            let rows = stream.clone_dtoh(&out).map_err(driver("copying results back"))?;
            stream.synchronize().map_err(driver("waiting for maxplus_reps"))?;
            Ok(rows.chunks_exact(p.row()).map(|r| p.unpack(r)).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_agree_with_the_kernel() {
        assert_eq!(host_limits(), (MAX_STATIONS, MAX_SLOTS));
    }
}
