/*
 * shape.c - 3D shape features of the ROI (PyRadiomics RadiomicsShape, cshape.c).
 *
 * The ROI mask is cropped to its bounding box and padded with one empty voxel on every side. A
 * marching-cubes surface is built on it with vertices halfway along every cube edge between a
 * ROI and a non-ROI corner (triangle table below, outward normals). Let
 *   V    MeshVolume = sum over triangles (a, b, c) of a . (b x c) / 6  (signed tetrahedra from the
 *        origin; a cube with more than 4 set corners is processed as its complement, with the sign
 *        flipped)
 *   A    SurfaceArea = sum over triangles of |(a - c) x (b - c)| / 2
 *   N_v  the ROI voxel count;  lambda_least <= lambda_minor <= lambda_major  the eigenvalues of the
 *        covariance of the ROI voxel centres in mm (PCA)
 * Diameters are the largest distances between mesh vertices (all pairs; pairs in one axial plane,
 * one coronal plane (same row y) or one sagittal plane (same column x)).
 *
 * The triangle table and the corner/edge layout are PyRadiomics' (cshape.c, BSD 3-Clause,
 * Copyright 2017 Harvard Medical School; derived from the marching-cubes tables of Lorensen & Cline
 * 1987 as published by P. Bourke): the same triangulation is needed for the same SurfaceArea.
 */
#pragma GCC optimize("fp-contract=off")
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rx_internal.h"

static const char *const NAMES[] = {"Compactness1",
                                    "Compactness2",
                                    "Elongation",
                                    "Flatness",
                                    "LeastAxisLength",
                                    "MajorAxisLength",
                                    "Maximum2DDiameterColumn",
                                    "Maximum2DDiameterRow",
                                    "Maximum2DDiameterSlice",
                                    "Maximum3DDiameter",
                                    "MeshVolume",
                                    "MinorAxisLength",
                                    "SphericalDisproportion",
                                    "Sphericity",
                                    "SurfaceArea",
                                    "SurfaceVolumeRatio",
                                    "VoxelVolume"};
enum {
    F_COMPACT1, F_COMPACT2, F_ELONG, F_FLAT, F_LEAST, F_MAJOR, F_D2COL, F_D2ROW, F_D2SLICE, F_D3, F_MESHVOL, F_MINOR,
    F_SPHDISP, F_SPHER, F_SURF, F_SVR, F_VOXVOL, F_COUNT
};
static const unsigned char FLAGS[F_COUNT] = {
    [F_COMPACT1] = RX_FEAT_DEPRECATED, [F_COMPACT2] = RX_FEAT_DEPRECATED, [F_SPHDISP] = RX_FEAT_DEPRECATED};
const rx_class_info rx_shape_info = {"shape", F_COUNT, NAMES, FLAGS};

/* corners of the marching cube relative to its origin, (dz, dy, dx) */
static const int CORNERS[8][3] = {{0, 0, 0}, {0, 0, 1}, {0, 1, 1}, {0, 1, 0},
                                  {1, 0, 0}, {1, 0, 1}, {1, 1, 1}, {1, 1, 0}};
/* vertex positions on the 12 edges (corner pairs 1-0, 2-1, 3-2, 3-0, 5-4, 6-5, 7-6, 7-4, 4-0, 5-1,
 * 6-2, 7-3) */
static const double EDGE_VERTEX[12][3] = {{0, 0, 0.5}, {0, 0.5, 1}, {0, 1, 0.5}, {0, 0.5, 0},
                                          {1, 0, 0.5}, {1, 0.5, 1}, {1, 1, 0.5}, {1, 0.5, 0},
                                          {0.5, 0, 0}, {0.5, 0, 1}, {0.5, 1, 1}, {0.5, 1, 0}};
