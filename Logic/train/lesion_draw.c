/* lesion_draw.c - one lesion's image input as a draw, sampled on the host or on the device
 * (lesion_draw.h). */
#include "lesion_draw.h"

#include <stdlib.h>
#include <string.h>
#ifdef QSMRIM_HAVE_OPENMP
#include <omp.h>
#endif

#include "../data/lesion_inputs.h"

static const char *TURNS_NAMES[QR_TURNS_COUNT] = {"positives", "all", "none"};

const char *qr_turns_name(qr_turns t) { return t >= 0 && t < QR_TURNS_COUNT ? TURNS_NAMES[t] : "?"; }

qr_turns qr_turns_parse(const char *s) {
    for (int t = 0; s && t < QR_TURNS_COUNT; t++)
        if (!strcmp(s, TURNS_NAMES[t])) return (qr_turns)t;
    return QR_TURNS_POSITIVES;
}

void qr_lesion_draw_make(int context, int label, int augment, const qr_augment_config *ac, qr_turns turns,
                         int flip_axis, qr_rng *rng, qr_lesion_draw *out) {
    memset(out, 0, sizeof *out);
    out->context = context;
    out->flip = flip_axis;
    out->aug = qr_augment_identity();
    out->aug.flip_axis = flip_axis;
    if (!augment) return;
    if (context) {
        out->shift[0] = (int)qr_rng_below(rng, 2 * QR_CONTEXT_MARGIN + 1) - QR_CONTEXT_MARGIN;
        out->shift[1] = (int)qr_rng_below(rng, 2 * QR_CONTEXT_MARGIN + 1) - QR_CONTEXT_MARGIN;
        out->shift[2] = (int)qr_rng_below(rng, 2 * QR_CONTEXT_MARGIN_K + 1) - QR_CONTEXT_MARGIN_K;
        double u = qr_rng_uniform(rng);
        int ax = (int)qr_rng_below(rng, 3);
        if (u < ac->p_flip) out->flip = ax;
        int t = (int)qr_rng_below(rng, 4);
        if (turns == QR_TURNS_ALL || (turns == QR_TURNS_POSITIVES && label)) out->turns = t;
    } else {
        out->has_aug = 1;
        qr_augment_draw(ac, rng, &out->aug);
    }
}

void qr_lesion_draws_make(int context, const int *label, const int64_t *idx, int64_t m, int augment,
                          const qr_augment_config *ac, qr_turns turns, int flip_axis, uint64_t seed, int epoch,
                          qr_lesion_draw *out) {
    for (int64_t r = 0; r < m; r++) {
        qr_rng rng;
        qr_rng_seed(&rng, seed, ((uint64_t)(epoch + 1) << 32) ^ (uint64_t)idx[r]);
        qr_lesion_draw_make(context, label[idx[r]], augment, ac, turns, flip_axis, &rng, &out[r]);
    }
}

void qr_lesion_draw_sample(const qr_lesion_crop *c, const qr_lesion_draw *dr, float *patch) {
    static const qr_intensity_scaling raw = {1.0, 1.0};
    if (dr->context)
        qr_context_patch_sample(c, QR_CONTEXT_MARGIN, QR_CONTEXT_MARGIN_K, dr->shift, dr->flip, dr->turns, patch);
    else
        qr_patch_sample(c, &raw, dr->has_aug || dr->aug.flip_axis >= 0 ? &dr->aug : NULL, patch);
}

void qr_lesion_draw_job(const qr_lesion_crop *c, int64_t crop, const qr_lesion_draw *dr, qr_nn_patch_sample *out) {
    memset(out, 0, sizeof *out);
    out->crop = crop;
    if (dr->context) {
        const int m[3] = {QR_CONTEXT_MARGIN, QR_CONTEXT_MARGIN, QR_CONTEXT_MARGIN_K};
        out->mode = QR_NN_SAMPLE_CONTEXT;
        out->flip = dr->flip;
        out->turns = dr->turns & 3;
        for (int a = 0; a < 3; a++) out->base[a] = m[a] + dr->shift[a];
        return;
    }
    const qr_augment *aug = dr->has_aug || dr->aug.flip_axis >= 0 ? &dr->aug : NULL;
    out->flip = aug ? aug->flip_axis : -1;
    if (aug && aug->affine) {
        out->mode = QR_NN_SAMPLE_AFFINE;
        qr_patch_geometry(c, aug, out->centre, out->A);
    } else {
        out->mode = QR_NN_SAMPLE_GRID;
        for (int a = 0; a < 3; a++) out->base[a] = c->patch_origin[a] - c->origin[a];
    }
    if (aug)
        for (int a = 0; a < 3; a++) out->sigma[a] = aug->sigma[a];
}

void qr_lesion_draws_sample(const qr_lesion_crop *crops, const int64_t *idx, const qr_lesion_draw *dr, int64_t m,
                            int threads, float *patches) {
#ifdef QSMRIM_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads > 0 ? threads : omp_get_max_threads())
#else
    (void)threads;
#endif
    for (int64_t r = 0; r < m; r++) qr_lesion_draw_sample(&crops[idx[r]], &dr[r], patches + r * QR_PATCH_SIZE);
}

void qr_lesion_draws_jobs(const qr_lesion_crop *crops, const int64_t *idx, const qr_lesion_draw *dr, int64_t m,
                          qr_nn_patch_sample *out) {
    for (int64_t r = 0; r < m; r++) qr_lesion_draw_job(&crops[idx[r]], idx[r], &dr[r], &out[r]);
}

qr_status qr_crops_patch_bank(qr_nn_context *ctx, const qr_lesion_crop *crops, int64_t n, qr_nn_patch_bank **out) {
    qr_nn_crop_ref *refs = malloc((size_t)(n > 0 ? n : 1) * sizeof *refs);
    if (!refs) return qr_fail(QR_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        refs[i].data = crops[i].data;
        for (int a = 0; a < 3; a++) refs[i].size[a] = crops[i].size[a];
    }
    qr_status st = qr_nn_patch_bank_create(ctx, refs, n, QR_PATCH_C, out);
    free(refs);
    return st;
}

qr_status qr_dataset_patch_bank(qr_nn_context *ctx, const qr_dataset *d, int context, qr_nn_patch_bank **out) {
    const qr_lesion_crop *src = context ? d->context : d->crops;
    if (!src) return qr_fail(QR_ERR_INVALID_ARG, "the dataset has no %s", context ? "context windows" : "lesion crops");
    return qr_crops_patch_bank(ctx, src, d->n, out);
}
