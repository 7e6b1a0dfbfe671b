/*
 * fuzz_text.c - the text inputs qsmrim reads: tab-separated tables (TSV reader, cohort manifests,
 * annotation tables, evaluation summaries), the training settings file (YAML), PyRadiomics
 * parameter files (YAML) and the command-line values that are parsed rather than compared.
 *
 * Input: one selector byte (its value modulo 7 picks the reader), then the text.
 *
 * Properties, for every input:
 *   - every reader returns a status, and a failure has a message;
 *   - a table that is read has rows of exactly its header's cells, and each header name finds its
 *     own column (an unnamed one may find an earlier unnamed one; a name given twice is refused);
 *   - annotation rows are sorted by lesion id without repeats, with rim 0 or 1;
 *   - a cohort has at least one subject, with distinct non-empty names;
 *   - a parameter file that loads names at least one feature, and the names are distinct;
 *   - an evaluation summary that is read keeps its numbers when written and read back, and its text
 *     once written stays as it is;
 *   - training settings that parse can be described and fingerprinted within QR_SETTINGS_MAX.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/status.h"
#include "core/tsv.h"
#include "data/cohort.h"
#include "eval/report.h"
#include "fuzz_util.h"
#include "lesions/lesions.h"
#include "nn/nn.h"
#include "predict/predict.h"
#include "radiomics/radiomics.h"
#include "train/config.h"
#include "train/learner.h"

static void fuzz_tsv(const char *path) {
    qr_tsv t;
    qr_status s = qr_tsv_read(path, &t);
    fuzz_require_message(s, "qr_tsv_read");
    if (s != QR_OK) return;
    fuzz_require(t.ncols >= 1, "a table without columns");
    for (int c = 0; c < t.ncols; c++) {
        int k = qr_tsv_column(&t, t.header[c]);
        /* a name given twice is refused, so a named column is found at its own place */
        fuzz_require(k >= 0 && (t.header[c][0] ? k == c : k <= c) && strcasecmp(t.header[k], t.header[c]) == 0,
                     "header '%s' (column %d) is found at %d", t.header[c], c, k);
    }
    char note[512];
    qr_tsv_header_note(&t, note, sizeof note);
    for (int64_t r = 0; r < t.nrows; r++) {
        fuzz_require(t.lineno[r] >= 2, "row %lld on line %lld", (long long)r, (long long)t.lineno[r]);
        for (int c = 0; c < t.ncols; c++) {
            fuzz_require(qr_tsv_cell(&t, r, c) != NULL, "cell %lld,%d is NULL", (long long)r, c);
            double d;
            int64_t i;
            fuzz_require_message(qr_tsv_get_double(&t, r, c, &d), "qr_tsv_get_double");
            fuzz_require_message(qr_tsv_get_int(&t, r, c, &i), "qr_tsv_get_int");
        }
    }
    qr_tsv_free(&t);
}

static void fuzz_config(const char *text) {
    qr_train_config cfg = qr_train_config_default();
    qr_status s = qr_train_config_parse(text, "fuzz.yaml", &cfg);
    fuzz_require_message(s, "qr_train_config_parse");
    if (s != QR_OK) return;
    char line[1024];
    static char fp[QR_SETTINGS_MAX];
    qr_train_config_describe(&cfg, "qsmrimnet", line, sizeof line);
    qr_train_config_describe(&cfg, "rimnet", line, sizeof line);
    int n = qr_train_config_fingerprint(&cfg, fp, sizeof fp);
    fuzz_require(n >= 0 && n < (int)sizeof fp / 2, "settings fingerprint of %d bytes", n);
    int ms[64];
    int k = qr_train_config_milestone_epochs(&cfg, ms, 64);
    fuzz_require(k >= 0 && k <= 64, "%d milestones", k);
}

static void fuzz_annotations(const char *path) {
    qr_annotation *a = NULL;
    int64_t n = 0;
    qr_status s = qr_annotations_read(path, "sub-fuzz", &a, &n);
    fuzz_require_message(s, "qr_annotations_read");
    if (s == QR_OK)
        for (int64_t i = 0; i < n; i++) {
            fuzz_require(a[i].rim == 0 || a[i].rim == 1, "rim %d", a[i].rim);
            fuzz_require(i == 0 || a[i].lesion_id > a[i - 1].lesion_id, "lesion ids %d then %d", i ? a[i - 1].lesion_id : 0,
                         a[i].lesion_id);
        }
    free(a);
}

static void require_cohort(const qr_cohort *c) {
    fuzz_require(c->n >= 1, "a cohort of %d subjects", c->n);
    for (int i = 0; i < c->n; i++) {
        fuzz_require(c->entries[i].subject[0], "subject %d has no name", i);
        for (int j = 0; j < i; j++)
            fuzz_require(strcmp(c->entries[i].subject, c->entries[j].subject) != 0, "subject '%s' twice",
                         c->entries[i].subject);
    }
}

