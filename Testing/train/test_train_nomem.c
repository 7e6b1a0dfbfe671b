/*
 * test_train_nomem.c - training when memory runs out.
 *
 * Every allocation the library makes goes through counting wrappers (alloc_faults.h) that can
 * make the k-th one fail. On the tiny annotated cohort (mini_dataset.h) a random forest (APRL-RF)
 * and a QSMRim-Net (width 2, one epoch, DeepSMOTE) are trained once without failures and then
 * with one allocation failing: every allocation of the first 150, then 150 more spread evenly over
 * the rest of the run (ALLOC_FAULTS_ALL=1 in the environment: every one). Each run must end in
 * QR_ERR_NOMEM with a message, or succeed (a failure some code works around) with a model whose
 * predictions equal the clean run's. One thread, so the allocations come in the same order.
 * Saving the trained model, and storing a feature table in the cache, with each allocation
 * failing in turn: out of memory (never "disk full", which sent users to free disk space), no
 * file left under the name or beside it; or the file written, reading back the same.
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

#include "alloc_faults.h"
#include "data/feature_cache.h"
#include "train/learner.h"

#include "train/mini_dataset.h"

/* Entries of the folder `dir` (hidden temporaries too). */
static int entries(const char *dir) {
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "ls -A '%s' 2>/dev/null | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p && fscanf(p, "%d", &n) != 1) n = -1;
    if (p) pclose(p);
    return n;
}

/* Saving the clean model `l` with each allocation of the save failing in turn. */
static void save_with_failures(qr_learner *l, const int64_t *idx, int64_t n, const double *want, const char *what) {
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/save", g_dir);
    snprintf(path, sizeof path, "%s/model.h5", dir);
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir '%s'", dir, dir);
    assert_int_equal(system(cmd), 0);
    alloc_faults_fail_at(-1);
    assert_int_equal(qr_learner_save(l, path, NULL), QR_OK);
    const long total = alloc_faults_count();
    double *got = malloc((size_t)n * sizeof *got);
    assert_non_null(got);
    long nomem = 0, bad = 0;
    for (long k = 0; k < total; k++) {
        remove(path);
        alloc_faults_fail_at(k);
        qr_clear_error();
        const qr_status s = qr_learner_save(l, path, NULL);
        alloc_faults_fail_at(-1);
        int same = 0;
        if (s == QR_OK) {
            qr_learner *back = NULL;
            assert_int_equal(qr_learner_load(path, "cpu", &back, NULL), QR_OK);
            assert_int_equal(qr_learner_predict(back, &g_ds, idx, n, got, NULL), QR_OK);
            same = memcmp(got, want, (size_t)n * sizeof *got) == 0;
            qr_learner_free(back);
        } else if (entries(dir) != 0) {
            printf("save, allocation %ld failing: %d files left in the folder\n", k, entries(dir));
            bad++;
        }
        alloc_faults_judge(k, s, same, &nomem, &bad);
    }
    printf("%s save: %ld allocations, each failing in turn: %ld out-of-memory, %ld mishandled\n", what, total, nomem, bad);
    assert_int_equal(bad, 0);
    assert_true(nomem >= 1);
    free(got);
}

