#!/usr/bin/env bash
# The main job on a fresh machine: install dependencies, build, and run qsmrim on real data.
# README command 1. Outputs go to demo-out/ (or the folder given as the first argument).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo-out}
bash scripts/setup-deps.sh
cmake -S . -B build
cmake --build build -j"$(nproc)"
mkdir -p "$out"
mask=ExternalData/open_ms_data/masks/patient01_lesions_mni.nii.gz
build/bin/qsmrim lesions --mask "$mask" --out "$out/lesions.tsv" --out-labels "$out/lesions.nrrd"
echo
echo "Lesion table of $mask (first rows):"
head -n 8 "$out/lesions.tsv" | column -t -s $'\t'
echo "... $(( $(wc -l <"$out/lesions.tsv") - 1 )) lesions; table and label map in $out/"
