/* The BIW reach study's kernels (extensions/biw/kernels/reach.cu).
 *
 * Written once in the C subset of gpu/kernels/prelude.h: NVRTC compiles it for the GPU, build.rs compiles
 * it for the host (loops over the same items) so CPU-only tests check it against the Rust path. It holds
 * the OPW inverse kinematics of twinloom_biw::kinematics (all 8 branches, wrap, joint limits with whole
 * turns) and the data-parallel parts of twinloom_biw::reach:
 *  - solve: per (weld point, base shift), the first allowed spin (in the settings' order) at which the
 *    point is reachable within joint limits, and the first solution there (`solve_with_spin`; with a base
 *    shift, the feasibility test of `suggest_base_shift`);
 *  - grid: `nearest_reachable`'s coarse grid over joints 1-3 and the spin, per (unreachable point, run of
 *    grid cells): the distance of every feasible grid pose, keeping the run's 6 nearest (ties in grid
 *    order), which the host merges into the point's 6 nearest;
 *  - climb: `nearest_reachable`'s pattern search from one of those 6 starts (sequential in Rust; here run
 *    ahead on many lanes with the same result, see below), then the solution nearest to the final joints
 *    1-3.
 * Every operation follows the Rust code in order (doubles, no contraction), so the host build is bit for
 * bit the Rust path; on the GPU only the math library's last bits may differ.
 *
 * Layout (built by src/gpu/reach.rs):
 *  rm[57]       robot model: a1 a2 b c1 c2 c3 c4 (0..7), offsets (7..13), signs (13..19), limits lo,hi per
 *               joint (19..31), tool is identity (31), tool inverse rotation columns + translation
 *               (32..44), tool rotation transposed, columns (44..53), tool translation + z c4 (53..56),
 *               spin tolerance of the nearest-pose search (56)
 *  pose[12p]    weld points in the base frame: rotation columns (9), translation (3)
 *  shift[3c]    base shifts (the point seen from the shifted base is p - shift)
 *  spins[ns]    allowed spins about the approach axis, in order (ReachSettings::spins)
 *  axes[n0+n1+n2], dims[4] = n0 n1 n2 nspin, spin_vals[nspin]: the coarse grid
 *  h0[4]        the pattern search's initial steps
 */

#define TL_PI 3.141592653589793
/* The inverse kinematics and the reach tests around it are called from many places: on the GPU they stay
 * functions (inlining them everywhere made NVRTC take ~19 s instead of ~3.5 s on 2 cores). */
#ifdef TL_CUDA
#define TL_CALLED __device__ __noinline__
#else
#define TL_CALLED static
#endif
#ifdef TL_CUDA
#define TL_NAN __longlong_as_double(0x7ff8000000000000ULL)
#else
#define TL_NAN NAN
#endif
#define TL_TOP 6
#define RM_LIMITS 19
#define RM_TOOL_IDENTITY 31
#define RM_TOOL_INV 32
#define RM_TOOL_RT 44
#define RM_TOOL_OFF 53
#define RM_TOL 56

TL_DEVICE int is_nan(double x) { return x != x; }

/* Mat3::mul_mat, rot_y, rot_z; Iso3::mul (math.rs, same operation order). */
TL_DEVICE tl_iso m_mul_mat(const tl_iso* a, const tl_iso* b) {
    tl_iso r;
    r.c0 = m_mul(a, b->c0);
    r.c1 = m_mul(a, b->c1);
    r.c2 = m_mul(a, b->c2);
    r.t = v3(0.0, 0.0, 0.0);
    return r;
}
TL_DEVICE tl_iso rot_z(double a) {
    double s = sin(a), c = cos(a);
    tl_iso r;
    r.c0 = v3(c, s, 0.0);
    r.c1 = v3(-s, c, 0.0);
    r.c2 = v3(0.0, 0.0, 1.0);
    r.t = v3(0.0, 0.0, 0.0);
    return r;
}
TL_DEVICE tl_iso rot_y(double a) {
    double s = sin(a), c = cos(a);
    tl_iso r;
    r.c0 = v3(c, 0.0, -s);
    r.c1 = v3(0.0, 1.0, 0.0);
    r.c2 = v3(s, 0.0, c);
    r.t = v3(0.0, 0.0, 0.0);
    return r;
}
/* a * b: rotation a.rot b.rot, translation a.rot b.t + a.t */
TL_DEVICE tl_iso iso_mul(const tl_iso* a, const tl_iso* b) {
    tl_iso r = m_mul_mat(a, b);
    r.t = v_add(m_mul(a, b->t), a->t);
    return r;
}

