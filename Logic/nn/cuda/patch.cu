/*
 * patch.cu (CUDA) - training patches sampled on the GPU from the lesion crops of a patch bank
 * (nn.h: qr_nn_patch_sample; nn_patches.c resolves the samples into jobs). The reference is the
 * host sampler of Logic/data/patch.c (qr_patch_sample: exact reads or trilinear interpolation
 * under the affine augmentation, flip, Gaussian blur) and Logic/data/lesion_inputs.c
 * (qr_context_patch_sample: RimNet's shifted, flipped, turned window, min-max rescaled).
 *
 * Passes, each a kernel over the batch:
 *   sample   one thread per output value: flip, then the mode's read (GRID / CONTEXT integer
 *            reads, AFFINE trilinear in float; the host computes the coordinates in double, so
 *            values agree to float rounding)
 *   blur     (only when a job blurs) one pass per axis W, H, D, ping-ponging between the output
 *            and a scratch buffer; the taps exp(-t^2 / (2 sigma^2)) over the host's radius,
 *            normalised, positions beyond the patch left out. The host blurs only inside the
 *            box that can be non-zero; outside it both give exactly 0.
 *   min-max  (only for CONTEXT jobs) one block per (patch, channel): a fixed-order tree for the
 *            channel's min and max, then 2 (v - lo) / (hi - lo) - 1 (0 for a flat channel).
 * No atomics: the result is the same run after run.
 */
#include <math.h>

#include "qr_cuda.h"

/* Crop value at an integer index (0 outside the crop). */
static __device__ __forceinline__ float crop_at(const float *src, const int32_t *size, int64_t i, int64_t j, int64_t k) {
    if (i < 0 || j < 0 || k < 0 || i >= size[0] || j >= size[1] || k >= size[2]) return 0.0f;
    return src[i + (int64_t)size[0] * (j + (int64_t)size[1] * k)];
}

/* Trilinear interpolation in the host's order of the eight terms (zero weights skipped). */
static __device__ float crop_trilinear(const float *src, const int32_t *size, float x, float y, float z) {
    const float fx = floorf(x), fy = floorf(y), fz = floorf(z);
    const int64_t i = (int64_t)fx, j = (int64_t)fy, k = (int64_t)fz;
    const float tx = x - fx, ty = y - fy, tz = z - fz;
    float v = 0.0f;
    for (int dk = 0; dk < 2; dk++) {
        const float wz = dk ? tz : 1.0f - tz;
        if (wz == 0.0f) continue;
        for (int dj = 0; dj < 2; dj++) {
            const float wy = dj ? ty : 1.0f - ty;
            if (wy == 0.0f) continue;
            for (int di = 0; di < 2; di++) {
                const float wx = di ? tx : 1.0f - tx;
                if (wx == 0.0f) continue;
                v += wx * wy * wz * crop_at(src, size, i + di, j + dj, k + dk);
            }
        }
    }
    return v;
}

/* out (n, cs, D, H, W): channel channel0 + c of sample s. */
__global__ void patch_sample_kernel(int64_t total, int cs, int channel0, int D, int H, int W, float *out,
                                    const float *bank, const qr_nn_patch_job *jobs) {
    const int64_t P = (int64_t)D * H * W;
    QR_CU_FOR(e, total) {
        const int64_t q = e / P, pos = e - q * P;
        const int64_t smp = q / cs;
        const int c = channel0 + (int)(q - smp * cs);
        const qr_nn_patch_job *j = &jobs[smp];
        int p[3] = {(int)(pos % W), (int)((pos / W) % H), (int)(pos / ((int64_t)W * H))};
        const int S[3] = {W, H, D};
        if (j->flip >= 0 && j->flip < 3) p[j->flip] = S[j->flip] - 1 - p[j->flip];
        const float *src = bank + j->offset + (int64_t)c * j->size[0] * j->size[1] * j->size[2];
        float v;
        if (j->mode == QR_NN_SAMPLE_AFFINE) {
            const float u0 = (float)p[0] - 0.5f * (float)(W - 1), u1 = (float)p[1] - 0.5f * (float)(H - 1),
                        u2 = (float)p[2] - 0.5f * (float)(D - 1);
            float x[3];
            for (int r = 0; r < 3; r++) x[r] = j->centre[r] + j->A[3 * r] * u0 + j->A[3 * r + 1] * u1 + j->A[3 * r + 2] * u2;
            v = crop_trilinear(src, j->size, x[0], x[1], x[2]);
        } else {
            if (j->mode == QR_NN_SAMPLE_CONTEXT)
                for (int t = 0; t < (j->turns & 3); t++) { /* (w, h) -> (h, W - 1 - w) */
                    const int tw = p[1], th = W - 1 - p[0];
                    p[0] = tw;
                    p[1] = th;
                }
            v = crop_at(src, j->size, (int64_t)j->base[0] + p[0], (int64_t)j->base[1] + p[1], (int64_t)j->base[2] + p[2]);
        }
        out[e] = v;
    }
}

