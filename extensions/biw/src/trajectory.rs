//! Robot trajectories: joint waypoints interpolated at a fixed time step, and Cartesian weld paths solved
//! by inverse kinematics on one continuous branch.

// `!(x > 0.0)` is deliberate: it is also true for NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use crate::error::BiwError;
use crate::kinematics::{Joints, RobotModel};
use crate::math::{Iso3, Quat};
use std::f64::consts::PI;

/// A joint configuration at a time (seconds).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub time: f64,
    pub joints: Joints,
}

/// A time-ordered list of joint samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trajectory {
    pub samples: Vec<Sample>,
}

impl Trajectory {
    /// Joint waypoints `(time, joints)` with strictly increasing times, linearly interpolated every `step`
    /// seconds (the last waypoint is always included).
    pub fn from_joint_waypoints(waypoints: &[(f64, Joints)], step: f64) -> Result<Trajectory, BiwError> {
        if waypoints.is_empty() {
            return Err(BiwError::Trajectory("no waypoints".into()));
        }
        if !(step > 0.0) {
            return Err(BiwError::Trajectory(format!("time step must be positive, got {step}")));
        }
        for (i, w) in waypoints.windows(2).enumerate() {
            if !(w[1].0 > w[0].0) {
                return Err(BiwError::Trajectory(format!(
                    "waypoint {} time {} is not after waypoint {i} time {}",
                    i + 1,
                    w[1].0,
                    w[0].0
                )));
            }
        }
        let (t0, t1) = (waypoints[0].0, waypoints[waypoints.len() - 1].0);
        let n = ((t1 - t0) / step).floor() as usize;
        let mut samples = Vec::with_capacity(n + 2);
        let mut seg = 0;
        for k in 0..=n {
            let t = t0 + k as f64 * step;
            while seg + 1 < waypoints.len() - 1 && t > waypoints[seg + 1].0 {
                seg += 1;
            }
            samples.push(Sample { time: t, joints: interpolate(waypoints, seg, t) });
        }
        if samples.last().is_some_and(|s| s.time < t1 - 1e-12) {
            samples.push(Sample { time: t1, joints: waypoints[waypoints.len() - 1].1 });
        }
        Ok(Trajectory { samples })
    }

    /// Joints at time `t` (linear between samples, clamped at the ends).
    pub fn joints_at(&self, t: f64) -> Option<Joints> {
        let s = &self.samples;
        let first = s.first()?;
        if t <= first.time || s.len() == 1 {
            return Some(first.joints);
        }
        let i = s.partition_point(|x| x.time <= t);
        if i >= s.len() {
            return s.last().map(|x| x.joints);
        }
        let (a, b) = (&s[i - 1], &s[i]);
        let u = (t - a.time) / (b.time - a.time);
        Some(std::array::from_fn(|j| a.joints[j] + (b.joints[j] - a.joints[j]) * u))
    }

    /// A Cartesian path of tool poses `(time, pose)` in the robot base frame, interpolated every `step`
    /// seconds (position linear, orientation slerp), solved by IK on one branch kept continuous.
    ///
    /// The branch is `branch` if given, otherwise the within-limits solution nearest to `seed` (or to the
    /// zero configuration) at the first pose. Fails, naming the pose, when the branch cannot reach a pose
    /// within limits or a joint would jump by more than `max_joint_step` radians between samples.
    pub fn from_cartesian_path(
        model: &RobotModel,
        path: &[(f64, Iso3)],
        step: f64,
        branch: Option<usize>,
        seed: Option<Joints>,
        max_joint_step: f64,
    ) -> Result<CartesianTrajectory, BiwError> {
        if path.is_empty() {
            return Err(BiwError::Trajectory("empty Cartesian path".into()));
        }
        let poses = interpolate_poses(path, step)?;
        let seed = seed.unwrap_or([0.0; 6]);
        let first = model.inverse(&poses[0].1);
        let branch = match branch {
            Some(b) if b < 8 => b,
            Some(b) => return Err(BiwError::Trajectory(format!("branch {b} does not exist (0..8)"))),
            None => (0..8)
                .filter_map(|b| nearest_turn(model, &first[b], &seed).map(|q| (b, dist(&q, &seed))))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(b, _)| b)
                .ok_or_else(|| {
                    BiwError::Trajectory(format!("first pose (t={}) is unreachable within joint limits", poses[0].0))
                })?,
        };
        let mut samples = Vec::with_capacity(poses.len());
        let mut prev = seed;
        for (i, (t, pose)) in poses.iter().enumerate() {
            let sol = model.inverse(pose)[branch];
            let q = nearest_turn(model, &sol, &prev).ok_or_else(|| {
                BiwError::Trajectory(format!(
                    "pose at t={t:.3} s (sample {i}) is unreachable on branch {branch} within joint limits"
                ))
            })?;
            if i > 0 {
                let jump = (0..6).map(|j| (q[j] - prev[j]).abs()).fold(0.0, f64::max);
                if jump > max_joint_step {
                    return Err(BiwError::Trajectory(format!(
                        "joint jump of {:.1} deg at t={t:.3} s (sample {i}) on branch {branch}: the path crosses a singularity",
                        jump.to_degrees()
                    )));
                }
            }
            samples.push(Sample { time: *t, joints: q });
            prev = q;
        }
        Ok(CartesianTrajectory { trajectory: Trajectory { samples }, branch })
    }
}

