//! The reach study on a [`StudyBackend`]: the Rust CPU path, or the reach kernels (`kernels/reach.cu`)
//! compiled for the host or run on the CUDA GPU. The kernels do the data-parallel work (the first
//! reachable spin per point, the nearest-pose grid, the pattern searches, the base-shift candidates);
//! the host merges and picks exactly as the CPU path does, so every backend gives the same results.

use super::kernel::{iso_words, ClimbResult, HostReach, ReachJob, ReachKernels};
use super::nearest::{start_of, STARTS};
use super::{base_shift_search, check_points, suggest_base_shift, verdict};
use super::{BaseShift, Nearest, PointReach, ReachSettings, WeldPoint};
use crate::error::BiwError;
use crate::kinematics::RobotModel;
use crate::math::{Iso3, Vec3};
use crate::study::StudyBackend;

/// [`check_points`] on `backend`.
pub fn check_points_with(
    model: &RobotModel,
    points: &[WeldPoint],
    settings: &ReachSettings,
    backend: &StudyBackend,
) -> Result<Vec<PointReach>, BiwError> {
    match backend {
        StudyBackend::Cpu => Ok(check_points(model, points, settings)),
        StudyBackend::HostKernel => check_points_on(&HostReach::default(), model, points, settings),
        StudyBackend::Cuda(gpu) => {
            #[cfg(feature = "cuda")]
            return check_points_on(&super::CudaReach(gpu.gpu()), model, points, settings);
            // This build has no CUDA kernels (another crate's feature opened the GPU): the CPU path.
            #[cfg(not(feature = "cuda"))]
            {
                let _ = gpu;
                Ok(check_points(model, points, settings))
            }
        }
    }
}

/// [`suggest_base_shift`] on `backend`.
pub fn suggest_base_shift_with(
    model: &RobotModel,
    points: &[WeldPoint],
    settings: &ReachSettings,
    search_half: Vec3,
    resolution: f64,
    backend: &StudyBackend,
) -> Result<BaseShift, BiwError> {
    match backend {
        StudyBackend::Cpu => Ok(suggest_base_shift(model, points, settings, search_half, resolution)),
        StudyBackend::HostKernel => {
            base_shift_on(&HostReach::default(), model, points, settings, search_half, resolution)
        }
        StudyBackend::Cuda(gpu) => {
            #[cfg(feature = "cuda")]
            return base_shift_on(&super::CudaReach(gpu.gpu()), model, points, settings, search_half, resolution);
            #[cfg(not(feature = "cuda"))]
            {
                let _ = gpu;
                Ok(suggest_base_shift(model, points, settings, search_half, resolution))
            }
        }
    }
}

fn poses_of<'a>(poses: impl IntoIterator<Item = &'a Iso3>) -> Vec<f64> {
    poses.into_iter().flat_map(iso_words).collect()
}

/// The verdicts through the kernels: solve every point, then the nearest-pose search (grid, then the
/// pattern searches from each point's 6 nearest grid poses) for the unreachable ones.
pub fn check_points_on(
    kernels: &impl ReachKernels,
    model: &RobotModel,
    points: &[WeldPoint],
    settings: &ReachSettings,
) -> Result<Vec<PointReach>, BiwError> {
    if points.is_empty() {
        return Ok(Vec::new());
    }
    let job = ReachJob::new(model, settings);
    let poses = poses_of(points.iter().map(|p| &p.pose));
    let solved = kernels.solve(&job, &poses)?;
    let unreachable: Vec<usize> = (0..points.len()).filter(|&i| solved[i].is_none()).collect();
    let mut nearest: Vec<Option<Nearest>> = vec![None; points.len()];
    if !unreachable.is_empty() {
        let targets = poses_of(unreachable.iter().map(|&i| &points[i].pose));
        let grids = kernels.grid(&job, &targets)?;
        let mut starts = Vec::new();
        let mut owner = Vec::new();
        for (t, grid) in grids.iter().enumerate() {
            for &(_, index) in grid.iter().take(STARTS) {
                let (q, s) = start_of(&job.plan, index);
                starts.extend([t as f64, q[0], q[1], q[2], s]);
                owner.push(t);
            }
        }
        let ends = kernels.climb(&job, &targets, &starts)?;
        for (t, &i) in unreachable.iter().enumerate() {
            // The first strictly nearest end in start order, as the CPU path picks it.
            let mut best: ClimbResult = None;
            for e in owner.iter().zip(&ends).filter(|(&o, _)| o == t).filter_map(|(_, e)| *e) {
                if best.is_none_or(|b| e.0 < b.0) {
                    best = Some(e);
                }
            }
            nearest[i] = best.map(|(distance, position, spin, joints)| Nearest { distance, position, spin, joints });
        }
    }
    let spins = settings.spins();
    Ok(points
        .iter()
        .zip(solved)
        .zip(nearest)
        .map(|((p, s), n)| verdict(p, s.map(|(k, q)| (q, spins[k])), || n))
        .collect())
}

/// The base-shift search through the kernels: each candidate list is tested in chunks of
/// [`ReachKernels::shift_chunk`] candidates; the first feasible one in order wins, as on the CPU.
pub fn base_shift_on(
    kernels: &impl ReachKernels,
    model: &RobotModel,
    points: &[WeldPoint],
    settings: &ReachSettings,
    search_half: Vec3,
    resolution: f64,
) -> Result<BaseShift, BiwError> {
    let job = ReachJob::new(model, settings);
    let poses = poses_of(points.iter().map(|p| &p.pose));
    base_shift_search(search_half, resolution, |cands| {
        if points.is_empty() {
            return Ok(cands.first().copied());
        }
        for chunk in cands.chunks(kernels.shift_chunk().max(1)) {
            let ok = kernels.shifts(&job, &poses, chunk)?;
            if let Some(i) = ok.iter().position(|&b| b) {
                return Ok(Some(chunk[i]));
            }
        }
        Ok(None)
    })
}
