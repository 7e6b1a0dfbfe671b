#!/usr/bin/env bash
# `qsmrim predict` with the shipped demonstration model on phantom subjects it has not seen (its
# training cohort used seed 1): outputs and their agreement, decisions and thresholds, test-time
# one pass and test-time flips, determinism, the model's ranking of the simulated truth, and bad input (wrong model, empty
# mask, NaN voxels, an all-NaN QSM, +-1e9 voxels, an output with no image extension, a damaged
# model file, one-voxel lesion, lesion at the volume edge, another grid, no overlap).
#   $1 = the slicer_io helper (Testing/predict/slicer_io.c)
set -euo pipefail
IO=$1
PY=${QSMRIM_PYTHON:-/usr/bin/python3}
"$PY" -c "import nibabel, numpy" 2>/dev/null || { echo "python3-nibabel/numpy missing: skipped"; exit 77; }
W=$(mktemp -d "${TMPDIR:-/tmp}/qsmrim_predict.XXXXXX")
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
pred() { # subject-dir out-prefix extra-args...
  local s=$1 o=$2; shift 2
  local n; n=$(basename "$s")
  "$QSMRIM" predict --qsm "$s/${n}_qsm.nii.gz" --flair "$s/${n}_flair.nii.gz" --lesions "$s/${n}_lesions.nii.gz" \
    --out-labels "$o.overlay.nii.gz" --out-probability "$o.prob.nii.gz" --out-table "$o.tsv" "$@"
}

refused() { # what stderr-pattern table-output predict-args...: exit 1, the message, no table written
  local what=$1 pat=$2 tsv=$3 rc=0; shift 3
  "$QSMRIM" predict --out-table "$tsv" "$@" 2>"$W/refused.err" >/dev/null || rc=$?
  [ $rc -eq 1 ] && grep -q "$pat" "$W/refused.err" || fail "$what: rc $rc $(cat "$W/refused.err")"
  [ ! -e "$tsv" ] || fail "$what: the refused run wrote $tsv"
}

"$QSMRIM" phantom --out "$W/ph" --subjects 4 --seed 5 --quiet
S="$W/ph/sub-001"

echo "== 1. outputs agree with each other and with the decision rule; stdout summary"
pred "$S" "$W/a" >"$W/a.stdout" 2>"$W/a.stderr"
cat "$W/a.stdout"
"$PY" - "$W/a" "$S/sub-001_lesions.nii.gz" "$W/a.stdout" <<'EOF'
import sys, re, nibabel as nib, numpy as np
a, lesf, out = sys.argv[1:4]
lab = np.asarray(nib.load(lesf).dataobj).astype(int)
ov = np.asarray(nib.load(a + ".overlay.nii.gz").dataobj).astype(int)
pr = np.asarray(nib.load(a + ".prob.nii.gz").dataobj).astype(np.float64)
rows = [l.rstrip("\n").split("\t") for l in open(a + ".tsv")]
assert rows[0] == "lesion_id volume_mm3 center_r center_a center_s probability uncertainty decision".split()
rows = rows[1:]
ids = sorted(int(r[0]) for r in rows)
assert ids == sorted(set(np.unique(lab)) - {0}), "table lesions != label map lesions"
p = np.array([float(r[5]) for r in rows])
assert np.all(np.diff(p) <= 0), "not sorted by probability"
assert np.all((p >= 0) & (p <= 1)) and np.all(np.array([float(r[6]) for r in rows]) >= 0)
code = {"rim-": 1, "review": 2, "rim+": 3}
for r in rows:
    m = lab == int(r[0])
    assert np.all(ov[m] == code[r[7]]), r
    assert np.allclose(pr[m], float(r[5]), rtol=0, atol=5.1e-7), r  # the table has 6 decimals
    vox = np.prod(nib.load(lesf).header.get_zooms()[:3])
    assert abs(m.sum() * vox - float(r[1])) < 1e-9 * float(r[1]), ("volume", r)  # printed in full
    # the centre: the mean of the lesion's voxel positions in RAS mm (columns center_r center_a center_s, 3 decimals)
    aff = nib.load(lesf).affine
    ras = aff[:3, :3] @ np.argwhere(m).mean(axis=0) + aff[:3, 3]
    assert np.allclose(ras, [float(r[2]), float(r[3]), float(r[4])], rtol=0, atol=1e-3), ("centre", r, ras)
assert np.all(ov[lab == 0] == 0) and np.all(pr[lab == 0] == 0)
s = open(out).read()
m = re.search(r"lesions=(\d+) rim_positive=(\d+) review=(\d+)", s)
assert m, s
dec = [r[7] for r in rows]
assert (int(m.group(1)), int(m.group(2)), int(m.group(3))) == (len(rows), dec.count("rim+"), dec.count("review")), s
# the decision rule: rim+ at or above the F1 threshold, review from the sensitive one up
pos = [float(r[5]) for r in rows if r[7] == "rim+"]; rev = [float(r[5]) for r in rows if r[7] == "review"]
neg = [float(r[5]) for r in rows if r[7] == "rim-"]
if pos and (rev or neg): assert min(pos) > max(rev + neg)
if rev and neg: assert min(rev) > max(neg)
print("%d lesions: overlay, probability map, volumes, order, summary consistent" % len(rows))
EOF
t_f1=$(grep -o 'threshold [0-9.]*' "$W/a.stderr" | head -1 | cut -d' ' -f2)
[ -n "$t_f1" ] || fail "no threshold reported: $(cat "$W/a.stderr")"
awk -F'\t' -v t="$t_f1" 'NR > 1 && (($6 >= t) != ($8 == "rim+")) { bad = 1 } END { exit bad }' "$W/a.tsv" ||
  fail "rim+ rows do not match P >= $t_f1"

echo "== 2. same inputs, same bytes; threshold modes"
pred "$S" "$W/b" --quiet >/dev/null
cmp "$W/a.tsv" "$W/b.tsv" || fail "two runs differ"
pred "$S" "$W/s" --threshold sensitive --quiet >/dev/null
grep -q $'\treview$' "$W/s.tsv" && fail "--threshold sensitive must not leave a review band"
[ "$(awk -F'\t' 'NR > 1 && $8 == "rim+"' "$W/s.tsv" | wc -l)" -ge "$(awk -F'\t' 'NR > 1 && $8 == "rim+"' "$W/a.tsv" | wc -l)" ] ||
  fail "the sensitive threshold found fewer rim+ than the F1 one"
