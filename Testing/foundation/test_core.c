/* test_core.c - core utilities: error messages, atomic files, TSV reading, RNG, resources. */
#define _GNU_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/fileutil.h"
#include "core/resources.h"
#include "core/rng.h"
#include "core/tsv.h"

static char g_dir[64];

static int setup_dir(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/qsmrim-test-core-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown_dir(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int count_entries(const char *dir) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

static void test_error_messages(void **state) {
    (void)state;
    qr_clear_error();
    assert_string_equal(qr_last_error(), "");
    assert_int_equal(qr_fail(QR_ERR_IO, "cannot open %s", "x.nii"), QR_ERR_IO);
    assert_string_equal(qr_last_error(), "cannot open x.nii");
    qr_fail_context(QR_ERR_IO, "reading QSM");
    assert_string_equal(qr_last_error(), "reading QSM: cannot open x.nii");
    assert_string_equal(qr_status_name(QR_ERR_GEOMETRY), "geometry");
    assert_string_equal(qr_status_name((qr_status)999), "unknown");
}

static void test_atomic_commit_and_abort(void **state) {
    (void)state;
    char sub[256], path[512];
    snprintf(sub, sizeof sub, "%s/atomic", g_dir);
    assert_int_equal(qr_mkdir_p(sub), QR_OK);
    snprintf(path, sizeof path, "%s/out.tsv", sub);
    qr_atomic f;
    assert_int_equal(qr_atomic_open(&f, path), QR_OK);
    fprintf(f.fp, "a\tb\n1\t2\n");
    assert_false(qr_path_is_file(path)); /* nothing at the final name before commit */
    assert_int_equal(qr_atomic_commit(&f), QR_OK);
    assert_true(qr_path_is_file(path));
    assert_int_equal(count_entries(sub), 1);
    /* abort leaves the previous file untouched and no temporary */
    assert_int_equal(qr_atomic_open(&f, path), QR_OK);
    fprintf(f.fp, "garbage");
    qr_atomic_abort(&f);
    assert_int_equal(count_entries(sub), 1);
    qr_tsv t;
    assert_int_equal(qr_tsv_read(path, &t), QR_OK);
    assert_int_equal(t.nrows, 1);
    qr_tsv_free(&t);
    /* a missing folder is a clear error */
    snprintf(path, sizeof path, "%s/nope/out.tsv", sub);
    assert_int_equal(qr_atomic_open(&f, path), QR_ERR_IO);
    assert_non_null(strstr(qr_last_error(), "nope/out.tsv"));
}

static qr_status finish_text(const char *path, const char *text, qr_pending *p) {
    qr_atomic f;
    QR_TRY(qr_atomic_open(&f, path));
    fputs(text, f.fp);
    return qr_atomic_finish(&f, p);
}

static void assert_file_text(const char *path, const char *text) {
    char buf[64] = {0};
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_true(fread(buf, 1, sizeof buf - 1, fp) > 0);
    fclose(fp);
    assert_string_equal(buf, text);
}

/* Outputs of one run: all written, then all committed; a failure before the commit replaces
 * nothing, a failed commit aborts the outputs after it. */
static void test_pending_outputs(void **state) {
    (void)state;
    char sub[256], a[512], b[512], c[512], gone[512];
    snprintf(sub, sizeof sub, "%s/pending", g_dir);
    assert_int_equal(qr_mkdir_p(sub), QR_OK);
    snprintf(a, sizeof a, "%s/a.tsv", sub);
    snprintf(b, sizeof b, "%s/b.tsv", sub);
    qr_pending p[3];
    memset(p, 0, sizeof p);
    assert_int_equal(finish_text(a, "old a\n", &p[0]), QR_OK);
    assert_int_equal(finish_text(b, "old b\n", &p[1]), QR_OK);
    assert_false(qr_path_is_file(a)); /* written, not yet in place */
    assert_int_equal(qr_pending_commit_all(p, 3), QR_OK); /* p[2] is empty: skipped */
    assert_file_text(a, "old a\n");
    assert_file_text(b, "old b\n");
    assert_int_equal(count_entries(sub), 2);
    /* the second output fails while writing: the caller aborts the first, both old files stay */
    assert_int_equal(finish_text(a, "new a\n", &p[0]), QR_OK);
    snprintf(gone, sizeof gone, "%s/missing-folder/b.tsv", sub);
    assert_int_equal(finish_text(gone, "new b\n", &p[1]), QR_ERR_IO);
    assert_int_equal(p[1].kind, QR_PENDING_NONE);
    qr_pending_abort_all(p, 2);
    assert_file_text(a, "old a\n");
    assert_int_equal(count_entries(sub), 2);
    /* a commit that fails (a folder took the output's name after writing) aborts the ones after it */
    snprintf(c, sizeof c, "%s/c.tsv", sub);
    assert_int_equal(finish_text(a, "new a\n", &p[0]), QR_OK);
    assert_int_equal(finish_text(c, "new c\n", &p[1]), QR_OK);
    assert_int_equal(finish_text(b, "new b\n", &p[2]), QR_OK);
    snprintf(gone, sizeof gone, "%s/c.tsv/inside", sub);
    assert_int_equal(qr_mkdir_p(gone), QR_OK);
    assert_int_equal(qr_pending_commit_all(p, 3), QR_ERR_IO);
    assert_non_null(strstr(qr_last_error(), "c.tsv"));
    assert_file_text(a, "new a\n");
    assert_file_text(b, "old b\n");         /* not committed after the failure */
    assert_int_equal(count_entries(sub), 3);  /* a.tsv, b.tsv, the c.tsv folder: no temporaries left */
    qr_pending_abort(NULL);
    assert_int_equal(qr_pending_commit(NULL), QR_OK);
}

static void write_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* A report folder with a subfolder, staged and committed as one unit: the old report stays intact
 * until the commit, the commit merges subfolders into existing ones, abort removes nested work. */
static void test_staged_report_folder(void **state) {
    (void)state;
    char rep[256], html[512], stage[QR_PATH_MAX], p[QR_PATH_MAX + 64];
    snprintf(rep, sizeof rep, "%s/report", g_dir);
    snprintf(p, sizeof p, "%s/rf", rep);
    assert_int_equal(qr_mkdir_p(p), QR_OK);
    snprintf(p, sizeof p, "%s/rf/summary.tsv", rep);
    write_text(p, "old rf\n");
    snprintf(p, sizeof p, "%s/keep.txt", rep);
    write_text(p, "untouched\n");
    snprintf(html, sizeof html, "%s/report.html", rep);
    write_text(html, "old html\n");

    /* a run that fails while writing: abort removes the staged tree, the old report is as it was */
    assert_int_equal(qr_staging_create(html, stage, sizeof stage), QR_OK);
    snprintf(p, sizeof p, "%s/rf", stage);
    assert_int_equal(qr_mkdir_p(p), QR_OK);
    snprintf(p, sizeof p, "%s/rf/summary.tsv", stage);
    write_text(p, "new rf\n");
    qr_staging_abort(stage);
    assert_false(qr_path_is_dir(stage));
    snprintf(p, sizeof p, "%s/rf/summary.tsv", rep);
    assert_file_text(p, "old rf\n");
    assert_int_equal(count_entries(rep), 3);

    /* a complete run: every file moves into place, new subfolders are created, the staging folder goes */
    assert_int_equal(qr_staging_create(html, stage, sizeof stage), QR_OK);
    const char *dirs[] = {"rf", "nn", "nn/deeper"};
    for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s/%s", stage, dirs[k]);
        assert_int_equal(qr_mkdir_p(p), QR_OK);
        snprintf(p, sizeof p, "%s/%s/summary.tsv", stage, dirs[k]);
        write_text(p, dirs[k]);
    }
    snprintf(p, sizeof p, "%s/report.html", stage);
    write_text(p, "new html\n");
    snprintf(p, sizeof p, "%s/rf/summary.tsv", rep);
    assert_file_text(p, "old rf\n"); /* nothing in place before the commit */
    assert_int_equal(qr_staging_commit_files(stage, rep), QR_OK);
    assert_false(qr_path_is_dir(stage));
    assert_file_text(html, "new html\n");
    assert_file_text(p, "rf");
    snprintf(p, sizeof p, "%s/nn/deeper/summary.tsv", rep);
    assert_file_text(p, "nn/deeper");
    snprintf(p, sizeof p, "%s/keep.txt", rep);
    assert_file_text(p, "untouched\n");
    assert_int_equal(count_entries(rep), 4); /* rf, nn, keep.txt, report.html */

    /* a subfolder whose name is taken by a file in the destination, or a file whose name is taken
     * by a folder: a clear error naming it, found before anything moves (the staged report.html
     * and rf/summary.tsv, which would move first, leave the old ones in place) */
    const char *clash[2][2] = {{"keep.txt", NULL}, {"nn", "nn"}}; /* {folder, file} */
    for (int k = 0; k < 2; k++) {
        assert_int_equal(qr_staging_create(html, stage, sizeof stage), QR_OK);
        snprintf(p, sizeof p, "%s/rf", stage);
        assert_int_equal(qr_mkdir_p(p), QR_OK);
        snprintf(p, sizeof p, "%s/rf/summary.tsv", stage);
        write_text(p, "clash rf\n");
        snprintf(p, sizeof p, "%s/report.html", stage);
        write_text(p, "clash html\n");
        if (clash[k][1]) {
            snprintf(p, sizeof p, "%s/%s", stage, clash[k][1]);
            write_text(p, "a file\n");
        } else {
            snprintf(p, sizeof p, "%s/%s", stage, clash[k][0]);
            assert_int_equal(qr_mkdir_p(p), QR_OK);
        }
        assert_int_equal(qr_staging_commit_files(stage, rep), QR_ERR_IO);
        assert_non_null(strstr(qr_last_error(), k == 0 ? "keep.txt: a file has that name" : "/nn: Is a directory"));
        assert_false(qr_path_is_dir(stage));
        assert_file_text(html, "new html\n");
        snprintf(p, sizeof p, "%s/rf/summary.tsv", rep);
        assert_file_text(p, "rf");
        assert_int_equal(count_entries(rep), 4);
    }
}

/* A report rewritten as a whole: the files the previous report listed and this one does not write
 * go (and the subfolders that leaves empty); a user's file, and anything a tampered record names
 * outside the folder, stays. */
static void rewrite_report(const char *rep, const char *const *files, int n, const char *const *keep, int nkeep) {
    char html[512], stage[QR_PATH_MAX], p[QR_PATH_MAX + 64];
    snprintf(html, sizeof html, "%s/report.html", rep);
    assert_int_equal(qr_staging_create(html, stage, QR_PATH_MAX), QR_OK);
    for (int k = 0; k < n; k++) {
        snprintf(p, sizeof p, "%s/%s", stage, files[k]);
        char *slash = strrchr(p, '/');
        *slash = '\0';
        assert_int_equal(qr_mkdir_p(p), QR_OK);
        *slash = '/';
        write_text(p, files[k]);
    }
    assert_int_equal(qr_staging_commit_report(stage, rep, keep, nkeep), QR_OK);
}

static void test_report_replaces_report(void **state) {
    (void)state;
    char rep[256], p[QR_PATH_MAX + 64];
    snprintf(rep, sizeof rep, "%s/whole", g_dir);
    assert_int_equal(qr_mkdir_p(rep), QR_OK);
    snprintf(p, sizeof p, "%s/mine.txt", rep);
    write_text(p, "the user's\n");
    const char *first[] = {"report.html", "summary.tsv", "roc.png", "a/metrics.json", "a/b/deep.tsv"};
    rewrite_report(rep, first, 5, NULL, 0);
    snprintf(p, sizeof p, "%s/a/b/deep.tsv", rep);
    assert_file_text(p, "a/b/deep.tsv");

    const char *second[] = {"report.html", "metrics.json", "c/summary.tsv"};
    rewrite_report(rep, second, 3, NULL, 0);
    const char *gone[] = {"summary.tsv", "roc.png", "a"}, *there[] = {"report.html", "metrics.json", "c/summary.tsv", "mine.txt"};
    for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s/%s", rep, gone[k]);
        assert_int_not_equal(access(p, F_OK), 0);
    }
    for (int k = 0; k < 4; k++) {
        snprintf(p, sizeof p, "%s/%s", rep, there[k]);
        assert_int_equal(access(p, F_OK), 0);
    }
    assert_file_text(p, "the user's\n");

    /* a record that names paths outside the folder: nothing outside is removed */
    snprintf(p, sizeof p, "%s/victim.txt", g_dir);
    write_text(p, "outside\n");
    snprintf(p, sizeof p, "%s/.qsmrim-report-files", rep);
    char rec[1024];
    snprintf(rec, sizeof rec, "../victim.txt\n%s/victim.txt\n./mine.txt\nc/../mine.txt\nmine.txt/\n", g_dir);
    write_text(p, rec);
    const char *third[] = {"report.html"};
    rewrite_report(rep, third, 1, NULL, 0);
    snprintf(p, sizeof p, "%s/victim.txt", g_dir);
    assert_file_text(p, "outside\n");
    snprintf(p, sizeof p, "%s/mine.txt", rep);
    assert_file_text(p, "the user's\n");
    snprintf(p, sizeof p, "%s/c/summary.tsv", rep); /* not in the tampered record: kept */
    assert_int_equal(access(p, F_OK), 0);

    /* a subfolder replaced by a link to a folder elsewhere: nothing there is removed */
    const char *linked[] = {"report.html", "m/summary.tsv"};
    rewrite_report(rep, linked, 2, NULL, 0);
    char m[512], away[512];
    snprintf(m, sizeof m, "%s/m", rep);
    snprintf(away, sizeof away, "%s/away", g_dir);
    assert_int_equal(rename(m, away), 0);
    assert_int_equal(symlink(away, m), 0);
    rewrite_report(rep, third, 1, NULL, 0);
    snprintf(p, sizeof p, "%s/summary.tsv", away);
    assert_file_text(p, "m/summary.tsv");

    /* files inside a kept folder (an --include of this report) stay, and stay listed */
    const char *two[] = {"report.html", "x/summary.tsv", "y/summary.tsv"};
    rewrite_report(rep, two, 3, NULL, 0);
    char kx[QR_PATH_MAX + 64];
    snprintf(kx, sizeof kx, "%s/x/", rep); /* another spelling of the folder */
    const char *keep[1] = {kx};
    rewrite_report(rep, third, 1, keep, 1);
    snprintf(p, sizeof p, "%s/y/summary.tsv", rep);
    assert_int_not_equal(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/x/summary.tsv", rep);
    assert_file_text(p, "x/summary.tsv");
    rewrite_report(rep, third, 1, NULL, 0); /* still listed: a later run without the include removes it */
    assert_int_not_equal(access(p, F_OK), 0);
}

/* What a killed run leaves (temporaries, staging folders) is removed at the next run when the
 * process that made it is gone - and only then, only under the given name prefix, only when its
 * name carries this machine's token (another machine's or container's: when a day old), never
 * through a link, and never a user's file that merely looks alike. */
static void test_leftovers(void **state) {
    (void)state;
    char dir[2200], path[4400];
    snprintf(dir, sizeof dir, "%s/left", g_dir);
    assert_int_equal(qr_mkdir_p(dir), QR_OK);
    const pid_t child = fork();
    if (child == 0) _exit(0);
    assert_true(child > 0);
    assert_int_equal(waitpid(child, NULL, 0), child); /* a PID that no longer runs */
    const long dead = (long)child, live = (long)getppid();
    const unsigned tok = qr_place_token(), other = tok ^ 0x5a5a5a5au;
    char names[16][128];
    /* 0-1: the dead run's temporaries under the prefix; 2: the live one's; 3: the dead run's under
     * another name; 4-5: not temporaries; 6: a user's file in the old pattern; 7: another place's
     * dead-looking temporary, recent; 8: the same, two days old */
    snprintf(names[0], 128, ".model.h5.seed1.ckpt.qsmrim-tmp-%08x-%ld-3.h5", tok, dead);
    snprintf(names[1], 128, ".model.h5.qsmrim-tmp-%08x-%ld-0.h5", tok, dead);
    snprintf(names[2], 128, ".model.h5.seed1.ckpt.qsmrim-tmp-%08x-%ld-4.h5", tok, live);
    snprintf(names[3], 128, ".other.h5.qsmrim-tmp-%08x-%ld-1.h5", tok, dead);
    snprintf(names[4], 128, "model.h5");
    snprintf(names[5], 128, ".model.h5.qsmrim-tmp-x");
    snprintf(names[6], 128, ".draft.tmp-%ld-11.txt", dead);
    snprintf(names[7], 128, ".model.h5.qsmrim-tmp-%08x-%ld-5", other, dead);
    snprintf(names[8], 128, ".model.h5.qsmrim-tmp-%08x-%ld-6", other, dead);
    for (int i = 0; i < 9; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/%s", dir, names[8]);
    const struct timeval old[2] = {{time(NULL) - 2 * 86400, 0}, {time(NULL) - 2 * 86400, 0}};
    assert_int_equal(utimes(path, old), 0);
    /* "recent" is anything under a day: 7 last touched 23 hours ago (a slow run elsewhere) */
    snprintf(path, sizeof path, "%s/%s", dir, names[7]);
    const struct timeval hours23[2] = {{time(NULL) - 23 * 3600, 0}, {time(NULL) - 23 * 3600, 0}};
    assert_int_equal(utimes(path, hours23), 0);
    /* staging folders: 9 a dead run's (with a file inside), 10 a live one's, 11 a link named like
     * a dead run's to a folder of the user's, which must keep its file */
    snprintf(names[9], 128, ".qsmrim-staging-%08x-%ld-7", tok, dead);
    snprintf(names[10], 128, ".qsmrim-staging-%08x-%ld-8", tok, live);
    snprintf(names[11], 128, ".qsmrim-staging-%08x-%ld-9", tok, dead);
    snprintf(path, sizeof path, "%s/%s", dir, names[9]);
    assert_int_equal(qr_mkdir_p(path), QR_OK);
    snprintf(path, sizeof path, "%s/%s/report.html", dir, names[9]);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/%s", dir, names[10]);
    assert_int_equal(qr_mkdir_p(path), QR_OK);
    char victim[2200];
    snprintf(victim, sizeof victim, "%s/victim", g_dir);
    assert_int_equal(qr_mkdir_p(victim), QR_OK);
    snprintf(path, sizeof path, "%s/precious.txt", victim);
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/%s", dir, names[11]);
    assert_int_equal(symlink(victim, path), 0);
    /* under the prefix "model.h5": the two temporaries of the dead run, and the old foreign one */
    assert_int_equal(qr_remove_leftovers(dir, "model.h5"), 3);
    const int gone1[12] = {1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};
    for (int i = 0; i < 12; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        assert_int_equal(lstat(path, &st) != 0, gone1[i]);
    }
    /* any name: the other dead temporary and the dead staging folder; not the link */
    assert_int_equal(qr_remove_leftovers(dir, NULL), 2);
    const int gone2[12] = {1, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0};
    for (int i = 0; i < 12; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        assert_int_equal(lstat(path, &st) != 0, gone2[i]);
    }
    snprintf(path, sizeof path, "%s/precious.txt", victim);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(qr_remove_leftovers(dir, NULL), 0);
    /* another user's temporary of a dead run (a shared folder) is not ours to judge: kept. Only
     * root can make one here. */
    if (geteuid() == 0) {
        snprintf(path, sizeof path, "%s/.model.h5.qsmrim-tmp-%08x-%ld-12.h5", dir, tok, dead);
        FILE *o = fopen(path, "w");
        assert_non_null(o);
        fclose(o);
        assert_int_equal(chown(path, 65534, 65534), 0);
        assert_int_equal(qr_remove_leftovers(dir, "model.h5"), 0);
        assert_int_equal(access(path, F_OK), 0);
        unlink(path);
    }
}

static void test_tsv(void **state) {
    (void)state;
    char path[QR_PATH_MAX];
    snprintf(path, sizeof path, "%s/t.tsv", g_dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "# comment\nsubject\tqsm\tn\r\ns1\ta.nii\t3\n\ns2\tb.nii\tx\n");
    fclose(f);
    qr_tsv t;
    assert_int_equal(qr_tsv_read(path, &t), QR_OK);
    assert_int_equal(t.ncols, 3);
    assert_int_equal(t.nrows, 2);
    assert_string_equal(t.comments, "# comment\n");
    int c;
    assert_int_equal(qr_tsv_require(&t, "n", &c), QR_OK);
    assert_int_equal(qr_tsv_column(&t, "qsm"), 1);
    assert_string_equal(qr_tsv_cell(&t, 1, 1), "b.nii");
    int64_t v;
    assert_int_equal(qr_tsv_get_int(&t, 0, c, &v), QR_OK);
    assert_int_equal(v, 3);
    assert_int_equal(qr_tsv_get_int(&t, 1, c, &v), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "line 5, column 'n': 'x' is not an integer"));
    assert_int_equal(qr_tsv_require(&t, "flair", &c), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "has no column 'flair'"));
    qr_tsv_free(&t);

    f = fopen(path, "w");
    fprintf(f, "a\tb\n1\t2\t3\n");
    fclose(f);
    assert_int_equal(qr_tsv_read(path, &t), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "line 2 has 3 tab-separated cells, the header has 2"));
    f = fopen(path, "w");
    fclose(f);
    assert_int_equal(qr_tsv_read(path, &t), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "is empty"));
    /* old Mac OS line ends (CR alone), and CR LF mixed with LF: the same rows and line numbers */
    write_text(path, "# comment\rsubject\tqsm\tn\rs1\ta.nii\t3\r\rs2\tb.nii\tx\r#end");
    assert_int_equal(qr_tsv_read(path, &t), QR_OK);
    assert_string_equal(t.comments, "# comment\n#end\n"); /* each comment a line of its own */
    assert_int_equal(t.ncols, 3);
    assert_int_equal(t.nrows, 2);
    assert_string_equal(t.header[2], "n");
    assert_string_equal(qr_tsv_cell(&t, 0, 2), "3");
    assert_string_equal(qr_tsv_cell(&t, 1, 1), "b.nii");
    assert_int_equal(qr_tsv_get_int(&t, 1, 2, &v), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "line 5, column 'n': 'x' is not an integer"));
    qr_tsv_free(&t);
    write_text(path, "a\tb\r\n1\t2\n3\t4\r\n");
    assert_int_equal(qr_tsv_read(path, &t), QR_OK);
    assert_int_equal(t.nrows, 2);
    assert_string_equal(qr_tsv_cell(&t, 1, 1), "4");
    assert_int_equal(t.lineno[1], 3);
    qr_tsv_free(&t);
    /* hand edits: spaces around a column name and around numbers; other cells stay as written */
    write_text(path, " lesion_id\trim \tnote\n1 \t 0\t a b \n2\t1 \tx\n");
    assert_int_equal(qr_tsv_read(path, &t), QR_OK);
    assert_int_equal(qr_tsv_column(&t, "lesion_id"), 0);
    assert_int_equal(qr_tsv_column(&t, "rim"), 1);
    assert_int_equal(qr_tsv_get_int(&t, 0, 0, &v), QR_OK);
    assert_int_equal(v, 1);
    assert_int_equal(qr_tsv_get_int(&t, 1, 1, &v), QR_OK);
    assert_int_equal(v, 1);
    double dv;
    assert_int_equal(qr_tsv_get_double(&t, 0, 1, &dv), QR_OK);
    assert_true(dv == 0.0);
    assert_string_equal(qr_tsv_cell(&t, 0, 2), " a b ");
    qr_tsv_free(&t);
    /* column names in other capitals, integers written as floats by a table export ("1.0"), but no
     * fraction */
    write_text(path, "Lesion_ID\tRIM\tvalue\n2.0\t1.00\t0\n3.\t0.5\t1\n");
    assert_int_equal(qr_tsv_read(path, &t), QR_OK);
    assert_int_equal(qr_tsv_column(&t, "lesion_id"), 0);
    assert_int_equal(qr_tsv_column(&t, "rim"), 1);
    assert_int_equal(qr_tsv_column(&t, "Rim"), 1);
    assert_int_equal(qr_tsv_column(&t, "note"), -1);
    assert_int_equal(qr_tsv_get_int(&t, 0, 0, &v), QR_OK);
    assert_int_equal(v, 2);
    assert_int_equal(qr_tsv_get_int(&t, 0, 1, &v), QR_OK);
    assert_int_equal(v, 1);
    assert_int_equal(qr_tsv_get_int(&t, 1, 0, &v), QR_OK);
    assert_int_equal(v, 3);
    assert_int_equal(qr_tsv_get_int(&t, 1, 1, &v), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "column 'RIM': '0.5' is not an integer"));
    qr_tsv_free(&t);
    /* a column named twice, also in other capitals or with spaces around: which one counts would
     * be a guess, so the table is refused naming both; unnamed columns may repeat */
    write_text(path, "# two raters\nlesion_id\trim\t Rim \n1\t0\t1\n");
    assert_int_equal(qr_tsv_read(path, &t), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "t.tsv: line 2: the header names column 'Rim' twice (columns 2 and 3); rename or remove one"));
    write_text(path, "subject\tqsm\tflair\tlesions\tqsm\ns\ta\tb\tc\td\n");
    assert_int_equal(qr_tsv_read(path, &t), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "column 'qsm' twice (columns 2 and 5)"));
    write_text(path, "a\t\tb\t\n1\t2\t3\t4\n");
    assert_int_equal(qr_tsv_read(path, &t), QR_OK);
    assert_int_equal(t.ncols, 4);
    qr_tsv_free(&t);
    write_text(path, "lesion_id\trim\n1\t \n"); /* a cell of spaces is no number (not 0) */
    assert_int_equal(qr_tsv_read(path, &t), QR_OK);
    assert_int_equal(qr_tsv_get_int(&t, 0, 1, &v), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "column 'rim': ' ' is not an integer"));
    assert_int_equal(qr_tsv_get_double(&t, 0, 1, &dv), QR_ERR_FORMAT);
    qr_tsv_free(&t);
    /* a comma-separated or quoted header: the missing-column message quotes it and says why */
    write_text(path, "lesion_id,rim\n1,0\n");
    assert_int_equal(qr_tsv_read(path, &t), QR_OK);
    assert_int_equal(qr_tsv_require(&t, "rim", &c), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "has no column 'rim'; its header reads 'lesion_id,rim' - one column: columns must be "
                                            "separated by tabs, not commas or semicolons"));
    qr_tsv_free(&t);
    write_text(path, "\"lesion_id\"\t\"rim\"\n1\t0\n");
    assert_int_equal(qr_tsv_read(path, &t), QR_OK);
    assert_int_equal(qr_tsv_require(&t, "rim", &c), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "its header reads '\"lesion_id\"<tab>\"rim\"' - names in quotes"));
    qr_tsv_free(&t);
    /* lines of blanks only are empty lines, wherever they are */
    write_text(path, "lesion_id\trim\n  \n1\t0\n\t \t\n2\t1\n \t");
    assert_int_equal(qr_tsv_read(path, &t), QR_OK);
    assert_int_equal(t.nrows, 2);
    assert_int_equal(t.lineno[1], 5);
    qr_tsv_free(&t);
    /* UTF-16 (both byte orders): said so, not "a binary file" */
    static const char utf16le[] = "\xFF\xFEl\0i\0d\0\n\0";
    static const char utf16be[] = "\xFE\xFF\0l\0i\0d\0\n";
    for (int k = 0; k < 2; k++) {
        f = fopen(path, "wb");
        fwrite(k ? utf16be : utf16le, 1, sizeof utf16le - 1, f);
        fclose(f);
        assert_int_equal(qr_tsv_read(path, &t), QR_ERR_FORMAT);
        assert_non_null(strstr(qr_last_error(), "is UTF-16 text"));
    }
    static const char utf32le[] = "\xFF\xFE\0\0i\0\0\0d\0\0\0";
    f = fopen(path, "wb");
    fwrite(utf32le, 1, sizeof utf32le - 1, f);
    fclose(f);
    assert_int_equal(qr_tsv_read(path, &t), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "is UTF-32 text"));
    snprintf(path, sizeof path, "%s/missing.tsv", g_dir);
    assert_int_equal(qr_tsv_read(path, &t), QR_ERR_IO);
}

