/* threads.h - the OpenMP thread pool of a program, set up while memory is there for it. */
#ifndef QR_THREADS_H
#define QR_THREADS_H

#ifdef __cplusplus
extern "C" {
#endif

/* libgomp ends the process ("libgomp: Thread creation failed") when it cannot create a thread,
 * which under an address-space limit (ulimit -v, a cluster's h_vmem) happens once the volumes are
 * loaded and a worker's stack no longer fits. Called at a program's start, this starts the pool's
 * threads (`want`, or OpenMP's default when want <= 0) while little memory is in use; libgomp
 * keeps them for the parallel regions that follow. Under an address-space limit too tight for
 * their stacks, fewer are started and made the default (omp_set_num_threads), so work asking for
 * the default runs on them. Returns the number of threads the pool holds (1 without OpenMP). */
int qr_threads_prepare(int want);

#ifdef __cplusplus
}
#endif
#endif
