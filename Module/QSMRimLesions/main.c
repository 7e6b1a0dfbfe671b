/*
 * QSMRimLesions - the 3D Slicer command-line module: rim+ / rim- classification of MS lesions.
 *
 * Slicer runs it as  QSMRimLesions [--returnparameterfile F] --qsm Q.nrrd --flair F.nrrd
 *   --lesions L.nrrd --overlay O.nrrd --probability P.nrrd --table T.tsv [--model M.h5]
 *   [--device auto|cpu|cuda[:N]] [--precision fp32|tf32] [--threshold f1|sensitive|VALUE] [--flips]
 * (flag and value as separate arguments; see QSMRimLesions.xml, which `--xml` prints).
 * Progress goes to stdout as Slicer's <filter-...> tags, flushed line by line; errors go to
 * stderr as one line a Slicer user can act on; exit 0 = done, 1 = failed, 2 = bad arguments.
 * Every output is written to a temporary name and renamed into place: Slicer's Cancel (SIGSTOP
 * then SIGKILL) never leaves a partial output behind, and what such a killed run left in the output
 * folders (hidden temporary files, staging folders) is removed by the next run. SIGINT / SIGTERM
 * (a run stopped by hand) stop it between steps with exit 130 and no output changed.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fileutil.h"
#include "core/h5util.h"
#include "core/threads.h"
#include "io/outputs.h"
#include "nn/nn.h"
#include "predict/predict.h"

extern const char QSMRIM_LESIONS_XML[]; /* QSMRimLesions.xml, embedded at build time */

static const char *NAME = "QSMRimLesions";

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The share of the progress bar the classification takes; writing the outputs takes the rest. */
#define CLASSIFY_SHARE 0.95

static void stage_progress(double fraction, const char *stage, const char **last_stage) {
    if (stage && (!*last_stage || strcmp(*last_stage, stage) != 0)) {
        printf("<filter-comment> \"%s\" </filter-comment>\n", stage);
        *last_stage = stage;
    }
    printf("<filter-progress>%.4f</filter-progress>\n", fraction < 0 ? 0 : fraction > 1 ? 1 : fraction);
    fflush(stdout);
}

static void on_progress(double fraction, const char *stage, void *user) {
    stage_progress(CLASSIFY_SHARE * fraction, stage, user);
}

static void on_log(qr_log_level level, const char *msg, void *user) {
    (void)user;
    if (level < QR_LOG_NOTICE) return;
    flockfile(stderr); /* one whole line, also from the library's worker threads */
    fprintf(stderr, "%s: %s", NAME, level == QR_LOG_WARNING ? "warning: " : "");
    qr_fput_line_text(stderr, msg);
    fputc('\n', stderr);
    funlockfile(stderr);
}

static int fail(const char *msg) {
    fprintf(stderr, "%s: error: ", NAME);
    qr_fput_line_text(stderr, msg);
    fputc('\n', stderr);
    fflush(stdout);
    return 1;
}

static int usage_error(const char *msg) {
    fprintf(stderr, "%s: error: ", NAME);
    qr_fput_line_text(stderr, msg);
    fprintf(stderr, " (run '%s --help')\n", NAME);
    return 2;
}

/* SIGINT / SIGTERM: stop between steps; a signal again ends the run at once - unless it comes
 * within 250 ms of the first: `timeout` and job schedulers deliver one stop to the process and then
 * to its group (as Module/qsmrim/cli.c). clock_gettime is async-signal-safe. */
static volatile sig_atomic_t g_stop = 0;
static long long g_stop_ns = 0;

