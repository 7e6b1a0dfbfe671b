/*
 * test_cuda_device.c - device selection with and without a usable GPU (runs everywhere; label
 * cuda). What must hold on a machine without a GPU (CI):
 *   --device cuda / cuda:N   fails with QR_ERR_DEVICE and one line naming cuda:N and the reason
 *   --device auto            succeeds on the CPU and says so in exactly one log line
 *   a bad QSMRIM_CUDA_* setting is named in the error (cuda) or the notice (auto)
 * and with a GPU:
 *   cuda works and describes the device; auto picks it; an index beyond the GPUs fails clearly;
 *   an allocation too large for the GPU returns NULL and leaves the context usable; a trainer
 *   whose activations do not fit fails with QR_ERR_NOMEM naming the size; a failing library call
 *   is reported by the backend's check (QR_ERR_DEVICE) and the context keeps working.
 *
 *   test_cuda_device            the tests
 *   test_cuda_device --probe    exit 0 if a CUDA context starts (prints its description),
 *                               77 otherwise (prints why) - used by the GPU test scripts
 *
 * Built against the CUDA emulation (test_cuda_emu_device, QR_CUDA_EMULATED) it runs the GPU
 * part on the emulated device (16 GiB unless QR_EMU_DEVICE_MB says otherwise): the memory and
 * failure handling of the backend's own code, on every machine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <math.h>

#include "nn/nn.h"
#include "nn/nn_backend.h"
#ifdef QR_CUDA_EMULATED
#include "cuda_test_util.h"
#endif

/* ---- log capture ---- */
static char g_log[8][512];
static int g_nlog;
static void sink(qr_log_level level, const char *msg, void *user) {
    (void)user;
    if (level < QR_LOG_INFO) return;
    if (g_nlog < 8) snprintf(g_log[g_nlog], sizeof g_log[0], "%s", msg);
    g_nlog++;
}

static qr_status make(const char *dev, qr_nn_context **ctx) {
#ifdef QR_CUDA_EMULATED
    if (!strcmp(dev, "cuda")) { /* the emulated device stands in for the GPU */
        g_nlog = 0;
        return cuda_test_context(ctx);
    }
#endif
    qr_nn_context_options o = qr_nn_context_options_default();
    assert_int_equal(qr_nn_device_parse(dev, &o.device), QR_OK);
    o.threads = 1;
    g_nlog = 0;
    return qr_nn_context_create(&o, ctx);
}

/* 1 if a CUDA context starts on this machine */
static int have_gpu(void) {
    qr_nn_context *c = NULL;
    qr_status s = make("cuda", &c);
    if (s == QR_OK) qr_nn_context_free(c);
    qr_clear_error();
    return s == QR_OK;
}

static void assert_one_line(const char *msg) {
    assert_non_null(msg);
    assert_true(strlen(msg) > 0);
    assert_null(strchr(msg, '\n'));
}

static void test_cuda_device(void **state) {
    (void)state;
    qr_nn_context *ctx = NULL;
    qr_status s = make("cuda", &ctx);
    if (s == QR_OK) {
        printf("GPU: %s\n", qr_nn_context_describe(ctx));
        assert_int_equal(qr_nn_context_device(ctx), QR_NN_DEVICE_CUDA);
        assert_true(!strncmp(qr_nn_context_describe(ctx), "cuda:0 (", 8));
        qr_nn_context_free(ctx);
        return;
    }
    const char *m = qr_last_error();
    printf("no GPU: %s\n", m);
    assert_int_equal(s, QR_ERR_DEVICE);
    assert_one_line(m);
    assert_non_null(strstr(m, "cuda:0"));
    if (qr_nn_backend_cuda())
        assert_true(strstr(m, "driver") || strstr(m, "no CUDA GPU") || strstr(m, "CUDA cannot start") ||
                    strstr(m, "could not") || strstr(m, "kernels") || strstr(m, "memory"));
    else
        assert_non_null(strstr(m, "no CUDA backend"));
}

