#!/usr/bin/env bash
# `cmake --install` into a fresh prefix lays out what a 3D Slicer extension ships
# (lib/Slicer-X.Y/cli-modules/{QSMRimLesions, QSMRimLesions.xml, QSMRimLesions.ctbl}) plus the
# tools and share/qsmrim, and the installed module runs from there with the installed model.
#   $1 = the build folder
set -euo pipefail
B=$1
W=$(mktemp -d "${TMPDIR:-/tmp}/qsmrim_install.XXXXXX")
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
P="$W/prefix"
cmake --install "$B" --prefix "$P" >"$W/install.log" || { cat "$W/install.log"; fail "cmake --install"; }
M="$P/lib/Slicer-5.6/cli-modules"
[ -x "$M/QSMRimLesions" ] || fail "no executable QSMRimLesions in $M"
for f in "$M"/*; do
  n=$(basename "$f")
  [ -x "$f" ] && [ "${n#*.}" != "$n" ] && fail "executable with a dot in its name in cli-modules: $n (Slicer would skip it)"
done
[ -f "$M/QSMRimLesions.xml" ] || fail "no QSMRimLesions.xml beside the module"
cmp "$M/QSMRimLesions.ctbl" "$QSMRIM_SOURCE_DIR/Resources/QSMRimLesions.ctbl" || fail "colour table"
"$M/QSMRimLesions" --xml | cmp - "$M/QSMRimLesions.xml" || fail "--xml differs from the installed XML"
for f in bin/qsmrim share/qsmrim/models/qsmrim_demo.h5 share/qsmrim/models/qsmrim_demo.md share/qsmrim/QSMRimLesions.ctbl \
         share/qsmrim/radiomics/qsmrimnet.yaml share/qsmrim/open_ms_data/PROVENANCE.md; do
  [ -e "$P/$f" ] || fail "not installed: $f"
done

# Run the installed tools away from the source and build trees: phantom data and model must come
# from the prefix (the paths they report say where they were found).
cd "$W"
env -u QSMRIM_RESOURCE_DIR -u QSMRIM_PHANTOM_DATA "$P/bin/qsmrim" phantom --out "$W/ph" --subjects 1 --seed 4 --quiet
S="$W/ph/sub-001"
env -u QSMRIM_RESOURCE_DIR "$M/QSMRimLesions" --qsm "$S/sub-001_qsm.nii.gz" --flair "$S/sub-001_flair.nii.gz" \
  --lesions "$S/sub-001_lesions.nii.gz" --table "$W/t.tsv" --overlay "$W/o.nrrd" >/dev/null 2>"$W/err" ||
  { cat "$W/err"; fail "installed QSMRimLesions failed"; }
grep -q "model $(cd "$P" && pwd -P)/share/qsmrim/models/qsmrim_demo.h5" "$W/err" ||
  fail "the installed module did not use the installed model: $(cat "$W/err")"
[ "$(wc -l <"$W/t.tsv")" -gt 2 ] || fail "no lesions classified"
echo "installed layout complete; the installed module ran with $(grep -o 'model [^,]*' "$W/err")"
