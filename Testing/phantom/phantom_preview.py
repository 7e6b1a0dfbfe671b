#!/usr/bin/env python3
"""Pictures of a phantom subject, to look at it as a reader would.

usage: phantom_preview.py COHORT_DIR SUBJECT OUT.png [--slices 20,26,32] [--lesions N]
Top rows: axial QSM (-80..120 ppb) and FLAIR slices with the lesion outlines. Bottom rows: the N
largest rim+ lesions and the N largest rim- lesions (40 x 40 voxels around each, at its largest
slice) on QSM and FLAIR, titled with the annotation (appearance, confounders, rim coverage).
Display: radiological convention (patient left on the right, anterior at the top).
"""
import argparse
import csv
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cohort")
    ap.add_argument("subject")
    ap.add_argument("out")
    ap.add_argument("--slices", default="20,26,32")
    ap.add_argument("--lesions", type=int, default=3)
    a = ap.parse_args()
    man = {r["subject"]: r for r in csv.DictReader(open(os.path.join(a.cohort, "cohort.tsv")), delimiter="\t")}
    r = man[a.subject]
    load = lambda k: np.asanyarray(nib.load(os.path.join(a.cohort, r[k])).dataobj)
    q, f, lab = load("qsm"), load("flair"), load("lesions")
    ann = list(csv.DictReader(open(os.path.join(a.cohort, r["annotations"])), delimiter="\t"))
    fmax = np.percentile(f[f > 0], 99.7)
    ks = [int(k) for k in a.slices.split(",")]
    pos = sorted([t for t in ann if t["rim"] == "1"], key=lambda t: -int(t["voxels"]))[: a.lesions]
    neg = sorted([t for t in ann if t["rim"] == "0"], key=lambda t: -int(t["voxels"]))[: a.lesions]
    picks = pos + neg
    ncol = max(len(ks), len(picks), 1)
    fig, ax = plt.subplots(4, ncol, figsize=(4 * ncol, 16), squeeze=False)
    for a_ in ax.ravel():
        a_.axis("off")
    # arrays are (i, j, k) with i -> patient left, j -> posterior: the transpose shows anterior at the
    # top and patient left on the right
    for c, k in enumerate(ks):
        ax[0, c].imshow(q[:, :, k].T, cmap="gray", vmin=-80, vmax=120, interpolation="nearest")
        ax[0, c].set_title(f"QSM slice {k}")
        ax[1, c].imshow(f[:, :, k].T, cmap="gray", vmin=0, vmax=fmax, interpolation="nearest")
        if (lab[:, :, k] > 0).any():
            ax[1, c].contour((lab[:, :, k] > 0).T, levels=[0.5], colors="r", linewidths=0.6)
        ax[1, c].set_title(f"FLAIR slice {k}")
    for c, t in enumerate(picks):
        i = int(t["lesion_id"])
        idx = np.argwhere(lab == i)
        k = np.bincount(idx[:, 2]).argmax()
        ci, cj = idx[idx[:, 2] == k][:, :2].mean(0).round().astype(int)
        sl = (slice(max(ci - 20, 0), ci + 20), slice(max(cj - 20, 0), cj + 20), k)
        title = f"id {i} rim={t['rim']} {t['appearance']}\n{t['confounders']} cov {float(t['rim_coverage']):.2f}"
        for row, (im, lo, hi) in ((2, (q, -80, 120)), (3, (f, 0, fmax))):
            ax[row, c].imshow(im[sl].T, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            ax[row, c].contour((lab[sl] == i).T, levels=[0.5], colors="r", linewidths=0.7)
            ax[row, c].set_title(title, fontsize=8)
    plt.tight_layout()
    plt.savefig(a.out, dpi=60)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
