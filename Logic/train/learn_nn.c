/*
 * learn_nn.c - the networks as learners (qsmrimnet, rimnet, aprl-nn) on the CNN engine
 * (Logic/nn/nn.h): preprocessing fitted on the training lesions, mini-batch training with
 * augmentation, checkpoints every epoch, resume, progress, cancellation.
 *
 * Preprocessing stored in each member (the engine applies it inside forward):
 *   qsmrimnet  intensity_scale = (1 / qsm_scale, 1 / flair_scale), shift 0 (data/patch.h: RMS QSM
 *              and mean FLAIR ratio over the training lesions' voxels)
 *   rimnet     identity (each patch is min-max rescaled to [-1, 1] before the network)
 *   radiomics  mean and sd of each feature over the training lesions (NaN left out; sd 0 -> 1);
 *              a NaN feature is replaced by the member's mean before the network. With
 *              use_radiomics = false (the image-only ablation) sd = FLT_MAX: every feature maps to
 *              ~0, so the radiomic branch sees a constant and contributes a learned bias - the same
 *              in training and inference, and recorded in the model file itself.
 *
 * One epoch: the training lesions in a seeded random order (stream (seed, epoch)), mini-batches of
 * batch_size (a last batch of one lesion joins the previous one: batch normalisation needs two),
 * each lesion's augmentation drawn from stream (seed, epoch, lesion) so results do not depend on
 * threads (lesion_draw.h has the augmentation of each architecture). On a backend that samples
 * patches (the GPU) the dataset's crops go into a patch bank once per fit, and each batch sends
 * only the draws (patch_sampling: auto; `host` keeps the CPU sampler); a bank that does not fit
 * in device memory falls back to the host with a notice.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/fileutil.h"
#include "../core/rng.h"
#include "../data/feature_cache.h"
#include "../data/lesion_inputs.h"
#include "lesion_draw.h"
#include "../nn/nn.h"
#include "learner_internal.h"

/* The run's settings record as a checkpoint's int64 field: its SHA-256, first 60 bits. */
static int64_t settings_fingerprint(const char *text) {
    char hex[65];
    if (!text) text = "";
    qr_sha256_hex(text, strlen(text), hex);
    hex[15] = '\0';
    return (int64_t)strtoull(hex, NULL, 16);
}

/* A checkpoint's settings record against this run's: an error naming the first setting that
 * differs. A checkpoint that keeps only the hash (an older qsmrim wrote it) or cannot be read
 * passes here; loading it judges it. */
static qr_status check_settings_record(const char *checkpoint, const char *settings) {
    char there[QR_SETTINGS_MAX], diff[600] = "";
    qr_nn_field f = {"settings", QR_NN_FIELD_TEXT, there, sizeof there};
    if (qr_nn_checkpoint_read_fields(checkpoint, &f, 1) == QR_OK)
        qr_settings_first_difference(there, settings, diff, sizeof diff);
    else
        qr_clear_error();
    if (diff[0])
        return qr_fail(QR_ERR_INVALID_ARG,
                       "%s: the checkpoint was written with other training settings (%s); remove it to start "
                       "anew",
                       checkpoint, diff);
    return QR_OK;
}

/* A checkpoint written on another engine (a GPU run continued on the CPU, or the reverse): said
 * once, as the result then differs from an uninterrupted run's on either in the last digits. A
 * checkpoint that does not record its engine (an older qsmrim wrote it) is not judged. */
