/* review_queue.c - the lesion queue: items from a lesion table, an attached prediction table,
 * sorting, filtering and navigation (review_queue.h). */
#include "review_queue.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/tsv.h"
#include "review_file.h"

const char *qr_model_decision_name(int code) {
    switch (code) {
    case QR_MODEL_RIM_NEG: return "rim-";
    case QR_MODEL_REVIEW: return "review";
    case QR_MODEL_RIM_POS: return "rim+";
    default: return "none";
    }
}

qr_status qr_model_decision_parse(const char *text, int *code) {
    if (!strcmp(text, "rim+")) *code = QR_MODEL_RIM_POS;
    else if (!strcmp(text, "review")) *code = QR_MODEL_REVIEW;
    else if (!strcmp(text, "rim-")) *code = QR_MODEL_RIM_NEG;
    else if (!strcmp(text, "none")) *code = QR_MODEL_NONE;
    else return qr_fail(QR_ERR_FORMAT, "decision '%s' is not rim+, review or rim-", text);
    return QR_OK;
}

const char *qr_queue_sort_name(qr_queue_sort s) {
    static const char *names[QR_SORT_COUNT] = {"probability", "uncertainty", "volume", "id"};
    return (unsigned)s < QR_SORT_COUNT ? names[s] : "unknown";
}

qr_queue_filter qr_filter_all(void) {
    qr_queue_filter f = {(1u << QR_MODEL_COUNT) - 1u, (1u << QR_REVIEW_COUNT) - 1u};
    return f;
}

qr_status qr_queue_from_lesions(const qr_lesion_table *t, qr_queue *q) {
    memset(q, 0, sizeof *q);
    q->items = calloc((size_t)(t->n > 0 ? t->n : 1), sizeof *q->items);
    if (!q->items) return qr_fail(QR_ERR_NOMEM, "out of memory for %lld lesions", (long long)t->n);
    q->n = t->n;
    for (int64_t u = 0; u < t->n; u++) {
        const qr_lesion *L = &t->items[u];
        qr_queue_item *it = &q->items[u];
        it->id = L->id;
        it->voxels = L->voxels;
        it->volume_mm3 = L->volume_mm3;
        memcpy(it->center_ijk, L->center_ijk, sizeof it->center_ijk);
        memcpy(it->center_ras, L->center_ras, sizeof it->center_ras);
        memcpy(it->bbox, L->bbox, sizeof it->bbox);
        it->probability = NAN;
        it->uncertainty = NAN;
        it->model_decision = QR_MODEL_NONE;
    }
    /* The lesion table is sorted by id; keep the invariant even if a caller built one by hand. */
    for (int64_t u = 1; u < q->n; u++)
        if (q->items[u].id <= q->items[u - 1].id) {
            qr_queue_free(q);
            return qr_fail(QR_ERR_INVALID_ARG, "lesion table is not sorted by unique id");
        }
    return QR_OK;
}

void qr_queue_free(qr_queue *q) {
    if (!q) return;
    free(q->items);
    memset(q, 0, sizeof *q);
}

