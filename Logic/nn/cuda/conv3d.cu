/*
 * conv3d.cu (CUDA) - 3D convolution on cuDNN, NCDHW, cubic kernel K, stride S, zero padding P
 * (cross-correlation, as PyTorch and ref/conv3d.c):
 *
 *   out[n][o][z][y][x] = sum_{c,a,b,e} in[n][c][zS + a - P][yS + b - P][xS + e - P] * w[o][c][a][b][e]
 *   then the epilogue (our kernel): out = relu?(scale[o] * out + shift[o] + residual)
 *   dw = sum over n, positions of dout * in          (cudnnConvolutionBackwardFilter, beta 0: =)
 *   db[o] = sum_{n, z, y, x} dout[n][o][z][y][x]     (our per-channel sums, fixed order)
 *   din = transposed convolution of dout with w     (cudnnConvolutionBackwardData, beta 0 or 1: = or +=)
 *
 * in (N, Cin, ID, IH, IW), w (Cout, Cin, K, K, K), out/dout (N, Cout, OD, OH, OW).
 *
 * One plan per shape (batch included): descriptors and the algorithm of each direction, chosen
 * on first use. Choice (see qr_cuda.h for the settings): cuDNN's heuristic ranking (or, with
 * QSMRIM_CUDA_CONV_ALGO=find, its timed ranking), first entry that succeeded, is deterministic,
 * fits the workspace limit and obeys the precision (FP32 math: no tensor-core algorithms; TF32:
 * tensor cores allowed). If cuDNN offers no deterministic algorithm for a shape the fastest
 * other one is used and a notice says so once per context. A timed search that fails (it
 * allocates its own memory) falls back to the heuristic ranking, with a notice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qr_cuda.h"

/* ---- plans ---- */

static void plan_destroy(qr_cu_conv_plan *p) {
    if (p->x) cudnnDestroyTensorDescriptor(p->x);
    if (p->y) cudnnDestroyTensorDescriptor(p->y);
    if (p->w) cudnnDestroyFilterDescriptor(p->w);
    if (p->cf) cudnnDestroyConvolutionDescriptor(p->cf);
    if (p->cd) cudnnDestroyConvolutionDescriptor(p->cd);
    if (p->cw) cudnnDestroyConvolutionDescriptor(p->cw);
    memset(p, 0, sizeof *p);
}

void qr_cu_conv_plans_free(qr_cu_state *st) {
    for (int i = 0; i < st->n_plans; i++) plan_destroy(&st->plans[i]);
    free(st->plans);
    st->plans = NULL;
    st->n_plans = st->cap_plans = 0;
}

/* "conv 64->128 k3 s2 p1, batch 256, 8x16x16" for messages */
static const char *describe(const qr_nn_conv *g, char *buf, size_t len) {
    snprintf(buf, len, "conv %d->%d k%d s%d p%d, batch %d, input %dx%dx%d", g->cin, g->cout, g->k, g->s, g->p, g->n,
             g->id, g->ih, g->iw);
    return buf;
}

