/*
 * volume.h - the 3D volume of the qsmrim core: one struct, plain data, geometry kept exactly.
 *
 * Index order: a voxel is addressed by (i, j, k). i varies fastest in memory:
 *     linear index = i + size[0] * (j + size[1] * k)
 * For the images qsmrim reads, k is the slice axis (the 3 mm axis of a 0.75 x 0.75 x 3 mm QSM).
 * This is ITK's and NIfTI's storage order (x fastest), and numpy's C order of an array shaped
 * (size[2], size[1], size[0]) - i.e. what SimpleITK.GetArrayFromImage returns.
 *
 * Physical frame: ITK's, i.e. LPS (x towards the patient's Left, y Posterior, z Superior), in mm.
 *     p = origin + direction * diag(spacing) * (i, j, k)^T
 * where direction is row-major: direction[3*r + c] is component r of the unit vector of index
 * axis c. origin is the centre of voxel (0,0,0). 3D Slicer shows RAS coordinates:
 *     RAS = (-p_x, -p_y, p_z)    (qr_volume_index_to_ras).
 *
 * Element types: intensities are float32 (QR_FLOAT32); label maps are int32 (QR_INT32).
 */
#ifndef QR_VOLUME_H
#define QR_VOLUME_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qr_dtype { QR_FLOAT32 = 0, QR_INT32 = 1, QR_DTYPE_COUNT } qr_dtype;

typedef struct qr_geometry {
    int64_t size[3];     /* voxels along index axes i, j, k */
    double spacing[3];   /* voxel size along i, j, k in mm (all > 0) */
    double origin[3];    /* LPS position of the centre of voxel (0,0,0), mm */
    double direction[9]; /* row-major 3x3; column c = LPS unit vector of index axis c */
} qr_geometry;

typedef struct qr_volume {
    qr_geometry geom; /* grid and its place in space */
    qr_dtype dtype;   /* element type of data */
    void *data;       /* nvox elements, linear index = i + size[0]*(j + size[1]*k); owned */
} qr_volume;

/* Element size in bytes of a dtype; name for messages ("float32", "int32"). */
size_t qr_dtype_size(qr_dtype t);
const char *qr_dtype_name(qr_dtype t);

/* Number of voxels of a geometry / volume. */
int64_t qr_geometry_nvox(const qr_geometry *g);
static inline int64_t qr_volume_nvox(const qr_volume *v) { return qr_geometry_nvox(&v->geom); }

/* An identity geometry (spacing 1, origin 0, identity direction) of the given size. */
qr_geometry qr_geometry_identity(int64_t ni, int64_t nj, int64_t nk);

/* Allocate zero-filled data for a geometry. On failure *out is left empty. */
qr_status qr_volume_alloc(qr_volume *out, const qr_geometry *g, qr_dtype t);
/* Free the data (NULL-safe) and empty the struct. */
void qr_volume_free(qr_volume *v);
/* Deep copy; optionally converting the element type (int32 <-> float32). */
qr_status qr_volume_copy(qr_volume *out, const qr_volume *src, qr_dtype t);

/* Typed access helpers (no bounds checks). */
static inline float *qr_volume_f32(const qr_volume *v) { return (float *)v->data; }
static inline int32_t *qr_volume_i32(const qr_volume *v) { return (int32_t *)v->data; }
static inline int64_t qr_geometry_index(const qr_geometry *g, int64_t i, int64_t j, int64_t k) {
    return i + g->size[0] * (j + g->size[1] * k);
}

/* Continuous index (i, j, k) -> LPS mm, and -> RAS mm (as 3D Slicer shows it). */
void qr_geometry_index_to_lps(const qr_geometry *g, const double ijk[3], double lps[3]);
void qr_geometry_index_to_ras(const qr_geometry *g, const double ijk[3], double ras[3]);
/* LPS mm -> continuous index. Returns QR_ERR_GEOMETRY if the direction matrix is singular. */
qr_status qr_geometry_lps_to_index(const qr_geometry *g, const double lps[3], double ijk[3]);

/* Grid sanity limits (mm): voxel spacing, and origin and extent along each axis. */
#define QR_SPACING_MIN_MM 1e-4
#define QR_SPACING_MAX_MM 1e4
#define QR_EXTENT_MAX_MM 1e6
/* Largest departure of the direction matrix from orthonormal (dot products of its columns). */
#define QR_DIRECTION_TOL 1e-3
/* Largest |cos(axis c, axis d) - (c == d)| over the direction's columns: 0 for perpendicular unit
 * axes. NIfTI and DICOM store only such axes (ITK writes them so); NRRD and MetaImage store any. */
double qr_geometry_direction_defect(const qr_geometry *g);
/* Check that a geometry is usable: sizes >= 1, spacings finite and within the limits above,
 * origin and extent within QR_EXTENT_MAX_MM, direction orthonormal within QR_DIRECTION_TOL. `what`
 * names the volume in the error message. */
qr_status qr_geometry_validate(const qr_geometry *g, const char *what);

/* One-line description "256x256x48 voxels, spacing 0.75x0.75x3 mm, origin (...), direction (...)"
 * into buf; returns buf. */
const char *qr_geometry_describe(const qr_geometry *g, char *buf, size_t buflen);

/* Count non-finite (NaN or +-Inf) voxels of a float32 volume (0 for int32). */
int64_t qr_volume_count_nonfinite(const qr_volume *v);

/* Replace non-finite float32 voxels by `value`; returns how many were replaced. */
int64_t qr_volume_replace_nonfinite(qr_volume *v, float value);

#ifdef __cplusplus
}
#endif
#endif
