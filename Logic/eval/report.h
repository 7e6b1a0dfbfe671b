/*
 * report.h - the files of an evaluation report folder (`qsmrim evaluate`):
 *
 *   metrics.json     every number of the evaluation (qr_eval_result) under the contract's keys
 *                    (n_subjects, n_lesions, n_rimpos, proc_auc, proc_auc_normalized, pr_auc, f1,
 *                    sensitivity, specificity, ppv, accuracy, tp, fp, fn, tn, count_r, count_r_ci,
 *                    count_mse, review_fraction_at_high_sensitivity) plus "<key>_ci" bootstrap
 *                    intervals, per-fold values and the settings; NaN is written as null.
 *   predictions.tsv  subject lesion_id fold label probability (exactly the contract's columns;
 *                    fold numbered from 1, probability the ensemble's mean)
 *   decisions.tsv    subject lesion_id fold decision (1 rim+ call: majority vote) review (1: to be
 *                    reviewed at the high-sensitivity point), then probability_seedN per member
 *   summary.tsv      one row: the method and its headline numbers with intervals - what a combined
 *                    report (qr_report_write_html with several rows) reads back
 *   roc.png, pr.png, counts.png   (plots.h)
 *   report.html      self-contained (figures embedded): the paper's Table 2 and Table 3 with this
 *                    report's rows beside the published values, then the details of each
 *                    evaluation done here.
 *
 * The published values (Zhang et al., NeuroImage: Clinical 34:102979, 2022, Tables 2 and 3) are
 * compiled in, keyed by method id:
 *   qsmrimnet, rimnet, aprl-rf, aprl-nn                                     (Table 2)
 *   ablation-two-branch, ablation-image, ablation-radiomics, qsmrimnet      (Table 3)
 */
#ifndef QR_REPORT_H
#define QR_REPORT_H

#include <stdint.h>

#include "../core/status.h"
#include "evaluation.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Context of an evaluation, for the files. Strings may be NULL. */
typedef struct qr_report_info {
    const char *method;          /* method id (above), e.g. "qsmrimnet" */
    const char *description;     /* what was trained: architecture, width, epochs ... */
    const char *data_note;       /* what the data is (e.g. "phantom cohort, simulated QSM") */
    const char *command;         /* the command line that produced it */
    const char *manifest;        /* cohort manifest */
    const char *threshold_source;/* how thresholds were chosen */
    int nfolds, nseeds, bootstrap;
    uint64_t seed;
    double seconds;              /* wall time of training + prediction */
} qr_report_info;

/* Headline numbers of one evaluation (a row of summary.tsv and of the report's tables). */
enum {
    QR_SUM_PROC = 0, QR_SUM_PR, QR_SUM_F1, QR_SUM_SENS, QR_SUM_SPEC, QR_SUM_PPV, QR_SUM_ACC, QR_SUM_COUNT_R,
    QR_SUM_COUNT_MSE, QR_SUM_REVIEW, QR_SUM_COUNT
};
typedef struct qr_summary_row {
    char method[64];
    char description[512];
    char data_note[512];
    int64_t n_subjects, n_lesions, n_rimpos;
    double value[QR_SUM_COUNT], lo[QR_SUM_COUNT], hi[QR_SUM_COUNT];
    double tp, fp, fn, tn;
} qr_summary_row;

/* Short names of the summary columns ("proc_auc", "pr_auc", ...). */
const char *qr_summary_key(int column);

qr_summary_row qr_summary_of(const qr_eval_result *r, const qr_report_info *info);
/* The headline metrics in one line of text ("pROC AUC 0.800, PR AUC 0.531, F1 0.577 (sens ..,
 * spec .., PPV ..), count r 0.96, count MSE 0.50"); an undefined value reads "n/a". */
void qr_eval_headline(const qr_eval_result *r, char *buf, size_t n);

qr_status qr_report_write_metrics_json(const char *path, const qr_eval_result *r, const qr_report_info *info);
/* subject_names[s] per subject index; lesion_id[i] per lesion. */
qr_status qr_report_write_predictions(const char *path, const qr_eval_input *in, const qr_eval_result *r,
                                      const char *const *subject_names, const int32_t *lesion_id);
qr_status qr_report_write_decisions(const char *path, const qr_eval_input *in, const qr_eval_result *r,
                                    const char *const *subject_names, const int32_t *lesion_id);
qr_status qr_report_write_summary(const char *path, const qr_summary_row *row);
/* Read a summary.tsv written by this module (QR_ERR_FORMAT naming the file otherwise). */
qr_status qr_report_read_summary(const char *path, qr_summary_row *row);

/* One evaluation's section in the HTML: its summary and, when evaluated here, its details. */
typedef struct qr_report_section {
    qr_summary_row row;
    const qr_eval_result *result;   /* NULL for rows read back from other reports */
    const qr_report_info *info;     /* NULL likewise */
    const char *roc_png, *pr_png, *counts_png; /* figures to embed (may be NULL) */
    int scored;                     /* without info: 1 when the row is a trained model scored on given
                                     * subjects (its metrics.json says n_folds 1), not cross-validation */
} qr_report_section;

qr_status qr_report_write_html(const char *path, const char *title, const qr_report_section *sections, int nsections);

/* Paper's value of a summary column for a method id (NAN when not published). */
double qr_paper_value(const char *method, int column);
/* Display name of a method id ("QSMRim-Net", "RimNet (on QSM)", ...); the id itself if unknown. */
const char *qr_method_display_name(const char *method);

#ifdef __cplusplus
}
#endif
#endif
