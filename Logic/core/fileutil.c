/* fileutil.c - atomic writes by temporary name + rename, staging folders, path helpers. */
#define _GNU_SOURCE
#include "fileutil.h"

#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static atomic_uint g_counter;

/* Temporary names carry the writer's process id and a token of where that id means something:
 * the boot (/proc/sys/kernel/random/boot_id) and the PID namespace (a container). A leftover with
 * this process's token and the id of a process that no longer runs is a dead run's; one with
 * another token (another machine on a shared folder, another container, an earlier boot) cannot be
 * checked, and is removed only when nothing has touched it for LEFTOVER_FOREIGN_AGE seconds. */
#define TMP_TAG ".qsmrim-tmp-"
#define STAGING_TAG ".qsmrim-staging-"
#define LEFTOVER_FOREIGN_AGE (24 * 3600)

static void read_small(const char *path, char *buf, size_t n, int is_link) {
    buf[0] = '\0';
    if (is_link) {
        const ssize_t k = readlink(path, buf, n - 1);
        if (k > 0) buf[k] = '\0';
        return;
    }
    const int fd = open(path, O_RDONLY);
    if (fd < 0) return;
    const ssize_t k = read(fd, buf, n - 1);
    if (k > 0) buf[k] = '\0';
    close(fd);
}

unsigned qr_place_token(void) {
    static atomic_uint token; /* 0: not computed yet (a computed 0 becomes 1) */
    unsigned t = atomic_load(&token);
    if (t) return t;
    char boot[64], ns[64], host[256] = "";
    read_small("/proc/sys/kernel/random/boot_id", boot, sizeof boot, 0);
    read_small("/proc/self/ns/pid", ns, sizeof ns, 1);
    if (!boot[0]) gethostname(host, sizeof host - 1); /* no /proc: at least the machine */
    uint32_t h = 2166136261u; /* FNV-1a */
    const char *parts[3] = {boot, ns, host};
    for (int i = 0; i < 3; i++)
        for (const unsigned char *c = (const unsigned char *)parts[i]; *c; c++) h = (h ^ *c) * 16777619u;
    t = h ? h : 1u;
    atomic_store(&token, t);
    return t;
}

