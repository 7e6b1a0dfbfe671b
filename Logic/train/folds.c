/* folds.c - stratified subject-level folds: shuffle within rim+ count groups, deal in turn. */
#include "folds.h"

#include <stdlib.h>

#include "../core/rng.h"

int qr_rim_count_group(int64_t rimpos) {
    if (rimpos <= 0) return 0;
    if (rimpos <= 3) return 1;
    if (rimpos <= 6) return 2;
    return 3;
}

qr_status qr_stratified_folds(const int64_t *rimpos, int n, int k, uint64_t seed, int *fold) {
    if (k < 2) return qr_fail(QR_ERR_INVALID_ARG, "cross-validation needs at least 2 folds, got %d", k);
    if (k > n) return qr_fail(QR_ERR_INVALID_ARG, "%d folds need at least %d subjects, the cohort has %d", k, k, n);
    int *members = malloc((size_t)n * sizeof *members);
    if (!members) return qr_fail(QR_ERR_NOMEM, "out of memory for %d subjects", n);
    qr_rng rng;
    qr_rng_seed(&rng, seed, 0xF01D);
    int next = 0; /* the fold that receives the next subject */
    for (int g = 0; g < 4; g++) {
        int m = 0;
        for (int s = 0; s < n; s++)
            if (qr_rim_count_group(rimpos[s]) == g) members[m++] = s;
        qr_rng_shuffle_int(&rng, members, m);
        for (int i = 0; i < m; i++) {
            fold[members[i]] = next;
            next = (next + 1) % k;
        }
    }
    free(members);
    return QR_OK;
}

int qr_fold_rimpos_subjects(const int64_t *rimpos, int n, const int *fold, int f, int in_fold) {
    int count = 0;
    for (int s = 0; s < n; s++) count += rimpos[s] > 0 && (fold[s] == f) == (in_fold != 0);
    return count;
}
