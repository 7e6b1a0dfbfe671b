/*
 * lesions.c - one lesion: its random appearance, its placement on the simulation grid and what it
 * does to the susceptibility and the FLAIR.
 *
 * Placement. A library lesion (binary, 1 mm, centre of mass c_lib) is put at c_mni in the anatomy
 * with a flip of the left-right axis, a rotation R and a scale a:
 *     mni = c_mni + a R flip(q),  q = offset from c_lib (mm)
 * and reaches the subject through its pose (pose.c). For a simulation voxel at subject position s:
 *     q = flip(R^T (mni(s) - c_mni) / a)  ->  occupancy occ(s) = trilinear(library mask, c_lib + q)
 * Lesion voxels are those with occ >= 0.5. A placement is accepted when all lesion voxels are in the
 * brain, >= PH_WM_SHARE_MIN of them in white matter, <= PH_CSF_SHARE_MAX in CSF, none on or next to
 * another lesion (except a deliberate touching placement, which must be in contact), and the lesion
 * keeps >= PH_MIN_OUT_VOXELS voxels on the output grid.
 *
 * Susceptibility inside (chi_bg: background, all in ppb vs NAWM):
 *     chi = (1 - occ) chi_bg + occ L(s) + rim_ppb rho(s) g(u)
 *     L(s)   = core_ppb + tex_ppb T1(s) + hetero_core_ppb max(0, T2(s))
 *              T1, T2: smooth random textures, sums of 4 plane waves (wavelength 4-8 mm), sd ~ 1
 *     rho(s) = band(d(s)) sel(u)       rim weight in [0, 1]
 *       d     signed distance to the lesion surface (negative inside), from two distance transforms
 *             in which distances along the slice axis count PH_RIM_Z_STRETCH times: the rim is a closed
 *             shell, thinner across the slices than in-plane, so that a 3 mm slice through a lesion's
 *             top or bottom is not filled by it (rims are read in-plane) [A]
 *       band  1 for -w_in <= d <= w_out, falling to 0 over 0.375 mm beyond      (w_in: 1-2 voxels)
 *       u     unit vector from the lesion's centre of mass to s
 *       sel   1 where f(u) >= tau, f(u) = sum_m a_m exp(kappa_m (u.v_m - 1)) (random bumps on the
 *             sphere): the rim covers an irregular part of the edge; tau is the quantile of f over the
 *             lesion's in-plane edge voxels on the output grid that gives the wanted coverage
 *       g     1 + het tanh(sum_m b_m u.w_m): amplitude varies along the rim (heterogeneity)
 * Coverage (the truth column) is measured on the output grid: the share of the lesion's in-plane
 * edge voxels whose mean rho over their 4 thin slices is >= 0.3. A rim+ lesion must reach >= 0.5 (the
 * reading criterion); a partial rim (rim-) must stay below 0.5; tau is moved until they do.
 *
 * FLAIR: flair = (1 - occ) flair_bg + occ ratio flair_nawm (1 + 0.03 T1(s)),
 *        ratio PH_FLAIR_RATIO_MIN .. PH_FLAIR_RATIO_MAX (see phantom_params.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phantom_internal.h"

#define DEG (3.14159265358979323846 / 180.0)
#define TWO_PI 6.28318530717958647692
#define RHO_RIM 0.3 /* mean rim weight of an output voxel that counts as rim */

/* ---- random appearance ---- */

