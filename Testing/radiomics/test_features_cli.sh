#!/usr/bin/env bash
# test_features_cli.sh - `qsmrim features`: output format, values against PyRadiomics' expected
# table, --lesions rows, threads, and one-line errors that leave no output behind.
set -u
D="$QSMRIM_TEST_DATA/pyradiomics"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$QSMRIM" features --help > "$T/help" || fail "--help exit code"
grep -q -- "--lesions" "$T/help" || fail "--help text"

# 1. one region, all seven classes on Original + Wavelet: every value of PyRadiomics' table
cat > "$T/all.yaml" <<'Y'
imageType:
  Original: {}
  Wavelet: {}
featureClass:
  firstorder:
  glcm:
  glrlm:
  shape:
  glszm:
  gldm:
  ngtdm:
setting:
  binWidth: 25
  voxelArrayShift: 0
  minimumROIDimensions: 1
Y
"$QSMRIM" features --image "$D/breast1_image.nrrd" --mask "$D/breast1_label.nrrd" --params "$T/all.yaml" \
  --out "$T/breast1.csv" 2> "$T/err" || { cat "$T/err"; fail "features --mask"; }
[ "$(head -1 "$T/breast1.csv")" = "name,value" ] || fail "header"
[ "$(wc -l < "$T/breast1.csv")" -eq 852 ] || fail "expected 851 features + header"
awk -F, 'NR == FNR { want[$1] = $2; n++; next }
         FNR > 1 { seen++; if (!($1 in want)) { print "unexpected " $1; bad++; next }
                   w = want[$1]; g = $2; d = g - w; if (d < 0) d = -d; a = w < 0 ? -w : w;
                   tol = 1e-6 * a; if (tol < 1e-9) tol = 1e-9;
                   if (d > tol) { print $1 " got " g " want " w; bad++ } }
         END { if (seen != n) { print "rows " seen " vs " n; bad++ } exit bad > 0 }' \
  "$D/expected/breast1_original_wavelet_bw25.csv" "$T/breast1.csv" || fail "values differ from PyRadiomics"
# the names come in PyRadiomics' order
cut -d, -f1 "$D/expected/breast1_original_wavelet_bw25.csv" > "$T/names.want"
tail -n +2 "$T/breast1.csv" | cut -d, -f1 > "$T/names.got"
cmp -s "$T/names.want" "$T/names.got" || fail "feature order"
# 17 significant digits
grep -q "^original_shape_MeshVolume,124.09130483210" "$T/breast1.csv" || fail "MeshVolume digits"

# 2. the QSMRim-Net preset by default: 536 features
"$QSMRIM" features --image "$D/brain1_image.nrrd" --mask "$D/brain1_label.nrrd" --out "$T/preset.csv" --quiet \
  || fail "preset"
[ "$(wc -l < "$T/preset.csv")" -eq 537 ] || fail "preset has 536 features"

# 3. --lesions: brain1's mask split into 26-connected lesions, one row each, same with 1 or 2 threads
"$QSMRIM" features --image "$D/brain1_image.nrrd" --lesions "$D/brain1_label.nrrd" --out "$T/l1.csv" --threads 1 \
  2> "$T/l1.err" || { cat "$T/l1.err"; fail "--lesions"; }
"$QSMRIM" features --image "$D/brain1_image.nrrd" --lesions "$D/brain1_label.nrrd" --out "$T/l2.csv" --threads 2 \
  2> /dev/null || fail "--lesions --threads 2"
