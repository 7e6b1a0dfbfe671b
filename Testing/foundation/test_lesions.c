/*
 * test_lesions.c - connected components against a brute-force flood fill on random masks (both
 * connectivities), the lesion count of a real mask against an independent labelling, and the
 * lesion table's semantics (label maps, empty masks, minimum volume, border flag, RAS centres).
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

#include "core/rng.h"
#include "io/imageio.h"
#include "lesions/lesions.h"

/* Brute force: breadth-first flood fill from each unlabelled foreground voxel, scanning in memory
 * order, testing every voxel pair of the neighbourhood explicitly. Independent of the union-find. */
static int64_t flood_fill(const qr_volume *mask, int conn, int32_t *lab) {
    const int64_t ni = mask->geom.size[0], nj = mask->geom.size[1], nk = mask->geom.size[2], nv = ni * nj * nk;
    const int32_t *m = qr_volume_i32(mask);
    int64_t *queue = malloc((size_t)nv * sizeof *queue);
    memset(lab, 0, (size_t)nv * sizeof *lab);
    int32_t next = 0;
    for (int64_t s = 0; s < nv; s++) {
        if (!m[s] || lab[s]) continue;
        lab[s] = ++next;
        int64_t head = 0, tail = 0;
        queue[tail++] = s;
        while (head < tail) {
            int64_t v = queue[head++];
            int64_t i = v % ni, j = (v / ni) % nj, k = v / (ni * nj);
            for (int dk = -1; dk <= 1; dk++)
                for (int dj = -1; dj <= 1; dj++)
                    for (int di = -1; di <= 1; di++) {
                        int d = abs(di) + abs(dj) + abs(dk);
                        if (d == 0 || (conn == 6 && d > 1)) continue;
                        int64_t a = i + di, b = j + dj, c = k + dk;
                        if (a < 0 || b < 0 || c < 0 || a >= ni || b >= nj || c >= nk) continue;
                        int64_t w = a + ni * (b + nj * c);
                        if (m[w] && !lab[w]) {
                            lab[w] = next;
                            queue[tail++] = w;
                        }
                    }
        }
    }
    free(queue);
    return next;
}

static void random_mask(qr_volume *m, qr_rng *r, double density) {
    int32_t *p = qr_volume_i32(m);
    for (int64_t i = 0; i < qr_volume_nvox(m); i++) p[i] = qr_rng_uniform(r) < density;
}

static void test_components_vs_flood_fill(void **state) {
    (void)state;
    qr_rng r;
    qr_rng_seed(&r, 2024, 0);
    const double densities[] = {0.05, 0.2, 0.35, 0.5, 0.8};
    for (int trial = 0; trial < 40; trial++) {
        int64_t ni = 3 + (int64_t)qr_rng_below(&r, 20), nj = 3 + (int64_t)qr_rng_below(&r, 20),
                nk = 1 + (int64_t)qr_rng_below(&r, 12);
        qr_geometry g = qr_geometry_identity(ni, nj, nk);
        qr_volume mask, labels;
        assert_int_equal(qr_volume_alloc(&mask, &g, QR_INT32), QR_OK);
        random_mask(&mask, &r, densities[trial % 5]);
        for (int conn = 6; conn <= 26; conn += 20) {
            int64_t n = -1;
            assert_int_equal(qr_connected_components(&mask, conn, &labels, &n), QR_OK);
            int32_t *ref = malloc((size_t)qr_volume_nvox(&mask) * sizeof *ref);
            int64_t nref = flood_fill(&mask, conn, ref);
            assert_int_equal(n, nref);
            /* Both number components in order of their first voxel in memory: identical maps. */
            assert_memory_equal(qr_volume_i32(&labels), ref, (size_t)qr_volume_nvox(&mask) * sizeof *ref);
            free(ref);
            qr_volume_free(&labels);
        }
        qr_volume_free(&mask);
    }
}

static void test_connectivity_difference(void **state) {
    (void)state;
    /* two voxels touching at a corner: one lesion with 26-connectivity, two with 6 */
    qr_geometry g = qr_geometry_identity(4, 4, 4);
    qr_volume m, l;
    assert_int_equal(qr_volume_alloc(&m, &g, QR_INT32), QR_OK);
    qr_volume_i32(&m)[qr_geometry_index(&g, 1, 1, 1)] = 1;
    qr_volume_i32(&m)[qr_geometry_index(&g, 2, 2, 2)] = 1;
    int64_t n;
    assert_int_equal(qr_connected_components(&m, 26, &l, &n), QR_OK);
    assert_int_equal(n, 1);
    qr_volume_free(&l);
    assert_int_equal(qr_connected_components(&m, 6, &l, &n), QR_OK);
    assert_int_equal(n, 2);
    qr_volume_free(&l);
    assert_int_equal(qr_connected_components(&m, 18, &l, &n), QR_ERR_INVALID_ARG);
    qr_volume_free(&m);
}

