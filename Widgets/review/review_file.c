/* review_file.c - the review TSV: read, lock, record a decision and save atomically, export
 * (review_file.h). */
#define _GNU_SOURCE
#include "review_file.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/tsv.h"
#include "data/feature_cache.h" /* qr_sha256_path */
#include "review_queue.h"

static const char *const REVIEW_HEADER = "lesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote";

const char *qr_review_decision_name(int d) {
    switch (d) {
    case QR_REVIEW_RIM_POS: return "rim+";
    case QR_REVIEW_RIM_NEG: return "rim-";
    case QR_REVIEW_UNSURE: return "unsure";
    default: return "none";
    }
}

qr_status qr_review_decision_parse(const char *text, int *d) {
    for (int k = 0; k < QR_REVIEW_COUNT; k++)
        if (!strcmp(text, qr_review_decision_name(k))) {
            *d = k;
            return QR_OK;
        }
    return qr_fail(QR_ERR_FORMAT, "decision '%s' is not rim+, rim-, unsure or none", text);
}

/* ---- strings ---- */

/* Copy with tabs, CR and LF turned into spaces and surrounding blanks trimmed (NULL -> ""). */
static char *clean_copy(const char *s) {
    if (!s) s = "";
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) n--;
    char *out = malloc(n + 1);
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) out[i] = (s[i] == '\t' || s[i] == '\r' || s[i] == '\n') ? ' ' : s[i];
    out[n] = '\0';
    return out;
}

/* A probability as the file keeps it (6 decimals): in memory as it will read back. */
static double six_decimals(double p) { return (double)llround(p * 1e6) / 1e6; }

/* "YYYY-MM-DDTHH:MM:SSZ" with plausible fields. */
static int valid_time(const char *t) {
    int Y, M, D, h, m, s;
    char z;
    int used = 0;
    if (strlen(t) != 20 || sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%c%n", &Y, &M, &D, &h, &m, &s, &z, &used) != 7 ||
        used != 20 || z != 'Z')
        return 0;
    for (int i = 0; i < 19; i++) {
        int want_digit = !(i == 4 || i == 7 || i == 10 || i == 13 || i == 16);
        if (want_digit != !!isdigit((unsigned char)t[i])) return 0;
    }
    return M >= 1 && M <= 12 && D >= 1 && D <= 31 && h <= 23 && m <= 59 && s <= 60;
}