void qr_path_dirname(const char *path, char *out, size_t outlen) {
    /* slashes at the end do not count ("series/" is the folder series, in "."), as in POSIX dirname */
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    const char *slash = NULL;
    for (size_t i = 0; i < len; i++)
        if (path[i] == '/') slash = path + i;
    if (!slash) {
        snprintf(out, outlen, ".");
    } else if (slash == path) {
        snprintf(out, outlen, "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= outlen) n = outlen - 1;
        memcpy(out, path, n);
        out[n] = '\0';
    }
}

int qr_path_beside(const char *file, const char *name, char *out, size_t outlen) {
    char dir[QR_PATH_MAX];
    qr_path_dirname(file, dir, sizeof dir);
    const int n = name[0] == '/' || !strchr(file, '/') ? snprintf(out, outlen, "%s", name)
                                                       : snprintf(out, outlen, "%s/%s", dir, name);
    if (n >= 0 && (size_t)n < outlen) return 0;
    if (outlen) out[0] = '\0';
    return -1;
}

const char *qr_path_basename(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int qr_path_has_suffix(const char *path, const char *suffix) {
    size_t n = strlen(path), m = strlen(suffix);
    return n >= m && strcasecmp(path + n - m, suffix) == 0;
}

int qr_path_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int qr_path_is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

qr_status qr_mkdir_p(const char *path) {
    char buf[QR_PATH_MAX];
    if (strlen(path) >= sizeof buf) return qr_fail(QR_ERR_INVALID_ARG, "path too long: %s", path);
    strcpy(buf, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return qr_fail(QR_ERR_IO, "cannot create folder %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return qr_fail(QR_ERR_IO, "cannot create folder %s: %s", buf, strerror(errno));
    if (!qr_path_is_dir(buf)) return qr_fail(QR_ERR_IO, "%s exists and is not a folder", buf);
    return QR_OK;
}

/* The extension kept at the end of temporary names: ".nii.gz"-style double suffixes first. */
static const char *path_suffix(const char *base) {
    static const char *doubles[] = {".nii.gz", ".raw.gz", ".tar.gz"};
    for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++)
        if (qr_path_has_suffix(base, doubles[i])) return base + strlen(base) - strlen(doubles[i]);
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? dot : base + strlen(base);
}

qr_status qr_temp_sibling(const char *path, int keep_suffix, char *out, size_t outlen) {
    char dir[QR_PATH_MAX];
    qr_path_dirname(path, dir, sizeof dir);
    const char *base = qr_path_basename(path);
    if (!*base) return qr_fail(QR_ERR_INVALID_ARG, "output path %s names a folder, not a file", path);
    unsigned c = atomic_fetch_add(&g_counter, 1u);
    const char *suf = keep_suffix ? path_suffix(base) : base + strlen(base);
    char tail[96];
    snprintf(tail, sizeof tail, TMP_TAG "%08x-%ld-%u%s", qr_place_token(), (long)getpid(), c, suf);
    /* a file name holds at most NAME_MAX bytes: the name part of a long output name is shortened
     * in its temporary name (which then escapes clean-up by name prefix, not by token and PID) */
    size_t keep = (size_t)(suf - base);
    const size_t room = NAME_MAX - 1 - strlen(tail);
    if (keep > room) keep = room;
    const int n = snprintf(out, outlen, "%s/.%.*s%s", dir, (int)keep, base, tail);
    if (n < 0 || (size_t)n >= outlen) return qr_fail(QR_ERR_INVALID_ARG, "path too long: %s", path);
    return QR_OK;
}

void qr_sync_path(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static qr_status rename_into_place(const char *tmp, const char *path) {
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return qr_fail(QR_ERR_IO, "cannot move output into place at %s: %s", path, strerror(e));
    }
    return QR_OK;
}

qr_status qr_commit_rename(const char *tmp, const char *path) {
    qr_sync_path(tmp);
    return rename_into_place(tmp, path);
}

qr_status qr_atomic_open(qr_atomic *a, const char *path) {
    memset(a, 0, sizeof *a);
    if (strlen(path) >= sizeof a->path) return qr_fail(QR_ERR_INVALID_ARG, "path too long: %s", path);
    strcpy(a->path, path);
    QR_TRY(qr_temp_sibling(path, 0, a->tmp, sizeof a->tmp));
    a->fp = fopen(a->tmp, "wb");
    if (!a->fp) {
        int e = errno;
        a->tmp[0] = '\0';
        return qr_fail(QR_ERR_IO, "cannot write %s: %s", path, strerror(e));
    }
    struct stat st; /* a file that is replaced keeps its permissions (group-shared, read-only) */
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) (void)fchmod(fileno(a->fp), st.st_mode & 07777);
    return QR_OK;
}

qr_status qr_atomic_finish(qr_atomic *a, qr_pending *p) {
    memset(p, 0, sizeof *p);
    if (!a->fp) return qr_fail(QR_ERR_INVALID_ARG, "output %s is not open", a->path);
    int bad = ferror(a->fp) || fflush(a->fp) != 0;
    if (!bad) bad = fsync(fileno(a->fp)) != 0 && errno != EINVAL;
    int e = errno;
    if (fclose(a->fp) != 0) bad = 1;
    a->fp = NULL;
    if (bad) {
        unlink(a->tmp);
        a->tmp[0] = '\0';
        return qr_fail(QR_ERR_IO, "cannot write %s: %s", a->path, strerror(e ? e : EIO));
    }
    p->kind = QR_PENDING_FILE;
    memcpy(p->tmp, a->tmp, sizeof p->tmp);
    memcpy(p->path, a->path, sizeof p->path);
    a->tmp[0] = '\0';
    return QR_OK;
}

qr_status qr_atomic_commit(qr_atomic *a) {
    qr_pending p;
    QR_TRY(qr_atomic_finish(a, &p));
    return qr_pending_commit(&p);
}

static qr_status staging_commit_files(const char *staging_dir, const char *final_dir, int sync);

/* A pending output is on the disk already (qr_pending's makers flush it), so putting it in place
 * is renames only. */
qr_status qr_pending_commit(qr_pending *p) {
    if (!p) return QR_OK;
    qr_status s = QR_OK;
    char dir[QR_PATH_MAX];
    switch (p->kind) {
    case QR_PENDING_NONE: break;
    case QR_PENDING_FILE: s = rename_into_place(p->tmp, p->path); break;
    case QR_PENDING_STAGED_FILES:
        qr_path_dirname(p->path, dir, sizeof dir);
        s = staging_commit_files(p->tmp, dir, 0);
        break;
    case QR_PENDING_STAGED_DIR: s = qr_staging_commit_dir(p->tmp, p->path); break;
    }
    p->kind = QR_PENDING_NONE;
    return s;
}

void qr_pending_abort(qr_pending *p) {
    if (!p) return;
    if (p->kind == QR_PENDING_FILE) unlink(p->tmp);
    else if (p->kind != QR_PENDING_NONE) qr_staging_abort(p->tmp);
    p->kind = QR_PENDING_NONE;
}

/* Every output's data is on the disk before the first is renamed, so the renames follow one
 * another directly: a run killed outright (SIGKILL, which no handler sees) while its outputs go
 * into place leaves a mixed set of old and new outputs only in that instant (four outputs
 * replacing old ones on ext4: 0.4 ms from the first rename to the last, 0.8 ms with each flushed
 * between renames). */
qr_status qr_pending_commit_all(qr_pending *p, int n) {
    qr_status s = QR_OK;
    for (int i = 0; i < n; i++) {
        if (s == QR_OK) s = qr_pending_commit(&p[i]);
        else qr_pending_abort(&p[i]);
    }
    return s;
}

void qr_pending_abort_all(qr_pending *p, int n) {
    for (int i = 0; i < n; i++) qr_pending_abort(&p[i]);
}

void qr_atomic_abort(qr_atomic *a) {
    if (!a) return;
    if (a->fp) fclose(a->fp);
    a->fp = NULL;
    if (a->tmp[0]) unlink(a->tmp);
    a->tmp[0] = '\0';
}

/* Why a path that should be a folder is not one. */
static const char *not_a_folder(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? "is not a folder" : "does not exist";
}

qr_status qr_staging_create(const char *final_path, char *dir, size_t dirlen) {
    char parent[QR_PATH_MAX];
    /* strip trailing slashes of a folder destination */
    char fp[QR_PATH_MAX];
    snprintf(fp, sizeof fp, "%s", final_path);
    size_t n = strlen(fp);
    while (n > 1 && fp[n - 1] == '/') fp[--n] = '\0';
    qr_path_dirname(fp, parent, sizeof parent);
    if (!qr_path_is_dir(parent))
        return qr_fail(QR_ERR_IO, "cannot write %s: %s %s", final_path, parent, not_a_folder(parent));
    /* mkdir with 0777, not mkdtemp's 0700: a staged series folder becomes the output itself and
     * keeps the permissions the user's umask gives any new folder */
    for (int tries = 0; tries < 1000; tries++) {
        const unsigned c = atomic_fetch_add(&g_counter, 1u);
        const int k = snprintf(dir, dirlen, "%s/" STAGING_TAG "%08x-%ld-%u", parent, qr_place_token(), (long)getpid(), c);
        if (k < 0 || (size_t)k >= dirlen) return qr_fail(QR_ERR_INVALID_ARG, "path too long: %s", final_path);
        if (mkdir(dir, 0777) == 0) return QR_OK;
        if (errno != EEXIST) return qr_fail(QR_ERR_IO, "cannot write in folder %s: %s", parent, strerror(errno));
    }
    return qr_fail(QR_ERR_IO, "cannot write in folder %s: no free staging folder name", parent);
}

/* Files that point to others are moved last, so one never points to something missing: image
 * headers (.nhdr .mhd .hdr, whose data file moves first) and HTML reports (whose figures and
 * subfolders move first). */
static int is_last_name(const char *name) {
    return qr_path_has_suffix(name, ".nhdr") || qr_path_has_suffix(name, ".mhd") || qr_path_has_suffix(name, ".hdr") ||
           qr_path_has_suffix(name, ".html");
}

static int is_dot_entry(const char *n) { return n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2])); }

