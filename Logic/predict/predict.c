/* predict.c - one subject end to end: read, align, split lesions, score, decide, write. */
#include "predict.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/fileutil.h"
#include "../data/feature_cache.h"
#include "../data/patch.h"
#include "../data/subject.h"
#include "../io/geometry.h"
#include "../io/imageio.h"
#include "score.h"

qr_predict_options qr_predict_options_default(void) {
    qr_predict_options o;
    memset(&o, 0, sizeof o);
    o.device = "auto";
    o.threshold_mode = QR_THRESHOLD_F1;
    o.threshold_value = 0.5;
    o.connectivity = 26;
    o.test_time_flips = 0;
    return o;
}

qr_status qr_threshold_parse(const char *text, qr_threshold_mode *mode, double *value) {
    if (!text || !*text) return qr_fail(QR_ERR_INVALID_ARG, "empty threshold (use f1, sensitive or a probability)");
    if (!strcmp(text, "f1")) {
        *mode = QR_THRESHOLD_F1;
        return QR_OK;
    }
    if (!strcmp(text, "sensitive")) {
        *mode = QR_THRESHOLD_SENSITIVE;
        return QR_OK;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (*end || errno || !(v >= 0.0 && v <= 1.0))
        return qr_fail(QR_ERR_INVALID_ARG, "threshold '%s' is not f1, sensitive or a probability between 0 and 1", text);
    *mode = QR_THRESHOLD_VALUE;
    *value = v;
    return QR_OK;
}

const char *qr_decision_name(int decision) {
    switch (decision) {
    case QR_DECISION_RIM_NEG: return "rim-";
    case QR_DECISION_REVIEW: return "review";
    case QR_DECISION_RIM_POS: return "rim+";
    default: return "none";
    }
}

void qr_prediction_free(qr_prediction *p) {
    if (!p) return;
    free(p->lesions);
    qr_volume_free(&p->qsm);
    qr_volume_free(&p->flair);
    qr_volume_free(&p->labels);
    qr_volume_free(&p->overlay);
    qr_volume_free(&p->probability);
    memset(p, 0, sizeof *p);
}

static void progress(const qr_predict_options *o, double f, const char *stage) {
    if (o->progress) o->progress(f, stage, o->progress_user);
}

static int cmp_prob_desc(const void *a, const void *b) {
    const qr_lesion_result *x = a, *y = b;
    if (x->probability != y->probability) return x->probability < y->probability ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Decision rule of predict.h. */
static int decide(double p, double t_used, double t_review) {
    if (p >= t_used) return QR_DECISION_RIM_POS;
    if (t_review < t_used && p >= t_review) return QR_DECISION_REVIEW;
    return QR_DECISION_RIM_NEG;
}

/* The result of lesion `id` in `r[0..n)`, sorted by ascending id; NULL if absent. */
static const qr_lesion_result *find_lesion(const qr_lesion_result *r, int64_t n, int32_t id) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (r[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && r[lo].id == id ? &r[lo] : NULL;
}

/* A notice naming the lesions the network sees only in part: wider than the patch along some axis
 * (patch.h: it is centred on the lesion, and cut at its border). */
static void warn_larger_than_patch(const qr_lesion_table *t) {
    const int64_t extent[3] = {QR_PATCH_W, QR_PATCH_H, QR_PATCH_D};
    int32_t ids[10]; /* the first ten: qr_labels_describe lists at most ten */
    int64_t n = 0;
    for (int64_t u = 0; u < t->n; u++) {
        const int64_t *b = t->items[u].bbox;
        int wide = 0;
        for (int a = 0; a < 3; a++) wide |= b[a + 3] - b[a] + 1 > extent[a];
        if (wide && n < 10) ids[n] = t->items[u].id;
        n += wide;
    }
    if (!n) return;
    char list[256];
    qr_labels_describe(ids, n, list, sizeof list);
    qr_log(QR_LOG_NOTICE, "%s %s wider than the network's %d x %d x %d-voxel patch; it sees only the central part",
           n == 1 ? "lesion" : "lesions", list, QR_PATCH_W, QR_PATCH_H, QR_PATCH_D);
}

/* Names of the three inputs in messages: file paths when read from files, roles otherwise. */
typedef struct input_names {
    const char *qsm, *flair, *lesions;
    const char *qsm_file; /* the QSM's file (NULL: given in memory) */
} input_names;

/* Whether the QSM file is one of the model's training subjects (qr_prediction.trained_on); a
 * warning when it is. Hashed only when the model keeps a record. */
static qr_status check_training_subject(qr_scorer *scorer, const input_names *nm, const qr_predict_options *opt,
                                        qr_prediction *out) {
    out->trained_on = -1;
    if (!nm->qsm_file || qr_scorer_training_subjects(scorer) == 0) return QR_OK;
    char hex[65];
    if (opt->qsm_sha256 && strlen(opt->qsm_sha256) == 64) memcpy(hex, opt->qsm_sha256, 65);
    else QR_TRY(qr_sha256_image(nm->qsm_file, hex));
    out->trained_on = qr_scorer_trained_on(scorer, hex);
    if (out->trained_on == 1)
        qr_log(QR_LOG_WARNING,
               "%s is one of the %lld subjects model %s was trained on (the same QSM image): its probabilities "
               "describe fitted data, not a prediction",
               nm->qsm_file, (long long)qr_scorer_training_subjects(scorer), qr_scorer_model_path(scorer));
    return QR_OK;
}

/* in[3]: QSM, FLAIR and lesion map. With `take` the volumes are moved out of in[] (left empty)
 * rather than copied: the file path reads them for this call only, and a copy of a 7 T subject
 * would hold another 12 bytes per voxel. */
static qr_status predict(qr_volume in[3], int take, const input_names *nm, const qr_predict_options *opt_in,
                         qr_prediction *out) {
    const qr_volume *qsm_in = &in[0], *flair_in = &in[1], *lesions_in = &in[2];
    memset(out, 0, sizeof *out);
    qr_predict_options opt = opt_in ? *opt_in : qr_predict_options_default();
    if (qsm_in->dtype != QR_FLOAT32 || flair_in->dtype != QR_FLOAT32)
        return qr_fail(QR_ERR_INVALID_ARG, "QSM and FLAIR must be float32 volumes");
    if (lesions_in->dtype != QR_INT32) return qr_fail(QR_ERR_INVALID_ARG, "the lesion map must be an integer volume");
    if (opt.threshold_mode == QR_THRESHOLD_VALUE && !(opt.threshold_value >= 0 && opt.threshold_value <= 1))
        return qr_fail(QR_ERR_INVALID_ARG, "threshold %g is not a probability", opt.threshold_value);

    qr_volume qsm = {0}, flair = {0}, lesions = {0};
    qr_scorer *scorer = NULL;
    qr_lesion_table table = {0}, ordered_table = {0};
    qr_volume ordered[3];
    memset(ordered, 0, sizeof ordered);
    qr_status s = QR_OK;
#define CHECK(expr)                                                                                                    \
    do {                                                                                                               \
        s = (expr);                                                                                                    \
        if (s != QR_OK) goto done;                                                                                     \
    } while (0)
#define CANCELLED() QR_CANCELLED(opt.cancel)

    progress(&opt, 0.0, "Checking inputs");
    if (take) {
        qsm = in[0];
        flair = in[1];
        lesions = in[2];
        memset(in, 0, 3 * sizeof *in);
    } else {
        CHECK(qr_volume_copy(&qsm, qsm_in, QR_FLOAT32));
        CHECK(qr_volume_copy(&flair, flair_in, QR_FLOAT32));
        CHECK(qr_volume_copy(&lesions, lesions_in, QR_INT32));
    }
    qr_subject_align_info ai;
    CHECK(qr_subject_align(&qsm, &flair, &lesions, nm->qsm, nm->flair, nm->lesions, &ai));

    progress(&opt, 0.05, "Finding lesions");
    qr_lesion_options lo = qr_lesion_options_default();
    lo.connectivity = opt.connectivity ? opt.connectivity : 26;
    lo.input = opt.lesion_input;
    s = qr_lesions_extract(&lesions, &lo, &out->labels, &table, NULL);
    if (s != QR_OK) CHECK(qr_fail_context(s, "%s", nm->lesions));
    qr_subject_warn_uncovered(&out->labels, &ai, nm->flair);
    /* the network and the radiomics see the volumes in the training data's storage order; the
     * outputs stay on the QSM grid as given */
    int reordered = 0;
    CHECK(qr_subject_reorder(&qsm, &flair, &out->labels, &table, ordered, &ordered_table, &reordered));
    if (reordered)
        qr_log(QR_LOG_NOTICE, "%s is not stored with i -> Left, j -> Posterior, k -> Superior as the training data were; the lesions are scored on the three volumes in that order (axes swapped or mirrored, no interpolation)",
               nm->qsm);
    const qr_volume *sq = reordered ? &ordered[0] : &qsm, *sf = reordered ? &ordered[1] : &flair,
                    *sl = reordered ? &ordered[2] : &out->labels;
    const qr_lesion_table *st = reordered ? &ordered_table : &table;
    out->n = table.n;
    if (table.n == 0) qr_log(QR_LOG_NOTICE, "the lesion map holds no lesions; nothing to classify");
    if (CANCELLED()) CHECK(qr_fail(QR_ERR_CANCELLED, "cancelled"));

    progress(&opt, 0.1, "Loading model");
    if (opt.scorer) scorer = opt.scorer;
    else CHECK(qr_scorer_open(opt.model_path, opt.device, opt.threads, &scorer));
    snprintf(out->model_used, sizeof out->model_used, "%s", qr_scorer_model_path(scorer));
    snprintf(out->device_used, sizeof out->device_used, "%s", qr_scorer_device(scorer));
    qr_scorer_thresholds(scorer, &out->threshold_f1, &out->threshold_sensitive);
    CHECK(check_training_subject(scorer, nm, &opt, out));
    if (qr_scorer_uses_patches(scorer)) warn_larger_than_patch(st); /* a forest or an MLP sees no patch */
    const double oblique = qr_geometry_obliquity_deg(&qsm.geom);
    if (oblique > QR_OBLIQUE_WARN_DEG && qr_scorer_reads_axis_order(scorer))
        qr_log(QR_LOG_WARNING, "%s: an axis of its grid lies %.1f degrees from the patient axis it is read along: the volumes are read in the order of the nearest patient axes, which the model's patches and wavelet features follow, and near 45 degrees a small change of the header can change that order and the result (a grid resampled along the patient axes does not depend on it)",
               nm->qsm, oblique);

    out->lesions = calloc((size_t)(table.n > 0 ? table.n : 1), sizeof *out->lesions);
    if (!out->lesions) CHECK(qr_fail(QR_ERR_NOMEM, "out of memory"));
    for (int64_t u = 0; u < table.n; u++) {
        const qr_lesion *L = &table.items[u];
        qr_lesion_result *R = &out->lesions[u];
        R->id = L->id;
        R->voxels = L->voxels;
        R->volume_mm3 = L->volume_mm3;
        memcpy(R->center_ras, L->center_ras, sizeof R->center_ras);
    }
    if (table.n > 0) {
        qr_score_request req = {sq, sf, sl, st, opt.test_time_flips, opt.cancel, opt.progress,
                                opt.progress_user, 0.15, 0.95, nm->qsm};
        s = qr_scorer_score(scorer, &req, out->lesions);
    }
    for (int64_t u = 0; s == QR_OK && u < table.n; u++) /* never decide on a NaN */
        if (!(out->lesions[u].probability >= 0 && out->lesions[u].probability <= 1))
            s = qr_fail(QR_ERR_MODEL, "model %s gives lesion %d the probability %g (model file damaged, or input values out of range?)",
                        out->model_used, out->lesions[u].id, out->lesions[u].probability);
    /* said once the lesions are scored: a lesion the radiomics refused is the one error line */
    if (s == QR_OK) qr_subject_warn_outliers(&qsm, &flair, &out->labels, &table, nm->qsm, nm->flair);
    qr_lesion_table_free(&table);
    qr_lesion_table_free(&ordered_table);
    for (int v = 0; v < 3; v++) qr_volume_free(&ordered[v]);
    if (s != QR_OK) goto done;

    progress(&opt, 0.95, "Deciding");
    double t_used = out->threshold_f1, t_review = out->threshold_sensitive;
    if (opt.threshold_mode == QR_THRESHOLD_SENSITIVE) t_used = t_review;
    if (opt.threshold_mode == QR_THRESHOLD_VALUE) t_used = opt.threshold_value;
    out->threshold_used = t_used;
    for (int64_t u = 0; u < out->n; u++) {
        qr_lesion_result *R = &out->lesions[u];
        R->decision = decide(R->probability, t_used, t_review);
        out->n_rim_positive += R->decision == QR_DECISION_RIM_POS;
        out->n_review += R->decision == QR_DECISION_REVIEW;
    }
    /* Paint decisions and probabilities onto the QSM grid. out->lesions is still in the table's
     * order, ascending id: found by binary search (labels may be any positive int32). */
    CHECK(qr_volume_alloc(&out->overlay, &qsm.geom, QR_INT32));
    CHECK(qr_volume_alloc(&out->probability, &qsm.geom, QR_FLOAT32));
    {
        const int32_t *lab = qr_volume_i32(&out->labels);
        int32_t *ov = qr_volume_i32(&out->overlay);
        float *pm = qr_volume_f32(&out->probability);
        const qr_lesion_result *R = NULL;
        for (int64_t v = 0; v < qr_volume_nvox(&qsm); v++) {
            int32_t l = lab[v];
            if (l <= 0) continue;
            if (!R || R->id != l) R = find_lesion(out->lesions, out->n, l);
            if (!R) continue;
            ov[v] = R->decision;
            pm[v] = (float)R->probability;
        }
    }
    qsort(out->lesions, (size_t)out->n, sizeof *out->lesions, cmp_prob_desc);
    out->qsm = qsm;
    out->flair = flair;
    memset(&qsm, 0, sizeof qsm);
    memset(&flair, 0, sizeof flair);
    progress(&opt, 1.0, "Lesions classified");

done:
    qr_lesion_table_free(&table);
    qr_lesion_table_free(&ordered_table);
    for (int v = 0; v < 3; v++) qr_volume_free(&ordered[v]);
    if (scorer != opt.scorer) qr_scorer_close(scorer);
    qr_volume_free(&qsm);
    qr_volume_free(&flair);
    qr_volume_free(&lesions);
    if (s != QR_OK) qr_prediction_free(out);
    return s;
#undef CHECK
#undef CANCELLED
}

qr_status qr_predict_volumes(const qr_volume *qsm, const qr_volume *flair, const qr_volume *lesions,
                             const qr_predict_options *opt, qr_prediction *out) {
    const input_names nm = {"QSM", "FLAIR", "lesion map", NULL};
    qr_volume in[3] = {*qsm, *flair, *lesions}; /* views of the caller's volumes: copied, not taken */
    return predict(in, 0, &nm, opt, out);
}

qr_status qr_predict_files(const char *qsm_path, const char *flair_path, const char *lesions_path,
                           const qr_predict_options *opt, qr_prediction *out) {
    memset(out, 0, sizeof *out);
    qr_volume in[3];
    if (opt && opt->progress) opt->progress(0.0, "Reading volumes", opt->progress_user);
    QR_TRY(qr_subject_read(qsm_path, flair_path, lesions_path, &in[0], &in[1], &in[2]));
    const input_names nm = {qsm_path, flair_path, lesions_path, qsm_path};
    qr_status s = predict(in, 1, &nm, opt, out);
    for (int v = 0; v < 3; v++) qr_volume_free(&in[v]); /* left empty when predict took them */
    return s;
}

const char *const qr_prediction_table_columns[QR_PREDICTION_TABLE_NCOLS] = {
    "lesion_id", "volume_mm3", "center_r", "center_a", "center_s", "probability", "uncertainty", "decision"};

static qr_status write_table(const qr_prediction *p, const char *path, qr_pending *out) {
    qr_atomic f;
    QR_TRY(qr_atomic_open(&f, path));
    for (int k = 0; k < QR_PREDICTION_TABLE_NCOLS; k++)
        fprintf(f.fp, "%s%c", qr_prediction_table_columns[k], k + 1 < QR_PREDICTION_TABLE_NCOLS ? '\t' : '\n');
    for (int64_t u = 0; u < p->n; u++) {
        const qr_lesion_result *R = &p->lesions[u];
        fprintf(f.fp, "%d\t%.10g\t%.3f\t%.3f\t%.3f\t%.6f\t%.6f\t%s\n", R->id, R->volume_mm3, R->center_ras[0],
                R->center_ras[1], R->center_ras[2], R->probability, R->uncertainty, qr_decision_name(R->decision));
    }
    return qr_atomic_finish(&f, out);
}

qr_status qr_prediction_write_pending(const qr_prediction *p, const char *overlay_path, const char *probability_path,
                                      const char *table_path, qr_pending out[3]) {
    memset(out, 0, 3 * sizeof *out);
    qr_status s = QR_OK;
    if (overlay_path) s = qr_image_write_pending(overlay_path, &p->overlay, 0, &out[0]);
    if (s == QR_OK && probability_path) s = qr_image_write_pending(probability_path, &p->probability, 0, &out[1]);
    if (s == QR_OK && table_path) s = write_table(p, table_path, &out[2]);
    if (s != QR_OK) qr_pending_abort_all(out, 3);
    return s;
}

qr_status qr_prediction_write(const qr_prediction *p, const char *overlay_path, const char *probability_path,
                              const char *table_path) {
    qr_pending out[3];
    QR_TRY(qr_prediction_write_pending(p, overlay_path, probability_path, table_path, out));
    return qr_pending_commit_all(out, 3);
}