pred "$S" "$W/v" --threshold 0.5 --quiet >/dev/null
awk -F'\t' 'NR > 1 && (($6 >= 0.5) != ($8 == "rim+")) { bad = 1 } END { exit bad }' "$W/v.tsv" || fail "--threshold 0.5"
# a model whose stored high-sensitivity threshold lies above its F1 threshold (edited, or written by
# another tool): the sensitive threshold is taken as the F1 one (predict.h), so --threshold
# sensitive calls rim+ from t_f1 on and the F1 mode has no review band. Thresholds placed around
# the subject's top probability: without that rule no lesion would be rim+.
cp "$QSMRIM_SOURCE_DIR/Resources/models/qsmrim_demo.h5" "$W/swapped.h5"
pmax=$(awk -F'\t' 'NR == 2 { print $6 }' "$W/a.tsv")
"$PY" - "$W/swapped.h5" "$pmax" <<'EOF'
import sys, h5py
p = float(sys.argv[2])
with h5py.File(sys.argv[1], "r+") as f:
    f.attrs["threshold_f1"] = p / 2
    f.attrs["threshold_sensitive"] = (p + 1) / 2
EOF
"$PY" "$QSMRIM_SOURCE_DIR/Resources/python/h5seal.py" "$W/swapped.h5" >/dev/null
pred "$S" "$W/sw" --model "$W/swapped.h5" --threshold sensitive --quiet >/dev/null
pred "$S" "$W/sw1" --model "$W/swapped.h5" --quiet >/dev/null
want=$(awk -F'\t' -v t="$pmax" 'NR > 1 && $6 >= t / 2' "$W/a.tsv" | wc -l)
[ "$want" -ge 1 ] && [ "$(grep -c $'\trim+$' "$W/sw.tsv")" -eq "$want" ] && [ "$(grep -c $'\trim+$' "$W/sw1.tsv")" -eq "$want" ] &&
  ! grep -q $'\treview$' "$W/sw1.tsv" ||
  fail "stored sensitive threshold above the F1 one: $(cut -f1,6,8 "$W/sw.tsv" | head -4 | tr '\n' ' ') (want $want rim+)"

echo "== 2b. --precision tf32 (TF32 rounding, emulated on the CPU): small changes; QSMRIM_PRECISION does the same"
pred "$S" "$W/t" --precision tf32 --device cpu 2>"$W/t.stderr" >/dev/null || fail "--precision tf32: $(cat "$W/t.stderr")"
QSMRIM_PRECISION=tf32 pred "$S" "$W/t2" --device cpu --quiet >/dev/null
cmp "$W/t.tsv" "$W/t2.tsv" || fail "QSMRIM_PRECISION=tf32 and --precision tf32 differ"
"$PY" - "$W/a.tsv" "$W/t.tsv" <<'EOF'
import sys
a = {l.split("\t")[0]: float(l.split("\t")[5]) for l in list(open(sys.argv[1]))[1:]}
t = {l.split("\t")[0]: float(l.split("\t")[5]) for l in list(open(sys.argv[2]))[1:]}
assert a.keys() == t.keys()
d = [abs(a[k] - t[k]) for k in a]
print("TF32 vs FP32: largest probability change %.2e over %d lesions, %d changed" % (max(d), len(d), sum(x > 0 for x in d)))
assert max(d) < 1e-2, max(d)   # rounding, not a different model
assert max(d) > 0, "TF32 changed nothing: the rounding is not applied"
EOF
set +e
pred "$S" "$W/bad" --precision half 2>"$W/ep" >/dev/null; rc=$?
[ $rc -eq 2 ] && grep -q "unknown precision 'half' (fp32 or tf32)" "$W/ep" || fail "--precision half: rc $rc $(cat "$W/ep")"
QSMRIM_PRECISION=fp16 pred "$S" "$W/bad" 2>"$W/ep" >/dev/null; rc=$?
[ $rc -eq 1 ] && grep -q "QSMRIM_PRECISION='fp16': expected fp32 or tf32" "$W/ep" || fail "QSMRIM_PRECISION=fp16: rc $rc $(cat "$W/ep")"
set -e
[ ! -e "$W/bad.tsv" ] || fail "a run with a bad precision wrote a table"

echo "== 3. one pass by default (--no-flips the same); --flips: the mean of three passes"
pred "$S" "$W/nf" --no-flips --quiet >/dev/null
cmp "$W/a.tsv" "$W/nf.tsv" || fail "the default is not one pass (--no-flips)"
awk -F'\t' 'NR > 1 && $7 != 0 { bad = 1 } END { exit bad }' "$W/nf.tsv" || fail "one pass: uncertainty must be 0"
pred "$S" "$W/fl" --flips --quiet >/dev/null
awk -F'\t' 'NR > 1 && $7 > 0 { n++ } END { exit !(n > 0) }' "$W/fl.tsv" || fail "--flips: no lesion has a spread"
# mean of 3 passes vs 1 pass: |mean - p0| <= sqrt(2) * sd (population sd of the 3 values)
"$PY" - "$W/fl.tsv" "$W/nf.tsv" <<'EOF'
import sys
a = {l.split("\t")[0]: l.split("\t") for l in list(open(sys.argv[1]))[1:]}
b = {l.split("\t")[0]: l.split("\t") for l in list(open(sys.argv[2]))[1:]}
for k in a:
    m, sd, p0 = float(a[k][5]), float(a[k][6]), float(b[k][5])
    assert abs(m - p0) <= 2 ** 0.5 * sd + 1e-6, (k, m, sd, p0)
print("flipped means within the bound of their spread")
EOF

echo "== 3b. storage order: the same images stored as RAS, as radiological LAS and with the axes permuted give the same table; outputs stay on the grid given"
"$PY" - "$S" "$W/ord" <<'EOF'
import sys, os, nibabel as nib, numpy as np
s, w = sys.argv[1:3]
n = os.path.basename(s)
variants = {
    "ras": nib.orientations.axcodes2ornt("RAS"),
    "las": nib.orientations.axcodes2ornt("LAS"),
    "perm": nib.orientations.axcodes2ornt("SRA"),  # slices along i: a sagittal-like storage
}
for v, target in variants.items():
    os.makedirs(w + "/" + v + "/" + n, exist_ok=True)
    for kind in ("qsm", "flair", "lesions"):
        im = nib.load("%s/%s_%s.nii.gz" % (s, n, kind))
        cur = nib.orientations.io_orientation(im.affine)
        out = im.as_reoriented(nib.orientations.ornt_transform(cur, target))
        out.set_data_dtype(im.get_data_dtype())
        nib.save(out, "%s/%s/%s/%s_%s.nii.gz" % (w, v, n, n, kind))
EOF
for v in ras las perm; do
  pred "$W/ord/$v/sub-001" "$W/ord/$v" 2>"$W/ord/$v.stderr" >/dev/null || fail "storage $v: $(cat "$W/ord/$v.stderr")"
  cmp "$W/a.tsv" "$W/ord/$v.tsv" || fail "storage $v: another table than the LPS-stored subject: $(diff "$W/a.tsv" "$W/ord/$v.tsv" | head -5)"
  grep -q "is not stored with i -> Left, j -> Posterior, k -> Superior" "$W/ord/$v.stderr" || fail "storage $v: no notice"
