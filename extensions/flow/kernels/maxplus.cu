/* Monte-Carlo replications of a serial line by the max-plus (tandem queue) recursion, one replication per
 * thread (extensions/flow/kernels/maxplus.cu).
 *
 * Written in the C subset of gpu/kernels/prelude.h: NVRTC compiles it for the GPU (entry `maxplus_reps`),
 * build.rs compiles it for the host (entry `tl_maxplus_host`), so CPU-only CI runs this very code and checks
 * it against the Rust path (src/des/maxplus.rs), which it mirrors operation for operation: the same random
 * generator (xoshiro256++ seeded by SplitMix64, src/des/rng.rs), the same draws (src/des/dist.rs) in the
 * same order, the same sums.
 *
 * Jobs j = 0, 1, ... go through stations i = 0..n-1; S(j,i) is the service time, the source is saturated and
 * a station holds a finished job until the buffer after it has room (blocking after service):
 *   start(j,i) = max(D(j,i-1), D(j-1,i))            (D(j,-1) = 0)
 *   D(j,i)     = max(start(j,i) + S(j,i), D(j-cap_i-1, i+1))   (no second term for the last station)
 * where cap_i is the buffer capacity after station i. Only the last cap_{i-1}+1 departures of station i are
 * ever read again, so each thread keeps them in a ring in local memory (at most TL_MP_MAX_SLOTS in all).
 *
 * Parameters: kind[i] (0 const, 1 exp, 2 uniform, 3 triangular, 4 normal truncated at 0, 5 lognormal,
 * 6 erlang) with par[3i..3i+3]; cap[i] for i < n-1. Output per replication (3 + 2n doubles): throughput per
 * hour, mean interdeparture time (s), mean flow time (s), then utilisation and blocked share per station,
 * all over jobs warmup..jobs-1 (each station over its own window: from its departure of job warmup-1, or 0,
 * to its departure of the last job). A model over the caps gets NaN everywhere (the Rust side checks first).
 */

#define TL_MP_MAX_STATIONS 64
#define TL_MP_MAX_SLOTS 512

typedef struct {
    tl_u64 s[4];
} tl_rng;

