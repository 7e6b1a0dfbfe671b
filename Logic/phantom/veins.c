/*
 * veins.c - veins as paramagnetic tubes with partial volume.
 *
 * Blood susceptibility: chi_v ~ Hct (1 - Y) 3.43 ppm ~ 0.55 ppm [Q]; each vein draws
 * PH_CHI_VEIN_MIN..MAX. A tube of radius r adds to a simulation voxel (size h) at distance d from its
 * axis
 *     chi_v clamp((r_e - d)/h + 1/2, 0, 1) (r / r_e)^2,    r_e = max(r, h/2)
 * i.e. the voxel's share of the vessel's cross-section for r >= h/2, and for thinner veins a line of
 * one voxel width whose value is scaled by the vessel's area (partial volume): a medullary vein of radius 0.2 mm
 * reaches ~0.3 chi_v on the 0.75 mm grid and far less after 3 mm slices and the inversion, as in
 * clinical QSM.
 *
 * Kinds (per subject, subject mm; MNI positions go through the pose's inverse):
 *   medullary  short (8-25 mm), thin (radius 0.1-0.25 mm) veins in deep white matter running towards the
 *              lateral ventricles
 *   deep       internal cerebral veins, vein of Galen, straight sinus, thalamostriate veins and basal
 *              veins of Rosenthal along fixed MNI control points (jittered by 1.5 mm)
 *   cortical   20-60 mm long veins of radius 0.5-1.1 mm that follow the brain surface
 *   central    a vein through a lesion (central vein sign), radius 0.15-0.3 mm
 *   edge       a vein hugging a rim- lesion's edge over 90-200 degrees (the rim-like confounder)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phantom_internal.h"

#define DEG (3.14159265358979323846 / 180.0)

static double dot3(const double a[3], const double b[3]) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

static void normalise(double v[3]) {
    double n = sqrt(dot3(v, v));
    if (n < 1e-12) {
        v[0] = 1, v[1] = 0, v[2] = 0;
        return;
    }
    for (int d = 0; d < 3; d++) v[d] /= n;
}

void ph_tube(ph_work *w, const double *pts, int np, double radius, double chi_ppb) {
    if (np < 2) return;
    const double h = PH_H, re = fmax(radius, 0.5 * h), scale = (radius / re) * (radius / re);
    const int64_t n[3] = {PH_NX, PH_NY, w->nzf};
    for (int sg = 0; sg + 1 < np; sg++) {
        const double *a = pts + 3 * sg, *b = pts + 3 * (sg + 1);
        double ab[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
        double len2 = dot3(ab, ab);
        if (len2 < 1e-12) continue;
        double fa[3], fb[3];
        ph_subject_to_fine(w, a, fa);
        ph_subject_to_fine(w, b, fb);
        int64_t lo[3], hi[3];
        double pad = (re + h) / h + 1;
        int skip = 0;
        for (int d = 0; d < 3; d++) {
            lo[d] = (int64_t)floor(fmin(fa[d], fb[d]) - pad);
            hi[d] = (int64_t)ceil(fmax(fa[d], fb[d]) + pad);
            if (lo[d] < 0) lo[d] = 0;
            if (hi[d] > n[d] - 1) hi[d] = n[d] - 1;
            if (lo[d] > hi[d]) skip = 1;
        }
        if (skip) continue;
        const int first = sg == 0, last = sg + 2 == np;
        for (int64_t k = lo[2]; k <= hi[2]; k++)
            for (int64_t j = lo[1]; j <= hi[1]; j++)
                for (int64_t i = lo[0]; i <= hi[0]; i++) {
                    double s[3];
                    ph_fine_to_subject(w, (double)i, (double)j, (double)k, s);
                    double as[3] = {s[0] - a[0], s[1] - a[1], s[2] - a[2]};
                    double t = dot3(as, ab) / len2;
                    /* each voxel belongs to one segment: t in [0,1), the end caps to the end segments */
                    if ((t < 0 && !first) || (t >= 1 && !last)) continue;
                    double tc = ph_clamp(t, 0, 1);
                    double dd[3] = {as[0] - tc * ab[0], as[1] - tc * ab[1], as[2] - tc * ab[2]};
                    double dist = sqrt(dot3(dd, dd));
                    double frac = ph_clamp((re - dist) / h + 0.5, 0, 1) * scale;
                    if (frac > 0) w->chi[i + PH_NX * (j + (int64_t)PH_NY * k)] += (float)(chi_ppb * frac);
                }
    }
}

