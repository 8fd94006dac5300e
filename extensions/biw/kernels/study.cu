/* The BIW collision study's per-query kernel (extensions/biw/kernels/study.cu).
 *
 * Written once in the C subset of gpu/kernels/prelude.h: NVRTC compiles it for the GPU (one thread per
 * query), build.rs compiles it for the host (a loop over queries) so CPU-only tests check it against the
 * Rust path. Per query (collider A at pose A, collider B at pose B) it computes what the study needs except
 * the penetration depth:
 *  - the exact minimum distance, closest points and triangles, and whether the meshes intersect, with the
 *    very traversal, pruning and tie-breaking of `twinloom_biw::distance::mesh_distance`;
 *  - when they do not intersect, whether the first vertex of one mesh is inside the other (closed) mesh,
 *    as `Collider::contains_local` (majority of three ray-parity votes).
 * Every operation mirrors the Rust code in order (doubles, no contraction), so results are bit-identical
 * where the compilers honour IEEE arithmetic. Traversals use fixed per-thread stacks; on overflow the
 * query is flagged and the host recomputes it on the CPU.
 *
 * Layout (built by src/gpu/scene.rs; indices are global over all colliders):
 *  node_f[6n]  centre xyz, half extents xyz      node_u[2n]  first, count (leaf: first slot, count > 0;
 *                                                            inner: left child node, count 0; right = left+1)
 *  tri[9t]     corners of each slot (mesh-local) tri_id[t]   mesh triangle index of each slot
 *  col_u[3c]   root node, triangles, flags (bit 0 closed, bit 1 has a vertex)
 *  col_f[3c]   the mesh's first vertex           pose[12p]   rotation columns (9), translation (3)
 *  query[4q]   collider A, pose A, collider B, pose B
 *  out_f[7q]   distance, point on A xyz, point on B xyz (world)
 *  out_u[3q]   triangle of A, triangle of B, flags (TL_FOUND, TL_INTERSECT, TL_INSIDE, TL_OVERFLOW)
 */

#define TL_STACK 64
#define TL_LEAF_MAX 4
#define TL_FOUND 1u
#define TL_INTERSECT 2u
#define TL_INSIDE 4u
#define TL_OVERFLOW 8u

typedef struct {
    double dist2;
    tl_v3 p, q;
    int intersect;
} tl_tritri;

TL_DEVICE tl_v3 v_neg(tl_v3 a) { return v3(-a.x, -a.y, -a.z); }
TL_DEVICE tl_v3 v_cross(tl_v3 a, tl_v3 b) {
    return v3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x);
}
TL_DEVICE tl_v3 v_min(tl_v3 a, tl_v3 b) { return v3(fmin(a.x, b.x), fmin(a.y, b.y), fmin(a.z, b.z)); }
TL_DEVICE tl_v3 v_max(tl_v3 a, tl_v3 b) { return v3(fmax(a.x, b.x), fmax(a.y, b.y), fmax(a.z, b.z)); }
TL_DEVICE tl_v3 v_abs(tl_v3 a) { return v3(fabs(a.x), fabs(a.y), fabs(a.z)); }

/* Mat3::tmul_vec; Iso3::apply, apply_inv, inverse, mul (same operation order as math.rs). */
TL_DEVICE tl_v3 m_tmul(const tl_iso* m, tl_v3 v) { return v3(v_dot(m->c0, v), v_dot(m->c1, v), v_dot(m->c2, v)); }
TL_DEVICE tl_v3 iso_apply(const tl_iso* m, tl_v3 p) { return v_add(m_mul(m, p), m->t); }
TL_DEVICE tl_v3 iso_apply_inv(const tl_iso* m, tl_v3 p) { return m_tmul(m, v_sub(p, m->t)); }
/* inverse(a) * b */
TL_DEVICE tl_iso iso_rel(const tl_iso* a, const tl_iso* b) {
    tl_iso rt;
    rt.c0 = v3(a->c0.x, a->c1.x, a->c2.x);
    rt.c1 = v3(a->c0.y, a->c1.y, a->c2.y);
    rt.c2 = v3(a->c0.z, a->c1.z, a->c2.z);
    rt.t = v_neg(m_mul(&rt, a->t));
    tl_iso r;
    r.c0 = m_mul(&rt, b->c0);
    r.c1 = m_mul(&rt, b->c1);
    r.c2 = m_mul(&rt, b->c2);
    r.t = iso_apply(&rt, b->t);
    return r;
}

/* ---- tri.rs ---- */

