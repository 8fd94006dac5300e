//! The reach study's kernels (`kernels/reach.cu`): their flat inputs ([`ReachJob`]), the host-compiled
//! build ([`HostReach`], on all cores) and the interface the CUDA launch implements too
//! ([`ReachKernels`]). `crate::reach::backend` puts the reach study together from them.

use rayon::prelude::*;

use crate::error::BiwError;
use crate::kinematics::{Joints, RobotModel};
use crate::math::{Iso3, Vec3};
use crate::reach::nearest::{merge_nearest, NearestPlan, STARTS};
use crate::reach::ReachSettings;

/// The kernel source: kernels/math.h then kernels/reach.cu (`Gpu::compile` prepends twinloom-gpu's prelude).
pub const REACH_KERNEL_SOURCE: &str =
    concat!(include_str!("../../kernels/math.h"), include_str!("../../kernels/reach.cu"));
/// The kernel's CUDA entry points: solve, shift, grid, climb.
pub const REACH_KERNEL_FUNCTIONS: [&str; 4] = ["tl_reach_solve", "tl_reach_shift", "tl_reach_grid", "tl_reach_climb"];

/// Grid cells per kernel item (each with every spin value).
pub(crate) const GRID_RUN: u32 = 16;
/// Doubles per pattern-search start (target index, joints 1-3, spin) and per result (distance, position,
/// spin, joints 1-6).
pub(crate) const START_F: usize = 5;
pub(crate) const CLIMB_F: usize = 11;
/// Lanes of one pattern search on the GPU (its thread block; `TL_CLIMB_LANES_MAX` in the kernel, which
/// is also the most the host build takes).
pub const CLIMB_LANES: u32 = 128;

extern "C" {
    fn tl_reach_solve_host(
        rm: *const f64,
        pose: *const f64,
        np: u32,
        spins: *const f64,
        ns: u32,
        out_spin: *mut i32,
        out_q: *mut f64,
    );
    fn tl_reach_shift_host(
        rm: *const f64,
        pose: *const f64,
        np: u32,
        shift: *const f64,
        nc: u32,
        spins: *const f64,
        ns: u32,
        out_ok: *mut u32,
    );
    fn tl_reach_grid_host(
        rm: *const f64,
        target: *const f64,
        axes: *const f64,
        dims: *const u32,
        spin_vals: *const f64,
        run: u32,
        run0: u32,
        nrun: u32,
        out_d: *mut f64,
        out_i: *mut u32,
    );
    fn tl_reach_climb_host(
        rm: *const f64,
        target: *const f64,
        h0: *const f64,
        start: *const f64,
        n: u32,
        lanes: u32,
        out: *mut f64,
    );
}

/// One robot's reach work in the kernel's layout (documented at the top of kernels/reach.cu).
pub struct ReachJob {
    /// The robot model (57 doubles).
    pub(crate) rm: Vec<f64>,
    /// The allowed spins, in order.
    pub(crate) spins: Vec<f64>,
    /// The nearest-pose grid: joint 1-3 values, their counts and the spin count, the spin values.
    pub(crate) axes: Vec<f64>,
    pub(crate) dims: [u32; 4],
    pub(crate) spin_vals: Vec<f64>,
    pub(crate) h0: [f64; 4],
    pub(crate) plan: NearestPlan,
}

impl ReachJob {
    pub fn new(model: &RobotModel, settings: &ReachSettings) -> ReachJob {
        let plan = NearestPlan::new(model, settings);
        let p = &model.params;
        let mut rm = vec![p.a1, p.a2, p.b, p.c1, p.c2, p.c3, p.c4];
        rm.extend(p.offsets);
        rm.extend(p.signs);
        for (lo, hi) in model.limits {
            rm.extend([lo, hi]);
        }
        rm.push(f64::from(u8::from(model.tool == Iso3::IDENTITY)));
        rm.extend(iso_words(&model.tool.inverse()));
        let rt = model.tool.rot.transpose();
        rm.extend(rt.cols.iter().flat_map(|c| c.to_array()));
        rm.extend((model.tool.trans + Vec3::Z * p.c4).to_array());
        rm.push(plan.tol);
        debug_assert_eq!(rm.len(), 57);
        let dims = [count(plan.steps[0]), count(plan.steps[1]), count(plan.steps[2]), count(plan.spin_vals.len())];
        ReachJob {
            rm,
            spins: settings.spins(),
            axes: plan.axes.concat(),
            dims,
            spin_vals: plan.spin_vals.clone(),
            h0: plan.h0,
            plan,
        }
    }

