/* batch.c - predict over a cohort manifest (batch.h). */
#include "batch.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/fileutil.h"
#include "../core/tsv.h"
#include "../data/cohort.h"
#include "../data/feature_cache.h"
#include "../io/filecheck.h"
#include "../nn/nn.h"
#include "../render/picture.h"
#include "score.h"

#define RECORD_NAME ".qsmrim-predict"
#define RECORD_MAGIC "qsmrim predict record 2"
#define LOCK_NAME ".qsmrim-predict.lock"

static const char *const FORMATS[] = {"nii.gz", "nii", "nrrd", "mha"};
enum { NFORMATS = sizeof FORMATS / sizeof FORMATS[0] };

int qr_batch_format_ok(const char *ext) {
    for (int k = 0; ext && k < NFORMATS; k++)
        if (!strcmp(ext, FORMATS[k])) return 1;
    return 0;
}

qr_batch_options qr_batch_options_default(void) {
    qr_batch_options o;
    memset(&o, 0, sizeof o);
    o.predict = qr_predict_options_default();
    o.format = "nii.gz";
    return o;
}

/* A subject name that can be a folder of OUT beside queue.tsv and subjects.tsv. */
static qr_status check_subject_names(const qr_cohort *c) {
    for (int s = 0; s < c->n; s++) {
        const char *n = c->entries[s].subject;
        const char *why = NULL;
        if (n[0] == '.') why = "starts with '.'";
        else if (strchr(n, '/')) why = "holds a '/'";
        else if (!strcmp(n, QR_BATCH_QUEUE) || !strcmp(n, QR_BATCH_SUBJECTS)) why = "is the name of an output table";
        for (const unsigned char *p = (const unsigned char *)n; !why && *p; p++)
            if (*p < 0x20 || *p == 0x7f) why = "holds a control character";
        if (why)
            return qr_fail(QR_ERR_INVALID_ARG,
                           "%s: subject name '%s' %s; each subject's outputs go to a folder of that name: rename it",
                           c->manifest, n, why);
    }
    return QR_OK;
}

/* One lesion of the queue: its subject and the lesions.tsv cells after lesion_id, as written. */
typedef struct queue_item {
    int subject;
    int32_t lesion_id;
    double probability; /* as written (6 decimals): a resumed run ranks exactly as a fresh one */
    char cells[192];
} queue_item;

typedef struct batch_run {
    const qr_cohort *cohort;
    const char *out_dir;
    const qr_batch_options *opt;
    qr_scorer *scorer;
    char model_sha[65];
    queue_item *queue;
    int64_t nqueue, capqueue;
    int tables_removed; /* queue.tsv and subjects.tsv of the previous run are gone */
} batch_run;

/* Remove the previous run's queue.tsv and subjects.tsv before a subject's folder is changed: from
 * then on they would describe other outputs than the folders hold (they come back at the end). */
