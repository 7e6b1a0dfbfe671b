/*
 * nn_train.c - the trainer: one training step = forward in training mode with dropout and
 * DeepSMOTE draws from the trainer's seeded generator, loss, backward, Adam (PyTorch semantics)
 * with a MultiStepLR schedule by epoch.
 *
 * Draw order within a step (fixed, so a seed reproduces a run): the radiomic-branch dropout
 * mask (n x 16w, row-major), the DeepSMOTE weights (one U(0,1) per synthetic row, in row order),
 * the classifier dropout mask ((n + synthetic) x 2w). Masks hold 0 or 1/(1-p).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

#define BE (t->model->ctx->be)
#define CTX (t->model->ctx)

qr_nn_train_options qr_nn_train_options_default(void) {
    qr_nn_train_options o;
    memset(&o, 0, sizeof o);
    o.lr = 1e-4;
    o.beta1 = 0.9;
    o.beta2 = 0.999;
    o.eps = 1e-8;
    o.weight_decay = 0;
    o.conv_l2 = 0;
    o.lr_gamma = 0.1;
    o.n_milestones = 0;
    o.smote = QR_NN_SMOTE_RELEASED;
    o.class_weight[0] = o.class_weight[1] = 1.0f;
    o.seed = 0;
    o.max_batch = 64;
    return o;
}

static qr_status check_options(const qr_nn_train_options *o) {
    if (!(o->lr > 0) || !isfinite(o->lr)) return qr_fail(QR_ERR_INVALID_ARG, "learning rate must be > 0, got %g", o->lr);
    if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1))
        return qr_fail(QR_ERR_INVALID_ARG, "Adam betas must be in [0, 1), got %g, %g", o->beta1, o->beta2);
    if (!(o->eps > 0)) return qr_fail(QR_ERR_INVALID_ARG, "Adam eps must be > 0, got %g", o->eps);
    if (!(o->weight_decay >= 0) || !(o->conv_l2 >= 0)) return qr_fail(QR_ERR_INVALID_ARG, "weight decay must be >= 0");
    if (!(o->lr_gamma > 0)) return qr_fail(QR_ERR_INVALID_ARG, "learning-rate decay factor must be > 0, got %g", o->lr_gamma);
    if (o->n_milestones < 0 || o->n_milestones > QR_NN_MAX_MILESTONES)
        return qr_fail(QR_ERR_INVALID_ARG, "%d learning-rate milestones (at most %d)", o->n_milestones, QR_NN_MAX_MILESTONES);
    for (int i = 1; i < o->n_milestones; i++)
        if (o->milestones[i] < o->milestones[i - 1])
            return qr_fail(QR_ERR_INVALID_ARG, "learning-rate milestones must be ascending");
    if (o->smote < 0 || o->smote >= QR_NN_SMOTE_COUNT) return qr_fail(QR_ERR_INVALID_ARG, "unknown DeepSMOTE variant");
    if (!(o->class_weight[0] > 0) || !(o->class_weight[1] > 0))
        return qr_fail(QR_ERR_INVALID_ARG, "class weights must be > 0");
    if (o->max_batch < 1 || o->max_batch > 1 << 20) return qr_fail(QR_ERR_INVALID_ARG, "max batch %d out of range", o->max_batch);
    return QR_OK;
}

qr_status qr_nn_trainer_create(qr_nn_model *m, int member, const qr_nn_train_options *opt, qr_nn_trainer **out) {
    *out = NULL;
    qr_nn_train_options o = opt ? *opt : qr_nn_train_options_default();
    QR_TRY(check_options(&o));
    if (member < 0 || member >= m->n_members)
        return qr_fail(QR_ERR_INVALID_ARG, "member %d does not exist (the model has %d)", member, m->n_members);
    if (m->training_member >= 0) return qr_fail(QR_ERR_INVALID_ARG, "the model already has a trainer attached");
    qr_nn_trainer *t = calloc(1, sizeof *t);
    if (!t) return qr_fail(QR_ERR_NOMEM, "out of memory creating a trainer");
    t->model = m;
    t->member = member;
    t->opt = o;
    const size_t bytes = sizeof(float) * (size_t)(m->spec.n_params > 0 ? m->spec.n_params : 1);
    t->grads = BE->alloc(CTX, bytes);
    t->m = BE->alloc(CTX, bytes);
    t->v = BE->alloc(CTX, bytes);
    if (!t->grads || !t->m || !t->v) {
        const qr_status st = qr_nn_backend_check(CTX); /* a pending device failure, if that was the cause */
        qr_nn_trainer_free(t);
        return st != QR_OK ? st
                           : qr_fail(QR_ERR_NOMEM, "out of memory: %.1f MB of gradients and Adam state",
                                     3.0 * (double)bytes / 1048576.0);
    }
    qr_status s = qr_nn_ws_reserve(CTX, &m->spec, &t->ws, o.max_batch, 1);
    if (s != QR_OK) {
        qr_nn_trainer_free(t);
        return s;
    }
    qr_rng_seed(&t->rng, o.seed, 0x747261696eULL /* "train" */);
    t->lr = o.lr;
    m->training_member = member;
    *out = t;
    return QR_OK;
}

