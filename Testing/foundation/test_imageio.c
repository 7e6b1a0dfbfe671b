/*
 * test_imageio.c - the ITK C layer: round trips in every format with geometry compared, geometry
 * alignment, and every bad input with its specific error message.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "core/fileutil.h"
#include "io/geometry.h"
#include "io/filecheck.h"
#include "io/imageio.h"
#include "io/outputs.h"

static char g_dir[256];

static const char *tmp_path(const char *name) {
    static char buf[8][QR_PATH_MAX + sizeof g_dir];
    static int slot = 0;
    slot = (slot + 1) % 8;
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", g_dir, name);
    return buf[slot];
}

static int setup_dir(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/qsmrim-test-io-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown_dir(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A non-trivial right-handed geometry: anisotropic spacing, offset origin, oblique direction. */
static qr_geometry test_geometry(int64_t ni, int64_t nj, int64_t nk) {
    qr_geometry g = qr_geometry_identity(ni, nj, nk);
    g.spacing[0] = 0.75;
    g.spacing[1] = 0.8;
    g.spacing[2] = 3.0;
    g.origin[0] = -95.5;
    g.origin[1] = 120.25;
    g.origin[2] = -40.0;
    double t = 10.0 * M_PI / 180.0; /* rotation of 10 degrees about z */
    double d[9] = {cos(t), -sin(t), 0, sin(t), cos(t), 0, 0, 0, 1};
    memcpy(g.direction, d, sizeof d);
    return g;
}

static void fill_float(qr_volume *v) {
    float *p = qr_volume_f32(v);
    for (int64_t i = 0; i < qr_volume_nvox(v); i++) p[i] = (float)(sin(0.37 * (double)i) * 123.456 + 0.001 * (double)i);
}

static void assert_geometry_close(const qr_geometry *a, const qr_geometry *b, double tol) {
    for (int k = 0; k < 3; k++) {
        assert_int_equal(a->size[k], b->size[k]);
        assert_true(fabs(a->spacing[k] - b->spacing[k]) <= tol);
        assert_true(fabs(a->origin[k] - b->origin[k]) <= tol);
    }
    for (int k = 0; k < 9; k++) assert_true(fabs(a->direction[k] - b->direction[k]) <= tol);
}

static void expect_error(qr_status got, qr_status want, const char *needle) {
    if (got != want || !strstr(qr_last_error(), needle))
        fail_msg("expected status %s with message containing '%s'; got %s: '%s'", qr_status_name(want), needle,
                 qr_status_name(got), qr_last_error());
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void truncate_file(const char *path, double keep_fraction) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, (off_t)((double)st.st_size * keep_fraction)), 0);
}

/* ---- round trips ---- */

static void roundtrip_float(const char *name, double geom_tol, double value_tol) {
    qr_geometry g = test_geometry(13, 11, 7);
    qr_volume v, r;
    assert_int_equal(qr_volume_alloc(&v, &g, QR_FLOAT32), QR_OK);
    fill_float(&v);
    const char *path = tmp_path(name);
    qr_status s = qr_image_write(path, &v, 0);
    if (s != QR_OK) fail_msg("write %s: %s", name, qr_last_error());
    qr_read_info info;
    s = qr_image_read(path, QR_FLOAT32, &r, &info);
    if (s != QR_OK) fail_msg("read %s: %s", name, qr_last_error());
    assert_geometry_close(&v.geom, &r.geom, geom_tol);
    const float *a = qr_volume_f32(&v), *b = qr_volume_f32(&r);
    double maxerr = 0;
    for (int64_t i = 0; i < qr_volume_nvox(&v); i++) maxerr = fmax(maxerr, fabs((double)a[i] - (double)b[i]));
    if (maxerr > value_tol) fail_msg("%s: max value error %g > %g", name, maxerr, value_tol);
    assert_int_equal(info.nonfinite, 0);
    qr_volume_free(&v);
    qr_volume_free(&r);
}

static void roundtrip_labels(const char *name, int32_t maxlabel) {
    qr_geometry g = test_geometry(9, 8, 5);
    qr_volume v, r;
    assert_int_equal(qr_volume_alloc(&v, &g, QR_INT32), QR_OK);
    int32_t *p = qr_volume_i32(&v);
    for (int64_t i = 0; i < qr_volume_nvox(&v); i++) p[i] = (int32_t)((i * 7919) % (maxlabel + 1));
    const char *path = tmp_path(name);
    if (qr_image_write(path, &v, QR_WRITE_COMPRESS) != QR_OK) fail_msg("write %s: %s", name, qr_last_error());
    if (qr_image_read(path, QR_INT32, &r, NULL) != QR_OK) fail_msg("read %s: %s", name, qr_last_error());
    assert_geometry_close(&v.geom, &r.geom, 1e-5);
    assert_memory_equal(v.data, r.data, (size_t)qr_volume_nvox(&v) * sizeof(int32_t));
    qr_volume_free(&v);
    qr_volume_free(&r);
}

/* NIfTI stores geometry as float32 quaternion + sform: 1e-5 mm/cosine. Text headers: %.17g. */
static void test_roundtrip_nifti(void **state) {
    (void)state;
    roundtrip_float("a.nii", 1e-5, 0);
    roundtrip_float("a.nii.gz", 1e-5, 0);
}
static void test_roundtrip_nrrd(void **state) {
    (void)state;
    roundtrip_float("a.nrrd", 1e-9, 0);
    roundtrip_float("b.nhdr", 1e-9, 0);
}
static void test_roundtrip_meta(void **state) {
    (void)state;
    roundtrip_float("a.mha", 1e-9, 0);
    roundtrip_float("b.mhd", 1e-9, 0);
}
/* DICOM stores int16 with rescale slope/intercept: values within half a quantisation step
 * (range 2*123.5 / 65000 ~ 0.004), geometry as decimal strings. */
static void test_roundtrip_dicom(void **state) {
    (void)state;
    roundtrip_float("series_float", 1e-5, 0.0025);
}
/* A pipe among a DICOM folder's files is refused: GDCM's scan stopped there, and the series was read
 * with fewer slices and no error. */
static void test_dicom_folder_pipe(void **state) {
    (void)state;
    char dir[512], fifo[600];
    snprintf(dir, sizeof dir, "%s/series_pipe", g_dir);
    qr_geometry g = test_geometry(8, 8, 6);
    qr_volume v;
    assert_int_equal(qr_volume_alloc(&v, &g, QR_FLOAT32), QR_OK);
    assert_int_equal(qr_image_write(dir, &v, 0), QR_OK);
    qr_volume back;
    assert_int_equal(qr_image_read(dir, QR_FLOAT32, &back, NULL), QR_OK);
    qr_volume_free(&back);
    snprintf(fifo, sizeof fifo, "%s/zz.dcm", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    expect_error(qr_image_read(dir, QR_FLOAT32, &back, NULL), QR_ERR_IO, "zz.dcm in this DICOM folder is not a regular file");
    assert_int_equal(unlink(fifo), 0);
    /* a broken link among the slices: GDCM stopped there too */
    assert_int_equal(symlink("/nonexistent/slice.dcm", fifo), 0);
    expect_error(qr_image_read(dir, QR_FLOAT32, &back, NULL), QR_ERR_IO, "zz.dcm in this DICOM folder cannot be reached");
    assert_int_equal(unlink(fifo), 0);
    assert_int_equal(qr_image_read(dir, QR_FLOAT32, &back, NULL), QR_OK);
    qr_volume_free(&back);
    qr_volume_free(&v);
}
/* Warnings the library logs, kept for the test to inspect. */
static char g_warnings[4096];
static void keep_warnings(qr_log_level level, const char *message, void *user) {
    (void)user;
    if (level == QR_LOG_WARNING && strlen(g_warnings) + strlen(message) + 2 < sizeof g_warnings) {
        strcat(g_warnings, message);
        strcat(g_warnings, "\n");
    }
}

/* A grid whose axes are accepted (to QR_DIRECTION_TOL) but not quite perpendicular, as a NRRD or
 * MetaImage input may have: those formats keep it exactly; NIfTI and DICOM hold a rotation only,
 * so ITK writes the nearest one and the voxels move a little. That is said in a warning with the
 * largest shift, which is what the file read back shows; a perpendicular grid writes silently. */
static void test_sheared_grid_written(void **state) {
    (void)state;
    qr_geometry g = test_geometry(30, 28, 12);
    const double shear = 5e-4; /* axis 1 leans towards axis 0 */
    for (int r = 0; r < 3; r++) g.direction[3 * r + 1] += shear * g.direction[3 * r + 0];
    assert_true(qr_geometry_direction_defect(&g) > 4e-4 && qr_geometry_direction_defect(&g) < QR_DIRECTION_TOL);
    qr_volume v, r;
    assert_int_equal(qr_volume_alloc(&v, &g, QR_INT32), QR_OK);
    int32_t *p = qr_volume_i32(&v);
    for (int64_t i = 0; i < qr_volume_nvox(&v); i++) p[i] = (int32_t)(i % 5);
    qr_set_log_sink(keep_warnings, NULL);
    static const char *const names[] = {"shear.nrrd", "shear.mha", "shear.nii.gz", "shear_series/", "square.nii.gz"};
    for (int k = 0; k < 5; k++) {
        qr_volume w = v;
        if (k == 4) memcpy(w.geom.direction, test_geometry(1, 1, 1).direction, sizeof w.geom.direction);
        g_warnings[0] = '\0';
        const char *path = tmp_path(names[k]);
        if (qr_image_write(path, &w, 0) != QR_OK) fail_msg("write %s: %s", names[k], qr_last_error());
        if (qr_image_read(path, QR_INT32, &r, NULL) != QR_OK) fail_msg("read %s: %s", names[k], qr_last_error());
        const double shift = qr_geometry_max_shift_mm(&w.geom, &r.geom);
        assert_memory_equal(w.data, r.data, (size_t)qr_volume_nvox(&w) * sizeof(int32_t));
        qr_volume_free(&r);
        if (k < 2 || k == 4) { /* kept as written, silently */
            if (shift > 1e-6 || g_warnings[0]) fail_msg("%s: shift %g mm, warnings '%s'", names[k], shift, g_warnings);
            continue;
        }
        /* the shift is of the order of the shear times the grid's extent (about 40 mm here) */
        if (!(shift > 0.005 && shift < 0.05)) fail_msg("%s: shift %g mm", names[k], shift);
        char want[64];
        snprintf(want, sizeof want, "voxels lie up to %.3g mm from where", shift);
        if (!strstr(g_warnings, want) || !strstr(g_warnings, k == 2 ? "NIfTI stores only" : "DICOM stores only") ||
            !strstr(g_warnings, "depart from them by 0.0005"))
            fail_msg("%s: warnings '%s' lack '%s'", names[k], g_warnings, want);
    }
    qr_set_log_sink(NULL, NULL);
    qr_volume_free(&v);
}

static void test_roundtrip_labels(void **state) {
    (void)state;
    roundtrip_labels("l.nii.gz", 7);
    roundtrip_labels("l.nrrd", 300);      /* int16 on disk */
    roundtrip_labels("l2.nrrd", 100000);  /* int32 on disk */
    roundtrip_labels("l.mha", 5);
    roundtrip_labels("l.nhdr", 12);
    roundtrip_labels("series_labels", 40);
}

/* .nhdr writes two files (header + data) and must leave no staging folder behind. */
static void test_atomic_no_leftovers(void **state) {
    (void)state;
    char sub[512];
    snprintf(sub, sizeof sub, "%s/atomic", g_dir);
    assert_int_equal(qr_mkdir_p(sub), QR_OK);
    qr_geometry g = test_geometry(4, 4, 4);
    qr_volume v;
    assert_int_equal(qr_volume_alloc(&v, &g, QR_FLOAT32), QR_OK);
    char path[QR_PATH_MAX];
    snprintf(path, sizeof path, "%s/x.nhdr", sub);
    assert_int_equal(qr_image_write(path, &v, QR_WRITE_COMPRESS), QR_OK);
    char cmd[QR_PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "test \"$(ls -A '%s' | sort | tr '\\n' ' ')\" = 'x.nhdr x.raw.gz '", sub);
    assert_int_equal(system(cmd), 0);
    /* writing into a missing folder fails cleanly */
    snprintf(path, sizeof path, "%s/missing/x.nrrd", g_dir);
    expect_error(qr_image_write(path, &v, 0), QR_ERR_IO, "does not exist");
    /* pending: written completely, nothing at the final names until committed; an abort leaves
     * the folder as it was */
    qr_pending p;
    snprintf(path, sizeof path, "%s/y.nhdr", sub);
    assert_int_equal(qr_image_write_pending(path, &v, QR_WRITE_COMPRESS, &p), QR_OK);
    assert_false(qr_path_is_file(path));
    qr_pending_abort(&p);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(qr_image_write_pending(path, &v, QR_WRITE_COMPRESS, &p), QR_OK);
    assert_int_equal(qr_pending_commit(&p), QR_OK);
    snprintf(cmd, sizeof cmd, "test \"$(ls -A '%s' | sort | tr '\\n' ' ')\" = 'x.nhdr x.raw.gz y.nhdr y.raw.gz '", sub);
    assert_int_equal(system(cmd), 0);
    qr_volume_free(&v);
}

/* A write the disk cannot hold (here: the process's file-size limit, which makes write() return
 * short as a full disk does) fails in every format, and the file already there is kept as it was:
 * NIfTI and MetaImage writers only print a message on a short write, so the output is read back
 * before it replaces anything; GDCM stops the process on one, so a DICOM series is refused first. */
static void test_short_write_keeps_old(void **state) {
    (void)state;
    qr_geometry g = test_geometry(64, 64, 16);
    qr_volume v, lab;
    assert_int_equal(qr_volume_alloc(&v, &g, QR_FLOAT32), QR_OK);
    assert_int_equal(qr_volume_alloc(&lab, &g, QR_INT32), QR_OK);
    uint32_t x = 12345u; /* noise: no compression brings it under the limit */
    for (int64_t i = 0; i < qr_volume_nvox(&v); i++) {
        x = x * 1664525u + 1013904223u;
        qr_volume_f32(&v)[i] = (float)(x >> 8) * 1e-3f;
        qr_volume_i32(&lab)[i] = (int32_t)(x >> 20);
    }
    char sub[512];
    snprintf(sub, sizeof sub, "%s/short", g_dir);
    assert_int_equal(qr_mkdir_p(sub), QR_OK);
    static const char *names[] = {"p.nii", "p.nii.gz", "p.mha", "p.mhd", "p.nrrd", "p.nhdr"};
    char path[QR_PATH_MAX];
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = old;
    small.rlim_cur = 32768;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        for (int labels = 0; labels < 2; labels++) {
            snprintf(path, sizeof path, "%s/%s", sub, names[i]);
            write_bytes(path, "old", 3);
            assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
            const qr_status s = qr_image_write(path, labels ? &lab : &v, 0);
            assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
            if (s == QR_OK) fail_msg("%s (%s): a write over the file-size limit succeeded", names[i], labels ? "labels" : "float");
            assert_int_equal(s, QR_ERR_IO);
            char buf[8] = {0};
            FILE *f = fopen(path, "rb");
            assert_non_null(f);
            assert_int_equal(fread(buf, 1, sizeof buf, f), 3);
            fclose(f);
            assert_string_equal(buf, "old");
        }
    /* a DICOM series whose slices (8 kB of pixels each) are over the limit: refused before GDCM
     * writes a slice */
    snprintf(path, sizeof path, "%s/series", sub);
    small.rlim_cur = 4096;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    const qr_status s = qr_image_write(path, &lab, 0);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    expect_error(s, QR_ERR_IO, "file-size limit");
    assert_false(qr_path_is_dir(path));
    signal(SIGXFSZ, old_handler);
    /* nothing but the old files is left in the folder (no staging folders, no temporary names) */
    char cmd[QR_PATH_MAX + 96];
    snprintf(cmd, sizeof cmd, "test \"$(ls -A '%s' | sort | tr '\\n' ' ')\" = 'p.mha p.mhd p.nhdr p.nii p.nii.gz p.nrrd '", sub);
    assert_int_equal(system(cmd), 0);
    /* without the limit the same writes succeed, and a series folder takes the umask's permissions */
    snprintf(path, sizeof path, "%s/p.nii.gz", sub);
    assert_int_equal(qr_image_write(path, &v, 0), QR_OK);
    const mode_t mask = umask(022);
    snprintf(path, sizeof path, "%s/series", sub);
    assert_int_equal(qr_image_write(path, &lab, 0), QR_OK);
    umask(mask);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0755);
    qr_volume_free(&v);
    qr_volume_free(&lab);
}

