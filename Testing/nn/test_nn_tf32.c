/*
 * test_nn_tf32.c - the TF32 precision option on the host backends (nn_tf32.c) and its settings.
 *
 *  1. The rounding: qr_nn_tf32_round against an independent rounding in double arithmetic
 *     (frexp, nearbyint: round half to even, ldexp) on special values and a million random floats.
 *  2. Each layer in TF32 equals the same backend in FP32 fed with operands rounded on the host
 *     (bit for bit: the layer rounds exactly the operands of the products, nothing else), keeps
 *     biases, the epilogue and bias gradients in float32, agrees between the ref and cpu
 *     backends, and differs from FP32 by a visible but small amount (printed: how far TF32 moves
 *     each layer).
 *  3. Settings: names, QSMRIM_PRECISION, the process default, a bad value, the context line.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nn/nn.h"
#include "nn/nn_internal.h"
#include "nn_test_util.h"

enum { REF32, REFT, CPU32, CPUT, NCTX };
static qr_nn_context *X[NCTX];
static const char *XNAME[NCTX] = {"ref fp32", "ref tf32", "cpu fp32", "cpu tf32"};
static qr_rng rng;

#define TOL_BACKENDS 2e-5 /* ref vs cpu, as test_nn_layers */

/* ---- 1. rounding ---- */

static float tf32_by_double(float x) {
    if (isnan(x) || isinf(x) || x == 0) return x;
    int e;
    frexp((double)x, &e); /* |x| = m 2^e, m in [0.5, 1) */
    /* spacing of TF32 values: 11 significant bits (1 + 10 stored), and no finer than 2^-136
     * below 2^-126 (subnormals have the normal numbers' smallest spacing) */
    int q = e - 11 < -136 ? -136 : e - 11;
    return (float)ldexp(nearbyint(ldexp((double)x, -q)), q); /* may overflow to inf, as the bit operation does */
}

