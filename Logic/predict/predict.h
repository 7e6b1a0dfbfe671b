/*
 * predict.h - the product's main job: classify every lesion of one subject as rim+ / rim-.
 *
 * Inputs: a QSM volume (float32, ppb), a FLAIR volume co-registered to it, and a lesion map
 * (binary mask -> connected components, or label map -> one lesion per label). FLAIR and lesions
 * on another grid that overlaps the QSM's are resampled onto the QSM grid (qr_align_to_grid).
 * Per lesion: radiomic features on the QSM, a 16 x 32 x 32 two-channel patch, the network's
 * P(rim+); with test-time flips (and several model members, if the model file holds an ensemble)
 * the mean is the probability and the standard deviation the uncertainty.
 *
 * Decisions (codes of the overlay label map; Resources/QSMRimLesions.ctbl colours them):
 *   0 background, 1 rim-, 2 review, 3 rim+
 *   threshold mode F1 (default): rim+ if p >= t_f1; review if t_sensitive <= p < t_f1; else rim-
 *   threshold mode SENSITIVE:    rim+ if p >= t_sensitive; no review band
 *   threshold mode VALUE v:      rim+ if p >= v; review if t_sensitive <= p < v; else rim-
 * t_f1 and t_sensitive are stored in the model file (fitted on held-out data when it was trained).
 *
 * Usage:
 *   qr_predict_options o = qr_predict_options_default();
 *   qr_prediction p;
 *   QR_TRY(qr_predict_files("qsm.nii.gz", "flair.nii.gz", "lesions.nii.gz", &o, &p));
 *   QR_TRY(qr_prediction_write(&p, "overlay.nrrd", "prob.nrrd", "table.tsv"));
 *   qr_prediction_free(&p);
 */
#ifndef QR_PREDICT_H
#define QR_PREDICT_H

#include <signal.h>

#include "../core/fileutil.h"
#include "../core/volume.h"
#include "../io/outputs.h"
#include "../lesions/lesions.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qr_threshold_mode { QR_THRESHOLD_F1 = 0, QR_THRESHOLD_SENSITIVE, QR_THRESHOLD_VALUE } qr_threshold_mode;

enum { QR_DECISION_BACKGROUND = 0, QR_DECISION_RIM_NEG = 1, QR_DECISION_REVIEW = 2, QR_DECISION_RIM_POS = 3 };

/* Progress callback: fraction of the whole job done (0..1) and the current stage's name. */
typedef void (*qr_progress_fn)(double fraction, const char *stage, void *user);

struct qr_scorer;

typedef struct qr_predict_options {
    const char *model_path;          /* NULL: the shipped demo model (Resources/models/) */
    const char *device;              /* "auto" (default), "cpu", "cuda", "cuda:N" */
    struct qr_scorer *scorer;        /* optional: a model already open (score.h; borrowed, not closed),
                                        used instead of model_path and device - one load for many
                                        subjects */
    const char *qsm_sha256;          /* optional: the QSM file's qr_sha256_image, when the caller has
                                        it (checked against the model's training subjects) */
    qr_threshold_mode threshold_mode;
    double threshold_value;          /* for QR_THRESHOLD_VALUE, in [0, 1] */
    int connectivity;                /* splitting a binary mask: 26 (default) or 6 */
    qr_lesion_input lesion_input;    /* reading the lesion map: auto (default), mask or labels */
    int test_time_flips;             /* 0 (default): one pass per lesion, as the model's thresholds and
                                        its train/evaluate metrics were computed; 1: the mean over
                                        the patch and its mirrors along each in-plane axis */
    int threads;                     /* 0: all cores */
    volatile sig_atomic_t *cancel;   /* polled between stages and lesions; non-zero -> QR_ERR_CANCELLED */
    qr_progress_fn progress;         /* may be NULL */
    void *progress_user;
} qr_predict_options;

qr_predict_options qr_predict_options_default(void);

