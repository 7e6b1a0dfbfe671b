/* nn_test_util.c - see nn_test_util.h */
#include "nn_test_util.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static hid_t open_ro(const char *file) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
}

int tu_exists(const char *file, const char *path) {
    hid_t f = open_ro(file);
    if (f < 0) return 0;
    int ok = H5Lexists(f, path, H5P_DEFAULT) > 0;
    H5Fclose(f);
    return ok;
}

static void *read_any(const char *file, const char *path, hid_t type, size_t esize, int64_t *count, int64_t *dims,
                      int *ndim) {
    hid_t f = open_ro(file);
    if (f < 0) return NULL;
    void *out = NULL;
    if (H5Lexists(f, path, H5P_DEFAULT) > 0) {
        hid_t ds = H5Dopen2(f, path, H5P_DEFAULT);
        hid_t sp = H5Dget_space(ds);
        int nd = H5Sget_simple_extent_ndims(sp);
        hsize_t d[8] = {0};
        if (nd > 0) H5Sget_simple_extent_dims(sp, d, NULL);
        int64_t n = 1;
        for (int i = 0; i < nd; i++) {
            n *= (int64_t)d[i];
            if (dims) dims[i] = (int64_t)d[i];
        }
        if (ndim) *ndim = nd;
        out = malloc(esize * (size_t)(n > 0 ? n : 1));
        if (out && H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
            free(out);
            out = NULL;
        }
        if (count) *count = n;
        H5Sclose(sp);
        H5Dclose(ds);
    }
    H5Fclose(f);
    return out;
}

float *tu_read_f32(const char *file, const char *path, int64_t *count, int64_t *dims, int *ndim) {
    return read_any(file, path, H5T_NATIVE_FLOAT, sizeof(float), count, dims, ndim);
}

int32_t *tu_read_i32(const char *file, const char *path, int64_t *count) {
    return read_any(file, path, H5T_NATIVE_INT32, sizeof(int32_t), count, NULL, NULL);
}

int tu_attr_str(const char *file, const char *obj, const char *name, char *out, int outlen) {
    hid_t f = open_ro(file);
    if (f < 0) return 0;
    int ok = 0;
    hid_t o = H5Oopen(f, obj, H5P_DEFAULT);
    if (o >= 0 && H5Aexists(o, name) > 0) {
        hid_t a = H5Aopen(o, name, H5P_DEFAULT);
        hid_t t = H5Aget_type(a);
        if (H5Tis_variable_str(t) > 0) {
            char *s = NULL;
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(t));
            if (H5Aread(a, mt, &s) >= 0 && s) {
                snprintf(out, (size_t)outlen, "%s", s);
                H5free_memory(s);
                ok = 1;
            }
            H5Tclose(mt);
        } else {
            size_t sz = H5Tget_size(t);
            char *s = calloc(1, sz + 1);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, sz + 1);
            H5Tset_cset(mt, H5Tget_cset(t));
            if (H5Aread(a, mt, s) >= 0) {
                snprintf(out, (size_t)outlen, "%s", s);
                ok = 1;
            }
            H5Tclose(mt);
            free(s);
        }
        H5Tclose(t);
        H5Aclose(a);
    }
    if (o >= 0) H5Oclose(o);
    H5Fclose(f);
    return ok;
}

double tu_attr_num(const char *file, const char *obj, const char *name, double dflt) {
    hid_t f = open_ro(file);
    if (f < 0) return dflt;
    double v = dflt;
    hid_t o = H5Oopen(f, obj, H5P_DEFAULT);
    if (o >= 0 && H5Aexists(o, name) > 0) {
        hid_t a = H5Aopen(o, name, H5P_DEFAULT);
        if (H5Aread(a, H5T_NATIVE_DOUBLE, &v) < 0) v = dflt;
        H5Aclose(a);
    }
    if (o >= 0) H5Oclose(o);
    H5Fclose(f);
    return v;
}

double tu_rel_err(const float *a, const float *b, int64_t n, double floor) {
    double md = 0, mb = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= md)) md = d; /* NaN propagates */
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / (mb > floor ? mb : floor);
}

double tu_close(const float *a, const float *b, int64_t n, double tol, double eps, int64_t *worst) {
    double w = 0;
    int64_t wi = 0;
    for (int64_t i = 0; i < n; i++) {
        double r = fabs((double)a[i] - b[i]) / (tol + eps * fabs(b[i]));
        if (!(r <= w)) {
            w = r;
            wi = i;
        }
    }
    if (worst) *worst = wi;
    return w;
}

void tu_fill_normal(qr_rng *r, float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(qr_rng_normal(r) * scale);
}

qr_nn_conv tu_conv(const tu_conv_case *c) {
    qr_nn_conv g = {c->n, c->cin, c->cout, c->d, c->h, c->w, 0, 0, 0, c->k, c->s, c->p};
    g.od = qr_nn_conv_out(c->d, c->k, c->s, c->p, c->p);
    g.oh = qr_nn_conv_out(c->h, c->k, c->s, c->p, c->p);
    g.ow = qr_nn_conv_out(c->w, c->k, c->s, c->p, c->p);
    return g;
}
