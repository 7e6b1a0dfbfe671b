/* SliceView.cxx - one linked 2D view: image + lesion overlay + crosshair (SliceView.h). */
#include "SliceView.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <vtkActor.h>
#include <vtkCamera.h>
#include <vtkCellArray.h>
#include <vtkCornerAnnotation.h>
#include <vtkGenericOpenGLRenderWindow.h>
#include <vtkImageData.h>
#include <vtkImageProperty.h>
#include <vtkImageSlice.h>
#include <vtkImageSliceMapper.h>
#include <vtkImageStack.h>
#include <vtkInteractorStyle.h>
#include <vtkLookupTable.h>
#include <vtkNew.h>
#include <vtkObjectFactory.h>
#include <vtkPoints.h>
#include <vtkPolyData.h>
#include <vtkPolyDataMapper.h>
#include <vtkProperty.h>
#include <vtkRenderWindowInteractor.h>
#include <vtkRenderer.h>
#include <vtkTextProperty.h>

/* ---- mouse and keys in a view ---- */
class SliceInteractorStyle : public vtkInteractorStyle {
public:
    static SliceInteractorStyle *New();
    vtkTypeMacro(SliceInteractorStyle, vtkInteractorStyle);
    SliceView *view = nullptr;

    void OnLeftButtonDown() override {
        mode_ = Pick;
        pick();
    }
    void OnLeftButtonUp() override { mode_ = None; }
    void OnRightButtonDown() override {
        mode_ = WindowLevel;
        remember();
    }
    void OnRightButtonUp() override { mode_ = None; }
    void OnMiddleButtonDown() override {
        mode_ = Pan;
        remember();
    }
    void OnMiddleButtonUp() override { mode_ = None; }
    void OnMouseMove() override {
        if (!view) return;
        int *p = Interactor->GetEventPosition();
        if (mode_ == Pick) {
            pick();
        } else if (mode_ == WindowLevel) {
            view->styleWindowLevel(p[0] - last_[0], p[1] - last_[1]);
            remember();
        } else if (mode_ == Pan) {
            view->stylePan(p[0] - last_[0], p[1] - last_[1]);
            remember();
        }
    }
    void OnMouseWheelForward() override { wheel(+1); }
    void OnMouseWheelBackward() override { wheel(-1); }
    /* VTK's default character bindings (reset, wireframe, stereo, 'e'/'q' exit ...) are off. */
    void OnChar() override {}
    void OnKeyPress() override {
        if (view && Interactor->GetKeySym()) view->styleKey(Interactor->GetKeySym());
    }

private:
    enum Mode { None, Pick, WindowLevel, Pan };
    void remember() {
        int *p = Interactor->GetEventPosition();
        last_[0] = p[0];
        last_[1] = p[1];
    }
    void pick() {
        if (!view) return;
        int *p = Interactor->GetEventPosition();
        /* VTK's display y runs upwards from the bottom; widget pixels run downwards. */
        int *size = Interactor->GetRenderWindow()->GetSize();
        double ratio = view->devicePixelRatioF();
        view->styleClick(p[0] / ratio, (size[1] - 1 - p[1]) / ratio);
    }
    void wheel(int dir) {
        if (!view) return;
        if (Interactor->GetControlKey()) view->styleWheel(dir, true);
        else view->styleWheel(Interactor->GetShiftKey() ? 5 * dir : dir, false);
    }
    Mode mode_ = None;
    int last_[2] = {0, 0};
};
vtkStandardNewMacro(SliceInteractorStyle);

/* ---- the view ---- */

