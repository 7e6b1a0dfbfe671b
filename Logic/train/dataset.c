/* dataset.c - loading an annotated cohort: crops, features (cached), labels. Steps: dataset.h. */
#include "dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef QSMRIM_HAVE_OPENMP
#include <omp.h>
#endif

#include "../predict/batch.h"
#include "../data/feature_cache.h"
#include "../data/lesion_inputs.h"
#include "../data/subject.h"
#include "../io/geometry.h"
#include "../radiomics/radiomics.h"

void qr_dataset_free(qr_dataset *d) {
    if (!d) return;
    if (d->crops)
        for (int64_t i = 0; i < d->n; i++) qr_lesion_crop_free(&d->crops[i]);
    if (d->context)
        for (int64_t i = 0; i < d->n; i++) qr_lesion_crop_free(&d->context[i]);
    if (d->feature_names)
        for (int64_t f = 0; f < d->nfeatures; f++) free(d->feature_names[f]);
    free(d->feature_names);
    free(d->subject);
    free(d->subject_rimpos);
    free(d->subject_lesions);
    free(d->subject_voxel_mm);
    free(d->subject_qsm_hash);
    free(d->subject_of);
    free(d->lesion_id);
    free(d->label);
    free(d->volume_mm3);
    free(d->crops);
    free(d->context);
    free(d->sum_qsm2);
    free(d->sum_flair);
    free(d->nvox);
    free(d->features);
    memset(d, 0, sizeof *d);
}

int64_t qr_dataset_feature(const qr_dataset *d, const char *name) {
    for (int64_t f = 0; f < d->nfeatures; f++)
        if (!strcmp(d->feature_names[f], name)) return f;
    return -1;
}

qr_status qr_dataset_select(const qr_dataset *d, const int *subject_mask, int64_t **idx, int64_t *n) {
    *idx = malloc((size_t)(d->n > 0 ? d->n : 1) * sizeof **idx);
    if (!*idx) return qr_fail(QR_ERR_NOMEM, "out of memory selecting lesions");
    int64_t m = 0;
    for (int64_t i = 0; i < d->n; i++)
        if (subject_mask[d->subject_of[i]]) (*idx)[m++] = i;
    *n = m;
    return QR_OK;
}

/* Grow every per-lesion array to hold `need` entries. */
static qr_status grow(qr_dataset *d, int64_t need, int64_t *cap) {
    if (need <= *cap) return QR_OK;
    int64_t nc = *cap ? *cap : 256;
    while (nc < need) nc *= 2;
#define GROW(ptr)                                                                                                  \
    do {                                                                                                           \
        void *np = realloc(d->ptr, (size_t)nc * sizeof *d->ptr);                                                   \
        if (!np) return qr_fail(QR_ERR_NOMEM, "out of memory loading the cohort (%lld lesions)", (long long)need); \
        d->ptr = np;                                                                                               \
    } while (0)
    GROW(subject_of);
    GROW(lesion_id);
    GROW(label);
    GROW(volume_mm3);
    GROW(sum_qsm2);
    GROW(sum_flair);
    GROW(nvox);
    if (d->crops) GROW(crops);
    if (d->context) GROW(context);
    if (d->nfeatures > 0) {
        double *nf = realloc(d->features, (size_t)nc * (size_t)d->nfeatures * sizeof *nf);
        if (!nf) return qr_fail(QR_ERR_NOMEM, "out of memory loading the cohort features");
        d->features = nf;
    }
#undef GROW
    *cap = nc;
    return QR_OK;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *t = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (n >= 0 && !t) qr_note_out_of_memory(); /* the caller's "cannot read" says why */
    if (t) t[fread(t, 1, (size_t)n, f)] = '\0';
    fclose(f);
    return t;
}

