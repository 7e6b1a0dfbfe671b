/*
 * pool.c (reference) - max pooling (cubic window k, stride s, padding pad_lo/pad_hi; padded
 * positions never win) and global average pooling, NCDHW.
 *   out[n][c][z][y][x] = max_{a,b,e < k, inside} in[n][c][zs + a - pad_lo][ys + b - pad_lo][xs + e - pad_lo]
 *   ties: the first window position in (a, b, e) order wins (as PyTorch)
 *   argmax = flat NCDHW index of the winner;  din[argmax] += dout (windows may overlap)
 *   avg: out[n][c] = sum_p in[n][c][p] / P;  din[n][c][p] = dout[n][c] / P
 */
#include <math.h>
#include <string.h>

#include "ref.h"

void qr_nn_ref_maxpool3d_forward(qr_nn_context *ctx, const qr_nn_pool *g, float *out, int32_t *argmax,
                                 const float *in) {
    (void)ctx;
    const int64_t ip = (int64_t)g->id * g->ih * g->iw, op = (int64_t)g->od * g->oh * g->ow;
    for (int64_t nc = 0; nc < (int64_t)g->n * g->c; nc++)
        for (int z = 0; z < g->od; z++)
            for (int y = 0; y < g->oh; y++)
                for (int x = 0; x < g->ow; x++) {
                    float best = -INFINITY;
                    int64_t arg = -1;
                    for (int a = 0; a < g->k; a++) {
                        int iz = z * g->s + a - g->pad_lo;
                        if (iz < 0 || iz >= g->id) continue;
                        for (int b = 0; b < g->k; b++) {
                            int iy = y * g->s + b - g->pad_lo;
                            if (iy < 0 || iy >= g->ih) continue;
                            for (int e = 0; e < g->k; e++) {
                                int ix = x * g->s + e - g->pad_lo;
                                if (ix < 0 || ix >= g->iw) continue;
                                int64_t i = nc * ip + ((int64_t)iz * g->ih + iy) * g->iw + ix;
                                if (arg < 0 || in[i] > best || (isnan(in[i]) && !isnan(best))) {
                                    best = in[i];
                                    arg = i;
                                    if (isnan(best)) goto done;
                                }
                            }
                        }
                    }
                done:;
                    int64_t o = nc * op + ((int64_t)z * g->oh + y) * g->ow + x;
                    out[o] = best;
                    argmax[o] = (int32_t)arg;
                }
}

void qr_nn_ref_maxpool3d_backward(qr_nn_context *ctx, const qr_nn_pool *g, float *din, int acc, const float *dout,
                                  const int32_t *argmax) {
    (void)ctx;
    const int64_t ni = (int64_t)g->n * g->c * g->id * g->ih * g->iw, no = (int64_t)g->n * g->c * g->od * g->oh * g->ow;
    if (!acc) memset(din, 0, sizeof(float) * (size_t)ni);
    for (int64_t o = 0; o < no; o++) din[argmax[o]] += dout[o];
}

void qr_nn_ref_avgpool_forward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *out, const float *in) {
    (void)ctx;
    const int64_t P = (int64_t)s->d * s->h * s->w;
    for (int64_t nc = 0; nc < (int64_t)s->n * s->c; nc++) {
        double sum = 0;
        for (int64_t p = 0; p < P; p++) sum += in[nc * P + p];
        out[nc] = (float)(sum / (double)P);
    }
}

void qr_nn_ref_avgpool_backward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *din, int acc, const float *dout) {
    (void)ctx;
    const int64_t P = (int64_t)s->d * s->h * s->w;
    for (int64_t nc = 0; nc < (int64_t)s->n * s->c; nc++) {
        float v = dout[nc] / (float)P;
        for (int64_t p = 0; p < P; p++) din[nc * P + p] = acc ? din[nc * P + p] + v : v;
    }
}