typedef struct qr_lesion_result {
    int32_t id;              /* label in `labels` */
    int64_t voxels;
    double volume_mm3;
    double center_ras[3];    /* centre of mass, RAS mm */
    double probability;      /* P(rim+), mean over flips and members */
    double uncertainty;      /* standard deviation over flips and members */
    int decision;            /* QR_DECISION_RIM_NEG / REVIEW / RIM_POS */
} qr_lesion_result;

typedef struct qr_prediction {
    int64_t n;                   /* lesions */
    qr_lesion_result *lesions;   /* n results, sorted by probability, highest first */
    int64_t n_rim_positive;      /* decisions rim+ (the subject-level count) */
    int64_t n_review;
    double threshold_f1, threshold_sensitive, threshold_used;
    qr_volume qsm, flair;        /* the inputs as used: on the QSM grid, NaN/Inf set to 0 */
    qr_volume labels;            /* int32 lesion label map on the QSM grid (after splitting) */
    qr_volume overlay;           /* int32 decision codes 0..3 on the QSM grid */
    qr_volume probability;       /* float32: each lesion's voxels hold its P(rim+), 0 elsewhere */
    int trained_on;              /* the QSM file is one the model was trained on (the same bytes, by
                                    the model's training_qsm_sha256 record): 1, 0, or -1 when the
                                    model has no record or the QSM came from memory. A warning
                                    says so when 1: the probabilities describe fitted data */
    char device_used[32];        /* "cpu" or "cuda:N" */
    char model_used[1024];       /* path of the model file */
} qr_prediction;

/* Predict from volumes already in memory. `flair` and `lesions` may be resampled copies of the
 * inputs (the inputs are not modified). */
qr_status qr_predict_volumes(const qr_volume *qsm, const qr_volume *flair, const qr_volume *lesions,
                             const qr_predict_options *opt, qr_prediction *out);

/* Read the three inputs (any supported format) and predict. */
qr_status qr_predict_files(const char *qsm_path, const char *flair_path, const char *lesions_path,
                           const qr_predict_options *opt, qr_prediction *out);

/* Write the outputs atomically (any may be NULL to skip it), all of them before any is put in
 * place: overlay label map, probability map, lesion table TSV (lesion_id volume_mm3 center_r
 * center_a center_s probability uncertainty decision, sorted by probability). */
qr_status qr_prediction_write(const qr_prediction *p, const char *overlay_path, const char *probability_path,
                              const char *table_path);
/* The same outputs written completely but left pending (fileutil.h), for a caller that commits
 * them together with outputs of its own; on failure nothing is left pending. */
qr_status qr_prediction_write_pending(const qr_prediction *p, const char *overlay_path, const char *probability_path,
                                      const char *table_path, qr_pending out[3]);

void qr_prediction_free(qr_prediction *p);

/* qr_outputs_check (Logic/io/outputs.h) of a prediction's outputs against its inputs: the three
 * images and the model file it will read - `model_path`, or (NULL or "") the shipped demo model,
 * which an output must not replace either. Made before the work by every command that predicts. */
qr_status qr_predict_outputs_check(const char *qsm, const char *flair, const char *lesions, const char *model_path,
                                   const qr_io_path *outputs, int n_outputs);

/* Parse a threshold argument: "f1", "sensitive", or a probability in [0, 1]. QR_ERR_INVALID_ARG
 * with a message naming the accepted forms otherwise. */
qr_status qr_threshold_parse(const char *text, qr_threshold_mode *mode, double *value);

/* The columns of the lesion table qr_prediction_write writes, in order. */
#define QR_PREDICTION_TABLE_NCOLS 8
extern const char *const qr_prediction_table_columns[QR_PREDICTION_TABLE_NCOLS];

/* "rim-", "review", "rim+" for a decision code. */
const char *qr_decision_name(int decision);

#ifdef __cplusplus
}
#endif
#endif
