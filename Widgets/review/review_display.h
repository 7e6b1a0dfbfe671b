/*
 * review_display.h - what the viewer's slice views show, as plain data: how each view is oriented
 * on a volume's grid, and which colour each lesion gets. Plain C, no GUI.
 *
 * World frame of the views: voxel index times spacing, w = (i*sx, j*sy, k*sz) mm, i.e. the grid
 * without its rotation. Each view shows slices across one index axis (the one closest to the
 * view's anatomical normal) and is turned so that anatomy appears the way radiologists read it:
 *
 *   view      slice across     screen right            screen up       seen from
 *   axial     S-I index axis   patient Left (L)        Anterior (A)    the feet (radiological)
 *   coronal   A-P index axis   patient Left (L)        Superior (S)    the front
 *   sagittal  L-R index axis   Posterior (P)           Superior (S)    the patient's left
 *
 * so the patient's right is on the screen's left in axial and coronal views, and the nose points
 * left in sagittal views (as in 3D Slicer). For a grid whose axes are tilted against the
 * anatomical axes the views are index-aligned and labelled by the nearest anatomical direction
 * (qr_view_frame.oblique says so); no resampling happens for display.
 *
 * Lesion colours:
 *   by decision     the reviewer's decision if there is one (rim+ -> the rim+ colour, rim- -> the
 *                   rim- colour, unsure -> the review colour), else the model's decision; lesions
 *                   without either get the "no prediction" colour. The colours are those of
 *                   Resources/QSMRimLesions.ctbl (rim- 64 128 200, review 255 190 0, rim+ 230 25 25),
 *                   read from the file when it is found.
 *   by probability  P(rim+) through a diverging colour map: piecewise linear between the five
 *                   anchors of ColorBrewer's RdYlBu scheme (Cynthia A. Brewer, Apache-2.0 licence),
 *                   reversed so that blue is rim-, red is rim+:
 *                     p = 0     (49, 54, 149)     p = 0.25  (116, 173, 209)   p = 0.5  (255, 255, 191)
 *                     p = 0.75  (244, 109, 67)    p = 1     (165, 0, 38)
 *                   Lesions without a probability get the "no prediction" colour.
 */
#ifndef QR_REVIEW_DISPLAY_H
#define QR_REVIEW_DISPLAY_H

#include <stdint.h>

#include "core/status.h"
#include "core/volume.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qr_view_orientation { QR_VIEW_AXIAL = 0, QR_VIEW_CORONAL, QR_VIEW_SAGITTAL, QR_VIEW_COUNT } qr_view_orientation;
const char *qr_view_orientation_name(qr_view_orientation o); /* "axial", "coronal", "sagittal" */

typedef struct qr_view_frame {
    int slice_axis;        /* index axis across which this view slices (0 i, 1 j, 2 k) */
    int right_axis;        /* index axis along the screen's horizontal */
    int up_axis;           /* index axis along the screen's vertical */
    double right[3];       /* world unit vector pointing to the screen's right */
    double up[3];          /* world unit vector pointing to the screen's top */
    double toward_viewer[3]; /* world unit vector from the slice towards the viewer (right x up) */
    int slice_forward;     /* +1 or -1: the index step that moves one slice towards S (axial),
                              A (coronal) or L (sagittal) - where "next slice" goes */
    char edge_left, edge_right, edge_top, edge_bottom; /* anatomical letters: R L A P S I */
    int oblique;           /* 1 if the grid's axes are tilted > 1 degree from the anatomical axes */
} qr_view_frame;

/* The three view frames of a grid. QR_ERR_GEOMETRY if the direction matrix is singular. */
qr_status qr_view_frames(const qr_geometry *g, qr_view_frame frames[QR_VIEW_COUNT]);

typedef struct qr_rgb {
    uint8_t r, g, b;
} qr_rgb;

typedef struct qr_lesion_colors {
    qr_rgb decision[4];  /* by model decision code: [1] rim-, [2] review, [3] rim+ ([0] unused) */
    qr_rgb none;         /* lesions without prediction or decision */
} qr_lesion_colors;

/* The colours of Resources/QSMRimLesions.ctbl, and "no prediction" light violet (200, 120, 255),
 * distinct from the three decision colours and from grey anatomy. */
qr_lesion_colors qr_lesion_colors_default(void);

/* Read decision colours from a 3D Slicer colour table (lines "id name R G B A", '#' comments):
 * ids 1, 2, 3 replace the defaults. QR_ERR_FORMAT naming the line if a line is malformed. */
qr_status qr_lesion_colors_read_ctbl(const char *path, qr_lesion_colors *c);

/* The decision a lesion is coloured by: the review decision (review_file.h codes: 1 rim+,
 * 2 rim-, 3 unsure) mapped to model codes (3, 1, 2), else the model decision. */
int qr_display_decision(int model_decision, int review_decision);

/* Outer outline of the lesions as one view draws it (the "outline" overlay style, which leaves
 * the lesion itself - and so its rim - unobscured): a background voxel (label 0) gets the label
 * of the first of its four in-plane neighbours (the plane across `slice_axis`; order -i, +i, -j,
 * +j of the two in-plane axes) that belongs to a lesion; every other voxel gets 0. `out` gets
 * the geometry of `labels` (int32). */
qr_status qr_outline_labels(const qr_volume *labels, int slice_axis, qr_volume *out);

/* Colour of a probability in [0, 1] (clamped) by the map above. */
qr_rgb qr_probability_color(double p);

#ifdef __cplusplus
}
#endif
#endif
