//! The reach kernels (kernels/reach.cu), compiled for the host, against the Rust reach path: on random weld
//! points for all three robot models (reachable ones, and ones pushed out of reach by up to 30 % of the
//! arm), with and without a tool frame and at three spin tolerances, every verdict is equal bit for bit
//! (reachable, outside_mm, joints, spin, nearest position), also with the pattern searches run ahead on
//! the GPU's 128 lanes, and so are the base-shift suggestions (found and not found). With the `cuda`
//! feature, the kernel compiles with NVRTC where it is installed.

use twinloom_biw::kinematics::RobotModel;
use twinloom_biw::math::{Iso3, Mat3, Vec3};
use twinloom_biw::reach::backend::check_points_on;
use twinloom_biw::reach::kernel::{HostReach, CLIMB_LANES};
use twinloom_biw::reach::{
    check_points, check_points_with, suggest_base_shift, suggest_base_shift_with, PointReach, ReachSettings, WeldPoint,
};
use twinloom_biw::study::StudyBackend;
use twinloom_biw::synth::Rng;

fn models() -> Vec<RobotModel> {
    let tool = Iso3::new(Mat3::rot_y(0.3).mul_mat(&Mat3::rot_z(-0.7)), Vec3::new(0.02, -0.01, 0.18));
    vec![
        RobotModel::abb_irb2400(),
        RobotModel::kuka_kr6_r700(),
        RobotModel::fanuc_r2000ic_165f(),
        RobotModel::kuka_kr6_r700().with_tool(tool),
    ]
}

/// `n` weld points: poses of random configurations, each pushed by up to 30 % of the arm's length in a
/// random direction (so some stay reachable, some do not).
fn random_points(m: &RobotModel, seed: u64, n: usize) -> Vec<WeldPoint> {
    let mut rng = Rng::new(seed);
    let arm = m.params.c2 + m.params.c3;
    (0..n)
        .map(|i| {
            let q: [f64; 6] = std::array::from_fn(|j| rng.range(m.limits[j].0, m.limits[j].1));
            let p = m.forward(&q);
            let push = rng.unit_vec() * rng.range(0.0, 0.3 * arm);
            WeldPoint { id: format!("P{i}"), pose: Iso3::new(p.rot, p.trans + push) }
        })
        .collect()
}

fn settings() -> [ReachSettings; 3] {
    [
        ReachSettings::default(),
        ReachSettings { spin_tolerance: 0.0, spin_step: 1.0 },
        ReachSettings { spin_tolerance: 30f64.to_radians(), spin_step: 2f64.to_radians() },
    ]
}

#[test]
fn host_reach_kernel_matches_rust_on_random_points() {
    let mut unreachable = 0;
    let mut far = 0;
    for (mi, m) in models().iter().enumerate() {
        let points = random_points(m, 0x7eac_0000 + mi as u64, 24);
        for s in settings() {
            let rust = check_points(m, &points, &s);
            let kernel = check_points_with(m, &points, &s, &StudyBackend::HostKernel).expect("host kernel");
            assert_eq!(rust.len(), kernel.len());
            for (r, k) in rust.iter().zip(&kernel) {
                assert_same(r, k, &m.name);
            }
            unreachable += rust.iter().filter(|r| !r.reachable).count();
            far += rust.iter().filter(|r| r.outside_mm > 50.0).count();
        }
    }
    eprintln!("{unreachable} unreachable verdicts, {far} more than 50 mm out: all equal bit for bit");
    // The sets cover both verdicts and real out-of-reach distances.
    assert!(unreachable >= 40, "{unreachable} unreachable");
    assert!(far >= 10, "{far} more than 50 mm out");
}

/// The pattern searches run ahead on the GPU's 128 lanes (and on 1 and 3 lanes, where every round is
/// shorter than an iteration): the same verdicts bit for bit, since a lane's move counts only once every
/// decision before it is confirmed.
#[test]
fn host_reach_kernel_runs_the_pattern_search_ahead_without_changing_it() {
    let s = ReachSettings::default();
    for (mi, m) in models().iter().enumerate().take(3) {
        let points = random_points(m, 0x1a9e_5000 + mi as u64, 12);
        let rust = check_points(m, &points, &s);
        assert!(rust.iter().any(|r| !r.reachable && r.outside_mm.is_finite()));
        for lanes in [1, 3, CLIMB_LANES] {
            let kernel = check_points_on(&HostReach { climb_lanes: lanes }, m, &points, &s).expect("host kernel");
            for (r, k) in rust.iter().zip(&kernel) {
                assert_same(r, k, &format!("{} on {lanes} lanes", m.name));
            }
        }
    }
}

/// Equal bit for bit (f64 `==`; the outside distance may be infinite, never NaN).
fn assert_same(r: &PointReach, k: &PointReach, model: &str) {
    assert_eq!(r, k, "{model}: {} differs", r.id);
    assert_eq!(r.outside_mm.to_bits(), k.outside_mm.to_bits(), "{model}: {}", r.id);
}

#[test]
fn host_reach_kernel_finds_the_same_base_shifts() {
    let s = ReachSettings::default();
    let mut found = 0;
    let mut none = 0;
    for (mi, m) in models().iter().enumerate() {
        let arm = m.params.c2 + m.params.c3;
        // Nearby points slightly out of reach (a shift exists), and points too far apart (none does).
        let sets = [random_points(m, 0x5b1f_7000 + mi as u64, 3), random_points(m, 0x5b1f_7100 + mi as u64, 5)];
        for points in &sets {
            let half = Vec3::new(0.15, 0.15, 0.15) * arm;
            let rust = suggest_base_shift(m, points, &s, half, 0.002);
            let kernel =
                suggest_base_shift_with(m, points, &s, half, 0.002, &StudyBackend::HostKernel).expect("host kernel");
            assert_eq!(rust, kernel, "{}", m.name);
            if rust.shift.is_some_and(|v| v.norm() > 0.0) {
                found += 1;
            } else if rust.shift.is_none() {
                none += 1;
            }
        }
    }
    eprintln!("{found} non-zero shifts found, {none} none: all equal");
    assert!(found >= 2 && none >= 1, "{found} shifts found, {none} none");
}

/// With the `cuda` feature, where NVRTC is installed (no GPU needed; ci/test installs it): the reach
/// kernel compiles for the GPU with the options `Gpu::compile` uses, and the PTX holds every entry point
/// the launch loads. (Unlike the collision kernel's, this PTX does hold fused multiply-adds: CUDA's own
/// sin, cos, atan2 and acos use them inside; the kernel's arithmetic is compiled with fmad off.)
#[cfg(feature = "cuda")]
#[test]
fn the_reach_kernel_compiles_with_nvrtc_where_it_is_installed() {
    use twinloom_biw::reach::kernel::{REACH_KERNEL_FUNCTIONS, REACH_KERNEL_SOURCE};
    if !twinloom_gpu::nvrtc_for_checks() {
        return;
    }
    let ptx = twinloom_gpu::compile_ptx("sm_80", "biw_reach", REACH_KERNEL_SOURCE).unwrap_or_else(|e| panic!("{e}"));
    for f in REACH_KERNEL_FUNCTIONS {
        let entry = format!(".entry {f}(");
        assert!(ptx.contains(&entry), "no {entry} in the PTX");
    }
    // Square roots are IEEE-rounded, as on the host.
    assert!(ptx.contains("sqrt.rn.f64"), "no IEEE square root in the PTX");
}
