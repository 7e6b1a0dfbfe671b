/*
 * learner.h - one interface over the four classifiers of the evaluation, so cross-validation,
 * `qsmrim train` and `qsmrim evaluate --model` treat them alike:
 *
 *   qsmrimnet  the CNN engine (Logic/nn/nn.h): ResNet3D-18 on the masked patch + radiomic MLP,
 *              fused, DeepSMOTE, BCE, Adam with multistep decay, augmentation (data/patch.h)
 *   rimnet     the CNN engine's RimNet on the unmasked window (min-max to [-1, 1]), class-weighted
 *              cross-entropy; augmentation: flips and shifts, plus in-plane quarter turns of rim+
 *              lesions (RimNet's rotations, restricted to the plane because QSM voxels are 4x
 *              longer along the slice axis)
 *   aprl-nn    the CNN engine's radiomic MLP + classifier on all radiomic features
 *   aprl-rf    first-order features of the QSM (original_firstorder_*), SMOTE to balance the
 *              training set, random forest (Logic/classic/)
 *
 * A learner holds one or more members (an ensemble; P(rim+) = mean of the members'
 * probabilities). Preprocessing is fitted on the training lesions only and stored with each
 * member: intensity scales (data/patch.h), radiomic mean and sd (NaN features are left out of the
 * fit and imputed with the mean, i.e. 0 after normalisation).
 *
 * Model files: networks are the CNN engine's HDF5 model files; a forest is an HDF5 file with the
 * root attribute qsmrim_model = "aprl-rf" (layout in learn_forest.c). Both carry the decision
 * thresholds and the provenance.
 */
#ifndef QR_LEARNER_H
#define QR_LEARNER_H

#include <signal.h>
#include <stdint.h>

#include "../core/status.h"
#include "config.h"
#include "dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qr_arch_id { QR_ARCH_QSMRIMNET = 0, QR_ARCH_RIMNET, QR_ARCH_APRL_RF, QR_ARCH_APRL_NN, QR_ARCH_COUNT } qr_arch_id;

qr_status qr_arch_from_name(const char *name, qr_arch_id *out);
const char *qr_arch_to_name(qr_arch_id a);
/* What the dataset must hold for an architecture. */
void qr_arch_needs(qr_arch_id a, int *crops, int *context_crops, int *features);

/* Progress of a fit: called after every step and at the end of each epoch. */
typedef struct qr_fit_progress {
    int epoch, epochs;         /* 0-based epoch and total */
    int64_t step, steps;       /* step within the epoch and steps per epoch */
    double loss;               /* running mean loss of the epoch */
    double ms_per_sample;      /* training speed */
    int epoch_done;            /* 1 at the end of an epoch */
} qr_fit_progress;
typedef void (*qr_fit_progress_fn)(const qr_fit_progress *p, void *user);

/* A run's settings record (`settings` below; pipeline.c writes it) fits this many bytes. */
#define QR_SETTINGS_MAX 8192

/* The first line where two settings records differ, as "'<line>' there, '<line>' now" into buf
 * ("" if they are the same): what a refused --resume names. */
void qr_settings_first_difference(const char *there, const char *now, char *buf, size_t n);

typedef struct qr_fit_options {
    qr_arch_id arch;
    const qr_train_config *cfg;
    uint64_t seed;
    const char *device;        /* CNN device ("auto", "cpu", "cuda", ...) */
    const char *checkpoint;    /* checkpoint file written every epoch (NULL: none) */
    int resume;                /* start from the checkpoint when it exists */
    const char *settings;      /* what the run's results depend on (the pipeline's record; NULL =
                                  ""): a checkpoint keeps it and its hash, and resuming from one
                                  made with other settings is an error naming the first that
                                  differs (or, for a checkpoint that keeps only the hash, none) */
    qr_fit_progress_fn progress;
    void *user;
    const volatile sig_atomic_t *cancel;
} qr_fit_options;

typedef struct qr_learner qr_learner;

