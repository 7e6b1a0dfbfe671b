/* curves.c - ROC / precision-recall curves, their areas, and the mean of several curves.
 * Definitions and symbols: curves.h. */
#include "curves.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- sorting scores high to low (ties by index, so the order is deterministic) ---- */

typedef struct scored {
    double s;
    int64_t i;
} scored;

static int cmp_scored_desc(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->s > y->s) return -1;
    if (x->s < y->s) return 1;
    return (x->i > y->i) - (x->i < y->i);
}

void qr_clf_counts_free(qr_clf_counts *c) {
    if (!c) return;
    free(c->thr);
    free(c->tps);
    free(c->fps);
    memset(c, 0, sizeof *c);
}

qr_status qr_clf_counts_compute(const int *y, const double *s, const double *w, int64_t n, qr_clf_counts *out) {
    memset(out, 0, sizeof *out);
    if (n < 0) return qr_fail(QR_ERR_INVALID_ARG, "negative item count");
    scored *order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    if (!order) return qr_fail(QR_ERR_NOMEM, "out of memory sorting %lld scores", (long long)n);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (y[i] != 0 && y[i] != 1) {
            free(order);
            return qr_fail(QR_ERR_INVALID_ARG, "label of item %lld is %d (must be 0 or 1)", (long long)i, y[i]);
        }
        if (!isfinite(s[i])) {
            free(order);
            return qr_fail(QR_ERR_NONFINITE, "score of item %lld is not finite", (long long)i);
        }
        if (w) {
            if (!isfinite(w[i]) || w[i] < 0) {
                free(order);
                return qr_fail(QR_ERR_INVALID_ARG, "weight of item %lld is negative or not finite", (long long)i);
            }
            if (w[i] == 0) continue; /* as scikit-learn: zero-weight items are left out */
        }
        order[k].s = s[i];
        order[k].i = i;
        k++;
    }
    if (k == 0) {
        free(order);
        return qr_fail(QR_ERR_EMPTY, "no scored items");
    }
    qsort(order, (size_t)k, sizeof *order, cmp_scored_desc);

    /* Count distinct scores, then accumulate tps/fps at the last item of each tie group. */
    int64_t m = 1;
    for (int64_t r = 1; r < k; r++)
        if (order[r].s != order[r - 1].s) m++;
    out->thr = malloc((size_t)m * sizeof(double));
    out->tps = malloc((size_t)m * sizeof(double));
    out->fps = malloc((size_t)m * sizeof(double));
    if (!out->thr || !out->tps || !out->fps) {
        free(order);
        qr_clf_counts_free(out);
        return qr_fail(QR_ERR_NOMEM, "out of memory for a curve of %lld points", (long long)m);
    }
    double tp = 0, fp = 0;
    int64_t j = 0;
    for (int64_t r = 0; r < k; r++) {
        int64_t i = order[r].i;
        double wi = w ? w[i] : 1.0;
        if (y[i])
            tp += wi;
        else
            fp += wi;
        if (r == k - 1 || order[r + 1].s != order[r].s) {
            out->thr[j] = order[r].s;
            out->tps[j] = tp;
            out->fps[j] = fp;
            j++;
        }
    }
    out->m = m;
    out->P = tp;
    out->N = fp;
    free(order);
    return QR_OK;
}

void qr_curve_free(qr_curve *c) {
    if (!c) return;
    free(c->x);
    free(c->y);
    free(c->thr);
    memset(c, 0, sizeof *c);
}

static qr_status curve_alloc(qr_curve *c, int64_t n, int with_thr) {
    memset(c, 0, sizeof *c);
    size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(double);
    c->x = malloc(bytes);
    c->y = malloc(bytes);
    c->thr = with_thr ? malloc(bytes) : NULL;
    if (!c->x || !c->y || (with_thr && !c->thr)) {
        qr_curve_free(c);
        return qr_fail(QR_ERR_NOMEM, "out of memory for a curve of %lld points", (long long)n);
    }
    c->n = n;
    return QR_OK;
}

