/*
 * edt.c - exact Euclidean distance transform (Felzenszwalb & Huttenlocher, "Distance Transforms of
 * Sampled Functions", Theory of Computing 2012): one pass of the 1D lower envelope of parabolas
 * per axis, with anisotropic voxel sizes.
 *
 *   f(q) = 0 on background voxels, +inf on foreground voxels
 *   D(p) = min_q ( |x_p - x_q|^2 + f(q) )       separable: apply along i, then j, then k
 * 1D, positions x_q = sp * q:
 *   D(p) = min_q ( (sp (p - q))^2 + f(q) ),  lower envelope of parabolas rooted at (x_q, f(q)).
 */
#include <stdlib.h>

#include "phantom_internal.h"

#define EDT_INF 1e20f

/* d[q] = min_p (sp^2 (q-p)^2 + f[p]) for n samples; v (n), z (n+1) are scratch. Samples with
 * f = +inf root no parabola; z[k]..z[k+1] is where parabola v[k] is the lowest. */
static void edt_1d(const float *f, int64_t n, double sp, float *d, int64_t *v, double *z) {
    int64_t q0 = 0;
    while (q0 < n && f[q0] >= EDT_INF) q0++;
    if (q0 == n) {
        for (int64_t q = 0; q < n; q++) d[q] = EDT_INF;
        return;
    }
    const double s2 = sp * sp;
    int64_t k = 0;
    v[0] = q0;
    z[0] = -1e300;
    z[1] = 1e300;
    for (int64_t q = q0 + 1; q < n; q++) {
        if (f[q] >= EDT_INF) continue;
        double s;
        for (;;) {
            int64_t p = v[k];
            s = ((f[q] + s2 * (double)q * q) - (f[p] + s2 * (double)p * p)) / (2.0 * s2 * (double)(q - p));
            if (s > z[k]) break;
            k--; /* z[0] = -inf, so k never drops below 0 */
        }
        k++;
        v[k] = q;
        z[k] = s;
        z[k + 1] = 1e300;
    }
    k = 0;
    for (int64_t q = 0; q < n; q++) {
        while (z[k + 1] < (double)q) k++;
        double dq = (double)(q - v[k]);
        d[q] = (float)(s2 * dq * dq + f[v[k]]);
    }
}

qr_status ph_edt_sq(const uint8_t *fg, const int64_t n[3], const double sp[3], float *out) {
    int64_t nmax = n[0] > n[1] ? n[0] : n[1];
    if (n[2] > nmax) nmax = n[2];
    int64_t nv = n[0] * n[1] * n[2];
    float *fl = malloc(sizeof(float) * (size_t)nmax), *dl = malloc(sizeof(float) * (size_t)nmax);
    int64_t *v = malloc(sizeof(int64_t) * (size_t)nmax);
    double *z = malloc(sizeof(double) * (size_t)(nmax + 1));
    if (!fl || !dl || !v || !z) {
        free(fl), free(dl), free(v), free(z);
        return qr_fail(QR_ERR_NOMEM, "distance transform: out of memory");
    }
    for (int64_t i = 0; i < nv; i++) out[i] = fg[i] ? EDT_INF : 0.0f;
    int64_t stride[3] = {1, n[0], n[0] * n[1]};
    for (int ax = 0; ax < 3; ax++) {
        int a1 = (ax + 1) % 3, a2 = (ax + 2) % 3;
        for (int64_t u = 0; u < n[a1]; u++)
            for (int64_t w = 0; w < n[a2]; w++) {
                int64_t base = u * stride[a1] + w * stride[a2];
                for (int64_t q = 0; q < n[ax]; q++) fl[q] = out[base + q * stride[ax]];
                edt_1d(fl, n[ax], sp[ax], dl, v, z);
                for (int64_t q = 0; q < n[ax]; q++) out[base + q * stride[ax]] = dl[q];
            }
    }
    free(fl), free(dl), free(v), free(z);
    return QR_OK;
}
