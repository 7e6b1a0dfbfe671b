/* ReviewWindow.cxx - the main window of qsmrim-review (ReviewWindow.h). */
#include "ReviewWindow.h"

#include "predict/batch.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QCloseEvent>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QPainter>
#include <QPixmap>
#include <QProgressBar>
#include <QPushButton>
#include <QSaveFile>
#include <QSlider>
#include <QSplitter>
#include <QStatusBar>
#include <QTableView>
#include <QTextEdit>
#include <QAbstractSpinBox>
#include <QVBoxLayout>

#include <vtkFloatArray.h>
#include <vtkImageData.h>
#include <vtkIntArray.h>
#include <vtkLookupTable.h>
#include <vtkPointData.h>

extern "C" {
#include "core/fileutil.h"
#include "core/resources.h"
#include "core/tsv.h"
#include "io/outputs.h"
}

/* ---------------------------------------------------------------- the queue table */

int QueueModel::rowCount(const QModelIndex &parent) const { return parent.isValid() ? 0 : (int)w_->order_.size(); }

int QueueModel::columnCount(const QModelIndex &parent) const { return parent.isValid() ? 0 : ColCount; }

static QString formatProbability(double p) { return std::isnan(p) ? QString("-") : QString::number(p, 'f', 3); }
/* The spread of P(rim+) over test-time flips and model members: none is measured (shown "-") when
 * one pass of a one-member model made the prediction, predict's default. */
static QString formatSpread(double u) { return u == 0 ? QString("-") : formatProbability(u); }

QVariant QueueModel::data(const QModelIndex &index, int role) const {
    if (!index.isValid() || index.row() >= (int)w_->order_.size()) return QVariant();
    const qr_queue_item &it = w_->subject_.queue.items[w_->order_[index.row()]];
    const qr_review_row *row = w_->reviewOpen_ ? qr_review_find(&w_->review_, it.id) : nullptr;
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case ColId: return it.id;
        case ColProbability: return formatProbability(it.probability);
        case ColUncertainty: return formatSpread(it.uncertainty);
        case ColVolume: return QString::number(it.volume_mm3, 'f', 1);
        case ColModel: return QString(qr_model_decision_name(it.model_decision));
        case ColReview: return row && row->decision != QR_REVIEW_NONE ? QString(qr_review_decision_name(row->decision)) : QString();
        case ColNote: return row ? QString::fromUtf8(row->note) : QString();
        }
    } else if (role == Qt::TextAlignmentRole) {
        if (index.column() <= ColVolume) return int(Qt::AlignRight | Qt::AlignVCenter);
    } else if (role == Qt::DecorationRole && (index.column() == ColModel || index.column() == ColReview)) {
        int d = index.column() == ColModel ? it.model_decision
                                           : (row ? qr_display_decision(QR_MODEL_NONE, row->decision) : QR_MODEL_NONE);
        if (d == QR_MODEL_NONE) return QVariant();
        qr_rgb c = w_->colors_.decision[d];
        return QColor(c.r, c.g, c.b);
    } else if (role == Qt::ToolTipRole && index.column() == ColReview && row) {
        return QString("%1 by %2 at %3").arg(qr_review_decision_name(row->decision)).arg(row->reviewer).arg(row->time);
    }
    return QVariant();
}

QVariant QueueModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal) return QVariant();
    if (role == Qt::ToolTipRole && section == ColUncertainty)
        return QString("spread of P(rim+) over test-time flips and model members (predict --flips, or a model of "
                       "several members); - when one pass of one model made the prediction");
    if (role != Qt::DisplayRole) return QVariant();
    static const char *names[ColCount] = {"lesion", "P(rim+)", "\u00b1", "mm\u00b3", "model", "review", "note"};
    return QString::fromUtf8(names[section]);
}

/* ---------------------------------------------------------------- construction */

ReviewWindow::ReviewWindow(const QString &reviewer, const PredictSettings &predict, QWidget *parent)
    : QMainWindow(parent), reviewer_(reviewer), predictSettings_(predict) {
    std::memset(&subject_, 0, sizeof subject_);
    std::memset(&review_, 0, sizeof review_);
    review_.lock_fd = -1;
    std::memset(&prediction_, 0, sizeof prediction_);
    std::memset(outlines_, 0, sizeof outlines_);
    colors_ = qr_lesion_colors_default();
    char ctbl[QR_PATH_MAX];
    if (qr_resource_path("QSMRimLesions.ctbl", ctbl, sizeof ctbl) == QR_OK) {
        if (qr_lesion_colors_read_ctbl(ctbl, &colors_) != QR_OK)
            qr_log(QR_LOG_WARNING, "%s; using the built-in colours", qr_last_error());
    }
    lut_ = vtkSmartPointer<vtkLookupTable>::New();
    lut_->SetNumberOfTableValues(1);
    lut_->SetTableRange(-0.5, 0.5);
    lut_->SetTableValue(0, 0, 0, 0, 0);
    buildUi();
    buildMenus();
    setWindowTitle("qsmrim-review");
    qApp->installEventFilter(this);
    setStatusText();
}

ReviewWindow::~ReviewWindow() {
    qApp->removeEventFilter(this);
    if (worker_) {
        worker_->cancel();
        worker_->wait();
        delete worker_;
        worker_ = nullptr;
    }
    closeSubject();
}

void ReviewWindow::buildUi() {
    auto *split = new QSplitter(Qt::Horizontal, this);
    auto *viewsBox = new QWidget(split);
    auto *grid = new QGridLayout(viewsBox);
    grid->setContentsMargins(2, 2, 2, 2);
    grid->setSpacing(3);
    for (int m = 0; m < 2; m++)
        for (int o = 0; o < QR_VIEW_COUNT; o++) {
            auto *v = new SliceView((SliceView::Modality)m, (qr_view_orientation)o, viewsBox);
            v->setObjectName(v->name());
            views_[m][o] = v;
            grid->addWidget(v, m, o);
            connect(v, &SliceView::cursorPicked, this, &ReviewWindow::onCursorPicked);
            connect(v, &SliceView::sliceStepped, this, &ReviewWindow::onSliceStepped);
            connect(v, &SliceView::windowLevelDragged, this, &ReviewWindow::onWindowLevelDragged);
        }

    auto *panel = new QWidget(split);
    panel->setMinimumWidth(450);
    auto *pl = new QVBoxLayout(panel);
    pl->setContentsMargins(4, 4, 4, 4);

    auto *ovBox = new QGroupBox("Overlay", panel);
    auto *ovl = new QGridLayout(ovBox);
    overlayMode_ = new QComboBox(ovBox);
    overlayMode_->addItem("By decision", "decision");
    overlayMode_->addItem("By P(rim+)", "probability");
    overlayMode_->addItem("Off", "off");
    overlayStyle_ = new QComboBox(ovBox);
    overlayStyle_->addItem("Outline (lesion left visible)", "outline");
    overlayStyle_->addItem("Fill", "fill");
    opacity_ = new QSlider(Qt::Horizontal, ovBox);
    opacity_->setRange(0, 100);
    opacity_->setValue(70);
    legend_ = new QLabel(ovBox);
    ovl->addWidget(new QLabel("Colour", ovBox), 0, 0);
    ovl->addWidget(overlayMode_, 0, 1);
    ovl->addWidget(new QLabel("Style", ovBox), 1, 0);
    ovl->addWidget(overlayStyle_, 1, 1);
    ovl->addWidget(new QLabel("Opacity", ovBox), 2, 0);
    ovl->addWidget(opacity_, 2, 1);
    ovl->addWidget(legend_, 3, 0, 1, 2);
    connect(overlayStyle_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, &ReviewWindow::onOverlayControls);
    connect(overlayMode_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, &ReviewWindow::onOverlayControls);
    connect(opacity_, &QSlider::valueChanged, this, &ReviewWindow::onOverlayControls);
    pl->addWidget(ovBox);

    auto *wlBox = new QGroupBox("Window / level", panel);
    auto *wll = new QFormLayout(wlBox);
    qsmPreset_ = new QComboBox(wlBox);
    flairPreset_ = new QComboBox(wlBox);
    wll->addRow("QSM", qsmPreset_);
    wll->addRow("FLAIR", flairPreset_);
    connect(qsmPreset_, QOverload<int>::of(&QComboBox::activated), this, [this] { onPreset(0); });
    connect(flairPreset_, QOverload<int>::of(&QComboBox::activated), this, [this] { onPreset(1); });
    connect(qsmPreset_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, [this] { onPreset(0); });
    connect(flairPreset_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, [this] { onPreset(1); });
    pl->addWidget(wlBox);

    auto *qBox = new QGroupBox("Lesion queue", panel);
    auto *ql = new QVBoxLayout(qBox);
    auto *ctl = new QHBoxLayout();
    sortBy_ = new QComboBox(qBox);
    sortBy_->addItem("P(rim+), highest first", "probability");
    sortBy_->addItem("Uncertainty, highest first", "uncertainty");
    sortBy_->addItem("Volume, largest first", "volume");
    sortBy_->addItem("Lesion id", "id");
    filter_ = new QComboBox(qBox);
    struct F {
        const char *label, *name;
    };
    static const F filters[] = {{"All lesions", "all"},          {"Unreviewed", "unreviewed"},
                                {"Reviewed", "reviewed"},        {"Model: rim+", "model-rim+"},
                                {"Model: review", "model-review"}, {"Model: rim-", "model-rim-"},
                                {"Reviewed rim+", "reviewed-rim+"}, {"Reviewed rim-", "reviewed-rim-"},
                                {"Reviewed unsure", "reviewed-unsure"}};
    for (const F &f : filters) filter_->addItem(f.label, f.name);
    ctl->addWidget(new QLabel("Sort", qBox));
    ctl->addWidget(sortBy_, 1);
    ctl->addWidget(new QLabel("Show", qBox));
    ctl->addWidget(filter_, 1);
    ql->addLayout(ctl);
    model_ = new QueueModel(this);
    model_->setParent(this);
    table_ = new QTableView(qBox);
    table_->setModel(model_);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->verticalHeader()->setVisible(true); /* row numbers: the queue position */
    table_->verticalHeader()->setDefaultSectionSize(20);
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->setAlternatingRowColors(true);
    table_->setObjectName("queue");
    ql->addWidget(table_, 1);
    connect(sortBy_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, &ReviewWindow::onOrderControls);
    connect(filter_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, &ReviewWindow::onOrderControls);
    connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this, &ReviewWindow::onTableSelection);
    pl->addWidget(qBox, 1);

    auto *lBox = new QGroupBox("Current lesion", panel);
    auto *ll = new QVBoxLayout(lBox);
    info_ = new QLabel(lBox);
    info_->setTextFormat(Qt::RichText);
    info_->setWordWrap(true);
    ll->addWidget(info_);
    auto *buttons = new QHBoxLayout();
    struct B {
        const char *text, *tip;
        void (ReviewWindow::*slot)();
    };
    static const B bs[] = {{"\u25c0 p", "Previous lesion (p)", &ReviewWindow::previousLesion},
                           {"rim+ (r)", "Rim-positive (r)", &ReviewWindow::decideRimPositive},
                           {"rim\u2212 (x)", "Rim-negative (x)", &ReviewWindow::decideRimNegative},
                           {"unsure (u)", "Unsure (u)", &ReviewWindow::decideUnsure},
                           {"n \u25b6", "Next lesion (n)", &ReviewWindow::nextLesion}};
    for (const B &b : bs) {
        auto *pb = new QPushButton(QString::fromUtf8(b.text), lBox);
        pb->setToolTip(b.tip);
        pb->setFocusPolicy(Qt::NoFocus);
        connect(pb, &QPushButton::clicked, this, b.slot);
        buttons->addWidget(pb);
    }
    ll->addLayout(buttons);
    note_ = new QLineEdit(lBox);
    note_->setPlaceholderText("note (t to edit, Enter saves, Esc reverts)");
    note_->setObjectName("note");
    note_->installEventFilter(this);
    connect(note_, &QLineEdit::editingFinished, this, &ReviewWindow::onNoteEdited);
    connect(note_, &QLineEdit::returnPressed, this, [this] { views_[0][0]->setFocus(); });
    ll->addWidget(note_);
    advance_ = new QCheckBox("Advance to the next lesion after a decision", lBox);
    advance_->setChecked(true);
    advance_->setFocusPolicy(Qt::NoFocus);
    ll->addWidget(advance_);
    pl->addWidget(lBox);

    predictButton_ = new QPushButton("Run prediction", panel);
    predictButton_->setFocusPolicy(Qt::NoFocus);
    predictButton_->setEnabled(PredictWorker::available());
    if (!PredictWorker::available()) predictButton_->setToolTip("prediction is not part of this build");
    connect(predictButton_, &QPushButton::clicked, this, &ReviewWindow::startPrediction);
    pl->addWidget(predictButton_);

    split->addWidget(viewsBox);
    split->addWidget(panel);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 1);
    split->setSizes({820, 460});
    setCentralWidget(split);

    status_ = new QLabel(this);
    progress_ = new QProgressBar(this);
    progress_->setRange(0, 1000);
    progress_->setMaximumWidth(260);
    progress_->setVisible(false);
    cancelButton_ = new QPushButton("Cancel", this);
    cancelButton_->setVisible(false);
    cancelButton_->setFocusPolicy(Qt::NoFocus);
    connect(cancelButton_, &QPushButton::clicked, this, &ReviewWindow::cancelPrediction);
    statusBar()->addWidget(status_, 1);
    statusBar()->addPermanentWidget(progress_);
    statusBar()->addPermanentWidget(cancelButton_);
    updateLegend();
    resize(1280, 860);
}