/* triangles (edge triples, -1 terminated) of cube configurations 0..127 */
static const signed char TRIANGLES[128][16] = {
    {-1},
    {0, 8, 3, -1},
    {1, 9, 0, -1},
    {1, 8, 3, 1, 9, 8, -1},
    {1, 2, 10, -1},
    {0, 8, 3, 1, 2, 10, -1},
    {9, 2, 10, 0, 2, 9, -1},
    {2, 8, 3, 2, 10, 8, 10, 9, 8, -1},
    {11, 2, 3, -1},
    {11, 2, 0, 0, 8, 11, -1},
    {1, 9, 0, 11, 2, 3, -1},
    {11, 2, 1, 1, 9, 11, 9, 8, 11, -1},
    {3, 10, 1, 11, 10, 3, -1},
    {10, 1, 0, 0, 8, 10, 8, 11, 10, -1},
    {9, 0, 3, 3, 11, 9, 11, 10, 9, -1},
    {9, 8, 10, 11, 10, 8, -1},
    {4, 7, 8, -1},
    {0, 4, 3, 4, 7, 3, -1},
    {1, 9, 0, 4, 7, 8, -1},
    {1, 9, 4, 1, 4, 7, 1, 7, 3, -1},
    {1, 2, 10, 4, 7, 8, -1},
    {3, 4, 7, 3, 0, 4, 1, 2, 10, -1},
    {9, 2, 10, 9, 0, 2, 4, 7, 8, -1},
    {2, 10, 9, 2, 9, 7, 2, 7, 3, 4, 7, 9, -1},
    {4, 7, 8, 11, 2, 3, -1},
    {11, 4, 7, 11, 2, 4, 2, 0, 4, -1},
    {1, 9, 0, 4, 7, 8, 11, 2, 3, -1},
    {4, 7, 11, 9, 4, 11, 11, 2, 9, 1, 9, 2, -1},
    {3, 10, 1, 11, 10, 3, 4, 7, 8, -1},
    {11, 10, 1, 1, 4, 11, 1, 0, 4, 4, 7, 11, -1},
    {4, 7, 8, 9, 0, 3, 3, 11, 9, 11, 10, 9, -1},
    {4, 7, 11, 4, 11, 9, 9, 11, 10, -1},
    {9, 5, 4, -1},
    {9, 5, 4, 0, 8, 3, -1},
    {0, 5, 4, 0, 1, 5, -1},
    {8, 5, 4, 8, 3, 5, 3, 1, 5, -1},
    {1, 2, 10, 9, 5, 4, -1},
    {0, 8, 3, 1, 2, 10, 9, 5, 4, -1},
    {2, 10, 5, 5, 4, 2, 2, 4, 0, -1},
    {2, 10, 5, 3, 2, 5, 3, 5, 4, 8, 3, 4, -1},
    {9, 5, 4, 11, 2, 3, -1},
    {11, 2, 0, 0, 8, 11, 9, 5, 4, -1},
    {0, 5, 4, 0, 1, 5, 11, 2, 3, -1},
    {2, 1, 5, 2, 5, 8, 11, 2, 8, 5, 4, 8, -1},
    {3, 10, 1, 11, 10, 3, 9, 5, 4, -1},
    {5, 4, 9, 10, 1, 0, 0, 8, 10, 8, 11, 10, -1},
    {5, 4, 0, 5, 0, 11, 10, 5, 11, 11, 0, 3, -1},
    {5, 4, 8, 10, 5, 8, 11, 10, 8, -1},
    {7, 8, 9, 5, 7, 9, -1},
    {3, 0, 9, 5, 3, 9, 3, 5, 7, -1},
    {7, 8, 0, 0, 1, 7, 7, 1, 5, -1},
    {1, 5, 7, 1, 7, 3, -1},
    {7, 8, 9, 5, 7, 9, 1, 2, 10, -1},
    {1, 2, 10, 3, 0, 9, 3, 9, 5, 3, 5, 7, -1},
    {0, 2, 8, 8, 2, 5, 8, 5, 7, 2, 10, 5, -1},
    {2, 10, 5, 2, 5, 3, 3, 5, 7, -1},
    {5, 7, 9, 7, 8, 9, 11, 2, 3, -1},
    {5, 7, 9, 9, 7, 2, 2, 0, 9, 11, 2, 7, -1},
    {11, 2, 3, 0, 1, 8, 1, 7, 8, 1, 5, 7, -1},
    {2, 1, 11, 1, 7, 11, 1, 5, 7, -1},
    {7, 8, 9, 5, 7, 9, 3, 10, 1, 11, 10, 3, -1},
    {5, 7, 0, 5, 0, 9, 7, 11, 0, 10, 1, 0, 11, 10, 0, -1},
    {11, 10, 0, 0, 3, 11, 10, 5, 0, 0, 7, 8, 5, 7, 0, -1},
    {11, 10, 5, 5, 7, 11, -1},
    {6, 5, 10, -1},
    {0, 8, 3, 6, 5, 10, -1},
    {1, 9, 0, 6, 5, 10, -1},
    {1, 8, 3, 1, 9, 8, 6, 5, 10, -1},
    {1, 6, 5, 1, 2, 6, -1},
    {1, 6, 5, 1, 2, 6, 0, 8, 3, -1},
    {9, 6, 5, 9, 0, 6, 0, 2, 6, -1},
    {5, 9, 8, 5, 8, 2, 5, 2, 6, 8, 3, 2, -1},
    {11, 2, 3, 6, 5, 10, -1},
    {11, 2, 0, 0, 8, 11, 6, 5, 10, -1},
    {1, 9, 0, 11, 2, 3, 6, 5, 10, -1},
    {11, 2, 1, 1, 9, 11, 9, 8, 11, 6, 5, 10, -1},
    {6, 3, 11, 6, 5, 3, 5, 1, 3, -1},
    {0, 8, 11, 0, 11, 5, 0, 5, 1, 5, 11, 6, -1},
    {6, 3, 11, 0, 3, 6, 0, 6, 5, 0, 5, 9, -1},
    {6, 5, 9, 6, 9, 11, 11, 9, 8, -1},
    {4, 7, 8, 6, 5, 10, -1},
    {0, 4, 3, 4, 7, 3, 6, 5, 10, -1},
    {1, 9, 0, 4, 7, 8, 6, 5, 10, -1},
    {1, 9, 4, 1, 4, 7, 1, 7, 3, 6, 5, 10, -1},
    {4, 7, 8, 1, 6, 5, 1, 2, 6, -1},
    {0, 4, 3, 4, 7, 3, 1, 6, 5, 1, 2, 6, -1},
    {4, 7, 8, 9, 6, 5, 9, 0, 6, 0, 2, 6, -1},
    {7, 3, 9, 4, 7, 9, 3, 2, 9, 5, 9, 6, 2, 6, 9, -1},
    {11, 2, 3, 4, 7, 8, 6, 5, 10, -1},
    {11, 4, 7, 11, 2, 4, 2, 0, 4, 6, 5, 10, -1},
    {1, 9, 0, 11, 2, 3, 4, 7, 8, 6, 5, 10, -1},
    {4, 7, 11, 9, 4, 11, 11, 2, 9, 1, 9, 2, 6, 5, 10, -1},
    {4, 7, 8, 6, 3, 11, 6, 5, 3, 5, 1, 3, -1},
    {5, 1, 11, 5, 11, 6, 1, 0, 11, 4, 7, 11, 0, 4, 11, -1},
    {4, 7, 8, 6, 3, 11, 0, 3, 6, 0, 6, 5, 0, 5, 9, -1},
    {6, 5, 9, 6, 9, 11, 4, 7, 9, 7, 11, 9, -1},
    {10, 4, 9, 6, 4, 10, -1},
    {10, 4, 9, 6, 4, 10, 0, 8, 3, -1},
    {0, 1, 10, 10, 6, 0, 6, 4, 0, -1},
    {1, 8, 3, 1, 6, 8, 8, 6, 4, 6, 1, 10, -1},
    {1, 4, 9, 1, 2, 4, 2, 6, 4, -1},
    {1, 4, 9, 1, 2, 4, 2, 6, 4, 0, 8, 3, -1},
    {0, 2, 4, 4, 2, 6, -1},
    {8, 3, 2, 8, 2, 4, 4, 2, 6, -1},
    {11, 2, 3, 10, 4, 9, 6, 4, 10, -1},
    {11, 2, 0, 0, 8, 11, 10, 4, 9, 6, 4, 10, -1},
    {11, 2, 3, 0, 1, 10, 10, 6, 0, 6, 4, 0, -1},
    {6, 4, 1, 6, 1, 10, 1, 4, 8, 11, 2, 1, 1, 8, 11, -1},
    {9, 6, 4, 3, 6, 9, 1, 3, 9, 11, 6, 3, -1},
    {1, 8, 11, 0, 8, 1, 11, 6, 1, 1, 4, 9, 6, 4, 1, -1},
    {6, 3, 11, 0, 3, 6, 6, 4, 0, -1},
    {8, 6, 4, 6, 8, 11, -1},
    {6, 7, 10, 7, 8, 10, 8, 9, 10, -1},
    {6, 7, 10, 0, 10, 7, 0, 9, 10, 0, 7, 3, -1},
    {6, 7, 10, 1, 10, 7, 1, 7, 8, 0, 1, 8, -1},
    {6, 7, 10, 1, 10, 7, 1, 7, 3, -1},
    {1, 2, 6, 1, 6, 8, 1, 8, 9, 6, 7, 8, -1},
    {2, 6, 9, 1, 2, 9, 6, 7, 9, 3, 0, 9, 7, 3, 9, -1},
    {0, 7, 8, 7, 0, 6, 6, 0, 2, -1},
    {2, 7, 3, 2, 6, 7, -1},
    {11, 2, 3, 6, 7, 10, 7, 8, 10, 8, 9, 10, -1},
    {2, 0, 7, 11, 2, 7, 0, 9, 7, 6, 7, 10, 9, 10, 7, -1},
    {6, 7, 10, 1, 10, 7, 1, 7, 8, 0, 1, 8, 11, 2, 3, -1},
    {11, 2, 1, 1, 7, 11, 10, 6, 1, 1, 6, 7, -1},
    {8, 9, 6, 6, 7, 8, 1, 6, 9, 11, 6, 3, 1, 3, 6, -1},
    {0, 9, 1, 6, 7, 11, -1},
    {0, 7, 8, 7, 0, 6, 0, 3, 11, 11, 6, 0, -1},
    {6, 7, 11, -1}};

