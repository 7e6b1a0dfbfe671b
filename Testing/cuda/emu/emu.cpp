/*
 * emu.cpp - a CPU emulation of the CUDA runtime, cuDNN convolutions and cuBLAS SGEMM, as far as
 * the CUDA backend uses them, so that its sources (the .cu files of Logic/nn/cuda, compiled as C++ with
 * emu.h) run against the reference backend in the layer and training tests on machines without
 * a GPU. It checks what a GPU would check and more:
 *   - device memory is tracked: copies, memsets, convolution and GEMM operands must lie inside
 *     live allocations of the right kind (host/device direction of each copy), frees must match;
 *     fresh allocations hold 0xFF bytes - NaN as float or double, -1 as an integer - so code
 *     that reads memory it never wrote (relying on zeroed memory) fails visibly;
 *   - kernel launches need a non-empty grid and at most 1024 threads per block, and every pointer
 *     argument must lie in device memory (a GPU faults on host pointers; here they would work);
 *   - the kernels' expf, tanhf, exp, log, log1p round within CUDA's documented ulp bounds rather
 *     than like the C library (emu_math.h), and no multiply-add is contracted (as --fmad=false);
 *   - __syncthreads is a real barrier (threads of a block are fibers), shared memory is shared;
 *   - with QR_EMU_RACECHECK=1, every launch runs twice, the second time with blocks and threads in
 *     reverse order, and must leave the same bits in device memory (data races; see below);
 *   - cuDNN semantics: tensor strides are honoured, alpha/beta blending (beta = 0 never reads the
 *     output), cross-correlation vs convolution, workspace at least the reported size, TF32
 *     rounding of the inputs under tensor-op or default math (as on Ampere and later GPUs);
 *     algorithm rankings put a tensor-op and non-deterministic algorithms first, and the
 *     non-deterministic ones behave like it: their results change from call to call by a few
 *     parts in 10^4 (atomic additions in another order, exaggerated), so choosing one fails
 *     the tests' tolerances and their bit-identical repeats.
 * Built with the project's sanitizer options, AddressSanitizer also catches out-of-bounds
 * accesses of the kernels (device memory is heap memory here).
 */
#include "emu_prelude.h"

#include <map>
#include <set>
#include <string>
#include <ucontext.h>
#include <vector>

namespace qr_emu {
#include "nn/cuda/qr_cuda.h"
}

/* ------------------------------------------------------------------------------------------ */
/* Kernels                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* the race check's device memory copies (defined with the runtime below) */
static void device_snapshot(std::vector<unsigned char> &out);
static void device_restore(const std::vector<unsigned char> &in);
static void race_compare(const std::vector<unsigned char> &forward, const char *name);

namespace emu {
uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

static cudaError_t g_last = cudaSuccess;
/* Work was queued on the stream since the last synchronisation. The emulation runs it at once,
 * but a GPU would still be busy: cudaStreamQuery then answers cudaErrorNotReady (once). */
static bool g_queued = false;

/* Fibers: the threads of a block. On x86-64 (without AddressSanitizer, which wants to see
 * stack switches through swapcontext) a fiber switch is a few instructions: save the callee-saved
 * registers and the stack pointer, load the other fiber's; elsewhere it is swapcontext (which
 * also saves the signal mask: a system call per switch). */
static const size_t STACK = 64 * 1024;
static bool g_used_sync, g_used_shared, g_plain;
static std::set<const void *> g_sync_free;
static const std::function<void()> *g_body;
static unsigned g_cur;
static bool g_reverse; /* the race check's second run: blocks and threads in reverse order */

/* The race check (QR_EMU_RACECHECK=1, set by the test_cuda_emu_*_racecheck tests). On a GPU the
 * threads of a launch run in no defined order; here they run one after another, so a kernel whose
 * threads write the same address, or read what another thread of the same launch writes, without
 * a barrier between them, gives the right answer by luck of the order. With the check on, every
 * launch runs twice from the same device memory - blocks and threads in launch order, then both
 * reversed (also between barriers) - and the two results must be bit-identical; otherwise the
 * kernel is named and the program aborts. Non-atomic accumulation into one address shows up when
 * the other order rounds differently (float sums); one whose bits do not depend on the order
 * (integer counts, exact sums) passes - each thread's read-modify-write is whole here. Device
 * memory is copied three times and compared once per launch, so the check is for the tests'
 * small tensors. */
static bool racecheck_on(void) {
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("QR_EMU_RACECHECK");
        on = e && *e && strcmp(e, "0") != 0;
    }
    return on;
}

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define EMU_ASM_SWITCH 1
extern "C" void emu_switch(void **save_sp, void *load_sp);
__asm__(".text\n"
        ".globl emu_switch\n"
        ".type emu_switch, @function\n"
        "emu_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size emu_switch, .-emu_switch\n");
struct fiber {
    void *sp;
    char *stack;
    bool done;
};
static void *g_sched_sp;
#else
struct fiber {
    ucontext_t uc;
    char *stack;
    bool done;
};
static ucontext_t g_sched;
#endif
static std::vector<fiber> g_fibers;
static struct fiber_stacks_release { /* the stacks live until the program ends */
    ~fiber_stacks_release() {
        for (fiber &f : g_fibers) free(f.stack);
    }
} g_release;

static void fiber_entry() {
    (*g_body)();
    g_fibers[g_cur].done = true;
#ifdef EMU_ASM_SWITCH
    void *dead;
    emu_switch(&dead, g_sched_sp); /* never resumed */
#endif
}

void mark_shared() { g_used_shared = true; }

