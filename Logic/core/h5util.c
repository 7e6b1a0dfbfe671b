/* h5util.c - single-valued HDF5 attributes (h5util.h). */
#include "h5util.h"

#include <stdio.h>
#include <stdlib.h>

/* Open attribute `name` when it exists and holds exactly one value; -1 otherwise (*why says). */
static hid_t open_single(hid_t obj, const char *name, int *why) {
    *why = QR_H5_MISSING;
    if (H5Aexists(obj, name) <= 0) return -1;
    *why = QR_H5_BAD;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t sp = H5Aget_space(a);
    const hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (sp >= 0) H5Sclose(sp);
    if (n != 1) {
        H5Aclose(a);
        return -1;
    }
    return a;
}

int qr_h5_attr_scalar(hid_t obj, const char *name, hid_t mem_type, void *v) {
    int why;
    hid_t a = open_single(obj, name, &why);
    if (a < 0) return why;
    const int ok = H5Aread(a, mem_type, v) >= 0;
    H5Aclose(a);
    return ok ? QR_H5_OK : QR_H5_BAD;
}

int qr_h5_attr_string(hid_t obj, const char *name, char *out, size_t n) {
    out[0] = 0;
    int why;
    hid_t a = open_single(obj, name, &why);
    if (a < 0) return why;
    hid_t t = H5Aget_type(a);
    int ok = 0;
    if (t >= 0 && H5Tget_class(t) == H5T_STRING) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_cset(mt, H5Tget_cset(t));
        if (H5Tis_variable_str(t) > 0) {
            char *s = NULL;
            H5Tset_size(mt, H5T_VARIABLE);
            if (H5Aread(a, mt, &s) >= 0 && s) {
                snprintf(out, n, "%s", s);
                H5free_memory(s);
                ok = 1;
            }
        } else {
            const size_t sz = H5Tget_size(t);
            char *s = calloc(1, sz + 1);
            H5Tset_size(mt, sz + 1); /* room for the terminator: a name filling its slot stays whole */
            if (s && H5Aread(a, mt, s) >= 0) {
                snprintf(out, n, "%s", s);
                ok = 1;
            }
            free(s);
        }
        H5Tclose(mt);
    }
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    return ok ? QR_H5_OK : QR_H5_BAD;
}