static int make_plan(qr_nn_context *ctx, qr_cu_conv_plan *p, const qr_nn_conv *g) {
    qr_cu_state *st = qr_cu(ctx);
    char d[160];
    const int64_t xsz = (int64_t)g->n * g->cin * g->id * g->ih * g->iw, ysz = (int64_t)g->n * g->cout * g->od * g->oh * g->ow;
    if (xsz > INT32_MAX || ysz > INT32_MAX) {
        qr_cu_fail(ctx, "convolution", "%s: tensors over 2^31 elements (use a smaller batch)", describe(g, d, sizeof d));
        return 0;
    }
    memset(p, 0, sizeof *p);
    p->g = *g;
    int ok = qr_cu_dnn_ok(ctx, cudnnCreateTensorDescriptor(&p->x), "cudnnCreateTensorDescriptor") &&
             qr_cu_dnn_ok(ctx, cudnnCreateTensorDescriptor(&p->y), "cudnnCreateTensorDescriptor") &&
             qr_cu_dnn_ok(ctx, cudnnCreateFilterDescriptor(&p->w), "cudnnCreateFilterDescriptor") &&
             qr_cu_dnn_ok(ctx, cudnnCreateConvolutionDescriptor(&p->cf), "cudnnCreateConvolutionDescriptor") &&
             qr_cu_dnn_ok(ctx, cudnnCreateConvolutionDescriptor(&p->cd), "cudnnCreateConvolutionDescriptor") &&
             qr_cu_dnn_ok(ctx, cudnnCreateConvolutionDescriptor(&p->cw), "cudnnCreateConvolutionDescriptor");
    if (!ok) {
        plan_destroy(p);
        return 0;
    }
    const int xd[5] = {g->n, g->cin, g->id, g->ih, g->iw};
    const int xs[5] = {g->cin * g->id * g->ih * g->iw, g->id * g->ih * g->iw, g->ih * g->iw, g->iw, 1};
    const int yd[5] = {g->n, g->cout, g->od, g->oh, g->ow};
    const int ys[5] = {g->cout * g->od * g->oh * g->ow, g->od * g->oh * g->ow, g->oh * g->ow, g->ow, 1};
    const int wd[5] = {g->cout, g->cin, g->k, g->k, g->k};
    const int pad[3] = {g->p, g->p, g->p}, str[3] = {g->s, g->s, g->s}, dil[3] = {1, 1, 1};
    const cudnnMathType_t math = st->precision == QR_CU_TF32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
    ok = qr_cu_dnn_ok(ctx, cudnnSetTensorNdDescriptor(p->x, CUDNN_DATA_FLOAT, 5, xd, xs), describe(g, d, sizeof d)) &&
         qr_cu_dnn_ok(ctx, cudnnSetTensorNdDescriptor(p->y, CUDNN_DATA_FLOAT, 5, yd, ys), describe(g, d, sizeof d)) &&
         qr_cu_dnn_ok(ctx, cudnnSetFilterNdDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 5, wd),
                      describe(g, d, sizeof d));
    cudnnConvolutionDescriptor_t cds[3] = {p->cf, p->cd, p->cw};
    for (int i = 0; ok && i < 3; i++)
        ok = qr_cu_dnn_ok(ctx,
                          cudnnSetConvolutionNdDescriptor(cds[i], 3, pad, str, dil, CUDNN_CROSS_CORRELATION,
                                                          CUDNN_DATA_FLOAT),
                          describe(g, d, sizeof d)) &&
             qr_cu_dnn_ok(ctx, cudnnSetConvolutionMathType(cds[i], math), describe(g, d, sizeof d));
    int od[5] = {0};
    if (ok) ok = qr_cu_dnn_ok(ctx, cudnnGetConvolutionNdForwardOutputDim(p->cf, p->x, p->w, 5, od), describe(g, d, sizeof d));
    if (ok && memcmp(od, yd, sizeof od) != 0) {
        qr_cu_fail(ctx, describe(g, d, sizeof d), "cuDNN computes output %dx%dx%dx%dx%d, the engine expects %dx%dx%dx%dx%d",
                   od[0], od[1], od[2], od[3], od[4], yd[0], yd[1], yd[2], yd[3], yd[4]);
        ok = 0;
    }
    if (!ok) plan_destroy(p);
    return ok;
}

static qr_cu_conv_plan *plan_for(qr_nn_context *ctx, const qr_nn_conv *g) {
    qr_cu_state *st = qr_cu(ctx);
    for (int i = 0; i < st->n_plans; i++)
        if (!memcmp(&st->plans[i].g, g, sizeof *g)) return &st->plans[i];
    if (st->n_plans >= 512) { /* many batch sizes seen: start over rather than grow without bound */
        for (int i = 0; i < st->n_plans; i++) plan_destroy(&st->plans[i]);
        st->n_plans = 0;
    }
    if (st->n_plans == st->cap_plans) {
        int cap = st->cap_plans ? 2 * st->cap_plans : 32;
        qr_cu_conv_plan *np = (qr_cu_conv_plan *)realloc(st->plans, sizeof *np * (size_t)cap);
        if (!np) {
            qr_cu_fail(ctx, "convolution", "out of host memory for convolution plans");
            return NULL;
        }
        st->plans = np;
        st->cap_plans = cap;
    }
    qr_cu_conv_plan *p = &st->plans[st->n_plans];
    if (!make_plan(ctx, p, g)) return NULL;
    st->n_plans++;
    return p;
}

/* ---- algorithm choice ---- */

/* Result slots of a ranking: cuDNN may list tensor-op and FMA variants of one algorithm as
 * separate entries, so its own maximum count (not the number of algorithms) sizes the request. */
enum { QR_CU_MAX_RANKED = 64 };
static int ranked_slots(cudnnStatus_t (*max_count)(cudnnHandle_t, int *), cudnnHandle_t h, int algorithms) {
    int n = 0;
    if (max_count(h, &n) != CUDNN_STATUS_SUCCESS || n < algorithms) n = algorithms;
    return n < QR_CU_MAX_RANKED ? n : QR_CU_MAX_RANKED;
}

