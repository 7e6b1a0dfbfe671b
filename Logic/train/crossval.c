/* crossval.c - folds x seeds, out-of-fold probabilities, resumable (crossval.h). */
#define _GNU_SOURCE
#include "crossval.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/fileutil.h"
#include "../core/tsv.h"
#include "folds.h"

void qr_cv_result_free(qr_cv_result *r) {
    if (!r) return;
    free(r->subject_fold);
    free(r->fold);
    free(r->member_prob);
    memset(r, 0, sizeof *r);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The split record: subject name and fold, one per line. Written once; compared on resume. */
static qr_status check_or_write_folds(const qr_dataset *d, const int *sfold, const char *work, int resume) {
    char path[QR_PATH_MAX];
    snprintf(path, sizeof path, "%s/folds.tsv", work);
    if (resume && qr_path_is_file(path)) {
        qr_tsv t;
        QR_TRY(qr_tsv_read(path, &t));
        int cs = qr_tsv_column(&t, "subject"), cf = qr_tsv_column(&t, "fold");
        int ok = cs >= 0 && cf >= 0 && t.nrows == d->nsubjects;
        for (int64_t r = 0; ok && r < t.nrows; r++)
            ok = !strcmp(qr_tsv_cell(&t, r, cs), d->subject[r]) && atoi(qr_tsv_cell(&t, r, cf)) == sfold[r] + 1;
        qr_tsv_free(&t);
        if (!ok)
            return qr_fail(QR_ERR_INVALID_ARG,
                           "%s: the interrupted run used another split (cohort, seed or fold count changed); "
                           "remove the folder or run without --resume",
                           work);
        return QR_OK;
    }
    qr_atomic a;
    QR_TRY(qr_atomic_open(&a, path));
    fputs("subject\tfold\n", a.fp);
    for (int s = 0; s < d->nsubjects; s++) fprintf(a.fp, "%s\t%d\n", d->subject[s], sfold[s] + 1);
    return qr_atomic_commit(&a);
}

/* 1 if name is a job's file: fold<F>-seed<S>.tsv or .ckpt.h5 (and their temporaries). */
static int is_job_file(const char *name) {
    int f, s, used = 0;
    if (name[0] == '.') name++;
    return sscanf(name, "fold%d-seed%d%n", &f, &s, &used) == 2 && used > 0 &&
           (!strncmp(name + used, ".tsv", 4) || !strncmp(name + used, ".ckpt.h5", 8));
}

/* The settings record: compared on resume; otherwise the jobs of an earlier run are removed and
 * the record written. */
static qr_status check_or_write_settings(const char *work, const char *settings, int resume) {
    char path[QR_PATH_MAX];
    snprintf(path, sizeof path, "%s/settings.txt", work);
    if (!settings) settings = "";
    int have_jobs = 0;
    DIR *dir = opendir(work);
    if (!dir) return qr_fail(QR_ERR_IO, "%s: cannot list the work folder (%s)", work, strerror(errno));
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        if (!is_job_file(e->d_name)) continue;
        have_jobs = 1;
        if (!resume) {
            char p[QR_PATH_MAX];
            if (snprintf(p, sizeof p, "%s/%s", work, e->d_name) < (int)sizeof p) unlink(p);
        }
    }
    closedir(dir);
    if (resume && (qr_path_is_file(path) || have_jobs)) {
        FILE *f = fopen(path, "rb");
        if (!f)
            return qr_fail(QR_ERR_INVALID_ARG,
                           "%s: the interrupted run left no record of its settings (an older qsmrim); remove the "
                           "folder or run without --resume",
                           work);
        char old[QR_SETTINGS_MAX];
        const size_t got = fread(old, 1, sizeof old - 1, f);
        old[got] = 0;
        fclose(f);
        char diff[600];
        qr_settings_first_difference(old, settings, diff, sizeof diff);
        if (diff[0])
            return qr_fail(QR_ERR_INVALID_ARG,
                           "%s: the interrupted run used other settings (%s); remove the folder or run without "
                           "--resume",
                           work, diff);
        return QR_OK;
    }
    qr_atomic a;
    QR_TRY(qr_atomic_open(&a, path));
    fputs(settings, a.fp);
    return qr_atomic_commit(&a);
}

static void job_path(const char *work, int f, int s, const char *ext, char *out, size_t n) {
    snprintf(out, n, "%s/fold%d-seed%d%s", work, f + 1, s + 1, ext);
}

/* The engines the jobs of a run were computed on (qr_learner_engine), with their job counts: a
 * resumed run on another device mixes them, which is said once at the end. */