static void fit_with_failures(qr_arch_id arch) {
    qr_train_config cfg = qr_train_config_default();
    cfg.width = 2;
    cfg.epochs = 1;
    cfg.batch_size = 16;
    cfg.threads = 1;
    cfg.rf_trees = 20;
    cfg.rf_tune_trees = 10;
    cfg.rf_inner_folds = 2;
    qr_fit_options o;
    memset(&o, 0, sizeof o);
    o.arch = arch;
    o.cfg = &cfg;
    o.seed = 3;
    o.device = "cpu";
    const int64_t n = g_ds.n;
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    double *want = malloc((size_t)n * sizeof *want), *got = malloc((size_t)n * sizeof *got);
    assert_non_null(idx);
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    qr_learner *l;
    alloc_faults_fail_at(-1);
    assert_int_equal(qr_learner_fit(&g_ds, idx, n, &o, &l), QR_OK);
    const long total = alloc_faults_count();
    assert_int_equal(qr_learner_predict(l, &g_ds, idx, n, want, NULL), QR_OK);
    save_with_failures(l, idx, n, want, arch == QR_ARCH_APRL_RF ? "random forest" : "QSMRim-Net");
    qr_learner_free(l);
    long tried = 0, nomem = 0, bad = 0, prev = -1;
    const int all = getenv("ALLOC_FAULTS_ALL") != NULL;
    for (long t = 0; t < (all ? total : 300); t++) {
        const long k = all || t < 150 ? t : 150 + (t - 150) * (total - 150) / 150;
        if (k >= total || k == prev) continue;
        prev = k;
        tried++;
        qr_learner *f = NULL;
        alloc_faults_fail_at(k);
        qr_clear_error();
        const qr_status s = qr_learner_fit(&g_ds, idx, n, &o, &f);
        alloc_faults_fail_at(-1);
        int same = 0;
        if (s == QR_OK) {
            assert_int_equal(qr_learner_predict(f, &g_ds, idx, n, got, NULL), QR_OK);
            same = memcmp(got, want, (size_t)n * sizeof *got) == 0;
            qr_learner_free(f);
        }
        alloc_faults_judge(k, s, same, &nomem, &bad);
        if (s != QR_OK && f) {
            printf("allocation %ld failing: a model handed out with the error\n", k);
            bad++;
        }
    }
    printf("%s: %ld allocations in a run, %ld of them failing in turn: %ld out-of-memory, %ld mishandled\n",
           arch == QR_ARCH_APRL_RF ? "random forest" : "QSMRim-Net", total, tried, nomem, bad);
    assert_int_equal(bad, 0);
    assert_true(nomem > 100);
    free(idx);
    free(want);
    free(got);
}

static void test_forest(void **state) {
    (void)state;
    fit_with_failures(QR_ARCH_APRL_RF);
}

static void test_network(void **state) {
    (void)state;
    fit_with_failures(QR_ARCH_QSMRIMNET);
}

/* A feature table stored in the cache with each allocation of the store failing in turn. */
static void test_cache_store(void **state) {
    (void)state;
    enum { N = 3, F = 2 };
    int32_t ids[N] = {1, 2, 5};
    double v[N * F] = {0.5, -1, 2, 3.25, 1e-3, 7};
    const char *names[F] = {"original_firstorder_Mean", "original_shape_VoxelVolume"};
    qr_feature_table t = {N, F, ids, v};
    char dir[600];
    snprintf(dir, sizeof dir, "%s/store", g_dir);
    alloc_faults_fail_at(-1);
    assert_int_equal(qr_feature_cache_store(dir, "k0", names, &t, "q", "l"), QR_OK);
    const long total = alloc_faults_count();
    long nomem = 0, bad = 0;
    for (long k = 0; k < total; k++) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
        alloc_faults_fail_at(k);
        qr_clear_error();
        const qr_status s = qr_feature_cache_store(dir, "k0", names, &t, "q", "l");
        alloc_faults_fail_at(-1);
        int same = 0;
        if (s == QR_OK) {
            qr_feature_table back;
            int found = 0;
            assert_int_equal(qr_feature_cache_load(dir, "k0", names, F, &back, &found), QR_OK);
            same = found && back.n == N && memcmp(back.values, v, sizeof v) == 0 && memcmp(back.lesion_id, ids, sizeof ids) == 0;
            if (found) qr_feature_table_free(&back);
        } else if (entries(dir) > 0) {
            printf("cache store, allocation %ld failing: %d files left in the folder\n", k, entries(dir));
            bad++;
        }
        alloc_faults_judge(k, s, same, &nomem, &bad);
    }
    printf("feature cache store: %ld allocations, each failing in turn: %ld out-of-memory, %ld mishandled\n", total,
           nomem, bad);
    assert_int_equal(bad, 0);
    assert_true(nomem >= 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cache_store), cmocka_unit_test(test_forest),
                                       cmocka_unit_test(test_network)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
