/*
 * test_predict_nomem.c - a subject's prediction when memory runs out, one allocation at a time.
 *
 * Every allocation the library makes goes through counting wrappers (alloc_faults.h) that can
 * make the k-th one fail. A synthetic subject (four lesions, one at the volume's edge) is scored
 * with the shipped model - lesion splitting, radiomics, patches, the network, decisions and the
 * output volumes - once without failures and then once for each allocation failing in turn; the
 * model file is loaded the same way. Each run must end in QR_ERR_NOMEM with a message, or succeed
 * (a failure some code works around) with exactly the results of the run without failures. One
 * thread, so the allocations come in the same order every time.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_faults.h"
#include "core/rng.h"
#include "predict/predict.h"
#include "predict/score.h"

/* 40 x 40 x 10 voxels of 0.75 x 0.75 x 3 mm (the model's grid): QSM noise, FLAIR, four lesions,
 * two with a paramagnetic rim, one touching the volume's edge. */
static void make_subject(qr_volume *qsm, qr_volume *flair, qr_volume *lab) {
    qr_geometry g = qr_geometry_identity(40, 40, 10);
    g.spacing[0] = g.spacing[1] = 0.75;
    g.spacing[2] = 3.0;
    assert_int_equal(qr_volume_alloc(qsm, &g, QR_FLOAT32), QR_OK);
    assert_int_equal(qr_volume_alloc(flair, &g, QR_FLOAT32), QR_OK);
    assert_int_equal(qr_volume_alloc(lab, &g, QR_INT32), QR_OK);
    qr_rng rng;
    qr_rng_seed(&rng, 11, 1);
    static const double C[4][4] = {{10, 10, 5, 4}, {28, 12, 4, 5}, {20, 28, 6, 3.5}, {0, 30, 2, 4}}; /* i j k radius */
    for (int64_t k = 0; k < 10; k++)
        for (int64_t j = 0; j < 40; j++)
            for (int64_t i = 0; i < 40; i++) {
                const int64_t idx = qr_geometry_index(&g, i, j, k);
                float q = (float)(5 * qr_rng_normal(&rng)), f = (float)(300 + 20 * qr_rng_normal(&rng));
                int32_t l = 0;
                for (int c = 0; c < 4; c++) {
                    const double di = i - C[c][0], dj = j - C[c][1], dk = 4.0 * (k - C[c][2]);
                    const double r = sqrt(di * di + dj * dj + dk * dk);
                    if (r <= C[c][3]) {
                        l = c + 1;
                        f += 250;
                        if (c % 2 == 0 && r > C[c][3] - 1.5) q += 40; /* the rim */
                    }
                }
                qr_volume_f32(qsm)[idx] = q;
                qr_volume_f32(flair)[idx] = f;
                qr_volume_i32(lab)[idx] = l;
            }
}

static int same_prediction(const qr_prediction *a, const qr_prediction *b) {
    return a->n == b->n && memcmp(a->lesions, b->lesions, sizeof *a->lesions * (size_t)a->n) == 0 &&
           a->n_rim_positive == b->n_rim_positive && a->n_review == b->n_review &&
           memcmp(a->overlay.data, b->overlay.data, (size_t)qr_volume_nvox(&a->overlay) * sizeof(int32_t)) == 0 &&
           memcmp(a->probability.data, b->probability.data, (size_t)qr_volume_nvox(&a->probability) * sizeof(float)) == 0;
}

static void test_predict_every_allocation_failing(void **state) {
    (void)state;
    qr_volume qsm, flair, lab;
    make_subject(&qsm, &flair, &lab);
    qr_scorer *sc;
    alloc_faults_fail_at(-1);
    assert_int_equal(qr_scorer_open(NULL, "cpu", 1, &sc), QR_OK);
    qr_predict_options o = qr_predict_options_default();
    o.scorer = sc;
    o.threads = 1;
    qr_prediction want, got;
    assert_int_equal(qr_predict_volumes(&qsm, &flair, &lab, &o, &want), QR_OK);
    assert_int_equal(want.n, 4);
    long k = 0, nomem = 0, bad = 0;
    for (;; k++) {
        alloc_faults_fail_at(k);
        qr_clear_error();
        const qr_status s = qr_predict_volumes(&qsm, &flair, &lab, &o, &got);
        const long made = alloc_faults_count();
        alloc_faults_fail_at(-1);
        alloc_faults_judge(k, s, s == QR_OK && same_prediction(&want, &got), &nomem, &bad);
        if (s == QR_OK) qr_prediction_free(&got);
        if (s == QR_OK && made <= k) break; /* nothing failed: every allocation has had its turn */
    }
    printf("prediction: %ld allocations failing in turn: %ld out-of-memory, %ld mishandled\n", k, nomem, bad);
    assert_int_equal(bad, 0);
    assert_true(nomem > 100);
    qr_prediction_free(&want);
    qr_scorer_close(sc);
    qr_volume_free(&qsm);
    qr_volume_free(&flair);
    qr_volume_free(&lab);
}

/* Loading the shipped model (an ensemble read from HDF5) with each allocation failing in turn. */
static void test_model_load_every_allocation_failing(void **state) {
    (void)state;
    long k = 0, nomem = 0, bad = 0;
    for (;; k++) {
        qr_scorer *sc = NULL;
        alloc_faults_fail_at(k);
        qr_clear_error();
        const qr_status s = qr_scorer_open(NULL, "cpu", 1, &sc);
        const long made = alloc_faults_count();
        alloc_faults_fail_at(-1);
        alloc_faults_judge(k, s, 1, &nomem, &bad);
        if (s != QR_OK && sc) {
            printf("allocation %ld failing: a scorer handed out with the error\n", k);
            bad++;
        }
        qr_scorer_close(sc);
        if (s == QR_OK && made <= k) break;
    }
    printf("model load: %ld allocations failing in turn: %ld out-of-memory, %ld mishandled\n", k, nomem, bad);
    assert_int_equal(bad, 0);
    assert_true(nomem > 10);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_model_load_every_allocation_failing),
                                       cmocka_unit_test(test_predict_every_allocation_failing)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