/* Features of every lesion of a subject, computed (lesions in parallel threads). */
static qr_status compute_features(const char *subject, const qr_subject *s, const qr_radiomics *rad, int threads,
                                  qr_feature_table *t) {
    int64_t F = qr_radiomics_count(rad);
    t->n = s->lesions.n;
    t->nfeatures = F;
    t->lesion_id = malloc((size_t)(t->n > 0 ? t->n : 1) * sizeof *t->lesion_id);
    t->values = malloc((size_t)(t->n > 0 ? t->n : 1) * (size_t)F * sizeof *t->values);
    if (!t->lesion_id || !t->values) {
        qr_feature_table_free(t);
        return qr_fail(QR_ERR_NOMEM, "out of memory for features");
    }
    char err[4096] = "";
    qr_status tst = QR_OK;
    int64_t err_at = -1; /* the failing lesion reported: the first in the table, whatever the threads */
#ifdef QSMRIM_HAVE_OPENMP
    int nth = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic) num_threads(nth)
#else
    (void)threads;
#endif
    for (int64_t i = 0; i < t->n; i++) {
        int missing = 0;
        t->lesion_id[i] = s->lesions.items[i].id;
        qr_status ls = qr_lesion_radiomics(s, &s->lesions.items[i], rad, t->values + i * F, &missing);
        if (ls != QR_OK) {
#ifdef QSMRIM_HAVE_OPENMP
#pragma omp critical(qr_dataset_err)
#endif
            if (err_at < 0 || i < err_at) {
                tst = ls;
                err_at = i;
                snprintf(err, sizeof err, "lesion %d: %s", s->lesions.items[i].id, qr_last_error());
            }
        }
    }
    if (tst != QR_OK) {
        qr_feature_table_free(t);
        /* a prediction names the subject by its QSM file */
        if (strchr(subject, '/')) return qr_fail(tst, "%s: %s", subject, err);
        return qr_fail(tst, "subject '%s': %s", subject, err);
    }
    return QR_OK;
}

/* Features of every lesion of a subject: from the cache or computed (and cached). With the cache,
 * qsm_sha receives the QSM image's SHA-256 of the cache key (else it is left ""). */
static qr_status subject_features(const qr_cohort_entry *e, const qr_subject *s, const qr_radiomics *rad,
                                  const char *params_text, const qr_dataset_options *o, qr_feature_table *t,
                                  int *from_cache, char qsm_sha[65]) {
    int64_t F = qr_radiomics_count(rad);
    *from_cache = 0;
    if (!o->cache_dir) return compute_features(e->subject, s, rad, o->threads, t);
    const char **names = malloc((size_t)F * sizeof *names);
    if (!names) return qr_fail(QR_ERR_NOMEM, "out of memory");
    for (int64_t f = 0; f < F; f++) names[f] = qr_radiomics_name(rad, f);
    char key[65] = "", hl[65];
    qr_status st = qr_feature_cache_key(e->qsm, e->lesions, params_text, key, qsm_sha, hl);
    int found = 0;
    if (st == QR_OK) st = qr_feature_cache_load(o->cache_dir, key, names, F, t, &found);
    if (st == QR_OK && found) {
        /* the same lesions, in the same order, or it is recomputed */
        int same = t->n == s->lesions.n;
        for (int64_t i = 0; same && i < t->n; i++) same = t->lesion_id[i] == s->lesions.items[i].id;
        if (same) {
            *from_cache = 1;
            free(names);
            return QR_OK;
        }
        qr_feature_table_free(t);
    }
    if (st == QR_OK) st = compute_features(e->subject, s, rad, o->threads, t);
    if (st == QR_OK) {
        qr_status cs = qr_feature_cache_store(o->cache_dir, key, names, t, qsm_sha, hl);
        if (cs != QR_OK) qr_log(QR_LOG_WARNING, "feature cache not written: %s", qr_last_error());
    }
    free(names);
    return st;
}

