/* test_review_logic.c - the viewer's GUI-free code: review file (format, atomic saves, lock,
 * bad files), lesion queue (prediction table checks, order, filter, navigation, resume), view
 * orientation, lesion colours, and loading a subject with a predict run's outputs. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/fileutil.h"
#include "io/imageio.h"
#include "review_display.h"
#include "review_file.h"
#include "review_queue.h"
#include "review_subject.h"

static char g_dir[64];
static char g_fix[256];      /* fixture subject (LPS grid) */
static char g_fix_flip[256]; /* the same anatomy on an LAS grid */

static int setup_all(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/qsmrim-test-review-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_fix, sizeof g_fix, "%s/fix", g_dir);
    snprintf(g_fix_flip, sizeof g_fix_flip, "%s/fixflip", g_dir);
    char cmd[3 * QR_PATH_MAX];
    snprintf(cmd, sizeof cmd, "'%s' '%s' && '%s' '%s' --flip", VIEWER_FIXTURE, g_fix, VIEWER_FIXTURE, g_fix_flip);
    setenv("QSMRIM_REVIEW_TIME", "2026-01-02T03:04:05Z", 1);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown_all(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_in(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", g_dir, name); }

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void spit(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static qr_review_row make_row(int32_t id, int decision, const char *who, double p, int md, const char *note) {
    qr_review_row r;
    memset(&r, 0, sizeof r);
    r.lesion_id = id;
    r.decision = decision;
    r.reviewer = (char *)who;
    r.model_probability = p;
    r.model_decision = md;
    r.note = (char *)note;
    return r;
}

/* ---------------------------------------------------------------- review file */

static void test_decision_names(void **state) {
    (void)state;
    for (int d = 0; d < QR_REVIEW_COUNT; d++) {
        int back = -1;
        assert_int_equal(qr_review_decision_parse(qr_review_decision_name(d), &back), QR_OK);
        assert_int_equal(back, d);
    }
    int d;
    assert_int_equal(qr_review_decision_parse("rim", &d), QR_ERR_FORMAT);
    assert_string_equal(qr_review_decision_name(QR_REVIEW_UNSURE), "unsure");
    assert_int_equal(qr_model_decision_parse("review", &d), QR_OK);
    assert_int_equal(d, QR_MODEL_REVIEW);
    assert_int_equal(qr_model_decision_parse("maybe", &d), QR_ERR_FORMAT);
}

static void test_review_record_and_format(void **state) {
    (void)state;
    char p[QR_PATH_MAX];
    path_in(p, sizeof p, "r1.tsv");
    qr_review r;
    assert_int_equal(qr_review_open(p, &r), QR_OK);
    assert_int_equal(r.n, 0);
    /* opening writes the (empty) file at once */
    assert_string_equal(slurp(p), "lesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote\n");
    qr_review_row a = make_row(7, QR_REVIEW_RIM_POS, "alice", 0.9345121, QR_MODEL_RIM_POS, "thin rim\tposterior\nedge ");
    assert_int_equal(qr_review_record(&r, &a), QR_OK);
    qr_review_row b = make_row(2, QR_REVIEW_UNSURE, "bob", NAN, QR_MODEL_NONE, "");
    assert_int_equal(qr_review_record(&r, &b), QR_OK);
    /* saved at once, rows by lesion id, text cleaned, probability with 6 decimals */
    assert_string_equal(slurp(p), "lesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote\n"
                                  "2\tunsure\tbob\t2026-01-02T03:04:05Z\tNA\tnone\t\n"
                                  "7\trim+\talice\t2026-01-02T03:04:05Z\t0.934512\trim+\tthin rim posterior edge\n");
    assert_true(qr_review_find(&r, 7)->model_probability == 0.934512); /* in memory as on disk */
    /* replacing a decision keeps one row */
    qr_review_row a2 = make_row(7, QR_REVIEW_RIM_NEG, "carol", 0.9345121, QR_MODEL_RIM_POS, "changed my mind");
    assert_int_equal(qr_review_record(&r, &a2), QR_OK);
    assert_int_equal(r.n, 2);
    assert_int_equal(qr_review_decision_of(&r, 7), QR_REVIEW_RIM_NEG);
    assert_int_equal(qr_review_decision_of(&r, 3), QR_REVIEW_NONE);
    /* invalid rows are refused and nothing changes */
    qr_review_row bad = make_row(0, QR_REVIEW_RIM_POS, "x", 0.5, QR_MODEL_RIM_POS, "");
    assert_int_equal(qr_review_record(&r, &bad), QR_ERR_INVALID_ARG);
    bad = make_row(4, 9, "x", 0.5, QR_MODEL_RIM_POS, "");
    assert_int_equal(qr_review_record(&r, &bad), QR_ERR_INVALID_ARG);
    bad = make_row(4, QR_REVIEW_RIM_POS, "x", 1.5, QR_MODEL_RIM_POS, "");
    assert_int_equal(qr_review_record(&r, &bad), QR_ERR_INVALID_ARG);
    assert_int_equal(r.n, 2);
    qr_review_close(&r);

    /* reading it back gives the same rows */
    qr_review q;
    assert_int_equal(qr_review_read(p, &q), QR_OK);
    assert_int_equal(q.n, 2);
    assert_int_equal(q.rows[0].lesion_id, 2);
    assert_true(isnan(q.rows[0].model_probability));
    assert_int_equal(q.rows[1].decision, QR_REVIEW_RIM_NEG);
    assert_string_equal(q.rows[1].reviewer, "carol");
    assert_string_equal(q.rows[1].note, "changed my mind");
    assert_true(fabs(q.rows[1].model_probability - 0.934512) < 1e-9);
    assert_int_equal(q.rows[1].model_decision, QR_MODEL_RIM_POS);
    assert_string_equal(q.rows[1].time, "2026-01-02T03:04:05Z");
    qr_review_close(&q);
    /* more decimals than the file keeps (a hand edit): read as the 6 it keeps, so a rewrite reads
     * back the same (fuzz_review, review/bug-probability-many-decimals) */
    spit(p, "lesion_id\tdecision\tmodel_probability\n1\trim+\t0.96666666666666667\n");
    assert_int_equal(qr_review_read(p, &q), QR_OK);
    assert_true(q.rows[0].model_probability == 0.966667);
    qr_review_close(&q);
}

static void test_review_time_now(void **state) {
    (void)state;
    unsetenv("QSMRIM_REVIEW_TIME");
    char t[QR_REVIEW_TIME_LEN];
    qr_review_now(t, sizeof t);
    assert_int_equal(strlen(t), 20);
    assert_int_equal(t[10], 'T');
    assert_int_equal(t[19], 'Z');
    assert_true(strncmp(t, "20", 2) == 0);
    setenv("QSMRIM_REVIEW_TIME", "2026-01-02T03:04:05Z", 1);
}

static void expect_read_error(const char *name, const char *text, const char *needle) {
    char p[QR_PATH_MAX];
    path_in(p, sizeof p, name);
    spit(p, text);
    qr_review r;
    assert_int_equal(qr_review_read(p, &r), QR_ERR_FORMAT);
    if (!strstr(qr_last_error(), needle)) fail_msg("message '%s' lacks '%s'", qr_last_error(), needle);
    assert_non_null(strstr(qr_last_error(), p));
    /* opening refuses it too, and leaves the file as it was */
    assert_int_equal(qr_review_open(p, &r), QR_ERR_FORMAT);
    assert_string_equal(slurp(p), text);
}

static void test_review_bad_files(void **state) {
    (void)state;
    const char *H = "lesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote\n";
    char buf[1024];
    expect_read_error("b1.tsv", "id\tverdict\n1\trim+\n", "not a review file");
    snprintf(buf, sizeof buf, "%s3\tmaybe\ta\t2026-01-02T03:04:05Z\t0.5\trim+\t\n", H);
    expect_read_error("b2.tsv", buf, "line 2: decision 'maybe'");
    snprintf(buf, sizeof buf, "%s3\trim+\ta\t2026-01-02T03:04:05Z\t0.5\trim+\t\n3\trim-\ta\t2026-01-02T03:04:05Z\t0.5\trim+\t\n", H);
    expect_read_error("b3.tsv", buf, "line 3: lesion 3 has a second row");
    snprintf(buf, sizeof buf, "%s3\trim+\ta\tyesterday\t0.5\trim+\t\n", H);
    expect_read_error("b4.tsv", buf, "time 'yesterday'");
    snprintf(buf, sizeof buf, "%s3\trim+\ta\t2026-01-02T03:04:05Z\t1.7\trim+\t\n", H);
    expect_read_error("b5.tsv", buf, "not in [0, 1]");
    snprintf(buf, sizeof buf, "%s-3\trim+\ta\t2026-01-02T03:04:05Z\t0.5\trim+\t\n", H);
    expect_read_error("b6.tsv", buf, "not a positive label");
    snprintf(buf, sizeof buf, "%s3\trim+\ta\t2026-01-02T03:04:05Z\t0.5\n", H);
    expect_read_error("b7.tsv", buf, "cells");
    /* a binary file */
    char p[QR_PATH_MAX];
    path_in(p, sizeof p, "b8.tsv");
    FILE *f = fopen(p, "wb");
    fwrite("\x00\x01\x02", 1, 3, f);
    fclose(f);
    qr_review r;
    assert_int_equal(qr_review_read(p, &r), QR_ERR_FORMAT);
    /* a folder where the file should be */
    path_in(p, sizeof p, "adir.tsv");
    assert_int_equal(qr_mkdir_p(p), QR_OK);
    assert_int_equal(qr_review_read(p, &r), QR_ERR_IO);
    /* an empty file is an empty review; a missing folder cannot be written */
    path_in(p, sizeof p, "empty.tsv");
    spit(p, "");
    assert_int_equal(qr_review_open(p, &r), QR_OK);
    assert_int_equal(r.n, 0);
    qr_review_close(&r);
    path_in(p, sizeof p, "no/such/folder/r.tsv");
    assert_int_equal(qr_review_open(p, &r), QR_ERR_IO);
    assert_non_null(strstr(qr_last_error(), "r.tsv"));
}

/* A write-protected review file (a finished review) is refused, not replaced; a saved one keeps
 * its permissions (a group-shared 0660 stays 0660). */
static void test_review_permissions(void **state) {
    (void)state;
    char p[QR_PATH_MAX];
    path_in(p, sizeof p, "done.tsv");
    spit(p, "lesion_id\tdecision\n1\trim+\n");
    assert_int_equal(chmod(p, 0444), 0);
    qr_review r;
    assert_int_equal(qr_review_open(p, &r), QR_ERR_IO);
    assert_non_null(strstr(qr_last_error(), "done.tsv: the review file is write-protected"));
    assert_string_equal(slurp(p), "lesion_id\tdecision\n1\trim+\n");
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0444);
    path_in(p, sizeof p, "shared.tsv");
    spit(p, "lesion_id\tdecision\n1\trim+\n");
    assert_int_equal(chmod(p, 0660), 0);
    assert_int_equal(qr_review_open(p, &r), QR_OK);
    qr_review_row row = make_row(2, QR_REVIEW_RIM_NEG, "ann", NAN, QR_MODEL_NONE, "");
    assert_int_equal(qr_review_record(&r, &row), QR_OK);
    qr_review_close(&r);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0660);
    assert_non_null(strstr(slurp(p), "2\trim-\tann"));
}

static void test_review_minimal_columns_and_comments(void **state) {
    (void)state;
    char p[QR_PATH_MAX];
    path_in(p, sizeof p, "min.tsv");
    spit(p, "# made by hand\nlesion_id\tdecision\n5\trim-\n1\trim+\n");
    qr_review r;
    assert_int_equal(qr_review_open(p, &r), QR_OK);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.rows[0].lesion_id, 1);
    assert_string_equal(r.rows[0].time, "");
    assert_true(isnan(r.rows[0].model_probability));
    /* opening alone leaves it as it was */
    assert_string_equal(slurp(p), "# made by hand\nlesion_id\tdecision\n5\trim-\n1\trim+\n");
    /* the first decision writes it in the full format, the comment kept above the header */
    qr_review_row row = make_row(3, QR_REVIEW_UNSURE, "ann", NAN, QR_MODEL_NONE, "");
    assert_int_equal(qr_review_record(&r, &row), QR_OK);
    qr_review_close(&r);
    assert_string_equal(slurp(p), "# made by hand\n"
                                  "lesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote\n"
                                  "1\trim+\t\t\tNA\tnone\t\n3\tunsure\tann\t2026-01-02T03:04:05Z\tNA\tnone\t\n"
                                  "5\trim-\t\t\tNA\tnone\t\n");

    /* lines ended by a lone CR (old Mac OS): the comment is one line, not the rest of the file -
     * its save could not be opened again (found by Testing/fuzz) */
    path_in(p, sizeof p, "cr.tsv");
    spit(p, "# by hand\r\r# second\rlesion_id\tdecision\r2\trim+\r");
    assert_int_equal(qr_review_open(p, &r), QR_OK);
    assert_string_equal(r.comments, "# by hand\n# second\n");
    row = make_row(4, QR_REVIEW_RIM_NEG, "ann", NAN, QR_MODEL_NONE, "");
    assert_int_equal(qr_review_record(&r, &row), QR_OK);
    qr_review_close(&r);
    assert_int_equal(qr_review_open(p, &r), QR_OK);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.rows[1].lesion_id, 4);
    qr_review_close(&r);
}

