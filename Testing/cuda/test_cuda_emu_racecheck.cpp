/*
 * test_cuda_emu_racecheck - the CUDA emulation's race check (QR_EMU_RACECHECK=1, Testing/cuda/emu)
 * finds kernels whose result depends on the order their threads run in, and passes correct ones;
 * and a kernel given a host pointer is stopped (a GPU would fault; the emulation could read it).
 *
 * The emulation runs a launch's threads one after another, so a kernel with a data race usually
 * gives the right answer there; these cases show it (check off: the racy kernels pass) and that
 * the check catches each kind of race (check on: the program aborts naming the kernel):
 *   sum_racy        every thread adds into out[0] without atomics
 *   shift_racy      x[i] = x[i + 1] in place: a thread reads what its neighbour writes
 *   smem_shift_racy the same in shared memory, with a barrier before but not between read and write
 * and that correct kernels pass with it on: an element-wise kernel, a shared-memory tree
 * reduction with its barriers, and a kernel with barriers in some blocks only. Each case runs in
 * a child process (the checks abort), with the default signal handlers.
 */
#include "emu_prelude.h"

#include <setjmp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

extern "C" { /* cmocka.h has no C++ guards */
#include <cmocka.h>
}

#define THREADS 128

__global__ void scale_ok(int n, float *x) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) x[i] *= 2.0f;
}
/* one partial sum per block: shared-memory tree with a barrier after every step */
__global__ void reduce_ok(int n, const float *x, float *out) {
    __shared__ float s[THREADS];
    float v = 0.0f;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) v += x[i];
    s[threadIdx.x] = v;
    __syncthreads();
    for (int k = THREADS / 2; k > 0; k >>= 1) {
        if ((int)threadIdx.x < k) s[threadIdx.x] += s[threadIdx.x + k];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = s[0];
}
/* barriers in some blocks only (a block-uniform condition, legal in CUDA): block 0, the first
 * to run, has none; the others reverse their slice through shared memory */
__global__ void uneven_ok(float *x) {
    __shared__ float s[THREADS];
    if (blockIdx.x == 0) return;
    const int t = threadIdx.x, base = blockIdx.x * THREADS;
    s[t] = x[base + t];
    __syncthreads();
    x[base + t] = s[THREADS - 1 - t];
}
__global__ void sum_racy(int n, const float *x, float *out) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) out[0] += x[i];
}
__global__ void shift_racy(int n, float *x) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i + 1 < n) x[i] = x[i + 1];
}
__global__ void smem_shift_racy(float *x) {
    __shared__ float s[THREADS];
    const int t = threadIdx.x, base = blockIdx.x * THREADS;
    s[t] = x[base + t];
    __syncthreads();
    if (t + 1 < THREADS) s[t] = s[t + 1]; /* needs: read, barrier, write */
    __syncthreads();
    x[base + t] = s[t];
}

enum { N = 4 * THREADS, BLOCKS = 4 };
enum kernel_id { SCALE_OK, REDUCE_OK, UNEVEN_OK, SUM_RACY, SHIFT_RACY, SMEM_SHIFT_RACY, HOST_POINTER };
static const char *const kernel_names[] = {"scale_ok",   "reduce_ok",       "uneven_ok", "sum_racy",
                                           "shift_racy", "smem_shift_racy", "scale_ok"};

static float input(int i) { return 0.1f * (float)(i % 13) + 1e-3f * (float)i; } /* sums round */

/* The child: launch one kernel on N values, check the result as a serial run computes it;
 * exits 0 (right), 3 (wrong) or 4 (CUDA error); the race check aborts it. */
