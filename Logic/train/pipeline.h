/*
 * pipeline.h - the two jobs behind `qsmrim evaluate` and `qsmrim train`, without any printing
 * (progress goes through hooks):
 *
 * qr_evaluate_method   cross-validation of one architecture (crossval.h) - or, with a model file,
 *                      scoring that model on every lesion with its stored thresholds - then the
 *                      evaluation (Logic/eval/evaluation.h) and the report files of that method
 *                      in one folder: metrics.json, predictions.tsv, decisions.tsv, summary.tsv,
 *                      roc.png, pr.png, counts.png (report.html is written by the caller over all
 *                      methods).
 *
 * qr_train_model       trains the members (seeds) of one architecture on the cohort and writes
 *                      the model file with thresholds and provenance. With holdout h > 0 the
 *                      subjects are split (stratified, as the folds) into a held-out share h and
 *                      the rest; the members train on the rest, the F1 and high-sensitivity
 *                      thresholds are chosen on the held-out subjects' ensemble probabilities and
 *                      the held-out metrics are returned (and stored in the model's notes). With
 *                      h = 0 all subjects train and the thresholds come from the training
 *                      predictions (optimistic; the caller says so).
 */
#ifndef QR_PIPELINE_H
#define QR_PIPELINE_H

#include <signal.h>

#include "../eval/evaluation.h"
#include "../eval/report.h"
#include "crossval.h"
#include "learner.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qr_pipeline_hooks {
    qr_fit_progress_fn fit_progress;
    qr_cv_job_fn job;
    void *user;
    const volatile sig_atomic_t *cancel;
} qr_pipeline_hooks;

typedef struct qr_evaluate_options {
    const char *name;        /* method id in the report tables ("qsmrimnet", "ablation-image", ...) */
    qr_arch_id arch;
    const qr_train_config *cfg;
    int nfolds, nseeds, bootstrap;
    uint64_t seed;
    const char *device;
    const char *model_path;  /* score this model instead of cross-validating (NULL: CV) */
    const char *outdir;      /* this method's report folder (created); cmd_evaluate passes a staging
                              * folder and moves the whole report into place at the end */
    const char *workdir;     /* resumable CV state (NULL: none) */
    int resume;
    const char *data_note, *command, *manifest;
} qr_evaluate_options;

/* Everything one evaluation produced, for the HTML report. */
typedef struct qr_method_eval {
    qr_eval_input input;
    int *subject, *fold, *label; /* owned arrays behind input */
    double *member_prob;
    int64_t *lesion_index;       /* owned, input.n or NULL: the dataset lesion of each row (NULL: row i is lesion i) */
    int *subject_index;          /* owned, input.nsubjects or NULL: the dataset subject of each (NULL: the same) */
    qr_eval_result result;
    qr_report_info info;
    char name[64], description[512], data_note[512], command[2048], manifest[QR_PATH_MAX], threshold_source[256];
    char roc_png[QR_PATH_MAX], pr_png[QR_PATH_MAX], counts_png[QR_PATH_MAX]; /* in outdir, for the HTML report */
} qr_method_eval;

qr_status qr_evaluate_method(const qr_dataset *d, const qr_evaluate_options *o, const qr_pipeline_hooks *h,
                             qr_method_eval *out);
void qr_method_eval_free(qr_method_eval *m);
/* A cross-validation trains on every subject in turn: one warning (qr_log) when subjects have QSM
 * voxels beyond 0.8 to 1.25 times the size most of the cohort shares, as `train` gives for its
 * training subjects. QR_ERR_NOMEM only. */
qr_status qr_cohort_warn_voxel_sizes(const qr_dataset *d);
/* metrics.json, predictions.tsv and decisions.tsv of an evaluation into `outdir` (what the report
 * folder's top level holds for the first method of several). */
qr_status qr_method_eval_write_tables(const qr_dataset *d, const qr_method_eval *m, const char *outdir);
/* The report section of an evaluation (pointers into m). */
qr_report_section qr_method_eval_section(const qr_method_eval *m);

typedef struct qr_train_options {
    qr_arch_id arch;
    const qr_train_config *cfg;
    int nseeds;
    uint64_t seed;
    double holdout;           /* share of subjects held out (0: none) */
    const char *device;
    const char *out;          /* model file */
    const char *checkpoint;   /* checkpoint stem: <stem>.seed<k>.ckpt.h5 (NULL: none) */
    int keep_checkpoints;     /* 1: left after the save, for the caller to remove once the model is in
                                 place (it is saved under a temporary name first) */
    int resume;
    const char *training_data;/* provenance text */
    int bootstrap;            /* resamples for the held-out metrics' intervals */
} qr_train_options;

typedef struct qr_train_outcome {
    int have_holdout;
    qr_method_eval holdout;   /* held-out evaluation (when have_holdout) */
    double threshold_f1, threshold_sensitive;
    int n_train_subjects, n_holdout_subjects;
    int64_t n_train_lesions, n_holdout_lesions;
    double seconds;
} qr_train_outcome;

qr_status qr_train_model(const qr_dataset *d, const qr_train_options *o, const qr_pipeline_hooks *h, qr_train_outcome *out);
/* The k of the k-fold split whose one fold is a held-out share h > 0 (round(1/h), at least 2):
 * a cohort needs at least k subjects. */
int qr_holdout_folds(double holdout);
/* The checkpoint file of member k (1-based) of a training run with checkpoint stem `stem`:
 * <stem>.seed<k>.ckpt.h5. */
void qr_train_checkpoint_path(const char *stem, int k, char *buf, size_t n);
/* Remove the checkpoints of members 1..nseeds with checkpoint stem `stem` (those that exist). */
void qr_train_remove_checkpoints(const char *stem, int nseeds);
void qr_train_outcome_free(qr_train_outcome *t);

#ifdef __cplusplus
}
#endif
#endif
