/*
 * library.c - the lesion library: real lesion shapes from the open_ms_data consensus masks.
 *
 * Every masks/<name>_lesions_mni.nii.gz except patient07's (whose brain is the anatomy) is split into
 * 26-connected components. A consensus mask is binary, so lesions that have grown together form one
 * component; components of at least PH_SPLIT_MIN_MM3 are split where they are confluent:
 *
 *   d(x)      Euclidean distance from a lesion voxel to the nearest non-lesion voxel (mm)
 *   cores(t)  26-connected components of { d > t } with >= PH_SPLIT_CORE_MIN_VOX voxels
 *   t = 1.0, 1.5, 2.0, ... up to max d - 0.5: at the first t with two or more cores, every voxel of
 *   the component goes to the core it reaches first by a breadth-first walk inside the component
 *   (a geodesic watershed on the distance map), and each part is examined again.
 *
 * Parts of PH_LIB_MIN_MM3 .. PH_LIB_MAX_MM3 enter the library in a fixed order (file name, component
 * number, part), so the library - and every cohort drawn from it - is reproducible.
 */
#include <dirent.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/fileutil.h"
#include "../io/imageio.h"
#include "../lesions/lesions.h"
#include "phantom_internal.h"

typedef struct patch {
    int64_t n[3];   /* size */
    int64_t off[3]; /* index of patch voxel (0,0,0) in the mask grid */
    uint8_t *m;
} patch;

typedef struct patch_list {
    int n, cap;
    patch *items;
} patch_list;

static qr_status list_push(patch_list *l, patch p) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        patch *it = realloc(l->items, sizeof(patch) * (size_t)cap);
        if (!it) return qr_fail(QR_ERR_NOMEM, "lesion library: out of memory");
        l->items = it;
        l->cap = cap;
    }
    l->items[l->n++] = p;
    return QR_OK;
}

/* Crop the voxels labelled `want` of `lab` (size n, searched within the inclusive index box
 * rlo..rhi) into a new patch with one empty voxel around; off: position of lab's voxel (0,0,0). */
static qr_status crop_box(const int64_t n[3], const int64_t off[3], const int32_t *lab, int32_t want,
                          const int64_t rlo[3], const int64_t rhi[3], patch *out) {
    int64_t lo[3] = {n[0], n[1], n[2]}, hi[3] = {-1, -1, -1};
    for (int64_t k = rlo[2]; k <= rhi[2]; k++)
        for (int64_t j = rlo[1]; j <= rhi[1]; j++)
            for (int64_t i = rlo[0]; i <= rhi[0]; i++)
                if (lab[i + n[0] * (j + n[1] * k)] == want) {
                    int64_t x[3] = {i, j, k};
                    for (int d = 0; d < 3; d++) {
                        if (x[d] < lo[d]) lo[d] = x[d];
                        if (x[d] > hi[d]) hi[d] = x[d];
                    }
                }
    memset(out, 0, sizeof *out);
    if (hi[0] < 0) return QR_OK;
    for (int d = 0; d < 3; d++) {
        out->n[d] = hi[d] - lo[d] + 3;
        out->off[d] = off[d] + lo[d] - 1;
    }
    out->m = calloc((size_t)(out->n[0] * out->n[1] * out->n[2]), 1);
    if (!out->m) return qr_fail(QR_ERR_NOMEM, "lesion library: out of memory");
    for (int64_t k = lo[2]; k <= hi[2]; k++)
        for (int64_t j = lo[1]; j <= hi[1]; j++)
            for (int64_t i = lo[0]; i <= hi[0]; i++)
                if (lab[i + n[0] * (j + n[1] * k)] == want)
                    out->m[(i - lo[0] + 1) + out->n[0] * ((j - lo[1] + 1) + out->n[1] * (k - lo[2] + 1))] = 1;
    return QR_OK;
}

static qr_status crop(const int64_t n[3], const int64_t off[3], const int32_t *lab, int32_t want, patch *out) {
    const int64_t rlo[3] = {0, 0, 0}, rhi[3] = {n[0] - 1, n[1] - 1, n[2] - 1};
    return crop_box(n, off, lab, want, rlo, rhi, out);
}

static int64_t count_vox(const patch *p) {
    int64_t c = 0, nv = p->n[0] * p->n[1] * p->n[2];
    for (int64_t i = 0; i < nv; i++) c += p->m[i];
    return c;
}

