/* filecheck.c - header and data checks made before ITK reads an image (filecheck.h). */
#include "filecheck.h"
#include "../core/volume.h"

#include <ctype.h>
#include <errno.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../core/fileutil.h"

/* ---- small helpers ------------------------------------------------------------------------ */

/* 0 when `path` can be opened without blocking: a regular file (or a folder if allowed). */
static qr_status check_regular(const char *path, const char *what, int allow_dir) {
    struct stat st;
    if (stat(path, &st) != 0) return QR_OK; /* missing: the caller's own message names it */
    if (S_ISREG(st.st_mode) || (allow_dir && S_ISDIR(st.st_mode))) return QR_OK;
    return qr_fail(QR_ERR_IO, "%s: %s is not a regular file (a pipe, device or socket cannot be read as an image)", path,
                   what);
}

/* Parse all whitespace-separated numbers of `s` (at most `max`); -1 when a token is not a number. */
static int parse_numbers(const char *s, double *out, int max) {
    int n = 0;
    while (*s) {
        while (*s && (isspace((unsigned char)*s) || *s == ',' || *s == '(' || *s == ')')) s++;
        if (!*s) break;
        char *end;
        double v = strtod(s, &end);
        if (end == s) return -1;
        if (n < max) out[n] = v;
        n++;
        s = end;
        if (*s && !isspace((unsigned char)*s) && *s != ',' && *s != '(' && *s != ')') return -1;
    }
    return n;
}

static void trim(char *s) {
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    size_t i = 0;
    while (s[i] && isspace((unsigned char)s[i])) i++;
    memmove(s, s + i, n - i + 1);
}

static int64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* ---- NIfTI-1 ------------------------------------------------------------------------------ */

static int nifti_bits(int datatype) {
    switch (datatype) {
    case 2: case 256: return 8;               /* uint8, int8 */
    case 4: case 512: return 16;              /* int16, uint16 */
    case 8: case 16: case 768: return 32;     /* int32, float32, uint32 */
    case 32: case 64: case 1024: case 1280: return 64; /* complex64, float64, int64, uint64 */
    case 128: return 24;                      /* RGB24 */
    case 1536: case 1792: return 128;         /* float128, complex128 */
    case 2048: return 256;                    /* complex256 */
    case 2304: return 32;                     /* RGBA32 */
    default: return 0;
    }
}

typedef struct nifti_bytes {
    unsigned char h[348];
    int swap;
} nifti_bytes;

static int16_t n_i16(const nifti_bytes *b, int off) {
    uint16_t x;
    memcpy(&x, b->h + off, 2);
    if (b->swap) x = (uint16_t)((x >> 8) | (x << 8));
    return (int16_t)x;
}