/* Tissue at a subject position (nearest simulation voxel); -1 outside the grid. */
static int fine_index(const ph_work *w, const double s[3], int64_t *out) {
    double f[3];
    ph_subject_to_fine(w, s, f);
    int64_t i = lrint(f[0]), j = lrint(f[1]), k = lrint(f[2]);
    if (i < 0 || j < 0 || k < 0 || i >= PH_NX || j >= PH_NY || k >= w->nzf) return 0;
    *out = i + PH_NX * (j + (int64_t)PH_NY * k);
    return 1;
}

static double vein_chi(qr_rng *r) { return qr_rng_range(r, PH_CHI_VEIN_MIN, PH_CHI_VEIN_MAX); }

/* Random simulation voxel with the given minimum WM fraction (x255) inside the brain; 0 if none found. */
static int random_voxel(const ph_work *w, qr_rng *r, int wm_min, int64_t *out) {
    for (int t = 0; t < 200; t++) {
        int64_t v = (int64_t)qr_rng_below(r, (uint64_t)w->nf);
        if (w->brain[v] && w->wm[v] >= wm_min) {
            *out = v;
            return 1;
        }
    }
    return 0;
}

static void fine_position(const ph_work *w, int64_t v, double s[3]) {
    int64_t i = v % PH_NX, j = (v / PH_NX) % PH_NY, k = v / ((int64_t)PH_NX * PH_NY);
    ph_fine_to_subject(w, (double)i, (double)j, (double)k, s);
}

/* Lateral ventricle bodies in subject space (MNI +-16, -12, 18). */
static void ventricle_target(const ph_work *w, const double s[3], double out[3]) {
    double left[3] = {-16, -12, 18}, right[3] = {16, -12, 18}, sl[3], sr[3];
    ph_pose_from_mni(&w->pose, left, sl);
    ph_pose_from_mni(&w->pose, right, sr);
    double dl = 0, dr = 0;
    for (int d = 0; d < 3; d++) dl += (s[d] - sl[d]) * (s[d] - sl[d]), dr += (s[d] - sr[d]) * (s[d] - sr[d]);
    memcpy(out, dl < dr ? sl : sr, sizeof(double) * 3);
}

static void medullary(ph_work *w, qr_rng *r) {
    int n = PH_MEDULLARY_MIN + (int)qr_rng_below(r, PH_MEDULLARY_MAX - PH_MEDULLARY_MIN + 1);
    double pts[3 * 40];
    for (int v = 0; v < n; v++) {
        int64_t start;
        if (!random_voxel(w, r, 204, &start)) continue;
        double p[3], tgt[3], dir[3];
        fine_position(w, start, p);
        ventricle_target(w, p, tgt);
        for (int d = 0; d < 3; d++) dir[d] = tgt[d] - p[d];
        dir[2] *= 0.5;
        normalise(dir);
        double len = qr_rng_range(r, 8, 25), rad = qr_rng_range(r, 0.1, 0.25), chi = vein_chi(r);
        int np = 0;
        memcpy(pts, p, sizeof p);
        np = 1;
        for (int s = 1; s <= (int)len && np < 40; s++) {
            for (int d = 0; d < 3; d++) dir[d] += 0.15 * qr_rng_normal(r);
            normalise(dir);
            for (int d = 0; d < 3; d++) p[d] += dir[d];
            int64_t q;
            if (!fine_index(w, p, &q)) break;
            if (s > 3 && w->wm[q] < 77) break;
            memcpy(pts + 3 * np, p, sizeof p);
            np++;
        }
        ph_tube(w, pts, np, rad, chi);
    }
}

/* Deep veins: MNI control points, radius. Left-right pairs are listed with x > 0 and mirrored. */
typedef struct deep_vein {
    double c[5][3];
    int nc;
    double radius;
    int bilateral;
} deep_vein;

static const deep_vein DEEP[] = {
    {{{2.5, -2, 14}, {2, -20, 14}, {1.5, -35, 8}, {0.5, -41, 4}}, 4, 1.0, 1}, /* internal cerebral vein */
    {{{0, -41, 4}, {0, -48, 6}, {0, -60, 8}, {0, -75, 10}, {0, -88, 12}}, 5, 1.8, 0}, /* Galen, straight sinus */
    {{{20, -25, 22}, {14, -10, 20}, {6, -2, 15}, {2.5, -2, 14}}, 4, 0.6, 1},  /* thalamostriate vein */
    {{{18, 2, -12}, {20, -15, -8}, {14, -30, -2}, {6, -40, 2}, {0.5, -41, 4}}, 5, 0.8, 1}, /* basal vein */
};

