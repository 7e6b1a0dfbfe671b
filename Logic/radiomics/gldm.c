/*
 * gldm.c - Gray Level Dependence Matrix features (PyRadiomics RadiomicsGLDM).
 *
 * Let
 *   P(i,j)  the number of ROI voxels of level i with j - 1 dependent neighbours: ROI voxels at one
 *           of the bi-directional angles of the requested distances whose level differs from i by
 *           at most alpha (gldm_a); rows and columns without counts are removed, i runs over the
 *           present levels (their values), j over the dependence counts present (+1)
 *   N_z     = N_p, the ROI voxel count (every voxel has a dependency zone)
 * Features:
 *   SmallDependenceEmphasis sum p_d(j) / j^2 / N_z   LargeDependenceEmphasis sum p_d(j) j^2 / N_z
 *   GrayLevelNonUniformity  sum p_g(i)^2 / N_z
 *   DependenceNonUniformity sum p_d(j)^2 / N_z       ...Normalized      sum p_d(j)^2 / N_z^2
 *   GrayLevelVariance sum p(i,j) (i - mu_i)^2        DependenceVariance sum p(i,j) (j - mu_j)^2
 *   DependenceEntropy -sum p log2(p + eps)
 *   Low/HighGrayLevelEmphasis                  sum p_g(i) / i^2, sum p_g(i) i^2  (/ N_z)
 *   SmallDependenceLow/HighGrayLevelEmphasis   sum P / (i^2 j^2), sum P i^2 / j^2 (/ N_z)
 *   LargeDependenceLow/HighGrayLevelEmphasis   sum P j^2 / i^2, sum P i^2 j^2    (/ N_z)
 * Deprecated (no value): DependencePercentage, GrayLevelNonUniformityNormalized.
 *   p_g(i) = sum_j P(i,j),  p_d(j) = sum_i P(i,j),  p(i,j) = P(i,j) / N_z
 */
#pragma GCC optimize("fp-contract=off")
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rx_internal.h"

static const char *const NAMES[] = {"DependenceEntropy",
                                    "DependenceNonUniformity",
                                    "DependenceNonUniformityNormalized",
                                    "DependencePercentage",
                                    "DependenceVariance",
                                    "GrayLevelNonUniformity",
                                    "GrayLevelNonUniformityNormalized",
                                    "GrayLevelVariance",
                                    "HighGrayLevelEmphasis",
                                    "LargeDependenceEmphasis",
                                    "LargeDependenceHighGrayLevelEmphasis",
                                    "LargeDependenceLowGrayLevelEmphasis",
                                    "LowGrayLevelEmphasis",
                                    "SmallDependenceEmphasis",
                                    "SmallDependenceHighGrayLevelEmphasis",
                                    "SmallDependenceLowGrayLevelEmphasis"};
enum {
    F_DE, F_DN, F_DNN, F_DP, F_DV, F_GLN, F_GLNN, F_GLV, F_HGLE, F_LDE, F_LDHGLE, F_LDLGLE, F_LGLE, F_SDE, F_SDHGLE,
    F_SDLGLE, F_COUNT
};
static const unsigned char FLAGS[F_COUNT] = {[F_DP] = RX_FEAT_DEPRECATED | RX_FEAT_NO_VALUE,
                                             [F_GLNN] = RX_FEAT_DEPRECATED | RX_FEAT_NO_VALUE};
const rx_class_info rx_gldm_info = {"gldm", F_COUNT, NAMES, FLAGS};

