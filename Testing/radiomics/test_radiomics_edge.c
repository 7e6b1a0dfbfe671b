/*
 * test_radiomics_edge.c - the radiomics engine's edge cases, settings and API contract.
 *
 * Expected values are PyRadiomics' documented conventions (flat-region values, the floor binning
 * formula of getBinEdges, checkMask's rules) or PyRadiomics' own reference table (the preset on
 * brain1 against expected/brain1_original_wavelet_bw25.csv).
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
#ifdef QSMRIM_HAVE_OPENMP
#include <omp.h>
#endif

#include "core/rng.h"
#include "io/imageio.h"
#include "radiomics/refdata.h"
#include "radiomics/rx_internal.h"

#define DATA QSMRIM_TEST_DATA "/pyradiomics"

/* ------------------------------------------------------------------ helpers */
static void make_pair(qr_volume *im, qr_volume *lab, int64_t ni, int64_t nj, int64_t nk, uint64_t seed) {
    qr_geometry g = qr_geometry_identity(ni, nj, nk);
    g.spacing[0] = g.spacing[1] = 0.75;
    g.spacing[2] = 3.0;
    assert_int_equal(qr_volume_alloc(im, &g, QR_FLOAT32), QR_OK);
    assert_int_equal(qr_volume_alloc(lab, &g, QR_INT32), QR_OK);
    qr_rng r;
    qr_rng_seed(&r, seed, 0);
    float *v = qr_volume_f32(im);
    for (int64_t i = 0; i < qr_volume_nvox(im); i++) v[i] = (float)(11 * qr_rng_normal(&r));
}

static void set_label(qr_volume *lab, int64_t i, int64_t j, int64_t k, int32_t l) {
    qr_volume_i32(lab)[qr_geometry_index(&lab->geom, i, j, k)] = l;
}
static void set_value(qr_volume *im, int64_t i, int64_t j, int64_t k, float v) {
    qr_volume_f32(im)[qr_geometry_index(&im->geom, i, j, k)] = v;
}

/* a blob of label l: an ellipsoid-ish box of radius (ri, rj, rk) around (ci, cj, ck) */
static void blob(qr_volume *lab, int64_t ci, int64_t cj, int64_t ck, int ri, int rj, int rk, int32_t l) {
    for (int64_t k = ck - rk; k <= ck + rk; k++)
        for (int64_t j = cj - rj; j <= cj + rj; j++)
            for (int64_t i = ci - ri; i <= ci + ri; i++) {
                double d = 0;
                d += ri ? ((double)(i - ci) / ri) * ((double)(i - ci) / ri) : 0;
                d += rj ? ((double)(j - cj) / rj) * ((double)(j - cj) / rj) : 0;
                d += rk ? ((double)(k - ck) / rk) * ((double)(k - ck) / rk) : 0;
                if (d <= 1.0 && i >= 0 && j >= 0 && k >= 0 && i < lab->geom.size[0] && j < lab->geom.size[1] &&
                    k < lab->geom.size[2])
                    set_label(lab, i, j, k, l);
            }
}

static qr_radiomics *load_text(const char *text) {
    qr_radiomics *r = NULL;
    qr_status s = qr_radiomics_load_text(text, "test parameters", &r);
    if (s != QR_OK) printf("%s\n", qr_last_error());
    assert_int_equal(s, QR_OK);
    return r;
}

static int64_t find(const qr_radiomics *r, const char *name) {
    for (int64_t i = 0; i < qr_radiomics_count(r); i++)
        if (!strcmp(qr_radiomics_name(r, i), name)) return i;
    fail_msg("feature %s not in the configuration", name);
    return -1;
}

static double feature(const qr_radiomics *r, const double *f, const char *name) { return f[find(r, name)]; }

static int all_nan(const double *f, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isnan(f[i])) return 0;
    return 1;
}

static const char *ORIGINAL_ALL = "imageType:\n  Original: {}\n"
                                  "featureClass:\n  shape:\n  firstorder:\n  glcm:\n  glrlm:\n  glszm:\n  gldm:\n  ngtdm:\n";