/* Split a patch at confluences (see the file comment); parts are appended to `out`, p is consumed. */
static qr_status split_patch(patch *p, const double sp[3], double vox_mm3, int depth, patch_list *out) {
    const int64_t nv = p->n[0] * p->n[1] * p->n[2];
    if ((double)count_vox(p) * vox_mm3 < PH_SPLIT_MIN_MM3 || depth > 8) return list_push(out, *p);
    qr_status s = QR_OK;
    float *d2 = malloc(sizeof(float) * (size_t)nv);
    qr_volume core = {0}, clab = {0};
    int32_t *part = NULL;
    int64_t *queue = NULL;
    if (!d2) return qr_fail(QR_ERR_NOMEM, "lesion library: out of memory");
    s = ph_edt_sq(p->m, p->n, sp, d2);
    if (s != QR_OK) goto fail;
    double dmax = 0;
    for (int64_t i = 0; i < nv; i++)
        if (p->m[i] && d2[i] > dmax) dmax = d2[i];
    dmax = sqrt(dmax);
    qr_geometry g = qr_geometry_identity(p->n[0], p->n[1], p->n[2]);
    s = qr_volume_alloc(&core, &g, QR_INT32);
    if (s != QR_OK) goto fail;
    int32_t *cm = qr_volume_i32(&core);
    for (double t = 1.0; t < dmax - 0.5; t += 0.5) {
        for (int64_t i = 0; i < nv; i++) cm[i] = p->m[i] && d2[i] > t * t;
        int64_t nc = 0;
        s = qr_connected_components(&core, 26, &clab, &nc);
        if (s != QR_OK) goto fail;
        int64_t *cnt = calloc((size_t)nc + 1, sizeof(int64_t));
        int32_t *map = calloc((size_t)nc + 1, sizeof(int32_t));
        if (!cnt || !map) {
            free(cnt), free(map);
            s = qr_fail(QR_ERR_NOMEM, "lesion library: out of memory");
            goto fail;
        }
        const int32_t *cl = qr_volume_i32(&clab);
        for (int64_t i = 0; i < nv; i++) cnt[cl[i]]++;
        int32_t nbig = 0;
        for (int64_t c = 1; c <= nc; c++)
            if (cnt[c] >= PH_SPLIT_CORE_MIN_VOX) map[c] = ++nbig;
        if (nbig >= 2) {
            /* geodesic assignment: breadth-first from all core voxels, memory order */
            part = calloc((size_t)nv, sizeof(int32_t));
            queue = malloc(sizeof(int64_t) * (size_t)nv);
            if (!part || !queue) {
                free(cnt), free(map);
                s = qr_fail(QR_ERR_NOMEM, "lesion library: out of memory");
                goto fail;
            }
            int64_t qh = 0, qt = 0;
            for (int64_t i = 0; i < nv; i++)
                if (map[cl[i]]) {
                    part[i] = map[cl[i]];
                    queue[qt++] = i;
                }
            const int64_t sx = 1, sy = p->n[0], sz = p->n[0] * p->n[1];
            while (qh < qt) {
                int64_t v = queue[qh++];
                int64_t i = v % p->n[0], j = (v / sy) % p->n[1], k = v / sz;
                for (int dk = -1; dk <= 1; dk++)
                    for (int dj = -1; dj <= 1; dj++)
                        for (int di = -1; di <= 1; di++) {
                            int64_t a = i + di, b = j + dj, c = k + dk;
                            if (a < 0 || b < 0 || c < 0 || a >= p->n[0] || b >= p->n[1] || c >= p->n[2]) continue;
                            int64_t u = a * sx + b * sy + c * sz;
                            if (!p->m[u] || part[u]) continue;
                            part[u] = part[v];
                            queue[qt++] = u;
                        }
            }
            free(cnt), free(map);
            qr_volume_free(&clab);
            qr_volume_free(&core);
            free(d2);
            d2 = NULL;
            free(queue);
            queue = NULL;
            for (int32_t k = 1; k <= nbig && s == QR_OK; k++) {
                patch q;
                s = crop(p->n, p->off, part, k, &q);
                if (s == QR_OK && q.m) s = split_patch(&q, sp, vox_mm3, depth + 1, out);
            }
            free(part);
            free(p->m);
            p->m = NULL;
            return s;
        }
        free(cnt), free(map);
        qr_volume_free(&clab);
    }
    qr_volume_free(&core);
    free(d2);
    return list_push(out, *p);
fail:
    qr_volume_free(&core);
    qr_volume_free(&clab);
    free(d2);
    free(part);
    free(queue);
    free(p->m);
    p->m = NULL;
    return s;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Add the parts of one mask file to the library. */
static qr_status add_mask(const char *path, const char *name, ph_library *lib, int *cap) {
    qr_volume mask, lab;
    QR_TRY(qr_image_read(path, QR_INT32, &mask, NULL));
    int64_t nc = 0;
    qr_status s = qr_connected_components(&mask, 26, &lab, &nc);
    qr_volume_free(&mask);
    if (s != QR_OK) return s;
    const qr_geometry geo = lab.geom; /* kept: lab is freed before the parts are stored */
    const qr_geometry *g = &geo;
    double vox = g->spacing[0] * g->spacing[1] * g->spacing[2];
    /* index offset -> RAS offset: F D S, F = diag(-1,-1,1) */
    double M[9];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++) M[3 * r + c] = (r < 2 ? -1.0 : 1.0) * g->direction[3 * r + c] * g->spacing[c];
    patch_list parts = {0};
    const int32_t *L = qr_volume_i32(&lab);
    int64_t *box = malloc(sizeof(int64_t) * 6 * (size_t)(nc + 1));
    if (!box) {
        qr_volume_free(&lab);
        return qr_fail(QR_ERR_NOMEM, "lesion library: out of memory");
    }
    for (int64_t c = 0; c <= nc; c++)
        for (int d = 0; d < 3; d++) box[6 * c + d] = INT64_MAX, box[6 * c + 3 + d] = -1;
    for (int64_t k = 0; k < g->size[2]; k++)
        for (int64_t j = 0; j < g->size[1]; j++)
            for (int64_t i = 0; i < g->size[0]; i++) {
                int32_t c = L[qr_geometry_index(g, i, j, k)];
                if (!c) continue;
                int64_t x[3] = {i, j, k}, *b = box + 6 * c;
                for (int d = 0; d < 3; d++) {
                    if (x[d] < b[d]) b[d] = x[d];
                    if (x[d] > b[3 + d]) b[3 + d] = x[d];
                }
            }
    const int64_t zero[3] = {0, 0, 0};
    for (int32_t c = 1; c <= nc && s == QR_OK; c++) {
        patch p;
        s = crop_box(g->size, zero, L, c, box + 6 * c, box + 6 * c + 3, &p);
        if (s == QR_OK && p.m) s = split_patch(&p, g->spacing, vox, 0, &parts);
    }
    free(box);
    qr_volume_free(&lab);
    char stem[QR_PHANTOM_NAME];
    snprintf(stem, sizeof stem, "%.*s", (int)(strcspn(name, "_")), name);
    for (int q = 0; q < parts.n; q++) {
        patch *p = &parts.items[q];
        if (s != QR_OK) {
            free(p->m);
            continue;
        }
        int64_t cnt = 0;
        double cen[3] = {0, 0, 0};
        for (int64_t k = 0; k < p->n[2]; k++)
            for (int64_t j = 0; j < p->n[1]; j++)
                for (int64_t i = 0; i < p->n[0]; i++)
                    if (p->m[i + p->n[0] * (j + p->n[1] * k)]) {
                        cen[0] += (double)i, cen[1] += (double)j, cen[2] += (double)k;
                        cnt++;
                    }
        double vol = (double)cnt * vox;
        if (vol < PH_LIB_MIN_MM3 || vol > PH_LIB_MAX_MM3) {
            free(p->m);
            continue;
        }
        for (int d = 0; d < 3; d++) cen[d] /= (double)cnt;
        if (lib->n == *cap) {
            int nc2 = *cap ? 2 * *cap : 256;
            ph_lib_lesion *it = realloc(lib->items, sizeof(ph_lib_lesion) * (size_t)nc2);
            if (!it) {
                free(p->m);
                s = qr_fail(QR_ERR_NOMEM, "lesion library: out of memory");
                continue;
            }
            lib->items = it;
            *cap = nc2;
        }
        ph_lib_lesion *e = &lib->items[lib->n++];
        memset(e, 0, sizeof *e);
        for (int d = 0; d < 3; d++) e->n[d] = (int)p->n[d];
        e->mask = p->m;
        for (int d = 0; d < 3; d++) e->centroid_ijk[d] = cen[d];
        double gi[3] = {p->off[0] + cen[0], p->off[1] + cen[1], p->off[2] + cen[2]};
        for (int r = 0; r < 3; r++)
            e->centroid_mni[r] = (r < 2 ? -1.0 : 1.0) * g->origin[r] + M[3 * r] * gi[0] + M[3 * r + 1] * gi[1] + M[3 * r + 2] * gi[2];
        ph_mat3_inverse(M, e->ras_to_ijk);
        double rmax = 0;
        for (int64_t k = 0; k < p->n[2]; k++)
            for (int64_t j = 0; j < p->n[1]; j++)
                for (int64_t i = 0; i < p->n[0]; i++)
                    if (p->m[i + p->n[0] * (j + p->n[1] * k)]) {
                        double dx[3] = {(i - cen[0]) * g->spacing[0], (j - cen[1]) * g->spacing[1], (k - cen[2]) * g->spacing[2]};
                        double r2 = dx[0] * dx[0] + dx[1] * dx[1] + dx[2] * dx[2];
                        if (r2 > rmax) rmax = r2;
                    }
        e->radius_mm = sqrt(rmax) + 0.5 * sqrt(g->spacing[0] * g->spacing[0] + g->spacing[1] * g->spacing[1] + g->spacing[2] * g->spacing[2]);
        e->volume_mm3 = vol;
        if (ph_format(e->source, sizeof e->source, "%s:%d", stem, q + 1) != QR_OK) e->source[0] = '\0';
    }
    free(parts.items);
    return s;
}

