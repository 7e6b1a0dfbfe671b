/*
 * test_eval_nomem.c - the evaluation's metrics when memory runs out, one allocation at a time.
 *
 * Every allocation the library makes goes through counting wrappers (alloc_faults.h) that can
 * make the k-th one fail. A cross-validated evaluation (6 subjects, 3 folds, 2 seeds, 30 bootstrap
 * resamples: curves, thresholds, confusion counts, intervals, subject counts) is computed once
 * without failures and then once for each allocation failing in turn: each run must end in
 * QR_ERR_NOMEM with a message, or succeed with exactly the same metrics.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_faults.h"
#include "core/rng.h"
#include "eval/evaluation.h"

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

static void test_evaluate_every_allocation_failing(void **state) {
    (void)state;
    int subject[N], fold[N], label[N];
    double prob[N * MEMBERS];
    qr_rng rng;
    qr_rng_seed(&rng, 5, 1);
    for (int i = 0; i < N; i++) {
        subject[i] = i % 6;
        fold[i] = subject[i] % 3;
        label[i] = i % 5 == 0;
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
        if (s == QR_OK) {
            if (!same_metrics(&want, &got)) {
                printf("allocation %ld failing changed the metrics and reported success\n", k);
                bad++;
            }
            qr_eval_result_free(&got);
            if (made <= k) break;
        } else if (s != QR_ERR_NOMEM || !qr_last_error()[0]) {
            printf("allocation %ld failing gave status %s (%s), not out-of-memory\n", k, qr_status_name(s), qr_last_error());
            bad++;
        } else {
            nomem++;
        }
    }
    printf("evaluation: %ld allocations failing in turn: %ld out-of-memory, %ld mishandled\n", k, nomem, bad);
    assert_int_equal(bad, 0);
    assert_true(nomem > 20);
    qr_eval_result_free(&want);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_evaluate_every_allocation_failing)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
