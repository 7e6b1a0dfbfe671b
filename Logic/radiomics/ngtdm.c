/*
 * ngtdm.c - Neighbouring Gray Tone Difference Matrix features (PyRadiomics RadiomicsNGTDM).
 *
 * Let, for every ROI voxel of level i, A-bar the mean level of its ROI neighbours (bi-directional
 * angles of the requested distances, inside the bounding box), and
 *   n_i   the number of ROI voxels of level i (a voxel without ROI neighbours counts, with
 *         difference 0, as in PyRadiomics' C code)
 *   s_i   = sum |i - A-bar| over those voxels
 *   N_vp  = sum n_i;  p_i = n_i / N_vp;  N_gp = number of levels with p_i > 0
 * Sums over i, j run over the levels present.
 */
#pragma GCC optimize("fp-contract=off")
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rx_internal.h"

static const char *const NAMES[] = {"Busyness", "Coarseness", "Complexity", "Contrast", "Strength"};
enum { F_BUSY, F_COARSE, F_COMPLEX, F_CONTRAST, F_STRENGTH, F_COUNT };
static const unsigned char FLAGS[F_COUNT] = {0};
const rx_class_info rx_ngtdm_info = {"ngtdm", F_COUNT, NAMES, FLAGS};

qr_status rx_ngtdm(const rx_image *img, const rx_binned *b, const rx_settings *s, const unsigned char *want,
                   double *vals) {
    (void)want;
    const int64_t nz = img->size[0], ny = img->size[1], nx = img->size[2];
    const int ng = b->ng;
    for (int f = 0; f < F_COUNT; f++) vals[f] = NAN;
    int *ang, na;
    QR_TRY(rx_class_angles("ngtdm", img->size, s->dist, s->n_dist, 1, s, &ang, &na));
    double *cnt = calloc((size_t)ng + 1, sizeof *cnt), *sdiff = calloc((size_t)ng + 1, sizeof *sdiff);
    if (!cnt || !sdiff) {
        free(cnt), free(sdiff), free(ang);
        return qr_fail(QR_ERR_NOMEM, "out of memory (ngtdm)");
    }
    for (int64_t z = 0; z < nz; z++)
        for (int64_t y = 0; y < ny; y++)
            for (int64_t x = 0; x < nx; x++) {
                int64_t c = (z * ny + y) * nx + x;
                if (!img->mask[c]) continue;
                double count = 0, sum = 0, diff;
                for (int a = 0; a < na; a++) {
                    int64_t zz = z + ang[3 * a], yy = y + ang[3 * a + 1], xx = x + ang[3 * a + 2];
                    if (zz < 0 || zz >= nz || yy < 0 || yy >= ny || xx < 0 || xx >= nx) continue;
                    int64_t m = (zz * ny + yy) * nx + xx;
                    if (!img->mask[m]) continue;
                    count++;
                    sum += b->gl[m];
                }
                diff = count == 0 ? 0 : (double)b->gl[c] - (sum / count);
                if (diff < 0) diff *= -1;
                cnt[b->gl[c]] += 1;
                sdiff[b->gl[c]] += diff;
            }
    free(ang);
    /* keep the levels present: p_i, s_i, i */
    int n = 0;
    double *p = malloc(sizeof *p * ((size_t)ng + 1) * 3), *si = p + ng + 1, *iv = si + ng + 1;
    if (!p) {
        free(cnt), free(sdiff);
        return qr_fail(QR_ERR_NOMEM, "out of memory (ngtdm)");
    }
    double nvp = 0;
    for (int g = 1; g <= ng; g++) nvp += cnt[g];
    for (int g = 1; g <= ng; g++)
        if (cnt[g] != 0) {
            p[n] = cnt[g] / nvp;
            si[n] = sdiff[g];
            iv[n] = g;
            n++;
        }
    free(cnt), free(sdiff);
    /* Coarseness = 1 / sum p_i s_i  (10^6 if the sum is 0) */
    double sps = 0, ssum = 0;
    for (int i = 0; i < n; i++) sps += p[i] * si[i], ssum += si[i];
    vals[F_COARSE] = sps == 0 ? 1000000 : 1 / sps;
    /* Contrast = [sum_ij p_i p_j (i-j)^2 / (N_gp (N_gp - 1))] [sum s_i / N_vp]  (0 if N_gp = 1) */
    if (n <= 1) {
        vals[F_CONTRAST] = 0;
    } else {
        double t = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) t += p[i] * p[j] * ((iv[i] - iv[j]) * (iv[i] - iv[j]));
        vals[F_CONTRAST] = (t / ((double)n * (n - 1))) * (ssum / nvp);
    }
    /* Busyness = sum p_i s_i / sum_ij |i p_i - j p_j|  (0 if the denominator is 0) */
    double absdiff = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) absdiff += fabs(iv[i] * p[i] - iv[j] * p[j]);
    vals[F_BUSY] = absdiff == 0 ? 0 : sps / absdiff;
    /* Complexity = sum_ij |i - j| (p_i s_i + p_j s_j) / (p_i + p_j) / N_vp */
    double cx = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) cx += fabs(iv[i] - iv[j]) * ((p[i] * si[i] + p[j] * si[j]) / (p[i] + p[j]));
    vals[F_COMPLEX] = cx / nvp;
    /* Strength = sum_ij (p_i + p_j)(i - j)^2 / sum s_i  (0 if sum s_i = 0) */
    if (ssum == 0) {
        vals[F_STRENGTH] = 0;
    } else {
        double st = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) st += (p[i] + p[j]) * ((iv[i] - iv[j]) * (iv[i] - iv[j]));
        vals[F_STRENGTH] = st / ssum;
    }
    free(p);
    return QR_OK;
}
