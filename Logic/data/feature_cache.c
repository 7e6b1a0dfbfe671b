/* feature_cache.c - SHA-256 keyed HDF5 cache of lesion features (layout in feature_cache.h). */
#define _GNU_SOURCE
#include "feature_cache.h"

#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/fileutil.h"
#include "../core/h5util.h"
#include "../io/filecheck.h"

#ifndef QSMRIM_VERSION
#define QSMRIM_VERSION "0"
#endif

static void to_hex(const unsigned char *d, unsigned n, char *hex) {
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[2 * n] = '\0';
}

void qr_sha256_hex(const void *data, size_t n, char hex[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
    to_hex(md, len, hex);
}

static qr_status sha256_file(const char *path, char hex[65]) {
    FILE *f = fopen(path, "rb");
    if (!f) return qr_fail(QR_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        fclose(f);
        EVP_MD_CTX_free(ctx);
        return qr_fail(QR_ERR_INTERNAL, "SHA-256 unavailable");
    }
    static _Thread_local unsigned char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) EVP_DigestUpdate(ctx, buf, got);
    int err = ferror(f);
    fclose(f);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    if (err) return qr_fail(QR_ERR_IO, "%s: read error", path);
    to_hex(md, len, hex);
    return QR_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

qr_status qr_sha256_path(const char *path, char hex[65]) {
    if (!qr_path_is_dir(path)) return sha256_file(path, hex);
    DIR *d = opendir(path);
    if (!d) return qr_fail(QR_ERR_IO, "%s: cannot open folder (%s)", path, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    qr_status st = QR_OK;
    while ((e = readdir(d))) {
        char full[QR_PATH_MAX];
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        if (e->d_name[0] == '.' || !qr_path_is_file(full)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                st = qr_fail(QR_ERR_NOMEM, "out of memory listing %s", path);
                break;
            }
            names = nn;
        }
        names[n] = strdup(e->d_name);
        if (!names[n]) {
            st = qr_fail(QR_ERR_NOMEM, "out of memory listing %s", path);
            break;
        }
        n++;
    }
    closedir(d);
    if (st == QR_OK && n > 1) qsort(names, n, sizeof *names, cmp_str); /* (names is NULL when empty) */
    /* hash of "name\nsha\n" lines */
    size_t tlen = n * (QR_PATH_MAX + 70) + 1;
    char *text = st == QR_OK ? malloc(tlen) : NULL;
    if (st == QR_OK && !text) st = qr_fail(QR_ERR_NOMEM, "out of memory hashing %s", path);
    size_t used = 0;
    for (size_t i = 0; st == QR_OK && i < n; i++) {
        char full[QR_PATH_MAX], h[65];
        snprintf(full, sizeof full, "%s/%s", path, names[i]);
        st = sha256_file(full, h);
        if (st == QR_OK) used += (size_t)snprintf(text + used, tlen - used, "%s\n%s\n", names[i], h);
    }
    if (st == QR_OK) qr_sha256_hex(text, used, hex);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(text);
    return st;
}

/* An image input's hash: that of its file or folder, or for an image in two files (a detached
 * header's voxel data file: NRRD "data file:", MetaImage "ElementDataFile ="; the other file of a
 * NIfTI pair) the hash of the two files' hashes, so that new voxels under an unchanged header are
 * a new image. */
qr_status qr_sha256_image(const char *path, char hex[65]) {
    QR_TRY(qr_sha256_path(path, hex));
    if (qr_path_is_dir(path)) return QR_OK;
    char data[QR_PATH_MAX];
    QR_TRY(qr_image_data_file(path, data, sizeof data));
    if (!data[0]) return QR_OK;
    char hd[65], text[2 * 65 + 1];
    QR_TRY(sha256_file(data, hd));
    const int n = snprintf(text, sizeof text, "%s\n%s\n", hex, hd);
    qr_sha256_hex(text, (size_t)n, hex);
    return QR_OK;
}

uint64_t qr_sha256_prefix64(const char hex[65]) {
    char first[17];
    memcpy(first, hex, 16);
    first[16] = '\0';
    return strtoull(first, NULL, 16);
}

qr_status qr_feature_cache_key(const char *qsm_path, const char *lesions_path, const char *params_text, char key[65],
                               char qsm_sha[65], char lesions_sha[65]) {
    char hq[65], hl[65];
    QR_TRY(qr_sha256_image(qsm_path, hq));
    QR_TRY(qr_sha256_image(lesions_path, hl));
    size_t plen = params_text ? strlen(params_text) : 0;
    size_t tlen = plen + 256;
    char *text = malloc(tlen);
    if (!text) return qr_fail(QR_ERR_NOMEM, "out of memory for a cache key");
    /* how the features are computed from the files, beyond the parameters: the revision names it
     * (2: volumes in the training storage order, lesion maps read as label maps), so features
     * computed otherwise are not reused */
    int n = snprintf(text, tlen, "qsmrim-feature-cache %s rev 2\n%s\n%s\n%s", QSMRIM_VERSION, hq, hl,
                     params_text ? params_text : "");
    qr_sha256_hex(text, (size_t)n, key);
    free(text);
    if (qsm_sha) memcpy(qsm_sha, hq, 65);
    if (lesions_sha) memcpy(lesions_sha, hl, 65);
    return QR_OK;
}

void qr_feature_table_free(qr_feature_table *t) {
    if (!t) return;
    free(t->lesion_id);
    free(t->values);
    memset(t, 0, sizeof *t);
}

static void cache_path(const char *dir, const char *key, char *out, size_t n) { snprintf(out, n, "%s/%s.h5", dir, key); }

/* ---- reading: any failure is a miss ---- */

static int read_names_match(hid_t file, const char *const *names, int64_t F) {
    hid_t ds = H5Dopen2(file, "feature_names", H5P_DEFAULT);
    if (ds < 0) return 0;
    int ok = 0;
    hid_t sp = H5Dget_space(ds), ty = H5Dget_type(ds);
    hsize_t dims[1];
    if (sp >= 0 && ty >= 0 && H5Sget_simple_extent_ndims(sp) == 1 && H5Tget_class(ty) == H5T_STRING &&
        !H5Tis_variable_str(ty)) {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        size_t len = H5Tget_size(ty);
        if ((int64_t)dims[0] == F && len > 0) {
            char *buf = malloc((size_t)F * len);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, len);
            H5Tset_strpad(mt, H5T_STR_NULLTERM);
            if (buf && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0) {
                ok = 1;
                for (int64_t f = 0; f < F && ok; f++) {
                    const char *s = buf + f * len;
                    ok = strnlen(s, len) == strlen(names[f]) && strncmp(s, names[f], len) == 0;
                }
            }
            H5Tclose(mt);
            free(buf);
        }
    }
    if (ty >= 0) H5Tclose(ty);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(ds);
    return ok;
}

