/*
 * test_nn_layers.c - every layer of the engine, one at a time:
 *   1. the optimised CPU backend against the reference backend (the specification) on awkward
 *      shapes: batch not a multiple of the register tile, channel counts not multiples of 16 or
 *      64, strides 1 and 2, kernels 1/3/7, maps smaller than the kernel, fused epilogues,
 *      accumulating backward passes; element-wise scale-relative tolerance 2e-5 (float vs
 *      double accumulation);
 *   2. finite-difference gradient checks of every layer's backward pass on the reference
 *      backend: L = sum r * out for random r, central differences on random coordinates.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nn/nn_internal.h"
#include "nn_test_util.h"

static qr_nn_context *R, *C; /* reference, optimised CPU */
static qr_rng rng;

#define TOL_FAST 2e-5

/* ---------------------------------------------------------------------------------------- */
/* helpers                                                                                  */
/* ---------------------------------------------------------------------------------------- */

static float *hrand(int64_t n, float scale) {
    float *x = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    tu_fill_normal(&rng, x, n, scale);
    return x;
}

/* A tensor living in both backends. kind: 0 plain (2D or vector), 5 = 5D activation, 'c' conv
 * weight, 'l' linear weight. */
typedef struct dual {
    int64_t n;
    int kind;
    qr_nn_shape5 s;
    int64_t dims[5];
    float *r, *c; /* backend memory */
} dual;

static dual mk(int64_t n, int kind, const qr_nn_shape5 *s, const int64_t *dims, const float *host) {
    dual d = {n, kind, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}, NULL, NULL};
    if (s) d.s = *s;
    if (dims) memcpy(d.dims, dims, sizeof d.dims);
    d.r = R->be->alloc(R, sizeof(float) * (size_t)(n > 0 ? n : 1));
    d.c = C->be->alloc(C, sizeof(float) * (size_t)(n > 0 ? n : 1));
    if (host) {
        if (kind == 5) {
            R->be->upload5(R, &d.s, d.r, host);
            C->be->upload5(C, &d.s, d.c, host);
        } else if (kind == 'c' || kind == 'l') {
            qr_nn_tensor_layout l = kind == 'c' ? QR_NN_LAYOUT_CONV : QR_NN_LAYOUT_LINEAR;
            R->be->weight_upload(R, l, d.dims, d.r, host);
            C->be->weight_upload(C, l, d.dims, d.c, host);
        } else {
            memcpy(d.r, host, sizeof(float) * (size_t)n);
            memcpy(d.c, host, sizeof(float) * (size_t)n);
        }
    }
    return d;
}

static void host_of(const dual *d, int which, float *out) {
    qr_nn_context *x = which ? C : R;
    const float *p = which ? d->c : d->r;
    if (d->kind == 5) x->be->download5(x, &d->s, out, p);
    else if (d->kind == 'c' || d->kind == 'l')
        x->be->weight_download(x, d->kind == 'c' ? QR_NN_LAYOUT_CONV : QR_NN_LAYOUT_LINEAR, d->dims, out, p);
    else memcpy(out, p, sizeof(float) * (size_t)d->n);
}

/* compare the two backends' copies of d; returns the scale-relative error */
static double cmp(const char *what, const dual *d, double tol) {
    float *a = malloc(sizeof(float) * (size_t)d->n), *b = malloc(sizeof(float) * (size_t)d->n);
    host_of(d, 0, a);
    host_of(d, 1, b);
    double e = tu_rel_err(b, a, d->n, 1e-12);
    if (!(e <= tol)) {
        int64_t w = 0;
        double wd = -1;
        for (int64_t i = 0; i < d->n; i++)
            if (fabs((double)a[i] - b[i]) > wd) {
                wd = fabs((double)a[i] - b[i]);
                w = i;
            }
        fprintf(stderr, "FAIL %s: cpu vs ref scale-relative error %.3g > %.1g (at %lld: ref %.8g cpu %.8g)\n", what, e,
                tol, (long long)w, a[w], b[w]);
    }
    free(a);
    free(b);
    return e;
}

static void dfree(dual *d) {
    R->be->free(R, d->r);
    C->be->free(C, d->c);
}

static qr_nn_shape5 sh5(int n, int c, int d, int h, int w) {
    qr_nn_shape5 s = {n, c, d, h, w};
    return s;
}
static int64_t numel5(qr_nn_shape5 s) { return (int64_t)s.n * s.c * s.d * s.h * s.w; }

/* ---------------------------------------------------------------------------------------- */
/* 1. optimised CPU against the reference                                                   */
/* ---------------------------------------------------------------------------------------- */

static void conv_one(const tu_conv_case *cc) {
    const qr_nn_conv g = tu_conv(cc);
    qr_nn_shape5 si = sh5(cc->n, cc->cin, cc->d, cc->h, cc->w), so = sh5(cc->n, cc->cout, g.od, g.oh, g.ow);
    int64_t wd[5] = {cc->cout, cc->cin, cc->k, cc->k, cc->k};
    int64_t nw = (int64_t)cc->cout * cc->cin * cc->k * cc->k * cc->k;
    float *hi = hrand(numel5(si), 1), *hw = hrand(nw, 0.3f), *hres = hrand(numel5(so), 1), *hdo = hrand(numel5(so), 1);
    float *hsc = hrand(cc->cout, 1), *hsh = hrand(cc->cout, 1), *hdin0 = hrand(numel5(si), 1);
    dual in = mk(numel5(si), 5, &si, NULL, hi), w = mk(nw, 'c', NULL, wd, hw), out = mk(numel5(so), 5, &so, NULL, NULL);
    dual res = mk(numel5(so), 5, &so, NULL, hres), dout = mk(numel5(so), 5, &so, NULL, hdo);
    dual sc = mk(cc->cout, 0, NULL, NULL, hsc), shf = mk(cc->cout, 0, NULL, NULL, hsh);
    dual din = mk(numel5(si), 5, &si, NULL, hdin0), dw = mk(nw, 'c', NULL, wd, NULL), db = mk(cc->cout, 0, NULL, NULL, NULL);
    qr_nn_epilogue er = {NULL, NULL, NULL, 0}, ec = er;
    if (cc->epi == 1) {
        er.shift = shf.r;
        ec.shift = shf.c;
    } else if (cc->epi == 2) {
        er = (qr_nn_epilogue){sc.r, shf.r, res.r, 1};
        ec = (qr_nn_epilogue){sc.c, shf.c, res.c, 1};
    }
    R->be->conv3d_forward(R, &g, out.r, in.r, w.r, cc->epi ? &er : NULL);
    C->be->conv3d_forward(C, &g, out.c, in.c, w.c, cc->epi ? &ec : NULL);
    char name[128];
    snprintf(name, sizeof name, "conv %d>%d %dx%dx%d k%d s%d p%d n%d epi%d", cc->cin, cc->cout, cc->d, cc->h, cc->w, cc->k,
             cc->s, cc->p, cc->n, cc->epi);
    char what[192];
    snprintf(what, sizeof what, "%s forward", name);
    assert_true(cmp(what, &out, TOL_FAST) <= TOL_FAST);
    /* backward, accumulating into din (acc = 1) */
    R->be->conv3d_backward(R, &g, din.r, 1, dw.r, db.r, dout.r, in.r, w.r);
    C->be->conv3d_backward(C, &g, din.c, 1, dw.c, db.c, dout.c, in.c, w.c);
    snprintf(what, sizeof what, "%s dinput (acc)", name);
    assert_true(cmp(what, &din, TOL_FAST) <= TOL_FAST);
    snprintf(what, sizeof what, "%s dweight", name);
    assert_true(cmp(what, &dw, TOL_FAST) <= TOL_FAST);
    snprintf(what, sizeof what, "%s dbias", name);
    assert_true(cmp(what, &db, TOL_FAST) <= TOL_FAST);
    /* overwrite (acc = 0) */
    R->be->conv3d_backward(R, &g, din.r, 0, dw.r, NULL, dout.r, in.r, w.r);
    C->be->conv3d_backward(C, &g, din.c, 0, dw.c, NULL, dout.c, in.c, w.c);
    snprintf(what, sizeof what, "%s dinput", name);
    assert_true(cmp(what, &din, TOL_FAST) <= TOL_FAST);
    /* without an input gradient (a first layer: the CPU backend may unfold the input) */
    R->be->conv3d_backward(R, &g, NULL, 0, dw.r, NULL, dout.r, in.r, w.r);
    C->be->conv3d_backward(C, &g, NULL, 0, dw.c, NULL, dout.c, in.c, w.c);
    snprintf(what, sizeof what, "%s dweight (no dinput)", name);
    assert_true(cmp(what, &dw, TOL_FAST) <= TOL_FAST);
    dual *all[] = {&in, &w, &out, &res, &dout, &sc, &shf, &din, &dw, &db};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) dfree(all[i]);
    free(hi);
    free(hw);
    free(hres);
    free(hdo);
    free(hsc);
    free(hsh);
    free(hdin0);
}

