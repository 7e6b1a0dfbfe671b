/*
 * nn_patches.c - patch banks: lesion crops held in the context's memory, and the samples of a
 * batch resolved into the backend's jobs (nn.h, "Patches sampled on the compute device").
 *
 * The crops are copied once, through a host staging buffer of at most 16 MiB, into one backend
 * block; for every batch the host turns the caller's samples into qr_nn_patch_job records
 * (offsets, sizes, float coordinates, blur radii computed in double as the host sampler does)
 * and uploads them - a few hundred bytes per patch instead of the patch itself.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

#define STAGE_FLOATS ((int64_t)4 << 20) /* 16 MiB */

struct qr_nn_patch_bank {
    qr_nn_context *ctx;
    int channels;
    int64_t n;
    int64_t *offset;  /* host: first value of crop i */
    int32_t (*size)[3];
    float *data;      /* backend memory */
    size_t bytes;
    qr_nn_patch_job *jobs_host, *jobs; /* staging and backend copies, jobs_cap entries */
    int64_t jobs_cap;
    float *out;       /* backend output of qr_nn_patch_bank_sample */
    size_t out_bytes;
};

int qr_nn_context_samples_patches(const qr_nn_context *ctx) { return ctx && ctx->be->patch_sample != NULL; }

void qr_nn_patch_bank_free(qr_nn_patch_bank *b) {
    if (!b) return;
    qr_nn_context *ctx = b->ctx;
    if (b->data) ctx->be->free(ctx, b->data);
    if (b->jobs) ctx->be->free(ctx, b->jobs);
    if (b->out) ctx->be->free(ctx, b->out);
    free(b->jobs_host);
    free(b->offset);
    free(b->size);
    free(b);
}

int64_t qr_nn_patch_bank_count(const qr_nn_patch_bank *b) { return b ? b->n : 0; }
size_t qr_nn_patch_bank_bytes(const qr_nn_patch_bank *b) { return b ? b->bytes : 0; }

static qr_status check_crop(const qr_nn_crop_ref *c, int64_t i, int channels, int64_t *values) {
    for (int a = 0; a < 3; a++)
        if (c->size[a] < 1 || c->size[a] > INT32_MAX)
            return qr_fail(QR_ERR_INVALID_ARG, "patch bank: crop %lld has size %lld x %lld x %lld", (long long)i,
                           (long long)c->size[0], (long long)c->size[1], (long long)c->size[2]);
    if (!c->data) return qr_fail(QR_ERR_INVALID_ARG, "patch bank: crop %lld has no data", (long long)i);
    *values = (int64_t)channels * c->size[0] * c->size[1] * c->size[2];
    for (int64_t v = 0; v < *values; v++)
        if (!isfinite(c->data[v]))
            return qr_fail(QR_ERR_NONFINITE, "patch bank: crop %lld holds a non-finite value (%s)", (long long)i,
                           isnan(c->data[v]) ? "NaN" : "Inf");
    return QR_OK;
}

