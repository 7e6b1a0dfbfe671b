/*
 * fuzz_image.c - image files: NIfTI-1 (.nii, and .nii.gz compressed by the harness so that the
 * search mutates the decompressed bytes), NRRD and MetaImage with attached data.
 *
 * Input: one selector byte, then the file's bytes. Selector bits 0-1: format; bit 2: read as an
 * int32 label map instead of float32.
 *
 * Properties, for every input:
 *   - qr_image_read returns a status; a failure has a message and leaves no data;
 *   - a volume that is read has a grid qsmrim accepts: three sizes >= 1, finite spacings within
 *     QR_SPACING_MIN_MM..QR_SPACING_MAX_MM, a finite origin and a direction matrix with
 *     orthonormal columns (within 1e-3);
 *   - the header-only reader (qr_image_read_geometry) agrees with it;
 *   - a NIfTI file that qsmrim decodes itself reads identically through ITK (voxels bit for bit,
 *     NaN as NaN whatever its payload; geometry within 1e-6 mm), and when one of them refuses the
 *     file, so does the other;
 *   - what is read, written as NIfTI and read again is the same volume (voxels compared likewise);
 *     its grid is the same within 1e-5, except that NIfTI holds perpendicular unit axes only: a
 *     grid whose axes depart from them by d (up to QR_DIRECTION_TOL) is written rotated, and its
 *     voxels may move by up to 2 d times the grid's diagonal.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/volume.h"
#include "fuzz_util.h"
#include "io/geometry.h"
#include "io/imageio.h"

static void require_sane_grid(const qr_geometry *g) {
    for (int a = 0; a < 3; a++) {
        fuzz_require(g->size[a] >= 1, "size[%d] = %lld", a, (long long)g->size[a]);
        fuzz_require(isfinite(g->spacing[a]) && g->spacing[a] >= QR_SPACING_MIN_MM &&
                         g->spacing[a] <= QR_SPACING_MAX_MM,
                     "spacing[%d] = %g", a, g->spacing[a]);
        fuzz_require(isfinite(g->origin[a]), "origin[%d] = %g", a, g->origin[a]);
    }
    for (int c = 0; c < 3; c++)
        for (int d = 0; d < 3; d++) {
            double dot = 0;
            for (int r = 0; r < 3; r++) dot += g->direction[3 * r + c] * g->direction[3 * r + d];
            fuzz_require(fabs(dot - (c == d)) < 1e-3, "direction columns %d, %d: dot product %g", c, d, dot);
        }
}

static void require_same_grid(const qr_geometry *a, const qr_geometry *b, double tol, const char *what) {
    for (int i = 0; i < 3; i++) {
        fuzz_require(a->size[i] == b->size[i], "%s: size[%d] %lld != %lld", what, i, (long long)a->size[i],
                     (long long)b->size[i]);
        fuzz_require(fabs(a->spacing[i] - b->spacing[i]) <= tol * fmax(1, fabs(a->spacing[i])),
                     "%s: spacing[%d] %.17g != %.17g", what, i, a->spacing[i], b->spacing[i]);
        fuzz_require(fabs(a->origin[i] - b->origin[i]) <= tol * fmax(1, fabs(a->origin[i])),
                     "%s: origin[%d] %.17g != %.17g", what, i, a->origin[i], b->origin[i]);
    }
    for (int i = 0; i < 9; i++)
        fuzz_require(fabs(a->direction[i] - b->direction[i]) <= tol, "%s: direction[%d] %.17g != %.17g", what, i,
                     a->direction[i], b->direction[i]);
}

static void require_same_voxels(const qr_volume *a, const qr_volume *b, const char *what) {
    fuzz_require(a->dtype == b->dtype, "%s: dtype differs", what);
    const size_t bytes = (size_t)qr_volume_nvox(a) * qr_dtype_size(a->dtype);
    if (memcmp(a->data, b->data, bytes) == 0) return;
    const size_t es = qr_dtype_size(a->dtype), n = (size_t)qr_volume_nvox(a);
    size_t i = 0;
    /* NaN voxels match whatever their payload: ITK's path keeps them as runs of one value, which
     * quiets a signalling NaN, and qsmrim sets every NaN to 0 before use */
    while (i < n && (memcmp((const char *)a->data + i * es, (const char *)b->data + i * es, es) == 0 ||
                     (a->dtype == QR_FLOAT32 && isnan(((const float *)a->data)[i]) && isnan(((const float *)b->data)[i]))))
        i++;
    if (i == n) return;
    if (a->dtype == QR_INT32)
        fuzz_broken(__FILE__, __LINE__, "voxels equal", "%s: voxel %zu is %d, then %d", what, i, ((const int32_t *)a->data)[i],
                    ((const int32_t *)b->data)[i]);
    fuzz_broken(__FILE__, __LINE__, "voxels equal", "%s: voxel %zu is %.9g, then %.9g", what, i, ((const float *)a->data)[i],
                ((const float *)b->data)[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const names[4] = {"in.nii", "in.nii.gz", "in.nrrd", "in.mha"};
    if (size < 1) return 0;
    const int format = data[0] & 3;
    const qr_dtype want = (data[0] & 4) ? QR_INT32 : QR_FLOAT32;
    const char *path = fuzz_path(names[format]);
    if (format == 1)
        fuzz_write_gz(path, data + 1, size - 1);
    else
        fuzz_write(path, data + 1, size - 1);

    qr_volume v;
    qr_read_info info;
    qr_status s = qr_image_read_quiet(path, want, &v, &info);
    fuzz_require_message(s, "qr_image_read");
    qr_geometry g;
    qr_status sg = qr_image_read_geometry(path, &g);
    fuzz_require_message(sg, "qr_image_read_geometry");
    if (s != QR_OK) {
        fuzz_require(v.data == NULL, "a failed read left data");
    } else {
        fuzz_require(v.data != NULL && v.dtype == want, "a read volume without data or of another type");
        require_sane_grid(&v.geom);
        fuzz_require(sg == QR_OK, "the volume reads but its geometry does not: %s", qr_last_error());
        require_same_grid(&v.geom, &g, 1e-9, "qr_image_read_geometry");
    }

    if (format <= 1) { /* NIfTI: the direct decoding against ITK's */
        qr_volume w;
        qr_status si = qr_image_read_itk(path, want, &w, NULL);
        fuzz_require_message(si, "qr_image_read_itk");
        fuzz_require((s == QR_OK) == (si == QR_OK), "qr_image_read %s but ITK %s (%s)", s == QR_OK ? "reads" : "refuses",
                     si == QR_OK ? "reads" : "refuses", qr_last_error());
        if (s == QR_OK && si == QR_OK) {
            require_same_grid(&v.geom, &w.geom, 1e-6, "direct against ITK");
            require_same_voxels(&v, &w, "direct against ITK");
        }
        qr_volume_free(&w);
    }

    if (s == QR_OK) { /* write and read back */
        const char *out = fuzz_path("out.nii");
        qr_status sw = qr_image_write(out, &v, want == QR_INT32 ? QR_WRITE_KEEP_INT32 : 0);
        fuzz_require(sw == QR_OK, "a volume that was read cannot be written: %s", qr_last_error());
        qr_volume r;
        qr_status sr = qr_image_read_quiet(out, want, &r, NULL);
        fuzz_require(sr == QR_OK, "a volume qsmrim wrote cannot be read: %s", qr_last_error());
        const double defect = qr_geometry_direction_defect(&v.geom);
        if (defect <= 1e-6) {
            require_same_grid(&v.geom, &r.geom, 1e-5, "written and read back");
        } else {
            double diag = 0;
            for (int a = 0; a < 3; a++) diag += pow((double)(v.geom.size[a] - 1) * v.geom.spacing[a], 2);
            const double far = fabs(v.geom.origin[0]) + fabs(v.geom.origin[1]) + fabs(v.geom.origin[2]);
            const double shift = qr_geometry_max_shift_mm(&v.geom, &r.geom), bound = 2 * defect * sqrt(diag) + 1e-5 * (1 + far);
            fuzz_require(shift <= bound, "written and read back: voxels moved %g mm (axes %g from orthonormal)", shift, defect);
        }
        require_same_voxels(&v, &r, "written and read back");
        qr_volume_free(&r);
    }
    qr_volume_free(&v);
    return 0;
}
