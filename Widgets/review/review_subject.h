/*
 * review_subject.h - one subject as the review viewer shows it: QSM, FLAIR and the lesion label
 * map on one grid, the lesion queue, and a predict run's outputs checked against them.
 * Plain C, no GUI.
 *
 * Grid: the QSM's ("display grid"). FLAIR and the lesion map on another grid that overlaps it are
 * resampled onto it (Logic/io/geometry.h: FLAIR linear, labels nearest), exactly as `qsmrim
 * predict` does, and the lesions are then found the way predict finds them (a binary mask split
 * into connected components with the same connectivity, a label map kept), so lesion ids agree
 * with the prediction table's `lesion_id`.
 *
 * A predict run's outputs (`qsmrim predict`):
 *   table        lesion_id volume_mm3 center_r center_a center_s probability uncertainty decision
 *   overlay      int32 on the QSM grid: 0 background, 1 rim-, 2 review, 3 rim+
 *   probability  float32 on the QSM grid: each lesion's voxels hold its P(rim+), 0 elsewhere
 * The table is required for the others; each file must agree with the lesion map and with the
 * table (ids, volumes and centres; every voxel's decision code and probability) or loading fails
 * with a message naming the file and the first disagreement. Files of two different runs, or of a
 * run on another lesion map or connectivity, are thereby never shown together.
 *
 * Non-finite QSM/FLAIR voxels (NaN/Inf) are shown as 0 and counted.
 */
#ifndef QR_REVIEW_SUBJECT_H
#define QR_REVIEW_SUBJECT_H

#include "core/volume.h"
#include "review_queue.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qr_review_inputs {
    const char *qsm;          /* required */
    const char *flair;        /* required */
    const char *lesions;      /* required: binary mask or label map */
    const char *table;        /* prediction table, or NULL */
    const char *overlay;      /* prediction overlay label map, or NULL (needs table) */
    const char *probability;  /* prediction probability map, or NULL (needs table) */
    int connectivity;         /* splitting a binary mask: 26 (default when 0) or 6, as predict ran */
    int lesion_input;         /* qr_lesion_input (lesions.h): auto (0), mask or labels, as predict ran */
} qr_review_inputs;

typedef struct qr_review_subject {
    qr_volume qsm;             /* float32 ppb: the display grid */
    qr_volume flair;           /* float32 on the QSM grid */
    qr_volume labels;          /* int32 lesion labels on the QSM grid (after splitting) */
    qr_queue queue;            /* one item per lesion, prediction attached if a table was given */
    int flair_resampled;       /* FLAIR came on another grid */
    int lesions_resampled;     /* the lesion map came on another grid */
    int lesions_were_mask;     /* the lesion map was a binary mask (split into components) */
    int64_t qsm_nonfinite;     /* NaN/Inf QSM voxels shown as 0 */
    int64_t flair_nonfinite;   /* NaN/Inf FLAIR voxels shown as 0 */
    int64_t n_unpredicted;     /* lesions the prediction table does not list */
} qr_review_subject;

/* Read and check everything. On failure nothing is kept (the struct is empty). */
qr_status qr_review_subject_load(const qr_review_inputs *in, qr_review_subject *s);

/* Check a prediction overlay / probability map against the label map and the attached prediction
 * (see above). `name` names the file in messages. */
qr_status qr_review_subject_check_overlay(const qr_review_subject *s, const qr_volume *overlay, const char *name);
qr_status qr_review_subject_check_probability(const qr_review_subject *s, const qr_volume *prob, const char *name);

/* Replace the label map and the queue (after an in-viewer prediction, whose label map is the
 * lesion map split as predict split it) and give the new queue's lesions the n predictions
 * (n = 0: none). All or nothing: on any error (labels off the QSM grid, a prediction for a lesion
 * that is not in `labels`, a value out of range) the subject is left exactly as it was. `labels`
 * is copied. */
qr_status qr_review_subject_set_labels(qr_review_subject *s, const qr_volume *labels, const qr_queue_prediction *pred,
                                       int64_t n);

void qr_review_subject_free(qr_review_subject *s);

#ifdef __cplusplus
}
#endif
#endif