/* FP32: no tensor-op entries (a DEFAULT_MATH entry is fine: the descriptor stays at FMA math, see
 * set_math). TF32: tensor cores too. Never ..._ALLOW_CONVERSION, with which cuDNN may convert FP32
 * operands to FP16. */
static int math_allowed(const qr_cu_state *st, cudnnMathType_t m) {
    if (m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return 0;
    return st->precision == QR_CU_TF32 || m != CUDNN_TENSOR_OP_MATH;
}

/* The largest workspace a choice may take: the configured limit, and no more than the device can
 * still give (what is free plus the workspace already held, which a larger one replaces). */
static size_t workspace_room(const qr_cu_state *st) {
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        (void)cudaGetLastError();
        return st->ws_limit;
    }
    const size_t room = free_b + st->ws_size;
    return room < st->ws_limit ? room : st->ws_limit;
}

/* Index of the entry to use among n ranked results whose workspace fits `room` (-1: none); *nondet
 * = 1 if it is not deterministic. PERF is one of cuDNN's three perf structs (same fields); `bad`
 * holds the algorithms cuDNN already refused at run time for this plan. */
template <typename PERF>
static int choose_within(const qr_cu_state *st, const PERF *perf, int n, unsigned bad, size_t room, int *nondet) {
    *nondet = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            const int a = (int)perf[i].algo;
            if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > room || !math_allowed(st, perf[i].mathType) ||
                (a >= 0 && a < 32 && (bad >> a & 1u)))
                continue;
            if (pass == 0 && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
            *nondet = pass;
            return i;
        }
    return -1;
}

/* choose_within the room the device has now; *short_of (bytes of room) is set when that room, not
 * the workspace limit, decided the choice: a run with more free memory could choose otherwise. */
template <typename PERF>
static int choose(const qr_cu_state *st, const PERF *perf, int n, unsigned bad, int *nondet, size_t *short_of) {
    const size_t room = workspace_room(st);
    const int i = choose_within(st, perf, n, bad, room, nondet);
    int full_nondet;
    *short_of = room < st->ws_limit && choose_within(st, perf, n, bad, st->ws_limit, &full_nondet) != i ? room : 0;
    return i;
}

/* (heuristic mode only: with the timed search the choice may differ between runs anyway) */
static void note_short(qr_nn_context *ctx, const qr_nn_conv *g, const char *dir, size_t room) {
    qr_cu_state *st = qr_cu(ctx);
    if (st->warned_short || st->algo_mode != QR_CU_ALGO_HEURISTIC) return;
    st->warned_short = 1;
    char d[160];
    qr_log(QR_LOG_NOTICE,
           "GPU memory is short: the %s algorithm for %s was chosen to fit the %.1f MiB free, not the %.0f MiB "
           "workspace limit; a run with more free GPU memory may choose another and differ in the last bits (a "
           "QSMRIM_CUDA_WORKSPACE_MB at or below the memory free when algorithms are chosen, %llu here, makes the "
           "choice repeatable)",
           dir, describe(g, d, sizeof d), (double)room / 1048576.0, (double)st->ws_limit / 1048576.0,
           (unsigned long long)(room >> 20));
}

static void note_nondet(qr_nn_context *ctx, const qr_nn_conv *g, const char *dir) {
    qr_cu_state *st = qr_cu(ctx);
    if (st->warned_nondet) return;
    st->warned_nondet = 1;
    char d[160];
    qr_log(QR_LOG_NOTICE, "cuDNN has no deterministic %s algorithm for %s; results may differ in the last bits between runs",
           dir, describe(g, d, sizeof d));
}

/* The chosen entry of cuDNN's ranking for one direction of a plan (-1: none, failure recorded).
 * rank(find, cap, &n, perf) fills perf with the timed ranking (find = 1) or the heuristic one.
 * The timed search allocates its own buffers and workspaces, so it can run out of GPU memory
 * where the layer itself fits (it runs at a shape's first use, with the model's memory already
 * taken): as a whole (then, or when none of its results is usable, the heuristic ranking is used,
 * with a notice once per context), or for some candidates, whose entries then carry a failed
 * status. If that leaves only non-deterministic candidates, a deterministic one of the heuristic
 * ranking is preferred. */