/* The radiomic settings and the per-subject arrays of an empty dataset. */
static qr_status begin_dataset(qr_dataset *d, const qr_dataset_options *o, int nsubjects, qr_radiomics **rad,
                               char **params_text) {
    memset(d, 0, sizeof *d);
    *rad = NULL;
    *params_text = NULL;
    qr_status st = QR_OK;
    if (o->features) {
        QR_TRY(qr_radiomics_load(o->radiomics_params, rad));
        *params_text = o->radiomics_params ? read_text(o->radiomics_params) : strdup(qr_radiomics_preset_text());
        if (!*params_text && !o->radiomics_params) qr_note_out_of_memory();
        if (!*params_text)
            return qr_fail(QR_ERR_IO, "cannot read %s", o->radiomics_params ? o->radiomics_params : "the preset");
        qr_sha256_hex(*params_text, strlen(*params_text), d->radiomics_text_sha);
        d->nfeatures = qr_radiomics_count(*rad);
        d->feature_names = calloc((size_t)d->nfeatures, sizeof *d->feature_names);
        if (!d->feature_names) return qr_fail(QR_ERR_NOMEM, "out of memory");
        for (int64_t f = 0; f < d->nfeatures; f++) {
            d->feature_names[f] = strdup(qr_radiomics_name(*rad, f));
            if (!d->feature_names[f]) return qr_fail(QR_ERR_NOMEM, "out of memory");
        }
    }
    d->nsubjects = nsubjects;
    d->subject = calloc((size_t)nsubjects, sizeof *d->subject);
    d->subject_rimpos = calloc((size_t)nsubjects, sizeof *d->subject_rimpos);
    d->subject_lesions = calloc((size_t)nsubjects, sizeof *d->subject_lesions);
    d->subject_voxel_mm = calloc((size_t)nsubjects, sizeof *d->subject_voxel_mm);
    d->subject_qsm_hash = calloc((size_t)nsubjects, sizeof *d->subject_qsm_hash);
    if (!d->subject || !d->subject_rimpos || !d->subject_lesions || !d->subject_voxel_mm || !d->subject_qsm_hash)
        st = qr_fail(QR_ERR_NOMEM, "out of memory");
    if (st == QR_OK && o->crops && !(d->crops = malloc(sizeof *d->crops))) st = qr_fail(QR_ERR_NOMEM, "out of memory");
    if (st == QR_OK && o->context_crops && !(d->context = malloc(sizeof *d->context)))
        st = qr_fail(QR_ERR_NOMEM, "out of memory");
    return st;
}

/* Append the lesions of subject si: those with an annotation row (nann >= 0), or every lesion with
 * label 0 (nann < 0: nothing is annotated, e.g. prediction). ft holds the features of every lesion
 * of the table (or is empty without features). */
static qr_status append_subject(qr_dataset *d, int si, const qr_subject *s, const qr_annotation *ann, int64_t nann,
                                const qr_feature_table *ft, int64_t *cap) {
    memcpy(d->subject_voxel_mm[si], s->qsm.geom.spacing, sizeof d->subject_voxel_mm[si]);
    int64_t a = 0;
    for (int64_t li = 0; li < s->lesions.n; li++) {
        const qr_lesion *l = &s->lesions.items[li];
        int label = 0;
        if (nann >= 0) {
            while (a < nann && ann[a].lesion_id < l->id) a++;
            if (a >= nann || ann[a].lesion_id != l->id) {
                d->n_unannotated++;
                continue;
            }
            label = ann[a].rim;
        }
        QR_TRY(grow(d, d->n + 1, cap));
        int64_t i = d->n;
        d->subject_of[i] = si;
        d->lesion_id[i] = l->id;
        d->label[i] = label;
        d->volume_mm3[i] = l->volume_mm3;
        qr_lesion_crop crop;
        QR_TRY(qr_lesion_crop_make(s, l, &crop));
        qr_lesion_crop_sums(&crop, &d->sum_qsm2[i], &d->sum_flair[i], &d->nvox[i]);
        if (d->crops)
            d->crops[i] = crop;
        else
            qr_lesion_crop_free(&crop);
        if (d->context) {
            qr_status st = qr_context_crop_make(s, l, QR_CONTEXT_MARGIN, QR_CONTEXT_MARGIN_K, &d->context[i]);
            if (st != QR_OK) {
                if (d->crops) qr_lesion_crop_free(&d->crops[i]);
                return st;
            }
        }
        if (d->nfeatures > 0) {
            memcpy(d->features + i * d->nfeatures, ft->values + li * d->nfeatures, (size_t)d->nfeatures * sizeof(double));
            int miss = 0;
            for (int64_t f = 0; f < d->nfeatures && !miss; f++) miss = isnan(d->features[i * d->nfeatures + f]);
            d->n_missing_features += miss;
        }
        d->subject_rimpos[si] += label;
        d->subject_lesions[si]++;
        d->n++;
    }
    return QR_OK;
}

