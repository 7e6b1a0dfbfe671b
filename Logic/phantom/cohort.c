/*
 * cohort.c - a whole phantom cohort on disk: data lookup, folder rules, worker threads, manifest.
 *
 * Threads: workers take the next subject index from a shared counter, generate it (its own random
 * stream, see subject.c) and write its files; the calling thread reports progress and polls the
 * cancel flag. Nothing a subject contains depends on which thread made it or when, so the bytes are
 * the same for any thread count.
 *
 * Order on disk: phantom_info.txt ("status in progress") first, then the subjects' files (each
 * written atomically), then phantom_info.txt with the totals, then cohort.tsv. A folder without
 * cohort.tsv is therefore an incomplete run, whatever else it holds.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/fileutil.h"
#include "../io/imageio.h"
#include "phantom_internal.h"

#ifndef QSMRIM_RESOURCE_DIR
#define QSMRIM_RESOURCE_DIR ""
#endif
#ifndef QSMRIM_VERSION
#define QSMRIM_VERSION "unknown"
#endif

/* ---- data lookup ---- */

static int is_data_dir(const char *dir) {
    char p[QR_PATH_MAX];
    if (ph_format(p, sizeof p, "%s/patient07/FLAIR_mni.nii.gz", dir) != QR_OK) return 0;
    return qr_path_is_file(p);
}

qr_status qr_phantom_data_dir(char *out, size_t outlen) {
    char cand[3][QR_PATH_MAX];
    int nc = 0;
    const char *env = getenv("QSMRIM_PHANTOM_DATA");
    if (env && *env && ph_format(cand[nc], QR_PATH_MAX, "%s", env) == QR_OK) nc++;
    char exe[QR_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char dir[QR_PATH_MAX];
        qr_path_dirname(exe, dir, sizeof dir);
        if (ph_format(cand[nc], QR_PATH_MAX, "%s/../share/qsmrim/open_ms_data", dir) == QR_OK) nc++;
    }
    /* the source tree: QSMRIM_RESOURCE_DIR is <source>/Resources (which need not exist, so no "/..") */
    const char *res = QSMRIM_RESOURCE_DIR;
    size_t rl = strlen(res);
    if (rl > 10 && !strcmp(res + rl - 10, "/Resources") &&
        ph_format(cand[nc], QR_PATH_MAX, "%.*s/ExternalData/open_ms_data", (int)(rl - 10), res) == QR_OK)
        nc++;
    for (int i = 0; i < nc; i++)
        if (is_data_dir(cand[i])) {
            if (strlen(cand[i]) >= outlen) return qr_fail(QR_ERR_INVALID_ARG, "phantom data path too long");
            strcpy(out, cand[i]);
            return QR_OK;
        }
    return qr_fail(QR_ERR_IO,
                   "phantom anatomy data (open_ms_data: patient07/ and masks/) not found; looked in "
                   "$QSMRIM_PHANTOM_DATA, <bin>/../share/qsmrim/open_ms_data and the source tree's "
                   "ExternalData/open_ms_data (use --data DIR)");
}

qr_status qr_phantom_model_load(const char *data_dir, qr_phantom_model **out) {
    *out = NULL;
    char dir[QR_PATH_MAX];
    if (data_dir) {
        if (!qr_path_is_dir(data_dir)) return qr_fail(QR_ERR_IO, "%s: phantom data folder not found", data_dir);
        if (!is_data_dir(data_dir))
            return qr_fail(QR_ERR_IO, "%s: not a phantom data folder (patient07/FLAIR_mni.nii.gz missing)", data_dir);
        QR_TRY(ph_format(dir, sizeof dir, "%s", data_dir));
    } else {
        QR_TRY(qr_phantom_data_dir(dir, sizeof dir));
    }
    qr_phantom_model *m = calloc(1, sizeof *m);
    if (!m) return qr_fail(QR_ERR_NOMEM, "phantom model: out of memory");
    qr_status s = ph_anatomy_load(dir, &m->anat);
    if (s == QR_OK) {
        char masks[QR_PATH_MAX];
        s = ph_format(masks, sizeof masks, "%s/masks", dir);
        if (s == QR_OK) s = ph_library_build(masks, &m->lib);
    }
    if (s != QR_OK) {
        qr_phantom_model_free(m);
        return s;
    }
    *out = m;
    return QR_OK;
}

