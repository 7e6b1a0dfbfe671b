/* cmd_train.c - `qsmrim train`: train a model on an annotated cohort. */
#define _GNU_SOURCE
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "core/fileutil.h"
#include "core/tsv.h"
#include "eval/report.h"
#include "io/outputs.h"
#include "train/pipeline.h"

static const char *HELP =
    "usage: qsmrim train --manifest COHORT.tsv --out MODEL.h5 [--arch qsmrimnet|rimnet|aprl-rf|aprl-nn]\n"
    "                    [--config TRAIN.yaml] [--seed S] [--device D] [--precision P] [--seeds N] [--holdout F]\n"
    "                    [--resume] [--report DIR] [--note TEXT] [--cache DIR | --no-cache]\n"
    "                    [--threads T] [--quiet]\n"
    "\n"
    "Trains a classifier of rim+ / rim- lesions on an annotated cohort and writes a model file that\n"
    "`qsmrim predict` and `qsmrim evaluate --model` read.\n"
    "\n"
    "  --manifest FILE   cohort manifest (subject qsm flair lesions annotations; see `qsmrim evaluate`)\n"
    "  --out FILE        the model file (HDF5), written when training is complete\n"
    "  --arch A          qsmrimnet (default): 3D ResNet-18 on the masked 16x32x32 QSM+FLAIR patch fused\n"
    "                    with radiomic features, DeepSMOTE; rimnet: two-branch CNN on the unmasked\n"
    "                    window; aprl-rf: random forest on first-order QSM features with SMOTE;\n"
    "                    aprl-nn: radiomic MLP\n"
    "  --config FILE     TRAIN.yaml settings (width, epochs, batch_size, learning_rate, fusion,\n"
    "                    deepsmote, use_radiomics, augment, random-forest settings, holdout,\n"
    "                    radiomics: a PyRadiomics parameter file, relative to TRAIN.yaml's folder)\n"
    "  --seed S          training seed (default 1): same seed, same model on the CPU (any threads)\n"
    "  --device D        auto (default), cpu, cuda, cuda:N, or ref (the engine's slow reference\n"
    "                    implementation, for checks)\n"
    "  --seeds N         members trained with different seeds; the model averages them (default 1)\n"
    "  --holdout F       share of subjects held out, stratified by rim+ count (default 0.2, or the\n"
    "                    config's holdout; at most 0.5): one fold of a k-fold split with k = round(1/F)\n"
    "                    (the first that holds a rim+ subject),\n"
    "                    so 0.2 holds out a fifth and 0.3 a third; the decision thresholds (F1-optimal\n"
    "                    and the high-sensitivity one) are chosen on them and their metrics are reported\n"
    "                    and stored in the model; 0 trains on every subject and takes the thresholds\n"
    "                    from the training lesions (optimistic)\n"
    "  --resume          continue from the checkpoints of an interrupted run (MODEL.h5.seed<k>.ckpt.h5,\n"
    "                    written after every epoch next to the model and removed when it is complete);\n"
    "                    without --resume such a checkpoint is an error (remove it to start anew), and\n"
    "                    --resume over a finished model (no checkpoint) is one too; aprl-rf keeps no\n"
    "                    checkpoints and takes no --resume\n"
    "  --report DIR      also write the held-out evaluation there (metrics.json, predictions.tsv and\n"
    "                    decisions.tsv of the held-out subjects' lesions, summary.tsv, report.html);\n"
    "                    needs held-out subjects (--holdout > 0)\n"
    "  --note TEXT       what the data is (stored with the model as its training data)\n"
    "  --cache DIR       radiomic feature cache (default .qsmrim-cache beside the manifest); --no-cache\n"
    "  --precision P     fp32 (default) or tf32: convolutions and linear layers on TF32 tensor cores\n"
    "                    (faster on a GPU; on the CPU the rounding is emulated, not faster);\n"
    "                    default: $QSMRIM_PRECISION\n"
    "  --threads T       CPU threads (default: all cores)\n"
    "  --quiet           no progress or notices\n"
    "\n"
    "Progress: the epoch, the loss, the speed and the time left, redrawn on a terminal after every step;\n"
    "into a file or pipe, a line every 5 seconds and one at the end of each member. Ctrl-C stops after\n"
    "the current step and keeps the last epoch's checkpoint; rerun with --resume.\n"
    "\n"
    "example:\n"
    "  qsmrim train --manifest cohort/cohort.tsv --out model.h5 --config demo.yaml --seed 7\n";

typedef struct run_state {
    char label[256];
    int seed, seeds;
} run_state;

