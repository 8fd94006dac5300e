//! Kinematics of ortho-parallel-wrist (OPW) 6-axis arms: forward, inverse (all 8 branches), joint
//! limits, tool frame, link frames, and the published parameter sets of three robots.
//!
//! The geometry follows Brandstötter, Angerer and Hofbaur, "An analytical solution of the inverse
//! kinematics problem of industrial serial manipulators with an ortho-parallel basis and a spherical
//! wrist" (2014), with the parameter conventions (offsets, sign corrections) of the ROS-Industrial
//! `opw_kinematics` package.

use crate::error::BiwError;
use crate::math::{Iso3, Mat3, Vec3};
use std::f64::consts::PI;

/// Joint values in radians (user convention, as the controller shows them).
pub type Joints = [f64; 6];

/// The seven OPW lengths (metres) plus joint offsets and sign corrections.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OpwParams {
    pub a1: f64,
    pub a2: f64,
    pub b: f64,
    pub c1: f64,
    pub c2: f64,
    pub c3: f64,
    pub c4: f64,
    /// Added to the model angle to give the user angle (before the sign correction).
    pub offsets: [f64; 6],
    /// +1 or -1 per joint.
    pub signs: [f64; 6],
}

/// A robot model: OPW parameters, joint limits (radians) and a tool frame relative to the flange.
#[derive(Clone, Debug, PartialEq)]
pub struct RobotModel {
    pub name: String,
    pub params: OpwParams,
    pub limits: [(f64, f64); 6],
    pub tool: Iso3,
}

/// One robot of the catalogue: its command-line name, its maker and model designation (as a stage's
/// `twinloom:manufacturer` / `twinloom:model` say it) and its kinematic model.
#[derive(Debug, Clone, Copy)]
pub struct CatalogueEntry {
    pub name: &'static str,
    pub manufacturer: &'static str,
    pub model: &'static str,
    make: fn() -> RobotModel,
}

impl CatalogueEntry {
    /// The kinematic model (OPW parameters and joint limits).
    pub fn model(&self) -> RobotModel {
        (self.make)()
    }

    /// The entry whose model designation is `model` (e.g. `IRB 2400/10`).
    pub fn by_designation(model: &str) -> Option<&'static CatalogueEntry> {
        CATALOGUE.iter().find(|e| e.model == model)
    }

    /// The entry named `name` (e.g. `abb-irb2400`).
    pub fn by_name(name: &str) -> Option<&'static CatalogueEntry> {
        CATALOGUE.iter().find(|e| e.name == name)
    }
}

/// Every robot Twinloom knows: the one place names, designations and parameter sets meet (the CLI, the
/// sample plant's layout and the stage reader all use it).
pub const CATALOGUE: [CatalogueEntry; 3] = [
    CatalogueEntry { name: "abb-irb2400", manufacturer: "ABB", model: "IRB 2400/10", make: RobotModel::abb_irb2400 },
    CatalogueEntry {
        name: "kuka-kr6-r700",
        manufacturer: "KUKA",
        model: "KR 6 R700 sixx",
        make: RobotModel::kuka_kr6_r700,
    },
    CatalogueEntry {
        name: "fanuc-r2000ic-165f",
        manufacturer: "FANUC",
        model: "R-2000iC/165F",
        make: RobotModel::fanuc_r2000ic_165f,
    },
];

fn deg(lo: f64, hi: f64) -> (f64, f64) {
    (lo.to_radians(), hi.to_radians())
}

impl RobotModel {
    /// ABB IRB 2400/10 (opw_kinematics parameters). Joint limits: the ABB data sheet's axis ranges, checked
    /// against ROS-Industrial's `abb_irb2400_support` (IRB 2400-12/1.55): −180/180, −100/110, −60/65,
    /// −200/200, −120/120, −400/400 degrees.
    pub fn abb_irb2400() -> RobotModel {
        RobotModel {
            name: "abb-irb2400".into(),
            params: OpwParams {
                a1: 0.100,
                a2: -0.135,
                b: 0.0,
                c1: 0.615,
                c2: 0.705,
                c3: 0.755,
                c4: 0.085,
                offsets: [0.0, 0.0, -PI / 2.0, 0.0, 0.0, 0.0],
                signs: [1.0; 6],
            },
            limits: [
                deg(-180.0, 180.0),
                deg(-100.0, 110.0),
                deg(-60.0, 65.0),
                deg(-200.0, 200.0),
                deg(-120.0, 120.0),
                deg(-400.0, 400.0),
            ],
            tool: Iso3::IDENTITY,
        }
    }

