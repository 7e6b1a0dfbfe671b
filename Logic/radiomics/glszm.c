/*
 * glszm.c - Gray Level Size Zone Matrix features (PyRadiomics RadiomicsGLSZM).
 *
 * Let
 *   P(i,j)  the number of zones (26-connected sets of ROI voxels of equal level; 8-connected in the
 *           plane with force2D) of level i and size j voxels; levels absent from the ROI removed,
 *           i runs over the present levels (their values are used), j = 1 .. largest zone
 *   N_z     = sum P(i,j), the number of zones (1 if there are none);  N_p the ROI voxel count
 *   p_g(i) = sum_j P(i,j),  p_s(j) = sum_i P(i,j),  p(i,j) = P(i,j) / N_z
 * Features:
 *   SmallAreaEmphasis sum p_s(j) / j^2 / N_z         LargeAreaEmphasis sum p_s(j) j^2 / N_z
 *   GrayLevelNonUniformity     sum p_g(i)^2 / N_z    ...Normalized     sum p_g(i)^2 / N_z^2
 *   SizeZoneNonUniformity      sum p_s(j)^2 / N_z    ...Normalized     sum p_s(j)^2 / N_z^2
 *   ZonePercentage    N_z / N_p
 *   GrayLevelVariance sum p(i,j) (i - mu_i)^2        ZoneVariance      sum p(i,j) (j - mu_j)^2
 *   ZoneEntropy       -sum p log2(p + eps)
 *   Low/HighGrayLevelZoneEmphasis         sum p_g(i) / i^2, sum p_g(i) i^2  (/ N_z)
 *   SmallAreaLow/HighGrayLevelEmphasis    sum P / (i^2 j^2), sum P i^2 / j^2 (/ N_z)
 *   LargeAreaLow/HighGrayLevelEmphasis    sum P j^2 / i^2, sum P i^2 j^2    (/ N_z)
 * One matrix for all directions; no averaging.
 */
#pragma GCC optimize("fp-contract=off")
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rx_internal.h"

static const char *const NAMES[] = {"GrayLevelNonUniformity",
                                    "GrayLevelNonUniformityNormalized",
                                    "GrayLevelVariance",
                                    "HighGrayLevelZoneEmphasis",
                                    "LargeAreaEmphasis",
                                    "LargeAreaHighGrayLevelEmphasis",
                                    "LargeAreaLowGrayLevelEmphasis",
                                    "LowGrayLevelZoneEmphasis",
                                    "SizeZoneNonUniformity",
                                    "SizeZoneNonUniformityNormalized",
                                    "SmallAreaEmphasis",
                                    "SmallAreaHighGrayLevelEmphasis",
                                    "SmallAreaLowGrayLevelEmphasis",
                                    "ZoneEntropy",
                                    "ZonePercentage",
                                    "ZoneVariance"};
enum {
    F_GLN, F_GLNN, F_GLV, F_HGLZE, F_LAE, F_LAHGLE, F_LALGLE, F_LGLZE, F_SZN, F_SZNN, F_SAE, F_SAHGLE, F_SALGLE,
    F_ZE, F_ZP, F_ZV, F_COUNT
};
static const unsigned char FLAGS[F_COUNT] = {0};
const rx_class_info rx_glszm_info = {"glszm", F_COUNT, NAMES, FLAGS};

