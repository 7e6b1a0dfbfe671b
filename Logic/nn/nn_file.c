/*
 * nn_file.c - model files and training checkpoints (HDF5).
 *
 * Model file layout (format "qsmrim-model", version 1):
 *   /                       attributes
 *       format = "qsmrim-model", format_version = 1, qsmrim_version
 *       arch ("qsmrimnet" | "rimnet" | "aprl-nn"), fusion ("add" | "concat"), width, layer4_stride,
 *       image_fusion ("channels" | "branches"; absent in older files: channels),
 *       in_channels, n_radiomic, patch_size (int[3]: D, H, W), rimnet_pool_stride,
 *       dropout_radiomic, dropout_classifier
 *       channel_names ("QSM,FLAIR": channel order of the patches)
 *       threshold_f1, threshold_sensitive (double, NaN = not set)
 *       training_data, commit, date, smote, notes (strings), seed (int64)
 *       voxel_size_mm (double[3]: the training subjects' QSM voxel size along L, P, S;
 *       absent when not recorded)
 *       n_members, ensemble ("mean of member probabilities")
 *   /radiomic_feature_names  (F) strings, the radiomic input order (optional)
 *   /training_qsm_sha256     (S) uint64: the training subjects, each by the first 64 bits of the
 *                            SHA-256 of its QSM image (optional; qr_model_training_subjects)
 *   /member_000, /member_001, ...   one group per ensemble member, attributes fold, seed
 *       <state-dict key>              float32 with PyTorch's shape, e.g.
 *                                     member_000/encoder.layer1.0.conv1.weight (64, 64, 3, 3, 3);
 *                                     num_batches_tracked: int64 scalar
 *       preprocess.intensity_shift    (C) float32   patch' = (patch - shift) * scale
 *       preprocess.intensity_scale    (C)
 *       preprocess.radiomic_mean      (F)           radiomic' = (radiomic - mean) / sd
 *       preprocess.radiomic_sd        (F)
 * A checkpoint is a model file with one member plus
 *   /optimizer/exp_avg/<key>, /optimizer/exp_avg_sq/<key>   Adam moments (float32, PyTorch shape)
 *   /optimizer  attributes step, epoch, lr (current), and the training options
 *   /trainer/rng  uint64[6]: xoshiro state s[4], has_spare, spare (IEEE bits)
 *   /extra/<name> the caller's int64 / float64 arrays; its text fields are string attributes of /extra
 * Loading checks every tensor's presence and shape and rejects tensors the architecture lacks.
 */
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileutil.h"
#include "core/h5util.h"
#include "nn_internal.h"

#define FORMAT_NAME "qsmrim-model"
#define FORMAT_VERSION 1

#ifndef QSMRIM_VERSION
#define QSMRIM_VERSION "unknown"
#endif

/* ---- writing ---- */

static int attr_write(hid_t loc, const char *name, hid_t type, int n, const void *v) {
    hsize_t d = (hsize_t)n;
    hid_t sp = n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &d, NULL);
    hid_t a = H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, type, v) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return ok;
}
static int attr_str(hid_t loc, const char *name, const char *v) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    int ok = attr_write(loc, name, t, 0, v);
    H5Tclose(t);
    return ok;
}
static int attr_int(hid_t loc, const char *name, int64_t v) { return attr_write(loc, name, H5T_NATIVE_INT64, 0, &v); }
static int attr_dbl(hid_t loc, const char *name, double v) { return attr_write(loc, name, H5T_NATIVE_DOUBLE, 0, &v); }