/* One blur pass along `axis` (0 W, 1 H, 2 D): out = in blurred; jobs without blur copy. */
__global__ void patch_blur_kernel(int64_t total, int cs, int D, int H, int W, int axis, float *out, const float *in,
                                  const qr_nn_patch_job *jobs) {
    const int64_t P = (int64_t)D * H * W;
    const int S = axis == 0 ? W : axis == 1 ? H : D;
    const int64_t stride = axis == 0 ? 1 : axis == 1 ? W : (int64_t)W * H;
    QR_CU_FOR(e, total) {
        const qr_nn_patch_job *j = &jobs[(e / P) / cs];
        const int r = j->mode == QR_NN_SAMPLE_CONTEXT ? 0 : j->radius[axis];
        if (r < 1) {
            out[e] = in[e];
            continue;
        }
        const float sigma = j->sigma[axis], inv = 1.0f / (2.0f * sigma * sigma);
        const int q0 = (int)(((e % P) / stride) % S);
        float sum = 0.0f, acc = 0.0f;
        for (int t = -r; t <= r; t++) {
            const float k = expf(-(float)(t * t) * inv);
            sum += k;
            const int q = q0 + t;
            if (q >= 0 && q < S) acc += k * in[e + t * stride];
        }
        out[e] = acc / sum;
    }
}

/* Min-max rescaling of the CONTEXT patches, one block per (sample, channel). */
__global__ void patch_minmax_kernel(int64_t np, int cs, int64_t P, float *x, const qr_nn_patch_job *jobs) {
    __shared__ float slo[QR_CU_THREADS], shi[QR_CU_THREADS];
    for (int64_t q = blockIdx.x; q < np; q += gridDim.x) {
        if (jobs[q / cs].mode != QR_NN_SAMPLE_CONTEXT) continue; /* the same for the whole block */
        float *v = x + q * P;
        float lo = INFINITY, hi = -INFINITY;
        for (int64_t i = threadIdx.x; i < P; i += blockDim.x) {
            lo = fminf(lo, v[i]);
            hi = fmaxf(hi, v[i]);
        }
        slo[threadIdx.x] = lo;
        shi[threadIdx.x] = hi;
        __syncthreads();
        for (int s = QR_CU_THREADS / 2; s > 0; s >>= 1) {
            if ((int)threadIdx.x < s) {
                slo[threadIdx.x] = fminf(slo[threadIdx.x], slo[threadIdx.x + s]);
                shi[threadIdx.x] = fmaxf(shi[threadIdx.x], shi[threadIdx.x + s]);
            }
            __syncthreads();
        }
        lo = slo[0];
        hi = shi[0];
        const float span = hi - lo;
        for (int64_t i = threadIdx.x; i < P; i += blockDim.x) v[i] = span > 0.0f ? 2.0f * (v[i] - lo) / span - 1.0f : 0.0f;
        __syncthreads(); /* slo/shi are reused by the next patch */
    }
}

void qr_nn_cuda_patch_sample(qr_nn_context *ctx, const qr_nn_shape5 *s, int channel0, float *out, const float *bank,
                             const qr_nn_patch_job *jobs, int any_blur, int any_context) {
    const int64_t P = (int64_t)s->d * s->h * s->w, total = (int64_t)s->n * s->c * P;
    if (total <= 0 || !qr_cu_enter(ctx)) return;
    float *tmp = NULL;
    if (any_blur) {
        tmp = (float *)qr_cu_workspace(ctx, sizeof(float) * (size_t)total);
        if (!tmp) return; /* recorded */
    }
    /* with blur: sample -> tmp, W: tmp -> out, H: out -> tmp, D: tmp -> out */
    QR_CU_LAUNCH(ctx, patch_sample_kernel, qr_cu_blocks(total), total, s->c, channel0, s->d, s->h, s->w,
                 any_blur ? tmp : out, bank, jobs);
    if (any_blur) {
        QR_CU_LAUNCH(ctx, patch_blur_kernel, qr_cu_blocks(total), total, s->c, s->d, s->h, s->w, 0, out, tmp, jobs);
        QR_CU_LAUNCH(ctx, patch_blur_kernel, qr_cu_blocks(total), total, s->c, s->d, s->h, s->w, 1, tmp, out, jobs);
        QR_CU_LAUNCH(ctx, patch_blur_kernel, qr_cu_blocks(total), total, s->c, s->d, s->h, s->w, 2, out, tmp, jobs);
    }
    if (any_context) {
        const int64_t np = (int64_t)s->n * s->c;
        QR_CU_LAUNCH(ctx, patch_minmax_kernel, (unsigned)(np < 65535 ? np : 65535), np, s->c, P, out, jobs);
    }
}
