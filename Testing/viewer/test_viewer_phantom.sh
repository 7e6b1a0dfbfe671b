#!/usr/bin/env bash
# The viewer on a phantom subject (`qsmrim phantom`, opened through its cohort manifest), before
# any prediction: select the largest rim+ lesion of the phantom's truth, check it is drawn in the
# "no prediction" colour, press r, check it is drawn in the rim+ colour and that the review file
# (default name beside the lesion map) holds the decision; then reopen and resume.
# Skipped (77) while `qsmrim phantom` is not part of the build.
source "$(dirname "$0")/viewer_common.sh"
Q=${QSMRIM:?set QSMRIM to the qsmrim binary}

"$Q" phantom --out "$T/ph" --subjects 1 --seed 11 --threads 2 >"$T/ph.log" 2>&1
rc=$?
if grep -q "not available in this build" "$T/ph.log"; then echo "qsmrim phantom is not in this build yet: skipped"; exit 77; fi
[ $rc -eq 0 ] || { echo "qsmrim phantom failed: $(cat "$T/ph.log")"; exit 1; }
COHORT=$T/ph/cohort.tsv
col() { awk -F'\t' -v c="$1" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == c) k = i} NR == 2 {print $k}' "$COHORT"; }
SUBJ=$(col subject); LES=$T/ph/$(col lesions); ANN=$T/ph/$(col annotations)
REVIEW=${LES%.nii.gz}_review.tsv

# the largest rim+ lesion of the phantom's truth
L=$(awk -F'\t' 'NR == 1 {for (i = 1; i <= NF; i++) {if ($i == "rim") r = i; if ($i == "volume_mm3") v = i}}
                NR > 1 && $r == 1 {print $v, $1}' "$ANN" | sort -g -r | head -1 | cut -d' ' -f2)
check "the phantom subject has a rim+ lesion ($L)" test -n "$L"
N=$(tail -n +2 "$ANN" | wc -l)
cat >"$T/s1.txt" <<EOF2
state $T/s0.json
style fill
opacity 1
select $L
screenshot-view qsm-axial $T/before.png
state $T/s1.json
key r
select $L
screenshot-view qsm-axial $T/after.png
state $T/s2.json
screenshot $T/window.png
quit
EOF2
check "viewer opens the phantom subject from its cohort manifest" \
  run_viewer --cohort "$COHORT" --subject "$SUBJ" --reviewer tester --script "$T/s1.txt"
check "the queue lists the $N lesions of the annotation table" test "$(field "$T/s0.json" 's["lesions"]')" = "$N"
read -r ci cj ck < <(field "$T/s1.json" '" ".join(str(x) for x in s["cursor_ijk"])')
VOX=$("$PY" "$CHECKS" voxel "$T/s1.json" qsm-axial "$LES" "$ci" "$cj" "$ck" --label "$L")
check "found a voxel inside rim+ lesion $L ($VOX)" test -n "$VOX"
check "before review it is drawn in the no-prediction colour" "$PY" "$CHECKS" pixel "$T/s1.json" qsm-axial "$T/before.png" $VOX 200 120 255 3
check "after r it is drawn in the rim+ colour" "$PY" "$CHECKS" pixel "$T/s2.json" qsm-axial "$T/after.png" $VOX 230 25 25 3
check "the review file beside the lesion map holds the decision" \
  grep -qP "^$L\trim\\+\ttester\t2026-01-02T03:04:05Z\tNA\tnone\t$" "$REVIEW"
printf 'state %s\nquit\n' "$T/s3.json" >"$T/s3.txt"
check "reopening shows the decision" bash -c "
  '$VIEWER' --cohort '$COHORT' --subject '$SUBJ' --reviewer tester --script '$T/s3.txt' &&
  grep -q '\"$L\": \"rim+\"' '$T/s3.json'"

finish