void qr_phantom_model_free(qr_phantom_model *m) {
    if (!m) return;
    ph_anatomy_free(&m->anat);
    ph_library_free(&m->lib);
    free(m);
}

int qr_phantom_library_size(const qr_phantom_model *m) { return m ? m->lib.n : 0; }
double qr_phantom_library_volume(const qr_phantom_model *m, int i) {
    return (m && i >= 0 && i < m->lib.n) ? m->lib.items[i].volume_mm3 : 0.0;
}
const char *qr_phantom_library_source(const qr_phantom_model *m, int i) {
    return (m && i >= 0 && i < m->lib.n) ? m->lib.items[i].source : "";
}

qr_phantom_options qr_phantom_options_default(void) {
    qr_phantom_options o;
    memset(&o, 0, sizeof o);
    o.n_subjects = PH_PAPER_SUBJECTS;
    o.seed = 1;
    o.threads = 1;
    return o;
}

/* ---- files ---- */

static void subject_name(int index, int n_subjects, char *buf, size_t len) {
    int width = 3;
    for (int n = n_subjects; n >= 1000; n /= 10) width++;
    if (ph_format(buf, len, "sub-%0*d", width, index + 1) != QR_OK) buf[0] = '\0';
}

static qr_status write_info(const char *dir, const qr_phantom_options *o, const qr_phantom_summary *sum) {
    char path[QR_PATH_MAX];
    QR_TRY(ph_format(path, sizeof path, "%s/phantom_info.txt", dir));
    qr_atomic f;
    QR_TRY(qr_atomic_open(&f, path));
    fprintf(f.fp,
            "qsmrim phantom cohort - SIMULATED data, not patient data\n"
            "generator\tqsmrim %s\n"
            "seed\t%llu\n"
            "subjects\t%d\n"
            "status\t%s\n",
            QSMRIM_VERSION, (unsigned long long)o->seed, o->n_subjects, sum ? "complete" : "in progress");
    if (sum)
        fprintf(f.fp,
                "lesions\t%lld\n"
                "rim_positive\t%lld\n"
                "subjects_without_rim_positive\t%d\n"
                "max_rim_positive_per_subject\t%d\n",
                (long long)sum->n_lesions, (long long)sum->n_rimpos, sum->subjects_without_rimpos,
                sum->max_rimpos_per_subject);
    fprintf(f.fp,
            "grid\t%dx%dx%d voxels of %.2fx%.2fx%.1f mm, axial, LPS index axes\n"
            "qsm_format\tfloat32, ppb relative to normal-appearing white matter\n"
            "flair_format\tfloat32\n"
            "lesions_format\tint32 label map, one label per lesion\n"
            "\n"
            "Anatomy (FLAIR, T1-derived tissue classes) and lesion shapes are derived from the \"3D MR image\n"
            "database of Multiple Sclerosis patients with white matter lesion segmentations\" (Laboratory of\n"
            "Imaging Technologies, University of Ljubljana), licensed CC-BY: Lesjak Z., Pernus F., Likar B.,\n"
            "Spiclin Z., \"A Novel Public MR Image Dataset of Multiple Sclerosis Patients With Lesion\n"
            "Segmentations Based on Multi-rater Consensus\", Neuroinformatics (2017),\n"
            "DOI 10.1007/s12021-017-9348-7. Changes: resampled, deformed, lesions removed and placed,\n"
            "susceptibility and QSM simulated. The QSM, the rims and all annotations are simulated.\n",
            PH_NX, PH_NY, PH_NZ, PH_H, PH_H, PH_SLICE);
    if (ferror(f.fp)) {
        qr_atomic_abort(&f);
        return qr_fail(QR_ERR_IO, "%s: write failed", path);
    }
    return qr_atomic_commit(&f);
}