/* ---- kinematics.rs ---- */

/* wrap: normalises an angle to (-pi, pi]. */
TL_DEVICE double wrap_angle(double a) {
    double x = fabs(a) > 8.0 * TL_PI ? fmod(a, 2.0 * TL_PI) : a;
    while (x > TL_PI) {
        x -= 2.0 * TL_PI;
    }
    while (x <= -TL_PI) {
        x += 2.0 * TL_PI;
    }
    return x;
}

TL_DEVICE int turns_within(double v, double lo, double hi, double* out);

/* opw_inverse_where with the limit-aware solvers' test (RobotModel::inverse_in_limits): the 8 branches of the
 * flange pose, NaN rows for unreachable ones and for arms whose joints 1-3 have no value within limits. */
TL_CALLED void opw_inverse(const double* rm, const tl_iso* pose, double out[8][6]) {
    double a1 = rm[0], a2 = rm[1], b = rm[2], c1 = rm[3], c2 = rm[4], c3 = rm[5], c4 = rm[6];
    tl_v3 z = pose->c2;
    tl_v3 c = v_sub(pose->t, v_mul(z, c4));
    double cx = c.x, cy = c.y, cz = c.z;
    double nx1 = sqrt(cx * cx + cy * cy - b * b) - a1;
    double tmp1 = atan2(cy, cx);
    double tmp2 = atan2(b, nx1 + a1);
    double th1_i = tmp1 - tmp2;
    double th1_ii = tmp1 + tmp2 - TL_PI;
    double tmp3 = cz - c1;
    double s1_2 = nx1 * nx1 + tmp3 * tmp3;
    double tmp4 = nx1 + 2.0 * a1;
    double s2_2 = tmp4 * tmp4 + tmp3 * tmp3;
    double kappa_2 = a2 * a2 + c3 * c3;
    double c2_2 = c2 * c2;
    double s1 = sqrt(s1_2);
    double s2 = sqrt(s2_2);
    double tmp13 = acos((s1_2 + c2_2 - kappa_2) / (2.0 * s1 * c2));
    double tmp14 = atan2(nx1, tmp3);
    double th2_i = -tmp13 + tmp14;
    double th2_ii = tmp13 + tmp14;
    double tmp15 = acos((s2_2 + c2_2 - kappa_2) / (2.0 * s2 * c2));
    double tmp16 = atan2(tmp4, tmp3);
    double th2_iii = -tmp15 - tmp16;
    double th2_iv = tmp15 - tmp16;
    double tmp9 = 2.0 * c2 * sqrt(kappa_2);
    double tmp10 = atan2(a2, c3);
    double tmp11 = acos((s1_2 - c2_2 - kappa_2) / tmp9);
    double tmp12 = acos((s2_2 - c2_2 - kappa_2) / tmp9);
    double arms[4][3] = {
        {th1_i, th2_i, tmp11 - tmp10},
        {th1_i, th2_ii, -tmp11 - tmp10},
        {th1_ii, th2_iii, tmp12 - tmp10},
        {th1_ii, th2_iv, -tmp12 - tmp10},
    };
    double e00 = pose->c0.x, e10 = pose->c0.y, e20 = pose->c0.z;
    double e01 = pose->c1.x, e11 = pose->c1.y, e21 = pose->c1.z;
    double e02 = z.x, e12 = z.y, e22 = z.z;
    for (int k = 0; k < 8; k++) {
        for (int i = 0; i < 6; i++) {
            out[k][i] = TL_NAN;
        }
    }
    double sc1[2][2] = {{sin(th1_i), cos(th1_i)}, {sin(th1_ii), cos(th1_ii)}};
    for (int k = 0; k < 4; k++) {
        double t1 = arms[k][0], t2 = arms[k][1], t3 = arms[k][2];
        int keep = 1;
        for (int i = 0; i < 3; i++) {
            double turns[5];
            double v = wrap_angle((arms[k][i] + rm[7 + i]) * rm[13 + i]);
            keep &= turns_within(v, rm[RM_LIMITS + 2 * i], rm[RM_LIMITS + 2 * i + 1], turns) > 0;
        }
        if (!keep) {
            continue;
        }
        double s1k = sc1[k / 2][0], c1k = sc1[k / 2][1];
        double s23 = sin(t2 + t3), c23 = cos(t2 + t3);
        double m = e02 * s23 * c1k + e12 * s23 * s1k + e22 * c23;
        double t5 = atan2(sqrt(fmax(1.0 - m * m, 0.0)), m);
        double t4 = atan2(e12 * c1k - e02 * s1k, e02 * c23 * c1k + e12 * c23 * s1k - e22 * s23);
        double t6 = atan2(e01 * s23 * c1k + e11 * s23 * s1k + e21 * c23, -e00 * s23 * c1k - e10 * s23 * s1k - e20 * c23);
        double th[2][6] = {{t1, t2, t3, t4, t5, t6}, {t1, t2, t3, t4 + TL_PI, -t5, t6 - TL_PI}};
        for (int w = 0; w < 2; w++) {
            int nan = 0;
            for (int i = 0; i < 6; i++) {
                nan |= is_nan(th[w][i]);
            }
            if (nan) {
                continue;
            }
            for (int i = 0; i < 6; i++) {
                out[k + 4 * w][i] = wrap_angle((th[w][i] + rm[7 + i]) * rm[13 + i]);
            }
        }
    }
}