/* Closest points of segments p + t a and q + u b, and a separating direction (seg_points). */
TL_DEVICE void seg_points(tl_v3 p, tl_v3 a, tl_v3 q, tl_v3 b, tl_v3* x, tl_v3* y, tl_v3* vec) {
    tl_v3 t_v = v_sub(q, p);
    double a_a = v_dot(a, a), b_b = v_dot(b, b), a_b = v_dot(a, b);
    double a_t = v_dot(a, t_v), b_t = v_dot(b, t_v);
    double denom = a_a * b_b - a_b * a_b;
    double t = (a_t * b_b - b_t * a_b) / denom;
    if (!(t >= 0.0)) {
        t = 0.0;
    } else if (t > 1.0) {
        t = 1.0;
    }
    double u = (t * a_b - b_t) / b_b;
    if (!(u > 0.0)) {
        *y = q;
        t = a_t / a_a;
        if (!(t > 0.0)) {
            *x = p;
            *vec = v_sub(q, p);
        } else if (t >= 1.0) {
            *x = v_add(p, a);
            *vec = v_sub(q, *x);
        } else {
            *x = v_add(p, v_mul(a, t));
            *vec = v_cross(a, v_cross(t_v, a));
        }
    } else if (u >= 1.0) {
        *y = v_add(q, b);
        t = (a_b + a_t) / a_a;
        if (!(t > 0.0)) {
            *x = p;
            *vec = v_sub(*y, p);
        } else if (t >= 1.0) {
            *x = v_add(p, a);
            *vec = v_sub(*y, *x);
        } else {
            *x = v_add(p, v_mul(a, t));
            *vec = v_cross(a, v_cross(v_sub(*y, p), a));
        }
    } else {
        *y = v_add(q, v_mul(b, u));
        if (!(t > 0.0)) {
            *x = p;
            *vec = v_cross(b, v_cross(t_v, b));
        } else if (t >= 1.0) {
            *x = v_add(p, a);
            *vec = v_cross(b, v_cross(v_sub(q, *x), b));
        } else {
            *x = v_add(p, v_mul(a, t));
            tl_v3 v = v_cross(a, b);
            if (v_dot(v, t_v) < 0.0) {
                v = v_neg(v);
            }
            *vec = v;
        }
    }
}

TL_DEVICE tl_tritri tritri(double dist2, tl_v3 p, tl_v3 q, int intersect) {
    tl_tritri r;
    r.dist2 = dist2;
    r.p = p;
    r.q = q;
    r.intersect = intersect;
    return r;
}

/* A vertex of t against the face of s (vertex_face); returns 1 with the answer in *out. */
TL_DEVICE int vertex_face(const tl_v3* s, const tl_v3* sv, const tl_v3* t, int* shown_disjoint, tl_tritri* out) {
    tl_v3 sn = v_cross(sv[0], sv[1]);
    double snl = v_dot(sn, sn);
    if (snl <= 1e-30) {
        return 0;
    }
    double tp[3];
    tp[0] = v_dot(v_sub(s[0], t[0]), sn);
    tp[1] = v_dot(v_sub(s[0], t[1]), sn);
    tp[2] = v_dot(v_sub(s[0], t[2]), sn);
    int k;
    if (tp[0] > 0.0 && tp[1] > 0.0 && tp[2] > 0.0) {
        k = tp[0] < tp[1] ? (tp[0] < tp[2] ? 0 : 2) : (tp[1] < tp[2] ? 1 : 2);
    } else if (tp[0] < 0.0 && tp[1] < 0.0 && tp[2] < 0.0) {
        k = tp[0] > tp[1] ? (tp[0] > tp[2] ? 0 : 2) : (tp[1] > tp[2] ? 1 : 2);
    } else {
        return 0;
    }
    *shown_disjoint = 1;
    tl_v3 x = t[k];
    if (v_dot(v_sub(x, s[0]), v_cross(sn, sv[0])) > 0.0 && v_dot(v_sub(x, s[1]), v_cross(sn, sv[1])) > 0.0 &&
        v_dot(v_sub(x, s[2]), v_cross(sn, sv[2])) > 0.0) {
        tl_v3 p = v_add(x, v_mul(sn, tp[k] / snl));
        tl_v3 d = v_sub(p, x);
        *out = tritri(v_dot(d, d), p, x, 0);
        return 1;
    }
    return 0;
}