static qr_status write_subject(const char *dir, const char *name, const qr_phantom_subject *s, int truth) {
    char sd[QR_PATH_MAX], p[QR_PATH_MAX];
    QR_TRY(ph_format(sd, sizeof sd, "%s/%s", dir, name));
    QR_TRY(qr_mkdir_p(sd));
    QR_TRY(ph_format(p, sizeof p, "%s/%s_qsm.nii.gz", sd, name));
    QR_TRY(qr_image_write(p, &s->qsm, QR_WRITE_COMPRESS));
    QR_TRY(ph_format(p, sizeof p, "%s/%s_flair.nii.gz", sd, name));
    QR_TRY(qr_image_write(p, &s->flair, QR_WRITE_COMPRESS));
    QR_TRY(ph_format(p, sizeof p, "%s/%s_lesions.nii.gz", sd, name));
    QR_TRY(qr_image_write(p, &s->labels, QR_WRITE_COMPRESS | QR_WRITE_KEEP_INT32));
    if (truth) {
        QR_TRY(ph_format(p, sizeof p, "%s/%s_chi.nii.gz", sd, name));
        QR_TRY(qr_image_write(p, &s->chi, QR_WRITE_COMPRESS));
        QR_TRY(ph_format(p, sizeof p, "%s/%s_rim.nii.gz", sd, name));
        QR_TRY(qr_image_write(p, &s->rim, QR_WRITE_COMPRESS | QR_WRITE_KEEP_INT32));
    }
    QR_TRY(ph_format(p, sizeof p, "%s/%s_annotations.tsv", sd, name));
    return qr_phantom_annotations_write(s, p);
}

static qr_status write_manifest(const char *dir, int n) {
    char path[QR_PATH_MAX];
    QR_TRY(ph_format(path, sizeof path, "%s/cohort.tsv", dir));
    qr_atomic f;
    QR_TRY(qr_atomic_open(&f, path));
    fprintf(f.fp, "subject\tqsm\tflair\tlesions\tannotations\n");
    for (int i = 0; i < n; i++) {
        char nm[32];
        subject_name(i, n, nm, sizeof nm);
        fprintf(f.fp, "%s\t%s/%s_qsm.nii.gz\t%s/%s_flair.nii.gz\t%s/%s_lesions.nii.gz\t%s/%s_annotations.tsv\n", nm, nm, nm,
                nm, nm, nm, nm, nm, nm);
    }
    if (ferror(f.fp)) {
        qr_atomic_abort(&f);
        return qr_fail(QR_ERR_IO, "%s: write failed", path);
    }
    return qr_atomic_commit(&f);
}

/* ---- folder rules ---- */

/* The files the generator writes for subject `name` (and nothing else it may remove). */
static const char *const subject_files[] = {"qsm.nii.gz", "flair.nii.gz", "lesions.nii.gz", "chi.nii.gz", "rim.nii.gz",
                                            "annotations.tsv"};

/* 1 if `name` is a folder name the generator can write: "sub-" and the 1-based index 1..100000
 * zero-padded to the width of some cohort size (3 digits up to 999 subjects, then one more per
 * decade: sub-001, sub-0001, ... sub-100000), nothing else (not sub-3, sub-03, sub-000). */
static int is_subject_name(const char *name) {
    if (strncmp(name, "sub-", 4)) return 0;
    const char *digits = name + 4;
    const size_t w = strlen(digits);
    if (w < 3 || w > 6) return 0;
    long v = 0;
    for (const char *c = digits; *c; c++) {
        if (*c < '0' || *c > '9') return 0;
        v = v * 10 + (*c - '0');
    }
    if (v < 1 || v > 100000) return 0;
    size_t need = 3; /* the width of the smallest cohort holding index v */
    for (long n = v; n >= 1000; n /= 10) need++;
    return w >= need;
}

