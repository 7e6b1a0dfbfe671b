/*
 * test_radiomics_wavelet.c - the wavelet image type against PyWavelets, bit for bit.
 *
 * pywt_swt3.py runs PyRadiomics' _swt3 (numpy.pad 'wrap' of odd axes, pywt.swtn per level, crop)
 * on the whole volume with Debian's PyWavelets. The engine computes the same bands only on a box
 * plus its margin, with wrap-around at the volume edge. For every case (odd and even sizes, axes
 * shorter than the filter, float32 and float64, coif1 and other wavelets, several levels, force2D)
 * and every box (whole volume, interior, touching the low edge, the high edge, a single corner
 * voxel) the box must equal the whole-volume result exactly. Skipped (77) without PyWavelets.
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
#include <unistd.h>

#include "core/rng.h"
#include "radiomics/radiomics.h"
#include "radiomics/rx_internal.h"

typedef struct wcase {
    int64_t dims[3];
    int single;
    const char *wavelet;
    int level, start_level, naxes, axes[3];
} wcase;

static const wcase CASES[] = {
    {{7, 10, 9}, 1, "coif1", 1, 0, 3, {2, 1, 0}},  {{7, 10, 9}, 0, "coif1", 1, 0, 3, {2, 1, 0}},
    {{8, 12, 6}, 1, "coif1", 1, 0, 3, {2, 1, 0}},  {{3, 5, 2}, 1, "coif1", 1, 0, 3, {2, 1, 0}},
    {{1, 9, 11}, 0, "coif1", 1, 0, 3, {2, 1, 0}},  {{5, 9, 11}, 1, "coif1", 2, 0, 3, {2, 1, 0}},
    {{5, 9, 11}, 0, "coif1", 1, 1, 3, {2, 1, 0}},  {{6, 13, 10}, 1, "coif1", 1, 0, 2, {2, 1, 0}},
    {{9, 8, 7}, 1, "haar", 1, 0, 3, {2, 1, 0}},    {{9, 8, 7}, 0, "db2", 1, 0, 3, {2, 1, 0}},
    {{9, 14, 13}, 1, "sym4", 1, 0, 3, {2, 1, 0}},  {{9, 25, 27}, 0, "coif2", 1, 0, 3, {2, 1, 0}},
};

static const void *g_vol;
static int64_t g_dims[3];
static int g_single;
static double get(const void *ctx, int64_t z, int64_t y, int64_t x) {
    (void)ctx;
    int64_t i = (z * g_dims[1] + y) * g_dims[2] + x;
    return g_single ? (double)((const float *)g_vol)[i] : ((const double *)g_vol)[i];
}

static void *case_volume(const wcase *c, int ci) {
    int64_t nv = c->dims[0] * c->dims[1] * c->dims[2];
    size_t es = c->single ? sizeof(float) : sizeof(double);
    void *vol = malloc((size_t)nv * es);
    qr_rng rng;
    qr_rng_seed(&rng, 1234, (uint64_t)ci);
    for (int64_t i = 0; i < nv; i++) {
        double v = 40 * qr_rng_normal(&rng) + 10 * qr_rng_uniform(&rng);
        if (c->single) ((float *)vol)[i] = (float)v;
        else ((double *)vol)[i] = v;
    }
    return vol;
}

static void case_paths(int ci, char *in, char *out, size_t len) {
    snprintf(in, len, "%s/tests/wavelet_in_%d_%d.raw", QSMRIM_BINARY_DIR, (int)getpid(), ci);
    snprintf(out, len, "%s/tests/wavelet_out_%d_%d.raw", QSMRIM_BINARY_DIR, (int)getpid(), ci);
}

/* write the input of every case and one job line for pywt_swt3.py */
static void write_case(const wcase *c, int ci, FILE *jobs) {
    int64_t nv = c->dims[0] * c->dims[1] * c->dims[2];
    size_t es = c->single ? sizeof(float) : sizeof(double);
    void *vol = case_volume(c, ci);
    char in[256], out[256];
    case_paths(ci, in, out, sizeof in);
    FILE *f = fopen(in, "wb");
    assert_non_null(f);
    fwrite(vol, es, (size_t)nv, f);
    fclose(f);
    free(vol);
    char axes[16];
    if (c->naxes == 3) snprintf(axes, sizeof axes, "%d,%d,%d", c->axes[0], c->axes[1], c->axes[2]);
    else snprintf(axes, sizeof axes, "%d,%d", c->axes[0], c->axes[1]);
    fprintf(jobs, "%s %s %s %lld %lld %lld %s %d %d %s\n", in, out, c->single ? "float32" : "float64",
            (long long)c->dims[0], (long long)c->dims[1], (long long)c->dims[2], c->wavelet, c->level, c->start_level,
            axes);
}

