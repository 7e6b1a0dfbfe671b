#define _GNU_SOURCE
/*
 * test_dataset.c - loading an annotated cohort (Testing/train/mini_cohort.c) and the lesion inputs:
 *   - the dataset loader: annotated lesions only (one left out), rim+ counts per subject, radiomic
 *     features (NaN for one-voxel lesions), a second load entirely from the feature cache with the
 *     same values;
 *   - lesion inputs: the inference input equals the training crop's unaugmented patch; RimNet
 *     context windows are rescaled to [-1, 1]; two quarter turns flip both in-plane axes;
 *   - storage order: the subject stored mirrored or with axes swapped gives the same lesions,
 *     patches and features; a cohort's map of one lesion keeps its label.
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
#include "io/geometry.h"
#include "io/imageio.h"
#include "train/dataset.h"

#include "train/mini_dataset.h"

/* The mini cohort's manifest and its first subject, loaded as the cohort loader loads it. */
static void first_subject(qr_cohort *co, qr_subject *s) {
    char man[1024];
    snprintf(man, sizeof man, "%s/c/cohort.tsv", g_dir);
    assert_int_equal(qr_cohort_read(man, co), QR_OK);
    assert_int_equal(qr_subject_load(co->entries[0].qsm, co->entries[0].flair, co->entries[0].lesions, QR_LESION_INPUT_LABELS, s),
                     QR_OK);
}

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
    qr_cohort co;
    qr_subject s;
    first_subject(&co, &s);
    qr_lesion_crop w;
    assert_int_equal(qr_context_crop_make(&s, &s.lesions.items[0], 2, 1, &w), QR_OK);
    /* the context window is centred as the masked patch (patch.h: o = round(centre - (S - 1) / 2)),
     * widened by the margins */
    const int margin[3] = {2, 2, 1}, S[3] = {QR_PATCH_W, QR_PATCH_H, QR_PATCH_D};
    for (int a = 0; a < 3; a++) {
        const double centre = s.lesions.items[0].center_ijk[a];
        assert_int_equal(w.patch_origin[a], c->patch_origin[a]);
        assert_int_equal(w.patch_origin[a], (int64_t)floor(centre - (S[a] - 1) / 2.0 + 0.5));
        assert_int_equal(w.origin[a], w.patch_origin[a] - margin[a]);
        assert_int_equal(w.size[a], S[a] + 2 * margin[a]);
    }
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
    /* flips mirror one axis of the window in place (the min-max scaling is the same for a mirror) */
    for (int axis = 0; axis < 3; axis++) {
        qr_context_patch_sample(&w, 2, 1, zero, axis, 0, q);
        for (int ch = 0; ch < 2; ch++)
            for (int d = 0; d < QR_PATCH_D; d++)
                for (int h = 0; h < QR_PATCH_H; h++)
                    for (int x = 0; x < QR_PATCH_W; x++) {
                        int fx = axis == 0 ? QR_PATCH_W - 1 - x : x, fh = axis == 1 ? QR_PATCH_H - 1 - h : h,
                            fd = axis == 2 ? QR_PATCH_D - 1 - d : d;
                        if (q[ch * QR_PATCH_VOXELS + x + 32 * (h + 32 * d)] != p[ch * QR_PATCH_VOXELS + fx + 32 * (fh + 32 * fd)])
                            fail_msg("flip of axis %d: channel %d voxel (%d, %d, %d) differs", axis, ch, x, h, d);
                    }
    }
    /* one quarter turn: output (w, h) reads the window at (h, 31 - w) */
    qr_context_patch_sample(&w, 2, 1, zero, -1, 1, q);
    for (int d = 0; d < QR_PATCH_D; d++)
        for (int h = 0; h < QR_PATCH_H; h++)
            for (int x = 0; x < QR_PATCH_W; x++) assert_true(q[x + 32 * (h + 32 * d)] == p[h + 32 * ((31 - x) + 32 * d)]);
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
    qr_cohort co;
    qr_subject s;
    first_subject(&co, &s);
    qr_subject view;
    assert_int_equal(qr_subject_view(&s.qsm, &s.flair, &s.labels, &s.lesions, &view), QR_OK);
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

/* `src` stored with index axes taken from (perm, flip), written here with plain loops as a file
 * stored otherwise would hold it: the geometry is changed so that every voxel keeps its place. */
