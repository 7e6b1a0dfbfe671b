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

/* ---- one tree ----
 *
 * CART with presorting: the training rows are sorted once per feature for the whole forest
 * (`order`). A tree's bootstrap sample is laid out by row (all copies of row 0, then of row 1, ...),
 * so each feature's sorted order of the sample follows from the global order in O(n). A node is a
 * range [lo, hi) that is the same in every feature's sorted list; a split partitions every list
 * stably, so the children keep their rows sorted. The splits are those of sorting the node's rows
 * for each examined feature (same thresholds, same tie-breaking). */

typedef struct tree_work {
    int32_t *count;  /* n: copies of each row in the bootstrap sample */
    int32_t *start;  /* n: first sample position of each row */
    int32_t *row;    /* n: training row of each sample position */
    double *col;     /* (p, n): feature values by sample position */
    int *lab;        /* n: label by sample position */
    int32_t *sorted; /* (p, n): sample positions sorted by each feature */
    int32_t *tmp;    /* n */
    unsigned char *left; /* n: marks of the split being applied */
    int *feat;       /* p: feature order, shuffled per node */
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

/* order: (p, n) training rows sorted by each feature (ties by row). */
static qr_status grow_tree(const double *X, const int *y, int64_t n, int p, const int32_t *order,
                           const qr_forest_params *prm, int tree_index, tree_work *w, qr_tree *t) {
    qr_rng rng;
    qr_rng_seed(&rng, prm->seed, (uint64_t)tree_index);
    memset(w->count, 0, (size_t)n * sizeof *w->count);
    for (int64_t i = 0; i < n; i++) w->count[qr_rng_below(&rng, (uint64_t)n)]++;
    int32_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        w->start[i] = pos;
        for (int32_t c = 0; c < w->count[i]; c++) w->row[pos + c] = (int32_t)i;
        pos += w->count[i];
    }
    for (int64_t q = 0; q < n; q++) w->lab[q] = y[w->row[q]];
    for (int f = 0; f < p; f++) {
        double *cf = w->col + (size_t)f * (size_t)n;
        int32_t *sf = w->sorted + (size_t)f * (size_t)n;
        for (int64_t q = 0; q < n; q++) cf[q] = X[(int64_t)w->row[q] * p + f];
        int64_t k = 0;
        const int32_t *of = order + (size_t)f * (size_t)n;
        for (int64_t r = 0; r < n; r++) {
            int32_t i = of[r];
            for (int32_t c = 0; c < w->count[i]; c++) sf[k++] = w->start[i] + c;
        }
    }
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
        const int32_t *s0 = w->sorted + fr.lo;
        for (int64_t r = 0; r < m; r++) m1 += w->lab[s0[r]];
        double vote = 2 * m1 > m ? 1.0 : (2 * m1 < m ? 0.0 : 0.5);
        t->nodes[fr.node].vote = (float)vote;
        if (m1 == 0 || m1 == m || m < 2 * min_leaf || (prm->max_depth > 0 && fr.depth >= prm->max_depth)) continue;

        /* best split over features drawn in random order until mtry non-constant ones were seen */
        for (int f = 0; f < p; f++) w->feat[f] = f;
        int examined = 0, best_f = -1;
        int64_t best_nl = 0;
        double best_score = INFINITY, best_thr = 0;
        for (int q = 0; q < p && examined < mtry; q++) {
            int pick = q + (int)qr_rng_below(&rng, (uint64_t)(p - q));
            int f = w->feat[pick];
            w->feat[pick] = w->feat[q];
            w->feat[q] = f;
            const int32_t *sf = w->sorted + (size_t)f * (size_t)n + fr.lo;
            const double *cf = w->col + (size_t)f * (size_t)n;
            if (cf[sf[0]] == cf[sf[m - 1]]) continue; /* constant here: does not count */
            examined++;
            /* scan: left = first r+1 rows; n*G = n - (n0^2 + n1^2)/n */
            int64_t l1 = 0;
            for (int64_t r = 0; r + 1 < m; r++) {
                l1 += w->lab[sf[r]];
                double v = cf[sf[r]], vn = cf[sf[r + 1]];
                if (v == vn) continue;
                int64_t nl = r + 1, nr = m - nl;
                if (nl < min_leaf || nr < min_leaf) continue;
                double l0 = (double)(nl - l1), r1 = (double)(m1 - l1), r0 = (double)(nr - (m1 - l1));
                double score = (double)nl - ((double)l1 * (double)l1 + l0 * l0) / (double)nl + (double)nr -
                               (r1 * r1 + r0 * r0) / (double)nr;
                if (score < best_score) {
                    best_score = score;
                    best_f = f;
                    best_nl = nl;
                    best_thr = (v + vn) / 2.0;
                    if (best_thr == vn) best_thr = v; /* midpoint rounded up */
                }
            }
        }
        if (best_f < 0) continue;
        /* the first best_nl positions of the best feature go left; every list is partitioned stably */
        const int32_t *sb = w->sorted + (size_t)best_f * (size_t)n + fr.lo;
        for (int64_t r = 0; r < m; r++) w->left[sb[r]] = r < best_nl;
        for (int f = 0; f < p; f++) {
            int32_t *sf = w->sorted + (size_t)f * (size_t)n + fr.lo;
            int64_t a = 0, b = 0;
            for (int64_t r = 0; r < m; r++) {
                if (w->left[sf[r]])
                    sf[a++] = sf[r];
                else
                    w->tmp[b++] = sf[r];
            }
            memcpy(sf + a, w->tmp, (size_t)b * sizeof *sf);
        }
        int32_t L = add_node(t, &cap), R = add_node(t, &cap);
        if (L < 0 || R < 0) return qr_fail(QR_ERR_NOMEM, "out of memory growing a tree");
        t->nodes[fr.node].feature = best_f;
        t->nodes[fr.node].threshold = best_thr;
        t->nodes[fr.node].left = L;
        t->nodes[fr.node].right = R;
        w->stack[top++] = (struct frame){L, fr.lo, fr.lo + best_nl, fr.depth + 1};
        w->stack[top++] = (struct frame){R, fr.lo + best_nl, fr.hi, fr.depth + 1};
    }
    return QR_OK;
}

