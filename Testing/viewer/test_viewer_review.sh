#!/usr/bin/env bash
# qsmrim-review under Xvfb on a subject with a predict run's outputs: anatomical orientation of
# the views (LPS and LAS grids), lesion colours in screenshots (decision, P(rim+), fill/outline,
# opacity blending with window/level), keyboard review written to the review file, export,
# mouse (slices, window/level, zoom, cursor).
source "$(dirname "$0")/viewer_common.sh"

subject_args() { # subject_args DIR
  echo "--qsm $1/qsm.nii.gz --flair $1/flair.nii.gz --lesions $1/lesions.nii.gz --table $1/table.tsv" \
       "--overlay $1/overlay.nrrd --probability $1/probability.nrrd --reviewer tester"
}
id_of() { awk -F'\t' -v d="$2" '$2 == d {print $1}' "$1/truth.tsv"; }
centre_of() { awk -F'\t' -v d="$2" '$2 == d {print $5, $6, $7}' "$1/truth.tsv"; }

RED="230 25 25"; BLUE="64 128 200"; AMBER="255 190 0"

# ---- orientation: the same anatomy on an LPS and an LAS grid must look the same ----
for variant in lps las; do
  FIX=$T/$variant
  if [ $variant = las ]; then "$FIXTURE" "$FIX" --flip; else "$FIXTURE" "$FIX"; fi || { echo "fixture failed"; exit 1; }
  A=$(id_of "$FIX" a); E=$(id_of "$FIX" e)
  cat >"$T/orient.txt" <<EOF
style fill
opacity 1
select $A
focus qsm-axial
key Home
focus qsm-coronal
key Home
screenshot-view qsm-axial $T/${variant}_axial.png
screenshot-view qsm-coronal $T/${variant}_coronal.png
select $E
focus qsm-sagittal
key Home
screenshot-view qsm-sagittal $T/${variant}_sagittal.png
state $T/${variant}_orient.json
quit
EOF
  # shellcheck disable=SC2046
  check "$variant: viewer runs the orientation script" run_viewer $(subject_args "$FIX") --review "$T/${variant}_r.tsv" --script "$T/orient.txt"
  # lesion a: patient left, anterior, superior; e: patient right, anterior, superior
  read -r ax ay an < <("$PY" "$CHECKS" centroid "$T/${variant}_axial.png" $RED 8)
  check "$variant axial: the rim+ lesion on the patient's left is on the screen's right ($ax), anterior at the top ($ay), $an px" \
    "$PY" -c "import sys; x,y,n=map(float,sys.argv[1:]); sys.exit(not (n>50 and x>0.55 and y<0.45))" "$ax" "$ay" "$an"
  read -r cx cy cn < <("$PY" "$CHECKS" centroid "$T/${variant}_coronal.png" $RED 8)
  check "$variant coronal: left on the right ($cx), superior at the top ($cy)" \
    "$PY" -c "import sys; x,y,n=map(float,sys.argv[1:]); sys.exit(not (n>30 and x>0.55 and y<0.45))" "$cx" "$cy" "$cn"
  read -r sx sy sn < <("$PY" "$CHECKS" centroid "$T/${variant}_sagittal.png" $BLUE 8)
  check "$variant sagittal: anterior on the left ($sx), superior at the top ($sy)" \
    "$PY" -c "import sys; x,y,n=map(float,sys.argv[1:]); sys.exit(not (n>10 and x<0.45 and y<0.45))" "$sx" "$sy" "$sn"
done

# ---- colours where the known rim+ lesion is drawn ----
FIX=$T/lps
A=$(id_of "$FIX" a); D=$(id_of "$FIX" d); C=$(id_of "$FIX" c); B=$(id_of "$FIX" b)
cat >"$T/colours.txt" <<EOF
state $T/c0.json
style fill
opacity 1
select $A
screenshot-view qsm-axial $T/a_fill.png
screenshot-view flair-coronal $T/a_fill_flair_coronal.png
opacity 0.5
screenshot-view qsm-axial $T/a_half.png
opacity 1
overlay probability
screenshot-view qsm-axial $T/a_prob.png
overlay decision
style outline
screenshot-view qsm-axial $T/a_outline.png
state $T/c1.json
screenshot $T/window.png
quit
EOF
check "viewer runs the colour script" run_viewer $(subject_args "$FIX") --review "$T/c_review.tsv" --script "$T/colours.txt"
check "opens at the first unreviewed lesion of the queue (highest P(rim+)): lesion $A" test "$(field "$T/c0.json" 's["lesion"]')" = "$A"
check "queue sorted by P(rim+)" test "$(field "$T/c0.json" '" ".join(map(str, s["order"]))')" = \
  "$(tail -n +2 "$FIX/table.tsv" | cut -f1 | tr '\n' ' ' | sed 's/ $//')"
