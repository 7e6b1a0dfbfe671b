/*
 * anatomy.c - the phantom's anatomy: one real brain (open_ms_data patient07, MNI space, 1 mm) turned
 * into the maps the generator samples per subject.
 *
 * Inputs (patient07/): FLAIR_mni.nii.gz, T1_mni.nii.gz (skull-stripped, N4-corrected) and
 * lesions_mni.nii.gz (that patient's own lesions, removed from the anatomy so that only the lesions
 * the generator places - with known truth - appear).
 *
 * Maps (per 1 mm voxel, interleaved, PH_CH_*):
 *   brain   1 inside the brain: T1 > 30 or FLAIR > 20, largest 6-connected component, holes filled
 *   csf, wm partial-volume fractions from T1 intensity: three classes by k-means on T1 in the
 *           brain (means mu_csf < mu_gm < mu_wm); between two class means the fractions vary
 *           linearly; gm = 1 - csf - wm. The patient's own lesions (dilated by one voxel) are WM.
 *   chi     background susceptibility, ppb vs NAWM:
 *             chi_wm(x)   = -PH_CHI_WM_T1_SLOPE * clamp((T1 - mu_wm) / sd_wm, -2.5, 2.5)
 *                           + PH_CHI_TRACT * tract(x)            (texture from the real T1)
 *             chi_tissue  = wm chi_wm + gm PH_CHI_CORTEX + csf PH_CHI_CSF
 *             chi         = (1 - w) chi_tissue + w ((1 - csf) chi_nucleus + csf PH_CHI_CSF)
 *           where w(x) in [0,1] is the weight of a deep grey nucleus and tract(x) of a WM tract,
 *           both from ellipsoids at their MNI positions (drawn on this brain's T1/T2 to check).
 *   flair   the real FLAIR, the patient's own lesions filled in from the surrounding tissue
 *           (Laplace fill, then NAWM-like texture).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/fileutil.h"
#include "../io/imageio.h"
#include "../lesions/lesions.h"
#include "phantom_internal.h"

/* ---- atlas priors (MNI mm, half-axes mm, value) ---- */
typedef struct ellipsoid {
    double c[3], r[3];
    double value;
    int bilateral; /* also mirrored to x -> -x */
} ellipsoid;

/* Deep grey nuclei: typical 3 T susceptibilities relative to NAWM [A]. */
static const ellipsoid NUCLEI[] = {
    {{13, 12, 10}, {6, 11, 9}, 60, 1},      /* caudate head */
    {{17, -8, 20}, {4, 12, 5}, 50, 1},      /* caudate body */
    {{25, 2, 1}, {6, 14, 9}, 70, 1},        /* putamen */
    {{19, -4, -1}, {5, 8, 5}, 160, 1},      /* globus pallidus */
    {{11, -18, 7}, {8, 12, 8}, 15, 1},      /* thalamus */
    {{5, -20, -8}, {3.5, 3.5, 3.5}, 110, 1},/* red nucleus */
    {{10, -17, -12}, {4, 7, 3.5}, 130, 1},  /* substantia nigra */
    {{15, -57, -35}, {6, 8, 6}, 100, 1},    /* dentate nucleus */
};
/* White-matter tracts that are more diamagnetic than NAWM (weights; value PH_CHI_TRACT). */
static const ellipsoid TRACTS[] = {
    {{0, -38, 12}, {16, 7, 6}, 1, 0},   /* splenium of the corpus callosum */
    {{0, 28, 4}, {14, 6, 7}, 1, 0},     /* genu of the corpus callosum */
    {{30, -62, 4}, {5, 18, 7}, 1, 1},   /* optic radiation */
    {{20, -14, 8}, {3.5, 8, 8}, 1, 1},  /* posterior limb of the internal capsule */
    {{25, -20, 35}, {6, 10, 12}, 0.7, 1}/* corticospinal tract in the corona radiata */
};

