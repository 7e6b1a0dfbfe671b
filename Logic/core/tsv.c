/* tsv.c - a header-first tab-separated table reader. */
#include "tsv.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Count the cells of a line; with `cells`, also cut the line at its tabs and store up to `max`
 * cell pointers (counting alone leaves the line intact). */
static int split_tabs(char *line, char **cells, int max) {
    int n = 0;
    char *p = line;
    for (;;) {
        if (cells && n < max) cells[n] = p;
        n++;
        char *tab = strchr(p, '\t');
        if (!tab) break;
        if (cells) *tab = '\0';
        p = tab + 1;
    }
    return n;
}

qr_status qr_tsv_read(const char *path, qr_tsv *t) {
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "%s", path);
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return qr_fail(QR_ERR_IO, "%s: is %s, not a table file", path, S_ISDIR(st.st_mode) ? "a folder" : "not a regular file");
    FILE *f = fopen(path, "rb");
    if (!f) return qr_fail(QR_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return qr_fail(QR_ERR_IO, "%s: cannot read", path);
    }
    long size = ftell(f);
    rewind(f);
    if (size < 0) {
        fclose(f);
        return qr_fail(QR_ERR_IO, "%s: cannot read", path);
    }
    t->buf = malloc((size_t)size + 1);
    if (!t->buf) {
        fclose(f);
        return qr_fail(QR_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t got = fread(t->buf, 1, (size_t)size, f);
    fclose(f);
    t->buf[got] = '\0';
    const unsigned char *b = (const unsigned char *)t->buf;
    const int utf32 = got >= 4 && ((b[0] == 0xFF && b[1] == 0xFE && !b[2] && !b[3]) ||
                                   (!b[0] && !b[1] && b[2] == 0xFE && b[3] == 0xFF));
    if (utf32 || (got >= 2 && ((b[0] == 0xFF && b[1] == 0xFE) || (b[0] == 0xFE && b[1] == 0xFF)))) {
        qr_tsv_free(t);
        return qr_fail(QR_ERR_FORMAT, "%s: is %s text (a spreadsheet's \"Unicode text\" export): save it as UTF-8 "
                                      "tab-separated text", path, utf32 ? "UTF-32" : "UTF-16");
    }
    if (memchr(t->buf, '\0', got)) {
        qr_tsv_free(t);
        return qr_fail(QR_ERR_FORMAT, "%s: is a binary file, not a tab-separated table", path);
    }
    if (got >= 3 && !memcmp(t->buf, "\xEF\xBB\xBF", 3)) { /* UTF-8 byte-order mark (spreadsheet exports) */
        got -= 3;
        memmove(t->buf, t->buf + 3, got + 1);
    }

    /* Count lines for an upper bound of rows. A line ends at LF, CR LF or a lone CR (the line end
     * of old Mac OS, which some spreadsheets still write). */
    int64_t nlines = 1;
    for (size_t i = 0; i < got; i++) nlines += t->buf[i] == '\n' || t->buf[i] == '\r';
    char **lines = malloc((size_t)nlines * sizeof *lines);
    int64_t *linenos = malloc((size_t)nlines * sizeof *linenos);
    if (!lines || !linenos) {
        free(lines);
        free(linenos);
        qr_tsv_free(t);
        return qr_fail(QR_ERR_NOMEM, "%s: out of memory", path);
    }
    int64_t nl = 0, ln = 0;
    size_t ncomment = 0;
    char *p = t->buf;
    while (p && *p) {
        char *end = strpbrk(p, "\r\n"), *next = NULL;
        if (end) {
            next = end + (end[0] == '\r' && end[1] == '\n' ? 2 : 1);
            *end = '\0';
        }
        ln++;
        if (p[strspn(p, " \t")] == '\0') p[0] = '\0'; /* blanks only: an empty line */
        if (p[0] && p[0] != '#') {
            lines[nl] = p;
            linenos[nl] = ln;
            nl++;
        } else if (p[0] == '#') { /* kept for writers that carry comments through (review files) */
            if (!t->comments && (t->comments = malloc(got + 2)) == NULL) {
                free(lines);
                free(linenos);
                qr_tsv_free(t);
                return qr_fail(QR_ERR_NOMEM, "%s: out of memory", path);
            }
            const size_t len = strlen(p);
            memcpy(t->comments + ncomment, p, len);
            ncomment += len;
            t->comments[ncomment++] = '\n';
            t->comments[ncomment] = '\0';
        }
        p = next;
    }
    if (nl == 0) {
        free(lines);
        free(linenos);
        qr_tsv_free(t);
        return qr_fail(QR_ERR_FORMAT, "%s: is empty (a header line is required)", path);
    }
    /* header */
    int nh = 1;
    for (const char *c = lines[0]; *c; c++) nh += *c == '\t';
    t->header = malloc((size_t)nh * sizeof *t->header);
    t->cells = malloc((size_t)(nl - 1 > 0 ? nl - 1 : 1) * (size_t)nh * sizeof *t->cells);
    t->lineno = malloc((size_t)(nl > 1 ? nl - 1 : 1) * sizeof *t->lineno);
    if (!t->header || !t->cells || !t->lineno) {
        free(lines);
        free(linenos);
        qr_tsv_free(t);
        return qr_fail(QR_ERR_NOMEM, "%s: out of memory", path);
    }
    t->ncols = split_tabs(lines[0], t->header, nh);
    for (int c = 0; c < t->ncols; c++) { /* a column name with spaces around it (a hand-edited header) */
        char *h = t->header[c];
        while (*h == ' ') h++;
        size_t n = strlen(h);
        while (n > 0 && h[n - 1] == ' ') h[--n] = '\0';
        t->header[c] = h;
    }
    /* a name given twice ("rim" and "Rim", two raters' columns, a merge): which one a reader takes
     * would be a guess, so neither is. Unnamed columns are never looked up. */
    for (int c = 1; c < t->ncols; c++)
        for (int d = 0; d < c && t->header[c][0]; d++)
            if (!strcasecmp(t->header[c], t->header[d])) {
                qr_status s = qr_fail(QR_ERR_FORMAT,
                                      "%s: line %lld: the header names column '%s' twice (columns %d and %d); rename or "
                                      "remove one",
                                      path, (long long)linenos[0], t->header[c], d + 1, c + 1);
                free(lines);
                free(linenos);
                qr_tsv_free(t);
                return s;
            }
    for (int64_t r = 1; r < nl; r++) {
        int n = split_tabs(lines[r], t->cells + (r - 1) * nh, nh);
        if (n != nh) {
            qr_status s = qr_fail(QR_ERR_FORMAT, "%s: line %lld has %d tab-separated cells, the header has %d", path,
                                  (long long)linenos[r], n, nh);
            free(lines);
            free(linenos);
            qr_tsv_free(t);
            return s;
        }
        t->lineno[r - 1] = linenos[r];
    }
    t->nrows = nl - 1;
    free(lines);
    free(linenos);
    return QR_OK;
}

void qr_tsv_free(qr_tsv *t) {
    if (!t) return;
    free(t->header);
    free(t->cells);
    free(t->lineno);
    free(t->buf);
    free(t->comments);
    t->comments = NULL;
    t->header = t->cells = NULL;
    t->lineno = NULL;
    t->buf = NULL;
    t->ncols = 0;
    t->nrows = 0;
}

int qr_tsv_column(const qr_tsv *t, const char *name) {
    /* "QSM", "Lesion_ID" as spreadsheets and other tools write them; a name given twice, in any
     * capitals, is refused when the table is read, so the first match is the only one */
    for (int c = 0; c < t->ncols; c++)
        if (!strcasecmp(t->header[c], name)) return c;
    return -1;
}

void qr_tsv_header_note(const qr_tsv *t, char *buf, size_t n) {
    if (n == 0) return;
    char head[160] = "";
    size_t used = 0;
    int commas = 0, quotes = 0;
    for (int c = 0; c < t->ncols && used + 1 < sizeof head; c++) {
        const int k = snprintf(head + used, sizeof head - used, "%s%s", c ? "<tab>" : "", t->header[c]);
        used = k < 0 ? used : used + (size_t)k;
        commas |= strchr(t->header[c], ',') != NULL || strchr(t->header[c], ';') != NULL;
        quotes |= t->header[c][0] == '"' || t->header[c][0] == '\'';
    }
    if (used >= sizeof head) memcpy(head + sizeof head - 4, "...", 4);
    snprintf(buf, n, "; its header reads '%s'%s", head,
             t->ncols == 1 && commas ? " - one column: columns must be separated by tabs, not commas or semicolons"
             : quotes                ? " - names in quotes: save the table without quoting"
                                     : "");
}

qr_status qr_tsv_require(const qr_tsv *t, const char *name, int *col) {
    *col = qr_tsv_column(t, name);
    if (*col < 0) {
        char note[256];
        qr_tsv_header_note(t, note, sizeof note);
        return qr_fail(QR_ERR_FORMAT, "%s: has no column '%s'%s", t->path, name, note);
    }
    return QR_OK;
}

const char *qr_tsv_cell(const qr_tsv *t, int64_t row, int col) { return t->cells[row * t->ncols + col]; }

qr_status qr_tsv_get_double(const qr_tsv *t, int64_t row, int col, double *out) {
    const char *s = qr_tsv_cell(t, row, col);
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    while (end && end != s && *end == ' ') end++;
    if (!s[0] || *end || errno || !isfinite(v))
        return qr_fail(QR_ERR_FORMAT, "%s: line %lld, column '%s': '%s' is not a number", t->path,
                       (long long)t->lineno[row], t->header[col], s);
    *out = v;
    return QR_OK;
}

qr_status qr_tsv_get_int(const qr_tsv *t, int64_t row, int col, int64_t *out) {
    const char *s = qr_tsv_cell(t, row, col);
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end && end != s && *end == '.') /* "1.0", "3.00": how a table exported as floats writes integers */
        for (end++; *end == '0'; end++) {}
    while (end && end != s && *end == ' ') end++; /* " 1" and "1 " alike; " " stays no number */
    if (!s[0] || *end || errno)
        return qr_fail(QR_ERR_FORMAT, "%s: line %lld, column '%s': '%s' is not an integer", t->path,
                       (long long)t->lineno[row], t->header[col], s);
    *out = v;
    return QR_OK;
}