/* RobotModel::inverse: the flange pose of a tool pose, then the 8 branches. */
TL_DEVICE void robot_inverse(const double* rm, const tl_iso* tool_pose, double out[8][6]) {
    if (rm[RM_TOOL_IDENTITY] != 0.0) {
        opw_inverse(rm, tool_pose, out);
    } else {
        tl_iso inv = iso_load(rm + RM_TOOL_INV);
        tl_iso flange = iso_mul(tool_pose, &inv);
        opw_inverse(rm, &flange, out);
    }
}

/* turns_within: the joint value plus -2..=2 turns inside the limits, in that order; returns how many. */
TL_DEVICE int turns_within(double v, double lo, double hi, double* out) {
    int n = 0;
    for (int k = -2; k <= 2; k++) {
        double x = v + 2.0 * TL_PI * (double)k;
        if (x >= lo && x <= hi) {
            out[n++] = x;
        }
    }
    return n;
}

/* turn_options: every joint's turns within limits; 0 when the branch is unreachable or a joint has none. */
TL_DEVICE int turn_options(const double* rm, const double* sol, double opt[6][5], int* count) {
    if (is_nan(sol[0])) {
        return 0;
    }
    for (int j = 0; j < 6; j++) {
        count[j] = turns_within(sol[j], rm[RM_LIMITS + 2 * j], rm[RM_LIMITS + 2 * j + 1], opt[j]);
        if (count[j] == 0) {
            return 0;
        }
    }
    return 1;
}

/* RobotModel::first_within_limits: 1 and the first solution within limits, or 0. */
TL_DEVICE int first_within_limits(const double* rm, const tl_iso* pose, double* q) {
    double sols[8][6];
    robot_inverse(rm, pose, sols);
    for (int k = 0; k < 8; k++) {
        double opt[6][5];
        int count[6];
        if (turn_options(rm, sols[k], opt, count)) {
            for (int j = 0; j < 6; j++) {
                q[j] = opt[j][0];
            }
            return 1;
        }
    }
    return 0;
}

/* RobotModel::reachable: some solution is within limits. */
TL_CALLED int reachable(const double* rm, const tl_iso* pose) {
    double q[6];
    return first_within_limits(rm, pose, q);
}

/* RobotModel::nearest_within_limits: the solution nearest to q in joints 1-3 (first on ties), or 0. */
TL_DEVICE int nearest_within_limits(const double* rm, const tl_iso* pose, const double* q, double* best_q) {
    double sols[8][6];
    robot_inverse(rm, pose, sols);
    int found = 0;
    double best = 0.0;
    for (int k = 0; k < 8; k++) {
        double opt[6][5];
        int count[6];
        if (!turn_options(rm, sols[k], opt, count)) {
            continue;
        }
        for (int ia = 0; ia < count[0]; ia++) {
            for (int ib = 0; ib < count[1]; ib++) {
                for (int ic = 0; ic < count[2]; ic++) {
                    double a = opt[0][ia], b = opt[1][ib], c = opt[2][ic];
                    double d = fabs(a - q[0]) + fabs(b - q[1]) + fabs(c - q[2]);
                    if (!found || d < best) {
                        found = 1;
                        best = d;
                        best_q[0] = a;
                        best_q[1] = b;
                        best_q[2] = c;
                        best_q[3] = opt[3][0];
                        best_q[4] = opt[4][0];
                        best_q[5] = opt[5][0];
                    }
                }
            }
        }
    }
    return found;
}

