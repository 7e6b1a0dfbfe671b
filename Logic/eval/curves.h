/*
 * curves.h - ROC and precision-recall curves of a binary classifier, their areas, and the average
 * of several curves (one per cross-validation fold).
 *
 * Symbols (one scored set of n items):
 *   y[i]      true label, 1 = positive (rim+), 0 = negative
 *   s[i]      score (a probability); an item is called positive at threshold t when s[i] >= t
 *   w[i]      weight (a multiplicity; NULL = all 1; items of weight 0 are left out)
 *   P, N      total weight of positives / negatives
 *   t_1 > t_2 > ... > t_m   the distinct scores, high to low
 *   tps_j, fps_j            weight of positives / negatives with s >= t_j   (cumulative)
 *   TPR_j = tps_j / P (sensitivity, recall), FPR_j = fps_j / N, precision_j = tps_j / (tps_j + fps_j)
 *
 * The curves are those scikit-learn 1.2 draws, point for point (tests compare them):
 *   roc_curve(drop_intermediate=True): (0,0) then (FPR_j, TPR_j), keeping only the corners of
 *     the staircase (points where the direction changes); threshold of the first point t_1 + 1.
 *   precision_recall_curve: (recall_j, precision_j) for every distinct score t_j, in increasing
 *     recall, then the end point (recall 0, precision 1).
 *   roc_auc_score(max_fpr=a): trapezoidal area under the ROC up to FPR a (the curve cut at a by
 *     linear interpolation), standardised by McClish's correction
 *         pAUC_std = 1/2 * (1 + (A - a^2/2) / (a - a^2/2))
 *     (0.5 = chance, 1 = perfect over that range).
 *   average_precision_score: AP = sum_j (R_j - R_{j-1}) * P_j  (a step curve, no trapezoids).
 *
 * Interpolating and averaging curves (the paper's protocol: per fold, interpolated piecewise-constant,
 * averaged over folds, area of the averaged curve):
 *   A curve is held as a polyline: points (x_k, y_k) with x nondecreasing; equal x give a
 *   vertical segment (a jump). Without tied scores a ROC is a staircase of horizontal and vertical
 *   segments - piecewise constant; tied scores give a diagonal across the tie, the expected
 *   staircase when ties are broken at random. A PR curve is the step function
 *       P(r) = P_j  for  R_{j-1} < r <= R_j
 *   whose area is exactly AP. The average of K curves is evaluated at the union of their x
 *   breakpoints, taking the left and right limits at each (so jumps are kept exactly); its
 *   trapezoidal area therefore equals the mean of the K areas.
 */
#ifndef QR_CURVES_H
#define QR_CURVES_H

#include <stdint.h>

#include "../core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The cumulative counts at each distinct score, high to low (scikit-learn's _binary_clf_curve). */
typedef struct qr_clf_counts {
    int64_t m;      /* distinct scores among the weighted items */
    double *thr;    /* m thresholds t_j, decreasing */
    double *tps;    /* m cumulative positive weights */
    double *fps;    /* m cumulative negative weights */
    double P, N;    /* totals (tps[m-1], fps[m-1]) */
} qr_clf_counts;

/* A curve: n points (x, y) and the threshold that produced each (thr may be NULL). */
typedef struct qr_curve {
    int64_t n;
    double *x;
    double *y;
    double *thr;
} qr_curve;

/* Counts of a scored set. Scores must be finite (QR_ERR_NONFINITE otherwise); labels 0/1; weights
 * finite and >= 0. QR_ERR_EMPTY if no item has a positive weight. */
qr_status qr_clf_counts_compute(const int *y, const double *s, const double *w, int64_t n, qr_clf_counts *out);
void qr_clf_counts_free(qr_clf_counts *c);

/* ROC (x = FPR, y = TPR) as scikit-learn's roc_curve. QR_ERR_EMPTY if P or N is 0. */
qr_status qr_roc_curve(const qr_clf_counts *c, int drop_intermediate, qr_curve *out);
/* Precision-recall curve (x = recall, y = precision) as scikit-learn's precision_recall_curve,
 * reordered to increasing recall: x[0] = 0, y[0] = 1 is the end point. QR_ERR_EMPTY if P is 0. */
qr_status qr_pr_curve(const qr_clf_counts *c, qr_curve *out);

/* Trapezoidal area under a polyline (x nondecreasing) from x[0] up to x = xmax (the segment that
 * crosses xmax is cut by linear interpolation; xmax beyond the last point: the whole curve). */
double qr_curve_area(const qr_curve *c, double xmax);

/* McClish standardisation of a partial ROC area A over FPR in [0, a]. */
double qr_mcclish(double partial_area, double max_fpr);

/* Single-set scores as scikit-learn computes them (roc_auc_score with max_fpr (1 = full area),
 * average_precision_score). QR_ERR_EMPTY if one class is absent. */
qr_status qr_roc_auc(const int *y, const double *s, const double *w, int64_t n, double max_fpr, double *out);
qr_status qr_average_precision(const int *y, const double *s, const double *w, int64_t n, double *out);

/* The step polyline of a PR curve (from qr_pr_curve): (0, P_1), (R_1, P_1), (R_1, P_2), ... */
qr_status qr_pr_step_polyline(const qr_curve *pr, qr_curve *out);

/* Value of a polyline at x: its left limit (side < 0) or right limit (side > 0); at a jump these
 * differ. Outside [x_0, x_last] the end values. */
double qr_curve_eval(const qr_curve *c, double x, int side);

/* Mean of k polylines on the union of their breakpoints (left and right limits at each). */
qr_status qr_curve_mean(const qr_curve *curves, int k, qr_curve *out);

void qr_curve_free(qr_curve *c);

#ifdef __cplusplus
}
#endif
#endif