/* One decision per lesion: the rows another reviewer decided (rim+, rim-, unsure; not undecided
 * rows, which hold only a note) are counted, so the viewer can say that a decision here replaces
 * theirs. */
static void test_review_other_reviewers(void **state) {
    (void)state;
    char p[QR_PATH_MAX];
    path_in(p, sizeof p, "others.tsv");
    spit(p, "lesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote\n"
            "1\trim-\tann1\t2026-01-02T03:04:05Z\t0.1\trim-\t\n2\tnone\tann1\t\t0.2\trim-\tlook again\n"
            "3\trim+\tann2\t2026-01-02T03:04:05Z\t0.9\trim+\t\n4\tunsure\tann1\t2026-01-02T03:04:05Z\t0.5\treview\t\n");
    qr_review r;
    assert_int_equal(qr_review_read(p, &r), QR_OK);
    const qr_review_row *first;
    assert_int_equal(qr_review_count_others(&r, "ann2", &first), 2);
    assert_int_equal(first->lesion_id, 1);
    assert_int_equal(qr_review_count_others(&r, "ann1", &first), 1);
    assert_int_equal(first->lesion_id, 3);
    assert_int_equal(qr_review_count_others(&r, "ann3", NULL), 3);
    qr_review_close(&r);
}

/* Nothing a user put in a review file is lost: columns the format does not know travel with their
 * rows, comments stay, and a file is not rewritten just by opening it. */
static void test_review_extra_columns(void **state) {
    (void)state;
    char p[QR_PATH_MAX];
    path_in(p, sizeof p, "extra.tsv");
    const char *text = "# second reader: C.D.\n"
                       "confidence\tlesion_id\tdecision\treviewer\tsite\n"
                       "high\t4\trim+\tcd\tA\n"
                       "\t2\trim-\tcd\tB\n";
    spit(p, text);
    qr_review r;
    assert_int_equal(qr_review_open(p, &r), QR_OK);
    assert_int_equal(r.n_extra, 2);
    assert_string_equal(r.extra_header, "confidence\tsite");
    assert_string_equal(slurp(p), text);
    /* a changed decision keeps the row's cells; a new row gets empty ones */
    qr_review_row a = make_row(4, QR_REVIEW_RIM_NEG, "ef", 0.25, QR_MODEL_RIM_NEG, "on second look");
    assert_int_equal(qr_review_record(&r, &a), QR_OK);
    qr_review_row b = make_row(9, QR_REVIEW_RIM_POS, "ef", NAN, QR_MODEL_NONE, "");
    assert_int_equal(qr_review_record(&r, &b), QR_OK);
    qr_review_close(&r);
    const char *want = "# second reader: C.D.\n"
                       "lesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote\tconfidence\tsite\n"
                       "2\trim-\tcd\t\tNA\tnone\t\t\tB\n"
                       "4\trim-\tef\t2026-01-02T03:04:05Z\t0.250000\trim-\ton second look\thigh\tA\n"
                       "9\trim+\tef\t2026-01-02T03:04:05Z\tNA\tnone\t\t\t\n";
    assert_string_equal(slurp(p), want);
    /* read back: the same cells, and saving again changes nothing */
    assert_int_equal(qr_review_open(p, &r), QR_OK);
    assert_string_equal(qr_review_find(&r, 4)->extra, "high\tA");
    assert_string_equal(qr_review_find(&r, 9)->extra, "\t");
    assert_int_equal(qr_review_save(&r), QR_OK);
    qr_review_close(&r);
    assert_string_equal(slurp(p), want);

    /* a review file saved as CSV by a spreadsheet: the message says why */
    expect_read_error("csv.tsv", "lesion_id,decision,reviewer\n3,rim+,ann\n",
                      "not a review file (the header needs lesion_id and decision columns); its header reads "
                      "'lesion_id,decision,reviewer' - one column: columns must be separated by tabs");
    /* a prediction table given as the review file is refused and left alone */
    const char *table = "lesion_id\tvolume_mm3\tcenter_r\tcenter_a\tcenter_s\tprobability\tuncertainty\tdecision\n"
                        "1\t40\t1\t2\t3\t0.91\t0.02\trim+\n2\t30\t1\t2\t3\t0.05\t0.01\trim-\n";
    expect_read_error("pred.tsv", table, "a prediction table (qsmrim predict --out-table), not a review file");
}

/* A review file reached through a symbolic link: the link stays a link, the decision reaches its
 * target, and the target is locked (a viewer opening the target directly is refused). */
static void test_review_symlink(void **state) {
    (void)state;
    char dir[QR_PATH_MAX], target[QR_PATH_MAX], link[QR_PATH_MAX];
    path_in(dir, sizeof dir, "shared");
    assert_int_equal(qr_mkdir_p(dir), QR_OK);
    path_in(target, sizeof target, "shared/r.tsv");
    path_in(link, sizeof link, "lnk.tsv");
    assert_int_equal(symlink("shared/r.tsv", link), 0);
    qr_review r, other;
    assert_int_equal(qr_review_open(link, &r), QR_OK); /* target created */
    qr_review_row a = make_row(6, QR_REVIEW_RIM_POS, "gh", 0.75, QR_MODEL_REVIEW, "");
    assert_int_equal(qr_review_record(&r, &a), QR_OK);
    assert_int_equal(qr_review_open(target, &other), QR_ERR_IO);
    assert_non_null(strstr(qr_last_error(), "open in another review session"));
    qr_review_close(&r);
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_non_null(strstr(slurp(target), "6\trim+\tgh\t"));
    /* a link to nowhere is refused */
    path_in(link, sizeof link, "dangling.tsv");
    assert_int_equal(symlink("no/such/dir/r.tsv", link), 0);
    assert_int_equal(qr_review_open(link, &r), QR_ERR_IO);
    assert_non_null(strstr(qr_last_error(), "symbolic link"));
}