/* An annotation names a label the subject's map does not hold: say which labels it does hold, and
 * whether resampling onto the QSM grid can have removed it. */
static qr_status missing_label(const qr_cohort_entry *e, const qr_subject *s, int32_t id) {
    int32_t ids[10];
    const int64_t n = s->lesions.n;
    for (int64_t u = 0; u < n && u < 10; u++) ids[u] = s->lesions.items[u].id;
    char list[256] = "none";
    if (n > 0) qr_labels_describe(ids, n, list, sizeof list);
    return qr_fail(QR_ERR_FORMAT, "subject '%s': %s annotates lesion %d, which %s does not hold%s (its labels: %s%s)",
                   e->subject, e->annotations, id, e->lesions,
                   s->align.labels_resampled ? " on the QSM grid it was resampled onto" : "", list,
                   n == 1 ? "; a binary mask must be split into numbered lesions first: qsmrim lesions --mask MAP --out LESIONS.tsv --out-labels LABELS.nrrd"
                          : "");
}

/* A map of one lesion labelled 1 (or 255) whose voxels form separate lesions is, in all likelihood,
 * a binary mask listed where a label map belongs: read as labels, its lesions would be trained as
 * one, under the rim label of the one row its annotation table can hold. */
static qr_status binary_mask_check(const qr_cohort_entry *e, const qr_subject *s) {
    if (s->lesions.n != 1 || (s->lesions.items[0].id != 1 && s->lesions.items[0].id != 255)) return QR_OK;
    qr_volume cc;
    int64_t parts = 0;
    QR_TRY(qr_connected_components(&s->labels, 26, &cc, &parts));
    qr_volume_free(&cc);
    if (parts < 2) return QR_OK;
    return qr_fail(QR_ERR_FORMAT,
                   "subject '%s': %s holds one label (%d) whose voxels form %lld separate lesions: a binary mask? "
                   "%s names lesions by their label, so split the mask into numbered lesions first: qsmrim lesions "
                   "--mask MAP --out LESIONS.tsv --out-labels LABELS.nrrd (one lesion in several parts: give it "
                   "another label than 1 or 255)",
                   e->subject, e->lesions, s->lesions.items[0].id, (long long)parts, e->annotations);
}

/* Lesions without an annotation row are left out (append_subject); this says which subjects they
 * are in, and leaves out a subject none of whose lesions is annotated: its rim+ count is unknown,
 * not 0, so it must not count in the per-subject count metrics. A subject whose map holds no
 * lesion stays (its count, 0, is known). */
