/*
 * adam.c (reference) - Adam with PyTorch 1.13's arithmetic (torch.optim.Adam, single-tensor
 * path), in float32 like PyTorch, step t >= 1:
 *   g   = grad + wd * p                          (if wd != 0)
 *   m   = m * b1 + (1 - b1) * g
 *   v   = v * b2 + (1 - b2) * g * g
 *   bc1 = 1 - b1^t,  bc2 = 1 - b2^t              (double, as Python computes them)
 *   p   = p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
 * Scalars computed in double by Python ((1 - b1), lr / bc1, sqrt(bc2)) are rounded to float
 * once, as PyTorch's CPU kernels receive them.
 * plus axpy (y += a x) and the sum of squares used for an L2 term.
 */
#include <math.h>

#include "ref.h"

void qr_nn_ref_adam_update(qr_nn_context *ctx, int64_t n, float *param, const float *grad, float *m, float *v,
                           const qr_nn_adam *hp) {
    (void)ctx;
    const double bc1 = 1.0 - pow((double)hp->beta1, (double)hp->step);
    const double bc2 = 1.0 - pow((double)hp->beta2, (double)hp->step);
    const float step_size = (float)(hp->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float b1 = (float)hp->beta1, b2 = (float)hp->beta2, wd = (float)hp->weight_decay, eps = (float)hp->eps;
    const float c1 = (float)(1.0 - hp->beta1), c2 = (float)(1.0 - hp->beta2);
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i];
        if (wd != 0.0f) g = g + wd * param[i];
        m[i] = m[i] * b1 + c1 * g;
        v[i] = v[i] * b2 + c2 * g * g;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        param[i] = param[i] - step_size * (m[i] / denom);
    }
}

void qr_nn_ref_axpy(qr_nn_context *ctx, int64_t n, float a, const float *x, float *y) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

void qr_nn_ref_sumsq(qr_nn_context *ctx, int64_t n, const float *x, float *out) {
    (void)ctx;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    *out = (float)s;
}
