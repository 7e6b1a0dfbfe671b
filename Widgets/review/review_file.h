/*
 * review_file.h - the reviewer's decisions on disk: one tab-separated file per subject, rewritten
 * atomically (temporary name + rename, Logic/core/fileutil.h) after every decision, so a crash or
 * `kill -9` at any moment leaves the file as it was after the last decision, never a partial one.
 * Plain C, no GUI.
 *
 * Format (one header line, then one row per lesion that has a decision or a note, by lesion id):
 *
 *   lesion_id  decision  reviewer  time                  model_probability  model_decision  note
 *   7          rim+      alice     2026-11-21T15:53:18Z  0.934512           rim+            thin rim posteriorly
 *
 *   decision           rim+, rim-, unsure, or none (a note without a decision yet)
 *   reviewer           who decided (no tabs)
 *   time               when, ISO 8601 UTC
 *   model_probability  the model's P(rim+) shown when deciding (6 decimals), NA without prediction
 *   model_decision     rim+, review, rim- or none, likewise
 *   note               free text; tabs and line breaks become spaces
 * Lines starting with '#' are comments (kept out of the rows, written back above the header).
 * Columns other than these are carried through: written back after them, each row keeping its
 * cells (empty in a row the viewer adds). Rows whose lesion is not in the current lesion table are
 * kept as they are and written back (nothing is lost); the viewer warns. A file with content is
 * rewritten only when a decision is recorded, never just by opening it.
 *
 * One viewer at a time: qr_review_open() takes an exclusive lock (flock on a hidden
 * ".<name>.lock" beside the file), so a second viewer on the same file is refused instead of
 * overwriting decisions. The kernel drops the lock when the process dies, even by SIGKILL.
 *
 * Another program (an editor, a script) does not take that lock. So a save first compares the
 * file's content (SHA-256) with what this session last read or wrote; file times are not enough,
 * as the kernel stamps them at a clock tick of a few milliseconds. If it changed, the save merges
 * instead of overwriting: the file's new rows, header columns and comments are taken, and the rows
 * this session recorded since its last successful save are put on top (they are newer); a lesion
 * whose row both changed (against the version this session last read or wrote) is named. Not
 * overwritten, the save failing and the rows staying in memory: a file that changed into
 * something that is not a review file, one that cannot be read to compare, and a review opened
 * through a symbolic link that no longer leads to the locked file (an editor that replaces the
 * link by a file). A file removed or emptied meanwhile is written again with every row.
 * r->outside describes the last successful save's merge for the caller to show; r->rows_replaced
 * says the rows in memory changed (also when the write after a merge failed).
 *
 *   qr_review r;
 *   QR_TRY(qr_review_open("sub-001_review.tsv", &r));        // lock, read (missing = empty)
 *   qr_review_row row = {.lesion_id = 7, .decision = QR_REVIEW_RIM_POS, ...};
 *   QR_TRY(qr_review_record(&r, &row));                        // in memory, then saved at once
 *   QR_TRY(qr_review_flush(&r));                              // before closing: a failed save again
 *   qr_review_close(&r);
 */
#ifndef QR_REVIEW_FILE_H
#define QR_REVIEW_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/fileutil.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct qr_queue; /* review_queue.h */

typedef enum qr_review_decision {
    QR_REVIEW_NONE = 0,  /* not decided (a row may still carry a note) */
    QR_REVIEW_RIM_POS,   /* key r */
    QR_REVIEW_RIM_NEG,   /* key x */
    QR_REVIEW_UNSURE,    /* key u */
    QR_REVIEW_COUNT
} qr_review_decision;

/* "none", "rim+", "rim-", "unsure". */
const char *qr_review_decision_name(int d);
/* Parse one of the names above; QR_ERR_FORMAT otherwise. */
qr_status qr_review_decision_parse(const char *text, int *d);

enum { QR_REVIEW_TIME_LEN = 24 };

typedef struct qr_review_row {
    int32_t lesion_id;
    int decision;                  /* qr_review_decision */
    char *reviewer;                /* owned, never NULL in a stored row */
    char time[QR_REVIEW_TIME_LEN]; /* "YYYY-MM-DDTHH:MM:SSZ" ("" if a hand-made file had none) */
    double model_probability;      /* NaN: none; to the 6 decimals the file keeps (rounded when read or recorded) */
    int model_decision;            /* QR_MODEL_* (review_queue.h) */
    char *note;                    /* owned, never NULL in a stored row ("" for none) */
    char *extra;                   /* owned: the row's cells of the columns this format does not know,
                                      tab-joined; NULL for none (a new row) */
    int pending;                   /* recorded in this session and not yet in a successful save */
} qr_review_row;

/* The review file as this session last read or wrote it. */
typedef struct qr_review_disk {
    int known;         /* 0: never read or written (nothing to compare) */
    int exists;
    char sha256[65];   /* of its content, when it exists */
} qr_review_disk;

