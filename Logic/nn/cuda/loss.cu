/*
 * loss.cu (CUDA) - losses over n samples (mean reduction), as ref/loss.c; the loss is one float
 * in device memory. Sums run in double in one block of QR_CU_THREADS threads (fixed strides,
 * fixed tree): n is a batch (at most a few thousand rows), so one block is enough.
 *   BCE with logits:  l_i = max(z_i, 0) - z_i y_i + log(1 + exp(-|z_i|)),  L = sum l_i / n
 *                     dL/dz_i = (sigmoid(z_i) - y_i) / n
 *   weighted softmax CE over 2 classes (logits (n, 2), class weights w):
 *                     l_i = w[y_i] (logsumexp(z_i) - z_i[y_i]),  L = sum l_i / sum w[y_i]
 *                     dL/dz_i[k] = w[y_i] (softmax(z_i)[k] - [k = y_i]) / sum w[y_i]
 */
#include <math.h>

#include "qr_cuda.h"

__global__ void bce_fwd(int64_t n, float *loss, const float *logits, const float *labels) {
    double s = 0;
    for (int64_t i = threadIdx.x; i < n; i += QR_CU_THREADS) {
        const double z = logits[i], y = labels[i];
        s += (z > 0 ? z : 0) - z * y + log1p(exp(-fabs(z)));
    }
    s = qr_cu_block_sum(s);
    if (threadIdx.x == 0) *loss = (float)(s / (double)n);
}

__global__ void bce_bwd(int64_t n, float *dlogits, const float *logits, const float *labels) {
    QR_CU_FOR(i, n) {
        const double sg = 1.0 / (1.0 + exp(-(double)logits[i]));
        dlogits[i] = (float)((sg - labels[i]) / (double)n);
    }
}

__global__ void softmax_ce_fwd(int64_t n, float *loss, const float *logits, const float *labels, float w0, float w1) {
    double s = 0, ws = 0;
    for (int64_t i = threadIdx.x; i < n; i += QR_CU_THREADS) {
        const double z0 = logits[2 * i], z1 = logits[2 * i + 1], mx = z0 > z1 ? z0 : z1;
        const double lse = mx + log(exp(z0 - mx) + exp(z1 - mx));
        const int y = labels[i] > 0.5f;
        const double w = y ? w1 : w0;
        s += w * (lse - (y ? z1 : z0));
        ws += w;
    }
    s = qr_cu_block_sum(s);
    ws = qr_cu_block_sum(ws);
    if (threadIdx.x == 0) *loss = (float)(ws > 0 ? s / ws : 0.0);
}

/* one block: the weight sum first, then every row */
__global__ void softmax_ce_bwd(int64_t n, float *dlogits, const float *logits, const float *labels, float w0,
                               float w1) {
    double ws = 0;
    for (int64_t i = threadIdx.x; i < n; i += QR_CU_THREADS) ws += labels[i] > 0.5f ? w1 : w0;
    ws = qr_cu_block_sum(ws);
    for (int64_t i = threadIdx.x; i < n; i += QR_CU_THREADS) {
        const double z0 = logits[2 * i], z1 = logits[2 * i + 1], mx = z0 > z1 ? z0 : z1;
        const double e0 = exp(z0 - mx), e1 = exp(z1 - mx), p0 = e0 / (e0 + e1), p1 = e1 / (e0 + e1);
        const int y = labels[i] > 0.5f;
        const double w = (y ? w1 : w0) / (ws > 0 ? ws : 1.0);
        dlogits[2 * i] = (float)(w * (p0 - (y == 0)));
        dlogits[2 * i + 1] = (float)(w * (p1 - (y == 1)));
    }
}

void qr_nn_cuda_bce_forward(qr_nn_context *ctx, int64_t n, float *loss, const float *logits, const float *labels) {
    if (n <= 0 || !qr_cu_enter(ctx)) return;
    QR_CU_LAUNCH(ctx, bce_fwd, 1, n, loss, logits, labels);
}

void qr_nn_cuda_bce_backward(qr_nn_context *ctx, int64_t n, float *dlogits, const float *logits,
                             const float *labels) {
    if (n <= 0 || !qr_cu_enter(ctx)) return;
    QR_CU_LAUNCH(ctx, bce_bwd, qr_cu_blocks(n), n, dlogits, logits, labels);
}

void qr_nn_cuda_softmax_ce_forward(qr_nn_context *ctx, int64_t n, float *loss, const float *logits,
                                   const float *labels, float w0, float w1) {
    if (n <= 0 || !qr_cu_enter(ctx)) return;
    QR_CU_LAUNCH(ctx, softmax_ce_fwd, 1, n, loss, logits, labels, w0, w1);
}

void qr_nn_cuda_softmax_ce_backward(qr_nn_context *ctx, int64_t n, float *dlogits, const float *logits,
                                    const float *labels, float w0, float w1) {
    if (n <= 0 || !qr_cu_enter(ctx)) return;
    QR_CU_LAUNCH(ctx, softmax_ce_bwd, 1, n, dlogits, logits, labels, w0, w1);
}