/* Largest distance among the vertex pairs, over all pairs (d[3]) and over pairs sharing the z
 * (d[0], slice), y (d[1]) or x (d[2]) coordinate. The maximum does not depend on the order the pairs
 * are visited, and each squared distance is computed as in PyRadiomics, so the result is identical
 * to its all-pairs loop; planes are visited group by group, and the all-pairs maximum in blocks of 8
 * independent running maxima (vectorisable). */
static double max_pair_dist(const double *z, const double *y, const double *x, const int64_t *idx, int64_t n) {
    double best = 0;
    for (int64_t a = 1; a < n; a++) {
        int64_t i = idx ? idx[a] : a;
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t b = 0;
        if (!idx) {
            for (; b + 8 <= a; b += 8)
                for (int l = 0; l < 8; l++) {
                    double dz = z[i] - z[b + l], dy = y[i] - y[b + l], dx = x[i] - x[b + l];
                    double d = dz * dz + dy * dy + dx * dx;
                    acc[l] = d > acc[l] ? d : acc[l];
                }
        }
        for (; b < a; b++) {
            int64_t j = idx ? idx[b] : b;
            double dz = z[i] - z[j], dy = y[i] - y[j], dx = x[i] - x[j];
            double d = dz * dz + dy * dy + dx * dx;
            acc[0] = d > acc[0] ? d : acc[0];
        }
        for (int l = 0; l < 8; l++) best = acc[l] > best ? acc[l] : best;
    }
    return best;
}