static int dset_write(hid_t loc, const char *name, hid_t type, int ndim, const int64_t *dims, const void *data) {
    hsize_t d[5];
    for (int i = 0; i < ndim; i++) d[i] = (hsize_t)dims[i];
    hid_t sp = ndim == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(ndim, d, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t ds = qr_h5_dataset_create(loc, name, type, sp, lcpl);
    int ok = ds >= 0 && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
    if (ds >= 0) H5Dclose(ds);
    H5Pclose(lcpl);
    H5Sclose(sp);
    return ok;
}

static int write_config(hid_t f, const qr_nn_model *m) {
    const qr_nn_config *c = &m->spec.cfg;
    const qr_nn_model_meta *mt = &m->meta;
    int64_t patch[3] = {c->patch[0], c->patch[1], c->patch[2]};
    int ok = attr_str(f, "format", FORMAT_NAME) && attr_int(f, "format_version", FORMAT_VERSION) &&
             attr_str(f, "qsmrim_version", QSMRIM_VERSION) && attr_str(f, "arch", qr_nn_arch_name(c->arch)) &&
             attr_str(f, "fusion", qr_nn_fusion_name(c->fusion)) &&
             attr_str(f, "image_fusion", qr_nn_image_fusion_name(c->image_fusion)) && attr_int(f, "width", c->width) &&
             attr_int(f, "layer4_stride", c->layer4_stride) && attr_int(f, "in_channels", c->in_channels) &&
             attr_int(f, "n_radiomic", c->n_radiomic) && attr_write(f, "patch_size", H5T_NATIVE_INT64, 3, patch) &&
             attr_int(f, "rimnet_pool_stride", c->rimnet_pool_stride) &&
             attr_dbl(f, "dropout_radiomic", c->dropout_radiomic) &&
             attr_dbl(f, "dropout_classifier", c->dropout_classifier) &&
             attr_str(f, "channel_names", mt->channel_names) && attr_dbl(f, "threshold_f1", mt->threshold_f1) &&
             attr_dbl(f, "threshold_sensitive", mt->threshold_sensitive) &&
             attr_str(f, "training_data", mt->training_data) && attr_str(f, "commit", mt->commit) &&
             attr_str(f, "date", mt->date) && attr_str(f, "smote", mt->smote) && attr_str(f, "notes", mt->notes) &&
             attr_int(f, "seed", mt->seed) && attr_str(f, "ensemble", "mean of member probabilities") &&
             (!(mt->voxel_mm[0] > 0) || qr_h5_attr_write_doubles(f, "voxel_size_mm", mt->voxel_mm, 3) == 0) &&
             (mt->n_training_qsm < 1 || qr_h5_write_u64s(f, "training_qsm_sha256", mt->training_qsm, mt->n_training_qsm) == 0);
    if (ok && m->rad_names) {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        int64_t d = c->n_radiomic;
        ok = dset_write(f, "radiomic_feature_names", t, 1, &d, m->rad_names);
        H5Tclose(t);
    }
    return ok;
}

/* One member (index k) into group name; which = the member of m. */
static int write_member(hid_t f, const char *group, const qr_nn_model *m, int which, float *buf) {
    const qr_nn_spec *s = &m->spec;
    const qr_nn_member *mb = &m->members[which];
    hid_t g = qr_h5_group_create(f, group);
    if (g < 0) return 0;
    int ok = attr_int(g, "fold", mb->fold) && attr_int(g, "seed", mb->seed);
    for (int i = 0; ok && i < s->nt; i++) {
        const qr_nn_tensor *t = &s->t[i];
        if (t->kind == QR_NN_TENSOR_COUNT_I64) {
            ok = dset_write(g, t->name, H5T_NATIVE_INT64, 0, t->dims, &mb->counts[t->offset]);
            continue;
        }
        qr_nn_member_get(m->ctx, s, mb, i, buf);
        ok = dset_write(g, t->name, H5T_NATIVE_FLOAT, t->ndim, t->dims, buf);
    }
    const int64_t C = s->cfg.in_channels, F = s->cfg.n_radiomic;
    if (ok && C > 0)
        ok = dset_write(g, "preprocess.intensity_shift", H5T_NATIVE_FLOAT, 1, &C, mb->shift) &&
             dset_write(g, "preprocess.intensity_scale", H5T_NATIVE_FLOAT, 1, &C, mb->scale);
    if (ok && F > 0)
        ok = dset_write(g, "preprocess.radiomic_mean", H5T_NATIVE_FLOAT, 1, &F, mb->rmean) &&
             dset_write(g, "preprocess.radiomic_sd", H5T_NATIVE_FLOAT, 1, &F, mb->rsd);
    H5Gclose(g);
    return ok;
}

static int64_t max_numel(const qr_nn_spec *s) {
    int64_t n = 1;
    for (int i = 0; i < s->nt; i++)
        if (s->t[i].numel > n) n = s->t[i].numel;
    return n;
}

/* Write the model (all members, or only `only` >= 0) to an open file. */
static int write_model(hid_t f, const qr_nn_model *m, int only) {
    float *buf = malloc(sizeof(float) * (size_t)max_numel(&m->spec));
    if (!buf) return -1;
    int nm = only >= 0 ? 1 : m->n_members;
    int ok = write_config(f, m) && attr_int(f, "n_members", nm);
    for (int k = 0; ok && k < nm; k++) {
        char g[32];
        snprintf(g, sizeof g, "member_%03d", k);
        ok = write_member(f, g, m, only >= 0 ? only : k, buf);
    }
    free(buf);
    return ok;
}

/* 1 written, 0 a write failed, -1 out of memory */
typedef int (*writer_fn)(hid_t f, const void *arg);

/* Create path atomically: write a temporary sibling, then rename. */
static qr_status write_atomic(qr_nn_context *ctx, const char *path, writer_fn fn, const void *arg, const char *what) {
    char tmp[QR_PATH_MAX];
    QR_TRY(qr_temp_sibling(path, 1, tmp, sizeof tmp));
    const qr_h5_quiet q = qr_h5_quiet_begin(0);
    errno = 0;
    hid_t f = qr_h5_create_sealable(tmp);
    if (f < 0) {
        const int e = errno;
        qr_h5_quiet_end(q);
        return qr_fail(QR_ERR_IO, "cannot create %s (%s)%s%s", path, what, e ? ": " : "", e ? strerror(e) : "");
    }
    int ok = fn(f, arg);
    if (H5Fclose(f) < 0 && ok > 0) ok = 0;
    qr_h5_quiet_end(q);
    QR_TRY(qr_h5_seal_written(tmp, ok, path, what));
    qr_status dev = qr_nn_backend_check(ctx); /* never commit values read back from a failed device */
    if (dev != QR_OK) {
        remove(tmp);
        return qr_fail_context(dev, "not writing %s", path);
    }
    return qr_commit_rename(tmp, path);
}

static int model_writer(hid_t f, const void *arg) { return write_model(f, (const qr_nn_model *)arg, -1); }

qr_status qr_nn_model_save(const qr_nn_model *m, const char *path) {
    if (!m || !path) return qr_fail(QR_ERR_INVALID_ARG, "no model or path to save");
    if (m->n_members < 1) return qr_fail(QR_ERR_INVALID_ARG, "the model has no members to save");
    return write_atomic(m->ctx, path, model_writer, m, "model file");
}

/* ---- reading ---- */

static int attr_exists(hid_t loc, const char *name) { return H5Aexists(loc, name) > 0; }

static qr_status read_attr_int(hid_t loc, const char *path, const char *name, int64_t *v) {
    const int r = qr_h5_attr_scalar(loc, name, H5T_NATIVE_INT64, v);
    if (r == QR_H5_MISSING) return qr_fail(QR_ERR_MODEL, "%s: attribute '%s' is missing", path, name);
    return r == QR_H5_OK ? QR_OK : qr_fail(QR_ERR_MODEL, "%s: attribute '%s' is not one integer", path, name);
}
/* An integer attribute that must fit an int (the architecture's own checks follow). */
static qr_status read_attr_i32(hid_t loc, const char *path, const char *name, int *out) {
    int64_t v;
    QR_TRY(read_attr_int(loc, path, name, &v));
    if (v < INT32_MIN || v > INT32_MAX)
        return qr_fail(QR_ERR_MODEL, "%s: attribute '%s' = %lld is out of range", path, name, (long long)v);
    *out = (int)v;
    return QR_OK;
}
static qr_status read_attr_ints(hid_t loc, const char *path, const char *name, int64_t *v, int n) {
    if (!attr_exists(loc, name)) return qr_fail(QR_ERR_MODEL, "%s: attribute '%s' is missing", path, name);
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
    int ok = sp >= 0 && H5Sget_simple_extent_npoints(sp) == n && H5Aread(a, H5T_NATIVE_INT64, v) >= 0;
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    return ok ? QR_OK : qr_fail(QR_ERR_MODEL, "%s: attribute '%s' must hold %d integers", path, name, n);
}
static qr_status read_attr_dbl(hid_t loc, const char *path, const char *name, double *v, int required) {
    const int r = qr_h5_attr_scalar(loc, name, H5T_NATIVE_DOUBLE, v);
    if (r == QR_H5_MISSING) return required ? qr_fail(QR_ERR_MODEL, "%s: attribute '%s' is missing", path, name) : QR_OK;
    return r == QR_H5_OK ? QR_OK : qr_fail(QR_ERR_MODEL, "%s: attribute '%s' is not one number", path, name);
}
/* String attribute into out (fixed or variable length). required = 0: missing leaves out "". */
static qr_status read_attr_str(hid_t loc, const char *path, const char *name, char *out, size_t outlen, int required) {
    const int r = qr_h5_attr_string(loc, name, out, outlen);
    if (r == QR_H5_MISSING) return required ? qr_fail(QR_ERR_MODEL, "%s: attribute '%s' is missing", path, name) : QR_OK;
    return r == QR_H5_OK ? QR_OK : qr_fail(QR_ERR_MODEL, "%s: attribute '%s' is not one string", path, name);
}

static void shape_text(char *buf, size_t len, int ndim, const int64_t *d) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "(");
    for (int i = 0; i < ndim && o < len; i++) o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)d[i]);
    if (o < len) snprintf(buf + o, len - o, ")");
}