SliceView::SliceView(Modality modality, qr_view_orientation orientation, QWidget *parent)
    : QVTKOpenGLNativeWidget(parent), modality_(modality), orientation_(orientation) {
    memset(&frame_, 0, sizeof frame_);
    vtkNew<vtkGenericOpenGLRenderWindow> rw;
    setRenderWindow(rw.Get());
    renderer_ = vtkSmartPointer<vtkRenderer>::New();
    renderer_->SetBackground(0, 0, 0);
    rw->AddRenderer(renderer_);

    baseMapper_ = vtkSmartPointer<vtkImageSliceMapper>::New();
    overlayMapper_ = vtkSmartPointer<vtkImageSliceMapper>::New();
    for (vtkImageSliceMapper *m : {baseMapper_.Get(), overlayMapper_.Get()}) {
        m->SliceAtFocalPointOff();
        m->SliceFacesCameraOff();
    }
    baseSlice_ = vtkSmartPointer<vtkImageSlice>::New();
    baseSlice_->SetMapper(baseMapper_);
    baseSlice_->GetProperty()->SetInterpolationTypeToLinear();
    baseSlice_->GetProperty()->SetLayerNumber(0);
    overlaySlice_ = vtkSmartPointer<vtkImageSlice>::New();
    overlaySlice_->SetMapper(overlayMapper_);
    overlaySlice_->GetProperty()->SetInterpolationTypeToNearest();
    overlaySlice_->GetProperty()->UseLookupTableScalarRangeOn();
    overlaySlice_->GetProperty()->SetLayerNumber(1);
    overlaySlice_->GetProperty()->SetOpacity(0.5);
    stack_ = vtkSmartPointer<vtkImageStack>::New();
    stack_->AddImage(baseSlice_);
    stack_->AddImage(overlaySlice_);
    stack_->SetActiveLayer(0);

    /* crosshair: four segments from the edges towards the cursor, leaving a gap around it */
    crossPoints_ = vtkSmartPointer<vtkPoints>::New();
    crossPoints_->SetNumberOfPoints(8);
    for (int p = 0; p < 8; p++) crossPoints_->SetPoint(p, 0, 0, 0);
    vtkNew<vtkCellArray> lines;
    for (int s = 0; s < 4; s++) {
        vtkIdType ids[2] = {2 * s, 2 * s + 1};
        lines->InsertNextCell(2, ids);
    }
    crossData_ = vtkSmartPointer<vtkPolyData>::New();
    crossData_->SetPoints(crossPoints_);
    crossData_->SetLines(lines);
    vtkNew<vtkPolyDataMapper> crossMapper;
    crossMapper->SetInputData(crossData_);
    crossActor_ = vtkSmartPointer<vtkActor>::New();
    crossActor_->SetMapper(crossMapper);
    crossActor_->GetProperty()->SetColor(0.25, 0.95, 0.35);
    crossActor_->GetProperty()->LightingOff();
    crossActor_->GetProperty()->SetLineWidth(1.0);
    crossActor_->PickableOff();

    annotation_ = vtkSmartPointer<vtkCornerAnnotation>::New();
    annotation_->SetMaximumFontSize(14);
    annotation_->SetMinimumFontSize(9);
    annotation_->GetTextProperty()->SetColor(0.9, 0.9, 0.6);
    annotation_->GetTextProperty()->ShadowOn();
    renderer_->AddViewProp(annotation_);

    renderer_->GetActiveCamera()->ParallelProjectionOn();
    vtkNew<SliceInteractorStyle> style;
    style->view = this;
    interactor()->SetInteractorStyle(style);
    setFocusPolicy(Qt::StrongFocus);
    setMinimumSize(160, 160);
}

SliceView::~SliceView() = default;

QString SliceView::name() const {
    return QString("%1-%2").arg(modality_ == QSM ? "qsm" : "flair").arg(qr_view_orientation_name(orientation_));
}

bool SliceView::hasData() const { return image_ != nullptr; }

void SliceView::clearData() {
    renderer_->RemoveViewProp(stack_);
    renderer_->RemoveActor(crossActor_);
    image_ = nullptr;
    labels_ = nullptr;
    /* the images wrap the C volumes that are about to be freed: let go of them */
    baseMapper_->SetInputData(nullptr);
    overlayMapper_->SetInputData(nullptr);
    annotation_->ClearAllTexts();
    refresh();
}

void SliceView::setData(vtkImageData *image, vtkImageData *labels, const qr_view_frame &frame, vtkLookupTable *lut) {
    frame_ = frame;
    image_ = image;
    labels_ = labels;
    image->GetDimensions(dims_);
    image->GetSpacing(spacing_);
    baseMapper_->SetInputData(image);
    overlayMapper_->SetInputData(labels);
    baseMapper_->SetOrientation(frame.slice_axis);
    overlayMapper_->SetOrientation(frame.slice_axis);
    overlaySlice_->GetProperty()->SetLookupTable(lut);
    renderer_->RemoveViewProp(stack_);
    renderer_->RemoveActor(crossActor_);
    renderer_->AddViewProp(stack_);
    renderer_->AddActor(crossActor_);
    for (int a = 0; a < 3; a++) cursor_[a] = (dims_[a] - 1) / 2.0;
    setCursor(cursor_);
    fit();
}

void SliceView::setOverlayImage(vtkImageData *labels) {
    labels_ = labels;
    overlayMapper_->SetInputData(labels);
}

void SliceView::setWindowLevel(double window, double level) {
    window_ = window;
    level_ = level;
    baseSlice_->GetProperty()->SetColorWindow(window);
    baseSlice_->GetProperty()->SetColorLevel(level);
    updateAnnotation();
}

void SliceView::setOverlayOpacity(double opacity) { overlaySlice_->GetProperty()->SetOpacity(opacity); }

void SliceView::setOverlayVisible(bool visible) { overlaySlice_->SetVisibility(visible); }

