/* pipeline.c - evaluation of one method and training of a model (what each does: pipeline.h). */
#define _GNU_SOURCE
#include "pipeline.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/fileutil.h"
#include "../core/tsv.h"
#include "../eval/metrics.h"
#include "../eval/plots.h"
#include "folds.h"
#include "../nn/nn.h"

#ifndef QSMRIM_VERSION
#define QSMRIM_VERSION "0"
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void qr_method_eval_free(qr_method_eval *m) {
    if (!m) return;
    qr_eval_result_free(&m->result);
    free(m->subject);
    free(m->fold);
    free(m->label);
    free(m->member_prob);
    free(m->lesion_index);
    free(m->subject_index);
    memset(m, 0, sizeof *m);
}

qr_report_section qr_method_eval_section(const qr_method_eval *m) {
    qr_report_section s;
    memset(&s, 0, sizeof s);
    s.row = qr_summary_of(&m->result, &m->info);
    s.result = &m->result;
    s.info = &m->info;
    s.roc_png = m->roc_png[0] ? m->roc_png : NULL;
    s.pr_png = m->pr_png[0] ? m->pr_png : NULL;
    s.counts_png = m->counts_png[0] ? m->counts_png : NULL;
    return s;
}

/* Copy the per-lesion arrays the evaluation reads. */
/* 1 if the architecture's networks run in TF32 (the forest has none). */
static int runs_tf32(qr_arch_id arch) {
    return arch != QR_ARCH_APRL_RF && qr_nn_default_precision() == QR_NN_PRECISION_TF32;
}

/* FNV-1a (64 bit) of n bytes, continued from h. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* 64-bit hash of n bytes continued from h, eight bytes at a time (FNV-1a's prime on words, a
 * final xor-shift per word): for the megabytes of a cohort's crops and features. */
static uint64_t hash_words(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 1099511628211ull;
        h ^= h >> 29;
    }
    return fnv1a(h, p, n);
}

static uint64_t hash_crop(uint64_t h, const qr_lesion_crop *c) {
    h = hash_words(h, c->origin, sizeof c->origin);
    h = hash_words(h, c->size, sizeof c->size);
    h = hash_words(h, c->spacing, sizeof c->spacing);
    h = hash_words(h, c->patch_origin, sizeof c->patch_origin);
    const size_t nv = c->data ? 2u * (size_t)c->size[0] * (size_t)c->size[1] * (size_t)c->size[2] : 0;
    return nv ? hash_words(h, c->data, nv * sizeof *c->data) : h;
}

/* What a learner sees of the images: the crops, context crops and radiomic features its
 * architecture reads (a dataset loaded for several methods holds the union; one method's jobs
 * must not depend on which others ran beside it), the lesion sums and sizes and the voxel sizes.
 * A resumed run after an image was replaced (another reconstruction, a corrected registration)
 * must not reuse jobs computed on the old one. */
static uint64_t dataset_content_hash(const qr_dataset *d, int crops, int context, int features) {
    uint64_t h = 1469598103934665603ull;
    h = hash_words(h, d->subject_voxel_mm, (size_t)d->nsubjects * sizeof *d->subject_voxel_mm);
    const size_t n = (size_t)d->n;
    if (d->volume_mm3) h = hash_words(h, d->volume_mm3, n * sizeof *d->volume_mm3);
    if (d->nvox) h = hash_words(h, d->nvox, n * sizeof *d->nvox);
    if (d->sum_qsm2) h = hash_words(h, d->sum_qsm2, n * sizeof *d->sum_qsm2);
    if (d->sum_flair) h = hash_words(h, d->sum_flair, n * sizeof *d->sum_flair);
    for (size_t i = 0; crops && d->crops && i < n; i++) h = hash_crop(h, &d->crops[i]);
    for (size_t i = 0; context && d->context && i < n; i++) h = hash_crop(h, &d->context[i]);
    for (int64_t f = 0; features && f < d->nfeatures; f++) h = fnv1a(h, d->feature_names[f], strlen(d->feature_names[f]) + 1);
    if (features && d->features && d->nfeatures > 0)
        h = hash_words(h, d->features, n * (size_t)d->nfeatures * sizeof *d->features);
    return h;
}

