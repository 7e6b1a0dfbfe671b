#!/usr/bin/env python3
"""Validate a cohort written by `qsmrim phantom` (manifest, files, grid, geometry, labels vs tables).

usage: check_cohort.py COHORT_DIR [--subjects N] [--lesions L] [--rimpos R]
Prints one line per problem and exits 1 if there is any; prints a summary and exits 0 otherwise.
"""
import argparse
import csv
import math
import os
import sys

import numpy as np
import nibabel as nib

HEADER = ["subject", "qsm", "flair", "lesions", "annotations"]
TABLE = ["lesion_id", "rim", "appearance", "confounders", "rim_coverage", "rim_ppb", "rim_width_mm", "core_ppb",
         "rim_contrast_ppb", "voxels", "volume_mm3", "source"]
problems = []


def fail(msg):
    problems.append(msg)


def read_tsv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return rows[0], rows[1:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cohort")
    ap.add_argument("--subjects", type=int)
    ap.add_argument("--lesions", type=int)
    ap.add_argument("--rimpos", type=int)
    a = ap.parse_args()
    head, rows = read_tsv(os.path.join(a.cohort, "cohort.tsv"))
    if head != HEADER:
        fail(f"cohort.tsv header is {head}, expected {HEADER}")
    if a.subjects is not None and len(rows) != a.subjects:
        fail(f"cohort.tsv lists {len(rows)} subjects, expected {a.subjects}")
    if len({r[0] for r in rows}) != len(rows):
        fail("cohort.tsv: subject names are not unique")
    total_les = total_rim = 0
    affine0 = None
    for r in rows:
        if len(r) != len(HEADER):
            fail(f"cohort.tsv: row {r} has {len(r)} cells")
            continue
        subj = r[0]
        for p in r[1:]:
            if os.path.isabs(p) or ".." in p.split("/"):
                fail(f"{subj}: path {p} is not relative to the cohort folder")
            if not os.path.isfile(os.path.join(a.cohort, p)):
                fail(f"{subj}: {p} does not exist")
        if problems:
            break
        imgs = {k: nib.load(os.path.join(a.cohort, p)) for k, p in zip(HEADER[1:4], r[1:4])}
        want = {"qsm": np.float32, "flair": np.float32, "lesions": np.int32}
        for k, im in imgs.items():
            if im.shape != (256, 256, 48):
                fail(f"{subj} {k}: shape {im.shape}, expected (256, 256, 48)")
            z = im.header.get_zooms()[:3]
            if any(abs(x - y) > 1e-5 for x, y in zip(z, (0.75, 0.75, 3.0))):
                fail(f"{subj} {k}: voxel size {z}, expected (0.75, 0.75, 3.0)")
            if im.header.get_data_dtype() != np.dtype(want[k]):
                fail(f"{subj} {k}: stored as {im.header.get_data_dtype()}, expected {np.dtype(want[k])}")
            if nib.aff2axcodes(im.affine) != ("L", "P", "S"):
                fail(f"{subj} {k}: orientation {nib.aff2axcodes(im.affine)}, expected axial L P S index axes")
            if not np.allclose(im.affine, imgs["qsm"].affine, atol=1e-5):
                fail(f"{subj} {k}: affine differs from the QSM's")
        if affine0 is None:
            affine0 = imgs["qsm"].affine
        centre = imgs["qsm"].affine @ np.array([127.5, 127.5, 23.5, 1.0])
        if np.abs(centre[:3]).max() > 1e-3:
            fail(f"{subj}: grid not centred on the origin ({centre[:3]})")
        q = np.asanyarray(imgs["qsm"].dataobj)
        f = np.asanyarray(imgs["flair"].dataobj)
        lab = np.asanyarray(imgs["lesions"].dataobj)
        if not np.isfinite(q).all() or not np.isfinite(f).all():
            fail(f"{subj}: non-finite QSM or FLAIR values")
        brain = q != 0
        nawm = brain & (lab == 0) & (np.abs(q) < 100)
        sd = float(q[nawm].std())
        if not (5.0 < sd < 25.0):
            fail(f"{subj}: QSM sd in the brain (lesions, veins and iron excluded) {sd:.1f} ppb is implausible")
        if (lab[~brain] != 0).any():
            fail(f"{subj}: lesion voxels outside the QSM mask")
        th, trows = read_tsv(os.path.join(a.cohort, r[4]))
        if th[:2] != ["lesion_id", "rim"]:
            fail(f"{subj}: annotation header {th[:2]}, expected lesion_id rim first")
        if th != TABLE:
            fail(f"{subj}: annotation columns {th}, expected {TABLE}")
        col = {c: i for i, c in enumerate(th)}
        ids = [int(t[0]) for t in trows]
        labels = sorted(int(x) for x in np.unique(lab) if x > 0)
        if ids != list(range(1, len(ids) + 1)):
            fail(f"{subj}: annotation ids are not 1..n in order")
        if labels != sorted(ids):
            fail(f"{subj}: labels in the map {labels[:10]}... differ from the table's {ids[:10]}...")
        counts = np.bincount(lab.ravel(), minlength=len(ids) + 1)
        for t in trows:
            i, rim, cov = int(t[0]), int(t[col["rim"]]), float(t[col["rim_coverage"]])
            if rim not in (0, 1):
                fail(f"{subj} lesion {i}: rim {rim} is not 0 or 1")
            if rim == 1 and not (0.5 <= cov <= 1.0):
                fail(f"{subj} lesion {i}: rim+ with coverage {cov} < 0.5")
            if rim == 0 and cov >= 0.5:
                fail(f"{subj} lesion {i}: rim- with coverage {cov} >= 0.5")
            if i < len(counts) and int(t[col["voxels"]]) != counts[i]:
                fail(f"{subj} lesion {i}: table says {t[col['voxels']]} voxels, the map has {counts[i]}")
            if not math.isclose(float(t[col["volume_mm3"]]), counts[i] * 1.6875, abs_tol=0.01):
                fail(f"{subj} lesion {i}: volume_mm3 {t[col['volume_mm3']]} != voxels x 1.6875")
            total_rim += rim
        total_les += len(trows)
    info = {}
    with open(os.path.join(a.cohort, "phantom_info.txt")) as fh:
        for line in fh:
            if "\t" in line:
                k, v = line.rstrip("\n").split("\t", 1)
                info[k] = v
    if info.get("status") != "complete":
        fail(f"phantom_info.txt: status {info.get('status')}")
    if not problems:
        if int(info.get("lesions", -1)) != total_les or int(info.get("rim_positive", -1)) != total_rim:
            fail(f"phantom_info.txt totals {info.get('lesions')}/{info.get('rim_positive')} differ from the tables' {total_les}/{total_rim}")
        if a.lesions is not None and total_les != a.lesions:
            fail(f"{total_les} lesions, expected {a.lesions}")
        if a.rimpos is not None and total_rim != a.rimpos:
            fail(f"{total_rim} rim+ lesions, expected {a.rimpos}")
    for p in problems:
        print("check_cohort:", p)
    if problems:
        return 1
    print(f"check_cohort: {len(rows)} subjects, {total_les} lesions, {total_rim} rim+: manifest, grid, geometry and tables OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
