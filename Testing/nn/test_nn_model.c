/*
 * test_nn_model.c - model files, ensembles, checkpoints and resume, determinism, bad inputs, and
 * the `qsmrim forward` command (exit codes, one-line errors, outputs against PyTorch's logits).
 */
#include <hdf5.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/h5util.h"
#include "nn/nn_internal.h"
#include "nn_test_util.h"

static char g_dir[512];
static qr_nn_context *CPU, *REF;
static qr_rng rng;

static const char *tmp(const char *name) {
    static char buf[64][1024];
    static int k = 0;
    k = (k + 1) % 64;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static qr_nn_config small_cfg(qr_nn_arch arch) {
    qr_nn_config c = qr_nn_config_default(arch);
    c.width = arch == QR_NN_ARCH_RIMNET ? 2 : 3;
    if (arch == QR_NN_ARCH_QSMRIMNET) {
        c.patch[0] = 8;
        c.patch[1] = c.patch[2] = 12;
        c.n_radiomic = 11;
    } else if (arch == QR_NN_ARCH_RIMNET) {
        c.patch[0] = c.patch[1] = c.patch[2] = 10;
        c.rimnet_pool_stride = 2;
    } else
        c.n_radiomic = 13;
    return c;
}

static void batch_alloc(const qr_nn_config *c, int64_t n, qr_nn_batch *b, float **x, float **r, float **y) {
    int64_t P = (int64_t)c->in_channels * c->patch[0] * c->patch[1] * c->patch[2];
    *x = P ? malloc(sizeof(float) * (size_t)(n * P)) : NULL;
    *r = c->n_radiomic ? malloc(sizeof(float) * (size_t)(n * c->n_radiomic)) : NULL;
    *y = malloc(sizeof(float) * (size_t)n);
    if (*x) tu_fill_normal(&rng, *x, n * P, 1);
    if (*r) tu_fill_normal(&rng, *r, n * c->n_radiomic, 1);
    for (int64_t i = 0; i < n; i++) (*y)[i] = (float)(i % 3 == 0);
    memset(b, 0, sizeof *b);
    b->n = n;
    b->patches = *x;
    b->radiomics = *r;
    b->labels = *y;
}

/* all tensors of member k of a and b are bitwise equal */
static void assert_same_tensors(const qr_nn_model *a, int ka, const qr_nn_model *b, int kb) {
    assert_int_equal(qr_nn_model_tensor_count(a), qr_nn_model_tensor_count(b));
    for (int i = 0; i < qr_nn_model_tensor_count(a); i++) {
        const char *name = qr_nn_model_tensor_name(a, i);
        int64_t d[5], n = 1;
        int nd = qr_nn_model_tensor_shape(a, name, d);
        for (int j = 0; j < nd; j++) n *= d[j];
        float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
        assert_int_equal(qr_nn_model_get_tensor(a, ka, name, x, n), QR_OK);
        assert_int_equal(qr_nn_model_get_tensor(b, kb, name, y, n), QR_OK);
        if (memcmp(x, y, sizeof(float) * (size_t)n)) fprintf(stderr, "tensor %s differs\n", name);
        assert_memory_equal(x, y, sizeof(float) * (size_t)n);
        free(x);
        free(y);
    }
}

static void test_roundtrip(void **st) {
    (void)st;
    /* every architecture, then (a = QR_NN_ARCH_COUNT) QSMRim-Net with two-branch image fusion */
    for (int a = 0; a <= QR_NN_ARCH_COUNT; a++) {
        qr_nn_config c = small_cfg(a < QR_NN_ARCH_COUNT ? (qr_nn_arch)a : QR_NN_ARCH_QSMRIMNET);
        if (a == QR_NN_ARCH_COUNT) c.image_fusion = QR_NN_IMAGE_BRANCHES;
        qr_nn_model *m, *l, *l2;
        assert_int_equal(qr_nn_model_create(CPU, &c, 11 + a, &m), QR_OK);
        float shift[2] = {0.25f, -3}, scale[2] = {2, 0.5f}, mean[13], sd[13];
        for (int i = 0; i < 13; i++) {
            mean[i] = (float)i;
            sd[i] = 1.0f + (float)i;
        }
        assert_int_equal(qr_nn_model_set_preprocess(m, 0, shift, scale, mean, sd), QR_OK);
        if (c.n_radiomic) {
            const char *names[13];
            char buf[13][32];
            for (int i = 0; i < c.n_radiomic; i++) {
                snprintf(buf[i], sizeof buf[i], "original_firstorder_F%d", i);
                names[i] = buf[i];
            }
            assert_int_equal(qr_nn_model_set_radiomic_names(m, names, c.n_radiomic), QR_OK);
        }
        qr_nn_model_meta *mt = qr_nn_model_meta_of(m);
        mt->threshold_f1 = 0.42;
        mt->threshold_sensitive = 0.125;
        snprintf(mt->training_data, sizeof mt->training_data, "phantom cohort, 20 subjects");
        snprintf(mt->commit, sizeof mt->commit, "abc123");
        mt->seed = 77;
        mt->voxel_mm[0] = 0.75, mt->voxel_mm[1] = 0.8, mt->voxel_mm[2] = 3.0;
        assert_int_equal(qr_nn_model_set_member_info(m, 0, 3, 77), QR_OK);
        assert_int_equal(qr_nn_model_save(m, tmp("rt.h5")), QR_OK);
        /* load on the same and on the other backend (other layouts): identical tensors */
        if (qr_nn_model_load(CPU, tmp("rt.h5"), &l) != QR_OK) fail_msg("%s", qr_last_error());
        assert_int_equal(qr_nn_model_load(REF, tmp("rt.h5"), &l2), QR_OK);
        assert_same_tensors(m, 0, l, 0);
        assert_same_tensors(m, 0, l2, 0);
        const qr_nn_config *lc = qr_nn_model_config(l);
        assert_int_equal(lc->arch, c.arch);
        assert_int_equal(lc->image_fusion, c.image_fusion);
        assert_int_equal(lc->width, c.width);
        assert_int_equal(lc->n_radiomic, c.n_radiomic);
        assert_int_equal(lc->patch[2], c.patch[2]);
        const qr_nn_model_meta *lm = qr_nn_model_meta_const(l);
        assert_true(lm->threshold_f1 == 0.42 && lm->threshold_sensitive == 0.125 && lm->seed == 77);
        assert_true(lm->voxel_mm[0] == 0.75 && lm->voxel_mm[1] == 0.8 && lm->voxel_mm[2] == 3.0);
        assert_string_equal(lm->training_data, "phantom cohort, 20 subjects");
        assert_string_equal(lm->commit, "abc123");
        qr_nn_preprocess pp;
        assert_int_equal(qr_nn_model_get_preprocess(l, 0, &pp), QR_OK);
        for (int i = 0; i < c.in_channels; i++) assert_true(pp.intensity_shift[i] == shift[i] && pp.intensity_scale[i] == scale[i]);
        for (int i = 0; i < c.n_radiomic; i++) assert_true(pp.radiomic_mean[i] == mean[i] && pp.radiomic_sd[i] == sd[i]);
        if (c.n_radiomic) assert_string_equal(qr_nn_model_radiomic_name(l, 5), "original_firstorder_F5");
        int fold;
        int64_t seed;
        assert_int_equal(qr_nn_model_get_member_info(l, 0, &fold, &seed), QR_OK);
        assert_true(fold == 3 && seed == 77);
        /* the same logits on both backends */
        qr_nn_batch b;
        float *x, *r, *y;
        batch_alloc(&c, 5, &b, &x, &r, &y);
        float l1[5], l2v[5];
        assert_int_equal(qr_nn_model_infer(l, &b, l1), QR_OK);
        assert_int_equal(qr_nn_model_infer(l2, &b, l2v), QR_OK);
        assert_true(tu_rel_err(l1, l2v, 5, 1e-3) < 1e-4);
        free(x);
        free(r);
        free(y);
        qr_nn_model_free(m);
        qr_nn_model_free(l);
        qr_nn_model_free(l2);
    }
}

/* ---- damaging a good file ---- */

static void copy_file(const char *a, const char *b) {
    FILE *f = fopen(a, "rb"), *g = fopen(b, "wb");
    assert_non_null(f);
    assert_non_null(g);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, g);
    fclose(f);
    fclose(g);
}

