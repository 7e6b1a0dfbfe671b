/*
 * binning.c - gray-level discretisation (imageoperations.getBinEdges / binImage) and numpy's
 * percentile, reproduced operation for operation so that every voxel lands in the same bin.
 *
 * Fixed bin width W (binWidth):
 *     lowBound  = min(X) - (min(X) mod W)         (numpy remainder: result has the sign of W)
 *     edges     = numpy.arange(lowBound, max(X) + 2W, W)
 * so X_b = floor(X / W) - floor(min(X) / W) + 1: bins equally spaced from 0, the lowest level 1.
 * Fixed bin count Nb (binCount):
 *     edges     = numpy.histogram(X, Nb)[1] = linspace(min, max, Nb + 1), last edge + 1
 *     (min == max: linspace(min - 0.5, max + 0.5, Nb + 1)); for a float32 array numpy returns
 *     float32 edges.
 * Discretised value: numpy.digitize(X, edges) = i with edges[i-1] <= X < edges[i].
 */
#pragma GCC optimize("fp-contract=off")
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rx_internal.h"

/* numpy's float remainder (npy_divmod): fmod, moved to the sign of the divisor */
static double np_remainder(double a, double b) {
    double mod = fmod(a, b);
    if (b == 0) return mod;
    if (mod != 0) {
        if ((b < 0) != (mod < 0)) mod += b;
    } else {
        mod = copysign(0.0, b);
    }
    return mod;
}

qr_status rx_bin_edges(const double *values, int64_t n, const rx_settings *s, int edges_f32, double **edges_out,
                       int64_t *nedges) {
    double mn = values[0], mx = values[0];
    for (int64_t i = 1; i < n; i++) {
        if (values[i] < mn) mn = values[i];
        if (values[i] > mx) mx = values[i];
    }
    double *e;
    int64_t ne;
    if (s->bin_count > 0) {
        int nb = s->bin_count;
        double first = mn, last = mx;
        if (first == last) first -= 0.5, last += 0.5;
        ne = nb + 1;
        e = malloc(sizeof *e * (size_t)ne);
        if (!e) return qr_fail(QR_ERR_NOMEM, "out of memory (bin edges)");
        double delta = last - first, step = delta / nb;
        for (int64_t i = 0; i < ne; i++) {
            double y = (double)i;
            if (step == 0) y = (y / nb) * delta;
            else y = y * step;
            e[i] = y + first;
        }
        e[ne - 1] = last;
        if (edges_f32) {
            for (int64_t i = 0; i < ne; i++) e[i] = (float)e[i];
            e[ne - 1] = (float)(e[ne - 1] + 1.0);
        } else {
            e[ne - 1] += 1.0;
        }
    } else {
        double w = s->bin_width;
        double low = mn - np_remainder(mn, w), high = mx + 2 * w;
        /* numpy.arange: length ceil((stop - start) / step); values start + i * (x1 - x0) */
        double len = ceil((high - low) / w);
        if (!(len >= 1)) /* the bin width is lost next to values this large */
            return qr_fail(QR_ERR_INVALID_ARG,
                           "binWidth %g cannot divide values in [%g, %g]: they are too large for it (are the values "
                           "in the expected units, or corrupt?)",
                           w, mn, mx);
        if (len > RX_MAX_GRAY_LEVELS)
            return qr_fail(QR_ERR_INVALID_ARG,
                           "binWidth %g gives %.3g gray levels for values in [%g, %g] (at most %g; are the values in "
                           "the expected units, or corrupt?)",
                           w, len, mn, mx, (double)RX_MAX_GRAY_LEVELS);
        ne = (int64_t)len;
        e = malloc(sizeof *e * (size_t)(ne < 2 ? 2 : ne));
        if (!e) return qr_fail(QR_ERR_NOMEM, "out of memory (bin edges)");
        e[0] = low;
        double x1 = low + w, delta = x1 - low;
        if (ne > 1) e[1] = x1;
        for (int64_t i = 2; i < ne; i++) e[i] = low + (double)i * delta;
        if (ne == 1) { /* flat region whose only edge is its value: one bin of width 1 */
            e[1] = e[0] + 0.5;
            e[0] -= 0.5;
            ne = 2;
        }
    }
    *edges_out = e;
    *nedges = ne;
    return QR_OK;
}

int64_t rx_digitize(double x, const double *edges, int64_t nedges) {
    /* number of edges <= x (searchsorted side='right'), by bisection */
    int64_t lo = 0, hi = nedges;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (edges[mid] <= x) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

qr_status rx_bin_image(const rx_image *img, const rx_settings *s, rx_binned *out) {
    memset(out, 0, sizeof *out);
    int64_t nvox = img->size[0] * img->size[1] * img->size[2];
    double *v = malloc(sizeof *v * (size_t)img->np);
    out->gl = calloc((size_t)nvox, sizeof *out->gl);
    if (!v || !out->gl) {
        free(v);
        rx_binned_free(out);
        return qr_fail(QR_ERR_NOMEM, "out of memory (discretisation)");
    }
    int64_t m = 0;
    for (int64_t i = 0; i < nvox; i++)
        if (img->mask[i]) v[m++] = img->values[i];
    double *edges;
    int64_t ne;
    qr_status st = rx_bin_edges(v, m, s, img->values_f32, &edges, &ne);
    free(v);
    if (st != QR_OK) {
        rx_binned_free(out);
        return st;
    }
    /* Bisection per voxel is the reference; for equally spaced edges a direct guess is verified
     * against the actual edges so the result is identical. */
    int ng = 0;
    double e0 = edges[0], de = ne > 1 ? edges[1] - edges[0] : 1;
    for (int64_t i = 0; i < nvox; i++) {
        if (!img->mask[i]) continue;
        double x = img->values[i];
        double guess = floor((x - e0) / de) + 1;
        int64_t k = guess < 0 ? 0 : guess > (double)ne ? ne : (int64_t)guess;
        while (k > 0 && edges[k - 1] > x) k--;
        while (k < ne && edges[k] <= x) k++;
        out->gl[i] = (int32_t)k;
        if (k > ng) ng = (int)k;
    }
    free(edges);
    out->ng = ng;
    out->is_present = calloc((size_t)ng + 1, 1);
    out->present = malloc(sizeof(int) * ((size_t)ng + 1));
    if (!out->is_present || !out->present) {
        rx_binned_free(out);
        return qr_fail(QR_ERR_NOMEM, "out of memory (discretisation)");
    }
    for (int64_t i = 0; i < nvox; i++)
        if (img->mask[i]) out->is_present[out->gl[i]] = 1;
    for (int g = 1; g <= ng; g++)
        if (out->is_present[g]) out->present[out->n_present++] = g;
    return QR_OK;
}

void rx_binned_free(rx_binned *b) {
    free(b->gl);
    free(b->present);
    free(b->is_present);
    memset(b, 0, sizeof *b);
}

double rx_percentile_sorted(const double *a, int64_t n, double q) {
    /* numpy >= 1.22, method 'linear': virtual index (n - 1) * q/100, then _lerp */
    double quantile = q / 100.0;
    double vi = (double)(n - 1) * quantile;
    double prev_f = floor(vi);
    int64_t prev, next;
    if (vi >= (double)(n - 1)) {
        prev = next = n - 1;
    } else if (vi < 0) {
        prev = next = 0;
    } else {
        prev = (int64_t)prev_f;
        next = prev + 1;
    }
    double lo = a[prev], hi = a[next];
    double t = vi - prev_f;
    double d = hi - lo;
    if (t >= 0.5) return hi - d * (1 - t);
    return lo + d * t;
}
