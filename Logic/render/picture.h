/*
 * picture.h - a PNG summary of one subject's prediction: axial slices of QSM and FLAIR side by
 * side, the decision overlay drawn as lesion outlines in the overlay colours, and lesion numbers.
 *
 * Slices are shown as 3D Slicer's axial view shows them (radiological convention): the patient's
 * right on the left of the picture, anterior at the top. Pixels are sampled from the volumes
 * through their geometry (any orientation), nearest neighbour, at the QSM's in-plane spacing.
 * Rows: the axial slices through the lesions with the highest P(rim+) (up to `max_rows`, one per
 * slice); columns: QSM | FLAIR | QSM with outlines and numbers.
 */
#ifndef QR_PICTURE_H
#define QR_PICTURE_H

#include "../core/fileutil.h"
#include "../predict/predict.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qr_picture_options {
    int max_rows;          /* axial slices shown (default 3) */
    double zoom;           /* screen pixels per in-plane voxel (default 2) */
    double qsm_window[2];  /* display range in ppb (default -100 .. 150) */
    double flair_window[2];/* display range; both 0 = 1st..99.5th percentile of the volume */
    const char *title;     /* heading; NULL = none */
} qr_picture_options;

qr_picture_options qr_picture_options_default(void);

/* Overlay colours (RGB 0..255) of the decision codes, the same as Resources/QSMRimLesions.ctbl. */
void qr_decision_color(int decision, unsigned char rgb[3]);

/* QR_ERR_INVALID_ARG unless `path` names a PNG file (ends in .png, any capitals): the picture is
 * always PNG, and a name such as picture.jpg would hold PNG data under another format's name. */
qr_status qr_picture_path_check(const char *path);

/* Draw the picture and write it as PNG atomically. qsm/flair/prediction on the same grid. */
qr_status qr_picture_write(const qr_volume *qsm, const qr_volume *flair, const qr_prediction *p,
                           const qr_picture_options *opt, const char *png_path);
/* The same, left pending (committed with the run's other outputs, fileutil.h). */
qr_status qr_picture_write_pending(const qr_volume *qsm, const qr_volume *flair, const qr_prediction *p,
                                   const qr_picture_options *opt, const char *png_path, qr_pending *out);

#ifdef __cplusplus
}
#endif
#endif