static void restore(const qr_volume *src, const int perm[3], const int flip[3], qr_volume *out) {
    const qr_geometry *g = &src->geom;
    qr_geometry ng = *g;
    double corner[3] = {0, 0, 0};
    for (int a = 0; a < 3; a++) {
        ng.size[a] = g->size[perm[a]];
        ng.spacing[a] = g->spacing[perm[a]];
        for (int w = 0; w < 3; w++) ng.direction[w * 3 + a] = (flip[a] ? -1 : 1) * g->direction[w * 3 + perm[a]];
        if (flip[a]) corner[perm[a]] = (double)(g->size[perm[a]] - 1);
    }
    for (int w = 0; w < 3; w++)
        for (int c = 0; c < 3; c++) ng.origin[w] += g->direction[w * 3 + c] * g->spacing[c] * corner[c];
    assert_int_equal(qr_volume_alloc(out, &ng, src->dtype), QR_OK);
    const size_t es = qr_dtype_size(src->dtype);
    int64_t n[3];
    for (n[2] = 0; n[2] < ng.size[2]; n[2]++)
        for (n[1] = 0; n[1] < ng.size[1]; n[1]++)
            for (n[0] = 0; n[0] < ng.size[0]; n[0]++) {
                int64_t o[3];
                for (int a = 0; a < 3; a++) o[perm[a]] = flip[a] ? g->size[perm[a]] - 1 - n[a] : n[a];
                const int64_t from = o[0] + g->size[0] * (o[1] + g->size[1] * o[2]);
                const int64_t to = n[0] + ng.size[0] * (n[1] + ng.size[1] * n[2]);
                memcpy((char *)out->data + to * es, (const char *)src->data + from * es, es);
            }
}

/* The same subject stored as RAS (i and j mirrored) and with i and k swapped: the lesions keep
 * their ids, and every lesion's network input and radiomic features are bit for bit those of the
 * subject stored as the training data are. */
static void test_storage_order(void **state) {
    (void)state;
    qr_cohort co;
    qr_subject ref;
    first_subject(&co, &ref);
    assert_int_equal(ref.reordered, 0);
    qr_dataset_options o = {1, 0, 1, NULL, NULL, 2};
    qr_dataset dref;
    qr_subject vref;
    assert_int_equal(qr_subject_view(&ref.qsm, &ref.flair, &ref.labels, &ref.lesions, &vref), QR_OK);
    assert_int_equal(qr_dataset_from_subject(&vref, "ref", &o, &dref), QR_OK);
    const int perms[2][3] = {{0, 1, 2}, {2, 1, 0}}, flips[2][3] = {{1, 1, 0}, {0, 0, 1}};
    float *p = malloc(QR_PATCH_SIZE * sizeof *p), *q = malloc(QR_PATCH_SIZE * sizeof *q);
    for (int v = 0; v < 2; v++) {
        qr_volume q0, f0, l0, qv, fv, lv;
        assert_int_equal(qr_subject_read(co.entries[0].qsm, co.entries[0].flair, co.entries[0].lesions, &q0, &f0, &l0), QR_OK);
        restore(&q0, perms[v], flips[v], &qv);
        restore(&f0, perms[v], flips[v], &fv);
        restore(&l0, perms[v], flips[v], &lv);
        qr_volume_free(&q0);
        qr_volume_free(&f0);
        qr_volume_free(&l0);
        qr_subject s;
        assert_int_equal(qr_subject_prepare(&qv, &fv, &lv, "q", "f", "l", QR_LESION_INPUT_LABELS, &s), QR_OK);
        assert_int_equal(s.reordered, 1);
        assert_int_equal(s.lesions.n, ref.lesions.n);
        assert_true(qr_geometry_same(&s.qsm.geom, &ref.qsm.geom));
        for (int64_t u = 0; u < ref.lesions.n; u++) {
            const qr_lesion *a = &ref.lesions.items[u], *b = &s.lesions.items[u];
            assert_int_equal(a->id, b->id);
            assert_memory_equal(a->bbox, b->bbox, sizeof a->bbox);
            for (int c = 0; c < 3; c++) assert_true(fabs(a->center_ijk[c] - b->center_ijk[c]) < 1e-9);
            assert_int_equal(qr_lesion_inputs(&ref, a, 0, NULL, NULL, p, NULL, NULL), QR_OK);
            assert_int_equal(qr_lesion_inputs(&s, b, 0, NULL, NULL, q, NULL, NULL), QR_OK);
            assert_memory_equal(p, q, QR_PATCH_SIZE * sizeof *p);
        }
        qr_dataset d;
        qr_subject vs;
        assert_int_equal(qr_subject_view(&s.qsm, &s.flair, &s.labels, &s.lesions, &vs), QR_OK);
        assert_int_equal(qr_dataset_from_subject(&vs, "reordered", &o, &d), QR_OK);
        assert_int_equal(d.n * d.nfeatures, dref.n * dref.nfeatures);
        for (int64_t k = 0; k < d.n * d.nfeatures; k++)
            assert_true(d.features[k] == dref.features[k] || (isnan(d.features[k]) && isnan(dref.features[k])));
        qr_dataset_free(&d);
        qr_subject_free(&s);
    }
    free(p);
    free(q);
    qr_dataset_free(&dref);
    qr_subject_free(&ref);
    qr_cohort_free(&co);
}

