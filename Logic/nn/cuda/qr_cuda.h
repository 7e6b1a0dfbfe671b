/*
 * qr_cuda.h - the CUDA backend of the neural-network engine: shared declarations.
 *
 * Layouts: the same as the reference backend, so every kernel reads like its ref/ counterpart:
 *   5D activations (N, C, D, H, W) in PyTorch's NCDHW order  (upload5/download5 are plain copies)
 *   convolution weights (Cout, Cin, K, K, K), linear weights (out, in), vectors as they are.
 * All tensor pointers passed through the table are device memory, except where nn_backend.h
 * says "host" (channel_affine5's shift/scale).
 *
 * Libraries: cuDNN (legacy convolution API, present though deprecated in cuDNN 9) for 3D
 * convolutions forward and backward; cuBLAS for linear layers. Everything else is our own
 * kernels (batch normalisation, activations, pooling, concatenations, DeepSMOTE, losses, Adam,
 * the sampling and augmentation of training patches).
 *
 * Determinism: one CUDA stream per context; every reduction of our kernels has a fixed order
 * (fixed chunks per block, a fixed shared-memory tree, partial results combined in index
 * order) and no atomics; cuDNN algorithms are chosen by its heuristics (the default; not by
 * timing) among those it reports as deterministic; cuBLAS runs on one stream. So the same
 * inputs give bit-identical results run after run on the same GPU model and library versions.
 *
 * Precision: the context's (nn.h, qr_nn_precision; --precision or QSMRIM_PRECISION)
 *   fp32 (default: IEEE float32 arithmetic, no tensor-core rounding)
 *   tf32 (convolutions and linear layers on TF32 tensor cores: inputs rounded to a 10-bit
 *        mantissa, float32 accumulation)
 * Settings (environment, read when a context starts; see backend_cuda.cu):
 *   QSMRIM_CUDA_CONV_ALGO = heuristic (default, reproducible) | find (cuDNN times the candidate
 *                           algorithms once per shape and keeps the fastest deterministic one;
 *                           faster, but the choice may differ between runs; a search that
 *                           cannot allocate its own buffers falls back to the heuristic, with
 *                           a notice)
 *   QSMRIM_CUDA_WORKSPACE_MB = largest cuDNN workspace in MiB (default 2048); a choice also fits
 *                           the memory free at the time, and when that, not this limit, decides
 *                           it, a notice says so once per context (conv3d.cu)
 *
 * Errors: table functions return void, so a failure (a failed library call, a failed kernel
 * launch, an asynchronous device fault) is recorded in the context with a one-line message
 * and the remaining work is skipped; the engine collects it through the table's `check`
 * function (QR_ERR_DEVICE). Every CUDA, cuBLAS and cuDNN call is checked, and every kernel
 * launch is followed by cudaGetLastError. A kernel that faults while running is reported by the
 * next call that waits for the stream (named in the message, not the kernel); the CUDA
 * runtime's CUDA_LAUNCH_BLOCKING=1 makes every launch wait, so that the kernel itself is named.
 *
 * Kernels use blocks of QR_CU_THREADS threads and grid-stride loops over int64 indices.
 */
#ifndef QR_NN_CUDA_H
#define QR_NN_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "nn/nn_backend.h"

#define QR_CU_THREADS 256 /* threads per block of every kernel (a power of two) */

typedef enum qr_cu_precision { QR_CU_FP32 = 0, QR_CU_TF32 } qr_cu_precision;
typedef enum qr_cu_algo_mode { QR_CU_ALGO_HEURISTIC = 0, QR_CU_ALGO_FIND } qr_cu_algo_mode;

/* cuDNN descriptors and chosen algorithms of one convolution shape (batch included). */
typedef struct qr_cu_conv_plan {
    qr_nn_conv g;
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t cf, cd, cw; /* forward, backward data, backward filter */
    int have_f, have_d, have_w;              /* algorithm chosen */
    cudnnConvolutionFwdAlgo_t af;
    cudnnConvolutionBwdDataAlgo_t ad;
    cudnnConvolutionBwdFilterAlgo_t aw;
    size_t wsf, wsd, wsw; /* workspace bytes of each */
    unsigned bad_f, bad_d, bad_w; /* algorithms cuDNN refused when they ran (bit = algorithm) */
} qr_cu_conv_plan;