void ReviewWindow::buildMenus() {
    QMenu *file = menuBar()->addMenu("&File");
    file->addAction("Open subject...", this, &ReviewWindow::openSubjectDialog, QKeySequence::Open);
    file->addAction("Open cohort subject...", this, &ReviewWindow::openCohortDialog);
    file->addAction("Next subject  ]", this, &ReviewWindow::nextSubject);
    file->addAction("Previous subject  [", this, &ReviewWindow::previousSubject);
    file->addAction("Next unreviewed in the cohort queue  }", this, &ReviewWindow::nextInCohortQueue);
    file->addSeparator();
    file->addAction("Export reviewed table...", this, &ReviewWindow::exportDialog, QKeySequence("Ctrl+E"));
    file->addAction("Save screenshot...", this, &ReviewWindow::screenshotDialog);
    QAction *save = file->addAction("Save prediction outputs...", this, &ReviewWindow::savePredictionDialog);
    save->setEnabled(PredictWorker::available());
    file->addSeparator();
    file->addAction("Quit", this, &QWidget::close, QKeySequence::Quit);
    QMenu *pred = menuBar()->addMenu("&Prediction");
    QAction *run = pred->addAction("Run prediction", this, &ReviewWindow::startPrediction);
    run->setEnabled(PredictWorker::available());
    pred->addAction("Cancel prediction", this, &ReviewWindow::cancelPrediction);
    QMenu *help = menuBar()->addMenu("&Help");
    help->addAction("Keys and mouse...", this, &ReviewWindow::showKeys); /* a dialog: "..." */
}

/* ---------------------------------------------------------------- loading */

QString ReviewWindow::defaultReviewPath(const QString &lesionsPath) {
    QString p = lesionsPath;
    while (p.endsWith('/')) p.chop(1);
    static const char *exts[] = {".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"};
    for (const char *e : exts)
        if (p.endsWith(e, Qt::CaseInsensitive)) {
            p.chop((int)strlen(e));
            break;
        }
    return p + "_review.tsv";
}

void ReviewWindow::closeSubject() {
    onNoteEdited(); /* a note typed but not confirmed is kept, as when another lesion is chosen */
    if (worker_) { /* a prediction of this subject must not land on the next one */
        worker_->disconnect(this);
        worker_->cancel();
        worker_->wait();
        delete worker_;
        worker_ = nullptr;
        progress_->setVisible(false);
        cancelButton_->setVisible(false);
        predictButton_->setEnabled(PredictWorker::available());
        predictMessage_ = "cancelled";
    }
    for (int m = 0; m < 2; m++)
        for (int o = 0; o < QR_VIEW_COUNT; o++) views_[m][o]->clearData();
    images_[0] = images_[1] = nullptr;
    labelImage_ = nullptr;
    for (int a = 0; a < 3; a++) {
        outlineImages_[a] = nullptr;
        qr_volume_free(&outlines_[a]);
    }
    order_.clear();
    current_ = autoSelected_ = -1;
    if (model_) model_->reset();
    if (reviewOpen_) qr_review_close(&review_);
    reviewOpen_ = false;
    if (loaded_) qr_review_subject_free(&subject_);
    loaded_ = false;
#ifdef QSMRIM_HAVE_PREDICT
    if (ownPrediction_) qr_prediction_free(&prediction_);
#endif
    ownPrediction_ = false;
    havePrediction_ = false;
}

bool ReviewWindow::openSubject(const SubjectPaths &paths, const QString &reviewPath, QString *error) {
    QByteArray qsm = paths.qsm.toUtf8(), flair = paths.flair.toUtf8(), les = paths.lesions.toUtf8();
    QByteArray tab = paths.table.toUtf8(), ov = paths.overlay.toUtf8(), pr = paths.probability.toUtf8();
    qr_review_inputs in;
    std::memset(&in, 0, sizeof in);
    in.qsm = qsm.constData();
    in.flair = flair.constData();
    in.lesions = les.constData();
    in.table = paths.table.isEmpty() ? nullptr : tab.constData();
    in.overlay = paths.overlay.isEmpty() ? nullptr : ov.constData();
    in.probability = paths.probability.isEmpty() ? nullptr : pr.constData();
    in.connectivity = paths.connectivity;
    in.lesion_input = paths.lesionInput;
    QApplication::setOverrideCursor(Qt::WaitCursor);
    qr_review_subject s;
    qr_status st = qr_review_subject_load(&in, &s);
    QApplication::restoreOverrideCursor();
    if (st != QR_OK) {
        *error = QString::fromUtf8(qr_last_error());
        return false;
    }
    /* decisions of the open review whose save failed are written (or given up) before it is let go */
    if (!flushReview()) {
        *error = QString("%1: decisions are not saved yet; the open subject stays open").arg(QString::fromUtf8(review_.path));
        qr_review_subject_free(&s);
        return false;
    }
    QString rp = reviewPath.isEmpty() ? defaultReviewPath(paths.lesions) : reviewPath;
    /* The same review file open here already: release our own lock first. */
    QString oldPath = reviewOpen_ ? QString::fromUtf8(review_.path) : QString();
    auto fileKey = [](const QString &f) {
        QString c = QFileInfo(f).canonicalFilePath(); /* links followed, as qr_review_open does */
        return c.isEmpty() ? QFileInfo(f).absoluteFilePath() : c;
    };
    bool same = reviewOpen_ && fileKey(oldPath) == fileKey(rp);
    if (same) {
        qr_review_close(&review_);
        reviewOpen_ = false;
    }
    qr_review r;
    if (qr_review_open(rp.toUtf8().constData(), &r) != QR_OK) {
        *error = QString::fromUtf8(qr_last_error());
        qr_review_subject_free(&s);
        if (same && qr_review_open(oldPath.toUtf8().constData(), &review_) == QR_OK) reviewOpen_ = true;
        return false;
    }
    closeSubject();
    subject_ = s;
    loaded_ = true;
    review_ = r;
    reviewOpen_ = true;
    paths_ = paths;
    havePrediction_ = qr_queue_has_prediction(&subject_.queue);

    if (subject_.flair_resampled) qr_log(QR_LOG_NOTICE, "FLAIR resampled onto the QSM grid");
    if (subject_.lesions_resampled) qr_log(QR_LOG_NOTICE, "lesion map resampled onto the QSM grid");
    if (subject_.qsm_nonfinite)
        qr_log(QR_LOG_WARNING, "QSM: %lld NaN/Inf voxels shown as 0", (long long)subject_.qsm_nonfinite);
    if (subject_.flair_nonfinite)
        qr_log(QR_LOG_WARNING, "FLAIR: %lld NaN/Inf voxels shown as 0", (long long)subject_.flair_nonfinite);
    if (!paths.table.isEmpty() && subject_.n_unpredicted)
        qr_log(QR_LOG_WARNING, "%lld lesions of the lesion map are not in the prediction table",
               (long long)subject_.n_unpredicted);
    qr_review_warn_mismatches(&review_, &subject_.queue, "kept in the file");
    qr_review_notice_others(&review_, reviewer_.toUtf8().constData());

    setImages();
    computePresets();
    updateLut();
    updateLegend();
    rebuildOrder(-1);
    int64_t pos = qr_queue_resume(&subject_.queue, &review_, order_.data(), (int64_t)order_.size());
    if (pos >= 0) selectItem(order_[pos], true);
    else updateInfo();
    autoSelected_ = current_;
    setWindowTitle(QString("qsmrim-review \u2014 %1 \u2014 %2").arg(QFileInfo(paths.lesions).fileName()).arg(reviewer_));
    setStatusText();
    views_[0][0]->setFocus();
    renderAll();
    return true;
}