static void leave_out_unannotated(const qr_cohort *c, qr_dataset *d, const int64_t *unannotated, const int64_t *maplesions) {
    if (d->n_unannotated == 0) return;
    char list[900] = "", gone[600] = "", tail[700] = "";
    size_t used = 0, gone_used = 0;
    int named = 0, more = 0, dropped = 0, gone_more = 0;
    int64_t more_lesions = 0;
    for (int s = 0; s < c->n; s++) {
        if (!unannotated[s]) continue;
        const int whole = unannotated[s] == maplesions[s];
        dropped += whole;
        int listed = 0;
        if (named < 4) { /* the first four, as long as they fit whole */
            const int k = snprintf(list + used, sizeof list - used, "%s%lld of %lld in '%s' (%s%s)", named ? ", " : "",
                                   (long long)unannotated[s], (long long)maplesions[s], c->entries[s].subject,
                                   c->entries[s].annotations, whole ? "; the subject is left out" : "");
            listed = k > 0 && (size_t)k < sizeof list - used;
            if (listed) {
                used += (size_t)k;
                named++;
            } else {
                list[used] = '\0';
            }
        }
        if (listed) continue;
        more++;
        more_lesions += unannotated[s];
        if (whole) { /* a subject left out altogether is always named */
            const int k = snprintf(gone + gone_used, sizeof gone - gone_used, "%s'%s'", gone_used ? ", " : "",
                                   c->entries[s].subject);
            if (k > 0 && (size_t)k < sizeof gone - gone_used) gone_used += (size_t)k;
            else {
                gone[gone_used] = '\0';
                gone_more++;
            }
        }
    }
    if (more)
        snprintf(tail, sizeof tail, "%sand %lld in %d %ssubject%s%s%s%s%s", named ? ", " : "", (long long)more_lesions, more,
                 named ? "more " : "", more == 1 ? "" : "s", gone_used || gone_more ? " (left out altogether: " : "", gone,
                 gone_more ? (gone_used ? ", ..." : "...") : "", gone_used || gone_more ? ")" : "");
    qr_log(QR_LOG_NOTICE,
           "%lld lesions of the lesion maps are not annotated (no row in their table, or a review decision of unsure or "
           "none) and are left out: %s%s",
           (long long)d->n_unannotated, list, tail);
    if (!dropped) return;
    /* compact the per-subject arrays; lesions refer to the new numbers */
    int *to = malloc((size_t)d->nsubjects * sizeof *to);
    if (!to) return; /* kept: counted as 0, as before */
    int n = 0;
    for (int s = 0; s < d->nsubjects; s++) {
        const int keep = !(unannotated[s] > 0 && unannotated[s] == maplesions[s]);
        to[s] = keep ? n : -1;
        if (!keep) continue;
        if (n != s) {
            memcpy(d->subject[n], d->subject[s], sizeof d->subject[n]);
            d->subject_rimpos[n] = d->subject_rimpos[s];
            d->subject_lesions[n] = d->subject_lesions[s];
            memcpy(d->subject_voxel_mm[n], d->subject_voxel_mm[s], sizeof d->subject_voxel_mm[n]);
            d->subject_qsm_hash[n] = d->subject_qsm_hash[s];
        }
        n++;
    }
    for (int64_t i = 0; i < d->n; i++) d->subject_of[i] = to[d->subject_of[i]];
    d->nsubjects = n;
    free(to);
}