/* The wrist centre (link 5's origin) for joints 1-3, the others 0 (RobotModel::link_frames). */
TL_CALLED tl_v3 wrist_centre(const double* rm, const double* q3) {
    double t[4];
    for (int i = 0; i < 4; i++) {
        double qi = i < 3 ? q3[i] : 0.0;
        t[i] = qi * rm[13 + i] - rm[7 + i];
    }
    tl_iso l1 = rot_z(t[0]);
    tl_iso j2 = rot_y(t[1]);
    j2.t = v3(rm[0], rm[2], rm[3]);
    tl_iso l2 = iso_mul(&l1, &j2);
    tl_iso j3 = rot_y(t[2]);
    j3.t = v3(0.0, 0.0, rm[4]);
    tl_iso l3 = iso_mul(&l2, &j3);
    tl_iso j4 = rot_z(t[3]);
    j4.t = v3(rm[1], 0.0, 0.0);
    tl_iso l4 = iso_mul(&l3, &j4);
    return v_add(m_mul(&l4, v3(0.0, 0.0, rm[5])), l4.t);
}

/* ---- reach.rs ---- */

/* spun: the pose rotated by spin about its approach (z) axis. */
TL_DEVICE tl_iso spun(const tl_iso* pose, double spin) {
    if (spin == 0.0) {
        return *pose;
    }
    tl_iso rz = rot_z(spin);
    tl_iso r = m_mul_mat(pose, &rz);
    r.t = pose->t;
    return r;
}

/* solve_with_spin / reachable_with_spin for the point seen from a base shifted by `shift`: the index of the
 * first spin at which it is reachable (and the first solution there when q is not null), or -1. */
TL_DEVICE tl_i32 first_spin(const double* rm, const double* pose12, tl_v3 shift, const double* spins, tl_u32 ns,
                            double* q) {
    tl_iso p = iso_load(pose12);
    p.t = v_sub(p.t, shift);
    for (tl_u32 k = 0; k < ns; k++) {
        tl_iso s = spun(&p, spins[k]);
        if (q ? first_within_limits(rm, &s, q) : reachable(rm, &s)) {
            return (tl_i32)k;
        }
    }
    return -1;
}

/* SearchPoint::wrist: the wrist centre of joints 1-3; 0 when one is out of its limits. */
TL_DEVICE int search_wrist(const double* rm, const double* q, tl_v3* wrist) {
    for (int j = 0; j < 3; j++) {
        if (q[j] < rm[RM_LIMITS + 2 * j] || q[j] > rm[RM_LIMITS + 2 * j + 1]) {
            return 0;
        }
    }
    *wrist = wrist_centre(rm, q);
    return 1;
}

/* SearchPoint::rotation: the tool and flange rotations at `spin`; 0 when it is beyond the tolerance. */
TL_DEVICE int search_rotation(const double* rm, const tl_iso* target, double spin, tl_iso* rot, tl_iso* flange_rot) {
    if (fabs(spin) > rm[RM_TOL] + 1e-12) {
        return 0;
    }
    tl_iso rz = rot_z(spin);
    *rot = m_mul_mat(target, &rz);
    tl_iso rt; /* the tool rotation transposed (rm[44..53]) */
    rt.c0 = v_load(rm + RM_TOOL_RT);
    rt.c1 = v_load(rm + RM_TOOL_RT + 3);
    rt.c2 = v_load(rm + RM_TOOL_RT + 6);
    rt.t = v3(0.0, 0.0, 0.0);
    *flange_rot = m_mul_mat(rot, &rt);
    return 1;
}

/* SearchPoint::pose_at */
TL_DEVICE tl_iso search_pose_at(const double* rm, tl_v3 wrist, const tl_iso* rot, const tl_iso* flange_rot) {
    tl_iso pose = *rot;
    pose.t = v_add(wrist, m_mul(flange_rot, v_load(rm + RM_TOOL_OFF)));
    return pose;
}

