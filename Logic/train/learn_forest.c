/*
 * learn_forest.c - the APRL comparator as a learner: first-order QSM features, SMOTE, random
 * forest with mtry chosen by inner cross-validation (the APRL comparator of Zhang et al. 2022).
 *
 *   features   every radiomic feature named original_firstorder_* (18 with the QSMRim-Net preset:
 *              first-order statistics of the lesion on the unfiltered QSM); NaN values (lesions
 *              PyRadiomics refuses) are replaced by the training mean of the feature
 *   balance    SMOTE (Logic/classic/smote.h) on the training lesions, minority up to the majority
 *   mtry       the candidates of TRAIN.yaml (1..10, capped at the feature count), each scored by
 *              the average precision of an inner subject-level cross-validation (SMOTE applied
 *              inside each inner training split; rf_tune_trees trees per forest)
 *   forest     rf_trees trees (500) with the chosen mtry on the balanced set
 *
 * Model file (HDF5):
 *   attributes  qsmrim_model = "aprl-rf", format_version = 1, threshold_f1, threshold_sensitive,
 *               training_data, notes, date, commit, seed, mtry, voxel_size_mm (double[3], optional)
 *   feature_names   strings (p)          impute_mean   float64 (members, p)
 *   training_qsm_sha256   uint64 (S), optional: the training subjects by their QSM images (learner.h)
 *   member<k>/      one forest each (Logic/classic/forest.h, qr_forest_write_h5)
 */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../classic/smote.h"
#include "../core/fileutil.h"
#include "../core/h5util.h"
#include "learner_internal.h"

#define FIRSTORDER_PREFIX "original_firstorder_"

void qr_forest_learner_release(qr_learner *l) {
    if (l->forests)
        for (int m = 0; m < l->nmembers; m++) qr_forest_free(&l->forests[m]);
    free(l->forests);
    if (l->sel_names)
        for (int64_t f = 0; f < l->nsel; f++) free(l->sel_names[f]);
    free(l->sel_names);
    free(l->impute);
    l->forests = NULL;
    l->sel_names = NULL;
    l->impute = NULL;
    l->nmembers = 0;
}

/* SMOTE as the tuning's preparation step. */
static qr_status smote_prepare(const double *X, const int *y, int64_t n, int p, uint64_t seed, double **Xout, int **yout,
                               int64_t *nout, void *user) {
    const qr_train_config *cfg = user;
    qr_smote_params sp = qr_smote_params_default();
    sp.k = cfg->smote_k;
    sp.seed = seed;
    return qr_smote(X, y, n, p, &sp, Xout, yout, nout);
}

/* Rows idx of the selected features (columns col[0..p)), NaN replaced by `mean`. */
static void gather(const qr_dataset *d, const int64_t *idx, int64_t n, const int64_t *col, int64_t p, const double *mean,
                   double *X) {
    for (int64_t r = 0; r < n; r++)
        for (int64_t f = 0; f < p; f++) {
            double v = d->features[idx[r] * d->nfeatures + col[f]];
            X[r * p + f] = isnan(v) ? mean[f] : v;
        }
}