static vtkSmartPointer<vtkImageData> wrapVolume(const qr_volume &v) {
    auto img = vtkSmartPointer<vtkImageData>::New();
    img->SetDimensions((int)v.geom.size[0], (int)v.geom.size[1], (int)v.geom.size[2]);
    img->SetSpacing(v.geom.spacing[0], v.geom.spacing[1], v.geom.spacing[2]);
    img->SetOrigin(0, 0, 0);
    vtkIdType n = (vtkIdType)qr_volume_nvox(&v);
    if (v.dtype == QR_FLOAT32) {
        vtkNew<vtkFloatArray> a;
        a->SetArray(static_cast<float *>(v.data), n, 1); /* 1: VTK does not free the C volume's data */
        img->GetPointData()->SetScalars(a);
    } else {
        vtkNew<vtkIntArray> a;
        a->SetArray(static_cast<int *>(v.data), n, 1);
        img->GetPointData()->SetScalars(a);
    }
    return img;
}

void ReviewWindow::setImages() {
    images_[0] = wrapVolume(subject_.qsm);
    images_[1] = wrapVolume(subject_.flair);
    labelImage_ = wrapVolume(subject_.labels);
    qr_view_frame frames[QR_VIEW_COUNT];
    if (qr_view_frames(&subject_.qsm.geom, frames) != QR_OK) {
        reportError("Cannot orient the views", QString::fromUtf8(qr_last_error()));
        return;
    }
    if (frames[0].oblique)
        qr_log(QR_LOG_NOTICE, "the QSM grid is tilted against the anatomical axes: views are index-aligned and "
                              "labelled by the nearest anatomical direction");
    for (int m = 0; m < 2; m++)
        for (int o = 0; o < QR_VIEW_COUNT; o++) {
            views_[m][o]->setUnitsLabel(m == 0 ? "ppb" : "");
            views_[m][o]->setData(images_[m], labelImage_, frames[o], lut_);
        }
    for (int a = 0; a < 3; a++) cursor_[a] = (subject_.qsm.geom.size[a] - 1) / 2.0;
    if (!computeOutlines()) reportError("Cannot draw lesion outlines", QString::fromUtf8(qr_last_error()));
    onOverlayControls();
}

bool ReviewWindow::computeOutlines() {
    for (int a = 0; a < 3; a++) {
        qr_volume o;
        if (qr_outline_labels(&subject_.labels, a, &o) != QR_OK) return false;
        qr_volume_free(&outlines_[a]);
        outlines_[a] = o;
        outlineImages_[a] = wrapVolume(outlines_[a]);
    }
    return true;
}

void ReviewWindow::applyOverlayImages() {
    bool outline = overlayStyle_->currentData().toString() == "outline";
    for (SliceView *v : views()) {
        if (!v->hasData()) continue;
        int a = v->frame().slice_axis;
        v->setOverlayImage(outline && outlineImages_[a] ? outlineImages_[a].Get() : labelImage_.Get());
    }
}

/* Percentile (0..100) of the voxels of v that are non-zero, or - with `within` - that lie in a
 * lesion (every stride-th voxel, at most ~2 million looked at). NaN if there are none. */
static double percentile(const qr_volume &v, double q, const qr_volume *within = nullptr) {
    const float *d = qr_volume_f32(&v);
    const int32_t *lab = within ? qr_volume_i32(within) : nullptr;
    int64_t n = qr_volume_nvox(&v), stride = std::max<int64_t>(1, n / 2000000);
    std::vector<float> vals;
    for (int64_t i = 0; i < n; i += within ? 1 : stride)
        if (within ? lab[i] > 0 : d[i] != 0.0f) vals.push_back(d[i]);
    if (vals.empty()) return NAN;
    size_t k = (size_t)std::llround(q / 100.0 * (double)(vals.size() - 1));
    std::nth_element(vals.begin(), vals.begin() + (long)k, vals.end());
    return vals[k];
}

void ReviewWindow::computePresets() {
    /* QSM is in ppb relative to normal-appearing white matter: symmetric windows around 0. The
     * default, +-80 ppb, shows paramagnetic rims of a few tens of ppb. */
    presets_[0].clear();
    presets_[0].push_back({"\u00b180 ppb (rims)", 160, 0});
    presets_[0].push_back({"\u00b1150 ppb", 300, 0});
    presets_[0].push_back({"\u00b1300 ppb (veins)", 600, 0});
    double q1 = percentile(subject_.qsm, 1), q99 = percentile(subject_.qsm, 99);
    if (!std::isnan(q1)) presets_[0].push_back({"Auto (1\u201399%)", std::max(1e-3, q99 - q1), (q1 + q99) / 2});
    /* FLAIR has arbitrary units: windows from its own percentiles (non-zero voxels). The default
     * runs from the brain's 1st percentile to the lesions' 99th, so that hyperintense lesions are
     * bright without being clipped. */
    presets_[1].clear();
    double f1 = percentile(subject_.flair, 1), l99 = percentile(subject_.flair, 99, &subject_.labels);
    if (!std::isnan(f1) && !std::isnan(l99) && l99 > f1)
        presets_[1].push_back({"Lesions bright (1% brain \u2013 99% lesions)", l99 - f1, (f1 + l99) / 2});
    double f05 = percentile(subject_.flair, 0.5), f995 = percentile(subject_.flair, 99.5);
    double f0 = percentile(subject_.flair, 0), f100 = percentile(subject_.flair, 100);
    if (std::isnan(f05)) f05 = 0, f995 = 1, f0 = 0, f100 = 1; /* an all-zero FLAIR */
    presets_[1].push_back({"Auto (0.5\u201399.5%)", std::max(1e-3, f995 - f05), (f05 + f995) / 2});
    presets_[1].push_back({"Full range", std::max(1e-3, f100 - f0), (f0 + f100) / 2});
    for (int m = 0; m < 2; m++) {
        QComboBox *box = presetBox(m);
        box->blockSignals(true);
        box->clear();
        for (const Preset &p : presets_[m]) box->addItem(p.name);
        box->setCurrentIndex(0);
        box->blockSignals(false);
        window_[m] = presets_[m][0].window;
        level_[m] = presets_[m][0].level;
        applyWindowLevel(m);
    }
}

/* ---------------------------------------------------------------- overlay */

void ReviewWindow::updateLut() {
    int32_t maxid = 0;
    for (int64_t u = 0; u < subject_.queue.n; u++) maxid = std::max(maxid, subject_.queue.items[u].id);
    /* one table entry per label value: label maps with values above this are not drawn */
    const int32_t maxLut = 4000000;
    if (maxid > maxLut) {
        static bool told = false;
        if (!told)
            reportError("Overlay not drawn", QString("the lesion map holds label %1; the overlay draws labels up to %2")
                                                 .arg(maxid)
                                                 .arg(maxLut));
        told = true;
        lut_->SetNumberOfTableValues(1);
        lut_->SetTableRange(-0.5, 0.5);
        lut_->SetTableValue(0, 0, 0, 0, 0);
        lut_->Modified();
        return;
    }
    lut_->SetNumberOfTableValues((vtkIdType)maxid + 1);
    /* value v -> entry floor((v + 0.5) / (maxid + 1) * (maxid + 1)) = v */
    lut_->SetTableRange(-0.5, maxid + 0.5);
    /* every entry transparent black at once (RGBA bytes): one SetTableValue per label value took
     * 0.1 s per decision with labels in the millions */
    std::memset(lut_->GetTable()->GetPointer(0), 0, 4 * ((size_t)maxid + 1));
    bool byProb = overlayMode_->currentData().toString() == "probability";
    for (int64_t u = 0; u < subject_.queue.n; u++) {
        const qr_queue_item &it = subject_.queue.items[u];
        qr_rgb c;
        if (byProb) {
            c = std::isnan(it.probability) ? colors_.none : qr_probability_color(it.probability);
        } else {
            int d = qr_display_decision(it.model_decision, reviewOpen_ ? qr_review_decision_of(&review_, it.id) : 0);
            c = d == QR_MODEL_NONE ? colors_.none : colors_.decision[d];
        }
        lut_->SetTableValue(it.id, c.r / 255.0, c.g / 255.0, c.b / 255.0, 1.0);
    }
    lut_->Modified();
}

