/* Vector and rigid-transform helpers shared by the BIW kernels (extensions/biw/kernels/math.h).
 *
 * Prepended to study.cu and reach.cu after gpu/kernels/prelude.h: by src/gpu (for NVRTC) and by build.rs
 * (`-include`, for the host build). Same operation order as twinloom_biw::math (doubles, no contraction).
 */

typedef struct {
    double x, y, z;
} tl_v3;

typedef struct {
    tl_v3 c0, c1, c2; /* rotation columns */
    tl_v3 t;
} tl_iso;

TL_DEVICE tl_v3 v3(double x, double y, double z) {
    tl_v3 r;
    r.x = x;
    r.y = y;
    r.z = z;
    return r;
}
TL_DEVICE tl_v3 v_add(tl_v3 a, tl_v3 b) { return v3(a.x + b.x, a.y + b.y, a.z + b.z); }
TL_DEVICE tl_v3 v_sub(tl_v3 a, tl_v3 b) { return v3(a.x - b.x, a.y - b.y, a.z - b.z); }
TL_DEVICE tl_v3 v_mul(tl_v3 a, double s) { return v3(a.x * s, a.y * s, a.z * s); }
TL_DEVICE double v_dot(tl_v3 a, tl_v3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
TL_DEVICE tl_v3 v_load(const double* p) { return v3(p[0], p[1], p[2]); }

/* Mat3::mul_vec. */
TL_DEVICE tl_v3 m_mul(const tl_iso* m, tl_v3 v) {
    return v_add(v_add(v_mul(m->c0, v.x), v_mul(m->c1, v.y)), v_mul(m->c2, v.z));
}

/* An isometry stored as rotation columns (9 doubles) then translation (3). */
TL_DEVICE tl_iso iso_load(const double* p) {
    tl_iso m;
    m.c0 = v_load(p);
    m.c1 = v_load(p + 3);
    m.c2 = v_load(p + 6);
    m.t = v_load(p + 9);
    return m;
}
