#define _GNU_SOURCE
/*
 * test_learner.c - training on a tiny cohort (Testing/train/mini_cohort.c), through the learner
 * interface:
 *   - a network trained 3 epochs straight equals one interrupted after epoch 1 (cancel flag, the
 *     checkpoint kept) and resumed from its checkpoint: bit-identical predictions; a resume with
 *     other settings is refused naming the first that differs; the interruption's message says
 *     which checkpoint is kept (none when stopped in the first epoch);
 *   - the same seed gives the same model; another seed another;
 *   - model files round-trip (network and forest): predictions after save/load are identical,
 *     thresholds and provenance come back;
 *   - merging members averages their probabilities;
 *   - the plateau schedule (RimNet's) steps through its rates as the training loss stalls, applies
 *     them (the same model as the multistep schedule of the same rates) and resumes exactly;
 *   - on a GPU, training fed by the GPU's patch sampler matches training fed host patches
 *     (skipped without a GPU).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/fileutil.h"
#include "data/lesion_inputs.h"
#include "eval/curves.h"
#include "nn/nn.h"
#include "train/learner.h"

#include "train/mini_dataset.h"
#include "h5_times.h"

typedef struct stopper {
    int stop_after_epochs;
    volatile sig_atomic_t flag;
} stopper;

static void stop_cb(const qr_fit_progress *p, void *user) {
    stopper *s = user;
    if (p->epoch_done && p->epoch + 1 >= s->stop_after_epochs) s->flag = 1;
}

/* Train with checkpoints in ckpt, stopped by s (stop_cb). */
static void stop_into(qr_fit_options *o, stopper *s, const char *ckpt) {
    o->checkpoint = ckpt;
    o->progress = stop_cb;
    o->user = s;
    o->cancel = &s->flag;
}

static qr_train_config tiny_config(void) {
    qr_train_config cfg = qr_train_config_default();
    cfg.width = 2;
    cfg.epochs = 3;
    cfg.batch_size = 16;
    cfg.threads = 2;
    return cfg;
}

/* Options fitting a QSMRim-Net on the CPU with `seed` (no checkpoint, no progress). */
static qr_fit_options network_fit(const qr_train_config *cfg, uint64_t seed) {
    qr_fit_options o;
    memset(&o, 0, sizeof o);
    o.arch = QR_ARCH_QSMRIMNET;
    o.cfg = cfg;
    o.seed = seed;
    o.device = "cpu";
    return o;
}

static void all_lesions(int64_t **idx, int64_t *n) {
    *n = g_ds.n;
    *idx = malloc((size_t)g_ds.n * sizeof **idx);
    for (int64_t i = 0; i < g_ds.n; i++) (*idx)[i] = i;
}

