//! Deterministic synthetic data for tests and benchmarks: a small seeded RNG, random rigid poses and
//! "blob" meshes (noisy closed spheres) of a chosen triangle count.

use crate::math::{Iso3, Mat3, Vec3};
use crate::mesh::TriMesh;

/// SplitMix64: a tiny, seedable pseudo-random generator.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// A uniformly distributed unit vector.
    pub fn unit_vec(&mut self) -> Vec3 {
        loop {
            let v = Vec3::new(self.range(-1.0, 1.0), self.range(-1.0, 1.0), self.range(-1.0, 1.0));
            let n = v.norm2();
            if n > 1e-6 && n <= 1.0 {
                return v * (1.0 / n.sqrt());
            }
        }
    }
    /// A random rotation (uniform axis, uniform angle).
    pub fn rotation(&mut self) -> Mat3 {
        let axis = self.unit_vec();
        Mat3::from_axis_angle(axis, self.range(-std::f64::consts::PI, std::f64::consts::PI))
    }
    /// A random pose with translation in a cube of half size `half`.
    pub fn pose(&mut self, half: f64) -> Iso3 {
        Iso3::new(self.rotation(), Vec3::new(self.range(-half, half), self.range(-half, half), self.range(-half, half)))
    }
}

/// A closed "blob": a UV sphere of `radius` whose vertices are pushed radially by up to `noise` (fraction of
/// the radius), with about `triangles` triangles.
pub fn blob(rng: &mut Rng, radius: f64, noise: f64, triangles: usize) -> TriMesh {
    // A UV sphere with r rings and s = 2r segments has 2 s (r - 1) = 4 r (r - 1) triangles.
    let rings = (((triangles as f64) / 4.0).sqrt().round() as usize).max(3) & !1;
    let mut m = TriMesh::uv_sphere(radius, rings.max(4), 2 * rings.max(4));
    for v in &mut m.vertices {
        let f = 1.0 + noise * rng.range(-1.0, 1.0);
        *v = *v * f;
    }
    m
}

/// A soup of `n` random triangles of edge length up to `size` inside a cube of half size `half`.
pub fn triangle_soup(rng: &mut Rng, n: usize, half: f64, size: f64) -> TriMesh {
    let mut vertices = Vec::with_capacity(3 * n);
    let mut triangles = Vec::with_capacity(n);
    for t in 0..n {
        let c = Vec3::new(rng.range(-half, half), rng.range(-half, half), rng.range(-half, half));
        for _ in 0..3 {
            vertices.push(c + rng.unit_vec() * (size * rng.unit()));
        }
        let b = 3 * t as u32;
        triangles.push([b, b + 1, b + 2]);
    }
    TriMesh { vertices, triangles }
}

/// A flat rectangular panel in the plane spanned by `u` and `v` from `origin`, split into `nu` x `nv` cells
/// (two triangles each), facing `u x v`.
pub fn panel(origin: Vec3, u: Vec3, v: Vec3, nu: usize, nv: usize) -> TriMesh {
    let mut vertices = Vec::with_capacity((nu + 1) * (nv + 1));
    for j in 0..=nv {
        for i in 0..=nu {
            vertices.push(origin + u * (i as f64 / nu as f64) + v * (j as f64 / nv as f64));
        }
    }
    let w = nu as u32 + 1;
    let mut triangles = Vec::with_capacity(2 * nu * nv);
    for j in 0..nv as u32 {
        for i in 0..nu as u32 {
            let a = j * w + i;
            triangles.push([a, a + 1, a + w + 1]);
            triangles.push([a, a + w + 1, a + w]);
        }
    }
    TriMesh { vertices, triangles }
}

