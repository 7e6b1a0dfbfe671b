/*
 * gemm.c (CPU) - the indirect GEMM micro-kernel and a plain threaded GEMM on top of it.
 *
 * A register tile of MR x (16 NV) outputs (MR <= 6 rows, NV <= 4 AVX-512 vectors = 24
 * accumulators) sums ng pairs (A_g, B_g), each a rank-kc update:
 *     acc[i][j] += A_g[i*rs + k*cs] * B_g[k*ldb + j]          k < kc
 * per k: NV vector loads of B, MR broadcasts of A, MR*NV fused multiply-adds. The pairs are
 * the convolution taps (forward: one per valid kernel offset; backward-data: one per output
 * position reaching the input; backward-weights: one per output position using the tap), so
 * one kernel serves every convolution pass and the linear layers. The last vector of a row may
 * be partial (masked loads and stores). Without AVX-512 a plain C version is compiled.
 */
#include <stdlib.h>
#include <string.h>

#ifdef QSMRIM_HAVE_OPENMP
#include <omp.h>
#endif

#include "cpu.h"

#if defined(__AVX512F__)
#include <immintrin.h>

static inline __attribute__((always_inline)) void tile(const int MR, const int NV, int ng, const int64_t *aoff,
                                                       const int64_t *boff, int kc, const float *a, int64_t rs,
                                                       int64_t cs, const float *b, int64_t ldb, float *c, int64_t ldc,
                                                       __mmask16 last, const qr_cpu_epi *epi) {
    __m512 acc[QR_CPU_MR][4];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();
    for (int g = 0; g < ng; g++) {
        const float *A = a + aoff[g], *B = b + boff[g];
        for (int k = 0; k < kc; k++) {
            __m512 bv[4];
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                bv[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(last, B + 16 * v) : _mm512_loadu_ps(B + 16 * v);
#pragma GCC unroll 6
            for (int i = 0; i < MR; i++) {
                __m512 av = _mm512_set1_ps(A[i * rs]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
            }
            A += cs;
            B += ldb;
        }
    }
    /* epilogue: (+ previous C if accumulating), then scale, shift, residual, ReLU */
    __m512 sc[4], sh[4];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        __mmask16 m = v == NV - 1 ? last : 0xFFFF;
        sc[v] = epi && epi->scale ? _mm512_maskz_loadu_ps(m, epi->scale + 16 * v) : _mm512_set1_ps(1.0f);
        sh[v] = epi && epi->shift ? _mm512_maskz_loadu_ps(m, epi->shift + 16 * v) : _mm512_setzero_ps();
    }
    const int has_epi = epi && (epi->scale || epi->shift || epi->res || epi->relu);
    const int accum = epi && epi->accumulate;
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            __mmask16 m = v == NV - 1 ? last : 0xFFFF;
            __m512 x = acc[i][v];
            float *dst = c + i * ldc + 16 * v;
            if (accum) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, dst));
            if (has_epi) {
                x = _mm512_fmadd_ps(x, sc[v], sh[v]);
                if (epi->res) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, epi->res + i * epi->ldr + 16 * v));
                if (epi->relu) x = _mm512_max_ps(_mm512_setzero_ps(), x); /* a NaN (2nd operand) is kept */
            }
            _mm512_mask_storeu_ps(dst, m, x);
        }
}

#define TILE_CASE(MR)                                                                                            \
    case MR:                                                                                                     \
        switch (nv) {                                                                                            \
        case 1: tile(MR, 1, ng, aoff, boff, kc, a, rs, cs, b, ldb, c, ldc, last, epi); break;                    \
        case 2: tile(MR, 2, ng, aoff, boff, kc, a, rs, cs, b, ldb, c, ldc, last, epi); break;                    \
        case 3: tile(MR, 3, ng, aoff, boff, kc, a, rs, cs, b, ldb, c, ldc, last, epi); break;                    \
        default: tile(MR, 4, ng, aoff, boff, kc, a, rs, cs, b, ldb, c, ldc, last, epi); break;                   \
        }                                                                                                        \
        break;

void qr_cpu_gemm_tile(int mr, int nr, int ng, const int64_t *aoff, const int64_t *boff, int kc, const float *a,
                      int64_t rs, int64_t cs, const float *b, int64_t ldb, float *c, int64_t ldc,
                      const qr_cpu_epi *epi) {
    const int nv = (nr + 15) / 16, rem = nr - 16 * (nv - 1);
    const __mmask16 last = (__mmask16)(rem == 16 ? 0xFFFF : (1u << rem) - 1u);
    switch (mr) {
        TILE_CASE(1)
        TILE_CASE(2)
        TILE_CASE(3)
        TILE_CASE(4)
        TILE_CASE(5)
    default:
        TILE_CASE(6)
    }
}

#else /* portable C */

