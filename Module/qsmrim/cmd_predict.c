/* cmd_predict.c - `qsmrim predict`: rim+ / rim- for every lesion of one subject. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/fileutil.h"
#include "commands.h"
#include "io/imageio.h"
#include "io/outputs.h"
#include "predict/batch.h"
#include "predict/predict.h"
#include "render/picture.h"

static const char *HELP =
    "usage: qsmrim predict --qsm QSM --flair FLAIR --lesions LESIONS\n"
    "                      --out-labels OVERLAY --out-probability PROB --out-table TABLE.tsv\n"
    "                      [--model MODEL.h5] [--device auto|cpu|cuda[:N]] [--threshold f1|sensitive|VALUE]\n"
    "                      [--precision fp32|tf32] [--connectivity 26|6] [--lesion-input auto|mask|labels]\n"
    "                      [--flips] [--out-picture PNG [--title TEXT]] [--threads T] [--quiet]\n"
    "       qsmrim predict --manifest COHORT.tsv --out-dir DIR [--format nii.gz|nii|nrrd|mha]\n"
    "                      [--pictures] [--resume] [the model, decision and input options above]\n"
    "\n"
    "Classifies every lesion as rim+ (paramagnetic rim: chronic active lesion) or rim-: of one\n"
    "subject, or of every subject of a cohort manifest with one queue of all their lesions.\n"
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
    "cohort (--manifest): every subject of COHORT.tsv (tab-separated columns subject qsm flair\n"
    "lesions; an annotations column is allowed and not read; paths relative to the manifest) with\n"
    "one model load:\n"
    "  DIR/queue.tsv        every lesion of every subject, most probable rim+ first: rank subject\n"
    "                       lesion_id volume_mm3 center_r center_a center_s probability uncertainty\n"
    "                       decision - the order to review them in\n"
    "  DIR/subjects.tsv     subject status lesions rim_positive review trained_on message; status\n"
    "                       done, reused or failed (message says why)\n"
    "  DIR/SUBJECT/         lesions.tsv, overlay.EXT, probability.EXT (--format, default nii.gz)\n"
    "                       and with --pictures picture.png: the outputs above, for the viewer:\n"
    "                       qsmrim-review --cohort COHORT.tsv --results DIR --subject SUBJECT\n"
    "  trained_on: yes / no (the model's record of its training subjects), - (it keeps none).\n"
    "  A subject whose inputs cannot be used is recorded as failed (what an earlier run wrote for\n"
    "  it stays but is no longer listed as its result), and the others are classified (exit 1 at\n"
    "  the end, naming the first). Each subject's outputs are written as it finishes; an\n"
    "  interrupted run keeps them (the two tables come when every subject has had its turn),\n"
    "  and --resume reuses every subject whose inputs, model, device, settings and outputs are\n"
    "  unchanged (DIR/SUBJECT/.qsmrim-predict records them). One run at a time writes into DIR.\n"
    "  Subject names are folder names: '/', control characters, a leading '.' and the names of\n"
    "  the two tables are refused.\n"
    "  stdout: subjects=N done=D reused=U failed=F lesions=L rim_positive=K review=R\n"
    "\n"
    "A model trained by qsmrim records its training subjects (their QSM images); predicting one of\n"
    "them gives a warning (its probabilities describe fitted data), and subjects.tsv says yes in\n"
    "trained_on.\n"
    "\n"
    "example:\n"
    "  qsmrim predict --qsm sub/qsm.nii.gz --flair sub/flair.nii.gz --lesions sub/lesions.nii.gz \\\n"
    "      --out-labels overlay.nrrd --out-probability prob.nrrd --out-table lesions.tsv\n"
    "  qsmrim predict --manifest cohort.tsv --out-dir results --pictures\n";

static void batch_subject_start(int done, int total, const qr_batch_subject *r, void *user) {
    (void)done, (void)total, (void)user;
    char context[300];
    snprintf(context, sizeof context, "subject '%s'", r->subject);
    cli_set_context(context); /* the library's notices about it name it */
}

static void batch_subject_done(int done, int total, const qr_batch_subject *r, void *user) {
    (void)user;
    cli_set_context(NULL);
    if (r->status == QR_BATCH_FAILED)
        qr_log(QR_LOG_WARNING, "subject '%s' (%d of %d) not classified: %s", r->subject, done, total, r->message);
    else {
        char why[600] = "";
        if (r->status == QR_BATCH_REUSED) snprintf(why, sizeof why, " (reused: unchanged since an earlier run)");
        else if (r->message[0]) snprintf(why, sizeof why, " (computed again: %s)", r->message);
        cli_notice("subject '%s' (%d of %d): %lld lesions, %lld rim+, %lld to review%s", r->subject, done, total,
                   (long long)r->lesions, (long long)r->rim_positive, (long long)r->review, why);
    }
}

