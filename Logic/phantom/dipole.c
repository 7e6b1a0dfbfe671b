/*
 * dipole.c - the QSM acquisition: susceptibility -> field -> thick slices + noise -> TKD inversion.
 *
 * Symbols (B0 along the grid's k axis, the scanner's z; the head is rotated relative to it):
 *   chi(r)   susceptibility on the simulation grid (ppb)
 *   D(k)     unit dipole kernel in k-space: D = 1/3 - kz^2 / |k|^2, D(0) = 0
 *   b(r)     relative field (ppb of B0) = IFFT( D(k) FFT(chi) )
 *   B(v)     measured field of output voxel v: mean of b over its 4 thin slices (a 3 mm slice
 *            integrates the field), plus Gaussian noise of sd
 *               sigma(v) = PH_NOISE_FIELD_PPB (0.8 + 0.5 exp(-rho^2 / (2 60^2))) (1 + clamp(chi_v / 150, 0, 3))
 *            (rho: in-plane distance from the centre - lower SNR in the middle of a head coil array;
 *             the last factor: iron and blood shorten T2*, so their phase is noisier) [A]
 *            outside the QSM mask B = 0 (background-field removal keeps only the brain).
 *   QSM      TKD (thresholded k-space division, Shmueli et al. 2009) on the output grid:
 *               chi_hat = IFFT( FFT(B) Dinv ),  Dinv = 1/D if |D| > d0, sign(D)/d0 otherwise, 0 at k = 0
 *            with d0 = PH_TKD_THRESHOLD; masked; then re-referenced so that the mean over NAWM is 0.
 * The mismatch between the thick-slice field and the thick-slice kernel, the truncation near the
 * magic-angle cone and the masking give the streaks and blooming of clinical QSM around veins and
 * iron-rich nuclei.
 *
 * FFTW plans are made with FFTW_ESTIMATE (no timing: the same plan, hence the same bits, every run)
 * under a lock, since FFTW's planner is not thread-safe; executing plans is.
 */
#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "phantom_internal.h"

static pthread_mutex_t g_plan_lock = PTHREAD_MUTEX_INITIALIZER;

/* Signed frequency index of bin q of n. */
static double freq(int64_t q, int64_t n) { return (double)(q <= n / 2 ? q : q - n); }

/* Multiply a half-spectrum (n2 x n1 x (n0/2+1), x fastest) by a function of the dipole kernel. */
static void apply_kernel(fftwf_complex *c, int64_t n0, int64_t n1, int64_t n2, const double sp[3], int inverse,
                         double d0, double scale) {
    const int64_t h0 = n0 / 2 + 1;
    for (int64_t k = 0; k < n2; k++) {
        double fz = freq(k, n2) / (n2 * sp[2]);
        for (int64_t j = 0; j < n1; j++) {
            double fy = freq(j, n1) / (n1 * sp[1]);
            for (int64_t i = 0; i < h0; i++) {
                double fx = (double)i / (n0 * sp[0]);
                double k2 = fx * fx + fy * fy + fz * fz;
                double D = k2 > 0 ? 1.0 / 3.0 - fz * fz / k2 : 0.0;
                double mul;
                if (!inverse) mul = D;
                else if (k2 == 0) mul = 0;
                else if (fabs(D) > d0) mul = 1.0 / D;
                else mul = (D >= 0 ? 1.0 : -1.0) / d0;
                mul *= scale;
                int64_t idx = i + h0 * (j + n1 * k);
                c[idx][0] = (float)(c[idx][0] * mul);
                c[idx][1] = (float)(c[idx][1] * mul);
            }
        }
    }
}

/* In-place convolution of a real volume (n0 x n1 x n2, x fastest) with the dipole kernel or its TKD
 * inverse. */
