/*
 * bench_patches.c - `qsmrim bench patches`: the cost of making augmented training patches, on
 * the host (the CPU sampler of Logic/data, as training uses it) and - on a device that samples
 * patches (a GPU) - from a patch bank on the device, optionally with a training step of
 * QSMRim-Net fed each way. Lesion crops come from a real subject; draws as training makes them
 * (Logic/train/lesion_draw.h).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "data/lesion_inputs.h"
#include "data/patch.h"
#include "data/subject.h"
#include "train/lesion_draw.h"

static const char *HELP =
    "usage: qsmrim bench patches --qsm QSM --flair FLAIR --lesions LESIONS [--arch qsmrimnet|rimnet]\n"
    "                            [--batch 256] [--iters 10] [--threads T] [--device cpu|cuda[:N]]\n"
    "                            [--precision fp32|tf32]\n"
    "                            [--train-width W] [--no-augment]\n"
    "\n"
    "Times the making of training patches for one batch from the subject's lesions (cycled to fill\n"
    "the batch), with the training augmentation drawn per lesion as training draws it:\n"
    "  host     the CPU sampler on T threads (default: all cores) - what training uses on the CPU\n"
    "           and with `patch_sampling: host`\n"
    "  device   with a GPU (--device cuda): draws on the host, sampling from the lesion crops kept\n"
    "           on the GPU (a patch bank), as training does there by default\n"
    "--arch rimnet times RimNet's context windows (shift, flip, quarter turns, min-max) instead of\n"
    "the masked QSMRim-Net patches (flip, affine, blur). --train-width W adds a training step of\n"
    "QSMRim-Net at width W (--arch qsmrimnet only) fed by each sampler, patches included.\n"
    "Output: key=value lines (median over the iterations, after one warm-up batch):\n"
    "host_sample_ms_per_patch, and with a GPU device_sample_ms_per_patch and\n"
    "sample_speedup_device_vs_host; with --train-width, train_step_ms_per_patch_host_fed and\n"
    "train_step_ms_per_patch_device_fed.\n";

typedef struct bench_data {
    qr_lesion_crop *crops;
    int64_t ncrops;
    int *label;
    int context;
} bench_data;

static void data_free(bench_data *d) {
    for (int64_t i = 0; i < d->ncrops; i++) qr_lesion_crop_free(&d->crops[i]);
    free(d->crops);
    free(d->label);
}

static qr_status data_load(const char *qsm, const char *flair, const char *lesions, int context, bench_data *d) {
    memset(d, 0, sizeof *d);
    d->context = context;
    qr_subject s;
    QR_TRY(qr_subject_load(qsm, flair, lesions, QR_LESION_INPUT_AUTO, &s));
    qr_status st = QR_OK;
    int64_t n = s.lesions.n;
    if (n < 1) st = qr_fail(QR_ERR_EMPTY, "%s has no lesions", lesions);
    if (st == QR_OK) {
        d->crops = calloc((size_t)(n > 0 ? n : 1), sizeof *d->crops);
        d->label = calloc((size_t)(n > 0 ? n : 1), sizeof *d->label);
        if (!d->crops || !d->label) st = qr_fail(QR_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; st == QR_OK && i < n; i++) {
        st = context ? qr_context_crop_make(&s, &s.lesions.items[i], QR_CONTEXT_MARGIN, QR_CONTEXT_MARGIN_K, &d->crops[i])
                     : qr_lesion_crop_make(&s, &s.lesions.items[i], &d->crops[i]);
        if (st == QR_OK) d->ncrops++;
        d->label[i] = (int)(i % 4 == 0); /* a quarter rim+ (RimNet turns only rim+ windows) */
    }
    qr_subject_free(&s);
    if (st != QR_OK) data_free(d);
    return st;
}

/* The draws of batch k (as training's epoch k): row r is lesion (k * B + r) mod ncrops. */
static void make_draws(const bench_data *d, int64_t k, int64_t B, int augment, int64_t *idx, qr_lesion_draw *dr) {
    qr_augment_config ac = qr_augment_config_default();
    for (int64_t r = 0; r < B; r++) idx[r] = (k * B + r) % d->ncrops;
    qr_lesion_draws_make(d->context, d->label, idx, B, augment, &ac, QR_TURNS_POSITIVES, -1, 11, (int)k, dr);
}

