/*
 * feature_cache.h - radiomic features of a subject's lesions, cached in HDF5 so a second training
 * or evaluation run does not compute them again.
 *
 * Key: SHA-256 (hex) of the text
 *     "qsmrim-feature-cache <version>\n" + SHA-256(QSM image) + "\n" + SHA-256(lesion map image) +
 *     "\n" + the radiomic parameter text
 * so any change to the images, the lesions or the settings (or a new qsmrim version) gives a new
 * key. An image file hashes as its bytes; a detached header (.nhdr, .mhd, or a .nrrd / .mha naming
 * a data file) as the SHA-256 of "<header's SHA-256>\n<voxel data file's SHA-256>\n". A DICOM
 * folder hashes as the SHA-256 of its regular files (those whose names do not start with '.'),
 * sorted by name, each contributing its name and the SHA-256 of its contents.
 *
 * File: <cache folder>/<key>.h5, written atomically, readable with h5py:
 *     features      float64 (n, F)   raw feature values (NaN where PyRadiomics refuses the lesion)
 *     lesion_id     int32   (n)
 *     feature_names fixed-length strings (F)
 *     attributes    key, qsm_sha256, lesions_sha256, qsmrim_version
 * A cache file that cannot be read, or whose names or shape do not fit, is a miss (the caller
 * recomputes and overwrites it); it is never an error.
 */
#ifndef QR_FEATURE_CACHE_H
#define QR_FEATURE_CACHE_H

#include <stdint.h>

#include "../core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* SHA-256 of a file's bytes (or of a folder as above), as 64 hex digits + NUL. */
qr_status qr_sha256_path(const char *path, char hex[65]);
/* An image input's hash (above): its file's or folder's, with a detached header's voxel data file. */
qr_status qr_sha256_image(const char *path, char hex[65]);
/* The first 64 bits of a SHA-256 given as hex: how a model file records the QSM images of its
 * training subjects (training_qsm_sha256). */
uint64_t qr_sha256_prefix64(const char hex[65]);
/* SHA-256 of a memory block, as hex. */
void qr_sha256_hex(const void *data, size_t n, char hex[65]);

/* The cache key of a subject's features; qsm_sha / lesions_sha (may be NULL) receive the image
 * hashes (above). */
qr_status qr_feature_cache_key(const char *qsm_path, const char *lesions_path, const char *params_text, char key[65],
                               char qsm_sha[65], char lesions_sha[65]);

typedef struct qr_feature_table {
    int64_t n;          /* lesions */
    int64_t nfeatures;  /* F */
    int32_t *lesion_id; /* n */
    double *values;     /* (n, F) row-major */
} qr_feature_table;

void qr_feature_table_free(qr_feature_table *t);

/* Look up a key. *found = 1 and `out` filled on a hit; *found = 0 on a miss (including an
 * unreadable file or one whose feature names differ from `names`). Fails only on bad arguments. */
qr_status qr_feature_cache_load(const char *dir, const char *key, const char *const *names, int64_t nfeatures,
                                qr_feature_table *out, int *found);

/* Store a table under a key (creating the folder if needed), atomically. */
qr_status qr_feature_cache_store(const char *dir, const char *key, const char *const *names, const qr_feature_table *t,
                                 const char *qsm_sha, const char *lesions_sha);

#ifdef __cplusplus
}
#endif
#endif
