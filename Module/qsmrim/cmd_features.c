/* cmd_features.c - `qsmrim features`: PyRadiomics-compatible radiomic features of one region or of
 * every lesion of a label map (lesions in parallel threads). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef QSMRIM_HAVE_OPENMP
#include <omp.h>
#endif

#include "cli.h"
#include "commands.h"
#include "core/fileutil.h"
#include "io/imageio.h"
#include "io/outputs.h"
#include "lesions/lesions.h"
#include "radiomics/radiomics.h"

static const char *HELP =
    "usage: qsmrim features --image IMG --mask MASK [--label N] [--params PARAMS.yaml] --out OUT.csv\n"
    "       qsmrim features --image IMG --lesions LABELS [--params PARAMS.yaml] --out OUT.csv [--threads T]\n"
    "\n"
    "Radiomic features as PyRadiomics computes them (same names, same order, same values to ~1e-12).\n"
    "\n"
    "  --image IMG          the image (QSM); NIfTI, NRRD, MetaImage or a DICOM folder\n"
    "  --mask MASK          a mask or label map on the image's grid; the region is the voxels equal\n"
    "                       to --label\n"
    "  --label N            label of the region (default: the parameter file's `label`, else 1)\n"
    "  --lesions LABELS     instead of --mask: one row per lesion. A map with one positive value is split\n"
    "                       into 26-connected lesions (numbered as `qsmrim lesions` numbers them);\n"
    "                       otherwise every positive label is one lesion\n"
    "  --params FILE        a PyRadiomics parameter file (setting / imageType / featureClass); default:\n"
    "                       the QSMRim-Net preset (Original + coif1 Wavelet; shape, firstorder, glcm,\n"
    "                       glrlm; binWidth 25: 536 features). Settings that are not implemented are\n"
    "                       refused with an error naming them.\n"
    "  --out OUT.csv        --mask: lines `name,value` after a header `name,value`;\n"
    "                       --lesions: header `lesion_id,<feature names>`, one line per lesion.\n"
    "                       Values with 17 significant digits.\n"
    "  --threads T          threads for --lesions (default: all cores)\n"
    "  --quiet              no notices\n"
    "\n"
    "A region PyRadiomics refuses (a single voxel, fewer dimensions than minimumROIDimensions - the\n"
    "preset asks for 2 -, not more voxels than minimumROISize, NaN/Inf voxels inside it or inside the\n"
    "wavelet support of its bounding box) is an error for --mask; with --lesions its row holds `nan`\n"
    "values and a notice names it. Float images are filtered in single precision and integer or\n"
    "double images in double precision, as PyRadiomics (through PyWavelets) does. Voxel values are\n"
    "held as float32: a double image (or integers beyond 2^24) is rounded on reading, by at most\n"
    "6e-8 of each value, and a notice says so; PyRadiomics keeps the file's values, so a voxel\n"
    "within that distance of a bin edge can fall into the other bin.\n"    "\n"
    "The features are computed on the arrays as stored, as PyRadiomics computes them: the wavelet\n"
    "features and some shape features (mesh, 2D diameters) depend on the storage order (another\n"
    "order of the same image gives other values). predict, train and evaluate first bring the volumes to the training data's order\n"
    "(i -> Left, j -> Posterior, k -> Superior), so for an image stored otherwise these are not the\n"
    "values a model is given.\n"
    "\n"
    "example:\n"
    "  qsmrim features --image qsm.nii.gz --lesions lesions.nii.gz --out radiomics.csv\n";

/* pixel types (as ITK names them) whose values float32 may not hold exactly (doubles; integers
 * above 2^24) */
static int holds_more_than_float32(const char *t) {
    static const char *const wide[] = {"double", "int", "unsigned_int", "long", "unsigned_long", "long_long",
                                       "unsigned_long_long", NULL};
    for (const char *const *w = wide; *w; w++)
        if (!strcmp(t, *w)) return 1;
    return 0;
}

static void put_value(FILE *f, double v) {
    if (isnan(v)) fputs("nan", f);
    else if (isinf(v)) fputs(v > 0 ? "inf" : "-inf", f);
    else fprintf(f, "%.17g", v);
}

