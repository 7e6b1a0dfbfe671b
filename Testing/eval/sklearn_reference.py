#!/usr/bin/env python3
"""Reference values for the metric tests, computed by scikit-learn, SciPy and NumPy.

usage: sklearn_reference.py CASE.tsv [CASE.tsv ...]

Each CASE.tsv holds one scored set, one item per line: `label score weight` (weight 1 for all
items means an unweighted case; the weights are then not passed to scikit-learn). For each case
CASE.tsv.ref is written, one quantity per line: `name v1 v2 ...` (repr floats, so values travel
exactly).
"""
import sys

import numpy as np
from scipy import stats
from sklearn import metrics


def fmt(name, values):
    return name + " " + " ".join(repr(float(v)) for v in np.atleast_1d(values)) + "\n"


def reference(path):
    data = np.loadtxt(path, ndmin=2)
    y = data[:, 0].astype(int)
    s = data[:, 1]
    w = data[:, 2]
    sw = None if np.all(w == 1) else w
    out = []
    fpr, tpr, thr = metrics.roc_curve(y, s, sample_weight=sw)
    out.append(fmt("roc_fpr", fpr))
    out.append(fmt("roc_tpr", tpr))
    out.append(fmt("roc_thr", thr))
    out.append(fmt("roc_auc", metrics.roc_auc_score(y, s, sample_weight=sw)))
    out.append(fmt("proc_auc", metrics.roc_auc_score(y, s, sample_weight=sw, max_fpr=0.1)))
    out.append(fmt("proc_auc_03", metrics.roc_auc_score(y, s, sample_weight=sw, max_fpr=0.3)))
    prec, rec, pthr = metrics.precision_recall_curve(y, s, sample_weight=sw)
    out.append(fmt("pr_precision", prec))
    out.append(fmt("pr_recall", rec))
    out.append(fmt("pr_thr", pthr))
    out.append(fmt("ap", metrics.average_precision_score(y, s, sample_weight=sw)))

    # F1-optimal threshold by brute force with f1_score; lowest threshold among (near-)equal maxima.
    ts = np.unique(s[w > 0]) if sw is not None else np.unique(s)
    f1s = np.array([metrics.f1_score(y, (s >= t).astype(int), sample_weight=sw, zero_division=0) for t in ts])
    best = f1s.max()
    out.append(fmt("f1_best", best))
    out.append(fmt("f1_threshold", ts[np.nonzero(f1s >= best - 1e-12)[0].min()]))

    # High-sensitivity threshold: largest recall <= 0.95, the highest threshold reaching it.
    recs = np.array([metrics.recall_score(y, (s >= t).astype(int), sample_weight=sw) for t in ts])
    ok = recs <= 0.95 + 1e-12
    if ok.any():
        target = recs[ok].max()
        t = ts[np.nonzero(ok & (np.abs(recs - target) <= 1e-12))[0].max()]
    else:
        t = ts.max()
    out.append(fmt("sens_threshold", t))
    out.append(fmt("sens_value", metrics.recall_score(y, (s >= t).astype(int), sample_weight=sw)))

    # Confusion counts and derived metrics at the F1 threshold.
    d = (s >= ts[np.nonzero(f1s >= best - 1e-12)[0].min()]).astype(int)
    tn, fp, fn, tp = metrics.confusion_matrix(y, d, sample_weight=sw, labels=[0, 1]).ravel()
    out.append(fmt("confusion", [tp, fp, fn, tn]))
    out.append(fmt("accuracy", metrics.accuracy_score(y, d, sample_weight=sw)))
    out.append(fmt("precision", metrics.precision_score(y, d, sample_weight=sw, zero_division=0)))

    # Correlation and MSE of the score against the label weight column (any two vectors do).
    res = stats.pearsonr(s, w + 0.37 * s * s)
    ci = res.confidence_interval(confidence_level=0.95)
    out.append(fmt("pearson", [res.statistic, ci.low, ci.high]))
    out.append(fmt("mse", metrics.mean_squared_error(s, w + 0.37 * s * s)))
    out.append(fmt("percentiles", np.percentile(s, [2.5, 50, 97.5])))
    with open(path + ".ref", "w") as f:
        f.writelines(out)


if __name__ == "__main__":
    for p in sys.argv[1:]:
        reference(p)
