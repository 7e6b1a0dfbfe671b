/*
 * folds.h - subject-level stratified cross-validation folds (Zhang et al. 2022, cross-validation protocol).
 *
 * Subjects are grouped by their number of rim+ lesions: 0, 1-3, 4-6, more than 6. Within each
 * group the subjects are shuffled (seeded) and dealt to the folds in turn, the dealing continuing
 * from group to group, so that every fold receives a share of every group and fold sizes differ
 * by at most one subject. All lesions of a subject share its fold.
 */
#ifndef QR_FOLDS_H
#define QR_FOLDS_H

#include <stdint.h>

#include "../core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The stratum (0..3) of a subject with `rimpos` rim+ lesions: 0, 1-3, 4-6, >6. */
int qr_rim_count_group(int64_t rimpos);

/* fold[s] in 0..k-1 for each of n subjects; rimpos[s] = the subject's rim+ count.
 * QR_ERR_INVALID_ARG if k < 2 or k > n. */
qr_status qr_stratified_folds(const int64_t *rimpos, int n, int k, uint64_t seed, int *fold);

/* Subjects (of n) with rim+ lesions in fold f (`in_fold` 1) or outside it, for training (0). */
int qr_fold_rimpos_subjects(const int64_t *rimpos, int n, const int *fold, int f, int in_fold);

#ifdef __cplusplus
}
#endif
#endif