static void test_conv_cpu_vs_ref(void **st) {
    (void)st;
    const tu_conv_case cases[] = {
        {7, 2, 20, 9, 12, 10, 7, 2, 3, 0},   /* stem-like: 7^3 stride 2, tiny Cin */
        {13, 17, 70, 3, 4, 5, 3, 1, 1, 1},   /* odd channels, two column panels, bias */
        {6, 16, 32, 4, 6, 6, 3, 2, 1, 2},    /* stride 2 with fused BN/residual/ReLU epilogue */
        {5, 24, 66, 4, 5, 6, 1, 2, 0, 0},    /* 1^3 stride 2 (downsample): inputs without gradient */
        {9, 80, 130, 1, 2, 2, 3, 1, 1, 2},   /* deep layer map 1x2x2: most taps on padding */
        {4, 33, 17, 1, 1, 1, 3, 1, 1, 0},    /* 1x1x1 map: only the centre tap */
        {3, 40, 1, 3, 3, 3, 1, 1, 0, 1},     /* RimNet reduce: one output channel with bias */
        {64, 64, 64, 2, 4, 4, 3, 1, 1, 0},   /* the real batch and width */
        {5, 1, 9, 6, 7, 5, 3, 1, 1, 1},      /* RimNet's first convolution: one channel */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) conv_one(&cases[i]);
}

static void bn_one(int is5d, int n, int c, int d, int h, int w, int training) {
    qr_nn_shape5 s = sh5(n, c, d, h, w);
    int64_t cnt = is5d ? numel5(s) : (int64_t)n * c, sp = is5d ? (int64_t)d * h * w : 1;
    float *hx = hrand(cnt, 2), *hdo = hrand(cnt, 1), *hg = hrand(c, 1), *hb = hrand(c, 1), *hm = hrand(c, 0.5f);
    float *hv = hrand(c, 0.3f), *hd0 = hrand(cnt, 1);
    for (int i = 0; i < c; i++) hv[i] = 0.5f + hv[i] * hv[i];
    for (int64_t i = 0; i < cnt; i++) hx[i] += 0.5f;
    int kind = is5d ? 5 : 0;
    dual x = mk(cnt, kind, &s, NULL, hx), y = mk(cnt, kind, &s, NULL, NULL), dy = mk(cnt, kind, &s, NULL, hdo);
    dual dx = mk(cnt, kind, &s, NULL, hd0), ga = mk(c, 0, NULL, NULL, hg), be = mk(c, 0, NULL, NULL, hb);
    dual rm = mk(c, 0, NULL, NULL, hm), rv = mk(c, 0, NULL, NULL, hv), sm = mk(c, 0, NULL, NULL, NULL);
    dual sr = mk(c, 0, NULL, NULL, NULL), dg = mk(c, 0, NULL, NULL, NULL), db = mk(c, 0, NULL, NULL, NULL);
    qr_nn_bn g = {n, c, sp, is5d, 1e-5f, 0.1f};
    R->be->batchnorm_forward(R, &g, y.r, sm.r, sr.r, x.r, ga.r, be.r, rm.r, rv.r, training);
    C->be->batchnorm_forward(C, &g, y.c, sm.c, sr.c, x.c, ga.c, be.c, rm.c, rv.c, training);
    char what[128];
    snprintf(what, sizeof what, "batchnorm %s %s forward", is5d ? "5D" : "2D", training ? "train" : "eval");
    assert_true(cmp(what, &y, TOL_FAST) <= TOL_FAST);
    if (training) {
        assert_true(cmp("batchnorm running mean", &rm, TOL_FAST) <= TOL_FAST);
        assert_true(cmp("batchnorm running var", &rv, TOL_FAST) <= TOL_FAST);
        R->be->batchnorm_backward(R, &g, dx.r, 1, dg.r, db.r, dy.r, x.r, sm.r, sr.r, ga.r);
        C->be->batchnorm_backward(C, &g, dx.c, 1, dg.c, db.c, dy.c, x.c, sm.c, sr.c, ga.c);
        assert_true(cmp("batchnorm dinput (acc)", &dx, TOL_FAST) <= TOL_FAST);
        assert_true(cmp("batchnorm dgamma", &dg, TOL_FAST) <= TOL_FAST);
        assert_true(cmp("batchnorm dbeta", &db, TOL_FAST) <= TOL_FAST);
        /* in place (din == dout), as the graph uses it */
        R->be->batchnorm_backward(R, &g, dy.r, 0, dg.r, db.r, dy.r, x.r, sm.r, sr.r, ga.r);
        C->be->batchnorm_backward(C, &g, dy.c, 0, dg.c, db.c, dy.c, x.c, sm.c, sr.c, ga.c);
        assert_true(cmp("batchnorm dinput in place", &dy, TOL_FAST) <= TOL_FAST);
    }
    dual *all[] = {&x, &y, &dy, &dx, &ga, &be, &rm, &rv, &sm, &sr, &dg, &db};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) dfree(all[i]);
    free(hx);
    free(hdo);
    free(hg);
    free(hb);
    free(hm);
    free(hv);
    free(hd0);
}

