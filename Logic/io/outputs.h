/*
 * outputs.h - the checks a command makes on all its output paths before its work starts, so that a
 * run neither computes for minutes and then fails to write, nor replaces one of its own inputs or
 * one output with another.
 *
 * Files, not names, are compared: the same file reached through another spelling or a link counts,
 * and an image with a detached header has two files. qr_image_write writes a .nhdr with its voxels
 * in STEM.raw (STEM.raw.gz when compressed) and a .mhd with STEM.raw (STEM.zraw), beside the header;
 * an existing .nhdr / .mhd input has the data file its header names (qr_image_data_file).
 *
 *   const qr_io_path in[] = {{qsm, "the QSM input", 1, 0}, {model, "the model", 0, 0}};
 *   const qr_io_path out[] = {{labels, "--out-labels", 1, 0}, {table, "--out-table", 0, 0}};
 *   QR_TRY(qr_outputs_check(in, 2, out, 2));
 */
#ifndef QR_OUTPUTS_H
#define QR_OUTPUTS_H

#include "../core/fileutil.h"
#include "../core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qr_io_path {
    const char *path; /* NULL: not given (skipped) */
    const char *what; /* names it in messages: "--out-labels", "the QSM input" */
    int image;        /* 1: an image path (its separate voxel data file is one of its files) */
    int write_flags;  /* output images: the qr_image_write flags it will be written with */
} qr_io_path;

/* The files qr_image_write(path, .., flags, ..) creates or replaces: the path itself and, for a
 * detached header, its data file. Returns how many (1 or 2) in files[0..]. */
int qr_image_output_files(const char *path, int flags, char files[2][QR_PATH_MAX]);

/* Every output: its folder exists and is writable; an image output has a name qr_image_write can
 * write (qr_image_output_check); none of its files is a file of an input or of an earlier output.
 * QR_ERR_INVALID_ARG / QR_ERR_IO naming the output, the file and the path it collides with. */
qr_status qr_outputs_check(const qr_io_path *inputs, int n_inputs, const qr_io_path *outputs, int n_outputs);

/* Remove from the folder of every given output what runs killed outright left there: hidden
 * temporary files and staging folders of processes that no longer run (qr_remove_leftovers).
 * Returns the number removed. */
int qr_outputs_remove_leftovers(const qr_io_path *outputs, int n_outputs);

#ifdef __cplusplus
}
#endif
#endif