/* Soft ellipsoid weight: 1 inside 0.85 of the radii, 0 beyond 1.15. */
static double ellipsoid_weight(const ellipsoid *e, const double x[3]) {
    double best = 0;
    for (int side = 0; side < (e->bilateral ? 2 : 1); side++) {
        double cx = side ? -e->c[0] : e->c[0];
        double a = (x[0] - cx) / e->r[0], b = (x[1] - e->c[1]) / e->r[1], c = (x[2] - e->c[2]) / e->r[2];
        double d = sqrt(a * a + b * b + c * c);
        double w = ph_clamp((1.15 - d) / 0.3, 0, 1);
        if (w > best) best = w;
    }
    return best;
}

/* Mean of the values in a histogram bin range (used by k-means and the median). */
typedef struct hist {
    int nb;
    double lo, hi;
    double *count;
} hist;

static int hist_bin(const hist *h, double v) {
    int b = (int)((v - h->lo) / (h->hi - h->lo) * h->nb);
    return b < 0 ? 0 : (b >= h->nb ? h->nb - 1 : b);
}
static double hist_center(const hist *h, int b) { return h->lo + (b + 0.5) * (h->hi - h->lo) / h->nb; }

static double hist_quantile(const hist *h, double q) {
    double tot = 0, acc = 0;
    for (int b = 0; b < h->nb; b++) tot += h->count[b];
    for (int b = 0; b < h->nb; b++) {
        acc += h->count[b];
        if (acc >= q * tot) return hist_center(h, b);
    }
    return hist_center(h, h->nb - 1);
}

/* 1D k-means with 3 classes on a histogram; centres start at the 5/50/95th percentiles. */
static void kmeans3(const hist *h, double mu[3]) {
    mu[0] = hist_quantile(h, 0.05), mu[1] = hist_quantile(h, 0.5), mu[2] = hist_quantile(h, 0.95);
    for (int it = 0; it < 100; it++) {
        double s[3] = {0}, n[3] = {0};
        for (int b = 0; b < h->nb; b++) {
            double v = hist_center(h, b);
            int c = 0;
            for (int k = 1; k < 3; k++)
                if (fabs(v - mu[k]) < fabs(v - mu[c])) c = k;
            s[c] += h->count[b] * v;
            n[c] += h->count[b];
        }
        double moved = 0;
        for (int k = 0; k < 3; k++)
            if (n[k] > 0) {
                double m = s[k] / n[k];
                moved += fabs(m - mu[k]);
                mu[k] = m;
            }
        if (moved < 1e-6) break;
    }
}

static qr_status read_float(const char *dir, const char *name, qr_volume *v) {
    char path[QR_PATH_MAX];
    QR_TRY(ph_format(path, sizeof path, "%s/patient07/%s", dir, name));
    return qr_image_read(path, QR_FLOAT32, v, NULL);
}

static int same_size(const qr_geometry *a, const qr_geometry *b) {
    return a->size[0] == b->size[0] && a->size[1] == b->size[1] && a->size[2] == b->size[2];
}

/* brain: threshold, largest 6-connected component, fill holes (background components that do not
 * reach the volume border). */