/* Output names: a known extension or a DICOM folder name; anything else is refused before writing,
 * so "overlay.png" does not become a DICOM folder. */
static void test_output_names(void **state) {
    (void)state;
    static const char *ok[] = {"a.nii", "a.nii.gz", "a.nrrd", "a.nhdr", "a.mha", "a.mhd", "Sub.T1.nii.gz", "series",
                               "series.2", "series/", "run.v2/series"};
    static const char *bad[] = {"overlay.png", "x.nii.bz2", "x.img", "labels.tsv", "a.nii.gz2"};
    char path[QR_PATH_MAX];
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        snprintf(path, sizeof path, "%s/%s", g_dir, ok[i]);
        if (qr_image_output_check(path) != QR_OK) fail_msg("%s refused: %s", ok[i], qr_last_error());
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(path, sizeof path, "%s/%s", g_dir, bad[i]);
        expect_error(qr_image_output_check(path), QR_ERR_INVALID_ARG, "unknown image extension");
    }
    /* an existing file without an image extension; an existing empty folder (a DICOM series goes
     * into it) but not one holding files; a folder named like an image file */
    write_bytes(tmp_path("plainfile"), "x", 1);
    expect_error(qr_image_output_check(tmp_path("plainfile")), QR_ERR_INVALID_ARG, "an existing file without an image extension");
    expect_error(qr_image_output_check(g_dir), QR_ERR_INVALID_ARG, "a DICOM series is written into a new or empty folder");
    assert_int_equal(qr_mkdir_p(tmp_path("emptyseries")), QR_OK);
    assert_int_equal(qr_image_output_check(tmp_path("emptyseries")), QR_OK);
    assert_int_equal(qr_mkdir_p(tmp_path("folder.nii.gz")), QR_OK);
    expect_error(qr_image_output_check(tmp_path("folder.nii.gz")), QR_ERR_INVALID_ARG, "is a folder; give an image file name");
    /* a table output that is a folder is refused before any work */
    const qr_io_path tables[1] = {{tmp_path("emptyseries"), "--out-table", 0, 0}};
    expect_error(qr_outputs_check(NULL, 0, tables, 1), QR_ERR_INVALID_ARG, "is a folder; give a file name");
    /* qr_image_write refuses the name and creates nothing */
    qr_geometry g = test_geometry(3, 3, 3);
    qr_volume v;
    assert_int_equal(qr_volume_alloc(&v, &g, QR_INT32), QR_OK);
    expect_error(qr_image_write(tmp_path("overlay.png"), &v, 0), QR_ERR_INVALID_ARG, "overlay.png: unknown image extension '.png'");
    assert_int_equal(access(tmp_path("overlay.png"), F_OK), -1);
    /* upper-case extensions: ITK's NIfTI and MetaImage writers fail on them (after the work), its NRRD
     * writer puts a .NHDR's voxels inside it; refused before writing */
    static const char *upper[] = {"a.NII", "a.NII.GZ", "a.Nii.gz", "a.MHD", "a.MHA", "a.NHDR", "a.NRRD"};
    for (size_t i = 0; i < sizeof upper / sizeof *upper; i++) {
        expect_error(qr_image_write(tmp_path(upper[i]), &v, 0), QR_ERR_INVALID_ARG, "write the image extension in lower case");
        assert_int_equal(access(tmp_path(upper[i]), F_OK), -1);
    }
    qr_volume_free(&v);
}

/* The files a write creates (a detached header's data file) are the ones qr_image_output_files
 * names, and qr_outputs_check finds outputs that would replace an input or each other. */
static void test_outputs_check(void **state) {
    (void)state;
    char sub[512], cmd[2 * QR_PATH_MAX];
    snprintf(sub, sizeof sub, "%s/outs", g_dir);
    assert_int_equal(qr_mkdir_p(sub), QR_OK);
    qr_geometry g = test_geometry(4, 3, 2);
    qr_volume v;
    assert_int_equal(qr_volume_alloc(&v, &g, QR_FLOAT32), QR_OK);
    static const struct {
        const char *name;
        int flags;
        const char *listing; /* the folder afterwards */
    } cases[] = {{"h.nhdr", 0, "h.nhdr h.raw "},  {"h.nhdr", QR_WRITE_COMPRESS, "h.nhdr h.raw.gz "},
                 {"m.mhd", 0, "m.mhd m.raw "},    {"m.mhd", QR_WRITE_COMPRESS, "m.mhd m.zraw "},
                 {"a.b.nhdr", 0, "a.b.nhdr a.b.raw "}, {"n.nii.gz", 0, "n.nii.gz "},
                 {"r.nrrd", QR_WRITE_COMPRESS, "r.nrrd "}, {"t.mha", 0, "t.mha "}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir '%s'", sub, sub);
        assert_int_equal(system(cmd), 0);
        char path[QR_PATH_MAX], files[2][QR_PATH_MAX], want[2 * QR_PATH_MAX] = "";
        snprintf(path, sizeof path, "%s/%s", sub, cases[i].name);
        assert_int_equal(qr_image_write(path, &v, cases[i].flags), QR_OK);
        snprintf(cmd, sizeof cmd, "test \"$(ls -A '%s' | sort | tr '\\n' ' ')\" = '%s'", sub, cases[i].listing);
        if (system(cmd) != 0) fail_msg("%s: the folder does not hold '%s'", cases[i].name, cases[i].listing);
        const int n = qr_image_output_files(path, cases[i].flags, files);
        for (int k = 0; k < n; k++) {
            strcat(want, qr_path_basename(files[k]));
            strcat(want, " ");
        }
        if (strcmp(want, cases[i].listing)) fail_msg("%s: qr_image_output_files names '%s'", cases[i].name, want);
        /* an existing detached header names its data file */
        char data[QR_PATH_MAX];
        assert_int_equal(qr_image_data_file(path, data, sizeof data), QR_OK);
        if (n == 2) assert_string_equal(data, files[1]);
        else assert_string_equal(data, "");
    }
    qr_volume_free(&v);

    /* an input q.mhd (voxels in q.raw): an output q.nhdr would replace q.raw */
    char q[QR_PATH_MAX], out1[QR_PATH_MAX], out2[QR_PATH_MAX], table[QR_PATH_MAX];
    snprintf(q, sizeof q, "%s/q.mhd", sub);
    snprintf(out1, sizeof out1, "%s/q.nhdr", sub);
    assert_int_equal(qr_volume_alloc(&v, &g, QR_FLOAT32), QR_OK);
    assert_int_equal(qr_image_write(q, &v, 0), QR_OK);
    qr_volume_free(&v);
    const qr_io_path in[2] = {{q, "the QSM input", 1, 0}, {NULL, "an absent input", 1, 0}};
    qr_io_path outs[2] = {{out1, "--out-labels", 1, 0}, {NULL, "--out-probability", 1, 0}};
    expect_error(qr_outputs_check(in, 2, outs, 2), QR_ERR_INVALID_ARG,
                 "q.nhdr: its voxel data file");
    if (!strstr(qr_last_error(), "would also be the voxel data file of the QSM input")) fail_msg("%s", qr_last_error());
    /* compressed, the same header writes q.raw.gz: no conflict */
    outs[0].write_flags = QR_WRITE_COMPRESS;
    assert_int_equal(qr_outputs_check(in, 2, outs, 2), QR_OK);
    /* two outputs sharing a data file: x.nhdr and x.mhd both write x.raw */
    snprintf(out1, sizeof out1, "%s/x.nhdr", sub);
    snprintf(out2, sizeof out2, "%s/./x.mhd", sub);
    outs[0].write_flags = 0;
    outs[1].path = out2;
    expect_error(qr_outputs_check(in, 2, outs, 2), QR_ERR_INVALID_ARG, "would also be the voxel data file of --out-labels");
    /* the input itself, spelt another way */
    snprintf(out2, sizeof out2, "%s/../outs/q.mhd", sub);
    expect_error(qr_outputs_check(in, 2, outs, 2), QR_ERR_INVALID_ARG, "is also the QSM input");
    /* a table output named like an input's data file; a link to the input */
    snprintf(table, sizeof table, "%s/q.raw", sub);
    const qr_io_path tab[1] = {{table, "--out-table", 0, 0}};
    expect_error(qr_outputs_check(in, 2, tab, 1), QR_ERR_INVALID_ARG, "q.raw: is also the voxel data file of the QSM input");
    snprintf(table, sizeof table, "%s/link.mhd", sub);
    assert_int_equal(symlink("q.mhd", table), 0);
    expect_error(qr_outputs_check(in, 2, tab, 1), QR_ERR_INVALID_ARG, "link.mhd: is also the QSM input");
    /* distinct names pass; a missing folder fails */
    snprintf(table, sizeof table, "%s/t.tsv", sub);
    assert_int_equal(qr_outputs_check(in, 2, tab, 1), QR_OK);
    snprintf(table, sizeof table, "%s/no/t.tsv", sub);
    expect_error(qr_outputs_check(in, 2, tab, 1), QR_ERR_IO, "does not exist");
}