/* The record of what a run's results depend on (learner.h `settings`, crossval.h). The device is
 * not in it: it changes results by float rounding only, and an interrupted GPU run may go on on
 * the CPU. The cohort is, by a fingerprint of its subjects, lesions and labels and one of what was
 * read from its images: a resumed run on another cohort, after a label was corrected or an image
 * replaced, would mix epochs or jobs of both. So is the
 * radiomic parameter file, by a hash of its text: an edited file under the same name changes the
 * features. */
static void run_settings(qr_arch_id arch, const qr_train_config *cfg, uint64_t seed, double holdout, const qr_dataset *d,
                         char *buf, size_t n) {
    uint64_t h = 1469598103934665603ull;
    int64_t npos = 0;
    for (int s = 0; s < d->nsubjects; s++) h = fnv1a(h, d->subject[s], strlen(d->subject[s]) + 1);
    for (int64_t i = 0; i < d->n; i++) {
        const int32_t rec[3] = {d->subject_of[i], d->lesion_id[i], d->label[i]};
        h = fnv1a(h, rec, sizeof rec);
        npos += d->label[i] == 1;
    }
    int k = snprintf(buf, n, "arch: %s\nseed: %llu\nprecision: %s\ncohort: %d subjects, %lld lesions (%lld rim+), fingerprint %016llx\n",
                     qr_arch_to_name(arch), (unsigned long long)seed, runs_tf32(arch) ? "tf32" : "fp32", d->nsubjects,
                     (long long)d->n, (long long)npos, (unsigned long long)h);
    if (holdout >= 0 && k >= 0 && (size_t)k < n) k += snprintf(buf + k, n - (size_t)k, "holdout: %.17g\n", holdout);
    const qr_train_config used = qr_train_config_for(cfg, qr_arch_to_name(arch));
    if (k >= 0 && (size_t)k < n) k += qr_train_config_fingerprint(&used, buf + k, n - (size_t)k);
    /* the radiomic parameters by content: the `radiomics:` line above names only the file */
    int crops, context, features;
    qr_arch_needs(arch, &crops, &context, &features);
    if (features && d->nfeatures > 0 && k >= 0 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, "radiomics_sha256: %.16s\n", d->radiomics_text_sha);
    /* last: the features depend on the settings above, whose change is the clearer message */
    if (k >= 0 && (size_t)k < n)
        snprintf(buf + k, n - (size_t)k, "image content: %016llx\n",
                 (unsigned long long)dataset_content_hash(d, crops, context, features));
}

/* Warns once when subjects (those with only[s], or all when only is NULL) have QSM voxels that do
 * not suit `ref` (qr_voxel_size_fits): how many, and the first. `ref_is`: what ref is. */
static void warn_voxel_misfits(const qr_dataset *d, const int *only, const double ref[3], const char *ref_is) {
    int off = 0, n = 0, first = -1;
    for (int s = 0; s < d->nsubjects; s++) {
        if (only && !only[s]) continue;
        n++;
        if (qr_voxel_size_fits(d->subject_voxel_mm[s], ref)) continue;
        off++;
        if (first < 0) first = s;
    }
    if (off)
        qr_log(QR_LOG_WARNING,
               "%d of the %d %ssubjects have QSM voxels beyond 0.8 to 1.25 times the %.3g x %.3g x %.3g mm (L, P, S) %s "
               "('%s': %.3g x %.3g x %.3g mm): the network and the radiomic features see their lesions at another "
               "scale; resample them to that voxel size first",
               off, n, only ? "training " : "", ref[0], ref[1], ref[2], ref_is, d->subject[first],
               d->subject_voxel_mm[first][0], d->subject_voxel_mm[first][1], d->subject_voxel_mm[first][2]);
}

/* The QSM voxel size (training storage order) to record for the subjects with train[s]: that of the
 * subject whose size the most others share within qr_voxel_size_fits (a tie goes to the one nearest
 * the per-axis median), so the record is a size the training images have. Subjects beyond that
 * tolerance were seen at another scale than the record says, and are warned about. */