/* Length of the well-formed UTF-8 sequence starting at p, 0 when it is not one. */
static int utf8_sequence_length(const unsigned char *p) {
    if (p[0] < 0x80) return p[0] ? 1 : 0;
    int len;
    unsigned lo = 0x80, hi = 0xBF;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) len = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        len = 3;
        if (p[0] == 0xE0) lo = 0xA0;
        if (p[0] == 0xED) hi = 0x9F;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        len = 4;
        if (p[0] == 0xF0) lo = 0x90;
        if (p[0] == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (int k = 2; k < len; k++)
        if (p[k] < 0x80 || p[k] > 0xBF) return 0;
    return len;
}

void qr_utf8_copy(char *dst, size_t n, const char *src) {
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)(src ? src : ""); *p;) {
        unsigned char buf[4];
        int len = utf8_sequence_length(p);
        if (len) {
            memcpy(buf, p, (size_t)len);
            p += len;
        } else { /* not UTF-8: the byte as Latin-1 */
            buf[0] = (unsigned char)(0xC0 | (*p >> 6));
            buf[1] = (unsigned char)(0x80 | (*p & 0x3F));
            len = 2;
            p++;
        }
        if (o + (size_t)len >= n) break;
        memcpy(dst + o, buf, (size_t)len);
        o += (size_t)len;
    }
    dst[o] = 0;
}
