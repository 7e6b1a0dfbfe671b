/* cmd_lesions.c - `qsmrim lesions`: the lesion table of a mask or label map. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/fileutil.h"
#include "commands.h"
#include "io/imageio.h"
#include "io/outputs.h"
#include "lesions/lesions.h"

static const char *HELP =
    "usage: qsmrim lesions --mask MASK --out TABLE.tsv [--connectivity 6|26] [--min-volume MM3]\n"
    "                      [--input auto|mask|labels] [--out-labels LABELS.nrrd] [--quiet]\n"
    "\n"
    "Lists the lesions of a lesion mask or label map, one row per lesion.\n"
    "\n"
    "  --mask MASK          lesion mask (0/1 or 0/255) or label map (one positive label per lesion);\n"
    "                       NIfTI, NRRD, MetaImage or a DICOM folder\n"
    "  --out TABLE.tsv      the table (tab-separated), columns:\n"
    "                         lesion_id       label value (components of a mask are numbered 1..n\n"
    "                                         in memory order of their first voxel)\n"
    "                         voxels          voxel count\n"
    "                         volume_mm3      voxel count x voxel volume\n"
    "                         center_r/a/s    centre of mass in RAS mm, as 3D Slicer shows it\n"
    "                         bbox            inclusive voxel bounds i0,j0,k0,i1,j1,k1 (0-based)\n"
    "                         touches_border  1 if the lesion reaches the edge of the volume\n"
    "  --connectivity 6|26  neighbourhood for splitting a mask into lesions (default 26: faces,\n"
    "                       edges and corners; 6: faces only)\n"
    "  --min-volume MM3     drop lesions smaller than this; one of exactly this volume is kept\n"
    "                       (default 0: keep all)\n"
    "  --input KIND         auto (default): a map with one positive value (0/1, 0/255) is a mask\n"
    "                       and is split into connected components; two or more positive values\n"
    "                       make it a label map whose labels are kept; mask / labels force one\n"
    "                       reading (labels: keep a single lesion's own label)\n"
    "  --out-labels FILE    also write the final label map (after splitting and filtering)\n"
    "  --quiet              no notices\n"
    "\n"
    "An empty mask is not an error: the table has a header and no rows (exit 0).\n"
    "\n"
    "example:\n"
    "  qsmrim lesions --mask patient01_lesions_mni.nii.gz --out lesions.tsv\n";

int cmd_lesions(int argc, char **argv) {
    static const struct option opts[] = {
        {"mask", required_argument, 0, 'm'},      {"out", required_argument, 0, 'o'},
        {"connectivity", required_argument, 0, 'c'}, {"min-volume", required_argument, 0, 'v'},
        {"input", required_argument, 0, 'i'},     {"out-labels", required_argument, 0, 'l'},
        {"quiet", no_argument, 0, 'q'},           {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *mask_path = NULL, *out_path = NULL, *labels_path = NULL;
    qr_lesion_options lo = qr_lesion_options_default();
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        long l;
        switch (c) {
        case 'm': mask_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'l': labels_path = optarg; break;
        case 'q': cli_set_quiet(1); break;
        case 'c':
            if (cli_parse_connectivity(optarg, &l)) return CLI_EXIT_USAGE;
            lo.connectivity = (int)l;
            break;
        case 'v':
            if (cli_parse_double("--min-volume", optarg, &lo.min_volume_mm3)) return CLI_EXIT_USAGE;
            if (lo.min_volume_mm3 < 0) return cli_usage("--min-volume must be >= 0");
            break;
        case 'i':
            if (qr_lesion_input_parse(optarg, "--input", &lo.input) != QR_OK) return cli_usage("%s", qr_last_error());
            break;
        case 'h': fputs(HELP, stdout); return CLI_EXIT_OK;
        default: return cli_usage("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("unexpected argument '%s'", argv[optind]);
    if (!mask_path) return cli_usage("--mask is required");
    if (!out_path) return cli_usage("--out is required");

    const qr_io_path in[1] = {{mask_path, "the --mask input", 1, 0}};
    const qr_io_path outs[2] = {{out_path, "--out", 0, 0}, {labels_path, "--out-labels", 1, QR_WRITE_COMPRESS}};
    qr_status s = qr_outputs_check(in, 1, outs, 2);
    if (s != QR_OK) return cli_fail(s);
    qr_outputs_remove_leftovers(outs, 2); /* what runs killed outright (kill -9) left there */
    qr_volume input, labels;
    s = qr_image_read(mask_path, QR_INT32, &input, NULL);
    if (s != QR_OK) return cli_fail(s);
    qr_lesion_table table;
    int was_mask = 0;
    s = qr_lesions_extract(&input, &lo, &labels, &table, &was_mask);
    int any = 0; /* a lesion voxel at all: an empty table then comes from --min-volume */
    for (int64_t i = 0; s == QR_OK && table.n == 0 && !any && i < qr_volume_nvox(&input); i++) any = qr_volume_i32(&input)[i] > 0;
    qr_volume_free(&input);
    if (s != QR_OK) return cli_fail(qr_fail_context(s, "%s", mask_path));
    if (table.n == 0 && any)
        cli_notice("%s holds no lesion of at least %g mm3 (--min-volume left out every one); writing an empty table",
                   mask_path, lo.min_volume_mm3);
    else if (table.n == 0)
        cli_notice("%s holds no lesions; writing an empty table", mask_path);
    qr_pending pending[2]; /* both written before either replaces an old one */
    memset(pending, 0, sizeof pending);
    s = qr_lesion_table_write_tsv_pending(&table, out_path, &pending[0]);
    if (s == QR_OK && labels_path) s = qr_image_write_pending(labels_path, &labels, QR_WRITE_COMPRESS, &pending[1]);
    if (s == QR_OK) s = qr_pending_commit_all(pending, 2);
    else qr_pending_abort_all(pending, 2);
    if (s == QR_OK)
        cli_notice("%lld lesions (%s, %s) -> %s", (long long)table.n,
                   was_mask ? "mask split into connected components" : "label map, labels kept",
                   was_mask ? (lo.connectivity == 26 ? "26-connectivity" : "6-connectivity") : "as labelled", out_path);
    qr_lesion_table_free(&table);
    qr_volume_free(&labels);
    return s == QR_OK ? CLI_EXIT_OK : cli_fail(s);
}
