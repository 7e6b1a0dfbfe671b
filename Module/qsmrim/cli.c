/* cli.c - shared command-line plumbing: messages, exit codes, number parsing, progress, Ctrl-C. */
#define _GNU_SOURCE
#include "cli.h"

#include "core/h5util.h"
#include "core/threads.h"
#include "nn/nn.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *g_cmd = "";
static int g_quiet = 0;
volatile sig_atomic_t cli_interrupted = 0;

static char g_context[320] = "";

/* Message text onto stderr as one line: a control character (a newline in a file name) is written
 * as \n, \r, \t or \xNN, so an error stays the one line it is meant to be. */
static void put_text(const char *s) { qr_fput_line_text(stderr, s); }

/* The CPU-fallback notice of device auto, held back until the run prints anything else on stderr
 * (then it comes first) or succeeds: a run that fails before that prints only its error line,
 * the one line the command-line contract promises. */
static char g_held[1280] = "";

static void show_held(void) {
    if (!g_held[0]) return;
    put_text(g_held);
    fputc('\n', stderr);
    g_held[0] = '\0';
}

void cli_put_line(const char *text) {
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) n--;
    char *copy = strndup(text, n);
    put_text(copy ? copy : text);
    free(copy);
    fputc('\n', stderr);
}

/* Called from the library's worker threads too (status.h): stderr's lock keeps each line whole
 * and guards the held notice. */
static void print_log(qr_log_level level, const char *msg, void *user) {
    (void)user;
    if (g_quiet && level < QR_LOG_WARNING) return;
    if (level == QR_LOG_DEBUG) return;
    flockfile(stderr);
    if (level <= QR_LOG_NOTICE && !strncmp(msg, QR_NN_CPU_FALLBACK_NOTICE, strlen(QR_NN_CPU_FALLBACK_NOTICE)) &&
        !g_held[0]) {
        snprintf(g_held, sizeof g_held, "qsmrim %s: %s%s%s", g_cmd, g_context, g_context[0] ? ": " : "", msg);
    } else {
        show_held();
        fprintf(stderr, "qsmrim %s: %s", g_cmd, level == QR_LOG_WARNING ? "warning: " : "");
        put_text(g_context);
        if (g_context[0]) fputs(": ", stderr);
        put_text(msg);
        fputc('\n', stderr);
    }
    funlockfile(stderr);
}

void cli_set_context(const char *context) { snprintf(g_context, sizeof g_context, "%s", context ? context : ""); }

void cli_begin(const char *command) {
    g_cmd = command;
    qr_set_log_sink(print_log, NULL);
    /* Past a file-size limit (ulimit -f) a write fails with EFBIG, which the writers report and
     * recover from; the default action of SIGXFSZ would end the process without a word. */
    signal(SIGXFSZ, SIG_IGN);
    qr_h5_skip_exit_cleanup(); /* and a failed HDF5 write must not crash the exit */
    qr_threads_prepare(0);      /* the worker threads, while their stacks fit (threads.h) */
}

const char *cli_command(void) { return g_cmd; }

int cli_end(int exit_code) {
    if (exit_code == CLI_EXIT_OK) show_held();
    g_held[0] = '\0';
    /* the results some commands print (predict's lesions=N rim_positive=K review=R) must not be
     * lost silently: a full disk or /dev/full behind stdout is a failure */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "qsmrim %s: error: cannot write the standard output: %s\n", g_cmd, strerror(errno ? errno : EIO));
        if (exit_code == CLI_EXIT_OK) exit_code = CLI_EXIT_FAIL;
    }
    return exit_code;
}

void cli_set_quiet(int quiet) { g_quiet = quiet; }

int cli_fail(qr_status s) { return cli_fail_hint(s, NULL); }

int cli_fail_hint(qr_status s, const char *hint) {
    const char *msg = qr_last_error();
    fprintf(stderr, "qsmrim %s: error: ", g_cmd);
    put_text(msg && *msg ? msg : qr_status_name(s));
    if (hint) {
        fputs("; ", stderr);
        put_text(hint);
    }
    fputc('\n', stderr);
    if (s == QR_ERR_CANCELLED) return CLI_EXIT_INTERRUPTED;
    return s == QR_OK ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int cli_usage(const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "qsmrim %s: ", g_cmd);
    put_text(msg);
    fprintf(stderr, " (see 'qsmrim %s --help')\n", g_cmd);
    return CLI_EXIT_USAGE;
}

void cli_notice(const char *fmt, ...) {
    if (g_quiet) return;
    show_held();
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "qsmrim %s: ", g_cmd);
    put_text(msg);
    fputc('\n', stderr);
}

int cli_parse_double(const char *opt, const char *s, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!s[0] || *end || errno || !isfinite(v)) return cli_usage("%s expects a number, got '%s'", opt, s);
    *out = v;
    return 0;
}

int cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!s[0] || *end || errno) return cli_usage("%s expects an integer, got '%s'", opt, s);
    if (v < lo || v > hi) return cli_usage("%s must be between %ld and %ld, got %ld", opt, lo, hi, v);
    *out = v;
    return 0;
}

int cli_parse_connectivity(const char *s, long *out) {
    if (cli_parse_int("--connectivity", s, LONG_MIN, LONG_MAX, out)) return CLI_EXIT_USAGE;
    if (*out != 6 && *out != 26) return cli_usage("--connectivity must be 6 or 26, got %ld", *out);
    return 0;
}

int cli_set_precision(const char *text) {
    qr_nn_precision p;
    if (qr_nn_precision_parse(text, &p) != QR_OK) return cli_usage("--precision: %s", qr_last_error());
    qr_nn_set_default_precision(p);
    return 0;
}

