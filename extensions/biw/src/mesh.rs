//! Triangle meshes: storage, validation, transforms and the primitive shapes (box, sphere, capsule)
//! used for robot link geometry and for tests.

use crate::error::BiwError;
use crate::math::{Iso3, Vec3};
use std::collections::HashMap;
use std::f64::consts::PI;

/// An indexed triangle mesh in metres. Triangles are counter-clockwise seen from outside.
#[derive(Clone, Debug, Default)]
pub struct TriMesh {
    pub vertices: Vec<Vec3>,
    pub triangles: Vec<[u32; 3]>,
}

impl TriMesh {
    /// A mesh from vertices and triangles; rejects out-of-range indices and non-finite coordinates.
    pub fn new(vertices: Vec<Vec3>, triangles: Vec<[u32; 3]>) -> Result<Self, BiwError> {
        if let Some(i) = vertices.iter().position(|v| !v.is_finite()) {
            return Err(BiwError::InvalidMesh(format!("vertex {i} has a non-finite coordinate")));
        }
        let n = vertices.len() as u64;
        for (t, tri) in triangles.iter().enumerate() {
            if let Some(bad) = tri.iter().find(|&&i| i as u64 >= n) {
                return Err(BiwError::InvalidMesh(format!(
                    "triangle {t} refers to vertex {bad}, but the mesh has {n} vertices"
                )));
            }
        }
        Ok(TriMesh { vertices, triangles })
    }

    /// The three corners of triangle `t`.
    #[inline(always)]
    pub fn triangle(&self, t: usize) -> [Vec3; 3] {
        let [a, b, c] = self.triangles[t];
        [self.vertices[a as usize], self.vertices[b as usize], self.vertices[c as usize]]
    }

    pub fn is_empty(&self) -> bool {
        self.triangles.is_empty()
    }

    /// This mesh with every vertex moved by `pose`.
    pub fn transformed(&self, pose: &Iso3) -> TriMesh {
        TriMesh { vertices: self.vertices.iter().map(|&v| pose.apply(v)).collect(), triangles: self.triangles.clone() }
    }

    /// Appends `other` (vertex indices are shifted).
    pub fn append(&mut self, other: &TriMesh) {
        let base = self.vertices.len() as u32;
        self.vertices.extend_from_slice(&other.vertices);
        self.triangles.extend(other.triangles.iter().map(|t| [t[0] + base, t[1] + base, t[2] + base]));
    }

    /// True when every edge is shared by exactly two triangles with opposite orientation
    /// (a closed, consistently oriented surface, for which "inside" is defined).
    pub fn is_closed(&self) -> bool {
        if self.triangles.is_empty() {
            return false;
        }
        let mut edges: HashMap<(u32, u32), i32> = HashMap::with_capacity(self.triangles.len() * 3);
        for t in &self.triangles {
            for k in 0..3 {
                let (a, b) = (t[k], t[(k + 1) % 3]);
                let e = edges.entry((a, b)).or_insert(0);
                *e += 1;
            }
        }
        edges.iter().all(|(&(a, b), &n)| n == 1 && edges.get(&(b, a)) == Some(&1))
    }

    /// An axis-aligned box centred at the origin with the given half extents (12 triangles).
    pub fn cuboid(half: Vec3) -> TriMesh {
        let (x, y, z) = (half.x, half.y, half.z);
        let vertices = vec![
            Vec3::new(-x, -y, -z),
            Vec3::new(x, -y, -z),
            Vec3::new(x, y, -z),
            Vec3::new(-x, y, -z),
            Vec3::new(-x, -y, z),
            Vec3::new(x, -y, z),
            Vec3::new(x, y, z),
            Vec3::new(-x, y, z),
        ];
        let triangles = vec![
            [0, 2, 1],
            [0, 3, 2],
            [4, 5, 6],
            [4, 6, 7],
            [0, 1, 5],
            [0, 5, 4],
            [2, 3, 7],
            [2, 7, 6],
            [1, 2, 6],
            [1, 6, 5],
            [3, 0, 4],
            [3, 4, 7],
        ];
        TriMesh { vertices, triangles }
    }

