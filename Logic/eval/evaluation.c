/* evaluation.c - cross-validated lesion- and subject-level metrics with a subject bootstrap.
 * What is computed: evaluation.h. */
#include "evaluation.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"

qr_eval_input qr_eval_input_default(void) {
    qr_eval_input in;
    memset(&in, 0, sizeof in);
    in.nfolds = 1;
    in.nmembers = 1;
    in.max_fpr = 0.1;
    in.sensitivity_target = 0.95;
    in.bootstrap = 500;
    return in;
}

static qr_ci_value ci_none(double v) {
    qr_ci_value c = {v, NAN, NAN, 0};
    return c;
}

void qr_eval_result_free(qr_eval_result *r) {
    if (!r) return;
    if (r->folds)
        for (int f = 0; f < r->nfolds; f++) free(r->folds[f].threshold_f1);
    free(r->folds);
    if (r->roc_fold)
        for (int f = 0; f < r->nfolds; f++) qr_curve_free(&r->roc_fold[f]);
    if (r->pr_fold)
        for (int f = 0; f < r->nfolds; f++) qr_curve_free(&r->pr_fold[f]);
    free(r->roc_fold);
    free(r->pr_fold);
    qr_curve_free(&r->roc_mean);
    qr_curve_free(&r->pr_mean);
    free(r->count_true);
    free(r->count_pred);
    free(r->prob);
    free(r->decision);
    free(r->review);
    memset(r, 0, sizeof *r);
}

/* Lesion indices of each fold, and gather buffers for one fold's labels, scores and weights. */
typedef struct fold_index {
    int nfolds;
    int64_t *start; /* nfolds + 1 offsets into idx */
    int64_t *idx;   /* n lesion indices grouped by fold */
    int *y;         /* gather buffers, n each */
    double *s, *w;
} fold_index;

static void fold_index_free(fold_index *fi) {
    free(fi->start);
    free(fi->idx);
    free(fi->y);
    free(fi->s);
    free(fi->w);
    memset(fi, 0, sizeof *fi);
}

static qr_status fold_index_build(const qr_eval_input *in, fold_index *fi) {
    memset(fi, 0, sizeof *fi);
    fi->nfolds = in->nfolds;
    size_t n = (size_t)(in->n > 0 ? in->n : 1);
    fi->start = calloc((size_t)in->nfolds + 1, sizeof *fi->start);
    fi->idx = malloc(n * sizeof *fi->idx);
    fi->y = malloc(n * sizeof *fi->y);
    fi->s = malloc(n * sizeof *fi->s);
    fi->w = malloc(n * sizeof *fi->w);
    if (!fi->start || !fi->idx || !fi->y || !fi->s || !fi->w) {
        fold_index_free(fi);
        return qr_fail(QR_ERR_NOMEM, "out of memory for the evaluation");
    }
    for (int64_t i = 0; i < in->n; i++) fi->start[in->fold[i] + 1]++;
    for (int f = 0; f < in->nfolds; f++) fi->start[f + 1] += fi->start[f];
    int64_t *fill = calloc((size_t)in->nfolds, sizeof *fill);
    if (!fill) {
        fold_index_free(fi);
        return qr_fail(QR_ERR_NOMEM, "out of memory for the evaluation");
    }
    for (int64_t i = 0; i < in->n; i++) fi->idx[fi->start[in->fold[i]] + fill[in->fold[i]]++] = i;
    free(fill);
    return QR_OK;
}

/* Gather fold f: labels, scores (member `m`, or the mean when m < 0) and weights (NULL = 1).
 * Returns the fold's item count; *wout is NULL when weights is NULL. */
static int64_t gather(const qr_eval_input *in, const double *prob, fold_index *fi, int f, int m, const double *weights,
                      double **wout) {
    int64_t k = 0;
    for (int64_t r = fi->start[f]; r < fi->start[f + 1]; r++, k++) {
        int64_t i = fi->idx[r];
        fi->y[k] = in->label[i];
        fi->s[k] = m < 0 ? prob[i] : in->member_prob[i * in->nmembers + m];
        if (weights) fi->w[k] = weights[in->subject[i]];
    }
    *wout = weights ? fi->w : NULL;
    return k;
}