/* SearchPoint::reached for the pose at (wrist, rotations): 1, the distance and position when reachable. */
TL_CALLED int search_reached(const double* rm, const tl_iso* target, tl_v3 wrist, const tl_iso* rot,
                             const tl_iso* flange_rot, double* d, tl_v3* pos) {
    tl_iso pose = search_pose_at(rm, wrist, rot, flange_rot);
    if (!reachable(rm, &pose)) {
        return 0;
    }
    tl_v3 v = v_sub(pose.t, target->t);
    *d = sqrt(v_dot(v, v));
    *pos = pose.t;
    return 1;
}

/* SearchPoint::pose: the tool pose of the search point (joints 1-3 `q`, `spin`); 0 when out of range. */
TL_DEVICE int search_pose(const double* rm, const tl_iso* target, const double* q, double spin, tl_iso* pose) {
    tl_v3 wrist;
    tl_iso rot, flange_rot;
    if (!search_wrist(rm, q, &wrist) || !search_rotation(rm, target, spin, &rot, &flange_rot)) {
        return 0;
    }
    *pose = search_pose_at(rm, wrist, &rot, &flange_rot);
    return 1;
}

/* SearchPoint::distance: 1, the distance and position when the search point is reachable. */
TL_DEVICE int search_distance(const double* rm, const tl_iso* target, const double* q, double spin, double* d,
                              tl_v3* pos) {
    tl_v3 wrist;
    tl_iso rot, flange_rot;
    if (!search_wrist(rm, q, &wrist) || !search_rotation(rm, target, spin, &rot, &flange_rot)) {
        return 0;
    }
    return search_reached(rm, target, wrist, &rot, &flange_rot, d, pos);
}

/* Inserts (d, i) into a list of the nearest, ordered by distance, then index. */
TL_DEVICE void top_insert(double* top_d, tl_u32* top_i, double d, tl_u32 i) {
    if (!(d < top_d[TL_TOP - 1] || (d == top_d[TL_TOP - 1] && i < top_i[TL_TOP - 1]))) {
        return;
    }
    int at = TL_TOP - 1;
    while (at > 0 && (d < top_d[at - 1] || (d == top_d[at - 1] && i < top_i[at - 1]))) {
        top_d[at] = top_d[at - 1];
        top_i[at] = top_i[at - 1];
        at--;
    }
    top_d[at] = d;
    top_i[at] = i;
}

/* Cells whose wrist centres a grid run keeps at once. */
#define TL_RUN_BLOCK 16

/* One grid run: cells [cell0, cell0 + ncell) of the target's grid, every spin; the run's nearest 6
 * (index = cell * nspin + spin; empty slots are +inf, 0xffffffff). Each cell's wrist centre and each spin's
 * rotations are computed once per block of cells, as the Rust path does per cell and per spin. */
TL_DEVICE void grid_run(const double* rm, const double* target12, const double* axes, const tl_u32* dims,
                        const double* spin_vals, tl_u32 cell0, tl_u32 ncell, double* top_d, tl_u32* top_i) {
    tl_iso target = iso_load(target12);
    tl_u32 n0 = dims[0], n1 = dims[1], n2 = dims[2], ns = dims[3];
    for (int k = 0; k < TL_TOP; k++) {
        top_d[k] = TL_INFINITY;
        top_i[k] = 0xffffffffu;
    }
    tl_u32 cells = n0 * n1 * n2;
    tl_u32 end = cell0 + ncell < cells ? cell0 + ncell : cells;
    for (tl_u32 b = cell0; b < end; b += TL_RUN_BLOCK) {
        tl_u32 nb = end - b < TL_RUN_BLOCK ? end - b : TL_RUN_BLOCK;
        tl_v3 wrist[TL_RUN_BLOCK];
        int ok[TL_RUN_BLOCK];
        for (tl_u32 c = 0; c < nb; c++) {
            tl_u32 cell = b + c;
            double q[3] = {axes[cell / (n1 * n2)], axes[n0 + (cell / n2) % n1], axes[n0 + n1 + cell % n2]};
            ok[c] = search_wrist(rm, q, &wrist[c]);
        }
        for (tl_u32 s = 0; s < ns; s++) {
            tl_iso rot, flange_rot;
            if (!search_rotation(rm, &target, spin_vals[s], &rot, &flange_rot)) {
                continue;
            }
            for (tl_u32 c = 0; c < nb; c++) {
                double d;
                tl_v3 pos;
                if (ok[c] && search_reached(rm, &target, wrist[c], &rot, &flange_rot, &d, &pos)) {
                    top_insert(top_d, top_i, d, (b + c) * ns + s);
                }
            }
        }
    }
}