static void test_resume_is_exact(void **state) {
    (void)state;
    qr_train_config cfg = tiny_config();
    int64_t *idx, n;
    all_lesions(&idx, &n);
    qr_fit_options o = network_fit(&cfg, 5);
    qr_learner *straight, *resumed, *other;
    assert_int_equal(qr_learner_fit(&g_ds, idx, n, &o, &straight), QR_OK);

    char ckpt[1024];
    snprintf(ckpt, sizeof ckpt, "%s/run.ckpt.h5", g_dir);
    stopper s = {1, 0};
    stop_into(&o, &s, ckpt);
    assert_int_equal(qr_learner_fit(&g_ds, idx, n, &o, &resumed), QR_ERR_CANCELLED);
    assert_true(qr_path_is_file(ckpt)); /* the last epoch's checkpoint is kept */
    assert_int_equal(h5_timed_objects(ckpt), 0);
    assert_string_equal(qr_last_error(), "training interrupted in epoch 2 (the checkpoint of epoch 1 is kept)");
    /* stopped in the first epoch: no checkpoint, and the message does not claim one */
    char early[1100];
    snprintf(early, sizeof early, "%s/early.ckpt.h5", g_dir);
    stopper at_once = {1, 1};
    qr_fit_options e = o;
    e.checkpoint = early;
    e.user = &at_once;
    e.cancel = &at_once.flag;
    qr_learner *none = NULL;
    assert_int_equal(qr_learner_fit(&g_ds, idx, n, &e, &none), QR_ERR_CANCELLED);
    assert_string_equal(qr_last_error(), "training interrupted in epoch 1 (before the first checkpoint)");
    assert_false(qr_path_is_file(early));
    s.stop_after_epochs = 1000;
    s.flag = 0;
    o.resume = 1;
    /* a checkpoint written with other settings is not resumed from (and stays) */
    o.settings = "epochs: 99\n";
    assert_int_equal(qr_learner_fit(&g_ds, idx, n, &o, &resumed), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "the checkpoint was written with other training settings ('' there, "
                                            "'epochs: 99' now)"));
    assert_true(qr_path_is_file(ckpt));
    o.settings = NULL;
    assert_int_equal(qr_learner_fit(&g_ds, idx, n, &o, &resumed), QR_OK);

    double *pa = malloc((size_t)n * sizeof *pa), *pb = malloc((size_t)n * sizeof *pb), *pc = malloc((size_t)n * sizeof *pc);
    assert_int_equal(qr_learner_predict(straight, &g_ds, idx, n, pa, NULL), QR_OK);
    assert_int_equal(qr_learner_predict(resumed, &g_ds, idx, n, pb, NULL), QR_OK);
    assert_memory_equal(pa, pb, (size_t)n * sizeof *pa);

    /* another seed, another model */
    o = network_fit(&cfg, 6);
    assert_int_equal(qr_learner_fit(&g_ds, idx, n, &o, &other), QR_OK);
    assert_int_equal(qr_learner_predict(other, &g_ds, idx, n, pc, NULL), QR_OK);
    assert_memory_not_equal(pa, pc, (size_t)n * sizeof *pa);

    /* merged: two members, mean probability */
    double *pm = malloc((size_t)n * sizeof *pm), *mp = malloc((size_t)n * 2 * sizeof *mp);
    assert_int_equal(qr_learner_merge(straight, other), QR_OK);
    assert_int_equal(qr_learner_members(straight), 2);
    assert_int_equal(qr_learner_predict(straight, &g_ds, idx, n, pm, mp), QR_OK);
    for (int64_t i = 0; i < n; i++) {
        assert_true(fabs(mp[i * 2] - pa[i]) < 1e-6 && fabs(mp[i * 2 + 1] - pc[i]) < 1e-6);
        assert_true(fabs(pm[i] - (pa[i] + pc[i]) / 2) < 1e-6);
    }

    /* save and load */
    char path[1024];
    snprintf(path, sizeof path, "%s/model.h5", g_dir);
    qr_model_info info;
    memset(&info, 0, sizeof info);
    info.threshold_f1 = 0.42;
    info.threshold_sensitive = 0.17;
    snprintf(info.training_data, sizeof info.training_data, "mini cohort");
    info.seed = 5;
    assert_int_equal(qr_learner_save(straight, path, &info), QR_OK);
    assert_int_equal(h5_timed_objects(path), 0); /* the same content, the same bytes (but the date) */
    qr_learner *loaded;
    qr_model_info back;
    assert_int_equal(qr_learner_load(path, "cpu", &loaded, &back), QR_OK);
    assert_int_equal(qr_learner_members(loaded), 2);
    assert_true(back.threshold_f1 == 0.42 && back.threshold_sensitive == 0.17);
    assert_string_equal(back.training_data, "mini cohort");
    assert_null(back.training_qsm);
    uint64_t *subs;
    int64_t nsubs;
    assert_int_equal(qr_model_training_subjects(path, &subs, &nsubs), QR_OK); /* saved without the record */
    assert_int_equal(nsubs, 0);
    assert_null(subs);
    assert_int_equal(qr_learner_predict(loaded, &g_ds, idx, n, pb, NULL), QR_OK);
    assert_memory_equal(pm, pb, (size_t)n * sizeof *pm);
    qr_learner_free(loaded);
    qr_learner_free(straight);
    qr_learner_free(resumed);
    free(pa);
    free(pb);
    free(pc);
    free(pm);
    free(mp);
    free(idx);
}