static qr_status brain_mask(const qr_volume *t1, const qr_volume *fl, uint8_t *brain) {
    const int64_t n = qr_volume_nvox(t1);
    const float *T = qr_volume_f32(t1), *F = qr_volume_f32(fl);
    qr_volume m, lab;
    QR_TRY(qr_volume_alloc(&m, &t1->geom, QR_INT32));
    int32_t *mi = qr_volume_i32(&m);
    for (int64_t i = 0; i < n; i++) mi[i] = (T[i] > 30.0f || F[i] > 20.0f);
    int64_t nc = 0;
    qr_status s = qr_connected_components(&m, 6, &lab, &nc);
    if (s != QR_OK) {
        qr_volume_free(&m);
        return s;
    }
    int64_t *cnt = calloc((size_t)nc + 1, sizeof(int64_t));
    if (!cnt) {
        qr_volume_free(&m), qr_volume_free(&lab);
        return qr_fail(QR_ERR_NOMEM, "anatomy: out of memory");
    }
    const int32_t *L = qr_volume_i32(&lab);
    for (int64_t i = 0; i < n; i++) cnt[L[i]]++;
    int32_t best = 0;
    for (int64_t c = 1; c <= nc; c++)
        if (cnt[c] > cnt[best] || best == 0) best = (int32_t)c;
    free(cnt);
    for (int64_t i = 0; i < n; i++) mi[i] = (L[i] != best);
    qr_volume_free(&lab);
    /* holes: components of the complement that do not touch the border */
    s = qr_connected_components(&m, 6, &lab, &nc);
    qr_volume_free(&m);
    if (s != QR_OK) return s;
    uint8_t *outside = calloc((size_t)nc + 1, 1);
    if (!outside) {
        qr_volume_free(&lab);
        return qr_fail(QR_ERR_NOMEM, "anatomy: out of memory");
    }
    const int64_t *sz = lab.geom.size;
    L = qr_volume_i32(&lab);
    for (int64_t k = 0; k < sz[2]; k++)
        for (int64_t j = 0; j < sz[1]; j++)
            for (int64_t i = 0; i < sz[0]; i++) {
                if (i > 0 && i < sz[0] - 1 && j > 0 && j < sz[1] - 1 && k > 0 && k < sz[2] - 1) continue;
                outside[L[qr_geometry_index(&lab.geom, i, j, k)]] = 1;
            }
    for (int64_t i = 0; i < n; i++) brain[i] = (L[i] == 0) || !outside[L[i]];
    free(outside);
    qr_volume_free(&lab);
    return QR_OK;
}