static void test_rng(void **state) {
    (void)state;
    qr_rng a, b, c;
    qr_rng_seed(&a, 42, 0);
    qr_rng_seed(&b, 42, 0);
    qr_rng_seed(&c, 42, 1);
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = qr_rng_u64(&a), y = qr_rng_u64(&b), z = qr_rng_u64(&c);
        assert_true(x == y);
        differ += x != z;
    }
    assert_true(differ > 95);
    /* moments of the uniform and normal draws over 200000 samples */
    double su = 0, sn = 0, sn2 = 0;
    int counts[7] = {0};
    const int N = 200000;
    for (int i = 0; i < N; i++) {
        double u = qr_rng_uniform(&a);
        assert_true(u >= 0 && u < 1);
        su += u;
        double g = qr_rng_normal(&a);
        sn += g;
        sn2 += g * g;
        counts[qr_rng_below(&a, 7)]++;
    }
    assert_float_equal(su / N, 0.5, 0.005);
    assert_float_equal(sn / N, 0.0, 0.01);
    assert_float_equal(sn2 / N, 1.0, 0.02);
    for (int k = 0; k < 7; k++) assert_float_equal(counts[k] / (double)N, 1.0 / 7, 0.005);
    int perm[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, seen[10] = {0};
    qr_rng_shuffle_int(&a, perm, 10);
    for (int k = 0; k < 10; k++) seen[perm[k]]++;
    for (int k = 0; k < 10; k++) assert_int_equal(seen[k], 1);
}

