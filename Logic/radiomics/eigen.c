/*
 * eigen.c - eigenvalues of small dense matrices, for GLCM MCC (numpy.linalg.eigvals of a general
 * matrix) and the shape PCA (eigenvalues of a symmetric 3x3 covariance).
 *
 * General matrix: Householder reduction to upper Hessenberg form H, then the implicitly shifted
 * double-shift (Francis) QR iteration on H with deflation at negligible subdiagonal entries
 * (Golub & Van Loan, Matrix Computations, algorithms 7.4.2 and 7.5.1-7.5.2). Real eigenvalues come
 * out with wi = 0 exactly, complex ones as conjugate pairs.
 * Symmetric n x n, one eigenvalue (GLCM MCC of many gray levels): Householder tridiagonalisation
 * (Golub & Van Loan 8.3.1), then bisection on Sturm counts (as LAPACK's dstebz).
 * Symmetric 3x3: cyclic Jacobi rotations until the off-diagonal part vanishes.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rx_internal.h"

#define A(i, j) a[(i) * n + (j)]

static void hessenberg(double *a, int n, double *v) {
    for (int k = 0; k < n - 2; k++) {
        double norm = 0;
        int m = n - k - 1;
        for (int i = 0; i < m; i++) {
            v[i] = A(k + 1 + i, k);
            norm += v[i] * v[i];
        }
        norm = sqrt(norm);
        if (norm == 0) continue;
        double alpha = v[0] > 0 ? -norm : norm;
        v[0] -= alpha;
        double vn = 0;
        for (int i = 0; i < m; i++) vn += v[i] * v[i];
        if (vn == 0) continue;
        /* H = I - 2 v v^T / (v^T v), applied from the left to rows k+1.. and from the right */
        for (int j = k; j < n; j++) {
            double s = 0;
            for (int i = 0; i < m; i++) s += v[i] * A(k + 1 + i, j);
            s = 2 * s / vn;
            for (int i = 0; i < m; i++) A(k + 1 + i, j) -= s * v[i];
        }
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int j = 0; j < m; j++) s += A(i, k + 1 + j) * v[j];
            s = 2 * s / vn;
            for (int j = 0; j < m; j++) A(i, k + 1 + j) -= s * v[j];
        }
        for (int i = 1; i < m; i++) A(k + 1 + i, k) = 0;
    }
}

/* eigenvalues of the 2x2 block [[p, q], [r, s]] */
static void eig2(double p, double q, double r, double s, double *wr, double *wi) {
    double tr = 0.5 * (p + s), d = 0.5 * (p - s);
    double disc = d * d + q * r;
    if (disc >= 0) {
        double root = sqrt(disc);
        /* avoid cancellation: the larger-magnitude root first, the other from the determinant */
        double l1 = tr + (tr >= 0 ? root : -root);
        double det = p * s - q * r;
        double l2 = l1 != 0 ? det / l1 : tr - (tr >= 0 ? root : -root);
        wr[0] = l1, wr[1] = l2;
        wi[0] = wi[1] = 0;
    } else {
        double root = sqrt(-disc);
        wr[0] = wr[1] = tr;
        wi[0] = root;
        wi[1] = -root;
    }
}

/* Householder reflector of (x0, x1[, x2]) into the first axis: v (v[0] = 1 scaled) and beta with
 * (I - beta v v^T) x = (+-||x||, 0, 0). Returns 0 if x is already zero. */
static int house(const double *x, int m, double *v, double *beta) {
    double nrm = 0;
    for (int i = 0; i < m; i++) nrm += x[i] * x[i];
    nrm = sqrt(nrm);
    if (nrm == 0) return 0;
    double alpha = x[0] > 0 ? -nrm : nrm;
    v[0] = x[0] - alpha;
    for (int i = 1; i < m; i++) v[i] = x[i];
    double vn = 0;
    for (int i = 0; i < m; i++) vn += v[i] * v[i];
    if (vn == 0) return 0;
    *beta = 2 / vn;
    return 1;
}

/* Balancing (as LAPACK dgebal, scaling only): diagonal similarity D^-1 A D with powers of 2 that
 * make the norms of row i and column i comparable; improves the accuracy of the QR iteration. */
