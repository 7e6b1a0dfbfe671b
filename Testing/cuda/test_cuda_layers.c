/*
 * test_cuda_layers.c - every function of the CUDA backend's table against the reference backend
 * (the specification) on random inputs: forward and backward, overwrite (acc = 0) and
 * accumulate (acc = 1), optional outputs (NULL din / db), memory and layout functions.
 *
 * Each output is checked element-wise with |gpu - ref| <= tol + eps |ref| (the worst ratio is
 * printed; <= 1 passes); results of one float operation (copies, ReLU, a sum, a product) must be
 * identical, results of a multiply-add need not be (the compiler may fuse it on the CPU). Tolerances: element-wise layers and exact data movement 1e-6 / 1e-5
 * (expf/tanhf of the GPU differ from glibc's by an ulp or two), reductions in double 1e-6 / 1e-5,
 * convolutions and linear layers (float32 sums on the GPU, double in the reference) 1e-4 / 1e-4
 * relative to the output's scale. With QSMRIM_PRECISION=tf32 both contexts run in TF32: the GPU
 * on tensor cores, the reference through the host TF32 layer (nn_tf32.c, the same rounding of
 * the operands). Against the CUDA emulation (which rounds as nn_tf32.c does) the tolerances stay
 * as in FP32; on a GPU the convolution and linear tolerances are widened to 1e-2 / 5e-3, because
 * how the GPU converts float32 operands to TF32 is not documented (PyTorch's notes say tensor
 * cores read only the first 10 mantissa bits, i.e. truncate). Truncation against the reference's
 * rounding moves a product sum by 7e-4 to 1e-3 of its scale (simulated for 54 to 1728 terms), a
 * worst ratio near 0.1 of the widened tolerance; rounding as the reference does leaves only
 * float32 summation differences, far below 0.01 of it. The printed worst ratios tell which.
 *
 * Determinism: the convolution backward, batch-norm and Adam results are computed twice and
 * must be bit-identical.
 *
 * Exit 77 (skipped) when no CUDA context can be created. Built a second time against the CPU
 * emulation of CUDA/cuDNN/cuBLAS (test_cuda_emu_layers, see cuda_test_util.h), it runs everywhere.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/rng.h"
#include "nn/nn.h"
#include "nn/nn_backend.h"
#include "cuda_test_util.h"

static qr_nn_context *R, *G; /* reference, GPU */
static qr_rng g_rng;
static double g_conv_tol = 1e-4, g_conv_eps = 1e-4;

#define TOL_EW 1e-6
#define EPS_EW 1e-5

/* ---- paired buffers: the same tensor on both backends ---- */
typedef struct pair {
    float *r, *g;
    int64_t n;
} pair;

static float *host_random(int64_t n, float scale) {
    float *h = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    assert_non_null(h);
    for (int64_t i = 0; i < n; i++) h[i] = (float)(qr_rng_normal(&g_rng) * scale);
    return h;
}

static pair pair_from(const float *host, int64_t n) {
    pair p = {R->be->alloc(R, sizeof(float) * (size_t)n), G->be->alloc(G, sizeof(float) * (size_t)n), n};
    assert_non_null(p.r);
    assert_non_null(p.g);
    R->be->upload(R, p.r, host, sizeof(float) * (size_t)n);
    G->be->upload(G, p.g, host, sizeof(float) * (size_t)n);
    return p;
}

static pair pair_random(int64_t n, float scale) {
    float *h = host_random(n, scale);
    pair p = pair_from(h, n);
    free(h);
    return p;
}

static pair pair_zero(int64_t n) {
    pair p = {R->be->alloc(R, sizeof(float) * (size_t)n), G->be->alloc(G, sizeof(float) * (size_t)n), n};
    assert_non_null(p.r);
    assert_non_null(p.g);
    return p;
}

static void pair_free(pair p) {
    R->be->free(R, p.r);
    G->be->free(G, p.g);
}

/* Give the GPU side the reference side's values, so that a backward function is tested on the
 * same input on both sides (the forward results it takes differ in the last bits: the GPU's
 * tanhf and expf round differently from the C library's). */
static void pair_share(pair p) {
    float *h = malloc(sizeof(float) * (size_t)p.n);
    assert_non_null(h);
    R->be->download(R, h, p.r, sizeof(float) * (size_t)p.n);
    G->be->upload(G, p.g, h, sizeof(float) * (size_t)p.n);
    free(h);
}

/* Download both sides and compare: |g - r| <= tol + eps |r|, NaN only where the reference has
 * NaN. tol is relative to the reference's largest |value| when scaled = 1. */
