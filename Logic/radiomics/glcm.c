/*
 * glcm.c - Gray Level Co-occurrence Matrix features (PyRadiomics RadiomicsGLCM).
 *
 * Let
 *   P(i,j|a)  the number of times a ROI voxel of level i has, at offset a (one of the Na
 *             mono-directional angles of all requested distances), a ROI voxel of level j;
 *             symmetricalGLCM adds the transpose; rows/columns of levels absent from the ROI are
 *             removed, so i, j run over the present levels g_1 < ... < g_n (their values are used)
 *   p(i,j)    P / sum P per angle (angles without any pair are dropped); with weightingNorm the
 *             angles are first summed with weight w_a = exp(-||a * spacing||^2) (manhattan,
 *             euclidean, infinity norm) or 1 ('no_weighting')
 *   p_x(i) = sum_j p(i,j), p_y(j) = sum_i p(i,j), mu_x = sum i p(i,j), mu_y = sum j p(i,j)
 *   sigma_x, sigma_y  standard deviations of p_x, p_y
 *   p_{x+y}(k) = sum_{i+j=k} p(i,j), k = 2..2Ng;  p_{x-y}(k) = sum_{|i-j|=k} p(i,j), k = 0..Ng-1
 *   HX, HY    entropies of p_x, p_y; HXY = -sum p log2(p + eps)
 *   HXY1 = -sum p(i,j) log2(p_x(i) p_y(j) + eps);  HXY2 = -sum p_x(i) p_y(j) log2(p_x(i) p_y(j) + eps)
 * Features (per angle):
 *   Autocorrelation      sum p(i,j) i j              JointAverage        mu_x (plain mean over angles)
 *   ClusterProminence    sum (i+j-mu_x-mu_y)^4 p     ClusterShade        sum (i+j-mu_x-mu_y)^3 p
 *   ClusterTendency      sum (i+j-mu_x-mu_y)^2 p     Contrast            sum (i-j)^2 p
 *   Correlation          (sum p i j - mu_x mu_y) / (sigma_x sigma_y), 1 if sigma_x sigma_y = 0
 *   DifferenceAverage    DA = sum_k k p_{x-y}(k)     DifferenceEntropy   -sum p_{x-y} log2(p_{x-y} + eps)
 *   DifferenceVariance   sum (k - DA)^2 p_{x-y}(k)   JointEnergy         sum p^2
 *   JointEntropy         HXY                         MaximumProbability  max p
 *   Imc1                 (HXY - HXY1) / max(HX, HY), 0 if both are 0
 *   Imc2                 sqrt(1 - e^(-2 (HXY2 - HXY))), 0 if HXY2 = HXY
 *   Idm    sum p_{x-y}(k) / (1 + k^2)        Idmn   sum p_{x-y}(k) / (1 + k^2 / Ng^2)
 *   Id     sum p_{x-y}(k) / (1 + k)          Idn    sum p_{x-y}(k) / (1 + k / Ng)
 *   InverseVariance      sum_{k>=1} p_{x-y}(k) / k^2
 *   MCC                  sqrt(second largest eigenvalue of Q), Q(i,j) = sum_k p(i,k) p(j,k) / (p_x(i) p_y(k) + eps);
 *                        1 for a single gray level; beyond 128 levels from a symmetric matrix with
 *                        the same spectrum (rx_mcc_eigenvalue)
 *   SumAverage           sum_k k p_{x+y}(k)          SumEntropy          -sum p_{x+y} log2(p_{x+y} + eps)
 *   SumSquares           sum (i - mu_x)^2 p
 * Deprecated (PyRadiomics raises DeprecationWarning, no value): Dissimilarity, Homogeneity1/2, SumVariance.
 * Each feature is computed per angle and averaged over angles ignoring NaN (numpy.nanmean).
 */
#pragma GCC optimize("fp-contract=off")
#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rx_internal.h"

static const char *const NAMES[] = {
    "Autocorrelation", "ClusterProminence", "ClusterShade",       "ClusterTendency", "Contrast",
    "Correlation",     "DifferenceAverage", "DifferenceEntropy",  "DifferenceVariance", "Dissimilarity",
    "Homogeneity1",    "Homogeneity2",      "Id",                 "Idm",             "Idmn",
    "Idn",             "Imc1",              "Imc2",               "InverseVariance", "JointAverage",
    "JointEnergy",     "JointEntropy",      "MCC",                "MaximumProbability", "SumAverage",
    "SumEntropy",      "SumSquares",        "SumVariance"};