void ReviewWindow::updateLegend() {
    const int w = 360, h = 18;
    QPixmap pm(w, h);
    pm.fill(palette().color(QPalette::Window));
    QPainter p(&pm);
    QString mode = overlayMode_->currentData().toString();
    if (mode == "probability") {
        for (int x = 0; x < 220; x++) {
            qr_rgb c = qr_probability_color(x / 219.0);
            p.setPen(QColor(c.r, c.g, c.b));
            p.drawLine(x + 40, 2, x + 40, h - 3);
        }
        p.setPen(palette().color(QPalette::WindowText));
        p.drawText(QRect(0, 0, 38, h), Qt::AlignRight | Qt::AlignVCenter, "P 0");
        p.drawText(QRect(264, 0, 90, h), Qt::AlignLeft | Qt::AlignVCenter, "1 (rim+)");
    } else if (mode == "decision") {
        struct E {
            int code;
            const char *text;
        };
        static const E es[] = {{QR_MODEL_RIM_POS, "rim+"}, {QR_MODEL_REVIEW, "review/unsure"}, {QR_MODEL_RIM_NEG, "rim\u2212"}};
        int x = 0;
        for (const E &e : es) {
            qr_rgb c = colors_.decision[e.code];
            p.fillRect(x, 3, 14, h - 6, QColor(c.r, c.g, c.b));
            p.setPen(palette().color(QPalette::WindowText));
            QString t = QString::fromUtf8(e.text);
            p.drawText(QRect(x + 18, 0, 120, h), Qt::AlignLeft | Qt::AlignVCenter, t);
            x += 18 + p.fontMetrics().horizontalAdvance(t) + 14;
        }
        p.fillRect(x, 3, 14, h - 6, QColor(colors_.none.r, colors_.none.g, colors_.none.b));
        p.drawText(QRect(x + 18, 0, 120, h), Qt::AlignLeft | Qt::AlignVCenter, "none");
    }
    p.end();
    legend_->setPixmap(pm);
}

void ReviewWindow::onOverlayControls() {
    QString mode = overlayMode_->currentData().toString();
    double op = opacity_->value() / 100.0;
    for (SliceView *v : views()) {
        v->setOverlayVisible(mode != "off");
        v->setOverlayOpacity(op);
    }
    applyOverlayImages();
    updateLut();
    updateLegend();
    renderAll();
}

/* ---------------------------------------------------------------- window / level */

void ReviewWindow::applyWindowLevel(int modality) {
    for (int o = 0; o < QR_VIEW_COUNT; o++) views_[modality][o]->setWindowLevel(window_[modality], level_[modality]);
}

void ReviewWindow::onPreset(int modality) {
    int k = presetBox(modality)->currentIndex();
    if (k < 0 || k >= (int)presets_[modality].size()) return;
    window_[modality] = presets_[modality][k].window;
    level_[modality] = presets_[modality][k].level;
    applyWindowLevel(modality);
    renderAll();
}

void ReviewWindow::onWindowLevelDragged(int modality, double windowFactor, double levelFraction) {
    if (!loaded_) return;
    window_[modality] = std::max(1e-3, window_[modality] * windowFactor);
    level_[modality] += levelFraction * window_[modality];
    applyWindowLevel(modality);
    for (int o = 0; o < QR_VIEW_COUNT; o++) views_[modality][o]->refresh();
}

/* ---------------------------------------------------------------- cursor */

void ReviewWindow::setCursor(const double ijk[3]) {
    for (int a = 0; a < 3; a++) {
        double hi = (double)(subject_.qsm.geom.size[a] - 1);
        cursor_[a] = std::max(0.0, std::min(ijk[a], hi));
    }
    for (SliceView *v : views()) v->setCursor(cursor_);
}

void ReviewWindow::onCursorPicked(double i, double j, double k) {
    if (!loaded_) return;
    double ijk[3] = {i, j, k};
    setCursor(ijk);
    renderAll();
}

void ReviewWindow::onSliceStepped(int axis, int delta) {
    if (!loaded_) return;
    double ijk[3] = {cursor_[0], cursor_[1], cursor_[2]};
    ijk[axis] = std::round(ijk[axis]) + delta;
    setCursor(ijk);
    renderAll();
}

void ReviewWindow::renderAll() {
    for (SliceView *v : views()) v->refresh();
}

/* ---------------------------------------------------------------- queue and selection */

void ReviewWindow::onOrderControls() { rebuildOrder(current_); }

void ReviewWindow::rebuildOrder(int64_t keepItem) {
    if (!loaded_) return;
    static const qr_queue_sort sorts[] = {QR_SORT_PROBABILITY, QR_SORT_UNCERTAINTY, QR_SORT_VOLUME, QR_SORT_ID};
    int si = std::max(0, std::min(sortBy_->currentIndex(), 3));
    qr_queue_filter f = qr_filter_all();
    QString fn = filter_->currentData().toString();
    const unsigned reviewed = (1u << QR_REVIEW_RIM_POS) | (1u << QR_REVIEW_RIM_NEG) | (1u << QR_REVIEW_UNSURE);
    if (fn == "unreviewed") f.review = 1u << QR_REVIEW_NONE;
    else if (fn == "reviewed") f.review = reviewed;
    else if (fn == "model-rim+") f.model = 1u << QR_MODEL_RIM_POS;
    else if (fn == "model-review") f.model = 1u << QR_MODEL_REVIEW;
    else if (fn == "model-rim-") f.model = 1u << QR_MODEL_RIM_NEG;
    else if (fn == "reviewed-rim+") f.review = 1u << QR_REVIEW_RIM_POS;
    else if (fn == "reviewed-rim-") f.review = 1u << QR_REVIEW_RIM_NEG;
    else if (fn == "reviewed-unsure") f.review = 1u << QR_REVIEW_UNSURE;
    std::vector<int64_t> order((size_t)std::max<int64_t>(1, subject_.queue.n));
    int64_t n = 0;
    if (qr_queue_order(&subject_.queue, &review_, sorts[si], f, order.data(), &n) != QR_OK) {
        reportError("Cannot order the queue", QString::fromUtf8(qr_last_error()));
        return;
    }
    order.resize((size_t)n);
    selecting_ = true;
    order_ = order;
    model_->reset();
    int64_t pos = keepItem >= 0 ? qr_queue_position(order_.data(), n, keepItem) : -1;
    if (pos >= 0) {
        table_->selectRow((int)pos);
        table_->scrollTo(model_->index((int)pos, 0));
    }
    selecting_ = false;
    table_->resizeColumnsToContents();
    updateInfo(); /* "N of M listed" follows the new order */
}

int64_t ReviewWindow::currentPosition() const {
    return current_ >= 0 ? qr_queue_position(order_.data(), (int64_t)order_.size(), current_) : -1;
}

void ReviewWindow::onTableSelection() {
    if (selecting_ || !loaded_) return;
    QModelIndexList rows = table_->selectionModel()->selectedRows();
    if (rows.isEmpty()) return;
    int r = rows.first().row();
    if (r >= 0 && r < (int)order_.size() && order_[r] != current_) selectItem(order_[r], true);
}

bool ReviewWindow::selectLesionById(int id) {
    if (!loaded_) return false;
    int64_t item = qr_queue_find(&subject_.queue, id);
    int64_t pos = item >= 0 ? qr_queue_position(order_.data(), (int64_t)order_.size(), item) : -1;
    if (pos < 0) return false;
    /* the same path as a click on the row */
    table_->selectRow((int)pos);
    if (current_ != item) selectItem(item, true);
    return true;
}

int ReviewWindow::currentLesionId() const { return current_ >= 0 ? subject_.queue.items[current_].id : 0; }

void ReviewWindow::selectItem(int64_t item, bool zoomViews) {
    if (!loaded_ || item < 0 || item >= subject_.queue.n) return;
    if (item != current_) onNoteEdited(); /* the navigation buttons take no focus from the field */
    current_ = item;
    const qr_queue_item &it = subject_.queue.items[item];
    setCursor(it.center_ijk);
    if (zoomViews) {
        /* Zoom: at least 1.5x the lesion's largest extent visible on each side of its centre
         * (between 12 and 80 mm). */
        double ext = 0;
        for (int a = 0; a < 3; a++)
            ext = std::max(ext, (double)(it.bbox[a + 3] - it.bbox[a] + 1) * subject_.qsm.geom.spacing[a]);
        double half = std::max(12.0, std::min(80.0, 1.5 * ext));
        for (SliceView *v : views()) v->centerOn(cursor_, half);
    }
    int64_t pos = currentPosition();
    selecting_ = true;
    if (pos >= 0) {
        table_->selectRow((int)pos);
        table_->scrollTo(model_->index((int)pos, 0));
    } else {
        table_->clearSelection();
    }
    selecting_ = false;
    const qr_review_row *row = qr_review_find(&review_, it.id);
    note_->blockSignals(true);
    note_->setText(row ? QString::fromUtf8(row->note) : QString());
    note_->blockSignals(false);
    updateInfo();
    renderAll();
}

void ReviewWindow::step(int dir) {
    if (!loaded_) return;
    int64_t p = qr_queue_step(currentPosition(), (int64_t)order_.size(), dir);
    if (p >= 0) selectItem(order_[p], true);
}

void ReviewWindow::updateInfo() {
    if (!loaded_ || current_ < 0) {
        info_->setText(loaded_ ? "No lesion selected." : "No subject loaded (File \u25b8 Open subject).");
        return;
    }
    const qr_queue_item &it = subject_.queue.items[current_];
    const qr_review_row *row = qr_review_find(&review_, it.id);
    int64_t pos = currentPosition();
    QString where = pos >= 0 ? QString("%1 of %2 listed").arg(pos + 1).arg(order_.size()) : QString("not listed");
    QString model = std::isnan(it.probability)
                        ? QString("no prediction")
                        : QString("P(rim+) %1%2, model: <b>%3</b>")
                              .arg(it.probability, 0, 'f', 3)
                              .arg(it.uncertainty == 0 ? QString() : QString(" \u00b1 %1").arg(it.uncertainty, 0, 'f', 3))
                              .arg(qr_model_decision_name(it.model_decision));
    QString rev = row && row->decision != QR_REVIEW_NONE
                      ? QString("review: <b>%1</b> (%2, %3)")
                            .arg(qr_review_decision_name(row->decision))
                            .arg(QString::fromUtf8(row->reviewer).toHtmlEscaped())
                            .arg(row->time)
                      : QString("review: <i>not reviewed</i>");
    info_->setText(QString("<b>Lesion %1</b> (%2) &nbsp; %3 mm\u00b3, centre RAS (%4, %5, %6) mm<br>%7<br>%8")
                       .arg(it.id)
                       .arg(where)
                       .arg(it.volume_mm3, 0, 'f', 1)
                       .arg(it.center_ras[0], 0, 'f', 1)
                       .arg(it.center_ras[1], 0, 'f', 1)
                       .arg(it.center_ras[2], 0, 'f', 1)
                       .arg(model)
                       .arg(rev));
}

