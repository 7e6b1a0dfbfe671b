/*
 * geometry.h - do two volumes share a grid, and if not, bring one onto the other's.
 *
 * Policy for the QSM / FLAIR / lesion-map triple (the QSM grid is the reference):
 *   same grid within tolerance    -> used as is
 *   different grids that overlap  -> FLAIR resampled (linear) and labels (nearest neighbour) onto
 *                                    the QSM grid with ITK, and a notice says so; warnings say
 *                                    what the resampling loses: the part of the QSM grid the
 *                                    FLAIR does not cover (set to 0), lesion voxels outside the
 *                                    QSM grid, and labels that vanish on it (by their numbers)
 *   no physical overlap           -> QR_ERR_GEOMETRY naming both geometries
 * "Same grid": equal sizes; spacings equal to 1e-4 relative; origins within 1e-3 of the smallest
 * spacing; direction cosines equal to 1e-4. These tolerances absorb the rounding of text headers
 * (NRRD, MetaImage) and of float32 NIfTI qform/sform fields.
 */
#ifndef QR_GEOMETRY_H
#define QR_GEOMETRY_H

#include "../core/volume.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if a and b are the same grid within the tolerances above. */
int qr_geometry_same(const qr_geometry *a, const qr_geometry *b);

/* Largest distance (mm) between the positions two grids of equal sizes give one voxel centre
 * (checked at the eight corner voxels, which bound it). */
double qr_geometry_max_shift_mm(const qr_geometry *a, const qr_geometry *b);

/* Physical overlap of the two grids' voxel boxes (LPS mm^3; 0 if disjoint). */
double qr_geometry_overlap_mm3(const qr_geometry *a, const qr_geometry *b);

/* Bring `vol` onto the grid `ref` (labels: nearest; intensities: linear). If the grids are the
 * same, `vol` is left unchanged (its geometry is set exactly to ref's) and *resampled = 0. If
 * `vol` holds ref's voxels stored in another axis order (permuted, mirrored), its axes are
 * reordered, without interpolation, and *resampled = 0. Otherwise `vol` is replaced by the
 * resampled volume and *resampled = 1. `ref_name` and
 * `vol_name` name the inputs in messages. */
qr_status qr_align_to_grid(const qr_geometry *ref, const char *ref_name, qr_volume *vol, const char *vol_name,
                           int *resampled);

/* QR_ERR_GEOMETRY naming `name` when a grid has a single voxel along some axis (a 2D image stored
 * as 3D): the patches and shape features need a volume. */
qr_status qr_require_3d(const qr_geometry *g, const char *name);

/* Storage order. qsmrim's models learn from patches cut along the index axes, and its training
 * data (the phantom) are stored with i -> Left, j -> Posterior, k -> Superior (identity direction
 * in LPS). Images stored otherwise (RAS storage, radiological LAS, sagittal or coronal slice
 * order) are brought to that order before patches and features are computed: a permutation and
 * mirroring of the index axes, no interpolation, the world position of every voxel unchanged.
 * qr_axis_order: new axis a is old axis perm[a], mirrored when flip[a]. */
typedef struct qr_axis_order {
    int perm[3], flip[3];
} qr_axis_order;

/* The storage order that brings `g` closest to the identity direction: index axes matched with
 * world axes so that the cosines between them sum the highest (of the six matchings; within
 * 1e-6 the stored order wins), each mirrored when it points the other way. Returns 1 when that
 * changes anything, 0 when `g` is stored so already (small obliquity does not count). */
int qr_geometry_canonical_order(const qr_geometry *g, qr_axis_order *order);
/* The largest angle, in degrees, between an index axis of `g` and the world axis
 * qr_geometry_canonical_order matches it with: 0 for a grid along the patient's axes, 45 where
 * the matching is a tie. */
double qr_geometry_obliquity_deg(const qr_geometry *g);
/* Beyond this obliquity a small change of the header can change the matching (and with it the
 * order in which the network reads the volumes): predict and training say so. */
#define QR_OBLIQUE_WARN_DEG 35.0
/* `out` = `in` in storage order `order` (a new volume; geometry adjusted so every voxel keeps its
 * world position). */
qr_status qr_volume_reorder(const qr_volume *in, const qr_axis_order *order, qr_volume *out);
/* A continuous index of the old storage in the new one (for lesion centres and bounds). */
void qr_axis_order_index(const qr_axis_order *order, const int64_t old_size[3], const double in[3], double out[3]);

/* The positive labels of `labels` with a voxel centre outside grid `g`, ascending, in a new array
 * *ids (free() it); returns their number, or -1 when out of memory. */
int64_t qr_labels_outside_grid(const qr_volume *labels, const qr_geometry *g, int32_t **ids);
/* "3, 7, 12 and 5 more" for messages: ids[0..min(n, 10)) listed, the rest counted. */
void qr_labels_describe(const int32_t *ids, int64_t n, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