static hid_t h5rw(const char *p) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

/* Close a model opened with h5rw and seal it again: these edits stand for deliberate edits with
 * another HDF5 tool, re-sealed afterwards; the seal itself is tested in test_sealed_files. */
static void h5rw_close(hid_t f) {
    char name[1024];
    assert_true(H5Fget_name(f, name, sizeof name) > 0);
    assert_true(H5Fclose(f) >= 0);
    assert_int_equal(qr_h5_seal(name), QR_OK);
}

static void put_f32(hid_t loc, const char *name, int nd, const hsize_t *d, const float *v) {
    hid_t sp = H5Screate_simple(nd, d, NULL);
    hid_t ds = H5Dcreate2(loc, name, H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(ds >= 0);
    H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(ds);
    H5Sclose(sp);
}

static void set_attr_str(hid_t loc, const char *name, const char *v) {
    H5Adelete(loc, name);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v) + 1);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, v);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
}

static void set_attr_int(hid_t loc, const char *name, int64_t v) {
    H5Adelete(loc, name);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, H5T_NATIVE_INT64, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    H5Sclose(sp);
}

static void expect_load_error(const char *path, qr_status want, const char *needle) {
    qr_nn_model *m = NULL;
    qr_status s = qr_nn_model_load(CPU, path, &m);
    if (s != want || !strstr(qr_last_error(), needle))
        fprintf(stderr, "load %s: status %d (want %d), message '%s' (want '%s')\n", path, s, want, qr_last_error(), needle);
    assert_int_equal(s, want);
    assert_non_null(strstr(qr_last_error(), needle));
    assert_null(m);
}

/* Sealed model files (core/h5util.h): the seal is checked before libhdf5 reads the file; a flipped
 * byte, a truncated or extended file is refused naming the file; a file without a seal (other
 * tools, older qsmrim) loads as before. */
static long file_size(const char *p) {
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}
static void poke(const char *p, long at, const void *bytes, size_t n) {
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, at, SEEK_SET), 0);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

/* A small QSMRim-Net saved as tmp(name); returns its path. */
static const char *saved_model(const char *name) {
    qr_nn_config c = small_cfg(QR_NN_ARCH_QSMRIMNET);
    qr_nn_model *m;
    assert_int_equal(qr_nn_model_create(CPU, &c, 3, &m), QR_OK);
    const char *path = tmp(name);
    assert_int_equal(qr_nn_model_save(m, path), QR_OK);
    qr_nn_model_free(m);
    return path;
}

/* A copy of `good` as tmp(name), opened read-write. */
static hid_t edit_copy(const char *good, const char *name) {
    copy_file(good, tmp(name));
    return h5rw(tmp(name));
}
/* A copy of `good` with one attribute set (and sealed again) must fail to load with `want`. */
static void expect_attr_int_error(const char *good, const char *name, const char *attr, int64_t v, qr_status want,
                                  const char *needle) {
    hid_t h = edit_copy(good, name);
    set_attr_int(h, attr, v);
    h5rw_close(h);
    expect_load_error(tmp(name), want, needle);
}
static void expect_attr_str_error(const char *good, const char *name, const char *attr, const char *v, qr_status want,
                                  const char *needle) {
    hid_t h = edit_copy(good, name);
    set_attr_str(h, attr, v);
    h5rw_close(h);
    expect_load_error(tmp(name), want, needle);
}