/* ---- bad input ---- */

static void test_missing_file(void **state) {
    (void)state;
    qr_volume v;
    expect_error(qr_image_read(tmp_path("nope.nii.gz"), QR_FLOAT32, &v, NULL), QR_ERR_IO, "no such file");
    assert_null(v.data);
}

static void test_corrupt_header(void **state) {
    (void)state;
    qr_volume v;
    const char junk[] = "this is not an image at all, just some text that pretends to be one\n";
    write_bytes(tmp_path("junk.nii"), junk, sizeof junk);
    expect_error(qr_image_read(tmp_path("junk.nii"), QR_FLOAT32, &v, NULL), QR_ERR_FORMAT, "junk.nii");
    const char bad_nrrd[] = "NRRD0004\ntype: float\ndimension: 3\nsizes: 4 4\nencoding: raw\n\n";
    write_bytes(tmp_path("bad.nrrd"), bad_nrrd, sizeof bad_nrrd - 1);
    expect_error(qr_image_read(tmp_path("bad.nrrd"), QR_FLOAT32, &v, NULL), QR_ERR_FORMAT, "bad.nrrd");
    const char bad_mha[] = "ObjectType = Image\nNDims = 3\nDimSize = 4 4\nElementType = MET_NOPE\nElementDataFile = LOCAL\n";
    write_bytes(tmp_path("bad.mha"), bad_mha, sizeof bad_mha - 1);
    expect_error(qr_image_read(tmp_path("bad.mha"), QR_FLOAT32, &v, NULL), QR_ERR_FORMAT, "bad.mha");
    write_bytes(tmp_path("unknown.xyz"), junk, sizeof junk);
    expect_error(qr_image_read(tmp_path("unknown.xyz"), QR_FLOAT32, &v, NULL), QR_ERR_FORMAT, "not a readable image");
}

static void test_truncated_data(void **state) {
    (void)state;
    const char *names[] = {"t.nii", "t.nii.gz", "t.nrrd", "t.mha"};
    qr_geometry g = test_geometry(20, 20, 10);
    qr_volume v;
    assert_int_equal(qr_volume_alloc(&v, &g, QR_FLOAT32), QR_OK);
    fill_float(&v);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *p = tmp_path(names[i]);
        assert_int_equal(qr_image_write(p, &v, 0), QR_OK);
        truncate_file(p, 0.6);
        qr_volume r;
        qr_status s = qr_image_read(p, QR_FLOAT32, &r, NULL);
        if (s == QR_OK) fail_msg("truncated %s was read without error", names[i]);
        assert_int_equal(s, QR_ERR_FORMAT);
        assert_non_null(strstr(qr_last_error(), names[i]));
        assert_null(r.data);
    }
    qr_volume_free(&v);
}

static void test_2d_and_4d(void **state) {
    (void)state;
    qr_volume v;
    char buf[512];
    float zeros[3 * 3 * 3 * 2] = {0};
    /* 2D */
    const char h2[] = "NRRD0004\ntype: float\ndimension: 2\nsizes: 3 3\nencoding: raw\nendian: little\n\n";
    memcpy(buf, h2, sizeof h2 - 1);
    memcpy(buf + sizeof h2 - 1, zeros, 9 * sizeof(float));
    write_bytes(tmp_path("two.nrrd"), buf, sizeof h2 - 1 + 9 * sizeof(float));
    expect_error(qr_image_read(tmp_path("two.nrrd"), QR_FLOAT32, &v, NULL), QR_ERR_GEOMETRY, "is a 2D image");
    /* 4D with 2 volumes */
    const char h4[] = "NRRD0004\ntype: float\ndimension: 4\nsizes: 3 3 3 2\nencoding: raw\nendian: little\n\n";
    memcpy(buf, h4, sizeof h4 - 1);
    memcpy(buf + sizeof h4 - 1, zeros, sizeof zeros);
    write_bytes(tmp_path("four.nrrd"), buf, sizeof h4 - 1 + sizeof zeros);
    expect_error(qr_image_read(tmp_path("four.nrrd"), QR_FLOAT32, &v, NULL), QR_ERR_GEOMETRY, "is a 4D image (2 volumes");
    /* 4D with a single volume is a 3D volume */
    const char h41[] = "NRRD0004\ntype: float\ndimension: 4\nsizes: 3 3 3 1\nencoding: raw\nendian: little\n\n";
    memcpy(buf, h41, sizeof h41 - 1);
    memcpy(buf + sizeof h41 - 1, zeros, 27 * sizeof(float));
    write_bytes(tmp_path("four1.nrrd"), buf, sizeof h41 - 1 + 27 * sizeof(float));
    assert_int_equal(qr_image_read(tmp_path("four1.nrrd"), QR_FLOAT32, &v, NULL), QR_OK);
    assert_int_equal(v.geom.size[2], 3);
    qr_volume_free(&v);
    /* vector image */
    const char hv[] = "NRRD0004\ntype: float\ndimension: 4\nsizes: 2 3 3 3\nkinds: vector domain domain domain\n"
                      "encoding: raw\nendian: little\n\n";
    memcpy(buf, hv, sizeof hv - 1);
    memcpy(buf + sizeof hv - 1, zeros, sizeof zeros);
    write_bytes(tmp_path("vec.nrrd"), buf, sizeof hv - 1 + sizeof zeros);
    expect_error(qr_image_read(tmp_path("vec.nrrd"), QR_FLOAT32, &v, NULL), QR_ERR_FORMAT, "components per voxel");
}

static void test_non_integer_labels(void **state) {
    (void)state;
    qr_geometry g = test_geometry(5, 5, 5);
    qr_volume v, r;
    assert_int_equal(qr_volume_alloc(&v, &g, QR_FLOAT32), QR_OK);
    qr_volume_f32(&v)[17] = 0.5f;
    assert_int_equal(qr_image_write(tmp_path("prob.nii.gz"), &v, 0), QR_OK);
    expect_error(qr_image_read(tmp_path("prob.nii.gz"), QR_INT32, &r, NULL), QR_ERR_FORMAT, "is not a label map");
    assert_null(r.data);
    /* integral floats are fine as labels */
    qr_volume_f32(&v)[17] = 3.0f;
    assert_int_equal(qr_image_write(tmp_path("intfloat.nii.gz"), &v, 0), QR_OK);
    assert_int_equal(qr_image_read(tmp_path("intfloat.nii.gz"), QR_INT32, &r, NULL), QR_OK);
    assert_int_equal(qr_volume_i32(&r)[17], 3);
    qr_volume_free(&r);
    /* negative labels are rejected */
    qr_volume_f32(&v)[17] = -2.0f;
    assert_int_equal(qr_image_write(tmp_path("neg.nii.gz"), &v, 0), QR_OK);
    expect_error(qr_image_read(tmp_path("neg.nii.gz"), QR_INT32, &r, NULL), QR_ERR_FORMAT, "out of range");
    qr_volume_free(&v);
}

/* NaN/Inf voxels survive reading in every format. NIfTI matters most: ITK 5's NIfTI library
 * silently turns them into 0 (ITK pull request 6683), which the I/O layer undoes. */
static void test_nonfinite_counted(void **state) {
    (void)state;
    static const char *names[] = {"nan.nrrd", "nan.nii", "nan.nii.gz", "nan.mha"};
    qr_geometry g = test_geometry(6, 6, 6);
    qr_volume v, r;
    assert_int_equal(qr_volume_alloc(&v, &g, QR_FLOAT32), QR_OK);
    for (int64_t i = 0; i < qr_volume_nvox(&v); i++) qr_volume_f32(&v)[i] = (float)(i % 13); /* integers: only the NaN/Inf voxels make it no label map */
    qr_volume_f32(&v)[3] = NAN;
    qr_volume_f32(&v)[50] = INFINITY;
    qr_volume_f32(&v)[51] = -INFINITY;
    for (int f = 0; f < 4; f++) {
        assert_int_equal(qr_image_write(tmp_path(names[f]), &v, 0), QR_OK);
        qr_read_info info;
        assert_int_equal(qr_image_read(tmp_path(names[f]), QR_FLOAT32, &r, &info), QR_OK);
        assert_int_equal(info.nonfinite, 3);
        assert_true(isnan(qr_volume_f32(&r)[3])); /* reported, never altered by reading */
        assert_true(isinf(qr_volume_f32(&r)[50]) && qr_volume_f32(&r)[50] > 0);
        assert_true(isinf(qr_volume_f32(&r)[51]) && qr_volume_f32(&r)[51] < 0);
        for (int64_t i = 0; i < qr_volume_nvox(&v); i++)
            if (i != 3 && i != 50 && i != 51) assert_true(qr_volume_f32(&r)[i] == qr_volume_f32(&v)[i]);
        /* a label map with a NaN voxel is refused, not read as background */
        qr_volume lab;
        assert_int_equal(qr_image_read(tmp_path(names[f]), QR_INT32, &lab, NULL), QR_ERR_FORMAT);
        assert_int_equal(qr_volume_replace_nonfinite(&r, 0.0f), 3);
        assert_int_equal(qr_volume_count_nonfinite(&r), 0);
        qr_volume_free(&r);
    }
    qr_volume_free(&v);
}

/* A hand-written float64 NIfTI-1 file larger than the reader's 1 MiB chunks: a NaN background
 * (one long run), a voxel split across a chunk boundary, the last voxel; all come back. */
static void put16(unsigned char *h, int off, int16_t v) { memcpy(h + off, &v, 2); }
static void test_nonfinite_float64_nifti(void **state) {
    (void)state;
    const int nx = 70, ny = 70, nz = 30;
    const int64_t n = (int64_t)nx * ny * nz; /* 147000 voxels, 1.18 MB */
    unsigned char h[352];
    memset(h, 0, sizeof h);
    int32_t hs = 348;
    memcpy(h, &hs, 4);
    const int16_t dim[8] = {3, (int16_t)nx, (int16_t)ny, (int16_t)nz, 1, 1, 1, 1};
    for (int k = 0; k < 8; k++) put16(h, 40 + 2 * k, dim[k]);
    put16(h, 70, 64); /* DT_FLOAT64 */
    put16(h, 72, 64); /* bitpix */
    const float pixdim[8] = {1, 1, 1, 2, 1, 1, 1, 1}, vox_offset = 352, slope = 1;
    memcpy(h + 76, pixdim, sizeof pixdim);
    memcpy(h + 108, &vox_offset, 4);
    memcpy(h + 112, &slope, 4);
    h[123] = 2; /* mm */
    put16(h, 252, 1); /* qform_code: scanner */
    memcpy(h + 344, "n+1", 4);
    double *d = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) d[i] = i < 100000 ? NAN : 0.25 * (double)(i % 7);
    /* the uncompressed stream is read in 1 MiB chunks after the 348-byte header: the chunk
     * boundary at byte 348 + 2^20 falls inside voxel (348 + 2^20 - 352) / 8 = 131071.5 */
    d[131071] = -INFINITY;
    d[131072] = NAN;
    d[n - 1] = INFINITY;
    const char *p = tmp_path("f64.nii");
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(h, 1, sizeof h, f), sizeof h);
    assert_int_equal(fwrite(d, sizeof(double), (size_t)n, f), (size_t)n);
    fclose(f);
    qr_volume r;
    qr_read_info info;
    assert_int_equal(qr_image_read(p, QR_FLOAT32, &r, &info), QR_OK);
    assert_int_equal(qr_volume_nvox(&r), n);
    assert_int_equal(info.nonfinite, 100000 + 3);
    const float *v = qr_volume_f32(&r);
    for (int64_t i = 0; i < n; i++) {
        if (i < 100000 || i == 131072) assert_true(isnan(v[i]));
        else if (i == 131071) assert_true(isinf(v[i]) && v[i] < 0);
        else if (i == n - 1) assert_true(isinf(v[i]) && v[i] > 0);
        else assert_true(v[i] == (float)d[i]);
    }
    qr_volume_free(&r);
    free(d);
}

/* ---- direct NIfTI decoding against ITK's reader ---- */

/* A hand-written NIfTI-1 file: any real data type, either byte order, plain or gzip, with a
 * qform, an sform or neither, optional scaling and extension bytes. */
typedef struct nifti_case {
    const char *name;
    int datatype, bytes, swap, gz;
    int16_t nx, ny, nz, nt; /* nt > 0: a 4D file with nt volumes */
    float slope, inter;
    int vox_offset;
    int orient; /* 0: qform of no rotation at origin 0, 1: oblique qform with qfac -1, 2: oblique sform,
                 * -1: neither (no orientation) */
    double (*value)(int64_t i);
} nifti_case;

