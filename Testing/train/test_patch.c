#define _GNU_SOURCE
/*
 * test_patch.c - lesion patches and augmentation.
 *   - hand-worked extraction on a small volume: D along the slice axis k, H along j, W along i,
 *     the centre of mass within half a voxel of the patch centre, exact voxel values inside the
 *     target lesion, zeros for the neighbouring lesion and outside the volume, channel scaling;
 *   - the FLAIR reference (median of non-zero voxels) against numpy.median;
 *   - affine sampling against scipy.ndimage.affine_transform (order 1, grid-constant) and the
 *     blur against scipy.ndimage.gaussian_filter1d (truncate 4, zeros beyond the patch);
 *   - flips mirror exactly; the identity augmentation gives the inference patch bit for bit;
 *     augmentation draws are reproducible for a seed and stream;
 *   - RimNet's quarter-turn policies (rimnet_turns) and their aligned random streams.
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

#include "core/rng.h"
#include "data/patch.h"
#include "data/subject.h"
#include "train/lesion_draw.h"

#define NI 40
#define NJ 44
#define NK 12

/* QSM(i,j,k) = 100 + i + 10 j + 100 k (all distinct); FLAIR = 2 * QSM; lesion 3: a box
 * i 10..14, j 20..22, k 4..6; lesion 5: i 15..16 (touching lesion 3), j 20..22, k 4..6; lesion 7 at
 * the volume corner i 0..1, j 0..1, k 0..1. */
static void make_subject(qr_subject *s) {
    qr_geometry g = qr_geometry_identity(NI, NJ, NK);
    g.spacing[0] = g.spacing[1] = 0.75;
    g.spacing[2] = 3;
    qr_volume q, f, l;
    assert_int_equal(qr_volume_alloc(&q, &g, QR_FLOAT32), QR_OK);
    assert_int_equal(qr_volume_alloc(&f, &g, QR_FLOAT32), QR_OK);
    assert_int_equal(qr_volume_alloc(&l, &g, QR_INT32), QR_OK);
    for (int k = 0; k < NK; k++)
        for (int j = 0; j < NJ; j++)
            for (int i = 0; i < NI; i++) {
                int64_t v = qr_geometry_index(&g, i, j, k);
                qr_volume_f32(&q)[v] = 100.0f + i + 10.0f * j + 100.0f * k;
                qr_volume_f32(&f)[v] = 2 * qr_volume_f32(&q)[v];
                int in3 = i >= 10 && i <= 14 && j >= 20 && j <= 22 && k >= 4 && k <= 6;
                int in5 = i >= 15 && i <= 16 && j >= 20 && j <= 22 && k >= 4 && k <= 6;
                int in7 = i <= 1 && j <= 1 && k <= 1;
                qr_volume_i32(&l)[v] = in3 ? 3 : (in5 ? 5 : (in7 ? 7 : 0));
            }
    assert_int_equal(qr_subject_prepare(&q, &f, &l, "qsm", "flair", "lesions", QR_LESION_INPUT_AUTO, s), QR_OK);
    assert_int_equal(s->lesions.n, 3);
}

