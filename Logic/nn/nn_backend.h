/*
 * nn_backend.h - the compute backend interface of the neural-network engine.
 *
 * A backend is a table of functions (qr_nn_backend) chosen once when a context is created;
 * model code (nn_graph.c, nn_train.c) calls only through the table and has no #ifdef. Each layer
 * is a forward/backward pair with one argument order (llm.c style):
 *     layer_forward(ctx, shape, out, [saved...], in, [weights...])
 *     layer_backward(ctx, shape, din, acc, [dweights...], dout, [saved/inputs...], [weights...])
 * All tensor pointers are backend memory (host memory for the CPU backends, device memory for
 * CUDA). Backward functions write parameter gradients (=, never +=: no parameter is used twice
 * in a step) and write or accumulate the input gradient: acc = 0 overwrites din, acc = 1 adds to
 * it (a tensor consumed twice - a residual input - receives two contributions). din may be NULL
 * where no input gradient is needed (the first convolution).
 *
 * Layouts. 2D tensors (samples x features) are row-major (N, F) in every backend. 5D
 * activations (N, C, D, H, W) are in the backend's own layout: the reference backend keeps
 * PyTorch's NCDHW; the optimised CPU backend uses "PNC" = [D][H][W][N][C] (position-major,
 * then sample, then channel), in which every convolution tap is a dense GEMM without im2col
 * and without work on zero padding. Only upload5/download5 know the layout; everything else
 * passes the pointers on. Convolution and linear weights are likewise in a backend layout,
 * converted by weight_upload/weight_download from PyTorch's (Cout, Cin, kd, kh, kw) / (out, in).
 *
 * Files mirror each other by name: ref/conv3d.c, cpu/conv3d.c and (later) cuda/conv3d.cu.
 * Symbols used in shape comments: N batch, C channels, D/H/W depth/height/width (slice axis D),
 * P = D*H*W positions, K kernel size, S stride, F features.
 */
#ifndef QR_NN_BACKEND_H
#define QR_NN_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A 5D activation (N, C, D, H, W). */
typedef struct qr_nn_shape5 {
    int n, c, d, h, w;
} qr_nn_shape5;

/* A 3D convolution with cubic kernel k, stride s and symmetric zero padding p:
 * out (n, cout, od, oh, ow), in (n, cin, id, ih, iw), weight (cout, cin, k, k, k) [PyTorch]
 * o = (i + 2p - k) / s + 1 per axis. */
typedef struct qr_nn_conv {
    int n, cin, cout;
    int id, ih, iw;
    int od, oh, ow;
    int k, s, p;
} qr_nn_conv;

/* Optional fused epilogue of a convolution (inference and biased convolutions):
 *   out[o] = act(scale[o] * conv[o] + shift[o] + residual)      (NULL scale = 1, shift = 0) */
typedef struct qr_nn_epilogue {
    const float *scale;    /* (cout) or NULL */
    const float *shift;    /* (cout) or NULL: a bias, or a folded BatchNorm shift */
    const float *residual; /* same shape as out, or NULL */
    int relu;              /* 1: ReLU after the sum */
} qr_nn_epilogue;

/* BatchNorm over a 5D activation (per channel over N*D*H*W values, is5d = 1) or a 2D
 * (n, c) tensor (per column over n rows, is5d = 0, spatial = 1). */
typedef struct qr_nn_bn {
    int64_t n;       /* samples */
    int c;           /* channels / features */
    int64_t spatial; /* D*H*W (1 for 2D) */
    int is5d;
    float eps;       /* 1e-5 */
    float momentum;  /* 0.1: running = (1 - m) * running + m * batch (unbiased variance) */
} qr_nn_bn;

/* Max pooling, cubic kernel k, stride s, padding pad_lo before and pad_hi after on each axis
 * (padded positions never win; PyTorch: pad_lo = pad_hi = p; TF 'same': pad_lo = 0 for k = 2). */
typedef struct qr_nn_pool {
    int n, c;
    int id, ih, iw;
    int od, oh, ow;
    int k, s, pad_lo, pad_hi;
} qr_nn_pool;

/* Adam hyper-parameters of one update (PyTorch semantics, bias correction with step t >= 1):
 *   g' = g + wd * p;  m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2
 *   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) */
typedef struct qr_nn_adam {
    double lr, beta1, beta2, eps, weight_decay; /* as Python passes them; scalars are rounded to
                                                   float where PyTorch rounds them */
    int64_t step;
} qr_nn_adam;

