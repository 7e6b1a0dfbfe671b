/*
 * nn_model.c - models: creation with PyTorch's default initialisation, members (ensembles),
 * preprocessing, named tensors, and inference over batches of any size.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "nn_internal.h"

#define BE (m->ctx->be)

static void meta_clear(qr_nn_model_meta *meta) {
    memset(meta, 0, sizeof *meta);
    meta->threshold_f1 = NAN;
    meta->threshold_sensitive = NAN;
    meta->seed = -1;
    snprintf(meta->channel_names, sizeof meta->channel_names, "QSM,FLAIR");
}

qr_status qr_nn_model_alloc(qr_nn_context *ctx, const qr_nn_config *cfg, qr_nn_model **out) {
    *out = NULL;
    if (!ctx) return qr_fail(QR_ERR_INVALID_ARG, "no compute context");
    qr_nn_model *m = calloc(1, sizeof *m);
    if (!m) return qr_fail(QR_ERR_NOMEM, "out of memory creating a model");
    qr_status s = qr_nn_spec_build(cfg, &m->spec);
    if (s != QR_OK) {
        free(m);
        return s;
    }
    m->ctx = ctx;
    m->training_member = -1;
    meta_clear(&m->meta);
    if (cfg->arch == QR_NN_ARCH_APRL_NN) m->meta.channel_names[0] = 0;
    *out = m;
    return QR_OK;
}

float *qr_nn_member_tensor_ptr(const qr_nn_spec *s, const qr_nn_member *mb, int ti) {
    const qr_nn_tensor *t = &s->t[ti];
    if (t->kind == QR_NN_TENSOR_PARAM) return mb->params + t->offset;
    if (t->kind == QR_NN_TENSOR_BUFFER) return mb->buffers + t->offset;
    return NULL;
}

void qr_nn_member_get(qr_nn_context *ctx, const qr_nn_spec *s, const qr_nn_member *mb, int ti, float *out) {
    const qr_nn_tensor *t = &s->t[ti];
    if (t->kind == QR_NN_TENSOR_COUNT_I64) {
        out[0] = (float)mb->counts[t->offset];
        return;
    }
    ctx->be->weight_download(ctx, t->layout, t->dims, out, qr_nn_member_tensor_ptr(s, mb, ti));
}

void qr_nn_member_set(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, int ti, const float *in) {
    const qr_nn_tensor *t = &s->t[ti];
    if (t->kind == QR_NN_TENSOR_COUNT_I64) {
        mb->counts[t->offset] = (int64_t)in[0];
        return;
    }
    ctx->be->weight_upload(ctx, t->layout, t->dims, qr_nn_member_tensor_ptr(s, mb, ti), in);
}

static void member_free(qr_nn_context *ctx, qr_nn_member *mb) {
    if (mb->params) ctx->be->free(ctx, mb->params);
    if (mb->buffers) ctx->be->free(ctx, mb->buffers);
    free(mb->counts);
    free(mb->rmean);
    free(mb->rsd);
    memset(mb, 0, sizeof *mb);
}

qr_status qr_nn_member_add(qr_nn_model *m, int *index) {
    qr_nn_member *mm = realloc(m->members, sizeof *mm * (size_t)(m->n_members + 1));
    if (!mm) return qr_fail(QR_ERR_NOMEM, "out of memory adding a model member");
    m->members = mm;
    qr_nn_member *mb = &m->members[m->n_members];
    memset(mb, 0, sizeof *mb);
    const qr_nn_spec *s = &m->spec;
    const int F = s->cfg.n_radiomic > 0 ? s->cfg.n_radiomic : 1;
    mb->params = BE->alloc(m->ctx, sizeof(float) * (size_t)(s->n_params > 0 ? s->n_params : 1));
    mb->buffers = BE->alloc(m->ctx, sizeof(float) * (size_t)(s->n_buffers > 0 ? s->n_buffers : 1));
    mb->counts = calloc((size_t)(s->n_counts > 0 ? s->n_counts : 1), sizeof(int64_t));
    mb->rmean = calloc((size_t)F, sizeof(float));
    mb->rsd = malloc(sizeof(float) * (size_t)F);
    if (!mb->params || !mb->buffers || !mb->counts || !mb->rmean || !mb->rsd) {
        member_free(m->ctx, mb);
        return qr_fail(QR_ERR_NOMEM, "out of memory: %.1f MB of parameters",
                       4.0 * (double)(s->n_params + s->n_buffers) / 1048576.0);
    }
    for (int i = 0; i < F; i++) mb->rsd[i] = 1.0f;
    for (int c = 0; c < QR_NN_MAX_CHANNELS; c++) {
        mb->shift[c] = 0.0f;
        mb->scale[c] = 1.0f;
    }
    mb->fold = -1;
    mb->seed = -1;
    *index = m->n_members++;
    return QR_OK;
}

/* Fill a member's tensors with the default initialisation drawn from one seeded stream. */
static qr_status member_init(qr_nn_model *m, int member, uint64_t seed) {
    const qr_nn_spec *s = &m->spec;
    qr_rng r;
    qr_rng_seed(&r, seed, 0x6e6e696e6974ULL /* "nninit" */);
    int64_t maxn = 1;
    for (int i = 0; i < s->nt; i++)
        if (s->t[i].numel > maxn) maxn = s->t[i].numel;
    float *buf = malloc(sizeof(float) * (size_t)maxn);
    if (!buf) return qr_fail(QR_ERR_NOMEM, "out of memory initialising a model");
    for (int i = 0; i < s->nt; i++) {
        const qr_nn_tensor *t = &s->t[i];
        for (int64_t k = 0; k < t->numel; k++) {
            switch (t->init) {
            case QR_NN_INIT_ZERO: buf[k] = 0.0f; break;
            case QR_NN_INIT_ONE: buf[k] = 1.0f; break;
            case QR_NN_INIT_NORMAL: buf[k] = (float)(t->init_a * qr_rng_normal(&r)); break;
            case QR_NN_INIT_UNIFORM: buf[k] = (float)qr_rng_range(&r, -t->init_a, t->init_a); break;
            }
        }
        if (t->kind == QR_NN_TENSOR_COUNT_I64) buf[0] = 0.0f;
        qr_nn_member_set(m->ctx, s, &m->members[member], i, buf);
    }
    free(buf);
    return QR_OK;
}

