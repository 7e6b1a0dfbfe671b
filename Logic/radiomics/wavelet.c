/*
 * wavelet.c - PyRadiomics' "Wavelet" image type: the undecimated (stationary) wavelet transform of
 * imageoperations._swt3, computed only on the ROI bounding box plus the margin that makes the result
 * identical to transforming the whole volume.
 *
 * What PyRadiomics does (imageoperations.getWaveletImage / _swt3, PyWavelets' swtn):
 *   1. every odd dimension of the (z, y, x) array gets one extra sample, numpy.pad(..., 'wrap'):
 *      the padded sample of a line is the line's first sample. P = N + (N odd).
 *   2. per level, pywt.swtn(data, wavelet, level=1, axes=(2, 1, 0)): along x, then y, then z each
 *      line of length P is filtered with the low-pass (a) and high-pass (d) decomposition filter f of
 *      length F, periodically:
 *          out[o] = sum_{k=0}^{F-1} f[k] * in[(o + F/2 - k) mod P]            (1)
 *      giving 2^3 sub-bands named by axis (a -> L, d -> H): aad -> "LLH" = low x, low y, high z.
 *      Level t+1 transforms the approximation "aaa" of level t again with the same filter.
 *   3. each output is cropped back to N samples per axis.
 *
 * Margin. By (1) an output at o reads inputs o - (F/2 - 1) ... o + F/2. For a box [lo, hi] after T
 * levels the input needed is [lo - T (F/2 - 1), hi + T F/2] along each axis - for coif1 (F = 6) and
 * one level: 2 voxels before and 3 after the box. Indices outside [0, P) wrap around modulo P, and
 * the padded index N of an odd axis reads sample 0: a lesion touching the volume edge reads voxels
 * from the opposite edge, as the whole-volume transform does. Each output is a fixed function of
 * these inputs, so the box transform equals the whole-volume transform restricted to the box.
 *
 * Bit-exactness. PyWavelets sums the F products of (1) in a fixed order (convolution.template.c,
 * downsampling_convolution_periodization with step 1): k = 0..F-1, except for outputs with
 * o + F/2 >= P, which first take k = r, r-1, ..., 0 (r = o + F/2 - P) and then k = r+1 .. F-1; for
 * P < F its general loop is followed literally. A float32 image is transformed in float32 with
 * PyWavelets' single-precision filter tables, a float64 one in float64. Contracting a*b + c into a
 * fused multiply-add would change the rounding, so this file is compiled without it.
 */
#pragma GCC optimize("fp-contract=off")
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rx_internal.h"

const rx_wavelet_filter *rx_wavelet_find(const char *name) {
    for (const rx_wavelet_filter *w = rx_wavelet_filters; w->name; w++)
        if (!strcmp(w->name, name)) return w;
    return NULL;
}

int rx_swt_count(const rx_swt_request *q) { return q->level * ((1 << q->naxes) - 1) + 1; }

void rx_swt_name(const rx_swt_request *q, int n, char *name, int *level) {
    int per = (1 << q->naxes) - 1;
    if (n >= q->level * per) { /* the approximation, last */
        for (int a = 0; a < q->naxes; a++) name[a] = 'L';
        name[q->naxes] = '\0';
        *level = q->level;
        return;
    }
    int band = n % per + 1; /* 1..2^naxes-1 in itertools.product order, first axis = top bit */
    for (int a = 0; a < q->naxes; a++) name[a] = (band >> (q->naxes - 1 - a)) & 1 ? 'H' : 'L';
    name[q->naxes] = '\0';
    *level = n / per + 1;
}