/* ---------------------------------------------------------------- decisions and notes */

bool ReviewWindow::recordRow(int decision, const QString &note, QString *error, const qr_review_row *keep) {
    const qr_queue_item &it = subject_.queue.items[current_];
    /* copies: the record replaces (and frees) the row `keep` points into */
    QByteArray who = keep ? QByteArray(keep->reviewer) : reviewer_.toUtf8(), text = note.toUtf8();
    qr_review_row row;
    std::memset(&row, 0, sizeof row);
    row.lesion_id = it.id;
    row.decision = decision;
    row.reviewer = who.data();
    row.model_probability = keep ? keep->model_probability : it.probability;
    row.model_decision = keep ? keep->model_decision : it.model_decision;
    if (keep) std::memcpy(row.time, keep->time, sizeof row.time); /* "" (a hand-made row): now */
    row.note = text.data();
    const qr_status s = qr_review_record(&review_, &row);
    if (s != QR_OK) *error = QString::fromUtf8(qr_last_error());
    noticeOutsideChange(); /* a merge may have changed the rows even when the write then failed */
    return s == QR_OK;
}

void ReviewWindow::noticeOutsideChange() {
    if (!reviewOpen_) return;
    if (review_.outside[0]) {
        reportError("Review file changed outside the viewer",
                    QString::fromUtf8(review_.outside) + ".\nThe queue shows the merged decisions.");
        review_.outside[0] = '\0';
    }
    if (review_.rows_replaced) { /* decisions, colours, the filtered order and the counts */
        review_.rows_replaced = 0;
        updateLut();
        rebuildOrder(current_);
    }
}

void ReviewWindow::decide(int decision) {
    if (!loaded_ || !reviewOpen_ || current_ < 0) return;
    int64_t item = current_;
    int64_t pos = currentPosition();
    int64_t next = (advance_->isChecked() && pos >= 0 && pos + 1 < (int64_t)order_.size()) ? order_[pos + 1] : item;
    QString err;
    int id = subject_.queue.items[item].id;
    QString replaced; /* another reviewer's decision this one replaces: said */
    if (const qr_review_row *old = qr_review_find(&review_, id))
        if (old->decision != QR_REVIEW_NONE && reviewer_ != QString::fromUtf8(old->reviewer))
            replaced = QString(" (replacing %1's %2)")
                           .arg(QString::fromUtf8(old->reviewer), QString::fromUtf8(qr_review_decision_name(old->decision)));
    if (!recordRow(decision, note_->text(), &err)) {
        reportError("Decision not saved",
                    err + "\nThe decision is kept in memory and written with the next successful save; closing the "
                          "window or the subject tries again first.");
    } else {
        statusBar()->showMessage(QString("lesion %1: %2 saved to %3%4")
                                     .arg(id)
                                     .arg(qr_review_decision_name(decision))
                                     .arg(QFileInfo(QString::fromUtf8(review_.path)).fileName())
                                     .arg(replaced),
                                 replaced.isEmpty() ? 4000 : 8000);
    }
    updateLut();
    rebuildOrder(item);
    if (next != item && qr_queue_position(order_.data(), (int64_t)order_.size(), next) >= 0) selectItem(next, true);
    else selectItem(item, false);
}

void ReviewWindow::editNote() {
    if (!loaded_ || current_ < 0) return;
    note_->setFocus();
    note_->selectAll();
}

void ReviewWindow::onNoteEdited() {
    if (!loaded_ || !reviewOpen_ || current_ < 0) return;
    const qr_queue_item &it = subject_.queue.items[current_];
    const qr_review_row *row = qr_review_find(&review_, it.id);
    QString stored = row ? QString::fromUtf8(row->note) : QString();
    if (note_->text().trimmed() == stored) return;
    QString err;
    /* a note on a decided lesion changes the note only: the decision stays its reviewer's, of its time */
    const bool decided = row && row->decision != QR_REVIEW_NONE;
    if (!recordRow(row ? row->decision : QR_REVIEW_NONE, note_->text(), &err, decided ? row : nullptr))
        reportError("Note not saved", err);
    else statusBar()->showMessage(QString("lesion %1: note saved").arg(it.id), 4000);
    int64_t pos = currentPosition();
    if (pos >= 0) model_->rowChanged((int)pos);
    updateInfo();
}

bool ReviewWindow::eventFilter(QObject *obj, QEvent *ev) {
    if (ev->type() != QEvent::KeyPress) return QMainWindow::eventFilter(obj, ev);
    auto *ke = static_cast<QKeyEvent *>(ev);
    if (obj == note_ && ke->key() == Qt::Key_Escape) {
        const qr_review_row *row = (loaded_ && current_ >= 0) ? qr_review_find(&review_, subject_.queue.items[current_].id) : nullptr;
        note_->blockSignals(true);
        note_->setText(row ? QString::fromUtf8(row->note) : QString());
        note_->blockSignals(false);
        views_[0][0]->setFocus();
        return true;
    }
    QWidget *w = qobject_cast<QWidget *>(obj);
    if (!w || w->window() != this || QApplication::activeModalWidget() || QApplication::activePopupWidget())
        return QMainWindow::eventFilter(obj, ev);
    if (ke->modifiers() & (Qt::ControlModifier | Qt::AltModifier | Qt::MetaModifier))
        return QMainWindow::eventFilter(obj, ev);
    /* typing into a text field is typing, not reviewing */
    QWidget *fw = QApplication::focusWidget();
    if (qobject_cast<QLineEdit *>(fw) || qobject_cast<QTextEdit *>(fw) || qobject_cast<QAbstractSpinBox *>(fw) ||
        (qobject_cast<QComboBox *>(fw) && static_cast<QComboBox *>(fw)->isEditable()))
        return QMainWindow::eventFilter(obj, ev);
    switch (ke->key()) {
    case Qt::Key_BracketRight: nextSubject(); return true;
    case Qt::Key_BraceRight: nextInCohortQueue(); return true;
    case Qt::Key_BracketLeft: previousSubject(); return true;
    case Qt::Key_N: nextLesion(); return true;
    case Qt::Key_P: previousLesion(); return true;
    case Qt::Key_R: decideRimPositive(); return true;
    case Qt::Key_X: decideRimNegative(); return true;
    case Qt::Key_U: decideUnsure(); return true;
    case Qt::Key_T: editNote(); return true;
    case Qt::Key_O: {
        static int lastMode = OverlayDecision;
        int m = overlayMode_->currentIndex();
        if (m != OverlayOff) {
            lastMode = m;
            overlayMode_->setCurrentIndex(OverlayOff);
        } else {
            overlayMode_->setCurrentIndex(lastMode);
        }
        return true;
    }
    default: break;
    }
    return QMainWindow::eventFilter(obj, ev);
}

/* ---------------------------------------------------------------- prediction */

void ReviewWindow::beginPrediction(bool cancelled) {
    if (!loaded_) {
        reportError("Run prediction", "open a subject first");
        return;
    }
    if (worker_) return;
    if (!PredictWorker::available()) {
        predictMessage_ = "prediction is not part of this build";
        reportError("Run prediction", predictMessage_);
        emit predictionFinished(false);
        return;
    }
    PredictSettings s = predictSettings_;
    s.connectivity = paths_.connectivity;
    s.lesionInput = paths_.lesionInput;
    worker_ = new PredictWorker(paths_.qsm, paths_.flair, paths_.lesions, s, this);
    if (cancelled) worker_->cancel();
    connect(worker_, &PredictWorker::progressed, this, &ReviewWindow::onPredictProgress, Qt::QueuedConnection);
    connect(worker_, &QThread::finished, this, &ReviewWindow::onPredictFinished, Qt::QueuedConnection);
    progress_->setValue(0);
    progress_->setFormat("prediction %p%");
    progress_->setVisible(true);
    cancelButton_->setVisible(true);
    predictButton_->setEnabled(false);
    predictMessage_ = "running";
    statusBar()->showMessage("Prediction running...");
    worker_->start();
}

void ReviewWindow::cancelPrediction() {
    if (!worker_) return;
    worker_->cancel();
    statusBar()->showMessage("Cancelling the prediction...");
}

void ReviewWindow::onPredictProgress(double fraction, const QString &stage) {
    progress_->setValue((int)std::lround(1000.0 * std::max(0.0, std::min(1.0, fraction))));
    progress_->setFormat(stage + " %p%");
}

