/*
 * firstorder.c - first-order statistics of the ROI gray values (PyRadiomics RadiomicsFirstOrder).
 *
 * Let
 *   X       the Np gray values of the ROI (in memory order), X-bar their mean
 *   c       voxelArrayShift (shifts the values of Energy, TotalEnergy and RootMeanSquared)
 *   P(i)    the first-order histogram over the bins of rx_bin_edges (fixed width or count),
 *           including empty bins; p(i) = P(i) / Np
 *   P_q     the q-th percentile of X (numpy.percentile, linear interpolation)
 *   mu_k    the k-th central moment mean((X - X-bar)^k)
 */
#pragma GCC optimize("fp-contract=off")
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rx_internal.h"

static const char *const NAMES[] = {
    "10Percentile", "90Percentile", "Energy",   "Entropy", "InterquartileRange", "Kurtosis",
    "Maximum",      "MeanAbsoluteDeviation",    "Mean",    "Median",             "Minimum",
    "Range",        "RobustMeanAbsoluteDeviation",         "RootMeanSquared",    "Skewness",
    "StandardDeviation", "TotalEnergy", "Uniformity", "Variance"};
enum {
    F_P10, F_P90, F_ENERGY, F_ENTROPY, F_IQR, F_KURTOSIS, F_MAXIMUM, F_MAD, F_MEAN, F_MEDIAN, F_MINIMUM,
    F_RANGE, F_RMAD, F_RMS, F_SKEWNESS, F_STD, F_TOTALENERGY, F_UNIFORMITY, F_VARIANCE, F_COUNT
};
static const unsigned char FLAGS[F_COUNT] = {[F_STD] = RX_FEAT_DEPRECATED};
const rx_class_info rx_firstorder_info = {"firstorder", F_COUNT, NAMES, FLAGS};

/* ascending sort of finite doubles: quicksort (median of three) with insertion sort below 16 */
static void sort_doubles(double *a, int64_t n) {
    while (n > 16) {
        double x = a[0], y = a[n / 2], z = a[n - 1];
        double piv = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        int64_t i = 0, j = n - 1;
        for (;;) {
            while (a[i] < piv) i++;
            while (a[j] > piv) j--;
            if (i >= j) break;
            double t = a[i];
            a[i] = a[j];
            a[j] = t;
            i++, j--;
        }
        /* recurse into the smaller part, loop on the larger */
        if (j + 1 < n - j - 1) {
            sort_doubles(a, j + 1);
            a += j + 1;
            n -= j + 1;
        } else {
            sort_doubles(a + j + 1, n - j - 1);
            n = j + 1;
        }
    }
    for (int64_t i = 1; i < n; i++) {
        double v = a[i];
        int64_t k = i;
        while (k > 0 && a[k - 1] > v) a[k] = a[k - 1], k--;
        a[k] = v;
    }
}

