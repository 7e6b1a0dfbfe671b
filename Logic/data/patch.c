/* patch.c - lesion crops, patch sampling and the training augmentation (definitions in patch.h). */
#include "patch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void qr_lesion_crop_free(qr_lesion_crop *c) {
    if (!c) return;
    free(c->data);
    memset(c, 0, sizeof *c);
}

qr_status qr_lesion_crop_make(const qr_subject *s, const qr_lesion *l, qr_lesion_crop *out) {
    memset(out, 0, sizeof *out);
    const qr_geometry *g = &s->qsm.geom;
    static const int S[3] = {QR_PATCH_W, QR_PATCH_H, QR_PATCH_D};
    out->lesion_id = l->id;
    for (int a = 0; a < 3; a++) {
        out->origin[a] = l->bbox[a];
        out->size[a] = l->bbox[a + 3] - l->bbox[a] + 1;
        out->spacing[a] = g->spacing[a];
        out->patch_origin[a] = (int64_t)floor(l->center_ijk[a] - (S[a] - 1) / 2.0 + 0.5);
        if (out->size[a] < 1 || l->bbox[a] < 0 || l->bbox[a + 3] >= g->size[a])
            return qr_fail(QR_ERR_INVALID_ARG, "lesion %d: bounding box outside the volume", l->id);
    }
    int64_t nv = out->size[0] * out->size[1] * out->size[2];
    out->data = calloc((size_t)(2 * nv), sizeof *out->data);
    if (!out->data) return qr_fail(QR_ERR_NOMEM, "out of memory for lesion %d", l->id);
    const float *q = qr_volume_f32(&s->qsm), *f = qr_volume_f32(&s->flair);
    const int32_t *lab = qr_volume_i32(&s->labels);
    float inv_ref = (float)(1.0 / s->flair_reference);
    for (int64_t k = 0; k < out->size[2]; k++)
        for (int64_t j = 0; j < out->size[1]; j++)
            for (int64_t i = 0; i < out->size[0]; i++) {
                int64_t v = qr_geometry_index(g, out->origin[0] + i, out->origin[1] + j, out->origin[2] + k);
                if (lab[v] != l->id) continue;
                int64_t c = i + out->size[0] * (j + out->size[1] * k);
                out->data[c] = q[v];
                out->data[nv + c] = f[v] * inv_ref;
                out->voxels++;
            }
    if (out->voxels == 0) {
        qr_lesion_crop_free(out);
        return qr_fail(QR_ERR_EMPTY, "lesion %d has no voxels", l->id);
    }
    return QR_OK;
}

void qr_lesion_crop_sums(const qr_lesion_crop *c, double *sum_qsm2, double *sum_flair, int64_t *n) {
    /* voxels outside the lesion hold 0 and add nothing */
    int64_t nv = c->size[0] * c->size[1] * c->size[2];
    double a = 0, b = 0;
    for (int64_t v = 0; v < nv; v++) {
        a += (double)c->data[v] * c->data[v];
        b += c->data[nv + v];
    }
    *sum_qsm2 = a;
    *sum_flair = b;
    *n = c->voxels;
}

qr_augment_config qr_augment_config_default(void) {
    qr_augment_config c;
    c.p_flip = c.p_affine = c.p_blur = 0.5;
    c.rotation_deg = 5;
    c.scale_lo = 0.95;
    c.scale_hi = 1.05;
    c.sigma_inplane_lo = 0.1;
    c.sigma_inplane_hi = 0.95;
    c.sigma_slice_lo = 0.03;
    c.sigma_slice_hi = 0.3;
    return c;
}

qr_augment qr_augment_identity(void) {
    qr_augment a;
    memset(&a, 0, sizeof a);
    a.flip_axis = -1;
    a.scale[0] = a.scale[1] = a.scale[2] = 1;
    return a;
}

