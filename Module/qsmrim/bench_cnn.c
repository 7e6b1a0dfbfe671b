/*
 * bench_cnn.c - `qsmrim bench cnn`: throughput of QSMRim-Net on random inputs.
 *
 * Inference: qr_nn_model_infer on a batch (BatchNorm folded, no dropout). Training step: forward
 * in training mode + DeepSMOTE (released) + BCE + backward + Adam, BatchNorm batch statistics.
 * With --torch the same network is timed in PyTorch (Resources/python/bench_cnn_torch.py via
 * Debian's python3) in the same run, with the same batch and threads, and the ratios printed.
 * The last two lines are infer_ms_per_patch=X and train_ms_per_patch=Y (medians).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "bench.h"
#include "cli.h"
#include "core/resources.h"
#include "core/rng.h"
#include "nn/nn.h"

static const char *HELP =
    "usage: qsmrim bench cnn [--batch 64] [--iters N] [--threads T] [--width 64] [--device cpu|cuda|ref]\n"
    "                        [--precision fp32|tf32]\n"
    "                        [--warmup 1] [--mode both|infer|train] [--cpu-time] [--torch] [--python PY]\n"
    "\n"
    "Times QSMRim-Net (released architecture: fusion add, layer4 stride 1, 536 radiomic\n"
    "features, 2 x 16 x 32 x 32 patches) on random inputs with a quarter of the labels rim+.\n"
    "  --batch N      samples per batch (64)\n"
    "  --iters N      timed batches per measurement (5); the median is reported\n"
    "  --warmup N     untimed batches first (1)\n"
    "  --threads T    CPU threads (default: all cores)\n"
    "  --width W      base width (64: the published network)\n"
    "  --device D     cpu (default), cuda[:N], ref (the slow reference loops)\n"
    "  --precision P  fp32 (default) or tf32 (TF32 tensor cores on a GPU; emulated on the CPU);\n"
    "                 default: $QSMRIM_PRECISION\n"
    "  --mode M       both (default), infer or train\n"
    "  --cpu-time     time with the process CPU clock instead of the wall clock (with --threads 1 a\n"
    "                 measure that other load on a shared machine barely disturbs)\n"
    "  --torch        also time the same network in PyTorch (python3-torch) in this run and print\n"
    "                 torch_*_ms_per_patch and the speed-up ratios\n"
    "  --python PY    Python with torch for --torch (default /usr/bin/python3)\n"
    "Output: key=value lines; the last two are infer_ms_per_patch=X and train_ms_per_patch=Y\n"
    "(milliseconds per patch; train = forward + backward + Adam step).\n";

static int g_cpu_time = 0;

static double clock_now(void) { return g_cpu_time ? cli_cpu_now() : cli_now(); }

/* Run the PyTorch benchmark; parse its torch_*_ms_per_patch lines. */
static int run_torch(const char *python, int batch, int iters, int warmup, int threads, int width, const char *mode,
                     int cpu_time, double *ti, double *tt) {
    char script[4096];
    if (qr_resource_path("python/bench_cnn_torch.py", script, sizeof script) != QR_OK) {
        cli_notice("%s", qr_last_error());
        return -1;
    }
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' '%s' --batch %d --iters %d --warmup %d --threads %d --width %d --mode %s%s 2>&1",
             python, script, batch, iters, warmup, threads, width, mode, cpu_time ? " --cpu-time" : "");
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[1024];
    while (fgets(line, sizeof line, p)) {
        fputs(line, stdout);
        sscanf(line, "torch_infer_ms_per_patch=%lf", ti);
        sscanf(line, "torch_train_ms_per_patch=%lf", tt);
    }
    int rc = pclose(p);
    return WIFEXITED(rc) && WEXITSTATUS(rc) == 0 ? 0 : -1;
}