/* Read a dataset of known shape as float (or int64 when i64 != NULL). */
static qr_status read_dset(hid_t g, const char *path, const char *gname, const char *name, int ndim,
                           const int64_t *dims, float *out, int64_t *i64) {
    if (H5Lexists(g, name, H5P_DEFAULT) <= 0) return qr_fail(QR_ERR_MODEL, "%s: %s/%s is missing", path, gname, name);
    hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
    if (ds < 0) return qr_fail(QR_ERR_MODEL, "%s: %s/%s is not a dataset", path, gname, name);
    hid_t sp = H5Dget_space(ds);
    int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t hd[8] = {0};
    if (nd > 0 && nd <= 8) H5Sget_simple_extent_dims(sp, hd, NULL);
    H5Sclose(sp);
    int match = nd == ndim || (ndim == 0 && nd == 1 && hd[0] == 1);
    for (int i = 0; match && i < ndim; i++) match = (int64_t)hd[i] == dims[i];
    if (!match) {
        char want[96], got[96];
        int64_t gd[8];
        for (int i = 0; i < nd && i < 8; i++) gd[i] = (int64_t)hd[i];
        shape_text(want, sizeof want, ndim, dims);
        shape_text(got, sizeof got, nd > 8 ? 8 : (nd < 0 ? 0 : nd), gd);
        H5Dclose(ds);
        return qr_fail(QR_ERR_MODEL, "%s: %s/%s has shape %s, the architecture needs %s", path, gname, name, got, want);
    }
    herr_t r = H5Dread(ds, i64 ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, i64 ? (void *)i64 : (void *)out);
    H5Dclose(ds);
    if (r < 0) return qr_fail(QR_ERR_MODEL, "%s: %s/%s cannot be read as numbers", path, gname, name);
    if (!i64) {
        int64_t n = 1;
        for (int i = 0; i < ndim; i++) n *= dims[i];
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(out[i]))
                return qr_fail(QR_ERR_NONFINITE, "%s: %s/%s holds a non-finite value at element %lld", path, gname, name,
                               (long long)i);
        /* a negative batch-norm variance would take the root of a negative number: NaN for every
         * lesion (other out-of-range values are caught where a prediction is not finite) */
        const size_t len = strlen(name);
        if (len >= 11 && !strcmp(name + len - 11, "running_var"))
            for (int64_t i = 0; i < n; i++)
                if (!(out[i] >= 0))
                    return qr_fail(QR_ERR_MODEL, "%s: %s/%s holds the negative variance %g at element %lld", path, gname,
                                   name, (double)out[i], (long long)i);
    }
    return QR_OK;
}