void ReviewWindow::onPredictFinished() {
    PredictWorker *w = worker_;
    worker_ = nullptr;
    progress_->setVisible(false);
    cancelButton_->setVisible(false);
    predictButton_->setEnabled(PredictWorker::available());
    bool ok = false;
    if (!w) return;
    qr_prediction p;
    if (w->status() == QR_OK && w->takeResult(&p)) {
#ifdef QSMRIM_HAVE_PREDICT
        QString err;
        std::vector<qr_queue_prediction> pred((size_t)p.n);
        for (int64_t u = 0; u < p.n; u++)
            pred[(size_t)u] = {p.lesions[u].id, p.lesions[u].probability, p.lesions[u].uncertainty, p.lesions[u].decision};
        /* all or nothing: on failure the subject, its label image and the queue order are untouched */
        if (qr_review_subject_set_labels(&subject_, &p.labels, pred.data(), p.n) != QR_OK)
            err = QString::fromUtf8(qr_last_error());
        if (!err.isEmpty()) {
            qr_prediction_free(&p);
            predictMessage_ = "failed: " + err;
            reportError("Prediction", err);
        } else {
            /* the label map may have been replaced: point the overlay image at the new data */
            vtkDataArray *arr = labelImage_->GetPointData()->GetScalars();
            static_cast<vtkIntArray *>(arr)->SetArray(static_cast<int *>(subject_.labels.data),
                                                      (vtkIdType)qr_volume_nvox(&subject_.labels), 1);
            arr->Modified();
            labelImage_->Modified();
            if (!computeOutlines()) reportError("Cannot draw lesion outlines", QString::fromUtf8(qr_last_error()));
            applyOverlayImages();
            if (ownPrediction_) qr_prediction_free(&prediction_);
            /* kept for File > Save prediction outputs, which writes the overlay, the probability map and
             * the table; the window holds its own QSM, FLAIR and (copied) labels, so the
             * prediction's are freed: three volumes, 510 MB on a 0.5 mm whole-brain grid */
            qr_volume_free(&p.qsm);
            qr_volume_free(&p.flair);
            qr_volume_free(&p.labels);
            prediction_ = p;
            ownPrediction_ = true;
            havePrediction_ = true;
            if (reviewOpen_) qr_review_warn_mismatches(&review_, &subject_.queue, "kept in the file");
            int64_t keep = current_;
            updateLut();
            rebuildOrder(keep);
            /* a lesion the reviewer went to stays; the one the window chose on opening gives way to
             * the first unreviewed lesion of the new order (the most probable one) */
            const int64_t pos = current_ == autoSelected_
                                    ? qr_queue_resume(&subject_.queue, &review_, order_.data(), (int64_t)order_.size())
                                    : -1;
            if (pos >= 0) {
                selectItem(order_[pos], true);
                autoSelected_ = current_;
            } else if (keep >= 0 && keep < subject_.queue.n) {
                selectItem(keep, false);
            } else {
                step(+1);
            }
            predictMessage_ = QString("done: %1 lesions, %2 rim+, %3 to review (model %4, %5)")
                                  .arg(p.n)
                                  .arg(p.n_rim_positive)
                                  .arg(p.n_review)
                                  .arg(QString::fromUtf8(p.model_used))
                                  .arg(QString::fromUtf8(p.device_used));
            statusBar()->showMessage("Prediction " + predictMessage_, 8000);
            ok = true;
        }
#endif
    } else if (w->status() == QR_ERR_CANCELLED) {
        predictMessage_ = "cancelled";
        statusBar()->showMessage("Prediction cancelled; nothing changed.", 6000);
    } else {
        predictMessage_ = "failed: " + w->error();
        reportError("Prediction failed", w->error());
    }
    w->deleteLater();
    renderAll();
    emit predictionFinished(ok);
}

/* ---------------------------------------------------------------- export, screenshots, state */

bool ReviewWindow::checkExportPath(const SubjectPaths &paths, const QString &reviewPath, const QString &out,
                                   QString *error) {
    const struct {
        QString path;
        const char *what;
        int image;
    } files[7] = {{paths.qsm, "the QSM", 1},
                  {paths.flair, "the FLAIR", 1},
                  {paths.lesions, "the lesion map", 1},
                  {paths.table, "the prediction table", 0},
                  {paths.overlay, "the prediction overlay", 1},
                  {paths.probability, "the probability map", 1},
                  {reviewPath, "the review file", 0}};
    QByteArray bytes[7];
    qr_io_path in[7];
    for (int i = 0; i < 7; i++) {
        bytes[i] = files[i].path.toUtf8();
        in[i] = {files[i].path.isEmpty() ? nullptr : bytes[i].constData(), files[i].what, files[i].image, 0};
    }
    QByteArray o = out.toUtf8();
    const qr_io_path outs[1] = {{o.constData(), "the export", 0, 0}};
    if (qr_outputs_check(in, 7, outs, 1) != QR_OK) {
        *error = QString::fromUtf8(qr_last_error());
        return false;
    }
    return true;
}

bool ReviewWindow::exportReview(const QString &path, QString *error) {
    if (!loaded_ || !reviewOpen_) {
        *error = "no subject is open";
        return false;
    }
    if (!checkExportPath(paths_, QString::fromUtf8(review_.path), path, error)) return false;
    if (qr_review_export(&subject_.queue, &review_, path.toUtf8().constData()) != QR_OK) {
        *error = QString::fromUtf8(qr_last_error());
        return false;
    }
    return true;
}

bool ReviewWindow::saveScreenshot(const QString &path, QString *error) {
    renderAll();
    QApplication::processEvents();
    QPixmap pm = grab();
    /* written beside the destination and renamed into place, as every output */
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly) || !pm.save(&f, "PNG") || !f.commit()) {
        *error = QString("%1: cannot write the screenshot (%2)").arg(path).arg(f.errorString());
        return false;
    }
    return true;
}

QList<SliceView *> ReviewWindow::views() const {
    QList<SliceView *> out;
    for (int m = 0; m < 2; m++)
        for (int o = 0; o < QR_VIEW_COUNT; o++) out << views_[m][o];
    return out;
}

SliceView *ReviewWindow::view(const QString &name) const {
    for (SliceView *v : views())
        if (v->name() == name) return v;
    return nullptr;
}

bool ReviewWindow::writeState(const QString &path, QString *error) {
    QJsonObject o;
    o["reviewer"] = reviewer_;
    o["loaded"] = loaded_;
    o["review_file"] = reviewOpen_ ? QString::fromUtf8(review_.path) : QString();
    o["subject"] = subjectName_;
    o["table"] = loaded_ ? paths_.table : QString();
    o["lesion"] = currentLesionId();
    o["position"] = (qint64)currentPosition();
    o["listed"] = (qint64)order_.size();
    o["lesions"] = (qint64)(loaded_ ? subject_.queue.n : 0);
    o["has_prediction"] = loaded_ && qr_queue_has_prediction(&subject_.queue);
    o["overlay_mode"] = overlayMode_->currentData().toString();
    o["overlay_style"] = overlayStyle_->currentData().toString();
    o["opacity"] = opacity_->value() / 100.0;
    o["sort"] = sortBy_->currentData().toString();
    o["filter"] = filter_->currentData().toString();
    o["note_text"] = note_->text();
    o["prediction"] = predictMessage_;
    o["prediction_running"] = worker_ != nullptr;
    o["cursor_ijk"] = QJsonArray{cursor_[0], cursor_[1], cursor_[2]};
    o["lesion_text"] = info_->text(); /* the current lesion's box and its row of the queue, as shown */
    QJsonArray cells;
    const int64_t pos = currentPosition();
    if (pos >= 0)
        for (int c = 0; c < model_->columnCount(QModelIndex()); c++)
            cells.append(model_->data(model_->index((int)pos, c), Qt::DisplayRole).toString());
    o["queue_row"] = cells;
    QJsonObject wl;
    wl["qsm"] = QJsonArray{window_[0], level_[0]};
    wl["flair"] = QJsonArray{window_[1], level_[1]};
    o["window_level"] = wl;
    QJsonArray ord;
    for (int64_t item : order_) ord.append(subject_.queue.items[item].id);
    o["order"] = ord;
    QJsonObject dec;
    if (reviewOpen_)
        for (int64_t i = 0; i < review_.n; i++)
            dec[QString::number(review_.rows[i].lesion_id)] = qr_review_decision_name(review_.rows[i].decision);
    o["decisions"] = dec;
    QJsonObject vs;
    for (SliceView *v : views()) {
        QJsonObject vo;
        vo["slice"] = v->slice();
        vo["slices"] = v->sliceCount();
        vo["slice_axis"] = v->frame().slice_axis;
        vo["half_height_mm"] = v->halfHeightMm();
        vo["size"] = QJsonArray{v->width(), v->height()};
        QPoint tl = v->mapTo(this, QPoint(0, 0));
        vo["rect_in_window"] = QJsonArray{tl.x(), tl.y(), v->width(), v->height()};
        /* widget position of voxel index (i, j, k) on the shown slice: origin + i*di + j*dj + k*dk */
        double z[3] = {0, 0, 0};
        QPointF p0, pa;
        if (loaded_ && v->indexToWidget(z, &p0)) {
            vo["index_origin_px"] = QJsonArray{p0.x(), p0.y()};
            const char *names[3] = {"di_px", "dj_px", "dk_px"};
            for (int a = 0; a < 3; a++) {
                double e[3] = {0, 0, 0};
                e[a] = 1;
                v->indexToWidget(e, &pa);
                if (a == v->frame().slice_axis) pa = p0;
                vo[names[a]] = QJsonArray{pa.x() - p0.x(), pa.y() - p0.y()};
            }
        }
        vs[v->name()] = vo;
    }
    o["views"] = vs;
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly) || f.write(QJsonDocument(o).toJson()) < 0 || !f.commit()) {
        *error = QString("%1: cannot write (%2)").arg(path).arg(f.errorString());
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- dialogs */

void ReviewWindow::reportError(const QString &title, const QString &message) {
    fprintf(stderr, "qsmrim-review: %s: %s\n", title.toUtf8().constData(), message.toUtf8().constData());
    statusBar()->showMessage(title + ": " + message, 10000);
    if (property("interactive").toBool()) QMessageBox::warning(this, title, message);
}

void ReviewWindow::setStatusText() {
    status_->setText(QString("reviewer: <b>%1</b> &nbsp; review file: %2")
                         .arg(reviewer_.toHtmlEscaped())
                         .arg(reviewOpen_ ? QString::fromUtf8(review_.path).toHtmlEscaped() : QString("-")));
}

bool ReviewWindow::flushReview() {
    if (!reviewOpen_) return true;
    for (;;) {
        const qr_status saved = qr_review_flush(&review_);
        noticeOutsideChange();
        if (saved == QR_OK) break;
        QString err = QString::fromUtf8(qr_last_error());
        if (!property("interactive").toBool()) {
            reportError("Decisions not saved", err);
            return false;
        }
        QMessageBox::StandardButton b = QMessageBox::warning(
            this, "Decisions not saved",
            err + "\n\nDecisions made since the last successful save are only in memory. Retry after freeing the "
                  "folder, discard them, or cancel and keep working.",
            QMessageBox::Retry | QMessageBox::Discard | QMessageBox::Cancel, QMessageBox::Retry);
        if (b == QMessageBox::Discard) return true;
        if (b != QMessageBox::Retry) return false;
    }
    return true;
}

void ReviewWindow::closeEvent(QCloseEvent *ev) {
    if (!flushReview()) {
        ev->ignore();
        return;
    }
    if (worker_) {
        worker_->cancel();
        worker_->wait();
    }
    ev->accept();
}

void ReviewWindow::openSubjectDialog() {
    QDialog dlg(this);
    dlg.setWindowTitle("Open subject");
    auto *form = new QFormLayout(&dlg);
    const char *labels[] = {"QSM", "FLAIR", "Lesion map", "Prediction table (optional)", "Prediction overlay (optional)",
                            "Probability map (optional)", "Review file (optional)"};
    QLineEdit *edits[7];
    for (int i = 0; i < 7; i++) {
        auto *row = new QHBoxLayout();
        edits[i] = new QLineEdit(&dlg);
        auto *browse = new QPushButton("...", &dlg);
        connect(browse, &QPushButton::clicked, &dlg, [&dlg, e = edits[i], i] {
            QString f = i == 6 ? QFileDialog::getSaveFileName(&dlg, "Review file", e->text(), "TSV (*.tsv)",
                                                              nullptr, QFileDialog::DontConfirmOverwrite)
                               : QFileDialog::getOpenFileName(&dlg, "Choose a file", e->text());
            if (!f.isEmpty()) e->setText(f);
        });
        row->addWidget(edits[i], 1);
        row->addWidget(browse);
        form->addRow(labels[i], row);
    }
    if (loaded_) {
        edits[0]->setText(paths_.qsm);
        edits[1]->setText(paths_.flair);
        edits[2]->setText(paths_.lesions);
        edits[3]->setText(paths_.table);
        edits[4]->setText(paths_.overlay);
        edits[5]->setText(paths_.probability);
    }
    auto *conn = new QComboBox(&dlg);
    conn->addItem("26 (default, as qsmrim predict)", 26);
    conn->addItem("6", 6);
    conn->setCurrentIndex(paths_.connectivity == 6 ? 1 : 0);
    form->addRow("Connectivity", conn);
    auto *input = new QComboBox(&dlg); /* as qsmrim predict --lesion-input */
    input->addItem("auto (default): one value is a mask, several are labels", QR_LESION_INPUT_AUTO);
    input->addItem("mask: split into connected components", QR_LESION_INPUT_MASK);
    input->addItem("labels: one lesion per label", QR_LESION_INPUT_LABELS);
    input->setCurrentIndex(input->findData(paths_.lesionInput));
    form->addRow("Lesion map", input);
    auto *bb = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dlg);
    connect(bb, &QDialogButtonBox::accepted, &dlg, &QDialog::accept);
    connect(bb, &QDialogButtonBox::rejected, &dlg, &QDialog::reject);
    form->addRow(bb);
    if (dlg.exec() != QDialog::Accepted) return;
    SubjectPaths p;
    p.qsm = edits[0]->text();
    p.flair = edits[1]->text();
    p.lesions = edits[2]->text();
    p.table = edits[3]->text();
    p.overlay = edits[4]->text();
    p.probability = edits[5]->text();
    p.connectivity = conn->currentData().toInt();
    p.lesionInput = input->currentData().toInt();
    QString err;
    if (!openSubject(p, edits[6]->text(), &err)) {
        reportError("Cannot open the subject", err);
        return;
    }
    cohort_.clear(); /* a subject of no cohort: ] and [ have nothing to step through */
    queueSubject_.clear();
    results_.clear();
    subjectName_.clear();
}