void ph_lesion_draw_params(const ph_library *lib, int rimpos, qr_rng *r, ph_lesion *L) {
    memset(L, 0, sizeof *L);
    L->touching_with = -1;
    L->rim = rimpos;
    L->lib = ph_library_draw(lib, rimpos, r);
    const double vol = lib->items[L->lib].volume_mm3;
    L->scale = qr_rng_range(r, PH_SCALE_MIN, PH_SCALE_MAX);
    ph_rotation(qr_rng_range(r, -PH_ROT_DEG, PH_ROT_DEG) * DEG, qr_rng_range(r, -PH_ROT_DEG, PH_ROT_DEG) * DEG,
                qr_rng_range(r, -PH_ROT_DEG, PH_ROT_DEG) * DEG, L->R);
    L->flip = qr_rng_uniform(r) < 0.5;
    L->tex_ppb = qr_rng_range(r, 2.0, 5.0);
    L->flair_ratio = qr_rng_range(r, PH_FLAIR_RATIO_MIN, PH_FLAIR_RATIO_MAX);
    if (rimpos) {
        L->app = QR_PHANTOM_APP_RIM;
        L->rim_ppb = PH_RIM_PPB_MIN + (PH_RIM_PPB_MAX - PH_RIM_PPB_MIN) * ph_beta(r, 1.3, 1.7);
        L->rim_w_in = qr_rng_range(r, PH_RIM_WIDTH_MIN, PH_RIM_WIDTH_MAX);
        L->rim_w_out = qr_rng_range(r, 0.0, 0.5);
        L->rim_cover_target = PH_RIM_COVER_MIN + (1.0 - PH_RIM_COVER_MIN) * ph_beta(r, 1.2, 1.2);
        L->core_ppb = qr_rng_range(r, PH_RIM_CORE_MIN, PH_RIM_CORE_MAX);
        L->rim_het = qr_rng_range(r, 0.0, 0.5);
        double u = qr_rng_uniform(r);
        if (u < PH_P_FAINT_RIM) {
            L->conf |= QR_PHANTOM_CONF_FAINT_RIM;
            L->rim_ppb = qr_rng_range(r, PH_RIM_PPB_MIN, PH_FAINT_RIM_PPB_MAX);
            L->rim_cover_target = qr_rng_range(r, PH_RIM_COVER_MIN, 0.68);
            L->rim_w_in = qr_rng_range(r, PH_RIM_WIDTH_MIN, 1.0);
        } else if (u < PH_P_FAINT_RIM + PH_P_HETERO_RIM) {
            L->conf |= QR_PHANTOM_CONF_HETEROGENEOUS_RIM;
            L->rim_het = qr_rng_range(r, 0.5, 0.8);
            L->hetero_core_ppb = qr_rng_range(r, 5.0, 15.0);
        }
    } else {
        double u = qr_rng_uniform(r);
        if (u < PH_P_ISO || (u >= PH_P_ISO + PH_P_HYPO + PH_P_HYPER && vol < 30.0)) {
            L->app = QR_PHANTOM_APP_ISO;
            L->core_ppb = ph_clamp(PH_ISO_MEAN + PH_ISO_SD * qr_rng_normal(r), -4.0, 12.0);
        } else if (u < PH_P_ISO + PH_P_HYPO) {
            L->app = QR_PHANTOM_APP_HYPO;
            L->core_ppb = qr_rng_range(r, PH_HYPO_MIN, PH_HYPO_MAX);
        } else if (u < PH_P_ISO + PH_P_HYPO + PH_P_HYPER) {
            L->app = QR_PHANTOM_APP_HYPER;
            L->core_ppb = ph_clamp(PH_HYPER_MEAN + PH_HYPER_SD * qr_rng_normal(r), PH_HYPER_MIN, PH_HYPER_MAX);
        } else {
            L->app = QR_PHANTOM_APP_PARTIAL_RIM;
            L->core_ppb = ph_clamp(PH_ISO_MEAN + PH_ISO_SD * qr_rng_normal(r), -4.0, 12.0);
            L->rim_ppb = PH_RIM_PPB_MIN + (PH_RIM_PPB_MAX - PH_RIM_PPB_MIN) * ph_beta(r, 1.3, 1.7);
            L->rim_w_in = qr_rng_range(r, PH_RIM_WIDTH_MIN, PH_RIM_WIDTH_MAX);
            L->rim_w_out = qr_rng_range(r, 0.0, 0.5);
            L->rim_cover_target = qr_rng_range(r, 0.15, 0.40);
            L->rim_het = qr_rng_range(r, 0.0, 0.5);
        }
        if (vol >= 20.0 && qr_rng_uniform(r) < PH_P_VEIN_EDGE) L->conf |= QR_PHANTOM_CONF_VEIN_EDGE;
    }
    if (vol >= 15.0 && qr_rng_uniform(r) < PH_P_CENTRAL_VEIN) L->conf |= QR_PHANTOM_CONF_CENTRAL_VEIN;
}

/* ---- placement ---- */

static int64_t box_count(const ph_lesion *L, int d) { return L->b1[d] - L->b0[d] + 1; }

