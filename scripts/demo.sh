#!/usr/bin/env bash
# The main job on a fresh machine (README command 1): install the dependencies, build, generate a
# phantom subject, classify its lesions with the shipped demonstration model, and write the
# outputs and a picture.
#
#   scripts/demo.sh [OUT_DIR]        (default demo-out/)
#
# The phantom subject is SIMULATED (real anatomy and lesion shapes, simulated QSM and rims; see
# README "Phantom cohort"), and so is the data the demonstration model was trained on. Nothing
# here says anything about patients.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo-out}
seed=${QSMRIM_DEMO_SEED:-2}   # not the training cohort's seed (1): this subject is new to the model

bash scripts/setup-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
qsmrim=build/bin/qsmrim

mkdir -p "$out"
echo
echo "== 1. a phantom subject (simulated QSM on real anatomy and lesion shapes), seed $seed"
"$qsmrim" phantom --out "$out/phantom" --subjects 1 --seed "$seed" --overwrite --quiet
sub="$out/phantom/sub-001"

echo "== 2. qsmrim predict with the shipped demonstration model"
"$qsmrim" predict --qsm "$sub/sub-001_qsm.nii.gz" --flair "$sub/sub-001_flair.nii.gz" \
    --lesions "$sub/sub-001_lesions.nii.gz" \
    --out-labels "$out/overlay.nrrd" --out-probability "$out/probability.nrrd" \
    --out-table "$out/lesions.tsv" --out-picture "$out/prediction.png" \
    --title "qsmrim demo: phantom subject (seed $seed) - simulated data"

echo
echo "== 3. the lesion table, most likely rim+ first (truth: the phantom's own annotation)"
# join the prediction with the phantom's truth (annotation column 'rim') by lesion id, in aligned
# columns (awk only: `column` is not part of a minimal Debian system)
awk -F'\t' '
    function row(a, b, c, d, e, f) { printf "%-7s %-11s %-8s %-12s %-9s %s\n", a, b, c, d, e, f }
    NR == FNR { if (FNR > 1) truth[$1] = ($2 == 1 ? "rim+" : "rim-"); next }
    FNR == 1  { row("lesion", "volume_mm3", "P(rim+)", "uncertainty", "decision", "truth"); next }
              { row($1, $2, $6, $7, $8, truth[$1]) }' \
    "$sub/sub-001_annotations.tsv" "$out/lesions.tsv" | head -n 13
n=$(( $(wc -l <"$out/lesions.tsv") - 1 ))
[ "$n" -gt 12 ] && echo "... $n lesions in all"
echo
echo "Outputs in $out/:"
echo "  prediction.png    axial slices: QSM | FLAIR | decisions (red rim+, amber review, blue rim-) | close-up"
echo "  overlay.nrrd      label map 1 rim-, 2 review, 3 rim+ (colours: Resources/QSMRimLesions.ctbl)"
echo "  probability.nrrd  each lesion's P(rim+)"
echo "  lesions.tsv       the full table; phantom/ holds the subject's images and truth"
echo "Review it interactively: build/bin/qsmrim-review --qsm $sub/sub-001_qsm.nii.gz \\"
echo "    --flair $sub/sub-001_flair.nii.gz --lesions $sub/sub-001_lesions.nii.gz \\"
echo "    --table $out/lesions.tsv --overlay $out/overlay.nrrd --probability $out/probability.nrrd"