qr_status qr_roc_curve(const qr_clf_counts *c, int drop_intermediate, qr_curve *out) {
    memset(out, 0, sizeof *out);
    if (c->P <= 0) return qr_fail(QR_ERR_EMPTY, "ROC undefined: no positive items");
    if (c->N <= 0) return qr_fail(QR_ERR_EMPTY, "ROC undefined: no negative items");
    QR_TRY(curve_alloc(out, c->m + 1, 1));
    /* Point 0 is (0,0) with threshold t_1 + 1; then the kept corners. A point j (0 < j < m-1) is
     * dropped when the second differences of fps and tps are both zero there (collinear). */
    int64_t n = 0;
    out->x[n] = 0;
    out->y[n] = 0;
    out->thr[n] = c->thr[0] + 1;
    n++;
    for (int64_t j = 0; j < c->m; j++) {
        if (drop_intermediate && c->m > 2 && j > 0 && j < c->m - 1) {
            double d2f = c->fps[j + 1] - 2 * c->fps[j] + c->fps[j - 1];
            double d2t = c->tps[j + 1] - 2 * c->tps[j] + c->tps[j - 1];
            if (d2f == 0 && d2t == 0) continue;
        }
        out->x[n] = c->fps[j] / c->N;
        out->y[n] = c->tps[j] / c->P;
        out->thr[n] = c->thr[j];
        n++;
    }
    out->n = n;
    return QR_OK;
}

qr_status qr_pr_curve(const qr_clf_counts *c, qr_curve *out) {
    memset(out, 0, sizeof *out);
    if (c->P <= 0) return qr_fail(QR_ERR_EMPTY, "precision-recall curve undefined: no positive items");
    QR_TRY(curve_alloc(out, c->m + 1, 1));
    /* End point first (recall 0, precision 1; no threshold: NAN), then thresholds high to low. */
    out->x[0] = 0;
    out->y[0] = 1;
    out->thr[0] = NAN;
    for (int64_t j = 0; j < c->m; j++) {
        double ps = c->tps[j] + c->fps[j];
        out->x[j + 1] = c->tps[j] / c->P;
        out->y[j + 1] = ps != 0 ? c->tps[j] / ps : 0;
        out->thr[j + 1] = c->thr[j];
    }
    return QR_OK;
}

double qr_curve_area(const qr_curve *c, double xmax) {
    double a = 0;
    for (int64_t k = 1; k < c->n; k++) {
        double x0 = c->x[k - 1], x1 = c->x[k], y0 = c->y[k - 1], y1 = c->y[k];
        if (x0 >= xmax) break;
        if (x1 > xmax) { /* cut the segment at xmax */
            double yc = y0 + (y1 - y0) * (xmax - x0) / (x1 - x0);
            a += (xmax - x0) * (y0 + yc) / 2;
            break;
        }
        a += (x1 - x0) * (y0 + y1) / 2;
    }
    return a;
}

double qr_mcclish(double partial_area, double max_fpr) {
    double min_area = 0.5 * max_fpr * max_fpr, max_area = max_fpr;
    return 0.5 * (1 + (partial_area - min_area) / (max_area - min_area));
}

qr_status qr_roc_auc(const int *y, const double *s, const double *w, int64_t n, double max_fpr, double *out) {
    if (!(max_fpr > 0 && max_fpr <= 1)) return qr_fail(QR_ERR_INVALID_ARG, "max_fpr must be in (0, 1], got %g", max_fpr);
    qr_clf_counts c;
    QR_TRY(qr_clf_counts_compute(y, s, w, n, &c));
    qr_curve roc;
    qr_status st = qr_roc_curve(&c, 1, &roc);
    qr_clf_counts_free(&c);
    if (st != QR_OK) return st;
    double a = qr_curve_area(&roc, max_fpr >= 1 ? INFINITY : max_fpr);
    *out = max_fpr >= 1 ? a : qr_mcclish(a, max_fpr);
    qr_curve_free(&roc);
    return QR_OK;
}