    /// KUKA KR 6 R700 sixx (opw_kinematics parameters). Joint limits: the KUKA data sheet's axis ranges in
    /// KUKA's own joint convention, checked against ROS-Industrial's `kuka_kr6_support` (kr6r700sixx):
    /// A1 ±170, A2 −190/45, A3 −120/156, A4 ±185, A5 ±120, A6 ±350 degrees.
    pub fn kuka_kr6_r700() -> RobotModel {
        RobotModel {
            name: "kuka-kr6-r700".into(),
            params: OpwParams {
                a1: 0.025,
                a2: -0.035,
                b: 0.0,
                c1: 0.400,
                c2: 0.315,
                c3: 0.365,
                c4: 0.080,
                offsets: [0.0, -PI / 2.0, 0.0, 0.0, 0.0, 0.0],
                signs: [-1.0, 1.0, 1.0, -1.0, 1.0, -1.0],
            },
            limits: [
                deg(-170.0, 170.0),
                deg(-190.0, 45.0),
                deg(-120.0, 156.0),
                deg(-185.0, 185.0),
                deg(-120.0, 120.0),
                deg(-350.0, 350.0),
            ],
            tool: Iso3::IDENTITY,
        }
    }

    /// FANUC R-2000iC/165F (lengths from the ROS-Industrial fanuc_r2000ic_support model; limits from it too).
    pub fn fanuc_r2000ic_165f() -> RobotModel {
        RobotModel {
            name: "fanuc-r2000ic-165f".into(),
            params: OpwParams {
                a1: 0.312,
                a2: -0.225,
                b: 0.0,
                c1: 0.670,
                c2: 1.075,
                c3: 1.280,
                c4: 0.215,
                offsets: [0.0, 0.0, -PI / 2.0, 0.0, 0.0, 0.0],
                signs: [1.0, 1.0, -1.0, -1.0, -1.0, -1.0],
            },
            limits: [
                deg(-185.0, 185.0),
                deg(-60.0, 76.0),
                deg(-132.0, 180.0),
                deg(-360.0, 360.0),
                deg(-125.0, 125.0),
                deg(-360.0, 360.0),
            ],
            tool: Iso3::IDENTITY,
        }
    }

    /// A model by its command-line name ([`CATALOGUE`]).
    pub fn by_name(name: &str) -> Result<RobotModel, BiwError> {
        CATALOGUE
            .iter()
            .find(|e| e.name == name)
            .map(CatalogueEntry::model)
            .ok_or_else(|| BiwError::UnknownRobot(name.to_string()))
    }

    /// This model with a tool frame (relative to the flange).
    pub fn with_tool(mut self, tool: Iso3) -> RobotModel {
        self.tool = tool;
        self
    }

    fn to_model(&self, q: &Joints) -> Joints {
        let p = &self.params;
        std::array::from_fn(|i| q[i] * p.signs[i] - p.offsets[i])
    }

    /// Pose of the tool frame in the robot base frame.
    pub fn forward(&self, q: &Joints) -> Iso3 {
        self.flange(q).mul(&self.tool)
    }

    /// Pose of the flange in the robot base frame.
    pub fn flange(&self, q: &Joints) -> Iso3 {
        let frames = self.link_frames(q);
        frames[6]
    }