/* ---- one line, PyWavelets' periodization convolution (step 1), literal form for any P ------ */
#define DEFINE_LINE_FULL(NAME, T)                                                                   \
    static void NAME(const T *in, int64_t n, const T *f, int64_t fl, T *out) {                     \
        int64_t i = fl / 2, o = 0;                                                                  \
        for (; i < fl && i < n; i++, o++) {                                                         \
            T sum = 0;                                                                              \
            int64_t j;                                                                              \
            for (j = 0; j <= i; j++) sum += f[j] * in[i - j];                                       \
            while (j < fl)                                                                          \
                for (int64_t k = 0; k < n && j < fl; k++, j++) sum += f[j] * in[n - 1 - k];         \
            out[o] = sum;                                                                           \
        }                                                                                           \
        for (; i < n; i++, o++) {                                                                   \
            T sum = 0;                                                                              \
            for (int64_t j = 0; j < fl; j++) sum += in[i - j] * f[j];                               \
            out[o] = sum;                                                                           \
        }                                                                                           \
        for (; i < fl && i < n + fl / 2; i++, o++) {                                                \
            T sum = 0;                                                                              \
            int64_t j = 0;                                                                          \
            while (i - j >= n)                                                                      \
                for (int64_t k = 0; k < n && i - j >= n; k++, j++) sum += f[i - n - j] * in[k];     \
            for (; j <= i; j++) sum += f[j] * in[i - j];                                            \
            while (j < fl)                                                                          \
                for (int64_t k = 0; k < n && j < fl; k++, j++) sum += f[j] * in[n - 1 - k];         \
            out[o] = sum;                                                                           \
        }                                                                                           \
        for (; i < n + fl / 2; i++, o++) {                                                          \
            T sum = 0;                                                                              \
            int64_t j = 0;                                                                          \
            while (i - j >= n)                                                                      \
                for (int64_t k = 0; k < n && i - j >= n; k++, j++) sum += f[i - n - j] * in[k];     \
            for (; j < fl; j++) sum += f[j] * in[i - j];                                            \
            out[o] = sum;                                                                           \
        }                                                                                           \
    }
DEFINE_LINE_FULL(line_full_f, float)
DEFINE_LINE_FULL(line_full_d, double)

/* ---- one window of a line: outputs at global positions g0 .. g0+nout-1 (mod p), from inputs at
 * g0 - (F/2-1) .. g0+nout-1+F/2 (in[0] is position g0 - (F/2-1)). Requires p >= F.
 * Outputs away from the end of the period take the taps in natural order k = 0..F-1; they are
 * computed tap by tap across outputs (the same additions, in the same order, per output, and the
 * loop over outputs vectorises). Outputs with o + F/2 >= p take PyWavelets' edge order. ---- */
#define DEFINE_LINE_WINDOW(NAME, T)                                                                 \
    static void NAME(const T *in, int64_t nout, int64_t g0, int64_t p, const T *f, int fl, T *out) { \
        int64_t o0 = ((g0 % p) + p) % p; /* position of the first output modulo p */                \
        for (int64_t t = 0; t < nout;) {                                                            \
            int64_t o = (o0 + t) % p;                                                               \
            if (o + fl / 2 < p) { /* a run of natural-order outputs up to the edge region */        \
                int64_t len = p - fl / 2 - o;                                                       \
                if (len > nout - t) len = nout - t;                                                 \
                T *y = out + t;                                                                     \
                const T *x = in + t + fl - 1;                                                       \
                for (int64_t u = 0; u < len; u++) y[u] = 0;                                         \
                for (int k = 0; k < fl; k++) {                                                      \
                    const T fk = f[k], *xk = x - k;                                                 \
                    for (int64_t u = 0; u < len; u++) y[u] += xk[u] * fk;                           \
                }                                                                                   \
                t += len;                                                                           \
            } else {                                                                                \
                const T *x = in + t + fl - 1; /* x[-k] is the input multiplied by f[k] */           \
                T sum = 0;                                                                          \
                int64_t r = o + fl / 2 - p;                                                         \
                for (int64_t k = r; k >= 0; k--) sum += f[k] * x[-k];                               \
                for (int64_t k = r + 1; k < fl; k++) sum += f[k] * x[-k];                           \
                out[t] = sum;                                                                       \
                t++;                                                                                \
            }                                                                                       \
        }                                                                                           \
    }
DEFINE_LINE_WINDOW(line_window_f, float)
DEFINE_LINE_WINDOW(line_window_d, double)

/* A block of the transform: values over a box of global positions (per axis: first position and
 * length). Full-mode axes (p < F) always cover [0, p). */
typedef struct block {
    int64_t g0[3], n[3];
    void *v; /* float or double, x fastest */
} block;

static size_t block_nvox(const block *b) { return (size_t)(b->n[0] * b->n[1] * b->n[2]); }

