/*
 * fuzz_review.c - review files (Widgets/review/review_file.h): what a reviewer's decisions are
 * kept in, read back when a review is resumed and rewritten at every decision.
 *
 * Input: the bytes of a review file.
 *
 * Properties, for every input:
 *   - qr_review_read returns a status; a failure has a message;
 *   - a file that is read holds rows sorted by lesion id without repeats, each with a known
 *     decision, a probability in [0, 1] or none, and a known model decision;
 *   - nothing that was read is lost when the review is saved: saving and reading the saved file
 *     gives the same rows (every cell, the columns this format does not know included), the same
 *     unknown header names and the same comment lines, and saving that again gives the same bytes;
 *   - another program writing these bytes over a review file a session has open loses nothing at
 *     the session's next decision: when they read as a review file, the saved file holds every
 *     row, unknown column and comment they hold, plus the session's decision; when they do not,
 *     the save fails, the file keeps these bytes and the decision stays in memory.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "fuzz_util.h"
#include "review_file.h"
#include "review_queue.h"

static int same_text(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static void require_valid(const qr_review *r) {
    for (int64_t i = 0; i < r->n; i++) {
        const qr_review_row *w = &r->rows[i];
        fuzz_require(i == 0 || w->lesion_id > r->rows[i - 1].lesion_id, "row %lld: lesion id %d after %d", (long long)i,
                     w->lesion_id, i ? r->rows[i - 1].lesion_id : 0);
        fuzz_require(w->lesion_id >= 1, "lesion id %d", w->lesion_id);
        fuzz_require((unsigned)w->decision < QR_REVIEW_COUNT, "decision %d", w->decision);
        fuzz_require(isnan(w->model_probability) || (w->model_probability >= 0 && w->model_probability <= 1),
                     "probability %g", w->model_probability);
        fuzz_require(w->model_decision >= QR_MODEL_NONE && w->model_decision < QR_MODEL_COUNT, "model decision %d",
                     w->model_decision);
        fuzz_require(w->reviewer && w->note, "row %lld without reviewer or note text", (long long)i);
    }
}

static int same_row(const qr_review_row *x, const qr_review_row *y) {
    return x->lesion_id == y->lesion_id && x->decision == y->decision && x->model_decision == y->model_decision &&
           !strcmp(x->reviewer, y->reviewer) && !strcmp(x->note, y->note) && !strcmp(x->time, y->time) &&
           same_text(x->extra, y->extra) &&
           ((isnan(x->model_probability) && isnan(y->model_probability)) || x->model_probability == y->model_probability);
}

/* A session read a review of lesions 2 and 3 with a column of its own; another program writes
 * `data` over the file; the session decides lesion 3 again. `theirs` is `data` as read (theirs_ok
 * 0: it does not read as a review). */
