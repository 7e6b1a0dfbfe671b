/*
 * test_radiomics_nomem.c - radiomics when memory runs out, one allocation at a time.
 *
 * Every allocation the library makes goes through counting wrappers (alloc_faults.h) that can
 * make the k-th one fail. For k = 0, 1, 2, ... (until a run makes fewer than k allocations) one
 * lesion's 536 QSMRim-Net preset features (Original + coif1 wavelet; shape, firstorder, glcm,
 * glrlm) are computed with the k-th allocation failing: each run must return QR_ERR_NOMEM with a
 * message, or succeed (a failure some code works around) with exactly the values of a run
 * without failures - never crash, free twice (the sanitizer build checks that), or report the
 * failure as anything else. Also a lesion at the volume's corner (the wavelet's wrap-around),
 * double-precision filtering (an integer or float64 image's), and every feature class (glszm,
 * gldm, ngtdm too) on the original image.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_faults.h"
#include "core/rng.h"
#include "radiomics/radiomics.h"

/* A 14 x 12 x 9 volume with one lesion: a ball in the middle, or a block in a corner. */
static void make_case(int corner, qr_volume *im, qr_volume *lab) {
    qr_geometry g = qr_geometry_identity(14, 12, 9);
    g.spacing[2] = 2.0;
    assert_int_equal(qr_volume_alloc(im, &g, QR_FLOAT32), QR_OK);
    assert_int_equal(qr_volume_alloc(lab, &g, QR_INT32), QR_OK);
    qr_rng rng;
    qr_rng_seed(&rng, 7, 1);
    int32_t *l = qr_volume_i32(lab);
    for (int64_t k = 0; k < 9; k++)
        for (int64_t j = 0; j < 12; j++)
            for (int64_t i = 0; i < 14; i++) {
                const int64_t idx = qr_geometry_index(&g, i, j, k);
                qr_volume_f32(im)[idx] = (float)(40 * qr_rng_normal(&rng) + 3.0 * i - 2.0 * k);
                const double r2 = (i - 7.0) * (i - 7.0) + (j - 6.0) * (j - 6.0) + 4.0 * (k - 4.0) * (k - 4.0);
                l[idx] = corner ? (i < 4 && j < 3 && k < 3) : r2 <= 14.0;
            }
}

/* params: a parameter file's text, or NULL for the QSMRim-Net preset */
static void run_all_failures(const char *params, qr_radiomics_precision precision, int corner) {
    qr_volume im, lab;
    make_case(corner, &im, &lab);
    qr_radiomics_options opt = qr_radiomics_options_default();
    opt.precision = precision;
    qr_radiomics *r;
    assert_int_equal(params ? qr_radiomics_load_text(params, "test", &r) : qr_radiomics_load(NULL, &r), QR_OK);
    const int64_t n = qr_radiomics_count(r);
    if (!params) assert_int_equal(n, 536);
    double *want = malloc(sizeof *want * (size_t)n), *got = malloc(sizeof *got * (size_t)n);
    assert_non_null(want);
    assert_non_null(got);
    alloc_faults_fail_at(-1);
    assert_int_equal(qr_radiomics_compute_ex(r, &im, &lab, 1, &opt, want), QR_OK);
    long k = 0, nomem = 0, worked_around = 0;
    for (;; k++) {
        alloc_faults_fail_at(k);
        qr_clear_error();
        const qr_status s = qr_radiomics_compute_ex(r, &im, &lab, 1, &opt, got);
        const long made = alloc_faults_count();
        alloc_faults_fail_at(-1);
        if (made <= k) { /* fewer allocations than k: nothing failed, the result is the same */
            assert_int_equal(s, QR_OK);
            assert_memory_equal(got, want, sizeof *got * (size_t)n);
            break;
        }
        if (s == QR_OK) { /* a failure worked around (a smaller buffer, a slower path): same values */
            for (int64_t i = 0; i < n; i++)
                if (memcmp(&got[i], &want[i], sizeof *got) != 0)
                    fail_msg("allocation %ld failing changed %s (%.17g, not %.17g) and reported success", k,
                             qr_radiomics_name(r, i), got[i], want[i]);
            worked_around++;
            continue;
        }
        if (s != QR_ERR_NOMEM)
            fail_msg("allocation %ld failing gave status %s (%s), not out-of-memory", k, qr_status_name(s), qr_last_error());
        assert_true(qr_last_error()[0] != '\0');
        nomem++;
    }
    printf("%s, %s precision, %s lesion: %ld allocations failing in turn: %ld out-of-memory, %ld worked around\n",
           params ? "all feature classes" : "preset", precision == QR_RADIOMICS_SINGLE ? "single" : "double",
           corner ? "corner" : "interior", k, nomem, worked_around);
    assert_true(nomem > 20);
    free(want);
    free(got);
    qr_radiomics_free(r);
    qr_volume_free(&im);
    qr_volume_free(&lab);
}

static void test_interior_float32(void **state) {
    (void)state;
    run_all_failures(NULL, QR_RADIOMICS_SINGLE, 0);
}

static void test_corner_float32(void **state) {
    (void)state;
    run_all_failures(NULL, QR_RADIOMICS_SINGLE, 1);
}

static void test_interior_double(void **state) {
    (void)state;
    run_all_failures(NULL, QR_RADIOMICS_DOUBLE, 0);
}

/* Every feature class PyRadiomics has, on the original image. */
static void test_all_classes(void **state) {
    (void)state;
    run_all_failures("imageType:\n  Original: {}\nfeatureClass:\n  shape:\n  firstorder:\n  glcm:\n  glrlm:\n"
                     "  glszm:\n  gldm:\n  ngtdm:\nsetting:\n  binWidth: 25\n",
                     QR_RADIOMICS_SINGLE, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_interior_float32), cmocka_unit_test(test_corner_float32),
                                       cmocka_unit_test(test_interior_double), cmocka_unit_test(test_all_classes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
