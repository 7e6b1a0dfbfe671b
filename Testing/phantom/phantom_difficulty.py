#!/usr/bin/env python3
"""Cohort statistics and difficulty of a phantom cohort written by `qsmrim phantom`.

usage: phantom_difficulty.py COHORT_DIR [--json OUT.json] [--max-ap 0.8] [--classifier]

Per lesion, from the generated images only (QSM, label map) and the `rim` column:
  mean_qsm        mean QSM over the lesion's voxels
  shell_qsm       mean QSM over the lesion's outer shell: its voxels with an in-plane (4-neighbour)
                  neighbour outside the lesion
  ring_qsm        mean QSM over the one-voxel in-plane ring just outside the lesion (other lesions excluded)
  volume_mm3      voxels x voxel volume
  shell_minus_core  shell_qsm minus the mean over the lesion's other voxels (0 if it has none)
For each statistic, with scikit-learn: average_precision_score (AP, the step-wise area under the
precision-recall curve), the trapezoidal area under precision_recall_curve (sklearn.metrics.auc) and
roc_auc_score, each for the statistic and its negative (a reader may take either direction); the
better direction is reported. Prevalence (the AP of a random score) is printed beside them.
The three hand-made statistics that must stay hard (--max-ap) are mean_qsm, shell_qsm and volume_mm3;
ring_qsm and shell_minus_core are reported as well (shell_minus_core shows that the rim is learnable).
Exit status 1 if one of the three reaches an AP or PR area above --max-ap.

--classifier: is the rim learnable from the images? A random forest (scikit-learn, 500 trees,
balanced class weights) on 12 hand-made features - the mean QSM in four in-plane depth bands from the
lesion edge (0.5-1.5, 1.5-2.5, 2.5-3.5, > 3.5 voxels), in two bands outside it, the lesion's mean,
sd, 10th/50th/90th percentiles and voxel count - cross-validated in 5 folds grouped by subject
(StratifiedGroupKFold); its average precision over all out-of-fold predictions is reported.
"""
import argparse
import csv
import json
import os
import sys

import numpy as np
import nibabel as nib
from scipy import ndimage as ndi
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

HARD = ["mean_qsm", "shell_qsm", "volume_mm3"]
STATS = HARD + ["ring_qsm", "shell_minus_core"]
CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def profile_features(q, m, lab):
    """12 features: mean QSM by in-plane depth band inside and outside the lesion, first-order stats."""
    dep = np.zeros(m.shape)
    dout = np.zeros(m.shape)
    for k in range(m.shape[2]):
        dep[:, :, k] = ndi.distance_transform_edt(m[:, :, k])
        dout[:, :, k] = ndi.distance_transform_edt(~m[:, :, k])
    f = []
    for lo, hi in ((0.5, 1.5), (1.5, 2.5), (2.5, 3.5), (3.5, 1e9)):
        sel = m & (dep >= lo) & (dep < hi)
        f.append(float(q[sel].mean()) if sel.any() else f[-1])
    for lo, hi in ((0.5, 1.5), (1.5, 2.5)):
        sel = ~m & (lab == 0) & (dout >= lo) & (dout < hi) & (q != 0)
        f.append(float(q[sel].mean()) if sel.any() else 0.0)
    v = q[m]
    f += [float(v.mean()), float(v.std()), float(np.percentile(v, 10)), float(np.median(v)),
          float(np.percentile(v, 90)), float(m.sum())]
    return f


def lesion_stats(qsm, flair, lab, vox_mm3, features=False):
    out = {}
    objs = ndi.find_objects(lab)
    for i, sl in enumerate(objs, start=1):
        if sl is None:
            continue
        sl = tuple(slice(max(s.start - 3, 0), s.stop + 3) for s in sl)
        m = lab[sl] == i
        q = qsm[sl]
        inner = np.zeros_like(m)
        outer = np.zeros_like(m)
        for k in range(m.shape[2]):
            inner[:, :, k] = ndi.binary_erosion(m[:, :, k], structure=CROSS, border_value=0)
            outer[:, :, k] = ndi.binary_dilation(m[:, :, k], structure=CROSS)
        shell = m & ~inner
        ring = outer & ~m & (lab[sl] == 0)
        ring3 = ndi.binary_dilation(m, structure=np.ones((3, 3, 3), bool)) & ~m & (lab[sl] == 0) & (flair[sl] > 0)
        st = {
            "mean_qsm": float(q[m].mean()),
            "shell_qsm": float(q[shell].mean()),
            "ring_qsm": float(q[ring].mean()) if ring.any() else 0.0,
            "volume_mm3": float(m.sum() * vox_mm3),
            "shell_minus_core": float(q[shell].mean() - q[inner].mean()) if inner.any() else 0.0,
            "flair_ratio": float(flair[sl][m].mean() / flair[sl][ring3].mean()) if ring3.any() else float("nan"),
        }
        if features:
            st["features"] = profile_features(q, m, lab[sl])
        out[i] = st
    return out