typedef struct qr_cu_state {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    cudnnHandle_t dnn;
    qr_cu_precision precision;
    qr_cu_algo_mode algo_mode;
    size_t ws_limit;          /* largest cuDNN workspace (bytes) */
    void *ws;                 /* cuDNN workspace (grows) */
    size_t ws_size;
    double *red;              /* reduction scratch (grows), in doubles */
    size_t red_cap;
    qr_cu_conv_plan *plans;   /* one per convolution shape seen */
    int n_plans, cap_plans;
    int warned_nondet;        /* a non-deterministic algorithm had to be used (noticed once) */
    int warned_find;          /* a timed algorithm search failed: heuristic used (noticed once) */
    int warned_refused;       /* cuDNN refused a ranked algorithm at run time (noticed once) */
    int warned_short;         /* free GPU memory, not the workspace limit, decided a choice (noticed once) */
    qr_status err;            /* first failure since the last check */
    char msg[480];
} qr_cu_state;

static inline qr_cu_state *qr_cu(qr_nn_context *ctx) { return (qr_cu_state *)ctx->be_state; }
static inline cudaStream_t qr_cu_stream(qr_nn_context *ctx) { return qr_cu(ctx)->stream; }

/* ---- cuBLAS, loaded at the first GPU context (blas_loader.cu) ---- */
typedef struct qr_cu_blas_api {
    cublasStatus_t (*create)(cublasHandle_t *h);
    cublasStatus_t (*destroy)(cublasHandle_t h);
    cublasStatus_t (*set_stream)(cublasHandle_t h, cudaStream_t s);
    cublasStatus_t (*set_math_mode)(cublasHandle_t h, cublasMath_t m);
    cublasStatus_t (*set_pointer_mode)(cublasHandle_t h, cublasPointerMode_t m);
    cublasStatus_t (*sgemm)(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const float *alpha, const float *a, int lda, const float *b, int ldb, const float *beta,
                            float *c, int ldc);
    const char *(*status_name)(cublasStatus_t s);
} qr_cu_blas_api;
extern qr_cu_blas_api qr_cu_blas_fn;
/* Load cuBLAS once per process; 0 (reason in err) if it cannot be loaded. */
int qr_cu_blas_load(char *err, size_t len);
const char *qr_cu_blas_status(cublasStatus_t s);

/* ---- error handling (backend_cuda.cu) ---- */
/* Start a table function: 0 if an earlier failure is pending (skip the work), else 1 (and the
 * context's GPU is the current device). */