typedef struct scan_ctx {
    const qr_nn_spec *spec;
    const char *extra_prefix;
    char bad[QR_NN_NAME_MAX + 8];
} scan_ctx;

static herr_t scan_cb(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    (void)g;
    (void)info;
    scan_ctx *c = op;
    if (!strncmp(name, "preprocess.", 11)) return 0;
    if (qr_nn_spec_find(c->spec, name) >= 0) return 0;
    snprintf(c->bad, sizeof c->bad, "%s", name);
    return 1;
}

static qr_status read_member(hid_t f, const char *path, const char *gname, qr_nn_model *m, int idx, float *buf) {
    const qr_nn_spec *s = &m->spec;
    qr_nn_member *mb = &m->members[idx];
    if (H5Lexists(f, gname, H5P_DEFAULT) <= 0) return qr_fail(QR_ERR_MODEL, "%s: group %s is missing", path, gname);
    hid_t g = H5Gopen2(f, gname, H5P_DEFAULT);
    if (g < 0) return qr_fail(QR_ERR_MODEL, "%s: %s is not a group", path, gname);
    qr_status st = QR_OK;
    scan_ctx sc = {s, NULL, {0}};
    if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, scan_cb, &sc) > 0)
        st = qr_fail(QR_ERR_MODEL, "%s: %s/%s is not a tensor of the %s architecture stored in the file", path, gname,
                     sc.bad, qr_nn_arch_name(s->cfg.arch));
    int64_t v;
    if (st == QR_OK && attr_exists(g, "fold") && read_attr_int(g, path, "fold", &v) == QR_OK) mb->fold = (int)v;
    if (st == QR_OK && attr_exists(g, "seed") && read_attr_int(g, path, "seed", &v) == QR_OK) mb->seed = v;
    for (int i = 0; st == QR_OK && i < s->nt; i++) {
        const qr_nn_tensor *t = &s->t[i];
        if (t->kind == QR_NN_TENSOR_COUNT_I64) {
            st = read_dset(g, path, gname, t->name, 0, t->dims, NULL, &mb->counts[t->offset]);
            continue;
        }
        st = read_dset(g, path, gname, t->name, t->ndim, t->dims, buf, NULL);
        if (st == QR_OK) qr_nn_member_set(m->ctx, s, mb, i, buf);
    }
    const int64_t C = s->cfg.in_channels, F = s->cfg.n_radiomic;
    if (st == QR_OK && C > 0) {
        st = read_dset(g, path, gname, "preprocess.intensity_shift", 1, &C, mb->shift, NULL);
        if (st == QR_OK) st = read_dset(g, path, gname, "preprocess.intensity_scale", 1, &C, mb->scale, NULL);
    }
    if (st == QR_OK && F > 0) {
        st = read_dset(g, path, gname, "preprocess.radiomic_mean", 1, &F, mb->rmean, NULL);
        if (st == QR_OK) st = read_dset(g, path, gname, "preprocess.radiomic_sd", 1, &F, mb->rsd, NULL);
    }
    H5Gclose(g);
    return st;
}