static float n_f32(const nifti_bytes *b, int off) {
    uint32_t x;
    memcpy(&x, b->h + off, 4);
    if (b->swap) x = __builtin_bswap32(x);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* ---- NIfTI pairs -------------------------------------------------------------------------- */

/* The length of path's NIfTI-pair extension (.hdr or .img, optionally .gz, any capitals; 0 for
 * none), whether it names the image, and whether the extension is in capitals (ITK's NIfTI
 * library then looks for capital names only: no lower-case letter, at least one capital). */
static size_t pair_extension(const char *path, int *is_img, int *upper) {
    static const char *const exts[] = {".hdr.gz", ".img.gz", ".hdr", ".img"};
    const size_t n = strlen(path);
    for (size_t k = 0; k < sizeof exts / sizeof *exts; k++) {
        const size_t l = strlen(exts[k]);
        if (n <= l || strcasecmp(path + n - l, exts[k]) != 0) continue;
        *is_img = exts[k][1] == 'i';
        int lower = 0, capital = 0;
        for (size_t i = n - l; i < n; i++) {
            lower |= islower((unsigned char)path[i]) != 0;
            capital |= isupper((unsigned char)path[i]) != 0;
        }
        *upper = capital && !lower;
        return l;
    }
    return 0;
}

/* The first existing file of base + each suffix (in capitals when upper), into out; 0 if none. */
static int first_existing(const char *base, size_t nbase, const char *const *suffixes, int nsuffixes, int upper,
                          char *out, size_t outlen) {
    for (int i = 0; i < nsuffixes; i++) {
        if (snprintf(out, outlen, "%.*s%s", (int)nbase, base, suffixes[i]) >= (int)outlen) continue;
        if (upper)
            for (char *q = out + nbase; *q; q++) *q = (char)toupper((unsigned char)*q);
        if (qr_path_is_file(out)) return 1;
    }
    out[0] = 0;
    return 0;
}

/* The two files ITK 5.2's NIfTI library reads for `path`, a name of a NIfTI pair: the header (the
 * path itself when it is an existing header, else the first of base.hdr, .hdr.gz, .nii, .nii.gz)
 * and the image the header's name leads to (base.img, .img.gz, .nii, .nii.gz), as
 * nifti_findhdrname and nifti_findimgname look for them. "" for what does not exist; 0 when path
 * is no pair name. */
static int nifti_pair_names(const char *path, char *hdr, char *img, size_t n) {
    static const char *const hdrs[] = {".hdr", ".hdr.gz", ".nii", ".nii.gz"};
    static const char *const imgs[] = {".img", ".img.gz", ".nii", ".nii.gz"};
    int is_img, upper;
    const size_t l = pair_extension(path, &is_img, &upper);
    hdr[0] = img[0] = 0;
    if (!l) return 0;
    if (!is_img && qr_path_is_file(path)) snprintf(hdr, n, "%s", path);
    else if (!first_existing(path, strlen(path) - l, hdrs, 4, upper, hdr, n)) return 1;
    const size_t lh = pair_extension(hdr, &is_img, &upper);
    if (!lh) snprintf(img, n, "%s", hdr); /* a single-file .nii: header and image at once */
    else first_existing(hdr, strlen(hdr) - lh, imgs, 4, upper, img, n);
    return 1;
}

/* A NIfTI pair whose files are ambiguous: the image given is not the one ITK reads, or both the
 * plain and the gzipped image lie beside the header (ITK takes the plain one, without a word). */
static qr_status check_pair_files(const char *path) {
    char hdr[QR_PATH_MAX], img[QR_PATH_MAX], other[QR_PATH_MAX + 8];
    int is_img, upper;
    if (!nifti_pair_names(path, hdr, img, sizeof hdr) || !img[0]) return QR_OK;
    pair_extension(path, &is_img, &upper);
    if (is_img && strcmp(img, path) != 0)
        return qr_fail(QR_ERR_FORMAT,
                       "%s: ITK's NIfTI reader would take the header %s and the voxels of %s beside it, not this file's; "
                       "remove or rename one of them",
                       path, hdr, img);
    const size_t n = strlen(img);
    if (n > 3 && !strcasecmp(img + n - 4, ".img")) {
        snprintf(other, sizeof other, "%s%s", img, isupper((unsigned char)img[n - 1]) ? ".GZ" : ".gz");
        if (qr_path_is_file(other))
            return qr_fail(QR_ERR_FORMAT,
                           "%s: both %s and %s lie beside the header %s; ITK reads the first without a word: remove the "
                           "one that is not this image's voxels",
                           path, img, other, hdr);
    }
    return QR_OK;
}

static qr_status check_nifti(const char *path, int pair) {
    char hdr[QR_PATH_MAX];
    snprintf(hdr, sizeof hdr, "%s", path);
    if (pair) { /* the header ITK reads for it (an .img's is the .hdr beside it) */
        char img[QR_PATH_MAX];
        if (nifti_pair_names(path, hdr, img, sizeof hdr) && !hdr[0]) return QR_OK; /* ITK's reader reports it */
        QR_TRY(check_regular(hdr, "the NIfTI header", 0));
    }
    gzFile f = gzopen(hdr, "rb");
    if (!f) return QR_OK; /* missing or unreadable: ITK's reader reports it */
    nifti_bytes b;
    int got = gzread(f, b.h, sizeof b.h);
    gzclose(f);
    if (got < 0) return QR_OK; /* corrupt compressed stream: reported by the voxel scan */
    if (got < (int)sizeof b.h)
        return qr_fail(QR_ERR_FORMAT, "%s: NIfTI header truncated (%d of 348 bytes)", hdr, got);
    int32_t sz;
    memcpy(&sz, b.h, 4);
    const int32_t szs = (int32_t)__builtin_bswap32((uint32_t)sz);
    if (sz == 540 || szs == 540)
        return qr_fail(QR_ERR_UNSUPPORTED, "%s: is NIfTI-2; only NIfTI-1 is read (save it as NIfTI-1)", hdr);
    if (sz != 348 && szs != 348)
        return qr_fail(QR_ERR_FORMAT, "%s: not a NIfTI-1 header (sizeof_hdr is %d, must be 348)", hdr, sz);
    b.swap = sz != 348;
    const char *want = pair ? "ni1" : "n+1";
    if (memcmp(b.h + 344, want, 4) != 0)
        return qr_fail(QR_ERR_FORMAT,
                       "%s: no NIfTI-1 magic '%s' (ANALYZE 7.5 files carry no orientation and are not read)", hdr,
                       want);
    const int ndim = n_i16(&b, 40);
    if (ndim < 1 || ndim > 7) return qr_fail(QR_ERR_FORMAT, "%s: NIfTI dim[0] is %d (must be 1 to 7)", hdr, ndim);
    double nvox = 1;
    for (int d = 1; d <= ndim; d++) {
        int n = n_i16(&b, 40 + 2 * d);
        if (n < 1) return qr_fail(QR_ERR_FORMAT, "%s: NIfTI dim[%d] is %d (sizes must be at least 1)", hdr, d, n);
        nvox *= n;
    }
    if (nvox > (double)QR_MAX_VOXELS)
        return qr_fail(QR_ERR_FORMAT, "%s: declares %.0f voxels, more than the %lld read (header corrupt?)", hdr,
                       nvox, (long long)QR_MAX_VOXELS);
    const int datatype = n_i16(&b, 70), bitpix = n_i16(&b, 72), bits = nifti_bits(datatype);
    if (!bits) return qr_fail(QR_ERR_FORMAT, "%s: NIfTI datatype %d is not a NIfTI-1 data type", hdr, datatype);
    if (bitpix != bits)
        return qr_fail(QR_ERR_FORMAT, "%s: NIfTI bitpix %d does not match datatype %d (%d bits per voxel)", hdr, bitpix,
                       datatype, bits);
    for (int d = 1; d <= (ndim < 3 ? ndim : 3); d++) {
        float p = n_f32(&b, 76 + 4 * d);
        if (!(p > 0) || !isfinite(p))
            return qr_fail(QR_ERR_GEOMETRY, "%s: NIfTI pixdim[%d] (voxel spacing) is %g; it must be positive and finite",
                           hdr, d, (double)p);
    }
    const float vox_offset = n_f32(&b, 108);
    if (!isfinite(vox_offset) || vox_offset != floorf(vox_offset) || vox_offset < (pair ? 0.0f : 352.0f) ||
        vox_offset > (float)QR_NIFTI_MAX_OFFSET)
        return qr_fail(QR_ERR_FORMAT, "%s: NIfTI vox_offset is %g (must be a whole number of bytes%s)", hdr,
                       (double)vox_offset, pair ? ", at most 2^50" : ", from 352 to 2^50");
    /* Neither code set: NIfTI's ANALYZE-compatible "method 1", voxel sizes only. ITK reads such a
     * file at origin 0 along the LPS axes, which puts it somewhere beside a volume with a position
     * (another grid, resampled: lesions scored on other tissue, without a word). */
    if (n_i16(&b, 252) <= 0 && n_i16(&b, 254) <= 0)
        return qr_fail(QR_ERR_GEOMETRY,
                       "%s: NIfTI qform_code and sform_code are both 0: the file carries no orientation or position "
                       "(write it with the header of the image it was made from)",
                       hdr);
    if (n_i16(&b, 252) > 0) { /* qform: quaternion b, c, d and offset x, y, z */
        for (int i = 0; i < 6; i++)
            if (!isfinite(n_f32(&b, 256 + 4 * i)) || (i >= 3 && fabs(n_f32(&b, 256 + 4 * i)) > QR_EXTENT_MAX_MM))
                return qr_fail(QR_ERR_GEOMETRY, "%s: NIfTI qform %s is %s", hdr, i < 3 ? "quaternion" : "offset",
                               i < 3 ? "not finite" : "not finite or beyond 1e6 mm (header corrupt?)");
    }
    if (n_i16(&b, 254) > 0) { /* sform: three rows of four */
        double m[12];
        for (int i = 0; i < 12; i++) {
            m[i] = n_f32(&b, 280 + 4 * i);
            if (!isfinite(m[i])) return qr_fail(QR_ERR_GEOMETRY, "%s: NIfTI sform row %d is not finite", hdr, i / 4);
        }
        const double det = m[0] * (m[5] * m[10] - m[6] * m[9]) - m[1] * (m[4] * m[10] - m[6] * m[8]) +
                           m[2] * (m[4] * m[9] - m[5] * m[8]);
        /* a voxel size and position qsmrim accepts (qr_geometry_validate): ITK's SVD of the sform
         * (vnl/netlib, in float) did not return on a column of length 3e38 */
        double scale = 1;
        for (int c = 0; c < 3; c++) {
            const double len = sqrt(m[c] * m[c] + m[4 + c] * m[4 + c] + m[8 + c] * m[8 + c]);
            if (!(len >= QR_SPACING_MIN_MM && len <= QR_SPACING_MAX_MM))
                return qr_fail(QR_ERR_GEOMETRY, "%s: NIfTI sform column %d has length %g mm, outside %g to %g mm (header corrupt?)",
                               hdr, c, len, QR_SPACING_MIN_MM, QR_SPACING_MAX_MM);
            if (fabs(m[4 * c + 3]) > QR_EXTENT_MAX_MM)
                return qr_fail(QR_ERR_GEOMETRY, "%s: NIfTI sform offset of row %d is %g mm, beyond 1e6 mm (header corrupt?)",
                               hdr, c, m[4 * c + 3]);
            scale *= len;
        }
        if (!(fabs(det) > 1e-6 * scale))
            return qr_fail(QR_ERR_GEOMETRY, "%s: NIfTI sform matrix is singular (axes collinear or zero)", hdr);
    }
    return QR_OK;
}

/* ---- text headers: NRRD and MetaImage ----------------------------------------------------- */

#define QR_HDR_FIELDS 32
#define QR_HDR_LINE 8192          /* bytes of a header line kept for parsing */
#define QR_HDR_LINE_MAX (1 << 20) /* a longer "line" is not a header: the scan stops there */
#define QR_NRRD_LINE_MAX 768      /* see read_text_header */
#define QR_META_MAX_NAME 255      /* MetaIO's MET_FieldRecordType.name */
#define QR_META_MAX_STRING 255    /* MetaObject's m_Comment, m_Name, m_ObjectTypeName, m_ObjectSubTypeName */
typedef struct text_header {
    char key[QR_HDR_FIELDS][64];
    char *val[QR_HDR_FIELDS];
    int n;
    long data_offset; /* first byte after the header (attached data) */
} text_header;

static void text_header_free(text_header *t) {
    for (int i = 0; i < t->n; i++) free(t->val[i]);
    t->n = 0;
}

static const char *field(const text_header *t, const char *key) {
    for (int i = 0; i < t->n; i++)
        if (!strcasecmp(t->key[i], key)) return t->val[i];
    return NULL;
}

/* One header line into buf (its first cap - 1 bytes, NUL-terminated); the rest of a longer line
 * is read and counted, up to QR_HDR_LINE_MAX bytes, so that the next call starts on the next line
 * whatever the line's length (fgets would hand a long line over in pieces, and a piece that is a
 * lone newline would pass for the empty line that ends a NRRD header). Returns the bytes read, the
 * newline included (0 at end of file); *text_len: the line's length without its line break. */
static size_t header_line(FILE *f, char *buf, size_t cap, size_t *text_len) {
    size_t n = 0, text = 0;
    int c;
    while (n < QR_HDR_LINE_MAX && (c = getc(f)) != EOF) {
        if (n + 1 < cap) buf[n] = (char)c;
        n++;
        if (c == '\n') break;
        if (c != '\r') text = n;
    }
    buf[n + 1 < cap ? n : cap - 1] = 0;
    *text_len = text;
    return n;
}

/* A span of a header line that reaches the end of buf goes on in a line longer than buf. */
static int runs_on(size_t in_buf, size_t text_len, size_t at) { return at == in_buf && text_len > in_buf; }

/* ITK 5.2's MetaIO copies a field name into 255 bytes unchecked (MET_InitReadField), and the values
 * of Comment, Name, ObjectType and ObjectSubType (blanks trimmed, ':' or '=' after the name) into
 * 255-byte members of MetaObject: longer ones overflowed (Debian's fortified build aborted). */
static qr_status check_meta_line(const char *path, int lineno, const char *line, size_t text_len) {
    static const char *const fixed[] = {"Comment", "Name", "ObjectType", "ObjectSubType"};
    const size_t in_buf = strlen(line);
    size_t from = strspn(line, " \t\v\f"), sep = from + strcspn(line + from, "=:\r\n"), end = sep;
    while (end > from && (line[end - 1] == ' ' || line[end - 1] == '\t')) end--;
    if (end - from >= QR_META_MAX_NAME)
        return qr_fail(QR_ERR_FORMAT, "%s: MetaImage header line %d holds a field name of %s%zu characters (at most %d)",
                       path, lineno, runs_on(in_buf, text_len, end) ? "more than " : "", end - from, QR_META_MAX_NAME - 1);
    if (line[sep] != '=' && line[sep] != ':') return QR_OK;
    for (size_t k = 0; k < sizeof fixed / sizeof *fixed; k++) {
        if (end - from != strlen(fixed[k]) || strncmp(line + from, fixed[k], end - from) != 0) continue;
        size_t v0 = sep + 1 + strspn(line + sep + 1, " \t\r\n\v\f"), v1 = in_buf;
        while (v1 > v0 && isspace((unsigned char)line[v1 - 1])) v1--;
        if (v1 - v0 >= QR_META_MAX_STRING)
            return qr_fail(QR_ERR_FORMAT, "%s: MetaImage header line %d holds a %s of %s%zu characters (at most %d)", path,
                           lineno, fixed[k], runs_on(in_buf, text_len, v1) ? "more than " : "", v1 - v0,
                           QR_META_MAX_STRING - 1);
    }
    return QR_OK;
}

/* Read "key<sep>value" lines: NRRD (sep ':', header ends at an empty line or EOF, '#' comments,
 * "key:=value" pairs skipped) or MetaImage (sep '=', header ends after ElementDataFile). */
static qr_status read_text_header(const char *path, int nrrd, text_header *t) {
    memset(t, 0, sizeof *t);
    t->data_offset = -1;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return QR_OK; /* a pipe would block: no fields */
    FILE *f = fopen(path, "rb");
    if (!f) return QR_OK;
    char line[QR_HDR_LINE];
    int lineno = 0;
    qr_status s = QR_OK;
    size_t line_len, text_len;
    while ((line_len = header_line(f, line, sizeof line, &text_len)) > 0) {
        lineno++;
        if (lineno > 4096) break;
        if (nrrd && lineno == 1) continue; /* NRRD000x magic */
        size_t len = strlen(line);
        if (nrrd && (len == 0 || line[0] == '\n' || (line[0] == '\r' && line[1] == '\n'))) {
            t->data_offset = ftell(f);
            break;
        }
        if (nrrd && line[0] == '#') continue;
        /* teem, ITK's NRRD library, quotes a line it cannot parse in an error message formatted into
         * 1,024 bytes without a bound: a bad line of about 980 characters aborted the process. Only
         * comments, content and key:=value lines, which always parse, may be longer. */
        if (nrrd && text_len >= QR_NRRD_LINE_MAX && !strstr(line, ":=") && strncmp(line, "content:", 8) != 0) {
            s = qr_fail(QR_ERR_FORMAT,
                        "%s: NRRD header line %d has %zu characters (at most %d, except in comments, content and "
                        "key:=value lines)",
                        path, lineno, text_len, QR_NRRD_LINE_MAX - 1);
            break;
        }
        if (!nrrd && (s = check_meta_line(path, lineno, line, text_len)) != QR_OK) break;
        if (line_len >= QR_HDR_LINE_MAX) {
            s = qr_fail(QR_ERR_FORMAT, "%s: header line %d is longer than %d MiB (not a %s header)", path, lineno,
                        QR_HDR_LINE_MAX >> 20, nrrd ? "NRRD" : "MetaImage");
            break;
        }
        char *sep = strchr(line, nrrd ? ':' : '=');
        if (!sep) continue;
        if (nrrd && sep[1] == '=') continue; /* key/value pair */
        *sep = 0;
        char *val = sep + 1;
        trim(line);
        trim(val);
        /* a field given twice: the checks here would see the first value, ITK's readers use the
         * last (a MetaImage NDims of 3, then -3, made MetaIO read DimSize without end) */
        if (line[0] && field(t, line)) {
            s = qr_fail(QR_ERR_FORMAT, "%s: %s header line %d gives the field '%s' a second time", path,
                        nrrd ? "NRRD" : "MetaImage", lineno, line);
            break;
        }
        if (t->n < QR_HDR_FIELDS && strlen(line) < sizeof t->key[0]) {
            snprintf(t->key[t->n], sizeof t->key[0], "%s", line);
            t->val[t->n] = strdup(val);
            if (!t->val[t->n]) {
                s = qr_fail(QR_ERR_NOMEM, "out of memory reading %s", path);
                break;
            }
            t->n++;
        }
        if (!nrrd && !strcasecmp(line, "ElementDataFile")) {
            t->data_offset = ftell(f);
            break;
        }
    }
    fclose(f);
    if (s != QR_OK) text_header_free(t);
    return s;
}

/* A list of numbers, each finite (and > 0 if `positive`); `name` for the message. */
static qr_status check_numbers(const char *path, const char *name, const char *val, int expect, int positive) {
    double v[64];
    int n = parse_numbers(val, v, 64);
    if (n < 0) return qr_fail(QR_ERR_FORMAT, "%s: header field %s ('%s') is not a list of numbers", path, name, val);
    if (expect > 0 && n != expect)
        return qr_fail(QR_ERR_FORMAT, "%s: header field %s has %d values, %d expected", path, name, n, expect);
    for (int i = 0; i < n && i < 64; i++)
        if (!isfinite(v[i]) || (positive && !(v[i] > 0)))
            return qr_fail(QR_ERR_GEOMETRY, "%s: header field %s holds %g (must be %sfinite)", path, name, v[i],
                           positive ? "positive and " : "");
    return QR_OK;
}

static qr_status check_meta_header(const char *path) {
    text_header t;
    QR_TRY(read_text_header(path, 0, &t));
    qr_status s = QR_OK;
    const char *nd = field(&t, "NDims"), *dims = field(&t, "DimSize"), *file = field(&t, "ElementDataFile");
    double v[16];
    int ndims = 0;
    if (!nd || !dims || !file) {
        s = qr_fail(QR_ERR_FORMAT, "%s: MetaImage header lacks %s", path, !nd ? "NDims" : !dims ? "DimSize" : "ElementDataFile");
        goto done;
    }
    if (parse_numbers(nd, v, 1) != 1 || v[0] != floor(v[0]) || v[0] < 1 || v[0] > 10) {
        s = qr_fail(QR_ERR_FORMAT, "%s: MetaImage NDims is '%s' (must be 1 to 10)", path, nd);
        goto done;
    }
    ndims = (int)v[0];
    if (parse_numbers(dims, v, 16) != ndims) {
        s = qr_fail(QR_ERR_FORMAT, "%s: MetaImage DimSize '%s' does not hold NDims = %d sizes", path, dims, ndims);
        goto done;
    }
    double nvox = 1;
    for (int i = 0; i < ndims; i++) {
        if (!(v[i] >= 1) || v[i] != floor(v[i])) {
            s = qr_fail(QR_ERR_FORMAT, "%s: MetaImage DimSize '%s' holds a size below 1", path, dims);
            goto done;
        }
        nvox *= v[i];
    }
    if (nvox > (double)QR_MAX_VOXELS) {
        s = qr_fail(QR_ERR_FORMAT, "%s: declares %.0f voxels, more than the %lld read (header corrupt?)", path, nvox,
                    (long long)QR_MAX_VOXELS);
        goto done;
    }
    const char *channels = field(&t, "ElementNumberOfChannels"); /* ITK took -3 as 4294967293 */
    if (channels && (parse_numbers(channels, v, 1) != 1 || v[0] != floor(v[0]) || v[0] < 1)) {
        s = qr_fail(QR_ERR_FORMAT, "%s: MetaImage ElementNumberOfChannels is '%s' (must be a whole number from 1)", path,
                    channels);
        goto done;
    }
    static const char *const spacing_keys[] = {"ElementSpacing", "ElementSize"};
    for (int k = 0; k < 2 && s == QR_OK; k++) {
        const char *sp = field(&t, spacing_keys[k]);
        if (sp) s = check_numbers(path, spacing_keys[k], sp, ndims, 1);
    }
    static const char *const finite_keys[] = {"Offset", "Origin", "Position", "TransformMatrix", "Rotation",
                                              "Orientation", "CenterOfRotation"};
    for (int k = 0; k < 7 && s == QR_OK; k++) {
        const char *x = field(&t, finite_keys[k]);
        if (x) s = check_numbers(path, finite_keys[k], x, 0, 0);
    }
    if (s == QR_OK && (!strncasecmp(file, "LIST", 4) || strchr(file, '%') || strpbrk(file, " \t")))
        s = qr_fail(QR_ERR_UNSUPPORTED, "%s: MetaImage data spread over several files (ElementDataFile = %s) is not read",
                    path, file);
done:
    text_header_free(&t);
    return s;
}

static int is_nrrd(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char m[8] = {0};
    size_t n = fread(m, 1, 7, f);
    fclose(f);
    return n == 7 && !memcmp(m, "NRRD000", 7);
}

/* NRRD fields ITK reads without checking: spacings, space directions, space origin, data file. */
static qr_status check_nrrd_header(const char *path) {
    text_header t;
    QR_TRY(read_text_header(path, 1, &t));
    qr_status s = QR_OK;
    const char *kinds = field(&t, "kinds"), *sp = field(&t, "spacings"), *dirs = field(&t, "space directions");
    const char *origin = field(&t, "space origin"), *file = field(&t, "data file");
    if (!file) file = field(&t, "datafile");
    char kind[16][32];
    int nk = 0;
    if (kinds) {
        const char *p = kinds;
        int used;
        while (nk < 16 && sscanf(p, "%31s%n", kind[nk], &used) == 1) {
            nk++;
            p += used;
        }
    }
    /* axis a is a spatial one unless `kinds` says otherwise */
#define SPATIAL(a) ((a) >= nk || !strcasecmp(kind[a], "domain") || !strcasecmp(kind[a], "space") || !strcasecmp(kind[a], "time"))
    if (sp) {
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", sp);
        int a = 0;
        char *save = NULL;
        for (char *tok = strtok_r(buf, " \t", &save); tok && s == QR_OK; tok = strtok_r(NULL, " \t", &save), a++) {
            if (!SPATIAL(a)) continue;
            char *end;
            double x = strtod(tok, &end);
            if (end == tok || *end || !isfinite(x) || !(x > 0))
                s = qr_fail(QR_ERR_GEOMETRY, "%s: NRRD spacing of axis %d is '%s' (must be positive and finite)", path, a,
                            tok);
        }
    }
    if (dirs && s == QR_OK) {
        const char *p = dirs;
        int a = 0;
        while (*p && s == QR_OK) {
            while (*p == ' ' || *p == '\t') p++;
            if (!*p) break;
            if (!strncasecmp(p, "none", 4)) {
                p += 4;
                a++;
                continue;
            }
            const char *close = strchr(p, ')');
            if (*p != '(' || !close) {
                s = qr_fail(QR_ERR_FORMAT, "%s: NRRD space directions '%s' are malformed", path, dirs);
                break;
            }
            char vec[256];
            snprintf(vec, sizeof vec, "%.*s", (int)(close - p + 1), p);
            double v[8];
            int n = parse_numbers(vec, v, 8);
            double norm = 0;
            for (int i = 0; i < n && i < 8; i++) norm += v[i] * v[i];
            if (n < 1 || !isfinite(norm) || !(norm > 0))
                s = qr_fail(QR_ERR_GEOMETRY, "%s: NRRD space direction of axis %d %s is %s", path, a, vec,
                            n < 1 ? "malformed" : isfinite(norm) ? "zero" : "not finite");
            p = close + 1;
            a++;
        }
    }
    if (origin && s == QR_OK) s = check_numbers(path, "space origin", origin, 0, 0);
    if (file && s == QR_OK && (!strncasecmp(file, "LIST", 4) || strchr(file, '%') || strpbrk(file, " \t")))
        s = qr_fail(QR_ERR_UNSUPPORTED, "%s: NRRD data spread over several files (data file: %s) is not read", path, file);
#undef SPATIAL
    text_header_free(&t);
    return s;
}

/* A DICOM series folder: a pipe, device or socket among its files stops GDCM's scan of the folder
 * part-way (fewer slices read, without an error), so it is refused. */
static qr_status check_dicom_folder(const char *path) {
    DIR *d = opendir(path);
    if (!d) return QR_OK; /* the reader names it */
    qr_status s = QR_OK;
    struct dirent *e;
    while (s == QR_OK && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char file[QR_PATH_MAX];
        struct stat st;
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        if (stat(file, &st) != 0)
            s = qr_fail(QR_ERR_IO, "%s: %s in this DICOM folder cannot be reached (%s; a broken link?), which would stop "
                        "the reading of the series part-way", path, e->d_name, strerror(errno));
        else if (S_ISDIR(st.st_mode))
            continue; /* not read: the series is this folder's files */
        else if (!S_ISREG(st.st_mode))
            s = qr_fail(QR_ERR_IO, "%s: %s in this DICOM folder is not a regular file (a pipe, device or socket would "
                        "stop the reading of the series part-way)", path, e->d_name);
        else if (access(file, R_OK) != 0)
            s = qr_fail(QR_ERR_IO, "%s: %s in this DICOM folder cannot be read (%s): the series would be read without it",
                        path, e->d_name, strerror(errno));
    }
    closedir(d);
    return s;
}

qr_status qr_image_precheck(const char *path) {
    QR_TRY(check_regular(path, "the input", 1));
    if (qr_path_is_dir(path)) return check_dicom_folder(path);
    if (qr_path_has_suffix(path, ".nii") || qr_path_has_suffix(path, ".nii.gz")) return check_nifti(path, 0);
    if (qr_path_has_suffix(path, ".hdr") || qr_path_has_suffix(path, ".hdr.gz") || qr_path_has_suffix(path, ".img") ||
        qr_path_has_suffix(path, ".img.gz")) {
        QR_TRY(check_pair_files(path));
        return check_nifti(path, 1);
    }
    if (qr_path_has_suffix(path, ".mha") || qr_path_has_suffix(path, ".mhd")) return check_meta_header(path);
    if (is_nrrd(path)) return check_nrrd_header(path);
    return QR_OK;
}

/* ---- voxel data ---------------------------------------------------------------------------- */

/* Decompress zlib or gzip data from `f` at its position, reading at most `limit` bytes of input
 * (-1: to the end of the file): whole streams (their checksums verified), one after another as
 * gzip members may be, until one ends with at least `need` bytes out. */
static qr_status inflate_count(FILE *f, const char *where, int64_t limit, int64_t need) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 32) != Z_OK) return qr_fail(QR_ERR_NOMEM, "out of memory checking %s", where);
    enum { CHUNK = 1 << 16 };
    unsigned char *in = malloc(CHUNK), *out = malloc(CHUNK);
    qr_status s = QR_OK;
    int64_t produced = 0, consumed = 0;
    int ret = Z_OK, eof = 0;
    if (!in || !out) s = qr_fail(QR_ERR_NOMEM, "out of memory checking %s", where);
    while (s == QR_OK && !(ret == Z_STREAM_END && produced >= need)) {
        if (z.avail_in == 0 && !eof) {
            size_t want = CHUNK;
            if (limit >= 0 && (int64_t)want > limit - consumed) want = (size_t)(limit - consumed);
            size_t got = want ? fread(in, 1, want, f) : 0;
            consumed += (int64_t)got;
            z.next_in = in;
            z.avail_in = (uInt)got;
            eof = got == 0;
        }
        if (ret == Z_STREAM_END) { /* a further gzip member, or the end */
            if (z.avail_in == 0 && eof) break;
            inflateReset(&z);
        }
        if (z.avail_in == 0 && eof) break;
        z.next_out = out;
        z.avail_out = CHUNK;
        ret = inflate(&z, Z_NO_FLUSH);
        produced += CHUNK - z.avail_out;
        if (ret != Z_OK && ret != Z_STREAM_END && !(ret == Z_BUF_ERROR && z.avail_in == 0))
            s = qr_fail(QR_ERR_FORMAT, "%s: compressed voxel data is corrupt (zlib: %s)", where,
                        z.msg ? z.msg : "invalid stream");
    }
    inflateEnd(&z);
    free(in);
    free(out);
    if (s == QR_OK && produced < need)
        s = qr_fail(QR_ERR_FORMAT, "%s: compressed voxel data is truncated (%lld of %lld bytes)", where,
                    (long long)produced, (long long)need);
    return s;
}