static double compare(const char *what, pair p, double tol, double eps, int scaled) {
    float *r = malloc(sizeof(float) * (size_t)p.n), *g = malloc(sizeof(float) * (size_t)p.n);
    R->be->download(R, r, p.r, sizeof(float) * (size_t)p.n);
    G->be->download(G, g, p.g, sizeof(float) * (size_t)p.n);
    assert_int_equal(qr_nn_backend_check(G), QR_OK);
    double scale = 1;
    if (scaled) {
        scale = 0;
        for (int64_t i = 0; i < p.n; i++)
            if (isfinite(r[i]) && fabs(r[i]) > scale) scale = fabs(r[i]);
        if (scale == 0) scale = 1;
    }
    double worst = 0;
    int64_t wi = 0;
    for (int64_t i = 0; i < p.n; i++) {
        double q;
        if (isnan(r[i]) || isnan(g[i])) q = isnan(r[i]) && isnan(g[i]) ? 0 : INFINITY;
        else if (isinf(r[i]) || isinf(g[i])) q = r[i] == g[i] ? 0 : INFINITY;
        else {
            const double diff = fabs((double)g[i] - r[i]), den = tol * scale + eps * fabs(r[i]);
            q = den > 0 ? diff / den : diff == 0 ? 0 : INFINITY;
        }
        if (q > worst) {
            worst = q;
            wi = i;
        }
    }
    printf("  %-44s n=%-8lld worst %.3g of tolerance (gpu %.9g ref %.9g at %lld)\n", what, (long long)p.n, worst,
           p.n ? g[wi] : 0.0, p.n ? r[wi] : 0.0, (long long)wi);
    free(r);
    free(g);
    assert_true(worst <= 1.0);
    return worst;
}

/* the GPU side's bits, to check that a second computation gives the same */
static float *gpu_bits(pair p) {
    float *h = malloc(sizeof(float) * (size_t)p.n);
    G->be->download(G, h, p.g, sizeof(float) * (size_t)p.n);
    assert_int_equal(qr_nn_backend_check(G), QR_OK);
    return h;
}
static void same_bits(const char *what, const float *a, pair p) {
    float *b = gpu_bits(p);
    int same = !memcmp(a, b, sizeof(float) * (size_t)p.n);
    printf("  %-44s %s\n", what, same ? "bit-identical on repeat" : "DIFFERS on repeat");
    free(b);
    assert_true(same);
}

/* ------------------------------------------------------------------------------------------ */
/* memory and layouts                                                                         */
/* ------------------------------------------------------------------------------------------ */

static void test_memory(void **state) {
    (void)state;
    const int64_t n = 1000;
    float *z = G->be->alloc(G, sizeof(float) * n), *h = malloc(sizeof(float) * n);
    G->be->download(G, h, z, sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) assert_true(h[i] == 0.0f); /* zero-filled */
    float *x = host_random(n, 1.0f), *back = malloc(sizeof(float) * n);
    G->be->upload(G, z, x, sizeof(float) * n);
    G->be->download(G, back, z, sizeof(float) * n);
    assert_memory_equal(x, back, sizeof(float) * n);
    float *c = G->be->alloc(G, sizeof(float) * n);
    G->be->copy(G, c, z, sizeof(float) * n);
    G->be->download(G, back, c, sizeof(float) * n);
    assert_memory_equal(x, back, sizeof(float) * n);
    G->be->zero(G, c + 10, sizeof(float) * 20);
    G->be->download(G, back, c, sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) assert_true(back[i] == (i >= 10 && i < 30 ? 0.0f : x[i]));
    /* 5D and weights: PyTorch layouts round-trip exactly */
    qr_nn_shape5 s = {2, 5, 2, 10, 5};
    G->be->upload5(G, &s, z, x);
    G->be->download5(G, &s, back, z);
    assert_memory_equal(x, back, sizeof(float) * n);
    int64_t wd[5] = {5, 8, 5, 1, 5};
    G->be->weight_upload(G, QR_NN_LAYOUT_CONV, wd, z, x);
    G->be->weight_download(G, QR_NN_LAYOUT_CONV, wd, back, z);
    assert_memory_equal(x, back, sizeof(float) * n);
    int64_t ld[2] = {40, 25};
    G->be->weight_upload(G, QR_NN_LAYOUT_LINEAR, ld, z, x);
    G->be->weight_download(G, QR_NN_LAYOUT_LINEAR, ld, back, z);
    assert_memory_equal(x, back, sizeof(float) * n);
    assert_int_equal(qr_nn_backend_check(G), QR_OK);
    G->be->free(G, z);
    G->be->free(G, c);
    free(h);
    free(x);
    free(back);
}

/* ------------------------------------------------------------------------------------------ */
/* convolution                                                                                */
/* ------------------------------------------------------------------------------------------ */

static qr_nn_conv conv(int n, int cin, int cout, int d, int h, int w, int k, int s, int p) {
    qr_nn_conv g = {n, cin, cout, d, h, w, qr_nn_conv_out(d, k, s, p, p), qr_nn_conv_out(h, k, s, p, p),
                    qr_nn_conv_out(w, k, s, p, p), k, s, p};
    return g;
}