/* 1 if `file` (an entry of subject folder `name`) is one of the generator's files of it. */
static int is_subject_file(const char *name, const char *file) {
    const size_t n = strlen(name);
    if (strncmp(file, name, n) || file[n] != '_') return 0;
    for (size_t k = 0; k < sizeof subject_files / sizeof *subject_files; k++)
        if (!strcmp(file + n + 1, subject_files[k])) return 1;
    return 0;
}

/* Up to 5 names of a list for a message, then "and N more". */
typedef struct {
    int n;
    char text[256];
} name_list;

static void name_list_add(name_list *l, const char *name, const char *why) {
    const size_t used = strlen(l->text);
    if (l->n < 5)
        snprintf(l->text + used, sizeof l->text - used, "%s%.60s%s%.40s%s", l->n ? ", " : "", name, why ? " (" : "",
                 why ? why : "", why ? ")" : "");
    l->n++;
}

static const char *name_list_text(const name_list *l, char *buf, size_t n) {
    if (l->n > 5) snprintf(buf, n, "%s and %d more", l->text, l->n - 5);
    else snprintf(buf, n, "%s", l->text);
    return buf;
}

/* Why a stale subject folder must be kept whole (NULL: it holds only the generator's own regular,
 * writable files, which may go). A folder a user has added to, linked from or write-protected
 * files in is someone's work: nothing in it is removed. */
static const char *keep_reason(const char *sd, const char *name) {
    DIR *d = opendir(sd);
    if (!d) return "cannot be read";
    const char *why = NULL;
    struct dirent *de;
    while (!why && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (!is_subject_file(name, de->d_name)) {
            why = "holds other files";
            break;
        }
        char p[QR_PATH_MAX];
        struct stat st;
        if (ph_format(p, sizeof p, "%s/%s", sd, de->d_name) != QR_OK || lstat(p, &st) != 0) why = "cannot be read";
        else if (!S_ISREG(st.st_mode)) why = "holds links or other non-files";
        else if (!(st.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH))) why = "holds write-protected files";
    }
    closedir(d);
    return why;
}

/* Remove `dir`/`name`/`name`_`file` if present: 1 removed, 0 absent, -1 not removable (failed
 * names it with the reason). */
static int remove_subject_file(const char *dir, const char *name, const char *file, name_list *failed) {
    char p[QR_PATH_MAX];
    if (ph_format(p, sizeof p, "%s/%s/%s_%s", dir, name, name, file) != QR_OK) return -1;
    if (unlink(p) == 0) return 1;
    if (errno == ENOENT) return 0;
    char what[96];
    snprintf(what, sizeof what, "%s/%s_%s", name, name, file);
    name_list_add(failed, what, strerror(errno));
    return -1;
}

/* After a cohort was written into a folder that held an earlier one (--overwrite or finishing an
 * interrupted run): the earlier run's subject files this run does not write are removed - truth
 * maps (_chi/_rim) when this run has no --truth, and whole sub-NNN folders it does not list (another
 * --subjects, another name width). Only the generator's own regular files are removed, and only
 * from real folders (links are not followed); a stale folder holding anything else, or a
 * write-protected file, is kept whole and named in a warning, as is a file that could not be
 * removed. Temporary files and staging folders of killed runs are removed too. */
