/*
 * conv3d.c (CPU) - 3D convolution on the PNC layout as sums of per-tap GEMMs (see cpu.h).
 *
 * in (P_in blocks of N x Cin), out (P_out blocks of N x Cout), w = the (T*Cin x Cout) matrix W
 * (row t*Cin + ci, t = (a*K + b)*K + e) packed in panels of 64 output channels (cpu.h).
 * For output position p = (z, y, x) and tap t = (a, b, e) the input position is
 * q = (z*S + a - P, y*S + b - P, x*S + e - P); taps with q outside the volume are skipped.
 *
 *   forward          out[p] = epi( sum_{t valid at p} in[q(p,t)] W[t] )         tile: N rows x Cout
 *   backward data    din[q] (+)= sum_{(p,t): q(p,t) = q} dout[p] W[t]^T         tile: N rows x Cin
 *   backward weights dW[t] = sum_{p valid for t} in[q(p,t)]^T dout[p]           tile: Cin rows x Cout
 *   bias             db = column sums of dout over all P*N rows
 * Forward and backward-data work is split over (position, column block) tasks; backward-weights
 * over (tap, row block, column block) tasks, walking the output positions in chunks (so that the
 * chunk of dout stays in cache while every tap's weight gradient is accumulated from it).
 */
#include <stdlib.h>

#ifdef QSMRIM_HAVE_OPENMP
#include <omp.h>
#endif

#include "cpu.h"

#define MAX_TAPS 1024 /* K^3 for K <= 10 */

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

/* Valid taps of output position (z, y, x): offsets into in (q*N*Cin) and the first row of the
 * tap in W (t*Cin). */
static int taps_forward(const qr_nn_conv *g, int z, int y, int x, int64_t *aoff, int64_t *boff) {
    const int K = g->k, S = g->s, P = g->p;
    const int64_t qs = (int64_t)g->n * g->cin, ts = g->cin;
    int ng = 0;
    for (int a = 0; a < K; a++) {
        int iz = z * S + a - P;
        if (iz < 0 || iz >= g->id) continue;
        for (int b = 0; b < K; b++) {
            int iy = y * S + b - P;
            if (iy < 0 || iy >= g->ih) continue;
            for (int e = 0; e < K; e++) {
                int ix = x * S + e - P;
                if (ix < 0 || ix >= g->iw) continue;
                aoff[ng] = (((int64_t)iz * g->ih + iy) * g->iw + ix) * qs;
                boff[ng] = ((int64_t)(a * K + b) * K + e) * ts;
                ng++;
            }
        }
    }
    return ng;
}

void qr_nn_cpu_conv3d_forward(qr_nn_context *ctx, const qr_nn_conv *g, float *out, const float *in, const float *w,
                              const qr_nn_epilogue *epi) {
    const int N = g->n, Cin = g->cin, Cout = g->cout;
    const int64_t OP = (int64_t)g->od * g->oh * g->ow;
    const int ncb = (Cout + QR_CPU_NR - 1) / QR_CPU_NR;
    const int64_t tasks = OP * ncb;
    QR_ASSERT(g->k * g->k * g->k <= MAX_TAPS);
#pragma omp parallel num_threads(ctx->threads)
    {
        int64_t aoff[MAX_TAPS], boff[MAX_TAPS], lo, hi;
        qr_cpu_range(tasks, thread_id(), thread_count(), &lo, &hi);
        for (int64_t task = lo; task < hi; task++) {
            const int64_t p = task / ncb;
            const int co0 = (int)(task % ncb) * QR_CPU_NR, nr = Cout - co0 < QR_CPU_NR ? Cout - co0 : QR_CPU_NR;
            const int x = (int)(p % g->ow), y = (int)(p / g->ow % g->oh), z = (int)(p / ((int64_t)g->ow * g->oh));
            const int ng = taps_forward(g, z, y, x, aoff, boff);
            for (int i = 0; i < ng; i++) boff[i] *= nr; /* rows of the panel of width nr */
            const float *panel = w + (int64_t)co0 * g->k * g->k * g->k * Cin;
            for (int n0 = 0; n0 < N; n0 += QR_CPU_MR) {
                const int mr = N - n0 < QR_CPU_MR ? N - n0 : QR_CPU_MR;
                const int64_t row = (p * N + n0) * Cout + co0;
                qr_cpu_epi e = {NULL, NULL, NULL, Cout, 0, 0};
                if (epi) {
                    e.scale = epi->scale ? epi->scale + co0 : NULL;
                    e.shift = epi->shift ? epi->shift + co0 : NULL;
                    e.res = epi->residual ? epi->residual + row : NULL;
                    e.relu = epi->relu;
                }
                qr_cpu_gemm_tile(mr, nr, ng, aoff, boff, Cin, in + (int64_t)n0 * Cin, Cin, 1, panel, nr, out + row,
                                 Cout, &e);
            }
        }
    }
}

