#!/usr/bin/python3
"""Reference for test_radiomics_wavelet: PyRadiomics' imageoperations._swt3 on a raw volume.

usage: pywt_swt3.py IN.raw OUT.raw DTYPE NZ NY NX WAVELET LEVEL START_LEVEL AXES
       pywt_swt3.py --jobs JOBS.txt      (one job per line, the same ten fields)
DTYPE float32|float64; AXES e.g. 2,1,0 (or 2,1 for force2D along axis 0).
As PyRadiomics (v3.1): odd axes padded with numpy.pad(..., 'wrap'); per level
pywt.swtn(data, wavelet, level=1, start_level=0, axes=axes)[0]; the approximation of a level is the
input of the next; outputs cropped back. Writes the detail bands of every reported level in
PyWavelets' key order, then the final approximation, in the input dtype.
"""
import sys

import numpy as np
import pywt


def job(args):
    src, dst, dtype = args[0], args[1], np.dtype(args[2])
    shape = tuple(int(v) for v in args[3:6])
    wavelet, level, start_level = args[6], int(args[7]), int(args[8])
    axes = tuple(int(v) for v in args[9].split(','))
    matrix = np.fromfile(src, dtype=dtype).reshape(shape)
    padding = tuple((0, 1 if dim % 2 != 0 else 0) for dim in shape)
    data = np.pad(matrix.copy(), padding, 'wrap')
    crop = tuple(slice(None, -1 if dim % 2 != 0 else None) for dim in shape)
    w = pywt.Wavelet(wavelet)
    approx = 'a' * len(axes)
    for _ in range(start_level):
        data = pywt.swtn(data, w, level=1, start_level=0, axes=axes)[0][approx].copy()
    out = []
    for _ in range(level):
        dec = pywt.swtn(data, w, level=1, start_level=0, axes=axes)[0]
        data = dec[approx].copy()
        for name, band in dec.items():
            if name != approx:
                out.append(band[crop])
    out.append(data[crop])
    with open(dst, 'wb') as f:
        for band in out:
            assert band.dtype == dtype, (band.dtype, dtype)
            f.write(np.ascontiguousarray(band).tobytes())


def main():
    if sys.argv[1] == '--jobs':
        with open(sys.argv[2]) as f:
            for line in f:
                if line.strip():
                    job(line.split())
    else:
        job(sys.argv[1:])


if __name__ == '__main__':
    main()