/// A trajectory solved from a Cartesian path, with the IK branch it follows.
#[derive(Clone, Debug, PartialEq)]
pub struct CartesianTrajectory {
    pub trajectory: Trajectory,
    pub branch: usize,
}

fn dist(a: &Joints, b: &Joints) -> f64 {
    (0..6).map(|j| (a[j] - b[j]).powi(2)).sum::<f64>().sqrt()
}

/// The 2pi-turn of each joint of `sol` nearest to `prev` that lies within limits.
fn nearest_turn(model: &RobotModel, sol: &Joints, prev: &Joints) -> Option<Joints> {
    if sol[0].is_nan() {
        return None;
    }
    let mut q = [0.0; 6];
    for j in 0..6 {
        let (lo, hi) = model.limits[j];
        q[j] = (-3..=3)
            .map(|k| sol[j] + 2.0 * PI * k as f64)
            .filter(|v| *v >= lo && *v <= hi)
            .min_by(|a, b| (a - prev[j]).abs().total_cmp(&(b - prev[j]).abs()))?;
    }
    Some(q)
}

fn interpolate(w: &[(f64, Joints)], seg: usize, t: f64) -> Joints {
    if w.len() == 1 {
        return w[0].1;
    }
    let (a, b) = (&w[seg], &w[seg + 1]);
    let u = ((t - a.0) / (b.0 - a.0)).clamp(0.0, 1.0);
    std::array::from_fn(|j| a.1[j] + (b.1[j] - a.1[j]) * u)
}

fn interpolate_poses(path: &[(f64, Iso3)], step: f64) -> Result<Vec<(f64, Iso3)>, BiwError> {
    if !(step > 0.0) {
        return Err(BiwError::Trajectory(format!("time step must be positive, got {step}")));
    }
    let mut out = vec![path[0]];
    for (i, w) in path.windows(2).enumerate() {
        let (t0, t1) = (w[0].0, w[1].0);
        if !(t1 > t0) {
            return Err(BiwError::Trajectory(format!("path pose {} time {t1} is not after pose {i} time {t0}", i + 1)));
        }
        let (q0, mut q1) = (Quat::from_mat3(&w[0].1.rot), Quat::from_mat3(&w[1].1.rot));
        if q0.w * q1.w + q0.x * q1.x + q0.y * q1.y + q0.z * q1.z < 0.0 {
            q1 = Quat::new(-q1.w, -q1.x, -q1.y, -q1.z);
        }
        let n = ((t1 - t0) / step).ceil().max(1.0) as usize;
        for k in 1..=n {
            let u = k as f64 / n as f64;
            let p = w[0].1.trans + (w[1].1.trans - w[0].1.trans) * u;
            out.push((t0 + (t1 - t0) * u, Iso3::new(slerp(q0, q1, u).to_mat3(), p)));
        }
    }
    Ok(out)
}

fn slerp(a: Quat, b: Quat, u: f64) -> Quat {
    let d = (a.w * b.w + a.x * b.x + a.y * b.y + a.z * b.z).clamp(-1.0, 1.0);
    let th = d.acos();
    let (wa, wb) =
        if th < 1e-9 { (1.0 - u, u) } else { (((1.0 - u) * th).sin() / th.sin(), (u * th).sin() / th.sin()) };
    Quat::new(wa * a.w + wb * b.w, wa * a.x + wb * b.x, wa * a.y + wb * b.y, wa * a.z + wb * b.z)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::Vec3;

    #[test]
    fn joint_waypoints_interpolate_at_step() {
        let tr = Trajectory::from_joint_waypoints(&[(0.0, [0.0; 6]), (1.0, [1.0; 6]), (1.5, [0.0; 6])], 0.25).unwrap();
        let times: Vec<f64> = tr.samples.iter().map(|s| s.time).collect();
        assert_eq!(times, vec![0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]);
        assert!((tr.samples[1].joints[0] - 0.25).abs() < 1e-12);
        assert!((tr.samples[5].joints[3] - 0.5).abs() < 1e-12);
        assert!((tr.joints_at(1.125).unwrap()[2] - 0.75).abs() < 1e-12);
        assert!(Trajectory::from_joint_waypoints(&[(0.0, [0.0; 6]), (0.0, [1.0; 6])], 0.1).is_err());
    }

    #[test]
    fn weld_line_keeps_branch_and_reaches_every_pose() {
        let m = RobotModel::abb_irb2400();
        let start = m.forward(&[0.1, 0.3, 0.2, 0.0, 0.8, 0.0]);
        let end = Iso3::new(start.rot, start.trans + Vec3::new(0.0, 0.3, -0.05));
        let ct = Trajectory::from_cartesian_path(
            &m,
            &[(0.0, start), (2.0, end)],
            0.05,
            None,
            Some([0.1, 0.3, 0.2, 0.0, 0.8, 0.0]),
            0.2,
        )
        .unwrap();
        assert_eq!(ct.trajectory.samples.len(), 41);
        for (k, s) in ct.trajectory.samples.iter().enumerate() {
            let p = m.forward(&s.joints).trans;
            let want = start.trans + (end.trans - start.trans) * (k as f64 / 40.0);
            assert!((p - want).norm() < 1e-9, "sample {k}");
        }
        assert!((ct.trajectory.samples[0].joints[1] - 0.3).abs() < 1e-9);
    }
}
