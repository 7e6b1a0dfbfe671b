/*
 * fuzz_util.h - shared helpers of the fuzz targets (Testing/fuzz).
 *
 * Every target is one function, LLVMFuzzerTestOneInput(data, size), as libFuzzer calls it. A
 * target returns 0 for every input: an input that breaks a property aborts (fuzz_require), and
 * memory errors are AddressSanitizer's to report. The same sources are built two ways:
 *   - with clang and -DQSMRIM_FUZZ=ON, linked to libFuzzer (fuzz_<target>), to search for inputs;
 *   - in every build, linked to fuzz_replay.c (fuzz_<target>_replay), which feeds the stored
 *     inputs of corpus/<target>/ to the target: the seeds and every input that once found a bug
 *     are replayed by ctest, under the sanitizers in the sanitizer build.
 */
#ifndef QR_FUZZ_UTIL_H
#define QR_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private scratch folder of this process (made at first use, removed at exit), and a path in it. */
const char *fuzz_dir(void);
const char *fuzz_path(const char *name);
/* Write bytes to a file of the scratch folder (aborts on failure: the harness, not the input). */
void fuzz_write(const char *path, const void *data, size_t n);
/* Write bytes gzip-compressed. */
void fuzz_write_gz(const char *path, const void *data, size_t n);
/* The whole file (NUL-terminated, *n bytes before the NUL; free()), or NULL when it cannot be read. */
char *fuzz_read(const char *path, size_t *n);
/* A NUL-terminated copy (free()). */
char *fuzz_text(const uint8_t *data, size_t n);

/* A property every input must keep: prints what broke and aborts (libFuzzer saves the input). */
#define fuzz_require(cond, ...) \
    do { if (!(cond)) fuzz_broken(__FILE__, __LINE__, #cond, __VA_ARGS__); } while (0)
void fuzz_broken(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

/* After a failed call: a status other than QR_OK comes with a message. (A message may quote the
 * input, control characters included; the front ends print it escaped, on one line.) */
void fuzz_require_message(int status, const char *call);

#endif