/* Line origin + t dir against a triangle (line_triangle): returns 1 with the crossing's t in *param. */
TL_DEVICE int line_triangle(tl_v3 origin, tl_v3 dir, const tl_v3* tri, double* param) {
    tl_v3 e1 = v_sub(tri[1], tri[0]);
    tl_v3 e2 = v_sub(tri[2], tri[0]);
    tl_v3 h = v_cross(dir, e2);
    double det = v_dot(e1, h);
    if (fabs(det) < 1e-300) {
        return 0;
    }
    double inv = 1.0 / det;
    tl_v3 s = v_sub(origin, tri[0]);
    double u = v_dot(s, h) * inv;
    if (!(u >= 0.0 && u <= 1.0)) {
        return 0;
    }
    tl_v3 q = v_cross(s, e1);
    double v = v_dot(dir, q) * inv;
    if (v < 0.0 || u + v > 1.0) {
        return 0;
    }
    *param = v_dot(e2, q) * inv;
    return 1;
}

/* Segment p0 -> p1 against a triangle (segment_triangle); returns 1 with the parameter in *param. */
TL_DEVICE int segment_triangle(tl_v3 p0, tl_v3 p1, const tl_v3* tri, double* param) {
    double t;
    if (line_triangle(p0, v_sub(p1, p0), tri, &t) && t >= 0.0 && t <= 1.0) {
        *param = t;
        return 1;
    }
    return 0;
}

/* A point where an edge of one triangle crosses the other (crossing_point). */
TL_DEVICE int crossing_point(const tl_v3* s, const tl_v3* t, tl_v3* x) {
    for (int side = 0; side < 2; side++) {
        const tl_v3* a = side == 0 ? s : t;
        const tl_v3* b = side == 0 ? t : s;
        for (int i = 0; i < 3; i++) {
            tl_v3 p0 = a[i], p1 = a[(i + 1) % 3];
            double u = 0.0;
            if (segment_triangle(p0, p1, b, &u)) {
                *x = v_add(p0, v_mul(v_sub(p1, p0), u));
                return 1;
            }
        }
    }
    return 0;
}

/* Exact triangle-triangle distance (tri_tri). */
TL_DEVICE tl_tritri tri_tri(const tl_v3* s, const tl_v3* t) {
    tl_v3 sv[3], tv[3];
    sv[0] = v_sub(s[1], s[0]);
    sv[1] = v_sub(s[2], s[1]);
    sv[2] = v_sub(s[0], s[2]);
    tv[0] = v_sub(t[1], t[0]);
    tv[1] = v_sub(t[2], t[1]);
    tv[2] = v_sub(t[0], t[2]);
    int shown_disjoint = 0;
    tl_v3 min_p = s[0], min_q = t[0];
    double mindd = TL_INFINITY;
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++) {
            tl_v3 p, q, vec;
            seg_points(s[i], sv[i], t[j], tv[j], &p, &q, &vec);
            tl_v3 v = v_sub(q, p);
            double dd = v_dot(v, v);
            if (dd <= mindd) {
                min_p = p;
                min_q = q;
                mindd = dd;
                double a = v_dot(v_sub(s[(i + 2) % 3], p), vec);
                double b = v_dot(v_sub(t[(j + 2) % 3], q), vec);
                if (a <= 0.0 && b >= 0.0) {
                    return tritri(dd, p, q, dd == 0.0);
                }
                double pp = v_dot(v, vec);
                if (a < 0.0) {
                    a = 0.0;
                }
                if (b > 0.0) {
                    b = 0.0;
                }
                if (pp - a + b > 0.0) {
                    shown_disjoint = 1;
                }
            }
        }
    }
    tl_tritri r = tritri(mindd, min_p, min_q, 0);
    if (vertex_face(s, sv, t, &shown_disjoint, &r)) {
        return r;
    }
    if (vertex_face(t, tv, s, &shown_disjoint, &r)) {
        return tritri(r.dist2, r.q, r.p, r.intersect);
    }
    if (shown_disjoint || mindd == 0.0) {
        return tritri(mindd, min_p, min_q, mindd == 0.0);
    }
    tl_v3 x = min_p;
    if (crossing_point(s, t, &x)) {
        return tritri(0.0, x, x, 1);
    }
    return tritri(mindd, min_p, min_q, 0);
}

/* Ray origin + t dir (t > 0) against a triangle (ray_triangle). */
TL_DEVICE int ray_triangle(tl_v3 origin, tl_v3 dir, const tl_v3* tri) {
    double t;
    return line_triangle(origin, dir, tri, &t) && t > 0.0;
}