qr_status qr_forest_learner_fit(const qr_dataset *d, const int64_t *idx, int64_t n, const qr_fit_options *o,
                                qr_learner *l) {
    const qr_train_config *cfg = o->cfg;
    int64_t p = 0;
    for (int64_t f = 0; f < d->nfeatures; f++) p += !strncmp(d->feature_names[f], FIRSTORDER_PREFIX, strlen(FIRSTORDER_PREFIX));
    if (p == 0)
        return qr_fail(QR_ERR_INVALID_ARG,
                       "aprl-rf needs first-order features (" FIRSTORDER_PREFIX "*), which the radiomic settings do not produce");
    int64_t *col = malloc((size_t)p * sizeof *col);
    double *mean = calloc((size_t)p, sizeof *mean), *X = malloc((size_t)n * (size_t)p * sizeof *X);
    int *y = malloc((size_t)n * sizeof *y), *group = malloc((size_t)n * sizeof *group);
    l->sel_names = calloc((size_t)p, sizeof *l->sel_names);
    l->forests = calloc(1, sizeof *l->forests);
    l->impute = malloc((size_t)p * sizeof *l->impute);
    qr_status st = QR_OK;
    if (!col || !mean || !X || !y || !group || !l->sel_names || !l->forests || !l->impute)
        st = qr_fail(QR_ERR_NOMEM, "out of memory training the random forest");
    int64_t k = 0;
    for (int64_t f = 0; st == QR_OK && f < d->nfeatures; f++) {
        if (strncmp(d->feature_names[f], FIRSTORDER_PREFIX, strlen(FIRSTORDER_PREFIX))) continue;
        col[k] = f;
        l->sel_names[k] = strdup(d->feature_names[f]);
        if (!l->sel_names[k]) st = qr_fail(QR_ERR_NOMEM, "out of memory");
        k++;
    }
    l->nsel = p;
    /* training means (NaN left out) */
    for (int64_t f = 0; st == QR_OK && f < p; f++) {
        double s = 0;
        int64_t c = 0;
        for (int64_t r = 0; r < n; r++) {
            double v = d->features[idx[r] * d->nfeatures + col[f]];
            if (!isnan(v)) {
                s += v;
                c++;
            }
        }
        mean[f] = c ? s / (double)c : 0;
        l->impute[f] = mean[f];
    }
    if (st == QR_OK) {
        gather(d, idx, n, col, p, mean, X);
        for (int64_t r = 0; r < n; r++) {
            y[r] = d->label[idx[r]];
            group[r] = d->subject_of[idx[r]];
        }
    }
    qr_forest_params fp = qr_forest_params_default();
    fp.seed = o->seed;
    fp.threads = cfg->threads;
    /* mtry candidates within 1..p, without repeats */
    int cand[QR_TRAIN_MAX_MTRY], nc = 0;
    for (int c = 0; c < cfg->n_mtry; c++) {
        int m = cfg->rf_mtry[c] > p ? (int)p : cfg->rf_mtry[c];
        int dup = 0;
        for (int q = 0; q < nc; q++) dup |= cand[q] == m;
        if (!dup) cand[nc++] = m;
    }
    int best = cand[0];
    /* the inner cross-validation keeps each subject in one inner fold: it needs two subjects */
    int two_groups = !group;
    for (int64_t i = 1; group && i < n && !two_groups; i++) two_groups = group[i] != group[0];
    if (st == QR_OK && nc > 1 && !two_groups)
        qr_log(QR_LOG_NOTICE, "mtry not tuned: the training lesions come from one subject (the inner cross-validation "
                              "needs two); using mtry %d", best);
    if (st == QR_OK && nc > 1 && two_groups) {
        double scores[QR_TRAIN_MAX_MTRY];
        qr_forest_params tp = fp;
        tp.ntrees = cfg->rf_tune_trees;
        st = qr_forest_tune_mtry(X, y, group, n, (int)p, cand, nc, cfg->rf_inner_folds, &tp, smote_prepare, (void *)cfg,
                                 &best, scores, o->cancel);
        if (st == QR_OK) {
            char line[512];
            int used = snprintf(line, sizeof line, "mtry by inner CV (average precision):");
            for (int c = 0; c < nc && used < (int)sizeof line; c++)
                used += snprintf(line + used, sizeof line - (size_t)used, " %d: %.3f", cand[c], scores[c]);
            qr_log(QR_LOG_INFO, "%s -> %d", line, best);
        }
    }
    double *Xb = NULL;
    int *yb = NULL;
    int64_t nb = 0;
    if (st == QR_OK) st = smote_prepare(X, y, n, (int)p, o->seed ^ 0x5A5AULL, &Xb, &yb, &nb, (void *)cfg);
    if (st == QR_OK) {
        fp.ntrees = cfg->rf_trees;
        fp.mtry = best;
        st = qr_forest_train(Xb, yb, nb, (int)p, &fp, &l->forests[0], o->cancel);
    }
    if (st == QR_OK) {
        l->nmembers = 1;
        l->best_mtry = best;
        if (o->progress) {
            qr_fit_progress pr = {0, 1, 1, 1, NAN, NAN, 1};
            o->progress(&pr, o->user);
        }
    }
    free(Xb);
    free(yb);
    free(col);
    free(mean);
    free(X);
    free(y);
    free(group);
    return st;
}