/* ------------------------------------------------------------------ the preset */
static void test_preset_names_and_resource(void **state) {
    (void)state;
    qr_radiomics *r;
    assert_int_equal(qr_radiomics_load(NULL, &r), QR_OK);
    assert_int_equal(qr_radiomics_count(r), 536);
    assert_int_equal(qr_radiomics_label(r), 1);
    assert_string_equal(qr_radiomics_name(r, 0), "original_shape_Elongation");
    assert_string_equal(qr_radiomics_name(r, 535), "wavelet-LLL_glrlm_ShortRunLowGrayLevelEmphasis");
    assert_null(qr_radiomics_name(r, 536));
    /* the names are PyRadiomics' names in PyRadiomics' order: those of the expected table for the
     * preset's classes, in the table's order */
    ref_table ref;
    assert_int_equal(ref_read_pairs(DATA "/expected/brain1_original_wavelet_bw25.csv", &ref), 0);
    int64_t k = 0;
    for (int t = 0; t < ref.n; t++) {
        const char *n = ref.name[t];
        if (!strstr(n, "_shape_") && !strstr(n, "_firstorder_") && !strstr(n, "_glcm_") && !strstr(n, "_glrlm_")) continue;
        assert_true(k < 536);
        assert_string_equal(qr_radiomics_name(r, k), n);
        k++;
    }
    assert_int_equal(k, 536);
    ref_free(&ref);
    /* the compiled-in text is Resources/radiomics/qsmrimnet.yaml, byte for byte */
    FILE *f = fopen(QSMRIM_SOURCE_DIR "/Resources/radiomics/qsmrimnet.yaml", "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    assert_string_equal(buf, qr_radiomics_preset_text());
    /* and loading the file gives the same configuration */
    qr_radiomics *r2;
    assert_int_equal(qr_radiomics_load(QSMRIM_SOURCE_DIR "/Resources/radiomics/qsmrimnet.yaml", &r2), QR_OK);
    assert_int_equal(qr_radiomics_count(r2), 536);
    for (int64_t i = 0; i < 536; i++) assert_string_equal(qr_radiomics_name(r, i), qr_radiomics_name(r2, i));
    qr_radiomics_free(r2);
    qr_radiomics_free(r);
}

/* The preset on PyRadiomics' brain1 case: the 536 values of the expected table (binWidth 25,
 * voxelArrayShift 0 are the preset's settings too). */
static void test_preset_values_brain1(void **state) {
    (void)state;
    qr_volume im, lab;
    qr_read_info info;
    assert_int_equal(qr_image_read(DATA "/brain1_image.nrrd", QR_FLOAT32, &im, &info), QR_OK);
    assert_int_equal(qr_image_read(DATA "/brain1_label.nrrd", QR_INT32, &lab, NULL), QR_OK);
    qr_radiomics *r;
    assert_int_equal(qr_radiomics_load(NULL, &r), QR_OK);
    double f[536];
    qr_radiomics_options o = qr_radiomics_options_default();
    o.precision = qr_radiomics_precision_of(info.component_type);
    assert_int_equal(qr_radiomics_compute_ex(r, &im, &lab, 1, &o, f), QR_OK);
    ref_table ref, sub = {0};
    assert_int_equal(ref_read_pairs(DATA "/expected/brain1_original_wavelet_bw25.csv", &ref), 0);
    for (int t = 0; t < ref.n; t++)
        for (int64_t i = 0; i < 536; i++)
            if (!strcmp(qr_radiomics_name(r, i), ref.name[t])) ref_add(&sub, ref.name[t], ref.value[t]);
    assert_int_equal(ref_compare("preset brain1", r, f, &sub, NULL, 1), 0);
    ref_free(&ref);
    ref_free(&sub);
    qr_radiomics_free(r);
    qr_volume_free(&im);
    qr_volume_free(&lab);
}

/* ------------------------------------------------------------------ checkMask */
static void test_one_voxel_and_dimensions(void **state) {
    (void)state;
    qr_volume im, lab;
    make_pair(&im, &lab, 24, 24, 10, 1);
    set_label(&lab, 5, 5, 5, 1);                            /* one voxel */
    for (int i = 10; i < 14; i++) set_label(&lab, i, 5, 5, 2); /* a line */
    blob(&lab, 16, 16, 5, 3, 3, 0, 3);                      /* a single-slice disc */
    blob(&lab, 6, 16, 5, 2, 2, 2, 4);                       /* a 3D blob */
    qr_radiomics *preset;
    assert_int_equal(qr_radiomics_load(NULL, &preset), QR_OK);
    int64_t n = qr_radiomics_count(preset);
    double *f = malloc(sizeof *f * (size_t)n);
    assert_int_equal(qr_radiomics_compute(preset, &im, &lab, 1, f), QR_ERR_EMPTY);
    assert_non_null(strstr(qr_last_error(), "1 voxel"));
    assert_true(all_nan(f, n));
    assert_int_equal(qr_radiomics_compute(preset, &im, &lab, 2, f), QR_ERR_EMPTY); /* 1D < minimumROIDimensions 2 */
    assert_non_null(strstr(qr_last_error(), "minimumROIDimensions 2"));
    assert_int_equal(qr_radiomics_compute(preset, &im, &lab, 3, f), QR_OK); /* 2D is enough for the preset */
    /* a single-slice ROI: no extent along the slice axis (PyRadiomics: LeastAxisLength 0) */
    assert_true(feature(preset, f, "original_shape_LeastAxisLength") == 0);
    assert_true(feature(preset, f, "original_shape_Flatness") == 0);
    for (int64_t i = 0; i < n; i++) assert_false(isnan(f[i]));
    assert_int_equal(qr_radiomics_compute(preset, &im, &lab, 4, f), QR_OK);
    assert_int_equal(qr_radiomics_compute(preset, &im, &lab, 9, f), QR_ERR_EMPTY); /* absent label */
    assert_non_null(strstr(qr_last_error(), "label 9 is not present"));
    assert_int_equal(qr_radiomics_compute(preset, &im, &lab, 0, f), QR_ERR_INVALID_ARG);
    qr_radiomics_free(preset);

    qr_radiomics *r3 = load_text("setting:\n  minimumROIDimensions: 3\n");
    double g[200];
    assert_true(qr_radiomics_count(r3) < 200);
    assert_int_equal(qr_radiomics_compute(r3, &im, &lab, 3, g), QR_ERR_EMPTY);
    assert_int_equal(qr_radiomics_compute(r3, &im, &lab, 4, g), QR_OK);
    qr_radiomics_free(r3);
    qr_radiomics *r1 = load_text("setting:\n  minimumROIDimensions: 1\n");
    assert_int_equal(qr_radiomics_compute(r1, &im, &lab, 2, g), QR_OK); /* a line is fine with 1 */
    assert_int_equal(qr_radiomics_compute(r1, &im, &lab, 1, g), QR_ERR_EMPTY); /* one voxel never */
    qr_radiomics_free(r1);
    /* minimumROISize: the ROI needs MORE voxels than it (the line has 4) */
    qr_radiomics *rs = load_text("setting:\n  minimumROIDimensions: 1\n  minimumROISize: 4\n");
    assert_int_equal(qr_radiomics_compute(rs, &im, &lab, 2, g), QR_ERR_EMPTY);
    qr_radiomics_free(rs);
    rs = load_text("setting:\n  minimumROIDimensions: 1\n  minimumROISize: 3\n");
    assert_int_equal(qr_radiomics_compute(rs, &im, &lab, 2, g), QR_OK);
    qr_radiomics_free(rs);
    free(f);
    qr_volume_free(&im);
    qr_volume_free(&lab);
}

/* ------------------------------------------------------------------ flat region */
static void test_flat_region(void **state) {
    (void)state;
    qr_volume im, lab;
    make_pair(&im, &lab, 20, 20, 8, 2);
    blob(&lab, 10, 10, 4, 4, 4, 2, 1);
    for (int64_t i = 0; i < qr_volume_nvox(&lab); i++)
        if (qr_volume_i32(&lab)[i] == 1) qr_volume_f32(&im)[i] = 7.0f;
    qr_radiomics *r = load_text(ORIGINAL_ALL);
    int64_t n = qr_radiomics_count(r);
    double *f = malloc(sizeof *f * (size_t)n);
    assert_int_equal(qr_radiomics_compute(r, &im, &lab, 1, f), QR_OK);
    /* PyRadiomics' documented values for a flat region */
    assert_true(feature(r, f, "original_firstorder_Variance") == 0);
    assert_true(feature(r, f, "original_firstorder_Skewness") == 0);
    assert_true(feature(r, f, "original_firstorder_Kurtosis") == 0);
    assert_true(feature(r, f, "original_firstorder_Range") == 0);
    assert_true(feature(r, f, "original_firstorder_Mean") == 7.0);
    assert_true(fabs(feature(r, f, "original_firstorder_Uniformity") - 1) < 1e-12);
    assert_true(fabs(feature(r, f, "original_firstorder_Entropy")) < 1e-12);
    assert_true(feature(r, f, "original_glcm_Correlation") == 1);
    assert_true(feature(r, f, "original_glcm_MCC") == 1);
    assert_true(feature(r, f, "original_glcm_Imc1") == 0);
    assert_true(feature(r, f, "original_glcm_Imc2") == 0);
    assert_true(feature(r, f, "original_glcm_Contrast") == 0);
    assert_true(feature(r, f, "original_glcm_JointEnergy") == 1);
    assert_true(feature(r, f, "original_glrlm_GrayLevelVariance") == 0);
    assert_true(feature(r, f, "original_glszm_GrayLevelVariance") == 0);
    assert_true(feature(r, f, "original_gldm_GrayLevelVariance") == 0);
    assert_true(feature(r, f, "original_ngtdm_Coarseness") == 1000000);
    assert_true(feature(r, f, "original_ngtdm_Busyness") == 0);
    assert_true(feature(r, f, "original_ngtdm_Contrast") == 0);
    assert_true(feature(r, f, "original_ngtdm_Strength") == 0);
    for (int64_t i = 0; i < n; i++) assert_false(isnan(f[i]));
    free(f);
    qr_radiomics_free(r);
    qr_volume_free(&im);
    qr_volume_free(&lab);
}

/* ------------------------------------------------------------------ negative values, binWidth */
static void test_negative_values_floor_binning(void **state) {
    (void)state;
    /* X_b = floor(X / W) - floor(min(X) / W) + 1 (PyRadiomics getBinEdges), W = 25 */
    static const double X[] = {-30, -25, -1, 0, 24, 25, 49, 50, -0.5, 12.5};
    static const int WANT[] = {1, 2, 2, 3, 3, 4, 4, 5, 2, 3};
    int n = (int)(sizeof X / sizeof *X);
    double vals[10];
    uint8_t mask[10];
    for (int i = 0; i < n; i++) vals[i] = X[i], mask[i] = 1;
    rx_image img = {{1, 1, n}, vals, mask, n, {1, 1, 1}, 0};
    rx_settings s;
    rx_settings_default(&s);
    rx_binned b;
    assert_int_equal(rx_bin_image(&img, &s, &b), QR_OK);
    for (int i = 0; i < n; i++) assert_int_equal(b.gl[i], WANT[i]);
    assert_int_equal(b.ng, 5);
    assert_int_equal(b.n_present, 5);
    rx_binned_free(&b);
    /* the same through the whole pipeline: first-order Uniformity of those levels */
    qr_volume im, lab;
    make_pair(&im, &lab, 16, 16, 4, 3);
    for (int i = 0; i < n; i++) {
        set_value(&im, 3 + i, 5, 1, (float)X[i]);
        set_label(&lab, 3 + i, 5, 1, 1);
        set_label(&lab, 3 + i, 6, 1, 0);
    }
    set_label(&lab, 3, 6, 1, 1);
    set_value(&im, 3, 6, 1, -30);
    qr_radiomics *r = load_text("imageType:\n  Original: {}\nfeatureClass:\n  firstorder:\n");
    double f[32];
    assert_int_equal(qr_radiomics_compute(r, &im, &lab, 1, f), QR_OK);
    /* counts per level: 1:2, 2:3, 3:3, 4:2, 5:1 of 11 voxels */
    double u = (4.0 + 9 + 9 + 4 + 1) / (11.0 * 11.0);
    assert_true(fabs(feature(r, f, "original_firstorder_Uniformity") - u) < 1e-12);
    assert_true(feature(r, f, "original_firstorder_Minimum") == -30);
    qr_radiomics_free(r);
    qr_volume_free(&im);
    qr_volume_free(&lab);
}

/* The gray-level limit: binWidth 25 over a range of exactly RX_MAX_GRAY_LEVELS - 2 bin widths gives
 * RX_MAX_GRAY_LEVELS edges (arange from floor(min/W)*W to max + 2W) and is accepted; one bin width
 * more is refused at once, with the range in the message. */
static void test_gray_level_limit(void **state) {
    (void)state;
    const double W = 25, span = (RX_MAX_GRAY_LEVELS - 2) * W;
    double vals[3] = {0, 10, span};
    uint8_t mask[3] = {1, 1, 1};
    rx_image img = {{1, 1, 3}, vals, mask, 3, {1, 1, 1}, 0};
    rx_settings s;
    rx_settings_default(&s);
    rx_binned b;
    assert_int_equal(rx_bin_image(&img, &s, &b), QR_OK);
    assert_int_equal(b.n_present, 2); /* 0 and 10 share level 1 */
    assert_int_equal(b.gl[2], (int)(span / W) + 1);
    rx_binned_free(&b);
    vals[2] = span + W;
    assert_int_equal(rx_bin_image(&img, &s, &b), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "binWidth 25 gives 1e+06 gray levels for values in [0, 2.5e+07]"));
    /* a lesion with two corrupt voxels of +-1e9 through the whole pipeline: refused */
    qr_volume im, lab;
    make_pair(&im, &lab, 16, 16, 6, 5);
    blob(&lab, 8, 8, 3, 3, 3, 1, 1);
    set_value(&im, 8, 8, 3, 1e9f);
    set_value(&im, 7, 8, 3, -1e9f);
    qr_radiomics *r = load_text(ORIGINAL_ALL);
    double f[200];
    assert_int_equal(qr_radiomics_compute(r, &im, &lab, 1, f), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "8e+07 gray levels"));
    qr_radiomics_free(r);
    qr_volume_free(&im);
    qr_volume_free(&lab);
}

