/*
 * fileutil.h - atomic output files and small path helpers.
 *
 * Every output of qsmrim is written under a temporary name in its destination folder and renamed
 * into place once complete (rename(2) within one file system is atomic). A process killed with
 * SIGKILL therefore leaves either the old file or the new one, never a partial file; at most a
 * hidden temporary (".<name>.qsmrim-tmp-*") remains.
 *
 *   qr_atomic f;
 *   QR_TRY(qr_atomic_open(&f, "table.tsv"));
 *   fprintf(f.fp, ...);
 *   return qr_atomic_commit(&f);       // or qr_atomic_abort(&f) on error
 *
 * Tools that write several files at once (ITK writing .nhdr + .raw.gz, a DICOM series folder,
 * HDF5 libraries that want a path, an evaluation report folder) write into a staging folder beside
 * the destination and commit it with qr_staging_commit_files() or qr_staging_commit_dir().
 */
#ifndef QR_FILEUTIL_H
#define QR_FILEUTIL_H

#include <stdint.h>
#include <stdio.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QR_PATH_MAX 4096

typedef struct qr_atomic {
    FILE *fp;                /* write here */
    char path[QR_PATH_MAX];  /* final path */
    char tmp[QR_PATH_MAX];   /* temporary path beside it */
} qr_atomic;

/* Open a temporary file beside `path` for writing (binary mode). */
qr_status qr_atomic_open(qr_atomic *a, const char *path);
/* Flush, sync, close and rename into place. On failure the temporary is removed. */
qr_status qr_atomic_commit(qr_atomic *a);
/* Close and remove the temporary (NULL-safe, idempotent). */
void qr_atomic_abort(qr_atomic *a);

/* An output written completely under a temporary name but not yet in place. A run with several
 * outputs writes all of them first and then commits them one after another, so a failure while
 * writing (a full disk, a value a format cannot hold) replaces none of the old outputs; only the
 * renames, which need no space, come after the first output is replaced. */
/* An output written completely and flushed to the disk (whoever makes a qr_pending flushes it:
 * qr_atomic_finish, the image writer's read-back, the picture), waiting to be put in place. */
typedef enum qr_pending_kind {
    QR_PENDING_NONE = 0,
    QR_PENDING_FILE,        /* tmp is a file, renamed onto path */
    QR_PENDING_STAGED_FILES,/* tmp is a staging folder whose files go into path's folder */
    QR_PENDING_STAGED_DIR   /* tmp is a staging folder renamed onto path (a DICOM series) */
} qr_pending_kind;
typedef struct qr_pending {
    qr_pending_kind kind;
    char tmp[QR_PATH_MAX];
    char path[QR_PATH_MAX];
} qr_pending;

/* Flush, sync and close an atomic output; it becomes pending instead of being renamed. */
qr_status qr_atomic_finish(qr_atomic *a, qr_pending *p);
/* Put one pending output in place / remove its temporary (both NULL-safe, idempotent). */
qr_status qr_pending_commit(qr_pending *p);
/* fsync a file by name (errors ignored: a flush that cannot be made is not a reason to fail). */
void qr_sync_path(const char *path);
void qr_pending_abort(qr_pending *p);
/* Commit p[0..n) in order; after a failure the rest are aborted and the first error returned. */
qr_status qr_pending_commit_all(qr_pending *p, int n);
void qr_pending_abort_all(qr_pending *p, int n);

/* A temporary path beside `path` (same folder, hidden name, unique per process and call);
 * `keep_suffix` keeps the file's extension at the end (some writers choose by extension). */
qr_status qr_temp_sibling(const char *path, int keep_suffix, char *out, size_t outlen);

/* Rename `tmp` onto `path` after syncing it; removes `tmp` on failure. */
qr_status qr_commit_rename(const char *tmp, const char *path);

/* Staging folder: created beside `final_path`; files written inside it keep their final names.
 * commit_files moves everything into the final folder and removes the staging folder: subfolders
 * first (recursively, created in the final folder when missing), then plain files, then the files
 * that point to others - image headers (.nhdr .mhd .hdr) and HTML reports - so a header or a
 * report never points to something missing. A report folder is written this way: a failure while
 * writing any of its files replaces none of the old ones. If `final_path` itself is to be a
 * folder (DICOM series), commit_dir renames the staging folder onto it. abort removes the staging
 * folder and everything in it. */
qr_status qr_staging_create(const char *final_path, char *dir, size_t dirlen);
qr_status qr_staging_commit_files(const char *staging_dir, const char *final_dir);
/* Flush every file of a staging folder to the disk; QR_ERR_IO naming `what` when the system
 * reports a failed write (a full disk may only show here, on some file systems). */