/* A decision whose save fails stays in memory, marked unsaved, until a later save or flush writes it. */
static void test_review_unsaved(void **state) {
    (void)state;
    char dir[QR_PATH_MAX], away[QR_PATH_MAX], p[QR_PATH_MAX];
    path_in(dir, sizeof dir, "moving");
    path_in(away, sizeof away, "moved-away");
    assert_int_equal(qr_mkdir_p(dir), QR_OK);
    path_in(p, sizeof p, "moving/r.tsv");
    qr_review r;
    assert_int_equal(qr_review_open(p, &r), QR_OK);
    qr_review_row a = make_row(1, QR_REVIEW_RIM_POS, "ij", 0.9, QR_MODEL_RIM_POS, "");
    assert_int_equal(qr_review_record(&r, &a), QR_OK);
    assert_int_equal(r.unsaved, 0);
    assert_int_equal(qr_review_flush(&r), QR_OK); /* nothing to do */
    /* the folder disappears (unmounted share, moved by someone): the save fails, even as root */
    assert_int_equal(rename(dir, away), 0);
    qr_review_row b = make_row(2, QR_REVIEW_RIM_NEG, "ij", 0.1, QR_MODEL_RIM_NEG, "");
    assert_int_not_equal(qr_review_record(&r, &b), QR_OK);
    assert_int_equal(r.unsaved, 1);
    assert_int_equal(qr_review_decision_of(&r, 2), QR_REVIEW_RIM_NEG); /* kept in memory */
    assert_int_not_equal(qr_review_flush(&r), QR_OK);
    assert_int_equal(r.unsaved, 1);
    /* back again: the flush writes both decisions */
    assert_int_equal(rename(away, dir), 0);
    assert_int_equal(qr_review_flush(&r), QR_OK);
    assert_int_equal(r.unsaved, 0);
    qr_review_close(&r);
    assert_non_null(strstr(slurp(p), "2\trim-\tij\t"));
    assert_non_null(strstr(slurp(p), "1\trim+\tij\t"));
}

