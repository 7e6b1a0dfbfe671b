/*
 * bench_nn_layers.c - per-layer timing of QSMRim-Net's convolutions on the CPU backend, and (when
 * the build found oneDNN) of the same convolutions in oneDNN 2.6 in its preferred blocked layout,
 * side by side: the measurement behind the choice of our own kernels.
 *
 *   bench_nn_layers [--batch 64] [--threads T] [--reps 3] [--width 64] [--cpu-time]
 *
 * For every distinct convolution shape: forward, backward-data and backward-weights time (best
 * of reps, milliseconds for the whole batch) and GFLOP/s on the multiply-adds that do not fall on
 * zero padding ("useful"). --cpu-time reports process CPU time instead of wall time (robust on a
 * loaded machine with one thread).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "nn/cpu/cpu.h"
#include "nn/nn_internal.h"

#ifdef QSMRIM_HAVE_DNNL
#include <dnnl.h>
#endif

static int g_cpu_time = 0;

static double now(void) {
    struct timespec t;
    clock_gettime(g_cpu_time ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

typedef struct shape {
    qr_nn_conv g;
    int count; /* occurrences in the network */
    double useful, total;
} shape;

static void macs(const qr_nn_conv *g, double *total, double *useful) {
    int cnt[3];
    const int in[3] = {g->id, g->ih, g->iw}, out[3] = {g->od, g->oh, g->ow};
    for (int ax = 0; ax < 3; ax++) {
        cnt[ax] = 0;
        for (int o = 0; o < out[ax]; o++)
            for (int k = 0; k < g->k; k++) {
                int i = o * g->s + k - g->p;
                cnt[ax] += i >= 0 && i < in[ax];
            }
    }
    *total = (double)g->n * g->od * g->oh * g->ow * g->k * g->k * g->k * g->cin * g->cout;
    *useful = (double)g->n * cnt[0] * cnt[1] * cnt[2] * g->cin * g->cout;
}

#ifdef QSMRIM_HAVE_DNNL
#define CK(x)                                                                                                   \
    do {                                                                                                        \
        if ((x) != dnnl_success) {                                                                              \
            fprintf(stderr, "oneDNN call failed: %s\n", #x);                                                    \
            return;                                                                                             \
        }                                                                                                       \
    } while (0)
static dnnl_engine_t eng;
static dnnl_stream_t stm;
static dnnl_memory_t mk(const dnnl_memory_desc_t *md) {
    dnnl_memory_t m;
    dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE);
    void *p;
    dnnl_memory_get_data_handle(m, &p);
    memset(p, 0, dnnl_memory_desc_get_size(md));
    return m;
}
static double run_prim(dnnl_primitive_t p, int nargs, dnnl_exec_arg_t *a, int reps) {
    dnnl_primitive_execute(p, stm, nargs, a);
    dnnl_stream_wait(stm);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = now();
        dnnl_primitive_execute(p, stm, nargs, a);
        dnnl_stream_wait(stm);
        t = now() - t;
        if (t < best) best = t;
    }
    return best * 1e3;
}
static void dnnl_conv(const qr_nn_conv *g, int reps, double *tf, double *tbd, double *tbw, const char **impl) {
    *tf = *tbd = *tbw = NAN;
    dnnl_dims_t sd = {g->n, g->cin, g->id, g->ih, g->iw}, dd = {g->n, g->cout, g->od, g->oh, g->ow},
                wd = {g->cout, g->cin, g->k, g->k, g->k}, st = {g->s, g->s, g->s}, pd = {g->p, g->p, g->p};
    dnnl_memory_desc_t smd, dmd, wmd;
    CK(dnnl_memory_desc_init_by_tag(&smd, 5, sd, dnnl_f32, g->cin % 16 ? dnnl_format_tag_any : dnnl_nCdhw16c));
    CK(dnnl_memory_desc_init_by_tag(&dmd, 5, dd, dnnl_f32, dnnl_nCdhw16c));
    CK(dnnl_memory_desc_init_by_tag(&wmd, 5, wd, dnnl_f32, dnnl_format_tag_any));
    dnnl_convolution_desc_t cd;
    CK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct, &smd, &wmd, NULL, &dmd,
                                          st, pd, pd));
    dnnl_primitive_desc_t pf;
    CK(dnnl_primitive_desc_create(&pf, &cd, NULL, eng, NULL));
    dnnl_primitive_t prf;
    CK(dnnl_primitive_create(&prf, pf));
    dnnl_memory_t m1 = mk(dnnl_primitive_desc_query_md(pf, dnnl_query_src_md, 0)),
                  m2 = mk(dnnl_primitive_desc_query_md(pf, dnnl_query_weights_md, 0)),
                  m3 = mk(dnnl_primitive_desc_query_md(pf, dnnl_query_dst_md, 0));
    dnnl_exec_arg_t af[3] = {{DNNL_ARG_SRC, m1}, {DNNL_ARG_WEIGHTS, m2}, {DNNL_ARG_DST, m3}};
    *tf = run_prim(prf, 3, af, reps);
    if (g->cin > 4) {
        dnnl_convolution_desc_t bd;
        CK(dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &smd, &wmd, &dmd, st, pd, pd));
        dnnl_primitive_desc_t pb;
        CK(dnnl_primitive_desc_create(&pb, &bd, NULL, eng, pf));
        dnnl_primitive_t prb;
        CK(dnnl_primitive_create(&prb, pb));
        dnnl_memory_t n1 = mk(dnnl_primitive_desc_query_md(pb, dnnl_query_diff_src_md, 0)),
                      n2 = mk(dnnl_primitive_desc_query_md(pb, dnnl_query_weights_md, 0)),
                      n3 = mk(dnnl_primitive_desc_query_md(pb, dnnl_query_diff_dst_md, 0));
        dnnl_exec_arg_t ab[3] = {{DNNL_ARG_DIFF_SRC, n1}, {DNNL_ARG_WEIGHTS, n2}, {DNNL_ARG_DIFF_DST, n3}};
        *tbd = run_prim(prb, 3, ab, reps);
        dnnl_primitive_destroy(prb);
        dnnl_primitive_desc_destroy(pb);
        dnnl_memory_destroy(n1);
        dnnl_memory_destroy(n2);
        dnnl_memory_destroy(n3);
    }
    dnnl_convolution_desc_t wdsc;
    CK(dnnl_convolution_backward_weights_desc_init(&wdsc, dnnl_convolution_direct, &smd, &wmd, NULL, &dmd, st, pd, pd));
    dnnl_primitive_desc_t pw;
    CK(dnnl_primitive_desc_create(&pw, &wdsc, NULL, eng, pf));
    dnnl_primitive_desc_query(pw, dnnl_query_impl_info_str, 0, impl);
    dnnl_primitive_t prw;
    CK(dnnl_primitive_create(&prw, pw));
    dnnl_memory_t k1 = mk(dnnl_primitive_desc_query_md(pw, dnnl_query_src_md, 0)),
                  k2 = mk(dnnl_primitive_desc_query_md(pw, dnnl_query_diff_weights_md, 0)),
                  k3 = mk(dnnl_primitive_desc_query_md(pw, dnnl_query_diff_dst_md, 0));
    dnnl_exec_arg_t aw[3] = {{DNNL_ARG_SRC, k1}, {DNNL_ARG_DIFF_WEIGHTS, k2}, {DNNL_ARG_DIFF_DST, k3}};
    /* the reference implementation (ref:any) takes minutes on the deep layers: time it once */
    *tbw = run_prim(prw, 3, aw, strncmp(*impl, "ref", 3) ? reps : 0);
    if (!strncmp(*impl, "ref", 3)) {
        double t = now();
        dnnl_primitive_execute(prw, stm, 3, aw);
        dnnl_stream_wait(stm);
        *tbw = (now() - t) * 1e3;
    }
}
#endif