typedef struct curve_metrics {
    double proc, proc_norm, pr, roc;
    int nvalid; /* folds with both classes */
} curve_metrics;

/* Per-fold curves of prob (weights per subject, NULL = 1), their means and areas. With `keep`, the
 * fold and mean curves and the per-fold areas are stored there. */
static qr_status curve_metrics_of(const qr_eval_input *in, const double *prob, fold_index *fi, const double *subject_w,
                                  qr_eval_result *keep, curve_metrics *out) {
    int K = in->nfolds;
    qr_curve *roc = calloc((size_t)K, sizeof *roc), *pr = calloc((size_t)K, sizeof *pr);
    qr_curve *vroc = calloc((size_t)K, sizeof *vroc), *vpr = calloc((size_t)K, sizeof *vpr);
    qr_status st = QR_OK;
    out->nvalid = 0;
    out->proc = out->proc_norm = out->pr = out->roc = NAN;
    if (!roc || !pr || !vroc || !vpr) {
        st = qr_fail(QR_ERR_NOMEM, "out of memory for the evaluation curves");
        goto done;
    }
    int nv = 0;
    for (int f = 0; f < K; f++) {
        double *w;
        int64_t k = gather(in, prob, fi, f, -1, subject_w, &w);
        if (k == 0) continue;
        qr_clf_counts c;
        st = qr_clf_counts_compute(fi->y, fi->s, w, k, &c);
        if (st == QR_ERR_EMPTY) { /* every item of the fold has weight 0 in this resample */
            st = QR_OK;
            continue;
        }
        if (st != QR_OK) goto done;
        if (c.P > 0 && c.N > 0) {
            qr_curve prc;
            st = qr_roc_curve(&c, 1, &roc[f]);
            if (st == QR_OK) st = qr_pr_curve(&c, &prc);
            if (st == QR_OK) {
                st = qr_pr_step_polyline(&prc, &pr[f]);
                qr_curve_free(&prc);
            }
            if (st == QR_OK) {
                vroc[nv] = roc[f];
                vpr[nv] = pr[f];
                nv++;
            }
            if (keep) {
                qr_eval_fold *fo = &keep->folds[f];
                double a = qr_curve_area(&roc[f], in->max_fpr);
                fo->proc_auc = qr_mcclish(a, in->max_fpr);
                fo->proc_auc_normalized = a / in->max_fpr;
                fo->roc_auc = qr_curve_area(&roc[f], INFINITY);
                fo->pr_auc = qr_curve_area(&pr[f], INFINITY);
            }
        }
        qr_clf_counts_free(&c);
        if (st != QR_OK) goto done;
    }
    out->nvalid = nv;
    if (nv > 0) {
        qr_curve mroc, mpr;
        st = qr_curve_mean(vroc, nv, &mroc);
        if (st != QR_OK) goto done;
        st = qr_curve_mean(vpr, nv, &mpr);
        if (st != QR_OK) {
            qr_curve_free(&mroc);
            goto done;
        }
        double a = qr_curve_area(&mroc, in->max_fpr);
        out->proc = qr_mcclish(a, in->max_fpr);
        out->proc_norm = a / in->max_fpr;
        out->roc = qr_curve_area(&mroc, INFINITY);
        out->pr = qr_curve_area(&mpr, INFINITY);
        if (keep) {
            keep->roc_mean = mroc;
            keep->pr_mean = mpr;
        } else {
            qr_curve_free(&mroc);
            qr_curve_free(&mpr);
        }
    }
done:
    if (keep && st == QR_OK) {
        keep->roc_fold = roc;
        keep->pr_fold = pr;
    } else {
        for (int f = 0; roc && f < K; f++) qr_curve_free(&roc[f]);
        for (int f = 0; pr && f < K; f++) qr_curve_free(&pr[f]);
        free(roc);
        free(pr);
    }
    free(vroc);
    free(vpr);
    return st;
}

