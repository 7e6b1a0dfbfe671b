/* cmd_evaluate.c - `qsmrim evaluate`: the paper's cross-validated evaluation, or a model scored on
 * a cohort; metrics.json, predictions.tsv, figures and an HTML report. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "core/fileutil.h"
#include "train/learner.h"
#include "train/pipeline.h"

static const char *HELP =
    "usage: qsmrim evaluate --manifest COHORT.tsv --report DIR [--arch A[,A...]] [--folds 5] [--seeds 3]\n"
    "                       [--model MODEL.h5] [--config TRAIN.yaml] [--seed S] [--device D] [--precision P]\n"
    "                       [--bootstrap 500] [--name ID] [--note TEXT] [--include DIR]...\n"
    "                       [--cache DIR | --no-cache] [--resume] [--threads T] [--quiet]\n"
    "       qsmrim evaluate --report DIR --include DIR [--include DIR ...]\n"
    "\n"
    "Cross-validates a classifier on an annotated cohort the way the QSMRim-Net paper evaluates it,\n"
    "or scores a trained model on every lesion of a cohort, and writes a report folder.\n"
    "\n"
    "  --manifest FILE   cohort manifest: TSV with columns subject qsm flair lesions annotations, paths\n"
    "                    relative to the manifest (as `qsmrim phantom` writes it); annotation tables\n"
    "                    have columns lesion_id and rim (1 rim+, 0 rim-), or are qsmrim-review files\n"
    "                    (their rim+ / rim- decisions; unsure and undecided lesions count as\n"
    "                    without a row); lesions without a row are left out (a notice names their\n"
    "                    subjects), and so is a subject with none\n"
    "  --report DIR      output folder (created): metrics.json, predictions.tsv (subject lesion_id fold\n"
    "                    label probability), decisions.tsv (subject lesion_id fold decision review,\n"
    "                    then each seed's probability), summary.tsv, roc.png, pr.png, counts.png,\n"
    "                    report.html\n"
    "  --arch A          qsmrimnet (default), rimnet, aprl-rf, aprl-nn; a comma-separated list runs\n"
    "                    each into DIR/<name>/ and one combined report.html (DIR/metrics.json,\n"
    "                    predictions.tsv and decisions.tsv are the first method's)\n"
    "  --folds K         stratified subject-level folds (default 5): subjects grouped by rim+ count\n"
    "                    0, 1-3, 4-6, >6 and dealt to the folds at random within each group\n"
    "  --seeds N         models per fold with different seeds (default 3): decisions by majority vote\n"
    "                    of their F1-optimal thresholds, curves from their mean probability\n"
    "  --model FILE      no training: score this model (qsmrim train) on every lesion with the\n"
    "                    thresholds stored in it (a warning counts the subjects it was trained on)\n"
    "  --config FILE     TRAIN.yaml settings (width, epochs, fusion, deepsmote, ...; see the README);\n"
    "                    a relative radiomics: parameter file is taken from TRAIN.yaml's folder\n"
    "  --seed S          seed of the folds, the training and the bootstrap (default 1)\n"
    "  --device D        auto (default), cpu, cuda, cuda:N, or ref (the engine's slow reference\n"
    "                    implementation, for checks)\n"
    "  --bootstrap B     subject-level bootstrap resamples for 95% intervals (default 500; 0 = none)\n"
    "  --name ID         method id in the report tables (default: the architecture), e.g.\n"
    "                    ablation-two-branch, ablation-image, ablation-radiomics for Table 3 rows;\n"
    "                    1-64 letters, digits and . _ + -, not starting with . or - (it also names\n"
    "                    DIR/.work-<name>/); only with a single --arch\n"
    "  --note TEXT       what the data is, shown at the top of the report (e.g. \"phantom cohort\")\n"
    "  --include DIR     add the methods of another report folder (its summary.tsv, or those of its\n"
    "                    subfolders) to this report's tables; repeatable; without --manifest only the\n"
    "                    combined report.html is written\n"
    "  --cache DIR       radiomic feature cache (default: .qsmrim-cache beside the manifest);\n"
    "                    --no-cache computes every time\n"
    "  --resume          continue an interrupted run: finished fold/seed jobs are kept in\n"
    "                    DIR/.work-<name>/, and networks restart from their last epoch checkpoint\n"
    "  --precision P     fp32 (default) or tf32: convolutions and linear layers on TF32 tensor cores\n"
    "                    (faster on a GPU; on the CPU the rounding is emulated, not faster);\n"
    "                    default: $QSMRIM_PRECISION\n"
    "  --threads T       CPU threads (default: all cores)\n"
    "  --quiet           no progress or notices\n"
    "\n"
    "Ctrl-C stops after the current training step, keeping every finished job and the last epoch\n"
    "checkpoint; run the same command with --resume to continue.\n"
    "\n"
    "examples:\n"
    "  qsmrim evaluate --manifest cohort/cohort.tsv --report eval/qsmrimnet --config small.yaml\n"
    "  qsmrim evaluate --manifest cohort/cohort.tsv --report eval/rf --arch aprl-rf\n"
    "  qsmrim evaluate --report eval/all --include eval/qsmrimnet --include eval/rf\n";

#define MAX_ARCH 8
#define MAX_INCLUDE 32

typedef struct run_state {
    char label[256];
    int fold, seed, folds, seeds;
    double first_start; /* when the first job trained in this run started (0: none yet) */
    int trained;        /* jobs started in this run */
} run_state;

