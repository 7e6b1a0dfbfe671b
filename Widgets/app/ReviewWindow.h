/*
 * ReviewWindow.h - the main window of qsmrim-review.
 *
 *   +------------------------------------------+----------------------------+
 *   |  QSM axial    QSM coronal    QSM sagittal |  controls: overlay by      |
 *   |                                           |  decision / P(rim+) / off, |
 *   |  FLAIR axial  FLAIR coronal  FLAIR sag.   |  outline / fill, opacity,  |
 *   |                                           |  W/L presets               |
 *   |  (linked: one cursor, one crosshair)      |  lesion queue (sort,filter)|
 *   |                                           |  current lesion + note     |
 *   +------------------------------------------+----------------------------+
 *   | status: reviewer, review file, progress bar + Cancel while predicting  |
 *
 * The window holds the subject (review_subject.h), the open review file (review_file.h, locked)
 * and the queue order (review_queue.h); the C code does the work, the window shows it.
 *
 * Review keys (anywhere in the window except while typing in a text field):
 *   n / p   next / previous lesion of the queue        r / x / u   rim+ / rim- / unsure
 *   t       edit the note (Enter saves, Esc reverts)    o           overlay on / off
 * Every decision and note is written to the review file at once (atomically) and, unless
 * "advance after a decision" is off, the next lesion is selected.
 */
#ifndef QSMRIM_REVIEWWINDOW_H
#define QSMRIM_REVIEWWINDOW_H

#include <QAbstractTableModel>
#include <QMainWindow>
#include <QString>
#include <vector>

#include <vtkSmartPointer.h>

#include "PredictWorker.h"
#include "SliceView.h"

extern "C" {
#include "review_display.h"
#include "review_file.h"
#include "review_queue.h"
#include "review_subject.h"
}

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSlider;
class QTableView;
class vtkImageData;
class vtkLookupTable;
class ReviewWindow;

/* Paths of one subject (and optionally of a predict run's outputs). */
struct SubjectPaths {
    QString qsm, flair, lesions;
    QString table, overlay, probability; /* prediction outputs, optional */
    int connectivity = 26;
    int lesionInput = 0; /* qr_lesion_input: auto, mask, labels */
};

/* The queue as a table: one row per listed lesion, in the window's order. */
class QueueModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { ColId = 0, ColProbability, ColUncertainty, ColVolume, ColModel, ColReview, ColNote, ColCount };
    explicit QueueModel(ReviewWindow *w) : QAbstractTableModel(nullptr), w_(w) {}
    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;
    void reset() {
        beginResetModel();
        endResetModel();
    }
    void rowChanged(int row) { emit dataChanged(index(row, 0), index(row, ColCount - 1)); }

private:
    ReviewWindow *w_;
};

class ReviewWindow : public QMainWindow {
    Q_OBJECT
    friend class QueueModel;

public:
    enum OverlayMode { OverlayDecision = 0, OverlayProbability = 1, OverlayOff = 2 };

    ReviewWindow(const QString &reviewer, const PredictSettings &predict, QWidget *parent = nullptr);
    ~ReviewWindow() override;