int main(int argc, char **argv) {
    int batch = 64, threads = 2, reps = 3, width = 64, with_dnnl = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--width") && i + 1 < argc) width = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cpu-time")) g_cpu_time = 1;
        else if (!strcmp(argv[i], "--no-dnnl")) with_dnnl = 0;
        else {
            fprintf(stderr, "usage: bench_nn_layers [--batch 64] [--threads T] [--reps 3] [--width 64] [--cpu-time] [--no-dnnl]\n");
            return 2;
        }
    }
    qr_nn_context_options co = qr_nn_context_options_default();
    co.device.kind = QR_NN_DEVICE_CPU;
    co.threads = threads;
    qr_nn_context *ctx;
    if (qr_nn_context_create(&co, &ctx) != QR_OK) return 1;
    qr_nn_config cfg = qr_nn_config_default(QR_NN_ARCH_QSMRIMNET);
    cfg.width = width;
    qr_nn_spec s;
    if (qr_nn_spec_build(&cfg, &s) != QR_OK) return 1;
    shape sh[32];
    int ns = 0;
    const qr_nn_conv_layer *all[32];
    int nall = 0;
    all[nall++] = &s.enc[0].stem;
    for (int b = 0; b < 8; b++) {
        all[nall++] = &s.enc[0].blocks[b].c1;
        all[nall++] = &s.enc[0].blocks[b].c2;
        if (s.enc[0].blocks[b].has_ds) all[nall++] = &s.enc[0].blocks[b].ds;
    }
    for (int i = 0; i < nall; i++) {
        qr_nn_conv g = all[i]->g;
        g.n = batch;
        int found = 0;
        for (int j = 0; j < ns; j++)
            if (!memcmp(&sh[j].g, &g, sizeof g)) {
                sh[j].count++;
                found = 1;
            }
        if (!found) {
            sh[ns].g = g;
            sh[ns].count = 1;
            macs(&g, &sh[ns].total, &sh[ns].useful);
            ns++;
        }
    }
