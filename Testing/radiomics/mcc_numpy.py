#!/usr/bin/env python3
"""GLCM MCC's eigenvalue as PyRadiomics computes it, for test_radiomics_mcc.

  mcc_numpy.py IN OUT

IN holds matrices of co-occurrence counts: a line `n`, then n lines of n counts each. For each,
with p = P / sum(P), p_x = row sums, p_y = column sums and eps = numpy.spacing(1):
Q(i, j) = sum_k p(i, k) p(j, k) / (p_x(i) p_y(k) + eps) (the GLCM class of PyRadiomics), the
eigenvalues of Q from numpy.linalg.eigvals, sorted as numpy sorts them, and the second largest
is written to OUT as `real imag`, one line per matrix.
"""
import sys

import numpy


def second_eigenvalue(counts):
    p = counts / counts.sum()
    px = p.sum(1)
    py = p.sum(0)
    eps = numpy.spacing(1)
    q = numpy.zeros_like(p)
    for k in range(p.shape[0]):
        q += p[:, None, k] * p[None, :, k] / (px[:, None] * py[None, k] + eps)
    ev = numpy.linalg.eigvals(q)
    ev.sort()
    return complex(ev[-2])


def main():
    rows = open(sys.argv[1]).read().split("\n")
    out = []
    at = 0
    while at < len(rows) and rows[at].strip():
        n = int(rows[at])
        counts = numpy.array([[float(v) for v in r.split()] for r in rows[at + 1:at + 1 + n]])
        at += 1 + n
        z = second_eigenvalue(counts)
        out.append(f"{z.real!r} {z.imag!r}\n")
    open(sys.argv[2], "w").write("".join(out))


main()
