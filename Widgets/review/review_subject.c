/* review_subject.c - load a subject for review and check a predict run's outputs against it
 * (review_subject.h). */
#include "review_subject.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/geometry.h"
#include "io/imageio.h"
#include "lesions/lesions.h"

void qr_review_subject_free(qr_review_subject *s) {
    if (!s) return;
    qr_volume_free(&s->qsm);
    qr_volume_free(&s->flair);
    qr_volume_free(&s->labels);
    qr_queue_free(&s->queue);
    memset(s, 0, sizeof *s);
}

/* Queue from a label map already on the display grid. */
static qr_status queue_from_labels(const qr_volume *labels, qr_queue *q) {
    qr_lesion_table t;
    QR_TRY(qr_lesion_table_from_labels(labels, &t));
    qr_status st = qr_queue_from_lesions(&t, q);
    qr_lesion_table_free(&t);
    return st;
}

/* Per-label lookup: the queue's (id, index) pairs sorted by id, found by binary search (labels
 * may be any positive int32, so no table indexed by label). */
typedef struct label_slot {
    int32_t id;
    int64_t u;
} label_slot;

static int cmp_slot(const void *a, const void *b) {
    const label_slot *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static qr_status label_slots(const qr_queue *q, label_slot **slot_out) {
    label_slot *slot = calloc((size_t)(q->n > 0 ? q->n : 1), sizeof *slot);
    if (!slot) return qr_fail(QR_ERR_NOMEM, "out of memory for %lld lesions", (long long)q->n);
    for (int64_t u = 0; u < q->n; u++) slot[u] = (label_slot){q->items[u].id, u};
    qsort(slot, (size_t)q->n, sizeof *slot, cmp_slot);
    *slot_out = slot;
    return QR_OK;
}

/* The queue index of label l (> 0), or -1. */
static int64_t slot_of(const label_slot *slot, int64_t n, int32_t l) {
    label_slot key = {l, 0};
    const label_slot *hit = l > 0 ? bsearch(&key, slot, (size_t)n, sizeof *slot, cmp_slot) : NULL;
    return hit ? hit->u : -1;
}

static qr_status check_grid(const qr_review_subject *s, const qr_volume *v, const char *name) {
    if (!qr_geometry_same(&s->qsm.geom, &v->geom)) {
        char a[512], b[512];
        return qr_fail(QR_ERR_GEOMETRY, "%s: is not on the QSM grid (%s vs QSM %s); predict writes its maps on the QSM grid",
                       name, qr_geometry_describe(&v->geom, a, sizeof a), qr_geometry_describe(&s->qsm.geom, b, sizeof b));
    }
    return QR_OK;
}

qr_status qr_review_subject_check_overlay(const qr_review_subject *s, const qr_volume *overlay, const char *name) {
    if (overlay->dtype != QR_INT32) return qr_fail(QR_ERR_INVALID_ARG, "%s: the overlay must be read as a label map", name);
    QR_TRY(check_grid(s, overlay, name));
    label_slot *slot = NULL;
    QR_TRY(label_slots(&s->queue, &slot));
    const int32_t *lab = qr_volume_i32(&s->labels), *ov = qr_volume_i32(overlay);
    const qr_geometry *g = &s->qsm.geom;
    int64_t nvox = qr_volume_nvox(&s->qsm), bad = 0, first = -1;
    int want_first = 0;
    int32_t last_l = 0;
    int64_t last_u = -1;
    for (int64_t v = 0; v < nvox; v++) {
        int32_t l = lab[v];
        if (l != last_l) {
            last_l = l;
            last_u = slot_of(slot, s->queue.n, l);
        }
        int want = last_u >= 0 ? s->queue.items[last_u].model_decision : QR_MODEL_NONE;
        if (ov[v] != want) {
            if (first < 0) {
                first = v;
                want_first = want;
            }
            bad++;
        }
    }
    qr_status st = QR_OK;
    if (bad) {
        int64_t i = first % g->size[0], j = (first / g->size[0]) % g->size[1], k = first / (g->size[0] * g->size[1]);
        int32_t l = lab[first];
        char where[64];
        if (l > 0) snprintf(where, sizeof where, "of lesion %d", l);
        else snprintf(where, sizeof where, "outside the lesions");
        st = qr_fail(QR_ERR_FORMAT,
                     "%s: %lld voxels disagree with the lesion map and the prediction table; the first, voxel (%lld, %lld, "
                     "%lld) %s, holds code %d where %d (%s) is expected",
                     name, (long long)bad, (long long)i, (long long)j, (long long)k, where, ov[first], want_first,
                     qr_model_decision_name(want_first));
    }
    free(slot);
    return st;
}

qr_status qr_review_subject_check_probability(const qr_review_subject *s, const qr_volume *prob, const char *name) {
    if (prob->dtype != QR_FLOAT32) return qr_fail(QR_ERR_INVALID_ARG, "%s: the probability map must be float32", name);
    QR_TRY(check_grid(s, prob, name));
    label_slot *slot = NULL;
    QR_TRY(label_slots(&s->queue, &slot));
    const int32_t *lab = qr_volume_i32(&s->labels);
    const float *pm = qr_volume_f32(prob);
    const qr_geometry *g = &s->qsm.geom;
    int64_t nvox = qr_volume_nvox(&s->qsm), bad = 0, first = -1;
    double want_first = 0;
    int32_t last_l = 0;
    int64_t last_u = -1;
    for (int64_t v = 0; v < nvox; v++) {
        int32_t l = lab[v];
        if (l != last_l) {
            last_l = l;
            last_u = slot_of(slot, s->queue.n, l);
        }
        double want = 0.0;
        if (last_u >= 0 && !isnan(s->queue.items[last_u].probability)) want = s->queue.items[last_u].probability;
        /* The table holds 6 decimals, the map float32: 1e-5 covers both roundings. */
        if (!(fabs((double)pm[v] - want) <= 1e-5)) {
            if (first < 0) {
                first = v;
                want_first = want;
            }
            bad++;
        }
    }
    qr_status st = QR_OK;
    if (bad) {
        int64_t i = first % g->size[0], j = (first / g->size[0]) % g->size[1], k = first / (g->size[0] * g->size[1]);
        st = qr_fail(QR_ERR_FORMAT,
                     "%s: %lld voxels disagree with the prediction table; the first, voxel (%lld, %lld, %lld) of label %d, "
                     "holds %g where %g is expected",
                     name, (long long)bad, (long long)i, (long long)j, (long long)k, lab[first], (double)pm[first],
                     want_first);
    }
    free(slot);
    return st;
}

qr_status qr_review_subject_set_labels(qr_review_subject *s, const qr_volume *labels, const qr_queue_prediction *pred,
                                       int64_t n) {
    if (labels->dtype != QR_INT32) return qr_fail(QR_ERR_INVALID_ARG, "label map must be int32");
    QR_TRY(check_grid(s, labels, "label map"));
    qr_volume copy;
    QR_TRY(qr_volume_copy(&copy, labels, QR_INT32));
    qr_queue q;
    qr_status st = queue_from_labels(&copy, &q);
    if (st != QR_OK) {
        qr_volume_free(&copy);
        return st;
    }
    for (int64_t i = 0; i < n && st == QR_OK; i++)
        st = qr_queue_set_prediction(&q, pred[i].id, pred[i].probability, pred[i].uncertainty, pred[i].decision);
    if (st != QR_OK) {
        qr_queue_free(&q);
        qr_volume_free(&copy);
        return st;
    }
    qr_volume_free(&s->labels);
    qr_queue_free(&s->queue);
    s->labels = copy;
    s->queue = q;
    s->n_unpredicted = 0;
    for (int64_t u = 0; u < q.n; u++) s->n_unpredicted += isnan(q.items[u].probability);
    return QR_OK;
}

qr_status qr_review_subject_load(const qr_review_inputs *in, qr_review_subject *s) {
    memset(s, 0, sizeof *s);
    if (!in->qsm || !in->flair || !in->lesions)
        return qr_fail(QR_ERR_INVALID_ARG, "a subject needs a QSM, a FLAIR and a lesion map");
    if ((in->overlay || in->probability) && !in->table)
        return qr_fail(QR_ERR_INVALID_ARG, "prediction maps (%s) need the prediction table of the same run",
                       in->overlay ? in->overlay : in->probability);
    int conn = in->connectivity ? in->connectivity : 26;
    if (conn != 6 && conn != 26) return qr_fail(QR_ERR_INVALID_ARG, "connectivity %d is not 6 or 26", conn);
    if (in->lesion_input < QR_LESION_INPUT_AUTO || in->lesion_input > QR_LESION_INPUT_LABELS)
        return qr_fail(QR_ERR_INVALID_ARG, "lesion input code %d is not auto, mask or labels", in->lesion_input);

    qr_status st;
    qr_volume lesions = {0}, overlay = {0}, prob = {0};
    int resampled = 0;
#define CHECK(expr)                                                                                                    \
    do {                                                                                                               \
        st = (expr);                                                                                                   \
        if (st != QR_OK) goto fail;                                                                                    \
    } while (0)

    CHECK(qr_image_read(in->qsm, QR_FLOAT32, &s->qsm, NULL));
    CHECK(qr_geometry_validate(&s->qsm.geom, "QSM"));
    CHECK(qr_image_read(in->flair, QR_FLOAT32, &s->flair, NULL));
    CHECK(qr_image_read(in->lesions, QR_INT32, &lesions, NULL));
    CHECK(qr_align_to_grid(&s->qsm.geom, "QSM", &s->flair, "FLAIR", &resampled));
    s->flair_resampled = resampled;
    CHECK(qr_align_to_grid(&s->qsm.geom, "QSM", &lesions, "lesion map", &resampled));
    s->lesions_resampled = resampled;
    s->qsm_nonfinite = qr_volume_replace_nonfinite(&s->qsm, 0.0f);
    s->flair_nonfinite = qr_volume_replace_nonfinite(&s->flair, 0.0f);

    {
        qr_lesion_options lo = qr_lesion_options_default();
        lo.connectivity = conn;
        lo.input = (qr_lesion_input)in->lesion_input;
        qr_lesion_table t;
        st = qr_lesions_extract(&lesions, &lo, &s->labels, &t, &s->lesions_were_mask);
        if (st != QR_OK) {
            qr_fail_context(st, "%s", in->lesions);
            goto fail;
        }
        st = qr_queue_from_lesions(&t, &s->queue);
        qr_lesion_table_free(&t);
        if (st != QR_OK) goto fail;
    }
    qr_volume_free(&lesions);
    s->n_unpredicted = s->queue.n;

    if (in->table) {
        CHECK(qr_queue_attach_prediction_table(&s->queue, in->table, &s->n_unpredicted));
        if (in->overlay) {
            CHECK(qr_image_read(in->overlay, QR_INT32, &overlay, NULL));
            CHECK(qr_review_subject_check_overlay(s, &overlay, in->overlay));
            qr_volume_free(&overlay);
        }
        if (in->probability) {
            CHECK(qr_image_read(in->probability, QR_FLOAT32, &prob, NULL));
            CHECK(qr_review_subject_check_probability(s, &prob, in->probability));
            qr_volume_free(&prob);
        }
    }
    return QR_OK;
fail:
    qr_volume_free(&lesions);
    qr_volume_free(&overlay);
    qr_volume_free(&prob);
    qr_review_subject_free(s);
    return st;
#undef CHECK
}