static int run_case(const wcase *c, int ci) {
    int64_t nv = c->dims[0] * c->dims[1] * c->dims[2];
    size_t es = c->single ? sizeof(float) : sizeof(double);
    void *vol = case_volume(c, ci);
    char in[256], out[256];
    case_paths(ci, in, out, sizeof in);
    remove(in);
    FILE *f;
    rx_swt_request q = {.naxes = c->naxes, .w = rx_wavelet_find(c->wavelet), .level = c->level,
                        .start_level = c->start_level, .single = c->single};
    assert_non_null(q.w);
    memcpy(q.axes, c->axes, sizeof q.axes);
    memcpy(q.dims, c->dims, sizeof q.dims);
    int nb = rx_swt_count(&q);
    void *ref = malloc((size_t)nv * es * (size_t)nb);
    f = fopen(out, "rb");
    assert_non_null(f);
    assert_int_equal(fread(ref, es, (size_t)nv * (size_t)nb, f), (size_t)nv * (size_t)nb);
    fclose(f);
    remove(out);
    g_vol = vol;
    memcpy(g_dims, c->dims, sizeof g_dims);
    g_single = c->single;
    /* boxes: whole, interior, low edge, high edge, one corner voxel */
    int64_t boxes[5][6];
    for (int d = 0; d < 3; d++) {
        int64_t n = c->dims[d];
        boxes[0][d] = 0, boxes[0][3 + d] = n - 1;
        boxes[1][d] = n / 3, boxes[1][3 + d] = n / 3 + (n > 2 ? n / 3 : 0);
        boxes[2][d] = 0, boxes[2][3 + d] = n / 2;
        boxes[3][d] = (n - 1) / 2, boxes[3][3 + d] = n - 1;
        boxes[4][d] = n - 1, boxes[4][3 + d] = n - 1;
    }
    int bad = 0;
    for (int b = 0; b < 5; b++) {
        int64_t bs[3];
        for (int d = 0; d < 3; d++) {
            q.lo[d] = boxes[b][d];
            q.hi[d] = boxes[b][3 + d];
            bs[d] = q.hi[d] - q.lo[d] + 1;
        }
        double **o = malloc(sizeof *o * (size_t)nb);
        for (int i = 0; i < nb; i++) o[i] = malloc(sizeof **o * (size_t)(bs[0] * bs[1] * bs[2]));
        int64_t nonfinite = -1;
        assert_int_equal(rx_swt(&q, get, NULL, o, &nonfinite), QR_OK);
        assert_int_equal(nonfinite, 0);
        int64_t mism = 0;
        for (int i = 0; i < nb; i++)
            for (int64_t z = 0; z < bs[0]; z++)
                for (int64_t y = 0; y < bs[1]; y++)
                    for (int64_t x = 0; x < bs[2]; x++) {
                        int64_t gi = ((z + q.lo[0]) * c->dims[1] + (y + q.lo[1])) * c->dims[2] + (x + q.lo[2]);
                        double want = c->single ? (double)((float *)ref)[(size_t)i * nv + gi]
                                                : ((double *)ref)[(size_t)i * nv + gi];
                        double got = o[i][(z * bs[1] + y) * bs[2] + x];
                        if (memcmp(&want, &got, sizeof got) != 0) mism++;
                    }
        if (mism) {
            printf("case %d (%lldx%lldx%lld %s %s level %d start %d axes %d) box %d: %lld values differ\n", ci,
                   (long long)c->dims[0], (long long)c->dims[1], (long long)c->dims[2], c->single ? "float32" : "float64",
                   c->wavelet, c->level, c->start_level, c->naxes, b, (long long)mism);
            bad++;
        }
        for (int i = 0; i < nb; i++) free(o[i]);
        free(o);
    }
    free(ref);
    free(vol);
    return bad;
}

static void test_wavelet_matches_pywavelets(void **state) {
    (void)state;
    char jobs[256], cmd[1024];
    snprintf(jobs, sizeof jobs, "%s/tests/wavelet_jobs_%d.txt", QSMRIM_BINARY_DIR, (int)getpid());
    FILE *j = fopen(jobs, "w");
    assert_non_null(j);
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) write_case(&CASES[i], (int)i, j);
    fclose(j);
    snprintf(cmd, sizeof cmd, "%s %s/Testing/radiomics/pywt_swt3.py --jobs %s", QSMRIM_PYTHON, QSMRIM_SOURCE_DIR, jobs);
    int rc = system(cmd);
    remove(jobs);
    assert_int_equal(rc, 0);
    int bad = 0;
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) bad += run_case(&CASES[i], (int)i);
    printf("%zu wavelet cases x 5 boxes, %d boxes differ from PyWavelets\n", sizeof CASES / sizeof *CASES, bad);
    assert_int_equal(bad, 0);
}

/* The band names and their order (PyWavelets' key order, approximation last). */
static void test_wavelet_names(void **state) {
    (void)state;
    rx_swt_request q = {.naxes = 3, .level = 1};
    const char *want[] = {"LLH", "LHL", "LHH", "HLL", "HLH", "HHL", "HHH", "LLL"};
    assert_int_equal(rx_swt_count(&q), 8);
    for (int i = 0; i < 8; i++) {
        char name[8];
        int lev;
        rx_swt_name(&q, i, name, &lev);
        assert_string_equal(name, want[i]);
        assert_int_equal(lev, 1);
    }
    q.naxes = 2;
    q.level = 2;
    assert_int_equal(rx_swt_count(&q), 7);
    char name[8];
    int lev;
    rx_swt_name(&q, 3, name, &lev); /* level 2: LH, HL, HH */
    assert_string_equal(name, "LH");
    assert_int_equal(lev, 2);
    rx_swt_name(&q, 6, name, &lev);
    assert_string_equal(name, "LL");
    assert_int_equal(lev, 2);
}