static void on_job(int fold, int seed, int done, int jobs, int reused, void *user) {
    (void)fold;
    (void)done;
    (void)reused;
    run_state *rs = user;
    rs->seed = seed;
    if (jobs > 1) cli_notice("member %d/%d", seed + 1, jobs);
}

static void on_fit(const qr_fit_progress *p, void *user) {
    run_state *rs = user;
    if (!isfinite(p->loss)) return;
    snprintf(rs->label, sizeof rs->label, "member %d/%d epoch %d/%d loss %.4f %.2f ms/lesion", rs->seed + 1, rs->seeds,
             p->epoch + 1, p->epochs, p->loss, p->ms_per_sample);
    cli_progress_step(rs->label, (int64_t)p->epoch * p->steps + p->step, (int64_t)p->epochs * p->steps);
}

/* The first checkpoint MODEL.seed<k>.ckpt.h5 (k = 1..seeds) an interrupted run left, into buf; 0 if none. */
static int find_checkpoint(const char *out, long seeds, char *buf, size_t n) {
    for (int k = 1; k <= seeds; k++) {
        qr_train_checkpoint_path(out, k, buf, n);
        if (qr_path_is_file(buf)) return 1;
    }
    return 0;
}

/* The lock file beside the model (cmd_train), removed when the process ends. */
static char g_lock[QR_PATH_MAX + 16];
static void drop_lock(void) {
    if (g_lock[0]) unlink(g_lock);
}

/* The model written under `tmp` put in place at `out` when the report was written (st OK);
 * otherwise kept beside it as OUT-STEM.unreported.h5 (hours of training are not thrown away) with
 * the report's error extended to say so, and `out` left as it was. */
static qr_status place_model(qr_status st, const char *tmp, const char *out) {
    if (!qr_path_is_file(tmp)) return st; /* training failed before the save */
    if (st == QR_OK) return qr_commit_rename(tmp, out);
    char side[QR_PATH_MAX], msg[1024];
    size_t n = strlen(out);
    if (n > 3 && !strcmp(out + n - 3, ".h5")) n -= 3;
    const size_t base = (size_t)(qr_path_basename(out) - out); /* the file name cut to fit 255 bytes */
    if (n - base > NAME_MAX - strlen(".unreported.h5")) n = base + NAME_MAX - strlen(".unreported.h5");
    snprintf(side, sizeof side, "%.*s.unreported.h5", (int)n, out);
    snprintf(msg, sizeof msg, "%s", qr_last_error());
    if (rename(tmp, side) == 0)
        return qr_fail(st, "%s; the new model is kept as %s (%s is unchanged)", msg, side, out);
    unlink(tmp);
    return qr_fail(st, "%s; %s is unchanged", msg, out);
}

