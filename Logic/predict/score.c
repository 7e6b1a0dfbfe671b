/* score.c - lesion scoring with a model file. The CNN engine is not part of this build yet. */
#include "score.h"

#include <stdlib.h>

struct qr_scorer {
    int unused;
};

qr_status qr_scorer_open(const char *model_path, const char *device, int threads, qr_scorer **out) {
    (void)model_path;
    (void)device;
    (void)threads;
    *out = NULL;
    return qr_fail(QR_ERR_UNSUPPORTED, "lesion scoring needs the CNN engine, which is not part of this build yet");
}
const char *qr_scorer_model_path(const qr_scorer *s) { (void)s; return ""; }
const char *qr_scorer_device(const qr_scorer *s) { (void)s; return ""; }
void qr_scorer_thresholds(const qr_scorer *s, double *t_f1, double *t_sensitive) {
    (void)s;
    *t_f1 = *t_sensitive = 0.5;
}
qr_status qr_scorer_score(qr_scorer *s, const qr_score_request *req, qr_lesion_result *results) {
    (void)s;
    (void)req;
    (void)results;
    return qr_fail(QR_ERR_UNSUPPORTED, "lesion scoring is not part of this build yet");
}
void qr_scorer_close(qr_scorer *s) { free(s); }
