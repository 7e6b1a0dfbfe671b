/*
 * conv3d.c (CPU) - 3D convolution on the PNC layout as sums of per-tap GEMMs (see cpu.h).
 *
 * in (P_in blocks of N x Cin), out (P_out blocks of N x Cout), w = the (T*Cin x Cout) matrix W
 * (row t*Cin + ci, t = (a*Kh + b)*Kw + e) packed in panels of 64 output channels (cpu.h).
 * For output position p = (z, y, x) and tap t = (a, b, e) the input position is
 * q = (z*Sd + a - Pd, y*Sh + b - Ph, x*Sw + e - Pw); taps with q outside the volume are skipped.
 *
 *   forward          out[p] = epi( sum_{t valid at p} in[q(p,t)] W[t] )         tile: N rows x Cout
 *   backward data    din[q] (+)= sum_{(p,t): q(p,t) = q} dout[p] W[t]^T         tile: N rows x Cin
 *   backward weights dW[t] = sum_{p valid for t} in[q(p,t)]^T dout[p]           tile: Cin rows x Cout
 *   bias             db = column sums of dout over all P*N rows
 * Forward and backward-data work is handed out dynamically as (position, column block) tasks (a
 * thread that the operating system pauses does not hold up the other: the machine is shared);
 * backward-weights is split statically into cost-balanced runs of (tap, row block, column block)
 * tasks, each thread walking the output positions in chunks (so that the chunk of dout stays in
 * cache while every tap's weight gradient is accumulated from it, in a fixed order). Every output
 * tile is computed by one thread in a fixed order: results do not depend on the threads.
 *
 * Few input channels (the stem: Cin = 2, 7^3 taps) make 2-row tiles in backward-weights (8
 * multiply-adds per 6 loads). There the input is first unfolded along W:
 *   u[z][y][x][n][e*Cin + c] = in[z][y][x*Sw + e - Pw][n][c]    (0 outside the volume)
 * which is the same convolution with a (Kd, Kh, 1) kernel over Kw*Cin channels - and the same
 * weight matrix, since row ((a*Kh + b)*Kw + e)*Cin + c of W is row (a*Kh + b)*(Kw*Cin) + (e*Cin + c).
 * The unfolded taps along W include the zero padding (about 6% more multiply-adds for the stem)
 * in exchange for 6-row tiles (stem backward-weights at batch 64, one thread: 132 -> 118 ms; the
 * forward pass is faster without it, 82 against 94 ms).
 */
#include <stdlib.h>
#include <string.h>

#ifdef QSMRIM_HAVE_OPENMP
#include <omp.h>
#endif

#include "cpu.h"

#define MAX_TAPS 1024 /* Kd*Kh*Kw */

