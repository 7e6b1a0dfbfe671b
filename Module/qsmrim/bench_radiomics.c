/* bench_radiomics.c - `qsmrim bench radiomics`: time per lesion of the radiomics engine, the way
 * `qsmrim features --lesions` runs it (lesion table once, then every lesion with its bounding box). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef QSMRIM_HAVE_OPENMP
#include <omp.h>
#endif

#include "bench.h"
#include "cli.h"
#include "io/imageio.h"
#include "lesions/lesions.h"
#include "radiomics/radiomics.h"

static const char *HELP =
    "usage: qsmrim bench radiomics --image IMG --lesions LABELS [--params P.yaml] [--threads T] [--repeat N]\n"
    "\n"
    "Times the radiomic features of every lesion of LABELS on IMG (default: the QSMRim-Net preset, 536\n"
    "features) with T threads (default 1: one core). One untimed pass warms up, then N passes (default\n"
    "5) are timed; each pass covers the lesion table and all lesions, as `qsmrim features --lesions`.\n"
    "Prints min / median / max over the passes of the wall time and of the process CPU time (which stays\n"
    "meaningful on a shared machine); the last line is radiomics_ms_per_lesion=<median wall time>.\n";

int bench_radiomics(int argc, char **argv) {
    static const struct option opts[] = {{"image", required_argument, 0, 'i'},   {"lesions", required_argument, 0, 'L'},
                                         {"params", required_argument, 0, 'p'},  {"threads", required_argument, 0, 't'},
                                         {"repeat", required_argument, 0, 'r'},  {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *image_path = NULL, *lesions_path = NULL, *params = NULL;
    long threads = 1, repeat = 5;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': image_path = optarg; break;
        case 'L': lesions_path = optarg; break;
        case 'p': params = optarg; break;
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
    if (!image_path || !lesions_path) return cli_usage("--image and --lesions are required");
#ifdef QSMRIM_HAVE_OPENMP
    omp_set_num_threads((int)threads);
#else
    if (threads > 1) cli_notice("built without OpenMP: running on 1 thread");
    threads = 1;
#endif
    qr_radiomics *r;
    qr_status s = qr_radiomics_load(params, &r);
    if (s != QR_OK) return cli_fail(s);
    qr_volume image, labels;
    qr_read_info info;
    if ((s = qr_image_read(image_path, QR_FLOAT32, &image, &info)) != QR_OK) return cli_fail(s);
    if ((s = qr_image_read(lesions_path, QR_INT32, &labels, NULL)) != QR_OK) return cli_fail(s);
    qr_radiomics_options ro = qr_radiomics_options_default();
    ro.precision = qr_radiomics_precision_of(info.component_type);
    int64_t nf = qr_radiomics_count(r);
    double *times = malloc(sizeof *times * (size_t)repeat), *cpu = malloc(sizeof *cpu * (size_t)repeat);
    int64_t n = 0, failed = 0;
    double *f = NULL;
    for (long pass = -1; pass < repeat && s == QR_OK; pass++) {
        double t0 = cli_now(), c0 = cli_cpu_now();
        qr_lesion_options lo = qr_lesion_options_default();
        qr_volume lmap;
        qr_lesion_table table;
        s = qr_lesions_extract(&labels, &lo, &lmap, &table, NULL);
        if (s != QR_OK) break;
        n = table.n;
        if (!f) f = malloc(sizeof *f * (size_t)(nf > 0 ? nf : 1) * (size_t)(n > 0 ? n : 1));
        failed = 0;
#ifdef QSMRIM_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : failed)
#endif
        for (int64_t i = 0; i < n; i++) {
            qr_radiomics_options o = ro;
            o.bbox = table.items[i].bbox;
            if (qr_radiomics_compute_ex(r, &image, &lmap, table.items[i].id, &o, f + i * nf) != QR_OK) failed++;
        }
        double dt = cli_now() - t0, dc = cli_cpu_now() - c0;
        if (pass >= 0) times[pass] = dt, cpu[pass] = dc;
        qr_lesion_table_free(&table);
        qr_volume_free(&lmap);
    }
    if (s != QR_OK) return cli_fail(s);
    if (n == 0) {
        qr_fail(QR_ERR_EMPTY, "%s holds no lesions", lesions_path);
        return cli_fail(QR_ERR_EMPTY);
    }
    double med = cli_sort_median(times, repeat), cmed = cli_sort_median(cpu, repeat);
    printf("image=%s lesions=%lld features=%lld threads=%ld passes=%ld failed_lesions=%lld\n", image_path, (long long)n,
           (long long)nf, threads, repeat, (long long)failed);
    printf("pass_ms min=%.3f median=%.3f max=%.3f\n", 1e3 * times[0], 1e3 * med, 1e3 * times[repeat - 1]);
    printf("ms_per_lesion min=%.4f max=%.4f\n", 1e3 * times[0] / n, 1e3 * times[repeat - 1] / n);
    /* CPU time tells what the work costs when the machine is shared (wall time then includes waiting) */
    printf("cpu_ms_per_lesion min=%.4f median=%.4f max=%.4f (process CPU time, all threads)\n", 1e3 * cpu[0] / n,
           1e3 * cmed / n, 1e3 * cpu[repeat - 1] / n);
    printf("radiomics_ms_per_lesion=%.4f\n", 1e3 * med / n);
    free(times);
    free(cpu);
    free(f);
    qr_volume_free(&image);
    qr_volume_free(&labels);
    qr_radiomics_free(r);
    return CLI_EXIT_OK;
}