read -r ci cj ck < <(centre_of "$FIX" a)
VOX=$("$PY" "$CHECKS" voxel "$T/c1.json" qsm-axial "$FIX/lesions.nii.gz" "$ci" "$cj" "$ck")
check "found a voxel inside lesion a on the axial slice ($VOX)" test -n "$VOX"
check "fill, opacity 1: lesion a drawn in the rim+ colour" "$PY" "$CHECKS" pixel "$T/c1.json" qsm-axial "$T/a_fill.png" $VOX $RED 3
VOXC=$("$PY" "$CHECKS" voxel "$T/c1.json" flair-coronal "$FIX/lesions.nii.gz" "$ci" "$cj" "$ck")
check "fill: also in the linked FLAIR coronal view" "$PY" "$CHECKS" pixel "$T/c1.json" flair-coronal "$T/a_fill_flair_coronal.png" $VOXC $RED 3
# lesion a's core is 5 ppb; the QSM window/level in use (default preset) from the state
read -r QW QL < <(field "$T/c1.json" '" ".join(str(x) for x in s["window_level"]["qsm"])')
check "default QSM preset: +-80 ppb ($QW, $QL)" test "$QW $QL" = "160 0"
BLEND=$("$PY" "$CHECKS" color-blend $RED 0.5 5 "$QW" "$QL")
check "opacity 0.5: rim+ colour blended with the QSM grey of 5 ppb ($BLEND)" "$PY" "$CHECKS" pixel "$T/c1.json" qsm-axial "$T/a_half.png" $VOX $BLEND 4
PCOL=$("$PY" "$CHECKS" probability-color 0.93)
check "by P(rim+): colour of p = 0.93 ($PCOL)" "$PY" "$CHECKS" pixel "$T/c1.json" qsm-axial "$T/a_prob.png" $VOX $PCOL 3
GREY=$("$PY" "$CHECKS" color-blend 0 0 0 0 5 "$QW" "$QL")
check "outline: the lesion's inside is left visible (QSM grey $GREY)" "$PY" "$CHECKS" pixel "$T/c1.json" qsm-axial "$T/a_outline.png" $VOX $GREY 4
VOXO=$("$PY" "$CHECKS" voxel "$T/c1.json" qsm-axial "$FIX/lesions.nii.gz" "$ci" "$cj" "$ck" --outline)
check "outline: drawn in the rim+ colour just outside the lesion ($VOXO)" "$PY" "$CHECKS" pixel "$T/c1.json" qsm-axial "$T/a_outline.png" $VOXO $RED 3
check "selecting a lesion zooms every view (visible half-height < 40 mm)" \
  "$PY" -c "import json,sys; s=json.load(open(sys.argv[1])); sys.exit(not all(v['half_height_mm'] < 40 for v in s['views'].values()))" "$T/c1.json"
check "selecting a lesion centres every view's slice on it" \
  "$PY" -c "import json,sys; s=json.load(open(sys.argv[1])); c=[float(x) for x in sys.argv[2:]]; sys.exit(not all(v['slice']==int(c[v['slice_axis']]+0.5) for v in s['views'].values()))" "$T/c1.json" $ci $cj $ck

# ---- keyboard review: decisions and a note, saved at once; export ----
cat >"$T/keys.txt" <<EOF
select $A
key r
key u
key p
key t
type thin rim, posterior
key Return
key n
key x
state $T/k1.json
style fill
opacity 1
select $D
screenshot-view qsm-axial $T/d_unsure.png
state $T/k2.json
export $T/export.tsv
quit
EOF
check "viewer runs the key script" run_viewer $(subject_args "$FIX") --review "$T/review.tsv" --script "$T/keys.txt"
printf 'lesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote\n' >"$T/want.tsv"
{
  printf '%s\trim-\ttester\t2026-01-02T03:04:05Z\t0.410000\treview\t\n' "$C"
  printf '%s\tunsure\ttester\t2026-01-02T03:04:05Z\t0.580000\trim+\tthin rim, posterior\n' "$D"
  printf '%s\trim+\ttester\t2026-01-02T03:04:05Z\t0.930000\trim+\t\n' "$A"
} | sort -n >>"$T/want.tsv"
check "review file: r, u, p, note, n, x recorded as typed (lesion, decision, reviewer, time, probability)" \
  bash -c "diff '$T/want.tsv' '$T/review.tsv'"