/* ------------------------------------------------------------------ NaN policy */
static void test_nonfinite_voxels(void **state) {
    (void)state;
    qr_volume im, lab;
    make_pair(&im, &lab, 24, 24, 10, 4);
    blob(&lab, 12, 12, 5, 3, 3, 2, 1);
    qr_radiomics *preset, *orig;
    assert_int_equal(qr_radiomics_load(NULL, &preset), QR_OK);
    orig = load_text("imageType:\n  Original: {}\nfeatureClass:\n  firstorder:\n  glcm:\n");
    double *f = malloc(sizeof *f * 536);
    assert_int_equal(qr_radiomics_compute(preset, &im, &lab, 1, f), QR_OK);
    /* NaN far away from the ROI: no effect */
    set_value(&im, 0, 0, 0, NAN);
    assert_int_equal(qr_radiomics_compute(preset, &im, &lab, 1, f), QR_OK);
    /* NaN outside the ROI but inside the wavelet support (2 voxels below the box): wavelet refuses */
    set_value(&im, 12, 12 - 3 - 2, 5, NAN);
    assert_int_equal(qr_radiomics_compute(preset, &im, &lab, 1, f), QR_ERR_NONFINITE);
    assert_non_null(strstr(qr_last_error(), "wavelet"));
    assert_true(all_nan(f, 536));
    assert_int_equal(qr_radiomics_compute(orig, &im, &lab, 1, f), QR_OK); /* Original only: not read */
    /* NaN inside the ROI: refused by every configuration */
    set_value(&im, 12, 12, 5, NAN);
    assert_int_equal(qr_radiomics_compute(orig, &im, &lab, 1, f), QR_ERR_NONFINITE);
    assert_non_null(strstr(qr_last_error(), "NaN"));
    set_value(&im, 12, 12, 5, INFINITY);
    assert_int_equal(qr_radiomics_compute(preset, &im, &lab, 1, f), QR_ERR_NONFINITE);
    free(f);
    qr_radiomics_free(preset);
    qr_radiomics_free(orig);
    qr_volume_free(&im);
    qr_volume_free(&lab);
}