static void test_extraction_hand_worked(void **state) {
    (void)state;
    qr_subject s;
    make_subject(&s);
    const qr_lesion *l3 = qr_lesion_table_find(&s.lesions, 3);
    assert_non_null(l3);
    /* centre of mass (12, 21, 5): origin floor(12 - 15.5 + 0.5) = -3, floor(21 - 15) = 6, floor(5 - 7.5 + 0.5) = -2 */
    qr_lesion_crop c;
    assert_int_equal(qr_lesion_crop_make(&s, l3, &c), QR_OK);
    assert_int_equal(c.patch_origin[0], -3);
    assert_int_equal(c.patch_origin[1], 6);
    assert_int_equal(c.patch_origin[2], -2);
    assert_int_equal(c.voxels, 45);
    qr_intensity_scaling sc = {2.0, 4.0};
    float *p = malloc(QR_PATCH_SIZE * sizeof *p);
    qr_patch_sample(&c, &sc, NULL, p);
    double ref = s.flair_reference;
    int64_t nonzero = 0;
    for (int d = 0; d < QR_PATCH_D; d++)
        for (int h = 0; h < QR_PATCH_H; h++)
            for (int w = 0; w < QR_PATCH_W; w++) {
                int i = -3 + w, j = 6 + h, k = -2 + d;
                int in3 = i >= 10 && i <= 14 && j >= 20 && j <= 22 && k >= 4 && k <= 6;
                float q = p[w + 32 * (h + 32 * d)], f = p[QR_PATCH_VOXELS + w + 32 * (h + 32 * d)];
                if (!in3) {
                    assert_true(q == 0.0f && f == 0.0f); /* other lesion, background, outside the volume */
                    continue;
                }
                nonzero++;
                float qv = 100.0f + i + 10.0f * j + 100.0f * k;
                assert_true(q == qv * (float)(1.0 / 2.0));
                float fr = (2 * qv) * (float)(1.0 / ref);
                assert_true(f == fr * (float)(1.0 / 4.0));
            }
    assert_int_equal(nonzero, 45);
    /* the centre of mass, voxel (12, 21, 5), lands at patch (w 15, h 15, d 7), next to the centre (15.5, 15.5, 7.5) */
    assert_true(p[15 + 32 * (15 + 32 * 7)] == (100.0f + 12 + 210 + 500) * 0.5f);

    /* identity augmentation = inference patch, bit for bit */
    qr_augment id = qr_augment_identity();
    float *p2 = malloc(QR_PATCH_SIZE * sizeof *p2);
    qr_patch_sample(&c, &sc, &id, p2);
    assert_memory_equal(p, p2, QR_PATCH_SIZE * sizeof *p);
    /* an affine draw with no rotation and unit scale also reads exact values */
    id.affine = 1;
    qr_patch_sample(&c, &sc, &id, p2);
    assert_memory_equal(p, p2, QR_PATCH_SIZE * sizeof *p);
    /* flips mirror */
    for (int axis = 0; axis < 3; axis++) {
        qr_augment fl = qr_augment_identity();
        fl.flip_axis = axis;
        qr_patch_sample(&c, &sc, &fl, p2);
        for (int d = 0; d < QR_PATCH_D; d++)
            for (int h = 0; h < QR_PATCH_H; h++)
                for (int w = 0; w < QR_PATCH_W; w++) {
                    int ww = axis == 0 ? 31 - w : w, hh = axis == 1 ? 31 - h : h, dd = axis == 2 ? 15 - d : d;
                    assert_true(p2[w + 32 * (h + 32 * d)] == p[ww + 32 * (hh + 32 * dd)]);
                }
    }
    qr_lesion_crop_free(&c);

    /* the corner lesion: patch reaches outside the volume, zeros there */
    const qr_lesion *l7 = qr_lesion_table_find(&s.lesions, 7);
    assert_int_equal(qr_lesion_crop_make(&s, l7, &c), QR_OK);
    qr_patch_sample(&c, &sc, NULL, p);
    int64_t nz = 0;
    for (int v = 0; v < QR_PATCH_SIZE; v++) nz += p[v] != 0;
    assert_int_equal(nz, 2 * 8);
    qr_lesion_crop_free(&c);
    free(p);
    free(p2);
    qr_subject_free(&s);
}

static void write_f32(const char *dir, const char *name, const float *v, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(v, sizeof *v, n, f), n);
    fclose(f);
}

static void read_f32(const char *dir, const char *name, float *v, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(v, sizeof *v, n, f), n);
    fclose(f);
}