static void put_swapped(unsigned char *h, int off, const void *v, int n, int swap) {
    const unsigned char *b = v;
    for (int k = 0; k < n; k++) h[off + k] = swap ? b[n - 1 - k] : b[k];
}
static void put_i16(unsigned char *h, int off, int16_t v, int swap) { put_swapped(h, off, &v, 2, swap); }
static void put_f32(unsigned char *h, int off, float v, int swap) { put_swapped(h, off, &v, 4, swap); }

/* The value of voxel i stored as `datatype` (bytes at out, file byte order). */
static void store_voxel(unsigned char *out, int datatype, double v, int swap) {
    unsigned char b[8];
    switch (datatype) {
    case 2: { uint8_t x = (uint8_t)v; memcpy(b, &x, 1); break; }
    case 256: { int8_t x = (int8_t)v; memcpy(b, &x, 1); break; }
    case 4: { int16_t x = (int16_t)v; memcpy(b, &x, 2); break; }
    case 512: { uint16_t x = (uint16_t)v; memcpy(b, &x, 2); break; }
    case 8: { int32_t x = (int32_t)v; memcpy(b, &x, 4); break; }
    case 768: { uint32_t x = (uint32_t)v; memcpy(b, &x, 4); break; }
    case 16: { float x = (float)v; memcpy(b, &x, 4); break; }
    case 1024: { int64_t x = (int64_t)v; memcpy(b, &x, 8); break; }
    case 1280: { uint64_t x = v >= 1e18 ? (UINT64_C(1) << 60) + 1 : (uint64_t)v; memcpy(b, &x, 8); break; }
    default: memcpy(b, &v, 8);
    }
    const int n = datatype == 2 || datatype == 256 ? 1 : datatype == 4 || datatype == 512 ? 2
                : datatype == 8 || datatype == 768 || datatype == 16 ? 4 : 8;
    put_swapped(out, 0, b, n, swap);
}

static void write_nifti_case(const nifti_case *c, const char *path) {
    const int sw = c->swap;
    unsigned char h[348];
    memset(h, 0, sizeof h);
    int32_t hs = 348;
    put_swapped(h, 0, &hs, 4, sw);
    const int16_t dim[8] = {(int16_t)(c->nt > 0 ? 4 : 3), c->nx, c->ny, c->nz, c->nt > 0 ? c->nt : 1, 1, 1, 1};
    for (int k = 0; k < 8; k++) put_i16(h, 40 + 2 * k, dim[k], sw);
    put_i16(h, 70, (int16_t)c->datatype, sw);
    put_i16(h, 72, (int16_t)(8 * c->bytes), sw);
    const float pixdim[8] = {c->orient == 1 ? -1.0f : 1.0f, 0.7f, 0.9f, 2.5f, 1, 1, 1, 1};
    for (int k = 0; k < 8; k++) put_f32(h, 76 + 4 * k, pixdim[k], sw);
    put_f32(h, 108, (float)c->vox_offset, sw);
    put_f32(h, 112, c->slope, sw);
    put_f32(h, 116, c->inter, sw);
    h[123] = 2; /* mm */
    if (c->orient == 0) {
        put_i16(h, 252, 1, sw);
    } else if (c->orient == 1) {
        put_i16(h, 252, 1, sw);
        put_f32(h, 256, 0.1f, sw);
        put_f32(h, 260, -0.2f, sw);
        put_f32(h, 264, 0.3f, sw);
        put_f32(h, 268, -12.5f, sw);
        put_f32(h, 272, 30.25f, sw);
        put_f32(h, 276, 7.0f, sw);
    } else if (c->orient == 2) {
        /* rotations of 10 degrees about z and 5 about x, times the voxel size 0.7 x 0.9 x 2.5 */
        const float srow[12] = {0.68936543f, -0.15568865f, 0.03783609f, -40, 0.12155372f, 0.88295424f,
                                -0.21457913f, 22, 0, 0.07844017f, 2.49048675f, -3};
        put_i16(h, 254, 2, sw);
        for (int k = 0; k < 12; k++) put_f32(h, 280 + 4 * k, srow[k], sw);
    }
    memcpy(h + 344, "n+1", 4);
    const int64_t n = (int64_t)c->nx * c->ny * c->nz * (c->nt > 0 ? c->nt : 1);
    const size_t nbytes = (size_t)c->vox_offset + (size_t)n * (size_t)c->bytes;
    unsigned char *all = calloc(nbytes, 1);
    assert_non_null(all);
    memcpy(all, h, sizeof h);
    for (int64_t i = 0; i < n; i++)
        store_voxel(all + c->vox_offset + (size_t)i * (size_t)c->bytes, c->datatype, c->value(i), sw);
    if (c->gz) {
        gzFile g = gzopen(path, "wb6");
        assert_non_null(g);
        assert_int_equal(gzwrite(g, all, (unsigned)nbytes), (int)nbytes);
        gzclose(g);
    } else {
        write_bytes(path, all, nbytes);
    }
    free(all);
}

static double v_signed(int64_t i) { return (double)((i * 37) % 200) - 60; }
static double v_labels(int64_t i) { return (double)((i * 13) % 9); }
static double v_large(int64_t i) { return i % 5 == 0 ? 1e19 : (double)(i % 1000) * 1e6; }
static double v_float(int64_t i) {
    if (i % 97 == 3) return NAN;
    if (i % 101 == 5) return i % 2 ? INFINITY : -INFINITY;
    return sin((double)i) * 1e3 + 1e-7 * (double)i;
}

/* Both readers on one file, as intensities and as labels: the same status and message, and on
 * success the same grid (bit for bit) and the same voxels (NaN as NaN). */
static void expect_same_as_itk(const char *path, qr_dtype want) {
    qr_volume a, b;
    qr_read_info ia, ib;
    const qr_status sa = qr_image_read(path, want, &a, &ia);
    char ea[1024];
    snprintf(ea, sizeof ea, "%s", qr_last_error());
    const qr_status sb = qr_image_read_itk(path, want, &b, &ib);
    if (sa != sb) fail_msg("%s: direct read %d (%s), ITK %d (%s)", path, sa, ea, sb, qr_last_error());
    if (sa != QR_OK) {
        assert_string_equal(ea, qr_last_error());
        return;
    }
    assert_memory_equal(&a.geom, &b.geom, sizeof a.geom);
    assert_int_equal(ia.nonfinite, ib.nonfinite);
    const int64_t n = qr_volume_nvox(&a);
    if (want == QR_FLOAT32) {
        const float *x = qr_volume_f32(&a), *y = qr_volume_f32(&b);
        for (int64_t i = 0; i < n; i++)
            if (!(x[i] == y[i] || (isnan(x[i]) && isnan(y[i]))))
                fail_msg("%s: voxel %lld: direct %.9g, ITK %.9g", path, (long long)i, (double)x[i], (double)y[i]);
    } else {
        assert_memory_equal(a.data, b.data, (size_t)n * sizeof(int32_t));
    }
    qr_volume_free(&a);
    qr_volume_free(&b);
}

static void expect_read_error(const char *name, qr_status want, const char *needle);

static void test_nifti_direct_matches_itk(void **state) {
    (void)state;
    const nifti_case cases[] = {
        {"u8.nii.gz", 2, 1, 0, 1, 13, 11, 7, 0, 0, 0, 352, 1, v_labels},
        {"i8.nii", 256, 1, 0, 0, 13, 11, 7, 0, 1, 0, 352, 2, v_signed},
        {"i16be.nii.gz", 4, 2, 1, 1, 13, 11, 7, 0, 0, 0, 352, 2, v_signed},
        {"u16.nii", 512, 2, 0, 0, 13, 11, 7, 0, 0, 0, 352, 0, v_labels},
        {"i32.nii.gz", 8, 4, 0, 1, 13, 11, 7, 0, 1, 0, 352, 1, v_labels},
        {"u32be.nii", 768, 4, 1, 0, 13, 11, 7, 0, 0, 0, 352, 1, v_large},
        {"i64.nii.gz", 1024, 8, 0, 1, 13, 11, 7, 0, 0, 0, 352, 2, v_signed},
        {"u64.nii", 1280, 8, 0, 0, 13, 11, 7, 0, 0, 0, 352, 0, v_large},
        {"f32.nii.gz", 16, 4, 0, 1, 13, 11, 7, 0, 0, 0, 352, 1, v_float},
        {"f64be.nii", 64, 8, 1, 0, 13, 11, 7, 0, 1, 0, 352, 2, v_float},
        /* scl_slope 0 or NaN counts as 1 (ITK): direct when the intercept is 0 or NaN, else scaled */
        {"slope0.nii", 4, 2, 0, 0, 13, 11, 7, 0, 0, 0, 352, 1, v_signed},
        {"slopenan.nii.gz", 16, 4, 0, 1, 13, 11, 7, 0, NAN, NAN, 352, 1, v_float},
        {"slope0inter.nii", 4, 2, 0, 0, 13, 11, 7, 0, 0, 5, 352, 1, v_signed},
        /* scaled files go through ITK (integers become float, then the scaling) */
        {"scaled.nii.gz", 4, 2, 0, 1, 13, 11, 7, 0, 0.5f, -3, 352, 1, v_signed},
        {"scaledf.nii", 16, 4, 1, 0, 13, 11, 7, 0, 2, 0, 352, 2, v_float},
        /* a 4D file with one volume goes through ITK */
        {"t1.nii.gz", 16, 4, 0, 1, 13, 11, 7, 1, 0, 0, 352, 1, v_float},
        /* extension bytes before the data; a float32 voxel split by the 1 MiB read chunk
         * (voxels start at 354: (348 + 2^20 - 354) / 4 is not whole) */
        {"ext.nii.gz", 16, 4, 0, 1, 90, 90, 40, 0, 1, 0, 354, 2, v_float},
        {"ext64.nii", 64, 8, 1, 0, 70, 70, 30, 0, 0, 0, 400, 0, v_float},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const nifti_case *c = &cases[k];
        const char *path = tmp_path(c->name);
        write_nifti_case(c, path);
        qr_volume probe;
        if (qr_image_read_itk(path, QR_FLOAT32, &probe, NULL) != QR_OK) fail_msg("%s: %s", c->name, qr_last_error());
        qr_volume_free(&probe);
        expect_same_as_itk(path, QR_FLOAT32);
        expect_same_as_itk(path, QR_INT32);
    }
    /* neither qform nor sform: NIfTI's ANALYZE-compatible method, no position (ITK put such a
     * volume at origin 0 along the LPS axes, where resampling it onto another grid moved it) */
    const nifti_case none = {"none.nii.gz", 16, 4, 0, 1, 13, 11, 7, 0, 0, 0, 352, -1, v_float};
    write_nifti_case(&none, tmp_path(none.name));
    expect_read_error(none.name, QR_ERR_GEOMETRY, "qform_code and sform_code are both 0: the file carries no orientation");
    /* bytes after the voxel data are not voxels */
    FILE *fa = fopen(tmp_path("i8.nii"), "ab");
    assert_non_null(fa);
    assert_int_equal(fwrite("0123456789", 1, 10, fa), 10);
    fclose(fa);
    qr_volume t;
    assert_int_equal(qr_image_read(tmp_path("i8.nii"), QR_FLOAT32, &t, NULL), QR_OK);
    assert_int_equal(qr_volume_nvox(&t), 13 * 11 * 7);
    assert_true(qr_volume_f32(&t)[13 * 11 * 7 - 1] == (float)(int8_t)v_signed(13 * 11 * 7 - 1));
    qr_volume_free(&t);
    expect_same_as_itk(tmp_path("i8.nii"), QR_FLOAT32);
    /* a header declaring 2e9 voxels over a few bytes of data: an error without the 16 GB a
     * label map's double buffer would take if it were filled before the data is counted */
    {
        nifti_case big = {"big.nii", 2, 1, 0, 0, 1300, 1300, 1200, 0, 0, 0, 352, 0, v_labels};
        unsigned char h[352];
        big.nx = 2, big.ny = 2, big.nz = 2;
        write_nifti_case(&big, tmp_path("big.nii"));
        FILE *fh = fopen(tmp_path("big.nii"), "rb");
        assert_non_null(fh);
        assert_int_equal(fread(h, 1, sizeof h, fh), sizeof h);
        fclose(fh);
        put_i16(h, 42, 1300, 0);
        put_i16(h, 44, 1300, 0);
        put_i16(h, 46, 1200, 0);
        gzFile g = gzopen(tmp_path("big.nii.gz"), "wb");
        assert_non_null(g);
        assert_int_equal(gzwrite(g, h, sizeof h), (int)sizeof h);
        assert_int_equal(gzwrite(g, "0123456789abcdef", 16), 16);
        gzclose(g);
        qr_volume t2;
        expect_error(qr_image_read(tmp_path("big.nii.gz"), QR_INT32, &t2, NULL), QR_ERR_FORMAT, "voxel data truncated");
#ifndef __SANITIZE_ADDRESS__ /* AddressSanitizer's allocator maps and touches memory of its own */
        struct rusage ru;
        assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
        assert_true(ru.ru_maxrss < 1024L * 1024L); /* kB: under 1 GB */
#endif
    }
    /* the values themselves, not only agreement: a float32 file read directly keeps NaN and Inf */
    qr_volume v;
    qr_read_info info;
    assert_int_equal(qr_image_read(tmp_path("f32.nii.gz"), QR_FLOAT32, &v, &info), QR_OK);
    const float *x = qr_volume_f32(&v);
    int64_t nonfinite = 0;
    for (int64_t i = 0; i < qr_volume_nvox(&v); i++) {
        const double want = v_float(i);
        if (isnan(want)) assert_true(isnan(x[i]));
        else assert_true(x[i] == (float)want);
        nonfinite += !isfinite(want);
    }
    assert_int_equal(info.nonfinite, nonfinite);
    assert_true(nonfinite > 10);
    qr_volume_free(&v);
    /* a cut .nii.gz stream and a cut .nii: the same errors as before */
    truncate_file(tmp_path("f32.nii.gz"), 0.6);
    expect_same_as_itk(tmp_path("f32.nii.gz"), QR_FLOAT32);
    expect_error(qr_image_read(tmp_path("f32.nii.gz"), QR_FLOAT32, &v, NULL), QR_ERR_FORMAT, "corrupt or truncated");
    truncate_file(tmp_path("u16.nii"), 0.8);
    expect_error(qr_image_read(tmp_path("u16.nii"), QR_INT32, &v, NULL), QR_ERR_FORMAT, "voxel data truncated");
    expect_same_as_itk(tmp_path("u16.nii"), QR_INT32);
}

