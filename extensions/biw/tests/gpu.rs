//! The GPU path's kernel (kernels/study.cu), compiled for the host, against the Rust CPU path: per query
//! on random mesh pairs and on the synthetic line's study queries (same found / intersect / inside
//! verdicts, distances and closest points within 0.01 mm), the whole study report through the kernel
//! (identical events), and the CPU fallback when a traversal overflows the kernel's fixed stack.
//! With the `cuda` feature: the kernel compiles with NVRTC, and where a GPU is present the same checks run
//! through the CUDA launch (`TWINLOOM_REQUIRE_GPU=1` turns a missing GPU into a failure; the device kit,
//! ci/device-kit, sets it).

use std::sync::Arc;

use twinloom_biw::distance::{Collider, Query};
use twinloom_biw::math::{Iso3, Vec3};
use twinloom_biw::mesh::TriMesh;
use twinloom_biw::study::{check_parity, compare_reports, host_distance_batch, KernelResult, Parity};
use twinloom_biw::study::{
    run_study, run_study_on, run_study_with, study_queries, Obstacle, StudyBackend, StudyReport, StudySettings,
};
use twinloom_biw::synth::{blob, sample_biw_study, triangle_soup, Rng};

/// The tolerance: 0.01 mm.
const TOL: f64 = 1e-5;

/// Checks the kernel's results on `queries` against the Rust path; none may have overflowed.
fn compare(what: &str, queries: &[Query<'_>], kernel: &[KernelResult]) -> Parity {
    let p = check_parity(queries, kernel, TOL).unwrap_or_else(|e| panic!("{what}: {e}"));
    eprintln!("{what}: {p:?}");
    assert_eq!(p.overflowed, 0, "{what}");
    assert_eq!(p.queries, queries.len());
    p
}

/// The shapes of the random-pair checks: large and small blobs, a triangle soup, a capsule, a cuboid and
/// the empty mesh (last).
fn random_shapes() -> (Rng, [Collider; 6]) {
    let mut rng = Rng::new(0x5eed_6c0d);
    let shapes = [
        Collider::new(blob(&mut rng, 0.5, 0.05, 4000)),
        Collider::new(blob(&mut rng, 0.1, 0.1, 600)),
        Collider::new(triangle_soup(&mut rng, 800, 0.4, 0.08)),
        Collider::new(TriMesh::capsule(0.05, 0.2, 6, 12)),
        Collider::new(TriMesh::cuboid(Vec3::new(0.3, 0.1, 0.05))),
        Collider::new(TriMesh::default()),
    ];
    (rng, shapes)
}

/// 600 random pairs of the non-empty shapes at every relation, then the first shape against the empty one.
fn random_queries<'a>(rng: &mut Rng, all: &'a [Collider; 6]) -> Vec<Query<'a>> {
    let (big, empty) = (&all[0], &all[5]);
    let shapes = [&all[0], &all[1], &all[2], &all[3], &all[4]];
    let mut queries = Vec::new();
    for _ in 0..600 {
        let a = shapes[(rng.next_u64() % shapes.len() as u64) as usize];
        let b = shapes[(rng.next_u64() % shapes.len() as u64) as usize];
        // B's centre 0 to 1.2 m from A's: nested (one inside the other), touching, crossing, well apart.
        let pose_a = rng.pose(0.5);
        let pose_b = pose_a.mul(&Iso3::new(rng.rotation(), rng.unit_vec() * rng.range(0.0, 1.2)));
        queries.push(Query { a, pose_a, b, pose_b });
    }
    queries.push(Query { a: big, pose_a: Iso3::IDENTITY, b: empty, pose_b: Iso3::IDENTITY });
    queries
}

#[test]
fn host_kernel_matches_rust_on_random_mesh_pairs() {
    let (mut rng, shapes) = random_shapes();
    let queries = random_queries(&mut rng, &shapes);
    let kernel = host_distance_batch(&queries);
    let parity = compare("random pairs", &queries, &kernel);
    let found: Vec<_> = kernel.iter().filter_map(|k| k.distance).collect();
    // The batch covers every verdict: apart, intersecting, and nested without touching.
    assert!(found.iter().filter(|d| d.intersect).count() > 50);
    assert!(found.iter().filter(|d| !d.intersect).count() > 50);
    assert!(kernel.iter().filter(|k| k.inside).count() > 5, "no nested pair");
    assert!(kernel.last().unwrap().distance.is_none(), "an empty mesh has no distance");
    assert!(parity.max_diff <= TOL);
}

#[test]
fn host_kernel_matches_rust_on_the_synthetic_line() {
    let stations = sample_biw_study(0.05).expect("sample study");
    let settings = StudySettings::default();
    let queries = study_queries(&stations, &settings);
    assert!(queries.len() > 1000, "{} queries", queries.len());
    let kernel = host_distance_batch(&queries);
    compare("synthetic line", &queries, &kernel);
    assert!(kernel.iter().any(|k| k.distance.is_some_and(|d| d.intersect)), "the planted clash");
    let cpu = run_study(&stations, &settings);
    let host = run_study_with(&stations, &settings, &StudyBackend::HostKernel).expect("host kernel study");
    assert_same_report(&cpu, &host);
    // Without a GPU, the selected device is the CPU and the study is the CPU study.
    let device = twinloom_gpu::select(twinloom_gpu::GpuMode::Off).unwrap();
    assert_eq!(run_study_on(&stations, &settings, &device).unwrap(), cpu);
}

/// Same events (verdicts, places, times) and summaries; clearances within 0.01 mm.
fn assert_same_report(cpu: &StudyReport, other: &StudyReport) {
    assert!(!cpu.events.is_empty());
    compare_reports(cpu, other, TOL).unwrap_or_else(|e| panic!("{e}"));
}