static void balance(double *a, int n) {
    int done = 0;
    for (int sweep = 0; !done && sweep < 100; sweep++) {
        done = 1;
        for (int i = 0; i < n; i++) {
            double c = 0, r = 0;
            for (int j = 0; j < n; j++)
                if (j != i) {
                    c += fabs(A(j, i));
                    r += fabs(A(i, j));
                }
            if (c == 0 || r == 0) continue;
            double g = r / 2, f = 1, t = c + r;
            while (c < g) {
                f *= 2;
                c *= 4;
            }
            g = r * 2;
            while (c > g) {
                f /= 2;
                c /= 4;
            }
            if ((c + r) / f < 0.95 * t) {
                done = 0;
                for (int j = 0; j < n; j++) A(i, j) /= f;
                for (int j = 0; j < n; j++) A(j, i) *= f;
            }
        }
    }
}

int rx_eigenvalues_general(double *a, int n, double *wr, double *wi) {
    if (n <= 0) return 0;
    /* rows and columns that are entirely zero carry an exact eigenvalue 0: take them out */
    int m = 0, nz = 0;
    int *keep = malloc(sizeof *keep * (size_t)n);
    if (!keep) return -2;
    for (int i = 0; i < n; i++) {
        int zero = 1;
        for (int j = 0; j < n && zero; j++) zero = A(i, j) == 0 && A(j, i) == 0;
        if (zero) nz++;
        else keep[m++] = i;
    }
    if (nz) {
        for (int r = 0; r < m; r++)
            for (int c = 0; c < m; c++) a[r * m + c] = a[keep[r] * n + keep[c]];
        for (int i = m; i < n; i++) wr[i] = wi[i] = 0;
        n = m;
    }
    free(keep);
    if (n == 0) return 0;
    if (n == 1) {
        wr[0] = a[0];
        wi[0] = 0;
        return 0;
    }
    balance(a, n);
    double *v = malloc(sizeof *v * (size_t)n);
    if (!v) return -2;
    hessenberg(a, n, v);
    free(v);
    const double ulp = DBL_EPSILON, smlnum = DBL_MIN * ((double)n / ulp);
    int hi = n - 1, iter = 0;
    while (hi >= 0) {
        /* start lo of the unreduced block ending at hi (deflation test of LAPACK's dlahqr) */
        int lo = hi;
        while (lo > 0) {
            double sub = fabs(A(lo, lo - 1));
            if (sub <= smlnum) break;
            double tst = fabs(A(lo - 1, lo - 1)) + fabs(A(lo, lo));
            if (tst == 0) {
                if (lo - 2 >= 0) tst += fabs(A(lo - 1, lo - 2));
                if (lo + 1 <= hi) tst += fabs(A(lo + 1, lo));
            }
            if (sub <= ulp * tst) {
                double ab = fmax(sub, fabs(A(lo - 1, lo))), ba = fmin(sub, fabs(A(lo - 1, lo)));
                double aa = fmax(fabs(A(lo, lo)), fabs(A(lo - 1, lo - 1) - A(lo, lo)));
                double bb = fmin(fabs(A(lo, lo)), fabs(A(lo - 1, lo - 1) - A(lo, lo)));
                double s = aa + ab;
                if (ba * (ab / s) <= fmax(smlnum, ulp * (bb * (aa / s)))) break;
            }
            lo--;
        }
        if (lo > 0) A(lo, lo - 1) = 0;
        if (lo == hi) { /* a 1x1 block: real eigenvalue */
            wr[hi] = A(hi, hi);
            wi[hi] = 0;
            hi--;
            iter = 0;
            continue;
        }
        if (lo == hi - 1) { /* a 2x2 block: a real pair or a complex conjugate pair */
            eig2(A(hi - 1, hi - 1), A(hi - 1, hi), A(hi, hi - 1), A(hi, hi), &wr[hi - 1], &wi[hi - 1]);
            hi -= 2;
            iter = 0;
            continue;
        }
        if (++iter > 30 * (n > 10 ? n : 10)) return -1;
        /* one Francis double-shift step on the block H = A[lo..hi, lo..hi] (size m >= 3) */
        int mm = hi - lo + 1;
#define H(i, j) A(lo + (i), lo + (j))
        double h11, h12, h21, h22;
        if (iter % 20 == 10) { /* exceptional shifts against cycling (dlahqr) */
            double e = fabs(H(1, 0)) + fabs(H(2, 1));
            h11 = 0.75 * e + H(0, 0), h12 = -0.4375 * e, h21 = e, h22 = h11;
        } else if (iter % 20 == 0) {
            double e = fabs(H(mm - 1, mm - 2)) + fabs(H(mm - 2, mm - 3));
            h11 = 0.75 * e + H(mm - 1, mm - 1), h12 = -0.4375 * e, h21 = e, h22 = h11;
        } else {
            h11 = H(mm - 2, mm - 2), h12 = H(mm - 2, mm - 1), h21 = H(mm - 1, mm - 2), h22 = H(mm - 1, mm - 1);
        }
        /* the shifts: eigenvalues of [h11 h12; h21 h22], computed scaled; two real ones are replaced
         * by the one closer to h22, used twice (dlahqr since LAPACK 3.1: the plain Francis pair
         * can cycle on matrices with many equal eigenvalues, as GLCMs of distinct levels give) */
        double r1r = 0, r1i = 0, r2r = 0, r2i = 0;
        const double sc = fabs(h11) + fabs(h12) + fabs(h21) + fabs(h22);
        if (sc != 0) {
            h11 /= sc, h12 /= sc, h21 /= sc, h22 /= sc;
            const double tr = (h11 + h22) / 2, det = (h11 - tr) * (h22 - tr) - h12 * h21, rtdisc = sqrt(fabs(det));
            if (det >= 0) { /* a complex conjugate pair */
                r1r = r2r = tr * sc;
                r1i = rtdisc * sc;
                r2i = -r1i;
            } else {
                r1r = tr + rtdisc, r2r = tr - rtdisc;
                r1r = r2r = (fabs(r1r - h22) <= fabs(r2r - h22) ? r1r : r2r) * sc;
            }
        }
        /* first column of (H - r1)(H - r2), scaled */
        const double s21 = fabs(H(0, 0) - r2r) + fabs(r2i) + fabs(H(1, 0));
        double x[3];
        if (s21 == 0) {
            x[0] = x[1] = x[2] = 0;
        } else {
            const double h21s = H(1, 0) / s21;
            x[0] = h21s * H(0, 1) + (H(0, 0) - r1r) * ((H(0, 0) - r2r) / s21) - r1i * (r2i / s21);
            x[1] = h21s * (H(0, 0) + H(1, 1) - r1r - r2r);
            x[2] = h21s * H(2, 1);
        }
        for (int k = 0; k <= mm - 3; k++) {
            double vv[3], beta;
            if (house(x, 3, vv, &beta)) {
                int q = k > 0 ? k - 1 : 0;
                for (int j = q; j < mm; j++) {
                    double d = beta * (vv[0] * H(k, j) + vv[1] * H(k + 1, j) + vv[2] * H(k + 2, j));
                    H(k, j) -= d * vv[0];
                    H(k + 1, j) -= d * vv[1];
                    H(k + 2, j) -= d * vv[2];
                }
                int r = k + 3 < mm - 1 ? k + 3 : mm - 1;
                for (int i = 0; i <= r; i++) {
                    double d = beta * (H(i, k) * vv[0] + H(i, k + 1) * vv[1] + H(i, k + 2) * vv[2]);
                    H(i, k) -= d * vv[0];
                    H(i, k + 1) -= d * vv[1];
                    H(i, k + 2) -= d * vv[2];
                }
            }
            x[0] = H(k + 1, k);
            x[1] = H(k + 2, k);
            if (k < mm - 3) x[2] = H(k + 3, k);
        }
        {
            double vv[2], beta;
            if (house(x, 2, vv, &beta)) {
                for (int j = mm - 3; j < mm; j++) {
                    double d = beta * (vv[0] * H(mm - 2, j) + vv[1] * H(mm - 1, j));
                    H(mm - 2, j) -= d * vv[0];
                    H(mm - 1, j) -= d * vv[1];
                }
                for (int i = 0; i < mm; i++) {
                    double d = beta * (H(i, mm - 2) * vv[0] + H(i, mm - 1) * vv[1]);
                    H(i, mm - 2) -= d * vv[0];
                    H(i, mm - 1) -= d * vv[1];
                }
            }
        }
        for (int i = 2; i < mm; i++) /* exact zeros below the subdiagonal */
            for (int j = 0; j < i - 1; j++) H(i, j) = 0;
#undef H
    }
    return 0;
}
#undef A

