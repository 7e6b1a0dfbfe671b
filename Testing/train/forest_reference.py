#!/usr/bin/env python3
"""Reference for the random-forest test: a fixed synthetic dataset and scikit-learn's forest on it.

usage: forest_reference.py OUTDIR
Writes OUTDIR/train.tsv and OUTDIR/test.tsv (label then features, one row per sample) and
OUTDIR/sklearn.txt with the test accuracy and ROC AUC of RandomForestClassifier(500 trees,
max_features=4) averaged over 5 random states.
"""
import os
import sys

import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, roc_auc_score

out = sys.argv[1]
X, y = make_classification(n_samples=2000, n_features=12, n_informative=5, n_redundant=3, weights=[0.8, 0.2],
                           flip_y=0.03, class_sep=0.9, random_state=42)
Xtr, ytr, Xte, yte = X[:1400], y[:1400], X[1400:], y[1400:]
np.savetxt(os.path.join(out, "train.tsv"), np.column_stack([ytr, Xtr]), fmt="%.17g", delimiter="\t")
np.savetxt(os.path.join(out, "test.tsv"), np.column_stack([yte, Xte]), fmt="%.17g", delimiter="\t")
acc, auc = [], []
for rs in range(5):
    rf = RandomForestClassifier(n_estimators=500, max_features=4, random_state=rs, n_jobs=2).fit(Xtr, ytr)
    p = rf.predict_proba(Xte)[:, 1]
    acc.append(accuracy_score(yte, p >= 0.5))
    auc.append(roc_auc_score(yte, p))
with open(os.path.join(out, "sklearn.txt"), "w") as f:
    f.write("%r %r %r %r\n" % (float(np.mean(acc)), float(np.mean(auc)), float(np.ptp(acc)), float(np.ptp(auc))))