qr_status qr_feature_cache_load(const char *dir, const char *key, const char *const *names, int64_t nfeatures,
                                qr_feature_table *out, int *found) {
    memset(out, 0, sizeof *out);
    *found = 0;
    if (!dir || !key || nfeatures < 1) return qr_fail(QR_ERR_INVALID_ARG, "feature cache: bad arguments");
    char path[QR_PATH_MAX];
    cache_path(dir, key, path, sizeof path);
    if (!qr_path_is_file(path)) return QR_OK;
    if (qr_h5_check_seal(path, NULL) != QR_OK) { /* damaged: computed again and rewritten */
        qr_log(QR_LOG_NOTICE, "feature cache: %s", qr_last_error());
        qr_clear_error();
        return QR_OK;
    }
    hid_t file = -1, ds = -1, ids = -1, sp = -1;
    H5E_BEGIN_TRY {
        file = qr_h5_open_readonly(path);
        if (file >= 0 && read_names_match(file, names, nfeatures)) {
            ds = H5Dopen2(file, "features", H5P_DEFAULT);
            ids = H5Dopen2(file, "lesion_id", H5P_DEFAULT);
            if (ds >= 0 && ids >= 0) sp = H5Dget_space(ds);
            hsize_t dims[2] = {0, 0};
            if (sp >= 0 && H5Sget_simple_extent_ndims(sp) == 2) {
                H5Sget_simple_extent_dims(sp, dims, NULL);
                hid_t isp = H5Dget_space(ids);
                hsize_t idims[1] = {0};
                if (isp >= 0 && H5Sget_simple_extent_ndims(isp) == 1) H5Sget_simple_extent_dims(isp, idims, NULL);
                if (isp >= 0) H5Sclose(isp);
                if ((int64_t)dims[1] == nfeatures && idims[0] == dims[0]) {
                    out->n = (int64_t)dims[0];
                    out->nfeatures = nfeatures;
                    out->values = malloc((size_t)(out->n > 0 ? out->n : 1) * (size_t)nfeatures * sizeof(double));
                    out->lesion_id = malloc((size_t)(out->n > 0 ? out->n : 1) * sizeof(int32_t));
                    if (out->values && out->lesion_id &&
                        (out->n == 0 || (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->values) >= 0 &&
                                         H5Dread(ids, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->lesion_id) >= 0)))
                        *found = 1;
                }
            }
        }
        if (sp >= 0) H5Sclose(sp);
        if (ids >= 0) H5Dclose(ids);
        if (ds >= 0) H5Dclose(ds);
        if (file >= 0) H5Fclose(file);
    }
    H5E_END_TRY;
    if (!*found) {
        qr_feature_table_free(out);
        qr_clear_error(); /* a miss is computed again: no out-of-memory note left for a later error */
    }
    return QR_OK;
}

