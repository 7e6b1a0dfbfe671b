/*
 * mini_dataset.h - the fixture of the dataset and learner tests: a tiny annotated cohort
 * (mini_cohort.c: 8 subjects, seed 11) loaded with every input (crops, context windows, radiomic
 * features) into g_ds, twice - the second load must come entirely from the feature cache with the
 * same values. cmocka group setup/teardown; include once per test program.
 */
#ifndef QR_TEST_MINI_DATASET_H
#define QR_TEST_MINI_DATASET_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/cohort.h"
#include "train/dataset.h"

static char g_dir[512];
static qr_dataset g_ds;

static int setup(void **state) {
    (void)state;
    /* a private folder in TMPDIR, and the cohort maker named by the test's environment (ctest
     * sets it; the GPU kit rewrites it to its own copy), so the test runs outside the build tree */
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/qsmrim-learner-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) return -1;
    const char *maker = getenv("QSMRIM_MINI_COHORT");
    char fallback[1024];
    snprintf(fallback, sizeof fallback, "%s/tests/qsmrim_mini_cohort", QSMRIM_BINARY_DIR);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' '%s/c' 8 11", maker && *maker ? maker : fallback, g_dir);
    if (system(cmd) != 0) return -1;
    char man[1024], cache[1024];
    snprintf(man, sizeof man, "%s/c/cohort.tsv", g_dir);
    snprintf(cache, sizeof cache, "%s/cache", g_dir);
    qr_cohort c;
    if (qr_cohort_read(man, &c) != QR_OK) return -1;
    qr_dataset_options o = {1, 1, 1, NULL, cache, 2};
    qr_status st = qr_dataset_load(&c, &o, &g_ds, NULL, NULL, NULL);
    qr_cohort_free(&c);
    if (st != QR_OK) {
        fprintf(stderr, "%s\n", qr_last_error());
        return -1;
    }
    /* a second load comes from the cache */
    qr_dataset again;
    if (qr_cohort_read(man, &c) != QR_OK) return -1;
    st = qr_dataset_load(&c, &o, &again, NULL, NULL, NULL);
    qr_cohort_free(&c);
    if (st != QR_OK || again.n_cached != again.nsubjects || again.n != g_ds.n) return -1;
    int same = memcmp(again.features, g_ds.features, (size_t)g_ds.n * (size_t)g_ds.nfeatures * sizeof(double)) == 0;
    for (int64_t i = 0; i < g_ds.n * g_ds.nfeatures && !same; i++)
        same = isnan(again.features[i]) && isnan(g_ds.features[i]);
    qr_dataset_free(&again);
    return same ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    qr_dataset_free(&g_ds);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
