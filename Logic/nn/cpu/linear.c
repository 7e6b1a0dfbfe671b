/*
 * linear.c (CPU) - fully connected layer with weights stored as the panel-packed (in x out)
 * matrix Wt (the transpose of PyTorch's (out, in)):
 *   out (n x fout) = in (n x fin) Wt (fin x fout) + b
 *   dWt (fin x fout) = in^T dout (written packed);  db = column sums of dout
 *   din = dout W, W (fout x fin) = Wt^T packed into scratch
 */
#include "cpu.h"

void qr_nn_cpu_linear_forward(qr_nn_context *ctx, int64_t n, int fin, int fout, float *out, const float *in,
                              const float *w, const float *b) {
    qr_cpu_gemm(ctx, n, fout, fin, in, fin, 1, w, 0, 1, out, fout, 0, b, 0);
}

void qr_nn_cpu_linear_backward(qr_nn_context *ctx, int64_t n, int fin, int fout, float *din, int acc, float *dw,
                               float *db, const float *dout, const float *in, const float *w) {
    qr_cpu_gemm(ctx, fin, fout, n, in, 1, fin, dout, fout, 0, dw, 0, 1, NULL, 0);
    if (db) {
        double s[fout > 0 ? fout : 1];
        qr_cpu_colsum(ctx, n, fout, dout, s);
        for (int o = 0; o < fout; o++) db[o] = (float)s[o];
    }
    if (din) {
        /* W (fout x fin) packed: element (o, i) = Wt (i, o) */
        float *wt = qr_cpu_scratch(ctx, (size_t)fin * fout);
        if (!wt) return;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 64) if ((int64_t)fin * fout > 65536)
        for (int o = 0; o < fout; o++)
            for (int i = 0; i < fin; i++)
                wt[qr_cpu_packed_at(fout, fin, o, i)] = w[qr_cpu_packed_at(fin, fout, i, o)];
        qr_cpu_gemm(ctx, n, fin, fout, dout, fout, 1, wt, 0, 1, din, fin, 0, NULL, acc);
    }
}
