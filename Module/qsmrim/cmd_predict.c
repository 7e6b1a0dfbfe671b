/* cmd_predict.c - `qsmrim predict`: rim+ / rim- for every lesion of one subject. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/fileutil.h"
#include "commands.h"
#include "io/imageio.h"
#include "io/outputs.h"
#include "predict/predict.h"
#include "render/picture.h"

static const char *HELP =
    "usage: qsmrim predict --qsm QSM --flair FLAIR --lesions LESIONS\n"
    "                      --out-labels OVERLAY --out-probability PROB --out-table TABLE.tsv\n"
    "                      [--model MODEL.h5] [--device auto|cpu|cuda[:N]] [--threshold f1|sensitive|VALUE]\n"
    "                      [--precision fp32|tf32] [--connectivity 26|6] [--lesion-input auto|mask|labels]\n"
    "                      [--flips] [--out-picture PNG [--title TEXT]] [--threads T] [--quiet]\n"
    "\n"
    "Classifies every lesion as rim+ (paramagnetic rim: chronic active lesion) or rim-.\n"
    "\n"
    "inputs (NIfTI, NRRD, MetaImage or a DICOM folder):\n"
    "  --qsm QSM            susceptibility map in ppb (relative to white matter); its grid is the\n"
    "                       reference: FLAIR and lesions on another, overlapping grid are resampled\n"
    "  --flair FLAIR        T2-FLAIR registered to the QSM\n"
    "  --lesions LESIONS    label map (one label per lesion) or binary mask (split into connected\n"
    "                       components, --connectivity 26 by default). --lesion-input auto\n"
    "                       (default): a map with one positive value is a mask; labels: keep the\n"
    "                       labels whatever their number (a map of one lesion labelled 4 stays\n"
    "                       lesion 4, islands included); mask: split any map into components\n"
    "  --model MODEL.h5     model file (default: the shipped demonstration model, trained on\n"
    "                       simulated phantom data - not for clinical decisions)\n"
    "  --device D           auto (default: a working GPU, else the CPU), cpu, cuda, cuda:N, or ref\n"
    "                       (the engine's slow reference implementation, for checks)\n"
    "  --precision P        fp32 (default) or tf32: the network on TF32 tensor cores (faster on a\n"
    "                       GPU; emulated on the CPU); default: $QSMRIM_PRECISION\n"
    "  --flips              test-time flips: image models run three times, on the patch as it is\n"
    "                       and mirrored along each in-plane axis, and P(rim+) is their mean. The\n"
    "                       model's thresholds (and train/evaluate's metrics) come from one pass per\n"
    "                       lesion, the default (--no-flips), so with --flips they apply to another\n"
    "                       score than they were chosen on\n"
    "  --threads T          CPU threads (default 0: all cores)\n"
    "  --quiet              no progress or notices (warnings and errors still go to stderr)\n"
    "\n"
    "decision (the model file stores its F1-optimal and high-sensitivity thresholds):\n"
    "  --threshold f1       rim+ at or above the F1 threshold; 'review' between the sensitive and\n"
    "                       the F1 thresholds; rim- below (default)\n"
    "  --threshold sensitive  rim+ at or above the high-sensitivity threshold (no review band)\n"
    "  --threshold VALUE    rim+ at or above VALUE (0..1), review band below it as for f1\n"
    "\n"
    "outputs (written atomically; any subset):\n"
    "  --out-labels F       overlay label map on the QSM grid: 0 background, 1 rim-, 2 review,\n"
    "                       3 rim+ (colours: Resources/QSMRimLesions.ctbl)\n"
    "  --out-probability F  float map: each lesion's voxels hold its P(rim+), 0 elsewhere\n"
    "  --out-table F        lesion_id volume_mm3 center_r center_a center_s probability\n"
    "                       uncertainty decision, sorted by probability (uncertainty: standard\n"
    "                       deviation over the members of an ensemble model and, with --flips,\n"
    "                       over the flips; 0 for one pass of a one-member model)\n"
    "  --out-picture F.png  axial slices of QSM and FLAIR with the decisions drawn as lesion\n"
    "                       outlines and lesion numbers (radiological view: patient right on the\n"
    "                       left); --title TEXT puts a heading on it\n"
    "  stdout               the subject-level summary: lesions=N rim_positive=K review=R\n"
    "\n"
    "example:\n"
    "  qsmrim predict --qsm sub/qsm.nii.gz --flair sub/flair.nii.gz --lesions sub/lesions.nii.gz \\\n"
    "      --out-labels overlay.nrrd --out-probability prob.nrrd --out-table lesions.tsv\n";

int cmd_predict(int argc, char **argv) {
    static const struct option opts[] = {
        {"qsm", required_argument, 0, 'q'},         {"flair", required_argument, 0, 'f'},
        {"lesions", required_argument, 0, 'l'},     {"model", required_argument, 0, 'm'},
        {"device", required_argument, 0, 'd'}, {"precision", required_argument, 0, CLI_OPT_PRECISION},      {"threshold", required_argument, 0, 'T'},
        {"out-labels", required_argument, 0, 'o'},  {"out-probability", required_argument, 0, 'p'},
        {"out-table", required_argument, 0, 't'},   {"connectivity", required_argument, 0, 'c'},
        {"lesion-input", required_argument, 0, 'I'},
        {"no-flips", no_argument, 0, 'F'},          {"flips", no_argument, 0, 'X'},          {"threads", required_argument, 0, 'j'},
        {"quiet", no_argument, 0, 'Q'},             {"help", no_argument, 0, 'h'},
        {"out-picture", required_argument, 0, 'P'}, {"title", required_argument, 0, 'L'},
        {0, 0, 0, 0}};
    const char *qsm = NULL, *flair = NULL, *lesions = NULL, *overlay = NULL, *prob = NULL, *table = NULL,
               *picture = NULL, *title = NULL;
    qr_predict_options o = qr_predict_options_default();
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        long l;
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
        case 'o': overlay = optarg; break;
        case 'p': prob = optarg; break;
        case 't': table = optarg; break;
        case 'P': picture = optarg; break;
        case 'L': title = optarg; break;
        case 'F': o.test_time_flips = 0; break;
        case 'X': o.test_time_flips = 1; break;
        case 'I':
            if (qr_lesion_input_parse(optarg, "--lesion-input", &o.lesion_input) != QR_OK)
                return cli_usage("%s", qr_last_error());
            break;
        case 'Q': cli_set_quiet(1); break;
        case 'T':
            if (qr_threshold_parse(optarg, &o.threshold_mode, &o.threshold_value) != QR_OK)
                return cli_usage("%s", qr_last_error());
            break;
        case 'c':
            if (cli_parse_connectivity(optarg, &l)) return CLI_EXIT_USAGE;
            o.connectivity = (int)l;
            break;
        case 'j':
            if (cli_parse_int("--threads", optarg, 0, 1024, &l)) return CLI_EXIT_USAGE;
            o.threads = (int)l;
            break;
        case 'h': fputs(HELP, stdout); return CLI_EXIT_OK;
        default: return cli_usage("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("unexpected argument '%s'", argv[optind]);
    if (!qsm) return cli_usage("--qsm is required");
    if (!flair) return cli_usage("--flair is required");
    if (!lesions) return cli_usage("--lesions is required");
    if (!overlay && !prob && !table && !picture)
        return cli_usage("no output given (--out-labels, --out-probability, --out-table, --out-picture)");

    /* every output checked before the work: none replaced when another could not be written,
     * none of them an input (a detached header's data file included) */
    const qr_io_path outs[4] = {{overlay, "--out-labels", 1, 0},
                                {prob, "--out-probability", 1, 0},
                                {table, "--out-table", 0, 0},
                                {picture, "--out-picture", 0, 0}};
    const qr_status cs = qr_predict_outputs_check(qsm, flair, lesions, o.model_path, outs, 4);
    if (cs != QR_OK) return cli_fail(cs);

    cli_install_interrupt();
    o.cancel = &cli_interrupted;
    qr_prediction p;
    qr_status s = qr_predict_files(qsm, flair, lesions, &o, &p);
    if (s != QR_OK) return cli_fail(s);
    /* all outputs written before any replaces an old one */
    qr_pending pending[4];
    memset(pending, 0, sizeof pending);
    s = qr_prediction_write_pending(&p, overlay, prob, table, pending);
    if (s == QR_OK && picture) {
        qr_picture_options po = qr_picture_options_default();
        po.title = title;
        s = qr_picture_write_pending(&p.qsm, &p.flair, &p, &po, picture, &pending[3]);
    }
    if (s == QR_OK) s = qr_pending_commit_all(pending, 4);
    else qr_pending_abort_all(pending, 4);
    if (s == QR_OK) {
        cli_notice("%lld lesions: %lld rim+, %lld to review (threshold %.3f; model %s; %s)", (long long)p.n,
                   (long long)p.n_rim_positive, (long long)p.n_review, p.threshold_used, p.model_used, p.device_used);
        printf("lesions=%lld rim_positive=%lld review=%lld\n", (long long)p.n, (long long)p.n_rim_positive,
               (long long)p.n_review);
    }
    qr_prediction_free(&p);
    return s == QR_OK ? CLI_EXIT_OK : cli_fail(s);
}
