/*
 * adam.cu (CUDA) - Adam with PyTorch 1.13's arithmetic, as ref/adam.c (float32 per element,
 * the scalars computed once on the host in double and rounded to float as PyTorch does):
 *   g   = grad + wd * p                          (if wd != 0)
 *   m   = m * b1 + (1 - b1) * g
 *   v   = v * b2 + (1 - b2) * g * g
 *   bc1 = 1 - b1^t,  bc2 = 1 - b2^t
 *   p   = p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
 * plus axpy (y += a x) and the sum of squares used for an L2 term: partial sums per block in
 * double (fixed grid for a given n), combined in block order by one block - deterministic.
 * The library is built with --fmad=false: each operation rounds on its own. The C reference may
 * contract multiply-adds into FMAs (-march builds), so the two agree to rounding, not bit for bit.
 */
#include <math.h>

#include "qr_cuda.h"

typedef struct adam_scalars {
    float step_size, bc2_sqrt, b1, b2, wd, eps, c1, c2;
} adam_scalars;

__global__ void adam_k(int64_t n, float *param, const float *grad, float *m, float *v, adam_scalars s) {
    QR_CU_FOR(i, n) {
        float g = grad[i];
        if (s.wd != 0.0f) g = g + s.wd * param[i];
        const float mi = m[i] * s.b1 + s.c1 * g;
        const float vi = v[i] * s.b2 + s.c2 * g * g;
        m[i] = mi;
        v[i] = vi;
        const float denom = sqrtf(vi) / s.bc2_sqrt + s.eps;
        param[i] = param[i] - s.step_size * (mi / denom);
    }
}

void qr_nn_cuda_adam_update(qr_nn_context *ctx, int64_t n, float *param, const float *grad, float *m, float *v,
                            const qr_nn_adam *hp) {
    if (n <= 0 || !qr_cu_enter(ctx)) return;
    const double bc1 = 1.0 - pow((double)hp->beta1, (double)hp->step);
    const double bc2 = 1.0 - pow((double)hp->beta2, (double)hp->step);
    adam_scalars s;
    s.step_size = (float)(hp->lr / bc1);
    s.bc2_sqrt = (float)sqrt(bc2);
    s.b1 = (float)hp->beta1;
    s.b2 = (float)hp->beta2;
    s.wd = (float)hp->weight_decay;
    s.eps = (float)hp->eps;
    s.c1 = (float)(1.0 - hp->beta1);
    s.c2 = (float)(1.0 - hp->beta2);
    QR_CU_LAUNCH(ctx, adam_k, qr_cu_blocks(n), n, param, grad, m, v, s);
}

__global__ void axpy_k(int64_t n, float a, const float *x, float *y) {
    QR_CU_FOR(i, n) y[i] += a * x[i];
}

void qr_nn_cuda_axpy(qr_nn_context *ctx, int64_t n, float a, const float *x, float *y) {
    if (n <= 0 || !qr_cu_enter(ctx)) return;
    QR_CU_LAUNCH(ctx, axpy_k, qr_cu_blocks(n), n, a, x, y);
}

/* block b sums the contiguous range [n b / B, n (b + 1) / B) */
__global__ void sumsq_partial(int64_t n, const float *x, double *part) {
    const int64_t B = gridDim.x, lo = n * blockIdx.x / B, hi = n * (blockIdx.x + 1) / B;
    double s = 0;
    for (int64_t i = lo + threadIdx.x; i < hi; i += QR_CU_THREADS) s += (double)x[i] * x[i];
    s = qr_cu_block_sum(s);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

__global__ void sumsq_total(int blocks, const double *part, float *out) {
    double s = 0;
    for (int b = threadIdx.x; b < blocks; b += QR_CU_THREADS) s += part[b];
    s = qr_cu_block_sum(s);
    if (threadIdx.x == 0) *out = (float)s;
}

void qr_nn_cuda_sumsq(qr_nn_context *ctx, int64_t n, const float *x, float *out) {
    if (!qr_cu_enter(ctx)) return;
    if (n <= 0) {
        qr_cu_ok(ctx, cudaMemsetAsync(out, 0, sizeof(float), qr_cu_stream(ctx)), "sumsq");
        return;
    }
    int64_t b = (n + 8191) / 8192;
    const int blocks = (int)(b < 1 ? 1 : b > 1024 ? 1024 : b);
    double *part = qr_cu_reduce_scratch(ctx, (size_t)blocks);
    if (!part) return;
    QR_CU_LAUNCH(ctx, sumsq_partial, (unsigned)blocks, n, x, part);
    QR_CU_LAUNCH(ctx, sumsq_total, 1, blocks, part, out);
}