/* ---- the pattern search, run ahead on many lanes ----
 *
 * nearest::climb is sequential: each iteration tries the 8 moves (joint 1-3 and spin axes, minus then plus,
 * axes with a zero step skipped) from the current point, keeping every improvement, and halves the steps
 * when none improved, until joint 1's step is 1e-7 rad. Its walks can be long (hundreds of thousands of
 * iterations along a narrow valley with a fixed step), so lanes run ahead: lane k evaluates the k-th move
 * from now, assuming every move is decided as that move was last decided (the guess); then one lane
 * replays the decisions in order with the true values, commits every move up to and including the first
 * whose decision differs from the guess, and corrects the guess. A move's point depends only on the
 * decisions before it, so every committed decision used the very point, distance and comparison the
 * sequential search would: the result is the same bit for bit, whatever the number of lanes. */

#define TL_CLIMB_LANES_MAX 128
#define TL_MOVES 8

typedef struct {
    /* The committed search: point, distance, position, steps; the next move (0..7) of the current
     * iteration and whether the iteration improved so far; the guess (bit m: move m is kept). */
    double q[3], s, d, h[4];
    tl_v3 pos;
    int move, improved, done;
    tl_u32 guess;
    /* Per lane: 1 reachable (with distance, position), 0 not, -1 no move evaluated there. */
    double lane_d[TL_CLIMB_LANES_MAX];
    tl_v3 lane_pos[TL_CLIMB_LANES_MAX];
    int lane_ok[TL_CLIMB_LANES_MAX];
} tl_climb;

/* Where a walk through the moves stands: point, steps, next move, whether the iteration improved. */
typedef struct {
    double q[3], s, h[4];
    int move, improved;
} tl_walk;

TL_DEVICE tl_walk walk_start(const tl_climb* c) {
    tl_walk w;
    for (int j = 0; j < 3; j++) {
        w.q[j] = c->q[j];
    }
    w.s = c->s;
    for (int j = 0; j < 4; j++) {
        w.h[j] = c->h[j];
    }
    w.move = c->move;
    w.improved = c->improved;
    return w;
}

/* 0 when the search has ended before the walk's next move (the loop test at an iteration's start). */
TL_DEVICE int walk_running(const tl_walk* w) { return w->move != 0 || w->h[0] > 1e-7; }

/* The point of the walk's next move; 0 when that axis' step is zero (the move is skipped). */
TL_DEVICE int walk_point(const tl_walk* w, double* q2, double* s2) {
    int axis = w->move / 2;
    double sign = w->move % 2 == 0 ? -1.0 : 1.0;
    if (w->h[axis] == 0.0) {
        return 0;
    }
    q2[0] = w->q[0];
    q2[1] = w->q[1];
    q2[2] = w->q[2];
    *s2 = w->s;
    if (axis < 3) {
        q2[axis] += sign * w->h[axis];
    } else {
        *s2 += sign * w->h[3];
    }
    return 1;
}

/* Decides the walk's next move (`keep`: move to its point) and steps on, halving the steps at the end of
 * an iteration that did not improve. */
TL_DEVICE void walk_step(tl_walk* w, int keep) {
    double q2[3], s2;
    if (keep && walk_point(w, q2, &s2)) {
        w->q[0] = q2[0];
        w->q[1] = q2[1];
        w->q[2] = q2[2];
        w->s = s2;
        w->improved = 1;
    }
    w->move++;
    if (w->move == TL_MOVES) {
        if (!w->improved) {
            for (int k = 0; k < 4; k++) {
                w->h[k] *= 0.5;
            }
        }
        w->move = 0;
        w->improved = 0;
    }
}

/* Lane k: the guessed walk's k-th move from the committed search, evaluated. */
TL_DEVICE void climb_lane(const double* rm, const tl_iso* target, tl_climb* c, int k) {
    tl_walk w = walk_start(c);
    for (int i = 0; i < k && walk_running(&w); i++) {
        walk_step(&w, (c->guess >> w.move) & 1u);
    }
    double q2[3], s2;
    c->lane_ok[k] = -1;
    if (walk_running(&w) && walk_point(&w, q2, &s2)) {
        c->lane_ok[k] = search_distance(rm, target, q2, s2, &c->lane_d[k], &c->lane_pos[k]);
    }
}

