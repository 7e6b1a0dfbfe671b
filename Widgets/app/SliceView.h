/*
 * SliceView.h - one 2D view of the review viewer: a slice of QSM or FLAIR (grey, window/level)
 * with the lesion overlay (label map through the shared lesion colour table) and a crosshair,
 * oriented as review_display.h describes (axial, coronal, sagittal; radiological convention).
 *
 * World frame: voxel index times spacing (w = ijk * spacing); the view slices across
 * frame.slice_axis. The slice shown is the cursor's (the window owns one cursor for all views,
 * which is what links them). Mouse (SliceInteractorStyle in SliceView.cxx):
 *   left click / drag   move the cursor to the point (all views follow)
 *   wheel               previous / next slice (Shift: 5 slices); Ctrl + wheel: zoom
 *   right drag          window (horizontal) and level (vertical) of this modality
 *   middle drag         pan
 * Keys in a view: Up/Down or PageUp/PageDown step slices, +/- zoom, Home fits the slice.
 * Review keys (n p r x u t o) never reach VTK: the window's event filter takes them first, and
 * VTK's own key bindings (e.g. 'e'/'q' to exit) are switched off.
 */
#ifndef QSMRIM_SLICEVIEW_H
#define QSMRIM_SLICEVIEW_H

#include <QImage>
#include <QPointF>
#include <QString>

#include <QVTKOpenGLNativeWidget.h>
#include <vtkSmartPointer.h>

extern "C" {
#include "review_display.h"
}

class vtkActor;
class vtkCornerAnnotation;
class vtkImageData;
class vtkImageSlice;
class vtkImageSliceMapper;
class vtkImageStack;
class vtkLookupTable;
class vtkPoints;
class vtkPolyData;
class vtkRenderer;

class SliceView : public QVTKOpenGLNativeWidget {
    Q_OBJECT
public:
    enum Modality { QSM = 0, FLAIR = 1 };

    SliceView(Modality modality, qr_view_orientation orientation, QWidget *parent = nullptr);
    ~SliceView() override;

    /* "qsm-axial", "flair-sagittal", ... (used by the script mode and in the state dump) */
    QString name() const;
    Modality modality() const { return modality_; }
    qr_view_orientation orientation() const { return orientation_; }
    const qr_view_frame &frame() const { return frame_; }

    /* Show an image and a label map (same grid, world = ijk * spacing). */
    void setData(vtkImageData *image, vtkImageData *labels, const qr_view_frame &frame, vtkLookupTable *lut);
    void clearData();
    bool hasData() const;

    /* Replace the overlay's label image (same grid): the filled labels or this view's outlines. */
    void setOverlayImage(vtkImageData *labels);
    void setWindowLevel(double window, double level);
    void setOverlayOpacity(double opacity);
    void setOverlayVisible(bool visible);
    void setUnitsLabel(const QString &units) { units_ = units; }

    /* The shared cursor (continuous voxel index): the slice shown and the crosshair. */
    void setCursor(const double ijk[3]);
    int slice() const;
    int sliceCount() const;

    /* Centre the view on a point and zoom so that at least halfExtentMm is visible on each side
     * of it, horizontally and vertically. */
    void centerOn(const double ijk[3], double halfExtentMm);
    /* Fit the whole slice into the view. */
    void fit();
    /* Zoom by a factor (> 1 zooms in), keeping the centre. */
    void zoom(double factor);
    double halfHeightMm() const;

    /* Where a voxel-index point appears in this widget, in widget pixels from the top-left
     * (false if the view has no data). */
    bool indexToWidget(const double ijk[3], QPointF *out) const;
    /* Voxel index under widget pixel (x, y) on the current slice. */
    bool widgetToIndex(double x, double y, double ijk[3]) const;

    /* Render now (and keep the crosshair sized to the zoom). */
    void refresh();
    /* The rendered view as an image. */
    QImage grabView();

    /* Called by the interactor style. */
    void styleClick(double x, double y);
    void styleWheel(int steps, bool zoom);
    void styleWindowLevel(double dx, double dy);
    void stylePan(double dx, double dy);
    void styleKey(const char *keysym);

signals:
    void cursorPicked(double i, double j, double k);   /* a click: move the shared cursor here */
    void sliceStepped(int axis, int delta);            /* wheel / keys: move the cursor across slices */
    void windowLevelDragged(int modality, double dWindowFactor, double dLevelFraction);

private:
    void updateCamera(const double focalWorld[3], double halfHeight);
    void updateCrosshair();
    void updateAnnotation();
    double sliceWorld() const;

    Modality modality_;
    qr_view_orientation orientation_;
    qr_view_frame frame_;
    QString units_;
    vtkSmartPointer<vtkRenderer> renderer_;
    vtkSmartPointer<vtkImageData> image_, labels_;
    vtkSmartPointer<vtkImageSliceMapper> baseMapper_, overlayMapper_;
    vtkSmartPointer<vtkImageSlice> baseSlice_, overlaySlice_;
    vtkSmartPointer<vtkImageStack> stack_;
    vtkSmartPointer<vtkPoints> crossPoints_;
    vtkSmartPointer<vtkPolyData> crossData_;
    vtkSmartPointer<vtkActor> crossActor_;
    vtkSmartPointer<vtkCornerAnnotation> annotation_;
    double cursor_[3] = {0, 0, 0};
    double window_ = 1, level_ = 0;
    double spacing_[3] = {1, 1, 1};
    int dims_[3] = {0, 0, 0};
};

#endif