static void fmt_hms(double s, char *buf, size_t n) {
    long t = (long)(s + 0.5);
    snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
}

static void on_job(int fold, int seed, int done, int jobs, int reused, void *user) {
    run_state *rs = user;
    rs->fold = fold;
    rs->seed = seed;
    if (reused) {
        cli_notice("fold %d/%d, seed %d/%d: finished earlier, reused (%d/%d jobs)", fold + 1, rs->folds, seed + 1,
                   rs->seeds, done + 1, jobs);
        return;
    }
    double now = cli_now();
    char eta[64] = "";
    if (rs->trained > 0) { /* the mean duration of the jobs trained so far, times the jobs left */
        char hms[32];
        fmt_hms((now - rs->first_start) / rs->trained * (jobs - done), hms, sizeof hms);
        snprintf(eta, sizeof eta, ", about %s left", hms);
    } else {
        rs->first_start = now;
    }
    rs->trained++;
    cli_notice("fold %d/%d, seed %d/%d: training (job %d/%d%s)", fold + 1, rs->folds, seed + 1, rs->seeds, done + 1,
               jobs, eta);
}

static void on_fit(const qr_fit_progress *p, void *user) {
    run_state *rs = user;
    if (!isfinite(p->loss)) return; /* the forest reports only its end */
    snprintf(rs->label, sizeof rs->label, "fold %d/%d seed %d/%d epoch %d/%d loss %.4f %.2f ms/lesion", rs->fold + 1,
             rs->folds, rs->seed + 1, rs->seeds, p->epoch + 1, p->epochs, p->loss, p->ms_per_sample);
    cli_progress_step(rs->label, (int64_t)p->epoch * p->steps + p->step, (int64_t)p->epochs * p->steps);
}

/* --name becomes a folder name (DIR/.work-<name>/, DIR/<name>/): one plain path component. */
static int method_id_ok(const char *s) {
    const size_t n = strlen(s);
    if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-') return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._+-", s[i])) return 0;
    return 1;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Whether the report whose summary.tsv is `summary` scored a trained model on given subjects (its
 * metrics.json beside it says "n_folds": 1) rather than cross-validating. */
static int scored_report(const char *summary) {
    char p[QR_PATH_MAX], line[256];
    qr_path_dirname(summary, p, sizeof p);
    strncat(p, "/metrics.json", sizeof p - strlen(p) - 1);
    FILE *f = fopen(p, "r");
    int folds = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, " \"n_folds\": %d", &folds) == 1) break;
    if (f) fclose(f);
    return folds == 1;
}