    /// Grid runs per target.
    pub(crate) fn runs(&self) -> u32 {
        (self.dims[0] * self.dims[1] * self.dims[2]).div_ceil(GRID_RUN)
    }
}

/// Rotation columns and translation (12 doubles).
pub(crate) fn iso_words(p: &Iso3) -> [f64; 12] {
    let [c0, c1, c2] = p.rot.cols;
    let t = p.trans;
    [c0.x, c0.y, c0.z, c1.x, c1.y, c1.z, c2.x, c2.y, c2.z, t.x, t.y, t.z]
}

/// A count or index in the kernel's 32 bits.
pub(crate) fn count(n: usize) -> u32 {
    u32::try_from(n).expect("reach kernel input larger than 2^32 items")
}

/// The first allowed spin (index) at which a point is reachable and the first solution there.
pub type Solved = Option<(usize, Joints)>;

/// A pattern search's end: distance, position, spin, joints (`None` when the start was not reachable).
pub type ClimbResult = Option<(f64, Vec3, f64, Joints)>;

/// The reach kernels, on the host or on the GPU.
pub trait ReachKernels {
    /// Per point (12 doubles each, no base shift): [`Solved`].
    fn solve(&self, job: &ReachJob, poses: &[f64]) -> Result<Vec<Solved>, BiwError>;
    /// Per shift: whether every point is reachable from the shifted base.
    fn shifts(&self, job: &ReachJob, poses: &[f64], shifts: &[Vec3]) -> Result<Vec<bool>, BiwError>;
    /// Per target: the grid's nearest reachable poses (distance, grid index), at most 6, nearest first.
    fn grid(&self, job: &ReachJob, targets: &[f64]) -> Result<Vec<Vec<(f64, usize)>>, BiwError>;
    /// Per start ([`START_F`] doubles each): the pattern search's end.
    fn climb(&self, job: &ReachJob, targets: &[f64], starts: &[f64]) -> Result<Vec<ClimbResult>, BiwError>;
    /// Base-shift candidates per [`ReachKernels::shifts`] call (the search stops at the first feasible one).
    fn shift_chunk(&self) -> usize;
}

/// Decodes the solve kernel's outputs.
pub(crate) fn decode_solved(spin: &[i32], q: &[f64]) -> Vec<Solved> {
    spin.iter()
        .zip(q.chunks_exact(6))
        .map(|(&k, q)| usize::try_from(k).ok().map(|k| (k, std::array::from_fn(|j| q[j]))))
        .collect()
}

/// Per shift, whether all of its `np` points are reachable.
pub(crate) fn decode_shifts(ok: &[u32], np: usize) -> Vec<bool> {
    if np == 0 {
        return vec![true; ok.len()];
    }
    ok.chunks_exact(np).map(|c| c.iter().all(|&v| v == 1)).collect()
}

/// Per target, the 6 nearest of its runs' lists (`runs` lists of 6 per target).
pub(crate) fn decode_grid(d: &[f64], i: &[u32], runs: usize) -> Vec<Vec<(f64, usize)>> {
    let per_target = runs * STARTS;
    d.chunks(per_target.max(1))
        .zip(i.chunks(per_target.max(1)))
        .map(|(d, i)| merge_nearest(d.iter().zip(i).filter(|(d, _)| d.is_finite()).map(|(&d, &i)| (d, i as usize))))
        .collect()
}

/// Decodes the climb kernel's outputs.
pub(crate) fn decode_climbs(out: &[f64]) -> Vec<ClimbResult> {
    out.chunks_exact(CLIMB_F)
        .map(|o| (!o[0].is_nan()).then(|| (o[0], Vec3::new(o[1], o[2], o[3]), o[4], std::array::from_fn(|j| o[5 + j]))))
        .collect()
}

