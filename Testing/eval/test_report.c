/*
 * test_report.c - the report folder's files.
 *   - metrics.json parses (Python's json) and holds every key of the documented interface, with the values
 *     of the evaluation (NaN as null);
 *   - predictions.tsv has exactly the contract's header and one row per lesion; decisions.tsv the
 *     calls (decision, review) and each member's probability;
 *   - summary.tsv reads back to the same numbers;
 *   - the three PNGs are PNG images of the drawn size; report.html embeds them, shows Table 2 and
 *     Table 3 rows with the paper's values, and is well-formed enough for xmllint --html;
 *   - the commands' one-line summary of the metrics.
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
#include "eval/evaluation.h"
#include "eval/plots.h"
#include "eval/report.h"

#define N 900
#define S 60

static char g_dir[512];

static int file_contains(const char *path, const char *needle) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = 0;
    fclose(f);
    int hit = strstr(buf, needle) != NULL;
    free(buf);
    return hit;
}

static void test_report_files(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/tests/report_%d", QSMRIM_BINARY_DIR, (int)getpid());
    char cmd[8192], p[1024];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", g_dir, g_dir);
    assert_int_equal(system(cmd), 0);

    static int subject[N], fold[N], label[N], sfold[S];
    static int32_t lid[N];
    static double prob[N * 3];
    qr_rng r;
    qr_rng_seed(&r, 21, 0);
    for (int s = 0; s < S; s++) sfold[s] = s % 5;
    for (int i = 0; i < N; i++) {
        subject[i] = (int)qr_rng_below(&r, S);
        fold[i] = sfold[subject[i]];
        label[i] = qr_rng_uniform(&r) < 0.08;
        lid[i] = i + 1;
        for (int m = 0; m < 3; m++) {
            double z = 2.2 * label[i] - 1.5 + qr_rng_normal(&r);
            prob[i * 3 + m] = 1 / (1 + exp(-z));
        }
    }
    qr_eval_input in = qr_eval_input_default();
    in.n = N;
    in.nsubjects = S;
    in.nfolds = 5;
    in.nmembers = 3;
    in.subject = subject;
    in.fold = fold;
    in.label = label;
    in.member_prob = prob;
    in.bootstrap = 100;
    in.seed = 3;
    qr_eval_result res;
    assert_int_equal(qr_evaluate(&in, &res, NULL), QR_OK);
    qr_report_info info = {0};
    info.method = "qsmrimnet";
    info.description = "test \"model\" <width 8>";
    info.data_note = "synthetic scores";
    info.command = "qsmrim evaluate --manifest x.tsv";
    info.nfolds = 5;
    info.nseeds = 3;
    info.bootstrap = 100;
    info.seconds = 12;

    char json[1100], pred[1100], decs[1100], sum[1100], roc[1100], pr[1100], cnt[1100], html[1100];
    snprintf(json, sizeof json, "%s/metrics.json", g_dir);
    snprintf(pred, sizeof pred, "%s/predictions.tsv", g_dir);
    snprintf(decs, sizeof decs, "%s/decisions.tsv", g_dir);
    snprintf(sum, sizeof sum, "%s/summary.tsv", g_dir);
    snprintf(roc, sizeof roc, "%s/roc.png", g_dir);
    snprintf(pr, sizeof pr, "%s/pr.png", g_dir);
    snprintf(cnt, sizeof cnt, "%s/counts.png", g_dir);
    snprintf(html, sizeof html, "%s/report.html", g_dir);
    assert_int_equal(qr_report_write_metrics_json(json, &res, &info), QR_OK);
    char names_buf[S][16];
    const char *names[S];
    for (int s = 0; s < S; s++) {
        snprintf(names_buf[s], sizeof names_buf[s], "sub-%03d", s);
        names[s] = names_buf[s];
    }
    assert_int_equal(qr_report_write_predictions(pred, &in, &res, names, lid), QR_OK);
    assert_int_equal(qr_report_write_decisions(decs, &in, &res, names, lid), QR_OK);
    qr_summary_row row = qr_summary_of(&res, &info), back;
    assert_int_equal(qr_report_write_summary(sum, &row), QR_OK);
    qr_status rs = qr_report_read_summary(sum, &back);
    if (rs != QR_OK) print_error("%s\n", qr_last_error());
    assert_int_equal(rs, QR_OK);
    assert_string_equal(back.method, "qsmrimnet");
    for (int c = 0; c < QR_SUM_COUNT; c++) {
        assert_true(back.value[c] == row.value[c] || (isnan(back.value[c]) && isnan(row.value[c])));
        assert_true(back.lo[c] == row.lo[c] || (isnan(back.lo[c]) && isnan(row.lo[c])));
    }
    assert_true(back.tp == res.confusion.tp && back.tn == res.confusion.tn);
    assert_int_equal(back.n_lesions, N);
    /* a count that is not a whole number (a damaged or hand-edited summary) is refused, naming it
     * (a NaN count was converted to an integer: undefined behaviour, found by Testing/fuzz) */
    {
        const char *bad[] = {"nan", "-3", "1e300", "2.5"};
        for (int b = 0; b < 4; b++) {
            FILE *f = fopen(sum, "rb");
            char text[8192];
            size_t len = fread(text, 1, sizeof text - 1, f);
            fclose(f);
            text[len] = '\0';
            char *row2 = strchr(text, '\n') + 1, *cell = row2; /* the fourth cell: n_subjects */
            for (int k = 0; k < 3; k++) cell = strchr(cell, '\t') + 1;
            char edited[8300];
            snprintf(edited, sizeof edited, "%.*s%s%s", (int)(cell - text), text, bad[b], strchr(cell, '\t'));
            char badsum[1100];
            snprintf(badsum, sizeof badsum, "%s/summary-bad.tsv", g_dir);
            f = fopen(badsum, "wb");
            fputs(edited, f);
            fclose(f);
            char want[64];
            snprintf(want, sizeof want, "n_subjects is '%s', not a count", bad[b]);
            qr_summary_row junk;
            assert_int_equal(qr_report_read_summary(badsum, &junk), QR_ERR_FORMAT);
            if (!strstr(qr_last_error(), want)) fail_msg("%s: %s", bad[b], qr_last_error());
        }
    }

    assert_int_equal(qr_plot_roc(roc, &res, 0.1, "ROC"), QR_OK);
    assert_int_equal(qr_plot_pr(pr, &res, "PR"), QR_OK);
    assert_int_equal(qr_plot_counts(cnt, &res, "counts"), QR_OK);
    qr_report_section sec[2];
    memset(sec, 0, sizeof sec);
    sec[0].row = row;
    sec[0].result = &res;
    sec[0].info = &info;
    sec[0].roc_png = roc;
    sec[0].pr_png = pr;
    sec[0].counts_png = cnt;
    sec[1].row = row;
    snprintf(sec[1].row.method, sizeof sec[1].row.method, "ablation-radiomics");
    assert_int_equal(qr_report_write_html(html, "qsmrim evaluation", sec, 2), QR_OK);

    /* metrics.json: every contract key, values equal to the evaluation's */
    snprintf(p, sizeof p, "%s/check.py", g_dir);
    FILE *f = fopen(p, "w");
    fprintf(f,
            "import json, math, sys\n"
            "m = json.load(open(sys.argv[1]))\n"
            "keys = ['n_subjects','n_lesions','n_rimpos','proc_auc','proc_auc_normalized','pr_auc','f1','sensitivity',"
            "'specificity','ppv','accuracy','tp','fp','fn','tn','count_r','count_r_ci','count_mse',"
            "'review_fraction_at_high_sensitivity']\n"
            "missing = [k for k in keys if k not in m]\n"
            "assert not missing, missing\n"
            "want = dict(n_subjects=%d, n_lesions=%d, n_rimpos=%lld, tp=%.0f, fp=%.0f, fn=%.0f, tn=%.0f)\n"
            "for k, v in want.items(): assert m[k] == v, (k, m[k], v)\n"
            "assert m['proc_auc'] == float.fromhex('%a'), m['proc_auc']\n"
            "assert m['pr_auc'] == float.fromhex('%a')\n"
            "assert m['f1'] == float.fromhex('%a')\n"
            "assert m['count_r_ci'][0] == float.fromhex('%a') and len(m['count_r_ci']) == 2\n"
            "assert m['review_fraction_at_high_sensitivity'] == float.fromhex('%a')\n"
            "assert len(m['folds']) == 5 and len(m['folds'][0]['threshold_f1']) == 3\n"
            "assert m['description'] == 'test \"model\" <width 8>'\n"
            "lo, hi = m['proc_auc_ci']\n"
            "assert lo <= m['proc_auc'] <= hi\n"
            "import struct\n"
            "for png, w, h in ((sys.argv[2], 900, 460), (sys.argv[3], 520, 460), (sys.argv[4], 520, 480)):\n"
            "    b = open(png, 'rb').read(24)\n"
            "    assert b[:8] == bytes([137,80,78,71,13,10,26,10]), png\n"
            "    assert struct.unpack('>II', b[16:24]) == (w, h), png\n",
            S, N, (long long)res.n_rimpos, res.confusion.tp, res.confusion.fp, res.confusion.fn, res.confusion.tn,
            res.proc_auc.value, res.pr_auc.value, res.f1.value, res.count_r_ci[0], res.review_fraction.value);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s %s %s %s %s %s", QSMRIM_PYTHON, p, json, roc, pr, cnt);
    assert_int_equal(system(cmd), 0);

    /* predictions.tsv: exactly the contract's columns, one row per lesion */
    f = fopen(pred, "r");
    char line[512];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "subject\tlesion_id\tfold\tlabel\tprobability\n");
    int rows = 0;
    while (fgets(line, sizeof line, f)) rows++;
    fclose(f);
    assert_int_equal(rows, N);
    /* decisions.tsv: the calls beside them, row for row */
    f = fopen(decs, "r");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "subject\tlesion_id\tfold\tdecision\treview\tprobability_seed1\tprobability_seed2\t"
                              "probability_seed3\n");
    rows = 0;
    while (fgets(line, sizeof line, f)) {
        char subj[64];
        int lesion, fold, decision, review;
        float p3;
        assert_int_equal(sscanf(line, "%63s %d %d %d %d %*f %*f %f", subj, &lesion, &fold, &decision, &review, &p3), 6);
        assert_int_equal(lesion, lid[rows]);
        assert_int_equal(decision, res.decision[rows]);
        assert_int_equal(review, res.review[rows]);
        assert_true(fabs(p3 - prob[rows * 3 + 2]) < 1e-6);
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, N);

    /* the HTML */
    assert_true(file_contains(html, "data:image/png;base64,iVBORw0KGgo"));
    assert_true(file_contains(html, "Table 2"));
    assert_true(file_contains(html, "Table 3"));
    assert_true(file_contains(html, "<td>0.760</td>")); /* the paper's QSMRim-Net pROC AUC */
    assert_true(file_contains(html, "<td>0.685</td>")); /* the paper's F1 with radiomics, no DeepSMOTE */
    assert_true(file_contains(html, "synthetic scores"));
    assert_true(file_contains(html, "&lt;width 8&gt;"));
    snprintf(cmd, sizeof cmd, "command -v xmllint >/dev/null && xmllint --html --noout %s 2>&1 | grep -q . && exit 1; exit 0", html);
    assert_int_equal(system(cmd), 0);

    qr_eval_result_free(&res);
    if (getenv("QSMRIM_KEEP_TEST_OUTPUT")) return; /* to look at the figures and the page */
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    assert_int_equal(system(cmd), 0);
}