/* Row order sorted by each feature (ties by row index). */
typedef struct vi {
    double v;
    int32_t i;
} vi;

static int cmp_vi(const void *a, const void *b) {
    const vi *x = a, *z = b;
    if (x->v < z->v) return -1;
    if (x->v > z->v) return 1;
    return (x->i > z->i) - (x->i < z->i);
}

static qr_status presort(const double *X, int64_t n, int p, int32_t **order) {
    *order = malloc((size_t)n * (size_t)p * sizeof **order);
    vi *buf = malloc((size_t)n * sizeof *buf);
    if (!*order || !buf) {
        free(*order);
        free(buf);
        *order = NULL;
        return qr_fail(QR_ERR_NOMEM, "out of memory sorting %lld samples", (long long)n);
    }
    for (int f = 0; f < p; f++) {
        for (int64_t i = 0; i < n; i++) {
            buf[i].v = X[i * p + f];
            buf[i].i = (int32_t)i;
        }
        qsort(buf, (size_t)n, sizeof *buf, cmp_vi);
        for (int64_t i = 0; i < n; i++) (*order)[(size_t)f * (size_t)n + i] = buf[i].i;
    }
    free(buf);
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
    if (n > INT32_MAX) return qr_fail(QR_ERR_INVALID_ARG, "a random forest takes at most %d samples", INT32_MAX);
    out->trees = calloc((size_t)prm->ntrees, sizeof *out->trees);
    if (!out->trees) return qr_fail(QR_ERR_NOMEM, "out of memory for %d trees", prm->ntrees);
    out->ntrees = prm->ntrees;
    out->nfeatures = p;
    int32_t *order = NULL;
    qr_status st = presort(X, n, p, &order);
    if (st != QR_OK) {
        qr_forest_free(out);
        return st;
    }
    char err[512] = "";
#ifdef QSMRIM_HAVE_OPENMP
    int nthreads = prm->threads > 0 ? prm->threads : omp_get_max_threads();
#pragma omp parallel num_threads(nthreads)
#endif
    {
        tree_work w;
        memset(&w, 0, sizeof w);
        w.count = malloc((size_t)n * sizeof *w.count);
        w.start = malloc((size_t)n * sizeof *w.start);
        w.row = malloc((size_t)n * sizeof *w.row);
        w.col = malloc((size_t)n * (size_t)p * sizeof *w.col);
        w.lab = malloc((size_t)n * sizeof *w.lab);
        w.sorted = malloc((size_t)n * (size_t)p * sizeof *w.sorted);
        w.tmp = malloc((size_t)n * sizeof *w.tmp);
        w.left = malloc((size_t)n);
        w.feat = malloc((size_t)p * sizeof *w.feat);
        w.stack = malloc((size_t)(2 * n + 2) * sizeof *w.stack);
        int ok = order && w.count && w.start && w.row && w.col && w.lab && w.sorted && w.tmp && w.left && w.feat && w.stack;
#ifdef QSMRIM_HAVE_OPENMP
#pragma omp for schedule(dynamic)
#endif
        for (int t = 0; t < prm->ntrees; t++) {
            qr_status s = QR_OK;
            if (!ok)
                s = qr_fail(QR_ERR_NOMEM, "out of memory growing trees of %lld samples", (long long)n);
            else if (QR_CANCELLED(cancel))
                s = qr_fail(QR_ERR_CANCELLED, "random forest training interrupted");
            else
                s = grow_tree(X, y, n, p, order, prm, t, &w, &out->trees[t]);
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
        free(w.count);
        free(w.start);
        free(w.row);
        free(w.col);
        free(w.lab);
        free(w.sorted);
        free(w.tmp);
        free(w.left);
        free(w.feat);
        free(w.stack);
    }
    free(order);
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
        double ap = NAN; /* undefined (no rim+ lesion among the held-out ones): NaN, never chosen */
        const qr_status as = qr_average_precision(yoof, oof, NULL, no, &ap);
        if (as == QR_ERR_EMPTY) {
            ap = NAN;
            qr_clear_error();
        } else if (as != QR_OK) {
            st = as;
            goto done;
        }
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