/* A cohort's lesion map is read as a label map: one lesion labelled 4, in two pieces, stays lesion
 * 4; read automatically it is a mask split into lesions 1 and 2. */
static void test_single_label(void **state) {
    (void)state;
    const qr_geometry g = {{12, 12, 6}, {1, 1, 2}, {0, 0, 0}, {1, 0, 0, 0, 1, 0, 0, 0, 1}};
    for (int kind = 0; kind < 2; kind++) {
        qr_volume q, f, l;
        assert_int_equal(qr_volume_alloc(&q, &g, QR_FLOAT32), QR_OK);
        assert_int_equal(qr_volume_alloc(&f, &g, QR_FLOAT32), QR_OK);
        assert_int_equal(qr_volume_alloc(&l, &g, QR_INT32), QR_OK);
        for (int64_t v = 0; v < qr_volume_nvox(&q); v++) qr_volume_f32(&q)[v] = qr_volume_f32(&f)[v] = 1.0f + (float)(v % 7);
        int32_t *lab = qr_volume_i32(&l);
        lab[2 + 12 * (2 + 12 * 2)] = lab[3 + 12 * (2 + 12 * 2)] = 4;
        lab[8 + 12 * (8 + 12 * 3)] = 4;
        qr_subject s;
        assert_int_equal(qr_subject_prepare(&q, &f, &l, "q", "f", "l", kind ? QR_LESION_INPUT_LABELS : QR_LESION_INPUT_AUTO, &s),
                         QR_OK);
        assert_int_equal(s.lesions.n, kind ? 1 : 2);
        assert_int_equal(s.lesions.items[0].id, kind ? 4 : 1);
        if (kind) assert_int_equal(s.lesions.items[0].voxels, 3);
        qr_subject_free(&s);
    }
}

/* A binary mask listed as a subject's lesion map, its annotation table naming lesion 1 only: read as
 * labels, its separate lesions would be trained as one. Refused, saying how to split it; the same
 * map with another label is taken as one lesion of several parts. */
static void test_binary_mask_refused(void **state) {
    (void)state;
    char path[1024], man[1024], ann[1024];
    qr_volume l;
    snprintf(path, sizeof path, "%s/c/sub-03_lesions.nrrd", g_dir);
    assert_int_equal(qr_image_read(path, QR_INT32, &l, NULL), QR_OK);
    for (int label = 1; label <= 2; label++) {
        int32_t *p = qr_volume_i32(&l);
        for (int64_t v = 0; v < qr_volume_nvox(&l); v++) p[v] = p[v] > 0 ? label : 0;
        snprintf(path, sizeof path, "%s/c/sub-03_mask.nrrd", g_dir);
        assert_int_equal(qr_image_write(path, &l, 0), QR_OK);
        snprintf(ann, sizeof ann, "%s/c/sub-03_mask_annotations.tsv", g_dir);
        FILE *f = fopen(ann, "w");
        assert_non_null(f);
        fprintf(f, "lesion_id\trim\n%d\t0\n", label);
        fclose(f);
        snprintf(man, sizeof man, "%s/c/mask.tsv", g_dir);
        f = fopen(man, "w");
        assert_non_null(f);
        fprintf(f, "subject\tqsm\tflair\tlesions\tannotations\n");
        for (int s = 1; s <= 3; s++)
            fprintf(f, "sub-%02d\tsub-%02d_qsm.nrrd\tsub-%02d_flair.nrrd\tsub-%02d_%s.nrrd\tsub-%02d_%sannotations.tsv\n", s, s, s,
                    s, s == 3 ? "mask" : "lesions", s, s == 3 ? "mask_" : "");
        fclose(f);
        qr_cohort c;
        assert_int_equal(qr_cohort_read(man, &c), QR_OK);
        qr_dataset_options o = {0, 0, 0, NULL, NULL, 1};
        qr_dataset d;
        const qr_status st = qr_dataset_load(&c, &o, &d, NULL, NULL, NULL);
        qr_cohort_free(&c);
        if (label == 1) {
            assert_int_equal(st, QR_ERR_FORMAT);
            assert_non_null(strstr(qr_last_error(), "subject 'sub-03'"));
            assert_non_null(strstr(qr_last_error(), "sub-03_mask.nrrd holds one label (1) whose voxels form"));
            assert_non_null(strstr(qr_last_error(), "qsmrim lesions --mask MAP --out LESIONS.tsv --out-labels LABELS.nrrd"));
        } else {
            if (st != QR_OK) fail_msg("%s", qr_last_error());
            assert_int_equal(d.subject_lesions[2], 1);
            qr_dataset_free(&d);
        }
    }
    qr_volume_free(&l);
}