void qr_augment_draw(const qr_augment_config *cfg, qr_rng *rng, qr_augment *out) {
    *out = qr_augment_identity();
    /* always the same number of draws, whatever is applied, so streams stay aligned */
    double u_flip = qr_rng_uniform(rng), u_axis = qr_rng_uniform(rng);
    double u_aff = qr_rng_uniform(rng), rot[3], sc[3];
    for (int a = 0; a < 3; a++) rot[a] = qr_rng_range(rng, -cfg->rotation_deg, cfg->rotation_deg);
    for (int a = 0; a < 3; a++) sc[a] = qr_rng_range(rng, cfg->scale_lo, cfg->scale_hi);
    double u_blur = qr_rng_uniform(rng);
    double s0 = qr_rng_range(rng, cfg->sigma_inplane_lo, cfg->sigma_inplane_hi);
    double s1 = qr_rng_range(rng, cfg->sigma_inplane_lo, cfg->sigma_inplane_hi);
    double s2 = qr_rng_range(rng, cfg->sigma_slice_lo, cfg->sigma_slice_hi);
    if (u_flip < cfg->p_flip) out->flip_axis = (int)(u_axis * 3) > 2 ? 2 : (int)(u_axis * 3);
    if (u_aff < cfg->p_affine) {
        out->affine = 1;
        for (int a = 0; a < 3; a++) {
            out->rot_rad[a] = rot[a] * (3.14159265358979323846 / 180.0);
            out->scale[a] = sc[a];
        }
    }
    if (u_blur < cfg->p_blur) {
        out->sigma[0] = s0;
        out->sigma[1] = s1;
        out->sigma[2] = s2;
    }
}

/* Crop value at integer crop index (0 outside). */
static inline float crop_at(const float *ch, const int64_t size[3], int64_t i, int64_t j, int64_t k) {
    if (i < 0 || j < 0 || k < 0 || i >= size[0] || j >= size[1] || k >= size[2]) return 0.0f;
    return ch[i + size[0] * (j + size[1] * k)];
}

/* Trilinear interpolation of a crop channel at a continuous crop index. */
static float crop_trilinear(const float *ch, const int64_t size[3], double x, double y, double z) {
    double fx = floor(x), fy = floor(y), fz = floor(z);
    int64_t i = (int64_t)fx, j = (int64_t)fy, k = (int64_t)fz;
    double tx = x - fx, ty = y - fy, tz = z - fz;
    double v = 0;
    for (int dk = 0; dk < 2; dk++) {
        double wz = dk ? tz : 1 - tz;
        if (wz == 0) continue;
        for (int dj = 0; dj < 2; dj++) {
            double wy = dj ? ty : 1 - ty;
            if (wy == 0) continue;
            for (int di = 0; di < 2; di++) {
                double wx = di ? tx : 1 - tx;
                if (wx == 0) continue;
                v += wx * wy * wz * crop_at(ch, size, i + di, j + dj, k + dk);
            }
        }
    }
    return (float)v;
}

/* Separable blur of the voxels in the box lo..hi (inclusive, along w, h, d); every voxel outside
 * the box must be 0. The box grows by the kernel radius along each blurred axis. */
static void blur_box(float *chan, const double sigma[3], float *tmp, int lo[3], int hi[3]) {
    static const int S[3] = {QR_PATCH_W, QR_PATCH_H, QR_PATCH_D};
    static const int stride[3] = {1, QR_PATCH_W, QR_PATCH_W * QR_PATCH_H};
    for (int a = 0; a < 3; a++) {
        if (!(sigma[a] > 0)) continue;
        int r = (int)floor(4 * sigma[a] + 0.5);
        if (r < 1) continue; /* a kernel of one tap: identity */
        if (r > S[a] - 1) r = S[a] - 1;
        double kern[64], sum = 0;
        for (int t = -r; t <= r; t++) {
            kern[t + r] = exp(-(double)t * t / (2 * sigma[a] * sigma[a]));
            sum += kern[t + r];
        }
        for (int t = 0; t <= 2 * r; t++) kern[t] /= sum;
        memcpy(tmp, chan, QR_PATCH_VOXELS * sizeof *tmp);
        lo[a] = lo[a] - r < 0 ? 0 : lo[a] - r;
        hi[a] = hi[a] + r > S[a] - 1 ? S[a] - 1 : hi[a] + r;
        for (int d = lo[2]; d <= hi[2]; d++)
            for (int h = lo[1]; h <= hi[1]; h++)
                for (int w = lo[0]; w <= hi[0]; w++) {
                    int pos[3] = {w, h, d};
                    int base = w + QR_PATCH_W * (h + QR_PATCH_H * d);
                    double acc = 0;
                    for (int t = -r; t <= r; t++) {
                        int q = pos[a] + t;
                        if (q < 0 || q >= S[a]) continue;
                        acc += kern[t + r] * tmp[base + t * stride[a]];
                    }
                    chan[base] = (float)acc;
                }
    }
}

