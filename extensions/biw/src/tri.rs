//! Exact triangle primitives: segment–segment closest points, point–triangle closest point,
//! triangle–triangle distance with closest points and intersection detection, and ray–triangle hits.
//!
//! The triangle–triangle distance follows the classic edge-pair / vertex-face case analysis
//! (E. Larsen et al., PQP): the closest pair of two disjoint triangles lies either on two edges or
//! is a vertex projecting inside the other triangle's face.

// `!(x > 0.0)` is deliberate: it is also true for NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use crate::math::Vec3;

/// Closest points of segments `p + t a` and `q + u b` (t, u in [0, 1]); also returns a separating
/// direction used by the triangle test.
#[inline]
fn seg_points(p: Vec3, a: Vec3, q: Vec3, b: Vec3) -> (Vec3, Vec3, Vec3) {
    let t_v = q - p;
    let a_a = a.dot(a);
    let b_b = b.dot(b);
    let a_b = a.dot(b);
    let a_t = a.dot(t_v);
    let b_t = b.dot(t_v);
    let denom = a_a * b_b - a_b * a_b;
    let mut t = (a_t * b_b - b_t * a_b) / denom;
    if !(t >= 0.0) {
        t = 0.0;
    } else if t > 1.0 {
        t = 1.0;
    }
    let u = (t * a_b - b_t) / b_b;
    if !(u > 0.0) {
        let y = q;
        let t = a_t / a_a;
        if !(t > 0.0) {
            (p, y, q - p)
        } else if t >= 1.0 {
            let x = p + a;
            (x, y, q - x)
        } else {
            let x = p + a * t;
            (x, y, a.cross(t_v.cross(a)))
        }
    } else if u >= 1.0 {
        let y = q + b;
        let t = (a_b + a_t) / a_a;
        if !(t > 0.0) {
            (p, y, y - p)
        } else if t >= 1.0 {
            let x = p + a;
            (x, y, y - x)
        } else {
            let x = p + a * t;
            let tt = y - p;
            (x, y, a.cross(tt.cross(a)))
        }
    } else {
        let y = q + b * u;
        if !(t > 0.0) {
            (p, y, b.cross(t_v.cross(b)))
        } else if t >= 1.0 {
            let x = p + a;
            let tt = q - x;
            (x, y, b.cross(tt.cross(b)))
        } else {
            let x = p + a * t;
            let mut v = a.cross(b);
            if v.dot(t_v) < 0.0 {
                v = -v;
            }
            (x, y, v)
        }
    }
}

/// Result of a triangle–triangle query: squared distance and the closest points (equal when intersecting).
#[derive(Clone, Copy, Debug)]
pub struct TriTri {
    pub dist2: f64,
    pub p: Vec3,
    pub q: Vec3,
    pub intersect: bool,
}

/// Exact distance between triangles `s` and `t`, with closest points; `intersect` when they touch or cross.
pub fn tri_tri(s: &[Vec3; 3], t: &[Vec3; 3]) -> TriTri {
    let sv = [s[1] - s[0], s[2] - s[1], s[0] - s[2]];
    let tv = [t[1] - t[0], t[2] - t[1], t[0] - t[2]];
    let mut shown_disjoint = false;
    let mut min_p = s[0];
    let mut min_q = t[0];
    let mut mindd = f64::INFINITY;
    for i in 0..3 {
        for j in 0..3 {
            let (p, q, vec) = seg_points(s[i], sv[i], t[j], tv[j]);
            let v = q - p;
            let dd = v.dot(v);
            if dd <= mindd {
                min_p = p;
                min_q = q;
                mindd = dd;
                let mut a = (s[(i + 2) % 3] - p).dot(vec);
                let mut b = (t[(j + 2) % 3] - q).dot(vec);
                if a <= 0.0 && b >= 0.0 {
                    return TriTri { dist2: dd, p, q, intersect: dd == 0.0 };
                }
                let pp = v.dot(vec);
                if a < 0.0 {
                    a = 0.0;
                }
                if b > 0.0 {
                    b = 0.0;
                }
                if pp - a + b > 0.0 {
                    shown_disjoint = true;
                }
            }
        }
    }
    if let Some(r) = vertex_face(s, &sv, t, &mut shown_disjoint) {
        return r;
    }
    if let Some(r) = vertex_face(t, &tv, s, &mut shown_disjoint) {
        return TriTri { dist2: r.dist2, p: r.q, q: r.p, intersect: r.intersect };
    }
    if shown_disjoint || mindd == 0.0 {
        return TriTri { dist2: mindd, p: min_p, q: min_q, intersect: mindd == 0.0 };
    }
    // Not shown disjoint: the triangles cross, unless degenerate input fooled the tests.
    if let Some(x) = crossing_point(s, t) {
        return TriTri { dist2: 0.0, p: x, q: x, intersect: true };
    }
    TriTri { dist2: mindd, p: min_p, q: min_q, intersect: false }
}

