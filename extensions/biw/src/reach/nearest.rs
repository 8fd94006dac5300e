//! The nearest reachable pose of an unreachable weld point: a coarse grid over joints 1-3 and the spin,
//! then a pattern search from the grid's 6 nearest poses. The pieces ([`NearestPlan`], [`SearchPoint`],
//! the grid order, [`climb`]) are shared with the kernel path (`kernels/reach.cu` does the same steps in
//! the same order), so every backend finds the same pose.

use rayon::prelude::*;
use std::f64::consts::PI;

use super::{Nearest, ReachSettings};
use crate::kinematics::{Joints, RobotModel};
use crate::math::{Iso3, Mat3, Vec3};

/// How many of the grid's nearest poses start a pattern search.
pub(crate) const STARTS: usize = 6;

/// The search's grid and steps for one model and settings (the same for every point).
#[derive(Clone, Debug)]
pub(crate) struct NearestPlan {
    /// Spin tolerance, clamped to [0, pi].
    pub tol: f64,
    /// Grid cells per joint 1-3.
    pub steps: [usize; 3],
    /// The grid values of joints 1-3 (cell centres over the joint limits).
    pub axes: [Vec<f64>; 3],
    /// The grid values of the spin.
    pub spin_vals: Vec<f64>,
    /// The pattern search's initial steps (joints 1-3, spin).
    pub h0: [f64; 4],
}

impl NearestPlan {
    pub fn new(model: &RobotModel, settings: &ReachSettings) -> NearestPlan {
        let tol = settings.spin_tolerance.clamp(0.0, PI);
        let steps = [36usize, 28, 28];
        let spin_n = if tol > 0.0 { ((2.0 * tol) / 10f64.to_radians()).ceil().max(2.0) as usize } else { 1 };
        let spin_vals: Vec<f64> = if spin_n == 1 {
            vec![0.0]
        } else {
            (0..=spin_n).map(|k| -tol + 2.0 * tol * k as f64 / spin_n as f64).collect()
        };
        let axes = std::array::from_fn(|j| (0..steps[j]).map(|i| lerp(model.limits[j], i, steps[j])).collect());
        let span = |j: usize| (model.limits[j].1 - model.limits[j].0) / steps[j] as f64;
        let h3 = if tol > 0.0 { 2.0 * tol / spin_n as f64 } else { 0.0 };
        NearestPlan { tol, steps, axes, spin_vals, h0: [span(0), span(1), span(2), h3] }
    }

    /// Grid cells (joints 1-3); each is tried with every spin value.
    pub fn cells(&self) -> usize {
        self.steps.iter().product()
    }

    /// Joints 1-3 of a grid cell (cells in the order joint 1, 2, 3, the last fastest).
    pub fn cell(&self, cell: usize) -> [f64; 3] {
        let [_, n1, n2] = self.steps;
        [self.axes[0][cell / (n1 * n2)], self.axes[1][(cell / n2) % n1], self.axes[2][cell % n2]]
    }
}

fn lerp((lo, hi): (f64, f64), i: usize, n: usize) -> f64 {
    lo + (hi - lo) * (i as f64 + 0.5) / n as f64
}

/// Search points for one target: the tool pose with joints 1-3 `q` and `spin` about the approach axis.
///
/// With the orientation fixed, the tool position is the wrist centre (a function of joints 1-3) plus a
/// constant offset, so a search point is (q1, q2, q3, spin); it counts when the full IK reaches that pose
/// within all six joint limits.
pub(crate) struct SearchPoint<'a> {
    model: &'a RobotModel,
    target: &'a Iso3,
    tol: f64,
    /// The tool's rotation transposed and its offset from the wrist centre in the flange frame.
    tool_rt: Mat3,
    tool_off: Vec3,
}

impl<'a> SearchPoint<'a> {
    pub fn new(model: &'a RobotModel, target: &'a Iso3, tol: f64) -> SearchPoint<'a> {
        SearchPoint {
            model,
            target,
            tol,
            tool_rt: model.tool.rot.transpose(),
            tool_off: model.tool.trans + Vec3::Z * model.params.c4,
        }
    }

    /// The tool pose at (q, spin), or `None` when a value is out of range.
    fn pose(&self, q: [f64; 3], spin: f64) -> Option<Iso3> {
        Some(self.pose_at(self.wrist(q)?, &self.rotation(spin)?))
    }

    /// The wrist centre of joints 1-3, or `None` when one is out of its limits.
    fn wrist(&self, q: [f64; 3]) -> Option<Vec3> {
        let m = self.model;
        if (0..3).any(|j| q[j] < m.limits[j].0 || q[j] > m.limits[j].1) {
            return None;
        }
        Some(m.link_frames(&[q[0], q[1], q[2], 0.0, 0.0, 0.0])[4].trans)
    }

    /// The tool and flange rotations at `spin`, or `None` when it is beyond the tolerance.
    fn rotation(&self, spin: f64) -> Option<(Mat3, Mat3)> {
        if spin.abs() > self.tol + 1e-12 {
            return None;
        }
        let rot = self.target.rot.mul_mat(&Mat3::rot_z(spin));
        Some((rot, rot.mul_mat(&self.tool_rt)))
    }

    fn pose_at(&self, wrist: Vec3, (rot, flange_rot): &(Mat3, Mat3)) -> Iso3 {
        Iso3::new(*rot, wrist + flange_rot.mul_vec(self.tool_off))
    }

    /// Distance to the target and position of a pose, when it is reachable.
    fn reached(&self, pose: &Iso3) -> Option<(f64, Vec3)> {
        self.model.reachable(pose).then(|| ((pose.trans - self.target.trans).norm(), pose.trans))
    }

    /// Distance to the target and position of a reachable search point.
    pub fn distance(&self, q: [f64; 3], spin: f64) -> Option<(f64, Vec3)> {
        self.reached(&self.pose(q, spin)?)
    }

    /// The solution at a search point nearest to `q` in joints 1-3.
    pub fn joints(&self, q: [f64; 3], spin: f64) -> Option<Joints> {
        self.model.nearest_within_limits(&self.pose(q, spin)?, &q)
    }
}

