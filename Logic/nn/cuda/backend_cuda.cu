/*
 * backend_cuda.cu - the CUDA backend's function table: device selection and start-up, device
 * memory (zero-filled allocations, copies on the context's stream), layouts (NCDHW and
 * PyTorch weight layouts: plain copies), error recording and the `check` entry, scratch
 * memory for reductions and cuDNN workspaces.
 *
 * Start-up (init) answers "is there a GPU that works?" in one line, so that `--device auto`
 * can fall back to the CPU with one notice and `--device cuda` can fail clearly:
 *   bad GPU setting           "QSMRIM_CUDA_CONV_ALGO='fastest': expected heuristic or find"
 *   no driver                 "cuda:0: no NVIDIA driver for CUDA 13.0 (CUDA driver version is insufficient ...)"
 *   no device                 "cuda:0: no CUDA GPU found"
 *   index out of range        "cuda:3: this machine has 1 GPU (cuda:0)"
 *   library start failure     "cuda:0 (NVIDIA H100 ...): cuDNN could not start (CUDNN_STATUS_...)"
 *   kernels not built for it  "cuda:0 (..., compute capability 7.0): this build has no kernels for it ..."
 *   almost no free memory     "cuda:0 (...): only 12 MiB of GPU memory free"
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qr_cuda.h"

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                     */
/* ------------------------------------------------------------------------------------------ */

void qr_cu_fail(qr_nn_context *ctx, const char *what, const char *fmt, ...) {
    qr_cu_state *st = qr_cu(ctx);
    if (st->err != QR_OK) return; /* keep the first failure: later ones are usually its echo */
    char detail[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    snprintf(st->msg, sizeof st->msg, "cuda:%d: %s: %s", st->device, what, detail);
    st->err = QR_ERR_DEVICE;
}

int qr_cu_ok(qr_nn_context *ctx, cudaError_t e, const char *what) {
    if (e == cudaSuccess) return 1;
    qr_cu_fail(ctx, what, "%s", cudaGetErrorString(e));
    return 0;
}

int qr_cu_blas_ok(qr_nn_context *ctx, cublasStatus_t e, const char *what) {
    if (e == CUBLAS_STATUS_SUCCESS) return 1;
    qr_cu_fail(ctx, what, "%s", qr_cu_blas_status(e));
    return 0;
}

int qr_cu_dnn_ok(qr_nn_context *ctx, cudnnStatus_t e, const char *what) {
    if (e == CUDNN_STATUS_SUCCESS) return 1;
    char last[256] = "";
    cudnnGetLastErrorString(last, sizeof last);
    qr_cu_fail(ctx, what, "%s%s%s", cudnnGetErrorString(e), last[0] ? " - " : "", last);
    return 0;
}

int qr_cu_launched(qr_nn_context *ctx, const char *kernel) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return 1;
    qr_cu_fail(ctx, "kernel launch", "%s: %s", kernel, cudaGetErrorString(e));
    return 0;
}

/* Make the context's GPU current in this thread, for clean-up calls that must reach it even after
 * a failure (freeing on another GPU, or creating a context on GPU 0 in a thread that never used
 * CUDA, would be wrong). Errors are left to the calls that follow. */
static void select_device(const qr_cu_state *st) {
    int cur = -1;
    if (cudaGetDevice(&cur) == cudaSuccess && cur != st->device) cudaSetDevice(st->device);
}

int qr_cu_enter(qr_nn_context *ctx) {
    qr_cu_state *st = qr_cu(ctx);
    if (st->err != QR_OK) return 0;
    int cur = -1;
    if (!qr_cu_ok(ctx, cudaGetDevice(&cur), "cudaGetDevice")) return 0;
    if (cur != st->device && !qr_cu_ok(ctx, cudaSetDevice(st->device), "cudaSetDevice")) return 0;
    return 1;
}

/* The table's check: the first failure since the last call, including launch errors and
 * asynchronous faults already known to the runtime (no synchronisation). */