/* A cohort whose rim+ lesions are all in one of 10 subjects: the resamples that miss it have no
 * sensitivity, so its interval comes from fewer resamples than drawn - metrics.json says how many
 * per metric, and the page says it. A note that is not UTF-8 still gives valid JSON. */
static void test_sparse_bootstrap_and_text(void **state) {
    (void)state;
    enum { NS = 10, PER = 10, NL = NS * PER, B = 400 };
    static int subject[NL], fold[NL], label[NL];
    static double prob[NL];
    qr_rng r;
    qr_rng_seed(&r, 11, 0);
    for (int i = 0; i < NL; i++) {
        subject[i] = i / PER;
        fold[i] = subject[i] % 2;
        label[i] = subject[i] == 0 && i % PER < 3;
        prob[i] = 1 / (1 + exp(-(3.0 * label[i] - 1.5 + qr_rng_normal(&r))));
    }
    qr_eval_input in = qr_eval_input_default();
    in.n = NL;
    in.nsubjects = NS;
    in.nfolds = 2;
    in.nmembers = 1;
    in.subject = subject;
    in.fold = fold;
    in.label = label;
    in.member_prob = prob;
    in.bootstrap = B;
    in.seed = 5;
    qr_eval_result res;
    assert_int_equal(qr_evaluate(&in, &res, NULL), QR_OK);
    /* P(subject 0 missing from a resample of 10) = 0.9^10 = 0.35: about 260 of 400 keep it */
    assert_true(res.sensitivity.resamples > 200 && res.sensitivity.resamples < 320);
    assert_int_equal(res.specificity.resamples, B);

    char dir[600], json[700], html[700], cmd[2048];
    snprintf(dir, sizeof dir, "%s/tests/report_sparse_%d", QSMRIM_BINARY_DIR, (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(json, sizeof json, "%s/metrics.json", dir);
    snprintf(html, sizeof html, "%s/report.html", dir);
    qr_report_info info;
    memset(&info, 0, sizeof info);
    info.method = "qsmrimnet";
    info.data_note = "caf\xe9 \xc3\xa9t\xc3\xa9 \xed\xa0\x80 \xf0\x9f\x99\x82"; /* Latin-1, UTF-8, a surrogate, U+1F642 */
    info.bootstrap = B;
    info.seconds = 1;
    assert_int_equal(qr_report_write_metrics_json(json, &res, &info), QR_OK);
    qr_report_section sec;
    memset(&sec, 0, sizeof sec);
    sec.row = qr_summary_of(&res, &info);
    sec.result = &res;
    sec.info = &info;
    assert_int_equal(qr_report_write_html(html, "sparse", &sec, 1), QR_OK);
    char sum[700];
    snprintf(sum, sizeof sum, "%s/summary.tsv", dir);
    assert_int_equal(qr_report_write_summary(sum, &sec.row), QR_OK);
    snprintf(cmd, sizeof cmd, "%s -c \"import sys\nfor p in sys.argv[1:]: open(p, 'rb').read().decode('utf-8')\" %s %s", QSMRIM_PYTHON,
             html, sum);
    assert_int_equal(system(cmd), 0); /* the page and the table are UTF-8 too */
    snprintf(cmd, sizeof cmd,
             "%s -c \"import json, sys\n"
             "m = json.loads(open(sys.argv[1], 'rb').read().decode('utf-8'))\n"
             "assert m['data'] == 'caf\\u00e9 \\u00e9t\\u00e9 \\u00ed\\u00a0\\u0080 \\U0001f642', ascii(m['data'])\n"
             "d = m['bootstrap_defined']\n"
             "assert len(d) == 14 and d['sensitivity'] == %d and d['specificity'] == %d and d['ppv'] <= %d, d\n"
             "\" %s",
             QSMRIM_PYTHON, res.sensitivity.resamples, B, B, json);
    assert_int_equal(system(cmd), 0);
    char needle[128];
    snprintf(needle, sizeof needle, "sensitivity %d", res.sensitivity.resamples);
    assert_true(file_contains(html, "Intervals taken over fewer resamples than the "));
    assert_true(file_contains(html, needle));
    qr_eval_result_free(&res);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* The one-line summary the commands print: undefined metrics read "n/a", not "nan". */
static void test_headline(void **state) {
    (void)state;
    qr_eval_result r;
    memset(&r, 0, sizeof r);
    r.proc_auc.value = 0.8;
    r.pr_auc.value = 0.5312;
    r.f1.value = 0.577;
    r.sensitivity.value = 0.9;
    r.specificity.value = NAN;
    r.ppv.value = 0.25;
    r.count_r.value = NAN;
    r.count_mse.value = 0.5;
    char line[256];
    qr_eval_headline(&r, line, sizeof line);
    assert_string_equal(line, "pROC AUC 0.800, PR AUC 0.531, F1 0.577 (sens 0.900, spec n/a, PPV 0.250), count r n/a, count MSE 0.50");
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_report_files), cmocka_unit_test(test_sparse_bootstrap_and_text),
                                       cmocka_unit_test(test_headline)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