static qr_status read_config(hid_t f, const char *path, qr_nn_config *c, qr_nn_model_meta *mt) {
    char fmt[64], buf[64];
    QR_TRY(read_attr_str(f, path, "format", fmt, sizeof fmt, 0));
    /* the random-forest comparator's file (Logic/train/learn_forest.c) is a qsmrim model too, but
     * not a network: said as such to the commands that run networks only */
    if (strcmp(fmt, FORMAT_NAME) != 0 && qr_h5_attr_string(f, "qsmrim_model", buf, sizeof buf) == QR_H5_OK &&
        !strcmp(buf, "aprl-rf"))
        return qr_fail(QR_ERR_FORMAT, "%s is a random-forest model (aprl-rf), not a network; this command runs the network "
                       "models (qsmrimnet, rimnet, aprl-nn): score it with qsmrim predict or evaluate --model", path);
    if (strcmp(fmt, FORMAT_NAME) != 0)
        return qr_fail(QR_ERR_FORMAT, "%s is an HDF5 file but not a qsmrim model (no format = \"%s\" attribute)", path,
                       FORMAT_NAME);
    int64_t v, patch[3];
    QR_TRY(read_attr_int(f, path, "format_version", &v));
    if (v < 1) return qr_fail(QR_ERR_MODEL, "%s: model format version %lld is not a valid version", path, (long long)v);
    if (v > FORMAT_VERSION)
        return qr_fail(QR_ERR_UNSUPPORTED, "%s: model format version %lld is newer than this qsmrim reads (%d)", path,
                       (long long)v, FORMAT_VERSION);
    QR_TRY(read_attr_str(f, path, "arch", buf, sizeof buf, 1));
    qr_nn_arch arch;
    if (qr_nn_arch_parse(buf, &arch) != QR_OK)
        return qr_fail(QR_ERR_MODEL, "%s: unknown architecture '%s' (qsmrimnet, rimnet, aprl-nn)", path, buf);
    *c = qr_nn_config_default(arch);
    QR_TRY(read_attr_str(f, path, "fusion", buf, sizeof buf, 1));
    if (qr_nn_fusion_parse(buf, &c->fusion) != QR_OK) return qr_fail(QR_ERR_MODEL, "%s: unknown fusion '%s'", path, buf);
    QR_TRY(read_attr_str(f, path, "image_fusion", buf, sizeof buf, 0));
    if (buf[0] && qr_nn_image_fusion_parse(buf, &c->image_fusion) != QR_OK)
        return qr_fail(QR_ERR_MODEL, "%s: unknown image fusion '%s'", path, buf);
    QR_TRY(read_attr_i32(f, path, "width", &c->width));
    QR_TRY(read_attr_i32(f, path, "layer4_stride", &c->layer4_stride));
    QR_TRY(read_attr_i32(f, path, "in_channels", &c->in_channels));
    QR_TRY(read_attr_i32(f, path, "n_radiomic", &c->n_radiomic));
    QR_TRY(read_attr_ints(f, path, "patch_size", patch, 3));
    for (int i = 0; i < 3; i++) {
        if (patch[i] < 0 || patch[i] > 4096)
            return qr_fail(QR_ERR_MODEL, "%s: attribute 'patch_size' holds %lld", path, (long long)patch[i]);
        c->patch[i] = (int)patch[i];
    }
    QR_TRY(read_attr_i32(f, path, "rimnet_pool_stride", &c->rimnet_pool_stride));
    double d = c->dropout_radiomic;
    QR_TRY(read_attr_dbl(f, path, "dropout_radiomic", &d, 0));
    c->dropout_radiomic = (float)d;
    d = c->dropout_classifier;
    QR_TRY(read_attr_dbl(f, path, "dropout_classifier", &d, 0));
    c->dropout_classifier = (float)d;
    qr_status s = qr_nn_config_check(c);
    if (s != QR_OK) return qr_fail_context(QR_ERR_MODEL, "%s", path);
    QR_TRY(read_attr_str(f, path, "channel_names", mt->channel_names, sizeof mt->channel_names, 0));
    QR_TRY(read_attr_dbl(f, path, "threshold_f1", &mt->threshold_f1, 0));
    QR_TRY(read_attr_dbl(f, path, "threshold_sensitive", &mt->threshold_sensitive, 0));
    QR_TRY(read_attr_str(f, path, "training_data", mt->training_data, sizeof mt->training_data, 0));
    QR_TRY(read_attr_str(f, path, "commit", mt->commit, sizeof mt->commit, 0));
    QR_TRY(read_attr_str(f, path, "date", mt->date, sizeof mt->date, 0));
    QR_TRY(read_attr_str(f, path, "smote", mt->smote, sizeof mt->smote, 0));
    QR_TRY(read_attr_str(f, path, "notes", mt->notes, sizeof mt->notes, 0));
    if (attr_exists(f, "seed")) QR_TRY(read_attr_int(f, path, "seed", &mt->seed));
    QR_TRY(qr_h5_read_voxel_size(f, path, mt->voxel_mm));
    return QR_OK;
}

static qr_status read_names(hid_t f, const char *path, qr_nn_model *m) {
    if (H5Lexists(f, "radiomic_feature_names", H5P_DEFAULT) <= 0) return QR_OK;
    const int F = m->spec.cfg.n_radiomic;
    hid_t ds = H5Dopen2(f, "radiomic_feature_names", H5P_DEFAULT);
    if (ds < 0) return qr_fail(QR_ERR_MODEL, "%s: radiomic_feature_names is not a dataset", path);
    hid_t sp = H5Dget_space(ds);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    qr_status st = QR_OK;
    if (n != F) st = qr_fail(QR_ERR_MODEL, "%s: %lld radiomic feature names for %d inputs", path, (long long)n, F);
    char **names = NULL;
    if (st == QR_OK) {
        names = calloc((size_t)(F > 0 ? F : 1), sizeof *names);
        hid_t ft = H5Dget_type(ds);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        H5Tclose(ft);
        if (!names)
            st = qr_fail(QR_ERR_NOMEM, "%s: out of memory reading radiomic_feature_names", path);
        else if (H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, names) < 0)
            st = qr_fail(QR_ERR_MODEL, "%s: radiomic_feature_names cannot be read as strings", path);
        if (st == QR_OK) st = qr_nn_model_set_radiomic_names(m, (const char *const *)names, F);
        if (names) H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, names);
        H5Tclose(mt);
        free(names);
    }
    H5Sclose(sp);
    H5Dclose(ds);
    return st;
}

static qr_status open_file(const char *path, int check_seal, hid_t *f) {
    *f = -1;
    QR_TRY(qr_input_file_check(path));
    FILE *fp = fopen(path, "rb");
    if (!fp) return qr_fail(QR_ERR_IO, "cannot open %s", path);
    fclose(fp);
    if (check_seal) QR_TRY(qr_h5_check_seal(path, NULL));
    if (H5Fis_hdf5(path) <= 0) return qr_fail(QR_ERR_FORMAT, "%s is not an HDF5 file (not a qsmrim model)", path);
    *f = qr_h5_open_readonly(path);
    if (*f < 0) return qr_fail(QR_ERR_FORMAT, "%s cannot be opened as HDF5 (damaged?)", path);
    return QR_OK;
}