static void test_batchnorm_cpu_vs_ref(void **st) {
    (void)st;
    bn_one(1, 7, 20, 3, 5, 4, 1);
    bn_one(1, 7, 20, 3, 5, 4, 0);
    bn_one(1, 5, 70, 1, 2, 2, 1);
    bn_one(0, 11, 130, 1, 1, 1, 1);
    bn_one(0, 11, 130, 1, 1, 1, 0);
    bn_one(0, 300, 17, 1, 1, 1, 1);
}

static void pool_one(int n, int c, int d, int h, int w, int k, int s, int lo, int hi) {
    qr_nn_pool g = {n, c, d, h, w, 0, 0, 0, k, s, lo, hi};
    g.od = qr_nn_conv_out(d, k, s, lo, hi);
    g.oh = qr_nn_conv_out(h, k, s, lo, hi);
    g.ow = qr_nn_conv_out(w, k, s, lo, hi);
    qr_nn_shape5 si = sh5(n, c, d, h, w), so = sh5(n, c, g.od, g.oh, g.ow);
    float *hx = hrand(numel5(si), 1), *hdo = hrand(numel5(so), 1), *hd0 = hrand(numel5(si), 1);
    dual x = mk(numel5(si), 5, &si, NULL, hx), y = mk(numel5(so), 5, &so, NULL, NULL), dy = mk(numel5(so), 5, &so, NULL, hdo);
    dual dx = mk(numel5(si), 5, &si, NULL, hd0);
    int32_t *ar = R->be->alloc(R, 4 * (size_t)numel5(so)), *ac = C->be->alloc(C, 4 * (size_t)numel5(so));
    R->be->maxpool3d_forward(R, &g, y.r, ar, x.r);
    C->be->maxpool3d_forward(C, &g, y.c, ac, x.c);
    assert_true(cmp("maxpool forward", &y, 0) == 0);
    R->be->maxpool3d_backward(R, &g, dx.r, 1, dy.r, ar);
    C->be->maxpool3d_backward(C, &g, dx.c, 1, dy.c, ac);
    assert_true(cmp("maxpool backward (acc)", &dx, 0) == 0);
    R->be->maxpool3d_backward(R, &g, dx.r, 0, dy.r, ar);
    C->be->maxpool3d_backward(C, &g, dx.c, 0, dy.c, ac);
    assert_true(cmp("maxpool backward", &dx, 0) == 0);
    R->be->free(R, ar);
    C->be->free(C, ac);
    dfree(&x);
    dfree(&y);
    dfree(&dy);
    dfree(&dx);
    free(hx);
    free(hdo);
    free(hd0);
}

static void test_pool_cpu_vs_ref(void **st) {
    (void)st;
    pool_one(5, 7, 8, 10, 9, 3, 2, 1, 1); /* the ResNet stem pool */
    pool_one(3, 5, 6, 6, 6, 2, 1, 0, 1);  /* RimNet released: 'same' */
    pool_one(3, 5, 7, 6, 5, 2, 2, 0, 0);  /* RimNet paper: 'valid' on odd sizes */
    /* global average pool */
    qr_nn_shape5 s = sh5(9, 70, 2, 3, 2);
    float *hx = hrand(numel5(s), 1), *hdo = hrand(9 * 70, 1), *hd0 = hrand(numel5(s), 1);
    dual x = mk(numel5(s), 5, &s, NULL, hx), y = mk(9 * 70, 0, NULL, NULL, NULL), dy = mk(9 * 70, 0, NULL, NULL, hdo);
    dual dx = mk(numel5(s), 5, &s, NULL, hd0);
    R->be->avgpool_forward(R, &s, y.r, x.r);
    C->be->avgpool_forward(C, &s, y.c, x.c);
    assert_true(cmp("avgpool forward", &y, 1e-6) <= 1e-6);
    R->be->avgpool_backward(R, &s, dx.r, 1, dy.r);
    C->be->avgpool_backward(C, &s, dx.c, 1, dy.c);
    assert_true(cmp("avgpool backward", &dx, 1e-6) <= 1e-6);
    dfree(&x);
    dfree(&y);
    dfree(&dy);
    dfree(&dx);
    free(hx);
    free(hdo);
    free(hd0);
}

static void test_linear_cpu_vs_ref(void **st) {
    (void)st;
    const int cases[][3] = {{11, 70, 130}, {64, 536, 1024}, {3, 5, 1}, {200, 130, 2}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        int n = cases[k][0], fi = cases[k][1], fo = cases[k][2];
        int64_t wd[5] = {fo, fi, 0, 0, 0};
        float *hx = hrand((int64_t)n * fi, 1), *hw = hrand((int64_t)fo * fi, 0.2f), *hb = hrand(fo, 1);
        float *hdo = hrand((int64_t)n * fo, 1), *hd0 = hrand((int64_t)n * fi, 1);
        dual x = mk((int64_t)n * fi, 0, NULL, NULL, hx), w = mk((int64_t)fo * fi, 'l', NULL, wd, hw);
        dual b = mk(fo, 0, NULL, NULL, hb), y = mk((int64_t)n * fo, 0, NULL, NULL, NULL);
        dual dy = mk((int64_t)n * fo, 0, NULL, NULL, hdo), dx = mk((int64_t)n * fi, 0, NULL, NULL, hd0);
        dual dw = mk((int64_t)fo * fi, 'l', NULL, wd, NULL), db = mk(fo, 0, NULL, NULL, NULL);
        R->be->linear_forward(R, n, fi, fo, y.r, x.r, w.r, b.r);
        C->be->linear_forward(C, n, fi, fo, y.c, x.c, w.c, b.c);
        assert_true(cmp("linear forward", &y, TOL_FAST) <= TOL_FAST);
        R->be->linear_backward(R, n, fi, fo, dx.r, 1, dw.r, db.r, dy.r, x.r, w.r);
        C->be->linear_backward(C, n, fi, fo, dx.c, 1, dw.c, db.c, dy.c, x.c, w.c);
        assert_true(cmp("linear dinput (acc)", &dx, TOL_FAST) <= TOL_FAST);
        assert_true(cmp("linear dweight", &dw, TOL_FAST) <= TOL_FAST);
        assert_true(cmp("linear dbias", &db, TOL_FAST) <= TOL_FAST);
        dual *all[] = {&x, &w, &b, &y, &dy, &dx, &dw, &db};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) dfree(all[i]);
        free(hx);
        free(hw);
        free(hb);
        free(hdo);
        free(hd0);
    }
}