typedef struct bench_run {
    const bench_data *d;
    int64_t B;
    int augment, threads;
    int64_t *idx;
    qr_lesion_draw *dr;
    float *patches;
    qr_nn_patch_sample *samples;
    qr_nn_patch_bank *bank;
} bench_run;

/* Batch k's draws, then its patches on the host or its samples for the device. */
static void make_batch(bench_run *r, int64_t k, int device) {
    make_draws(r->d, k, r->B, r->augment, r->idx, r->dr);
    if (device) qr_lesion_draws_jobs(r->d->crops, r->idx, r->dr, r->B, r->samples);
    else qr_lesion_draws_sample(r->d->crops, r->idx, r->dr, r->B, r->threads, r->patches);
}

/* Median ms per patch of `iters` timed batches after one warm-up: making the patches (device: up
 * to the sampled patches in device memory), plus a training step of t when t is given. */
static qr_status time_batches(bench_run *r, int device, long iters, qr_nn_trainer *t, float *radiomics, float *labels,
                              double *ms) {
    double *times = malloc(sizeof(double) * (size_t)iters);
    if (!times) return qr_fail(QR_ERR_NOMEM, "out of memory");
    static const int patch[3] = {QR_PATCH_D, QR_PATCH_H, QR_PATCH_W};
    qr_status st = QR_OK;
    for (long k = 0; st == QR_OK && k <= iters; k++) {
        double t0 = cli_now();
        make_batch(r, k, device);
        if (!t && device) st = qr_nn_patch_bank_sample(r->bank, r->samples, r->B, patch, NULL);
        if (st == QR_OK && t) {
            qr_nn_batch b = {r->B, device ? NULL : r->patches, radiomics, labels, device ? r->bank : NULL,
                             device ? r->samples : NULL};
            qr_nn_step_stats ss;
            st = qr_nn_trainer_step(t, &b, &ss);
        }
        if (k > 0) times[k - 1] = (cli_now() - t0) * 1e3 / (double)r->B;
    }
    if (st == QR_OK) *ms = cli_sort_median(times, (int)iters);
    free(times);
    return st;
}