static void test_resources(void **state) {
    (void)state;
    char out[QR_PATH_MAX];
    setenv("QSMRIM_RESOURCE_DIR", g_dir, 1);
    char path[QR_PATH_MAX];
    snprintf(path, sizeof path, "%s/thing.txt", g_dir);
    FILE *f = fopen(path, "w");
    fclose(f);
    assert_int_equal(qr_resource_path("thing.txt", out, sizeof out), QR_OK);
    assert_string_equal(out, path);
    assert_int_equal(qr_resource_path("no/such/resource.h5", out, sizeof out), QR_ERR_IO);
    assert_non_null(strstr(qr_last_error(), "resource no/such/resource.h5 not found"));
    unsetenv("QSMRIM_RESOURCE_DIR");
}

static void test_paths(void **state) {
    (void)state;
    char d[64];
    qr_path_dirname("a/b/c.nii.gz", d, sizeof d);
    assert_string_equal(d, "a/b");
    qr_path_dirname("c.nii", d, sizeof d);
    assert_string_equal(d, ".");
    /* slashes at the end do not count: a DICOM output folder "series/" lies in "." */
    qr_path_dirname("series/", d, sizeof d);
    assert_string_equal(d, ".");
    qr_path_dirname("a/b/series//", d, sizeof d);
    assert_string_equal(d, "a/b");
    qr_path_dirname("/series/", d, sizeof d);
    assert_string_equal(d, "/");
    qr_path_dirname("/", d, sizeof d);
    assert_string_equal(d, "/");
    assert_string_equal(qr_path_basename("a/b/c.nii.gz"), "c.nii.gz");
    assert_true(qr_path_has_suffix("X.NII.GZ", ".nii.gz"));
    char tmp[QR_PATH_MAX];
    assert_int_equal(qr_temp_sibling("dir/img.nii.gz", 1, tmp, sizeof tmp), QR_OK);
    char want[64];
    snprintf(want, sizeof want, "dir/.img.qsmrim-tmp-%08x-%ld-", qr_place_token(), (long)getpid());
    assert_true(strncmp(tmp, want, strlen(want)) == 0);
    assert_true(qr_path_has_suffix(tmp, ".nii.gz"));
}

