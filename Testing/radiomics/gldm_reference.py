#!/usr/bin/env python3
"""Reference GLDM values for test_radiomics_edge's test_gldm_alpha_and_bincount, by a NumPy
transcription of PyRadiomics 3.x: imageoperations.getBinEdges/binImage (binWidth: arange from
min - min % W; binCount: numpy.histogram edges of the float32 values, last edge + 1; digitize),
cmatrices.c calculate_gldm (13 angles, both directions, dependent when |i - j| <= alpha) and
gldm.py (j = dependence count + 1; empty gray levels removed; Nz = Np)."""
import numpy as np

NI, NJ, NK = 9, 8, 5
k, j, i = np.meshgrid(np.arange(NK), np.arange(NJ), np.arange(NI), indexing="ij")
img = (((i * 37 + j * 17 + k * 29) % 23) - 9).astype(np.float32)      # (z, y, x)
mask = np.zeros_like(img, dtype=bool)
mask[1:4, 1:7, 1:8] = True

def bin_image(bin_width=None, bin_count=None):
    x = img[mask]
    if bin_count:
        edges = np.histogram(x, bin_count)[1]
        edges[-1] += 1
    else:
        lo = x.min() - (x.min() % bin_width)
        edges = np.arange(lo, x.max() + 2 * bin_width, bin_width)
    out = np.zeros(img.shape, dtype=int)
    out[mask] = np.digitize(x, edges)
    return out

ANGLES = [(dz, dy, dx) for dz in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dz, dy, dx) != (0, 0, 0)]

def gldm(gl, alpha):
    ng = gl.max()
    P = np.zeros((ng, 27))
    for z, y, x in zip(*np.nonzero(mask)):
        dep = 0
        for dz, dy, dx in ANGLES:
            zz, yy, xx = z + dz, y + dy, x + dx
            if 0 <= zz < NK and 0 <= yy < NJ and 0 <= xx < NI and mask[zz, yy, xx]:
                if abs(int(gl[z, y, x]) - int(gl[zz, yy, xx])) <= alpha:
                    dep += 1
        P[gl[z, y, x] - 1, dep] += 1
    ivec = np.arange(1, ng + 1)[P.sum(1) > 0]
    P = P[P.sum(1) > 0]
    jvec = np.arange(1, 28)
    Nz = P.sum()
    pi, pj = P.sum(1) / Nz, P.sum(0) / Nz
    mu_i = (pi * ivec).sum()
    return {"LargeDependenceEmphasis": (P * jvec[None, :] ** 2).sum() / Nz,
            "SmallDependenceEmphasis": (P / jvec[None, :] ** 2).sum() / Nz,
            "GrayLevelVariance": (pi * (ivec - mu_i) ** 2).sum(),
            "DependenceNonUniformity": (P.sum(0) ** 2).sum() / Nz}

for name, gl, a in (("binWidth 2, gldm_a 1", bin_image(bin_width=2), 1),
                    ("binWidth 2, gldm_a 0", bin_image(bin_width=2), 0),
                    ("binCount 8, gldm_a 0", bin_image(bin_count=8), 0)):
    print(name, "levels", gl[mask].min(), gl[mask].max(), {k: repr(float(v)) for k, v in gldm(gl, a).items()})