/* Rows of an --include folder: DIR/summary.tsv, else DIR/<sub>/summary.tsv for each subfolder. */
static qr_status read_includes(const char *dir, qr_report_section *sec, int *n, int cap) {
    char p[QR_PATH_MAX];
    snprintf(p, sizeof p, "%s/summary.tsv", dir);
    if (qr_path_is_file(p)) {
        if (*n >= cap) return qr_fail(QR_ERR_INVALID_ARG, "too many methods in the report");
        memset(&sec[*n], 0, sizeof sec[*n]);
        QR_TRY(qr_report_read_summary(p, &sec[*n].row));
        sec[*n].scored = scored_report(p);
        (*n)++;
        return QR_OK;
    }
    DIR *dh = opendir(dir);
    if (!dh) return qr_fail(QR_ERR_IO, "%s: cannot open the report folder", dir);
    int found = 0;
    qr_status st = QR_OK;
    /* subfolders in name order, so the report lists them the same way every time */
    char *names[256];
    int nn = 0;
    for (struct dirent *e; (e = readdir(dh)) && nn < 256;) {
        if (e->d_name[0] == '.') continue;
        names[nn] = strdup(e->d_name);
        if (names[nn]) nn++;
    }
    closedir(dh);
    qsort(names, (size_t)nn, sizeof *names, cmp_names);
    for (int k = 0; k < nn; k++) {
        snprintf(p, sizeof p, "%s/%s/summary.tsv", dir, names[k]);
        if (st != QR_OK || !qr_path_is_file(p) || *n >= cap) continue;
        memset(&sec[*n], 0, sizeof sec[*n]);
        st = qr_report_read_summary(p, &sec[*n].row);
        if (st == QR_OK) {
            sec[*n].scored = scored_report(p);
            (*n)++;
            found++;
        }
    }
    for (int k = 0; k < nn; k++) free(names[k]);
    if (st != QR_OK) return st;
    if (!found) return qr_fail(QR_ERR_IO, "%s: no summary.tsv there or in its subfolders (not an evaluation report)", dir);
    return QR_OK;
}