static void deep(ph_work *w, qr_rng *r) {
    double pts[3 * 200];
    for (size_t e = 0; e < sizeof DEEP / sizeof DEEP[0]; e++) {
        const deep_vein *dv = &DEEP[e];
        for (int side = 0; side < (dv->bilateral ? 2 : 1); side++) {
            double chi = vein_chi(r), ctl[5][3];
            for (int c = 0; c < dv->nc; c++) {
                double mni[3] = {side ? -dv->c[c][0] : dv->c[c][0], dv->c[c][1], dv->c[c][2]};
                for (int d = 0; d < 3; d++) mni[d] += 1.5 * qr_rng_normal(r);
                ph_pose_from_mni(&w->pose, mni, ctl[c]);
            }
            int np = 0;
            for (int c = 0; c + 1 < dv->nc; c++) {
                double seg[3], len = 0;
                for (int d = 0; d < 3; d++) seg[d] = ctl[c + 1][d] - ctl[c][d], len += seg[d] * seg[d];
                len = sqrt(len);
                int steps = (int)ceil(len);
                for (int s = 0; s < steps && np < 199; s++) {
                    double t = (double)s / steps;
                    for (int d = 0; d < 3; d++) pts[3 * np + d] = ctl[c][d] + t * seg[d];
                    np++;
                }
            }
            for (int d = 0; d < 3; d++) pts[3 * np + d] = ctl[dv->nc - 1][d];
            np++;
            ph_tube(w, pts, np, dv->radius * qr_rng_range(r, 0.85, 1.15), chi);
        }
    }
}

static int brain_at(const ph_work *w, const double s[3]) {
    int64_t q;
    return fine_index(w, s, &q) && w->brain[q];
}

static void cortical(ph_work *w, qr_rng *r) {
    int n = PH_CORTICAL_MIN + (int)qr_rng_below(r, PH_CORTICAL_MAX - PH_CORTICAL_MIN + 1);
    double centre[3], pts[3 * 70];
    ph_pose_from_mni(&w->pose, w->pose.cb, centre);
    for (int v = 0; v < n; v++) {
        /* a start point just inside the surface: march out from the centre along a random direction */
        double u[3], p[3];
        int found = 0;
        for (int t = 0; t < 20 && !found; t++) {
            for (int d = 0; d < 3; d++) u[d] = qr_rng_normal(r);
            if (u[2] < -0.3) u[2] = -u[2]; /* mostly over the convexity */
            normalise(u);
            double last_in = -1;
            for (double rr = 20; rr < 110; rr += 0.75) {
                double q[3] = {centre[0] + rr * u[0], centre[1] + rr * u[1], centre[2] + rr * u[2]};
                if (brain_at(w, q)) last_in = rr;
            }
            if (last_in > 0) {
                for (int d = 0; d < 3; d++) p[d] = centre[d] + (last_in - 1.0) * u[d];
                found = 1;
            }
        }
        if (!found) continue;
        double tan_[3], tmp[3] = {qr_rng_normal(r), qr_rng_normal(r), qr_rng_normal(r)};
        double pr = dot3(tmp, u);
        for (int d = 0; d < 3; d++) tan_[d] = tmp[d] - pr * u[d];
        normalise(tan_);
        double len = qr_rng_range(r, 20, 60), rad = qr_rng_range(r, 0.5, 1.1), chi = vein_chi(r);
        memcpy(pts, p, sizeof p);
        int np = 1;
        for (int s = 1; s <= (int)len && np < 70; s++) {
            for (int d = 0; d < 3; d++) tan_[d] += 0.12 * qr_rng_normal(r);
            /* keep the direction tangential to the radial direction through the current point */
            double radial[3] = {p[0] - centre[0], p[1] - centre[1], p[2] - centre[2]};
            normalise(radial);
            double q = dot3(tan_, radial);
            for (int d = 0; d < 3; d++) tan_[d] -= q * radial[d];
            normalise(tan_);
            for (int d = 0; d < 3; d++) p[d] += tan_[d];
            /* back onto the surface: outermost brain point along the radial line, minus 1 mm */
            double best = -1;
            for (double o = -6; o <= 6; o += 0.5) {
                double q2[3] = {p[0] + o * radial[0], p[1] + o * radial[1], p[2] + o * radial[2]};
                if (brain_at(w, q2)) best = o;
            }
            if (best < -5.5) break;
            for (int d = 0; d < 3; d++) p[d] += (best - 1.0) * radial[d];
            memcpy(pts + 3 * np, p, sizeof p);
            np++;
        }
        ph_tube(w, pts, np, rad, chi);
    }
}

