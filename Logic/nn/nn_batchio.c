/*
 * nn_batchio.c - the HDF5 files of `qsmrim forward`: input batches (patches, radiomics) and
 * outputs (logits, probability). Layout in nn.h.
 */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fileutil.h"
#include "core/h5util.h"
#include "nn_internal.h"

static void shape_str(char *b, size_t n, int nd, const hsize_t *d) {
    size_t o = (size_t)snprintf(b, n, "(");
    for (int i = 0; i < nd && o < n; i++) o += (size_t)snprintf(b + o, n - o, "%s%llu", i ? ", " : "", (unsigned long long)d[i]);
    if (o < n) snprintf(b + o, n - o, ")");
}

/* Read dataset `name` as float with ndim dims; want[i] < 0 means "any" (returned in got). */
static qr_status read_array(hid_t f, const char *path, const char *name, int ndim, const int64_t *want, int64_t *got,
                            float **out) {
    *out = NULL;
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (ds < 0) return qr_fail(QR_ERR_FORMAT, "%s: dataset '%s' cannot be opened", path, name);
    hid_t sp = H5Dget_space(ds), ty = H5Dget_type(ds);
    int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t d[8] = {0};
    if (nd > 0 && nd <= 8) H5Sget_simple_extent_dims(sp, d, NULL);
    qr_status st = QR_OK;
    H5T_class_t cl = H5Tget_class(ty);
    if (cl != H5T_FLOAT && cl != H5T_INTEGER) st = qr_fail(QR_ERR_FORMAT, "%s: dataset '%s' is not numeric", path, name);
    int ok = nd == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = want[i] < 0 || (int64_t)d[i] == want[i];
    if (st == QR_OK && !ok) {
        char a[96], w[96];
        hsize_t wd[8];
        shape_str(a, sizeof a, nd < 0 ? 0 : nd > 8 ? 8 : nd, d);
        size_t o = (size_t)snprintf(w, sizeof w, "(");
        for (int i = 0; i < ndim && o < sizeof w; i++)
            o += want[i] < 0 ? (size_t)snprintf(w + o, sizeof w - o, "%sN", i ? ", " : "")
                             : (size_t)snprintf(w + o, sizeof w - o, "%s%lld", i ? ", " : "", (long long)want[i]);
        if (o < sizeof w) snprintf(w + o, sizeof w - o, ")");
        (void)wd;
        st = qr_fail(QR_ERR_GEOMETRY, "%s: dataset '%s' has shape %s, the model needs %s", path, name, a, w);
    }
    /* what the dataset declares, against the machine's memory: a header can declare far more
     * samples than the file holds (chunks never written read as fill values) */
    double bytes = sizeof(float);
    for (int i = 0; st == QR_OK && i < ndim; i++) bytes *= (double)d[i];
    const double phys = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (st == QR_OK && (bytes > 0x1p62 || (phys > 0 && bytes > phys)))
        st = qr_fail(QR_ERR_NOMEM, "%s: dataset '%s' declares %llu samples (%.3g GB as float32), more than this "
                     "machine's memory (%.3g GB); split it into smaller files", path, name, (unsigned long long)d[0],
                     bytes / 1e9, phys / 1e9);
    if (st == QR_OK) {
        int64_t n = 1;
        for (int i = 0; i < ndim; i++) {
            got[i] = (int64_t)d[i];
            n *= (int64_t)d[i];
        }
        *out = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
        if (!*out) st = qr_fail(QR_ERR_NOMEM, "%s: out of memory reading '%s' (%.3g GB)", path, name, bytes / 1e9);
        else if (n > 0 && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) < 0)
            st = qr_fail(QR_ERR_FORMAT, "%s: dataset '%s' cannot be read as numbers", path, name);
        if (st != QR_OK) {
            free(*out);
            *out = NULL;
        }
    }
    H5Tclose(ty);
    H5Sclose(sp);
    H5Dclose(ds);
    return st;
}