static void test_cuda_index(void **state) {
    (void)state;
    qr_nn_context *ctx = NULL;
    qr_status s = make("cuda:999", &ctx);
    assert_int_equal(s, QR_ERR_DEVICE);
    printf("cuda:999: %s\n", qr_last_error());
    assert_one_line(qr_last_error());
    assert_non_null(strstr(qr_last_error(), "cuda:999"));
}

static void test_auto(void **state) {
    (void)state;
    qr_set_log_sink(sink, NULL);
    qr_nn_context *ctx = NULL;
    qr_status s = make("auto", &ctx);
    qr_set_log_sink(NULL, NULL);
    assert_int_equal(s, QR_OK);
    printf("auto: %s\n", qr_nn_context_describe(ctx));
    if (qr_nn_context_device(ctx) == QR_NN_DEVICE_CUDA) {
        assert_int_equal(g_nlog, 0);
    } else {
        assert_int_equal(qr_nn_context_device(ctx), QR_NN_DEVICE_CPU);
        assert_int_equal(g_nlog, 1); /* one line, saying it runs on the CPU */
        printf("notice: %s\n", g_log[0]);
        assert_one_line(g_log[0]);
        assert_non_null(strstr(g_log[0], "running on the CPU"));
        assert_false(have_gpu());
    }
    qr_nn_context_free(ctx);
}

static void test_bad_setting(void **state) {
    (void)state;
    if (!qr_nn_backend_cuda()) skip();
    /* a bad precision is an error on every device: auto must not fall back and hide it */
    setenv("QSMRIM_PRECISION", "fp16", 1);
    qr_nn_context *ctx = NULL;
    qr_status s = make("cuda", &ctx);
    assert_int_equal(s, QR_ERR_INVALID_ARG);
    printf("bad precision, cuda: %s\n", qr_last_error());
    assert_non_null(strstr(qr_last_error(), "QSMRIM_PRECISION='fp16'"));
    qr_set_log_sink(sink, NULL);
    s = make("auto", &ctx);
    qr_set_log_sink(NULL, NULL);
    unsetenv("QSMRIM_PRECISION");
    assert_int_equal(s, QR_ERR_INVALID_ARG);
    assert_null(ctx);
    assert_int_equal(g_nlog, 0);
    assert_non_null(strstr(qr_last_error(), "QSMRIM_PRECISION='fp16'"));
    setenv("QSMRIM_CUDA_CONV_ALGO", "fastest", 1);
    s = make("cuda", &ctx);
    unsetenv("QSMRIM_CUDA_CONV_ALGO");
    assert_int_not_equal(s, QR_OK);
    assert_non_null(strstr(qr_last_error(), "QSMRIM_CUDA_CONV_ALGO"));
    setenv("QSMRIM_CUDA_WORKSPACE_MB", "lots", 1);
    s = make("cuda", &ctx);
    unsetenv("QSMRIM_CUDA_WORKSPACE_MB");
    assert_int_not_equal(s, QR_OK);
    assert_non_null(strstr(qr_last_error(), "QSMRIM_CUDA_WORKSPACE_MB"));
}

/* ---- with a GPU ---- */