int bench_cnn(int argc, char **argv) {
    static const struct option opts[] = {
        {"batch", required_argument, 0, 'b'},  {"iters", required_argument, 0, 'i'},
        {"threads", required_argument, 0, 't'}, {"width", required_argument, 0, 'w'},
        {"device", required_argument, 0, 'd'}, {"precision", required_argument, 0, CLI_OPT_PRECISION}, {"warmup", required_argument, 0, 'u'},
        {"mode", required_argument, 0, 'm'},   {"torch", no_argument, 0, 'T'},
        {"python", required_argument, 0, 'p'}, {"cpu-time", no_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    long batch = 64, iters = 5, threads = 0, width = 64, warmup = 1;
    const char *device = "cpu", *mode = "both", *python = "/usr/bin/python3";
    int torch = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'b': if (cli_parse_int("--batch", optarg, 2, 4096, &batch)) return CLI_EXIT_USAGE; break;
        case 'i': if (cli_parse_int("--iters", optarg, 1, 100000, &iters)) return CLI_EXIT_USAGE; break;
        case 't': if (cli_parse_int("--threads", optarg, 1, 1024, &threads)) return CLI_EXIT_USAGE; break;
        case 'w': if (cli_parse_int("--width", optarg, 1, 256, &width)) return CLI_EXIT_USAGE; break;
        case 'u': if (cli_parse_int("--warmup", optarg, 0, 1000, &warmup)) return CLI_EXIT_USAGE; break;
        case 'd':
            if (cli_check_device(optarg)) return CLI_EXIT_USAGE;
            device = optarg;
            break;
        case CLI_OPT_PRECISION:
            if (cli_set_precision(optarg)) return CLI_EXIT_USAGE;
            break;
        case 'm':
            if (strcmp(optarg, "both") && strcmp(optarg, "infer") && strcmp(optarg, "train"))
                return cli_usage("--mode must be both, infer or train, got '%s'", optarg);
            mode = optarg;
            break;
        case 'T': torch = 1; break;
        case 'p': python = optarg; break;
        case 'c': g_cpu_time = 1; break;
        case 'h': fputs(HELP, stdout); return CLI_EXIT_OK;
        default: return cli_usage("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("unexpected argument '%s'", argv[optind]);

    qr_nn_context_options co = qr_nn_context_options_default();
    qr_status s = qr_nn_device_parse(device, &co.device);
    if (s != QR_OK) return cli_usage("%s", qr_last_error());
    co.threads = (int)threads;
    qr_nn_context *ctx;
    if ((s = qr_nn_context_create(&co, &ctx)) != QR_OK) return cli_fail(s);
    qr_nn_config cfg = qr_nn_config_default(QR_NN_ARCH_QSMRIMNET);
    cfg.width = (int)width;
    qr_nn_model *m;
    if ((s = qr_nn_model_create(ctx, &cfg, 1, &m)) != QR_OK) {
        qr_nn_context_free(ctx);
        return cli_fail(s);
    }
    double total, useful;
    qr_nn_config_macs(&cfg, &total, &useful);
    const int64_t N = batch, P = 2LL * 16 * 32 * 32, F = cfg.n_radiomic;
    float *x = malloc(sizeof(float) * (size_t)(N * P)), *r = malloc(sizeof(float) * (size_t)(N * F));
    float *y = malloc(sizeof(float) * (size_t)N), *logits = malloc(sizeof(float) * (size_t)N);
    double *times = malloc(sizeof(double) * (size_t)iters);
    if (!x || !r || !y || !logits || !times) return cli_fail(qr_fail(QR_ERR_NOMEM, "out of memory"));
    qr_rng g;
    qr_rng_seed(&g, 7, 0);
    for (int64_t i = 0; i < N * P; i++) x[i] = (float)qr_rng_normal(&g);
    for (int64_t i = 0; i < N * F; i++) r[i] = (float)qr_rng_normal(&g);
    for (int64_t i = 0; i < N; i++) y[i] = qr_rng_uniform(&g) < 0.25 ? 1.0f : 0.0f;
    printf("device=%s clock=%s\n", qr_nn_context_describe(ctx), g_cpu_time ? "process-cpu" : "wall");
    double peak = qr_nn_context_device(ctx) == QR_NN_DEVICE_CPU ? qr_nn_cpu_peak_gflops(qr_nn_context_threads(ctx), 0.5) : 0;
    if (peak > 0) printf("cpu_peak_gflops=%.1f (AVX-512 FMA, %d threads, measured now)\n", peak, qr_nn_context_threads(ctx));
    printf("network=qsmrimnet width=%ld batch=%ld params=%lld macs_per_patch=%.1fM useful_macs_per_patch=%.1fM\n", width,
           batch, (long long)qr_nn_model_param_count(m), total / 1e6, useful / 1e6);
    fflush(stdout);
    double ti = NAN, tt = NAN, torch_i = NAN, torch_t = NAN;
    qr_nn_batch b = {N, x, r, y, NULL, NULL};
    int do_i = strcmp(mode, "train") != 0, do_t = strcmp(mode, "infer") != 0;
    if (do_i) {
        for (long k = 0; k < warmup + iters && s == QR_OK; k++) {
            double t0 = clock_now();
            s = qr_nn_model_infer(m, &b, logits);
            if (k >= warmup) times[k - warmup] = (clock_now() - t0) * 1e3 / (double)N;
        }
        if (s == QR_OK) {
            ti = cli_sort_median(times, iters);
            double gf = 2.0 * useful / (ti * 1e-3) / 1e9;
            printf("infer_ms_per_patch_min=%.3f infer_ms_per_patch_max=%.3f infer_gflops_useful=%.1f", times[0],
                   times[iters - 1], gf);
            if (peak > 0) printf(" infer_share_of_peak=%.2f", gf / peak);
            printf("\n");
        }
    }
    if (do_t && s == QR_OK) {
        qr_nn_train_options to = qr_nn_train_options_default();
        to.max_batch = (int)N;
        qr_nn_trainer *t;
        s = qr_nn_trainer_create(m, 0, &to, &t);
        for (long k = 0; k < warmup + iters && s == QR_OK; k++) {
            qr_nn_step_stats st;
            double t0 = clock_now();
            s = qr_nn_trainer_step(t, &b, &st);
            if (k >= warmup) times[k - warmup] = (clock_now() - t0) * 1e3 / (double)N;
        }
        if (s == QR_OK) {
            tt = cli_sort_median(times, iters);
            double gf = 6.0 * useful / (tt * 1e-3) / 1e9; /* forward + backward-data + backward-weights */
            printf("train_ms_per_patch_min=%.3f train_ms_per_patch_max=%.3f train_gflops_useful=%.1f", times[0],
                   times[iters - 1], gf);
            if (peak > 0) printf(" train_share_of_peak=%.2f", gf / peak);
            printf("\n");
        }
        if (s == QR_OK || t) qr_nn_trainer_free(t);
    }
    if (s == QR_OK && torch) {
        fflush(stdout);
        int nthreads = qr_nn_context_threads(ctx);
        if (run_torch(python, (int)N, (int)iters, (int)warmup, nthreads, (int)width, mode, g_cpu_time, &torch_i,
                      &torch_t) != 0)
            cli_notice("the PyTorch benchmark did not run (python3-torch missing?)");
        if (do_i && isfinite(torch_i)) printf("infer_speedup_vs_torch=%.2f\n", torch_i / ti);
        if (do_t && isfinite(torch_t)) printf("train_speedup_vs_torch=%.2f\n", torch_t / tt);
    }
    free(x);
    free(r);
    free(y);
    free(logits);
    free(times);
    qr_nn_model_free(m);
    qr_nn_context_free(ctx);
    if (s != QR_OK) return cli_fail(s);
    if (do_i) printf("infer_ms_per_patch=%.3f\n", ti);
    if (do_t) printf("train_ms_per_patch=%.3f\n", tt);
    return CLI_EXIT_OK;
}
