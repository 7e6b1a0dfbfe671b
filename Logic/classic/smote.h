/*
 * smote.h - SMOTE: synthetic minority oversampling (Chawla et al., JAIR 16:321, 2002), as the APRL
 * comparator uses it to balance its training set before the random forest.
 *
 * Symbols: X is (n, p) row-major, y[i] in {0, 1}; the minority class is the rarer one, with n_min
 * samples; n_maj the other. k nearest minority neighbours per minority sample (k = 5, fewer when
 * n_min - 1 < k).
 *
 * Generation (the scheme of imbalanced-learn's SMOTE): n_new synthetic samples, each from a
 * minority sample i and one of its k neighbours j drawn together uniformly among the n_min * k
 * (sample, neighbour) pairs, and u ~ U(0, 1):
 *     x_new = x_i + u * (x_j - x_i)          labelled with the minority class
 * n_new = round(ratio * n_maj) - n_min (ratio 1: balanced classes; none if that is <= 0). APRL's
 * "minority oversampled by the inverse of its share" is read as balancing the classes (ratio 1).
 * Neighbours are found by Euclidean distance after dividing each feature by its range over the
 * whole training set (as the DMwR SMOTE of the R ecosystem), so that features of large magnitude
 * (energy) do not decide alone; the interpolation itself is in the raw feature values.
 * Output: the n input rows first (unchanged), then the synthetic rows.
 */
#ifndef QR_SMOTE_H
#define QR_SMOTE_H

#include <stdint.h>

#include "../core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qr_smote_params {
    int k;          /* neighbours (5) */
    double ratio;   /* minority / majority after oversampling (1 = balanced) */
    uint64_t seed;  /* draws */
} qr_smote_params;

qr_smote_params qr_smote_params_default(void);

/* Oversample. *Xout (n_out, p) and *yout (n_out) are allocated (free()). With fewer than 2
 * minority samples nothing can be interpolated: the input is copied unchanged (n_out = n). */
qr_status qr_smote(const double *X, const int *y, int64_t n, int p, const qr_smote_params *prm, double **Xout,
                   int **yout, int64_t *n_out);

#ifdef __cplusplus
}
#endif
#endif