/* patient01 of the open MS data set: 251 lesions with 26-connectivity and 414 with 6, as counted
 * by scipy.ndimage.label (structure ones((3,3,3)) and the default cross) on the same file. */
static void test_real_mask_count(void **state) {
    (void)state;
    qr_volume m, labels;
    const char *path = QSMRIM_TEST_DATA "/open_ms_data/masks/patient01_lesions_mni.nii.gz";
    if (qr_image_read(path, QR_INT32, &m, NULL) != QR_OK) fail_msg("%s", qr_last_error());
    qr_lesion_table t;
    qr_lesion_options o = qr_lesion_options_default();
    int was_mask = 0;
    assert_int_equal(qr_lesions_extract(&m, &o, &labels, &t, &was_mask), QR_OK);
    assert_true(was_mask);
    assert_int_equal(t.n, 251);
    int64_t total = 0;
    for (int64_t i = 0; i < t.n; i++) total += t.items[i].voxels;
    int64_t fg = 0;
    for (int64_t i = 0; i < qr_volume_nvox(&m); i++) fg += qr_volume_i32(&m)[i] != 0;
    assert_int_equal(total, fg);
    qr_lesion_table_free(&t);
    qr_volume_free(&labels);
    o.connectivity = 6;
    assert_int_equal(qr_lesions_extract(&m, &o, NULL, &t, NULL), QR_OK);
    assert_int_equal(t.n, 414);
    qr_lesion_table_free(&t);
    qr_volume_free(&m);
}

static void test_table_semantics(void **state) {
    (void)state;
    qr_geometry g = qr_geometry_identity(10, 10, 5);
    g.spacing[0] = 0.5;
    g.spacing[1] = 0.5;
    g.spacing[2] = 2.0;
    g.origin[0] = 5;
    qr_volume m, labels;
    assert_int_equal(qr_volume_alloc(&m, &g, QR_INT32), QR_OK);
    int32_t *p = qr_volume_i32(&m);
    /* label 7: a 2x2x1 block at (2..3, 2..3, 2); label 3: a single voxel at the corner (0,0,0);
     * label 9: two disjoint voxels (kept as one lesion in a label map) */
    for (int j = 2; j <= 3; j++)
        for (int i = 2; i <= 3; i++) p[qr_geometry_index(&g, i, j, 2)] = 7;
    p[qr_geometry_index(&g, 0, 0, 0)] = 3;
    p[qr_geometry_index(&g, 8, 8, 3)] = 9;
    p[qr_geometry_index(&g, 6, 8, 3)] = 9;
    qr_lesion_table t;
    int was_mask = 1;
    assert_int_equal(qr_lesions_extract(&m, NULL, &labels, &t, &was_mask), QR_OK);
    assert_false(was_mask);
    assert_int_equal(t.n, 3);
    assert_int_equal(t.items[0].id, 3);
    assert_int_equal(t.items[1].id, 7);
    assert_int_equal(t.items[2].id, 9);
    const qr_lesion *a = qr_lesion_table_find(&t, 7);
    assert_non_null(a);
    assert_int_equal(a->voxels, 4);
    assert_float_equal(a->volume_mm3, 4 * 0.5 * 0.5 * 2.0, 1e-12);
    assert_float_equal(a->center_ijk[0], 2.5, 1e-12);
    /* RAS of index (2.5, 2.5, 2): LPS (5 + 1.25, 1.25, 4) -> RAS (-6.25, -1.25, 4) */
    assert_float_equal(a->center_ras[0], -6.25, 1e-12);
    assert_float_equal(a->center_ras[1], -1.25, 1e-12);
    assert_float_equal(a->center_ras[2], 4.0, 1e-12);
    assert_int_equal(a->bbox[0], 2);
    assert_int_equal(a->bbox[4], 3);
    assert_int_equal(a->touches_border, 0);
    assert_int_equal(qr_lesion_table_find(&t, 3)->touches_border, 1);
    assert_int_equal(qr_lesion_table_find(&t, 3)->voxels, 1);
    assert_int_equal(qr_lesion_table_find(&t, 9)->voxels, 2);
    assert_null(qr_lesion_table_find(&t, 4));
    qr_lesion_table_free(&t);
    qr_volume_free(&labels);

    /* the border flag on the far side of each axis alone: a voxel at index size - 1 of one axis
     * (and inside along the others) touches it, one at size - 2 does not */
    for (int a = 0; a < 3; a++)
        for (int back = 1; back <= 2; back++) {
            memset(p, 0, (size_t)qr_volume_nvox(&m) * sizeof *p);
            int64_t c[3] = {4, 4, 2};
            c[a] = g.size[a] - back;
            p[qr_geometry_index(&g, c[0], c[1], c[2])] = 5;
            assert_int_equal(qr_lesions_extract(&m, NULL, &labels, &t, &was_mask), QR_OK);
            assert_int_equal(t.n, 1);
            assert_int_equal(t.items[0].touches_border, back == 1);
            qr_lesion_table_free(&t);
            qr_volume_free(&labels);
        }
    memset(p, 0, (size_t)qr_volume_nvox(&m) * sizeof *p); /* the first map again, for what follows */
    for (int j = 2; j <= 3; j++)
        for (int i = 2; i <= 3; i++) p[qr_geometry_index(&g, i, j, 2)] = 7;
    p[qr_geometry_index(&g, 0, 0, 0)] = 3;
    p[qr_geometry_index(&g, 8, 8, 3)] = 9;
    p[qr_geometry_index(&g, 6, 8, 3)] = 9;

    /* minimum volume drops the one-voxel (0.5 mm^3) lesion and keeps labels of a label map */
    qr_lesion_options o = qr_lesion_options_default();
    o.min_volume_mm3 = 0.6;
    assert_int_equal(qr_lesions_extract(&m, &o, &labels, &t, NULL), QR_OK);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.items[0].id, 7);
    assert_int_equal(qr_volume_i32(&labels)[qr_geometry_index(&g, 0, 0, 0)], 0);
    qr_lesion_table_free(&t);
    qr_volume_free(&labels);

    /* forced mask reading: components 1..3 (label 9's two voxels are not connected) + renumbering */
    o.input = QR_LESION_INPUT_MASK;
    o.min_volume_mm3 = 0;
    assert_int_equal(qr_lesions_extract(&m, &o, &labels, &t, &was_mask), QR_OK);
    assert_true(was_mask);
    assert_int_equal(t.n, 4);
    assert_int_equal(qr_volume_i32(&labels)[qr_geometry_index(&g, 0, 0, 0)], 1);
    qr_lesion_table_free(&t);
    qr_volume_free(&labels);
    o.min_volume_mm3 = 0.6;
    assert_int_equal(qr_lesions_extract(&m, &o, &labels, &t, NULL), QR_OK);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.items[0].id, 1);
    assert_int_equal(t.items[0].voxels, 4);
    assert_int_equal(qr_volume_i32(&labels)[qr_geometry_index(&g, 2, 2, 2)], 1);
    qr_lesion_table_free(&t);
    qr_volume_free(&labels);
    qr_volume_free(&m);
}

