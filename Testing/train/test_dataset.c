#define _GNU_SOURCE
/*
 * test_dataset.c - loading an annotated cohort (Testing/train/mini_cohort.c) and the lesion inputs:
 *   - the dataset loader: annotated lesions only (one left out), rim+ counts per subject, radiomic
 *     features (NaN for one-voxel lesions), a second load entirely from the feature cache with the
 *     same values;
 *   - lesion inputs: the inference input equals the training crop's unaugmented patch; RimNet
 *     context windows are rescaled to [-1, 1]; two quarter turns flip both in-plane axes.
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
#include "train/dataset.h"

#include "train/mini_dataset.h"

static void test_dataset(void **state) {
    (void)state;
    assert_int_equal(g_ds.nsubjects, 8);
    assert_int_equal(g_ds.n_unannotated, 1); /* the mini cohort leaves one lesion of subject 1 out */
    assert_int_equal(g_ds.nfeatures, 536);
    assert_true(g_ds.n_missing_features > 0);  /* its one-voxel lesions */
    int64_t sum = 0, pos = 0;
    for (int s = 0; s < g_ds.nsubjects; s++) {
        sum += g_ds.subject_lesions[s];
        pos += g_ds.subject_rimpos[s];
    }
    int64_t lab = 0;
    for (int64_t i = 0; i < g_ds.n; i++) lab += g_ds.label[i];
    assert_int_equal(sum, g_ds.n);
    assert_int_equal(pos, lab);
    assert_true(lab > 0 && lab < g_ds.n);
    assert_true(qr_dataset_feature(&g_ds, "original_firstorder_Mean") >= 0);
}

static void test_context_patch(void **state) {
    (void)state;
    qr_lesion_crop *c = &g_ds.crops[0];
    assert_true(c->voxels > 0);
    /* a context window of the same lesion: load the first subject again */
    char man[1024];
    snprintf(man, sizeof man, "%s/c/cohort.tsv", g_dir);
    qr_cohort co;
    assert_int_equal(qr_cohort_read(man, &co), QR_OK);
    qr_subject s;
    assert_int_equal(qr_subject_load(co.entries[0].qsm, co.entries[0].flair, co.entries[0].lesions, &s), QR_OK);
    qr_lesion_crop w;
    assert_int_equal(qr_context_crop_make(&s, &s.lesions.items[0], 2, 1, &w), QR_OK);
    float *p = malloc(QR_PATCH_SIZE * sizeof *p), *q = malloc(QR_PATCH_SIZE * sizeof *q);
    const int zero[3] = {0, 0, 0};
    qr_context_patch_sample(&w, 2, 1, zero, -1, 0, p);
    for (int ch = 0; ch < 2; ch++) {
        float lo = 1e9f, hi = -1e9f;
        for (int v = 0; v < QR_PATCH_VOXELS; v++) {
            lo = fminf(lo, p[ch * QR_PATCH_VOXELS + v]);
            hi = fmaxf(hi, p[ch * QR_PATCH_VOXELS + v]);
        }
        assert_true(lo == -1.0f && hi == 1.0f);
    }
    /* two quarter turns = flips of both in-plane axes */
    qr_context_patch_sample(&w, 2, 1, zero, -1, 2, q);
    for (int d = 0; d < QR_PATCH_D; d++)
        for (int h = 0; h < QR_PATCH_H; h++)
            for (int x = 0; x < QR_PATCH_W; x++)
                assert_true(q[x + 32 * (h + 32 * d)] == p[(31 - x) + 32 * ((31 - h) + 32 * d)]);
    /* the inference input of a lesion equals the unshifted context sample with no margin */
    float *r = malloc(QR_PATCH_SIZE * sizeof *r);
    assert_int_equal(qr_lesion_inputs(&s, &s.lesions.items[0], 1, NULL, NULL, r, NULL, NULL), QR_OK);
    assert_memory_equal(r, p, QR_PATCH_SIZE * sizeof *p);
    /* the masked input equals the dataset crop's patch */
    qr_intensity_scaling one = {1, 1};
    assert_int_equal(qr_lesion_inputs(&s, &s.lesions.items[0], 0, NULL, NULL, r, NULL, NULL), QR_OK);
    qr_patch_sample(c, &one, NULL, p);
    assert_memory_equal(r, p, QR_PATCH_SIZE * sizeof *p);
    free(p);
    free(q);
    free(r);
    qr_lesion_crop_free(&w);
    qr_subject_free(&s);
    qr_cohort_free(&co);
}

/* A one-subject dataset built from volumes in memory (what prediction does) holds every lesion of
 * the map, with the same features and crops as the cohort loader's annotated ones. */
static void test_from_subject(void **state) {
    (void)state;
    char man[1024];
    snprintf(man, sizeof man, "%s/c/cohort.tsv", g_dir);
    qr_cohort co;
    assert_int_equal(qr_cohort_read(man, &co), QR_OK);
    qr_subject s;
    assert_int_equal(qr_subject_load(co.entries[0].qsm, co.entries[0].flair, co.entries[0].lesions, &s), QR_OK);
    qr_subject view = qr_subject_view(&s.qsm, &s.flair, &s.labels, &s.lesions);
    qr_dataset_options o = {1, 0, 1, NULL, NULL, 2};
    qr_dataset one;
    assert_int_equal(qr_dataset_from_subject(&view, "sub-01", &o, &one), QR_OK);
    assert_int_equal(one.n, s.lesions.n); /* the unannotated lesion too */
    assert_int_equal(g_ds.subject_lesions[0], s.lesions.n - 1);
    int64_t matched = 0;
    for (int64_t i = 0; i < g_ds.n; i++) {
        if (g_ds.subject_of[i] != 0) continue;
        int64_t k = 0;
        while (k < one.n && one.lesion_id[k] != g_ds.lesion_id[i]) k++;
        assert_true(k < one.n);
        assert_int_equal(one.label[k], 0);
        for (int64_t f = 0; f < g_ds.nfeatures; f++) {
            double a = one.features[k * one.nfeatures + f], b = g_ds.features[i * g_ds.nfeatures + f];
            assert_true(a == b || (isnan(a) && isnan(b)));
        }
        assert_int_equal(one.nvox[k], g_ds.nvox[i]);
        matched++;
    }
    assert_int_equal(matched, s.lesions.n - 1);
    qr_dataset_free(&one);
    qr_subject_free(&s);
    qr_cohort_free(&co);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dataset),
        cmocka_unit_test(test_context_patch),
        cmocka_unit_test(test_from_subject),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