void qr_review_now(char *buf, size_t len) {
    const char *fixed = getenv("QSMRIM_REVIEW_TIME");
    if (fixed && valid_time(fixed)) {
        snprintf(buf, len, "%s", fixed);
        return;
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- rows ---- */

static void row_free(qr_review_row *row) {
    free(row->reviewer);
    free(row->note);
    free(row->extra);
    row->reviewer = row->note = row->extra = NULL;
}

static void rows_free(qr_review_row *rows, int64_t n) {
    for (int64_t i = 0; i < n; i++) row_free(&rows[i]);
    free(rows);
}

/* A deep copy of n rows, none pending (NULL with *out_ok 0 on no memory; NULL with 1 for n 0). */
static qr_review_row *rows_copy(const qr_review_row *rows, int64_t n, int *out_ok) {
    *out_ok = 1;
    if (n == 0) return NULL;
    qr_review_row *c = calloc((size_t)n, sizeof *c);
    int64_t i = 0;
    for (; c && i < n; i++) {
        c[i] = rows[i];
        c[i].pending = 0;
        c[i].reviewer = strdup(rows[i].reviewer ? rows[i].reviewer : "");
        c[i].note = strdup(rows[i].note ? rows[i].note : "");
        c[i].extra = rows[i].extra ? strdup(rows[i].extra) : NULL;
        if (!c[i].reviewer || !c[i].note || (rows[i].extra && !c[i].extra)) {
            rows_free(c, i + 1);
            c = NULL;
        }
    }
    if (!c) *out_ok = 0;
    return c;
}

static void base_free(qr_review *r) {
    rows_free(r->base, r->n_base);
    r->base = NULL;
    r->n_base = 0;
}

static void review_free_rows(qr_review *r) {
    for (int64_t i = 0; i < r->n; i++) row_free(&r->rows[i]);
    free(r->rows);
    free(r->extra_header);
    free(r->comments);
    r->rows = NULL;
    r->extra_header = r->comments = NULL;
    r->n = r->cap = 0;
    r->n_extra = 0;
}

/* Position where lesion_id is or would be inserted among n rows sorted by id. */
static int64_t lower_bound_in(const qr_review_row *rows, int64_t n, int32_t id) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (rows[mid].lesion_id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}
static int64_t lower_bound(const qr_review *r, int32_t id) { return lower_bound_in(r->rows, r->n, id); }

static const qr_review_row *find_in(const qr_review_row *rows, int64_t n, int32_t id) {
    const int64_t p = lower_bound_in(rows, n, id);
    return (p < n && rows[p].lesion_id == id) ? &rows[p] : NULL;
}

const qr_review_row *qr_review_find(const qr_review *r, int32_t lesion_id) { return find_in(r->rows, r->n, lesion_id); }

int qr_review_decision_of(const qr_review *r, int32_t lesion_id) {
    const qr_review_row *row = qr_review_find(r, lesion_id);
    return row ? row->decision : QR_REVIEW_NONE;
}

/* Store a cleaned copy of `src` at its sorted place (replacing a row of the same id). */
static qr_status store_row(qr_review *r, const qr_review_row *src) {
    qr_review_row row = *src;
    row.reviewer = clean_copy(src->reviewer);
    row.note = clean_copy(src->note);
    row.extra = src->extra ? strdup(src->extra) : NULL; /* tab-joined cells: not cleaned */
    if (!row.reviewer || !row.note || (src->extra && !row.extra)) {
        row_free(&row);
        return qr_fail(QR_ERR_NOMEM, "out of memory");
    }
    row.time[QR_REVIEW_TIME_LEN - 1] = '\0';
    int64_t p = lower_bound(r, row.lesion_id);
    if (p < r->n && r->rows[p].lesion_id == row.lesion_id) {
        row_free(&r->rows[p]);
        r->rows[p] = row;
        return QR_OK;
    }
    if (r->n == r->cap) {
        int64_t cap = r->cap ? 2 * r->cap : 64;
        qr_review_row *rows = realloc(r->rows, (size_t)cap * sizeof *rows);
        if (!rows) {
            row_free(&row);
            return qr_fail(QR_ERR_NOMEM, "out of memory");
        }
        r->rows = rows;
        r->cap = cap;
    }
    memmove(&r->rows[p + 1], &r->rows[p], (size_t)(r->n - p) * sizeof *r->rows);
    r->rows[p] = row;
    r->n++;
    return QR_OK;
}

/* ---- the file on disk ---- */

/* The file's state now ({known 1, exists 0} when it is missing); QR_ERR_IO when it cannot be
 * read (or is not a regular file). */
static qr_status disk_now(const char *path, qr_review_disk *d) {
    memset(d, 0, sizeof *d);
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno != ENOENT) return qr_fail(QR_ERR_IO, "%s: cannot read (%s)", path, strerror(errno));
        d->known = 1;
        return QR_OK;
    }
    if (!S_ISREG(st.st_mode)) return qr_fail(QR_ERR_IO, "%s: is not a regular file", path);
    QR_TRY(qr_sha256_path(path, d->sha256));
    d->known = d->exists = 1;
    return QR_OK;
}

static int disk_same(const qr_review_disk *a, const qr_review_disk *b) {
    return a->exists == b->exists && (!a->exists || !strcmp(a->sha256, b->sha256));
}

/* ---- reading ---- */

/* Tab-joined copy of cells[0..n) of row `i` at the columns listed in cols (NULL on no memory). */
static char *join_cells(const qr_tsv *t, int64_t i, const int *cols, int n, int header) {
    size_t len = 1;
    for (int k = 0; k < n; k++) len += strlen(header ? t->header[cols[k]] : qr_tsv_cell(t, i, cols[k])) + 1;
    char *out = malloc(len), *o = out;
    if (!out) return NULL;
    for (int k = 0; k < n; k++) {
        const char *c = header ? t->header[cols[k]] : qr_tsv_cell(t, i, cols[k]);
        if (k) *o++ = '\t';
        size_t m = strlen(c);
        memcpy(o, c, m);
        o += m;
    }
    *o = '\0';
    return out;
}

/* 1 if the file holds nothing but blanks (a review file created empty by hand). */
static int is_blank_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int c, blank = 1;
    while ((c = fgetc(f)) != EOF)
        if (!isspace(c)) {
            blank = 0;
            break;
        }
    fclose(f);
    return blank;
}