qr_status qr_forest_learner_predict(qr_learner *l, const qr_dataset *d, const int64_t *idx, int64_t n,
                                    double *member_prob) {
    int64_t p = l->nsel;
    int64_t *col = malloc((size_t)p * sizeof *col);
    double *X = malloc((size_t)n * (size_t)p * sizeof *X), *pr = malloc((size_t)n * sizeof *pr);
    qr_status st = QR_OK;
    if (!col || !X || !pr) st = qr_fail(QR_ERR_NOMEM, "out of memory predicting with the random forest");
    for (int64_t f = 0; st == QR_OK && f < p; f++) {
        col[f] = qr_dataset_feature(d, l->sel_names[f]);
        if (col[f] < 0) st = qr_fail(QR_ERR_MODEL, "the forest needs the feature '%s', which the data lacks", l->sel_names[f]);
    }
    for (int m = 0; st == QR_OK && m < l->nmembers; m++) {
        gather(d, idx, n, col, p, l->impute + (size_t)m * (size_t)p, X);
        qr_forest_predict(&l->forests[m], X, n, pr);
        for (int64_t i = 0; i < n; i++) member_prob[i * l->nmembers + m] = pr[i];
    }
    free(col);
    free(X);
    free(pr);
    return st;
}

/* ---- model file ---- */

static herr_t attr_str(hid_t obj, const char *name, const char *value) {
    hid_t ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, strlen(value) + 1);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t at = H5Acreate2(obj, name, ty, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = at >= 0 ? H5Awrite(at, ty, value) : -1;
    if (at >= 0) H5Aclose(at);
    H5Sclose(sp);
    H5Tclose(ty);
    return e;
}

static herr_t attr_num(hid_t obj, const char *name, hid_t file_type, hid_t mem_type, const void *v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t at = H5Acreate2(obj, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = at >= 0 ? H5Awrite(at, mem_type, v) : -1;
    if (at >= 0) H5Aclose(at);
    H5Sclose(sp);
    return e;
}

static int read_attr_str(hid_t obj, const char *name, char *out, size_t n) {
    return qr_h5_attr_string(obj, name, out, n) == QR_H5_OK ? 0 : -1;
}

static int read_attr_num(hid_t obj, const char *name, hid_t mem_type, void *v) {
    return qr_h5_attr_scalar(obj, name, mem_type, v) == QR_H5_OK ? 0 : -1;
}

qr_status qr_forest_learner_save(const qr_learner *l, const char *path, const qr_model_info *info) {
    char tmp[QR_PATH_MAX];
    QR_TRY(qr_temp_sibling(path, 1, tmp, sizeof tmp));
    qr_status st = QR_OK;
    herr_t e = 0;
    int nomem = 0; /* a forest's arrays could not be allocated */
    size_t len = 1;
    for (int64_t f = 0; f < l->nsel; f++)
        if (strlen(l->sel_names[f]) + 1 > len) len = strlen(l->sel_names[f]) + 1;
    if (l->nsel < 1) return qr_fail(QR_ERR_INVALID_ARG, "the forest uses no features: nothing to save");
    char *names = calloc((size_t)l->nsel, len);
    if (!names) return qr_fail(QR_ERR_NOMEM, "out of memory");
    for (int64_t f = 0; f < l->nsel; f++) memcpy(names + f * len, l->sel_names[f], strlen(l->sel_names[f]));
    H5E_BEGIN_TRY {
        hid_t file = qr_h5_create_sealable(tmp);
        if (file < 0) e = -1;
        if (e >= 0) {
            int version = 1;
            double tf1 = info ? info->threshold_f1 : NAN, ts = info ? info->threshold_sensitive : NAN;
            int64_t seed = info ? info->seed : -1;
            e |= attr_str(file, "qsmrim_model", "aprl-rf");
            e |= attr_num(file, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT, &version);
            e |= attr_num(file, "threshold_f1", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &tf1);
            e |= attr_num(file, "threshold_sensitive", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &ts);
            e |= attr_num(file, "seed", H5T_STD_I64LE, H5T_NATIVE_INT64, &seed);
            e |= attr_num(file, "mtry", H5T_STD_I32LE, H5T_NATIVE_INT, &l->best_mtry);
            e |= attr_str(file, "training_data", info ? info->training_data : "");
            e |= attr_str(file, "notes", info ? info->notes : "");
            e |= attr_str(file, "date", info ? info->date : "");
            e |= attr_str(file, "commit", info ? info->commit : "");
            if (info && info->voxel_mm[0] > 0) e |= qr_h5_attr_write_doubles(file, "voxel_size_mm", info->voxel_mm, 3);
            if (info && info->n_training_qsm > 0)
                e |= qr_h5_write_u64s(file, "training_qsm_sha256", info->training_qsm, info->n_training_qsm);
            hid_t st_t = H5Tcopy(H5T_C_S1);
            H5Tset_size(st_t, len);
            hsize_t dn[1] = {(hsize_t)l->nsel}, di[2] = {(hsize_t)l->nmembers, (hsize_t)l->nsel};
            hid_t sp = H5Screate_simple(1, dn, NULL);
            hid_t ds = qr_h5_dataset_create(file, "feature_names", st_t, sp, H5P_DEFAULT);
            e |= ds >= 0 ? H5Dwrite(ds, st_t, H5S_ALL, H5S_ALL, H5P_DEFAULT, names) : -1;
            if (ds >= 0) H5Dclose(ds);
            H5Sclose(sp);
            H5Tclose(st_t);
            sp = H5Screate_simple(2, di, NULL);
            ds = qr_h5_dataset_create(file, "impute_mean", H5T_IEEE_F64LE, sp, H5P_DEFAULT);
            e |= ds >= 0 ? H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, l->impute) : -1;
            if (ds >= 0) H5Dclose(ds);
            H5Sclose(sp);
            for (int m = 0; m < l->nmembers && e >= 0; m++) {
                char gname[32];
                snprintf(gname, sizeof gname, "member%d", m);
                hid_t g = qr_h5_group_create(file, gname);
                const qr_status w = g < 0 ? QR_ERR_IO : qr_forest_write_h5(&l->forests[m], (int64_t)g);
                if (w != QR_OK) e = -1;
                if (w == QR_ERR_NOMEM) nomem = 1;
                if (g >= 0) H5Gclose(g);
            }
            if (H5Fclose(file) < 0) e = -1;
        }
    }
    H5E_END_TRY;
    free(names);
    if (st == QR_OK) st = qr_h5_seal_written(tmp, nomem ? -1 : e >= 0 ? 1 : 0, path, "model file");
    if (st == QR_OK) st = qr_commit_rename(tmp, path);
    return st;
}

