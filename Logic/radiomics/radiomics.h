/*
 * radiomics.h - PyRadiomics-exact radiomic features of one region of interest, in C.
 *
 * Usage:
 *     qr_radiomics *r;
 *     QR_TRY(qr_radiomics_load(NULL, &r));               // NULL = the QSMRim-Net preset (536 features)
 *     int64_t n = qr_radiomics_count(r);
 *     double *f = malloc(n * sizeof *f);
 *     QR_TRY(qr_radiomics_compute(r, &qsm, &labels, 7, f)); // features of the voxels labelled 7
 *     printf("%s = %.17g\n", qr_radiomics_name(r, 0), f[0]);
 *     qr_radiomics_free(r);
 *
 * What is computed is what PyRadiomics' RadiomicsFeatureExtractor.execute() returns for the same
 * image, mask and parameter file (features only, no "diagnostics_*" entries), in the same order
 * and under the same names: shape first ("original_shape_*"), then for every image type in the
 * order of the parameter file (Original, then the wavelet decompositions LLH, LHL, LHH, HLL, HLH,
 * HHL, HHH and the approximation LLL) every feature class in the order of the parameter file,
 * each class's features in PyRadiomics' order (alphabetical by method name, or the order listed).
 *
 * Supported parameter-file content (PyRadiomics names, defaults as in PyRadiomics):
 *   imageType:    Original, Wavelet (wavelet coif1|haar|db1-db4|sym2-sym4|coif2, level, start_level)
 *   featureClass: shape, firstorder, glcm, glrlm, glszm, gldm, ngtdm (all features, or a list)
 *   setting:      label, binWidth, binCount, voxelArrayShift, symmetricalGLCM, weightingNorm,
 *                 distances, gldm_a, minimumROIDimensions, minimumROISize, resegmentRange,
 *                 resegmentMode, resegmentShape, normalize, normalizeScale, removeOutliers,
 *                 force2D, force2Ddimension, preCrop, padDistance, geometryTolerance,
 *                 additionalInfo (diagnostics are never produced), correctMask: false,
 *                 interpolator / resampledPixelSpacing only as "no resampling" (null).
 * Anything else (LoG and the other filters, shape2D, resampling, voxel-based settings) is refused
 * with QR_ERR_UNSUPPORTED naming the key, never ignored.
 *
 * Precision: PyRadiomics filters an image in the precision of its file: PyWavelets transforms a
 * float32 image in single precision and an integer or double image in double precision (and bins
 * float32 values against float32 bin edges in binCount mode). qr_volume holds float32 values, so
 * qr_radiomics_compute assumes a float32 source (the QSM case); qr_radiomics_compute_ex lets the
 * caller say what the file held (qr_radiomics_precision_of below maps ITK's pixel type name).
 *
 * Errors (a feature vector is all NaN after a failure):
 *   QR_ERR_GEOMETRY     image and label map on different grids
 *   QR_ERR_EMPTY        the label is absent, or (PyRadiomics' checkMask) the ROI is one voxel, has
 *                       fewer dimensions than minimumROIDimensions or no more voxels than
 *                       minimumROISize, or resegmentation keeps one voxel or none
 *   QR_ERR_NONFINITE    a NaN/Inf voxel that the features would read (the ROI, the wavelet
 *                       support of the ROI, the whole image when normalize is on)
 *   QR_ERR_INVALID_ARG  bad arguments
 * Thread safety: a loaded qr_radiomics is immutable; compute may run in many threads at once.
 */
#ifndef QR_RADIOMICS_H
#define QR_RADIOMICS_H

#include <stdint.h>

#include "../core/status.h"
#include "../core/volume.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qr_radiomics qr_radiomics; /* opaque, immutable after load: settings, image types, features */

/* params_yaml: a PyRadiomics parameter file; NULL = the QSMRim-Net preset (qsmrimnet.yaml, compiled
   in). Unknown/unimplemented keys -> QR_ERR_UNSUPPORTED naming the key. */
qr_status qr_radiomics_load(const char *params_yaml, qr_radiomics **out);
/* The same from the text of a parameter file (`what` names it in messages). */
qr_status qr_radiomics_load_text(const char *yaml_text, const char *what, qr_radiomics **out);
/* The text of the compiled-in QSMRim-Net preset (identical to Resources/radiomics/qsmrimnet.yaml). */
const char *qr_radiomics_preset_text(void);

int64_t qr_radiomics_count(const qr_radiomics *r);               /* 536 for the preset */
const char *qr_radiomics_name(const qr_radiomics *r, int64_t i); /* "original_shape_MeshVolume", ... */
int32_t qr_radiomics_label(const qr_radiomics *r);               /* the parameter file's `label` (default 1) */

/* Features of the voxels where labels == label (labels: int32 on the image's grid), into out[count].
   Thread-safe: callers compute many lesions in parallel threads with the same qr_radiomics. */
qr_status qr_radiomics_compute(const qr_radiomics *r, const qr_volume *image, const qr_volume *labels,
                               int32_t label, double *out);

typedef enum qr_radiomics_precision {
    QR_RADIOMICS_SINGLE = 0, /* the image came from a float32 file (PyRadiomics filters in float32) */
    QR_RADIOMICS_DOUBLE = 1  /* an integer or float64 file (PyRadiomics filters in float64) */
} qr_radiomics_precision;

/* Precision PyRadiomics uses for a file of this ITK pixel type ("float" -> single, else double). */
qr_radiomics_precision qr_radiomics_precision_of(const char *itk_component_type);

typedef struct qr_radiomics_options {
    qr_radiomics_precision precision; /* see above (default QR_RADIOMICS_SINGLE) */
    const int64_t *bbox;              /* optional (i0,j0,k0,i1,j1,k1), inclusive: every voxel with the
                                         label lies inside; saves a scan of the whole label map */
} qr_radiomics_options;

qr_radiomics_options qr_radiomics_options_default(void);

qr_status qr_radiomics_compute_ex(const qr_radiomics *r, const qr_volume *image, const qr_volume *labels,
                                  int32_t label, const qr_radiomics_options *opt, double *out);

void qr_radiomics_free(qr_radiomics *r);

#ifdef __cplusplus
}
#endif
#endif
