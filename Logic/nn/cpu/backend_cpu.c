/*
 * backend_cpu.c - the optimised CPU backend's function table: PNC activations, AVX-512 indirect
 * GEMM convolutions (portable C without AVX-512), OpenMP threads; losses, DeepSMOTE and
 * concatenations of 2D tensors are shared with the reference (not hot).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "nn/ref/ref.h"

typedef struct cpu_state {
    float *scratch;
    size_t cap;        /* floats */
    atomic_int failed; /* an allocation failed: results are void until check() reports it */
} cpu_state;

float *qr_cpu_scratch(qr_nn_context *ctx, size_t floats) {
    cpu_state *st = ctx->be_state;
    if (floats > st->cap) {
        free(st->scratch);
        st->scratch = NULL;
        st->cap = 0;
        size_t cap = floats + floats / 4 + 1024;
        float *p = aligned_alloc(64, (sizeof(float) * cap + 63) / 64 * 64);
        if (!p) {
            qr_cpu_failed(ctx);
            return NULL;
        }
        memset(p, 0, sizeof(float) * cap);
        st->scratch = p;
        st->cap = cap;
    }
    return st->scratch;
}

void qr_cpu_failed(qr_nn_context *ctx) { atomic_store(&((cpu_state *)ctx->be_state)->failed, 1); }

static qr_status cpu_check(qr_nn_context *ctx) {
    cpu_state *st = ctx->be_state;
    if (st && atomic_exchange(&st->failed, 0))
        return qr_fail(QR_ERR_NOMEM, "out of memory for the network's working buffers");
    return QR_OK;
}

static qr_status cpu_init(qr_nn_context *ctx) {
    cpu_state *st = calloc(1, sizeof *st);
    if (!st) return qr_fail(QR_ERR_NOMEM, "out of memory");
    ctx->be_state = st;
#if defined(__AVX512F__)
    const char *isa = "AVX-512 kernels";
#else
    const char *isa = "portable C kernels";
#endif
    snprintf(ctx->description, sizeof ctx->description, "cpu (%s, %d thread%s)", isa, ctx->threads,
             ctx->threads == 1 ? "" : "s");
    return QR_OK;
}

static void cpu_shutdown(qr_nn_context *ctx) {
    cpu_state *st = ctx->be_state;
    if (st) free(st->scratch);
    free(st);
    ctx->be_state = NULL;
}

static void *cpu_alloc(qr_nn_context *ctx, size_t bytes) {
    (void)ctx;
    size_t sz = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, sz ? sz : 64);
    if (p) memset(p, 0, sz ? sz : 64); /* touch every page now, not in the first pass */
    return p;
}
static void cpu_free(qr_nn_context *ctx, void *p) {
    (void)ctx;
    free(p);
}
static void cpu_memcpy(qr_nn_context *ctx, void *dst, const void *src, size_t bytes) {
    (void)ctx;
    if (bytes) memmove(dst, src, bytes);
}
static void cpu_zero(qr_nn_context *ctx, void *p, size_t bytes) {
    (void)ctx;
    if (bytes) memset(p, 0, bytes);
}
static void cpu_batchnorm_fold(qr_nn_context *ctx, const qr_nn_bn *g, float *scale, float *shift, const float *gamma,
                               const float *beta, const float *run_mean, const float *run_var) {
    qr_nn_ref_batchnorm_fold(ctx, g, scale, shift, gamma, beta, run_mean, run_var);
}

static const qr_nn_backend CPU = {
    .name = "cpu",
    .init = cpu_init,
    .shutdown = cpu_shutdown,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_memcpy,
    .download = cpu_memcpy,
    .zero = cpu_zero,
    .copy = cpu_memcpy,
    .upload5 = qr_nn_cpu_upload5,
    .download5 = qr_nn_cpu_download5,
    .weight_upload = qr_nn_cpu_weight_upload,
    .weight_download = qr_nn_cpu_weight_download,
    .conv3d_forward = qr_nn_cpu_conv3d_forward,
    .conv3d_backward = qr_nn_cpu_conv3d_backward,
    .batchnorm_forward = qr_nn_cpu_batchnorm_forward,
    .batchnorm_backward = qr_nn_cpu_batchnorm_backward,
    .batchnorm_fold = cpu_batchnorm_fold,
    .relu_forward = qr_nn_cpu_relu_forward,
    .relu_backward = qr_nn_cpu_relu_backward,
    .swish_forward = qr_nn_cpu_swish_forward,
    .swish_backward = qr_nn_cpu_swish_backward,
    .tanh_forward = qr_nn_cpu_tanh_forward,
    .tanh_backward = qr_nn_cpu_tanh_backward,
    .add_forward = qr_nn_cpu_add_forward,
    .mul_forward = qr_nn_cpu_mul_forward,
    .mul_backward = qr_nn_cpu_mul_backward,
    .grad_pass = qr_nn_cpu_grad_pass,
    .maxpool3d_forward = qr_nn_cpu_maxpool3d_forward,
    .maxpool3d_backward = qr_nn_cpu_maxpool3d_backward,
    .avgpool_forward = qr_nn_cpu_avgpool_forward,
    .avgpool_backward = qr_nn_cpu_avgpool_backward,
    .concat2_forward = qr_nn_cpu_concat2_forward,
    .concat2_backward = qr_nn_cpu_concat2_backward,
    .concat5_forward = qr_nn_cpu_concat5_forward,
    .concat5_backward = qr_nn_cpu_concat5_backward,
    .flatten5_forward = qr_nn_cpu_flatten5_forward,
    .flatten5_backward = qr_nn_cpu_flatten5_backward,
    .channel_affine5 = qr_nn_cpu_channel_affine5,
    .linear_forward = qr_nn_cpu_linear_forward,
    .linear_backward = qr_nn_cpu_linear_backward,
    .smote_forward = qr_nn_ref_smote_forward,
    .smote_backward = qr_nn_ref_smote_backward,
    .bce_forward = qr_nn_ref_bce_forward,
    .bce_backward = qr_nn_ref_bce_backward,
    .softmax_ce_forward = qr_nn_ref_softmax_ce_forward,
    .softmax_ce_backward = qr_nn_ref_softmax_ce_backward,
    .adam_update = qr_nn_cpu_adam_update,
    .axpy = qr_nn_cpu_axpy,
    .sumsq = qr_nn_ref_sumsq,
    .check = cpu_check,
};

const qr_nn_backend *qr_nn_backend_cpu(void) { return &CPU; }