static void test_empty_and_negative(void **state) {
    (void)state;
    qr_geometry g = qr_geometry_identity(5, 5, 5);
    qr_volume m, labels;
    assert_int_equal(qr_volume_alloc(&m, &g, QR_INT32), QR_OK);
    qr_lesion_table t;
    assert_int_equal(qr_lesions_extract(&m, NULL, &labels, &t, NULL), QR_OK);
    assert_int_equal(t.n, 0);
    assert_null(t.items);
    qr_volume_free(&labels);
    qr_volume_i32(&m)[4] = -1;
    assert_int_equal(qr_lesions_extract(&m, NULL, &labels, &t, NULL), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "negative label"));
    qr_volume_free(&m);
}

/* Labels anywhere in int32: the minimum-volume filter used a table indexed by label (16 GiB for
 * label 2^31 - 1, then a signed overflow in its loop). */
static void test_huge_labels(void **state) {
    (void)state;
    qr_geometry g = qr_geometry_identity(6, 6, 6);
    qr_volume m, labels;
    assert_int_equal(qr_volume_alloc(&m, &g, QR_INT32), QR_OK);
    int32_t *p = qr_volume_i32(&m);
    p[qr_geometry_index(&g, 0, 0, 0)] = 5; /* one voxel: dropped by the filter */
    for (int i = 2; i < 5; i++) p[qr_geometry_index(&g, i, 3, 3)] = INT32_MAX;
    p[qr_geometry_index(&g, 5, 5, 5)] = INT32_MAX - 1;
    p[qr_geometry_index(&g, 5, 5, 4)] = INT32_MAX - 1;
    qr_lesion_options o = qr_lesion_options_default();
    o.input = QR_LESION_INPUT_LABELS;
    o.min_volume_mm3 = 1.5;
    qr_lesion_table t;
    assert_int_equal(qr_lesions_extract(&m, &o, &labels, &t, NULL), QR_OK);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.items[0].id, INT32_MAX - 1);
    assert_int_equal(t.items[0].voxels, 2);
    assert_int_equal(t.items[1].id, INT32_MAX);
    assert_int_equal(t.items[1].voxels, 3);
    const int32_t *l = qr_volume_i32(&labels);
    assert_int_equal(l[qr_geometry_index(&g, 0, 0, 0)], 0);
    assert_int_equal(l[qr_geometry_index(&g, 3, 3, 3)], INT32_MAX);
    assert_int_equal(l[qr_geometry_index(&g, 5, 5, 4)], INT32_MAX - 1);
    qr_lesion_table_free(&t);
    qr_volume_free(&labels);
    qr_volume_free(&m);
}

