/*
 * test_eval_nomem.c - the evaluation's metrics when memory runs out, one allocation at a time.
 *
 * Every allocation the library makes goes through counting wrappers (alloc_faults.h) that can
 * make the k-th one fail. A cross-validated evaluation (6 subjects, 3 folds, 2 seeds, 30 bootstrap
 * resamples: curves, thresholds, confusion counts, intervals, subject counts) is computed once
 * without failures and then once for each allocation failing in turn: each run must end in
 * QR_ERR_NOMEM with a message, or succeed with exactly the same metrics. The report's files
 * (metrics.json, predictions.tsv, decisions.tsv, summary.tsv, the three plots, report.html) are
 * written the same way: a write that fails leaves no file, one that succeeds the same bytes.
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

#include "alloc_faults.h"
#include "core/fileutil.h"
#include "core/rng.h"
#include "eval/evaluation.h"
#include "eval/plots.h"
#include "eval/report.h"

enum { N = 72, MEMBERS = 2 };

static int same_metrics(const qr_eval_result *a, const qr_eval_result *b) {
    const char *na[QR_CI_COUNT], *nb[QR_CI_COUNT];
    const qr_ci_value *va[QR_CI_COUNT], *vb[QR_CI_COUNT];
    qr_eval_ci_list(a, na, va);
    qr_eval_ci_list(b, nb, vb);
    for (int i = 0; i < QR_CI_COUNT; i++)
        if (memcmp(va[i], vb[i], sizeof *va[i]) != 0) return 0;
    return memcmp(&a->confusion, &b->confusion, sizeof a->confusion) == 0 && a->n_review == b->n_review &&
           memcmp(a->prob, b->prob, N * sizeof *a->prob) == 0 && memcmp(a->decision, b->decision, N * sizeof(int)) == 0 &&
           a->roc_mean.n == b->roc_mean.n && a->pr_mean.n == b->pr_mean.n;
}

static int subject[N], fold[N], label[N], lesion_id[N];
static double prob[N * MEMBERS];

static qr_eval_input make_input(void) {
    qr_rng rng;
    qr_rng_seed(&rng, 5, 1);
    for (int i = 0; i < N; i++) {
        subject[i] = i % 6;
        fold[i] = subject[i] % 3;
        label[i] = i % 5 == 0;
        lesion_id[i] = i + 1;
        for (int m = 0; m < MEMBERS; m++) prob[i * MEMBERS + m] = 1 / (1 + exp(-(2.0 * label[i] - 1 + qr_rng_normal(&rng))));
    }
    qr_eval_input in = qr_eval_input_default();
    in.n = N;
    in.nsubjects = 6;
    in.nfolds = 3;
    in.nmembers = MEMBERS;
    in.subject = subject;
    in.fold = fold;
    in.label = label;
    in.member_prob = prob;
    in.bootstrap = 30;
    in.seed = 9;
    return in;
}

static void test_evaluate_every_allocation_failing(void **state) {
    (void)state;
    const qr_eval_input in = make_input();
    qr_eval_result want, got;
    alloc_faults_fail_at(-1);
    assert_int_equal(qr_evaluate(&in, &want, NULL), QR_OK);
    long k = 0, nomem = 0, bad = 0;
    for (;; k++) {
        alloc_faults_fail_at(k);
        qr_clear_error();
        const qr_status s = qr_evaluate(&in, &got, NULL);
        const long made = alloc_faults_count();
        alloc_faults_fail_at(-1);
        alloc_faults_judge(k, s, s == QR_OK && same_metrics(&want, &got), &nomem, &bad);
        if (s == QR_OK) qr_eval_result_free(&got);
        if (s == QR_OK && made <= k) break;
    }
    printf("evaluation: %ld allocations failing in turn: %ld out-of-memory, %ld mishandled\n", k, nomem, bad);
    assert_int_equal(bad, 0);
    assert_true(nomem > 20);
    qr_eval_result_free(&want);
}

enum { NFILES = 8 };
static const char *const FILES[NFILES] = {"metrics.json", "predictions.tsv", "decisions.tsv", "summary.tsv",
                                          "roc.png", "pr.png", "counts.png", "report.html"};

/* Write the report's files into dir in FILES' order; *step: the one that failed (the last one
 * written when all succeed). */
