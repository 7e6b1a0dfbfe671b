/* cmd_bench.c - `qsmrim bench`: dispatches to the benchmarks (bench.h). */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "commands.h"

static const char *HELP =
    "usage: qsmrim bench cnn [--batch 64] [--iters N] [--threads T] [--width 64] [--device cpu|cuda|ref]\n"
    "       qsmrim bench radiomics --image IMG --lesions LABELS [--params P] [--repeat N] [--threads T]\n"
    "       qsmrim bench predict --qsm QSM --flair FLAIR --lesions LESIONS [--model M] [--device D]\n"
    "                            [--precision P] [--flips] [--repeat N] [--threads T]\n"
    "       qsmrim bench patches --qsm QSM --flair FLAIR --lesions LESIONS [--device D] [--threads T]\n"
    "(main options; each benchmark's --help lists all of them, e.g. cnn's --precision, --mode and\n"
    "--torch, the side-by-side PyTorch run)\n"
    "\n"
    "Throughput measurements. Each benchmark prints its figures as key=value lines, the headline\n"
    "figure last (infer_ms_per_patch / train_ms_per_patch, radiomics_ms_per_lesion,\n"
    "predict_s_per_subject; patches: host and device sampling of augmented training patches).\n"
    "See 'qsmrim bench cnn --help', 'qsmrim bench radiomics --help', 'qsmrim bench predict --help',\n"
    "'qsmrim bench patches --help'.\n";

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(HELP, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "cnn")) return bench_cnn(argc - 1, argv + 1);
    if (!strcmp(argv[1], "radiomics")) return bench_radiomics(argc - 1, argv + 1);
    if (!strcmp(argv[1], "predict")) return bench_predict(argc - 1, argv + 1);
    if (!strcmp(argv[1], "patches")) return bench_patches(argc - 1, argv + 1);
    return cli_usage("unknown benchmark '%s' (cnn, radiomics, predict or patches)", argv[1]);
}