static float lib_sample(const ph_lib_lesion *e, const double ijk[3]) {
    double f[3] = {ijk[0], ijk[1], ijk[2]};
    if (f[0] < 0 || f[1] < 0 || f[2] < 0 || f[0] >= e->n[0] - 1 || f[1] >= e->n[1] - 1 || f[2] >= e->n[2] - 1) return 0.0f;
    int i0 = (int)f[0], j0 = (int)f[1], k0 = (int)f[2];
    double fx = f[0] - i0, fy = f[1] - j0, fz = f[2] - k0;
    const int64_t sy = e->n[0], sz = (int64_t)e->n[0] * e->n[1];
    const uint8_t *p = e->mask + i0 + sy * j0 + sz * k0;
    double v = (1 - fx) * (1 - fy) * (1 - fz) * p[0] + fx * (1 - fy) * (1 - fz) * p[1] + (1 - fx) * fy * (1 - fz) * p[sy] +
               fx * fy * (1 - fz) * p[sy + 1] + (1 - fx) * (1 - fy) * fz * p[sz] + fx * (1 - fy) * fz * p[sz + 1] +
               (1 - fx) * fy * fz * p[sz + sy] + fx * fy * fz * p[sz + sy + 1];
    return (float)v;
}

int ph_lesion_rasterise(const qr_phantom_model *m, ph_work *w, ph_lesion *L, int touch) {
    const ph_lib_lesion *e = &m->lib.items[L->lib];
    free(L->occ);
    L->occ = NULL;
    double sc[3], fc[3];
    ph_pose_from_mni(&w->pose, L->c_mni, sc);
    ph_subject_to_fine(w, sc, fc);
    const double half = (e->radius_mm * L->scale + 4.0) / PH_H;
    const int64_t n[3] = {PH_NX, PH_NY, w->nzf};
    for (int d = 0; d < 3; d++) {
        L->b0[d] = (int64_t)floor(fc[d] - half);
        L->b1[d] = (int64_t)ceil(fc[d] + half);
        if (L->b0[d] < 2 || L->b1[d] > n[d] - 3) return 0; /* too close to the grid's edge */
    }
    const int64_t bx = box_count(L, 0), by = box_count(L, 1), bz = box_count(L, 2), nb = bx * by * bz;
    L->occ = malloc(sizeof(float) * (size_t)nb);
    if (!L->occ) return 0;
    double RT[9];
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) RT[3 * a + b] = L->R[3 * b + a];
    int64_t members = 0, in_wm = 0, in_csf = 0;
    double cen[3] = {0, 0, 0};
    int bad = 0;
    for (int64_t k = 0; k < bz && !bad; k++)
        for (int64_t j = 0; j < by && !bad; j++)
            for (int64_t i = 0; i < bx; i++) {
                double s[3], mni[3], q[3], ijk[3];
                ph_fine_to_subject(w, (double)(L->b0[0] + i), (double)(L->b0[1] + j), (double)(L->b0[2] + k), s);
                ph_pose_to_mni(&w->pose, s, mni);
                double d[3] = {mni[0] - L->c_mni[0], mni[1] - L->c_mni[1], mni[2] - L->c_mni[2]};
                for (int r = 0; r < 3; r++) q[r] = (RT[3 * r] * d[0] + RT[3 * r + 1] * d[1] + RT[3 * r + 2] * d[2]) / L->scale;
                if (L->flip) q[0] = -q[0];
                for (int r = 0; r < 3; r++)
                    ijk[r] = e->centroid_ijk[r] + e->ras_to_ijk[3 * r] * q[0] + e->ras_to_ijk[3 * r + 1] * q[1] +
                             e->ras_to_ijk[3 * r + 2] * q[2];
                float o = lib_sample(e, ijk);
                L->occ[i + bx * (j + by * k)] = o;
                if (o < 0.5f) continue;
                if (i < 2 || j < 2 || k < 2 || i >= bx - 2 || j >= by - 2 || k >= bz - 2) {
                    bad = 1; /* the box was too small (deformation larger than the margin) */
                    break;
                }
                int64_t v = (L->b0[0] + i) + PH_NX * ((L->b0[1] + j) + (int64_t)PH_NY * (L->b0[2] + k));
                if (!w->brain[v] || w->lid[v]) {
                    bad = 1;
                    break;
                }
                members++;
                in_wm += w->wm[v] >= 128;
                in_csf += w->csf[v] >= 128;
                for (int r = 0; r < 3; r++) cen[r] += s[r];
            }
    if (bad || members == 0 || (double)in_wm < PH_WM_SHARE_MIN * members || (double)in_csf > PH_CSF_SHARE_MAX * members) {
        free(L->occ);
        L->occ = NULL;
        return 0;
    }
    /* neighbours: no contact with other lesions, except the one a touching lesion must touch */
    int contact = 0;
    for (int64_t k = 1; k < bz - 1 && !bad; k++)
        for (int64_t j = 1; j < by - 1 && !bad; j++)
            for (int64_t i = 1; i < bx - 1 && !bad; i++) {
                if (L->occ[i + bx * (j + by * k)] < 0.5f) continue;
                int64_t v = (L->b0[0] + i) + PH_NX * ((L->b0[1] + j) + (int64_t)PH_NY * (L->b0[2] + k));
                for (int dk = -1; dk <= 1 && !bad; dk++)
                    for (int dj = -1; dj <= 1 && !bad; dj++)
                        for (int di = -1; di <= 1; di++) {
                            int16_t o = w->lid[v + di + PH_NX * (dj + (int64_t)PH_NY * dk)];
                            if (!o) continue;
                            if (touch >= 0 && o == touch + 1) {
                                contact = 1;
                                continue;
                            }
                            bad = 1;
                            break;
                        }
            }
    if (bad || (touch >= 0 && !contact)) {
        free(L->occ);
        L->occ = NULL;
        return 0;
    }
    /* voxels on the output grid (its own: >= 2 of the 4 thin slices) */
    int64_t own = 0;
    for (int64_t j = 0; j < by; j++)
        for (int64_t i = 0; i < bx; i++) {
            int64_t kc0 = L->b0[2] / PH_SUB, kc1 = L->b1[2] / PH_SUB;
            for (int64_t kc = kc0; kc <= kc1; kc++) {
                int c = 0;
                for (int s = 0; s < PH_SUB; s++) {
                    int64_t kf = kc * PH_SUB + s - L->b0[2];
                    if (kf >= 0 && kf < bz && L->occ[i + bx * (j + by * kf)] >= 0.5f) c++;
                }
                own += c >= 2;
            }
        }
    if (own < PH_MIN_OUT_VOXELS) {
        free(L->occ);
        L->occ = NULL;
        return 0;
    }
    L->fine_vox = members;
    L->own_out_vox = own;
    for (int r = 0; r < 3; r++) L->centroid[r] = cen[r] / (double)members;
    double rmax = 0;
    for (int64_t k = 0; k < bz; k++)
        for (int64_t j = 0; j < by; j++)
            for (int64_t i = 0; i < bx; i++) {
                if (L->occ[i + bx * (j + by * k)] < 0.5f) continue;
                double s[3];
                ph_fine_to_subject(w, (double)(L->b0[0] + i), (double)(L->b0[1] + j), (double)(L->b0[2] + k), s);
                double r2 = 0;
                for (int r = 0; r < 3; r++) r2 += (s[r] - L->centroid[r]) * (s[r] - L->centroid[r]);
                if (r2 > rmax) rmax = r2;
            }
    L->radius_mm = sqrt(rmax) + 0.5 * PH_H;
    if (touch >= 0) {
        L->touching_with = touch;
        L->conf |= QR_PHANTOM_CONF_TOUCHING;
    }
    return 1;
}