/* ------------------------------------------------------------------ geometry */
static void test_geometry_mismatch(void **state) {
    (void)state;
    qr_volume im, lab, im2, lab2;
    make_pair(&im, &lab, 16, 16, 6, 5);
    make_pair(&im2, &lab2, 16, 15, 6, 5);
    blob(&lab2, 8, 8, 3, 2, 2, 1, 1);
    blob(&lab, 8, 8, 3, 2, 2, 1, 1);
    qr_radiomics *r = load_text(ORIGINAL_ALL);
    double f[256];
    assert_int_equal(qr_radiomics_compute(r, &im, &lab2, 1, f), QR_ERR_GEOMETRY);
    lab.geom.spacing[2] = 2.0;
    assert_int_equal(qr_radiomics_compute(r, &im, &lab, 1, f), QR_ERR_GEOMETRY);
    lab.geom.spacing[2] = 3.0;
    assert_int_equal(qr_radiomics_compute(r, &im, &lab, 1, f), QR_OK);
    assert_int_equal(qr_radiomics_compute(r, &lab, &lab, 1, f), QR_ERR_INVALID_ARG); /* int32 image */
    qr_radiomics_free(r);

    /* geometryTolerance as ITK applies PyRadiomics' setting: relative to the image's first
     * spacing (0.75 mm here) for origins and spacings, absolute for directions */
    char text[256];
    snprintf(text, sizeof text, "setting:\n  geometryTolerance: 0.001\n%s", ORIGINAL_ALL);
    r = load_text(text);
    lab.geom.origin[1] += 0.0007; /* within 0.001 x 0.75 = 0.00075 mm */
    assert_int_equal(qr_radiomics_compute(r, &im, &lab, 1, f), QR_OK);
    lab.geom.origin[1] += 0.0001; /* 0.0008: beyond it (an absolute 0.001 mm accepted this) */
    assert_int_equal(qr_radiomics_compute(r, &im, &lab, 1, f), QR_ERR_GEOMETRY);
    assert_non_null(strstr(qr_last_error(), "geometryTolerance 0.001"));
    lab.geom.origin[1] -= 0.0008;
    lab.geom.direction[1] = 0.0009; /* direction cosines: absolute */
    assert_int_equal(qr_radiomics_compute(r, &im, &lab, 1, f), QR_OK);
    lab.geom.direction[1] = 0.0011;
    assert_int_equal(qr_radiomics_compute(r, &im, &lab, 1, f), QR_ERR_GEOMETRY);
    lab.geom.direction[1] = 0;
    qr_radiomics_free(r);
    /* on a 3 mm grid a 0.002 mm shift is inside 0.001 x 3 mm (an absolute 0.001 refused it) */
    im.geom.spacing[0] = lab.geom.spacing[0] = 3.0;
    r = load_text(text);
    lab.geom.origin[0] += 0.002;
    assert_int_equal(qr_radiomics_compute(r, &im, &lab, 1, f), QR_OK);
    qr_radiomics_free(r);
    qr_volume_free(&im), qr_volume_free(&lab), qr_volume_free(&im2), qr_volume_free(&lab2);
}

