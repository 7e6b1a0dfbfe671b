/*
 * activation.c (CPU) - element-wise layers (formulas in ref/activation.c), threaded over
 * contiguous ranges and vectorised by the compiler.
 */
#include <math.h>

#include "cpu.h"

#define PAR _Pragma("omp parallel for num_threads(ctx->threads) schedule(dynamic, 16384) if (n > 32768)")
#define PUT(i, v) (din[i] = acc ? din[i] + (v) : (v))

void qr_nn_cpu_relu_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in) {
    PAR for (int64_t i = 0; i < n; i++) out[i] = in[i] < 0 ? 0.0f : in[i];
}
void qr_nn_cpu_relu_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *out) {
    PAR for (int64_t i = 0; i < n; i++) PUT(i, out[i] > 0 ? dout[i] : 0.0f);
}
void qr_nn_cpu_swish_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in) {
    PAR for (int64_t i = 0; i < n; i++) out[i] = in[i] / (1.0f + expf(-in[i]));
}
void qr_nn_cpu_swish_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *in) {
    PAR for (int64_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-in[i]));
        PUT(i, dout[i] * s * (1.0f + in[i] * (1.0f - s)));
    }
}
void qr_nn_cpu_tanh_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in) {
    PAR for (int64_t i = 0; i < n; i++) out[i] = tanhf(in[i]);
}
void qr_nn_cpu_tanh_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *out) {
    PAR for (int64_t i = 0; i < n; i++) PUT(i, dout[i] * (1.0f - out[i] * out[i]));
}
void qr_nn_cpu_add_forward(qr_nn_context *ctx, int64_t n, float *out, const float *a, const float *b) {
    PAR for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}
void qr_nn_cpu_mul_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in, const float *mask) {
    PAR for (int64_t i = 0; i < n; i++) out[i] = in[i] * mask[i];
}
void qr_nn_cpu_mul_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *mask) {
    PAR for (int64_t i = 0; i < n; i++) PUT(i, dout[i] * mask[i]);
}
void qr_nn_cpu_grad_pass(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout) {
    PAR for (int64_t i = 0; i < n; i++) PUT(i, dout[i]);
}