/* Replays the lanes' moves with the true decisions, commits up to the first wrong guess, corrects it. */
TL_DEVICE void climb_commit(tl_climb* c, int lanes) {
    tl_walk w = walk_start(c);
    for (int k = 0; k < lanes; k++) {
        if (!walk_running(&w)) {
            c->done = 1;
            break;
        }
        int m = w.move;
        int keep = c->lane_ok[k] == 1 && c->lane_d[k] < c->d;
        if (keep) {
            c->d = c->lane_d[k];
            c->pos = c->lane_pos[k];
        }
        int guessed = (c->guess >> m) & 1u;
        walk_step(&w, keep);
        if (keep != guessed) {
            c->guess ^= 1u << m;
            break;
        }
    }
    for (int j = 0; j < 3; j++) {
        c->q[j] = w.q[j];
    }
    c->s = w.s;
    for (int j = 0; j < 4; j++) {
        c->h[j] = w.h[j];
    }
    c->move = w.move;
    c->improved = w.improved;
    if (!walk_running(&w)) {
        c->done = 1;
    }
}

/* Starts the search at start[0..3] (joints 1-3, spin); done at once when that point is not reachable. */
TL_DEVICE void climb_init(const double* rm, const tl_iso* target, const double* h0, const double* start, tl_climb* c) {
    for (int j = 0; j < 3; j++) {
        c->q[j] = start[j];
    }
    c->s = start[3];
    for (int j = 0; j < 4; j++) {
        c->h[j] = h0[j];
    }
    c->move = 0;
    c->improved = 0;
    c->guess = 0;
    c->d = TL_NAN;
    c->done = !search_distance(rm, target, c->q, c->s, &c->d, &c->pos);
    if (c->done) {
        c->d = TL_NAN;
    }
}

/* The search's end: out[11] = distance (NaN when the start was not reachable), position xyz, spin, joints
 * 1-6 (the solution nearest to the final joints 1-3). */
TL_DEVICE void climb_finish(const double* rm, const tl_iso* target, const tl_climb* c, double* out) {
    for (int k = 0; k < 11; k++) {
        out[k] = 0.0;
    }
    tl_iso pose;
    double joints[6];
    if (is_nan(c->d) || !search_pose(rm, target, c->q, c->s, &pose) ||
        !nearest_within_limits(rm, &pose, c->q, joints)) {
        out[0] = TL_NAN;
        return;
    }
    out[0] = c->d;
    out[1] = c->pos.x;
    out[2] = c->pos.y;
    out[3] = c->pos.z;
    out[4] = c->s;
    for (int j = 0; j < 6; j++) {
        out[5 + j] = joints[j];
    }
}

#ifdef TL_CUDA
/* One thread per (shift, point): the first reachable spin and the first solution there. */
TL_GLOBAL void tl_reach_solve(const double* rm, const double* pose, tl_u32 np, const double* shift, tl_u32 nc,
                              const double* spins, tl_u32 ns, tl_i32* out_spin, double* out_q) {
    tl_u64 i = (tl_u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (tl_u64)np * nc) {
        tl_u64 c = i / np, p = i % np;
        out_spin[i] = first_spin(rm, pose + 12 * p, v_load(shift + 3 * c), spins, ns, out_q + 6 * i);
    }
}

/* One thread per (shift, point): 1 when the point is reachable from the shifted base with an allowed spin. */
TL_GLOBAL void tl_reach_shift(const double* rm, const double* pose, tl_u32 np, const double* shift, tl_u32 nc,
                              const double* spins, tl_u32 ns, tl_u32* out_ok) {
    tl_u64 i = (tl_u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (tl_u64)np * nc) {
        tl_u64 c = i / np, p = i % np;
        out_ok[i] = first_spin(rm, pose + 12 * p, v_load(shift + 3 * c), spins, ns, 0) >= 0;
    }
}

/* One thread per (target, run of `run` cells): the run's nearest 6 grid poses. */
TL_GLOBAL void tl_reach_grid(const double* rm, const double* target, tl_u32 nt, const double* axes,
                             const tl_u32* dims, const double* spin_vals, tl_u32 run, double* out_d, tl_u32* out_i) {
    tl_u64 i = (tl_u64)blockIdx.x * blockDim.x + threadIdx.x;
    tl_u32 cells = dims[0] * dims[1] * dims[2];
    tl_u32 runs = (cells + run - 1) / run;
    if (i < (tl_u64)nt * runs) {
        tl_u64 t = i / runs, r = i % runs;
        grid_run(rm, target + 12 * t, axes, dims, spin_vals, (tl_u32)r * run, run, out_d + TL_TOP * i,
                 out_i + TL_TOP * i);
    }
}

