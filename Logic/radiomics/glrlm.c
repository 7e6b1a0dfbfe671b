/*
 * glrlm.c - Gray Level Run Length Matrix features (PyRadiomics RadiomicsGLRLM).
 *
 * Let
 *   P(i,j|a)  the number of runs (maximal sequences of consecutive ROI voxels of equal level along
 *             one of the 13 mono-directional angles a of distance 1) of level i and length j;
 *             levels absent from the ROI are removed (i runs over the present levels, their values
 *             are used), j = 1 .. max(bounding-box size). An angle along which no line holds more
 *             than one ROI voxel is zeroed (PyRadiomics' multiElement rule) and, like every angle
 *             without runs, dropped. With weightingNorm the angles are summed with weight
 *             ||a * spacing|| (manhattan, euclidean, infinity) or 1 ('no_weighting').
 *   N_r(a)    = sum_{i,j} P(i,j|a), the number of runs;  N_p(a) = sum_{i,j} j P(i,j|a)
 *   p_g(i) = sum_j P(i,j),  p_r(j) = sum_i P(i,j),  p(i,j) = P(i,j) / N_r
 * Features (per angle):
 *   ShortRunEmphasis  sum p_r(j) / j^2 / N_r         LongRunEmphasis   sum p_r(j) j^2 / N_r
 *   GrayLevelNonUniformity     sum p_g(i)^2 / N_r    ...Normalized     sum p_g(i)^2 / N_r^2
 *   RunLengthNonUniformity     sum p_r(j)^2 / N_r    ...Normalized     sum p_r(j)^2 / N_r^2
 *   RunPercentage     N_r / N_p(a)
 *   GrayLevelVariance sum p(i,j) (i - mu_i)^2        RunVariance       sum p(i,j) (j - mu_j)^2
 *   RunEntropy        -sum p log2(p + eps)
 *   Low/HighGrayLevelRunEmphasis          sum p_g(i) / i^2, sum p_g(i) i^2  (/ N_r)
 *   ShortRunLow/HighGrayLevelEmphasis     sum P / (i^2 j^2), sum P i^2 / j^2 (/ N_r)
 *   LongRunLow/HighGrayLevelEmphasis      sum P j^2 / i^2, sum P i^2 j^2    (/ N_r)
 * Features are computed per angle and averaged ignoring NaN.
 */
#pragma GCC optimize("fp-contract=off")
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rx_internal.h"

static const char *const NAMES[] = {"GrayLevelNonUniformity",
                                    "GrayLevelNonUniformityNormalized",
                                    "GrayLevelVariance",
                                    "HighGrayLevelRunEmphasis",
                                    "LongRunEmphasis",
                                    "LongRunHighGrayLevelEmphasis",
                                    "LongRunLowGrayLevelEmphasis",
                                    "LowGrayLevelRunEmphasis",
                                    "RunEntropy",
                                    "RunLengthNonUniformity",
                                    "RunLengthNonUniformityNormalized",
                                    "RunPercentage",
                                    "RunVariance",
                                    "ShortRunEmphasis",
                                    "ShortRunHighGrayLevelEmphasis",
                                    "ShortRunLowGrayLevelEmphasis"};
enum {
    F_GLN, F_GLNN, F_GLV, F_HGLRE, F_LRE, F_LRHGLE, F_LRLGLE, F_LGLRE, F_RE, F_RLN, F_RLNN, F_RP, F_RV, F_SRE,
    F_SRHGLE, F_SRLGLE, F_COUNT
};
static const unsigned char FLAGS[F_COUNT] = {0};
const rx_class_info rx_glrlm_info = {"glrlm", F_COUNT, NAMES, FLAGS};

static double nanmean(const double *v, int n) {
    double s = 0;
    int c = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) s += v[i], c++;
    return c ? s / c : NAN;
}

static double run_weight(const int *a, const double *sp, rx_weighting w) {
    double d[3];
    for (int k = 0; k < 3; k++) d[k] = fabs((double)a[k]) * sp[k];
    switch (w) {
    case RX_WEIGHT_INFINITY: return fmax(fmax(d[0], d[1]), d[2]);
    case RX_WEIGHT_EUCLIDEAN: return sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    case RX_WEIGHT_MANHATTAN: return d[0] + d[1] + d[2];
    default: return 1;
    }
}

