/*
 * linear.c (reference) - fully connected layer, PyTorch layout w (fout, fin), b (fout).
 *   out[n][o] = sum_i in[n][i] w[o][i] + b[o]
 *   din[n][i] = sum_o dout[n][o] w[o][i];  dw[o][i] = sum_n dout[n][o] in[n][i];  db[o] = sum_n dout[n][o]
 */
#include "ref.h"

void qr_nn_ref_linear_forward(qr_nn_context *ctx, int64_t n, int fin, int fout, float *out, const float *in,
                              const float *w, const float *b) {
    (void)ctx;
    for (int64_t r = 0; r < n; r++)
        for (int o = 0; o < fout; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < fin; i++) s += (double)in[r * fin + i] * w[(int64_t)o * fin + i];
            out[r * fout + o] = (float)s;
        }
}

void qr_nn_ref_linear_backward(qr_nn_context *ctx, int64_t n, int fin, int fout, float *din, int acc, float *dw,
                               float *db, const float *dout, const float *in, const float *w) {
    (void)ctx;
    if (din)
        for (int64_t r = 0; r < n; r++)
            for (int i = 0; i < fin; i++) {
                double s = 0;
                for (int o = 0; o < fout; o++) s += (double)dout[r * fout + o] * w[(int64_t)o * fin + i];
                din[r * fin + i] = acc ? din[r * fin + i] + (float)s : (float)s;
            }
    for (int o = 0; o < fout; o++) {
        for (int i = 0; i < fin; i++) {
            double s = 0;
            for (int64_t r = 0; r < n; r++) s += (double)dout[r * fout + o] * in[r * fin + i];
            dw[(int64_t)o * fin + i] = (float)s;
        }
        if (db) {
            double s = 0;
            for (int64_t r = 0; r < n; r++) s += dout[r * fout + o];
            db[o] = (float)s;
        }
    }
}
