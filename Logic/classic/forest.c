/* forest.c - random forest of Gini classification trees; mtry by inner cross-validation.
 * Definitions: forest.h. */
#include "forest.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef QSMRIM_HAVE_OPENMP
#include <omp.h>
#endif

#include "../core/rng.h"
#include "../eval/curves.h"
#include "../train/folds.h"

qr_forest_params qr_forest_params_default(void) {
    qr_forest_params p = {500, 4, 1, 0, 0, 0};
    return p;
}

void qr_forest_free(qr_forest *f) {
    if (!f) return;
    if (f->trees)
        for (int t = 0; t < f->ntrees; t++) free(f->trees[t].nodes);
    free(f->trees);
    memset(f, 0, sizeof *f);
}

/* ---- one tree ---- */

typedef struct vy {
    double v;
    int y;
} vy;

static int cmp_vy(const void *a, const void *b) {
    double x = ((const vy *)a)->v, z = ((const vy *)b)->v;
    return (x > z) - (x < z);
}

typedef struct tree_work {
    int64_t *rows;   /* bootstrap rows, partitioned in place as the tree grows */
    vy *buf;         /* (value, label) of a node's rows, sorted per feature */
    int *feat;       /* feature order, shuffled per node */
    struct frame { int32_t node; int64_t lo, hi; int depth; } *stack;
} tree_work;

static int32_t add_node(qr_tree *t, int32_t *cap) {
    if (t->nnodes == *cap) {
        int32_t nc = *cap ? *cap * 2 : 64;
        qr_tree_node *nn = realloc(t->nodes, (size_t)nc * sizeof *nn);
        if (!nn) return -1;
        t->nodes = nn;
        *cap = nc;
    }
    qr_tree_node *nd = &t->nodes[t->nnodes];
    nd->feature = -1;
    nd->left = nd->right = -1;
    nd->vote = 0;
    nd->threshold = 0;
    return t->nnodes++;
}

static qr_status grow_tree(const double *X, const int *y, int64_t n, int p, const qr_forest_params *prm, int tree_index,
                           tree_work *w, qr_tree *t) {
    qr_rng rng;
    qr_rng_seed(&rng, prm->seed, (uint64_t)tree_index);
    for (int64_t i = 0; i < n; i++) w->rows[i] = (int64_t)qr_rng_below(&rng, (uint64_t)n);
    int mtry = prm->mtry < 1 ? 1 : (prm->mtry > p ? p : prm->mtry);
    int min_leaf = prm->min_leaf < 1 ? 1 : prm->min_leaf;
    int32_t cap = 0;
    t->nnodes = 0;
    t->nodes = NULL;
    if (add_node(t, &cap) < 0) return qr_fail(QR_ERR_NOMEM, "out of memory growing a tree");
    int64_t top = 0;
    w->stack[top++] = (struct frame){0, 0, n, 0};
    while (top > 0) {
        struct frame fr = w->stack[--top];
        int64_t m = fr.hi - fr.lo, m1 = 0;
        for (int64_t r = fr.lo; r < fr.hi; r++) m1 += y[w->rows[r]];
        double vote = 2 * m1 > m ? 1.0 : (2 * m1 < m ? 0.0 : 0.5);
        t->nodes[fr.node].vote = (float)vote;
        if (m1 == 0 || m1 == m || m < 2 * min_leaf || (prm->max_depth > 0 && fr.depth >= prm->max_depth)) continue;

        /* best split over features drawn in random order until mtry non-constant ones were seen */
        for (int f = 0; f < p; f++) w->feat[f] = f;
        int examined = 0, best_f = -1;
        double best_score = INFINITY, best_thr = 0;
        for (int q = 0; q < p && examined < mtry; q++) {
            int pick = q + (int)qr_rng_below(&rng, (uint64_t)(p - q));
            int f = w->feat[pick];
            w->feat[pick] = w->feat[q];
            w->feat[q] = f;
            for (int64_t r = 0; r < m; r++) {
                int64_t i = w->rows[fr.lo + r];
                w->buf[r].v = X[i * p + f];
                w->buf[r].y = y[i];
            }
            qsort(w->buf, (size_t)m, sizeof *w->buf, cmp_vy);
            if (w->buf[0].v == w->buf[m - 1].v) continue; /* constant here: does not count */
            examined++;
            /* scan: left = first r+1 rows; n*G = n - (n0^2 + n1^2)/n */
            int64_t l1 = 0;
            for (int64_t r = 0; r + 1 < m; r++) {
                l1 += w->buf[r].y;
                if (w->buf[r].v == w->buf[r + 1].v) continue;
                int64_t nl = r + 1, nr = m - nl;
                if (nl < min_leaf || nr < min_leaf) continue;
                double l0 = (double)(nl - l1), r1 = (double)(m1 - l1), r0 = (double)(nr - (m1 - l1));
                double score = (double)nl - ((double)l1 * (double)l1 + l0 * l0) / (double)nl + (double)nr -
                               (r1 * r1 + r0 * r0) / (double)nr;
                if (score < best_score) {
                    best_score = score;
                    best_f = f;
                    best_thr = (w->buf[r].v + w->buf[r + 1].v) / 2.0;
                    if (best_thr == w->buf[r + 1].v) best_thr = w->buf[r].v; /* midpoint rounded up */
                }
            }
        }
        if (best_f < 0) continue;
        /* partition rows: x <= thr to the left */
        int64_t a = fr.lo, b = fr.hi - 1;
        while (a <= b) {
            if (X[w->rows[a] * p + best_f] <= best_thr)
                a++;
            else {
                int64_t tmp = w->rows[a];
                w->rows[a] = w->rows[b];
                w->rows[b] = tmp;
                b--;
            }
        }
        int32_t L = add_node(t, &cap), R = add_node(t, &cap);
        if (L < 0 || R < 0) return qr_fail(QR_ERR_NOMEM, "out of memory growing a tree");
        t->nodes[fr.node].feature = best_f;
        t->nodes[fr.node].threshold = best_thr;
        t->nodes[fr.node].left = L;
        t->nodes[fr.node].right = R;
        w->stack[top++] = (struct frame){L, fr.lo, a, fr.depth + 1};
        w->stack[top++] = (struct frame){R, a, fr.hi, fr.depth + 1};
    }
    return QR_OK;
}

