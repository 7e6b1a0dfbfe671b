/* volume.c - allocation, geometry transforms and checks of qr_volume. */
#include "volume.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t qr_dtype_size(qr_dtype t) { return t == QR_INT32 ? sizeof(int32_t) : sizeof(float); }

const char *qr_dtype_name(qr_dtype t) { return t == QR_INT32 ? "int32" : "float32"; }

int64_t qr_geometry_nvox(const qr_geometry *g) { return g->size[0] * g->size[1] * g->size[2]; }

qr_geometry qr_geometry_identity(int64_t ni, int64_t nj, int64_t nk) {
    qr_geometry g;
    memset(&g, 0, sizeof g);
    g.size[0] = ni;
    g.size[1] = nj;
    g.size[2] = nk;
    for (int a = 0; a < 3; a++) {
        g.spacing[a] = 1.0;
        g.direction[3 * a + a] = 1.0;
    }
    return g;
}

qr_status qr_volume_alloc(qr_volume *out, const qr_geometry *g, qr_dtype t) {
    memset(out, 0, sizeof *out);
    for (int a = 0; a < 3; a++)
        if (g->size[a] < 1) return qr_fail(QR_ERR_INVALID_ARG, "volume size must be >= 1 along every axis");
    int64_t n = qr_geometry_nvox(g);
    void *p = calloc((size_t)n, qr_dtype_size(t));
    if (!p) return qr_fail(QR_ERR_NOMEM, "out of memory: a volume of %lld voxels (%.0f MB)", (long long)n,
                                (double)n * (double)qr_dtype_size(t) / 1e6);
    out->geom = *g;
    out->dtype = t;
    out->data = p;
    return QR_OK;
}

void qr_volume_free(qr_volume *v) {
    if (!v) return;
    free(v->data);
    memset(v, 0, sizeof *v);
}

qr_status qr_volume_copy(qr_volume *out, const qr_volume *src, qr_dtype t) {
    QR_TRY(qr_volume_alloc(out, &src->geom, t));
    int64_t n = qr_volume_nvox(src);
    if (t == src->dtype) {
        memcpy(out->data, src->data, (size_t)n * qr_dtype_size(t));
    } else if (t == QR_FLOAT32) {
        const int32_t *s = qr_volume_i32(src);
        float *d = qr_volume_f32(out);
        for (int64_t i = 0; i < n; i++) d[i] = (float)s[i];
    } else {
        const float *s = qr_volume_f32(src);
        int32_t *d = qr_volume_i32(out);
        for (int64_t i = 0; i < n; i++) d[i] = (int32_t)lrintf(s[i]);
    }
    return QR_OK;
}

void qr_geometry_index_to_lps(const qr_geometry *g, const double ijk[3], double lps[3]) {
    for (int r = 0; r < 3; r++) {
        double acc = g->origin[r];
        for (int c = 0; c < 3; c++) acc += g->direction[3 * r + c] * g->spacing[c] * ijk[c];
        lps[r] = acc;
    }
}

void qr_geometry_index_to_ras(const qr_geometry *g, const double ijk[3], double ras[3]) {
    double lps[3];
    qr_geometry_index_to_lps(g, ijk, lps);
    ras[0] = -lps[0];
    ras[1] = -lps[1];
    ras[2] = lps[2];
}

/* Inverse of a 3x3 row-major matrix; returns 0 if singular. */
static int inv3(const double m[9], double out[9]) {
    double det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
                 m[2] * (m[3] * m[7] - m[4] * m[6]);
    if (!(fabs(det) > 1e-12)) return 0;
    double id = 1.0 / det;
    out[0] = (m[4] * m[8] - m[5] * m[7]) * id;
    out[1] = (m[2] * m[7] - m[1] * m[8]) * id;
    out[2] = (m[1] * m[5] - m[2] * m[4]) * id;
    out[3] = (m[5] * m[6] - m[3] * m[8]) * id;
    out[4] = (m[0] * m[8] - m[2] * m[6]) * id;
    out[5] = (m[2] * m[3] - m[0] * m[5]) * id;
    out[6] = (m[3] * m[7] - m[4] * m[6]) * id;
    out[7] = (m[1] * m[6] - m[0] * m[7]) * id;
    out[8] = (m[0] * m[4] - m[1] * m[3]) * id;
    return 1;
}

qr_status qr_geometry_lps_to_index(const qr_geometry *g, const double lps[3], double ijk[3]) {
    double inv[9];
    if (!inv3(g->direction, inv)) return qr_fail(QR_ERR_GEOMETRY, "direction matrix is singular");
    double d[3] = {lps[0] - g->origin[0], lps[1] - g->origin[1], lps[2] - g->origin[2]};
    for (int c = 0; c < 3; c++) {
        double acc = 0;
        for (int r = 0; r < 3; r++) acc += inv[3 * c + r] * d[r];
        ijk[c] = acc / g->spacing[c];
    }
    return QR_OK;
}