/* Text voxel data: numbers only, at least `nvox` of them. */
static qr_status scan_text(FILE *f, const char *where, int64_t nvox) {
    int64_t tokens = 0, offset = 0;
    int toklen = 0, c;
    while ((c = fgetc(f)) != EOF && tokens < nvox) {
        if (isspace(c) || c == ',') {
            if (toklen) tokens++;
            toklen = 0;
        } else if (isdigit(c) || strchr("+-.eEnNaAiIfF", c)) {
            if (++toklen > 64) break;
        } else {
            return qr_fail(QR_ERR_FORMAT, "%s: text voxel data holds the non-text byte 0x%02x at data offset %lld", where,
                           c, (long long)offset);
        }
        offset++;
    }
    if (toklen > 64)
        return qr_fail(QR_ERR_FORMAT, "%s: text voxel data holds a token longer than 64 characters at data offset %lld",
                       where, (long long)offset);
    if (toklen) tokens++;
    if (tokens < nvox)
        return qr_fail(QR_ERR_FORMAT, "%s: text voxel data truncated (%lld of %lld values)", where, (long long)tokens,
                       (long long)nvox);
    return QR_OK;
}

/* Skip `lines` lines from the position of `f`; 0 when the file ended first. */
static int skip_lines(FILE *f, long lines) {
    for (long i = 0; i < lines; i++) {
        int c;
        while ((c = fgetc(f)) != EOF && c != '\n') {
        }
        if (c == EOF) return 0;
    }
    return 1;
}