static int child_run(enum kernel_id k) {
    float h[N], *x = NULL, *out = NULL;
    for (int i = 0; i < N; i++) h[i] = input(i);
    if (cudaMalloc((void **)&x, sizeof h) != cudaSuccess || cudaMalloc((void **)&out, BLOCKS * sizeof(float)) != cudaSuccess)
        return 4;
    cudaMemcpy(x, h, sizeof h, cudaMemcpyHostToDevice);
    cudaMemsetAsync(out, 0, BLOCKS * sizeof(float), NULL);
    switch (k) {
    case SCALE_OK: QR_CU_KERNEL(scale_ok, BLOCKS / 2, THREADS, NULL)(N, x); break;
    case REDUCE_OK: QR_CU_KERNEL(reduce_ok, BLOCKS, THREADS, NULL)(N, x, out); break;
    case UNEVEN_OK: QR_CU_KERNEL(uneven_ok, BLOCKS, THREADS, NULL)(x); break;
    case SUM_RACY: QR_CU_KERNEL(sum_racy, BLOCKS / 2, THREADS, NULL)(N, x, out); break;
    case SHIFT_RACY: QR_CU_KERNEL(shift_racy, BLOCKS, THREADS, NULL)(N, x); break;
    case SMEM_SHIFT_RACY: QR_CU_KERNEL(smem_shift_racy, BLOCKS, THREADS, NULL)(x); break;
    case HOST_POINTER: QR_CU_KERNEL(scale_ok, BLOCKS / 2, THREADS, NULL)(N, h); break; /* the host copy */
    }
    if (cudaGetLastError() != cudaSuccess) return 4;
    float r[N], o[BLOCKS];
    cudaMemcpy(r, x, sizeof r, cudaMemcpyDeviceToHost);
    cudaMemcpy(o, out, sizeof o, cudaMemcpyDeviceToHost);
    double total = 0.0;
    for (int i = 0; i < N; i++) total += h[i];
    switch (k) {
    case SCALE_OK:
        for (int i = 0; i < N; i++)
            if (r[i] != 2.0f * h[i]) return 3;
        return 0;
    case REDUCE_OK: {
        double s = 0.0;
        for (int b = 0; b < BLOCKS; b++) s += o[b];
        return fabs(s - total) <= 1e-5 * total ? 0 : 3;
    }
    case UNEVEN_OK:
        for (int i = 0; i < N; i++)
            if (r[i] != h[i < THREADS ? i : i - i % THREADS + THREADS - 1 - i % THREADS]) return 3;
        return 0;
    case SUM_RACY: return fabs(o[0] - total) <= 1e-5 * total ? 0 : 3;
    case SHIFT_RACY:
        for (int i = 0; i < N; i++)
            if (r[i] != h[i + 1 < N ? i + 1 : i]) return 3;
        return 0;
    case SMEM_SHIFT_RACY:
        for (int i = 0; i < N; i++)
            if (r[i] != h[i % THREADS + 1 < THREADS ? i + 1 : i]) return 3;
        return 0;
    case HOST_POINTER: return 0;
    }
    return 3;
}

/* Runs kernel k in a child with the race check on or off; returns its wait status, its stderr in err. */
static int run_case(enum kernel_id k, int check, char *err, size_t errsize) {
    char path[] = "/tmp/qsmrim_racecheck_XXXXXX";
    const int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    fflush(stderr);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* not cmocka's handlers: a crash must end the child, not resume its tests */
        signal(SIGSEGV, SIG_DFL), signal(SIGBUS, SIG_DFL), signal(SIGILL, SIG_DFL), signal(SIGFPE, SIG_DFL);
        dup2(fd, 2);
        setenv("QR_EMU_RACECHECK", check ? "1" : "0", 1);
        _exit(child_run(k));
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    const ssize_t got = pread(fd, err, errsize - 1, 0);
    err[got > 0 ? got : 0] = '\0';
    close(fd);
    unlink(path);
    return status;
}

static void expect_pass(enum kernel_id k, int check) {
    char err[2048];
    const int status = run_case(k, check, err, sizeof err);
    printf("  %-16s check %-3s -> %s\n", kernel_names[k], check ? "on" : "off",
           WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "right result" : "FAILED");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fprintf(stderr, "%s", err);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void expect_caught(enum kernel_id k, int check, const char *why) {
    char err[2048];
    const int status = run_case(k, check, err, sizeof err);
    const int aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    printf("  %-16s check %-3s -> %s\n", k == HOST_POINTER ? "host pointer" : kernel_names[k], check ? "on" : "off",
           aborted ? "caught" : "NOT CAUGHT");
    assert_true(aborted);
    assert_non_null(strstr(err, why));
    assert_non_null(strstr(err, kernel_names[k]));
}

static void test_correct_kernels_pass(void **state) {
    (void)state;
    expect_pass(SCALE_OK, 1);
    expect_pass(REDUCE_OK, 1);
    expect_pass(UNEVEN_OK, 0);
    expect_pass(UNEVEN_OK, 1);
}

/* without the check the serial emulation hides each race: the tests of a racy kernel would pass */
static void test_races_hidden_without_check(void **state) {
    (void)state;
    expect_pass(SUM_RACY, 0);
    expect_pass(SHIFT_RACY, 0);
    expect_pass(SMEM_SHIFT_RACY, 0);
}

static void test_races_caught(void **state) {
    (void)state;
    expect_caught(SUM_RACY, 1, "race check: kernel");
    expect_caught(SHIFT_RACY, 1, "race check: kernel");
    expect_caught(SMEM_SHIFT_RACY, 1, "race check: kernel");
}

static void test_host_pointer_caught(void **state) {
    (void)state;
    expect_caught(HOST_POINTER, 0, "is not in device memory");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_correct_kernels_pass),
        cmocka_unit_test(test_races_hidden_without_check),
        cmocka_unit_test(test_races_caught),
        cmocka_unit_test(test_host_pointer_caught),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