static qr_status cu_check(qr_nn_context *ctx) {
    qr_cu_state *st = qr_cu(ctx);
    select_device(st);
    if (st->err == QR_OK) {
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) qr_cu_fail(ctx, "device", "%s", cudaGetErrorString(e));
    }
    if (st->err == QR_OK) {
        /* "Not ready" (work still queued) is an answer, not a failure, but the runtime may keep it
         * as the thread's last error, where the next launch check would report it: clear it. Any
         * error from before the query was taken above; a device fault is the query's own answer. */
        cudaError_t e = cudaStreamQuery(st->stream);
        if (e == cudaErrorNotReady) (void)cudaGetLastError();
        else if (e != cudaSuccess) qr_cu_fail(ctx, "device", "%s", cudaGetErrorString(e));
    }
    if (st->err == QR_OK) return QR_OK;
    /* the failure is reported now: the runtime's record of it (a failed call leaves it as the
     * thread's last error) must not come back at the next launch check of a context that works */
    (void)cudaGetLastError();
    qr_status s = qr_fail(st->err, "%s", st->msg);
    st->err = QR_OK;
    st->msg[0] = 0;
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* Scratch memory                                                                             */
/* ------------------------------------------------------------------------------------------ */

/* Replace a scratch block by a larger one; the stream is drained first because queued kernels
 * may still read the old block. */
static void *grow(qr_nn_context *ctx, void *old, size_t bytes, const char *what) {
    qr_cu_state *st = qr_cu(ctx);
    const int synced = qr_cu_ok(ctx, cudaStreamSynchronize(st->stream), "cudaStreamSynchronize");
    if (old) cudaFree(old); /* the caller replaces its pointer by the result, NULL included */
    if (!synced) return NULL;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
        cudaGetLastError();
        qr_cu_fail(ctx, what, "out of GPU memory for %.1f MiB (%s)", (double)bytes / 1048576.0, cudaGetErrorString(e));
        return NULL;
    }
    return p;
}

double *qr_cu_reduce_scratch(qr_nn_context *ctx, size_t doubles) {
    qr_cu_state *st = qr_cu(ctx);
    if (doubles > st->red_cap) {
        size_t cap = doubles + doubles / 2 + 4096;
        st->red = (double *)grow(ctx, st->red, sizeof(double) * cap, "reduction scratch");
        st->red_cap = st->red ? cap : 0;
    }
    return st->red;
}

void *qr_cu_workspace(qr_nn_context *ctx, size_t bytes) {
    qr_cu_state *st = qr_cu(ctx);
    if (bytes == 0) return st->ws;
    if (bytes > st->ws_size) {
        st->ws = grow(ctx, st->ws, bytes, "cuDNN workspace");
        st->ws_size = st->ws ? bytes : 0;
    }
    return st->ws;
}

/* ------------------------------------------------------------------------------------------ */
/* Start-up                                                                                   */
/* ------------------------------------------------------------------------------------------ */

__global__ void probe_kernel(int *x) { x[threadIdx.x] = (int)threadIdx.x + 1; }

/* Settings: the precision from the context options, the rest from the environment (nn.h's
 * context options have no fields for them). */
static qr_status read_settings(const qr_nn_context *ctx, qr_cu_state *st) {
    st->precision = ctx->precision == QR_NN_PRECISION_TF32 ? QR_CU_TF32 : QR_CU_FP32;
    const char *a = getenv("QSMRIM_CUDA_CONV_ALGO");
    st->algo_mode = QR_CU_ALGO_HEURISTIC;
    if (a && *a) {
        if (!strcmp(a, "heuristic")) st->algo_mode = QR_CU_ALGO_HEURISTIC;
        else if (!strcmp(a, "find")) st->algo_mode = QR_CU_ALGO_FIND;
        else return qr_fail(QR_ERR_INVALID_ARG, "QSMRIM_CUDA_CONV_ALGO='%s': expected heuristic or find", a);
    }
    const char *w = getenv("QSMRIM_CUDA_WORKSPACE_MB");
    st->ws_limit = (size_t)2048 << 20;
    if (w && *w) {
        char *end;
        long v = strtol(w, &end, 10);
        if (*end || v < 0 || v > (1L << 20))
            return qr_fail(QR_ERR_INVALID_ARG, "QSMRIM_CUDA_WORKSPACE_MB='%s': expected a whole number of MiB", w);
        st->ws_limit = (size_t)v << 20;
    }
    return QR_OK;
}