static void warn_nonfinite(const char *image_path, int64_t n) {
    if (n > 0) qr_log(QR_LOG_WARNING, "%s: %lld voxels are NaN or Inf", image_path, (long long)n);
}

int cmd_features(int argc, char **argv) {
    static const struct option opts[] = {
        {"image", required_argument, 0, 'i'},  {"mask", required_argument, 0, 'm'},
        {"lesions", required_argument, 0, 'L'}, {"label", required_argument, 0, 'l'},
        {"params", required_argument, 0, 'p'}, {"out", required_argument, 0, 'o'},
        {"threads", required_argument, 0, 't'}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    const char *image_path = NULL, *mask_path = NULL, *lesions_path = NULL, *params = NULL, *out_path = NULL;
    long label = -1, threads = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': image_path = optarg; break;
        case 'm': mask_path = optarg; break;
        case 'L': lesions_path = optarg; break;
        case 'p': params = optarg; break;
        case 'o': out_path = optarg; break;
        case 'q': cli_set_quiet(1); break;
        case 'l':
            if (cli_parse_int("--label", optarg, 1, 2147483647L, &label)) return CLI_EXIT_USAGE;
            break;
        case 't':
            if (cli_parse_int("--threads", optarg, 1, 4096, &threads)) return CLI_EXIT_USAGE;
            break;
        case 'h': fputs(HELP, stdout); return CLI_EXIT_OK;
        default: return cli_usage("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("unexpected argument '%s'", argv[optind]);
    if (!image_path) return cli_usage("--image is required");
    if (!mask_path && !lesions_path) return cli_usage("--mask or --lesions is required");
    if (mask_path && lesions_path) return cli_usage("give either --mask or --lesions, not both");
    if (lesions_path && label >= 0) return cli_usage("--label applies to --mask only");
    if (!out_path) return cli_usage("--out is required");
    const qr_io_path ins[3] = {{image_path, "the --image input", 1, 0},
                               {mask_path ? mask_path : lesions_path, mask_path ? "the --mask input" : "the --lesions input", 1, 0},
                               {params, "the --params file", 0, 0}};
    const qr_io_path outs[1] = {{out_path, "--out", 0, 0}};
    qr_status cs = qr_outputs_check(ins, 3, outs, 1);
    if (cs != QR_OK) return cli_fail(cs);
    qr_outputs_remove_leftovers(outs, 1); /* what runs killed outright (kill -9) left there */

    qr_radiomics *r;
    qr_status s = qr_radiomics_load(params, &r);
    if (s != QR_OK) return cli_fail(s);
    qr_volume image, labels;
    qr_read_info info;
    /* NaN/Inf voxels are said once the run has an outcome: with the features written (those of a
     * lesion that holds any are nan), or not at all when a label holding them is the error */
    s = qr_image_read_quiet(image_path, QR_FLOAT32, &image, &info);
    if (s != QR_OK) {
        qr_radiomics_free(r);
        return cli_fail(s);
    }
    s = qr_image_read(mask_path ? mask_path : lesions_path, QR_INT32, &labels, NULL);
    if (s != QR_OK) {
        qr_volume_free(&image);
        qr_radiomics_free(r);
        return cli_fail(s);
    }
    if (holds_more_than_float32(info.component_type))
        qr_log(QR_LOG_NOTICE, "%s holds %s values; they are read as float32 (24 bits: rounded by at most 6e-8 of each)",
               image_path, info.component_type);
    qr_radiomics_options ro = qr_radiomics_options_default();
    ro.precision = qr_radiomics_precision_of(info.component_type);
    int64_t nf = qr_radiomics_count(r);
    qr_atomic out;
    int rc = CLI_EXIT_OK;

    if (mask_path) {
        int32_t lab = label >= 0 ? (int32_t)label : qr_radiomics_label(r);
        double *f = malloc(sizeof *f * (size_t)(nf > 0 ? nf : 1));
        s = f ? qr_radiomics_compute_ex(r, &image, &labels, lab, &ro, f) : qr_fail(QR_ERR_NOMEM, "out of memory");
        if (s != QR_OK) qr_fail_context(s, "%s with %s", image_path, mask_path);
        if (s == QR_OK) s = qr_atomic_open(&out, out_path);
        if (s == QR_OK) {
            fputs("name,value\n", out.fp);
            for (int64_t i = 0; i < nf; i++) {
                fprintf(out.fp, "%s,", qr_radiomics_name(r, i));
                put_value(out.fp, f[i]);
                fputc('\n', out.fp);
            }
            s = qr_atomic_commit(&out);
        }
        if (s == QR_OK) {
            warn_nonfinite(image_path, info.nonfinite);
            cli_notice("%lld features of label %d -> %s", (long long)nf, (int)lab, out_path);
        } else {
            rc = cli_fail(s);
        }
        free(f);
    } else {
        qr_lesion_options lo = qr_lesion_options_default();
        qr_volume lmap;
        qr_lesion_table table;
        int was_mask = 0;
        s = qr_lesions_extract(&labels, &lo, &lmap, &table, &was_mask);
        if (s != QR_OK) {
            rc = cli_fail(qr_fail_context(s, "%s", lesions_path));
        } else {
            int64_t n = table.n;
            double *f = malloc(sizeof *f * (size_t)(nf > 0 ? nf : 1) * (size_t)(n > 0 ? n : 1));
            qr_status *st = calloc((size_t)(n > 0 ? n : 1), sizeof *st);
            char(*msg)[512] = calloc((size_t)(n > 0 ? n : 1), sizeof *msg);
            if (!f || !st || !msg) s = qr_fail(QR_ERR_NOMEM, "out of memory");
            if (s == QR_OK) {
                cli_install_interrupt();
#ifdef QSMRIM_HAVE_OPENMP
                if (threads > 0) omp_set_num_threads((int)threads);
#pragma omp parallel for schedule(dynamic, 1)
#endif
                for (int64_t i = 0; i < n; i++) {
                    if (QR_CANCELLED(&cli_interrupted)) {
                        st[i] = QR_ERR_CANCELLED;
                        continue;
                    }
                    qr_radiomics_options o = ro;
                    o.bbox = table.items[i].bbox;
                    st[i] = qr_radiomics_compute_ex(r, &image, &lmap, table.items[i].id, &o, f + i * nf);
                    if (st[i] != QR_OK) snprintf(msg[i], sizeof msg[i], "%s", qr_last_error());
                }
                for (int64_t i = 0; i < n && s == QR_OK; i++) {
                    if (st[i] == QR_ERR_CANCELLED) s = qr_fail(QR_ERR_CANCELLED, "interrupted");
                    else if (st[i] == QR_ERR_EMPTY || st[i] == QR_ERR_NONFINITE)
                        cli_notice("lesion %d: %s; its row holds nan", (int)table.items[i].id, msg[i]);
                    else if (st[i] != QR_OK) s = qr_fail(st[i], "%s with %s: %s", image_path, lesions_path, msg[i]);
                }
            }
            if (s == QR_OK) s = qr_atomic_open(&out, out_path);
            if (s == QR_OK) {
                fputs("lesion_id", out.fp);
                for (int64_t k = 0; k < nf; k++) fprintf(out.fp, ",%s", qr_radiomics_name(r, k));
                fputc('\n', out.fp);
                for (int64_t i = 0; i < n; i++) {
                    fprintf(out.fp, "%d", (int)table.items[i].id);
                    for (int64_t k = 0; k < nf; k++) {
                        fputc(',', out.fp);
                        put_value(out.fp, f[i * nf + k]);
                    }
                    fputc('\n', out.fp);
                }
                s = qr_atomic_commit(&out);
            }
            if (s == QR_OK) {
                warn_nonfinite(image_path, info.nonfinite);
                if (n == 0) cli_notice("%s holds no lesions; writing the header only", lesions_path);
                cli_notice("%lld features of %lld lesions (%s) -> %s", (long long)nf, (long long)n,
                           was_mask ? "mask split into 26-connected components" : "label map", out_path);
            } else {
                rc = cli_fail(s);
            }
            free(f), free(st), free(msg);
            qr_lesion_table_free(&table);
            qr_volume_free(&lmap);
        }
    }
    qr_volume_free(&image);
    qr_volume_free(&labels);
    qr_radiomics_free(r);
    return rc;
}
