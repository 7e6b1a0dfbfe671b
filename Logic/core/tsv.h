/*
 * tsv.h - reading tab-separated tables with a header line (cohort manifests, annotation tables,
 * lesion tables, review files). Cells are kept as strings; typed getters parse on demand and name
 * the file, line and column when a value is malformed.
 *
 *   qr_tsv t;
 *   QR_TRY(qr_tsv_read("cohort.tsv", &t));
 *   int col = qr_tsv_column(&t, "qsm");          // -1 if absent
 *   for (int64_t r = 0; r < t.nrows; r++) puts(qr_tsv_cell(&t, r, col));
 *   qr_tsv_free(&t);
 *
 * Lines end at LF, CR LF or a lone CR (old Mac OS line ends). Empty lines (blanks only included)
 * and lines starting with '#' are skipped; a UTF-8 byte-order mark is dropped, and UTF-16 or UTF-32
 * text is QR_ERR_FORMAT saying so; spaces around a header name are dropped, and numbers may have spaces around
 * them (other cells are kept as written); a row with a different number of cells than the header is an error
 * (QR_ERR_FORMAT) naming its line, and so is a header that names a column twice (ignoring case: "rim" and
 * "Rim"; unnamed columns excepted).
 */
#ifndef QR_TSV_H
#define QR_TSV_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qr_tsv {
    char path[1024];   /* for messages */
    int ncols;         /* header cells */
    int64_t nrows;     /* data rows */
    char **header;     /* ncols names */
    char **cells;      /* nrows * ncols, row-major */
    int64_t *lineno;   /* source line of each row (1-based) */
    char *buf;         /* owns all strings */
    char *comments;    /* the '#' lines, each ending in '\n' (line ends as above), or NULL if none;
                          owned (a caller may take it and set it to NULL) */
} qr_tsv;

qr_status qr_tsv_read(const char *path, qr_tsv *t);
void qr_tsv_free(qr_tsv *t);
/* Column index of a header name, ignoring case ("QSM" for "qsm"), or -1. */
int qr_tsv_column(const qr_tsv *t, const char *name);
/* "; its header reads 'a<tab>b'" and, for a comma-separated or quoted header, what to change: the
 * end of a missing-column message. */
void qr_tsv_header_note(const qr_tsv *t, char *buf, size_t n);
/* Column index of a required header name; QR_ERR_FORMAT naming the file and quoting the header
 * if absent. */
qr_status qr_tsv_require(const qr_tsv *t, const char *name, int *col);
const char *qr_tsv_cell(const qr_tsv *t, int64_t row, int col);
qr_status qr_tsv_get_double(const qr_tsv *t, int64_t row, int col, double *out);
qr_status qr_tsv_get_int(const qr_tsv *t, int64_t row, int col, int64_t *out);

/* Text written into reports (JSON, HTML, TSV) must be UTF-8. Copy src into dst (size n > 0) as
 * valid UTF-8: well-formed sequences (RFC 3629: no overlong forms, no surrogates, at most
 * U+10FFFF) as they are, any other byte read as Latin-1 (two bytes); a character that does not
 * fit is left out whole. */
void qr_utf8_copy(char *dst, size_t n, const char *src);

#ifdef __cplusplus
}
#endif
#endif
