/*
 * fuzz_radiomics.c - radiomic features of odd regions of interest and odd parameter files.
 *
 * Input: byte 0 picks the grid (2-8 x 2-8 x 1-5 voxels of 0.75 x 0.75 x 3 mm); byte 1, when even,
 * takes the QSMRim-Net preset, and when odd, a PyRadiomics parameter file: the bytes after it up
 * to the first NUL. The rest gives the voxels, three bytes each: bit 0 of the first puts the voxel
 * in the region, the next two are its value (int16, in 0.1 ppb; 32767 is NaN, 32766 +Inf). Voxels
 * beyond the input are outside the region, with a fixed smooth pattern of values.
 *
 * Properties, for every input:
 *   - qr_radiomics_compute returns a status; a failure has a message and leaves every
 *     feature NaN;
 *   - the same call twice gives the same bits (no uninitialised memory is read);
 *   - giving the region's bounding box (qr_radiomics_compute_ex) changes nothing;
 *   - single and double precision both run (their values differ by design).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/volume.h"
#include "fuzz_util.h"
#include "radiomics/radiomics.h"

static void require_all_nan(const double *f, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++) fuzz_require(isnan(f[i]), "%s failed but feature %lld is %g", what, (long long)i, f[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    const int nx = 2 + data[0] % 7, ny = 2 + (data[0] / 7) % 7, nz = 1 + (data[0] / 49) % 5;
    const uint8_t *p = data + 2, *end = data + size;
    qr_radiomics *r = NULL;
    qr_status s;
    if (data[1] % 2 == 0) {
        s = qr_radiomics_load(NULL, &r);
        fuzz_require(s == QR_OK, "the preset does not load: %s", qr_last_error());
    } else {
        const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
        const uint8_t *stop = nul ? nul : end;
        char *text = fuzz_text(p, (size_t)(stop - p));
        s = qr_radiomics_load_text(text, "params.yaml", &r);
        free(text);
        fuzz_require_message(s, "qr_radiomics_load_text");
        p = nul ? nul + 1 : end;
        if (s != QR_OK) {
            qr_clear_error();
            return 0;
        }
    }
    const int32_t label = qr_radiomics_label(r);

    qr_geometry g = {.size = {nx, ny, nz}, .spacing = {0.75, 0.75, 3.0}, .direction = {1, 0, 0, 0, 1, 0, 0, 0, 1}};
    qr_volume img, lab;
    if (qr_volume_alloc(&img, &g, QR_FLOAT32) != QR_OK || qr_volume_alloc(&lab, &g, QR_INT32) != QR_OK) abort();
    float *v = img.data;
    int32_t *l = lab.data;
    int64_t bbox[6] = {nx, ny, nz, -1, -1, -1};
    const int64_t nvox = (int64_t)nx * ny * nz;
    for (int64_t i = 0; i < nvox; i++) {
        const int x = (int)(i % nx), y = (int)((i / nx) % ny), z = (int)(i / ((int64_t)nx * ny));
        if (end - p >= 3) {
            const int16_t q = (int16_t)(p[1] | p[2] << 8);
            l[i] = (p[0] & 1) ? label : 0;
            v[i] = q == 32767 ? NAN : q == 32766 ? INFINITY : (float)q * 0.1f;
            p += 3;
        } else {
            l[i] = 0;
            v[i] = (float)(10.0 * sin(0.7 * x) * cos(0.5 * y) + z);
        }
        if (l[i] == label) {
            const int c[3] = {x, y, z};
            for (int a = 0; a < 3; a++) {
                if (c[a] < bbox[a]) bbox[a] = c[a];
                if (c[a] > bbox[3 + a]) bbox[3 + a] = c[a];
            }
        }
    }

    const int64_t n = qr_radiomics_count(r);
    double *f[3];
    for (int k = 0; k < 3; k++)
        if (!(f[k] = malloc((size_t)n * sizeof(double)))) abort();
    s = qr_radiomics_compute(r, &img, &lab, label, f[0]);
    fuzz_require_message(s, "qr_radiomics_compute");
    if (s != QR_OK) require_all_nan(f[0], n, "qr_radiomics_compute");
    qr_status s2 = qr_radiomics_compute(r, &img, &lab, label, f[1]);
    fuzz_require(s2 == s, "the same call gave %s, then %s", qr_status_name(s), qr_status_name(s2));
    fuzz_require(memcmp(f[0], f[1], (size_t)n * sizeof(double)) == 0, "the same call gave other values");
    if (bbox[3] >= 0) {
        qr_radiomics_options o = qr_radiomics_options_default();
        o.bbox = bbox;
        s2 = qr_radiomics_compute_ex(r, &img, &lab, label, &o, f[2]);
        fuzz_require(s2 == s, "with the bounding box: %s, without: %s", qr_status_name(s2), qr_status_name(s));
        for (int64_t i = 0; i < n; i++)
            fuzz_require(memcmp(&f[0][i], &f[2][i], sizeof(double)) == 0 || (isnan(f[0][i]) && isnan(f[2][i])),
                         "%s: %.17g without the bounding box, %.17g with it", qr_radiomics_name(r, i), f[0][i], f[2][i]);
    }
    qr_radiomics_options o = qr_radiomics_options_default();
    o.precision = QR_RADIOMICS_DOUBLE;
    s2 = qr_radiomics_compute_ex(r, &img, &lab, label, &o, f[2]);
    fuzz_require_message(s2, "qr_radiomics_compute_ex (double)");
    if (s2 != QR_OK) require_all_nan(f[2], n, "qr_radiomics_compute_ex (double)");

    for (int k = 0; k < 3; k++) free(f[k]);
    qr_volume_free(&img);
    qr_volume_free(&lab);
    qr_radiomics_free(r);
    qr_clear_error();
    return 0;
}