int cli_check_device(const char *text) {
    qr_nn_device d;
    if (qr_nn_device_parse(text, &d) != QR_OK) return cli_usage("--device: %s", qr_last_error());
    return 0;
}

const char *cli_resolve_device(const char *text, int threads) {
    qr_nn_context_options co = qr_nn_context_options_default();
    if (qr_nn_device_parse(text, &co.device) != QR_OK || co.device.kind != QR_NN_DEVICE_AUTO) return text;
    co.threads = threads;
    qr_nn_context *ctx = NULL;
    if (qr_nn_context_create(&co, &ctx) != QR_OK) {
        qr_clear_error();
        return text;
    }
    const int cpu = qr_nn_context_device(ctx) == QR_NN_DEVICE_CPU;
    qr_nn_context_free(ctx);
    return cpu ? "cpu" : text;
}

/* The notice of the first Ctrl-C, made when the handler is installed (a handler may only write). */
static char g_stop_msg[256];
static size_t g_stop_len = 0;

/* When the first stop signal came (CLOCK_MONOTONIC, ns). One stop is often delivered twice within
 * microseconds: `timeout` and job schedulers signal the process and then its process group; only
 * a second signal after REPEAT_NS is a second Ctrl-C. */
#define REPEAT_NS 250000000LL
static volatile long long g_first_stop_ns = 0;

static long long monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* async-signal-safe */
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void on_interrupt(int sig) {
    if (QR_CANCELLED(&cli_interrupted)) {
        if (monotonic_ns() - g_first_stop_ns < REPEAT_NS) return; /* the same stop, delivered again */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_first_stop_ns = monotonic_ns();
    QR_CANCEL(&cli_interrupted);
    if (g_stop_len) {
        ssize_t w = write(STDERR_FILENO, g_stop_msg, g_stop_len);
        (void)w;
    }
}

void cli_install_interrupt(void) {
    /* a notice like the others (none when quiet); on a terminal it first ends the progress line
     * drawn in place */
    const int n = g_quiet ? 0
                          : snprintf(g_stop_msg, sizeof g_stop_msg,
                                     "%sqsmrim %s: stopping after the current step (press Ctrl-C again to stop at once)\n",
                                     isatty(STDERR_FILENO) ? "\n" : "", g_cmd);
    g_stop_len = n > 0 && (size_t)n < sizeof g_stop_msg ? (size_t)n : 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_prefer_passive_omp_waiting(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv - 1); /* returns only on failure: then run as we are */
}

void cli_progress_step(const char *label, int64_t done, int64_t total) {
    if (done >= total)
        cli_progress_end(label, total);
    else
        cli_progress(label, done, total);
}

void cli_load_progress(const char *stage, int64_t done, int64_t total, void *user) {
    (void)user;
    cli_progress_step(stage, done, total);
}

double cli_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double cli_sort_median(double *v, long n) {
    if (n <= 0) return 0.0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void fmt_duration(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

static double g_prog_start = -1, g_prog_last = -1;
static const char *g_prog_label = NULL;
/* the count when the timing started (a resumed run starts part-way: the ETA is taken from the rate
 * seen since), and the last count and total seen (a lower count or another total: a new job) */
static int64_t g_prog_done0 = 0, g_prog_prev = -1, g_prog_total = -1;

void cli_progress(const char *label, int64_t done, int64_t total) {
    if (g_quiet) return;
    double now = cli_now();
    if (g_prog_label != label || g_prog_start < 0 || done < g_prog_prev || total != g_prog_total) {
        g_prog_label = label;
        g_prog_start = now;
        g_prog_last = -1;
        g_prog_done0 = done;
    }
    g_prog_prev = done;
    g_prog_total = total;
    int tty = isatty(STDERR_FILENO);
    /* a terminal line is redrawn 5 times a second, a log gets a line every 5 s */
    if (g_prog_last >= 0 && now - g_prog_last < (tty ? 0.2 : 5.0)) return;
    g_prog_last = now;
    show_held();
    double el = now - g_prog_start;
    double eta = done > g_prog_done0 ? el * (double)(total - done) / (double)(done - g_prog_done0) : -1;
    char e1[32], e2[32];
    fmt_duration(el, e1, sizeof e1);
    fmt_duration(eta, e2, sizeof e2);
    double pct = total > 0 ? 100.0 * (double)done / (double)total : 0;
    fprintf(stderr, "%s%s %lld/%lld  %5.1f%%  elapsed %s  ETA %s%s", tty ? "\r" : "", label, (long long)done,
            (long long)total, pct, e1, e2, tty ? "   " : "\n");
    fflush(stderr);
}

void cli_progress_end(const char *label, int64_t total) {
    if (g_quiet) return;
    show_held();
    double el = g_prog_start >= 0 ? cli_now() - g_prog_start : 0;
    char e1[32];
    fmt_duration(el, e1, sizeof e1);
    fprintf(stderr, "%s%s %lld/%lld  done in %s\n", isatty(STDERR_FILENO) ? "\r" : "", label, (long long)total,
            (long long)total, e1);
    g_prog_start = -1;
    g_prog_label = NULL;
    g_prog_prev = g_prog_total = -1;
}

void cli_command_line(int argc, char **argv, char *buf, size_t n) {
    if (n == 0) return;
    int used = snprintf(buf, n, "qsmrim");
    for (int k = 0; k < argc && used >= 0 && (size_t)used < n; k++) used += snprintf(buf + used, n - (size_t)used, " %s", argv[k]);
}