static void test_gpu_memory(void **state) {
    (void)state;
    if (!have_gpu()) skip();
    qr_nn_context *ctx;
    assert_int_equal(make("cuda", &ctx), QR_OK);
    /* far more than any GPU has: NULL, and the context stays usable */
    void *p = ctx->be->alloc(ctx, (size_t)1 << 50);
    assert_null(p);
    assert_int_equal(qr_nn_backend_check(ctx), QR_OK);
    float x[4] = {1, 2, 3, 4}, y[4] = {0};
    float *d = ctx->be->alloc(ctx, sizeof x);
    assert_non_null(d);
    ctx->be->upload(ctx, d, x, sizeof x);
    ctx->be->download(ctx, y, d, sizeof y);
    assert_memory_equal(x, y, sizeof x);
    ctx->be->free(ctx, d);
    /* a trainer whose activations cannot fit: a clear error, then the model still works */
    qr_nn_config cfg = qr_nn_config_default(QR_NN_ARCH_QSMRIMNET);
    cfg.width = 64;
    qr_nn_model *m;
    assert_int_equal(qr_nn_model_create(ctx, &cfg, 1, &m), QR_OK);
    qr_nn_train_options to = qr_nn_train_options_default();
    to.max_batch = 1 << 20;
    qr_nn_trainer *t = NULL;
    qr_status s = qr_nn_trainer_create(m, 0, &to, &t);
    printf("huge batch: %s\n", qr_last_error());
    assert_int_equal(s, QR_ERR_NOMEM);
    assert_non_null(strstr(qr_last_error(), "MB"));
#ifdef QR_CUDA_EMULATED
    /* a device that holds the parameters, gradients and Adam state (560 MB) but not a batch of 64
     * of training activations (264 MB) besides: memory runs out part-way, the error names the
     * need, and what the failed trainer took is given back (a batch of 16 then fits) */
    const char *mb = getenv("QR_EMU_DEVICE_MB");
    assert_non_null(mb);
    assert_string_equal(mb, "768");
    to.max_batch = 64;
    s = qr_nn_trainer_create(m, 0, &to, &t);
    printf("batch 64 on a 768 MB device: %s\n", qr_last_error());
    assert_int_equal(s, QR_ERR_NOMEM);
    assert_non_null(strstr(qr_last_error(), "activations for a batch of 64"));
    to.max_batch = 16;
    assert_int_equal(qr_nn_trainer_create(m, 0, &to, &t), QR_OK);
    qr_nn_trainer_free(t);
#endif
    const int64_t n = 2, P = 2 * 16 * 32 * 32;
    float *px = calloc((size_t)(n * P), sizeof(float)), *r = calloc((size_t)(n * cfg.n_radiomic), sizeof(float));
    float logits[2];
    qr_nn_batch b = {n, px, r, NULL, NULL, NULL};
    assert_int_equal(qr_nn_model_infer(m, &b, logits), QR_OK);
    free(px);
    free(r);
    qr_nn_model_free(m);
    qr_nn_context_free(ctx);
}

static void test_gpu_failure_reported(void **state) {
    (void)state;
    if (!have_gpu()) skip();
    qr_nn_context *ctx;
    assert_int_equal(make("cuda", &ctx), QR_OK);
    float *buf = ctx->be->alloc(ctx, 4096);
    assert_non_null(buf);
    /* a convolution cuDNN must refuse (no input channels): recorded, reported once, cleared */
    qr_nn_conv g = {1, 0, 1, 2, 2, 2, 2, 2, 2, 1, 1, 0};
    ctx->be->conv3d_forward(ctx, &g, buf, buf, buf, NULL);
    qr_status s = qr_nn_backend_check(ctx);
    printf("forced failure: %s\n", qr_last_error());
    assert_int_equal(s, QR_ERR_DEVICE);
    assert_one_line(qr_last_error());
    assert_non_null(strstr(qr_last_error(), "cuda:0"));
    assert_int_equal(qr_nn_backend_check(ctx), QR_OK);
    /* work after the failure runs normally */
    float x[3] = {-1, 0, 2}, y[3];
    ctx->be->upload(ctx, buf, x, sizeof x);
    ctx->be->relu_forward(ctx, 3, buf, buf);
    ctx->be->download(ctx, y, buf, sizeof y);
    assert_int_equal(qr_nn_backend_check(ctx), QR_OK);
    assert_true(y[0] == 0 && y[1] == 0 && y[2] == 2);
#ifdef QR_CUDA_EMULATED
    /* a failed runtime call (a device copy from host memory: invalid argument) leaves the error as
     * the runtime's last error too; once the check has reported it, the next work must not see it
     * again (it came back as "kernel launch: relu_fwd: invalid argument" and skipped the download).
     * Emulated only: on a GPU with HMM such a copy may succeed. */
    ctx->be->copy(ctx, buf, x, sizeof x);
    assert_int_equal(qr_nn_backend_check(ctx), QR_ERR_DEVICE);
    assert_non_null(strstr(qr_last_error(), "invalid argument"));
    y[2] = -1;
    ctx->be->upload(ctx, buf, x, sizeof x);
    ctx->be->relu_forward(ctx, 3, buf, buf);
    ctx->be->download(ctx, y, buf, sizeof y);
    qr_status after = qr_nn_backend_check(ctx);
    if (after != QR_OK) fail_msg("healthy work after a reported failure: %s", qr_last_error());
    assert_true(y[0] == 0 && y[1] == 0 && y[2] == 2);
#endif
    ctx->be->free(ctx, buf);
    qr_nn_context_free(ctx);
}