/* ---- painting ---- */

/* A smooth random texture: sum of 4 plane waves, sd ~ 1. */
typedef struct texture {
    double k[4][3], phase[4];
} texture;

static void texture_draw(qr_rng *r, texture *t) {
    for (int m = 0; m < 4; m++) {
        double v[3], n = 0;
        for (int d = 0; d < 3; d++) v[d] = qr_rng_normal(r), n += v[d] * v[d];
        n = sqrt(n) + 1e-12;
        double kk = TWO_PI / qr_rng_range(r, 4.0, 8.0);
        for (int d = 0; d < 3; d++) t->k[m][d] = kk * v[d] / n;
        t->phase[m] = qr_rng_range(r, 0, TWO_PI);
    }
}

static double texture_at(const texture *t, const double s[3]) {
    double v = 0;
    for (int m = 0; m < 4; m++) v += cos(t->k[m][0] * s[0] + t->k[m][1] * s[1] + t->k[m][2] * s[2] + t->phase[m]);
    return v * 0.70710678118654752; /* sqrt(2/4) */
}

/* Random functions on the sphere: f (rim selection) and g (amplitude heterogeneity). */
typedef struct sphere_fn {
    double v[4][3], a[4], kappa[4];
    double w[3][3], b[3];
} sphere_fn;