/* (p, t) pairs reaching input position (iz, iy, ix): offsets into dout (p*N*Cout) and the first
 * row of the tap in Wt (t*Cout). */
static int taps_backward(const qr_nn_conv *g, int iz, int iy, int ix, int64_t *aoff, int64_t *boff) {
    const int K = g->k, S = g->s, P = g->p;
    const int64_t ps = (int64_t)g->n * g->cout, ts = g->cout;
    int ng = 0;
    for (int a = 0; a < K; a++) {
        int tz = iz + P - a;
        if (tz < 0 || tz % S || tz / S >= g->od) continue;
        for (int b = 0; b < K; b++) {
            int ty = iy + P - b;
            if (ty < 0 || ty % S || ty / S >= g->oh) continue;
            for (int e = 0; e < K; e++) {
                int tx = ix + P - e;
                if (tx < 0 || tx % S || tx / S >= g->ow) continue;
                aoff[ng] = (((int64_t)(tz / S) * g->oh + ty / S) * g->ow + tx / S) * ps;
                boff[ng] = ((int64_t)(a * K + b) * K + e) * ts;
                ng++;
            }
        }
    }
    return ng;
}

/* 1 if tap offset a (one axis) meets the input for some output position */
static int tap_used(int a, int out, int in, int S, int P) {
    for (int o = 0; o < out; o++) {
        int i = o * S + a - P;
        if (i >= 0 && i < in) return 1;
    }
    return 0;
}

