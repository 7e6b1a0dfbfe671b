/* resources.c - find shipped resource files (see resources.h for the search order). */
#define _GNU_SOURCE
#include "resources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileutil.h"

#ifndef QSMRIM_RESOURCE_DIR
#define QSMRIM_RESOURCE_DIR ""
#endif

qr_status qr_resource_path(const char *name, char *out, size_t outlen) {
    char exe[QR_PATH_MAX], exedir[QR_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exedir[0] = '\0';
    if (n > 0) {
        exe[n] = '\0';
        qr_path_dirname(exe, exedir, sizeof exedir);
    }
    const char *env = getenv("QSMRIM_RESOURCE_DIR");
    char cand[4][QR_PATH_MAX];
    int nc = 0;
    if (env && *env) {
        /* set on purpose: a folder that is not there is a mistake to say, not to pass over */
        if (!qr_path_is_dir(env)) return qr_fail(QR_ERR_IO, "QSMRIM_RESOURCE_DIR=%s: no such folder", env);
        snprintf(cand[nc++], QR_PATH_MAX, "%s/%s", env, name);
    }
    if (exedir[0]) {
        snprintf(cand[nc++], QR_PATH_MAX, "%s/../share/qsmrim/%s", exedir, name);
        snprintf(cand[nc++], QR_PATH_MAX, "%s/../../../share/qsmrim/%s", exedir, name);
    }
    if (QSMRIM_RESOURCE_DIR[0]) snprintf(cand[nc++], QR_PATH_MAX, "%s/%s", QSMRIM_RESOURCE_DIR, name);
    for (int i = 0; i < nc; i++) {
        if (qr_path_is_file(cand[i])) {
            /* report the path without "bin/../" detours */
            char *canon = realpath(cand[i], NULL);
            const char *found = canon ? canon : cand[i];
            if (strlen(found) >= outlen) {
                free(canon);
                return qr_fail(QR_ERR_INVALID_ARG, "resource path too long");
            }
            strcpy(out, found);
            free(canon);
            return QR_OK;
        }
    }
    return qr_fail(QR_ERR_IO,
                   "resource %s not found (looked in $QSMRIM_RESOURCE_DIR, <bin>/../share/qsmrim, "
                   "<bin>/../../../share/qsmrim and the source tree's Resources/)",
                   name);
}
