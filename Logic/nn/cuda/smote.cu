/*
 * smote.cu (CUDA) - the DeepSMOTE interpolation in latent space, as ref/smote.c (the neighbour
 * search and the draws are done on the host by nn_smote.c; this is the differentiable part).
 *   out[r] = in[r]                                  r < n
 *   out[n + t] = in[i_t] + a_t (in[j_t] - in[i_t])  t < m       (torch.lerp)
 * Backward: din[r] = dout[r] + sum_{t: i_t = r} (1 - a_t) dout[n + t] + sum_{t: j_t = r} a_t dout[n + t]
 * in pair order (i_t = j_t gives dout[n + t] in full). As a gather: one block per row r, its
 * threads over the k features, every thread walking the m pairs in order - the reference's
 * order of additions, no atomics.
 */
#include "qr_cuda.h"

__global__ void smote_fwd(int64_t n, int64_t m, int k, float *out, const float *in, const int32_t *pairs,
                          const float *a) {
    QR_CU_FOR(q, m * k) {
        const int64_t t = q / k, f = q - t * k;
        const float xi = in[(int64_t)pairs[2 * t] * k + f], xj = in[(int64_t)pairs[2 * t + 1] * k + f];
        out[(n + t) * k + f] = xi + a[t] * (xj - xi);
    }
}

/* grid-stride over rows (blocks), threads over features */
__global__ void smote_bwd(int64_t n, int64_t m, int k, float *din, int acc, const float *dout, const int32_t *pairs,
                          const float *a) {
    for (int64_t r = blockIdx.x; r < n; r += gridDim.x)
        for (int f = threadIdx.x; f < k; f += blockDim.x) {
            const int64_t i = r * k + f;
            float v = acc ? din[i] + dout[i] : dout[i];
            for (int64_t t = 0; t < m; t++) {
                const int32_t pi = pairs[2 * t], pj = pairs[2 * t + 1];
                if (pi == r) v += (1.0f - a[t]) * dout[(n + t) * k + f];
                if (pj == r) v += a[t] * dout[(n + t) * k + f];
            }
            din[i] = v;
        }
}

void qr_nn_cuda_smote_forward(qr_nn_context *ctx, int64_t n, int64_t m, int k, float *out, const float *in,
                              const int32_t *pairs, const float *a) {
    if (n * k <= 0 || !qr_cu_enter(ctx)) return;
    if (!qr_cu_ok(ctx, cudaMemcpyAsync(out, in, sizeof(float) * (size_t)(n * k), cudaMemcpyDeviceToDevice, qr_cu_stream(ctx)),
                  "DeepSMOTE copy"))
        return;
    if (m > 0) QR_CU_LAUNCH(ctx, smote_fwd, qr_cu_blocks(m * k), n, m, k, out, in, pairs, a);
}

void qr_nn_cuda_smote_backward(qr_nn_context *ctx, int64_t n, int64_t m, int k, float *din, int acc,
                               const float *dout, const int32_t *pairs, const float *a) {
    if (n * k <= 0 || !qr_cu_enter(ctx)) return;
    const unsigned blocks = (unsigned)(n < 65535 ? n : 65535);
    QR_CU_LAUNCH(ctx, smote_bwd, blocks, n, m, k, din, acc, dout, pairs, a);
}