static void unit_vector(qr_rng *r, double v[3]) {
    double n = 0;
    for (int d = 0; d < 3; d++) v[d] = qr_rng_normal(r), n += v[d] * v[d];
    n = sqrt(n) + 1e-12;
    for (int d = 0; d < 3; d++) v[d] /= n;
}

static void sphere_draw(qr_rng *r, sphere_fn *f) {
    for (int m = 0; m < 4; m++) {
        unit_vector(r, f->v[m]);
        f->a[m] = qr_rng_range(r, 0.5, 1.0);
        f->kappa[m] = qr_rng_range(r, 1.5, 4.0);
    }
    for (int m = 0; m < 3; m++) {
        unit_vector(r, f->w[m]);
        f->b[m] = 1.5 * qr_rng_normal(r);
    }
}

static double sphere_f(const sphere_fn *f, const double u[3]) {
    double v = 0;
    for (int m = 0; m < 4; m++) v += f->a[m] * exp(f->kappa[m] * (u[0] * f->v[m][0] + u[1] * f->v[m][1] + u[2] * f->v[m][2] - 1.0));
    return v;
}

static double sphere_g(const sphere_fn *f, const double u[3], double het) {
    double v = 0;
    for (int m = 0; m < 3; m++) v += f->b[m] * (u[0] * f->w[m][0] + u[1] * f->w[m][1] + u[2] * f->w[m][2]);
    return 1.0 + het * tanh(v);
}

