/* picture.c - the prediction summary PNG (see picture.h), drawn with cairo. */
#include "picture.h"

#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/fileutil.h"
#include "../io/geometry.h"

qr_picture_options qr_picture_options_default(void) {
    qr_picture_options o;
    memset(&o, 0, sizeof o);
    o.max_rows = 3;
    o.zoom = 2.0;
    o.qsm_window[0] = -100.0;
    o.qsm_window[1] = 150.0;
    return o;
}

void qr_decision_color(int decision, unsigned char rgb[3]) {
    static const unsigned char colors[4][3] = {{0, 0, 0}, {64, 128, 200}, {255, 190, 0}, {230, 25, 25}};
    int d = decision >= 0 && decision <= 3 ? decision : 0;
    memcpy(rgb, colors[d], 3);
}

/* Display range of a volume: 1st and 99.5th percentiles of its non-zero voxels (histogram). */
static void auto_window(const qr_volume *v, double out[2]) {
    const float *p = qr_volume_f32(v);
    int64_t n = qr_volume_nvox(v), m = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (p[i] != 0.0f && isfinite(p[i])) {
            lo = fmin(lo, p[i]);
            hi = fmax(hi, p[i]);
            m++;
        }
    if (!m || !(hi > lo)) {
        out[0] = 0;
        out[1] = 1;
        return;
    }
    enum { NB = 4096 };
    int64_t *h = calloc(NB, sizeof *h);
    if (!h) {
        out[0] = lo;
        out[1] = hi;
        return;
    }
    for (int64_t i = 0; i < n; i++)
        if (p[i] != 0.0f && isfinite(p[i])) h[(int)fmin(NB - 1, (p[i] - lo) / (hi - lo) * NB)]++;
    int64_t acc = 0;
    out[0] = lo;
    out[1] = hi;
    int got_lo = 0;
    for (int b = 0; b < NB; b++) {
        acc += h[b];
        if (!got_lo && acc >= 0.01 * (double)m) {
            out[0] = lo + (hi - lo) * b / NB;
            got_lo = 1;
        }
        if (acc >= 0.995 * (double)m) {
            out[1] = lo + (hi - lo) * (b + 1) / NB;
            break;
        }
    }
    free(h);
}

typedef struct view {
    double rmax, amax, pix; /* RAS of the top-left corner (R, A) and pixel size in mm */
    int w, h;               /* tile size in pixels */
} view;

/* Nearest voxel index of tile pixel (x, y) on the axial plane S = s; -1 if outside the volume. */
static int64_t sample_index(const qr_geometry *g, const view *vw, double s, int x, int y) {
    double lps[3] = {-(vw->rmax - (x + 0.5) * vw->pix), -(vw->amax - (y + 0.5) * vw->pix), s}, ijk[3];
    if (qr_geometry_lps_to_index(g, lps, ijk) != QR_OK) return -1;
    int64_t c[3];
    for (int a = 0; a < 3; a++) {
        c[a] = (int64_t)floor(ijk[a] + 0.5);
        if (c[a] < 0 || c[a] >= g->size[a]) return -1;
    }
    return qr_geometry_index(g, c[0], c[1], c[2]);
}

static void put_px(unsigned char *row, int x, unsigned r, unsigned gr, unsigned b) {
    uint32_t *px = (uint32_t *)row + x;
    *px = 0xff000000u | (r << 16) | (gr << 8) | b;
}

static unsigned gray(double v, const double win[2]) {
    double t = (v - win[0]) / (win[1] - win[0]);
    return (unsigned)(255.0 * fmin(1.0, fmax(0.0, t)) + 0.5);
}

