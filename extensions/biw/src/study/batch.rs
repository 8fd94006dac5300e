//! A batch of kernel queries in the flat layout shared by the host-compiled kernel and the CUDA path
//! (documented at the top of kernels/study.cu): every collider's BVH nodes and triangles once, in global
//! arrays; the poses once; four indices per query; and the decoding of the kernel's outputs.

use std::collections::HashMap;
use std::marker::PhantomData;

use crate::bvh::LEAF_SIZE;
use crate::distance::{Collider, Distance};
use crate::math::{Iso3, Vec3};

const _: () = assert!(LEAF_SIZE <= 4, "kernels/study.cu sizes its per-leaf buffers for 4 triangles (TL_LEAF_MAX)");

/// Result flags (`out_u[3i + 2]`), as in kernels/study.cu.
const FOUND: u32 = 1;
const INTERSECT: u32 = 2;
const INSIDE: u32 = 4;
const OVERFLOW: u32 = 8;
/// Doubles and u32 words per query result.
pub(crate) const OUT_F: usize = 7;
pub(crate) const OUT_U: usize = 3;

/// Queries over colliders that outlive the batch (`'a`); colliders and poses are stored once each.
#[derive(Default)]
pub struct Batch<'a> {
    pub(crate) node_f: Vec<f64>,
    pub(crate) node_u: Vec<u32>,
    pub(crate) tri: Vec<f64>,
    pub(crate) tri_id: Vec<u32>,
    pub(crate) col_u: Vec<u32>,
    pub(crate) col_f: Vec<f64>,
    pub(crate) pose: Vec<f64>,
    pub(crate) query: Vec<u32>,
    colliders: HashMap<usize, u32>,
    poses: HashMap<[u64; 12], u32>,
    _colliders: PhantomData<&'a Collider>,
}

/// What the kernel found for one query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KernelResult {
    /// What [`crate::distance::mesh_distance`] returns (`None` when a mesh is empty or on overflow).
    pub distance: Option<Distance>,
    /// The meshes do not intersect, but the first vertex of one is inside the other (closed) mesh
    /// (the study's "a link entirely inside an obstacle" test, [`Collider::contains_local`]).
    pub inside: bool,
    /// A traversal stack overflowed: the host must compute this query on the CPU.
    pub overflow: bool,
}

impl<'a> Batch<'a> {
    /// Number of queries.
    pub fn len(&self) -> usize {
        self.query.len() / 4
    }

    pub fn is_empty(&self) -> bool {
        self.query.is_empty()
    }

    /// Adds the query "`a` at `pose_a` against `b` at `pose_b`" and returns its index.
    pub fn push(&mut self, a: &'a Collider, pose_a: &Iso3, b: &'a Collider, pose_b: &Iso3) -> usize {
        let q = [self.collider(a), self.pose(pose_a), self.collider(b), self.pose(pose_b)];
        self.query.extend(q);
        self.len() - 1
    }

    /// The collider's index, flattening it on first use (node and slot indices made global).
    fn collider(&mut self, c: &'a Collider) -> u32 {
        let key = c as *const Collider as usize;
        if let Some(&id) = self.colliders.get(&key) {
            return id;
        }
        let id = index(self.col_u.len() / 3);
        let node0 = index(self.node_u.len() / 2);
        let slot0 = index(self.tri_id.len());
        for n in &c.bvh.nodes {
            let (h, m) = (n.center, n.half);
            self.node_f.extend([h.x, h.y, h.z, m.x, m.y, m.z]);
            let first = n.first + if n.is_leaf() { slot0 } else { node0 };
            self.node_u.extend([first, n.count]);
        }
        for t in &c.bvh.tris {
            for v in t {
                self.tri.extend([v.x, v.y, v.z]);
            }
        }
        self.tri_id.extend_from_slice(&c.bvh.order);
        let first = c.mesh.vertices.first().copied();
        let flags = c.closed as u32 | (first.is_some() as u32) << 1;
        self.col_u.extend([node0, index(c.bvh.tris.len()), flags]);
        let v = first.unwrap_or(Vec3::ZERO);
        self.col_f.extend([v.x, v.y, v.z]);
        self.colliders.insert(key, id);
        id
    }

    /// The pose's index (equal poses, bit for bit, are stored once).
    fn pose(&mut self, p: &Iso3) -> u32 {
        let [c0, c1, c2] = p.rot.cols;
        let t = p.trans;
        let v = [c0.x, c0.y, c0.z, c1.x, c1.y, c1.z, c2.x, c2.y, c2.z, t.x, t.y, t.z];
        let next = index(self.pose.len() / 12);
        let id = *self.poses.entry(v.map(f64::to_bits)).or_insert(next);
        if id == next {
            self.pose.extend(v);
        }
        id
    }
}

/// An index into the flat arrays (the kernel uses 32-bit indices).
fn index(n: usize) -> u32 {
    u32::try_from(n).expect("study batch larger than 2^32 elements")
}

/// Decodes the kernel's outputs (`OUT_F` doubles and `OUT_U` words per query).
pub(crate) fn decode(out_f: &[f64], out_u: &[u32]) -> Vec<KernelResult> {
    out_f
        .chunks_exact(OUT_F)
        .zip(out_u.chunks_exact(OUT_U))
        .map(|(f, u)| {
            let flags = u[2];
            let distance = (flags & FOUND != 0).then(|| Distance {
                distance: f[0],
                intersect: flags & INTERSECT != 0,
                point_a: Vec3::new(f[1], f[2], f[3]),
                point_b: Vec3::new(f[4], f[5], f[6]),
                tri_a: u[0],
                tri_b: u[1],
            });
            KernelResult { distance, inside: flags & INSIDE != 0, overflow: flags & OVERFLOW != 0 }
        })
        .collect()
}
