/*
 * cmd_import_torch.c - `qsmrim import-torch`: convert a released QSMRim-Net PyTorch state dict
 * into a qsmrim model file. Reading a PyTorch pickle needs PyTorch, so the conversion itself is
 * Resources/python/import_torch.py run with Debian's python3 (python3-torch, python3-h5py); this
 * command finds it, runs it, and then loads the result with the engine's own shape checks.
 */
#include <errno.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "core/fileutil.h"
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
    "preprocessing: feed it inputs normalised as the checkpoint was trained. A state dict holds no\n"
    "feature names: predict and evaluate give such a model the radiomic features in the order of\n"
    "`qsmrim features` (PyRadiomics' order), and refuse it when their number differs (the paper's\n"
    "527 features are not today's 536, and their order is not published).\n"
    "\n"
    "  --out MODEL.h5          the qsmrim model file to write\n"
    "  --fusion add|concat     how image and radiomic features are fused (add: the released code,\n"
    "                          with its DeepSMOTE; concat: the paper's text); read from the shapes\n"
    "  --layer4-stride 1|2     stride of the last ResNet stage (default 1, as released)\n"
    "  --patch D H W           the image patch the checkpoint was trained on, in voxels along S, P, L\n"
    "                          (default 16 32 32, this project's patch)\n"
    "  --python PY             Python with torch and h5py (default: $QSMRIM_PYTHON or /usr/bin/python3)\n"
    "  --quiet                 no summary line\n"
    "\n"
    "Only tensors, numbers and plain containers are read from the checkpoint (a pickle may name any\n"
    "Python function to run while loading): a pickled module or another object is refused; save\n"
    "model.state_dict() instead. Half and bfloat16 tensors are converted to float32.\n";

/* Run the conversion script with its stderr captured into said[] (its one error line, if any). */
static qr_status run_script(const char *python, char *const args[], char *said, size_t n, int *status) {
    said[0] = '\0';
    int fd[2];
    if (pipe(fd) != 0) return qr_fail(QR_ERR_IO, "cannot run %s: %s", python, strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    pid_t pid;
    const int rc = posix_spawn(&pid, python, &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    if (rc != 0) {
        close(fd[0]);
        return qr_fail(QR_ERR_UNSUPPORTED, "cannot run %s: %s (import-torch needs Python with python3-torch and python3-h5py)",
                       python, strerror(rc));
    }
    size_t used = 0;
    char buf[4096];
    ssize_t got;
    while ((got = read(fd[0], buf, sizeof buf)) != 0) {
        if (got < 0) {
            if (errno == EINTR) continue;
            break;
        }
        const size_t k = (size_t)got < n - 1 - used ? (size_t)got : n - 1 - used; /* the rest is read and dropped */
        memcpy(said + used, buf, k);
        used += k;
    }
    said[used] = '\0';
    close(fd[0]);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
    }
    return QR_OK;
}

/* The engine's error about the temporary file, told about the checkpoint (and the output the
 * file would have become, where the message names it elsewhere). */
static void renamed_error(const char *tmp, const char *out, const char *pth) {
    char msg[2048] = "", *o = msg;
    const char *e = qr_last_error();
    const size_t nt = strlen(tmp);
    if (!strncmp(e, tmp, nt) && !strncmp(e + nt, ": ", 2)) e += nt + 2; /* "TMP: problem" -> "problem" */
    while (*e && (size_t)(o - msg) < sizeof msg - 1) {
        if (!strncmp(e, tmp, nt)) {
            o += snprintf(o, sizeof msg - (size_t)(o - msg), "%s", out);
            if ((size_t)(o - msg) >= sizeof msg) o = msg + sizeof msg - 1;
            e += nt;
        } else {
            *o++ = *e++;
        }
    }
    *o = '\0';
    qr_fail(QR_ERR_MODEL, "%s does not convert to a usable model (nothing written): %s", pth, msg);
}

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
    qr_status s = qr_outputs_check(ins, 1, outs, 1);
    if (s == QR_OK) s = qr_input_file_check(pth); /* a pipe would block Python's reader */
    if (s != QR_OK) return cli_fail(s);
    qr_outputs_remove_leftovers(outs, 1);
    char script[4096], tmp[QR_PATH_MAX];
    s = qr_resource_path("python/import_torch.py", script, sizeof script);
    if (s == QR_OK) s = qr_temp_sibling(out, 1, tmp, sizeof tmp);
    if (s != QR_OK) return cli_fail(s);

    /* the script writes a temporary file beside --out; it is put in place only once the engine
     * has loaded it with its own checks, so a refused conversion leaves an old model untouched */
    char *args[24];
    int na = 0;
    args[na++] = (char *)python;
    args[na++] = "-W"; /* Python's and PyTorch's warnings would add lines to the one error line */
    args[na++] = "ignore";
    args[na++] = script;
    args[na++] = (char *)pth;
    args[na++] = "--out";
    args[na++] = tmp;
    args[na++] = "--out-name";
    args[na++] = (char *)out;
    args[na++] = "--quiet"; /* the summary comes from the engine's load below */
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
    args[na] = NULL;
    char said[2048];
    int status = 0;
    s = run_script(python, args, said, sizeof said, &status);
    if (s != QR_OK) return cli_fail(s);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        unlink(tmp);
        if (said[0]) { /* the script's own error line (a newline in a path kept inside it) */
            cli_put_line(said);
            return CLI_EXIT_FAIL;
        }
        if (WIFSIGNALED(status))
            qr_fail(QR_ERR_UNSUPPORTED, "%s: %s ended by signal %d while converting it", pth, python, WTERMSIG(status));
        else
            qr_fail(QR_ERR_UNSUPPORTED, "%s: %s exited with status %d and no message (import-torch needs a Python 3 with "
                    "python3-torch and python3-h5py: --python or QSMRIM_PYTHON)", pth, python, WEXITSTATUS(status));
        return cli_fail(QR_ERR_UNSUPPORTED);
    }
    if (!qr_path_is_file(tmp)) {
        qr_fail(QR_ERR_UNSUPPORTED, "%s: %s exited without writing a model (import-torch needs a Python 3 with "
                "python3-torch and python3-h5py: --python or QSMRIM_PYTHON)", pth, python);
        return cli_fail(QR_ERR_UNSUPPORTED);
    }
    /* the engine's own check of what was written */
    qr_nn_context_options co = qr_nn_context_options_default();
    co.device.kind = QR_NN_DEVICE_CPU;
    co.threads = 1;
    qr_nn_context *ctx = NULL;
    qr_nn_model *m = NULL;
    s = qr_nn_context_create(&co, &ctx);
    if (s == QR_OK) s = qr_nn_model_load(ctx, tmp, &m);
    char summary[512] = "";
    if (s == QR_OK) {
        const qr_nn_config *cfg = qr_nn_model_config(m);
        snprintf(summary, sizeof summary, "QSMRim-Net width %d, fusion %s, %d image channels, %d radiomic features, "
                 "%lld parameters -> %s", cfg->width, qr_nn_fusion_name(cfg->fusion), cfg->in_channels, cfg->n_radiomic,
                 (long long)qr_nn_model_param_count(m), out);
    } else {
        renamed_error(tmp, out, pth);
    }
    qr_nn_model_free(m);
    qr_nn_context_free(ctx);
    if (s == QR_OK) s = qr_commit_rename(tmp, out);
    else unlink(tmp);
    if (s != QR_OK) return cli_fail(s);
    if (!quiet) cli_notice("%s", summary);
    return CLI_EXIT_OK;
}