/// Small triangles at exponentially growing distances along x: the SAH splits peel off a few at a time,
/// so the hierarchy is deeper than the kernel's 64-entry stacks.
fn staircase(n: usize) -> TriMesh {
    let mut vertices = Vec::new();
    let mut triangles = Vec::new();
    for i in 0..n {
        let x = 0.01 * 2f64.powi(i as i32);
        let b = vertices.len() as u32;
        vertices.extend([Vec3::new(x, 0.0, 0.0), Vec3::new(x, 0.01, 0.0), Vec3::new(x, 0.0, 0.01)]);
        triangles.push([b, b + 1, b + 2]);
    }
    TriMesh::new(vertices, triangles).expect("staircase mesh")
}

/// Depth of a collider's hierarchy (the root alone is 1).
fn depth(c: &Collider, node: usize) -> usize {
    let n = &c.bvh.nodes[node];
    if n.is_leaf() {
        1
    } else {
        1 + depth(c, n.first as usize).max(depth(c, n.first as usize + 1))
    }
}

#[test]
fn overflowing_queries_fall_back_to_the_cpu() {
    let deep = Arc::new(Collider::new(staircase(400)));
    assert!(depth(&deep, 0) > 80, "depth {}", depth(&deep, 0));
    let probe = Collider::new(TriMesh::cuboid(Vec3::new(0.02, 0.02, 0.02)));
    let q = Query { a: &probe, pose_a: Iso3::translation(Vec3::new(0.0, 0.0, 0.05)), b: &deep, pose_b: Iso3::IDENTITY };
    let k = host_distance_batch(std::slice::from_ref(&q));
    assert!(k[0].overflow && k[0].distance.is_none(), "{k:?}");
    // In a study, such queries are recomputed on the CPU: the report is the CPU report.
    let mut stations = sample_biw_study(0.1).expect("sample study");
    stations.truncate(1);
    stations[0].obstacles.push(Obstacle {
        name: "staircase".into(),
        collider: deep,
        pose: Iso3::translation(Vec3::new(-0.2, 0.9, 0.9)),
        regions: Vec::new(),
    });
    let settings = StudySettings { near_miss_default: 0.5, ..StudySettings::default() };
    let overflowed = host_distance_batch(&study_queries(&stations, &settings)).iter().filter(|k| k.overflow).count();
    assert!(overflowed > 0);
    let cpu = run_study(&stations, &settings);
    assert!(cpu.events.iter().any(|e| e.other == "staircase"), "{:#?}", cpu.describe());
    let host = run_study_with(&stations, &settings, &StudyBackend::HostKernel).expect("host kernel study");
    assert_same_report(&cpu, &host);
}

/// With the `cuda` feature, where NVRTC is installed (no GPU needed; ci/test installs it): the kernel
/// compiles for the GPU with the options `Gpu::compile` uses, and the PTX holds the entry point the launch
/// loads.
#[cfg(feature = "cuda")]
#[test]
fn the_kernel_compiles_with_nvrtc_where_it_is_installed() {
    if !twinloom_gpu::nvrtc_for_checks() {
        return;
    }
    let ptx = twinloom_gpu::compile_ptx("sm_80", "biw_study", twinloom_biw::study::KERNEL_SOURCE)
        .unwrap_or_else(|e| panic!("{e}"));
    let entry = format!(".entry {}(", twinloom_biw::study::KERNEL_FUNCTION);
    assert!(ptx.contains(&entry), "no {entry} in the PTX");
    // No fused multiply-adds: the device rounds like the CPU.
    assert!(!ptx.contains("fma.rn.f64"), "the PTX contracts multiply-adds");
}

/// With the `cuda` feature, where a GPU is present: the CUDA launch against the Rust path, per query on the
/// random pairs and the synthetic line, and the synthetic line's whole study (identical events). Without a
/// GPU it is skipped, unless `TWINLOOM_REQUIRE_GPU` is set (the device kit sets it): then it fails.
#[cfg(feature = "cuda")]
#[test]
fn gpu_kernel_matches_rust_when_present() {
    use twinloom_biw::study::{run_cuda, Batch};
    let Some(gpu) = twinloom_gpu::gpu_for_checks() else {
        return;
    };
    let on_gpu = |queries: &[Query<'_>]| {
        let mut batch = Batch::default();
        for q in queries {
            batch.push(q.a, &q.pose_a, q.b, &q.pose_b);
        }
        run_cuda(&gpu, &batch).unwrap_or_else(|e| panic!("{e}"))
    };
    let (mut rng, shapes) = random_shapes();
    let queries = random_queries(&mut rng, &shapes);
    let kernel = on_gpu(&queries);
    compare("GPU: random pairs", &queries, &kernel);
    // The device gives the host kernel's verdicts, query by query.
    let host = host_distance_batch(&queries);
    for (i, (g, h)) in kernel.iter().zip(&host).enumerate() {
        assert_eq!(g.distance.map(|d| d.intersect), h.distance.map(|d| d.intersect), "query {i}");
        assert_eq!(g.inside, h.inside, "query {i}");
    }
    let stations = sample_biw_study(0.05).expect("sample study");
    let settings = StudySettings::default();
    let queries = study_queries(&stations, &settings);
    compare("GPU: synthetic line", &queries, &on_gpu(&queries));
    let cpu = run_study(&stations, &settings);
    let on_device =
        run_study_on(&stations, &settings, &twinloom_gpu::Device::Cuda(twinloom_gpu::CudaDevice::new(gpu.clone())))
            .unwrap_or_else(|e| panic!("{e}"));
    assert_same_report(&cpu, &on_device);
}