int64_t qr_queue_find(const qr_queue *q, int32_t id) {
    int64_t lo = 0, hi = q->n - 1; /* binary search: items sorted by id */
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (q->items[mid].id == id) return mid;
        if (q->items[mid].id < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

void qr_queue_clear_prediction(qr_queue *q) {
    for (int64_t u = 0; u < q->n; u++) {
        q->items[u].probability = NAN;
        q->items[u].uncertainty = NAN;
        q->items[u].model_decision = QR_MODEL_NONE;
    }
}

int qr_queue_has_prediction(const qr_queue *q) {
    for (int64_t u = 0; u < q->n; u++)
        if (!isnan(q->items[u].probability)) return 1;
    return 0;
}

qr_status qr_queue_set_prediction(qr_queue *q, int32_t id, double probability, double uncertainty, int decision) {
    int64_t u = qr_queue_find(q, id);
    if (u < 0) return qr_fail(QR_ERR_INVALID_ARG, "prediction for lesion %d, which is not in the lesion map", id);
    if (!(probability >= 0.0 && probability <= 1.0))
        return qr_fail(QR_ERR_INVALID_ARG, "lesion %d: probability %g is not in [0, 1]", id, probability);
    if (!(uncertainty >= 0.0) || !isfinite(uncertainty))
        return qr_fail(QR_ERR_INVALID_ARG, "lesion %d: uncertainty %g is not a finite value >= 0", id, uncertainty);
    if (decision < QR_MODEL_RIM_NEG || decision > QR_MODEL_RIM_POS)
        return qr_fail(QR_ERR_INVALID_ARG, "lesion %d: decision code %d is not 1 (rim-), 2 (review) or 3 (rim+)", id,
                       decision);
    q->items[u].probability = probability;
    q->items[u].uncertainty = uncertainty;
    q->items[u].model_decision = decision;
    return QR_OK;
}

/* One parsed row of a prediction table. */
typedef struct pred_row {
    int64_t item;
    double probability, uncertainty;
    int decision;
} pred_row;

qr_status qr_queue_attach_prediction_table(qr_queue *q, const char *path, int64_t *n_missing) {
    qr_tsv t;
    QR_TRY(qr_tsv_read(path, &t));
    int c_id, c_vol, c_r, c_a, c_s, c_p, c_u, c_d;
    qr_status s = QR_OK;
    pred_row *rows = NULL;
    char *seen = NULL;
    if ((s = qr_tsv_require(&t, "lesion_id", &c_id)) || (s = qr_tsv_require(&t, "volume_mm3", &c_vol)) ||
        (s = qr_tsv_require(&t, "center_r", &c_r)) || (s = qr_tsv_require(&t, "center_a", &c_a)) ||
        (s = qr_tsv_require(&t, "center_s", &c_s)) || (s = qr_tsv_require(&t, "probability", &c_p)) ||
        (s = qr_tsv_require(&t, "uncertainty", &c_u)) || (s = qr_tsv_require(&t, "decision", &c_d)))
        goto done;
    rows = calloc((size_t)(t.nrows > 0 ? t.nrows : 1), sizeof *rows);
    seen = calloc((size_t)(q->n > 0 ? q->n : 1), 1);
    if (!rows || !seen) {
        s = qr_fail(QR_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int64_t r = 0; r < t.nrows; r++) {
        long long line = (long long)t.lineno[r];
        int64_t id;
        double vol, c[3], p, u;
        if ((s = qr_tsv_get_int(&t, r, c_id, &id)) || (s = qr_tsv_get_double(&t, r, c_vol, &vol)) ||
            (s = qr_tsv_get_double(&t, r, c_r, &c[0])) || (s = qr_tsv_get_double(&t, r, c_a, &c[1])) ||
            (s = qr_tsv_get_double(&t, r, c_s, &c[2])) || (s = qr_tsv_get_double(&t, r, c_p, &p)) ||
            (s = qr_tsv_get_double(&t, r, c_u, &u)))
            goto done;
        int64_t item = (id >= INT32_MIN && id <= INT32_MAX) ? qr_queue_find(q, (int32_t)id) : -1;
        if (item < 0) {
            s = qr_fail(QR_ERR_FORMAT, "%s line %lld: lesion %lld is not a lesion of the lesion map", path, line,
                        (long long)id);
            goto done;
        }
        if (seen[item]) {
            s = qr_fail(QR_ERR_FORMAT, "%s line %lld: lesion %lld is listed twice", path, line, (long long)id);
            goto done;
        }
        seen[item] = 1;
        const qr_queue_item *it = &q->items[item];
        /* The table rounds volumes to 6 significant digits and centres to 3 decimals. */
        if (fabs(vol - it->volume_mm3) > 1e-3 * it->volume_mm3 + 0.01) {
            s = qr_fail(QR_ERR_FORMAT,
                        "%s line %lld: lesion %lld has volume %g mm3 but %g mm3 in the lesion map (the table belongs "
                        "to another lesion map or connectivity)",
                        path, line, (long long)id, vol, it->volume_mm3);
            goto done;
        }
        double d2 = 0;
        for (int a = 0; a < 3; a++) d2 += (c[a] - it->center_ras[a]) * (c[a] - it->center_ras[a]);
        if (sqrt(d2) > 0.01) {
            s = qr_fail(QR_ERR_FORMAT,
                        "%s line %lld: lesion %lld centre (%.3f, %.3f, %.3f) differs from the lesion map's (%.3f, "
                        "%.3f, %.3f) by %.3f mm (the table belongs to another lesion map or connectivity)",
                        path, line, (long long)id, c[0], c[1], c[2], it->center_ras[0], it->center_ras[1],
                        it->center_ras[2], sqrt(d2));
            goto done;
        }
        if (!(p >= 0.0 && p <= 1.0)) {
            s = qr_fail(QR_ERR_FORMAT, "%s line %lld: probability %g is not in [0, 1]", path, line, p);
            goto done;
        }
        if (!(u >= 0.0) || !isfinite(u)) {
            s = qr_fail(QR_ERR_FORMAT, "%s line %lld: uncertainty %g is not a finite value >= 0", path, line, u);
            goto done;
        }
        int d;
        const char *dtext = qr_tsv_cell(&t, r, c_d);
        if (qr_model_decision_parse(dtext, &d) != QR_OK || d == QR_MODEL_NONE) {
            s = qr_fail(QR_ERR_FORMAT, "%s line %lld: decision '%s' is not rim+, review or rim-", path, line, dtext);
            goto done;
        }
        rows[r] = (pred_row){item, p, u, d};
    }
    /* All rows valid: apply (the queue is unchanged on any error above). */
    qr_queue_clear_prediction(q);
    for (int64_t r = 0; r < t.nrows; r++) {
        qr_queue_item *it = &q->items[rows[r].item];
        it->probability = rows[r].probability;
        it->uncertainty = rows[r].uncertainty;
        it->model_decision = rows[r].decision;
    }
    if (n_missing) *n_missing = q->n - t.nrows;
done:
    free(rows);
    free(seen);
    qr_tsv_free(&t);
    return s;
}

/* ---- order ---- */

typedef struct sort_ctx {
    const qr_queue *q;
    qr_queue_sort key;
} sort_ctx;

/* Sort key of an item: larger first; NaN (no value) last. */
static double key_of(const qr_queue_item *it, qr_queue_sort key) {
    switch (key) {
    case QR_SORT_PROBABILITY: return it->probability;
    case QR_SORT_UNCERTAINTY: return it->uncertainty;
    case QR_SORT_VOLUME: return it->volume_mm3;
    default: return 0.0; /* id: ties everywhere, the id tie-break orders */
    }
}

static int compare_items(const qr_queue_item *x, const qr_queue_item *y, qr_queue_sort key) {
    double a = key_of(x, key), b = key_of(y, key);
    int an = isnan(a), bn = isnan(b);
    if (an != bn) return an ? 1 : -1;
    if (!an && a != b) return a > b ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Merge sort of indices (stable and deterministic; qsort has no context argument in C11). */
static void sort_indices(int64_t *v, int64_t *tmp, int64_t n, const qr_queue *q, qr_queue_sort key) {
    if (n < 2) return;
    int64_t h = n / 2;
    sort_indices(v, tmp, h, q, key);
    sort_indices(v + h, tmp, n - h, q, key);
    int64_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = compare_items(&q->items[v[j]], &q->items[v[i]], key) < 0 ? v[j++] : v[i++];
    while (i < h) tmp[k++] = v[i++];
    while (j < n) tmp[k++] = v[j++];
    memcpy(v, tmp, (size_t)n * sizeof *v);
}

qr_status qr_queue_order(const qr_queue *q, const struct qr_review *review, qr_queue_sort sort, qr_queue_filter filter,
                         int64_t *order, int64_t *n_shown) {
    if ((unsigned)sort >= QR_SORT_COUNT) return qr_fail(QR_ERR_INVALID_ARG, "unknown sort key %d", (int)sort);
    int64_t n = 0;
    for (int64_t u = 0; u < q->n; u++) {
        const qr_queue_item *it = &q->items[u];
        int rd = review ? qr_review_decision_of(review, it->id) : QR_REVIEW_NONE;
        int md = (it->model_decision >= 0 && it->model_decision < QR_MODEL_COUNT) ? it->model_decision : QR_MODEL_NONE;
        if ((filter.model & (1u << md)) && (filter.review & (1u << rd))) order[n++] = u;
    }
    int64_t *tmp = malloc((size_t)(n > 0 ? n : 1) * sizeof *tmp);
    if (!tmp) return qr_fail(QR_ERR_NOMEM, "out of memory sorting %lld lesions", (long long)n);
    sort_indices(order, tmp, n, q, sort);
    free(tmp);
    *n_shown = n;
    return QR_OK;
}

int64_t qr_queue_position(const int64_t *order, int64_t n, int64_t item) {
    for (int64_t p = 0; p < n; p++)
        if (order[p] == item) return p;
    return -1;
}

int64_t qr_queue_step(int64_t pos, int64_t n, int step) {
    if (n <= 0) return -1;
    if (pos < 0 || pos >= n) return 0;
    int64_t p = pos + step;
    if (p < 0) p = 0;
    if (p > n - 1) p = n - 1;
    return p;
}

int64_t qr_queue_resume(const qr_queue *q, const struct qr_review *review, const int64_t *order, int64_t n) {
    if (n <= 0) return -1;
    for (int64_t p = 0; p < n; p++)
        if (!review || qr_review_decision_of(review, q->items[order[p]].id) == QR_REVIEW_NONE) return p;
    return n - 1;
}