#define MAX_ENGINES 4
typedef struct {
    char name[MAX_ENGINES][QR_ENGINE_MAX];
    int jobs[MAX_ENGINES], n, more;
} engine_count;

static void count_engine(engine_count *e, const char *name) {
    if (!name[0]) return; /* a job file of an older qsmrim: not recorded */
    for (int k = 0; k < e->n; k++)
        if (!strcmp(e->name[k], name)) {
            e->jobs[k]++;
            return;
        }
    if (e->n == MAX_ENGINES) {
        e->more++;
        return;
    }
    snprintf(e->name[e->n], sizeof e->name[e->n], "%s", name);
    e->jobs[e->n++] = 1;
}

static void notice_engines(const engine_count *e) {
    if (e->n + (e->more > 0) < 2) return;
    char list[1024] = "";
    size_t k = 0;
    for (int i = 0; i < e->n && k < sizeof list; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%d on %s", i ? ", " : "", e->jobs[i], e->name[i]);
    if (e->more && k < sizeof list) snprintf(list + k, sizeof list - k, ", %d on others", e->more);
    qr_log(QR_LOG_NOTICE, "the jobs of this cross-validation were computed on more than one engine (%s: a run resumed on another device): its results differ from a run on one engine in the last digits (rounding)",
           list);
}

/* Read a finished job's probabilities into member_prob[., s]; 1 if the file matches. Its engine
 * goes to engine[QR_ENGINE_MAX] ("" when the file does not record one). */
static int load_job(const qr_dataset *d, const char *path, const int64_t *idx, int64_t n, int s, int nseeds, double *mp,
                    char engine[QR_ENGINE_MAX]) {
    qr_tsv t;
    engine[0] = 0;
    if (qr_tsv_read(path, &t) != QR_OK) return 0;
    const char *rec = t.comments ? strstr(t.comments, "# engine: ") : NULL;
    if (rec) {
        rec += strlen("# engine: ");
        size_t len = strcspn(rec, "\r\n");
        snprintf(engine, QR_ENGINE_MAX, "%.*s", (int)(len < QR_ENGINE_MAX - 1 ? len : QR_ENGINE_MAX - 1), rec);
    }
    int ci = qr_tsv_column(&t, "index"), cl = qr_tsv_column(&t, "lesion_id"), cp = qr_tsv_column(&t, "probability");
    int ok = ci >= 0 && cl >= 0 && cp >= 0 && t.nrows == n;
    for (int64_t r = 0; ok && r < n; r++) {
        ok = atoll(qr_tsv_cell(&t, r, ci)) == idx[r] && atoi(qr_tsv_cell(&t, r, cl)) == d->lesion_id[idx[r]];
        char *end;
        double p = strtod(qr_tsv_cell(&t, r, cp), &end);
        ok = ok && *end == '\0' && p >= 0 && p <= 1;
        if (ok) mp[idx[r] * nseeds + s] = p;
    }
    qr_tsv_free(&t);
    return ok;
}

static qr_status save_job(const qr_dataset *d, const char *path, const int64_t *idx, int64_t n, const double *p,
                          const char *engine) {
    qr_atomic a;
    QR_TRY(qr_atomic_open(&a, path));
    fprintf(a.fp, "# engine: %s\n", engine);
    fputs("index\tsubject\tlesion_id\tprobability\n", a.fp);
    for (int64_t r = 0; r < n; r++)
        fprintf(a.fp, "%lld\t%s\t%d\t%.17g\n", (long long)idx[r], d->subject[d->subject_of[idx[r]]], d->lesion_id[idx[r]], p[r]);
    return qr_atomic_commit(&a);
}

/* Every fold's training subjects must hold a rim+ lesion, or its jobs cannot train: checked before
 * any of them runs (the split is known in advance). */
static qr_status check_training_rimpos(const qr_dataset *d, const int *subject_fold, int nfolds) {
    int with_rimpos = 0;
    for (int s = 0; s < d->nsubjects; s++) with_rimpos += d->subject_rimpos[s] > 0;
    if (with_rimpos == 0) return qr_fail(QR_ERR_EMPTY, "no lesion of the cohort is rim+: nothing can be learnt");
    for (int f = 0; f < nfolds; f++)
        if (!qr_fold_rimpos_subjects(d->subject_rimpos, d->nsubjects, subject_fold, f, 0))
            return qr_fail(QR_ERR_EMPTY,
                           "fold %d: its training subjects hold no rim+ lesion (%d subject%s of the cohort hold%s rim+ lesions, all in "
                           "this fold's test set): nothing was trained; a cohort with rim+ lesions in more subjects is needed",
                           f + 1, with_rimpos, with_rimpos == 1 ? "" : "s", with_rimpos == 1 ? "s" : "");
    return QR_OK;
}

qr_status qr_cross_validate(const qr_dataset *d, const qr_cv_options *o, qr_cv_result *out) {
    memset(out, 0, sizeof *out);
    if (o->nseeds < 1) return qr_fail(QR_ERR_INVALID_ARG, "cross-validation needs at least one seed per fold");
    out->nfolds = o->nfolds;
    out->nseeds = o->nseeds;
    out->subject_fold = malloc((size_t)d->nsubjects * sizeof *out->subject_fold);
    out->fold = malloc((size_t)d->n * sizeof *out->fold);
    out->member_prob = malloc((size_t)d->n * (size_t)o->nseeds * sizeof *out->member_prob);
    int64_t *tr = malloc((size_t)d->n * sizeof *tr), *te = malloc((size_t)d->n * sizeof *te);
    double *p = malloc((size_t)d->n * sizeof *p);
    qr_status st = QR_OK;
    if (!out->subject_fold || !out->fold || !out->member_prob || !tr || !te || !p)
        st = qr_fail(QR_ERR_NOMEM, "out of memory for the cross-validation");
    if (st == QR_OK) st = qr_stratified_folds(d->subject_rimpos, d->nsubjects, o->nfolds, o->seed, out->subject_fold);
    if (st == QR_OK) st = check_training_rimpos(d, out->subject_fold, o->nfolds);
    if (st == QR_OK && o->workdir) {
        st = qr_mkdir_p(o->workdir);
        if (st == QR_OK) {
            const int gone = qr_remove_leftovers(o->workdir, NULL); /* checkpoints half written by a killed run */
            if (gone) qr_log(QR_LOG_NOTICE, "%s: removed %d temporary file%s an interrupted run left", o->workdir, gone, gone == 1 ? "" : "s");
            st = check_or_write_settings(o->workdir, o->settings, o->resume);
        }
        if (st == QR_OK) st = check_or_write_folds(d, out->subject_fold, o->workdir, o->resume);
    }
    for (int64_t i = 0; st == QR_OK && i < d->n; i++) out->fold[i] = out->subject_fold[d->subject_of[i]];
    double t0 = now_s();
    engine_count engines;
    memset(&engines, 0, sizeof engines);
    int jobs = o->nfolds * o->nseeds, done = 0;
    for (int f = 0; st == QR_OK && f < o->nfolds; f++) {
        int64_t ntr = 0, nte = 0;
        for (int64_t i = 0; i < d->n; i++) {
            if (out->fold[i] == f)
                te[nte++] = i;
            else
                tr[ntr++] = i;
        }
        for (int s = 0; st == QR_OK && s < o->nseeds; s++, done++) {
            char res[QR_PATH_MAX], ckpt[QR_PATH_MAX];
            if (o->workdir) {
                job_path(o->workdir, f, s, ".tsv", res, sizeof res);
                job_path(o->workdir, f, s, ".ckpt.h5", ckpt, sizeof ckpt);
                char eng[QR_ENGINE_MAX];
                if (o->resume && qr_path_is_file(res) && load_job(d, res, te, nte, s, o->nseeds, out->member_prob, eng)) {
                    count_engine(&engines, eng);
                    if (o->job) o->job(f, s, done, jobs, 1, o->user);
                    continue;
                }
            }
            if (o->job) o->job(f, s, done, jobs, 0, o->user);
            qr_fit_options fo = o->fit;
            fo.seed = o->seed * 1000003ULL + 1009ULL * (uint64_t)(f + 1) + (uint64_t)s;
            fo.checkpoint = o->workdir ? ckpt : NULL;
            fo.resume = o->resume;
            qr_learner *l = NULL;
            st = qr_learner_fit(d, tr, ntr, &fo, &l);
            if (st != QR_OK) {
                st = qr_fail_context(st, "fold %d seed %d", f + 1, s + 1);
                break;
            }
            st = qr_learner_predict(l, d, te, nte, p, NULL);
            char eng[QR_ENGINE_MAX];
            qr_learner_engine(l, eng, sizeof eng);
            count_engine(&engines, eng);
            qr_learner_free(l);
            if (st != QR_OK) break;
            for (int64_t r = 0; r < nte; r++) out->member_prob[te[r] * o->nseeds + s] = p[r];
            if (o->workdir) {
                st = save_job(d, res, te, nte, p, eng);
                if (st == QR_OK && qr_path_is_file(ckpt)) remove(ckpt); /* the job is done */
            }
        }
    }
    out->seconds = now_s() - t0;
    if (st == QR_OK) notice_engines(&engines);
    free(tr);
    free(te);
    free(p);
    if (st != QR_OK) qr_cv_result_free(out);
    return st;
}
