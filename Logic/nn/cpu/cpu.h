/*
 * cpu.h - the optimised CPU backend: shared declarations.
 *
 * Layout: 5D activations (N, C, D, H, W) are stored "PNC" = [D][H][W][N][C] - for every spatial
 * position p, an (N x C) row-major block. A 5D tensor is thus a 2D (P*N, C) matrix, so
 * BatchNorm, element-wise layers and channel concatenation are the same code as for 2D
 * tensors, and a convolution tap (a fixed kernel offset t) maps the block of input position q
 * onto the block of output position p by one dense GEMM:
 *     out[p] (N x Cout) += in[q] (N x Cin) * W[t] (Cin x Cout)          q = p*S + t - P
 * Taps that fall on zero padding are simply not enumerated: no work is done on padding.
 * Weights are stored in column panels of QR_CPU_NR = 64 output channels, each panel contiguous
 * ("packed"), so the micro-kernel streams B without the cache-set conflicts that a row stride of
 * 512 or 1024 floats causes: a matrix (rows x cols) is stored panel after panel, panel j holding
 * columns [64 j, 64 j + w_j) as (rows x w_j) row-major (w_j = 64 except the last).
 *   convolutions: rows = (t, Cin) with t = (kd*K + kh)*K + kw, cols = Cout
 *   linear layers: rows = in, cols = out  (the transpose of PyTorch's (out, in))
 *
 * All heavy loops go through one indirect GEMM micro-kernel (gemm.c) that sums several
 * (A, B) pairs - one per tap - into a register tile of up to 6 x 64 outputs, with a fused
 * epilogue (scale, shift, residual, ReLU, accumulate). Work is handed out to the context's
 * threads in chunks (dynamically where no ordering is at stake, so that a thread the operating
 * system pauses on a shared machine does not hold up the others), and every output element is
 * computed by one thread in a fixed order: results do not depend on the thread count.
 */
#ifndef QR_NN_CPU_H
#define QR_NN_CPU_H

#include <stdint.h>

#include "nn/nn_backend.h"

#define QR_CPU_MR 6  /* register tile rows */
#define QR_CPU_NR 64 /* register tile columns (4 AVX-512 vectors) */

/* Epilogue of a register tile: with s = acc (+ c[i][j] if accumulate),
 * c[i][j] = act(scale[j] * s + shift[j] + res[i][j]). Pointers are already offset to the tile's
 * first row/column; NULL = absent. (Accumulating first lets a long K be summed in blocks with the
 * epilogue on the last one.) */
typedef struct qr_cpu_epi {
    const float *scale, *shift, *res;
    int64_t ldr; /* row stride of res */
    int relu;
    int accumulate;
} qr_cpu_epi;

/* C (mr x nr, row stride ldc) = epilogue( sum_{g < ng} sum_{k < kc} A_g[i*rs + k*cs] * B_g[k*ldb + j] )
 * with A_g = a + aoff[g], B_g = b + boff[g]; mr <= QR_CPU_MR, nr <= QR_CPU_NR; ng may be 0. */
void qr_cpu_gemm_tile(int mr, int nr, int ng, const int64_t *aoff, const int64_t *boff, int kc, const float *a,
                      int64_t rs, int64_t cs, const float *b, int64_t ldb, float *c, int64_t ldc,
                      const qr_cpu_epi *epi);

/* Panel-packed matrix (rows x cols): offset of element (r, j) and the panel width. */
static inline int qr_cpu_panel_w(int64_t cols, int64_t j) {
    int64_t w = cols - (j / QR_CPU_NR) * QR_CPU_NR;
    return (int)(w < QR_CPU_NR ? w : QR_CPU_NR);
}
static inline int64_t qr_cpu_packed_at(int64_t rows, int64_t cols, int64_t r, int64_t j) {
    int64_t jb = j / QR_CPU_NR;
    return jb * QR_CPU_NR * rows + r * qr_cpu_panel_w(cols, j) + j % QR_CPU_NR;
}

/* Plain GEMM over a whole matrix, threaded over tiles:
 * C (m x n) = epi( A (m x k; element (i, kk) at a[i*rs + kk*cs]) * B (k x n) ), B and C either
 * row-major (ldb / ldc) or panel-packed (bpack / cpack: ldb / ldc ignored). */
void qr_cpu_gemm(qr_nn_context *ctx, int64_t m, int64_t n, int64_t k, const float *a, int64_t rs, int64_t cs,
                 const float *b, int64_t ldb, int bpack, float *c, int64_t ldc, int cpack, const float *shift,
                 int accumulate);
/* Pack / unpack a row-major (rows x cols) matrix into panels (threaded). */
void qr_cpu_pack(qr_nn_context *ctx, int64_t rows, int64_t cols, float *dst, const float *src);
void qr_cpu_unpack(qr_nn_context *ctx, int64_t rows, int64_t cols, float *dst, const float *src);

/* Scratch memory of the context (grows, kept between calls; one user at a time). NULL when it
 * cannot be allocated: the failure is recorded (qr_cpu_failed) and the caller skips its work. */
