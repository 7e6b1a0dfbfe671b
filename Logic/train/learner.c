/* learner.c - the learner interface: dispatch to the forest and network backends. */
#include "learner.h"

#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "learner_internal.h"
#include "../core/h5util.h"
#include "../nn/nn.h"

static const char *ARCH_NAMES[QR_ARCH_COUNT] = {"qsmrimnet", "rimnet", "aprl-rf", "aprl-nn"};

qr_status qr_arch_from_name(const char *name, qr_arch_id *out) {
    for (int a = 0; a < QR_ARCH_COUNT; a++)
        if (!strcmp(name, ARCH_NAMES[a])) {
            *out = (qr_arch_id)a;
            return QR_OK;
        }
    return qr_fail(QR_ERR_INVALID_ARG, "unknown architecture '%s' (qsmrimnet, rimnet, aprl-rf or aprl-nn)", name);
}

const char *qr_arch_to_name(qr_arch_id a) { return a >= 0 && a < QR_ARCH_COUNT ? ARCH_NAMES[a] : "?"; }

void qr_arch_needs(qr_arch_id a, int *crops, int *context_crops, int *features) {
    *crops = a == QR_ARCH_QSMRIMNET;
    *context_crops = a == QR_ARCH_RIMNET;
    *features = a == QR_ARCH_QSMRIMNET || a == QR_ARCH_APRL_RF || a == QR_ARCH_APRL_NN;
}

/* line[0..len) with every number written to 17 digits (as "%.17g": how the records keep them) in
 * its shortest form that reads back the same: 0.20000000000000001 -> 0.2, for messages. A token is
 * rewritten only when it is exactly what "%.17g" writes for its value, so the result is never
 * longer than the line. */
static void shortest_numbers(const char *line, size_t len, char *out, size_t n) {
    size_t o = 0, i = 0;
    while (i < len && o + 1 < n) {
        const int starts = i == 0 || line[i - 1] == ' ';
        char tok[64];
        const size_t tl = strcspn(line + i, " \n");
        if (starts && tl > 15 && tl < sizeof tok && i + tl <= len) {
            memcpy(tok, line + i, tl);
            tok[tl] = 0;
            char *end, again[40];
            const double v = strtod(tok, &end);
            /* only numbers as the records write them: a hexadecimal hash such as 1234567890123e45 or
             * 0000012345678901 also reads as a number, but is not one */
            snprintf(again, sizeof again, "%.17g", v);
            if (*end == 0 && isfinite(v) && !strcmp(again, tok)) {
                char best[40];
                for (int digits = 1; digits <= 17; digits++) {
                    snprintf(best, sizeof best, "%.*g", digits, v);
                    if (strtod(best, NULL) == v) break;
                }
                const int k = snprintf(out + o, n - o, "%s", best);
                o = k < 0 || (size_t)k >= n - o ? n - 1 : o + (size_t)k;
                i += tl;
                continue;
            }
        }
        out[o++] = line[i++];
    }
    out[o < n ? o : n - 1] = 0;
}

void qr_settings_first_difference(const char *there, const char *now, char *buf, size_t n) {
    buf[0] = 0;
    while (*there || *now) {
        const size_t la = strcspn(there, "\n"), lb = strcspn(now, "\n");
        if (la != lb || memcmp(there, now, la)) {
            char *a = malloc(la + 1), *b = malloc(lb + 1);
            if (a && b) {
                shortest_numbers(there, la, a, la + 1);
                shortest_numbers(now, lb, b, lb + 1);
                snprintf(buf, n, "'%s' there, '%s' now", a, b);
            } else {
                snprintf(buf, n, "'%.*s' there, '%.*s' now", (int)la, there, (int)lb, now);
            }
            free(a);
            free(b);
            return;
        }
        there += la + (there[la] == '\n');
        now += lb + (now[lb] == '\n');
    }
}

int qr_learner_members(const qr_learner *l) { return l->nmembers; }
qr_arch_id qr_learner_arch(const qr_learner *l) { return l->arch; }

void qr_learner_free(qr_learner *l) {
    if (!l) return;
    if (l->arch == QR_ARCH_APRL_RF)
        qr_forest_learner_release(l);
    else
        qr_nn_learner_release(l);
    free(l);
}

