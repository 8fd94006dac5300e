//! A bounding volume hierarchy (axis-aligned boxes, binned surface-area split) over a mesh's triangles.

use crate::math::{Mat3, Vec3};
use crate::mesh::TriMesh;

/// An axis-aligned bounding box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Aabb {
    pub min: Vec3,
    pub max: Vec3,
}

impl Aabb {
    pub const EMPTY: Aabb = Aabb {
        min: Vec3 { x: f64::INFINITY, y: f64::INFINITY, z: f64::INFINITY },
        max: Vec3 { x: f64::NEG_INFINITY, y: f64::NEG_INFINITY, z: f64::NEG_INFINITY },
    };

    #[inline]
    pub fn grow(&mut self, p: Vec3) {
        self.min = self.min.min(p);
        self.max = self.max.max(p);
    }
    #[inline]
    pub fn merge(&self, o: &Aabb) -> Aabb {
        Aabb { min: self.min.min(o.min), max: self.max.max(o.max) }
    }
    #[inline(always)]
    pub fn center(&self) -> Vec3 {
        (self.min + self.max) * 0.5
    }
    #[inline(always)]
    pub fn half(&self) -> Vec3 {
        (self.max - self.min) * 0.5
    }
    pub fn area(&self) -> f64 {
        let d = self.max - self.min;
        if d.x < 0.0 {
            return 0.0;
        }
        2.0 * (d.x * d.y + d.y * d.z + d.z * d.x)
    }
    /// Squared distance from a point to the box (0 inside).
    #[inline(always)]
    pub fn dist2_point(&self, p: Vec3) -> f64 {
        let d = (self.min - p).max(p - self.max).max(Vec3::ZERO);
        d.dot(d)
    }
    pub fn contains(&self, p: Vec3) -> bool {
        p.x >= self.min.x
            && p.y >= self.min.y
            && p.z >= self.min.z
            && p.x <= self.max.x
            && p.y <= self.max.y
            && p.z <= self.max.z
    }
}

/// Squared distance between two boxes given by centre and half extents (0 when they overlap).
#[inline(always)]
pub fn box_box_dist2(c1: Vec3, h1: Vec3, c2: Vec3, h2: Vec3) -> f64 {
    let d = ((c1 - c2).abs() - h1 - h2).max(Vec3::ZERO);
    d.dot(d)
}

/// A BVH node: either two children or a range of `Bvh::order`.
#[derive(Clone, Copy, Debug)]
pub struct Node {
    pub center: Vec3,
    pub half: Vec3,
    /// Leaf: first index into `order`; inner: index of the left child (right child is `left + 1`).
    pub first: u32,
    /// Leaf: number of triangles (>0); inner: 0.
    pub count: u32,
}

impl Node {
    #[inline(always)]
    pub fn is_leaf(&self) -> bool {
        self.count > 0
    }
    #[inline(always)]
    pub fn size(&self) -> f64 {
        self.half.x + self.half.y + self.half.z
    }
}

/// The hierarchy; node 0 is the root. Leaf triangles are stored contiguously (`tris`, pre-gathered corners).
#[derive(Clone, Debug)]
pub struct Bvh {
    pub nodes: Vec<Node>,
    /// Triangle index (into the mesh) for each slot.
    pub order: Vec<u32>,
    /// Corners of the triangle in each slot, in mesh-local coordinates.
    pub tris: Vec<[Vec3; 3]>,
}

/// Most triangles in a leaf (the GPU kernel's per-leaf buffers are sized for it: `TL_LEAF_MAX`).
pub const LEAF_SIZE: usize = 4;
const BINS: usize = 12;

impl Bvh {
    /// Builds the hierarchy over all triangles of `mesh`.
    pub fn build(mesh: &TriMesh) -> Bvh {
        let n = mesh.triangles.len();
        let tri_boxes: Vec<Aabb> = (0..n)
            .map(|t| {
                let mut b = Aabb::EMPTY;
                for v in mesh.triangle(t) {
                    b.grow(v);
                }
                b
            })
            .collect();
        let mut order: Vec<u32> = (0..n as u32).collect();
        let mut nodes = Vec::with_capacity(2 * n / LEAF_SIZE + 1);
        nodes.push(Node { center: Vec3::ZERO, half: Vec3::ZERO, first: 0, count: 0 });
        if n > 0 {
            build_rec(&tri_boxes, &mut order, 0, n, 0, &mut nodes);
        }
        let tris = order.iter().map(|&t| mesh.triangle(t as usize)).collect();
        Bvh { nodes, order, tris }
    }

    pub fn root_box(&self) -> Aabb {
        let r = &self.nodes[0];
        Aabb { min: r.center - r.half, max: r.center + r.half }
    }

    /// Closest point on the mesh to `p`: (squared distance, point, mesh triangle index).
    pub fn closest_point(&self, p: Vec3, max_dist2: f64) -> Option<(f64, Vec3, u32)> {
        if self.tris.is_empty() {
            return None;
        }
        let mut best = max_dist2;
        let mut found = None;
        let mut stack: Vec<(u32, f64)> = Vec::with_capacity(64);
        stack.push((0, 0.0));
        while let Some((ni, bound)) = stack.pop() {
            if bound >= best {
                continue;
            }
            let node = &self.nodes[ni as usize];
            if node.is_leaf() {
                for slot in node.first..node.first + node.count {
                    let q = crate::tri::closest_point_on_triangle(p, &self.tris[slot as usize]);
                    let d2 = (q - p).norm2();
                    if d2 < best {
                        best = d2;
                        found = Some((d2, q, self.order[slot as usize]));
                    }
                }
            } else {
                let l = node.first;
                let (a, b) = (&self.nodes[l as usize], &self.nodes[l as usize + 1]);
                let da = box_point_dist2(a, p);
                let db = box_point_dist2(b, p);
                if da < db {
                    stack.push((l + 1, db));
                    stack.push((l, da));
                } else {
                    stack.push((l, da));
                    stack.push((l + 1, db));
                }
            }
        }
        found
    }