template <typename PERF, typename RANK>
static int choose_algo(qr_nn_context *ctx, const qr_nn_conv *g, const char *dir, PERF *perf, int cap, unsigned bad,
                       RANK rank) {
    qr_cu_state *st = qr_cu(ctx);
    char d[160], what[96];
    snprintf(what, sizeof what, "choosing a %s convolution algorithm", dir);
    int n = 0, nondet = 0, i = -1;
    size_t short_of = 0;
    if (st->algo_mode == QR_CU_ALGO_FIND) {
        const cudnnStatus_t e = rank(1, cap, &n, perf);
        /* what the search's failed allocations left in the runtime's and cuDNN's last error is
         * not the next call's failure (every earlier launch has been checked already) */
        (void)cudaGetLastError();
        char drop[256];
        cudnnGetLastErrorString(drop, sizeof drop);
        if (e == CUDNN_STATUS_SUCCESS) i = choose(st, perf, n, bad, &nondet, &short_of);
        if (i < 0 && !st->warned_find) {
            st->warned_find = 1;
            qr_log(QR_LOG_NOTICE, "cuDNN's timed %s algorithm search for %s %s%s%s; using its heuristic choice", dir,
                   describe(g, d, sizeof d), e == CUDNN_STATUS_SUCCESS ? "found no usable algorithm" : "failed (",
                   e == CUDNN_STATUS_SUCCESS ? "" : cudnnGetErrorString(e), e == CUDNN_STATUS_SUCCESS ? "" : ")");
        }
    }
    if (i < 0 || nondet) {
        PERF h[QR_CU_MAX_RANKED];
        int hn = 0, hnondet = 0;
        size_t hshort = 0;
        const cudnnStatus_t e = rank(0, cap, &hn, h);
        if (i < 0 && !qr_cu_dnn_ok(ctx, e, what)) return -1;
        const int hi = e == CUDNN_STATUS_SUCCESS ? choose(st, h, hn, bad, &hnondet, &hshort) : -1;
        if (hi >= 0 && (i < 0 || !hnondet)) {
            perf[0] = h[hi];
            i = 0;
            nondet = hnondet;
            short_of = hshort;
        }
    }
    if (i < 0) {
        qr_cu_fail(ctx, what, "%s: none fits (workspace limit %.0f MiB)", describe(g, d, sizeof d),
                   (double)st->ws_limit / 1048576.0);
        return -1;
    }
    if (nondet) note_nondet(ctx, g, dir);
    if (short_of) note_short(ctx, g, dir, short_of);
    return i;
}

/* In TF32 mode the chosen algorithm's own math type is set on its descriptor (as PyTorch does);
 * in FP32 mode the descriptor stays at FMA math. */
static int set_math(qr_nn_context *ctx, cudnnConvolutionDescriptor_t cd, cudnnMathType_t m) {
    if (qr_cu(ctx)->precision != QR_CU_TF32) return 1;
    return qr_cu_dnn_ok(ctx, cudnnSetConvolutionMathType(cd, m), "cudnnSetConvolutionMathType");
}