static void fuzz_cohort(const char *path) {
    qr_cohort c;
    qr_status s = qr_cohort_read(path, &c);
    fuzz_require_message(s, "qr_cohort_read");
    if (s == QR_OK) {
        require_cohort(&c);
        qr_cohort_free(&c);
    }
    s = qr_cohort_read_images(path, &c);
    fuzz_require_message(s, "qr_cohort_read_images");
    if (s == QR_OK) {
        require_cohort(&c);
        qr_cohort_free(&c);
    }
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static void fuzz_radiomics_params(const char *text) {
    qr_radiomics *r = NULL;
    qr_status s = qr_radiomics_load_text(text, "params.yaml", &r);
    fuzz_require_message(s, "qr_radiomics_load_text");
    if (s != QR_OK) {
        fuzz_require(r == NULL, "a failed load left a parameter set");
        return;
    }
    const int64_t n = qr_radiomics_count(r);
    fuzz_require(n >= 1, "%lld features", (long long)n);
    const char **names = malloc((size_t)n * sizeof *names);
    if (!names) abort();
    for (int64_t i = 0; i < n; i++) {
        names[i] = qr_radiomics_name(r, i);
        fuzz_require(names[i] && names[i][0], "feature %lld has no name", (long long)i);
    }
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    for (int64_t i = 1; i < n; i++) fuzz_require(strcmp(names[i], names[i - 1]) != 0, "feature '%s' twice", names[i]);
    free(names);
    qr_radiomics_free(r);
}

static int same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b)); }

static void require_same_summary(const qr_summary_row *a, const qr_summary_row *b, int text_too) {
    if (text_too)
        fuzz_require(!strcmp(a->method, b->method) && !strcmp(a->description, b->description) &&
                         !strcmp(a->data_note, b->data_note),
                     "method, description or data note changed: '%s' -> '%s'", a->method, b->method);
    fuzz_require(a->n_subjects == b->n_subjects && a->n_lesions == b->n_lesions && a->n_rimpos == b->n_rimpos,
                 "counts changed");
    for (int k = 0; k < QR_SUM_COUNT; k++)
        fuzz_require(same_double(a->value[k], b->value[k]) && same_double(a->lo[k], b->lo[k]) &&
                         same_double(a->hi[k], b->hi[k]),
                     "%s changed: %.17g -> %.17g", qr_summary_key(k), a->value[k], b->value[k]);
    const double ca[4] = {a->tp, a->fp, a->fn, a->tn}, cb[4] = {b->tp, b->fp, b->fn, b->tn};
    for (int k = 0; k < 4; k++) /* written as whole numbers */
        fuzz_require(same_double(ca[k], cb[k]) || !(ca[k] == nearbyint(ca[k])), "confusion count %d: %.17g -> %.17g", k,
                     ca[k], cb[k]);
}

/* A summary that is read keeps its numbers when written and read back; its text is written as
 * clean UTF-8 in one cell (a first write may change it), and from then on stays as it is. */
static void fuzz_summary(const char *path) {
    qr_summary_row a, b, c;
    qr_status s = qr_report_read_summary(path, &a);
    fuzz_require_message(s, "qr_report_read_summary");
    if (s != QR_OK) return;
    const char *out = fuzz_path("summary-out.tsv");
    s = qr_report_write_summary(out, &a);
    fuzz_require(s == QR_OK, "a summary that was read cannot be written: %s", qr_last_error());
    s = qr_report_read_summary(out, &b);
    fuzz_require(s == QR_OK, "a summary qsmrim wrote cannot be read: %s", qr_last_error());
    require_same_summary(&a, &b, 0);
    s = qr_report_write_summary(out, &b);
    fuzz_require(s == QR_OK, "a summary that was read cannot be written: %s", qr_last_error());
    s = qr_report_read_summary(out, &c);
    fuzz_require(s == QR_OK, "a summary qsmrim wrote cannot be read: %s", qr_last_error());
    require_same_summary(&b, &c, 1);
}

static void fuzz_values(const char *text) {
    qr_threshold_mode mode;
    double v;
    qr_status s = qr_threshold_parse(text, &mode, &v);
    fuzz_require_message(s, "qr_threshold_parse");
    if (s == QR_OK && mode == QR_THRESHOLD_VALUE) fuzz_require(v >= 0 && v <= 1, "threshold %g", v);
    qr_lesion_input li;
    fuzz_require_message(qr_lesion_input_parse(text, "--input", &li), "qr_lesion_input_parse");
    qr_nn_device dev;
    s = qr_nn_device_parse(text, &dev);
    fuzz_require_message(s, "qr_nn_device_parse");
    if (s == QR_OK) fuzz_require(dev.index >= 0, "device index %d", dev.index);
    qr_nn_precision prec;
    fuzz_require_message(qr_nn_precision_parse(text, &prec), "qr_nn_precision_parse");
    qr_nn_arch arch;
    fuzz_require_message(qr_nn_arch_parse(text, &arch), "qr_nn_arch_parse");
    qr_nn_fusion fusion;
    fuzz_require_message(qr_nn_fusion_parse(text, &fusion), "qr_nn_fusion_parse");
    qr_nn_smote smote;
    fuzz_require_message(qr_nn_smote_parse(text, &smote), "qr_nn_smote_parse");
    qr_nn_image_fusion imf;
    fuzz_require_message(qr_nn_image_fusion_parse(text, &imf), "qr_nn_image_fusion_parse");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int which = data[0] % 7;
    char *text = fuzz_text(data + 1, size - 1);
    const char *path = fuzz_path("in.tsv");
    fuzz_write(path, data + 1, size - 1);
    switch (which) {
    case 0: fuzz_tsv(path); break;
    case 1: fuzz_config(text); break;
    case 2: fuzz_annotations(path); break;
    case 3: fuzz_cohort(path); break;
    case 4: fuzz_radiomics_params(text); break;
    case 5: fuzz_summary(path); break;
    default: fuzz_values(text); break;
    }
    free(text);
    qr_clear_error();
    return 0;
}