done
grep -q "is not stored with" "$W/a.stderr" && fail "the LPS-stored subject got the reordering notice"
"$PY" - "$W/a" "$W/ord" <<'EOF'
import sys, nibabel as nib, numpy as np
a, w = sys.argv[1:3]
ref = nib.as_closest_canonical(nib.load(a + ".overlay.nii.gz"))
for v in ("ras", "las", "perm"):
    les = nib.load("%s/%s/sub-001/sub-001_lesions.nii.gz" % (w, v))
    ov = nib.load("%s/%s.overlay.nii.gz" % (w, v))
    assert ov.shape == les.shape and np.allclose(ov.affine, les.affine, atol=1e-4), (v, ov.shape, les.shape)
    assert np.array_equal(np.asarray(nib.as_closest_canonical(ov).dataobj), np.asarray(ref.dataobj)), v
print("overlays on the grid given, the same in space")
EOF

echo "== 3d. an oblique subject whose FLAIR alone is stored in another axis order: the same table (reordered, not interpolated)"
"$PY" - "$S" "$W/obl" <<'EOF'
import sys, os, nibabel as nib, numpy as np
s, w = sys.argv[1:3]
n = os.path.basename(s)
def rz(deg):
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t), 0, 0], [np.sin(t), np.cos(t), 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
for v in ("same", "mixed", "t40"):
    rot = rz(40.0 if v == "t40" else 15.0)
    os.makedirs("%s/%s/%s" % (w, v, n), exist_ok=True)
    for kind in ("qsm", "flair", "lesions"):
        im = nib.load("%s/%s_%s.nii.gz" % (s, n, kind))
        out = nib.Nifti1Image(np.asarray(im.dataobj), rot @ im.affine)
        if v == "mixed" and kind == "flair":
            cur = nib.orientations.io_orientation(out.affine)
            out = out.as_reoriented(nib.orientations.ornt_transform(cur, nib.orientations.axcodes2ornt("RAS")))
        out.set_data_dtype(im.get_data_dtype())
        nib.save(out, "%s/%s/%s/%s_%s.nii.gz" % (w, v, n, n, kind))
EOF
for v in same mixed t40; do
  pred "$W/obl/$v/sub-001" "$W/obl/$v" 2>"$W/obl/$v.stderr" >/dev/null || fail "oblique $v: $(cat "$W/obl/$v.stderr")"
done
# 15 degrees: the order of the nearest axes is clear; 40 degrees: near the tie, said
grep -q "degrees from the patient axis" "$W/obl/same.stderr" && fail "15 degrees oblique got the near-45 warning: $(cat "$W/obl/same.stderr")"
grep -q "sub-001_qsm.nii.gz: an axis of its grid lies 40.0 degrees from the patient axis it is read along" "$W/obl/t40.stderr" ||
  fail "40 degrees oblique: no warning: $(cat "$W/obl/t40.stderr")"
cmp "$W/obl/same.tsv" "$W/obl/mixed.tsv" || fail "oblique, FLAIR in another order: another table: $(diff "$W/obl/same.tsv" "$W/obl/mixed.tsv" | head -5)"
grep -q "is stored in another axis order than .*no interpolation" "$W/obl/mixed.stderr" || fail "no reordering notice for the FLAIR: $(cat "$W/obl/mixed.stderr")"
grep -q "resampled" "$W/obl/mixed.stderr" && fail "the FLAIR was resampled: $(cat "$W/obl/mixed.stderr")"

echo "== 3e. voxels other than the model's training voxels (0.75 x 0.75 x 3 mm) are warned about; the phantom's are not"
grep -q "differ from the .* mm the model was trained on" "$W/a.stderr" && fail "a subject on the training grid got the voxel-size warning"
mkdir -p "$W/iso/sub-001"
"$PY" - "$S" "$W/iso/sub-001" <<'EOF'
import sys, nibabel as nib, numpy as np
s, o = sys.argv[1:3]
for kind in ("qsm", "flair", "lesions"):
    im = nib.load("%s/sub-001_%s.nii.gz" % (s, kind))
    aff = im.affine.copy()
    aff[:3, :3] = aff[:3, :3] / np.array(im.header.get_zooms()[:3])  # 1 mm voxels, same directions
    out = nib.Nifti1Image(np.asarray(im.dataobj), aff)
    out.set_data_dtype(im.get_data_dtype())
    nib.save(out, "%s/sub-001_%s.nii.gz" % (o, kind))
EOF
pred "$W/iso/sub-001" "$W/iso/p" 2>"$W/iso.stderr" >/dev/null || fail "1 mm subject: $(cat "$W/iso.stderr")"
grep -q "voxels of 1 x 1 x 1 mm (L, P, S) differ from the 0.75 x 0.75 x 3 mm the model was trained on" "$W/iso.stderr" ||
  fail "no voxel-size warning for 1 mm voxels: $(cat "$W/iso.stderr")"

echo "== 3f. QSM and FLAIR given the other way round, or a QSM in ppm: warned about; the phantom as it is: not"
grep -q "voxels clearly below 0" "$W/a.stderr" && fail "a subject given the right way round got the swap warning: $(cat "$W/a.stderr")"
# spline resampling of a skull-stripped FLAIR leaves values of both signs near 1e-21 across the
# background: no warning for them
"$PY" - "$S/sub-001_flair.nii.gz" "$W/flair_ringing.nii.gz" <<'EOF'
import sys, nibabel as nib, numpy as np
im = nib.load(sys.argv[1])
d = np.asarray(im.dataobj).astype(np.float32)
bg = d == 0
d[bg] = np.where(np.indices(d.shape).sum(0)[bg] % 2 == 0, 1e-21, -1e-21)
assert (d < 0).sum() > 0.3 * (d != 0).sum()
nib.save(nib.Nifti1Image(d, im.affine), sys.argv[2])
EOF
"$QSMRIM" predict --qsm "$S/sub-001_qsm.nii.gz" --flair "$W/flair_ringing.nii.gz" --lesions "$S/sub-001_lesions.nii.gz" \
  --out-table "$W/ringing.tsv" >/dev/null 2>"$W/ringing.stderr" || fail "ringing FLAIR: $(cat "$W/ringing.stderr")"
grep -q "clearly below 0" "$W/ringing.stderr" && fail "interpolation ringing taken for a swap: $(cat "$W/ringing.stderr")"
# a QSM in ppm instead of ppb (a thousand times smaller): warned about; the phantom's ppb: not
grep -q "is it in ppm" "$W/a.stderr" && fail "a QSM in ppb taken for ppm: $(cat "$W/a.stderr")"
"$PY" - "$S/sub-001_qsm.nii.gz" "$W/qsm_ppm.nii.gz" <<'EOF'
import sys, nibabel as nib, numpy as np
im = nib.load(sys.argv[1])
nib.save(nib.Nifti1Image((np.asarray(im.dataobj) / 1000.0).astype(np.float32), im.affine), sys.argv[2])
EOF
"$QSMRIM" predict --qsm "$W/qsm_ppm.nii.gz" --flair "$S/sub-001_flair.nii.gz" --lesions "$S/sub-001_lesions.nii.gz" \
  --out-table "$W/ppm.tsv" >/dev/null 2>"$W/ppm.stderr" || fail "ppm QSM: $(cat "$W/ppm.stderr")"
grep -q "warning: $W/qsm_ppm.nii.gz: 99% of its voxels lie within +-0.0[0-9]*, a thousand times less than a susceptibility map in ppb; is it in ppm" \
  "$W/ppm.stderr" || fail "no units warning for a QSM in ppm: $(cat "$W/ppm.stderr")"
"$QSMRIM" predict --qsm "$S/sub-001_flair.nii.gz" --flair "$S/sub-001_qsm.nii.gz" --lesions "$S/sub-001_lesions.nii.gz" \
  --out-table "$W/swap.tsv" >/dev/null 2>"$W/swap.stderr" || fail "swapped inputs: $(cat "$W/swap.stderr")"
grep -q "warning: $S/sub-001_flair.nii.gz has none of its voxels clearly below 0, .* is it a FLAIR or magnitude image, and the FLAIR the QSM (swapped)?" \
  "$W/swap.stderr" || fail "no swap warning: $(cat "$W/swap.stderr")"

echo "== 3c. --lesion-input: a map of one lesion labelled 4, in two pieces: auto splits it, labels keeps lesion 4"
"$PY" - "$S/sub-001_lesions.nii.gz" "$W/one4.nii.gz" <<'EOF'
import sys, nibabel as nib, numpy as np
im = nib.load(sys.argv[1]); lab = np.asarray(im.dataobj).astype(np.int32)
ids, counts = np.unique(lab[lab > 0], return_counts=True)
a, b = ids[np.argsort(-counts)[:2]]
nib.save(nib.Nifti1Image(np.where((lab == a) | (lab == b), 4, 0).astype(np.int32), im.affine), sys.argv[2])
EOF
LI=(--qsm "$S/sub-001_qsm.nii.gz" --flair "$S/sub-001_flair.nii.gz" --lesions "$W/one4.nii.gz" --quiet)
"$QSMRIM" predict "${LI[@]}" --out-table "$W/li-auto.tsv" >/dev/null
"$QSMRIM" predict "${LI[@]}" --out-table "$W/li-labels.tsv" --lesion-input labels >/dev/null
[ "$(cut -f1 "$W/li-auto.tsv" | tail -n +2 | sort | tr '\n' ' ')" = "1 2 " ] || fail "auto: $(cat "$W/li-auto.tsv")"
[ "$(cut -f1 "$W/li-labels.tsv" | tail -n +2 | tr '\n' ' ')" = "4 " ] || fail "--lesion-input labels: $(cat "$W/li-labels.tsv")"
set +e
"$QSMRIM" predict "${LI[@]}" --out-table "$W/li-bad.tsv" --lesion-input blobs 2>"$W/li.err" >/dev/null; rc=$?
set -e
[ $rc -eq 2 ] && grep -q "lesion-input must be auto, mask or labels, got 'blobs'" "$W/li.err" || fail "--lesion-input blobs: rc $rc $(cat "$W/li.err")"

echo "== 4. the model ranks the phantom's truth (4 unseen subjects)"
for s in "$W"/ph/sub-*; do pred "$s" "$W/$(basename "$s")" --quiet >/dev/null; done
"$PY" - "$W" <<'EOF'
import sys, glob, os
from sklearn.metrics import roc_auc_score
w = sys.argv[1]
y, p = [], []
for ann in sorted(glob.glob(w + "/ph/sub-*/sub-*_annotations.tsv")):
    sub = os.path.basename(os.path.dirname(ann))
    truth = {l.split("\t")[0]: int(l.split("\t")[1]) for l in list(open(ann))[1:]}
    for l in list(open("%s/%s.tsv" % (w, sub)))[1:]:
        f = l.split("\t"); y.append(truth[f[0]]); p.append(float(f[5]))
auc = roc_auc_score(y, p)
print("%d lesions, %d rim+: ROC AUC %.3f (scikit-learn)" % (len(y), sum(y), auc))
assert sum(y) >= 2 and auc >= 0.85, auc
EOF

echo "== 5. bad input"
cp "$W/a.tsv" "$W/keep.tsv"
set +e
"$QSMRIM" predict --qsm "$S/sub-001_qsm.nii.gz" --flair "$S/sub-001_flair.nii.gz" --lesions "$S/sub-001_lesions.nii.gz" \
  --model "$S/sub-001_qsm.nii.gz" --out-table "$W/keep.tsv" 2>"$W/e1"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "error: .*sub-001_qsm.nii.gz" "$W/e1" || fail "wrong model file: rc $rc $(cat "$W/e1")"
cmp "$W/a.tsv" "$W/keep.tsv" || fail "a failed run changed an existing output"

"$PY" - "$S" "$W" <<'EOF'
import sys, numpy as np, nibabel as nib
s, w = sys.argv[1:3]
q = nib.load(s + "/sub-001_qsm.nii.gz"); l = nib.load(s + "/sub-001_lesions.nii.gz")
lab = np.asarray(l.dataobj).astype(np.int32)
# empty mask
nib.save(nib.Nifti1Image(np.zeros_like(lab), l.affine), w + "/empty.nii.gz")
# NaN voxels in the QSM (a corner of the volume, outside the brain, and 5 voxels in lesion 1)
qa = np.asarray(q.dataobj).astype(np.float32).copy()
qa[:4, :4, :4] = np.nan
qa[tuple(np.argwhere(lab == 1)[:5].T)] = np.nan
nib.save(nib.Nifti1Image(qa, q.affine), w + "/nan_qsm.nii.gz")
# two corrupt voxels of +-1e9 ppb in lesion 1
qb = np.asarray(q.dataobj).astype(np.float32).copy()
one = np.argwhere(lab == 1)
qb[tuple(one[0])] = 1e9; qb[tuple(one[1])] = -1e9
nib.save(nib.Nifti1Image(qb, q.affine), w + "/huge_qsm.nii.gz")
# lesion 1 all at 1e30 ppb: next to such values a bin width of 25 is lost
qc = np.asarray(q.dataobj).astype(np.float32).copy()
qc[lab == 1] = 1e30
nib.save(nib.Nifti1Image(qc, q.affine), w + "/huge30_qsm.nii.gz")
# lesion 2 shifted by 1e7 ppb in the QSM, lesion 1 at 1e38 in the FLAIR: scored, but each named
qd = np.asarray(q.dataobj).astype(np.float32).copy()
qd[lab == 2] += 1e7
nib.save(nib.Nifti1Image(qd, q.affine), w + "/off_qsm.nii.gz")
f = nib.load(s + "/sub-001_flair.nii.gz")
fd = np.asarray(f.dataobj).astype(np.float32).copy()
fd[lab == 1] = 1e38
nib.save(nib.Nifti1Image(fd, f.affine), w + "/huge_flair.nii.gz")
# a QSM without one finite voxel (a failed reconstruction)
nib.save(nib.Nifti1Image(np.full(qa.shape, np.nan, np.float32), q.affine), w + "/allnan_qsm.nii.gz")
# a one-voxel lesion and a lesion cut by the volume edge, added as new labels
lab2 = lab.copy(); free = lab2 == 0
lab2[10, 128, 24] = 900
lab2[0:3, 100:104, 20:22] = 901
nib.save(nib.Nifti1Image(lab2, l.affine), w + "/edge_lesions.nii.gz")
# FLAIR on another grid: 2x coarser in-plane, shifted by half a voxel (overlapping)
f = nib.load(s + "/sub-001_flair.nii.gz"); fa = np.asarray(f.dataobj).astype(np.float32)
aff = f.affine.copy(); aff[:3, :2] *= 2; aff[:3, 3] += aff[:3, 0] * 0.25
nib.save(nib.Nifti1Image(fa[::2, ::2, :], aff), w + "/flair_coarse.nii.gz")
# FLAIR far away (no overlap)
aff = f.affine.copy(); aff[:3, 3] += 5000
nib.save(nib.Nifti1Image(fa, aff), w + "/flair_far.nii.gz")
EOF
Q="$S/sub-001_qsm.nii.gz"; F="$S/sub-001_flair.nii.gz"; L="$S/sub-001_lesions.nii.gz"
# empty lesion map: documented behaviour - no lesions, outputs all zero, exit 0
"$QSMRIM" predict --qsm "$Q" --flair "$F" --lesions "$W/empty.nii.gz" --out-table "$W/empty.tsv" \
  --out-labels "$W/empty_ov.nii.gz" 2>"$W/e2" | grep -qx "lesions=0 rim_positive=0 review=0" || fail "empty mask: $(cat "$W/e2")"
[ "$(wc -l <"$W/empty.tsv")" -eq 1 ] || fail "empty mask: table should hold the header only"
# NaN voxels: counted, reported, set to 0; every lesion still scored
"$QSMRIM" predict --qsm "$W/nan_qsm.nii.gz" --flair "$F" --lesions "$L" --out-table "$W/nan.tsv" 2>"$W/e3" >/dev/null
grep -q "nan_qsm.nii.gz: 69 of 3145728 voxels are NaN or Inf; set to 0" "$W/e3" || fail "NaN voxels not reported: $(cat "$W/e3")"
[ "$(grep -c 'NaN or Inf' "$W/e3")" = 1 ] || fail "NaN voxels reported more than once: $(cat "$W/e3")"
[ "$(wc -l <"$W/nan.tsv")" -eq "$(wc -l <"$W/a.tsv")" ] || fail "NaN input lost lesions"
grep -qi "nan" <(cut -f6,7 "$W/nan.tsv") && fail "NaN probability in the table"
# no finite voxel at all: refused, nothing written
refused "all-NaN QSM" "error: .*allnan_qsm.nii.gz holds no finite voxel (all 3145728 are NaN or Inf)" "$W/allnan.tsv" \
  --qsm "$W/allnan_qsm.nii.gz" --flair "$F" --lesions "$L"
# values of +-1e9 in a lesion: refused at once (not millions of empty gray levels), naming file and lesion
refused "+-1e9 values" "error: .*huge_qsm.nii.gz.*lesion 1: binWidth 25 gives 8e+07 gray levels" "$W/huge.tsv" \
  --qsm "$W/huge_qsm.nii.gz" --flair "$F" --lesions "$L"
refused "1e30 values" "error: [^ ]*/huge30_qsm.nii.gz: lesion 1: binWidth 25 cannot divide values in \[1e+30, 1e+30\]" "$W/huge30.tsv" \
  --qsm "$W/huge30_qsm.nii.gz" --flair "$F" --lesions "$L" --quiet
[ "$(wc -l <"$W/refused.err")" -eq 1 ] || fail "1e30 values: more than the error line: $(cat "$W/refused.err")"
# values far beyond the rest of the image in one lesion (corrupt voxels, a wrong scale): the
# network scores them with confidence all the same, so a warning names the lesion and the file
"$QSMRIM" predict --qsm "$W/off_qsm.nii.gz" --flair "$W/huge_flair.nii.gz" --lesions "$L" --out-table "$W/off.tsv" \
  --quiet 2>"$W/off.err" >/dev/null || fail "outlier lesions: $(cat "$W/off.err")"
grep -q "warning: .*off_qsm.nii.gz: lesion 2 holds values up to 1e+07, over 100 times the rest" "$W/off.err" &&
  grep -q "warning: .*huge_flair.nii.gz: lesion 1 holds values up to 1e+38" "$W/off.err" &&
  [ "$(wc -l <"$W/off.err")" -eq 2 ] || fail "outlier lesions not named: $(cat "$W/off.err")"
# an output name with an extension that is not an image format: refused before the work
refused "unknown extension" "overlay.png: unknown image extension '.png'" "$W/ext.tsv" \
  --qsm "$Q" --flair "$F" --lesions "$L" --out-labels "$W/overlay.png"
[ ! -e "$W/overlay.png" ] || fail "the run with an unknown extension wrote overlay.png"
# the picture is PNG whatever its name: another extension is refused before the work
refused "picture not .png" "picture.jpg: the picture is written as PNG: give it a name ending in .png" "$W/pic.tsv" \
  --qsm "$Q" --flair "$F" --lesions "$L" --out-picture "$W/picture.jpg"
[ ! -e "$W/picture.jpg" ] || fail "the run with a picture named .jpg wrote it"
# a pipe named like an NRRD header: refused, never opened (the check of the outputs against the
# inputs read its header and blocked until something wrote into the pipe)
mkfifo "$W/pipe.nrrd"
rc=0
timeout 60 "$QSMRIM" predict --qsm "$Q" --flair "$W/pipe.nrrd" --lesions "$L" --out-labels "$W/pipe_ov.nrrd" \
  >/dev/null 2>"$W/pipe.err" || rc=$?
[ $rc -eq 1 ] && grep -q "pipe.nrrd: the input is not a regular file" "$W/pipe.err" ||
  fail "a pipe as the FLAIR: rc $rc (124: blocked) $(cat "$W/pipe.err")"
# detached headers: an output whose voxel data file (STEM.raw) is an input's or another output's
mkdir -p "$W/det"
"$QSMRIM" lesions --mask "$L" --out "$W/det/t.tsv" --out-labels "$W/det/les.nhdr" --quiet # les.nhdr + les.raw.gz
"$IO" export "$Q" "$W/det/q.mhd" # q.mhd + q.raw
[ -f "$W/det/q.raw" ] && [ -f "$W/det/les.raw.gz" ] || fail "the detached test inputs lack q.raw or les.raw.gz"
md5_before=$(md5sum <"$W/det/q.raw")
refused "output data file = input data file" "q.nhdr: its voxel data file .*q.raw would also be the voxel data file of the QSM input" \
  "$W/det/a.tsv" --qsm "$W/det/q.mhd" --flair "$F" --lesions "$L" --out-labels "$W/det/q.nhdr"
[ "$(md5sum <"$W/det/q.raw")" = "$md5_before" ] || fail "the refused run changed the input's q.raw"
refused "two outputs sharing x.raw" "x.mhd: its voxel data file .*x.raw would also be the voxel data file of --out-labels" \
  "$W/det/b.tsv" --qsm "$Q" --flair "$F" --lesions "$L" --out-labels "$W/det/x.nhdr" --out-probability "$W/det/x.mhd"
[ ! -e "$W/det/x.nhdr" ] && [ ! -e "$W/det/x.raw" ] || fail "a refused run wrote x.nhdr or x.raw"
rc=0; "$QSMRIM" predict --qsm "$Q" --flair "$F" --lesions "$W/det/les.nhdr" --out-table "$W/det/les.raw.gz" 2>"$W/det/e" || rc=$?
[ $rc -eq 1 ] && grep -q "les.raw.gz: is also the voxel data file of the lesion input" "$W/det/e" ||
  fail "a table over an input's data file: rc $rc $(cat "$W/det/e")"
# the other commands check their outputs the same way: features over its image, forward over its input
cp "$Q" "$W/det/img.nii.gz"
md5_before=$(md5sum <"$W/det/img.nii.gz")
rc=0; "$QSMRIM" features --image "$W/det/img.nii.gz" --lesions "$L" --out "$W/det/./img.nii.gz" 2>"$W/det/e" || rc=$?
[ $rc -eq 1 ] && grep -q "img.nii.gz: is also the --image input" "$W/det/e" || fail "features over its image: rc $rc $(cat "$W/det/e")"
[ "$(md5sum <"$W/det/img.nii.gz")" = "$md5_before" ] || fail "features replaced its own --image"
rc=0; "$QSMRIM" forward --model "$QSMRIM_SOURCE_DIR/Resources/models/qsmrim_demo.h5" --input "$W/det/t.tsv" --out "$W/det/t.tsv" 2>"$W/det/e" || rc=$?
[ $rc -eq 1 ] && grep -q "t.tsv: is also the --input file" "$W/det/e" || fail "forward over its input: rc $rc $(cat "$W/det/e")"
# one-voxel lesion and a lesion at the volume edge: scored (the one-voxel lesion's radiomic
# features are imputed with the training mean, as in training)
"$QSMRIM" predict --qsm "$Q" --flair "$F" --lesions "$W/edge_lesions.nii.gz" --out-table "$W/edge.tsv" --quiet >/dev/null
for id in 900 901; do
  awk -F'\t' -v id=$id '$1 == id && $6 >= 0 && $6 <= 1 { ok = 1 } END { exit !ok }' "$W/edge.tsv" || fail "lesion $id not scored"
done
# the other lesions keep their probabilities (their inputs do not change)
"$PY" - "$W/a.tsv" "$W/edge.tsv" <<'EOF'
import sys
a = {l.split("\t")[0]: float(l.split("\t")[5]) for l in list(open(sys.argv[1]))[1:]}
b = {l.split("\t")[0]: float(l.split("\t")[5]) for l in list(open(sys.argv[2]))[1:]}
for k in a: assert abs(a[k] - b[k]) < 1e-9, (k, a[k], b[k])
EOF
# FLAIR on another overlapping grid: resampled onto the QSM grid, said so
"$QSMRIM" predict --qsm "$Q" --flair "$W/flair_coarse.nii.gz" --lesions "$L" --out-table "$W/coarse.tsv" 2>"$W/e4" >/dev/null
grep -qi "resampl" "$W/e4" || fail "resampling not reported: $(cat "$W/e4")"
[ "$(wc -l <"$W/coarse.tsv")" -eq "$(wc -l <"$W/a.tsv")" ] || fail "resampled FLAIR lost lesions"
# the shipped model with one byte changed: refused by its seal before libhdf5 reads it
cp "$QSMRIM_SOURCE_DIR/Resources/models/qsmrim_demo.h5" "$W/damaged.h5"
printf '\x5a' | dd of="$W/damaged.h5" bs=1 seek=4000000 conv=notrunc 2>/dev/null
refused "damaged model" "error: .*damaged.h5: its CRC-32 is .* when it was written (damaged" "$W/damaged.tsv" \
  --qsm "$Q" --flair "$F" --lesions "$L" --model "$W/damaged.h5"
# no overlap: an error naming both geometries, no output
refused "no overlap" "error: .*flair_far.nii.gz and .*sub-001_qsm.nii.gz do not overlap" "$W/far.tsv" \
  --qsm "$Q" --flair "$W/flair_far.nii.gz" --lesions "$L"
echo "== what resampling loses is said; inputs that cannot be classified are refused"
"$PY" - "$S" "$W" <<'EOF'
import sys, numpy as np, nibabel as nib
s, w = sys.argv[1:3]
q = nib.load(s + "/sub-001_qsm.nii.gz"); f = nib.load(s + "/sub-001_flair.nii.gz"); l = nib.load(s + "/sub-001_lesions.nii.gz")
qa = np.asarray(q.dataobj).astype(np.float32); fa = np.asarray(f.dataobj).astype(np.float32)
lab = np.asarray(l.dataobj).astype(np.int32)
# a FLAIR slab: only the first 102 of the 256 columns of i (its own, smaller grid): 39.8%
cut = int(0.4 * fa.shape[0])
nib.save(nib.Nifti1Image(fa[:cut], f.affine), w + "/flair_part.nii.gz")
open(w + "/uncovered.txt", "w").write(" ".join(str(v) for v in sorted(set(np.unique(lab[cut:])) - {0})))
# the lesion map on a grid twice as fine in-plane, sharing voxel 0's centre: the QSM's voxel centres
# fall on the fine voxels of even index, so a lesion of one fine voxel at odd indices vanishes
fine = np.repeat(np.repeat(lab, 2, 0), 2, 1)
bg = np.argwhere(lab == 0); k = bg[len(bg) // 2]
fine[2 * k[0] + 1, 2 * k[1] + 1, k[2]] = 777
aff = l.affine.copy(); aff[:3, :2] /= 2
nib.save(nib.Nifti1Image(fine, aff), w + "/lesions_fine.nii.gz")
# the lesion map shifted by half the volume along i: part of it lies outside the QSM
aff = l.affine.copy(); aff[:3, 3] += aff[:3, 0] * (lab.shape[0] // 2)
nib.save(nib.Nifti1Image(lab, aff), w + "/lesions_shifted.nii.gz")
# one slice of each input (a 2D image stored as 3D)
for name, a, img in (("qsm", qa, q), ("flair", fa, f), ("lesions", lab, l)):
    nib.save(nib.Nifti1Image(a[:, :, 24:25], img.affine), w + "/slice_" + name + ".nii.gz")
# a FLAIR without signal (all 0)
nib.save(nib.Nifti1Image(np.zeros_like(fa), f.affine), w + "/flair_zero.nii.gz")
# a lesion far wider than the 32 x 32 x 16 patch
big = lab.copy(); big[60:120, 60:120, 10:14] = 950
nib.save(nib.Nifti1Image(big, l.affine), w + "/lesions_big.nii.gz")
EOF
"$QSMRIM" predict --qsm "$Q" --flair "$W/flair_part.nii.gz" --lesions "$L" --out-table "$W/part.tsv" 2>"$W/e5" >/dev/null
grep -q "flair_part.nii.gz covers 39.8% of the .*sub-001_qsm.nii.gz volume" "$W/e5" || fail "partial FLAIR not reported: $(cat "$W/e5")"
want=$(tr ' ' '\n' <"$W/uncovered.txt" | head -10 | paste -sd, | sed 's/,/, /g')
grep -qF "flair_part.nii.gz does not cover lesions $want" "$W/e5" || fail "uncovered lesions ($want) not named: $(cat "$W/e5")"
"$QSMRIM" predict --qsm "$Q" --flair "$F" --lesions "$W/lesions_fine.nii.gz" --out-table "$W/fine.tsv" 2>"$W/e6" >/dev/null
grep -q "lesions_fine.nii.gz: 1 of its .* labels are lost on the .*sub-001_qsm.nii.gz grid .*: 777$" "$W/e6" ||
  fail "lost label not named: $(cat "$W/e6")"
[ "$(wc -l <"$W/fine.tsv")" -eq "$(wc -l <"$W/a.tsv")" ] || fail "the fine lesion map should keep every other lesion"
"$QSMRIM" predict --qsm "$Q" --flair "$F" --lesions "$W/lesions_shifted.nii.gz" --out-table "$W/shift.tsv" 2>"$W/e7" >/dev/null
grep -q "lesions_shifted.nii.gz: [0-9]* of its [0-9]* lesion voxels lie outside the .*sub-001_qsm.nii.gz volume" "$W/e7" ||
  fail "lesion voxels outside the QSM not reported: $(cat "$W/e7")"
refused "one-slice QSM" "error: .*slice_qsm.nii.gz is a single slice" "$W/slice.tsv" \
  --qsm "$W/slice_qsm.nii.gz" --flair "$W/slice_flair.nii.gz" --lesions "$W/slice_lesions.nii.gz"
refused "FLAIR without signal" "error: .*flair_zero.nii.gz holds no signal: every voxel is 0" "$W/zero.tsv" \
  --qsm "$Q" --flair "$W/flair_zero.nii.gz" --lesions "$L"
"$QSMRIM" predict --qsm "$Q" --flair "$F" --lesions "$W/lesions_big.nii.gz" --out-table "$W/big.tsv" 2>"$W/e8" >/dev/null
grep -q "lesion 950 wider than the network's 32 x 32 x 16-voxel patch" "$W/e8" || fail "oversized lesion not noted: $(cat "$W/e8")"
# a random forest (radiomic features only) sees no patch: no such notice
printf 'rf_trees: 30\nrf_tune_trees: 10\nrf_mtry: [4]\nrf_inner_folds: 2\n' >"$W/rf.yaml"
"$QSMRIM" train --manifest "$W/ph/cohort.tsv" --out "$W/rf.h5" --arch aprl-rf --config "$W/rf.yaml" --holdout 0 --quiet
"$QSMRIM" predict --model "$W/rf.h5" --qsm "$Q" --flair "$F" --lesions "$W/lesions_big.nii.gz" --out-table "$W/bigrf.tsv" \
  2>"$W/e8rf" >/dev/null || fail "forest model: $(cat "$W/e8rf")"
! grep -q "wider than" "$W/e8rf" || fail "a forest model is said to see a patch: $(cat "$W/e8rf")"
# a pipe given as the model is refused at once (HDF5's reader would wait for a writer forever)
mkfifo "$W/fifo.h5"
rc=0; timeout 60 "$QSMRIM" predict --model "$W/fifo.h5" --qsm "$Q" --flair "$F" --lesions "$L" --out-table "$W/fifo.tsv" \
  --quiet 2>"$W/e8ff" || rc=$?
[ $rc -eq 1 ] && grep -q "fifo.h5: is a pipe, not a file" "$W/e8ff" || fail "model that is a pipe: rc $rc $(cat "$W/e8ff")"
# forward runs networks only: a forest model is named as such (it said "not a qsmrim model")
"$PY" -c "import h5py, numpy as np; h5py.File('$W/x.h5', 'w')['radiomics'] = np.zeros((2, 536), np.float32)"
rc=0; "$QSMRIM" forward --model "$W/rf.h5" --input "$W/x.h5" --out "$W/y.h5" --quiet 2>"$W/e8fw" || rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$W/e8fw")" -eq 1 ] && grep -q "rf.h5 is a random-forest model (aprl-rf), not a network" "$W/e8fw" &&
  [ ! -e "$W/y.h5" ] || fail "forward on a forest: rc $rc $(cat "$W/e8fw")"
# a misspelt device is a usage error (exit 2) before any input is read
rc=0; "$QSMRIM" predict --qsm "$Q" --flair "$F" --lesions "$L" --out-table "$W/dev.tsv" --device gpu 2>"$W/e9" || rc=$?
[ $rc -eq 2 ] && grep -q -- "--device: unknown device 'gpu'" "$W/e9" || fail "--device gpu: rc $rc $(cat "$W/e9")"
# an output over the shipped model (used when --model is not given) is refused like one over --model
mkdir -p "$W/res/models"; cp "$QSMRIM_SOURCE_DIR/Resources/models/qsmrim_demo.h5" "$W/res/models/"
md5=$(md5sum <"$W/res/models/qsmrim_demo.h5")
rc=0; QSMRIM_RESOURCE_DIR="$W/res" "$QSMRIM" predict --qsm "$Q" --flair "$F" --lesions "$L" \
  --out-table "$W/res/models/qsmrim_demo.h5" 2>"$W/e10" || rc=$?
[ $rc -eq 1 ] && grep -q "qsmrim_demo.h5: is also the model" "$W/e10" || fail "table over the default model: rc $rc $(cat "$W/e10")"
[ "$(md5sum <"$W/res/models/qsmrim_demo.h5")" = "$md5" ] || fail "the default model was replaced"
# QSMRIM_RESOURCE_DIR set to a folder that is not there: said, not passed over for another
rc=0; QSMRIM_RESOURCE_DIR="$W/no-such-res" "$QSMRIM" predict --qsm "$Q" --flair "$F" --lesions "$L" --out-table "$W/nores.tsv" \
  --quiet 2>"$W/e10b" || rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$W/e10b")" -eq 1 ] && grep -q "QSMRIM_RESOURCE_DIR=$W/no-such-res: no such folder" "$W/e10b" ||
  fail "missing resource folder: rc $rc $(cat "$W/e10b")"
# a parameter file or training configuration that is a pipe: refused at once (the reader would wait)
mkfifo "$W/params.yaml"
rc=0; timeout 60 "$QSMRIM" features --image "$Q" --mask "$L" --label 1 --params "$W/params.yaml" --out "$W/pf.csv" 2>"$W/e10c" || rc=$?
[ $rc -eq 1 ] && grep -q "params.yaml: is a pipe, not a file" "$W/e10c" || fail "params pipe: rc $rc $(cat "$W/e10c")"
# outputs that are folders: refused before the work
mkdir -p "$W/adir" "$W/series_full"; touch "$W/series_full/x"
rc=0; "$QSMRIM" predict --qsm "$Q" --flair "$F" --lesions "$L" --out-table "$W/adir" 2>"$W/e11" || rc=$?
[ $rc -eq 1 ] && grep -q "adir: is a folder; give a file name" "$W/e11" || fail "table is a folder: rc $rc $(cat "$W/e11")"
rc=0; "$QSMRIM" predict --qsm "$Q" --flair "$F" --lesions "$L" --out-labels "$W/series_full" 2>"$W/e12" || rc=$?
[ $rc -eq 1 ] && grep -q "series_full: a DICOM series is written into a new or empty folder" "$W/e12" ||
  fail "non-empty series folder: rc $rc $(cat "$W/e12")"
# past a file-size limit (ulimit -f): one line naming the output, exit 1, the earlier outputs kept,
# no staging folder left (SIGXFSZ would otherwise end the process without a word)
mkdir -p "$W/fsz"; echo old >"$W/fsz/t.tsv"
rc=0; (ulimit -f 100; exec "$QSMRIM" predict --qsm "$Q" --flair "$F" --lesions "$L" --out-table "$W/fsz/t.tsv" \
  --out-probability "$W/fsz/big.nrrd" --quiet) 2>"$W/e13" || rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$W/e13")" -eq 1 ] && grep -q "error: .*big.nrrd: " "$W/e13" ||
  fail "file-size limit: rc $rc $(cat "$W/e13")"
