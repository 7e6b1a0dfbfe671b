/* cohort.c - cohort manifest and annotation tables (rules in cohort.h). */
#define _GNU_SOURCE /* realpath, PATH_MAX */
#include "cohort.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/tsv.h"
#include "feature_cache.h"
#include "../io/filecheck.h"
#include "../io/outputs.h"

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

/* qr_cohort_read; `annotated` 0: the annotations column may be absent or its cells empty. */
static qr_status read_manifest(const char *manifest, int annotated, qr_cohort *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->manifest, sizeof out->manifest, "%s", manifest);
    qr_tsv t;
    QR_TRY(qr_tsv_read(manifest, &t));
    static const char *cols[5] = {"subject", "qsm", "flair", "lesions", "annotations"};
    int ci[5];
    qr_status st = QR_OK;
    for (int k = 0; k < (annotated ? 5 : 4) && st == QR_OK; k++) {
        st = qr_tsv_require(&t, cols[k], &ci[k]);
        if (st != QR_OK) {
            char note[256];
            qr_tsv_header_note(&t, note, sizeof note);
            st = qr_fail(QR_ERR_FORMAT,
                         "%s: not a cohort manifest: column '%s' is missing (header must be: subject qsm flair lesions%s, "
                         "tab-separated)%s",
                         manifest, cols[k], annotated ? " annotations" : " [annotations]", note);
        }
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
        for (int k = 1; k < 5 && st == QR_OK; k++) {
            if (k == 4 && !annotated) continue; /* not read */
            st = resolve(qr_tsv_cell(&t, r, ci[k]), dst[k - 1], QR_PATH_MAX, manifest, name, cols[k]);
        }
        out->n++;
    }
    qr_tsv_free(&t);
    if (st != QR_OK) qr_cohort_free(out);
    return st;
}

qr_status qr_cohort_read(const char *manifest, qr_cohort *out) { return read_manifest(manifest, 1, out); }

qr_status qr_cohort_read_images(const char *manifest, qr_cohort *out) { return read_manifest(manifest, 0, out); }

