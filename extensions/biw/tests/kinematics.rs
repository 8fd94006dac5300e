//! OPW inverse kinematics round trips (FK -> IK -> FK) on random joint configurations.

use std::f64::consts::PI;
use twinloom_biw::kinematics::{wrap, RobotModel};
use twinloom_biw::math::{Iso3, Mat3, Vec3};
use twinloom_biw::synth::Rng;

fn pose_error(a: &Iso3, b: &Iso3) -> (f64, f64) {
    // Rotation error as the largest difference of matrix entries (acos-based angles lose precision near 0).
    let dr = (0..3).map(|c| (a.rot.cols[c] - b.rot.cols[c]).abs()).fold(0.0f64, |m, v| m.max(v.x).max(v.y).max(v.z));
    ((a.trans - b.trans).norm(), dr)
}

fn round_trip(model: &RobotModel, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut tested = 0;
    while tested < 2000 {
        let q: [f64; 6] = std::array::from_fn(|j| rng.range(model.limits[j].0, model.limits[j].1));
        // Away from the wrist singularity the original configuration is isolated among the 8 branches.
        if q[4].abs() < 1e-3 {
            continue;
        }
        tested += 1;
        let pose = model.forward(&q);
        let sols = model.inverse(&pose);
        let mut found = false;
        for s in sols.iter().filter(|s| !s[0].is_nan()) {
            let (dp, dr) = pose_error(&model.forward(s), &pose);
            assert!(dp <= 1e-9, "{}: position error {dp} for {s:?} (q {q:?})", model.name);
            assert!(dr <= 1e-9, "{}: rotation error {dr} for {s:?}", model.name);
            if (0..6).all(|j| wrap(s[j] - q[j]).abs() < 1e-7) {
                found = true;
            }
        }
        assert!(found, "{}: original {q:?} not among {sols:?}", model.name);
        // The limit-aware solver returns the original exactly (turns included).
        let within = model.inverse_within_limits(&pose);
        assert!(within.iter().any(|s| (0..6).all(|j| (s[j] - q[j]).abs() < 1e-7)), "{}: {q:?}", model.name);
        assert!(within.iter().all(|s| model.within_limits(s)));
    }
}

#[test]
fn abb_irb2400_round_trip() {
    round_trip(&RobotModel::abb_irb2400(), 1);
}

#[test]
fn kuka_kr6_r700_round_trip() {
    round_trip(&RobotModel::kuka_kr6_r700(), 2);
}

#[test]
fn fanuc_r2000ic_165f_round_trip() {
    round_trip(&RobotModel::fanuc_r2000ic_165f(), 3);
}

#[test]
fn round_trip_with_tool_frame() {
    let tool = Iso3::new(Mat3::rot_y(0.3), Vec3::new(0.05, 0.0, 0.25));
    round_trip(&RobotModel::abb_irb2400().with_tool(tool), 4);
}

#[test]
fn eight_distinct_branches_for_a_generic_pose() {
    let m = RobotModel::abb_irb2400();
    let pose = m.forward(&[0.3, 0.2, -0.1, 0.5, 0.7, -0.4]);
    let sols: Vec<_> = m.inverse(&pose).into_iter().filter(|s| !s[0].is_nan()).collect();
    assert_eq!(sols.len(), 8);
    for i in 0..8 {
        for j in 0..i {
            assert!((0..6).any(|k| wrap(sols[i][k] - sols[j][k]).abs() > 1e-6));
        }
    }
}

#[test]
fn far_pose_has_no_solution() {
    let m = RobotModel::kuka_kr6_r700();
    let pose = Iso3::translation(Vec3::new(3.0, 0.0, 0.5));
    assert!(m.inverse(&pose).iter().all(|s| s[0].is_nan()));
    assert!(!m.reachable(&pose));
    let _ = PI;
}
