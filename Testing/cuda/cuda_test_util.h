/*
 * cuda_test_util.h - the GPU context of the CUDA tests. Normally the engine's own device
 * selection (--device cuda). In the emulated build of the same tests (QR_CUDA_EMULATED: the
 * backend's sources compiled as C++ against the CPU emulation in Testing/cuda/emu) the context
 * is assembled by hand around the emulated backend's table, exactly as qr_nn_context_create
 * assembles one around the real table.
 */
#ifndef QR_CUDA_TEST_UTIL_H
#define QR_CUDA_TEST_UTIL_H

#include <stdlib.h>

#include "nn/nn.h"
#include "nn/nn_backend.h"

#ifdef QR_CUDA_EMULATED
const qr_nn_backend *qr_nn_backend_cuda_emu(void);
static inline qr_status cuda_test_context(qr_nn_context **out) {
    qr_nn_context *c = (qr_nn_context *)calloc(1, sizeof *c);
    if (!c) return qr_fail(QR_ERR_NOMEM, "out of memory");
    c->be = qr_nn_backend_cuda_emu();
    c->device.kind = QR_NN_DEVICE_CUDA;
    c->device.index = 0;
    c->threads = 1;
    c->precision = qr_nn_default_precision(); /* QSMRIM_PRECISION, as qr_nn_context_options_default */
    if (c->precision == QR_NN_PRECISION_INVALID) {
        free(c);
        return qr_fail(QR_ERR_INVALID_ARG, "QSMRIM_PRECISION: expected fp32 or tf32");
    }
    qr_status s = c->be->init(c);
    if (s != QR_OK) {
        free(c);
        return s;
    }
    *out = c;
    return QR_OK;
}
#else
static inline qr_status cuda_test_context(qr_nn_context **out) {
    qr_nn_context_options o = qr_nn_context_options_default();
    o.device.kind = QR_NN_DEVICE_CUDA;
    o.device.index = 0;
    return qr_nn_context_create(&o, out);
}
#endif

#endif
