/*
 * batchnorm.cu (CUDA) - batch normalisation over a 5D NCDHW activation (per channel c over the
 * N*D*H*W values) or a 2D (N, C) tensor (per column over N rows); M = values per channel.
 * Same arithmetic as ref/batchnorm.c (double statistics):
 *
 * Training:   mean = sum x / M,  var = sum (x - mean)^2 / M (biased),  rstd = 1 / sqrt(var + eps)
 *             y = (x - mean) * rstd * gamma + beta
 *             running_mean = (1 - mom) running_mean + mom mean
 *             running_var  = (1 - mom) running_var  + mom var * M / (M - 1)   (unbiased; M > 1)
 * Inference:  y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta
 * Backward:   dbeta = sum dy,  dgamma = sum dy xhat,  xhat = (x - mean) rstd
 *             dx = gamma rstd / M * (M dy - dbeta - xhat dgamma)     (=, or += with acc)
 * Fold:       scale = gamma / sqrt(running_var + eps),  shift = beta - running_mean * scale
 *
 * Per-channel sums (also used for the convolution bias gradient): one block per (chunk,
 * channel), a fixed tree inside the block, chunks added in order by one thread per channel -
 * the same bits on every run. The statistics live in double scratch between the kernels:
 * stats[c] = mean, stats[C + c] = rstd.
 */
#include "qr_cuda.h"

/* ---- per-channel sums ---- */

int qr_cu_sum_chunks(int64_t m) {
    int64_t k = (m + 8191) / 8192; /* about 32 values per thread */
    return (int)(k < 1 ? 1 : k > 512 ? 512 : k);
}

template <int OP>
__global__ void chan_partial(int64_t n, int C, int64_t S, int chunks, const float *x, const float *dy,
                             const double *mean_d, const float *mean_f, const float *rstd_f, double *part) {
    const int c = blockIdx.y, j = blockIdx.x;
    const int64_t M = n * S, lo = M * j / chunks, hi = M * (j + 1) / chunks;
    double mu = 0, r = 0, s0 = 0, s1 = 0;
    if (OP == QR_CU_SUM_SQDEV) mu = mean_d[c];
    if (OP == QR_CU_SUM_BN) {
        mu = mean_f[c];
        r = rstd_f[c];
    }
    for (int64_t m = lo + threadIdx.x; m < hi; m += QR_CU_THREADS) {
        const int64_t nn = qr_cu_div(m, S), s = m - nn * S, k = (nn * C + c) * S + s;
        if (OP == QR_CU_SUM_X) {
            s0 += x[k];
        } else if (OP == QR_CU_SUM_SQDEV) {
            double d = x[k] - mu;
            s0 += d * d;
        } else {
            double g = dy[k];
            s0 += g;
            s1 += g * (x[k] - mu) * r;
        }
    }
    s0 = qr_cu_block_sum(s0);
    if (OP == QR_CU_SUM_BN) s1 = qr_cu_block_sum(s1);
    if (threadIdx.x == 0) {
        part[((int64_t)c * chunks + j) * 2] = s0;
        part[((int64_t)c * chunks + j) * 2 + 1] = s1;
    }
}

__global__ void chan_total(int C, int chunks, const double *part, double *out) {
    QR_CU_FOR(c, C) {
        double s0 = 0, s1 = 0;
        for (int j = 0; j < chunks; j++) {
            s0 += part[(c * chunks + j) * 2];
            s1 += part[(c * chunks + j) * 2 + 1];
        }
        out[2 * c] = s0;
        out[2 * c + 1] = s1;
    }
}

