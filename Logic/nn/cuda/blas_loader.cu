/*
 * blas_loader.cu - cuBLAS, loaded when the first GPU context starts instead of at program
 * start.
 *
 * Why: libcublas pulls in libcublasLt, whose load-time relocations cost about 0.3 s and 210 MB
 * of resident memory in every process that links it (measured on the build machine: an empty
 * program linked against libcublasLt takes 0.27 s and 212 MB; against libcudart 0.00 s and
 * 1.5 MB; against libcudnn 0.01 s and 2.7 MB). Linked directly, every qsmrim command - most of
 * which never touch a GPU - would pay that. Loaded here, only a process that actually starts a
 * GPU context does, once.
 *
 * The library is looked up by its soname (the executable's run path includes the CUDA library
 * folder because it links libcudart from there), then by the absolute path of the toolkit it
 * was built against (QSMRIM_CUBLAS_PATH).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "qr_cuda.h"

#ifndef QSMRIM_CUBLAS_SONAME
#define QSMRIM_CUBLAS_SONAME "libcublas.so"
#endif
#ifndef QSMRIM_CUBLAS_PATH
#define QSMRIM_CUBLAS_PATH "/usr/local/cuda/lib64/libcublas.so"
#endif

qr_cu_blas_api qr_cu_blas_fn;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded = 0;
static char why[256] = "";

template <typename F>
static int sym(void *lib, const char *name, F *out) {
    *out = (F)dlsym(lib, name);
    if (*out) return 1;
    snprintf(why, sizeof why, "%s has no symbol %s", QSMRIM_CUBLAS_SONAME, name);
    return 0;
}

static void load(void) {
    void *lib = dlopen(QSMRIM_CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) lib = dlopen(QSMRIM_CUBLAS_PATH, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        snprintf(why, sizeof why, "%s", e ? e : "dlopen failed");
        return;
    }
    qr_cu_blas_api f;
    int ok = sym(lib, "cublasCreate_v2", &f.create) && sym(lib, "cublasDestroy_v2", &f.destroy) &&
             sym(lib, "cublasSetStream_v2", &f.set_stream) && sym(lib, "cublasSetMathMode", &f.set_math_mode) &&
             sym(lib, "cublasSetPointerMode_v2", &f.set_pointer_mode) && sym(lib, "cublasSgemm_v2", &f.sgemm) &&
             sym(lib, "cublasGetStatusName", &f.status_name);
    if (!ok) {
        dlclose(lib);
        return;
    }
    qr_cu_blas_fn = f;
    loaded = 1; /* the library stays loaded for the life of the process */
}

int qr_cu_blas_load(char *err, size_t len) {
    pthread_once(&once, load);
    if (!loaded && err && len) snprintf(err, len, "%s", why);
    return loaded;
}

const char *qr_cu_blas_status(cublasStatus_t s) { return loaded ? qr_cu_blas_fn.status_name(s) : "cuBLAS not loaded"; }
