/*
 * radiomics.c - the extraction pipeline of PyRadiomics' RadiomicsFeatureExtractor.execute() for one
 * label of a label map, on the ROI bounding box only.
 *
 *   1. ROI = voxels with labels == label; checkMask: present, more than one voxel, at least
 *      minimumROIDimensions axes with extent > 1, more than minimumROISize voxels; its bounding box.
 *   2. normalize: the whole image as (x - mean) / sd (ITK NormalizeImageFilter: sample sd), outliers
 *      clipped to +-removeOutliers, times normalizeScale.
 *   3. preCrop: the working volume becomes the bounding box widened by padDistance (clipped).
 *   4. resegmentRange: ROI voxels outside the thresholds (absolute, relative to the ROI maximum, or
 *      mean + k sd) are dropped; checkMask again; the bounding box is the new one. Shape uses the
 *      original ROI cropped to that box (resegmentShape: the resegmented ROI), as PyRadiomics does.
 *   5. shape features on the ROI mask.
 *   6. per image type and derived image (Original; wavelet sub-bands): every other feature class on
 *      the image cropped to the bounding box.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/fileutil.h"
#include "../io/geometry.h"
#include "rx_internal.h"

/* ------------------------------------------------------------------ class registry */
const rx_class_info *rx_class_get(rx_class_id c) {
    switch (c) {
    case RX_SHAPE: return &rx_shape_info;
    case RX_FIRSTORDER: return &rx_firstorder_info;
    case RX_GLCM: return &rx_glcm_info;
    case RX_GLRLM: return &rx_glrlm_info;
    case RX_GLSZM: return &rx_glszm_info;
    case RX_GLDM: return &rx_gldm_info;
    case RX_NGTDM: return &rx_ngtdm_info;
    default: return NULL;
    }
}

int rx_class_find(const char *name) {
    for (int c = 0; c < RX_CLASS_COUNT; c++)
        if (!strcmp(rx_class_get((rx_class_id)c)->name, name)) return c;
    return -1;
}

/* ------------------------------------------------------------------ derived-image layout */
static void wavelet_request(const rx_settings *s, rx_swt_request *q) {
    memset(q, 0, sizeof *q);
    q->naxes = 0;
    for (int ax = 2; ax >= 0; ax--) /* PyRadiomics: axes (2, 1, 0), minus force2Ddimension */
        if (!(s->force2d && ax == s->force2d_dim)) q->axes[q->naxes++] = ax;
    q->w = s->wavelet;
    q->level = s->level;
    q->start_level = s->start_level;
}

static int images_of_type(const rx_image_type *t) {
    if (t->kind == RX_IMAGE_ORIGINAL) return 1;
    rx_swt_request q;
    wavelet_request(&t->s, &q);
    return rx_swt_count(&q);
}

static void image_name(const rx_image_type *t, int n, char *buf, size_t len) {
    if (t->kind == RX_IMAGE_ORIGINAL) {
        snprintf(buf, len, "original");
        return;
    }
    rx_swt_request q;
    wavelet_request(&t->s, &q);
    char band[8];
    int lev;
    rx_swt_name(&q, n, band, &lev);
    if (lev == 1) snprintf(buf, len, "wavelet-%s", band);
    else snprintf(buf, len, "wavelet%d-%s", lev, band);
}

/* ------------------------------------------------------------------ load / free */
void qr_radiomics_free(qr_radiomics *r) {
    if (!r) return;
    for (int64_t i = 0; i < r->count; i++) free(r->names[i]);
    free(r->names);
    free(r);
}

