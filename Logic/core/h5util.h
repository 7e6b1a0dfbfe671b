/*
 * h5util.h - HDF5 files qsmrim writes and reads back, made safe against damage.
 *
 * Single-valued attributes: H5Aread writes the whole attribute, however many values it holds,
 * into the memory it is given: an attribute that a damaged or foreign file stores as an array
 * would overrun a buffer meant for one value. These readers check the attribute's dataspace first.
 *
 * Sealed files: libhdf5 trusts its own on-disk structures; a model file with a few bytes flipped
 * (a bad copy, a broken download) can make it read outside its buffers (seen with 1.10.8's global
 * heap while reading variable-length strings). Model and cache files qsmrim writes therefore start
 * with a 512-byte HDF5 user block (ignored by every HDF5 reader, h5py included) holding a text
 * seal with the size and the CRC-32 (zlib) of everything after it:
 *     "QSMRIM-HDF5-SEAL 1\nsize <bytes>\ncrc32 <8 hex digits>\n", then zero bytes
 * Readers check the seal before libhdf5 sees the file. A file without a seal (written by other
 * tools, or by qsmrim before seals) is read as before.
 */
#ifndef QR_H5UTIL_H
#define QR_H5UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { QR_H5_OK = 0, QR_H5_MISSING = -1, QR_H5_BAD = -2 };

/* HDF5's error printing off while qsmrim works with a file (the library never prints), restored by
 * qr_h5_quiet_end. With `reading` set, a failure inside libhdf5 for want of memory (its error
 * stack names a resource error) is noted (qr_note_out_of_memory), so the caller's message about
 * the file says "out of memory" instead of calling the file damaged. */
typedef struct qr_h5_quiet {
    H5E_auto2_t func;
    void *data;
} qr_h5_quiet;
qr_h5_quiet qr_h5_quiet_begin(int reading);
void qr_h5_quiet_end(qr_h5_quiet q);
/* A block reading HDF5 quietly, shaped like libhdf5's H5E_BEGIN_TRY { ... } H5E_END_TRY (no
 * return or goto out of it). */
#define QR_H5_READ_BEGIN { const qr_h5_quiet qr_h5_quiet_ = qr_h5_quiet_begin(1);
#define QR_H5_READ_END qr_h5_quiet_end(qr_h5_quiet_); }

/* For programs, not for the library: libhdf5 closes the files still open when the process exits,
 * and a file whose close failed (a write past a file-size limit, a full disk) makes that clean-up
 * crash (libhdf5 1.10: H5F__close_cb). Called before any other HDF5 call, it leaves the clean-up
 * out; every file qsmrim writes is closed, or abandoned and removed, before it exits. */
void qr_h5_skip_exit_cleanup(void);

/* One value of attribute `name` of `obj` as `mem_type` (e.g. H5T_NATIVE_INT64) into `v`.
 * QR_H5_MISSING when absent; QR_H5_BAD when it holds other than exactly one value or cannot be
 * converted. */
int qr_h5_attr_scalar(hid_t obj, const char *name, hid_t mem_type, void *v);
/* Exactly `n` doubles of attribute `name` (QR_H5_MISSING, QR_H5_BAD as above). */
int qr_h5_attr_doubles(hid_t obj, const char *name, double *v, int n);
/* Write attribute `name` as `n` little-endian doubles: 0, or -1 on failure. */
int qr_h5_attr_write_doubles(hid_t obj, const char *name, const double *v, int n);
/* Dataset `name` of `n` (>= 1) little-endian unsigned 64-bit values: 0, or -1 on failure. */
int qr_h5_write_u64s(hid_t loc, const char *name, const uint64_t *v, int64_t n);
/* The one-dimensional 64-bit integer dataset `name` of `loc` into a new array (*out, *n; free()).
 * QR_H5_MISSING (*n = 0) when absent, QR_H5_BAD when it is not such a dataset or cannot be read. */
int qr_h5_read_u64s(hid_t loc, const char *name, uint64_t **out, int64_t *n);

/* A model file's `voxel_size_mm` (three voxel sizes in mm, each 1e-3..1e3) into v; 0 0 0 when
 * absent. QR_ERR_MODEL naming `path` when it holds anything else. */
qr_status qr_h5_read_voxel_size(hid_t obj, const char *path, double v[3]);

/* One string (fixed or variable length) into out[0..n), truncated if longer; out is "" unless
 * QR_H5_OK. */
int qr_h5_attr_string(hid_t obj, const char *name, char *out, size_t n);

#define QR_H5_SEAL_BYTES 512

/* H5Fopen(path, read-only), refused (-1, out of memory noted: qr_note_out_of_memory) when less than
 * QR_H5_OPEN_ROOM of memory is left: libhdf5 1.10 crashes when an allocation fails while it sets
 * up a file (H5AC_create). The caller reports the failure as it reports any other. */
#define QR_H5_OPEN_ROOM ((size_t)16 << 20)
hid_t qr_h5_open_readonly(const char *path);
/* H5Fcreate(path, H5F_ACC_TRUNC), refused as qr_h5_open_readonly is when memory is short. */
hid_t qr_h5_create(const char *path);
/* qr_h5_create with room for the seal; close it, then qr_h5_seal(path). */
hid_t qr_h5_create_sealable(const char *path);
/* H5Dcreate2 and H5Gcreate2 without the creation and change times HDF5 otherwise stamps in an
 * object's header (datasets with the default file format of HDF5 1.10; groups too with newer
 * object-header formats, as is the files' root group, which the two calls above leave unstamped),
 * so the same content gives the same bytes: a model trained twice differs only in its `date`
 * attribute. lcpl: H5P_DEFAULT or a link creation list. */
hid_t qr_h5_dataset_create(hid_t loc, const char *name, hid_t type, hid_t space, hid_t lcpl);
hid_t qr_h5_group_create(hid_t loc, const char *name);

/* Write the seal of a closed file created by qr_h5_create_sealable, or write it again after an
 * edit (HDF5 keeps the user block of a file opened read-write). QR_ERR_IO for a file whose first
 * 512 bytes are neither empty nor a seal. */
qr_status qr_h5_seal(const char *path);

/* Check the seal of `path` before opening it with libhdf5. QR_OK with *sealed = 1 when the seal
 * matches, *sealed = 0 for a file without one; QR_ERR_FORMAT naming the file when the size or the
 * checksum differ (damaged, or changed by another tool after qsmrim wrote it); QR_ERR_IO when it
 * cannot be read. `sealed` may be NULL. */
qr_status qr_h5_check_seal(const char *path, int *sealed);
/* The end of writing the temporary file `tmp` that becomes `path` (a `what`: "model file", ...):
 * written > 0: sealed, QR_OK; otherwise, or when sealing fails, `tmp` is removed and the error
 * names `path`: out of memory when written < 0 (the writer's own allocation failed) or sealing
 * ran out (it reads the file through a buffer), else a write that failed (disk full?). */
qr_status qr_h5_seal_written(const char *tmp, int written, const char *path, const char *what);

#ifdef __cplusplus
}
#endif
#endif
