/*
 * batchnorm.c (reference) - batch normalisation over a 5D activation (NCDHW: per channel c over
 * the N*D*H*W values) or a 2D (N, C) tensor (per column over N rows). M = values per channel.
 *
 * Training:   mean = sum x / M,  var = sum (x - mean)^2 / M (biased),  rstd = 1 / sqrt(var + eps)
 *             xhat = (x - mean) * rstd,  y = gamma * xhat + beta
 *             running_mean = (1 - mom) running_mean + mom mean
 *             running_var  = (1 - mom) running_var  + mom var * M / (M - 1)   (unbiased)
 * Inference:  y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta
 * Backward (training): dbeta = sum dy, dgamma = sum dy xhat,
 *             dx = gamma rstd / M * (M dy - dbeta - xhat dgamma)
 */
#include <math.h>

#include "ref.h"

/* element (n, c, s) of a 5D NCDHW tensor or (n, c) of a 2D tensor */
static inline int64_t at(const qr_nn_bn *g, int64_t n, int c, int64_t s) {
    return g->is5d ? (n * g->c + c) * g->spatial + s : n * g->c + c;
}

void qr_nn_ref_batchnorm_forward(qr_nn_context *ctx, const qr_nn_bn *g, float *out, float *save_mean,
                                 float *save_rstd, const float *in, const float *gamma, const float *beta,
                                 float *run_mean, float *run_var, int training) {
    (void)ctx;
    const int64_t S = g->is5d ? g->spatial : 1, M = g->n * S;
    for (int c = 0; c < g->c; c++) {
        double mean, rstd;
        if (training) {
            double s = 0, q = 0;
            for (int64_t n = 0; n < g->n; n++)
                for (int64_t i = 0; i < S; i++) s += in[at(g, n, c, i)];
            mean = s / (double)M;
            for (int64_t n = 0; n < g->n; n++)
                for (int64_t i = 0; i < S; i++) {
                    double d = in[at(g, n, c, i)] - mean;
                    q += d * d;
                }
            double var = q / (double)M;
            rstd = 1.0 / sqrt(var + g->eps);
            if (save_mean) save_mean[c] = (float)mean;
            if (save_rstd) save_rstd[c] = (float)rstd;
            double unbiased = M > 1 ? var * (double)M / (double)(M - 1) : var;
            run_mean[c] = (float)((1.0 - g->momentum) * run_mean[c] + g->momentum * mean);
            run_var[c] = (float)((1.0 - g->momentum) * run_var[c] + g->momentum * unbiased);
        } else {
            mean = run_mean[c];
            rstd = 1.0 / sqrt((double)run_var[c] + g->eps);
        }
        for (int64_t n = 0; n < g->n; n++)
            for (int64_t i = 0; i < S; i++) {
                int64_t k = at(g, n, c, i);
                out[k] = (float)((in[k] - mean) * rstd * gamma[c] + beta[c]);
            }
    }
}

void qr_nn_ref_batchnorm_backward(qr_nn_context *ctx, const qr_nn_bn *g, float *din, int acc, float *dgamma,
                                  float *dbeta, const float *dout, const float *in, const float *save_mean,
                                  const float *save_rstd, const float *gamma) {
    (void)ctx;
    const int64_t S = g->is5d ? g->spatial : 1, M = g->n * S;
    for (int c = 0; c < g->c; c++) {
        double sb = 0, sg = 0, mean = save_mean[c], rstd = save_rstd[c];
        for (int64_t n = 0; n < g->n; n++)
            for (int64_t i = 0; i < S; i++) {
                int64_t k = at(g, n, c, i);
                sb += dout[k];
                sg += dout[k] * (in[k] - mean) * rstd;
            }
        dgamma[c] = (float)sg;
        dbeta[c] = (float)sb;
        double f = gamma[c] * rstd / (double)M;
        for (int64_t n = 0; n < g->n; n++)
            for (int64_t i = 0; i < S; i++) {
                int64_t k = at(g, n, c, i);
                double xhat = (in[k] - mean) * rstd;
                float d = (float)(f * ((double)M * dout[k] - sb - xhat * sg));
                din[k] = acc ? din[k] + d : d;
            }
    }
}

void qr_nn_ref_batchnorm_fold(qr_nn_context *ctx, const qr_nn_bn *g, float *scale, float *shift,
                              const float *gamma, const float *beta, const float *run_mean, const float *run_var) {
    (void)ctx;
    for (int c = 0; c < g->c; c++) {
        double s = gamma[c] / sqrt((double)run_var[c] + g->eps);
        scale[c] = (float)s;
        shift[c] = (float)(beta[c] - run_mean[c] * s);
    }
}
