#!/usr/bin/env python3
"""SciPy references for the patch tests.

usage: patch_reference.py DIR
Reads DIR/crop.f32 (float32, shape given in DIR/crop.txt as "nk nj ni"), DIR/affine.txt (3x3
matrix and offset in (i, j, k) order: crop index x = M u + offset for patch index u = (w, h, d)),
DIR/blur.txt (sigma_i sigma_j sigma_k) and DIR/blurin.f32 (a 16x32x32 float32 patch), and writes
  DIR/affine_ref.f32  scipy.ndimage.affine_transform(order=1, mode='grid-constant') of the crop
                      onto the 16x32x32 patch grid
  DIR/blur_ref.f32    scipy.ndimage.gaussian_filter1d along each axis (truncate 4, mode
                      'constant', i.e. zeros beyond the patch)
  DIR/median.txt      numpy.median of the non-zero values of DIR/median.f32
"""
import os
import sys

import numpy as np
from scipy import ndimage

d = sys.argv[1]
nk, nj, ni = (int(v) for v in open(os.path.join(d, "crop.txt")).read().split())
crop = np.fromfile(os.path.join(d, "crop.f32"), dtype=np.float32).reshape(nk, nj, ni).astype(np.float64)
a = np.loadtxt(os.path.join(d, "affine.txt"))
M, off = a[:3, :3], a[3, :3]
# numpy axes are (k, j, i): reverse both sides of x = M u + off
P = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float)
out = ndimage.affine_transform(crop, P @ M @ P, offset=P @ off, output_shape=(16, 32, 32), order=1,
                               mode="grid-constant", cval=0.0, prefilter=False)
out.astype(np.float32).tofile(os.path.join(d, "affine_ref.f32"))

si, sj, sk = np.loadtxt(os.path.join(d, "blur.txt"))
x = np.fromfile(os.path.join(d, "blurin.f32"), dtype=np.float32).reshape(16, 32, 32).astype(np.float64)
for axis, s in ((2, si), (1, sj), (0, sk)):
    if s > 0 and int(4 * s + 0.5) >= 1:
        x = ndimage.gaussian_filter1d(x, s, axis=axis, truncate=4.0, mode="constant", cval=0.0)
x.astype(np.float32).tofile(os.path.join(d, "blur_ref.f32"))

m = np.fromfile(os.path.join(d, "median.f32"), dtype=np.float32)
with open(os.path.join(d, "median.txt"), "w") as f:
    f.write(repr(float(np.median(m[m != 0].astype(np.float64)))) + "\n")
