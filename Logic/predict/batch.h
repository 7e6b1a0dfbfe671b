/*
 * batch.h - prediction over a cohort: every subject of a manifest classified with one model load,
 * each subject's outputs in a folder of its own, and one queue of all lesions ranked for review
 * (what an annotator pre-sorting candidate rim lesions works through).
 *
 * The manifest is a cohort manifest (cohort.h) whose annotations column is not read: subject,
 * qsm, flair, lesions. Subject names become folder names, so they must be usable as one (no '/',
 * no control characters, not starting with '.', not the name of one of the two tables).
 *
 * OUT/
 *   queue.tsv      every lesion of every classified subject, most probable rim+ first (ties: the
 *                  manifest's subject order, then lesion id), columns
 *                    rank subject lesion_id volume_mm3 center_r center_a center_s probability
 *                    uncertainty decision
 *   subjects.tsv   one row per subject of the manifest, in its order:
 *                    subject status lesions rim_positive review trained_on message
 *                  status: done (classified by this run), reused (--resume: unchanged since an
 *                  earlier run), failed (message says why; for a subject computed again by a
 *                  --resume run it says why the earlier outputs did not fit); trained_on: yes /
 *                  no / - (the model keeps no record of its training subjects)
 *   SUBJECT/lesions.tsv, SUBJECT/overlay.EXT, SUBJECT/probability.EXT [, SUBJECT/picture.png]
 *                  predict's --out-table, --out-labels, --out-probability (and --out-picture)
 *   SUBJECT/.qsmrim-predict
 *                  the record: what the outputs were computed from (qsmrim's version, the model's
 *                  and the three inputs' SHA-256, the engine without its thread count, the cuDNN
 *                  settings, the decision and input settings), then trained_on and each output
 *                  with its SHA-256. A resumed run reuses a subject only when all of it matches;
 *                  the viewer (qr_batch_results) opens only what it lists, unchanged
 *   .qsmrim-predict.lock
 *                  one run at a time writes into OUT (flock)
 *
 * A subject whose inputs cannot be used (missing, corrupt, mismatched grids, ...) is recorded as
 * failed, its record (not its outputs: the inputs may be only out of reach) removed, and the
 * others are classified; a failure to write, an out-of-memory, a failing device or model, or a
 * cancel stops the run. Each subject's outputs are committed together as it finishes (the old
 * record removed first, the new one written last), so an interrupted run keeps every finished
 * subject and never leaves a record over other outputs. A rerun removes only the outputs the
 * previous record lists that are unchanged since. queue.tsv and subjects.tsv are removed before
 * the first subject folder changes and written when every subject has had its turn.
 */
#ifndef QR_BATCH_H
#define QR_BATCH_H

#include "predict.h"

#include "../lesions/lesions.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qr_batch_status { QR_BATCH_DONE = 0, QR_BATCH_REUSED, QR_BATCH_FAILED } qr_batch_status;

typedef struct qr_batch_subject {
    const char *subject;
    qr_batch_status status;
    int64_t lesions, rim_positive, review;
    int trained_on;     /* qr_prediction.trained_on: 1, 0, -1 */
    char message[512];  /* why it failed; done with --resume: why the earlier outputs were not reused */
} qr_batch_subject;

/* Called before each subject (row->subject set, `done` = subjects before it) and after it (`done`
 * counts it; row complete). */
typedef void (*qr_batch_progress_fn)(int done, int total, const qr_batch_subject *row, void *user);

typedef struct qr_batch_options {
    qr_predict_options predict; /* settings of every subject's prediction; its model is opened once */
    const char *format;         /* image outputs' extension: "nii.gz" (default), "nii", "nrrd", "mha" */
    int pictures;               /* also SUBJECT/picture.png */
    int resume;                 /* reuse the subjects whose outputs are unchanged since a run with the
                                   same inputs, model and settings */
    qr_batch_progress_fn subject_start, subject_done;
    void *progress_user;
} qr_batch_options;

qr_batch_options qr_batch_options_default(void);
/* 1 if `ext` is an image format a cohort run writes: nii.gz, nii, nrrd, mha. */
int qr_batch_format_ok(const char *ext);

typedef struct qr_batch_summary {
    int subjects, done, reused, failed, trained_on;
    int64_t lesions, rim_positive, review;
    char first_failure[640]; /* "subject 'x': why" of the first failed subject */
} qr_batch_summary;

/* Classify every subject of `manifest` into `out_dir` (created when missing). QR_OK when every
 * subject was classified or reused; when some failed, QR_ERR_INVALID_ARG-class errors are not
 * returned for them: the summary counts them and the caller decides (the queue and table are
 * written either way). An error return means the run stopped (see above); finished subjects'
 * folders are kept. */
qr_status qr_predict_cohort(const char *manifest, const char *out_dir, const qr_batch_options *opt,
                            qr_batch_summary *summary);

/* A subject's outputs as the record of the run that wrote them lists them (what the viewer opens):
 * the paths of its lesion table, overlay and probability map under results_dir/SUBJECT/, each
 * checked against the SHA-256 the record holds, and the record's inputs against `inputs` (QSM,
 * FLAIR, lesion map as the manifest names them now; NULL: not checked). *connectivity and
 * *lesion_input (qr_lesion_input; either may be NULL) receive how that run read the lesion map, so
 * the lesion ids the viewer derives are the table's. QR_ERR_IO when there is no record (the subject
 * failed or was never classified) or a file is missing, QR_ERR_FORMAT when an output or an input
 * has changed since, or the record does not say how the lesion map was read. */
qr_status qr_batch_results(const char *results_dir, const char *subject, const char *const inputs[3],
                           char table[QR_PATH_MAX], char overlay[QR_PATH_MAX], char probability[QR_PATH_MAX],
                           int *connectivity, int *lesion_input);

/* A review file used as a subject's annotation table (`annotations`: qsmrim-review's decisions)
 * names lesions by the ids of the prediction it was made on. When that prediction's table lies
 * beside it (RESULTS/SUBJECT/lesions.tsv and review.tsv), QR_ERR_FORMAT naming both if the table's
 * lesions are not `lesions` (the map as training reads it, by its labels: same ids, volumes and
 * centres) - a run that read the map as a mask, or another map - or if a decision was made on
 * another prediction than that table's (P(rim+) beyond one in the 6th decimal: a later run into the
 * folder kept the review file). QR_OK for other tables and for a review file without a table
 * beside it (nothing to compare). */
qr_status qr_batch_check_review_ids(const char *annotations, const qr_lesion_table *lesions, const char *lesion_map,
                                    const char *subject);

/* The file names of the outputs (for checks and messages). */
#define QR_BATCH_QUEUE "queue.tsv"
#define QR_BATCH_SUBJECTS "subjects.tsv"

#ifdef __cplusplus
}
#endif
#endif