/* Texture classes need a neighbour direction inside the region's bounding box: a line along the
 * force2D axis has none, and PyRadiomics fails the extraction ("Error getting angle count").
 * Before, glcm/glrlm gave NaN while glszm, gldm and ngtdm gave numbers, with success. */
static void test_no_texture_angle(void **state) {
    (void)state;
    qr_volume im, lab;
    make_pair(&im, &lab, 12, 12, 8, 9);
    for (int k = 1; k < 6; k++) set_label(&lab, 4, 4, k, 1); /* a line along the slice axis */
    const char *classes[] = {"glcm", "glrlm", "glszm", "gldm", "ngtdm"};
    for (int c = 0; c < 5; c++) {
        char text[256];
        snprintf(text, sizeof text,
                 "setting:\n  force2D: true\n  minimumROIDimensions: 1\nimageType:\n  Original: {}\n"
                 "featureClass:\n  %s:\n",
                 classes[c]);
        qr_radiomics *r = load_text(text);
        double f[64];
        assert_true(qr_radiomics_count(r) <= 64);
        qr_status st = qr_radiomics_compute(r, &im, &lab, 1, f);
        if (st != QR_ERR_EMPTY) printf("%s: %s %s\n", classes[c], qr_status_name(st), qr_last_error());
        assert_int_equal(st, QR_ERR_EMPTY);
        assert_non_null(strstr(qr_last_error(), "no neighbour direction"));
        assert_non_null(strstr(qr_last_error(), classes[c]));
        qr_radiomics_free(r);
    }
    /* the same line without force2D has its directions: every class computes */
    qr_radiomics *r = load_text("setting:\n  minimumROIDimensions: 1\nimageType:\n  Original: {}\n"
                                "featureClass:\n  glcm:\n  glrlm:\n  glszm:\n  gldm:\n  ngtdm:\n");
    double f[128];
    assert_true(qr_radiomics_count(r) <= 128);
    assert_int_equal(qr_radiomics_compute(r, &im, &lab, 1, f), QR_OK);
    qr_radiomics_free(r);
    qr_volume_free(&im), qr_volume_free(&lab);
}

/* ------------------------------------------------------------------ parameter files */
static void expect_param_error(const char *text, qr_status want, const char *needle) {
    qr_radiomics *r = NULL;
    qr_status s = qr_radiomics_load_text(text, "params.yaml", &r);
    if (s != want || !strstr(qr_last_error(), needle))
        printf("for:\n%s\ngot %s: %s\n", text, qr_status_name(s), qr_last_error());
    assert_int_equal(s, want);
    assert_non_null(strstr(qr_last_error(), needle));
    assert_null(r);
}

static void test_parameter_errors(void **state) {
    (void)state;
    expect_param_error("setting:\n  binWidht: 25\n", QR_ERR_UNSUPPORTED, "binWidht");
    expect_param_error("imageType:\n  LoG: {sigma: [1.0]}\n", QR_ERR_UNSUPPORTED, "LoG");
    expect_param_error("setting:\n  sigma: [1, 2]\n", QR_ERR_UNSUPPORTED, "sigma");
    expect_param_error("featureClass:\n  shape2D:\n", QR_ERR_UNSUPPORTED, "shape2D");
    /* PyRadiomics' "all classes" include shape2D, which it computes under force2D */
    expect_param_error("setting:\n  force2D: true\n", QR_ERR_UNSUPPORTED, "shape2D");
    expect_param_error("setting:\n  binCount: 2000000\n", QR_ERR_INVALID_ARG, "from 1 to 1000000");
    expect_param_error("featureClass:\n  glcm: [Contrast, Contrastt]\n", QR_ERR_UNSUPPORTED, "Contrastt");
    expect_param_error("setting:\n  resampledPixelSpacing: [1, 1, 1]\n", QR_ERR_UNSUPPORTED, "resampledPixelSpacing");
    expect_param_error("setting:\n  correctMask: true\n", QR_ERR_UNSUPPORTED, "correctMask");
    expect_param_error("voxelSetting:\n  kernelRadius: 2\n", QR_ERR_UNSUPPORTED, "voxelSetting");
    expect_param_error("imageType:\n  Wavelet: {wavelet: bior1.3}\n", QR_ERR_UNSUPPORTED, "bior1.3");
    expect_param_error("imageType:\n  Wavelet: {label: 2}\n", QR_ERR_UNSUPPORTED, "label");
    expect_param_error("setting:\n  binWidth: -5\n", QR_ERR_INVALID_ARG, "binWidth");
    expect_param_error("setting:\n  binWidth: wide\n", QR_ERR_INVALID_ARG, "binWidth");
    expect_param_error("setting:\n  force2Ddimension: 3\n", QR_ERR_INVALID_ARG, "force2Ddimension");
    expect_param_error("setting:\n  resegmentMode: percent\n", QR_ERR_INVALID_ARG, "resegmentMode");
    expect_param_error("setting:\n  weightingNorm: chebyshev\n", QR_ERR_INVALID_ARG, "weightingNorm");
    expect_param_error("setting:\n  gldm_a: 0.5\n", QR_ERR_INVALID_ARG, "gldm_a");
    expect_param_error("settings:\n  binWidth: 25\n", QR_ERR_UNSUPPORTED, "settings");
    expect_param_error("setting: [binWidth\n", QR_ERR_FORMAT, "line");
    expect_param_error("- 1\n- 2\n", QR_ERR_FORMAT, "mapping");
    /* a key given twice, at any depth: refused (PyYAML would keep the last, libyaml loads both) */
    expect_param_error("setting:\n  binWidth: 25\n  binWidth: 5\n", QR_ERR_FORMAT, "line 3: 'binWidth' is given twice (also on line 2)");
    expect_param_error("setting:\n  binWidth: 25\nsetting:\n  label: 2\n", QR_ERR_FORMAT, "'setting' is given twice");
    expect_param_error("imageType:\n  Wavelet: {start_level: 0, start_level: 1}\n", QR_ERR_FORMAT, "'start_level' is given twice");
    qr_radiomics *r = NULL;
    assert_int_equal(qr_radiomics_load("/nonexistent/params.yaml", &r), QR_ERR_IO);
    assert_non_null(strstr(qr_last_error(), "/nonexistent/params.yaml"));
    /* resampledPixelSpacing with no interpolator means no resampling in PyRadiomics: accepted */
    r = load_text("setting:\n  resampledPixelSpacing: [1, 1, 1]\n  interpolator:\n");
    qr_radiomics_free(r);
}

