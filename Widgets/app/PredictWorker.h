/*
 * PredictWorker.h - `qsmrim predict` in a worker thread: qr_predict_files() (Logic/predict) with
 * its progress callback forwarded as a Qt signal and its cancel flag set by the Cancel button.
 * The GUI stays responsive; a cancelled or failed run changes nothing in the window.
 *
 * Builds without the predict implementation (QSMRIM_HAVE_PREDICT undefined) report "prediction is
 * not part of this build" instead of running.
 */
#ifndef QSMRIM_PREDICTWORKER_H
#define QSMRIM_PREDICTWORKER_H

#include <csignal>

#include <QString>
#include <QThread>

extern "C" {
#include "core/status.h"
#include "predict/predict.h"
}

struct PredictSettings {
    QString model;      /* empty: the shipped model */
    QString device;     /* "auto", "cpu", "cuda", "cuda:N" */
    QString threshold;  /* "f1", "sensitive" or a probability; empty: f1 */
    int connectivity = 26;
    int lesionInput = 0; /* qr_lesion_input */
};

class PredictWorker : public QThread {
    Q_OBJECT
public:
    PredictWorker(const QString &qsm, const QString &flair, const QString &lesions, const PredictSettings &settings,
                  QObject *parent = nullptr);
    ~PredictWorker() override;

    /* 1 if this build can predict. */
    static bool available();

    /* Ask the running prediction to stop (polled between stages and lesions). */
    void cancel() { QR_CANCEL(&cancel_); }
    bool cancelRequested() const { return QR_CANCELLED(&cancel_); }

    /* After finished(): the status, the message of a failure, and the result (owned here until
     * taken; the caller frees a taken result with qr_prediction_free). */
    qr_status status() const { return status_; }
    QString error() const { return error_; }
    bool takeResult(qr_prediction *out);

signals:
    void progressed(double fraction, const QString &stage);

protected:
    void run() override;

private:
    static void progressCallback(double fraction, const char *stage, void *user);
    QString qsm_, flair_, lesions_;
    PredictSettings settings_;
    volatile sig_atomic_t cancel_ = 0;
    qr_status status_ = QR_OK;
    QString error_;
    qr_prediction result_;
    bool hasResult_ = false;
};

#endif