[ "$(cat "$W/fsz/t.tsv")" = old ] && [ "$(ls -A "$W/fsz")" = t.tsv ] || fail "file-size limit: outputs changed: $(ls -A "$W/fsz")"
# every uncompressed image format past the limit, and onto a full disk (a 64 kB tmpfs, where this
# process may mount one): refused before the write, in qsmrim's one line only (the NIfTI and
# MetaImage writers printed a line of their own on a short write), nothing left
roomcheck() { # what dir ext
  local rc=0
  "$QSMRIM" predict --qsm "$Q" --flair "$F" --lesions "$L" --out-table "$2/t.tsv" --out-probability "$2/p.$3" \
    --quiet 2>"$W/e14" || rc=$?
  [ $rc -eq 1 ] && [ "$(wc -l <"$W/e14")" -eq 1 ] && grep -q "error: $2/p.$3: $1" "$W/e14" ||
    fail "p.$3 past the room: rc $rc $(cat "$W/e14")"
  [ -z "$(ls -A "$2")" ] || fail "p.$3 past the room: left $(ls -A "$2")"
}
mkdir -p "$W/fsz2"
for ext in nii nrrd nhdr mha mhd; do
  (ulimit -f 100; roomcheck "a file of [0-9]* bytes is over this process's file-size limit" "$W/fsz2" $ext)