/* Set a file's modification time (an edit of the same size within the same clock tick). */
static void set_mtime(const char *path, time_t when) {
    struct timespec ts[2] = {{when, 0}, {when, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* Another program (an editor, a script) changes the review file while a session has it open: the
 * next save merges instead of overwriting; a file that no longer reads as a review file is left
 * alone and the decision stays in memory; a removed or emptied file is written again in full. */
static void test_review_outside_change(void **state) {
    (void)state;
    char p[QR_PATH_MAX];
    path_in(p, sizeof p, "outside.tsv");
    spit(p, "lesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote\n"
            "1\trim+\tann\t2026-01-01T00:00:00Z\t0.900000\trim+\t\n"
            "2\trim-\tann\t2026-01-01T00:00:00Z\t0.100000\trim-\t\n");
    qr_review r;
    assert_int_equal(qr_review_open(p, &r), QR_OK);
    qr_review_row a = make_row(3, QR_REVIEW_RIM_NEG, "me", 0.2, QR_MODEL_RIM_NEG, "");
    assert_int_equal(qr_review_record(&r, &a), QR_OK);
    assert_string_equal(r.outside, ""); /* nobody else wrote */
    /* a second reader edits the file by hand: lesion 2 changed, 1 removed, 5 added, a column and a comment */
    spit(p, "# edited by bob\n"
            "lesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote\tsite\n"
            "2\trim+\tbob\t2026-01-01T01:00:00Z\t0.100000\trim-\tlooks like a rim\tB\n"
            "3\trim-\tme\t2026-01-02T03:04:05Z\t0.200000\trim-\t\tC\n"
            "5\tunsure\tbob\t2026-01-01T01:00:00Z\tNA\tnone\t\tA\n");
    /* this session decides lesion 2 (it did not see bob's change) and lesion 4 */
    a = make_row(2, QR_REVIEW_UNSURE, "me", 0.1, QR_MODEL_RIM_NEG, "");
    assert_int_equal(qr_review_record(&r, &a), QR_OK);
    assert_non_null(strstr(r.outside, "changed by another program"));
    assert_non_null(strstr(r.outside, "3 rows differed")); /* 1 removed, 2 changed, 5 added */
    assert_non_null(strstr(r.outside, "lesion 2, changed there too"));
    assert_int_equal(r.outside_rows, 3);
    a = make_row(4, QR_REVIEW_RIM_POS, "me", 0.8, QR_MODEL_RIM_POS, "");
    assert_int_equal(qr_review_record(&r, &a), QR_OK);
    assert_string_equal(r.outside, "");
    const char *merged = "# edited by bob\n"
                         "lesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote\tsite\n"
                         "2\tunsure\tme\t2026-01-02T03:04:05Z\t0.100000\trim-\t\tB\n"
                         "3\trim-\tme\t2026-01-02T03:04:05Z\t0.200000\trim-\t\tC\n"
                         "4\trim+\tme\t2026-01-02T03:04:05Z\t0.800000\trim+\t\t\n"
                         "5\tunsure\tbob\t2026-01-01T01:00:00Z\tNA\tnone\t\tA\n";
    assert_string_equal(slurp(p), merged);
    assert_int_equal(qr_review_decision_of(&r, 1), QR_REVIEW_NONE); /* removed there: the session follows */
    assert_int_equal(qr_review_decision_of(&r, 5), QR_REVIEW_UNSURE);

    /* an edit of the same size, its time set back: still seen */
    char *same = strdup(merged);
    assert_non_null(same);
    memcpy(strstr(same, "bob\t2026-01-01T01"), "bob\t2026-01-01T02", 17); /* the time of bob's lesion 5 */
    spit(p, same);
    set_mtime(p, 1000000000);
    a = make_row(6, QR_REVIEW_RIM_NEG, "me", 0.3, QR_MODEL_RIM_NEG, "");
    assert_int_equal(qr_review_record(&r, &a), QR_OK);
    assert_int_equal(r.outside_rows, 1);
    assert_non_null(strstr(slurp(p), "5\tunsure\tbob\t2026-01-01T02:00:00Z\tNA\tnone\t\tA\n"));
    free(same);
    /* touched (backup tools, a copy with -p) but not changed: nothing to merge, nothing said */
    set_mtime(p, 1200000000);
    a = make_row(6, QR_REVIEW_RIM_POS, "me", 0.3, QR_MODEL_RIM_NEG, "");
    assert_int_equal(qr_review_record(&r, &a), QR_OK);
    assert_string_equal(r.outside, "");

    /* changed into something that is not a review file: left as it is, the decision kept in memory */
    const char *junk = "this is not a review file\n";
    spit(p, junk);
    a = make_row(7, QR_REVIEW_RIM_POS, "me", 0.7, QR_MODEL_RIM_POS, "");
    assert_int_equal(qr_review_record(&r, &a), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "no longer reads as a review file"));
    assert_non_null(strstr(qr_last_error(), "not overwritten"));
    assert_string_equal(slurp(p), junk);
    assert_int_equal(r.unsaved, 1);
    assert_int_equal(qr_review_decision_of(&r, 7), QR_REVIEW_RIM_POS);
    assert_int_equal(qr_review_flush(&r), QR_ERR_FORMAT); /* still refused */
    /* the file is removed: the flush writes every row this session has */
    assert_int_equal(unlink(p), 0);
    assert_int_equal(qr_review_flush(&r), QR_OK);
    assert_non_null(strstr(r.outside, "was removed by another program"));
    const char *full = slurp(p);
    for (int id = 2; id <= 7; id++) {
        char want[16];
        snprintf(want, sizeof want, "\n%d\t", id);
        assert_non_null(strstr(full, want));
    }
    /* emptied: likewise written again in full, nothing dropped */
    spit(p, "");
    a = make_row(8, QR_REVIEW_RIM_NEG, "me", 0.05, QR_MODEL_RIM_NEG, "");
    assert_int_equal(qr_review_record(&r, &a), QR_OK);
    assert_non_null(strstr(r.outside, "was emptied by another program"));
    assert_int_equal(r.n, 7);
    assert_non_null(strstr(slurp(p), "\n2\tunsure\tme\t"));
    qr_review_close(&r);
}

/* What counts as "changed there too" in a merge: a row whose note alone the other program edited,
 * and a row it removed, are both changes of that program (rows_equal compares every review cell). */
static void test_review_outside_note_and_removal(void **state) {
    (void)state;
    const char *head = "lesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote";
    char p[QR_PATH_MAX], text[1024];
    path_in(p, sizeof p, "oc-note.tsv");
    snprintf(text, sizeof text, "%s\n1\trim+\tann\t2026-01-01T00:00:00Z\tNA\tnone\t\n2\trim+\tann\t2026-01-01T00:00:00Z\tNA\tnone\t\n",
             head);
    spit(p, text);
    qr_review r;
    assert_int_equal(qr_review_open(p, &r), QR_OK);
    /* the other program adds a note to lesion 1, nothing else; this session re-decides lesion 1 */
    snprintf(text, sizeof text,
             "%s\n1\trim+\tann\t2026-01-01T00:00:00Z\tNA\tnone\tseen by bob\n2\trim+\tann\t2026-01-01T00:00:00Z\tNA\tnone\t\n", head);
    spit(p, text);
    qr_review_row a = make_row(1, QR_REVIEW_RIM_NEG, "me", 0.2, QR_MODEL_RIM_NEG, "");
    assert_int_equal(qr_review_record(&r, &a), QR_OK);
    assert_non_null(strstr(r.outside, "(1 rows differed)"));
    assert_non_null(strstr(r.outside, "lesion 1, changed there too"));
    /* the other program removes lesion 2; this session re-decides it */
    char *now = strdup(slurp(p));
    assert_non_null(now);
    char *row2 = strstr(now, "\n2\t");
    assert_non_null(row2);
    char *end = strchr(row2 + 1, '\n');
    memmove(row2 + 1, end ? end + 1 : row2 + strlen(row2), strlen(end ? end + 1 : "") + 1);
    spit(p, now);
    free(now);
    a = make_row(2, QR_REVIEW_RIM_NEG, "me", 0.3, QR_MODEL_RIM_NEG, "");
    assert_int_equal(qr_review_record(&r, &a), QR_OK);
    assert_non_null(strstr(r.outside, "(1 rows differed)"));
    assert_non_null(strstr(r.outside, "lesion 2, changed there too"));
    assert_int_equal(qr_review_decision_of(&r, 2), QR_REVIEW_RIM_NEG);
    qr_review_close(&r);
}

/* The harder sequences of an outside change: a merge whose write fails, the other program's
 * columns, conflicts named only where both changed a lesion, a file that cannot be read, a link
 * replaced by a file. */
static void test_review_outside_cases(void **state) {
    (void)state;
    const char *head = "lesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote";
    char p[QR_PATH_MAX], text[1024];
    qr_review r;
    qr_review_row a;

    /* a re-decided lesion the other program did not touch is not named; one it also changed is */
    path_in(p, sizeof p, "oc1.tsv");
    snprintf(text, sizeof text, "%s\n1\trim+\tann\t2026-01-01T00:00:00Z\tNA\tnone\t\n2\trim+\tann\t2026-01-01T00:00:00Z\tNA\tnone\t\n", head);
    spit(p, text);
    assert_int_equal(qr_review_open(p, &r), QR_OK);
    snprintf(text, sizeof text, "%s\n1\trim+\tann\t2026-01-01T00:00:00Z\tNA\tnone\t\n2\trim-\tbob\t2026-01-01T00:00:00Z\tNA\tnone\t\n"
             "5\trim+\tbob\t2026-01-01T00:00:00Z\tNA\tnone\t\n", head);
    spit(p, text);
    a = make_row(1, QR_REVIEW_RIM_NEG, "me", NAN, QR_MODEL_NONE, "");
    assert_int_equal(qr_review_record(&r, &a), QR_OK);
    assert_non_null(strstr(r.outside, "2 rows differed"));
    assert_null(strstr(r.outside, "changed there too"));
    spit(p, text); /* bob writes his version again: lesion 1 back to ann's rim+ */
    a = make_row(1, QR_REVIEW_UNSURE, "me", NAN, QR_MODEL_NONE, "");
    assert_int_equal(qr_review_record(&r, &a), QR_OK);
    assert_non_null(strstr(r.outside, "lesion 1, changed there too"));
    qr_review_close(&r);

    /* a merge whose write fails: the file's version is what the session compares with next, so a
     * row the other program puts back is not lost; no merge is reported for the failed save */
    path_in(p, sizeof p, "oc2.tsv");
    snprintf(text, sizeof text, "%s\n1\trim+\tann\t2026-01-01T00:00:00Z\tNA\tnone\t\n2\trim+\tann\t2026-01-01T00:00:00Z\tNA\tnone\t\n", head);
    spit(p, text);
    assert_int_equal(qr_review_open(p, &r), QR_OK);
    char without2[1024];
    snprintf(without2, sizeof without2, "%s\n1\trim+\tann\t2026-01-01T00:00:00Z\tNA\tnone\t\n", head);
    spit(p, without2);
    struct rlimit old, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 64; /* the merged review is longer: its write fails (EFBIG) */
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    a = make_row(3, QR_REVIEW_RIM_NEG, "me", NAN, QR_MODEL_NONE, "");
    const qr_status failed = qr_review_record(&r, &a);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, was);
    assert_int_not_equal(failed, QR_OK);
    assert_int_equal(r.unsaved, 1);
    assert_int_equal(r.rows_replaced, 1);
    assert_string_equal(r.outside, "");
    assert_int_equal(qr_review_decision_of(&r, 2), QR_REVIEW_NONE); /* removed there */
    spit(p, text); /* ... and put back */
    assert_int_equal(qr_review_flush(&r), QR_OK);
    assert_non_null(strstr(r.outside, "changed by another program"));
    assert_non_null(strstr(slurp(p), "\n2\trim+\tann\t"));
    assert_non_null(strstr(slurp(p), "\n3\trim-\tme\t"));
    qr_review_close(&r);

    /* the session's file has an unnamed extra column, the other program's version none: a
     * re-decided row it dropped is written without the extra cell (the file reads back) */
    path_in(p, sizeof p, "oc3.tsv");
    snprintf(text, sizeof text, "%s\t\n1\trim+\tann\t2026-01-01T00:00:00Z\tNA\tnone\t\t\n", head);
    spit(p, text);
    assert_int_equal(qr_review_open(p, &r), QR_OK);
    assert_int_equal(r.n_extra, 1);
    snprintf(text, sizeof text, "%s\n2\trim+\tbob\t2026-01-01T00:00:00Z\tNA\tnone\t\n", head);
    spit(p, text);
    a = make_row(1, QR_REVIEW_RIM_NEG, "me", NAN, QR_MODEL_NONE, "");
    assert_int_equal(qr_review_record(&r, &a), QR_OK);
    qr_review_close(&r);
    assert_int_equal(qr_review_read(p, &r), QR_OK);
    assert_int_equal(r.n, 2);
    qr_review_close(&r);

    /* a review file that cannot be read to compare (here: a folder now stands at its name) */
    path_in(p, sizeof p, "oc4.tsv");
    assert_int_equal(qr_review_open(p, &r), QR_OK);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(mkdir(p, 0755), 0);
    a = make_row(1, QR_REVIEW_RIM_POS, "me", NAN, QR_MODEL_NONE, "");
    assert_int_equal(qr_review_record(&r, &a), QR_ERR_IO);
    assert_non_null(strstr(qr_last_error(), "not overwritten"));
    assert_int_equal(r.unsaved, 1);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    qr_review_close(&r);
    rmdir(p);

    /* opened through a link that an editor then replaces by a file: refused, both left as they are */
    char target[QR_PATH_MAX], link[QR_PATH_MAX];
    path_in(target, sizeof target, "oc5-target.tsv");
    path_in(link, sizeof link, "oc5.tsv");
    assert_int_equal(symlink("oc5-target.tsv", link), 0);
    assert_int_equal(qr_review_open(link, &r), QR_OK);
    a = make_row(1, QR_REVIEW_RIM_POS, "me", NAN, QR_MODEL_NONE, "");
    assert_int_equal(qr_review_record(&r, &a), QR_OK);
    char edited[1024];
    snprintf(edited, sizeof edited, "%s\n1\trim+\tme\t2026-01-02T03:04:05Z\tNA\tnone\tedited\n", head);
    char tmp[QR_PATH_MAX];
    path_in(tmp, sizeof tmp, "oc5.tmp");
    spit(tmp, edited);
    assert_int_equal(rename(tmp, link), 0); /* sed -i, perl -i: the link becomes a plain file */
    a = make_row(2, QR_REVIEW_RIM_NEG, "me", NAN, QR_MODEL_NONE, "");
    assert_int_equal(qr_review_record(&r, &a), QR_ERR_IO);
    assert_non_null(strstr(qr_last_error(), "no longer leads to"));
    assert_int_equal(r.unsaved, 1);
    assert_string_equal(slurp(link), edited);
    assert_null(strstr(slurp(target), "\n2\t"));
    qr_review_close(&r);
}

/* Temporaries of saves a killed viewer cut short are removed when the next viewer takes the lock;
 * one of a live process, and another file's, stay. */
static void test_review_leftovers(void **state) {
    (void)state;
    char p[QR_PATH_MAX], dead[QR_PATH_MAX], live[QR_PATH_MAX], other[QR_PATH_MAX];
    path_in(p, sizeof p, "left.tsv");
    const pid_t child = fork(); /* a PID that no longer runs */
    if (child == 0) _exit(0);
    assert_true(child > 0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    snprintf(dead, sizeof dead, "%s/.left.tsv.qsmrim-tmp-%08x-%ld-0", g_dir, qr_place_token(), (long)child);
    snprintf(live, sizeof live, "%s/.left.tsv.qsmrim-tmp-%08x-%ld-0", g_dir, qr_place_token(), (long)getppid());
    snprintf(other, sizeof other, "%s/.other.tsv.qsmrim-tmp-%08x-%ld-0", g_dir, qr_place_token(), (long)child);
    spit(dead, "lesion_id\tdeci");
    spit(live, "lesion_id\tdeci");
    spit(other, "lesion_id\tdeci");
    qr_review r;
    assert_int_equal(qr_review_open(p, &r), QR_OK);
    assert_int_not_equal(access(dead, F_OK), 0);
    assert_int_equal(access(live, F_OK), 0);
    assert_int_equal(access(other, F_OK), 0);
    qr_review_close(&r);
    unlink(live);
    unlink(other);
}

static void test_review_lock(void **state) {
    (void)state;
    char p[QR_PATH_MAX];
    path_in(p, sizeof p, "lock.tsv");
    qr_review a, b;
    assert_int_equal(qr_review_open(p, &a), QR_OK);
    assert_int_equal(qr_review_open(p, &b), QR_ERR_IO);
    assert_non_null(strstr(qr_last_error(), "open in another review session"));
    /* reading without the lock still works (export while a viewer is open) */
    assert_int_equal(qr_review_read(p, &b), QR_OK);
    qr_review_close(&b);
    qr_review_close(&a);
    assert_int_equal(qr_review_open(p, &b), QR_OK);
    qr_review_close(&b);

    /* a process killed with SIGKILL while holding the lock releases it, and its saved rows stay */
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        qr_review c;
        if (qr_review_open(p, &c) != QR_OK) _exit(3);
        qr_review_row row = make_row(11, QR_REVIEW_RIM_POS, "child", 0.7, QR_MODEL_RIM_POS, "before the crash");
        if (qr_review_record(&c, &row) != QR_OK) _exit(4);
        if (write(ready[1], "x", 1) != 1) _exit(5);
        for (;;) pause();
    }
    char x;
    assert_int_equal(read(ready[0], &x, 1), 1);
    assert_int_equal(qr_review_open(p, &b), QR_ERR_IO); /* the child holds it */
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(qr_review_open(p, &b), QR_OK);
    assert_int_equal(qr_review_decision_of(&b, 11), QR_REVIEW_RIM_POS);
    assert_string_equal(qr_review_find(&b, 11)->note, "before the crash");
    qr_review_close(&b);
    close(ready[0]);
    close(ready[1]);

    /* a review file whose name leaves no room for ".NAME.lock" (252 bytes): its lock name is cut
     * to fit, and it locks, saves and reopens like any other */
    char name[253];
    memset(name, 'r', 248);
    memcpy(name + 248, ".tsv", 5);
    path_in(p, sizeof p, name);
    assert_int_equal(qr_review_open(p, &a), QR_OK);
    qr_review_row row = make_row(4, QR_REVIEW_RIM_NEG, "long", 0.2, QR_MODEL_RIM_NEG, "");
    assert_int_equal(qr_review_record(&a, &row), QR_OK);
    assert_int_equal(qr_review_open(p, &b), QR_ERR_IO);
    assert_non_null(strstr(qr_last_error(), "open in another review session"));
    qr_review_close(&a);
    assert_int_equal(qr_review_open(p, &b), QR_OK);
    assert_int_equal(qr_review_decision_of(&b, 4), QR_REVIEW_RIM_NEG);
    qr_review_close(&b);
}

/* ---------------------------------------------------------------- queue */

/* A queue of 6 hand-made lesions with ids 2, 3, 5, 8, 9, 12. */
static void make_queue(qr_queue *q) {
    qr_lesion L[6];
    memset(L, 0, sizeof L);
    int32_t ids[6] = {2, 3, 5, 8, 9, 12};
    double vol[6] = {30, 120, 45, 45, 300, 10};
    for (int u = 0; u < 6; u++) {
        L[u].id = ids[u];
        L[u].voxels = (int64_t)vol[u];
        L[u].volume_mm3 = vol[u];
        for (int a = 0; a < 3; a++) {
            L[u].center_ijk[a] = 10.0 * u + a;
            L[u].center_ras[a] = 1.5 * u - a;
        }
    }
    qr_lesion_table t = {6, L};
    assert_int_equal(qr_queue_from_lesions(&t, q), QR_OK);
}

static void ids_of(const qr_queue *q, const int64_t *order, int64_t n, int32_t *out) {
    for (int64_t p = 0; p < n; p++) out[p] = q->items[order[p]].id;
}

static void test_queue_order_filter_navigation(void **state) {
    (void)state;
    qr_queue q;
    make_queue(&q);
    assert_int_equal(qr_queue_find(&q, 8), 3);
    assert_int_equal(qr_queue_find(&q, 4), -1);
    assert_false(qr_queue_has_prediction(&q));
    /* probabilities: 12 none; ties 3 & 8 at 0.7 */
    assert_int_equal(qr_queue_set_prediction(&q, 2, 0.2, 0.05, QR_MODEL_RIM_NEG), QR_OK);
    assert_int_equal(qr_queue_set_prediction(&q, 3, 0.7, 0.10, QR_MODEL_RIM_POS), QR_OK);
    assert_int_equal(qr_queue_set_prediction(&q, 5, 0.4, 0.30, QR_MODEL_REVIEW), QR_OK);
    assert_int_equal(qr_queue_set_prediction(&q, 8, 0.7, 0.01, QR_MODEL_RIM_POS), QR_OK);
    assert_int_equal(qr_queue_set_prediction(&q, 9, 0.95, 0.10, QR_MODEL_RIM_POS), QR_OK);
    assert_int_equal(qr_queue_set_prediction(&q, 99, 0.5, 0.1, QR_MODEL_RIM_POS), QR_ERR_INVALID_ARG);
    assert_int_equal(qr_queue_set_prediction(&q, 2, 1.5, 0.1, QR_MODEL_RIM_POS), QR_ERR_INVALID_ARG);
    assert_int_equal(qr_queue_set_prediction(&q, 2, 0.5, -1, QR_MODEL_RIM_POS), QR_ERR_INVALID_ARG);
    assert_int_equal(qr_queue_set_prediction(&q, 2, 0.5, 0.1, 7), QR_ERR_INVALID_ARG);
    assert_true(qr_queue_has_prediction(&q));

    int64_t order[6], n;
    int32_t ids[6];
    assert_int_equal(qr_queue_order(&q, NULL, QR_SORT_PROBABILITY, qr_filter_all(), order, &n), QR_OK);
    assert_int_equal(n, 6);
    ids_of(&q, order, n, ids);
    int32_t want_p[6] = {9, 3, 8, 5, 2, 12}; /* ties by id; no prediction last */
    assert_memory_equal(ids, want_p, sizeof want_p);
    assert_int_equal(qr_queue_order(&q, NULL, QR_SORT_UNCERTAINTY, qr_filter_all(), order, &n), QR_OK);
    ids_of(&q, order, n, ids);
    int32_t want_u[6] = {5, 3, 9, 2, 8, 12};
    assert_memory_equal(ids, want_u, sizeof want_u);
    assert_int_equal(qr_queue_order(&q, NULL, QR_SORT_VOLUME, qr_filter_all(), order, &n), QR_OK);
    ids_of(&q, order, n, ids);
    int32_t want_v[6] = {9, 3, 5, 8, 2, 12}; /* 45 mm3 tie: 5 before 8 */
    assert_memory_equal(ids, want_v, sizeof want_v);
    assert_int_equal(qr_queue_order(&q, NULL, QR_SORT_ID, qr_filter_all(), order, &n), QR_OK);
    ids_of(&q, order, n, ids);
    int32_t want_i[6] = {2, 3, 5, 8, 9, 12};
    assert_memory_equal(ids, want_i, sizeof want_i);
    assert_int_equal(qr_queue_order(&q, NULL, (qr_queue_sort)42, qr_filter_all(), order, &n), QR_ERR_INVALID_ARG);

    /* review state filters, with a review in memory */
    char p[QR_PATH_MAX];
    path_in(p, sizeof p, "queue_review.tsv");
    qr_review r;
    assert_int_equal(qr_review_open(p, &r), QR_OK);
    qr_review_row row = make_row(9, QR_REVIEW_RIM_POS, "a", 0.95, QR_MODEL_RIM_POS, "");
    assert_int_equal(qr_review_record(&r, &row), QR_OK);
    row = make_row(3, QR_REVIEW_UNSURE, "a", 0.7, QR_MODEL_RIM_POS, "");
    assert_int_equal(qr_review_record(&r, &row), QR_OK);
    row = make_row(8, QR_REVIEW_NONE, "a", 0.7, QR_MODEL_RIM_POS, "only a note");
    assert_int_equal(qr_review_record(&r, &row), QR_OK);

    qr_queue_filter unrev = {qr_filter_all().model, 1u << QR_REVIEW_NONE};
    assert_int_equal(qr_queue_order(&q, &r, QR_SORT_PROBABILITY, unrev, order, &n), QR_OK);
    ids_of(&q, order, n, ids);
    int32_t want_unrev[4] = {8, 5, 2, 12}; /* a note alone is not a review */
    assert_int_equal(n, 4);
    assert_memory_equal(ids, want_unrev, sizeof want_unrev);
    qr_queue_filter model_pos = {1u << QR_MODEL_RIM_POS, qr_filter_all().review};
    assert_int_equal(qr_queue_order(&q, &r, QR_SORT_PROBABILITY, model_pos, order, &n), QR_OK);
    ids_of(&q, order, n, ids);
    int32_t want_mp[3] = {9, 3, 8};
    assert_int_equal(n, 3);
    assert_memory_equal(ids, want_mp, sizeof want_mp);
    qr_queue_filter none = {0, 0};
    assert_int_equal(qr_queue_order(&q, &r, QR_SORT_PROBABILITY, none, order, &n), QR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(qr_queue_resume(&q, &r, order, n), -1);
    assert_int_equal(qr_queue_step(-1, 0, +1), -1);

    /* resume: the first unreviewed in the order; all reviewed -> the last */
    assert_int_equal(qr_queue_order(&q, &r, QR_SORT_PROBABILITY, qr_filter_all(), order, &n), QR_OK);
    assert_int_equal(qr_queue_resume(&q, &r, order, n), 2); /* 9 rim+, 3 unsure, then 8 */
    assert_int_equal(qr_queue_order(&q, &r, QR_SORT_PROBABILITY, model_pos, order, &n), QR_OK);
    assert_int_equal(qr_queue_resume(&q, &r, order, n), 2);
    row = make_row(8, QR_REVIEW_RIM_NEG, "a", 0.7, QR_MODEL_RIM_POS, "only a note");
    assert_int_equal(qr_review_record(&r, &row), QR_OK);
    assert_int_equal(qr_queue_resume(&q, &r, order, n), 2);
    assert_int_equal(qr_queue_resume(&q, NULL, order, n), 0);

    /* navigation */
    assert_int_equal(qr_queue_step(0, 6, +1), 1);
    assert_int_equal(qr_queue_step(5, 6, +1), 5);
    assert_int_equal(qr_queue_step(0, 6, -1), 0);
    assert_int_equal(qr_queue_step(3, 6, -1), 2);
    assert_int_equal(qr_queue_step(-1, 6, -1), 0);
    assert_int_equal(qr_queue_position(order, n, order[1]), 1);
    assert_int_equal(qr_queue_position(order, n, 99), -1);

    /* orphans: review rows of lesions not in the queue are counted and kept */
    row = make_row(77, QR_REVIEW_RIM_POS, "a", NAN, QR_MODEL_NONE, "other map");
    assert_int_equal(qr_review_record(&r, &row), QR_OK);
    assert_int_equal(qr_review_count_orphans(&r, &q), 1);
    qr_review_close(&r);
    assert_int_equal(qr_review_open(p, &r), QR_OK);
    assert_int_equal(qr_review_decision_of(&r, 77), QR_REVIEW_RIM_POS);

    /* export: every lesion of the queue by probability, review columns filled where reviewed */
    char e[QR_PATH_MAX];
    path_in(e, sizeof e, "export.tsv");
    assert_int_equal(qr_review_export(&q, &r, e), QR_OK);
    const char *want =
        "lesion_id\tvolume_mm3\tcenter_r\tcenter_a\tcenter_s\tprobability\tuncertainty\tmodel_decision\treview_decision\t"
        "reviewer\ttime\tnote\n"
        "9\t300\t6.000\t5.000\t4.000\t0.950000\t0.100000\trim+\trim+\ta\t2026-01-02T03:04:05Z\t\n"
        "3\t120\t1.500\t0.500\t-0.500\t0.700000\t0.100000\trim+\tunsure\ta\t2026-01-02T03:04:05Z\t\n"
        "8\t45\t4.500\t3.500\t2.500\t0.700000\t0.010000\trim+\trim-\ta\t2026-01-02T03:04:05Z\tonly a note\n"
        "5\t45\t3.000\t2.000\t1.000\t0.400000\t0.300000\treview\tnone\t\t\t\n"
        "2\t30\t0.000\t-1.000\t-2.000\t0.200000\t0.050000\trim-\tnone\t\t\t\n"
        "12\t10\t7.500\t6.500\t5.500\tNA\tNA\tnone\tnone\t\t\t\n";
    assert_string_equal(slurp(e), want);
    qr_review_close(&r);
    /* decisions made on another prediction: counted by their recorded probability (6 decimals) */
    char sp[QR_PATH_MAX];
    path_in(sp, sizeof sp, "stale_review.tsv");
    assert_int_equal(qr_review_open(sp, &r), QR_OK);
    const qr_review_row *first;
    row = make_row(9, QR_REVIEW_RIM_POS, "a", 0.95, QR_MODEL_RIM_POS, "");
    assert_int_equal(qr_review_record(&r, &row), QR_OK);
    row = make_row(5, QR_REVIEW_RIM_NEG, "a", 0.400001, QR_MODEL_REVIEW, ""); /* one in the 6th decimal: another device */
    assert_int_equal(qr_review_record(&r, &row), QR_OK);
    row = make_row(77, QR_REVIEW_RIM_NEG, "a", 0.3, QR_MODEL_REVIEW, ""); /* an orphan: not counted */
    assert_int_equal(qr_review_record(&r, &row), QR_OK);
    assert_int_equal(qr_review_count_stale(&r, &q, &first), 0);
    assert_null(first);
    row = make_row(3, QR_REVIEW_UNSURE, "a", 0.699998, QR_MODEL_RIM_NEG, ""); /* the table says 0.7: two off */
    assert_int_equal(qr_review_record(&r, &row), QR_OK);
    row = make_row(2, QR_REVIEW_RIM_NEG, "a", 0.61, QR_MODEL_RIM_POS, ""); /* the table says 0.2 */
    assert_int_equal(qr_review_record(&r, &row), QR_OK);
    row = make_row(12, QR_REVIEW_RIM_NEG, "a", 0.5, QR_MODEL_REVIEW, ""); /* no prediction now: not counted */
    assert_int_equal(qr_review_record(&r, &row), QR_OK);
    row = make_row(8, QR_REVIEW_NONE, "a", 0.1, QR_MODEL_RIM_NEG, "a note alone"); /* not a decision */
    assert_int_equal(qr_review_record(&r, &row), QR_OK);
    qr_review_close(&r);
    assert_int_equal(qr_review_open(sp, &r), QR_OK); /* as read back */
    assert_int_equal(qr_review_count_stale(&r, &q, &first), 2);
    assert_int_equal(first->lesion_id, 2);
    qr_review_close(&r);
    qr_queue_clear_prediction(&q);
    assert_false(qr_queue_has_prediction(&q));
    qr_queue_free(&q);
}

static void test_queue_attach_table(void **state) {
    (void)state;
    qr_queue q;
    make_queue(&q);
    const char *H = "lesion_id\tvolume_mm3\tcenter_r\tcenter_a\tcenter_s\tprobability\tuncertainty\tdecision\n";
    char p[QR_PATH_MAX], buf[2048];
    path_in(p, sizeof p, "pred.tsv");
    /* a valid table listing 5 of the 6 lesions (rounded as predict writes it) */
    snprintf(buf, sizeof buf,
             "%s9\t300\t6.000\t5.000\t4.000\t0.950000\t0.100000\trim+\n3\t120\t1.500\t0.500\t-0.500\t0.700000\t0.1\trim+\n"
             "5\t45\t3.001\t2.000\t1.000\t0.4\t0.3\treview\n2\t30\t0\t-1\t-2\t0.2\t0.05\trim-\n"
             "8\t45.0001\t4.5\t3.5\t2.5\t0.7\t0.01\trim+\n",
             H);
    spit(p, buf);
    int64_t missing = -1;
    assert_int_equal(qr_queue_attach_prediction_table(&q, p, &missing), QR_OK);
    assert_int_equal(missing, 1);
    assert_true(fabs(q.items[qr_queue_find(&q, 9)].probability - 0.95) < 1e-12);
    assert_int_equal(q.items[qr_queue_find(&q, 5)].model_decision, QR_MODEL_REVIEW);
    assert_true(isnan(q.items[qr_queue_find(&q, 12)].probability));

    struct {
        const char *rows, *needle;
    } bad[] = {
        {"4\t30\t0\t-1\t-2\t0.2\t0.05\trim-\n", "lesion 4 is not a lesion of the lesion map"},
        {"2\t30\t0\t-1\t-2\t0.2\t0.05\trim-\n2\t30\t0\t-1\t-2\t0.2\t0.05\trim-\n", "listed twice"},
        {"2\t31\t0\t-1\t-2\t0.2\t0.05\trim-\n", "has volume 31"},
        /* predict writes volumes with 10 significant digits: 1 mm3 off on 300 mm3 (0.3%) is another lesion map */
        {"9\t301\t6.000\t5.000\t4.000\t0.95\t0.1\trim+\n", "has volume 301"},
        {"2\t30\t0.5\t-1\t-2\t0.2\t0.05\trim-\n", "differs from the lesion map"},
        {"2\t30\t0\t-1\t-2\t1.2\t0.05\trim-\n", "probability 1.2"},
        {"2\t30\t0\t-1\t-2\t0.2\t-0.05\trim-\n", "uncertainty -0.05"},
        {"2\t30\t0\t-1\t-2\t0.2\t0.05\tpositive\n", "decision 'positive'"},
        {"2\t30\t0\t-1\t-2\tnan\t0.05\trim-\n", "not a number"},
        {"x\t30\t0\t-1\t-2\t0.2\t0.05\trim-\n", "not an integer"},
    };
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        snprintf(buf, sizeof buf, "%s%s", H, bad[c].rows);
        spit(p, buf);
        assert_int_equal(qr_queue_attach_prediction_table(&q, p, NULL), QR_ERR_FORMAT);
        if (!strstr(qr_last_error(), bad[c].needle)) fail_msg("case %zu: '%s' lacks '%s'", c, qr_last_error(), bad[c].needle);
        /* the queue keeps the prediction it had */
        assert_true(fabs(q.items[qr_queue_find(&q, 2)].probability - 0.2) < 1e-12);
        assert_true(fabs(q.items[qr_queue_find(&q, 9)].probability - 0.95) < 1e-12);
    }
    spit(p, "lesion_id\tprobability\n2\t0.5\n");
    assert_int_equal(qr_queue_attach_prediction_table(&q, p, NULL), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "has no column 'volume_mm3'"));
    path_in(p, sizeof p, "missing-table.tsv");
    assert_int_equal(qr_queue_attach_prediction_table(&q, p, NULL), QR_ERR_IO);
    qr_queue_free(&q);
}