static long long mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void on_stop(int sig) {
    if (g_stop) {
        if (mono_ns() - g_stop_ns < 250000000LL) return; /* the same stop, delivered again */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_stop_ns = mono_ns();
    g_stop = 1;
}

static const char *HELP =
    "usage: QSMRimLesions --qsm QSM --flair FLAIR --lesions LESIONS [--overlay OVERLAY]\n"
    "                     [--probability PROB] [--table TABLE.tsv] [--model MODEL.h5]\n"
    "                     [--device auto|cpu|cuda[:N]] [--precision fp32|tf32] [--threshold f1|sensitive|VALUE]\n"
    "                     [--flips]\n"
    "                     [--returnparameterfile FILE] [--processinformationaddress ADDR] [--xml]\n"
    "\n"
    "3D Slicer CLI module: classifies each MS lesion as rim+ (paramagnetic rim on QSM) or rim-.\n"
    "The same job as 'qsmrim predict'; Slicer builds this command line from QSMRimLesions.xml.\n"
    "Outputs: OVERLAY label map (1 rim-, 2 review, 3 rim+), PROB (each lesion's P(rim+)),\n"
    "TABLE (lesions sorted by probability); at least one of them or --returnparameterfile.\n"
    "--flips: three passes per lesion (as it is, mirrored along each in-plane axis): the mean is the\n"
    "probability and the standard deviation the table's uncertainty (0 without).\n"
    "--threshold VALUE: rim+ at or above VALUE, review from the high-sensitivity threshold up to it.\n"
    "Return parameter: numberOfRimPositive.\n"
    "--processinformationaddress (the shared-memory progress address older Slicer versions pass) is\n"
    "accepted and ignored: progress goes to stdout as Slicer's <filter-progress> tags.\n";

/* name = value lines, written completely and left pending (Slicer reads them after exit code 0),
 * to be put in place together with the image and table outputs. */
static qr_status write_return_parameters(const char *path, long n_rim_positive, qr_pending *out) {
    qr_atomic f;
    QR_TRY(qr_atomic_open(&f, path));
    fprintf(f.fp, "numberOfRimPositive = %ld\n", n_rim_positive);
    return qr_atomic_finish(&f, out);
}

int main(int argc, char **argv) {
    signal(SIGXFSZ, SIG_IGN); /* writes past a file-size limit fail with EFBIG and are reported */
    qr_h5_skip_exit_cleanup();
    qr_threads_prepare(0); /* the worker threads, while their stacks fit (threads.h) */
    static const struct option opts[] = {
        {"qsm", required_argument, 0, 'q'},       {"flair", required_argument, 0, 'f'},
        {"lesions", required_argument, 0, 'l'},   {"overlay", required_argument, 0, 'o'},
        {"probability", required_argument, 0, 'p'}, {"table", required_argument, 0, 't'},
        {"model", required_argument, 0, 'm'},     {"device", required_argument, 0, 'd'},
        {"precision", required_argument, 0, 'R'},
        {"threshold", required_argument, 0, 'T'}, {"returnparameterfile", required_argument, 0, 'r'},
        {"flips", no_argument, 0, 'F'},
        {"processinformationaddress", required_argument, 0, 'P'},
        {"xml", no_argument, 0, 'x'},             {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *qsm = NULL, *flair = NULL, *lesions = NULL, *overlay = NULL, *prob = NULL, *table = NULL,
               *retfile = NULL;
    qr_predict_options o = qr_predict_options_default();
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'q': qsm = optarg; break;
        case 'f': flair = optarg; break;
        case 'l': lesions = optarg; break;
        case 'o': overlay = optarg; break;
        case 'p': prob = optarg; break;
        case 't': table = optarg; break;
        case 'm': o.model_path = optarg[0] ? optarg : NULL; break;
        case 'd': {
            qr_nn_device dev;
            if (qr_nn_device_parse(optarg, &dev) != QR_OK) {
                char msg[512];
                snprintf(msg, sizeof msg, "--device: %s", qr_last_error());
                return usage_error(msg);
            }
            o.device = optarg;
            break;
        }
        case 'R': {
            qr_nn_precision prec;
            if (qr_nn_precision_parse(optarg, &prec) != QR_OK) return usage_error(qr_last_error());
            qr_nn_set_default_precision(prec);
            break;
        }
        case 'r': retfile = optarg; break;
        case 'F': o.test_time_flips = 1; break;
        case 'P': break; /* shared-memory progress of old Slicer versions: stdout tags are used */
        case 'T':
            if (qr_threshold_parse(optarg, &o.threshold_mode, &o.threshold_value) != QR_OK)
                return usage_error(qr_last_error());
            break;
        case 'x': fputs(QSMRIM_LESIONS_XML, stdout); return 0;
        case 'h': fputs(HELP, stdout); return 0;
        default: {
            char msg[256];
            snprintf(msg, sizeof msg, "unknown or incomplete option '%s'", argv[optind - 1]);
            return usage_error(msg);
        }
        }
    }
    if (optind < argc) {
        char msg[256];
        snprintf(msg, sizeof msg, "unexpected argument '%s'", argv[optind]);
        return usage_error(msg);
    }
    if (!qsm || !flair || !lesions) {
        char msg[160];
        snprintf(msg, sizeof msg, "no %s%s%s%s%s input given: the QSM, FLAIR and Lesions inputs are all required",
                 !qsm ? "QSM" : "", !qsm && (!flair || !lesions) ? (!flair && !lesions ? ", " : " or ") : "",
                 !flair ? "FLAIR" : "", !flair && !lesions ? " or " : "", !lesions ? "Lesions" : "");
        return usage_error(msg);
    }
    if (!overlay && !prob && !table && !retfile) return usage_error("no output selected");

    /* outputs checked before minutes of work: folders writable, none of them an input or another */
    const qr_io_path outs[4] = {{overlay, "the Overlay output", 1, 0},
                                {prob, "the Probability output", 1, 0},
                                {table, "the Table output", 0, 0},
                                {retfile, "the return parameter file", 0, 0}};
    if (qr_predict_outputs_check(qsm, flair, lesions, o.model_path, outs, 4) != QR_OK) return fail(qr_last_error());
    qr_outputs_remove_leftovers(outs, 4);
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);
    o.cancel = &g_stop;

    qr_set_log_sink(on_log, NULL);
    double t0 = now_s();
    printf("<filter-start><filter-name>%s</filter-name><filter-comment> \"Classifying lesions\" </filter-comment></filter-start>\n",
           NAME);
    fflush(stdout);
    const char *last_stage = NULL;
    o.progress = on_progress;
    o.progress_user = &last_stage;
    qr_prediction p;
    const qr_status ps = qr_predict_files(qsm, flair, lesions, &o, &p);
    if (ps != QR_OK) {
        fail(ps == QR_ERR_CANCELLED ? "stopped; no output was changed" : qr_last_error());
        return ps == QR_ERR_CANCELLED ? 130 : 1;
    }
    stage_progress(CLASSIFY_SHARE, "Writing outputs", &last_stage);
    /* every output, the return parameters included, written before any replaces an old one */
    qr_pending pending[4];
    memset(pending, 0, sizeof pending);
    const long npos = (long)p.n_rim_positive;
    qr_status s = qr_prediction_write_pending(&p, overlay, prob, table, pending);
    if (s == QR_OK && retfile) s = write_return_parameters(retfile, npos, &pending[3]);
    if (s == QR_OK && QR_CANCELLED(&g_stop)) s = qr_fail(QR_ERR_CANCELLED, "stopped; no output was changed");
    if (s == QR_OK) s = qr_pending_commit_all(pending, 4);
    else qr_pending_abort_all(pending, 4);
    if (s != QR_OK) {
        qr_prediction_free(&p);
        fail(qr_last_error());
        return s == QR_ERR_CANCELLED ? 130 : 1;
    }
    fprintf(stderr, "%s: %lld lesions, %ld rim+, %lld to review (model %s, device %s)\n", NAME, (long long)p.n, npos,
            (long long)p.n_review, p.model_used, p.device_used);
    qr_prediction_free(&p);
    stage_progress(1.0, "Done", &last_stage);
    printf("<filter-end><filter-name>%s</filter-name><filter-time>%.2f</filter-time></filter-end>\n", NAME, now_s() - t0);
    fflush(stdout);
    return 0;
}