TL_DEVICE tl_u64 tl_splitmix(tl_u64* x) {
    *x += 0x9e3779b97f4a7c15ULL;
    tl_u64 z = *x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

TL_DEVICE tl_rng tl_rng_new(tl_u64 seed, tl_u64 stream) {
    tl_u64 x = seed ^ (stream * 0xd1342543de82ef95ULL);
    tl_rng r;
    r.s[0] = tl_splitmix(&x);
    r.s[1] = tl_splitmix(&x);
    r.s[2] = tl_splitmix(&x);
    r.s[3] = tl_splitmix(&x);
    return r;
}

TL_DEVICE tl_u64 tl_rotl(tl_u64 x, int k) { return (x << k) | (x >> (64 - k)); }

TL_DEVICE tl_u64 tl_next_u64(tl_rng* g) {
    tl_u64* s = g->s;
    tl_u64 r = tl_rotl(s[0] + s[3], 23) + s[0];
    tl_u64 t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = tl_rotl(s[3], 45);
    return r;
}

/* Uniform in (0, 1]. */
TL_DEVICE double tl_uniform(tl_rng* g) {
    return (double)((tl_next_u64(g) >> 11) + 1) * (1.0 / 9007199254740992.0);
}

TL_DEVICE double tl_exp(tl_rng* g, double mean) { return -mean * log(tl_uniform(g)); }

/* Standard normal (Box-Muller), u1 drawn before u2. */
TL_DEVICE double tl_normal(tl_rng* g) {
    double u1 = tl_uniform(g);
    double u2 = tl_uniform(g);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

TL_DEVICE double tl_max(double a, double b) { return a > b ? a : b; }

/* One draw of distribution `kind` with parameters p[0..3] (src/des/dist.rs, Dist::sample). */
TL_DEVICE double tl_sample(tl_i32 kind, const double* p, tl_rng* g) {
    switch (kind) {
    case 0:
        return p[0];
    case 1:
        return tl_exp(g, p[0]);
    case 2:
        return p[0] + (p[1] - p[0]) * tl_uniform(g);
    case 3: {
        double mn = p[0], mode = p[1], mx = p[2];
        double u = tl_uniform(g);
        double f = (mode - mn) / (mx - mn);
        if (u < f) return mn + sqrt((mx - mn) * (mode - mn) * u);
        return mx - sqrt((mx - mn) * (mx - mode) * (1.0 - u));
    }
    case 4:
        return tl_max(p[0] + p[1] * tl_normal(g), 0.0);
    case 5: {
        double cv = p[1] / p[0];
        double s2 = log(1.0 + cv * cv);
        return exp(log(p[0]) - s2 / 2.0 + sqrt(s2) * tl_normal(g));
    }
    default: {
        tl_u32 k = (tl_u32)p[1];
        double each = p[0] / (double)k;
        double sum = tl_exp(g, each);
        for (tl_u32 i = 1; i < k; i++) sum += tl_exp(g, each);
        return sum;
    }
    }
}

/* One replication; writes 3 + 2n doubles to `out`. */
TL_DEVICE void tl_mp_replication(const tl_i32* kind, const double* par, const tl_u32* cap, tl_u32 n,
                                 tl_u64 jobs, tl_u64 warmup, tl_u64 seed, tl_u64 rep, double* out) {
    double ring[TL_MP_MAX_SLOTS];
    tl_u32 base[TL_MP_MAX_STATIONS], size[TL_MP_MAX_STATIONS], pos[TL_MP_MAX_STATIONS];
    double busy[TL_MP_MAX_STATIONS], blocked[TL_MP_MAX_STATIONS], t0[TL_MP_MAX_STATIONS];
    tl_u32 slots = 0;
    for (tl_u32 i = 0; i < n && i < TL_MP_MAX_STATIONS; i++) {
        base[i] = slots;
        size[i] = i == 0 ? 1 : cap[i - 1] + 1;
        pos[i] = 0;
        busy[i] = 0.0;
        blocked[i] = 0.0;
        t0[i] = 0.0;
        slots += size[i];
    }
    if (n == 0 || n > TL_MP_MAX_STATIONS || slots > TL_MP_MAX_SLOTS || jobs <= warmup) {
        for (tl_u32 k = 0; k < 3 + 2 * n; k++) out[k] = 0.0 / 0.0;
        return;
    }
    for (tl_u32 k = 0; k < slots; k++) ring[k] = 0.0;
    tl_rng g = tl_rng_new(seed, rep);
    double flow = 0.0;
    for (tl_u64 j = 0; j < jobs; j++) {
        int measured = j >= warmup;
        double up = 0.0, released = 0.0;
        for (tl_u32 i = 0; i < n; i++) {
            tl_u32 prev = pos[i] == 0 ? size[i] - 1 : pos[i] - 1;
            double start = tl_max(up, ring[base[i] + prev]);
            double s = tl_sample(kind[i], par + 3 * i, &g);
            double done = start + s;
            double d = done;
            if (i + 1 < n) d = tl_max(done, ring[base[i + 1] + pos[i + 1]]);
            ring[base[i] + pos[i]] = d;
            if (i == 0) released = start;
            if (measured) {
                busy[i] += s;
                blocked[i] += d - done;
            }
            up = d;
        }
        if (measured) flow += up - released;
        if (j + 1 == warmup)
            for (tl_u32 i = 0; i < n; i++) t0[i] = ring[base[i] + pos[i]];
        for (tl_u32 i = 0; i < n; i++) pos[i] = pos[i] + 1 == size[i] ? 0 : pos[i] + 1;
    }
    /* Each station's window runs from its departure of job warmup-1 to that of the last job. */
    double m = (double)(jobs - warmup);
    for (tl_u32 i = 0; i < n; i++) {
        tl_u32 last = pos[i] == 0 ? size[i] - 1 : pos[i] - 1;
        double window = ring[base[i] + last] - t0[i];
        out[3 + i] = busy[i] / window;
        out[3 + n + i] = blocked[i] / window;
        if (i + 1 == n) {
            out[0] = m * 3600.0 / window;
            out[1] = window / m;
        }
    }
    out[2] = flow / m;
}

#ifdef TL_CUDA
TL_GLOBAL void maxplus_reps(const tl_i32* kind, const double* par, const tl_u32* cap, tl_u32 n, tl_u64 jobs,
                            tl_u64 warmup, tl_u64 seed, tl_u64 first_rep, tl_u32 reps, double* out) {
    tl_u32 r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= reps) return;
    tl_mp_replication(kind, par, cap, n, jobs, warmup, seed, first_rep + r, out + (tl_u64)r * (3 + 2 * n));
}
#else
/* Host loop: replications first_rep .. first_rep+reps-1, rows of 3 + 2n doubles. */
TL_HOST_EXPORT void tl_maxplus_host(const tl_i32* kind, const double* par, const tl_u32* cap, tl_u32 n,
                                    tl_u64 jobs, tl_u64 warmup, tl_u64 seed, tl_u64 first_rep, tl_u32 reps,
                                    double* out) {
    for (tl_u32 r = 0; r < reps; r++)
        tl_mp_replication(kind, par, cap, n, jobs, warmup, seed, first_rep + r, out + (tl_u64)r * (3 + 2 * n));
}

/* The compile-time caps, so the Rust side can check it agrees. */
TL_HOST_EXPORT void tl_maxplus_limits(tl_u32* stations, tl_u32* slots) {
    *stations = TL_MP_MAX_STATIONS;
    *slots = TL_MP_MAX_SLOTS;
}
#endif