static void backward_data(qr_nn_context *ctx, const qr_nn_conv *g, float *din, int acc, const float *dout,
                          const float *w) {
    const int N = g->n, Cin = g->cin, Cout = g->cout, K = g->k, T = K * K * K;
    const int64_t R = (int64_t)T * Cin, Rt = (int64_t)T * Cout;
    /* Wt = the (T*Cout x Cin) matrix, row t*Cout + co = column co of W's tap-t rows, packed in
     * panels of 64 input channels; only taps that meet the volume are transposed */
    float *wt = qr_cpu_scratch(ctx, (size_t)T * Cin * Cout);
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
    for (int t = 0; t < T; t++) {
        const int a = t / (K * K), b = t / K % K, e = t % K;
        if (!tap_used(a, g->od, g->id, g->s, g->p) || !tap_used(b, g->oh, g->ih, g->s, g->p) ||
            !tap_used(e, g->ow, g->iw, g->s, g->p))
            continue;
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
    const int64_t IP = (int64_t)g->id * g->ih * g->iw;
    const int ncb = (Cin + QR_CPU_NR - 1) / QR_CPU_NR;
    const int64_t tasks = IP * ncb;
#pragma omp parallel num_threads(ctx->threads)
    {
        int64_t aoff[MAX_TAPS], boff[MAX_TAPS], lo, hi;
        qr_cpu_range(tasks, thread_id(), thread_count(), &lo, &hi);
        for (int64_t task = lo; task < hi; task++) {
            const int64_t q = task / ncb;
            const int ci0 = (int)(task % ncb) * QR_CPU_NR, nr = Cin - ci0 < QR_CPU_NR ? Cin - ci0 : QR_CPU_NR;
            const int ix = (int)(q % g->iw), iy = (int)(q / g->iw % g->ih), iz = (int)(q / ((int64_t)g->iw * g->ih));
            const int ng = taps_backward(g, iz, iy, ix, aoff, boff);
            for (int i = 0; i < ng; i++) boff[i] *= nr;
            const float *panel = wt + (int64_t)ci0 * Rt;
            for (int n0 = 0; n0 < N; n0 += QR_CPU_MR) {
                const int mr = N - n0 < QR_CPU_MR ? N - n0 : QR_CPU_MR;
                qr_cpu_epi e = {NULL, NULL, NULL, 0, 0, acc};
                qr_cpu_gemm_tile(mr, nr, ng, aoff, boff, Cout, dout + (int64_t)n0 * Cout, Cout, 1, panel, nr,
                                 din + (q * N + n0) * Cin + ci0, Cin, &e);
            }
        }
    }
}

static void backward_weights(qr_nn_context *ctx, const qr_nn_conv *g, float *dw, const float *dout, const float *in) {
    const int N = g->n, Cin = g->cin, Cout = g->cout, K = g->k, S = g->s, P = g->p, T = K * K * K;
    const int64_t OP = (int64_t)g->od * g->oh * g->ow;
    const int nrb = (Cin + QR_CPU_MR - 1) / QR_CPU_MR, ncb = (Cout + QR_CPU_NR - 1) / QR_CPU_NR;
    const int64_t tasks = (int64_t)T * nrb * ncb;
    /* output positions per chunk: about 512 KB of dout */
    int64_t chunk = 131072 / ((int64_t)N * Cout);
    if (chunk < 1) chunk = 1;
    if (chunk > OP) chunk = OP;
    const int64_t qs = (int64_t)N * Cin, ps = (int64_t)N * Cout;
#pragma omp parallel num_threads(ctx->threads)
    {
        int64_t *aoff = malloc(sizeof(int64_t) * (size_t)chunk), *boff = malloc(sizeof(int64_t) * (size_t)chunk);
        int64_t lo, hi;
        qr_cpu_range(tasks, thread_id(), thread_count(), &lo, &hi);
        QR_ASSERT(aoff && boff);
        for (int64_t p0 = 0; p0 < OP; p0 += chunk) {
            const int64_t p1 = p0 + chunk < OP ? p0 + chunk : OP;
            for (int64_t task = lo; task < hi; task++) {
                /* task order: tap-major so a thread's taps are contiguous */
                const int t = (int)(task / ((int64_t)nrb * ncb));
                const int rb = (int)(task / ncb % nrb), cb = (int)(task % ncb);
                const int a = t / (K * K), b = t / K % K, e = t % K;
                const int ci0 = rb * QR_CPU_MR, co0 = cb * QR_CPU_NR;
                const int mr = Cin - ci0 < QR_CPU_MR ? Cin - ci0 : QR_CPU_MR;
                const int nr = Cout - co0 < QR_CPU_NR ? Cout - co0 : QR_CPU_NR;
                int ng = 0;
                for (int64_t p = p0; p < p1; p++) {
                    const int x = (int)(p % g->ow), y = (int)(p / g->ow % g->oh), z = (int)(p / ((int64_t)g->ow * g->oh));
                    const int iz = z * S + a - P, iy = y * S + b - P, ix = x * S + e - P;
                    if (iz < 0 || iz >= g->id || iy < 0 || iy >= g->ih || ix < 0 || ix >= g->iw) continue;
                    aoff[ng] = (((int64_t)iz * g->ih + iy) * g->iw + ix) * qs;
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
    backward_weights(ctx, g, dw, dout, in);
    if (db) {
        double s[g->cout];
        qr_cpu_colsum(ctx, (int64_t)g->od * g->oh * g->ow * g->n, g->cout, dout, s);
        for (int o = 0; o < g->cout; o++) db[o] = (float)s[o];
    }
    if (din) backward_data(ctx, g, din, acc, dout, w);
}
