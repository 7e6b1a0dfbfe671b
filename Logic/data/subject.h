/*
 * subject.h - one subject's images made ready for lesion classification: QSM, FLAIR and the
 * lesion map on one grid, the lesion table, and the FLAIR reference intensity.
 *
 * Policy (shared by `qsmrim train`, `evaluate` and `predict`, so they cannot drift apart):
 *   - the QSM grid is the reference: the FLAIR is resampled onto it (linear) and the lesion map
 *     (nearest neighbour) when their grids differ but overlap (Logic/io/geometry.h);
 *   - the QSM must be a volume (a single slice is refused); FLAIR voxels outside the FLAIR's own
 *     grid become 0, and a warning names the lesions it does not cover (whole or in part);
 *   - non-finite QSM / FLAIR voxels (outside a brain mask, typically) are set to 0 and counted;
 *     a QSM or FLAIR without a single finite voxel, or with every voxel 0 (no signal), is refused;
 *   - the lesion map is read as `qsmrim lesions` reads it: a label map keeps its labels, a binary
 *     mask is split into 26-connected components (`lesion_input` AUTO); a cohort's maps, whose
 *     labels the annotation tables name, are read as label maps (LABELS: a map holding one
 *     lesion keeps its label, whatever its value and its islands);
 *   - flair_reference = median of the FLAIR over its non-zero voxels (1 if there are none): FLAIR
 *     has arbitrary units, so the network sees FLAIR / flair_reference;
 *   - lesions are found (and numbered) on the QSM grid as stored; patches and features are then
 *     computed with the three volumes in the storage order of the training data (i -> Left,
 *     j -> Posterior, k -> Superior; geometry.h), so an image stored as RAS, LAS or in sagittal
 *     slices gets the same answers as the same image stored that way.
 */
#ifndef QR_SUBJECT_H
#define QR_SUBJECT_H

#include <stdint.h>

#include "../core/status.h"
#include "../core/volume.h"
#include "../lesions/lesions.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What preparing a subject did (qr_subject_align). */
typedef struct qr_subject_align_info {
    int flair_resampled, labels_resampled;
    int64_t nonfinite_qsm, nonfinite_flair;
    qr_geometry flair_grid; /* the FLAIR's own grid, before resampling */
} qr_subject_align_info;

typedef struct qr_subject {
    qr_volume qsm;           /* float32, ppb */
    qr_volume flair;         /* float32 on the QSM grid */
    qr_volume labels;        /* int32 on the QSM grid, one label per lesion */
    qr_lesion_table lesions; /* sorted by id */
    double flair_reference;  /* median non-zero FLAIR */
    qr_subject_align_info align;
    int was_mask;
    int reordered; /* 1: volumes, labels and lesion table were brought to the training storage order */
} qr_subject;

/* The steps above up to the lesion table, for callers that split the lesion map themselves
 * (qsmrim predict: its --connectivity): the three volumes are checked and aligned in place (FLAIR
 * and lesion map possibly replaced by resampled volumes; nothing is freed on failure) and `info`
 * says what was done. After splitting the map, qr_subject_warn_uncovered names the lesions the
 * FLAIR does not cover. */
qr_status qr_subject_align(qr_volume *qsm, qr_volume *flair, qr_volume *lesion_map, const char *qsm_name,
                           const char *flair_name, const char *lesions_name, qr_subject_align_info *info);
void qr_subject_warn_uncovered(const qr_volume *labels, const qr_subject_align_info *info, const char *flair_name);
/* Lesions whose QSM or FLAIR values lie far beyond the rest of the image (over 100 times its 99th
 * percentile of |value|, and for the QSM over 5000 ppb: no tissue comes near): corrupt voxels or a
 * wrong scale in a part of the data. The network would score them with confidence all the same
 * (its inputs saturate), so a warning names them. `t` lists the lesions of `labels`. */
void qr_subject_warn_outliers(const qr_volume *qsm, const qr_volume *flair, const qr_volume *labels,
                              const qr_lesion_table *t, const char *qsm_name, const char *flair_name);

/* The QSM, FLAIR and label map (on one grid) and their lesion table in the storage order of the
 * training data: copies in out[0..2] and *out_table, *reordered = 1; or, when they are stored so
 * already, nothing allocated and *reordered = 0 (use the inputs). Lesion ids and world positions
 * are unchanged; index centres and bounds follow the axes. */
qr_status qr_subject_reorder(const qr_volume *qsm, const qr_volume *flair, const qr_volume *labels,
                             const qr_lesion_table *table, qr_volume out[3], qr_lesion_table *out_table, int *reordered);

/* Read the three files (any format of Logic/io/imageio.h) as they are: QSM and FLAIR as float32,
 * the lesion map as int32. NaN/Inf voxels are left to qr_subject_align, which replaces and reports
 * them (the reader does not warn a second time). On failure nothing is left allocated. */
qr_status qr_subject_read(const char *qsm_path, const char *flair_path, const char *lesions_path, qr_volume *qsm,
                          qr_volume *flair, qr_volume *lesion_map);

/* Read the three files (qr_subject_read) and prepare them. */
qr_status qr_subject_load(const char *qsm_path, const char *flair_path, const char *lesions_path,
                          qr_lesion_input lesion_input, qr_subject *out);

/* Prepare volumes already in memory; takes ownership of the three volumes (they are moved into
 * `out`, or freed on failure). Names are for messages. */
qr_status qr_subject_prepare(qr_volume *qsm, qr_volume *flair, qr_volume *lesion_map, const char *qsm_name,
                             const char *flair_name, const char *lesions_name, qr_lesion_input lesion_input,
                             qr_subject *out);

void qr_subject_free(qr_subject *s);

/* A non-owning view of volumes the caller already prepared (same grid, finite values, int32
 * labels, their lesion table): what qr_lesion_inputs (lesion_inputs.h) needs, with the FLAIR
 * reference computed here (QR_ERR_NOMEM when there is no memory for it). Never pass a view to
 * qr_subject_free; it owns nothing. */
qr_status qr_subject_view(const qr_volume *qsm, const qr_volume *flair, const qr_volume *labels,
                          const qr_lesion_table *lesions, qr_subject *out);

/* The non-finite policy above for one float32 input: NaN/Inf voxels set to 0, counted into
 * *replaced (may be NULL) and reported as a warning naming the input; a volume with no finite
 * voxel at all (a failed reconstruction, a wrong file) is refused with QR_ERR_NONFINITE. */
qr_status qr_volume_clean_input(qr_volume *v, const char *name, int64_t *replaced);

/* Median of the non-zero finite voxels of a float32 volume into *median (1 when there are none,
 * and its absolute value otherwise); QR_ERR_NOMEM without memory for a copy of them. */
qr_status qr_volume_median_nonzero(const qr_volume *v, double *median);

#ifdef __cplusplus
}
#endif
#endif