static void test_parameter_semantics(void **state) {
    (void)state;
    /* no featureClass: every class, shape first, then PyRadiomics' module order */
    qr_radiomics *r = load_text("setting:\n  binWidth: 10\n");
    assert_int_equal(qr_radiomics_count(r), 14 + 18 + 24 + 14 + 16 + 16 + 5);
    assert_string_equal(qr_radiomics_name(r, 14), "original_firstorder_10Percentile");
    assert_string_equal(qr_radiomics_name(r, 32), "original_glcm_Autocorrelation");
    assert_string_equal(qr_radiomics_name(r, 56), "original_gldm_DependenceEntropy");
    assert_string_equal(qr_radiomics_name(r, 70), "original_glrlm_GrayLevelNonUniformity");
    qr_radiomics_free(r);
    /* listed features in the listed order; deprecated ones computed when PyRadiomics computes them */
    r = load_text("featureClass:\n  firstorder: [Variance, StandardDeviation]\n  glcm: [SumVariance, Contrast]\n"
                  "  shape: [Compactness2, Sphericity]\n");
    assert_int_equal(qr_radiomics_count(r), 2 + 2 + 1);
    assert_string_equal(qr_radiomics_name(r, 0), "original_shape_Compactness2");
    assert_string_equal(qr_radiomics_name(r, 2), "original_firstorder_Variance");
    assert_string_equal(qr_radiomics_name(r, 3), "original_firstorder_StandardDeviation");
    assert_string_equal(qr_radiomics_name(r, 4), "original_glcm_Contrast");
    qr_volume im, lab;
    make_pair(&im, &lab, 20, 20, 8, 6);
    blob(&lab, 10, 10, 4, 5, 4, 2, 1);
    double f[5];
    assert_int_equal(qr_radiomics_compute(r, &im, &lab, 1, f), QR_OK);
    assert_true(fabs(f[3] * f[3] - f[2]) <= 1e-12 * f[2]);
    assert_true(fabs(f[0] - pow(f[1], 3)) <= 1e-12);
    qr_radiomics_free(r);
    /* force2D: 2-axis wavelet decompositions */
    r = load_text("imageType:\n  Original: {}\n  Wavelet: {}\nfeatureClass:\n  firstorder: [Mean]\n"
                  "setting:\n  force2D: true\n");
    assert_int_equal(qr_radiomics_count(r), 1 + 4);
    assert_string_equal(qr_radiomics_name(r, 1), "wavelet-LH_firstorder_Mean");
    assert_string_equal(qr_radiomics_name(r, 4), "wavelet-LL_firstorder_Mean");
    double g[5];
    assert_int_equal(qr_radiomics_compute(r, &im, &lab, 1, g), QR_OK);
    qr_radiomics_free(r);
    /* two levels: wavelet-, wavelet2- */
    r = load_text("imageType:\n  Wavelet: {level: 2}\nfeatureClass:\n  firstorder: [Mean]\n");
    assert_int_equal(qr_radiomics_count(r), 15);
    assert_string_equal(qr_radiomics_name(r, 7), "wavelet2-LLH_firstorder_Mean");
    assert_string_equal(qr_radiomics_name(r, 14), "wavelet2-LLL_firstorder_Mean");
    qr_radiomics_free(r);
    /* preCrop changes nothing for the Original image */
    qr_radiomics *a = load_text(ORIGINAL_ALL), *b = load_text("imageType:\n  Original: {}\nsetting:\n  preCrop: true\n"
                                                              "  padDistance: 2\n");
    double fa[128], fb[128];
    assert_int_equal(qr_radiomics_compute(a, &im, &lab, 1, fa), QR_OK);
    assert_int_equal(qr_radiomics_compute(b, &im, &lab, 1, fb), QR_OK);
    assert_int_equal(qr_radiomics_count(a), qr_radiomics_count(b));
    for (int64_t i = 0; i < qr_radiomics_count(a); i++) {
        int64_t j = find(b, qr_radiomics_name(a, i));
        if (memcmp(&fa[i], &fb[j], sizeof(double))) printf("%s %.17g %.17g\n", qr_radiomics_name(a, i), fa[i], fb[j]);
        assert_memory_equal(&fa[i], &fb[j], sizeof(double));
    }
    qr_radiomics_free(a);
    qr_radiomics_free(b);
    /* normalize + removeOutliers: values clipped to +-k sd before the scale (PyRadiomics
     * normalizeImage), so an outlier voxel of the ROI ends exactly at k * normalizeScale */
    set_value(&im, 10, 10, 4, 1e4f);
    r = load_text("imageType:\n  Original: {}\nfeatureClass:\n  firstorder: [Maximum, Minimum]\n"
                  "setting:\n  normalize: true\n  removeOutliers: 2.5\n  normalizeScale: 100\n");
    double mm[2];
    assert_int_equal(qr_radiomics_compute(r, &im, &lab, 1, mm), QR_OK);
    assert_true(mm[0] == 250);
    assert_true(mm[1] > -250);
    qr_radiomics_free(r);
    qr_volume_free(&im);
    qr_volume_free(&lab);
}

