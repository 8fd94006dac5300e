//! Weld programs derived from the stage: for each robot, its assigned weld points in program order, each
//! checked for reach; every reachable one becomes a Cartesian segment approach → weld → retract (tool
//! along the approach axis, solved by IK on one continuous branch), joined by joint-space moves from the
//! robot's home pose. Unreachable points (and points whose approach path cannot be solved) are skipped
//! in the program and reported. The reach checks and the base-shift search run on the study's backend
//! (the CPU, or the GPU's reach kernels). The derivation itself is `twinloom-biw`'s USD-free
//! [`build_weld_program`] (the Python wheel uses it too); this module feeds it the stage's robots and welds.

use twinloom_biw::reach::{BaseShift, PointReach, ReachSettings, WeldPoint};
use twinloom_biw::study::{StudyBackend, StudyRobot};
use twinloom_biw::trajectory::Trajectory;
use twinloom_biw::weld_program::build_weld_program;
use twinloom_biw::BiwError;

pub use twinloom_biw::weld_program::ProgramSettings;

use crate::read::{StageRobot, StageWeld};

/// Reach of one robot's points and the program built from the reachable ones.
#[derive(Clone, Debug)]
pub struct RobotProgram {
    pub robot: String,
    /// Reach verdict per assigned weld point, in program order (ids are the weld prims' names).
    pub reach: Vec<PointReach>,
    /// Weld prim paths, parallel to `reach`.
    pub weld_prims: Vec<String>,
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

/// Checks reach for `welds` (already filtered to this robot) on `backend` and builds the program.
pub fn build_program(
    robot: &StageRobot,
    welds: &[&StageWeld],
    reach: &ReachSettings,
    settings: &ProgramSettings,
    backend: &StudyBackend,
) -> Result<RobotProgram, BiwError> {
    let points: Vec<WeldPoint> = welds.iter().map(|w| WeldPoint { id: w.id.clone(), pose: w.pose }).collect();
    let p = build_weld_program(&robot.model, &robot.base, robot.home, &points, reach, settings, backend)?;
    Ok(RobotProgram {
        robot: robot.name.clone(),
        reach: p.reach,
        weld_prims: welds.iter().map(|w| w.prim.clone()).collect(),
        base_shift: p.base_shift,
        reach_s: p.reach_s,
        skipped: p.skipped,
        weld_times: p.weld_times,
        trajectory: p.trajectory,
    })
}

/// The study robot: the stage robot with its program's trajectory.
pub fn study_robot(robot: &StageRobot, program: &RobotProgram) -> StudyRobot {
    StudyRobot {
        name: robot.name.clone(),
        model: robot.model.clone(),
        base: robot.base,
        links: robot.links.clone(),
        trajectory: program.trajectory.clone(),
    }
}