/* Draw one axial tile of `vol` (gray) with optional lesion outlines into the surface data. */
static void draw_tile(unsigned char *data, int stride, int x0, int y0, const view *vw, double s, const qr_volume *vol,
                      const double win[2], const qr_prediction *pred, int outlines, int64_t *idx_buf) {
    const qr_geometry *g = &vol->geom;
    for (int y = 0; y < vw->h; y++)
        for (int x = 0; x < vw->w; x++) idx_buf[(int64_t)y * vw->w + x] = sample_index(g, vw, s, x, y);
    const float *v = qr_volume_f32(vol);
    const int32_t *lab = pred ? qr_volume_i32(&pred->labels) : NULL;
    const int32_t *ov = pred ? qr_volume_i32(&pred->overlay) : NULL;
    for (int y = 0; y < vw->h; y++) {
        unsigned char *row = data + (size_t)(y0 + y) * (size_t)stride;
        for (int x = 0; x < vw->w; x++) {
            int64_t i = idx_buf[(int64_t)y * vw->w + x];
            unsigned gv = i < 0 ? 0 : gray(v[i], win);
            put_px(row, x0 + x, gv, gv, gv);
            if (!outlines || i < 0 || lab[i] <= 0) continue;
            /* outline: a lesion pixel with a 4-neighbour (within 2 px) of another label */
            int edge = 0;
            for (int d = 1; d <= 2 && !edge; d++) {
                int nx[4] = {x - d, x + d, x, x}, ny[4] = {y, y, y - d, y + d};
                for (int k = 0; k < 4; k++) {
                    int64_t j = (nx[k] < 0 || ny[k] < 0 || nx[k] >= vw->w || ny[k] >= vw->h)
                                    ? -1
                                    : idx_buf[(int64_t)ny[k] * vw->w + nx[k]];
                    if (j < 0 || lab[j] != lab[i]) {
                        edge = 1;
                        break;
                    }
                }
            }
            if (edge) {
                unsigned char c[3];
                qr_decision_color(ov[i], c);
                put_px(row, x0 + x, c[0], c[1], c[2]);
            }
        }
    }
}

/* A lesion's label and its place in the prediction, sorted by label to find a voxel's lesion. */
typedef struct {
    int32_t id;
    int64_t u;
} label_ref;

typedef struct {
    double sx, sy;
    int64_t cnt;
} label_sums;

static int cmp_label_ref(const void *a, const void *b) {
    int32_t x = ((const label_ref *)a)->id, y = ((const label_ref *)b)->id;
    return (x > y) - (x < y);
}

