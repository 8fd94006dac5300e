//! Six-axis robots with an ortho-parallel basis and spherical wrist (OPW): robot types built from
//! `twinloom-biw`'s kinematic models (the one home of the published parameter sets),
//! the joint chain as USD transform ops, and link meshes sized from the OPW lengths.
//!
//! Frames follow Brandstötter, Angerer and Hofbaur (2014) as the ROS-Industrial `opw_kinematics` package
//! uses them (and `twinloom-biw`'s `RobotModel::link_frames`): in the OPW zero pose the arm stands
//! straight up; J1 turns about Z at the base, J2 about Y at (a1, b, c1), J3 about Y a further c2 up,
//! J4 about the forearm axis (Z) offset a2 along X, J5 about Y a further c3 up, J6 about Z, and the
//! flange is c4 beyond the wrist centre. The controller's joint value `q` (degrees) becomes the model
//! angle `q × sign − offset`, which is exactly a binding's `scale` and `offset`.

use std::sync::LazyLock;

use twinloom_biw::kinematics::CatalogueEntry;

use crate::mesh::{cuboid, cylinder_x, cylinder_y, cylinder_z, TriMesh};

/// A robot type: OPW lengths (m, double as in the schema), joint offsets (deg), sign corrections and joint limits (deg).
#[derive(Debug, Clone, PartialEq)]
pub struct RobotType {
    pub manufacturer: &'static str,
    pub model: &'static str,
    pub a1: f64,
    pub a2: f64,
    pub b: f64,
    pub c1: f64,
    pub c2: f64,
    pub c3: f64,
    pub c4: f64,
    /// Subtracted from the sign-corrected controller angle to give the model angle (deg).
    pub offsets_deg: [f32; 6],
    /// +1 or −1 per joint.
    pub signs: [f32; 6],
    pub lower_limits_deg: [f32; 6],
    pub upper_limits_deg: [f32; 6],
}

impl RobotType {
    /// A robot type from `twinloom-biw`'s robot catalogue (the one place names, designations and the
    /// published parameter sets live).
    pub fn from_catalogue(name: &str) -> RobotType {
        let e =
            CatalogueEntry::by_name(name).unwrap_or_else(|| panic!("{name} is not in twinloom-biw's robot catalogue"));
        let (manufacturer, model, m) = (e.manufacturer, e.model, e.model());
        let p = &m.params;
        let deg = |x: f64| x.to_degrees() as f32;
        RobotType {
            manufacturer,
            model,
            a1: p.a1,
            a2: p.a2,
            b: p.b,
            c1: p.c1,
            c2: p.c2,
            c3: p.c3,
            c4: p.c4,
            offsets_deg: p.offsets.map(deg),
            signs: p.signs.map(|s| s as f32),
            lower_limits_deg: m.limits.map(|(lo, _)| deg(lo)),
            upper_limits_deg: m.limits.map(|(_, hi)| deg(hi)),
        }
    }
}

/// FANUC R-2000iC/165F, a spot-welding robot (`RobotModel::fanuc_r2000ic_165f`).
pub static FANUC_R2000IC_165F: LazyLock<RobotType> = LazyLock::new(|| RobotType::from_catalogue("fanuc-r2000ic-165f"));

/// ABB IRB 2400/10 (`RobotModel::abb_irb2400`).
pub static ABB_IRB2400: LazyLock<RobotType> = LazyLock::new(|| RobotType::from_catalogue("abb-irb2400"));

/// KUKA KR 6 R700 sixx (`RobotModel::kuka_kr6_r700`).
pub static KUKA_KR6_R700: LazyLock<RobotType> = LazyLock::new(|| RobotType::from_catalogue("kuka-kr6-r700"));

/// Rotation axis of a joint's op in its link frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    Y,
    Z,
}