/* src_dir/name and dst_dir/name into src and dst (QR_PATH_MAX bytes each). */
static qr_status child_paths(const char *src_dir, const char *dst_dir, const char *name, char *src, char *dst) {
    const int ns = snprintf(src, QR_PATH_MAX, "%s/%s", src_dir, name);
    const int nd = snprintf(dst, QR_PATH_MAX, "%s/%s", dst_dir, name);
    if (ns < 0 || nd < 0 || ns >= QR_PATH_MAX || nd >= QR_PATH_MAX)
        return qr_fail(QR_ERR_INVALID_ARG, "path too long: %s/%s", dst_dir, name);
    return QR_OK;
}

/* Move the contents of src into dst: subfolders first (recursively, dst's subfolder created when
 * missing), then plain files, then the files named by is_last_name. */
static qr_status commit_tree(const char *src_dir, const char *dst_dir, int depth, int sync) {
    if (depth > 16) return qr_fail(QR_ERR_IO, "staging folder %s nests too deeply", src_dir);
    for (int pass = 0; pass < 2; pass++) {
        DIR *d = opendir(src_dir);
        if (!d) return qr_fail(QR_ERR_IO, "cannot read staging folder %s: %s", src_dir, strerror(errno));
        struct dirent *e;
        qr_status s = QR_OK;
        while (s == QR_OK && (e = readdir(d)) != NULL) {
            if (is_dot_entry(e->d_name)) continue;
            char src[QR_PATH_MAX], dst[QR_PATH_MAX];
            if ((s = child_paths(src_dir, dst_dir, e->d_name, src, dst)) != QR_OK) break;
            struct stat st;
            if (lstat(src, &st) != 0) continue;
            if (S_ISDIR(st.st_mode)) {
                if (pass == 1) continue;
                if (mkdir(dst, 0777) != 0 && !(errno == EEXIST && qr_path_is_dir(dst))) {
                    s = qr_fail(QR_ERR_IO, "cannot create folder %s: %s", dst, strerror(errno));
                    break;
                }
                s = commit_tree(src, dst, depth + 1, sync);
                if (s == QR_OK) rmdir(src);
                continue;
            }
            if (is_last_name(e->d_name) != (pass == 1)) continue;
            if (sync) qr_sync_path(src);
            if (rename(src, dst) != 0)
                s = qr_fail(QR_ERR_IO, "cannot move output into place at %s: %s", dst, strerror(errno));
        }
        closedir(d);
        if (s != QR_OK) return s;
    }
    return QR_OK;
}