qr_status qr_staging_sync(const char *staging_dir, const char *what);
/* Room for `total_bytes` in files of at most `largest_file` bytes in folder `dir`: the file
 * system's free space for this user and the process's file-size limit (RLIMIT_FSIZE). For writers
 * that cannot report a short write themselves. QR_ERR_IO naming `what` when there is not. */
qr_status qr_space_check(const char *dir, int64_t total_bytes, int64_t largest_file, const char *what);
qr_status qr_staging_commit_dir(const char *staging_dir, const char *final_dir);
/* commit_files for a report folder that a run rewrites as a whole (evaluate, train --report): the
 * report's files are listed in final_dir/.qsmrim-report-files, and after the commit the files the
 * previous report listed that this one did not write are removed (subfolders left empty too), so
 * the folder never mixes two runs. Files the tool did not write there are never touched, nor
 * those inside the folders `keep[0..nkeep)` (reports this one includes; they stay listed), nor
 * anything reached through a link inside the folder. */
qr_status qr_staging_commit_report(const char *staging_dir, const char *final_dir, const char *const *keep, int nkeep);
void qr_staging_abort(const char *staging_dir);

/* Remove what runs killed without a chance to clean up (kill -9, a power cut) left in folder
 * `dir`: hidden temporary files ".NAME.qsmrim-tmp-TOKEN-PID-N[.ext]" of qr_atomic_open /
 * qr_temp_sibling whose NAME begins with `prefix` (NULL: any name), and (prefix NULL only) staging
 * folders ".qsmrim-staging-TOKEN-PID-N". TOKEN names the boot and PID namespace the id belongs
 * to: with this process's token, only those of a process that no longer runs are removed, so the
 * work in progress of a live run is never touched; with another (a shared folder written from
 * another machine or container, or before a reboot), only those untouched for a day. Plain files
 * and folders only: a link named so is left alone, never followed. Returns the number removed. */
int qr_remove_leftovers(const char *dir, const char *prefix);
/* One run at a time: an exclusive lock (flock) on the file lock_path, created if need be and held
 * until *fd is closed. The lock taken is on the file that is at the path once locked, so a holder
 * may remove the file when done (unlink, then close) without two runs ever both holding it.
 * Taken already: QR_ERR_IO with the message `busy`; a file system without locks: said, naming
 * `option` as what to point elsewhere. */
qr_status qr_lock_exclusive(const char *lock_path, const char *busy, const char *option, int *fd);
/* The lock file of `path`: ".NAME.lock" beside it, NAME cut to fit a file name's 255 bytes (two
 * files whose names agree in their first 249 bytes then share a lock). QR_ERR_INVALID_ARG when
 * it does not fit outlen. */
qr_status qr_lock_path(const char *path, char *out, size_t outlen);
/* The TOKEN of this process's temporary names (8 hex digits): FNV-1a of the boot id and the PID
 * namespace link, as read from /proc (the host name where there is no /proc). */
unsigned qr_place_token(void);

/* Folder part of a path ("." if none; slashes at its end do not count) and file-name part. */
void qr_path_dirname(const char *path, char *out, size_t outlen);
/* A path that the file `file` names (a manifest's image, a header's data file, a settings file's
 * parameter file): a relative `name` is taken from the folder of `file` (and stays as it is when
 * `file` has no folder part), an absolute one stays. Returns 0, or -1 with out emptied if the
 * result does not fit outlen. */
int qr_path_beside(const char *file, const char *name, char *out, size_t outlen);
const char *qr_path_basename(const char *path);
/* 1 if `path` ends with `suffix` (case-insensitive). */
int qr_path_has_suffix(const char *path, const char *suffix);
/* Check of an output path made before long work starts, so a run does not compute for minutes
 * and then fail to write: its folder exists and is writable (NULL passes). A command checks all its
 * outputs, against its inputs too, with qr_outputs_check (Logic/io/outputs.h). */
qr_status qr_output_check(const char *out);
/* The same for a file output that must not be a folder (tables, pictures, reports). */
qr_status qr_file_output_check(const char *out);
/* An input read as a whole file (a model, an HDF5 batch, a checkpoint): it exists and is a regular
 * file - a pipe would block the reader forever, a device would be read without end. */
qr_status qr_input_file_check(const char *path);
/* 1 if path exists and is a directory / a regular file. */
int qr_path_is_dir(const char *path);
int qr_path_is_file(const char *path);
/* 1 if path is a folder with no entries besides . and .. */
int qr_dir_is_empty(const char *path);
/* Create a folder and its parents (like mkdir -p). */
qr_status qr_mkdir_p(const char *path);

#ifdef __cplusplus
}
#endif
#endif