/* Decision-level metrics with subject weights (NULL = 1). */
typedef struct decision_metrics {
    qr_confusion conf;
    qr_binary_metrics m;
    double review_fraction, sens_high, spec_high, review_count;
    double count_r, count_mse;
} decision_metrics;

static qr_status decision_metrics_of(const qr_eval_input *in, const qr_eval_result *r, const double *subject_w,
                                     const int *draw, int ndraw, decision_metrics *out) {
    memset(out, 0, sizeof *out);
    qr_confusion high = {0, 0, 0, 0};
    double total = 0;
    for (int64_t i = 0; i < in->n; i++) {
        double w = subject_w ? subject_w[in->subject[i]] : 1.0;
        if (w == 0) continue;
        int y = in->label[i], d = r->decision[i], v = r->review[i];
        qr_confusion_add(&out->conf, &y, &d, &w, 1);
        qr_confusion_add(&high, &y, &v, &w, 1);
        total += w;
        out->review_count += v ? w : 0;
    }
    out->m = qr_binary_metrics_of(&out->conf);
    qr_binary_metrics mh = qr_binary_metrics_of(&high);
    out->sens_high = mh.sensitivity;
    out->spec_high = mh.specificity;
    out->review_fraction = total > 0 ? out->review_count / total : NAN;
    /* Subject counts: the drawn subjects (all subjects once when draw is NULL). */
    int ns = draw ? ndraw : in->nsubjects;
    double *a = malloc((size_t)(ns > 0 ? ns : 1) * sizeof *a), *b = malloc((size_t)(ns > 0 ? ns : 1) * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        out->count_r = out->count_mse = NAN;
        return qr_fail(QR_ERR_NOMEM, "out of memory for the subject counts");
    }
    for (int k = 0; k < ns; k++) {
        int sub = draw ? draw[k] : k;
        a[k] = r->count_pred[sub];
        b[k] = r->count_true[sub];
    }
    out->count_r = qr_pearson(a, b, ns);
    out->count_mse = qr_mse(a, b, ns);
    free(a);
    free(b);
    return QR_OK;
}

static qr_status validate(const qr_eval_input *in) {
    if (in->n < 1) return qr_fail(QR_ERR_EMPTY, "no lesions to evaluate");
    if (in->nsubjects < 1 || in->nfolds < 1 || in->nmembers < 1)
        return qr_fail(QR_ERR_INVALID_ARG, "evaluation needs at least one subject, fold and member");
    if (!(in->max_fpr > 0 && in->max_fpr <= 1)) return qr_fail(QR_ERR_INVALID_ARG, "max_fpr must be in (0, 1]");
    int64_t npos = 0;
    for (int64_t i = 0; i < in->n; i++) {
        if (in->subject[i] < 0 || in->subject[i] >= in->nsubjects)
            return qr_fail(QR_ERR_INVALID_ARG, "lesion %lld has subject index %d outside 0..%d", (long long)i,
                           in->subject[i], in->nsubjects - 1);
        if (in->fold[i] < 0 || in->fold[i] >= in->nfolds)
            return qr_fail(QR_ERR_INVALID_ARG, "lesion %lld has fold %d outside 0..%d", (long long)i, in->fold[i],
                           in->nfolds - 1);
        if (in->label[i] != 0 && in->label[i] != 1)
            return qr_fail(QR_ERR_INVALID_ARG, "lesion %lld has label %d (must be 0 or 1)", (long long)i, in->label[i]);
        for (int m = 0; m < in->nmembers; m++) {
            double p = in->member_prob[i * in->nmembers + m];
            if (!isfinite(p)) return qr_fail(QR_ERR_NONFINITE, "probability of lesion %lld is not finite", (long long)i);
        }
        npos += in->label[i];
    }
    if (npos == 0) return qr_fail(QR_ERR_EMPTY, "no rim+ lesion among the %lld lesions: metrics are undefined", (long long)in->n);
    if (npos == in->n) return qr_fail(QR_ERR_EMPTY, "no rim- lesion among the %lld lesions: metrics are undefined", (long long)in->n);
    return QR_OK;
}