static qr_status build_names(qr_radiomics *r) {
    int64_t n = 0;
    for (int c = 0; c < r->n_classes; c++)
        if (r->classes[c].cls == RX_SHAPE) n += r->classes[c].n;
    for (int t = 0; t < r->n_types; t++) {
        int per = 0;
        for (int c = 0; c < r->n_classes; c++)
            if (r->classes[c].cls != RX_SHAPE) per += r->classes[c].n;
        n += (int64_t)images_of_type(&r->types[t]) * per;
    }
    r->names = calloc((size_t)(n > 0 ? n : 1), sizeof *r->names);
    if (!r->names) return qr_fail(QR_ERR_NOMEM, "out of memory (feature names)");
    int64_t k = 0;
    char buf[256], img[64];
    for (int c = 0; c < r->n_classes; c++) {
        const rx_class_sel *sel = &r->classes[c];
        if (sel->cls != RX_SHAPE) continue;
        for (int f = 0; f < sel->n; f++) {
            snprintf(buf, sizeof buf, "original_shape_%s", rx_shape_info.names[sel->ids[f]]);
            if (!(r->names[k] = strdup(buf))) goto oom;
            k++;
        }
    }
    for (int t = 0; t < r->n_types; t++)
        for (int i = 0; i < images_of_type(&r->types[t]); i++) {
            image_name(&r->types[t], i, img, sizeof img);
            for (int c = 0; c < r->n_classes; c++) {
                const rx_class_sel *sel = &r->classes[c];
                if (sel->cls == RX_SHAPE) continue;
                const rx_class_info *ci = rx_class_get(sel->cls);
                for (int f = 0; f < sel->n; f++) {
                    snprintf(buf, sizeof buf, "%s_%s_%s", img, ci->name, ci->names[sel->ids[f]]);
                    if (!(r->names[k] = strdup(buf))) goto oom;
                    k++;
                }
            }
        }
    r->count = k;
    return QR_OK;
oom:
    r->count = k; /* the names made so far, freed by qr_radiomics_free */
    return qr_fail(QR_ERR_NOMEM, "out of memory (feature names)");
}

qr_status qr_radiomics_load_text(const char *text, const char *what, qr_radiomics **out) {
    if (!text || !out) return qr_fail(QR_ERR_INVALID_ARG, "qr_radiomics_load_text: NULL argument");
    *out = NULL;
    qr_radiomics *r = calloc(1, sizeof *r);
    if (!r) return qr_fail(QR_ERR_NOMEM, "out of memory (radiomics configuration)");
    qr_status st = rx_parse_params(text, what ? what : "parameter text", r);
    if (st == QR_OK) st = build_names(r);
    if (st != QR_OK) {
        qr_radiomics_free(r);
        return st;
    }
    *out = r;
    return QR_OK;
}

qr_status qr_radiomics_load(const char *params_yaml, qr_radiomics **out) {
    if (!out) return qr_fail(QR_ERR_INVALID_ARG, "qr_radiomics_load: NULL output");
    *out = NULL;
    if (!params_yaml) return qr_radiomics_load_text(qr_radiomics_preset_text(), "the QSMRim-Net preset", out);
    QR_TRY(qr_input_file_check(params_yaml)); /* a pipe would block the reader */
    FILE *f = fopen(params_yaml, "rb");
    if (!f) return qr_fail(QR_ERR_IO, "cannot open parameter file %s", params_yaml);
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (64u << 20)) {
                free(text), fclose(f);
                return qr_fail(QR_ERR_FORMAT, "parameter file %s is too large to be a PyRadiomics parameter file", params_yaml);
            }
            char *t = realloc(text, cap);
            if (!t) {
                free(text), fclose(f);
                return qr_fail(QR_ERR_NOMEM, "out of memory reading %s", params_yaml);
            }
            text = t;
        }
        size_t got = fread(text + len, 1, 4096, f);
        len += got;
        if (got < 4096) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(text);
        return qr_fail(QR_ERR_IO, "cannot read parameter file %s", params_yaml);
    }
    text[len] = '\0';
    if (strlen(text) != len) {
        free(text);
        return qr_fail(QR_ERR_FORMAT, "parameter file %s is binary, not YAML", params_yaml);
    }
    qr_status st = qr_radiomics_load_text(text, params_yaml, out);
    free(text);
    return st;
}

int64_t qr_radiomics_count(const qr_radiomics *r) { return r ? r->count : 0; }

