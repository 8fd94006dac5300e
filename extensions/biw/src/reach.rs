//! Reach studies: whether each weld point (position plus approach direction, with a tolerance on the
//! rotation about the approach axis) is reachable within joint limits; if not, the computed distance to
//! the nearest reachable pose ([`nearest`]); and the smallest base shift that makes all of a robot's points
//! reachable. [`check_points`] and [`suggest_base_shift`] run on the CPU; [`check_points_with`] and
//! [`suggest_base_shift_with`] run the heavy parts on another backend ([`backend`]: the CUDA GPU, or the
//! GPU's kernels compiled for the host) with the same results.

use crate::kinematics::{Joints, RobotModel};
use crate::math::{Iso3, Mat3, Vec3};
use rayon::prelude::*;
use std::f64::consts::PI;

pub mod backend;
pub mod kernel;
#[cfg(feature = "cuda")]
mod kernel_cuda;
pub mod nearest;
pub use backend::{check_points_with, suggest_base_shift_with};
#[cfg(feature = "cuda")]
pub use kernel_cuda::CudaReach;
pub use nearest::nearest_reachable;

/// A weld point in the robot base frame. The approach axis is the z axis of `pose` (the tool z axis).
#[derive(Clone, Debug, PartialEq)]
pub struct WeldPoint {
    pub id: String,
    pub pose: Iso3,
}

/// How the rotation about the approach axis may vary, and the search resolutions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReachSettings {
    /// Allowed rotation about the approach axis, +- this many radians (pi or more: free).
    pub spin_tolerance: f64,
    /// Sampling step of that rotation (radians).
    pub spin_step: f64,
}

impl Default for ReachSettings {
    fn default() -> Self {
        ReachSettings { spin_tolerance: 10f64.to_radians(), spin_step: 1f64.to_radians() }
    }
}

impl ReachSettings {
    /// The sampled spin angles, nearest to zero first.
    pub fn spins(&self) -> Vec<f64> {
        let tol = self.spin_tolerance.clamp(0.0, PI);
        let n = (tol / self.spin_step.max(1e-6)).ceil() as usize;
        let mut out = vec![0.0];
        for k in 1..=n {
            let a = (k as f64 * tol / n as f64).min(tol);
            out.push(a);
            if a < PI {
                out.push(-a);
            }
        }
        out
    }
}

/// The verdict for one weld point.
#[derive(Clone, Debug, PartialEq)]
pub struct PointReach {
    pub id: String,
    pub reachable: bool,
    /// 0 when reachable, otherwise the distance (mm) from the point to the nearest reachable position with
    /// an allowed orientation.
    pub outside_mm: f64,
    /// A configuration reaching the point (or the nearest reachable pose when unreachable).
    pub joints: Option<Joints>,
    /// The spin about the approach axis used (radians).
    pub spin: f64,
    /// The nearest reachable tool position (base frame, metres), the point itself when reachable.
    pub nearest_position: Vec3,
}

fn spun(pose: &Iso3, spin: f64) -> Iso3 {
    if spin == 0.0 {
        *pose
    } else {
        Iso3::new(pose.rot.mul_mat(&Mat3::rot_z(spin)), pose.trans)
    }
}

/// A within-limits configuration reaching `pose` with one of the allowed spins, if any.
pub fn solve_with_spin(model: &RobotModel, pose: &Iso3, spins: &[f64]) -> Option<(Joints, f64)> {
    spins.iter().find_map(|&s| model.first_within_limits(&spun(pose, s)).map(|q| (q, s)))
}

/// Whether `pose` is reachable with one of the allowed spins.
pub fn reachable_with_spin(model: &RobotModel, pose: &Iso3, spins: &[f64]) -> bool {
    spins.iter().any(|&s| model.reachable(&spun(pose, s)))
}

/// Checks one weld point; computes the out-of-reach distance when it is not reachable.
pub fn check_point(model: &RobotModel, point: &WeldPoint, settings: &ReachSettings) -> PointReach {
    let spins = settings.spins();
    verdict(point, solve_with_spin(model, &point.pose, &spins), || nearest_reachable(model, &point.pose, settings))
}