cmp -s "$T/l1.csv" "$T/l2.csv" || fail "threads change the output"
head -1 "$T/l1.csv" | grep -q "^lesion_id,original_shape_Elongation," || fail "--lesions header"
[ "$(head -1 "$T/l1.csv" | tr ',' '\n' | wc -l)" -eq 537 ] || fail "--lesions columns"
"$QSMRIM" lesions --mask "$D/brain1_label.nrrd" --out "$T/table.tsv" 2> /dev/null || fail "qsmrim lesions"
[ "$(wc -l < "$T/l1.csv")" -eq "$(wc -l < "$T/table.tsv")" ] || fail "one row per lesion"
# the largest lesion's row equals the --mask result for the same component
big=$(awk -F'\t' 'NR > 1 && $2 > m { m = $2; id = $1 } END { print id }' "$T/table.tsv")
"$QSMRIM" lesions --mask "$D/brain1_label.nrrd" --out "$T/t2.tsv" --out-labels "$T/lab.nrrd" 2> /dev/null
"$QSMRIM" features --image "$D/brain1_image.nrrd" --mask "$T/lab.nrrd" --label "$big" --out "$T/big.csv" --quiet \
  || fail "--label"
tail -n +2 "$T/big.csv" | cut -d, -f2 > "$T/big.row"
awk -F, -v id="$big" '$1 == id' "$T/l1.csv" | cut -d, -f2- | tr ',' '\n' > "$T/l1.row"
cmp -s "$T/big.row" "$T/l1.row" || fail "--lesions row differs from --mask --label"
# single-voxel components are refused by PyRadiomics: nan row and a notice
if grep -q "1 voxel" "$T/l1.err"; then grep -q ",nan" "$T/l1.csv" || fail "nan row"; fi

# 4. errors: one line naming the problem, exit codes, nothing written
"$QSMRIM" features --mask "$D/brain1_label.nrrd" --out "$T/x.csv" 2> "$T/e" ; [ $? -eq 2 ] || fail "missing --image"
"$QSMRIM" features --image "$D/brain1_image.nrrd" --mask "$D/brain1_label.nrrd" --lesions "$D/brain1_label.nrrd" \
  --out "$T/x.csv" 2> "$T/e"; [ $? -eq 2 ] || fail "--mask with --lesions"
"$QSMRIM" features --image "$T/none.nrrd" --mask "$D/brain1_label.nrrd" --out "$T/x.csv" 2> "$T/e"
[ $? -eq 1 ] || fail "missing image exit code"
[ "$(wc -l < "$T/e")" -eq 1 ] && grep -q "none.nrrd" "$T/e" || fail "missing image message"
printf 'setting:\n  binWidth: 25\n  resampledPixelSpacing: [1, 1, 1]\n' > "$T/bad.yaml"
"$QSMRIM" features --image "$D/brain1_image.nrrd" --mask "$D/brain1_label.nrrd" --params "$T/bad.yaml" \
  --out "$T/x.csv" 2> "$T/e"; [ $? -eq 1 ] || fail "unsupported setting exit code"
grep -q "resampledPixelSpacing" "$T/e" || fail "unsupported setting not named"
"$QSMRIM" features --image "$D/brain1_image.nrrd" --mask "$D/brain1_label.nrrd" --label 7 --out "$T/x.csv" 2> "$T/e"
[ $? -eq 1 ] && grep -q "label 7" "$T/e" || fail "absent label"
"$QSMRIM" features --image "$D/breast1_image.nrrd" --mask "$D/brain1_label.nrrd" --out "$T/x.csv" 2> "$T/e"
[ $? -eq 1 ] && grep -q "different grids" "$T/e" || fail "grid mismatch"
[ ! -e "$T/x.csv" ] || fail "an output was left after a failure"
ls -A "$T" | grep -q "^\.x\.csv" && fail "a temporary file was left"
# 5. a double image: voxel values are held as float32, and a notice says so (not with --quiet)
PY=${QSMRIM_PYTHON:-/usr/bin/python3}
"$PY" - "$T" <<'EOF2' || fail "writing the double test image"
import struct, sys
t = sys.argv[1]
def nrrd(path, kind, fmt, values):
    head = ("NRRD0004\ntype: %s\ndimension: 3\nspace: left-posterior-superior\nsizes: 8 8 8\n"
            "space directions: (1,0,0) (0,1,0) (0,0,1)\nkinds: domain domain domain\nendian: little\n"
            "encoding: raw\nspace origin: (0,0,0)\n\n" % kind)
    with open(path, "wb") as f:
        f.write(head.encode() + struct.pack("<%d%s" % (len(values), fmt), *values))