void qr_cpu_gemm_tile(int mr, int nr, int ng, const int64_t *aoff, const int64_t *boff, int kc, const float *a,
                      int64_t rs, int64_t cs, const float *b, int64_t ldb, float *c, int64_t ldc,
                      const qr_cpu_epi *epi) {
    float acc[QR_CPU_MR][QR_CPU_NR];
    memset(acc, 0, sizeof acc);
    for (int g = 0; g < ng; g++) {
        const float *A = a + aoff[g], *B = b + boff[g];
        for (int k = 0; k < kc; k++) {
            for (int i = 0; i < mr; i++) {
                float av = A[i * rs];
                for (int j = 0; j < nr; j++) acc[i][j] += av * B[j];
            }
            A += cs;
            B += ldb;
        }
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            float x = acc[i][j];
            if (epi) {
                if (epi->accumulate) x += c[i * ldc + j];
                if (epi->scale) x *= epi->scale[j];
                if (epi->shift) x += epi->shift[j];
                if (epi->res) x += epi->res[i * epi->ldr + j];
                if (epi->relu && x < 0) x = 0;
            }
            c[i * ldc + j] = x;
        }
}

#endif

void qr_cpu_gemm(qr_nn_context *ctx, int64_t m, int64_t n, int64_t k, const float *a, int64_t rs, int64_t cs,
                 const float *b, int64_t ldb, int bpack, float *c, int64_t ldc, int cpack, const float *shift,
                 int accumulate) {
    const int64_t mt = (m + QR_CPU_MR - 1) / QR_CPU_MR, nt = (n + QR_CPU_NR - 1) / QR_CPU_NR, tasks = mt * nt;
    const int64_t zero = 0;
    /* column panels outermost so that a panel of B stays in cache across the row tiles */
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 4) if (tasks > 1 && m * n * k > 32768)
        for (int64_t t = 0; t < tasks; t++) {
            int64_t jb = t / mt, ib = t % mt;
            int64_t i0 = ib * QR_CPU_MR, j0 = jb * QR_CPU_NR;
            int mr = (int)(m - i0 < QR_CPU_MR ? m - i0 : QR_CPU_MR), nr = qr_cpu_panel_w(n, j0);
            const float *B = bpack ? b + j0 * k : b + j0;
            int64_t lb = bpack ? nr : ldb;
            float *C = cpack ? c + j0 * m + i0 * nr : c + i0 * ldc + j0;
            int64_t lc = cpack ? nr : ldc;
            qr_cpu_epi e = {NULL, shift ? shift + j0 : NULL, NULL, 0, 0, accumulate};
            qr_cpu_gemm_tile(mr, nr, k > 0 ? 1 : 0, &zero, &zero, (int)k, a + i0 * rs, rs, cs, B, lb, C, lc, &e);
        }
}

void qr_cpu_pack(qr_nn_context *ctx, int64_t rows, int64_t cols, float *dst, const float *src) {
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (rows * cols > 65536)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j0 = 0; j0 < cols; j0 += QR_CPU_NR) {
            const int w = qr_cpu_panel_w(cols, j0);
            memcpy(dst + j0 * rows + r * w, src + r * cols + j0, sizeof(float) * (size_t)w);
        }
}

void qr_cpu_unpack(qr_nn_context *ctx, int64_t rows, int64_t cols, float *dst, const float *src) {
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (rows * cols > 65536)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j0 = 0; j0 < cols; j0 += QR_CPU_NR) {
            const int w = qr_cpu_panel_w(cols, j0);
            memcpy(dst + r * cols + j0, src + j0 * rows + r * w, sizeof(float) * (size_t)w);
        }
}

/* ---- peak FLOP rate of this machine (for reporting the share of peak) ---- */

#include <time.h>

#if defined(__AVX512F__)
static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
#endif

double qr_nn_cpu_peak_gflops(int threads, double seconds) {
#if defined(__AVX512F__)
    double best = 0;
    const long iters = 1 << 22;
    for (double t_end = now_s() + seconds; now_s() < t_end;) {
        double t0 = now_s();
        float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
        {
            /* 12 independent FMA chains: enough to cover the latency of two FMA ports */
            __m512 a0 = _mm512_set1_ps(0.1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,
                   a9 = a0, a10 = a0, a11 = a0;
            const __m512 b = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-4f);
            for (long i = 0; i < iters; i++) {
                a0 = _mm512_fmadd_ps(a0, b, c);
                a1 = _mm512_fmadd_ps(a1, b, c);
                a2 = _mm512_fmadd_ps(a2, b, c);
                a3 = _mm512_fmadd_ps(a3, b, c);
                a4 = _mm512_fmadd_ps(a4, b, c);
                a5 = _mm512_fmadd_ps(a5, b, c);
                a6 = _mm512_fmadd_ps(a6, b, c);
                a7 = _mm512_fmadd_ps(a7, b, c);
                a8 = _mm512_fmadd_ps(a8, b, c);
                a9 = _mm512_fmadd_ps(a9, b, c);
                a10 = _mm512_fmadd_ps(a10, b, c);
                a11 = _mm512_fmadd_ps(a11, b, c);
            }
            __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                                     _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
            s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
            sink += _mm512_reduce_add_ps(s);
        }
        double dt = now_s() - t0;
        double gf = 2.0 * 16 * 12 * (double)iters * threads / dt / 1e9;
        if (gf > best && sink != 12345.0f) best = gf;
    }
    return best;
#else
    (void)threads;
    (void)seconds;
    return 0;
#endif
}