static char g_notices[2048];
static void keep_notices(qr_log_level level, const char *message, void *user) {
    (void)user;
    if (level == QR_LOG_NOTICE && strlen(g_notices) + strlen(message) + 2 < sizeof g_notices) {
        strcat(g_notices, message);
        strcat(g_notices, "\n");
    }
}

/* lr_schedule plateau with a min_delta no loss can beat and patience 1: every epoch after the first
 * is a plateau, so epochs 1-4 train at 1e-4, 1e-4, 5e-5, 2.5e-5 - what multistep with gamma 0.5 at
 * epochs 2 and 3 gives, bit for bit (halving a double is exact). Stopped after epoch 2 and resumed,
 * the schedule's state comes back from the checkpoint. */
static void test_plateau_schedule(void **state) {
    (void)state;
    qr_train_config cfg = tiny_config();
    cfg.epochs = 4;
    snprintf(cfg.lr_schedule, sizeof cfg.lr_schedule, "plateau");
    cfg.plateau_patience = 1;
    cfg.plateau_min_delta = 1e6;
    int64_t *idx, n;
    all_lesions(&idx, &n);
    qr_fit_options o = network_fit(&cfg, 7);
    qr_learner *plateau, *multistep, *resumed;
    g_notices[0] = '\0';
    qr_set_log_sink(keep_notices, NULL);
    assert_int_equal(qr_learner_fit(&g_ds, idx, n, &o, &plateau), QR_OK);
    qr_set_log_sink(NULL, NULL);
    const char *steps[] = {"epoch 2: the training loss has not fallen for 1 epoch ", "learning rate 0.0001 -> 5e-05\n",
                           "epoch 3: ", "learning rate 5e-05 -> 2.5e-05\n", "epoch 4: ", "learning rate 2.5e-05 -> 1e-05\n"};
    const char *at = g_notices;
    for (int k = 0; k < 6; k++) {
        const char *hit = strstr(at, steps[k]);
        if (!hit) fail_msg("notices lack '%s' (in order): %s", steps[k], g_notices);
        at = hit + strlen(steps[k]);
    }

    qr_train_config ms = tiny_config();
    ms.epochs = 4;
    snprintf(ms.lr_schedule, sizeof ms.lr_schedule, "multistep");
    ms.n_milestones = 2;
    ms.milestones[0] = 0.5;
    ms.milestones[1] = 0.75;
    ms.lr_gamma = 0.5;
    qr_fit_options om = network_fit(&ms, 7);
    assert_int_equal(qr_learner_fit(&g_ds, idx, n, &om, &multistep), QR_OK);

    char ckpt[1024];
    snprintf(ckpt, sizeof ckpt, "%s/plateau.ckpt.h5", g_dir);
    stopper s = {2, 0};
    stop_into(&o, &s, ckpt);
    assert_int_equal(qr_learner_fit(&g_ds, idx, n, &o, &resumed), QR_ERR_CANCELLED);
    s.stop_after_epochs = 1000;
    s.flag = 0;
    o.resume = 1;
    assert_int_equal(qr_learner_fit(&g_ds, idx, n, &o, &resumed), QR_OK);

    double *pa = malloc((size_t)n * sizeof *pa), *pb = malloc((size_t)n * sizeof *pb), *pc = malloc((size_t)n * sizeof *pc);
    assert_int_equal(qr_learner_predict(plateau, &g_ds, idx, n, pa, NULL), QR_OK);
    assert_int_equal(qr_learner_predict(multistep, &g_ds, idx, n, pb, NULL), QR_OK);
    assert_int_equal(qr_learner_predict(resumed, &g_ds, idx, n, pc, NULL), QR_OK);
    assert_memory_equal(pa, pb, (size_t)n * sizeof *pa);
    assert_memory_equal(pa, pc, (size_t)n * sizeof *pa);
    /* and the schedule matters: the default multistep (x0.1 at epochs 2, 3) gives another model */
    qr_train_config def = tiny_config();
    def.epochs = 4;
    qr_fit_options od = network_fit(&def, 7);
    qr_learner *other;
    assert_int_equal(qr_learner_fit(&g_ds, idx, n, &od, &other), QR_OK);
    assert_int_equal(qr_learner_predict(other, &g_ds, idx, n, pb, NULL), QR_OK);
    assert_memory_not_equal(pa, pb, (size_t)n * sizeof *pa);
    qr_learner_free(plateau);
    qr_learner_free(multistep);
    qr_learner_free(resumed);
    qr_learner_free(other);
    free(pa);
    free(pb);
    free(pc);
    free(idx);
}