/* What would make commit_tree stop part-way, found before it moves anything: a staged folder
 * whose name is a file (or a link to one) in the destination, a staged file whose name is a
 * folder there, a destination folder this process cannot write in. What is left (a race with
 * another process, an I/O error) cannot be checked for in advance. */
static qr_status commit_check(const char *src_dir, const char *dst_dir, int depth) {
    if (depth > 16) return qr_fail(QR_ERR_IO, "staging folder %s nests too deeply", src_dir);
    if (faccessat(AT_FDCWD, dst_dir, W_OK | X_OK, AT_EACCESS) != 0)
        return qr_fail(QR_ERR_IO, "cannot move outputs into folder %s: %s", dst_dir, strerror(errno));
    DIR *d = opendir(src_dir);
    if (!d) return qr_fail(QR_ERR_IO, "cannot read staging folder %s: %s", src_dir, strerror(errno));
    qr_status s = QR_OK;
    struct dirent *e;
    while (s == QR_OK && (e = readdir(d)) != NULL) {
        if (is_dot_entry(e->d_name)) continue;
        char src[QR_PATH_MAX], dst[QR_PATH_MAX];
        if ((s = child_paths(src_dir, dst_dir, e->d_name, src, dst)) != QR_OK) break;
        struct stat ss, ds;
        if (lstat(src, &ss) != 0) continue;
        const int dst_there = lstat(dst, &ds) == 0;
        if (S_ISDIR(ss.st_mode)) {
            if (!dst_there) continue; /* created by the commit: nothing in it to collide with */
            if (!qr_path_is_dir(dst))
                s = qr_fail(QR_ERR_IO, "cannot create folder %s: a file has that name", dst);
            else
                s = commit_check(src, dst, depth + 1);
        } else if (dst_there && S_ISDIR(ds.st_mode)) {
            s = qr_fail(QR_ERR_IO, "cannot move output into place at %s: %s", dst, strerror(EISDIR));
        }
    }
    closedir(d);
    return s;
}

