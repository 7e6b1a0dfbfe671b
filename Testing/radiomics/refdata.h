/* refdata.h - reading PyRadiomics' reference tables and comparing feature vectors with them
 * (shared by the radiomics tests). */
#ifndef RX_TEST_REFDATA_H
#define RX_TEST_REFDATA_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radiomics/radiomics.h"

/* relative tolerance 1e-6, absolute 1e-9 near zero (far tighter than PyRadiomics' own 3 %) */
#define REF_RTOL 1e-6
#define REF_ATOL 1e-9

typedef struct ref_table {
    int n;
    char **name;
    double *value;
} ref_table;

static inline void ref_add(ref_table *t, const char *name, double v) {
    t->name = realloc(t->name, sizeof *t->name * (size_t)(t->n + 1));
    t->value = realloc(t->value, sizeof *t->value * (size_t)(t->n + 1));
    t->name[t->n] = strdup(name);
    t->value[t->n] = v;
    t->n++;
}

static inline void ref_free(ref_table *t) {
    for (int i = 0; i < t->n; i++) free(t->name[i]);
    free(t->name);
    free(t->value);
    memset(t, 0, sizeof *t);
}

static inline double ref_parse(const char *s) {
    if (!strcmp(s, "nan") || !strcmp(s, "NaN")) return NAN;
    return strtod(s, NULL);
}

/* expected/<case>_original_wavelet_bw25.csv: "name,value" lines */
static inline int ref_read_pairs(const char *path, ref_table *t) {
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *c = strchr(line, ',');
        if (!c) continue;
        *c = 0;
        ref_add(t, line, ref_parse(c + 1));
    }
    fclose(f);
    return 0;
}

/* baseline/baseline_<class>.csv: column `col` of the feature rows (diagnostics rows and empty cells
 * skipped). The cells of diagnostics rows may hold quoted commas, so only feature rows are split. */
static inline int ref_read_baseline(const char *path, const char *col, ref_table *t) {
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    static char line[1 << 16];
    int idx = -1;
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        int k = 0;
        for (char *tok = strtok(line, ","); tok; tok = strtok(NULL, ","), k++)
            if (!strcmp(tok, col)) idx = k;
    }
    if (idx < 0) {
        fclose(f);
        return -2;
    }
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!strncmp(line, "diagnostics_", 12) || !strncmp(line, "general_info", 12)) continue;
        char *fields[256];
        int nf = 0;
        char *p = line;
        fields[nf++] = p;
        while ((p = strchr(p, ',')) && nf < 256) {
            *p++ = 0;
            fields[nf++] = p;
        }
        if (idx < nf && fields[idx][0]) ref_add(t, fields[0], ref_parse(fields[idx]));
    }
    fclose(f);
    return 0;
}

static inline int ref_close(double got, double want) {
    if (isnan(want) || isnan(got)) return isnan(want) && isnan(got);
    double tol = REF_RTOL * fabs(want);
    if (tol < REF_ATOL) tol = REF_ATOL;
    return fabs(got - want) <= tol;
}

/* Compare a computed vector with a reference table: every computed feature must have a reference
 * value and every reference value a feature (names in `skip` excepted), all within tolerance.
 * Prints each problem; returns the number of problems. If `same_order`, the names must also come
 * in the reference's order. */
static inline int ref_compare(const char *label, const qr_radiomics *r, const double *got, const ref_table *ref,
                              const char *const *skip, int same_order) {
    int bad = 0, n = (int)qr_radiomics_count(r);
    for (int i = 0; i < n; i++) {
        const char *nm = qr_radiomics_name(r, i);
        int skipped = 0;
        for (const char *const *s = skip; s && *s; s++) skipped |= !strcmp(*s, nm);
        if (skipped) continue;
        int j = -1;
        for (int t = 0; t < ref->n; t++)
            if (!strcmp(ref->name[t], nm)) j = t;
        if (j < 0) {
            printf("  %s: %s has no reference value\n", label, nm);
            bad++;
            continue;
        }
        if (!ref_close(got[i], ref->value[j])) {
            printf("  %s: %-55s got %.17g want %.17g (rel %.2e)\n", label, nm, got[i], ref->value[j],
                   fabs(got[i] - ref->value[j]) / (fabs(ref->value[j]) > 0 ? fabs(ref->value[j]) : 1));
            bad++;
        }
    }
    for (int t = 0; t < ref->n; t++) {
        int skipped = 0;
        for (const char *const *s = skip; s && *s; s++) skipped |= !strcmp(*s, ref->name[t]);
        if (skipped) continue;
        int found = 0;
        for (int i = 0; i < n; i++) found |= !strcmp(qr_radiomics_name(r, i), ref->name[t]);
        if (!found) {
            printf("  %s: reference %s has no computed feature\n", label, ref->name[t]);
            bad++;
        }
    }
    if (same_order && !bad) {
        int k = 0;
        for (int t = 0; t < ref->n; t++) {
            int skipped = 0;
            for (const char *const *s = skip; s && *s; s++) skipped |= !strcmp(*s, ref->name[t]);
            if (skipped) continue;
            while (k < n && strcmp(qr_radiomics_name(r, k), ref->name[t])) k++;
            if (k >= n) {
                printf("  %s: feature order differs from the reference at %s\n", label, ref->name[t]);
                bad++;
                break;
            }
        }
    }
    return bad;
}

#endif