qr_status qr_review_read(const char *path, qr_review *r) {
    memset(r, 0, sizeof *r);
    r->lock_fd = -1;
    if (strlen(path) >= sizeof r->path) return qr_fail(QR_ERR_INVALID_ARG, "review file path too long: %s", path);
    snprintf(r->path, sizeof r->path, "%s", path);
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) { /* a new review */
            r->disk.known = 1;
            return QR_OK;
        }
        return qr_fail(QR_ERR_IO, "%s: cannot read (%s)", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) return qr_fail(QR_ERR_IO, "%s: is not a regular file", path);
    /* taken before reading: a change while reading shows as a change at the next save */
    QR_TRY(disk_now(path, &r->disk));
    if (is_blank_file(path)) return QR_OK;

    qr_tsv t;
    QR_TRY(qr_tsv_read(path, &t));
    qr_status s = QR_OK;
    int c_id, c_dec;
    if (qr_tsv_column(&t, "lesion_id") < 0 || qr_tsv_column(&t, "decision") < 0) {
        char note[256]; /* why a header may look so: commas, quotes */
        qr_tsv_header_note(&t, note, sizeof note);
        s = qr_fail(QR_ERR_FORMAT, "%s: not a review file (the header needs lesion_id and decision columns)%s", path, note);
        goto done;
    }
    if (qr_tsv_column(&t, "probability") >= 0 && qr_tsv_column(&t, "reviewer") < 0) {
        s = qr_fail(QR_ERR_FORMAT,
                    "%s: a prediction table (qsmrim predict --out-table), not a review file; open it as the "
                    "prediction table and give the review file another name",
                    path);
        goto done;
    }
    c_id = qr_tsv_column(&t, "lesion_id");
    c_dec = qr_tsv_column(&t, "decision");
    int c_who = qr_tsv_column(&t, "reviewer"), c_time = qr_tsv_column(&t, "time");
    int c_p = qr_tsv_column(&t, "model_probability"), c_md = qr_tsv_column(&t, "model_decision");
    int c_note = qr_tsv_column(&t, "note");
    /* columns this format does not know: carried through unchanged */
    int extra_cols[64], n_extra = 0;
    for (int c = 0; c < t.ncols; c++) {
        if (c == c_id || c == c_dec || c == c_who || c == c_time || c == c_p || c == c_md || c == c_note) continue;
        if (n_extra == (int)(sizeof extra_cols / sizeof *extra_cols)) {
            s = qr_fail(QR_ERR_FORMAT, "%s: more than %d columns besides the review columns", path, n_extra);
            goto done;
        }
        extra_cols[n_extra++] = c;
    }
    if (n_extra) {
        r->n_extra = n_extra;
        if (!(r->extra_header = join_cells(&t, 0, extra_cols, n_extra, 1))) {
            s = qr_fail(QR_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    r->comments = t.comments; /* its lines end where the table's lines end */
    t.comments = NULL;
    for (int64_t i = 0; i < t.nrows; i++) {
        long long line = (long long)t.lineno[i];
        qr_review_row row;
        memset(&row, 0, sizeof row);
        int64_t id;
        if ((s = qr_tsv_get_int(&t, i, c_id, &id)) != QR_OK) goto done;
        if (id < 1 || id > INT32_MAX) {
            s = qr_fail(QR_ERR_FORMAT, "%s line %lld: lesion id %lld is not a positive label", path, line, (long long)id);
            goto done;
        }
        row.lesion_id = (int32_t)id;
        if (qr_review_find(r, row.lesion_id)) {
            s = qr_fail(QR_ERR_FORMAT, "%s line %lld: lesion %lld has a second row", path, line, (long long)id);
            goto done;
        }
        const char *dec = qr_tsv_cell(&t, i, c_dec);
        if (qr_review_decision_parse(dec, &row.decision) != QR_OK) {
            s = qr_fail(QR_ERR_FORMAT, "%s line %lld: decision '%s' is not rim+, rim-, unsure or none", path, line, dec);
            goto done;
        }
        const char *tm = c_time >= 0 ? qr_tsv_cell(&t, i, c_time) : "";
        if (tm[0] && !valid_time(tm)) {
            s = qr_fail(QR_ERR_FORMAT, "%s line %lld: time '%s' is not YYYY-MM-DDTHH:MM:SSZ", path, line, tm);
            goto done;
        }
        snprintf(row.time, sizeof row.time, "%s", tm);
        row.model_probability = NAN;
        const char *ptext = c_p >= 0 ? qr_tsv_cell(&t, i, c_p) : "NA";
        if (strcmp(ptext, "NA") && ptext[0]) {
            if ((s = qr_tsv_get_double(&t, i, c_p, &row.model_probability)) != QR_OK) goto done;
            if (!(row.model_probability >= 0.0 && row.model_probability <= 1.0)) {
                s = qr_fail(QR_ERR_FORMAT, "%s line %lld: model_probability %s is not in [0, 1]", path, line, ptext);
                goto done;
            }
            row.model_probability = six_decimals(row.model_probability);
        }
        const char *mtext = c_md >= 0 ? qr_tsv_cell(&t, i, c_md) : "none";
        if (qr_model_decision_parse(mtext[0] ? mtext : "none", &row.model_decision) != QR_OK) {
            s = qr_fail(QR_ERR_FORMAT, "%s line %lld: model_decision '%s' is not rim+, review, rim- or none", path, line,
                        mtext);
            goto done;
        }
        row.reviewer = (char *)(c_who >= 0 ? qr_tsv_cell(&t, i, c_who) : "");
        row.note = (char *)(c_note >= 0 ? qr_tsv_cell(&t, i, c_note) : "");
        char *extra = n_extra ? join_cells(&t, i, extra_cols, n_extra, 0) : NULL;
        if (n_extra && !extra) {
            s = qr_fail(QR_ERR_NOMEM, "out of memory");
            goto done;
        }
        row.extra = extra;
        s = store_row(r, &row); /* copies the strings */
        free(extra);
        if (s != QR_OK) goto done;
    }
done:
    qr_tsv_free(&t);
    if (s == QR_OK) { /* what a merge compares another program's rows with */
        int ok;
        r->base = rows_copy(r->rows, r->n, &ok);
        r->n_base = r->n;
        if (!ok) {
            r->n_base = 0;
            s = qr_fail(QR_ERR_NOMEM, "out of memory");
        }
    }
    if (s != QR_OK) review_free_rows(r);
    return s;
}

/* ---- locking ---- */

/* The file a review path stands for: symbolic links are followed (also to a file not created
 * yet), so the lock and the saved file are those of the target (a save would otherwise replace
 * the link by a plain file). */
static qr_status resolve_review_path(const char *path, char *out, size_t outlen) {
    char cur[QR_PATH_MAX];
    if (strlen(path) >= sizeof cur) return qr_fail(QR_ERR_INVALID_ARG, "review file path too long: %s", path);
    snprintf(cur, sizeof cur, "%s", path);
    for (int hops = 0;; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) break;
        if (hops == 16) return qr_fail(QR_ERR_IO, "%s: too many symbolic links", path);
        char target[QR_PATH_MAX], dir[QR_PATH_MAX];
        const ssize_t k = readlink(cur, target, sizeof target - 1);
        if (k < 0) return qr_fail(QR_ERR_IO, "%s: cannot read the symbolic link (%s)", path, strerror(errno));
        target[k] = '\0';
        qr_path_dirname(cur, dir, sizeof dir);
        const int n = target[0] == '/' ? snprintf(cur, sizeof cur, "%s", target)
                                       : snprintf(cur, sizeof cur, "%s/%s", dir, target);
        if (n < 0 || (size_t)n >= sizeof cur) return qr_fail(QR_ERR_INVALID_ARG, "review file path too long: %s", path);
    }
    if (!strcmp(cur, path)) { /* not a link */
        snprintf(out, outlen, "%s", path);
        return strlen(path) < outlen ? QR_OK : qr_fail(QR_ERR_INVALID_ARG, "review file path too long: %s", path);
    }
    char dir[QR_PATH_MAX];
    qr_path_dirname(cur, dir, sizeof dir);
    char *real = realpath(dir, NULL);
    if (!real)
        return qr_fail(QR_ERR_IO, "%s: a symbolic link to %s, whose folder cannot be used (%s)", path, cur,
                       strerror(errno));
    const int n = snprintf(out, outlen, "%s/%s", real, qr_path_basename(cur));
    free(real);
    if (n < 0 || (size_t)n >= outlen) return qr_fail(QR_ERR_INVALID_ARG, "review file path too long: %s", path);
    return QR_OK;
}

/* Can a file be saved at `path`? (A temporary beside it is created and removed.) */
static qr_status probe_writable(const char *path) {
    qr_atomic a;
    QR_TRY(qr_atomic_open(&a, path));
    qr_atomic_abort(&a);
    return QR_OK;
}

qr_status qr_review_open(const char *path, qr_review *r) {
    memset(r, 0, sizeof *r);
    r->lock_fd = -1;
    char real[QR_PATH_MAX], lp[QR_PATH_MAX];
    QR_TRY(resolve_review_path(path, real, sizeof real));
    struct stat fs; /* saving replaces the file, which a write-protected one must not be */
    if (stat(real, &fs) == 0 && S_ISREG(fs.st_mode) && (!(fs.st_mode & 0222) || access(real, W_OK) != 0))
        return qr_fail(QR_ERR_IO, "%s: the review file is write-protected (a finished review?); make it writable to add "
                                  "decisions, or keep this session's review elsewhere with --review PATH",
                       path);
    QR_TRY(qr_lock_path(real, lp, sizeof lp));
    int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return qr_fail(QR_ERR_IO, "%s: cannot create its lock file %s (%s); to review a subject in a folder you cannot "
                                  "write, keep the review elsewhere with --review PATH",
                       path, lp, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK) return qr_fail(QR_ERR_IO, "%s: is open in another review session (lock %s)", path, lp);
        return qr_fail(QR_ERR_IO, "%s: cannot lock (%s)", path, strerror(e));
    }
    /* temporaries of saves cut short (a viewer killed while writing): the lock says none is running */
    {
        char dir[QR_PATH_MAX];
        qr_path_dirname(real, dir, sizeof dir);
        const int gone = qr_remove_leftovers(dir, qr_path_basename(real));
        if (gone) qr_log(QR_LOG_INFO, "%s: removed %d temporary file%s of saves cut short", path, gone, gone == 1 ? "" : "s");
    }
    qr_status s = qr_review_read(real, r);
    /* A new (or blank) review file is created now; one with content is left as it is until the
     * first decision, and only checked to be replaceable. */
    if (s == QR_OK) s = (r->n == 0 && !r->extra_header && !r->comments) ? qr_review_save(r) : probe_writable(real);
    if (s != QR_OK) {
        review_free_rows(r);
        base_free(r);
        close(fd);
        return s;
    }
    r->lock_fd = fd;
    if (strcmp(real, path)) snprintf(r->given, sizeof r->given, "%s", path); /* a link: saves check it still leads here */
    return QR_OK;
}

