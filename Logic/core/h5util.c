/* h5util.c - single-valued HDF5 attributes and sealed HDF5 files (h5util.h). */
#include "h5util.h"
#include "fileutil.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

static herr_t is_memory_error(unsigned n, const H5E_error2_t *e, void *found) {
    (void)n;
    if (e->min_num == H5E_NOSPACE || (e->maj_num == H5E_RESOURCE && e->min_num == H5E_CANTALLOC)) *(int *)found = 1;
    return 0;
}

/* Called by libhdf5 (on the failing call's thread) when an API call fails. */
static herr_t note_read_failure(hid_t stack, void *data) {
    (void)data;
    int found = 0;
    H5Ewalk2(stack, H5E_WALK_DOWNWARD, is_memory_error, &found);
    if (found) qr_note_out_of_memory();
    return 0;
}

/* Room to set up a file in libhdf5 (see qr_h5_open_readonly); noted as out of memory when not. */
static int room_for_a_file(void) {
    if (!qr_memory_short(QR_H5_OPEN_ROOM)) return 1;
    qr_note_out_of_memory();
    return 0;
}

hid_t qr_h5_open_readonly(const char *path) { return room_for_a_file() ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1; }

qr_h5_quiet qr_h5_quiet_begin(int reading) {
    qr_h5_quiet q;
    H5Eget_auto2(H5E_DEFAULT, &q.func, &q.data);
    H5Eset_auto2(H5E_DEFAULT, reading ? note_read_failure : NULL, NULL);
    return q;
}

void qr_h5_quiet_end(qr_h5_quiet q) { H5Eset_auto2(H5E_DEFAULT, q.func, q.data); }

/* Open attribute `name` when it exists and holds exactly `n` values; -1 otherwise (*why says). */
static hid_t open_n(hid_t obj, const char *name, hssize_t want, int *why) {
    *why = QR_H5_MISSING;
    if (H5Aexists(obj, name) <= 0) return -1;
    *why = QR_H5_BAD;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t sp = H5Aget_space(a);
    const hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (sp >= 0) H5Sclose(sp);
    if (n != want) {
        H5Aclose(a);
        return -1;
    }
    return a;
}

static hid_t open_single(hid_t obj, const char *name, int *why) { return open_n(obj, name, 1, why); }

int qr_h5_attr_doubles(hid_t obj, const char *name, double *v, int n) {
    int why;
    hid_t a = open_n(obj, name, n, &why);
    if (a < 0) return why;
    const int ok = H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0;
    H5Aclose(a);
    return ok ? QR_H5_OK : QR_H5_BAD;
}

qr_status qr_h5_read_voxel_size(hid_t obj, const char *path, double v[3]) {
    double w[3];
    v[0] = v[1] = v[2] = 0.0;
    const int r = qr_h5_attr_doubles(obj, "voxel_size_mm", w, 3);
    if (r == QR_H5_MISSING) return QR_OK;
    int ok = r == QR_H5_OK;
    for (int a = 0; ok && a < 3; a++) ok = w[a] >= 1e-3 && w[a] <= 1e3; /* NaN fails too */
    if (!ok) return qr_fail(QR_ERR_MODEL, "%s: attribute 'voxel_size_mm' must hold three voxel sizes in mm", path);
    memcpy(v, w, sizeof w);
    return QR_OK;
}

