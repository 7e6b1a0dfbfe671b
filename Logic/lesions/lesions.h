/*
 * lesions.h - from a lesion mask or label map to a table of lesions.
 *
 * Input kinds:
 *   binary mask  - one positive value only (0/1, or 0/255 as 8-bit masks are often stored): split
 *                  into connected components numbered from 1. Connectivity 26 (voxels sharing a
 *                  face, edge or corner) is the default, as in lesion-count studies and
 *                  PyRadiomics' GLSZM; 6 (faces only) on request.
 *   label map    - two or more distinct positive values: one lesion per positive label, whatever
 *                  its connectivity (the label's voxels may be disjoint). A map of one lesion with
 *                  a label other than 1 reads as a mask unless the caller forces labels.
 * "auto" decides by the values; a caller can force either kind.
 * Components are numbered 1..n in the order of their first voxel in memory order, so the same
 * mask always gives the same numbering. A minimum volume (mm^3) drops smaller lesions (a lesion
 * of exactly that volume is kept, with a relative slack of 1e-9 for float spacings); components
 * of a mask are renumbered after the drop, labels of a label map are kept.
 */
#ifndef QR_LESIONS_H
#define QR_LESIONS_H

#include "../core/fileutil.h"
#include "../core/volume.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qr_lesion {
    int32_t id;             /* label value in the label map */
    int64_t voxels;         /* number of voxels */
    double volume_mm3;      /* voxels * voxel volume */
    double center_ijk[3];   /* centre of mass, continuous voxel index (unweighted) */
    double center_ras[3];   /* the same point in RAS mm, as 3D Slicer shows it */
    int64_t bbox[6];        /* inclusive index bounds: i0, j0, k0, i1, j1, k1 */
    int touches_border;     /* 1 if the lesion reaches the first or last voxel of any axis */
} qr_lesion;

typedef struct qr_lesion_table {
    int64_t n;          /* number of lesions */
    qr_lesion *items;   /* n lesions, sorted by id */
} qr_lesion_table;

typedef enum qr_lesion_input { QR_LESION_INPUT_AUTO = 0, QR_LESION_INPUT_MASK, QR_LESION_INPUT_LABELS } qr_lesion_input;

typedef struct qr_lesion_options {
    int connectivity;        /* 6 or 26 (default 26) */
    double min_volume_mm3;   /* lesions smaller than this are dropped (default 0: keep all) */
    qr_lesion_input input;   /* how to interpret the input (default auto) */
} qr_lesion_options;

qr_lesion_options qr_lesion_options_default(void);
/* "auto", "mask" or "labels" (command-line spelling); QR_ERR_INVALID_ARG naming `option` otherwise. */
qr_status qr_lesion_input_parse(const char *text, const char *option, qr_lesion_input *out);

/* Connected components of the non-zero voxels of an int32 mask. labels_out gets the mask's
 * geometry with components numbered 1..n. */
qr_status qr_connected_components(const qr_volume *mask, int connectivity, qr_volume *labels_out, int64_t *n);

/* Full extraction: interpret `input` (int32), split or keep labels, drop small lesions, build the
 * table. `labels_out` (may be NULL) receives the final label map; *was_mask (may be NULL) says
 * which interpretation was used. An empty input is not an error: an empty table. */
qr_status qr_lesions_extract(const qr_volume *input, const qr_lesion_options *opt, qr_volume *labels_out,
                             qr_lesion_table *table, int *was_mask);

/* Table of a label map as is (one lesion per positive label). */
qr_status qr_lesion_table_from_labels(const qr_volume *labels, qr_lesion_table *table);

/* Lesion with the given id, or NULL. */
const qr_lesion *qr_lesion_table_find(const qr_lesion_table *t, int32_t id);

/* Write the table as TSV (lesion_id voxels volume_mm3 center_r center_a center_s bbox
 * touches_border; bbox as "i0,j0,k0,i1,j1,k1"), atomically. */
qr_status qr_lesion_table_write_tsv(const qr_lesion_table *t, const char *path);
/* The same, left pending (fileutil.h). */
qr_status qr_lesion_table_write_tsv_pending(const qr_lesion_table *t, const char *path, qr_pending *out);

void qr_lesion_table_free(qr_lesion_table *t);

#ifdef __cplusplus
}
#endif
#endif