/// The grid's nearest reachable poses, at most [`STARTS`]: (distance, grid index = cell * spins + spin),
/// nearest first, ties in grid order.
pub(crate) fn grid_starts(plan: &NearestPlan, at: &SearchPoint<'_>) -> Vec<(f64, usize)> {
    let ns = plan.spin_vals.len();
    // `distance(q, s)` for every grid point, with each cell's wrist and each spin's rotations computed once.
    let rotations: Vec<Option<(Mat3, Mat3)>> = plan.spin_vals.iter().map(|&s| at.rotation(s)).collect();
    let found: Vec<Vec<(f64, usize)>> = (0..plan.cells())
        .into_par_iter()
        .with_min_len(16)
        .fold(Vec::new, |mut top, cell| {
            let Some(wrist) = at.wrist(plan.cell(cell)) else {
                return top;
            };
            for (k, rot) in rotations.iter().enumerate() {
                let Some(rot) = rot else { continue };
                if let Some((d, _)) = at.reached(&at.pose_at(wrist, rot)) {
                    keep_nearest(&mut top, (d, cell * ns + k));
                }
            }
            top
        })
        .collect();
    merge_nearest(found.into_iter().flatten())
}

/// Keeps `top` the [`STARTS`] smallest by (distance, index); `entry` has the largest index so far.
fn keep_nearest(top: &mut Vec<(f64, usize)>, entry: (f64, usize)) {
    if top.len() == STARTS && entry.0 >= top[STARTS - 1].0 {
        return;
    }
    let at = top.partition_point(|e| e.0 <= entry.0);
    top.insert(at, entry);
    top.truncate(STARTS);
}

/// The [`STARTS`] smallest by (distance, index) of several runs' nearest lists.
pub(crate) fn merge_nearest(all: impl IntoIterator<Item = (f64, usize)>) -> Vec<(f64, usize)> {
    let mut v: Vec<(f64, usize)> = all.into_iter().collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    v.truncate(STARTS);
    v
}

/// The grid pose of a grid index.
pub(crate) fn start_of(plan: &NearestPlan, index: usize) -> ([f64; 3], f64) {
    let ns = plan.spin_vals.len();
    (plan.cell(index / ns), plan.spin_vals[index % ns])
}

/// Where a pattern search ended: distance, position, joints 1-3 and spin.
pub(crate) type ClimbEnd = (f64, Vec3, [f64; 3], f64);

/// The pattern search from (q, s): steps along each axis in turn (minus, then plus), keeping any
/// improvement; the steps halve when none improves, down to 1e-7 rad on joint 1.
pub(crate) fn climb(plan: &NearestPlan, at: &SearchPoint<'_>, q0: [f64; 3], s0: f64) -> Option<ClimbEnd> {
    let (mut q, mut s) = (q0, s0);
    let (mut d, mut pos) = at.distance(q, s)?;
    let mut h = plan.h0;
    while h[0] > 1e-7 {
        let mut improved = false;
        for axis in 0..4 {
            if h[axis] == 0.0 {
                continue;
            }
            for sign in [-1.0, 1.0] {
                let mut q2 = q;
                let mut s2 = s;
                if axis < 3 {
                    q2[axis] += sign * h[axis];
                } else {
                    s2 += sign * h[3];
                }
                if let Some((d2, p2)) = at.distance(q2, s2) {
                    if d2 < d {
                        (q, s, d, pos) = (q2, s2, d2, p2);
                        improved = true;
                    }
                }
            }
        }
        if !improved {
            for v in &mut h {
                *v *= 0.5;
            }
        }
    }
    Some((d, pos, q, s))
}

/// The first strictly nearest of the searches' ends (in start order).
pub(crate) fn best_end(ends: impl IntoIterator<Item = Option<ClimbEnd>>) -> Option<ClimbEnd> {
    ends.into_iter().flatten().fold(None, |best: Option<ClimbEnd>, e| match best {
        Some(b) if e.0 >= b.0 => Some(b),
        _ => Some(e),
    })
}

/// Nearest reachable tool position with the point's approach direction (and an allowed spin).
///
/// The search runs over joints 1-3 and the spin: a grid over the joint limits, then a pattern search
/// from the best candidates. Each candidate is verified by the full IK within all six joint limits, so
/// the result is always a truly reachable pose (an upper bound of the exact distance, accurate to well
/// under a millimetre in practice).
pub fn nearest_reachable(model: &RobotModel, target: &Iso3, settings: &ReachSettings) -> Option<Nearest> {
    let plan = NearestPlan::new(model, settings);
    let at = SearchPoint::new(model, target, plan.tol);
    let starts = grid_starts(&plan, &at);
    // The searches are independent: run them at once, then take the first strictly nearest end.
    let ends: Vec<Option<ClimbEnd>> = starts
        .par_iter()
        .map(|&(_, index)| {
            let (q, s) = start_of(&plan, index);
            climb(&plan, &at, q, s)
        })
        .collect();
    let (distance, position, q, spin) = best_end(ends)?;
    Some(Nearest { distance, position, spin, joints: at.joints(q, spin)? })
}
