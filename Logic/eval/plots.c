/* plots.c - ROC, PR and count figures with cairo (what each shows: plots.h). */
#define _GNU_SOURCE
#include "plots.h"

#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/fileutil.h"

/* A plot frame: data (x0..x1, y0..y1) mapped into the pixel box (px, py, pw, ph). */
typedef struct frame {
    double px, py, pw, ph;
    double x0, x1, y0, y1;
} frame;

static double fx(const frame *f, double x) { return f->px + (x - f->x0) / (f->x1 - f->x0) * f->pw; }
static double fy(const frame *f, double y) { return f->py + f->ph - (y - f->y0) / (f->y1 - f->y0) * f->ph; }

static void text(cairo_t *cr, double x, double y, double size, const char *s, double align_x, int bold) {
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - align_x * e.width - e.x_bearing, y);
    cairo_show_text(cr, s);
}

static void vtext(cairo_t *cr, double x, double y, double size, const char *s) {
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, -M_PI / 2);
    text(cr, 0, 0, size, s, 0.5, 0);
    cairo_restore(cr);
}

/* Axes with ticks every `step` and labels. */
static void axes(cairo_t *cr, const frame *f, double xstep, double ystep, const char *xlabel, const char *ylabel) {
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_rectangle(cr, f->px, f->py, f->pw, f->ph);
    cairo_fill(cr);
    cairo_set_line_width(cr, 1);
    char buf[32];
    for (double x = ceil(f->x0 / xstep - 1e-9) * xstep; x <= f->x1 + 1e-9; x += xstep) {
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, fx(f, x), f->py);
        cairo_line_to(cr, fx(f, x), f->py + f->ph);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(buf, sizeof buf, xstep < 0.05 ? "%.2f" : (xstep < 1 ? "%.1f" : "%.0f"), fabs(x) < 1e-12 ? 0.0 : x);
        text(cr, fx(f, x), f->py + f->ph + 16, 11, buf, 0.5, 0);
    }
    for (double y = ceil(f->y0 / ystep - 1e-9) * ystep; y <= f->y1 + 1e-9; y += ystep) {
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, f->px, fy(f, y));
        cairo_line_to(cr, f->px + f->pw, fy(f, y));
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(buf, sizeof buf, ystep < 1 ? "%.1f" : "%.0f", fabs(y) < 1e-12 ? 0.0 : y);
        text(cr, f->px - 6, fy(f, y) + 4, 11, buf, 1.0, 0);
    }
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_rectangle(cr, f->px, f->py, f->pw, f->ph);
    cairo_stroke(cr);
    text(cr, f->px + f->pw / 2, f->py + f->ph + 36, 12, xlabel, 0.5, 0);
    vtext(cr, f->px - 42, f->py + f->ph / 2, 12, ylabel);
}

/* A polyline clipped to the frame. */
static void curve(cairo_t *cr, const frame *f, const qr_curve *c, double width, double r, double g, double b, double a) {
    if (c->n < 1) return;
    cairo_save(cr);
    cairo_rectangle(cr, f->px, f->py, f->pw, f->ph);
    cairo_clip(cr);
    cairo_set_source_rgba(cr, r, g, b, a);
    cairo_set_line_width(cr, width);
    cairo_move_to(cr, fx(f, c->x[0]), fy(f, c->y[0]));
    for (int64_t k = 1; k < c->n; k++) cairo_line_to(cr, fx(f, c->x[k]), fy(f, c->y[k]));
    cairo_stroke(cr);
    cairo_restore(cr);
}

static void dashed_line(cairo_t *cr, const frame *f, double x0, double y0, double x1, double y1) {
    cairo_save(cr);
    cairo_rectangle(cr, f->px, f->py, f->pw, f->ph);
    cairo_clip(cr);
    double dash[2] = {5, 4};
    cairo_set_dash(cr, dash, 2, 0);
    cairo_set_source_rgb(cr, 0.5, 0.5, 0.5);
    cairo_set_line_width(cr, 1.2);
    cairo_move_to(cr, fx(f, x0), fy(f, y0));
    cairo_line_to(cr, fx(f, x1), fy(f, y1));
    cairo_stroke(cr);
    cairo_restore(cr);
}

