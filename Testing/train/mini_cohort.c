/*
 * mini_cohort.c - writes a tiny annotated cohort for the command-level tests of training and
 * evaluation: small QSM / FLAIR / label-map volumes (64 x 64 x 16, 0.75 x 0.75 x 3 mm) with
 * ellipsoidal lesions; rim+ lesions carry a paramagnetic shell on the QSM, rim- lesions a diffuse
 * value; FLAIR lesions are 1.35 x brighter. A few one-voxel lesions (too small for PyRadiomics) and,
 * in the first subject, one lesion without an annotation row exercise those paths.
 * This is test data for the plumbing, not a phantom of MS: `qsmrim phantom` makes that.
 *
 * usage: qsmrim_mini_cohort OUTDIR SUBJECTS SEED
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileutil.h"
#include "core/rng.h"
#include "io/imageio.h"

#define NI 64
#define NJ 64
#define NK 16

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s OUTDIR SUBJECTS SEED\n", argv[0]);
        return 2;
    }
    const char *out = argv[1];
    int nsub = atoi(argv[2]);
    uint64_t seed = (uint64_t)strtoull(argv[3], NULL, 10);
    if (qr_mkdir_p(out) != QR_OK) return 1;
    char path[QR_PATH_MAX];
    snprintf(path, sizeof path, "%s/cohort.tsv", out);
    FILE *man = fopen(path, "w");
    if (!man) return 1;
    fprintf(man, "subject\tqsm\tflair\tlesions\tannotations\n");
    for (int s = 0; s < nsub; s++) {
        qr_rng r;
        qr_rng_seed(&r, seed, (uint64_t)s);
        qr_geometry g = qr_geometry_identity(NI, NJ, NK);
        g.spacing[0] = g.spacing[1] = 0.75;
        g.spacing[2] = 3.0;
        g.origin[0] = -24;
        g.origin[1] = -24;
        g.origin[2] = -24;
        qr_volume q, f, l;
        if (qr_volume_alloc(&q, &g, QR_FLOAT32) || qr_volume_alloc(&f, &g, QR_FLOAT32) || qr_volume_alloc(&l, &g, QR_INT32))
            return 1;
        float *qv = qr_volume_f32(&q), *fv = qr_volume_f32(&f);
        int32_t *lv = qr_volume_i32(&l);
        for (int64_t v = 0; v < NI * NJ * NK; v++) {
            qv[v] = (float)(8 * qr_rng_normal(&r));
            fv[v] = (float)(100 + 5 * qr_rng_normal(&r));
        }
        char ann[QR_PATH_MAX];
        snprintf(ann, sizeof ann, "%s/sub-%02d_annotations.tsv", out, s + 1);
        FILE *af = fopen(ann, "w");
        fprintf(af, "lesion_id\trim\n");
        /* lesions on a 3 x 3 grid of cells (in-plane) at alternating depths */
        int id = 0;
        for (int cell = 0; cell < 9; cell++) {
            int ci = 11 + 21 * (cell % 3), cj = 11 + 21 * (cell / 3), ck = 4 + 7 * (cell % 2);
            int tiny = cell == 8 && s % 3 == 0;
            double ri = tiny ? 0.4 : 2.0 + 3.0 * qr_rng_uniform(&r), rk = tiny ? 0.4 : 1.0 + 1.2 * qr_rng_uniform(&r);
            int rim = !tiny && qr_rng_uniform(&r) < 0.3 + 0.1 * (ri > 3.5);
            /* rim: +12..+35 ppb on a share 0.5..1 of the edge (by angle); some rim- lesions have a
             * bright vein-like band along one side (a confounder) or a diffuse high value */
            double contrast = 12 + 23 * qr_rng_uniform(&r), core = 10 * qr_rng_uniform(&r) - 5;
            double cover = 0.5 + 0.5 * qr_rng_uniform(&r), start = 2 * M_PI * qr_rng_uniform(&r);
            int vein = !rim && qr_rng_uniform(&r) < 0.25;
            double diffuse = !rim && !vein && qr_rng_uniform(&r) < 0.3 ? 15 + 15 * qr_rng_uniform(&r) : 0;
            id++;
            for (int k = 0; k < NK; k++)
                for (int j = 0; j < NJ; j++)
                    for (int i = 0; i < NI; i++) {
                        double x = (i - ci) / ri, y = (j - cj) / ri, z = (k - ck) / rk;
                        double rr = sqrt(x * x + y * y + z * z);
                        if (rr > 1.0) continue;
                        int64_t v = qr_geometry_index(&g, i, j, k);
                        lv[v] = id;
                        fv[v] *= 1.35f;
                        double shell = rr > 1.0 - 1.2 / ri; /* the outer in-plane voxel */
                        double ang = fmod(atan2(y, x) - start + 4 * M_PI, 2 * M_PI);
                        double val = core + diffuse + 8 * qr_rng_uniform(&r);
                        if (rim && shell && ang < 2 * M_PI * cover) val = contrast;
                        if (vein && shell && x > 0.5) val = contrast;
                        qv[v] = (float)(val + 6 * qr_rng_normal(&r));
                    }
            if (!(s == 0 && cell == 4)) fprintf(af, "%d\t%d\n", id, rim); /* one unannotated lesion */
        }
        fclose(af);
        char qp[QR_PATH_MAX], fp[QR_PATH_MAX], lp[QR_PATH_MAX];
        snprintf(qp, sizeof qp, "%s/sub-%02d_qsm.nrrd", out, s + 1);
        snprintf(fp, sizeof fp, "%s/sub-%02d_flair.nrrd", out, s + 1);
        snprintf(lp, sizeof lp, "%s/sub-%02d_lesions.nrrd", out, s + 1);
        if (qr_image_write(qp, &q, 0) || qr_image_write(fp, &f, 0) || qr_image_write(lp, &l, 0)) {
            fprintf(stderr, "%s\n", qr_last_error());
            return 1;
        }
        fprintf(man, "sub-%02d\tsub-%02d_qsm.nrrd\tsub-%02d_flair.nrrd\tsub-%02d_lesions.nrrd\tsub-%02d_annotations.tsv\n",
                s + 1, s + 1, s + 1, s + 1, s + 1);
        qr_volume_free(&q);
        qr_volume_free(&f);
        qr_volume_free(&l);
    }
    fclose(man);
    return 0;
}
