/*
 * viewer_fixture.c - a small synthetic subject and a predict run's outputs for the viewer tests,
 * generated at test time (no data files needed).
 *
 *   viewer_fixture OUTDIR [--flip]
 *
 * Grid: 160 x 160 x 40 voxels of 0.75 x 0.75 x 3 mm, axial slices. Index axes along LPS
 * (i -> Left, j -> Posterior, k -> Superior) as `qsmrim phantom` writes them, or with --flip the
 * j axis reversed (j -> Anterior, an "LAS" grid as MNI-space NIfTI files have), so that the
 * viewer's orientation handling is tested on both. The content is placed in LPS millimetres
 * relative to the grid centre, so both variants show the same anatomy.
 *
 *   brain     ellipsoid (radii 55, 50, 50 mm); QSM a smooth +-6 ppb texture, FLAIR 90
 *   vein      a line along the S axis, QSM +120 ppb
 *   lesions   five ellipsoids (FLAIR hyperintense), QSM appearance and model output by design:
 *     #  centre (L, P, S) mm   radius mm     QSM                          P(rim+)  unc.   decision
 *     a  ( 25, -20,  15)      7, 7, 6       rim: core 5, outer 1.5 mm +45  0.93     0.03   rim+
 *     b  (-25,  10,   0)      6, 6, 6       isointense 0                    0.12     0.08   rim-
 *     c  (  0,  25, -15)      5, 5, 6       diffusely hyperintense +25      0.41     0.15   review
 *     d  ( 20,  25,   0)      6, 6, 6       partial rim (posterior half)    0.58     0.11   rim+
 *     e  (-15, -25,  10)      4, 4, 4.5     hypointense -20                 0.05     0.02   rim-
 *   Lesion a is on the patient's left and anterior: on the screen's right and top half of an
 *   axial view in radiological convention; b is on the patient's right (screen left).
 *   Decisions follow the rule of Logic/predict/predict.h with t_f1 = 0.5, t_sensitive = 0.3.
 *
 * Files (the lesion ids are those of `qsmrim lesions` on the mask: components numbered in memory
 * order, 26-connectivity):
 *   qsm.nii.gz  flair.nii.gz  lesions.nii.gz (binary mask)
 *   table.tsv (predict's header)  overlay.nrrd (decision codes)  probability.nrrd
 *   truth.tsv: lesion_id design probability decision center_i center_j center_k
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileutil.h"
#include "io/imageio.h"
#include "lesions/lesions.h"

typedef struct design {
    char name;
    double c[3], r[3];   /* LPS mm from the grid centre; radii */
    int kind;            /* 0 rim, 1 iso, 2 hyper, 3 partial rim, 4 hypo */
    double p, u;
} design;

static const design LESIONS[5] = {
    {'a', {25, -20, 15}, {7, 7, 6}, 0, 0.93, 0.03},  {'b', {-25, 10, 0}, {6, 6, 6}, 1, 0.12, 0.08},
    {'c', {0, 25, -15}, {5, 5, 6}, 2, 0.41, 0.15},   {'d', {20, 25, 0}, {6, 6, 6}, 3, 0.58, 0.11},
    {'e', {-15, -25, 10}, {4, 4, 4.5}, 4, 0.05, 0.02}};

static int decide(double p) { return p >= 0.5 ? 3 : (p >= 0.3 ? 2 : 1); }
static const char *decision_name(int d) { return d == 3 ? "rim+" : d == 2 ? "review" : "rim-"; }

