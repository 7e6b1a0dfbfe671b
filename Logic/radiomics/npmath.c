/*
 * npmath.c - numpy's summation order, so that sums of many terms round as numpy.sum/mean do.
 *
 * numpy reduces a contiguous float64 array with pairwise summation (loops_utils.h, PW_BLOCKSIZE
 * 128): fewer than 8 terms are added in sequence; up to 128 terms with 8 interleaved partial sums
 * combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) plus the remainder in sequence; longer arrays
 * are split in two halves (the first a multiple of 8) summed recursively.
 */
#pragma GCC optimize("fp-contract=off")
#include "rx_internal.h"

double rx_np_sum(const double *a, int64_t n) {
    if (n < 8) {
        double res = 0.;
        for (int64_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        int64_t i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return rx_np_sum(a, n2) + rx_np_sum(a + n2, n - n2);
}

double rx_np_mean(const double *a, int64_t n) { return (0.0 + rx_np_sum(a, n)) / (double)n; }
