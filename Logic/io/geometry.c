/* geometry.c - grid comparison, physical overlap and alignment onto a reference grid. */
#include "geometry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imageio.h"

int qr_geometry_canonical_order(const qr_geometry *g, qr_axis_order *order) {
    /* World axis w takes index axis p[w]: of the six matchings, the one whose |cosines| sum the
     * highest. Sums within 1e-6 of each other count as equal (an axis at 45 degrees between two
     * world axes, whatever the header's rounding) and the first listed wins, the stored order
     * first, so such a tie keeps it. */
    static const int P[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    int best = 0;
    double best_sum = -1;
    for (int k = 0; k < 6; k++) {
        double sum = 0;
        for (int w = 0; w < 3; w++) sum += fabs(g->direction[w * 3 + P[k][w]]);
        if (sum > best_sum + 1e-6) best_sum = sum, best = k;
    }
    for (int w = 0; w < 3; w++) {
        order->perm[w] = P[best][w];
        order->flip[w] = g->direction[w * 3 + P[best][w]] < 0;
    }
    int changed = 0;
    for (int a = 0; a < 3; a++) changed |= order->perm[a] != a || order->flip[a];
    return changed;
}

double qr_geometry_obliquity_deg(const qr_geometry *g) {
    qr_axis_order o;
    qr_geometry_canonical_order(g, &o);
    double worst = 0;
    for (int w = 0; w < 3; w++) {
        double c = fabs(g->direction[w * 3 + o.perm[w]]);
        double deg = acos(c < 1 ? c : 1) * 180.0 / acos(-1.0);
        if (deg > worst) worst = deg;
    }
    return worst;
}

void qr_axis_order_index(const qr_axis_order *order, const int64_t old_size[3], const double in[3], double out[3]) {
    for (int a = 0; a < 3; a++) {
        const int c = order->perm[a];
        out[a] = order->flip[a] ? (double)(old_size[c] - 1) - in[c] : in[c];
    }
}

/* The grid `g` becomes in storage order `order` (every voxel keeps its world position). */
static void reordered_geometry(const qr_geometry *g, const qr_axis_order *order, qr_geometry *ng) {
    *ng = *g;
    double corner[3] = {0, 0, 0}; /* old index of the new first voxel */
    for (int a = 0; a < 3; a++) {
        const int c = order->perm[a];
        ng->size[a] = g->size[c];
        ng->spacing[a] = g->spacing[c];
        for (int w = 0; w < 3; w++) ng->direction[w * 3 + a] = (order->flip[a] ? -1.0 : 1.0) * g->direction[w * 3 + c];
        if (order->flip[a]) corner[c] = (double)(g->size[c] - 1);
    }
    for (int w = 0; w < 3; w++) {
        ng->origin[w] = g->origin[w];
        for (int c = 0; c < 3; c++) ng->origin[w] += g->direction[w * 3 + c] * g->spacing[c] * corner[c];
    }
}

/* 1 and *order when grid `g` is grid `ref` stored in another axis order (its axes permuted and
 * mirrored; the same voxel centres within qr_geometry_same's tolerances), 0 otherwise. */
static int reorder_onto(const qr_geometry *ref, const qr_geometry *g, qr_axis_order *order) {
    int used[3] = {0, 0, 0};
    for (int a = 0; a < 3; a++) { /* ref's axis a is g's axis c, either way */
        int bc = -1;
        double best = 0;
        for (int c = 0; c < 3; c++) {
            double dot = 0;
            for (int w = 0; w < 3; w++) dot += ref->direction[w * 3 + a] * g->direction[w * 3 + c];
            if (fabs(dot) > fabs(best)) best = dot, bc = c;
        }
        if (bc < 0 || used[bc] || fabs(best) < 0.99) return 0;
        used[bc] = 1;
        order->perm[a] = bc;
        order->flip[a] = best < 0;
    }
    qr_geometry ng;
    reordered_geometry(g, order, &ng);
    return qr_geometry_same(ref, &ng);
}

qr_status qr_volume_reorder(const qr_volume *in, const qr_axis_order *order, qr_volume *out) {
    const qr_geometry *g = &in->geom;
    qr_geometry ng;
    reordered_geometry(g, order, &ng);
    QR_TRY(qr_volume_alloc(out, &ng, in->dtype));
    /* old linear index = sum over new axes of (start + step * new index) along the old axis */
    const int64_t old_stride[3] = {1, g->size[0], g->size[0] * g->size[1]};
    int64_t start = 0, step[3];
    for (int a = 0; a < 3; a++) {
        const int c = order->perm[a];
        step[a] = order->flip[a] ? -old_stride[c] : old_stride[c];
        if (order->flip[a]) start += (g->size[c] - 1) * old_stride[c];
    }
    const size_t es = qr_dtype_size(in->dtype);
    const char *src = in->data;
    char *dst = out->data;
    int64_t o = 0;
    for (int64_t k = 0; k < ng.size[2]; k++)
        for (int64_t j = 0; j < ng.size[1]; j++) {
            int64_t s = start + k * step[2] + j * step[1];
            for (int64_t i = 0; i < ng.size[0]; i++, o++, s += step[0]) memcpy(dst + o * es, src + s * es, es);
        }
    return QR_OK;
}

int qr_geometry_same(const qr_geometry *a, const qr_geometry *b) {
    double minsp = INFINITY;
    for (int k = 0; k < 3; k++) {
        if (a->size[k] != b->size[k]) return 0;
        if (fabs(a->spacing[k] - b->spacing[k]) > 1e-4 * fmax(a->spacing[k], b->spacing[k])) return 0;
        minsp = fmin(minsp, fmin(a->spacing[k], b->spacing[k]));
    }
    for (int k = 0; k < 3; k++)
        if (fabs(a->origin[k] - b->origin[k]) > 1e-3 * minsp) return 0;
    for (int k = 0; k < 9; k++)
        if (fabs(a->direction[k] - b->direction[k]) > 1e-4) return 0;
    return 1;
}

double qr_geometry_max_shift_mm(const qr_geometry *a, const qr_geometry *b) {
    double worst = 0;
    for (int c = 0; c < 8; c++) {
        const double ijk[3] = {(c & 1) ? (double)(a->size[0] - 1) : 0, (c & 2) ? (double)(a->size[1] - 1) : 0,
                               (c & 4) ? (double)(a->size[2] - 1) : 0};
        double p[3], q[3];
        qr_geometry_index_to_lps(a, ijk, p);
        qr_geometry_index_to_lps(b, ijk, q);
        worst = fmax(worst, sqrt((p[0] - q[0]) * (p[0] - q[0]) + (p[1] - q[1]) * (p[1] - q[1]) + (p[2] - q[2]) * (p[2] - q[2])));
    }
    return worst;
}

/* Axis-aligned LPS box enclosing the grid's voxels (voxel edges, not centres). */
static void physical_box(const qr_geometry *g, double lo[3], double hi[3]) {
    for (int r = 0; r < 3; r++) {
        lo[r] = INFINITY;
        hi[r] = -INFINITY;
    }
    for (int c = 0; c < 8; c++) {
        double ijk[3] = {(c & 1) ? g->size[0] - 0.5 : -0.5, (c & 2) ? g->size[1] - 0.5 : -0.5,
                         (c & 4) ? g->size[2] - 0.5 : -0.5};
        double p[3];
        qr_geometry_index_to_lps(g, ijk, p);
        for (int r = 0; r < 3; r++) {
            lo[r] = fmin(lo[r], p[r]);
            hi[r] = fmax(hi[r], p[r]);
        }
    }
}

double qr_geometry_overlap_mm3(const qr_geometry *a, const qr_geometry *b) {
    double alo[3], ahi[3], blo[3], bhi[3], v = 1.0;
    physical_box(a, alo, ahi);
    physical_box(b, blo, bhi);
    for (int r = 0; r < 3; r++) {
        double ext = fmin(ahi[r], bhi[r]) - fmax(alo[r], blo[r]);
        if (ext <= 0) return 0.0;
        v *= ext;
    }
    return v;
}

/* Affine map from continuous voxel indices of grid `from` to those of grid `to`:
 * to_ijk = m[.][0..2] * from_ijk + m[.][3]. */
typedef struct index_map {
    double m[3][4];
    double hi[3]; /* to's size - 0.5: a voxel centre maps inside `to` when -0.5 <= ijk < hi */
} index_map;

static qr_status index_map_make(const qr_geometry *from, const qr_geometry *to, index_map *out) {
    double base[3] = {0, 0, 0};
    for (int c = -1; c < 3; c++) {
        double ijk[3] = {c == 0, c == 1, c == 2}, p[3], t[3];
        qr_geometry_index_to_lps(from, ijk, p);
        QR_TRY(qr_geometry_lps_to_index(to, p, t));
        for (int r = 0; r < 3; r++) {
            if (c < 0) base[r] = out->m[r][3] = t[r];
            else out->m[r][c] = t[r] - base[r];
        }
    }
    for (int r = 0; r < 3; r++) out->hi[r] = (double)to->size[r] - 0.5;
    return QR_OK;
}

static int index_map_inside(const index_map *im, int64_t i, int64_t j, int64_t k) {
    const double eps = 1e-6;
    for (int r = 0; r < 3; r++) {
        const double t = im->m[r][0] * (double)i + im->m[r][1] * (double)j + im->m[r][2] * (double)k + im->m[r][3];
        if (t < -0.5 - eps || t >= im->hi[r] + eps) return 0;
    }
    return 1;
}

static int cmp_i32(const void *a, const void *b) {
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Sort l[0..n) and drop repeats; returns the distinct count. */
static int64_t sort_unique(int32_t *l, int64_t n) {
    qsort(l, (size_t)n, sizeof *l, cmp_i32);
    int64_t u = 0;
    for (int64_t i = 0; i < n; i++)
        if (u == 0 || l[u - 1] != l[i]) l[u++] = l[i];
    return u;
}

/* Distinct positive labels of an int32 volume, ascending, in a new array (*n of them). */
static qr_status distinct_labels(const qr_volume *v, int32_t **out, int64_t *n) {
    const int32_t *x = qr_volume_i32(v);
    const int64_t nv = qr_volume_nvox(v);
    int64_t m = 0;
    for (int64_t i = 0; i < nv; i++) m += x[i] > 0;
    int32_t *l = malloc((size_t)(m ? m : 1) * sizeof *l);
    if (!l) return qr_fail(QR_ERR_NOMEM, "out of memory");
    m = 0;
    for (int64_t i = 0; i < nv; i++)
        if (x[i] > 0 && (m == 0 || l[m - 1] != x[i])) l[m++] = x[i];
    *out = l;
    *n = sort_unique(l, m);
    return QR_OK;
}

void qr_labels_describe(const int32_t *ids, int64_t n, char *buf, size_t len) {
    size_t at = 0;
    buf[0] = '\0';
    for (int64_t i = 0; i < n && i < 10 && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%d", i ? ", " : "", ids[i]);
    if (n > 10 && at < len) snprintf(buf + at, len - at, " and %lld more", (long long)(n - 10));
}

int64_t qr_labels_outside_grid(const qr_volume *labels, const qr_geometry *g, int32_t **ids) {
    *ids = NULL;
    index_map im;
    if (index_map_make(&labels->geom, g, &im) != QR_OK) return -1;
    const int32_t *x = qr_volume_i32(labels);
    const int64_t *sz = labels->geom.size;
    int32_t *out = NULL;
    int64_t n = 0, cap = 0;
    for (int64_t k = 0, v = 0; k < sz[2]; k++)
        for (int64_t j = 0; j < sz[1]; j++)
            for (int64_t i = 0; i < sz[0]; i++, v++) {
                if (x[v] <= 0 || (n && out[n - 1] == x[v]) || index_map_inside(&im, i, j, k)) continue;
                if (n == cap) {
                    cap = cap ? 2 * cap : 64;
                    int32_t *t = realloc(out, (size_t)cap * sizeof *t);
                    if (!t) {
                        free(out);
                        return -1;
                    }
                    out = t;
                }
                out[n++] = x[v];
            }
    *ids = out;
    return n > 1 ? sort_unique(out, n) : n;
}

/* What resampling `before` (its own grid) to `after` (the reference grid) loses, as warnings: an
 * intensity volume that does not cover the whole reference grid (the rest becomes 0), lesion
 * voxels outside the reference grid, labels that vanish (outside it, or smaller than its voxels). */
static qr_status warn_resampling_losses(const qr_volume *before, const char *vol_name, const qr_volume *after,
                                        const char *ref_name) {
    const int64_t *sz = before->geom.size;
    if (before->dtype == QR_FLOAT32) {
        index_map im;
        QR_TRY(index_map_make(&after->geom, &before->geom, &im));
        const int64_t *rs = after->geom.size;
        int64_t out = 0;
        for (int64_t k = 0; k < rs[2]; k++)
            for (int64_t j = 0; j < rs[1]; j++)
                for (int64_t i = 0; i < rs[0]; i++) out += !index_map_inside(&im, i, j, k);
        if (out)
            qr_log(QR_LOG_WARNING, "%s covers %.1f%% of the %s volume; its %lld voxels outside %s are taken as 0",
                   vol_name, 100.0 * (1.0 - (double)out / (double)qr_volume_nvox(after)), ref_name, (long long)out, vol_name);
        return QR_OK;
    }
    index_map im;
    QR_TRY(index_map_make(&before->geom, &after->geom, &im));
    const int32_t *x = qr_volume_i32(before);
    int64_t outside = 0, total = 0;
    for (int64_t k = 0, v = 0; k < sz[2]; k++)
        for (int64_t j = 0; j < sz[1]; j++)
            for (int64_t i = 0; i < sz[0]; i++, v++)
                if (x[v] > 0) {
                    total++;
                    outside += !index_map_inside(&im, i, j, k);
                }
    if (outside)
        qr_log(QR_LOG_WARNING, "%s: %lld of its %lld lesion voxels lie outside the %s volume; lesions there are cut off or lost",
               vol_name, (long long)outside, (long long)total, ref_name);
    int32_t *a = NULL, *b = NULL;
    int64_t na = 0, nb = 0;
    qr_status s = distinct_labels(before, &a, &na);
    if (s == QR_OK) s = distinct_labels(after, &b, &nb);
    if (s == QR_OK && nb < na) {
        int64_t nl = 0;
        for (int64_t i = 0, j = 0; i < na; i++) {
            while (j < nb && b[j] < a[i]) j++;
            if (j >= nb || b[j] != a[i]) a[nl++] = a[i];
        }
        char list[256];
        qr_labels_describe(a, nl, list, sizeof list);
        qr_log(QR_LOG_WARNING, "%s: %lld of its %lld labels are lost on the %s grid (outside it, or smaller than its voxels) and are not measured: %s",
               vol_name, (long long)nl, (long long)na, ref_name, list);
    }
    free(a);
    free(b);
    return s;
}

qr_status qr_require_3d(const qr_geometry *g, const char *name) {
    for (int a = 0; a < 3; a++)
        if (g->size[a] < 2)
            return qr_fail(QR_ERR_GEOMETRY, "%s is a single slice (%lld x %lld x %lld voxels); lesions are classified in 3D volumes",
                           name, (long long)g->size[0], (long long)g->size[1], (long long)g->size[2]);
    return QR_OK;
}

qr_status qr_align_to_grid(const qr_geometry *ref, const char *ref_name, qr_volume *vol, const char *vol_name,
                           int *resampled) {
    *resampled = 0;
    if (qr_geometry_same(ref, &vol->geom)) {
        vol->geom = *ref; /* remove header rounding differences */
        return QR_OK;
    }
    char da[512], db[512];
    qr_geometry_describe(ref, da, sizeof da);
    qr_geometry_describe(&vol->geom, db, sizeof db);
    qr_axis_order order;
    if (reorder_onto(ref, &vol->geom, &order)) { /* the same voxels in another order: no interpolation */
        qr_volume out;
        QR_TRY(qr_volume_reorder(vol, &order, &out));
        out.geom = *ref;
        qr_log(QR_LOG_NOTICE, "%s is stored in another axis order than %s; its axes were reordered onto the %s grid (no interpolation)",
               vol_name, ref_name, ref_name);
        qr_volume_free(vol);
        *vol = out;
        return QR_OK;
    }
    if (qr_geometry_overlap_mm3(ref, &vol->geom) <= 0.0)
        return qr_fail(QR_ERR_GEOMETRY, "%s and %s do not overlap in space (%s: %s; %s: %s); are they of the same subject and registered?",
                       vol_name, ref_name, ref_name, da, vol_name, db);
    qr_volume out;
    qr_interp interp = vol->dtype == QR_INT32 ? QR_INTERP_NEAREST : QR_INTERP_LINEAR;
    QR_TRY(qr_image_resample(vol, ref, interp, 0.0, &out));
    qr_log(QR_LOG_NOTICE, "%s is on a different grid than %s; resampled it onto the %s grid (%s interpolation). %s: %s; %s: %s",
           vol_name, ref_name, ref_name, interp == QR_INTERP_LINEAR ? "linear" : "nearest-neighbour", vol_name, db,
           ref_name, da);
    const qr_status ws = warn_resampling_losses(vol, vol_name, &out, ref_name);
    if (ws != QR_OK) {
        qr_volume_free(&out);
        return ws;
    }
    qr_volume_free(vol);
    *vol = out;
    *resampled = 1;
    return QR_OK;
}