enum {
    F_AUTOCORR, F_CPROM, F_CSHADE, F_CTEND, F_CONTRAST, F_CORR, F_DAVG, F_DENT, F_DVAR, F_DISSIM, F_HOM1, F_HOM2,
    F_ID, F_IDM, F_IDMN, F_IDN, F_IMC1, F_IMC2, F_IVAR, F_JAVG, F_JENERGY, F_JENT, F_MCC, F_MAXPROB, F_SAVG, F_SENT,
    F_SSQ, F_SVAR, F_COUNT
};
static const unsigned char FLAGS[F_COUNT] = {
    [F_DISSIM] = RX_FEAT_DEPRECATED | RX_FEAT_NO_VALUE, [F_HOM1] = RX_FEAT_DEPRECATED | RX_FEAT_NO_VALUE,
    [F_HOM2] = RX_FEAT_DEPRECATED | RX_FEAT_NO_VALUE, [F_SVAR] = RX_FEAT_DEPRECATED | RX_FEAT_NO_VALUE};
const rx_class_info rx_glcm_info = {"glcm", F_COUNT, NAMES, FLAGS};

/* numpy.nanmean of v[0..n) */
static double nanmean(const double *v, int n) {
    double s = 0;
    int c = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) s += v[i], c++;
    return c ? s / c : NAN;
}

static double weight_of(const int *a, const double *sp, rx_weighting w) {
    double d[3];
    for (int k = 0; k < 3; k++) d[k] = fabs((double)a[k]) * sp[k];
    switch (w) {
    case RX_WEIGHT_INFINITY: {
        double m = d[0] > d[1] ? d[0] : d[1];
        m = m > d[2] ? m : d[2];
        return exp(-m * m);
    }
    case RX_WEIGHT_EUCLIDEAN: return exp(-(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]));
    case RX_WEIGHT_MANHATTAN: {
        double m = d[0] + d[1] + d[2];
        return exp(-m * m);
    }
    default: return 1;
    }
}

/* MCC of one normalised matrix p (n x n): sqrt of the second largest eigenvalue of
 * Q(i,j) = sum_k p(i,k) p(j,k) / (p_x(i) p_y(k) + eps). Stores the eigenvalue (re, im); 1 for a
 * complex spectrum, else 0; -1 no convergence, -2 out of memory (rx_eigenvalues_general). */
static int mcc_eig(const double *p, const double *px, const double *py, int n, double *q, double *wr, double *wi,
                   double *l2re, double *l2im) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            /* numpy accumulates k = 0 .. n-1 in sequence: Q = term_0; Q += term_gl ... */
            for (int k = 0; k < n; k++) s += (p[i * n + k] * p[j * n + k]) / (px[i] * py[k] + RX_EPS);
            q[i * n + j] = s;
        }
    const int e = rx_eigenvalues_general(q, n, wr, wi);
    if (e != 0) return e;
    /* numpy sorts (complex) eigenvalues ascending, lexicographically; take index -2 */
    int best = -1, second = -1;
    for (int t = 0; t < n; t++) {
        if (best < 0 || wr[t] > wr[best] || (wr[t] == wr[best] && wi[t] > wi[best])) {
            second = best;
            best = t;
        } else if (second < 0 || wr[t] > wr[second] || (wr[t] == wr[second] && wi[t] > wi[second])) {
            second = t;
        }
    }
    *l2re = wr[second];
    *l2im = wi[second];
    for (int t = 0; t < n; t++)
        if (wi[t] != 0) return 1; /* complex spectrum */
    return 0;
}

/* MCC's eigenvalue for more than RX_MCC_GENERAL_MAX gray levels, through a symmetric matrix with
 * the same spectrum: with B(i,k) = p(i,k) / sqrt(p_x(i) p_y(k)), Q = Dx^-1 P Dy^-1 P^T (eps left
 * out) equals Dx^-1/2 (B B^T) Dx^1/2, so its eigenvalues are those of the symmetric B B^T: real,
 * 0 to 1, the largest 1 (Q is a product of two stochastic matrices). B B^T is summed column by
 * column of B over its nonzero entries (a GLCM of many levels is sparse); s holds n x n, bv n.
 * Leaving eps out changes a term by eps / (p_x(i) p_y(k)) relative: below 1e-6 while an angle has
 * fewer than 6 x 10^4 pairs (p_x, p_y >= 1 / pairs). Returns 0, -1 (a NaN matrix), -2 out of memory. */