static qr_status load_model(qr_nn_context *ctx, hid_t f, const char *path, qr_nn_model **out) {
    qr_nn_config cfg;
    qr_nn_model_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.threshold_f1 = meta.threshold_sensitive = NAN;
    meta.seed = -1;
    QR_TRY(read_config(f, path, &cfg, &meta));
    meta.checkpoint = H5Lexists(f, "optimizer", H5P_DEFAULT) > 0;
    int64_t nm;
    QR_TRY(read_attr_int(f, path, "n_members", &nm));
    if (nm < 1 || nm > 10000) return qr_fail(QR_ERR_MODEL, "%s: %lld members (1..10000)", path, (long long)nm);
    qr_nn_model *m;
    QR_TRY(qr_nn_model_alloc(ctx, &cfg, &m));
    m->meta = meta;
    qr_status st = read_names(f, path, m);
    float *buf = malloc(sizeof(float) * (size_t)max_numel(&m->spec));
    if (!buf && st == QR_OK) st = qr_fail(QR_ERR_NOMEM, "out of memory reading %s", path);
    for (int k = 0; st == QR_OK && k < nm; k++) {
        char g[32];
        snprintf(g, sizeof g, "member_%03d", k);
        int idx;
        st = qr_nn_member_add(m, &idx);
        if (st == QR_OK) st = read_member(f, path, g, m, idx, buf);
    }
    free(buf);
    if (st == QR_OK) st = qr_nn_backend_check(ctx);
    if (st != QR_OK) {
        qr_nn_model_free(m);
        return st;
    }
    *out = m;
    return QR_OK;
}

static qr_status load_path(qr_nn_context *ctx, const char *path, int check_seal, qr_nn_model **out) {
    *out = NULL;
    if (!ctx || !path) return qr_fail(QR_ERR_INVALID_ARG, "no context or path");
    const qr_h5_quiet q = qr_h5_quiet_begin(1);
    hid_t f;
    qr_status st = open_file(path, check_seal, &f);
    if (st == QR_OK) {
        st = load_model(ctx, f, path, out);
        H5Fclose(f);
    }
    qr_h5_quiet_end(q);
    return st;
}

qr_status qr_nn_model_load(qr_nn_context *ctx, const char *path, qr_nn_model **out) {
    return load_path(ctx, path, 1, out);
}

qr_status qr_nn_model_load_checked(qr_nn_context *ctx, const char *path, qr_nn_model **out) {
    return load_path(ctx, path, 0, out);
}

/* ---- checkpoints ---- */

typedef struct ckpt_arg {
    const qr_nn_trainer *t;
    const qr_nn_field *fields;
    int n_fields;
} ckpt_arg;

static int ckpt_writer(hid_t f, const void *argp) {
    const ckpt_arg *a = argp;
    const qr_nn_trainer *t = a->t;
    const qr_nn_model *m = t->model;
    const qr_nn_spec *s = &m->spec;
    const int model = write_model(f, m, t->member);
    if (model <= 0) return model;
    float *buf = malloc(sizeof(float) * (size_t)max_numel(s));
    if (!buf) return -1;
    hid_t g = qr_h5_group_create(f, "optimizer");
    int ok = g >= 0;
    int64_t ms[QR_NN_MAX_MILESTONES + 1];
    for (int i = 0; i < t->opt.n_milestones; i++) ms[i] = t->opt.milestones[i];
    ok = ok && attr_int(g, "step", t->step) && attr_int(g, "epoch", t->epoch) && attr_dbl(g, "lr", t->lr) &&
         attr_dbl(g, "base_lr", t->opt.lr) && attr_dbl(g, "beta1", t->opt.beta1) &&
         attr_dbl(g, "beta2", t->opt.beta2) && attr_dbl(g, "eps", t->opt.eps) &&
         attr_dbl(g, "weight_decay", t->opt.weight_decay) && attr_dbl(g, "conv_l2", t->opt.conv_l2) &&
         attr_dbl(g, "lr_gamma", t->opt.lr_gamma) &&
         (t->opt.n_milestones == 0 || attr_write(g, "milestones", H5T_NATIVE_INT64, t->opt.n_milestones, ms)) &&
         attr_str(g, "smote", qr_nn_smote_name(t->opt.smote)) && attr_int(g, "seed", (int64_t)t->opt.seed);
    for (int i = 0; ok && i < s->nt; i++) {
        const qr_nn_tensor *x = &s->t[i];
        if (x->kind != QR_NN_TENSOR_PARAM) continue;
        char name[QR_NN_NAME_MAX + 32];
        snprintf(name, sizeof name, "exp_avg/%s", x->name);
        m->ctx->be->weight_download(m->ctx, x->layout, x->dims, buf, t->m + x->offset);
        ok = dset_write(g, name, H5T_NATIVE_FLOAT, x->ndim, x->dims, buf);
        snprintf(name, sizeof name, "exp_avg_sq/%s", x->name);
        m->ctx->be->weight_download(m->ctx, x->layout, x->dims, buf, t->v + x->offset);
        ok = ok && dset_write(g, name, H5T_NATIVE_FLOAT, x->ndim, x->dims, buf);
    }
    if (g >= 0) H5Gclose(g);
    free(buf);
    uint64_t rs[6];
    memcpy(rs, t->rng.s, sizeof t->rng.s);
    rs[4] = (uint64_t)t->rng.has_spare;
    memcpy(&rs[5], &t->rng.spare, sizeof(double));
    int64_t six = 6;
    ok = ok && dset_write(f, "trainer/rng", H5T_NATIVE_UINT64, 1, &six, rs);
    hid_t extra = -1;
    for (int i = 0; ok && i < a->n_fields; i++) {
        const qr_nn_field *fl = &a->fields[i];
        if (fl->type == QR_NN_FIELD_TEXT) {
            if (extra < 0)
                extra = H5Lexists(f, "extra", H5P_DEFAULT) > 0 ? H5Gopen2(f, "extra", H5P_DEFAULT)
                                                               : qr_h5_group_create(f, "extra");
            ok = extra >= 0 && attr_str(extra, fl->name, fl->data);
            continue;
        }
        char name[256];
        snprintf(name, sizeof name, "extra/%s", fl->name);
        ok = dset_write(f, name, fl->type == QR_NN_FIELD_I64 ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, 1, &fl->count,
                        fl->data);
    }
    if (extra >= 0) H5Gclose(extra);
    return ok;
}

