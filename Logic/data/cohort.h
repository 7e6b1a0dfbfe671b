/*
 * cohort.h - an annotated cohort: the manifest, each subject's images, lesions and expert labels.
 *
 * Manifest (as `qsmrim phantom` writes it): a TSV with the header
 *     subject  qsm  flair  lesions  annotations
 * one row per subject; paths are relative to the manifest's folder (absolute paths are kept).
 * More columns are allowed and ignored. Subject names must be unique and non-empty.
 *
 * Annotation table of a subject: a TSV with at least `lesion_id` and `rim` (1 = rim+, 0 = rim-);
 * more columns are allowed (the phantom adds its ground truth). Rules, checked when a subject is
 * loaded, each failure naming the subject and the file:
 *   - rim must be 0 or 1; a lesion_id must appear once;
 *   - an annotated lesion_id absent from the lesion map is an error (the files do not belong
 *     together);
 *   - a lesion of the map without an annotation row is left out of training and evaluation, and
 *     counted (qr_subject.unannotated) so the caller can say so.
 * Lesion map: a label map (one label per lesion, kept) or a binary mask (split into 26-connected
 * components numbered as `qsmrim lesions` numbers them) - the ids the annotations refer to.
 */
#ifndef QR_COHORT_H
#define QR_COHORT_H

#include <stdint.h>

#include "../core/fileutil.h"
#include "../core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qr_cohort_entry {
    char subject[256];           /* subject name (first column) */
    char qsm[QR_PATH_MAX];       /* resolved paths */
    char flair[QR_PATH_MAX];
    char lesions[QR_PATH_MAX];
    char annotations[QR_PATH_MAX];
} qr_cohort_entry;

typedef struct qr_cohort {
    char manifest[QR_PATH_MAX];
    int n;                    /* subjects */
    qr_cohort_entry *entries; /* n */
} qr_cohort;

/* Read and check a manifest (columns, unique non-empty names, at least one subject). Files are
 * not opened here; a missing file is reported when its subject is loaded (and by
 * qr_cohort_check_files). */
qr_status qr_cohort_read(const char *manifest, qr_cohort *out);
/* The same for a cohort to classify, not to train on: an annotations column is not required and
 * not read (entries' `annotations` stay ""; qr_cohort_check_files and qr_cohort_outputs_check
 * skip them). */
qr_status qr_cohort_read_images(const char *manifest, qr_cohort *out);
/* Check that every referenced file exists (an image may be a DICOM folder; an annotation table
 * that is a folder is said to be one); the first missing one is named with its subject and column. */
qr_status qr_cohort_check_files(const qr_cohort *c);
void qr_cohort_free(qr_cohort *c);
/* Outputs of a command that reads the cohort, checked before its work: `out_file` (may be NULL,
 * named `out_what`) must be none of the cohort's files (the manifest, images with their detached
 * voxel data, annotation tables; qr_outputs_check), and `out_dir` (may be NULL, named `dir_what`),
 * a folder whose files the command replaces, must hold none of them, at any depth. */
qr_status qr_cohort_outputs_check(const qr_cohort *c, const char *out_file, const char *out_what, const char *out_dir,
                                  const char *dir_what);

/* One annotation row. */
typedef struct qr_annotation {
    int32_t lesion_id;
    int rim; /* 0 / 1 */
} qr_annotation;

/* Read an annotation table; rows sorted by lesion_id. `subject` names it in messages. *out is the
 * caller's to free(); on failure it is NULL and *n 0. */
qr_status qr_annotations_read(const char *path, const char *subject, qr_annotation **out, int64_t *n);
/* 1 if an annotation table is a review file of qsmrim-review (a decision column and no rim column):
 * its rim+ / rim- decisions are the labels. */
struct qr_tsv;
int qr_annotations_is_review(const struct qr_tsv *t);
/* The rim+ and rim- rows of every annotation table of the cohort (read, not matched to the
 * lesion maps): a cohort that cannot train is refused before its images are read. */
qr_status qr_cohort_count_labels(const qr_cohort *c, int64_t *npos, int64_t *nneg);
/* qr_cohort_count_labels, then QR_ERR_EMPTY naming the manifest unless both classes occur
 * (`what` needs them, e.g. "training"). */
qr_status qr_cohort_check_classes(const qr_cohort *c, const char *what);
/* A split by subject (`split` "holdout": train's held-out subjects; "folds": cross-validation)
 * needs rim+ lesions in more than one subject - on both sides of it. QR_ERR_EMPTY naming the
 * manifest and the one subject otherwise, from the annotation tables, before any image is read
 * (the subjects' rim+ counts after loading are the same: a subject left out for lack of
 * annotation rows has none). Other unfit splits are found once the subjects are read. */
qr_status qr_cohort_check_split(const qr_cohort *c, const char *split);

#ifdef __cplusplus
}
#endif
#endif