static void test_elementwise_cpu_vs_ref(void **st) {
    (void)st;
    const int64_t n = 100003;
    float *ha = hrand(n, 3), *hb = hrand(n, 1), *hd0 = hrand(n, 1), *hm = hrand(n, 1);
    for (int64_t i = 0; i < n; i++) hm[i] = hm[i] > 0 ? 2.0f : 0.0f;
    dual a = mk(n, 0, NULL, NULL, ha), b = mk(n, 0, NULL, NULL, hb), y = mk(n, 0, NULL, NULL, NULL);
    dual d = mk(n, 0, NULL, NULL, hd0), m = mk(n, 0, NULL, NULL, hm);
#define BOTH(call) (R->be->call, C->be->call)
    R->be->relu_forward(R, n, y.r, a.r);
    C->be->relu_forward(C, n, y.c, a.c);
    assert_true(cmp("relu", &y, 0) == 0);
    R->be->relu_backward(R, n, d.r, 1, b.r, y.r);
    C->be->relu_backward(C, n, d.c, 1, b.c, y.c);
    assert_true(cmp("relu backward", &d, 0) == 0);
    R->be->swish_forward(R, n, y.r, a.r);
    C->be->swish_forward(C, n, y.c, a.c);
    assert_true(cmp("swish", &y, 1e-6) <= 1e-6);
    R->be->swish_backward(R, n, d.r, 1, b.r, a.r);
    C->be->swish_backward(C, n, d.c, 1, b.c, a.c);
    assert_true(cmp("swish backward", &d, 1e-6) <= 1e-6);
    R->be->tanh_forward(R, n, y.r, a.r);
    C->be->tanh_forward(C, n, y.c, a.c);
    assert_true(cmp("tanh", &y, 1e-6) <= 1e-6);
    R->be->tanh_backward(R, n, d.r, 0, b.r, y.r);
    C->be->tanh_backward(C, n, d.c, 0, b.c, y.c);
    assert_true(cmp("tanh backward", &d, 1e-6) <= 1e-6);
    R->be->add_forward(R, n, y.r, a.r, b.r);
    C->be->add_forward(C, n, y.c, a.c, b.c);
    assert_true(cmp("add", &y, 0) == 0);
    R->be->mul_forward(R, n, y.r, a.r, m.r);
    C->be->mul_forward(C, n, y.c, a.c, m.c);
    assert_true(cmp("dropout", &y, 0) == 0);
    R->be->mul_backward(R, n, d.r, 1, b.r, m.r);
    C->be->mul_backward(C, n, d.c, 1, b.c, m.c);
    assert_true(cmp("dropout backward", &d, 0) == 0);
    R->be->grad_pass(R, n, d.r, 1, b.r);
    C->be->grad_pass(C, n, d.c, 1, b.c);
    assert_true(cmp("gradient pass", &d, 0) == 0);
    /* Adam, three steps, with weight decay */
    float *hp = hrand(n, 1), *hg = hrand(n, 0.01f);
    dual p = mk(n, 0, NULL, NULL, hp), g = mk(n, 0, NULL, NULL, hg), mm = mk(n, 0, NULL, NULL, NULL), vv = mk(n, 0, NULL, NULL, NULL);
    for (int k = 1; k <= 3; k++) {
        qr_nn_adam hpar = {1e-3, 0.9, 0.999, 1e-8, k == 3 ? 0.01 : 0.0, k};
        R->be->adam_update(R, n, p.r, g.r, mm.r, vv.r, &hpar);
        C->be->adam_update(C, n, p.c, g.c, mm.c, vv.c, &hpar);
    }
    assert_true(cmp("adam parameters", &p, 1e-6) <= 1e-6);
    assert_true(cmp("adam exp_avg_sq", &vv, 1e-6) <= 1e-6);
    /* blocks whose gradient and first moment are 0 but whose second moment is not (a layer that
     * stopped receiving gradient): the optimised update skips only all-zero blocks, so v still
     * decays by beta2 here, as in the reference */
    float *hz = calloc((size_t)n, sizeof *hz), *hv = calloc((size_t)n, sizeof *hv);
    for (int i = 0; i < 32; i++) hv[i] = 0.5f;
    dual g0 = mk(n, 0, NULL, NULL, hz), m0 = mk(n, 0, NULL, NULL, hz), v0 = mk(n, 0, NULL, NULL, hv), p0 = mk(n, 0, NULL, NULL, hp);
    const qr_nn_adam h4 = {1e-3, 0.9, 0.999, 1e-8, 0.0, 4};
    R->be->adam_update(R, n, p0.r, g0.r, m0.r, v0.r, &h4);
    C->be->adam_update(C, n, p0.c, g0.c, m0.c, v0.c, &h4);
    assert_true(cmp("adam exp_avg_sq, zero gradient and exp_avg", &v0, 1e-6) <= 1e-6);
    assert_true(cmp("adam parameters, zero gradient and exp_avg", &p0, 1e-6) <= 1e-6);
    dual *zeros[] = {&g0, &m0, &v0, &p0};
    for (size_t i = 0; i < sizeof zeros / sizeof *zeros; i++) dfree(zeros[i]);
    free(hz);
    free(hv);
    dual *all[] = {&a, &b, &y, &d, &m, &p, &g, &mm, &vv};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) dfree(all[i]);
    free(ha);
    free(hb);
    free(hd0);
    free(hm);
    free(hp);
    free(hg);
}

/* Both backends' NaN positions in d agree (and there is at least one); the other values agree
 * within tol. */
static void same_nans(const char *what, const dual *d, double tol) {
    float *a = malloc(sizeof(float) * (size_t)d->n), *b = malloc(sizeof(float) * (size_t)d->n);
    host_of(d, 0, a);
    host_of(d, 1, b);
    int64_t nans = 0;
    for (int64_t i = 0; i < d->n; i++) {
        if (isnan(a[i]) != isnan(b[i])) fail_msg("%s: at %lld ref %g, cpu %g", what, (long long)i, a[i], b[i]);
        if (isnan(a[i])) {
            nans++;
            a[i] = b[i] = 0;
        }
    }
    if (nans == 0) fail_msg("%s: no NaN came through", what);
    const double e = tu_rel_err(b, a, d->n, 1e-12);
    if (!(e <= tol)) fail_msg("%s: cpu vs ref scale-relative error %.3g", what, e);
    free(a);
    free(b);
}

/* A NaN reaching a ReLU stays NaN, as in PyTorch (the model's output checks then refuse the
 * sample): the fused BatchNorm/residual/ReLU epilogue of the optimised convolution turned it into
 * 0, so an overflowing activation gave a plausible probability where the reference and PyTorch
 * give NaN. */
