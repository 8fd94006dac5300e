//! The CUDA launch of the reach kernels (feature `cuda`): NVRTC compiles kernels/reach.cu once per process
//! through twinloom-gpu; each call copies its inputs to the device, launches one thread per item (point,
//! (shift, point) pair, grid run) or one block per pattern search (its lanes run the search ahead), and
//! copies only the results back.

use std::sync::OnceLock;

use twinloom_gpu::cudarc::driver::{CudaFunction, LaunchConfig, PushKernelArg};
use twinloom_gpu::Gpu;

use super::kernel::{
    count, decode_climbs, decode_grid, decode_shifts, decode_solved, ClimbResult, ReachJob, ReachKernels, Solved,
    CLIMB_F, CLIMB_LANES, GRID_RUN, REACH_KERNEL_FUNCTIONS, REACH_KERNEL_SOURCE, START_F,
};
use crate::error::BiwError;
use crate::math::Vec3;
use crate::reach::nearest::STARTS;
use crate::study::kernel_cuda::{compiled, driver, per_item, upload, Compiled};

/// The reach kernels on a GPU (`StudyBackend::Cuda`).
pub struct CudaReach<'a>(pub &'a Gpu);

/// The compiled entry points, in [`REACH_KERNEL_FUNCTIONS`]' order.
fn kernels(gpu: &Gpu) -> Result<Vec<CudaFunction>, BiwError> {
    static COMPILED: Compiled = OnceLock::new();
    compiled(&COMPILED, gpu, "biw_reach", REACH_KERNEL_SOURCE, &REACH_KERNEL_FUNCTIONS)
}

/// One thread per item.
fn config(items: usize) -> Result<LaunchConfig, BiwError> {
    per_item(items, "reach items")
}