qr_status rx_gldm(const rx_image *img, const rx_binned *b, const rx_settings *s, const unsigned char *want,
                  double *vals) {
    (void)want;
    const int64_t nz = img->size[0], ny = img->size[1], nx = img->size[2];
    const int n = b->n_present;
    for (int f = 0; f < F_COUNT; f++) vals[f] = NAN;
    int *ang, na;
    QR_TRY(rx_class_angles("gldm", img->size, s->dist, s->n_dist, 1, s, &ang, &na));
    int nd = na + 1; /* dependence counts 0 .. Na */
    int *pos = malloc(sizeof *pos * ((size_t)b->ng + 1));
    double *P = calloc((size_t)n * nd, sizeof *P), *pg = calloc((size_t)n, sizeof *pg), *pd = calloc((size_t)nd, sizeof *pd);
    if (!pos || !P || !pg || !pd) {
        free(pos), free(P), free(pg), free(pd), free(ang);
        return qr_fail(QR_ERR_NOMEM, "out of memory (gldm)");
    }
    for (int t = 0; t < n; t++) pos[b->present[t]] = t;
    for (int64_t z = 0; z < nz; z++)
        for (int64_t y = 0; y < ny; y++)
            for (int64_t x = 0; x < nx; x++) {
                int64_t c = (z * ny + y) * nx + x;
                if (!img->mask[c]) continue;
                int g = b->gl[c], dep = 0;
                for (int a = 0; a < na; a++) {
                    int64_t zz = z + ang[3 * a], yy = y + ang[3 * a + 1], xx = x + ang[3 * a + 2];
                    if (zz < 0 || zz >= nz || yy < 0 || yy >= ny || xx < 0 || xx >= nx) continue;
                    int64_t m = (zz * ny + yy) * nx + xx;
                    if (!img->mask[m]) continue;
                    int diff = g - b->gl[m];
                    if (diff < 0) diff = -diff;
                    if (diff <= s->gldm_a) dep++;
                }
                P[(size_t)pos[g] * nd + dep] += 1;
            }
    free(ang);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < nd; j++) {
            pg[i] += P[i * nd + j];
            pd[j] += P[i * nd + j];
        }
    double Nz = (double)img->np;
    double sde = 0, lde = 0, gln = 0, dn = 0, lgle = 0, hgle = 0, sdlgle = 0, sdhgle = 0, ldlgle = 0, ldhgle = 0,
           de = 0, ui = 0, uj = 0, glv = 0, dv = 0;
    for (int j = 0; j < nd; j++) {
        double jj = (double)(j + 1);
        sde += pd[j] / (jj * jj);
        lde += pd[j] * (jj * jj);
        dn += pd[j] * pd[j];
    }
    for (int i = 0; i < n; i++) {
        double gi = (double)b->present[i];
        gln += pg[i] * pg[i];
        lgle += pg[i] / (gi * gi);
        hgle += pg[i] * (gi * gi);
        for (int j = 0; j < nd; j++) {
            double pij = P[i * nd + j], jj = (double)(j + 1);
            if (pij == 0) continue; /* empty cells add exactly 0 */
            sdlgle += pij / ((gi * gi) * (jj * jj));
            sdhgle += pij * (gi * gi) / (jj * jj);
            ldlgle += pij * (jj * jj) / (gi * gi);
            ldhgle += pij * ((jj * jj) * (gi * gi));
            double p = pij / Nz;
            de += p * log2(p + RX_EPS);
        }
    }
    for (int i = 0; i < n; i++) ui += (pg[i] / Nz) * b->present[i];
    for (int i = 0; i < n; i++) glv += (pg[i] / Nz) * ((b->present[i] - ui) * (b->present[i] - ui));
    for (int j = 0; j < nd; j++) uj += (pd[j] / Nz) * (double)(j + 1);
    for (int j = 0; j < nd; j++) dv += (pd[j] / Nz) * (((double)(j + 1) - uj) * ((double)(j + 1) - uj));
    vals[F_SDE] = sde / Nz;
    vals[F_LDE] = lde / Nz;
    vals[F_GLN] = gln / Nz;
    vals[F_DN] = dn / Nz;
    vals[F_DNN] = dn / (Nz * Nz);
    vals[F_GLV] = glv;
    vals[F_DV] = dv;
    vals[F_DE] = -de;
    vals[F_LGLE] = lgle / Nz;
    vals[F_HGLE] = hgle / Nz;
    vals[F_SDLGLE] = sdlgle / Nz;
    vals[F_SDHGLE] = sdhgle / Nz;
    vals[F_LDLGLE] = ldlgle / Nz;
    vals[F_LDHGLE] = ldhgle / Nz;
    free(pos), free(P), free(pg), free(pd);
    return QR_OK;
}