impl Axis {
    /// The USD op attribute rotating about this axis (`xformOp:rotateY`, …), a `float` in degrees.
    pub fn rotate_op(self) -> &'static str {
        match self {
            Axis::Y => "xformOp:rotateY",
            Axis::Z => "xformOp:rotateZ",
        }
    }
}

/// One link of the chain: its prim name, the joint moving it (translation from the parent link's
/// frame, then rotation about `axis`) and its mesh in its own frame.
#[derive(Debug, Clone)]
pub struct Link {
    pub name: &'static str,
    pub translate: [f32; 3],
    pub axis: Axis,
    pub mesh: TriMesh,
}

/// Names of the six link prims, J1..J6.
pub const LINK_NAMES: [&str; 6] = ["Link1", "Link2", "Link3", "Link4", "Link5", "Link6"];

impl RobotType {
    /// Horizontal distance from J1 to the flange with the arm stretched out level (m).
    pub fn reach(&self) -> f32 {
        (self.a1 + self.c2 + (self.c3 + self.c4).hypot(self.a2)) as f32
    }

    /// A characteristic arm thickness for the meshes (m).
    fn thickness(&self) -> f32 {
        0.06 + 0.11 * self.c2 as f32
    }

    /// The model angle (degrees, what the USD rotate op holds) for controller angle `q_deg` of joint `j`.
    pub fn model_angle(&self, j: usize, q_deg: f32) -> f32 {
        q_deg * self.signs[j] - self.offsets_deg[j]
    }

    /// The fixed base (below J1): a pedestal.
    pub fn base_mesh(&self) -> TriMesh {
        let w = self.thickness();
        let mut m = cuboid([-1.6 * w, -1.6 * w, 0.0], [1.6 * w, 1.6 * w, 0.08]);
        m.append(&cylinder_z(1.3 * w, 0.08, 0.35 * self.c1 as f32, 24));
        m
    }

    /// The six moving links, J1 first.
    pub fn links(&self) -> [Link; 6] {
        let w = self.thickness();
        let [a1, a2, b, c1, c2, c3, c4] =
            [self.a1, self.a2, self.b, self.c1, self.c2, self.c3, self.c4].map(|x| x as f32);
        // Link 1: turret on J1 and the shoulder housing out to J2.
        let mut l1 = cylinder_z(1.15 * w, 0.35 * c1, 0.7 * c1, 24);
        l1.append(&cuboid([-0.9 * w, -w, 0.6 * c1], [a1 + 0.8 * w, w, c1 + 0.5 * w]));
        // Link 2: upper arm, c2 long, between the shoulder and elbow hubs.
        let mut l2 = cylinder_y(0.95 * w, 1.05 * w, 24);
        l2.append(&cuboid([-0.55 * w, -0.5 * w, 0.0], [0.55 * w, 0.5 * w, c2]));
        l2.append(&cylinder_y(0.75 * w, 0.9 * w, 24).translated([0.0, 0.0, c2]));
        // Link 3: elbow housing spanning the a2 offset, with the J4 motor behind it.
        let (lo, hi) = (a2.min(0.0), a2.max(0.0));
        let mut l3 = cuboid([lo - 0.6 * w, -0.6 * w, -0.6 * w], [hi + 0.6 * w, 0.6 * w, 0.6 * w]);
        l3.append(&cuboid([a2 - 0.45 * w, -0.45 * w, -1.4 * w], [a2 + 0.45 * w, 0.45 * w, -0.6 * w]));
        // Link 4: forearm tube along its axis up to the wrist fork.
        let mut l4 = cylinder_z(0.5 * w, 0.6 * w, c3 - 0.5 * w, 20);
        for side in [-1.0, 1.0] {
            let y0 = side * 0.3 * w;
            let y1 = side * 0.5 * w;
            l4.append(&cuboid([-0.35 * w, y0.min(y1), c3 - 0.6 * w], [0.35 * w, y0.max(y1), c3 + 0.3 * w]));
        }
        // Link 5: wrist body on J5 towards the flange.
        let mut l5 = cylinder_y(0.32 * w, 0.28 * w, 20);
        l5.append(&cuboid([-0.25 * w, -0.25 * w, 0.0], [0.25 * w, 0.25 * w, 0.6 * c4]));
        // Link 6: the flange disc.
        let l6 = cylinder_z(0.3 * w, 0.6 * c4, c4, 20);
        [
            Link { name: LINK_NAMES[0], translate: [0.0, 0.0, 0.0], axis: Axis::Z, mesh: l1 },
            Link { name: LINK_NAMES[1], translate: [a1, b, c1], axis: Axis::Y, mesh: l2 },
            Link { name: LINK_NAMES[2], translate: [0.0, 0.0, c2], axis: Axis::Y, mesh: l3 },
            Link { name: LINK_NAMES[3], translate: [a2, 0.0, 0.0], axis: Axis::Z, mesh: l4 },
            Link { name: LINK_NAMES[4], translate: [0.0, 0.0, c3], axis: Axis::Y, mesh: l5 },
            Link { name: LINK_NAMES[5], translate: [0.0, 0.0, 0.0], axis: Axis::Z, mesh: l6 },
        ]
    }