static void test_dicom_empty_folder(void **state) {
    (void)state;
    char d[QR_PATH_MAX];
    snprintf(d, sizeof d, "%s/emptydicom", g_dir);
    assert_int_equal(qr_mkdir_p(d), QR_OK);
    qr_volume v;
    expect_error(qr_image_read(d, QR_FLOAT32, &v, NULL), QR_ERR_FORMAT, "holds no DICOM series");
}

/* ---- geometry alignment ---- */

static void test_geometry_same_within_tolerance(void **state) {
    (void)state;
    qr_geometry a = test_geometry(10, 10, 10), b = a;
    b.origin[0] += 1e-5;
    b.spacing[2] *= 1.00001;
    assert_true(qr_geometry_same(&a, &b));
    b.origin[0] += 0.1;
    assert_false(qr_geometry_same(&a, &b));
    qr_volume v;
    assert_int_equal(qr_volume_alloc(&v, &a, QR_FLOAT32), QR_OK);
    v.geom.origin[1] += 1e-6;
    int res = -1;
    assert_int_equal(qr_align_to_grid(&a, "QSM", &v, "FLAIR", &res), QR_OK);
    assert_int_equal(res, 0);
    assert_memory_equal(&v.geom, &a, sizeof a);
    qr_volume_free(&v);
}

static void test_geometry_resample_linear_and_nearest(void **state) {
    (void)state;
    /* reference grid: identity, spacing 1; the moving grid is shifted by half a voxel along i */
    qr_geometry ref = qr_geometry_identity(8, 6, 4);
    qr_geometry mov = ref;
    mov.origin[0] = 0.5;
    qr_volume f, l;
    assert_int_equal(qr_volume_alloc(&f, &mov, QR_FLOAT32), QR_OK);
    assert_int_equal(qr_volume_alloc(&l, &mov, QR_INT32), QR_OK);
    for (int64_t k = 0; k < 4; k++)
        for (int64_t j = 0; j < 6; j++)
            for (int64_t i = 0; i < 8; i++) {
                qr_volume_f32(&f)[qr_geometry_index(&mov, i, j, k)] = (float)(10 * i); /* linear in x */
                qr_volume_i32(&l)[qr_geometry_index(&mov, i, j, k)] = (int32_t)(i + 1);
            }
    int res = 0;
    assert_int_equal(qr_align_to_grid(&ref, "QSM", &f, "FLAIR", &res), QR_OK);
    assert_int_equal(res, 1);
    assert_memory_equal(&f.geom, &ref, sizeof ref);
    /* ref voxel i sits at x = i, i.e. moving index i - 0.5: value 10*(i-0.5) inside */
    for (int64_t i = 1; i < 8; i++)
        assert_float_equal(qr_volume_f32(&f)[qr_geometry_index(&ref, i, 2, 1)], 10.0 * ((double)i - 0.5), 1e-4);
    assert_int_equal(qr_align_to_grid(&ref, "QSM", &l, "lesions", &res), QR_OK);
    assert_int_equal(res, 1);
    /* nearest neighbour keeps labels integral and from the input set */
    for (int64_t i = 1; i < 8; i++) {
        int32_t x = qr_volume_i32(&l)[qr_geometry_index(&ref, i, 2, 1)];
        assert_true(x == i || x == i + 1);
    }
    qr_volume_free(&f);
    qr_volume_free(&l);
}

/* A FLAIR holding the QSM grid's voxels stored in another axis order (permuted and mirrored, on an
 * oblique grid, its header rounded to float32 as a NIfTI sform is) is reordered, not interpolated:
 * every value comes back bit for bit, background zeros stay zeros. The moving volume is built here
 * from world positions, independently of the library's reordering. */
/* An axis at 45 degrees between two world axes: the storage order does not depend on which way
 * the header's rounding tips the two cosines; a clear tilt past 45 degrees does swap the axes.
 * A compound tilt with tied cosines on one axis keeps the matching whose cosines sum the highest
 * (the stored order), not a mirrored permutation a greedy pass would take. */
static void test_geometry_canonical_order_at_45_degrees(void **state) {
    (void)state;
    const double tilt[4] = {M_PI / 4 - 1e-9, M_PI / 4, M_PI / 4 + 1e-9, M_PI / 4 + 1e-3};
    for (int t = 0; t < 4; t++) {
        qr_geometry g = test_geometry(9, 7, 5);
        const double c = cos(tilt[t]), s = sin(tilt[t]); /* rotation about S */
        const double d[9] = {c, -s, 0, s, c, 0, 0, 0, 1};
        memcpy(g.direction, d, sizeof d);
        qr_axis_order o;
        const int changed = qr_geometry_canonical_order(&g, &o);
        assert_true(fabs(qr_geometry_obliquity_deg(&g) - 45.0) < 0.1); /* a tie, or close to one */
        if (t < 3) { /* a tie: the stored order is kept */
            assert_int_equal(changed, 0);
            for (int a = 0; a < 3; a++) assert_true(o.perm[a] == a && !o.flip[a]);
        } else { /* past 45 degrees: i runs closer to P, j closer to -L */
            assert_int_equal(changed, 1);
            assert_true(o.perm[0] == 1 && o.flip[0] && o.perm[1] == 0 && !o.flip[1] && o.perm[2] == 2 && !o.flip[2]);
        }
    }
    /* Rz(45) Ry(5) Rx(45): the stored order sums 0.704 + 0.544 + 0.704; the permutation of axes
     * 1 and 2 sums 0.704 + 0.456 + 0.704 */
    const double a = M_PI / 4, b = 5 * M_PI / 180;
    const double rz[9] = {cos(a), -sin(a), 0, sin(a), cos(a), 0, 0, 0, 1};
    const double ry[9] = {cos(b), 0, sin(b), 0, 1, 0, -sin(b), 0, cos(b)};
    const double rx[9] = {1, 0, 0, 0, cos(a), -sin(a), 0, sin(a), cos(a)};
    double t[9], d[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            t[i * 3 + j] = 0;
            for (int k = 0; k < 3; k++) t[i * 3 + j] += rz[i * 3 + k] * ry[k * 3 + j];
        }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            d[i * 3 + j] = 0;
            for (int k = 0; k < 3; k++) d[i * 3 + j] += t[i * 3 + k] * rx[k * 3 + j];
        }
    qr_geometry g = test_geometry(9, 7, 5);
    memcpy(g.direction, d, sizeof d);
    qr_axis_order o;
    assert_int_equal(qr_geometry_canonical_order(&g, &o), 0);
    for (int k = 0; k < 3; k++) assert_true(o.perm[k] == k && !o.flip[k]);
    /* the worst axis: acos(0.544) */
    assert_true(fabs(qr_geometry_obliquity_deg(&g) - acos(d[4]) * 180 / M_PI) < 1e-9 && d[4] > 0.54 && d[4] < 0.55);
    /* 20 degrees about S, mirrored axes: 20; the test grid's 10 degrees: 10; the identity: 0 */
    const double c20 = cos(20 * M_PI / 180), s20 = sin(20 * M_PI / 180);
    const double r20[9] = {-c20, -s20, 0, -s20, c20, 0, 0, 0, -1};
    memcpy(g.direction, r20, sizeof r20);
    assert_true(fabs(qr_geometry_obliquity_deg(&g) - 20.0) < 1e-9);
    g = test_geometry(9, 7, 5);
    assert_true(fabs(qr_geometry_obliquity_deg(&g) - 10.0) < 1e-9);
    g = qr_geometry_identity(9, 7, 5);
    assert_true(qr_geometry_obliquity_deg(&g) == 0.0);
}

static void test_geometry_reorder_not_resample(void **state) {
    (void)state;
    const qr_geometry ref = test_geometry(9, 7, 5);
    const int p[3] = {2, 0, 1}, flip[3] = {1, 0, 1}; /* moving axis a = ref axis p[a], mirrored if flip */
    qr_geometry mov = ref;
    double corner[3] = {0, 0, 0};
    for (int a = 0; a < 3; a++) {
        mov.size[a] = ref.size[p[a]];
        mov.spacing[a] = ref.spacing[p[a]];
        for (int w = 0; w < 3; w++) mov.direction[w * 3 + a] = (flip[a] ? -1 : 1) * ref.direction[w * 3 + p[a]];
        if (flip[a]) corner[p[a]] = (double)(ref.size[p[a]] - 1);
    }
    for (int w = 0; w < 3; w++) {
        mov.origin[w] = ref.origin[w];
        for (int c = 0; c < 3; c++) mov.origin[w] += ref.direction[w * 3 + c] * ref.spacing[c] * corner[c];
    }
    qr_volume r, v;
    assert_int_equal(qr_volume_alloc(&r, &ref, QR_FLOAT32), QR_OK);
    assert_int_equal(qr_volume_alloc(&v, &mov, QR_FLOAT32), QR_OK);
    float *rv = qr_volume_f32(&r);
    for (int64_t n = 0; n < qr_geometry_nvox(&ref); n++) rv[n] = n % 3 ? 0.0f : 1.0f + 0.37f * (float)n;
    for (int64_t k = 0; k < mov.size[2]; k++)
        for (int64_t j = 0; j < mov.size[1]; j++)
            for (int64_t i = 0; i < mov.size[0]; i++) {
                const double idx[3] = {(double)i, (double)j, (double)k};
                double x[3], q[3];
                for (int w = 0; w < 3; w++) {
                    x[w] = mov.origin[w];
                    for (int c = 0; c < 3; c++) x[w] += mov.direction[w * 3 + c] * mov.spacing[c] * idx[c];
                }
                for (int c = 0; c < 3; c++) { /* the reference index of that point */
                    q[c] = 0;
                    for (int w = 0; w < 3; w++) q[c] += ref.direction[w * 3 + c] * (x[w] - ref.origin[w]);
                    q[c] = floor(q[c] / ref.spacing[c] + 0.5);
                }
                qr_volume_f32(&v)[qr_geometry_index(&mov, i, j, k)] =
                    rv[qr_geometry_index(&ref, (int64_t)q[0], (int64_t)q[1], (int64_t)q[2])];
            }
    for (int k = 0; k < 3; k++) mov.origin[k] = (double)(float)mov.origin[k];
    for (int k = 0; k < 9; k++) v.geom.direction[k] = (double)(float)(mov.direction[k] * 1.0000001);
    memcpy(v.geom.origin, mov.origin, sizeof mov.origin);
    int res = -1;
    assert_int_equal(qr_align_to_grid(&ref, "QSM", &v, "FLAIR", &res), QR_OK);
    assert_int_equal(res, 0);
    assert_memory_equal(&v.geom, &ref, sizeof ref);
    assert_memory_equal(qr_volume_f32(&v), rv, sizeof(float) * (size_t)qr_geometry_nvox(&ref));
    /* a grid that is not a reordering of the reference (shifted half a voxel) is still resampled */
    qr_volume w;
    qr_geometry half = mov;
    for (int c = 0; c < 3; c++) half.origin[c] += 0.5 * mov.direction[c * 3] * mov.spacing[0];
    assert_int_equal(qr_volume_alloc(&w, &half, QR_FLOAT32), QR_OK);
    assert_int_equal(qr_align_to_grid(&ref, "QSM", &w, "FLAIR", &res), QR_OK);
    assert_int_equal(res, 1);
    qr_volume_free(&w);
    qr_volume_free(&v);
    qr_volume_free(&r);
}