/* A fold without rim+ lesions has no F1-optimal or sensitive threshold of its own (choosing one on
 * its labels would call nothing rim+ there, from the test labels themselves): it takes the mean of
 * the other folds' thresholds, member by member, and a notice says so. */
static void thresholds_from_other_folds(const qr_eval_input *in, qr_eval_result *r) {
    for (int f = 0; f < in->nfolds; f++) {
        qr_eval_fold *fo = &r->folds[f];
        if (!isnan(fo->threshold_sensitive)) continue;
        for (int m = -1; m < in->nmembers; m++) {
            double sum = 0;
            int n = 0;
            for (int g = 0; g < in->nfolds; g++) {
                const double t = m < 0 ? r->folds[g].threshold_sensitive : r->folds[g].threshold_f1[m];
                if (g != f && !isnan(t)) sum += t, n++;
            }
            const double mean = n ? sum / n : INFINITY;
            if (m < 0) fo->threshold_sensitive = mean;
            else fo->threshold_f1[m] = mean;
        }
        qr_log(QR_LOG_NOTICE, "fold %d has no rim+ lesion: its thresholds are the mean of the other folds' (F1 %.3g, sensitive %.3g)",
               f + 1, fo->threshold_f1[0], fo->threshold_sensitive);
    }
}

/* Thresholds per fold (chosen on the fold, or fixed) and the decisions they give. */
static qr_status decide(const qr_eval_input *in, fold_index *fi, qr_eval_result *r) {
    for (int f = 0; f < in->nfolds; f++) {
        qr_eval_fold *fo = &r->folds[f];
        double *w;
        for (int m = 0; m < in->nmembers; m++) {
            if (in->fixed_thresholds) {
                fo->threshold_f1[m] = in->threshold_f1;
                continue;
            }
            int64_t k = gather(in, r->prob, fi, f, m, NULL, &w);
            double t = NAN; /* a fold without rim+ lesions: from the other folds, below */
            if (k > 0 && fo->npos > 0) QR_TRY(qr_threshold_f1(fi->y, fi->s, NULL, k, &t, NULL));
            fo->threshold_f1[m] = t;
        }
        if (in->fixed_thresholds) {
            /* as qsmrim predict applies them: the review band never starts above the rim+ threshold */
            fo->threshold_sensitive = fmin(in->threshold_sensitive, in->threshold_f1);
        } else {
            int64_t k = gather(in, r->prob, fi, f, -1, NULL, &w);
            double t = NAN;
            if (k > 0 && fo->npos > 0) QR_TRY(qr_threshold_sensitivity(fi->y, fi->s, NULL, k, in->sensitivity_target, &t, NULL));
            fo->threshold_sensitive = t;
        }
    }
    if (!in->fixed_thresholds) thresholds_from_other_folds(in, r);
    for (int64_t i = 0; i < in->n; i++) {
        const qr_eval_fold *fo = &r->folds[in->fold[i]];
        if (in->fixed_thresholds) {
            r->decision[i] = r->prob[i] >= in->threshold_f1;
        } else {
            int votes = 0;
            for (int m = 0; m < in->nmembers; m++) votes += in->member_prob[i * in->nmembers + m] >= fo->threshold_f1[m];
            r->decision[i] = 2 * votes > in->nmembers;
        }
        r->review[i] = r->decision[i] || r->prob[i] >= fo->threshold_sensitive;
        r->count_true[in->subject[i]] += in->label[i];
        r->count_pred[in->subject[i]] += r->decision[i];
    }
    return QR_OK;
}

enum { BM_PROC, BM_PROCN, BM_PR, BM_ROC, BM_F1, BM_SENS, BM_SPEC, BM_PPV, BM_ACC, BM_REVIEW, BM_SENSH, BM_SPECH,
       BM_R, BM_MSE, BM_COUNT };