    /// Where the tool prim sits in the Link6 frame: the flange (c4 along Z).
    pub fn flange(&self) -> [f32; 3] {
        [0.0, 0.0, self.c4 as f32]
    }
}

/// A servo spot-welding gun on the flange (tool frame): the gun body and a C-arm with two electrodes
/// meeting at the tool centre point [`TCP`].
pub fn weld_gun_mesh() -> TriMesh {
    // The parts overlap rather than touch, so no two share a point.
    let mut m = cuboid([-0.09, -0.07, 0.0], [0.09, 0.07, 0.22]);
    m.append(&cuboid([-0.03, -0.025, 0.2], [0.03, 0.025, 0.47]));
    m.append(&cuboid([-0.26, -0.02, 0.46], [0.035, 0.02, 0.51]));
    m.append(&cuboid([-0.255, -0.02, 0.5], [-0.21, 0.02, 0.6]));
    m.append(&cylinder_x(0.012, 0.06, 10).translated([-0.14, 0.0, 0.52]));
    m
}

/// The welding gun's tool centre point in the tool frame.
pub const TCP: [f32; 3] = [-0.14, 0.0, 0.52];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_offsets_follow_the_opw_lengths() {
        let r = &*FANUC_R2000IC_165F;
        let links = r.links();
        let f = |x: f64| x as f32;
        assert_eq!(links[1].translate, [f(r.a1), f(r.b), f(r.c1)]);
        assert_eq!(links[2].translate, [0.0, 0.0, f(r.c2)]);
        assert_eq!(links[3].translate, [f(r.a2), 0.0, 0.0]);
        assert_eq!(links[4].translate, [0.0, 0.0, f(r.c3)]);
        let axes: Vec<Axis> = links.iter().map(|l| l.axis).collect();
        assert_eq!(axes, [Axis::Z, Axis::Y, Axis::Y, Axis::Z, Axis::Y, Axis::Z]);
        // The upper arm mesh spans the shoulder-to-elbow length.
        let [lo, hi] = links[1].mesh.extent().unwrap();
        assert!(lo[2] < 0.0 && hi[2] > f(r.c2));
    }

    #[test]
    fn model_angles_apply_sign_and_offset() {
        // FANUC J3 with sign -1 and offset -90: controller 30 deg is model 60 deg.
        assert_eq!(FANUC_R2000IC_165F.model_angle(2, 30.0), 60.0);
        // KUKA J2 with offset -90: controller -90 (arm up) is model 0.
        assert_eq!(KUKA_KR6_R700.model_angle(1, -90.0), 0.0);
        assert_eq!(ABB_IRB2400.model_angle(0, 12.5), 12.5);
    }
}