/* --manifest: every subject of a cohort (Logic/predict/batch.h). */
static int predict_cohort(const char *manifest, const char *out_dir, qr_batch_options *bo) {
    cli_install_interrupt();
    bo->predict.cancel = &cli_interrupted;
    bo->subject_start = batch_subject_start;
    bo->subject_done = batch_subject_done;
    qr_batch_summary sum;
    const qr_status s = qr_predict_cohort(manifest, out_dir, bo, &sum);
    cli_set_context(NULL);
    if (s == QR_ERR_CANCELLED)
        return cli_fail_hint(s, "the subjects finished are kept; rerun with --resume to continue");
    if (s != QR_OK) return cli_fail(s);
    printf("subjects=%d done=%d reused=%d failed=%d lesions=%lld rim_positive=%lld review=%lld\n", sum.subjects,
           sum.done, sum.reused, sum.failed, (long long)sum.lesions, (long long)sum.rim_positive, (long long)sum.review);
    if (sum.trained_on)
        qr_log(QR_LOG_WARNING, "%d of the %d subjects were used to train the model (trained_on in %s/%s)", sum.trained_on,
               sum.subjects, out_dir, QR_BATCH_SUBJECTS);
    if (sum.failed)
        return cli_fail(qr_fail(QR_ERR_INVALID_ARG, "%d of %d subjects could not be classified (first: %s); %s (see %s/%s)",
                                sum.failed, sum.subjects, sum.first_failure,
                                sum.failed < sum.subjects ? "the others' results are in the folder" : "none was",
                                out_dir, QR_BATCH_SUBJECTS));
    cli_notice("%d subjects (%d reused), %lld lesions: %lld rim+, %lld to review; queue %s/%s", sum.subjects,
               sum.reused, (long long)sum.lesions, (long long)sum.rim_positive, (long long)sum.review, out_dir,
               QR_BATCH_QUEUE);
    return CLI_EXIT_OK;
}

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
        {"manifest", required_argument, 0, 'M'},    {"out-dir", required_argument, 0, 'D'},
        {"format", required_argument, 0, 'E'},      {"pictures", no_argument, 0, 'G'},
        {"resume", no_argument, 0, 'R'},
        {0, 0, 0, 0}};
    const char *manifest = NULL, *out_dir = NULL;
    qr_batch_options bo = qr_batch_options_default();
    int batch_only = 0; /* an option of the cohort mode was given */
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
        case 'M': manifest = optarg; break;
        case 'D': out_dir = optarg; break;
        case 'E':
            if (!qr_batch_format_ok(optarg))
                return cli_usage("--format '%s' is not nii.gz, nii, nrrd or mha", optarg);
            bo.format = optarg;
            batch_only = 1;
            break;
        case 'G': bo.pictures = 1; batch_only = 1; break;
        case 'R': bo.resume = 1; batch_only = 1; break;
        case 'h': fputs(HELP, stdout); return CLI_EXIT_OK;
        default: return cli_usage("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("unexpected argument '%s'", argv[optind]);
    if (manifest || out_dir) {
        if (!manifest) return cli_usage("--out-dir is for a cohort: give --manifest COHORT.tsv too");
        if (!out_dir) return cli_usage("--manifest needs --out-dir DIR for the cohort's outputs");
        if (!manifest[0] || !out_dir[0]) return cli_usage("--manifest and --out-dir need a path, not an empty one");
        if (qsm || flair || lesions)
            return cli_usage("--manifest takes the subjects from the manifest: drop --qsm, --flair and --lesions");
        if (overlay || prob || table || picture || title)
            return cli_usage("with --manifest the outputs go to --out-dir (--pictures for pictures): drop --out-labels, "
                             "--out-probability, --out-table, --out-picture and --title");
        bo.predict = o;
        return predict_cohort(manifest, out_dir, &bo);
    }
    if (batch_only) return cli_usage("--format, --pictures and --resume are for a cohort (--manifest, --out-dir)");
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
    if (picture && qr_picture_path_check(picture) != QR_OK) return cli_fail(QR_ERR_INVALID_ARG);
    const qr_status cs = qr_predict_outputs_check(qsm, flair, lesions, o.model_path, outs, 4);
    if (cs != QR_OK) return cli_fail(cs);
    qr_outputs_remove_leftovers(outs, 4); /* what runs killed outright (kill -9) left there */

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
