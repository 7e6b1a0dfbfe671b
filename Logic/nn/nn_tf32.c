/*
 * nn_tf32.c - TF32 numerics on the host backends (ref, cpu).
 *
 * A tensor core in TF32 mode rounds both operands of every product to TF32 (the float32 exponent
 * with 10 mantissa bits) and sums the products in float32. This layer gives a host backend the
 * same numerics: it sits in front of the backend's convolution and linear-layer functions, rounds
 * copies of their operands and calls the backend's own float32 routine on the copies:
 *
 *   conv3d_forward   out = epi( round(in) * round(w) )
 *   conv3d_backward  din = round(dout) *^T round(w),  dw = round(dout) x round(in)
 *   linear_forward   out = round(in) round(w)^T + b
 *   linear_backward  din = round(dout) round(w),  dw = round(dout)^T round(in)
 *
 * The epilogue (scale, shift, residual, ReLU) and the biases stay float32, and bias gradients are
 * summed from the unrounded dout, as the CUDA backend does (its own kernels; only cuDNN's and
 * cuBLAS's products use tensor cores). So a host run in TF32 differs from a GPU run in TF32 by
 * summation order, not by rounding: this is how the effect of TF32 on parity and on metrics is
 * measured without a GPU. It costs one pass over each operand per call (small beside the
 * products) and gives no speed-up.
 *
 * The rounded copies (and the channel means of a bias gradient) live in three host buffers of the
 * context, grown as needed. If one cannot be allocated the call does nothing, and check() reports
 * QR_ERR_NOMEM before any result is used.
 */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "nn_internal.h"

/* Buffer `slot`, grown to n floats; NULL (and the failure recorded) if it cannot be. */
static float *buffer(qr_nn_context *ctx, int slot, int64_t n) {
    if (ctx->tf32_failed) return NULL;
    size_t need = (size_t)(n > 0 ? n : 1);
    if (need > ctx->tf32_cap[slot]) {
        free(ctx->tf32_buf[slot]);
        ctx->tf32_buf[slot] = malloc(sizeof(float) * need);
        ctx->tf32_cap[slot] = ctx->tf32_buf[slot] ? need : 0;
        if (!ctx->tf32_buf[slot]) ctx->tf32_failed = 1;
    }
    return ctx->tf32_buf[slot];
}

/* A rounded copy of x (n floats) in buffer `slot`, or NULL. */
static const float *rounded(qr_nn_context *ctx, int slot, const float *x, int64_t n) {
    float *r = buffer(ctx, slot, n);
    if (!r) return NULL;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (n > 262144)
    for (int64_t i = 0; i < n; i++) r[i] = qr_nn_tf32_round(x[i]);
    return r;
}

static int64_t conv_in_size(const qr_nn_conv *g) { return (int64_t)g->n * g->cin * g->id * g->ih * g->iw; }
static int64_t conv_out_size(const qr_nn_conv *g) { return (int64_t)g->n * g->cout * g->od * g->oh * g->ow; }
static int64_t conv_w_size(const qr_nn_conv *g) { return (int64_t)g->cout * g->cin * g->k * g->k * g->k; }

static void conv3d_forward(qr_nn_context *ctx, const qr_nn_conv *g, float *out, const float *in, const float *w,
                           const qr_nn_epilogue *epi) {
    const float *ri = rounded(ctx, 0, in, conv_in_size(g)), *rw = rounded(ctx, 1, w, conv_w_size(g));
    if (ri && rw) ctx->inner->conv3d_forward(ctx, g, out, ri, rw, epi);
}

static void conv3d_backward(qr_nn_context *ctx, const qr_nn_conv *g, float *din, int acc, float *dw, float *db,
                            const float *dout, const float *in, const float *w) {
    if (db) {
        /* bias gradient from the unrounded dout: per-sample channel means times the positions,
         * through the backend (the layout is its own), summed in double */
        const int64_t pos = (int64_t)g->od * g->oh * g->ow;
        float *mean = buffer(ctx, 0, (int64_t)g->n * g->cout); /* host memory, free until dout's copy */
        if (!mean) return;
        const qr_nn_shape5 s = {g->n, g->cout, g->od, g->oh, g->ow};
        ctx->inner->avgpool_forward(ctx, &s, mean, dout);
        for (int o = 0; o < g->cout; o++) {
            double sum = 0;
            for (int n = 0; n < g->n; n++) sum += mean[(int64_t)n * g->cout + o];
            db[o] = (float)(sum * (double)pos);
        }
    }
    const float *rd = rounded(ctx, 0, dout, conv_out_size(g)), *ri = rounded(ctx, 1, in, conv_in_size(g)),
                *rw = rounded(ctx, 2, w, conv_w_size(g));
    if (rd && ri && rw) ctx->inner->conv3d_backward(ctx, g, din, acc, dw, NULL, rd, ri, rw);
}

static void linear_forward(qr_nn_context *ctx, int64_t n, int fin, int fout, float *out, const float *in,
                           const float *w, const float *b) {
    const float *ri = rounded(ctx, 0, in, n * fin), *rw = rounded(ctx, 1, w, (int64_t)fin * fout);
    if (ri && rw) ctx->inner->linear_forward(ctx, n, fin, fout, out, ri, rw, b);
}

static void linear_backward(qr_nn_context *ctx, int64_t n, int fin, int fout, float *din, int acc, float *dw,
                            float *db, const float *dout, const float *in, const float *w) {
    if (db) /* (n, fout) row-major in every backend; fixed order, double */
        for (int o = 0; o < fout; o++) {
            double sum = 0;
            for (int64_t r = 0; r < n; r++) sum += dout[r * fout + o];
            db[o] = (float)sum;
        }
    const float *rd = rounded(ctx, 0, dout, n * fout), *ri = rounded(ctx, 1, in, n * fin),
                *rw = rounded(ctx, 2, w, (int64_t)fin * fout);
    if (rd && ri && rw) ctx->inner->linear_backward(ctx, n, fin, fout, din, acc, dw, NULL, rd, ri, rw);
}

static qr_status tf32_check(qr_nn_context *ctx) {
    if (ctx->tf32_failed) {
        ctx->tf32_failed = 0;
        return qr_fail(QR_ERR_NOMEM, "out of memory for the TF32 copies of a layer's operands");
    }
    return ctx->inner->check ? ctx->inner->check(ctx) : QR_OK;
}

static void tf32_shutdown(qr_nn_context *ctx) {
    for (int i = 0; i < 3; i++) {
        free(ctx->tf32_buf[i]);
        ctx->tf32_buf[i] = NULL;
        ctx->tf32_cap[i] = 0;
    }
    if (ctx->inner->shutdown) ctx->inner->shutdown(ctx);
}

void qr_nn_tf32_install(qr_nn_context *ctx) {
    ctx->inner = ctx->be;
    ctx->tf32_table = *ctx->be;
    ctx->tf32_table.conv3d_forward = conv3d_forward;
    ctx->tf32_table.conv3d_backward = conv3d_backward;
    ctx->tf32_table.linear_forward = linear_forward;
    ctx->tf32_table.linear_backward = linear_backward;
    ctx->tf32_table.check = tf32_check;
    ctx->tf32_table.shutdown = tf32_shutdown;
    ctx->be = &ctx->tf32_table;
    char *d = ctx->description;
    size_t len = strlen(d), room = sizeof ctx->description - len - 1;
    if (len && d[len - 1] == ')') {
        d[len - 1] = 0;
        strncat(d, ", TF32 rounding emulated)", room + 1);
    } else
        strncat(d, " (TF32 rounding emulated)", room);
}