    /// A UV sphere of `radius` with `rings` latitude bands and `segments` longitude slices.
    /// Vertices lie on the sphere, so the mesh is inscribed in it.
    pub fn uv_sphere(radius: f64, rings: usize, segments: usize) -> TriMesh {
        TriMesh::capsule(radius, 0.0, rings.max(2) & !1, segments)
    }

    /// A capsule along z: a cylinder of half length `half_len` capped by hemispheres of `radius`,
    /// centred at the origin. `rings` (even, at least 2) latitude bands split between the two caps.
    pub fn capsule(radius: f64, half_len: f64, rings: usize, segments: usize) -> TriMesh {
        let rings = rings.max(2) & !1;
        let segments = segments.max(3);
        let mut vertices = vec![Vec3::new(0.0, 0.0, -radius - half_len)];
        // Latitude rings from the south pole up; the equator ring is duplicated at -h and +h.
        let half_rings = rings / 2;
        let mut ring_z: Vec<(f64, f64)> = Vec::new();
        for i in 1..=half_rings {
            let phi = -PI / 2.0 + PI * i as f64 / rings as f64;
            ring_z.push((radius * phi.cos(), radius * phi.sin() - half_len));
        }
        let start_upper = if half_len > 0.0 { half_rings } else { half_rings + 1 };
        for i in start_upper..rings {
            let phi = -PI / 2.0 + PI * i as f64 / rings as f64;
            ring_z.push((radius * phi.cos(), radius * phi.sin() + half_len));
        }
        for &(r, z) in &ring_z {
            for s in 0..segments {
                let th = 2.0 * PI * s as f64 / segments as f64;
                vertices.push(Vec3::new(r * th.cos(), r * th.sin(), z));
            }
        }
        let top = vertices.len() as u32;
        vertices.push(Vec3::new(0.0, 0.0, radius + half_len));
        let seg = segments as u32;
        let mut triangles = Vec::new();
        for s in 0..seg {
            triangles.push([0, 1 + (s + 1) % seg, 1 + s]);
        }
        for r in 0..(ring_z.len() as u32 - 1) {
            let a = 1 + r * seg;
            let b = a + seg;
            for s in 0..seg {
                let s1 = (s + 1) % seg;
                triangles.push([a + s, a + s1, b + s1]);
                triangles.push([a + s, b + s1, b + s]);
            }
        }
        let last = 1 + (ring_z.len() as u32 - 1) * seg;
        for s in 0..seg {
            triangles.push([top, last + s, last + (s + 1) % seg]);
        }
        TriMesh { vertices, triangles }
    }

    /// A capsule from point `a` to point `b` of `radius` (for robot links).
    pub fn capsule_between(a: Vec3, b: Vec3, radius: f64, rings: usize, segments: usize) -> TriMesh {
        let d = b - a;
        let len = d.norm();
        let local = TriMesh::capsule(radius, len * 0.5, rings, segments);
        let z = if len > 0.0 { d * (1.0 / len) } else { Vec3::Z };
        let helper = if z.x.abs() < 0.9 { Vec3::X } else { Vec3::Y };
        let x = helper.cross(z).normalized();
        let y = z.cross(x);
        let pose = Iso3::new(crate::math::Mat3::from_cols(x, y, z), (a + b) * 0.5);
        local.transformed(&pose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_are_closed() {
        assert!(TriMesh::cuboid(Vec3::new(1.0, 2.0, 3.0)).is_closed());
        assert!(TriMesh::uv_sphere(1.0, 8, 12).is_closed());
        assert!(TriMesh::capsule(0.5, 1.0, 8, 12).is_closed());
        let open = TriMesh::new(vec![Vec3::ZERO, Vec3::X, Vec3::Y], vec![[0, 1, 2]]).unwrap();
        assert!(!open.is_closed());
    }

    #[test]
    fn rejects_bad_indices() {
        let err = TriMesh::new(vec![Vec3::ZERO], vec![[0, 1, 2]]).unwrap_err();
        assert!(err.to_string().contains("triangle 0 refers to vertex 1"), "{err}");
    }
}
