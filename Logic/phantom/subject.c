/*
 * subject.c - one phantom subject, start to finish.
 *
 *   1. pose: where the anatomy sits and how it is bent (pose.c)
 *   2. the anatomy sampled on the simulation grid (0.75 mm isotropic, 256 x 256 x 192):
 *      chi_bg, brain, WM and CSF fractions, FLAIR
 *   3. lesions: rim+ first (they are larger), each drawn from the library, placed in white matter,
 *      painted into chi and FLAIR (lesions.c); some touch an earlier lesion on purpose
 *   4. veins: medullary, deep, cortical, and per lesion a central vein or a vein along the edge
 *   5. the output grid (256 x 256 x 48, 0.75 x 0.75 x 3 mm): labels (a voxel belongs to the lesion
 *      holding >= 2 of its 4 thin slices), truth chi (mean of the thin slices), QSM through the
 *      acquisition (dipole.c), FLAIR (mean of the thin slices, scaled, with noise)
 *   6. labels renumbered 1..n by first voxel in memory order (as a connected-component labelling
 *      would number them, so a label says nothing about the class), the truth table filled in.
 * Random numbers: one stream per subject, (seed, 1 + index); stream 0 is the cohort plan.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/fileutil.h"
#include "phantom_internal.h"

#define RHO_RIM 0.3

static const char *APP_NAMES[QR_PHANTOM_APP_COUNT] = {"rim", "iso", "hypo", "hyper", "partial_rim"};

const char *qr_phantom_appearance_name(qr_phantom_appearance a) {
    return (a >= 0 && a < QR_PHANTOM_APP_COUNT) ? APP_NAMES[a] : "unknown";
}

const char *qr_phantom_confounders_string(unsigned flags, char *buf, size_t buflen) {
    static const struct {
        unsigned flag;
        const char *name;
    } names[] = {{QR_PHANTOM_CONF_FAINT_RIM, "faint_rim"},
                 {QR_PHANTOM_CONF_HETEROGENEOUS_RIM, "heterogeneous_rim"},
                 {QR_PHANTOM_CONF_VEIN_EDGE, "vein_edge"},
                 {QR_PHANTOM_CONF_TOUCHING, "touching"},
                 {QR_PHANTOM_CONF_CENTRAL_VEIN, "central_vein"}};
    if (!buflen) return buf;
    buf[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(flags & names[i].flag)) continue;
        int w = snprintf(buf + used, buflen - used, "%s%s", used ? "+" : "", names[i].name);
        if (w < 0 || (size_t)w >= buflen - used) break;
        used += (size_t)w;
    }
    if (!used) snprintf(buf, buflen, "none");
    return buf;
}

static qr_geometry output_geometry(void) {
    qr_geometry g = qr_geometry_identity(PH_NX, PH_NY, PH_NZ);
    g.spacing[0] = PH_H, g.spacing[1] = PH_H, g.spacing[2] = PH_SLICE;
    g.origin[0] = -0.5 * (PH_NX - 1) * PH_H;
    g.origin[1] = -0.5 * (PH_NY - 1) * PH_H;
    g.origin[2] = -0.5 * (PH_NZ - 1) * PH_SLICE;
    return g;
}

static void work_free(ph_work *w) {
    free(w->chi), free(w->flair), free(w->brain), free(w->wm), free(w->csf), free(w->lid), free(w->locc);
    free(w->rimc), free(w->rimo);
    ph_pose_free(&w->pose);
    memset(w, 0, sizeof *w);
}

static qr_status work_alloc(ph_work *w) {
    memset(w, 0, sizeof *w);
    w->nzf = PH_NZ * PH_SUB;
    w->nf = (int64_t)PH_NX * PH_NY * w->nzf;
    w->nc = (int64_t)PH_NX * PH_NY * PH_NZ;
    qr_geometry g = output_geometry();
    w->origin_lps[0] = g.origin[0];
    w->origin_lps[1] = g.origin[1];
    w->origin_lps[2] = g.origin[2] - 0.5 * (PH_SUB - 1) * PH_H;
    const size_t nf = (size_t)w->nf, nc = (size_t)w->nc;
    w->chi = malloc(sizeof(float) * nf);
    w->flair = malloc(sizeof(float) * nf);
    w->brain = malloc(nf);
    w->wm = malloc(nf);
    w->csf = malloc(nf);
    w->lid = calloc(nf, sizeof(int16_t));
    w->locc = calloc(nf, 1);
    w->rimc = calloc(nc, sizeof(float));
    w->rimo = calloc(nc, sizeof(int16_t));
    if (!w->chi || !w->flair || !w->brain || !w->wm || !w->csf || !w->lid || !w->locc || !w->rimc || !w->rimo) {
        work_free(w);
        return qr_fail(QR_ERR_NOMEM, "phantom subject: out of memory (about 300 MB per subject being generated)");
    }
    return QR_OK;
}

/* The anatomy through the pose on the simulation grid. */
static qr_status sample_anatomy(const qr_phantom_model *m, ph_work *w) {
    double *nodes = malloc(sizeof(double) * 3 * (size_t)w->pose.gn[0]);
    if (!nodes) return qr_fail(QR_ERR_NOMEM, "phantom subject: out of memory");
    for (int64_t k = 0; k < w->nzf; k++)
        for (int64_t j = 0; j < PH_NY; j++) {
            double s0[3];
            ph_fine_to_subject(w, 0.0, (double)j, (double)k, s0);
            ph_pose_row_prepare(&w->pose, s0[1], s0[2], nodes);
            for (int64_t i = 0; i < PH_NX; i++) {
                int64_t v = i + PH_NX * (j + (int64_t)PH_NY * k);
                double s[3], mni[3];
                float a[PH_NCH];
                ph_fine_to_subject(w, (double)i, (double)j, (double)k, s);
                ph_pose_row_to_mni(&w->pose, nodes, s, mni);
                ph_anatomy_sample(&m->anat, mni, a);
                int in = a[PH_CH_BRAIN] >= 0.5f;
                w->brain[v] = (uint8_t)in;
                w->chi[v] = in ? a[PH_CH_CHI] / a[PH_CH_BRAIN] : 0.0f;
                w->wm[v] = (uint8_t)lrintf(255.0f * fminf(1.0f, fmaxf(0.0f, in ? a[PH_CH_WM] / a[PH_CH_BRAIN] : 0.0f)));
                w->csf[v] = (uint8_t)lrintf(255.0f * fminf(1.0f, fmaxf(0.0f, in ? a[PH_CH_CSF] / a[PH_CH_BRAIN] : 0.0f)));
                w->flair[v] = a[PH_CH_FLAIR];
            }
        }
    free(nodes);
    return QR_OK;
}