typedef struct qr_review {
    char path[QR_PATH_MAX];  /* the review file */
    int64_t n;               /* rows */
    int64_t cap;
    qr_review_row *rows;     /* sorted by lesion_id */
    int lock_fd;             /* -1 when not locked */
    int unsaved;             /* 1 while a recorded row has not reached the file (its save failed) */
    int n_extra;             /* columns this format does not know, carried through */
    char *extra_header;      /* their names, tab-joined (NULL if none) */
    char *comments;          /* the file's '#' lines, each ending in a line break (NULL if none) */
    qr_review_disk disk;     /* the file as last read or written */
    qr_review_row *base;     /* its rows then (what a merge compares the other program's rows with) */
    int64_t n_base;
    char given[QR_PATH_MAX]; /* the path opened, when it was a symbolic link to r->path ("" otherwise) */
    int rows_replaced;       /* a merge replaced the rows in memory (the caller shows them, clears it) */
    int64_t outside_rows;    /* last successful save: rows taken from another program's version (0: none) */
    char outside[QR_PATH_MAX + 512]; /* last successful save: what it merged ("" if nothing) */
} qr_review;

/* Read a review file without locking it (export, inspection). A missing file is an empty review;
 * a file that is not a review file (header columns missing; a prediction table, recognised by a
 * `probability` column without a `reviewer` one), a row with a bad lesion id, decision, time or
 * probability, or a lesion id twice is QR_ERR_FORMAT naming the file and line. */
qr_status qr_review_read(const char *path, qr_review *r);

/* Lock and read; temporary files of this review file's saves that a killed viewer left beside it
 * are removed (qr_remove_leftovers). A missing or blank file is created at once (header only); a file with content
 * is not rewritten, but a temporary file is made and removed beside it, so a folder that cannot
 * be written is found now, not at the first decision. A symbolic link is followed: the lock, the
 * reads and the saves are those of its target (r->path). QR_ERR_IO "... is open in another review
 * session" if the lock is held. */
qr_status qr_review_open(const char *path, qr_review *r);

/* Unlock and free (NULL-safe). Nothing is written: call qr_review_flush first. */
void qr_review_close(qr_review *r);

/* Row of a lesion, or NULL. */
const qr_review_row *qr_review_find(const qr_review *r, int32_t lesion_id);
/* Decision of a lesion (QR_REVIEW_NONE if no row). */
int qr_review_decision_of(const qr_review *r, int32_t lesion_id);

/* Insert or replace the row of row->lesion_id (strings are copied and cleaned: tabs and line
 * breaks become spaces; an empty time is filled with the current time; a replaced row's extra
 * cells are kept unless row->extra is given), then save. If saving fails the row stays in memory,
 * r->unsaved is set (a later save or qr_review_flush writes it) and the error is returned. */
qr_status qr_review_record(qr_review *r, const qr_review_row *row);

/* Write all rows to r->path atomically; clears r->unsaved on success. If another program changed
 * the file since this session read or wrote it, its version is merged first (see above) and
 * r->outside says what was taken; QR_ERR_FORMAT naming the file if it no longer reads as one. */
qr_status qr_review_save(qr_review *r);
/* Save if a recorded row has not reached the file yet (r->unsaved), else nothing. */
qr_status qr_review_flush(qr_review *r);

/* Rows whose lesion id is not in the queue (kept, but the viewer warns). */
int64_t qr_review_count_orphans(const qr_review *r, const struct qr_queue *q);
/* Decided rows whose recorded model probability differs from the queue's current prediction of
 * that lesion by more than one in the 6th decimal (the same model on another device may differ by
 * that): decided on another model's output or settings, or on another lesion under the same id. *first (may be NULL) receives the first such row. Rows or lesions
 * without a probability are not counted. */
int64_t qr_review_count_stale(const qr_review *r, const struct qr_queue *q, const qr_review_row **first);
/* Rows with a decision (rim+, rim-, unsure) recorded by another reviewer than `reviewer`, and the
 * first of them (NULL when none): a decision this reviewer makes on such a lesion replaces theirs,
 * since a review file holds one decision per lesion. */
int64_t qr_review_count_others(const qr_review *r, const char *reviewer, const qr_review_row **first);
/* Notice (qr_log) when qr_review_count_others finds any: how many, whose (the first), and that each
 * rater keeps their decisions apart with a review file of their own. */
void qr_review_notice_others(const qr_review *r, const char *reviewer);
/* Warn (qr_log) about both: orphan rows (`orphans_fate` says what becomes of them, e.g. "kept in
 * the file") and decisions recorded on another prediction than the queue's. */
void qr_review_warn_mismatches(const qr_review *r, const struct qr_queue *q, const char *orphans_fate);

/* The current time, ISO 8601 UTC, into buf (>= QR_REVIEW_TIME_LEN bytes). $QSMRIM_REVIEW_TIME, if
 * set, is used instead (reproducible test files). */
void qr_review_now(char *buf, size_t len);

/* Export the reviewed table atomically: one row per lesion of the queue, by model probability
 * (highest first, lesions without one last, ties by id), header
 *   lesion_id volume_mm3 center_r center_a center_s probability uncertainty model_decision
 *   review_decision reviewer time note
 * (probability/uncertainty NA without prediction; reviewer/time empty if not reviewed). */
qr_status qr_review_export(const struct qr_queue *q, const qr_review *r, const char *path);
/* The same table for several subjects in one file, with a first column `subject`: the header
 * (with_subject 0: the one-subject header above), then each subject's rows. */
void qr_review_export_header(FILE *fp, int with_subject);
qr_status qr_review_export_rows(FILE *fp, const struct qr_queue *q, const qr_review *r, const char *subject);

#ifdef __cplusplus
}
#endif
#endif