    /// Frames of links 1..=6 and the flange (index 6), in the base frame. Link `i` (1-based) moves with
    /// joint `i`; its frame origin is on the joint axis (see the crate README for the layout).
    pub fn link_frames(&self, q: &Joints) -> [Iso3; 7] {
        let p = &self.params;
        let t = self.to_model(q);
        let l1 = Iso3::rotation(Mat3::rot_z(t[0]));
        let l2 = l1.mul(&Iso3::new(Mat3::rot_y(t[1]), Vec3::new(p.a1, p.b, p.c1)));
        let l3 = l2.mul(&Iso3::new(Mat3::rot_y(t[2]), Vec3::new(0.0, 0.0, p.c2)));
        let l4 = l3.mul(&Iso3::new(Mat3::rot_z(t[3]), Vec3::new(p.a2, 0.0, 0.0)));
        let l5 = l4.mul(&Iso3::new(Mat3::rot_y(t[4]), Vec3::new(0.0, 0.0, p.c3)));
        let l6 = l5.mul(&Iso3::rotation(Mat3::rot_z(t[5])));
        let fl = l6.mul(&Iso3::translation(Vec3::new(0.0, 0.0, p.c4)));
        [l1, l2, l3, l4, l5, l6, fl]
    }

    /// All 8 inverse-kinematics branches for a tool pose (base frame), ignoring joint limits.
    /// Unreachable branches are filled with NaN. Angles are normalised to (-pi, pi].
    /// Branch index bits: 1 = elbow, 2 = shoulder (the second base angle), 4 = wrist flip.
    pub fn inverse(&self, tool_pose: &Iso3) -> [Joints; 8] {
        let flange = if self.tool == Iso3::IDENTITY { *tool_pose } else { tool_pose.mul(&self.tool.inverse()) };
        opw_inverse(&self.params, &flange)
    }

    /// [`RobotModel::inverse`] for the limit-aware solvers: branches whose joints 1-3 have no value within
    /// their limits are left NaN without computing their wrist (no limit-aware result changes).
    fn inverse_in_limits(&self, tool_pose: &Iso3) -> [Joints; 8] {
        let flange = if self.tool == Iso3::IDENTITY { *tool_pose } else { tool_pose.mul(&self.tool.inverse()) };
        opw_inverse_where(&self.params, &flange, |arm| (0..3).all(|j| turns_within(arm[j], self.limits[j]).len > 0))
    }

    /// Whether `q` is within the joint limits.
    pub fn within_limits(&self, q: &Joints) -> bool {
        q.iter().zip(&self.limits).all(|(&v, &(lo, hi))| v >= lo && v <= hi)
    }

    /// Solutions within joint limits: every branch, with each joint also tried at +-2pi, +-4pi where the
    /// limits allow (joints 4 and 6 often range over more than a turn).
    pub fn inverse_within_limits(&self, tool_pose: &Iso3) -> Vec<Joints> {
        let mut out = Vec::new();
        for sol in self.inverse_in_limits(tool_pose) {
            if let Some(options) = self.turn_options(&sol) {
                expand(&options, 0, &mut [0.0; 6], &mut out);
            }
        }
        out
    }

    /// The first of [`RobotModel::inverse_within_limits`]'s solutions, without listing the others.
    pub fn first_within_limits(&self, tool_pose: &Iso3) -> Option<Joints> {
        self.inverse_in_limits(tool_pose).iter().find_map(|sol| {
            let o = self.turn_options(sol)?;
            Some(std::array::from_fn(|j| o[j].values[0]))
        })
    }

    /// The solution within limits nearest to `q` in joints 1-3 (sum of absolute differences; the first of
    /// [`RobotModel::inverse_within_limits`]'s order on ties), without listing them all.
    pub fn nearest_within_limits(&self, tool_pose: &Iso3, q: &[f64; 3]) -> Option<Joints> {
        let mut best: Option<(f64, Joints)> = None;
        for sol in self.inverse_in_limits(tool_pose) {
            let Some(o) = self.turn_options(&sol) else {
                continue;
            };
            // Joints 4-6 do not change the distance: their first turns come first in the listing.
            for &a in o[0].values() {
                for &b in o[1].values() {
                    for &c in o[2].values() {
                        let d = (a - q[0]).abs() + (b - q[1]).abs() + (c - q[2]).abs();
                        if best.is_none_or(|(bd, _)| d < bd) {
                            best = Some((d, [a, b, c, o[3].values[0], o[4].values[0], o[5].values[0]]));
                        }
                    }
                }
            }
        }
        best.map(|(_, j)| j)
    }