void ph_veins_background(const qr_phantom_model *m, ph_work *w, qr_rng *r) {
    (void)m;
    medullary(w, r);
    deep(w, r);
    cortical(w, r);
}

void ph_vein_central(ph_work *w, const ph_lesion *L, qr_rng *r) {
    double tgt[3], dir[3], c[3];
    ventricle_target(w, L->centroid, tgt);
    for (int d = 0; d < 3; d++) dir[d] = tgt[d] - L->centroid[d];
    dir[2] *= 0.3;
    normalise(dir);
    for (int d = 0; d < 3; d++) dir[d] += 0.3 * qr_rng_normal(r);
    normalise(dir);
    double off = 0.25 * L->radius_mm;
    for (int d = 0; d < 3; d++) c[d] = L->centroid[d] + off * qr_rng_range(r, -1, 1);
    double ext = L->radius_mm + qr_rng_range(r, 4, 10);
    int np = (int)ceil(2 * ext) + 1;
    if (np > 200) np = 200;
    double pts[3 * 200];
    for (int s = 0; s < np; s++) {
        double t = -ext + 2 * ext * s / (np - 1);
        for (int d = 0; d < 3; d++) pts[3 * s + d] = c[d] + t * dir[d];
    }
    ph_tube(w, pts, np, qr_rng_range(r, 0.15, 0.3), vein_chi(r));
}

void ph_vein_edge(ph_work *w, const ph_lesion *L, int idx, qr_rng *r) {
    /* plane through the centre: normal = z tilted by up to 20 degrees */
    double nrm[3] = {0.35 * qr_rng_range(r, -1, 1), 0.35 * qr_rng_range(r, -1, 1), 1};
    normalise(nrm);
    double e1[3] = {1, 0, 0}, e2[3];
    double q = dot3(e1, nrm);
    for (int d = 0; d < 3; d++) e1[d] -= q * nrm[d];
    normalise(e1);
    e2[0] = nrm[1] * e1[2] - nrm[2] * e1[1];
    e2[1] = nrm[2] * e1[0] - nrm[0] * e1[2];
    e2[2] = nrm[0] * e1[1] - nrm[1] * e1[0];
    double th0 = qr_rng_range(r, 0, 360) * DEG, arc = qr_rng_range(r, 90, 200) * DEG;
    double off = qr_rng_range(r, 0.2, 0.8), rad = qr_rng_range(r, 0.25, 0.45), chi = vein_chi(r);
    double pts[3 * 220];
    int np = 0;
    double step = 1.0 / fmax(L->radius_mm, 1.0); /* ~1 mm along the arc */
    double first_tan[3] = {0, 0, 0}, last_tan[3] = {0, 0, 0};
    for (double th = th0; th <= th0 + arc && np < 180; th += step) {
        double u[3];
        for (int d = 0; d < 3; d++) u[d] = cos(th) * e1[d] + sin(th) * e2[d];
        double rho = 0;
        for (double rr = 0; rr < L->radius_mm + 2; rr += 0.25) {
            double p[3] = {L->centroid[0] + rr * u[0], L->centroid[1] + rr * u[1], L->centroid[2] + rr * u[2]};
            int64_t v;
            if (!fine_index(w, p, &v)) break;
            if (w->lid[v] == idx + 1) rho = rr;
            else if (rr > rho + 1.0) break;
        }
        for (int d = 0; d < 3; d++) pts[3 * np + d] = L->centroid[d] + (rho + off) * u[d];
        double tn[3];
        for (int d = 0; d < 3; d++) tn[d] = -sin(th) * e1[d] + cos(th) * e2[d];
        if (np == 0) memcpy(first_tan, tn, sizeof tn);
        memcpy(last_tan, tn, sizeof tn);
        np++;
    }
    if (np < 2) return;
    /* tangential extensions: the vein comes from and goes on into the white matter */
    double ext0 = qr_rng_range(r, 3, 8), ext1 = qr_rng_range(r, 3, 8);
    double all[3 * 240];
    int na = 0;
    for (int s = (int)ext0; s >= 1; s--, na++)
        for (int d = 0; d < 3; d++) all[3 * na + d] = pts[d] - s * first_tan[d];
    memcpy(all + 3 * na, pts, sizeof(double) * 3 * (size_t)np);
    na += np;
    for (int s = 1; s <= (int)ext1 && na < 240; s++, na++)
        for (int d = 0; d < 3; d++) all[3 * na + d] = pts[3 * (np - 1) + d] + s * last_tan[d];
    ph_tube(w, all, na, rad, chi);
}