/// The verdict for a point from its solution at an allowed spin, if any, and otherwise its nearest
/// reachable pose (`nearest` is called only then).
pub(crate) fn verdict(
    point: &WeldPoint,
    solved: Option<(Joints, f64)>,
    nearest: impl FnOnce() -> Option<Nearest>,
) -> PointReach {
    if let Some((q, s)) = solved {
        return PointReach {
            id: point.id.clone(),
            reachable: true,
            outside_mm: 0.0,
            joints: Some(q),
            spin: s,
            nearest_position: point.pose.trans,
        };
    }
    match nearest() {
        Some(n) => PointReach {
            id: point.id.clone(),
            reachable: false,
            outside_mm: n.distance * 1000.0,
            joints: Some(n.joints),
            spin: n.spin,
            nearest_position: n.position,
        },
        None => PointReach {
            id: point.id.clone(),
            reachable: false,
            outside_mm: f64::INFINITY,
            joints: None,
            spin: 0.0,
            nearest_position: point.pose.trans,
        },
    }
}

/// Checks many weld points in parallel.
pub fn check_points(model: &RobotModel, points: &[WeldPoint], settings: &ReachSettings) -> Vec<PointReach> {
    points.par_iter().map(|p| check_point(model, p, settings)).collect()
}

/// The nearest reachable pose found for an unreachable point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Nearest {
    pub distance: f64,
    pub position: Vec3,
    pub spin: f64,
    pub joints: Joints,
}

/// The outcome of the base-shift search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BaseShift {
    /// The smallest shift found (base frame, metres), or `None` when no shift on the search grid works.
    pub shift: Option<Vec3>,
    /// Half size of the search box (metres, per axis).
    pub search_half: Vec3,
    /// Final grid resolution (metres).
    pub resolution: f64,
}

/// The smallest base translation `s` (found on a grid refined down to `resolution`) such that every point,
/// seen from the shifted base (`p - s`), is reachable; searched within `[-search_half, search_half]`.
pub fn suggest_base_shift(
    model: &RobotModel,
    points: &[WeldPoint],
    settings: &ReachSettings,
    search_half: Vec3,
    resolution: f64,
) -> BaseShift {
    let spins = settings.spins();
    let all_ok =
        |s: Vec3| points.iter().all(|p| reachable_with_spin(model, &Iso3::new(p.pose.rot, p.pose.trans - s), &spins));
    let found = base_shift_search(search_half, resolution, |cands| {
        Ok::<_, std::convert::Infallible>(first_feasible(cands, &all_ok))
    });
    match found {
        Ok(shift) => shift,
        Err(never) => match never {},
    }
}

/// The base-shift search over candidate lists: `first_ok` gives the first candidate of a list (in order)
/// from which every point is reachable.
pub(crate) fn base_shift_search<E>(
    search_half: Vec3,
    resolution: f64,
    mut first_ok: impl FnMut(&[Vec3]) -> Result<Option<Vec3>, E>,
) -> Result<BaseShift, E> {
    let inside = |s: Vec3| {
        s.x.abs() <= search_half.x + 1e-12 && s.y.abs() <= search_half.y + 1e-12 && s.z.abs() <= search_half.z + 1e-12
    };
    let none = BaseShift { shift: None, search_half, resolution };
    if first_ok(&[Vec3::ZERO])?.is_some() {
        return Ok(BaseShift { shift: Some(Vec3::ZERO), search_half, resolution });
    }
    // Coarse grid: about 20 cells along the largest axis.
    let mut h = (search_half.x.max(search_half.y).max(search_half.z) / 10.0).max(resolution);
    let n = |half: f64| (half / h).floor() as i64;
    let (nx, ny, nz) = (n(search_half.x), n(search_half.y), n(search_half.z));
    let mut cands: Vec<Vec3> = Vec::new();
    for i in -nx..=nx {
        for j in -ny..=ny {
            for k in -nz..=nz {
                cands.push(Vec3::new(i as f64 * h, j as f64 * h, k as f64 * h));
            }
        }
    }
    cands.sort_by(|a, b| a.norm2().total_cmp(&b.norm2()));
    let Some(mut best) = first_ok(&cands)? else {
        return Ok(none);
    };
    // Refine around the best: finer grids in the neighbourhood, keeping the smallest feasible norm.
    while h > resolution {
        let fine = (h / 4.0).max(resolution);
        let m = (h / fine).ceil() as i64 + 1;
        let mut local: Vec<Vec3> = Vec::new();
        for i in -m..=m {
            for j in -m..=m {
                for k in -m..=m {
                    let s = best + Vec3::new(i as f64 * fine, j as f64 * fine, k as f64 * fine);
                    if inside(s) && s.norm2() < best.norm2() {
                        local.push(s);
                    }
                }
            }
        }
        local.sort_by(|a, b| a.norm2().total_cmp(&b.norm2()));
        if let Some(s) = first_ok(&local)? {
            best = s;
        }
        h = fine;
    }
    Ok(BaseShift { shift: Some(best), search_half, resolution })
}