static int mcc_eig_symmetric(const double *p, const double *px, const double *py, int n, double *s, double *bv,
                             double *l2) {
    for (int i = 0; i < n; i++)
        if (isnan(px[i]) || isnan(py[i])) return -1;
    int *rows = malloc(sizeof *rows * (size_t)n);
    if (!rows) return -2;
    memset(s, 0, sizeof *s * (size_t)n * n);
    for (int k = 0; k < n; k++) {
        int cnt = 0;
        for (int i = 0; i < n && py[k] > 0; i++)
            if (p[i * n + k] != 0) {
                rows[cnt] = i;
                bv[cnt++] = p[i * n + k] / sqrt(px[i] * py[k]);
            }
        for (int u = 0; u < cnt; u++) {
            double *srow = s + (size_t)rows[u] * n;
            for (int t = 0; t < cnt; t++) srow[rows[t]] += bv[u] * bv[t];
        }
    }
    free(rows);
    return rx_eigenvalue_symmetric(s, n, n - 2, l2);
}

int rx_mcc_eigenvalue(const double *p, const double *px, const double *py, int n, double *q, double *wr, double *wi,
                      double *l2re, double *l2im) {
    if (n <= RX_MCC_GENERAL_MAX) return mcc_eig(p, px, py, n, q, wr, wi, l2re, l2im);
    *l2im = 0;
    return mcc_eig_symmetric(p, px, py, n, q, wr, l2re);
}