qr_status qr_nn_model_create(qr_nn_context *ctx, const qr_nn_config *cfg, uint64_t seed, qr_nn_model **out) {
    qr_nn_model *m;
    QR_TRY(qr_nn_model_alloc(ctx, cfg, &m));
    int idx;
    qr_status s = qr_nn_member_add(m, &idx);
    if (s == QR_OK) s = member_init(m, idx, seed);
    if (s == QR_OK) s = qr_nn_backend_check(ctx);
    if (s != QR_OK) {
        qr_nn_model_free(m);
        return s;
    }
    m->members[idx].seed = (int64_t)seed;
    *out = m;
    return QR_OK;
}

void qr_nn_model_free(qr_nn_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_members; i++) member_free(m->ctx, &m->members[i]);
    free(m->members);
    qr_nn_ws_free(m->ctx, &m->ws);
    if (m->rad_names) {
        for (int i = 0; i < m->spec.cfg.n_radiomic; i++) free(m->rad_names[i]);
        free(m->rad_names);
    }
    qr_nn_spec_free(&m->spec);
    free(m);
}

const qr_nn_config *qr_nn_model_config(const qr_nn_model *m) { return &m->spec.cfg; }
int qr_nn_model_members(const qr_nn_model *m) { return m->n_members; }
qr_nn_model_meta *qr_nn_model_meta_of(qr_nn_model *m) { return &m->meta; }
const qr_nn_model_meta *qr_nn_model_meta_const(const qr_nn_model *m) { return &m->meta; }
qr_nn_context *qr_nn_model_context(const qr_nn_model *m) { return m->ctx; }