/* Report text as UTF-8: well-formed sequences kept, other bytes read as Latin-1, a character that
 * does not fit left out whole. */
static void test_utf8_copy(void **state) {
    (void)state;
    char out[32];
    qr_utf8_copy(out, sizeof out, "caf\xe9 \xc3\xa9t\xc3\xa9 \xed\xa0\x80");
    assert_string_equal(out, "caf\xc3\xa9 \xc3\xa9t\xc3\xa9 \xc3\xad\xc2\xa0\xc2\x80");
    qr_utf8_copy(out, 5, "abc\xc3\xa9"); /* room for 4 bytes: the 2-byte e-acute does not fit after abc */
    assert_string_equal(out, "abc");
    qr_utf8_copy(out, 6, "abc\xc3\xa9");
    assert_string_equal(out, "abc\xc3\xa9");
    qr_utf8_copy(out, sizeof out, "\xf0\x9f\x99\x82\xf0\x9f\x99"); /* an emoji, then one cut short */
    assert_string_equal(out, "\xf0\x9f\x99\x82\xc3\xb0\xc2\x9f\xc2\x99");
    qr_utf8_copy(out, sizeof out, NULL);
    assert_string_equal(out, "");
    qr_utf8_copy(out, sizeof out, "\xc0\x80"); /* overlong: two Latin-1 bytes */
    assert_string_equal(out, "\xc3\x80\xc2\x80");
    qr_utf8_copy(out, sizeof out, "\xf4\x90\x80\x80"); /* beyond U+10FFFF */
    assert_string_equal(out, "\xc3\xb4\xc2\x90\xc2\x80\xc2\x80");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_messages), cmocka_unit_test(test_atomic_commit_and_abort),
        cmocka_unit_test(test_pending_outputs),
        cmocka_unit_test(test_staged_report_folder), cmocka_unit_test(test_report_replaces_report),
        cmocka_unit_test(test_leftovers),
        cmocka_unit_test(test_tsv),            cmocka_unit_test(test_rng),
        cmocka_unit_test(test_utf8_copy),
        cmocka_unit_test(test_resources),      cmocka_unit_test(test_paths),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
