/*
 * tensor.cu (CUDA) - concatenation, flattening and the input's per-channel affine, NCDHW, as
 * ref/tensor.c:
 *   concat2: out (n, ca + cb) = [a | b] per row;  concat5: out (N, ca + cb, D, H, W) = [a | b]
 *   flatten5: (N, C, D, H, W) -> (N, C*D*H*W) in PyTorch order (a plain copy in NCDHW)
 *   channel_affine5: x[n][c] = (x[n][c] - shift[c]) * scale[c]   (shift, scale: host vectors)
 * Backward functions write (acc = 0) or add to (acc = 1) each input gradient; a NULL gradient
 * is skipped.
 */
#include "qr_cuda.h"

/* One thread per output element; row i, column j of a (rows, ca + cb) view. For concat2 a
 * "row" is a sample and a column a feature; for concat5 a row is a sample and a column one of
 * its (ca + cb) * P values, so the same two kernels serve both. */
__global__ void concat_fwd(int64_t rows, int64_t ca, int64_t cb, float *out, const float *a, const float *b) {
    const int64_t w = ca + cb;
    QR_CU_FOR(k, rows * w) {
        const int64_t i = k / w, j = k - i * w;
        out[k] = j < ca ? a[i * ca + j] : b[i * cb + (j - ca)];
    }
}

__global__ void concat_bwd(int64_t rows, int64_t ca, int64_t cb, float *da, int acc_a, float *db, int acc_b,
                           const float *dout) {
    const int64_t w = ca + cb;
    QR_CU_FOR(k, rows * w) {
        const int64_t i = k / w, j = k - i * w;
        if (j < ca) {
            if (da) qr_cu_put(da, i * ca + j, dout[k], acc_a);
        } else if (db) {
            qr_cu_put(db, i * cb + (j - ca), dout[k], acc_b);
        }
    }
}

void qr_nn_cuda_concat2_forward(qr_nn_context *ctx, int64_t n, int ca, int cb, float *out, const float *a,
                                const float *b) {
    if (n * (ca + cb) <= 0 || !qr_cu_enter(ctx)) return;
    QR_CU_LAUNCH(ctx, concat_fwd, qr_cu_blocks(n * (ca + cb)), n, (int64_t)ca, (int64_t)cb, out, a, b);
}

void qr_nn_cuda_concat2_backward(qr_nn_context *ctx, int64_t n, int ca, int cb, float *da, int acc_a, float *db,
                                 int acc_b, const float *dout) {
    if (n * (ca + cb) <= 0 || !qr_cu_enter(ctx)) return;
    QR_CU_LAUNCH(ctx, concat_bwd, qr_cu_blocks(n * (ca + cb)), n, (int64_t)ca, (int64_t)cb, da, acc_a, db, acc_b, dout);
}

void qr_nn_cuda_concat5_forward(qr_nn_context *ctx, const qr_nn_shape5 *s, int ca, int cb, float *out,
                                const float *a, const float *b) {
    const int64_t P = (int64_t)s->d * s->h * s->w, total = (int64_t)s->n * (ca + cb) * P;
    if (total <= 0 || !qr_cu_enter(ctx)) return;
    QR_CU_LAUNCH(ctx, concat_fwd, qr_cu_blocks(total), (int64_t)s->n, ca * P, cb * P, out, a, b);
}

void qr_nn_cuda_concat5_backward(qr_nn_context *ctx, const qr_nn_shape5 *s, int ca, int cb, float *da, int acc_a,
                                 float *db, int acc_b, const float *dout) {
    const int64_t P = (int64_t)s->d * s->h * s->w, total = (int64_t)s->n * (ca + cb) * P;
    if (total <= 0 || !qr_cu_enter(ctx)) return;
    QR_CU_LAUNCH(ctx, concat_bwd, qr_cu_blocks(total), (int64_t)s->n, ca * P, cb * P, da, acc_a, db, acc_b, dout);
}

void qr_nn_cuda_flatten5_forward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *out, const float *in) {
    const size_t bytes = sizeof(float) * (size_t)s->n * s->c * s->d * s->h * s->w;
    if (!bytes || out == in || !qr_cu_enter(ctx)) return;
    qr_cu_ok(ctx, cudaMemcpyAsync(out, in, bytes, cudaMemcpyDeviceToDevice, qr_cu_stream(ctx)), "flatten");
}

__global__ void pass_k(int64_t n, float *din, int acc, const float *dout) {
    QR_CU_FOR(i, n) qr_cu_put(din, i, dout[i], acc);
}

void qr_nn_cuda_flatten5_backward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *din, int acc, const float *dout) {
    const int64_t n = (int64_t)s->n * s->c * s->d * s->h * s->w;
    if (n <= 0 || !qr_cu_enter(ctx)) return;
    QR_CU_LAUNCH(ctx, pass_k, qr_cu_blocks(n), n, din, acc, dout);
}

/* Up to 8 channels' shift and scale by value (the host vectors never need a device copy). */
#define AFFINE_GROUP 8
typedef struct affine_group {
    float shift[AFFINE_GROUP], scale[AFFINE_GROUP];
} affine_group;

/* channels [c0, c0 + nc) of x (N, C, P) */
__global__ void affine_k(int64_t N, int C, int64_t P, int c0, int nc, affine_group g, float *x) {
    QR_CU_FOR(k, N * nc * P) {
        const int64_t n = k / (nc * P), r = k - n * nc * P;
        const int j = (int)(r / P);
        const int64_t i = (n * C + c0 + j) * P + (r - (int64_t)j * P);
        x[i] = (x[i] - g.shift[j]) * g.scale[j];
    }
}

void qr_nn_cuda_channel_affine5(qr_nn_context *ctx, const qr_nn_shape5 *s, float *x, const float *shift,
                                const float *scale) {
    const int64_t P = (int64_t)s->d * s->h * s->w;
    if ((int64_t)s->n * s->c * P <= 0 || !qr_cu_enter(ctx)) return;
    for (int c0 = 0; c0 < s->c; c0 += AFFINE_GROUP) {
        const int nc = s->c - c0 < AFFINE_GROUP ? s->c - c0 : AFFINE_GROUP;
        affine_group g;
        for (int j = 0; j < AFFINE_GROUP; j++) {
            g.shift[j] = j < nc ? shift[c0 + j] : 0.0f;
            g.scale[j] = j < nc ? scale[c0 + j] : 1.0f;
        }
        QR_CU_LAUNCH(ctx, affine_k, qr_cu_blocks((int64_t)s->n * nc * P), (int64_t)s->n, s->c, P, c0, nc, g, x);
    }
}