/* Annotation rows whose lesion_id no lesion map can hold, or whose rim is no class: one error each,
 * naming the subject, the file, the line and what is wrong with the value. */
static void test_annotation_values(void **state) {
    (void)state;
    static const struct {
        const char *row, *needle;
    } cases[] = {{"0\t1", "line 2: lesion_id 0 is not a positive label"},
                 {"-3\t0", "line 2: lesion_id -3 is not a positive label"},
                 {"2147483648\t0", "line 2: lesion_id 2147483648 is beyond the largest label a lesion map holds (2147483647)"},
                 {"7\t2", "line 2: rim is 2 (must be 1 for rim+ or 0 for rim-)"}};
    char path[1024];
    snprintf(path, sizeof path, "%s/ann_values.tsv", g_dir);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "lesion_id\trim\n%s\n", cases[i].row);
        fclose(f);
        qr_annotation *a = NULL;
        int64_t n = 0;
        assert_int_equal(qr_annotations_read(path, "sub-x", &a, &n), QR_ERR_FORMAT);
        if (!strstr(qr_last_error(), cases[i].needle)) fail_msg("%s: %s", cases[i].row, qr_last_error());
        assert_non_null(strstr(qr_last_error(), "subject 'sub-x'"));
        assert_null(a);
    }
    /* a review file of qsmrim-review: rim+ and rim- are the labels; unsure and undecided lesions
     * are left out (not annotated); another decision, or a bad id on any row, is an error */
    FILE *rf = fopen(path, "w");
    assert_non_null(rf);
    fprintf(rf, "# reviewed\nlesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote\n"
                "9\tnone\t\t\t0.1\trim-\t\n5\trim-\tr1\tt\t0.2\trim-\t\n7\tunsure\tr1\tt\t0.5\treview\tedge?\n"
                "3\trim+\tr2\tt\t0.9\trim+\t\n");
    fclose(rf);
    qr_annotation *ra = NULL;
    int64_t rn = 0;
    assert_int_equal(qr_annotations_read(path, "sub-x", &ra, &rn), QR_OK);
    assert_int_equal(rn, 2);
    assert_int_equal(ra[0].lesion_id, 3);
    assert_int_equal(ra[0].rim, 1);
    assert_int_equal(ra[1].lesion_id, 5);
    assert_int_equal(ra[1].rim, 0);
    free(ra);
    static const struct {
        const char *row, *needle;
    } review_cases[] = {{"4\tmaybe", "line 2: decision 'maybe' (a review file's decisions are rim+, rim-, unsure and none)"},
                        {"0\tunsure", "line 2: lesion_id 0 is not a positive label"},
                        {"4\t rim+ ", "line 2: decision ' rim+ ' (a review file's"},
                        {"4\t", "line 2: decision '' (a review file's"}};
    /* a rim column beside a review file's decision column: which one counts would be a guess */
    rf = fopen(path, "w");
    assert_non_null(rf);
    fprintf(rf, "lesion_id\tdecision\trim\n3\trim-\t1\n");
    fclose(rf);
    assert_int_equal(qr_annotations_read(path, "sub-x", &ra, &rn), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "has both a rim column and a review file's decision column"));
    for (size_t i = 0; i < sizeof review_cases / sizeof *review_cases; i++) {
        rf = fopen(path, "w");
        assert_non_null(rf);
        fprintf(rf, "lesion_id\tdecision\n%s\n", review_cases[i].row);
        fclose(rf);
        assert_int_equal(qr_annotations_read(path, "sub-x", &ra, &rn), QR_ERR_FORMAT);
        if (!strstr(qr_last_error(), review_cases[i].needle)) fail_msg("%s: %s", review_cases[i].row, qr_last_error());
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "lesion_id\trim\n2147483647\t1\n");
    fclose(f);
    qr_annotation *a = NULL;
    int64_t n = 0;
    assert_int_equal(qr_annotations_read(path, "sub-x", &a, &n), QR_OK);
    assert_int_equal(n, 1);
    free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dataset),
        cmocka_unit_test(test_context_patch),
        cmocka_unit_test(test_from_subject),
        cmocka_unit_test(test_storage_order),
        cmocka_unit_test(test_single_label),
        cmocka_unit_test(test_binary_mask_refused),
        cmocka_unit_test(test_annotation_values),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