static qr_status check_fields(const qr_nn_field *fields, int n) {
    if (n < 0 || (n > 0 && !fields)) return qr_fail(QR_ERR_INVALID_ARG, "bad checkpoint field list");
    for (int i = 0; i < n; i++) {
        if (!qr_nn_name_ok(fields[i].name) || strlen(fields[i].name) > 200)
            return qr_fail(QR_ERR_INVALID_ARG, "checkpoint field name '%s' (letters, digits, _ . - only)",
                           fields[i].name ? fields[i].name : "");
        if (fields[i].count < 1 || !fields[i].data)
            return qr_fail(QR_ERR_INVALID_ARG, "checkpoint field '%s' has no data", fields[i].name);
        if (fields[i].type == QR_NN_FIELD_TEXT && fields[i].count > 65000)
            return qr_fail(QR_ERR_INVALID_ARG, "checkpoint text field '%s' is too long", fields[i].name);
    }
    return QR_OK;
}

/* The caller's fields of an open checkpoint into their buffers. */
static qr_status read_fields(hid_t f, const char *path, qr_nn_field *fields, int n_fields) {
    qr_status st = QR_OK;
    for (int i = 0; st == QR_OK && i < n_fields; i++) {
        qr_nn_field *fl = &fields[i];
        char name[256];
        snprintf(name, sizeof name, "extra/%s", fl->name);
        hid_t g = H5Lexists(f, "extra", H5P_DEFAULT) > 0 ? H5Gopen2(f, "extra", H5P_DEFAULT) : -1;
        const int text = fl->type == QR_NN_FIELD_TEXT;
        const int have = g >= 0 && (text ? attr_exists(g, fl->name) : H5Lexists(g, fl->name, H5P_DEFAULT) > 0);
        if (have && text) st = read_attr_str(g, path, fl->name, fl->data, (size_t)fl->count, 1);
        if (g >= 0) H5Gclose(g);
        if (!have) st = qr_fail(QR_ERR_MODEL, "%s: checkpoint field %s is missing", path, name);
        if (!have || text) continue;
        hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
        hid_t sp = H5Dget_space(ds);
        if (H5Sget_simple_extent_npoints(sp) != fl->count ||
            H5Dread(ds, fl->type == QR_NN_FIELD_I64 ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL,
                    H5P_DEFAULT, fl->data) < 0)
            st = qr_fail(QR_ERR_MODEL, "%s: checkpoint field %s does not hold %lld values", path, name,
                         (long long)fl->count);
        H5Sclose(sp);
        H5Dclose(ds);
    }
    return st;
}

qr_status qr_nn_checkpoint_save(const qr_nn_trainer *t, const char *path, const qr_nn_field *fields, int n_fields) {
    if (!t || !path) return qr_fail(QR_ERR_INVALID_ARG, "no trainer or path");
    QR_TRY(check_fields(fields, n_fields));
    ckpt_arg a = {t, fields, n_fields};
    return write_atomic(t->model->ctx, path, ckpt_writer, &a, "checkpoint");
}

