/*
 * dataset.h - an annotated cohort in memory, ready for training and cross-validation: one entry
 * per annotated lesion with its subject, label, lesion crop(s) and radiomic features.
 *
 * Loading (qr_dataset_load), subject by subject (the volumes are freed after each):
 *   1. the subject is prepared as prediction prepares it (Logic/data/subject.h);
 *   2. its annotation table is read (Logic/data/cohort.h rules); lesions without a row are left
 *      out and counted;
 *   3. crops: the masked lesion crop (Logic/data/patch.h) and, for RimNet, the unmasked context
 *      window with a margin for the shift augmentation;
 *   4. radiomic features of every lesion of the map (Logic/data/lesion_inputs.h), from the HDF5
 *      cache when the key matches (Logic/data/feature_cache.h), else computed (lesions in
 *      parallel threads) and stored in the cache.
 * Per-lesion sums for the intensity scaling (sum of QSM^2, sum of FLAIR ratio, voxel count) are
 * kept so that any training split can fit it.
 */
#ifndef QR_DATASET_H
#define QR_DATASET_H

#include <signal.h>
#include <stdint.h>

#include "../core/status.h"
#include "../data/cohort.h"
#include "../data/patch.h"
#include "../data/subject.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QR_CONTEXT_MARGIN 2   /* in-plane shift range of the RimNet augmentation (voxels) */
#define QR_CONTEXT_MARGIN_K 1 /* along the slice axis */

typedef struct qr_dataset_options {
    int crops;                   /* masked lesion crops (qsmrimnet) */
    int context_crops;           /* unmasked windows (rimnet) */
    int features;                /* radiomic features */
    const char *radiomics_params;/* PyRadiomics parameter file; NULL = QSMRim-Net preset */
    const char *cache_dir;       /* NULL: no cache */
    int threads;                 /* 0: all */
} qr_dataset_options;

typedef void (*qr_load_progress_fn)(const char *stage, int64_t done, int64_t total, void *user);

typedef struct qr_dataset {
    int nsubjects;
    char (*subject)[256];      /* names */
    int64_t *subject_rimpos;   /* rim+ count per subject */
    int64_t *subject_lesions;  /* annotated lesions per subject */
    double (*subject_voxel_mm)[3]; /* QSM voxel size per subject, in the training storage order */
    uint64_t *subject_qsm_hash; /* first 64 bits of the SHA-256 of each subject's QSM image (0: not computed) */
    int64_t n;                 /* annotated lesions */
    int *subject_of;           /* n */
    int32_t *lesion_id;        /* n */
    int *label;                /* n (1 = rim+) */
    double *volume_mm3;        /* n */
    qr_lesion_crop *crops;     /* n or NULL */
    qr_lesion_crop *context;   /* n or NULL */
    double *sum_qsm2, *sum_flair; /* n: sums over the lesion's voxels */
    int64_t *nvox;             /* n */
    int64_t nfeatures;         /* F (0 without features) */
    char **feature_names;      /* F */
    double *features;          /* (n, F) raw; NaN where PyRadiomics refuses the lesion */
    int64_t n_missing_features;/* lesions with NaN features */
    int64_t n_unannotated;     /* lesions of the maps left out (no annotation row) */
    int64_t n_cached;          /* subjects whose features came from the cache */
    char radiomics_text_sha[65];
} qr_dataset;

qr_status qr_dataset_load(const qr_cohort *c, const qr_dataset_options *o, qr_dataset *out, qr_load_progress_fn progress,
                          void *user, const volatile sig_atomic_t *cancel);
/* A one-subject dataset of every lesion of an already prepared subject (labels 0: unknown), for
 * scoring it with a trained model (`qsmrim predict`): the same crops and features as training, no
 * cache. `name` names the subject. */
qr_status qr_dataset_from_subject(const qr_subject *s, const char *name, const qr_dataset_options *o, qr_dataset *out);

void qr_dataset_free(qr_dataset *d);

/* Indices of the lesions whose subject is marked in `subject_mask` (nsubjects entries), ascending;
 * *idx is the caller's to free(). */
qr_status qr_dataset_select(const qr_dataset *d, const int *subject_mask, int64_t **idx, int64_t *n);

/* Index of a feature by name (-1 if absent). */
int64_t qr_dataset_feature(const qr_dataset *d, const char *name);

#ifdef __cplusplus
}
#endif
#endif