/* conv g of host x and w into host y on the context's device; QR_OK or the check's failure */
static qr_status device_conv(qr_nn_context *ctx, const qr_nn_conv *g, const float *x, const float *w, float *y) {
    const size_t nx = (size_t)g->n * g->cin * g->id * g->ih * g->iw, nw = (size_t)g->cout * g->cin * g->k * g->k * g->k,
                 ny = (size_t)g->n * g->cout * g->od * g->oh * g->ow;
    float *dx = ctx->be->alloc(ctx, nx * sizeof(float)), *dw = ctx->be->alloc(ctx, nw * sizeof(float)),
          *dy = ctx->be->alloc(ctx, ny * sizeof(float));
    assert_true(dx && dw && dy);
    ctx->be->upload(ctx, dx, x, nx * sizeof(float));
    ctx->be->upload(ctx, dw, w, nw * sizeof(float));
    ctx->be->conv3d_forward(ctx, g, dy, dx, dw, NULL);
    ctx->be->download(ctx, y, dy, ny * sizeof(float));
    ctx->be->free(ctx, dx);
    ctx->be->free(ctx, dw);
    ctx->be->free(ctx, dy);
    return qr_nn_backend_check(ctx);
}

#ifdef QR_CUDA_EMULATED
/* din and dw of conv g (from fixed inputs) on a new context; with spare >= 0 the device is first
 * filled up to about spare bytes */
static void backward_on(const qr_nn_conv *g, long spare, float *din, float *dw, int64_t nx, int64_t nw, int64_t ny) {
    qr_nn_context *ctx;
    assert_int_equal(make("cuda", &ctx), QR_OK);
    float *hx = malloc(sizeof(float) * (size_t)nx), *hw = malloc(sizeof(float) * (size_t)nw),
          *hy = malloc(sizeof(float) * (size_t)ny);
    for (int64_t i = 0; i < nx; i++) hx[i] = sinf(0.37f * (float)i);
    for (int64_t i = 0; i < nw; i++) hw[i] = 0.2f * cosf(0.11f * (float)i);
    for (int64_t i = 0; i < ny; i++) hy[i] = cosf(0.23f * (float)i);
    float *x = ctx->be->alloc(ctx, sizeof(float) * (size_t)nx), *w = ctx->be->alloc(ctx, sizeof(float) * (size_t)nw),
          *dy = ctx->be->alloc(ctx, sizeof(float) * (size_t)ny), *dx = ctx->be->alloc(ctx, sizeof(float) * (size_t)nx),
          *dwd = ctx->be->alloc(ctx, sizeof(float) * (size_t)nw);
    assert_true(x && w && dy && dx && dwd);
    ctx->be->upload(ctx, x, hx, sizeof(float) * (size_t)nx);
    ctx->be->upload(ctx, w, hw, sizeof(float) * (size_t)nw);
    ctx->be->upload(ctx, dy, hy, sizeof(float) * (size_t)ny);
    void *fill = NULL;
    if (spare >= 0) { /* find what is free by filling it, then leave `spare` of it */
        void *part[64];
        int np = 0;
        size_t total = 0;
        for (size_t sz = (size_t)1 << 30; sz >= 256; sz /= 2) {
            void *p = ctx->be->alloc(ctx, sz);
            if (p) part[np++] = p, total += sz;
        }
        for (int i = 0; i < np; i++) ctx->be->free(ctx, part[i]);
        fill = ctx->be->alloc(ctx, total - (size_t)spare);
        assert_non_null(fill);
    }
    g_nlog = 0;
    qr_set_log_sink(sink, NULL);
    ctx->be->conv3d_backward(ctx, g, dx, 0, dwd, NULL, dy, x, w);
    ctx->be->download(ctx, din, dx, sizeof(float) * (size_t)nx);
    ctx->be->download(ctx, dw, dwd, sizeof(float) * (size_t)nw);
    qr_set_log_sink(NULL, NULL);
    assert_int_equal(qr_nn_backend_check(ctx), QR_OK);
    for (int i = 0; i < g_nlog && i < 8; i++) printf("  notice: %s\n", g_log[i]);
    ctx->be->free(ctx, fill);
    ctx->be->free(ctx, x), ctx->be->free(ctx, w), ctx->be->free(ctx, dy), ctx->be->free(ctx, dx), ctx->be->free(ctx, dwd);
    qr_nn_context_free(ctx);
    free(hx), free(hw), free(hy);
}