typedef struct keyed {
    double key;
    int64_t idx;
} keyed;
static int cmp_key(const void *a, const void *b) {
    double x = ((const keyed *)a)->key, y = ((const keyed *)b)->key;
    return (x > y) - (x < y);
}

static qr_status mesh_diameters(const double *v, int64_t nv, double d[4]) {
    d[0] = d[1] = d[2] = d[3] = 0;
    double *c = malloc(sizeof *c * (size_t)(nv > 0 ? nv : 1) * 3);
    int64_t *idx = malloc(sizeof *idx * (size_t)(nv > 0 ? nv : 1));
    keyed *kv = malloc(sizeof *kv * (size_t)(nv > 0 ? nv : 1));
    if (!c || !idx || !kv) {
        free(c), free(idx), free(kv);
        d[0] = d[1] = d[2] = d[3] = NAN;
        return qr_fail(QR_ERR_NOMEM, "out of memory (shape diameters)");
    }
    double *cz = c, *cy = c + nv, *cx = c + 2 * nv;
    for (int64_t i = 0; i < nv; i++) cz[i] = v[3 * i], cy[i] = v[3 * i + 1], cx[i] = v[3 * i + 2];
    d[3] = max_pair_dist(cz, cy, cx, NULL, nv);
    const double *keys[3] = {cz, cy, cx};
    for (int k = 0; k < 3; k++) { /* pairs within one plane of equal coordinate k */
        for (int64_t i = 0; i < nv; i++) kv[i].key = keys[k][i], kv[i].idx = i;
        qsort(kv, (size_t)nv, sizeof *kv, cmp_key);
        for (int64_t i = 0; i < nv; i++) idx[i] = kv[i].idx;
        for (int64_t a = 0; a < nv;) {
            int64_t b = a;
            while (b < nv && keys[k][idx[b]] == keys[k][idx[a]]) b++;
            double m = max_pair_dist(cz, cy, cx, idx + a, b - a);
            if (m > d[k]) d[k] = m;
            a = b;
        }
    }
    free(c), free(idx), free(kv);
    for (int k = 0; k < 4; k++) d[k] = sqrt(d[k]);
    return QR_OK;
}