qr_status qr_nn_batch_file_read(const char *path, const qr_nn_config *cfg, qr_nn_batch_file *out) {
    memset(out, 0, sizeof *out);
    QR_TRY(qr_input_file_check(path));
    FILE *fp = fopen(path, "rb");
    if (!fp) return qr_fail(QR_ERR_IO, "cannot open %s", path);
    fclose(fp);
    const qr_h5_quiet q = qr_h5_quiet_begin(1);
    qr_status st = QR_OK;
    hid_t f = -1;
    if (H5Fis_hdf5(path) <= 0) st = qr_fail(QR_ERR_FORMAT, "%s is not an HDF5 file", path);
    else if ((f = qr_h5_open_readonly(path)) < 0) st = qr_fail(QR_ERR_FORMAT, "%s cannot be opened as HDF5", path);
    int64_t n = -1;
    const int need_p = cfg->arch != QR_NN_ARCH_APRL_NN, need_r = cfg->arch != QR_NN_ARCH_RIMNET;
    if (st == QR_OK && need_p) {
        if (H5Lexists(f, "patches", H5P_DEFAULT) <= 0)
            st = qr_fail(QR_ERR_FORMAT, "%s has no dataset 'patches' (N, %d, %d, %d, %d) that the %s model needs", path,
                         cfg->in_channels, cfg->patch[0], cfg->patch[1], cfg->patch[2], qr_nn_arch_name(cfg->arch));
        else {
            int64_t want[5] = {-1, cfg->in_channels, cfg->patch[0], cfg->patch[1], cfg->patch[2]}, got[5];
            st = read_array(f, path, "patches", 5, want, got, &out->patches);
            n = got[0];
        }
    }
    if (st == QR_OK && need_r) {
        if (H5Lexists(f, "radiomics", H5P_DEFAULT) <= 0)
            st = qr_fail(QR_ERR_FORMAT, "%s has no dataset 'radiomics' (N, %d) that the %s model needs", path,
                         cfg->n_radiomic, qr_nn_arch_name(cfg->arch));
        else {
            int64_t want[2] = {n, cfg->n_radiomic}, got[2];
            st = read_array(f, path, "radiomics", 2, want, got, &out->radiomics);
            if (st == QR_ERR_GEOMETRY && n >= 0) {
                char msg[1024];
                snprintf(msg, sizeof msg, "%s", qr_last_error());
                st = qr_fail(st, "%s (its patches hold %lld samples)", msg, (long long)n);
            }
            n = got[0];
        }
    }
    if (st == QR_OK && H5Lexists(f, "labels", H5P_DEFAULT) > 0) {
        int64_t want[1] = {n}, got[1];
        st = read_array(f, path, "labels", 1, want, got, &out->labels);
    }
    if (f >= 0) H5Fclose(f);
    qr_h5_quiet_end(q);
    if (st != QR_OK) {
        qr_nn_batch_file_free(out);
        return st;
    }
    out->batch.n = n < 0 ? 0 : n;
    out->batch.patches = out->patches;
    out->batch.radiomics = out->radiomics;
    out->batch.labels = out->labels;
    return QR_OK;
}

void qr_nn_batch_file_free(qr_nn_batch_file *b) {
    if (!b) return;
    free(b->patches);
    free(b->radiomics);
    free(b->labels);
    memset(b, 0, sizeof *b);
}

static int write_f32(hid_t f, const char *name, int nd, const hsize_t *d, const float *v) {
    hid_t sp = H5Screate_simple(nd, d, NULL);
    hid_t ds = qr_h5_dataset_create(f, name, H5T_NATIVE_FLOAT, sp, H5P_DEFAULT);
    int ok = ds >= 0 && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    return ok;
}

qr_status qr_nn_outputs_write(const char *path, const float *logits, int members, int64_t n) {
    float *lg = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1)), *pr = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    if (!lg || !pr) {
        free(lg);
        free(pr);
        return qr_fail(QR_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
        if (members == 1) {
            lg[i] = logits[i];
            pr[i] = qr_nn_sigmoid(logits[i]);
        } else {
            float p = qr_nn_ensemble_probability(logits, members, n, i);
            pr[i] = p;
            lg[i] = p <= 0 ? -INFINITY : p >= 1 ? INFINITY : logf(p / (1.0f - p));
        }
    }
    char tmp[QR_PATH_MAX];
    qr_status st = qr_temp_sibling(path, 1, tmp, sizeof tmp);
    if (st == QR_OK) {
        const qr_h5_quiet q = qr_h5_quiet_begin(0);
        hid_t f = qr_h5_create(tmp);
        hsize_t d1[1] = {(hsize_t)n}, d2[2] = {(hsize_t)members, (hsize_t)n};
        int ok = f >= 0 && write_f32(f, "logits", 1, d1, lg) && write_f32(f, "probability", 1, d1, pr) &&
                 (members == 1 || write_f32(f, "member_logits", 2, d2, logits));
        if (f >= 0 && H5Fclose(f) < 0) ok = 0;
        qr_h5_quiet_end(q);
        if (!ok) {
            remove(tmp);
            st = qr_fail(QR_ERR_IO, "cannot write %s", path);
        } else
            st = qr_commit_rename(tmp, path);
    }
    free(lg);
    free(pr);
    return st;
}