static void test_rounding(void **state) {
    (void)state;
    const float one = 1.0f, u = ldexpf(1, -10); /* TF32 spacing at 1 */
    struct {
        float in, want;
    } cases[] = {
        {one, one},
        {one + u / 2, one},                 /* tie, 1 is even: down */
        {one + 3 * u / 2, one + 2 * u},      /* tie, 1 + u is odd: up */
        {one + u / 2 + ldexpf(1, -20), one + u}, /* just above the tie */
        {-(one + 3 * u / 2), -(one + 2 * u)},
        {ldexpf(1, -136), ldexpf(1, -136)}, /* the smallest TF32 subnormal */
        {ldexpf(1, -138), 0.0f},            /* below half of it */
        {3 * ldexpf(1, -137), ldexpf(1, -135)}, /* tie between 2^-136 (odd) and 2^-135 */
        {3.14159265f, 3.140625f},
        {-0.0f, -0.0f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        float got = qr_nn_tf32_round(cases[i].in);
        if (got != cases[i].want) fprintf(stderr, "tf32(%.9g) = %.9g, want %.9g\n", cases[i].in, got, cases[i].want);
        assert_true(got == cases[i].want);
    }
    assert_true(signbit(qr_nn_tf32_round(-0.0f)));
    assert_true(isinf(qr_nn_tf32_round(3.4028235e38f))); /* FLT_MAX rounds up past TF32's largest */
    assert_true(isinf(qr_nn_tf32_round(INFINITY)) && qr_nn_tf32_round(-INFINITY) < 0);
    assert_true(isnan(qr_nn_tf32_round(NAN)));
    /* random bit patterns over the whole finite range and normal values near 1 */
    int64_t bad = 0;
    for (int i = 0; i < 1000000; i++) {
        uint32_t b = (uint32_t)qr_rng_u64(&rng);
        float x;
        memcpy(&x, &b, 4);
        if (i & 1) x = (float)qr_rng_normal(&rng);
        if (isnan(x)) continue;
        float a = qr_nn_tf32_round(x), r = tf32_by_double(x);
        if (memcmp(&a, &r, 4)) {
            if (bad++ < 5) fprintf(stderr, "tf32(%a) = %a, by double %a\n", x, a, r);
        }
        uint32_t ab;
        memcpy(&ab, &a, 4);
        assert_true(isinf(a) || (ab & 0x1fffu) == 0); /* 13 low mantissa bits clear */
    }
    assert_int_equal(bad, 0);
}

/* ---- 2. layers ---- */

typedef enum { K_PLAIN, K_ACT, K_CONVW, K_LINW } kind;

/* a tensor in all four contexts */
typedef struct quad {
    int64_t n;
    kind k;
    qr_nn_shape5 s;
    int64_t dims[5];
    float *p[NCTX];
} quad;

static void put(quad *q, int c, const float *host) {
    qr_nn_context *x = X[c];
    if (q->k == K_ACT) x->be->upload5(x, &q->s, q->p[c], host);
    else if (q->k == K_PLAIN) memcpy(q->p[c], host, sizeof(float) * (size_t)q->n);
    else x->be->weight_upload(x, q->k == K_CONVW ? QR_NN_LAYOUT_CONV : QR_NN_LAYOUT_LINEAR, q->dims, q->p[c], host);
}

static void get(const quad *q, int c, float *host) {
    qr_nn_context *x = X[c];
    if (q->k == K_ACT) x->be->download5(x, &q->s, host, q->p[c]);
    else if (q->k == K_PLAIN) memcpy(host, q->p[c], sizeof(float) * (size_t)q->n);
    else x->be->weight_download(x, q->k == K_CONVW ? QR_NN_LAYOUT_CONV : QR_NN_LAYOUT_LINEAR, q->dims, host, q->p[c]);
}

static quad mk(int64_t n, kind k, const qr_nn_shape5 *s, const int64_t *dims) {
    quad q;
    memset(&q, 0, sizeof q);
    q.n = n;
    q.k = k;
    if (s) q.s = *s;
    if (dims) memcpy(q.dims, dims, sizeof q.dims);
    for (int c = 0; c < NCTX; c++) {
        q.p[c] = X[c]->be->alloc(X[c], sizeof(float) * (size_t)(n > 0 ? n : 1));
        assert_non_null(q.p[c]);
    }
    return q;
}

/* host data into every context: the TF32 contexts get `host`, the FP32 ones `host` rounded
 * (round32 = 1) or as is (round32 = 0) */
static void fill(quad *q, const float *host, int round32) {
    float *r = malloc(sizeof(float) * (size_t)q->n);
    for (int64_t i = 0; i < q->n; i++) r[i] = round32 ? qr_nn_tf32_round(host[i]) : host[i];
    for (int c = 0; c < NCTX; c++) put(q, c, (c == REFT || c == CPUT) ? host : r);
    free(r);
}

static void qfree(quad *q) {
    for (int c = 0; c < NCTX; c++) X[c]->be->free(X[c], q->p[c]);
}

static float *hrand(int64_t n, float scale) {
    float *x = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    tu_fill_normal(&rng, x, n, scale);
    return x;
}

static int same_bits(const quad *q, int a, int b, const char *what) {
    float *x = malloc(sizeof(float) * (size_t)q->n), *y = malloc(sizeof(float) * (size_t)q->n);
    get(q, a, x);
    get(q, b, y);
    int64_t diff = 0, first = -1;
    for (int64_t i = 0; i < q->n; i++)
        if (memcmp(&x[i], &y[i], 4)) {
            if (first < 0) first = i;
            diff++;
        }
    if (diff)
        fprintf(stderr, "FAIL %s: %s and %s differ in %lld of %lld values (first at %lld: %.9g vs %.9g)\n", what,
                XNAME[a], XNAME[b], (long long)diff, (long long)q->n, (long long)first, x[first], y[first]);
    free(x);
    free(y);
    return diff == 0;
}

static double rel(const quad *q, int a, int b) {
    float *x = malloc(sizeof(float) * (size_t)q->n), *y = malloc(sizeof(float) * (size_t)q->n);
    get(q, a, x);
    get(q, b, y);
    double e = tu_rel_err(x, y, q->n, 1e-12);
    free(x);
    free(y);
    return e;
}

/* Shift of TF32 against FP32 on the same (unrounded) data: visible (> 1e-6 of the scale) and
 * small (< 3e-3); printed. */
static double g_worst_shift;
static void shift_ok(const char *what, double e) {
    printf("  %-44s TF32 moves it by %.2e of its scale\n", what, e);
    if (e > g_worst_shift) g_worst_shift = e;
    assert_true(e > 1e-6);
    assert_true(e < 3e-3);
}

/* The layer's operands for one pass: TF32 contexts get the raw values, FP32 ones the values
 * rounded on the host (pass 0) or raw (pass 1); din starts from the same values everywhere. */
static void operands(int pass, quad *in, const float *hi, quad *w, const float *hw, quad *dout, const float *hdo,
                     quad *din, const float *hd0) {
    fill(in, hi, !pass);
    fill(w, hw, !pass);
    fill(dout, hdo, !pass);
    fill(din, hd0, 0);
}

/* Pass 0: TF32 equals FP32 on rounded operands bit for bit (both backends) and the backends
 * agree. Pass 1: bias gradients equal the FP32 ones (raw dout); the shift of the rest. */
static void check_pass(int pass, const quad *out, const quad *din, const quad *dw, const quad *db) {
    if (pass == 0) {
        for (int b = 0; b < 2; b++) {
            int t = b ? CPUT : REFT, f = b ? CPU32 : REF32;
            assert_true(same_bits(out, t, f, "forward"));
            assert_true(same_bits(din, t, f, "dinput"));
            assert_true(same_bits(dw, t, f, "dweight"));
        }
        const quad *all[] = {out, din, dw, db};
        for (int i = 0; i < 4; i++) assert_true(rel(all[i], CPUT, REFT) <= TOL_BACKENDS);
    } else {
        assert_true(rel(db, CPUT, CPU32) <= 1e-6);
        assert_true(rel(db, REFT, REF32) <= 1e-6);
        shift_ok("forward", rel(out, CPUT, CPU32));
        shift_ok("dinput", rel(din, CPUT, CPU32));
        shift_ok("dweight", rel(dw, CPUT, CPU32));
    }
}

/* The layer run twice per backend: TF32 on the raw operands (contexts REFT, CPUT) and FP32 on
 * operands rounded on the host (REF32, CPU32): bit-identical. Then FP32 on the raw operands:
 * the shift. */
static void conv_one(const tu_conv_case *cc) {
    const qr_nn_conv g = tu_conv(cc);
    qr_nn_shape5 si = {cc->n, cc->cin, cc->d, cc->h, cc->w}, so = {cc->n, cc->cout, g.od, g.oh, g.ow};
    const int64_t ni = (int64_t)si.n * si.c * si.d * si.h * si.w, no = (int64_t)so.n * so.c * so.d * so.h * so.w;
    int64_t wd[5] = {cc->cout, cc->cin, cc->k, cc->k, cc->k};
    const int64_t nw = wd[0] * wd[1] * wd[2] * wd[3] * wd[4];
    char name[96];
    snprintf(name, sizeof name, "conv %d>%d k%d s%d, %dx%dx%d, n%d, epi%d", cc->cin, cc->cout, cc->k, cc->s, cc->d, cc->h,
             cc->w, cc->n, cc->epi);
    printf("%s\n", name);
    float *hi = hrand(ni, 1), *hw = hrand(nw, 0.3f), *hdo = hrand(no, 1), *hres = hrand(no, 1);
    float *hsc = hrand(cc->cout, 1), *hsh = hrand(cc->cout, 1), *hd0 = hrand(ni, 1);
    quad in = mk(ni, K_ACT, &si, NULL), w = mk(nw, K_CONVW, NULL, wd), out = mk(no, K_ACT, &so, NULL);
    quad dout = mk(no, K_ACT, &so, NULL), res = mk(no, K_ACT, &so, NULL), sc = mk(cc->cout, K_PLAIN, NULL, NULL);
    quad sh = mk(cc->cout, K_PLAIN, NULL, NULL), din = mk(ni, K_ACT, &si, NULL), dw = mk(nw, K_CONVW, NULL, wd);
    quad db = mk(cc->cout, K_PLAIN, NULL, NULL);
    fill(&res, hres, 0); /* the epilogue stays float32: never rounded */
    fill(&sc, hsc, 0);
    fill(&sh, hsh, 0);
    for (int pass = 0; pass < 2; pass++) { /* 0: FP32 on rounded operands; 1: FP32 on raw ones */
        operands(pass, &in, hi, &w, hw, &dout, hdo, &din, hd0);
        for (int c = 0; c < NCTX; c++) {
            qr_nn_context *x = X[c];
            qr_nn_epilogue e = {NULL, NULL, NULL, 0};
            if (cc->epi == 1) e.shift = sh.p[c];
            if (cc->epi == 2) e = (qr_nn_epilogue){sc.p[c], sh.p[c], res.p[c], 1};
            x->be->conv3d_forward(x, &g, out.p[c], in.p[c], w.p[c], cc->epi ? &e : NULL);
            x->be->conv3d_backward(x, &g, din.p[c], 1, dw.p[c], db.p[c], dout.p[c], in.p[c], w.p[c]);
            assert_int_equal(qr_nn_backend_check(x), QR_OK);
        }
        check_pass(pass, &out, &din, &dw, &db);
        /* without an input gradient (the first layer; the CPU backend unfolds the input) */
        for (int c = 0; c < NCTX; c++) X[c]->be->conv3d_backward(X[c], &g, NULL, 0, dw.p[c], NULL, dout.p[c], in.p[c], w.p[c]);
        if (pass == 0) {
            assert_true(same_bits(&dw, CPUT, CPU32, "dweight, no dinput"));
            assert_true(same_bits(&dw, REFT, REF32, "dweight, no dinput"));
        }
    }
    quad *all[] = {&in, &w, &out, &dout, &res, &sc, &sh, &din, &dw, &db};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) qfree(all[i]);
    free(hi), free(hw), free(hdo), free(hres), free(hsc), free(hsh), free(hd0);
}

