/* alloc_faults.h - making one allocation of the library fail, for tests of out-of-memory handling.
 *
 * A test program built with alloc_faults.c and linked with --wrap=malloc, calloc, realloc,
 * aligned_alloc, strdup and strndup (CMake: qsmrim_alloc_fault_test) sends every
 * allocation its statically linked objects make - the whole C library of qsmrim - through
 * counting wrappers. Allocations inside shared libraries (libc's own, ITK, HDF5) are not counted.
 * ALLOC_FAULTS_TRACE=K prints the call stack when allocation K is made to fail.
 */
#ifndef QR_ALLOC_FAULTS_H
#define QR_ALLOC_FAULTS_H

#include "core/status.h"

/* From now on, the k-th allocation (counted from 0) fails, once; k < 0: none fails. Resets the
 * count. */
void alloc_faults_fail_at(long k);
/* Allocations attempted since the last alloc_faults_fail_at (a failed one included). */
long alloc_faults_count(void);
/* A run with allocation k failing that ended in `s`: out of memory with a message (counted in
 * *nomem), or success with the clean run's result (`same`); anything else is printed and counted
 * in *bad. */
void alloc_faults_judge(long k, qr_status s, int same, long *nomem, long *bad);

#endif