void qr_review_close(qr_review *r) {
    if (!r) return;
    review_free_rows(r);
    base_free(r);
    if (r->lock_fd >= 0) {
        /* The lock file stays (removing it would race with another viewer taking the lock). */
        flock(r->lock_fd, LOCK_UN);
        close(r->lock_fd);
    }
    r->lock_fd = -1;
}

/* ---- writing ---- */

static void print_probability(FILE *f, double p) {
    if (isnan(p)) fputs("NA", f);
    else fprintf(f, "%.6f", p);
}

static int text_equal(const char *a, const char *b) { return !strcmp(a ? a : "", b ? b : ""); }

/* The same review cells as written (the probability to its 6 written decimals); the cells of
 * columns this format does not know are not compared (a merge keeps the file's). */
static int rows_equal(const qr_review_row *a, const qr_review_row *b) {
    const int pa = !isnan(a->model_probability), pb = !isnan(b->model_probability);
    if (pa != pb || (pa && llround(a->model_probability * 1e6) != llround(b->model_probability * 1e6))) return 0;
    return a->decision == b->decision && a->model_decision == b->model_decision && text_equal(a->reviewer, b->reviewer) &&
           text_equal(a->note, b->note) && !strcmp(a->time, b->time);
}

/* Another program changed r->path since this session read or wrote it: take its version and put
 * this session's unsaved rows on top. `note` (n bytes) receives what happened, for r->outside
 * once the merged rows are written. */