/* The emulated timed search with room for its buffers but not for the workspace (2 MiB) of the
 * only deterministic backward-filter algorithm of the emulated ranking: its entry fails, the
 * search offers non-deterministic ones only, and the heuristic ranking's deterministic one is
 * taken instead (the layer's own workspace fits) - the same bits as the heuristic mode, no
 * notice about non-deterministic algorithms. */
static void find_partial_memory(void) {
    const qr_nn_conv g = {1, 4, 4, 16, 16, 16, 16, 16, 16, 3, 1, 1};
    enum { NX = 4 * 4096, NW = 4 * 4 * 27, NY = 4 * 4096 };
    static float din0[NX], dw0[NW], din1[NX], dw1[NW];
    unsetenv("QSMRIM_CUDA_CONV_ALGO");
    backward_on(&g, -1, din0, dw0, NX, NW, NY);
    setenv("QSMRIM_CUDA_CONV_ALGO", "find", 1);
    backward_on(&g, (2L << 20) + (64L << 10), din1, dw1, NX, NW, NY);
    for (int i = 0; i < g_nlog && i < 8; i++) assert_null(strstr(g_log[i], "no deterministic"));
    assert_memory_equal(din0, din1, sizeof din0);
    assert_memory_equal(dw0, dw1, sizeof dw0);
    printf("timed search short of one workspace: the heuristic's deterministic algorithm, same bits\n");
}

/* With less GPU memory free than the deterministic backward algorithms' workspaces (1 and 2 MiB in
 * the emulated ranking), free memory rather than the workspace limit decides the choice: a notice
 * says so once, naming the setting that makes the choice repeatable; with room, none. */
static void short_memory_notice(void) {
    const qr_nn_conv g = {1, 4, 4, 16, 16, 16, 16, 16, 16, 3, 1, 1};
    enum { NX = 4 * 4096, NW = 4 * 4 * 27, NY = 4 * 4096 };
    static float din[NX], dw[NW];
    unsetenv("QSMRIM_CUDA_CONV_ALGO");
    backward_on(&g, -1, din, dw, NX, NW, NY);
    for (int i = 0; i < g_nlog && i < 8; i++) assert_null(strstr(g_log[i], "GPU memory is short"));
    backward_on(&g, 512L << 10, din, dw, NX, NW, NY);
    int shorts = 0;
    for (int i = 0; i < g_nlog && i < 8; i++)
        if (strstr(g_log[i], "GPU memory is short")) {
            shorts++;
            assert_one_line(g_log[i]);
            assert_non_null(strstr(g_log[i], "QSMRIM_CUDA_WORKSPACE_MB at or below the memory free when algorithms are "
                                             "chosen, 0 here, makes the choice repeatable"));
        }
    assert_int_equal(shorts, 1);
    printf("free memory below the deterministic workspaces: one notice\n");
}
#endif

/* QSMRIM_CUDA_CONV_ALGO=find: a convolution on the algorithm of cuDNN's timed search equals the
 * one on its heuristic choice. Emulated, also: with the device so full that the search cannot
 * allocate its own buffers, the heuristic choice takes over with one notice, and the search's
 * failed allocation is not reported as a failure of the work after it. */