qr_status rx_glrlm(const rx_image *img, const rx_binned *b, const rx_settings *s, const unsigned char *want,
                   double *vals) {
    (void)want;
    const int64_t nz = img->size[0], ny = img->size[1], nx = img->size[2];
    const int n = b->n_present;
    int64_t nr = nz > ny ? nz : ny;
    nr = nr > nx ? nr : nx;
    for (int f = 0; f < F_COUNT; f++) vals[f] = NAN;
    int one = 1, *ang, na;
    QR_TRY(rx_class_angles("glrlm", img->size, &one, 1, 0, s, &ang, &na));
    if ((double)na * n * nr > 5e8) {
        free(ang);
        return qr_fail(QR_ERR_INVALID_ARG, "glrlm: %d gray levels x %lld run lengths is too large; increase binWidth", n,
                       (long long)nr);
    }
    int *pos = malloc(sizeof *pos * ((size_t)b->ng + 1));
    double *P = calloc((size_t)na * n * nr, sizeof *P); /* P[a][i][j-1] */
    if (!pos || !P) {
        free(pos), free(P), free(ang);
        return qr_fail(QR_ERR_NOMEM, "out of memory (glrlm)");
    }
    for (int t = 0; t < n; t++) pos[b->present[t]] = t;
    /* Runs, found from their first voxel: a ROI voxel v starts a run unless the voxel before it
     * (v - a) is a ROI voxel of the same level; the run extends while the next voxel is. This visits
     * only ROI voxels and gives exactly the runs of PyRadiomics' walk along every line. */
    const int64_t dims[3] = {nz, ny, nx};
    /* the ROI voxels once: linear index and coordinates */
    int64_t *roi = malloc(sizeof *roi * (size_t)(img->np > 0 ? img->np : 1) * 4), nroi = 0;
    if (!roi) {
        free(pos), free(P), free(ang);
        return qr_fail(QR_ERR_NOMEM, "out of memory (glrlm)");
    }
    for (int64_t z = 0; z < nz; z++)
        for (int64_t y = 0; y < ny; y++)
            for (int64_t x = 0; x < nx; x++) {
                int64_t v = (z * ny + y) * nx + x;
                if (!img->mask[v]) continue;
                roi[4 * nroi] = v, roi[4 * nroi + 1] = z, roi[4 * nroi + 2] = y, roi[4 * nroi + 3] = x;
                nroi++;
            }
    for (int a = 0; a < na; a++) {
        const int *d = ang + 3 * a;
        const int64_t step = ((int64_t)d[0] * ny + d[1]) * nx + d[2];
        double *pa = P + (size_t)a * n * nr;
        int multi = 0;
        for (int64_t t = 0; t < nroi; t++) {
            const int64_t v = roi[4 * t], *c = roi + 4 * t + 1;
            int64_t ahead = INT64_MAX;
            int inside_prev = 1;
            for (int k = 0; k < 3; k++) {
                if (d[k] > 0) {
                    if (c[k] - 1 < 0) inside_prev = 0;
                    if (dims[k] - 1 - c[k] < ahead) ahead = dims[k] - 1 - c[k];
                } else if (d[k] < 0) {
                    if (c[k] + 1 >= dims[k]) inside_prev = 0;
                    if (c[k] < ahead) ahead = c[k];
                }
            }
            int g = b->gl[v];
            if (inside_prev && img->mask[v - step] && b->gl[v - step] == g) continue; /* not a run start */
            int64_t rl = 0, m = v;
            while (rl < ahead && img->mask[m + step] && b->gl[m + step] == g) {
                m += step;
                rl++;
            }
            pa[(size_t)pos[g] * nr + rl] += 1;
            if (rl > 0) multi = 1;
        }
        if (!multi) {
            /* only runs of length 1: PyRadiomics still keeps the angle if some line holds two ROI
             * voxels (separated by other levels or gaps); it drops it if every line holds at most one */
            for (int64_t v = 0; v < nz * ny * nx && !multi; v++) {
                if (!img->mask[v]) continue;
                int64_t c[3] = {v / (ny * nx), (v / nx) % ny, v % nx};
                for (;;) {
                    int out = 0;
                    for (int k = 0; k < 3; k++) {
                        c[k] += d[k];
                        if (c[k] < 0 || c[k] >= dims[k]) out = 1;
                    }
                    if (out) break;
                    if (img->mask[(c[0] * ny + c[1]) * nx + c[2]]) {
                        multi = 1;
                        break;
                    }
                }
            }
        }
        if (!multi) memset(pa, 0, sizeof *pa * (size_t)n * nr);
    }
    free(roi);
    int nang = na;
    if (s->weighting != RX_WEIGHT_NONE) {
        double *sum = calloc((size_t)n * nr, sizeof *sum);
        if (!sum) {
            free(pos), free(P), free(ang);
            return qr_fail(QR_ERR_NOMEM, "out of memory (glrlm)");
        }
        for (int a = 0; a < na; a++) {
            double w = run_weight(ang + 3 * a, img->spacing, s->weighting);
            for (int64_t e = 0; e < n * nr; e++) sum[e] += P[(size_t)a * n * nr + e] * w;
        }
        memcpy(P, sum, sizeof *sum * (size_t)(n * nr));
        free(sum);
        nang = 1;
    }
    free(ang);
    double *per = malloc(sizeof *per * (size_t)nang * F_COUNT);
    double *pg = malloc(sizeof *pg * (size_t)n), *pr = malloc(sizeof *pr * (size_t)nr);
    if (!per || !pg || !pr) {
        free(per), free(pg), free(pr), free(pos), free(P);
        return qr_fail(QR_ERR_NOMEM, "out of memory (glrlm)");
    }
    int kept = 0;
    for (int a = 0; a < nang; a++) {
        const double *pa = P + (size_t)a * n * nr;
        double Nr = 0;
        for (int64_t e = 0; e < n * nr; e++) Nr += pa[e];
        if (Nr == 0 && nang > 1) continue; /* empty angle */
        if (Nr == 0) Nr = NAN;
        for (int i = 0; i < n; i++) pg[i] = 0;
        for (int64_t j = 0; j < nr; j++) pr[j] = 0;
        for (int i = 0; i < n; i++)
            for (int64_t j = 0; j < nr; j++) {
                pg[i] += pa[i * nr + j];
                pr[j] += pa[i * nr + j];
            }
        double *v = per + (size_t)kept * F_COUNT;
        double sre = 0, lre = 0, gln = 0, rln = 0, npa = 0, lglre = 0, hglre = 0, srlgle = 0, srhgle = 0, lrlgle = 0,
               lrhgle = 0, re = 0, ui = 0, uj = 0, glv = 0, rv = 0;
        for (int64_t j = 0; j < nr; j++) {
            double jj = (double)(j + 1);
            sre += pr[j] / (jj * jj);
            lre += pr[j] * (jj * jj);
            rln += pr[j] * pr[j];
            npa += pr[j] * jj;
        }
        for (int i = 0; i < n; i++) {
            double gi = (double)b->present[i];
            gln += pg[i] * pg[i];
            lglre += pg[i] / (gi * gi);
            hglre += pg[i] * (gi * gi);
        }
        for (int i = 0; i < n; i++) {
            double gi = (double)b->present[i];
            for (int64_t j = 0; j < nr; j++) {
                double pij = pa[i * nr + j], jj = (double)(j + 1);
                if (pij == 0) continue; /* empty cells add exactly 0 to every sum */
                srlgle += pij / ((gi * gi) * (jj * jj));
                srhgle += pij * (gi * gi) / (jj * jj);
                lrlgle += pij * (jj * jj) / (gi * gi);
                lrhgle += pij * ((jj * jj) * (gi * gi));
                double p = pij / Nr;
                re += p * log2(p + RX_EPS);
            }
        }
        for (int i = 0; i < n; i++) ui += (pg[i] / Nr) * b->present[i];
        for (int i = 0; i < n; i++) glv += (pg[i] / Nr) * ((b->present[i] - ui) * (b->present[i] - ui));
        for (int64_t j = 0; j < nr; j++) uj += (pr[j] / Nr) * (double)(j + 1);
        for (int64_t j = 0; j < nr; j++) rv += (pr[j] / Nr) * (((double)(j + 1) - uj) * ((double)(j + 1) - uj));
        v[F_SRE] = sre / Nr;
        v[F_LRE] = lre / Nr;
        v[F_GLN] = gln / Nr;
        v[F_GLNN] = gln / (Nr * Nr);
        v[F_RLN] = rln / Nr;
        v[F_RLNN] = rln / (Nr * Nr);
        v[F_RP] = Nr / npa;
        v[F_GLV] = glv;
        v[F_RV] = rv;
        v[F_RE] = -re;
        v[F_LGLRE] = lglre / Nr;
        v[F_HGLRE] = hglre / Nr;
        v[F_SRLGLE] = srlgle / Nr;
        v[F_SRHGLE] = srhgle / Nr;
        v[F_LRLGLE] = lrlgle / Nr;
        v[F_LRHGLE] = lrhgle / Nr;
        kept++;
    }
    double col[64];
    for (int f = 0; f < F_COUNT; f++) {
        int m = 0;
        for (int a = 0; a < kept && m < 64; a++) col[m++] = per[(size_t)a * F_COUNT + f];
        vals[f] = nanmean(col, m);
    }
    free(per), free(pg), free(pr), free(pos), free(P);
    return QR_OK;
}
