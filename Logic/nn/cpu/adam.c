/*
 * adam.c (CPU) - Adam with PyTorch 1.13's arithmetic (see ref/adam.c), threaded over the flat
 * parameter block, plus axpy.
 *
 * Adam is memory-bound (7 float streams). Without weight decay an element whose gradient and
 * both moments are exactly zero keeps all three unchanged (m = 0, v = 0, p -= step * 0 / eps),
 * so blocks of 16 such elements are skipped without writing: the kernel taps of layer3/layer4
 * that only ever meet zero padding (two thirds of the network's weights at 16 x 32 x 32) cost
 * three reads instead of four reads and three writes. Results are bit-identical to the plain loop.
 */
#include <math.h>

#include "cpu.h"

void qr_nn_cpu_adam_update(qr_nn_context *ctx, int64_t n, float *param, const float *grad, float *m, float *v,
                           const qr_nn_adam *hp) {
    const double bc1 = 1.0 - pow(hp->beta1, (double)hp->step);
    const double bc2 = 1.0 - pow(hp->beta2, (double)hp->step);
    const float step_size = (float)(hp->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float b1 = (float)hp->beta1, b2 = (float)hp->beta2, wd = (float)hp->weight_decay, eps = (float)hp->eps;
    const float c1 = (float)(1.0 - hp->beta1), c2 = (float)(1.0 - hp->beta2);
    const int64_t nb = (n + 15) / 16;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (n > 65536)
    for (int64_t blk = 0; blk < nb; blk++) {
        const int64_t i0 = blk * 16, i1 = i0 + 16 < n ? i0 + 16 : n;
        if (wd == 0.0f) {
            int zero = 1;
            for (int64_t i = i0; i < i1; i++) zero &= (grad[i] == 0.0f) & (m[i] == 0.0f) & (v[i] == 0.0f);
            if (zero) continue;
        }
        for (int64_t i = i0; i < i1; i++) {
            float g = grad[i];
            if (wd != 0.0f) g = g + wd * param[i];
            m[i] = m[i] * b1 + c1 * g;
            v[i] = v[i] * b2 + c2 * g * g;
            float denom = sqrtf(v[i]) / bc2_sqrt + eps;
            param[i] = param[i] - step_size * (m[i] / denom);
        }
    }
}

void qr_nn_cpu_axpy(qr_nn_context *ctx, int64_t n, float a, const float *x, float *y) {
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}