int qr_cu_channel_sums(qr_nn_context *ctx, qr_cu_sum_op op, int64_t n, int c, int64_t spatial, const float *x,
                       const float *dy, const double *mean_d, const float *mean_f, const float *rstd_f, double *part,
                       double *out) {
    if (c < 1 || c > 65535) {
        qr_cu_fail(ctx, "per-channel sums", "%d channels (1..65535 supported)", c);
        return 0;
    }
    const int chunks = qr_cu_sum_chunks(n * spatial);
    dim3 grid((unsigned)chunks, (unsigned)c);
    cudaStream_t s = qr_cu_stream(ctx);
    switch (op) {
    case QR_CU_SUM_X:
        QR_CU_KERNEL(chan_partial<QR_CU_SUM_X>, grid, QR_CU_THREADS, s)(n, c, spatial, chunks, x, dy, mean_d, mean_f, rstd_f, part);
        break;
    case QR_CU_SUM_SQDEV:
        QR_CU_KERNEL(chan_partial<QR_CU_SUM_SQDEV>, grid, QR_CU_THREADS, s)(n, c, spatial, chunks, x, dy, mean_d, mean_f, rstd_f,
                                                                    part);
        break;
    default:
        QR_CU_KERNEL(chan_partial<QR_CU_SUM_BN>, grid, QR_CU_THREADS, s)(n, c, spatial, chunks, x, dy, mean_d, mean_f, rstd_f, part);
        break;
    }
    if (!qr_cu_launched(ctx, "chan_partial")) return 0;
    QR_CU_LAUNCH(ctx, chan_total, qr_cu_blocks(c), c, chunks, part, out);
    return qr_cu(ctx)->err == QR_OK;
}

/* ---- forward ---- */

/* training: mean from the first pass */
__global__ void bn_mean(int C, int64_t M, const double *sums, double *stats) {
    QR_CU_FOR(c, C) stats[c] = sums[2 * c] / (double)M;
}

/* training: variance, rstd, saved statistics and the running averages */
__global__ void bn_var(int C, int64_t M, float eps, float momentum, const double *sums, double *stats,
                       float *save_mean, float *save_rstd, float *run_mean, float *run_var) {
    QR_CU_FOR(c, C) {
        const double mean = stats[c], var = sums[2 * c] / (double)M;
        const double rstd = 1.0 / sqrt(var + eps);
        stats[C + c] = rstd;
        if (save_mean) save_mean[c] = (float)mean;
        if (save_rstd) save_rstd[c] = (float)rstd;
        const double unbiased = M > 1 ? var * (double)M / (double)(M - 1) : var;
        run_mean[c] = (float)((1.0 - momentum) * run_mean[c] + momentum * mean);
        run_var[c] = (float)((1.0 - momentum) * run_var[c] + momentum * unbiased);
    }
}

/* inference: statistics from the running averages */
__global__ void bn_running(int C, float eps, const float *run_mean, const float *run_var, double *stats) {
    QR_CU_FOR(c, C) {
        stats[c] = run_mean[c];
        stats[C + c] = 1.0 / sqrt((double)run_var[c] + eps);
    }
}

__global__ void bn_apply(int64_t total, int C, int64_t S, const float *in, const double *stats, const float *gamma,
                         const float *beta, float *out) {
    QR_CU_FOR(k, total) {
        const int c = qr_cu_channel(k, S, C);
        out[k] = (float)((in[k] - stats[c]) * stats[C + c] * gamma[c] + beta[c]);
    }
}

void qr_nn_cuda_batchnorm_forward(qr_nn_context *ctx, const qr_nn_bn *g, float *out, float *save_mean,
                                  float *save_rstd, const float *in, const float *gamma, const float *beta,
                                  float *run_mean, float *run_var, int training) {
    if (!qr_cu_enter(ctx)) return;
    const int C = g->c;
    const int64_t S = g->is5d ? g->spatial : 1, M = g->n * S, total = M * C;
    if (total <= 0) return;
    const int chunks = qr_cu_sum_chunks(M);
    double *scratch = qr_cu_reduce_scratch(ctx, (size_t)C * (2 * (size_t)chunks + 4));
    if (!scratch) return;
    double *part = scratch, *sums = part + (size_t)2 * C * chunks, *stats = sums + 2 * (size_t)C;
    if (training) {
        if (!qr_cu_channel_sums(ctx, QR_CU_SUM_X, g->n, C, S, in, NULL, NULL, NULL, NULL, part, sums)) return;
        QR_CU_LAUNCH(ctx, bn_mean, qr_cu_blocks(C), C, M, sums, stats);
        if (!qr_cu_channel_sums(ctx, QR_CU_SUM_SQDEV, g->n, C, S, in, NULL, stats, NULL, NULL, part, sums)) return;
        QR_CU_LAUNCH(ctx, bn_var, qr_cu_blocks(C), C, M, g->eps, g->momentum, sums, stats, save_mean, save_rstd,
                     run_mean, run_var);
    } else {
        QR_CU_LAUNCH(ctx, bn_running, qr_cu_blocks(C), C, g->eps, run_mean, run_var, stats);
    }
    QR_CU_LAUNCH(ctx, bn_apply, qr_cu_blocks(total), total, C, S, in, stats, gamma, beta, out);
}