static qr_status write_report(const char *dir, const qr_eval_input *in, const qr_eval_result *r, int *step) {
    static const char *const names[6] = {"sub-0", "sub-1", "sub-2", "sub-3", "sub-4", "sub-5"};
    char p[NFILES][512];
    for (int f = 0; f < NFILES; f++) snprintf(p[f], sizeof p[f], "%s/%s", dir, FILES[f]);
    qr_report_info info = {0};
    info.method = "qsmrimnet";
    info.description = "test";
    info.nfolds = 3;
    info.nseeds = MEMBERS;
    info.bootstrap = 30;
    const qr_summary_row row = qr_summary_of(r, &info);
    qr_report_section sec;
    memset(&sec, 0, sizeof sec);
    sec.row = row;
    sec.result = r;
    sec.info = &info;
    sec.roc_png = p[4];
    sec.pr_png = p[5];
    sec.counts_png = p[6];
    qr_status s = QR_OK;
    for (*step = 0; *step < NFILES && s == QR_OK; (*step)++) {
        switch (*step) {
        case 0: s = qr_report_write_metrics_json(p[0], r, &info); break;
        case 1: s = qr_report_write_predictions(p[1], in, r, names, lesion_id); break;
        case 2: s = qr_report_write_decisions(p[2], in, r, names, lesion_id); break;
        case 3: s = qr_report_write_summary(p[3], &row); break;
        case 4: s = qr_plot_roc(p[4], r, 0.1, "ROC"); break;
        case 5: s = qr_plot_pr(p[5], r, "PR"); break;
        case 6: s = qr_plot_counts(p[6], r, "counts"); break;
        default: s = qr_report_write_html(p[7], "qsmrim evaluation", &sec, 1); break;
        }
    }
    (*step)--;
    return s;
}

static long read_file(const char *path, char **out) {
    FILE *f = fopen(path, "rb");
    *out = NULL;
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    rewind(f);
    *out = malloc((size_t)n + 1);
    const size_t got = *out ? fread(*out, 1, (size_t)n, f) : 0;
    fclose(f);
    return got == (size_t)n ? n : -2;
}

static void test_report_every_allocation_failing(void **state) {
    (void)state;
    const qr_eval_input in = make_input();
    qr_eval_result r;
    alloc_faults_fail_at(-1);
    assert_int_equal(qr_evaluate(&in, &r, NULL), QR_OK);
    char ref[256], dir[256], path[600], rpath[600];
    snprintf(ref, sizeof ref, "%s/tests/eval_nomem_ref_%d", QSMRIM_BINARY_DIR, (int)getpid());
    snprintf(dir, sizeof dir, "%s/tests/eval_nomem_%d", QSMRIM_BINARY_DIR, (int)getpid());
    assert_int_equal(qr_mkdir_p(ref), QR_OK);
    assert_int_equal(qr_mkdir_p(dir), QR_OK);
    int step;
    assert_int_equal(write_report(ref, &in, &r, &step), QR_OK);
    long k = 0, nomem = 0, bad = 0;
    for (;; k++) {
        for (int f = 0; f < NFILES; f++) {
            snprintf(path, sizeof path, "%s/%s", dir, FILES[f]);
            unlink(path);
        }
        alloc_faults_fail_at(k);
        qr_clear_error();
        const qr_status s = write_report(dir, &in, &r, &step);
        const long made = alloc_faults_count();
        alloc_faults_fail_at(-1);
        if (s != QR_OK && (s != QR_ERR_NOMEM || !qr_last_error()[0])) {
            printf("allocation %ld failing (%s) gave status %s (%s), not out-of-memory\n", k, FILES[step],
                   qr_status_name(s), qr_last_error());
            bad++;
        }
        if (s == QR_ERR_NOMEM) nomem++;
        /* the files written are the clean run's bytes; the one that failed is not there */
        for (int f = 0; f < (s == QR_OK ? NFILES : step + 1); f++) {
            snprintf(path, sizeof path, "%s/%s", dir, FILES[f]);
            snprintf(rpath, sizeof rpath, "%s/%s", ref, FILES[f]);
            char *a, *b;
            const long na = read_file(path, &a), nb = read_file(rpath, &b);
            const int ok = s != QR_OK && f == step ? na == -1 : na >= 0 && na == nb && memcmp(a, b, (size_t)nb) == 0;
            if (!ok) {
                printf("allocation %ld failing: %s %s\n", k, FILES[f], f == step && s != QR_OK ? "left behind" : "differs");
                bad++;
            }
            free(a);
            free(b);
        }
        if (s == QR_OK && made <= k) break;
    }
    /* (the text escapers fall back to the text as given when its UTF-8 clean copy cannot be made:
     * the same bytes for the valid UTF-8 written here) */
    printf("report files: %ld allocations failing in turn: %ld out-of-memory, %ld worked around, %ld mishandled\n", k,
           nomem, k - nomem, bad);
    assert_int_equal(bad, 0);
    assert_true(k > 10);
    qr_eval_result_free(&r);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", ref, dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_evaluate_every_allocation_failing),
                                       cmocka_unit_test(test_report_every_allocation_failing)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
