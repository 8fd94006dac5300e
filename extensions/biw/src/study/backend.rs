//! Where a collision study's distance queries run ([`StudyBackend`], twinloom-gpu's `Backend`): the Rust
//! CPU path, the GPU kernel compiled for the host (the GPU's code on machines without one), or the CUDA GPU.
//! All give the same verdicts; the kernel follows the Rust path operation by operation.

use super::{report, Plan, Station, StudyReport, StudySettings};
use crate::distance::Query;
use crate::error::BiwError;
use twinloom_gpu::Device;

/// Where a study's distance queries run (penetration depths of clashing pairs always run on the CPU):
/// twinloom-gpu's one backend type, the same for every analytics crate.
pub use twinloom_gpu::Backend as StudyBackend;

/// Runs the collision study on the device [`twinloom_gpu::select`] chose (the CPU path when it is the CPU).
pub fn run_study_on(stations: &[Station], settings: &StudySettings, device: &Device) -> Result<StudyReport, BiwError> {
    run_study_with(stations, settings, &StudyBackend::for_device(device))
}

/// Runs the collision study with the given backend. Every backend gives the same verdicts; distances
/// agree within 0.01 mm (the kernel follows the Rust path operation by operation).
pub fn run_study_with(
    stations: &[Station],
    settings: &StudySettings,
    backend: &StudyBackend,
) -> Result<StudyReport, BiwError> {
    let plans: Vec<Plan> = stations.iter().map(|st| Plan::new(st, settings)).collect();
    let hits = match backend {
        StudyBackend::Cpu => plans.iter().map(Plan::cpu_hits).collect(),
        StudyBackend::HostKernel => super::kernel::study_hits(&plans, |b| Ok(super::kernel::run_host(b)))?,
        StudyBackend::Cuda(gpu) => {
            #[cfg(feature = "cuda")]
            let hits = super::kernel::study_hits(&plans, |b| super::run_cuda(gpu.gpu(), b))?;
            // This build has no CUDA kernels (another crate's feature opened the GPU): the CPU path.
            #[cfg(not(feature = "cuda"))]
            let hits = {
                let _ = gpu;
                plans.iter().map(Plan::cpu_hits).collect()
            };
            hits
        }
    };
    Ok(report(&plans, hits))
}

/// Every (link, link pose, other, other pose) query of the study, for comparisons of backends.
pub fn study_queries<'a>(stations: &'a [Station], settings: &StudySettings) -> Vec<Query<'a>> {
    stations
        .iter()
        .flat_map(|st| {
            let plan = Plan::new(st, settings);
            (0..plan.len())
                .filter_map(|k| plan.query(k))
                .map(|(a, pose_a, b, pose_b)| Query { a, pose_a, b, pose_b })
                .collect::<Vec<_>>()
        })
        .collect()
}