static void conv_case(const char *name, qr_nn_conv g, int epi_kind, int bias) {
    printf("%s: conv %d->%d k%d s%d p%d, batch %d, %dx%dx%d -> %dx%dx%d\n", name, g.cin, g.cout, g.k, g.s, g.p, g.n, g.id,
           g.ih, g.iw, g.od, g.oh, g.ow);
    const int64_t ni = (int64_t)g.n * g.cin * g.id * g.ih * g.iw, no = (int64_t)g.n * g.cout * g.od * g.oh * g.ow;
    const int64_t nw = (int64_t)g.cout * g.cin * g.k * g.k * g.k;
    pair in = pair_random(ni, 1.0f), w = pair_random(nw, 0.2f), out = pair_random(no, 1.0f);
    pair scale = pair_random(g.cout, 1.0f), shift = pair_random(g.cout, 1.0f), res = pair_random(no, 1.0f);
    /* forward: plain / bias / folded BN + residual + ReLU */
    qr_nn_epilogue er = {NULL, NULL, NULL, 0}, eg = er;
    if (epi_kind == 1) {
        er.shift = shift.r;
        eg.shift = shift.g;
    } else if (epi_kind == 2) {
        er = (qr_nn_epilogue){scale.r, shift.r, res.r, 1};
        eg = (qr_nn_epilogue){scale.g, shift.g, res.g, 1};
    }
    R->be->conv3d_forward(R, &g, out.r, in.r, w.r, epi_kind ? &er : NULL);
    G->be->conv3d_forward(G, &g, out.g, in.g, w.g, epi_kind ? &eg : NULL);
    compare("forward", out, g_conv_tol, g_conv_eps, 1);
    /* backward: din overwritten (acc 0, din holds garbage first), then accumulated (acc 1) */
    pair dout = pair_random(no, 1.0f), din = pair_random(ni, 5.0f), dw = pair_random(nw, 5.0f);
    pair db = pair_random(g.cout, 5.0f);
    R->be->conv3d_backward(R, &g, din.r, 0, dw.r, bias ? db.r : NULL, dout.r, in.r, w.r);
    G->be->conv3d_backward(G, &g, din.g, 0, dw.g, bias ? db.g : NULL, dout.g, in.g, w.g);
    compare("backward din (acc 0)", din, g_conv_tol, g_conv_eps, 1);
    compare("backward dw", dw, g_conv_tol, g_conv_eps, 1);
    if (bias) compare("backward db", db, TOL_EW, EPS_EW, 1);
    float *dw_bits = gpu_bits(dw), *din_bits = gpu_bits(din);
    G->be->conv3d_backward(G, &g, din.g, 0, dw.g, bias ? db.g : NULL, dout.g, in.g, w.g);
    same_bits("backward dw, second run", dw_bits, dw);
    same_bits("backward din, second run", din_bits, din);
    free(dw_bits);
    free(din_bits);
    R->be->conv3d_backward(R, &g, din.r, 1, dw.r, NULL, dout.r, in.r, w.r);
    G->be->conv3d_backward(G, &g, din.g, 1, dw.g, NULL, dout.g, in.g, w.g);
    compare("backward din (acc 1)", din, g_conv_tol, g_conv_eps, 1);
    /* no input gradient (the first layer) */
    R->be->conv3d_backward(R, &g, NULL, 0, dw.r, NULL, dout.r, in.r, w.r);
    G->be->conv3d_backward(G, &g, NULL, 0, dw.g, NULL, dout.g, in.g, w.g);
    compare("backward dw (din NULL)", dw, g_conv_tol, g_conv_eps, 1);
    pair_free(in), pair_free(w), pair_free(out), pair_free(scale), pair_free(shift), pair_free(res);
    pair_free(dout), pair_free(din), pair_free(dw), pair_free(db);
}

static void test_conv3d(void **state) {
    (void)state;
    conv_case("stem", conv(2, 2, 8, 8, 12, 12, 7, 2, 3), 2, 0);
    conv_case("block", conv(2, 6, 5, 5, 6, 7, 3, 1, 1), 2, 0);
    conv_case("strided block", conv(3, 4, 6, 5, 8, 8, 3, 2, 1), 0, 0);
    conv_case("downsample", conv(2, 4, 8, 4, 6, 6, 1, 2, 0), 2, 0);
    conv_case("layer4 (mostly padding)", conv(4, 8, 8, 1, 2, 2, 3, 1, 1), 2, 0);
    conv_case("rimnet (bias)", conv(2, 1, 4, 6, 6, 6, 3, 1, 1), 1, 1);
    conv_case("rimnet reduce (1x1x1, bias)", conv(3, 6, 1, 3, 3, 3, 1, 1, 0), 1, 1);
    /* a NaN among the inputs comes through the fused BN/residual/ReLU epilogue (as in PyTorch) */
    const qr_nn_conv g = conv(2, 6, 5, 5, 6, 7, 3, 1, 1);
    const int64_t ni = (int64_t)g.n * g.cin * g.id * g.ih * g.iw, no = (int64_t)g.n * g.cout * g.od * g.oh * g.ow;
    float *h = host_random(ni, 1.0f);
    h[ni / 2] = NAN;
    pair in = pair_from(h, ni), w = pair_random((int64_t)g.cout * g.cin * 27, 0.2f), out = pair_zero(no);
    pair scale = pair_random(g.cout, 1.0f), shift = pair_random(g.cout, 1.0f), res = pair_random(no, 1.0f);
    qr_nn_epilogue er = {scale.r, shift.r, res.r, 1}, eg = {scale.g, shift.g, res.g, 1};
    printf("a NaN input through the fused ReLU epilogue\n");
    R->be->conv3d_forward(R, &g, out.r, in.r, w.r, &er);
    G->be->conv3d_forward(G, &g, out.g, in.g, w.g, &eg);
    compare("forward", out, g_conv_tol, g_conv_eps, 1);
    float *o = malloc(sizeof(float) * (size_t)no);
    G->be->download(G, o, out.g, sizeof(float) * (size_t)no);
    int64_t nans = 0;
    for (int64_t i = 0; i < no; i++) nans += isnan(o[i]);
    assert_true(nans > 0);
    free(o);
    free(h);
    pair_free(in), pair_free(w), pair_free(out), pair_free(scale), pair_free(shift), pair_free(res);
}