static qr_status save(cairo_surface_t *s, const char *path) {
    char tmp[QR_PATH_MAX];
    qr_status st = qr_temp_sibling(path, 1, tmp, sizeof tmp);
    if (st == QR_OK && cairo_surface_write_to_png(s, tmp) != CAIRO_STATUS_SUCCESS) {
        remove(tmp);
        st = qr_fail(QR_ERR_IO, "cannot write the figure %s", path);
    }
    cairo_surface_destroy(s);
    if (st != QR_OK) return st;
    return qr_commit_rename(tmp, path);
}

static cairo_t *begin(cairo_surface_t **s, int w, int h, const char *title) {
    *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cairo_t *cr = cairo_create(*s);
    cairo_set_source_rgb(cr, 0.97, 0.97, 0.97);
    cairo_paint(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text(cr, w / 2.0, 24, 14, title, 0.5, 1);
    return cr;
}

static void legend(cairo_t *cr, double x, double y, const char *const *labels, const double (*rgb)[4], int n) {
    for (int i = 0; i < n; i++) {
        cairo_set_source_rgba(cr, rgb[i][0], rgb[i][1], rgb[i][2], rgb[i][3]);
        cairo_set_line_width(cr, i == 0 ? 3 : 1.5);
        cairo_move_to(cr, x, y + 18 * i - 4);
        cairo_line_to(cr, x + 24, y + 18 * i - 4);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        text(cr, x + 30, y + 18 * i, 11, labels[i], 0, 0);
    }
}

static const double MEAN_RGB[3] = {0.10, 0.35, 0.75};
static const double FOLD_RGB[3] = {0.95, 0.55, 0.10};

/* The folds the mean curve averages: those with both classes (a fold lacking one has no curve). */
static int folds_with_curve(const qr_curve *c, int nfolds) {
    int n = 0;
    for (int k = 0; k < nfolds; k++) n += c[k].n > 0;
    return n;
}

qr_status qr_plot_roc(const char *png_path, const qr_eval_result *r, double max_fpr, const char *title) {
    cairo_surface_t *s;
    cairo_t *cr = begin(&s, 900, 460, title);
    frame full = {70, 50, 340, 340, 0, 1, 0, 1}, zoom = {520, 50, 340, 340, 0, max_fpr, 0, 1};
    axes(cr, &full, 0.2, 0.2, "false positive rate (1 - specificity)", "sensitivity");
    axes(cr, &zoom, max_fpr / 5, 0.2, "false positive rate (pROC region)", "sensitivity");
    /* shade the pROC region on the full plot */
    cairo_set_source_rgba(cr, 0.1, 0.35, 0.75, 0.08);
    cairo_rectangle(cr, fx(&full, 0), full.py, fx(&full, max_fpr) - fx(&full, 0), full.ph);
    cairo_fill(cr);
    const frame *fr[2] = {&full, &zoom};
    for (int p = 0; p < 2; p++) {
        dashed_line(cr, fr[p], 0, 0, 1, 1);
        for (int f = 0; f < r->nfolds; f++) curve(cr, fr[p], &r->roc_fold[f], 1.2, FOLD_RGB[0], FOLD_RGB[1], FOLD_RGB[2], 0.55);
        curve(cr, fr[p], &r->roc_mean, 3, MEAN_RGB[0], MEAN_RGB[1], MEAN_RGB[2], 1);
    }
    char l0[128], l1[64];
    snprintf(l0, sizeof l0, "mean of %d folds (pROC AUC %.3f)", folds_with_curve(r->roc_fold, r->nfolds), r->proc_auc.value);
    snprintf(l1, sizeof l1, "single folds");
    const char *labels[2] = {l0, l1};
    const double rgb[2][4] = {{MEAN_RGB[0], MEAN_RGB[1], MEAN_RGB[2], 1}, {FOLD_RGB[0], FOLD_RGB[1], FOLD_RGB[2], 0.8}};
    legend(cr, 560, 330, labels, rgb, 2);
    cairo_destroy(cr);
    return save(s, png_path);
}

qr_status qr_plot_pr(const char *png_path, const qr_eval_result *r, const char *title) {
    cairo_surface_t *s;
    cairo_t *cr = begin(&s, 520, 460, title);
    frame f = {70, 50, 400, 340, 0, 1, 0, 1};
    axes(cr, &f, 0.2, 0.2, "recall (sensitivity)", "precision (PPV)");
    double prev = r->n_lesions > 0 ? (double)r->n_rimpos / (double)r->n_lesions : 0;
    dashed_line(cr, &f, 0, prev, 1, prev);
    for (int k = 0; k < r->nfolds; k++) curve(cr, &f, &r->pr_fold[k], 1.2, FOLD_RGB[0], FOLD_RGB[1], FOLD_RGB[2], 0.55);
    curve(cr, &f, &r->pr_mean, 3, MEAN_RGB[0], MEAN_RGB[1], MEAN_RGB[2], 1);
    char l0[128], l2[64];
    snprintf(l0, sizeof l0, "mean of %d folds (PR AUC %.3f)", folds_with_curve(r->pr_fold, r->nfolds), r->pr_auc.value);
    snprintf(l2, sizeof l2, "prevalence %.3f", prev);
    const char *labels[3] = {l0, "single folds", l2};
    const double rgb[3][4] = {{MEAN_RGB[0], MEAN_RGB[1], MEAN_RGB[2], 1},
                              {FOLD_RGB[0], FOLD_RGB[1], FOLD_RGB[2], 0.8},
                              {0.5, 0.5, 0.5, 1}};
    legend(cr, 90, 300, labels, rgb, 3);
    cairo_destroy(cr);
    return save(s, png_path);
}

qr_status qr_plot_counts(const char *png_path, const qr_eval_result *r, const char *title) {
    cairo_surface_t *s;
    cairo_t *cr = begin(&s, 520, 480, title);
    double hi = 1;
    for (int k = 0; k < r->n_subjects; k++) hi = fmax(hi, fmax(r->count_true[k], r->count_pred[k]));
    double step = hi <= 10 ? 1 : (hi <= 25 ? 5 : 10);
    hi = ceil((hi + 0.5) / step) * step;
    frame fd = {70, 50, 400, 360, -0.5, hi, -0.5, hi};
    axes(cr, &fd, step, step, "expert rim+ count per subject", "predicted rim+ count");
    dashed_line(cr, &fd, -0.5, -0.5, hi, hi);
    /* one bubble per distinct (expert, predicted) pair; its area grows with the number of subjects
     * there, and that number is written beside it */
    int n = r->n_subjects;
    for (int k = 0; k < n; k++) {
        int first = 1, count = 0;
        for (int q = 0; q < n; q++) {
            if (r->count_true[q] != r->count_true[k] || r->count_pred[q] != r->count_pred[k]) continue;
            if (q < k) first = 0;
            count++;
        }
        if (!first) continue;
        double x = fx(&fd, r->count_true[k]), y = fy(&fd, r->count_pred[k]);
        cairo_set_source_rgba(cr, MEAN_RGB[0], MEAN_RGB[1], MEAN_RGB[2], 0.55);
        cairo_arc(cr, x, y, 3.5 + 2.0 * sqrt((double)(count - 1)), 0, 2 * M_PI);
        cairo_fill(cr);
        if (count > 1) {
            char lab[16];
            snprintf(lab, sizeof lab, "%d", count);
            cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
            text(cr, x + 6 + 2.0 * sqrt((double)(count - 1)), y - 4, 9, lab, 0, 0);
        }
    }
    char buf[160];
    if (isnan(r->count_r.value))
        snprintf(buf, sizeof buf, "r undefined (constant counts), MSE %.2f, %d subjects", r->count_mse.value, n);
    else if (isfinite(r->count_r.lo) && isfinite(r->count_r.hi)) /* the report table's interval */
        snprintf(buf, sizeof buf, "Pearson r %.2f (95%% bootstrap CI %.2f to %.2f), MSE %.2f, %d subjects", r->count_r.value,
                 r->count_r.lo, r->count_r.hi, r->count_mse.value, n);
    else if (isfinite(r->count_r_ci[0]) && isfinite(r->count_r_ci[1]))
        snprintf(buf, sizeof buf, "Pearson r %.2f (95%% CI %.2f to %.2f, Fisher z), MSE %.2f, %d subjects", r->count_r.value,
                 r->count_r_ci[0], r->count_r_ci[1], r->count_mse.value, n);
    else
        snprintf(buf, sizeof buf, "Pearson r %.2f, MSE %.2f, %d subjects", r->count_r.value, r->count_mse.value, n);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text(cr, 270, 466, 11, buf, 0.5, 0);
    cairo_destroy(cr);
    return save(s, png_path);
}
