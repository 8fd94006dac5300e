//! Weld programs from plain data: for one robot (OPW model, world base pose, home joints), its weld points
//! (world tool poses, z = approach) in program order, each checked for reach; every reachable one becomes a
//! Cartesian segment approach → weld → retract (tool along the approach axis, solved by IK on one
//! continuous branch), joined by joint-space moves from the home pose. Unreachable points (and points whose
//! approach path cannot be solved) are skipped in the program and reported, with a base-shift suggestion
//! when a point is unreachable. The reach checks and the base-shift search run on the study's backend.
//!
//! `twinloom-biw-stage` derives its programs from a stage with this, and the Python wheel from the plain
//! data its stage reader gives.

use crate::kinematics::{Joints, RobotModel};
use crate::math::{Iso3, Mat3, Vec3};
use crate::reach::{check_points_with, suggest_base_shift_with, BaseShift, PointReach, ReachSettings, WeldPoint};
use crate::study::StudyBackend;
use crate::trajectory::{Sample, Trajectory};
use crate::BiwError;

/// How weld programs are made.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProgramSettings {
    /// Where the tool starts and ends each weld, back along the approach axis (m).
    pub approach: f64,
    /// How far from the weld point the tool centre point stops, back along the approach axis (m): the
    /// gun's closing stroke onto the sheet is not simulated (contact at the weld is intended).
    pub standoff: f64,
    /// Sample step of the trajectories (s).
    pub step: f64,
    /// Duration of the approach and of the retract (s).
    pub approach_time: f64,
    /// Duration of the joint move between welds (s).
    pub transit_time: f64,
    /// Half size of the base-shift search box per axis (m).
    pub search_half: f64,
}

impl Default for ProgramSettings {
    fn default() -> Self {
        ProgramSettings {
            approach: 0.25,
            standoff: 0.10,
            step: 0.1,
            approach_time: 0.6,
            transit_time: 1.0,
            search_half: 0.5,
        }
    }
}

/// Reach of one robot's points and the program built from the reachable ones.
#[derive(Clone, Debug)]
pub struct WeldProgram {
    /// Reach verdict per weld point, in program order (the points' ids).
    pub reach: Vec<PointReach>,
    /// Base shift suggestion when a point is unreachable.
    pub base_shift: Option<BaseShift>,
    /// Wall time of the reach checks and the base-shift search (s).
    pub reach_s: f64,
    /// Reachable points whose approach/retract path could not be solved, with the reason.
    pub skipped: Vec<(String, String)>,
    /// (weld id, time at the weld pose) for every weld in the program.
    pub weld_times: Vec<(String, f64)>,
    pub trajectory: Trajectory,
}

/// The tool pose `back` metres behind `pose` along its approach (z) axis.
fn backed_off(pose: &Iso3, back: f64) -> Iso3 {
    Iso3::new(pose.rot, pose.trans - pose.rot.cols[2] * back)
}

fn spun(pose: &Iso3, spin: f64) -> Iso3 {
    Iso3::new(pose.rot.mul_mat(&Mat3::rot_z(spin)), pose.trans)
}

/// Checks reach of `welds` (world tool poses, in program order) for the robot `model` whose base frame is
/// at `base` in the world, on `backend`, and builds its program from `home`.
pub fn build_weld_program(
    model: &RobotModel,
    base: &Iso3,
    home: Joints,
    welds: &[WeldPoint],
    reach: &ReachSettings,
    settings: &ProgramSettings,
    backend: &StudyBackend,
) -> Result<WeldProgram, BiwError> {
    let inv = base.inverse();
    let points: Vec<WeldPoint> = welds.iter().map(|w| WeldPoint { id: w.id.clone(), pose: inv.mul(&w.pose) }).collect();
    let reach_started = std::time::Instant::now();
    let verdicts: Vec<PointReach> = check_points_with(model, &points, reach, backend)?;
    let base_shift = if verdicts.iter().any(|r| !r.reachable) {
        let h = settings.search_half;
        Some(suggest_base_shift_with(model, &points, reach, Vec3::new(h, h, h), 0.001, backend)?)
    } else {
        None
    };
    let reach_s = reach_started.elapsed().as_secs_f64();
    let (trajectory, skipped, weld_times) = program_from_verdicts(model, home, &points, &verdicts, settings);
    Ok(WeldProgram { reach: verdicts, base_shift, reach_s, skipped, weld_times, trajectory })
}

/// A program's trajectory, its skipped points (id, reason) and its weld times (id, time at the weld pose).
pub type ProgramParts = (Trajectory, Vec<(String, String)>, Vec<(String, f64)>);

/// The program's trajectory from reach verdicts already made: `points` in the robot's base frame (in
/// program order) and their `verdicts`, parallel. Returns the trajectory, the reachable points whose
/// approach path could not be solved (with the reason) and (weld id, time at the weld pose) per weld.
/// [`build_weld_program`] builds its programs with this; a re-taught point (a new approach direction) is
/// re-checked alone and the program rebuilt with it, the other verdicts unchanged.
pub fn program_from_verdicts(
    model: &RobotModel,
    home: Joints,
    points: &[WeldPoint],
    verdicts: &[PointReach],
    settings: &ProgramSettings,
) -> ProgramParts {
    let mut samples: Vec<Sample> = vec![Sample { time: 0.0, joints: home }];
    let mut skipped = Vec::new();
    let mut weld_times = Vec::new();
    for (p, v) in points.iter().zip(verdicts) {
        if !v.reachable {
            continue;
        }
        let pose = spun(&p.pose, v.spin);
        let prev = samples.last().map(|s| s.joints).unwrap_or(home);
        let t_a = settings.approach_time;
        let path = [
            (0.0, backed_off(&pose, settings.approach)),
            (t_a, backed_off(&pose, settings.standoff)),
            (2.0 * t_a, backed_off(&pose, settings.approach)),
        ];
        let seed: Joints = v.joints.unwrap_or(prev);
        let seg = match Trajectory::from_cartesian_path(model, &path, settings.step, None, Some(seed), 0.5) {
            Ok(seg) => seg.trajectory,
            Err(e) => {
                skipped.push((p.id.clone(), e.to_string()));
                continue;
            }
        };
        let Some(first) = seg.samples.first() else { continue };
        let t0 = samples.last().map(|s| s.time).unwrap_or(0.0);
        // Joint move from where the robot is to the segment's start.
        let transit =
            Trajectory::from_joint_waypoints(&[(0.0, prev), (settings.transit_time, first.joints)], settings.step);
        let Ok(transit) = transit else { continue };
        samples.extend(transit.samples.iter().skip(1).map(|s| Sample { time: t0 + s.time, joints: s.joints }));
        let t1 = t0 + settings.transit_time;
        samples.extend(seg.samples.iter().skip(1).map(|s| Sample { time: t1 + s.time, joints: s.joints }));
        weld_times.push((p.id.clone(), t1 + t_a));
    }
    (Trajectory { samples }, skipped, weld_times)
}