static void test_sealed_files(void **st) {
    (void)st;
    qr_nn_model *m;
    const char *good = saved_model("sealed.h5");
    char head[64] = {0};
    FILE *f = fopen(good, "rb");
    assert_int_equal(fread(head, 1, 24, f), 24);
    fclose(f);
    assert_memory_equal(head, "QSMRIM-HDF5-SEAL 1\nsize ", 24);
    int sealed = 0;
    assert_int_equal(qr_h5_check_seal(good, &sealed), QR_OK);
    assert_int_equal(sealed, 1);
    const long n = file_size(good);
    /* one byte changed in the middle of the HDF5 content */
    copy_file(good, tmp("flip.h5"));
    unsigned char b;
    f = fopen(tmp("flip.h5"), "rb");
    fseek(f, n / 2, SEEK_SET);
    assert_int_equal(fread(&b, 1, 1, f), 1);
    fclose(f);
    b ^= 0x10;
    poke(tmp("flip.h5"), n / 2, &b, 1);
    expect_load_error(tmp("flip.h5"), QR_ERR_FORMAT, "flip.h5: its CRC-32 is");
    /* truncated; extended */
    assert_int_equal(truncate(tmp("flip.h5"), n - 100), 0);
    expect_load_error(tmp("flip.h5"), QR_ERR_FORMAT, "flip.h5: ");
    assert_non_null(strstr(qr_last_error(), " bytes after its seal, "));
    copy_file(good, tmp("long.h5"));
    poke(tmp("long.h5"), n, "xyz", 3);
    char want[128];
    snprintf(want, sizeof want, "long.h5: %ld bytes after its seal, %ld when it was written", n - 512 + 3, n - 512);
    expect_load_error(tmp("long.h5"), QR_ERR_FORMAT, want);
    /* the seal's own text damaged */
    copy_file(good, tmp("seal.h5"));
    poke(tmp("seal.h5"), 19, "sizx", 4);
    expect_load_error(tmp("seal.h5"), QR_ERR_FORMAT, "its qsmrim seal (first 512 bytes) cannot be read");
    /* edited by another HDF5 tool: refused until sealed again */
    hid_t h = edit_copy(good, "edit.h5");
    set_attr_str(h, "notes", "edited");
    H5Fclose(h);
    expect_load_error(tmp("edit.h5"), QR_ERR_FORMAT, "Resources/python/h5seal.py");
    assert_int_equal(qr_h5_seal(tmp("edit.h5")), QR_OK);
    assert_int_equal(qr_nn_model_load(CPU, tmp("edit.h5"), &m), QR_OK);
    qr_nn_model_free(m);
    /* no seal (an empty user block, as another tool leaves it): read as before */
    char zeros[QR_H5_SEAL_BYTES] = {0};
    poke(tmp("edit.h5"), 0, zeros, sizeof zeros);
    assert_int_equal(qr_h5_check_seal(tmp("edit.h5"), &sealed), QR_OK);
    assert_int_equal(sealed, 0);
    assert_int_equal(qr_nn_model_load(CPU, tmp("edit.h5"), &m), QR_OK);
    qr_nn_model_free(m);
    /* a file that is no HDF5 at all but starts like a seal is refused, not parsed */
    f = fopen(tmp("fake.h5"), "wb");
    fputs("QSMRIM-HDF5-SEAL 1\nsize 10\ncrc32 00000000\n", f);
    for (int i = 0; i < 600; i++) fputc('x', f);
    fclose(f);
    expect_load_error(tmp("fake.h5"), QR_ERR_FORMAT, "fake.h5: 130 bytes after its seal, 10 when it was written (damaged, or edited");
}

