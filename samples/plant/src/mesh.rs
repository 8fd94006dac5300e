//! Triangle meshes in plain Rust: closed primitives (box, cylinder, prism, swept tube), rigid
//! transforms, merging, bounds and the edge-manifold test that says a mesh is closed (watertight).

use std::collections::HashMap;

/// A triangle mesh: points and counter-clockwise (outward-facing) triangles indexing them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TriMesh {
    pub points: Vec<[f32; 3]>,
    pub triangles: Vec<[u32; 3]>,
}

impl TriMesh {
    /// Appends another mesh (its indices shifted).
    pub fn append(&mut self, other: &TriMesh) {
        let base = self.points.len() as u32;
        self.points.extend_from_slice(&other.points);
        self.triangles.extend(other.triangles.iter().map(|t| [t[0] + base, t[1] + base, t[2] + base]));
    }

    /// Adds a quad `a b c d` (counter-clockwise seen from outside) as two triangles.
    pub fn quad(&mut self, a: u32, b: u32, c: u32, d: u32) {
        self.triangles.push([a, b, c]);
        self.triangles.push([a, c, d]);
    }

    /// The mesh moved by `offset`.
    pub fn translated(mut self, offset: [f32; 3]) -> TriMesh {
        for p in &mut self.points {
            for k in 0..3 {
                p[k] += offset[k];
            }
        }
        self
    }

    /// The mesh rotated about +Z by `degrees` (right-handed).
    pub fn rotated_z(mut self, degrees: f32) -> TriMesh {
        let (s, c) = degrees.to_radians().sin_cos();
        for p in &mut self.points {
            *p = [c * p[0] - s * p[1], s * p[0] + c * p[1], p[2]];
        }
        self
    }

    /// The axis-aligned bounds `[min, max]` (`None` for a mesh without points).
    pub fn extent(&self) -> Option<[[f32; 3]; 2]> {
        let first = *self.points.first()?;
        Some(self.points.iter().fold([first, first], |[lo, hi], p| {
            [std::array::from_fn(|k| lo[k].min(p[k])), std::array::from_fn(|k| hi[k].max(p[k]))]
        }))
    }

    /// Whether the mesh is closed: every undirected edge is used by exactly two triangles, once in each
    /// direction (so the surface is watertight, edge-manifold and consistently oriented), and no triangle
    /// is degenerate (repeats a vertex).
    pub fn is_closed(&self) -> bool {
        let mut directed: HashMap<(u32, u32), u32> = HashMap::with_capacity(self.triangles.len() * 3);
        for t in &self.triangles {
            if t[0] == t[1] || t[1] == t[2] || t[0] == t[2] {
                return false;
            }
            for k in 0..3 {
                *directed.entry((t[k], t[(k + 1) % 3])).or_insert(0) += 1;
            }
        }
        !self.triangles.is_empty() && directed.iter().all(|(&(a, b), &n)| n == 1 && directed.get(&(b, a)) == Some(&1))
    }

    /// The enclosed volume (divergence theorem); positive for an outward-oriented closed mesh.
    pub fn volume(&self) -> f64 {
        self.triangles
            .iter()
            .map(|t| {
                let [a, b, c] = t.map(|i| self.points[i as usize].map(f64::from));
                (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
                    + a[2] * (b[0] * c[1] - b[1] * c[0]))
                    / 6.0
            })
            .sum()
    }

    /// Face vertex counts and indices as USD's `Mesh` wants them.
    pub fn usd_topology(&self) -> (Vec<i32>, Vec<i32>) {
        let counts = vec![3; self.triangles.len()];
        let indices = self.triangles.iter().flat_map(|t| t.iter().map(|&i| i as i32)).collect();
        (counts, indices)
    }
}

/// A closed box spanning `min`..`max`.
pub fn cuboid(min: [f32; 3], max: [f32; 3]) -> TriMesh {
    let points = (0..8)
        .map(|i| {
            [
                if i & 1 == 0 { min[0] } else { max[0] },
                if i & 2 == 0 { min[1] } else { max[1] },
                if i & 4 == 0 { min[2] } else { max[2] },
            ]
        })
        .collect();
    let mut m = TriMesh { points, triangles: Vec::new() };
    // Faces counter-clockwise seen from outside: -Z, +Z, -Y, +Y, -X, +X.
    for [a, b, c, d] in [[0, 2, 3, 1], [4, 5, 7, 6], [0, 1, 5, 4], [2, 6, 7, 3], [0, 4, 6, 2], [1, 3, 7, 5]] {
        m.quad(a, b, c, d);
    }
    m
}