void qr_nn_trainer_free(qr_nn_trainer *t) {
    if (!t) return;
    if (t->grads) BE->free(CTX, t->grads);
    if (t->m) BE->free(CTX, t->m);
    if (t->v) BE->free(CTX, t->v);
    qr_nn_ws_free(CTX, &t->ws);
    free(t->fix_smote);
    free(t->fix_drop_rad);
    free(t->fix_drop_cls);
    if (t->model->training_member == t->member) t->model->training_member = -1;
    free(t);
}

void qr_nn_trainer_set_epoch(qr_nn_trainer *t, int epoch) {
    t->epoch = epoch;
    double lr = t->opt.lr;
    for (int i = 0; i < t->opt.n_milestones; i++)
        if (epoch >= t->opt.milestones[i]) lr *= t->opt.lr_gamma;
    t->lr = lr;
}

void qr_nn_trainer_set_lr(qr_nn_trainer *t, double lr) { t->lr = lr; }

int qr_nn_trainer_epoch(const qr_nn_trainer *t) { return t->epoch; }
int64_t qr_nn_trainer_step_count(const qr_nn_trainer *t) { return t->step; }
double qr_nn_trainer_lr(const qr_nn_trainer *t) { return t->lr; }

static qr_status copy_fix(float **dst, int64_t *ndst, const float *src, int64_t n) {
    free(*dst);
    *dst = NULL;
    *ndst = 0;
    if (!src) return QR_OK;
    if (n <= 0) return qr_fail(QR_ERR_INVALID_ARG, "fixed draws given with count %lld", (long long)n);
    *dst = malloc(sizeof(float) * (size_t)n);
    if (!*dst) return qr_fail(QR_ERR_NOMEM, "out of memory");
    memcpy(*dst, src, sizeof(float) * (size_t)n);
    *ndst = n;
    return QR_OK;
}

qr_status qr_nn_trainer_fix_draws(qr_nn_trainer *t, const float *smote_weights, int64_t n_smote,
                                  const float *dropout_radiomic, int64_t n_drop_rad,
                                  const float *dropout_classifier, int64_t n_drop_cls) {
    QR_TRY(copy_fix(&t->fix_smote, &t->n_fix_smote, smote_weights, n_smote));
    QR_TRY(copy_fix(&t->fix_drop_rad, &t->n_fix_drop_rad, dropout_radiomic, n_drop_rad));
    QR_TRY(copy_fix(&t->fix_drop_cls, &t->n_fix_drop_cls, dropout_classifier, n_drop_cls));
    return QR_OK;
}

/* A dropout mask of count values (0 or 1/(1-p)), or the fixed one. */
static qr_status draw_mask(qr_nn_trainer *t, float p, int64_t count, const float *fixed, int64_t nfixed, float **out,
                           const char *what) {
    *out = NULL;
    if (fixed) {
        if (nfixed != count)
            return qr_fail(QR_ERR_INVALID_ARG, "fixed %s dropout mask has %lld values, the step needs %lld", what,
                           (long long)nfixed, (long long)count);
    } else if (p <= 0)
        return QR_OK;
    float *mask = malloc(sizeof(float) * (size_t)count);
    if (!mask) return qr_fail(QR_ERR_NOMEM, "out of memory");
    if (fixed) memcpy(mask, fixed, sizeof(float) * (size_t)count);
    else {
        const float keep = 1.0f / (1.0f - p);
        for (int64_t i = 0; i < count; i++) mask[i] = qr_rng_uniform(&t->rng) < p ? 0.0f : keep;
    }
    *out = mask;
    return QR_OK;
}