qr_status rx_glszm(const rx_image *img, const rx_binned *b, const rx_settings *s, const unsigned char *want,
                   double *vals) {
    (void)want;
    const int64_t nz = img->size[0], ny = img->size[1], nx = img->size[2], nvox = nz * ny * nx;
    const int n = b->n_present;
    for (int f = 0; f < F_COUNT; f++) vals[f] = NAN;
    int one = 1, *ang, na;
    QR_TRY(rx_class_angles("glszm", img->size, &one, 1, 1, s, &ang, &na));
    int *pos = malloc(sizeof *pos * ((size_t)b->ng + 1));
    uint8_t *done = calloc((size_t)nvox, 1);
    int64_t *stack = malloc(sizeof *stack * (size_t)(img->np + 1));
    int64_t *zone_gl = malloc(sizeof *zone_gl * (size_t)(img->np + 1)), *zone_sz = malloc(sizeof *zone_sz * (size_t)(img->np + 1));
    if (!pos || !done || !stack || !zone_gl || !zone_sz) {
        free(pos), free(done), free(stack), free(zone_gl), free(zone_sz), free(ang);
        return qr_fail(QR_ERR_NOMEM, "out of memory (glszm)");
    }
    for (int t = 0; t < n; t++) pos[b->present[t]] = t;
    /* zones by flood fill over the bi-directional distance-1 neighbours inside the bounding box */
    int64_t nzones = 0, maxsz = 0;
    for (int64_t c = 0; c < nvox; c++) {
        if (!img->mask[c] || done[c]) continue;
        int g = b->gl[c];
        int64_t top = 0, size = 0;
        stack[top++] = c;
        done[c] = 1;
        while (top > 0) {
            int64_t k = stack[--top];
            size++;
            int64_t z = k / (ny * nx), y = (k / nx) % ny, x = k % nx;
            for (int a = 0; a < na; a++) {
                int64_t zz = z + ang[3 * a], yy = y + ang[3 * a + 1], xx = x + ang[3 * a + 2];
                if (zz < 0 || zz >= nz || yy < 0 || yy >= ny || xx < 0 || xx >= nx) continue;
                int64_t m = (zz * ny + yy) * nx + xx;
                if (img->mask[m] && !done[m] && b->gl[m] == g) {
                    done[m] = 1;
                    stack[top++] = m;
                }
            }
        }
        zone_gl[nzones] = pos[g];
        zone_sz[nzones] = size;
        nzones++;
        if (size > maxsz) maxsz = size;
    }
    free(done), free(stack), free(ang);
    if (maxsz == 0) maxsz = 1;
    if ((double)n * maxsz > 5e8) {
        free(pos), free(zone_gl), free(zone_sz);
        return qr_fail(QR_ERR_INVALID_ARG, "glszm: %d gray levels x zones of %lld voxels is too large; increase binWidth", n,
                       (long long)maxsz);
    }
    double *P = calloc((size_t)n * maxsz, sizeof *P);
    double *pg = calloc((size_t)n, sizeof *pg), *ps = calloc((size_t)maxsz, sizeof *ps);
    if (!P || !pg || !ps) {
        free(P), free(pg), free(ps), free(pos), free(zone_gl), free(zone_sz);
        return qr_fail(QR_ERR_NOMEM, "out of memory (glszm)");
    }
    for (int64_t z = 0; z < nzones; z++) P[zone_gl[z] * maxsz + zone_sz[z] - 1] += 1;
    free(zone_gl), free(zone_sz);
    double Nz = 0;
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < maxsz; j++) {
            double v = P[i * maxsz + j];
            Nz += v;
            pg[i] += v;
            ps[j] += v;
        }
    if (Nz == 0) Nz = 1;
    double sae = 0, lae = 0, gln = 0, szn = 0, lglze = 0, hglze = 0, salgle = 0, sahgle = 0, lalgle = 0, lahgle = 0,
           ze = 0, ui = 0, uj = 0, glv = 0, zv = 0;
    for (int64_t j = 0; j < maxsz; j++) {
        double jj = (double)(j + 1);
        sae += ps[j] / (jj * jj);
        lae += ps[j] * (jj * jj);
        szn += ps[j] * ps[j];
    }
    for (int i = 0; i < n; i++) {
        double gi = (double)b->present[i];
        gln += pg[i] * pg[i];
        lglze += pg[i] / (gi * gi);
        hglze += pg[i] * (gi * gi);
        for (int64_t j = 0; j < maxsz; j++) {
            double pij = P[i * maxsz + j], jj = (double)(j + 1);
            if (pij == 0) continue; /* empty cells add exactly 0 */
            salgle += pij / ((gi * gi) * (jj * jj));
            sahgle += pij * (gi * gi) / (jj * jj);
            lalgle += pij * (jj * jj) / (gi * gi);
            lahgle += pij * (gi * gi) * (jj * jj);
            double p = pij / Nz;
            ze += p * log2(p + RX_EPS);
        }
    }
    for (int i = 0; i < n; i++) ui += (pg[i] / Nz) * b->present[i];
    for (int i = 0; i < n; i++) glv += (pg[i] / Nz) * ((b->present[i] - ui) * (b->present[i] - ui));
    for (int64_t j = 0; j < maxsz; j++) uj += (ps[j] / Nz) * (double)(j + 1);
    for (int64_t j = 0; j < maxsz; j++) zv += (ps[j] / Nz) * (((double)(j + 1) - uj) * ((double)(j + 1) - uj));
    vals[F_SAE] = sae / Nz;
    vals[F_LAE] = lae / Nz;
    vals[F_GLN] = gln / Nz;
    vals[F_GLNN] = gln / (Nz * Nz);
    vals[F_SZN] = szn / Nz;
    vals[F_SZNN] = szn / (Nz * Nz);
    vals[F_ZP] = Nz / (double)img->np;
    vals[F_GLV] = glv;
    vals[F_ZV] = zv;
    vals[F_ZE] = -ze;
    vals[F_LGLZE] = lglze / Nz;
    vals[F_HGLZE] = hglze / Nz;
    vals[F_SALGLE] = salgle / Nz;
    vals[F_SAHGLE] = sahgle / Nz;
    vals[F_LALGLE] = lalgle / Nz;
    vals[F_LAHGLE] = lahgle / Nz;
    free(P), free(pg), free(ps), free(pos);
    return QR_OK;
}