static void notice_other_engine(const char *checkpoint, const char *engine) {
    char there[QR_ENGINE_MAX];
    qr_nn_field f = {"engine", QR_NN_FIELD_TEXT, there, sizeof there};
    if (qr_nn_checkpoint_read_fields(checkpoint, &f, 1) != QR_OK) {
        qr_clear_error();
        return;
    }
    if (strcmp(there, engine) != 0)
        qr_log(QR_LOG_NOTICE, "%s was written on %s and training goes on on %s: the model will differ from an uninterrupted run's on either in the last digits (rounding)",
               checkpoint, there, engine);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void qr_nn_learner_release(qr_learner *l) {
    qr_nn_model_free(l->model);
    qr_nn_context_free(l->ctx);
    l->model = NULL;
    l->ctx = NULL;
    l->nmembers = 0;
}

static qr_nn_arch to_nn_arch(qr_arch_id a) {
    return a == QR_ARCH_RIMNET ? QR_NN_ARCH_RIMNET : (a == QR_ARCH_APRL_NN ? QR_NN_ARCH_APRL_NN : QR_NN_ARCH_QSMRIMNET);
}

static qr_status make_context(const char *device, int threads, qr_nn_context **ctx) {
    qr_nn_context_options co = qr_nn_context_options_default();
    QR_TRY(qr_nn_device_parse(device ? device : "auto", &co.device));
    co.threads = threads;
    return qr_nn_context_create(&co, ctx);
}

/* ---- inputs of a batch ---- */

typedef struct batch_buf {
    float *patches;   /* (cap, 2, 16, 32, 32): host-sampled image inputs, or NULL */
    qr_nn_patch_sample *samples; /* (cap): the device sampler's jobs, or NULL */
    qr_lesion_draw *draws;       /* (cap) when there is an image input */
    float *radiomics; /* (cap, F) */
    float *labels;    /* (cap) */
    int64_t cap;
} batch_buf;

static void batch_free(batch_buf *b) {
    free(b->patches);
    free(b->samples);
    free(b->draws);
    free(b->radiomics);
    free(b->labels);
    memset(b, 0, sizeof *b);
}

/* image: 0 none (aprl-nn), 1 host patches, 2 samples for a patch bank. */
static qr_status batch_alloc(batch_buf *b, int64_t cap, int64_t F, int image) {
    memset(b, 0, sizeof *b);
    b->cap = cap;
    if (image == 1) b->patches = malloc((size_t)cap * QR_PATCH_SIZE * sizeof(float));
    if (image == 2) b->samples = malloc((size_t)cap * sizeof *b->samples);
    if (image) b->draws = malloc((size_t)cap * sizeof *b->draws);
    if (F > 0) b->radiomics = malloc((size_t)cap * (size_t)F * sizeof(float));
    b->labels = malloc((size_t)cap * sizeof(float));
    if ((image == 1 && !b->patches) || (image == 2 && !b->samples) || (image && !b->draws) || (F > 0 && !b->radiomics) ||
        !b->labels) {
        batch_free(b);
        return qr_fail(QR_ERR_NOMEM, "out of memory for a batch of %lld lesions", (long long)cap);
    }
    return QR_OK;
}

/* Radiomic row of lesion i: raw values, NaN replaced by the member's mean. */
static void radiomic_row(const qr_dataset *d, int64_t i, const float *mean, float *out) {
    const double *src = d->features + i * d->nfeatures;
    for (int64_t f = 0; f < d->nfeatures; f++) out[f] = isnan(src[f]) ? mean[f] : (float)src[f];
}

/* Fill rows [0, m) of the batch with lesions idx[0..m): radiomic rows, labels and the image
 * input - sampled here into b->patches, or, with a patch bank, described in b->samples for the
 * device sampler (the same draws: each lesion's augmentation comes from its own stream). */
static void fill_batch(const qr_dataset *d, qr_arch_id arch, const qr_train_config *cfg, const int64_t *idx, int64_t m,
                       int augment, uint64_t seed, int epoch, const float *mean, int flip_axis, batch_buf *b) {
    if (b->draws) {
        qr_augment_config ac = qr_augment_config_default();
        ac.p_flip = cfg->p_flip;
        ac.p_affine = cfg->p_affine;
        ac.p_blur = cfg->p_blur;
        const int context = arch == QR_ARCH_RIMNET;
        qr_lesion_draws_make(context, d->label, idx, m, augment, &ac, qr_turns_parse(cfg->rimnet_turns), flip_axis,
                             seed, epoch, b->draws);
        const qr_lesion_crop *crops = context ? d->context : d->crops;
        if (b->samples) qr_lesion_draws_jobs(crops, idx, b->draws, m, b->samples);
        else qr_lesion_draws_sample(crops, idx, b->draws, m, cfg->threads, b->patches);
    }
    for (int64_t r = 0; r < m; r++) {
        if (b->radiomics && mean) radiomic_row(d, idx[r], mean, b->radiomics + r * d->nfeatures);
        b->labels[r] = (float)d->label[idx[r]];
    }
}

/* ---- preprocessing fitted on the training lesions ---- */

static qr_status fit_preprocess(const qr_dataset *d, const int64_t *idx, int64_t n, qr_arch_id arch,
                                const qr_train_config *cfg, qr_nn_model *m) {
    float shift[2] = {0, 0}, scale[2] = {1, 1};
    if (arch == QR_ARCH_QSMRIMNET) {
        double q2 = 0, fr = 0;
        int64_t nv = 0;
        for (int64_t k = 0; k < n; k++) {
            q2 += d->sum_qsm2[idx[k]];
            fr += d->sum_flair[idx[k]];
            nv += d->nvox[idx[k]];
        }
        double qs = nv > 0 ? sqrt(q2 / (double)nv) : 1, fs = nv > 0 ? fr / (double)nv : 1;
        scale[0] = (float)(qs > 0 ? 1.0 / qs : 1.0);
        scale[1] = (float)(fs > 0 ? 1.0 / fs : 1.0);
    }
    float *mean = NULL, *sd = NULL;
    int64_t F = arch == QR_ARCH_RIMNET ? 0 : d->nfeatures;
    if (F > 0) {
        mean = malloc((size_t)F * sizeof *mean);
        sd = malloc((size_t)F * sizeof *sd);
        if (!mean || !sd) {
            free(mean);
            free(sd);
            return qr_fail(QR_ERR_NOMEM, "out of memory");
        }
        for (int64_t f = 0; f < F; f++) {
            double s = 0, s2 = 0;
            int64_t c = 0;
            for (int64_t k = 0; k < n; k++) {
                double v = d->features[idx[k] * d->nfeatures + f];
                if (isnan(v)) continue;
                s += v;
                c++;
            }
            double mu = c ? s / (double)c : 0;
            for (int64_t k = 0; k < n; k++) {
                double v = d->features[idx[k] * d->nfeatures + f];
                if (!isnan(v)) s2 += (v - mu) * (v - mu);
            }
            double sdv = c > 1 ? sqrt(s2 / (double)(c - 1)) : 0;
            mean[f] = (float)mu;
            sd[f] = sdv > 0 && isfinite(sdv) ? (float)sdv : 1.0f;
            if (!cfg->use_radiomics && arch == QR_ARCH_QSMRIMNET) {
                mean[f] = 0;
                sd[f] = FLT_MAX; /* image-only ablation: every feature maps to ~0 */
            }
        }
    }
    qr_status st = qr_nn_model_set_preprocess(m, 0, arch == QR_ARCH_APRL_NN ? NULL : shift,
                                              arch == QR_ARCH_APRL_NN ? NULL : scale, mean, sd);
    free(mean);
    free(sd);
    return st;
}

/* The plateau schedule (lr_schedule: plateau, as Keras' ReduceLROnPlateau with cooldown 0): after
 * each epoch, a mean training loss below the best by more than min_delta is the new best;
 * otherwise one more epoch waits, and after `patience` of them the next rate of the list is taken
 * and the wait starts again. Its state goes into the checkpoint, so a resumed run goes on alike. */
typedef struct lr_plateau {
    int64_t level; /* 0: learning_rate; k: plateau_rates[k - 1] */
    double best;
    int64_t wait;
} lr_plateau;

static double plateau_rate(const qr_train_config *cfg, const lr_plateau *pl) {
    return pl->level == 0 ? cfg->learning_rate : cfg->plateau_rates[pl->level - 1];
}

static void plateau_epoch_end(const qr_train_config *cfg, lr_plateau *pl, double loss, int epoch) {
    if (loss < pl->best - cfg->plateau_min_delta) {
        pl->best = loss;
        pl->wait = 0;
        return;
    }
    if (++pl->wait < cfg->plateau_patience || pl->level >= cfg->n_plateau_rates) return;
    const double from = plateau_rate(cfg, pl);
    pl->level++;
    pl->wait = 0;
    qr_log(QR_LOG_NOTICE, "epoch %d: the training loss has not fallen for %d epoch%s (best %.4g); learning rate %g -> %g",
           epoch + 1, cfg->plateau_patience, cfg->plateau_patience == 1 ? "" : "s", pl->best, from, plateau_rate(cfg, pl));
}

qr_status qr_nn_learner_fit(const qr_dataset *d, const int64_t *idx, int64_t n, const qr_fit_options *o, qr_learner *l) {
    const qr_train_config *cfg = o->cfg;
    qr_arch_id arch = o->arch;
    if (arch == QR_ARCH_QSMRIMNET && !d->crops) return qr_fail(QR_ERR_INVALID_ARG, "qsmrimnet needs lesion crops");
    if (arch == QR_ARCH_RIMNET && !d->context) return qr_fail(QR_ERR_INVALID_ARG, "rimnet needs context windows");
    if (arch != QR_ARCH_RIMNET && d->nfeatures == 0)
        return qr_fail(QR_ERR_INVALID_ARG, "%s needs radiomic features", qr_arch_to_name(arch));
    QR_TRY(make_context(o->device, cfg->threads, &l->ctx));
    qr_nn_config nc = qr_nn_config_default(to_nn_arch(arch));
    if (arch == QR_ARCH_RIMNET) {
        nc.width = cfg->width;
        nc.n_radiomic = 0;
        nc.rimnet_pool_stride = cfg->rimnet_pool_stride;
    } else {
        nc.width = cfg->width;
        nc.n_radiomic = (int)d->nfeatures;
    }
    if (arch == QR_ARCH_QSMRIMNET) {
        qr_nn_fusion fu;
        QR_TRY(qr_nn_fusion_parse(cfg->fusion, &fu));
        nc.fusion = fu;
        QR_TRY(qr_nn_image_fusion_parse(cfg->image_fusion, &nc.image_fusion));
        nc.layer4_stride = cfg->layer4_stride;
    }
    nc.in_channels = 2;
    nc.patch[0] = QR_PATCH_D;
    nc.patch[1] = QR_PATCH_H;
    nc.patch[2] = QR_PATCH_W;
    QR_TRY(qr_nn_config_check(&nc));
    QR_TRY(qr_nn_model_create(l->ctx, &nc, o->seed, &l->model));
    l->nmembers = 1;
    QR_TRY(fit_preprocess(d, idx, n, arch, cfg, l->model));
    if (nc.n_radiomic > 0) QR_TRY(qr_nn_model_set_radiomic_names(l->model, (const char *const *)d->feature_names, (int)d->nfeatures));
    qr_nn_model_meta *meta = qr_nn_model_meta_of(l->model);
    meta->seed = (int64_t)o->seed;
    snprintf(meta->channel_names, sizeof meta->channel_names, "QSM,FLAIR/median");

    qr_nn_train_options to = qr_nn_train_options_default();
    to.lr = cfg->learning_rate;
    to.lr_gamma = cfg->lr_gamma;
    to.weight_decay = cfg->weight_decay;
    const int plateau = !strcmp(cfg->lr_schedule, "plateau");
    int ms[QR_TRAIN_MAX_MILESTONES];
    to.n_milestones = plateau ? 0 : qr_train_config_milestone_epochs(cfg, ms, QR_TRAIN_MAX_MILESTONES);
    for (int k = 0; k < to.n_milestones; k++) to.milestones[k] = ms[k];
    to.seed = o->seed;
    to.max_batch = cfg->batch_size + 1;
    to.smote = QR_NN_SMOTE_OFF;
    if (arch == QR_ARCH_QSMRIMNET) QR_TRY(qr_nn_smote_parse(cfg->deepsmote, &to.smote));
    snprintf(meta->smote, sizeof meta->smote, "%s", qr_nn_smote_name(to.smote));
    if (arch == QR_ARCH_RIMNET) {
        int64_t npos = 0;
        for (int64_t k = 0; k < n; k++) npos += d->label[idx[k]];
        double w = cfg->rimnet_class_weight > 0 ? cfg->rimnet_class_weight : (double)(n - npos) / (double)(npos ? npos : 1);
        to.class_weight[0] = 1.0f;
        to.class_weight[1] = (float)w;
        to.conv_l2 = cfg->rimnet_conv_l2;
    }
    qr_nn_trainer *t = NULL;
    QR_TRY(qr_nn_trainer_create(l->model, 0, &to, &t));

    int start = 0;
    const char *settings = o->settings ? o->settings : "";
    char engine[QR_ENGINE_MAX];
    qr_learner_engine(l, engine, sizeof engine);
    int64_t epochs_done = 0, settings_hash = settings_fingerprint(settings), stored_hash = 0;
    lr_plateau pl = {0, INFINITY, 0};
    /* saved: all seven; loaded: the first two, which every checkpoint has (the record is compared
     * before, where the checkpoint keeps it), and with a plateau schedule its state (a checkpoint
     * without it was written with other settings, which the hash has refused by then) */
    qr_nn_field fields[7] = {{"epochs_done", QR_NN_FIELD_I64, &epochs_done, 1},
                             {"settings_hash", QR_NN_FIELD_I64, &stored_hash, 1},
                             {"lr_plateau_level", QR_NN_FIELD_I64, &pl.level, 1},
                             {"lr_plateau_best_loss", QR_NN_FIELD_F64, &pl.best, 1},
                             {"lr_plateau_wait", QR_NN_FIELD_I64, &pl.wait, 1},
                             {"settings", QR_NN_FIELD_TEXT, (char *)settings, (int64_t)strlen(settings) + 1},
                             {"engine", QR_NN_FIELD_TEXT, engine, (int64_t)strlen(engine) + 1}};
    qr_status st = QR_OK;
    if (o->checkpoint && o->resume && qr_path_is_file(o->checkpoint) &&
        (st = check_settings_record(o->checkpoint, settings)) == QR_OK) {
        st = qr_nn_checkpoint_load(t, o->checkpoint, fields, plateau ? 5 : 2);
        if (st == QR_OK && stored_hash != settings_hash)
            st = qr_fail(QR_ERR_INVALID_ARG,
                         "%s: the checkpoint was written with other training settings; remove it to start anew",
                         o->checkpoint);
        else if (st != QR_OK && strstr(qr_last_error(), "settings_hash"))
            st = qr_fail(QR_ERR_INVALID_ARG,
                         "%s: the checkpoint does not record its training settings (an older qsmrim wrote it); "
                         "remove it to start anew",
                         o->checkpoint);
        else if (st != QR_OK)
            st = qr_fail_context(st, "resuming from %s", o->checkpoint);
        start = (int)epochs_done;
        if (st == QR_OK) qr_log(QR_LOG_NOTICE, "resuming from %s after epoch %d", o->checkpoint, start);
        if (st == QR_OK) notice_other_engine(o->checkpoint, engine);
    }
    stored_hash = settings_hash;
    int64_t *order = malloc((size_t)n * sizeof *order);
    batch_buf b;
    int64_t B = cfg->batch_size;
    /* patches sampled on the device when it can (lesion_draw.h); host sampling otherwise */
    qr_nn_patch_bank *bank = NULL;
    if (st == QR_OK && arch != QR_ARCH_APRL_NN && strcmp(cfg->patch_sampling, "host") != 0 &&
        qr_nn_context_samples_patches(l->ctx)) {
        st = qr_dataset_patch_bank(l->ctx, d, arch == QR_ARCH_RIMNET, &bank);
        if (st == QR_ERR_NOMEM) { /* too little device memory for the crops: the host samples */
            qr_log(QR_LOG_NOTICE, "%s; training patches are sampled on the host", qr_last_error());
            st = QR_OK;
        } else if (st == QR_OK) {
            qr_log(QR_LOG_INFO, "training patches sampled on %s from %lld lesion crops (%.1f MiB)",
                   qr_nn_context_describe(l->ctx), (long long)qr_nn_patch_bank_count(bank),
                   (double)qr_nn_patch_bank_bytes(bank) / 1048576.0);
        }
    }
    if (st == QR_OK)
        st = batch_alloc(&b, B + 1, arch == QR_ARCH_RIMNET ? 0 : d->nfeatures,
                         arch == QR_ARCH_APRL_NN ? 0 : bank ? 2 : 1);
    else memset(&b, 0, sizeof b);
    if (st == QR_OK && !order) st = qr_fail(QR_ERR_NOMEM, "out of memory");
    qr_nn_preprocess pp;
    if (st == QR_OK) st = qr_nn_model_get_preprocess(l->model, 0, &pp);
    int64_t nbatches = (n + B - 1) / B;
    if (nbatches > 1 && n % B == 1) nbatches--; /* the single last lesion joins the previous batch */
    for (int epoch = start; st == QR_OK && epoch < cfg->epochs; epoch++) {
        qr_nn_trainer_set_epoch(t, epoch);
        if (plateau) qr_nn_trainer_set_lr(t, plateau_rate(cfg, &pl));
        memcpy(order, idx, (size_t)n * sizeof *order);
        qr_rng rng;
        qr_rng_seed(&rng, o->seed, 0xE90C00ULL + (uint64_t)epoch);
        qr_rng_shuffle_i64(&rng, order, n);
        double loss_sum = 0, t0 = now_s();
        int64_t seen = 0;
        for (int64_t bi = 0; bi < nbatches; bi++) {
            if (QR_CANCELLED(o->cancel)) {
                /* a checkpoint is written at the end of every epoch */
                if (!o->checkpoint)
                    st = qr_fail(QR_ERR_CANCELLED, "training interrupted in epoch %d", epoch + 1);
                else if (epoch == 0)
                    st = qr_fail(QR_ERR_CANCELLED, "training interrupted in epoch 1 (before the first checkpoint)");
                else
                    st = qr_fail(QR_ERR_CANCELLED, "training interrupted in epoch %d (the checkpoint of epoch %d is kept)",
                                 epoch + 1, epoch);
                break;
            }
            int64_t a = bi * B, m = bi + 1 == nbatches ? n - a : B;
            fill_batch(d, arch, cfg, order + a, m, cfg->augment, o->seed, epoch, pp.radiomic_mean, -1, &b);
            qr_nn_batch nb = {m, b.patches, b.radiomics, b.labels, bank, b.samples};
            qr_nn_step_stats ss;
            st = qr_nn_trainer_step(t, &nb, &ss);
            if (st != QR_OK) break;
            loss_sum += ss.loss * (double)m;
            seen += m;
            if (o->progress) {
                qr_fit_progress pr = {epoch, cfg->epochs, bi + 1, nbatches, loss_sum / (double)seen,
                                      1000.0 * (now_s() - t0) / (double)seen, bi + 1 == nbatches};
                o->progress(&pr, o->user);
            }
        }
        if (st == QR_OK && plateau) plateau_epoch_end(cfg, &pl, loss_sum / (double)seen, epoch);
        if (st == QR_OK && o->checkpoint) {
            epochs_done = epoch + 1;
            st = qr_nn_checkpoint_save(t, o->checkpoint, fields, 7);
        }
    }
    batch_free(&b);
    free(order);
    qr_nn_patch_bank_free(bank);
    qr_nn_trainer_free(t);
    return st;
}

qr_status qr_nn_learner_predict(qr_learner *l, const qr_dataset *d, const int64_t *idx, int64_t n, int flip_axis,
                                double *member_prob) {
    const qr_nn_config *nc = qr_nn_model_config(l->model);
    qr_arch_id arch = l->arch;
    if (arch == QR_ARCH_QSMRIMNET && !d->crops) return qr_fail(QR_ERR_INVALID_ARG, "qsmrimnet needs lesion crops");
    if (arch == QR_ARCH_RIMNET && !d->context) return qr_fail(QR_ERR_INVALID_ARG, "rimnet needs context windows");
    int M = l->nmembers;
    int64_t F = nc->n_radiomic;
    /* the model's feature order, mapped onto the dataset's */
    int64_t *col = NULL;
    /* a model without feature names (imported from PyTorch) takes them by position: only the
     * same number of features can be those (the paper's 527 are not PyRadiomics' current 536, and
     * their order is not published) */
    if (F > 0 && !qr_nn_model_radiomic_name(l->model, 0) && F != d->nfeatures)
        return qr_fail(QR_ERR_MODEL,
                       "the model takes %lld radiomic features by position, without their names (an imported "
                       "checkpoint), and the radiomics settings give %lld: they cannot be matched (a checkpoint for "
                       "the paper's 527 features needs their order, which is not published)",
                       (long long)F, (long long)d->nfeatures);
    if (F > 0) {
        col = malloc((size_t)F * sizeof *col);
        if (!col) return qr_fail(QR_ERR_NOMEM, "out of memory");
        for (int64_t f = 0; f < F; f++) {
            const char *name = qr_nn_model_radiomic_name(l->model, (int)f);
            col[f] = name ? qr_dataset_feature(d, name) : (f < d->nfeatures ? f : -1);
            if (col[f] < 0) {
                free(col);
                return qr_fail(QR_ERR_MODEL, "the model needs the radiomic feature '%s', which the data lacks",
                               name ? name : "?");
            }
        }
    }
    const int64_t B = 128;
    batch_buf b;
    qr_status st = batch_alloc(&b, B, F, arch != QR_ARCH_APRL_NN);
    float *logits = malloc((size_t)B * sizeof *logits);
    if (st == QR_OK && !logits) st = qr_fail(QR_ERR_NOMEM, "out of memory");
    qr_train_config cfg = qr_train_config_default(); /* for fill_batch's threads; no augmentation */
    cfg.threads = qr_nn_context_threads(l->ctx);
    for (int64_t a = 0; st == QR_OK && a < n; a += B) {
        int64_t m = n - a < B ? n - a : B;
        fill_batch(d, arch, &cfg, idx + a, m, 0, 0, 0, NULL, flip_axis, &b);
        for (int mem = 0; st == QR_OK && mem < M; mem++) {
            qr_nn_preprocess pp;
            st = qr_nn_model_get_preprocess(l->model, mem, &pp);
            if (st != QR_OK) break;
            for (int64_t r = 0; F > 0 && r < m; r++) {
                const double *src = d->features + idx[a + r] * d->nfeatures;
                for (int64_t f = 0; f < F; f++) {
                    double v = src[col[f]];
                    b.radiomics[r * F + f] = isnan(v) ? pp.radiomic_mean[f] : (float)v;
                }
            }
            qr_nn_batch nb = {m, b.patches, b.radiomics, NULL, NULL, NULL};
            st = qr_nn_model_infer_member(l->model, mem, &nb, logits);
            for (int64_t r = 0; st == QR_OK && r < m; r++) member_prob[(a + r) * M + mem] = qr_nn_sigmoid(logits[r]);
        }
    }
    free(logits);
    free(col);
    batch_free(&b);
    return st;
}

/* A copy of a model's members on another context, through the named tensors. */
static qr_status copy_to_context(qr_nn_context *ctx, qr_nn_model *src, qr_nn_model **out) {
    *out = NULL;
    const qr_nn_config *cfg = qr_nn_model_config(src);
    int M = qr_nn_model_members(src);
    qr_nn_model *acc = NULL;
    qr_status st = QR_OK;
    for (int mem = 0; st == QR_OK && mem < M; mem++) {
        qr_nn_model *one = NULL;
        st = qr_nn_model_create(ctx, cfg, 0, &one);
        for (int k = 0; st == QR_OK && k < qr_nn_model_tensor_count(src); k++) {
            const char *name = qr_nn_model_tensor_name(src, k);
            int64_t dims[5], count = 1;
            int nd = qr_nn_model_tensor_shape(src, name, dims);
            for (int a = 0; a < nd; a++) count *= dims[a];
            float *buf = malloc((size_t)(count > 0 ? count : 1) * sizeof *buf);
            if (!buf) st = qr_fail(QR_ERR_NOMEM, "out of memory copying a model");
            if (st == QR_OK) st = qr_nn_model_get_tensor(src, mem, name, buf, count);
            if (st == QR_OK) st = qr_nn_model_set_tensor(one, 0, name, buf, count);
            free(buf);
        }
        qr_nn_preprocess pp;
        if (st == QR_OK) st = qr_nn_model_get_preprocess(src, mem, &pp);
        if (st == QR_OK)
            st = qr_nn_model_set_preprocess(one, 0, pp.intensity_shift, pp.intensity_scale, pp.radiomic_mean, pp.radiomic_sd);
        int fold;
        int64_t seed;
        if (st == QR_OK) st = qr_nn_model_get_member_info(src, mem, &fold, &seed);
        if (st == QR_OK) st = qr_nn_model_set_member_info(one, 0, fold, seed);
        if (st == QR_OK && cfg->n_radiomic > 0 && qr_nn_model_radiomic_name(src, 0)) {
            const char **names = malloc((size_t)cfg->n_radiomic * sizeof *names);
            if (!names) st = qr_fail(QR_ERR_NOMEM, "out of memory");
            for (int f = 0; st == QR_OK && f < cfg->n_radiomic; f++) names[f] = qr_nn_model_radiomic_name(src, f);
            if (st == QR_OK) st = qr_nn_model_set_radiomic_names(one, names, cfg->n_radiomic);
            free(names);
        }
        if (st == QR_OK) *qr_nn_model_meta_of(one) = *qr_nn_model_meta_const(src);
        if (st == QR_OK && acc) {
            st = qr_nn_model_append(acc, one);
            qr_nn_model_free(one);
        } else if (st == QR_OK) {
            acc = one;
        } else {
            qr_nn_model_free(one);
        }
    }
    if (st != QR_OK) {
        qr_nn_model_free(acc);
        return st;
    }
    *out = acc;
    return QR_OK;
}

qr_status qr_nn_learner_merge(qr_learner *dst, qr_learner *src) {
    if (qr_nn_model_context(src->model) == dst->ctx) {
        QR_TRY(qr_nn_model_append(dst->model, src->model));
    } else {
        qr_nn_model *copy = NULL;
        QR_TRY(copy_to_context(dst->ctx, src->model, &copy));
        qr_status st = qr_nn_model_append(dst->model, copy);
        qr_nn_model_free(copy);
        QR_TRY(st);
    }
    dst->nmembers = qr_nn_model_members(dst->model);
    return QR_OK;
}

const char *qr_nn_learner_missing_feature(const qr_learner *l, const qr_dataset *d) {
    const qr_nn_config *nc = qr_nn_model_config(l->model);
    for (int f = 0; f < nc->n_radiomic; f++) {
        const char *name = qr_nn_model_radiomic_name(l->model, f);
        if (name && qr_dataset_feature(d, name) < 0) return name;
        if (!name && f >= d->nfeatures) return "(unnamed feature)";
    }
    return NULL;
}

qr_status qr_nn_learner_save(qr_learner *l, const char *path, const qr_model_info *info) {
    qr_nn_model_meta *meta = qr_nn_model_meta_of(l->model);
    if (info) {
        meta->threshold_f1 = info->threshold_f1;
        meta->threshold_sensitive = info->threshold_sensitive;
        snprintf(meta->training_data, sizeof meta->training_data, "%s", info->training_data);
        snprintf(meta->notes, sizeof meta->notes, "%s", info->notes);
        snprintf(meta->date, sizeof meta->date, "%s", info->date);
        snprintf(meta->commit, sizeof meta->commit, "%s", info->commit);
        if (info->seed >= 0) meta->seed = info->seed;
        if (info->voxel_mm[0] > 0) memcpy(meta->voxel_mm, info->voxel_mm, sizeof meta->voxel_mm);
        meta->training_qsm = info->training_qsm;
        meta->n_training_qsm = info->n_training_qsm;
    }
    qr_status st = qr_nn_model_save(l->model, path);
    meta->training_qsm = NULL; /* borrowed for the save only */
    meta->n_training_qsm = 0;
    return st;
}

qr_status qr_nn_learner_load(const char *path, const char *device, int threads, qr_learner *l, qr_model_info *info) {
    QR_TRY(make_context(device, threads, &l->ctx));
    QR_TRY(qr_nn_model_load_checked(l->ctx, path, &l->model));
    /* A checkpoint loads as a model (nn.h) but is not one to use: it is the member of a run that
     * has not finished, without the decision thresholds that training chooses at its end. */
    if (qr_nn_model_meta_const(l->model)->checkpoint) {
        /* qsmrim evaluate names its jobs' checkpoints fold<F>-seed<S>.ckpt.h5 (crossval.c); a
         * cross-validation makes no model to continue to */
        const char *base = qr_path_basename(path);
        int fold, seed, used = 0;
        if (sscanf(base, "fold%d-seed%d%n", &fold, &seed, &used) == 2 && used > 0 && !strcmp(base + used, ".ckpt.h5"))
            return qr_fail(QR_ERR_MODEL, "%s is the checkpoint of a cross-validation job of qsmrim evaluate, not a model: "
                                         "continue that evaluation with evaluate --resume (the same --manifest, --report "
                                         "and settings); a model to use comes from qsmrim train",
                           path);
        return qr_fail(QR_ERR_MODEL, "%s is the checkpoint of an unfinished training run, not a model: continue that run with "
                                     "--resume (qsmrim train: the same --manifest, --out and settings), which writes the model",
                       path);
    }
    const qr_nn_config *nc = qr_nn_model_config(l->model);
    l->arch = nc->arch == QR_NN_ARCH_RIMNET ? QR_ARCH_RIMNET : (nc->arch == QR_NN_ARCH_APRL_NN ? QR_ARCH_APRL_NN : QR_ARCH_QSMRIMNET);
    l->nmembers = qr_nn_model_members(l->model);
    if (nc->patch[0] != QR_PATCH_D || nc->patch[1] != QR_PATCH_H || nc->patch[2] != QR_PATCH_W)
        if (nc->arch != QR_NN_ARCH_APRL_NN)
            return qr_fail(QR_ERR_MODEL, "%s: the model expects %dx%dx%d patches; qsmrim extracts %dx%dx%d", path, nc->patch[0],
                           nc->patch[1], nc->patch[2], QR_PATCH_D, QR_PATCH_H, QR_PATCH_W);
    if (info) {
        const qr_nn_model_meta *meta = qr_nn_model_meta_const(l->model);
        memset(info, 0, sizeof *info);
        info->threshold_f1 = meta->threshold_f1;
        info->threshold_sensitive = meta->threshold_sensitive;
        snprintf(info->training_data, sizeof info->training_data, "%s", meta->training_data);
        snprintf(info->notes, sizeof info->notes, "%s", meta->notes);
        snprintf(info->date, sizeof info->date, "%s", meta->date);
        snprintf(info->commit, sizeof info->commit, "%s", meta->commit);
        info->seed = meta->seed;
        memcpy(info->voxel_mm, meta->voxel_mm, sizeof info->voxel_mm);
    }
    return QR_OK;
}