static void test_against_scipy(void **state) {
    (void)state;
    char cmd[2048], dir[512], path[1024];
    snprintf(cmd, sizeof cmd, "%s -c 'import scipy.ndimage' 2>/dev/null", QSMRIM_PYTHON);
    if (system(cmd) != 0) skip();
    snprintf(dir, sizeof dir, "%s/tests/patch_%d", QSMRIM_BINARY_DIR, (int)getpid());
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    assert_int_equal(system(cmd), 0);

    /* a lesion with texture: a rounded blob with varying values */
    qr_geometry g = qr_geometry_identity(50, 50, 20);
    g.spacing[0] = g.spacing[1] = 0.75;
    g.spacing[2] = 3;
    qr_volume q, f, l;
    assert_int_equal(qr_volume_alloc(&q, &g, QR_FLOAT32), QR_OK);
    assert_int_equal(qr_volume_alloc(&f, &g, QR_FLOAT32), QR_OK);
    assert_int_equal(qr_volume_alloc(&l, &g, QR_INT32), QR_OK);
    qr_rng r;
    qr_rng_seed(&r, 77, 0);
    for (int k = 0; k < 20; k++)
        for (int j = 0; j < 50; j++)
            for (int i = 0; i < 50; i++) {
                int64_t v = qr_geometry_index(&g, i, j, k);
                qr_volume_f32(&q)[v] = (float)(20 * qr_rng_normal(&r));
                qr_volume_f32(&f)[v] = (float)(300 + 50 * qr_rng_uniform(&r));
                double di = (i - 24.3) * 0.75, dj = (j - 26.1) * 0.75, dk = (k - 9.4) * 3;
                qr_volume_i32(&l)[v] = di * di + dj * dj + dk * dk < 64 ? 1 : 0;
            }
    qr_subject s;
    assert_int_equal(qr_subject_prepare(&q, &f, &l, "q", "f", "l", QR_LESION_INPUT_AUTO, &s), QR_OK);
    assert_int_equal(s.lesions.n, 1);
    qr_lesion_crop c;
    assert_int_equal(qr_lesion_crop_make(&s, &s.lesions.items[0], &c), QR_OK);

    /* crop channel 0 and the affine map */
    snprintf(path, sizeof path, "%s/crop.txt", dir);
    FILE *t = fopen(path, "w");
    fprintf(t, "%lld %lld %lld\n", (long long)c.size[2], (long long)c.size[1], (long long)c.size[0]);
    fclose(t);
    write_f32(dir, "crop.f32", c.data, (size_t)(c.size[0] * c.size[1] * c.size[2]));
    qr_augment aug = qr_augment_identity();
    aug.affine = 1;
    aug.rot_rad[0] = 4.0 * M_PI / 180;
    aug.rot_rad[1] = -3.0 * M_PI / 180;
    aug.rot_rad[2] = 5.0 * M_PI / 180;
    aug.scale[0] = 1.04;
    aug.scale[1] = 0.96;
    aug.scale[2] = 1.02;
    double A[3][3];
    qr_patch_index_matrix(&aug, c.spacing, A);
    static const double half[3] = {15.5, 15.5, 7.5};
    snprintf(path, sizeof path, "%s/affine.txt", dir);
    t = fopen(path, "w");
    for (int a = 0; a < 3; a++) fprintf(t, "%.17g %.17g %.17g\n", A[a][0], A[a][1], A[a][2]);
    double off[3];
    for (int a = 0; a < 3; a++) {
        double centre = (double)(c.patch_origin[a] - c.origin[a]) + half[a];
        off[a] = centre - (A[a][0] * half[0] + A[a][1] * half[1] + A[a][2] * half[2]);
    }
    fprintf(t, "%.17g %.17g %.17g\n", off[0], off[1], off[2]);
    fclose(t);
    /* a blur input and sigmas */
    float *bl = malloc(QR_PATCH_VOXELS * sizeof *bl);
    for (int v = 0; v < QR_PATCH_VOXELS; v++) bl[v] = (float)qr_rng_normal(&r);
    write_f32(dir, "blurin.f32", bl, QR_PATCH_VOXELS);
    double sig[3] = {0.83, 0.41, 0.27};
    snprintf(path, sizeof path, "%s/blur.txt", dir);
    t = fopen(path, "w");
    fprintf(t, "%.17g %.17g %.17g\n", sig[0], sig[1], sig[2]);
    fclose(t);
    write_f32(dir, "median.f32", qr_volume_f32(&s.flair), (size_t)qr_volume_nvox(&s.flair));

    snprintf(cmd, sizeof cmd, "%s %s/Testing/train/patch_reference.py %s", QSMRIM_PYTHON, QSMRIM_SOURCE_DIR, dir);
    assert_int_equal(system(cmd), 0);

    qr_intensity_scaling one = {1.0, 1.0};
    float *p = malloc(QR_PATCH_SIZE * sizeof *p), *ref = malloc(QR_PATCH_VOXELS * sizeof *ref);
    qr_patch_sample(&c, &one, &aug, p);
    read_f32(dir, "affine_ref.f32", ref, QR_PATCH_VOXELS);
    double maxerr = 0;
    int64_t nz = 0;
    for (int v = 0; v < QR_PATCH_VOXELS; v++) {
        maxerr = fmax(maxerr, fabs(p[v] - ref[v]));
        nz += ref[v] != 0;
    }
    print_message("affine vs scipy: max |diff| %.3g over %lld non-zero voxels\n", maxerr, (long long)nz);
    assert_true(nz > 100);
    assert_true(maxerr < 1e-4);

    float *tmp = malloc(QR_PATCH_VOXELS * sizeof *tmp);
    qr_patch_blur(bl, sig, tmp);
    read_f32(dir, "blur_ref.f32", ref, QR_PATCH_VOXELS);
    maxerr = 0;
    for (int v = 0; v < QR_PATCH_VOXELS; v++) maxerr = fmax(maxerr, fabs(bl[v] - ref[v]));
    print_message("blur vs scipy: max |diff| %.3g\n", maxerr);
    assert_true(maxerr < 1e-5);

    double med;
    snprintf(path, sizeof path, "%s/median.txt", dir);
    t = fopen(path, "r");
    assert_int_equal(fscanf(t, "%lf", &med), 1);
    fclose(t);
    assert_true(fabs(s.flair_reference - med) <= 1e-6 * med);

    free(p);
    free(ref);
    free(bl);
    free(tmp);
    qr_lesion_crop_free(&c);
    qr_subject_free(&s);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* The sampler only visits the patch voxels whose sampling point can reach the crop; this plain
 * version visits all of them (the definition in patch.h, written out), and must agree exactly. */
static float plain_at(const qr_lesion_crop *c, int ch, int64_t i, int64_t j, int64_t k) {
    if (i < 0 || j < 0 || k < 0 || i >= c->size[0] || j >= c->size[1] || k >= c->size[2]) return 0;
    return c->data[ch * c->size[0] * c->size[1] * c->size[2] + i + c->size[0] * (j + c->size[1] * k)];
}

static void plain_sample(const qr_lesion_crop *c, const qr_augment *aug, float *patch) {
    static const int S[3] = {32, 32, 16};
    double A[3][3];
    qr_patch_index_matrix(aug, c->spacing, A);
    float tmp[QR_PATCH_VOXELS];
    for (int ch = 0; ch < 2; ch++) {
        float *dst = patch + ch * QR_PATCH_VOXELS;
        for (int d = 0; d < 16; d++)
            for (int h = 0; h < 32; h++)
                for (int w = 0; w < 32; w++) {
                    int pos[3] = {w, h, d};
                    if (aug->flip_axis >= 0) pos[aug->flip_axis] = S[aug->flip_axis] - 1 - pos[aug->flip_axis];
                    double u[3], x[3];
                    for (int a = 0; a < 3; a++) u[a] = pos[a] - (S[a] - 1) / 2.0;
                    for (int a = 0; a < 3; a++)
                        x[a] = (double)(c->patch_origin[a] - c->origin[a]) + (S[a] - 1) / 2.0 + A[a][0] * u[0] +
                               A[a][1] * u[1] + A[a][2] * u[2];
                    double fx = floor(x[0]), fy = floor(x[1]), fz = floor(x[2]), v = 0;
                    double t[3] = {x[0] - fx, x[1] - fy, x[2] - fz};
                    for (int dk = 0; dk < 2; dk++)
                        for (int dj = 0; dj < 2; dj++)
                            for (int di = 0; di < 2; di++) {
                                double wgt = (dk ? t[2] : 1 - t[2]) * (dj ? t[1] : 1 - t[1]) * (di ? t[0] : 1 - t[0]);
                                if (wgt == 0) continue;
                                v += wgt * plain_at(c, ch, (int64_t)fx + di, (int64_t)fy + dj, (int64_t)fz + dk);
                            }
                    dst[w + 32 * (h + 32 * d)] = (float)v;
                }
        qr_patch_blur(dst, aug->sigma, tmp);
    }
}

static void test_sparse_sampling_exact(void **state) {
    (void)state;
    qr_subject s;
    make_subject(&s);
    qr_augment_config cfg = qr_augment_config_default();
    cfg.p_affine = 1; /* every draw rotates and scales, half of them flip and blur */
    qr_intensity_scaling one = {1.0, 1.0};
    float *a = malloc(QR_PATCH_SIZE * sizeof *a), *b = malloc(QR_PATCH_SIZE * sizeof *b);
    qr_rng r;
    qr_rng_seed(&r, 31, 0);
    for (int64_t li = 0; li < s.lesions.n; li++) {
        qr_lesion_crop c;
        assert_int_equal(qr_lesion_crop_make(&s, &s.lesions.items[li], &c), QR_OK);
        for (int t = 0; t < 40; t++) {
            qr_augment aug;
            qr_augment_draw(&cfg, &r, &aug);
            qr_patch_sample(&c, &one, &aug, a);
            plain_sample(&c, &aug, b);
            assert_memory_equal(a, b, QR_PATCH_SIZE * sizeof *a);
        }
        qr_lesion_crop_free(&c);
    }
    free(a);
    free(b);
    qr_subject_free(&s);
}

static void test_augment_draws(void **state) {
    (void)state;
    qr_augment_config cfg = qr_augment_config_default();
    qr_rng a, b;
    qr_rng_seed(&a, 5, 123);
    qr_rng_seed(&b, 5, 123);
    int flips[3] = {0, 0, 0}, affine = 0, blur = 0;
    for (int t = 0; t < 4000; t++) {
        qr_augment x, y;
        qr_augment_draw(&cfg, &a, &x);
        qr_augment_draw(&cfg, &b, &y);
        assert_memory_equal(&x, &y, sizeof x);
        if (x.flip_axis >= 0) flips[x.flip_axis]++;
        affine += x.affine;
        blur += x.sigma[0] > 0;
        if (x.affine)
            for (int q = 0; q < 3; q++) {
                assert_true(fabs(x.rot_rad[q]) <= 5 * M_PI / 180);
                assert_true(x.scale[q] >= 0.95 && x.scale[q] <= 1.05);
            }
        if (x.sigma[0] > 0) {
            assert_true(x.sigma[0] >= 0.1 && x.sigma[0] <= 0.95 && x.sigma[1] >= 0.1 && x.sigma[1] <= 0.95);
            assert_true(x.sigma[2] >= 0.03 && x.sigma[2] <= 0.3);
        }
    }
    /* probabilities 0.5, axes uniform: loose binomial bands */
    assert_true(affine > 1800 && affine < 2200);
    assert_true(blur > 1800 && blur < 2200);
    for (int q = 0; q < 3; q++) assert_true(flips[q] > 550 && flips[q] < 790);
}

/* RimNet's context-window draws under the three turn policies: the same stream gives the same
 * shift and flip whatever the policy; positives turns rim+ windows only, all turns both classes
 * (each of the 4 turn counts about equally often), none never turns. */
static void test_context_turns(void **state) {
    (void)state;
    qr_augment_config ac = qr_augment_config_default();
    int turned[3][2] = {{0, 0}, {0, 0}, {0, 0}}, counts[4] = {0, 0, 0, 0};
    for (int t = 0; t < 2000; t++) {
        int label = t % 2;
        qr_lesion_draw d[3];
        for (int p = 0; p < 3; p++) {
            qr_rng rng;
            qr_rng_seed(&rng, 9, (uint64_t)t);
            qr_lesion_draw_make(1, label, 1, &ac, (qr_turns)p, -1, &rng, &d[p]);
            turned[p][label] += d[p].turns != 0;
            assert_true(d[p].turns >= 0 && d[p].turns <= 3);
            for (int a = 0; a < 3; a++) assert_int_equal(d[p].shift[a], d[0].shift[a]);
            assert_int_equal(d[p].flip, d[0].flip);
        }
        assert_true(abs(d[0].shift[0]) <= QR_CONTEXT_MARGIN && abs(d[0].shift[2]) <= QR_CONTEXT_MARGIN_K);
        if (label) assert_int_equal(d[QR_TURNS_ALL].turns, d[QR_TURNS_POSITIVES].turns);
        counts[d[QR_TURNS_ALL].turns]++;
    }
    assert_int_equal(turned[QR_TURNS_POSITIVES][0], 0);
    assert_true(turned[QR_TURNS_POSITIVES][1] > 650 && turned[QR_TURNS_POSITIVES][1] < 850); /* 3/4 of 1000 */
    assert_true(turned[QR_TURNS_ALL][0] > 650 && turned[QR_TURNS_ALL][0] < 850);
    assert_int_equal(turned[QR_TURNS_NONE][0] + turned[QR_TURNS_NONE][1], 0);
    for (int q = 0; q < 4; q++) assert_true(counts[q] > 400 && counts[q] < 600);
    /* without augmentation: the plain window, with the test-time flip */
    qr_rng rng;
    qr_rng_seed(&rng, 9, 1);
    qr_lesion_draw d;
    qr_lesion_draw_make(1, 1, 0, &ac, QR_TURNS_ALL, 2, &rng, &d);
    assert_int_equal(d.turns, 0);
    assert_int_equal(d.flip, 2);
    assert_int_equal(d.shift[0] | d.shift[1] | d.shift[2], 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extraction_hand_worked),
        cmocka_unit_test(test_against_scipy),
        cmocka_unit_test(test_sparse_sampling_exact),
        cmocka_unit_test(test_augment_draws),
        cmocka_unit_test(test_context_turns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
