/*
 * imageio.h - reading, writing and resampling 3D volumes through ITK, as a C API.
 *
 * The implementation (imageio.cxx) is the only C++ in Logic/; everything else includes this
 * header only. Formats are chosen by the path:
 *   .nii .nii.gz                NIfTI-1
 *   .nrrd .nhdr                 NRRD (attached or detached header; raw or gzip data)
 *   .mha .mhd                   MetaImage
 *   a directory                 a DICOM series (the first series found, sorted by position)
 * Geometry (size, spacing, origin, direction) is kept exactly as ITK reports it (LPS frame).
 *
 * Reading checks what a clinical tool must check and says so in the error message:
 * missing file, unknown format, corrupt or truncated header/data, 2D or 4D images, multi-
 * component (vector) images, and - when an int32 label map is requested - non-integer values.
 * Header fields ITK would trust or silently replace are checked first (filecheck.h): NIfTI-1
 * sizes, datatype/bitpix, spacing, vox_offset, non-finite or singular qform/sform, the magic
 * (ANALYZE 7.5 is refused: no orientation); NRRD and MetaImage sizes, spacing, encodings and
 * compressed data; pipes and devices are refused. Grids beyond QR_SPACING_MIN_MM..
 * QR_SPACING_MAX_MM spacing or QR_EXTENT_MAX_MM extent are refused as corrupt.
 * NaN/Inf voxels of a float32 volume are counted (qr_read_info.nonfinite), never altered.
 *
 * Writing is atomic: the file(s) are written under a temporary name in the destination folder
 * and renamed into place, so an interrupted run never leaves a partial output.
 */
#ifndef QR_IMAGEIO_H
#define QR_IMAGEIO_H

#include "../core/fileutil.h"
#include "../core/volume.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qr_read_info {
    char component_type[24]; /* pixel type on disk as ITK names it ("float", "short", ...) */
    int file_dimensions;      /* dimensions the file declares (3, or 4 with a 4th size of 1) */
    int64_t nonfinite;        /* NaN/Inf voxels found (float32 reads) */
    int is_dicom;             /* read from a DICOM series folder */
} qr_read_info;

/* Read a volume as float32 (intensities) or int32 (label maps). `info` may be NULL.
 * A plain 3D scalar NIfTI-1 file without intensity rescaling is decoded by qsmrim itself in the
 * one pass that also checks it (a .nii.gz is decompressed once); every other file through ITK. */
qr_status qr_image_read(const char *path, qr_dtype want, qr_volume *out, qr_read_info *info);
/* The same with every file read through ITK's reader: the reference that tests compare the
 * direct NIfTI decoding with. */
qr_status qr_image_read_itk(const char *path, qr_dtype want, qr_volume *out, qr_read_info *info);
/* qr_image_read without its warning about NaN/Inf voxels, for callers whose input policy reports
 * them itself with what it did about them (qr_subject_read: count, total, set to 0). */
qr_status qr_image_read_quiet(const char *path, qr_dtype want, qr_volume *out, qr_read_info *info);

/* Read only the geometry of an image file (header), without the voxel data. */
qr_status qr_image_read_geometry(const char *path, qr_geometry *out);

enum {
    QR_WRITE_COMPRESS = 1,  /* gzip the voxel data where the format allows it */
    QR_WRITE_KEEP_INT32 = 2 /* write an int32 volume as int32 (default: the smallest integer type
                               that holds its labels) */
};

/* Write a volume atomically. float32 volumes are written as float; int32 as the smallest of
 * uint8/int16/int32 that holds the labels, or as int32 with QR_WRITE_KEEP_INT32 (except DICOM:
 * int16 with rescale for float data). */
qr_status qr_image_write(const char *path, const qr_volume *v, int flags);
/* The same, written completely but left pending (fileutil.h): a run with several outputs commits
 * them together with qr_pending_commit_all. */
qr_status qr_image_write_pending(const char *path, const qr_volume *v, int flags, qr_pending *out);

/* Is `path` a name qr_image_write can write? A known image extension (.nii, .nii.gz, .nrrd, .nhdr,
 * .mha, .mhd), or a DICOM series folder: an existing folder, a path ending in '/', or a name with
 * no extension. A name with another extension ("overlay.png", "x.nii.bz2") or an existing file
 * without a known extension is refused (QR_ERR_INVALID_ARG), so a typo does not turn into a DICOM
 * folder. qr_image_write checks it too; commands call it before long work. */
qr_status qr_image_output_check(const char *path);

typedef enum qr_interp { QR_INTERP_NEAREST = 0, QR_INTERP_LINEAR = 1 } qr_interp;

/* Resample `src` onto the grid `target` (physical space, LPS) with ITK's ResampleImageFilter.
 * Voxels of the target that fall outside src get `outside` (0 for labels). int32 volumes must
 * use QR_INTERP_NEAREST. */
qr_status qr_image_resample(const qr_volume *src, const qr_geometry *target, qr_interp interp, double outside,
                            qr_volume *out);

#ifdef __cplusplus
}
#endif
#endif
