/*
 * fuzz_replay.c - main() of the replay build of a fuzz target: every file named on the command
 * line, and every file of every folder named, is given to LLVMFuzzerTestOneInput once. Exits 0
 * when all have run (a broken property aborts first); 2 when an argument cannot be read or no
 * input was found.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"

static int run_file(const char *path) {
    size_t n;
    char *buf = fuzz_read(path, &n);
    if (!buf) {
        fprintf(stderr, "%s: cannot read\n", path);
        return -1;
    }
    fprintf(stderr, "fuzz replay: %s (%zu bytes)\n", path, n);
    LLVMFuzzerTestOneInput((const uint8_t *)buf, n);
    free(buf);
    return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    int ran = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 2;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i]) != 0) return 2;
            ran++;
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[i], &names, NULL, NULL);
        if (n < 0) {
            perror(argv[i]);
            return 2;
        }
        char **paths = calloc((size_t)n + 1, sizeof *paths);
        int np = 0;
        for (int k = 0; k < n; k++) {
            if (names[k]->d_name[0] != '.') {
                size_t len = strlen(argv[i]) + strlen(names[k]->d_name) + 2;
                paths[np] = malloc(len);
                snprintf(paths[np++], len, "%s/%s", argv[i], names[k]->d_name);
            }
            free(names[k]);
        }
        free(names);
        qsort(paths, (size_t)np, sizeof *paths, cmp);
        for (int k = 0; k < np; k++) {
            if (run_file(paths[k]) != 0) return 2;
            ran++;
            free(paths[k]);
        }
        free(paths);
    }
    if (!ran) {
        fprintf(stderr, "fuzz replay: no input\n");
        return 2;
    }
    fprintf(stderr, "fuzz replay: %d inputs, every property kept\n", ran);
    return 0;
}