check "after x the queue advanced to the next lesion ($B)" test "$(field "$T/k1.json" 's["lesion"]')" = "$B"
# the same keys under a decimal-comma locale (de_DE, built here when the system has its source):
# the table still reads, the review file and the export still write '.'
mkdir -p "$T/loc"
if command -v localedef >/dev/null && localedef -i de_DE -f UTF-8 "$T/loc/de_DE.UTF-8" 2>/dev/null; then
  # shellcheck disable=SC2046
  check "decimal-comma locale: the key script runs" env LOCPATH="$T/loc" LC_ALL=de_DE.UTF-8 "$VIEWER" \
    $(subject_args "$FIX") --review "$T/review_de.tsv" --script "$T/keys.txt"
  check "decimal-comma locale: the review file is the same" diff "$T/want.tsv" "$T/review_de.tsv"
else
  echo "(no de_DE locale source here: the decimal-comma case is not run)"
fi
# a note added later, by another reviewer, changes the note only: the decision stays tester's, of
# its time, with the model values tester saw; a note typed without Enter is kept when another
# lesion is chosen (the navigation buttons take no focus, so the field's edit never finished)
printf 'select %s\nkey t\ntype later note\nkey Return\nselect %s\nkey t\ntype unconfirmed\nselect %s\nquit\n' "$A" "$B" "$A" >"$T/notes.txt"
cp "$T/review.tsv" "$T/review_notes.tsv"
check "a second session adds notes" env QSMRIM_REVIEW_TIME=2026-03-04T05:06:07Z "$VIEWER" \
  $(subject_args "$FIX" | sed 's/--reviewer tester/--reviewer other/') --review "$T/review_notes.tsv" --script "$T/notes.txt"
check "a note on a decided lesion keeps its reviewer, time and model values" \
  grep -qP "^$A\trim\+\ttester\t2026-01-02T03:04:05Z\t0.930000\trim\+\tlater note$" "$T/review_notes.tsv"
check "a note typed without Enter is saved when another lesion is selected (by its author, as a note)" \
  grep -qP "^$B\tnone\tother\t2026-03-04T05:06:07Z\t.*\tunconfirmed$" "$T/review_notes.tsv"
check "state lists the three decisions" test "$(field "$T/k1.json" 'len(s["decisions"])')" = 3
VOXD=$("$PY" "$CHECKS" voxel "$T/k2.json" qsm-axial "$FIX/lesions.nii.gz" $(centre_of "$FIX" d))
check "the reviewer's 'unsure' recolours a model rim+ lesion to the review colour" \
  "$PY" "$CHECKS" pixel "$T/k2.json" qsm-axial "$T/d_unsure.png" $VOXD $AMBER 3
check "export: every lesion with model and review columns" bash -c "
  head -1 '$T/export.tsv' | grep -qP '^lesion_id\tvolume_mm3\tcenter_r\tcenter_a\tcenter_s\tprobability\tuncertainty\tmodel_decision\treview_decision\treviewer\ttime\tnote$' &&
  test \$(tail -n +2 '$T/export.tsv' | wc -l) -eq 5 &&
  awk -F'\t' -v d=$D 'NR>1 && \$1==d && \$8==\"rim+\" && \$9==\"unsure\" && \$12==\"thin rim, posterior\" {ok=1} END {exit !ok}' '$T/export.tsv' &&
  awk -F'\t' -v b=$B 'NR>1 && \$1==b && \$9==\"none\" && \$10==\"\" {ok=1} END {exit !ok}' '$T/export.tsv'"
check "headless export (no display) writes the same table" bash -c "
  env -u DISPLAY '$VIEWER' $(subject_args "$FIX") --review '$T/review.tsv' --export '$T/export2.tsv' && cmp '$T/export.tsv' '$T/export2.tsv'"

# ---- the lesion's "N of M listed" line follows a new sort and a new filter ----
E=$(id_of "$FIX" e) # the least probable lesion (model rim-): last by P(rim+), elsewhere by id
printf 'select %s\nstate %s\nsort id\nstate %s\nfilter model-rim-\nstate %s\nquit\n' "$E" "$T/l0.json" "$T/l1.json" "$T/l2.json" >"$T/listed.txt"
check "viewer runs the sort and filter script" run_viewer $(subject_args "$FIX") --review "$T/l_review.tsv" --script "$T/listed.txt"
check "'N of M listed' follows the sort and the filter (the lesion's position and the count change)" "$PY" - "$T/l0.json" "$T/l1.json" "$T/l2.json" <<'PYEOF'
import json, sys
s = [json.load(open(p)) for p in sys.argv[1:4]]
for t in s:
    want = "%d of %d listed" % (t["position"] + 1, t["listed"])
    assert want in t["lesion_text"], (want, t["lesion_text"])
assert s[0]["position"] != s[1]["position"], "the sort must move the lesion for this check to mean anything"
assert s[2]["listed"] < s[1]["listed"], "the filter must hide lesions for this check to mean anything"
PYEOF