static qr_status merge_outside(qr_review *r, char *note, size_t n) {
    qr_review f;
    if (qr_review_read(r->path, &f) != QR_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", qr_last_error());
        return qr_fail(QR_ERR_FORMAT,
                       "%s was changed by another program and no longer reads as a review file (%s); it is not "
                       "overwritten: this session's decisions stay in memory until the file is repaired or removed",
                       r->path, why);
    }
    int64_t pending = 0, taken = 0;
    for (int64_t i = 0; i < r->n; i++) pending += r->rows[i].pending;
    if (f.n == 0 && !f.extra_header && !f.comments) { /* emptied: as if removed, nothing is dropped */
        r->disk = f.disk;
        base_free(&f);
        review_free_rows(&f);
        snprintf(note, n, "%s was emptied by another program; written again with this session's %lld rows", r->path,
                 (long long)r->n);
        return QR_OK;
    }
    /* what the other program changed: its rows against the version this session last read or wrote */
    for (int64_t i = 0; i < f.n; i++) {
        const qr_review_row *was = find_in(r->base, r->n_base, f.rows[i].lesion_id);
        taken += !was || !rows_equal(was, &f.rows[i]);
    }
    for (int64_t i = 0; i < r->n_base; i++) taken += !qr_review_find(&f, r->base[i].lesion_id);
    const int same_columns = f.n_extra == r->n_extra && text_equal(f.extra_header, r->extra_header);
    int64_t both = 0;
    char listed[160] = "";
    size_t used = 0;
    qr_status s = QR_OK;
    for (int64_t i = 0; i < r->n && s == QR_OK; i++) {
        if (!r->rows[i].pending) continue;
        qr_review_row row = r->rows[i]; /* store_row copies its strings */
        const qr_review_row *theirs = qr_review_find(&f, row.lesion_id);
        const qr_review_row *was = find_in(r->base, r->n_base, row.lesion_id);
        if ((theirs != NULL) != (was != NULL) || (theirs && !rows_equal(theirs, was))) { /* changed there too */
            if (both++ < 8) {
                const int k = snprintf(listed + used, sizeof listed - used, "%s%d", used ? ", " : "", row.lesion_id);
                if (k > 0 && (size_t)k < sizeof listed - used) used += (size_t)k;
            }
        }
        /* the cells of columns this format does not know follow the file's columns */
        row.extra = theirs ? theirs->extra : (same_columns ? row.extra : NULL);
        s = store_row(&f, &row);
    }
    if (s != QR_OK) {
        base_free(&f);
        review_free_rows(&f);
        return s;
    }
    int k = snprintf(note, n,
                     "%s was changed by another program since this session last read or saved it: its version was "
                     "taken (%lld rows differed) with this session's %lld unsaved rows on top",
                     r->path, (long long)taken, (long long)pending);
    if (both && k > 0 && (size_t)k < n)
        snprintf(note + k, n - (size_t)k, "; lesion%s %s%s%.0lld%s, changed there too, kept this session's row%s",
                 both > 1 ? "s" : "", listed, both > 8 ? " and " : "", both > 8 ? (long long)(both - 8) : 0,
                 both > 8 ? " more" : "", both > 1 ? "s" : "");
    review_free_rows(r);
    base_free(r);
    r->rows = f.rows;
    r->n = f.n;
    r->cap = f.cap;
    r->n_extra = f.n_extra;
    r->extra_header = f.extra_header;
    r->comments = f.comments;
    r->base = f.base; /* the file's rows, before this session's */
    r->n_base = f.n_base;
    r->disk = f.disk; /* the version merged: a write that fails now leaves it as what the file holds */
    r->outside_rows = taken;
    r->rows_replaced = 1;
    return QR_OK;
}