/* Train one member on the lesions idx[0..n). */
qr_status qr_learner_fit(const qr_dataset *d, const int64_t *idx, int64_t n, const qr_fit_options *o, qr_learner **out);
/* Move the members of src into dst (same architecture); src is freed. */
qr_status qr_learner_merge(qr_learner *dst, qr_learner *src);
/* P(rim+) of lesions idx[0..n): the mean over members; member_prob (may be NULL) receives
 * (n, members) row-major. */
qr_status qr_learner_predict(qr_learner *l, const qr_dataset *d, const int64_t *idx, int64_t n, double *prob,
                             double *member_prob);
/* The same with every image input mirrored along one patch axis (0 = i, 1 = j, 2 = k; -1 = none):
 * the test-time flips of `qsmrim predict`. Feature-only learners (aprl-rf, aprl-nn) ignore it, and
 * *image_used (may be NULL) says whether the learner reads images at all. */
qr_status qr_learner_predict_flipped(qr_learner *l, const qr_dataset *d, const int64_t *idx, int64_t n, int flip_axis,
                                     double *prob, double *member_prob, int *image_used);
int qr_learner_members(const qr_learner *l);
qr_arch_id qr_learner_arch(const qr_learner *l);

/* Provenance and thresholds stored in a model file. */
typedef struct qr_model_info {
    double threshold_f1, threshold_sensitive; /* NAN: unset */
    char training_data[256];
    char notes[256];
    char date[32];
    char commit[64];
    int64_t seed;
    /* QSM voxel size of the training subjects in mm, along L, P, S (the training storage order):
     * the one most of them share (qr_voxel_size_fits); 0 0 0: not recorded (older files, imported
     * models) */
    double voxel_mm[3];
    /* saving only (borrowed; loading leaves them NULL / 0, see qr_model_training_subjects): the
     * training subjects, each by the first 64 bits of its QSM image's SHA-256 */
    const uint64_t *training_qsm;
    int64_t n_training_qsm;
} qr_model_info;

/* Whether images of voxel size v (mm, per axis) suit a model trained at `trained`: within 0.8 to
 * 1.25 times it along every axis. Beyond that the patches, cut in voxels, and the radiomic
 * features see the lesions at another scale. */
static inline int qr_voxel_size_fits(const double v[3], const double trained[3]) {
    for (int a = 0; a < 3; a++)
        if (v[a] > 1.25 * trained[a] || v[a] < 0.8 * trained[a]) return 0;
    return 1;
}

qr_status qr_learner_save(qr_learner *l, const char *path, const qr_model_info *info);
/* Load any model file (network or forest); the architecture is read from the file. */
qr_status qr_learner_load(const char *path, const char *device, qr_learner **out, qr_model_info *info);
/* The same with a CPU thread count for the network (<= 0: all cores). */
qr_status qr_learner_load_ex(const char *path, const char *device, int threads, qr_learner **out, qr_model_info *info);
/* Where the learner runs, one line ("cpu (AVX-512 kernels, 2 threads)"; "cpu (random forest)"). */
const char *qr_learner_describe(const qr_learner *l);
/* What decides a result's rounding: the description without its thread count ("cpu (AVX-512
 * kernels)"), which does not change results. A run resumed on another engine gives a result that
 * differs from an uninterrupted run's in the last digits. */
void qr_learner_engine(const qr_learner *l, char *out, size_t n);
#define QR_ENGINE_MAX 200 /* room for an engine's text, its NUL included */
/* The feature names the learner needs that the dataset lacks (first one), or NULL if it fits. */
const char *qr_learner_missing_feature(const qr_learner *l, const qr_dataset *d);

void qr_learner_free(qr_learner *l);

/* The subjects a model file was trained on (dataset `training_qsm_sha256`: the first 64 bits of
 * the SHA-256 of each one's QSM image, as qr_dataset's subject_qsm_hash), into a new array (free()).
 * *n = 0 for a file without the record (older files, imported models). QR_ERR_MODEL when the
 * record is damaged. */
qr_status qr_model_training_subjects(const char *path, uint64_t **out, int64_t *n);
/* The same without checking the file's seal again: for a file qr_learner_load has just read. */
qr_status qr_model_training_subjects_loaded(const char *path, uint64_t **out, int64_t *n);

#ifdef __cplusplus
}
#endif
#endif
