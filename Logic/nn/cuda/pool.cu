/*
 * pool.cu (CUDA) - max pooling (cubic window k, stride s, padding pad_lo/pad_hi; padded
 * positions never win) and global average pooling, NCDHW, as ref/pool.c:
 *   out[n][c][z][y][x] = max_{a,b,e < k, inside} in[n][c][zs + a - pad_lo][ys + b - pad_lo][xs + e - pad_lo]
 *   ties: the first window position in (a, b, e) order wins; a NaN wins and ends the window (PyTorch)
 *   argmax = flat NCDHW index of the winner;  din[argmax[o]] += dout[o]  (windows may overlap)
 *   avg: out[n][c] = sum_p in[n][c][p] / P (double);  din[n][c][p] = dout[n][c] / P
 *
 * Max-pool backward is a gather, not a scatter: one thread per input element visits the
 * outputs whose window covers it in increasing output order and adds those that chose it -
 * the reference's order of additions, without atomics, so it is deterministic.
 */
#include <math.h>

#include "qr_cuda.h"

__global__ void maxpool_fwd(qr_nn_pool g, float *out, int32_t *argmax, const float *in) {
    const int64_t ip = (int64_t)g.id * g.ih * g.iw, op = (int64_t)g.od * g.oh * g.ow;
    QR_CU_FOR(o, (int64_t)g.n * g.c * op) {
        const int64_t nc = o / op, r = o - nc * op;
        const int z = (int)(r / ((int64_t)g.oh * g.ow)), y = (int)((r / g.ow) % g.oh), x = (int)(r % g.ow);
        float best = -INFINITY;
        int64_t arg = -1;
        for (int a = 0; a < g.k; a++) {
            const int iz = z * g.s + a - g.pad_lo;
            if (iz < 0 || iz >= g.id) continue;
            for (int b = 0; b < g.k; b++) {
                const int iy = y * g.s + b - g.pad_lo;
                if (iy < 0 || iy >= g.ih) continue;
                for (int e = 0; e < g.k; e++) {
                    const int ix = x * g.s + e - g.pad_lo;
                    if (ix < 0 || ix >= g.iw) continue;
                    const int64_t i = nc * ip + ((int64_t)iz * g.ih + iy) * g.iw + ix;
                    const float v = in[i];
                    if (arg < 0 || v > best || (isnan(v) && !isnan(best))) {
                        best = v;
                        arg = i;
                        if (isnan(best)) goto done;
                    }
                }
            }
        }
    done:
        out[o] = best;
        argmax[o] = (int32_t)arg;
    }
}

/* outputs along one axis whose window covers input index i: [lo, hi] */
static __device__ __forceinline__ void covering(int i, int k, int s, int pad_lo, int n_out, int *lo, int *hi) {
    const int t = i + pad_lo; /* o*s <= t <= o*s + k - 1 */
    const int first = t - k + 1;
    *lo = first <= 0 ? 0 : (first + s - 1) / s;
    const int last = t / s;
    *hi = last < n_out - 1 ? last : n_out - 1;
}

__global__ void maxpool_bwd(qr_nn_pool g, float *din, int acc, const float *dout, const int32_t *argmax) {
    const int64_t ip = (int64_t)g.id * g.ih * g.iw, op = (int64_t)g.od * g.oh * g.ow;
    QR_CU_FOR(i, (int64_t)g.n * g.c * ip) {
        const int64_t nc = i / ip, r = i - nc * ip;
        const int iz = (int)(r / ((int64_t)g.ih * g.iw)), iy = (int)((r / g.iw) % g.ih), ix = (int)(r % g.iw);
        int z0, z1, y0, y1, x0, x1;
        covering(iz, g.k, g.s, g.pad_lo, g.od, &z0, &z1);
        covering(iy, g.k, g.s, g.pad_lo, g.oh, &y0, &y1);
        covering(ix, g.k, g.s, g.pad_lo, g.ow, &x0, &x1);
        float v = acc ? din[i] : 0.0f;
        for (int z = z0; z <= z1; z++)
            for (int y = y0; y <= y1; y++)
                for (int x = x0; x <= x1; x++) {
                    const int64_t o = nc * op + ((int64_t)z * g.oh + y) * g.ow + x;
                    if (argmax[o] == i) v += dout[o];
                }
        din[i] = v;
    }
}

void qr_nn_cuda_maxpool3d_forward(qr_nn_context *ctx, const qr_nn_pool *g, float *out, int32_t *argmax,
                                  const float *in) {
    const int64_t no = (int64_t)g->n * g->c * g->od * g->oh * g->ow;
    if (no <= 0 || !qr_cu_enter(ctx)) return;
    if ((int64_t)g->n * g->c * g->id * g->ih * g->iw > INT32_MAX) {
        qr_cu_fail(ctx, "max pooling", "input over 2^31 elements (argmax is int32; use a smaller batch)");
        return;
    }
    QR_CU_LAUNCH(ctx, maxpool_fwd, qr_cu_blocks(no), *g, out, argmax, in);
}

void qr_nn_cuda_maxpool3d_backward(qr_nn_context *ctx, const qr_nn_pool *g, float *din, int acc, const float *dout,
                                   const int32_t *argmax) {
    const int64_t ni = (int64_t)g->n * g->c * g->id * g->ih * g->iw;
    if (ni <= 0 || !qr_cu_enter(ctx)) return;
    QR_CU_LAUNCH(ctx, maxpool_bwd, qr_cu_blocks(ni), *g, din, acc, dout, argmax);
}

/* one thread per (n, c): the P values in order, in double (as the reference) */
__global__ void avgpool_fwd(int64_t nc, int64_t P, float *out, const float *in) {
    QR_CU_FOR(j, nc) {
        double sum = 0;
        for (int64_t p = 0; p < P; p++) sum += in[j * P + p];
        out[j] = (float)(sum / (double)P);
    }
}

__global__ void avgpool_bwd(int64_t total, int64_t P, float *din, int acc, const float *dout) {
    QR_CU_FOR(i, total) qr_cu_put(din, i, dout[i / P] / (float)P, acc);
}

void qr_nn_cuda_avgpool_forward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *out, const float *in) {
    const int64_t nc = (int64_t)s->n * s->c, P = (int64_t)s->d * s->h * s->w;
    if (nc <= 0 || P <= 0 || !qr_cu_enter(ctx)) return;
    QR_CU_LAUNCH(ctx, avgpool_fwd, qr_cu_blocks(nc), nc, P, out, in);
}

void qr_nn_cuda_avgpool_backward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *din, int acc, const float *dout) {
    const int64_t P = (int64_t)s->d * s->h * s->w, total = (int64_t)s->n * s->c * P;
    if (total <= 0 || !qr_cu_enter(ctx)) return;
    QR_CU_LAUNCH(ctx, avgpool_bwd, qr_cu_blocks(total), total, P, din, acc, dout);
}