def pr_numbers(y, s):
    best = None
    for sign, name in ((1, "higher"), (-1, "lower")):
        ap = average_precision_score(y, sign * s)
        p, r, _ = precision_recall_curve(y, sign * s)
        area = auc(r, p)
        roc = roc_auc_score(y, sign * s)
        cand = {"direction": f"{name} = rim+", "average_precision": ap, "pr_auc_trapezoid": area, "roc_auc": roc}
        if best is None or ap > best["average_precision"]:
            best = cand
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cohort")
    ap.add_argument("--json")
    ap.add_argument("--max-ap", type=float, default=None)
    ap.add_argument("--classifier", action="store_true")
    a = ap.parse_args()
    man = read_tsv(os.path.join(a.cohort, "cohort.tsv"))
    if not man:
        sys.exit("cohort.tsv lists no subjects")
    rows = []
    for r in man:
        qi = nib.load(os.path.join(a.cohort, r["qsm"]))
        q = np.asanyarray(qi.dataobj).astype(np.float64)
        f = np.asanyarray(nib.load(os.path.join(a.cohort, r["flair"])).dataobj).astype(np.float64)
        lab = np.asanyarray(nib.load(os.path.join(a.cohort, r["lesions"])).dataobj).astype(np.int64)
        vox = float(np.prod(qi.header.get_zooms()[:3]))
        st = lesion_stats(q, f, lab, vox, a.classifier)
        for t in read_tsv(os.path.join(a.cohort, r["annotations"])):
            i = int(t["lesion_id"])
            if i not in st:
                sys.exit(f"{r['subject']}: lesion {i} of the annotation table is not in the label map")
            d = dict(st[i])
            d.update(subject=r["subject"], rim=int(t["rim"]), appearance=t.get("appearance", ""),
                     confounders=t.get("confounders", ""), rim_coverage=float(t.get("rim_coverage", 0) or 0),
                     rim_contrast_ppb=float(t.get("rim_contrast_ppb", 0) or 0))
            rows.append(d)
    y = np.array([d["rim"] for d in rows])
    subj = [r["subject"] for r in man]
    per_subj = {s: 0 for s in subj}
    per_subj_les = {s: 0 for s in subj}
    for d in rows:
        per_subj[d["subject"]] += d["rim"]
        per_subj_les[d["subject"]] += 1
    rp = np.array([per_subj[s] for s in subj])
    nl = np.array([per_subj_les[s] for s in subj])
    vol = np.array([d["volume_mm3"] for d in rows])
    res = {
        "subjects": len(subj), "lesions": int(len(rows)), "rim_positive": int(y.sum()),
        "prevalence": float(y.mean()),
        "lesions_per_subject": {"mean": float(nl.mean()), "median": float(np.median(nl)), "min": int(nl.min()), "max": int(nl.max())},
        "rim_positive_per_subject": {"0": int((rp == 0).sum()), "1-3": int(((rp >= 1) & (rp <= 3)).sum()),
                                     "4-6": int(((rp >= 4) & (rp <= 6)).sum()), ">6": int((rp > 6).sum()), "max": int(rp.max())},
        "volume_mm3": {},
        "rim_positive_share_of_lesions_over_100mm3": float(y[vol > 100].mean()) if (vol > 100).any() else 0.0,
        "appearance": {}, "confounders": {},
        "rim_positive_coverage_median": float(np.median([d["rim_coverage"] for d in rows if d["rim"]])) if y.any() else 0.0,
        "rim_positive_contrast_ppb_median": float(np.median([d["rim_contrast_ppb"] for d in rows if d["rim"]])) if y.any() else 0.0,
        "flair_ratio_median": float(np.nanmedian([d["flair_ratio"] for d in rows])),
        "pr": {},
    }
    for cls, name in ((1, "rim+"), (0, "rim-")):
        v = vol[y == cls]
        if len(v):
            res["volume_mm3"][name] = {"mean": float(v.mean()), "sd": float(v.std()),
                                       "p10_25_50_75_90": [float(x) for x in np.percentile(v, [10, 25, 50, 75, 90])]}
    for d in rows:
        res["appearance"][d["appearance"]] = res["appearance"].get(d["appearance"], 0) + 1
        for c in d["confounders"].split("+"):
            res["confounders"][c] = res["confounders"].get(c, 0) + 1
    if 0 < y.sum() < len(y):
        for s in STATS:
            res["pr"][s] = pr_numbers(y, np.array([d[s] for d in rows]))
    print(f"subjects {res['subjects']}  lesions {res['lesions']}  rim+ {res['rim_positive']} "
          f"({100 * res['prevalence']:.2f}%)  lesions/subject mean {nl.mean():.1f} (min {nl.min()}, max {nl.max()})")
    print("rim+ per subject:", res["rim_positive_per_subject"])
    for k, v in res["volume_mm3"].items():
        print(f"volume {k}: mean {v['mean']:.0f} sd {v['sd']:.0f} mm3, percentiles 10/25/50/75/90 "
              + "/".join(f"{x:.0f}" for x in v["p10_25_50_75_90"]))
    print(f"rim+ share of lesions > 100 mm3: {100 * res['rim_positive_share_of_lesions_over_100mm3']:.1f}%")
    print("appearance:", res["appearance"])
    print("confounders:", res["confounders"])
    print(f"rim+ coverage median {res['rim_positive_coverage_median']:.2f}, rim+ measured rim-core contrast median "
          f"{res['rim_positive_contrast_ppb_median']:.1f} ppb, FLAIR lesion/ring median {res['flair_ratio_median']:.3f}")
    if res["pr"]:
        print(f"\n| statistic | better direction | average precision | PR area (trapezoid) | ROC AUC |")
        print("|---|---|---|---|---|")
        for s, v in res["pr"].items():
            print(f"| {s} | {v['direction']} | {v['average_precision']:.3f} | {v['pr_auc_trapezoid']:.3f} | {v['roc_auc']:.3f} |")
        print(f"| (random score) | | {res['prevalence']:.3f} | | 0.5 |")
    if a.classifier and 0 < y.sum() < len(y):
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.model_selection import StratifiedGroupKFold

        X = np.array([d["features"] for d in rows])
        groups = np.array([d["subject"] for d in rows])
        n_pos_subjects = len(set(groups[y == 1]))
        if n_pos_subjects < 5:
            sys.exit(f"--classifier: 5 folds by subject need at least 5 subjects with rim+ lesions, the cohort has "
                     f"{n_pos_subjects}")
        p = np.zeros(len(y))
        for tr, te in StratifiedGroupKFold(5, shuffle=True, random_state=0).split(X, y, groups):
            rf = RandomForestClassifier(500, min_samples_leaf=2, class_weight="balanced_subsample", random_state=0)
            p[te] = rf.fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
        pr, rc, _ = precision_recall_curve(y, p)
        res["classifier"] = {"average_precision": float(average_precision_score(y, p)), "pr_auc_trapezoid": float(auc(rc, pr)),
                             "roc_auc": float(roc_auc_score(y, p))}
        c = res["classifier"]
        print(f"\nrandom forest on 12 hand-made features (5 folds by subject): average precision {c['average_precision']:.3f}, "
              f"PR area {c['pr_auc_trapezoid']:.3f}, ROC AUC {c['roc_auc']:.3f}")
    for d in rows:
        d.pop("features", None)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    if a.max_ap is not None and res["pr"]:
        worst = max(max(res["pr"][s]["average_precision"], res["pr"][s]["pr_auc_trapezoid"]) for s in HARD)
        if worst > a.max_ap:
            print(f"FAIL: a hand-made statistic reaches PR area {worst:.3f} > {a.max_ap}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