int SliceView::sliceCount() const { return dims_[frame_.slice_axis]; }

int SliceView::slice() const {
    int s = (int)std::lround(cursor_[frame_.slice_axis]);
    return std::max(0, std::min(s, sliceCount() - 1));
}

double SliceView::sliceWorld() const { return slice() * spacing_[frame_.slice_axis]; }

void SliceView::setCursor(const double ijk[3]) {
    for (int a = 0; a < 3; a++) cursor_[a] = ijk[a];
    if (!image_) return;
    baseMapper_->SetSliceNumber(slice());
    overlayMapper_->SetSliceNumber(slice());
    updateCrosshair();
    updateAnnotation();
}

double SliceView::halfHeightMm() const { return renderer_->GetActiveCamera()->GetParallelScale(); }

void SliceView::updateCamera(const double focalWorld[3], double halfHeight) {
    if (!image_) return;
    vtkCamera *cam = renderer_->GetActiveCamera();
    /* Keep the focal point's depth at the volume centre; the slice plane then always lies within
     * half the volume's extent of it, inside the clipping range set here. */
    double f[3] = {focalWorld[0], focalWorld[1], focalWorld[2]};
    int sa = frame_.slice_axis;
    double extent = (dims_[sa] - 1) * spacing_[sa];
    f[sa] = extent / 2.0;
    double dist = 1000.0 + 2.0 * extent;
    cam->SetFocalPoint(f);
    cam->SetPosition(f[0] + dist * frame_.toward_viewer[0], f[1] + dist * frame_.toward_viewer[1],
                     f[2] + dist * frame_.toward_viewer[2]);
    cam->SetViewUp(frame_.up);
    cam->SetParallelScale(halfHeight);
    cam->SetClippingRange(dist - extent - 10.0, dist + extent + 10.0);
    updateCrosshair();
}

void SliceView::centerOn(const double ijk[3], double halfExtentMm) {
    double w[3] = {ijk[0] * spacing_[0], ijk[1] * spacing_[1], ijk[2] * spacing_[2]};
    double aspect = height() > 0 ? (double)width() / height() : 1.0;
    updateCamera(w, aspect < 1.0 ? halfExtentMm / aspect : halfExtentMm);
}

void SliceView::fit() {
    if (!image_) return;
    double c[3], ext[3];
    for (int a = 0; a < 3; a++) {
        ext[a] = (dims_[a] - 1) * spacing_[a] + spacing_[a];
        c[a] = (dims_[a] - 1) * spacing_[a] / 2.0;
    }
    double aspect = height() > 0 ? (double)width() / height() : 1.0;
    double half = std::max(ext[frame_.up_axis] / 2.0, ext[frame_.right_axis] / 2.0 / aspect) * 1.02;
    updateCamera(c, half);
}

void SliceView::zoom(double factor) {
    if (!image_ || factor <= 0) return;
    vtkCamera *cam = renderer_->GetActiveCamera();
    cam->SetParallelScale(cam->GetParallelScale() / factor);
    updateCrosshair();
}

bool SliceView::indexToWidget(const double ijk[3], QPointF *out) const {
    if (!image_) return false;
    double w[3] = {ijk[0] * spacing_[0], ijk[1] * spacing_[1], ijk[2] * spacing_[2]};
    w[frame_.slice_axis] = sliceWorld();
    renderer_->SetWorldPoint(w[0], w[1], w[2], 1.0);
    renderer_->WorldToDisplay();
    double *d = renderer_->GetDisplayPoint();
    int *size = renderer_->GetRenderWindow()->GetSize();
    double ratio = devicePixelRatioF();
    *out = QPointF(d[0] / ratio, (size[1] - 1 - d[1]) / ratio);
    return true;
}

bool SliceView::widgetToIndex(double x, double y, double ijk[3]) const {
    if (!image_) return false;
    int *size = renderer_->GetRenderWindow()->GetSize();
    double ratio = devicePixelRatioF();
    renderer_->SetDisplayPoint(x * ratio, size[1] - 1 - y * ratio, 0.0);
    renderer_->DisplayToWorld();
    double *w = renderer_->GetWorldPoint();
    double h = w[3] != 0.0 ? w[3] : 1.0;
    for (int a = 0; a < 3; a++) ijk[a] = (w[a] / h) / spacing_[a];
    ijk[frame_.slice_axis] = cursor_[frame_.slice_axis];
    return true;
}