/* ---- bvh.rs ---- */

TL_DEVICE void tri_load(const double* tri, tl_u32 slot, tl_v3* out) {
    const double* p = tri + 9 * (tl_u64)slot;
    out[0] = v_load(p);
    out[1] = v_load(p + 3);
    out[2] = v_load(p + 6);
}

TL_DEVICE int ray_hits_box(tl_v3 o, tl_v3 inv, const double* nf) {
    tl_v3 c = v_load(nf), h = v_load(nf + 3);
    tl_v3 lo = v_sub(c, h), hi = v_add(c, h);
    double ov[3] = {o.x, o.y, o.z}, iv[3] = {inv.x, inv.y, inv.z};
    double lv[3] = {lo.x, lo.y, lo.z}, hv[3] = {hi.x, hi.y, hi.z};
    double tmin = 0.0, tmax = TL_INFINITY;
    for (int k = 0; k < 3; k++) {
        double a = (lv[k] - ov[k]) * iv[k];
        double b = (hv[k] - ov[k]) * iv[k];
        if (!(a < b)) {
            double s = a;
            a = b;
            b = s;
        }
        tmin = fmax(tmin, a);
        tmax = fmin(tmax, b);
    }
    return tmin <= tmax;
}

/* Bvh::ray_crossings; -1 when the stack overflowed. */
TL_DEVICE int ray_crossings(const double* node_f, const tl_u32* node_u, const double* tri, tl_u32 root,
                            tl_v3 origin, tl_v3 dir) {
    tl_v3 inv = v3(1.0 / dir.x, 1.0 / dir.y, 1.0 / dir.z);
    tl_u32 stack[TL_STACK];
    int sp = 0, count = 0;
    stack[sp++] = root;
    while (sp > 0) {
        tl_u32 ni = stack[--sp];
        if (!ray_hits_box(origin, inv, node_f + 6 * (tl_u64)ni)) {
            continue;
        }
        tl_u32 first = node_u[2 * ni], n = node_u[2 * ni + 1];
        if (n > 0) {
            for (tl_u32 slot = first; slot < first + n; slot++) {
                tl_v3 t[3];
                tri_load(tri, slot, t);
                count += ray_triangle(origin, dir, t);
            }
        } else {
            if (sp + 2 > TL_STACK) {
                return -1;
            }
            stack[sp++] = first;
            stack[sp++] = first + 1;
        }
    }
    return count;
}

/* Collider::contains_local: 1 inside, 0 outside, -1 stack overflow. */
TL_DEVICE int contains_local(const double* node_f, const tl_u32* node_u, const double* tri, const tl_u32* col_u,
                             tl_u32 c, tl_v3 p) {
    tl_u32 root = col_u[3 * c];
    if (!(col_u[3 * c + 2] & 1u) || col_u[3 * c + 1] == 0) {
        return 0;
    }
    const double* nf = node_f + 6 * (tl_u64)root;
    tl_v3 lo = v_sub(v_load(nf), v_load(nf + 3)), hi = v_add(v_load(nf), v_load(nf + 3));
    if (!(p.x >= lo.x && p.y >= lo.y && p.z >= lo.z && p.x <= hi.x && p.y <= hi.y && p.z <= hi.z)) {
        return 0;
    }
    int votes = 0;
    for (int k = 0; k < 3; k++) {
        tl_v3 d = k == 0   ? v3(0.5773502691, 0.5773710419, 0.5773295001)
                  : k == 1 ? v3(-0.4082482905, 0.8164965809, -0.4082482904)
                           : v3(0.70712, -0.0000137, -0.70709);
        int n = ray_crossings(node_f, node_u, tri, root, p, d);
        if (n < 0) {
            return -1;
        }
        votes += n % 2;
    }
    return votes >= 2;
}

/* ---- distance.rs ---- */

/* Squared distance between node ia of A and node ib of B placed by rel (box_box_dist2). */
TL_DEVICE double node_bound(const double* node_f, tl_u32 ia, tl_u32 ib, const tl_iso* rel, const tl_iso* abs_r) {
    const double* x = node_f + 6 * (tl_u64)ia;
    const double* y = node_f + 6 * (tl_u64)ib;
    tl_v3 c2 = iso_apply(rel, v_load(y)), h2 = m_mul(abs_r, v_load(y + 3));
    tl_v3 d = v_max(v_sub(v_sub(v_abs(v_sub(v_load(x), c2)), v_load(x + 3)), h2), v3(0.0, 0.0, 0.0));
    return v_dot(d, d);
}