static qr_status staging_commit_files(const char *staging_dir, const char *final_dir, int sync) {
    qr_status s = commit_check(staging_dir, final_dir, 0);
    if (s == QR_OK) s = commit_tree(staging_dir, final_dir, 0, sync);
    if (s != QR_OK) {
        qr_staging_abort(staging_dir);
        return s;
    }
    rmdir(staging_dir);
    return QR_OK;
}

qr_status qr_staging_commit_files(const char *staging_dir, const char *final_dir) {
    return staging_commit_files(staging_dir, final_dir, 1);
}

/* ---- report folders: what the last report wrote ---- */

#define REPORT_RECORD ".qsmrim-report-files"

typedef struct name_list {
    char **v;
    int n, cap;
} name_list;

static void name_list_free(name_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static qr_status name_list_add(name_list *l, const char *name) {
    if (l->n == l->cap) {
        const int cap = l->cap ? 2 * l->cap : 32;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return qr_fail(QR_ERR_NOMEM, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(name))) return qr_fail(QR_ERR_NOMEM, "out of memory");
    l->n++;
    return QR_OK;
}

static int name_list_has(const name_list *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->v[i], name) == 0) return 1;
    return 0;
}

/* The files below `dir` as paths relative to it ("a.tsv", "sub/b.png"). */
static qr_status list_files(const char *dir, const char *rel, name_list *out, int depth) {
    if (depth > 16) return qr_fail(QR_ERR_IO, "folder %s nests too deeply", dir);
    DIR *d = opendir(dir);
    if (!d) return qr_fail(QR_ERR_IO, "cannot read folder %s: %s", dir, strerror(errno));
    qr_status s = QR_OK;
    struct dirent *e;
    while (s == QR_OK && (e = readdir(d)) != NULL) {
        if (is_dot_entry(e->d_name)) continue;
        char path[QR_PATH_MAX], r[QR_PATH_MAX];
        const int np = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        const int nr = rel[0] ? snprintf(r, sizeof r, "%s/%s", rel, e->d_name) : snprintf(r, sizeof r, "%s", e->d_name);
        if (np < 0 || nr < 0 || (size_t)np >= sizeof path || (size_t)nr >= sizeof r) {
            s = qr_fail(QR_ERR_INVALID_ARG, "path too long: %s/%s", dir, e->d_name);
            break;
        }
        struct stat st;
        if (lstat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) s = list_files(path, r, out, depth + 1);
        else if (strchr(r, '\n') == NULL) s = name_list_add(out, r); /* the record is one name per line */
    }
    closedir(d);
    return s;
}

/* A recorded name that stays inside the report folder: relative, no "." or ".." component. */
static int safe_relative(const char *r) {
    if (!r[0] || r[0] == '/') return 0;
    for (const char *c = r; *c;) {
        const char *end = strchr(c, '/');
        const size_t n = end ? (size_t)(end - c) : strlen(c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) return 0;
        c += n + (end ? 1 : 0);
    }
    return 1;
}

/* final_dir/rel's folders are real folders inside final_dir (no component but the last is a link
 * that could lead elsewhere). */
static int parents_are_folders(const char *final_dir, const char *rel) {
    char path[QR_PATH_MAX];
    const int n0 = snprintf(path, sizeof path, "%s/", final_dir);
    if (n0 < 0 || (size_t)n0 >= sizeof path) return 0;
    for (const char *c = rel, *slash; (slash = strchr(c, '/')) != NULL; c = slash + 1) {
        const size_t used = strlen(path), len = (size_t)(slash - c);
        if (used + len + 2 > sizeof path) return 0;
        memcpy(path + used, c, len);
        path[used + len] = '\0';
        struct stat st;
        if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
        path[used + len] = '/';
        path[used + len + 1] = '\0';
    }
    return 1;
}