qr_status ph_anatomy_load(const char *dir, ph_anatomy *a) {
    memset(a, 0, sizeof *a);
    qr_volume fl = {0}, t1 = {0}, les = {0};
    uint8_t *brain = NULL, *own = NULL;
    float *frac = NULL;
    qr_status s = read_float(dir, "FLAIR_mni.nii.gz", &fl);
    if (s == QR_OK) s = read_float(dir, "T1_mni.nii.gz", &t1);
    if (s == QR_OK) {
        char path[QR_PATH_MAX];
        s = ph_format(path, sizeof path, "%s/patient07/lesions_mni.nii.gz", dir);
        if (s == QR_OK) s = qr_image_read(path, QR_INT32, &les, NULL);
    }
    if (s != QR_OK) goto done;
    if (!same_size(&fl.geom, &t1.geom) || !same_size(&fl.geom, &les.geom)) {
        s = qr_fail(QR_ERR_GEOMETRY, "%s/patient07: FLAIR, T1 and lesion mask do not share one grid", dir);
        goto done;
    }
    const qr_geometry *g = &fl.geom;
    const int64_t n = qr_volume_nvox(&fl);
    for (int d = 0; d < 3; d++) a->n[d] = g->size[d];

    /* index -> RAS: ras = F (origin + D S ijk), F = diag(-1,-1,1); keep the inverse */
    double M[9], Minv[9], o[3];
    for (int r = 0; r < 3; r++) {
        double f = r < 2 ? -1.0 : 1.0;
        o[r] = f * g->origin[r];
        for (int c = 0; c < 3; c++) M[3 * r + c] = f * g->direction[3 * r + c] * g->spacing[c];
    }
    ph_mat3_inverse(M, Minv);
    for (int r = 0; r < 3; r++) {
        for (int c = 0; c < 3; c++) a->ras_to_ijk[4 * r + c] = Minv[3 * r + c];
        a->ras_to_ijk[4 * r + 3] = -(Minv[3 * r] * o[0] + Minv[3 * r + 1] * o[1] + Minv[3 * r + 2] * o[2]);
    }

    brain = malloc((size_t)n);
    own = calloc((size_t)n, 1);
    frac = malloc(sizeof(float) * 2 * (size_t)n); /* csf, wm */
    a->maps = calloc((size_t)n * PH_NCH, sizeof(float));
    if (!brain || !own || !frac || !a->maps) {
        s = qr_fail(QR_ERR_NOMEM, "anatomy: out of memory");
        goto done;
    }
    s = brain_mask(&t1, &fl, brain);
    if (s != QR_OK) goto done;

    /* the patient's own lesions, dilated by one voxel (26-neighbourhood), inside the brain */
    const int32_t *LS = qr_volume_i32(&les);
    const int64_t *sz = g->size;
    for (int64_t k = 1; k < sz[2] - 1; k++)
        for (int64_t j = 1; j < sz[1] - 1; j++)
            for (int64_t i = 1; i < sz[0] - 1; i++) {
                int64_t idx = qr_geometry_index(g, i, j, k);
                if (!LS[idx]) continue;
                for (int dk = -1; dk <= 1; dk++)
                    for (int dj = -1; dj <= 1; dj++)
                        for (int di = -1; di <= 1; di++) {
                            int64_t q = qr_geometry_index(g, i + di, j + dj, k + dk);
                            if (brain[q]) own[q] = 1;
                        }
            }

    /* T1 classes */
    const float *T = qr_volume_f32(&t1);
    float *F = qr_volume_f32(&fl);
    double tmax = 1;
    for (int64_t i = 0; i < n; i++)
        if (brain[i] && T[i] > tmax) tmax = T[i];
    double hcount[4096];
    hist h = {4096, 0.0, tmax + 1e-3, hcount};
    memset(hcount, 0, sizeof hcount);
    for (int64_t i = 0; i < n; i++)
        if (brain[i] && !own[i] && T[i] > 0) hcount[hist_bin(&h, T[i])] += 1;
    double mu[3];
    kmeans3(&h, mu);
    if (!(mu[0] < mu[1] && mu[1] < mu[2])) {
        s = qr_fail(QR_ERR_FORMAT, "%s/patient07/T1_mni.nii.gz: no three tissue classes found in the T1 intensities", dir);
        goto done;
    }
    double swm = 0, swm2 = 0, nwm = 0;
    for (int64_t i = 0; i < n; i++) {
        float csf = 0, wm = 0;
        if (brain[i]) {
            double t = T[i];
            if (own[i]) wm = 1;
            else if (t <= mu[0]) csf = 1;
            else if (t < mu[1]) csf = (float)((mu[1] - t) / (mu[1] - mu[0]));
            else if (t < mu[2]) wm = (float)((t - mu[1]) / (mu[2] - mu[1]));
            else wm = 1;
        }
        frac[2 * i] = csf;
        frac[2 * i + 1] = wm;
        if (brain[i] && !own[i] && wm >= 0.95f) {
            swm += T[i];
            swm2 += (double)T[i] * T[i];
            nwm += 1;
        }
    }
    if (nwm < 1000) {
        s = qr_fail(QR_ERR_FORMAT, "%s/patient07: too little white matter found (%g voxels)", dir, nwm);
        goto done;
    }
    double mwm = swm / nwm, sdwm = sqrt(fmax(swm2 / nwm - mwm * mwm, 1e-6));

    /* FLAIR of NAWM: median */
    double fmax_ = 1;
    for (int64_t i = 0; i < n; i++)
        if (brain[i] && F[i] > fmax_) fmax_ = F[i];
    memset(hcount, 0, sizeof hcount);
    hist hf = {4096, 0.0, fmax_ + 1e-3, hcount};
    double sf = 0, sf2 = 0, nf = 0;
    for (int64_t i = 0; i < n; i++)
        if (brain[i] && !own[i] && frac[2 * i + 1] >= 0.95f) {
            hcount[hist_bin(&hf, F[i])] += 1;
            sf += F[i], sf2 += (double)F[i] * F[i], nf += 1;
        }
    a->flair_nawm = hist_quantile(&hf, 0.5);
    double fsd = sqrt(fmax(sf2 / nf - (sf / nf) * (sf / nf), 0));

    /* fill the patient's own lesions in the FLAIR: Jacobi iterations of the 6-neighbour mean,
     * starting from the NAWM median, then a little texture (fixed stream: part of the anatomy) */
    {
        int64_t nown = 0;
        for (int64_t i = 0; i < n; i++) nown += own[i];
        int64_t *list = malloc(sizeof(int64_t) * (size_t)(nown ? nown : 1));
        float *tmp = malloc(sizeof(float) * (size_t)(nown ? nown : 1));
        if (!list || !tmp) {
            free(list), free(tmp);
            s = qr_fail(QR_ERR_NOMEM, "anatomy: out of memory");
            goto done;
        }
        int64_t c = 0;
        for (int64_t i = 0; i < n; i++)
            if (own[i]) {
                list[c++] = i;
                F[i] = (float)a->flair_nawm;
            }
        const int64_t st[3] = {1, sz[0], sz[0] * sz[1]};
        for (int it = 0; it < 80; it++) {
            for (int64_t q = 0; q < nown; q++) {
                int64_t i = list[q];
                double acc = 0;
                int cnt = 0;
                for (int d = 0; d < 3; d++)
                    for (int sgn = -1; sgn <= 1; sgn += 2) {
                        int64_t nb = i + sgn * st[d];
                        if (nb < 0 || nb >= n || !brain[nb]) continue;
                        acc += F[nb];
                        cnt++;
                    }
                tmp[q] = cnt ? (float)(acc / cnt) : F[i];
            }
            for (int64_t q = 0; q < nown; q++) F[list[q]] = tmp[q];
        }
        qr_rng tex;
        qr_rng_seed(&tex, 0x70617469656e7407ULL, 0);
        for (int64_t q = 0; q < nown; q++) F[list[q]] += (float)(0.5 * fsd * qr_rng_normal(&tex));
        free(list);
        free(tmp);
    }

    /* the maps */
    double lo[3] = {1e9, 1e9, 1e9}, hi[3] = {-1e9, -1e9, -1e9};
    for (int64_t k = 0; k < sz[2]; k++)
        for (int64_t j = 0; j < sz[1]; j++)
            for (int64_t i = 0; i < sz[0]; i++) {
                int64_t idx = qr_geometry_index(g, i, j, k);
                float *mp = a->maps + PH_NCH * idx;
                if (!brain[idx]) continue;
                double ijk[3] = {(double)i, (double)j, (double)k}, x[3];
                for (int r = 0; r < 3; r++) x[r] = o[r] + M[3 * r] * ijk[0] + M[3 * r + 1] * ijk[1] + M[3 * r + 2] * ijk[2];
                for (int r = 0; r < 3; r++) lo[r] = fmin(lo[r], x[r]), hi[r] = fmax(hi[r], x[r]);
                double csf = frac[2 * idx], wm = frac[2 * idx + 1], gm = fmax(0, 1 - csf - wm);
                double tract = 0, wn = 0, chin = 0;
                for (size_t e = 0; e < sizeof TRACTS / sizeof TRACTS[0]; e++)
                    tract = fmax(tract, TRACTS[e].value * ellipsoid_weight(&TRACTS[e], x));
                for (size_t e = 0; e < sizeof NUCLEI / sizeof NUCLEI[0]; e++) {
                    double w = ellipsoid_weight(&NUCLEI[e], x);
                    if (w > wn) wn = w, chin = NUCLEI[e].value;
                }
                double tex = own[idx] ? 0.0 : -PH_CHI_WM_T1_SLOPE * ph_clamp((T[idx] - mwm) / sdwm, -2.5, 2.5);
                double chi_wm = tex + PH_CHI_TRACT * tract;
                double chi_t = wm * chi_wm + gm * PH_CHI_CORTEX + csf * PH_CHI_CSF;
                double chi = (1 - wn) * chi_t + wn * ((1 - csf) * chin + csf * PH_CHI_CSF);
                mp[PH_CH_CHI] = (float)chi;
                mp[PH_CH_BRAIN] = 1.0f;
                mp[PH_CH_WM] = (float)wm;
                mp[PH_CH_CSF] = (float)csf;
                mp[PH_CH_FLAIR] = F[idx];
            }
    for (int r = 0; r < 3; r++) a->brain_center[r] = 0.5 * (lo[r] + hi[r]);
    /* near-brain mask: the brain dilated by 2 voxels (a trilinear sample elsewhere is zero) */
    a->near = calloc((size_t)n, 1);
    if (!a->near) {
        s = qr_fail(QR_ERR_NOMEM, "anatomy: out of memory");
        goto done;
    }
    for (int64_t k = 0; k < sz[2]; k++)
        for (int64_t j = 0; j < sz[1]; j++)
            for (int64_t i = 0; i < sz[0]; i++) {
                if (!brain[qr_geometry_index(g, i, j, k)]) continue;
                for (int64_t c = k - 2; c <= k + 2; c++)
                    for (int64_t b = j - 2; b <= j + 2; b++)
                        for (int64_t q = i - 2; q <= i + 2; q++)
                            if (q >= 0 && b >= 0 && c >= 0 && q < sz[0] && b < sz[1] && c < sz[2])
                                a->near[qr_geometry_index(g, q, b, c)] = 1;
            }
    qr_log(QR_LOG_DEBUG, "phantom anatomy: T1 classes %.1f / %.1f / %.1f, NAWM FLAIR %.1f, brain centre (%.1f, %.1f, %.1f)",
           mu[0], mu[1], mu[2], a->flair_nawm, a->brain_center[0], a->brain_center[1], a->brain_center[2]);
    s = QR_OK;
done:
    qr_volume_free(&fl);
    qr_volume_free(&t1);
    qr_volume_free(&les);
    free(brain);
    free(own);
    free(frac);
    if (s != QR_OK) ph_anatomy_free(a);
    return s;
}