/* A mask stored with one positive value other than 1 (0/255 of 8-bit tools) is a mask: two blobs
 * were one lesion "255" centred between them. A lesion of exactly the minimum volume is kept
 * although the float spacings make its volume 1.0499999999999998 for a printed 1.05. */
static void test_one_value_masks_and_min_volume(void **state) {
    (void)state;
    qr_geometry g = qr_geometry_identity(8, 8, 4);
    g.spacing[0] = 0.5;
    g.spacing[1] = 0.7;
    g.spacing[2] = 3.0;
    qr_volume m, labels;
    assert_int_equal(qr_volume_alloc(&m, &g, QR_INT32), QR_OK);
    int32_t *p = qr_volume_i32(&m);
    p[qr_geometry_index(&g, 1, 1, 1)] = 255; /* one voxel */
    p[qr_geometry_index(&g, 5, 5, 2)] = 255; /* two voxels, far from the first */
    p[qr_geometry_index(&g, 6, 5, 2)] = 255;
    qr_lesion_table t;
    int was_mask = 0;
    assert_int_equal(qr_lesions_extract(&m, NULL, &labels, &t, &was_mask), QR_OK);
    assert_true(was_mask);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.items[0].id, 1);
    assert_int_equal(t.items[0].voxels, 1);
    assert_int_equal(t.items[1].id, 2);
    assert_int_equal(t.items[1].voxels, 2);
    assert_int_equal(qr_volume_i32(&labels)[qr_geometry_index(&g, 6, 5, 2)], 2);
    qr_lesion_table_free(&t);
    qr_volume_free(&labels);

    /* minimum volume equal to the one-voxel lesion's volume keeps it; just above drops it */
    const double voxel = 0.5 * 0.7 * 3.0;
    assert_true(voxel < 1.05); /* the case this guards */
    qr_lesion_options o = qr_lesion_options_default();
    o.min_volume_mm3 = 1.05;
    assert_int_equal(qr_lesions_extract(&m, &o, &labels, &t, NULL), QR_OK);
    assert_int_equal(t.n, 2);
    qr_lesion_table_free(&t);
    qr_volume_free(&labels);
    o.min_volume_mm3 = 2.1; /* exactly the two-voxel lesion */
    assert_int_equal(qr_lesions_extract(&m, &o, &labels, &t, NULL), QR_OK);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.items[0].voxels, 2);
    qr_lesion_table_free(&t);
    qr_volume_free(&labels);
    o.min_volume_mm3 = 1.06;
    assert_int_equal(qr_lesions_extract(&m, &o, &labels, &t, NULL), QR_OK);
    assert_int_equal(t.n, 1);
    qr_lesion_table_free(&t);
    qr_volume_free(&labels);

    /* forced label reading keeps the single value as one lesion with its own label */
    o = qr_lesion_options_default();
    o.input = QR_LESION_INPUT_LABELS;
    assert_int_equal(qr_lesions_extract(&m, &o, &labels, &t, &was_mask), QR_OK);
    assert_false(was_mask);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.items[0].id, 255);
    assert_int_equal(t.items[0].voxels, 3);
    qr_lesion_table_free(&t);
    qr_volume_free(&labels);

    /* a second positive value makes it a label map */
    p[qr_geometry_index(&g, 3, 3, 3)] = 4;
    assert_int_equal(qr_lesions_extract(&m, NULL, &labels, &t, &was_mask), QR_OK);
    assert_false(was_mask);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.items[0].id, 4);
    assert_int_equal(t.items[1].id, 255);
    qr_lesion_table_free(&t);
    qr_volume_free(&labels);
    qr_volume_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_components_vs_flood_fill), cmocka_unit_test(test_connectivity_difference),
        cmocka_unit_test(test_real_mask_count),          cmocka_unit_test(test_table_semantics),
        cmocka_unit_test(test_empty_and_negative),       cmocka_unit_test(test_huge_labels),
        cmocka_unit_test(test_one_value_masks_and_min_volume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
