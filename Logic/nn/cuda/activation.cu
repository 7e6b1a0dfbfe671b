/*
 * activation.cu (CUDA) - element-wise layers over n values (any layout), as ref/activation.c:
 *   relu(x) = max(x, 0),               drelu = dout * [out > 0]
 *   swish(x) = x s, s = 1/(1+e^-x),    dswish = dout * s (1 + x (1 - s))
 *   tanh,                              dtanh = dout * (1 - out^2)
 *   add: out = a + b;  mul: out = in * mask (dropout), dmul = dout * mask;  grad_pass: din = dout
 * Backward functions overwrite din (acc = 0) or add to it (acc = 1). In-place calls (out == in,
 * din == dout) are fine: each element is read before it is written by the same thread.
 */
#include "qr_cuda.h"

__global__ void relu_fwd(int64_t n, float *out, const float *in) {
    QR_CU_FOR(i, n) out[i] = in[i] < 0 ? 0.0f : in[i];
}
__global__ void relu_bwd(int64_t n, float *din, int acc, const float *dout, const float *out) {
    QR_CU_FOR(i, n) qr_cu_put(din, i, out[i] > 0 ? dout[i] : 0.0f, acc);
}
__global__ void swish_fwd(int64_t n, float *out, const float *in) {
    QR_CU_FOR(i, n) out[i] = in[i] / (1.0f + expf(-in[i]));
}
__global__ void swish_bwd(int64_t n, float *din, int acc, const float *dout, const float *in) {
    QR_CU_FOR(i, n) {
        const float x = in[i], s = 1.0f / (1.0f + expf(-x));
        qr_cu_put(din, i, dout[i] * s * (1.0f + x * (1.0f - s)), acc);
    }
}
__global__ void tanh_fwd(int64_t n, float *out, const float *in) {
    QR_CU_FOR(i, n) out[i] = tanhf(in[i]);
}
__global__ void tanh_bwd(int64_t n, float *din, int acc, const float *dout, const float *out) {
    QR_CU_FOR(i, n) qr_cu_put(din, i, dout[i] * (1.0f - out[i] * out[i]), acc);
}
__global__ void add_fwd(int64_t n, float *out, const float *a, const float *b) {
    QR_CU_FOR(i, n) out[i] = a[i] + b[i];
}
__global__ void mul_fwd(int64_t n, float *out, const float *in, const float *mask) {
    QR_CU_FOR(i, n) out[i] = in[i] * mask[i];
}
__global__ void mul_bwd(int64_t n, float *din, int acc, const float *dout, const float *mask) {
    QR_CU_FOR(i, n) qr_cu_put(din, i, dout[i] * mask[i], acc);
}
__global__ void grad_pass_k(int64_t n, float *din, int acc, const float *dout) {
    QR_CU_FOR(i, n) qr_cu_put(din, i, dout[i], acc);
}

#define RUN(kernel, n, ...)                                                                         \
    do {                                                                                            \
        if ((n) > 0 && qr_cu_enter(ctx)) QR_CU_LAUNCH(ctx, kernel, qr_cu_blocks(n), (n), __VA_ARGS__); \
    } while (0)

void qr_nn_cuda_relu_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in) { RUN(relu_fwd, n, out, in); }
void qr_nn_cuda_relu_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout,
                              const float *out) {
    RUN(relu_bwd, n, din, acc, dout, out);
}
void qr_nn_cuda_swish_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in) { RUN(swish_fwd, n, out, in); }
void qr_nn_cuda_swish_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout,
                               const float *in) {
    RUN(swish_bwd, n, din, acc, dout, in);
}
void qr_nn_cuda_tanh_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in) { RUN(tanh_fwd, n, out, in); }
void qr_nn_cuda_tanh_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout,
                              const float *out) {
    RUN(tanh_bwd, n, din, acc, dout, out);
}
void qr_nn_cuda_add_forward(qr_nn_context *ctx, int64_t n, float *out, const float *a, const float *b) {
    RUN(add_fwd, n, out, a, b);
}
void qr_nn_cuda_mul_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in, const float *mask) {
    RUN(mul_fwd, n, out, in, mask);
}
void qr_nn_cuda_mul_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout,
                             const float *mask) {
    RUN(mul_bwd, n, din, acc, dout, mask);
}
void qr_nn_cuda_grad_pass(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout) {
    RUN(grad_pass_k, n, din, acc, dout);
}