static void test_nan_through_relu(void **st) {
    (void)st;
    const float hv[6] = {NAN, -1.0f, 2.0f, -0.0f, INFINITY, -INFINITY};
    dual v = mk(6, 0, NULL, NULL, hv), y = mk(6, 0, NULL, NULL, NULL);
    R->be->relu_forward(R, 6, y.r, v.r);
    C->be->relu_forward(C, 6, y.c, v.c);
    same_nans("relu", &y, 0);
    float got[6];
    host_of(&y, 1, got);
    assert_true(got[1] == 0.0f && got[2] == 2.0f && got[3] == 0.0f && isinf(got[4]) && got[5] == 0.0f);
    dfree(&v);
    dfree(&y);
    /* a convolution with the fused epilogue, one NaN among its inputs */
    const tu_conv_case cc = {6, 16, 32, 4, 6, 6, 3, 2, 1, 2};
    const qr_nn_conv g = tu_conv(&cc);
    qr_nn_shape5 si = sh5(cc.n, cc.cin, cc.d, cc.h, cc.w), so = sh5(cc.n, cc.cout, g.od, g.oh, g.ow);
    int64_t wd[5] = {cc.cout, cc.cin, cc.k, cc.k, cc.k};
    const int64_t nw = (int64_t)cc.cout * cc.cin * cc.k * cc.k * cc.k;
    float *hi = hrand(numel5(si), 1), *hw = hrand(nw, 0.3f), *hres = hrand(numel5(so), 1);
    float *hsc = hrand(cc.cout, 1), *hsh = hrand(cc.cout, 1);
    hi[numel5(si) / 2 + 7] = NAN;
    dual in = mk(numel5(si), 5, &si, NULL, hi), w = mk(nw, 'c', NULL, wd, hw), out = mk(numel5(so), 5, &so, NULL, NULL);
    dual res = mk(numel5(so), 5, &so, NULL, hres), sc = mk(cc.cout, 0, NULL, NULL, hsc), shf = mk(cc.cout, 0, NULL, NULL, hsh);
    qr_nn_epilogue er = {sc.r, shf.r, res.r, 1}, ec = {sc.c, shf.c, res.c, 1};
    R->be->conv3d_forward(R, &g, out.r, in.r, w.r, &er);
    C->be->conv3d_forward(C, &g, out.c, in.c, w.c, &ec);
    same_nans("conv with the fused ReLU epilogue", &out, TOL_FAST);
    dual *all[] = {&in, &w, &out, &res, &sc, &shf};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) dfree(all[i]);
    free(hi);
    free(hw);
    free(hres);
    free(hsc);
    free(hsh);
}

static void test_tensor_ops_cpu_vs_ref(void **st) {
    (void)st;
    qr_nn_shape5 s = sh5(5, 3, 2, 3, 4), sa = sh5(5, 2, 2, 3, 4), sb = s, sc = sh5(5, 5, 2, 3, 4);
    float *h = hrand(numel5(s), 1), *back = malloc(sizeof(float) * (size_t)numel5(s));
    /* upload5/download5 round trip (exact) */
    dual x = mk(numel5(s), 5, &s, NULL, h);
    host_of(&x, 1, back);
    assert_memory_equal(back, h, sizeof(float) * (size_t)numel5(s));
    /* flatten in PyTorch order */
    dual f = mk(numel5(s), 0, NULL, NULL, NULL);
    R->be->flatten5_forward(R, &s, f.r, x.r);
    C->be->flatten5_forward(C, &s, f.c, x.c);
    assert_true(cmp("flatten", &f, 0) == 0);
    dual dx = mk(numel5(s), 5, &s, NULL, h);
    R->be->flatten5_backward(R, &s, dx.r, 1, f.r);
    C->be->flatten5_backward(C, &s, dx.c, 1, f.c);
    assert_true(cmp("flatten backward", &dx, 0) == 0);
    /* channel concatenation */
    float *ha = hrand(numel5(sa), 1);
    dual a = mk(numel5(sa), 5, &sa, NULL, ha), cat = mk(numel5(sc), 5, &sc, NULL, NULL);
    R->be->concat5_forward(R, &s, 2, 3, cat.r, a.r, x.r);
    C->be->concat5_forward(C, &s, 2, 3, cat.c, a.c, x.c);
    assert_true(cmp("concat5", &cat, 0) == 0);
    R->be->concat5_backward(R, &s, 2, 3, a.r, 1, dx.r, 0, cat.r);
    C->be->concat5_backward(C, &s, 2, 3, a.c, 1, dx.c, 0, cat.c);
    assert_true(cmp("concat5 backward a", &a, 0) == 0);
    assert_true(cmp("concat5 backward b", &dx, 0) == 0);
    /* per-channel affine of the input */
    float shift[3] = {0.5f, -1, 2}, scale[3] = {2, 0.25f, -1};
    R->be->channel_affine5(R, &sb, x.r, shift, scale);
    C->be->channel_affine5(C, &sb, x.c, shift, scale);
    assert_true(cmp("channel affine", &x, 0) == 0);
    dfree(&x);
    dfree(&f);
    dfree(&dx);
    dfree(&a);
    dfree(&cat);
    free(h);
    free(back);
    free(ha);
}

/* ---------------------------------------------------------------------------------------- */
/* 2. finite differences (reference backend)                                                */
/* ---------------------------------------------------------------------------------------- */

/* A layer as a function of its inputs: fills out from the current inputs. */
typedef void (*fwd_fn)(void *ctx);

typedef struct fd_var {
    const char *name;
    float *x;   /* host = backend memory for the ref backend */
    int64_t n;
    float *g;   /* analytic gradient */
} fd_var;

/* L = sum r_i out_i (double); checks dL/dx for up to `samples` coordinates of each variable. */
static void fd_check(const char *layer, fwd_fn f, void *ctx, float *out, int64_t nout, const float *r, fd_var *vars,
                     int nv, double h, int samples, double tol) {
    for (int v = 0; v < nv; v++) {
        double gmax = 0;
        for (int64_t i = 0; i < vars[v].n; i++)
            if (fabs(vars[v].g[i]) > gmax) gmax = fabs(vars[v].g[i]);
        double worst = 0;
        for (int s = 0; s < samples && s < vars[v].n; s++) {
            int64_t i = vars[v].n <= samples ? s : (int64_t)qr_rng_below(&rng, (uint64_t)vars[v].n);
            float x0 = vars[v].x[i];
            double L[2];
            for (int k = 0; k < 2; k++) {
                vars[v].x[i] = (float)(x0 + (k ? -h : h));
                f(ctx);
                double sum = 0;
                for (int64_t j = 0; j < nout; j++) sum += (double)r[j] * out[j];
                L[k] = sum;
            }
            vars[v].x[i] = x0;
            double hh = ((double)(float)(x0 + h) - (double)(float)(x0 - h));
            double fd = (L[0] - L[1]) / hh, an = vars[v].g[i];
            double e = fabs(fd - an) / fmax(fabs(an), fmax(1e-2 * gmax, 1e-6));
            if (e > worst) worst = e;
            if (e > tol)
                fprintf(stderr, "FAIL finite differences %s d/d%s[%lld]: analytic %.6g numeric %.6g\n", layer, vars[v].name,
                        (long long)i, an, fd);
            assert_true(e <= tol);
        }
        f(ctx);
        printf("  %-26s d/d%-8s worst relative error %.2e over %d coordinates\n", layer, vars[v].name, worst,
               (int)(samples < vars[v].n ? samples : vars[v].n));
    }
}

typedef struct conv_fd {
    qr_nn_conv g;
    float *in, *w, *b, *out;
} conv_fd;
static void conv_fd_fwd(void *p) {
    conv_fd *c = p;
    qr_nn_epilogue e = {NULL, c->b, NULL, 0};
    R->be->conv3d_forward(R, &c->g, c->out, c->in, c->w, &e);
}