/* Kinds of parameter tensors (for layout conversion). */
typedef enum qr_nn_tensor_layout {
    QR_NN_LAYOUT_PLAIN = 0, /* vectors and anything the backend keeps as is */
    QR_NN_LAYOUT_CONV,      /* (Cout, Cin, K, K, K) */
    QR_NN_LAYOUT_LINEAR     /* (out, in) */
} qr_nn_tensor_layout;

/* One patch to sample (nn.h's qr_nn_patch_sample resolved against the bank, in backend memory):
 * the crop's channel c starts at bank + offset + c * size[0] * size[1] * size[2]. */
typedef struct qr_nn_patch_job {
    int64_t offset;
    int32_t size[3];
    int32_t mode;      /* qr_nn_sample_mode */
    int32_t flip;
    int32_t turns;
    int32_t base[3];
    float centre[3];
    float A[9];        /* row-major */
    float sigma[3];    /* blur along W, H, D */
    int32_t radius[3]; /* blur kernel radius along W, H, D (0: no blur along that axis) */
} qr_nn_patch_job;

typedef struct qr_nn_backend {
    const char *name; /* "ref", "cpu", "cuda" */

    /* ---- lifetime ---- */
    qr_status (*init)(qr_nn_context *ctx);  /* set ctx->be_state, describe the device */
    void (*shutdown)(qr_nn_context *ctx);

    /* ---- memory (zero-filled allocations; NULL on failure) ---- */
    void *(*alloc)(qr_nn_context *ctx, size_t bytes);
    void (*free)(qr_nn_context *ctx, void *p);
    void (*upload)(qr_nn_context *ctx, void *dst, const void *host, size_t bytes);
    void (*download)(qr_nn_context *ctx, void *host, const void *src, size_t bytes);
    void (*zero)(qr_nn_context *ctx, void *p, size_t bytes);
    void (*copy)(qr_nn_context *ctx, void *dst, const void *src, size_t bytes);
    /* 5D activations: host NCDHW <-> backend layout. */
    void (*upload5)(qr_nn_context *ctx, const qr_nn_shape5 *s, float *dst, const float *host_ncdhw);
    void (*download5)(qr_nn_context *ctx, const qr_nn_shape5 *s, float *host_ncdhw, const float *src);
    /* Parameters: host PyTorch layout <-> backend layout (dims as in PyTorch). */
    void (*weight_upload)(qr_nn_context *ctx, qr_nn_tensor_layout l, const int64_t *dims, float *dst, const float *host);
    void (*weight_download)(qr_nn_context *ctx, qr_nn_tensor_layout l, const int64_t *dims, float *host, const float *src);

    /* ---- convolution (conv3d.c) ---- */
    void (*conv3d_forward)(qr_nn_context *ctx, const qr_nn_conv *g, float *out, const float *in, const float *w,
                           const qr_nn_epilogue *epi);
    /* din (may be NULL), dw (cout, cin, k^3), db (cout, may be NULL) from dout and the forward input. */
    void (*conv3d_backward)(qr_nn_context *ctx, const qr_nn_conv *g, float *din, int acc, float *dw, float *db,
                            const float *dout, const float *in, const float *w);

    /* ---- batch normalisation (batchnorm.c) ---- */
    /* training = 1: normalise with batch mean and biased variance, save mean and 1/sqrt(var+eps)
     * (per channel), update the running statistics; training = 0: use the running statistics. */
    void (*batchnorm_forward)(qr_nn_context *ctx, const qr_nn_bn *g, float *out, float *save_mean, float *save_rstd,
                              const float *in, const float *gamma, const float *beta, float *run_mean, float *run_var,
                              int training);
    void (*batchnorm_backward)(qr_nn_context *ctx, const qr_nn_bn *g, float *din, int acc, float *dgamma,
                               float *dbeta, const float *dout, const float *in, const float *save_mean,
                               const float *save_rstd, const float *gamma);
    /* Inference folding: scale = gamma / sqrt(run_var + eps), shift = beta - run_mean * scale. */
    void (*batchnorm_fold)(qr_nn_context *ctx, const qr_nn_bn *g, float *scale, float *shift, const float *gamma,
                           const float *beta, const float *run_mean, const float *run_var);

    /* ---- element-wise (activation.c); n = element count, layout-agnostic ---- */
    void (*relu_forward)(qr_nn_context *ctx, int64_t n, float *out, const float *in);
    void (*relu_backward)(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *out);
    /* swish(x) = x * sigmoid(x); backward uses the input. */
    void (*swish_forward)(qr_nn_context *ctx, int64_t n, float *out, const float *in);
    void (*swish_backward)(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *in);
    void (*tanh_forward)(qr_nn_context *ctx, int64_t n, float *out, const float *in);
    void (*tanh_backward)(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *out);
    /* out = a + b;  residual sums. */
    void (*add_forward)(qr_nn_context *ctx, int64_t n, float *out, const float *a, const float *b);
    /* out = in * mask (dropout with multipliers 0 or 1/(1-p)); backward: din (+)= dout * mask. */
    void (*mul_forward)(qr_nn_context *ctx, int64_t n, float *out, const float *in, const float *mask);
    void (*mul_backward)(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout, const float *mask);
    /* din (+)= dout (a gradient passing through a sum or a copy). */
    void (*grad_pass)(qr_nn_context *ctx, int64_t n, float *din, int acc, const float *dout);

    /* ---- pooling (pool.c) ---- */
    /* argmax holds the winning input index (backend layout) per output element. */
    void (*maxpool3d_forward)(qr_nn_context *ctx, const qr_nn_pool *g, float *out, int32_t *argmax, const float *in);
    void (*maxpool3d_backward)(qr_nn_context *ctx, const qr_nn_pool *g, float *din, int acc, const float *dout,
                               const int32_t *argmax);
    /* Global average pool: 5D (N, C, D, H, W) -> 2D (N, C). */
    void (*avgpool_forward)(qr_nn_context *ctx, const qr_nn_shape5 *s, float *out, const float *in);
    void (*avgpool_backward)(qr_nn_context *ctx, const qr_nn_shape5 *s, float *din, int acc, const float *dout);

    /* ---- tensor plumbing (tensor.c) ---- */
    /* 2D column concatenation: out (n, ca + cb) = [a (n, ca) | b (n, cb)]. */
    void (*concat2_forward)(qr_nn_context *ctx, int64_t n, int ca, int cb, float *out, const float *a, const float *b);
    void (*concat2_backward)(qr_nn_context *ctx, int64_t n, int ca, int cb, float *da, int acc_a, float *db, int acc_b,
                             const float *dout);
    /* 5D channel concatenation: out (N, ca + cb, D, H, W) = [a | b]; s->c is ignored. */
    void (*concat5_forward)(qr_nn_context *ctx, const qr_nn_shape5 *s, int ca, int cb, float *out, const float *a,
                            const float *b);
    void (*concat5_backward)(qr_nn_context *ctx, const qr_nn_shape5 *s, int ca, int cb, float *da, int acc_a,
                             float *db, int acc_b, const float *dout);
    /* 5D -> 2D flatten in PyTorch order: out (N, C*D*H*W). */
    void (*flatten5_forward)(qr_nn_context *ctx, const qr_nn_shape5 *s, float *out, const float *in);
    void (*flatten5_backward)(qr_nn_context *ctx, const qr_nn_shape5 *s, float *din, int acc, const float *dout);
    /* 5D per-channel affine on the input: out[c] = (in[c] - shift[c]) * scale[c] (host vectors). */
    void (*channel_affine5)(qr_nn_context *ctx, const qr_nn_shape5 *s, float *x, const float *shift,
                            const float *scale);

    /* ---- linear layer (linear.c): out (n, fout) = in (n, fin) W^T + b ---- */
    void (*linear_forward)(qr_nn_context *ctx, int64_t n, int fin, int fout, float *out, const float *in,
                           const float *w, const float *b);
    void (*linear_backward)(qr_nn_context *ctx, int64_t n, int fin, int fout, float *din, int acc, float *dw,
                            float *db, const float *dout, const float *in, const float *w);

    /* ---- DeepSMOTE interpolation (smote.c) ----
     * out (n + m, k): rows 0..n-1 copy in; row n + r = in[i_r] + a_r * (in[j_r] - in[i_r])
     * (torch.lerp). pairs (m, 2) int32 [i_r, j_r] and a (m) are backend memory. */
    void (*smote_forward)(qr_nn_context *ctx, int64_t n, int64_t m, int k, float *out, const float *in,
                          const int32_t *pairs, const float *a);
    void (*smote_backward)(qr_nn_context *ctx, int64_t n, int64_t m, int k, float *din, int acc, const float *dout,
                           const int32_t *pairs, const float *a);

    /* ---- losses (loss.c); loss is one float in backend memory ---- */
    /* Binary cross-entropy with logits, mean over n: l = max(z,0) - z y + log(1 + exp(-|z|)). */
    void (*bce_forward)(qr_nn_context *ctx, int64_t n, float *loss, const float *logits, const float *labels);
    void (*bce_backward)(qr_nn_context *ctx, int64_t n, float *dlogits, const float *logits, const float *labels);
    /* Weighted softmax cross-entropy over 2 classes (PyTorch CrossEntropyLoss(weight=w)):
     * l = sum_i w[y_i] (-log softmax(z_i)[y_i]) / sum_i w[y_i]; logits (n, 2). */
    void (*softmax_ce_forward)(qr_nn_context *ctx, int64_t n, float *loss, const float *logits, const float *labels,
                               float w0, float w1);
    void (*softmax_ce_backward)(qr_nn_context *ctx, int64_t n, float *dlogits, const float *logits,
                                const float *labels, float w0, float w1);

    /* ---- optimiser (adam.c) ---- */
    void (*adam_update)(qr_nn_context *ctx, int64_t n, float *param, const float *grad, float *m, float *v,
                        const qr_nn_adam *hp);
    /* y += a * x (Keras L2 gradient 2 l2 w on kernels) */
    void (*axpy)(qr_nn_context *ctx, int64_t n, float a, const float *x, float *y);
    /* sum of squares of x into one float in backend memory (for the L2 term of the loss) */
    void (*sumsq)(qr_nn_context *ctx, int64_t n, const float *x, float *out);

    /* ---- patch sampling (patch.cu; NULL: the backend takes host patches) ----
     * Channels [channel0, channel0 + s->c) of s->n sampled patches (nn.h, qr_nn_patch_sample)
     * into out (s: backend layout); jobs (s->n) and bank are backend memory. any_blur / any_context:
     * whether any job blurs / is a CONTEXT job (lets the sampler skip passes). */
    void (*patch_sample)(qr_nn_context *ctx, const qr_nn_shape5 *s, int channel0, float *out, const float *bank,
                         const qr_nn_patch_job *jobs, int any_blur, int any_context);

    /* ---- errors ---- */
    /* A backend whose functions can fail after a successful alloc (a GPU: failed library calls,
     * kernel launches, device faults) records the first failure and skips later work; check
     * returns it (QR_ERR_DEVICE, message set with qr_fail) and clears it, QR_OK if none.
     * NULL: the backend cannot fail that way (CPU). The engine calls it through
     * qr_nn_backend_check() before it trusts results that came back from the backend. */
    qr_status (*check)(qr_nn_context *ctx);
} qr_nn_backend;