static void unit_vector(qr_rng *r, double u[3]) {
    double n = 0;
    for (int d = 0; d < 3; d++) u[d] = qr_rng_normal(r), n += u[d] * u[d];
    n = sqrt(n) + 1e-12;
    for (int d = 0; d < 3; d++) u[d] /= n;
}

/* Place and paint lesion idx (class rimpos); QR_ERR_INTERNAL if no place is found. */
static qr_status place_lesion(const qr_phantom_model *m, ph_work *w, ph_lesion *les, int idx, int rimpos, qr_rng *r,
                              int subject) {
    ph_lesion *L = &les[idx];
    for (int shape = 0; shape < 30; shape++) {
        ph_lesion_draw_params(&m->lib, rimpos, r, L);
        const ph_lib_lesion *e = &m->lib.items[L->lib];
        int want_touch = idx > 0 && qr_rng_uniform(r) < PH_P_TOUCHING;
        int placed = 0;
        for (int tries = 0; tries < 24 && !placed; tries++) {
            if (want_touch && tries < 12) {
                int j = (int)qr_rng_below(r, (uint64_t)idx);
                double u[3];
                unit_vector(r, u);
                u[2] *= 0.5; /* mostly side by side in the slice */
                double rsum = les[j].radius_mm + 0.7 * e->radius_mm * L->scale;
                static const double f[] = {0.5, 0.65, 0.8, 0.95, 1.1};
                for (size_t q = 0; q < sizeof f / sizeof f[0] && !placed; q++) {
                    double s[3];
                    for (int d = 0; d < 3; d++) s[d] = les[j].centroid[d] + f[q] * rsum * u[d];
                    ph_pose_to_mni(&w->pose, s, L->c_mni);
                    placed = ph_lesion_rasterise(m, w, L, j);
                }
                continue;
            }
            if (tries < 8) {
                /* where the lesion was in its own patient (MNI), mirrored with the flip, jittered */
                for (int d = 0; d < 3; d++) L->c_mni[d] = e->centroid_mni[d] + 3.0 * qr_rng_normal(r);
                if (L->flip) L->c_mni[0] = -e->centroid_mni[0] + 3.0 * qr_rng_normal(r);
            } else {
                /* anywhere in deep white matter */
                int64_t v = -1;
                for (int t = 0; t < 400; t++) {
                    int64_t c = (int64_t)qr_rng_below(r, (uint64_t)w->nf);
                    if (w->brain[c] && w->wm[c] >= 230 && !w->lid[c]) {
                        v = c;
                        break;
                    }
                }
                if (v < 0) continue;
                double s[3];
                int64_t i = v % PH_NX, jj = (v / PH_NX) % PH_NY, k = v / ((int64_t)PH_NX * PH_NY);
                ph_fine_to_subject(w, (double)i, (double)jj, (double)k, s);
                ph_pose_to_mni(&w->pose, s, L->c_mni);
            }
            placed = ph_lesion_rasterise(m, w, L, -1);
        }
        if (!placed) continue;
        qr_status s = ph_lesion_paint(m, w, L, idx, r);

        free(L->occ);
        L->occ = NULL;
        if (s == QR_OK) return QR_OK;
        if (s != QR_ERR_EMPTY) return s;
        /* the rim could not meet its class's criterion on this shape: another shape */
    }
    return qr_fail(QR_ERR_INTERNAL, "phantom subject %d: found no place for lesion %d of the plan", subject + 1, idx + 1);
}