static qr_status remove_stale(const char *dir, int n_subjects, int truth) {
    DIR *d = opendir(dir);
    if (!d) return qr_fail(QR_ERR_IO, "%s: cannot read the folder (%s)", dir, strerror(errno));
    int files = 0;
    name_list removed = {0, ""}, kept = {0, ""}, failed = {0, ""};
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (!is_subject_name(name)) continue;
        char sd[QR_PATH_MAX];
        struct stat st;
        if (ph_format(sd, sizeof sd, "%s/%s", dir, name) != QR_OK || lstat(sd, &st) != 0) continue;
        const long index = strtol(name + 4, NULL, 10);
        char current[32] = "";
        if (index >= 1 && index <= n_subjects) subject_name((int)index - 1, n_subjects, current, sizeof current);
        const int is_current = !strcmp(current, name);
        if (S_ISLNK(st.st_mode)) { /* a link this run wrote through is the user's choice; another is not followed */
            if (!is_current) name_list_add(&kept, name, "a link, not followed");
            continue;
        }
        if (!S_ISDIR(st.st_mode)) continue;
        qr_remove_leftovers(sd, NULL);
        if (is_current) { /* a subject of this cohort: only truth maps can be stale */
            if (!truth)
                for (int k = 3; k < 5; k++) files += remove_subject_file(dir, name, subject_files[k], &failed) > 0;
            continue;
        }
        const char *why = keep_reason(sd, name);
        if (why) {
            name_list_add(&kept, name, why);
            continue;
        }
        for (size_t k = 0; k < sizeof subject_files / sizeof *subject_files; k++)
            files += remove_subject_file(dir, name, subject_files[k], &failed) > 0;
        if (rmdir(sd) == 0) name_list_add(&removed, name, NULL);
        else if (errno != ENOTEMPTY && errno != EEXIST) name_list_add(&failed, name, strerror(errno));
        else name_list_add(&kept, name, "not empty");
    }
    closedir(d);
    qr_remove_leftovers(dir, NULL);
    char t[320];
    if (files || removed.n)
        qr_log(QR_LOG_NOTICE, "removed %d file%s of an earlier cohort in %s that this one does not write%s%s%s", files,
               files == 1 ? "" : "s", dir, removed.n ? " (subject folders " : "",
               removed.n ? name_list_text(&removed, t, sizeof t) : "", removed.n ? ")" : "");
    if (kept.n)
        qr_log(QR_LOG_WARNING, "%s: kept %d subject folder%s of an earlier cohort as %s: %s", dir, kept.n,
               kept.n == 1 ? "" : "s", kept.n == 1 ? "it is" : "they are", name_list_text(&kept, t, sizeof t));
    if (failed.n)
        qr_log(QR_LOG_WARNING, "%s: could not remove %d entr%s of an earlier cohort: %s", dir, failed.n,
               failed.n == 1 ? "y" : "ies", name_list_text(&failed, t, sizeof t));
    return QR_OK;
}

static qr_status check_folder(const char *dir, int overwrite, int *has_cohort, int *had_phantom) {
    *has_cohort = 0;
    *had_phantom = 0;
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT) return QR_OK; /* created later */
        return qr_fail(QR_ERR_IO, "%s: %s", dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) return qr_fail(QR_ERR_IO, "%s exists and is not a folder", dir);
    DIR *d = opendir(dir);
    if (!d) return qr_fail(QR_ERR_IO, "%s: cannot open the folder (%s)", dir, strerror(errno));
    int entries = 0, info = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        entries++;
        if (!strcmp(de->d_name, "cohort.tsv")) *has_cohort = 1;
        if (!strcmp(de->d_name, "phantom_info.txt")) info = 1;
    }
    closedir(d);
    if (info) { /* the generator's own record, not a user's file of that name */
        char p[QR_PATH_MAX], line[64] = "";
        if (ph_format(p, sizeof p, "%s/phantom_info.txt", dir) == QR_OK) {
            FILE *f = fopen(p, "r");
            if (f) {
                if (!fgets(line, sizeof line, f)) line[0] = '\0';
                fclose(f);
            }
        }
        *had_phantom = !strncmp(line, "qsmrim phantom cohort", 21);
    }
    if (*has_cohort && !overwrite)
        return qr_fail(QR_ERR_INVALID_ARG, "%s already holds a cohort (cohort.tsv); use --overwrite to replace it, or another folder", dir);
    if (entries && !*had_phantom && !overwrite)
        return qr_fail(QR_ERR_INVALID_ARG,
                       "%s is not empty and holds no phantom cohort; choose an empty or new folder (or --overwrite)", dir);
    return QR_OK;
}