/* final_dir/rel lies in one of the folders `keep` (compared by real path). */
static int under_kept(const char *final_dir, const char *rel, const char *const *keep, int nkeep) {
    if (nkeep <= 0) return 0;
    char path[QR_PATH_MAX], dir[QR_PATH_MAX], real[PATH_MAX], kreal[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", final_dir, rel) >= (int)sizeof path) return 1;
    qr_path_dirname(path, dir, sizeof dir);
    if (!realpath(dir, real)) return 0;
    for (int k = 0; k < nkeep; k++) {
        if (!keep[k] || !realpath(keep[k], kreal)) continue;
        const size_t n = strlen(kreal);
        if (strncmp(real, kreal, n) == 0 && (real[n] == '\0' || real[n] == '/' || (n == 1 && kreal[0] == '/'))) return 1;
    }
    return 0;
}

qr_status qr_staging_commit_report(const char *staging_dir, const char *final_dir, const char *const *keep, int nkeep) {
    name_list now = {0}, before = {0};
    char rec[QR_PATH_MAX];
    qr_status s = list_files(staging_dir, "", &now, 0);
    if (s == QR_OK && snprintf(rec, sizeof rec, "%s/" REPORT_RECORD, final_dir) < (int)sizeof rec) {
        FILE *f = fopen(rec, "r"); /* none: a new folder, or one written before the record existed */
        char line[QR_PATH_MAX];
        while (s == QR_OK && f && fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = '\0';
            if (!safe_relative(line) || strcmp(line, REPORT_RECORD) == 0 || name_list_has(&now, line)) continue;
            /* what an --include folder holds stays, and stays listed */
            s = under_kept(final_dir, line, keep, nkeep) ? name_list_add(&now, line) : name_list_add(&before, line);
        }
        if (f) fclose(f);
    }
    if (s == QR_OK && snprintf(rec, sizeof rec, "%s/" REPORT_RECORD, staging_dir) >= (int)sizeof rec)
        s = qr_fail(QR_ERR_INVALID_ARG, "path too long: %s", staging_dir);
    if (s == QR_OK) { /* the record commits with the report, in its staging folder */
        FILE *f = fopen(rec, "w");
        if (!f) s = qr_fail(QR_ERR_IO, "cannot write %s: %s", rec, strerror(errno));
        for (int i = 0; s == QR_OK && i < now.n; i++) fprintf(f, "%s\n", now.v[i]);
        if (f && fclose(f) != 0 && s == QR_OK) s = qr_fail(QR_ERR_IO, "cannot write %s: %s", rec, strerror(errno));
    }
    if (s != QR_OK) {
        name_list_free(&now);
        name_list_free(&before);
        qr_staging_abort(staging_dir);
        return s;
    }
    s = qr_staging_commit_files(staging_dir, final_dir);
    /* then what the previous report wrote and this one did not (its files only: a user's own
     * files in the folder are never listed), and the subfolders that leaves empty */
    for (int i = 0; s == QR_OK && i < before.n; i++) {
        if (!parents_are_folders(final_dir, before.v[i])) continue; /* a link on the way may lead outside */
        char path[QR_PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", final_dir, before.v[i]) >= (int)sizeof path) continue;
        struct stat st;
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        unlink(path);
        for (char *slash = strrchr(path, '/'); slash && slash > path + strlen(final_dir); slash = strrchr(path, '/')) {
            *slash = '\0';
            if (rmdir(path) != 0) break;
        }
    }
    name_list_free(&now);
    name_list_free(&before);
    return s;
}

/* PID of a leftover name "...<tag>PID-N...", or 0. */
static int process_gone(long pid) { return pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH; }

/* Is `name` (whose entry `st` is, not followed through a link) a leftover of a run that is over:
 * "<tag>TOKEN-PID-N..." with this place's token and a PID that no longer runs, or another token
 * and untouched for LEFTOVER_FOREIGN_AGE? */
static int dead_leftover(const char *name, const char *tag, const struct stat *st) {
    const char *p = strstr(name, tag);
    if (!p) return 0;
    unsigned token = 0, n = 0;
    long pid = 0;
    int used = 0;
    if (sscanf(p + strlen(tag), "%8x-%ld-%u%n", &token, &pid, &n, &used) != 3 || used == 0 || pid <= 0) return 0;
    if (st->st_uid != geteuid()) return 0; /* another user's (a shared folder): not ours to judge */
    if (token == qr_place_token()) return process_gone(pid);
    return time(NULL) - st->st_mtime > LEFTOVER_FOREIGN_AGE;
}

int qr_remove_leftovers(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    const size_t np = prefix ? strlen(prefix) : 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (name[0] != '.' || is_dot_entry(name)) continue;
        char path[QR_PATH_MAX];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) continue;
        struct stat st; /* the entry itself: a link named like a leftover is never followed */
        if (lstat(path, &st) != 0) continue;
        if (!prefix && !strncmp(name, STAGING_TAG, strlen(STAGING_TAG))) {
            if (S_ISDIR(st.st_mode) && dead_leftover(name, STAGING_TAG, &st)) {
                qr_staging_abort(path);
                removed++;
            }
            continue;
        }
        if (prefix && strncmp(name + 1, prefix, np)) continue;
        if (S_ISREG(st.st_mode) && dead_leftover(name, TMP_TAG, &st) && unlink(path) == 0) removed++;
    }
    closedir(d);
    return removed;
}

