//! `weld_program::build_weld_program` on plain data: a robot placed away from the world origin with one weld
//! point it reaches (a pose of its own, moved to the world) and one far outside its envelope: the verdicts
//! come in program order, the far one with its `outside_mm` and a base-shift search, the program starts at
//! the home pose and holds exactly one weld, whose time lies on the trajectory, where the tool stands the
//! standoff behind the weld point along its approach axis.

use twinloom_biw::kinematics::RobotModel;
use twinloom_biw::math::{Iso3, Mat3, Vec3};
use twinloom_biw::reach::{ReachSettings, WeldPoint};
use twinloom_biw::study::StudyBackend;
use twinloom_biw::weld_program::{build_weld_program, ProgramSettings};

#[test]
fn a_reachable_and_an_unreachable_point_make_a_one_weld_program_with_a_base_shift() {
    let model = RobotModel::abb_irb2400();
    let base = Iso3::new(Mat3::rot_z(0.5), Vec3::new(3.0, -2.0, 0.4));
    let home = [0.0, 0.2, 0.1, 0.0, 0.6, 0.0];
    // A tool pose the robot takes at some joints, as a world pose.
    let reachable = base.mul(&model.forward(&[0.3, 0.4, 0.2, 0.1, 0.7, -0.2]));
    let far = Iso3::new(reachable.rot, reachable.trans + Vec3::new(5.0, 0.0, 0.0));
    let welds = [WeldPoint { id: "W1".into(), pose: reachable }, WeldPoint { id: "W2".into(), pose: far }];
    let settings = ProgramSettings::default();
    let p = build_weld_program(&model, &base, home, &welds, &ReachSettings::default(), &settings, &StudyBackend::Cpu)
        .expect("program");
    assert_eq!(p.reach.iter().map(|r| (r.id.as_str(), r.reachable)).collect::<Vec<_>>(), [("W1", true), ("W2", false)]);
    assert!(p.reach[1].outside_mm > 1000.0, "{}", p.reach[1].outside_mm);
    let shift = p.base_shift.expect("a base-shift search for the unreachable point");
    assert!(shift.shift.is_none(), "5 m is beyond the 0.5 m search box");
    assert!(p.skipped.is_empty(), "{:?}", p.skipped);
    assert_eq!(p.trajectory.samples[0].joints, home);
    assert_eq!(p.weld_times.len(), 1);
    let (id, t) = &p.weld_times[0];
    assert_eq!(id, "W1");
    assert!((t - (settings.transit_time + settings.approach_time)).abs() < 1e-9);
    let at = p.trajectory.samples.iter().find(|s| (s.time - t).abs() < 1e-9).expect("a sample at the weld");
    let tool = base.mul(&model.forward(&at.joints));
    let z = reachable.rot.cols[2];
    assert!((tool.trans - (reachable.trans - z * settings.standoff)).norm() < 1e-6);
}
