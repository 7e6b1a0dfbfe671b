/* bench_predict.c - `qsmrim bench predict`: one subject end to end as `qsmrim predict` runs it
 * (read the three volumes, open the model, lesion table, radiomics, patches, network (one pass,
 * or test-time flips), decisions, write overlay, probability map and table), timed per pass, with the
 * process's peak resident memory. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "core/fileutil.h"
#include "predict/predict.h"

static const char *HELP =
    "usage: qsmrim bench predict --qsm QSM --flair FLAIR --lesions LESIONS [--model MODEL.h5]\n"
    "                            [--device D] [--precision P] [--threads T] [--repeat N] [--flips]\n"
    "\n"
    "Times `qsmrim predict` on one subject: every pass reads the three volumes, opens the model,\n"
    "classifies every lesion (one pass, as predict's default; --flips: three) and writes the overlay,\n"
    "the probability map (NRRD) and the table to a temporary folder, which is removed afterwards.\n"
    "N passes (default 5) after no warm-up: pass 1 is the cold start a user sees. Prints the wall\n"
    "and process CPU time of each pass, min / median / max, and the process's peak resident memory\n"
    "(the most any pass needed, model included); the last line is predict_s_per_subject=<median>.\n"
    "Default threads: all cores.\n";

int bench_predict(int argc, char **argv) {
    static const struct option opts[] = {{"qsm", required_argument, 0, 'q'},     {"flair", required_argument, 0, 'f'},
                                         {"lesions", required_argument, 0, 'l'}, {"model", required_argument, 0, 'm'},
                                         {"device", required_argument, 0, 'd'}, {"precision", required_argument, 0, CLI_OPT_PRECISION},  {"threads", required_argument, 0, 't'},
                                         {"repeat", required_argument, 0, 'r'},  {"no-flips", no_argument, 0, 'F'},
                                         {"flips", no_argument, 0, 'X'},
                                         {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    const char *qsm = NULL, *flair = NULL, *lesions = NULL;
    qr_predict_options o = qr_predict_options_default();
    long threads = 0, repeat = 5;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'q': qsm = optarg; break;
        case 'f': flair = optarg; break;
        case 'l': lesions = optarg; break;
        case 'm': o.model_path = optarg; break;
        case 'd':
            if (cli_check_device(optarg)) return CLI_EXIT_USAGE;
            o.device = optarg;
            break;
        case CLI_OPT_PRECISION:
            if (cli_set_precision(optarg)) return CLI_EXIT_USAGE;
            break;
        case 'F': o.test_time_flips = 0; break;
        case 'X': o.test_time_flips = 1; break;
        case 't':
            if (cli_parse_int("--threads", optarg, 1, 4096, &threads)) return CLI_EXIT_USAGE;
            break;
        case 'r':
            if (cli_parse_int("--repeat", optarg, 1, 100000, &repeat)) return CLI_EXIT_USAGE;
            break;
        case 'h': fputs(HELP, stdout); return CLI_EXIT_OK;
        default: return cli_usage("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("unexpected argument '%s'", argv[optind]);
    if (!qsm || !flair || !lesions) return cli_usage("--qsm, --flair and --lesions are required");
    o.threads = (int)threads;

    char dir[] = "/tmp/qsmrim-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        qr_fail(QR_ERR_IO, "cannot create a temporary folder");
        return cli_fail(QR_ERR_IO);
    }
    char ov[64], pm[64], tb[64];
    snprintf(ov, sizeof ov, "%s/overlay.nrrd", dir);
    snprintf(pm, sizeof pm, "%s/probability.nrrd", dir);
    snprintf(tb, sizeof tb, "%s/lesions.tsv", dir);
    double *wall = malloc(sizeof *wall * (size_t)repeat), *cpu = malloc(sizeof *cpu * (size_t)repeat);
    qr_status s = wall && cpu ? QR_OK : qr_fail(QR_ERR_NOMEM, "out of memory");
    int64_t n = 0;
    char device[32] = "";
    for (long pass = 0; pass < repeat && s == QR_OK; pass++) {
        double t0 = cli_now(), c0 = cli_cpu_now();
        qr_prediction p;
        s = qr_predict_files(qsm, flair, lesions, &o, &p);
        if (s != QR_OK) break;
        s = qr_prediction_write(&p, ov, pm, tb);
        n = p.n;
        snprintf(device, sizeof device, "%s", p.device_used);
        qr_prediction_free(&p);
        wall[pass] = cli_now() - t0;
        cpu[pass] = cli_cpu_now() - c0;
        printf("pass %ld wall_s=%.3f cpu_s=%.3f\n", pass + 1, wall[pass], cpu[pass]);
        fflush(stdout);
    }
    unlink(ov);
    unlink(pm);
    unlink(tb);
    rmdir(dir);
    if (s != QR_OK) {
        free(wall);
        free(cpu);
        return cli_fail(s);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double first = wall[0];
    double med = cli_sort_median(wall, repeat), cmed = cli_sort_median(cpu, repeat);
    printf("lesions=%lld device=%s threads=%ld flips=%d passes=%ld\n", (long long)n, device, threads,
           o.test_time_flips, repeat);
    printf("wall_s first=%.3f min=%.3f median=%.3f max=%.3f\n", first, wall[0], med, wall[repeat - 1]);
    printf("cpu_s min=%.3f median=%.3f max=%.3f (process CPU time, all threads)\n", cpu[0], cmed, cpu[repeat - 1]);
    printf("peak_rss_mb=%.1f\n", ru.ru_maxrss / 1024.0);
    printf("predict_s_per_subject=%.3f\n", med);
    free(wall);
    free(cpu);
    return CLI_EXIT_OK;
}
