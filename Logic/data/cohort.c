/* cohort.c - cohort manifest and annotation tables (rules in cohort.h). */
#include "cohort.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/tsv.h"

void qr_cohort_free(qr_cohort *c) {
    if (!c) return;
    free(c->entries);
    memset(c, 0, sizeof *c);
}

static qr_status resolve(const char *rel, char *out, size_t outlen, const char *manifest, const char *subject,
                         const char *column) {
    if (!rel[0]) return qr_fail(QR_ERR_FORMAT, "%s: subject '%s' has an empty '%s' path", manifest, subject, column);
    if (qr_path_beside(manifest, rel, out, outlen) != 0)
        return qr_fail(QR_ERR_INVALID_ARG, "%s: subject '%s': the '%s' path is too long", manifest, subject, column);
    return QR_OK;
}

qr_status qr_cohort_read(const char *manifest, qr_cohort *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->manifest, sizeof out->manifest, "%s", manifest);
    qr_tsv t;
    QR_TRY(qr_tsv_read(manifest, &t));
    static const char *cols[5] = {"subject", "qsm", "flair", "lesions", "annotations"};
    int ci[5];
    qr_status st = QR_OK;
    for (int k = 0; k < 5 && st == QR_OK; k++) {
        st = qr_tsv_require(&t, cols[k], &ci[k]);
        if (st != QR_OK)
            st = qr_fail(QR_ERR_FORMAT, "%s: not a cohort manifest: column '%s' is missing (header must be: subject qsm flair lesions annotations)",
                         manifest, cols[k]);
    }
    if (st == QR_OK && t.nrows == 0) st = qr_fail(QR_ERR_EMPTY, "%s: the manifest lists no subjects", manifest);
    if (st == QR_OK) {
        out->entries = calloc((size_t)t.nrows, sizeof *out->entries);
        if (!out->entries) st = qr_fail(QR_ERR_NOMEM, "out of memory reading %s", manifest);
    }
    for (int64_t r = 0; st == QR_OK && r < t.nrows; r++) {
        qr_cohort_entry *e = &out->entries[r];
        const char *name = qr_tsv_cell(&t, r, ci[0]);
        if (!name[0]) {
            st = qr_fail(QR_ERR_FORMAT, "%s: line %lld has an empty subject name", manifest, (long long)t.lineno[r]);
            break;
        }
        if (strlen(name) >= sizeof e->subject) {
            st = qr_fail(QR_ERR_FORMAT, "%s: line %lld: subject name too long", manifest, (long long)t.lineno[r]);
            break;
        }
        snprintf(e->subject, sizeof e->subject, "%s", name);
        for (int64_t q = 0; q < r; q++)
            if (!strcmp(out->entries[q].subject, name)) {
                st = qr_fail(QR_ERR_FORMAT, "%s: subject '%s' is listed twice (lines %lld and %lld)", manifest, name,
                             (long long)t.lineno[q], (long long)t.lineno[r]);
                break;
            }
        if (st != QR_OK) break;
        char *dst[4] = {e->qsm, e->flair, e->lesions, e->annotations};
        for (int k = 1; k < 5 && st == QR_OK; k++)
            st = resolve(qr_tsv_cell(&t, r, ci[k]), dst[k - 1], QR_PATH_MAX, manifest, name, cols[k]);
        out->n++;
    }
    qr_tsv_free(&t);
    if (st != QR_OK) qr_cohort_free(out);
    return st;
}

qr_status qr_cohort_check_files(const qr_cohort *c) {
    for (int s = 0; s < c->n; s++) {
        const qr_cohort_entry *e = &c->entries[s];
        const char *paths[4] = {e->qsm, e->flair, e->lesions, e->annotations};
        static const char *cols[4] = {"qsm", "flair", "lesions", "annotations"};
        for (int k = 0; k < 4; k++) {
            /* an image may be a DICOM folder; the annotation table is a file */
            if (k == 3 && qr_path_is_dir(paths[k]))
                return qr_fail(QR_ERR_IO, "%s: subject '%s': %s file %s is a folder, not a table file", c->manifest,
                               e->subject, cols[k], paths[k]);
            if (!qr_path_is_file(paths[k]) && !qr_path_is_dir(paths[k]))
                return qr_fail(QR_ERR_IO, "%s: subject '%s': %s file %s does not exist", c->manifest, e->subject, cols[k],
                               paths[k]);
        }
    }
    return QR_OK;
}

static int cmp_annotation(const void *a, const void *b) {
    int32_t x = ((const qr_annotation *)a)->lesion_id, y = ((const qr_annotation *)b)->lesion_id;
    return (x > y) - (x < y);
}

qr_status qr_annotations_read(const char *path, const char *subject, qr_annotation **out, int64_t *n) {
    *out = NULL;
    *n = 0;
    qr_tsv t;
    qr_status st = qr_tsv_read(path, &t);
    if (st != QR_OK) return qr_fail_context(st, "subject '%s' annotations", subject);
    int cid, crim;
    st = qr_tsv_require(&t, "lesion_id", &cid);
    if (st == QR_OK) st = qr_tsv_require(&t, "rim", &crim);
    if (st != QR_OK) {
        qr_tsv_free(&t);
        return qr_fail(QR_ERR_FORMAT, "subject '%s': %s is not an annotation table (columns lesion_id and rim needed)",
                       subject, path);
    }
    qr_annotation *a = malloc((size_t)(t.nrows > 0 ? t.nrows : 1) * sizeof *a);
    if (!a) {
        qr_tsv_free(&t);
        return qr_fail(QR_ERR_NOMEM, "out of memory reading %s", path);
    }
    for (int64_t r = 0; r < t.nrows; r++) {
        int64_t id, rim;
        st = qr_tsv_get_int(&t, r, cid, &id);
        if (st == QR_OK) st = qr_tsv_get_int(&t, r, crim, &rim);
        if (st != QR_OK) {
            st = qr_fail_context(st, "subject '%s'", subject);
            break;
        }
        if (id < 1 || id > INT32_MAX) {
            st = qr_fail(QR_ERR_FORMAT, "subject '%s': %s line %lld: lesion_id %lld is not a positive label", subject,
                         path, (long long)t.lineno[r], (long long)id);
            break;
        }
        if (rim != 0 && rim != 1) {
            st = qr_fail(QR_ERR_FORMAT, "subject '%s': %s line %lld: rim is %lld (must be 1 for rim+ or 0 for rim-)",
                         subject, path, (long long)t.lineno[r], (long long)rim);
            break;
        }
        a[r].lesion_id = (int32_t)id;
        a[r].rim = (int)rim;
    }
    int64_t rows = t.nrows;
    qr_tsv_free(&t);
    if (st != QR_OK) {
        free(a);
        return st;
    }
    qsort(a, (size_t)rows, sizeof *a, cmp_annotation);
    for (int64_t r = 1; r < rows; r++)
        if (a[r].lesion_id == a[r - 1].lesion_id) {
            int32_t id = a[r].lesion_id;
            free(a);
            return qr_fail(QR_ERR_FORMAT, "subject '%s': %s annotates lesion %d twice", subject, path, id);
        }
    *out = a;
    *n = rows;
    return QR_OK;
}