/// Vertex of `t` against the face of `s`: returns the answer when the closest vertex on one side of the
/// plane projects inside `s`.
#[inline]
fn vertex_face(s: &[Vec3; 3], sv: &[Vec3; 3], t: &[Vec3; 3], shown_disjoint: &mut bool) -> Option<TriTri> {
    let sn = sv[0].cross(sv[1]);
    let snl = sn.dot(sn);
    if snl <= 1e-30 {
        return None;
    }
    let tp = [(s[0] - t[0]).dot(sn), (s[0] - t[1]).dot(sn), (s[0] - t[2]).dot(sn)];
    let point = if tp[0] > 0.0 && tp[1] > 0.0 && tp[2] > 0.0 {
        Some(if tp[0] < tp[1] {
            if tp[0] < tp[2] {
                0
            } else {
                2
            }
        } else if tp[1] < tp[2] {
            1
        } else {
            2
        })
    } else if tp[0] < 0.0 && tp[1] < 0.0 && tp[2] < 0.0 {
        Some(if tp[0] > tp[1] {
            if tp[0] > tp[2] {
                0
            } else {
                2
            }
        } else if tp[1] > tp[2] {
            1
        } else {
            2
        })
    } else {
        None
    };
    let k = point?;
    *shown_disjoint = true;
    let x = t[k];
    if (x - s[0]).dot(sn.cross(sv[0])) > 0.0
        && (x - s[1]).dot(sn.cross(sv[1])) > 0.0
        && (x - s[2]).dot(sn.cross(sv[2])) > 0.0
    {
        let p = x + sn * (tp[k] / snl);
        let d = p - x;
        return Some(TriTri { dist2: d.dot(d), p, q: x, intersect: false });
    }
    None
}

/// A point where an edge of one triangle crosses the other triangle, if any.
fn crossing_point(s: &[Vec3; 3], t: &[Vec3; 3]) -> Option<Vec3> {
    for (a, b) in [(s, t), (t, s)] {
        for i in 0..3 {
            let p0 = a[i];
            let p1 = a[(i + 1) % 3];
            if let Some(u) = segment_triangle(p0, p1, b) {
                return Some(p0 + (p1 - p0) * u);
            }
        }
    }
    None
}

/// Where the line `origin + t dir` crosses triangle `tri` (Möller–Trumbore): the parameter `t` of the
/// crossing, whatever its sign; `None` when the line misses the triangle or runs parallel to it.
#[inline]
fn line_triangle(origin: Vec3, dir: Vec3, tri: &[Vec3; 3]) -> Option<f64> {
    let e1 = tri[1] - tri[0];
    let e2 = tri[2] - tri[0];
    let h = dir.cross(e2);
    let det = e1.dot(h);
    if det.abs() < 1e-300 {
        return None;
    }
    let inv = 1.0 / det;
    let s = origin - tri[0];
    let u = s.dot(h) * inv;
    if !(0.0..=1.0).contains(&u) {
        return None;
    }
    let q = s.cross(e1);
    let v = dir.dot(q) * inv;
    if v < 0.0 || u + v > 1.0 {
        return None;
    }
    Some(e2.dot(q) * inv)
}

/// Parameter `u` in [0, 1] where segment `p0 -> p1` crosses triangle `tri`, if it does.
#[inline]
pub fn segment_triangle(p0: Vec3, p1: Vec3, tri: &[Vec3; 3]) -> Option<f64> {
    line_triangle(p0, p1 - p0, tri).filter(|t| (0.0..=1.0).contains(t))
}

/// Ray `origin + t dir` (t > 0) against a triangle: the hit parameter, if any.
#[inline]
pub fn ray_triangle(origin: Vec3, dir: Vec3, tri: &[Vec3; 3]) -> Option<f64> {
    line_triangle(origin, dir, tri).filter(|&t| t > 0.0)
}

