/*
 * geometry.h - do two volumes share a grid, and if not, bring one onto the other's.
 *
 * Policy for the QSM / FLAIR / lesion-map triple (the QSM grid is the reference):
 *   same grid within tolerance    -> used as is
 *   different grids that overlap  -> FLAIR resampled (linear) and labels (nearest neighbour) onto
 *                                    the QSM grid with ITK, and a notice says so
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

/* Physical overlap of the two grids' voxel boxes (LPS mm^3; 0 if disjoint). */
double qr_geometry_overlap_mm3(const qr_geometry *a, const qr_geometry *b);

/* Bring `vol` onto the grid `ref` (labels: nearest; intensities: linear). If the grids are the
 * same, `vol` is left unchanged (its geometry is set exactly to ref's) and *resampled = 0.
 * Otherwise `vol` is replaced by the resampled volume and *resampled = 1. `ref_name` and
 * `vol_name` name the inputs in messages. */
qr_status qr_align_to_grid(const qr_geometry *ref, const char *ref_name, qr_volume *vol, const char *vol_name,
                           int *resampled);

#ifdef __cplusplus
}
#endif
#endif