/// A synthetic body-in-white line for tests and benchmarks: an open sheet-metal body shell (roof, two sides
/// with door and B-pillar regions, ~`resolution`-sized cells), a closed fixture, and two stations:
/// "14" where R1 (ABB IRB 2400) welds the left side with a path that pushes 40 mm through the B-pillar and
/// R2 welds the right side 6 mm short of contact; "21" where R3 (FANUC R-2000iC/165F) welds the roof.
pub fn sample_biw_study(resolution: f64) -> Result<Vec<crate::study::Station>, crate::error::BiwError> {
    use crate::distance::Collider;
    use crate::kinematics::RobotModel;
    use crate::study::{Obstacle, Region, Station, StudyRobot};
    use crate::trajectory::Trajectory;
    use std::sync::Arc;
    let cells = |len: f64| ((len / resolution).round() as usize).max(1);
    let (half_len, half_w, sill, roof) = (2.0, 0.8, 0.5, 1.4);
    let mut body = TriMesh::default();
    let mut regions = Vec::new();
    let mut add = |name: &str, m: TriMesh, body: &mut TriMesh| {
        let start = body.triangles.len() as u32;
        body.append(&m);
        regions.push(Region { name: name.to_string(), triangles: start..body.triangles.len() as u32 });
    };
    add(
        "roof",
        panel(
            Vec3::new(-half_len, -half_w, roof),
            Vec3::new(2.0 * half_len, 0.0, 0.0),
            Vec3::new(0.0, 2.0 * half_w, 0.0),
            cells(2.0 * half_len),
            cells(2.0 * half_w),
        ),
        &mut body,
    );
    for (side, y) in [("left", half_w), ("right", -half_w)] {
        let h = roof - sill;
        let spans =
            [("front door", -half_len, -0.1), ("B-pillar reinforcement", -0.1, 0.1), ("rear door", 0.1, half_len)];
        for (part, x0, x1) in spans {
            let m = panel(
                Vec3::new(x0, y, sill),
                Vec3::new(x1 - x0, 0.0, 0.0),
                Vec3::new(0.0, 0.0, h),
                cells(x1 - x0),
                cells(h),
            );
            add(&format!("{side} {part}"), m, &mut body);
        }
    }
    let body = Obstacle { name: "body".into(), collider: Arc::new(Collider::new(body)), pose: Iso3::IDENTITY, regions };
    let fixture = Obstacle {
        name: "fixture".into(),
        collider: Arc::new(Collider::new(TriMesh::cuboid(Vec3::new(1.5, 0.5, 0.15)))),
        pose: Iso3::translation(Vec3::new(0.0, 0.0, 0.15)),
        regions: Vec::new(),
    };
    // A weld robot: base in the world, a straight weld line with the tool approaching along `approach`.
    let robot = |name: &str,
                 model: RobotModel,
                 base: Iso3,
                 from: Vec3,
                 to: Vec3,
                 approach: Vec3|
     -> Result<StudyRobot, crate::error::BiwError> {
        let z = approach.normalized();
        let x = (to - from).normalized();
        let y = z.cross(x);
        let rot = Mat3::from_cols(y.cross(z), y, z);
        let inv = base.inverse();
        let at = |p: Vec3| inv.mul(&Iso3::new(rot, p));
        let path = [(0.0, at(from - z * 0.25)), (1.0, at(from)), (3.0, at(to)), (3.5, at(to - z * 0.25))];
        let links = StudyRobot::default_links(&model);
        let seed = [0.0, 0.3, 0.0, 0.0, 0.8, 0.0];
        let tr = Trajectory::from_cartesian_path(&model, &path, 0.05, None, Some(seed), 0.5)?;
        Ok(StudyRobot { name: name.into(), model, base, links, trajectory: tr.trajectory })
    };
    let abb = RobotModel::abb_irb2400();
    let tip = 0.06 * (abb.params.c2 + abb.params.c3) * 0.045 / 0.06 * 0.6; // flange capsule radius
    let r1_base = Iso3::new(Mat3::rot_z(-std::f64::consts::FRAC_PI_2), Vec3::new(0.0, 2.05, 0.3));
    let r2_base = Iso3::new(Mat3::rot_z(std::f64::consts::FRAC_PI_2), Vec3::new(0.0, -2.05, 0.3));
    let depth = 0.040;
    let r1 = robot(
        "R1",
        abb.clone(),
        r1_base,
        Vec3::new(-0.35, half_w + tip - depth, 1.0),
        Vec3::new(0.35, half_w + tip - depth, 1.0),
        -Vec3::Y,
    )?;
    let gap = 0.006;
    let r2 = robot(
        "R2",
        abb,
        r2_base,
        Vec3::new(0.35, -half_w - tip - gap, 1.0),
        Vec3::new(-0.35, -half_w - tip - gap, 1.0),
        Vec3::Y,
    )?;
    let fanuc = RobotModel::fanuc_r2000ic_165f();
    let r3_base = Iso3::new(Mat3::rot_z(-std::f64::consts::FRAC_PI_2), Vec3::new(0.0, 2.4, 0.0));
    let r3 =
        robot("R3", fanuc, r3_base, Vec3::new(-0.4, 0.2, roof + 0.12), Vec3::new(0.4, 0.2, roof + 0.12), -Vec3::Z)?;
    Ok(vec![
        Station { name: "14".into(), robots: vec![r1, r2], obstacles: vec![body.clone(), fixture.clone()] },
        Station { name: "21".into(), robots: vec![r3], obstacles: vec![body, fixture] },
    ])
}