const char *qr_radiomics_name(const qr_radiomics *r, int64_t i) {
    if (!r || i < 0 || i >= r->count) return NULL;
    return r->names[i];
}

int32_t qr_radiomics_label(const qr_radiomics *r) { return r ? r->global.label : 1; }

qr_radiomics_precision qr_radiomics_precision_of(const char *t) {
    return (t && !strcasecmp(t, "float")) ? QR_RADIOMICS_SINGLE : QR_RADIOMICS_DOUBLE;
}

qr_radiomics_options qr_radiomics_options_default(void) {
    qr_radiomics_options o = {QR_RADIOMICS_SINGLE, NULL};
    return o;
}

/* ------------------------------------------------------------------ compute */
/* the working volume as the feature pipeline reads it (numpy order z, y, x) */
typedef struct working {
    const float *data;     /* the image, x fastest */
    int64_t full[3];       /* image dims (nz, ny, nx) */
    int64_t off[3], dims[3]; /* working box inside the image (preCrop) */
    int normalize;
    double mean, inv_sd, outliers, scale;
    int has_outliers;
} working;

static double working_get(const void *ctx, int64_t z, int64_t y, int64_t x) {
    const working *w = ctx;
    double v = w->data[((z + w->off[0]) * w->full[1] + (y + w->off[1])) * w->full[2] + (x + w->off[2])];
    if (w->normalize) {
        v = (v + -w->mean) * w->inv_sd;
        if (w->has_outliers) {
            if (v > w->outliers) v = w->outliers;
            if (v < -w->outliers) v = -w->outliers;
        }
        v *= w->scale;
    }
    return v;
}

/* PyRadiomics checkMask on a mask given as a predicate over the working box; fills the bounding
 * box (inclusive, working coordinates) and the voxel count. */
static qr_status check_mask(const rx_settings *g, const int64_t lo[3], const int64_t hi[3], int64_t count,
                            int32_t label, const char *which) {
    if (count == 0) return qr_fail(QR_ERR_EMPTY, "label %d is not present in the label map", (int)label);
    int ndims = 0;
    for (int d = 0; d < 3; d++) ndims += (hi[d] - lo[d] + 1) > 1;
    if (ndims == 0)
        return qr_fail(QR_ERR_EMPTY, "%slabel %d has only 1 voxel: no features for a single voxel", which, (int)label);
    if (ndims < g->min_roi_dims)
        return qr_fail(QR_ERR_EMPTY,
                       "%slabel %d has too few dimensions (extent > 1 voxel along %d axes, minimumROIDimensions %d)",
                       which, (int)label, ndims, g->min_roi_dims);
    if (g->min_roi_size > 0 && count <= g->min_roi_size)
        return qr_fail(QR_ERR_EMPTY, "%slabel %d is too small (%lld voxels, minimumROISize %lld)", which, (int)label,
                       (long long)count, (long long)g->min_roi_size);
    return QR_OK;
}

/* geometryTolerance as PyRadiomics applies it (SimpleITK's global coordinate and direction
 * tolerances, checked by ITK's VerifyInputInformation): origins and spacings may differ by
 * tol x the image's first spacing, direction cosines by tol. Without it, qr_geometry_same. */
static int geometry_matches(const qr_geometry *a, const qr_geometry *b, double tol) {
    for (int d = 0; d < 3; d++)
        if (a->size[d] != b->size[d]) return 0;
    if (tol <= 0) return qr_geometry_same(a, b);
    const double coord = tol * a->spacing[0];
    for (int d = 0; d < 3; d++)
        if (fabs(a->spacing[d] - b->spacing[d]) > coord || fabs(a->origin[d] - b->origin[d]) > coord) return 0;
    for (int d = 0; d < 9; d++)
        if (fabs(a->direction[d] - b->direction[d]) > tol) return 0;
    return 1;
}

qr_status qr_radiomics_compute(const qr_radiomics *r, const qr_volume *image, const qr_volume *labels,
                               int32_t label, double *out) {
    qr_radiomics_options o = qr_radiomics_options_default();
    return qr_radiomics_compute_ex(r, image, labels, label, &o, out);
}

