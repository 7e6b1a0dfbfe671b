/* outputs.c - output paths checked against each other and the inputs before the work (outputs.h). */
#define _GNU_SOURCE
#include "outputs.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "filecheck.h"
#include "imageio.h"

int qr_image_output_files(const char *path, int flags, char files[2][QR_PATH_MAX]) {
    snprintf(files[0], QR_PATH_MAX, "%s", path);
    const size_t n = strlen(path);
    const int compress = (flags & QR_WRITE_COMPRESS) != 0;
    /* ITK writes a detached header only for these lower-case extensions (qr_image_output_check) */
    const char *data_suffix = NULL;
    size_t strip = 0;
    if (n > 5 && !strcmp(path + n - 5, ".nhdr")) {
        data_suffix = compress ? ".raw.gz" : ".raw";
        strip = 5;
    } else if (n > 4 && !strcmp(path + n - 4, ".mhd")) {
        data_suffix = compress ? ".zraw" : ".raw";
        strip = 4;
    }
    if (!data_suffix || snprintf(files[1], QR_PATH_MAX, "%.*s%s", (int)(n - strip), path, data_suffix) >= QR_PATH_MAX)
        return 1;
    return 2;
}

/* The files behind one path: 1 or 2 (an image's separate data file). */
static int files_of(const qr_io_path *p, int output, char files[2][QR_PATH_MAX]) {
    if (!p->image) {
        snprintf(files[0], QR_PATH_MAX, "%s", p->path);
        return 1;
    }
    if (output) return qr_image_output_files(p->path, p->write_flags, files);
    snprintf(files[0], QR_PATH_MAX, "%s", p->path);
    if (qr_image_data_file(p->path, files[1], QR_PATH_MAX) != QR_OK || !files[1][0]) return 1;
    return 2;
}

/* 1 if a and b are one file: the same name, the same existing file (links, other spellings), or
 * the same file name in the same folder (files not written yet). */
static int same_file(const char *a, const char *b) {
    if (!strcmp(a, b)) return 1;
    struct stat sa, sb;
    const int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
    if (ea && eb) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (ea != eb || strcmp(qr_path_basename(a), qr_path_basename(b))) return 0;
    char da[QR_PATH_MAX], db[QR_PATH_MAX];
    qr_path_dirname(a, da, sizeof da);
    qr_path_dirname(b, db, sizeof db);
    char *ra = realpath(da, NULL), *rb = realpath(db, NULL);
    const int same = ra && rb && !strcmp(ra, rb);
    free(ra);
    free(rb);
    return same;
}

/* Fail if a file of output `o` is a file of `other` (an input, or an output if other_output). */
static qr_status distinct(const qr_io_path *o, char of[2][QR_PATH_MAX], int no, const qr_io_path *other,
                          int other_output) {
    char xf[2][QR_PATH_MAX];
    const int nx = files_of(other, other_output, xf);
    for (int a = 0; a < no; a++)
        for (int b = 0; b < nx; b++) {
            if (!same_file(of[a], xf[b])) continue;
            char whose[QR_PATH_MAX + 256];
            if (b == 0) snprintf(whose, sizeof whose, "%s", other->what);
            else snprintf(whose, sizeof whose, "the voxel data file of %s (%s)", other->what, other->path);
            if (a == 0)
                return qr_fail(QR_ERR_INVALID_ARG, "%s: is also %s; give another output name", o->path, whose);
            return qr_fail(QR_ERR_INVALID_ARG, "%s: its voxel data file %s would also be %s; give another output name",
                           o->path, of[a], whose);
        }
    return QR_OK;
}

qr_status qr_outputs_check(const qr_io_path *inputs, int n_inputs, const qr_io_path *outputs, int n_outputs) {
    for (int i = 0; i < n_outputs; i++) {
        const qr_io_path *o = &outputs[i];
        if (!o->path) continue;
        if (o->image) {
            QR_TRY(qr_output_check(o->path));
            QR_TRY(qr_image_output_check(o->path));
        } else {
            QR_TRY(qr_file_output_check(o->path));
        }
        char of[2][QR_PATH_MAX];
        const int no = files_of(o, 1, of);
        for (int j = 0; j < n_inputs; j++)
            if (inputs[j].path) QR_TRY(distinct(o, of, no, &inputs[j], 0));
        for (int j = 0; j < i; j++)
            if (outputs[j].path) QR_TRY(distinct(o, of, no, &outputs[j], 1));
    }
    return QR_OK;
}

int qr_outputs_remove_leftovers(const qr_io_path *outputs, int n_outputs) {
    int removed = 0;
    for (int i = 0; i < n_outputs; i++) {
        if (!outputs[i].path) continue;
        char dir[QR_PATH_MAX], earlier[QR_PATH_MAX];
        qr_path_dirname(outputs[i].path, dir, sizeof dir);
        int seen = 0; /* each folder once */
        for (int j = 0; j < i && !seen; j++) {
            if (!outputs[j].path) continue;
            qr_path_dirname(outputs[j].path, earlier, sizeof earlier);
            seen = strcmp(dir, earlier) == 0;
        }
        if (!seen) removed += qr_remove_leftovers(dir, NULL);
    }
    return removed;
}
