/*
 * linear.cu (CUDA) - fully connected layer on cuBLAS, PyTorch layout w (fout, fin), b (fout),
 * activations row-major (n, f), as ref/linear.c:
 *   out[r][o] = sum_i in[r][i] w[o][i] + b[o]
 *   din[r][i] = sum_o dout[r][o] w[o][i]       (=, or += with acc)
 *   dw[o][i]  = sum_r dout[r][o] in[r][i]      (=)
 *   db[o]     = sum_r dout[r][o]               (=, our kernel: rows in order, double)
 *
 * cuBLAS is column-major; a row-major (r x c) matrix is the column-major (c x r) matrix with
 * leading dimension c, so (column-major, ld in brackets):
 *   out^T (fout x n) [fout] = op_T(w: fin x fout [fin]) * in^T (fin x n) [fin]
 *   din^T (fin x n)  [fin]  = w (fin x fout [fin]) * dout^T (fout x n) [fout]
 *   dw^T (fin x fout) [fin] = in^T (fin x n [fin]) * op_T(dout^T: fout x n [fout])
 * Precision: FP32 (CUBLAS_DEFAULT_MATH) or TF32 tensor cores (--precision tf32).
 */
#include <limits.h>

#include "qr_cuda.h"

__global__ void add_bias(int64_t n, int fout, float *out, const float *b) {
    QR_CU_FOR(k, n * fout) out[k] += b[k % fout];
}

/* one thread per column o: the n rows in order */
__global__ void col_sums(int64_t n, int fout, const float *dout, float *db) {
    QR_CU_FOR(o, (int64_t)fout) {
        double s = 0;
        for (int64_t r = 0; r < n; r++) s += dout[r * fout + o];
        db[o] = (float)s;
    }
}

static int dims_ok(qr_nn_context *ctx, int64_t n, int fin, int fout) {
    if (n > INT_MAX || fin < 1 || fout < 1) {
        qr_cu_fail(ctx, "linear layer", "unsupported shape %lld x %d -> %d", (long long)n, fin, fout);
        return 0;
    }
    return 1;
}

void qr_nn_cuda_linear_forward(qr_nn_context *ctx, int64_t n, int fin, int fout, float *out, const float *in,
                               const float *w, const float *b) {
    if (n <= 0 || !qr_cu_enter(ctx) || !dims_ok(ctx, n, fin, fout)) return;
    const float one = 1.0f, zero = 0.0f;
    if (!qr_cu_blas_ok(ctx,
                       qr_cu_blas_fn.sgemm(qr_cu(ctx)->blas, CUBLAS_OP_T, CUBLAS_OP_N, fout, (int)n, fin, &one, w, fin, in, fin,
                                   &zero, out, fout),
                       "cublasSgemm (linear forward)"))
        return;
    if (b) QR_CU_LAUNCH(ctx, add_bias, qr_cu_blocks(n * fout), n, fout, out, b);
}

void qr_nn_cuda_linear_backward(qr_nn_context *ctx, int64_t n, int fin, int fout, float *din, int acc, float *dw,
                                float *db, const float *dout, const float *in, const float *w) {
    if (n <= 0 || !qr_cu_enter(ctx) || !dims_ok(ctx, n, fin, fout)) return;
    cublasHandle_t h = qr_cu(ctx)->blas;
    const float one = 1.0f, zero = 0.0f;
    if (din && !qr_cu_blas_ok(ctx,
                              qr_cu_blas_fn.sgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, fin, (int)n, fout, &one, w, fin, dout, fout,
                                          acc ? &one : &zero, din, fin),
                              "cublasSgemm (linear input gradient)"))
        return;
    if (!qr_cu_blas_ok(ctx,
                       qr_cu_blas_fn.sgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, fin, fout, (int)n, &one, in, fin, dout, fout, &zero, dw,
                                   fin),
                       "cublasSgemm (linear weight gradient)"))
        return;
    if (db) QR_CU_LAUNCH(ctx, col_sums, qr_cu_blocks(fout), n, fout, dout, db);
}