static int ensure_fwd(qr_nn_context *ctx, qr_cu_conv_plan *p) {
    if (p->have_f) return 1;
    qr_cu_state *st = qr_cu(ctx);
    cudnnConvolutionFwdAlgoPerf_t perf[QR_CU_MAX_RANKED];
    char d[160];
    const int cap = ranked_slots(cudnnGetConvolutionForwardAlgorithmMaxCount, st->dnn, CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
    const int i = choose_algo(ctx, &p->g, "forward", perf, cap, p->bad_f,
                              [&](int find, int cap, int *n, cudnnConvolutionFwdAlgoPerf_t *r) {
                                  return find ? cudnnFindConvolutionForwardAlgorithm(st->dnn, p->x, p->w, p->cf,
                                                                                      p->y, cap, n, r)
                                              : cudnnGetConvolutionForwardAlgorithm_v7(st->dnn, p->x, p->w, p->cf,
                                                                                        p->y, cap, n, r);
                              });
    if (i < 0 || !set_math(ctx, p->cf, perf[i].mathType)) return 0;
    p->af = perf[i].algo;
    if (!qr_cu_dnn_ok(ctx, cudnnGetConvolutionForwardWorkspaceSize(st->dnn, p->x, p->w, p->cf, p->y, p->af, &p->wsf),
                      describe(&p->g, d, sizeof d)))
        return 0;
    p->have_f = 1;
    return 1;
}

static int ensure_bwd_data(qr_nn_context *ctx, qr_cu_conv_plan *p) {
    if (p->have_d) return 1;
    qr_cu_state *st = qr_cu(ctx);
    cudnnConvolutionBwdDataAlgoPerf_t perf[QR_CU_MAX_RANKED];
    char d[160];
    const int cap =
        ranked_slots(cudnnGetConvolutionBackwardDataAlgorithmMaxCount, st->dnn, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
    const int i =
        choose_algo(ctx, &p->g, "backward-data", perf, cap, p->bad_d,
                    [&](int find, int cap, int *n, cudnnConvolutionBwdDataAlgoPerf_t *r) {
                        return find ? cudnnFindConvolutionBackwardDataAlgorithm(st->dnn, p->w, p->y, p->cd, p->x, cap,
                                                                                n, r)
                                    : cudnnGetConvolutionBackwardDataAlgorithm_v7(st->dnn, p->w, p->y, p->cd, p->x, cap,
                                                                                  n, r);
                    });
    if (i < 0 || !set_math(ctx, p->cd, perf[i].mathType)) return 0;
    p->ad = perf[i].algo;
    if (!qr_cu_dnn_ok(ctx,
                      cudnnGetConvolutionBackwardDataWorkspaceSize(st->dnn, p->w, p->y, p->cd, p->x, p->ad, &p->wsd),
                      describe(&p->g, d, sizeof d)))
        return 0;
    p->have_d = 1;
    return 1;
}

static int ensure_bwd_filter(qr_nn_context *ctx, qr_cu_conv_plan *p) {
    if (p->have_w) return 1;
    qr_cu_state *st = qr_cu(ctx);
    cudnnConvolutionBwdFilterAlgoPerf_t perf[QR_CU_MAX_RANKED];
    char d[160];
    const int cap = ranked_slots(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount, st->dnn,
                                 CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
    const int i =
        choose_algo(ctx, &p->g, "backward-filter", perf, cap, p->bad_w,
                    [&](int find, int cap, int *n, cudnnConvolutionBwdFilterAlgoPerf_t *r) {
                        return find ? cudnnFindConvolutionBackwardFilterAlgorithm(st->dnn, p->x, p->y, p->cw, p->w,
                                                                                  cap, n, r)
                                    : cudnnGetConvolutionBackwardFilterAlgorithm_v7(st->dnn, p->x, p->y, p->cw, p->w,
                                                                                    cap, n, r);
                    });
    if (i < 0 || !set_math(ctx, p->cw, perf[i].mathType)) return 0;
    p->aw = perf[i].algo;
    if (!qr_cu_dnn_ok(ctx,
                      cudnnGetConvolutionBackwardFilterWorkspaceSize(st->dnn, p->x, p->y, p->cw, p->w, p->aw, &p->wsw),
                      describe(&p->g, d, sizeof d)))
        return 0;
    p->have_w = 1;
    return 1;
}

/* One convolution call on the plan's chosen algorithm. cuDNN can refuse at run time an algorithm
 * its ranking listed as usable (a NOT_SUPPORTED status, synchronous): that algorithm is then
 * marked for the plan, the choice is made again without it (one notice per context) and the call
 * repeated, until it runs or no algorithm is left (then the choice's error). Other failures are
 * reported as they are. ensure() chooses, algo() is the chosen algorithm, run(ws) the call. */
template <typename ENSURE, typename ALGO, typename RUN>
static int run_conv(qr_nn_context *ctx, const qr_nn_conv *g, const char *dir, int *have, const size_t *ws_bytes,
                    unsigned *bad, ENSURE ensure, ALGO algo, RUN run) {
    char d[160];
    for (;;) {
        if (!ensure()) return 0;
        void *ws = qr_cu_workspace(ctx, *ws_bytes);
        if (*ws_bytes && !ws) return 0;
        const cudnnStatus_t e = run(ws);
        const int a = (int)algo();
        if (e == CUDNN_STATUS_SUCCESS) return 1;
        if (CUDNN_STATUS_CATEGORY(e) != CUDNN_STATUS_NOT_SUPPORTED || a < 0 || a >= 32 || (*bad >> a & 1u))
            return qr_cu_dnn_ok(ctx, e, describe(g, d, sizeof d));
        char why[256];
        cudnnGetLastErrorString(why, sizeof why);
        *bad |= 1u << a;
        *have = 0;
        qr_cu_state *st = qr_cu(ctx);
        if (!st->warned_refused) {
            st->warned_refused = 1;
            qr_log(QR_LOG_NOTICE, "cuDNN refused the %s algorithm %d it had ranked for %s (%s); choosing another", dir, a,
                   describe(g, d, sizeof d), cudnnGetErrorString(e));
        }
    }
}

/* ---- forward ---- */

/* out[i] = relu?(scale[c] * out[i] + shift[c] + residual[i]), c = channel of i (NCDHW) */
__global__ void conv_epilogue(int64_t total, int C, int64_t P, float *out, const float *scale, const float *shift,
                              const float *residual, int relu) {
    QR_CU_FOR(i, total) {
        const int c = qr_cu_channel(i, P, C);
        float v = out[i];
        if (scale) v *= scale[c];
        if (shift) v += shift[c];
        if (residual) v += residual[i];
        if (relu && v < 0) v = 0;
        out[i] = v;
    }
}

void qr_nn_cuda_conv3d_forward(qr_nn_context *ctx, const qr_nn_conv *g, float *out, const float *in, const float *w,
                               const qr_nn_epilogue *epi) {
    if (!qr_cu_enter(ctx) || g->n <= 0) return;
    qr_cu_conv_plan *p = plan_for(ctx, g);
    if (!p) return;
    const float one = 1.0f, zero = 0.0f;
    if (!run_conv(
            ctx, g, "forward", &p->have_f, &p->wsf, &p->bad_f, [&] { return ensure_fwd(ctx, p); }, [&] { return p->af; },
            [&](void *ws) {
                return cudnnConvolutionForward(qr_cu(ctx)->dnn, &one, p->x, in, p->w, w, p->cf, p->af, ws, p->wsf, &zero,
                                               p->y, out);
            }))
        return;
    if (epi && (epi->scale || epi->shift || epi->residual || epi->relu)) {
        const int64_t P = (int64_t)g->od * g->oh * g->ow, total = (int64_t)g->n * g->cout * P;
        QR_CU_LAUNCH(ctx, conv_epilogue, qr_cu_blocks(total), total, g->cout, P, out, epi->scale, epi->shift,
                     epi->residual, epi->relu);
    }
}

/* ---- backward ---- */

__global__ void conv_bias_grad(int C, const double *sums, float *db) {
    QR_CU_FOR(c, C) db[c] = (float)sums[2 * c];
}

void qr_nn_cuda_conv3d_backward(qr_nn_context *ctx, const qr_nn_conv *g, float *din, int acc, float *dw, float *db,
                                const float *dout, const float *in, const float *w) {
    if (!qr_cu_enter(ctx) || g->n <= 0) return;
    qr_cu_state *st = qr_cu(ctx);
    qr_cu_conv_plan *p = plan_for(ctx, g);
    if (!p || !ensure_bwd_filter(ctx, p) || (din && !ensure_bwd_data(ctx, p))) return;
    const float one = 1.0f, zero = 0.0f;
    /* weight gradient (=) */
    if (!run_conv(
            ctx, g, "backward-filter", &p->have_w, &p->wsw, &p->bad_w, [&] { return ensure_bwd_filter(ctx, p); },
            [&] { return p->aw; },
            [&](void *ws) {
                return cudnnConvolutionBackwardFilter(st->dnn, &one, p->x, in, p->y, dout, p->cw, p->aw, ws, p->wsw,
                                                      &zero, p->w, dw);
            }))
        return;
    /* bias gradient (=) */
    if (db) {
        const int64_t P = (int64_t)g->od * g->oh * g->ow;
        const int chunks = qr_cu_sum_chunks((int64_t)g->n * P);
        double *scratch = qr_cu_reduce_scratch(ctx, (size_t)g->cout * (2 * (size_t)chunks + 2));
        if (!scratch) return;
        double *part = scratch, *sums = part + (size_t)2 * g->cout * chunks;
        if (!qr_cu_channel_sums(ctx, QR_CU_SUM_X, g->n, g->cout, P, dout, NULL, NULL, NULL, NULL, part, sums)) return;
        QR_CU_LAUNCH(ctx, conv_bias_grad, qr_cu_blocks(g->cout), g->cout, sums, db);
    }
    /* input gradient (= or +=) */
    if (din)
        run_conv(
            ctx, g, "backward-data", &p->have_d, &p->wsd, &p->bad_d, [&] { return ensure_bwd_data(ctx, p); },
            [&] { return p->ad; },
            [&](void *ws) {
                return cudnnConvolutionBackwardData(st->dnn, &one, p->w, w, p->y, dout, p->cd, p->ad, ws, p->wsd,
                                                    acc ? &one : &zero, p->x, din);
            });
}
