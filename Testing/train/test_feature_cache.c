#define _GNU_SOURCE
/*
 * test_feature_cache.c - SHA-256 keys and the HDF5 feature cache.
 *   - SHA-256 of "abc" (FIPS 180-2 test vector) and of a file against Python's hashlib;
 *   - the key changes with the QSM bytes, the lesion bytes and the parameter text;
 *   - a detached header's key changes with its voxel data file (NRRD .nhdr, MetaImage .mhd, the
 *     .img of a NIfTI pair and the .hdr of an .img), a DICOM folder's with any file of the series;
 *   - store then load gives the same table; h5py reads the file (names, shape, values);
 *   - other feature names, a truncated file or an absent file are misses, never errors.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/h5util.h"
#include "data/feature_cache.h"
#include "h5_times.h"

static char g_dir[512];

static void write_file(const char *name, const char *content) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/tests/feature_cache_%d", QSMRIM_BINARY_DIR, (int)getpid());
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s/cache", g_dir, g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_sha256(void **state) {
    (void)state;
    char hex[65];
    qr_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    write_file("q.bin", "some qsm bytes\n");
    char p[1024], cmd[2048];
    snprintf(p, sizeof p, "%s/q.bin", g_dir);
    assert_int_equal(qr_sha256_path(p, hex), QR_OK);
    snprintf(cmd, sizeof cmd, "%s -c \"import hashlib,sys; sys.exit(hashlib.sha256(open('%s','rb').read()).hexdigest() != '%s')\"",
             QSMRIM_PYTHON, p, hex);
    assert_int_equal(system(cmd), 0);
    snprintf(p, sizeof p, "%s/absent.bin", g_dir);
    assert_int_equal(qr_sha256_path(p, hex), QR_ERR_IO);
    /* a folder (a DICOM series): the hash of its "name\nsha256\n" lines in name order; an empty
     * one hashes no lines (its list of names is empty: nothing to sort, under UBSan too) */
    snprintf(p, sizeof p, "%s/empty", g_dir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(qr_sha256_path(p, hex), QR_OK);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"); /* SHA-256 of "" */
    write_file("empty/b.dcm", "bbb");
    write_file("empty/a.dcm", "aaa");
    assert_int_equal(qr_sha256_path(p, hex), QR_OK);
    snprintf(cmd, sizeof cmd,
             "%s -c \"import hashlib,sys; h=lambda b: hashlib.sha256(b).hexdigest(); "
             "sys.exit(h(('a.dcm\\n%%s\\nb.dcm\\n%%s\\n' %% (h(b'aaa'), h(b'bbb'))).encode()) != '%s')\"",
             QSMRIM_PYTHON, hex);
    assert_int_equal(system(cmd), 0);
}

static void test_keys(void **state) {
    (void)state;
    char q[1024], l[1024], k1[65], k2[65], k3[65], k4[65], hq[65], hl[65];
    write_file("qsm.nii", "QSM v1");
    write_file("les.nii", "LESIONS v1");
    snprintf(q, sizeof q, "%s/qsm.nii", g_dir);
    snprintf(l, sizeof l, "%s/les.nii", g_dir);
    assert_int_equal(qr_feature_cache_key(q, l, "binWidth: 25", k1, hq, hl), QR_OK);
    assert_int_equal(qr_feature_cache_key(q, l, "binWidth: 25", k2, NULL, NULL), QR_OK);
    assert_string_equal(k1, k2);
    assert_int_equal(qr_feature_cache_key(q, l, "binWidth: 5", k3, NULL, NULL), QR_OK);
    assert_string_not_equal(k1, k3);
    write_file("qsm.nii", "QSM v2");
    assert_int_equal(qr_feature_cache_key(q, l, "binWidth: 25", k4, NULL, NULL), QR_OK);
    assert_string_not_equal(k1, k4);
    write_file("les.nii", "LESIONS v2");
    assert_int_equal(qr_feature_cache_key(q, l, "binWidth: 25", k3, NULL, NULL), QR_OK);
    assert_string_not_equal(k3, k4);
    assert_int_equal(strlen(hq), 64);
}