TL_DEVICE double node_size(const double* node_f, tl_u32 i) {
    const double* h = node_f + 6 * (tl_u64)i + 3;
    return h[0] + h[1] + h[2];
}

/* The closest pair found so far (in A's frame). */
typedef struct {
    int found, intersect;
    double dist2;
    tl_v3 p, q;
    tl_u32 tri_a, tri_b;
} tl_best;

/* mesh_distance in A's local frame; returns 0 on stack overflow. */
TL_DEVICE int mesh_distance(const double* node_f, const tl_u32* node_u, const double* tri, const tl_u32* tri_id,
                            tl_u32 ra, tl_u32 rb, const tl_iso* rel, tl_best* f) {
    tl_iso abs_r = *rel;
    abs_r.c0 = v_abs(rel->c0);
    abs_r.c1 = v_abs(rel->c1);
    abs_r.c2 = v_abs(rel->c2);
    double best = TL_INFINITY;
    f->found = 0;
    f->intersect = 0;
    f->dist2 = best;
    f->p = v3(0.0, 0.0, 0.0);
    f->q = f->p;
    f->tri_a = 0;
    f->tri_b = 0;
    tl_u32 st_a[TL_STACK], st_b[TL_STACK];
    double st_lb[TL_STACK];
    int sp = 0;
    st_a[0] = ra;
    st_b[0] = rb;
    st_lb[0] = node_bound(node_f, ra, rb, rel, &abs_r);
    sp = 1;
    tl_v3 tb[TL_LEAF_MAX][3], tb_min[TL_LEAF_MAX], tb_max[TL_LEAF_MAX];
    while (sp > 0) {
        sp--;
        tl_u32 ia = st_a[sp], ib = st_b[sp];
        if (st_lb[sp] >= best) {
            continue;
        }
        tl_u32 xa = node_u[2 * ia], xn = node_u[2 * ia + 1];
        tl_u32 ya = node_u[2 * ib], yn = node_u[2 * ib + 1];
        if (xn > 0 && yn > 0) {
            for (tl_u32 k = 0; k < yn; k++) {
                tl_v3 t[3];
                tri_load(tri, ya + k, t);
                tb[k][0] = iso_apply(rel, t[0]);
                tb[k][1] = iso_apply(rel, t[1]);
                tb[k][2] = iso_apply(rel, t[2]);
                tb_min[k] = v_min(v_min(tb[k][0], tb[k][1]), tb[k][2]);
                tb_max[k] = v_max(v_max(tb[k][0], tb[k][1]), tb[k][2]);
            }
            for (tl_u32 sa = xa; sa < xa + xn; sa++) {
                tl_v3 ta[3];
                tri_load(tri, sa, ta);
                tl_v3 amin = v_min(v_min(ta[0], ta[1]), ta[2]);
                tl_v3 amax = v_max(v_max(ta[0], ta[1]), ta[2]);
                for (tl_u32 k = 0; k < yn; k++) {
                    tl_v3 gap = v_max(v_max(v_sub(amin, tb_max[k]), v_sub(tb_min[k], amax)), v3(0.0, 0.0, 0.0));
                    if (v_dot(gap, gap) >= best) {
                        continue;
                    }
                    tl_tritri r = tri_tri(ta, tb[k]);
                    if (r.dist2 < best || (r.intersect && (!f->found || !f->intersect))) {
                        best = r.dist2;
                        f->found = 1;
                        f->intersect = r.intersect;
                        f->dist2 = r.dist2;
                        f->p = r.p;
                        f->q = r.q;
                        f->tri_a = tri_id[sa];
                        f->tri_b = tri_id[ya + k];
                        if (r.intersect) {
                            return 1;
                        }
                    }
                }
            }
            continue;
        }
        int descend_a = xn == 0 && (yn > 0 || node_size(node_f, ia) >= node_size(node_f, ib));
        tl_u32 c1a = descend_a ? xa : ia, c1b = descend_a ? ib : ya;
        tl_u32 c2a = descend_a ? xa + 1 : ia, c2b = descend_a ? ib : ya + 1;
        double d1 = node_bound(node_f, c1a, c1b, rel, &abs_r);
        double d2 = node_bound(node_f, c2a, c2b, rel, &abs_r);
        if (sp + 2 > TL_STACK) {
            return 0;
        }
        /* Push the farther pair first so the nearer one is explored first. */
        if (d1 <= d2) {
            if (d2 < best) {
                st_a[sp] = c2a, st_b[sp] = c2b, st_lb[sp] = d2, sp++;
            }
            if (d1 < best) {
                st_a[sp] = c1a, st_b[sp] = c1b, st_lb[sp] = d1, sp++;
            }
        } else {
            if (d1 < best) {
                st_a[sp] = c1a, st_b[sp] = c1b, st_lb[sp] = d1, sp++;
            }
            if (d2 < best) {
                st_a[sp] = c2a, st_b[sp] = c2b, st_lb[sp] = d2, sp++;
            }
        }
    }
    return 1;
}