/* The voxel data of an NRRD (attached or detached) or MetaImage file against the header. */
static qr_status check_text_format_data(const char *path, int nrrd, int64_t nvox, int64_t need) {
    text_header t;
    QR_TRY(read_text_header(path, nrrd, &t));
    qr_status s = QR_OK;
    const char *file = field(&t, nrrd ? "data file" : "ElementDataFile");
    if (nrrd && !file) file = field(&t, "datafile");
    const char *enc = nrrd ? field(&t, "encoding") : NULL;
    const char *compressed = nrrd ? NULL : field(&t, "CompressedData");
    const char *csize = nrrd ? NULL : field(&t, "CompressedDataSize");
    const char *binary = nrrd ? NULL : field(&t, "BinaryData");
    const char *bskip = field(&t, nrrd ? "byte skip" : "HeaderSize"); /* MetaImage: in a separate file only */
    const char *lskip = nrrd ? field(&t, "line skip") : NULL;
    char data[QR_PATH_MAX];
    long start = 0;
    if (!file || (!nrrd && !strcasecmp(file, "LOCAL"))) {
        snprintf(data, sizeof data, "%s", path);
        start = t.data_offset;
        if (!nrrd) bskip = NULL;
    } else {
        qr_path_beside(path, file, data, sizeof data); /* too long: "" and reported missing */
    }
    const int is_gz = enc && (!strcasecmp(enc, "gzip") || !strcasecmp(enc, "gz"));
    const int is_bz = enc && (!strcasecmp(enc, "bzip2") || !strcasecmp(enc, "bz2"));
    const int is_text = enc ? (!strcasecmp(enc, "text") || !strcasecmp(enc, "txt") || !strcasecmp(enc, "ascii"))
                            : (binary && !strcasecmp(binary, "False"));
    const int is_hex = enc && !strcasecmp(enc, "hex");
    const int is_zlib = compressed && !strcasecmp(compressed, "True");
    FILE *f = NULL;
    int64_t fsize = file_size(data);
    if (start < 0) goto done; /* header without data section: ITK reports it */
    if (fsize < 0) {
        s = qr_fail(QR_ERR_IO, "%s: its voxel data file %s is missing", path, data);
        goto done;
    }
    if ((s = check_regular(data, "its voxel data file", 0)) != QR_OK) goto done;
    f = fopen(data, "rb");
    if (!f || fseek(f, start, SEEK_SET) != 0) {
        s = qr_fail(QR_ERR_IO, "%s: cannot read its voxel data file %s", path, data);
        goto done;
    }
    if (lskip && atol(lskip) > 0 && !skip_lines(f, atol(lskip))) {
        s = qr_fail(QR_ERR_FORMAT, "%s: voxel data truncated (fewer lines than 'line skip: %s')", data, lskip);
        goto done;
    }
    long skip = bskip ? atol(bskip) : 0;
    if (skip == -1 && !is_gz && !is_bz && !is_zlib && !is_text && !is_hex) { /* data at the end of the file */
        if (fsize < need)
            s = qr_fail(QR_ERR_FORMAT, "%s: voxel data truncated (file has %lld bytes, header declares %lld)", data,
                        (long long)fsize, (long long)need);
        goto done;
    }
    if (skip > 0 && (fseek(f, skip, SEEK_CUR) != 0 || (int64_t)ftell(f) > fsize)) { /* fseek passes the end */
        s = qr_fail(QR_ERR_FORMAT, "%s: voxel data truncated (shorter than its byte skip %ld)", data, skip);
        goto done;
    }
    const int64_t pos = (int64_t)ftell(f), have = fsize - pos;
    if (is_gz || is_bz) {
        unsigned char m[3] = {0};
        size_t n = fread(m, 1, 3, f);
        const int ok = is_gz ? (n >= 2 && m[0] == 0x1f && m[1] == 0x8b) : (n == 3 && !memcmp(m, "BZh", 3));
        if (!ok) {
            s = qr_fail(QR_ERR_FORMAT, "%s: header says the voxel data is %s-compressed, but it is not", data,
                        is_gz ? "gzip" : "bzip2");
            goto done;
        }
        fseek(f, pos, SEEK_SET);
        if (is_gz) s = inflate_count(f, data, -1, need);
    } else if (is_zlib) {
        double c[1];
        if (!csize || parse_numbers(csize, c, 1) != 1 || !(c[0] > 0)) {
            s = qr_fail(QR_ERR_FORMAT, "%s: CompressedData = True needs a positive CompressedDataSize", path);
        } else if (c[0] > (double)have) {
            s = qr_fail(QR_ERR_FORMAT, "%s: compressed voxel data truncated (file holds %lld bytes, header declares %.0f)",
                        data, (long long)have, c[0]);
        } else {
            s = inflate_count(f, data, (int64_t)c[0], need);
        }
    } else if (is_text) {
        s = scan_text(f, data, nvox);
    } else if (is_hex) {
        int64_t digits = 0;
        int ch;
        while (digits < 2 * need && (ch = fgetc(f)) != EOF) {
            if (isxdigit(ch)) digits++;
            else if (!isspace(ch)) {
                s = qr_fail(QR_ERR_FORMAT, "%s: hex voxel data holds the byte 0x%02x", data, ch);
                break;
            }
        }
        if (s == QR_OK && digits < 2 * need)
            s = qr_fail(QR_ERR_FORMAT, "%s: hex voxel data truncated (%lld of %lld bytes)", data, (long long)(digits / 2),
                        (long long)need);
    } else if (!enc || !strcasecmp(enc, "raw")) {
        if (have < need)
            s = qr_fail(QR_ERR_FORMAT, "%s: voxel data truncated (file holds %lld bytes, header declares %lld)", data,
                        (long long)have, (long long)need);
    }
done:
    if (f) fclose(f);
    text_header_free(&t);
    return s;
}