static void test_fd_conv(void **st) {
    (void)st;
    const int cfg[][9] = {{2, 3, 4, 5, 4, 6, 3, 1, 1}, {2, 2, 3, 6, 5, 5, 3, 2, 1}, {2, 2, 2, 7, 6, 6, 7, 2, 3},
                          {2, 3, 2, 4, 4, 4, 1, 2, 0}};
    for (size_t k = 0; k < sizeof cfg / sizeof *cfg; k++) {
        conv_fd c;
        const int *q = cfg[k];
        c.g = (qr_nn_conv){q[0], q[1], q[2], q[3], q[4], q[5], 0, 0, 0, q[6], q[7], q[8]};
        c.g.od = qr_nn_conv_out(q[3], q[6], q[7], q[8], q[8]);
        c.g.oh = qr_nn_conv_out(q[4], q[6], q[7], q[8], q[8]);
        c.g.ow = qr_nn_conv_out(q[5], q[6], q[7], q[8], q[8]);
        int64_t ni = (int64_t)q[0] * q[1] * q[3] * q[4] * q[5], no = (int64_t)q[0] * q[2] * c.g.od * c.g.oh * c.g.ow;
        int64_t nw = (int64_t)q[2] * q[1] * q[6] * q[6] * q[6];
        c.in = hrand(ni, 1);
        c.w = hrand(nw, 0.5f);
        c.b = hrand(q[2], 1);
        c.out = malloc(sizeof(float) * (size_t)no);
        float *r = hrand(no, 1), *gi = malloc(sizeof(float) * (size_t)ni), *gw = malloc(sizeof(float) * (size_t)nw);
        float *gb = malloc(sizeof(float) * (size_t)q[2]);
        conv_fd_fwd(&c);
        R->be->conv3d_backward(R, &c.g, gi, 0, gw, gb, r, c.in, c.w);
        fd_var v[3] = {{"input", c.in, ni, gi}, {"weight", c.w, nw, gw}, {"bias", c.b, q[2], gb}};
        char name[64];
        snprintf(name, sizeof name, "conv k%d s%d p%d", q[6], q[7], q[8]);
        fd_check(name, conv_fd_fwd, &c, c.out, no, r, v, 3, 1e-2, 30, 2e-3);
        free(c.in);
        free(c.w);
        free(c.b);
        free(c.out);
        free(r);
        free(gi);
        free(gw);
        free(gb);
    }
}

typedef struct bn_fd {
    qr_nn_bn g;
    float *x, *y, *ga, *be, *rm, *rv, *sm, *sr;
} bn_fd;
static void bn_fd_fwd(void *p) {
    bn_fd *b = p;
    R->be->batchnorm_forward(R, &b->g, b->y, b->sm, b->sr, b->x, b->ga, b->be, b->rm, b->rv, 1);
}

static void test_fd_batchnorm(void **st) {
    (void)st;
    for (int is5d = 0; is5d < 2; is5d++) {
        bn_fd b;
        b.g = (qr_nn_bn){4, 3, is5d ? 6 : 1, is5d, 1e-5f, 0.1f};
        int64_t n = b.g.n * b.g.c * b.g.spatial;
        b.x = hrand(n, 1);
        b.y = malloc(sizeof(float) * (size_t)n);
        b.ga = hrand(3, 1);
        b.be = hrand(3, 1);
        b.rm = hrand(3, 1);
        b.rv = hrand(3, 1);
        b.sm = malloc(12);
        b.sr = malloc(12);
        for (int i = 0; i < 3; i++) b.rv[i] = 1 + b.rv[i] * b.rv[i];
        float *r = hrand(n, 1), *gx = malloc(sizeof(float) * (size_t)n), *gg = malloc(12), *gb = malloc(12);
        bn_fd_fwd(&b);
        R->be->batchnorm_backward(R, &b.g, gx, 0, gg, gb, r, b.x, b.sm, b.sr, b.ga);
        fd_var v[3] = {{"input", b.x, n, gx}, {"gamma", b.ga, 3, gg}, {"beta", b.be, 3, gb}};
        fd_check(is5d ? "batchnorm 3d (train)" : "batchnorm 1d (train)", bn_fd_fwd, &b, b.y, n, r, v, 3, 1e-2, 30, 2e-3);
        free(b.x);
        free(b.y);
        free(b.ga);
        free(b.be);
        free(b.rm);
        free(b.rv);
        free(b.sm);
        free(b.sr);
        free(r);
        free(gx);
        free(gg);
        free(gb);
    }
}

typedef struct ew_fd {
    int kind;
    int64_t n;
    float *x, *y, *m;
} ew_fd;
static void ew_fwd(void *p) {
    ew_fd *e = p;
    switch (e->kind) {
    case 0: R->be->relu_forward(R, e->n, e->y, e->x); break;
    case 1: R->be->swish_forward(R, e->n, e->y, e->x); break;
    case 2: R->be->tanh_forward(R, e->n, e->y, e->x); break;
    default: R->be->mul_forward(R, e->n, e->y, e->x, e->m); break;
    }
}

static void test_fd_elementwise(void **st) {
    (void)st;
    const char *names[4] = {"relu", "swish", "tanh", "dropout"};
    for (int k = 0; k < 4; k++) {
        ew_fd e = {k, 50, hrand(50, 2), malloc(200), hrand(50, 1)};
        for (int i = 0; i < 50; i++) {
            if (fabsf(e.x[i]) < 0.05f) e.x[i] += 0.1f; /* keep away from ReLU's kink */
            e.m[i] = e.m[i] > 0 ? 1.0f / 0.7f : 0.0f;
        }
        float *r = hrand(50, 1), *g = malloc(200);
        ew_fwd(&e);
        if (k == 0) R->be->relu_backward(R, 50, g, 0, r, e.y);
        else if (k == 1) R->be->swish_backward(R, 50, g, 0, r, e.x);
        else if (k == 2) R->be->tanh_backward(R, 50, g, 0, r, e.y);
        else R->be->mul_backward(R, 50, g, 0, r, e.m);
        fd_var v = {"input", e.x, 50, g};
        fd_check(names[k], ew_fwd, &e, e.y, 50, r, &v, 1, 1e-3, 50, 2e-3);
        free(e.x);
        free(e.y);
        free(e.m);
        free(r);
        free(g);
    }
}

typedef struct pool_fd {
    qr_nn_pool g;
    qr_nn_shape5 s;
    int avg;
    float *x, *y;
    int32_t *arg;
} pool_fd;
static void pool_fwd(void *p) {
    pool_fd *q = p;
    if (q->avg) R->be->avgpool_forward(R, &q->s, q->y, q->x);
    else R->be->maxpool3d_forward(R, &q->g, q->y, q->arg, q->x);
}

static void test_fd_pool(void **st) {
    (void)st;
    pool_fd q;
    q.g = (qr_nn_pool){2, 2, 5, 6, 6, 3, 3, 3, 3, 2, 1, 1};
    q.s = sh5(2, 2, 5, 6, 6);
    int64_t ni = numel5(q.s), no = 2 * 2 * 27;
    /* distinct values 0.01 apart: the maximum does not move under +-h */
    q.x = malloc(sizeof(float) * (size_t)ni);
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)ni);
    for (int64_t i = 0; i < ni; i++) perm[i] = i;
    qr_rng_shuffle_i64(&rng, perm, ni);
    for (int64_t i = 0; i < ni; i++) q.x[i] = 0.01f * (float)perm[i];
    q.y = malloc(sizeof(float) * (size_t)ni);
    q.arg = malloc(sizeof(int32_t) * (size_t)ni);
    float *r = hrand(ni, 1), *g = malloc(sizeof(float) * (size_t)ni);
    q.avg = 0;
    pool_fwd(&q);
    R->be->maxpool3d_backward(R, &q.g, g, 0, r, q.arg);
    fd_var v = {"input", q.x, ni, g};
    fd_check("maxpool 3^3 /2", pool_fwd, &q, q.y, no, r, &v, 1, 1e-3, 60, 2e-3);
    q.avg = 1;
    pool_fwd(&q);
    R->be->avgpool_backward(R, &q.s, g, 0, r);
    fd_check("global average pool", pool_fwd, &q, q.y, 4, r, &v, 1, 1e-2, 30, 2e-3);
    free(q.x);
    free(q.y);
    free(q.arg);
    free(perm);
    free(r);
    free(g);
}