/* ---------------------------------------------------------------- view orientation and colours */

static void assert_vec(const double *v, double x, double y, double z) {
    assert_true(fabs(v[0] - x) < 1e-12 && fabs(v[1] - y) < 1e-12 && fabs(v[2] - z) < 1e-12);
}

static void test_view_frames(void **state) {
    (void)state;
    qr_view_frame f[QR_VIEW_COUNT];
    /* LPS grid (i -> L, j -> P, k -> S) */
    qr_geometry g = qr_geometry_identity(10, 20, 30);
    assert_int_equal(qr_view_frames(&g, f), QR_OK);
    assert_int_equal(f[QR_VIEW_AXIAL].slice_axis, 2);
    assert_vec(f[QR_VIEW_AXIAL].right, 1, 0, 0);   /* patient left to the screen's right */
    assert_vec(f[QR_VIEW_AXIAL].up, 0, -1, 0);     /* anterior (-j) up */
    assert_vec(f[QR_VIEW_AXIAL].toward_viewer, 0, 0, -1); /* seen from the feet */
    assert_int_equal(f[QR_VIEW_AXIAL].slice_forward, 1);  /* next slice: superior = +k */
    assert_int_equal(f[QR_VIEW_AXIAL].edge_left, 'R');
    assert_int_equal(f[QR_VIEW_AXIAL].edge_top, 'A');
    assert_int_equal(f[QR_VIEW_CORONAL].slice_axis, 1);
    assert_vec(f[QR_VIEW_CORONAL].up, 0, 0, 1);
    assert_vec(f[QR_VIEW_CORONAL].toward_viewer, 0, -1, 0); /* seen from the front */
    assert_int_equal(f[QR_VIEW_CORONAL].slice_forward, -1); /* anterior = -j */
    assert_int_equal(f[QR_VIEW_SAGITTAL].slice_axis, 0);
    assert_vec(f[QR_VIEW_SAGITTAL].right, 0, 1, 0);  /* posterior to the right: the nose points left */
    assert_vec(f[QR_VIEW_SAGITTAL].toward_viewer, 1, 0, 0); /* seen from the patient's left */
    assert_int_equal(f[QR_VIEW_SAGITTAL].edge_left, 'A');
    assert_false(f[0].oblique);

    /* LAS grid (j -> anterior, as MNI NIfTI files): screen orientation stays anatomical */
    g.direction[4] = -1;
    assert_int_equal(qr_view_frames(&g, f), QR_OK);
    assert_vec(f[QR_VIEW_AXIAL].up, 0, 1, 0);     /* anterior is +j now */
    assert_vec(f[QR_VIEW_AXIAL].toward_viewer, 0, 0, 1);
    assert_int_equal(f[QR_VIEW_CORONAL].slice_forward, 1);
    assert_vec(f[QR_VIEW_SAGITTAL].right, 0, -1, 0);

    /* a coronal acquisition (i -> L, j -> S, k -> A): axial slices across j */
    double cor[9] = {1, 0, 0, 0, 0, -1, 0, 1, 0};
    memcpy(g.direction, cor, sizeof cor);
    assert_int_equal(qr_view_frames(&g, f), QR_OK);
    assert_int_equal(f[QR_VIEW_AXIAL].slice_axis, 1);
    assert_int_equal(f[QR_VIEW_CORONAL].slice_axis, 2);
    assert_vec(f[QR_VIEW_CORONAL].up, 0, 1, 0);
    assert_int_equal(f[QR_VIEW_AXIAL].up_axis, 2);
    assert_vec(f[QR_VIEW_AXIAL].up, 0, 0, 1); /* anterior = +k */

    /* tilted by 20 degrees about S: flagged oblique, still the nearest axes */
    double c20 = cos(20 * acos(-1.0) / 180), s20 = sin(20 * acos(-1.0) / 180);
    double rot[9] = {c20, -s20, 0, s20, c20, 0, 0, 0, 1};
    memcpy(g.direction, rot, sizeof rot);
    assert_int_equal(qr_view_frames(&g, f), QR_OK);
    assert_true(f[0].oblique);
    assert_int_equal(f[QR_VIEW_AXIAL].slice_axis, 2);
    /* singular */
    memset(g.direction, 0, sizeof g.direction);
    assert_int_equal(qr_view_frames(&g, f), QR_ERR_GEOMETRY);
    assert_string_equal(qr_view_orientation_name(QR_VIEW_CORONAL), "coronal");
}

