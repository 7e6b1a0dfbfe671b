/*
 * pose.c - each subject's head: where the one real anatomy sits in the scanner, and how it is bent.
 *
 *   mni(s) = cb + A (s - t) + disp(s)          s: subject RAS mm, mni: anatomy MNI mm
 *   A      = R(pitch, roll, yaw) diag(scale)    pitch +-6 deg, roll +-3, yaw +-4; scale 0.95..1.05
 *                                               per subject with +-2% per axis   [A]
 *   t      translation, sd 2 mm (clipped at 5)  [A]
 *   disp   smooth deformation: displacements drawn at control nodes 24 mm apart (sd 2 mm), smoothed
 *          with [1 2 1]/4 along each axis, trilinear between nodes (|disp| mostly < 3 mm) [A]
 * The head's rotation is relative to B0 (the output grid's k axis), so the dipole field of the
 * same structure differs between subjects, as between real scans.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phantom_internal.h"

#define DEG (3.14159265358979323846 / 180.0)

qr_status ph_pose_draw(const ph_anatomy *a, qr_rng *r, ph_pose *p) {
    memset(p, 0, sizeof *p);
    for (int d = 0; d < 3; d++) p->cb[d] = a->brain_center[d];
    double R[9];
    ph_rotation(qr_rng_range(r, -6, 6) * DEG, qr_rng_range(r, -3, 3) * DEG, qr_rng_range(r, -4, 4) * DEG, R);
    double sc = qr_rng_range(r, 0.95, 1.05);
    double S[9] = {0};
    for (int d = 0; d < 3; d++) S[4 * d] = sc * qr_rng_range(r, 0.98, 1.02);
    ph_mat3_mul(R, S, p->A);
    ph_mat3_inverse(p->A, p->Ainv);
    for (int d = 0; d < 3; d++) p->t[d] = ph_clamp(2.0 * qr_rng_normal(r), -5, 5);

    p->gs = 24.0;
    const double half[3] = {PH_NX * PH_H / 2, PH_NY * PH_H / 2, PH_NZ * PH_SLICE / 2};
    for (int d = 0; d < 3; d++) {
        p->gn[d] = (int)ceil(2 * half[d] / p->gs) + 3;
        p->g0[d] = -half[d] - p->gs;
    }
    const int64_t nn = (int64_t)p->gn[0] * p->gn[1] * p->gn[2];
    p->disp = malloc(sizeof(float) * 3 * (size_t)nn);
    float *tmp = malloc(sizeof(float) * 3 * (size_t)nn);
    if (!p->disp || !tmp) {
        free(tmp);
        ph_pose_free(p);
        return qr_fail(QR_ERR_NOMEM, "subject pose: out of memory");
    }
    for (int64_t i = 0; i < 3 * nn; i++) p->disp[i] = (float)(2.0 * qr_rng_normal(r));
    const int64_t st[3] = {1, p->gn[0], (int64_t)p->gn[0] * p->gn[1]};
    for (int ax = 0; ax < 3; ax++) {
        for (int64_t k = 0; k < p->gn[2]; k++)
            for (int64_t j = 0; j < p->gn[1]; j++)
                for (int64_t i = 0; i < p->gn[0]; i++) {
                    int64_t x[3] = {i, j, k}, idx = i + st[1] * j + st[2] * k;
                    for (int c = 0; c < 3; c++) {
                        double acc = 2 * p->disp[3 * idx + c], wsum = 2;
                        if (x[ax] > 0) acc += p->disp[3 * (idx - st[ax]) + c], wsum += 1;
                        if (x[ax] < p->gn[ax] - 1) acc += p->disp[3 * (idx + st[ax]) + c], wsum += 1;
                        tmp[3 * idx + c] = (float)(acc / wsum);
                    }
                }
        memcpy(p->disp, tmp, sizeof(float) * 3 * (size_t)nn);
    }
    free(tmp);
    return QR_OK;
}

void ph_pose_free(ph_pose *p) {
    if (!p) return;
    free(p->disp);
    memset(p, 0, sizeof *p);
}

void ph_pose_to_mni(const ph_pose *p, const double s[3], double mni[3]) {
    double u[3] = {s[0] - p->t[0], s[1] - p->t[1], s[2] - p->t[2]};
    for (int r = 0; r < 3; r++) mni[r] = p->cb[r] + p->A[3 * r] * u[0] + p->A[3 * r + 1] * u[1] + p->A[3 * r + 2] * u[2];
    double f[3];
    int64_t i0[3];
    for (int d = 0; d < 3; d++) {
        f[d] = ph_clamp((s[d] - p->g0[d]) / p->gs, 0, p->gn[d] - 1.000001);
        i0[d] = (int64_t)f[d];
        f[d] -= (double)i0[d];
    }
    const int64_t sy = p->gn[0], sz = (int64_t)p->gn[0] * p->gn[1];
    const float *b = p->disp + 3 * (i0[0] + sy * i0[1] + sz * i0[2]);
    for (int c = 0; c < 3; c++) {
        double v = 0;
        for (int n8 = 0; n8 < 8; n8++) {
            int dx = n8 & 1, dy = (n8 >> 1) & 1, dz = (n8 >> 2) & 1;
            double w = (dx ? f[0] : 1 - f[0]) * (dy ? f[1] : 1 - f[1]) * (dz ? f[2] : 1 - f[2]);
            v += w * b[3 * (dx + sy * dy + sz * dz) + c];
        }
        mni[c] += v;
    }
}

void ph_pose_from_mni(const ph_pose *p, const double mni[3], double s[3]) {
    double u[3] = {mni[0] - p->cb[0], mni[1] - p->cb[1], mni[2] - p->cb[2]};
    for (int r = 0; r < 3; r++) s[r] = p->t[r] + p->Ainv[3 * r] * u[0] + p->Ainv[3 * r + 1] * u[1] + p->Ainv[3 * r + 2] * u[2];
}

void ph_pose_row_prepare(const ph_pose *p, double sy, double sz, double *nodes) {
    double f[2];
    int64_t i0[2];
    const double sv[2] = {sy, sz};
    for (int d = 0; d < 2; d++) {
        f[d] = ph_clamp((sv[d] - p->g0[d + 1]) / p->gs, 0, p->gn[d + 1] - 1.000001);
        i0[d] = (int64_t)f[d];
        f[d] -= (double)i0[d];
    }
    const int64_t sy_ = p->gn[0], sz_ = (int64_t)p->gn[0] * p->gn[1];
    for (int a = 0; a < p->gn[0]; a++) {
        const float *b = p->disp + 3 * (a + sy_ * i0[0] + sz_ * i0[1]);
        for (int c = 0; c < 3; c++)
            nodes[3 * a + c] = (1 - f[0]) * (1 - f[1]) * b[c] + f[0] * (1 - f[1]) * b[3 * sy_ + c] +
                               (1 - f[0]) * f[1] * b[3 * sz_ + c] + f[0] * f[1] * b[3 * (sy_ + sz_) + c];
    }
}

void ph_pose_row_to_mni(const ph_pose *p, const double *nodes, const double s[3], double mni[3]) {
    double u[3] = {s[0] - p->t[0], s[1] - p->t[1], s[2] - p->t[2]};
    double f = ph_clamp((s[0] - p->g0[0]) / p->gs, 0, p->gn[0] - 1.000001);
    int64_t a = (int64_t)f;
    f -= (double)a;
    for (int r = 0; r < 3; r++)
        mni[r] = p->cb[r] + p->A[3 * r] * u[0] + p->A[3 * r + 1] * u[1] + p->A[3 * r + 2] * u[2] +
                 (1 - f) * nodes[3 * a + r] + f * nodes[3 * (a + 1) + r];
}