void syncthreads() {
    if (g_plain) {
        fprintf(stderr, "emu: __syncthreads reached in a kernel run as a plain loop\n");
        abort();
    }
    g_used_sync = true;
#ifdef EMU_ASM_SWITCH
    emu_switch(&g_fibers[g_cur].sp, g_sched_sp);
#else
    swapcontext(&g_fibers[g_cur].uc, &g_sched);
#endif
}

static void run_block_fibers(unsigned n, const std::function<void()> &body) {
    while (g_fibers.size() < n) {
        fiber f;
        memset(&f, 0, sizeof f);
        f.stack = (char *)malloc(STACK);
        f.done = true;
        g_fibers.push_back(f);
    }
    g_body = &body;
    for (unsigned t = 0; t < n; t++) {
        fiber &f = g_fibers[t];
#ifdef EMU_ASM_SWITCH
        /* a fresh stack whose first switch "returns" into fiber_entry with the alignment of a call */
        uintptr_t top = ((uintptr_t)f.stack + STACK) & ~(uintptr_t)15;
        void **sp = (void **)top;
        *--sp = NULL;                  /* fiber_entry's return address slot (it never returns) */
        *--sp = (void *)fiber_entry;   /* popped by emu_switch's ret */
        for (int r = 0; r < 6; r++) *--sp = NULL; /* rbp rbx r12 r13 r14 r15 */
        f.sp = sp;
#else
        getcontext(&f.uc);
        f.uc.uc_stack.ss_sp = f.stack;
        f.uc.uc_stack.ss_size = STACK;
        f.uc.uc_link = &g_sched;
        makecontext(&f.uc, fiber_entry, 0);
#endif
        f.done = false;
    }
    bool pending = true;
    while (pending) { /* one round: every thread runs to its next barrier or its end */
        pending = false;
        for (unsigned i = 0; i < n; i++) {
            const unsigned t = g_reverse ? n - 1 - i : i;
            if (g_fibers[t].done) continue;
            g_cur = t;
            threadIdx = uint3{t, 0, 0};
#ifdef EMU_ASM_SWITCH
            emu_switch(&g_sched_sp, g_fibers[t].sp);
#else
            swapcontext(&g_sched, &g_fibers[t].uc);
#endif
            if (!g_fibers[t].done) pending = true;
        }
    }
}

/* One run of the grid: blocks and the threads of each block in launch order, or (reverse) both in
 * the opposite order - between two barriers too. */
static void run_grid_once(dim3 grid, dim3 block, const void *kernel_id, const std::function<void()> &body) {
    gridDim = grid;
    blockDim = block;
    bool plain = g_sync_free.count(kernel_id) > 0;
    const unsigned long nb = (unsigned long)grid.x * grid.y;
    for (unsigned long i = 0; i < nb; i++) {
        const unsigned long b = g_reverse ? nb - 1 - i : i;
        blockIdx = uint3{(unsigned)(b % grid.x), (unsigned)(b / grid.x), 0};
        if (plain) {
            g_plain = true;
            for (unsigned j = 0; j < block.x; j++) {
                threadIdx = uint3{g_reverse ? block.x - 1 - j : j, 0, 0};
                body();
            }
            g_plain = false;
        } else {
            g_used_sync = g_used_shared = false;
            run_block_fibers(block.x, body);
            if (!g_used_sync && !g_used_shared) {
                g_sync_free.insert(kernel_id);
                plain = true;
            }
        }
    }
}

void run_grid(dim3 grid, dim3 block, const void *kernel_id, const char *name, const std::function<void()> &body) {
    const unsigned long threads = (unsigned long)block.x * block.y * block.z;
    if (grid.x == 0 || grid.y == 0 || grid.z != 1 || grid.y > 65535 || block.y != 1 || block.z != 1 || threads == 0 ||
        threads > 1024) {
        g_last = cudaErrorInvalidConfiguration;
        return;
    }
    g_queued = true;
    if (!racecheck_on()) {
        run_grid_once(grid, block, kernel_id, body);
        return;
    }
    /* The race check: the same launch from the same device memory in both orders must leave the
     * device memory bit for bit the same. */
    std::vector<unsigned char> before, forward;
    device_snapshot(before);
    g_reverse = false;
    run_grid_once(grid, block, kernel_id, body);
    device_snapshot(forward);
    device_restore(before);
    g_reverse = true;
    run_grid_once(grid, block, kernel_id, body);
    g_reverse = false;
    race_compare(forward, name);
}
} // namespace emu

/* ------------------------------------------------------------------------------------------ */
/* Runtime                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static std::map<uintptr_t, size_t> g_allocs; /* device allocations: start -> bytes */
static int g_device = 0;

static cudaError_t set_err(cudaError_t e) {
    if (e != cudaSuccess) emu::g_last = e;
    return e;
}

/* 1 if [p, p + bytes) lies inside one live device allocation */
static int on_device(const void *p, size_t bytes) {
    uintptr_t a = (uintptr_t)p;
    auto it = g_allocs.upper_bound(a);
    if (it == g_allocs.begin()) return 0;
    --it;
    return a >= it->first && a + bytes <= it->first + it->second;
}
static int is_device_ptr(const void *p) { return on_device(p, 1); }

void emu::check_pointer_arg(const void *p, const char *kernel, int index) {
    if (!p || is_device_ptr(p)) return;
    fprintf(stderr, "emu: kernel %s: pointer argument %d (%p) is not in device memory - a GPU would fault\n", kernel,
            index + 1, p);
    abort();
}

