/* score.c - P(rim+) of one subject's lesions with a trained model file.
 *
 * The model is read through the learner interface (Logic/train/learner.h), so any model file that
 * `qsmrim train` writes - QSMRim-Net, RimNet, the APRL network or the APRL random forest - can be
 * used. The lesion inputs (masked patch, RimNet window, radiomic features) come from the same
 * one-subject dataset code that training uses (qr_dataset_from_subject), so training and
 * prediction cannot drift apart.
 *
 * Test-time flips: the image models are also run with their input mirrored along the volume's i
 * and j axes (the in-plane axes of an axial acquisition; the slice axis is left alone because its
 * voxels are several times longer). Probability = mean over (flip, member) pairs, uncertainty =
 * their standard deviation (population form, 0 for a single pass).
 */
#include "score.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/resources.h"
#include "../io/outputs.h"
#include "../data/feature_cache.h"
#include "../data/subject.h"
#include "../train/dataset.h"
#include "../train/learner.h"

#define QR_DEMO_MODEL "models/qsmrim_demo.h5"

struct qr_scorer {
    qr_learner *learner;
    qr_model_info info;
    int threads;
    uint64_t *trained_on;   /* the model's record of its training subjects (qr_model_training_subjects) */
    int64_t n_trained_on;
    char path[1024];
    char device[64];
    char engine[QR_ENGINE_MAX]; /* device and kernels, without the thread count (qr_scorer_engine) */
};

qr_status qr_predict_outputs_check(const char *qsm, const char *flair, const char *lesions, const char *model_path,
                                   const qr_io_path *outputs, int n_outputs) {
    char model[1024] = "";
    if (model_path && model_path[0]) snprintf(model, sizeof model, "%s", model_path);
    else if (qr_resource_path(QR_DEMO_MODEL, model, sizeof model) != QR_OK) model[0] = '\0'; /* reported when opened */
    const qr_io_path inputs[4] = {{qsm, "the QSM input", 1, 0},
                                  {flair, "the FLAIR input", 1, 0},
                                  {lesions, "the lesion input", 1, 0},
                                  {model[0] ? model : NULL, "the model", 0, 0}};
    return qr_outputs_check(inputs, 4, outputs, n_outputs);
}

qr_status qr_scorer_open(const char *model_path, const char *device, int threads, qr_scorer **out) {
    *out = NULL;
    qr_scorer *s = calloc(1, sizeof *s);
    if (!s) return qr_fail(QR_ERR_NOMEM, "out of memory");
    qr_status st = QR_OK;
    if (model_path && model_path[0]) {
        snprintf(s->path, sizeof s->path, "%s", model_path);
    } else {
        st = qr_resource_path(QR_DEMO_MODEL, s->path, sizeof s->path);
        if (st != QR_OK) {
            free(s);
            char why[512];
            snprintf(why, sizeof why, "%s", qr_last_error());
            return qr_fail(QR_ERR_IO, "the shipped demo model (%s) was not found: %s; give one with --model", QR_DEMO_MODEL,
                           why);
        }
    }
    st = qr_learner_load_ex(s->path, device && device[0] ? device : "auto", threads, &s->learner, &s->info);
    if (st != QR_OK) {
        free(s);
        return st;
    }
    s->threads = threads;
    /* stored thresholds were checked by the loader; absent (NaN) ones get defaults in
     * qr_scorer_thresholds */
    if (!isfinite(s->info.threshold_f1))
        qr_log(QR_LOG_WARNING, "%s stores no decision threshold (a model imported or written outside `qsmrim train`): "
               "lesions with P(rim+) >= 0.5 are called rim+ and none is flagged for review", s->path);
    st = qr_model_training_subjects_loaded(s->path, &s->trained_on, &s->n_trained_on);
    if (st != QR_OK) {
        qr_scorer_close(s);
        return st;
    }
    /* "cpu (AVX-512 kernels, 2 threads)" -> "cpu"; "cuda:0 (...)" -> "cuda:0" */
    const char *d = qr_learner_describe(s->learner);
    size_t k = strcspn(d, " (");
    if (k >= sizeof s->device) k = sizeof s->device - 1;
    memcpy(s->device, d, k);
    s->device[k] = 0;
    qr_learner_engine(s->learner, s->engine, sizeof s->engine); /* what decides the rounding */
    qr_log(QR_LOG_INFO, "model %s (%s, %d member%s) on %s", s->path, qr_arch_to_name(qr_learner_arch(s->learner)),
           qr_learner_members(s->learner), qr_learner_members(s->learner) == 1 ? "" : "s", d);
    *out = s;
    return QR_OK;
}

const char *qr_scorer_model_path(const qr_scorer *s) { return s->path; }
const char *qr_scorer_device(const qr_scorer *s) { return s->device; }
const char *qr_scorer_engine(const qr_scorer *s) { return s->engine; }

void qr_scorer_thresholds(const qr_scorer *s, double *t_f1, double *t_sensitive) {
    /* A model file without stored thresholds (e.g. written by a cross-validation fold) gets the
     * neutral 0.5 for the decision and 0.5 for the review band (so no lesion is "review"). */
    *t_f1 = isfinite(s->info.threshold_f1) ? s->info.threshold_f1 : 0.5;
    *t_sensitive = isfinite(s->info.threshold_sensitive) ? s->info.threshold_sensitive : *t_f1;
    if (*t_sensitive > *t_f1) *t_sensitive = *t_f1;
}

static void report(const qr_score_request *req, double frac, const char *what) {
    if (req->progress) req->progress(req->progress_from + frac * (req->progress_to - req->progress_from), what,
                                     req->progress_user);
}