static void test_colors(void **state) {
    (void)state;
    qr_lesion_colors c = qr_lesion_colors_default();
    assert_int_equal(c.decision[QR_MODEL_RIM_POS].r, 230);
    assert_int_equal(c.decision[QR_MODEL_RIM_NEG].b, 200);
    /* the shipped colour table, when present, holds the same colours */
    char ctbl[QR_PATH_MAX];
    snprintf(ctbl, sizeof ctbl, "%s/Resources/QSMRimLesions.ctbl", QSMRIM_SOURCE_DIR);
    if (qr_path_is_file(ctbl)) {
        qr_lesion_colors d = qr_lesion_colors_default();
        memset(d.decision, 0, sizeof d.decision);
        assert_int_equal(qr_lesion_colors_read_ctbl(ctbl, &d), QR_OK);
        assert_memory_equal(d.decision + 1, c.decision + 1, 3 * sizeof(qr_rgb));
    }
    char p[QR_PATH_MAX];
    path_in(p, sizeof p, "c.ctbl");
    spit(p, "# comment\n0 background 0 0 0 0\n3 rim_positive 10 20 30 255\n");
    assert_int_equal(qr_lesion_colors_read_ctbl(p, &c), QR_OK);
    assert_int_equal(c.decision[QR_MODEL_RIM_POS].g, 20);
    assert_int_equal(c.decision[QR_MODEL_REVIEW].r, 255);
    spit(p, "3 rim_positive 10 twenty 30 255\n");
    assert_int_equal(qr_lesion_colors_read_ctbl(p, &c), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "line 1"));
    assert_int_equal(c.decision[QR_MODEL_RIM_POS].g, 20); /* unchanged */
    path_in(p, sizeof p, "none.ctbl");
    assert_int_equal(qr_lesion_colors_read_ctbl(p, &c), QR_ERR_IO);

    /* probability colours: the five anchors, a midpoint, clamping */
    qr_rgb k = qr_probability_color(0.0);
    assert_true(k.r == 49 && k.g == 54 && k.b == 149);
    k = qr_probability_color(0.5);
    assert_true(k.r == 255 && k.g == 255 && k.b == 191);
    k = qr_probability_color(1.0);
    assert_true(k.r == 165 && k.g == 0 && k.b == 38);
    k = qr_probability_color(0.875); /* halfway (244,109,67) -> (165,0,38) */
    assert_true(k.r == 205 && k.g == 55 && k.b == 53);
    k = qr_probability_color(7.0);
    assert_true(k.r == 165);
    k = qr_probability_color(-1.0);
    assert_true(k.r == 49);

    /* outline: around a 2x2x1 lesion (label 4) in a 4x5x3 grid, only in the lesion's plane */
    qr_geometry g = qr_geometry_identity(4, 5, 3);
    qr_volume lab, out;
    assert_int_equal(qr_volume_alloc(&lab, &g, QR_INT32), QR_OK);
    qr_volume_i32(&lab)[qr_geometry_index(&g, 1, 1, 1)] = 4;
    qr_volume_i32(&lab)[qr_geometry_index(&g, 2, 1, 1)] = 4;
    qr_volume_i32(&lab)[qr_geometry_index(&g, 1, 2, 1)] = 4;
    qr_volume_i32(&lab)[qr_geometry_index(&g, 2, 2, 1)] = 4;
    assert_int_equal(qr_outline_labels(&lab, 2, &out), QR_OK);
    static const char *want_k1[5] = {".44.", "4..4", "4..4", ".44.", "...."}; /* rows j, columns i */
    int64_t count = 0;
    for (int64_t k = 0; k < 3; k++)
        for (int64_t j = 0; j < 5; j++)
            for (int64_t i = 0; i < 4; i++) {
                int32_t o = qr_volume_i32(&out)[qr_geometry_index(&g, i, j, k)];
                int32_t want = (k == 1 && want_k1[j][i] == '4') ? 4 : 0;
                assert_int_equal(o, want);
                count += o != 0;
            }
    assert_int_equal(count, 8);
    qr_volume_free(&out);
    /* across i (sagittal views): the ring lies in the j-k plane at i = 1 and 2 */
    assert_int_equal(qr_outline_labels(&lab, 0, &out), QR_OK);
    assert_int_equal(qr_volume_i32(&out)[qr_geometry_index(&g, 1, 1, 0)], 4);
    assert_int_equal(qr_volume_i32(&out)[qr_geometry_index(&g, 1, 0, 1)], 4);
    assert_int_equal(qr_volume_i32(&out)[qr_geometry_index(&g, 0, 1, 1)], 0);
    qr_volume_free(&out);
    assert_int_equal(qr_outline_labels(&lab, 3, &out), QR_ERR_INVALID_ARG);
    qr_volume_free(&lab);

    /* the reviewer's decision wins over the model's */
    assert_int_equal(qr_display_decision(QR_MODEL_RIM_NEG, QR_REVIEW_NONE), QR_MODEL_RIM_NEG);
    assert_int_equal(qr_display_decision(QR_MODEL_RIM_NEG, QR_REVIEW_RIM_POS), QR_MODEL_RIM_POS);
    assert_int_equal(qr_display_decision(QR_MODEL_RIM_POS, QR_REVIEW_RIM_NEG), QR_MODEL_RIM_NEG);
    assert_int_equal(qr_display_decision(QR_MODEL_NONE, QR_REVIEW_UNSURE), QR_MODEL_REVIEW);
}