int qr_h5_attr_write_doubles(hid_t obj, const char *name, const double *v, int n) {
    const hsize_t d = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    hid_t a = sp >= 0 ? H5Acreate2(obj, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
    const int ok = a >= 0 && H5Awrite(a, H5T_NATIVE_DOUBLE, v) >= 0;
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    return ok ? 0 : -1;
}

void qr_h5_skip_exit_cleanup(void) { H5dont_atexit(); }

int qr_h5_attr_scalar(hid_t obj, const char *name, hid_t mem_type, void *v) {
    int why;
    hid_t a = open_single(obj, name, &why);
    if (a < 0) return why;
    int ok;
    hid_t ft = H5Aget_type(a);
    if (H5Tget_class(mem_type) == H5T_INTEGER && H5Tget_class(ft) == H5T_FLOAT) {
        /* HDF5 would convert 1.5 to 1: a stored float is an integer only when it has no fraction */
        double d = 0;
        ok = H5Aread(a, H5T_NATIVE_DOUBLE, &d) >= 0 && d == floor(d) && fabs(d) < 9.0e15;
        if (ok && H5Tequal(mem_type, H5T_NATIVE_INT64) > 0) {
            *(int64_t *)v = (int64_t)d;
        } else if (ok && H5Tequal(mem_type, H5T_NATIVE_INT) > 0) {
            ok = d >= INT_MIN && d <= INT_MAX;
            if (ok) *(int *)v = (int)d;
        } else if (ok) {
            ok = H5Aread(a, mem_type, v) >= 0; /* other integer types: HDF5's conversion */
        }
    } else {
        ok = H5Aread(a, mem_type, v) >= 0;
    }
    if (ft >= 0) H5Tclose(ft);
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
            if (!s) qr_note_out_of_memory();
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

/* ---- sealed files ---- */

static const char SEAL_MAGIC[] = "QSMRIM-HDF5-SEAL 1\n";

/* A file whose root group keeps no times, with a user block of `userblock` bytes (0: none). */
static hid_t create_file(const char *path, hsize_t userblock) {
    if (!room_for_a_file()) return -1;
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fcpl < 0) return -1;
    hid_t f = H5Pset_obj_track_times(fcpl, 0) >= 0 && (!userblock || H5Pset_userblock(fcpl, userblock) >= 0)
                  ? H5Fcreate(path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT)
                  : -1;
    H5Pclose(fcpl);
    return f;
}

hid_t qr_h5_create(const char *path) { return create_file(path, 0); }

hid_t qr_h5_create_sealable(const char *path) { return create_file(path, QR_H5_SEAL_BYTES); }

hid_t qr_h5_dataset_create(hid_t loc, const char *name, hid_t type, hid_t space, hid_t lcpl) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl < 0) return -1;
    hid_t ds = H5Pset_obj_track_times(dcpl, 0) >= 0 ? H5Dcreate2(loc, name, type, space, lcpl, dcpl, H5P_DEFAULT) : -1;
    H5Pclose(dcpl);
    return ds;
}

hid_t qr_h5_group_create(hid_t loc, const char *name) {
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (gcpl < 0) return -1;
    hid_t g = H5Pset_obj_track_times(gcpl, 0) >= 0 ? H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT) : -1;
    H5Pclose(gcpl);
    return g;
}

/* CRC-32 and byte count of fp from its current position to the end. */
static int crc_rest(FILE *fp, uint32_t *crc, uint64_t *n) {
    enum { CHUNK = 1 << 16 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        qr_note_out_of_memory(); /* the caller's "cannot read" then says why */
        return -1;
    }
    uLong c = crc32(0L, Z_NULL, 0);
    uint64_t total = 0;
    size_t k;
    while ((k = fread(buf, 1, CHUNK, fp)) > 0) {
        c = crc32(c, buf, (uInt)k);
        total += k;
    }
    free(buf);
    if (ferror(fp)) return -1;
    *crc = (uint32_t)c;
    *n = total;
    return 0;
}

qr_status qr_h5_seal_written(const char *tmp, int written, const char *path, const char *what) {
    const qr_status sealed = written > 0 ? qr_h5_seal(tmp) : QR_OK;
    if (written > 0 && sealed == QR_OK) return QR_OK;
    remove(tmp);
    if (written < 0 || sealed == QR_ERR_NOMEM) return qr_fail(QR_ERR_NOMEM, "cannot write the %s %s: out of memory", what, path);
    return qr_fail(QR_ERR_IO, "cannot write the %s %s (disk full or not writable?)", what, path);
}

qr_status qr_h5_seal(const char *path) {
    FILE *fp = fopen(path, "r+b");
    if (!fp) return qr_fail(QR_ERR_IO, "cannot seal %s: %s", path, strerror(errno));
    unsigned char head[QR_H5_SEAL_BYTES];
    uint32_t crc = 0;
    uint64_t n = 0;
    int ok = fread(head, 1, sizeof head, fp) == sizeof head;
    if (ok && memcmp(head, SEAL_MAGIC, sizeof SEAL_MAGIC - 1) != 0) /* else re-sealed */
        for (size_t i = 0; ok && i < sizeof head; i++) ok = head[i] == 0; /* the empty user block */
    ok = ok && crc_rest(fp, &crc, &n) == 0;
    char seal[QR_H5_SEAL_BYTES];
    memset(seal, 0, sizeof seal);
    snprintf(seal, sizeof seal, "%ssize %" PRIu64 "\ncrc32 %08" PRIx32 "\n", SEAL_MAGIC, n, crc);
    ok = ok && fseek(fp, 0, SEEK_SET) == 0 && fwrite(seal, 1, sizeof seal, fp) == sizeof seal;
    if (fclose(fp) != 0) ok = 0;
    return ok ? QR_OK : qr_fail(QR_ERR_IO, "cannot seal %s (no empty user block, or a write failed)", path);
}