static void release(qr_cu_state *st) {
    if (!st) return;
    select_device(st);
    if (st->stream) cudaStreamSynchronize(st->stream);
    qr_cu_conv_plans_free(st);
    if (st->ws) cudaFree(st->ws);
    if (st->red) cudaFree(st->red);
    if (st->dnn) cudnnDestroy(st->dnn);
    if (st->blas) qr_cu_blas_fn.destroy(st->blas);
    if (st->stream) cudaStreamDestroy(st->stream);
    cudaGetLastError();
    free(st);
}

static qr_status cu_init(qr_nn_context *ctx) {
    const int idx = ctx->device.index;
    qr_cu_state settings;
    memset(&settings, 0, sizeof settings);
    QR_TRY(read_settings(ctx, &settings)); /* a bad setting is an error with or without a GPU */
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        if (e == cudaErrorInsufficientDriver)
            return qr_fail(QR_ERR_DEVICE, "cuda:%d: no NVIDIA driver for CUDA %d.%d (%s)", idx, CUDART_VERSION / 1000,
                           CUDART_VERSION % 1000 / 10, cudaGetErrorString(e));
        if (e == cudaErrorNoDevice) return qr_fail(QR_ERR_DEVICE, "cuda:%d: no CUDA GPU found", idx);
        return qr_fail(QR_ERR_DEVICE, "cuda:%d: CUDA cannot start (%s)", idx, cudaGetErrorString(e));
    }
    if (count < 1) return qr_fail(QR_ERR_DEVICE, "cuda:%d: no CUDA GPU found", idx);
    if (idx >= count) {
        if (count == 1) return qr_fail(QR_ERR_DEVICE, "cuda:%d: this machine has 1 GPU (cuda:0)", idx);
        return qr_fail(QR_ERR_DEVICE, "cuda:%d: this machine has %d GPUs (cuda:0 .. cuda:%d)", idx, count, count - 1);
    }
    if ((e = cudaSetDevice(idx)) != cudaSuccess) {
        cudaGetLastError();
        return qr_fail(QR_ERR_DEVICE, "cuda:%d: cannot select the GPU (%s)", idx, cudaGetErrorString(e));
    }
    cudaDeviceProp prop;
    if ((e = cudaGetDeviceProperties(&prop, idx)) != cudaSuccess) {
        cudaGetLastError();
        return qr_fail(QR_ERR_DEVICE, "cuda:%d: cannot query the GPU (%s)", idx, cudaGetErrorString(e));
    }
    char who[200];
    snprintf(who, sizeof who, "cuda:%d (%.80s, compute capability %d.%d)", idx, prop.name, prop.major, prop.minor);

    qr_cu_state *st = (qr_cu_state *)calloc(1, sizeof *st);
    if (!st) return qr_fail(QR_ERR_NOMEM, "out of memory starting the CUDA backend");
    *st = settings;
    st->device = idx;
    if ((e = cudaStreamCreateWithFlags(&st->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        cudaGetLastError();
        release(st);
        return qr_fail(QR_ERR_DEVICE, "%s: cannot create a stream (%s)", who, cudaGetErrorString(e));
    }
    /* a tiny kernel: fails here if this build has no code for the GPU's architecture */
    int *probe = NULL;
    e = cudaMalloc(&probe, 32 * sizeof(int));
    if (e == cudaSuccess) {
        QR_CU_KERNEL(probe_kernel, 1, 32, st->stream)(probe);
        e = cudaGetLastError();
        if (e == cudaSuccess) e = cudaStreamSynchronize(st->stream);
        int back[32] = {0};
        if (e == cudaSuccess) e = cudaMemcpy(back, probe, sizeof back, cudaMemcpyDeviceToHost);
        if (e == cudaSuccess && (back[0] != 1 || back[31] != 32)) e = cudaErrorUnknown;
        cudaFree(probe);
    }
    if (e != cudaSuccess) {
        cudaGetLastError();
        release(st);
        if (e == cudaErrorNoKernelImageForDevice || e == cudaErrorInvalidKernelImage || e == cudaErrorUnsupportedPtxVersion)
            return qr_fail(QR_ERR_DEVICE,
                           "%s: this build has no kernels for it (%s); rebuild with -DCMAKE_CUDA_ARCHITECTURES=%d%d",
                           who, cudaGetErrorString(e), prop.major, prop.minor);
        return qr_fail(QR_ERR_DEVICE, "%s: a test kernel failed (%s)", who, cudaGetErrorString(e));
    }
    size_t free_b = 0, total_b = 0;
    if ((e = cudaMemGetInfo(&free_b, &total_b)) != cudaSuccess) {
        cudaGetLastError();
        release(st);
        return qr_fail(QR_ERR_DEVICE, "%s: cannot query its memory (%s)", who, cudaGetErrorString(e));
    }
    if (free_b < ((size_t)256 << 20)) {
        release(st);
        return qr_fail(QR_ERR_DEVICE, "%s: only %.0f MiB of GPU memory free (at least 256 MiB needed)", who,
                       (double)free_b / 1048576.0);
    }
    char why[256];
    if (!qr_cu_blas_load(why, sizeof why)) {
        release(st);
        return qr_fail(QR_ERR_DEVICE, "%s: cuBLAS could not be loaded (%s)", who, why);
    }
    cublasStatus_t be = qr_cu_blas_fn.create(&st->blas);
    if (be != CUBLAS_STATUS_SUCCESS) {
        st->blas = NULL;
        release(st);
        return qr_fail(QR_ERR_DEVICE, "%s: cuBLAS could not start (%s)", who, qr_cu_blas_status(be));
    }
    cudnnStatus_t de = cudnnCreate(&st->dnn);
    if (de != CUDNN_STATUS_SUCCESS) {
        st->dnn = NULL;
        release(st);
        return qr_fail(QR_ERR_DEVICE, "%s: cuDNN could not start (%s)", who, cudnnGetErrorString(de));
    }
    /* cuDNN 9 loads its convolution library (libcudnn_cnn) on first use: a missing or mismatched
     * one is found here, where --device auto can still choose the CPU, not at the first layer */
    de = cudnnCnnVersionCheck();
    if (de != CUDNN_STATUS_SUCCESS) {
        char why[256] = "";
        cudnnGetLastErrorString(why, sizeof why);
        release(st);
        return qr_fail(QR_ERR_DEVICE, "%s: cuDNN's convolution library could not be loaded (%s%s%s)", who,
                       cudnnGetErrorString(de), why[0] ? " - " : "", why);
    }
    be = qr_cu_blas_fn.set_stream(st->blas, st->stream);
    if (be == CUBLAS_STATUS_SUCCESS)
        be = qr_cu_blas_fn.set_math_mode(st->blas,
                                         st->precision == QR_CU_TF32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
    if (be == CUBLAS_STATUS_SUCCESS) be = qr_cu_blas_fn.set_pointer_mode(st->blas, CUBLAS_POINTER_MODE_HOST);
    de = cudnnSetStream(st->dnn, st->stream);
    if (be != CUBLAS_STATUS_SUCCESS || de != CUDNN_STATUS_SUCCESS) {
        release(st);
        return qr_fail(QR_ERR_DEVICE, "%s: cannot attach cuBLAS/cuDNN to the stream (%s, %s)", who,
                       qr_cu_blas_status(be), cudnnGetErrorString(de));
    }
    ctx->be_state = st; /* ctx->threads stays: host threads for the work around the GPU's (patches) */
    const size_t v = cudnnGetVersion();
    snprintf(ctx->description, sizeof ctx->description, "cuda:%d (%.40s, sm_%d%d, %.1f GiB, cuDNN %zu.%zu.%zu, %s, %s conv. algorithms)",
             idx, prop.name, prop.major, prop.minor, (double)total_b / 1073741824.0, v / 10000, (v / 100) % 100, v % 100,
             st->precision == QR_CU_TF32 ? "TF32 tensor cores" : "FP32 math",
             st->algo_mode == QR_CU_ALGO_FIND ? "timed" : "heuristic");
    return QR_OK;
}

static void cu_shutdown(qr_nn_context *ctx) {
    release(qr_cu(ctx));
    ctx->be_state = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Memory                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* Zero-filled device memory; NULL when the GPU has too little left (the caller names the need). */
static void *cu_alloc(qr_nn_context *ctx, size_t bytes) {
    if (!qr_cu_enter(ctx)) return NULL;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* an allocation failure is not sticky: the context stays usable */
        if (e != cudaErrorMemoryAllocation) qr_cu_ok(ctx, e, "cudaMalloc"); /* anything else is a device fault */
        return NULL;
    }
    if (!qr_cu_ok(ctx, cudaMemsetAsync(p, 0, bytes ? bytes : 1, qr_cu_stream(ctx)), "cudaMemsetAsync")) {
        cudaFree(p);
        return NULL;
    }
    return p;
}

static void cu_free(qr_nn_context *ctx, void *p) {
    if (!p) return;
    select_device(qr_cu(ctx));
    cudaStreamSynchronize(qr_cu_stream(ctx)); /* queued kernels may still use it */
    cudaError_t e = cudaFree(p);
    if (e != cudaSuccess) qr_cu_ok(ctx, e, "cudaFree");
}

/* Host -> device. The stream is drained before returning, so the caller may reuse or free the
 * host buffer at once whatever kind of memory it is (pageable or pinned). */
static void cu_upload(qr_nn_context *ctx, void *dst, const void *host, size_t bytes) {
    if (!bytes || !qr_cu_enter(ctx)) return;
    cudaStream_t s = qr_cu_stream(ctx);
    if (qr_cu_ok(ctx, cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, s), "upload"))
        qr_cu_ok(ctx, cudaStreamSynchronize(s), "upload");
}

/* Device -> host: waits for everything queued before it. On a pending failure the host buffer
 * is left as it is; the engine's check reports the failure. */
static void cu_download(qr_nn_context *ctx, void *host, const void *src, size_t bytes) {
    if (!bytes || !qr_cu_enter(ctx)) return;
    cudaStream_t s = qr_cu_stream(ctx);
    if (qr_cu_ok(ctx, cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, s), "download"))
        qr_cu_ok(ctx, cudaStreamSynchronize(s), "download");
}

