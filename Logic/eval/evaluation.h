/*
 * evaluation.h - the paper's lesion- and subject-level evaluation of out-of-fold predictions
 * (Zhang et al. 2022, evaluation protocol), with subject-level bootstrap confidence intervals.
 *
 * Input: n lesions, each with its subject, its cross-validation fold, its expert label
 * (1 = rim+), and the probabilities of the fold's ensemble members (one model per seed);
 * prob = their mean.
 *
 * What is computed (symbols and formulas: curves.h, metrics.h):
 *   per fold f:  ROC and PR curves of prob on the fold's lesions; the F1-optimal threshold of each
 *                member on the fold (t_f,s); the high-sensitivity threshold of prob on the fold. A
 *                fold without rim+ lesions takes the mean of the other folds' thresholds (its own
 *                labels would make it call nothing rim+), with a notice.
 *   curves:      mean ROC and mean PR over folds; proc_auc = McClish-standardised area of the mean
 *                ROC over FPR <= max_fpr; proc_auc_normalized = that raw area / max_fpr; pr_auc =
 *                area of the mean PR curve; roc_auc = full area of the mean ROC.
 *   decisions:   majority vote of the members: rim+ when more than half have p_s >= t_f,s;
 *                confusion counts and F1, sensitivity, specificity, PPV, accuracy over the
 *                concatenated folds.
 *   review:      lesions with prob >= the fold's high-sensitivity threshold, and every rim+
 *                decision (a majority vote can call a lesion whose mean prob is below it), as a
 *                share of all: what an expert looks at, as qsmrim predict's review band never
 *                starts above its rim+ threshold.
 *   subjects:    predicted count = rim+ decisions per subject vs the expert count: Pearson r,
 *                Fisher-z 95% CI, MSE.
 *   bootstrap:   B resamples of the subjects with replacement (each drawn subject brings all its
 *                lesions, in its own fold); every metric above is recomputed with the thresholds
 *                and decisions held fixed; 95% intervals are the 2.5th and 97.5th percentiles. A
 *                fold without both classes in a resample is left out of that resample's curve
 *                average.
 * With fixed thresholds (scoring a trained model, no cross-validation) the model's own F1 and
 * high-sensitivity thresholds are applied to prob instead of choosing them on the data.
 */
#ifndef QR_EVALUATION_H
#define QR_EVALUATION_H

#include <signal.h>
#include <stdint.h>

#include "../core/status.h"
#include "curves.h"
#include "metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qr_eval_input {
    int64_t n;                 /* lesions */
    int nsubjects;             /* subjects (indices 0 .. nsubjects-1; a subject may have 0 lesions) */
    int nfolds;                /* folds (indices 0 .. nfolds-1) */
    int nmembers;              /* ensemble members per fold (seeds), >= 1 */
    const int *subject;        /* n */
    const int *fold;           /* n */
    const int *label;          /* n, 0/1 */
    const double *member_prob; /* n * nmembers, row-major: p[i * nmembers + s] */
    int fixed_thresholds;      /* 1: use threshold_f1 / threshold_sensitive below (the latter capped
                                  at the former, as qsmrim predict applies them) */
    double threshold_f1, threshold_sensitive;
    double max_fpr;            /* 0.1 */
    double sensitivity_target; /* 0.95 */
    int bootstrap;             /* resamples (500); 0 = none */
    uint64_t seed;             /* bootstrap seed */
} qr_eval_input;

qr_eval_input qr_eval_input_default(void);

/* A value with its bootstrap 95% interval (lo, hi NAN without bootstrap), taken over the
 * `resamples` in which the metric is defined (a resample without rim+ lesions has no sensitivity,
 * one without rim+ calls no PPV; 0 without bootstrap). */
typedef struct qr_ci_value {
    double value, lo, hi;
    int resamples;
} qr_ci_value;

typedef struct qr_eval_fold {
    int64_t n, npos;
    double proc_auc, proc_auc_normalized, pr_auc, roc_auc; /* NAN if the fold lacks a class */
    double threshold_sensitive;
    double *threshold_f1; /* nmembers */
} qr_eval_fold;

typedef struct qr_eval_result {
    int64_t n_lesions, n_rimpos;
    int n_subjects, nfolds, nmembers;
    qr_ci_value proc_auc, proc_auc_normalized, pr_auc, roc_auc;
    qr_ci_value f1, sensitivity, specificity, ppv, accuracy;
    qr_confusion confusion;
    qr_ci_value review_fraction, sensitivity_high, specificity_high;
    int64_t n_review;
    qr_ci_value count_r, count_mse;
    double count_r_ci[2]; /* Fisher z */
    double *count_true, *count_pred; /* nsubjects */
    double *prob;                    /* n, mean of members */
    int *decision;                   /* n, majority vote */
    int *review;                     /* n, rim+ decision or prob >= high-sensitivity threshold of its fold */
    qr_eval_fold *folds;             /* nfolds */
    qr_curve roc_mean, pr_mean;      /* averaged curves (pr_mean: step polylines averaged) */
    qr_curve *roc_fold, *pr_fold;    /* nfolds each (empty curve for a fold lacking a class) */
} qr_eval_result;

/* The metrics that carry bootstrap intervals, in metrics.json's order and under its keys:
 * QR_CI_COUNT pointers into r and their names. */
enum { QR_CI_COUNT = 14 };
void qr_eval_ci_list(const qr_eval_result *r, const char *names[QR_CI_COUNT], const qr_ci_value *vals[QR_CI_COUNT]);

/* Run the evaluation. Fails (QR_ERR_EMPTY) when the lesions hold no rim+ or no rim- at all, or
 * no fold has both; a fold lacking a class is reported with NAN areas and left out of the curve
 * averages. `cancel` (may be NULL) is polled during the bootstrap. */
qr_status qr_evaluate(const qr_eval_input *in, qr_eval_result *out, const volatile sig_atomic_t *cancel);
void qr_eval_result_free(qr_eval_result *r);

#ifdef __cplusplus
}
#endif
#endif