qr_status rx_firstorder(const rx_image *img, const rx_settings *s, const unsigned char *want, double *vals) {
    (void)want;
    int64_t nvox = img->size[0] * img->size[1] * img->size[2], n = img->np;
    double *x = malloc(sizeof *x * (size_t)n * 3);
    if (!x) return qr_fail(QR_ERR_NOMEM, "out of memory (firstorder)");
    double *sorted = x + n, *tmp = x + 2 * n;
    int64_t m = 0;
    for (int64_t i = 0; i < nvox; i++)
        if (img->mask[i]) x[m++] = img->values[i];
    memcpy(sorted, x, sizeof *x * (size_t)n);
    sort_doubles(sorted, n);
    double c = s->voxel_array_shift;

    /* 1. Energy = sum (X + c)^2;  2. TotalEnergy = V_voxel * Energy */
    for (int64_t i = 0; i < n; i++) tmp[i] = (x[i] + c) * (x[i] + c);
    double energy = rx_np_sum(tmp, n);
    vals[F_ENERGY] = energy;
    vals[F_TOTALENERGY] = (img->spacing[2] * img->spacing[1] * img->spacing[0]) * energy;
    /* 14. RootMeanSquared = sqrt(sum (X + c)^2 / Np) */
    vals[F_RMS] = sqrt(energy / (double)n);

    /* 3. Entropy = -sum p(i) log2(p(i) + eps);  19. Uniformity = sum p(i)^2 */
    double *edges;
    int64_t ne;
    qr_status st = rx_bin_edges(x, n, s, 0, &edges, &ne);
    if (st != QR_OK) {
        free(x);
        return st;
    }
    int64_t nb = ne - 1;
    double *hist = calloc((size_t)nb, sizeof *hist);
    if (!hist) {
        free(edges), free(x);
        return qr_fail(QR_ERR_NOMEM, "out of memory (firstorder)");
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t k = rx_digitize(x[i], edges, ne); /* numpy.histogram: bin k-1 (last bin closed) */
        if (k == ne && x[i] == edges[ne - 1]) k = ne - 1;
        if (k >= 1 && k <= nb) hist[k - 1] += 1;
    }
    double sumbins = rx_np_sum(hist, nb);
    if (sumbins == 0) { /* no segmented voxels */
        vals[F_ENTROPY] = 0;
        vals[F_UNIFORMITY] = 0;
    } else {
        double *t = malloc(sizeof *t * (size_t)nb);
        if (!t) {
            free(hist), free(edges), free(x);
            return qr_fail(QR_ERR_NOMEM, "out of memory (firstorder)");
        }
        for (int64_t b = 0; b < nb; b++) {
            double p = (hist[b] + RX_EPS) / sumbins;
            t[b] = p * log2(p);
        }
        vals[F_ENTROPY] = -1.0 * rx_np_sum(t, nb);
        for (int64_t b = 0; b < nb; b++) {
            double p = hist[b] / (sumbins + RX_EPS);
            t[b] = p * p;
        }
        vals[F_UNIFORMITY] = rx_np_sum(t, nb);
        free(t);
    }
    free(hist);
    free(edges);

    /* 4. Minimum, 7. Maximum, 11. Range */
    vals[F_MINIMUM] = sorted[0];
    vals[F_MAXIMUM] = sorted[n - 1];
    vals[F_RANGE] = sorted[n - 1] - sorted[0];
    /* 5./6. 10th and 90th percentile, 9. Median, 10. InterquartileRange = P_75 - P_25 */
    double p10 = rx_percentile_sorted(sorted, n, 10), p90 = rx_percentile_sorted(sorted, n, 90);
    vals[F_P10] = p10;
    vals[F_P90] = p90;
    vals[F_MEDIAN] = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
    vals[F_IQR] = rx_percentile_sorted(sorted, n, 75) - rx_percentile_sorted(sorted, n, 25);

    /* 8. Mean */
    double mean = rx_np_mean(x, n);
    vals[F_MEAN] = mean;
    /* 12. MeanAbsoluteDeviation = mean |X - X-bar| */
    for (int64_t i = 0; i < n; i++) tmp[i] = fabs(mean - x[i]);
    vals[F_MAD] = rx_np_mean(tmp, n);
    /* 13. RobustMeanAbsoluteDeviation: the same over the values with P_10 <= X <= P_90 */
    int64_t nr = 0;
    for (int64_t i = 0; i < n; i++)
        if (x[i] >= p10 && x[i] <= p90) tmp[nr++] = x[i];
    double rmean = rx_np_mean(tmp, nr);
    for (int64_t i = 0; i < nr; i++) tmp[i] = fabs(tmp[i] - rmean);
    vals[F_RMAD] = rx_np_mean(tmp, nr);

    /* central moments mu_2, mu_3, mu_4 (numpy: mean of numpy.power(X - X-bar, k)) */
    for (int64_t i = 0; i < n; i++) tmp[i] = (x[i] - mean) * (x[i] - mean);
    double m2 = rx_np_mean(tmp, n);
    for (int64_t i = 0; i < n; i++) tmp[i] = pow(x[i] - mean, 3.0);
    double m3 = rx_np_mean(tmp, n);
    for (int64_t i = 0; i < n; i++) tmp[i] = pow(x[i] - mean, 4.0);
    double m4 = rx_np_mean(tmp, n);
    /* 16. Skewness = mu_3 / mu_2^1.5;  17. Kurtosis = mu_4 / mu_2^2 (0 for a flat region) */
    vals[F_SKEWNESS] = m2 == 0 ? 0 : m3 / pow(m2, 1.5);
    vals[F_KURTOSIS] = m2 == 0 ? 0 : m4 / pow(m2, 2.0);
    /* 15. StandardDeviation = numpy.std(X) (deprecated);  18. Variance = numpy.std(X)^2 */
    double sd = sqrt(m2);
    vals[F_STD] = sd;
    vals[F_VARIANCE] = pow(sd, 2.0);
    free(x);
    return QR_OK;
}