static qr_status bootstrap(const qr_eval_input *in, fold_index *fi, qr_eval_result *r,
                           const volatile sig_atomic_t *cancel) {
    int B = in->bootstrap, S = in->nsubjects;
    double *v = malloc((size_t)B * BM_COUNT * sizeof *v);
    double *w = malloc((size_t)S * sizeof *w);
    int *draw = malloc((size_t)S * sizeof *draw);
    qr_status st = QR_OK;
    if (!v || !w || !draw) {
        st = qr_fail(QR_ERR_NOMEM, "out of memory for the bootstrap");
        goto done;
    }
    qr_rng rng;
    qr_rng_seed(&rng, in->seed, 0xB007);
    for (int b = 0; b < B; b++) {
        if (QR_CANCELLED(cancel)) {
            st = qr_fail(QR_ERR_CANCELLED, "bootstrap interrupted");
            goto done;
        }
        memset(w, 0, (size_t)S * sizeof *w);
        for (int k = 0; k < S; k++) {
            draw[k] = (int)qr_rng_below(&rng, (uint64_t)S);
            w[draw[k]] += 1;
        }
        curve_metrics cm;
        st = curve_metrics_of(in, r->prob, fi, w, NULL, &cm);
        if (st != QR_OK) goto done;
        decision_metrics dm;
        st = decision_metrics_of(in, r, w, draw, S, &dm);
        if (st != QR_OK) goto done;
        double *row = v + (size_t)b * BM_COUNT;
        row[BM_PROC] = cm.proc;
        row[BM_PROCN] = cm.proc_norm;
        row[BM_PR] = cm.pr;
        row[BM_ROC] = cm.roc;
        row[BM_F1] = dm.m.f1;
        row[BM_SENS] = dm.m.sensitivity;
        row[BM_SPEC] = dm.m.specificity;
        row[BM_PPV] = dm.m.ppv;
        row[BM_ACC] = dm.m.accuracy;
        row[BM_REVIEW] = dm.review_fraction;
        row[BM_SENSH] = dm.sens_high;
        row[BM_SPECH] = dm.spec_high;
        row[BM_R] = dm.count_r;
        row[BM_MSE] = dm.count_mse;
    }
    qr_ci_value *dst[BM_COUNT] = {&r->proc_auc, &r->proc_auc_normalized, &r->pr_auc, &r->roc_auc, &r->f1,
                                  &r->sensitivity, &r->specificity, &r->ppv, &r->accuracy, &r->review_fraction,
                                  &r->sensitivity_high, &r->specificity_high, &r->count_r, &r->count_mse};
    double *col = malloc((size_t)B * sizeof *col);
    if (!col) {
        st = qr_fail(QR_ERR_NOMEM, "out of memory for the bootstrap");
        goto done;
    }
    for (int m = 0; m < BM_COUNT; m++) {
        dst[m]->resamples = 0;
        for (int b = 0; b < B; b++) dst[m]->resamples += !isnan(v[(size_t)b * BM_COUNT + m]);
        for (int b = 0; b < B; b++) col[b] = v[(size_t)b * BM_COUNT + m];
        dst[m]->lo = qr_percentile(col, B, 2.5);
        for (int b = 0; b < B; b++) col[b] = v[(size_t)b * BM_COUNT + m];
        dst[m]->hi = qr_percentile(col, B, 97.5);
    }
    free(col);
done:
    free(v);
    free(w);
    free(draw);
    return st;
}

void qr_eval_ci_list(const qr_eval_result *r, const char *names[QR_CI_COUNT], const qr_ci_value *vals[QR_CI_COUNT]) {
    static const char *const N[QR_CI_COUNT] = {"proc_auc", "proc_auc_normalized", "pr_auc", "roc_auc", "f1", "sensitivity",
                                               "specificity", "ppv", "accuracy", "count_r", "count_mse",
                                               "review_fraction_at_high_sensitivity", "sensitivity_at_high_sensitivity",
                                               "specificity_at_high_sensitivity"};
    const qr_ci_value *V[QR_CI_COUNT] = {&r->proc_auc,  &r->proc_auc_normalized, &r->pr_auc,          &r->roc_auc,
                                         &r->f1,        &r->sensitivity,         &r->specificity,     &r->ppv,
                                         &r->accuracy,  &r->count_r,             &r->count_mse,       &r->review_fraction,
                                         &r->sensitivity_high, &r->specificity_high};
    for (int k = 0; k < QR_CI_COUNT; k++) {
        names[k] = N[k];
        vals[k] = V[k];
    }
}