int64_t qr_nn_model_param_count(const qr_nn_model *m) {
    int64_t n = 0;
    for (int i = 0; i < m->spec.nt; i++)
        if (m->spec.t[i].kind == QR_NN_TENSOR_PARAM) n += m->spec.t[i].numel;
    return n;
}

static qr_status check_member(const qr_nn_model *m, int member) {
    if (member < 0 || member >= m->n_members)
        return qr_fail(QR_ERR_INVALID_ARG, "member %d does not exist (the model has %d)", member, m->n_members);
    return QR_OK;
}

qr_status qr_nn_model_set_preprocess(qr_nn_model *m, int member, const float *intensity_shift,
                                     const float *intensity_scale, const float *radiomic_mean,
                                     const float *radiomic_sd) {
    QR_TRY(check_member(m, member));
    qr_nn_member *mb = &m->members[member];
    const qr_nn_config *c = &m->spec.cfg;
    for (int i = 0; i < c->in_channels; i++) {
        if (intensity_shift && !isfinite(intensity_shift[i]))
            return qr_fail(QR_ERR_NONFINITE, "intensity shift of channel %d is not finite", i);
        if (intensity_scale && !isfinite(intensity_scale[i]))
            return qr_fail(QR_ERR_NONFINITE, "intensity scale of channel %d is not finite", i);
    }
    for (int i = 0; i < c->n_radiomic; i++) {
        if (radiomic_mean && !isfinite(radiomic_mean[i]))
            return qr_fail(QR_ERR_NONFINITE, "radiomic mean of feature %d is not finite", i);
        if (radiomic_sd && !isfinite(radiomic_sd[i]))
            return qr_fail(QR_ERR_NONFINITE, "radiomic sd of feature %d is not finite", i);
    }
    for (int i = 0; i < c->in_channels; i++) {
        if (intensity_shift) mb->shift[i] = intensity_shift[i];
        if (intensity_scale) mb->scale[i] = intensity_scale[i];
    }
    for (int i = 0; i < c->n_radiomic; i++) {
        if (radiomic_mean) mb->rmean[i] = radiomic_mean[i];
        if (radiomic_sd) mb->rsd[i] = radiomic_sd[i];
    }
    return QR_OK;
}

qr_status qr_nn_model_get_preprocess(const qr_nn_model *m, int member, qr_nn_preprocess *out) {
    QR_TRY(check_member(m, member));
    const qr_nn_member *mb = &m->members[member];
    out->intensity_shift = mb->shift;
    out->intensity_scale = mb->scale;
    out->radiomic_mean = mb->rmean;
    out->radiomic_sd = mb->rsd;
    return QR_OK;
}

qr_status qr_nn_model_set_radiomic_names(qr_nn_model *m, const char *const *names, int n) {
    const int F = m->spec.cfg.n_radiomic;
    if (n != F) return qr_fail(QR_ERR_INVALID_ARG, "%d radiomic feature names for a model with %d inputs", n, F);
    char **nn = calloc((size_t)(F > 0 ? F : 1), sizeof *nn);
    if (!nn) return qr_fail(QR_ERR_NOMEM, "out of memory");
    for (int i = 0; i < F; i++) {
        nn[i] = strdup(names[i] ? names[i] : "");
        if (!nn[i]) {
            for (int j = 0; j < i; j++) free(nn[j]);
            free(nn);
            return qr_fail(QR_ERR_NOMEM, "out of memory");
        }
    }
    if (m->rad_names) {
        for (int i = 0; i < F; i++) free(m->rad_names[i]);
        free(m->rad_names);
    }
    m->rad_names = nn;
    return QR_OK;
}

const char *qr_nn_model_radiomic_name(const qr_nn_model *m, int i) {
    if (!m->rad_names || i < 0 || i >= m->spec.cfg.n_radiomic) return NULL;
    return m->rad_names[i];
}

qr_status qr_nn_model_set_member_info(qr_nn_model *m, int member, int fold, int64_t seed) {
    QR_TRY(check_member(m, member));
    m->members[member].fold = fold;
    m->members[member].seed = seed;
    return QR_OK;
}