typedef struct lin_fd {
    int n, fi, fo;
    float *x, *w, *b, *y;
} lin_fd;
static void lin_fwd(void *p) {
    lin_fd *l = p;
    R->be->linear_forward(R, l->n, l->fi, l->fo, l->y, l->x, l->w, l->b);
}

static void test_fd_linear_and_plumbing(void **st) {
    (void)st;
    lin_fd l = {3, 5, 4, hrand(15, 1), hrand(20, 1), hrand(4, 1), malloc(48)};
    float *r = hrand(12, 1), *gx = malloc(60), *gw = malloc(80), *gb = malloc(16);
    lin_fwd(&l);
    R->be->linear_backward(R, 3, 5, 4, gx, 0, gw, gb, r, l.x, l.w);
    fd_var v[3] = {{"input", l.x, 15, gx}, {"weight", l.w, 20, gw}, {"bias", l.b, 4, gb}};
    fd_check("linear", lin_fwd, &l, l.y, 12, r, v, 3, 1e-2, 20, 2e-3);
    free(l.x);
    free(l.w);
    free(l.b);
    free(l.y);
    free(r);
    free(gx);
    free(gw);
    free(gb);
}

typedef struct smote_fd {
    float *x, *y, *a;
    int32_t pairs[8];
} smote_fd;
static void smote_fwd(void *p) {
    smote_fd *s = p;
    R->be->smote_forward(R, 3, 4, 5, s->y, s->x, s->pairs, s->a);
}

typedef struct loss_fd {
    int ce;
    float *z, *lab, loss;
} loss_fd;
static void loss_fwd(void *p) {
    loss_fd *l = p;
    if (l->ce) R->be->softmax_ce_forward(R, 6, &l->loss, l->z, l->lab, 0.3f, 2.0f);
    else R->be->bce_forward(R, 6, &l->loss, l->z, l->lab);
}

/* DeepSMOTE's neighbour choice (nn_smote.c): no rows for 2 rim+ or fewer; nearest by squared
 * distance, ties by the lower batch index; the released variant pairs each row with itself and
 * its 2 nearest, the paper's with its 2 nearest others. Expected pairs worked out by hand on 1-D
 * latents where every choice is a tie or an exact distance. */
static void test_smote_pairs(void **st) {
    (void)st;
    assert_int_equal(qr_nn_smote_rows(QR_NN_SMOTE_RELEASED, 2), 0);
    assert_int_equal(qr_nn_smote_rows(QR_NN_SMOTE_PAPER, 2), 0);
    assert_int_equal(qr_nn_smote_rows(QR_NN_SMOTE_RELEASED, 3), 9);
    assert_int_equal(qr_nn_smote_rows(QR_NN_SMOTE_PAPER, 3), 6);
    assert_int_equal(qr_nn_smote_rows(QR_NN_SMOTE_OFF, 5), 0);
    /* rows 0, 1, 2, 4 rim+ (row 3 rim-, nearest to all and never chosen) */
    const float x[5] = {0, 1, -1, 0.5f, 1}, y[5] = {1, 1, 1, 0, 1};
    int32_t pairs[2 * 12];
    /* row 0: 1, 2 and 4 all at distance 1 -> 1, 2; row 1: 4 (0), then 0 (1); row 2: 0 (1), then
     * 1 and 4 tie at 4 -> 1; row 4: 1 (0), then 0 (1) */
    static const int32_t paper[] = {0, 1, 0, 2, 1, 4, 1, 0, 2, 0, 2, 1, 4, 1, 4, 0};
    assert_int_equal(qr_nn_smote_pairs(QR_NN_SMOTE_PAPER, x, 5, 1, y, pairs), 8);
    assert_memory_equal(pairs, paper, sizeof paper);
    static const int32_t released[] = {0, 0, 0, 1, 0, 2, 1, 1, 1, 4, 1, 0, 2, 2, 2, 0, 2, 1, 4, 4, 4, 1, 4, 0};
    assert_int_equal(qr_nn_smote_pairs(QR_NN_SMOTE_RELEASED, x, 5, 1, y, pairs), 12);
    assert_memory_equal(pairs, released, sizeof released);
    const float y2[5] = {1, 0, 0, 0, 1}; /* two rim+: nothing */
    assert_int_equal(qr_nn_smote_pairs(QR_NN_SMOTE_RELEASED, x, 5, 1, y2, pairs), 0);
}

static void test_fd_smote_losses(void **st) {
    (void)st;
    smote_fd s = {hrand(15, 1), malloc(35 * 4), malloc(16), {0, 0, 0, 2, 2, 1, 1, 1}};
    for (int i = 0; i < 4; i++) s.a[i] = (float)qr_rng_uniform(&rng);
    float *r = hrand(35, 1), *g = malloc(60);
    smote_fwd(&s);
    R->be->smote_backward(R, 3, 4, 5, g, 0, r, s.pairs, s.a);
    fd_var v = {"input", s.x, 15, g};
    fd_check("DeepSMOTE interpolation", smote_fwd, &s, s.y, 35, r, &v, 1, 1e-2, 15, 2e-3);
    free(s.x);
    free(s.y);
    free(s.a);
    free(r);
    free(g);
    for (int ce = 0; ce < 2; ce++) {
        int nz = ce ? 12 : 6;
        loss_fd l = {ce, hrand(nz, 2), malloc(24), 0};
        for (int i = 0; i < 6; i++) l.lab[i] = (float)(i % 3 == 0);
        float one = 1.0f, *gz = malloc(sizeof(float) * (size_t)nz);
        loss_fwd(&l);
        if (ce) R->be->softmax_ce_backward(R, 6, gz, l.z, l.lab, 0.3f, 2.0f);
        else R->be->bce_backward(R, 6, gz, l.z, l.lab);
        fd_var v2 = {"logits", l.z, nz, gz};
        fd_check(ce ? "weighted softmax CE" : "BCE with logits", loss_fwd, &l, &l.loss, 1, &one, &v2, 1, 1e-2, nz, 2e-3);
        free(l.z);
        free(l.lab);
        free(gz);
    }
}

/* Whole tiny networks on the reference backend: the loss against a few parameters, by finite
 * differences through the public API (dropout and DeepSMOTE draws fixed). */
