/*
 * patch.h - the network input of one lesion: a two-channel patch centred on the lesion, with
 * everything but the lesion set to zero (Zhang et al. 2022), and the training augmentation.
 *
 * Patch tensor (C, D, H, W) = (2, 16, 32, 32), float32, C-order (W fastest):
 *   channel 0 = QSM / qsm_scale          (QSM in ppb)
 *   channel 1 = FLAIR / flair_reference / flair_scale
 *   D runs along the volume's k (slice) axis, H along j, W along i:
 *       patch[c][d][h][w] = value at volume index (o_i + w, o_j + h, o_k + d)
 *   with the patch origin o_a = floor(m_a - (S_a - 1)/2 + 1/2), m = the lesion's centre of mass
 *   (continuous index), S = (32, 32, 16): the centre of mass falls within half a voxel of the
 *   patch centre (15.5, 15.5, 7.5). Voxels outside the target lesion (other lesions included)
 *   and outside the volume are 0. A lesion larger than the patch is cut at the patch border.
 * The scales (qsm_scale, flair_scale) are fitted on the training lesions and stored in the model:
 *   qsm_scale   = root mean square of QSM over all training lesion voxels
 *   flair_scale = mean of FLAIR / flair_reference over all training lesion voxels
 * so both channels are of order 1 inside lesions; being pure scalings they keep the background 0.
 *
 * A lesion crop holds the masked lesion (both channels, unscaled) on its bounding box; a patch is
 * sampled from it. Without augmentation sampling reads voxels exactly (no interpolation), which is
 * what inference does; training draws an augmentation per lesion and epoch:
 *   flip    with probability p_flip: mirror the patch along one axis chosen uniformly (W, H, D);
 *   affine  with probability p_affine: rotate about the three axes by U(-rot, rot) degrees each
 *           (rot = 5) and scale each axis by U(0.95, 1.05), about the patch centre, in millimetres
 *           (the voxel spacing is taken into account), trilinear interpolation;
 *   blur    with probability p_blur: separable Gaussian, sigma ~ U(0.1, 0.95) voxels along W and H
 *           (in-plane, drawn independently) and U(0.03, 0.3) along D, kernel radius
 *           floor(4 sigma + 0.5), normalised, zero beyond the patch.
 * The draws come from the caller's generator; seeding it per (run, epoch, lesion) makes the
 * augmentation reproducible regardless of thread scheduling.
 */
#ifndef QR_DATA_PATCH_H
#define QR_DATA_PATCH_H

#include <stdint.h>

#include "../core/rng.h"
#include "../core/status.h"
#include "subject.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QR_PATCH_C 2
#define QR_PATCH_D 16
#define QR_PATCH_H 32
#define QR_PATCH_W 32
#define QR_PATCH_VOXELS (QR_PATCH_D * QR_PATCH_H * QR_PATCH_W)
#define QR_PATCH_SIZE (QR_PATCH_C * QR_PATCH_VOXELS)

typedef struct qr_intensity_scaling {
    double qsm_scale;   /* channel 0 = QSM / qsm_scale */
    double flair_scale; /* channel 1 = FLAIR / flair_reference / flair_scale */
} qr_intensity_scaling;

/* The masked lesion on its bounding box. */
typedef struct qr_lesion_crop {
    int32_t lesion_id;
    int64_t origin[3];   /* volume index (i, j, k) of crop voxel (0, 0, 0) */
    int64_t size[3];     /* crop extent along i, j, k */
    double spacing[3];   /* voxel size, mm */
    int64_t patch_origin[3]; /* o_i, o_j, o_k above */
    int64_t voxels;      /* lesion voxels */
    float *data;         /* (2, size[2], size[1], size[0]): QSM ppb and FLAIR / flair_reference in the
                            lesion, 0 elsewhere */
} qr_lesion_crop;

qr_status qr_lesion_crop_make(const qr_subject *s, const qr_lesion *l, qr_lesion_crop *out);
void qr_lesion_crop_free(qr_lesion_crop *c);

/* Sums over the lesion voxels of a crop, for fitting the scaling: sum QSM^2, sum FLAIR ratio. */
void qr_lesion_crop_sums(const qr_lesion_crop *c, double *sum_qsm2, double *sum_flair, int64_t *n);

typedef struct qr_augment_config {
    double p_flip, p_affine, p_blur;   /* 0.5 each */
    double rotation_deg;               /* 5 */
    double scale_lo, scale_hi;         /* 0.95, 1.05 */
    double sigma_inplane_lo, sigma_inplane_hi; /* 0.1, 0.95 voxels */
    double sigma_slice_lo, sigma_slice_hi;     /* 0.03, 0.3 voxels */
} qr_augment_config;

qr_augment_config qr_augment_config_default(void);

/* One draw of the augmentation. */
typedef struct qr_augment {
    int flip_axis;      /* -1 none; 0 = W (i), 1 = H (j), 2 = D (k) */
    int affine;         /* 0: identity */
    double rot_rad[3];  /* about the i, j, k axes */
    double scale[3];    /* along i, j, k */
    double sigma[3];    /* blur sigma in voxels along i, j, k; 0 = none */
} qr_augment;

qr_augment qr_augment_identity(void);
void qr_augment_draw(const qr_augment_config *cfg, qr_rng *rng, qr_augment *out);

/* The index-space matrix of an augmentation: a patch voxel at offset u (voxels, along i, j, k, from
 * the patch centre) samples the volume at centre + A u. A = Sp^-1 R Z Sp with Sp = diag(spacing),
 * R = Rz Ry Rx (rotations about the k, j, i axes in millimetres), Z = diag(scale); identity
 * (exactly) when aug is NULL or has no affine part. */
void qr_patch_index_matrix(const qr_augment *aug, const double spacing[3], double A[3][3]);

/* The sampling geometry of qr_patch_sample: the crop index (i, j, k) of the patch centre and the
 * index matrix above (identity when aug is NULL or has no affine part). A patch voxel at offset u
 * from the patch centre (after undoing the flip) reads the crop at centre + A u. */
void qr_patch_geometry(const qr_lesion_crop *c, const qr_augment *aug, double centre[3], double A[3][3]);

/* Sample the patch (QR_PATCH_SIZE floats) from a crop; aug NULL = none (exact voxel values). */
void qr_patch_sample(const qr_lesion_crop *c, const qr_intensity_scaling *sc, const qr_augment *aug, float *patch);

/* Separable Gaussian blur of one (D, H, W) channel in place (sigma along i, j, k; 0 = skip);
 * `tmp` holds QR_PATCH_VOXELS floats. */
void qr_patch_blur(float *chan, const double sigma[3], float *tmp);

#ifdef __cplusplus
}
#endif
#endif
