/*
 * activation.c (reference) - element-wise layers over n values (any layout).
 *   relu(x) = max(x, 0),               drelu = dout * [out > 0]   (relu(NaN) = NaN, as PyTorch:
 *                                      a NaN must reach the output checks, not turn into 0)
 *   swish(x) = x s, s = 1/(1+e^-x),    dswish = dout * s (1 + x (1 - s))
 *   tanh,                              dtanh = dout * (1 - out^2)
 *   add: out = a + b;  mul: out = in * mask (dropout), dmul = dout * mask;  grad_pass: din = dout
 * Backward functions overwrite din (acc = 0) or add to it (acc = 1).
 */
#include <math.h>

#include "ref.h"

#define PUT(i, v) (din[i] = acc ? din[i] + (v) : (v))

void qr_nn_ref_relu_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++) out[i] = in[i] < 0 ? 0.0f : in[i];
}
void qr_nn_ref_relu_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *out) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++) PUT(i, out[i] > 0 ? dout[i] : 0.0f);
}
void qr_nn_ref_swish_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++) out[i] = in[i] / (1.0f + expf(-in[i]));
}
void qr_nn_ref_swish_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *in) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-in[i]));
        PUT(i, dout[i] * s * (1.0f + in[i] * (1.0f - s)));
    }
}
void qr_nn_ref_tanh_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++) out[i] = tanhf(in[i]);
}
void qr_nn_ref_tanh_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *out) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++) PUT(i, dout[i] * (1.0f - out[i] * out[i]));
}
void qr_nn_ref_add_forward(qr_nn_context *ctx, int64_t n, float *out, const float *a, const float *b) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}
void qr_nn_ref_mul_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in, const float *mask) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++) out[i] = in[i] * mask[i];
}
void qr_nn_ref_mul_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *mask) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++) PUT(i, dout[i] * mask[i]);
}
void qr_nn_ref_grad_pass(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++) PUT(i, dout[i]);
}