qr_status qr_lock_exclusive(const char *lock_path, const char *busy, const char *option, int *fd_out) {
    *fd_out = -1;
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0 && errno == EACCES) fd = open(lock_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW); /* another user's */
        if (fd < 0)
            return qr_fail(QR_ERR_IO, "%s: cannot open the lock file (%s%s)", lock_path, strerror(errno),
                           errno == ELOOP ? ": it is a link" : "");
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            const int e = errno;
            close(fd);
            if (e == EWOULDBLOCK) return qr_fail(QR_ERR_IO, "%s", busy);
            return qr_fail(QR_ERR_IO, "%s: cannot lock (%s%s%s)", lock_path, strerror(e),
                           e == ENOLCK ? "; the file system keeps no locks: choose a local " : "", e == ENOLCK ? option : "");
        }
        /* the file locked must still be the one at the path: a holder that removes its lock file
         * when done (train) may have unlinked it between our open and flock */
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(lock_path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            *fd_out = fd;
            return QR_OK;
        }
        close(fd);
    }
    return qr_fail(QR_ERR_IO, "%s: the lock file keeps being replaced", lock_path);
}

qr_status qr_lock_path(const char *path, char *out, size_t outlen) {
    char dir[QR_PATH_MAX];
    qr_path_dirname(path, dir, sizeof dir);
    const char *base = qr_path_basename(path);
    const size_t room = NAME_MAX - strlen("..lock");
    const int n = snprintf(out, outlen, "%s/.%.*s.lock", dir, (int)(strlen(base) > room ? room : strlen(base)), base);
    if (n < 0 || (size_t)n >= outlen) return qr_fail(QR_ERR_INVALID_ARG, "path too long for its lock file: %s", path);
    return QR_OK;
}

qr_status qr_staging_sync(const char *staging_dir, const char *what) {
    DIR *d = opendir(staging_dir);
    if (!d) return qr_fail(QR_ERR_IO, "%s: cannot read back the folder it was written to: %s", what, strerror(errno));
    qr_status s = QR_OK;
    struct dirent *e;
    while (s == QR_OK && (e = readdir(d)) != NULL) {
        if (is_dot_entry(e->d_name)) continue;
        char file[QR_PATH_MAX];
        const int n = snprintf(file, sizeof file, "%s/%s", staging_dir, e->d_name);
        if (n < 0 || (size_t)n >= sizeof file) continue;
        const int fd = open(file, O_RDONLY);
        if (fd < 0) continue; /* a folder entry that vanished or is not readable: nothing to flush */
        if (fsync(fd) != 0 && errno != EINVAL && errno != EISDIR)
            s = qr_fail(QR_ERR_IO, "%s: the system could not store it: %s", what, strerror(errno));
        close(fd);
    }
    closedir(d);
    return s;
}

/* "70 kB", "3.4 MB", "12 GB": enough digits that a need and the free space that falls short of it
 * do not print alike */
static void size_text(uint64_t bytes, char *buf, size_t n) {
    static const char *unit[] = {"bytes", "kB", "MB", "GB", "TB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1000.0 && u < 4) {
        v /= 1000.0;
        u++;
    }
    snprintf(buf, n, u == 0 || v >= 100.0 ? "%.0f %s" : v >= 10.0 ? "%.1f %s" : "%.2f %s", v, unit[u]);
}