qr_status qr_average_precision(const int *y, const double *s, const double *w, int64_t n, double *out) {
    qr_clf_counts c;
    QR_TRY(qr_clf_counts_compute(y, s, w, n, &c));
    qr_curve pr;
    qr_status st = qr_pr_curve(&c, &pr);
    qr_clf_counts_free(&c);
    if (st != QR_OK) return st;
    double ap = 0; /* sum_j (R_j - R_{j-1}) * P_j */
    for (int64_t k = 1; k < pr.n; k++) ap += (pr.x[k] - pr.x[k - 1]) * pr.y[k];
    *out = ap;
    qr_curve_free(&pr);
    return QR_OK;
}

qr_status qr_pr_step_polyline(const qr_curve *pr, qr_curve *out) {
    memset(out, 0, sizeof *out);
    if (pr->n < 2) return qr_fail(QR_ERR_EMPTY, "precision-recall curve has no points");
    /* (0, P_1), then for each j: (R_j, P_j), and a jump to (R_j, P_{j+1}). Recall steps of zero
     * width (points past full recall) carry no area and are skipped. */
    QR_TRY(curve_alloc(out, 2 * pr->n, 0));
    int64_t n = 0;
    out->x[n] = 0;
    out->y[n] = pr->y[1];
    n++;
    for (int64_t k = 1; k < pr->n; k++) {
        if (pr->x[k] == pr->x[k - 1] && k > 1) continue;
        if (out->y[n - 1] != pr->y[k]) { /* jump up or down at the current recall */
            out->x[n] = out->x[n - 1];
            out->y[n] = pr->y[k];
            n++;
        }
        out->x[n] = pr->x[k];
        out->y[n] = pr->y[k];
        n++;
    }
    out->n = n;
    return QR_OK;
}

double qr_curve_eval(const qr_curve *c, double x, int side) {
    if (c->n == 0) return NAN;
    if (x < c->x[0]) return c->y[0];
    if (x > c->x[c->n - 1]) return c->y[c->n - 1];
    /* First index with x_k >= x (lo) and last index with x_k <= x (hi). */
    int64_t lo = 0, hi = c->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (c->x[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    int64_t first_ge = lo;
    if (first_ge < c->n && c->x[first_ge] == x) {
        if (side < 0) return c->y[first_ge];
        int64_t last = first_ge;
        while (last + 1 < c->n && c->x[last + 1] == x) last++;
        return c->y[last];
    }
    /* Strictly between points first_ge-1 and first_ge: linear interpolation. */
    int64_t k = first_ge;
    double x0 = c->x[k - 1], x1 = c->x[k];
    return c->y[k - 1] + (c->y[k] - c->y[k - 1]) * (x - x0) / (x1 - x0);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

qr_status qr_curve_mean(const qr_curve *curves, int k, qr_curve *out) {
    memset(out, 0, sizeof *out);
    if (k < 1) return qr_fail(QR_ERR_EMPTY, "no curves to average");
    int64_t total = 0;
    for (int c = 0; c < k; c++) total += curves[c].n;
    double *xs = malloc((size_t)(total > 0 ? total : 1) * sizeof *xs);
    if (!xs) return qr_fail(QR_ERR_NOMEM, "out of memory averaging curves");
    int64_t nx = 0;
    for (int c = 0; c < k; c++)
        for (int64_t p = 0; p < curves[c].n; p++) xs[nx++] = curves[c].x[p];
    qsort(xs, (size_t)nx, sizeof *xs, cmp_double);
    int64_t u = 0;
    for (int64_t p = 0; p < nx; p++)
        if (u == 0 || xs[p] != xs[u - 1]) xs[u++] = xs[p];
    qr_status st = curve_alloc(out, 2 * u, 0);
    if (st != QR_OK) {
        free(xs);
        return st;
    }
    int64_t n = 0;
    for (int64_t p = 0; p < u; p++) {
        double left = 0, right = 0;
        for (int c = 0; c < k; c++) {
            left += qr_curve_eval(&curves[c], xs[p], -1);
            right += qr_curve_eval(&curves[c], xs[p], +1);
        }
        left /= k;
        right /= k;
        out->x[n] = xs[p];
        out->y[n] = left;
        n++;
        if (right != left) {
            out->x[n] = xs[p];
            out->y[n] = right;
            n++;
        }
    }
    out->n = n;
    free(xs);
    return QR_OK;
}
