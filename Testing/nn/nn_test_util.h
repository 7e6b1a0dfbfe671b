/*
 * nn_test_util.h - helpers shared by the engine's tests: reading datasets of a PyTorch state
 * file (HDF5), comparing tensors, random tensors.
 */
#ifndef QR_NN_TEST_UTIL_H
#define QR_NN_TEST_UTIL_H

#include <stdint.h>

#include "core/rng.h"
#include "nn/nn.h"
#include "nn/nn_backend.h"

/* Read a float32 (or convertible) dataset at `path` of file `file`; returns a malloc'd array and
 * its element count (NULL if missing). dims/ndim optional. */
float *tu_read_f32(const char *file, const char *path, int64_t *count, int64_t *dims, int *ndim);
int32_t *tu_read_i32(const char *file, const char *path, int64_t *count);
int tu_exists(const char *file, const char *path);
/* String or numeric attribute of an object (file root "/" or a group). */
int tu_attr_str(const char *file, const char *obj, const char *name, char *out, int outlen);
double tu_attr_num(const char *file, const char *obj, const char *name, double dflt);

/* Scale-relative error: max |a - b| / max(max |b|, floor). */
double tu_rel_err(const float *a, const float *b, int64_t n, double floor);
/* Element-wise check |a - b| <= tol + eps |b| (llm.c/ggml style); returns the worst ratio
 * |a - b| / (tol + eps |b|) (<= 1 passes) and its index. */
double tu_close(const float *a, const float *b, int64_t n, double tol, double eps, int64_t *worst);

void tu_fill_normal(qr_rng *r, float *x, int64_t n, float scale);

/* A convolution test case: batch n, cin -> cout channels, input d x h x w, cubic kernel k,
 * stride s, padding p; epi: the epilogue tested (0 none, 1 bias, 2 scale + shift + residual +
 * ReLU). tu_conv gives its geometry (output size derived). */
typedef struct tu_conv_case {
    int n, cin, cout, d, h, w, k, s, p;
    int epi;
} tu_conv_case;
qr_nn_conv tu_conv(const tu_conv_case *c);

#endif