/* Filter block `in` along axis `ax` into lo and hi blocks. */
static qr_status filter_axis(const block *in, int ax, int64_t p, int full, const rx_wavelet_filter *w, int single,
                             block *lo, block *hi) {
    int fl = w->len, ml = fl / 2 - 1, mr = fl / 2;
    size_t es = single ? sizeof(float) : sizeof(double);
    *lo = *in;
    *hi = *in;
    if (!full) {
        lo->g0[ax] = hi->g0[ax] = in->g0[ax] + ml;
        lo->n[ax] = hi->n[ax] = in->n[ax] - ml - mr;
    }
    lo->v = malloc(block_nvox(lo) * es);
    hi->v = malloc(block_nvox(hi) * es);
    int64_t nin = in->n[ax], nout = lo->n[ax];
    void *line = malloc((size_t)nin * es), *ol = malloc((size_t)nout * es), *oh = malloc((size_t)nout * es);
    if (!lo->v || !hi->v || !line || !ol || !oh) {
        free(lo->v), free(hi->v), free(line), free(ol), free(oh);
        lo->v = hi->v = NULL;
        return qr_fail(QR_ERR_NOMEM, "out of memory in the wavelet transform");
    }
    /* strides of the three axes in the input and output blocks */
    int64_t sin[3] = {in->n[1] * in->n[2], in->n[2], 1}, sout[3] = {lo->n[1] * lo->n[2], lo->n[2], 1};
    int a1 = ax == 0 ? 1 : 0, a2 = ax == 2 ? 1 : 2; /* the two other axes */
    for (int64_t u = 0; u < in->n[a1]; u++)
        for (int64_t v = 0; v < in->n[a2]; v++) {
            int64_t bi = u * sin[a1] + v * sin[a2], bo = u * sout[a1] + v * sout[a2];
            if (single) {
                const float *src = (const float *)in->v;
                float *l = line, *dl = lo->v, *dh = hi->v, *rl = ol, *rh = oh;
                for (int64_t t = 0; t < nin; t++) l[t] = src[bi + t * sin[ax]];
                if (full) {
                    line_full_f(l, p, w->lo_f, fl, rl);
                    line_full_f(l, p, w->hi_f, fl, rh);
                } else {
                    line_window_f(l, nout, lo->g0[ax], p, w->lo_f, fl, rl);
                    line_window_f(l, nout, lo->g0[ax], p, w->hi_f, fl, rh);
                }
                for (int64_t t = 0; t < nout; t++) dl[bo + t * sout[ax]] = rl[t], dh[bo + t * sout[ax]] = rh[t];
            } else {
                const double *src = (const double *)in->v;
                double *l = line, *dl = lo->v, *dh = hi->v, *rl = ol, *rh = oh;
                for (int64_t t = 0; t < nin; t++) l[t] = src[bi + t * sin[ax]];
                if (full) {
                    line_full_d(l, p, w->lo, fl, rl);
                    line_full_d(l, p, w->hi, fl, rh);
                } else {
                    line_window_d(l, nout, lo->g0[ax], p, w->lo, fl, rl);
                    line_window_d(l, nout, lo->g0[ax], p, w->hi, fl, rh);
                }
                for (int64_t t = 0; t < nout; t++) dl[bo + t * sout[ax]] = rl[t], dh[bo + t * sout[ax]] = rh[t];
            }
        }
    free(line), free(ol), free(oh);
    return QR_OK;
}

/* Copy the output box [lo, hi] (working coordinates) of block b into dst (double). */
static void extract_box(const block *b, const rx_swt_request *q, int single, double *dst) {
    int64_t nz = q->hi[0] - q->lo[0] + 1, ny = q->hi[1] - q->lo[1] + 1, nx = q->hi[2] - q->lo[2] + 1;
    int64_t off[3];
    for (int d = 0; d < 3; d++) off[d] = q->lo[d] - b->g0[d]; /* full-mode axes: g0 = 0 */
    for (int64_t z = 0; z < nz; z++)
        for (int64_t y = 0; y < ny; y++) {
            int64_t src = ((z + off[0]) * b->n[1] + (y + off[1])) * b->n[2] + off[2];
            double *d = dst + (z * ny + y) * nx;
            if (single)
                for (int64_t x = 0; x < nx; x++) d[x] = ((const float *)b->v)[src + x];
            else
                for (int64_t x = 0; x < nx; x++) d[x] = ((const double *)b->v)[src + x];
        }
}