    /// Whether any branch reaches `tool_pose` within joint limits (cheaper than listing them).
    pub fn reachable(&self, tool_pose: &Iso3) -> bool {
        self.inverse_in_limits(tool_pose).iter().any(|sol| self.turn_options(sol).is_some())
    }

    /// Each joint's values within its limits (the solution's angle plus whole turns), or `None` when the
    /// branch is unreachable or a joint has none.
    fn turn_options(&self, sol: &Joints) -> Option<[Turns; 6]> {
        if sol[0].is_nan() {
            return None;
        }
        let mut out = [Turns::default(); 6];
        for j in 0..6 {
            out[j] = turns_within(sol[j], self.limits[j]);
            if out[j].len == 0 {
                return None;
            }
        }
        Some(out)
    }
}

/// A joint's values within its limits: the angle plus -2..=2 turns, in that order (no allocation).
#[derive(Clone, Copy, Default)]
struct Turns {
    values: [f64; 5],
    len: usize,
}

impl Turns {
    fn values(&self) -> &[f64] {
        &self.values[..self.len]
    }
}

fn turns_within(v: f64, (lo, hi): (f64, f64)) -> Turns {
    let mut t = Turns::default();
    for k in -2..=2 {
        let x = v + 2.0 * PI * k as f64;
        if x >= lo && x <= hi {
            t.values[t.len] = x;
            t.len += 1;
        }
    }
    t
}

fn expand(options: &[Turns; 6], j: usize, cur: &mut Joints, out: &mut Vec<Joints>) {
    if j == 6 {
        out.push(*cur);
        return;
    }
    for &v in options[j].values() {
        cur[j] = v;
        expand(options, j + 1, cur, out);
    }
}

/// Normalises an angle to (-pi, pi].
#[inline]
pub fn wrap(a: f64) -> f64 {
    // Fast path for the few turns IK produces; `%` only for large inputs.
    let mut x = if a.abs() > 8.0 * PI { a % (2.0 * PI) } else { a };
    while x > PI {
        x -= 2.0 * PI;
    }
    while x <= -PI {
        x += 2.0 * PI;
    }
    x
}

/// The OPW closed-form inverse for a flange pose.
pub fn opw_inverse(p: &OpwParams, pose: &Iso3) -> [Joints; 8] {
    opw_inverse_where(p, pose, |_| true)
}