/* One query: distance, verdicts and (when not intersecting) the first-vertex inside tests. */
TL_DEVICE void study_query(const double* node_f, const tl_u32* node_u, const double* tri, const tl_u32* tri_id,
                           const tl_u32* col_u, const double* col_f, const double* pose, const tl_u32* query,
                           tl_u64 i, double* out_f, tl_u32* out_u) {
    const tl_u32* q = query + 4 * i;
    tl_u32 a = q[0], b = q[2];
    tl_iso pa = iso_load(pose + 12 * (tl_u64)q[1]);
    tl_iso pb = iso_load(pose + 12 * (tl_u64)q[3]);
    double* of = out_f + 7 * i;
    tl_u32* ou = out_u + 3 * i;
    for (int k = 0; k < 7; k++) {
        of[k] = 0.0;
    }
    ou[0] = 0;
    ou[1] = 0;
    ou[2] = 0;
    if (col_u[3 * a + 1] == 0 || col_u[3 * b + 1] == 0) {
        return;
    }
    tl_iso rel = iso_rel(&pa, &pb);
    tl_best f;
    if (!mesh_distance(node_f, node_u, tri, tri_id, col_u[3 * a], col_u[3 * b], &rel, &f)) {
        ou[2] = TL_OVERFLOW;
        return;
    }
    if (!f.found) {
        return;
    }
    tl_u32 flags = TL_FOUND | (f.intersect ? TL_INTERSECT : 0u);
    if (!f.intersect) {
        /* B contains A's first vertex, or A contains B's (the study's order). */
        int in = 0;
        if (col_u[3 * a + 2] & 2u) {
            tl_v3 v = iso_apply_inv(&pb, iso_apply(&pa, v_load(col_f + 3 * (tl_u64)a)));
            in = contains_local(node_f, node_u, tri, col_u, b, v);
        }
        if (in == 0 && (col_u[3 * b + 2] & 2u)) {
            tl_v3 v = iso_apply_inv(&pa, iso_apply(&pb, v_load(col_f + 3 * (tl_u64)b)));
            in = contains_local(node_f, node_u, tri, col_u, a, v);
        }
        if (in < 0) {
            ou[2] = TL_OVERFLOW;
            return;
        }
        if (in) {
            flags |= TL_INSIDE;
        }
    }
    of[0] = f.intersect ? 0.0 : sqrt(f.dist2);
    tl_v3 wp = iso_apply(&pa, f.p), wq = iso_apply(&pa, f.q);
    of[1] = wp.x;
    of[2] = wp.y;
    of[3] = wp.z;
    of[4] = wq.x;
    of[5] = wq.y;
    of[6] = wq.z;
    ou[0] = f.tri_a;
    ou[1] = f.tri_b;
    ou[2] = flags;
}

#ifdef TL_CUDA
/* One thread per query. */
TL_GLOBAL void tl_biw_study(const double* node_f, const tl_u32* node_u, const double* tri, const tl_u32* tri_id,
                            const tl_u32* col_u, const double* col_f, const double* pose, const tl_u32* query,
                            double* out_f, tl_u32* out_u, tl_u32 n) {
    tl_u64 i = (tl_u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        study_query(node_f, node_u, tri, tri_id, col_u, col_f, pose, query, i, out_f, out_u);
    }
}
#endif

#ifndef TL_CUDA
/* The same per-query code on the host: queries [0, n) of the arrays given. */
TL_HOST_EXPORT void tl_biw_study_host(const double* node_f, const tl_u32* node_u, const double* tri,
                                      const tl_u32* tri_id, const tl_u32* col_u, const double* col_f,
                                      const double* pose, const tl_u32* query, double* out_f, tl_u32* out_u,
                                      tl_u32 n) {
    for (tl_u64 i = 0; i < n; i++) {
        study_query(node_f, node_u, tri, tri_id, col_u, col_f, pose, query, i, out_f, out_u);
    }
}
#endif
