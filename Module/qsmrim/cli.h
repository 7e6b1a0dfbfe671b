/*
 * cli.h - what every qsmrim subcommand shares: messages, exit codes, option parsing helpers,
 * progress lines and Ctrl-C handling. The library (Logic/) never prints; this layer does.
 *
 * Exit codes (all subcommands):
 *   0  success
 *   1  the work failed: bad or missing input, an unreadable model, a failed write ...
 *   2  usage error: unknown option, missing required option, malformed value
 *   130 interrupted by Ctrl-C (outputs already committed are kept; nothing partial is left)
 * A failure prints exactly one line on stderr: "qsmrim <command>: error: <what and which input>".
 */
#ifndef QR_CLI_H
#define QR_CLI_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_INTERRUPTED 130

/* Name the running command for messages and install the notice printer (stderr). */
void cli_begin(const char *command);
/* The end of a command with its exit code: a notice still held back (the CPU fallback of device
 * auto, shown with the first other line of the run) is printed when the command succeeded. */
int cli_end(int exit_code);
/* A line of text from elsewhere (a helper program's error line) onto stderr as one line: control
 * characters inside it written as \n, \xNN (as every message of this tool). */
void cli_put_line(const char *text);
const char *cli_command(void);
/* Quiet mode: notices off (errors still print). */
void cli_set_quiet(int quiet);

/* Print "qsmrim <cmd>: error: <qr_last_error()>" and return the exit code for `s`. */
int cli_fail(qr_status s);
/* The same line with "; <hint>" at its end (what to do next: "add --resume to continue"). */
int cli_fail_hint(qr_status s, const char *hint);
/* Print a usage error "qsmrim <cmd>: <message> (see 'qsmrim <cmd> --help')" and return 2. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "qsmrim <argv...>" (argv[0] is the command name), cut to fit `n` bytes: the command line a
 * report records. */
void cli_command_line(int argc, char **argv, char *buf, size_t n);
/* What the library's notices and warnings are about, printed before them ("subject 'x'": a
 * command working through many); NULL or "" for none. */
void cli_set_context(const char *context);
/* Print a notice line "qsmrim <cmd>: <message>" on stderr (unless quiet). */
void cli_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parse numbers strictly (the whole string, finite); on error print a usage line. Return 0 on
 * success, CLI_EXIT_USAGE on failure. */
int cli_parse_double(const char *opt, const char *s, double *out);
int cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out);
/* --connectivity 6|26 (face or full neighbourhood); 0, or CLI_EXIT_USAGE after a usage line. */
int cli_parse_connectivity(const char *s, long *out);

/* --precision fp32|tf32 of the commands that run the network: the engine's default precision
 * for the whole command (nn.h, qr_nn_set_default_precision). 0, or CLI_EXIT_USAGE after a usage
 * line. CLI_OPT_PRECISION is its getopt_long code. */
#define CLI_OPT_PRECISION 0x150
int cli_set_precision(const char *text);
/* --device auto|cpu|cuda[:N] checked when the command line is read (a misspelt device is a usage
 * error, not a failure after the inputs are read). 0, or CLI_EXIT_USAGE after a usage line. */
int cli_check_device(const char *text);
/* --device auto of a command that creates a compute context per job (train, evaluate): decided
 * once, so the one-line notice of a fallback to the CPU is said once and not per job. Returns
 * "cpu" when auto runs on the CPU, otherwise `text` (a failing GPU still fails in the jobs). */
const char *cli_resolve_device(const char *text, int threads);

/* Ctrl-C: the first SIGINT/SIGTERM sets the flag that long work polls (and that library calls
 * receive as their cancel flag) and prints a notice unless quiet (install after cli_set_quiet);
 * a second one ends the process at once - unless it comes within a quarter of a second of the
 * first: `timeout` and job schedulers deliver one stop twice (to the process, then its group).
 * The command then ends with its one error line. */
void cli_install_interrupt(void);
extern volatile sig_atomic_t cli_interrupted;

/* Progress on stderr: "label  done/total  pct%  elapsed  ETA" - rewritten in place on a terminal,
 * one line every few seconds otherwise. cli_progress_end prints the final line. */
void cli_progress(const char *label, int64_t done, int64_t total);
void cli_progress_end(const char *label, int64_t total);
/* cli_progress, or cli_progress_end once done reaches total. */
void cli_progress_step(const char *label, int64_t done, int64_t total);
/* A loading-progress callback (qr_load_progress_fn) over cli_progress: stage, done, total. */
void cli_load_progress(const char *stage, int64_t done, int64_t total, void *user);

/* OpenMP threads that wait by spinning (libgomp's default) lose most of their time when the cores
 * are shared: a training step measured 15-20 ms per lesion with the default and 2.5-3.5 ms with
 * passive waiting on the 2-core project machine. libgomp reads OMP_WAIT_POLICY when the program
 * starts, so long-running commands set it (unless the user did) and start themselves again.
 * `argv` is the command's argv (argv[0] = the command name) inside main's argv. */
void cli_prefer_passive_omp_waiting(char **argv);

/* Seconds since an arbitrary start (monotonic clock). */
double cli_now(void);
/* CPU seconds of the whole process, all threads (meaningful on a shared machine). */
double cli_cpu_now(void);
/* Sort v[0..n) ascending (benchmark timings) and return its median. */
double cli_sort_median(double *v, long n);

#endif