/* The review as the file's bytes (malloc'ed, *len bytes), or NULL on no memory. */
static char *review_text(const qr_review *r, size_t *len) {
    char *buf = NULL;
    FILE *m = open_memstream(&buf, len);
    if (!m) return NULL;
    if (r->comments) fputs(r->comments, m);
    fputs(REVIEW_HEADER, m);
    if (r->extra_header) fprintf(m, "\t%s", r->extra_header);
    fputc('\n', m);
    for (int64_t i = 0; i < r->n; i++) {
        const qr_review_row *row = &r->rows[i];
        fprintf(m, "%d\t%s\t%s\t%s\t", row->lesion_id, qr_review_decision_name(row->decision), row->reviewer, row->time);
        print_probability(m, row->model_probability);
        fprintf(m, "\t%s\t%s", qr_model_decision_name(row->model_decision), row->note);
        if (row->extra) fprintf(m, "\t%s", row->extra);
        else
            for (int k = 0; k < r->n_extra; k++) fputc('\t', m); /* a new row: empty cells */
        fputc('\n', m);
    }
    const int bad = ferror(m);
    if (fclose(m) != 0 || bad) {
        free(buf);
        return NULL;
    }
    return buf;
}

qr_status qr_review_save(qr_review *r) {
    if (!r->path[0]) return qr_fail(QR_ERR_INVALID_ARG, "review has no file");
    r->outside[0] = '\0';
    r->outside_rows = 0;
    if (r->given[0]) { /* opened through a link: it must still lead to the file locked and read */
        char now[QR_PATH_MAX];
        if (resolve_review_path(r->given, now, sizeof now) != QR_OK || strcmp(now, r->path))
            return qr_fail(QR_ERR_IO,
                           "%s no longer leads to %s, the review file this session locked and read (another program "
                           "replaced the link?); not saved: the decisions stay in memory until the link is restored",
                           r->given, r->path);
    }
    qr_review_disk now;
    if (disk_now(r->path, &now) != QR_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", qr_last_error());
        return qr_fail(QR_ERR_IO, "%s (needed to check it for changes by another program); not overwritten: the "
                                  "decisions stay in memory", why);
    }
    char note[sizeof r->outside] = "";
    if (r->disk.known && !disk_same(&r->disk, &now)) {
        if (now.exists) QR_TRY(merge_outside(r, note, sizeof note));
        else
            snprintf(note, sizeof note, "%s was removed by another program; written again with this session's %lld rows",
                     r->path, (long long)r->n);
    }
    size_t len = 0;
    char *text = review_text(r, &len);
    int ok = text != NULL;
    qr_review_row *base = ok ? rows_copy(r->rows, r->n, &ok) : NULL; /* what the file will hold */
    if (!ok) {
        free(text);
        return qr_fail(QR_ERR_NOMEM, "out of memory");
    }
    qr_atomic f;
    qr_status s = qr_atomic_open(&f, r->path);
    if (s == QR_OK) {
        fwrite(text, 1, len, f.fp); /* a short write is the commit's error */
        s = qr_atomic_commit(&f);
    }
    if (s == QR_OK) {
        r->unsaved = 0;
        for (int64_t i = 0; i < r->n; i++) r->rows[i].pending = 0;
        /* the bytes written, not the file read back: another program may write right after the rename */
        r->disk.known = r->disk.exists = 1;
        qr_sha256_hex(text, len, r->disk.sha256);
        base_free(r);
        r->base = base;
        r->n_base = r->n;
        snprintf(r->outside, sizeof r->outside, "%s", note);
    } else {
        rows_free(base, r->n);
    }
    free(text);
    return s;
}