qr_status qr_evaluate(const qr_eval_input *in, qr_eval_result *r, const volatile sig_atomic_t *cancel) {
    memset(r, 0, sizeof *r);
    QR_TRY(validate(in));
    r->n_lesions = in->n;
    r->n_subjects = in->nsubjects;
    r->nfolds = in->nfolds;
    r->nmembers = in->nmembers;
    size_t n = (size_t)in->n;
    r->prob = malloc(n * sizeof *r->prob);
    r->decision = malloc(n * sizeof *r->decision);
    r->review = malloc(n * sizeof *r->review);
    r->count_true = calloc((size_t)in->nsubjects, sizeof *r->count_true);
    r->count_pred = calloc((size_t)in->nsubjects, sizeof *r->count_pred);
    r->folds = calloc((size_t)in->nfolds, sizeof *r->folds);
    if (!r->prob || !r->decision || !r->review || !r->count_true || !r->count_pred || !r->folds) {
        qr_eval_result_free(r);
        return qr_fail(QR_ERR_NOMEM, "out of memory for the evaluation");
    }
    for (int f = 0; f < in->nfolds; f++) {
        qr_eval_fold *fo = &r->folds[f];
        fo->proc_auc = fo->proc_auc_normalized = fo->pr_auc = fo->roc_auc = NAN;
        fo->threshold_f1 = calloc((size_t)in->nmembers, sizeof *fo->threshold_f1);
        if (!fo->threshold_f1) {
            qr_eval_result_free(r);
            return qr_fail(QR_ERR_NOMEM, "out of memory for the evaluation");
        }
    }
    for (int64_t i = 0; i < in->n; i++) {
        double p = 0;
        for (int m = 0; m < in->nmembers; m++) p += in->member_prob[i * in->nmembers + m];
        r->prob[i] = p / in->nmembers;
        r->n_rimpos += in->label[i];
        r->folds[in->fold[i]].n++;
        r->folds[in->fold[i]].npos += in->label[i];
    }

    fold_index fi;
    qr_status st = fold_index_build(in, &fi);
    if (st != QR_OK) {
        qr_eval_result_free(r);
        return st;
    }
    curve_metrics cm;
    st = curve_metrics_of(in, r->prob, &fi, NULL, r, &cm);
    if (st == QR_OK && cm.nvalid == 0)
        st = qr_fail(QR_ERR_EMPTY, "no fold holds both rim+ and rim- lesions: curves are undefined");
    if (st == QR_OK) st = decide(in, &fi, r);
    decision_metrics dm;
    if (st == QR_OK) {
        r->proc_auc = ci_none(cm.proc);
        r->proc_auc_normalized = ci_none(cm.proc_norm);
        r->pr_auc = ci_none(cm.pr);
        r->roc_auc = ci_none(cm.roc);
        st = decision_metrics_of(in, r, NULL, NULL, 0, &dm);
    }
    if (st == QR_OK) {
        r->confusion = dm.conf;
        r->f1 = ci_none(dm.m.f1);
        r->sensitivity = ci_none(dm.m.sensitivity);
        r->specificity = ci_none(dm.m.specificity);
        r->ppv = ci_none(dm.m.ppv);
        r->accuracy = ci_none(dm.m.accuracy);
        r->review_fraction = ci_none(dm.review_fraction);
        r->sensitivity_high = ci_none(dm.sens_high);
        r->specificity_high = ci_none(dm.spec_high);
        r->n_review = (int64_t)dm.review_count;
        r->count_r = ci_none(dm.count_r);
        r->count_mse = ci_none(dm.count_mse);
        qr_pearson_ci95(dm.count_r, in->nsubjects, r->count_r_ci);
    }
    if (st == QR_OK && in->bootstrap > 0) st = bootstrap(in, &fi, r, cancel);
    fold_index_free(&fi);
    if (st != QR_OK) qr_eval_result_free(r);
    return st;
}