static qr_status training_voxel_size(const qr_dataset *d, const int *train, double out[3], const char *ref_is) {
    out[0] = out[1] = out[2] = 0;
    double *v = malloc((size_t)d->nsubjects * sizeof *v);
    if (!v) return qr_fail(QR_ERR_NOMEM, "out of memory");
    double median[3];
    int n = 0;
    for (int a = 0; a < 3; a++) {
        n = 0;
        for (int s = 0; s < d->nsubjects; s++)
            if (train[s]) v[n++] = d->subject_voxel_mm[s][a];
        median[a] = n == 0 ? 0.0 : qr_percentile(v, n, 50.0);
    }
    free(v);
    if (n == 0) return QR_OK;
    int best = -1, best_count = -1;
    double best_dist = 0;
    for (int s = 0; s < d->nsubjects; s++) {
        if (!train[s]) continue;
        int count = 0;
        for (int t = 0; t < d->nsubjects; t++) count += train[t] && qr_voxel_size_fits(d->subject_voxel_mm[t], d->subject_voxel_mm[s]);
        double dist = 0;
        for (int a = 0; a < 3; a++) dist += fabs(log(d->subject_voxel_mm[s][a] / median[a]));
        if (count > best_count || (count == best_count && dist < best_dist)) {
            best = s;
            best_count = count;
            best_dist = dist;
        }
    }
    memcpy(out, d->subject_voxel_mm[best], 3 * sizeof *out);
    warn_voxel_misfits(d, train, out, ref_is);
    return QR_OK;
}

qr_status qr_cohort_warn_voxel_sizes(const qr_dataset *d) {
    int *all = malloc((size_t)(d->nsubjects > 0 ? d->nsubjects : 1) * sizeof *all);
    if (!all) return qr_fail(QR_ERR_NOMEM, "out of memory");
    for (int s = 0; s < d->nsubjects; s++) all[s] = 1;
    double ref[3];
    const qr_status st = training_voxel_size(d, all, ref, "most of the cohort has");
    free(all);
    return st;
}

/* Subjects scored by a model whose voxels do not suit it, as predict warns for one subject; a model
 * without the record is not checked. */
static void warn_voxel_sizes(const qr_dataset *d, const qr_model_info *mi, const char *model) {
    const double *m = mi->voxel_mm;
    if (!(m[0] > 0 && m[1] > 0 && m[2] > 0)) return;
    char is[QR_PATH_MAX + 32];
    snprintf(is, sizeof is, "%s was trained on", qr_path_basename(model));
    warn_voxel_misfits(d, NULL, m, is);
}

static qr_status alloc_eval_arrays(const qr_dataset *d, int nmembers, qr_method_eval *m) {
    m->subject = malloc((size_t)d->n * sizeof *m->subject);
    m->fold = calloc((size_t)d->n, sizeof *m->fold);
    m->label = malloc((size_t)d->n * sizeof *m->label);
    m->member_prob = malloc((size_t)d->n * (size_t)nmembers * sizeof *m->member_prob);
    if (!m->subject || !m->fold || !m->label || !m->member_prob) return qr_fail(QR_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < d->n; i++) {
        m->subject[i] = d->subject_of[i];
        m->label[i] = d->label[i];
    }
    return QR_OK;
}

qr_status qr_method_eval_write_tables(const qr_dataset *d, const qr_method_eval *m, const char *outdir) {
    char path[QR_PATH_MAX];
    snprintf(path, sizeof path, "%s/metrics.json", outdir);
    QR_TRY(qr_report_write_metrics_json(path, &m->result, &m->info));
    const int ns = m->input.nsubjects > 0 ? m->input.nsubjects : 1;
    const int64_t nl = m->input.n > 0 ? m->input.n : 1;
    const char **names = malloc((size_t)ns * sizeof *names);
    int32_t *ids = malloc((size_t)nl * sizeof *ids);
    qr_status st = names && ids ? QR_OK : qr_fail(QR_ERR_NOMEM, "out of memory");
    for (int s = 0; st == QR_OK && s < m->input.nsubjects; s++) names[s] = d->subject[m->subject_index ? m->subject_index[s] : s];
    for (int64_t i = 0; st == QR_OK && i < m->input.n; i++) ids[i] = d->lesion_id[m->lesion_index ? m->lesion_index[i] : i];
    if (st == QR_OK) {
        snprintf(path, sizeof path, "%s/predictions.tsv", outdir);
        st = qr_report_write_predictions(path, &m->input, &m->result, names, ids);
    }
    if (st == QR_OK) {
        snprintf(path, sizeof path, "%s/decisions.tsv", outdir);
        st = qr_report_write_decisions(path, &m->input, &m->result, names, ids);
    }
    free(names);
    free(ids);
    return st;
}

