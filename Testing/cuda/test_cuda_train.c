/*
 * test_cuda_train.c - short training runs on the GPU against the same runs on the CPU backend:
 * same model seed, same data, same trainer seed (dropout masks and DeepSMOTE draws come from
 * the trainer's host generator, so both runs see the same draws).
 *
 * Checks, per architecture:
 *   loss curve    |loss_gpu - loss_cpu| <= 1e-4 + 2e-3 |loss_cpu| at every step
 *   after training the inference logits agree to 2e-3 of their scale; parameters and running
 *                 statistics: at least 99% of the elements to 2e-3 of their tensor's scale, and
 *                 every element within 2 lr per step (Adam turns a gradient that is rounding
 *                 noise - a Linear bias before a BatchNorm has an exact gradient of 0 - into
 *                 steps of about lr with an arbitrary sign, so single elements may differ by that)
 *   determinism   a second GPU run gives bit-identical losses, logits and parameters
 *
 * Exit 77 (skipped) when no CUDA context can be created. Built a second time against the CPU
 * emulation of CUDA/cuDNN/cuBLAS (test_cuda_emu_train, see cuda_test_util.h), it runs everywhere.
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
#include "cuda_test_util.h"

#define STEPS 6
#define BATCH 8
#define SAMPLES 16
#define LR 3e-4

typedef struct run_result {
    double loss[STEPS];
    int64_t synth[STEPS];
    float *logits; /* SAMPLES */
    float *params; /* all tensors, state-dict order */
    int64_t n_params;
} run_result;

typedef struct dataset {
    float *x, *r, *y;
    int64_t P, F;
} dataset;

static dataset make_data(const qr_nn_config *cfg) {
    dataset d;
    qr_rng g;
    qr_rng_seed(&g, 99, 1);
    d.P = cfg->arch == QR_NN_ARCH_APRL_NN ? 0 : (int64_t)cfg->in_channels * cfg->patch[0] * cfg->patch[1] * cfg->patch[2];
    d.F = cfg->arch == QR_NN_ARCH_RIMNET ? 0 : cfg->n_radiomic;
    d.x = d.P ? malloc(sizeof(float) * (size_t)(SAMPLES * d.P)) : NULL;
    d.r = d.F ? malloc(sizeof(float) * (size_t)(SAMPLES * d.F)) : NULL;
    d.y = malloc(sizeof(float) * SAMPLES);
    for (int64_t i = 0; i < SAMPLES * d.P; i++) d.x[i] = (float)qr_rng_normal(&g);
    for (int64_t i = 0; i < SAMPLES * d.F; i++) d.r[i] = (float)qr_rng_normal(&g);
    for (int i = 0; i < SAMPLES; i++) d.y[i] = (i % 5 == 0 || i % 3 == 0) ? 1.0f : 0.0f; /* >= 3 rim+ per batch */
    return d;
}

static void free_data(dataset *d) {
    free(d->x);
    free(d->r);
    free(d->y);
}

static run_result run(const char *device, const qr_nn_config *cfg, qr_nn_smote smote, const dataset *d) {
    run_result out;
    memset(&out, 0, sizeof out);
    qr_nn_context *ctx;
    if (!strcmp(device, "cuda")) {
        assert_int_equal(cuda_test_context(&ctx), QR_OK);
    } else {
        qr_nn_context_options co = qr_nn_context_options_default();
        assert_int_equal(qr_nn_device_parse(device, &co.device), QR_OK);
        co.threads = 2;
        assert_int_equal(qr_nn_context_create(&co, &ctx), QR_OK);
    }
    qr_nn_model *m;
    assert_int_equal(qr_nn_model_create(ctx, cfg, 1234, &m), QR_OK);
    qr_nn_train_options to = qr_nn_train_options_default();
    to.seed = 77;
    to.smote = smote;
    to.max_batch = BATCH;
    to.lr = LR;
    if (cfg->arch == QR_NN_ARCH_RIMNET) to.conv_l2 = 1e-3;
    qr_nn_trainer *t;
    assert_int_equal(qr_nn_trainer_create(m, 0, &to, &t), QR_OK);
    for (int k = 0; k < STEPS; k++) {
        const int64_t i0 = (k % 2) * BATCH;
        qr_nn_batch b = {BATCH, d->x ? d->x + i0 * d->P : NULL, d->r ? d->r + i0 * d->F : NULL, d->y + i0, NULL, NULL};
        qr_nn_step_stats st;
        qr_status s = qr_nn_trainer_step(t, &b, &st);
        if (s != QR_OK) fprintf(stderr, "%s step %d: %s\n", device, k + 1, qr_last_error());
        assert_int_equal(s, QR_OK);
        out.loss[k] = st.loss;
        out.synth[k] = st.n_synth;
    }
    qr_nn_trainer_free(t);
    out.logits = malloc(sizeof(float) * SAMPLES);
    qr_nn_batch all = {SAMPLES, d->x, d->r, NULL, NULL, NULL};
    assert_int_equal(qr_nn_model_infer(m, &all, out.logits), QR_OK);
    for (int i = 0; i < qr_nn_model_tensor_count(m); i++) {
        int64_t dims[5], n = 1;
        int nd = qr_nn_model_tensor_shape(m, qr_nn_model_tensor_name(m, i), dims);
        for (int j = 0; j < nd; j++) n *= dims[j];
        out.params = realloc(out.params, sizeof(float) * (size_t)(out.n_params + n));
        assert_int_equal(qr_nn_model_get_tensor(m, 0, qr_nn_model_tensor_name(m, i), out.params + out.n_params, n), QR_OK);
        out.n_params += n;
    }
    qr_nn_model_free(m);
    qr_nn_context_free(ctx);
    return out;
}