/* all live device allocations, concatenated in address order (no allocation changes during a launch) */
static void device_snapshot(std::vector<unsigned char> &out) {
    size_t total = 0;
    for (const auto &a : g_allocs) total += a.second;
    out.resize(total);
    size_t o = 0;
    for (const auto &a : g_allocs) {
        memcpy(out.data() + o, (const void *)a.first, a.second);
        o += a.second;
    }
}
static void device_restore(const std::vector<unsigned char> &in) {
    size_t o = 0;
    for (const auto &a : g_allocs) {
        memcpy((void *)a.first, in.data() + o, a.second);
        o += a.second;
    }
}
static void race_compare(const std::vector<unsigned char> &forward, const char *name) {
    size_t o = 0;
    for (const auto &a : g_allocs) {
        const unsigned char *now = (const unsigned char *)a.first;
        if (memcmp(now, forward.data() + o, a.second) != 0) {
            size_t k = 0;
            while (now[k] == forward[o + k]) k++;
            fprintf(stderr,
                    "emu: race check: kernel %s leaves different device memory when its blocks and threads run in reverse "
                    "order (allocation of %zu bytes, first difference at byte %zu): threads of one launch write the same "
                    "address or read what another thread writes, without a barrier between them\n",
                    name, a.second, k);
            abort();
        }
        o += a.second;
    }
}

cudaError_t cudaGetDeviceCount(int *count) {
    *count = 1;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
    if (device != 0) return set_err(cudaErrorInvalidDevice);
    g_device = device;
    return cudaSuccess;
}
cudaError_t cudaGetDevice(int *device) {
    *device = g_device;
    return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device) {
    if (device != 0) return set_err(cudaErrorInvalidDevice);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "CPU emulation of a CUDA device");
    prop->totalGlobalMem = (size_t)16 << 30;
    prop->major = 9;
    prop->minor = 0;
    prop->multiProcessorCount = 1;
    return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags) {
    (void)flags;
    *s = (cudaStream_t)malloc(16);
    return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
    free(s);
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    (void)s;
    emu::g_queued = false;
    return cudaSuccess;
}
/* A stream with queued work is "not ready". The runtime's documentation does not say whether
 * that answer also becomes the thread's last error; older runtimes recorded it (frameworks clear
 * it after every query), so the emulation takes the stricter reading and records it. */
cudaError_t cudaStreamQuery(cudaStream_t s) {
    (void)s;
    if (!emu::g_queued) return cudaSuccess;
    emu::g_queued = false;
    return set_err(cudaErrorNotReady);
}
/* The emulated GPU's memory: QR_EMU_DEVICE_MB (default 16384), shared by all live allocations,
 * as on a real device (cudaMemGetInfo reports what is left). */
static size_t g_live;
static size_t device_bytes(void) {
    static size_t cap;
    if (!cap) {
        const char *e = getenv("QR_EMU_DEVICE_MB");
        long long mb = e ? atoll(e) : 0;
        cap = (size_t)(mb > 0 ? mb : 16384) << 20;
    }
    return cap;
}
cudaError_t cudaMalloc(void **p, size_t bytes) {
    *p = NULL;
    if (bytes == 0 || bytes > device_bytes() - g_live) return set_err(cudaErrorMemoryAllocation);
    void *q = malloc(bytes);
    if (!q) return set_err(cudaErrorMemoryAllocation);
    memset(q, 0xFF, bytes);
    g_allocs[(uintptr_t)q] = bytes;
    g_live += bytes;
    *p = q;
    return cudaSuccess;
}
cudaError_t cudaFree(void *p) {
    if (!p) return cudaSuccess;
    auto it = g_allocs.find((uintptr_t)p);
    if (it == g_allocs.end()) return set_err(cudaErrorInvalidValue);
    g_live -= it->second;
    g_allocs.erase(it);
    free(p);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t s) {
    (void)s;
    if (!on_device(p, bytes)) return set_err(cudaErrorInvalidValue);
    memset(p, value, bytes);
    emu::g_queued = true;
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
    (void)s;
    int ok = 0;
    switch (kind) {
    case cudaMemcpyHostToDevice: ok = on_device(dst, bytes) && !is_device_ptr(src); break;
    case cudaMemcpyDeviceToHost: ok = on_device(src, bytes) && !is_device_ptr(dst); break;
    case cudaMemcpyDeviceToDevice: ok = on_device(src, bytes) && on_device(dst, bytes); break;
    default: ok = 0;
    }
    if (!ok) {
        fprintf(stderr, "emu: cudaMemcpy kind %d of %zu bytes with a pointer outside device memory\n", (int)kind, bytes);
        return set_err(cudaErrorInvalidValue);
    }
    memmove(dst, src, bytes);
    emu::g_queued = true;
    return cudaSuccess;
}
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind, NULL);
    if (e == cudaSuccess) emu::g_queued = false; /* synchronous */
    return e;
}
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    *total_bytes = device_bytes();
    *free_bytes = device_bytes() - g_live;
    return cudaSuccess;
}
cudaError_t cudaGetLastError(void) {
    cudaError_t e = emu::g_last;
    emu::g_last = cudaSuccess;
    return e;
}
const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    default: return "emulated CUDA error";
    }
}

/* ------------------------------------------------------------------------------------------ */
/* cuDNN                                                                                      */
/* ------------------------------------------------------------------------------------------ */

struct qr_emu_tensor {
    int nb, dims[8], strides[8];
};
struct qr_emu_filter {
    int nb, dims[8];
};
struct qr_emu_conv {
    int n, pad[3], stride[3], dil[3];
    cudnnConvolutionMode_t mode;
    cudnnMathType_t math;
};