vals, mask = [], []
for z in range(8):
    for y in range(8):
        for x in range(8):
            vals.append(1000.0 + 1e-6 * (x + 3 * y + 7 * z))
            mask.append(1 if 2 <= x < 6 and 2 <= y < 6 and 2 <= z < 6 else 0)
nrrd(t + "/d.nrrd", "double", "d", vals)
nrrd(t + "/m.nrrd", "unsigned char", "B", mask)
# NaN inside the mask (voxel 2,2,2) and outside it (voxel 0,0,0)
nrrd(t + "/nan_in.nrrd", "double", "d", [float("nan") if i == 2 + 8 * 2 + 64 * 2 else v for i, v in enumerate(vals)])
nrrd(t + "/nan_out.nrrd", "double", "d", [float("nan") if i == 0 else v for i, v in enumerate(vals)])
EOF2
"$QSMRIM" features --image "$T/d.nrrd" --mask "$T/m.nrrd" --out "$T/d.csv" 2> "$T/e" || fail "double image: $(cat "$T/e")"
grep -q "holds double values; they are read as float32" "$T/e" || fail "no rounding notice for a double image: $(cat "$T/e")"
"$QSMRIM" features --image "$T/d.nrrd" --mask "$T/m.nrrd" --out "$T/d2.csv" --quiet 2> "$T/e" || fail "double image --quiet"
[ ! -s "$T/e" ] || fail "--quiet still printed: $(cat "$T/e")"
cmp -s "$T/d.csv" "$T/d2.csv" || fail "--quiet changed the values"

# NaN voxels: inside the mask the one error line says so (a warning counting them came first);
# outside it the features are written and a warning counts them
rc=0; "$QSMRIM" features --image "$T/nan_in.nrrd" --mask "$T/m.nrrd" --out "$T/n.csv" --quiet 2> "$T/e" || rc=$?
[ $rc -eq 1 ] && [ "$(wc -l < "$T/e")" -eq 1 ] && grep -q "label 1 contains 1 NaN/Inf voxels" "$T/e" && [ ! -e "$T/n.csv" ] ||
  fail "NaN inside the mask: rc $rc, $(cat "$T/e")"
# (Original image only: the wavelet filters of the default preset read past the mask's box)
printf 'imageType:\n  Original: {}\nfeatureClass:\n  firstorder:\n  glcm:\nsetting:\n  binWidth: 25\n' > "$T/orig.yaml"
"$QSMRIM" features --image "$T/d.nrrd" --mask "$T/m.nrrd" --params "$T/orig.yaml" --out "$T/o.csv" --quiet
"$QSMRIM" features --image "$T/nan_out.nrrd" --mask "$T/m.nrrd" --params "$T/orig.yaml" --out "$T/n.csv" --quiet 2> "$T/e" ||
  fail "NaN outside the mask: $(cat "$T/e")"
[ "$(cat "$T/e")" = "qsmrim features: warning: $T/nan_out.nrrd: 1 voxels are NaN or Inf" ] || fail "NaN outside the mask: $(cat "$T/e")"
cmp -s "$T/o.csv" "$T/n.csv" || fail "a NaN outside the mask changed the features"

# what a run killed outright (kill -9) left beside its output is removed by the next run there
# (temporary names carry a token of the boot and PID namespace: Logic/core/fileutil.c)
true & dead=$!; wait $dead
tok=$("$PY" "$(dirname "$0")/../leftover_token.py")
mkdir -p "$T/k" && echo partial >"$T/k/.o.csv.qsmrim-tmp-$tok-$dead-1"
"$QSMRIM" features --image "$T/d.nrrd" --mask "$T/m.nrrd" --params "$T/orig.yaml" --out "$T/k/o.csv" --quiet ||
  fail "features into a folder with a killed run's temporary"
[ "$(ls -A "$T/k")" = o.csv ] || fail "a killed run's temporary stayed: $(ls -A "$T/k")"

echo "features CLI: all checks passed"