static void test_geometry_disjoint(void **state) {
    (void)state;
    qr_geometry ref = test_geometry(10, 10, 10), far = ref;
    far.origin[2] += 1000.0;
    qr_volume v;
    assert_int_equal(qr_volume_alloc(&v, &far, QR_FLOAT32), QR_OK);
    int res = 0;
    qr_status s = qr_align_to_grid(&ref, "QSM", &v, "FLAIR", &res);
    expect_error(s, QR_ERR_GEOMETRY, "do not overlap");
    /* both geometries are named */
    assert_non_null(strstr(qr_last_error(), "QSM: 10x10x10 voxels"));
    assert_non_null(strstr(qr_last_error(), "FLAIR: 10x10x10 voxels"));
    qr_volume_free(&v);
}

/* qr_labels_outside_grid: a voxel centre is inside a grid while its continuous index lies in
 * [-0.5, size - 0.5) on every axis (within the grid's voxels). A label grid shifted by 0.3 voxel
 * along i: its last voxel maps to index size - 0.7 (inside), its first to -0.3 (inside); shifted
 * by 0.6, its last maps to size - 0.4 (outside). */
static void test_labels_outside_grid(void **state) {
    (void)state;
    const qr_geometry g = test_geometry(10, 8, 6);
    for (int c = 0; c < 3; c++) {
        const double shift[3] = {0.3, 0.6, -0.6};
        qr_geometry lg = g;
        for (int a = 0; a < 3; a++) lg.origin[a] += shift[c] * g.spacing[0] * g.direction[3 * a + 0];
        qr_volume lab;
        assert_int_equal(qr_volume_alloc(&lab, &lg, QR_INT32), QR_OK);
        qr_volume_i32(&lab)[qr_geometry_index(&lg, 9, 3, 3)] = 4;  /* the last voxel along i */
        qr_volume_i32(&lab)[qr_geometry_index(&lg, 0, 3, 3)] = 2;  /* the first */
        qr_volume_i32(&lab)[qr_geometry_index(&lg, 5, 7, 5)] = 9;  /* inside in any case */
        int32_t *ids = NULL;
        const int64_t n = qr_labels_outside_grid(&lab, &g, &ids);
        if (c == 0) assert_int_equal(n, 0);
        else {
            assert_int_equal(n, 1);
            assert_int_equal(ids[0], c == 1 ? 4 : 2);
        }
        free(ids);
        qr_volume_free(&lab);
    }
}

static void test_ras_convention(void **state) {
    (void)state;
    qr_geometry g = qr_geometry_identity(4, 4, 4);
    g.origin[0] = 10;
    g.origin[1] = 20;
    g.origin[2] = 30;
    g.spacing[2] = 3;
    double ijk[3] = {1, 2, 3}, ras[3], back[3], lps[3];
    qr_geometry_index_to_ras(&g, ijk, ras);
    assert_float_equal(ras[0], -11.0, 1e-12);
    assert_float_equal(ras[1], -22.0, 1e-12);
    assert_float_equal(ras[2], 39.0, 1e-12);
    qr_geometry_index_to_lps(&g, ijk, lps);
    assert_int_equal(qr_geometry_lps_to_index(&g, lps, back), QR_OK);
    for (int a = 0; a < 3; a++) assert_float_equal(back[a], ijk[a], 1e-12);
}

/* ---- header and data checks ITK does not make (filecheck.c) ---- */

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*n);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* A copy of `bytes` with `len` bytes at `off` replaced, written to `name` and read back: must
 * fail with `want` and a message naming the file and containing `needle`. */
static void expect_mutation(const unsigned char *bytes, size_t n, int off, const void *val, size_t len,
                            const char *name, qr_status want, const char *needle) {
    unsigned char *b = malloc(n);
    memcpy(b, bytes, n);
    memcpy(b + off, val, len);
    write_bytes(tmp_path(name), b, n);
    free(b);
    qr_volume v;
    qr_status s = qr_image_read(tmp_path(name), QR_FLOAT32, &v, NULL);
    expect_error(s, want, needle);
    assert_non_null(strstr(qr_last_error(), name));
    assert_null(v.data);
}

static void test_nifti_header_checks(void **state) {
    (void)state;
    qr_geometry g = test_geometry(12, 10, 6);
    qr_volume v, r;
    assert_int_equal(qr_volume_alloc(&v, &g, QR_FLOAT32), QR_OK);
    fill_float(&v);
    assert_int_equal(qr_image_write(tmp_path("h.nii"), &v, 0), QR_OK);
    qr_volume_free(&v);
    assert_int_equal(qr_image_read(tmp_path("h.nii"), QR_FLOAT32, &r, NULL), QR_OK); /* the unmutated file reads */
    qr_volume_free(&r);
    size_t n;
    unsigned char *b = read_all(tmp_path("h.nii"), &n);
    const int16_t one = 1, zero16 = 0, eight = 8, u8 = 2;
    const float nan = NAN, zero = 0.0f, huge = 1e30f, off350 = 350.0f;
    const int32_t hdr0 = 0;
    /* each of these used to be read without complaint into a wrong image, or to abort inside ITK */
    expect_mutation(b, n, 0, &hdr0, 4, "sizeof.nii", QR_ERR_FORMAT, "sizeof_hdr is 0, must be 348");
    expect_mutation(b, n, 344, "xxx", 4, "magic.nii", QR_ERR_FORMAT, "no NIfTI-1 magic 'n+1'");
    expect_mutation(b, n, 40, &eight, 2, "dim0.nii", QR_ERR_FORMAT, "dim[0] is 8");
    expect_mutation(b, n, 44, &zero16, 2, "dim2.nii", QR_ERR_FORMAT, "dim[2] is 0");
    expect_mutation(b, n, 70, &u8, 2, "bitpix.nii", QR_ERR_FORMAT, "bitpix 32 does not match datatype 2");
    expect_mutation(b, n, 76 + 4, &zero, 4, "pixdim0.nii", QR_ERR_GEOMETRY, "pixdim[1] (voxel spacing) is 0");
    expect_mutation(b, n, 76 + 12, &nan, 4, "pixdimnan.nii", QR_ERR_GEOMETRY, "pixdim[3] (voxel spacing) is nan");
    expect_mutation(b, n, 76 + 4, &huge, 4, "pixdimhuge.nii", QR_ERR_GEOMETRY, "spacing along axis 0 is 1e+30 mm");
    expect_mutation(b, n, 108, &off350, 4, "voxoff.nii", QR_ERR_FORMAT, "vox_offset is 350");
    const float offhuge = 2.78883e31f; /* was converted to int64 out of range (undefined; found by Testing/fuzz) */
    expect_mutation(b, n, 108, &offhuge, 4, "voxoffhuge.nii", QR_ERR_FORMAT, "vox_offset is 2.78883e+31");
    unsigned char *q = malloc(n);
    memcpy(q, b, n);
    memcpy(q + 252, &one, 2); /* qform_code 1, NaN offset */
    expect_mutation(q, n, 268, &nan, 4, "qoff.nii", QR_ERR_GEOMETRY, "qform offset is not finite");
    expect_mutation(q, n, 268, &huge, 4, "qoffhuge.nii", QR_ERR_GEOMETRY, "qform offset is not finite or beyond 1e6 mm");
    memcpy(q + 254, &one, 2); /* sform_code 1, NaN in srow_x (ITK 5.2 aborted in vnl_svd) */
    expect_mutation(q, n, 280, &nan, 4, "sform.nii", QR_ERR_GEOMETRY, "sform row 0 is not finite");
    const float zeros[12] = {0};
    expect_mutation(q, n, 280, zeros, sizeof zeros, "sform0.nii", QR_ERR_GEOMETRY, "sform column 0 has length 0 mm");
    /* a column of 3e38 mm: ITK's SVD of the sform (vnl_svd, netlib in float) never returned (found
     * by Testing/fuzz); tiny columns and far offsets likewise are no grid */
    const float col_huge = -3.0168095e38f, col_tiny = 1e-9f;
    expect_mutation(q, n, 280 + 8, &col_huge, 4, "sformhuge.nii", QR_ERR_GEOMETRY, "sform column 2 has length 3.01681e+38 mm");
    float tiny_col[12];
    memcpy(tiny_col, q + 280, sizeof tiny_col);
    tiny_col[1] = tiny_col[5] = tiny_col[9] = col_tiny;
    expect_mutation(q, n, 280, tiny_col, sizeof tiny_col, "sformtiny.nii", QR_ERR_GEOMETRY, "sform column 1 has length");
    expect_mutation(q, n, 280 + 12, &huge, 4, "sformoff.nii", QR_ERR_GEOMETRY, "sform offset of row 0 is 1e+30 mm");
    free(q);
    free(b);
}

/* ITK 5.2's NIfTI library takes the voxels of x.nii.gz from a file x.nii beside it when there is
 * one (it tries "<base>.nii" first): a different image of that name must not change what is read,
 * through ITK or directly, for a .nii.gz or for the .nii itself. (Found by Testing/fuzz.) */
static void test_nifti_sibling_files(void **state) {
    (void)state;
    qr_geometry g = test_geometry(7, 6, 5);
    qr_volume gz, plain;
    assert_int_equal(qr_volume_alloc(&gz, &g, QR_FLOAT32), QR_OK);
    fill_float(&gz);
    qr_geometry g2 = test_geometry(7, 6, 5);
    assert_int_equal(qr_volume_alloc(&plain, &g2, QR_INT32), QR_OK);
    int32_t *lp = qr_volume_i32(&plain);
    for (int64_t i = 0; i < qr_volume_nvox(&plain); i++) lp[i] = (int32_t)(i % 3); /* written as uint8 */
    assert_int_equal(qr_image_write(tmp_path("sib.nii.gz"), &gz, QR_WRITE_COMPRESS), QR_OK);
    assert_int_equal(qr_image_write(tmp_path("sib.nii"), &plain, 0), QR_OK);
    for (int itk = 0; itk < 2; itk++) {
        qr_volume r;
        qr_status s = itk ? qr_image_read_itk(tmp_path("sib.nii.gz"), QR_FLOAT32, &r, NULL)
                          : qr_image_read(tmp_path("sib.nii.gz"), QR_FLOAT32, &r, NULL);
        if (s != QR_OK) fail_msg("read sib.nii.gz (%s): %s", itk ? "ITK" : "direct", qr_last_error());
        assert_memory_equal(r.data, gz.data, (size_t)qr_volume_nvox(&gz) * sizeof(float));
        qr_volume_free(&r);
        s = itk ? qr_image_read_itk(tmp_path("sib.nii"), QR_INT32, &r, NULL)
                : qr_image_read(tmp_path("sib.nii"), QR_INT32, &r, NULL);
        if (s != QR_OK) fail_msg("read sib.nii (%s): %s", itk ? "ITK" : "direct", qr_last_error());
        assert_memory_equal(r.data, plain.data, (size_t)qr_volume_nvox(&plain) * sizeof(int32_t));
        qr_volume_free(&r);
    }
    qr_volume_free(&gz);
    qr_volume_free(&plain);
}

static void write_text(const char *name, const char *text) { write_bytes(tmp_path(name), text, strlen(text)); }

/* A NIfTI pair hdr_name + img_name holding v (float32): the .nii qsmrim writes, split into its
 * header (magic "ni1", vox_offset 0) and its voxels; the image gzipped when gz. */
static void write_pair(const qr_volume *v, const char *hdr_name, const char *img_name, int gz) {
    assert_int_equal(qr_image_write(tmp_path("pair-src.nii"), v, 0), QR_OK);
    FILE *f = fopen(tmp_path("pair-src.nii"), "rb");
    assert_non_null(f);
    unsigned char h[352];
    assert_int_equal(fread(h, 1, sizeof h, f), sizeof h);
    const size_t nb = (size_t)qr_volume_nvox(v) * sizeof(float);
    unsigned char *data = malloc(nb);
    assert_non_null(data);
    float off;
    memcpy(&off, h + 108, 4);
    assert_int_equal(fseek(f, (long)off, SEEK_SET), 0);
    assert_int_equal(fread(data, 1, nb, f), nb);
    fclose(f);
    memcpy(h + 344, "ni1", 4);
    off = 0.0f;
    memcpy(h + 108, &off, 4);
    write_bytes(tmp_path(hdr_name), h, 348);
    if (gz) {
        gzFile z = gzopen(tmp_path(img_name), "wb");
        assert_non_null(z);
        assert_int_equal(gzwrite(z, data, (unsigned)nb), (int)nb);
        gzclose(z);
    } else {
        write_bytes(tmp_path(img_name), data, nb);
    }
    free(data);
}