static void direction(const double c[3], const double s[3], double u[3]) {
    double n = 0;
    for (int d = 0; d < 3; d++) u[d] = s[d] - c[d], n += u[d] * u[d];
    n = sqrt(n);
    if (n < 1e-9) {
        u[0] = 0, u[1] = 0, u[2] = 1;
        return;
    }
    for (int d = 0; d < 3; d++) u[d] /= n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

qr_status ph_lesion_paint(const qr_phantom_model *m, ph_work *w, ph_lesion *L, int idx, qr_rng *r) {
    const int64_t bx = box_count(L, 0), by = box_count(L, 1), bz = box_count(L, 2), nb = bx * by * bz;
    const int has_rim = L->rim_ppb > 0;
    qr_status st = QR_OK;
    uint8_t *mem = malloc((size_t)nb), *nmem = malloc((size_t)nb);
    float *din = malloc(sizeof(float) * (size_t)nb), *dout = malloc(sizeof(float) * (size_t)nb);
    float *band = malloc(sizeof(float) * (size_t)nb), *fval = malloc(sizeof(float) * (size_t)nb);
    /* output-grid columns of the box: own mask and edges */
    const int64_t kc0 = L->b0[2] / PH_SUB, kc1 = L->b1[2] / PH_SUB, ncz = kc1 - kc0 + 1, ncb = bx * by * ncz;
    uint8_t *own = calloc((size_t)ncb, 1);
    double *edge_f = malloc(sizeof(double) * (size_t)ncb);
    int64_t *edge_idx = malloc(sizeof(int64_t) * (size_t)ncb);
    if (!mem || !nmem || !din || !dout || !band || !fval || !own || !edge_f || !edge_idx) {
        st = qr_fail(QR_ERR_NOMEM, "lesion painting: out of memory");
        goto done;
    }
    for (int64_t v = 0; v < nb; v++) mem[v] = L->occ[v] >= 0.5f, nmem[v] = !mem[v];
    const int64_t bn[3] = {bx, by, bz};
    const double sp[3] = {PH_H, PH_H, PH_H * PH_RIM_Z_STRETCH}; /* see the file comment */
    st = ph_edt_sq(mem, bn, sp, din);
    if (st == QR_OK) st = ph_edt_sq(nmem, bn, sp, dout);
    if (st != QR_OK) goto done;

    texture t1, t2;
    texture_draw(r, &t1);
    texture_draw(r, &t2);
    sphere_fn sf;
    sphere_draw(r, &sf);

    /* own output-grid mask (>= 2 of 4 thin slices) */
    for (int64_t kc = kc0; kc <= kc1; kc++)
        for (int64_t j = 0; j < by; j++)
            for (int64_t i = 0; i < bx; i++) {
                int c = 0;
                for (int s = 0; s < PH_SUB; s++) {
                    int64_t kf = kc * PH_SUB + s - L->b0[2];
                    if (kf >= 0 && kf < bz && mem[i + bx * (j + by * kf)]) c++;
                }
                own[i + bx * (j + by * (kc - kc0))] = c >= 2;
            }
    /* in-plane edge voxels of the own mask, and f at their directions */
    int64_t ne = 0;
    for (int64_t kc = kc0; kc <= kc1; kc++)
        for (int64_t j = 0; j < by; j++)
            for (int64_t i = 0; i < bx; i++) {
                int64_t c = i + bx * (j + by * (kc - kc0));
                if (!own[c]) continue;
                int edge = i == 0 || j == 0 || i == bx - 1 || j == by - 1 || !own[c - 1] || !own[c + 1] || !own[c - bx] ||
                           !own[c + bx];
                if (!edge) continue;
                double s[3], u[3];
                ph_fine_to_subject(w, (double)(L->b0[0] + i), (double)(L->b0[1] + j), kc * PH_SUB + 1.5, s);
                direction(L->centroid, s, u);
                edge_f[ne] = sphere_f(&sf, u);
                edge_idx[ne] = c;
                ne++;
            }

    /* band weight and f per simulation voxel */
    for (int64_t k = 0; k < bz; k++)
        for (int64_t j = 0; j < by; j++)
            for (int64_t i = 0; i < bx; i++) {
                int64_t v = i + bx * (j + by * k);
                double d = mem[v] ? -(sqrt(din[v]) - 0.5 * PH_H) : (sqrt(dout[v]) - 0.5 * PH_H);
                double b = has_rim ? ph_clamp(1.0 + fmin(d + L->rim_w_in, L->rim_w_out - d) / (0.5 * PH_H), 0, 1) : 0;
                band[v] = (float)b;
                if (b > 0) {
                    double s[3], u[3];
                    ph_fine_to_subject(w, (double)(L->b0[0] + i), (double)(L->b0[1] + j), (double)(L->b0[2] + k), s);
                    direction(L->centroid, s, u);
                    fval[v] = (float)sphere_f(&sf, u);
                } else {
                    fval[v] = 0;
                }
            }

    /* choose tau for the coverage, measure, adapt */
    double tau = 0, coverage = 0;
    if (has_rim && ne > 0) {
        double *sorted = malloc(sizeof(double) * (size_t)ne);
        if (!sorted) {
            st = qr_fail(QR_ERR_NOMEM, "lesion painting: out of memory");
            goto done;
        }
        memcpy(sorted, edge_f, sizeof(double) * (size_t)ne);
        qsort(sorted, (size_t)ne, sizeof(double), cmp_double);
        double target = L->rim_cover_target;
        for (int it = 0; it < 12; it++) {
            int64_t q = (int64_t)floor((1.0 - target) * (double)ne);
            if (q < 0) q = 0;
            tau = q >= ne ? sorted[ne - 1] + 1.0 : sorted[q];
            if (target >= 1.0) tau = -1.0;
            int64_t covered = 0;
            for (int64_t e = 0; e < ne; e++) {
                int64_t c = edge_idx[e];
                int64_t i = c % bx, j = (c / bx) % by, kc = kc0 + c / (bx * by);
                double rho = 0;
                for (int s = 0; s < PH_SUB; s++) {
                    int64_t kf = kc * PH_SUB + s - L->b0[2];
                    if (kf < 0 || kf >= bz) continue;
                    int64_t v = i + bx * (j + by * kf);
                    rho += band[v] * (fval[v] >= tau);
                }
                covered += rho / PH_SUB >= RHO_RIM;
            }
            coverage = (double)covered / (double)ne;
            if (L->rim && coverage < PH_RIM_COVER_MIN) {
                if (target >= 1.0) {
                    if (L->rim_w_in < PH_RIM_WIDTH_MAX) { /* a thicker rim reaches the edge voxels' centres */
                        L->rim_w_in = PH_RIM_WIDTH_MAX;
                        for (int64_t v = 0; v < nb; v++) {
                            double d = mem[v] ? -(sqrt(din[v]) - 0.5 * PH_H) : (sqrt(dout[v]) - 0.5 * PH_H);
                            double b = ph_clamp(1.0 + fmin(d + L->rim_w_in, L->rim_w_out - d) / (0.5 * PH_H), 0, 1);
                            if (b > 0 && band[v] == 0) {
                                int64_t i = v % bx, j = (v / bx) % by, k = v / (bx * by);
                                double s[3], u[3];
                                ph_fine_to_subject(w, (double)(L->b0[0] + i), (double)(L->b0[1] + j), (double)(L->b0[2] + k), s);
                                direction(L->centroid, s, u);
                                fval[v] = (float)sphere_f(&sf, u);
                            }
                            band[v] = (float)b;
                        }
                        continue;
                    }
                    break;
                }
                target = fmin(1.0, target + 0.08);
                continue;
            }
            if (!L->rim && coverage >= PH_RIM_COVER_MIN) {
                target -= 0.08;
                if (target <= 0.02) break;
                continue;
            }
            break;
        }
        free(sorted);
        if (L->rim && coverage < PH_RIM_COVER_MIN) {
            st = QR_ERR_EMPTY; /* caller: place another lesion */
            goto done;
        }
        if (!L->rim && coverage >= PH_RIM_COVER_MIN) {
            /* a partial rim that cannot stay below the criterion: make the lesion isointense */
            L->app = QR_PHANTOM_APP_ISO;
            L->rim_ppb = 0;
            coverage = 0;
        }
    } else if (has_rim) {
        st = QR_ERR_EMPTY;
        goto done;
    }
    L->rim_coverage = L->rim_ppb > 0 ? coverage : 0;

    /* paint */
    const double fl_lesion = m->anat.flair_nawm;
    for (int64_t k = 0; k < bz; k++)
        for (int64_t j = 0; j < by; j++)
            for (int64_t i = 0; i < bx; i++) {
                int64_t v = i + bx * (j + by * k);
                int64_t g = (L->b0[0] + i) + PH_NX * ((L->b0[1] + j) + (int64_t)PH_NY * (L->b0[2] + k));
                double o = L->occ[v];
                double rho = (L->rim_ppb > 0 && fval[v] >= tau) ? band[v] : 0.0;
                if (o <= 0 && rho <= 0) continue;
                double s[3];
                ph_fine_to_subject(w, (double)(L->b0[0] + i), (double)(L->b0[1] + j), (double)(L->b0[2] + k), s);
                double chi = w->chi[g];
                if (o > 0) {
                    double T1 = texture_at(&t1, s);
                    double lv = L->core_ppb + L->tex_ppb * T1 + L->hetero_core_ppb * fmax(0.0, texture_at(&t2, s));
                    chi = (1 - o) * chi + o * lv;
                    w->flair[g] = (float)((1 - o) * w->flair[g] + o * L->flair_ratio * fl_lesion * (1.0 + 0.03 * T1));
                    if (o >= 0.5) {
                        w->lid[g] = (int16_t)(idx + 1);
                        w->locc[g] = (uint8_t)lrint(255.0 * o);
                    }
                }
                if (rho > 0) {
                    double u[3];
                    direction(L->centroid, s, u);
                    chi += L->rim_ppb * rho * sphere_g(&sf, u, L->rim_het);
                }
                w->chi[g] = (float)chi;
            }
    /* rim truth on the output grid: mean rho over the thin slices */
    if (L->rim_ppb > 0)
        for (int64_t kc = kc0; kc <= kc1; kc++)
            for (int64_t j = 0; j < by; j++)
                for (int64_t i = 0; i < bx; i++) {
                    double rho = 0;
                    for (int s = 0; s < PH_SUB; s++) {
                        int64_t kf = kc * PH_SUB + s - L->b0[2];
                        if (kf < 0 || kf >= bz) continue;
                        int64_t v = i + bx * (j + by * kf);
                        rho += band[v] * (fval[v] >= tau);
                    }
                    rho /= PH_SUB;
                    if (rho <= 0) continue;
                    int64_t c = (L->b0[0] + i) + PH_NX * ((L->b0[1] + j) + (int64_t)PH_NY * kc);
                    if (rho > w->rimc[c]) {
                        w->rimc[c] = (float)rho;
                        w->rimo[c] = (int16_t)(idx + 1);
                    }
                }
done:
    free(mem), free(nmem), free(din), free(dout), free(band), free(fval), free(own), free(edge_f), free(edge_idx);
    return st;
}