qr_status qr_image_check_data(const char *path, int64_t nvox, int64_t image_bytes) {
    if (nvox > QR_MAX_VOXELS)
        return qr_fail(QR_ERR_FORMAT, "%s: declares %lld voxels, more than the %lld read (header corrupt?)", path,
                       (long long)nvox, (long long)QR_MAX_VOXELS);
    if (qr_path_has_suffix(path, ".mha") || qr_path_has_suffix(path, ".mhd"))
        return check_text_format_data(path, 0, nvox, image_bytes);
    if (is_nrrd(path)) return check_text_format_data(path, 1, nvox, image_bytes);
    return QR_OK;
}

qr_status qr_image_data_file(const char *path, char *out, size_t outlen) {
    out[0] = 0;
    char hdr[QR_PATH_MAX], img[QR_PATH_MAX];
    if (nifti_pair_names(path, hdr, img, sizeof hdr)) { /* the file of the two that is not the path */
        const char *other = strcmp(hdr, path) != 0 ? hdr : img;
        if (strcmp(other, path) != 0 && strlen(other) < outlen) snprintf(out, outlen, "%s", other);
        return QR_OK;
    }
    const int nrrd = qr_path_has_suffix(path, ".nhdr") || qr_path_has_suffix(path, ".nrrd");
    if (!nrrd && !qr_path_has_suffix(path, ".mhd") && !qr_path_has_suffix(path, ".mha")) return QR_OK;
    text_header t;
    QR_TRY(read_text_header(path, nrrd, &t)); /* a missing file: no fields */
    const char *file = field(&t, nrrd ? "data file" : "ElementDataFile");
    if (nrrd && !file) file = field(&t, "datafile");
    /* attached data, or a list / pattern of files (not read: qr_image_precheck refuses it) */
    if (file && strcasecmp(file, "LOCAL") && strncasecmp(file, "LIST", 4) && !strchr(file, '%') && !strpbrk(file, " \t"))
        qr_path_beside(path, file, out, outlen);
    text_header_free(&t);
    return QR_OK;
}