void qr_patch_blur(float *chan, const double sigma[3], float *tmp) {
    int lo[3] = {0, 0, 0}, hi[3] = {QR_PATCH_W - 1, QR_PATCH_H - 1, QR_PATCH_D - 1};
    blur_box(chan, sigma, tmp, lo, hi);
}

void qr_patch_index_matrix(const qr_augment *aug, const double spacing[3], double A[3][3]) {
    for (int r = 0; r < 3; r++)
        for (int q = 0; q < 3; q++) A[r][q] = r == q;
    if (!aug || !aug->affine) return;
    /* R = Rz(g) Ry(b) Rx(a) about the i, j, k axes in millimetres; Z = diag(scale);
     * A = Sp^-1 R Z Sp with Sp = diag(spacing): A_rq = (R Z)_rq * s_q / s_r. */
    double ca = cos(aug->rot_rad[0]), sa = sin(aug->rot_rad[0]);
    double cb = cos(aug->rot_rad[1]), sb = sin(aug->rot_rad[1]);
    double cg = cos(aug->rot_rad[2]), sg = sin(aug->rot_rad[2]);
    double Rx[3][3] = {{1, 0, 0}, {0, ca, -sa}, {0, sa, ca}};
    double Ry[3][3] = {{cb, 0, sb}, {0, 1, 0}, {-sb, 0, cb}};
    double Rz[3][3] = {{cg, -sg, 0}, {sg, cg, 0}, {0, 0, 1}};
    double T[3][3], R[3][3];
    for (int r = 0; r < 3; r++)
        for (int q = 0; q < 3; q++) {
            T[r][q] = 0;
            for (int t = 0; t < 3; t++) T[r][q] += Ry[r][t] * Rx[t][q];
        }
    for (int r = 0; r < 3; r++)
        for (int q = 0; q < 3; q++) {
            R[r][q] = 0;
            for (int t = 0; t < 3; t++) R[r][q] += Rz[r][t] * T[t][q];
        }
    for (int r = 0; r < 3; r++)
        for (int q = 0; q < 3; q++) A[r][q] = R[r][q] * aug->scale[q] * (spacing[q] / spacing[r]);
}

void qr_patch_geometry(const qr_lesion_crop *c, const qr_augment *aug, double centre[3], double A[3][3]) {
    static const int S[3] = {QR_PATCH_W, QR_PATCH_H, QR_PATCH_D};
    qr_patch_index_matrix(aug && aug->affine ? aug : NULL, c->spacing, A);
    for (int a = 0; a < 3; a++) centre[a] = (double)(c->patch_origin[a] - c->origin[a]) + (S[a] - 1) / 2.0;
}

/* Inverse of a 3x3 matrix (the augmentation matrices are well conditioned). */
static void inverse3(const double A[3][3], double B[3][3]) {
    double det = A[0][0] * (A[1][1] * A[2][2] - A[1][2] * A[2][1]) - A[0][1] * (A[1][0] * A[2][2] - A[1][2] * A[2][0]) +
                 A[0][2] * (A[1][0] * A[2][1] - A[1][1] * A[2][0]);
    for (int r = 0; r < 3; r++)
        for (int q = 0; q < 3; q++) {
            int r1 = (q + 1) % 3, r2 = (q + 2) % 3, c1 = (r + 1) % 3, c2 = (r + 2) % 3;
            B[r][q] = (A[r1][c1] * A[r2][c2] - A[r1][c2] * A[r2][c1]) / det;
        }
}