# ---- mouse: slices, window/level, zoom, cursor ----
cat >"$T/mouse.txt" <<EOF
select $A
state $T/m0.json
wheel qsm-axial 2
state $T/m1.json
drag qsm-coronal right 150 60
state $T/m2.json
wheel qsm-sagittal 3 ctrl
state $T/m3.json
click qsm-axial 0.25 0.5
state $T/m4.json
focus flair-axial
key Down
state $T/m5.json
key Plus
state $T/m6.json
key Minus 2
state $T/m7.json
key +
state $T/m8.json
quit
EOF
check "viewer runs the mouse script" run_viewer $(subject_args "$FIX") --review "$T/m_review.tsv" --script "$T/mouse.txt"
check "wheel: two slices up in the axial view, the FLAIR axial view follows, other views keep theirs" "$PY" - "$T/m0.json" "$T/m1.json" <<'PYEOF'
import json, sys
a, b = (json.load(open(p))["views"] for p in sys.argv[1:3])
assert b["qsm-axial"]["slice"] == a["qsm-axial"]["slice"] + 2, (a["qsm-axial"], b["qsm-axial"])
assert b["flair-axial"]["slice"] == b["qsm-axial"]["slice"]
assert b["qsm-coronal"]["slice"] == a["qsm-coronal"]["slice"] and b["qsm-sagittal"]["slice"] == a["qsm-sagittal"]["slice"]
PYEOF
check "right drag: QSM window x e (150 px right), level lowered (60 px down), FLAIR untouched" "$PY" - "$T/m1.json" "$T/m2.json" <<'PYEOF'
import json, math, sys
a, b = (json.load(open(p))["window_level"] for p in sys.argv[1:3])
assert abs(b["qsm"][0] / a["qsm"][0] - math.e) < 0.03 * math.e, (a, b)
assert b["qsm"][1] < a["qsm"][1] - 10, (a, b)
assert b["flair"] == a["flair"], (a, b)
PYEOF
check "ctrl+wheel: the sagittal view zooms by 1.15^3, the others keep their zoom" "$PY" - "$T/m2.json" "$T/m3.json" <<'PYEOF'
import json, sys
a, b = (json.load(open(p))["views"] for p in sys.argv[1:3])
r = a["qsm-sagittal"]["half_height_mm"] / b["qsm-sagittal"]["half_height_mm"]
assert abs(r - 1.15 ** 3) < 1e-6, r
assert a["qsm-axial"]["half_height_mm"] == b["qsm-axial"]["half_height_mm"]
PYEOF
check "click: the cursor moves to the clicked point in-plane, the axial slice stays, coronal/sagittal follow" "$PY" - "$T/m3.json" "$T/m4.json" <<'PYEOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
v = b["views"]["qsm-axial"]
c = b["cursor_ijk"]
x = v["index_origin_px"][0] + c[0] * v["di_px"][0] + c[1] * v["dj_px"][0]
y = v["index_origin_px"][1] + c[0] * v["di_px"][1] + c[1] * v["dj_px"][1]
assert abs(x - 0.25 * v["size"][0]) < 1.5 and abs(y - 0.5 * v["size"][1]) < 1.5, (x, y, v["size"])
assert b["views"]["qsm-axial"]["slice"] == a["views"]["qsm-axial"]["slice"]
assert b["views"]["qsm-sagittal"]["slice"] == int(c[0] + 0.5) and b["views"]["qsm-coronal"]["slice"] == int(c[1] + 0.5)
PYEOF
check "key Down in a view: one slice down" "$PY" - "$T/m4.json" "$T/m5.json" <<'PYEOF'
import json, sys
a, b = (json.load(open(p))["views"] for p in sys.argv[1:3])
assert b["flair-axial"]["slice"] == a["flair-axial"]["slice"] - 1 and b["qsm-axial"]["slice"] == b["flair-axial"]["slice"]
PYEOF
check "keys Plus, Minus (the README's names) and + zoom the focused view by 1.25, 0.8^2 and 1.25" "$PY" - "$T/m5.json" "$T/m6.json" "$T/m7.json" "$T/m8.json" <<'PYEOF'
import json, sys
h = [json.load(open(p))["views"]["flair-axial"]["half_height_mm"] for p in sys.argv[1:5]]
for (a, b), f in zip(zip(h, h[1:]), (1.25, 0.8 ** 2, 1.25)):
    assert abs(a / b - f) < 1e-6, (h, f)
PYEOF
check "no decision was made by mouse or view keys" test "$(tail -n +2 "$T/m_review.tsv" | wc -l)" -eq 0

finish