/* ---- backward ---- */

__global__ void bn_param_grads(int C, const double *sums, float *dgamma, float *dbeta) {
    QR_CU_FOR(c, C) {
        dbeta[c] = (float)sums[2 * c];
        dgamma[c] = (float)sums[2 * c + 1];
    }
}

__global__ void bn_input_grad(int64_t total, int C, int64_t S, int64_t M, const float *dout, const float *in,
                              const float *save_mean, const float *save_rstd, const float *gamma, const double *sums,
                              float *din, int acc) {
    QR_CU_FOR(k, total) {
        const int c = qr_cu_channel(k, S, C);
        const double mean = save_mean[c], rstd = save_rstd[c], sb = sums[2 * c], sg = sums[2 * c + 1];
        const double f = gamma[c] * rstd / (double)M;
        const double xhat = (in[k] - mean) * rstd;
        qr_cu_put(din, k, (float)(f * ((double)M * dout[k] - sb - xhat * sg)), acc);
    }
}

void qr_nn_cuda_batchnorm_backward(qr_nn_context *ctx, const qr_nn_bn *g, float *din, int acc, float *dgamma,
                                   float *dbeta, const float *dout, const float *in, const float *save_mean,
                                   const float *save_rstd, const float *gamma) {
    if (!qr_cu_enter(ctx)) return;
    const int C = g->c;
    const int64_t S = g->is5d ? g->spatial : 1, M = g->n * S, total = M * C;
    if (total <= 0) return;
    const int chunks = qr_cu_sum_chunks(M);
    double *scratch = qr_cu_reduce_scratch(ctx, (size_t)C * (2 * (size_t)chunks + 2));
    if (!scratch) return;
    double *part = scratch, *sums = part + (size_t)2 * C * chunks;
    if (!qr_cu_channel_sums(ctx, QR_CU_SUM_BN, g->n, C, S, in, dout, NULL, save_mean, save_rstd, part, sums)) return;
    QR_CU_LAUNCH(ctx, bn_param_grads, qr_cu_blocks(C), C, sums, dgamma, dbeta);
    if (din)
        QR_CU_LAUNCH(ctx, bn_input_grad, qr_cu_blocks(total), total, C, S, M, dout, in, save_mean, save_rstd, gamma, sums,
                     din, acc);
}

/* ---- inference folding ---- */

__global__ void bn_fold(int C, float eps, const float *gamma, const float *beta, const float *run_mean,
                        const float *run_var, float *scale, float *shift) {
    QR_CU_FOR(c, C) {
        const double s = gamma[c] / sqrt((double)run_var[c] + eps);
        scale[c] = (float)s;
        shift[c] = (float)(beta[c] - run_mean[c] * s);
    }
}

void qr_nn_cuda_batchnorm_fold(qr_nn_context *ctx, const qr_nn_bn *g, float *scale, float *shift,
                               const float *gamma, const float *beta, const float *run_mean, const float *run_var) {
    if (!qr_cu_enter(ctx) || g->c <= 0) return;
    QR_CU_LAUNCH(ctx, bn_fold, qr_cu_blocks(g->c), g->c, g->eps, gamma, beta, run_mean, run_var, scale, shift);
}