static float tf32(float x) { /* round to 10 mantissa bits, nearest even */
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) return x;
    u += 0xfffu + ((u >> 13) & 1u);
    u &= ~0x1fffu;
    memcpy(&x, &u, 4);
    return x;
}
static int uses_tf32(const qr_emu_conv *c) { return c->math != CUDNN_FMA_MATH; }

size_t cudnnGetVersion(void) { return 91900; }
const char *cudnnGetErrorString(cudnnStatus_t s) {
    switch (s) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED: return "CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED";
    case CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED: return "CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED";
    default: return (int)s == CUDNN_STATUS_NOT_SUPPORTED + 7 ? "CUDNN_STATUS_NOT_SUPPORTED_SHAPE" : "CUDNN_STATUS (emulated)";
    }
}
static char g_dnn_msg[256];
void cudnnGetLastErrorString(char *message, size_t max_size) {
    snprintf(message, max_size, "%s", g_dnn_msg);
    g_dnn_msg[0] = 0;
}
static cudnnStatus_t bad(const char *why) {
    snprintf(g_dnn_msg, sizeof g_dnn_msg, "emulated cuDNN: %s", why);
    return CUDNN_STATUS_BAD_PARAM;
}
cudnnStatus_t cudnnCnnVersionCheck(void) {
    const char *e = getenv("QR_EMU_NO_CUDNN_CNN");
    if (e && *e == '1') {
        snprintf(g_dnn_msg, sizeof g_dnn_msg, "emulated cuDNN: libcudnn_cnn.so.9 not found");
        return CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED;
    }
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionForwardAlgorithmMaxCount(cudnnHandle_t h, int *count) {
    (void)h;
    *count = 2 * CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithmMaxCount(cudnnHandle_t h, int *count) {
    (void)h;
    *count = 2 * CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(cudnnHandle_t h, int *count) {
    (void)h;
    *count = 2 * CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
    return CUDNN_STATUS_SUCCESS;
}
/* QR_EMU_CONV_REFUSE=DIR:ALGO (DIR forward, backward-data or backward-filter): that algorithm is
 * ranked as usual but refused when it runs (a NOT_SUPPORTED sub-code), as real cuDNN can do with
 * an entry its heuristics listed as successful. */
static int refused(const char *dir, int algo) {
    const char *e = getenv("QR_EMU_CONV_REFUSE");
    if (!e) return 0;
    const size_t n = strlen(dir);
    return !strncmp(e, dir, n) && e[n] == ':' && atoi(e + n + 1) == algo;
}
static cudnnStatus_t refuse(const char *dir, int algo) {
    snprintf(g_dnn_msg, sizeof g_dnn_msg, "emulated cuDNN: %s algorithm %d does not support this shape", dir, algo);
    return (cudnnStatus_t)(CUDNN_STATUS_NOT_SUPPORTED + 7);
}
cudnnStatus_t cudnnCreate(cudnnHandle_t *h) {
    *h = (cudnnHandle_t)malloc(16);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroy(cudnnHandle_t h) {
    free(h);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t s) {
    (void)h, (void)s;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *d) {
    *d = (cudnnTensorDescriptor_t)calloc(1, sizeof(qr_emu_tensor));
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
    free(d);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetTensorNdDescriptor(cudnnTensorDescriptor_t d, cudnnDataType_t t, int nb, const int dims[],
                                         const int strides[]) {
    if (t != CUDNN_DATA_FLOAT || nb != 5) return bad("tensor: only 5D float tensors are emulated");
    for (int i = 0; i < nb; i++)
        if (dims[i] <= 0 || strides[i] <= 0) return bad("tensor: dimensions and strides must be positive");
    d->nb = nb;
    memcpy(d->dims, dims, sizeof(int) * nb);
    memcpy(d->strides, strides, sizeof(int) * nb);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *d) {
    *d = (cudnnFilterDescriptor_t)calloc(1, sizeof(qr_emu_filter));
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
    free(d);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetFilterNdDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t t, cudnnTensorFormat_t f, int nb,
                                         const int dims[]) {
    if (t != CUDNN_DATA_FLOAT || f != CUDNN_TENSOR_NCHW || nb != 5) return bad("filter: only 5D float NCHW filters");
    for (int i = 0; i < nb; i++)
        if (dims[i] <= 0) return bad("filter: dimensions must be positive");
    d->nb = nb;
    memcpy(d->dims, dims, sizeof(int) * nb);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *d) {
    *d = (cudnnConvolutionDescriptor_t)calloc(1, sizeof(qr_emu_conv));
    (*d)->math = CUDNN_DEFAULT_MATH;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
    free(d);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionNdDescriptor(cudnnConvolutionDescriptor_t d, int n, const int pad[], const int stride[],
                                              const int dilation[], cudnnConvolutionMode_t mode, cudnnDataType_t t) {
    if (n != 3 || t != CUDNN_DATA_FLOAT) return bad("convolution: only 3 spatial dimensions, float");
    for (int i = 0; i < 3; i++)
        if (pad[i] < 0 || stride[i] < 1 || dilation[i] < 1) return bad("convolution: bad pad/stride/dilation");
    d->n = n;
    memcpy(d->pad, pad, sizeof d->pad);
    memcpy(d->stride, stride, sizeof d->stride);
    memcpy(d->dil, dilation, sizeof d->dil);
    d->mode = mode;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t m) {
    d->math = m;
    return CUDNN_STATUS_SUCCESS;
}
static int out_dim(const qr_emu_conv *c, int i, int in, int k) {
    return (in + 2 * c->pad[i] - c->dil[i] * (k - 1) - 1) / c->stride[i] + 1;
}
cudnnStatus_t cudnnGetConvolutionNdForwardOutputDim(cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t x,
                                                    cudnnFilterDescriptor_t w, int nb, int out[]) {
    if (nb != 5 || x->nb != 5 || w->nb != 5 || c->n != 3) return bad("output dim: descriptors not set");
    if (x->dims[1] != w->dims[1]) return bad("output dim: input channels differ from the filter's");
    out[0] = x->dims[0];
    out[1] = w->dims[0];
    for (int i = 0; i < 3; i++) out[2 + i] = out_dim(c, i, x->dims[2 + i], w->dims[2 + i]);
    return CUDNN_STATUS_SUCCESS;
}

/* Shapes of one convolution; 0 (and a message) if the descriptors do not fit together. */
struct conv_shape {
    int n, cin, cout, in[3], out[3], k[3];
};
static int shape_of(const qr_emu_tensor *x, const qr_emu_filter *w, const qr_emu_conv *c, const qr_emu_tensor *y,
                    conv_shape *s) {
    if (x->nb != 5 || y->nb != 5 || w->nb != 5 || c->n != 3) return 0;
    s->n = x->dims[0];
    s->cin = x->dims[1];
    s->cout = w->dims[0];
    if (w->dims[1] != s->cin || y->dims[0] != s->n || y->dims[1] != s->cout) return 0;
    for (int i = 0; i < 3; i++) {
        s->in[i] = x->dims[2 + i];
        s->k[i] = w->dims[2 + i];
        s->out[i] = y->dims[2 + i];
        if (s->out[i] != out_dim(c, i, s->in[i], s->k[i])) return 0;
    }
    return 1;
}
static size_t extent(const qr_emu_tensor *t) { /* elements spanned */
    size_t e = 1;
    for (int i = 0; i < t->nb; i++) e += (size_t)(t->dims[i] - 1) * t->strides[i];
    return e;
}
static size_t filter_numel(const qr_emu_filter *w) {
    size_t e = 1;
    for (int i = 0; i < w->nb; i++) e *= (size_t)w->dims[i];
    return e;
}
static int64_t toff(const qr_emu_tensor *t, int n, int c, int z, int y, int x) {
    return (int64_t)n * t->strides[0] + (int64_t)c * t->strides[1] + (int64_t)z * t->strides[2] +
           (int64_t)y * t->strides[3] + (int64_t)x * t->strides[4];
}

/* the emulated algorithm rankings */
static const size_t WS_DATA = 1 << 20, WS_FILTER = 2 << 20, WS_FWD_TC = 4096;
template <typename PERF, typename ALGO>
static void entry(PERF *p, ALGO a, cudnnDeterminism_t d, cudnnMathType_t m, size_t mem) {
    memset(p, 0, sizeof *p);
    p->algo = a;
    p->status = CUDNN_STATUS_SUCCESS;
    p->determinism = d;
    p->mathType = m;
    p->memory = mem;
}
static cudnnMathType_t fma_or(const qr_emu_conv *c) {
    return c->math == CUDNN_FMA_MATH ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
}
cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t h, cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
                                                     cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t y, int req,
                                                     int *ret, cudnnConvolutionFwdAlgoPerf_t *perf) {
    (void)h;
    conv_shape s;
    if (!shape_of(x, w, c, y, &s)) return bad("forward algorithms: descriptors do not fit together");
    if (req < 3) return bad("too few result slots");
    entry(&perf[0], CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_DETERMINISTIC, CUDNN_TENSOR_OP_MATH, WS_FWD_TC);
    entry(&perf[1], CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, CUDNN_DETERMINISTIC, fma_or(c), 0);
    entry(&perf[2], CUDNN_CONVOLUTION_FWD_ALGO_GEMM, CUDNN_DETERMINISTIC, fma_or(c), WS_DATA);
    *ret = 3;
    return CUDNN_STATUS_SUCCESS;
}
/* cuDNN's timed search runs the candidates on input, output and filter buffers it allocates
 * itself, each with a workspace it allocates beside them. Like cuDNN 9 here: without room for the
 * buffers the search fails (CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED); a candidate
 * without room for its workspace gets that status in its entry. Failed cudaMallocs leave their
 * error for cudaGetLastError, as inside cuDNN. */
template <typename PERF>
static cudnnStatus_t timed_search(const qr_emu_tensor *x, const qr_emu_filter *w, const qr_emu_tensor *y, PERF *perf,
                                  int n) {
    void *buffers = NULL;
    if (cudaMalloc(&buffers, sizeof(float) * (extent(x) + extent(y) + filter_numel(w))) != cudaSuccess)
        return CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED;
    for (int i = 0; i < n; i++) {
        void *ws = NULL;
        if (perf[i].memory == 0) continue;
        if (cudaMalloc(&ws, perf[i].memory) == cudaSuccess) cudaFree(ws);
        else perf[i].status = CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED;
    }
    cudaFree(buffers);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnFindConvolutionForwardAlgorithm(cudnnHandle_t h, cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
                                                   cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t y, int req,
                                                   int *ret, cudnnConvolutionFwdAlgoPerf_t *perf) {
    cudnnStatus_t e = cudnnGetConvolutionForwardAlgorithm_v7(h, x, w, c, y, req, ret, perf);
    return e == CUDNN_STATUS_SUCCESS ? timed_search(x, w, y, perf, *ret) : e;
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t h, cudnnFilterDescriptor_t w,
                                                          cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c,
                                                          cudnnTensorDescriptor_t dx, int req, int *ret,
                                                          cudnnConvolutionBwdDataAlgoPerf_t *perf) {
    (void)h;
    conv_shape s;
    if (!shape_of(dx, w, c, dy, &s)) return bad("backward-data algorithms: descriptors do not fit together");
    if (req < 3) return bad("too few result slots");
    entry(&perf[0], CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, CUDNN_DETERMINISTIC, CUDNN_TENSOR_OP_MATH, WS_DATA);
    entry(&perf[1], CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, CUDNN_NON_DETERMINISTIC, fma_or(c), 0);
    entry(&perf[2], CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, CUDNN_DETERMINISTIC, fma_or(c), WS_DATA);
    *ret = 3;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithm(cudnnHandle_t h, cudnnFilterDescriptor_t w,
                                                        cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c,
                                                        cudnnTensorDescriptor_t dx, int req, int *ret,
                                                        cudnnConvolutionBwdDataAlgoPerf_t *perf) {
    cudnnStatus_t e = cudnnGetConvolutionBackwardDataAlgorithm_v7(h, w, dy, c, dx, req, ret, perf);
    return e == CUDNN_STATUS_SUCCESS ? timed_search(dx, w, dy, perf, *ret) : e;
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                            cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c,
                                                            cudnnFilterDescriptor_t dw, int req, int *ret,
                                                            cudnnConvolutionBwdFilterAlgoPerf_t *perf) {
    (void)h;
    conv_shape s;
    if (!shape_of(x, dw, c, dy, &s)) return bad("backward-filter algorithms: descriptors do not fit together");
    if (req < 3) return bad("too few result slots");
    entry(&perf[0], CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, CUDNN_NON_DETERMINISTIC, fma_or(c), 0);
    entry(&perf[1], CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3, CUDNN_NON_DETERMINISTIC, fma_or(c), 0);
    entry(&perf[2], CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, CUDNN_DETERMINISTIC, fma_or(c), WS_FILTER);
    *ret = 3;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithm(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                          cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c,
                                                          cudnnFilterDescriptor_t dw, int req, int *ret,
                                                          cudnnConvolutionBwdFilterAlgoPerf_t *perf) {
    cudnnStatus_t e = cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, x, dy, c, dw, req, ret, perf);
    return e == CUDNN_STATUS_SUCCESS ? timed_search(x, dw, dy, perf, *ret) : e;
}
cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                      cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t c,
                                                      cudnnTensorDescriptor_t y, cudnnConvolutionFwdAlgo_t a,
                                                      size_t *bytes) {
    (void)h, (void)x, (void)w, (void)c, (void)y;
    *bytes = a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ? WS_FWD_TC
             : a == CUDNN_CONVOLUTION_FWD_ALGO_GEMM                ? WS_DATA
                                                                    : 0;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t h, cudnnFilterDescriptor_t w,
                                                           cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c,
                                                           cudnnTensorDescriptor_t dx, cudnnConvolutionBwdDataAlgo_t a,
                                                           size_t *bytes) {
    (void)h, (void)w, (void)dy, (void)c, (void)dx;
    *bytes = a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_1 ? WS_DATA : 0;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                             cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c,
                                                             cudnnFilterDescriptor_t dw,
                                                             cudnnConvolutionBwdFilterAlgo_t a, size_t *bytes) {
    (void)h, (void)x, (void)dy, (void)c, (void)dw;
    *bytes = a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 ? WS_FILTER : 0;
    return CUDNN_STATUS_SUCCESS;
}

/* Visit every (output, tap) pair of a convolution with an input position inside the volume:
 * fn(output offset (tensor y), input offset (tensor x), filter index), taps outermost. */
static void valid_range(int k, int stride, int dil, int pad, int in, int out, int *lo, int *hi) {
    /* outputs o with 0 <= o*stride + k*dil - pad < in */
    int first = pad - k * dil, last = in - 1 + pad - k * dil;
    *lo = first <= 0 ? 0 : (first + stride - 1) / stride;
    *hi = last < 0 ? -1 : last / stride;
    if (*hi > out - 1) *hi = out - 1;
}
template <typename F>
static void each_tap(const conv_shape &s, const qr_emu_tensor *x, const qr_emu_conv *c, const qr_emu_tensor *y, F fn) {
    for (int n = 0; n < s.n; n++)
        for (int o = 0; o < s.cout; o++)
            for (int ci = 0; ci < s.cin; ci++)
                for (int a = 0; a < s.k[0]; a++)
                    for (int b = 0; b < s.k[1]; b++)
                        for (int e = 0; e < s.k[2]; e++) {
                            /* cross-correlation reads the filter as is, convolution flipped */
                            const int fa = c->mode == CUDNN_CONVOLUTION ? s.k[0] - 1 - a : a;
                            const int fb = c->mode == CUDNN_CONVOLUTION ? s.k[1] - 1 - b : b;
                            const int fe = c->mode == CUDNN_CONVOLUTION ? s.k[2] - 1 - e : e;
                            const int64_t wi =
                                (((int64_t)o * s.cin + ci) * s.k[0] + fa) * s.k[1] * s.k[2] + (int64_t)fb * s.k[2] + fe;
                            int z0, z1, y0, y1, x0, x1;
                            valid_range(a, c->stride[0], c->dil[0], c->pad[0], s.in[0], s.out[0], &z0, &z1);
                            valid_range(b, c->stride[1], c->dil[1], c->pad[1], s.in[1], s.out[1], &y0, &y1);
                            valid_range(e, c->stride[2], c->dil[2], c->pad[2], s.in[2], s.out[2], &x0, &x1);
                            for (int z = z0; z <= z1; z++)
                                for (int yy = y0; yy <= y1; yy++) {
                                    const int iz = z * c->stride[0] + a * c->dil[0] - c->pad[0];
                                    const int iy = yy * c->stride[1] + b * c->dil[1] - c->pad[1];
                                    for (int xx = x0; xx <= x1; xx++) {
                                        const int ix = xx * c->stride[2] + e * c->dil[2] - c->pad[2];
                                        fn(toff(y, n, o, z, yy, xx), toff(x, n, ci, iz, iy, ix), wi);
                                    }
                                }
                        }
}

/* results of a non-deterministic algorithm: scaled by 1 + (1..7) 1e-4, different at every call */
static double nondet_factor(void) {
    static unsigned calls = 0;
    return 1.0 + 1e-4 * (double)(1 + calls++ % 7);
}

static cudnnStatus_t check_ws(void *ws, size_t wsb, size_t need) {
    if (need == 0) return CUDNN_STATUS_SUCCESS;
    if (!ws || wsb < need || !on_device(ws, need)) return bad("workspace smaller than the algorithm needs");
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void *alpha, cudnnTensorDescriptor_t xd, const void *x,
                                      cudnnFilterDescriptor_t wd, const void *w, cudnnConvolutionDescriptor_t c,
                                      cudnnConvolutionFwdAlgo_t a, void *ws, size_t wsb, const void *beta,
                                      cudnnTensorDescriptor_t yd, void *y) {
    (void)h;
    conv_shape s;
    if (!shape_of(xd, wd, c, yd, &s)) return bad("forward: descriptors do not fit together");
    if (refused("forward", a)) return refuse("forward", a);
    size_t need = 0;
    cudnnGetConvolutionForwardWorkspaceSize(h, xd, wd, c, yd, a, &need);
    if (check_ws(ws, wsb, need) != CUDNN_STATUS_SUCCESS) return CUDNN_STATUS_BAD_PARAM;
    if (!on_device(x, sizeof(float) * extent(xd)) || !on_device(w, sizeof(float) * filter_numel(wd)) ||
        !on_device(y, sizeof(float) * extent(yd)))
        return bad("forward: an operand is not device memory of the described size");
    const float *X = (const float *)x, *W = (const float *)w;
    float *Y = (float *)y;
    const float al = *(const float *)alpha, be = *(const float *)beta;
    const int t = uses_tf32(c);
    std::vector<double> sum(extent(yd), 0.0);
    each_tap(s, xd, c, yd, [&](int64_t yo, int64_t xi, int64_t wi) {
        sum[yo] += (double)(t ? tf32(X[xi]) : X[xi]) * (t ? tf32(W[wi]) : W[wi]);
    });
    for (int n = 0; n < s.n; n++)
        for (int o = 0; o < s.cout; o++)
            for (int z = 0; z < s.out[0]; z++)
                for (int yy = 0; yy < s.out[1]; yy++)
                    for (int xx = 0; xx < s.out[2]; xx++) {
                        const int64_t k = toff(yd, n, o, z, yy, xx);
                        Y[k] = (float)(al * sum[k] + (be != 0 ? be * Y[k] : 0.0));
                    }
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void *alpha, cudnnFilterDescriptor_t wd, const void *w,
                                           cudnnTensorDescriptor_t dyd, const void *dy, cudnnConvolutionDescriptor_t c,
                                           cudnnConvolutionBwdDataAlgo_t a, void *ws, size_t wsb, const void *beta,
                                           cudnnTensorDescriptor_t dxd, void *dx) {
    conv_shape s;
    if (!shape_of(dxd, wd, c, dyd, &s)) return bad("backward data: descriptors do not fit together");
    if (refused("backward-data", a)) return refuse("backward-data", a);
    size_t need = 0;
    cudnnGetConvolutionBackwardDataWorkspaceSize(h, wd, dyd, c, dxd, a, &need);
    if (check_ws(ws, wsb, need) != CUDNN_STATUS_SUCCESS) return CUDNN_STATUS_BAD_PARAM;
    if (!on_device(dx, sizeof(float) * extent(dxd)) || !on_device(w, sizeof(float) * filter_numel(wd)) ||
        !on_device(dy, sizeof(float) * extent(dyd)))
        return bad("backward data: an operand is not device memory of the described size");
    const float *W = (const float *)w, *DY = (const float *)dy;
    float *DX = (float *)dx;
    const float al = *(const float *)alpha, be = *(const float *)beta;
    const int t = uses_tf32(c);
    std::vector<double> sum(extent(dxd), 0.0);
    each_tap(s, dxd, c, dyd, [&](int64_t yo, int64_t xi, int64_t wi) {
        sum[xi] += (double)(t ? tf32(DY[yo]) : DY[yo]) * (t ? tf32(W[wi]) : W[wi]);
    });
    if (a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_0) {
        const double f = nondet_factor();
        for (double &v : sum) v *= f;
    }
    for (int n = 0; n < s.n; n++)
        for (int ci = 0; ci < s.cin; ci++)
            for (int z = 0; z < s.in[0]; z++)
                for (int yy = 0; yy < s.in[1]; yy++)
                    for (int xx = 0; xx < s.in[2]; xx++) {
                        const int64_t k = toff(dxd, n, ci, z, yy, xx);
                        DX[k] = (float)(al * sum[k] + (be != 0 ? be * DX[k] : 0.0));
                    }
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void *alpha, cudnnTensorDescriptor_t xd,
                                             const void *x, cudnnTensorDescriptor_t dyd, const void *dy,
                                             cudnnConvolutionDescriptor_t c, cudnnConvolutionBwdFilterAlgo_t a, void *ws,
                                             size_t wsb, const void *beta, cudnnFilterDescriptor_t dwd, void *dw) {
    conv_shape s;
    if (!shape_of(xd, dwd, c, dyd, &s)) return bad("backward filter: descriptors do not fit together");
    if (refused("backward-filter", a)) return refuse("backward-filter", a);
    size_t need = 0;
    cudnnGetConvolutionBackwardFilterWorkspaceSize(h, xd, dyd, c, dwd, a, &need);
    if (check_ws(ws, wsb, need) != CUDNN_STATUS_SUCCESS) return CUDNN_STATUS_BAD_PARAM;
    if (!on_device(x, sizeof(float) * extent(xd)) || !on_device(dw, sizeof(float) * filter_numel(dwd)) ||
        !on_device(dy, sizeof(float) * extent(dyd)))
        return bad("backward filter: an operand is not device memory of the described size");
    const float *X = (const float *)x, *DY = (const float *)dy;
    float *DW = (float *)dw;
    const float al = *(const float *)alpha, be = *(const float *)beta;
    const int t = uses_tf32(c);
    std::vector<double> sum(filter_numel(dwd), 0.0);
    each_tap(s, xd, c, dyd, [&](int64_t yo, int64_t xi, int64_t wi) {
        sum[wi] += (double)(t ? tf32(DY[yo]) : DY[yo]) * (t ? tf32(X[xi]) : X[xi]);
    });
    if (a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3) {
        const double f = nondet_factor();
        for (double &v : sum) v *= f;
    }
    for (size_t k = 0; k < sum.size(); k++) DW[k] = (float)(al * sum[k] + (be != 0 ? be * DW[k] : 0.0));
    return CUDNN_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------------------------------ */
/* cuBLAS (through the backend's loader table)                                                */
/* ------------------------------------------------------------------------------------------ */

struct cublasContext {
    cudaStream_t stream;
    cublasMath_t math;
    cublasPointerMode_t mode;
};

static cublasStatus_t emu_create(cublasHandle_t *h) {
    *h = (cublasHandle_t)calloc(1, sizeof(cublasContext));
    return CUBLAS_STATUS_SUCCESS;
}
static cublasStatus_t emu_destroy(cublasHandle_t h) {
    free(h);
    return CUBLAS_STATUS_SUCCESS;
}
static cublasStatus_t emu_set_stream(cublasHandle_t h, cudaStream_t s) {
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}
static cublasStatus_t emu_set_math(cublasHandle_t h, cublasMath_t m) {
    h->math = m;
    return CUBLAS_STATUS_SUCCESS;
}
static cublasStatus_t emu_set_pointer_mode(cublasHandle_t h, cublasPointerMode_t m) {
    h->mode = m;
    return CUBLAS_STATUS_SUCCESS;
}
/* C (m x n, column-major, ldc) = alpha op(A) op(B) + beta C; beta = 0 never reads C */
static cublasStatus_t emu_sgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta,
                                float *C, int ldc) {
    if (h->mode != CUBLAS_POINTER_MODE_HOST || m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
    const int ar = ta == CUBLAS_OP_N ? m : k, ac = ta == CUBLAS_OP_N ? k : m;
    const int br = tb == CUBLAS_OP_N ? k : n, bc = tb == CUBLAS_OP_N ? n : k;
    if (lda < (ar > 1 ? ar : 1) || ldb < (br > 1 ? br : 1) || ldc < (m > 1 ? m : 1)) return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    if ((k > 0 && (!on_device(A, sizeof(float) * ((size_t)lda * (ac - 1) + ar)) ||
                   !on_device(B, sizeof(float) * ((size_t)ldb * (bc - 1) + br)))) ||
        !on_device(C, sizeof(float) * ((size_t)ldc * (n - 1) + m))) {
        fprintf(stderr, "emu: SGEMM operand outside device memory\n");
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    const int t = h->math == CUBLAS_TF32_TENSOR_OP_MATH;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int l = 0; l < k; l++) {
                float a = ta == CUBLAS_OP_N ? A[i + (size_t)l * lda] : A[l + (size_t)i * lda];
                float b = tb == CUBLAS_OP_N ? B[l + (size_t)j * ldb] : B[j + (size_t)l * ldb];
                s += (double)(t ? tf32(a) : a) * (t ? tf32(b) : b);
            }
            float *c = &C[i + (size_t)j * ldc];
            *c = (float)(*alpha * s + (*beta != 0 ? (double)*beta * *c : 0.0));
        }
    return CUBLAS_STATUS_SUCCESS;
}
static const char *emu_status_name(cublasStatus_t s) {
    return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_INVALID_VALUE (emulated)";
}

namespace qr_emu {
qr_cu_blas_api qr_cu_blas_fn = {emu_create, emu_destroy, emu_set_stream, emu_set_math, emu_set_pointer_mode, emu_sgemm,
                                emu_status_name};
int qr_cu_blas_load(char *err, size_t len) {
    (void)err, (void)len;
    return 1;
}
const char *qr_cu_blas_status(cublasStatus_t s) { return emu_status_name(s); }
} // namespace qr_emu