qr_status qr_dataset_load(const qr_cohort *c, const qr_dataset_options *o, qr_dataset *d, qr_load_progress_fn progress,
                          void *user, const volatile sig_atomic_t *cancel) {
    qr_radiomics *rad = NULL;
    char *params_text = NULL;
    qr_status st = begin_dataset(d, o, c->n, &rad, &params_text);
    int64_t cap = 0;
    int reordered = 0, oblique = 0;
    double oblique_max = 0;
    char oblique_first[sizeof c->entries[0].subject] = "";
    int64_t *unannotated = calloc((size_t)(c->n > 0 ? c->n : 1), sizeof *unannotated), *maplesions = NULL;
    if (st == QR_OK && !unannotated) st = qr_fail(QR_ERR_NOMEM, "out of memory");
    if (st == QR_OK && !(maplesions = calloc((size_t)(c->n > 0 ? c->n : 1), sizeof *maplesions)))
        st = qr_fail(QR_ERR_NOMEM, "out of memory");
    for (int si = 0; st == QR_OK && si < c->n; si++) {
        const qr_cohort_entry *e = &c->entries[si];
        snprintf(d->subject[si], sizeof d->subject[si], "%s", e->subject);
        if (progress) progress("loading subjects", si, c->n, user);
        if (QR_CANCELLED(cancel)) {
            st = qr_fail(QR_ERR_CANCELLED, "interrupted while loading the cohort");
            break;
        }
        qr_subject s;
        st = qr_subject_load(e->qsm, e->flair, e->lesions, QR_LESION_INPUT_LABELS, &s);
        if (st != QR_OK) {
            st = qr_fail_context(st, "subject '%s'", e->subject);
            break;
        }
        qr_annotation *ann = NULL;
        int64_t nann = 0;
        st = qr_batch_check_review_ids(e->annotations, &s.lesions, e->lesions, e->subject);
        if (st == QR_OK) st = qr_annotations_read(e->annotations, e->subject, &ann, &nann);
        for (int64_t a = 0; st == QR_OK && a < nann; a++)
            if (!qr_lesion_table_find(&s.lesions, ann[a].lesion_id)) st = missing_label(e, &s, ann[a].lesion_id);
        if (st == QR_OK && nann > 0) st = binary_mask_check(e, &s);
        reordered += s.reordered;
        const double ob = qr_geometry_obliquity_deg(&s.qsm.geom);
        if (ob > QR_OBLIQUE_WARN_DEG) {
            if (!oblique++) snprintf(oblique_first, sizeof oblique_first, "%s", e->subject);
            oblique_max = fmax(oblique_max, ob);
        }
        qr_feature_table ft;
        memset(&ft, 0, sizeof ft);
        int cached = 0;
        char hq[65] = ""; /* which QSM image this subject is, for a model's record of its training subjects */
        if (st == QR_OK && o->features) st = subject_features(e, &s, rad, params_text, o, &ft, &cached, hq);
        d->n_cached += cached;
        if (st == QR_OK && !hq[0]) st = qr_sha256_image(e->qsm, hq); /* not hashed for the feature cache */
        if (st == QR_OK) d->subject_qsm_hash[si] = qr_sha256_prefix64(hq);
        const int64_t before = d->n_unannotated;
        if (st == QR_OK) st = append_subject(d, si, &s, ann, nann, &ft, &cap);
        unannotated[si] = d->n_unannotated - before;
        maplesions[si] = s.lesions.n;
        qr_feature_table_free(&ft);
        free(ann);
        qr_subject_free(&s);
    }
    if (progress && st == QR_OK) progress("loading subjects", c->n, c->n, user);
    if (st == QR_OK && reordered)
        qr_log(QR_LOG_NOTICE, "%d of %d subjects are not stored with i -> Left, j -> Posterior, k -> Superior; their lesions are used with the volumes in that order (axes swapped or mirrored, no interpolation), as predict does",
               reordered, c->n);
    if (st == QR_OK && oblique)
        qr_log(QR_LOG_WARNING, "%d of %d subjects (the first: '%s') have a grid axis up to %.1f degrees from the patient axis it is read along: near 45 degrees a small change of the header can change the order in which the volumes are read, and with it what the networks' patches and the wavelet radiomic features see (aprl-rf's first-order features do not depend on it; grids resampled along the patient axes do not)",
               oblique, c->n, oblique_first, oblique_max);
    free(params_text);
    qr_radiomics_free(rad);
    if (st == QR_OK) leave_out_unannotated(c, d, unannotated, maplesions);
    free(unannotated);
    free(maplesions);
    if (st == QR_OK && d->n == 0) st = qr_fail(QR_ERR_EMPTY, "%s: no annotated lesions in the cohort", c->manifest);
    if (st != QR_OK) qr_dataset_free(d);
    return st;
}

qr_status qr_dataset_from_subject(const qr_subject *s, const char *name, const qr_dataset_options *o, qr_dataset *d) {
    qr_radiomics *rad = NULL;
    char *params_text = NULL;
    qr_status st = begin_dataset(d, o, 1, &rad, &params_text);
    if (st == QR_OK) snprintf(d->subject[0], sizeof d->subject[0], "%s", name ? name : "subject");
    qr_feature_table ft;
    memset(&ft, 0, sizeof ft);
    if (st == QR_OK && o->features) st = compute_features(d->subject[0], s, rad, o->threads, &ft);
    int64_t cap = 0;
    if (st == QR_OK) st = append_subject(d, 0, s, NULL, -1, &ft, &cap);
    qr_feature_table_free(&ft);
    free(params_text);
    qr_radiomics_free(rad);
    if (st != QR_OK) qr_dataset_free(d);
    return st;
}
