#!/usr/bin/env bash
# `qsmrim lesions` as users and scripts call it: outputs, exit codes, one-line errors.
set -u
DATA=${QSMRIM_TEST_DATA:?}
source "$(dirname "$0")/../cli_checks.sh"

MASK=$DATA/open_ms_data/masks/patient01_lesions_mni.nii.gz
check "help exits 0 and documents the columns" bash -c "'$Q' lesions --help | grep -q touches_border"
check "top-level help lists lesions" bash -c "'$Q' --help | grep -q '^  lesions'"
check "real mask, 26-connectivity: 251 lesions" bash -c "
  '$Q' lesions --mask '$MASK' --out '$T/l26.tsv' --out-labels '$T/l26.nrrd' 2>/dev/null &&
  test \$(tail -n +2 '$T/l26.tsv' | wc -l) -eq 251 &&
  head -1 '$T/l26.tsv' | grep -qP '^lesion_id\tvoxels\tvolume_mm3\tcenter_r\tcenter_a\tcenter_s\tbbox\ttouches_border$'"
check "real mask, 6-connectivity: 414 lesions" bash -c "
  '$Q' lesions --mask '$MASK' --connectivity 6 --out '$T/l6.tsv' 2>/dev/null && test \$(tail -n +2 '$T/l6.tsv' | wc -l) -eq 414"
check "label map written back reads as the same 251 lesions" bash -c "
  '$Q' lesions --mask '$T/l26.nrrd' --out '$T/again.tsv' 2>/dev/null && cmp -s '$T/l26.tsv' '$T/again.tsv'"
check "minimum volume filters lesions" bash -c "
  '$Q' lesions --mask '$MASK' --min-volume 10 --out '$T/big.tsv' 2>/dev/null &&
  test \$(tail -n +2 '$T/big.tsv' | wc -l) -lt 251 && ! awk -F'\t' 'NR>1 && \$3 < 10 {bad=1} END {exit !bad}' '$T/big.tsv'"
check "a minimum volume above every lesion: an empty table, said to come from --min-volume" bash -c "
  '$Q' lesions --mask '$MASK' --min-volume 1e9 --out '$T/none.tsv' 2>'$T/none.err' &&
  test \$(wc -l <'$T/none.tsv') -eq 1 && grep -q 'holds no lesion of at least 1e+09 mm3 (--min-volume left out every one)' '$T/none.err'"
check "RAS centres and volumes agree with nibabel" "$PY" - "$MASK" "$T/l26.tsv" <<'PYEOF'
import sys, numpy as np, nibabel as nib, scipy.ndimage as nd
img = nib.load(sys.argv[1]); m = np.asarray(img.dataobj) > 0
lab, n = nd.label(m, np.ones((3, 3, 3)))
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])][1:]
assert len(rows) == n, (len(rows), n)
vox = np.prod(img.header.get_zooms()[:3])
# nibabel's affine maps voxel index to RAS: compare the multisets of (centre, volume)
com = nd.center_of_mass(m, lab, range(1, n + 1))
ras = nib.affines.apply_affine(img.affine, np.array(com))
ours = np.array([[float(x) for x in row[3:6]] for row in rows])
counts = nd.sum(m, lab, range(1, n + 1))
ours_v = np.array([float(row[2]) for row in rows])
ka = np.lexsort(np.round(ras, 2).T[::-1]); kb = np.lexsort(np.round(ours, 2).T[::-1])
assert np.allclose(ras[ka], ours[kb], atol=2e-3), np.abs(ras[ka] - ours[kb]).max()
assert np.allclose(counts[ka] * vox, ours_v[kb], rtol=1e-6)
PYEOF