void ReviewWindow::openCohortDialog() {
    QString cohort = QFileDialog::getOpenFileName(this, "Cohort manifest", QString(), "cohort.tsv (*.tsv)");
    if (cohort.isEmpty()) return;
    QStringList names;
    QString nerr;
    if (!cohortNames(cohort, &names, &nerr)) {
        reportError("Cannot read the cohort", nerr);
        return;
    }
    bool ok = false;
    QString name = QInputDialog::getItem(this, "Subject", "Subject", names, 0, false, &ok);
    if (!ok) return;
    QString err;
    if (!openChosenCohortSubject(cohort, name, &err)) reportError("Cannot open the subject", err);
}

bool ReviewWindow::openChosenCohortSubject(const QString &cohort, const QString &name, QString *error) {
    /* the open cohort's results folder goes with it; another cohort has none */
    const bool same = QFileInfo(cohort).canonicalFilePath() == QFileInfo(cohort_).canonicalFilePath();
    return openCohortSubject(cohort, same ? results_ : QString(), name, QString(), error);
}

bool ReviewWindow::cohortNames(const QString &cohort, QStringList *names, QString *error) {
    qr_tsv t;
    if (qr_tsv_read(cohort.toUtf8().constData(), &t) != QR_OK) {
        *error = QString::fromUtf8(qr_last_error());
        return false;
    }
    int cs = qr_tsv_column(&t, "subject");
    names->clear();
    for (int64_t r = 0; cs >= 0 && r < t.nrows; r++) *names << QString::fromUtf8(qr_tsv_cell(&t, r, cs));
    qr_tsv_free(&t);
    if (names->isEmpty()) *error = cohort + ": no 'subject' column or no subjects";
    return !names->isEmpty();
}

bool ReviewWindow::cohortSubject(const QString &cohort, const QString &subject, SubjectPaths *out, QString *error,
                                 QString *chosen) {
    qr_tsv t;
    if (qr_tsv_read(cohort.toUtf8().constData(), &t) != QR_OK) {
        *error = QString::fromUtf8(qr_last_error());
        return false;
    }
    int cs, cq, cf, cl;
    if (qr_tsv_require(&t, "subject", &cs) || qr_tsv_require(&t, "qsm", &cq) || qr_tsv_require(&t, "flair", &cf) ||
        qr_tsv_require(&t, "lesions", &cl)) {
        *error = QString::fromUtf8(qr_last_error());
        qr_tsv_free(&t);
        return false;
    }
    QDir dir = QFileInfo(cohort).absoluteDir();
    bool found = false;
    QStringList listed; /* for the message when `subject` is not among them */
    for (int64_t r = 0; r < t.nrows && !found; r++) {
        QString name = QString::fromUtf8(qr_tsv_cell(&t, r, cs));
        listed << name;
        if (!subject.isEmpty() && name != subject) continue;
        out->qsm = dir.filePath(QString::fromUtf8(qr_tsv_cell(&t, r, cq)));
        out->flair = dir.filePath(QString::fromUtf8(qr_tsv_cell(&t, r, cf)));
        out->lesions = dir.filePath(QString::fromUtf8(qr_tsv_cell(&t, r, cl)));
        if (chosen) *chosen = name;
        found = true;
    }
    qr_tsv_free(&t);
    if (!found) {
        const int n = (int)listed.size();
        if (n > 6) listed = listed.mid(0, 6) << QString("... (%1 in all)").arg(n);
        *error = QString("%1: no subject '%2' (it lists %3)").arg(cohort).arg(subject).arg(n ? listed.join(", ") : "none");
    }
    return found;
}

bool ReviewWindow::resultsPaths(const QString &results, const QString &subject, SubjectPaths *out, QString *review,
                                QString *error) {
    char table[QR_PATH_MAX], overlay[QR_PATH_MAX], probability[QR_PATH_MAX];
    const QByteArray q = out->qsm.toUtf8(), f = out->flair.toUtf8(), l = out->lesions.toUtf8();
    const char *const inputs[3] = {q.constData(), f.constData(), l.constData()};
    if (qr_batch_results(results.toUtf8().constData(), subject.toUtf8().constData(), inputs, table, overlay,
                         probability, &out->connectivity, &out->lesionInput) != QR_OK) {
        *error = QString::fromUtf8(qr_last_error());
        return false;
    }
    out->table = QString::fromUtf8(table);
    out->overlay = QString::fromUtf8(overlay);
    out->probability = QString::fromUtf8(probability);
    if (review->isEmpty()) *review = QDir(QDir(results).filePath(subject)).filePath("review.tsv");
    return true;
}

bool ReviewWindow::cohortPaths(const QString &cohort, const QString &results, const QString &name, SubjectPaths *p,
                               QString *review, QString *chosen, QString *error) const {
    /* the command line's reading, not the open subject's (which a run record may have set) */
    p->connectivity = readConnectivity_;
    p->lesionInput = readLesionInput_;
    if (!cohortSubject(cohort, name, p, error, chosen)) return false;
    /* what the command line gave for this subject stays with it */
    if (given_.valid && *chosen == given_.subject) {
        if (review->isEmpty()) *review = given_.review;
        if (!given_.outputs.table.isEmpty()) {
            p->table = given_.outputs.table;
            p->overlay = given_.outputs.overlay;
            p->probability = given_.outputs.probability;
            p->connectivity = given_.outputs.connectivity;
            p->lesionInput = given_.outputs.lesionInput;
            return true;
        }
    }
    return results.isEmpty() || resultsPaths(results, *chosen, p, review, error);
}

bool ReviewWindow::openCohortSubject(const QString &cohort, const QString &results, const QString &name,
                                     const QString &reviewPath, QString *error, const SubjectPaths *given) {
    if (given) { /* the command line's subject: its review file and outputs, if given, are kept for it */
        given_.valid = true;
        given_.subject = name;
        given_.review = reviewPath;
        given_.outputs = *given;
    }
    SubjectPaths p;
    QString chosen, review = reviewPath;
    if (!cohortPaths(cohort, results, name, &p, &review, &chosen, error)) return false;
    if (given && given_.subject.isEmpty()) given_.subject = chosen;
    if (!openSubject(p, review, error)) return false;
    if (cohort != cohort_ || results != results_) queueSubject_.clear(); /* another cohort queue */
    cohort_ = cohort;
    results_ = results;
    subjectName_ = chosen;
    setWindowTitle(QString("qsmrim-review \u2014 %1 \u2014 %2").arg(chosen).arg(reviewer_));
    return true;
}