void rx_eigenvalues_sym3(const double m[9], double w[3]) {
    double a[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) a[i][j] = 0.5 * (m[i * 3 + j] + m[j * 3 + i]);
    for (int sweep = 0; sweep < 50; sweep++) {
        double off = fabs(a[0][1]) + fabs(a[0][2]) + fabs(a[1][2]);
        if (off == 0) break;
        for (int p = 0; p < 2; p++)
            for (int q = p + 1; q < 3; q++) {
                if (a[p][q] == 0) continue;
                double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < 3; k++) { /* columns p, q */
                    double akp = a[k][p], akq = a[k][q];
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for (int k = 0; k < 3; k++) { /* rows p, q */
                    double apk = a[p][k], aqk = a[q][k];
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                a[p][q] = a[q][p] = 0;
            }
    }
    w[0] = a[0][0], w[1] = a[1][1], w[2] = a[2][2];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2 - i; j++)
            if (w[j] > w[j + 1]) {
                double t = w[j];
                w[j] = w[j + 1];
                w[j + 1] = t;
            }
}

/* Number of eigenvalues below x of the symmetric tridiagonal matrix with diagonal d and
 * off-diagonal e (e[i] couples i and i+1): the sign changes of the LDL^T pivots of T - x I
 * (Sturm count). A pivot that vanishes is replaced by -pivmin, as LAPACK's bisection does. */