    /// Number of triangles a ray from `origin` along `dir` crosses (for inside/outside parity).
    pub fn ray_crossings(&self, origin: Vec3, dir: Vec3) -> usize {
        if self.tris.is_empty() {
            return 0;
        }
        let inv = Vec3::new(1.0 / dir.x, 1.0 / dir.y, 1.0 / dir.z);
        let mut count = 0;
        let mut stack: Vec<u32> = vec![0];
        while let Some(ni) = stack.pop() {
            let node = &self.nodes[ni as usize];
            if !ray_hits_box(origin, inv, node) {
                continue;
            }
            if node.is_leaf() {
                for slot in node.first..node.first + node.count {
                    if crate::tri::ray_triangle(origin, dir, &self.tris[slot as usize]).is_some() {
                        count += 1;
                    }
                }
            } else {
                stack.push(node.first);
                stack.push(node.first + 1);
            }
        }
        count
    }
}

#[inline(always)]
fn box_point_dist2(n: &Node, p: Vec3) -> f64 {
    let d = ((p - n.center).abs() - n.half).max(Vec3::ZERO);
    d.dot(d)
}

fn ray_hits_box(o: Vec3, inv: Vec3, n: &Node) -> bool {
    let lo = n.center - n.half;
    let hi = n.center + n.half;
    let mut tmin: f64 = 0.0;
    let mut tmax = f64::INFINITY;
    for k in 0..3 {
        let (a, b) = ((lo.get(k) - o.get(k)) * inv.get(k), (hi.get(k) - o.get(k)) * inv.get(k));
        let (a, b) = if a < b { (a, b) } else { (b, a) };
        tmin = tmin.max(a);
        tmax = tmax.min(b);
    }
    tmin <= tmax
}

fn build_rec(boxes: &[Aabb], order: &mut [u32], start: usize, end: usize, ni: usize, nodes: &mut Vec<Node>) {
    let mut bounds = Aabb::EMPTY;
    let mut cbounds = Aabb::EMPTY;
    for &t in &order[start..end] {
        let b = &boxes[t as usize];
        bounds = bounds.merge(b);
        cbounds.grow(b.center());
    }
    nodes[ni].center = bounds.center();
    nodes[ni].half = bounds.half();
    let count = end - start;
    if count <= LEAF_SIZE {
        nodes[ni].first = start as u32;
        nodes[ni].count = count as u32;
        return;
    }
    let mid = sah_split(boxes, &mut order[start..end], &cbounds).map(|m| start + m).unwrap_or_else(|| {
        // Degenerate centroids (all equal): split in the middle.
        start + count / 2
    });
    let left = nodes.len();
    nodes.push(Node { center: Vec3::ZERO, half: Vec3::ZERO, first: 0, count: 0 });
    nodes.push(Node { center: Vec3::ZERO, half: Vec3::ZERO, first: 0, count: 0 });
    nodes[ni].first = left as u32;
    nodes[ni].count = 0;
    build_rec(boxes, order, start, mid, left, nodes);
    build_rec(boxes, order, mid, end, left + 1, nodes);
}

/// Binned SAH split along the widest centroid axis; partitions `order` and returns the split position.
fn sah_split(boxes: &[Aabb], order: &mut [u32], cb: &Aabb) -> Option<usize> {
    let ext = cb.max - cb.min;
    let axis = if ext.x >= ext.y && ext.x >= ext.z {
        0
    } else if ext.y >= ext.z {
        1
    } else {
        2
    };
    let lo = cb.min.get(axis);
    let w = ext.get(axis);
    if w <= 0.0 {
        return None;
    }
    let bin_of =
        |t: u32| -> usize { (((boxes[t as usize].center().get(axis) - lo) / w * BINS as f64) as usize).min(BINS - 1) };
    let mut bin_box = [Aabb::EMPTY; BINS];
    let mut bin_n = [0usize; BINS];
    for &t in order.iter() {
        let b = bin_of(t);
        bin_box[b] = bin_box[b].merge(&boxes[t as usize]);
        bin_n[b] += 1;
    }
    let mut best = (f64::INFINITY, 0);
    for split in 1..BINS {
        let (mut lb, mut rb) = (Aabb::EMPTY, Aabb::EMPTY);
        let (mut ln, mut rn) = (0, 0);
        for b in 0..split {
            lb = lb.merge(&bin_box[b]);
            ln += bin_n[b];
        }
        for b in split..BINS {
            rb = rb.merge(&bin_box[b]);
            rn += bin_n[b];
        }
        if ln == 0 || rn == 0 {
            continue;
        }
        let cost = lb.area() * ln as f64 + rb.area() * rn as f64;
        if cost < best.0 {
            best = (cost, split);
        }
    }
    if best.0 == f64::INFINITY {
        return None;
    }
    let split = best.1;
    let mut i = 0;
    for j in 0..order.len() {
        if bin_of(order[j]) < split {
            order.swap(i, j);
            i += 1;
        }
    }
    Some(i)
}

/// `|R|` (elementwise absolute rotation), used to bound a rotated box.
#[inline(always)]
pub fn abs_rot(r: &Mat3) -> Mat3 {
    r.abs()
}
