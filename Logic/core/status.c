/* status.c - thread-local last-error message, log sink and invariant callback. */
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QR_ERRMSG_MAX 8192 /* room for a message naming a file of the longest path (QR_PATH_MAX) */

static _Thread_local char g_errmsg[QR_ERRMSG_MAX];
static _Thread_local int g_oom_noted;

static const char *const g_status_names[QR_STATUS_COUNT] = {
    "ok",       "io",        "format", "geometry", "invalid-argument", "out-of-memory", "unsupported",
    "nonfinite", "empty",    "model",  "device",   "cancelled",        "internal",
};

const char *qr_status_name(qr_status s) {
    if ((int)s < 0 || s >= QR_STATUS_COUNT) return "unknown";
    return g_status_names[s];
}

const char *qr_last_error(void) { return g_errmsg; }

void qr_clear_error(void) {
    g_errmsg[0] = '\0';
    g_oom_noted = 0;
}

void qr_note_out_of_memory(void) { g_oom_noted = 1; }

int qr_memory_short(size_t bytes) {
    void *volatile p = malloc(bytes); /* volatile: the pair is not optimised away */
    const int shortage = p == NULL;
    free(p);
    return shortage;
}

qr_status qr_vfail(qr_status s, const char *fmt, va_list ap) {
    vsnprintf(g_errmsg, sizeof g_errmsg, fmt, ap);
    if (g_oom_noted && s != QR_OK && s != QR_ERR_CANCELLED) {
        g_oom_noted = 0;
        const size_t n = strlen(g_errmsg);
        if (!strstr(g_errmsg, "out of memory") && n + 16 < sizeof g_errmsg) memcpy(g_errmsg + n, ": out of memory", 16);
        s = QR_ERR_NOMEM;
    }
    return s;
}

qr_status qr_fail(qr_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    s = qr_vfail(s, fmt, ap);
    va_end(ap);
    return s;
}

qr_status qr_fail_context(qr_status s, const char *fmt, ...) {
    char prev[QR_ERRMSG_MAX];
    char ctx[QR_ERRMSG_MAX];
    memcpy(prev, g_errmsg, sizeof prev);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    /* ctx and prev are each at most QR_ERRMSG_MAX-1 long; the joined message is cut to fit */
    size_t n = strlen(ctx);
    memcpy(g_errmsg, ctx, n + 1);
    if (prev[0] && n + 2 < sizeof g_errmsg) {
        memcpy(g_errmsg + n, ": ", 3);
        size_t room = sizeof g_errmsg - (n + 2) - 1, m = strlen(prev);
        if (m > room) m = room;
        memcpy(g_errmsg + n + 2, prev, m);
        g_errmsg[n + 2 + m] = '\0';
    }
    return s;
}

static qr_log_sink g_sink = NULL;
static void *g_sink_user = NULL;

void qr_set_log_sink(qr_log_sink sink, void *user) {
    g_sink = sink;
    g_sink_user = user;
}

void qr_log(qr_log_level level, const char *fmt, ...) {
    if (!g_sink) return;
    char msg[QR_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g_sink(level, msg, g_sink_user);
}

static void default_abort(const char *file, int line, const char *expr) {
    fprintf(stderr, "qsmrim: internal invariant failed at %s:%d: %s\n", file, line, expr);
    abort();
}

static qr_abort_callback g_abort_cb = default_abort;

void qr_set_abort_callback(qr_abort_callback cb) { g_abort_cb = cb ? cb : default_abort; }

void qr_assert_failed(const char *file, int line, const char *expr) {
    g_abort_cb(file, line, expr);
    abort(); /* a callback that returned: the code after the check must not run */
}

void qr_fput_line_text(FILE *f, const char *s) {
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c >= 0x20 && *c != 0x7f) fputc(*c, f);
        else if (*c == '\n') fputs("\\n", f);
        else if (*c == '\r') fputs("\\r", f);
        else if (*c == '\t') fputs("\\t", f);
        else fprintf(f, "\\x%02x", *c);
    }
}