static qr_status remove_tables(batch_run *b) {
    for (int k = 0; !b->tables_removed && k < 2; k++) {
        char path[QR_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", b->out_dir, k ? QR_BATCH_SUBJECTS : QR_BATCH_QUEUE);
        if (unlink(path) != 0 && errno != ENOENT) return qr_fail(QR_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
    }
    b->tables_removed = 1;
    return QR_OK;
}

/* The columns of predict's lesion table, lesion_id first. */
#define TABLE_COLS qr_prediction_table_columns
#define NTABLE_COLS QR_PREDICTION_TABLE_NCOLS

/* Add a subject's lesions.tsv to the queue; counts its decisions. */
static qr_status queue_table(batch_run *b, int subject, const char *path, qr_batch_subject *row) {
    qr_tsv t;
    QR_TRY(qr_tsv_read(path, &t));
    int ci[NTABLE_COLS];
    qr_status st = QR_OK;
    for (int k = 0; k < NTABLE_COLS && st == QR_OK; k++) st = qr_tsv_require(&t, TABLE_COLS[k], &ci[k]);
    if (st == QR_OK && b->nqueue + t.nrows > b->capqueue) {
        const int64_t cap = (b->nqueue + t.nrows) * 2 + 64;
        queue_item *q = realloc(b->queue, (size_t)cap * sizeof *q);
        if (!q) st = qr_fail(QR_ERR_NOMEM, "out of memory for the lesion queue");
        else b->queue = q, b->capqueue = cap;
    }
    row->lesions = row->rim_positive = row->review = 0;
    for (int64_t r = 0; st == QR_OK && r < t.nrows; r++) {
        queue_item *q = &b->queue[b->nqueue];
        int64_t id;
        st = qr_tsv_get_int(&t, r, ci[0], &id);
        if (st == QR_OK) st = qr_tsv_get_double(&t, r, ci[5], &q->probability);
        if (st != QR_OK) break;
        q->subject = subject;
        q->lesion_id = (int32_t)id;
        size_t len = 0;
        q->cells[0] = '\0';
        for (int k = 1; k < NTABLE_COLS && len < sizeof q->cells; k++)
            len += (size_t)snprintf(q->cells + len, sizeof q->cells - len, "%s%s", k > 1 ? "\t" : "",
                                    qr_tsv_cell(&t, r, ci[k]));
        if (len >= sizeof q->cells) {
            st = qr_fail(QR_ERR_FORMAT, "%s: line %lld is too long for a lesion table", path, (long long)t.lineno[r]);
            break;
        }
        const char *decision = qr_tsv_cell(&t, r, ci[7]);
        row->rim_positive += !strcmp(decision, "rim+");
        row->review += !strcmp(decision, "review");
        row->lesions++;
        b->nqueue++;
    }
    qr_tsv_free(&t);
    return st;
}

/* An environment setting as the record keeps it: at most 32 characters of letters, digits, '.',
 * '_' and '-' (anything else is written as '?'), "" when unset. */
static void env_setting(const char *name, char out[33]) {
    const char *v = getenv(name);
    size_t k = 0;
    for (; v && v[k] && k < 32; k++) {
        const char c = v[k];
        out[k] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'
                     ? c
                     : '?';
    }
    out[k] = '\0';
}

/* What a subject's outputs are computed from (the record's lines before trained_on and the
 * outputs): QR_ERR_INVALID_ARG if it does not fit `n` (never a record cut short). */
static qr_status record_prefix(const batch_run *b, const char *hashes[3], char *buf, size_t n) {
    const qr_predict_options *p = &b->opt->predict;
    const char *mode = p->threshold_mode == QR_THRESHOLD_SENSITIVE ? "sensitive"
                       : p->threshold_mode == QR_THRESHOLD_VALUE   ? "value"
                                                                   : "f1";
    char algo[33], workspace[33]; /* cuDNN's algorithm choice depends on them */
    env_setting("QSMRIM_CUDA_CONV_ALGO", algo);
    env_setting("QSMRIM_CUDA_WORKSPACE_MB", workspace);
    const int w = snprintf(buf, n,
             RECORD_MAGIC "\nqsmrim %s\nmodel %s\nengine %s\ncuda-conv-algo %s\ncuda-workspace-mb %s\nthreshold %s %.17g\n"
                          "flips %d\nprecision %s\nlesion-input %d\nconnectivity %d\nformat %s\npicture %d\nqsm %s\n"
                          "flair %s\nlesions %s\n",
             QSMRIM_VERSION, b->model_sha, qr_scorer_engine(b->scorer), algo, workspace, mode,
             p->threshold_mode == QR_THRESHOLD_VALUE ? p->threshold_value : 0.0, p->test_time_flips,
             qr_nn_precision_name(qr_nn_default_precision()), (int)p->lesion_input, p->connectivity ? p->connectivity : 26,
             b->opt->format, b->opt->pictures != 0, hashes[0], hashes[1], hashes[2]);
    if (w < 0 || (size_t)w >= n) return qr_fail(QR_ERR_INVALID_ARG, "the settings record of a subject does not fit");
    return QR_OK;
}

static void subject_path(const batch_run *b, int s, const char *name, char *out, size_t n) {
    snprintf(out, n, "%s/%s/%s", b->out_dir, b->cohort->entries[s].subject, name);
}

/* A subject's outputs: overlay, probability, table and (with pictures) picture, by file name and
 * path; n of them are written. */
enum { OUT_OVERLAY = 0, OUT_PROBABILITY, OUT_TABLE, OUT_PICTURE, NOUT };
typedef struct subject_outputs {
    int n;
    char name[NOUT][32];
    char path[NOUT][QR_PATH_MAX];
    char record[QR_PATH_MAX];
} subject_outputs;

static void outputs_of(const batch_run *b, int s, subject_outputs *o) {
    snprintf(o->name[OUT_OVERLAY], sizeof o->name[0], "overlay.%s", b->opt->format);
    snprintf(o->name[OUT_PROBABILITY], sizeof o->name[0], "probability.%s", b->opt->format);
    snprintf(o->name[OUT_TABLE], sizeof o->name[0], "lesions.tsv");
    snprintf(o->name[OUT_PICTURE], sizeof o->name[0], "picture.png");
    o->n = b->opt->pictures ? 4 : 3;
    for (int k = 0; k < NOUT; k++) subject_path(b, s, o->name[k], o->path[k], sizeof o->path[k]);
    subject_path(b, s, RECORD_NAME, o->record, sizeof o->record);
}

/* A file name an output of some run can have (a record names no other file). */
static int output_name_ok(const char *name) {
    if (!strcmp(name, "lesions.tsv") || !strcmp(name, "picture.png")) return 1;
    for (int k = 0; k < NFORMATS; k++) {
        char a[32], p[32];
        snprintf(a, sizeof a, "overlay.%s", FORMATS[k]);
        snprintf(p, sizeof p, "probability.%s", FORMATS[k]);
        if (!strcmp(name, a) || !strcmp(name, p)) return 1;
    }
    return 0;
}

/* A subject's record: its text (up to the outputs), trained_on, and the outputs with their hashes. */
typedef struct record {
    char text[4096];
    int trained_on;
    int nout;
    char out[NOUT][64];
    char sha[NOUT][65];
} record;

/* 0 when there is no readable, well-formed record. */
static int read_record(const char *path, record *r) {
    memset(r, 0, sizeof *r);
    if (!qr_path_is_file(path)) return 0; /* a pipe would block */
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    const size_t n = fread(r->text, 1, sizeof r->text - 1, f);
    fclose(f);
    r->text[n] = '\0';
    char *t = strstr(r->text, "\ntrained_on ");
    if (!t || sscanf(t + 1, "trained_on %d", &r->trained_on) != 1) return 0;
    char *line;
    for (line = strchr(t + 1, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        char name[64], sha[65];
        if (r->nout == NOUT || sscanf(line + 1, "output %63s %64s", name, sha) != 2 || !output_name_ok(name) ||
            strlen(sha) != 64)
            return 0;
        snprintf(r->out[r->nout], sizeof r->out[0], "%s", name);
        memcpy(r->sha[r->nout++], sha, 65);
    }
    t[1] = '\0'; /* text: what the outputs were computed from */
    return 1;
}

/* Remove the outputs a record lists (only names an output can have, in the subject's folder),
 * except those named in `keep`. */
static void remove_listed(const batch_run *b, int s, const record *r, const subject_outputs *keep) {
    char path[QR_PATH_MAX];
    for (int k = 0; k < r->nout; k++) {
        int kept = 0;
        for (int j = 0; j < keep->n; j++) kept |= !strcmp(keep->name[j], r->out[k]);
        if (kept) continue;
        subject_path(b, s, r->out[k], path, sizeof path);
        char now[65]; /* a file changed since (edited by hand, another tool's) is not ours to remove */
        if (qr_path_is_file(path) && qr_sha256_path(path, now) == QR_OK && !strcmp(now, r->sha[k])) unlink(path);
    }
}

/* Before this run's outputs replace the earlier run's: an output the earlier record lists but that
 * has changed since (edited by hand, another tool's) is kept under NAME.edited (NAME.edited-2, ...
 * when taken) with a warning, rather than overwritten. Without a record nothing tells an edit. */
static qr_status keep_edited(const record *r, const subject_outputs *o) {
    for (int k = 0; k < o->n; k++) {
        int j = 0;
        while (j < r->nout && strcmp(r->out[j], o->name[k])) j++;
        char now[65];
        if (j == r->nout || !qr_path_is_file(o->path[k]) || qr_sha256_path(o->path[k], now) != QR_OK ||
            !strcmp(now, r->sha[j]))
            continue;
        char kept[QR_PATH_MAX + 32];
        for (int v = 1;; v++) {
            if (v == 1000) return qr_fail(QR_ERR_IO, "%s.edited: too many kept copies", o->path[k]);
            snprintf(kept, sizeof kept, v == 1 ? "%s.edited" : "%s.edited-%d", o->path[k], v);
            if (access(kept, F_OK) != 0 && errno == ENOENT) break;
        }
        if (rename(o->path[k], kept) != 0)
            return qr_fail(QR_ERR_IO, "cannot keep the edited %s as %s: %s", o->path[k], kept, strerror(errno));
        qr_log(QR_LOG_WARNING, "%s was changed since qsmrim wrote it: kept as %s, the new output is written in its place",
               o->path[k], qr_path_basename(kept));
    }
    return QR_OK;
}

/* Why a record's text differs from this run's `prefix`: its first differing line, by its key
 * ("the qsm image changed", "another picture setting"). */
static void why_differs(const char *text, const char *prefix, char *why, size_t n) {
    const char *a = text, *b = prefix;
    while (*a && *b) {
        const size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        if (la != lb || memcmp(a, b, la)) {
            const size_t key = strcspn(b, " \n");
            if ((key == 3 && !memcmp(b, "qsm", 3)) || (key == 5 && !memcmp(b, "flair", 5)) ||
                (key == 7 && !memcmp(b, "lesions", 7)))
                snprintf(why, n, "its %.*s image changed", (int)key, b);
            else
                snprintf(why, n, "another %.*s setting than the earlier run's", (int)key, b);
            return;
        }
        a += la + (a[la] == '\n');
        b += lb + (b[lb] == '\n');
    }
    snprintf(why, n, "its record differs");
}

/* Reuse a subject's outputs when its record holds `prefix` and lists exactly the outputs this run
 * writes, each with the SHA-256 it has now (an edited, replaced or lost output is computed again).
 * When an earlier run's record is there but does not fit, row->message says why. */
static qr_status try_reuse(batch_run *b, int s, const char *prefix, const subject_outputs *o, qr_batch_subject *row,
                           int *reused) {
    *reused = 0;
    record r;
    if (!read_record(o->record, &r)) return QR_OK;
    if (strcmp(r.text, prefix)) {
        why_differs(r.text, prefix, row->message, sizeof row->message);
        return QR_OK;
    }
    for (int k = 0; k < o->n || k < r.nout; k++) {
        char now[65];
        if (k >= o->n || k >= r.nout || strcmp(r.out[k], o->name[k])) {
            snprintf(row->message, sizeof row->message, "the earlier run wrote other outputs");
            return QR_OK;
        }
        if (!qr_path_is_file(o->path[k]) || qr_sha256_path(o->path[k], now) != QR_OK || strcmp(now, r.sha[k])) {
            snprintf(row->message, sizeof row->message, "its %s was changed or removed since", o->name[k]);
            return QR_OK;
        }
    }
    const int64_t before = b->nqueue;
    const qr_status st = queue_table(b, s, o->path[OUT_TABLE], row);
    if (st != QR_OK) {
        b->nqueue = before;
        return st == QR_ERR_NOMEM ? st : QR_OK;
    }
    row->trained_on = r.trained_on;
    row->message[0] = '\0';
    *reused = 1;
    return QR_OK;
}

/* Errors of one subject's inputs, after which the others are still classified. */
static int subject_error(qr_status s) {
    return s == QR_ERR_IO || s == QR_ERR_FORMAT || s == QR_ERR_GEOMETRY || s == QR_ERR_INVALID_ARG ||
           s == QR_ERR_UNSUPPORTED || s == QR_ERR_NONFINITE || s == QR_ERR_EMPTY;
}

/* A subject that cannot be classified: its row says why, and the record of what an earlier run
 * wrote for it is removed, so those outputs are neither reused nor opened by the viewer as this
 * run's (they stay: the inputs may be only out of reach for now). */
static qr_status fail_row(batch_run *b, int s, qr_batch_subject *row) {
    row->status = QR_BATCH_FAILED;
    snprintf(row->message, sizeof row->message, "%s", qr_last_error());
    char path[QR_PATH_MAX];
    subject_path(b, s, RECORD_NAME, path, sizeof path);
    if (access(path, F_OK) != 0) return QR_OK;
    QR_TRY(remove_tables(b));
    if (unlink(path) != 0) return qr_fail(QR_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
    return QR_OK;
}

/* Classify subject `s` into its folder. QR_OK when the row says what happened (done, reused or
 * failed); an error stops the run. */
static qr_status run_subject(batch_run *b, int s, qr_batch_subject *row) {
    const qr_cohort_entry *e = &b->cohort->entries[s];
    row->subject = e->subject;
    row->trained_on = -1;
    char h[3][65];
    const char *inputs[3] = {e->qsm, e->flair, e->lesions};
    for (int k = 0; k < 3; k++) {
        qr_status st = qr_image_precheck(inputs[k]); /* a pipe is refused, not read (it would block) */
        if (st == QR_OK) st = qr_sha256_image(inputs[k], h[k]);
        if (st == QR_ERR_NOMEM) return st;
        if (st != QR_OK) return fail_row(b, s, row);
    }
    const char *hashes[3] = {h[0], h[1], h[2]};
    char prefix[2048];
    QR_TRY(record_prefix(b, hashes, prefix, sizeof prefix));
    subject_outputs o;
    outputs_of(b, s, &o);
    if (b->opt->resume) {
        int reused = 0;
        QR_TRY(try_reuse(b, s, prefix, &o, row, &reused));
        if (reused) {
            row->status = QR_BATCH_REUSED;
            return QR_OK;
        }
    }

    char dir[QR_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", b->out_dir, e->subject);
    QR_TRY(qr_mkdir_p(dir));
    qr_remove_leftovers(dir, NULL);
    const qr_io_path outs[4] = {{o.path[OUT_OVERLAY], "the overlay", 1, 0},
                                {o.path[OUT_PROBABILITY], "the probability map", 1, 0},
                                {o.path[OUT_TABLE], "the lesion table", 0, 0},
                                {b->opt->pictures ? o.path[OUT_PICTURE] : NULL, "the picture", 0, 0}};
    QR_TRY(qr_predict_outputs_check(e->qsm, e->flair, e->lesions, qr_scorer_model_path(b->scorer), outs, 4));

    qr_predict_options po = b->opt->predict;
    po.scorer = b->scorer;
    po.qsm_sha256 = h[0];
    qr_prediction p;
    qr_status st = qr_predict_files(e->qsm, e->flair, e->lesions, &po, &p);
    if (st != QR_OK) {
        if (!subject_error(st)) return st;
        return fail_row(b, s, row);
    }
    row->trained_on = p.trained_on;
    qr_pending pending[4];
    memset(pending, 0, sizeof pending);
    st = qr_prediction_write_pending(&p, o.path[OUT_OVERLAY], o.path[OUT_PROBABILITY], o.path[OUT_TABLE], pending);
    if (st == QR_OK && b->opt->pictures) {
        qr_picture_options pic = qr_picture_options_default();
        pic.title = e->subject;
        st = qr_picture_write_pending(&p.qsm, &p.flair, &p, &pic, o.path[OUT_PICTURE], &pending[3]);
    }
    qr_prediction_free(&p);
    if (st != QR_OK) {
        qr_pending_abort_all(pending, 4);
        return st;
    }
    /* the tables and the old record go first: outputs half replaced are never taken for finished ones */
    qr_status ts = remove_tables(b);
    if (ts != QR_OK) {
        qr_pending_abort_all(pending, 4);
        return ts;
    }
    record old;
    const int had = read_record(o.record, &old);
    if (had && (ts = keep_edited(&old, &o)) != QR_OK) {
        qr_pending_abort_all(pending, 4);
        return ts;
    }
    if (unlink(o.record) != 0 && errno != ENOENT) {
        qr_pending_abort_all(pending, 4);
        return qr_fail(QR_ERR_IO, "cannot remove %s: %s", o.record, strerror(errno));
    }
    QR_TRY(qr_pending_commit_all(pending, 4));
    if (had) remove_listed(b, s, &old, &o); /* what the earlier run wrote and this one did not */

    char sha[NOUT][65];
    for (int k = 0; k < o.n; k++) QR_TRY(qr_sha256_path(o.path[k], sha[k]));
    qr_atomic f;
    QR_TRY(qr_atomic_open(&f, o.record));
    fprintf(f.fp, "%strained_on %d\n", prefix, row->trained_on);
    for (int k = 0; k < o.n; k++) fprintf(f.fp, "output %s %s\n", o.name[k], sha[k]);
    QR_TRY(qr_atomic_commit(&f));
    QR_TRY(queue_table(b, s, o.path[OUT_TABLE], row));
    row->status = QR_BATCH_DONE;
    return QR_OK;
}

static int cmp_queue(const void *x, const void *y) {
    const queue_item *a = x, *b = y;
    if (a->probability != b->probability) return a->probability < b->probability ? 1 : -1;
    if (a->subject != b->subject) return a->subject < b->subject ? -1 : 1;
    return (a->lesion_id > b->lesion_id) - (a->lesion_id < b->lesion_id);
}

static const char *status_name(qr_batch_status s) {
    return s == QR_BATCH_DONE ? "done" : s == QR_BATCH_REUSED ? "reused" : "failed";
}

/* A message in one table cell: tabs and line ends become spaces. */
static void cell_text(const char *in, char *out, size_t n) {
    snprintf(out, n, "%s", in);
    for (char *p = out; *p; p++)
        if (*p == '\t' || *p == '\n' || *p == '\r') *p = ' ';
}

static qr_status write_tables(batch_run *b, const qr_batch_subject *rows) {
    qsort(b->queue, (size_t)b->nqueue, sizeof *b->queue, cmp_queue);
    char path[QR_PATH_MAX];
    qr_pending pending[2];
    memset(pending, 0, sizeof pending);
    qr_atomic f;
    snprintf(path, sizeof path, "%s/%s", b->out_dir, QR_BATCH_QUEUE);
    QR_TRY(qr_atomic_open(&f, path));
    fprintf(f.fp, "rank\tsubject\t");
    for (int k = 0; k < NTABLE_COLS; k++) fprintf(f.fp, "%s%c", TABLE_COLS[k], k + 1 < NTABLE_COLS ? '\t' : '\n');
    for (int64_t i = 0; i < b->nqueue; i++) {
        const queue_item *q = &b->queue[i];
        fprintf(f.fp, "%lld\t%s\t%d\t%s\n", (long long)(i + 1), b->cohort->entries[q->subject].subject, q->lesion_id,
                q->cells);
    }
    QR_TRY(qr_atomic_finish(&f, &pending[0]));
    snprintf(path, sizeof path, "%s/%s", b->out_dir, QR_BATCH_SUBJECTS);
    qr_status st = qr_atomic_open(&f, path);
    if (st != QR_OK) {
        qr_pending_abort(&pending[0]);
        return st;
    }
    fprintf(f.fp, "subject\tstatus\tlesions\trim_positive\treview\ttrained_on\tmessage\n");
    for (int s = 0; s < b->cohort->n; s++) {
        const qr_batch_subject *r = &rows[s];
        char msg[sizeof r->message];
        cell_text(r->message, msg, sizeof msg);
        if (r->status == QR_BATCH_FAILED)
            fprintf(f.fp, "%s\tfailed\t-\t-\t-\t-\t%s\n", r->subject, msg);
        else
            fprintf(f.fp, "%s\t%s\t%lld\t%lld\t%lld\t%s\t%s\n", r->subject, status_name(r->status), (long long)r->lesions,
                    (long long)r->rim_positive, (long long)r->review,
                    r->trained_on == 1 ? "yes" : r->trained_on == 0 ? "no" : "-", msg);
    }
    st = qr_atomic_finish(&f, &pending[1]);
    if (st != QR_OK) {
        qr_pending_abort(&pending[0]);
        return st;
    }
    return qr_pending_commit_all(pending, 2);
}

/* Each subject's folder, when there is one already, is a plain folder of out_dir: outputs are
 * never written (nor earlier ones removed) through a link or beside a file of that name. */
static qr_status check_subject_folders(const qr_cohort *c, const char *out_dir) {
    for (int s = 0; s < c->n; s++) {
        char path[QR_PATH_MAX];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", out_dir, c->entries[s].subject);
        if (lstat(path, &st) != 0) continue;
        if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode))
            return qr_fail(QR_ERR_INVALID_ARG, "%s is %s, not a folder: the outputs of subject '%s' are not written through "
                           "it; remove it or choose another --out-dir",
                           path, S_ISLNK(st.st_mode) ? "a link" : "a file", c->entries[s].subject);
    }
    return QR_OK;
}

/* One run at a time writes into a folder: an exclusive lock on out_dir/LOCK_NAME. */
static qr_status lock_folder(const char *out_dir, int *fd_out) {
    char path[QR_PATH_MAX], busy[QR_PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/%s", out_dir, LOCK_NAME);
    snprintf(busy, sizeof busy, "%s: another qsmrim predict is writing into this folder; wait for it or choose another "
             "--out-dir", out_dir);
    return qr_lock_exclusive(path, busy, "--out-dir", fd_out);
}

qr_status qr_predict_cohort(const char *manifest, const char *out_dir, const qr_batch_options *opt_in,
                            qr_batch_summary *sum) {
    memset(sum, 0, sizeof *sum);
    const qr_batch_options opt = opt_in ? *opt_in : qr_batch_options_default();
    if (!qr_batch_format_ok(opt.format))
        return qr_fail(QR_ERR_INVALID_ARG, "image format '%s' is not one of nii.gz, nii, nrrd, mha",
                       opt.format ? opt.format : "");
    if (!out_dir || !out_dir[0]) return qr_fail(QR_ERR_INVALID_ARG, "no output folder given");
    qr_cohort c;
    QR_TRY(qr_cohort_read_images(manifest, &c));
    batch_run b;
    memset(&b, 0, sizeof b);
    b.cohort = &c;
    b.out_dir = out_dir;
    b.opt = &opt;
    int lock_fd = -1;
    qr_batch_subject *rows = NULL;
    /* everything that can be checked before a file is written or a folder made */
    qr_status st = check_subject_names(&c);
    if (st == QR_OK && !qr_path_is_dir(out_dir) && access(out_dir, F_OK) == 0)
        st = qr_fail(QR_ERR_INVALID_ARG, "--out-dir %s exists and is not a folder", out_dir);
    if (st == QR_OK && qr_path_is_dir(out_dir)) {
        st = qr_cohort_outputs_check(&c, NULL, NULL, out_dir, "--out-dir");
        if (st == QR_OK) st = check_subject_folders(&c, out_dir);
    }
    if (st == QR_OK && !(rows = calloc((size_t)c.n, sizeof *rows))) st = qr_fail(QR_ERR_NOMEM, "out of memory");
    if (st == QR_OK)
        st = qr_scorer_open(opt.predict.model_path, opt.predict.device, opt.predict.threads, &b.scorer);
    if (st == QR_OK) st = qr_sha256_path(qr_scorer_model_path(b.scorer), b.model_sha);
    /* the folder, one run at a time, and what the previous run left */
    if (st == QR_OK && !qr_path_is_dir(out_dir)) st = qr_mkdir_p(out_dir);
    if (st == QR_OK) st = lock_folder(out_dir, &lock_fd);
    if (st == QR_OK) st = check_subject_folders(&c, out_dir); /* again, under the lock */
    for (int k = 0; st == QR_OK && k < 2; k++) { /* rewritten at the end (remove_tables) */
        char path[QR_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", out_dir, k ? QR_BATCH_SUBJECTS : QR_BATCH_QUEUE);
        st = qr_file_output_check(path);
    }
    if (st == QR_OK) qr_remove_leftovers(out_dir, NULL);
    sum->subjects = c.n;
    for (int s = 0; st == QR_OK && s < c.n; s++) {
        if (QR_CANCELLED(opt.predict.cancel)) {
            st = qr_fail(QR_ERR_CANCELLED, "interrupted after %d of %d subjects", s, c.n);
            break;
        }
        rows[s].subject = c.entries[s].subject;
        if (opt.subject_start) opt.subject_start(s, c.n, &rows[s], opt.progress_user);
        st = run_subject(&b, s, &rows[s]);
        if (st != QR_OK) {
            if (st != QR_ERR_CANCELLED) st = qr_fail_context(st, "subject '%s'", c.entries[s].subject);
            else st = qr_fail(QR_ERR_CANCELLED, "interrupted during subject %d of %d ('%s')", s + 1, c.n,
                              c.entries[s].subject);
            break;
        }
        const qr_batch_subject *r = &rows[s];
        sum->done += r->status == QR_BATCH_DONE;
        sum->reused += r->status == QR_BATCH_REUSED;
        sum->trained_on += r->trained_on == 1;
        if (r->status == QR_BATCH_FAILED) {
            if (!sum->failed++)
                snprintf(sum->first_failure, sizeof sum->first_failure, "subject '%s': %s", r->subject, r->message);
        } else {
            sum->lesions += r->lesions;
            sum->rim_positive += r->rim_positive;
            sum->review += r->review;
        }
        if (opt.subject_done) opt.subject_done(s + 1, c.n, r, opt.progress_user);
    }
    if (st == QR_OK) st = write_tables(&b, rows);
    if (lock_fd >= 0) close(lock_fd);
    qr_scorer_close(b.scorer);
    free(b.queue);
    free(rows);
    qr_cohort_free(&c);
    return st;
}

qr_status qr_batch_check_review_ids(const char *annotations, const qr_lesion_table *lesions, const char *lesion_map,
                                    const char *subject) {
    char dir[QR_PATH_MAX], path[QR_PATH_MAX + 32];
    qr_path_dirname(annotations, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/lesions.tsv", dir);
    if (!qr_path_is_file(path)) return QR_OK; /* no prediction table beside it: nothing to compare */
    qr_tsv rv, pt;
    if (qr_tsv_read(annotations, &rv) != QR_OK) return QR_OK; /* reported by the annotation reader */
    const int cid = qr_tsv_column(&rv, "lesion_id"), cdec = qr_tsv_column(&rv, "decision"),
              cp = qr_tsv_column(&rv, "model_probability");
    if (cid < 0 || !qr_annotations_is_review(&rv)) {
        qr_tsv_free(&rv);
        return QR_OK;
    }
    qr_status st = qr_tsv_read(path, &pt);
    if (st != QR_OK) {
        qr_tsv_free(&rv);
        return qr_fail_context(st, "subject '%s': the prediction table beside %s", subject, annotations);
    }
    int pid, pv, pr, pa, ps, pp;
    st = qr_tsv_require(&pt, "lesion_id", &pid);
    if (st == QR_OK) st = qr_tsv_require(&pt, "volume_mm3", &pv);
    if (st == QR_OK) st = qr_tsv_require(&pt, "center_r", &pr);
    if (st == QR_OK) st = qr_tsv_require(&pt, "center_a", &pa);
    if (st == QR_OK) st = qr_tsv_require(&pt, "center_s", &ps);
    if (st == QR_OK) st = qr_tsv_require(&pt, "probability", &pp);
    if (st == QR_OK && pt.nrows != lesions->n)
        st = qr_fail(QR_ERR_FORMAT,
                     "subject '%s': %s was made on the prediction %s, which lists %lld lesions, while %s holds %lld as "
                     "training reads it (by its labels); its decisions would go to other lesions. Predict this lesion map "
                     "(--lesion-input labels) into a new folder and review that",
                     subject, annotations, path, (long long)pt.nrows, lesion_map, (long long)lesions->n);
    /* 1. the prediction's lesions are this lesion map's, id by id (volume and centre as written);
     * prob[k]: the prediction of the map's k-th lesion */
    double *prob = malloc((size_t)(lesions->n > 0 ? lesions->n : 1) * sizeof *prob);
    if (st == QR_OK && !prob) st = qr_fail(QR_ERR_NOMEM, "out of memory");
    for (int64_t r = 0; st == QR_OK && r < pt.nrows; r++) {
        int64_t id;
        double v, c[3], p;
        st = qr_tsv_get_int(&pt, r, pid, &id);
        if (st == QR_OK) st = qr_tsv_get_double(&pt, r, pv, &v);
        if (st == QR_OK) st = qr_tsv_get_double(&pt, r, pr, &c[0]);
        if (st == QR_OK) st = qr_tsv_get_double(&pt, r, pa, &c[1]);
        if (st == QR_OK) st = qr_tsv_get_double(&pt, r, ps, &c[2]);
        if (st == QR_OK && qr_tsv_get_double(&pt, r, pp, &p) != QR_OK) p = NAN;
        if (st != QR_OK) break;
        const qr_lesion *l = id >= 1 && id <= INT32_MAX ? qr_lesion_table_find(lesions, (int32_t)id) : NULL;
        if (l && fabs(l->volume_mm3 - v) <= 1e-6 * fmax(1.0, v) && fabs(l->center_ras[0] - c[0]) <= 0.002 &&
            fabs(l->center_ras[1] - c[1]) <= 0.002 && fabs(l->center_ras[2] - c[2]) <= 0.002) {
            prob[l - lesions->items] = p;
            continue;
        }
        st = qr_fail(QR_ERR_FORMAT,
                     "subject '%s': %s was made on the prediction %s, whose lesion %lld is %s %s as training reads it "
                     "(by its labels); its decisions would go to other lesions. Predict this lesion map "
                     "(--lesion-input labels) into a new folder and review that",
                     subject, annotations, path, (long long)id, l ? "another size or place than that lesion of" : "not in",
                     lesion_map);
    }
    /* 2. the decisions were made on that prediction (a rerun into the folder keeps the review file) */
    for (int64_t r = 0; st == QR_OK && r < rv.nrows; r++) {
        int64_t id;
        double then;
        if (!strcmp(qr_tsv_cell(&rv, r, cdec), "none") || qr_tsv_get_int(&rv, r, cid, &id) != QR_OK || cp < 0 ||
            qr_tsv_get_double(&rv, r, cp, &then) != QR_OK || !isfinite(then))
            continue; /* no probability recorded with the decision; bad cells: the annotation reader names them */
        const qr_lesion *l = id >= 1 && id <= INT32_MAX ? qr_lesion_table_find(lesions, (int32_t)id) : NULL;
        const double now = l ? prob[l - lesions->items] : NAN;
        if (isfinite(now) && llabs(llround(then * 1e6) - llround(now * 1e6)) <= 1) continue;
        char nowtxt[32];
        if (l) snprintf(nowtxt, sizeof nowtxt, "%.6f", now);
        else snprintf(nowtxt, sizeof nowtxt, "not in it");
        st = qr_fail(QR_ERR_FORMAT,
                     "subject '%s': %s line %lld: lesion %lld was decided on another prediction than %s (P(rim+) %.6f "
                     "then, %s now): a later run into that folder kept the review file, and its lesion ids may name "
                     "other lesions now; review this prediction again",
                     subject, annotations, (long long)rv.lineno[r], (long long)id, path, then, nowtxt);
    }
    free(prob);
    qr_tsv_free(&rv);
    qr_tsv_free(&pt);
    return st;
}

qr_status qr_batch_results(const char *results_dir, const char *subject, const char *const inputs[3],
                           char table[QR_PATH_MAX], char overlay[QR_PATH_MAX], char probability[QR_PATH_MAX],
                           int *connectivity, int *lesion_input) {
    char dir[QR_PATH_MAX - 128], path[QR_PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/%s", results_dir, subject) >= (int)sizeof dir)
        return qr_fail(QR_ERR_INVALID_ARG, "%s/%s: path too long", results_dir, subject);
    snprintf(path, sizeof path, "%s/%s", dir, RECORD_NAME);
    record r;
    if (!read_record(path, &r))
        return qr_fail(QR_ERR_IO, "%s holds no finished prediction of subject '%s' (%s is missing or damaged: was it "
                       "classified? see %s/%s)",
                       dir, subject, RECORD_NAME, results_dir, QR_BATCH_SUBJECTS);
    static const char *const keys[3] = {"qsm", "flair", "lesions"};
    for (int k = 0; inputs && k < 3; k++) { /* computed from these very images? */
        char key[16], now[65];
        snprintf(key, sizeof key, "\n%s ", keys[k]);
        const char *at = strstr(r.text, key);
        QR_TRY(qr_sha256_image(inputs[k], now));
        if (!at || strncmp(at + strlen(key), now, 64))
            return qr_fail(QR_ERR_FORMAT, "%s: the prediction of subject '%s' there was computed from another %s than %s "
                           "(changed since): run it again (qsmrim predict --resume computes only what changed)",
                           dir, subject, keys[k], inputs[k]);
    }
    table[0] = overlay[0] = probability[0] = '\0';
    for (int k = 0; k < r.nout; k++) {
        char *dst = !strcmp(r.out[k], "lesions.tsv")          ? table
                    : !strncmp(r.out[k], "overlay.", 8)       ? overlay
                    : !strncmp(r.out[k], "probability.", 12)  ? probability
                                                              : NULL;
        snprintf(path, sizeof path, "%s/%s", dir, r.out[k]);
        char now[65];
        if (!qr_path_is_file(path)) return qr_fail(QR_ERR_IO, "%s: no such file (the prediction of subject '%s' wrote it)", path, subject);
        QR_TRY(qr_sha256_path(path, now));
        if (strcmp(now, r.sha[k]))
            return qr_fail(QR_ERR_FORMAT, "%s has changed since qsmrim predict wrote it: run the prediction again "
                           "(--resume computes only what changed)", path);
        if (dst) snprintf(dst, QR_PATH_MAX, "%s", path);
    }
    if (!table[0] || !overlay[0] || !probability[0])
        return qr_fail(QR_ERR_FORMAT, "%s/%s lists no table, overlay or probability map", dir, RECORD_NAME);
    /* how that run read the lesion map (record_prefix): the table's lesion ids depend on it */
    const char *c = strstr(r.text, "\nconnectivity "), *li = strstr(r.text, "\nlesion-input ");
    int conn = 0, input = -1;
    if (!c || sscanf(c, "\nconnectivity %d", &conn) != 1 || (conn != 6 && conn != 26) || !li ||
        sscanf(li, "\nlesion-input %d", &input) != 1 || input < QR_LESION_INPUT_AUTO || input > QR_LESION_INPUT_LABELS)
        return qr_fail(QR_ERR_FORMAT, "%s/%s does not say how the lesion map was read (connectivity, lesion-input)", dir,
                       RECORD_NAME);
    if (connectivity) *connectivity = conn;
    if (lesion_input) *lesion_input = input;
    return QR_OK;
}