void ReviewWindow::stepSubject(int dir) {
    if (cohort_.isEmpty()) {
        statusBar()->showMessage("] and [ step through a cohort's subjects: open one with --cohort or File > Open cohort subject", 5000);
        return;
    }
    QStringList names;
    QString nerr;
    if (!cohortNames(cohort_, &names, &nerr)) {
        reportError("Cannot read the cohort", nerr);
        return;
    }
    const int at = (int)names.indexOf(subjectName_);
    if (at < 0) {
        statusBar()->showMessage(QString("subject '%1' is no longer in %2").arg(subjectName_, cohort_), 5000);
        return;
    }
    /* subjects that cannot be opened (no finished prediction, inputs changed since, a missing
     * file) are passed over, and said so */
    QStringList skipped;
    for (int to = at + dir; to >= 0 && to < names.size(); to += dir) {
        SubjectPaths p;
        QString review, chosen, err;
        if (!cohortPaths(cohort_, results_, names[to], &p, &review, &chosen, &err)) {
            skipped << QString("%1 (%2)").arg(names[to], err);
            fprintf(stderr, "qsmrim-review: warning: subject '%s' passed over: %s\n", names[to].toUtf8().constData(),
                    err.toUtf8().constData());
            continue;
        }
        if (!openSubject(p, review, &err)) { /* e.g. its review file is open elsewhere: stop here */
            reportError("Cannot open the subject", err);
            return;
        }
        subjectName_ = chosen;
        setWindowTitle(QString("qsmrim-review \u2014 %1 \u2014 %2").arg(chosen).arg(reviewer_));
        statusBar()->showMessage(QString("subject %1 of %2: %3%4").arg(to + 1).arg(names.size()).arg(chosen)
                                     .arg(skipped.isEmpty() ? QString() : "; passed over: " + skipped.join("; ")),
                                 8000);
        return;
    }
    statusBar()->showMessage(QString("no subject to open %1 '%2'%3").arg(dir > 0 ? "after" : "before", subjectName_)
                                 .arg(skipped.isEmpty() ? QString() : "; passed over: " + skipped.join("; ")),
                             8000);
}

void ReviewWindow::nextInCohortQueue() {
    if (cohort_.isEmpty() || results_.isEmpty()) {
        statusBar()->showMessage("} follows a cohort run's queue: open a subject with --cohort and --results", 5000);
        return;
    }
    const QString queuePath = results_ + "/queue.tsv";
    qr_tsv t;
    int cs = -1, ci = -1;
    if (qr_tsv_read(queuePath.toUtf8().constData(), &t) != QR_OK) {
        reportError("Cannot read the cohort queue", QString::fromUtf8(qr_last_error()));
        return;
    }
    if (qr_tsv_require(&t, "subject", &cs) != QR_OK || qr_tsv_require(&t, "lesion_id", &ci) != QR_OK) {
        reportError("Cannot read the cohort queue", QString::fromUtf8(qr_last_error()));
        qr_tsv_free(&t);
        return;
    }
    std::vector<std::pair<QString, int>> queue;
    for (int64_t r = 0; r < t.nrows; r++)
        queue.emplace_back(QString::fromUtf8(qr_tsv_cell(&t, r, cs)), atoi(qr_tsv_cell(&t, r, ci)));
    qr_tsv_free(&t);
    /* after where the last } went (a decision moves the selection on within the subject, which
     * is not the queue's order), else after the current lesion; then from the top again, so a
     * lesion passed over undecided comes back */
    const QString atSubject = queueSubject_.isEmpty() ? subjectName_ : queueSubject_;
    const int atLesion = queueSubject_.isEmpty() ? currentLesionId() : queueLesion_;
    size_t from = 0;
    for (size_t k = 0; k < queue.size(); k++)
        if (queue[k].first == atSubject && queue[k].second == atLesion) from = k + 1;
    std::map<QString, std::set<int>> decided; /* other subjects' review files, read once */
    QStringList passed;
    for (size_t step = 0; step < queue.size(); step++) {
        const size_t k = (from + step) % queue.size();
        const QString &name = queue[k].first;
        const int id = queue[k].second;
        if (name == subjectName_) {
            const qr_review_row *row = qr_review_find(&review_, id);
            if (row && row->decision != QR_REVIEW_NONE) continue;
        } else {
            if (passed.contains(name)) continue;
            if (!decided.count(name)) {
                SubjectPaths p;
                QString review, chosen, err;
                std::set<int> &d = decided[name];
                qr_review r;
                if (cohortPaths(cohort_, results_, name, &p, &review, &chosen, &err) &&
                    qr_review_read(review.toUtf8().constData(), &r) == QR_OK) {
                    for (int64_t j = 0; j < r.n; j++)
                        if (r.rows[j].decision != QR_REVIEW_NONE) d.insert(r.rows[j].lesion_id);
                    qr_review_close(&r);
                }
            }
            if (decided[name].count(id)) continue;
            QString err;
            if (!openCohortSubject(cohort_, results_, name, QString(), &err)) {
                fprintf(stderr, "qsmrim-review: warning: subject '%s' passed over: %s\n", name.toUtf8().constData(),
                        err.toUtf8().constData());
                passed << name;
                continue;
            }
        }
        if (!selectLesionById(id)) { /* hidden by the queue's filter: show every lesion, then take it */
            filter_->setCurrentIndex(filter_->findData("all"));
            if (!selectLesionById(id)) {
                reportError("Cohort queue", QString("lesion %1 of subject %2 is not in its lesion table").arg(id).arg(name));
                return;
            }
        }
        queueSubject_ = name;
        queueLesion_ = id;
        statusBar()->showMessage(QString("cohort queue: rank %1 of %2, subject %3, lesion %4%5")
                                     .arg(k + 1)
                                     .arg(queue.size())
                                     .arg(name)
                                     .arg(id)
                                     .arg(passed.isEmpty() ? QString() : "; passed over: " + passed.join(", ")),
                                 8000);
        return;
    }
    statusBar()->showMessage("every lesion of the cohort queue has a review decision", 8000);
}

void ReviewWindow::exportDialog() {
    if (!loaded_) return;
    QString def = QString::fromUtf8(review_.path);
    if (def.endsWith("_review.tsv")) def.chop(11);
    else if (def.endsWith(".tsv")) def.chop(4);
    def += "_reviewed_table.tsv";
    QString path = QFileDialog::getSaveFileName(this, "Export reviewed table", def, "TSV (*.tsv)");
    if (path.isEmpty()) return;
    QString err;
    if (!exportReview(path, &err)) reportError("Export failed", err);
    else statusBar()->showMessage("Exported " + path, 5000);
}

void ReviewWindow::screenshotDialog() {
    QString path = QFileDialog::getSaveFileName(this, "Save screenshot", "qsmrim-review.png", "PNG (*.png)");
    if (path.isEmpty()) return;
    QString err;
    if (!saveScreenshot(path, &err)) reportError("Screenshot failed", err);
}

void ReviewWindow::savePredictionDialog() {
#ifdef QSMRIM_HAVE_PREDICT
    if (!ownPrediction_) {
        reportError("Save prediction outputs", "no prediction has been run in this window");
        return;
    }
    QString dir = QFileDialog::getExistingDirectory(this, "Folder for the prediction outputs");
    if (dir.isEmpty()) return;
    QByteArray ov = QDir(dir).filePath("rim_overlay.nrrd").toUtf8(), pr = QDir(dir).filePath("rim_probability.nrrd").toUtf8(),
               tb = QDir(dir).filePath("rim_table.tsv").toUtf8();
    QStringList existing;
    for (const QByteArray *f : {&ov, &pr, &tb})
        if (QFileInfo::exists(QString::fromUtf8(*f))) existing << QFileInfo(QString::fromUtf8(*f)).fileName();
    if (!existing.isEmpty() &&
        QMessageBox::question(this, "Save prediction outputs",
                              QString("%1 already holds %2. Replace them?").arg(dir).arg(existing.join(", ")),
                              QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel) != QMessageBox::Yes)
        return;
    QString err;
    if (!savePrediction(dir, &err)) reportError("Save prediction outputs", err);
    else statusBar()->showMessage("Prediction outputs written to " + dir, 5000);
#endif
}

bool ReviewWindow::savePrediction(const QString &dir, QString *error) {
#ifdef QSMRIM_HAVE_PREDICT
    if (!ownPrediction_) {
        *error = "no prediction has been run in this window";
        return false;
    }
    QByteArray ov = QDir(dir).filePath("rim_overlay.nrrd").toUtf8(), pr = QDir(dir).filePath("rim_probability.nrrd").toUtf8(),
               tb = QDir(dir).filePath("rim_table.tsv").toUtf8();
    /* the subject's own files are never replaced (e.g. a folder holding a predict run's outputs) */
    for (const QByteArray *f : {&ov, &pr, &tb})
        if (!checkExportPath(paths_, QString::fromUtf8(review_.path), QString::fromUtf8(*f), error)) return false;
    if (qr_prediction_write(&prediction_, ov.constData(), pr.constData(), tb.constData()) != QR_OK) {
        *error = QString::fromUtf8(qr_last_error());
        return false;
    }
    return true;
#else
    (void)dir;
    *error = "prediction is not part of this build";
    return false;
#endif
}

void ReviewWindow::showKeys() {
    QMessageBox::information(
        this, "Keys and mouse",
        "Review (anywhere except in the note field):\n"
        "  n / p    next / previous lesion in the queue\n"
        "  r / x / u    rim+ / rim\u2212 / unsure (saved at once)\n"
        "  t    edit the note; Enter saves, Esc reverts\n"
        "  o    overlay on / off\n"
        "  ] / [    next / previous subject of the cohort (opened with --cohort)\n"
        "  }    next lesion of the cohort queue without a decision, any subject (--cohort with --results)\n\n"
        "In a view:\n"
        "  left click / drag    move the cursor (all views follow)\n"
        "  wheel, Up/Down    one slice;  PgUp/PgDown, Shift + wheel    5 slices\n"
        "  Ctrl + wheel, + / -    zoom;  Home    fit the slice\n"
        "  right drag    window (left-right) and level (up-down)\n"
        "  middle drag    pan");
}