void SliceView::updateCrosshair() {
    if (!image_) return;
    /* Segments along the view's right and up axes through the cursor, from the slice's edges to a
     * gap of 15% of the visible half-height around the cursor; 0.5 voxel towards the viewer so that the
     * lines are drawn over the slice. */
    double c[3] = {cursor_[0] * spacing_[0], cursor_[1] * spacing_[1], cursor_[2] * spacing_[2]};
    int sa = frame_.slice_axis;
    c[sa] = sliceWorld();
    for (int a = 0; a < 3; a++) c[a] += 0.5 * spacing_[sa] * frame_.toward_viewer[a];
    double gap = 0.15 * renderer_->GetActiveCamera()->GetParallelScale();
    int axes[2] = {frame_.right_axis, frame_.up_axis};
    for (int s = 0; s < 2; s++) {
        int ax = axes[s];
        double lo = -0.5 * spacing_[ax], hi = (dims_[ax] - 0.5) * spacing_[ax];
        double p[3];
        for (int a = 0; a < 3; a++) p[a] = c[a];
        p[ax] = lo;
        crossPoints_->SetPoint(4 * s + 0, p);
        p[ax] = std::max(lo, c[ax] - gap);
        crossPoints_->SetPoint(4 * s + 1, p);
        p[ax] = std::min(hi, c[ax] + gap);
        crossPoints_->SetPoint(4 * s + 2, p);
        p[ax] = hi;
        crossPoints_->SetPoint(4 * s + 3, p);
    }
    crossPoints_->Modified();
    crossData_->Modified();
}

void SliceView::updateAnnotation() {
    if (!image_) return;
    const char *title = modality_ == QSM ? "QSM" : "FLAIR";
    QString ul = QString("%1 %2").arg(title).arg(qr_view_orientation_name(orientation_));
    if (frame_.oblique) ul += " (oblique grid)";
    annotation_->SetText(2, ul.toUtf8().constData());
    annotation_->SetText(0, QString("slice %1/%2").arg(slice() + 1).arg(sliceCount()).toUtf8().constData());
    annotation_->SetText(1, QString("W %1  L %2%3")
                                .arg(window_, 0, 'g', 4)
                                .arg(level_, 0, 'g', 4)
                                .arg(units_.isEmpty() ? QString() : " " + units_)
                                .toUtf8()
                                .constData());
    char s[2] = {0, 0};
    s[0] = frame_.edge_left;
    annotation_->SetText(6, s);
    s[0] = frame_.edge_right;
    annotation_->SetText(5, s);
    s[0] = frame_.edge_top;
    annotation_->SetText(7, s);
    s[0] = frame_.edge_bottom;
    annotation_->SetText(4, s);
}

void SliceView::refresh() {
    updateCrosshair();
    renderWindow()->Render();
    update();
}

QImage SliceView::grabView() {
    refresh();
    return grabFramebuffer();
}

/* ---- interaction callbacks ---- */

void SliceView::styleClick(double x, double y) {
    double ijk[3];
    if (!widgetToIndex(x, y, ijk)) return;
    emit cursorPicked(ijk[0], ijk[1], ijk[2]);
}

void SliceView::styleWheel(int steps, bool doZoom) {
    if (!image_) return;
    if (doZoom) {
        zoom(std::pow(1.15, steps));
        refresh();
    } else {
        emit sliceStepped(frame_.slice_axis, steps * frame_.slice_forward);
    }
}

void SliceView::styleWindowLevel(double dx, double dy) {
    /* horizontal: window x exp(dx / 150); vertical: level moved by dy / 300 of the window */
    emit windowLevelDragged(modality_, std::exp(dx / 150.0), dy / 300.0);
}

void SliceView::stylePan(double dx, double dy) {
    if (!image_) return;
    vtkCamera *cam = renderer_->GetActiveCamera();
    int *size = renderer_->GetRenderWindow()->GetSize();
    double mmPerPixel = 2.0 * cam->GetParallelScale() / std::max(1, size[1]);
    double f[3], p[3];
    cam->GetFocalPoint(f);
    cam->GetPosition(p);
    for (int a = 0; a < 3; a++) {
        double d = -(dx * frame_.right[a] + dy * frame_.up[a]) * mmPerPixel;
        f[a] += d;
        p[a] += d;
    }
    cam->SetFocalPoint(f);
    cam->SetPosition(p);
    refresh();
}

void SliceView::styleKey(const char *keysym) {
    if (!image_) return;
    QString k(keysym);
    if (k == "Up" || k == "Prior") emit sliceStepped(frame_.slice_axis, (k == "Up" ? 1 : 5) * frame_.slice_forward);
    else if (k == "Down" || k == "Next")
        emit sliceStepped(frame_.slice_axis, (k == "Down" ? -1 : -5) * frame_.slice_forward);
    else if (k == "plus" || k == "equal" || k == "KP_Add") {
        zoom(1.25);
        refresh();
    } else if (k == "minus" || k == "KP_Subtract") {
        zoom(0.8);
        refresh();
    } else if (k == "Home") {
        fit();
        refresh();
    }
}