int cmd_train(int argc, char **argv) {
    cli_prefer_passive_omp_waiting(argv);
    static const struct option opts[] = {
        {"manifest", required_argument, 0, 'm'}, {"out", required_argument, 0, 'o'},
        {"arch", required_argument, 0, 'a'},     {"config", required_argument, 0, 'c'},
        {"seed", required_argument, 0, 's'},     {"device", required_argument, 0, 'd'}, {"precision", required_argument, 0, CLI_OPT_PRECISION},
        {"seeds", required_argument, 0, 'n'},    {"holdout", required_argument, 0, 'H'},
        {"resume", no_argument, 0, 'R'},         {"report", required_argument, 0, 'r'},
        {"note", required_argument, 0, 'T'},     {"cache", required_argument, 0, 'C'},
        {"no-cache", no_argument, 0, 'X'},       {"threads", required_argument, 0, 't'},
        {"quiet", no_argument, 0, 'q'},          {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *manifest = NULL, *out = NULL, *arch_name = "qsmrimnet", *config = NULL, *device = "auto";
    const char *report = NULL, *note = NULL, *cache = NULL;
    long seed = 1, seeds = 1, threads = -1;
    double holdout = -1;
    int resume = 0, no_cache = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': manifest = optarg; break;
        case 'o': out = optarg; break;
        case 'a': arch_name = optarg; break;
        case 'c': config = optarg; break;
        case 's': if (cli_parse_int("--seed", optarg, 0, 2147483647L, &seed)) return CLI_EXIT_USAGE; break;
        case 'd':
            if (cli_check_device(optarg)) return CLI_EXIT_USAGE;
            device = optarg;
            break;
        case CLI_OPT_PRECISION:
            if (cli_set_precision(optarg)) return CLI_EXIT_USAGE;
            break;
        case 'n': if (cli_parse_int("--seeds", optarg, 1, 100, &seeds)) return CLI_EXIT_USAGE; break;
        case 'H':
            if (cli_parse_double("--holdout", optarg, &holdout)) return CLI_EXIT_USAGE;
            if (holdout < 0 || holdout > 0.5) return cli_usage("--holdout must be in [0, 0.5], got %g", holdout);
            break;
        case 'R': resume = 1; break;
        case 'r': report = optarg; break;
        case 'T': note = optarg; break;
        case 'C': cache = optarg; break;
        case 'X': no_cache = 1; break;
        case 't': if (cli_parse_int("--threads", optarg, 1, 4096, &threads)) return CLI_EXIT_USAGE; break;
        case 'q': cli_set_quiet(1); break;
        case 'h': fputs(HELP, stdout); return CLI_EXIT_OK;
        default: return cli_usage("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("unexpected argument '%s'", argv[optind]);
    if (!manifest) return cli_usage("--manifest is required");
    if (!out) return cli_usage("--out is required");
    if (cache && no_cache) return cli_usage("--cache and --no-cache exclude each other");
    qr_arch_id arch;
    if (qr_arch_from_name(arch_name, &arch) != QR_OK) return cli_usage("%s", qr_last_error());
    if (resume && arch == QR_ARCH_APRL_RF) /* it would train anew and replace the model unasked */
        return cli_usage("--resume: aprl-rf trains in one step and keeps no checkpoints; run without --resume");
    qr_train_config cfg = qr_train_config_default();
    qr_status st = QR_OK;
    if (config && (st = qr_train_config_read(config, &cfg)) != QR_OK) return cli_fail(st);
    if (threads > 0) cfg.threads = (int)threads;
    if (holdout >= 0) cfg.holdout = holdout;
    if (report && cfg.holdout <= 0)
        return cli_usage("--report writes the held-out evaluation; with holdout 0 there is none (use --holdout > 0)");
    /* the output folder must exist and the model be none of the inputs; it is written at the end */
    const qr_io_path ins[2] = {{manifest, "the --manifest file", 0, 0}, {config, "the --config file", 0, 0}};
    const qr_io_path outs[1] = {{out, "--out", 0, 0}};
    if ((st = qr_outputs_check(ins, 2, outs, 1)) != QR_OK) return cli_fail(st);
    {
        /* temporaries of the model and its checkpoints that a killed run left beside --out */
        char dir[QR_PATH_MAX];
        qr_path_dirname(out, dir, sizeof dir);
        const int gone = qr_remove_leftovers(dir, qr_path_basename(out));
        if (gone) cli_notice("removed %d temporary file%s an interrupted run left in %s", gone, gone == 1 ? "" : "s", dir);
    }
    if (arch != QR_ARCH_APRL_RF) { /* the checkpoints' names must be possible, said before the work */
        char ckpt[QR_PATH_MAX + 32];
        qr_train_checkpoint_path(out, (int)seeds, ckpt, sizeof ckpt);
        if (strlen(qr_path_basename(ckpt)) > NAME_MAX)
            return cli_usage("--out %s: its checkpoint files (%s) would have names over %d bytes; give a shorter model name",
                             out, qr_path_basename(ckpt), NAME_MAX);
    }
    {
        /* one training run per model file: a second is told so (it read the first one's checkpoint
         * as an interrupted run's). The lock is held until the process ends, and its file removed
         * then (a run killed outright leaves it, hidden and harmless). */
        char lock[QR_PATH_MAX + 16], busy[QR_PATH_MAX + 128];
        const qr_status lp = qr_lock_path(out, lock, sizeof lock);
        if (lp != QR_OK) return cli_fail(lp);
        snprintf(busy, sizeof busy, "%s: another qsmrim train is writing this model; wait for it or choose another --out", out);
        int lock_fd;
        const qr_status ls = qr_lock_exclusive(lock, busy, "--out", &lock_fd);
        if (ls != QR_OK) return cli_fail(ls);
        snprintf(g_lock, sizeof g_lock, "%s", lock);
        atexit(drop_lock);
    }
    if (arch != QR_ARCH_APRL_RF) {
        /* an interrupted run is continued or removed by the user, never dropped unasked; a finished
         * one is not "resumed" by training anew over it */
        char ckpt[QR_PATH_MAX + 32];
        const int interrupted = find_checkpoint(out, seeds, ckpt, sizeof ckpt);
        if (interrupted && !resume)
            return cli_fail(qr_fail(QR_ERR_INVALID_ARG, "%s holds an interrupted run of this model: add --resume to continue "
                                    "it, or remove the file to start anew", ckpt));
        if (!interrupted && resume && qr_path_is_file(out))
            return cli_fail(qr_fail(QR_ERR_INVALID_ARG, "--resume: %s is a finished model (no checkpoint of an interrupted "
                                    "run is beside it); run without --resume to train it again, which replaces it", out));
    }
    cli_install_interrupt();
    qr_cohort cohort;
    st = qr_cohort_read(manifest, &cohort);
    if (st == QR_OK) st = qr_cohort_check_files(&cohort);
    if (st == QR_OK) st = qr_cohort_outputs_check(&cohort, out, "--out", report, "the --report folder");
    if (st == QR_OK) st = qr_cohort_check_classes(&cohort, "training");
    if (st == QR_OK && cfg.holdout > 0 && qr_holdout_folds(cfg.holdout) > cohort.n) /* before any work */
        st = qr_fail(QR_ERR_INVALID_ARG, "%s: a held-out share of %g needs at least %d subjects, it lists %d (--holdout 0 "
                     "trains on every subject)", manifest, cfg.holdout, qr_holdout_folds(cfg.holdout), cohort.n);
    if (st == QR_OK && cfg.holdout > 0) st = qr_cohort_check_split(&cohort, "holdout");
    if (st != QR_OK) {
        qr_cohort_free(&cohort);
        return cli_fail(st);
    }
    if (!resume && qr_path_is_file(out)) cli_notice("%s exists: the model trained now replaces it when it is complete", out);
    int nc, nx, nf;
    qr_arch_needs(arch, &nc, &nx, &nf);
    char cache_dir[QR_PATH_MAX + 32];
    qr_dataset_options dopt = {nc, nx, nf, cfg.radiomics[0] ? cfg.radiomics : NULL, NULL, cfg.threads};
    if (!no_cache && nf) {
        if (cache) {
            snprintf(cache_dir, sizeof cache_dir, "%s", cache);
        } else {
            char mdir[QR_PATH_MAX];
            qr_path_dirname(manifest, mdir, sizeof mdir);
            snprintf(cache_dir, sizeof cache_dir, "%s/.qsmrim-cache", mdir);
        }
        dopt.cache_dir = cache_dir;
    }
    qr_dataset ds;
    st = qr_dataset_load(&cohort, &dopt, &ds, cli_load_progress, NULL, &cli_interrupted);
    qr_cohort_free(&cohort);
    if (st != QR_OK) return cli_fail(st);
    int64_t npos = 0;
    for (int64_t i = 0; i < ds.n; i++) npos += ds.label[i];
    cli_notice("cohort: %d subjects, %lld lesions, %lld rim+ (%.2f%%)", ds.nsubjects, (long long)ds.n, (long long)npos,
               100.0 * (double)npos / (double)ds.n);
    if (ds.n_missing_features)
        cli_notice("%lld lesions are too small for PyRadiomics: their radiomic features are imputed with the training mean",
                   (long long)ds.n_missing_features);
    char cfgtxt[400];
    qr_train_config_describe(&cfg, arch_name, cfgtxt, sizeof cfgtxt);
    cli_notice("training %s (%s), %ld member%s, seed %ld", arch_name, cfgtxt, seeds, seeds > 1 ? "s" : "", seed);
    if (cfg.holdout <= 0)
        cli_notice("no held-out subjects: the decision thresholds come from the training lesions (optimistic)");

    char training_data[256];
    snprintf(training_data, sizeof training_data, "%s%s%s", note ? note : "", note ? ": " : "", qr_path_basename(manifest));
    run_state rs;
    memset(&rs, 0, sizeof rs);
    rs.seeds = (int)seeds;
    qr_pipeline_hooks hooks = {on_fit, on_job, &rs, &cli_interrupted};
    qr_train_options to;
    memset(&to, 0, sizeof to);
    to.arch = arch;
    to.cfg = &cfg;
    to.nseeds = (int)seeds;
    to.seed = (uint64_t)seed;
    to.holdout = cfg.holdout;
    to.device = arch == QR_ARCH_APRL_RF ? device : cli_resolve_device(device, cfg.threads);
    /* with a report, the model is written under a temporary name and put in place only once the
     * report is: a report that cannot be written leaves the old model (and report) as they were */
    char model_tmp[QR_PATH_MAX] = "";
    if (report && (st = qr_temp_sibling(out, 0, model_tmp, sizeof model_tmp)) != QR_OK) {
        qr_dataset_free(&ds);
        return cli_fail(st);
    }
    to.out = report ? model_tmp : out;
    to.checkpoint = arch == QR_ARCH_APRL_RF ? NULL : out;
    to.keep_checkpoints = report != NULL; /* until the model is in place: a run killed while it writes
                                              the report can still be finished with --resume */
    to.resume = resume;
    to.training_data = training_data;
    to.bootstrap = 500;
    qr_train_outcome oc;
    st = qr_train_model(&ds, &to, &hooks, &oc);
    if (st == QR_ERR_EMPTY) st = qr_fail_context(st, "%s", manifest); /* the cohort cannot give the split */
    if (st == QR_OK) {
        cli_notice("trained on %d subjects (%lld lesions) in %.0f s; thresholds: F1 %.4f, high sensitivity %.4f",
                   oc.n_train_subjects, (long long)oc.n_train_lesions, oc.seconds, oc.threshold_f1, oc.threshold_sensitive);
        if (oc.have_holdout) {
            const qr_eval_result *r = &oc.holdout.result;
            char line[512];
            qr_eval_headline(r, line, sizeof line);
            cli_notice("held-out %d subjects, %lld lesions (%lld rim+): %s", r->n_subjects, (long long)r->n_lesions,
                       (long long)r->n_rimpos, line);
            if (oc.holdout.subject_index) { /* which ones, in manifest order (the report's tables list them too) */
                char names[1024] = "";
                size_t used = 0;
                for (int k = 0; k < r->n_subjects && used < sizeof names; k++) {
                    const int w = snprintf(names + used, sizeof names - used, "%s%s", k ? ", " : "",
                                           ds.subject[oc.holdout.subject_index[k]]);
                    if (w < 0 || (size_t)w >= sizeof names - used) { /* too long for one line: cut at a name */
                        names[used] = '\0';
                        snprintf(names + used, sizeof names - used, "%s... (%d in all)", k ? ", " : "", r->n_subjects);
                        break;
                    }
                    used += (size_t)w;
                }
                cli_notice("held-out subjects: %s", names);
            }
            if (report) {
                /* the held-out evaluation as a report folder */
                qr_method_eval *m = &oc.holdout;
                char desc[512], command[2048];
                snprintf(desc, sizeof desc, "%s trained on %d subjects; evaluated on %d held-out subjects", arch_name,
                         oc.n_train_subjects, oc.n_holdout_subjects);
                qr_utf8_copy(m->description, sizeof m->description, desc);
                qr_utf8_copy(m->data_note, sizeof m->data_note, note);
                cli_command_line(argc, argv, command, sizeof command);
                qr_utf8_copy(m->command, sizeof m->command, command);
                snprintf(m->manifest, sizeof m->manifest, "%s", manifest);
                m->info.description = m->description;
                m->info.data_note = m->data_note;
                m->info.command = m->command;
                m->info.manifest = m->manifest;
                /* written into a staging folder and moved into place together (fileutil.h) */
                char stage[QR_PATH_MAX], path[QR_PATH_MAX + 16];
                qr_summary_row row = qr_summary_of(&m->result, &m->info);
                st = qr_mkdir_p(report);
                if (st == QR_OK) {
                    qr_remove_leftovers(report, NULL);
                    snprintf(path, sizeof path, "%s/report.html", report);
                    st = qr_staging_create(path, stage, sizeof stage);
                }
                if (st == QR_OK) {
                    st = qr_method_eval_write_tables(&ds, m, stage); /* metrics, predictions, decisions */
                    if (st == QR_OK) {
                        snprintf(path, sizeof path, "%s/summary.tsv", stage);
                        st = qr_report_write_summary(path, &row);
                    }
                    if (st == QR_OK) {
                        qr_report_section sec;
                        memset(&sec, 0, sizeof sec);
                        sec.row = row;
                        sec.result = &m->result;
                        sec.info = &m->info;
                        snprintf(path, sizeof path, "%s/report.html", stage);
                        st = qr_report_write_html(path, "qsmrim train: held-out evaluation", &sec, 1);
                    }
                    if (st == QR_OK) st = qr_staging_commit_report(stage, report, NULL, 0);
                    else qr_staging_abort(stage);
                }
            }
        }
        if (model_tmp[0]) {
            const int saved = qr_path_is_file(model_tmp);
            st = place_model(st, model_tmp, out);
            if (saved && to.checkpoint) qr_train_remove_checkpoints(out, (int)seeds);
        }
        if (st == QR_OK) cli_notice("model: %s", out);
        qr_train_outcome_free(&oc);
    }
    qr_dataset_free(&ds);
    if (st == QR_ERR_CANCELLED) { /* none is kept before the first epoch ends */
        char ckpt[QR_PATH_MAX + 32];
        return cli_fail_hint(st, find_checkpoint(out, seeds, ckpt, sizeof ckpt) ? "add --resume to continue" : NULL);
    }
    return st == QR_OK ? CLI_EXIT_OK : cli_fail(st);
}
