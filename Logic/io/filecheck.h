/*
 * filecheck.h - checks of image files that ITK 5.2's readers do not make, run around them.
 *
 * ITK's NIfTI, NRRD and MetaImage readers trust their headers: a NaN in a NIfTI sform aborts the
 * process inside vnl, a negative MetaImage NDims loops forever, an NRRD declaring 10^15 voxels
 * asks for that much memory, text-encoded NRRD data that is not text overruns the stack, and
 * several corruptions are read without complaint into wrong images (zero or NaN voxel spacing
 * replaced by 1, dim[2] = 0 read as a single slice, a datatype that disagrees with bitpix, a
 * missing NIfTI magic read as ANALYZE 7.5 without orientation, voxel data read from inside the
 * header, compressed MetaImage data cut short). The checks below run before ITK sees a file and
 * turn each of these into a one-line error naming the file and the field.
 *
 *   qr_image_precheck(path)               before ITK reads the header: the path is a regular file
 *                                         (or a folder, for DICOM); NIfTI-1 and MetaImage header
 *                                         fields are consistent and finite
 *   qr_image_check_data(path, nvox, b)    after ITK read the header, before the voxels: NRRD and
 *                                         MetaImage voxel data are present and decodable, b bytes
 *                                         for nvox voxels, and nvox within QR_MAX_VOXELS
 */
#ifndef QR_FILECHECK_H
#define QR_FILECHECK_H

#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest volume read: 2^31 voxels (8 GiB as float32; a 0.3 mm whole-head grid is ~1.5e8). */
#define QR_MAX_VOXELS ((int64_t)1 << 31)
/* Largest NIfTI vox_offset accepted (2^50 bytes): beyond any file, and exact as float and int64. */
#define QR_NIFTI_MAX_OFFSET ((int64_t)1 << 50)

qr_status qr_image_precheck(const char *path);
qr_status qr_image_check_data(const char *path, int64_t nvox, int64_t image_bytes);

/* The other file of an image stored in two: the separate voxel data file an existing detached
 * header names (NRRD "data file:", MetaImage "ElementDataFile ="), relative names taken beside the
 * header; for a NIfTI pair, the .img of an .hdr and the .hdr of an .img (gzipped or not, as ITK
 * looks for them). "" for attached data, for a list or pattern of files, for other formats and for
 * a file that is missing or unreadable. */
qr_status qr_image_data_file(const char *path, char *out, size_t outlen);

#ifdef __cplusplus
}
#endif
#endif