qr_status rx_glcm(const rx_image *img, const rx_binned *b, const rx_settings *s, const unsigned char *want,
                  double *vals) {
    const int64_t nz = img->size[0], ny = img->size[1], nx = img->size[2];
    const int ng = b->ng, n = b->n_present;
    int *ang, na;
    for (int f = 0; f < F_COUNT; f++) vals[f] = NAN;
    QR_TRY(rx_class_angles("glcm", img->size, s->dist, s->n_dist, 0, s, &ang, &na));
    if ((double)na * n * n > 5e8) {
        free(ang);
        return qr_fail(QR_ERR_INVALID_ARG, "glcm: %d gray levels x %d angles is too large; increase binWidth", n, na);
    }
    /* index of each level among the present ones */
    int *pos = malloc(sizeof *pos * ((size_t)ng + 1));
    double *P = calloc((size_t)na * n * n, sizeof *P);
    if (!pos || !P) {
        free(pos), free(P), free(ang);
        return qr_fail(QR_ERR_NOMEM, "out of memory (glcm)");
    }
    for (int t = 0; t < n; t++) pos[b->present[t]] = t;

    /* P(i,j|a): center voxel level i, neighbour at +a level j, both in the ROI */
    for (int64_t z = 0; z < nz; z++)
        for (int64_t y = 0; y < ny; y++)
            for (int64_t x = 0; x < nx; x++) {
                int64_t c = (z * ny + y) * nx + x;
                if (!img->mask[c]) continue;
                int gi = pos[b->gl[c]];
                for (int a = 0; a < na; a++) {
                    int64_t zz = z + ang[3 * a], yy = y + ang[3 * a + 1], xx = x + ang[3 * a + 2];
                    if (zz < 0 || zz >= nz || yy < 0 || yy >= ny || xx < 0 || xx >= nx) continue;
                    int64_t m = (zz * ny + yy) * nx + xx;
                    if (!img->mask[m]) continue;
                    P[((size_t)a * n + gi) * n + pos[b->gl[m]]] += 1;
                }
            }
    if (s->symmetrical_glcm)
        for (int a = 0; a < na; a++) {
            double *pa = P + (size_t)a * n * n;
            for (int i = 0; i < n; i++)
                for (int j = i; j < n; j++) {
                    double t = pa[i * n + j] + pa[j * n + i];
                    pa[i * n + j] = pa[j * n + i] = t;
                }
        }
    int nang = na;
    if (s->weighting != RX_WEIGHT_NONE) { /* sum the angles into one matrix */
        double *sum = calloc((size_t)n * n, sizeof *sum);
        if (!sum) {
            free(pos), free(P), free(ang);
            return qr_fail(QR_ERR_NOMEM, "out of memory (glcm)");
        }
        for (int a = 0; a < na; a++) {
            double w = weight_of(ang + 3 * a, img->spacing, s->weighting);
            for (int e = 0; e < n * n; e++) sum[e] += P[(size_t)a * n * n + e] * w;
        }
        memcpy(P, sum, sizeof *sum * (size_t)n * n);
        free(sum);
        nang = 1;
    }
    /* normalise; drop empty angles (no weighting); an empty single matrix becomes NaN */
    int kept = 0;
    for (int a = 0; a < nang; a++) {
        double *pa = P + (size_t)a * n * n, tot = 0;
        for (int e = 0; e < n * n; e++) tot += pa[e];
        if (tot == 0 && nang > 1) continue;
        double *dst = P + (size_t)kept * n * n;
        for (int e = 0; e < n * n; e++) dst[e] = tot == 0 ? NAN : pa[e] / tot;
        kept++;
    }
    nang = kept;
    free(ang);

    double *per = malloc(sizeof *per * (size_t)nang * F_COUNT);
    double *px = malloc(sizeof *px * (size_t)n * 4), *py = px + n;
    double *g = malloc(sizeof *g * (size_t)n);
    double *psum = calloc((size_t)2 * ng + 1, sizeof *psum), *pdiff = calloc((size_t)ng + 1, sizeof *pdiff);
    double *q = malloc(sizeof *q * ((size_t)n * n + 1)), *wr = malloc(sizeof *wr * ((size_t)n * 2 + 2)), *wi = wr + n + 1;
    double *l2re = malloc(sizeof *l2re * ((size_t)nang * 2 + 2)), *l2im = l2re + nang + 1;
    if (!per || !px || !g || !psum || !pdiff || !q || !wr || !l2re) {
        free(per), free(px), free(g), free(psum), free(pdiff), free(q), free(wr), free(l2re), free(pos), free(P);
        return qr_fail(QR_ERR_NOMEM, "out of memory (glcm)");
    }
    for (int t = 0; t < n; t++) g[t] = (double)b->present[t];
    int any_complex = 0, mcc_failed = 0, nomem = 0;
    for (int a = 0; a < nang; a++) {
        const double *p = P + (size_t)a * n * n;
        double *v = per + (size_t)a * F_COUNT;
        /* marginals and means */
        double ux = 0, uy = 0;
        for (int i = 0; i < n; i++) px[i] = py[i] = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double pij = p[i * n + j];
                px[i] += pij;
                py[j] += pij;
                ux += g[i] * pij;
                uy += g[j] * pij;
            }
        memset(psum, 0, sizeof *psum * (size_t)(2 * ng + 1));
        memset(pdiff, 0, sizeof *pdiff * (size_t)(ng + 1));
        double autoc = 0, cprom = 0, cshade = 0, ctend = 0, contrast = 0, sx2 = 0, sy2 = 0, corm = 0, jenergy = 0,
               hxy = 0, hxy1 = 0, hxy2 = 0, maxp = -INFINITY, ssq = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double pij = p[i * n + j], gi = g[i], gj = g[j];
                double pxy = px[i] * py[j];
                if (pxy != 0) hxy2 += pxy * log2(pxy + RX_EPS);
                if (pij == 0) continue; /* empty cells add exactly 0 to every other sum */
                double c = gi + gj - ux - uy;
                autoc += pij * (gi * gj);
                cprom += pij * pow(c, 4.0);
                cshade += pij * pow(c, 3.0);
                ctend += pij * (c * c);
                contrast += pij * (fabs(gi - gj) * fabs(gi - gj));
                sx2 += pij * ((gi - ux) * (gi - ux));
                sy2 += pij * ((gj - uy) * (gj - uy));
                corm += pij * (gi - ux) * (gj - uy);
                jenergy += pij * pij;
                hxy += pij * log2(pij + RX_EPS);
                hxy1 += pij * log2(px[i] * py[j] + RX_EPS);
                if (pij > maxp || isnan(pij)) maxp = pij;
                ssq += pij * ((gi - ux) * (gi - ux));
                psum[(int)(gi + gj)] += pij;
                pdiff[(int)fabs(gi - gj)] += pij;
            }
        hxy = -1 * hxy, hxy1 = -1 * hxy1, hxy2 = -1 * hxy2;
        v[F_AUTOCORR] = autoc;
        v[F_JAVG] = ux;
        v[F_CPROM] = cprom;
        v[F_CSHADE] = cshade;
        v[F_CTEND] = ctend;
        v[F_CONTRAST] = contrast;
        /* Correlation = (sum p ij - mu_x mu_y) / (sigma_x sigma_y); 1 for a flat region */
        double sigx = sqrt(sx2), sigy = sqrt(sy2);
        v[F_CORR] = (sigx * sigy == 0) ? 1 : corm / (sigx * sigy + RX_EPS);
        /* difference and sum distributions, k over 0..Ng-1 and 2..2Ng */
        double davg = 0, dent = 0, dvar = 0, idm = 0, idmn = 0, id = 0, idn = 0, ivar = 0, savg = 0, sent = 0;
        for (int k = 0; k < ng; k++) davg += k * pdiff[k];
        for (int k = 0; k < ng; k++) {
            double d = pdiff[k];
            dent += d * log2(d + RX_EPS);
            dvar += d * ((k - davg) * (k - davg));
            idm += d / (1 + (double)k * k);
            idmn += d / (1 + ((double)k * k) / ((double)ng * ng));
            id += d / (1 + (double)k);
            idn += d / (1 + ((double)k / ng));
            if (k >= 1) ivar += d / ((double)k * k);
        }
        for (int k = 2; k <= 2 * ng; k++) {
            savg += k * psum[k];
            sent += psum[k] * log2(psum[k] + RX_EPS);
        }
        v[F_DAVG] = davg;
        v[F_DENT] = -1 * dent;
        v[F_DVAR] = dvar;
        v[F_IDM] = idm;
        v[F_IDMN] = idmn;
        v[F_ID] = id;
        v[F_IDN] = idn;
        v[F_IVAR] = ivar;
        v[F_SAVG] = savg;
        v[F_SENT] = -1 * sent;
        v[F_JENERGY] = jenergy;
        v[F_JENT] = hxy;
        v[F_MAXPROB] = maxp;
        v[F_SSQ] = ssq;
        /* Imc1 = (HXY - HXY1) / max(HX, HY) (0 if both are 0); Imc2 = sqrt(1 - e^(-2 (HXY2 - HXY))) */
        double hx = 0, hy = 0;
        for (int i = 0; i < n; i++) {
            hx += px[i] * log2(px[i] + RX_EPS);
            hy += py[i] * log2(py[i] + RX_EPS);
        }
        hx = -1 * hx, hy = -1 * hy;
        double div = fmax(hx, hy);
        v[F_IMC1] = div != 0 ? (hxy - hxy1) / div : 0;
        /* (numpy.e ** x: pow with the double closest to e; HXY > HXY2 gives sqrt(<0) = NaN) */
        v[F_IMC2] = hxy2 == hxy ? 0 : sqrt(1 - pow(2.718281828459045, -2 * (hxy2 - hxy)));
        /* MCC */
        l2re[a] = l2im[a] = NAN;
        if (want[F_MCC] && n >= 2) {
            int c = rx_mcc_eigenvalue(p, px, py, n, q, wr, wi, &l2re[a], &l2im[a]);
            if (c < 0) mcc_failed = 1;
            if (c == -2) nomem = 1;
            if (c == 1) any_complex = 1;
        }
    }
    for (int f = 0; f < F_COUNT; f++) {
        if (FLAGS[f] & RX_FEAT_NO_VALUE) continue;
        double *col = nomem ? NULL : malloc(sizeof *col * (size_t)(nang > 0 ? nang : 1));
        if (!col) {
            nomem = 1;
            break;
        }
        for (int a = 0; a < nang; a++) col[a] = per[(size_t)a * F_COUNT + f];
        if (f == F_JAVG) { /* ux.mean(): a plain mean */
            double sm = 0;
            for (int a = 0; a < nang; a++) sm += col[a];
            vals[f] = nang ? sm / nang : NAN;
        } else {
            vals[f] = nanmean(col, nang);
        }
        free(col);
    }
    /* MCC: 1 for a single gray level; else sqrt of the second eigenvalue, averaged. numpy returns
     * real eigenvalues unless one of any angle is complex; sqrt of a negative real is NaN (dropped
     * by nanmean), of a complex number its principal root (the real part is kept). */
    if (n < 2) {
        vals[F_MCC] = 1;
    } else if (mcc_failed) {
        vals[F_MCC] = NAN;
    } else {
        double *m = nomem ? NULL : malloc(sizeof *m * (size_t)(nang > 0 ? nang : 1));
        if (m) {
            for (int a = 0; a < nang; a++) {
                if (any_complex) m[a] = creal(csqrt(l2re[a] + l2im[a] * I));
                else m[a] = sqrt(l2re[a]);
            }
            vals[F_MCC] = nanmean(m, nang);
            free(m);
        } else {
            nomem = 1;
        }
    }
    free(per), free(px), free(g), free(psum), free(pdiff), free(q), free(wr), free(l2re), free(pos), free(P);
    return nomem ? qr_fail(QR_ERR_NOMEM, "out of memory (glcm)") : QR_OK;
}