/* Parameters of the two runs: returns the fraction of elements off by more than 2e-3 of their
 * tensor's scale; *beyond counts elements off by more than `bound` (2 lr per step). */
static double param_err(const qr_nn_config *cfg, const run_result *g, const run_result *c, double bound,
                        int64_t *beyond) {
    qr_nn_context_options co = qr_nn_context_options_default();
    co.device.kind = QR_NN_DEVICE_REF;
    qr_nn_context *ctx;
    assert_int_equal(qr_nn_context_create(&co, &ctx), QR_OK);
    qr_nn_model *m;
    assert_int_equal(qr_nn_model_create(ctx, cfg, 1, &m), QR_OK);
    int64_t off = 0, loose = 0;
    *beyond = 0;
    for (int i = 0; i < qr_nn_model_tensor_count(m); i++) {
        int64_t dims[5], n = 1;
        int nd = qr_nn_model_tensor_shape(m, qr_nn_model_tensor_name(m, i), dims);
        for (int j = 0; j < nd; j++) n *= dims[j];
        double scale = 1e-3, worst = 0;
        for (int64_t j = 0; j < n; j++)
            if (fabs(c->params[off + j]) > scale) scale = fabs(c->params[off + j]);
        int64_t nl = 0;
        for (int64_t j = 0; j < n; j++) {
            double e = fabs((double)g->params[off + j] - c->params[off + j]);
            if (!(e <= 2e-3 * scale)) nl++;
            if (!(e <= bound)) (*beyond)++;
            if (!(e <= worst)) worst = e;
        }
        if (nl) printf("  %s: %lld of %lld elements beyond 2e-3 of scale %.3g (worst %.3g)\n", qr_nn_model_tensor_name(m, i),
                       (long long)nl, (long long)n, scale, worst);
        loose += nl;
        off += n;
    }
    qr_nn_model_free(m);
    qr_nn_context_free(ctx);
    return (double)loose / (double)(off > 0 ? off : 1);
}

