/*
 * util.c - helpers of the phantom generator: distributions on top of the project's one random
 * generator (core/rng.h), small 3x3 algebra, bounded formatting.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "phantom_internal.h"

double ph_clamp(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* Gamma(shape, 1): Marsaglia & Tsang (2000); shape < 1 through Gamma(shape + 1) U^(1/shape). */
double ph_gamma(qr_rng *r, double shape) {
    if (shape < 1.0) {
        double u = qr_rng_uniform(r);
        while (u <= 0.0) u = qr_rng_uniform(r);
        return ph_gamma(r, shape + 1.0) * pow(u, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = qr_rng_normal(r), v = 1.0 + c * x;
        if (v <= 0.0) continue;
        v = v * v * v;
        double u = qr_rng_uniform(r);
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
        if (u > 0.0 && log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
    }
}

/* Poisson(lambda): products of uniforms (Knuth) for small lambda, a rounded normal beyond 30. */
int ph_poisson(qr_rng *r, double lambda) {
    if (lambda <= 0.0) return 0;
    if (lambda > 30.0) {
        double x = floor(lambda + sqrt(lambda) * qr_rng_normal(r) + 0.5);
        return x < 0 ? 0 : (int)x;
    }
    double L = exp(-lambda), p = 1.0;
    int k = 0;
    do {
        k++;
        p *= qr_rng_uniform(r);
    } while (p > L);
    return k - 1;
}

/* Beta(a, b) = X / (X + Y), X ~ Gamma(a), Y ~ Gamma(b). */
double ph_beta(qr_rng *r, double a, double b) {
    double x = ph_gamma(r, a), y = ph_gamma(r, b);
    return x + y > 0 ? x / (x + y) : 0.5;
}

void ph_mat3_mul(const double A[9], const double B[9], double out[9]) {
    double t[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) t[3 * i + j] = A[3 * i] * B[j] + A[3 * i + 1] * B[3 + j] + A[3 * i + 2] * B[6 + j];
    for (int i = 0; i < 9; i++) out[i] = t[i];
}

void ph_rotation(double ax, double ay, double az, double R[9]) {
    double cx = cos(ax), sx = sin(ax), cy = cos(ay), sy = sin(ay), cz = cos(az), sz = sin(az);
    double Rx[9] = {1, 0, 0, 0, cx, -sx, 0, sx, cx};
    double Ry[9] = {cy, 0, sy, 0, 1, 0, -sy, 0, cy};
    double Rz[9] = {cz, -sz, 0, sz, cz, 0, 0, 0, 1};
    double t[9];
    ph_mat3_mul(Ry, Rx, t);
    ph_mat3_mul(Rz, t, R);
}

void ph_mat3_inverse(const double m[9], double out[9]) {
    double c00 = m[4] * m[8] - m[5] * m[7], c01 = m[5] * m[6] - m[3] * m[8], c02 = m[3] * m[7] - m[4] * m[6];
    double det = m[0] * c00 + m[1] * c01 + m[2] * c02;
    double id = det != 0 ? 1.0 / det : 0.0;
    out[0] = c00 * id;
    out[1] = (m[2] * m[7] - m[1] * m[8]) * id;
    out[2] = (m[1] * m[5] - m[2] * m[4]) * id;
    out[3] = c01 * id;
    out[4] = (m[0] * m[8] - m[2] * m[6]) * id;
    out[5] = (m[2] * m[3] - m[0] * m[5]) * id;
    out[6] = c02 * id;
    out[7] = (m[1] * m[6] - m[0] * m[7]) * id;
    out[8] = (m[0] * m[4] - m[1] * m[3]) * id;
}

qr_status ph_format(char *out, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) return qr_fail(QR_ERR_INVALID_ARG, "path or name too long: %.200s...", out);
    return QR_OK;
}
