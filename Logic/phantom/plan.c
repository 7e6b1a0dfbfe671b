/*
 * plan.c - how many lesions, and how many rim+ lesions, each subject of a cohort gets.
 *
 * Drawn from (seed, stream 0):
 *   n_s ~ NegBin(mean m, dispersion PH_LESIONS_NB_R) as Poisson(Gamma),  m = 4163 / 172 = 24.2,
 *         clipped to [PH_LESIONS_MIN, PH_LESIONS_MAX]
 *   r_s ~ Poisson(lambda_s), lambda_s ~ Gamma(k, (q n_s / m) / k),  q = 177 / 172, k = PH_RIMPOS_GAMMA_K
 *         (a subject's rim+ propensity varies a lot between subjects: many have none, a few many),
 *         clipped to PH_RIMPOS_MAX_SHARE n_s and PH_RIMPOS_MAX
 * then adjusted one unit at a time so that the totals are exactly the paper's rates scaled to the
 * cohort: sum r_s = round(N 177/172), sum n_s = round(N 4163/172) (for N = 172: 177 and 4163).
 * Adding rim+ favours subjects that already have some (keeps the skew); removing takes from
 * subjects in proportion to their count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phantom_internal.h"

static int64_t sum_int(const int *a, int n) {
    int64_t s = 0;
    for (int i = 0; i < n; i++) s += a[i];
    return s;
}

/* Pick an index with probability proportional to w[i] (all w >= 0, some > 0). */
static int pick_weighted(qr_rng *r, const double *w, int n) {
    double tot = 0;
    for (int i = 0; i < n; i++) tot += w[i];
    double u = qr_rng_uniform(r) * tot, acc = 0;
    int last = -1;
    for (int i = 0; i < n; i++) {
        if (w[i] <= 0) continue;
        last = i;
        acc += w[i];
        if (u < acc) return i;
    }
    return last;
}

static int max_rimpos(int n_lesions) {
    int m = (int)floor(PH_RIMPOS_MAX_SHARE * n_lesions);
    return m < PH_RIMPOS_MAX ? m : PH_RIMPOS_MAX;
}
static int min_lesions(int n_rimpos) {
    int n = (int)ceil(n_rimpos / PH_RIMPOS_MAX_SHARE);
    return n < PH_LESIONS_MIN ? PH_LESIONS_MIN : n;
}

qr_status qr_phantom_plan_cohort(uint64_t seed, int n_subjects, qr_phantom_plan *plan) {
    memset(plan, 0, sizeof *plan);
    if (n_subjects < 1) return qr_fail(QR_ERR_INVALID_ARG, "a cohort needs at least one subject (got %d)", n_subjects);
    const int N = n_subjects;
    plan->n_subjects = N;
    plan->n_lesions = calloc((size_t)N, sizeof(int));
    plan->n_rimpos = calloc((size_t)N, sizeof(int));
    double *w = calloc((size_t)N, sizeof(double));
    if (!plan->n_lesions || !plan->n_rimpos || !w) {
        free(w);
        qr_phantom_plan_free(plan);
        return qr_fail(QR_ERR_NOMEM, "cohort plan: out of memory");
    }
    qr_rng r;
    qr_rng_seed(&r, seed, 0);
    const double m = (double)PH_PAPER_LESIONS / PH_PAPER_SUBJECTS, q = (double)PH_PAPER_RIMPOS / PH_PAPER_SUBJECTS;
    int *n = plan->n_lesions, *rp = plan->n_rimpos;
    for (int s = 0; s < N; s++) {
        double lam = ph_gamma(&r, PH_LESIONS_NB_R) * m / PH_LESIONS_NB_R;
        n[s] = (int)ph_clamp(ph_poisson(&r, lam), PH_LESIONS_MIN, PH_LESIONS_MAX);
        double lr = ph_gamma(&r, PH_RIMPOS_GAMMA_K) * (q * n[s] / m) / PH_RIMPOS_GAMMA_K;
        rp[s] = ph_poisson(&r, lr);
        if (rp[s] > max_rimpos(n[s])) rp[s] = max_rimpos(n[s]);
    }
    const int64_t L = (int64_t)floor((double)N * PH_PAPER_LESIONS / PH_PAPER_SUBJECTS + 0.5);
    const int64_t R = (int64_t)floor((double)N * PH_PAPER_RIMPOS / PH_PAPER_SUBJECTS + 0.5);
    /* rim+ total (room is made by raising n_s below if needed) */
    while (sum_int(rp, N) < R) {
        for (int s = 0; s < N; s++) w[s] = rp[s] < max_rimpos(PH_LESIONS_MAX) ? rp[s] + 0.3 : 0;
        int s = pick_weighted(&r, w, N);
        if (s < 0) break;
        rp[s]++;
        if (n[s] < min_lesions(rp[s])) n[s] = min_lesions(rp[s]);
    }
    while (sum_int(rp, N) > R) {
        for (int s = 0; s < N; s++) w[s] = rp[s];
        rp[pick_weighted(&r, w, N)]--;
    }
    /* lesion total */
    while (sum_int(n, N) < L) {
        for (int s = 0; s < N; s++) w[s] = n[s] < PH_LESIONS_MAX ? 1 : 0;
        int s = pick_weighted(&r, w, N);
        if (s < 0) break;
        n[s]++;
    }
    while (sum_int(n, N) > L) {
        for (int s = 0; s < N; s++) w[s] = n[s] > min_lesions(rp[s]) ? 1 : 0;
        int s = pick_weighted(&r, w, N);
        if (s < 0) break;
        n[s]--;
    }
    free(w);
    return QR_OK;
}

void qr_phantom_plan_free(qr_phantom_plan *plan) {
    if (!plan) return;
    free(plan->n_lesions);
    free(plan->n_rimpos);
    memset(plan, 0, sizeof *plan);
}
