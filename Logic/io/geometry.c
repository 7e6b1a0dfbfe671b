/* geometry.c - grid comparison, physical overlap and alignment onto a reference grid. */
#include "geometry.h"

#include <math.h>
#include <stdio.h>

#include "imageio.h"

int qr_geometry_same(const qr_geometry *a, const qr_geometry *b) {
    double minsp = INFINITY;
    for (int k = 0; k < 3; k++) {
        if (a->size[k] != b->size[k]) return 0;
        if (fabs(a->spacing[k] - b->spacing[k]) > 1e-4 * fmax(a->spacing[k], b->spacing[k])) return 0;
        minsp = fmin(minsp, fmin(a->spacing[k], b->spacing[k]));
    }
    for (int k = 0; k < 3; k++)
        if (fabs(a->origin[k] - b->origin[k]) > 1e-3 * minsp) return 0;
    for (int k = 0; k < 9; k++)
        if (fabs(a->direction[k] - b->direction[k]) > 1e-4) return 0;
    return 1;
}

/* Axis-aligned LPS box enclosing the grid's voxels (voxel edges, not centres). */
static void physical_box(const qr_geometry *g, double lo[3], double hi[3]) {
    for (int r = 0; r < 3; r++) {
        lo[r] = INFINITY;
        hi[r] = -INFINITY;
    }
    for (int c = 0; c < 8; c++) {
        double ijk[3] = {(c & 1) ? g->size[0] - 0.5 : -0.5, (c & 2) ? g->size[1] - 0.5 : -0.5,
                         (c & 4) ? g->size[2] - 0.5 : -0.5};
        double p[3];
        qr_geometry_index_to_lps(g, ijk, p);
        for (int r = 0; r < 3; r++) {
            lo[r] = fmin(lo[r], p[r]);
            hi[r] = fmax(hi[r], p[r]);
        }
    }
}

double qr_geometry_overlap_mm3(const qr_geometry *a, const qr_geometry *b) {
    double alo[3], ahi[3], blo[3], bhi[3], v = 1.0;
    physical_box(a, alo, ahi);
    physical_box(b, blo, bhi);
    for (int r = 0; r < 3; r++) {
        double ext = fmin(ahi[r], bhi[r]) - fmax(alo[r], blo[r]);
        if (ext <= 0) return 0.0;
        v *= ext;
    }
    return v;
}

qr_status qr_align_to_grid(const qr_geometry *ref, const char *ref_name, qr_volume *vol, const char *vol_name,
                           int *resampled) {
    *resampled = 0;
    if (qr_geometry_same(ref, &vol->geom)) {
        vol->geom = *ref; /* remove header rounding differences */
        return QR_OK;
    }
    char da[512], db[512];
    qr_geometry_describe(ref, da, sizeof da);
    qr_geometry_describe(&vol->geom, db, sizeof db);
    if (qr_geometry_overlap_mm3(ref, &vol->geom) <= 0.0)
        return qr_fail(QR_ERR_GEOMETRY, "%s and %s do not overlap in space (%s: %s; %s: %s); are they of the same subject and registered?",
                       vol_name, ref_name, ref_name, da, vol_name, db);
    qr_volume out;
    qr_interp interp = vol->dtype == QR_INT32 ? QR_INTERP_NEAREST : QR_INTERP_LINEAR;
    QR_TRY(qr_image_resample(vol, ref, interp, 0.0, &out));
    qr_log(QR_LOG_NOTICE, "%s is on a different grid than %s; resampled it onto the %s grid (%s interpolation). %s: %s; %s: %s",
           vol_name, ref_name, ref_name, interp == QR_INTERP_LINEAR ? "linear" : "nearest-neighbour", vol_name, db,
           ref_name, da);
    qr_volume_free(vol);
    *vol = out;
    *resampled = 1;
    return QR_OK;
}
