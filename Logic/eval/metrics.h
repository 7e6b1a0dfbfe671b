/*
 * metrics.h - operating points, confusion counts and the subject-level count agreement.
 *
 * Decision rule everywhere: an item is called positive (rim+) when its score s >= threshold t.
 *
 *   TP, FP, FN, TN     confusion counts (weighted: sums of weights)
 *   sensitivity = TP / (TP + FN)     specificity = TN / (TN + FP)     PPV = TP / (TP + FP)
 *   accuracy = (TP + TN) / (TP + FP + FN + TN)      F1 = 2 TP / (2 TP + FP + FN)
 * A ratio whose denominator is 0 is NAN (written as null in metrics.json).
 *
 * F1-optimal threshold: over the distinct scores t_j, the one maximising F1 = 2 TP / (2 TP + FP +
 * FN) of the set; among exactly equal F1 the lowest such t_j. np.argmax over the F1 of
 * scikit-learn's precision_recall_curve picks the same threshold except at such exact ties, where
 * its 2PR / (P + R) can differ between the tied thresholds in the last bit and pick another one.
 *
 * High-sensitivity operating point (Zhang et al. 2022: the largest sensitivity below 0.95, read as
 * "not above": a sensitivity of exactly 0.95 counts): over the distinct scores, the thresholds
 * whose sensitivity is at most `target` (0.95); the largest such
 * sensitivity, and of the thresholds reaching it the highest (fewest items to review). If every
 * threshold exceeds the target (the top score group alone holds more than 95% of the positives)
 * the highest threshold t_1 is taken. The review fraction is the share of items with s >= t: the
 * lesions an expert would still look at.
 *
 * Subject-level counts: for subject k, c_k = expert rim+ count, p_k = predicted rim+ count.
 *   Pearson r = cov(c, p) / (sd(c) sd(p));  95% CI by Fisher's z:
 *       z = atanh(r),  se = 1 / sqrt(n - 3),  CI = tanh(z -+ 1.959963984540054 * se)
 *   (n >= 4; r = NAN when either count vector is constant).   MSE = mean (p_k - c_k)^2.
 */
#ifndef QR_METRICS_H
#define QR_METRICS_H

#include <stdint.h>

#include "../core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qr_confusion {
    double tp, fp, fn, tn;
} qr_confusion;

typedef struct qr_binary_metrics {
    double sensitivity, specificity, ppv, npv, accuracy, f1;
} qr_binary_metrics;

/* Accumulate the confusion counts of decisions d[i] (0/1) against labels y[i] (weights w, NULL = 1). */
void qr_confusion_add(qr_confusion *c, const int *y, const int *d, const double *w, int64_t n);
qr_binary_metrics qr_binary_metrics_of(const qr_confusion *c);

/* F1-optimal threshold of a scored set (see above). *f1 receives its F1 (may be NULL).
 * QR_ERR_EMPTY if the set has no positive item. */
qr_status qr_threshold_f1(const int *y, const double *s, const double *w, int64_t n, double *threshold, double *f1);

/* High-sensitivity threshold (target 0.95, as in Zhang et al. 2022). *sens receives its sensitivity. */
qr_status qr_threshold_sensitivity(const int *y, const double *s, const double *w, int64_t n, double target,
                                   double *threshold, double *sens);

/* Pearson correlation of two vectors; NAN if n < 2 or either is constant. */
double qr_pearson(const double *a, const double *b, int64_t n);
/* Fisher-z 95% interval of a correlation r over n pairs (NAN, NAN when n < 4 or r is NAN). */
void qr_pearson_ci95(double r, int64_t n, double ci[2]);
/* Mean squared difference. */
double qr_mse(const double *a, const double *b, int64_t n);

/* Percentile of a sample as numpy.percentile (linear interpolation between order statistics,
 * q in [0, 100]). Sorts `v` in place. NAN values are left out; NAN if none remain. */
double qr_percentile(double *v, int64_t n, double q);

#ifdef __cplusplus
}
#endif
#endif
