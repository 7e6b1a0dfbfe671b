/*
 * test_forest.c - the APRL comparator's random forest and SMOTE.
 *   - forest vs scikit-learn's RandomForestClassifier (500 trees, max_features 4) on a fixed
 *     make_classification dataset: test accuracy and ROC AUC within a band of scikit-learn's
 *     (its mean over 5 random states); skipped (77) without scikit-learn;
 *   - same forest for 1 and 2 threads (bit-identical), a hand-made separable case;
 *   - SMOTE: class counts balanced, input rows untouched, every synthetic row on a segment between
 *     a minority row and one of its k nearest minority neighbours (range-scaled distance);
 *   - mtry by inner cross-validation picks a candidate and scores all.
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

#include "classic/forest.h"
#include "classic/smote.h"
#include "core/rng.h"
#include "eval/curves.h"

#define P 12

static char g_dir[512];

static int read_table(const char *path, double **X, int **y, int64_t *n) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int64_t cap = 4096, m = 0;
    *X = malloc((size_t)cap * P * sizeof **X);
    *y = malloc((size_t)cap * sizeof **y);
    double lab;
    while (fscanf(f, "%lf", &lab) == 1) {
        (*y)[m] = (int)lab;
        for (int j = 0; j < P; j++)
            if (fscanf(f, "%lf", &(*X)[m * P + j]) != 1) {
                fclose(f);
                return -1;
            }
        m++;
    }
    fclose(f);
    *n = m;
    return 0;
}

static void test_forest_vs_sklearn(void **state) {
    (void)state;
    char cmd[2048], path[1024];
    snprintf(cmd, sizeof cmd, "%s -c 'import sklearn' 2>/dev/null", QSMRIM_PYTHON);
    if (system(cmd) != 0) skip();
    snprintf(g_dir, sizeof g_dir, "%s/tests/forest_%d", QSMRIM_BINARY_DIR, (int)getpid());
    snprintf(cmd, sizeof cmd, "mkdir -p %s && %s %s/Testing/train/forest_reference.py %s", g_dir, QSMRIM_PYTHON,
             QSMRIM_SOURCE_DIR, g_dir);
    assert_int_equal(system(cmd), 0);
    double *Xtr, *Xte;
    int *ytr, *yte;
    int64_t ntr, nte;
    snprintf(path, sizeof path, "%s/train.tsv", g_dir);
    assert_int_equal(read_table(path, &Xtr, &ytr, &ntr), 0);
    snprintf(path, sizeof path, "%s/test.tsv", g_dir);
    assert_int_equal(read_table(path, &Xte, &yte, &nte), 0);
    assert_int_equal(ntr, 1400);
    assert_int_equal(nte, 600);
    double ref_acc, ref_auc, ref_acc_spread, ref_auc_spread;
    snprintf(path, sizeof path, "%s/sklearn.txt", g_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%lf %lf %lf %lf", &ref_acc, &ref_auc, &ref_acc_spread, &ref_auc_spread), 4);
    fclose(f);

    qr_forest_params prm = qr_forest_params_default();
    prm.mtry = 4;
    prm.seed = 3;
    qr_forest forest;
    assert_int_equal(qr_forest_train(Xtr, ytr, ntr, P, &prm, &forest, NULL), QR_OK);
    double *p = malloc((size_t)nte * sizeof *p);
    qr_forest_predict(&forest, Xte, nte, p);
    double correct = 0;
    for (int64_t i = 0; i < nte; i++) correct += (p[i] >= 0.5) == yte[i];
    double acc = correct / (double)nte, auc;
    assert_int_equal(qr_roc_auc(yte, p, NULL, nte, 1.0, &auc), QR_OK);
    print_message("forest: accuracy %.4f AUC %.4f; scikit-learn: accuracy %.4f AUC %.4f (spread %.4f %.4f)\n", acc, auc,
                  ref_acc, ref_auc, ref_acc_spread, ref_auc_spread);
    /* votes vs leaf fractions and other random streams: the same estimator, so within a band */
    assert_true(fabs(acc - ref_acc) <= 0.02);
    assert_true(fabs(auc - ref_auc) <= 0.015);
    assert_true(auc > 0.85); /* the dataset is learnable: a broken forest could not reach this */

    /* the same forest for any number of threads */
    qr_forest f1;
    prm.threads = 1;
    prm.ntrees = 60;
    assert_int_equal(qr_forest_train(Xtr, ytr, ntr, P, &prm, &f1, NULL), QR_OK);
    qr_forest f2;
    prm.threads = 2;
    assert_int_equal(qr_forest_train(Xtr, ytr, ntr, P, &prm, &f2, NULL), QR_OK);
    double *p1 = malloc((size_t)nte * sizeof *p1), *p2 = malloc((size_t)nte * sizeof *p2);
    qr_forest_predict(&f1, Xte, nte, p1);
    qr_forest_predict(&f2, Xte, nte, p2);
    assert_memory_equal(p1, p2, (size_t)nte * sizeof *p1);

    /* mtry tuning by inner CV (rows grouped in tens, like lesions of one subject) */
    int *group = malloc((size_t)ntr * sizeof *group);
    for (int64_t i = 0; i < ntr; i++) group[i] = (int)(i / 10);
    int cand[3] = {1, 4, 12}, best = -1;
    double scores[3];
    prm.ntrees = 50;
    assert_int_equal(qr_forest_tune_mtry(Xtr, ytr, group, ntr, P, cand, 3, 3, &prm, NULL, NULL, &best, scores, NULL),
                     QR_OK);
    print_message("inner-CV average precision: mtry 1: %.4f, 4: %.4f, 12: %.4f -> %d\n", scores[0], scores[1],
                  scores[2], best);
    for (int c = 0; c < 3; c++) assert_true(scores[c] > 0.5 && scores[c] <= 1);
    assert_true(best == 1 || best == 4 || best == 12);
    int bi = best == 1 ? 0 : (best == 4 ? 1 : 2);
    for (int c = 0; c < 3; c++) assert_true(scores[bi] >= scores[c]);

    free(group);
    free(p);
    free(p1);
    free(p2);
    qr_forest_free(&forest);
    qr_forest_free(&f1);
    qr_forest_free(&f2);
    free(Xtr);
    free(Xte);
    free(ytr);
    free(yte);
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    assert_int_equal(system(cmd), 0);
}