static qr_status dipole_filter(float *vol, int64_t n0, int64_t n1, int64_t n2, const double sp[3], int inverse, double d0) {
    const int64_t nr = n0 * n1 * n2, nc = (n0 / 2 + 1) * n1 * n2;
    float *a = fftwf_malloc(sizeof(float) * (size_t)nr);
    fftwf_complex *c = fftwf_malloc(sizeof(fftwf_complex) * (size_t)nc);
    if (!a || !c) {
        fftwf_free(a), fftwf_free(c);
        return qr_fail(QR_ERR_NOMEM, "dipole field: out of memory");
    }
    pthread_mutex_lock(&g_plan_lock);
    fftwf_plan pf = fftwf_plan_dft_r2c_3d((int)n2, (int)n1, (int)n0, a, c, FFTW_ESTIMATE);
    fftwf_plan pb = fftwf_plan_dft_c2r_3d((int)n2, (int)n1, (int)n0, c, a, FFTW_ESTIMATE);
    pthread_mutex_unlock(&g_plan_lock);
    qr_status s = QR_OK;
    if (!pf || !pb) {
        s = qr_fail(QR_ERR_INTERNAL, "dipole field: FFTW could not plan a %lldx%lldx%lld transform", (long long)n0,
                    (long long)n1, (long long)n2);
    } else {
        memcpy(a, vol, sizeof(float) * (size_t)nr);
        fftwf_execute(pf);
        apply_kernel(c, n0, n1, n2, sp, inverse, d0, 1.0 / (double)nr);
        fftwf_execute(pb);
        memcpy(vol, a, sizeof(float) * (size_t)nr);
    }
    pthread_mutex_lock(&g_plan_lock);
    if (pf) fftwf_destroy_plan(pf);
    if (pb) fftwf_destroy_plan(pb);
    pthread_mutex_unlock(&g_plan_lock);
    fftwf_free(a);
    fftwf_free(c);
    return s;
}

qr_status ph_acquire_qsm(ph_work *w, const uint8_t *mask, const uint8_t *nawm, qr_rng *r, float *qsm) {
    const int64_t nxy = (int64_t)PH_NX * PH_NY;
    float *field = malloc(sizeof(float) * (size_t)w->nf);
    if (!field) return qr_fail(QR_ERR_NOMEM, "dipole field: out of memory");
    memcpy(field, w->chi, sizeof(float) * (size_t)w->nf);
    const double spf[3] = {PH_H, PH_H, PH_H};
    qr_status s = dipole_filter(field, PH_NX, PH_NY, w->nzf, spf, 0, 0);
    if (s != QR_OK) {
        free(field);
        return s;
    }
    /* thick slices, noise, mask */
    for (int64_t k = 0; k < PH_NZ; k++)
        for (int64_t j = 0; j < PH_NY; j++)
            for (int64_t i = 0; i < PH_NX; i++) {
                int64_t c = i + PH_NX * j + nxy * k;
                double b = 0, chi = 0;
                for (int m = 0; m < PH_SUB; m++) {
                    int64_t f = i + PH_NX * j + nxy * (PH_SUB * k + m);
                    b += field[f];
                    chi += w->chi[f];
                }
                b /= PH_SUB;
                chi /= PH_SUB;
                double x = (i - 0.5 * (PH_NX - 1)) * PH_H, y = (j - 0.5 * (PH_NY - 1)) * PH_H;
                double sigma = PH_NOISE_FIELD_PPB * (0.8 + 0.5 * exp(-(x * x + y * y) / (2.0 * 60.0 * 60.0))) *
                               (1.0 + ph_clamp(chi / 150.0, 0, 3));
                double noise = qr_rng_normal(r) * sigma; /* drawn for every voxel: the stream does not depend on the mask */
                qsm[c] = mask[c] ? (float)(b + noise) : 0.0f;
            }
    free(field);
    const double spc[3] = {PH_H, PH_H, PH_SLICE};
    s = dipole_filter(qsm, PH_NX, PH_NY, PH_NZ, spc, 1, PH_TKD_THRESHOLD);
    if (s != QR_OK) return s;
    double acc = 0;
    int64_t n = 0;
    const int64_t nc = nxy * PH_NZ;
    for (int64_t c = 0; c < nc; c++)
        if (nawm[c]) acc += qsm[c], n++;
    const double ref = n ? acc / (double)n : 0.0;
    for (int64_t c = 0; c < nc; c++) qsm[c] = mask[c] ? (float)(qsm[c] - ref) : 0.0f;
    return QR_OK;
}