static void model_fd(qr_nn_arch arch) {
    qr_nn_config cfg = qr_nn_config_default(arch);
    cfg.width = 2;
    if (arch == QR_NN_ARCH_QSMRIMNET) {
        cfg.patch[0] = 6;
        cfg.patch[1] = cfg.patch[2] = 8;
        cfg.n_radiomic = 7;
    } else if (arch == QR_NN_ARCH_RIMNET) {
        cfg.patch[0] = cfg.patch[1] = cfg.patch[2] = 8;
        cfg.rimnet_pool_stride = 2;
    } else
        cfg.n_radiomic = 9;
    cfg.dropout_radiomic = cfg.dropout_classifier = 0; /* deterministic forward */
    qr_nn_model *m;
    assert_int_equal(qr_nn_model_create(R, &cfg, 5, &m), QR_OK);
    const int64_t N = 6, P = (int64_t)cfg.in_channels * cfg.patch[0] * cfg.patch[1] * cfg.patch[2];
    float *x = hrand(N * (P > 0 ? P : 1), 1), *rad = hrand(N * (cfg.n_radiomic > 0 ? cfg.n_radiomic : 1), 1);
    float lab[6] = {1, 0, 1, 1, 0, 0};
    qr_nn_batch b = {N, P ? x : NULL, cfg.n_radiomic ? rad : NULL, lab, NULL, NULL};
    qr_nn_train_options to = qr_nn_train_options_default();
    to.max_batch = (int)N;
    qr_nn_trainer *t;
    assert_int_equal(qr_nn_trainer_create(m, 0, &to, &t), QR_OK);
    float sw[9] = {0.1f, 0.7f, 0.4f, 0.9f, 0.2f, 0.5f, 0.3f, 0.8f, 0.6f};
    qr_nn_step_stats stt;
    int fix = arch == QR_NN_ARCH_QSMRIMNET;
    if (fix) qr_nn_trainer_fix_draws(t, sw, 9, NULL, 0, NULL, 0);
    assert_int_equal(qr_nn_trainer_forward_backward(t, &b, &stt, NULL, 0), QR_OK);
    const char *names[QR_NN_ARCH_COUNT][3] = {
        {"encoder.conv1.weight", "encode_rad.0.weight", "classifier.0.weight"},
        {"qsm.block1.conv1.weight", "flair.block2.conv2.weight", "fc.3.weight"}, /* fc.0-2 end in ReLU kinks */
        {"encode_rad.0.weight", "encode_rad.5.weight", "classifier.3.weight"}};
    for (int k = 0; k < 3; k++) {
        const char *name = names[arch][k];
        int64_t d[5];
        int nd = qr_nn_model_tensor_shape(m, name, d);
        assert_true(nd > 0);
        int64_t n = 1;
        for (int i = 0; i < nd; i++) n *= d[i];
        float *p = malloc(sizeof(float) * (size_t)n), *g = malloc(sizeof(float) * (size_t)n);
        assert_int_equal(qr_nn_model_get_tensor(m, 0, name, p, n), QR_OK);
        assert_int_equal(qr_nn_trainer_get_grad(t, name, g, n), QR_OK);
        /* the 3 coordinates with the largest gradient (well above float noise) */
        double worst = 0;
        for (int rep = 0; rep < 3; rep++) {
            int64_t bi = 0;
            for (int64_t i = 0; i < n; i++)
                if (fabsf(g[i]) > fabsf(g[bi])) bi = i;
            /* the loss is float: the step h trades truncation (h^2) for rounding (eps/h); a
             * correct gradient agrees at some h of the ladder, a wrong one at none */
            const float x0 = p[bi];
            const double hs[6] = {3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4};
            double e = 1e30, fdbest = 0;
            for (int hi = 0; hi < 6; hi++) {
                double L[2];
                for (int s = 0; s < 2; s++) {
                    p[bi] = (float)(x0 + (s ? -hs[hi] : hs[hi]));
                    assert_int_equal(qr_nn_model_set_tensor(m, 0, name, p, n), QR_OK);
                    if (fix) qr_nn_trainer_fix_draws(t, sw, 9, NULL, 0, NULL, 0);
                    assert_int_equal(qr_nn_trainer_forward_backward(t, &b, &stt, NULL, 0), QR_OK);
                    L[s] = stt.loss;
                }
                double hh = (double)(float)(x0 + hs[hi]) - (double)(float)(x0 - hs[hi]);
                double fd = (L[0] - L[1]) / hh, eh = fabs(fd - g[bi]) / fabs(g[bi]);
                if (getenv("FD_DEBUG")) fprintf(stderr, "   h %g: L+ %.9g L- %.9g fd %.6g an %.6g\n", hs[hi], L[0], L[1], fd, g[bi]);
                if (eh < e) {
                    e = eh;
                    fdbest = fd;
                }
            }
            p[bi] = x0;
            assert_int_equal(qr_nn_model_set_tensor(m, 0, name, p, n), QR_OK);
            if (e > worst) worst = e;
            if (e > 2e-2) fprintf(stderr, "FAIL model FD %s %s[%lld]: analytic %.6g numeric %.6g\n", qr_nn_arch_name(arch), name, (long long)bi, g[bi], fdbest);
            assert_true(e <= 2e-2);
            g[bi] = 0; /* next largest */
        }
        printf("  %-9s d loss / d %-26s worst relative error %.2e (3 largest coordinates)\n", qr_nn_arch_name(arch), name,
               worst);
        free(p);
        free(g);
    }
    qr_nn_trainer_free(t);
    qr_nn_model_free(m);
    free(x);
    free(rad);
}

static void test_fd_models(void **st) {
    (void)st;
    model_fd(QR_NN_ARCH_QSMRIMNET);
    model_fd(QR_NN_ARCH_APRL_NN);
    model_fd(QR_NN_ARCH_RIMNET);
}

int main(void) {
    qr_rng_seed(&rng, 2024, 0);
    qr_nn_context_options o = qr_nn_context_options_default();
    o.device.kind = QR_NN_DEVICE_REF;
    if (qr_nn_context_create(&o, &R) != QR_OK) return 1;
    o.device.kind = QR_NN_DEVICE_CPU;
    o.threads = 2;
    if (qr_nn_context_create(&o, &C) != QR_OK) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_cpu_vs_ref),       cmocka_unit_test(test_batchnorm_cpu_vs_ref),
        cmocka_unit_test(test_pool_cpu_vs_ref),       cmocka_unit_test(test_linear_cpu_vs_ref),
        cmocka_unit_test(test_elementwise_cpu_vs_ref), cmocka_unit_test(test_tensor_ops_cpu_vs_ref),
        cmocka_unit_test(test_fd_conv),               cmocka_unit_test(test_fd_batchnorm),
        cmocka_unit_test(test_fd_elementwise),        cmocka_unit_test(test_fd_pool),
        cmocka_unit_test(test_fd_linear_and_plumbing), cmocka_unit_test(test_fd_smote_losses), cmocka_unit_test(test_smote_pairs),
        cmocka_unit_test(test_fd_models),
        cmocka_unit_test(test_nan_through_relu), /* last: the tests above draw from one random stream */
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qr_nn_context_free(R);
    qr_nn_context_free(C);
    return rc;
}