/* ---- workers ---- */

typedef struct shared {
    const qr_phantom_model *model;
    const qr_phantom_options *opt;
    const qr_phantom_plan *plan;
    const char *dir;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int next, done, running;
    qr_status err;
    char errmsg[1024];
} shared;

static void *worker(void *arg) {
    shared *sh = arg;
    for (;;) {
        pthread_mutex_lock(&sh->lock);
        int stop = sh->err != QR_OK || QR_CANCELLED(sh->opt->cancel);
        int i = sh->next;
        if (!stop && i < sh->plan->n_subjects) sh->next++;
        pthread_mutex_unlock(&sh->lock);
        if (stop || i >= sh->plan->n_subjects) break;
        qr_phantom_subject subj;
        qr_status s = qr_phantom_subject_generate(sh->model, sh->opt->seed, i, sh->plan->n_lesions[i], sh->plan->n_rimpos[i],
                                                  sh->opt->cancel, &subj);
        if (s == QR_OK) {
            char name[32];
            subject_name(i, sh->plan->n_subjects, name, sizeof name);
            s = write_subject(sh->dir, name, &subj, sh->opt->write_truth);
            if (s != QR_OK) qr_fail_context(s, "%s", name);
            qr_phantom_subject_free(&subj);
        }
        pthread_mutex_lock(&sh->lock);
        if (s == QR_ERR_CANCELLED) { /* reported by the caller, with the count of finished subjects */
            pthread_mutex_unlock(&sh->lock);
            break;
        }
        if (s != QR_OK && sh->err == QR_OK) {
            sh->err = s;
            snprintf(sh->errmsg, sizeof sh->errmsg, "%s", qr_last_error());
        }
        if (s == QR_OK) sh->done++;
        pthread_cond_signal(&sh->cond);
        pthread_mutex_unlock(&sh->lock);
        if (s != QR_OK) break;
    }
    pthread_mutex_lock(&sh->lock);
    sh->running--;
    pthread_cond_signal(&sh->cond);
    pthread_mutex_unlock(&sh->lock);
    return NULL;
}