/* The key of an image whose header stays as it is while `data` (a file of its) is rewritten. */
static void key_follows(const char *image, const char *data) {
    char q[1024], l[1024], k1[65], k2[65], k3[65], hq1[65], hq2[65];
    snprintf(q, sizeof q, "%s/%s", g_dir, image);
    snprintf(l, sizeof l, "%s/les.nii", g_dir);
    write_file(data, "voxels v1");
    assert_int_equal(qr_feature_cache_key(q, l, "binWidth: 25", k1, hq1, NULL), QR_OK);
    assert_int_equal(qr_feature_cache_key(q, l, "binWidth: 25", k2, NULL, NULL), QR_OK);
    assert_string_equal(k1, k2);
    write_file(data, "voxels v2");
    assert_int_equal(qr_feature_cache_key(q, l, "binWidth: 25", k3, hq2, NULL), QR_OK);
    assert_string_not_equal(k1, k3);
    assert_string_not_equal(hq1, hq2);
    /* the same for a lesion map */
    assert_int_equal(qr_feature_cache_key(l, q, "binWidth: 25", k1, NULL, NULL), QR_OK);
    write_file(data, "voxels v3");
    assert_int_equal(qr_feature_cache_key(l, q, "binWidth: 25", k2, NULL, NULL), QR_OK);
    assert_string_not_equal(k1, k2);
}

static void test_detached_keys(void **state) {
    (void)state;
    write_file("les.nii", "LESIONS v1");
    write_file("x.nhdr", "NRRD0004\ntype: float\ndimension: 3\nsizes: 2 2 1\nencoding: raw\nendian: little\n"
                         "data file: x.raw\n\n");
    key_follows("x.nhdr", "x.raw");
    write_file("y.mhd", "ObjectType = Image\nNDims = 3\nDimSize = 2 2 1\nElementType = MET_FLOAT\n"
                        "ElementDataFile = y-voxels.raw\n");
    key_follows("y.mhd", "y-voxels.raw");
    /* NIfTI pairs: either file given, the other one counts; gzipped, or in capitals, as ITK finds them */
    write_file("p.hdr", "NIfTI pair header");
    key_follows("p.hdr", "p.img");
    key_follows("p.img", "p.hdr");
    write_file("g.hdr.gz", "gzipped pair header");
    key_follows("g.hdr.gz", "g.img.gz");
    write_file("U.HDR", "pair header in capitals");
    key_follows("U.HDR", "U.IMG");
    /* a data file that is gone: an error naming it, not a key */
    char q[1024], l[1024], k[65];
    snprintf(q, sizeof q, "%s/y.mhd", g_dir);
    snprintf(l, sizeof l, "%s/les.nii", g_dir);
    char p[1100];
    snprintf(p, sizeof p, "%s/y-voxels.raw", g_dir);
    assert_int_equal(remove(p), 0);
    assert_int_equal(qr_feature_cache_key(q, l, "binWidth: 25", k, NULL, NULL), QR_ERR_IO);
    assert_non_null(strstr(qr_last_error(), "y-voxels.raw"));
    /* a DICOM folder: every file of the series */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/dcm", g_dir);
    assert_int_equal(system(cmd), 0);
    write_file("dcm/IM0001", "slice 1");
    key_follows("dcm", "dcm/IM0002");
}