static qr_status check_train_batch(const qr_nn_trainer *t, const qr_nn_batch *b) {
    if (!b || b->n < 1) return qr_fail(QR_ERR_INVALID_ARG, "empty training batch");
    if (!b->labels) return qr_fail(QR_ERR_INVALID_ARG, "a training batch needs labels");
    if (b->n < 2 && t->model->spec.cfg.arch != QR_NN_ARCH_RIMNET)
        return qr_fail(QR_ERR_INVALID_ARG, "a training batch needs at least 2 samples (BatchNorm uses batch statistics)");
    for (int64_t i = 0; i < b->n; i++)
        if (b->labels[i] != 0.0f && b->labels[i] != 1.0f)
            return qr_fail(QR_ERR_INVALID_ARG, "label of sample %lld is %g; labels must be 0 or 1", (long long)i,
                           (double)b->labels[i]);
    return QR_OK;
}

qr_status qr_nn_trainer_forward_backward(qr_nn_trainer *t, const qr_nn_batch *b, qr_nn_step_stats *stats,
                                         float *logits, int64_t cap) {
    QR_TRY(check_train_batch(t, b));
    qr_nn_model *m = t->model;
    const qr_nn_spec *s = &m->spec;
    const qr_nn_config *c = &s->cfg;
    qr_nn_member *mb = &m->members[t->member];
    const int64_t n = b->n;
    QR_TRY(qr_nn_check_batch(CTX, s, b));
    QR_TRY(qr_nn_ws_reserve(CTX, s, &t->ws, n > t->ws.n_cap ? n : t->ws.n_cap, 1));
    QR_TRY(qr_nn_upload_batch(CTX, s, mb, &t->ws, b));

    float *mask_rad = NULL, *mask_cls = NULL, *weights = NULL;
    int32_t *pairs = NULL;
    float *latent = NULL;
    qr_status st = QR_OK;
    qr_nn_draws d = {0};
    int64_t npos = 0;
    for (int64_t i = 0; i < n; i++) npos += b->labels[i] > 0.5f;
    if (c->arch != QR_NN_ARCH_RIMNET)
        st = draw_mask(t, c->dropout_radiomic, n * s->rad.l1.fout, t->fix_drop_rad, t->n_fix_drop_rad, &mask_rad,
                       "radiomic");
    if (st == QR_OK) qr_nn_forward_train_features(CTX, s, mb, &t->ws, n, mask_rad);
    /* DeepSMOTE on the latent rows */
    if (st == QR_OK && c->arch == QR_NN_ARCH_QSMRIMNET && qr_nn_smote_rows(t->opt.smote, npos) > 0) {
        const int k = s->cls1.fin;
        latent = malloc(sizeof(float) * (size_t)(n * k));
        pairs = malloc(sizeof(int32_t) * (size_t)(2 * 3 * n));
        if (!latent || !pairs) st = qr_fail(QR_ERR_NOMEM, "out of memory");
        if (st == QR_OK) {
            BE->download(CTX, latent, qr_nn_latent(s, &t->ws), sizeof(float) * (size_t)(n * k));
            st = qr_nn_backend_check(CTX);
        }
        if (st == QR_OK) {
            d.m = qr_nn_smote_pairs(t->opt.smote, latent, n, k, b->labels, pairs);
            if (d.m < 0) st = qr_fail(QR_ERR_NOMEM, "out of memory");
        }
        if (st == QR_OK) {
            weights = malloc(sizeof(float) * (size_t)(d.m > 0 ? d.m : 1));
            if (!weights) st = qr_fail(QR_ERR_NOMEM, "out of memory");
            else if (t->fix_smote) {
                if (t->n_fix_smote != d.m)
                    st = qr_fail(QR_ERR_INVALID_ARG, "%lld fixed DeepSMOTE weights, the step needs %lld",
                                 (long long)t->n_fix_smote, (long long)d.m);
                else memcpy(weights, t->fix_smote, sizeof(float) * (size_t)d.m);
            } else
                for (int64_t i = 0; i < d.m; i++) weights[i] = (float)qr_rng_uniform(&t->rng);
        }
        d.pairs = pairs;
        d.weights = weights;
    }
    const int64_t ntot = n + d.m;
    if (st == QR_OK && c->arch != QR_NN_ARCH_RIMNET)
        st = draw_mask(t, c->dropout_classifier, ntot * s->cls1.fout, t->fix_drop_cls, t->n_fix_drop_cls, &mask_cls,
                       "classifier");
    if (st == QR_OK) {
        d.mask_rad = mask_rad;
        d.mask_cls = mask_cls;
        double loss = NAN;
        st = qr_nn_forward_backward_rest(CTX, s, mb, &t->ws, n, &d, b->labels, &t->opt, t->grads, &loss);
        if (stats) {
            stats->loss = loss;
            stats->n_real = n;
            stats->n_synth = d.m;
            stats->n_pos = npos;
            stats->lr = t->lr;
        }
        if (logits && st == QR_OK) {
            const int64_t per = c->arch == QR_NN_ARCH_RIMNET ? 2 : 1;
            int64_t cnt = ntot * per < cap ? ntot * per : cap;
            BE->download(CTX, logits, t->ws.o, sizeof(float) * (size_t)cnt);
        }
        if (st == QR_OK) st = qr_nn_backend_check(CTX);
        t->last_ntot = ntot;
    }
    free(mask_rad);
    free(mask_cls);
    free(weights);
    free(pairs);
    free(latent);
    /* fixed draws serve one step */
    free(t->fix_smote);
    free(t->fix_drop_rad);
    free(t->fix_drop_cls);
    t->fix_smote = t->fix_drop_rad = t->fix_drop_cls = NULL;
    t->n_fix_smote = t->n_fix_drop_rad = t->n_fix_drop_cls = 0;
    return st;
}

