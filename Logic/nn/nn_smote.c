/*
 * nn_smote.c - DeepSMOTE neighbour selection in the latent space (host side; the interpolation
 * itself is the backend's smote_forward/backward).
 *
 * Among the n rim+ rows of a mini-batch (labels > 0.5), with d(i, j) = |x_i - x_j|^2:
 *   released (authors' code): if n > 2, for each rim+ i in batch order the 3 rows with the
 *            smallest d(i, .) including i itself (i first), giving pairs (i, i), (i, j1), (i, j2)
 *            -> 3n synthetic rows (the first is an exact copy of x_i);
 *   paper:   if n > 2, the 2 nearest other rim+ rows -> pairs (i, j1), (i, j2), 2n rows.
 * Ties are broken by the lower batch index. Each pair later receives a weight a ~ U(0, 1) and
 * the synthetic row x_i + a (x_j - x_i).
 */
#include <stdlib.h>

#include "nn_internal.h"

int64_t qr_nn_smote_rows(qr_nn_smote variant, int64_t n_pos) {
    if (n_pos <= 2 || variant == QR_NN_SMOTE_OFF) return 0;
    return variant == QR_NN_SMOTE_RELEASED ? 3 * n_pos : 2 * n_pos;
}

int64_t qr_nn_smote_pairs(qr_nn_smote variant, const float *latent, int64_t n, int k, const float *labels,
                          int32_t *pairs) {
    int64_t npos = 0;
    for (int64_t i = 0; i < n; i++) npos += labels[i] > 0.5f;
    if (qr_nn_smote_rows(variant, npos) == 0) return 0;
    int64_t *pos = malloc(sizeof *pos * (size_t)npos);
    double *d = malloc(sizeof *d * (size_t)npos);
    if (!pos || !d) {
        free(pos);
        free(d);
        return -1;
    }
    npos = 0;
    for (int64_t i = 0; i < n; i++)
        if (labels[i] > 0.5f) pos[npos++] = i;
    const int want = variant == QR_NN_SMOTE_RELEASED ? 3 : 2;
    int64_t m = 0;
    for (int64_t a = 0; a < npos; a++) {
        const float *xa = latent + pos[a] * k;
        for (int64_t b = 0; b < npos; b++) {
            const float *xb = latent + pos[b] * k;
            double s = 0;
            for (int f = 0; f < k; f++) {
                double t = (double)xa[f] - xb[f];
                s += t * t;
            }
            d[b] = s;
        }
        /* selection by repeated minimum: (distance, index) order, self first or excluded */
        int64_t chosen[3] = {0, 0, 0};
        int nc = 0;
        if (variant == QR_NN_SMOTE_RELEASED) chosen[nc++] = a;
        while (nc < want) {
            int64_t best = -1;
            for (int64_t b = 0; b < npos; b++) {
                int used = b == a;
                for (int c = 0; c < nc; c++) used |= chosen[c] == b;
                if (used) continue;
                if (best < 0 || d[b] < d[best]) best = b;
            }
            chosen[nc++] = best;
        }
        for (int c = 0; c < nc; c++) {
            pairs[2 * m] = (int32_t)pos[a];
            pairs[2 * m + 1] = (int32_t)pos[chosen[c]];
            m++;
        }
    }
    free(pos);
    free(d);
    return m;
}
