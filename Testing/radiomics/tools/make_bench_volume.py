#!/usr/bin/python3
"""Build the input of `qsmrim bench radiomics`: a QSM-like volume with real lesion shapes.

The grid is the QSMRim-Net one: 256 x 256 x 48 voxels of 0.75 x 0.75 x 3 mm. Lesion shapes are
26-connected components of real MS lesion masks (open_ms_data, 1 mm MNI masks, CC-BY; pass their
folder with --masks) resampled by nearest neighbour onto that grid; components of 10-800 voxels on
the new grid are kept, and --lesions of them (sizes spread log-uniformly over 10-800 voxels) are placed at random non-overlapping positions inside an
elliptical "brain". Intensities (ppb, after the phantom notes): smoothed normal-appearing white
matter 0 +- 11 ppb, lesion cores 0..40 ppb plus noise, for one in four lesions a paramagnetic rim
(+15..60 ppb on the lesion edge), background 0 outside the brain. Same seed, same files.

usage: /usr/bin/python3 make_bench_volume.py --masks DIR --out DIR [--seed 7] [--lesions 24]
writes DIR/bench_qsm.nii.gz (float32) and DIR/bench_lesions.nii.gz (int16 label map 1..n)
"""
import argparse
import glob
import os

import nibabel as nib
import numpy as np
from scipy import ndimage

SIZE = (256, 256, 48)
SPACING = (0.75, 0.75, 3.0)


def shapes_from_mask(path, rng):
    img = nib.load(path)
    m = np.asarray(img.dataobj) > 0
    sp = img.header.get_zooms()[:3]
    lab, n = ndimage.label(m, structure=np.ones((3, 3, 3)))
    out = []
    for sl, k in zip(ndimage.find_objects(lab), range(1, n + 1)):
        comp = lab[sl] == k
        # nearest-neighbour resampling of the component's box onto the 0.75 x 0.75 x 3 mm grid
        ext = [comp.shape[d] * sp[d] for d in range(3)]
        newshape = [max(1, int(round(ext[d] / SPACING[d]))) for d in range(3)]
        idx = [np.minimum((np.arange(newshape[d]) + 0.5) * SPACING[d] / sp[d], comp.shape[d] - 1).astype(int)
               for d in range(3)]
        res = comp[np.ix_(*idx)]
        nv = int(res.sum())
        if 10 <= nv <= 800:
            out.append(res)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--masks', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, default=7)
    ap.add_argument('--lesions', type=int, default=24)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    files = sorted(glob.glob(os.path.join(a.masks, '*lesions*.nii*')))
    if not files:
        raise SystemExit('no lesion masks in %s' % a.masks)
    shapes = []
    for f in files[:6]:
        shapes += shapes_from_mask(f, rng)
    if len(shapes) < a.lesions:
        raise SystemExit('only %d lesion shapes of 10-800 voxels found' % len(shapes))
    # sizes spread log-uniformly over 10..800 voxels: for each target size the closest unused shape
    sizes = np.array([int(x.sum()) for x in shapes])
    targets = rng.permutation(np.exp(np.linspace(np.log(10), np.log(800), 3 * a.lesions)))
    order, used = [], set()
    for t in targets:
        cand = [i for i in np.argsort(np.abs(np.log(sizes) - np.log(t))) if i not in used]
        if cand:
            order.append(cand[0])
            used.add(cand[0])
    # QSM-like background: smoothed white-matter texture inside an ellipsoidal brain
    qsm = ndimage.gaussian_filter(rng.normal(0, 1, SIZE), (1.5, 1.5, 0.5))
    qsm *= 11.0 / qsm.std()
    zz, yy, xx = np.meshgrid(*[np.arange(s) for s in SIZE], indexing='ij')
    brain = ((zz - 127.5) / 110) ** 2 + ((yy - 127.5) / 120) ** 2 + ((xx - 23.5) / 22) ** 2 <= 1
    qsm[~brain] = 0
    labels = np.zeros(SIZE, np.int16)
    placed = 0
    for i in order:
        if placed == a.lesions:
            break
        s = shapes[i]
        for _ in range(200):
            o = [int(rng.integers(20, SIZE[d] - s.shape[d] - 20)) if SIZE[d] - s.shape[d] - 40 > 0 else
                 int(rng.integers(2, max(3, SIZE[d] - s.shape[d] - 2))) for d in range(3)]
            box = tuple(slice(o[d], o[d] + s.shape[d]) for d in range(3))
            grown = ndimage.binary_dilation(s, iterations=2)  # keep lesions 2 voxels apart
            if labels[box][grown].any():
                continue
            if not brain[box][s].all():
                continue
            placed += 1
            labels[box][s] = placed
            core = rng.uniform(0, 40)
            vals = core + rng.normal(0, 6, s.shape)
            if placed % 4 == 0:
                edge = s & ~ndimage.binary_erosion(s)
                vals[edge] += rng.uniform(15, 60)
            region = qsm[box]
            region[s] = vals[s]
            qsm[box] = region
            break
    if placed < a.lesions:
        raise SystemExit('could place only %d lesions' % placed)
    aff = np.diag(list(SPACING) + [1.0])
    os.makedirs(a.out, exist_ok=True)
    nib.save(nib.Nifti1Image(qsm.astype(np.float32), aff), os.path.join(a.out, 'bench_qsm.nii.gz'))
    nib.save(nib.Nifti1Image(labels, aff), os.path.join(a.out, 'bench_lesions.nii.gz'))
    sizes = np.bincount(labels.ravel())[1:]
    print('lesions %d, voxels min %d median %d max %d' % (placed, sizes.min(), int(np.median(sizes)), sizes.max()))


if __name__ == '__main__':
    main()
