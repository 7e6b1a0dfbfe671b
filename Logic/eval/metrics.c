/* metrics.c - operating points, confusion counts, count agreement. Definitions: metrics.h. */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>

#include "curves.h"

void qr_confusion_add(qr_confusion *c, const int *y, const int *d, const double *w, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        if (y[i] && d[i]) c->tp += wi;
        else if (!y[i] && d[i]) c->fp += wi;
        else if (y[i] && !d[i]) c->fn += wi;
        else c->tn += wi;
    }
}

static double ratio(double a, double b) { return b > 0 ? a / b : NAN; }

qr_binary_metrics qr_binary_metrics_of(const qr_confusion *c) {
    qr_binary_metrics m;
    m.sensitivity = ratio(c->tp, c->tp + c->fn);
    m.specificity = ratio(c->tn, c->tn + c->fp);
    m.ppv = ratio(c->tp, c->tp + c->fp);
    m.npv = ratio(c->tn, c->tn + c->fn);
    m.accuracy = ratio(c->tp + c->tn, c->tp + c->fp + c->fn + c->tn);
    m.f1 = ratio(2 * c->tp, 2 * c->tp + c->fp + c->fn);
    return m;
}

qr_status qr_threshold_f1(const int *y, const double *s, const double *w, int64_t n, double *threshold, double *f1) {
    qr_clf_counts c;
    QR_TRY(qr_clf_counts_compute(y, s, w, n, &c));
    if (c.P <= 0) {
        qr_clf_counts_free(&c);
        return qr_fail(QR_ERR_EMPTY, "F1 threshold undefined: no positive items");
    }
    /* Thresholds run high to low; ">=" keeps the last (lowest) of equal maxima. */
    double best = -1;
    int64_t bj = 0;
    for (int64_t j = 0; j < c.m; j++) {
        double tp = c.tps[j], fp = c.fps[j], fn = c.P - tp;
        double f = 2 * tp / (2 * tp + fp + fn);
        if (f >= best) {
            best = f;
            bj = j;
        }
    }
    *threshold = c.thr[bj];
    if (f1) *f1 = best;
    qr_clf_counts_free(&c);
    return QR_OK;
}

qr_status qr_threshold_sensitivity(const int *y, const double *s, const double *w, int64_t n, double target,
                                   double *threshold, double *sens) {
    qr_clf_counts c;
    QR_TRY(qr_clf_counts_compute(y, s, w, n, &c));
    if (c.P <= 0) {
        qr_clf_counts_free(&c);
        return qr_fail(QR_ERR_EMPTY, "sensitivity threshold undefined: no positive items");
    }
    /* Sensitivity grows as the threshold falls: the last j with TPR <= target; its TPR is the
     * largest allowed, and the first j reaching that TPR is the highest threshold giving it. */
    int64_t last = -1;
    for (int64_t j = 0; j < c.m; j++)
        if (c.tps[j] / c.P <= target) last = j;
    int64_t bj = 0;
    if (last >= 0) {
        bj = last;
        while (bj > 0 && c.tps[bj - 1] == c.tps[last]) bj--;
    }
    *threshold = c.thr[bj];
    if (sens) *sens = c.tps[bj] / c.P;
    qr_clf_counts_free(&c);
    return QR_OK;
}

double qr_pearson(const double *a, const double *b, int64_t n) {
    if (n < 2) return NAN;
    double ma = 0, mb = 0;
    for (int64_t i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= (double)n;
    mb /= (double)n;
    double sab = 0, saa = 0, sbb = 0;
    for (int64_t i = 0; i < n; i++) {
        double da = a[i] - ma, db = b[i] - mb;
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    if (saa <= 0 || sbb <= 0) return NAN;
    double r = sab / sqrt(saa * sbb);
    return r > 1 ? 1 : (r < -1 ? -1 : r);
}

void qr_pearson_ci95(double r, int64_t n, double ci[2]) {
    if (n < 4 || isnan(r)) {
        ci[0] = ci[1] = NAN;
        return;
    }
    if (r >= 1 || r <= -1) { /* atanh is infinite: the interval collapses onto r */
        ci[0] = ci[1] = r;
        return;
    }
    const double zcrit = 1.959963984540054; /* Phi^-1(0.975) */
    double z = atanh(r), se = 1.0 / sqrt((double)(n - 3));
    ci[0] = tanh(z - zcrit * se);
    ci[1] = tanh(z + zcrit * se);
}

double qr_mse(const double *a, const double *b, int64_t n) {
    if (n < 1) return NAN;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
    return s / (double)n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double qr_percentile(double *v, int64_t n, double q) {
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (!isnan(v[i])) v[m++] = v[i];
    if (m == 0) return NAN;
    qsort(v, (size_t)m, sizeof *v, cmp_double);
    double pos = q / 100.0 * (double)(m - 1);
    int64_t lo = (int64_t)floor(pos);
    if (lo >= m - 1) return v[m - 1];
    double f = pos - (double)lo;
    return v[lo] + (v[lo + 1] - v[lo]) * f;
}