/* ------------------------------------------------------------------------------------------ */
/* batch normalisation                                                                        */
/* ------------------------------------------------------------------------------------------ */

static void bn_case(const char *name, qr_nn_bn g) {
    printf("%s: BatchNorm %s, n %lld, c %d, spatial %lld\n", name, g.is5d ? "3d" : "1d", (long long)g.n, g.c,
           (long long)g.spatial);
    const int64_t total = g.n * g.c * (g.is5d ? g.spatial : 1);
    pair in = pair_random(total, 2.0f), out = pair_zero(total), gamma = pair_random(g.c, 1.0f),
         beta = pair_random(g.c, 1.0f);
    /* shift the input per element so channel means differ from 0 */
    float *rm = host_random(g.c, 0.5f), *rv = host_random(g.c, 0.5f);
    for (int c = 0; c < g.c; c++) rv[c] = 0.5f + fabsf(rv[c]);
    pair run_mean = pair_from(rm, g.c), run_var = pair_from(rv, g.c);
    pair sm = pair_zero(g.c), sr = pair_zero(g.c);
    /* training forward */
    R->be->batchnorm_forward(R, &g, out.r, sm.r, sr.r, in.r, gamma.r, beta.r, run_mean.r, run_var.r, 1);
    G->be->batchnorm_forward(G, &g, out.g, sm.g, sr.g, in.g, gamma.g, beta.g, run_mean.g, run_var.g, 1);
    compare("training forward", out, TOL_EW, EPS_EW, 1);
    compare("saved mean", sm, TOL_EW, EPS_EW, 1);
    compare("saved rstd", sr, TOL_EW, EPS_EW, 1);
    compare("running mean", run_mean, TOL_EW, EPS_EW, 1);
    compare("running var (unbiased)", run_var, TOL_EW, EPS_EW, 1);
    float *bits = gpu_bits(out);
    G->be->batchnorm_forward(G, &g, out.g, sm.g, sr.g, in.g, gamma.g, beta.g, run_mean.g, run_var.g, 1);
    same_bits("training forward, second run", bits, out);
    free(bits);
    R->be->batchnorm_forward(R, &g, out.r, sm.r, sr.r, in.r, gamma.r, beta.r, run_mean.r, run_var.r, 1);
    /* inference forward */
    R->be->batchnorm_forward(R, &g, out.r, NULL, NULL, in.r, gamma.r, beta.r, run_mean.r, run_var.r, 0);
    G->be->batchnorm_forward(G, &g, out.g, NULL, NULL, in.g, gamma.g, beta.g, run_mean.g, run_var.g, 0);
    compare("inference forward", out, TOL_EW, EPS_EW, 1);
    /* backward, acc 0 then 1 */
    pair dout = pair_random(total, 1.0f), din = pair_random(total, 3.0f), dg = pair_zero(g.c), dbt = pair_zero(g.c);
    R->be->batchnorm_backward(R, &g, din.r, 0, dg.r, dbt.r, dout.r, in.r, sm.r, sr.r, gamma.r);
    G->be->batchnorm_backward(G, &g, din.g, 0, dg.g, dbt.g, dout.g, in.g, sm.g, sr.g, gamma.g);
    compare("backward din (acc 0)", din, 1e-5, 1e-5, 1);
    compare("backward dgamma", dg, 1e-6, 1e-5, 1);
    compare("backward dbeta", dbt, 1e-6, 1e-5, 1);
    R->be->batchnorm_backward(R, &g, din.r, 1, dg.r, dbt.r, dout.r, in.r, sm.r, sr.r, gamma.r);
    G->be->batchnorm_backward(G, &g, din.g, 1, dg.g, dbt.g, dout.g, in.g, sm.g, sr.g, gamma.g);
    compare("backward din (acc 1)", din, 1e-5, 1e-5, 1);
    /* inference folding */
    pair sc = pair_zero(g.c), sh = pair_zero(g.c);
    R->be->batchnorm_fold(R, &g, sc.r, sh.r, gamma.r, beta.r, run_mean.r, run_var.r);
    G->be->batchnorm_fold(G, &g, sc.g, sh.g, gamma.g, beta.g, run_mean.g, run_var.g);
    compare("fold scale", sc, TOL_EW, EPS_EW, 1);
    compare("fold shift", sh, TOL_EW, EPS_EW, 1);
    pair_free(in), pair_free(out), pair_free(gamma), pair_free(beta), pair_free(run_mean), pair_free(run_var);
    pair_free(sm), pair_free(sr), pair_free(dout), pair_free(din), pair_free(dg), pair_free(dbt), pair_free(sc);
    pair_free(sh);
    free(rm);
    free(rv);
}

static void test_batchnorm(void **state) {
    (void)state;
    bn_case("3d", (qr_nn_bn){3, 5, 4 * 5 * 6, 1, 1e-5f, 0.1f});
    bn_case("3d, many chunks", (qr_nn_bn){4, 3, 16 * 32 * 32, 1, 1e-5f, 0.1f});
    bn_case("3d, one position", (qr_nn_bn){6, 16, 1, 1, 1e-5f, 0.1f});
    bn_case("1d", (qr_nn_bn){7, 9, 1, 0, 1e-5f, 0.1f});
    bn_case("1d, wide", (qr_nn_bn){5, 1100, 1, 0, 1e-5f, 0.1f});
}

/* ------------------------------------------------------------------------------------------ */
/* element-wise                                                                               */
/* ------------------------------------------------------------------------------------------ */