static void test_forest_learner(void **state) {
    (void)state;
    qr_train_config cfg = tiny_config();
    cfg.rf_trees = 80;
    cfg.rf_tune_trees = 20;
    cfg.n_mtry = 3;
    cfg.rf_mtry[0] = 1;
    cfg.rf_mtry[1] = 3;
    cfg.rf_mtry[2] = 30; /* capped at the 18 first-order features */
    int64_t *idx, n;
    all_lesions(&idx, &n);
    qr_fit_options o;
    memset(&o, 0, sizeof o);
    o.arch = QR_ARCH_APRL_RF;
    o.cfg = &cfg;
    o.seed = 2;
    qr_learner *l, *loaded;
    assert_int_equal(qr_learner_fit(&g_ds, idx, n, &o, &l), QR_OK);
    double *pa = malloc((size_t)n * sizeof *pa), *pb = malloc((size_t)n * sizeof *pb);
    assert_int_equal(qr_learner_predict(l, &g_ds, idx, n, pa, NULL), QR_OK);
    char path[1024];
    snprintf(path, sizeof path, "%s/rf.h5", g_dir);
    qr_model_info info;
    memset(&info, 0, sizeof info);
    info.threshold_f1 = 0.5;
    info.threshold_sensitive = NAN;
    const uint64_t trained[3] = {1, 0xFEDCBA9876543210ull, 42};
    info.training_qsm = trained;
    info.n_training_qsm = 3;
    assert_int_equal(qr_learner_save(l, path, &info), QR_OK);
    assert_int_equal(h5_timed_objects(path), 0);
    uint64_t *subs;
    int64_t nsubs;
    assert_int_equal(qr_model_training_subjects(path, &subs, &nsubs), QR_OK);
    assert_int_equal(nsubs, 3);
    assert_memory_equal(subs, trained, sizeof trained);
    free(subs);
    qr_model_info back;
    assert_int_equal(qr_learner_load(path, "cpu", &loaded, &back), QR_OK);
    assert_int_equal(qr_learner_arch(loaded), QR_ARCH_APRL_RF);
    assert_true(back.threshold_f1 == 0.5 && isnan(back.threshold_sensitive));
    assert_int_equal(qr_learner_predict(loaded, &g_ds, idx, n, pb, NULL), QR_OK);
    assert_memory_equal(pa, pb, (size_t)n * sizeof *pa);
    /* the training lesions are fitted well */
    double auc;
    int *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; i++) y[i] = g_ds.label[i];
    assert_int_equal(qr_roc_auc(y, pa, NULL, n, 1.0, &auc), QR_OK);
    assert_true(auc > 0.9);
    free(y);
    qr_learner_free(l);
    qr_learner_free(loaded);
    free(pa);
    free(pb);
    free(idx);
}

/* The Table 3 two-branch comparator (one ResNet per contrast, image only) trains through the
 * learner and its model file carries the setting: after save/load the predictions are identical,
 * and they differ from the one-encoder network trained with the same seed. */