static void test_conv(void **state) {
    (void)state;
    const tu_conv_case cases[] = {
        {3, 2, 8, 8, 12, 12, 7, 2, 3, 0}, /* the stem: 7^3 stride 2, two channels (unfolded on the CPU) */
        {4, 16, 32, 4, 6, 6, 3, 2, 1, 2}, /* stride 2, fused BN scale/shift, residual, ReLU */
        {5, 24, 66, 4, 5, 6, 1, 2, 0, 0}, /* 1^3 downsample */
        {3, 40, 1, 3, 3, 3, 1, 1, 0, 1},  /* RimNet's reduction: one output channel with a bias */
        {6, 64, 64, 2, 4, 4, 3, 1, 1, 0}, /* full width */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) conv_one(&cases[i]);
}

static void test_linear(void **state) {
    (void)state;
    const int shapes[][3] = {{64, 536, 128}, {7, 33, 1}, {65, 128, 64}}; /* n, fin, fout */
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int n = shapes[s][0], fin = shapes[s][1], fout = shapes[s][2];
        printf("linear %d -> %d, n %d\n", fin, fout, n);
        int64_t wd[5] = {fout, fin, 0, 0, 0};
        float *hi = hrand((int64_t)n * fin, 1), *hw = hrand((int64_t)fin * fout, 0.1f), *hb = hrand(fout, 1);
        float *hdo = hrand((int64_t)n * fout, 1), *hd0 = hrand((int64_t)n * fin, 1);
        quad in = mk((int64_t)n * fin, K_PLAIN, NULL, NULL), w = mk((int64_t)fin * fout, K_LINW, NULL, wd);
        quad b = mk(fout, K_PLAIN, NULL, NULL), out = mk((int64_t)n * fout, K_PLAIN, NULL, NULL);
        quad dout = mk((int64_t)n * fout, K_PLAIN, NULL, NULL), din = mk((int64_t)n * fin, K_PLAIN, NULL, NULL);
        quad dw = mk((int64_t)fin * fout, K_LINW, NULL, wd), db = mk(fout, K_PLAIN, NULL, NULL);
        fill(&b, hb, 0);
        for (int pass = 0; pass < 2; pass++) {
            operands(pass, &in, hi, &w, hw, &dout, hdo, &din, hd0);
            for (int c = 0; c < NCTX; c++) {
                qr_nn_context *x = X[c];
                x->be->linear_forward(x, n, fin, fout, out.p[c], in.p[c], w.p[c], b.p[c]);
                x->be->linear_backward(x, n, fin, fout, din.p[c], 1, dw.p[c], db.p[c], dout.p[c], in.p[c], w.p[c]);
                assert_int_equal(qr_nn_backend_check(x), QR_OK);
            }
            check_pass(pass, &out, &din, &dw, &db);
        }
        quad *all[] = {&in, &w, &b, &out, &dout, &din, &dw, &db};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) qfree(all[i]);
        free(hi), free(hw), free(hb), free(hdo), free(hd0);
    }
    printf("largest shift of a layer by TF32: %.2e of its scale\n", g_worst_shift);
}