static inline int thread_id(void) {
#ifdef QSMRIM_HAVE_OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}
static inline int thread_count(void) {
#ifdef QSMRIM_HAVE_OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

/* Tasks per dynamic chunk: contiguous runs (neighbouring positions share input) of about 1/8 of
 * a thread's share, so a paused thread's work is taken over by the others. */
static int dyn_chunk(const qr_nn_context *ctx, int64_t tasks) {
    int64_t c = tasks / (8 * (int64_t)ctx->threads);
    return (int)(c < 1 ? 1 : c);
}

/* Convolution geometry per axis (0 = D, 1 = H, 2 = W). */
typedef struct geom {
    int n, cin, cout;
    int in[3], out[3], k[3], s[3], p[3];
} geom;

static geom geom_of(const qr_nn_conv *g) {
    geom G = {g->n, g->cin, g->cout, {g->id, g->ih, g->iw}, {g->od, g->oh, g->ow}, {g->k, g->k, g->k},
              {g->s, g->s, g->s}, {g->p, g->p, g->p}};
    return G;
}
static int taps_of(const geom *G) { return G->k[0] * G->k[1] * G->k[2]; }
static int64_t out_pos(const geom *G) { return (int64_t)G->out[0] * G->out[1] * G->out[2]; }

/* ---- cost-balanced split of the tasks over threads ----
 * Output positions near the border and kernel taps near the edge have fewer valid pairs, so
 * an equal split of the task count leaves one thread idle; tasks are split into contiguous runs
 * of equal total cost instead (every output tile is still computed by one thread in a fixed
 * order, so results do not depend on the split). Costs are separable over the three axes. */
typedef struct axis_cost {
    int n;
    int c[1024];
} axis_cost;

/* forward (mode 0): taps valid at output o; backward data (1): (o, k) pairs reaching input i;
 * backward weights (2): outputs o valid for tap k */
static void axis_costs(int mode, const geom *G, int ax, axis_cost *a) {
    const int in = G->in[ax], out = G->out[ax], K = G->k[ax], S = G->s[ax], P = G->p[ax];
    a->n = mode == 0 ? out : mode == 1 ? in : K;
    for (int j = 0; j < a->n && j < 1024; j++) {
        int c = 0;
        if (mode == 0)
            for (int k = 0; k < K; k++) c += j * S + k - P >= 0 && j * S + k - P < in;
        else if (mode == 1)
            for (int k = 0; k < K; k++) {
                int t = j + P - k;
                c += t >= 0 && t % S == 0 && t / S < out;
            }
        else
            for (int o = 0; o < out; o++) c += o * S + j - P >= 0 && o * S + j - P < in;
        a->c[j] = c;
    }
}

/* tasks = positions (z, y, x) [mode 0, 1] or taps [mode 2] times `per` sub-tasks each */
static void balanced_range(int mode, const geom *G, int64_t per, int tid, int nth, int64_t *lo, int64_t *hi) {
    static __thread axis_cost ax[3];
    for (int d = 0; d < 3; d++) axis_costs(mode, G, d, &ax[d]);
    if (ax[0].n > 1024 || ax[1].n > 1024 || ax[2].n > 1024) {
        qr_cpu_range(per * ax[0].n * ax[1].n * ax[2].n, tid, nth, lo, hi);
        return;
    }
    double total = 0;
    for (int z = 0; z < ax[0].n; z++)
        for (int y = 0; y < ax[1].n; y++)
            for (int x = 0; x < ax[2].n; x++) total += (double)ax[0].c[z] * ax[1].c[y] * ax[2].c[x] + 1;
    const double a = total * tid / nth, b = total * (tid + 1) / nth;
    double cum = 0;
    int64_t i = 0;
    *lo = *hi = -1;
    for (int z = 0; z < ax[0].n; z++)
        for (int y = 0; y < ax[1].n; y++)
            for (int x = 0; x < ax[2].n; x++, i++) {
                if (*lo < 0 && cum >= a) *lo = i;
                if (*hi < 0 && cum >= b) *hi = i;
                cum += (double)ax[0].c[z] * ax[1].c[y] * ax[2].c[x] + 1;
            }
    if (*lo < 0) *lo = i;
    if (*hi < 0 || tid == nth - 1) *hi = i;
    *lo *= per;
    *hi *= per;
}

/* ---- the row tiles of one task, K blocked for L1 ----
 * A task is one output block (N rows x one panel of nr columns) summed over ng (A, B) pairs of
 * kc steps each. The B operand (weights) of all pairs is far larger than L1 (layer1: 27 x 64 x 64
 * floats = 442 KB), and every 6-row tile streams all of it; so K is cut into blocks of about
 * 32 KB of B (128 steps at nr = 64), and every row tile passes over one block before the next:
 * B then comes from L1. Partial sums go to C (accumulate), the epilogue runs on the last block. */
#define KB_BYTES 32768

typedef struct tile_job {
    int N, nr, kc;
    const float *a;  /* A rows: element (row n, step k) of pair g at a + aoff[g] + n*rs + k*cs */
    int64_t rs, cs;
    const float *b;  /* B: element (step k, column j) of pair g at b + boff[g] + k*ldb + j */
    int64_t ldb;
    float *c;        /* C: element (n, j) at c + n*ldc + j */
    int64_t ldc;
    const float *scale, *shift, *res; /* epilogue (panel-offset), res row n at res + n*ldc */
    int relu, acc;   /* acc: add to the existing C (backward data) */
} tile_job;

static void run_tiles(const tile_job *J, int ng, int64_t *aoff, int64_t *boff) {
    const int64_t kb = KB_BYTES / (4 * (int64_t)(J->nr > 16 ? J->nr : 16));
    const int64_t total = (int64_t)ng * J->kc;
    int64_t piece_aoff, piece_boff;
    /* blocks: whole groups (kc <= kb) or pieces of one group (kc > kb) */
    /* blocking pays for short pairs (stem, layer1-2: stem forward 94-121 -> 79-89 ms per batch,
     * one thread); cutting single pairs longer than a block (Cin >= 256) measured slower */
    const int split = J->kc <= kb && total > 2 * kb, per = J->kc >= kb ? 1 : (int)(kb / J->kc);
    const int pieces = J->kc > kb ? (int)((J->kc + kb - 1) / kb) : 1;
    const int nblk = !split ? 1 : J->kc > kb ? ng * pieces : (ng + per - 1) / per;
    for (int blk = 0; blk < nblk; blk++) {
        const int64_t *ao = aoff, *bo = boff;
        int bng = ng, bkc = J->kc;
        if (split && J->kc > kb) {
            const int g = blk / pieces, k0 = (int)((blk % pieces) * kb);
            bkc = (int)(J->kc - k0 < kb ? J->kc - k0 : kb);
            piece_aoff = aoff[g] + k0 * J->cs;
            piece_boff = boff[g] + k0 * J->ldb;
            ao = &piece_aoff;
            bo = &piece_boff;
            bng = 1;
        } else if (split) {
            ao = aoff + blk * per;
            bo = boff + blk * per;
            bng = ng - blk * per < per ? ng - blk * per : per;
        }
        const int lastb = blk == nblk - 1;
        for (int n0 = 0; n0 < J->N; n0 += QR_CPU_MR) {
            const int mr = J->N - n0 < QR_CPU_MR ? J->N - n0 : QR_CPU_MR;
            qr_cpu_epi e = {NULL, NULL, NULL, J->ldc, 0, J->acc || blk > 0};
            if (lastb) {
                e.scale = J->scale;
                e.shift = J->shift;
                e.res = J->res ? J->res + (int64_t)n0 * J->ldc : NULL;
                e.relu = J->relu;
            }
            qr_cpu_gemm_tile(mr, J->nr, bng, ao, bo, bkc, J->a + (int64_t)n0 * J->rs, J->rs, J->cs, J->b, J->ldb,
                             J->c + (int64_t)n0 * J->ldc, J->ldc, &e);
        }
    }
}

/* ---- forward ---- */

/* Valid taps of output position (z, y, x): offsets into in (q*N*Cin) and the first row of the
 * tap in W (t*Cin). */
static int taps_forward(const geom *G, int z, int y, int x, int64_t *aoff, int64_t *boff) {
    const int64_t qs = (int64_t)G->n * G->cin;
    int ng = 0;
    for (int a = 0; a < G->k[0]; a++) {
        int iz = z * G->s[0] + a - G->p[0];
        if (iz < 0 || iz >= G->in[0]) continue;
        for (int b = 0; b < G->k[1]; b++) {
            int iy = y * G->s[1] + b - G->p[1];
            if (iy < 0 || iy >= G->in[1]) continue;
            for (int e = 0; e < G->k[2]; e++) {
                int ix = x * G->s[2] + e - G->p[2];
                if (ix < 0 || ix >= G->in[2]) continue;
                aoff[ng] = (((int64_t)iz * G->in[1] + iy) * G->in[2] + ix) * qs;
                boff[ng] = ((int64_t)(a * G->k[1] + b) * G->k[2] + e) * G->cin;
                ng++;
            }
        }
    }
    return ng;
}

static void forward(qr_nn_context *ctx, const geom *G, float *out, const float *in, const float *w,
                    const qr_nn_epilogue *epi) {
    const int N = G->n, Cin = G->cin, Cout = G->cout;
    const int ncb = (Cout + QR_CPU_NR - 1) / QR_CPU_NR;
    const int64_t R = (int64_t)taps_of(G) * Cin;
    QR_ASSERT(taps_of(G) <= MAX_TAPS);
    const int64_t tasks = out_pos(G) * ncb;
    const int chunk = dyn_chunk(ctx, tasks);
#pragma omp parallel num_threads(ctx->threads)
    {
        int64_t aoff[MAX_TAPS], boff[MAX_TAPS];
#pragma omp for schedule(dynamic, chunk)
        for (int64_t task = 0; task < tasks; task++) {
            const int64_t p = task / ncb;
            const int co0 = (int)(task % ncb) * QR_CPU_NR, nr = Cout - co0 < QR_CPU_NR ? Cout - co0 : QR_CPU_NR;
            const int x = (int)(p % G->out[2]), y = (int)(p / G->out[2] % G->out[1]);
            const int z = (int)(p / ((int64_t)G->out[2] * G->out[1]));
            const int ng = taps_forward(G, z, y, x, aoff, boff);
            for (int i = 0; i < ng; i++) boff[i] *= nr; /* rows of the panel of width nr */
            const int64_t row = p * N * Cout + co0;
            tile_job J = {N, nr, Cin, in, Cin, 1, w + (int64_t)co0 * R, nr, out + row, Cout, NULL, NULL, NULL, 0, 0};
            if (epi) {
                J.scale = epi->scale ? epi->scale + co0 : NULL;
                J.shift = epi->shift ? epi->shift + co0 : NULL;
                J.res = epi->residual ? epi->residual + row : NULL;
                J.relu = epi->relu;
            }
            run_tiles(&J, ng, aoff, boff);
        }
    }
}

/* ---- unfolding along W for few input channels ---- */

static int use_unfold(const qr_nn_conv *g) { return g->cin * g->k <= 32 && g->cin < 8 && g->k > 1; }

/* u (D*H*OW positions x N x K*Cin) from in; returns the unfolded geometry */
static geom unfold(qr_nn_context *ctx, const qr_nn_conv *g, const float *in, float *u) {
    const int N = g->n, C = g->cin, K = g->k, S = g->s, P = g->p, OW = g->ow, W = g->iw;
    const int64_t rows = (int64_t)g->id * g->ih; /* (z, y) lines */
    const int64_t CE = (int64_t)K * C;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t zy = 0; zy < rows; zy++)
        for (int x = 0; x < OW; x++) {
            float *dst = u + ((zy * OW + x) * N) * CE;
            const float *line = in + zy * W * N * C;
            for (int n = 0; n < N; n++, dst += CE)
                for (int e = 0; e < K; e++) {
                    const int ix = x * S + e - P;
                    if (ix < 0 || ix >= W)
                        for (int c = 0; c < C; c++) dst[e * C + c] = 0.0f;
                    else {
                        const float *src = line + ((int64_t)ix * N + n) * C;
                        for (int c = 0; c < C; c++) dst[e * C + c] = src[c];
                    }
                }
        }
    geom G = {N, (int)CE, g->cout, {g->id, g->ih, OW}, {g->od, g->oh, g->ow}, {K, K, 1}, {S, S, 1}, {P, P, 0}};
    return G;
}

void qr_nn_cpu_conv3d_forward(qr_nn_context *ctx, const qr_nn_conv *g, float *out, const float *in, const float *w,
                              const qr_nn_epilogue *epi) {
    /* (unfolding does not pay here: measured 94 ms against 82 ms direct for the stem at batch 64) */
    geom G = geom_of(g);
    forward(ctx, &G, out, in, w, epi);
}

/* ---- backward data ---- */

/* (p, t) pairs reaching input position (iz, iy, ix): offsets into dout (p*N*Cout) and the first
 * row of the tap in Wt (t*Cout). */
static int taps_backward(const geom *G, int iz, int iy, int ix, int64_t *aoff, int64_t *boff) {
    const int64_t ps = (int64_t)G->n * G->cout;
    int ng = 0;
    for (int a = 0; a < G->k[0]; a++) {
        int tz = iz + G->p[0] - a;
        if (tz < 0 || tz % G->s[0] || tz / G->s[0] >= G->out[0]) continue;
        for (int b = 0; b < G->k[1]; b++) {
            int ty = iy + G->p[1] - b;
            if (ty < 0 || ty % G->s[1] || ty / G->s[1] >= G->out[1]) continue;
            for (int e = 0; e < G->k[2]; e++) {
                int tx = ix + G->p[2] - e;
                if (tx < 0 || tx % G->s[2] || tx / G->s[2] >= G->out[2]) continue;
                aoff[ng] = (((int64_t)(tz / G->s[0]) * G->out[1] + ty / G->s[1]) * G->out[2] + tx / G->s[2]) * ps;
                boff[ng] = ((int64_t)(a * G->k[1] + b) * G->k[2] + e) * G->cout;
                ng++;
            }
        }
    }
    return ng;
}

/* 1 if tap offset a of axis ax meets the input for some output position */
static int tap_used(const geom *G, int ax, int a) {
    for (int o = 0; o < G->out[ax]; o++) {
        int i = o * G->s[ax] + a - G->p[ax];
        if (i >= 0 && i < G->in[ax]) return 1;
    }
    return 0;
}

static void backward_data(qr_nn_context *ctx, const geom *G, float *din, int acc, const float *dout, const float *w) {
    const int N = G->n, Cin = G->cin, Cout = G->cout, T = taps_of(G);
    const int64_t R = (int64_t)T * Cin, Rt = (int64_t)T * Cout;
    /* Wt = the (T*Cout x Cin) matrix, row t*Cout + co = column co of W's tap-t rows, packed in
     * panels of 64 input channels; only taps that meet the volume are transposed */
    float *wt = qr_cpu_scratch(ctx, (size_t)T * Cin * Cout);
    if (!wt) return;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
    for (int t = 0; t < T; t++) {
        const int a = t / (G->k[1] * G->k[2]), b = t / G->k[2] % G->k[1], e = t % G->k[2];
        if (!tap_used(G, 0, a) || !tap_used(G, 1, b) || !tap_used(G, 2, e)) continue;
        for (int co0 = 0; co0 < Cout; co0 += QR_CPU_NR) {
            const int nw = qr_cpu_panel_w(Cout, co0);
            const float *src = w + (int64_t)co0 * R + (int64_t)t * Cin * nw;
            for (int ci0 = 0; ci0 < Cin; ci0 += QR_CPU_NR) {
                const int niw = qr_cpu_panel_w(Cin, ci0);
                float *dst = wt + (int64_t)ci0 * Rt + ((int64_t)t * Cout + co0) * niw;
                for (int ci = 0; ci < niw; ci++)
                    for (int jj = 0; jj < nw; jj++) dst[(int64_t)jj * niw + ci] = src[(int64_t)(ci0 + ci) * nw + jj];
            }
        }
    }
    const int ncb = (Cin + QR_CPU_NR - 1) / QR_CPU_NR;
    const int64_t tasks = (int64_t)G->in[0] * G->in[1] * G->in[2] * ncb;
    const int chunk = dyn_chunk(ctx, tasks);
    QR_ASSERT(T <= MAX_TAPS);
#pragma omp parallel num_threads(ctx->threads)
    {
        int64_t aoff[MAX_TAPS], boff[MAX_TAPS];
#pragma omp for schedule(dynamic, chunk)
        for (int64_t task = 0; task < tasks; task++) {
            const int64_t q = task / ncb;
            const int ci0 = (int)(task % ncb) * QR_CPU_NR, nr = Cin - ci0 < QR_CPU_NR ? Cin - ci0 : QR_CPU_NR;
            const int ix = (int)(q % G->in[2]), iy = (int)(q / G->in[2] % G->in[1]);
            const int iz = (int)(q / ((int64_t)G->in[2] * G->in[1]));
            const int ng = taps_backward(G, iz, iy, ix, aoff, boff);
            for (int i = 0; i < ng; i++) boff[i] *= nr;
            tile_job J = {N, nr, Cout, dout, Cout, 1, wt + (int64_t)ci0 * Rt, nr, din + q * N * Cin + ci0, Cin,
                          NULL, NULL, NULL, 0, acc};
            run_tiles(&J, ng, aoff, boff);
        }
    }
}

/* ---- backward weights ---- */

static void backward_weights(qr_nn_context *ctx, const geom *G, float *dw, const float *dout, const float *in) {
    const int N = G->n, Cin = G->cin, Cout = G->cout, T = taps_of(G);
    const int64_t OP = out_pos(G);
    const int nrb = (Cin + QR_CPU_MR - 1) / QR_CPU_MR, ncb = (Cout + QR_CPU_NR - 1) / QR_CPU_NR;
    /* output positions per chunk: about 512 KB of dout */
    int64_t chunk = 131072 / ((int64_t)N * Cout);
    if (chunk < 1) chunk = 1;
    if (chunk > OP) chunk = OP;
    const int64_t qs = (int64_t)N * Cin, ps = (int64_t)N * Cout;
#pragma omp parallel num_threads(ctx->threads)
    {
        int64_t *aoff = malloc(sizeof(int64_t) * (size_t)chunk), *boff = malloc(sizeof(int64_t) * (size_t)chunk);
        int64_t lo, hi;
        balanced_range(2, G, (int64_t)nrb * ncb, thread_id(), thread_count(), &lo, &hi);
        if (!aoff || !boff) {
            qr_cpu_failed(ctx);
            lo = hi; /* this thread's share is left undone: the results are discarded */
        }
        for (int64_t p0 = 0; p0 < OP; p0 += chunk) {
            const int64_t p1 = p0 + chunk < OP ? p0 + chunk : OP;
            for (int64_t task = lo; task < hi; task++) {
                /* task order: tap-major so a thread's taps are contiguous */
                const int t = (int)(task / ((int64_t)nrb * ncb));
                const int rb = (int)(task / ncb % nrb), cb = (int)(task % ncb);
                const int a = t / (G->k[1] * G->k[2]), b = t / G->k[2] % G->k[1], e = t % G->k[2];
                const int ci0 = rb * QR_CPU_MR, co0 = cb * QR_CPU_NR;
                const int mr = Cin - ci0 < QR_CPU_MR ? Cin - ci0 : QR_CPU_MR;
                const int nr = Cout - co0 < QR_CPU_NR ? Cout - co0 : QR_CPU_NR;
                int ng = 0;
                for (int64_t p = p0; p < p1; p++) {
                    const int x = (int)(p % G->out[2]), y = (int)(p / G->out[2] % G->out[1]);
                    const int z = (int)(p / ((int64_t)G->out[2] * G->out[1]));
                    const int iz = z * G->s[0] + a - G->p[0], iy = y * G->s[1] + b - G->p[1], ix = x * G->s[2] + e - G->p[2];
                    if (iz < 0 || iz >= G->in[0] || iy < 0 || iy >= G->in[1] || ix < 0 || ix >= G->in[2]) continue;
                    aoff[ng] = (((int64_t)iz * G->in[1] + iy) * G->in[2] + ix) * qs;
                    boff[ng] = p * ps;
                    ng++;
                }
                if (ng == 0 && p0 > 0) continue;
                qr_cpu_epi ep = {NULL, NULL, NULL, 0, 0, p0 > 0};
                qr_cpu_gemm_tile(mr, nr, ng, aoff, boff, N, in + ci0, 1, Cin, dout + co0, Cout,
                                 dw + (int64_t)co0 * T * Cin + ((int64_t)t * Cin + ci0) * nr, nr, &ep);
            }
        }
        free(aoff);
        free(boff);
    }
}

void qr_nn_cpu_conv3d_backward(qr_nn_context *ctx, const qr_nn_conv *g, float *din, int acc, float *dw, float *db,
                               const float *dout, const float *in, const float *w) {
    if (!din && use_unfold(g)) {
        /* the first layer: no input gradient, so the scratch can hold the unfolded input */
        float *u = qr_cpu_scratch(ctx, (size_t)g->id * g->ih * g->ow * g->n * g->k * g->cin);
        if (!u) return;
        geom G = unfold(ctx, g, in, u);
        backward_weights(ctx, &G, dw, dout, u);
    } else {
        geom G = geom_of(g);
        backward_weights(ctx, &G, dw, dout, in);
    }
    if (db) {
        double s[g->cout];
        qr_cpu_colsum(ctx, (int64_t)g->od * g->oh * g->ow * g->n, g->cout, dout, s);
        for (int o = 0; o < g->cout; o++) db[o] = (float)s[o];
    }
    if (din) {
        geom G = geom_of(g);
        backward_data(ctx, &G, din, acc, dout, w);
    }
}