static void check_outside_change(const uint8_t *data, size_t size, const qr_review *theirs, int theirs_ok) {
    const char *m = fuzz_path("open.tsv");
    static const char base[] = "lesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote\tsite\n"
                               "2\trim-\tann\t2026-01-01T00:00:00Z\t0.100000\trim-\t\tB\n"
                               "3\trim-\tann\t2026-01-01T00:00:00Z\tNA\tnone\t\tC\n";
    fuzz_write(m, base, sizeof base - 1);
    qr_review r;
    fuzz_require(qr_review_read(m, &r) == QR_OK, "the base review cannot be read: %s", qr_last_error());
    fuzz_write(m, data, size);
    qr_review_row mine;
    memset(&mine, 0, sizeof mine);
    mine.lesion_id = 3;
    mine.decision = QR_REVIEW_RIM_POS;
    mine.reviewer = (char *)"me";
    mine.note = (char *)"";
    mine.model_probability = NAN;
    mine.model_decision = QR_MODEL_NONE;
    qr_status s = qr_review_record(&r, &mine);
    if (!theirs_ok) {
        fuzz_require(s == QR_ERR_FORMAT, "a change that is not a review file: status %d (%s)", (int)s, qr_last_error());
        size_t n;
        char *now = fuzz_read(m, &n);
        fuzz_require(now && n == size && !memcmp(now, data, size), "a file that is not a review was overwritten");
        free(now);
        fuzz_require(r.unsaved && qr_review_decision_of(&r, 3) == QR_REVIEW_RIM_POS, "the decision was not kept in memory");
        qr_review_close(&r);
        qr_clear_error();
        return;
    }
    fuzz_require(s == QR_OK, "a changed review file cannot be merged: %s", qr_last_error());
    qr_review c;
    fuzz_require(qr_review_read(m, &c) == QR_OK, "a merged review cannot be read: %s", qr_last_error());
    require_valid(&c);
    const qr_review_row *got = qr_review_find(&c, 3);
    fuzz_require(got && got->decision == QR_REVIEW_RIM_POS && !strcmp(got->reviewer, "me"), "the decision was lost");
    const int emptied = theirs->n == 0 && !theirs->extra_header && !theirs->comments;
    if (emptied) { /* written again in full */
        fuzz_require(c.n == 2 && qr_review_decision_of(&c, 2) == QR_REVIEW_RIM_NEG && c.n_extra == 1,
                     "an emptied file: %lld rows", (long long)c.n);
    } else {
        fuzz_require(c.n == theirs->n + !qr_review_find(theirs, 3), "%lld rows merged from %lld", (long long)c.n,
                     (long long)theirs->n);
        fuzz_require(same_text(c.comments, theirs->comments) && same_text(c.extra_header, theirs->extra_header),
                     "the other program's comments or columns were lost");
        for (int64_t i = 0; i < theirs->n; i++) {
            const qr_review_row *t = &theirs->rows[i], *w = qr_review_find(&c, t->lesion_id);
            fuzz_require(t->lesion_id == 3 || (w && same_row(t, w)),
                         "lesion %d: the other program's row was lost or changed", t->lesion_id);
        }
    }
    qr_review_close(&c);
    qr_review_close(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *in = fuzz_path("review.tsv");
    fuzz_write(in, data, size);
    qr_review a;
    qr_status s = qr_review_read(in, &a);
    fuzz_require_message(s, "qr_review_read");
    if (s != QR_OK) {
        qr_review_close(&a);
        qr_clear_error();
        check_outside_change(data, size, NULL, 0);
        return 0;
    }
    require_valid(&a);
    check_outside_change(data, size, &a, 1);

    char saved[2][1024];
    for (int k = 0; k < 2; k++) snprintf(saved[k], sizeof saved[k], "%s", fuzz_path(k ? "saved2.tsv" : "saved1.tsv"));
    snprintf(a.path, sizeof a.path, "%s", saved[0]);
    a.disk.known = 0; /* another file from here on: nothing of it was read to compare with */
    s = qr_review_save(&a);
    fuzz_require(s == QR_OK, "a review that was read cannot be saved: %s", qr_last_error());
    fuzz_require(!a.outside[0], "a save to a new file merged: %s", a.outside);
    qr_review b;
    s = qr_review_read(saved[0], &b);
    fuzz_require(s == QR_OK, "a review qsmrim saved cannot be read: %s", qr_last_error());
    require_valid(&b);
    fuzz_require(a.n == b.n, "%lld rows saved, %lld read back", (long long)a.n, (long long)b.n);
    fuzz_require(a.n_extra == b.n_extra && same_text(a.extra_header, b.extra_header), "unknown columns changed: '%s' -> '%s'",
                 a.extra_header ? a.extra_header : "(none)", b.extra_header ? b.extra_header : "(none)");
    fuzz_require(same_text(a.comments, b.comments), "comment lines changed");
    for (int64_t i = 0; i < a.n; i++) {
        const qr_review_row *x = &a.rows[i], *y = &b.rows[i];
        fuzz_require(x->lesion_id == y->lesion_id && x->decision == y->decision && x->model_decision == y->model_decision,
                     "row %lld changed (lesion %d -> %d)", (long long)i, x->lesion_id, y->lesion_id);
        fuzz_require(!strcmp(x->reviewer, y->reviewer) && !strcmp(x->note, y->note) && !strcmp(x->time, y->time),
                     "lesion %d: reviewer, note or time changed ('%s' -> '%s')", x->lesion_id, x->note, y->note);
        fuzz_require((isnan(x->model_probability) && isnan(y->model_probability)) ||
                         x->model_probability == y->model_probability,
                     "lesion %d: probability %.17g -> %.17g", x->lesion_id, x->model_probability, y->model_probability);
        /* a row written with empty cells for the unknown columns reads them back as such */
        fuzz_require(same_text(x->extra, y->extra) || (!x->extra && a.n_extra > 0),
                     "lesion %d: unknown cells changed: '%s' -> '%s'", x->lesion_id, x->extra ? x->extra : "(none)",
                     y->extra ? y->extra : "(none)");
    }
    snprintf(b.path, sizeof b.path, "%s", saved[1]);
    b.disk.known = 0;
    s = qr_review_save(&b);
    fuzz_require(s == QR_OK, "a saved review cannot be saved again: %s", qr_last_error());
    size_t n1, n2;
    char *t1 = fuzz_read(saved[0], &n1), *t2 = fuzz_read(saved[1], &n2);
    fuzz_require(t1 && t2, "a saved review cannot be read back");
    fuzz_require(n1 == n2 && !memcmp(t1, t2, n1), "saving a saved review changes its bytes");
    free(t1);
    free(t2);
    qr_review_close(&a);
    qr_review_close(&b);
    qr_clear_error();
    return 0;
}