/* A subject whose voxels are not those the model was trained on (stored in the model file): the
 * patches are cut in voxels and the radiomic features depend on the voxel size, so the model sees
 * lesions at another scale than in training. Said once per subject; a model without the record
 * (older files, imported models) is not checked. */
static void warn_voxel_size(const qr_scorer *s, const qr_score_request *req) {
    const double *m = s->info.voxel_mm, *v = req->qsm->geom.spacing;
    if (!(m[0] > 0 && m[1] > 0 && m[2] > 0)) return;
    if (!qr_voxel_size_fits(v, m))
        qr_log(QR_LOG_WARNING, "%s: voxels of %.3g x %.3g x %.3g mm (L, P, S) differ from the %.3g x %.3g x %.3g mm the model was "
               "trained on: its patches and features see the lesions at another scale, so its results are less reliable; "
               "resample the images to the training voxel size first",
               req->name ? req->name : "subject", v[0], v[1], v[2], m[0], m[1], m[2]);
}

int qr_scorer_uses_patches(const qr_scorer *s) {
    int crops = 0, context = 0, features = 0;
    qr_arch_needs(qr_learner_arch(s->learner), &crops, &context, &features);
    return crops || context;
}

int qr_scorer_reads_axis_order(const qr_scorer *s) { return qr_learner_arch(s->learner) != QR_ARCH_APRL_RF; }

qr_status qr_scorer_score(qr_scorer *s, const qr_score_request *req, qr_lesion_result *results) {
    const qr_lesion_table *t = req->table;
    if (t->n == 0) return QR_OK;
    warn_voxel_size(s, req);
    int crops = 0, context = 0, features = 0;
    qr_arch_needs(qr_learner_arch(s->learner), &crops, &context, &features);

    report(req, 0.0, "Computing lesion inputs");
    qr_subject view;
    QR_TRY(qr_subject_view(req->qsm, req->flair, req->labels, t, &view));
    qr_dataset_options dopt = {crops, context, features, NULL, NULL, s->threads};
    qr_dataset d;
    QR_TRY(qr_dataset_from_subject(&view, req->name, &dopt, &d));
    if (QR_CANCELLED(req->cancel)) {
        qr_dataset_free(&d);
        return qr_fail(QR_ERR_CANCELLED, "cancelled");
    }

    const int M = qr_learner_members(s->learner);
    const int64_t n = d.n;
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    /* (pass, lesion, member) probabilities; at most three passes */
    double *mp = malloc((size_t)n * (size_t)M * 3 * sizeof *mp);
    int64_t *row = malloc((size_t)t->n * sizeof *row);
    qr_status st = QR_OK;
    if (!idx || !mp || !row) st = qr_fail(QR_ERR_NOMEM, "out of memory scoring %lld lesions", (long long)n);
    for (int64_t i = 0; st == QR_OK && i < n; i++) idx[i] = i;

    static const int flips[3] = {-1, 0, 1};
    int passes = 1;
    for (int p = 0; st == QR_OK && p < passes; p++) {
        report(req, 0.3 + 0.7 * p / (double)passes, "Classifying lesions");
        int image_used = 0;
        st = qr_learner_predict_flipped(s->learner, &d, idx, n, flips[p], NULL, mp + (size_t)p * (size_t)(n * M),
                                        &image_used);
        if (st == QR_OK && p == 0 && req->test_time_flips && image_used) passes = 3;
        if (st == QR_OK && QR_CANCELLED(req->cancel)) st = qr_fail(QR_ERR_CANCELLED, "cancelled");
    }

    /* results[u] belongs to table item u; the dataset holds the same lesions by id */
    for (int64_t u = 0; st == QR_OK && u < t->n; u++) {
        row[u] = -1;
        for (int64_t i = 0; i < n; i++)
            if (d.lesion_id[i] == t->items[u].id) {
                row[u] = i;
                break;
            }
        if (row[u] < 0) st = qr_fail(QR_ERR_INTERNAL, "lesion %d has no scoring input", (int)t->items[u].id);
    }
    for (int64_t u = 0; st == QR_OK && u < t->n; u++) {
        int64_t i = row[u];
        double sum = 0, sum2 = 0;
        int k = passes * M;
        for (int p = 0; p < passes; p++)
            for (int m = 0; m < M; m++) sum += mp[(size_t)p * (size_t)(n * M) + (size_t)(i * M + m)];
        double mean = sum / k;
        for (int p = 0; p < passes; p++)
            for (int m = 0; m < M; m++) {
                double e = mp[(size_t)p * (size_t)(n * M) + (size_t)(i * M + m)] - mean;
                sum2 += e * e;
            }
        results[u].probability = mean;
        results[u].uncertainty = sqrt(sum2 / k);
    }
    report(req, 1.0, "Classified");
    free(row);
    free(mp);
    free(idx);
    qr_dataset_free(&d);
    return st;
}

int qr_scorer_trained_on(const qr_scorer *s, const char *qsm_sha256) {
    if (s->n_trained_on == 0) return -1;
    const uint64_t h = qr_sha256_prefix64(qsm_sha256);
    for (int64_t k = 0; k < s->n_trained_on; k++)
        if (s->trained_on[k] == h) return 1;
    return 0;
}

int64_t qr_scorer_training_subjects(const qr_scorer *s) { return s->n_trained_on; }

void qr_scorer_close(qr_scorer *s) {
    if (!s) return;
    free(s->trained_on);
    qr_learner_free(s->learner);
    free(s);
}
