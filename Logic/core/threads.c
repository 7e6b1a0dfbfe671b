/* threads.c - the OpenMP thread pool started at a program's start (threads.h). */
#define _GNU_SOURCE
#include "threads.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#ifdef QSMRIM_HAVE_OPENMP
#include <omp.h>

/* The stack a libgomp worker gets: OMP_STACKSIZE (a size in kB, or with a B/K/M/G suffix) when
 * set, otherwise the default thread stack (the stack limit, as glibc takes it). */
static size_t worker_stack(void) {
    const char *e = getenv("OMP_STACKSIZE");
    if (e && *e) {
        char *end;
        const unsigned long long v = strtoull(e, &end, 10);
        while (isspace((unsigned char)*end)) end++;
        const int u = toupper((unsigned char)*end);
        const unsigned long long mul = u == 'B' ? 1ull : u == 'M' ? 1ull << 20 : u == 'G' ? 1ull << 30 : 1ull << 10;
        if (end != e && v > 0 && v < (1ull << 40) / mul) return (size_t)(v * mul);
    }
    pthread_attr_t a;
    size_t s = 0;
    if (pthread_getattr_default_np(&a) == 0) {
        pthread_attr_getstacksize(&a, &s);
        pthread_attr_destroy(&a);
    }
    return s ? s : (size_t)8 << 20;
}

/* How many of n workers' stacks (and guard pages, and room for their first allocations) fit in
 * the address space left under RLIMIT_AS: mapped as inaccessible and unmapped at once. */
static int workers_that_fit(int n) {
    struct rlimit r;
    if (getrlimit(RLIMIT_AS, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return n;
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), each = worker_stack() + 2 * page + ((size_t)1 << 20);
    for (; n > 0; n--) {
        void *p = mmap(NULL, (size_t)n * each, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED) {
            munmap(p, (size_t)n * each);
            break;
        }
    }
    return n;
}

int qr_threads_prepare(int want) {
    int n = want > 0 ? want : omp_get_max_threads();
    if (n < 1) n = 1;
    const int fit = workers_that_fit(n - 1) + 1; /* the calling thread is one of the team */
    if (fit < n) {
        n = fit;
        omp_set_num_threads(n);
    }
    volatile int started = 0;
#pragma omp parallel num_threads(n)
    {
#pragma omp atomic
        started++;
    }
    return started;
}
#else
int qr_threads_prepare(int want) {
    (void)want;
    return 1;
}
#endif
