/*
 * emu_math.h - the GPU's transcendental functions, as far as their rounding goes. Included inside
 * namespace qr_emu before each .cu file of the backend (Testing/cuda/CMakeLists.txt), so that
 * the kernels' unqualified expf, tanhf, logf, log1pf, exp, log and log1p calls land here (float
 * and double overloads, as CUDA's). Host code in the .cu files that calls them gets the same
 * shift; today it calls none of them (only pow and sqrt).
 *
 * CUDA's versions are not the C library's: expf and tanhf are within 2 ulp of the exact value,
 * logf, log1pf and exp, log, log1p (double) within 1 ulp (CUDA C++ Programming Guide, "Mathematical Functions":
 * maximum ulp errors). A kernel test whose reference computes with the C library must therefore
 * hold up when these results differ by that much. Here each returns the C library's result moved
 * up or down by 0 to that many ulps, chosen by a hash of the argument's bits - the same argument
 * always gives the same result, as on a GPU. sqrt, division and the basic operations are
 * correctly rounded on both and are left alone.
 */
#ifndef QR_EMU_MATH_H
#define QR_EMU_MATH_H

/* -max .. +max, from the argument's bits */
static inline int emu_ulp_offset(uint64_t bits, int max) {
    bits ^= bits >> 33;
    bits *= 0xff51afd7ed558ccdULL;
    bits ^= bits >> 33;
    return (int)(bits % (uint64_t)(2 * max + 1)) - max;
}
/* r moved by -max .. +max ulps (float or double), chosen by x's bits */
template <typename T>
static inline T emu_shift(T r, T x, int max) {
    if (!std::isfinite(r) || r == (T)0) return r;
    uint64_t b = 0;
    memcpy(&b, &x, sizeof x);
    int k = emu_ulp_offset(b, max);
    for (; k > 0; k--) r = std::nextafter(r, (T)INFINITY);
    for (; k < 0; k++) r = std::nextafter(r, -(T)INFINITY);
    return r;
}

static inline float expf(float x) { return emu_shift(::expf(x), x, 2); }
static inline float tanhf(float x) {
    const float r = emu_shift(::tanhf(x), x, 2);
    return r > 1.0f ? 1.0f : r < -1.0f ? -1.0f : r;
}
static inline float exp(float x) { return expf(x); }
static inline double exp(double x) { return emu_shift(::exp(x), x, 1); }
static inline double log(double x) { return emu_shift(::log(x), x, 1); }
static inline double log1p(double x) { return emu_shift(::log1p(x), x, 1); }
static inline float logf(float x) { return emu_shift(::logf(x), x, 1); }
static inline float log1pf(float x) { return emu_shift(::log1pf(x), x, 1); }
static inline float log(float x) { return logf(x); }
static inline float log1p(float x) { return log1pf(x); }

#endif