/* Hand-made: class = x0 > 0.5 with a noise feature; every tree splits the node on x0 eventually. */
static void test_forest_separable(void **state) {
    (void)state;
    enum { N = 200 };
    double X[N * 2];
    int y[N];
    qr_rng r;
    qr_rng_seed(&r, 1, 1);
    for (int i = 0; i < N; i++) {
        X[2 * i] = qr_rng_uniform(&r);
        X[2 * i + 1] = qr_rng_uniform(&r);
        y[i] = X[2 * i] > 0.5;
    }
    qr_forest_params prm = qr_forest_params_default();
    prm.ntrees = 50;
    prm.mtry = 1;
    qr_forest f;
    assert_int_equal(qr_forest_train(X, y, N, 2, &prm, &f, NULL), QR_OK);
    double q[4] = {0.1, 0.5, 0.9, 0.5}, p[2];
    qr_forest_predict(&f, q, 2, p);
    assert_true(p[0] < 0.1 && p[1] > 0.9);
    /* leaves are pure: every training row is predicted with its own label by a majority */
    double pt[N];
    qr_forest_predict(&f, X, N, pt);
    for (int i = 0; i < N; i++) assert_true((pt[i] >= 0.5) == y[i]);
    qr_forest_free(&f);
    /* bad input */
    X[3] = NAN;
    assert_int_equal(qr_forest_train(X, y, N, 2, &prm, &f, NULL), QR_ERR_NONFINITE);
    assert_int_equal(qr_forest_train(X, y, 0, 2, &prm, &f, NULL), QR_ERR_EMPTY);
}