void ph_anatomy_free(ph_anatomy *a) {
    if (!a) return;
    free(a->maps);
    free(a->near);
    memset(a, 0, sizeof *a);
}

void ph_anatomy_sample(const ph_anatomy *a, const double mni[3], float out[PH_NCH]) {
    const double *M = a->ras_to_ijk;
    double f[3];
    for (int r = 0; r < 3; r++) f[r] = M[4 * r] * mni[0] + M[4 * r + 1] * mni[1] + M[4 * r + 2] * mni[2] + M[4 * r + 3];
    for (int c = 0; c < PH_NCH; c++) out[c] = 0.0f;
    if (f[0] < 0 || f[1] < 0 || f[2] < 0 || f[0] > a->n[0] - 1 || f[1] > a->n[1] - 1 || f[2] > a->n[2] - 1) return;
    int64_t i0 = (int64_t)f[0], j0 = (int64_t)f[1], k0 = (int64_t)f[2];
    if (!a->near[lrint(f[0]) + a->n[0] * (lrint(f[1]) + a->n[1] * lrint(f[2]))]) return;
    if (i0 >= a->n[0] - 1) i0 = a->n[0] - 2;
    if (j0 >= a->n[1] - 1) j0 = a->n[1] - 2;
    if (k0 >= a->n[2] - 1) k0 = a->n[2] - 2;
    float fx = (float)(f[0] - i0), fy = (float)(f[1] - j0), fz = (float)(f[2] - k0);
    const int64_t sy = a->n[0], sz = a->n[0] * a->n[1];
    const float *p = a->maps + PH_NCH * (i0 + sy * j0 + sz * k0);
    const float w[8] = {(1 - fx) * (1 - fy) * (1 - fz), fx * (1 - fy) * (1 - fz), (1 - fx) * fy * (1 - fz), fx * fy * (1 - fz),
                        (1 - fx) * (1 - fy) * fz,       fx * (1 - fy) * fz,       (1 - fx) * fy * fz,       fx * fy * fz};
    const int64_t off[8] = {0, 1, sy, sy + 1, sz, sz + 1, sz + sy, sz + sy + 1};
    for (int c8 = 0; c8 < 8; c8++) {
        const float *q = p + PH_NCH * off[c8];
        for (int c = 0; c < PH_NCH; c++) out[c] += w[c8] * q[c];
    }
}