/* 1 if the two files hold the same bytes (the same file, or a copy). */
static int same_content(const char *a, const char *b, const struct stat *sa, const struct stat *sb) {
    if (sa->st_dev == sb->st_dev && sa->st_ino == sb->st_ino) return 1;
    if (sa->st_size != sb->st_size) return 0;
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    char x[65536], y[65536];
    while (same) {
        const size_t n = fread(x, 1, sizeof x, fa);
        same = fread(y, 1, sizeof y, fb) == n && !memcmp(x, y, n);
        if (n < sizeof x) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* SHA-256 of the first 64 KiB of a file ("" if unreadable): a cheap first test of equal content. */
static void head_hash(const char *path, char hex[65]) {
    hex[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) return;
    unsigned char buf[65536];
    const size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    qr_sha256_hex(buf, n, hex);
}

/* Two subjects with the same QSM (one subject listed under two names, or a copy of its file)
 * would be in the training and the test folds at once. Single files only (not DICOM folders);
 * contents are compared only when sizes and first 64 KiB agree. */
static qr_status check_duplicates(const qr_cohort *c) {
    struct stat *st = calloc((size_t)c->n, sizeof *st);
    char(*head)[65] = calloc((size_t)c->n, sizeof *head);
    if (!st || !head) {
        free(st);
        free(head);
        return qr_fail(QR_ERR_NOMEM, "out of memory");
    }
    for (int s = 0; s < c->n; s++) {
        if (stat(c->entries[s].qsm, &st[s]) != 0 || !S_ISREG(st[s].st_mode)) st[s].st_size = -1;
        else head_hash(c->entries[s].qsm, head[s]);
    }
    qr_status r = QR_OK;
    for (int s = 0; r == QR_OK && s < c->n; s++)
        for (int t = 0; r == QR_OK && t < s; t++)
            if (st[s].st_size >= 0 && st[s].st_size == st[t].st_size && !strcmp(head[s], head[t]) &&
                same_content(c->entries[t].qsm, c->entries[s].qsm, &st[t], &st[s]))
                r = qr_fail(QR_ERR_INVALID_ARG,
                            "%s: subjects '%s' and '%s' have the same QSM (%s, %s): one subject listed twice would be in "
                            "the training and the test folds at once; remove one of the rows",
                            c->manifest, c->entries[t].subject, c->entries[s].subject, c->entries[t].qsm, c->entries[s].qsm);
    free(st);
    free(head);
    return r;
}

qr_status qr_cohort_check_files(const qr_cohort *c) {
    for (int s = 0; s < c->n; s++) {
        const qr_cohort_entry *e = &c->entries[s];
        const char *paths[4] = {e->qsm, e->flair, e->lesions, e->annotations};
        static const char *cols[4] = {"qsm", "flair", "lesions", "annotations"};
        for (int k = 0; k < 4; k++) {
            if (k == 3 && !paths[k][0]) continue; /* read without annotations (qr_cohort_read_images) */
            /* an image may be a DICOM folder; the annotation table is a file */
            if (k == 3 && qr_path_is_dir(paths[k]))
                return qr_fail(QR_ERR_IO, "%s: subject '%s': %s file %s is a folder, not a table file", c->manifest,
                               e->subject, cols[k], paths[k]);
            if (!qr_path_is_file(paths[k]) && !qr_path_is_dir(paths[k])) {
                const size_t n = strlen(paths[k]);
                const char *base = strrchr(paths[k], '/');
                base = base ? base + 1 : paths[k];
                const int spaced = n > 0 && (paths[k][n - 1] == ' ' || base[0] == ' ');
                return qr_fail(QR_ERR_IO, "%s: subject '%s': %s file '%s' does not exist%s", c->manifest, e->subject, cols[k],
                               paths[k], spaced ? " (the name in the manifest has a space at its start or end)" : "");
            }
        }
    }
    return check_duplicates(c);
}

/* 1 if `path` (an existing file) lies inside the folder whose real path is `dir_real`. */
static int inside(const char *path, const char *dir_real) {
    char real[PATH_MAX];
    if (!path[0] || !realpath(path, real)) return 0;
    const size_t n = strlen(dir_real);
    return !strncmp(real, dir_real, n) && (real[n] == '/' || (n == 1 && dir_real[0] == '/'));
}

qr_status qr_cohort_outputs_check(const qr_cohort *c, const char *out_file, const char *out_what, const char *out_dir,
                                  const char *dir_what) {
    static const char *const cols[4] = {"QSM", "FLAIR", "lesion map", "annotation table"};
    const int n = 1 + 4 * c->n;
    qr_io_path *in = calloc((size_t)n, sizeof *in);
    char(*what)[320] = calloc((size_t)n, sizeof *what);
    if (!in || !what) {
        free(in);
        free(what);
        return qr_fail(QR_ERR_NOMEM, "out of memory");
    }
    in[0] = (qr_io_path){c->manifest, "the --manifest file", 0, 0};
    for (int s = 0; s < c->n; s++) {
        const qr_cohort_entry *e = &c->entries[s];
        const char *paths[4] = {e->qsm, e->flair, e->lesions, e->annotations};
        for (int k = 0; k < 4; k++) {
            const int i = 1 + 4 * s + k;
            snprintf(what[i], sizeof what[i], "the %s of subject '%s'", cols[k], e->subject);
            in[i] = (qr_io_path){paths[k][0] ? paths[k] : NULL, what[i], k < 3, 0};
        }
    }
    qr_status st = QR_OK;
    if (out_file) {
        const qr_io_path out = {out_file, out_what, 0, 0};
        st = qr_outputs_check(in, n, &out, 1);
    }
    char dir_real[PATH_MAX];
    if (st == QR_OK && out_dir && realpath(out_dir, dir_real))
        for (int i = 0; st == QR_OK && i < n; i++) {
            char data[QR_PATH_MAX] = "";
            if (in[i].image) qr_image_data_file(in[i].path, data, sizeof data);
            if (in[i].path && (inside(in[i].path, dir_real) || inside(data, dir_real)))
                st = qr_fail(QR_ERR_INVALID_ARG, "%s %s holds %s (%s), which the output written there could replace: choose another folder",
                             dir_what, out_dir, in[i].what, in[i].path);
        }
    free(in);
    free(what);
    return st;
}

static int cmp_annotation(const void *a, const void *b) {
    int32_t x = ((const qr_annotation *)a)->lesion_id, y = ((const qr_annotation *)b)->lesion_id;
    return (x > y) - (x < y);
}

int qr_annotations_is_review(const qr_tsv *t) {
    return qr_tsv_column(t, "decision") >= 0 && qr_tsv_column(t, "rim") < 0;
}

/* qr_annotations_read; `warn`: say when the table's subject column names another subject (once per
 * load: the class count before the images reads the tables too, silently). */
static qr_status read_annotations(const char *path, const char *subject, int warn, qr_annotation **out, int64_t *n) {
    *out = NULL;
    *n = 0;
    qr_tsv t;
    qr_status st = qr_tsv_read(path, &t);
    if (st != QR_OK) return qr_fail_context(st, "subject '%s' annotations", subject);
    int cid, crim;
    st = qr_tsv_require(&t, "lesion_id", &cid);
    /* a review file of qsmrim-review (a decision column, no rim column) annotates the lesions
     * decided rim+ or rim-; unsure and undecided ones are left out, as unannotated lesions are */
    const int cdec = qr_annotations_is_review(&t) ? qr_tsv_column(&t, "decision") : -1;
    if (st == QR_OK && qr_tsv_column(&t, "rim") >= 0 && qr_tsv_column(&t, "decision") >= 0) {
        qr_tsv_free(&t);
        return qr_fail(QR_ERR_FORMAT,
                       "subject '%s': %s has both a rim column and a review file's decision column: which labels count "
                       "would be a guess; remove one",
                       subject, path);
    }
    if (st == QR_OK && cdec < 0) st = qr_tsv_require(&t, "rim", &crim);
    if (st != QR_OK) {
        char note[256];
        qr_tsv_header_note(&t, note, sizeof note);
        qr_tsv_free(&t);
        return qr_fail(QR_ERR_FORMAT,
                       "subject '%s': %s is not an annotation table (columns lesion_id and rim needed, tab-separated, or a "
                       "review file's lesion_id and decision)%s",
                       subject, path, note);
    }
    /* a table that says whose it is (a `subject` column) and names another subject may be a copied
     * table giving this subject another's labels: warned, since a lab's own codes there can differ
     * from the manifest's names */
    const int csub = warn ? qr_tsv_column(&t, "subject") : -1;
    for (int64_t r = 0; csub >= 0 && r < t.nrows; r++) {
        char who[256];
        const char *cell = qr_tsv_cell(&t, r, csub);
        while (*cell == ' ') cell++;
        snprintf(who, sizeof who, "%s", cell);
        for (size_t k = strlen(who); k > 0 && who[k - 1] == ' ';) who[--k] = '\0';
        if (who[0] && strcmp(who, subject) != 0) {
            qr_log(QR_LOG_WARNING, "subject '%s': %s line %lld: its subject column says '%s' (another subject's table?)",
                   subject, path, (long long)t.lineno[r], who);
            break;
        }
    }
    qr_annotation *a = malloc((size_t)(t.nrows > 0 ? t.nrows : 1) * sizeof *a);
    if (!a) {
        qr_tsv_free(&t);
        return qr_fail(QR_ERR_NOMEM, "out of memory reading %s", path);
    }
    int64_t kept = 0;
    for (int64_t r = 0; r < t.nrows; r++) {
        int64_t id, rim = 0;
        int skip = 0; /* a review row without a rim+ or rim- decision */
        st = qr_tsv_get_int(&t, r, cid, &id);
        if (st == QR_OK && cdec >= 0) {
            /* as the viewer reads them: exactly these words (it refuses any other cell) */
            const char *d = qr_tsv_cell(&t, r, cdec);
            skip = !strcmp(d, "unsure") || !strcmp(d, "none");
            if (!skip && strcmp(d, "rim+") && strcmp(d, "rim-")) {
                st = qr_fail(QR_ERR_FORMAT,
                             "subject '%s': %s line %lld: decision '%s' (a review file's decisions are rim+, rim-, unsure "
                             "and none)",
                             subject, path, (long long)t.lineno[r], d);
                break;
            }
            rim = !strcmp(d, "rim+");
        } else if (st == QR_OK) {
            st = qr_tsv_get_int(&t, r, crim, &rim);
        }
        if (st != QR_OK) {
            st = qr_fail_context(st, "subject '%s'", subject);
            break;
        }
        if (id < 1 || id > INT32_MAX) {
            st = qr_fail(QR_ERR_FORMAT, "subject '%s': %s line %lld: lesion_id %lld is %s", subject, path,
                         (long long)t.lineno[r], (long long)id,
                         id < 1 ? "not a positive label" : "beyond the largest label a lesion map holds (2147483647)");
            break;
        }
        if (skip) continue;
        if (rim != 0 && rim != 1) {
            st = qr_fail(QR_ERR_FORMAT, "subject '%s': %s line %lld: rim is %lld (must be 1 for rim+ or 0 for rim-)",
                         subject, path, (long long)t.lineno[r], (long long)rim);
            break;
        }
        a[kept].lesion_id = (int32_t)id;
        a[kept++].rim = (int)rim;
    }
    int64_t rows = kept;
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

qr_status qr_annotations_read(const char *path, const char *subject, qr_annotation **out, int64_t *n) {
    return read_annotations(path, subject, 1, out, n);
}

/* The rim+ and rim- rows of every table, the subjects with a rim+ row and the first of them. */
static qr_status count_labels(const qr_cohort *c, int64_t *npos, int64_t *nneg, int *nsubj_pos, int *first_pos) {
    *npos = *nneg = 0;
    *nsubj_pos = 0;
    *first_pos = -1;
    for (int s = 0; s < c->n; s++) {
        qr_annotation *a = NULL;
        int64_t n = 0, pos = 0;
        QR_TRY(read_annotations(c->entries[s].annotations, c->entries[s].subject, 0, &a, &n));
        for (int64_t r = 0; r < n; r++) {
            pos += a[r].rim == 1;
            *nneg += a[r].rim == 0;
        }
        free(a);
        *npos += pos;
        if (pos && !(*nsubj_pos)++) *first_pos = s;
    }
    return QR_OK;
}

qr_status qr_cohort_count_labels(const qr_cohort *c, int64_t *npos, int64_t *nneg) {
    int ns, first;
    return count_labels(c, npos, nneg, &ns, &first);
}

qr_status qr_cohort_check_split(const qr_cohort *c, const char *split) {
    int64_t npos, nneg;
    int ns, first;
    QR_TRY(count_labels(c, &npos, &nneg, &ns, &first));
    if (ns != 1) return QR_OK;
    if (!strcmp(split, "holdout"))
        return qr_fail(QR_ERR_EMPTY,
                       "%s: only one subject holds rim+ lesions ('%s'), and both the held-out subjects (whose lesions "
                       "choose the thresholds) and the training subjects need one: use --holdout 0 (thresholds chosen "
                       "on the training lesions)",
                       c->manifest, c->entries[first].subject);
    return qr_fail(QR_ERR_EMPTY,
                   "%s: only one subject holds rim+ lesions ('%s'): the cross-validation fold that tests it has none to "
                   "train on; a cohort with rim+ lesions in more subjects is needed (a trained model is scored with "
                   "--model)",
                   c->manifest, c->entries[first].subject);
}

qr_status qr_cohort_check_classes(const qr_cohort *c, const char *what) {
    int64_t npos, nneg;
    QR_TRY(qr_cohort_count_labels(c, &npos, &nneg));
    if (npos == 0 || nneg == 0)
        return qr_fail(QR_ERR_EMPTY, "%s: every annotated lesion is %s: %s needs rim+ (rim 1) and rim- (rim 0) lesions", c->manifest,
                       npos ? "rim+" : "rim-", what);
    return QR_OK;
}