impl ReachKernels for CudaReach<'_> {
    fn solve(&self, job: &ReachJob, poses: &[f64]) -> Result<Vec<Solved>, BiwError> {
        let np = poses.len() / 12;
        if np == 0 {
            return Ok(Vec::new());
        }
        let f = &kernels(self.0)?[0];
        let s = self.0.stream();
        let (rm, pose, shift, spins) =
            (upload(s, &job.rm)?, upload(s, poses)?, upload(s, &[0.0f64; 3])?, upload(s, &job.spins)?);
        let alloc = driver("allocating the reach results on the GPU");
        let mut out_spin = s.alloc_zeros::<i32>(np).map_err(&alloc)?;
        let mut out_q = s.alloc_zeros::<f64>(6 * np).map_err(&alloc)?;
        let (np32, nc, ns) = (count(np), 1u32, count(job.spins.len()));
        let mut launch = s.launch_builder(f);
        launch
            .arg(&rm)
            .arg(&pose)
            .arg(&np32)
            .arg(&shift)
            .arg(&nc)
            .arg(&spins)
            .arg(&ns)
            .arg(&mut out_spin)
            .arg(&mut out_q);
        // SAFETY: the arguments match tl_reach_solve in kernels/reach.cu: the model (57 doubles), np poses,
        // one zero shift, ns spins; outputs for np items.
        unsafe { launch.launch(config(np)?) }.map_err(driver("launching the reach solve kernel"))?;
        let read = driver("copying the reach results from the GPU");
        let spin = s.clone_dtoh(&out_spin).map_err(&read)?;
        let q = s.clone_dtoh(&out_q).map_err(&read)?;
        s.synchronize().map_err(driver("waiting for the reach solve kernel"))?;
        Ok(decode_solved(&spin, &q))
    }

    fn shifts(&self, job: &ReachJob, poses: &[f64], shifts: &[Vec3]) -> Result<Vec<bool>, BiwError> {
        let np = poses.len() / 12;
        if np == 0 || shifts.is_empty() {
            return Ok(vec![true; shifts.len()]);
        }
        let f = &kernels(self.0)?[1];
        let s = self.0.stream();
        let flat: Vec<f64> = shifts.iter().flat_map(|v| v.to_array()).collect();
        let (rm, pose, shift, spins) =
            (upload(s, &job.rm)?, upload(s, poses)?, upload(s, &flat)?, upload(s, &job.spins)?);
        let items = np * shifts.len();
        let mut out_ok = s.alloc_zeros::<u32>(items).map_err(driver("allocating the base-shift results on the GPU"))?;
        let (np32, nc, ns) = (count(np), count(shifts.len()), count(job.spins.len()));
        let mut launch = s.launch_builder(f);
        launch.arg(&rm).arg(&pose).arg(&np32).arg(&shift).arg(&nc).arg(&spins).arg(&ns).arg(&mut out_ok);
        // SAFETY: the arguments match tl_reach_shift in kernels/reach.cu: the model, np poses, nc shifts,
        // ns spins; one output per (shift, point).
        unsafe { launch.launch(config(items)?) }.map_err(driver("launching the base-shift kernel"))?;
        let ok = s.clone_dtoh(&out_ok).map_err(driver("copying the base-shift results from the GPU"))?;
        s.synchronize().map_err(driver("waiting for the base-shift kernel"))?;
        Ok(decode_shifts(&ok, np))
    }

    fn grid(&self, job: &ReachJob, targets: &[f64]) -> Result<Vec<Vec<(f64, usize)>>, BiwError> {
        let nt = targets.len() / 12;
        if nt == 0 {
            return Ok(Vec::new());
        }
        let f = &kernels(self.0)?[2];
        let s = self.0.stream();
        let runs = job.runs() as usize;
        let items = nt * runs;
        let (rm, target, axes, dims, spin_vals) = (
            upload(s, &job.rm)?,
            upload(s, targets)?,
            upload(s, &job.axes)?,
            upload(s, &job.dims)?,
            upload(s, &job.spin_vals)?,
        );
        let alloc = driver("allocating the reach grid results on the GPU");
        let mut out_d = s.alloc_zeros::<f64>(items * STARTS).map_err(&alloc)?;
        let mut out_i = s.alloc_zeros::<u32>(items * STARTS).map_err(&alloc)?;
        let (nt32, run) = (count(nt), GRID_RUN);
        let mut launch = s.launch_builder(f);
        launch
            .arg(&rm)
            .arg(&target)
            .arg(&nt32)
            .arg(&axes)
            .arg(&dims)
            .arg(&spin_vals)
            .arg(&run)
            .arg(&mut out_d)
            .arg(&mut out_i);
        // SAFETY: the arguments match tl_reach_grid in kernels/reach.cu: the model, nt targets, the grid
        // (axes, dims, spin values) and the run length; 6 outputs per (target, run).
        unsafe { launch.launch(config(items)?) }.map_err(driver("launching the reach grid kernel"))?;
        let read = driver("copying the reach grid results from the GPU");
        let d = s.clone_dtoh(&out_d).map_err(&read)?;
        let i = s.clone_dtoh(&out_i).map_err(&read)?;
        s.synchronize().map_err(driver("waiting for the reach grid kernel"))?;
        Ok(decode_grid(&d, &i, runs))
    }

    fn climb(&self, job: &ReachJob, targets: &[f64], starts: &[f64]) -> Result<Vec<ClimbResult>, BiwError> {
        let n = starts.len() / START_F;
        if n == 0 {
            return Ok(Vec::new());
        }
        let f = &kernels(self.0)?[3];
        let s = self.0.stream();
        let (rm, target, h0, start) =
            (upload(s, &job.rm)?, upload(s, targets)?, upload(s, &job.h0)?, upload(s, starts)?);
        let mut out =
            s.alloc_zeros::<f64>(n * CLIMB_F).map_err(driver("allocating the pattern-search results on the GPU"))?;
        let n32 = count(n);
        let mut launch = s.launch_builder(f);
        launch.arg(&rm).arg(&target).arg(&h0).arg(&start).arg(&n32).arg(&mut out);
        // One block of CLIMB_LANES lanes per search (the kernel's shared state is sized for that many).
        let cfg = LaunchConfig { grid_dim: (n32, 1, 1), block_dim: (CLIMB_LANES, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: the arguments match tl_reach_climb in kernels/reach.cu: the model, the targets every
        // start's index points into, the initial steps, n starts; 11 outputs per start; blocks of
        // TL_CLIMB_LANES_MAX threads.
        unsafe { launch.launch(cfg) }.map_err(driver("launching the pattern-search kernel"))?;
        let host = s.clone_dtoh(&out).map_err(driver("copying the pattern-search results from the GPU"))?;
        s.synchronize().map_err(driver("waiting for the pattern-search kernel"))?;
        Ok(decode_climbs(&host))
    }

    fn shift_chunk(&self) -> usize {
        // A whole candidate list per launch (the coarse grid is 9,261 shifts for a 0.5 m box).
        1 << 16
    }
}