int qr_cu_enter(qr_nn_context *ctx);
/* Record a failure (only the first one is kept): "cuda:N: what: detail". */
void qr_cu_fail(qr_nn_context *ctx, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Check a call's result; on failure record it and return 0. */
int qr_cu_ok(qr_nn_context *ctx, cudaError_t e, const char *what);
int qr_cu_blas_ok(qr_nn_context *ctx, cublasStatus_t e, const char *what);
int qr_cu_dnn_ok(qr_nn_context *ctx, cudnnStatus_t e, const char *what);
/* After a kernel launch: cudaGetLastError. */
int qr_cu_launched(qr_nn_context *ctx, const char *kernel);

/* kernel<<<grid, block, 0, stream>>>: every launch goes through this macro, so that the CPU
 * emulation of the tests (Testing/cuda/emu) can compile these sources as plain C++. */
#ifndef QR_CU_KERNEL
#define QR_CU_KERNEL(kernel, grid, block, stream) kernel<<<(grid), (block), 0, (stream)>>>
#endif

/* Launch kernel<<<grid, QR_CU_THREADS>>> on the context's stream and check the launch. */
#define QR_CU_LAUNCH(ctx, kernel, grid, ...)                                                        \
    do {                                                                                            \
        QR_CU_KERNEL(kernel, grid, QR_CU_THREADS, qr_cu_stream(ctx))(__VA_ARGS__);                  \
        qr_cu_launched((ctx), #kernel);                                                             \
    } while (0)

/* Blocks for a grid-stride loop over n elements (n > 0). */
static inline unsigned qr_cu_blocks(int64_t n) {
    int64_t b = (n + QR_CU_THREADS - 1) / QR_CU_THREADS;
    if (b > 16384) b = 16384;
    return (unsigned)(b > 0 ? b : 1);
}

/* ---- scratch memory (backend_cuda.cu); NULL (failure recorded) if it cannot grow ---- */
double *qr_cu_reduce_scratch(qr_nn_context *ctx, size_t doubles);
void *qr_cu_workspace(qr_nn_context *ctx, size_t bytes);

/* ---- device helpers ---- */
#ifdef __CUDACC__
#define QR_CU_FOR(i, n)                                                                             \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)blockDim.x * gridDim.x)

/* q = a / b, r = a % b for non-negative a, b > 0: 32-bit arithmetic when both fit (64-bit
 * division costs several times more), 64-bit otherwise. */
static __device__ __forceinline__ int64_t qr_cu_div(int64_t a, int64_t b) {
    if (a <= 0xffffffffLL && b <= 0xffffffffLL) return (int64_t)((uint32_t)a / (uint32_t)b);
    return a / b;
}
/* channel of element k of an (N, C, S) tensor: (k / S) % C */
static __device__ __forceinline__ int qr_cu_channel(int64_t k, int64_t S, int C) {
    const int64_t q = qr_cu_div(k, S);
    return (int)(q - qr_cu_div(q, C) * C);
}

/* din = dout (acc = 0) or din += dout (acc = 1) */
static __device__ __forceinline__ void qr_cu_put(float *d, int64_t i, float v, int acc) { d[i] = acc ? d[i] + v : v; }

/* Sum of one double per thread over a block of QR_CU_THREADS threads, in a fixed tree order;
 * every thread gets the result. All threads of the block must call it. */
static __device__ __forceinline__ double qr_cu_block_sum(double v) {
    __shared__ double sh[QR_CU_THREADS];
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = QR_CU_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}
#endif

/* ---- per-channel sums (batchnorm.cu; also the convolution bias gradient) ----
 * Over a tensor of (N, C, S) elements, element (n, c, s) at (n*C + c)*S + s (5D NCDHW with
 * S = D*H*W, or 2D (N, C) with S = 1), for each channel c, in double and a fixed order:
 *   QR_CU_SUM_X      s0 = sum x
 *   QR_CU_SUM_SQDEV  s0 = sum (x - mean[c])^2                 (mean: double, device)
 *   QR_CU_SUM_BN     s0 = sum dy,  s1 = sum dy (x - m[c]) r[c]  (m, r: float, device)
 * The M = N*S values of a channel are split into qr_cu_sum_chunks(M) contiguous chunks, one
 * block each (a fixed tree inside the block); part (2 C chunks doubles of scratch) holds the
 * chunk sums and out (2C doubles) receives, per channel, s0 at out[2c] and s1 at out[2c + 1],
 * the chunks added in order. Returns 0 on failure (recorded). */
typedef enum qr_cu_sum_op { QR_CU_SUM_X = 0, QR_CU_SUM_SQDEV, QR_CU_SUM_BN } qr_cu_sum_op;
int qr_cu_sum_chunks(int64_t m);
int qr_cu_channel_sums(qr_nn_context *ctx, qr_cu_sum_op op, int64_t n, int c, int64_t spatial, const float *x,
                       const float *dy, const double *mean_d, const float *mean_f, const float *rstd_f, double *part,
                       double *out);

/* ---- the table's functions, file by file (same names and arguments as ref.h) ---- */
/* conv3d.cu */
void qr_nn_cuda_conv3d_forward(qr_nn_context *ctx, const qr_nn_conv *g, float *out, const float *in, const float *w,
                               const qr_nn_epilogue *epi);
void qr_nn_cuda_conv3d_backward(qr_nn_context *ctx, const qr_nn_conv *g, float *din, int acc, float *dw, float *db,
                                const float *dout, const float *in, const float *w);
void qr_cu_conv_plans_free(qr_cu_state *st);
/* batchnorm.cu */
void qr_nn_cuda_batchnorm_forward(qr_nn_context *ctx, const qr_nn_bn *g, float *out, float *save_mean,
                                  float *save_rstd, const float *in, const float *gamma, const float *beta,
                                  float *run_mean, float *run_var, int training);
void qr_nn_cuda_batchnorm_backward(qr_nn_context *ctx, const qr_nn_bn *g, float *din, int acc, float *dgamma,
                                   float *dbeta, const float *dout, const float *in, const float *save_mean,
                                   const float *save_rstd, const float *gamma);
void qr_nn_cuda_batchnorm_fold(qr_nn_context *ctx, const qr_nn_bn *g, float *scale, float *shift,
                               const float *gamma, const float *beta, const float *run_mean, const float *run_var);
/* activation.cu */
void qr_nn_cuda_relu_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in);
void qr_nn_cuda_relu_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout,
                              const float *out);