static void test_elementwise(void **state) {
    (void)state;
    const int64_t n = 20011;
    float *h = host_random(n, 3.0f);
    for (int64_t i = 0; i < n; i += 97) h[i] = 0.0f;
    h[1] = 60.0f, h[2] = -60.0f, h[3] = 1e-30f;
    h[4] = NAN; /* kept by ReLU, as PyTorch keeps it */
    pair x = pair_from(h, n), y = pair_random(n, 1.0f), out = pair_zero(n), dout = pair_random(n, 1.0f);
    pair din = pair_random(n, 1.0f);
    float *mh = host_random(n, 1.0f);
    for (int64_t i = 0; i < n; i++) mh[i] = mh[i] < 0 ? 0.0f : 1.0f / 0.7f;
    pair mask = pair_from(mh, n);
    printf("element-wise layers, n = %lld\n", (long long)n);
    R->be->relu_forward(R, n, out.r, x.r), G->be->relu_forward(G, n, out.g, x.g);
    compare("relu forward", out, 0, 0, 0);
    for (int acc = 0; acc < 2; acc++) {
        R->be->relu_backward(R, n, din.r, acc, dout.r, out.r), G->be->relu_backward(G, n, din.g, acc, dout.g, out.g);
        compare(acc ? "relu backward (acc 1)" : "relu backward (acc 0)", din, 0, 0, 0);
    }
    R->be->swish_forward(R, n, out.r, x.r), G->be->swish_forward(G, n, out.g, x.g);
    compare("swish forward", out, TOL_EW, EPS_EW, 0);
    for (int acc = 0; acc < 2; acc++) {
        R->be->swish_backward(R, n, din.r, acc, dout.r, x.r), G->be->swish_backward(G, n, din.g, acc, dout.g, x.g);
        compare(acc ? "swish backward (acc 1)" : "swish backward (acc 0)", din, TOL_EW, EPS_EW, 0);
    }
    R->be->tanh_forward(R, n, out.r, x.r), G->be->tanh_forward(G, n, out.g, x.g);
    compare("tanh forward", out, TOL_EW, EPS_EW, 0);
    pair_share(out); /* 1 - out^2 cancels near |out| = 1: 2 ulp of out would be 1e-4 of it */
    for (int acc = 0; acc < 2; acc++) {
        R->be->tanh_backward(R, n, din.r, acc, dout.r, out.r), G->be->tanh_backward(G, n, din.g, acc, dout.g, out.g);
        compare(acc ? "tanh backward (acc 1)" : "tanh backward (acc 0)", din, TOL_EW, EPS_EW, 0);
    }
    R->be->add_forward(R, n, out.r, x.r, y.r), G->be->add_forward(G, n, out.g, x.g, y.g);
    compare("add", out, 0, 0, 0);
    R->be->add_forward(R, n, out.r, out.r, y.r), G->be->add_forward(G, n, out.g, out.g, y.g);
    compare("add in place", out, 0, 0, 0);
    R->be->mul_forward(R, n, out.r, x.r, mask.r), G->be->mul_forward(G, n, out.g, x.g, mask.g);
    compare("dropout multiply", out, 0, 0, 0);
    for (int acc = 0; acc < 2; acc++) {
        R->be->mul_backward(R, n, din.r, acc, dout.r, mask.r), G->be->mul_backward(G, n, din.g, acc, dout.g, mask.g);
        compare("dropout backward", din, TOL_EW, EPS_EW, 0); /* din + dout * mask: the CPU may fuse it */
        R->be->grad_pass(R, n, din.r, acc, dout.r), G->be->grad_pass(G, n, din.g, acc, dout.g);
        compare("gradient pass", din, TOL_EW, EPS_EW, 0); /* din may carry the fused rounding above */
    }
    R->be->relu_backward(R, n, din.r, 0, din.r, x.r), G->be->relu_backward(G, n, din.g, 0, din.g, x.g);
    compare("relu backward in place", din, TOL_EW, EPS_EW, 0);
    pair_free(x), pair_free(y), pair_free(out), pair_free(dout), pair_free(din), pair_free(mask);
    free(h);
    free(mh);
}