int bench_patches(int argc, char **argv) {
    static const struct option opts[] = {
        {"qsm", required_argument, 0, 'q'},     {"flair", required_argument, 0, 'f'},
        {"lesions", required_argument, 0, 'l'}, {"arch", required_argument, 0, 'a'},
        {"batch", required_argument, 0, 'b'},   {"iters", required_argument, 0, 'i'},
        {"threads", required_argument, 0, 't'}, {"device", required_argument, 0, 'd'}, {"precision", required_argument, 0, CLI_OPT_PRECISION},
        {"train-width", required_argument, 0, 'w'}, {"no-augment", no_argument, 0, 'A'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    const char *qsm = NULL, *flair = NULL, *lesions = NULL, *device = "cpu", *arch = "qsmrimnet";
    long batch = 256, iters = 10, threads = 0, width = 0;
    int augment = 1, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'q': qsm = optarg; break;
        case 'f': flair = optarg; break;
        case 'l': lesions = optarg; break;
        case 'a':
            if (strcmp(optarg, "qsmrimnet") && strcmp(optarg, "rimnet"))
                return cli_usage("--arch must be qsmrimnet or rimnet, got '%s'", optarg);
            arch = optarg;
            break;
        case 'b': if (cli_parse_int("--batch", optarg, 2, 65536, &batch)) return CLI_EXIT_USAGE; break;
        case 'i': if (cli_parse_int("--iters", optarg, 1, 100000, &iters)) return CLI_EXIT_USAGE; break;
        case 't': if (cli_parse_int("--threads", optarg, 1, 4096, &threads)) return CLI_EXIT_USAGE; break;
        case 'w': if (cli_parse_int("--train-width", optarg, 1, 256, &width)) return CLI_EXIT_USAGE; break;
        case 'd':
            if (cli_check_device(optarg)) return CLI_EXIT_USAGE;
            device = optarg;
            break;
        case CLI_OPT_PRECISION:
            if (cli_set_precision(optarg)) return CLI_EXIT_USAGE;
            break;
        case 'A': augment = 0; break;
        case 'h': fputs(HELP, stdout); return CLI_EXIT_OK;
        default: return cli_usage("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("unexpected argument '%s'", argv[optind]);
    if (!qsm || !flair || !lesions) return cli_usage("--qsm, --flair and --lesions are required");
    const int context = !strcmp(arch, "rimnet");
    if (width && context) return cli_usage("--train-width times QSMRim-Net; it does not go with --arch rimnet");

    qr_nn_context_options co = qr_nn_context_options_default();
    qr_status st = qr_nn_device_parse(device, &co.device);
    if (st != QR_OK) return cli_usage("%s", qr_last_error());
    co.threads = (int)threads;
    qr_nn_context *ctx;
    if ((st = qr_nn_context_create(&co, &ctx)) != QR_OK) return cli_fail(st);
    bench_data d;
    if ((st = data_load(qsm, flair, lesions, context, &d)) != QR_OK) {
        qr_nn_context_free(ctx);
        return cli_fail(st);
    }
    const int64_t B = batch;
    bench_run r = {&d, B, augment, qr_nn_context_threads(ctx), NULL, NULL, NULL, NULL, NULL};
    r.idx = malloc(sizeof(int64_t) * (size_t)B);
    r.dr = malloc(sizeof(qr_lesion_draw) * (size_t)B);
    r.patches = malloc(sizeof(float) * QR_PATCH_SIZE * (size_t)B);
    r.samples = malloc(sizeof(qr_nn_patch_sample) * (size_t)B);
    if (!r.idx || !r.dr || !r.patches || !r.samples) st = qr_fail(QR_ERR_NOMEM, "out of memory");
    const int dev = qr_nn_context_samples_patches(ctx);
    if (st == QR_OK && dev) st = qr_crops_patch_bank(ctx, d.crops, d.ncrops, &r.bank);
    printf("device=%s threads=%d\n", qr_nn_context_describe(ctx), r.threads);
    printf("arch=%s lesions=%lld batch=%lld augment=%s%s\n", arch, (long long)d.ncrops, (long long)B,
           augment ? "yes" : "no", r.bank ? "" : " (this device takes host patches: host sampler only)");
    fflush(stdout);
    double host = NAN, devms = NAN, th = NAN, td = NAN;
    if (st == QR_OK) st = time_batches(&r, 0, iters, NULL, NULL, NULL, &host);
    if (st == QR_OK) printf("host_sample_ms_per_patch=%.4f host_patches_per_s=%.0f\n", host, 1e3 / host);
    if (st == QR_OK && r.bank) {
        st = time_batches(&r, 1, iters, NULL, NULL, NULL, &devms);
        if (st == QR_OK)
            printf("device_sample_ms_per_patch=%.4f device_patches_per_s=%.0f sample_speedup_device_vs_host=%.1f\n", devms,
                   1e3 / devms, host / devms);
    }
    if (st == QR_OK && width) {
        qr_nn_config cfg = qr_nn_config_default(QR_NN_ARCH_QSMRIMNET);
        cfg.width = (int)width;
        qr_nn_model *m = NULL;
        qr_nn_trainer *t = NULL;
        float *rad = malloc(sizeof(float) * (size_t)(B * cfg.n_radiomic)), *y = malloc(sizeof(float) * (size_t)B);
        if (!rad || !y) st = qr_fail(QR_ERR_NOMEM, "out of memory");
        qr_rng g;
        qr_rng_seed(&g, 3, 0);
        for (int64_t i = 0; st == QR_OK && i < B * cfg.n_radiomic; i++) rad[i] = (float)qr_rng_normal(&g);
        for (int64_t i = 0; st == QR_OK && i < B; i++) y[i] = (float)(i % 4 == 0);
        if (st == QR_OK) st = qr_nn_model_create(ctx, &cfg, 1, &m);
        qr_nn_train_options to = qr_nn_train_options_default();
        to.max_batch = (int)B;
        if (st == QR_OK) st = qr_nn_trainer_create(m, 0, &to, &t);
        if (st == QR_OK) st = time_batches(&r, 0, iters, t, rad, y, &th);
        if (st == QR_OK) printf("train_step_ms_per_patch_host_fed=%.4f\n", th);
        if (st == QR_OK && r.bank) st = time_batches(&r, 1, iters, t, rad, y, &td);
        if (st == QR_OK && r.bank)
            printf("train_step_ms_per_patch_device_fed=%.4f train_speedup_device_fed=%.2f\n", td, th / td);
        qr_nn_trainer_free(t);
        qr_nn_model_free(m);
        free(rad);
        free(y);
    }
    qr_nn_patch_bank_free(r.bank);
    free(r.idx);
    free(r.dr);
    free(r.patches);
    free(r.samples);
    data_free(&d);
    qr_nn_context_free(ctx);
    return st == QR_OK ? CLI_EXIT_OK : cli_fail(st);
}