qr_status ph_library_build(const char *mask_dir, ph_library *lib) {
    memset(lib, 0, sizeof *lib);
    DIR *d = opendir(mask_dir);
    if (!d) return qr_fail(QR_ERR_IO, "%s: cannot open the lesion mask folder", mask_dir);
    char **names = NULL;
    int nn = 0, cn = 0;
    struct dirent *de;
    qr_status s = QR_OK;
    while ((de = readdir(d)) != NULL) {
        if (!qr_path_has_suffix(de->d_name, "_lesions_mni.nii.gz")) continue;
        if (!strncmp(de->d_name, "patient07", 9)) continue; /* the anatomy's own patient */
        if (nn == cn) {
            cn = cn ? 2 * cn : 32;
            char **nx = realloc(names, sizeof(char *) * (size_t)cn);
            if (!nx) {
                s = qr_fail(QR_ERR_NOMEM, "lesion library: out of memory");
                break;
            }
            names = nx;
        }
        names[nn] = strdup(de->d_name);
        if (!names[nn]) {
            s = qr_fail(QR_ERR_NOMEM, "lesion library: out of memory");
            break;
        }
        nn++;
    }
    closedir(d);
    if (s == QR_OK && nn == 0)
        s = qr_fail(QR_ERR_EMPTY, "%s: no lesion masks (*_lesions_mni.nii.gz) found", mask_dir);
    if (s == QR_OK) qsort(names, (size_t)nn, sizeof(char *), cmp_str);
    int cap = 0;
    for (int i = 0; i < nn && s == QR_OK; i++) {
        char path[QR_PATH_MAX];
        s = ph_format(path, sizeof path, "%s/%s", mask_dir, names[i]);
        if (s == QR_OK) s = add_mask(path, names[i], lib, &cap);
    }
    for (int i = 0; i < nn; i++) free(names[i]);
    free(names);
    if (s == QR_OK) {
        lib->rimpos_idx = malloc(sizeof(int) * (size_t)(lib->n ? lib->n : 1));
        lib->rimneg_cdf = malloc(sizeof(double) * (size_t)(lib->n ? lib->n : 1));
        if (!lib->rimpos_idx || !lib->rimneg_cdf) s = qr_fail(QR_ERR_NOMEM, "lesion library: out of memory");
    }
    if (s == QR_OK) {
        double acc = 0;
        for (int i = 0; i < lib->n; i++) {
            if (lib->items[i].volume_mm3 >= PH_RIMPOS_MIN_MM3) lib->rimpos_idx[lib->n_rimpos++] = i;
            acc += pow(lib->items[i].volume_mm3, PH_RIMNEG_SIZE_POWER);
            lib->rimneg_cdf[i] = acc;
        }
        if (lib->n_rimpos == 0)
            s = qr_fail(QR_ERR_EMPTY, "%s: no lesion of at least %g mm^3 for rim+ lesions", mask_dir, PH_RIMPOS_MIN_MM3);
    }
    if (s != QR_OK) ph_library_free(lib);
    return s;
}

void ph_library_free(ph_library *lib) {
    if (!lib) return;
    for (int i = 0; i < lib->n; i++) free(lib->items[i].mask);
    free(lib->items);
    free(lib->rimpos_idx);
    free(lib->rimneg_cdf);
    memset(lib, 0, sizeof *lib);
}

int ph_library_draw(const ph_library *lib, int rimpos, qr_rng *r) {
    if (rimpos) return lib->rimpos_idx[qr_rng_below(r, (uint64_t)lib->n_rimpos)];
    double u = qr_rng_uniform(r) * lib->rimneg_cdf[lib->n - 1];
    int lo = 0, hi = lib->n - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (lib->rimneg_cdf[mid] > u) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}