void qr_nn_cuda_swish_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in);
void qr_nn_cuda_swish_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout,
                               const float *in);
void qr_nn_cuda_tanh_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in);
void qr_nn_cuda_tanh_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout,
                              const float *out);
void qr_nn_cuda_add_forward(qr_nn_context *ctx, int64_t n, float *out, const float *a, const float *b);
void qr_nn_cuda_mul_forward(qr_nn_context *ctx, int64_t n, float *out, const float *in, const float *mask);
void qr_nn_cuda_mul_backward(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout,
                             const float *mask);
void qr_nn_cuda_grad_pass(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout);
/* pool.cu */
void qr_nn_cuda_maxpool3d_forward(qr_nn_context *ctx, const qr_nn_pool *g, float *out, int32_t *argmax,
                                  const float *in);
void qr_nn_cuda_maxpool3d_backward(qr_nn_context *ctx, const qr_nn_pool *g, float *din, int acc, const float *dout,
                                   const int32_t *argmax);
void qr_nn_cuda_avgpool_forward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *out, const float *in);
void qr_nn_cuda_avgpool_backward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *din, int acc, const float *dout);
/* tensor.cu */
void qr_nn_cuda_concat2_forward(qr_nn_context *ctx, int64_t n, int ca, int cb, float *out, const float *a,
                                const float *b);
void qr_nn_cuda_concat2_backward(qr_nn_context *ctx, int64_t n, int ca, int cb, float *da, int acc_a, float *db,
                                 int acc_b, const float *dout);
void qr_nn_cuda_concat5_forward(qr_nn_context *ctx, const qr_nn_shape5 *s, int ca, int cb, float *out,
                                const float *a, const float *b);
void qr_nn_cuda_concat5_backward(qr_nn_context *ctx, const qr_nn_shape5 *s, int ca, int cb, float *da, int acc_a,
                                 float *db, int acc_b, const float *dout);
void qr_nn_cuda_flatten5_forward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *out, const float *in);
void qr_nn_cuda_flatten5_backward(qr_nn_context *ctx, const qr_nn_shape5 *s, float *din, int acc, const float *dout);
void qr_nn_cuda_channel_affine5(qr_nn_context *ctx, const qr_nn_shape5 *s, float *x, const float *shift,
                                const float *scale);
/* linear.cu */
void qr_nn_cuda_linear_forward(qr_nn_context *ctx, int64_t n, int fin, int fout, float *out, const float *in,
                               const float *w, const float *b);
void qr_nn_cuda_linear_backward(qr_nn_context *ctx, int64_t n, int fin, int fout, float *din, int acc, float *dw,
                                float *db, const float *dout, const float *in, const float *w);
/* smote.cu */
void qr_nn_cuda_smote_forward(qr_nn_context *ctx, int64_t n, int64_t m, int k, float *out, const float *in,
                              const int32_t *pairs, const float *a);
void qr_nn_cuda_smote_backward(qr_nn_context *ctx, int64_t n, int64_t m, int k, float *din, int acc,
                               const float *dout, const int32_t *pairs, const float *a);
/* patch.cu */
void qr_nn_cuda_patch_sample(qr_nn_context *ctx, const qr_nn_shape5 *s, int channel0, float *out, const float *bank,
                             const qr_nn_patch_job *jobs, int any_blur, int any_context);
/* loss.cu */
void qr_nn_cuda_bce_forward(qr_nn_context *ctx, int64_t n, float *loss, const float *logits, const float *labels);
void qr_nn_cuda_bce_backward(qr_nn_context *ctx, int64_t n, float *dlogits, const float *logits,
                             const float *labels);
void qr_nn_cuda_softmax_ce_forward(qr_nn_context *ctx, int64_t n, float *loss, const float *logits,
                                   const float *labels, float w0, float w1);
void qr_nn_cuda_softmax_ce_backward(qr_nn_context *ctx, int64_t n, float *dlogits, const float *logits,
                                    const float *labels, float w0, float w1);
/* adam.cu */
void qr_nn_cuda_adam_update(qr_nn_context *ctx, int64_t n, float *param, const float *grad, float *m, float *v,
                            const qr_nn_adam *hp);
void qr_nn_cuda_axpy(qr_nn_context *ctx, int64_t n, float a, const float *x, float *y);
void qr_nn_cuda_sumsq(qr_nn_context *ctx, int64_t n, const float *x, float *out);

#endif