/// [`opw_inverse`], leaving NaN (without computing the wrist) the branches whose joints 1-3 (user
/// convention, normalised) fail `keep_arm`.
fn opw_inverse_where(p: &OpwParams, pose: &Iso3, keep_arm: impl Fn(&[f64; 3]) -> bool) -> [Joints; 8] {
    let r = &pose.rot;
    let z = r.cols[2];
    let c = pose.trans - z * p.c4;
    let (cx, cy, cz) = (c.x, c.y, c.z);
    let nx1 = (cx * cx + cy * cy - p.b * p.b).sqrt() - p.a1;
    let tmp1 = cy.atan2(cx);
    let tmp2 = p.b.atan2(nx1 + p.a1);
    let th1_i = tmp1 - tmp2;
    let th1_ii = tmp1 + tmp2 - PI;
    let tmp3 = cz - p.c1;
    let s1_2 = nx1 * nx1 + tmp3 * tmp3;
    let tmp4 = nx1 + 2.0 * p.a1;
    let s2_2 = tmp4 * tmp4 + tmp3 * tmp3;
    let kappa_2 = p.a2 * p.a2 + p.c3 * p.c3;
    let c2_2 = p.c2 * p.c2;
    let s1 = s1_2.sqrt();
    let s2 = s2_2.sqrt();
    let tmp13 = ((s1_2 + c2_2 - kappa_2) / (2.0 * s1 * p.c2)).acos();
    let tmp14 = nx1.atan2(tmp3);
    let th2_i = -tmp13 + tmp14;
    let th2_ii = tmp13 + tmp14;
    let tmp15 = ((s2_2 + c2_2 - kappa_2) / (2.0 * s2 * p.c2)).acos();
    let tmp16 = tmp4.atan2(tmp3);
    let th2_iii = -tmp15 - tmp16;
    let th2_iv = tmp15 - tmp16;
    let tmp9 = 2.0 * p.c2 * kappa_2.sqrt();
    let tmp10 = p.a2.atan2(p.c3);
    let tmp11 = ((s1_2 - c2_2 - kappa_2) / tmp9).acos();
    let tmp12 = ((s2_2 - c2_2 - kappa_2) / tmp9).acos();
    let arms = [
        (th1_i, th2_i, tmp11 - tmp10),
        (th1_i, th2_ii, -tmp11 - tmp10),
        (th1_ii, th2_iii, tmp12 - tmp10),
        (th1_ii, th2_iv, -tmp12 - tmp10),
    ];
    let (e00, e10, e20) = (r.cols[0].x, r.cols[0].y, r.cols[0].z);
    let (e01, e11, e21) = (r.cols[1].x, r.cols[1].y, r.cols[1].z);
    let (e02, e12, e22) = (z.x, z.y, z.z);
    let mut out = [[f64::NAN; 6]; 8];
    let sc1 = [th1_i.sin_cos(), th1_ii.sin_cos()];
    for (k, &(t1, t2, t3)) in arms.iter().enumerate() {
        // Joints 1-3 are the same in both wrist branches of an arm.
        let arm = [t1, t2, t3];
        if !keep_arm(&std::array::from_fn(|i| wrap((arm[i] + p.offsets[i]) * p.signs[i]))) {
            continue;
        }
        let (s1, c1) = sc1[k / 2];
        let (s23, c23) = (t2 + t3).sin_cos();
        let m = e02 * s23 * c1 + e12 * s23 * s1 + e22 * c23;
        let t5 = (1.0 - m * m).max(0.0).sqrt().atan2(m);
        let t4 = (e12 * c1 - e02 * s1).atan2(e02 * c23 * c1 + e12 * c23 * s1 - e22 * s23);
        let t6 = (e01 * s23 * c1 + e11 * s23 * s1 + e21 * c23).atan2(-e00 * s23 * c1 - e10 * s23 * s1 - e20 * c23);
        let a = [t1, t2, t3, t4, t5, t6];
        let b = [t1, t2, t3, t4 + PI, -t5, t6 - PI];
        for (slot, th) in [(k, a), (k + 4, b)] {
            if th.iter().any(|v| v.is_nan()) {
                continue;
            }
            out[slot] = std::array::from_fn(|i| wrap((th[i] + p.offsets[i]) * p.signs[i]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_finds_each_robot_by_name_and_designation() {
        for e in &CATALOGUE {
            assert_eq!(RobotModel::by_name(e.name).unwrap().name, e.name);
            assert_eq!(CatalogueEntry::by_designation(e.model).map(|f| f.name), Some(e.name));
        }
        assert!(RobotModel::by_name("abb-irb6700").is_err());
    }

    #[test]
    fn kuka_forward_matches_moveit_reference() {
        // Reference pose from opw_kinematics' test suite (copied from MoveIt's KDL forward kinematics).
        let kuka = RobotModel::kuka_kr6_r700();
        let pose = kuka.forward(&[0.2; 6]);
        let t = pose.trans;
        assert!(
            (t.x - 0.7341169).abs() < 1e-6 && (t.y + 0.1520347).abs() < 1e-6 && (t.z - 0.182639).abs() < 1e-6,
            "{t:?}"
        );
        let expect = [
            [-0.5965795, 0.000371195, 0.8025539],
            [-0.2724458, 0.9405218, -0.202958],
            [-0.7548948, -0.3397331, -0.5609949],
        ];
        for (r, row) in expect.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                assert!((pose.rot.at(r, c) - v).abs() < 1e-6, "R[{r}][{c}]");
            }
        }
    }

    #[test]
    fn wrap_normalises() {
        assert!((wrap(3.0 * PI) - PI).abs() < 1e-12);
        assert!((wrap(-PI) - PI).abs() < 1e-12);
        assert!((wrap(0.5) - 0.5).abs() < 1e-15);
    }
}