# volumes printed in full: 75 and 111^3 voxels of 0.75 x 0.75 x 3 mm
"$PY" -c "
import nibabel as nib, numpy as np
a = np.zeros((120, 120, 120), np.uint8); a[1:112, 1:112, 1:112] = 1; a[115:118, 115:118, 1:9] = 2; a[115, 115, 9:12] = 2
nib.save(nib.Nifti1Image(a, np.diag([0.75, 0.75, 3, 1])), '$T/vol.nii.gz')"
check "volumes in full, no exponent (126.5625 and 2307877.3125 mm3)" bash -c "
  '$Q' lesions --mask '$T/vol.nii.gz' --out '$T/vol.tsv' 2>/dev/null && ! grep -q 'e+' '$T/vol.tsv' &&
  awk -F'\t' 'NR > 1 { v[\$1] = \$3 } END { d1 = v[1] / 2307877.3125 - 1; d2 = v[2] / 126.5625 - 1;
    exit !(d1 * d1 < 1e-18 && d2 * d2 < 1e-18) }' '$T/vol.tsv'"

# empty mask: a header-only table, exit 0, a notice
"$PY" -c "import nibabel as nib, numpy as np; nib.save(nib.Nifti1Image(np.zeros((5,5,5),np.uint8), np.eye(4)), '$T/empty.nii.gz')"
check "empty mask: exit 0, header only, notice" bash -c "
  '$Q' lesions --mask '$T/empty.nii.gz' --out '$T/e.tsv' 2>'$T/e.err' && test \$(wc -l <'$T/e.tsv') -eq 1 && grep -q 'no lesions' '$T/e.err'"

# errors: one line, names the input, right exit code; nothing written
check "missing --mask is a usage error (2)" one_line_error 2 "--mask is required" "$Q" lesions --out "$T/x.tsv"
check "bad connectivity is a usage error (2)" one_line_error 2 "must be 6 or 26" "$Q" lesions --mask "$MASK" --connectivity 18 --out "$T/x.tsv"
check "connectivity out of any range: the same message" one_line_error 2 "must be 6 or 26, got 0" "$Q" lesions --mask "$MASK" --connectivity 0 --out "$T/x.tsv"
check "unknown option is a usage error (2)" one_line_error 2 "unknown or incomplete option" "$Q" lesions --mask "$MASK" --bogus --out "$T/x.tsv"
check "missing file: exit 1, names it" one_line_error 1 "nothere.nii.gz: no such file" "$Q" lesions --mask "$T/nothere.nii.gz" --out "$T/x.tsv"
echo "not an image" >"$T/corrupt.nii"
check "corrupt file: exit 1, names it" one_line_error 1 "corrupt.nii" "$Q" lesions --mask "$T/corrupt.nii" --out "$T/x.tsv"
"$PY" -c "import nibabel as nib, numpy as np; a=np.zeros((5,5,5),np.float32); a[2,2,2]=0.5; nib.save(nib.Nifti1Image(a, np.eye(4)), '$T/prob.nii.gz')"
check "non-integer labels: exit 1" one_line_error 1 "is not a label map" "$Q" lesions --mask "$T/prob.nii.gz" --out "$T/x.tsv"
"$PY" -c "import nibabel as nib, numpy as np; nib.save(nib.Nifti1Image(np.zeros((5,5,5,2),np.uint8), np.eye(4)), '$T/four.nii.gz')"
check "4D input: exit 1" one_line_error 1 "is a 4D image" "$Q" lesions --mask "$T/four.nii.gz" --out "$T/x.tsv"
check "output folder missing: exit 1" one_line_error 1 "does-not-exist" "$Q" lesions --mask "$MASK" --out "$T/does-not-exist/x.tsv"
touch "$T/afile"
check "output 'folder' that is a file: said so" one_line_error 1 "its folder $T/afile is not a folder" "$Q" lesions --mask "$MASK" --out "$T/afile/x.tsv"
# outputs are checked before any is written: a missing --out-labels folder leaves an existing
# table as it was; an output that is the input is refused (the mask would be overwritten)
echo SENTINEL >"$T/keep.tsv"
check "missing --out-labels folder: exit 1, table kept" bash -c "
  ! '$Q' lesions --mask '$MASK' --out '$T/keep.tsv' --out-labels '$T/nodir/l.nii' 2>'$T/k.err' &&
  grep -q 'nodir does not exist' '$T/k.err' && grep -qx SENTINEL '$T/keep.tsv'"
