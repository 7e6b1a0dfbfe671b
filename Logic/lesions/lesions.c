/* lesions.c - connected components (union-find over one raster pass) and the lesion table. */
#include "lesions.h"

#include <stdlib.h>
#include <string.h>

#include "../core/fileutil.h"

qr_lesion_options qr_lesion_options_default(void) {
    qr_lesion_options o = {26, 0.0, QR_LESION_INPUT_AUTO};
    return o;
}

qr_status qr_lesion_input_parse(const char *text, const char *option, qr_lesion_input *out) {
    static const char *const names[] = {"auto", "mask", "labels"};
    static const qr_lesion_input kinds[] = {QR_LESION_INPUT_AUTO, QR_LESION_INPUT_MASK, QR_LESION_INPUT_LABELS};
    for (int k = 0; k < 3; k++)
        if (text && !strcmp(text, names[k])) {
            *out = kinds[k];
            return QR_OK;
        }
    return qr_fail(QR_ERR_INVALID_ARG, "%s must be auto, mask or labels, got '%s'", option, text ? text : "");
}

/* ---- union-find on provisional labels ---- */

static int32_t uf_find(int32_t *parent, int32_t x) {
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

static void uf_union(int32_t *parent, int32_t a, int32_t b) {
    a = uf_find(parent, a);
    b = uf_find(parent, b);
    if (a == b) return;
    if (a < b)
        parent[b] = a;
    else
        parent[a] = b;
}

qr_status qr_connected_components(const qr_volume *mask, int connectivity, qr_volume *labels_out, int64_t *n_out) {
    if (mask->dtype != QR_INT32) return qr_fail(QR_ERR_INVALID_ARG, "connected components need an integer mask");
    if (connectivity != 6 && connectivity != 26)
        return qr_fail(QR_ERR_INVALID_ARG, "connectivity must be 6 or 26 (got %d)", connectivity);
    QR_TRY(qr_volume_alloc(labels_out, &mask->geom, QR_INT32));
    const int64_t ni = mask->geom.size[0], nj = mask->geom.size[1], nk = mask->geom.size[2];
    const int32_t *m = qr_volume_i32(mask);
    int32_t *lab = qr_volume_i32(labels_out);

    /* Backward half of the neighbourhood: offsets already visited in raster order. */
    int off[13][3];
    int noff = 0;
    for (int dk = -1; dk <= 0; dk++)
        for (int dj = -1; dj <= 1; dj++)
            for (int di = -1; di <= 1; di++) {
                if (dk == 0 && (dj > 0 || (dj == 0 && di >= 0))) continue;
                int manhattan = abs(di) + abs(dj) + abs(dk);
                if (connectivity == 6 && manhattan != 1) continue;
                off[noff][0] = di;
                off[noff][1] = dj;
                off[noff][2] = dk;
                noff++;
            }

    int64_t cap = 1024, next = 1;
    int32_t *parent = malloc((size_t)cap * sizeof *parent);
    if (!parent) {
        qr_volume_free(labels_out);
        return qr_fail(QR_ERR_NOMEM, "out of memory in connected components");
    }
    parent[0] = 0;
    for (int64_t k = 0; k < nk; k++)
        for (int64_t j = 0; j < nj; j++)
            for (int64_t i = 0; i < ni; i++) {
                int64_t idx = i + ni * (j + nj * k);
                if (!m[idx]) continue;
                int32_t cur = 0;
                for (int o = 0; o < noff; o++) {
                    int64_t ii = i + off[o][0], jj = j + off[o][1], kk = k + off[o][2];
                    if (ii < 0 || jj < 0 || kk < 0 || ii >= ni || jj >= nj) continue;
                    int32_t l = lab[ii + ni * (jj + nj * kk)];
                    if (!l) continue;
                    if (!cur)
                        cur = l;
                    else
                        uf_union(parent, cur, l);
                }
                if (!cur) {
                    if (next >= INT32_MAX) {
                        free(parent);
                        qr_volume_free(labels_out);
                        return qr_fail(QR_ERR_INVALID_ARG, "too many components");
                    }
                    if (next == cap) {
                        cap *= 2;
                        int32_t *np = realloc(parent, (size_t)cap * sizeof *np);
                        if (!np) {
                            free(parent);
                            qr_volume_free(labels_out);
                            return qr_fail(QR_ERR_NOMEM, "out of memory in connected components");
                        }
                        parent = np;
                    }
                    parent[next] = (int32_t)next;
                    cur = (int32_t)next++;
                }
                lab[idx] = cur;
            }
    /* Final numbering in order of each component's first voxel: roots are created in raster
     * order and unions keep the smaller (earlier) root, so numbering roots in increasing order
     * gives that order. */
    int32_t *final = calloc((size_t)next, sizeof *final);
    if (!final) {
        free(parent);
        qr_volume_free(labels_out);
        return qr_fail(QR_ERR_NOMEM, "out of memory in connected components");
    }
    int32_t count = 0;
    for (int64_t l = 1; l < next; l++) {
        int32_t r = uf_find(parent, (int32_t)l);
        if (r == l) final[l] = ++count;
    }
    int64_t nv = qr_volume_nvox(mask);
    for (int64_t idx = 0; idx < nv; idx++)
        if (lab[idx]) lab[idx] = final[uf_find(parent, lab[idx])];
    free(final);
    free(parent);
    *n_out = count;
    return QR_OK;
}

/* ---- lesion table ---- */

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

qr_status qr_lesion_table_from_labels(const qr_volume *labels, qr_lesion_table *t) {
    memset(t, 0, sizeof *t);
    if (labels->dtype != QR_INT32) return qr_fail(QR_ERR_INVALID_ARG, "the lesion table needs an integer label map");
    const qr_geometry *g = &labels->geom;
    const int32_t *lab = qr_volume_i32(labels);
    const int64_t nv = qr_volume_nvox(labels);
    int64_t nz = 0;
    for (int64_t i = 0; i < nv; i++) nz += lab[i] > 0;
    if (!nz) return QR_OK;

    int32_t *ids = malloc((size_t)nz * sizeof *ids);
    if (!ids) return qr_fail(QR_ERR_NOMEM, "out of memory building the lesion table");
    int64_t p = 0;
    for (int64_t i = 0; i < nv; i++)
        if (lab[i] > 0) ids[p++] = lab[i];
    qsort(ids, (size_t)nz, sizeof *ids, cmp_i32);
    int64_t nu = 0;
    for (int64_t i = 0; i < nz; i++)
        if (i == 0 || ids[i] != ids[i - 1]) ids[nu++] = ids[i];

    qr_lesion *items = calloc((size_t)nu, sizeof *items);
    double (*sum)[3] = calloc((size_t)nu, sizeof *sum);
    if (!items || !sum) {
        free(ids);
        free(items);
        free(sum);
        return qr_fail(QR_ERR_NOMEM, "out of memory building the lesion table");
    }
    for (int64_t u = 0; u < nu; u++) {
        items[u].id = ids[u];
        for (int a = 0; a < 3; a++) {
            items[u].bbox[a] = INT64_MAX;
            items[u].bbox[3 + a] = -1;
        }
    }
    const int64_t ni = g->size[0], nj = g->size[1], nk = g->size[2];
    int64_t last_u = 0;
    for (int64_t k = 0; k < nk; k++)
        for (int64_t j = 0; j < nj; j++)
            for (int64_t i = 0; i < ni; i++) {
                int32_t l = lab[i + ni * (j + nj * k)];
                if (l <= 0) continue;
                int64_t u = last_u;
                if (items[u].id != l) {
                    int32_t *hit = bsearch(&l, ids, (size_t)nu, sizeof *ids, cmp_i32);
                    u = hit - ids;
                    last_u = u;
                }
                qr_lesion *L = &items[u];
                int64_t c[3] = {i, j, k};
                L->voxels++;
                for (int a = 0; a < 3; a++) {
                    sum[u][a] += (double)c[a];
                    if (c[a] < L->bbox[a]) L->bbox[a] = c[a];
                    if (c[a] > L->bbox[3 + a]) L->bbox[3 + a] = c[a];
                }
            }
    const double voxvol = g->spacing[0] * g->spacing[1] * g->spacing[2];
    for (int64_t u = 0; u < nu; u++) {
        qr_lesion *L = &items[u];
        L->volume_mm3 = (double)L->voxels * voxvol;
        for (int a = 0; a < 3; a++) L->center_ijk[a] = sum[u][a] / (double)L->voxels;
        qr_geometry_index_to_ras(g, L->center_ijk, L->center_ras);
        for (int a = 0; a < 3; a++)
            if (L->bbox[a] == 0 || L->bbox[3 + a] == g->size[a] - 1) L->touches_border = 1;
    }
    free(sum);
    free(ids);
    t->n = nu;
    t->items = items;
    return QR_OK;
}

const qr_lesion *qr_lesion_table_find(const qr_lesion_table *t, int32_t id) {
    int64_t lo = 0, hi = t->n - 1;
    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        if (t->items[mid].id == id) return &t->items[mid];
        if (t->items[mid].id < id)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

void qr_lesion_table_free(qr_lesion_table *t) {
    if (!t) return;
    free(t->items);
    t->items = NULL;
    t->n = 0;
}

qr_status qr_lesions_extract(const qr_volume *input, const qr_lesion_options *opt_in, qr_volume *labels_out,
                             qr_lesion_table *table, int *was_mask) {
    qr_lesion_options opt = opt_in ? *opt_in : qr_lesion_options_default();
    memset(table, 0, sizeof *table);
    if (input->dtype != QR_INT32) return qr_fail(QR_ERR_INVALID_ARG, "lesion input must be an integer volume");
    const int32_t *v = qr_volume_i32(input);
    const int64_t nv = qr_volume_nvox(input);
    /* the first positive value, and whether another one follows */
    int32_t first = 0;
    int several = 0;
    for (int64_t i = 0; i < nv; i++) {
        if (v[i] < 0) return qr_fail(QR_ERR_FORMAT, "lesion map holds a negative label (%d)", v[i]);
        if (v[i] > 0 && v[i] != first) {
            if (first) several = 1;
            else first = v[i];
        }
    }
    int mask = opt.input == QR_LESION_INPUT_MASK || (opt.input == QR_LESION_INPUT_AUTO && !several);
    if (was_mask) *was_mask = mask;

    qr_volume labels;
    if (mask) {
        qr_volume bin;
        QR_TRY(qr_volume_copy(&bin, input, QR_INT32));
        int32_t *b = qr_volume_i32(&bin);
        for (int64_t i = 0; i < nv; i++) b[i] = b[i] != 0;
        int64_t n;
        qr_status s = qr_connected_components(&bin, opt.connectivity, &labels, &n);
        qr_volume_free(&bin);
        if (s != QR_OK) return s;
    } else {
        QR_TRY(qr_volume_copy(&labels, input, QR_INT32));
    }

    qr_status s = qr_lesion_table_from_labels(&labels, table);
    if (s == QR_OK && opt.min_volume_mm3 > 0 && table->n > 0) {
        /* drop small lesions from table and map; renumber components of a mask. The table is
         * in ascending id order: old ids are found by binary search (labels may be any int32). */
        int32_t *old_ids = malloc((size_t)table->n * sizeof *old_ids), *new_ids = malloc((size_t)table->n * sizeof *new_ids);
        if (!old_ids || !new_ids) {
            s = qr_fail(QR_ERR_NOMEM, "out of memory filtering lesions");
        } else {
            const int64_t n_old = table->n;
            int64_t kept = 0;
            for (int64_t u = 0; u < n_old; u++) {
                qr_lesion L = table->items[u];
                old_ids[u] = L.id;
                new_ids[u] = 0;
                /* relative slack: a voxel volume from float spacings (0.5 x 0.7 x 3.0 =
                 * 1.0499999999999998) must not drop a lesion printed as exactly the minimum */
                if (L.volume_mm3 < opt.min_volume_mm3 * (1.0 - 1e-9)) continue;
                new_ids[u] = mask ? (int32_t)(kept + 1) : L.id;
                L.id = new_ids[u];
                table->items[kept++] = L;
            }
            table->n = kept;
            int32_t *lab = qr_volume_i32(&labels);
            int32_t last_old = 0, last_new = 0;
            for (int64_t i = 0; i < nv; i++) {
                if (lab[i] <= 0) continue;
                if (lab[i] != last_old) {
                    const int32_t *hit = bsearch(&lab[i], old_ids, (size_t)n_old, sizeof *old_ids, cmp_i32);
                    last_old = lab[i];
                    last_new = hit ? new_ids[hit - old_ids] : 0;
                }
                lab[i] = last_new;
            }
        }
        free(old_ids);
        free(new_ids);
    }
    if (s != QR_OK) {
        qr_lesion_table_free(table);
        qr_volume_free(&labels);
        return s;
    }
    if (labels_out)
        *labels_out = labels;
    else
        qr_volume_free(&labels);
    return QR_OK;
}

qr_status qr_lesion_table_write_tsv(const qr_lesion_table *t, const char *path) {
    qr_pending p;
    QR_TRY(qr_lesion_table_write_tsv_pending(t, path, &p));
    return qr_pending_commit(&p);
}

qr_status qr_lesion_table_write_tsv_pending(const qr_lesion_table *t, const char *path, qr_pending *out) {
    qr_atomic f;
    QR_TRY(qr_atomic_open(&f, path));
    fprintf(f.fp, "lesion_id\tvoxels\tvolume_mm3\tcenter_r\tcenter_a\tcenter_s\tbbox\ttouches_border\n");
    for (int64_t u = 0; u < t->n; u++) {
        const qr_lesion *L = &t->items[u];
        fprintf(f.fp, "%d\t%lld\t%.10g\t%.3f\t%.3f\t%.3f\t%lld,%lld,%lld,%lld,%lld,%lld\t%d\n", L->id, (long long)L->voxels,
                L->volume_mm3, L->center_ras[0], L->center_ras[1], L->center_ras[2], (long long)L->bbox[0],
                (long long)L->bbox[1], (long long)L->bbox[2], (long long)L->bbox[3], (long long)L->bbox[4],
                (long long)L->bbox[5], L->touches_border);
    }
    return qr_atomic_finish(&f, out);
}