qr_status qr_forest_train(const double *X, const int *y, int64_t n, int p, const qr_forest_params *prm,
                          qr_forest *out, const volatile sig_atomic_t *cancel) {
    memset(out, 0, sizeof *out);
    if (n < 1 || p < 1) return qr_fail(QR_ERR_EMPTY, "a random forest needs samples and features");
    if (prm->ntrees < 1) return qr_fail(QR_ERR_INVALID_ARG, "a random forest needs at least one tree");
    for (int64_t i = 0; i < n; i++)
        if (y[i] != 0 && y[i] != 1) return qr_fail(QR_ERR_INVALID_ARG, "label of sample %lld is %d", (long long)i, y[i]);
    for (int64_t i = 0; i < n * p; i++)
        if (!isfinite(X[i]))
            return qr_fail(QR_ERR_NONFINITE, "feature %lld of sample %lld is not finite", (long long)(i % p),
                           (long long)(i / p));
    out->trees = calloc((size_t)prm->ntrees, sizeof *out->trees);
    if (!out->trees) return qr_fail(QR_ERR_NOMEM, "out of memory for %d trees", prm->ntrees);
    out->ntrees = prm->ntrees;
    out->nfeatures = p;
    qr_status st = QR_OK;
    char err[512] = "";
#ifdef QSMRIM_HAVE_OPENMP
    int nthreads = prm->threads > 0 ? prm->threads : omp_get_max_threads();
#pragma omp parallel num_threads(nthreads)
#endif
    {
        tree_work w;
        w.rows = malloc((size_t)n * sizeof *w.rows);
        w.buf = malloc((size_t)n * sizeof *w.buf);
        w.feat = malloc((size_t)p * sizeof *w.feat);
        w.stack = malloc((size_t)(2 * n + 2) * sizeof *w.stack);
        int ok = w.rows && w.buf && w.feat && w.stack;
#ifdef QSMRIM_HAVE_OPENMP
#pragma omp for schedule(dynamic)
#endif
        for (int t = 0; t < prm->ntrees; t++) {
            qr_status s = QR_OK;
            if (!ok)
                s = qr_fail(QR_ERR_NOMEM, "out of memory growing trees of %lld samples", (long long)n);
            else if (cancel && *cancel)
                s = qr_fail(QR_ERR_CANCELLED, "random forest training interrupted");
            else
                s = grow_tree(X, y, n, p, prm, t, &w, &out->trees[t]);
            if (s != QR_OK) {
#ifdef QSMRIM_HAVE_OPENMP
#pragma omp critical(qr_forest_err)
#endif
                {
                    if (st == QR_OK) {
                        st = s;
                        snprintf(err, sizeof err, "%s", qr_last_error());
                    }
                }
            }
        }
        free(w.rows);
        free(w.buf);
        free(w.feat);
        free(w.stack);
    }
    if (st != QR_OK) {
        qr_forest_free(out);
        return qr_fail(st, "%s", err);
    }
    return QR_OK;
}

void qr_forest_predict(const qr_forest *f, const double *Xq, int64_t m, double *prob) {
    int p = f->nfeatures;
    for (int64_t i = 0; i < m; i++) {
        const double *x = Xq + i * p;
        double votes = 0;
        for (int t = 0; t < f->ntrees; t++) {
            const qr_tree_node *nodes = f->trees[t].nodes;
            int32_t k = 0;
            while (nodes[k].feature >= 0) k = x[nodes[k].feature] <= nodes[k].threshold ? nodes[k].left : nodes[k].right;
            votes += nodes[k].vote;
        }
        prob[i] = votes / f->ntrees;
    }
}