/// A closed prism along +Z from `z0` to `z1` whose cross-section is the counter-clockwise polygon `ring`
/// (x, y); the caps are fans, so the polygon must be convex. Fewer than three corners give an empty mesh.
pub fn prism(ring: &[[f32; 2]], z0: f32, z1: f32) -> TriMesh {
    let n = ring.len() as u32;
    let mut m = TriMesh::default();
    if n < 3 {
        return m;
    }
    for z in [z0, z1] {
        m.points.extend(ring.iter().map(|p| [p[0], p[1], z]));
    }
    for i in 0..n {
        let j = (i + 1) % n;
        m.quad(i, j, n + j, n + i);
    }
    for i in 1..n - 1 {
        m.triangles.push([0, i + 1, i]);
        m.triangles.push([n, n + i, n + i + 1]);
    }
    m
}

/// A regular polygon of `sides` corners with circumradius `r`, counter-clockwise, starting at `phase` rad.
pub fn regular_polygon(sides: usize, r: f32, phase: f32) -> Vec<[f32; 2]> {
    (0..sides)
        .map(|i| {
            let a = phase + std::f32::consts::TAU * i as f32 / sides as f32;
            [r * a.cos(), r * a.sin()]
        })
        .collect()
}

/// A closed cylinder along +Z (radius `r`, from `z0` to `z1`, `sides` facets).
pub fn cylinder_z(r: f32, z0: f32, z1: f32, sides: usize) -> TriMesh {
    prism(&regular_polygon(sides, r, 0.0), z0, z1)
}

/// A closed cylinder along +Y centred on the origin (radius `r`, half length `h`).
pub fn cylinder_y(r: f32, h: f32, sides: usize) -> TriMesh {
    let mut m = cylinder_z(r, -h, h, sides);
    // (x, y, z) -> (x, -z, y) maps +Z onto +Y with a proper rotation (keeps the orientation).
    for p in &mut m.points {
        *p = [p[0], -p[2], p[1]];
    }
    m
}

/// A closed cylinder along +X centred on the origin (radius `r`, half length `h`).
pub fn cylinder_x(r: f32, h: f32, sides: usize) -> TriMesh {
    let mut m = cylinder_z(r, -h, h, sides);
    // (x, y, z) -> (z, x, y): a cyclic permutation, a proper rotation.
    for p in &mut m.points {
        *p = [p[2], p[0], p[1]];
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_are_closed_with_the_right_volume() {
        let b = cuboid([0.0, 0.0, 0.0], [1.0, 2.0, 3.0]);
        assert!(b.is_closed());
        assert!((b.volume() - 6.0).abs() < 1e-6);
        let c = cylinder_z(1.0, 0.0, 1.0, 64);
        assert!(c.is_closed());
        let ideal = 64.0 / 2.0 * (std::f64::consts::TAU / 64.0).sin();
        assert!((c.volume() - ideal).abs() < 1e-4, "{}", c.volume());
        for m in [cylinder_x(0.5, 1.0, 12), cylinder_y(0.5, 1.0, 12)] {
            assert!(m.is_closed());
            assert!(m.volume() > 0.0, "outward orientation kept");
        }
    }

    #[test]
    fn open_or_flipped_meshes_are_not_closed() {
        let mut b = cuboid([0.0; 3], [1.0; 3]);
        b.triangles.pop();
        assert!(!b.is_closed());
        let mut b = cuboid([0.0; 3], [1.0; 3]);
        b.triangles[0].swap(1, 2);
        assert!(!b.is_closed());
    }

    #[test]
    fn extent_and_transforms() {
        let b = cuboid([0.0; 3], [1.0, 2.0, 3.0]).rotated_z(90.0).translated([10.0, 0.0, 0.0]);
        let [lo, hi] = b.extent().unwrap();
        assert!((lo[0] - 8.0).abs() < 1e-5 && (hi[0] - 10.0).abs() < 1e-5);
        assert!((lo[1] - 0.0).abs() < 1e-5 && (hi[1] - 1.0).abs() < 1e-5);
        assert_eq!((lo[2], hi[2]), (0.0, 3.0));
    }
}