qr_status qr_nn_trainer_update(qr_nn_trainer *t) {
    qr_nn_model *m = t->model;
    qr_nn_member *mb = &m->members[t->member];
    t->step++;
    qr_nn_adam hp = {t->lr, t->opt.beta1, t->opt.beta2, t->opt.eps, t->opt.weight_decay, t->step};
    BE->adam_update(CTX, m->spec.n_params, mb->params, t->grads, t->m, t->v, &hp);
    return qr_nn_backend_check(CTX);
}

qr_status qr_nn_trainer_step(qr_nn_trainer *t, const qr_nn_batch *b, qr_nn_step_stats *stats) {
    QR_TRY(qr_nn_trainer_forward_backward(t, b, stats, NULL, 0));
    if (stats && !isfinite(stats->loss))
        return qr_fail(QR_ERR_NONFINITE, "the training loss is not finite at step %lld (diverged)", (long long)t->step + 1);
    return qr_nn_trainer_update(t);
}

static qr_status find_param(const qr_nn_trainer *t, const char *name, int64_t count, int *ti) {
    const qr_nn_spec *s = &t->model->spec;
    *ti = qr_nn_spec_find(s, name);
    if (*ti < 0 || s->t[*ti].kind != QR_NN_TENSOR_PARAM)
        return qr_fail(QR_ERR_INVALID_ARG, "the model has no trainable parameter '%s'", name);
    if (s->t[*ti].numel != count)
        return qr_fail(QR_ERR_INVALID_ARG, "parameter '%s' has %lld elements, not %lld", name,
                       (long long)s->t[*ti].numel, (long long)count);
    return QR_OK;
}

qr_status qr_nn_trainer_get_grad(const qr_nn_trainer *t, const char *name, float *out, int64_t count) {
    int ti;
    QR_TRY(find_param(t, name, count, &ti));
    const qr_nn_tensor *x = &t->model->spec.t[ti];
    BE->weight_download(CTX, x->layout, x->dims, out, t->grads + x->offset);
    return qr_nn_backend_check(CTX);
}

qr_status qr_nn_trainer_get_moments(const qr_nn_trainer *t, const char *name, float *mo, float *vo, int64_t count) {
    int ti;
    QR_TRY(find_param(t, name, count, &ti));
    const qr_nn_tensor *x = &t->model->spec.t[ti];
    if (mo) BE->weight_download(CTX, x->layout, x->dims, mo, t->m + x->offset);
    if (vo) BE->weight_download(CTX, x->layout, x->dims, vo, t->v + x->offset);
    return qr_nn_backend_check(CTX);
}