/// The host-compiled kernels on all cores (the GPU's per-item code on machines without one).
#[derive(Clone, Copy, Debug)]
pub struct HostReach {
    /// Lanes per pattern search, taken in turn (1 to [`CLIMB_LANES`]; the result does not depend on it):
    /// 8, one iteration per round, wastes least on the host; [`CLIMB_LANES`] is the GPU's run-ahead.
    pub climb_lanes: u32,
}

impl Default for HostReach {
    fn default() -> Self {
        HostReach { climb_lanes: 8 }
    }
}

impl ReachKernels for HostReach {
    fn solve(&self, job: &ReachJob, poses: &[f64]) -> Result<Vec<Solved>, BiwError> {
        let n = poses.len() / 12;
        let mut spin = vec![0i32; n];
        let mut q = vec![0.0; 6 * n];
        spin.par_chunks_mut(1).zip(q.par_chunks_mut(6)).zip(poses.par_chunks(12)).for_each(|((s, q), p)| {
            // SAFETY: one pose of 12 doubles, outputs for one point; rm, spins in the job's layout.
            unsafe {
                tl_reach_solve_host(
                    job.rm.as_ptr(),
                    p.as_ptr(),
                    1,
                    job.spins.as_ptr(),
                    count(job.spins.len()),
                    s.as_mut_ptr(),
                    q.as_mut_ptr(),
                )
            }
        });
        Ok(decode_solved(&spin, &q))
    }

    fn shifts(&self, job: &ReachJob, poses: &[f64], shifts: &[Vec3]) -> Result<Vec<bool>, BiwError> {
        let np = poses.len() / 12;
        let flat: Vec<f64> = shifts.iter().flat_map(|s| s.to_array()).collect();
        let mut ok = vec![0u32; shifts.len() * np];
        ok.par_chunks_mut(np.max(1)).zip(flat.par_chunks(3)).for_each(|(o, s)| {
            // SAFETY: np poses, one shift, np outputs; rm, spins in the job's layout.
            unsafe {
                tl_reach_shift_host(
                    job.rm.as_ptr(),
                    poses.as_ptr(),
                    count(np),
                    s.as_ptr(),
                    1,
                    job.spins.as_ptr(),
                    count(job.spins.len()),
                    o.as_mut_ptr(),
                )
            }
        });
        Ok(decode_shifts(&ok, np))
    }

    fn grid(&self, job: &ReachJob, targets: &[f64]) -> Result<Vec<Vec<(f64, usize)>>, BiwError> {
        let runs = job.runs() as usize;
        let nt = targets.len() / 12;
        let mut d = vec![0.0; nt * runs * STARTS];
        let mut idx = vec![0u32; nt * runs * STARTS];
        d.par_chunks_mut(STARTS).zip(idx.par_chunks_mut(STARTS)).enumerate().for_each(|(item, (d, i))| {
            let (t, r) = (item / runs, item % runs);
            // SAFETY: one target pose, one run's 6 outputs; the grid arrays in the job's layout.
            unsafe {
                tl_reach_grid_host(
                    job.rm.as_ptr(),
                    targets[12 * t..].as_ptr(),
                    job.axes.as_ptr(),
                    job.dims.as_ptr(),
                    job.spin_vals.as_ptr(),
                    GRID_RUN,
                    count(r),
                    1,
                    d.as_mut_ptr(),
                    i.as_mut_ptr(),
                )
            }
        });
        Ok(decode_grid(&d, &idx, runs))
    }

    fn climb(&self, job: &ReachJob, targets: &[f64], starts: &[f64]) -> Result<Vec<ClimbResult>, BiwError> {
        let n = starts.len() / START_F;
        let mut out = vec![0.0; n * CLIMB_F];
        out.par_chunks_mut(CLIMB_F).zip(starts.par_chunks(START_F)).for_each(|(o, s)| {
            // SAFETY: one start (its target index is within `targets`, built with it), one result.
            unsafe {
                tl_reach_climb_host(
                    job.rm.as_ptr(),
                    targets.as_ptr(),
                    job.h0.as_ptr(),
                    s.as_ptr(),
                    1,
                    self.climb_lanes,
                    o.as_mut_ptr(),
                )
            }
        });
        Ok(decode_climbs(&out))
    }

    fn shift_chunk(&self) -> usize {
        256
    }
}