qr_status qr_review_flush(qr_review *r) { return r->unsaved ? qr_review_save(r) : QR_OK; }

qr_status qr_review_record(qr_review *r, const qr_review_row *row) {
    if (row->lesion_id < 1) return qr_fail(QR_ERR_INVALID_ARG, "lesion id %d is not a positive label", row->lesion_id);
    if ((unsigned)row->decision >= QR_REVIEW_COUNT)
        return qr_fail(QR_ERR_INVALID_ARG, "decision code %d is not a review decision", row->decision);
    if (!isnan(row->model_probability) && !(row->model_probability >= 0.0 && row->model_probability <= 1.0))
        return qr_fail(QR_ERR_INVALID_ARG, "model probability %g is not in [0, 1]", row->model_probability);
    if (row->model_decision < QR_MODEL_NONE || row->model_decision >= QR_MODEL_COUNT)
        return qr_fail(QR_ERR_INVALID_ARG, "model decision code %d is not 0..3", row->model_decision);
    if (row->time[0] && !valid_time(row->time))
        return qr_fail(QR_ERR_INVALID_ARG, "time '%s' is not YYYY-MM-DDTHH:MM:SSZ", row->time);
    qr_review_row stamped = *row;
    stamped.pending = 1;
    if (!isnan(stamped.model_probability)) stamped.model_probability = six_decimals(stamped.model_probability);
    if (!stamped.time[0]) qr_review_now(stamped.time, sizeof stamped.time);
    /* the cells of columns this format does not know stay with the lesion's row */
    const qr_review_row *old = qr_review_find(r, row->lesion_id);
    if (!stamped.extra && old) stamped.extra = old->extra;
    QR_TRY(store_row(r, &stamped));
    r->unsaved = 1;
    return qr_review_save(r);
}

int64_t qr_review_count_orphans(const qr_review *r, const struct qr_queue *q) {
    int64_t n = 0;
    for (int64_t i = 0; i < r->n; i++) n += qr_queue_find(q, r->rows[i].lesion_id) < 0;
    return n;
}

/* The decided rows (rim+, rim-, unsure) for which `counts` says yes, and the first of them. */
static int64_t count_decided(const qr_review *r, int (*counts)(const qr_review_row *, const void *), const void *ctx,
                             const qr_review_row **first) {
    int64_t n = 0;
    if (first) *first = NULL;
    for (int64_t i = 0; i < r->n; i++) {
        const qr_review_row *row = &r->rows[i];
        if (row->decision == QR_REVIEW_NONE || !counts(row, ctx)) continue;
        if (first && !*first) *first = row;
        n++;
    }
    return n;
}

