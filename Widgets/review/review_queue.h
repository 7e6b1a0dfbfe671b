/*
 * review_queue.h - the lesions of one subject as a review queue: what the viewer's table lists,
 * in which order, which rows a filter keeps, and where "next", "previous" and "resume" go.
 * Plain C, no GUI: the viewer (Widgets/app) and the tests use it alike.
 *
 * An item is one lesion: its label in the label map, its size and place, and - once a prediction
 * is attached - the model's P(rim+), its uncertainty and the model's decision (the codes of
 * Logic/predict/predict.h: 1 rim-, 2 review, 3 rim+; 0 = no prediction). The reviewer's decision
 * is not stored here but in the review file (review_file.h), looked up by lesion id.
 *
 * Sort keys (ties always broken by lesion id, ascending, so an order is reproducible):
 *   probability  P(rim+), highest first        uncertainty  highest first (most doubtful first)
 *   volume       largest first                 id           ascending
 * Items without a value for the key (NaN: no prediction) come after all items with one.
 *
 * Filter: every item is in exactly one model state (rim+, review, rim-, none) and one review
 * state (unreviewed, rim+, rim-, unsure); a filter is a pair of bit sets and keeps an item when
 * both of its states are in the sets. QR_FILTER_ALL keeps everything.
 *
 *   qr_queue q;                      // from a lesion table, then a prediction table attached
 *   int64_t *order = malloc(q.n * sizeof *order), shown;
 *   qr_queue_order(&q, &review, QR_SORT_PROBABILITY, qr_filter_all(), order, &shown);
 *   int64_t pos = qr_queue_resume(&q, &review, order, shown);   // first unreviewed row
 */
#ifndef QR_REVIEW_QUEUE_H
#define QR_REVIEW_QUEUE_H

#include <stdint.h>

#include "core/status.h"
#include "lesions/lesions.h"

#ifdef __cplusplus
extern "C" {
#endif

struct qr_review; /* review_file.h */

/* Model decision codes (as Logic/predict/predict.h and the overlay label map). */
enum { QR_MODEL_NONE = 0, QR_MODEL_RIM_NEG = 1, QR_MODEL_REVIEW = 2, QR_MODEL_RIM_POS = 3, QR_MODEL_COUNT = 4 };

/* "none", "rim-", "review", "rim+" - the strings of the prediction table's `decision` column. */
const char *qr_model_decision_name(int code);
/* Parse "rim+", "review", "rim-" (as the prediction table writes them). QR_ERR_FORMAT otherwise. */
qr_status qr_model_decision_parse(const char *text, int *code);

typedef struct qr_queue_item {
    int32_t id;             /* label in the label map */
    int64_t voxels;         /* voxels of the lesion */
    double volume_mm3;      /* lesion volume */
    double center_ijk[3];   /* centre of mass, continuous voxel index of the display grid */
    double center_ras[3];   /* the same point in RAS mm */
    int64_t bbox[6];        /* inclusive index bounds i0, j0, k0, i1, j1, k1 */
    double probability;     /* model P(rim+), NaN without prediction */
    double uncertainty;     /* model standard deviation, NaN without prediction */
    int model_decision;     /* QR_MODEL_* */
} qr_queue_item;

typedef struct qr_queue {
    int64_t n;              /* lesions */
    qr_queue_item *items;   /* n items, sorted by id */
} qr_queue;

/* One item per lesion of a lesion table, no prediction attached. */
qr_status qr_queue_from_lesions(const qr_lesion_table *t, qr_queue *q);
void qr_queue_free(qr_queue *q);

/* Index of the item with this id, or -1. */
int64_t qr_queue_find(const qr_queue *q, int32_t id);

/* Forget any attached prediction (probability, uncertainty -> NaN, decision -> none). */
void qr_queue_clear_prediction(qr_queue *q);

/* Attach a prediction table written by `qsmrim predict` (header lesion_id volume_mm3 center_r
 * center_a center_s probability uncertainty decision; more columns allowed). Every row must name a
 * lesion of the queue whose volume and centre agree (volume to 0.1% + 0.01 mm^3, centre to
 * 0.01 mm: the table's rounding), probabilities lie in [0, 1], uncertainties are >= 0, ids are
 * unique; otherwise QR_ERR_FORMAT naming the file, line and problem and the queue is unchanged.
 * Lesions of the queue that the table does not list keep no prediction; *n_missing (may be NULL)
 * counts them. */
qr_status qr_queue_attach_prediction_table(qr_queue *q, const char *path, int64_t *n_missing);

/* Attach one lesion's prediction (from an in-memory prediction). QR_ERR_INVALID_ARG if the id is
 * not in the queue or a value is out of range. */
qr_status qr_queue_set_prediction(qr_queue *q, int32_t id, double probability, double uncertainty, int decision);

/* One lesion's prediction as qr_queue_set_prediction takes it. */
typedef struct qr_queue_prediction {
    int32_t id;
    double probability, uncertainty;
    int decision; /* QR_MODEL_* */
} qr_queue_prediction;

/* 1 if any item carries a prediction. */
int qr_queue_has_prediction(const qr_queue *q);

/* ---- order, filter, navigation ---- */
typedef enum qr_queue_sort { QR_SORT_PROBABILITY = 0, QR_SORT_UNCERTAINTY, QR_SORT_VOLUME, QR_SORT_ID, QR_SORT_COUNT } qr_queue_sort;
const char *qr_queue_sort_name(qr_queue_sort s); /* "probability", "uncertainty", "volume", "id" */

/* Bits of the model-state set (1 << QR_MODEL_*) and of the review-state set (1 << QR_REVIEW_*,
 * review_file.h: none = unreviewed, rim+, rim-, unsure). */
typedef struct qr_queue_filter {
    unsigned model;   /* bit (1 << model_decision) */
    unsigned review;  /* bit (1 << review decision) */
} qr_queue_filter;
qr_queue_filter qr_filter_all(void);

/* Write into order[0..*n_shown) the indices (into q->items) of the items the filter keeps, in the
 * sort order. order must hold q->n entries. `review` may be NULL (nothing reviewed). */
qr_status qr_queue_order(const qr_queue *q, const struct qr_review *review, qr_queue_sort sort, qr_queue_filter filter,
                         int64_t *order, int64_t *n_shown);

/* Position of item index `item` in order[0..n), or -1. */
int64_t qr_queue_position(const int64_t *order, int64_t n, int64_t item);

/* Where "next" (step +1) or "previous" (step -1) goes from position `pos`: pos + step clamped to
 * [0, n-1]; from pos = -1 (current item not listed) both go to position 0. -1 if n == 0. */
int64_t qr_queue_step(int64_t pos, int64_t n, int step);

/* Where a reopened review resumes: the first position whose lesion has no review decision; if
 * every listed lesion is reviewed, the last position. -1 if n == 0. */
int64_t qr_queue_resume(const qr_queue *q, const struct qr_review *review, const int64_t *order, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