static int sturm_count(const double *d, const double *e, int n, double x, double pivmin) {
    int below = 0;
    double q = d[0] - x;
    for (int i = 0;; i++) {
        if (fabs(q) <= pivmin) q = -pivmin;
        if (q < 0) below++;
        if (i == n - 1) return below;
        q = d[i + 1] - x - e[i] * e[i] / q;
    }
}

#define A(i, j) a[(i) * n + (j)]
int rx_eigenvalue_symmetric(double *a, int n, int k, double *out) {
    if (n <= 0 || k < 0 || k >= n) return -1;
    double *d = malloc(sizeof *d * (size_t)n * 4), *e = d + n, *v = e + n, *w = v + n;
    if (!d) return -2;
    /* Householder reduction to tridiagonal form (Golub & Van Loan 8.3.1): step c reflects rows and
     * columns c+1..n-1 so that column c has zeros below its subdiagonal. Row c is read for column c
     * (the matrix stays symmetric); the trailing block is updated in full. */
    for (int c = 0; c < n - 2; c++) {
        const int m = n - c - 1;
        const double *x = &A(c, c + 1);
        double tail = 0;
        for (int i = 1; i < m; i++) tail += x[i] * x[i];
        d[c] = A(c, c);
        if (tail == 0) { /* already tridiagonal in this column */
            e[c] = x[0];
            continue;
        }
        const double norm = sqrt(x[0] * x[0] + tail), alpha = x[0] > 0 ? -norm : norm;
        double vv = 0;
        for (int i = 0; i < m; i++) {
            v[i] = i ? x[i] : x[0] - alpha;
            vv += v[i] * v[i];
        }
        const double beta = 2 / vv;
        /* w = beta A22 v, summed row by row (A22 is symmetric: row j is column j), which vectorises */
        for (int i = 0; i < m; i++) w[i] = 0;
        for (int j = 0; j < m; j++) {
            const double *row = &A(c + 1 + j, c + 1), bv = beta * v[j];
            if (bv != 0)
                for (int i = 0; i < m; i++) w[i] += bv * row[i];
        }
        double vw = 0;
        for (int i = 0; i < m; i++) vw += v[i] * w[i];
        const double half = beta * vw / 2;
        for (int i = 0; i < m; i++) w[i] -= half * v[i];
        for (int i = 0; i < m; i++) { /* A22 -= v w^T + w v^T */
            double *row = &A(c + 1 + i, c + 1);
            const double vi = v[i], wi = w[i];
            for (int j = 0; j < m; j++) row[j] -= vi * w[j] + wi * v[j];
        }
        e[c] = alpha;
    }
    if (n >= 2) {
        d[n - 2] = A(n - 2, n - 2);
        e[n - 2] = A(n - 1, n - 2);
    }
    d[n - 1] = A(n - 1, n - 1);
    /* Bisection for the k-th smallest eigenvalue inside the Gershgorin interval */
    double lo = d[0], hi = d[0], emax = 0;
    for (int i = 0; i < n; i++) {
        const double r = (i > 0 ? fabs(e[i - 1]) : 0) + (i < n - 1 ? fabs(e[i]) : 0);
        if (d[i] - r < lo) lo = d[i] - r;
        if (d[i] + r > hi) hi = d[i] + r;
        if (i < n - 1 && fabs(e[i]) > emax) emax = fabs(e[i]);
    }
    const double pivmin = DBL_MIN * fmax(1.0, emax * emax), pad = 2 * DBL_EPSILON * fmax(fabs(lo), fabs(hi)) + pivmin;
    lo -= pad;
    hi += pad;
    for (int it = 0; it < 2200; it++) {
        const double mid = lo + (hi - lo) / 2;
        if (mid <= lo || mid >= hi) break;
        if (sturm_count(d, e, n, mid, pivmin) > k) hi = mid;
        else lo = mid;
    }
    *out = lo + (hi - lo) / 2;
    free(d);
    return 0;
}
#undef A