qr_status qr_nn_model_get_member_info(const qr_nn_model *m, int member, int *fold, int64_t *seed) {
    QR_TRY(check_member(m, member));
    if (fold) *fold = m->members[member].fold;
    if (seed) *seed = m->members[member].seed;
    return QR_OK;
}

int qr_nn_config_same_arch(const qr_nn_config *a, const qr_nn_config *b) {
    return a->arch == b->arch && a->fusion == b->fusion && a->image_fusion == b->image_fusion && a->width == b->width &&
           a->layer4_stride == b->layer4_stride &&
           a->in_channels == b->in_channels && a->n_radiomic == b->n_radiomic && a->patch[0] == b->patch[0] &&
           a->patch[1] == b->patch[1] && a->patch[2] == b->patch[2] && a->rimnet_pool_stride == b->rimnet_pool_stride;
}

qr_status qr_nn_model_append(qr_nn_model *dst, const qr_nn_model *src) {
    if (dst->ctx != src->ctx) return qr_fail(QR_ERR_INVALID_ARG, "cannot join models living on different contexts");
    if (!qr_nn_config_same_arch(&dst->spec.cfg, &src->spec.cfg))
        return qr_fail(QR_ERR_MODEL, "cannot join a %s model with a different %s architecture",
                       qr_nn_arch_name(src->spec.cfg.arch), qr_nn_arch_name(dst->spec.cfg.arch));
    const qr_nn_spec *s = &dst->spec;
    qr_nn_model *m = dst;
    const int nsrc = src->n_members;
    for (int k = 0; k < nsrc; k++) {
        int idx;
        QR_TRY(qr_nn_member_add(dst, &idx));
        qr_nn_member *d = &dst->members[idx];
        const qr_nn_member *a = &src->members[k];
        BE->copy(m->ctx, d->params, a->params, sizeof(float) * (size_t)s->n_params);
        BE->copy(m->ctx, d->buffers, a->buffers, sizeof(float) * (size_t)s->n_buffers);
        memcpy(d->counts, a->counts, sizeof(int64_t) * (size_t)s->n_counts);
        memcpy(d->shift, a->shift, sizeof d->shift);
        memcpy(d->scale, a->scale, sizeof d->scale);
        int F = s->cfg.n_radiomic > 0 ? s->cfg.n_radiomic : 1;
        memcpy(d->rmean, a->rmean, sizeof(float) * (size_t)F);
        memcpy(d->rsd, a->rsd, sizeof(float) * (size_t)F);
        d->fold = a->fold;
        d->seed = a->seed;
    }
    return qr_nn_backend_check(m->ctx);
}

int qr_nn_model_tensor_count(const qr_nn_model *m) { return m->spec.nt; }
const char *qr_nn_model_tensor_name(const qr_nn_model *m, int i) {
    return i >= 0 && i < m->spec.nt ? m->spec.t[i].name : NULL;
}

int qr_nn_model_tensor_shape(const qr_nn_model *m, const char *name, int64_t dims[5]) {
    int i = qr_nn_spec_find(&m->spec, name);
    if (i < 0) return 0;
    for (int k = 0; k < m->spec.t[i].ndim; k++) dims[k] = m->spec.t[i].dims[k];
    return m->spec.t[i].ndim;
}

static qr_status find_tensor(const qr_nn_model *m, const char *name, int64_t count, int *ti) {
    *ti = qr_nn_spec_find(&m->spec, name);
    if (*ti < 0) return qr_fail(QR_ERR_INVALID_ARG, "the %s model has no tensor '%s'", qr_nn_arch_name(m->spec.cfg.arch), name);
    if (m->spec.t[*ti].numel != count)
        return qr_fail(QR_ERR_INVALID_ARG, "tensor '%s' has %lld elements, not %lld", name,
                       (long long)m->spec.t[*ti].numel, (long long)count);
    return QR_OK;
}

