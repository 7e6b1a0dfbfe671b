/*
 * backend_ref.c - the reference backend's function table: host memory, PyTorch layouts
 * (NCDHW activations, (Cout, Cin, K, K, K) / (out, in) weights), single-threaded plain loops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"

static qr_status ref_init(qr_nn_context *ctx) {
    ctx->threads = 1;
    snprintf(ctx->description, sizeof ctx->description, "ref (plain reference loops, 1 thread)");
    return QR_OK;
}
static void ref_shutdown(qr_nn_context *ctx) { (void)ctx; }
static void *ref_alloc(qr_nn_context *ctx, size_t bytes) {
    (void)ctx;
    return calloc(1, bytes ? bytes : 1);
}
static void ref_free(qr_nn_context *ctx, void *p) {
    (void)ctx;
    free(p);
}
static void ref_memcpy(qr_nn_context *ctx, void *dst, const void *src, size_t bytes) {
    (void)ctx;
    if (bytes) memmove(dst, src, bytes);
}
static void ref_zero(qr_nn_context *ctx, void *p, size_t bytes) {
    (void)ctx;
    if (bytes) memset(p, 0, bytes);
}
static void ref_upload5(qr_nn_context *ctx, const qr_nn_shape5 *s, float *dst, const float *host) {
    ref_memcpy(ctx, dst, host, sizeof(float) * (size_t)s->n * s->c * s->d * s->h * s->w);
}
static void ref_download5(qr_nn_context *ctx, const qr_nn_shape5 *s, float *host, const float *src) {
    ref_memcpy(ctx, host, src, sizeof(float) * (size_t)s->n * s->c * s->d * s->h * s->w);
}
static int64_t numel(qr_nn_tensor_layout l, const int64_t *dims) {
    int nd = l == QR_NN_LAYOUT_CONV ? 5 : l == QR_NN_LAYOUT_LINEAR ? 2 : 1;
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= dims[i];
    return n;
}
static void ref_weight_upload(qr_nn_context *ctx, qr_nn_tensor_layout l, const int64_t *dims, float *dst,
                              const float *host) {
    ref_memcpy(ctx, dst, host, sizeof(float) * (size_t)numel(l, dims));
}
static void ref_weight_download(qr_nn_context *ctx, qr_nn_tensor_layout l, const int64_t *dims, float *host,
                                const float *src) {
    ref_memcpy(ctx, host, src, sizeof(float) * (size_t)numel(l, dims));
}

static const qr_nn_backend REF = {
    .name = "ref",
    .init = ref_init,
    .shutdown = ref_shutdown,
    .alloc = ref_alloc,
    .free = ref_free,
    .upload = ref_memcpy,
    .download = ref_memcpy,
    .zero = ref_zero,
    .copy = ref_memcpy,
    .upload5 = ref_upload5,
    .download5 = ref_download5,
    .weight_upload = ref_weight_upload,
    .weight_download = ref_weight_download,
    .conv3d_forward = qr_nn_ref_conv3d_forward,
    .conv3d_backward = qr_nn_ref_conv3d_backward,
    .batchnorm_forward = qr_nn_ref_batchnorm_forward,
    .batchnorm_backward = qr_nn_ref_batchnorm_backward,
    .batchnorm_fold = qr_nn_ref_batchnorm_fold,
    .relu_forward = qr_nn_ref_relu_forward,
    .relu_backward = qr_nn_ref_relu_backward,
    .swish_forward = qr_nn_ref_swish_forward,
    .swish_backward = qr_nn_ref_swish_backward,
    .tanh_forward = qr_nn_ref_tanh_forward,
    .tanh_backward = qr_nn_ref_tanh_backward,
    .add_forward = qr_nn_ref_add_forward,
    .mul_forward = qr_nn_ref_mul_forward,
    .mul_backward = qr_nn_ref_mul_backward,
    .grad_pass = qr_nn_ref_grad_pass,
    .maxpool3d_forward = qr_nn_ref_maxpool3d_forward,
    .maxpool3d_backward = qr_nn_ref_maxpool3d_backward,
    .avgpool_forward = qr_nn_ref_avgpool_forward,
    .avgpool_backward = qr_nn_ref_avgpool_backward,
    .concat2_forward = qr_nn_ref_concat2_forward,
    .concat2_backward = qr_nn_ref_concat2_backward,
    .concat5_forward = qr_nn_ref_concat5_forward,
    .concat5_backward = qr_nn_ref_concat5_backward,
    .flatten5_forward = qr_nn_ref_flatten5_forward,
    .flatten5_backward = qr_nn_ref_flatten5_backward,
    .channel_affine5 = qr_nn_ref_channel_affine5,
    .linear_forward = qr_nn_ref_linear_forward,
    .linear_backward = qr_nn_ref_linear_backward,
    .smote_forward = qr_nn_ref_smote_forward,
    .smote_backward = qr_nn_ref_smote_backward,
    .bce_forward = qr_nn_ref_bce_forward,
    .bce_backward = qr_nn_ref_bce_backward,
    .softmax_ce_forward = qr_nn_ref_softmax_ce_forward,
    .softmax_ce_backward = qr_nn_ref_softmax_ce_backward,
    .adam_update = qr_nn_ref_adam_update,
    .axpy = qr_nn_ref_axpy,
    .sumsq = qr_nn_ref_sumsq,
};

const qr_nn_backend *qr_nn_backend_ref(void) { return &REF; }
