/* review_display.c - view orientation on a grid and lesion colours (review_display.h). */
#include "review_display.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "review_file.h"
#include "review_queue.h"

const char *qr_view_orientation_name(qr_view_orientation o) {
    static const char *names[QR_VIEW_COUNT] = {"axial", "coronal", "sagittal"};
    return (unsigned)o < QR_VIEW_COUNT ? names[o] : "unknown";
}

/*
 * Anatomical axes in ITK's LPS frame: r = 0 (x, towards Left), 1 (y, Posterior), 2 (z, Superior).
 * D = direction matrix, column c = LPS unit vector of index axis c. Index axis c is taken to run
 * along anatomical axis a(c) = argmax_r |D[r][c]| with sign s(c) = sign D[a(c)][c]; the world
 * vector of the anatomical direction +r is then s(c) e_c for the c with a(c) = r.
 */
qr_status qr_view_frames(const qr_geometry *g, qr_view_frame frames[QR_VIEW_COUNT]) {
    const double *D = g->direction;
    double det = D[0] * (D[4] * D[8] - D[5] * D[7]) - D[1] * (D[3] * D[8] - D[5] * D[6]) +
                 D[2] * (D[3] * D[7] - D[4] * D[6]);
    if (!(fabs(det) > 1e-6)) return qr_fail(QR_ERR_GEOMETRY, "the grid's direction matrix is singular");
    int axis_of[3] = {-1, -1, -1}; /* axis_of[r] = index axis running along anatomical axis r */
    double sign_of[3] = {1, 1, 1};
    int oblique = 0;
    for (int c = 0; c < 3; c++) {
        int best = 0;
        double norm = 0;
        for (int r = 0; r < 3; r++) {
            norm += D[3 * r + c] * D[3 * r + c];
            if (fabs(D[3 * r + c]) > fabs(D[3 * best + c])) best = r;
        }
        /* tilt above 1 degree: the column is not within cos(1 deg) of its nearest axis */
        if (fabs(D[3 * best + c]) < cos(acos(-1.0) / 180.0) * sqrt(norm)) oblique = 1;
        if (axis_of[best] >= 0) { /* two index axes nearest the same anatomical axis (45-degree tilt) */
            oblique = 1;
            axis_of[0] = 0, axis_of[1] = 1, axis_of[2] = 2;
            sign_of[0] = sign_of[1] = sign_of[2] = 1;
            break;
        }
        axis_of[best] = c;
        sign_of[best] = D[3 * best + c] < 0 ? -1.0 : 1.0;
    }
    /* world vector of an anatomical direction: (axis r, +1 towards L/P/S or -1 towards R/A/I) */
#define ANAT(vec, r, sgn)                                                                                              \
    do {                                                                                                               \
        vec[0] = vec[1] = vec[2] = 0.0;                                                                                \
        vec[axis_of[r]] = (sgn) * sign_of[r];                                                                          \
    } while (0)
    for (int o = 0; o < QR_VIEW_COUNT; o++) {
        qr_view_frame *f = &frames[o];
        memset(f, 0, sizeof *f);
        f->oblique = oblique;
        int normal, right_r, up_r;
        double right_s, up_s, forward_s;
        if (o == QR_VIEW_AXIAL) { /* right = +L, up = A = -P */
            normal = 2, right_r = 0, right_s = 1, up_r = 1, up_s = -1, forward_s = 1;
            f->edge_left = 'R', f->edge_right = 'L', f->edge_top = 'A', f->edge_bottom = 'P';
        } else if (o == QR_VIEW_CORONAL) { /* right = +L, up = +S */
            normal = 1, right_r = 0, right_s = 1, up_r = 2, up_s = 1, forward_s = -1;
            f->edge_left = 'R', f->edge_right = 'L', f->edge_top = 'S', f->edge_bottom = 'I';
        } else { /* sagittal: right = +P, up = +S */
            normal = 0, right_r = 1, right_s = 1, up_r = 2, up_s = 1, forward_s = 1;
            f->edge_left = 'A', f->edge_right = 'P', f->edge_top = 'S', f->edge_bottom = 'I';
        }
        f->slice_axis = axis_of[normal];
        f->slice_forward = forward_s * sign_of[normal] > 0 ? 1 : -1;
        f->right_axis = axis_of[right_r];
        f->up_axis = axis_of[up_r];
        ANAT(f->right, right_r, right_s);
        ANAT(f->up, up_r, up_s);
        /* towards the viewer = right x up, in the world frame (the camera looks along -this) */
        const double *a = f->right, *b = f->up;
        f->toward_viewer[0] = a[1] * b[2] - a[2] * b[1];
        f->toward_viewer[1] = a[2] * b[0] - a[0] * b[2];
        f->toward_viewer[2] = a[0] * b[1] - a[1] * b[0];
    }
#undef ANAT
    return QR_OK;
}