qr_status qr_phantom_subject_generate(const qr_phantom_model *m, uint64_t seed, int index, int n_lesions,
                                      int n_rimpos, const volatile int *cancel, qr_phantom_subject *out) {
    memset(out, 0, sizeof *out);
    if (!m) return qr_fail(QR_ERR_INVALID_ARG, "phantom subject: no model");
    if (index < 0) return qr_fail(QR_ERR_INVALID_ARG, "phantom subject: negative index %d", index);
    if (n_lesions < 0 || n_lesions > 1000 || n_rimpos < 0 || n_rimpos > n_lesions)
        return qr_fail(QR_ERR_INVALID_ARG, "phantom subject %d: %d lesions with %d rim+ is not a valid plan", index + 1,
                       n_lesions, n_rimpos);
    qr_rng r;
    qr_rng_seed(&r, seed, 1 + (uint64_t)index);
    ph_work w;
    QR_TRY(work_alloc(&w));
    ph_lesion *les = calloc((size_t)(n_lesions ? n_lesions : 1), sizeof(ph_lesion));
    uint8_t *mask = NULL, *nawm = NULL, *brain_c = NULL;
    int32_t *newid = NULL;
    qr_status s = QR_OK;
    if (!les) {
        s = qr_fail(QR_ERR_NOMEM, "phantom subject: out of memory");
        goto fail;
    }
    s = ph_pose_draw(&m->anat, &r, &w.pose);
    if (s != QR_OK) goto fail;
    s = sample_anatomy(m, &w);
    if (s != QR_OK) goto fail;

    for (int idx = 0; idx < n_lesions; idx++) {
        if (QR_CANCELLED(cancel)) {
            s = qr_fail(QR_ERR_CANCELLED, "interrupted");
            goto fail;
        }
        s = place_lesion(m, &w, les, idx, idx < n_rimpos, &r, index);
        if (s != QR_OK) goto fail;
    }
    ph_veins_background(m, &w, &r);
    for (int idx = 0; idx < n_lesions; idx++) {
        if (les[idx].conf & QR_PHANTOM_CONF_CENTRAL_VEIN) ph_vein_central(&w, &les[idx], &r);
        if (les[idx].conf & QR_PHANTOM_CONF_VEIN_EDGE) ph_vein_edge(&w, &les[idx], idx, &r);
    }

    /* ---- output grid ---- */
    qr_geometry g = output_geometry();
    s = qr_volume_alloc(&out->qsm, &g, QR_FLOAT32);
    if (s == QR_OK) s = qr_volume_alloc(&out->flair, &g, QR_FLOAT32);
    if (s == QR_OK) s = qr_volume_alloc(&out->labels, &g, QR_INT32);
    if (s == QR_OK) s = qr_volume_alloc(&out->chi, &g, QR_FLOAT32);
    if (s == QR_OK) s = qr_volume_alloc(&out->rim, &g, QR_INT32);
    if (s != QR_OK) goto fail;
    const int64_t nc = w.nc, nxy = (int64_t)PH_NX * PH_NY;
    mask = calloc((size_t)nc, 1);
    nawm = calloc((size_t)nc, 1);
    brain_c = calloc((size_t)nc, 1);
    newid = calloc((size_t)(n_lesions + 1), sizeof(int32_t));
    int64_t *count = calloc((size_t)(n_lesions + 1), sizeof(int64_t));
    if (!mask || !nawm || !brain_c || !newid || !count) {
        free(count);
        s = qr_fail(QR_ERR_NOMEM, "phantom subject: out of memory");
        goto fail;
    }
    float *chi_c = qr_volume_f32(&out->chi), *fl_c = qr_volume_f32(&out->flair);
    int32_t *lab = qr_volume_i32(&out->labels);
    /* labels (lesion index + 1 for now), truth chi, brain */
    for (int64_t c = 0; c < nc; c++) {
        int64_t k = c / nxy, ij = c % nxy;
        int16_t ids[PH_SUB];
        double chi = 0, fl = 0;
        int nb = 0;
        for (int q = 0; q < PH_SUB; q++) {
            int64_t f = ij + nxy * (PH_SUB * k + q);
            ids[q] = w.lid[f];
            chi += w.chi[f];
            fl += w.flair[f];
            nb += w.brain[f];
        }
        chi_c[c] = (float)(chi / PH_SUB);
        fl_c[c] = (float)(fl / PH_SUB);
        brain_c[c] = nb >= 2;
        int best = 0, bestn = 0;
        for (int q = 0; q < PH_SUB; q++) {
            if (!ids[q]) continue;
            int cnt = 0;
            for (int q2 = 0; q2 < PH_SUB; q2++) cnt += ids[q2] == ids[q];
            if (cnt > bestn || (cnt == bestn && les[ids[q] - 1].own_out_vox < les[best - 1].own_out_vox)) {
                best = ids[q];
                bestn = cnt;
            }
        }
        lab[c] = bestn >= 2 ? best : 0;
        count[lab[c]]++;
    }
    /* a lesion squeezed out by its neighbours gets back the voxel where it holds most */
    for (int l = 1; l <= n_lesions; l++) {
        if (count[l]) continue;
        int64_t bestc = -1;
        int bestn = 0;
        for (int64_t c = 0; c < nc; c++) {
            int64_t k = c / nxy, ij = c % nxy;
            int cnt = 0;
            for (int q = 0; q < PH_SUB; q++) cnt += w.lid[ij + nxy * (PH_SUB * k + q)] == l;
            if (cnt > bestn) bestn = cnt, bestc = c;
        }
        if (bestc >= 0) {
            count[lab[bestc]]--;
            lab[bestc] = l;
            count[l]++;
        }
    }
    for (int l = 1; l <= n_lesions; l++)
        if (!count[l]) {
            free(count);
            s = qr_fail(QR_ERR_INTERNAL, "phantom subject %d: lesion %d vanished on the output grid", index + 1, l);
            goto fail;
        }
    free(count);

    /* QSM mask: brain eroded by 2 voxels in-plane (as after background-field removal), plus lesions */
    memcpy(mask, brain_c, (size_t)nc);
    for (int it = 0; it < 2; it++) {
        uint8_t *tmp = malloc((size_t)nc);
        if (!tmp) {
            s = qr_fail(QR_ERR_NOMEM, "phantom subject: out of memory");
            goto fail;
        }
        memcpy(tmp, mask, (size_t)nc);
        for (int64_t c = 0; c < nc; c++) {
            if (!tmp[c]) continue;
            int64_t i = c % PH_NX, j = (c / PH_NX) % PH_NY;
            if (i == 0 || j == 0 || i == PH_NX - 1 || j == PH_NY - 1 || !tmp[c - 1] || !tmp[c + 1] || !tmp[c - PH_NX] ||
                !tmp[c + PH_NX])
                mask[c] = 0;
        }
        free(tmp);
    }
    for (int64_t c = 0; c < nc; c++) {
        if (lab[c]) mask[c] = 1;
        int64_t k = c / nxy, ij = c % nxy;
        int wm_all = 1, les_any = 0;
        for (int q = 0; q < PH_SUB; q++) {
            int64_t f = ij + nxy * (PH_SUB * k + q);
            wm_all &= w.wm[f] >= 230;
            les_any |= w.lid[f] != 0;
        }
        nawm[c] = mask[c] && wm_all && !les_any && fabsf(chi_c[c]) < 30.0f;
    }
    s = ph_acquire_qsm(&w, mask, nawm, &r, qr_volume_f32(&out->qsm));
    if (s != QR_OK) goto fail;

    /* FLAIR: subject intensity scale and noise (drawn for every voxel, kept inside the brain) */
    {
        double scale = qr_rng_range(&r, 0.85, 1.2), sd = 0.015 * m->anat.flair_nawm;
        for (int64_t c = 0; c < nc; c++) {
            double noise = sd * qr_rng_normal(&r);
            fl_c[c] = fl_c[c] != 0.0f ? (float)(scale * (fl_c[c] + noise)) : 0.0f;
        }
    }

    /* renumber lesions by first voxel in memory order */
    int32_t next = 0;
    for (int64_t c = 0; c < nc; c++)
        if (lab[c] && !newid[lab[c]]) newid[lab[c]] = ++next;
    for (int64_t c = 0; c < nc; c++) lab[c] = newid[lab[c]];
    int32_t *rim = qr_volume_i32(&out->rim);
    for (int64_t c = 0; c < nc; c++) rim[c] = (w.rimo[c] && w.rimc[c] >= RHO_RIM) ? newid[w.rimo[c]] : 0;

    /* the truth table */
    out->n_lesions = n_lesions;
    out->lesions = calloc((size_t)(n_lesions ? n_lesions : 1), sizeof(qr_phantom_lesion));
    double *sr = calloc((size_t)(n_lesions + 1), sizeof(double)), *sc = calloc((size_t)(n_lesions + 1), sizeof(double));
    int64_t *nr = calloc((size_t)(n_lesions + 1), sizeof(int64_t)), *ncn = calloc((size_t)(n_lesions + 1), sizeof(int64_t));
    if (!out->lesions || !sr || !sc || !nr || !ncn) {
        free(sr), free(sc), free(nr), free(ncn);
        s = qr_fail(QR_ERR_NOMEM, "phantom subject: out of memory");
        goto fail;
    }
    const float *q = qr_volume_f32(&out->qsm);
    for (int64_t c = 0; c < nc; c++) {
        if (!lab[c]) continue;
        if (rim[c] == lab[c]) sr[lab[c]] += q[c], nr[lab[c]]++;
        else sc[lab[c]] += q[c], ncn[lab[c]]++;
        out->lesions[lab[c] - 1].voxels++;
    }
    const double vox = PH_H * PH_H * PH_SLICE;
    for (int l = 0; l < n_lesions; l++) {
        const ph_lesion *L = &les[l];
        int32_t id = newid[l + 1];
        qr_phantom_lesion *t = &out->lesions[id - 1];
        t->id = id;
        t->rim = L->rim;
        t->appearance = L->app;
        t->confounders = L->conf;
        t->rim_coverage = L->rim_coverage;
        t->rim_ppb = L->rim_ppb;
        t->rim_width_mm = L->rim_ppb > 0 ? L->rim_w_in : 0;
        t->core_ppb = L->core_ppb;
        t->rim_contrast_ppb = (L->rim_ppb > 0 && nr[id] && ncn[id]) ? sr[id] / nr[id] - sc[id] / ncn[id] : 0.0;
        t->volume_mm3 = (double)t->voxels * vox;
        snprintf(t->source, sizeof t->source, "%s", m->lib.items[L->lib].source);
    }
    free(sr), free(sc), free(nr), free(ncn);
    free(les);
    free(mask), free(nawm), free(brain_c), free(newid);
    work_free(&w);
    return QR_OK;
fail:
    if (les)
        for (int l = 0; l < n_lesions; l++) free(les[l].occ);
    free(les);
    free(mask), free(nawm), free(brain_c), free(newid);
    work_free(&w);
    qr_phantom_subject_free(out);
    return s;
}

