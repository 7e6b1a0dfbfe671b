/*
 * test_curves.c - ROC / PR curves, their areas, thresholds, confusion counts, correlation and
 * percentiles against scikit-learn 1.2, SciPy and NumPy (Debian's python3-sklearn), and the
 * cross-validated evaluation against the per-fold scikit-learn values it must average to.
 *
 * Reference values come from Testing/eval/sklearn_reference.py run at test time on the very
 * datasets this test writes (skipped, exit 77, when that Python lacks scikit-learn).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/rng.h"
#include "eval/curves.h"
#include "eval/evaluation.h"
#include "eval/metrics.h"

#define MAXN 4096
#define NCASES 6
#define NFOLDS 5

typedef struct dataset {
    int n;
    int y[MAXN];
    double s[MAXN], w[MAXN];
    int fold[MAXN], subject[MAXN];
    int weighted;
} dataset;

static dataset g_cases[NCASES];
static dataset g_folds[NFOLDS]; /* case 0 split by fold */
static char g_dir[256];

/* ---- reference file reading: "name v1 v2 ..." ---- */
typedef struct refvals {
    int n;
    double v[MAXN + 2];
} refvals;

static int ref_get(const char *path, const char *name, refvals *out) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    static char line[1 << 20];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        char *save = NULL, *tok = strtok_r(line, " \n", &save);
        if (!tok || strcmp(tok, name) != 0) continue;
        out->n = 0;
        while ((tok = strtok_r(NULL, " \n", &save)) && out->n < MAXN + 2) out->v[out->n++] = strtod(tok, NULL);
        found = 1;
        break;
    }
    fclose(f);
    return found;
}

static void case_path(char *buf, size_t n, const char *stem, int i) { snprintf(buf, n, "%s/%s%d.tsv", g_dir, stem, i); }
static void ref_path(char *buf, size_t n, const char *stem, int i) { snprintf(buf, n, "%s/%s%d.tsv.ref", g_dir, stem, i); }

static void write_case(const dataset *d, const char *stem, int i) {
    char p[512];
    case_path(p, sizeof p, stem, i);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    for (int k = 0; k < d->n; k++) fprintf(f, "%d %.17g %.17g\n", d->y[k], d->s[k], d->w[k]);
    fclose(f);
}

/* Scores that separate the classes imperfectly: s = sigmoid(1.6*y + N(0,1)), optionally rounded
 * (ties) or quantised to k/50 (random-forest-like votes). */