/* The largest |cos(axis c, axis d) - (c == d)| (NaN counts as largest), the axes giving it and
 * their dot product. */
static double direction_worst(const qr_geometry *g, int *wc, int *wd, double *wdot) {
    double worst = -1;
    for (int c = 0; c < 3; c++)
        for (int d = c; d < 3; d++) {
            double dot = 0;
            for (int r = 0; r < 3; r++) dot += g->direction[3 * r + c] * g->direction[3 * r + d];
            const double off = fabs(dot - (c == d));
            if (!(off <= worst)) worst = isnan(off) ? INFINITY : off, *wc = c, *wd = d, *wdot = dot;
        }
    return worst;
}

double qr_geometry_direction_defect(const qr_geometry *g) {
    int c = 0, d = 0;
    double dot = 0;
    return direction_worst(g, &c, &d, &dot);
}

qr_status qr_geometry_validate(const qr_geometry *g, const char *what) {
    for (int a = 0; a < 3; a++) {
        if (g->size[a] < 1) return qr_fail(QR_ERR_GEOMETRY, "%s: size along axis %d is %lld", what, a, (long long)g->size[a]);
        if (!(g->spacing[a] > 0) || !isfinite(g->spacing[a]))
            return qr_fail(QR_ERR_GEOMETRY, "%s: spacing along axis %d is %g (must be > 0)", what, a, g->spacing[a]);
        /* Limits far outside any MRI grid, so a corrupt header cannot overflow index arithmetic
         * (ITK's region computations are in 64-bit integers of voxels). */
        if (g->spacing[a] < QR_SPACING_MIN_MM || g->spacing[a] > QR_SPACING_MAX_MM)
            return qr_fail(QR_ERR_GEOMETRY, "%s: spacing along axis %d is %g mm, outside %g to %g mm (header corrupt?)",
                           what, a, g->spacing[a], QR_SPACING_MIN_MM, QR_SPACING_MAX_MM);
        if (!isfinite(g->origin[a])) return qr_fail(QR_ERR_GEOMETRY, "%s: origin is not finite", what);
        if (fabs(g->origin[a]) > QR_EXTENT_MAX_MM || (double)g->size[a] * g->spacing[a] > QR_EXTENT_MAX_MM)
            return qr_fail(QR_ERR_GEOMETRY, "%s: the grid reaches beyond %g mm from the origin of space along axis %d (header corrupt?)",
                           what, QR_EXTENT_MAX_MM, a);
    }
    double inv[9];
    if (!inv3(g->direction, inv)) return qr_fail(QR_ERR_GEOMETRY, "%s: direction matrix is singular", what);
    /* The axes must be perpendicular unit vectors (to QR_DIRECTION_TOL): spacing, voxel volume and
     * the radiomic features assume so. ITK reads NIfTI and DICOM orientations as orthonormal, but
     * takes a MetaImage TransformMatrix as written and only normalises NRRD space directions. */
    int c = 0, d = 0;
    double dot = 0;
    if (direction_worst(g, &c, &d, &dot) > QR_DIRECTION_TOL)
        return c == d ? qr_fail(QR_ERR_GEOMETRY, "%s: direction of axis %d has length %.6g, not 1 (a scaled grid: header corrupt?)",
                                what, c, sqrt(dot))
                      : qr_fail(QR_ERR_GEOMETRY,
                                "%s: axes %d and %d are not perpendicular (cosine %.3g: a sheared grid, which qsmrim does not "
                                "read; header corrupt?)",
                                what, c, d, dot);
    return QR_OK;
}

const char *qr_geometry_describe(const qr_geometry *g, char *buf, size_t buflen) {
    snprintf(buf, buflen,
             "%lldx%lldx%lld voxels, spacing %.6gx%.6gx%.6g mm, origin (%.6g, %.6g, %.6g) LPS, "
             "direction [%.4g %.4g %.4g; %.4g %.4g %.4g; %.4g %.4g %.4g]",
             (long long)g->size[0], (long long)g->size[1], (long long)g->size[2], g->spacing[0], g->spacing[1],
             g->spacing[2], g->origin[0], g->origin[1], g->origin[2], g->direction[0], g->direction[1],
             g->direction[2], g->direction[3], g->direction[4], g->direction[5], g->direction[6], g->direction[7],
             g->direction[8]);
    return buf;
}

int64_t qr_volume_count_nonfinite(const qr_volume *v) {
    if (v->dtype != QR_FLOAT32) return 0;
    const float *p = qr_volume_f32(v);
    int64_t n = qr_volume_nvox(v), bad = 0;
    for (int64_t i = 0; i < n; i++) bad += !isfinite(p[i]);
    return bad;
}

int64_t qr_volume_replace_nonfinite(qr_volume *v, float value) {
    if (v->dtype != QR_FLOAT32) return 0;
    float *p = qr_volume_f32(v);
    int64_t n = qr_volume_nvox(v), bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(p[i])) {
            p[i] = value;
            bad++;
        }
    return bad;
}
