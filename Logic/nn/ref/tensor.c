/*
 * tensor.c (reference) - concatenation, flattening and the input's per-channel affine, NCDHW.
 *   concat2: out (n, ca + cb) = [a | b] per row;  concat5: out (N, ca + cb, D, H, W) = [a | b]
 *   flatten5: (N, C, D, H, W) -> (N, C*D*H*W) in PyTorch order (a plain copy in NCDHW)
 *   channel_affine5: x[n][c] = (x[n][c] - shift[c]) * scale[c]
 */
#include <string.h>

#include "ref.h"

#define PUT(dst, i, v, acc) ((dst)[i] = (acc) ? (dst)[i] + (v) : (v))

void qr_nn_ref_concat2_forward(qr_nn_context *ctx, int64_t n, int ca, int cb, float *out, const float *a,
                               const float *b) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++) {
        memcpy(out + i * (ca + cb), a + i * ca, sizeof(float) * (size_t)ca);
        memcpy(out + i * (ca + cb) + ca, b + i * cb, sizeof(float) * (size_t)cb);
    }
}

void qr_nn_ref_concat2_backward(qr_nn_context *ctx, int64_t n, int ca, int cb, float *da, int acc_a, float *db,
                                int acc_b, const float *dout) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++) {
        for (int j = 0; j < ca; j++) PUT(da, i * ca + j, dout[i * (ca + cb) + j], acc_a);
        for (int j = 0; j < cb; j++) PUT(db, i * cb + j, dout[i * (ca + cb) + ca + j], acc_b);
    }
}

void qr_nn_ref_concat5_forward(qr_nn_context *ctx, const qr_nn_shape5 *s, int ca, int cb, float *out,
                               const float *a, const float *b) {
    (void)ctx;
    const int64_t P = (int64_t)s->d * s->h * s->w;
    for (int n = 0; n < s->n; n++) {
        memcpy(out + (int64_t)n * (ca + cb) * P, a + (int64_t)n * ca * P, sizeof(float) * (size_t)(ca * P));
        memcpy(out + ((int64_t)n * (ca + cb) + ca) * P, b + (int64_t)n * cb * P, sizeof(float) * (size_t)(cb * P));
    }
}

void qr_nn_ref_concat5_backward(qr_nn_context *ctx, const qr_nn_shape5 *s, int ca, int cb, float *da, int acc_a,
                                float *db, int acc_b, const float *dout) {
    (void)ctx;
    const int64_t P = (int64_t)s->d * s->h * s->w;
    for (int n = 0; n < s->n; n++) {
        const float *src = dout + (int64_t)n * (ca + cb) * P;
        for (int64_t i = 0; i < ca * P; i++) PUT(da, (int64_t)n * ca * P + i, src[i], acc_a);
        for (int64_t i = 0; i < cb * P; i++) PUT(db, (int64_t)n * cb * P + i, src[ca * P + i], acc_b);
    }
}

void qr_nn_ref_flatten5_forward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *out, const float *in) {
    (void)ctx;
    memcpy(out, in, sizeof(float) * (size_t)s->n * s->c * s->d * s->h * s->w);
}

void qr_nn_ref_flatten5_backward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *din, int acc, const float *dout) {
    (void)ctx;
    int64_t n = (int64_t)s->n * s->c * s->d * s->h * s->w;
    for (int64_t i = 0; i < n; i++) PUT(din, i, dout[i], acc);
}

void qr_nn_ref_channel_affine5(qr_nn_context *ctx, const qr_nn_shape5 *s, float *x, const float *shift,
                               const float *scale) {
    (void)ctx;
    const int64_t P = (int64_t)s->d * s->h * s->w;
    for (int n = 0; n < s->n; n++)
        for (int c = 0; c < s->c; c++) {
            float *v = x + ((int64_t)n * s->c + c) * P;
            for (int64_t p = 0; p < P; p++) v[p] = (v[p] - shift[c]) * scale[c];
        }
}