qr_status qr_phantom_cohort_write(const char *out_dir, const qr_phantom_options *opt, qr_phantom_summary *summary) {
    if (summary) memset(summary, 0, sizeof *summary);
    if (!out_dir || !*out_dir) return qr_fail(QR_ERR_INVALID_ARG, "no output folder given");
    if (opt->n_subjects < 1 || opt->n_subjects > 100000)
        return qr_fail(QR_ERR_INVALID_ARG, "the number of subjects must be 1..100000 (got %d)", opt->n_subjects);
    if (opt->threads < 1 || opt->threads > 256)
        return qr_fail(QR_ERR_INVALID_ARG, "the number of threads must be 1..256 (got %d)", opt->threads);
    int has_cohort = 0, had_phantom = 0;
    QR_TRY(check_folder(out_dir, opt->overwrite, &has_cohort, &had_phantom));

    qr_phantom_model *model = NULL;
    QR_TRY(qr_phantom_model_load(opt->data_dir, &model));
    qr_phantom_plan plan;
    qr_status s = qr_phantom_plan_cohort(opt->seed, opt->n_subjects, &plan);
    if (s != QR_OK) {
        qr_phantom_model_free(model);
        return s;
    }
    s = qr_mkdir_p(out_dir);
    if (s == QR_OK && has_cohort) {
        char p[QR_PATH_MAX];
        s = ph_format(p, sizeof p, "%s/cohort.tsv", out_dir);
        if (s == QR_OK && unlink(p) != 0 && errno != ENOENT) s = qr_fail(QR_ERR_IO, "%s: cannot remove the old manifest (%s)", p, strerror(errno));
    }
    if (s == QR_OK) s = write_info(out_dir, opt, NULL);
    if (s != QR_OK) {
        qr_phantom_plan_free(&plan);
        qr_phantom_model_free(model);
        return s;
    }

    shared sh;
    memset(&sh, 0, sizeof sh);
    sh.model = model, sh.opt = opt, sh.plan = &plan, sh.dir = out_dir;
    sh.err = QR_OK;
    pthread_mutex_init(&sh.lock, NULL);
    pthread_cond_init(&sh.cond, NULL);
    int nt = opt->threads < opt->n_subjects ? opt->threads : opt->n_subjects;
    pthread_t *tid = calloc((size_t)nt, sizeof(pthread_t));
    if (!tid) s = qr_fail(QR_ERR_NOMEM, "out of memory");
    int started = 0;
    for (int t = 0; t < nt && s == QR_OK; t++) {
        pthread_mutex_lock(&sh.lock);
        sh.running++;
        pthread_mutex_unlock(&sh.lock);
        if (pthread_create(&tid[t], NULL, worker, &sh) != 0) {
            pthread_mutex_lock(&sh.lock);
            sh.running--;
            pthread_mutex_unlock(&sh.lock);
            if (started == 0) s = qr_fail(QR_ERR_INTERNAL, "cannot start a worker thread");
            break;
        }
        started++;
    }
    if (opt->progress && s == QR_OK) opt->progress(0, opt->n_subjects, opt->progress_user);
    pthread_mutex_lock(&sh.lock);
    int last = 0;
    while (sh.running > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&sh.cond, &sh.lock, &ts);
        if (opt->progress && sh.done != last) {
            last = sh.done;
            int d = sh.done;
            pthread_mutex_unlock(&sh.lock);
            opt->progress(d, opt->n_subjects, opt->progress_user);
            pthread_mutex_lock(&sh.lock);
        }
    }
    pthread_mutex_unlock(&sh.lock);
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    free(tid);
    pthread_mutex_destroy(&sh.lock);
    pthread_cond_destroy(&sh.cond);

    if (s == QR_OK && sh.err != QR_OK) s = qr_fail(sh.err, "%s", sh.errmsg);
    if (s == QR_OK && sh.done < opt->n_subjects) {
        s = QR_CANCELLED(opt->cancel)
                ? qr_fail(QR_ERR_CANCELLED, "interrupted after %d of %d subjects; %s/cohort.tsv was not written", sh.done,
                          opt->n_subjects, out_dir)
                : qr_fail(QR_ERR_INTERNAL, "only %d of %d subjects were generated", sh.done, opt->n_subjects);
    }
    qr_phantom_summary sum;
    memset(&sum, 0, sizeof sum);
    if (s == QR_OK) {
        sum.n_subjects = opt->n_subjects;
        for (int i = 0; i < plan.n_subjects; i++) {
            sum.n_lesions += plan.n_lesions[i];
            sum.n_rimpos += plan.n_rimpos[i];
            if (plan.n_rimpos[i] > sum.max_rimpos_per_subject) sum.max_rimpos_per_subject = plan.n_rimpos[i];
            sum.subjects_without_rimpos += plan.n_rimpos[i] == 0;
        }
        s = write_info(out_dir, opt, &sum);
    }
    if (s == QR_OK && had_phantom) s = remove_stale(out_dir, opt->n_subjects, opt->write_truth);
    if (s == QR_OK) s = write_manifest(out_dir, opt->n_subjects);
    if (s == QR_OK && summary) *summary = sum;
    qr_phantom_plan_free(&plan);
    qr_phantom_model_free(model);
    return s;
}