qr_status qr_learner_fit(const qr_dataset *d, const int64_t *idx, int64_t n, const qr_fit_options *o, qr_learner **out) {
    *out = NULL;
    if (n < 2) return qr_fail(QR_ERR_EMPTY, "training needs at least two lesions, got %lld", (long long)n);
    int64_t npos = 0;
    for (int64_t k = 0; k < n; k++) npos += d->label[idx[k]];
    if (npos == 0) return qr_fail(QR_ERR_EMPTY, "the training lesions hold no rim+ lesion");
    if (npos == n) return qr_fail(QR_ERR_EMPTY, "the training lesions hold no rim- lesion");
    qr_learner *l = calloc(1, sizeof *l);
    if (!l) return qr_fail(QR_ERR_NOMEM, "out of memory");
    l->arch = o->arch;
    /* the architecture's own defaults where the settings leave them open */
    const qr_train_config cfg = qr_train_config_for(o->cfg, qr_arch_to_name(o->arch));
    qr_fit_options fo = *o;
    fo.cfg = &cfg;
    qr_status st = o->arch == QR_ARCH_APRL_RF ? qr_forest_learner_fit(d, idx, n, &fo, l) : qr_nn_learner_fit(d, idx, n, &fo, l);
    if (st != QR_OK) {
        qr_learner_free(l);
        return st;
    }
    *out = l;
    return QR_OK;
}

qr_status qr_learner_merge(qr_learner *dst, qr_learner *src) {
    if (dst->arch != src->arch) {
        qr_learner_free(src);
        return qr_fail(QR_ERR_INVALID_ARG, "cannot merge a %s model into a %s model", qr_arch_to_name(src->arch),
                       qr_arch_to_name(dst->arch));
    }
    if (dst->arch != QR_ARCH_APRL_RF) {
        qr_status st = qr_nn_learner_merge(dst, src);
        qr_learner_free(src);
        return st;
    }
    if (src->nsel != dst->nsel) {
        qr_learner_free(src);
        return qr_fail(QR_ERR_INVALID_ARG, "cannot merge forests over different features");
    }
    int m = dst->nmembers + src->nmembers;
    qr_forest *f = realloc(dst->forests, (size_t)m * sizeof *f);
    double *imp = realloc(dst->impute, (size_t)m * (size_t)dst->nsel * sizeof *imp);
    if (f) dst->forests = f;
    if (imp) dst->impute = imp;
    if (!f || !imp) {
        qr_learner_free(src);
        return qr_fail(QR_ERR_NOMEM, "out of memory merging forests");
    }
    memcpy(dst->forests + dst->nmembers, src->forests, (size_t)src->nmembers * sizeof *f);
    memcpy(dst->impute + (size_t)dst->nmembers * (size_t)dst->nsel, src->impute,
           (size_t)src->nmembers * (size_t)src->nsel * sizeof *imp);
    dst->nmembers = m;
    src->nmembers = 0; /* the forests now belong to dst */
    free(src->forests);
    src->forests = NULL;
    qr_learner_free(src);
    return QR_OK;
}

qr_status qr_learner_predict(qr_learner *l, const qr_dataset *d, const int64_t *idx, int64_t n, double *prob,
                             double *member_prob) {
    return qr_learner_predict_flipped(l, d, idx, n, -1, prob, member_prob, NULL);
}

qr_status qr_learner_predict_flipped(qr_learner *l, const qr_dataset *d, const int64_t *idx, int64_t n, int flip_axis,
                                     double *prob, double *member_prob, int *image_used) {
    if (image_used) *image_used = l->arch == QR_ARCH_QSMRIMNET || l->arch == QR_ARCH_RIMNET;
    if (flip_axis < -1 || flip_axis > 2) return qr_fail(QR_ERR_INVALID_ARG, "flip axis %d is not -1, 0, 1 or 2", flip_axis);
    if (n == 0) return QR_OK;
    const char *miss = qr_learner_missing_feature(l, d);
    if (miss) return qr_fail(QR_ERR_MODEL, "the model needs the radiomic feature '%s', which the data lacks", miss);
    int M = l->nmembers;
    double *mp = member_prob ? member_prob : malloc((size_t)n * (size_t)M * sizeof *mp);
    if (!mp) return qr_fail(QR_ERR_NOMEM, "out of memory");
    qr_status st = l->arch == QR_ARCH_APRL_RF ? qr_forest_learner_predict(l, d, idx, n, mp)
                                              : qr_nn_learner_predict(l, d, idx, n, flip_axis, mp);
    if (st == QR_OK && prob)
        for (int64_t i = 0; i < n; i++) {
            double s = 0;
            for (int m = 0; m < M; m++) s += mp[i * M + m];
            prob[i] = s / M;
        }
    if (!member_prob) free(mp);
    return st;
}