static void cu_zero(qr_nn_context *ctx, void *p, size_t bytes) {
    if (!bytes || !qr_cu_enter(ctx)) return;
    qr_cu_ok(ctx, cudaMemsetAsync(p, 0, bytes, qr_cu_stream(ctx)), "cudaMemsetAsync");
}

static void cu_copy(qr_nn_context *ctx, void *dst, const void *src, size_t bytes) {
    if (!bytes || dst == src || !qr_cu_enter(ctx)) return;
    qr_cu_ok(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, qr_cu_stream(ctx)), "device copy");
}

/* NCDHW on both sides: a plain copy. */
static size_t bytes5(const qr_nn_shape5 *s) { return sizeof(float) * (size_t)s->n * s->c * s->d * s->h * s->w; }
static void cu_upload5(qr_nn_context *ctx, const qr_nn_shape5 *s, float *dst, const float *host) {
    cu_upload(ctx, dst, host, bytes5(s));
}
static void cu_download5(qr_nn_context *ctx, const qr_nn_shape5 *s, float *host, const float *src) {
    cu_download(ctx, host, src, bytes5(s));
}

/* PyTorch's weight layouts are kept: a plain copy. */
static size_t numel(qr_nn_tensor_layout l, const int64_t *dims) {
    int nd = l == QR_NN_LAYOUT_CONV ? 5 : l == QR_NN_LAYOUT_LINEAR ? 2 : 1;
    size_t n = 1;
    for (int i = 0; i < nd; i++) n *= (size_t)dims[i];
    return n;
}
static void cu_weight_upload(qr_nn_context *ctx, qr_nn_tensor_layout l, const int64_t *dims, float *dst,
                             const float *host) {
    cu_upload(ctx, dst, host, sizeof(float) * numel(l, dims));
}
static void cu_weight_download(qr_nn_context *ctx, qr_nn_tensor_layout l, const int64_t *dims, float *host,
                               const float *src) {
    cu_download(ctx, host, src, sizeof(float) * numel(l, dims));
}

