/* fuzz_util.c - see fuzz_util.h. */
#define _GNU_SOURCE
#include "fuzz_util.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/status.h"

static char g_dir[512];

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0) remove_tree(p);
    }
    closedir(d);
    rmdir(dir);
}

static void cleanup(void) {
    if (g_dir[0]) remove_tree(g_dir);
}

const char *fuzz_dir(void) {
    if (!g_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(g_dir, sizeof g_dir, "%s/qsmrim-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(g_dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(cleanup);
    }
    return g_dir;
}

const char *fuzz_path(const char *name) {
    static __thread char p[1024];
    snprintf(p, sizeof p, "%s/%s", fuzz_dir(), name);
    return p;
}

void fuzz_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

void fuzz_write_gz(const char *path, const void *data, size_t n) {
    gzFile g = gzopen(path, "wb1");
    if (!g || (n && gzwrite(g, data, (unsigned)n) != (int)n) || gzclose(g) != Z_OK) {
        fprintf(stderr, "%s: cannot write gzip\n", path);
        abort();
    }
}

char *fuzz_read(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0)
        if ((len += got) == cap) {
            char *grown = realloc(buf, (cap *= 2) + 1);
            if (!grown) free(buf);
            buf = grown;
        }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[len] = '\0';
    *n = len;
    return buf;
}

char *fuzz_text(const uint8_t *data, size_t n) {
    char *t = malloc(n + 1);
    if (!t) abort();
    if (n) memcpy(t, data, n);
    t[n] = '\0';
    return t;
}

void fuzz_broken(const char *file, int line, const char *cond, const char *fmt, ...) {
    fprintf(stderr, "fuzz: property broken at %s:%d (%s): ", file, line, cond);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void fuzz_require_message(int status, const char *call) {
    if (status == QR_OK) return;
    const char *m = qr_last_error();
    fuzz_require(m && m[0], "%s failed (%s) without a message", call, qr_status_name((qr_status)status));
}
