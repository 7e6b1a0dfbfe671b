/* learner_internal.h - the learner's insides, shared by learner.c and its backends
 * (learn_forest.c: aprl-rf; learn_nn.c: the networks). Not part of the public API. */
#ifndef QR_LEARNER_INTERNAL_H
#define QR_LEARNER_INTERNAL_H

#include "../classic/forest.h"
#include "learner.h"

struct qr_nn_context;
struct qr_nn_model;

struct qr_learner {
    qr_arch_id arch;
    int nmembers;
    /* aprl-rf */
    qr_forest *forests;     /* nmembers */
    int64_t nsel;           /* features used */
    char **sel_names;       /* nsel */
    double *impute;         /* (nmembers, nsel): training means for NaN features */
    int best_mtry;          /* of the last member fitted */
    /* networks */
    struct qr_nn_context *ctx;
    struct qr_nn_model *model;
};

qr_status qr_forest_learner_fit(const qr_dataset *d, const int64_t *idx, int64_t n, const qr_fit_options *o,
                                qr_learner *l);
qr_status qr_forest_learner_predict(qr_learner *l, const qr_dataset *d, const int64_t *idx, int64_t n,
                                    double *member_prob);
qr_status qr_forest_learner_save(const qr_learner *l, const char *path, const qr_model_info *info);
/* Loading, for qr_learner_load_ex, which checks the file's seal (core/h5util.h) once before
 * these read it. detect: 1 if the file is a forest model file (root attribute qsmrim_model =
 * "aprl-rf"). */
int qr_forest_learner_detect(const char *path);
qr_status qr_forest_learner_load(const char *path, qr_learner *l, qr_model_info *info);
void qr_forest_learner_release(qr_learner *l);

qr_status qr_nn_learner_fit(const qr_dataset *d, const int64_t *idx, int64_t n, const qr_fit_options *o, qr_learner *l);
qr_status qr_nn_learner_predict(qr_learner *l, const qr_dataset *d, const int64_t *idx, int64_t n, int flip_axis,
                                double *member_prob);
qr_status qr_nn_learner_save(qr_learner *l, const char *path, const qr_model_info *info);
qr_status qr_nn_learner_load(const char *path, const char *device, int threads, qr_learner *l, qr_model_info *info);
qr_status qr_nn_learner_merge(qr_learner *dst, qr_learner *src);
const char *qr_nn_learner_missing_feature(const qr_learner *l, const qr_dataset *d);
void qr_nn_learner_release(qr_learner *l);

#endif