/* ------------------------------------------------------------------------------------------ */
/* pooling                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static void compare_i32(const char *what, const int32_t *r, const int32_t *g, int64_t n) {
    int32_t *hr = malloc(sizeof(int32_t) * (size_t)n), *hg = malloc(sizeof(int32_t) * (size_t)n);
    R->be->download(R, hr, r, sizeof(int32_t) * (size_t)n);
    G->be->download(G, hg, g, sizeof(int32_t) * (size_t)n);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad += hr[i] != hg[i];
    printf("  %-44s n=%-8lld %lld differ\n", what, (long long)n, (long long)bad);
    free(hr);
    free(hg);
    assert_int_equal(bad, 0);
}

static void pool_case(const char *name, qr_nn_pool p, int nan_at) {
    p.od = qr_nn_conv_out(p.id, p.k, p.s, p.pad_lo, p.pad_hi);
    p.oh = qr_nn_conv_out(p.ih, p.k, p.s, p.pad_lo, p.pad_hi);
    p.ow = qr_nn_conv_out(p.iw, p.k, p.s, p.pad_lo, p.pad_hi);
    printf("%s: max-pool k%d s%d pad %d/%d, %dx%dx%d -> %dx%dx%d\n", name, p.k, p.s, p.pad_lo, p.pad_hi, p.id, p.ih, p.iw,
           p.od, p.oh, p.ow);
    const int64_t ni = (int64_t)p.n * p.c * p.id * p.ih * p.iw, no = (int64_t)p.n * p.c * p.od * p.oh * p.ow;
    float *h = host_random(ni, 2.0f);
    for (int64_t i = 0; i < ni; i++) h[i] = roundf(h[i] * 2.0f) / 2.0f; /* many ties */
    if (nan_at >= 0) h[nan_at] = NAN;
    pair in = pair_from(h, ni), out = pair_zero(no);
    int32_t *ar = R->be->alloc(R, sizeof(int32_t) * (size_t)no), *ag = G->be->alloc(G, sizeof(int32_t) * (size_t)no);
    R->be->maxpool3d_forward(R, &p, out.r, ar, in.r);
    G->be->maxpool3d_forward(G, &p, out.g, ag, in.g);
    compare("forward", out, 0, 0, 0);
    compare_i32("argmax", ar, ag, no);
    pair dout = pair_random(no, 1.0f), din = pair_random(ni, 1.0f);
    for (int acc = 0; acc < 2; acc++) {
        R->be->maxpool3d_backward(R, &p, din.r, acc, dout.r, ar);
        G->be->maxpool3d_backward(G, &p, din.g, acc, dout.g, ag);
        compare(acc ? "backward (acc 1)" : "backward (acc 0)", din, 1e-6, 1e-6, 0);
    }
    R->be->free(R, ar);
    G->be->free(G, ag);
    pair_free(in), pair_free(out), pair_free(dout), pair_free(din);
    free(h);
}

static void test_pool(void **state) {
    (void)state;
    pool_case("stem pool", (qr_nn_pool){2, 3, 7, 9, 10, 0, 0, 0, 3, 2, 1, 1}, 5);
    pool_case("rimnet 'same' pool", (qr_nn_pool){2, 4, 5, 6, 7, 0, 0, 0, 2, 1, 0, 1}, -1);
    pool_case("rimnet stride-2 pool", (qr_nn_pool){3, 2, 6, 8, 8, 0, 0, 0, 2, 2, 0, 0}, 17);
    qr_nn_shape5 s = {3, 7, 2, 3, 5};
    const int64_t P = 30, ni = 3 * 7 * P;
    pair in = pair_random(ni, 1.0f), out = pair_zero(21), dout = pair_random(21, 1.0f), din = pair_random(ni, 1.0f);
    printf("global average pool 3x7x(2x3x5)\n");
    R->be->avgpool_forward(R, &s, out.r, in.r), G->be->avgpool_forward(G, &s, out.g, in.g);
    compare("forward", out, TOL_EW, EPS_EW, 1);
    for (int acc = 0; acc < 2; acc++) {
        R->be->avgpool_backward(R, &s, din.r, acc, dout.r), G->be->avgpool_backward(G, &s, din.g, acc, dout.g);
        compare("backward", din, 0, 0, 0);
    }
    pair_free(in), pair_free(out), pair_free(dout), pair_free(din);
}

/* ------------------------------------------------------------------------------------------ */
/* tensor plumbing                                                                            */
/* ------------------------------------------------------------------------------------------ */

static void test_tensor(void **state) {
    (void)state;
    printf("concatenations, flatten, input affine\n");
    const int64_t n = 5;
    const int ca = 7, cb = 11;
    pair a = pair_random(n * ca, 1.0f), b = pair_random(n * cb, 1.0f), o = pair_zero(n * (ca + cb));
    R->be->concat2_forward(R, n, ca, cb, o.r, a.r, b.r), G->be->concat2_forward(G, n, ca, cb, o.g, a.g, b.g);
    compare("concat2 forward", o, 0, 0, 0);
    for (int acc = 0; acc < 2; acc++) {
        R->be->concat2_backward(R, n, ca, cb, a.r, acc, b.r, !acc, o.r);
        G->be->concat2_backward(G, n, ca, cb, a.g, acc, b.g, !acc, o.g);
        compare("concat2 backward a", a, 0, 0, 0);
        compare("concat2 backward b", b, 0, 0, 0);
    }
    qr_nn_shape5 s = {3, 0, 2, 3, 4};
    const int64_t P = 24;
    pair a5 = pair_random(3 * 2 * P, 1.0f), b5 = pair_random(3 * 5 * P, 1.0f), o5 = pair_zero(3 * 7 * P);
    R->be->concat5_forward(R, &s, 2, 5, o5.r, a5.r, b5.r), G->be->concat5_forward(G, &s, 2, 5, o5.g, a5.g, b5.g);
    compare("concat5 forward", o5, 0, 0, 0);
    for (int acc = 0; acc < 2; acc++) {
        R->be->concat5_backward(R, &s, 2, 5, a5.r, !acc, b5.r, acc, o5.r);
        G->be->concat5_backward(G, &s, 2, 5, a5.g, !acc, b5.g, acc, o5.g);
        compare("concat5 backward a", a5, 0, 0, 0);
        compare("concat5 backward b", b5, 0, 0, 0);
    }
    s.c = 7;
    pair f = pair_zero(3 * 7 * P);
    R->be->flatten5_forward(R, &s, f.r, o5.r), G->be->flatten5_forward(G, &s, f.g, o5.g);
    compare("flatten5 forward", f, 0, 0, 0);
    for (int acc = 0; acc < 2; acc++) {
        R->be->flatten5_backward(R, &s, o5.r, acc, f.r), G->be->flatten5_backward(G, &s, o5.g, acc, f.g);
        compare("flatten5 backward", o5, 0, 0, 0);
    }
    for (int C = 3; C <= 11; C += 8) { /* 11 channels: more than one group of 8 */
        qr_nn_shape5 sa = {2, C, 3, 4, 5};
        pair x = pair_random(2 * C * 60, 2.0f);
        float *shift = host_random(C, 1.0f), *scale = host_random(C, 1.0f);
        R->be->channel_affine5(R, &sa, x.r, shift, scale), G->be->channel_affine5(G, &sa, x.g, shift, scale);
        compare(C == 3 ? "channel affine (3 channels)" : "channel affine (11 channels)", x, 0, 0, 0);
        pair_free(x);
        free(shift);
        free(scale);
    }
    pair_free(a), pair_free(b), pair_free(o), pair_free(a5), pair_free(b5), pair_free(o5), pair_free(f);
}