qr_status rx_shape(const uint8_t *roi, const int64_t size[3], const double sp[3], const unsigned char *want,
                   double *vals) {
    for (int f = 0; f < F_COUNT; f++) vals[f] = NAN;
    /* padded mask */
    int64_t pz = size[0] + 2, py = size[1] + 2, px = size[2] + 2;
    uint8_t *m = calloc((size_t)(pz * py * px), 1);
    double *verts = malloc(sizeof *verts * (size_t)((pz - 1) * (py - 1) * (px - 1)) * 9);
    if (!m || !verts) {
        free(m), free(verts);
        return qr_fail(QR_ERR_NOMEM, "out of memory (shape)");
    }
    int64_t np = 0;
    double sum[3] = {0, 0, 0};
    for (int64_t z = 0; z < size[0]; z++)
        for (int64_t y = 0; y < size[1]; y++)
            for (int64_t x = 0; x < size[2]; x++)
                if (roi[(z * size[1] + y) * size[2] + x]) {
                    m[((z + 1) * py + (y + 1)) * px + (x + 1)] = 1;
                    np++;
                }
    /* ---- marching cubes: surface area, signed volume, vertices on edges 6, 7 and 11 ---- */
    static const int VTX_CORNER[3] = {6, 4, 3}, VTX_EDGE[3] = {6, 7, 11};
    double area = 0, vol = 0;
    int64_t nv = 0;
    for (int64_t iz = 0; iz < pz - 1; iz++)
        for (int64_t iy = 0; iy < py - 1; iy++)
            for (int64_t ix = 0; ix < px - 1; ix++) {
                unsigned cube = 0;
                for (int c = 0; c < 8; c++)
                    if (m[((iz + CORNERS[c][0]) * py + (iy + CORNERS[c][1])) * px + (ix + CORNERS[c][2])])
                        cube |= 1u << c;
                int sign = 1;
                if (cube & 0x80) {
                    cube ^= 0xff;
                    sign = -1;
                }
                for (int t = 0; t < 3; t++)
                    if (cube & (1u << VTX_CORNER[t])) {
                        const double *e = EDGE_VERTEX[VTX_EDGE[t]];
                        verts[3 * nv] = ((double)iz + e[0]) * sp[0];
                        verts[3 * nv + 1] = ((double)iy + e[1]) * sp[1];
                        verts[3 * nv + 2] = ((double)ix + e[2]) * sp[2];
                        nv++;
                    }
                if (cube == 0) continue;
                for (const signed char *t = TRIANGLES[cube]; t[0] >= 0; t += 3) {
                    double a[3] = {(double)iz, (double)iy, (double)ix}, b[3], c[3], ab[3];
                    memcpy(b, a, sizeof b);
                    memcpy(c, a, sizeof c);
                    for (int d = 0; d < 3; d++) {
                        a[d] += EDGE_VERTEX[t[0]][d];
                        b[d] += EDGE_VERTEX[t[1]][d];
                        c[d] += EDGE_VERTEX[t[2]][d];
                        a[d] *= sp[d];
                        b[d] *= sp[d];
                        c[d] *= sp[d];
                    }
                    /* volume: a . (b x c) ... as (a x b) . c */
                    ab[0] = (a[1] * b[2]) - (b[1] * a[2]);
                    ab[1] = (a[2] * b[0]) - (b[2] * a[0]);
                    ab[2] = (a[0] * b[1]) - (b[0] * a[1]);
                    vol += sign * (ab[0] * c[0] + ab[1] * c[1] + ab[2] * c[2]);
                    /* area: |(a - c) x (b - c)| / 2 */
                    for (int d = 0; d < 3; d++) {
                        a[d] -= c[d];
                        b[d] -= c[d];
                    }
                    ab[0] = (a[1] * b[2]) - (b[1] * a[2]);
                    ab[1] = (a[2] * b[0]) - (b[2] * a[0]);
                    ab[2] = (a[0] * b[1]) - (b[0] * a[1]);
                    area += 0.5 * sqrt(ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2]);
                }
            }
    vol = vol / 6;
    double diam[4] = {NAN, NAN, NAN, NAN};
    if (want[F_D2COL] || want[F_D2ROW] || want[F_D2SLICE] || want[F_D3]) {
        const qr_status ds = mesh_diameters(verts, nv, diam);
        if (ds != QR_OK) {
            free(verts), free(m);
            return ds;
        }
    }
    free(verts);

    /* ---- PCA of the voxel centres (mm), covariance C = X^T X / Np of centred coordinates ---- */
    double *xyz = malloc(sizeof *xyz * (size_t)np * 3);
    if (!xyz) {
        free(m);
        return qr_fail(QR_ERR_NOMEM, "out of memory (shape)");
    }
    int64_t k = 0;
    for (int64_t z = 0; z < pz; z++)
        for (int64_t y = 0; y < py; y++)
            for (int64_t x = 0; x < px; x++)
                if (m[(z * py + y) * px + x]) {
                    xyz[3 * k] = (double)z * sp[0];
                    xyz[3 * k + 1] = (double)y * sp[1];
                    xyz[3 * k + 2] = (double)x * sp[2];
                    k++;
                }
    free(m);
    double *col = malloc(sizeof *col * (size_t)np);
    if (!col) {
        free(xyz);
        return qr_fail(QR_ERR_NOMEM, "out of memory (shape)");
    }
    for (int d = 0; d < 3; d++) {
        for (int64_t i = 0; i < np; i++) col[i] = xyz[3 * i + d];
        sum[d] = rx_np_mean(col, np);
    }
    free(col);
    double rs = sqrt((double)np), cov[9] = {0};
    for (int64_t i = 0; i < np; i++) {
        double c[3];
        for (int d = 0; d < 3; d++) c[d] = (xyz[3 * i + d] - sum[d]) / rs;
        for (int r = 0; r < 3; r++)
            for (int s = 0; s < 3; s++) cov[r * 3 + s] += c[r] * c[s];
    }
    free(xyz);
    double ev[3];
    rx_eigenvalues_sym3(cov, ev);
    for (int d = 0; d < 3; d++)
        if (ev[d] < 0 && ev[d] > -1e-10) ev[d] = 0; /* machine-precision negatives of flat ROIs */
    /* keep ascending order after the rounding */
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2 - a; b++)
            if (ev[b] > ev[b + 1]) {
                double t = ev[b];
                ev[b] = ev[b + 1];
                ev[b + 1] = t;
            }

    /* 1. MeshVolume V, 2. VoxelVolume N_v V_voxel, 3. SurfaceArea A, 4. SurfaceVolumeRatio A/V */
    vals[F_MESHVOL] = vol;
    vals[F_VOXVOL] = (double)np * (sp[0] * sp[2] * sp[1]);
    vals[F_SURF] = area;
    vals[F_SVR] = area / vol;
    /* 5. Sphericity = (36 pi V^2)^(1/3) / A; deprecated: Compactness1 = V / sqrt(pi A^3),
     * Compactness2 = 36 pi V^2 / A^3, SphericalDisproportion = A / (36 pi V^2)^(1/3) */
    double pi = 3.141592653589793;
    vals[F_SPHER] = pow(36 * pi * pow(vol, 2.0), 1.0 / 3.0) / area;
    vals[F_COMPACT1] = vol / (pow(area, 3.0 / 2.0) * sqrt(pi));
    vals[F_COMPACT2] = (36.0 * pi) * pow(vol, 2.0) / pow(area, 3.0);
    vals[F_SPHDISP] = area / pow(36 * pi * pow(vol, 2.0), 1.0 / 3.0);
    /* 9.-12. diameters */
    vals[F_D3] = diam[3];
    vals[F_D2SLICE] = diam[0];
    vals[F_D2COL] = diam[1];
    vals[F_D2ROW] = diam[2];
    /* 13.-17. axis lengths 4 sqrt(lambda), Elongation sqrt(minor/major), Flatness sqrt(least/major) */
    vals[F_MAJOR] = ev[2] < 0 ? NAN : sqrt(ev[2]) * 4;
    vals[F_MINOR] = ev[1] < 0 ? NAN : sqrt(ev[1]) * 4;
    vals[F_LEAST] = ev[0] < 0 ? NAN : sqrt(ev[0]) * 4;
    vals[F_ELONG] = (ev[1] < 0 || ev[2] < 0) ? NAN : sqrt(ev[1] / ev[2]);
    vals[F_FLAT] = (ev[0] < 0 || ev[2] < 0) ? NAN : sqrt(ev[0] / ev[2]);
    return QR_OK;
}
