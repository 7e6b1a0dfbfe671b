/*
 * ref.h - the reference backend: every layer of the engine as plain loops over PyTorch's NCDHW
 * layout, with double accumulators. This is the specification the optimised backends are
 * tested against (Testing/nn). Functions follow nn_backend.h's argument order; the CPU backend
 * reuses the ones that are not hot (losses, DeepSMOTE).
 */
#ifndef QR_NN_REF_H
#define QR_NN_REF_H

#include "nn/nn_backend.h"

/* conv3d.c */
void qr_nn_ref_conv3d_forward(qr_nn_context *ctx, const qr_nn_conv *g, float *out, const float *in, const float *w,
                              const qr_nn_epilogue *epi);
void qr_nn_ref_conv3d_backward(qr_nn_context *ctx, const qr_nn_conv *g, float *din, int acc, float *dw, float *db,
                               const float *dout, const float *in, const float *w);
/* batchnorm.c */
void qr_nn_ref_batchnorm_forward(qr_nn_context *ctx, const qr_nn_bn *g, float *out, float *save_mean,
                                 float *save_rstd, const float *in, const float *gamma, const float *beta,
                                 float *run_mean, float *run_var, int training);
void qr_nn_ref_batchnorm_backward(qr_nn_context *ctx, const qr_nn_bn *g, float *din, int acc, float *dgamma,
                                  float *dbeta, const float *dout, const float *in, const float *save_mean,
                                  const float *save_rstd, const float *gamma);
void qr_nn_ref_batchnorm_fold(qr_nn_context *ctx, const qr_nn_bn *g, float *scale, float *shift,
                              const float *gamma, const float *beta, const float *run_mean, const float *run_var);
/* activation.c */
void qr_nn_ref_relu_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in);
void qr_nn_ref_relu_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *out);
void qr_nn_ref_swish_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in);
void qr_nn_ref_swish_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *in);
void qr_nn_ref_tanh_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in);
void qr_nn_ref_tanh_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *out);
void qr_nn_ref_add_forward(qr_nn_context *ctx, int64_t n, float *out, const float *a, const float *b);
void qr_nn_ref_mul_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in, const float *mask);
void qr_nn_ref_mul_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *mask);
void qr_nn_ref_grad_pass(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout);
/* pool.c */
void qr_nn_ref_maxpool3d_forward(qr_nn_context *ctx, const qr_nn_pool *g, float *out, int32_t *argmax,
                                 const float *in);
void qr_nn_ref_maxpool3d_backward(qr_nn_context *ctx, const qr_nn_pool *g, float *din, int acc, const float *dout,
                                  const int32_t *argmax);
void qr_nn_ref_avgpool_forward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *out, const float *in);
void qr_nn_ref_avgpool_backward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *din, int acc, const float *dout);
/* tensor.c */
void qr_nn_ref_concat2_forward(qr_nn_context *ctx, int64_t n, int ca, int cb, float *out, const float *a,
                               const float *b);
void qr_nn_ref_concat2_backward(qr_nn_context *ctx, int64_t n, int ca, int cb, float *da, int acc_a, float *db,
                                int acc_b, const float *dout);
void qr_nn_ref_concat5_forward(qr_nn_context *ctx, const qr_nn_shape5 *s, int ca, int cb, float *out,
                               const float *a, const float *b);
void qr_nn_ref_concat5_backward(qr_nn_context *ctx, const qr_nn_shape5 *s, int ca, int cb, float *da, int acc_a,
                                float *db, int acc_b, const float *dout);
void qr_nn_ref_flatten5_forward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *out, const float *in);
void qr_nn_ref_flatten5_backward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *din, int acc, const float *dout);
void qr_nn_ref_channel_affine5(qr_nn_context *ctx, const qr_nn_shape5 *s, float *x, const float *shift,
                               const float *scale);
/* linear.c */
void qr_nn_ref_linear_forward(qr_nn_context *ctx, int64_t n, int fin, int fout, float *out, const float *in,
                              const float *w, const float *b);
void qr_nn_ref_linear_backward(qr_nn_context *ctx, int64_t n, int fin, int fout, float *din, int acc, float *dw,
                               float *db, const float *dout, const float *in, const float *w);
/* smote.c */
void qr_nn_ref_smote_forward(qr_nn_context *ctx, int64_t n, int64_t m, int k, float *out, const float *in,
                             const int32_t *pairs, const float *a);
void qr_nn_ref_smote_backward(qr_nn_context *ctx, int64_t n, int64_t m, int k, float *din, int acc,
                              const float *dout, const int32_t *pairs, const float *a);
/* loss.c */
void qr_nn_ref_bce_forward(qr_nn_context *ctx, int64_t n, float *loss, const float *logits, const float *labels);
void qr_nn_ref_bce_backward(qr_nn_context *ctx, int64_t n, float *dlogits, const float *logits, const float *labels);
void qr_nn_ref_softmax_ce_forward(qr_nn_context *ctx, int64_t n, float *loss, const float *logits,
                                  const float *labels, float w0, float w1);
void qr_nn_ref_softmax_ce_backward(qr_nn_context *ctx, int64_t n, float *dlogits, const float *logits,
                                   const float *labels, float w0, float w1);
/* adam.c */
void qr_nn_ref_adam_update(qr_nn_context *ctx, int64_t n, float *param, const float *grad, float *m, float *v,
                           const qr_nn_adam *hp);
void qr_nn_ref_axpy(qr_nn_context *ctx, int64_t n, float a, const float *x, float *y);
void qr_nn_ref_sumsq(qr_nn_context *ctx, int64_t n, const float *x, float *out);

#endif
