//! Small, dependency-free 3D math: vectors, rotation matrices, rigid transforms and quaternions (f64, metres).

use std::ops::{Add, AddAssign, Mul, Neg, Sub};

/// A 3D vector or point (metres).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Vec3 {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

impl Vec3 {
    pub const ZERO: Vec3 = Vec3 { x: 0.0, y: 0.0, z: 0.0 };
    pub const X: Vec3 = Vec3 { x: 1.0, y: 0.0, z: 0.0 };
    pub const Y: Vec3 = Vec3 { x: 0.0, y: 1.0, z: 0.0 };
    pub const Z: Vec3 = Vec3 { x: 0.0, y: 0.0, z: 1.0 };

    #[inline(always)]
    pub const fn new(x: f64, y: f64, z: f64) -> Self {
        Vec3 { x, y, z }
    }
    #[inline(always)]
    pub fn dot(self, o: Vec3) -> f64 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }
    #[inline(always)]
    pub fn cross(self, o: Vec3) -> Vec3 {
        Vec3::new(self.y * o.z - self.z * o.y, self.z * o.x - self.x * o.z, self.x * o.y - self.y * o.x)
    }
    #[inline(always)]
    pub fn norm2(self) -> f64 {
        self.dot(self)
    }
    #[inline(always)]
    pub fn norm(self) -> f64 {
        self.norm2().sqrt()
    }
    /// The unit vector in this direction, or zero for a zero vector.
    #[inline]
    pub fn normalized(self) -> Vec3 {
        let n = self.norm();
        if n > 0.0 {
            self * (1.0 / n)
        } else {
            Vec3::ZERO
        }
    }
    #[inline(always)]
    pub fn min(self, o: Vec3) -> Vec3 {
        Vec3::new(self.x.min(o.x), self.y.min(o.y), self.z.min(o.z))
    }
    #[inline(always)]
    pub fn max(self, o: Vec3) -> Vec3 {
        Vec3::new(self.x.max(o.x), self.y.max(o.y), self.z.max(o.z))
    }
    #[inline(always)]
    pub fn abs(self) -> Vec3 {
        Vec3::new(self.x.abs(), self.y.abs(), self.z.abs())
    }
    #[inline(always)]
    pub fn get(self, axis: usize) -> f64 {
        match axis {
            0 => self.x,
            1 => self.y,
            _ => self.z,
        }
    }
    pub fn is_finite(self) -> bool {
        self.x.is_finite() && self.y.is_finite() && self.z.is_finite()
    }
    pub fn to_array(self) -> [f64; 3] {
        [self.x, self.y, self.z]
    }
}

