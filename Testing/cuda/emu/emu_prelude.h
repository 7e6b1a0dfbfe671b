/*
 * emu_prelude.h - included first by every emulated translation unit (emu_<file>.cpp, generated
 * by Testing/cuda/CMakeLists.txt as: this prelude, then `namespace qr_emu { #include <file.cu> }`).
 * Everything a .cu file includes is included here first, outside the namespace, so that inside
 * it only the backend's own declarations (qr_cuda.h) land in qr_emu.
 */
#ifndef QR_EMU_PRELUDE_H
#define QR_EMU_PRELUDE_H

#include <climits>
#include <cmath>
#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cublas_v2.h"
#include "cuda_runtime.h"
#include "cudnn.h"
#include "emu.h"

#include "core/status.h"
#include "nn/nn.h"
#include "nn/nn_backend.h"

#endif