/// Closest point of triangle `tri` to point `p` (Ericson, Real-Time Collision Detection 5.1.5).
#[inline]
pub fn closest_point_on_triangle(p: Vec3, tri: &[Vec3; 3]) -> Vec3 {
    let [a, b, c] = *tri;
    let ab = b - a;
    let ac = c - a;
    let ap = p - a;
    let d1 = ab.dot(ap);
    let d2 = ac.dot(ap);
    if d1 <= 0.0 && d2 <= 0.0 {
        return a;
    }
    let bp = p - b;
    let d3 = ab.dot(bp);
    let d4 = ac.dot(bp);
    if d3 >= 0.0 && d4 <= d3 {
        return b;
    }
    let vc = d1 * d4 - d3 * d2;
    if vc <= 0.0 && d1 >= 0.0 && d3 <= 0.0 {
        let v = d1 / (d1 - d3);
        return a + ab * v;
    }
    let cp = p - c;
    let d5 = ab.dot(cp);
    let d6 = ac.dot(cp);
    if d6 >= 0.0 && d5 <= d6 {
        return c;
    }
    let vb = d5 * d2 - d1 * d6;
    if vb <= 0.0 && d2 >= 0.0 && d6 <= 0.0 {
        let w = d2 / (d2 - d6);
        return a + ac * w;
    }
    let va = d3 * d6 - d5 * d4;
    if va <= 0.0 && (d4 - d3) >= 0.0 && (d5 - d6) >= 0.0 {
        let w = (d4 - d3) / ((d4 - d3) + (d5 - d6));
        return b + (c - b) * w;
    }
    let denom = 1.0 / (va + vb + vc);
    let v = vb * denom;
    let w = vc * denom;
    a + ab * v + ac * w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: f64, y: f64, z: f64) -> Vec3 {
        Vec3::new(x, y, z)
    }

    #[test]
    fn parallel_triangles_face_to_face() {
        let s = [v(0.0, 0.0, 0.0), v(1.0, 0.0, 0.0), v(0.0, 1.0, 0.0)];
        let t = [v(0.1, 0.1, 0.5), v(0.3, 0.1, 0.5), v(0.1, 0.3, 0.5)];
        let r = tri_tri(&s, &t);
        assert!((r.dist2.sqrt() - 0.5).abs() < 1e-15);
        assert!(!r.intersect);
    }

    #[test]
    fn crossed_edges() {
        let s = [v(0.0, 0.0, 0.0), v(1.0, 0.0, 0.0), v(0.0, 1.0, 0.0)];
        // Vertical triangle whose lower edge passes 0.25 above the top-right region, skewed.
        let t = [v(1.0, 1.0, -1.0), v(1.0, 1.0, 1.0), v(2.0, 2.0, 0.0)];
        let r = tri_tri(&s, &t);
        // Closest: edge (1,0)-(0,1) of s (point (0.5,0.5,0)) to edge x=y=1 of t.
        assert!((r.dist2.sqrt() - (0.5f64 * 0.5 * 2.0).sqrt()).abs() < 1e-12, "{}", r.dist2.sqrt());
    }

    #[test]
    fn piercing_triangles_intersect() {
        let s = [v(0.0, 0.0, 0.0), v(1.0, 0.0, 0.0), v(0.0, 1.0, 0.0)];
        let t = [v(0.2, 0.2, -1.0), v(0.2, 0.2, 1.0), v(0.3, -0.5, 0.0)];
        let r = tri_tri(&s, &t);
        assert!(r.intersect);
        assert_eq!(r.dist2, 0.0);
    }

    #[test]
    fn closest_point_regions() {
        let tri = [v(0.0, 0.0, 0.0), v(1.0, 0.0, 0.0), v(0.0, 1.0, 0.0)];
        assert!((closest_point_on_triangle(v(0.2, 0.2, 3.0), &tri) - v(0.2, 0.2, 0.0)).norm() < 1e-15);
        assert_eq!(closest_point_on_triangle(v(-1.0, -1.0, 0.0), &tri), v(0.0, 0.0, 0.0));
        assert_eq!(closest_point_on_triangle(v(1.0, 1.0, 0.0), &tri), v(0.5, 0.5, 0.0));
    }
}
