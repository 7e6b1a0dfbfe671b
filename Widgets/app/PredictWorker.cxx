/* PredictWorker.cxx - prediction in a worker thread (PredictWorker.h). */
#include "PredictWorker.h"

#include <cstring>

PredictWorker::PredictWorker(const QString &qsm, const QString &flair, const QString &lesions,
                             const PredictSettings &settings, QObject *parent)
    : QThread(parent), qsm_(qsm), flair_(flair), lesions_(lesions), settings_(settings) {
    std::memset(&result_, 0, sizeof result_);
}

PredictWorker::~PredictWorker() {
    QR_CANCEL(&cancel_);
    wait();
#ifdef QSMRIM_HAVE_PREDICT
    if (hasResult_) qr_prediction_free(&result_);
#endif
}

bool PredictWorker::available() {
#ifdef QSMRIM_HAVE_PREDICT
    return true;
#else
    return false;
#endif
}

bool PredictWorker::takeResult(qr_prediction *out) {
    if (!hasResult_) return false;
    *out = result_;
    std::memset(&result_, 0, sizeof result_);
    hasResult_ = false;
    return true;
}

void PredictWorker::progressCallback(double fraction, const char *stage, void *user) {
    /* Called on the worker thread (possibly from the library's own threads): a signal is safe,
     * the connection to the window is queued. */
    auto *self = static_cast<PredictWorker *>(user);
    emit self->progressed(fraction, QString::fromUtf8(stage ? stage : ""));
}

void PredictWorker::run() {
#ifdef QSMRIM_HAVE_PREDICT
    qr_predict_options o = qr_predict_options_default();
    QByteArray model = settings_.model.toUtf8(), device = settings_.device.toUtf8();
    QByteArray qsm = qsm_.toUtf8(), flair = flair_.toUtf8(), lesions = lesions_.toUtf8();
    o.model_path = settings_.model.isEmpty() ? nullptr : model.constData();
    if (!settings_.device.isEmpty()) o.device = device.constData();
    o.connectivity = settings_.connectivity;
    o.lesion_input = (qr_lesion_input)settings_.lesionInput;
    o.cancel = &cancel_;
    o.progress = &PredictWorker::progressCallback;
    o.progress_user = this;
    status_ = QR_OK;
    if (!settings_.threshold.isEmpty() && settings_.threshold != "f1") {
        if (settings_.threshold == "sensitive") {
            o.threshold_mode = QR_THRESHOLD_SENSITIVE;
        } else {
            bool ok = false;
            double v = settings_.threshold.toDouble(&ok);
            if (!ok || !(v >= 0.0 && v <= 1.0)) {
                status_ = QR_ERR_INVALID_ARG;
                error_ = QString("threshold '%1' is not f1, sensitive or a probability between 0 and 1")
                             .arg(settings_.threshold);
                return;
            }
            o.threshold_mode = QR_THRESHOLD_VALUE;
            o.threshold_value = v;
        }
    }
    status_ = qr_predict_files(qsm.constData(), flair.constData(), lesions.constData(), &o, &result_);
    if (status_ == QR_OK) hasResult_ = true;
    else error_ = QString::fromUtf8(qr_last_error()); /* thread-local: read on this thread */
#else
    status_ = QR_ERR_UNSUPPORTED;
    error_ = "prediction is not part of this build (Logic/predict has no implementation)";
#endif
}