qr_status qr_nn_patch_bank_create(qr_nn_context *ctx, const qr_nn_crop_ref *crops, int64_t n, int channels,
                                  qr_nn_patch_bank **out) {
    *out = NULL;
    if (!ctx) return qr_fail(QR_ERR_INVALID_ARG, "no compute context");
    if (!qr_nn_context_samples_patches(ctx))
        return qr_fail(QR_ERR_UNSUPPORTED, "the %s backend takes host patches; it has no patch bank", ctx->be->name);
    if (n < 1 || !crops) return qr_fail(QR_ERR_EMPTY, "patch bank: no crops");
    if (channels < 1 || channels > 8) return qr_fail(QR_ERR_INVALID_ARG, "patch bank: %d channels", channels);
    qr_nn_patch_bank *b = calloc(1, sizeof *b);
    if (!b) return qr_fail(QR_ERR_NOMEM, "out of memory for a patch bank");
    b->ctx = ctx;
    b->channels = channels;
    b->n = n;
    b->offset = malloc((size_t)n * sizeof *b->offset);
    b->size = malloc((size_t)n * sizeof *b->size);
    if (!b->offset || !b->size) {
        qr_nn_patch_bank_free(b);
        return qr_fail(QR_ERR_NOMEM, "out of memory for a patch bank of %lld crops", (long long)n);
    }
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t values = 0;
        qr_status st = check_crop(&crops[i], i, channels, &values);
        if (st != QR_OK) {
            qr_nn_patch_bank_free(b);
            return st;
        }
        b->offset[i] = total;
        for (int a = 0; a < 3; a++) b->size[i][a] = (int32_t)crops[i].size[a];
        total += values;
    }
    b->bytes = sizeof(float) * (size_t)total;
    b->data = ctx->be->alloc(ctx, b->bytes);
    if (!b->data) {
        qr_status st = qr_nn_backend_check(ctx);
        qr_nn_patch_bank_free(b);
        return st != QR_OK ? st
                           : qr_fail(QR_ERR_NOMEM, "patch bank: the device has no room for %lld crops (%.1f MiB)",
                                     (long long)n, (double)total * sizeof(float) / 1048576.0);
    }
    /* copy through a staging buffer: one upload per 16 MiB instead of one per crop */
    int64_t cap = total < STAGE_FLOATS ? total : STAGE_FLOATS;
    float *stage = malloc(sizeof(float) * (size_t)cap);
    if (!stage) {
        qr_nn_patch_bank_free(b);
        return qr_fail(QR_ERR_NOMEM, "out of memory staging a patch bank");
    }
    int64_t fill = 0, start = 0; /* values staged, and the bank offset they go to */
    for (int64_t i = 0; i < n; i++) {
        const int64_t values = (i + 1 < n ? b->offset[i + 1] : total) - b->offset[i];
        if (fill + values > cap) { /* flush (an empty upload does nothing) */
            ctx->be->upload(ctx, b->data + start, stage, sizeof(float) * (size_t)fill);
            start += fill;
            fill = 0;
        }
        if (values > cap) { /* a crop larger than the staging buffer goes directly */
            ctx->be->upload(ctx, b->data + start, crops[i].data, sizeof(float) * (size_t)values);
            start += values;
            continue;
        }
        memcpy(stage + fill, crops[i].data, sizeof(float) * (size_t)values);
        fill += values;
    }
    ctx->be->upload(ctx, b->data + start, stage, sizeof(float) * (size_t)fill);
    free(stage);
    qr_status st = qr_nn_backend_check(ctx);
    if (st != QR_OK) {
        qr_nn_patch_bank_free(b);
        return st;
    }
    *out = b;
    return QR_OK;
}

/* The blur radius of the host sampler (data/patch.c): floor(4 sigma + 0.5), capped at S - 1; 0
 * for no blur or a one-tap kernel. */
static int32_t blur_radius(double sigma, int S) {
    if (!(sigma > 0)) return 0;
    int r = (int)floor(4 * sigma + 0.5);
    if (r < 1) return 0;
    return r > S - 1 ? S - 1 : r;
}

