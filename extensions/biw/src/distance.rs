//! Exact mesh–mesh minimum distance (BVH-vs-BVH traversal with pruning), intersection detection,
//! closest points, and a penetration-depth estimate for intersecting meshes.

use crate::bvh::{box_box_dist2, Bvh};
use crate::math::{Iso3, Vec3};
use crate::mesh::TriMesh;
use crate::tri::tri_tri;
use rayon::prelude::*;

/// A mesh prepared for queries: the mesh, its BVH and whether it is closed (has an inside).
#[derive(Clone, Debug)]
pub struct Collider {
    pub mesh: TriMesh,
    pub bvh: Bvh,
    pub closed: bool,
}

impl Collider {
    pub fn new(mesh: TriMesh) -> Collider {
        let bvh = Bvh::build(&mesh);
        let closed = mesh.is_closed();
        Collider { mesh, bvh, closed }
    }

    /// Whether the point (in this mesh's local frame) is inside the closed surface (majority of three
    /// ray-parity votes); always false for an open mesh.
    pub fn contains_local(&self, p: Vec3) -> bool {
        if !self.closed || !self.bvh.root_box().contains(p) {
            return false;
        }
        const DIRS: [Vec3; 3] = [
            Vec3 { x: 0.5773502691, y: 0.5773710419, z: 0.5773295001 },
            Vec3 { x: -0.4082482905, y: 0.8164965809, z: -0.4082482904 },
            Vec3 { x: 0.70712, y: -0.0000137, z: -0.70709 },
        ];
        let votes = DIRS.iter().filter(|&&d| self.bvh.ray_crossings(p, d) % 2 == 1).count();
        votes >= 2
    }
}

/// Result of a mesh–mesh distance query. Points are in world coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Distance {
    /// Minimum distance in metres (0 when the meshes intersect).
    pub distance: f64,
    pub intersect: bool,
    /// Closest point on A and on B (the same point on the intersection when they intersect).
    pub point_a: Vec3,
    pub point_b: Vec3,
    /// Triangle indices (into each mesh) holding the closest points.
    pub tri_a: u32,
    pub tri_b: u32,
}

/// Exact minimum distance between `a` placed at `pose_a` and `b` placed at `pose_b`.
/// Returns `None` when either mesh has no triangles.
pub fn mesh_distance(a: &Collider, pose_a: &Iso3, b: &Collider, pose_b: &Iso3) -> Option<Distance> {
    mesh_distance_below(a, pose_a, b, pose_b, f64::INFINITY)
}

/// Like [`mesh_distance`], but only searches for distances below `max_dist`; `None` means the meshes are at
/// least `max_dist` apart (or one is empty). Useful for near-miss checks with a threshold.
pub fn mesh_distance_below(
    a: &Collider,
    pose_a: &Iso3,
    b: &Collider,
    pose_b: &Iso3,
    max_dist: f64,
) -> Option<Distance> {
    if a.bvh.tris.is_empty() || b.bvh.tris.is_empty() {
        return None;
    }
    // B's local frame expressed in A's local frame.
    let rel = pose_a.inverse().mul(pose_b);
    let abs_r = rel.rot.abs();
    let (na, nb) = (&a.bvh.nodes, &b.bvh.nodes);
    let bound = |ia: u32, ib: u32| -> f64 {
        let (x, y) = (&na[ia as usize], &nb[ib as usize]);
        box_box_dist2(x.center, x.half, rel.apply(y.center), abs_r.mul_vec(y.half))
    };
    let mut best = if max_dist.is_finite() { max_dist * max_dist } else { f64::INFINITY };
    let mut found: Option<(f64, Vec3, Vec3, u32, u32, bool)> = None;
    let mut stack: Vec<(u32, u32, f64)> = Vec::with_capacity(128);
    stack.push((0, 0, bound(0, 0)));
    let mut tb_local: [[Vec3; 3]; 8] = [[Vec3::ZERO; 3]; 8];
    while let Some((ia, ib, lb)) = stack.pop() {
        if lb >= best {
            continue;
        }
        let (x, y) = (&na[ia as usize], &nb[ib as usize]);
        if x.is_leaf() && y.is_leaf() {
            let nbt = y.count as usize;
            let mut tb_box = [(Vec3::ZERO, Vec3::ZERO); 8];
            for k in 0..nbt {
                let t = &b.bvh.tris[y.first as usize + k];
                let tt = [rel.apply(t[0]), rel.apply(t[1]), rel.apply(t[2])];
                tb_box[k] = (tt[0].min(tt[1]).min(tt[2]), tt[0].max(tt[1]).max(tt[2]));
                tb_local[k] = tt;
            }
            for sa in x.first..x.first + x.count {
                let ta = &a.bvh.tris[sa as usize];
                let (amin, amax) = (ta[0].min(ta[1]).min(ta[2]), ta[0].max(ta[1]).max(ta[2]));
                for k in 0..nbt {
                    // Cheap reject: the triangles' boxes are already farther apart than the best so far.
                    let (bmin, bmax) = tb_box[k];
                    let gap = (amin - bmax).max(bmin - amax).max(Vec3::ZERO);
                    if gap.dot(gap) >= best {
                        continue;
                    }
                    let r = tri_tri(ta, &tb_local[k]);
                    if r.dist2 < best || (r.intersect && found.is_none_or(|f| !f.5)) {
                        best = r.dist2;
                        found = Some((
                            r.dist2,
                            r.p,
                            r.q,
                            a.bvh.order[sa as usize],
                            b.bvh.order[y.first as usize + k],
                            r.intersect,
                        ));
                        if r.intersect {
                            return finish(found, pose_a);
                        }
                    }
                }
            }
            continue;
        }
        let descend_a = !x.is_leaf() && (y.is_leaf() || x.size() >= y.size());
        let (c1, c2) = if descend_a { ((x.first, ib), (x.first + 1, ib)) } else { ((ia, y.first), (ia, y.first + 1)) };
        let d1 = bound(c1.0, c1.1);
        let d2 = bound(c2.0, c2.1);
        // Push the farther pair first so the nearer one is explored first.
        if d1 <= d2 {
            if d2 < best {
                stack.push((c2.0, c2.1, d2));
            }
            if d1 < best {
                stack.push((c1.0, c1.1, d1));
            }
        } else {
            if d1 < best {
                stack.push((c1.0, c1.1, d1));
            }
            if d2 < best {
                stack.push((c2.0, c2.1, d2));
            }
        }
    }
    finish(found, pose_a)
}