/* ---------------------------------------------------------------- subject loading */

static void fixture_inputs(const char *dir, qr_review_inputs *in, char paths[6][QR_PATH_MAX]) {
    const char *names[6] = {"qsm.nii.gz", "flair.nii.gz", "lesions.nii.gz", "table.tsv", "overlay.nrrd", "probability.nrrd"};
    for (int i = 0; i < 6; i++) snprintf(paths[i], QR_PATH_MAX, "%s/%s", dir, names[i]);
    memset(in, 0, sizeof *in);
    in->qsm = paths[0];
    in->flair = paths[1];
    in->lesions = paths[2];
    in->table = paths[3];
    in->overlay = paths[4];
    in->probability = paths[5];
}

static void test_subject_load(void **state) {
    (void)state;
    char paths[6][QR_PATH_MAX];
    qr_review_inputs in;
    for (int variant = 0; variant < 2; variant++) {
        fixture_inputs(variant ? g_fix_flip : g_fix, &in, paths);
        qr_review_subject s;
        assert_int_equal(qr_review_subject_load(&in, &s), QR_OK);
        assert_int_equal(s.queue.n, 5);
        assert_int_equal(s.n_unpredicted, 0);
        assert_true(s.lesions_were_mask);
        assert_false(s.flair_resampled);
        int npos = 0;
        for (int64_t u = 0; u < 5; u++) {
            const qr_queue_item *it = &s.queue.items[u];
            assert_false(isnan(it->probability));
            npos += it->model_decision == QR_MODEL_RIM_POS;
            /* the centre voxel of every (convex) fixture lesion carries its label */
            int64_t v = qr_geometry_index(&s.labels.geom, lround(it->center_ijk[0]), lround(it->center_ijk[1]),
                                          lround(it->center_ijk[2]));
            assert_int_equal(qr_volume_i32(&s.labels)[v], it->id);
        }
        assert_int_equal(npos, 2);
        qr_review_subject_free(&s);
    }

    /* without prediction outputs */
    fixture_inputs(g_fix, &in, paths);
    in.table = in.overlay = in.probability = NULL;
    qr_review_subject s;
    assert_int_equal(qr_review_subject_load(&in, &s), QR_OK);
    assert_false(qr_queue_has_prediction(&s.queue));
    assert_int_equal(s.n_unpredicted, 5);

    /* an overlay with one voxel changed, a probability map off by 0.01 in one voxel */
    qr_volume ov, pr;
    assert_int_equal(qr_image_read(paths[4], QR_INT32, &ov, NULL), QR_OK);
    assert_int_equal(qr_image_read(paths[5], QR_FLOAT32, &pr, NULL), QR_OK);
    fixture_inputs(g_fix, &in, paths);
    in.overlay = in.probability = NULL;
    qr_review_subject_free(&s);
    assert_int_equal(qr_review_subject_load(&in, &s), QR_OK);
    assert_int_equal(qr_review_subject_check_overlay(&s, &ov, "ov"), QR_OK);
    assert_int_equal(qr_review_subject_check_probability(&s, &pr, "pr"), QR_OK);
    const qr_queue_item *first = &s.queue.items[0];
    int64_t v = qr_geometry_index(&s.labels.geom, lround(first->center_ijk[0]), lround(first->center_ijk[1]),
                                  lround(first->center_ijk[2]));
    qr_volume_i32(&ov)[v] = first->model_decision == 3 ? 1 : 3;
    assert_int_equal(qr_review_subject_check_overlay(&s, &ov, "ov.nrrd"), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "ov.nrrd: 1 voxels disagree"));
    qr_volume_i32(&ov)[0] = 2; /* outside lesions */
    assert_int_equal(qr_review_subject_check_overlay(&s, &ov, "ov.nrrd"), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "2 voxels disagree"));
    qr_volume_f32(&pr)[v] += 0.01f;
    assert_int_equal(qr_review_subject_check_probability(&s, &pr, "pr.nrrd"), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "pr.nrrd: 1 voxels disagree"));
    /* maps on another grid */
    ov.geom.spacing[0] = 0.8;
    assert_int_equal(qr_review_subject_check_overlay(&s, &ov, "ov.nrrd"), QR_ERR_GEOMETRY);
    qr_volume_free(&ov);
    /* wrong element types */
    assert_int_equal(qr_review_subject_check_overlay(&s, &pr, "pr"), QR_ERR_INVALID_ARG);
    qr_volume_free(&pr);

    /* replacing the label map (after an in-viewer prediction) rebuilds the queue */
    qr_volume lab;
    assert_int_equal(qr_volume_copy(&lab, &s.labels, QR_INT32), QR_OK);
    for (int64_t u = 0; u < qr_volume_nvox(&lab); u++)
        if (qr_volume_i32(&lab)[u] == 5) qr_volume_i32(&lab)[u] = 0;
    /* all or nothing: a prediction for a lesion the new map lacks leaves the subject as it was */
    const int64_t n_before = s.queue.n;
    const void *labels_before = s.labels.data;
    const double p_before = s.queue.items[0].probability;
    const qr_queue_prediction bad[2] = {{1, 0.9, 0.05, QR_MODEL_RIM_POS}, {5, 0.1, 0.05, QR_MODEL_RIM_NEG}};
    assert_int_equal(qr_review_subject_set_labels(&s, &lab, bad, 2), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "lesion 5, which is not in the lesion map"));
    assert_int_equal(s.queue.n, n_before);
    assert_ptr_equal(s.labels.data, labels_before);
    assert_true(s.queue.items[0].probability == p_before || (isnan(p_before) && isnan(s.queue.items[0].probability)));
    const qr_queue_prediction out_of_range[1] = {{2, 1.5, 0.05, QR_MODEL_RIM_POS}};
    assert_int_equal(qr_review_subject_set_labels(&s, &lab, out_of_range, 1), QR_ERR_INVALID_ARG);
    assert_int_equal(s.queue.n, n_before);
    assert_int_equal(qr_review_subject_set_labels(&s, &lab, NULL, 0), QR_OK);
    assert_int_equal(s.queue.n, 4);
    assert_false(qr_queue_has_prediction(&s.queue));
    assert_int_equal(s.n_unpredicted, 4);
    const qr_queue_prediction two[2] = {{3, 0.25, 0.05, QR_MODEL_RIM_NEG}, {1, 0.9, 0.02, QR_MODEL_RIM_POS}};
    assert_int_equal(qr_review_subject_set_labels(&s, &lab, two, 2), QR_OK);
    assert_int_equal(s.n_unpredicted, 2);
    assert_true(s.queue.items[qr_queue_find(&s.queue, 1)].probability == 0.9);
    assert_int_equal(s.queue.items[qr_queue_find(&s.queue, 3)].model_decision, QR_MODEL_RIM_NEG);
    qr_volume_free(&lab);
    qr_review_subject_free(&s);

    /* the table of another lesion map */
    fixture_inputs(g_fix, &in, paths);
    char other[QR_PATH_MAX];
    snprintf(other, sizeof other, "%s/table.tsv", g_fix_flip);
    in.table = other;
    in.overlay = in.probability = NULL;
    /* (the two grids cover the same space, but number the lesions in their own memory order) */
    assert_int_equal(qr_review_subject_load(&in, &s), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "table.tsv line"));
    assert_non_null(strstr(qr_last_error(), "belongs to another lesion map"));

    /* required inputs, maps without a table, bad connectivity or lesion input, missing files */
    fixture_inputs(g_fix, &in, paths);
    in.table = NULL;
    assert_int_equal(qr_review_subject_load(&in, &s), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "need the prediction table"));
    fixture_inputs(g_fix, &in, paths);
    in.connectivity = 8;
    assert_int_equal(qr_review_subject_load(&in, &s), QR_ERR_INVALID_ARG);
    fixture_inputs(g_fix, &in, paths);
    in.lesion_input = 3;
    assert_int_equal(qr_review_subject_load(&in, &s), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "lesion input code 3"));
    fixture_inputs(g_fix, &in, paths);
    in.flair = NULL;
    assert_int_equal(qr_review_subject_load(&in, &s), QR_ERR_INVALID_ARG);
    fixture_inputs(g_fix, &in, paths);
    in.qsm = "/nonexistent/qsm.nii.gz";
    assert_int_equal(qr_review_subject_load(&in, &s), QR_ERR_IO);
    assert_non_null(strstr(qr_last_error(), "/nonexistent/qsm.nii.gz"));
    assert_null(s.qsm.data);
}

