/*
 * angles.c - the neighbour directions of PyRadiomics' texture matrices (cmatrices.c:
 * get_angle_count / build_angles), in numpy axis order (dz, dy, dx).
 *
 * For each requested distance d (infinity norm) the offsets are all combinations of
 * {+d_max, ..., -d_max} per axis, enumerated with the first axis changing slowest and each axis
 * running from +d_max down to -d_max. An offset is dropped if it is (0,0,0), moves along the
 * force2D axis, is as large as the bounding box along an axis, or its infinity norm is not a
 * requested distance. Mono-directional sets keep the first half: for d = 1 in 3D these are the 13
 * directions (1,1,1), (1,1,0), ..., (0,0,1); bi-directional sets keep all 26.
 */
#include <stdio.h>
#include <stdlib.h>

#include "rx_internal.h"

int rx_angles(const int64_t size[3], const int *dist, int n_dist, int bidirectional, int force2d_dim, int **out) {
    int na = 0, dmax = 0;
    for (int t = 0; t < n_dist; t++) {
        int d = dist[t];
        if (d > dmax) dmax = d;
        long long na_d = 1, na_dd = 1;
        for (int k = 0; k < 3; k++) {
            if (k == force2d_dim) continue;
            if (d < size[k]) {
                na_d *= 2 * d + 1;
                na_dd *= 2 * d - 1;
            } else {
                na_d *= 2 * (size[k] - 1) + 1;
                na_dd *= 2 * (size[k] - 1) + 1;
            }
        }
        na += (int)(na_d - na_dd);
    }
    if (!bidirectional) na /= 2;
    int *a = malloc(sizeof *a * (size_t)(na > 0 ? na : 1) * 3);
    if (!a) return -1;
    int noff = 2 * dmax + 1, stride[3] = {noff * noff, noff, 1};
    int ai = 0;
    for (long long idx = 0; ai < na && idx < (long long)noff * noff * noff; idx++) {
        int off[3], adist = 0, ok = 1;
        for (int k = 0; k < 3; k++) {
            off[k] = dmax - (int)((idx / stride[k]) % noff);
            if ((k == force2d_dim && off[k] != 0) || off[k] >= size[k] || off[k] <= -size[k]) {
                ok = 0;
                break;
            }
            int ab = off[k] < 0 ? -off[k] : off[k];
            if (ab > adist) adist = ab;
        }
        if (!ok || adist < 1) continue;
        for (int t = 0; t < n_dist; t++)
            if (adist == dist[t]) {
                for (int k = 0; k < 3; k++) a[ai * 3 + k] = off[k];
                ai++;
                break;
            }
    }
    *out = a;
    return ai;
}

qr_status rx_class_angles(const char *cls, const int64_t size[3], const int *dist, int n_dist, int bidirectional,
                          const rx_settings *s, int **angles, int *na) {
    *angles = NULL;
    *na = 0;
    const int f2d = s->force2d ? s->force2d_dim : -1;
    int *a = NULL;
    int n = rx_angles(size, dist, n_dist, bidirectional, f2d, &a);
    if (n < 0) return qr_fail(QR_ERR_NOMEM, "out of memory (%s)", cls);
    if (n == 0) {
        free(a);
        char plane[48] = "";
        if (f2d >= 0) snprintf(plane, sizeof plane, " with force2D on axis %d", f2d);
        return qr_fail(QR_ERR_EMPTY,
                       "%s: no neighbour direction fits the region (bounding box %lld x %lld x %lld voxels%s)", cls,
                       (long long)size[2], (long long)size[1], (long long)size[0], plane);
    }
    *angles = a;
    *na = n;
    return QR_OK;
}