static void test_smote(void **state) {
    (void)state;
    enum { N = 300, D = 3 };
    double X[N * D];
    int y[N];
    qr_rng r;
    qr_rng_seed(&r, 9, 9);
    int nmin = 0;
    for (int i = 0; i < N; i++) {
        y[i] = qr_rng_uniform(&r) < 0.1;
        nmin += y[i];
        X[i * D + 0] = qr_rng_normal(&r) + 2 * y[i];
        X[i * D + 1] = 1000 * qr_rng_normal(&r); /* large scale: the range scaling must tame it */
        X[i * D + 2] = qr_rng_uniform(&r);
    }
    qr_smote_params sp = qr_smote_params_default();
    sp.seed = 4;
    double *Xo;
    int *yo;
    int64_t no;
    assert_int_equal(qr_smote(X, y, N, D, &sp, &Xo, &yo, &no), QR_OK);
    int64_t n1 = 0;
    for (int64_t i = 0; i < no; i++) n1 += yo[i];
    assert_int_equal(n1, no - n1); /* balanced */
    assert_int_equal(no, 2 * (N - nmin));
    assert_memory_equal(Xo, X, sizeof X);
    assert_memory_equal(yo, y, sizeof y);

    /* brute-force neighbours with range-scaled distances */
    double range[D];
    for (int f = 0; f < D; f++) {
        double lo = X[f], hi = X[f];
        for (int i = 1; i < N; i++) {
            lo = fmin(lo, X[i * D + f]);
            hi = fmax(hi, X[i * D + f]);
        }
        range[f] = hi - lo;
    }
    int idx[N], m = 0;
    for (int i = 0; i < N; i++)
        if (y[i]) idx[m++] = i;
    for (int64_t s = N; s < no; s++) {
        const double *z = Xo + s * D;
        int found = 0;
        for (int a = 0; a < m && !found; a++) {
            /* the 5 nearest of idx[a] */
            double d[N];
            for (int b = 0; b < m; b++) {
                d[b] = 0;
                for (int f = 0; f < D; f++) {
                    double t = (X[idx[a] * D + f] - X[idx[b] * D + f]) / range[f];
                    d[b] += t * t;
                }
            }
            d[a] = INFINITY;
            for (int rank = 0; rank < 5 && !found; rank++) {
                int bb = 0;
                for (int b = 1; b < m; b++)
                    if (d[b] < d[bb]) bb = b;
                d[bb] = INFINITY;
                /* z = x_a + u (x_b - x_a) for one u in [0,1] */
                const double *xa = X + idx[a] * D, *xb = X + idx[bb] * D;
                double u = (z[0] - xa[0]) / (xb[0] - xa[0]);
                if (!(u >= -1e-12 && u <= 1 + 1e-12)) continue;
                int ok = 1;
                for (int f = 0; f < D; f++) ok &= fabs(xa[f] + u * (xb[f] - xa[f]) - z[f]) <= 1e-9 * (1 + fabs(z[f]));
                found = ok;
            }
        }
        assert_true(found);
        assert_int_equal(yo[s], 1);
    }
    free(Xo);
    free(yo);
    /* one minority sample: nothing to interpolate, input returned */
    int y1[N] = {0};
    y1[7] = 1;
    assert_int_equal(qr_smote(X, y1, N, D, &sp, &Xo, &yo, &no), QR_OK);
    assert_int_equal(no, N);
    free(Xo);
    free(yo);

    /* ties by the lower index (smote.c): one feature, one neighbour; minority rows at 0, 2, -2, -3
     * (rows 0..3) and 40 majority rows at 10. Row 0's neighbours 2 and -2 tie: row 1 (2) wins.
     * The others' nearest: 0, -3 and -2. So every synthetic sample lies on [0, 2] or [-3, -2]; one
     * inside (-2, 0) would come from the tie going to row 2. */
    enum { NT = 44 };
    double xt[NT];
    int yt[NT];
    const double mins[4] = {0, 2, -2, -3};
    for (int i = 0; i < NT; i++) {
        xt[i] = i < 4 ? mins[i] : 10;
        yt[i] = i < 4;
    }
    qr_smote_params tp = qr_smote_params_default();
    tp.k = 1;
    tp.seed = 9;
    assert_int_equal(qr_smote(xt, yt, NT, 1, &tp, &Xo, &yo, &no), QR_OK);
    assert_int_equal(no, 2 * (NT - 4));
    int from_row0 = 0;
    for (int64_t s = NT; s < no; s++) {
        const double z = Xo[s];
        assert_true((z >= 0 && z <= 2) || (z >= -3 && z <= -2));
        from_row0 += z > 0 && z < 2;
    }
    assert_true(from_row0 > 0);
    free(Xo);
    free(yo);
}