cp "$MASK" "$T/in-mask.nii.gz"
check "output = input: exit 1, input kept" bash -c "
  ! '$Q' lesions --mask '$T/in-mask.nii.gz' --out '$T/x.tsv' --out-labels '$T/in-mask.nii.gz' 2>'$T/s.err' &&
  grep -q 'is also the --mask input' '$T/s.err' && cmp -s '$MASK' '$T/in-mask.nii.gz'"
# an output that is a pipe (or a device: /dev/null) would be replaced by a plain file: refused
mkfifo "$T/fifo.tsv"
check "output that is a pipe: exit 1, said so, the pipe kept" bash -c "
  ! '$Q' lesions --mask '$MASK' --out '$T/fifo.tsv' 2>'$T/f.err' && [ \$(wc -l <'$T/f.err') -eq 1 ] &&
  grep -q 'fifo.tsv: is a pipe, not a file' '$T/f.err' && [ -p '$T/fifo.tsv' ]"
rm "$T/fifo.tsv"
# a newline in a file name is written as \n: the error stays one line
check "a newline in the input's name: one error line" one_line_error 1 'a\\nb.nii.gz: no such file' "$Q" lesions --mask "$T/a
b.nii.gz" --out "$T/x.tsv"
# an output name of up to 255 bytes works: its temporary name (longer by a token and a PID) is cut
long=$(printf 'e%.0s' $(seq 1 251)).tsv
check "an output name of 255 bytes is written" bash -c "'$Q' lesions --mask '$MASK' --out '$T/$long' --quiet && test -s '$T/$long'"
rm -f "$T/$long"
check "no partial output after failures" test ! -e "$T/x.tsv"
# what a run killed outright (kill -9) left beside its outputs is removed by the next run there
# (temporary names carry a token of the boot and PID namespace: Logic/core/fileutil.c)
true & dead=$!; wait $dead
tok=$("$PY" "$(dirname "$0")/../leftover_token.py")
mkdir -p "$T/k" && echo partial >"$T/k/.l.tsv.qsmrim-tmp-$tok-$dead-1" && echo partial >"$T/k/.l.nrrd.qsmrim-tmp-$tok-$dead-2"
check "a killed run's temporaries are removed by the next run" bash -c "
  '$Q' lesions --mask '$MASK' --out '$T/k/l.tsv' --out-labels '$T/k/l.nrrd' --quiet && test \"\$(ls -A '$T/k' | tr '\n' ' ')\" = 'l.nrrd l.tsv '"
# a label map over the file-size limit (ulimit -f), in each format: one error line, the old
# outputs kept. An uncompressed one is refused before it is written; NIfTI's and MetaImage's own
# messages of a short compressed write stay off stderr (the read-back reports it), and NRRD's
# names the output, not its staged temporary (the label map asks for compression: .mha and .nrrd
# compress, .nii never does)
mkdir -p "$T/fs"
for ext in nii mha nrrd nii.gz; do
  echo OLD >"$T/fs/l.$ext"
  echo OLD >"$T/fs/t.tsv"
  check "labels as .$ext over the file-size limit: one error line naming it" \
    one_line_error 1 "^qsmrim lesions: error: $T/fs/l.$ext: [^.]*\(limit\|file-size\)" \
    bash -c "ulimit -f 20; exec '$Q' lesions --mask '$MASK' --out '$T/fs/t.tsv' --out-labels '$T/fs/l.$ext'"
  check "labels as .$ext over the file-size limit: old outputs kept, nothing staged left" \
    test "$(cat "$T/fs/l.$ext" "$T/fs/t.tsv" | tr '\n' ' ')$(ls -A "$T/fs" | grep -c '^\.')" = "OLD OLD 0"
  rm -f "$T/fs/l.$ext"
done
rm -rf "$T/fs"
check "no temporary files left" bash -c "! ls -A '$T' | grep -q '^\.'"

[ $fails -eq 0 ] && echo "all passed" || { echo "$fails failed"; exit 1; }