/* ------------------------------------------------------------------------------------------ */
/* linear                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void linear_case(int64_t n, int fin, int fout, int bias) {
    printf("linear %lld x %d -> %d%s\n", (long long)n, fin, fout, bias ? " + bias" : "");
    pair in = pair_random(n * fin, 1.0f), w = pair_random((int64_t)fout * fin, 0.3f), b = pair_random(fout, 1.0f);
    pair out = pair_random(n * fout, 1.0f);
    R->be->linear_forward(R, n, fin, fout, out.r, in.r, w.r, bias ? b.r : NULL);
    G->be->linear_forward(G, n, fin, fout, out.g, in.g, w.g, bias ? b.g : NULL);
    compare("forward", out, g_conv_tol, g_conv_eps, 1);
    pair dout = pair_random(n * fout, 1.0f), din = pair_random(n * fin, 3.0f), dw = pair_random((int64_t)fout * fin, 3.0f);
    pair db = pair_random(fout, 3.0f);
    for (int acc = 0; acc < 2; acc++) {
        R->be->linear_backward(R, n, fin, fout, din.r, acc, dw.r, bias ? db.r : NULL, dout.r, in.r, w.r);
        G->be->linear_backward(G, n, fin, fout, din.g, acc, dw.g, bias ? db.g : NULL, dout.g, in.g, w.g);
        compare(acc ? "backward din (acc 1)" : "backward din (acc 0)", din, g_conv_tol, g_conv_eps, 1);
        compare("backward dw", dw, g_conv_tol, g_conv_eps, 1);
        if (bias) compare("backward db", db, TOL_EW, EPS_EW, 1);
    }
    R->be->linear_backward(R, n, fin, fout, NULL, 0, dw.r, NULL, dout.r, in.r, w.r);
    G->be->linear_backward(G, n, fin, fout, NULL, 0, dw.g, NULL, dout.g, in.g, w.g);
    compare("backward dw (din NULL)", dw, g_conv_tol, g_conv_eps, 1);
    pair_free(in), pair_free(w), pair_free(b), pair_free(out), pair_free(dout), pair_free(din), pair_free(dw);
    pair_free(db);
}

static void test_linear(void **state) {
    (void)state;
    linear_case(5, 37, 13, 1);
    linear_case(9, 64, 1, 1);
    linear_case(4, 300, 200, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* DeepSMOTE, losses, optimiser                                                               */
/* ------------------------------------------------------------------------------------------ */

static void test_smote(void **state) {
    (void)state;
    const int64_t n = 6, m = 7;
    const int k = 10;
    /* repeated rows, and a pair with i = j */
    const int32_t pairs[14] = {0, 1, 0, 2, 0, 0, 3, 4, 3, 5, 4, 3, 5, 0};
    float a[7];
    for (int t = 0; t < 7; t++) a[t] = (float)qr_rng_uniform(&g_rng);
    printf("DeepSMOTE interpolation, %lld rows + %lld synthetic, %d features\n", (long long)n, (long long)m, k);
    int32_t *pr = R->be->alloc(R, sizeof pairs), *pg = G->be->alloc(G, sizeof pairs);
    R->be->upload(R, pr, pairs, sizeof pairs), G->be->upload(G, pg, pairs, sizeof pairs);
    pair w = pair_from(a, m), in = pair_random(n * k, 1.0f), out = pair_zero((n + m) * k);
    R->be->smote_forward(R, n, m, k, out.r, in.r, pr, w.r), G->be->smote_forward(G, n, m, k, out.g, in.g, pg, w.g);
    compare("forward", out, TOL_EW, EPS_EW, 0);
    pair dout = pair_random((n + m) * k, 1.0f), din = pair_random(n * k, 1.0f);
    for (int acc = 0; acc < 2; acc++) {
        R->be->smote_backward(R, n, m, k, din.r, acc, dout.r, pr, w.r);
        G->be->smote_backward(G, n, m, k, din.g, acc, dout.g, pg, w.g);
        compare(acc ? "backward (acc 1)" : "backward (acc 0)", din, TOL_EW, EPS_EW, 0);
    }
    R->be->free(R, pr), G->be->free(G, pg);
    pair_free(w), pair_free(in), pair_free(out), pair_free(dout), pair_free(din);
}