static int die(const char *what) {
    fprintf(stderr, "viewer_fixture: %s: %s\n", what, qr_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: viewer_fixture OUTDIR [--flip]\n");
        return 2;
    }
    const char *out = argv[1];
    int flip = argc > 2 && !strcmp(argv[2], "--flip");
    if (qr_mkdir_p(out) != QR_OK) return die(out);

    qr_geometry g = qr_geometry_identity(160, 160, 40);
    g.spacing[0] = g.spacing[1] = 0.75;
    g.spacing[2] = 3.0;
    if (flip) g.direction[4] = -1.0;
    /* origin: the grid centre at LPS (0, 0, 0) */
    for (int a = 0; a < 3; a++) g.origin[a] = 0;
    {
        double mid[3] = {(g.size[0] - 1) / 2.0, (g.size[1] - 1) / 2.0, (g.size[2] - 1) / 2.0}, p[3];
        qr_geometry_index_to_lps(&g, mid, p);
        for (int a = 0; a < 3; a++) g.origin[a] = -p[a];
    }
    qr_volume qsm, flair, mask;
    if (qr_volume_alloc(&qsm, &g, QR_FLOAT32) || qr_volume_alloc(&flair, &g, QR_FLOAT32) ||
        qr_volume_alloc(&mask, &g, QR_INT32))
        return die("alloc");
    float *q = qr_volume_f32(&qsm), *f = qr_volume_f32(&flair);
    int32_t *m = qr_volume_i32(&mask);
    for (int64_t k = 0; k < g.size[2]; k++)
        for (int64_t j = 0; j < g.size[1]; j++)
            for (int64_t i = 0; i < g.size[0]; i++) {
                double ijk[3] = {(double)i, (double)j, (double)k}, x[3];
                qr_geometry_index_to_lps(&g, ijk, x);
                int64_t v = qr_geometry_index(&g, i, j, k);
                double e = x[0] * x[0] / (55.0 * 55.0) + x[1] * x[1] / (50.0 * 50.0) + x[2] * x[2] / (50.0 * 50.0);
                if (e > 1.0) continue;
                q[v] = (float)(6.0 * sin(x[0] / 7.0) * cos(x[1] / 9.0));
                f[v] = (float)(90.0 + 10.0 * (1.0 - e));
                if (hypot(x[0] + 35.0, x[1] - 5.0) < 1.2) q[v] = 120.0f; /* vein */
                for (int l = 0; l < 5; l++) {
                    const design *L = &LESIONS[l];
                    double d[3], rr = 0;
                    for (int a = 0; a < 3; a++) {
                        d[a] = x[a] - L->c[a];
                        rr += d[a] * d[a] / (L->r[a] * L->r[a]);
                    }
                    if (rr > 1.0) continue;
                    m[v] = 1;
                    f[v] = 165.0f;
                    double depth = (1.0 - sqrt(rr)) * L->r[0]; /* ~ mm from the edge */
                    switch (L->kind) {
                    case 0: q[v] = depth < 1.5 ? 45.0f : 5.0f; break;
                    case 1: q[v] = 0.0f; break;
                    case 2: q[v] = 25.0f; break;
                    case 3: q[v] = (depth < 1.5 && d[1] > 0) ? 40.0f : 2.0f; break;
                    default: q[v] = -20.0f; break;
                    }
                }
            }

    /* lesions as qsmrim lesions / predict find them */
    qr_lesion_options lo = qr_lesion_options_default();
    qr_volume labels;
    qr_lesion_table t;
    if (qr_lesions_extract(&mask, &lo, &labels, &t, NULL) != QR_OK) return die("lesions");
    if (t.n != 5) {
        fprintf(stderr, "viewer_fixture: expected 5 lesions, found %lld\n", (long long)t.n);
        return 1;
    }
    int which[5]; /* design index of lesion t.items[u] */
    for (int64_t u = 0; u < t.n; u++) {
        double x[3];
        qr_geometry_index_to_lps(&g, t.items[u].center_ijk, x);
        int best = 0;
        double bd = 1e30;
        for (int l = 0; l < 5; l++) {
            double dd = 0;
            for (int a = 0; a < 3; a++) dd += (x[a] - LESIONS[l].c[a]) * (x[a] - LESIONS[l].c[a]);
            if (dd < bd) bd = dd, best = l;
        }
        which[u] = best;
    }
    qr_volume overlay, prob;
    if (qr_volume_alloc(&overlay, &g, QR_INT32) || qr_volume_alloc(&prob, &g, QR_FLOAT32)) return die("alloc");
    int32_t *ov = qr_volume_i32(&overlay), *lab = qr_volume_i32(&labels);
    float *pm = qr_volume_f32(&prob);
    for (int64_t v = 0; v < qr_volume_nvox(&labels); v++) {
        if (lab[v] <= 0) continue;
        const design *L = &LESIONS[which[lab[v] - 1]]; /* ids 1..5 = items 0..4 */
        ov[v] = decide(L->p);
        pm[v] = (float)L->p;
    }

    char path[QR_PATH_MAX];
#define WRITE(name, vol)                                                                                               \
    do {                                                                                                               \
        snprintf(path, sizeof path, "%s/%s", out, name);                                                               \
        if (qr_image_write(path, vol, QR_WRITE_COMPRESS) != QR_OK) return die(path);                                   \
    } while (0)
    WRITE("qsm.nii.gz", &qsm);
    WRITE("flair.nii.gz", &flair);
    WRITE("lesions.nii.gz", &mask);
    WRITE("overlay.nrrd", &overlay);
    WRITE("probability.nrrd", &prob);
#undef WRITE

    /* the table as predict writes it: sorted by probability, highest first */
    int order[5] = {0, 1, 2, 3, 4};
    for (int a = 0; a < 5; a++)
        for (int b = a + 1; b < 5; b++)
            if (LESIONS[which[order[b]]].p > LESIONS[which[order[a]]].p) {
                int tmp = order[a];
                order[a] = order[b];
                order[b] = tmp;
            }
    qr_atomic tf, truth;
    snprintf(path, sizeof path, "%s/table.tsv", out);
    if (qr_atomic_open(&tf, path)) return die(path);
    fprintf(tf.fp, "lesion_id\tvolume_mm3\tcenter_r\tcenter_a\tcenter_s\tprobability\tuncertainty\tdecision\n");
    snprintf(path, sizeof path, "%s/truth.tsv", out);
    if (qr_atomic_open(&truth, path)) return die(path);
    fprintf(truth.fp, "lesion_id\tdesign\tprobability\tdecision\tcenter_i\tcenter_j\tcenter_k\n");
    for (int o = 0; o < 5; o++) {
        const qr_lesion *L = &t.items[order[o]];
        const design *D = &LESIONS[which[order[o]]];
        fprintf(tf.fp, "%d\t%.6g\t%.3f\t%.3f\t%.3f\t%.6f\t%.6f\t%s\n", L->id, L->volume_mm3, L->center_ras[0],
                L->center_ras[1], L->center_ras[2], D->p, D->u, decision_name(decide(D->p)));
        fprintf(truth.fp, "%d\t%c\t%.6f\t%s\t%.4f\t%.4f\t%.4f\n", L->id, D->name, D->p, decision_name(decide(D->p)),
                L->center_ijk[0], L->center_ijk[1], L->center_ijk[2]);
    }
    if (qr_atomic_commit(&tf) || qr_atomic_commit(&truth)) return die("tables");
    qr_lesion_table_free(&t);
    qr_volume_free(&qsm);
    qr_volume_free(&flair);
    qr_volume_free(&mask);
    qr_volume_free(&labels);
    qr_volume_free(&overlay);
    qr_volume_free(&prob);
    return 0;
}