/* Through the whole pipeline: a float32 volume, a lesion touching three volume faces, the
 * wavelet-band first-order Minimum/Maximum/Mean of qr_radiomics_compute against the same statistics
 * of PyWavelets' whole-volume bands (axis mapping, band names, wrap-around and float32 arithmetic). */
static void test_edge_lesion_features(void **state) {
    (void)state;
    const int64_t nx = 13, ny = 16, nz = 7;
    qr_geometry g = qr_geometry_identity(nx, ny, nz);
    g.spacing[2] = 3.0;
    qr_volume im, lab;
    assert_int_equal(qr_volume_alloc(&im, &g, QR_FLOAT32), QR_OK);
    assert_int_equal(qr_volume_alloc(&lab, &g, QR_INT32), QR_OK);
    qr_rng rng;
    qr_rng_seed(&rng, 99, 1);
    float *v = qr_volume_f32(&im);
    int32_t *l = qr_volume_i32(&lab);
    for (int64_t k = 0; k < nz; k++)
        for (int64_t j = 0; j < ny; j++)
            for (int64_t i = 0; i < nx; i++) {
                int64_t idx = qr_geometry_index(&g, i, j, k);
                v[idx] = (float)(30 * qr_rng_normal(&rng) + 2.0 * i - 3.0 * k);
                if (i <= 3 && j >= ny - 4 && k <= 2 && (i + (ny - 1 - j) + k) <= 5) l[idx] = 1; /* corner lesion */
            }
    qr_radiomics *r;
    assert_int_equal(qr_radiomics_load_text("imageType:\n  Wavelet: {}\nfeatureClass:\n  firstorder: [Minimum, Maximum, Mean]\n"
                                            "setting:\n  minimumROIDimensions: 1\n",
                                            "test", &r),
                     QR_OK);
    assert_int_equal(qr_radiomics_count(r), 24);
    double f[24];
    assert_int_equal(qr_radiomics_compute(r, &im, &lab, 1, f), QR_OK); /* float32 source: single precision */
    char in[256], out[256], cmd[1024];
    snprintf(in, sizeof in, "%s/tests/wavelet_edge_in_%d.raw", QSMRIM_BINARY_DIR, (int)getpid());
    snprintf(out, sizeof out, "%s/tests/wavelet_edge_out_%d.raw", QSMRIM_BINARY_DIR, (int)getpid());
    FILE *fp = fopen(in, "wb");
    assert_non_null(fp);
    fwrite(v, sizeof(float), (size_t)(nx * ny * nz), fp); /* memory order = numpy (z, y, x) */
    fclose(fp);
    snprintf(cmd, sizeof cmd, "%s %s/Testing/radiomics/pywt_swt3.py %s %s float32 %lld %lld %lld coif1 1 0 2,1,0",
             QSMRIM_PYTHON, QSMRIM_SOURCE_DIR, in, out, (long long)nz, (long long)ny, (long long)nx);
    assert_int_equal(system(cmd), 0);
    remove(in);
    int64_t nv = nx * ny * nz;
    float *ref = malloc(sizeof *ref * (size_t)(nv * 8));
    fp = fopen(out, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(ref, sizeof *ref, (size_t)(nv * 8), fp), (size_t)(nv * 8));
    fclose(fp);
    remove(out);
    static const char *BANDS[8] = {"LLH", "LHL", "LHH", "HLL", "HLH", "HHL", "HHH", "LLL"};
    for (int b = 0; b < 8; b++) {
        double mn = INFINITY, mx = -INFINITY, vals[4096];
        int64_t n = 0;
        for (int64_t i = 0; i < nv; i++)
            if (l[i] == 1) {
                double x = ref[(size_t)b * nv + i];
                mn = x < mn ? x : mn;
                mx = x > mx ? x : mx;
                vals[n++] = x;
            }
        double mean = rx_np_mean(vals, n);
        char name[64];
        snprintf(name, sizeof name, "wavelet-%s_firstorder_Minimum", BANDS[b]);
        assert_string_equal(qr_radiomics_name(r, 3 * b), name);
        assert_true(f[3 * b] == mn);
        assert_true(f[3 * b + 1] == mx);
        assert_true(f[3 * b + 2] == mean);
    }
    free(ref);
    qr_radiomics_free(r);
    qr_volume_free(&im);
    qr_volume_free(&lab);
}

int main(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s -c 'import pywt, numpy' 2>/dev/null", QSMRIM_PYTHON);
    if (system(cmd) != 0) {
        printf("PyWavelets not available to %s: skipped\n", QSMRIM_PYTHON);
        return 77;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_wavelet_names),
                                       cmocka_unit_test(test_wavelet_matches_pywavelets),
                                       cmocka_unit_test(test_edge_lesion_features)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