static void test_load_errors(void **st) {
    (void)st;
    qr_nn_model *m;
    const char *good = saved_model("good.h5");

    expect_load_error(tmp("does-not-exist.h5"), QR_ERR_IO, "does-not-exist.h5");
    FILE *f = fopen(tmp("text.h5"), "w");
    fputs("this is not HDF5\n", f);
    fclose(f);
    expect_load_error(tmp("text.h5"), QR_ERR_FORMAT, "not an HDF5 file");
    /* an HDF5 file that is not a model */
    hid_t h = H5Fcreate(tmp("other.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d1 = 3;
    float v3[3] = {1, 2, 3};
    put_f32(h, "patches", 1, &d1, v3);
    H5Fclose(h);
    expect_load_error(tmp("other.h5"), QR_ERR_FORMAT, "not a qsmrim model");
    /* newer format */
    expect_attr_int_error(good, "v99.h5", "format_version", 99, QR_ERR_UNSUPPORTED, "version 99");
    /* unknown architecture */
    expect_attr_str_error(good, "arch.h5", "arch", "unet", QR_ERR_MODEL, "unknown architecture 'unet'");
    /* files written before two-branch image fusion existed have no image_fusion attribute: they
     * load as the published channel fusion; an unknown value is refused; a file whose attribute
     * says branches but whose tensors are a one-encoder network is refused by its tensors (the
     * QSM encoder's stem takes one channel there) */
    h = edit_copy(good, "old.h5");
    assert_true(H5Adelete(h, "image_fusion") >= 0);
    h5rw_close(h);
    assert_int_equal(qr_nn_model_load(CPU, tmp("old.h5"), &m), QR_OK);
    assert_int_equal(qr_nn_model_config(m)->image_fusion, QR_NN_IMAGE_CHANNELS);
    qr_nn_model_free(m);
    expect_attr_str_error(good, "imf.h5", "image_fusion", "sideways", QR_ERR_MODEL, "unknown image fusion 'sideways'");
    expect_attr_str_error(good, "imf.h5", "image_fusion", "branches", QR_ERR_MODEL,
                          "encoder.conv1.weight has shape (3, 2, 7, 7, 7), the architecture needs (3, 1, 7, 7, 7)");
    /* architecture attributes that do not fit the tensors (another width) */
    expect_attr_int_error(good, "width.h5", "width", 4, QR_ERR_MODEL, "the architecture needs");
    /* a missing tensor */
    h = edit_copy(good, "missing.h5");
    assert_true(H5Ldelete(h, "member_000/encoder.layer2.0.downsample.0.weight", H5P_DEFAULT) >= 0);
    h5rw_close(h);
    expect_load_error(tmp("missing.h5"), QR_ERR_MODEL, "encoder.layer2.0.downsample.0.weight is missing");
    /* a misshapen tensor */
    h = edit_copy(good, "shape.h5");
    H5Ldelete(h, "member_000/classifier.3.bias", H5P_DEFAULT);
    hsize_t d2 = 2;
    put_f32(h, "member_000/classifier.3.bias", 1, &d2, v3);
    h5rw_close(h);
    expect_load_error(tmp("shape.h5"), QR_ERR_MODEL, "classifier.3.bias has shape (2), the architecture needs (1)");
    /* a tensor the architecture does not have */
    h = edit_copy(good, "extra.h5");
    put_f32(h, "member_000/encoder.fc.weight", 1, &d1, v3);
    h5rw_close(h);
    expect_load_error(tmp("extra.h5"), QR_ERR_MODEL, "encoder.fc.weight is not a tensor");
    /* a non-finite parameter */
    h = edit_copy(good, "nan.h5");
    H5Ldelete(h, "member_000/classifier.0.bias", H5P_DEFAULT);
    float nanv[6] = {0, 0, NAN, 0, 0, 0};
    hsize_t d6 = 6;
    put_f32(h, "member_000/classifier.0.bias", 1, &d6, nanv);
    h5rw_close(h);
    expect_load_error(tmp("nan.h5"), QR_ERR_NONFINITE, "classifier.0.bias holds a non-finite value");
    /* an attribute stored as an array (a damaged or foreign file) is refused, not read past
     * the one value it should hold (the reader used to overrun its buffer) */
    h = edit_copy(good, "warray.h5");
    H5Adelete(h, "width");
    {
        hsize_t d4 = 4;
        int64_t w4[4] = {2, 2, 2, 2};
        hid_t sp = H5Screate_simple(1, &d4, NULL);
        hid_t a = H5Acreate2(h, "width", H5T_NATIVE_INT64, sp, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_INT64, w4);
        H5Aclose(a);
        H5Sclose(sp);
    }
    h5rw_close(h);
    expect_load_error(tmp("warray.h5"), QR_ERR_MODEL, "attribute 'width' is not one integer");
    /* an integer attribute stored as a float: 1.5 is refused (HDF5 would read it as 1), a whole
     * number such as 2.0 is that integer */
    for (int whole = 0; whole < 2; whole++) {
        h = edit_copy(good, whole ? "lfloat2.h5" : "lfloat.h5");
        int64_t stride = 0;
        assert_int_equal(qr_h5_attr_scalar(h, "layer4_stride", H5T_NATIVE_INT64, &stride), QR_H5_OK);
        H5Adelete(h, "layer4_stride");
        const double v = whole ? (double)stride : 1.5;
        hid_t sp = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(h, "layer4_stride", H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_DOUBLE, &v);
        H5Aclose(a);
        H5Sclose(sp);
        h5rw_close(h);
    }
    expect_load_error(tmp("lfloat.h5"), QR_ERR_MODEL, "attribute 'layer4_stride' is not one integer");
    {
        qr_nn_model *lm = NULL;
        assert_int_equal(qr_nn_model_load(CPU, tmp("lfloat2.h5"), &lm), QR_OK);
        qr_nn_model_free(lm);
    }
    /* the training voxel size: three sizes in mm, or absent (not recorded) */
    {
        const double two[2] = {0.75, 0.75}, neg[3] = {0.75, -1.0, 3.0}, ok[3] = {0.75, 0.75, 3.0};
        h = edit_copy(good, "vox2.h5");
        assert_int_equal(qr_h5_attr_write_doubles(h, "voxel_size_mm", two, 2), 0);
        h5rw_close(h);
        expect_load_error(tmp("vox2.h5"), QR_ERR_MODEL, "attribute 'voxel_size_mm' must hold three voxel sizes in mm");
        h = edit_copy(good, "voxneg.h5");
        assert_int_equal(qr_h5_attr_write_doubles(h, "voxel_size_mm", neg, 3), 0);
        h5rw_close(h);
        expect_load_error(tmp("voxneg.h5"), QR_ERR_MODEL, "attribute 'voxel_size_mm' must hold three voxel sizes in mm");
        assert_int_equal(qr_nn_model_load(CPU, good, &m), QR_OK); /* saved without one */
        assert_true(qr_nn_model_meta_const(m)->voxel_mm[0] == 0.0);
        qr_nn_model_free(m);
        h = edit_copy(good, "voxok.h5");
        assert_int_equal(qr_h5_attr_write_doubles(h, "voxel_size_mm", ok, 3), 0);
        h5rw_close(h);
        assert_int_equal(qr_nn_model_load(CPU, tmp("voxok.h5"), &m), QR_OK);
        assert_true(qr_nn_model_meta_const(m)->voxel_mm[2] == 3.0);
        qr_nn_model_free(m);
    }
    /* integers beyond 32 bits are refused, not cut to their low bits (2^32 + 1 read as 1) */
    expect_attr_int_error(good, "big.h5", "in_channels", ((int64_t)1 << 32) + 1, QR_ERR_MODEL,
                          "attribute 'in_channels' = 4294967297 is out of range");
    expect_attr_int_error(good, "v0.h5", "format_version", 0, QR_ERR_MODEL, "version 0 is not a valid version");
    /* a negative batch-norm variance (every output would be NaN) */
    h = edit_copy(good, "negvar.h5");
    {
        hid_t ds = H5Dopen2(h, "member_000/encoder.layer1.0.norm1.running_var", H5P_DEFAULT);
        assert_true(ds >= 0);
        float one = -1.0f;
        hsize_t start = 1, count = 1;
        hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(1, &count, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
        assert_true(H5Dwrite(ds, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, &one) >= 0);
        H5Sclose(ms);
        H5Sclose(fs);
        H5Dclose(ds);
    }
    h5rw_close(h);
    expect_load_error(tmp("negvar.h5"), QR_ERR_MODEL, "encoder.layer1.0.norm1.running_var holds the negative variance -1 at element 1");
    /* a checkpoint needs optimizer state: a plain model file is refused */
    assert_int_equal(qr_nn_model_load(CPU, good, &m), QR_OK);
    qr_nn_train_options to = qr_nn_train_options_default();
    to.max_batch = 4;
    qr_nn_trainer *t;
    assert_int_equal(qr_nn_trainer_create(m, 0, &to, &t), QR_OK);
    assert_int_equal(qr_nn_checkpoint_load(t, good, NULL, 0), QR_ERR_MODEL);
    assert_non_null(strstr(qr_last_error(), "not a training checkpoint"));
    qr_nn_trainer_free(t);
    qr_nn_model_free(m);
}

static void test_ensemble(void **st) {
    (void)st;
    qr_nn_config c = small_cfg(QR_NN_ARCH_QSMRIMNET);
    qr_nn_model *a, *b, *l;
    assert_int_equal(qr_nn_model_create(CPU, &c, 1, &a), QR_OK);
    assert_int_equal(qr_nn_model_create(CPU, &c, 2, &b), QR_OK);
    float sh[2] = {1, 2}, sc[2] = {0.5f, 0.25f};
    assert_int_equal(qr_nn_model_set_preprocess(b, 0, sh, sc, NULL, NULL), QR_OK);
    qr_nn_batch bt;
    float *x, *r, *y;
    batch_alloc(&c, 70, &bt, &x, &r, &y); /* more than one inference chunk */
    float *la = malloc(70 * 4), *lb = malloc(70 * 4), *lab = malloc(140 * 4), *ll = malloc(140 * 4);
    assert_int_equal(qr_nn_model_infer(a, &bt, la), QR_OK);
    assert_int_equal(qr_nn_model_infer(b, &bt, lb), QR_OK);
    assert_int_equal(qr_nn_model_append(a, b), QR_OK);
    assert_int_equal(qr_nn_model_members(a), 2);
    assert_int_equal(qr_nn_model_infer(a, &bt, lab), QR_OK);
    assert_memory_equal(lab, la, 70 * 4);
    assert_memory_equal(lab + 70, lb, 70 * 4);
    assert_int_equal(qr_nn_model_save(a, tmp("ens.h5")), QR_OK);
    assert_int_equal(qr_nn_model_load(CPU, tmp("ens.h5"), &l), QR_OK);
    assert_int_equal(qr_nn_model_members(l), 2);
    assert_int_equal(qr_nn_model_infer(l, &bt, ll), QR_OK);
    assert_memory_equal(ll, lab, 140 * 4);
    float p = qr_nn_ensemble_probability(ll, 2, 70, 5);
    assert_true(fabsf(p - 0.5f * (qr_nn_sigmoid(la[5]) + qr_nn_sigmoid(lb[5]))) < 1e-6f);
    /* the first 64 samples alone give the same logits as inside the 70 (chunking) */
    qr_nn_batch b64 = bt;
    b64.n = 64;
    float l64[64];
    assert_int_equal(qr_nn_model_infer_member(a, 0, &b64, l64), QR_OK);
    assert_memory_equal(l64, la, 64 * 4);
    /* joining different architectures is refused */
    qr_nn_config c2 = c;
    c2.width = 4;
    qr_nn_model *d;
    assert_int_equal(qr_nn_model_create(CPU, &c2, 1, &d), QR_OK);
    assert_int_equal(qr_nn_model_append(a, d), QR_ERR_MODEL);
    qr_nn_model_free(d);
    qr_nn_model_free(a);
    qr_nn_model_free(b);
    qr_nn_model_free(l);
    free(x);
    free(r);
    free(y);
    free(la);
    free(lb);
    free(lab);
    free(ll);
}

/* params of member 0 as one host array */
static float *all_params(const qr_nn_model *m, int64_t *count) {
    int64_t total = 0;
    for (int i = 0; i < qr_nn_model_tensor_count(m); i++) {
        int64_t d[5], n = 1;
        int nd = qr_nn_model_tensor_shape(m, qr_nn_model_tensor_name(m, i), d);
        for (int j = 0; j < nd; j++) n *= d[j];
        total += n;
    }
    float *v = malloc(sizeof(float) * (size_t)total), *p = v;
    for (int i = 0; i < qr_nn_model_tensor_count(m); i++) {
        const char *name = qr_nn_model_tensor_name(m, i);
        int64_t d[5], n = 1;
        int nd = qr_nn_model_tensor_shape(m, name, d);
        for (int j = 0; j < nd; j++) n *= d[j];
        assert_int_equal(qr_nn_model_get_tensor(m, 0, name, p, n), QR_OK);
        p += n;
    }
    *count = total;
    return v;
}

static void train_steps(qr_nn_trainer *t, const qr_nn_batch *b, int k0, int k1) {
    for (int k = k0; k < k1; k++) {
        qr_nn_trainer_set_epoch(t, k);
        qr_nn_step_stats s;
        assert_int_equal(qr_nn_trainer_step(t, b, &s), QR_OK);
        assert_true(isfinite(s.loss));
    }
}

static void test_checkpoint_resume(void **st) {
    (void)st;
    qr_nn_config c = small_cfg(QR_NN_ARCH_QSMRIMNET);
    qr_nn_train_options to = qr_nn_train_options_default();
    to.seed = 9;
    to.max_batch = 8;
    to.n_milestones = 1;
    to.milestones[0] = 3;
    qr_nn_batch b;
    float *x, *r, *y;
    batch_alloc(&c, 8, &b, &x, &r, &y);
    /* run A: 5 steps straight */
    qr_nn_model *ma, *mb;
    qr_nn_trainer *ta, *tb;
    assert_int_equal(qr_nn_model_create(CPU, &c, 4, &ma), QR_OK);
    assert_int_equal(qr_nn_trainer_create(ma, 0, &to, &ta), QR_OK);
    train_steps(ta, &b, 0, 2);
    int64_t fi[3] = {7, 8, 9};
    double fd[2] = {0.5, -2.25};
    qr_nn_field fields[2] = {{"fold_state", QR_NN_FIELD_I64, fi, 3}, {"aug.rng", QR_NN_FIELD_F64, fd, 2}};
    assert_int_equal(qr_nn_checkpoint_save(ta, tmp("ckpt.h5"), fields, 2), QR_OK);
    train_steps(ta, &b, 2, 5);
    assert_true(fabs(qr_nn_trainer_lr(ta) - 1e-5) < 1e-12); /* milestone at epoch 3 */
    int64_t na, nb;
    float *pa = all_params(ma, &na);
    /* run B: a fresh model, resumed from the checkpoint after step 2 */
    assert_int_equal(qr_nn_model_create(CPU, &c, 99, &mb), QR_OK);
    assert_int_equal(qr_nn_trainer_create(mb, 0, &to, &tb), QR_OK);
    int64_t gi[3] = {0, 0, 0};
    double gd[2] = {0, 0};
    qr_nn_field back[2] = {{"fold_state", QR_NN_FIELD_I64, gi, 3}, {"aug.rng", QR_NN_FIELD_F64, gd, 2}};
    assert_int_equal(qr_nn_checkpoint_load(tb, tmp("ckpt.h5"), back, 2), QR_OK);
    assert_true(gi[0] == 7 && gi[2] == 9 && gd[1] == -2.25);
    assert_int_equal(qr_nn_trainer_step_count(tb), 2);
    train_steps(tb, &b, 2, 5);
    float *pb = all_params(mb, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(pa, pb, sizeof(float) * (size_t)na); /* bit-identical resume */
    /* a checkpoint is also a model file */
    qr_nn_model *mc;
    assert_int_equal(qr_nn_model_load(CPU, tmp("ckpt.h5"), &mc), QR_OK);
    qr_nn_model_free(mc);
    /* a missing field is reported */
    int64_t z = 0;
    qr_nn_field miss = {"nope", QR_NN_FIELD_I64, &z, 1};
    assert_int_equal(qr_nn_checkpoint_load(tb, tmp("ckpt.h5"), &miss, 1), QR_ERR_MODEL);
    assert_non_null(strstr(qr_last_error(), "extra/nope is missing"));
    /* text fields, read back alone (nothing restored) or with the state */
    char text[64] = "arch: qsmrimnet\nepochs: 8\n", got[64] = "", cut[8] = "";
    qr_nn_field with_text[2] = {{"fold_state", QR_NN_FIELD_I64, fi, 3}, {"settings", QR_NN_FIELD_TEXT, text, sizeof text}};
    assert_int_equal(qr_nn_checkpoint_save(ta, tmp("ckpt_text.h5"), with_text, 2), QR_OK);
    qr_nn_field read_text = {"settings", QR_NN_FIELD_TEXT, got, sizeof got};
    assert_int_equal(qr_nn_checkpoint_read_fields(tmp("ckpt_text.h5"), &read_text, 1), QR_OK);
    assert_string_equal(got, text);
    qr_nn_field read_cut = {"settings", QR_NN_FIELD_TEXT, cut, sizeof cut};
    assert_int_equal(qr_nn_checkpoint_read_fields(tmp("ckpt_text.h5"), &read_cut, 1), QR_OK);
    assert_string_equal(cut, "arch: q");
    got[0] = 0;
    assert_int_equal(qr_nn_checkpoint_load(tb, tmp("ckpt_text.h5"), &read_text, 1), QR_OK);
    assert_string_equal(got, text);
    assert_int_equal(qr_nn_checkpoint_read_fields(tmp("ckpt.h5"), &read_text, 1), QR_ERR_MODEL); /* none kept */
    assert_non_null(strstr(qr_last_error(), "extra/settings is missing"));
    /* another architecture's checkpoint is refused */
    qr_nn_config c2 = c;
    c2.fusion = QR_NN_FUSION_CONCAT;
    qr_nn_model *md;
    qr_nn_trainer *td;
    assert_int_equal(qr_nn_model_create(CPU, &c2, 1, &md), QR_OK);
    assert_int_equal(qr_nn_trainer_create(md, 0, &to, &td), QR_OK);
    assert_int_equal(qr_nn_checkpoint_load(td, tmp("ckpt.h5"), NULL, 0), QR_ERR_MODEL);
    qr_nn_trainer_free(td);
    qr_nn_model_free(md);
    qr_nn_trainer_free(ta);
    qr_nn_trainer_free(tb);
    qr_nn_model_free(ma);
    qr_nn_model_free(mb);
    free(pa);
    free(pb);
    free(x);
    free(r);
    free(y);
}

/* The CPU backend gives bit-identical training with 1 and 2 threads. */
static void test_thread_count_determinism(void **st) {
    (void)st;
    qr_nn_context_options o = qr_nn_context_options_default();
    o.device.kind = QR_NN_DEVICE_CPU;
    qr_nn_config c = small_cfg(QR_NN_ARCH_QSMRIMNET);
    c.width = 8;
    qr_nn_batch b;
    float *x, *r, *y;
    batch_alloc(&c, 16, &b, &x, &r, &y);
    float *p[2];
    int64_t n[2];
    float lg[2][16];
    for (int k = 0; k < 2; k++) {
        o.threads = k + 1;
        qr_nn_context *ctx;
        assert_int_equal(qr_nn_context_create(&o, &ctx), QR_OK);
        qr_nn_model *m;
        qr_nn_trainer *t;
        assert_int_equal(qr_nn_model_create(ctx, &c, 5, &m), QR_OK);
        qr_nn_train_options to = qr_nn_train_options_default();
        to.seed = 1;
        to.max_batch = 16;
        assert_int_equal(qr_nn_trainer_create(m, 0, &to, &t), QR_OK);
        train_steps(t, &b, 0, 3);
        assert_int_equal(qr_nn_model_infer(m, &b, lg[k]), QR_OK);
        p[k] = all_params(m, &n[k]);
        qr_nn_trainer_free(t);
        qr_nn_model_free(m);
        qr_nn_context_free(ctx);
    }
    assert_int_equal(n[0], n[1]);
    assert_memory_equal(p[0], p[1], sizeof(float) * (size_t)n[0]);
    assert_memory_equal(lg[0], lg[1], sizeof lg[0]);
    free(p[0]);
    free(p[1]);
    free(x);
    free(r);
    free(y);
}

static void test_bad_inputs(void **st) {
    (void)st;
    qr_nn_config c = small_cfg(QR_NN_ARCH_QSMRIMNET);
    qr_nn_model *m;
    assert_int_equal(qr_nn_model_create(CPU, &c, 3, &m), QR_OK);
    qr_nn_batch b;
    float *x, *r, *y, lg[6];
    batch_alloc(&c, 6, &b, &x, &r, &y);
    x[3 * 2 * 8 * 12 * 12 + 17] = NAN; /* sample 3 */
    assert_int_equal(qr_nn_model_infer(m, &b, lg), QR_ERR_NONFINITE);
    assert_non_null(strstr(qr_last_error(), "patches of sample 3"));
    x[3 * 2 * 8 * 12 * 12 + 17] = 0;
    r[2 * c.n_radiomic + 1] = INFINITY;
    assert_int_equal(qr_nn_model_infer(m, &b, lg), QR_ERR_NONFINITE);
    assert_non_null(strstr(qr_last_error(), "radiomic features of sample 2"));
    r[2 * c.n_radiomic + 1] = 0;
    b.radiomics = NULL;
    assert_int_equal(qr_nn_model_infer(m, &b, lg), QR_ERR_INVALID_ARG);
    b.radiomics = r;
    /* two-branch image fusion needs exactly the QSM and FLAIR channels */
    qr_nn_config c3 = c;
    c3.image_fusion = QR_NN_IMAGE_BRANCHES;
    c3.in_channels = 3;
    qr_nn_model *m3 = NULL;
    assert_int_equal(qr_nn_model_create(CPU, &c3, 3, &m3), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "two-branch image fusion takes 2 channels (QSM, FLAIR), got 3"));
    assert_null(m3);
    /* training: labels 0/1, at least 2 samples */
    qr_nn_train_options to = qr_nn_train_options_default();
    to.max_batch = 6;
    qr_nn_trainer *t, *t2;
    assert_int_equal(qr_nn_trainer_create(m, 0, &to, &t), QR_OK);
    assert_int_equal(qr_nn_trainer_create(m, 0, &to, &t2), QR_ERR_INVALID_ARG); /* one trainer per model */
    qr_nn_step_stats s;
    y[1] = 0.5f;
    assert_int_equal(qr_nn_trainer_step(t, &b, &s), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "label of sample 1 is 0.5"));
    y[1] = 0;
    b.n = 1;
    assert_int_equal(qr_nn_trainer_step(t, &b, &s), QR_ERR_INVALID_ARG);
    b.n = 6;
    b.labels = NULL;
    assert_int_equal(qr_nn_trainer_step(t, &b, &s), QR_ERR_INVALID_ARG);
    b.labels = y;
    /* a larger batch than max_batch grows the buffers */
    qr_nn_batch big;
    float *x2, *r2, *y2;
    batch_alloc(&c, 9, &big, &x2, &r2, &y2);
    assert_int_equal(qr_nn_trainer_step(t, &big, &s), QR_OK);
    assert_int_equal(s.n_real, 9);
    assert_int_equal(s.n_synth, 9); /* 3 rim+ (labels i % 3 == 0), released: 3 rows each */
    qr_nn_trainer_free(t);
    /* options */
    to.lr = 0;
    assert_int_equal(qr_nn_trainer_create(m, 0, &to, &t), QR_ERR_INVALID_ARG);
    /* configuration checks */
    qr_nn_config bad = c;
    bad.layer4_stride = 3;
    qr_nn_model *mb = NULL;
    assert_int_equal(qr_nn_model_create(CPU, &bad, 1, &mb), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "layer4 stride"));
    bad = small_cfg(QR_NN_ARCH_RIMNET);
    bad.in_channels = 3;
    assert_int_equal(qr_nn_model_create(CPU, &bad, 1, &mb), QR_ERR_INVALID_ARG);
    /* tensors by name */
    float v[6];
    assert_int_equal(qr_nn_model_get_tensor(m, 0, "classifier.0.bias", v, 5), QR_ERR_INVALID_ARG);
    assert_int_equal(qr_nn_model_get_tensor(m, 0, "no.such.tensor", v, 6), QR_ERR_INVALID_ARG);
    assert_int_equal(qr_nn_model_get_tensor(m, 1, "classifier.0.bias", v, 6), QR_ERR_INVALID_ARG);
    qr_nn_model_free(m);
    free(x);
    free(r);
    free(y);
    free(x2);
    free(r2);
    free(y2);
}

static void test_devices(void **st) {
    (void)st;
    qr_nn_device d;
    assert_int_equal(qr_nn_device_parse("cuda:1", &d), QR_OK);
    assert_true(d.kind == QR_NN_DEVICE_CUDA && d.index == 1);
    assert_int_equal(qr_nn_device_parse("cuda:x", &d), QR_ERR_INVALID_ARG);
    assert_int_equal(qr_nn_device_parse("gpu", &d), QR_ERR_INVALID_ARG);
    assert_int_equal(qr_nn_device_parse("auto", &d), QR_OK);
    qr_nn_context_options o = qr_nn_context_options_default();
    qr_nn_context *ctx = NULL;
    o.threads = 1;
    assert_int_equal(qr_nn_context_create(&o, &ctx), QR_OK); /* auto */
    if (!qr_nn_backend_cuda()) assert_int_equal(qr_nn_context_device(ctx), QR_NN_DEVICE_CPU);
    qr_nn_context_free(ctx);
    if (!qr_nn_backend_cuda()) {
        o.device.kind = QR_NN_DEVICE_CUDA;
        assert_int_equal(qr_nn_context_create(&o, &ctx), QR_ERR_DEVICE);
        assert_non_null(strstr(qr_last_error(), "no CUDA backend"));
    }
}

/* ---- the forward command ---- */

static int run_cmd(const char *args, char *err, size_t errlen, int *lines) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s/bin/qsmrim %s 2> %s", QSMRIM_BINARY_DIR, args, tmp("stderr.txt"));
    int rc = system(cmd);
    rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    FILE *f = fopen(tmp("stderr.txt"), "r");
    err[0] = 0;
    *lines = 0;
    char line[2048];
    while (f && fgets(line, sizeof line, f)) {
        (*lines)++;
        if (strlen(err) + strlen(line) < errlen) strcat(err, line);
    }
    if (f) fclose(f);
    return rc;
}

