#!/usr/bin/env bash
# The viewer on a phantom subject with a real prediction: `qsmrim phantom` makes the subject,
# the viewer runs the prediction in its worker thread (same probabilities as `qsmrim predict`),
# Cancel stops a running prediction without changing anything, a known rim+ lesion (phantom
# truth) is drawn in the colour of the model's decision and, once the reviewer presses r, in the
# rim+ colour. Skipped (77) while `qsmrim phantom` or `qsmrim predict` are not part of the build.
source "$(dirname "$0")/viewer_common.sh"
Q=${QSMRIM:?set QSMRIM to the qsmrim binary}

"$Q" phantom --out "$T/ph" --subjects 1 --seed 11 >"$T/ph.log" 2>&1
rc=$?
if grep -q "not available in this build" "$T/ph.log"; then echo "qsmrim phantom is not in this build yet: skipped"; exit 77; fi
[ $rc -eq 0 ] || { echo "qsmrim phantom failed: $(cat "$T/ph.log")"; exit 1; }
if ! "$Q" predict --help >"$T/pr.log" 2>&1; then
  grep -q "not available in this build" "$T/pr.log" && { echo "qsmrim predict is not in this build yet: skipped"; exit 77; }
  echo "qsmrim predict --help failed: $(cat "$T/pr.log")"; exit 1
fi
COHORT=$T/ph/cohort.tsv
SUBJ=$(awk -F'\t' 'NR == 2 {print $1}' "$COHORT")
col() { awk -F'\t' -v c="$1" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == c) k = i} NR == 2 {print $k}' "$COHORT"; }
QSM=$T/ph/$(col qsm); FLAIR=$T/ph/$(col flair); LES=$T/ph/$(col lesions); ANN=$T/ph/$(col annotations)

"$Q" predict --qsm "$QSM" --flair "$FLAIR" --lesions "$LES" \
  --out-labels "$T/overlay.nrrd" --out-probability "$T/prob.nrrd" --out-table "$T/table.tsv" 2>"$T/predict.err"
rc=$?
if [ $rc -ne 0 ] && grep -q "not part of this build yet" "$T/predict.err"; then
  echo "lesion scoring is not in this build yet: skipped ($(cat "$T/predict.err"))"; exit 77
fi
check "qsmrim predict on the phantom subject" test $rc -eq 0

# in-viewer prediction; then cancel a second run at once
mkdir -p "$T/saved"
cat >"$T/predict.txt" <<EOF2
predict
wait-predict 500
state $T/p1.json
export $T/viewer_export.tsv
save-prediction $T/saved
predict cancel
wait-predict 500
state $T/p2.json
quit
EOF2
check "viewer: prediction in the worker thread, then a cancelled one" \
  run_viewer --cohort "$COHORT" --subject "$SUBJ" --reviewer tester --review "$T/r1.tsv" --script "$T/predict.txt"
check "the in-viewer prediction finished" bash -c "grep -q '\"has_prediction\": true' '$T/p1.json' && grep -q '\"prediction\": \"done' '$T/p1.json'"
check "the in-viewer prediction gives qsmrim predict's probabilities and decisions" "$PY" - "$T/table.tsv" "$T/viewer_export.tsv" <<'PYEOF'
import sys
def rows(p, cols):
    lines = [l.rstrip("\n").split("\t") for l in open(p)]
    h = lines[0]
    return {r[h.index("lesion_id")]: tuple(r[h.index(c)] for c in cols) for r in lines[1:]}
a = rows(sys.argv[1], ["probability", "decision"])
b = rows(sys.argv[2], ["probability", "model_decision"])
assert a.keys() == b.keys(), (len(a), len(b))
for k in a:
    assert abs(float(a[k][0]) - float(b[k][0])) <= 1e-6 and a[k][1] == b[k][1], (k, a[k], b[k])
PYEOF
# File > Save prediction outputs (the window keeps only what it writes of its prediction): the
# overlay and probability maps of qsmrim predict, the table within the 6 decimals it holds
check "the saved in-viewer prediction is qsmrim predict's outputs" "$PY" - "$T" <<'PYEOF'
import sys, numpy as np
t = sys.argv[1]
def nrrd(path):  # a raw-encoded NRRD as qsmrim writes it: header, blank line, voxels
    b = open(path, "rb").read()
    head, data = b.split(b"\n\n", 1)
    kind = {b"float": np.float32, b"int": np.int32, b"unsigned char": np.uint8}[dict(l.split(b": ", 1) for l in head.split(b"\n")[1:] if b": " in l)[b"type"]]
    return head, np.frombuffer(data, kind)
for mine, cli, tol in (("rim_overlay.nrrd", "overlay.nrrd", 0), ("rim_probability.nrrd", "prob.nrrd", 1e-6)):
    (ha, a), (hb, b) = nrrd(t + "/saved/" + mine), nrrd(t + "/" + cli)
    assert ha == hb and a.shape == b.shape, (mine, ha, hb)
    assert np.all(np.abs(a.astype(np.float64) - b) <= tol), (mine, np.abs(a.astype(np.float64) - b).max())
