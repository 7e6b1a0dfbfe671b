/*
 * lesion_inputs.h - everything a classifier reads about one lesion, computed in one place so that
 * training (`qsmrim train`, `evaluate`) and prediction (`qsmrim predict`, QSMRimLesions) cannot
 * drift apart.
 *
 * For a subject prepared by qr_subject_prepare/qr_subject_load (subject.h) and one lesion of its
 * table:
 *   image input   the masked lesion patch (patch.h): (2, 16, 32, 32) float32, channel 0 = QSM in
 *                 ppb, channel 1 = FLAIR / flair_reference, zero outside the lesion - the model's
 *                 stored intensity scaling is applied by the network itself (Logic/nn/nn.h);
 *   context input (RimNet) the same window without masking, each channel min-max rescaled to
 *                 [-1, 1] over the patch (RimNet rescales each contrast by its own min and max);
 *   radiomics     the features of the lesion on the QSM (Logic/radiomics/radiomics.h), raw values;
 *                 a lesion PyRadiomics refuses (one voxel, or fewer dimensions than
 *                 minimumROIDimensions) gets NaN features and *missing = 1; with `impute` (the
 *                 model's stored feature means) NaN values are replaced by them, i.e. by 0 after
 *                 the model's normalisation.
 */
#ifndef QR_LESION_INPUTS_H
#define QR_LESION_INPUTS_H

#include <stdint.h>

#include "../core/status.h"
#include "../lesions/lesions.h"
#include "../radiomics/radiomics.h"
#include "patch.h"
#include "subject.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Radiomic features of one lesion (raw); NaN with *missing = 1 when PyRadiomics would refuse it.
 * Other failures (non-finite voxels in the ROI, bad arguments) are returned. */
qr_status qr_lesion_radiomics(const qr_subject *s, const qr_lesion *l, const qr_radiomics *rad, double *out,
                              int *missing);

/* Replace NaN entries of a feature vector by the given means (NULL: leave them). */
void qr_features_impute(double *features, int64_t n, const float *means);

/* The unmasked window of the patch plus `margin` voxels on every side (in-plane: margin, slice
 * axis: margin_k), both channels (QSM, FLAIR / flair_reference), for RimNet-style inputs. The crop
 * is returned in a qr_lesion_crop (voxels = lesion voxel count). */
qr_status qr_context_crop_make(const qr_subject *s, const qr_lesion *l, int margin, int margin_k, qr_lesion_crop *out);

/* A RimNet input from a context crop: shift (voxels, along i, j, k; within the margins), optional
 * flip axis (-1 none) and in-plane quarter turns (0..3), then min-max rescaling of each channel
 * to [-1, 1] (a constant channel becomes 0). */
void qr_context_patch_sample(const qr_lesion_crop *c, int margin, int margin_k, const int shift[3], int flip_axis,
                             int quarter_turns, float *patch);

/* One lesion's inference inputs: patch (QR_PATCH_SIZE floats; masked, or the RimNet context
 * input when `context` is set) and radiomic features (may be NULL: skipped), NaN imputed with
 * `impute` when given. *missing (may be NULL) says whether the features were refused. */
qr_status qr_lesion_inputs(const qr_subject *s, const qr_lesion *l, int context, const qr_radiomics *rad,
                           const float *impute, float *patch, double *features, int *missing);

#ifdef __cplusplus
}
#endif
#endif