    /* Load a subject and open (lock, read, write back) its review file; on failure the window
     * keeps what it showed before and *error says why. Empty reviewPath: the default name
     * beside the lesion map (<lesion map without extension>_review.tsv). */
    bool openSubject(const SubjectPaths &paths, const QString &reviewPath, QString *error);
    /* How cohort subjects without a run record (--results) read their lesion maps: the command
     * line's --connectivity and --lesion-input (default 26, auto). */
    void setLesionReading(int connectivity, int lesionInput) {
        readConnectivity_ = connectivity;
        readLesionInput_ = lesionInput;
    }
    static QString defaultReviewPath(const QString &lesionsPath);
    /* An export path that is writable and none of the subject's files nor the review file. */
    static bool checkExportPath(const SubjectPaths &paths, const QString &reviewPath, const QString &out,
                                QString *error);
    /* The subject's images from a cohort manifest (`qsmrim phantom`'s cohort.tsv: subject qsm flair
     * lesions, relative to its folder; subject "": the first); `chosen` (may be null) receives its
     * name. */
    static bool cohortSubject(const QString &cohort, const QString &subject, SubjectPaths *out, QString *error,
                              QString *chosen = nullptr);
    /* The subject names of a cohort manifest, in its order (false with *error: unreadable, no
     * subject column, no subjects). */
    static bool cohortNames(const QString &cohort, QStringList *names, QString *error);
    /* A subject's outputs of `qsmrim predict --manifest ... --out-dir results` (Logic/predict/batch.h)
     * into out's table, overlay and probability, and its review file results/SUBJECT/review.tsv
     * into *review unless it is set already. */
    static bool resultsPaths(const QString &results, const QString &subject, SubjectPaths *out, QString *review,
                             QString *error);
    /* Open subject `name` of a cohort manifest, with its outputs under `results` when that is set,
     * and remember both: ] and [ then step through the manifest's subjects. `reviewPath` as for
     * openSubject (empty: results/SUBJECT/review.tsv with results, else the default). `given`: the
     * command line's connectivity and, when it names a table, the outputs to open instead of the
     * results' - kept, with reviewPath, for this subject when ] and [ come back to it. */
    bool openCohortSubject(const QString &cohort, const QString &results, const QString &name,
                           const QString &reviewPath, QString *error, const SubjectPaths *given = nullptr);
    /* What File > Open cohort subject does once a manifest and a subject are chosen (script
     * command open-cohort). */
    bool openChosenCohortSubject(const QString &cohort, const QString &name, QString *error);

    /* ---- used by the script mode and the tests (each goes through the same path as the UI) ---- */
    SliceView *view(const QString &name) const;
    QList<SliceView *> views() const;
    QComboBox *overlayModeBox() const { return overlayMode_; }
    QComboBox *overlayStyleBox() const { return overlayStyle_; }
    QSlider *opacitySlider() const { return opacity_; }
    QComboBox *sortBox() const { return sortBy_; }
    QComboBox *filterBox() const { return filter_; }
    QComboBox *presetBox(int modality) const { return modality == 0 ? qsmPreset_ : flairPreset_; }
    QTableView *queueTable() const { return table_; }
    QLineEdit *noteEdit() const { return note_; }
    bool selectLesionById(int id);           /* as a click on its row; false if not listed */
    int currentLesionId() const;              /* 0 if none */
    bool predictionRunning() const { return worker_ != nullptr; }
    QString lastPredictionMessage() const { return predictMessage_; }
    bool exportReview(const QString &path, QString *error);
    /* File > Save prediction outputs without its dialog (DIR/rim_overlay.nrrd, rim_probability.nrrd,
     * rim_table.tsv, replaced without asking): the prediction run in this window. */
    bool savePrediction(const QString &dir, QString *error);
    bool writeState(const QString &path, QString *error);
    bool saveScreenshot(const QString &path, QString *error);
    void renderAll();

public slots:
    void startPrediction() { beginPrediction(false); }
    /* A run cancelled before its thread starts (scripts: its outcome is "cancelled" whatever the
     * machine's load, where a later cancel races a run that fails or ends quickly). */
    void startCancelledPrediction() { beginPrediction(true); }
    void cancelPrediction();
    void nextSubject() { stepSubject(+1); }
    void previousSubject() { stepSubject(-1); }
    /* } : the next lesion of the cohort run's queue (DIR/queue.tsv, most probable first, across
     * subjects) that has no review decision, opening its subject: after the lesion the last } went
     * to (the current lesion before the first), then from the top again. */
    void nextInCohortQueue();
    void nextLesion() { step(+1); }
    void previousLesion() { step(-1); }
    void decideRimPositive() { decide(QR_REVIEW_RIM_POS); }
    void decideRimNegative() { decide(QR_REVIEW_RIM_NEG); }
    void decideUnsure() { decide(QR_REVIEW_UNSURE); }
    void editNote();

signals:
    void predictionFinished(bool ok);

protected:
    bool eventFilter(QObject *obj, QEvent *ev) override;
    void closeEvent(QCloseEvent *ev) override;

private slots:
    void onTableSelection();
    void onCursorPicked(double i, double j, double k);
    void onSliceStepped(int axis, int delta);
    void onWindowLevelDragged(int modality, double windowFactor, double levelFraction);
    void onOverlayControls();
    void onPreset(int modality);
    void onOrderControls();
    void onNoteEdited();
    void onPredictProgress(double fraction, const QString &stage);
    void onPredictFinished();
    void openSubjectDialog();
    void openCohortDialog();
    void exportDialog();
    void screenshotDialog();
    void savePredictionDialog();
    void showKeys();

private:
    void beginPrediction(bool cancelled);
    void buildUi();
    void buildMenus();
    void closeSubject();
    /* Write decisions whose save failed (qr_review_flush). Interactive: retry / discard / cancel
     * dialog; scripted: the error is reported. False if they are still unsaved (keep the review). */
    bool flushReview();
    /* After a save, successful or not: if it merged a change another program made to the review
     * file, show the merged decisions (queue order, table, overlay, info), and on success say so. */
    void noticeOutsideChange();
    void setImages();
    bool computeOutlines();
    void applyOverlayImages();
    void rebuildOrder(int64_t keepItem);
    void selectItem(int64_t item, bool zoomViews);
    void step(int dir);
    void stepSubject(int dir);
    /* A cohort subject's images, outputs and review file (cohortSubject, resultsPaths, given_). */
    bool cohortPaths(const QString &cohort, const QString &results, const QString &name, SubjectPaths *p,
                     QString *review, QString *chosen, QString *error) const;
    void decide(int decision);
    /* Record the current lesion's row: `decision` by the current reviewer, now, with the model
     * values shown; with `keep` (its row), only the note changes: who decided, when and what the
     * model showed them stay. */
    bool recordRow(int decision, const QString &note, QString *error, const qr_review_row *keep = nullptr);
    void updateLut();
    void updateLegend();
    void updateInfo();
    void setCursor(const double ijk[3]);
    void applyWindowLevel(int modality);
    void computePresets();
    void reportError(const QString &title, const QString &message);
    void setStatusText();
    int64_t currentPosition() const;