/* Place in `by` (n entries sorted by id) of label `id`, or -1 (0 is background). */
static int64_t find_label(const label_ref *by, int64_t n, int32_t id) {
    int64_t lo = 0, hi = n;
    if (id <= 0) return -1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (by[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && by[lo].id == id ? lo : -1;
}

static void text(cairo_t *cr, double x, double y, double size, const char *s, double r, double g, double b) {
    cairo_set_font_size(cr, size);
    cairo_move_to(cr, x, y);
    cairo_text_path(cr, s);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 3.0);
    cairo_stroke_preserve(cr);
    cairo_set_source_rgb(cr, r, g, b);
    cairo_fill(cr);
}

qr_status qr_picture_path_check(const char *path) {
    const size_t n = strlen(path);
    if (n < 4 || strcasecmp(path + n - 4, ".png") != 0)
        return qr_fail(QR_ERR_INVALID_ARG, "%s: the picture is written as PNG: give it a name ending in .png", path);
    return QR_OK;
}

qr_status qr_picture_write(const qr_volume *qsm, const qr_volume *flair, const qr_prediction *p,
                           const qr_picture_options *opt, const char *png_path) {
    qr_pending pending;
    QR_TRY(qr_picture_write_pending(qsm, flair, p, opt, png_path, &pending));
    return qr_pending_commit(&pending);
}

qr_status qr_picture_write_pending(const qr_volume *qsm, const qr_volume *flair, const qr_prediction *p,
                                   const qr_picture_options *opt_in, const char *png_path, qr_pending *out) {
    memset(out, 0, sizeof *out);
    QR_TRY(qr_picture_path_check(png_path));
    if (strlen(png_path) >= sizeof out->path) return qr_fail(QR_ERR_INVALID_ARG, "path too long: %s", png_path);
    qr_picture_options opt = opt_in ? *opt_in : qr_picture_options_default();
    if (opt.max_rows < 1) opt.max_rows = 1;
    if (!(opt.zoom > 0)) opt.zoom = 2.0;
    const qr_geometry *g = &qsm->geom;
    if (p->labels.data && memcmp(p->labels.geom.size, g->size, sizeof g->size) != 0)
        return qr_fail(QR_ERR_INVALID_ARG, "picture: prediction and QSM are on different grids");
    double fwin[2] = {opt.flair_window[0], opt.flair_window[1]};
    if (fwin[0] == 0 && fwin[1] == 0) auto_window(flair, fwin);

    /* In-plane RAS extent of the volume. */
    double rmin = INFINITY, rmax = -INFINITY, amin = INFINITY, amax = -INFINITY;
    for (int c = 0; c < 8; c++) {
        double ijk[3] = {(c & 1) ? g->size[0] - 0.5 : -0.5, (c & 2) ? g->size[1] - 0.5 : -0.5,
                         (c & 4) ? g->size[2] - 0.5 : -0.5},
               ras[3];
        qr_geometry_index_to_ras(g, ijk, ras);
        rmin = fmin(rmin, ras[0]);
        rmax = fmax(rmax, ras[0]);
        amin = fmin(amin, ras[1]);
        amax = fmax(amax, ras[1]);
    }
    /* the index axis closest to S is the slice axis, whatever the storage order */
    qr_axis_order ord;
    qr_geometry_canonical_order(g, &ord);
    const int ax_r = ord.perm[0], ax_a = ord.perm[1], ax_s = ord.perm[2];
    view vw;
    vw.pix = fmin(g->spacing[ax_r], g->spacing[ax_a]) / opt.zoom;
    vw.rmax = rmax;
    vw.amax = amax;
    vw.w = (int)ceil((rmax - rmin) / vw.pix);
    vw.h = (int)ceil((amax - amin) / vw.pix);
    if (vw.w > 4096 || vw.h > 4096) return qr_fail(QR_ERR_INVALID_ARG, "picture: slices too large to draw (%dx%d px)", vw.w, vw.h);

    /* Rows: distinct axial planes through the most probable lesions (S of their centres). */
    double planes[16];
    int64_t row_lesion[16]; /* the lesion each row was chosen for (-1: none) */
    int nrows = 0;
    if (opt.max_rows > 16) opt.max_rows = 16;
    for (int64_t u = 0; u < p->n && nrows < opt.max_rows; u++) {
        double lps[3] = {-p->lesions[u].center_ras[0], -p->lesions[u].center_ras[1], p->lesions[u].center_ras[2]}, ijk[3];
        if (qr_geometry_lps_to_index(g, lps, ijk) != QR_OK) continue;
        double dup = 0, on_plane[3] = {ijk[0], ijk[1], ijk[2]}, ras[3];
        on_plane[ax_s] = floor(ijk[ax_s] + 0.5);
        qr_geometry_index_to_ras(g, on_plane, ras);
        for (int r = 0; r < nrows; r++) dup = dup || fabs(planes[r] - ras[2]) < 1e-6;
        if (!dup) {
            row_lesion[nrows] = u;
            planes[nrows++] = ras[2];
        }
    }
    if (nrows == 0) {
        double mid[3] = {(g->size[0] - 1) / 2.0, (g->size[1] - 1) / 2.0, (g->size[2] - 1) / 2.0}, ras[3];
        mid[ax_s] = floor((double)(g->size[ax_s] - 1) / 2.0);
        qr_geometry_index_to_ras(g, mid, ras);
        row_lesion[nrows] = -1;
        planes[nrows++] = ras[2];
    }

    const int pad = 8, head = opt.title ? 84 : 60, colhead = 24;
    /* Fourth column: a close-up of the row's lesion on the QSM without outlines, so its edge (where
     * a paramagnetic rim sits) can be judged by eye: a square field of CLOSEUP_MM around the
     * lesion's centre, drawn at the tile height. */
    const double CLOSEUP_MM = 40.0;
    const int W = 4 * vw.w + 5 * pad, H = head + nrows * (vw.h + colhead + pad) + pad;
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(surf);
        return qr_fail(QR_ERR_NOMEM, "picture: cannot create a %dx%d image", W, H);
    }
    int64_t *idx = malloc((size_t)vw.w * (size_t)vw.h * sizeof *idx);
    /* the lesions sorted by label, and per lesion the sums that place its number */
    label_ref *by_id = malloc((size_t)(p->n > 0 ? p->n : 1) * sizeof *by_id);
    label_sums *sums = malloc((size_t)(p->n > 0 ? p->n : 1) * sizeof *sums);
    if (!idx || !by_id || !sums) {
        free(idx);
        free(by_id);
        free(sums);
        cairo_surface_destroy(surf);
        return qr_fail(QR_ERR_NOMEM, "picture: out of memory");
    }
    for (int64_t u = 0; u < p->n; u++) by_id[u] = (label_ref){p->lesions[u].id, u};
    qsort(by_id, (size_t)p->n, sizeof *by_id, cmp_label_ref);
    cairo_t *cr = cairo_create(surf);
    cairo_set_source_rgb(cr, 0.08, 0.08, 0.1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_surface_flush(surf);

    unsigned char *data = cairo_image_surface_get_data(surf);
    int stride = cairo_image_surface_get_stride(surf);
    for (int r = 0; r < nrows; r++) {
        int y0 = head + r * (vw.h + colhead + pad) + colhead;
        draw_tile(data, stride, pad, y0, &vw, planes[r], qsm, opt.qsm_window, NULL, 0, idx);
        draw_tile(data, stride, 2 * pad + vw.w, y0, &vw, planes[r], flair, fwin, NULL, 0, idx);
        draw_tile(data, stride, 3 * pad + 2 * vw.w, y0, &vw, planes[r], qsm, opt.qsm_window, p, 1, idx);
        if (row_lesion[r] >= 0) {
            const qr_lesion_result *R = &p->lesions[row_lesion[r]];
            view cu = vw;
            cu.pix = CLOSEUP_MM / (vw.w < vw.h ? vw.w : vw.h);
            cu.rmax = R->center_ras[0] + 0.5 * vw.w * cu.pix;
            cu.amax = R->center_ras[1] + 0.5 * vw.h * cu.pix;
            draw_tile(data, stride, 4 * pad + 3 * vw.w, y0, &cu, planes[r], qsm, opt.qsm_window, NULL, 0, idx);
        }
    }
    cairo_surface_mark_dirty(surf);

    /* Headings, legend, lesion numbers. */
    char buf[256];
    const double fs = fmin(14.0, fmax(9.0, vw.w / 22.0)); /* font size that fits a tile heading */
    if (opt.title) text(cr, pad, 26, 18, opt.title, 1, 1, 1);
    int ly = opt.title ? 50 : 24;
    snprintf(buf, sizeof buf, "%lld lesions: %lld rim+, %lld review, %lld rim-", (long long)p->n,
             (long long)p->n_rim_positive, (long long)p->n_review,
             (long long)(p->n - p->n_rim_positive - p->n_review));
    text(cr, pad, ly, fs, buf, 0.9, 0.9, 0.9);
    char legend[4][64];
    snprintf(legend[3], sizeof legend[3], "rim+  P >= %.2f", p->threshold_used);
    snprintf(legend[2], sizeof legend[2], "review  P >= %.2f", p->threshold_sensitive);
    snprintf(legend[1], sizeof legend[1], "rim-");
    double lx = pad;
    for (int d = 3; d >= 1; d--) {
        if (d == 2 && !(p->threshold_sensitive < p->threshold_used)) continue;
        unsigned char c[3];
        qr_decision_color(d, c);
        cairo_set_source_rgb(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0);
        cairo_rectangle(cr, lx, ly + 10, fs, fs);
        cairo_fill(cr);
        text(cr, lx + fs + 6, ly + 10 + fs - 2, fs, legend[d], 0.9, 0.9, 0.9);
        cairo_text_extents_t ext;
        cairo_set_font_size(cr, fs);
        cairo_text_extents(cr, legend[d], &ext);
        lx += fs + 6 + ext.x_advance + 18;
    }
    for (int r = 0; r < nrows; r++) {
        int ytile = head + r * (vw.h + colhead + pad) + colhead;
        snprintf(buf, sizeof buf, "QSM  S=%.1f mm", planes[r]);
        text(cr, pad, ytile - 6, fs, buf, 0.85, 0.85, 0.85);
        text(cr, 2 * pad + vw.w, ytile - 6, fs, "FLAIR", 0.85, 0.85, 0.85);
        text(cr, 3 * pad + 2 * vw.w, ytile - 6, fs, "QSM + decisions", 0.85, 0.85, 0.85);
        if (row_lesion[r] >= 0) {
            const qr_lesion_result *R = &p->lesions[row_lesion[r]];
            snprintf(buf, sizeof buf, "lesion %d close-up, P(rim+) %.2f", R->id, R->probability);
            text(cr, 4 * pad + 3 * vw.w, ytile - 6, fs, buf, 0.85, 0.85, 0.85);
            /* a 10 mm scale bar and ticks pointing at the lesion centre */
            double px_mm = (vw.w < vw.h ? vw.w : vw.h) / CLOSEUP_MM, x0 = 4 * pad + 3 * vw.w, cx = x0 + 0.5 * vw.w,
                   cy = ytile + 0.5 * vw.h, gap = 0.5 * sqrt(R->volume_mm3 / 3.0) * px_mm + 8;
            unsigned char c[3];
            qr_decision_color(R->decision, c);
            cairo_set_source_rgb(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0);
            cairo_set_line_width(cr, 2.0);
            cairo_move_to(cr, cx - gap - 14, cy);
            cairo_line_to(cr, cx - gap, cy);
            cairo_move_to(cr, cx, cy - gap - 14);
            cairo_line_to(cr, cx, cy - gap);
            cairo_stroke(cr);
            cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
            cairo_move_to(cr, x0 + vw.w - 12 - 10 * px_mm, ytile + vw.h - 10);
            cairo_line_to(cr, x0 + vw.w - 12, ytile + vw.h - 10);
            cairo_stroke(cr);
            text(cr, x0 + vw.w - 12 - 10 * px_mm, ytile + vw.h - 16, 11, "10 mm", 0.9, 0.9, 0.9);
        }
        text(cr, pad + 4, ytile + 16, 12, "R", 1, 1, 0.6);
        text(cr, pad + vw.w - 14, ytile + 16, 12, "L", 1, 1, 0.6);
        snprintf(buf, sizeof buf, "[%.0f, %.0f] ppb", opt.qsm_window[0], opt.qsm_window[1]);
        text(cr, pad + 4, ytile + vw.h - 6, 11, buf, 0.8, 0.8, 0.8);
        /* numbers of the lesions cut by this plane, at their in-plane centroid: one pass over the
         * plane's samples (every second pixel) adds each to its lesion's sums */
        const int32_t *lab = qr_volume_i32(&p->labels);
        memset(sums, 0, (size_t)p->n * sizeof *sums);
        for (int y = 0; y < vw.h; y += 2)
            for (int x = 0; x < vw.w; x += 2) {
                int64_t i = sample_index(g, &vw, planes[r], x, y);
                int64_t k = i >= 0 ? find_label(by_id, p->n, lab[i]) : -1;
                if (k < 0) continue;
                sums[k].sx += x;
                sums[k].sy += y;
                sums[k].cnt++;
            }
        for (int64_t u = 0; u < p->n; u++) {
            const qr_lesion_result *R = &p->lesions[u];
            const int64_t k = find_label(by_id, p->n, R->id);
            if (k < 0 || !sums[k].cnt) continue; /* (an id <= 0 labels no voxel) */
            const label_sums *S = &sums[k];
            unsigned char c[3];
            qr_decision_color(R->decision, c);
            snprintf(buf, sizeof buf, "%d", R->id);
            text(cr, 3 * pad + 2 * vw.w + S->sx / (double)S->cnt + 8, ytile + S->sy / (double)S->cnt - 8, 14, buf,
                 c[0] / 255.0, c[1] / 255.0, c[2] / 255.0);
        }
    }
    cairo_destroy(cr);
    free(idx);
    free(by_id);
    free(sums);

    char tmp[QR_PATH_MAX];
    qr_status s = qr_temp_sibling(png_path, 1, tmp, sizeof tmp);
    if (s == QR_OK) {
        cairo_status_t cs = cairo_surface_write_to_png(surf, tmp);
        if (cs != CAIRO_STATUS_SUCCESS) {
            remove(tmp);
            s = qr_fail(QR_ERR_IO, "cannot write %s: %s%s", png_path, cairo_status_to_string(cs),
                        cs == CAIRO_STATUS_WRITE_ERROR ? " (disk full, or a file-size limit?)" : "");
        } else {
            qr_sync_path(tmp); /* a qr_pending is on the disk before it is put in place */
            out->kind = QR_PENDING_FILE;
            memcpy(out->tmp, tmp, sizeof out->tmp);
            strcpy(out->path, png_path);
        }
    }
    cairo_surface_destroy(surf);
    return s;
}
