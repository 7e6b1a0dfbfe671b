/* temporary: the CPU backend is the reference until the fast kernels land */
#include "nn/ref/ref.h"
const qr_nn_backend *qr_nn_backend_cpu(void) { return qr_nn_backend_ref(); }