/* ---- writing ---- */

static herr_t write_str_attr(hid_t obj, const char *name, const char *value) {
    hid_t ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, strlen(value) + 1);
    H5Tset_strpad(ty, H5T_STR_NULLTERM);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t at = H5Acreate2(obj, name, ty, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = at >= 0 ? H5Awrite(at, ty, value) : -1;
    if (at >= 0) H5Aclose(at);
    H5Sclose(sp);
    H5Tclose(ty);
    return e;
}

qr_status qr_feature_cache_store(const char *dir, const char *key, const char *const *names, const qr_feature_table *t,
                                 const char *qsm_sha, const char *lesions_sha) {
    QR_TRY(qr_mkdir_p(dir));
    char path[QR_PATH_MAX], tmp[QR_PATH_MAX];
    cache_path(dir, key, path, sizeof path);
    QR_TRY(qr_temp_sibling(path, 1, tmp, sizeof tmp));
    size_t len = 1;
    for (int64_t f = 0; f < t->nfeatures; f++)
        if (strlen(names[f]) + 1 > len) len = strlen(names[f]) + 1;
    char *nb = calloc((size_t)(t->nfeatures > 0 ? t->nfeatures : 1), len);
    if (!nb) return qr_fail(QR_ERR_NOMEM, "out of memory writing %s", path);
    for (int64_t f = 0; f < t->nfeatures; f++) memcpy(nb + f * len, names[f], strlen(names[f]));
    herr_t e = 0;
    H5E_BEGIN_TRY {
        hid_t file = qr_h5_create_sealable(tmp);
        if (file < 0) e = -1;
        if (e >= 0) {
            hsize_t d2[2] = {(hsize_t)t->n, (hsize_t)t->nfeatures}, d1[1] = {(hsize_t)t->n}, dn[1] = {(hsize_t)t->nfeatures};
            hid_t sp = H5Screate_simple(2, d2, NULL);
            hid_t ds = qr_h5_dataset_create(file, "features", H5T_IEEE_F64LE, sp, H5P_DEFAULT);
            if (ds < 0 || (t->n > 0 && H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->values) < 0)) e = -1;
            if (ds >= 0) H5Dclose(ds);
            H5Sclose(sp);
            sp = H5Screate_simple(1, d1, NULL);
            ds = qr_h5_dataset_create(file, "lesion_id", H5T_STD_I32LE, sp, H5P_DEFAULT);
            if (ds < 0 || (t->n > 0 && H5Dwrite(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->lesion_id) < 0)) e = -1;
            if (ds >= 0) H5Dclose(ds);
            H5Sclose(sp);
            hid_t st = H5Tcopy(H5T_C_S1);
            H5Tset_size(st, len);
            H5Tset_strpad(st, H5T_STR_NULLTERM);
            sp = H5Screate_simple(1, dn, NULL);
            ds = qr_h5_dataset_create(file, "feature_names", st, sp, H5P_DEFAULT);
            if (ds < 0 || H5Dwrite(ds, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, nb) < 0) e = -1;
            if (ds >= 0) H5Dclose(ds);
            H5Sclose(sp);
            H5Tclose(st);
            if (write_str_attr(file, "key", key) < 0 || write_str_attr(file, "qsm_sha256", qsm_sha ? qsm_sha : "") < 0 ||
                write_str_attr(file, "lesions_sha256", lesions_sha ? lesions_sha : "") < 0 ||
                write_str_attr(file, "qsmrim_version", QSMRIM_VERSION) < 0)
                e = -1;
            if (H5Fclose(file) < 0) e = -1;
        }
    }
    H5E_END_TRY;
    free(nb);
    QR_TRY(qr_h5_seal_written(tmp, e >= 0 ? 1 : 0, path, "feature cache file"));
    return qr_commit_rename(tmp, path);
}