static void test_two_branch_learner(void **state) {
    (void)state;
    qr_train_config cfg = tiny_config();
    snprintf(cfg.image_fusion, sizeof cfg.image_fusion, "branches");
    snprintf(cfg.deepsmote, sizeof cfg.deepsmote, "off");
    cfg.use_radiomics = 0;
    int64_t *idx, n;
    all_lesions(&idx, &n);
    qr_fit_options o = network_fit(&cfg, 5);
    qr_learner *two, *one, *loaded;
    assert_int_equal(qr_learner_fit(&g_ds, idx, n, &o, &two), QR_OK);
    char path[1024];
    snprintf(path, sizeof path, "%s/branches.h5", g_dir);
    qr_model_info info;
    memset(&info, 0, sizeof info);
    info.threshold_f1 = info.threshold_sensitive = NAN;
    assert_int_equal(qr_learner_save(two, path, &info), QR_OK);
    assert_int_equal(qr_learner_load(path, "cpu", &loaded, NULL), QR_OK);
    double *pa = malloc((size_t)n * sizeof *pa), *pb = malloc((size_t)n * sizeof *pb), *pc = malloc((size_t)n * sizeof *pc);
    assert_int_equal(qr_learner_predict(two, &g_ds, idx, n, pa, NULL), QR_OK);
    assert_int_equal(qr_learner_predict(loaded, &g_ds, idx, n, pb, NULL), QR_OK);
    assert_memory_equal(pa, pb, (size_t)n * sizeof *pa);
    for (int64_t i = 0; i < n; i++) assert_true(pa[i] > 0 && pa[i] < 1);
    snprintf(cfg.image_fusion, sizeof cfg.image_fusion, "channels");
    assert_int_equal(qr_learner_fit(&g_ds, idx, n, &o, &one), QR_OK);
    assert_int_equal(qr_learner_predict(one, &g_ds, idx, n, pc, NULL), QR_OK);
    assert_memory_not_equal(pa, pc, (size_t)n * sizeof *pa);
    qr_learner_free(two);
    qr_learner_free(one);
    qr_learner_free(loaded);
    free(pa);
    free(pb);
    free(pc);
    free(idx);
}

/* On a GPU: training fed by the GPU's patch sampler (patch_sampling: auto) against the same
 * training fed host patches (host) - the same draws, patches equal to float rounding - for
 * QSMRim-Net and RimNet: out-of-sample probabilities within 2e-3. Skipped without a GPU. */
static void test_gpu_patch_sampling(void **state) {
    (void)state;
    qr_nn_context_options co = qr_nn_context_options_default();
    co.device.kind = QR_NN_DEVICE_CUDA;
    qr_nn_context *probe = NULL;
    if (qr_nn_context_create(&co, &probe) != QR_OK) {
        printf("no usable GPU (%s): GPU patch sampling not tested here\n", qr_last_error());
        skip();
    }
    qr_nn_context_free(probe);
    int64_t *idx, n;
    all_lesions(&idx, &n);
    const qr_arch_id archs[2] = {QR_ARCH_QSMRIMNET, QR_ARCH_RIMNET};
    for (int k = 0; k < 2; k++) {
        qr_train_config cfg = tiny_config();
        cfg.rimnet_pool_stride = 2;
        double *p[2];
        for (int way = 0; way < 2; way++) {
            snprintf(cfg.patch_sampling, sizeof cfg.patch_sampling, "%s", way ? "host" : "auto");
            qr_fit_options o = network_fit(&cfg, 9);
            o.arch = archs[k];
            o.device = "cuda";
            qr_learner *l;
            assert_int_equal(qr_learner_fit(&g_ds, idx, n, &o, &l), QR_OK);
            p[way] = malloc((size_t)n * sizeof *p[way]);
            assert_int_equal(qr_learner_predict(l, &g_ds, idx, n, p[way], NULL), QR_OK);
            qr_learner_free(l);
        }
        double worst = 0;
        for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs(p[0][i] - p[1][i]));
        printf("  %s: GPU-sampled vs host-sampled training, largest probability difference %.3g over %lld lesions\n",
               qr_arch_to_name(archs[k]), worst, (long long)n);
        assert_true(worst <= 2e-3);
        free(p[0]);
        free(p[1]);
    }
    free(idx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forest_learner),
        cmocka_unit_test(test_resume_is_exact),
        cmocka_unit_test(test_plateau_schedule),
        cmocka_unit_test(test_two_branch_learner),
        cmocka_unit_test(test_gpu_patch_sampling),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