int qr_forest_learner_detect(const char *path) {
    int hit = 0;
    H5E_BEGIN_TRY {
        if (H5Fis_hdf5(path) > 0) {
            hid_t file = qr_h5_open_readonly(path);
            char kind[32];
            if (file >= 0 && read_attr_str(file, "qsmrim_model", kind, sizeof kind) == 0 && !strcmp(kind, "aprl-rf")) hit = 1;
            if (file >= 0) H5Fclose(file);
        }
    }
    H5E_END_TRY;
    if (!hit) qr_clear_error(); /* (an out-of-memory note from the open: the loader that follows says it) */
    return hit;
}

qr_status qr_forest_learner_load(const char *path, qr_learner *l, qr_model_info *info) {
    qr_status st = QR_OK;
    if (info) memset(info, 0, sizeof *info);
    QR_H5_READ_BEGIN {
        hid_t file = qr_h5_open_readonly(path);
        if (file < 0) st = qr_fail(QR_ERR_FORMAT, "%s: not a readable HDF5 model file", path);
        int version = 0;
        if (st == QR_OK && (read_attr_num(file, "format_version", H5T_NATIVE_INT, &version) < 0 || version != 1))
            st = qr_fail(QR_ERR_MODEL, "%s: unknown random-forest model version %d", path, version);
        hid_t ds = st == QR_OK ? H5Dopen2(file, "feature_names", H5P_DEFAULT) : -1;
        if (st == QR_OK && ds < 0) st = qr_fail(QR_ERR_MODEL, "%s: the model lists no feature names", path);
        if (st == QR_OK) {
            hid_t sp = H5Dget_space(ds), ty = H5Dget_type(ds);
            hsize_t dn[1] = {0};
            if (H5Sget_simple_extent_ndims(sp) == 1 && H5Tget_class(ty) == H5T_STRING && H5Tis_variable_str(ty) == 0)
                H5Sget_simple_extent_dims(sp, dn, NULL); /* else dn[0] = 0: refused below */
            size_t len = H5Tget_size(ty);
            l->nsel = (int64_t)dn[0];
            char *buf = calloc((size_t)(dn[0] ? dn[0] : 1), len + 1);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, len);
            l->sel_names = calloc((size_t)(dn[0] ? dn[0] : 1), sizeof *l->sel_names);
            if (!buf || !l->sel_names || l->nsel < 1 || H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
                st = qr_fail(QR_ERR_MODEL, "%s: cannot read the feature names", path);
            for (int64_t f = 0; st == QR_OK && f < l->nsel; f++) l->sel_names[f] = strndup(buf + f * len, len);
            H5Tclose(mt);
            H5Tclose(ty);
            H5Sclose(sp);
            free(buf);
        }
        if (ds >= 0) H5Dclose(ds);
        /* members */
        int m = 0;
        while (st == QR_OK) {
            char gname[32];
            snprintf(gname, sizeof gname, "member%d", m);
            if (H5Lexists(file, gname, H5P_DEFAULT) <= 0) break;
            qr_forest *nf = realloc(l->forests, (size_t)(m + 1) * sizeof *nf);
            if (!nf) {
                st = qr_fail(QR_ERR_NOMEM, "out of memory");
                break;
            }
            l->forests = nf;
            hid_t g = H5Gopen2(file, gname, H5P_DEFAULT);
            char what[QR_PATH_MAX + 40];
            snprintf(what, sizeof what, "%s (%s)", path, gname);
            st = qr_forest_read_h5((int64_t)g, what, &l->forests[m]);
            H5Gclose(g);
            if (st == QR_OK && l->forests[m].nfeatures != l->nsel) {
                st = qr_fail(QR_ERR_MODEL, "%s: forest %d uses %d features, the file lists %lld", path, m,
                             l->forests[m].nfeatures, (long long)l->nsel);
                qr_forest_free(&l->forests[m]);
            }
            if (st == QR_OK) l->nmembers = ++m;
        }
        if (st == QR_OK && l->nmembers == 0) st = qr_fail(QR_ERR_MODEL, "%s: the model holds no forest", path);
        if (st == QR_OK) {
            l->impute = malloc((size_t)l->nmembers * (size_t)l->nsel * sizeof *l->impute);
            hid_t di = H5Dopen2(file, "impute_mean", H5P_DEFAULT);
            hid_t sp = di >= 0 ? H5Dget_space(di) : -1;
            hsize_t d2[2] = {0, 0};
            if (sp >= 0 && H5Sget_simple_extent_ndims(sp) == 2) H5Sget_simple_extent_dims(sp, d2, NULL);
            if (!l->impute || di < 0 || d2[0] != (hsize_t)l->nmembers || d2[1] != (hsize_t)l->nsel ||
                H5Dread(di, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, l->impute) < 0)
                st = qr_fail(QR_ERR_MODEL, "%s: impute_mean is missing or misshapen", path);
            if (sp >= 0) H5Sclose(sp);
            if (di >= 0) H5Dclose(di);
        }
        if (st == QR_OK && info) {
            info->threshold_f1 = info->threshold_sensitive = NAN;
            read_attr_num(file, "threshold_f1", H5T_NATIVE_DOUBLE, &info->threshold_f1);
            read_attr_num(file, "threshold_sensitive", H5T_NATIVE_DOUBLE, &info->threshold_sensitive);
            info->seed = -1;
            read_attr_num(file, "seed", H5T_NATIVE_INT64, &info->seed);
            read_attr_str(file, "training_data", info->training_data, sizeof info->training_data);
            read_attr_str(file, "notes", info->notes, sizeof info->notes);
            read_attr_str(file, "date", info->date, sizeof info->date);
            read_attr_str(file, "commit", info->commit, sizeof info->commit);
            st = qr_h5_read_voxel_size(file, path, info->voxel_mm);
        }
        if (st == QR_OK) read_attr_num(file, "mtry", H5T_NATIVE_INT, &l->best_mtry);
        if (file >= 0) H5Fclose(file);
    }
    QR_H5_READ_END;
    return st;
}
