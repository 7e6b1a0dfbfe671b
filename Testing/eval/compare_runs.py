#!/usr/bin/env python3
"""Compare the out-of-fold probabilities of two `qsmrim evaluate` runs on the same cohort and folds.

  compare_runs.py RUN_A RUN_B

RUN_A and RUN_B are evaluate report folders (each holds .work-<name>/foldK-seedS.tsv, the
probability of every held-out lesion per fold and seed). Printed, per lesion:
  - A vs B for every seed both have (median, 90th percentile and largest |P_A - P_B|, Pearson r);
  - the same between the seeds of each run (how much a different seed alone moves the model);
  - each run's pooled average precision and ROC AUC per seed (scikit-learn; labels from the
    run's predictions.tsv).
A change that moves probabilities less than a different seed does, and keeps the pooled metrics
inside the seeds' spread, has no effect the cohort can show.
"""
import glob
import itertools
import os
import sys

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def load(run):
    work = glob.glob(os.path.join(run, ".work-*"))
    if len(work) != 1:
        sys.exit(f"{run}: expected one .work-<name> folder, found {len(work)}")
    prob = {}
    for f in glob.glob(os.path.join(work[0], "fold*-seed*.tsv")):
        seed = int(f.rsplit("seed", 1)[1].split(".")[0])
        rows = [line for line in open(f) if not line.startswith("#")]  # "# engine: ..." first
        for line in rows[1:]:
            _, subject, lesion, p = line.rstrip("\n").split("\t")
            prob.setdefault(seed, {})[(subject, int(lesion))] = float(p)
    labels = {}
    for line in list(open(os.path.join(run, "predictions.tsv")))[1:]:
        f = line.split("\t")
        labels[(f[0], int(f[1]))] = int(f[3])
    return prob, labels


def row(name, u, v):
    d = np.abs(u - v)
    print(f"  {name:28s} |dP| median {np.median(d):.4f}  90th pct {np.percentile(d, 90):.4f}  "
          f"max {d.max():.3f}  r {np.corrcoef(u, v)[0, 1]:.4f}")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    (pa, la), (pb, lb) = load(sys.argv[1]), load(sys.argv[2])
    if la != lb:
        sys.exit("the two runs did not score the same lesions with the same labels")
    keys = sorted(la)
    y = np.array([la[k] for k in keys])

    def vec(p, s):
        missing = [k for k in keys if k not in p[s]]
        if missing:
            sys.exit(f"seed {s}: {len(missing)} lesions without a probability (unfinished run?)")
        return np.array([p[s][k] for k in keys])

    a, b = os.path.basename(sys.argv[1].rstrip("/")), os.path.basename(sys.argv[2].rstrip("/"))
    print(f"{len(keys)} lesions, {int(y.sum())} rim+")
    print(f"{a} vs {b}, same seed:")
    for s in sorted(set(pa) & set(pb)):
        row(f"seed {s}", vec(pa, s), vec(pb, s))
    for name, p in ((a, pa), (b, pb)):
        if len(p) > 1:
            print(f"{name}, one seed against another:")
            for s, t in itertools.combinations(sorted(p), 2):
                row(f"seed {t} vs seed {s}", vec(p, t), vec(p, s))
    print("pooled out-of-fold metrics (scikit-learn):")
    for name, p in ((a, pa), (b, pb)):
        for s in sorted(p):
            v = vec(p, s)
            print(f"  {name} seed {s}: average precision {average_precision_score(y, v):.3f}, "
                  f"ROC AUC {roc_auc_score(y, v):.3f}")


if __name__ == "__main__":
    main()