fn finish(found: Option<(f64, Vec3, Vec3, u32, u32, bool)>, pose_a: &Iso3) -> Option<Distance> {
    found.map(|(d2, p, q, ta, tb, inter)| Distance {
        distance: if inter { 0.0 } else { d2.sqrt() },
        intersect: inter,
        point_a: pose_a.apply(p),
        point_b: pose_a.apply(q),
        tri_a: ta,
        tri_b: tb,
    })
}

/// One query of a batch: two colliders and their poses.
pub struct Query<'a> {
    pub a: &'a Collider,
    pub pose_a: Iso3,
    pub b: &'a Collider,
    pub pose_b: Iso3,
}

/// Runs many distance queries on all threads of the current rayon pool.
pub fn mesh_distance_batch(queries: &[Query<'_>]) -> Vec<Option<Distance>> {
    queries.par_iter().with_min_len(4).map(|q| mesh_distance(q.a, &q.pose_a, q.b, &q.pose_b)).collect()
}

/// Estimated penetration depth of intersecting meshes, in metres.
///
/// For each closed mesh, the sample points of the other mesh (its vertices, edge midpoints and triangle
/// centroids) that lie inside it are found, and the depth is the largest distance from such a point to
/// the closed mesh's surface. It is a lower bound of the true depth at the sampled points; open sheets
/// (body panels) are handled as the penetrating side only. Returns 0 when no sample is inside.
pub fn penetration_depth(a: &Collider, pose_a: &Iso3, b: &Collider, pose_b: &Iso3) -> f64 {
    let depth_into = |x: &Collider, pose_x: &Iso3, y: &Collider, pose_y: &Iso3| -> f64 {
        if !x.closed {
            return 0.0;
        }
        let rel = pose_x.inverse().mul(pose_y);
        let bx = x.bvh.root_box();
        let mut deepest: f64 = 0.0;
        let mut visit = |p_local_y: Vec3| {
            let p = rel.apply(p_local_y);
            if bx.contains(p) && x.contains_local(p) {
                if let Some((d2, _, _)) = x.bvh.closest_point(p, f64::INFINITY) {
                    deepest = deepest.max(d2.sqrt());
                }
            }
        };
        for &v in &y.mesh.vertices {
            visit(v);
        }
        for t in &y.bvh.tris {
            visit((t[0] + t[1] + t[2]) * (1.0 / 3.0));
            visit((t[0] + t[1]) * 0.5);
            visit((t[1] + t[2]) * 0.5);
            visit((t[2] + t[0]) * 0.5);
        }
        deepest
    };
    depth_into(a, pose_a, b, pose_b).max(depth_into(b, pose_b, a, pose_a))
}
