/*
 * score.h - P(rim+) of each lesion of one subject with a model file: radiomic features, patches,
 * network forward (with test-time flips and every member of an ensemble), mean and spread.
 * Used by predict.c and by evaluation of a given model (`qsmrim evaluate --model`).
 */
#ifndef QR_SCORE_H
#define QR_SCORE_H

#include "predict.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qr_scorer qr_scorer;

/* Open a model file (NULL: the shipped demo model) on a device ("auto", "cpu", "cuda[:N]"). */
qr_status qr_scorer_open(const char *model_path, const char *device, int threads, qr_scorer **out);
const char *qr_scorer_model_path(const qr_scorer *s);
const char *qr_scorer_device(const qr_scorer *s);
/* The device and its kernels, without the thread count ("cpu (AVX-512 kernels"): results computed
 * with the same engine agree bit for bit whatever the threads. */
const char *qr_scorer_engine(const qr_scorer *s);
/* The decision thresholds stored in the model file. */
void qr_scorer_thresholds(const qr_scorer *s, double *t_f1, double *t_sensitive);
/* Whether the model looks at image patches (a network on lesion-centred crops), not only at
 * radiomic features. */
int qr_scorer_uses_patches(const qr_scorer *s);
/* Whether the order in which the volumes' axes are read can change the model's result: its patches
 * or its wavelet radiomic features follow the axes; the forest's first-order features do not. */
int qr_scorer_reads_axis_order(const qr_scorer *s);
/* The model file's record of its training subjects (training_qsm_sha256, learner.h): how many it
 * lists (0: no record, e.g. an imported or older model), and whether the QSM image whose SHA-256
 * is `qsm_sha256` (64 hex digits, qr_sha256_image) is one of them: 1 yes, 0 no, -1 no record. */
int64_t qr_scorer_training_subjects(const qr_scorer *s);
int qr_scorer_trained_on(const qr_scorer *s, const char *qsm_sha256);

typedef struct qr_score_request {
    const qr_volume *qsm, *flair, *labels;   /* same grid; QSM/FLAIR finite */
    const qr_lesion_table *table;            /* lesions of `labels` to score */
    int test_time_flips;
    volatile sig_atomic_t *cancel;
    qr_progress_fn progress;
    void *progress_user;
    double progress_from, progress_to;       /* fraction range this call reports in */
    const char *name;                        /* the subject in messages (the QSM's path); NULL: "subject" */
} qr_score_request;

/* Fill probability and uncertainty of results[i] for table->items[i]. The volumes are in the
 * training storage order; a voxel size other than the model's training voxel size (within
 * 0.8-1.25x on every axis) is warned about. */
qr_status qr_scorer_score(qr_scorer *s, const qr_score_request *req, qr_lesion_result *results);

void qr_scorer_close(qr_scorer *s); /* NULL-safe */

#ifdef __cplusplus
}
#endif
#endif