/* ------------------------------------------------------------------ threads and determinism */
static void test_threads_bit_identical(void **state) {
    (void)state;
    qr_volume im, lab;
    make_pair(&im, &lab, 48, 48, 12, 7);
    /* 8 lesions, two of them touching the volume edge (wavelet wrap-around) */
    int32_t nl = 8;
    blob(&lab, 0, 20, 5, 3, 3, 2, 1);
    blob(&lab, 47, 47, 11, 4, 3, 2, 2);
    blob(&lab, 10, 10, 3, 2, 3, 1, 3);
    blob(&lab, 25, 12, 6, 5, 4, 2, 4);
    blob(&lab, 36, 30, 7, 3, 2, 3, 5);
    blob(&lab, 14, 36, 4, 2, 2, 1, 6);
    blob(&lab, 30, 40, 2, 4, 4, 0, 7);
    blob(&lab, 38, 10, 9, 3, 3, 2, 8);
    qr_radiomics *r;
    assert_int_equal(qr_radiomics_load(NULL, &r), QR_OK);
    int64_t n = qr_radiomics_count(r);
    double *serial = malloc(sizeof *serial * (size_t)(n * nl)), *par = malloc(sizeof *par * (size_t)(n * nl));
    for (int32_t l = 1; l <= nl; l++) assert_int_equal(qr_radiomics_compute(r, &im, &lab, l, serial + (l - 1) * n), QR_OK);
    int bad = 0;
    for (int rep = 0; rep < 3; rep++) {
#ifdef QSMRIM_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(4) reduction(+ : bad)
#endif
        for (int32_t l = 1; l <= nl; l++)
            bad += qr_radiomics_compute(r, &im, &lab, l, par + (l - 1) * n) != QR_OK;
        assert_int_equal(bad, 0);
        assert_memory_equal(serial, par, sizeof *par * (size_t)(n * nl));
    }
    /* a bounding-box hint gives the same values */
    qr_radiomics_options o = qr_radiomics_options_default();
    double *h = malloc(sizeof *h * (size_t)n);
    int64_t box4[6] = {20, 8, 4, 30, 16, 8};
    o.bbox = box4;
    assert_int_equal(qr_radiomics_compute_ex(r, &im, &lab, 4, &o, h), QR_OK);
    assert_memory_equal(h, serial + 3 * n, sizeof *h * (size_t)n);
    int64_t outside[6] = {0, 0, 0, 48, 48, 12};
    o.bbox = outside;
    assert_int_equal(qr_radiomics_compute_ex(r, &im, &lab, 4, &o, h), QR_ERR_INVALID_ARG);
    free(h), free(serial), free(par);
    qr_radiomics_free(r);
    qr_volume_free(&im);
    qr_volume_free(&lab);
}

/* ------------------------------------------------------------------ axes, alpha, bin count */
/* Swapping the i and j axes of image, mask and spacing must leave every Original feature as it
 * is (PyRadiomics' 13 angles map onto themselves; Maximum2DDiameterRow and Column trade places).
 * The reference images all have equal in-plane spacing, so nothing else checks that each axis
 * is paired with its own spacing: here dx, dy and dz all differ, with and without GLCM distance
 * weighting. VoxelVolume is Np dx dy dz by definition. */
static void swap_ij(const qr_volume *in, qr_volume *out) {
    qr_geometry g = in->geom;
    g.size[0] = in->geom.size[1], g.size[1] = in->geom.size[0];
    g.spacing[0] = in->geom.spacing[1], g.spacing[1] = in->geom.spacing[0];
    assert_int_equal(qr_volume_alloc(out, &g, in->dtype), QR_OK);
    const size_t es = qr_dtype_size(in->dtype);
    for (int64_t k = 0; k < g.size[2]; k++)
        for (int64_t j = 0; j < g.size[1]; j++)
            for (int64_t i = 0; i < g.size[0]; i++)
                memcpy((char *)out->data + es * (size_t)qr_geometry_index(&out->geom, i, j, k),
                       (const char *)in->data + es * (size_t)qr_geometry_index(&in->geom, j, i, k), es);
}

