/* cmd_forward.c - `qsmrim forward`: run a model on stored patches and radiomic vectors. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "io/outputs.h"
#include "nn/nn.h"

static const char *HELP =
    "usage: qsmrim forward --model MODEL.h5 --input X.h5 --out Y.h5 [--device auto|cpu|cuda[:N]]\n"
    "                      [--precision fp32|tf32]\n"
    "                      [--threads T] [--quiet]\n"
    "\n"
    "Runs a model in inference mode (BatchNorm running statistics, no dropout, no oversampling)\n"
    "on a batch stored in HDF5.\n"
    "\n"
    "  --model MODEL.h5  a qsmrim network model file (qsmrim train --arch qsmrimnet|rimnet|aprl-nn,\n"
    "                    qsmrim import-torch); a random forest (aprl-rf) has no logits: score it\n"
    "                    with predict or evaluate --model\n"
    "  --input X.h5      float32 'patches' (N, C, D, H, W), D the slice axis (QSMRim-Net: C = 2,\n"
    "                    channel 0 QSM, channel 1 FLAIR, 16 x 32 x 32), and float32 'radiomics'\n"
    "                    (N, F) of raw feature values: the model applies its own stored\n"
    "                    normalisation (identity for an imported checkpoint). RimNet needs only\n"
    "                    patches, aprl-nn only radiomics. Other numeric types are converted.\n"
    "  --out Y.h5        float32 'logits' (N) and 'probability' (N) = sigmoid(logits); a model\n"
    "                    with several members (an ensemble) writes their mean probability, its\n"
    "                    logit, and 'member_logits' (members, N)\n"
    "  --device D        auto (default: a GPU when this build and machine have one, else the CPU),\n"
    "                    cpu, cuda, cuda:N, or ref (the slow reference implementation)\n"
    "  --precision P     fp32 (default) or tf32: convolutions and linear layers on TF32 tensor cores\n"
    "                    (faster on a GPU; on the CPU the rounding is emulated, not faster);\n"
    "                    default: $QSMRIM_PRECISION\n"
    "  --threads T       CPU threads (default: all cores)\n"
    "  --quiet           no notices\n";

int cmd_forward(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'}, {"input", required_argument, 0, 'i'},
                                         {"out", required_argument, 0, 'o'},   {"device", required_argument, 0, 'd'}, {"precision", required_argument, 0, CLI_OPT_PRECISION},
                                         {"threads", required_argument, 0, 't'}, {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *model_path = NULL, *in_path = NULL, *out_path = NULL, *device = "auto";
    long threads = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'i': in_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'd':
            if (cli_check_device(optarg)) return CLI_EXIT_USAGE;
            device = optarg;
            break;
        case CLI_OPT_PRECISION:
            if (cli_set_precision(optarg)) return CLI_EXIT_USAGE;
            break;
        case 't': if (cli_parse_int("--threads", optarg, 1, 1024, &threads)) return CLI_EXIT_USAGE; break;
        case 'q': cli_set_quiet(1); break;
        case 'h': fputs(HELP, stdout); return CLI_EXIT_OK;
        default: return cli_usage("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("unexpected argument '%s'", argv[optind]);
    if (!model_path) return cli_usage("--model is required");
    if (!in_path) return cli_usage("--input is required");
    if (!out_path) return cli_usage("--out is required");
    const qr_io_path ins[2] = {{model_path, "the model", 0, 0}, {in_path, "the --input file", 0, 0}};
    const qr_io_path outs[1] = {{out_path, "--out", 0, 0}};
    const qr_status cs = qr_outputs_check(ins, 2, outs, 1);
    if (cs != QR_OK) return cli_fail(cs);
    qr_nn_context_options co = qr_nn_context_options_default();
    if (qr_nn_device_parse(device, &co.device) != QR_OK) return cli_usage("--device: %s", qr_last_error());
    qr_outputs_remove_leftovers(outs, 1); /* what runs killed outright (kill -9) left there */
    co.threads = (int)threads;

    qr_nn_context *ctx = NULL;
    qr_nn_model *m = NULL;
    qr_nn_batch_file bf;
    memset(&bf, 0, sizeof bf);
    float *logits = NULL;
    qr_status s = qr_nn_context_create(&co, &ctx);
    if (s == QR_OK) s = qr_nn_model_load(ctx, model_path, &m);
    if (s == QR_OK) s = qr_nn_batch_file_read(in_path, qr_nn_model_config(m), &bf);
    if (s == QR_OK) {
        const int members = qr_nn_model_members(m);
        logits = malloc(sizeof(float) * (size_t)(bf.batch.n > 0 ? bf.batch.n : 1) * (size_t)members);
        if (!logits) s = qr_fail(QR_ERR_NOMEM, "out of memory");
        if (s == QR_OK) s = qr_nn_model_infer(m, &bf.batch, logits);
        for (int64_t i = 0; s == QR_OK && i < bf.batch.n * (int64_t)members; i++) /* never write a NaN answer */
            if (!isfinite(logits[i]))
                s = qr_fail(QR_ERR_NONFINITE, "the model's output for sample %lld is %g (inputs out of the range the model "
                            "can take, or a damaged model?)", (long long)(i % bf.batch.n), (double)logits[i]);
        if (s != QR_OK && s != QR_ERR_NOMEM) qr_fail_context(s, "%s", in_path); /* "X.h5: the problem" */
        if (s == QR_OK) s = qr_nn_outputs_write(out_path, logits, members, bf.batch.n);
        if (s == QR_OK)
            cli_notice("%lld samples, %s model (%d member%s) on %s -> %s", (long long)bf.batch.n,
                       qr_nn_arch_name(qr_nn_model_config(m)->arch), members, members == 1 ? "" : "s",
                       qr_nn_context_describe(ctx), out_path);
    }
    free(logits);
    qr_nn_batch_file_free(&bf);
    qr_nn_model_free(m);
    qr_nn_context_free(ctx);
    return s == QR_OK ? CLI_EXIT_OK : cli_fail(s);
}