/* Tree rules checked on tiny hand-made cases, each against what the definition (scikit-learn's
 * CART with bootstrap) gives by hand:
 *   (a) a leaf that cannot be split (identical rows, labels 0 0 1 1 before the bootstrap) votes its
 *       majority, 0.5 on a tie (forest.h), so by symmetry the forest gives 0.5;
 *   (b) min_leaf 1 lets a split put one row on either side: a lone rim+ row at the lowest x is
 *       isolated in every tree whose bootstrap holds it, 1 - 0.9^10 = 0.651 of them;
 *   (c) a threshold between adjacent doubles whose midpoint rounds up to the upper one is the lower
 *       one, so the upper value still goes right;
 *   (d) mtry candidates of equal inner-CV average precision: the smallest is chosen. */
static void test_forest_tree_rules(void **state) {
    (void)state;
    qr_forest_params prm = qr_forest_params_default();
    prm.ntrees = 2000;
    prm.mtry = 1;
    prm.seed = 11;
    prm.threads = 1;
    qr_forest f;
    double p[1];
    /* (a) */
    {
        double X[4] = {1, 1, 1, 1};
        int y[4] = {0, 0, 1, 1};
        assert_int_equal(qr_forest_train(X, y, 4, 1, &prm, &f, NULL), QR_OK);
        double q[1] = {1};
        qr_forest_predict(&f, q, 1, p);
        print_message("tied leaves: P %.4f (expected 0.5)\n", p[0]);
        assert_true(fabs(p[0] - 0.5) < 0.03);
        qr_forest_free(&f);
    }
    /* (b) */
    {
        double X[10];
        int y[10];
        for (int i = 0; i < 10; i++) X[i] = i, y[i] = i == 0;
        assert_int_equal(qr_forest_train(X, y, 10, 1, &prm, &f, NULL), QR_OK);
        double q[1] = {0};
        qr_forest_predict(&f, q, 1, p);
        const double want = 1.0 - pow(0.9, 10);
        print_message("lone row at the edge: P %.4f (expected %.4f)\n", p[0], want);
        assert_true(fabs(p[0] - want) < 0.04); /* sd of 2000 trees: 0.011 */
        qr_forest_free(&f);
    }
    /* (c) */
    {
        const double v = nextafter(1.0, 2.0), vn = nextafter(v, 2.0);
        assert_true((v + vn) / 2.0 == vn); /* the midpoint rounds up (ties to even) */
        double X[2] = {v, vn};
        int y[2] = {0, 1};
        prm.ntrees = 50;
        assert_int_equal(qr_forest_train(X, y, 2, 1, &prm, &f, NULL), QR_OK);
        /* trees whose bootstrap holds both rows split them; others are one pure leaf */
        int both = 0;
        for (int t = 0; t < f.ntrees; t++)
            if (f.trees[t].nnodes == 3) {
                both++;
                assert_true(f.trees[t].nodes[0].threshold == v);
            }
        assert_true(both > 10);
        double q[2] = {v, vn}, pp[2];
        qr_forest_predict(&f, q, 2, pp);
        assert_true(pp[1] > pp[0]);
        qr_forest_free(&f);
    }
    /* (d) rows that any one feature separates: every mtry scores alike */
    {
        enum { N = 60 };
        double X[N * 4];
        int y[N], group[N];
        for (int i = 0; i < N; i++) {
            y[i] = i % 3 == 0;
            for (int j = 0; j < 4; j++) X[4 * i + j] = y[i] ? 10.0 + i + j : (double)(i % 7) + j;
            group[i] = i;
        }
        int cand[3] = {4, 2, 3}, best = -1;
        double scores[3];
        prm.ntrees = 20;
        assert_int_equal(qr_forest_tune_mtry(X, y, group, N, 4, cand, 3, 3, &prm, NULL, NULL, &best, scores, NULL), QR_OK);
        print_message("equal scores: %.6f %.6f %.6f -> %d\n", scores[0], scores[1], scores[2], best);
        assert_true(scores[0] == scores[1] && scores[1] == scores[2] && scores[0] > 0.9); /* a tie of all three */
        assert_int_equal(best, 2);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forest_separable),
        cmocka_unit_test(test_forest_tree_rules),
        cmocka_unit_test(test_smote),
        cmocka_unit_test(test_forest_vs_sklearn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