static void test_axis_swap_invariance(void **state) {
    (void)state;
    qr_volume im, lab, im2, lab2;
    make_pair(&im, &lab, 20, 16, 9, 77);
    im.geom.spacing[0] = lab.geom.spacing[0] = 0.6;
    im.geom.spacing[1] = lab.geom.spacing[1] = 0.9;
    im.geom.spacing[2] = lab.geom.spacing[2] = 2.0;
    blob(&lab, 9, 7, 4, 6, 4, 3, 1);
    blob(&lab, 12, 9, 5, 2, 5, 2, 1);
    swap_ij(&im, &im2);
    swap_ij(&lab, &lab2);
    int64_t np_ = 0;
    for (int64_t v = 0; v < qr_volume_nvox(&lab); v++) np_ += qr_volume_i32(&lab)[v] == 1;
    static const char *const NORMS[] = {"", "  weightingNorm: euclidean\n", "  weightingNorm: manhattan\n",
                                        "  weightingNorm: infinity\n"};
    for (int w = 0; w < 4; w++) {
        char text[1024];
        snprintf(text, sizeof text, "%ssetting:\n  binWidth: 5\n%s", ORIGINAL_ALL, NORMS[w]);
        qr_radiomics *r = load_text(text);
        const int64_t n = qr_radiomics_count(r);
        double *a = malloc(sizeof *a * (size_t)n), *b = malloc(sizeof *b * (size_t)n);
        assert_int_equal(qr_radiomics_compute(r, &im, &lab, 1, a), QR_OK);
        assert_int_equal(qr_radiomics_compute(r, &im2, &lab2, 1, b), QR_OK);
        for (int64_t t = 0; t < n; t++) {
            const char *name = qr_radiomics_name(r, t);
            double want = b[t];
            if (strstr(name, "Maximum2DDiameterRow")) want = feature(r, b, "original_shape_Maximum2DDiameterColumn");
            if (strstr(name, "Maximum2DDiameterColumn")) want = feature(r, b, "original_shape_Maximum2DDiameterRow");
            if (!(fabs(a[t] - want) <= 1e-9 * fmax(1.0, fabs(want))))
                fail_msg("%s%s: %.17g with i and j swapped, %.17g before", NORMS[w], name, want, a[t]);
        }
        assert_true(fabs(feature(r, a, "original_shape_VoxelVolume") - (double)np_ * 0.6 * 0.9 * 2.0) < 1e-9);
        free(a);
        free(b);
        qr_radiomics_free(r);
    }
    qr_volume_free(&im), qr_volume_free(&lab), qr_volume_free(&im2), qr_volume_free(&lab2);
}

/* GLDM with gldm_a > 0 (the baselines have only 0), and binCount on a float32 image (the
 * reference images are int16): values from Testing/radiomics/gldm_reference.py, a NumPy
 * transcription of PyRadiomics' getBinEdges/binImage, cmatrices.c calculate_gldm and gldm.py. */
static void test_gldm_alpha_and_bincount(void **state) {
    (void)state;
    qr_geometry g = qr_geometry_identity(9, 8, 5);
    g.spacing[0] = 0.6, g.spacing[1] = 0.9, g.spacing[2] = 2.0;
    qr_volume im, lab;
    assert_int_equal(qr_volume_alloc(&im, &g, QR_FLOAT32), QR_OK);
    assert_int_equal(qr_volume_alloc(&lab, &g, QR_INT32), QR_OK);
    for (int64_t k = 0; k < 5; k++)
        for (int64_t j = 0; j < 8; j++)
            for (int64_t i = 0; i < 9; i++) {
                set_value(&im, i, j, k, (float)((i * 37 + j * 17 + k * 29) % 23 - 9));
                set_label(&lab, i, j, k, k >= 1 && k <= 3 && j >= 1 && j <= 6 && i >= 1 && i <= 7);
            }
    static const struct {
        const char *settings;
        double lde, sde, glv, dn;
    } CASES[] = {
        {"  binWidth: 2\n  gldm_a: 1\n", 23.49206349206349, 0.0811693301659288, 10.975056689342404, 26.61904761904762},
        {"  binWidth: 2\n  gldm_a: 0\n", 4.777777777777778, 0.30246913580246915, 10.975056689342404, 63.77777777777778},
        {"  binCount: 8\n", 5.809523809523809, 0.26306216931216936, 5.391849332325522, 55.63492063492063},
    };
    for (int c = 0; c < 3; c++) {
        char text[512];
        snprintf(text, sizeof text, "imageType:\n  Original: {}\nfeatureClass:\n  gldm:\nsetting:\n%s", CASES[c].settings);
        qr_radiomics *r = load_text(text);
        double f[64];
        assert_true(qr_radiomics_count(r) <= 64);
        assert_int_equal(qr_radiomics_compute(r, &im, &lab, 1, f), QR_OK);
        const double want[4] = {CASES[c].lde, CASES[c].sde, CASES[c].glv, CASES[c].dn};
        static const char *const NAMES[4] = {"original_gldm_LargeDependenceEmphasis", "original_gldm_SmallDependenceEmphasis",
                                             "original_gldm_GrayLevelVariance", "original_gldm_DependenceNonUniformity"};
        for (int q = 0; q < 4; q++) {
            const double got = feature(r, f, NAMES[q]);
            if (!(fabs(got - want[q]) <= 1e-9 * fabs(want[q])))
                fail_msg("%s with%s: %.17g, the NumPy reference %.17g", NAMES[q], CASES[c].settings, got, want[q]);
        }
        qr_radiomics_free(r);
    }
    qr_volume_free(&im), qr_volume_free(&lab);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preset_names_and_resource), cmocka_unit_test(test_preset_values_brain1),
        cmocka_unit_test(test_axis_swap_invariance), cmocka_unit_test(test_gldm_alpha_and_bincount),
        cmocka_unit_test(test_one_voxel_and_dimensions),  cmocka_unit_test(test_flat_region),
        cmocka_unit_test(test_negative_values_floor_binning), cmocka_unit_test(test_nonfinite_voxels),
        cmocka_unit_test(test_gray_level_limit),
        cmocka_unit_test(test_geometry_mismatch),         cmocka_unit_test(test_parameter_errors),
        cmocka_unit_test(test_no_texture_angle),
        cmocka_unit_test(test_parameter_semantics),       cmocka_unit_test(test_threads_bit_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