static void test_find_algo(void **state) {
    (void)state;
    if (!have_gpu()) skip();
    const qr_nn_conv g = {2, 4, 8, 8, 8, 8, 8, 8, 8, 3, 1, 1};
    enum { NX = 2 * 4 * 512, NW = 8 * 4 * 27, NY = 2 * 8 * 512 };
    static float x[NX], w[NW], y0[NY], y1[NY];
    for (int i = 0; i < NX; i++) x[i] = sinf(0.37f * (float)i);
    for (int i = 0; i < NW; i++) w[i] = 0.2f * cosf(0.11f * (float)i);
    unsetenv("QSMRIM_CUDA_CONV_ALGO");
    qr_nn_context *ctx;
    assert_int_equal(make("cuda", &ctx), QR_OK);
    assert_int_equal(device_conv(ctx, &g, x, w, y0), QR_OK);
    qr_nn_context_free(ctx);

    setenv("QSMRIM_CUDA_CONV_ALGO", "find", 1);
    assert_int_equal(make("cuda", &ctx), QR_OK);
    assert_non_null(strstr(qr_nn_context_describe(ctx), "timed"));
    assert_int_equal(device_conv(ctx, &g, x, w, y1), QR_OK);
    double worst = 0, scale = 0;
    for (int i = 0; i < NY; i++) scale = fabs(y0[i]) > scale ? fabs(y0[i]) : scale;
    for (int i = 0; i < NY; i++) { /* another algorithm sums in another order (FFT, Winograd: scale-relative) */
        const double e = fabs((double)y1[i] - y0[i]) / (1e-5 * scale + 1e-4 * fabs(y0[i]));
        worst = e > worst ? e : worst;
    }
    printf("timed vs heuristic algorithm: worst %.3g of tolerance\n", worst);
    assert_true(worst <= 1.0);
    qr_nn_context_free(ctx);
#ifdef QR_CUDA_EMULATED
    assert_int_equal(make("cuda", &ctx), QR_OK);
    float *dx = ctx->be->alloc(ctx, sizeof x), *dw = ctx->be->alloc(ctx, sizeof w), *dy = ctx->be->alloc(ctx, sizeof y1);
    assert_true(dx && dw && dy);
    ctx->be->upload(ctx, dx, x, sizeof x);
    ctx->be->upload(ctx, dw, w, sizeof w);
    void *fill[64];
    int nf = 0;
    for (size_t sz = (size_t)1 << 30; sz >= 256; sz /= 2) {
        void *p = ctx->be->alloc(ctx, sz);
        if (p) fill[nf++] = p;
    }
    assert_int_equal(qr_nn_backend_check(ctx), QR_OK);
    g_nlog = 0;
    qr_set_log_sink(sink, NULL);
    ctx->be->conv3d_forward(ctx, &g, dy, dx, dw, NULL);
    ctx->be->relu_forward(ctx, NY, dy, dy);
    ctx->be->download(ctx, y1, dy, sizeof y1);
    qr_set_log_sink(NULL, NULL);
    printf("full device: %s\n", g_nlog ? g_log[0] : "(no notice)");
    assert_int_equal(qr_nn_backend_check(ctx), QR_OK);
    assert_int_equal(g_nlog, 1);
    assert_non_null(strstr(g_log[0], "timed forward algorithm search"));
    assert_non_null(strstr(g_log[0], "ALLOCATION_FAILED"));
    assert_non_null(strstr(g_log[0], "heuristic choice"));
    for (int i = 0; i < NY; i++) assert_true(y1[i] == (y0[i] > 0 ? y0[i] : 0.0f));
    for (int i = 0; i < nf; i++) ctx->be->free(ctx, fill[i]);
    ctx->be->free(ctx, dx);
    ctx->be->free(ctx, dw);
    ctx->be->free(ctx, dy);
    qr_nn_context_free(ctx);
    find_partial_memory();
    short_memory_notice();
#endif
    unsetenv("QSMRIM_CUDA_CONV_ALGO");
}

#ifdef QR_CUDA_EMULATED
/* cuDNN can refuse at run time an algorithm its ranking listed (a NOT_SUPPORTED sub-code): the
 * plan drops it, chooses again and repeats the call, with one notice; the result is the same
 * convolution. A missing convolution library (libcudnn_cnn) fails the context's start, where
 * --device auto can still fall back to the CPU, not the first layer. */
