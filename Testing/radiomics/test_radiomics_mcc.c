/*
 * test_radiomics_mcc.c - the eigenvalue behind GLCM MCC, against numpy (as PyRadiomics computes
 * it: numpy.linalg.eigvals of Q, Testing/radiomics/mcc_numpy.py), for co-occurrence matrices of up
 * to and beyond RX_MCC_GENERAL_MAX gray levels: symmetric and not, connected or in two parts
 * (second eigenvalue exactly 1), nearly in two parts, with levels absent at this angle. And the
 * symmetric eigenvalue routine against a closed form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "radiomics/rx_internal.h"

typedef struct mcase {
    const char *what;
    int n;
    double *P; /* counts, n x n */
} mcase;

enum { NCASES = 9 + 13 };
static mcase g_cases[NCASES];
static double g_ref[NCASES][2];

static uint64_t g_state = 0x9e3779b97f4a7c15ull;
static uint32_t next_u32(void) { /* xorshift64* */
    g_state ^= g_state >> 12;
    g_state ^= g_state << 25;
    g_state ^= g_state >> 27;
    return (uint32_t)((g_state * 0x2545f4914f6cdd1dull) >> 32);
}

/* counts between levels at most `band` apart (a smooth region), plus `extra` random pairs per
 * level; symmetric when asked (P + P^T, as symmetricalGLCM) */
static mcase make(const char *what, int n, int band, int extra, int symmetric) {
    mcase c = {what, n, calloc((size_t)n * n, sizeof(double))};
    for (int i = 0; i < n; i++) {
        for (int d = -band; d <= band; d++)
            if (i + d >= 0 && i + d < n && next_u32() % 3) c.P[i * n + i + d] += 1 + next_u32() % 9;
        for (int t = 0; t < extra; t++) c.P[i * n + next_u32() % n] += 1 + next_u32() % 3;
    }
    if (symmetric)
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) c.P[i * n + j] = c.P[j * n + i] = c.P[i * n + j] + c.P[j * n + i];
    return c;
}

static void cut(mcase *c, int at, double keep) { /* pairs across level `at` removed but `keep` */
    const int n = c->n;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if ((i < at) != (j < at)) c->P[i * n + j] = 0;
    c->P[(at - 1) * n + at] = c->P[at * n + at - 1] = keep;
}

static int setup(void **state) {
    (void)state;
    g_cases[0] = make("60 levels, symmetric (numpy's algorithm)", 60, 3, 1, 1);
    g_cases[1] = make("129 levels, symmetric", 129, 3, 1, 1);
    g_cases[2] = make("300 levels, not symmetric", 300, 2, 3, 0);
    g_cases[3] = make("200 levels in two parts", 200, 2, 0, 1);
    cut(&g_cases[3], 90, 0);
    g_cases[4] = make("150 levels joined by one pair", 150, 2, 0, 1);
    cut(&g_cases[4], 70, 1);
    g_cases[5] = make("400 levels, 40 of them without pairs at this angle", 400, 4, 2, 1);
    for (int i = 0; i < 400; i += 10)
        for (int j = 0; j < 400; j++) g_cases[5].P[i * 400 + j] = g_cases[5].P[j * 400 + i] = 0;
    g_cases[6] = make("700 levels, sparse", 700, 1, 1, 1);
    g_cases[7] = make("100 levels in two parts (numpy's algorithm)", 100, 2, 0, 1);
    cut(&g_cases[7], 40, 0);
    g_cases[8] = make("100 levels in 20 parts (numpy's algorithm)", 100, 2, 0, 1);
    for (int at = 5; at < 100; at += 5) cut(&g_cases[8], at, 0);
    /* a 5 x 5 x 4 region whose 100 voxels all have different levels (a small lesion of wide
     * range), at each of the 13 angles: P is a union of short chains, Q has many eigenvalues 1
     * and 0 (the plain Francis double shift cycled on three of them: MCC came out NaN) */
    int lev[100];
    for (int i = 0; i < 100; i++) lev[i] = i;
    for (int i = 99; i > 0; i--) {
        const int j = (int)(next_u32() % (uint32_t)(i + 1)), t = lev[i];
        lev[i] = lev[j], lev[j] = t;
    }
    for (int a = 0, c = 9; a < 27; a++) {
        const int dx = a % 3 - 1, dy = a / 3 % 3 - 1, dz = a / 9 - 1;
        if (!(dz > 0 || (dz == 0 && (dy > 0 || (dy == 0 && dx > 0))))) continue; /* one of +-d */
        mcase *m = &g_cases[c++];
        *m = (mcase){"100 distinct levels in 5 x 5 x 4 voxels, one angle", 100, calloc(100 * 100, sizeof(double))};
        for (int z = 0; z < 4; z++)
            for (int y = 0; y < 5; y++)
                for (int x = 0; x < 5; x++) {
                    const int X = x + dx, Y = y + dy, Z = z + dz;
                    if (X < 0 || X >= 5 || Y < 0 || Y >= 5 || Z < 0 || Z >= 4) continue;
                    const int i = lev[(z * 5 + y) * 5 + x], j = lev[(Z * 5 + Y) * 5 + X];
                    m->P[i * 100 + j] += 1;
                    m->P[j * 100 + i] += 1;
                }
    }

    char cmd[4096], dir[512], in[600], out[600];
    snprintf(cmd, sizeof cmd, "%s -c 'import numpy' 2>/dev/null", QSMRIM_PYTHON);
    if (system(cmd) != 0) {
        fprintf(stderr, "skipped: %s lacks numpy\n", QSMRIM_PYTHON);
        exit(77);
    }
    snprintf(dir, sizeof dir, "%s/tests/radiomics_mcc_%d", QSMRIM_BINARY_DIR, (int)getpid());
    snprintf(in, sizeof in, "%s/glcm.txt", dir);
    snprintf(out, sizeof out, "%s/numpy.txt", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0) return -1;
    FILE *f = fopen(in, "w");
    if (!f) return -1;
    for (int c = 0; c < NCASES; c++) {
        fprintf(f, "%d\n", g_cases[c].n);
        for (int i = 0; i < g_cases[c].n; i++)
            for (int j = 0; j < g_cases[c].n; j++)
                fprintf(f, "%.0f%c", g_cases[c].P[i * g_cases[c].n + j], j + 1 < g_cases[c].n ? ' ' : '\n');
    }
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s %s/Testing/radiomics/mcc_numpy.py %s %s", QSMRIM_PYTHON, QSMRIM_SOURCE_DIR, in, out);
    if (system(cmd) != 0) return -1;
    f = fopen(out, "r");
    if (!f) return -1;
    for (int c = 0; c < NCASES; c++)
        if (fscanf(f, "%lf %lf", &g_ref[c][0], &g_ref[c][1]) != 2) return -1;
    fclose(f);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    for (int c = 0; c < NCASES; c++) free(g_cases[c].P);
    return 0;
}