/* ---- mtry by inner cross-validation ---- */

qr_status qr_forest_tune_mtry(const double *X, const int *y, const int *group, int64_t n, int p, const int *candidates,
                              int ncandidates, int inner_folds, const qr_forest_params *prm, qr_forest_prepare_fn prepare,
                              void *user, int *best_mtry, double *scores, const volatile sig_atomic_t *cancel) {
    if (ncandidates < 1) return qr_fail(QR_ERR_INVALID_ARG, "no mtry candidates to choose from");
    /* dense group ids (in order of first appearance) and the inner fold of each group */
    int ng = 0, maxg = 0;
    for (int64_t i = 0; i < n; i++) {
        int g = group ? group[i] : (int)i;
        if (g < 0) return qr_fail(QR_ERR_INVALID_ARG, "group of sample %lld is negative", (long long)i);
        if (g > maxg) maxg = g;
    }
    int *gid = malloc((size_t)n * sizeof *gid), *map = malloc((size_t)(maxg + 1) * sizeof *map);
    if (!gid || !map) {
        free(gid);
        free(map);
        return qr_fail(QR_ERR_NOMEM, "out of memory tuning mtry");
    }
    for (int g = 0; g <= maxg; g++) map[g] = -1;
    for (int64_t i = 0; i < n; i++) {
        int g = group ? group[i] : (int)i;
        if (map[g] < 0) map[g] = ng++;
        gid[i] = map[g];
    }
    free(map);
    int64_t *gpos = calloc((size_t)ng, sizeof *gpos);
    int *gfold = malloc((size_t)ng * sizeof *gfold);
    double *Xtr = malloc((size_t)n * (size_t)p * sizeof *Xtr), *Xte = malloc((size_t)n * (size_t)p * sizeof *Xte);
    int *ytr = malloc((size_t)n * sizeof *ytr), *yte = malloc((size_t)n * sizeof *yte);
    double *oof = malloc((size_t)n * sizeof *oof), *pte = malloc((size_t)n * sizeof *pte);
    int *yoof = malloc((size_t)n * sizeof *yoof);
    qr_status st = QR_OK;
    if (!gpos || !gfold || !Xtr || !Xte || !ytr || !yte || !oof || !pte || !yoof) {
        st = qr_fail(QR_ERR_NOMEM, "out of memory tuning mtry");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) gpos[gid[i]] += y[i];
    int k = inner_folds < ng ? inner_folds : ng;
    st = qr_stratified_folds(gpos, ng, k, prm->seed ^ 0x1AAE5ULL, gfold);
    if (st != QR_OK) goto done;
    double best = -INFINITY;
    *best_mtry = candidates[0];
    for (int c = 0; c < ncandidates; c++) {
        qr_forest_params fp = *prm;
        fp.mtry = candidates[c];
        int64_t no = 0;
        for (int f = 0; f < k && st == QR_OK; f++) {
            int64_t ntr = 0, nte = 0;
            for (int64_t i = 0; i < n; i++) {
                if (gfold[gid[i]] == f) {
                    memcpy(Xte + nte * p, X + i * p, (size_t)p * sizeof *Xte);
                    yte[nte++] = y[i];
                } else {
                    memcpy(Xtr + ntr * p, X + i * p, (size_t)p * sizeof *Xtr);
                    ytr[ntr++] = y[i];
                }
            }
            if (nte == 0 || ntr == 0) continue;
            double *Xa = Xtr;
            int *ya = ytr;
            int64_t na = ntr;
            if (prepare) {
                st = prepare(Xtr, ytr, ntr, p, prm->seed + (uint64_t)f, &Xa, &ya, &na, user);
                if (st != QR_OK) break;
            }
            qr_forest forest;
            fp.seed = prm->seed + 1000003ULL * (uint64_t)(f + 1);
            st = qr_forest_train(Xa, ya, na, p, &fp, &forest, cancel);
            if (prepare) {
                free(Xa);
                free(ya);
            }
            if (st != QR_OK) break;
            qr_forest_predict(&forest, Xte, nte, pte);
            qr_forest_free(&forest);
            memcpy(oof + no, pte, (size_t)nte * sizeof *oof);
            memcpy(yoof + no, yte, (size_t)nte * sizeof *yoof);
            no += nte;
        }
        if (st != QR_OK) goto done;
        double ap = NAN;
        if (qr_average_precision(yoof, oof, NULL, no, &ap) != QR_OK) ap = NAN;
        if (scores) scores[c] = ap;
        if (ap > best || (ap == best && candidates[c] < *best_mtry)) {
            best = ap;
            *best_mtry = candidates[c];
        }
    }
done:
    free(gid);
    free(gpos);
    free(gfold);
    free(Xtr);
    free(Xte);
    free(ytr);
    free(yte);
    free(oof);
    free(pte);
    free(yoof);
    return st;
}