static void test_refused_algorithm(void **state) {
    (void)state;
    const qr_nn_conv g = {2, 4, 8, 8, 8, 8, 8, 8, 8, 3, 1, 1};
    enum { NX = 2 * 4 * 512, NW = 8 * 4 * 27, NY = 2 * 8 * 512 };
    static float x[NX], w[NW], y0[NY], y1[NY];
    for (int i = 0; i < NX; i++) x[i] = sinf(0.29f * (float)i);
    for (int i = 0; i < NW; i++) w[i] = 0.3f * cosf(0.17f * (float)i);
    qr_nn_context *ctx;
    assert_int_equal(make("cuda", &ctx), QR_OK);
    assert_int_equal(device_conv(ctx, &g, x, w, y0), QR_OK);
    qr_nn_context_free(ctx);

    setenv("QR_EMU_CONV_REFUSE", "forward:0", 1); /* IMPLICIT_GEMM, the FP32 choice */
    assert_int_equal(make("cuda", &ctx), QR_OK);
    qr_set_log_sink(sink, NULL);
    qr_status s1 = device_conv(ctx, &g, x, w, y1);
    const int notices = g_nlog;
    qr_status s2 = device_conv(ctx, &g, x, w, y1); /* the plan keeps the replacement: no second notice */
    qr_set_log_sink(NULL, NULL);
    unsetenv("QR_EMU_CONV_REFUSE");
    printf("refused algorithm: %s\n", g_nlog ? g_log[0] : "(no notice)");
    assert_int_equal(s1, QR_OK);
    assert_int_equal(s2, QR_OK);
    assert_int_equal(notices, 1);
    assert_int_equal(g_nlog, 1);
    assert_non_null(strstr(g_log[0], "refused the forward algorithm 0"));
    assert_non_null(strstr(g_log[0], "choosing another"));
    assert_one_line(g_log[0]);
    assert_memory_equal(y0, y1, sizeof y0);
    qr_nn_context_free(ctx);

    setenv("QR_EMU_NO_CUDNN_CNN", "1", 1);
    qr_status s = make("cuda", &ctx);
    unsetenv("QR_EMU_NO_CUDNN_CNN");
    printf("no convolution library: %s\n", qr_last_error());
    assert_int_equal(s, QR_ERR_DEVICE);
    assert_non_null(strstr(qr_last_error(), "convolution library could not be loaded"));
    assert_non_null(strstr(qr_last_error(), "SUBLIBRARY_LOADING_FAILED"));
    assert_one_line(qr_last_error());
    qr_clear_error();
}
#endif

int main(int argc, char **argv) {
#ifdef QR_CUDA_EMULATED
    (void)argc, (void)argv;
    const struct CMUnitTest emulated[] = {
        cmocka_unit_test(test_gpu_memory),
        cmocka_unit_test(test_gpu_failure_reported),
        cmocka_unit_test(test_find_algo),
        cmocka_unit_test(test_refused_algorithm),
    };
    return cmocka_run_group_tests(emulated, NULL, NULL);
#endif
    if (argc > 1 && !strcmp(argv[1], "--probe")) {
        qr_nn_context *c = NULL;
        qr_nn_context_options o = qr_nn_context_options_default();
        o.device.kind = QR_NN_DEVICE_CUDA;
        if (qr_nn_context_create(&o, &c) != QR_OK) {
            /* skipped only where there is no NVIDIA device at all: a GPU the kit cannot use (a
             * driver too old for its CUDA, a missing cuBLAS or cuDNN) is a failure of the check */
            if (access("/dev/nvidiactl", F_OK) != 0 && access("/dev/nvidia0", F_OK) != 0) {
                printf("no NVIDIA GPU: %s (skipped)\n", qr_last_error());
                return 77;
            }
            printf("an NVIDIA GPU is present (/dev/nvidia*) but cannot be used: %s\n", qr_last_error());
            return 1;
        }
        printf("%s\n", qr_nn_context_describe(c));
        qr_nn_context_free(c);
        return 0;
    }
    unsetenv("QSMRIM_PRECISION");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cuda_device),     cmocka_unit_test(test_cuda_index),
        cmocka_unit_test(test_auto),            cmocka_unit_test(test_bad_setting),
        cmocka_unit_test(test_gpu_memory),      cmocka_unit_test(test_gpu_failure_reported),
        cmocka_unit_test(test_find_algo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