qr_status qr_h5_check_seal(const char *path, int *sealed) {
    if (sealed) *sealed = 0;
    QR_TRY(qr_input_file_check(path));
    FILE *fp = fopen(path, "rb");
    if (!fp) return qr_fail(QR_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    char head[QR_H5_SEAL_BYTES + 1];
    const size_t got = fread(head, 1, QR_H5_SEAL_BYTES, fp);
    head[got] = '\0';
    if (got < QR_H5_SEAL_BYTES || memcmp(head, SEAL_MAGIC, sizeof SEAL_MAGIC - 1) != 0) {
        fclose(fp);
        return QR_OK; /* no seal: another tool's file */
    }
    uint64_t want_n = 0, n = 0;
    uint32_t want_crc = 0, crc = 0;
    const int parsed = sscanf(head + sizeof SEAL_MAGIC - 1, "size %" SCNu64 " crc32 %" SCNx32, &want_n, &want_crc) == 2;
    const int read_ok = crc_rest(fp, &crc, &n) == 0;
    fclose(fp);
    if (!read_ok) return qr_fail(QR_ERR_IO, "cannot read %s", path);
    if (!parsed) return qr_fail(QR_ERR_FORMAT, "%s is damaged: its qsmrim seal (first 512 bytes) cannot be read", path);
#define QR_SEAL_HINT                                                                                                   \
    "damaged, or edited after qsmrim wrote it: copy it again; a deliberate edit with another HDF5 tool is re-sealed "  \
    "with Resources/python/h5seal.py"
    if (n != want_n)
        return qr_fail(QR_ERR_FORMAT, "%s: %" PRIu64 " bytes after its seal, %" PRIu64 " when it was written (" QR_SEAL_HINT ")",
                       path, n, want_n);
    if (crc != want_crc)
        return qr_fail(QR_ERR_FORMAT, "%s: its CRC-32 is %08" PRIx32 ", %08" PRIx32 " when it was written (" QR_SEAL_HINT ")",
                       path, crc, want_crc);
#undef QR_SEAL_HINT
    if (sealed) *sealed = 1;
    return QR_OK;
}

int qr_h5_write_u64s(hid_t loc, const char *name, const uint64_t *v, int64_t n) {
    if (n < 1) return -1;
    hsize_t dn[1] = {(hsize_t)n};
    hid_t sp = H5Screate_simple(1, dn, NULL);
    if (sp < 0) return -1;
    hid_t ds = qr_h5_dataset_create(loc, name, H5T_STD_U64LE, sp, H5P_DEFAULT);
    int ok = ds >= 0 && H5Dwrite(ds, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
    if (ds >= 0 && H5Dclose(ds) < 0) ok = 0;
    H5Sclose(sp);
    return ok ? 0 : -1;
}

int qr_h5_read_u64s(hid_t loc, const char *name, uint64_t **out, int64_t *n) {
    *out = NULL;
    *n = 0;
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) return QR_H5_MISSING;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return QR_H5_BAD;
    hid_t sp = H5Dget_space(ds), ty = H5Dget_type(ds);
    hsize_t dn[1] = {0};
    int r = QR_H5_BAD;
    if (sp >= 0 && ty >= 0 && H5Sget_simple_extent_ndims(sp) == 1 && H5Tget_class(ty) == H5T_INTEGER && H5Tget_size(ty) == 8 &&
        H5Sget_simple_extent_dims(sp, dn, NULL) == 1 && dn[0] >= 1 && dn[0] <= (hsize_t)1 << 24) {
        uint64_t *v = malloc((size_t)dn[0] * sizeof *v);
        if (!v) qr_note_out_of_memory();
        if (v && H5Dread(ds, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0) {
            *out = v;
            *n = (int64_t)dn[0];
            r = QR_H5_OK;
        } else {
            free(v);
        }
    }
    if (ty >= 0) H5Tclose(ty);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(ds);
    return r;
}