    QString reviewer_;
    PredictSettings predictSettings_;
    SubjectPaths paths_;
    QString cohort_, results_, subjectName_; /* the open subject's cohort manifest, its results folder, name */
    int readConnectivity_ = 26, readLesionInput_ = 0; /* the command line's: cohort subjects without a run record */
    struct Given {                            /* what the command line named for its cohort subject */
        bool valid = false;
        QString subject, review;
        SubjectPaths outputs;
    } given_;
    bool loaded_ = false;
    qr_review_subject subject_;
    qr_review review_;
    bool reviewOpen_ = false;
    std::vector<int64_t> order_;   /* item indices of the listed lesions, in queue order */
    int64_t current_ = -1;         /* item index of the current lesion */
    int64_t autoSelected_ = -1;    /* the lesion the window chose when the subject opened (-1: none) */
    QString queueSubject_;         /* where the last } went in the cohort queue (empty: nowhere yet) */
    int queueLesion_ = 0;
    bool selecting_ = false;       /* guard: selection changes made by the window itself */
    double cursor_[3] = {0, 0, 0};
    double window_[2] = {300, 1}, level_[2] = {0, 0};
    struct Preset {
        QString name;
        double window, level;
    };
    std::vector<Preset> presets_[2];
    qr_lesion_colors colors_;
    bool havePrediction_ = false;
    qr_prediction prediction_;     /* an in-viewer prediction (for "Save prediction outputs") */
    bool ownPrediction_ = false;

    SliceView *views_[2][QR_VIEW_COUNT] = {};
    vtkSmartPointer<vtkImageData> images_[2];
    vtkSmartPointer<vtkImageData> labelImage_;
    qr_volume outlines_[3];                            /* outer lesion outlines, one per slice axis */
    vtkSmartPointer<vtkImageData> outlineImages_[3];
    vtkSmartPointer<vtkLookupTable> lut_;

    QueueModel *model_ = nullptr;
    QTableView *table_ = nullptr;
    QComboBox *overlayMode_ = nullptr, *overlayStyle_ = nullptr, *sortBy_ = nullptr, *filter_ = nullptr;
    QComboBox *qsmPreset_ = nullptr, *flairPreset_ = nullptr;
    QSlider *opacity_ = nullptr;
    QCheckBox *advance_ = nullptr;
    QLineEdit *note_ = nullptr;
    QLabel *info_ = nullptr, *legend_ = nullptr, *status_ = nullptr;
    QPushButton *predictButton_ = nullptr, *cancelButton_ = nullptr;
    QProgressBar *progress_ = nullptr;
    PredictWorker *worker_ = nullptr;
    QString predictMessage_;
};

#endif
