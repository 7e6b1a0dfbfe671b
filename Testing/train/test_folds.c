/*
 * test_folds.c - stratified subject-level folds: every subject in exactly one fold, fold sizes
 * within one subject of each other, each rim+ count group (0, 1-3, 4-6, >6) spread over the folds
 * within one subject, the same folds for the same seed and other folds for another seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/rng.h"
#include "train/folds.h"
#include "train/pipeline.h"

static void test_groups(void **state) {
    (void)state;
    int64_t counts[] = {0, 1, 3, 4, 6, 7, 17};
    int want[] = {0, 1, 1, 2, 2, 3, 3};
    for (int i = 0; i < 7; i++) assert_int_equal(qr_rim_count_group(counts[i]), want[i]);
}

static void test_stratified(void **state) {
    (void)state;
    enum { N = 172, K = 5 };
    int64_t rim[N];
    qr_rng r;
    qr_rng_seed(&r, 3, 3);
    for (int s = 0; s < N; s++) {
        double u = qr_rng_uniform(&r);
        rim[s] = u < 0.55 ? 0 : (u < 0.8 ? 1 + (int64_t)qr_rng_below(&r, 3) : (u < 0.93 ? 4 + (int64_t)qr_rng_below(&r, 3) : 7 + (int64_t)qr_rng_below(&r, 10)));
    }
    int fold[N], again[N], other[N];
    assert_int_equal(qr_stratified_folds(rim, N, K, 42, fold), QR_OK);
    assert_int_equal(qr_stratified_folds(rim, N, K, 42, again), QR_OK);
    assert_int_equal(qr_stratified_folds(rim, N, K, 43, other), QR_OK);
    assert_memory_equal(fold, again, sizeof fold);
    assert_memory_not_equal(fold, other, sizeof fold);
    int size[K] = {0}, per_group[4][K];
    memset(per_group, 0, sizeof per_group);
    for (int s = 0; s < N; s++) {
        assert_true(fold[s] >= 0 && fold[s] < K);
        size[fold[s]]++;
        per_group[qr_rim_count_group(rim[s])][fold[s]]++;
    }
    for (int a = 0; a < K; a++)
        for (int b = 0; b < K; b++) {
            assert_true(size[a] - size[b] <= 1);
            for (int g = 0; g < 4; g++) assert_true(per_group[g][a] - per_group[g][b] <= 1);
        }
    assert_int_equal(qr_stratified_folds(rim, 3, 5, 1, fold), QR_ERR_INVALID_ARG);
    assert_int_equal(qr_stratified_folds(rim, N, 1, 1, fold), QR_ERR_INVALID_ARG);
}

/* The k of a held-out share h (pipeline.h: round(1/h), at least 2): the fold nearest the share asked. */
static void test_holdout_folds(void **state) {
    (void)state;
    assert_int_equal(qr_holdout_folds(0.2), 5);
    assert_int_equal(qr_holdout_folds(0.3), 3);  /* 3.33: a third, not a quarter */
    assert_int_equal(qr_holdout_folds(0.34), 3); /* 2.94 */
    assert_int_equal(qr_holdout_folds(0.4), 3);  /* 2.5 rounds away from zero */
    assert_int_equal(qr_holdout_folds(0.45), 2); /* 2.22 */
    assert_int_equal(qr_holdout_folds(0.9), 2);  /* 1.11 -> 1 -> at least 2 */
    assert_int_equal(qr_holdout_folds(0.15), 7); /* 6.67 */
    assert_int_equal(qr_holdout_folds(1e-12), INT_MAX);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_groups), cmocka_unit_test(test_stratified),
                                       cmocka_unit_test(test_holdout_folds)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