float *qr_cpu_scratch(qr_nn_context *ctx, size_t floats);
/* Record that a kernel could not do its work (an allocation failed, from any thread): the
 * backend's check() reports QR_ERR_NOMEM, and the engine discards the results. */
void qr_cpu_failed(qr_nn_context *ctx);
/* Split [0, n) into nth contiguous parts: part tid is [*lo, *hi). */
static inline void qr_cpu_range(int64_t n, int tid, int nth, int64_t *lo, int64_t *hi) {
    *lo = n * tid / nth;
    *hi = n * (tid + 1) / nth;
}

/* conv3d.c */
void qr_nn_cpu_conv3d_forward(qr_nn_context *ctx, const qr_nn_conv *g, float *out, const float *in, const float *w,
                              const qr_nn_epilogue *epi);
void qr_nn_cpu_conv3d_backward(qr_nn_context *ctx, const qr_nn_conv *g, float *din, int acc, float *dw, float *db,
                               const float *dout, const float *in, const float *w);
/* batchnorm.c */
void qr_nn_cpu_batchnorm_forward(qr_nn_context *ctx, const qr_nn_bn *g, float *out, float *save_mean,
                                 float *save_rstd, const float *in, const float *gamma, const float *beta,
                                 float *run_mean, float *run_var, int training);
void qr_nn_cpu_batchnorm_backward(qr_nn_context *ctx, const qr_nn_bn *g, float *din, int acc, float *dgamma,
                                  float *dbeta, const float *dout, const float *in, const float *save_mean,
                                  const float *save_rstd, const float *gamma);
/* column sums of a (rows x c) matrix in a fixed order (double), out[j] */
void qr_cpu_colsum(qr_nn_context *ctx, int64_t rows, int c, const float *x, double *out);
/* activation.c */
void qr_nn_cpu_relu_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in);
void qr_nn_cpu_relu_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *out);
void qr_nn_cpu_swish_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in);
void qr_nn_cpu_swish_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *in);
void qr_nn_cpu_tanh_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in);
void qr_nn_cpu_tanh_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *out);
void qr_nn_cpu_add_forward(qr_nn_context *ctx, int64_t n, float *out, const float *a, const float *b);
void qr_nn_cpu_mul_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in, const float *mask);
void qr_nn_cpu_mul_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *mask);
void qr_nn_cpu_grad_pass(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout);
/* pool.c */
void qr_nn_cpu_maxpool3d_forward(qr_nn_context *ctx, const qr_nn_pool *g, float *out, int32_t *argmax,
                                 const float *in);
void qr_nn_cpu_maxpool3d_backward(qr_nn_context *ctx, const qr_nn_pool *g, float *din, int acc, const float *dout,
                                  const int32_t *argmax);
void qr_nn_cpu_avgpool_forward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *out, const float *in);
void qr_nn_cpu_avgpool_backward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *din, int acc, const float *dout);
/* tensor.c */
void qr_nn_cpu_upload5(qr_nn_context *ctx, const qr_nn_shape5 *s, float *dst, const float *host);
void qr_nn_cpu_download5(qr_nn_context *ctx, const qr_nn_shape5 *s, float *host, const float *src);
void qr_nn_cpu_weight_upload(qr_nn_context *ctx, qr_nn_tensor_layout l, const int64_t *dims, float *dst,
                             const float *host);
void qr_nn_cpu_weight_download(qr_nn_context *ctx, qr_nn_tensor_layout l, const int64_t *dims, float *host,
                               const float *src);
void qr_nn_cpu_concat2_forward(qr_nn_context *ctx, int64_t n, int ca, int cb, float *out, const float *a,
                               const float *b);
void qr_nn_cpu_concat2_backward(qr_nn_context *ctx, int64_t n, int ca, int cb, float *da, int acc_a, float *db,
                                int acc_b, const float *dout);
void qr_nn_cpu_concat5_forward(qr_nn_context *ctx, const qr_nn_shape5 *s, int ca, int cb, float *out,
                               const float *a, const float *b);
void qr_nn_cpu_concat5_backward(qr_nn_context *ctx, const qr_nn_shape5 *s, int ca, int cb, float *da, int acc_a,
                                float *db, int acc_b, const float *dout);
void qr_nn_cpu_flatten5_forward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *out, const float *in);
void qr_nn_cpu_flatten5_backward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *din, int acc, const float *dout);
void qr_nn_cpu_channel_affine5(qr_nn_context *ctx, const qr_nn_shape5 *s, float *x, const float *shift,
                               const float *scale);
/* linear.c */
void qr_nn_cpu_linear_forward(qr_nn_context *ctx, int64_t n, int fin, int fout, float *out, const float *in,
                              const float *w, const float *b);
void qr_nn_cpu_linear_backward(qr_nn_context *ctx, int64_t n, int fin, int fout, float *din, int acc, float *dw,
                               float *db, const float *dout, const float *in, const float *w);
/* adam.c */
void qr_nn_cpu_adam_update(qr_nn_context *ctx, int64_t n, float *param, const float *grad, float *m, float *v,
                           const qr_nn_adam *hp);
void qr_nn_cpu_axpy(qr_nn_context *ctx, int64_t n, float a, const float *x, float *y);

#endif
