/*
 * crossval.h - the paper's cross-validation: stratified subject-level folds (folds.h), several
 * seeds per fold, out-of-fold probabilities of every lesion from every seed's model.
 *
 * Job (f, s) trains on the lesions of all subjects outside fold f with seed
 *     seed_fs = seed * 1000003 + 1009 * (f + 1) + s
 * and predicts the lesions of fold f. With a work folder, each finished job leaves
 * <work>/fold<f+1>-seed<s+1>.tsv (lesion index, subject, lesion_id, probability; atomic), networks
 * leave a checkpoint <work>/fold<f+1>-seed<s+1>.ckpt.h5 after every epoch, and <work>/folds.tsv
 * records the split and <work>/settings.txt the settings. `resume` reuses finished jobs and
 * continues from checkpoints; a split or settings that do not match the recorded ones (another
 * cohort, seed, fold count, architecture, configuration or precision) are an error naming the work
 * folder and the first differing setting. Without `resume` the jobs and checkpoints of an earlier
 * run in the folder are removed first, so none of them can be taken up later by mistake.
 */
#ifndef QR_CROSSVAL_H
#define QR_CROSSVAL_H

#include "learner.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*qr_cv_job_fn)(int fold, int seed, int jobs_done, int jobs, int reused, void *user);

typedef struct qr_cv_options {
    qr_fit_options fit;   /* arch, settings, device, progress, cancel; seed and checkpoint are set per job */
    int nfolds, nseeds;
    uint64_t seed;
    const char *workdir;  /* NULL: nothing kept */
    int resume;
    const char *settings; /* what the results depend on (text; NULL = ""): kept as <work>/settings.txt */
    qr_cv_job_fn job;     /* called when a job starts (reused = 1: loaded from its file) */
    void *user;
} qr_cv_options;

typedef struct qr_cv_result {
    int nfolds, nseeds;
    int *subject_fold;     /* nsubjects */
    int *fold;             /* n lesions */
    double *member_prob;   /* (n, nseeds) */
    double seconds;        /* wall time of the jobs run now */
} qr_cv_result;

qr_status qr_cross_validate(const qr_dataset *d, const qr_cv_options *o, qr_cv_result *out);
void qr_cv_result_free(qr_cv_result *r);

#ifdef __cplusplus
}
#endif
#endif
