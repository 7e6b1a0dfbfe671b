/* subject.c - a subject's QSM, FLAIR and lesion map on one grid (policy in subject.h). */
#include "subject.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../io/geometry.h"
#include "../io/imageio.h"

void qr_subject_free(qr_subject *s) {
    if (!s) return;
    qr_volume_free(&s->qsm);
    qr_volume_free(&s->flair);
    qr_volume_free(&s->labels);
    qr_lesion_table_free(&s->lesions);
    memset(s, 0, sizeof *s);
}

/* k-th smallest of v[0..n) (quickselect, Hoare partition; reorders v). */
static float select_kth(float *v, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = v[lo + (hi - lo) / 2];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i <= j) {
                float t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

qr_status qr_volume_median_nonzero(const qr_volume *v, double *median) {
    *median = 1.0;
    int64_t n = qr_volume_nvox(v), m = 0;
    const float *x = qr_volume_f32(v);
    for (int64_t i = 0; i < n; i++) m += x[i] != 0 && isfinite(x[i]);
    if (m == 0) return QR_OK;
    float *buf = malloc((size_t)m * sizeof *buf);
    if (!buf) return qr_fail(QR_ERR_NOMEM, "out of memory for the FLAIR median (%lld voxels)", (long long)m);
    m = 0;
    for (int64_t i = 0; i < n; i++)
        if (x[i] != 0 && isfinite(x[i])) buf[m++] = x[i];
    /* numpy's median: the mean of the two middle values for an even count */
    double med;
    if (m % 2) {
        med = select_kth(buf, m, m / 2);
    } else {
        double hi = select_kth(buf, m, m / 2);
        float lo = buf[0];
        for (int64_t i = 1; i < m / 2; i++)
            if (buf[i] > lo) lo = buf[i];
        med = ((double)lo + hi) / 2;
    }
    free(buf);
    *median = med != 0 ? fabs(med) : 1.0;
    return QR_OK;
}

qr_status qr_volume_clean_input(qr_volume *v, const char *name, int64_t *replaced) {
    if (replaced) *replaced = 0;
    const int64_t n = qr_volume_nvox(v);
    const int64_t bad = qr_volume_replace_nonfinite(v, 0.0f);
    if (replaced) *replaced = bad;
    if (bad > 0 && bad == n)
        return qr_fail(QR_ERR_NONFINITE, "%s holds no finite voxel (all %lld are NaN or Inf): nothing to measure",
                       name, (long long)n);
    const float *x = qr_volume_f32(v);
    int64_t i = 0;
    while (i < n && x[i] == 0.0f) i++;
    if (i == n)
        return qr_fail(QR_ERR_EMPTY, "%s holds no signal: every voxel is 0%s (a failed reconstruction or export?)", name,
                       bad ? " or NaN/Inf" : "");
    if (bad)
        qr_log(QR_LOG_WARNING, "%s: %lld of %lld voxels are NaN or Inf; set to 0", name, (long long)bad,
               (long long)n);
    return QR_OK;
}

/* The 99th percentile of |value| over the non-zero voxels, from every voxel of a small volume or
 * an even sample of at most 2^16 of a large one (a plausibility check on every prediction: no
 * copy of the whole volume); 0 when none is non-zero, or without memory. */
static double abs_p99(const qr_volume *v) {
    enum { SAMPLE = 1 << 16 };
    const float *x = qr_volume_f32(v);
    const int64_t n = qr_volume_nvox(v), step = n > SAMPLE ? n / SAMPLE : 1;
    float *buf = malloc(SAMPLE * sizeof *buf);
    if (!buf) return 0.0;
    int64_t m = 0;
    for (int64_t i = 0; i < n && m < SAMPLE; i += step)
        if (x[i] != 0.0f) buf[m++] = fabsf(x[i]);
    const double p = m ? select_kth(buf, m, (int64_t)(0.99 * (double)(m - 1))) : 0.0;
    free(buf);
    return p;
}

/* Share of the voxels clearly below 0: below -5% of `p99` (abs_p99), among those whose |value|
 * exceeds that floor. Interpolation leaves tiny values of both signs (spline resampling of a
 * skull-stripped image: about +-1e-20 across the background, ringing at edges); they stay under
 * the floor. */
static double negative_share(const qr_volume *v, double p99) {
    const float *x = qr_volume_f32(v);
    const double floor = 0.05 * p99;
    int64_t big = 0, neg = 0;
    for (int64_t i = 0, n = qr_volume_nvox(v); i < n; i++) {
        big += fabs((double)x[i]) > floor;
        neg += (double)x[i] < -floor;
    }
    return big ? (double)neg / (double)big : 0.0;
}

/* A susceptibility map relative to white matter has both signs (veins and iron above 0, white
 * matter tracts, calcium and noise below); a FLAIR or magnitude image has none below 0 apart from
 * interpolation ringing. Inputs given the other way round, or a QSM in other units than ppb, are
 * warned about, not refused: the values are the user's, but every score would be meaningless. */
static void warn_implausible_inputs(const qr_volume *qsm, const char *qsm_name, const qr_volume *flair, const char *flair_name) {
    const double qp = abs_p99(qsm), fp = abs_p99(flair);
    if (qp <= 0.0 || fp <= 0.0) return; /* no memory for the checks (an all-zero volume is refused earlier) */
    const double q = negative_share(qsm, qp), f = negative_share(flair, fp);
    /* units: in ppb, 99% of a brain's |susceptibility| lies within tens to a few hundred (deep
     * grey matter, veins); a map in ppm is a thousand times smaller */
    if (q >= 0.02 && qp < 2.0)
        qr_log(QR_LOG_WARNING, "%s: 99%% of its voxels lie within +-%.3g, a thousand times less than a susceptibility map in "
                               "ppb; is it in ppm (qsmrim reads ppb: multiply by 1000)?",
               qsm_name, qp);
    else if (q >= 0.02 && qp > 5000.0)
        qr_log(QR_LOG_WARNING, "%s: 99%% of its voxels lie within +-%.3g, far beyond a susceptibility map in ppb; are its "
                               "units (or a scale factor of the file) other than ppb?",
               qsm_name, qp);
    if (q < 0.02)
        qr_log(QR_LOG_WARNING, "%s has %s of its voxels clearly below 0, where a susceptibility map relative to white matter (in "
                               "ppb) has many (noise about 0, fibre tracts, calcium); is it a FLAIR or magnitude image%s?",
               qsm_name, q == 0.0 ? "none" : "under 2%", f > 0.05 ? ", and the FLAIR the QSM (swapped)" : "");
    else if (f > 0.05)
        qr_log(QR_LOG_WARNING,
               "%s has %.0f%% of its voxels clearly below 0, which a FLAIR image does not; is it the QSM, or intensities "
               "normalised to mean 0 (qsmrim expects the scanner's FLAIR intensities)?",
               flair_name, 100.0 * f);
}

qr_status qr_subject_align(qr_volume *qsm, qr_volume *flair, qr_volume *lesion_map, const char *qsm_name,
                           const char *flair_name, const char *lesions_name, qr_subject_align_info *info) {
    memset(info, 0, sizeof *info);
    if (qsm->dtype != QR_FLOAT32 || flair->dtype != QR_FLOAT32 || lesion_map->dtype != QR_INT32)
        return qr_fail(QR_ERR_INVALID_ARG, "subject volumes must be float32 QSM/FLAIR and an int32 lesion map");
    QR_TRY(qr_geometry_validate(&qsm->geom, qsm_name));
    QR_TRY(qr_require_3d(&qsm->geom, qsm_name));
    info->flair_grid = flair->geom;
    QR_TRY(qr_align_to_grid(&qsm->geom, qsm_name, flair, flair_name, &info->flair_resampled));
    QR_TRY(qr_align_to_grid(&qsm->geom, qsm_name, lesion_map, lesions_name, &info->labels_resampled));
    /* QSM is relative to normal-appearing white matter, so 0 is the neutral value for voxels the
     * reconstruction could not compute (NaN/Inf); FLAIR gets 0 (no signal) likewise. */
    QR_TRY(qr_volume_clean_input(qsm, qsm_name, &info->nonfinite_qsm));
    QR_TRY(qr_volume_clean_input(flair, flair_name, &info->nonfinite_flair));
    warn_implausible_inputs(qsm, qsm_name, flair, flair_name);
    return QR_OK;
}

void qr_subject_warn_uncovered(const qr_volume *labels, const qr_subject_align_info *info, const char *flair_name) {
    if (!info->flair_resampled) return;
    int32_t *ids = NULL;
    const int64_t n = qr_labels_outside_grid(labels, &info->flair_grid, &ids);
    if (n > 0) {
        char list[256];
        qr_labels_describe(ids, n, list, sizeof list);
        qr_log(QR_LOG_WARNING, "%s does not cover %s %s (in whole or in part): their FLAIR is taken as 0 there, which makes their results less reliable",
               flair_name, n == 1 ? "lesion" : "lesions", list);
    }
    free(ids);
}

/* The lesions of `t` whose largest |value| in `v` exceeds `limit` into ids (n), and that value. */
static int64_t lesions_above(const qr_volume *v, const qr_volume *labels, const qr_lesion_table *t, double limit,
                             int32_t *ids, double *top) {
    const float *x = qr_volume_f32(v);
    const int32_t *lab = qr_volume_i32(labels);
    const int64_t nx = labels->geom.size[0], ny = labels->geom.size[1];
    int64_t n = 0;
    *top = 0.0;
    for (int64_t l = 0; l < t->n; l++) {
        const qr_lesion *L = &t->items[l];
        double m = 0.0;
        for (int64_t k = L->bbox[2]; k <= L->bbox[5]; k++)
            for (int64_t j = L->bbox[1]; j <= L->bbox[4]; j++)
                for (int64_t i = L->bbox[0]; i <= L->bbox[3]; i++) {
                    const int64_t at = (k * ny + j) * nx + i;
                    if (lab[at] == L->id && fabs((double)x[at]) > m) m = fabs((double)x[at]);
                }
        if (m > limit) {
            ids[n++] = L->id;
            if (m > *top) *top = m;
        }
    }
    return n;
}

void qr_subject_warn_outliers(const qr_volume *qsm, const qr_volume *flair, const qr_volume *labels,
                              const qr_lesion_table *t, const char *qsm_name, const char *flair_name) {
    if (t->n == 0) return;
    int32_t *ids = malloc((size_t)t->n * sizeof *ids);
    if (!ids) return; /* a check, not the work: skipped without memory */
    const qr_volume *v[2] = {qsm, flair};
    const char *name[2] = {qsm_name, flair_name};
    for (int c = 0; c < 2; c++) {
        const double p99 = abs_p99(v[c]);
        if (p99 <= 0.0) continue;
        const double limit = c == 0 ? fmax(5000.0, 100.0 * p99) : 100.0 * p99;
        double top;
        const int64_t n = lesions_above(v[c], labels, t, limit, ids, &top);
        if (n == 0) continue;
        char list[256];
        qr_labels_describe(ids, n, list, sizeof list);
        qr_log(QR_LOG_WARNING, "%s: %s %s %s values up to %.3g, over 100 times the rest of the image (99%% within +-%.3g)%s: "
               "corrupt voxels? %s unreliable", name[c], n == 1 ? "lesion" : "lesions", list, n == 1 ? "holds" : "hold", top,
               p99, c == 0 ? " and beyond any tissue in ppb" : "", n == 1 ? "its result is" : "their results are");
    }
    free(ids);
}

qr_status qr_subject_reorder(const qr_volume *qsm, const qr_volume *flair, const qr_volume *labels,
                             const qr_lesion_table *table, qr_volume out[3], qr_lesion_table *out_table, int *reordered) {
    memset(out, 0, 3 * sizeof *out);
    memset(out_table, 0, sizeof *out_table);
    qr_axis_order order;
    *reordered = qr_geometry_canonical_order(&qsm->geom, &order);
    if (!*reordered) return QR_OK;
    const qr_volume *in[3] = {qsm, flair, labels};
    qr_status st = QR_OK;
    for (int v = 0; v < 3 && st == QR_OK; v++) st = qr_volume_reorder(in[v], &order, &out[v]);
    if (st == QR_OK && table->n > 0) {
        out_table->items = malloc((size_t)table->n * sizeof *out_table->items);
        if (!out_table->items) st = qr_fail(QR_ERR_NOMEM, "out of memory");
    }
    if (st != QR_OK) {
        for (int v = 0; v < 3; v++) qr_volume_free(&out[v]);
        *reordered = 0;
        return st;
    }
    const int64_t *size = qsm->geom.size;
    out_table->n = table->n;
    for (int64_t u = 0; u < table->n; u++) {
        const qr_lesion *L = &table->items[u];
        qr_lesion *R = &out_table->items[u];
        *R = *L;
        qr_axis_order_index(&order, size, L->center_ijk, R->center_ijk);
        double lo[3], hi[3], a[3], b[3];
        for (int c = 0; c < 3; c++) lo[c] = (double)L->bbox[c], hi[c] = (double)L->bbox[c + 3];
        qr_axis_order_index(&order, size, lo, a);
        qr_axis_order_index(&order, size, hi, b);
        for (int c = 0; c < 3; c++) {
            R->bbox[c] = (int64_t)(a[c] < b[c] ? a[c] : b[c]);
            R->bbox[c + 3] = (int64_t)(a[c] < b[c] ? b[c] : a[c]);
        }
    }
    return QR_OK;
}

qr_status qr_subject_prepare(qr_volume *qsm, qr_volume *flair, qr_volume *lesion_map, const char *qsm_name,
                             const char *flair_name, const char *lesions_name, qr_lesion_input lesion_input,
                             qr_subject *out) {
    memset(out, 0, sizeof *out);
    qr_status st = qr_subject_align(qsm, flair, lesion_map, qsm_name, flair_name, lesions_name, &out->align);
    qr_lesion_options lo = qr_lesion_options_default();
    lo.input = lesion_input;
    if (st == QR_OK) {
        st = qr_lesions_extract(lesion_map, &lo, &out->labels, &out->lesions, &out->was_mask);
        if (st != QR_OK) st = qr_fail_context(st, "%s", lesions_name);
    }
    if (st == QR_OK) qr_subject_warn_uncovered(&out->labels, &out->align, flair_name);
    qr_volume_free(lesion_map);
    if (st != QR_OK) {
        qr_volume_free(qsm);
        qr_volume_free(flair);
        return st;
    }
    out->qsm = *qsm;
    out->flair = *flair;
    memset(qsm, 0, sizeof *qsm);
    memset(flair, 0, sizeof *flair);
    qr_volume re[3];
    qr_lesion_table re_table;
    st = qr_subject_reorder(&out->qsm, &out->flair, &out->labels, &out->lesions, re, &re_table, &out->reordered);
    if (st != QR_OK) {
        qr_subject_free(out);
        return st;
    }
    if (out->reordered) {
        qr_volume *mine[3] = {&out->qsm, &out->flair, &out->labels};
        for (int v = 0; v < 3; v++) {
            qr_volume_free(mine[v]);
            *mine[v] = re[v];
        }
        qr_lesion_table_free(&out->lesions);
        out->lesions = re_table;
    }
    st = qr_volume_median_nonzero(&out->flair, &out->flair_reference);
    if (st != QR_OK) qr_subject_free(out);
    return st;
}

qr_status qr_subject_read(const char *qsm_path, const char *flair_path, const char *lesions_path, qr_volume *qsm,
                          qr_volume *flair, qr_volume *lesion_map) {
    QR_TRY(qr_image_read_quiet(qsm_path, QR_FLOAT32, qsm, NULL));
    qr_status st = qr_image_read_quiet(flair_path, QR_FLOAT32, flair, NULL);
    if (st != QR_OK) {
        qr_volume_free(qsm);
        return st;
    }
    st = qr_image_read(lesions_path, QR_INT32, lesion_map, NULL);
    if (st != QR_OK) {
        qr_volume_free(qsm);
        qr_volume_free(flair);
    }
    return st;
}

qr_status qr_subject_load(const char *qsm_path, const char *flair_path, const char *lesions_path,
                          qr_lesion_input lesion_input, qr_subject *out) {
    memset(out, 0, sizeof *out);
    qr_volume q, f, l;
    QR_TRY(qr_subject_read(qsm_path, flair_path, lesions_path, &q, &f, &l));
    return qr_subject_prepare(&q, &f, &l, qsm_path, flair_path, lesions_path, lesion_input, out);
}

qr_status qr_subject_view(const qr_volume *qsm, const qr_volume *flair, const qr_volume *labels,
                          const qr_lesion_table *lesions, qr_subject *out) {
    memset(out, 0, sizeof *out);
    out->qsm = *qsm;
    out->flair = *flair;
    out->labels = *labels;
    out->lesions = *lesions;
    return qr_volume_median_nonzero(flair, &out->flair_reference);
}