static void test_losses(void **state) {
    (void)state;
    const int64_t n = 1037;
    float *z = host_random(2 * n, 3.0f), *y = malloc(sizeof(float) * n);
    z[0] = 40.0f, z[1] = -40.0f;
    for (int64_t i = 0; i < n; i++) y[i] = qr_rng_uniform(&g_rng) < 0.3 ? 1.0f : 0.0f;
    pair logits = pair_from(z, 2 * n), labels = pair_from(y, n), loss = pair_zero(1), d = pair_zero(2 * n);
    printf("losses over %lld samples\n", (long long)n);
    R->be->bce_forward(R, n, loss.r, logits.r, labels.r), G->be->bce_forward(G, n, loss.g, logits.g, labels.g);
    compare("BCE with logits", loss, 1e-6, 1e-6, 0);
    pair d1 = {d.r, d.g, n};
    R->be->bce_backward(R, n, d.r, logits.r, labels.r), G->be->bce_backward(G, n, d.g, logits.g, labels.g);
    compare("BCE gradient", d1, 1e-9, 1e-6, 0);
    R->be->softmax_ce_forward(R, n, loss.r, logits.r, labels.r, 0.3f, 2.0f);
    G->be->softmax_ce_forward(G, n, loss.g, logits.g, labels.g, 0.3f, 2.0f);
    compare("weighted softmax CE", loss, 1e-6, 1e-6, 0);
    R->be->softmax_ce_backward(R, n, d.r, logits.r, labels.r, 0.3f, 2.0f);
    G->be->softmax_ce_backward(G, n, d.g, logits.g, labels.g, 0.3f, 2.0f);
    compare("weighted softmax CE gradient", d, 1e-9, 1e-6, 0);
    pair_free(logits), pair_free(labels), pair_free(loss), pair_free(d);
    free(z);
    free(y);
}

static void test_adam(void **state) {
    (void)state;
    const int64_t n = 100003;
    printf("Adam, axpy, sum of squares over %lld values\n", (long long)n);
    pair p = pair_random(n, 0.1f), m = pair_zero(n), v = pair_zero(n);
    for (int step = 1; step <= 4; step++) {
        pair gr = pair_random(n, step == 2 ? 1e-4f : 1.0f);
        qr_nn_adam hp = {step < 3 ? 1e-3 : 1e-4, 0.9, 0.999, 1e-8, step == 4 ? 1e-2 : 0.0, step};
        R->be->adam_update(R, n, p.r, gr.r, m.r, v.r, &hp);
        G->be->adam_update(G, n, p.g, gr.g, m.g, v.g, &hp);
        pair_free(gr);
    }
    compare("parameters after 4 steps", p, 1e-7, 1e-6, 0);
    /* m = b1 m + (1 - b1) g cancels where g opposes m: the result can be far smaller than its
     * terms, whose rounding (separate on the GPU, --fmad=false; often one FMA in the C reference)
     * then differs by ulps of the terms, not of the result - so the tolerance is relative to the
     * moments' scale (about 0.3 here; a wrong formula is off by 1e-2 of it) */
    compare("first moments", m, 1e-6, 1e-6, 1);
    compare("second moments", v, 1e-12, 1e-6, 0);
    pair x = pair_random(n, 1.0f);
    R->be->axpy(R, n, -0.37f, x.r, p.r), G->be->axpy(G, n, -0.37f, x.g, p.g);
    compare("axpy", p, 1e-7, 1e-6, 0);
    pair s = pair_zero(1);
    R->be->sumsq(R, n, x.r, s.r), G->be->sumsq(G, n, x.g, s.g);
    compare("sum of squares", s, 0, 1e-6, 0);
    float *bits = gpu_bits(s);
    G->be->sumsq(G, n, x.g, s.g);
    same_bits("sum of squares, second run", bits, s);
    free(bits);
    pair_free(p), pair_free(m), pair_free(v), pair_free(x), pair_free(s);
}

int main(void) {
    if (cuda_test_context(&G) != QR_OK) {
        printf("no usable GPU: %s (skipped)\n", qr_last_error());
        return 77;
    }
    qr_nn_context_options o = qr_nn_context_options_default();
    o.device.kind = QR_NN_DEVICE_REF;
    o.precision = qr_nn_context_precision(G); /* the reference computes in the GPU's precision */
    if (qr_nn_context_create(&o, &R) != QR_OK) {
        printf("cannot create the reference context: %s\n", qr_last_error());
        return 1;
    }
#ifndef QR_CUDA_EMULATED
    if (o.precision == QR_NN_PRECISION_TF32) {
        g_conv_tol = 1e-2;
        g_conv_eps = 5e-3;
    }
#endif
    printf("GPU: %s\nreference: %s\nconvolution/linear tolerance %.0e + %.0e |ref| (scale-relative)\n",
           qr_nn_context_describe(G), qr_nn_context_describe(R), g_conv_tol, g_conv_eps);
    qr_rng_seed(&g_rng, 20261121, 7);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory),  cmocka_unit_test(test_conv3d), cmocka_unit_test(test_batchnorm),
        cmocka_unit_test(test_elementwise), cmocka_unit_test(test_pool),   cmocka_unit_test(test_tensor),
        cmocka_unit_test(test_linear),  cmocka_unit_test(test_smote),  cmocka_unit_test(test_losses),
        cmocka_unit_test(test_adam),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qr_nn_context_free(G);
    qr_nn_context_free(R);
    return rc;
}