done
# predict's result line on stdout cannot be lost silently: /dev/full behind it is a failure
if [ -w /dev/full ]; then
  rc=0; "$QSMRIM" predict --qsm "$Q" --flair "$F" --lesions "$L" --out-table "$W/full.tsv" --quiet >/dev/full 2>"$W/full.err" || rc=$?
  [ $rc -eq 1 ] && [ "$(wc -l <"$W/full.err")" -eq 1 ] && grep -q "cannot write the standard output: No space left on device" "$W/full.err" ||
    fail "stdout on /dev/full: rc $rc $(cat "$W/full.err")"
  rm -f "$W/full.tsv"
fi
# what a run killed outright (kill -9) left in an output folder is removed by the next run there
# (temporary names carry a token of the boot and PID namespace: Logic/core/fileutil.c)
true & dead=$!; wait $dead
tok=$("$PY" "$(dirname "$0")/../leftover_token.py")
mkdir -p "$W/fsz2/.qsmrim-staging-$tok-$dead-0"; echo partial >"$W/fsz2/.t.tsv.qsmrim-tmp-$tok-$dead-1"
"$QSMRIM" predict --qsm "$Q" --flair "$F" --lesions "$L" --out-table "$W/fsz2/t.tsv" --quiet >/dev/null
[ "$(ls -A "$W/fsz2")" = t.tsv ] || fail "a killed run's leftovers stayed: $(ls -A "$W/fsz2")"
mkdir -p "$W/tiny"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=64k qsmrim-test "$W/tiny" 2>/dev/null; then
  trap 'umount "$W/tiny"; rm -rf "$W"' EXIT
  for ext in nii nrrd nhdr mha mhd; do roomcheck "needs about [0-9.]* [kMG]B and its disk has [0-9.]* kB free" "$W/tiny" $ext; done
  umount "$W/tiny"
  trap 'rm -rf "$W"' EXIT
else
  echo "(no tmpfs could be mounted here: the full-disk case is not run)"
fi
echo "all predict checks passed"