/* One block of TL_CLIMB_LANES_MAX threads (its lanes) per pattern search: start[5i] = target index, joints
 * 1-3, spin. */
TL_GLOBAL void tl_reach_climb(const double* rm, const double* target, const double* h0, const double* start,
                              tl_u32 n, double* out) {
    __shared__ tl_climb c;
    tl_u64 i = blockIdx.x;
    if (i >= n) {
        return;
    }
    const double* st = start + 5 * i;
    tl_iso t = iso_load(target + 12 * (tl_u64)st[0]);
    int lane = threadIdx.x;
    if (lane == 0) {
        climb_init(rm, &t, h0, st + 1, &c);
    }
    __syncthreads();
    while (!c.done) {
        climb_lane(rm, &t, &c, lane);
        __syncthreads();
        if (lane == 0) {
            climb_commit(&c, TL_CLIMB_LANES_MAX);
        }
        __syncthreads();
    }
    if (lane == 0) {
        climb_finish(rm, &t, &c, out + 11 * i);
    }
}
#endif

#ifndef TL_CUDA
/* The same per-item code on the host. Points [0, np) with no shift: first spin and solution. */
TL_HOST_EXPORT void tl_reach_solve_host(const double* rm, const double* pose, tl_u32 np, const double* spins,
                                        tl_u32 ns, tl_i32* out_spin, double* out_q) {
    for (tl_u64 p = 0; p < np; p++) {
        out_spin[p] = first_spin(rm, pose + 12 * p, v3(0.0, 0.0, 0.0), spins, ns, out_q + 6 * p);
    }
}

/* Shifts [0, nc): out_ok[c np + p] as the GPU writes it, except that after the first point a shift fails
 * on, the others are left 0 (the shift fails either way; suggest_base_shift stops there too). */
TL_HOST_EXPORT void tl_reach_shift_host(const double* rm, const double* pose, tl_u32 np, const double* shift,
                                        tl_u32 nc, const double* spins, tl_u32 ns, tl_u32* out_ok) {
    for (tl_u64 c = 0; c < nc; c++) {
        for (tl_u64 p = 0; p < np; p++) {
            out_ok[c * np + p] = first_spin(rm, pose + 12 * p, v_load(shift + 3 * c), spins, ns, 0) >= 0;
            if (!out_ok[c * np + p]) {
                break;
            }
        }
    }
}

/* Runs [run0, run0 + nrun) of one target's grid. */
TL_HOST_EXPORT void tl_reach_grid_host(const double* rm, const double* target12, const double* axes,
                                       const tl_u32* dims, const double* spin_vals, tl_u32 run, tl_u32 run0,
                                       tl_u32 nrun, double* out_d, tl_u32* out_i) {
    for (tl_u64 r = 0; r < nrun; r++) {
        grid_run(rm, target12, axes, dims, spin_vals, (tl_u32)(run0 + r) * run, run, out_d + TL_TOP * r,
                 out_i + TL_TOP * r);
    }
}

/* Pattern searches [0, n), each on `lanes` lanes (1..TL_CLIMB_LANES_MAX) taken in turn. */
TL_HOST_EXPORT void tl_reach_climb_host(const double* rm, const double* target, const double* h0,
                                        const double* start, tl_u32 n, tl_u32 lanes, double* out) {
    int l = lanes < 1 ? 1 : lanes > TL_CLIMB_LANES_MAX ? TL_CLIMB_LANES_MAX : (int)lanes;
    for (tl_u64 i = 0; i < n; i++) {
        const double* st = start + 5 * i;
        tl_iso t = iso_load(target + 12 * (tl_u64)st[0]);
        tl_climb c;
        climb_init(rm, &t, h0, st + 1, &c);
        while (!c.done) {
            for (int k = 0; k < l; k++) {
                climb_lane(rm, &t, &c, k);
            }
            climb_commit(&c, l);
        }
        climb_finish(rm, &t, &c, out + 11 * i);
    }
}
#endif
