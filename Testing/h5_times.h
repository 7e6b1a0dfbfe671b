/*
 * h5_times.h - for tests: the number of objects in an HDF5 file whose headers carry access,
 * change or creation times. qsmrim writes none (core/h5util.h), so a file written twice with the
 * same content has the same bytes; libhdf5 stamps them unless told not to.
 */
#ifndef QSMRIM_TEST_H5_TIMES_H
#define QSMRIM_TEST_H5_TIMES_H

#include <hdf5.h>

#if H5_VERSION_GE(1, 12, 0)
typedef H5O_info2_t h5_times_info;
#define H5_TIMES_VISIT H5Ovisit3
#else
typedef H5O_info_t h5_times_info;
#define H5_TIMES_VISIT H5Ovisit2
#endif

static herr_t h5_times_visit(hid_t obj, const char *name, const h5_times_info *info, void *user) {
    (void)obj;
    (void)name;
    if (info->atime || info->mtime || info->ctime || info->btime) ++*(int *)user;
    return 0;
}

/* Objects with times (the root group included), or -1 when the file cannot be read. */
static inline int h5_timed_objects(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return -1;
    int n = 0;
    herr_t e = H5_TIMES_VISIT(f, H5_INDEX_NAME, H5_ITER_NATIVE, h5_times_visit, &n, H5O_INFO_TIME);
    H5Fclose(f);
    return e < 0 ? -1 : n;
}

#endif