static qr_status load_ckpt(qr_nn_trainer *t, hid_t f, const char *path, qr_nn_field *fields, int n_fields) {
    qr_nn_model *m = t->model;
    const qr_nn_spec *s = &m->spec;
    qr_nn_model *c;
    QR_TRY(load_model(m->ctx, f, path, &c));
    qr_status st = QR_OK;
    if (c->n_members != 1) st = qr_fail(QR_ERR_MODEL, "%s is not a checkpoint (it has %d members)", path, c->n_members);
    const qr_nn_config *a = &s->cfg, *b = &c->spec.cfg;
    if (st == QR_OK && !qr_nn_config_same_arch(a, b))
        st = qr_fail(QR_ERR_MODEL, "%s was saved from a different architecture than the model being trained", path);
    if (st == QR_OK && H5Lexists(f, "optimizer", H5P_DEFAULT) <= 0)
        st = qr_fail(QR_ERR_MODEL, "%s is a model file, not a training checkpoint (no optimizer state)", path);
    hid_t g = st == QR_OK ? H5Gopen2(f, "optimizer", H5P_DEFAULT) : -1;
    int64_t step = 0, epoch = 0;
    if (st == QR_OK) st = read_attr_int(g, path, "step", &step);
    if (st == QR_OK) st = read_attr_int(g, path, "epoch", &epoch);
    float *buf = malloc(sizeof(float) * (size_t)max_numel(s));
    float *mbuf = m->ctx->be->alloc(m->ctx, sizeof(float) * (size_t)(s->n_params > 0 ? s->n_params : 1));
    float *vbuf = m->ctx->be->alloc(m->ctx, sizeof(float) * (size_t)(s->n_params > 0 ? s->n_params : 1));
    if (st == QR_OK && (!buf || !mbuf || !vbuf)) st = qr_fail(QR_ERR_NOMEM, "out of memory reading %s", path);
    for (int i = 0; st == QR_OK && i < s->nt; i++) {
        const qr_nn_tensor *x = &s->t[i];
        if (x->kind != QR_NN_TENSOR_PARAM) continue;
        char name[QR_NN_NAME_MAX + 32];
        snprintf(name, sizeof name, "exp_avg/%s", x->name);
        st = read_dset(g, path, "optimizer", name, x->ndim, x->dims, buf, NULL);
        if (st == QR_OK) m->ctx->be->weight_upload(m->ctx, x->layout, x->dims, mbuf + x->offset, buf);
        snprintf(name, sizeof name, "exp_avg_sq/%s", x->name);
        if (st == QR_OK) st = read_dset(g, path, "optimizer", name, x->ndim, x->dims, buf, NULL);
        if (st == QR_OK) m->ctx->be->weight_upload(m->ctx, x->layout, x->dims, vbuf + x->offset, buf);
    }
    if (g >= 0) H5Gclose(g);
    uint64_t rs[6];
    if (st == QR_OK) {
        int64_t six = 6;
        float dummy;
        (void)dummy;
        hid_t tg = H5Lexists(f, "trainer", H5P_DEFAULT) > 0 ? H5Gopen2(f, "trainer", H5P_DEFAULT) : -1;
        if (tg < 0) st = qr_fail(QR_ERR_MODEL, "%s: trainer/rng is missing", path);
        else {
            hid_t ds = H5Lexists(tg, "rng", H5P_DEFAULT) > 0 ? H5Dopen2(tg, "rng", H5P_DEFAULT) : -1;
            hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1;
            if (ds < 0 || H5Sget_simple_extent_npoints(sp) != six ||
                H5Dread(ds, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, rs) < 0)
                st = qr_fail(QR_ERR_MODEL, "%s: trainer/rng must hold 6 unsigned integers", path);
            if (sp >= 0) H5Sclose(sp);
            if (ds >= 0) H5Dclose(ds);
            H5Gclose(tg);
        }
    }
    if (st == QR_OK) st = read_fields(f, path, fields, n_fields);
    if (st == QR_OK) {
        /* commit: parameters, buffers, counters and preprocessing of the trained member */
        qr_nn_member *dst = &m->members[t->member], *src = &c->members[0];
        m->ctx->be->copy(m->ctx, dst->params, src->params, sizeof(float) * (size_t)s->n_params);
        m->ctx->be->copy(m->ctx, dst->buffers, src->buffers, sizeof(float) * (size_t)s->n_buffers);
        memcpy(dst->counts, src->counts, sizeof(int64_t) * (size_t)s->n_counts);
        memcpy(dst->shift, src->shift, sizeof dst->shift);
        memcpy(dst->scale, src->scale, sizeof dst->scale);
        int F = s->cfg.n_radiomic > 0 ? s->cfg.n_radiomic : 1;
        memcpy(dst->rmean, src->rmean, sizeof(float) * (size_t)F);
        memcpy(dst->rsd, src->rsd, sizeof(float) * (size_t)F);
        dst->fold = src->fold;
        dst->seed = src->seed;
        m->meta = c->meta;
        m->ctx->be->copy(m->ctx, t->m, mbuf, sizeof(float) * (size_t)s->n_params);
        m->ctx->be->copy(m->ctx, t->v, vbuf, sizeof(float) * (size_t)s->n_params);
        t->step = step;
        qr_nn_trainer_set_epoch(t, (int)epoch);
        memcpy(t->rng.s, rs, sizeof t->rng.s);
        t->rng.has_spare = (int)rs[4];
        memcpy(&t->rng.spare, &rs[5], sizeof(double));
    }
    free(buf);
    if (mbuf) m->ctx->be->free(m->ctx, mbuf);
    if (vbuf) m->ctx->be->free(m->ctx, vbuf);
    qr_nn_model_free(c);
    if (st == QR_OK) st = qr_nn_backend_check(m->ctx);
    return st;
}

qr_status qr_nn_checkpoint_read_fields(const char *path, qr_nn_field *fields, int n_fields) {
    if (!path) return qr_fail(QR_ERR_INVALID_ARG, "no checkpoint path");
    QR_TRY(check_fields(fields, n_fields));
    const qr_h5_quiet q = qr_h5_quiet_begin(1);
    hid_t f;
    qr_status st = open_file(path, 1, &f);
    if (st == QR_OK) {
        st = read_fields(f, path, fields, n_fields);
        H5Fclose(f);
    }
    qr_h5_quiet_end(q);
    return st;
}

qr_status qr_nn_checkpoint_load(qr_nn_trainer *t, const char *path, qr_nn_field *fields, int n_fields) {
    if (!t || !path) return qr_fail(QR_ERR_INVALID_ARG, "no trainer or path");
    QR_TRY(check_fields(fields, n_fields));
    const qr_h5_quiet q = qr_h5_quiet_begin(1);
    hid_t f;
    qr_status st = open_file(path, 1, &f);
    if (st == QR_OK) {
        st = load_ckpt(t, f, path, fields, n_fields);
        H5Fclose(f);
    }
    qr_h5_quiet_end(q);
    return st;
}