/// The first candidate (in order) that passes, testing in parallel chunks.
fn first_feasible(cands: &[Vec3], ok: &(impl Fn(Vec3) -> bool + Sync)) -> Option<Vec3> {
    for chunk in cands.chunks(256) {
        let hits: Vec<bool> = chunk.par_iter().map(|&s| ok(s)).collect();
        if let Some(i) = hits.iter().position(|&b| b) {
            return Some(chunk[i]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spins_cover_the_tolerance() {
        let s = ReachSettings { spin_tolerance: 0.1, spin_step: 0.04 }.spins();
        assert_eq!(s.len(), 7);
        assert_eq!(s[0], 0.0);
        assert!(s.iter().any(|&a| (a - 0.1).abs() < 1e-15) && s.iter().any(|&a| (a + 0.1).abs() < 1e-15));
    }
}

/// Reads weld points from CSV with the header `id,x,y,z,qw,qx,qy,qz` (metres and a unit quaternion in the
/// robot base frame). Errors name the file, line and field.
pub fn parse_points_csv(text: &str, path: &std::path::Path) -> Result<Vec<WeldPoint>, crate::error::BiwError> {
    use crate::error::BiwError;
    use crate::math::Quat;
    let err = |line: usize, message: String| BiwError::Parse { path: path.to_path_buf(), line, message };
    const HEADER: [&str; 8] = ["id", "x", "y", "z", "qw", "qx", "qy", "qz"];
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) =
        lines.next().ok_or_else(|| err(1, "empty file: expected the header id,x,y,z,qw,qx,qy,qz".into()))?;
    let cols: Vec<&str> = header.split(',').map(|c| c.trim()).collect();
    if cols != HEADER {
        return Err(err(1, format!("header must be id,x,y,z,qw,qx,qy,qz, got '{}'", header.trim())));
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        let lineno = i + 1;
        let fields: Vec<&str> = line.split(',').map(|c| c.trim()).collect();
        if fields.len() != 8 {
            return Err(err(lineno, format!("expected 8 fields, got {}", fields.len())));
        }
        if fields[0].is_empty() {
            return Err(err(lineno, "field 'id' is empty".into()));
        }
        let mut v = [0.0; 7];
        for k in 0..7 {
            v[k] = fields[k + 1].parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| {
                err(lineno, format!("field '{}': '{}' is not a finite number", HEADER[k + 1], fields[k + 1]))
            })?;
        }
        let q = Quat::new(v[3], v[4], v[5], v[6]);
        if (q.norm() - 1.0).abs() > 1e-3 {
            return Err(err(
                lineno,
                format!("quaternion (qw,qx,qy,qz) has norm {:.6}, expected a unit quaternion", q.norm()),
            ));
        }
        out.push(WeldPoint { id: fields[0].to_string(), pose: Iso3::new(q.to_mat3(), Vec3::new(v[0], v[1], v[2])) });
    }
    Ok(out)
}

#[cfg(test)]
mod csv_tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn parses_points_and_names_bad_fields() {
        let ok = "id,x,y,z,qw,qx,qy,qz\nWP-1,0.5,0,0.4,0,1,0,0\n\nWP-2, 0.6 ,0.1,0.4,1,0,0,0\n";
        let pts = parse_points_csv(ok, Path::new("p.csv")).unwrap();
        assert_eq!(pts.len(), 2);
        assert_eq!(pts[0].id, "WP-1");
        // qx = 1: rotation of pi about x, so the approach axis points down.
        assert!((pts[0].pose.rot.cols[2] - Vec3::new(0.0, 0.0, -1.0)).norm() < 1e-12);
        let bad = "id,x,y,z,qw,qx,qy,qz\nWP-1,0.5,zero,0.4,0,1,0,0\n";
        assert_eq!(
            parse_points_csv(bad, Path::new("p.csv")).unwrap_err().to_string(),
            "p.csv:2: field 'y': 'zero' is not a finite number"
        );
        let not_unit = "id,x,y,z,qw,qx,qy,qz\nWP-1,0.5,0,0.4,2,0,0,0\n";
        assert!(parse_points_csv(not_unit, Path::new("p.csv")).unwrap_err().to_string().contains("unit quaternion"));
        assert!(parse_points_csv("a,b\n", Path::new("p.csv")).unwrap_err().to_string().starts_with("p.csv:1: header"));
    }
}