static qr_status write_method_files(const qr_dataset *d, qr_method_eval *m, const char *outdir, const char *title) {
    QR_TRY(qr_method_eval_write_tables(d, m, outdir));
    char path[QR_PATH_MAX];
    qr_summary_row row = qr_summary_of(&m->result, &m->info);
    snprintf(path, sizeof path, "%s/summary.tsv", outdir);
    QR_TRY(qr_report_write_summary(path, &row));
    char t[600];
    snprintf(m->roc_png, sizeof m->roc_png, "%s/roc.png", outdir);
    snprintf(t, sizeof t, "%s: ROC", title);
    QR_TRY(qr_plot_roc(m->roc_png, &m->result, m->input.max_fpr, t));
    snprintf(m->pr_png, sizeof m->pr_png, "%s/pr.png", outdir);
    snprintf(t, sizeof t, "%s: precision-recall", title);
    QR_TRY(qr_plot_pr(m->pr_png, &m->result, t));
    snprintf(m->counts_png, sizeof m->counts_png, "%s/counts.png", outdir);
    snprintf(t, sizeof t, "%s: rim+ lesions per subject", title);
    return qr_plot_counts(m->counts_png, &m->result, t);
}

qr_status qr_evaluate_method(const qr_dataset *d, const qr_evaluate_options *o, const qr_pipeline_hooks *h,
                             qr_method_eval *m) {
    memset(m, 0, sizeof *m);
    qr_status st = qr_mkdir_p(o->outdir);
    if (st != QR_OK) return st;
    snprintf(m->name, sizeof m->name, "%s", o->name ? o->name : qr_arch_to_name(o->arch));
    qr_utf8_copy(m->data_note, sizeof m->data_note, o->data_note); /* report text: UTF-8, no character cut */
    qr_utf8_copy(m->command, sizeof m->command, o->command);
    snprintf(m->manifest, sizeof m->manifest, "%s", o->manifest ? o->manifest : "");
    qr_eval_input in = qr_eval_input_default();
    in.bootstrap = o->bootstrap;
    in.seed = o->seed;
    double seconds = 0;
    if (o->model_path) {
        qr_learner *l = NULL;
        qr_model_info mi;
        st = qr_learner_load(o->model_path, o->device, &l, &mi);
        if (st == QR_OK) warn_voxel_sizes(d, &mi, o->model_path);
        if (st == QR_OK) st = alloc_eval_arrays(d, 1, m);
        int64_t *all = st == QR_OK ? malloc((size_t)d->n * sizeof *all) : NULL;
        if (st == QR_OK && !all) st = qr_fail(QR_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; st == QR_OK && i < d->n; i++) all[i] = i;
        double t0 = now_s();
        if (st == QR_OK) st = qr_learner_predict(l, d, all, d->n, m->member_prob, NULL);
        seconds = now_s() - t0;
        free(all);
        if (st == QR_OK) {
            in.nfolds = 1;
            in.nmembers = 1;
            if (isfinite(mi.threshold_f1) && isfinite(mi.threshold_sensitive)) {
                in.fixed_thresholds = 1;
                in.threshold_f1 = mi.threshold_f1;
                in.threshold_sensitive = mi.threshold_sensitive;
                snprintf(m->threshold_source, sizeof m->threshold_source,
                         "the model's stored thresholds (F1 %.4g, high sensitivity %.4g)", mi.threshold_f1,
                         mi.threshold_sensitive);
            } else {
                snprintf(m->threshold_source, sizeof m->threshold_source,
                         "the model stores no thresholds: chosen on these data (optimistic)");
                qr_log(QR_LOG_WARNING, "%s stores no decision thresholds; choosing them on the evaluated data",
                       o->model_path);
            }
            snprintf(m->description, sizeof m->description, "%s model %s (%d member%s)%s%s",
                     qr_arch_to_name(qr_learner_arch(l)), qr_path_basename(o->model_path), qr_learner_members(l),
                     qr_learner_members(l) > 1 ? "s" : "", mi.training_data[0] ? ", trained on " : "", mi.training_data);
        }
        if (st == QR_OK && !o->name) snprintf(m->name, sizeof m->name, "%s", qr_arch_to_name(qr_learner_arch(l)));
        qr_learner_free(l);
    } else {
        qr_cv_options cv;
        memset(&cv, 0, sizeof cv);
        cv.fit.arch = o->arch;
        cv.fit.cfg = o->cfg;
        cv.fit.device = o->device;
        cv.fit.progress = h ? h->fit_progress : NULL;
        cv.fit.user = h ? h->user : NULL;
        cv.fit.cancel = h ? h->cancel : NULL;
        cv.nfolds = o->nfolds;
        cv.nseeds = o->nseeds;
        cv.seed = o->seed;
        cv.workdir = o->workdir;
        cv.resume = o->resume;
        char settings[QR_SETTINGS_MAX];
        run_settings(o->arch, o->cfg, o->seed, -1, d, settings, sizeof settings);
        cv.settings = settings;
        cv.fit.settings = settings;
        cv.job = h ? h->job : NULL;
        cv.user = h ? h->user : NULL;
        qr_cv_result cr;
        st = qr_cross_validate(d, &cv, &cr);
        if (st == QR_OK) {
            m->subject = malloc((size_t)d->n * sizeof *m->subject);
            m->label = malloc((size_t)d->n * sizeof *m->label);
            if (!m->subject || !m->label) st = qr_fail(QR_ERR_NOMEM, "out of memory");
            for (int64_t i = 0; st == QR_OK && i < d->n; i++) {
                m->subject[i] = d->subject_of[i];
                m->label[i] = d->label[i];
            }
            m->fold = cr.fold;
            m->member_prob = cr.member_prob;
            cr.fold = NULL;
            cr.member_prob = NULL;
            seconds = cr.seconds;
            in.nfolds = o->nfolds;
            in.nmembers = o->nseeds;
            snprintf(m->threshold_source, sizeof m->threshold_source,
                     "per fold and seed, the F1-optimal threshold on that fold's predictions (majority vote of the "
                     "%d seeds); high-sensitivity point per fold on the mean probability",
                     o->nseeds);
            char cfgtxt[400];
            qr_train_config_describe(o->cfg, qr_arch_to_name(o->arch), cfgtxt, sizeof cfgtxt);
            /* TF32 changes the networks' numbers: the record says so (the forest has none) */
            const int tf32 = runs_tf32(o->arch);
            snprintf(m->description, sizeof m->description, "%s: %s%s; %d-fold CV x %d seeds", qr_arch_to_name(o->arch),
                     cfgtxt, tf32 ? ", TF32 arithmetic" : "", o->nfolds, o->nseeds);
        }
        qr_cv_result_free(&cr);
    }
    if (st == QR_OK) {
        in.n = d->n;
        in.nsubjects = d->nsubjects;
        in.subject = m->subject;
        in.fold = m->fold;
        in.label = m->label;
        in.member_prob = m->member_prob;
        m->input = in;
        st = qr_evaluate(&m->input, &m->result, h ? h->cancel : NULL);
    }
    if (st == QR_OK) {
        qr_report_info *ri = &m->info;
        memset(ri, 0, sizeof *ri);
        ri->method = m->name;
        ri->description = m->description;
        ri->data_note = m->data_note;
        ri->command = m->command;
        ri->manifest = m->manifest;
        ri->threshold_source = m->threshold_source;
        ri->nfolds = in.nfolds;
        ri->nseeds = in.nmembers;
        ri->bootstrap = in.bootstrap;
        ri->seed = o->seed;
        ri->seconds = seconds;
        st = write_method_files(d, m, o->outdir, qr_method_display_name(m->name));
    }
    if (st != QR_OK) qr_method_eval_free(m);
    return st;
}

