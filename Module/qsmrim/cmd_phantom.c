/* cmd_phantom.c - `qsmrim phantom`: generate a simulated QSM + FLAIR cohort with rim annotations. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "phantom/phantom.h"

static const char *HELP =
    "usage: qsmrim phantom --out DIR [--subjects N] [--seed S] [--threads T] [--data DIR]\n"
    "                      [--truth] [--overwrite] [--quiet]\n"
    "\n"
    "Generates a phantom cohort: real anatomy and real lesion shapes (open_ms_data, CC-BY) with\n"
    "simulated susceptibility, paramagnetic rims, veins and confounders, acquired through a dipole\n"
    "field, 3 mm slices, noise and a TKD inversion. SIMULATED data, for training, testing and demos.\n"
    "\n"
    "  --out DIR        output folder (created if missing)\n"
    "  --subjects N     number of subjects (default 172, the paper's cohort: about 24 lesions per\n"
    "                   subject, 4.25% rim+; totals are round(N*4163/172) lesions, round(N*177/172) rim+)\n"
    "  --seed S         random seed, 0..2^64-1 (default 1); same seed and N, same bytes\n"
    "  --threads T      subjects generated in parallel (default: the number of CPUs, at most 8;\n"
    "                   about 300 MB each); the output does not depend on T\n"
    "  --data DIR       anatomy and lesion masks (default: $QSMRIM_PHANTOM_DATA, the installed copy,\n"
    "                   or the source tree's ExternalData/open_ms_data)\n"
    "  --truth          also write each subject's noise-free susceptibility (<subject>_chi.nii.gz,\n"
    "                   ppb) and rim voxels (<subject>_rim.nii.gz, the lesion's label on its rim)\n"
    "  --overwrite      replace a cohort already in DIR (its cohort.tsv is removed first)\n"
    "  --quiet          no progress or notices\n"
    "\n"
    "Writes, per subject sub-NNN/: sub-NNN_qsm.nii.gz (float32, ppb vs normal-appearing white\n"
    "matter), sub-NNN_flair.nii.gz (float32), sub-NNN_lesions.nii.gz (int32, one label per lesion),\n"
    "sub-NNN_annotations.tsv (lesion_id rim appearance confounders rim_coverage rim_ppb rim_width_mm\n"
    "core_ppb rim_contrast_ppb voxels volume_mm3 source); then DIR/phantom_info.txt and, last,\n"
    "DIR/cohort.tsv (subject qsm flair lesions annotations, paths relative to DIR). Grid: 256x256x48\n"
    "voxels of 0.75x0.75x3 mm, axial.\n"
    "\n"
    "Folder rules: a new or empty DIR is used; a DIR holding cohort.tsv is refused unless --overwrite;\n"
    "a non-empty DIR without cohort.tsv is used only if it holds the phantom_info.txt this command\n"
    "writes (an interrupted run, whose files are regenerated) or with --overwrite. When DIR held an\n"
    "earlier cohort, the files of it that this run does not write (sub-NNN folders it does not list,\n"
    "_chi/_rim maps without --truth) are removed at the end; a stale subject folder holding anything\n"
    "else (or a write-protected file) is kept whole, links are not followed, and other files in DIR\n"
    "are never touched. A folder without cohort.tsv is an incomplete cohort (e.g. after Ctrl-C).\n"
    "\n"
    "example:\n"
    "  qsmrim phantom --out cohort --subjects 172 --seed 1\n";

static int parse_seed(const char *s, uint64_t *out) {
    if (!s[0]) return cli_usage("--seed expects a non-negative integer, got ''");
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p)) return cli_usage("--seed expects a non-negative integer, got '%s'", s);
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno) return cli_usage("--seed is out of range (0..18446744073709551615), got '%s'", s);
    *out = (uint64_t)v;
    return 0;
}

static const char PROGRESS_LABEL[] = "phantom: subjects";

static void on_progress(int done, int total, void *user) {
    (void)user;
    cli_progress(PROGRESS_LABEL, done, total);
}

int cmd_phantom(int argc, char **argv) {
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'},  {"subjects", required_argument, 0, 'n'}, {"seed", required_argument, 0, 's'},
        {"threads", required_argument, 0, 't'}, {"data", required_argument, 0, 'd'}, {"truth", no_argument, 0, 'T'},
        {"overwrite", no_argument, 0, 'w'},  {"quiet", no_argument, 0, 'q'},       {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    qr_phantom_options o = qr_phantom_options_default();
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = ncpu < 1 ? 1 : (ncpu > 8 ? 8 : (int)ncpu);
    const char *out = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        long l;
        switch (c) {
        case 'o': out = optarg; break;
        case 'n':
            if (cli_parse_int("--subjects", optarg, 1, 100000, &l)) return CLI_EXIT_USAGE;
            o.n_subjects = (int)l;
            break;
        case 's':
            if (parse_seed(optarg, &o.seed)) return CLI_EXIT_USAGE;
            break;
        case 't':
            if (cli_parse_int("--threads", optarg, 1, 256, &l)) return CLI_EXIT_USAGE;
            o.threads = (int)l;
            break;
        case 'd': o.data_dir = optarg; break;
        case 'T': o.write_truth = 1; break;
        case 'w': o.overwrite = 1; break;
        case 'q': cli_set_quiet(1); break;
        case 'h': fputs(HELP, stdout); return CLI_EXIT_OK;
        default: return cli_usage("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("unexpected argument '%s'", argv[optind]);
    if (!out || !*out) return cli_usage("--out is required");

    cli_install_interrupt();
    o.progress = on_progress;
    o.cancel = &cli_interrupted;
    double t0 = cli_now();
    qr_phantom_summary sum;
    qr_status s = qr_phantom_cohort_write(out, &o, &sum);
    if (s != QR_OK) return cli_fail(s);
    cli_progress_end(PROGRESS_LABEL, o.n_subjects);
    cli_notice("%d subjects, %lld lesions, %lld rim+ (%.2f%%), %d subjects without rim+, at most %d rim+ in one "
               "subject; %.0f s in all, reading the anatomy included -> %s/cohort.tsv",
               sum.n_subjects, (long long)sum.n_lesions, (long long)sum.n_rimpos,
               sum.n_lesions ? 100.0 * (double)sum.n_rimpos / (double)sum.n_lesions : 0.0, sum.subjects_without_rimpos,
               sum.max_rimpos_per_subject, cli_now() - t0, out);
    return CLI_EXIT_OK;
}
