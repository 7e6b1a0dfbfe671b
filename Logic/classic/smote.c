/* smote.c - SMOTE oversampling of the minority class (definitions in smote.h). */
#include "smote.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"

qr_smote_params qr_smote_params_default(void) {
    qr_smote_params p = {5, 1.0, 0};
    return p;
}

/* k nearest neighbours (by scaled Euclidean distance, ties by index) of each of the m rows of Z
 * (m, p) among the others; nn is (m, k) of row indices into Z; bestd: room for k distances. */
static void knn(const double *Z, int64_t m, int p, int k, int64_t *nn, double *bestd) {
    for (int64_t i = 0; i < m; i++) {
        int64_t *bi = nn + i * k;
        int have = 0;
        for (int64_t j = 0; j < m; j++) {
            if (j == i) continue;
            double d = 0;
            for (int f = 0; f < p; f++) {
                double t = Z[i * p + f] - Z[j * p + f];
                d += t * t;
            }
            /* insertion into the sorted list of the k best so far (strict <: earlier index wins) */
            int pos = have;
            while (pos > 0 && d < bestd[pos - 1]) pos--;
            if (pos >= k) continue;
            int last = have < k ? have : k - 1;
            for (int q = last; q > pos; q--) {
                bestd[q] = bestd[q - 1];
                bi[q] = bi[q - 1];
            }
            bestd[pos] = d;
            bi[pos] = j;
            if (have < k) have++;
        }
    }
}

qr_status qr_smote(const double *X, const int *y, int64_t n, int p, const qr_smote_params *prm, double **Xout,
                   int **yout, int64_t *n_out) {
    *Xout = NULL;
    *yout = NULL;
    *n_out = 0;
    if (n < 1 || p < 1) return qr_fail(QR_ERR_EMPTY, "SMOTE needs samples and features");
    if (prm->k < 1) return qr_fail(QR_ERR_INVALID_ARG, "SMOTE needs k >= 1 neighbours");
    int64_t n1 = 0;
    for (int64_t i = 0; i < n; i++) {
        if (y[i] != 0 && y[i] != 1) return qr_fail(QR_ERR_INVALID_ARG, "SMOTE label of sample %lld is %d", (long long)i, y[i]);
        if (y[i]) n1++;
    }
    for (int64_t i = 0; i < n * p; i++)
        if (!isfinite(X[i])) return qr_fail(QR_ERR_NONFINITE, "SMOTE: feature %lld of sample %lld is not finite",
                                            (long long)(i % p), (long long)(i / p));
    int minority = n1 * 2 <= n ? 1 : 0;
    int64_t nmin = minority ? n1 : n - n1, nmaj = n - nmin;
    int64_t nnew = (int64_t)llround(prm->ratio * (double)nmaj) - nmin;
    if (nmin < 2 || nnew < 0) nnew = 0;
    int k = prm->k;
    if (k > nmin - 1) k = (int)(nmin - 1);

    int64_t nout = n + nnew;
    double *Xo = malloc((size_t)nout * (size_t)p * sizeof *Xo);
    int *yo = malloc((size_t)nout * sizeof *yo);
    int64_t *idx = malloc((size_t)(nmin > 0 ? nmin : 1) * sizeof *idx);
    double *Z = malloc((size_t)(nmin > 0 ? nmin : 1) * (size_t)p * sizeof *Z);
    double *range = malloc((size_t)p * sizeof *range);
    int64_t *nn = malloc((size_t)(nmin > 0 ? nmin : 1) * (size_t)(k > 0 ? k : 1) * sizeof *nn);
    double *bestd = malloc((size_t)(k > 0 ? k : 1) * sizeof *bestd);
    if (!Xo || !yo || !idx || !Z || !range || !nn || !bestd) {
        free(Xo);
        free(yo);
        free(idx);
        free(Z);
        free(range);
        free(nn);
        free(bestd);
        return qr_fail(QR_ERR_NOMEM, "out of memory for SMOTE (%lld samples)", (long long)nout);
    }
    memcpy(Xo, X, (size_t)n * (size_t)p * sizeof *Xo);
    memcpy(yo, y, (size_t)n * sizeof *yo);
    if (nnew > 0) {
        /* feature ranges over the whole training set, for the neighbour search */
        for (int f = 0; f < p; f++) {
            double lo = X[f], hi = X[f];
            for (int64_t i = 1; i < n; i++) {
                double v = X[i * p + f];
                if (v < lo) lo = v;
                if (v > hi) hi = v;
            }
            range[f] = hi > lo ? hi - lo : 1.0;
        }
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (y[i] == minority) idx[m++] = i;
        for (int64_t a = 0; a < nmin; a++)
            for (int f = 0; f < p; f++) Z[a * p + f] = X[idx[a] * p + f] / range[f];
        knn(Z, nmin, p, k, nn, bestd);
        qr_rng rng;
        qr_rng_seed(&rng, prm->seed, 0x5307E);
        for (int64_t s = 0; s < nnew; s++) {
            uint64_t pick = qr_rng_below(&rng, (uint64_t)(nmin * k));
            int64_t a = (int64_t)(pick / (uint64_t)k), b = nn[a * k + (int64_t)(pick % (uint64_t)k)];
            double u = qr_rng_uniform(&rng);
            const double *xi = X + idx[a] * p, *xj = X + idx[b] * p;
            double *xo = Xo + (n + s) * p;
            for (int f = 0; f < p; f++) xo[f] = xi[f] + u * (xj[f] - xi[f]);
            yo[n + s] = minority;
        }
    }
    free(idx);
    free(Z);
    free(range);
    free(nn);
    free(bestd);
    *Xout = Xo;
    *yout = yo;
    *n_out = nout;
    return QR_OK;
}
