/*
 * conv3d.c (reference) - 3D convolution, NCDHW, cubic kernel K, stride S, zero padding P.
 *
 *   out[n][o][z][y][x] = sum_{c, a, b, e} in[n][c][zS + a - P][yS + b - P][xS + e - P] * w[o][c][a][b][e]
 *   (terms whose input index falls outside the volume are zero padding and are skipped)
 *   then the epilogue: out = relu?(scale[o] * out + shift[o] + residual)
 *
 * Backward (gather form, every output element summed in a fixed order):
 *   dw[o][c][a][b][e] = sum_{n, z, y, x} dout[n][o][z][y][x] * in[n][c][zS + a - P][...]
 *   db[o]             = sum_{n, z, y, x} dout[n][o][z][y][x]
 *   din[n][c][i][j][l] = sum_{o, a, b, e : (i + P - a) = zS, ...} dout[n][o][z][y][x] * w[o][c][a][b][e]
 *
 * in (N, Cin, ID, IH, IW), w (Cout, Cin, K, K, K), out/dout (N, Cout, OD, OH, OW).
 */
#include "ref.h"

#define IDX5(n, c, z, y, x, C, D, H, W) (((((int64_t)(n) * (C) + (c)) * (D) + (z)) * (H) + (y)) * (W) + (x))

void qr_nn_ref_conv3d_forward(qr_nn_context *ctx, const qr_nn_conv *g, float *out, const float *in, const float *w,
                              const qr_nn_epilogue *epi) {
    (void)ctx;
    const int K = g->k, S = g->s, P = g->p;
    for (int n = 0; n < g->n; n++)
        for (int o = 0; o < g->cout; o++)
            for (int z = 0; z < g->od; z++)
                for (int y = 0; y < g->oh; y++)
                    for (int x = 0; x < g->ow; x++) {
                        double acc = 0;
                        for (int c = 0; c < g->cin; c++)
                            for (int a = 0; a < K; a++) {
                                int iz = z * S + a - P;
                                if (iz < 0 || iz >= g->id) continue;
                                for (int b = 0; b < K; b++) {
                                    int iy = y * S + b - P;
                                    if (iy < 0 || iy >= g->ih) continue;
                                    for (int e = 0; e < K; e++) {
                                        int ix = x * S + e - P;
                                        if (ix < 0 || ix >= g->iw) continue;
                                        acc += (double)in[IDX5(n, c, iz, iy, ix, g->cin, g->id, g->ih, g->iw)] *
                                               w[IDX5(o, c, a, b, e, g->cin, K, K, K)];
                                    }
                                }
                            }
                        int64_t oi = IDX5(n, o, z, y, x, g->cout, g->od, g->oh, g->ow);
                        if (epi) {
                            if (epi->scale) acc *= epi->scale[o];
                            if (epi->shift) acc += epi->shift[o];
                            if (epi->residual) acc += epi->residual[oi];
                            if (epi->relu && acc < 0) acc = 0;
                        }
                        out[oi] = (float)acc;
                    }
}

void qr_nn_ref_conv3d_backward(qr_nn_context *ctx, const qr_nn_conv *g, float *din, int acc, float *dw, float *db,
                               const float *dout, const float *in, const float *w) {
    (void)ctx;
    const int K = g->k, S = g->s, P = g->p;
    /* weight gradient */
    for (int o = 0; o < g->cout; o++)
        for (int c = 0; c < g->cin; c++)
            for (int a = 0; a < K; a++)
                for (int b = 0; b < K; b++)
                    for (int e = 0; e < K; e++) {
                        double s = 0;
                        for (int n = 0; n < g->n; n++)
                            for (int z = 0; z < g->od; z++) {
                                int iz = z * S + a - P;
                                if (iz < 0 || iz >= g->id) continue;
                                for (int y = 0; y < g->oh; y++) {
                                    int iy = y * S + b - P;
                                    if (iy < 0 || iy >= g->ih) continue;
                                    for (int x = 0; x < g->ow; x++) {
                                        int ix = x * S + e - P;
                                        if (ix < 0 || ix >= g->iw) continue;
                                        s += (double)dout[IDX5(n, o, z, y, x, g->cout, g->od, g->oh, g->ow)] *
                                             in[IDX5(n, c, iz, iy, ix, g->cin, g->id, g->ih, g->iw)];
                                    }
                                }
                            }
                        dw[IDX5(o, c, a, b, e, g->cin, K, K, K)] = (float)s;
                    }
    if (db)
        for (int o = 0; o < g->cout; o++) {
            double s = 0;
            for (int n = 0; n < g->n; n++)
                for (int64_t i = 0; i < (int64_t)g->od * g->oh * g->ow; i++)
                    s += dout[IDX5(n, o, 0, 0, 0, g->cout, g->od, g->oh, g->ow) + i];
            db[o] = (float)s;
        }
    if (!din) return;
    /* input gradient: output z contributes to input iz = z*S + a - P, i.e. z = (iz + P - a) / S */
    for (int n = 0; n < g->n; n++)
        for (int c = 0; c < g->cin; c++)
            for (int iz = 0; iz < g->id; iz++)
                for (int iy = 0; iy < g->ih; iy++)
                    for (int ix = 0; ix < g->iw; ix++) {
                        double s = 0;
                        for (int o = 0; o < g->cout; o++)
                            for (int a = 0; a < K; a++) {
                                int tz = iz + P - a;
                                if (tz < 0 || tz % S || tz / S >= g->od) continue;
                                for (int b = 0; b < K; b++) {
                                    int ty = iy + P - b;
                                    if (ty < 0 || ty % S || ty / S >= g->oh) continue;
                                    for (int e = 0; e < K; e++) {
                                        int tx = ix + P - e;
                                        if (tx < 0 || tx % S || tx / S >= g->ow) continue;
                                        s += (double)dout[IDX5(n, o, tz / S, ty / S, tx / S, g->cout, g->od, g->oh,
                                                               g->ow)] *
                                             w[IDX5(o, c, a, b, e, g->cin, K, K, K)];
                                    }
                                }
                            }
                        int64_t ii = IDX5(n, c, iz, iy, ix, g->cin, g->id, g->ih, g->iw);
                        din[ii] = acc ? din[ii] + (float)s : (float)s;
                    }
}