static void expect_data_file(const char *name, const char *want) {
    char out[QR_PATH_MAX];
    assert_int_equal(qr_image_data_file(tmp_path(name), out, sizeof out), QR_OK);
    assert_string_equal(out, tmp_path(want));
}

static void expect_voxels(const char *name, const qr_volume *want) {
    qr_volume r;
    const qr_status s = qr_image_read(tmp_path(name), QR_FLOAT32, &r, NULL);
    if (s != QR_OK) fail_msg("read %s: %s", name, qr_last_error());
    assert_memory_equal(r.data, want->data, (size_t)qr_volume_nvox(want) * sizeof(float));
    qr_volume_free(&r);
}

/* NIfTI pairs: the other file of the two is the one ITK's NIfTI library reads (what input hashes
 * include), and names that leave it a guess which voxels are read are refused. */
static void test_nifti_pair_files(void **state) {
    (void)state;
    qr_geometry g = test_geometry(5, 4, 3);
    qr_volume a, b;
    assert_int_equal(qr_volume_alloc(&a, &g, QR_FLOAT32), QR_OK);
    assert_int_equal(qr_volume_alloc(&b, &g, QR_FLOAT32), QR_OK);
    fill_float(&a);
    for (int64_t i = 0; i < qr_volume_nvox(&b); i++) qr_volume_f32(&b)[i] = (float)i;
    /* x.hdr + x.img: each names the other, and reads */
    write_pair(&a, "pr.hdr", "pr.img", 0);
    expect_data_file("pr.hdr", "pr.img");
    expect_data_file("pr.img", "pr.hdr");
    expect_voxels("pr.hdr", &a);
    expect_voxels("pr.img", &a);
    /* a gzipped image beside the plain one: ITK reads the plain one, so both names are refused */
    write_pair(&b, "pr-b.hdr", "pr.img.gz", 1);
    expect_data_file("pr.hdr", "pr.img");
    expect_error(qr_image_precheck(tmp_path("pr.hdr")), QR_ERR_FORMAT, "pr.img.gz lie beside the header");
    expect_error(qr_image_precheck(tmp_path("pr.img.gz")), QR_ERR_FORMAT, "would take the header");
    expect_error(qr_image_precheck(tmp_path("pr.img.gz")), QR_ERR_FORMAT, "pr.img beside it, not this file's");
    /* without the plain image: the gzipped one is the image */
    assert_int_equal(unlink(tmp_path("pr.img")), 0);
    assert_int_equal(qr_image_precheck(tmp_path("pr.hdr")), QR_OK);
    expect_data_file("pr.hdr", "pr.img.gz");
    expect_data_file("pr.img.gz", "pr.hdr");
    expect_voxels("pr.hdr", &b);
    /* an extension in capitals: ITK looks for names in capitals only (CP.img is not read) */
    write_pair(&a, "CP.HDR", "CP.img", 0);
    write_pair(&b, "cp-b.hdr", "CP.IMG.GZ", 1);
    expect_data_file("CP.HDR", "CP.IMG.GZ");
    assert_int_equal(qr_image_precheck(tmp_path("CP.HDR")), QR_OK);
    expect_voxels("CP.HDR", &b);
    qr_volume_free(&a);
    qr_volume_free(&b);
}

static void expect_read_error(const char *name, qr_status want, const char *needle) {
    qr_volume v;
    expect_error(qr_image_read(tmp_path(name), QR_FLOAT32, &v, NULL), want, needle);
    assert_null(v.data);
}

/* A 2x2x2 float MetaImage (or NRRD when `nrrd`) with attached data whose header holds, as line 3,
 * `pre`, then `fill` repeated n times, then `post`; `vox_bytes` of the 32 bytes of voxel data written. */