static void make_case(dataset *d, int n, double prevalence, int mode, uint64_t seed) {
    qr_rng r;
    qr_rng_seed(&r, seed, 1);
    d->n = n;
    d->weighted = (mode == 3);
    for (int k = 0; k < n; k++) {
        d->y[k] = qr_rng_uniform(&r) < prevalence;
        double z = 1.6 * d->y[k] + qr_rng_normal(&r);
        double s = 1.0 / (1.0 + exp(-z));
        if (mode == 1) s = round(s * 10) / 10;
        if (mode == 2) s = round(s * 50) / 50;
        d->s[k] = s;
        d->w[k] = d->weighted ? (double)qr_rng_below(&r, 4) : 1.0;
        d->fold[k] = (int)qr_rng_below(&r, NFOLDS);
        d->subject[k] = (int)qr_rng_below(&r, 40);
    }
    /* make sure both classes are present with positive weight */
    d->y[0] = 1;
    d->y[1] = 0;
    if (d->weighted) d->w[0] = d->w[1] = 1;
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/tests/eval_curves_%d", QSMRIM_BINARY_DIR, (int)getpid());
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", g_dir);
    if (system(cmd) != 0) return -1;
    make_case(&g_cases[0], 600, 0.12, 0, 11);
    make_case(&g_cases[1], 300, 0.2, 1, 12);
    make_case(&g_cases[2], 400, 0.1, 2, 13);
    make_case(&g_cases[3], 250, 0.15, 3, 14);
    make_case(&g_cases[4], 12, 0.3, 0, 15);
    make_case(&g_cases[5], 2000, 0.04, 0, 16);
    for (int i = 0; i < NCASES; i++) write_case(&g_cases[i], "case", i);
    /* case 0 split by fold: each fold's own sklearn values are the reference of the averages */
    for (int f = 0; f < NFOLDS; f++) {
        g_folds[f].n = 0;
        for (int k = 0; k < g_cases[0].n; k++) {
            if (g_cases[0].fold[k] != f) continue;
            int j = g_folds[f].n++;
            g_folds[f].y[j] = g_cases[0].y[k];
            g_folds[f].s[j] = g_cases[0].s[k];
            g_folds[f].w[j] = 1;
        }
        write_case(&g_folds[f], "fold", f);
    }
    char script[512];
    snprintf(script, sizeof script, "%s/Testing/eval/sklearn_reference.py", QSMRIM_SOURCE_DIR);
    snprintf(cmd, sizeof cmd, "%s -c 'import sklearn, scipy' 2>/dev/null", QSMRIM_PYTHON);
    if (system(cmd) != 0) {
        fprintf(stderr, "skipped: %s lacks scikit-learn / SciPy\n", QSMRIM_PYTHON);
        exit(77);
    }
    snprintf(cmd, sizeof cmd, "%s %s %s/case*.tsv %s/fold*.tsv", QSMRIM_PYTHON, script, g_dir, g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void assert_close(double got, double want, double tol, const char *what) {
    if (isnan(want) && isnan(got)) return;
    if (!(fabs(got - want) <= tol * (1 + fabs(want)))) {
        print_error("%s: got %.17g, scikit-learn %.17g\n", what, got, want);
        fail();
    }
}

static const double *weights_of(const dataset *d) { return d->weighted ? d->w : NULL; }

static void test_roc_curve_points(void **state) {
    (void)state;
    for (int i = 0; i < NCASES; i++) {
        const dataset *d = &g_cases[i];
        char rp[512];
        ref_path(rp, sizeof rp, "case", i);
        refvals fpr, tpr, thr;
        assert_true(ref_get(rp, "roc_fpr", &fpr) && ref_get(rp, "roc_tpr", &tpr) && ref_get(rp, "roc_thr", &thr));
        qr_clf_counts c;
        assert_int_equal(qr_clf_counts_compute(d->y, d->s, weights_of(d), d->n, &c), QR_OK);
        qr_curve roc;
        assert_int_equal(qr_roc_curve(&c, 1, &roc), QR_OK);
        assert_int_equal(roc.n, fpr.n);
        for (int k = 0; k < roc.n; k++) {
            assert_close(roc.x[k], fpr.v[k], 1e-15, "roc fpr");
            assert_close(roc.y[k], tpr.v[k], 1e-15, "roc tpr");
            assert_close(roc.thr[k], thr.v[k], 0, "roc threshold");
        }
        qr_curve_free(&roc);
        qr_clf_counts_free(&c);
    }
}

static void test_pr_curve_points(void **state) {
    (void)state;
    for (int i = 0; i < NCASES; i++) {
        const dataset *d = &g_cases[i];
        char rp[512];
        ref_path(rp, sizeof rp, "case", i);
        refvals prec, rec, thr;
        assert_true(ref_get(rp, "pr_precision", &prec) && ref_get(rp, "pr_recall", &rec) &&
                    ref_get(rp, "pr_thr", &thr));
        qr_clf_counts c;
        assert_int_equal(qr_clf_counts_compute(d->y, d->s, weights_of(d), d->n, &c), QR_OK);
        qr_curve pr;
        assert_int_equal(qr_pr_curve(&c, &pr), QR_OK);
        /* scikit-learn lists recall decreasing, ending with (recall 0, precision 1); ours is reversed */
        assert_int_equal(pr.n, prec.n);
        for (int k = 0; k < pr.n; k++) {
            int r = prec.n - 1 - k;
            assert_close(pr.x[k], rec.v[r], 1e-15, "recall");
            assert_close(pr.y[k], prec.v[r], 1e-15, "precision");
            if (k > 0) assert_close(pr.thr[k], thr.v[thr.n - k], 0, "pr threshold");
        }
        qr_curve_free(&pr);
        qr_clf_counts_free(&c);
    }
}

static void test_auc_scores(void **state) {
    (void)state;
    for (int i = 0; i < NCASES; i++) {
        const dataset *d = &g_cases[i];
        char rp[512];
        ref_path(rp, sizeof rp, "case", i);
        refvals auc, proc, proc3, ap;
        assert_true(ref_get(rp, "roc_auc", &auc) && ref_get(rp, "proc_auc", &proc) &&
                    ref_get(rp, "proc_auc_03", &proc3) && ref_get(rp, "ap", &ap));
        double v;
        assert_int_equal(qr_roc_auc(d->y, d->s, weights_of(d), d->n, 1.0, &v), QR_OK);
        assert_close(v, auc.v[0], 1e-12, "roc_auc_score");
        assert_int_equal(qr_roc_auc(d->y, d->s, weights_of(d), d->n, 0.1, &v), QR_OK);
        assert_close(v, proc.v[0], 1e-12, "roc_auc_score(max_fpr=0.1)");
        assert_int_equal(qr_roc_auc(d->y, d->s, weights_of(d), d->n, 0.3, &v), QR_OK);
        assert_close(v, proc3.v[0], 1e-12, "roc_auc_score(max_fpr=0.3)");
        assert_int_equal(qr_average_precision(d->y, d->s, weights_of(d), d->n, &v), QR_OK);
        assert_close(v, ap.v[0], 1e-12, "average_precision_score");

        /* the step polyline of the PR curve has exactly the AP as its trapezoidal area */
        qr_clf_counts c;
        qr_curve pr, step;
        assert_int_equal(qr_clf_counts_compute(d->y, d->s, weights_of(d), d->n, &c), QR_OK);
        assert_int_equal(qr_pr_curve(&c, &pr), QR_OK);
        assert_int_equal(qr_pr_step_polyline(&pr, &step), QR_OK);
        assert_close(qr_curve_area(&step, INFINITY), ap.v[0], 1e-12, "area of the PR step polyline");
        qr_curve_free(&pr);
        qr_curve_free(&step);
        qr_clf_counts_free(&c);
    }
}

static void test_thresholds_and_confusion(void **state) {
    (void)state;
    for (int i = 0; i < NCASES; i++) {
        const dataset *d = &g_cases[i];
        char rp[512];
        ref_path(rp, sizeof rp, "case", i);
        refvals f1b, f1t, st, sv, conf, acc, prec;
        assert_true(ref_get(rp, "f1_best", &f1b) && ref_get(rp, "f1_threshold", &f1t) &&
                    ref_get(rp, "sens_threshold", &st) && ref_get(rp, "sens_value", &sv) &&
                    ref_get(rp, "confusion", &conf) && ref_get(rp, "accuracy", &acc) &&
                    ref_get(rp, "precision", &prec));
        double t, f1;
        assert_int_equal(qr_threshold_f1(d->y, d->s, weights_of(d), d->n, &t, &f1), QR_OK);
        assert_close(f1, f1b.v[0], 1e-12, "best F1");
        assert_close(t, f1t.v[0], 0, "F1-optimal threshold");
        double ts, sens;
        assert_int_equal(qr_threshold_sensitivity(d->y, d->s, weights_of(d), d->n, 0.95, &ts, &sens), QR_OK);
        assert_close(ts, st.v[0], 0, "high-sensitivity threshold");
        assert_close(sens, sv.v[0], 1e-12, "sensitivity at that threshold");
        
        int dec[MAXN];
        for (int k = 0; k < d->n; k++) dec[k] = d->s[k] >= t;
        qr_confusion cf = {0, 0, 0, 0};
        qr_confusion_add(&cf, d->y, dec, weights_of(d), d->n);
        assert_close(cf.tp, conf.v[0], 1e-12, "TP");
        assert_close(cf.fp, conf.v[1], 1e-12, "FP");
        assert_close(cf.fn, conf.v[2], 1e-12, "FN");
        assert_close(cf.tn, conf.v[3], 1e-12, "TN");
        qr_binary_metrics m = qr_binary_metrics_of(&cf);
        assert_close(m.accuracy, acc.v[0], 1e-12, "accuracy");
        assert_close(m.ppv, prec.v[0], 1e-12, "precision");
        assert_close(m.f1, f1b.v[0], 1e-12, "F1 of the confusion counts");
        /* the rates of scikit-learn's confusion matrix [tp, fp, fn, tn] */
        assert_close(m.sensitivity, conf.v[0] / (conf.v[0] + conf.v[2]), 1e-12, "sensitivity");
        assert_close(m.specificity, conf.v[3] / (conf.v[3] + conf.v[1]), 1e-12, "specificity");
        assert_close(m.npv, conf.v[3] / (conf.v[3] + conf.v[2]), 1e-12, "NPV");
    }
}

static void test_correlation_and_percentiles(void **state) {
    (void)state;
    for (int i = 0; i < NCASES; i++) {
        const dataset *d = &g_cases[i];
        char rp[512];
        ref_path(rp, sizeof rp, "case", i);
        refvals pr, mse, pct;
        assert_true(ref_get(rp, "pearson", &pr) && ref_get(rp, "mse", &mse) && ref_get(rp, "percentiles", &pct));
        double b[MAXN], tmp[MAXN];
        for (int k = 0; k < d->n; k++) b[k] = d->w[k] + 0.37 * d->s[k] * d->s[k];
        double r = qr_pearson(d->s, b, d->n), ci[2];
        qr_pearson_ci95(r, d->n, ci);
        assert_close(r, pr.v[0], 1e-12, "Pearson r");
        assert_close(ci[0], pr.v[1], 1e-12, "Fisher CI low");
        assert_close(ci[1], pr.v[2], 1e-12, "Fisher CI high");
        assert_close(qr_mse(d->s, b, d->n), mse.v[0], 1e-12, "MSE");
        const double q[3] = {2.5, 50, 97.5};
        for (int j = 0; j < 3; j++) {
            memcpy(tmp, d->s, (size_t)d->n * sizeof *tmp);
            assert_close(qr_percentile(tmp, d->n, q[j]), pct.v[j], 1e-12, "percentile");
        }
    }
    /* degenerate inputs */
    double c3[3] = {1, 1, 1}, v3[3] = {1, 2, 3}, ci[2];
    assert_true(isnan(qr_pearson(c3, v3, 3)));
    qr_pearson_ci95(0.5, 3, ci);
    assert_true(isnan(ci[0]) && isnan(ci[1]));
}

/* Hand-worked: two folds whose curves are known; the averaged curve and its areas. */
static void test_mean_curve_hand_worked(void **state) {
    (void)state;
    /* Fold A ROC: (0,0) (0,0.5) (0.5,0.5) (0.5,1) (1,1); fold B: (0,0) (0,1) (1,1). */
    double ax[] = {0, 0, 0.5, 0.5, 1}, ay[] = {0, 0.5, 0.5, 1, 1};
    double bx[] = {0, 0, 1}, by[] = {0, 1, 1};
    qr_curve cv[2] = {{5, ax, ay, NULL}, {3, bx, by, NULL}};
    qr_curve m;
    assert_int_equal(qr_curve_mean(cv, 2, &m), QR_OK);
    /* Mean: at x=0 jumps 0 -> 0.75, flat to 0.5, jumps to 1, flat to 1. */
    double ex[] = {0, 0, 0.5, 0.5, 1}, ey[] = {0, 0.75, 0.75, 1, 1};
    assert_int_equal(m.n, 5);
    for (int k = 0; k < 5; k++) {
        assert_close(m.x[k], ex[k], 0, "mean x");
        assert_close(m.y[k], ey[k], 0, "mean y");
    }
    assert_close(qr_curve_area(&m, INFINITY), 0.875, 1e-15, "mean area = (0.75 + 1) / 2");
    assert_close(qr_curve_area(&m, 0.1), 0.075, 1e-15, "partial area to 0.1");
    assert_close(qr_mcclish(0.075, 0.1), 0.5 * (1 + (0.075 - 0.005) / (0.1 - 0.005)), 1e-15, "McClish");
    assert_close(qr_curve_eval(&m, 0.5, -1), 0.75, 0, "left limit at a jump");
    assert_close(qr_curve_eval(&m, 0.5, +1), 1.0, 0, "right limit at a jump");
    assert_close(qr_curve_eval(&m, 0.25, 0), 0.75, 0, "inside a flat step");
    qr_curve_free(&m);
}

/* The cross-validated evaluation: averaged-curve areas equal the mean of scikit-learn's per-fold
 * values (the mean curve is linear in the fold curves), confusion counts equal the sum of the
 * per-fold counts at each fold's F1-optimal threshold. */
/* The evaluation input of a case (40 subjects, NFOLDS folds) with `nm` members' probabilities. */
static qr_eval_input case_input(const dataset *d, int nm, const double *member_prob, int64_t bootstrap) {
    qr_eval_input in = qr_eval_input_default();
    in.n = d->n;
    in.nsubjects = 40;
    in.nfolds = NFOLDS;
    in.nmembers = nm;
    in.subject = d->subject;
    in.fold = d->fold;
    in.label = d->y;
    in.member_prob = member_prob;
    in.bootstrap = bootstrap;
    return in;
}

/* `nm` members' probabilities of a case: its scores plus normal noise of `sd`, clipped to [0, 1]
 * (the caller frees them). */
static double *noisy_members(const dataset *d, int nm, double sd, uint64_t seed, uint64_t stream) {
    double *mp = malloc((size_t)d->n * (size_t)nm * sizeof *mp);
    assert_non_null(mp);
    qr_rng rng;
    qr_rng_seed(&rng, seed, stream);
    for (int k = 0; k < d->n; k++)
        for (int m = 0; m < nm; m++) {
            double p = d->s[k] + sd * qr_rng_normal(&rng);
            mp[k * nm + m] = p < 0 ? 0 : (p > 1 ? 1 : p);
        }
    return mp;
}

static void test_cross_validated_evaluation(void **state) {
    (void)state;
    const dataset *d = &g_cases[0];
    double proc = 0, procn = 0, ap = 0, conf[4] = {0, 0, 0, 0};
    double tsens[NFOLDS], tf1[NFOLDS], fproc[NFOLDS], fprocn[NFOLDS], fap[NFOLDS], froc[NFOLDS];
    for (int f = 0; f < NFOLDS; f++) {
        char rp[512];
        ref_path(rp, sizeof rp, "fold", f);
        refvals p, a, c, t, s, ra;
        assert_true(ref_get(rp, "proc_auc", &p) && ref_get(rp, "ap", &a) && ref_get(rp, "confusion", &c) &&
                    ref_get(rp, "f1_threshold", &t) && ref_get(rp, "sens_threshold", &s) && ref_get(rp, "roc_auc", &ra));
        fproc[f] = p.v[0];
        fprocn[f] = ((2 * p.v[0] - 1) * (0.1 - 0.005) + 0.005) / 0.1;
        fap[f] = a.v[0];
        froc[f] = ra.v[0];
        proc += p.v[0] / NFOLDS;
        /* McClish is affine: raw partial area = ((2 pAUC_std - 1)(a - a^2/2) + a^2/2) */
        procn += (((2 * p.v[0] - 1) * (0.1 - 0.005) + 0.005) / 0.1) / NFOLDS;
        ap += a.v[0] / NFOLDS;
        for (int j = 0; j < 4; j++) conf[j] += c.v[j];
        tf1[f] = t.v[0];
        tsens[f] = s.v[0];
    }
    qr_eval_input in = case_input(d, 1, d->s, 0);
    qr_eval_result r;
    assert_int_equal(qr_evaluate(&in, &r, NULL), QR_OK);
    assert_close(r.proc_auc.value, proc, 1e-12, "proc_auc of the averaged ROC");
    assert_close(r.proc_auc_normalized.value, procn, 1e-12, "normalised partial area");
    assert_close(r.pr_auc.value, ap, 1e-12, "pr_auc of the averaged PR curve");
    assert_close(r.confusion.tp, conf[0], 0, "TP over folds");
    assert_close(r.confusion.fp, conf[1], 0, "FP over folds");
    assert_close(r.confusion.fn, conf[2], 0, "FN over folds");
    assert_close(r.confusion.tn, conf[3], 0, "TN over folds");
    for (int f = 0; f < NFOLDS; f++) {
        assert_close(r.folds[f].threshold_f1[0], tf1[f], 0, "fold F1 threshold");
        assert_close(r.folds[f].threshold_sensitive, tsens[f], 0, "fold sensitivity threshold");
        /* metrics.json's per-fold areas: scikit-learn's on that fold */
        assert_close(r.folds[f].proc_auc, fproc[f], 1e-12, "fold proc_auc");
        assert_close(r.folds[f].proc_auc_normalized, fprocn[f], 1e-12, "fold normalised partial area");
        assert_close(r.folds[f].pr_auc, fap[f], 1e-12, "fold pr_auc");
        assert_close(r.folds[f].roc_auc, froc[f], 1e-12, "fold roc_auc");
    }
    assert_close(r.sensitivity.value, conf[0] / (conf[0] + conf[2]), 1e-15, "sensitivity over folds");
    assert_close(r.specificity.value, conf[3] / (conf[3] + conf[1]), 1e-15, "specificity over folds");
    assert_close(r.ppv.value, conf[0] / (conf[0] + conf[1]), 1e-15, "PPV over folds");
    /* review fraction and subject counts, recomputed here from the definitions */
    double nrev = 0, ct[40] = {0}, cp[40] = {0};
    for (int k = 0; k < d->n; k++) {
        nrev += d->s[k] >= tsens[d->fold[k]] || d->s[k] >= tf1[d->fold[k]]; /* every rim+ call is reviewed */
        ct[d->subject[k]] += d->y[k];
        cp[d->subject[k]] += d->s[k] >= tf1[d->fold[k]];
    }
    assert_close(r.review_fraction.value, nrev / d->n, 1e-15, "review fraction");
    assert_close(r.count_r.value, qr_pearson(cp, ct, 40), 1e-15, "count r");
    assert_close(r.count_mse.value, qr_mse(cp, ct, 40), 1e-15, "count MSE");
    assert_true(isnan(r.proc_auc.lo));
    qr_eval_result_free(&r);
}

/* Majority vote of three members and the bootstrap: deterministic for a seed, intervals around
 * the estimate. */
static void test_members_and_bootstrap(void **state) {
    (void)state;
    const dataset *d = &g_cases[5];
    double *mp = noisy_members(d, 3, 0.05, 5, 5);
    qr_eval_input in = case_input(d, 3, mp, 200);
    in.seed = 7;
    qr_eval_result a, b;
    assert_int_equal(qr_evaluate(&in, &a, NULL), QR_OK);
    assert_int_equal(qr_evaluate(&in, &b, NULL), QR_OK);
    for (int64_t k = 0; k < d->n; k++) {
        int votes = 0;
        for (int m = 0; m < 3; m++) votes += mp[k * 3 + m] >= a.folds[d->fold[k]].threshold_f1[m];
        assert_int_equal(a.decision[k], votes >= 2);
        assert_close(a.prob[k], (mp[k * 3] + mp[k * 3 + 1] + mp[k * 3 + 2]) / 3, 1e-15, "mean probability");
    }
    const qr_ci_value *va[] = {&a.proc_auc, &a.pr_auc, &a.f1, &a.sensitivity, &a.specificity, &a.ppv, &a.count_mse};
    const qr_ci_value *vb[] = {&b.proc_auc, &b.pr_auc, &b.f1, &b.sensitivity, &b.specificity, &b.ppv, &b.count_mse};
    for (int j = 0; j < 7; j++) {
        assert_true(va[j]->lo == vb[j]->lo && va[j]->hi == vb[j]->hi); /* same seed, same draws */
        assert_true(va[j]->lo < va[j]->hi);
        assert_true(va[j]->lo <= va[j]->value + 1e-9 && va[j]->value <= va[j]->hi + 1e-9);
    }
    qr_ci_value seed7 = a.proc_auc;
    qr_eval_result_free(&a);
    qr_eval_result_free(&b);
    in.seed = 8;
    assert_int_equal(qr_evaluate(&in, &a, NULL), QR_OK);
    assert_true(a.proc_auc.value == seed7.value);                             /* estimate: no randomness */
    assert_true(a.proc_auc.lo != seed7.lo || a.proc_auc.hi != seed7.hi);     /* another seed, other draws */
    qr_eval_result_free(&a);

    /* a model's stored thresholds (evaluate --model) with the high-sensitivity one above the F1
     * one: applied as predict applies them, the review band starts at the rim+ threshold, so every
     * lesion called rim+ is also to review */
    in.fixed_thresholds = 1;
    in.threshold_f1 = 0.3;
    in.threshold_sensitive = 0.6;
    in.bootstrap = 0;
    assert_int_equal(qr_evaluate(&in, &a, NULL), QR_OK);
    int64_t called = 0, reviewed = 0;
    for (int64_t k = 0; k < d->n; k++) {
        assert_int_equal(a.decision[k], a.prob[k] >= 0.3);
        assert_int_equal(a.review[k], a.prob[k] >= 0.3);
        called += a.decision[k];
        reviewed += a.review[k];
    }
    assert_true(called > 0 && called == reviewed && reviewed == a.n_review);
    assert_true(a.folds[0].threshold_sensitive == 0.3);
    qr_eval_result_free(&a);
    free(mp);
}

/* A majority vote can call a lesion rim+ whose mean probability lies below the high-sensitivity
 * threshold: 20 rim+ lesions, 19 at 0.9 for all three members, one at (0.9, 0.9, 0.0) - mean 0.6 -
 * and 20 rim- at 0.1. Each member's F1 threshold is 0.9 (all 20 rim+ above it for two members), so
 * the odd lesion is called rim+ by 2 of 3; the 95%-sensitivity threshold of the mean is 0.9 (19 of
 * 20). That lesion is still to review: the review set holds every rim+ call. */
static void test_review_holds_every_call(void **state) {
    (void)state;
    enum { N = 40 };
    int y[N], subj[N], fold[N];
    double mp[N * 3];
    for (int i = 0; i < N; i++) {
        y[i] = i < 20;
        subj[i] = i % 10;
        fold[i] = 0;
        for (int m = 0; m < 3; m++) mp[i * 3 + m] = y[i] ? 0.9 : 0.1;
    }
    mp[0 * 3 + 2] = 0.0;
    qr_eval_input in = qr_eval_input_default();
    in.n = N;
    in.nsubjects = 10;
    in.nfolds = 1;
    in.nmembers = 3;
    in.subject = subj;
    in.fold = fold;
    in.label = y;
    in.member_prob = mp;
    in.bootstrap = 0;
    qr_eval_result r;
    assert_int_equal(qr_evaluate(&in, &r, NULL), QR_OK);
    for (int m = 0; m < 3; m++) assert_close(r.folds[0].threshold_f1[m], 0.9, 0, "member F1 threshold");
    assert_close(r.folds[0].threshold_sensitive, 0.9, 0, "95%-sensitivity threshold of the mean");
    assert_close(r.prob[0], 0.6, 1e-15, "mean of the odd lesion");
    assert_int_equal(r.decision[0], 1);
    assert_int_equal(r.review[0], 1);
    assert_int_equal(r.n_review, 20);
    assert_close(r.review_fraction.value, 0.5, 0, "review fraction");
    qr_eval_result_free(&r);
}

/* Hand-worked operating points: an F1 tie (2/3 at 0.7 and at 0.4: the lower is taken) and the
 * high-sensitivity point when a sensitivity of exactly 0.95 is reachable. */
static void test_operating_points_hand_worked(void **state) {
    (void)state;
    int y[7] = {1, 0, 1, 0, 0, 1, 0};
    double s[7] = {0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3}, t, f1;
    assert_int_equal(qr_threshold_f1(y, s, NULL, 7, &t, &f1), QR_OK);
    assert_close(t, 0.4, 0, "lowest of tied F1 thresholds");
    assert_close(f1, 2.0 / 3.0, 1e-15, "tied F1");
    /* 20 rim+ with scores 1.00, 0.99, ..., 0.81 and 10 rim- at 0.5: sensitivity 19/20 at 0.82 */
    int y2[30];
    double s2[30], sens;
    for (int k = 0; k < 30; k++) {
        y2[k] = k < 20;
        s2[k] = k < 20 ? 1.0 - 0.01 * k : 0.5;
    }
    assert_int_equal(qr_threshold_sensitivity(y2, s2, NULL, 30, 0.95, &t, &sens), QR_OK);
    assert_close(t, s2[18], 0, "threshold of sensitivity 0.95");
    assert_close(sens, 0.95, 1e-15, "sensitivity 0.95 is allowed");
    /* all positives in the top tie group: the highest threshold is taken */
    double s3[30];
    for (int k = 0; k < 30; k++) s3[k] = k < 20 ? 0.9 : 0.1;
    assert_int_equal(qr_threshold_sensitivity(y2, s3, NULL, 30, 0.95, &t, &sens), QR_OK);
    assert_close(t, 0.9, 0, "top group threshold");
    assert_close(sens, 1.0, 0, "its sensitivity");
}

static void test_bad_input(void **state) {
    (void)state;
    int y[3] = {0, 0, 0};
    double s[3] = {0.1, 0.2, 0.3}, v;
    assert_int_equal(qr_roc_auc(y, s, NULL, 3, 0.1, &v), QR_ERR_EMPTY);
    assert_int_equal(qr_average_precision(y, s, NULL, 3, &v), QR_ERR_EMPTY);
    int y2[3] = {0, 1, 0};
    double sn[3] = {0.1, NAN, 0.3};
    assert_int_equal(qr_roc_auc(y2, sn, NULL, 3, 0.1, &v), QR_ERR_NONFINITE);
    assert_int_equal(qr_roc_auc(y2, s, NULL, 3, 0, &v), QR_ERR_INVALID_ARG);
    int y3[3] = {0, 2, 0};
    assert_int_equal(qr_roc_auc(y3, s, NULL, 3, 0.1, &v), QR_ERR_INVALID_ARG);
    /* evaluation without rim+ lesions names the problem */
    int f[3] = {0, 0, 0}, sub[3] = {0, 1, 2};
    qr_eval_input in = qr_eval_input_default();
    in.n = 3;
    in.nsubjects = 3;
    in.subject = sub;
    in.fold = f;
    in.label = y;
    in.member_prob = s;
    qr_eval_result r;
    assert_int_equal(qr_evaluate(&in, &r, NULL), QR_ERR_EMPTY);
    assert_non_null(strstr(qr_last_error(), "no rim+"));
    /* a fold without rim+ lesions is tolerated: NAN areas there; its thresholds are the other
     * folds' (not chosen on its own labels, which would call nothing rim+), so its lesion at 0.8
     * is a false positive */
    int y4[6] = {1, 0, 0, 1, 0, 0}, f4[6] = {0, 0, 0, 0, 1, 1}, sub4[6] = {0, 0, 1, 1, 2, 2};
    double s4[6] = {0.9, 0.2, 0.1, 0.7, 0.8, 0.3};
    in.n = 6;
    in.nfolds = 2;
    in.label = y4;
    in.fold = f4;
    in.subject = sub4;
    in.member_prob = s4;
    in.bootstrap = 20;
    assert_int_equal(qr_evaluate(&in, &r, NULL), QR_OK);
    assert_true(isnan(r.folds[1].proc_auc));
    assert_true(r.folds[0].threshold_f1[0] > 0.2 && r.folds[0].threshold_f1[0] <= 0.7);
    assert_true(r.folds[1].threshold_f1[0] == r.folds[0].threshold_f1[0]);
    assert_true(r.folds[1].threshold_sensitive == r.folds[0].threshold_sensitive);
    assert_int_equal(r.decision[4], 1);
    assert_int_equal(r.decision[5], 0);
    assert_int_equal(r.confusion.fp, 1);
    assert_close(r.proc_auc.value, 1.0, 1e-15, "perfect fold 0");
    qr_eval_result_free(&r);
}

/* An even number of members: "more than half" (evaluation.h) - one vote of two is not a rim+ call.
 * The case must hold such split votes, or the test could not fail. */
static void test_even_members_vote(void **state) {
    (void)state;
    const dataset *d = &g_cases[5];
    double *mp = noisy_members(d, 2, 0.1, 11, 3);
    qr_eval_input in = case_input(d, 2, mp, 0);
    qr_eval_result r;
    assert_int_equal(qr_evaluate(&in, &r, NULL), QR_OK);
    int split = 0;
    for (int64_t k = 0; k < d->n; k++) {
        int votes = 0;
        for (int m = 0; m < 2; m++) votes += mp[k * 2 + m] >= r.folds[d->fold[k]].threshold_f1[m];
        split += votes == 1;
        assert_int_equal(r.decision[k], votes == 2);
    }
    assert_true(split > 0);
    qr_eval_result_free(&r);
    free(mp);
}

/* The bootstrap interval is the 2.5th and 97.5th percentile (numpy's linear interpolation) of the
 * metric over B subject resamples: with fixed thresholds the accuracy of each resample is
 * recomputed here from the definition, on the same draws (stream 0xB007 of the seed). */
static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double np_percentile_sorted(const double *v, int n, double q) {
    double pos = q / 100.0 * (n - 1);
    int lo = (int)floor(pos);
    return lo >= n - 1 ? v[n - 1] : v[lo] + (v[lo + 1] - v[lo]) * (pos - lo);
}
static void test_bootstrap_percentiles(void **state) {
    (void)state;
    const dataset *d = &g_cases[0];
    enum { B = 400, S = 40 };
    qr_eval_input in = case_input(d, 1, d->s, B);
    in.seed = 3;
    in.fixed_thresholds = 1;
    in.threshold_f1 = 0.5;
    in.threshold_sensitive = 0.5;
    qr_eval_result r;
    assert_int_equal(qr_evaluate(&in, &r, NULL), QR_OK);
    double acc[B], w[S];
    qr_rng rng;
    qr_rng_seed(&rng, 3, 0xB007);
    for (int b = 0; b < B; b++) {
        for (int s = 0; s < S; s++) w[s] = 0;
        for (int s = 0; s < S; s++) w[qr_rng_below(&rng, S)] += 1;
        double right = 0, all = 0;
        for (int k = 0; k < d->n; k++) {
            right += w[d->subject[k]] * ((d->s[k] >= 0.5) == d->y[k]);
            all += w[d->subject[k]];
        }
        acc[b] = right / all;
    }
    qsort(acc, B, sizeof *acc, cmp_dbl);
    assert_true(acc[0] < acc[B - 1]);
    assert_close(r.accuracy.lo, np_percentile_sorted(acc, B, 2.5), 1e-12, "accuracy CI low");
    assert_close(r.accuracy.hi, np_percentile_sorted(acc, B, 97.5), 1e-12, "accuracy CI high");
    qr_eval_result_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roc_curve_points),
        cmocka_unit_test(test_pr_curve_points),
        cmocka_unit_test(test_auc_scores),
        cmocka_unit_test(test_thresholds_and_confusion),
        cmocka_unit_test(test_correlation_and_percentiles),
        cmocka_unit_test(test_mean_curve_hand_worked),
        cmocka_unit_test(test_cross_validated_evaluation),
        cmocka_unit_test(test_members_and_bootstrap),
        cmocka_unit_test(test_even_members_vote),
        cmocka_unit_test(test_bootstrap_percentiles),
        cmocka_unit_test(test_operating_points_hand_worked),
        cmocka_unit_test(test_review_holds_every_call),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