qr_lesion_colors qr_lesion_colors_default(void) {
    qr_lesion_colors c;
    memset(&c, 0, sizeof c);
    c.decision[QR_MODEL_RIM_NEG] = (qr_rgb){64, 128, 200};
    c.decision[QR_MODEL_REVIEW] = (qr_rgb){255, 190, 0};
    c.decision[QR_MODEL_RIM_POS] = (qr_rgb){230, 25, 25};
    c.none = (qr_rgb){200, 120, 255};
    return c;
}

qr_status qr_lesion_colors_read_ctbl(const char *path, qr_lesion_colors *c) {
    FILE *f = fopen(path, "r");
    if (!f) return qr_fail(QR_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    char line[1024];
    int lineno = 0;
    qr_lesion_colors out = *c;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '#' || *p == '\n' || *p == '\r' || !*p) continue;
        int id, r, g, b, a, used = 0;
        char name[256];
        if (sscanf(p, "%d %255s %d %d %d %d %n", &id, name, &r, &g, &b, &a, &used) != 6 || r < 0 || r > 255 || g < 0 ||
            g > 255 || b < 0 || b > 255) {
            fclose(f);
            return qr_fail(QR_ERR_FORMAT, "%s line %d: not a colour table line 'id name R G B A'", path, lineno);
        }
        if (id >= QR_MODEL_RIM_NEG && id <= QR_MODEL_RIM_POS) out.decision[id] = (qr_rgb){(uint8_t)r, (uint8_t)g, (uint8_t)b};
    }
    fclose(f);
    *c = out;
    return QR_OK;
}

int qr_display_decision(int model_decision, int review_decision) {
    switch (review_decision) {
    case QR_REVIEW_RIM_POS: return QR_MODEL_RIM_POS;
    case QR_REVIEW_RIM_NEG: return QR_MODEL_RIM_NEG;
    case QR_REVIEW_UNSURE: return QR_MODEL_REVIEW;
    default: return model_decision;
    }
}

qr_rgb qr_probability_color(double p) {
    static const double anchor[5][3] = {{49, 54, 149}, {116, 173, 209}, {255, 255, 191}, {244, 109, 67}, {165, 0, 38}};
    if (!(p >= 0.0)) p = 0.0; /* also NaN -> 0; callers colour NaN as "no prediction" */
    if (p > 1.0) p = 1.0;
    double x = p * 4.0;
    int k = (int)x;
    if (k > 3) k = 3;
    double t = x - k;
    qr_rgb c;
    c.r = (uint8_t)lround(anchor[k][0] + t * (anchor[k + 1][0] - anchor[k][0]));
    c.g = (uint8_t)lround(anchor[k][1] + t * (anchor[k + 1][1] - anchor[k][1]));
    c.b = (uint8_t)lround(anchor[k][2] + t * (anchor[k + 1][2] - anchor[k][2]));
    return c;
}

qr_status qr_outline_labels(const qr_volume *labels, int slice_axis, qr_volume *out) {
    if (labels->dtype != QR_INT32) return qr_fail(QR_ERR_INVALID_ARG, "outline: the label map must be int32");
    if (slice_axis < 0 || slice_axis > 2) return qr_fail(QR_ERR_INVALID_ARG, "outline: slice axis %d", slice_axis);
    QR_TRY(qr_volume_alloc(out, &labels->geom, QR_INT32));
    const qr_geometry *g = &labels->geom;
    const int32_t *in = qr_volume_i32(labels);
    int32_t *o = qr_volume_i32(out);
    int a = slice_axis == 0 ? 1 : 0, b = slice_axis == 2 ? 1 : 2; /* the in-plane axes, a < b */
    int64_t stride[3] = {1, g->size[0], g->size[0] * g->size[1]};
    for (int64_t k = 0; k < g->size[2]; k++)
        for (int64_t j = 0; j < g->size[1]; j++)
            for (int64_t i = 0; i < g->size[0]; i++) {
                int64_t v = qr_geometry_index(g, i, j, k);
                if (in[v] != 0) continue;
                int64_t idx[3] = {i, j, k};
                int32_t l = 0;
                if (idx[a] > 0 && in[v - stride[a]] > 0) l = in[v - stride[a]];
                else if (idx[a] < g->size[a] - 1 && in[v + stride[a]] > 0) l = in[v + stride[a]];
                else if (idx[b] > 0 && in[v - stride[b]] > 0) l = in[v - stride[b]];
                else if (idx[b] < g->size[b] - 1 && in[v + stride[b]] > 0) l = in[v + stride[b]];
                if (l) o[v] = l; /* the rest stays as allocated (zero), its pages untouched: three
                                    outline volumes of a 0.5 mm grid would otherwise hold 510 MB */
            }
    return QR_OK;
}