/* ---- 3. settings ---- */

static void test_settings(void **state) {
    (void)state;
    qr_nn_precision p = QR_NN_PRECISION_FP32;
    assert_int_equal(qr_nn_precision_parse("tf32", &p), QR_OK);
    assert_int_equal(p, QR_NN_PRECISION_TF32);
    assert_string_equal(qr_nn_precision_name(p), "tf32");
    assert_int_equal(qr_nn_precision_parse("bf16", &p), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "unknown precision 'bf16' (fp32 or tf32)"));
    assert_int_equal(qr_nn_precision_parse(NULL, &p), QR_ERR_INVALID_ARG);

    /* the environment sets the default; a bad value fails context creation on every device */
    unsetenv("QSMRIM_PRECISION");
    assert_int_equal(qr_nn_default_precision(), QR_NN_PRECISION_FP32);
    setenv("QSMRIM_PRECISION", "tf32", 1);
    assert_int_equal(qr_nn_context_options_default().precision, QR_NN_PRECISION_TF32);
    setenv("QSMRIM_PRECISION", "half", 1);
    qr_nn_context_options o = qr_nn_context_options_default();
    o.device.kind = QR_NN_DEVICE_CPU;
    qr_nn_context *c = NULL;
    assert_int_equal(qr_nn_context_create(&o, &c), QR_ERR_INVALID_ARG);
    assert_null(c);
    assert_non_null(strstr(qr_last_error(), "QSMRIM_PRECISION='half': expected fp32 or tf32"));
    o.device.kind = QR_NN_DEVICE_AUTO;
    assert_int_equal(qr_nn_context_create(&o, &c), QR_ERR_INVALID_ARG);
    o.precision = (qr_nn_precision)7;
    assert_int_equal(qr_nn_context_create(&o, &c), QR_ERR_INVALID_ARG);
    /* a command's --precision wins over the environment */
    qr_nn_set_default_precision(QR_NN_PRECISION_TF32);
    o = qr_nn_context_options_default();
    assert_int_equal(o.precision, QR_NN_PRECISION_TF32);
    o.device.kind = QR_NN_DEVICE_CPU;
    o.threads = 1;
    assert_int_equal(qr_nn_context_create(&o, &c), QR_OK);
    printf("context: %s\n", qr_nn_context_describe(c));
    assert_int_equal(qr_nn_context_precision(c), QR_NN_PRECISION_TF32);
    assert_non_null(strstr(qr_nn_context_describe(c), "1 thread, TF32 rounding emulated)"));
    qr_nn_context_free(c);
    qr_nn_set_default_precision(QR_NN_PRECISION_FP32);
    unsetenv("QSMRIM_PRECISION");
    o = qr_nn_context_options_default();
    o.device.kind = QR_NN_DEVICE_REF;
    assert_int_equal(qr_nn_context_create(&o, &c), QR_OK);
    assert_int_equal(qr_nn_context_precision(c), QR_NN_PRECISION_FP32);
    assert_null(strstr(qr_nn_context_describe(c), "TF32"));
    qr_nn_context_free(c);
}

int main(void) {
    unsetenv("QSMRIM_PRECISION");
    for (int c = 0; c < NCTX; c++) {
        qr_nn_context_options o = qr_nn_context_options_default();
        o.device.kind = c < CPU32 ? QR_NN_DEVICE_REF : QR_NN_DEVICE_CPU;
        o.threads = 2;
        o.precision = (c == REFT || c == CPUT) ? QR_NN_PRECISION_TF32 : QR_NN_PRECISION_FP32;
        if (qr_nn_context_create(&o, &X[c]) != QR_OK) {
            fprintf(stderr, "context %s: %s\n", XNAME[c], qr_last_error());
            return 1;
        }
    }
    qr_rng_seed(&rng, 20261122, 11);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rounding),
        cmocka_unit_test(test_conv),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_settings),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    for (int c = 0; c < NCTX; c++) qr_nn_context_free(X[c]);
    return rc;
}