int cmd_evaluate(int argc, char **argv) {
    cli_prefer_passive_omp_waiting(argv);
    static const struct option opts[] = {
        {"manifest", required_argument, 0, 'm'}, {"report", required_argument, 0, 'r'},
        {"arch", required_argument, 0, 'a'},     {"folds", required_argument, 0, 'k'},
        {"seeds", required_argument, 0, 'n'},    {"model", required_argument, 0, 'M'},
        {"config", required_argument, 0, 'c'},   {"seed", required_argument, 0, 's'},
        {"device", required_argument, 0, 'd'}, {"precision", required_argument, 0, CLI_OPT_PRECISION},   {"bootstrap", required_argument, 0, 'b'},
        {"name", required_argument, 0, 'N'},     {"note", required_argument, 0, 'T'},
        {"include", required_argument, 0, 'i'},  {"cache", required_argument, 0, 'C'},
        {"no-cache", no_argument, 0, 'X'},       {"resume", no_argument, 0, 'R'},
        {"threads", required_argument, 0, 't'},  {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *manifest = NULL, *report = NULL, *arch_list = "qsmrimnet", *model = NULL, *config = NULL;
    const char *device = "auto", *name = NULL, *note = NULL, *cache = NULL, *includes[MAX_INCLUDE];
    int ninclude = 0, no_cache = 0, resume = 0;
    long folds = 5, seeds = 3, bootstrap = 500, threads = -1, seed = 1;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': manifest = optarg; break;
        case 'r': report = optarg; break;
        case 'a': arch_list = optarg; break;
        case 'k': if (cli_parse_int("--folds", optarg, 2, 100, &folds)) return CLI_EXIT_USAGE; break;
        case 'n': if (cli_parse_int("--seeds", optarg, 1, 100, &seeds)) return CLI_EXIT_USAGE; break;
        case 'M': model = optarg; break;
        case 'c': config = optarg; break;
        case 's': if (cli_parse_int("--seed", optarg, 0, 2147483647L, &seed)) return CLI_EXIT_USAGE; break;
        case 'd':
            if (cli_check_device(optarg)) return CLI_EXIT_USAGE;
            device = optarg;
            break;
        case CLI_OPT_PRECISION:
            if (cli_set_precision(optarg)) return CLI_EXIT_USAGE;
            break;
        case 'b': if (cli_parse_int("--bootstrap", optarg, 0, 100000, &bootstrap)) return CLI_EXIT_USAGE; break;
        case 'N':
            if (!method_id_ok(optarg))
                return cli_usage("--name '%s': a method id is 1-64 letters, digits and . _ + - (not starting with . or -); it names "
                                 "the report's tables and the DIR/.work-<name>/ folder",
                                 optarg);
            name = optarg;
            break;
        case 'T': note = optarg; break;
        case 'i':
            if (ninclude >= MAX_INCLUDE) return cli_usage("at most %d --include folders", MAX_INCLUDE);
            includes[ninclude++] = optarg;
            break;
        case 'C': cache = optarg; break;
        case 'X': no_cache = 1; break;
        case 'R': resume = 1; break;
        case 't': if (cli_parse_int("--threads", optarg, 1, 4096, &threads)) return CLI_EXIT_USAGE; break;
        case 'q': cli_set_quiet(1); break;
        case 'h': fputs(HELP, stdout); return CLI_EXIT_OK;
        default: return cli_usage("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("unexpected argument '%s'", argv[optind]);
    /* the included reports are read before the work, so a bad one fails at once */
    static qr_report_section included[MAX_INCLUDE * 8];
    int nincluded = 0;
    for (int k = 0; k < ninclude; k++) {
        if (!qr_path_is_dir(includes[k]))
            return cli_fail(qr_fail(QR_ERR_IO, "%s: --include needs a report folder; there is none", includes[k]));
        qr_status ist = read_includes(includes[k], included, &nincluded, MAX_INCLUDE * 8);
        if (ist != QR_OK) return cli_fail(ist);
    }
    if (!report) return cli_usage("--report is required");
    if (!manifest && !ninclude) return cli_usage("--manifest is required (or --include to combine reports)");
    if (cache && no_cache) return cli_usage("--cache and --no-cache exclude each other");

    /* architectures */
    char archbuf[256];
    snprintf(archbuf, sizeof archbuf, "%s", arch_list);
    qr_arch_id archs[MAX_ARCH];
    int narch = 0;
    for (char *save = NULL, *tok = strtok_r(archbuf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (narch >= MAX_ARCH) return cli_usage("at most %d architectures", MAX_ARCH);
        if (qr_arch_from_name(tok, &archs[narch]) != QR_OK) return cli_usage("%s", qr_last_error());
        narch++;
    }
    if (narch == 0) return cli_usage("--arch needs an architecture");
    if (name && narch > 1) return cli_usage("--name applies to a single --arch");
    if (model && narch > 1) return cli_usage("--model scores one model; give no --arch list");

    qr_train_config cfg = qr_train_config_default();
    qr_status st = QR_OK;
    if (config) {
        st = qr_train_config_read(config, &cfg);
        if (st != QR_OK) return cli_fail(st);
    }
    if (threads > 0) cfg.threads = (int)threads;
    cli_install_interrupt();
    /* a failed run removes the report folder if this run made it (mkdir tells, atomically) and
     * nothing is in it */
    char bare[QR_PATH_MAX], parent[QR_PATH_MAX];
    snprintf(bare, sizeof bare, "%s", report);
    for (size_t n = strlen(bare); n > 1 && bare[n - 1] == '/';) bare[--n] = '\0'; /* "DIR/" */
    qr_path_dirname(bare, parent, sizeof parent);
    st = qr_mkdir_p(parent);
    if (st != QR_OK) return cli_fail(st);
    const int made_report = mkdir(bare, 0777) == 0;
    st = qr_mkdir_p(report);
    if (st != QR_OK) return cli_fail(st);
    const int gone = qr_remove_leftovers(report, NULL);
    if (gone) cli_notice("removed %d staging folder%s or temporary file%s an interrupted run left in %s", gone,
                         gone == 1 ? "" : "s", gone == 1 ? "" : "s", report);
    /* Every file of the report is written into a staging folder inside it and moved into place
     * once all are written (report.html last), so a run that fails or is stopped while writing
     * leaves the previous report as it was. The checkpoints of --resume stay in DIR/.work-*. */
    char stage[QR_PATH_MAX], final_html[QR_PATH_MAX + 16];
    snprintf(final_html, sizeof final_html, "%s/report.html", report);
    st = qr_staging_create(final_html, stage, sizeof stage);
    if (st != QR_OK) return cli_fail(st);

    /* static, as `included` above: together over half a megabyte, too much for a stack frame */
    static qr_report_section sections[MAX_ARCH + MAX_INCLUDE * 8];
    int nsec = 0;
    static qr_method_eval evals[MAX_ARCH];
    int neval = 0;
    qr_dataset ds;
    memset(&ds, 0, sizeof ds);
    char command[2048];
    cli_command_line(argc, argv, command, sizeof command);

    int model_is_network = 0;
    if (manifest && model) { /* a bad model file fails before the cohort is loaded (read on the CPU:
                              * the device is chosen once, below, for a network) */
        qr_learner *probe = NULL;
        st = qr_learner_load(model, "cpu", &probe, NULL);
        if (st == QR_OK) model_is_network = qr_learner_arch(probe) != QR_ARCH_APRL_RF;
        qr_learner_free(probe);
        if (st != QR_OK) goto done;
    }
    if (manifest) {
        qr_cohort cohort;
        st = qr_cohort_read(manifest, &cohort);
        if (st == QR_OK) st = qr_cohort_check_files(&cohort);
        if (st == QR_OK) st = qr_cohort_outputs_check(&cohort, NULL, NULL, report, "the --report folder");
        if (st == QR_OK) /* the metrics need both classes, of a cross-validation or of a given model */
            st = qr_cohort_check_classes(&cohort, model ? "scoring a model (its metrics)" : "cross-validation");
        if (st == QR_OK && !model && folds > cohort.n) /* before any work */
            st = qr_fail(QR_ERR_INVALID_ARG, "%s: %ld folds need at least %ld subjects, it lists %d", manifest, folds, folds,
                         cohort.n);
        if (st == QR_OK && !model) st = qr_cohort_check_split(&cohort, "folds");
        if (st != QR_OK) {
            qr_cohort_free(&cohort);
            goto done;
        }
        int need_c = 0, need_x = 0, need_f = 0;
        for (int a = 0; a < narch; a++) {
            int cc, xx, ff;
            qr_arch_needs(archs[a], &cc, &xx, &ff);
            need_c |= cc;
            need_x |= xx;
            need_f |= ff;
        }
        if (model) need_c = need_x = need_f = 1; /* the file decides what it reads */
        char cache_dir[QR_PATH_MAX + 32];
        qr_dataset_options dopt = {need_c, need_x, need_f, cfg.radiomics[0] ? cfg.radiomics : NULL, NULL, cfg.threads};
        if (!no_cache) {
            if (cache) {
                snprintf(cache_dir, sizeof cache_dir, "%s", cache);
            } else {
                char mdir[QR_PATH_MAX];
                qr_path_dirname(manifest, mdir, sizeof mdir);
                snprintf(cache_dir, sizeof cache_dir, "%s/.qsmrim-cache", mdir);
            }
            dopt.cache_dir = cache_dir;
        }
        st = qr_dataset_load(&cohort, &dopt, &ds, cli_load_progress, NULL, &cli_interrupted);
        const int ncohort = cohort.n; /* the dataset may leave unannotated subjects out */
        qr_cohort_free(&cohort);
        if (st != QR_OK) goto done;
        int64_t npos = 0;
        for (int64_t i = 0; i < ds.n; i++) npos += ds.label[i];
        cli_notice("cohort: %d subjects, %lld lesions, %lld rim+ (%.2f%%)", ds.nsubjects, (long long)ds.n, (long long)npos,
                   100.0 * (double)npos / (double)ds.n);
        if (model) { /* scoring subjects the model was trained on is no test of it */
            uint64_t *trained = NULL;
            int64_t ntrained = 0;
            st = qr_model_training_subjects(model, &trained, &ntrained);
            int seen = 0;
            for (int s = 0; st == QR_OK && s < ds.nsubjects; s++)
                for (int64_t k = 0; k < ntrained; k++)
                    if (ds.subject_qsm_hash[s] == trained[k]) {
                        seen++;
                        break;
                    }
            free(trained);
            if (st != QR_OK) goto done;
            if (seen)
                qr_log(QR_LOG_WARNING,
                       "%d of the %d subjects scored were used to train %s (the same QSM image): their metrics describe "
                       "fitted data, not a test of the model",
                       seen, ds.nsubjects, model);
        }

        if (!model && (st = qr_cohort_warn_voxel_sizes(&ds)) != QR_OK) goto done; /* every subject trains */
        if (ds.n_missing_features)
            cli_notice("%lld lesions are too small for PyRadiomics (e.g. one voxel): their radiomic features are "
                       "imputed with the training mean",
                       (long long)ds.n_missing_features);
        if (need_f && dopt.cache_dir)
            cli_notice("radiomic features: %lld of %d subjects from the cache %s", (long long)ds.n_cached, ncohort,
                       dopt.cache_dir);

        int networks = 0; /* architectures that train a network (one context per job) */
        for (int a = 0; a < narch; a++) networks |= archs[a] != QR_ARCH_APRL_RF;
        if (model) networks = model_is_network;
        const char *job_device = networks ? cli_resolve_device(device, cfg.threads) : device;
        for (int a = 0; a < narch && st == QR_OK; a++) {
            char outdir[QR_PATH_MAX + 64], workdir[QR_PATH_MAX];
            const char *mname = name ? name : qr_arch_to_name(archs[a]);
            if (model && !name) mname = NULL; /* the model file's architecture names it */
            if (narch == 1)
                snprintf(outdir, sizeof outdir, "%s", stage);
            else
                snprintf(outdir, sizeof outdir, "%s/%s", stage, mname ? mname : "model");
            snprintf(workdir, sizeof workdir, "%s/.work-%s", report, mname ? mname : "model");
            run_state rs;
            memset(&rs, 0, sizeof rs);
            rs.folds = (int)folds;
            rs.seeds = (int)seeds;
            qr_pipeline_hooks hooks = {on_fit, on_job, &rs, &cli_interrupted};
            qr_evaluate_options eo;
            memset(&eo, 0, sizeof eo);
            eo.name = mname;
            eo.arch = archs[a];
            eo.cfg = &cfg;
            eo.nfolds = (int)folds;
            eo.nseeds = (int)seeds;
            eo.bootstrap = (int)bootstrap;
            eo.seed = (uint64_t)seed;
            eo.device = job_device; /* a forest uses no device */
            eo.model_path = model;
            eo.outdir = outdir;
            eo.workdir = model ? NULL : workdir;
            eo.resume = resume;
            eo.data_note = note;
            eo.command = command;
            eo.manifest = manifest;
            if (!model) cli_notice("%s: %ld-fold cross-validation x %ld seeds", mname, folds, seeds);
            st = qr_evaluate_method(&ds, &eo, &hooks, &evals[neval]);
            if (st != QR_OK) break;
            const qr_eval_result *r = &evals[neval].result;
            char line[512];
            qr_eval_headline(r, line, sizeof line);
            cli_notice("%s: %s", evals[neval].name, line);
            sections[nsec++] = qr_method_eval_section(&evals[neval]);
            neval++;
        }
        /* the contract's DIR/metrics.json and DIR/predictions.tsv: the first method's */
        if (st == QR_OK && narch > 1) st = qr_method_eval_write_tables(&ds, &evals[0], stage);
    }
    for (int k = 0; k < nincluded; k++) sections[nsec++] = included[k];
    if (st == QR_OK) {
        char path[QR_PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/report.html", stage); /* reads the figures from the staging folder */
        st = qr_report_write_html(path, "qsmrim evaluation report", sections, nsec);
    }
    if (st == QR_OK) {
        /* a report that only combines others keeps every file of the folder; one that computes
         * replaces the previous report's files, except what its --include folders hold */
        const char *keep_all[1] = {report};
        st = manifest ? qr_staging_commit_report(stage, report, includes, ninclude) : qr_staging_commit_report(stage, report, keep_all, 1);
        if (st == QR_OK) cli_notice("report: %s", final_html);
    }
done:
    if (st != QR_OK) {
        qr_staging_abort(stage);
        if (made_report) rmdir(bare); /* only when nothing (such as --resume checkpoints) is in it */
    }
    for (int e = 0; e < neval; e++) qr_method_eval_free(&evals[e]);
    qr_dataset_free(&ds);
    if (st == QR_ERR_CANCELLED)
        return cli_fail_hint(st, "finished jobs and checkpoints are kept; add --resume to continue");
    return st == QR_OK ? CLI_EXIT_OK : cli_fail(st);
}
