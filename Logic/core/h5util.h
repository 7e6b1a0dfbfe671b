/*
 * h5util.h - reading single-valued HDF5 attributes safely.
 *
 * H5Aread writes the whole attribute, however many values it holds, into the memory it is
 * given: an attribute that a damaged or foreign file stores as an array would overrun a buffer
 * meant for one value. These readers check the attribute's dataspace first.
 */
#ifndef QR_H5UTIL_H
#define QR_H5UTIL_H

#include <stddef.h>

#include <hdf5.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { QR_H5_OK = 0, QR_H5_MISSING = -1, QR_H5_BAD = -2 };

/* One value of attribute `name` of `obj` as `mem_type` (e.g. H5T_NATIVE_INT64) into `v`.
 * QR_H5_MISSING when absent; QR_H5_BAD when it holds other than exactly one value or cannot be
 * converted. */
int qr_h5_attr_scalar(hid_t obj, const char *name, hid_t mem_type, void *v);

/* One string (fixed or variable length) into out[0..n), truncated if longer; out is "" unless
 * QR_H5_OK. */
int qr_h5_attr_string(hid_t obj, const char *name, char *out, size_t n);

#ifdef __cplusplus
}
#endif
#endif
