/*
 * main.c - `qsmrim`, the command-line front end: dispatches to one subcommand per job.
 * The work itself is in the library (Logic/); subcommands only parse options, call it, and turn
 * its status into messages and exit codes.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command g_commands[] = {
    {"predict", cmd_predict, "classify every lesion of a subject as rim+ / rim- and paint the overlay"},
    {"lesions", cmd_lesions, "lesion table (connected components or labels) from a mask"},
    {"features", cmd_features, "PyRadiomics-compatible radiomic features of lesions"},
    {"phantom", cmd_phantom, "generate a phantom cohort (simulated QSM on real lesion shapes)"},
    {"train", cmd_train, "train a model on an annotated cohort"},
    {"evaluate", cmd_evaluate, "cross-validate or score a model on a cohort; metrics and report"},
    {"forward", cmd_forward, "run a model on stored patches and radiomic vectors (HDF5)"},
    {"import-torch", cmd_import_torch, "convert a released QSMRim-Net PyTorch state dict to a model file"},
    {"bench", cmd_bench, "measure speed: CNN, radiomics, one-subject prediction, patch sampling"},
};
#define NCOMMANDS (sizeof g_commands / sizeof g_commands[0])

static void usage(FILE *f) {
    fprintf(f,
            "qsmrim %s - find chronic active (paramagnetic rim) multiple sclerosis lesions on QSM\n"
            "\n"
            "usage: qsmrim <command> [options]      qsmrim <command> --help\n"
            "\n"
            "commands:\n",
            QSMRIM_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-13s %s\n", g_commands[i].name, g_commands[i].summary);
    fprintf(f,
            "\n"
            "Inputs are 3D volumes in NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr), MetaImage (.mha, .mhd)\n"
            "or a DICOM series folder (an output name without an extension). Outputs are written\n"
            "atomically: all of a run's outputs under temporary names first, then renamed into place.\n"
            "Exit codes: 0 success, 1 failure (one line on stderr names the input and the problem),\n"
            "2 usage error, 130 interrupted.\n"
            "\n"
            "Environment:\n"
            "  QSMRIM_PRECISION=fp32|tf32     default of --precision (fp32)\n"
            "  QSMRIM_CUDA_CONV_ALGO=heuristic|find\n"
            "                                 cuDNN's heuristic algorithm choice (default, reproducible)\n"
            "                                 or its timed search (may be faster)\n"
            "  QSMRIM_CUDA_WORKSPACE_MB=N     largest cuDNN workspace (default 2048)\n"
            "  CUDA_LAUNCH_BLOCKING=1         name the GPU kernel that faulted (slower)\n"
            "  QSMRIM_RESOURCE_DIR=DIR        where to find the shipped model, the colour table and the\n"
            "                                 Python helpers (default: the installed share/qsmrim, else the\n"
            "                                 source tree's Resources); a file DIR lacks is looked for\n"
            "                                 there; a missing DIR is an error for a command that needs one\n"
            "                                 of them (the radiomic preset is built into the program)\n"
            "  QSMRIM_PHANTOM_DATA=DIR        anatomy and lesion masks for `qsmrim phantom`\n"
            "  QSMRIM_PYTHON=PY               Python with torch for `qsmrim import-torch` (/usr/bin/python3)\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("qsmrim %s\n", QSMRIM_VERSION);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(argv[1], g_commands[i].name) != 0) continue;
        cli_begin(g_commands[i].name);
        return cli_end(g_commands[i].run(argc - 1, argv + 1));
    }
    fprintf(stderr, "qsmrim: unknown command '%s' (see 'qsmrim --help')\n", argv[1]);
    return CLI_EXIT_USAGE;
}