qr_status qr_space_check(const char *dir, int64_t total_bytes, int64_t largest_file, const char *what) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (uint64_t)largest_file > (uint64_t)rl.rlim_cur)
        return qr_fail(QR_ERR_IO, "%s: a file of %lld bytes is over this process's file-size limit (%llu bytes; ulimit -f)",
                       what, (long long)largest_file, (unsigned long long)rl.rlim_cur);
    struct statvfs fs;
    if (statvfs(dir, &fs) == 0) {
        const uint64_t avail = (uint64_t)fs.f_bavail * (uint64_t)fs.f_frsize;
        if ((uint64_t)total_bytes > avail) {
            char need[32], have[32];
            size_text((uint64_t)total_bytes, need, sizeof need);
            size_text(avail, have, sizeof have);
            return qr_fail(QR_ERR_IO, "%s: needs about %s and its disk has %s free", what, need, have);
        }
    }
    return QR_OK;
}

qr_status qr_staging_commit_dir(const char *staging_dir, const char *final_dir) {
    if (rename(staging_dir, final_dir) != 0) {
        int e = errno;
        qr_staging_abort(staging_dir);
        if (e == ENOTEMPTY || e == EEXIST)
            return qr_fail(QR_ERR_IO, "cannot write series folder %s: it exists and is not empty", final_dir);
        return qr_fail(QR_ERR_IO, "cannot move output folder into place at %s: %s", final_dir, strerror(e));
    }
    return QR_OK;
}

/* Empty the folder open as `fd` (closed here), through descriptors: each level is opened with
 * O_NOFOLLOW relative to its parent, so a link put in place of a folder meanwhile is never
 * followed out of the tree. */
static void empty_dir_fd(int fd, int depth) {
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0) close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (is_dot_entry(e->d_name)) continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < 16) empty_dir_fd(openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), depth + 1);
            unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
        } else {
            unlinkat(dirfd(d), e->d_name, 0);
        }
    }
    closedir(d);
}

/* Remove the folder `dir` and what it holds; a link there is removed, never followed. */
static void remove_tree(const char *dir) {
    struct stat st;
    if (lstat(dir, &st) != 0) return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(dir);
        return;
    }
    const int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat opened;
    if (fd >= 0 && (fstat(fd, &opened) != 0 || opened.st_dev != st.st_dev || opened.st_ino != st.st_ino)) {
        close(fd); /* swapped between the two looks: leave it */
        return;
    }
    empty_dir_fd(fd, 0);
    rmdir(dir);
}

void qr_staging_abort(const char *staging_dir) { remove_tree(staging_dir); }

int qr_dir_is_empty(const char *path) {
    DIR *d = opendir(path);
    if (!d) return 0;
    int empty = 1;
    struct dirent *e;
    while (empty && (e = readdir(d)) != NULL) empty = is_dot_entry(e->d_name);
    closedir(d);
    return empty;
}

static const char *special_kind(mode_t m) {
    return S_ISDIR(m) ? "folder" : S_ISFIFO(m) ? "pipe" : S_ISSOCK(m) ? "socket" : "device";
}

qr_status qr_input_file_check(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return qr_fail(QR_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return qr_fail(QR_ERR_IO, "%s: is a %s, not a file", path, special_kind(st.st_mode));
    return QR_OK;
}

qr_status qr_file_output_check(const char *out) {
    QR_TRY(qr_output_check(out));
    if (out && qr_path_is_dir(out)) return qr_fail(QR_ERR_INVALID_ARG, "%s: is a folder; give a file name", out);
    return QR_OK;
}

qr_status qr_output_check(const char *out) {
    if (!out) return QR_OK;
    if (!out[0]) return qr_fail(QR_ERR_INVALID_ARG, "an output path is empty");
    char dir[QR_PATH_MAX];
    qr_path_dirname(out, dir, sizeof dir);
    if (!qr_path_is_dir(dir)) return qr_fail(QR_ERR_IO, "%s: its folder %s %s", out, dir, not_a_folder(dir));
    if (access(dir, W_OK) != 0) return qr_fail(QR_ERR_IO, "%s: its folder %s is not writable (%s)", out, dir, strerror(errno));
    /* an output is written under a temporary name and renamed over the path: a device (/dev/null,
     * which root may replace), a pipe or a socket there would be replaced by a plain file */
    struct stat st;
    if (stat(out, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        return qr_fail(QR_ERR_INVALID_ARG, "%s: is a %s, not a file; outputs are written to a new file put in its place, "
                       "so give a file name", out, special_kind(st.st_mode));
    return QR_OK;
}