static void test_subject_resampled_flair(void **state) {
    (void)state;
    /* FLAIR on a coarser grid over the same space: resampled onto the QSM grid */
    char paths[6][QR_PATH_MAX], coarse[QR_PATH_MAX];
    qr_review_inputs in;
    fixture_inputs(g_fix, &in, paths);
    qr_volume f, c;
    assert_int_equal(qr_image_read(paths[1], QR_FLOAT32, &f, NULL), QR_OK);
    qr_geometry g = f.geom;
    g.size[0] /= 2;
    g.size[1] /= 2;
    g.spacing[0] *= 2;
    g.spacing[1] *= 2;
    assert_int_equal(qr_image_resample(&f, &g, QR_INTERP_LINEAR, 0.0, &c), QR_OK);
    snprintf(coarse, sizeof coarse, "%s/flair_coarse.nrrd", g_dir);
    assert_int_equal(qr_image_write(coarse, &c, 0), QR_OK);
    in.flair = coarse;
    qr_review_subject s;
    assert_int_equal(qr_review_subject_load(&in, &s), QR_OK);
    assert_true(s.flair_resampled);
    assert_int_equal(s.flair.geom.size[0], f.geom.size[0]);
    qr_review_subject_free(&s);
    qr_volume_free(&f);
    qr_volume_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decision_names),
        cmocka_unit_test(test_review_record_and_format),
        cmocka_unit_test(test_review_time_now),
        cmocka_unit_test(test_review_bad_files),
        cmocka_unit_test(test_review_minimal_columns_and_comments), cmocka_unit_test(test_review_other_reviewers),
        cmocka_unit_test(test_review_permissions),
        cmocka_unit_test(test_review_extra_columns),
        cmocka_unit_test(test_review_symlink),
        cmocka_unit_test(test_review_unsaved),
        cmocka_unit_test(test_review_outside_change),
        cmocka_unit_test(test_review_outside_cases),
        cmocka_unit_test(test_review_outside_note_and_removal),
        cmocka_unit_test(test_review_leftovers),
        cmocka_unit_test(test_review_lock),
        cmocka_unit_test(test_queue_order_filter_navigation),
        cmocka_unit_test(test_queue_attach_table),
        cmocka_unit_test(test_view_frames),
        cmocka_unit_test(test_colors),
        cmocka_unit_test(test_subject_load),
        cmocka_unit_test(test_subject_resampled_flair),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
