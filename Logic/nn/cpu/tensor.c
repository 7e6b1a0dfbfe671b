/*
 * tensor.c (CPU) - layout conversions and tensor plumbing for the PNC layout.
 *   upload5:    dst[(p*N + n)*C + c] = host[(n*C + c)*P + p]        (NCDHW -> PNC)
 *   conv weight: packed (T*Cin x Cout), element (t*Cin + ci, co) = host[(co*Cin + ci)*T + t]
 *   linear weight: packed (in x out), element (i, o) = host[o*in + i]
 *   concat5 = concat2 over the P*N rows; flatten5: out[n][c*P + p] = in[(p*N + n)*C + c]
 */
#include <string.h>

#include "cpu.h"

#define PUT(dst, i, v, acc) ((dst)[i] = (acc) ? (dst)[i] + (v) : (v))

void qr_nn_cpu_upload5(qr_nn_context *ctx, const qr_nn_shape5 *s, float *dst, const float *host) {
    const int64_t P = (int64_t)s->d * s->h * s->w, N = s->n, C = s->c;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (N * C * P > 65536)
    for (int64_t p = 0; p < P; p++)
        for (int64_t n = 0; n < N; n++)
            for (int64_t c = 0; c < C; c++) dst[(p * N + n) * C + c] = host[(n * C + c) * P + p];
}

void qr_nn_cpu_download5(qr_nn_context *ctx, const qr_nn_shape5 *s, float *host, const float *src) {
    const int64_t P = (int64_t)s->d * s->h * s->w, N = s->n, C = s->c;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (N * C * P > 65536)
    for (int64_t nc = 0; nc < N * C; nc++) {
        const int64_t n = nc / C, c = nc % C;
        for (int64_t p = 0; p < P; p++) host[nc * P + p] = src[(p * N + n) * C + c];
    }
}

void qr_nn_cpu_weight_upload(qr_nn_context *ctx, qr_nn_tensor_layout l, const int64_t *dims, float *dst,
                             const float *host) {
    (void)ctx;
    if (l == QR_NN_LAYOUT_CONV) {
        const int64_t Co = dims[0], Ci = dims[1], T = dims[2] * dims[3] * dims[4];
        for (int64_t co = 0; co < Co; co++)
            for (int64_t ci = 0; ci < Ci; ci++)
                for (int64_t t = 0; t < T; t++)
                    dst[qr_cpu_packed_at(T * Ci, Co, t * Ci + ci, co)] = host[(co * Ci + ci) * T + t];
    } else if (l == QR_NN_LAYOUT_LINEAR) {
        const int64_t O = dims[0], I = dims[1];
        for (int64_t o = 0; o < O; o++)
            for (int64_t i = 0; i < I; i++) dst[qr_cpu_packed_at(I, O, i, o)] = host[o * I + i];
    } else {
        memcpy(dst, host, sizeof(float) * (size_t)dims[0]);
    }
}

void qr_nn_cpu_weight_download(qr_nn_context *ctx, qr_nn_tensor_layout l, const int64_t *dims, float *host,
                               const float *src) {
    (void)ctx;
    if (l == QR_NN_LAYOUT_CONV) {
        const int64_t Co = dims[0], Ci = dims[1], T = dims[2] * dims[3] * dims[4];
        for (int64_t co = 0; co < Co; co++)
            for (int64_t ci = 0; ci < Ci; ci++)
                for (int64_t t = 0; t < T; t++)
                    host[(co * Ci + ci) * T + t] = src[qr_cpu_packed_at(T * Ci, Co, t * Ci + ci, co)];
    } else if (l == QR_NN_LAYOUT_LINEAR) {
        const int64_t O = dims[0], I = dims[1];
        for (int64_t o = 0; o < O; o++)
            for (int64_t i = 0; i < I; i++) host[o * I + i] = src[qr_cpu_packed_at(I, O, i, o)];
    } else {
        memcpy(host, src, sizeof(float) * (size_t)dims[0]);
    }
}

void qr_nn_cpu_concat2_forward(qr_nn_context *ctx, int64_t n, int ca, int cb, float *out, const float *a,
                               const float *b) {
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (n * (ca + cb) > 65536)
    for (int64_t i = 0; i < n; i++) {
        memcpy(out + i * (ca + cb), a + i * ca, sizeof(float) * (size_t)ca);
        memcpy(out + i * (ca + cb) + ca, b + i * cb, sizeof(float) * (size_t)cb);
    }
}

void qr_nn_cpu_concat2_backward(qr_nn_context *ctx, int64_t n, int ca, int cb, float *da, int acc_a, float *db,
                                int acc_b, const float *dout) {
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (n * (ca + cb) > 65536)
    for (int64_t i = 0; i < n; i++) {
        const float *src = dout + i * (ca + cb);
        for (int j = 0; j < ca; j++) PUT(da, i * ca + j, src[j], acc_a);
        for (int j = 0; j < cb; j++) PUT(db, i * cb + j, src[ca + j], acc_b);
    }
}

void qr_nn_cpu_concat5_forward(qr_nn_context *ctx, const qr_nn_shape5 *s, int ca, int cb, float *out,
                               const float *a, const float *b) {
    qr_nn_cpu_concat2_forward(ctx, (int64_t)s->n * s->d * s->h * s->w, ca, cb, out, a, b);
}

void qr_nn_cpu_concat5_backward(qr_nn_context *ctx, const qr_nn_shape5 *s, int ca, int cb, float *da, int acc_a,
                                float *db, int acc_b, const float *dout) {
    qr_nn_cpu_concat2_backward(ctx, (int64_t)s->n * s->d * s->h * s->w, ca, cb, da, acc_a, db, acc_b, dout);
}

void qr_nn_cpu_flatten5_forward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *out, const float *in) {
    const int64_t P = (int64_t)s->d * s->h * s->w, N = s->n, C = s->c;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (N * C * P > 65536)
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < P; p++) out[n * C * P + c * P + p] = in[(p * N + n) * C + c];
}

void qr_nn_cpu_flatten5_backward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *din, int acc, const float *dout) {
    const int64_t P = (int64_t)s->d * s->h * s->w, N = s->n, C = s->c;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (N * C * P > 65536)
    for (int64_t p = 0; p < P; p++)
        for (int64_t n = 0; n < N; n++)
            for (int64_t c = 0; c < C; c++) PUT(din, (p * N + n) * C + c, dout[n * C * P + c * P + p], acc);
}

void qr_nn_cpu_channel_affine5(qr_nn_context *ctx, const qr_nn_shape5 *s, float *x, const float *shift,
                               const float *scale) {
    const int64_t rows = (int64_t)s->n * s->d * s->h * s->w;
    const int C = s->c;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (rows * C > 65536)
    for (int64_t r = 0; r < rows; r++)
        for (int c = 0; c < C; c++) x[r * C + c] = (x[r * C + c] - shift[c]) * scale[c];
}