qr_status rx_swt(const rx_swt_request *q, rx_voxel_fn get, const void *ctx, double **out, int64_t *nonfinite) {
    const rx_wavelet_filter *w = q->w;
    int fl = w->len, ml = fl / 2 - 1, mr = fl / 2;
    int levels = q->start_level + q->level;
    int single = q->single;
    size_t es = single ? sizeof(float) : sizeof(double);
    int64_t p[3], n[3];
    int full[3], transformed[3] = {0, 0, 0};
    for (int d = 0; d < 3; d++) {
        n[d] = q->dims[d];
        p[d] = n[d] + (n[d] % 2);
    }
    for (int a = 0; a < q->naxes; a++) transformed[q->axes[a]] = 1;
    /* input block of level 0: per axis the box widened by the margins of all levels */
    block cur;
    for (int d = 0; d < 3; d++) {
        full[d] = transformed[d] && p[d] < fl;
        if (full[d]) {
            cur.g0[d] = 0;
            cur.n[d] = p[d];
        } else if (transformed[d]) {
            cur.g0[d] = q->lo[d] - (int64_t)levels * ml;
            cur.n[d] = q->hi[d] - q->lo[d] + 1 + (int64_t)levels * (ml + mr);
        } else { /* force2D: the out-of-plane axis is not transformed, only the box is needed */
            cur.g0[d] = q->lo[d];
            cur.n[d] = q->hi[d] - q->lo[d] + 1;
        }
    }
    cur.v = malloc(block_nvox(&cur) * es);
    if (!cur.v) return qr_fail(QR_ERR_NOMEM, "out of memory in the wavelet transform");
    int64_t bad = 0;
    {
        int64_t idx = 0;
        for (int64_t z = 0; z < cur.n[0]; z++) {
            int64_t gz = ((cur.g0[0] + z) % p[0] + p[0]) % p[0];
            if (gz == n[0]) gz = 0; /* numpy.pad 'wrap' of an odd axis */
            for (int64_t y = 0; y < cur.n[1]; y++) {
                int64_t gy = ((cur.g0[1] + y) % p[1] + p[1]) % p[1];
                if (gy == n[1]) gy = 0;
                for (int64_t x = 0; x < cur.n[2]; x++, idx++) {
                    int64_t gx = ((cur.g0[2] + x) % p[2] + p[2]) % p[2];
                    if (gx == n[2]) gx = 0;
                    double v = get(ctx, gz, gy, gx);
                    if (!isfinite(v)) bad++;
                    if (single) ((float *)cur.v)[idx] = (float)v;
                    else ((double *)cur.v)[idx] = v;
                }
            }
        }
    }
    *nonfinite = bad;
    int nsub = 1 << q->naxes, per = nsub - 1;
    block *bands = malloc(sizeof(block) * (size_t)nsub * 2);
    if (!bands) {
        free(cur.v);
        return qr_fail(QR_ERR_NOMEM, "out of memory in the wavelet transform");
    }
    qr_status st = QR_OK;
    for (int t = 0; t < levels && st == QR_OK; t++) {
        /* sub-band s after all axes: bit (naxes-1-a) set = high pass along axes[a] */
        int nb = 1;
        bands[0] = cur;
        cur.v = NULL; /* owned by bands[0] now (freed as it is filtered) */
        for (int a = 0; a < q->naxes && st == QR_OK; a++) {
            int ax = q->axes[a];
            block *next = bands + nsub; /* scratch half */
            for (int b = 0; b < nb && st == QR_OK; b++) {
                st = filter_axis(&bands[b], ax, p[ax], full[ax], w, single, &next[2 * b], &next[2 * b + 1]);
                free(bands[b].v);
                bands[b].v = NULL;
                if (st != QR_OK) {
                    for (int c = b + 1; c < nb; c++) free(bands[c].v);
                    for (int c = 0; c < 2 * b; c++) free(next[c].v);
                }
            }
            if (st != QR_OK) break;
            nb *= 2;
            memcpy(bands, next, sizeof(block) * (size_t)nb);
        }
        if (st != QR_OK) break;
        /* details of a reported level, then keep the approximation (band 0) as next input */
        if (t >= q->start_level) {
            int lev = t - q->start_level;
            for (int b = 1; b < nsub; b++) extract_box(&bands[b], q, single, out[lev * per + (b - 1)]);
        }
        for (int b = 1; b < nsub; b++) free(bands[b].v);
        cur = bands[0];
    }
    if (st == QR_OK) extract_box(&cur, q, single, out[q->level * per]);
    free(cur.v);
    free(bands);
    return st;
}