/* ------------------------------------------------------------------------------------------ */
/* The table                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static qr_nn_backend make_table(void) {
    qr_nn_backend b;
    memset(&b, 0, sizeof b);
    b.name = "cuda";
    b.init = cu_init;
    b.shutdown = cu_shutdown;
    b.alloc = cu_alloc;
    b.free = cu_free;
    b.upload = cu_upload;
    b.download = cu_download;
    b.zero = cu_zero;
    b.copy = cu_copy;
    b.upload5 = cu_upload5;
    b.download5 = cu_download5;
    b.weight_upload = cu_weight_upload;
    b.weight_download = cu_weight_download;
    b.conv3d_forward = qr_nn_cuda_conv3d_forward;
    b.conv3d_backward = qr_nn_cuda_conv3d_backward;
    b.batchnorm_forward = qr_nn_cuda_batchnorm_forward;
    b.batchnorm_backward = qr_nn_cuda_batchnorm_backward;
    b.batchnorm_fold = qr_nn_cuda_batchnorm_fold;
    b.relu_forward = qr_nn_cuda_relu_forward;
    b.relu_backward = qr_nn_cuda_relu_backward;
    b.swish_forward = qr_nn_cuda_swish_forward;
    b.swish_backward = qr_nn_cuda_swish_backward;
    b.tanh_forward = qr_nn_cuda_tanh_forward;
    b.tanh_backward = qr_nn_cuda_tanh_backward;
    b.add_forward = qr_nn_cuda_add_forward;
    b.mul_forward = qr_nn_cuda_mul_forward;
    b.mul_backward = qr_nn_cuda_mul_backward;
    b.grad_pass = qr_nn_cuda_grad_pass;
    b.maxpool3d_forward = qr_nn_cuda_maxpool3d_forward;
    b.maxpool3d_backward = qr_nn_cuda_maxpool3d_backward;
    b.avgpool_forward = qr_nn_cuda_avgpool_forward;
    b.avgpool_backward = qr_nn_cuda_avgpool_backward;
    b.concat2_forward = qr_nn_cuda_concat2_forward;
    b.concat2_backward = qr_nn_cuda_concat2_backward;
    b.concat5_forward = qr_nn_cuda_concat5_forward;
    b.concat5_backward = qr_nn_cuda_concat5_backward;
    b.flatten5_forward = qr_nn_cuda_flatten5_forward;
    b.flatten5_backward = qr_nn_cuda_flatten5_backward;
    b.channel_affine5 = qr_nn_cuda_channel_affine5;
    b.linear_forward = qr_nn_cuda_linear_forward;
    b.linear_backward = qr_nn_cuda_linear_backward;
    b.smote_forward = qr_nn_cuda_smote_forward;
    b.smote_backward = qr_nn_cuda_smote_backward;
    b.bce_forward = qr_nn_cuda_bce_forward;
    b.bce_backward = qr_nn_cuda_bce_backward;
    b.softmax_ce_forward = qr_nn_cuda_softmax_ce_forward;
    b.softmax_ce_backward = qr_nn_cuda_softmax_ce_backward;
    b.adam_update = qr_nn_cuda_adam_update;
    b.axpy = qr_nn_cuda_axpy;
    b.sumsq = qr_nn_cuda_sumsq;
    b.patch_sample = qr_nn_cuda_patch_sample;
    b.check = cu_check;
    return b;
}

const qr_nn_backend *qr_nn_backend_cuda(void) {
    static const qr_nn_backend table = make_table(); /* thread-safe one-time initialisation */
    return &table;
}