qr_status qr_nn_patch_bank_stage(qr_nn_patch_bank *b, const qr_nn_patch_sample *s, int64_t n, const int patch[3],
                                 qr_nn_patch_stage *out) {
    memset(out, 0, sizeof *out);
    if (n < 1) return qr_fail(QR_ERR_INVALID_ARG, "no samples to draw from the patch bank");
    if (!s) return qr_fail(QR_ERR_INVALID_ARG, "a batch with a patch bank needs its samples");
    qr_nn_context *ctx = b->ctx;
    if (n > b->jobs_cap) {
        int64_t cap = n > 2 * b->jobs_cap ? n : 2 * b->jobs_cap;
        qr_nn_patch_job *h = realloc(b->jobs_host, (size_t)cap * sizeof *h);
        if (!h) return qr_fail(QR_ERR_NOMEM, "out of memory for %lld patch jobs", (long long)n);
        b->jobs_host = h;
        if (b->jobs) ctx->be->free(ctx, b->jobs);
        b->jobs = ctx->be->alloc(ctx, (size_t)cap * sizeof *b->jobs);
        b->jobs_cap = b->jobs ? cap : 0;
        if (!b->jobs) {
            QR_TRY(qr_nn_backend_check(ctx));
            return qr_fail(QR_ERR_NOMEM, "out of memory: device memory for %lld patch jobs", (long long)n);
        }
    }
    const int S[3] = {patch[2], patch[1], patch[0]}; /* W, H, D */
    for (int64_t i = 0; i < n; i++) {
        const qr_nn_patch_sample *x = &s[i];
        qr_nn_patch_job *j = &b->jobs_host[i];
        memset(j, 0, sizeof *j);
        if (x->crop < 0 || x->crop >= b->n)
            return qr_fail(QR_ERR_INVALID_ARG, "sample %lld reads crop %lld; the bank holds %lld", (long long)i,
                           (long long)x->crop, (long long)b->n);
        if (x->mode != QR_NN_SAMPLE_GRID && x->mode != QR_NN_SAMPLE_AFFINE && x->mode != QR_NN_SAMPLE_CONTEXT)
            return qr_fail(QR_ERR_INVALID_ARG, "sample %lld: unknown sampling mode %d", (long long)i, (int)x->mode);
        if (x->flip < -1 || x->flip > 2)
            return qr_fail(QR_ERR_INVALID_ARG, "sample %lld: flip axis %d (expected -1, 0, 1 or 2)", (long long)i, x->flip);
        if (x->mode == QR_NN_SAMPLE_CONTEXT && (x->turns < 0 || x->turns > 3 || (x->turns && S[0] != S[1])))
            return qr_fail(QR_ERR_INVALID_ARG, "sample %lld: %d quarter turns of a %d x %d patch", (long long)i, x->turns,
                           S[0], S[1]);
        j->offset = b->offset[x->crop];
        j->mode = (int32_t)x->mode;
        j->flip = x->flip;
        j->turns = x->mode == QR_NN_SAMPLE_CONTEXT ? x->turns : 0;
        for (int a = 0; a < 3; a++) {
            j->size[a] = b->size[x->crop][a];
            if (x->base[a] < INT32_MIN / 2 || x->base[a] > INT32_MAX / 2)
                return qr_fail(QR_ERR_INVALID_ARG, "sample %lld: base index %lld out of range", (long long)i,
                               (long long)x->base[a]);
            j->base[a] = (int32_t)x->base[a];
            j->centre[a] = (float)x->centre[a];
            for (int q = 0; q < 3; q++) j->A[3 * a + q] = (float)x->A[a][q];
            if (!isfinite(x->sigma[a]) || x->sigma[a] < 0 || !isfinite(x->centre[a]) || !isfinite(x->A[a][0]) ||
                !isfinite(x->A[a][1]) || !isfinite(x->A[a][2]))
                return qr_fail(QR_ERR_NONFINITE, "sample %lld: non-finite or negative sampling parameters", (long long)i);
            j->sigma[a] = (float)x->sigma[a];
            j->radius[a] = x->mode == QR_NN_SAMPLE_CONTEXT ? 0 : blur_radius(x->sigma[a], S[a]);
            if (j->radius[a] > 0) out->any_blur = 1;
        }
        if (x->mode == QR_NN_SAMPLE_CONTEXT) out->any_context = 1;
    }
    ctx->be->upload(ctx, b->jobs, b->jobs_host, (size_t)n * sizeof *b->jobs);
    out->jobs = b->jobs;
    out->data = b->data;
    out->channels = b->channels;
    return QR_OK;
}

void qr_nn_patch_stage_run(qr_nn_context *ctx, const qr_nn_patch_stage *st, const qr_nn_shape5 *s, int channel0,
                           float *out) {
    ctx->be->patch_sample(ctx, s, channel0, out, st->data, st->jobs, st->any_blur, st->any_context);
}

qr_nn_context *qr_nn_patch_bank_context(const qr_nn_patch_bank *b) { return b->ctx; }
int qr_nn_patch_bank_channels(const qr_nn_patch_bank *b) { return b->channels; }

qr_status qr_nn_patch_bank_sample(qr_nn_patch_bank *b, const qr_nn_patch_sample *s, int64_t n, const int patch[3],
                                  float *out) {
    if (!b) return qr_fail(QR_ERR_INVALID_ARG, "no patch bank");
    for (int a = 0; a < 3; a++)
        if (patch[a] < 1) return qr_fail(QR_ERR_INVALID_ARG, "patch size %d x %d x %d", patch[0], patch[1], patch[2]);
    qr_nn_context *ctx = b->ctx;
    qr_nn_patch_stage st;
    QR_TRY(qr_nn_patch_bank_stage(b, s, n, patch, &st));
    qr_nn_shape5 sh = {(int)n, b->channels, patch[0], patch[1], patch[2]};
    size_t bytes = sizeof(float) * (size_t)n * (size_t)b->channels * (size_t)patch[0] * (size_t)patch[1] * (size_t)patch[2];
    if (bytes > b->out_bytes) {
        if (b->out) ctx->be->free(ctx, b->out);
        b->out = ctx->be->alloc(ctx, bytes);
        b->out_bytes = b->out ? bytes : 0;
        if (!b->out) {
            QR_TRY(qr_nn_backend_check(ctx));
            return qr_fail(QR_ERR_NOMEM, "out of memory: device memory for %lld sampled patches", (long long)n);
        }
    }
    qr_nn_patch_stage_run(ctx, &st, &sh, 0, b->out);
    if (out) {
        ctx->be->download5(ctx, &sh, out, b->out);
    } else { /* keep the patches on the device; one value back waits for the sampler */
        float one;
        ctx->be->download(ctx, &one, b->out, sizeof one);
    }
    return qr_nn_backend_check(ctx);
}
