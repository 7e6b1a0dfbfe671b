/* alloc_faults.c - counting allocation wrappers (alloc_faults.h). */
#include "alloc_faults.h"

#include <execinfo.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static atomic_long g_fail_at = -1;
static atomic_long g_count;

void alloc_faults_fail_at(long k) {
    atomic_store(&g_count, 0);
    atomic_store(&g_fail_at, k);
}

long alloc_faults_count(void) { return atomic_load(&g_count); }

void alloc_faults_judge(long k, qr_status s, int same, long *nomem, long *bad) {
    if (s == QR_OK && !same) {
        printf("allocation %ld failing changed the result and reported success\n", k);
        (*bad)++;
    } else if (s != QR_OK && (s != QR_ERR_NOMEM || !qr_last_error()[0])) {
        printf("allocation %ld failing gave status %s (%s), not out-of-memory\n", k, qr_status_name(s), qr_last_error());
        (*bad)++;
    } else if (s == QR_ERR_NOMEM) {
        (*nomem)++;
    }
}

/* ALLOC_FAULTS_TRACE=K in the environment: the call stack on stderr when allocation K is made to
 * fail (addresses; `addr2line -f -e TEST ADDR` names them), to find the code that mishandled it. */
static int fail_now(void) {
    const long c = atomic_fetch_add(&g_count, 1), k = atomic_load(&g_fail_at);
    if (k < 0 || c != k) return 0;
    const char *trace = getenv("ALLOC_FAULTS_TRACE");
    if (trace && strtol(trace, NULL, 10) == k) {
        void *frames[16];
        backtrace_symbols_fd(frames, backtrace(frames, 16), 2);
    }
    return 1;
}

void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return fail_now() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return fail_now() ? NULL : __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t align, size_t n) { return fail_now() ? NULL : __real_aligned_alloc(align, n); }
char *__wrap_strdup(const char *s) { return fail_now() ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return fail_now() ? NULL : __real_strndup(s, n); }
