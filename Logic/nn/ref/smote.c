/*
 * smote.c (reference) - the DeepSMOTE interpolation in latent space (the neighbour search and
 * the draws are done on the host by nn_smote.c; this is the differentiable part).
 *   out[r] = in[r]                                  r < n
 *   out[n + t] = in[i_t] + a_t (in[j_t] - in[i_t])  t < m       (torch.lerp)
 * Backward: din[r] = dout[r] + sum_{t: i_t = r} (1 - a_t) dout[n + t] + sum_{t: j_t = r} a_t dout[n + t]
 * (accumulated in pair order; i_t = j_t gives dout[n + t] in full).
 */
#include <string.h>

#include "ref.h"

void qr_nn_ref_smote_forward(qr_nn_context *ctx, int64_t n, int64_t m, int k, float *out, const float *in,
                             const int32_t *pairs, const float *a) {
    (void)ctx;
    memcpy(out, in, sizeof(float) * (size_t)(n * k));
    for (int64_t t = 0; t < m; t++) {
        const float *xi = in + (int64_t)pairs[2 * t] * k, *xj = in + (int64_t)pairs[2 * t + 1] * k;
        float *o = out + (n + t) * k;
        for (int f = 0; f < k; f++) o[f] = xi[f] + a[t] * (xj[f] - xi[f]);
    }
}

void qr_nn_ref_smote_backward(qr_nn_context *ctx, int64_t n, int64_t m, int k, float *din, int acc,
                              const float *dout, const int32_t *pairs, const float *a) {
    (void)ctx;
    for (int64_t i = 0; i < n * k; i++) din[i] = acc ? din[i] + dout[i] : dout[i];
    for (int64_t t = 0; t < m; t++) {
        float *di = din + (int64_t)pairs[2 * t] * k, *dj = din + (int64_t)pairs[2 * t + 1] * k;
        const float *g = dout + (n + t) * k;
        for (int f = 0; f < k; f++) {
            di[f] += (1.0f - a[t]) * g[f];
            dj[f] += a[t] * g[f];
        }
    }
}
