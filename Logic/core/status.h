/*
 * status.h - status codes and the last-error message of the qsmrim core library.
 *
 * Two error tiers (as in ggml):
 *   - qr_status: what callers handle. Every fallible library function returns one; on failure it
 *     also stores a one-line, human-readable message (naming the input and the problem) that
 *     qr_last_error() returns. The message is thread-local: a worker thread's error does not
 *     overwrite the caller's.
 *   - QR_ASSERT: broken internal invariants (a bug, not bad input). It reports file and line
 *     through a hookable callback; the default callback prints and aborts. The library itself
 *     never calls exit().
 *
 * The library never prints unless asked: progress and notices go through qr_log(), whose sink
 * the front end installs (qr_set_log_sink). Without a sink, nothing is printed.
 */
#ifndef QR_STATUS_H
#define QR_STATUS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qr_status {
    QR_OK = 0,
    QR_ERR_IO,           /* a file cannot be opened, read, written or renamed */
    QR_ERR_FORMAT,       /* a file is corrupt, truncated, or not the expected format */
    QR_ERR_GEOMETRY,     /* volumes do not share or overlap a grid; 2D/4D input */
    QR_ERR_INVALID_ARG,  /* a parameter value or combination is not allowed */
    QR_ERR_NOMEM,        /* an allocation failed */
    QR_ERR_UNSUPPORTED,  /* a setting, format or feature that is not implemented */
    QR_ERR_NONFINITE,    /* NaN or Inf values where finite numbers are required */
    QR_ERR_EMPTY,        /* an empty region or table where content is required */
    QR_ERR_MODEL,        /* a model file does not fit the expected architecture */
    QR_ERR_DEVICE,       /* the compute device is missing, too small, or failed */
    QR_ERR_CANCELLED,    /* the caller asked to stop */
    QR_ERR_INTERNAL,     /* an unexpected failure inside a dependency */
    QR_STATUS_COUNT
} qr_status;

/* Short stable name of a status code ("io", "format", ...). */
const char *qr_status_name(qr_status s);

/* The message of the last failure on this thread ("" if none). The buffer is the thread's own and
 * is overwritten by its next failure: copy what is to be kept. A message may quote file names and
 * values as given, line breaks included; print it with qr_fput_line_text to keep it one line. */
const char *qr_last_error(void);

/* Store a formatted message for this thread and return `s` (so callers can write
 * `return qr_fail(QR_ERR_IO, "cannot open %s", path);`). */
qr_status qr_fail(qr_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
qr_status qr_vfail(qr_status s, const char *fmt, va_list ap);
/* An allocation failed where the failing call's site cannot tell (inside libhdf5, or in a helper
 * whose failure a caller reports as a damaged file): the next qr_fail on this thread is then
 * turned into QR_ERR_NOMEM with ": out of memory" added to its message (unless it says so). A
 * failure that is recovered from instead should call qr_clear_error, which drops the note. */
void qr_note_out_of_memory(void);
/* Whether `bytes` of memory cannot be had now (allocated and freed at once). For libraries that
 * fail badly when memory runs out inside them (libhdf5 1.10 crashes opening a file), asked before
 * calling them with plenty of room for what they will allocate. */
int qr_memory_short(size_t bytes);

/* Prefix the current message with context: "context: previous message". Returns `s`. */
qr_status qr_fail_context(qr_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clear this thread's message. */
void qr_clear_error(void);

/* Write `s` to `f` as one line of text: line breaks, tabs and other control characters are written
 * as \n, \r, \t and \xNN (a message that quotes a file name or a command-line value with a line
 * break in it still prints on one line). For front ends printing messages; writes no newline. */
void qr_fput_line_text(FILE *f, const char *s);

/* ---- logging: notices and progress, off unless a sink is installed ---- */
typedef enum qr_log_level { QR_LOG_DEBUG = 0, QR_LOG_INFO, QR_LOG_NOTICE, QR_LOG_WARNING } qr_log_level;
/* The sink is called from whichever thread logs, worker threads of the library included: it must
 * be safe to call from several threads at once. Install it (and the abort callback below) once,
 * before any other thread uses the library; changing it while they run is a data race. */
typedef void (*qr_log_sink)(qr_log_level level, const char *message, void *user);
void qr_set_log_sink(qr_log_sink sink, void *user);
void qr_log(qr_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- cancellation ---- */
/* Long work polls a flag (`const volatile sig_atomic_t *`, may be NULL) that a signal handler or
 * another thread sets to 1. Both sides go through these relaxed atomic accesses, so the flag is
 * shared between threads without a data race (a plain volatile int is not enough in C11 once
 * worker threads read it); on an int they compile to plain loads and stores, which signal handlers
 * may make. */
#define QR_CANCELLED(flag) ((flag) != NULL && __atomic_load_n((flag), __ATOMIC_RELAXED) != 0)
#define QR_CANCEL(flag) __atomic_store_n((flag), 1, __ATOMIC_RELAXED)

/* ---- invariants ---- */
/* A broken invariant (a bug, never bad input) calls the callback (by default: a line on stderr),
 * then abort(). A callback may end the process its own way or longjmp out; if it returns, abort()
 * follows, as the code after the check relies on it. */
typedef void (*qr_abort_callback)(const char *file, int line, const char *expr);
void qr_set_abort_callback(qr_abort_callback cb);
__attribute__((noreturn)) void qr_assert_failed(const char *file, int line, const char *expr);
#define QR_ASSERT(x) ((x) ? (void)0 : qr_assert_failed(__FILE__, __LINE__, #x))

/* Propagate a failure: evaluate an expression returning qr_status and return it if not QR_OK. */
#define QR_TRY(expr)                                                                                \
    do {                                                                                            \
        qr_status qr_try_s_ = (expr);                                                               \
        if (qr_try_s_ != QR_OK) return qr_try_s_;                                                   \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