static void write_long_line(const char *file, int nrrd, const char *pre, char fill, size_t n, const char *post,
                            size_t vox_bytes) {
    static const float vox[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const char *head = nrrd ? "NRRD0004\ntype: float\ndimension: 3\n" : "ObjectType = Image\nNDims = 3\n";
    const char *tail = nrrd ? "sizes: 2 2 2\nendian: little\nencoding: raw\n\n"
                            : "BinaryData = True\nBinaryDataByteOrderMSB = False\nDimSize = 2 2 2\n"
                              "ElementType = MET_FLOAT\nElementDataFile = LOCAL\n";
    size_t cap = strlen(head) + strlen(pre) + n + strlen(post) + strlen(tail) + sizeof vox + 2, at = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    at += (size_t)sprintf(b + at, "%s%s", head, pre);
    memset(b + at, fill, n);
    at += n;
    at += (size_t)sprintf(b + at, "%s\n%s", post, tail);
    memcpy(b + at, vox, vox_bytes);
    write_bytes(tmp_path(file), b, at + vox_bytes);
    free(b);
}

static void expect_reads_8(const char *file) {
    qr_volume v;
    assert_int_equal(qr_image_read(tmp_path(file), QR_FLOAT32, &v, NULL), QR_OK);
    assert_int_equal(qr_volume_nvox(&v), 8);
    assert_true(qr_volume_f32(&v)[7] == 8.0f);
    qr_volume_free(&v);
}

/* A header field given twice (found by Testing/fuzz, bug-mha-repeated-ndims): the checks saw the
 * first value, ITK's readers use the last; a MetaImage NDims of 3 and then -3 made MetaIO read
 * DimSize without end. Refused, in NRRD headers too; names are compared without case, as the
 * checks read them. */
static void test_repeated_header_fields(void **state) {
    (void)state;
    write_long_line("dup.mha", 0, "NDims = -", '3', 1, "", 32);
    expect_read_error("dup.mha", QR_ERR_FORMAT, "MetaImage header line 3 gives the field 'NDims' a second time");
    write_long_line("dup.mha", 0, "ndims = ", '3', 1, "", 32);
    expect_read_error("dup.mha", QR_ERR_FORMAT, "gives the field 'ndims' a second time");
    write_long_line("dup.nrrd", 1, "sizes: 2 2 ", '2', 1, "", 32);
    expect_read_error("dup.nrrd", QR_ERR_FORMAT, "NRRD header line 5 gives the field 'sizes' a second time");
    write_long_line("once.nrrd", 1, "content: ", 'c', 1, "", 32); /* the same files with the field once */
    expect_reads_8("once.nrrd");
    write_long_line("once.mha", 0, "Comment = ", 'c', 1, "", 32);
    expect_reads_8("once.mha");
}

/* Header lines of any length (found by Testing/fuzz and by probing ITK 5.2's MetaIO): a field name
 * of 255 characters or more, or a Comment, Name, ObjectType or ObjectSubType value of 255 or more
 * (blanks trimmed), overflowed MetaIO's 255-byte buffers and the process aborted; 254 fit. A line
 * longer than the header scan's buffer used to be taken in pieces: its rest was measured as a field
 * name, and in a NRRD a piece holding only its newline passed for the end of the header, so the
 * fields after it went unchecked. */
static void test_long_header_lines(void **state) {
    (void)state;
    write_long_line("name.mha", 0, "", 'K', 254, " = x", 32);
    expect_reads_8("name.mha");
    write_long_line("name.mha", 0, "", 'K', 300, " = x", 32);
    expect_read_error("name.mha", QR_ERR_FORMAT, "line 3 holds a field name of 300 characters (at most 254)");
    write_long_line("name.mha", 0, "", 'K', 20000, " = x", 32);
    expect_read_error("name.mha", QR_ERR_FORMAT, "line 3 holds a field name of more than 8191 characters");
    static const char *const fixed[] = {"Comment", "Name", "ObjectSubType", "ObjectType"};
    for (int k = 0; k < 4; k++) {
        char label[64], want[128];
        snprintf(label, sizeof label, "%s = ", fixed[k]);
        snprintf(want, sizeof want, "line 3 holds a %s of 255 characters (at most 254)", fixed[k]);
        if (k < 3) { /* (an ObjectType other than Image is not an image) */
            write_long_line("value.mha", 0, label, 'v', 254, "", 32);
            expect_reads_8("value.mha");
        }
        write_long_line("value.mha", 0, label, 'v', 255, "", 32);
        expect_read_error("value.mha", QR_ERR_FORMAT, want);
    }
    write_long_line("value.mha", 0, "Comment :   ", 'v', 300, "", 32); /* ':' also separates */
    expect_read_error("value.mha", QR_ERR_FORMAT, "a Comment of 300 characters");
    write_long_line("value.mha", 0, "Comment = ", 'v', 9000, "", 32);
    expect_read_error("value.mha", QR_ERR_FORMAT, "a Comment of more than 8181 characters");
    write_long_line("value.mha", 0, "comment = ", 'v', 9000, "", 32); /* MetaIO's names are case-sensitive */
    expect_reads_8("value.mha");
    write_long_line("value.mha", 0, "Unknown = ", 'v', 9000, "", 32); /* other values: MetaIO skips them */
    expect_reads_8("value.mha");
    /* NRRD: a line (line 4) of exactly 8191 characters before its newline, then the fields */
    write_long_line("long.nrrd", 1, "content: ", 'c', 8191 - 9, "", 32);
    expect_reads_8("long.nrrd");
    write_long_line("long.nrrd", 1, "content: ", 'c', 8191 - 9, "", 20);
    expect_read_error("long.nrrd", QR_ERR_FORMAT, "voxel data truncated (file holds 20 bytes, header declares 32)");
    /* NRRD lines teem would quote in an error of more than 1,024 bytes (the process aborted) */
    write_long_line("kinds.nrrd", 1, "kinds: domain domain ", 'x', 1000, "", 32);
    expect_read_error("kinds.nrrd", QR_ERR_FORMAT, "NRRD header line 4 has 1021 characters (at most 767");
    write_long_line("kinds.nrrd", 1, "kinds: domain domain ", 'x', 700, "", 32); /* a shorter bad line: teem's error */
    expect_read_error("kinds.nrrd", QR_ERR_FORMAT, "corrupt image header");
    write_long_line("kv.nrrd", 1, "note:=", 'k', 5000, "", 32); /* key:=value and content lines always parse */
    expect_reads_8("kv.nrrd");
    write_long_line("kv.nrrd", 1, "content: ", 'k', 5000, "", 32);
    expect_reads_8("kv.nrrd");
    /* a "line" of more than 1 MiB is no header */
    write_long_line("huge.mha", 0, "Unknown = ", 'v', (size_t)2 << 20, "", 32);
    expect_read_error("huge.mha", QR_ERR_FORMAT, "header line 3 is longer than 1 MiB (not a MetaImage header)");
    write_long_line("huge.nrrd", 1, "content: ", 'c', (size_t)2 << 20, "", 32);
    expect_read_error("huge.nrrd", QR_ERR_FORMAT, "header line 4 is longer than 1 MiB (not a NRRD header)");
}

/* teem quotes the file's path in its error messages, formatted into 1,024 bytes without a bound: a
 * NRRD file with an error in it and a path of about 1,000 characters aborted the process. Such files
 * are read and written through a short private link to their folder. */
static void test_nrrd_long_path(void **state) {
    (void)state;
    char sub[QR_PATH_MAX] = "", tmpdir[QR_PATH_MAX];
    snprintf(tmpdir, sizeof tmpdir, "%s", tmp_path("tmp"));
    assert_int_equal(mkdir(tmpdir, 0700), 0);
    assert_int_equal(setenv("TMPDIR", tmpdir, 1), 0); /* the private folders go here */
    for (int d = 0; d < 6; d++) {                     /* 6 folders of 200 characters */
        size_t n = strlen(sub);
        snprintf(sub + n, sizeof sub - n, "%s%.*s", n ? "/" : "", 200, "dddddddddddddddddddddddddddddddddddddddddddddddddd"
                 "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
                 "dddddddddddddddddddddddddddddddddddddddddddddddddd");
        assert_int_equal(mkdir(tmp_path(sub), 0700), 0);
    }
    char name[QR_PATH_MAX];
    assert_true(strlen(tmp_path(sub)) > 1200);
    /* a volume written and read back; a detached header beside its data */
    snprintf(name, sizeof name, "%s/volume.nrrd", sub);
    roundtrip_float(name, 1e-9, 0);
    snprintf(name, sizeof name, "%s/volume.nhdr", sub);
    roundtrip_float(name, 1e-9, 0);
    /* errors in such a file are reported, naming it in full */
    snprintf(name, sizeof name, "%s/bad.nrrd", sub);
    write_text(name, "NRRD0004\ntype: nonsense\ndimension: 3\nsizes: 2 2 2\nencoding: raw\n\n12345678");
    qr_volume v;
    expect_error(qr_image_read(tmp_path(name), QR_FLOAT32, &v, NULL), QR_ERR_FORMAT, "/bad.nrrd: corrupt image header");
    assert_non_null(strstr(qr_last_error(), tmp_path(name)));
    snprintf(name, sizeof name, "%s/nodata.nhdr", sub);
    write_text(name, "NRRD0004\ntype: float\ndimension: 3\nsizes: 2 2 2\nendian: little\nencoding: raw\n"
                     "data file: missing.raw\n\n");
    expect_error(qr_image_read(tmp_path(name), QR_FLOAT32, &v, NULL), QR_ERR_FORMAT, "couldn't open");
    char missing[QR_PATH_MAX + 512];
    snprintf(missing, sizeof missing, "%s/missing.raw", tmp_path(sub)); /* by its own folder, not the link's */
    assert_non_null(strstr(qr_last_error(), missing));
    assert_null(strstr(qr_last_error(), "qsmrim-io-"));
    /* nothing is left in the temporary folder */
    DIR *dir = opendir(tmpdir);
    assert_non_null(dir);
    int left = 0;
    for (struct dirent *e; (e = readdir(dir));) left += e->d_name[0] != '.';
    closedir(dir);
    assert_int_equal(left, 0);
    unsetenv("TMPDIR");
}

static void test_nrrd_meta_checks(void **state) {
    (void)state;
    /* text encoding over binary data: ITK's fscanf overran the stack */
    char t[512];
    unsigned char bin[64 * 4];
    for (size_t i = 0; i < sizeof bin; i++) bin[i] = (unsigned char)(0x41 + (i * 7) % 26); /* letters, no spaces */
    bin[5] = 0x01;
    const char *hdr = "NRRD0004\ntype: float\ndimension: 3\nsizes: 4 4 4\nendian: little\nencoding: %s\n\n";
    snprintf(t, sizeof t, hdr, "text");
    FILE *f = fopen(tmp_path("text.nrrd"), "wb");
    fputs(t, f);
    fwrite(bin, 1, sizeof bin, f);
    fclose(f);
    expect_read_error("text.nrrd", QR_ERR_FORMAT, "text voxel data");
    /* a valid text NRRD reads */
    f = fopen(tmp_path("ok.nrrd"), "wb");
    fputs("NRRD0004\ntype: float\ndimension: 3\nsizes: 2 2 2\nspacings: 1 1 2\nencoding: text\n\n1 2 3 4\n5 6 7 8.5\n", f);
    fclose(f);
    qr_volume v;
    assert_int_equal(qr_image_read(tmp_path("ok.nrrd"), QR_FLOAT32, &v, NULL), QR_OK);
    assert_true(qr_volume_f32(&v)[7] == 8.5f);
    qr_volume_free(&v);
    /* 10^15 voxels declared: ITK asked for petabytes */
    write_text("huge.nrrd", "NRRD0004\ntype: float\ndimension: 3\nsizes: 100000 100000 100000\nendian: little\nencoding: raw\n\nxxxx");
    expect_read_error("huge.nrrd", QR_ERR_FORMAT, "more than the 2147483648 read");
    /* a scaled or sheared grid (ITK takes a MetaImage TransformMatrix as written and only normalises
     * NRRD space directions): spacing and voxel volume would not describe it (found by Testing/fuzz) */
    static const float vox[8] = {0};
    char mhdr[512];
    snprintf(mhdr, sizeof mhdr, "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
             "TransformMatrix = 2 0 0 0 1 0 0 0 1\nElementSpacing = 1 1 1\nDimSize = 2 2 2\nElementType = MET_FLOAT\n"
             "ElementDataFile = LOCAL\n");
    unsigned char file[1024];
    size_t hl = strlen(mhdr);
    memcpy(file, mhdr, hl);
    memcpy(file + hl, vox, sizeof vox);
    write_bytes(tmp_path("scaled.mha"), file, hl + sizeof vox);
    expect_read_error("scaled.mha", QR_ERR_GEOMETRY, "direction of axis 0 has length 2, not 1");
    snprintf(mhdr, sizeof mhdr, "NRRD0004\ntype: float\ndimension: 3\nspace: left-posterior-superior\nsizes: 2 2 2\n"
             "space directions: (1,0,0) (0.5,1,0) (0,0,1)\nendian: little\nencoding: raw\n\n");
    hl = strlen(mhdr);
    memcpy(file, mhdr, hl);
    memcpy(file + hl, vox, sizeof vox);
    write_bytes(tmp_path("sheared.nrrd"), file, hl + sizeof vox);
    expect_read_error("sheared.nrrd", QR_ERR_GEOMETRY, "axes 0 and 1 are not perpendicular");
    /* gzip declared over raw bytes; corrupt gzip (ITK leaked on it) */
    f = fopen(tmp_path("notgz.nrrd"), "wb");
    snprintf(t, sizeof t, hdr, "gzip");
    fputs(t, f);
    fwrite(bin, 1, sizeof bin, f);
    fclose(f);
    expect_read_error("notgz.nrrd", QR_ERR_FORMAT, "gzip-compressed, but it is not");
    f = fopen(tmp_path("badgz.nrrd"), "wb");
    fputs(t, f);
    const unsigned char gz[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0x00, 0x12};
    fwrite(gz, 1, sizeof gz, f);
    fclose(f);
    expect_read_error("badgz.nrrd", QR_ERR_FORMAT, "compressed voxel data is");
    /* a byte skip beyond the end of the file (the message said it held a negative number of bytes) */
    write_text("skip.nrrd", "NRRD0004\ntype: float\ndimension: 3\nsizes: 2 2 2\nendian: little\nencoding: raw\n"
                            "byte skip: 99999999999\n\n12345678901234567890123456789012");
    expect_read_error("skip.nrrd", QR_ERR_FORMAT, "voxel data truncated (shorter than its byte skip 99999999999)");
    /* NaN spacing (ITK replaced it by 1) */
    write_text("nansp.nrrd", "NRRD0004\ntype: float\ndimension: 3\nsizes: 2 2 2\nspacings: 1 nan 1\nencoding: text\n\n"
                             "1 2 3 4 5 6 7 8\n");
    expect_read_error("nansp.nrrd", QR_ERR_GEOMETRY, "NRRD spacing of axis 1 is 'nan'");
    /* MetaImage: negative NDims (MetaIO looped forever), corrupt and size-less compressed data,
     * data spread over several files */
    write_text("nd.mha", "ObjectType = Image\nNDims = -3\nDimSize = 2 2 2\nElementType = MET_FLOAT\nElementDataFile = LOCAL\n");
    expect_read_error("nd.mha", QR_ERR_FORMAT, "NDims is '-3'");
    write_text("nc.mha", "ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\nElementNumberOfChannels = -3\n"
                         "ElementType = MET_FLOAT\nElementDataFile = LOCAL\n");
    expect_read_error("nc.mha", QR_ERR_FORMAT, "ElementNumberOfChannels is '-3' (must be a whole number from 1)");
    const char *mh = "ObjectType = Image\nNDims = 3\nDimSize = 4 4 4\nElementType = MET_FLOAT\n"
                     "CompressedData = True\n%sElementDataFile = LOCAL\n";
    snprintf(t, sizeof t, mh, "CompressedDataSize = 16\n");
    f = fopen(tmp_path("badz.mha"), "wb");
    fputs(t, f);
    const unsigned char z[16] = {0x78, 0x9c, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    fwrite(z, 1, sizeof z, f);
    fclose(f);
    expect_read_error("badz.mha", QR_ERR_FORMAT, "compressed voxel data is corrupt");
    snprintf(t, sizeof t, mh, "");
    f = fopen(tmp_path("nosize.mha"), "wb");
    fputs(t, f);
    fwrite(z, 1, sizeof z, f);
    fclose(f);
    expect_read_error("nosize.mha", QR_ERR_FORMAT, "needs a positive CompressedDataSize");
    write_text("list.mha", "ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\nElementType = MET_FLOAT\nElementDataFile = LIST\n");
    expect_read_error("list.mha", QR_ERR_UNSUPPORTED, "several files");
    /* a compressed MetaImage written by ITK still reads (its checksum verified) */
    qr_geometry g = test_geometry(9, 8, 5);
    assert_int_equal(qr_volume_alloc(&v, &g, QR_FLOAT32), QR_OK);
    fill_float(&v);
    assert_int_equal(qr_image_write(tmp_path("z.mha"), &v, QR_WRITE_COMPRESS), QR_OK);
    assert_int_equal(qr_image_write(tmp_path("z.nrrd"), &v, QR_WRITE_COMPRESS), QR_OK);
    qr_volume_free(&v);
    assert_int_equal(qr_image_read(tmp_path("z.mha"), QR_FLOAT32, &v, NULL), QR_OK);
    qr_volume_free(&v);
    assert_int_equal(qr_image_read(tmp_path("z.nrrd"), QR_FLOAT32, &v, NULL), QR_OK);
    qr_volume_free(&v);
    /* a named pipe: opening it blocked forever */
    assert_int_equal(mkfifo(tmp_path("pipe.nii"), 0600), 0);
    expect_read_error("pipe.nii", QR_ERR_IO, "not a regular file");
}

/* Reads and writes from several threads at once, as `qsmrim phantom` workers write and read back
 * their subjects: ITK's readers share process-wide state (the std::cerr/std::cout buffers muted
 * around them, a static string in the NIfTI reader), which corrupted std::cerr (a crash when the
 * process flushed it at exit) until the library ran its ITK reads one at a time. */
typedef struct io_worker {
    const char *path;
    const qr_volume *v;
    int failures;
} io_worker;

static void *io_worker_run(void *arg) {
    io_worker *w = arg;
    for (int it = 0; it < 150; it++) {
        qr_volume back;
        if (qr_image_write(w->path, w->v, 0) != QR_OK) {
            w->failures++;
            continue;
        }
        if (qr_image_read_itk(w->path, QR_FLOAT32, &back, NULL) != QR_OK) {
            w->failures++;
            continue;
        }
        if (memcmp(back.data, w->v->data, (size_t)qr_volume_nvox(w->v) * sizeof(float))) w->failures++;
        qr_volume_free(&back);
    }
    return NULL;
}

static void test_concurrent_io(void **state) {
    (void)state;
    qr_geometry g = test_geometry(9, 7, 5);
    qr_volume v;
    assert_int_equal(qr_volume_alloc(&v, &g, QR_FLOAT32), QR_OK);
    fill_float(&v);
    static const char *names[4] = {"t0.nii", "a_much_longer_name_for_the_second_thread.nii", "t2.mha", "t3.nii.gz"};
    io_worker w[4];
    pthread_t t[4];
    for (int k = 0; k < 4; k++) {
        w[k] = (io_worker){strdup(tmp_path(names[k])), &v, 0};
        assert_int_equal(pthread_create(&t[k], NULL, io_worker_run, &w[k]), 0);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(t[k], NULL);
        assert_int_equal(w[k].failures, 0);
        free((void *)w[k].path);
    }
    qr_volume_free(&v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_nifti),
        cmocka_unit_test(test_concurrent_io),
        cmocka_unit_test(test_roundtrip_nrrd),
        cmocka_unit_test(test_roundtrip_meta),
        cmocka_unit_test(test_roundtrip_dicom),
        cmocka_unit_test(test_dicom_folder_pipe),
        cmocka_unit_test(test_roundtrip_labels),
        cmocka_unit_test(test_sheared_grid_written),
        cmocka_unit_test(test_atomic_no_leftovers),
        cmocka_unit_test(test_short_write_keeps_old),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_corrupt_header),
        cmocka_unit_test(test_truncated_data),
        cmocka_unit_test(test_nonfinite_float64_nifti),
        cmocka_unit_test(test_nifti_direct_matches_itk),
        cmocka_unit_test(test_2d_and_4d),
        cmocka_unit_test(test_non_integer_labels),
        cmocka_unit_test(test_nonfinite_counted),
        cmocka_unit_test(test_dicom_empty_folder),
        cmocka_unit_test(test_geometry_same_within_tolerance),
        cmocka_unit_test(test_geometry_resample_linear_and_nearest),
        cmocka_unit_test(test_geometry_reorder_not_resample),
        cmocka_unit_test(test_geometry_canonical_order_at_45_degrees),
        cmocka_unit_test(test_geometry_disjoint),
        cmocka_unit_test(test_labels_outside_grid),
        cmocka_unit_test(test_ras_convention),
        cmocka_unit_test(test_nifti_header_checks),
        cmocka_unit_test(test_nifti_sibling_files),
        cmocka_unit_test(test_nifti_pair_files),
        cmocka_unit_test(test_nrrd_meta_checks),
        cmocka_unit_test(test_long_header_lines),
        cmocka_unit_test(test_repeated_header_fields),
        cmocka_unit_test(test_nrrd_long_path),
        cmocka_unit_test(test_output_names),
        cmocka_unit_test(test_outputs_check),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