static void write_inputs(const char *path, const float *x, const hsize_t *dx, const float *r, const hsize_t *dr) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (x) put_f32(f, "patches", 5, dx, x);
    if (r) put_f32(f, "radiomics", 2, dr, r);
    H5Fclose(f);
}

/* A 'patches' dataset that declares 10^9 samples in a file of a few kB (chunked, nothing written:
 * HDF5 would read fill values). */
static void write_huge_inputs(const char *path) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d[5] = {1000000000ull, 2, 16, 32, 32}, c[5] = {1, 2, 16, 32, 32};
    hid_t sp = H5Screate_simple(5, d, NULL), pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, 5, c);
    hid_t ds = H5Dcreate2(f, "patches", H5T_IEEE_F32LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    H5Dclose(ds);
    H5Pclose(pl);
    H5Sclose(sp);
    H5Fclose(f);
}

static void test_forward_command(void **st) {
    (void)st;
    const char *state = QSMRIM_SOURCE_DIR "/Testing/nn/data/parity_w2.h5";
    int64_t nx, nr, dims[5];
    int nd;
    float *x = tu_read_f32(state, "parity/patches", &nx, dims, &nd), *r = tu_read_f32(state, "parity/radiomics", &nr, NULL, NULL);
    float *ref = tu_read_f32(state, "parity/logits_eval", &nr, NULL, NULL);
    assert_non_null(x);
    const int64_t N = dims[0], F = 32;
    hsize_t dx[5], drr[2] = {(hsize_t)N, (hsize_t)F};
    for (int i = 0; i < 5; i++) dx[i] = (hsize_t)dims[i];
    float *rad = tu_read_f32(state, "parity/radiomics", &nr, NULL, NULL);
    write_inputs(tmp("x.h5"), x, dx, rad, drr);
    char err[8192], args[2048];
    int lines, rc;
    /* the PyTorch state file is itself a model file: its inference logits are the reference */
    snprintf(args, sizeof args, "forward --model %s --input %s --out %s --device cpu --threads 2", state, tmp("x.h5"), tmp("y.h5"));
    rc = run_cmd(args, err, sizeof err, &lines);
    if (rc) fprintf(stderr, "%s", err);
    assert_int_equal(rc, 0);
    int64_t ny;
    float *lg = tu_read_f32(tmp("y.h5"), "logits", &ny, NULL, NULL), *pr = tu_read_f32(tmp("y.h5"), "probability", &ny, NULL, NULL);
    assert_int_equal(ny, N);
    double e = tu_rel_err(lg, ref, N, 1e-6);
    printf("  qsmrim forward vs PyTorch logits: scale-relative error %.2e\n", e);
    assert_true(e <= 1e-4);
    for (int64_t i = 0; i < N; i++) assert_true(fabsf(pr[i] - 1.0f / (1.0f + expf(-lg[i]))) < 1e-6f);
    free(lg);
    free(pr);
    /* usage errors: exit 2 */
    assert_int_equal(run_cmd("forward --input x.h5 --out y.h5", err, sizeof err, &lines), 2);
    assert_int_equal(lines, 1);
    snprintf(args, sizeof args, "forward --model %s --input %s --out %s --device tpu", state, tmp("x.h5"), tmp("y2.h5"));
    assert_int_equal(run_cmd(args, err, sizeof err, &lines), 2);
    /* failures: exit 1 with one line naming the input */
    struct {
        const char *model, *input, *out, *needle;
    } cases[] = {
        {tmp("missing-model.h5"), tmp("x.h5"), tmp("y3.h5"), "missing-model.h5"},
        {tmp("x.h5"), tmp("x.h5"), tmp("y3.h5"), "not a qsmrim model"},
        {state, tmp("missing-input.h5"), tmp("y3.h5"), "missing-input.h5"},
        {state, tmp("wrongshape.h5"), tmp("y3.h5"), "dataset 'patches' has shape (6, 2, 16, 32, 16), the model needs (N, 2, 16, 32, 32)"},
        {state, tmp("wrongrad.h5"), tmp("y3.h5"), "wrongrad.h5: dataset 'radiomics' has shape"}, /* then its patches' count */
        {state, tmp("nopatches.h5"), tmp("y3.h5"), "has no dataset 'patches'"},
        {state, tmp("nan.h5"), tmp("y3.h5"), "patches of sample 1 hold a non-finite value"},
        {state, tmp("hugev.h5"), tmp("y3.h5"), "hugev.h5: the model's output for sample 0 is"}, /* named once */
        {state, tmp("x.h5"), tmp("no-such-dir/y.h5"), "no-such-dir"},
        {state, tmp("huge.h5"), tmp("y3.h5"), "dataset 'patches' declares 1000000000 samples (1.31e+05 GB as float32), "
                                              "more than this machine's memory"},
    };
    write_huge_inputs(tmp("huge.h5"));
    hsize_t dxs[5] = {6, 2, 16, 32, 16};
    float *xs = calloc(6 * 2 * 16 * 32 * 16, 4);
    write_inputs(tmp("wrongshape.h5"), xs, dxs, rad, drr);
    hsize_t dr2[2] = {(hsize_t)N, 31};
    write_inputs(tmp("wrongrad.h5"), x, dx, rad, dr2);
    write_inputs(tmp("nopatches.h5"), NULL, NULL, rad, drr);
    {
        const size_t nx = (size_t)N * 2 * 16 * 32 * 32;
        float *xh = malloc(nx * sizeof *xh);
        float *rh = malloc((size_t)(N * F) * sizeof *rh);
        for (size_t i = 0; i < nx; i++) xh[i] = (i & 1) ? 3e38f : -3e38f;
        for (int64_t i = 0; i < N * F; i++) rh[i] = (i & 1) ? 3e38f : -3e38f;
        write_inputs(tmp("hugev.h5"), xh, dx, rh, drr);
        free(xh);
        free(rh);
    }
    x[2 * 16 * 32 * 32 + 5] = NAN;
    write_inputs(tmp("nan.h5"), x, dx, rad, drr);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        snprintf(args, sizeof args, "forward --model %s --input %s --out %s --device cpu", cases[k].model, cases[k].input,
                 cases[k].out);
        rc = run_cmd(args, err, sizeof err, &lines);
        if (rc != 1 || lines != 1 || !strstr(err, cases[k].needle))
            fprintf(stderr, "case %zu: rc %d, %d lines: %s(want '%s')\n", k, rc, lines, err, cases[k].needle);
        assert_int_equal(rc, 1);
        assert_int_equal(lines, 1);
        assert_non_null(strstr(err, cases[k].needle));
        assert_non_null(strstr(err, "qsmrim forward: error:"));
        if (strstr(cases[k].input, "wrongrad")) assert_non_null(strstr(err, "(its patches hold"));
        const char *first = strstr(err, cases[k].input); /* the input is named once */
        if (first) assert_null(strstr(first + 1, cases[k].input));
    }
    assert_int_equal(access(tmp("y3.h5"), F_OK), -1); /* nothing written on failure */
    if (!qr_nn_backend_cuda()) {
        snprintf(args, sizeof args, "forward --model %s --input %s --out %s --device cuda", state, tmp("x.h5"), tmp("y4.h5"));
        assert_int_equal(run_cmd(args, err, sizeof err, &lines), 1);
        assert_non_null(strstr(err, "no CUDA backend"));
    }
    free(x);
    free(r);
    free(rad);
    free(ref);
    free(xs);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "%s/nn_model_test_XXXXXX", QSMRIM_BINARY_DIR);
    if (!mkdtemp(g_dir)) return 1;
    qr_rng_seed(&rng, 5, 0);
    qr_nn_context_options o = qr_nn_context_options_default();
    o.device.kind = QR_NN_DEVICE_CPU;
    o.threads = 2;
    if (qr_nn_context_create(&o, &CPU) != QR_OK) return 1;
    o.device.kind = QR_NN_DEVICE_REF;
    if (qr_nn_context_create(&o, &REF) != QR_OK) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_sealed_files),
        cmocka_unit_test(test_ensemble),         cmocka_unit_test(test_checkpoint_resume),
        cmocka_unit_test(test_thread_count_determinism), cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_devices),          cmocka_unit_test(test_forward_command),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qr_nn_context_free(CPU);
    qr_nn_context_free(REF);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (rc == 0 && system(cmd) != 0) return 1;
    return rc;
}