typedef struct scratch {
    uint8_t *roi;       /* ROI over the (final) bounding box, for the feature classes */
    uint8_t *roi_shape; /* ROI used by shape */
    double *values;     /* the (normalised) original image over the box */
} scratch;

static void scratch_free(scratch *s) {
    free(s->roi);
    free(s->roi_shape);
    free(s->values);
}

/* the feature classes of one derived image; advances *k in out */
static qr_status image_features(const qr_radiomics *r, const rx_settings *s, const rx_image *img, double *out,
                                int64_t *k) {
    rx_binned b;
    int binned = 0;
    qr_status st = QR_OK;
    double vals[RX_MAX_FEATURES];
    unsigned char want[RX_MAX_FEATURES];
    for (int c = 0; c < r->n_classes && st == QR_OK; c++) {
        const rx_class_sel *sel = &r->classes[c];
        if (sel->cls == RX_SHAPE) continue;
        memset(want, 0, sizeof want);
        for (int f = 0; f < sel->n; f++) want[sel->ids[f]] = 1;
        if (sel->cls != RX_FIRSTORDER && !binned) {
            st = rx_bin_image(img, s, &b);
            if (st != QR_OK) break;
            binned = 1;
        }
        switch (sel->cls) {
        case RX_FIRSTORDER: st = rx_firstorder(img, s, want, vals); break;
        case RX_GLCM: st = rx_glcm(img, &b, s, want, vals); break;
        case RX_GLRLM: st = rx_glrlm(img, &b, s, want, vals); break;
        case RX_GLSZM: st = rx_glszm(img, &b, s, want, vals); break;
        case RX_GLDM: st = rx_gldm(img, &b, s, want, vals); break;
        case RX_NGTDM: st = rx_ngtdm(img, &b, s, want, vals); break;
        default: break;
        }
        for (int f = 0; f < sel->n && st == QR_OK; f++) out[(*k)++] = vals[sel->ids[f]];
    }
    if (binned) rx_binned_free(&b);
    return st;
}