static void check_arch(const char *name, qr_nn_config cfg, qr_nn_smote smote) {
    printf("%s (width %d, fusion %s, image %s, DeepSMOTE %s):\n", name, cfg.width, qr_nn_fusion_name(cfg.fusion),
           qr_nn_image_fusion_name(cfg.image_fusion), qr_nn_smote_name(smote));
    dataset d = make_data(&cfg);
    run_result c = run("cpu", &cfg, smote, &d), g = run("cuda", &cfg, smote, &d), g2 = run("cuda", &cfg, smote, &d);
    int ok = 1;
    for (int k = 0; k < STEPS; k++) {
        double tol = 1e-4 + 2e-3 * fabs(c.loss[k]);
        int good = fabs(g.loss[k] - c.loss[k]) <= tol && g.synth[k] == c.synth[k];
        printf("  step %d: loss cpu %.7f gpu %.7f (diff %.2e, tol %.1e), synthetic rows %lld/%lld%s\n", k + 1, c.loss[k],
               g.loss[k], fabs(g.loss[k] - c.loss[k]), tol, (long long)c.synth[k], (long long)g.synth[k],
               good ? "" : "  FAIL");
        ok &= good;
    }
    double ls = 1e-3, ld = 0;
    for (int i = 0; i < SAMPLES; i++) {
        if (fabs(c.logits[i]) > ls) ls = fabs(c.logits[i]);
        if (fabs((double)g.logits[i] - c.logits[i]) > ld) ld = fabs((double)g.logits[i] - c.logits[i]);
    }
    int64_t beyond = 0;
    const double bound = 2.0 * LR * STEPS;
    double pe = param_err(&cfg, &g, &c, bound, &beyond);
    printf("  after training: logits scale-relative error %.3g (tol 2e-3); parameters: %.3g%% of elements beyond 2e-3 "
           "of scale (tol 1%%), %lld beyond %.1e\n", ld / ls, 100 * pe, (long long)beyond, bound);
    int det = !memcmp(g.loss, g2.loss, sizeof g.loss) && !memcmp(g.logits, g2.logits, sizeof(float) * SAMPLES) &&
              g.n_params == g2.n_params && !memcmp(g.params, g2.params, sizeof(float) * (size_t)g.n_params);
    printf("  second GPU run: %s\n", det ? "bit-identical" : "DIFFERENT");
    free_data(&d);
    free(c.logits), free(c.params), free(g.logits), free(g.params), free(g2.logits), free(g2.params);
    assert_true(ok);
    assert_true(ld / ls <= 2e-3);
    assert_true(pe <= 0.01);
    assert_int_equal(beyond, 0);
    assert_true(det);
}

/* The emulated build runs its convolutions as direct loops: smaller patches keep it quick. */
static void small_patch(qr_nn_config *cfg) {
#ifdef QR_CUDA_EMULATED
    cfg->patch[0] = 8;
    cfg->patch[1] = cfg->patch[2] = 16;
#else
    (void)cfg;
#endif
}

static void test_qsmrimnet(void **state) {
    (void)state;
    qr_nn_config cfg = qr_nn_config_default(QR_NN_ARCH_QSMRIMNET);
    cfg.width = 4;
    cfg.n_radiomic = 24;
    small_patch(&cfg);
    check_arch("QSMRim-Net (released)", cfg, QR_NN_SMOTE_RELEASED);
}

static void test_qsmrimnet_paper(void **state) {
    (void)state;
    qr_nn_config cfg = qr_nn_config_default(QR_NN_ARCH_QSMRIMNET);
    cfg.width = 4;
    cfg.n_radiomic = 24;
    cfg.fusion = QR_NN_FUSION_CONCAT;
    cfg.layer4_stride = 2;
    small_patch(&cfg);
    check_arch("QSMRim-Net (paper variant)", cfg, QR_NN_SMOTE_PAPER);
}

static void test_qsmrimnet_two_branch(void **state) {
    (void)state;
    qr_nn_config cfg = qr_nn_config_default(QR_NN_ARCH_QSMRIMNET);
    cfg.width = 4;
    cfg.n_radiomic = 24;
    cfg.image_fusion = QR_NN_IMAGE_BRANCHES;
    small_patch(&cfg);
    check_arch("QSMRim-Net (two-branch image fusion)", cfg, QR_NN_SMOTE_OFF);
}

static void test_rimnet(void **state) {
    (void)state;
    qr_nn_config cfg = qr_nn_config_default(QR_NN_ARCH_RIMNET);
    cfg.width = 4;
    cfg.patch[0] = cfg.patch[1] = cfg.patch[2] = 16;
    cfg.rimnet_pool_stride = 2;
    check_arch("RimNet", cfg, QR_NN_SMOTE_OFF);
}

static void test_aprl(void **state) {
    (void)state;
    qr_nn_config cfg = qr_nn_config_default(QR_NN_ARCH_APRL_NN);
    cfg.width = 4;
    cfg.n_radiomic = 24;
    check_arch("APRL-NN", cfg, QR_NN_SMOTE_OFF);
}

int main(void) {
    qr_nn_context *g = NULL;
    if (cuda_test_context(&g) != QR_OK) {
        printf("no usable GPU: %s (skipped)\n", qr_last_error());
        return 77;
    }
    printf("GPU: %s\n", qr_nn_context_describe(g));
    qr_nn_context_free(g);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_qsmrimnet), cmocka_unit_test(test_qsmrimnet_paper),
                                       cmocka_unit_test(test_qsmrimnet_two_branch), cmocka_unit_test(test_rimnet),
                                       cmocka_unit_test(test_aprl)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