static int made_on_other_prediction(const qr_review_row *row, const void *ctx) {
    const struct qr_queue *q = ctx;
    const int64_t k = qr_queue_find(q, row->lesion_id);
    /* as written, 6 decimals, give or take one in the last (the same model on another device) */
    return !isnan(row->model_probability) && k >= 0 && !isnan(q->items[k].probability) &&
           llabs(llround(row->model_probability * 1e6) - llround(q->items[k].probability * 1e6)) > 1;
}

int64_t qr_review_count_stale(const qr_review *r, const struct qr_queue *q, const qr_review_row **first) {
    return count_decided(r, made_on_other_prediction, q, first);
}

static int made_by_other(const qr_review_row *row, const void *ctx) { return strcmp(row->reviewer, ctx) != 0; }

int64_t qr_review_count_others(const qr_review *r, const char *reviewer, const qr_review_row **first) {
    return count_decided(r, made_by_other, reviewer, first);
}

void qr_review_notice_others(const qr_review *r, const char *reviewer) {
    const qr_review_row *first;
    const int64_t n = qr_review_count_others(r, reviewer, &first);
    if (n)
        qr_log(QR_LOG_NOTICE,
               "%s holds %lld decision%s by other reviewers than %s (lesion %d: %s by %s): a decision made here on "
               "such a lesion replaces theirs, one decision per lesion; to keep each rater's decisions, give each a "
               "review file of their own (--review)",
               r->path, (long long)n, n == 1 ? "" : "s", reviewer, first->lesion_id,
               qr_review_decision_name(first->decision), first->reviewer[0] ? first->reviewer : "(no name)");
}

void qr_review_warn_mismatches(const qr_review *r, const struct qr_queue *q, const char *orphans_fate) {
    const int64_t orphans = qr_review_count_orphans(r, q);
    if (orphans)
        qr_log(QR_LOG_WARNING, "%s: %lld rows name lesions that are not in this lesion map (%s)", r->path,
               (long long)orphans, orphans_fate);
    const qr_review_row *first;
    const int64_t stale = qr_review_count_stale(r, q, &first);
    if (stale)
        qr_log(QR_LOG_WARNING,
               "%s: %lld decisions were made on another prediction than this table's (lesion %d: P(rim+) %.6f "
               "then, %.6f now): another model or prediction settings, or another lesion under the same id; check "
               "them again",
               r->path, (long long)stale, first->lesion_id, first->model_probability,
               q->items[qr_queue_find(q, first->lesion_id)].probability);
}

void qr_review_export_header(FILE *fp, int with_subject) {
    fprintf(fp, "%slesion_id\tvolume_mm3\tcenter_r\tcenter_a\tcenter_s\tprobability\tuncertainty\tmodel_decision\t"
                "review_decision\treviewer\ttime\tnote\n",
            with_subject ? "subject\t" : "");
}

qr_status qr_review_export_rows(FILE *fp, const struct qr_queue *q, const qr_review *r, const char *subject) {
    int64_t *order = malloc((size_t)(q->n > 0 ? q->n : 1) * sizeof *order), n = 0;
    if (!order) return qr_fail(QR_ERR_NOMEM, "out of memory");
    qr_status s = qr_queue_order(q, NULL, QR_SORT_PROBABILITY, qr_filter_all(), order, &n);
    for (int64_t p = 0; s == QR_OK && p < n; p++) {
        const qr_queue_item *it = &q->items[order[p]];
        const qr_review_row *row = qr_review_find(r, it->id);
        if (subject) fprintf(fp, "%s\t", subject);
        fprintf(fp, "%d\t%.10g\t%.3f\t%.3f\t%.3f\t", it->id, it->volume_mm3, it->center_ras[0], it->center_ras[1],
                it->center_ras[2]);
        print_probability(fp, it->probability);
        fputc('\t', fp);
        print_probability(fp, it->uncertainty);
        fprintf(fp, "\t%s\t%s\t%s\t%s\t%s\n", qr_model_decision_name(it->model_decision),
                qr_review_decision_name(row ? row->decision : QR_REVIEW_NONE), row ? row->reviewer : "",
                row ? row->time : "", row ? row->note : "");
    }
    free(order);
    return s;
}

qr_status qr_review_export(const struct qr_queue *q, const qr_review *r, const char *path) {
    qr_atomic f;
    QR_TRY(qr_atomic_open(&f, path));
    qr_review_export_header(f.fp, 0);
    const qr_status s = qr_review_export_rows(f.fp, q, r, NULL);
    if (s != QR_OK) {
        qr_atomic_abort(&f);
        return s;
    }
    return qr_atomic_commit(&f);
}
