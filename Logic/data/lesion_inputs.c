/* lesion_inputs.c - one lesion's patch and radiomic features, the same for training and prediction. */
#include "lesion_inputs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

qr_status qr_lesion_radiomics(const qr_subject *s, const qr_lesion *l, const qr_radiomics *rad, double *out,
                              int *missing) {
    *missing = 0;
    qr_radiomics_options o = qr_radiomics_options_default();
    o.bbox = l->bbox;
    qr_status st = qr_radiomics_compute_ex(rad, &s->qsm, &s->labels, l->id, &o, out);
    if (st == QR_ERR_EMPTY) { /* PyRadiomics' checkMask refuses it: features are missing */
        int64_t F = qr_radiomics_count(rad);
        for (int64_t f = 0; f < F; f++) out[f] = NAN;
        *missing = 1;
        qr_clear_error();
        return QR_OK;
    }
    return st;
}

void qr_features_impute(double *features, int64_t n, const float *means) {
    if (!means) return;
    for (int64_t f = 0; f < n; f++)
        if (isnan(features[f])) features[f] = means[f];
}

qr_status qr_context_crop_make(const qr_subject *s, const qr_lesion *l, int margin, int margin_k, qr_lesion_crop *out) {
    memset(out, 0, sizeof *out);
    const qr_geometry *g = &s->qsm.geom;
    static const int S[3] = {QR_PATCH_W, QR_PATCH_H, QR_PATCH_D};
    const int m[3] = {margin, margin, margin_k};
    out->lesion_id = l->id;
    out->voxels = l->voxels;
    for (int a = 0; a < 3; a++) {
        out->spacing[a] = g->spacing[a];
        out->patch_origin[a] = (int64_t)floor(l->center_ijk[a] - (S[a] - 1) / 2.0 + 0.5);
        out->origin[a] = out->patch_origin[a] - m[a];
        out->size[a] = S[a] + 2 * m[a];
    }
    int64_t nv = out->size[0] * out->size[1] * out->size[2];
    out->data = calloc((size_t)(2 * nv), sizeof *out->data);
    if (!out->data) return qr_fail(QR_ERR_NOMEM, "out of memory for lesion %d", l->id);
    const float *q = qr_volume_f32(&s->qsm), *f = qr_volume_f32(&s->flair);
    float inv_ref = (float)(1.0 / s->flair_reference);
    for (int64_t k = 0; k < out->size[2]; k++)
        for (int64_t j = 0; j < out->size[1]; j++)
            for (int64_t i = 0; i < out->size[0]; i++) {
                int64_t vi = out->origin[0] + i, vj = out->origin[1] + j, vk = out->origin[2] + k;
                if (vi < 0 || vj < 0 || vk < 0 || vi >= g->size[0] || vj >= g->size[1] || vk >= g->size[2]) continue;
                int64_t v = qr_geometry_index(g, vi, vj, vk), c = i + out->size[0] * (j + out->size[1] * k);
                out->data[c] = q[v];
                out->data[nv + c] = f[v] * inv_ref;
            }
    return QR_OK;
}

void qr_context_patch_sample(const qr_lesion_crop *c, int margin, int margin_k, const int shift[3], int flip_axis,
                             int quarter_turns, float *patch) {
    const int64_t nv = c->size[0] * c->size[1] * c->size[2];
    const int m[3] = {margin, margin, margin_k};
    for (int ch = 0; ch < 2; ch++) {
        const float *src = c->data + ch * nv;
        float *dst = patch + ch * QR_PATCH_VOXELS;
        float lo = INFINITY, hi = -INFINITY;
        for (int d = 0; d < QR_PATCH_D; d++)
            for (int h = 0; h < QR_PATCH_H; h++)
                for (int w = 0; w < QR_PATCH_W; w++) {
                    int p[3] = {w, h, d};
                    if (flip_axis == 0) p[0] = QR_PATCH_W - 1 - p[0];
                    if (flip_axis == 1) p[1] = QR_PATCH_H - 1 - p[1];
                    if (flip_axis == 2) p[2] = QR_PATCH_D - 1 - p[2];
                    for (int t = 0; t < (quarter_turns & 3); t++) { /* (w, h) -> (h, 31 - w) */
                        int tw = p[1], th = QR_PATCH_W - 1 - p[0];
                        p[0] = tw;
                        p[1] = th;
                    }
                    int64_t x = p[0] + m[0] + shift[0], y = p[1] + m[1] + shift[1], z = p[2] + m[2] + shift[2];
                    float v = 0;
                    if (x >= 0 && y >= 0 && z >= 0 && x < c->size[0] && y < c->size[1] && z < c->size[2])
                        v = src[x + c->size[0] * (y + c->size[1] * z)];
                    dst[w + QR_PATCH_W * (h + QR_PATCH_H * d)] = v;
                    if (v < lo) lo = v;
                    if (v > hi) hi = v;
                }
        float span = hi - lo;
        for (int v = 0; v < QR_PATCH_VOXELS; v++) dst[v] = span > 0 ? 2.0f * (dst[v] - lo) / span - 1.0f : 0.0f;
    }
}

qr_status qr_lesion_inputs(const qr_subject *s, const qr_lesion *l, int context, const qr_radiomics *rad,
                           const float *impute, float *patch, double *features, int *missing) {
    if (missing) *missing = 0;
    if (patch) {
        qr_lesion_crop c;
        if (context) {
            QR_TRY(qr_context_crop_make(s, l, 0, 0, &c));
            static const int zero[3] = {0, 0, 0};
            qr_context_patch_sample(&c, 0, 0, zero, -1, 0, patch);
        } else {
            QR_TRY(qr_lesion_crop_make(s, l, &c));
            static const qr_intensity_scaling raw = {1.0, 1.0};
            qr_patch_sample(&c, &raw, NULL, patch);
        }
        qr_lesion_crop_free(&c);
    }
    if (features && rad) {
        int miss = 0;
        QR_TRY(qr_lesion_radiomics(s, l, rad, features, &miss));
        if (missing) *missing = miss;
        qr_features_impute(features, qr_radiomics_count(rad), impute);
    }
    return QR_OK;
}