qr_status qr_radiomics_compute_ex(const qr_radiomics *r, const qr_volume *image, const qr_volume *labels,
                                  int32_t label, const qr_radiomics_options *opt, double *out) {
    if (!r || !image || !labels || !out) return qr_fail(QR_ERR_INVALID_ARG, "qr_radiomics_compute: NULL argument");
    for (int64_t i = 0; i < r->count; i++) out[i] = NAN;
    qr_radiomics_options dflt = qr_radiomics_options_default();
    if (!opt) opt = &dflt;
    const rx_settings *g = &r->global;
    if (image->dtype != QR_FLOAT32 || !image->data)
        return qr_fail(QR_ERR_INVALID_ARG, "radiomics: the image must be a float32 volume");
    if (labels->dtype != QR_INT32 || !labels->data)
        return qr_fail(QR_ERR_INVALID_ARG, "radiomics: the label map must be an int32 volume");
    if (label == 0) return qr_fail(QR_ERR_INVALID_ARG, "radiomics: label 0 is the background, not a region");
    if (!geometry_matches(&image->geom, &labels->geom, g->geometry_tolerance)) {
        char a[256], b[256], t[96] = "";
        if (g->geometry_tolerance > 0)
            snprintf(t, sizeof t, ", beyond geometryTolerance %g (x %g mm spacing)", g->geometry_tolerance,
                     image->geom.spacing[0]);
        return qr_fail(QR_ERR_GEOMETRY, "radiomics: image and label map are on different grids (image %s; labels %s%s)",
                       qr_geometry_describe(&image->geom, a, sizeof a), qr_geometry_describe(&labels->geom, b, sizeof b), t);
    }
    const float *im = qr_volume_f32(image);
    const int32_t *lab = qr_volume_i32(labels);
    int64_t full[3] = {image->geom.size[2], image->geom.size[1], image->geom.size[0]};
    double spacing[3] = {image->geom.spacing[2], image->geom.spacing[1], image->geom.spacing[0]};
#define LIDX(z, y, x) (((z) * full[1] + (y)) * full[2] + (x))

    /* ---- 1. ROI bounding box (whole map, or inside the caller's hint) ---- */
    int64_t s0[3] = {0, 0, 0}, s1[3] = {full[0] - 1, full[1] - 1, full[2] - 1};
    if (opt->bbox) {
        const int64_t *h = opt->bbox; /* (i0, j0, k0, i1, j1, k1) */
        int64_t hl[3] = {h[2], h[1], h[0]}, hh[3] = {h[5], h[4], h[3]};
        for (int d = 0; d < 3; d++) {
            if (hl[d] < 0 || hh[d] >= full[d] || hl[d] > hh[d])
                return qr_fail(QR_ERR_INVALID_ARG, "radiomics: bounding-box hint outside the volume");
            s0[d] = hl[d], s1[d] = hh[d];
        }
    }
    int64_t lo[3] = {INT64_MAX, INT64_MAX, INT64_MAX}, hi[3] = {-1, -1, -1}, count = 0, roi_bad = 0;
    for (int64_t z = s0[0]; z <= s1[0]; z++)
        for (int64_t y = s0[1]; y <= s1[1]; y++) {
            const int32_t *row = lab + LIDX(z, y, 0);
            const float *irow = im + LIDX(z, y, 0);
            for (int64_t x = s0[2]; x <= s1[2]; x++)
                if (row[x] == label) {
                    count++;
                    if (!isfinite(irow[x])) roi_bad++;
                    if (z < lo[0]) lo[0] = z;
                    if (z > hi[0]) hi[0] = z;
                    if (y < lo[1]) lo[1] = y;
                    if (y > hi[1]) hi[1] = y;
                    if (x < lo[2]) lo[2] = x;
                    if (x > hi[2]) hi[2] = x;
                }
        }
    QR_TRY(check_mask(g, lo, hi, count, label, ""));
    if (roi_bad)
        return qr_fail(QR_ERR_NONFINITE, "label %d contains %lld NaN/Inf voxels in the image", (int)label,
                       (long long)roi_bad);

    /* ---- 2. normalisation over the whole image ---- */
    working w;
    memset(&w, 0, sizeof w);
    w.data = im;
    for (int d = 0; d < 3; d++) w.full[d] = full[d], w.dims[d] = full[d];
    if (g->normalize) {
        int64_t nv = full[0] * full[1] * full[2], bad = 0;
        long double sum = 0, sumsq = 0;
        for (int64_t i = 0; i < nv; i++) {
            double v = im[i];
            if (!isfinite(v)) bad++;
            sum += v;
            sumsq += (long double)v * v;
        }
        if (bad) return qr_fail(QR_ERR_NONFINITE, "radiomics: normalize needs a finite image; %lld voxels are NaN/Inf", (long long)bad);
        double mean = (double)(sum / nv);
        double var = nv > 1 ? (double)((sumsq - sum * sum / nv) / (nv - 1)) : 0;
        if (!(var > 0)) return qr_fail(QR_ERR_INVALID_ARG, "radiomics: normalize: the image is constant (standard deviation 0)");
        w.normalize = 1;
        w.mean = mean;
        w.inv_sd = 1.0 / sqrt(var);
        w.has_outliers = g->has_outliers;
        w.outliers = g->outliers;
        w.scale = g->normalize_scale;
    }
    /* ---- 3. preCrop: the working volume is the box widened by padDistance ---- */
    if (g->precrop) {
        for (int d = 0; d < 3; d++) {
            int64_t a = lo[d] - g->pad_distance, b = hi[d] + g->pad_distance;
            if (a < 0) a = 0;
            if (b > full[d] - 1) b = full[d] - 1;
            w.off[d] = a;
            w.dims[d] = b - a + 1;
            lo[d] -= a;
            hi[d] -= a;
        }
    }
    /* ROI membership in working coordinates */
#define IN_ROI(z, y, x) (lab[LIDX((z) + w.off[0], (y) + w.off[1], (x) + w.off[2])] == label)

    /* ---- 4. resegmentation ---- */
    int64_t blo[3], bhi[3];
    memcpy(blo, lo, sizeof blo);
    memcpy(bhi, hi, sizeof bhi);
    int reseg = g->n_reseg > 0;
    double t0 = -INFINITY, t1 = INFINITY;
    int64_t np = count;
    if (reseg) {
        double *v = malloc(sizeof *v * (size_t)count);
        if (!v) return qr_fail(QR_ERR_NOMEM, "out of memory (resegmentation)");
        int64_t m = 0;
        for (int64_t z = lo[0]; z <= hi[0]; z++)
            for (int64_t y = lo[1]; y <= hi[1]; y++)
                for (int64_t x = lo[2]; x <= hi[2]; x++)
                    if (IN_ROI(z, y, x)) v[m++] = working_get(&w, z, y, x);
        double th[2] = {g->reseg[0], g->reseg[1]};
        if (g->n_reseg == 2 && th[1] < th[0]) { /* sorted(resegmentRange) */
            double t = th[0];
            th[0] = th[1];
            th[1] = t;
        }
        if (g->reseg_mode == RX_RESEG_RELATIVE) {
            double mx = v[0];
            for (int64_t i = 1; i < m; i++) mx = v[i] > mx ? v[i] : mx;
            th[0] *= mx, th[1] *= mx;
        } else if (g->reseg_mode == RX_RESEG_SIGMA) {
            double mean = rx_np_mean(v, m);
            double *dv = malloc(sizeof *dv * (size_t)m);
            if (!dv) {
                free(v);
                return qr_fail(QR_ERR_NOMEM, "out of memory (resegmentation)");
            }
            for (int64_t i = 0; i < m; i++) dv[i] = (v[i] - mean) * (v[i] - mean);
            double sd = sqrt(rx_np_mean(dv, m));
            free(dv);
            th[0] = mean + sd * th[0];
            th[1] = mean + sd * th[1];
        }
        free(v);
        t0 = th[0];
        if (g->n_reseg == 2) t1 = th[1];
        int64_t nlo[3] = {INT64_MAX, INT64_MAX, INT64_MAX}, nhi[3] = {-1, -1, -1};
        np = 0;
        for (int64_t z = lo[0]; z <= hi[0]; z++)
            for (int64_t y = lo[1]; y <= hi[1]; y++)
                for (int64_t x = lo[2]; x <= hi[2]; x++) {
                    if (!IN_ROI(z, y, x)) continue;
                    double val = working_get(&w, z, y, x);
                    if (!(val >= t0) || !(val <= t1)) continue;
                    np++;
                    int64_t c[3] = {z, y, x};
                    for (int d = 0; d < 3; d++) {
                        if (c[d] < nlo[d]) nlo[d] = c[d];
                        if (c[d] > nhi[d]) nhi[d] = c[d];
                    }
                }
        if (np <= 1)
            return qr_fail(QR_ERR_EMPTY, "resegmentation excluded too many voxels with label %d (retained %lld voxel(s))",
                           (int)label, (long long)np);
        QR_TRY(check_mask(g, nlo, nhi, np, label, "after resegmentation, "));
        memcpy(blo, nlo, sizeof blo);
        memcpy(bhi, nhi, sizeof bhi);
    }
    int64_t bs[3] = {bhi[0] - blo[0] + 1, bhi[1] - blo[1] + 1, bhi[2] - blo[2] + 1};
    int64_t bn = bs[0] * bs[1] * bs[2];

    scratch sc;
    memset(&sc, 0, sizeof sc);
    sc.roi = calloc((size_t)bn, 1);
    sc.roi_shape = calloc((size_t)bn, 1);
    sc.values = malloc(sizeof *sc.values * (size_t)bn);
    if (!sc.roi || !sc.roi_shape || !sc.values) {
        scratch_free(&sc);
        return qr_fail(QR_ERR_NOMEM, "out of memory (radiomics)");
    }
    int64_t nonfinite = 0;
    for (int64_t z = 0; z < bs[0]; z++)
        for (int64_t y = 0; y < bs[1]; y++)
            for (int64_t x = 0; x < bs[2]; x++) {
                int64_t i = (z * bs[1] + y) * bs[2] + x;
                int64_t wz = z + blo[0], wy = y + blo[1], wx = x + blo[2];
                int in = IN_ROI(wz, wy, wx);
                double val = working_get(&w, wz, wy, wx);
                sc.values[i] = val;
                int keep = in && (!reseg || (val >= t0 && val <= t1));
                sc.roi[i] = (uint8_t)keep;
                sc.roi_shape[i] = (uint8_t)(g->reseg_shape ? keep : in);
                if (keep && !isfinite(val)) nonfinite++;
            }
    if (nonfinite) {
        scratch_free(&sc);
        return qr_fail(QR_ERR_NONFINITE, "label %d contains %lld NaN/Inf voxels in the image", (int)label,
                       (long long)nonfinite);
    }
    qr_status st = QR_OK;
    int64_t k = 0;
    /* ---- 5. shape ---- */
    for (int c = 0; c < r->n_classes && st == QR_OK; c++) {
        const rx_class_sel *sel = &r->classes[c];
        if (sel->cls != RX_SHAPE) continue;
        double vals[RX_MAX_FEATURES];
        unsigned char want[RX_MAX_FEATURES] = {0};
        for (int f = 0; f < sel->n; f++) want[sel->ids[f]] = 1;
        st = rx_shape(sc.roi_shape, bs, spacing, want, vals);
        for (int f = 0; f < sel->n && st == QR_OK; f++) out[k++] = vals[sel->ids[f]];
    }
    /* ---- 6. image types ---- */
    int single = opt->precision == QR_RADIOMICS_SINGLE && !g->normalize;
    for (int t = 0; t < r->n_types && st == QR_OK; t++) {
        const rx_image_type *ty = &r->types[t];
        rx_image img = {{bs[0], bs[1], bs[2]}, sc.values, sc.roi, np, {spacing[0], spacing[1], spacing[2]}, single};
        if (ty->kind == RX_IMAGE_ORIGINAL) {
            st = image_features(r, &ty->s, &img, out, &k);
            continue;
        }
        rx_swt_request q;
        wavelet_request(&ty->s, &q);
        for (int d = 0; d < 3; d++) {
            q.dims[d] = w.dims[d];
            q.lo[d] = blo[d];
            q.hi[d] = bhi[d];
        }
        q.single = single;
        int nb = rx_swt_count(&q);
        double **bands = calloc((size_t)nb, sizeof *bands);
        if (!bands) {
            st = qr_fail(QR_ERR_NOMEM, "out of memory (wavelet)");
            break;
        }
        for (int i = 0; i < nb && st == QR_OK; i++)
            if (!(bands[i] = malloc(sizeof **bands * (size_t)bn))) st = qr_fail(QR_ERR_NOMEM, "out of memory (wavelet)");
        int64_t bad = 0;
        if (st == QR_OK) st = rx_swt(&q, working_get, &w, bands, &bad);
        if (st == QR_OK && bad)
            st = qr_fail(QR_ERR_NONFINITE,
                         "label %d: the wavelet transform of its bounding box reads %lld NaN/Inf image voxels", (int)label,
                         (long long)bad);
        for (int i = 0; i < nb && st == QR_OK; i++) {
            img.values = bands[i];
            st = image_features(r, &ty->s, &img, out, &k);
        }
        for (int i = 0; i < nb; i++) free(bands[i]);
        free(bands);
    }
    scratch_free(&sc);
    if (st != QR_OK) {
        for (int64_t i = 0; i < r->count; i++) out[i] = NAN;
        return st;
    }
    QR_ASSERT(k == r->count);
    return QR_OK;
#undef IN_ROI
#undef LIDX
}
