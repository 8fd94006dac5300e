//! BIW benchmarks: mesh–mesh distance queries/s (ours vs parry3d-f64, 10k and 160k triangles, 1 and 2
//! threads) and IK solves/s on 2 threads. The sample plant's study time (`biw_study_cpu_s`, and
//! `biw_study_gpu_s` where a GPU is present) is measured by `twinloom-biw-stage`'s bench, which reads the
//! plant stage.
//! Prints one JSON object per line on stdout; progress on stderr. Optional argument: a name prefix.

use parry3d_f64::math::{Pose, Rotation, Vector};
use parry3d_f64::shape::TriMesh as PTriMesh;
use std::hint::black_box;
use std::time::{Duration, Instant};
use twinloom_biw::distance::{mesh_distance, mesh_distance_batch, Collider, Query};
use twinloom_biw::kinematics::RobotModel;
use twinloom_biw::math::{Iso3, Quat};
use twinloom_biw::mesh::TriMesh;
use twinloom_biw::synth::{blob, Rng};

fn emit(name: &str, value: f64, unit: &str, extra: &str) {
    println!("{{\"name\":\"{name}\",\"value\":{value:.6},\"unit\":\"{unit}\"{extra}}}");
}

/// The 1-minute load average (other processes competing for the cores skew multi-thread numbers).
fn load_avg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool")
}

/// Repeats `f` (which performs `per_call` operations) for at least `min` and returns operations/s.
fn rate(min: Duration, per_call: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let start = Instant::now();
    let mut calls = 0usize;
    while start.elapsed() < min {
        f();
        calls += 1;
    }
    (calls * per_call) as f64 / start.elapsed().as_secs_f64()
}

fn to_parry(m: &TriMesh) -> PTriMesh {
    PTriMesh::new(m.vertices.iter().map(|p| Vector::new(p.x, p.y, p.z)).collect(), m.triangles.clone())
        .expect("parry mesh")
}

fn to_parry_pose(p: &Iso3) -> Pose {
    let q = Quat::from_mat3(&p.rot);
    Pose::from_parts(Vector::new(p.trans.x, p.trans.y, p.trans.z), Rotation::from_xyzw(q.x, q.y, q.z, q.w).normalize())
}

/// Poses of B around A: random orientation, centre distance giving clearances from about -1 cm to 20 cm.
fn query_poses(rng: &mut Rng, n: usize) -> Vec<Iso3> {
    (0..n).map(|_| Iso3::new(rng.rotation(), rng.unit_vec() * rng.range(0.56, 0.75))).collect()
}

fn bench_distance(prefix: &str, tris: usize, with_2t: bool) {
    let tag = if tris >= 100_000 { "160k" } else { "10k" };
    let names = [format!("dist_qps_{tag}_1t"), format!("dist_qps_{tag}_2t"), format!("dist_qps_{tag}_parry_1t")];
    if !names.iter().any(|n| n.starts_with(prefix)) {
        return;
    }
    let mut rng = Rng::new(tris as u64);
    let ma = blob(&mut rng, 0.3, 0.02, tris);
    let mb = blob(&mut rng, 0.25, 0.02, tris);
    eprintln!("distance bench: {} and {} triangles", ma.triangles.len(), mb.triangles.len());
    let (ca, cb) = (Collider::new(ma.clone()), Collider::new(mb.clone()));
    let poses = query_poses(&mut rng, if tris >= 100_000 { 64 } else { 256 });
    let queries: Vec<Query> =
        poses.iter().map(|p| Query { a: &ca, pose_a: Iso3::IDENTITY, b: &cb, pose_b: *p }).collect();
    let hits =
        poses.iter().filter(|p| mesh_distance(&ca, &Iso3::IDENTITY, &cb, p).is_some_and(|d| d.intersect)).count();
    let ctx = format!(",\"triangles\":{},\"queries\":{},\"intersecting\":{hits}", ma.triangles.len(), poses.len());
    let min = Duration::from_secs(2);
    let one = if names[0].starts_with(prefix) || names[1].starts_with(prefix) {
        let one = pool(1).install(|| {
            rate(min, queries.len(), || {
                black_box(mesh_distance_batch(&queries));
            })
        });
        if names[0].starts_with(prefix) {
            emit(&names[0], one, "queries/s", &format!("{ctx},\"threads\":1"));
        }
        one
    } else {
        0.0
    };
    if with_2t && names[1].starts_with(prefix) {
        let two = pool(2).install(|| {
            rate(min, queries.len(), || {
                black_box(mesh_distance_batch(&queries));
            })
        });
        emit(
            &names[1],
            two,
            "queries/s",
            &format!("{ctx},\"threads\":2,\"speedup_vs_1t\":{:.3},\"load_avg_1m\":{:.2}", two / one, load_avg()),
        );
    }
    if names[2].starts_with(prefix) {
        let (pa, pb) = (to_parry(&ma), to_parry(&mb));
        let ppa = to_parry_pose(&Iso3::IDENTITY);
        let pposes: Vec<Pose> = poses.iter().map(to_parry_pose).collect();
        // Agreement check on the benchmark's own queries.
        let mut worst: f64 = 0.0;
        for (p, pp) in poses.iter().zip(&pposes).take(if tris >= 100_000 { 4 } else { 64 }) {
            let ours = mesh_distance(&ca, &Iso3::IDENTITY, &cb, p).map(|d| d.distance).unwrap_or(f64::NAN);
            let theirs = parry3d_f64::query::distance(&ppa, &pa, pp, &pb).map(|d| d.distance).unwrap_or(f64::NAN);
            worst = worst.max((ours - theirs).abs());
        }
        // parry3d is slow on large meshes: time single queries cyclically for at least `min` (no warm-up).
        let start = Instant::now();
        let mut done = 0usize;
        while start.elapsed() < min || done < 4 {
            black_box(parry3d_f64::query::distance(&ppa, &pa, &pposes[done % pposes.len()], &pb).ok());
            done += 1;
        }
        let parry = done as f64 / start.elapsed().as_secs_f64();
        emit(
            &names[2],
            parry,
            "queries/s",
            &format!("{ctx},\"threads\":1,\"max_abs_diff_m\":{worst:e},\"ours_1t_over_parry\":{:.3}", one / parry),
        );
    }
}

fn bench_ik(prefix: &str) {
    if !"ik_solves_per_s".starts_with(prefix) {
        return;
    }
    let model = RobotModel::abb_irb2400();
    let mut rng = Rng::new(9);
    let poses: Vec<Iso3> = (0..4096)
        .map(|_| model.forward(&std::array::from_fn(|j| rng.range(model.limits[j].0, model.limits[j].1))))
        .collect();
    use rayon::prelude::*;
    let r = pool(2).install(|| {
        rate(Duration::from_secs(2), poses.len(), || {
            let n: usize = poses.par_iter().with_min_len(256).map(|p| black_box(model.inverse(p)).len()).sum();
            black_box(n);
        })
    });
    emit(
        "ik_solves_per_s",
        r,
        "solves/s",
        &format!(",\"threads\":2,\"robot\":\"abb-irb2400\",\"branches_per_solve\":8,\"load_avg_1m\":{:.2}", load_avg()),
    );
}

fn main() {
    let prefix = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    bench_distance(&prefix, 10_000, true);
    bench_distance(&prefix, 160_000, false);
    bench_ik(&prefix);
}