void qr_phantom_subject_free(qr_phantom_subject *s) {
    if (!s) return;
    qr_volume_free(&s->qsm);
    qr_volume_free(&s->flair);
    qr_volume_free(&s->labels);
    qr_volume_free(&s->chi);
    qr_volume_free(&s->rim);
    free(s->lesions);
    memset(s, 0, sizeof *s);
}

qr_status qr_phantom_annotations_write(const qr_phantom_subject *s, const char *path) {
    qr_atomic f;
    QR_TRY(qr_atomic_open(&f, path));
    fprintf(f.fp, "lesion_id\trim\tappearance\tconfounders\trim_coverage\trim_ppb\trim_width_mm\tcore_ppb\t"
                  "rim_contrast_ppb\tvoxels\tvolume_mm3\tsource\n");
    for (int i = 0; i < s->n_lesions; i++) {
        const qr_phantom_lesion *l = &s->lesions[i];
        char conf[128];
        fprintf(f.fp, "%d\t%d\t%s\t%s\t%.3f\t%.1f\t%.2f\t%.1f\t%.1f\t%lld\t%.2f\t%s\n", l->id, l->rim,
                qr_phantom_appearance_name(l->appearance), qr_phantom_confounders_string(l->confounders, conf, sizeof conf),
                l->rim_coverage, l->rim_ppb, l->rim_width_mm, l->core_ppb, l->rim_contrast_ppb, (long long)l->voxels,
                l->volume_mm3, l->source);
    }
    if (ferror(f.fp)) {
        qr_atomic_abort(&f);
        return qr_fail(QR_ERR_IO, "%s: write failed", path);
    }
    return qr_atomic_commit(&f);
}