static void test_store_load(void **state) {
    (void)state;
    const char *names[3] = {"original_shape_MeshVolume", "original_firstorder_Mean", "wavelet-HLL_glcm_Contrast"};
    qr_feature_table t = {4, 3, NULL, NULL};
    int32_t ids[4] = {1, 2, 5, 9};
    double vals[12] = {1.5, -2, 3e10, 0.1, NAN, 7, 1e-300, 2, 3, 4, 5, 6};
    t.lesion_id = ids;
    t.values = vals;
    char cache[1024];
    snprintf(cache, sizeof cache, "%s/cache/sub", g_dir); /* created on store */
    const char *key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    qr_feature_table got;
    int found = 1;
    assert_int_equal(qr_feature_cache_load(cache, key, names, 3, &got, &found), QR_OK);
    assert_int_equal(found, 0);
    assert_int_equal(qr_feature_cache_store(cache, key, names, &t, "aa", "bb"), QR_OK);
    assert_int_equal(qr_feature_cache_load(cache, key, names, 3, &got, &found), QR_OK);
    assert_int_equal(found, 1);
    assert_int_equal(got.n, 4);
    {
        char file[1200];
        snprintf(file, sizeof file, "%s/%s.h5", cache, key);
        assert_int_equal(h5_timed_objects(file), 0);
    }
    assert_memory_equal(got.lesion_id, ids, sizeof ids);
    for (int i = 0; i < 12; i++) assert_true(got.values[i] == vals[i] || (isnan(vals[i]) && isnan(got.values[i])));
    qr_feature_table_free(&got);

    /* h5py reads it */
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s -c \"import h5py,sys,numpy as np; f=h5py.File('%s/%s.h5','r'); "
             "n=[s.decode() for s in f['feature_names'][()]]; v=f['features'][()]; "
             "sys.exit(not (n[2]=='wavelet-HLL_glcm_Contrast' and v.shape==(4,3) and v[0,2]==3e10 and "
             "np.isnan(v[1,1]) and list(f['lesion_id'][()])==[1,2,5,9] and f.attrs['qsm_sha256']==b'aa'))\"",
             QSMRIM_PYTHON, cache, key);
    char probe[512];
    snprintf(probe, sizeof probe, "%s -c 'import h5py' 2>/dev/null", QSMRIM_PYTHON);
    if (system(probe) == 0) assert_int_equal(system(cmd), 0); /* without h5py this check is skipped */

    /* other names: a miss */
    const char *other[3] = {"original_shape_MeshVolume", "original_firstorder_Mean", "wavelet-HLL_glcm_Idm"};
    assert_int_equal(qr_feature_cache_load(cache, key, other, 3, &got, &found), QR_OK);
    assert_int_equal(found, 0);
    assert_int_equal(qr_feature_cache_load(cache, key, names, 2, &got, &found), QR_OK);
    assert_int_equal(found, 0);
    /* a truncated file: a miss */
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.h5", cache, key);
    assert_int_equal(truncate(path, 100), 0);
    assert_int_equal(qr_feature_cache_load(cache, key, names, 3, &got, &found), QR_OK);
    assert_int_equal(found, 0);
    /* overwritten by a new store */
    assert_int_equal(qr_feature_cache_store(cache, key, names, &t, "aa", "bb"), QR_OK);
    assert_int_equal(qr_feature_cache_load(cache, key, names, 3, &got, &found), QR_OK);
    assert_int_equal(found, 1);
    qr_feature_table_free(&got);
    /* sealed (core/h5util.h): one byte changed inside a value is a miss, not a wrong value */
    int sealed = 0;
    assert_int_equal(qr_h5_check_seal(path, &sealed), QR_OK);
    assert_int_equal(sealed, 1);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    unsigned char *buf = malloc((size_t)n);
    fseek(f, 0, SEEK_SET);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    const double v3e10 = 3e10;
    long at = -1;
    for (long i = 512; i + 8 <= n && at < 0; i++)
        if (!memcmp(buf + i, &v3e10, 8)) at = i;
    assert_true(at > 0); /* the stored value 3e10 */
    buf[at + 7] ^= 0x01;
    fseek(f, 0, SEEK_SET);
    assert_int_equal(fwrite(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    free(buf);
    assert_int_equal(qr_feature_cache_load(cache, key, names, 3, &got, &found), QR_OK);
    assert_int_equal(found, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_detached_keys),
        cmocka_unit_test(test_store_load),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