#ifdef QSMRIM_HAVE_DNNL
    if (with_dnnl) {
        dnnl_engine_create(&eng, dnnl_cpu, 0);
        dnnl_stream_create(&stm, eng, dnnl_stream_default_flags);
    }
#else
    with_dnnl = 0;
#endif
    printf("%s, batch %d, %s time, best of %d\n", qr_nn_context_describe(ctx), batch, g_cpu_time ? "CPU" : "wall", reps);
    printf("%-34s %3s | %8s %8s %8s %6s | %8s %8s %8s %6s\n", "conv (cin>cout, in, k/s/p)", "x", "fwd ms", "bwd_d", "bwd_w",
           "GF/s", "dnnl fwd", "bwd_d", "bwd_w", "GF/s");
    double sum[6] = {0};
    qr_rng r;
    qr_rng_seed(&r, 1, 0);
    for (int j = 0; j < ns; j++) {
        const qr_nn_conv *g = &sh[j].g;
        int64_t ni = (int64_t)g->n * g->cin * g->id * g->ih * g->iw, no = (int64_t)g->n * g->cout * g->od * g->oh * g->ow;
        int64_t nw = (int64_t)g->cout * g->cin * g->k * g->k * g->k;
        float *in = ctx->be->alloc(ctx, 4 * (size_t)ni), *out = ctx->be->alloc(ctx, 4 * (size_t)no);
        float *w = ctx->be->alloc(ctx, 4 * (size_t)nw), *dw = ctx->be->alloc(ctx, 4 * (size_t)nw);
        float *din = ctx->be->alloc(ctx, 4 * (size_t)ni);
        for (int64_t i = 0; i < ni; i++) in[i] = (float)qr_rng_normal(&r);
        for (int64_t i = 0; i < nw; i++) w[i] = (float)qr_rng_normal(&r) * 0.05f;
        double t[3] = {1e30, 1e30, 1e30};
        for (int k = 0; k <= reps; k++) {
            double t0 = now();
            ctx->be->conv3d_forward(ctx, g, out, in, w, NULL);
            double t1 = now();
            ctx->be->conv3d_backward(ctx, g, NULL, 0, dw, NULL, out, in, w);
            double t2 = now();
            if (g->cin > 4) ctx->be->conv3d_backward(ctx, g, din, 0, dw, NULL, out, in, w);
            double t3 = now();
            if (k == 0) continue; /* warm-up */
            if (t1 - t0 < t[0]) t[0] = t1 - t0;
            if (t2 - t1 < t[2]) t[2] = t2 - t1;
            if (g->cin > 4 && (t3 - t2) - (t2 - t1) < t[1]) t[1] = (t3 - t2) - (t2 - t1);
        }
        if (g->cin <= 4) t[1] = 0;
        double df = NAN, dbd = NAN, dbw = NAN;
        const char *impl = "-";
#ifdef QSMRIM_HAVE_DNNL
        if (with_dnnl) dnnl_conv(g, reps, &df, &dbd, &dbw, &impl);
#endif
        char name[64];
        snprintf(name, sizeof name, "%d>%d %dx%dx%d %d/%d/%d", g->cin, g->cout, g->id, g->ih, g->iw, g->k, g->s, g->p);
        double ours = t[0] + t[1] + t[2];
        printf("%-34s %3d | %8.2f %8.2f %8.2f %6.1f | %8.2f %8.2f %8.2f %6.1f%s%s\n", name, sh[j].count, t[0] * 1e3,
               t[1] * 1e3, t[2] * 1e3, (g->cin > 4 ? 6 : 4) * sh[j].useful / ours / 1e9, df, dbd, dbw,
               (g->cin > 4 ? 6 : 4) * sh[j].useful / ((df + (g->cin > 4 ? dbd : 0) + dbw) * 1e-3) / 1e9,
               with_dnnl ? "  bwd_w impl " : "", with_dnnl ? impl : "");
        sum[0] += sh[j].count * t[0] * 1e3;
        sum[1] += sh[j].count * t[1] * 1e3;
        sum[2] += sh[j].count * t[2] * 1e3;
        sum[3] += sh[j].count * df;
        sum[4] += sh[j].count * (g->cin > 4 ? dbd : 0);
        sum[5] += sh[j].count * dbw;
        ctx->be->free(ctx, in);
        ctx->be->free(ctx, out);
        ctx->be->free(ctx, w);
        ctx->be->free(ctx, dw);
        ctx->be->free(ctx, din);
    }
    printf("whole network per patch: ours fwd %.3f ms, fwd+bwd %.3f ms", sum[0] / batch, (sum[0] + sum[1] + sum[2]) / batch);
    if (with_dnnl) printf(" | oneDNN fwd %.3f ms, fwd+bwd %.3f ms", sum[3] / batch, (sum[3] + sum[4] + sum[5]) / batch);
    printf("\n");
    qr_nn_spec_free(&s);
    qr_nn_context_free(ctx);
    return 0;
}
