/*
 * rng.h - the one seeded random number generator of qsmrim.
 *
 * xoshiro256** (Blackman & Vigna, public domain algorithm) seeded through splitmix64. A generator
 * is a plain struct; `qr_rng_seed(&r, seed, stream)` gives independent, reproducible streams for
 * the same seed (e.g. one per subject of a phantom cohort, one per fold x seed in training), so
 * results do not depend on thread scheduling: give each thread or item its own stream.
 */
#ifndef QR_RNG_H
#define QR_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qr_rng {
    uint64_t s[4];
    int has_spare;   /* Box-Muller keeps its second normal deviate */
    double spare;
} qr_rng;

/* Seed a generator: the same (seed, stream) always gives the same sequence. */
void qr_rng_seed(qr_rng *r, uint64_t seed, uint64_t stream);
uint64_t qr_rng_u64(qr_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double qr_rng_uniform(qr_rng *r);
/* Uniform in [lo, hi). */
double qr_rng_range(qr_rng *r, double lo, double hi);
/* Uniform integer in [0, n) without modulo bias (n >= 1). */
uint64_t qr_rng_below(qr_rng *r, uint64_t n);
/* Standard normal deviate (Box-Muller). */
double qr_rng_normal(qr_rng *r);
/* Fisher-Yates shuffle of n ints / int64s. */
void qr_rng_shuffle_int(qr_rng *r, int *a, int64_t n);
void qr_rng_shuffle_i64(qr_rng *r, int64_t *a, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