/* Every case: the second eigenvalue within 1e-9 of numpy's (the eigenvalues lie in [0, 1]). */
static void test_against_numpy(void **state) {
    (void)state;
    for (int c = 0; c < NCASES; c++) {
        const int n = g_cases[c].n;
        double *p = malloc(sizeof *p * (size_t)n * n), *px = calloc((size_t)n * 2, sizeof *px), *py = px + n;
        double *q = malloc(sizeof *q * ((size_t)n * n + 1)), *wr = malloc(sizeof *wr * ((size_t)n * 2 + 2));
        double tot = 0, re = NAN, im = NAN;
        for (int e = 0; e < n * n; e++) tot += g_cases[c].P[e];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                p[i * n + j] = g_cases[c].P[i * n + j] / tot;
                px[i] += p[i * n + j];
                py[j] += p[i * n + j];
            }
        const int rc = rx_mcc_eigenvalue(p, px, py, n, q, wr, wr + n + 1, &re, &im);
        print_message("%-52s numpy %.17g%+.3gi, qsmrim %.17g (rc %d)\n", g_cases[c].what, g_ref[c][0], g_ref[c][1],
                      re, rc);
        assert_true(rc == 0 || rc == 1);
        if (n > RX_MCC_GENERAL_MAX) assert_int_equal(rc, 0); /* always real there */
        if (!(fabs(re - g_ref[c][0]) <= 1e-9)) fail_msg("%s: %.17g, numpy %.17g", g_cases[c].what, re, g_ref[c][0]);
        assert_true(fabs(im) <= 1e-9);
        free(p), free(px), free(q), free(wr);
    }
    assert_true(fabs(g_ref[3][0] - 1) < 1e-9); /* the reference itself: two parts give 1 */
}

/* T = tridiag(-1, 2, -1) has eigenvalues 2 - 2 cos(k pi / (n + 1)); H T H with a Householder
 * reflection H is dense with the same spectrum. Every k, to 1e-12. */
static void test_symmetric_closed_form(void **state) {
    (void)state;
    const int n = 57;
    double *a = calloc((size_t)n * n, sizeof *a), *b = malloc(sizeof *b * (size_t)n * n), u[57], uu = 0;
    for (int i = 0; i < n; i++) {
        a[i * n + i] = 2;
        if (i + 1 < n) a[i * n + i + 1] = a[(i + 1) * n + i] = -1;
        u[i] = 1.0 + (next_u32() % 1000) / 250.0;
        uu += u[i] * u[i];
    }
    /* H T H = T - u w^T - w u^T with w = (2/uu) T u - (2/uu)^2 (u^T T u / 2) u */
    double tu[57], utu = 0, w[57];
    for (int i = 0; i < n; i++) {
        tu[i] = 0;
        for (int j = 0; j < n; j++) tu[i] += a[i * n + j] * u[j];
        utu += u[i] * tu[i];
    }
    for (int i = 0; i < n; i++) w[i] = 2 / uu * tu[i] - 2 / uu * 2 / uu * utu / 2 * u[i];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) a[i * n + j] -= u[i] * w[j] + w[i] * u[j];
    double off = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 2; j < n; j++) off = fmax(off, fabs(a[i * n + j]));
    assert_true(off > 0.01); /* dense indeed */
    for (int k = 0; k < n; k++) {
        memcpy(b, a, sizeof *b * (size_t)n * n);
        double got = NAN;
        assert_int_equal(rx_eigenvalue_symmetric(b, n, k, &got), 0);
        const double want = 2 - 2 * cos((k + 1) * M_PI / (n + 1));
        if (!(fabs(got - want) <= 1e-12)) fail_msg("eigenvalue %d: %.17g, closed form %.17g", k, got, want);
    }
    double x;
    assert_int_equal(rx_eigenvalue_symmetric(b, n, n, &x), -1);
    free(a), free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_numpy),
        cmocka_unit_test(test_symmetric_closed_form),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