qr_status qr_nn_model_get_tensor(const qr_nn_model *m, int member, const char *name, float *out, int64_t count) {
    QR_TRY(check_member(m, member));
    int ti;
    QR_TRY(find_tensor(m, name, count, &ti));
    qr_nn_member_get(m->ctx, &m->spec, &m->members[member], ti, out);
    return qr_nn_backend_check(m->ctx);
}

qr_status qr_nn_model_set_tensor(qr_nn_model *m, int member, const char *name, const float *in, int64_t count) {
    QR_TRY(check_member(m, member));
    int ti;
    QR_TRY(find_tensor(m, name, count, &ti));
    for (int64_t i = 0; i < count; i++)
        if (!isfinite(in[i])) return qr_fail(QR_ERR_NONFINITE, "tensor '%s' holds a non-finite value at %lld", name, (long long)i);
    qr_nn_member_set(m->ctx, &m->spec, &m->members[member], ti, in);
    return qr_nn_backend_check(m->ctx);
}

/* Samples per inference chunk: bounded activation memory. A GPU takes 4x larger chunks (a
 * batch of 256 QSMRim-Net patches in one pass: fewer, fuller kernel launches). */
static int64_t infer_chunk(const qr_nn_context *ctx, const qr_nn_config *c) {
    const int64_t f = ctx->device.kind == QR_NN_DEVICE_CUDA ? 4 : 1;
    if (c->arch == QR_NN_ARCH_APRL_NN) return 1024 * f;
    if (c->arch == QR_NN_ARCH_RIMNET) return (c->rimnet_pool_stride == 1 ? 4 : 32) * f;
    return 64 * f;
}

qr_status qr_nn_model_infer_member(qr_nn_model *m, int member, const qr_nn_batch *b, float *logits) {
    QR_TRY(check_member(m, member));
    if (!b || b->n < 0) return qr_fail(QR_ERR_INVALID_ARG, "no batch given");
    if (b->n == 0) return QR_OK;
    const qr_nn_config *c = &m->spec.cfg;
    QR_TRY(qr_nn_check_batch(m->ctx, &m->spec, b));
    const int64_t chunk = infer_chunk(m->ctx, c);
    const int64_t cap = b->n < chunk ? b->n : chunk;
    QR_TRY(qr_nn_ws_reserve(m->ctx, &m->spec, &m->ws, cap > m->ws.n_cap ? cap : m->ws.n_cap, 0));
    const int64_t P = (int64_t)c->patch[0] * c->patch[1] * c->patch[2] * c->in_channels;
    for (int64_t i0 = 0; i0 < b->n; i0 += chunk) {
        int64_t n = b->n - i0 < chunk ? b->n - i0 : chunk;
        qr_nn_batch sub = {n, b->patches ? b->patches + i0 * P : NULL,
                           b->radiomics ? b->radiomics + i0 * c->n_radiomic : NULL, NULL, b->bank,
                           b->samples ? b->samples + i0 : NULL};
        QR_TRY(qr_nn_upload_batch(m->ctx, &m->spec, &m->members[member], &m->ws, &sub));
        QR_TRY(qr_nn_forward_infer(m->ctx, &m->spec, &m->members[member], &m->ws, n, logits + i0));
        QR_TRY(qr_nn_backend_check(m->ctx));
    }
    return QR_OK;
}

qr_status qr_nn_model_infer(qr_nn_model *m, const qr_nn_batch *b, float *logits) {
    for (int k = 0; k < m->n_members; k++) QR_TRY(qr_nn_model_infer_member(m, k, b, logits + (int64_t)k * b->n));
    return QR_OK;
}

float qr_nn_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

float qr_nn_ensemble_probability(const float *logits, int members, int64_t n, int64_t i) {
    double s = 0;
    for (int k = 0; k < members; k++) s += qr_nn_sigmoid(logits[(int64_t)k * n + i]);
    return members > 0 ? (float)(s / members) : NAN;
}

int qr_nn_name_ok(const char *s) {
    if (!s || !*s) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '.' || *s == '-'))
            return 0;
    return 1;
}