void qr_patch_sample(const qr_lesion_crop *c, const qr_intensity_scaling *sc, const qr_augment *aug, float *patch) {
    const int64_t nv = c->size[0] * c->size[1] * c->size[2];
    const float scale[2] = {(float)(1.0 / sc->qsm_scale), (float)(1.0 / sc->flair_scale)};
    static const int S[3] = {QR_PATCH_W, QR_PATCH_H, QR_PATCH_D};
    int affine = aug && aug->affine;
    int flip = aug ? aug->flip_axis : -1;

    double A[3][3], centre[3];
    qr_patch_geometry(c, aug, centre, A);

    /* The support: patch positions (before the flip) whose sampling point lies within one voxel of
     * the crop; everything else samples zeros. Affine: the bounding box of the crop's corners
     * (extended by one voxel) mapped back through A. */
    int lo[3], hi[3];
    if (!affine) {
        for (int a = 0; a < 3; a++) {
            int64_t off = c->patch_origin[a] - c->origin[a];
            int64_t l = -off, h = c->size[a] - 1 - off;
            lo[a] = l < 0 ? 0 : (int)l;
            hi[a] = h > S[a] - 1 ? S[a] - 1 : (int)h;
        }
    } else {
        double B[3][3], mn[3] = {1e30, 1e30, 1e30}, mx[3] = {-1e30, -1e30, -1e30};
        inverse3(A, B);
        for (int corner = 0; corner < 8; corner++) {
            double x[3], u[3];
            for (int a = 0; a < 3; a++) x[a] = ((corner >> a) & 1 ? (double)c->size[a] : -1.0) - centre[a];
            for (int r = 0; r < 3; r++) {
                u[r] = B[r][0] * x[0] + B[r][1] * x[1] + B[r][2] * x[2] + (S[r] - 1) / 2.0;
                if (u[r] < mn[r]) mn[r] = u[r];
                if (u[r] > mx[r]) mx[r] = u[r];
            }
        }
        for (int a = 0; a < 3; a++) {
            double l = floor(mn[a]) - 1, h = ceil(mx[a]) + 1;
            lo[a] = l < 0 ? 0 : (l > S[a] - 1 ? S[a] : (int)l);
            hi[a] = h > S[a] - 1 ? S[a] - 1 : (h < 0 ? -1 : (int)h);
        }
    }
    /* the same box in output coordinates (after the flip) */
    int olo[3] = {lo[0], lo[1], lo[2]}, ohi[3] = {hi[0], hi[1], hi[2]};
    if (flip >= 0) {
        olo[flip] = S[flip] - 1 - hi[flip];
        ohi[flip] = S[flip] - 1 - lo[flip];
    }

    for (int ch = 0; ch < 2; ch++) {
        const float *src = c->data + ch * nv;
        float *dst = patch + ch * QR_PATCH_VOXELS;
        memset(dst, 0, QR_PATCH_VOXELS * sizeof *dst);
        for (int d = olo[2]; d <= ohi[2]; d++)
            for (int h = olo[1]; h <= ohi[1]; h++)
                for (int w = olo[0]; w <= ohi[0]; w++) {
                    int pos[3] = {w, h, d};
                    if (flip >= 0) pos[flip] = S[flip] - 1 - pos[flip];
                    float v;
                    if (!affine) { /* exact voxel read */
                        int64_t x = c->patch_origin[0] - c->origin[0] + pos[0];
                        int64_t y = c->patch_origin[1] - c->origin[1] + pos[1];
                        int64_t z = c->patch_origin[2] - c->origin[2] + pos[2];
                        v = crop_at(src, c->size, x, y, z);
                    } else {
                        double u[3] = {pos[0] - (S[0] - 1) / 2.0, pos[1] - (S[1] - 1) / 2.0, pos[2] - (S[2] - 1) / 2.0};
                        double x[3];
                        for (int r = 0; r < 3; r++) x[r] = centre[r] + A[r][0] * u[0] + A[r][1] * u[1] + A[r][2] * u[2];
                        v = crop_trilinear(src, c->size, x[0], x[1], x[2]);
                    }
                    dst[w + QR_PATCH_W * (h + QR_PATCH_H * d)] = v * scale[ch];
                }
        if (aug && (aug->sigma[0] > 0 || aug->sigma[1] > 0 || aug->sigma[2] > 0) && olo[0] <= ohi[0] &&
            olo[1] <= ohi[1] && olo[2] <= ohi[2]) {
            float tmp[QR_PATCH_VOXELS];
            int blo[3] = {olo[0], olo[1], olo[2]}, bhi[3] = {ohi[0], ohi[1], ohi[2]};
            blur_box(dst, aug->sigma, tmp, blo, bhi);
        }
    }
}
