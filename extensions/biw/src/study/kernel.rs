//! The study's kernel, host side: the per-query kernel of `kernels/study.cu` (exact mesh distance,
//! intersection, closest points and triangles, and the first-vertex inside test; penetration depth stays
//! on the CPU), fed from a flat [`Batch`](super::Batch).
//!
//! The kernel source is compiled twice: by build.rs for the host ([`run_host`], used on every machine by
//! the tests to check the kernel's code against the Rust path) and, with the `cuda` feature, by NVRTC for
//! the GPU at run time (`run_cuda`, in `kernel_cuda.rs`). The study picks between them through
//! [`StudyBackend`](super::StudyBackend). The reach kernels' host side is `crate::reach::kernel`.

use rayon::prelude::*;

use super::batch::{decode, Batch, KernelResult, OUT_F, OUT_U};

use crate::distance::Query;
use crate::error::BiwError;
use crate::study::{cpu_hit, hit_of, Hit, Plan};

/// The kernel source: kernels/math.h then kernels/study.cu (`Gpu::compile` prepends twinloom-gpu's prelude).
pub const KERNEL_SOURCE: &str = concat!(include_str!("../../kernels/math.h"), include_str!("../../kernels/study.cu"));
/// The kernel's CUDA entry point (one thread per query).
pub const KERNEL_FUNCTION: &str = "tl_biw_study";

extern "C" {
    /// The host build of the kernel (kernels/study.cu): queries `[0, n)` of `query`.
    fn tl_biw_study_host(
        node_f: *const f64,
        node_u: *const u32,
        tri: *const f64,
        tri_id: *const u32,
        col_u: *const u32,
        col_f: *const f64,
        pose: *const f64,
        query: *const u32,
        out_f: *mut f64,
        out_u: *mut u32,
        n: u32,
    );
}

/// Queries per call of the host kernel (rayon splits the batch into such chunks).
const HOST_CHUNK: usize = 16;

/// Runs every query of `batch` through the host-compiled kernel, on all threads of the rayon pool.
pub fn run_host(batch: &Batch<'_>) -> Vec<KernelResult> {
    let n = batch.len();
    let mut out_f = vec![0.0; n * OUT_F];
    let mut out_u = vec![0u32; n * OUT_U];
    out_f
        .par_chunks_mut(HOST_CHUNK * OUT_F)
        .zip(out_u.par_chunks_mut(HOST_CHUNK * OUT_U))
        .zip(batch.query.par_chunks(HOST_CHUNK * 4))
        .for_each(|((f, u), q)| {
            let count = q.len() / 4;
            debug_assert!(f.len() == count * OUT_F && u.len() == count * OUT_U);
            // SAFETY: the arrays are the batch's flat layout, whose every index was created by
            // `Batch::push` (colliders, poses, nodes and slots in range); the outputs hold `count` results.
            unsafe {
                tl_biw_study_host(
                    batch.node_f.as_ptr(),
                    batch.node_u.as_ptr(),
                    batch.tri.as_ptr(),
                    batch.tri_id.as_ptr(),
                    batch.col_u.as_ptr(),
                    batch.col_f.as_ptr(),
                    batch.pose.as_ptr(),
                    q.as_ptr(),
                    f.as_mut_ptr(),
                    u.as_mut_ptr(),
                    count as u32,
                )
            }
        });
    decode(&out_f, &out_u)
}

/// Plain distance queries through the host-compiled kernel (for comparisons with
/// [`crate::distance::mesh_distance`]).
pub fn host_distance_batch(queries: &[Query<'_>]) -> Vec<KernelResult> {
    let mut batch = Batch::default();
    for q in queries {
        batch.push(q.a, &q.pose_a, q.b, &q.pose_b);
    }
    run_host(&batch)
}

/// The study's hits through a kernel runner (host or CUDA): all stations' queries in one batch, ordered
/// pair by pair along time so that neighbouring GPU threads traverse the same meshes from nearby poses.
/// Queries whose traversal overflowed are recomputed on the CPU, and so are the penetration depths of
/// clashing pairs.
pub(crate) fn study_hits(
    plans: &[Plan<'_>],
    run: impl FnOnce(&Batch<'_>) -> Result<Vec<KernelResult>, BiwError>,
) -> Result<Vec<Vec<Option<Hit>>>, BiwError> {
    let mut batch = Batch::default();
    let mut slots = Vec::new();
    for (si, plan) in plans.iter().enumerate() {
        for pi in 0..plan.pairs() {
            for k in (pi..plan.len()).step_by(plan.pairs()) {
                if let Some((a, pose_a, b, pose_b)) = plan.query(k) {
                    batch.push(a, &pose_a, b, &pose_b);
                    slots.push((si, k));
                }
            }
        }
    }
    let results = run(&batch)?;
    let resolved: Vec<Option<Hit>> = slots
        .par_iter()
        .zip(results.par_iter())
        .with_min_len(8)
        .map(|(&(si, k), r)| {
            let (link, link_pose, other, other_pose) = plans[si].query(k)?;
            if r.overflow {
                return cpu_hit(link, &link_pose, other, &other_pose);
            }
            let d = r.distance?;
            Some(hit_of(&d, r.inside, link, &link_pose, other, &other_pose))
        })
        .collect();
    let mut hits: Vec<Vec<Option<Hit>>> = plans.iter().map(|p| vec![None; p.len()]).collect();
    for ((si, k), h) in slots.into_iter().zip(resolved) {
        hits[si][k] = h;
    }
    Ok(hits)
}
