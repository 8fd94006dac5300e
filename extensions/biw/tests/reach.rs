//! Reach: verdicts, out-of-reach distances against brute-force sampling, and the base-shift search.

use twinloom_biw::kinematics::RobotModel;
use twinloom_biw::math::{Iso3, Vec3};
use twinloom_biw::reach::{check_point, reachable_with_spin, suggest_base_shift, ReachSettings, WeldPoint};

/// Brute force: along ~`n` directions (Fibonacci sphere), step out from the point in 0.5 mm steps until a
/// reachable position (same orientation, allowed spin) is met; the smallest such distance.
fn brute_force_outside(model: &RobotModel, pose: &Iso3, settings: &ReachSettings, n: usize, max: f64) -> f64 {
    let spins = settings.spins();
    let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
    let mut best = max;
    for i in 0..n {
        let z = 1.0 - 2.0 * (i as f64 + 0.5) / n as f64;
        let r = (1.0 - z * z).sqrt();
        let dir = Vec3::new(r * (golden * i as f64).cos(), r * (golden * i as f64).sin(), z);
        let mut d = 0.0;
        while d < best {
            if reachable_with_spin(model, &Iso3::new(pose.rot, pose.trans + dir * d), &spins) {
                best = d;
                break;
            }
            d += 0.0005;
        }
    }
    best
}

fn pushed_out(model: &RobotModel, q: [f64; 6], by: Vec3) -> Iso3 {
    let p = model.forward(&q);
    Iso3::new(p.rot, p.trans + by)
}

#[test]
fn reachable_point_is_reported_reachable() {
    let m = RobotModel::abb_irb2400();
    let q = [0.2, 0.1, 0.3, 0.4, -0.6, 1.0];
    let wp = WeldPoint { id: "WP-1".into(), pose: m.forward(&q) };
    let r = check_point(&m, &wp, &ReachSettings::default());
    assert!(r.reachable);
    assert_eq!(r.outside_mm, 0.0);
    let got = m.forward(&r.joints.unwrap());
    assert!((got.trans - wp.pose.trans).norm() < 1e-9);
}

#[test]
fn outside_distance_matches_brute_force_without_spin() {
    let m = RobotModel::kuka_kr6_r700();
    let settings = ReachSettings { spin_tolerance: 0.0, spin_step: 1.0 };
    // Stretched arm pointing forward, then pushed 80 mm further out and 20 mm up.
    let pose =
        pushed_out(&m, [0.3, -0.9, 0.4, 0.2, 0.5, 0.1], Vec3::new(0.08 * 0.3f64.cos(), -0.08 * 0.3f64.sin(), 0.02));
    let r = check_point(&m, &WeldPoint { id: "far".into(), pose }, &settings);
    assert!(!r.reachable);
    let brute = brute_force_outside(&m, &pose, &settings, 600, 0.3) * 1000.0;
    assert!(r.outside_mm <= brute + 0.1, "ours {} brute {brute}", r.outside_mm);
    assert!(r.outside_mm >= brute - 3.0, "ours {} brute {brute}", r.outside_mm);
    // The reported nearest pose is really reachable and really that far away.
    let near = Iso3::new(pose.rot, r.nearest_position);
    assert!(m.reachable(&near));
    assert!(((r.nearest_position - pose.trans).norm() * 1000.0 - r.outside_mm).abs() < 1e-9);
}

#[test]
fn outside_distance_matches_brute_force_with_spin_tolerance() {
    let m = RobotModel::abb_irb2400();
    let settings = ReachSettings { spin_tolerance: 15f64.to_radians(), spin_step: 1.5f64.to_radians() };
    let pose =
        pushed_out(&m, [-0.4, 1.2, -0.5, 0.3, 0.9, -0.5], Vec3::new(0.15 * 0.4f64.cos(), -0.15 * 0.4f64.sin(), -0.05));
    let r = check_point(&m, &WeldPoint { id: "low".into(), pose }, &settings);
    assert!(!r.reachable);
    let brute = brute_force_outside(&m, &pose, &settings, 400, 0.4) * 1000.0;
    // Brute force samples the spin in 1.5 degree steps and directions coarsely: it is an upper bound.
    assert!(r.outside_mm <= brute + 0.1, "ours {} brute {brute}", r.outside_mm);
    assert!(r.outside_mm >= brute - 5.0, "ours {} brute {brute}", r.outside_mm);
}

#[test]
fn base_shift_for_one_far_point_equals_its_outside_distance() {
    let m = RobotModel::kuka_kr6_r700();
    let settings = ReachSettings::default();
    let reach_q = [[0.0, -0.8, 0.5, 0.0, 0.8, 0.0], [0.4, -1.2, 1.0, 0.1, 0.6, 0.2]];
    let mut points: Vec<WeldPoint> =
        reach_q.iter().enumerate().map(|(i, q)| WeldPoint { id: format!("ok{i}"), pose: m.forward(q) }).collect();
    let far = pushed_out(&m, [0.0, -0.9, 0.3, 0.0, 0.6, 0.0], Vec3::new(0.06, 0.0, 0.0));
    points.push(WeldPoint { id: "far".into(), pose: far });
    let outside = check_point(&m, &points[2], &settings).outside_mm;
    assert!(outside > 10.0);
    let shift = suggest_base_shift(&m, &points, &settings, Vec3::new(0.3, 0.3, 0.3), 0.001);
    let s = shift.shift.expect("a shift exists");
    // Every point is reachable from the shifted base.
    for p in &points {
        assert!(reachable_with_spin(&m, &Iso3::new(p.pose.rot, p.pose.trans - s), &settings.spins()), "{}", p.id);
    }
    // No shift can be shorter than the out-of-reach distance; the found one is within the grid resolution.
    let norm_mm = s.norm() * 1000.0;
    assert!(norm_mm >= outside - 0.5, "shift {norm_mm} outside {outside}");
    assert!(norm_mm <= outside + 3.0, "shift {norm_mm} outside {outside}");
}

#[test]
fn no_base_shift_when_points_are_too_far_apart() {
    let m = RobotModel::kuka_kr6_r700();
    let a = m.forward(&[0.0, -0.8, 0.5, 0.0, 0.8, 0.0]);
    let b = Iso3::new(a.rot, a.trans + Vec3::new(2.5, 0.0, 0.0));
    let points = vec![WeldPoint { id: "a".into(), pose: a }, WeldPoint { id: "b".into(), pose: b }];
    let shift = suggest_base_shift(&m, &points, &ReachSettings::default(), Vec3::new(0.4, 0.4, 0.4), 0.005);
    assert_eq!(shift.shift, None);
}