rows = lambda p: {r.split("\t")[0]: r.split("\t")[5] for r in open(p).read().splitlines()[1:]}
a, b = rows(t + "/saved/rim_table.tsv"), rows(t + "/table.tsv")
assert a.keys() == b.keys() and all(abs(float(a[k]) - float(b[k])) <= 1e-6 for k in a), (a, b)
print(len(a), "lesions; overlay, probability map and table as qsmrim predict wrote them")
PYEOF
# the window opened on the first lesion of the unpredicted queue; nothing was chosen by hand, so the
# prediction moves the selection to the top of the new queue: the most probable lesion
TOP=$(awk -F'\t' 'NR == 2 {print $1}' "$T/table.tsv")
check "after the prediction the most probable lesion ($TOP) is selected" \
  "$PY" -c "import json, sys; s = json.load(open('$T/p1.json')); sys.exit(s['lesion'] != $TOP)"
check "Cancel stopped the second run and kept the first result" bash -c "
  grep -q '\"prediction\": \"cancelled\"' '$T/p2.json' && grep -q '\"has_prediction\": true' '$T/p2.json'"

# a known rim+ lesion (phantom truth), the largest one
L=$(awk -F'\t' 'NR == 1 {for (i = 1; i <= NF; i++) {if ($i == "rim") r = i; if ($i == "volume_mm3") v = i}}
                NR > 1 && $r == 1 {print $v, $1}' "$ANN" | sort -g -r | head -1 | cut -d' ' -f2)
check "the phantom subject has a rim+ lesion ($L)" test -n "$L"
MODEL_DEC=$(awk -F'\t' -v l="$L" '$1 == l {print $8}' "$T/table.tsv")
case $MODEL_DEC in rim+) MC="230 25 25" ;; review) MC="255 190 0" ;; *) MC="64 128 200" ;; esac
cat >"$T/known.txt" <<EOF2
style fill
opacity 1
select $L
screenshot-view qsm-axial $T/model.png
state $T/k1.json
key r
select $L
screenshot-view qsm-axial $T/reviewed.png
state $T/k2.json
screenshot $T/window.png
quit
EOF2
check "viewer on the phantom subject with qsmrim predict's outputs" \
  run_viewer --qsm "$QSM" --flair "$FLAIR" --lesions "$LES" --table "$T/table.tsv" --overlay "$T/overlay.nrrd" \
  --probability "$T/prob.nrrd" --reviewer tester --review "$T/r2.tsv" --script "$T/known.txt"
read -r ci cj ck < <(field "$T/k1.json" '" ".join(str(x) for x in s["cursor_ijk"])')
VOX=$("$PY" "$CHECKS" voxel "$T/k1.json" qsm-axial "$LES" "$ci" "$cj" "$ck" --label "$L")
check "found a voxel inside rim+ lesion $L ($VOX)" test -n "$VOX"
check "the known rim+ lesion is drawn in the colour of the model's decision ($MODEL_DEC)" \
  "$PY" "$CHECKS" pixel "$T/k1.json" qsm-axial "$T/model.png" $VOX $MC 3
check "after r it is drawn in the rim+ colour" "$PY" "$CHECKS" pixel "$T/k2.json" qsm-axial "$T/reviewed.png" $VOX 230 25 25 3
check "and the review file says so" grep -qP "^$L\trim\\+\ttester\t" "$T/r2.tsv"

# the spread column: none measured by one pass of the one-member model ("-", no "±" in the lesion
# box); a table that holds one (predict --flips) shows it
check "one pass: the spread is shown as '-' and the lesion box gives no ±" "$PY" -c "
import json; s = json.load(open('$T/k1.json')); r = s['queue_row']
assert r[0] == '$L' and r[2] == '-', r
assert 'P(rim+) ' in s['lesion_text'] and '\u00b1' not in s['lesion_text'], s['lesion_text']"
awk 'BEGIN { FS = OFS = "\t" } NR > 1 { $7 = "0.050000" } 1' "$T/table.tsv" >"$T/table_spread.tsv"
printf 'select %s\nstate %s\nquit\n' "$L" "$T/k3.json" >"$T/spread.txt"
check "a table with a spread: shown in the column and the lesion box" bash -c "
  '$VIEWER' --qsm '$QSM' --flair '$FLAIR' --lesions '$LES' --table '$T/table_spread.tsv' --review '$T/r3.tsv' \
    --script '$T/spread.txt' && '$PY' -c \"
import json; s = json.load(open('$T/k3.json')); r = s['queue_row']
assert r[2] == '0.050', r
assert '\u00b1 0.050' in s['lesion_text'], s['lesion_text']\""

finish