/* ---- training a model ---- */

void qr_train_outcome_free(qr_train_outcome *t) {
    if (!t) return;
    if (t->have_holdout) qr_method_eval_free(&t->holdout);
    memset(t, 0, sizeof *t);
}

void qr_train_remove_checkpoints(const char *stem, int nseeds) {
    for (int k = 1; k <= nseeds; k++) {
        char ckpt[QR_PATH_MAX + 32];
        qr_train_checkpoint_path(stem, k, ckpt, sizeof ckpt);
        if (qr_path_is_file(ckpt)) remove(ckpt);
    }
}

void qr_train_checkpoint_path(const char *stem, int k, char *buf, size_t n) {
    snprintf(buf, n, "%s.seed%d.ckpt.h5", stem, k);
}

int qr_holdout_folds(double holdout) {
    const double k = round(1.0 / holdout);
    if (!(k < (double)INT_MAX)) return INT_MAX; /* a share too small for any cohort */
    return k < 2 ? 2 : (int)k;
}

qr_status qr_train_model(const qr_dataset *d, const qr_train_options *o, const qr_pipeline_hooks *h, qr_train_outcome *out) {
    memset(out, 0, sizeof *out);
    double t0 = now_s();
    int *held = calloc((size_t)d->nsubjects, sizeof *held), *train = calloc((size_t)d->nsubjects, sizeof *train);
    if (!held || !train) {
        free(held);
        free(train);
        return qr_fail(QR_ERR_NOMEM, "out of memory");
    }
    qr_status st = QR_OK;
    if (o->holdout > 0) {
        const int k = qr_holdout_folds(o->holdout);
        if (k > d->nsubjects) {
            st = qr_fail(QR_ERR_INVALID_ARG, "a held-out share of %g needs at least %d subjects, the cohort has %d",
                         o->holdout, k, d->nsubjects);
        } else {
            int *fold = malloc((size_t)d->nsubjects * sizeof *fold);
            st = fold ? qr_stratified_folds(d->subject_rimpos, d->nsubjects, k, o->seed ^ 0x401DULL, fold)
                      : qr_fail(QR_ERR_NOMEM, "out of memory");
            /* the held-out fold: the first that holds a rim+ subject (thresholds are chosen on it).
             * Folds are dealt in turn across the rim+ count groups, so with few rim+ subjects fold 0
             * may hold none whatever the seed; checked here, before any training. */
            int hold = -1;
            for (int f = 0; st == QR_OK && f < k && hold < 0; f++)
                if (qr_fold_rimpos_subjects(d->subject_rimpos, d->nsubjects, fold, f, 1)) hold = f;
            if (st == QR_OK && hold < 0)
                st = qr_fail(QR_ERR_EMPTY, "no subject holds a rim+ lesion: thresholds cannot be chosen on held-out subjects");
            for (int s = 0; st == QR_OK && s < d->nsubjects; s++) {
                held[s] = fold[s] == hold;
                train[s] = !held[s];
            }
            int with_rimpos = 0;
            for (int s = 0; s < d->nsubjects; s++) with_rimpos += d->subject_rimpos[s] > 0;
            if (st == QR_OK && !qr_fold_rimpos_subjects(d->subject_rimpos, d->nsubjects, fold, hold, 0))
                st = with_rimpos == 1
                         ? qr_fail(QR_ERR_EMPTY, "only one subject holds rim+ lesions, and both the held-out subjects (whose "
                                                 "lesions choose the thresholds) and the training subjects need one: use "
                                                 "--holdout 0 (thresholds chosen on the training lesions)")
                         : qr_fail(QR_ERR_EMPTY, "the held-out fold (1 of %d) holds all %d subjects with rim+ lesions, so training "
                                                 "would see none: use a smaller --holdout (more, smaller folds), or --holdout 0",
                                   k, with_rimpos);
            free(fold);
        }
    } else {
        for (int s = 0; s < d->nsubjects; s++) train[s] = 1;
    }
    int64_t *tr = NULL, *ho = NULL, ntr = 0, nho = 0;
    if (st == QR_OK) st = qr_dataset_select(d, train, &tr, &ntr);
    if (st == QR_OK) st = qr_dataset_select(d, held, &ho, &nho);
    for (int s = 0; s < d->nsubjects; s++) {
        out->n_train_subjects += train[s];
        out->n_holdout_subjects += held[s];
    }
    out->n_train_lesions = ntr;
    out->n_holdout_lesions = nho;
    double voxel_mm[3] = {0, 0, 0}; /* the training subjects' voxel size, stored in the model */
    if (st == QR_OK) st = training_voxel_size(d, train, voxel_mm, "the others have and the model records");
    qr_learner *model = NULL;
    char settings[QR_SETTINGS_MAX];
    run_settings(o->arch, o->cfg, o->seed, o->holdout, d, settings, sizeof settings);
    for (int s = 0; st == QR_OK && s < o->nseeds; s++) {
        char ckpt[QR_PATH_MAX];
        qr_fit_options fo;
        memset(&fo, 0, sizeof fo);
        fo.arch = o->arch;
        fo.cfg = o->cfg;
        fo.seed = o->seed * 1000003ULL + (uint64_t)s;
        fo.device = o->device;
        if (o->checkpoint) {
            qr_train_checkpoint_path(o->checkpoint, s + 1, ckpt, sizeof ckpt);
            fo.checkpoint = ckpt;
        }
        fo.resume = o->resume;
        fo.settings = settings;
        fo.progress = h ? h->fit_progress : NULL;
        fo.user = h ? h->user : NULL;
        fo.cancel = h ? h->cancel : NULL;
        if (h && h->job) h->job(0, s, s, o->nseeds, 0, h->user);
        qr_learner *l = NULL;
        st = qr_learner_fit(d, tr, ntr, &fo, &l);
        if (st != QR_OK) break;
        if (!model)
            model = l;
        else
            st = qr_learner_merge(model, l);
    }
    /* thresholds on the held-out subjects (or, without them, on the training lesions) */
    const int64_t *sel = nho > 0 ? ho : tr;
    int64_t nsel = nho > 0 ? nho : ntr;
    double *prob = st == QR_OK ? malloc((size_t)(nsel > 0 ? nsel : 1) * sizeof *prob) : NULL;
    int *lab = st == QR_OK ? malloc((size_t)(nsel > 0 ? nsel : 1) * sizeof *lab) : NULL;
    if (st == QR_OK && (!prob || !lab)) st = qr_fail(QR_ERR_NOMEM, "out of memory");
    if (st == QR_OK) st = qr_learner_predict(model, d, sel, nsel, prob, NULL);
    int64_t npos = 0;
    for (int64_t k = 0; st == QR_OK && k < nsel; k++) {
        lab[k] = d->label[sel[k]];
        npos += lab[k];
    }
    if (st == QR_OK && npos == 0)
        st = qr_fail(QR_ERR_EMPTY, "the %s subjects hold no rim+ lesion: thresholds cannot be chosen (use another --seed or --holdout)",
                     nho > 0 ? "held-out" : "training");
    if (st == QR_OK) st = qr_threshold_f1(lab, prob, NULL, nsel, &out->threshold_f1, NULL);
    if (st == QR_OK) st = qr_threshold_sensitivity(lab, prob, NULL, nsel, 0.95, &out->threshold_sensitive, NULL);
    /* with few rim+ lesions the first point reaching 95% sensitivity can lie above the F1 point,
     * which is then the more sensitive one: the review band starts at or below the rim+ threshold */
    if (st == QR_OK && out->threshold_sensitive > out->threshold_f1) out->threshold_sensitive = out->threshold_f1;
    /* held-out evaluation at those thresholds */
    if (st == QR_OK && nho > 0) {
        qr_method_eval *m = &out->holdout;
        memset(m, 0, sizeof *m);
        out->have_holdout = 1;
        /* arrays over the held-out lesions only, subjects renumbered densely */
        int *map = malloc((size_t)d->nsubjects * sizeof *map);
        m->subject = malloc((size_t)nho * sizeof *m->subject);
        m->fold = calloc((size_t)nho, sizeof *m->fold);
        m->label = malloc((size_t)nho * sizeof *m->label);
        m->member_prob = malloc((size_t)nho * sizeof *m->member_prob);
        m->lesion_index = malloc((size_t)nho * sizeof *m->lesion_index);
        m->subject_index = malloc((size_t)d->nsubjects * sizeof *m->subject_index);
        if (!map || !m->subject || !m->fold || !m->label || !m->member_prob || !m->lesion_index || !m->subject_index)
            st = qr_fail(QR_ERR_NOMEM, "out of memory");
        int ns = 0;
        for (int s = 0; st == QR_OK && s < d->nsubjects; s++) {
            map[s] = held[s] ? ns : -1;
            if (held[s]) m->subject_index[ns++] = s;
        }
        for (int64_t k = 0; st == QR_OK && k < nho; k++) {
            m->lesion_index[k] = ho[k];
            m->subject[k] = map[d->subject_of[ho[k]]];
            m->label[k] = lab[k];
            m->member_prob[k] = prob[k];
        }
        free(map);
        if (st == QR_OK) {
            qr_eval_input in = qr_eval_input_default();
            in.n = nho;
            in.nsubjects = ns;
            in.subject = m->subject;
            in.fold = m->fold;
            in.label = m->label;
            in.member_prob = m->member_prob;
            in.fixed_thresholds = 1;
            in.threshold_f1 = out->threshold_f1;
            in.threshold_sensitive = out->threshold_sensitive;
            in.bootstrap = o->bootstrap;
            in.seed = o->seed;
            m->input = in;
            st = qr_evaluate(&m->input, &m->result, h ? h->cancel : NULL);
            snprintf(m->name, sizeof m->name, "%s", qr_arch_to_name(o->arch));
            snprintf(m->threshold_source, sizeof m->threshold_source,
                     "chosen on these held-out subjects' ensemble probabilities (F1 %.4g, high sensitivity %.4g)",
                     out->threshold_f1, out->threshold_sensitive);
            m->info.method = m->name;
            m->info.threshold_source = m->threshold_source;
            m->info.nfolds = 1;
            m->info.nseeds = 1;
            m->info.bootstrap = o->bootstrap;
            m->info.seed = o->seed;
        }
    }
    if (st == QR_OK) {
        qr_model_info info;
        memset(&info, 0, sizeof info);
        info.threshold_f1 = out->threshold_f1;
        info.threshold_sensitive = out->threshold_sensitive;
        memcpy(info.voxel_mm, voxel_mm, sizeof info.voxel_mm);
        uint64_t *trained_on = malloc((size_t)d->nsubjects * sizeof *trained_on);
        int64_t ntrained = 0;
        for (int s = 0; trained_on && s < d->nsubjects; s++)
            if (train[s] && d->subject_qsm_hash && d->subject_qsm_hash[s]) trained_on[ntrained++] = d->subject_qsm_hash[s];
        info.training_qsm = trained_on;
        info.n_training_qsm = ntrained;
        /* what the model was fitted on: the training subjects, not the held-out ones */
        int fit_subjects = 0;
        int64_t fit_lesions = 0, fit_rimpos = 0;
        for (int s = 0; s < d->nsubjects; s++) {
            if (!train[s]) continue;
            fit_subjects++;
            fit_lesions += d->subject_lesions[s];
            fit_rimpos += d->subject_rimpos[s];
        }
        char held[64] = "";
        if (out->n_holdout_subjects > 0)
            snprintf(held, sizeof held, "; %d more held out", out->n_holdout_subjects);
        snprintf(info.training_data, sizeof info.training_data, "%s%s(%d subjects, %lld lesions, %lld rim+%s)",
                 o->training_data ? o->training_data : "", o->training_data && o->training_data[0] ? " " : "",
                 fit_subjects, (long long)fit_lesions, (long long)fit_rimpos, held);
        if (out->have_holdout) {
            const qr_eval_result *r = &out->holdout.result;
            char line[160];
            qr_eval_headline(r, line, sizeof line);
            snprintf(info.notes, sizeof info.notes, "held-out %d subjects, %lld lesions, %lld rim+: %s", r->n_subjects,
                     (long long)r->n_lesions, (long long)r->n_rimpos, line);
        } else {
            snprintf(info.notes, sizeof info.notes, "no held-out subjects: thresholds chosen on the training lesions");
        }
        time_t now = time(NULL);
        struct tm tmv;
        gmtime_r(&now, &tmv);
        strftime(info.date, sizeof info.date, "%Y-%m-%dT%H:%M:%SZ", &tmv);
        snprintf(info.commit, sizeof info.commit, "qsmrim %s", QSMRIM_VERSION);
        info.seed = (int64_t)o->seed;
        st = qr_learner_save(model, o->out, &info);
        free(trained_on);
    }
    if (st == QR_OK && o->checkpoint && !o->keep_checkpoints) qr_train_remove_checkpoints(o->checkpoint, o->nseeds);
    out->seconds = now_s() - t0;
    qr_learner_free(model);
    free(prob);
    free(lab);
    free(tr);
    free(ho);
    free(held);
    free(train);
    if (st != QR_OK) qr_train_outcome_free(out);
    return st;
}
