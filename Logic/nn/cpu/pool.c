/*
 * pool.c (CPU) - max pooling and global average pooling on the PNC layout: every window
 * position is an (N x C) block, so the max runs over whole blocks. argmax holds the winning
 * window offset w = (a*K + b)*K + e per output element (ties: first offset; NaN wins, as the
 * reference). The backward pass gathers, per input position, from the outputs whose window
 * holds it, in increasing output order (the reference's order): no write conflicts, threaded
 * over input positions.
 */
#include <math.h>
#include <string.h>

#include "cpu.h"

void qr_nn_cpu_maxpool3d_forward(qr_nn_context *ctx, const qr_nn_pool *g, float *out, int32_t *argmax,
                                 const float *in) {
    const int64_t B = (int64_t)g->n * g->c, OP = (int64_t)g->od * g->oh * g->ow;
    const int K = g->k, S = g->s, L = g->pad_lo;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t p = 0; p < OP; p++) {
        const int x = (int)(p % g->ow), y = (int)(p / g->ow % g->oh), z = (int)(p / ((int64_t)g->ow * g->oh));
        float *o = out + p * B;
        int32_t *am = argmax + p * B;
        int first = 1;
        for (int a = 0; a < K; a++) {
            int iz = z * S + a - L;
            if (iz < 0 || iz >= g->id) continue;
            for (int b = 0; b < K; b++) {
                int iy = y * S + b - L;
                if (iy < 0 || iy >= g->ih) continue;
                for (int e = 0; e < K; e++) {
                    int ix = x * S + e - L;
                    if (ix < 0 || ix >= g->iw) continue;
                    const float *v = in + (((int64_t)iz * g->ih + iy) * g->iw + ix) * B;
                    const int32_t w = (a * K + b) * K + e;
                    if (first) {
                        memcpy(o, v, sizeof(float) * (size_t)B);
                        for (int64_t i = 0; i < B; i++) am[i] = w;
                        first = 0;
                        continue;
                    }
                    for (int64_t i = 0; i < B; i++)
                        if (v[i] > o[i] || (isnan(v[i]) && !isnan(o[i]))) {
                            o[i] = v[i];
                            am[i] = w;
                        }
                }
            }
        }
    }
}

void qr_nn_cpu_maxpool3d_backward(qr_nn_context *ctx, const qr_nn_pool *g, float *din, int acc, const float *dout,
                                  const int32_t *argmax) {
    const int64_t B = (int64_t)g->n * g->c, IP = (int64_t)g->id * g->ih * g->iw;
    const int K = g->k, S = g->s, L = g->pad_lo;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t q = 0; q < IP; q++) {
        const int ix = (int)(q % g->iw), iy = (int)(q / g->iw % g->ih), iz = (int)(q / ((int64_t)g->iw * g->ih));
        float *d = din + q * B;
        if (!acc) memset(d, 0, sizeof(float) * (size_t)B);
        /* outputs o with o*S - L <= i <= o*S - L + K - 1 */
        int lo[3], hi[3];
        const int ii[3] = {iz, iy, ix}, oo[3] = {g->od, g->oh, g->ow};
        for (int ax = 0; ax < 3; ax++) {
            int num = ii[ax] + L - K + 1;
            lo[ax] = num <= 0 ? 0 : (num + S - 1) / S;
            hi[ax] = (ii[ax] + L) / S;
            if (hi[ax] > oo[ax] - 1) hi[ax] = oo[ax] - 1;
        }
        for (int z = lo[0]; z <= hi[0]; z++)
            for (int y = lo[1]; y <= hi[1]; y++)
                for (int x = lo[2]; x <= hi[2]; x++) {
                    const int32_t w = ((iz - z * S + L) * K + (iy - y * S + L)) * K + (ix - x * S + L);
                    const int64_t op = ((int64_t)z * g->oh + y) * g->ow + x;
                    const float *dv = dout + op * B;
                    const int32_t *am = argmax + op * B;
                    for (int64_t i = 0; i < B; i++)
                        if (am[i] == w) d[i] += dv[i];
                }
    }
}

void qr_nn_cpu_avgpool_forward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *out, const float *in) {
    const int64_t B = (int64_t)s->n * s->c, P = (int64_t)s->d * s->h * s->w;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (B * P > 65536)
    for (int64_t i0 = 0; i0 < B; i0 += 64) {
        const int64_t i1 = i0 + 64 < B ? i0 + 64 : B;
        double acc[64] = {0};
        for (int64_t p = 0; p < P; p++)
            for (int64_t i = i0; i < i1; i++) acc[i - i0] += in[p * B + i];
        for (int64_t i = i0; i < i1; i++) out[i] = (float)(acc[i - i0] / (double)P);
    }
}

void qr_nn_cpu_avgpool_backward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *din, int acc, const float *dout) {
    const int64_t B = (int64_t)s->n * s->c, P = (int64_t)s->d * s->h * s->w;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (B * P > 65536)
    for (int64_t p = 0; p < P; p++)
        for (int64_t i = 0; i < B; i++) {
            float v = dout[i] / (float)P;
            din[p * B + i] = acc ? din[p * B + i] + v : v;
        }
}