impl Add for Vec3 {
    type Output = Vec3;
    #[inline(always)]
    fn add(self, o: Vec3) -> Vec3 {
        Vec3::new(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}
impl AddAssign for Vec3 {
    #[inline(always)]
    fn add_assign(&mut self, o: Vec3) {
        *self = *self + o;
    }
}
impl Sub for Vec3 {
    type Output = Vec3;
    #[inline(always)]
    fn sub(self, o: Vec3) -> Vec3 {
        Vec3::new(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}
impl Mul<f64> for Vec3 {
    type Output = Vec3;
    #[inline(always)]
    fn mul(self, s: f64) -> Vec3 {
        Vec3::new(self.x * s, self.y * s, self.z * s)
    }
}
impl Neg for Vec3 {
    type Output = Vec3;
    #[inline(always)]
    fn neg(self) -> Vec3 {
        Vec3::new(-self.x, -self.y, -self.z)
    }
}

/// A 3x3 matrix stored by columns; used for rotations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mat3 {
    pub cols: [Vec3; 3],
}

impl Mat3 {
    pub const IDENTITY: Mat3 = Mat3 { cols: [Vec3::X, Vec3::Y, Vec3::Z] };

    pub fn from_cols(x: Vec3, y: Vec3, z: Vec3) -> Self {
        Mat3 { cols: [x, y, z] }
    }
    /// Element at row `r`, column `c`.
    #[inline(always)]
    pub fn at(&self, r: usize, c: usize) -> f64 {
        self.cols[c].get(r)
    }
    #[inline(always)]
    pub fn mul_vec(&self, v: Vec3) -> Vec3 {
        self.cols[0] * v.x + self.cols[1] * v.y + self.cols[2] * v.z
    }
    /// `self^T * v`.
    #[inline(always)]
    pub fn tmul_vec(&self, v: Vec3) -> Vec3 {
        Vec3::new(self.cols[0].dot(v), self.cols[1].dot(v), self.cols[2].dot(v))
    }
    pub fn transpose(&self) -> Mat3 {
        let c = &self.cols;
        Mat3::from_cols(
            Vec3::new(c[0].x, c[1].x, c[2].x),
            Vec3::new(c[0].y, c[1].y, c[2].y),
            Vec3::new(c[0].z, c[1].z, c[2].z),
        )
    }
    #[inline]
    pub fn mul_mat(&self, o: &Mat3) -> Mat3 {
        Mat3::from_cols(self.mul_vec(o.cols[0]), self.mul_vec(o.cols[1]), self.mul_vec(o.cols[2]))
    }
    /// Elementwise absolute value.
    pub fn abs(&self) -> Mat3 {
        Mat3::from_cols(self.cols[0].abs(), self.cols[1].abs(), self.cols[2].abs())
    }
    pub fn rot_x(a: f64) -> Mat3 {
        let (s, c) = a.sin_cos();
        Mat3::from_cols(Vec3::X, Vec3::new(0.0, c, s), Vec3::new(0.0, -s, c))
    }
    pub fn rot_y(a: f64) -> Mat3 {
        let (s, c) = a.sin_cos();
        Mat3::from_cols(Vec3::new(c, 0.0, -s), Vec3::Y, Vec3::new(s, 0.0, c))
    }
    pub fn rot_z(a: f64) -> Mat3 {
        let (s, c) = a.sin_cos();
        Mat3::from_cols(Vec3::new(c, s, 0.0), Vec3::new(-s, c, 0.0), Vec3::Z)
    }
    /// Rotation by `angle` about the unit `axis` (Rodrigues).
    pub fn from_axis_angle(axis: Vec3, angle: f64) -> Mat3 {
        let a = axis.normalized();
        let (s, c) = angle.sin_cos();
        let t = 1.0 - c;
        Mat3::from_cols(
            Vec3::new(t * a.x * a.x + c, t * a.x * a.y + s * a.z, t * a.x * a.z - s * a.y),
            Vec3::new(t * a.x * a.y - s * a.z, t * a.y * a.y + c, t * a.y * a.z + s * a.x),
            Vec3::new(t * a.x * a.z + s * a.y, t * a.y * a.z - s * a.x, t * a.z * a.z + c),
        )
    }
    /// Angle of the rotation `self^T * other` (radians, 0..pi).
    pub fn angle_to(&self, other: &Mat3) -> f64 {
        let r = self.transpose().mul_mat(other);
        let tr = r.at(0, 0) + r.at(1, 1) + r.at(2, 2);
        ((tr - 1.0) * 0.5).clamp(-1.0, 1.0).acos()
    }
}

/// A unit quaternion (w, x, y, z).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quat {
    pub w: f64,
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

impl Quat {
    pub fn new(w: f64, x: f64, y: f64, z: f64) -> Self {
        Quat { w, x, y, z }
    }
    pub fn norm(&self) -> f64 {
        (self.w * self.w + self.x * self.x + self.y * self.y + self.z * self.z).sqrt()
    }
    /// The rotation matrix of this quaternion (normalised first).
    pub fn to_mat3(&self) -> Mat3 {
        let n = self.norm();
        let (w, x, y, z) = (self.w / n, self.x / n, self.y / n, self.z / n);
        Mat3::from_cols(
            Vec3::new(1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + w * z), 2.0 * (x * z - w * y)),
            Vec3::new(2.0 * (x * y - w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z + w * x)),
            Vec3::new(2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y)),
        )
    }
    /// The quaternion of a rotation matrix (Shepperd's method).
    pub fn from_mat3(m: &Mat3) -> Quat {
        let tr = m.at(0, 0) + m.at(1, 1) + m.at(2, 2);
        if tr > 0.0 {
            let s = (tr + 1.0).sqrt() * 2.0;
            Quat::new(
                0.25 * s,
                (m.at(2, 1) - m.at(1, 2)) / s,
                (m.at(0, 2) - m.at(2, 0)) / s,
                (m.at(1, 0) - m.at(0, 1)) / s,
            )
        } else if m.at(0, 0) > m.at(1, 1) && m.at(0, 0) > m.at(2, 2) {
            let s = (1.0 + m.at(0, 0) - m.at(1, 1) - m.at(2, 2)).sqrt() * 2.0;
            Quat::new(
                (m.at(2, 1) - m.at(1, 2)) / s,
                0.25 * s,
                (m.at(0, 1) + m.at(1, 0)) / s,
                (m.at(0, 2) + m.at(2, 0)) / s,
            )
        } else if m.at(1, 1) > m.at(2, 2) {
            let s = (1.0 + m.at(1, 1) - m.at(0, 0) - m.at(2, 2)).sqrt() * 2.0;
            Quat::new(
                (m.at(0, 2) - m.at(2, 0)) / s,
                (m.at(0, 1) + m.at(1, 0)) / s,
                0.25 * s,
                (m.at(1, 2) + m.at(2, 1)) / s,
            )
        } else {
            let s = (1.0 + m.at(2, 2) - m.at(0, 0) - m.at(1, 1)).sqrt() * 2.0;
            Quat::new(
                (m.at(1, 0) - m.at(0, 1)) / s,
                (m.at(0, 2) + m.at(2, 0)) / s,
                (m.at(1, 2) + m.at(2, 1)) / s,
                0.25 * s,
            )
        }
    }
}

/// A rigid transform: `p_world = rot * p_local + trans`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Iso3 {
    pub rot: Mat3,
    pub trans: Vec3,
}

impl Default for Iso3 {
    fn default() -> Self {
        Iso3::IDENTITY
    }
}

impl Iso3 {
    pub const IDENTITY: Iso3 = Iso3 { rot: Mat3::IDENTITY, trans: Vec3::ZERO };

    pub fn new(rot: Mat3, trans: Vec3) -> Self {
        Iso3 { rot, trans }
    }
    pub fn translation(t: Vec3) -> Self {
        Iso3 { rot: Mat3::IDENTITY, trans: t }
    }
    pub fn rotation(rot: Mat3) -> Self {
        Iso3 { rot, trans: Vec3::ZERO }
    }
    #[inline(always)]
    pub fn apply(&self, p: Vec3) -> Vec3 {
        self.rot.mul_vec(p) + self.trans
    }
    #[inline(always)]
    pub fn apply_inv(&self, p: Vec3) -> Vec3 {
        self.rot.tmul_vec(p - self.trans)
    }
    /// `self * o`: apply `o` first, then `self`.
    #[inline]
    pub fn mul(&self, o: &Iso3) -> Iso3 {
        Iso3 { rot: self.rot.mul_mat(&o.rot), trans: self.apply(o.trans) }
    }
    pub fn inverse(&self) -> Iso3 {
        let rt = self.rot.transpose();
        Iso3 { rot: rt, trans: -rt.mul_vec(self.trans) }
    }
}
