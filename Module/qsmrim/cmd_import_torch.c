/*
 * cmd_import_torch.c - `qsmrim import-torch`: convert a released QSMRim-Net PyTorch state dict
 * into a qsmrim model file. Reading a PyTorch pickle needs PyTorch, so the conversion itself is
 * Resources/python/import_torch.py run with Debian's python3 (python3-torch, python3-h5py); this
 * command finds it, runs it, and then loads the result with the engine's own shape checks.
 */
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cli.h"
#include "commands.h"
#include "core/resources.h"
#include "io/outputs.h"
#include "nn/nn.h"

extern char **environ;

static const char *HELP =
    "usage: qsmrim import-torch MODEL.pth --out MODEL.h5 [--fusion add|concat] [--layer4-stride 1|2]\n"
    "                           [--patch D H W] [--python PY] [--quiet]\n"
    "\n"
    "Converts a PyTorch state dict with the released QSMRim-Net key layout (encoder.*, encode_rad.*,\n"
    "smote.fea_transform.*, classifier.*) into a qsmrim model file. Width, image channels, radiomic\n"
    "size and fusion are read from the tensor shapes (--fusion, if given, must agree); the layer4\n"
    "stride is 1 as in the released code unless --layer4-stride 2. The model gets identity\n"
    "preprocessing: feed it inputs normalised as the checkpoint was trained.\n"
    "\n"
    "  --out MODEL.h5          the qsmrim model file to write\n"
    "  --fusion add|concat     how image and radiomic features are fused (add: the released code,\n"
    "                          with its DeepSMOTE; concat: the paper's text); read from the shapes\n"
    "  --layer4-stride 1|2     stride of the last ResNet stage (default 1, as released)\n"
    "  --patch D H W           the image patch the checkpoint was trained on, in voxels along S, P, L\n"
    "                          (default 16 32 32, this project's patch)\n"
    "  --python PY             Python with torch and h5py (default: $QSMRIM_PYTHON or /usr/bin/python3)\n"
    "  --quiet                 no summary line\n";

int cmd_import_torch(int argc, char **argv) {
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},          {"fusion", required_argument, 0, 'f'},
                                         {"layer4-stride", required_argument, 0, 'l'}, {"patch", required_argument, 0, 'p'},
                                         {"python", required_argument, 0, 'y'},       {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},               {0, 0, 0, 0}};
    const char *out = NULL, *fusion = NULL, *l4 = NULL, *python = getenv("QSMRIM_PYTHON");
    const char *patch[3] = {NULL, NULL, NULL};
    if (!python || !*python) python = "/usr/bin/python3";
    int c, quiet = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'f':
            if (strcmp(optarg, "add") && strcmp(optarg, "concat"))
                return cli_usage("--fusion must be add or concat, got '%s'", optarg);
            fusion = optarg;
            break;
        case 'l':
            if (strcmp(optarg, "1") && strcmp(optarg, "2")) return cli_usage("--layer4-stride must be 1 or 2, got '%s'", optarg);
            l4 = optarg;
            break;
        case 'p': {
            long v;
            if (optind + 2 > argc) return cli_usage("--patch needs three numbers D H W");
            patch[0] = optarg;
            patch[1] = argv[optind++];
            patch[2] = argv[optind++];
            for (int i = 0; i < 3; i++)
                if (cli_parse_int("--patch", patch[i], 1, 512, &v)) return CLI_EXIT_USAGE;
            break;
        }
        case 'y': python = optarg; break;
        case 'q': quiet = 1; cli_set_quiet(1); break;
        case 'h': fputs(HELP, stdout); return CLI_EXIT_OK;
        default: return cli_usage("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc) return cli_usage("the PyTorch checkpoint MODEL.pth is required");
    const char *pth = argv[optind++];
    if (optind < argc) return cli_usage("unexpected argument '%s'", argv[optind]);
    if (!out) return cli_usage("--out is required");
    const qr_io_path ins[1] = {{pth, "the PyTorch checkpoint", 0, 0}};
    const qr_io_path outs[1] = {{out, "--out", 0, 0}};
    const qr_status cs = qr_outputs_check(ins, 1, outs, 1);
    if (cs != QR_OK) return cli_fail(cs);
    FILE *fp = fopen(pth, "rb");
    if (!fp) {
        qr_fail(QR_ERR_IO, "cannot open %s", pth);
        return cli_fail(QR_ERR_IO);
    }
    fclose(fp);
    char script[4096];
    qr_status s = qr_resource_path("python/import_torch.py", script, sizeof script);
    if (s != QR_OK) return cli_fail(s);

    char *args[16];
    int na = 0;
    args[na++] = (char *)python;
    args[na++] = script;
    args[na++] = (char *)pth;
    args[na++] = "--out";
    args[na++] = (char *)out;
    if (fusion) {
        args[na++] = "--fusion";
        args[na++] = (char *)fusion;
    }
    if (l4) {
        args[na++] = "--layer4-stride";
        args[na++] = (char *)l4;
    }
    if (patch[0]) {
        args[na++] = "--patch";
        for (int i = 0; i < 3; i++) args[na++] = (char *)patch[i];
    }
    if (quiet) args[na++] = "--quiet";
    args[na] = NULL;
    pid_t pid;
    int rc = posix_spawn(&pid, python, NULL, NULL, args, environ);
    if (rc != 0) {
        qr_fail(QR_ERR_UNSUPPORTED, "cannot run %s (import-torch needs Python with python3-torch and python3-h5py)", python);
        return cli_fail(QR_ERR_UNSUPPORTED);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return CLI_EXIT_FAIL; /* the script printed the error line */
    /* the engine's own check of what was written */
    qr_nn_context_options co = qr_nn_context_options_default();
    co.device.kind = QR_NN_DEVICE_CPU;
    co.threads = 1;
    qr_nn_context *ctx;
    qr_nn_model *m = NULL;
    s = qr_nn_context_create(&co, &ctx);
    if (s == QR_OK) s = qr_nn_model_load(ctx, out, &m);
    if (s == QR_OK && !quiet) {
        const qr_nn_config *cfg = qr_nn_model_config(m);
        cli_notice("%s loads: %s width %d fusion %s, %lld parameters", out, qr_nn_arch_name(cfg->arch), cfg->width,
                   qr_nn_fusion_name(cfg->fusion), (long long)qr_nn_model_param_count(m));
    }
    qr_nn_model_free(m);
    qr_nn_context_free(ctx);
    return s == QR_OK ? CLI_EXIT_OK : cli_fail(s);
}