const char *qr_learner_missing_feature(const qr_learner *l, const qr_dataset *d) {
    if (l->arch == QR_ARCH_APRL_RF) {
        for (int64_t f = 0; f < l->nsel; f++)
            if (qr_dataset_feature(d, l->sel_names[f]) < 0) return l->sel_names[f];
        return NULL;
    }
    return qr_nn_learner_missing_feature(l, d);
}

qr_status qr_learner_save(qr_learner *l, const char *path, const qr_model_info *info) {
    return l->arch == QR_ARCH_APRL_RF ? qr_forest_learner_save(l, path, info) : qr_nn_learner_save(l, path, info);
}

qr_status qr_learner_load(const char *path, const char *device, qr_learner **out, qr_model_info *info) {
    return qr_learner_load_ex(path, device, 0, out, info);
}

const char *qr_learner_describe(const qr_learner *l) {
    if (l->ctx) return qr_nn_context_describe(l->ctx);
    return "cpu (random forest)";
}

void qr_learner_engine(const qr_learner *l, char *out, size_t n) {
    /* "cpu (AVX-512 kernels, 2 threads)" -> "cpu (AVX-512 kernels)" */
    snprintf(out, n, "%s", qr_learner_describe(l));
    char *th = strstr(out, " thread");
    if (!th) return;
    char *from = th, *to = th + strlen(" thread");
    while (from > out && from[-1] >= '0' && from[-1] <= '9') from--;
    if (*to == 's') to++;
    if (from - out >= 2 && from[-2] == ',' && from[-1] == ' ') from -= 2; /* ", 2 threads" */
    else if (to[0] == ',' && to[1] == ' ') to += 2;                    /* "2 threads, " */
    memmove(from, to, strlen(to) + 1);
}

qr_status qr_learner_load_ex(const char *path, const char *device, int threads, qr_learner **out, qr_model_info *info) {
    *out = NULL;
    QR_TRY(qr_h5_check_seal(path, NULL)); /* once, before libhdf5 reads the file */
    qr_learner *l = calloc(1, sizeof *l);
    if (!l) return qr_fail(QR_ERR_NOMEM, "out of memory");
    qr_model_info own;
    if (!info) info = &own;
    qr_status st;
    if (qr_forest_learner_detect(path)) {
        l->arch = QR_ARCH_APRL_RF;
        st = qr_forest_learner_load(path, l, info);
    } else {
        l->arch = QR_ARCH_QSMRIMNET; /* corrected by the loader */
        st = qr_nn_learner_load(path, device, threads, l, info);
    }
    /* stored thresholds are probabilities (absent: NaN); every command that scores with them
     * (predict, evaluate --model, the viewer) gets this check */
    const double stored[2] = {info->threshold_f1, info->threshold_sensitive};
    for (int i = 0; i < 2 && st == QR_OK; i++)
        if (isfinite(stored[i]) && !(stored[i] >= 0 && stored[i] <= 1))
            st = qr_fail(QR_ERR_MODEL, "%s: stored threshold_%s %g is not a probability (model file damaged?)", path,
                         i ? "sensitive" : "f1", stored[i]);
    if (st != QR_OK) {
        qr_learner_free(l);
        return st;
    }
    *out = l;
    return QR_OK;
}

static qr_status training_subjects(const char *path, int check_seal, uint64_t **out, int64_t *n) {
    *out = NULL;
    *n = 0;
    if (check_seal) QR_TRY(qr_h5_check_seal(path, NULL));
    qr_status st = QR_OK;
    QR_H5_READ_BEGIN {
        hid_t f = qr_h5_open_readonly(path);
        if (f < 0) {
            st = qr_fail(QR_ERR_FORMAT, "%s: not a readable HDF5 model file", path);
        } else {
            if (qr_h5_read_u64s(f, "training_qsm_sha256", out, n) == QR_H5_BAD)
                st = qr_fail(QR_ERR_MODEL, "%s: its record of the training subjects (training_qsm_sha256) is damaged", path);
            H5Fclose(f);
        }
    }
    QR_H5_READ_END;
    return st;
}

qr_status qr_model_training_subjects(const char *path, uint64_t **out, int64_t *n) {
    return training_subjects(path, 1, out, n);
}

qr_status qr_model_training_subjects_loaded(const char *path, uint64_t **out, int64_t *n) {
    return training_subjects(path, 0, out, n);
}