/* The backends of this build. qr_nn_backend_cuda() is NULL where CUDA is not compiled in. */
const qr_nn_backend *qr_nn_backend_ref(void);
const qr_nn_backend *qr_nn_backend_cpu(void);
const qr_nn_backend *qr_nn_backend_cuda(void);

/* The context (visible to backends; callers use the opaque handle of nn.h). */
struct qr_nn_context {
    const qr_nn_backend *be;
    qr_nn_device device;
    int threads;               /* resolved thread count (>= 1) */
    qr_nn_precision precision; /* the CUDA backend reads it; host backends get the TF32 layer */
    void *be_state;            /* backend private state */
    char description[200];
    /* TF32 emulation on a host backend (nn_tf32.c): be points at tf32_table, which calls the
     * backend's own functions (inner) on rounded copies of the operands. */
    const qr_nn_backend *inner;
    qr_nn_backend tf32_table;
    float *tf32_buf[3];
    size_t tf32_cap[3]; /* floats */
    int tf32_failed;    /* an allocation failed: results are void until check() reports it */
};

/* Put the TF32 layer over the context's host backend (after its init). */
void qr_nn_tf32_install(qr_nn_context *ctx);
/* Round to TF32: 10 mantissa bits, nearest even (Inf and NaN unchanged). */
static inline float qr_nn_tf32_round(float x) {
    union {
        float f;
        uint32_t u;
    } v = {x};
    if ((v.u & 0x7f800000u) == 0x7f800000u) return x;
    v.u += 0xfffu + ((v.u >> 13) & 1u);
    v.u &= ~0x1fffu;
    return v.f;
}

/* ctx->be->check(ctx) if the backend has one, else QR_OK. */
static inline qr_status qr_nn_backend_check(qr_nn_context *ctx) {
    return ctx->be->check ? ctx->be->check(ctx) : QR_OK;
}

/* Output size of a convolution/pool axis. */
static inline int qr_nn_conv_out(int i, int k, int s, int pad_lo, int pad_hi) { return (i + pad_lo + pad_hi - k) / s + 1; }

#ifdef __cplusplus
}
#endif
#endif
