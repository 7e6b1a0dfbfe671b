#!/usr/bin/env bash
# `qsmrim train` and `qsmrim evaluate` end to end on a tiny cohort (Testing/train/mini_cohort.c):
# a small cross-validation of every architecture (tiny network width, a few epochs), the report
# files and their keys, training with a held-out split, scoring the trained model, resuming an
# interrupted evaluation, combining reports, and bad input (one-line errors, exit codes).
# usage: test_train_cli.sh MINI_COHORT_EXECUTABLE
set -u
MINI=${1:?path of qsmrim_mini_cohort}
source "$(dirname "$0")/../cli_checks.sh"
"$PY" -c 'import json' || exit 77

"$MINI" "$T/c" 12 3 || { echo "cannot write the mini cohort"; exit 1; }
cat >"$T/tiny.yaml" <<'EOF'
width: 2
epochs: 2
batch_size: 16
rf_trees: 60
rf_tune_trees: 20
rf_mtry: [2, 4]
rf_inner_folds: 3
EOF

CONTRACT_KEYS="n_subjects n_lesions n_rimpos proc_auc proc_auc_normalized pr_auc f1 sensitivity specificity ppv accuracy tp fp fn tn count_r count_r_ci count_mse review_fraction_at_high_sensitivity"
metrics_ok() { # metrics_ok DIR: every contract key, consistent counts, values in range
  "$PY" - "$1/metrics.json" "$CONTRACT_KEYS" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
missing = [k for k in sys.argv[2].split() if k not in m]
assert not missing, missing
assert m["tp"] + m["fp"] + m["fn"] + m["tn"] == m["n_lesions"], m
assert m["tp"] + m["fn"] == m["n_rimpos"]
for k in ("proc_auc", "pr_auc", "f1", "sensitivity", "specificity", "accuracy"):
    assert m[k] is None or 0 <= m[k] <= 1, (k, m[k])
assert len(m["count_r_ci"]) == 2
PYEOF
}
predictions_ok() { # predictions_ok DIR LESIONS
  head -1 "$1/predictions.tsv" | grep -qP '^subject\tlesion_id\tfold\tlabel\tprobability$' &&
    test "$(tail -n +2 "$1/predictions.tsv" | wc -l)" -eq "$2" &&
    head -1 "$1/decisions.tsv" | grep -qP '^subject\tlesion_id\tfold\tdecision\treview(\tprobability_seed[0-9]+)*$' &&
    test "$(cut -f1-3 "$1/predictions.tsv")" = "$(cut -f1-3 "$1/decisions.tsv")"
}

N=$(( $(cat "$T"/c/*_annotations.tsv | grep -cv lesion_id) ))
for arch in qsmrimnet aprl-nn aprl-rf; do
  check "$arch: 3-fold x 2-seed cross-validation runs" \
    "$Q" evaluate --manifest "$T/c/cohort.tsv" --report "$T/e-$arch" --arch "$arch" --folds 3 --seeds 2 \
    --bootstrap 40 --config "$T/tiny.yaml" --note "mini test cohort" --quiet
  check "$arch: metrics.json holds the contract's keys" metrics_ok "$T/e-$arch"
  check "$arch: predictions.tsv has one row per annotated lesion" predictions_ok "$T/e-$arch" "$N"
  check "$arch: figures and report written" bash -c "test -s '$T/e-$arch/roc.png' && test -s '$T/e-$arch/pr.png' &&
    test -s '$T/e-$arch/counts.png' && grep -q 'Table 2' '$T/e-$arch/report.html'"
done
# the viewer's review files as annotation tables: rim+ and rim- decisions are the labels, so the
# same decisions give the same cross-validation; an unsure lesion is left out with the notice
for f in "$T"/c/sub-*_annotations.tsv; do
  awk -F'\t' -v OFS='\t' 'NR == 1 { print "lesion_id", "decision", "reviewer", "time", "model_probability", "model_decision", "note"; next }
    { print $1, ($2 == 1 ? "rim+" : "rim-"), "r1", "2026-11-24T03:00:00Z", "NA", "none", "" }' "$f" >"${f%_annotations.tsv}_review.tsv"
done
sed 's/_annotations\.tsv/_review.tsv/' "$T/c/cohort.tsv" >"$T/c/cohort_rv.tsv"
check "review files as annotation tables: the same decisions give the same cross-validation as the rim tables" bash -c "
  '$Q' evaluate --manifest '$T/c/cohort_rv.tsv' --report '$T/e-rv' --arch aprl-rf --folds 3 --seeds 2 --bootstrap 40 \
    --config '$T/tiny.yaml' --quiet && cmp -s '$T/e-aprl-rf/predictions.tsv' '$T/e-rv/predictions.tsv'"
awk -F'\t' -v OFS='\t' 'NR == 2 { $2 = "unsure" } { print }' "$T/c/sub-01_review.tsv" >"$T/c/sub-01_review2.tsv"
sed 's/sub-01_review\.tsv/sub-01_review2.tsv/' "$T/c/cohort_rv.tsv" >"$T/c/cohort_rv2.tsv"
check "... an unsure decision leaves its lesion out, with the notice naming the review file" bash -c "
  '$Q' evaluate --manifest '$T/c/cohort_rv2.tsv' --report '$T/e-rv2' --arch aprl-rf --folds 3 --seeds 1 --bootstrap 0 \
    --config '$T/tiny.yaml' 2>'$T/rv2.err' &&
  grep -q \"lesions of the lesion maps are not annotated (no row in their table, or a review decision of unsure or none) and are left out: [0-9]* of [0-9]* in 'sub-01' (.*sub-01_review2.tsv)\" '$T/rv2.err' &&
  test \$(tail -n +2 '$T/e-rv2/predictions.tsv' | wc -l) -eq $((N - 1))"
# review files where the viewer leaves them (RESULTS/SUBJECT/review.tsv): usable when the run read
# the lesion map by its labels; refused when it read the map as a mask (ids of components, not
# labels) or read another lesion map than the manifest's
for mode in labels mask; do
  "$Q" predict --manifest "$T/c/cohort.tsv" --out-dir "$T/pr-$mode" --lesion-input "$mode" --threads 1 --quiet >/dev/null
  for f in "$T"/c/sub-*_review.tsv; do # with the run's probabilities, as the viewer records them
    s=$(basename "$f" _review.tsv)
    awk -F'\t' -v OFS='\t' 'NR == FNR { if (FNR > 1) p[$1] = $6; next } FNR > 1 && ($1 in p) { $5 = p[$1] } { print }' \
      "$T/pr-$mode/$s/lesions.tsv" "$f" >"$T/pr-$mode/$s/review.tsv"
  done
  awk -F'\t' -v OFS='\t' -v m="$mode" 'NR > 1 { $5 = "../pr-" m "/" $1 "/review.tsv" } { print }' "$T/c/cohort.tsv" >"$T/c/cohort_pr_$mode.tsv"
done
check "review files in a cohort run's folders (map read by its labels): the same cross-validation" bash -c "
  '$Q' evaluate --manifest '$T/c/cohort_pr_labels.tsv' --report '$T/e-prl' --arch aprl-rf --folds 3 --seeds 2 --bootstrap 40 \
    --config '$T/tiny.yaml' --quiet && cmp -s '$T/e-aprl-rf/predictions.tsv' '$T/e-prl/predictions.tsv'"
check "... made on a run that read the lesion map as a mask: refused, one line" one_line_error 1 \
  "subject 'sub-01': .*pr-mask/sub-01/review.tsv was made on the prediction .*pr-mask/sub-01/lesions.tsv, .*sub-01_lesions.nrrd .*as training reads it" \
  "$Q" evaluate --manifest "$T/c/cohort_pr_mask.tsv" --report "$T/e-prm" --arch aprl-rf --folds 3 --seeds 1 --quiet
awk -F'\t' -v OFS='\t' '$1 == "sub-02" { $5 = "../pr-labels/sub-01/review.tsv" } { print }' "$T/c/cohort_pr_labels.tsv" >"$T/c/cohort_pr_other.tsv"
check "... made on another subject's lesion map: refused, one line" one_line_error 1 \
  "subject 'sub-02': .*pr-labels/sub-01/review.tsv was made on the prediction .*pr-labels/sub-01/lesions.tsv, .*sub-02_lesions.nrrd .*as training reads it" \
  "$Q" evaluate --manifest "$T/c/cohort_pr_other.tsv" --report "$T/e-pro" --arch aprl-rf --folds 3 --seeds 1 --quiet
# the mask run's folder predicted again by the labels: the review files stay, made on the old ids
"$Q" predict --manifest "$T/c/cohort.tsv" --out-dir "$T/pr-mask" --lesion-input labels --threads 1 --quiet >/dev/null
check "... made on an earlier run into the same folder (its probabilities differ): refused, one line" one_line_error 1 \
  "subject 'sub-01': .*pr-mask/sub-01/review.tsv line [0-9]*: lesion [0-9]* was decided on another prediction than .*pr-mask/sub-01/lesions.tsv" \
  "$Q" evaluate --manifest "$T/c/cohort_pr_mask.tsv" --report "$T/e-prm2" --arch aprl-rf --folds 3 --seeds 1 --quiet
check "the random forest separates this cohort (pROC AUC > 0.7)" "$PY" -c "
import json; m = json.load(open('$T/e-aprl-rf/metrics.json')); assert m['proc_auc'] > 0.7, m['proc_auc']"

check "same seed, same predictions (qsmrimnet, rerun)" bash -c "
  '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/e2' --folds 3 --seeds 2 --bootstrap 40 \
     --config '$T/tiny.yaml' --quiet && cmp -s '$T/e-qsmrimnet/predictions.tsv' '$T/e2/predictions.tsv'"
check "the feature cache was used on the second run" bash -c "test -n \"\$(ls '$T/c/.qsmrim-cache/'*.h5)\""

# resume: finished jobs are reused, the result is the same
check "resume reuses finished jobs and gives the same predictions" bash -c "
  rm -f '$T/e2/.work-qsmrimnet/fold3-seed2.tsv' &&
  '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/e2' --folds 3 --seeds 2 --bootstrap 40 \
     --config '$T/tiny.yaml' --resume 2>'$T/resume.err' &&
  grep -q 'finished earlier, reused' '$T/resume.err' && test \$(grep -c 'training (job' '$T/resume.err') -eq 1 &&
  ! grep -q 'more than one engine' '$T/resume.err' &&
  cmp -s '$T/e-qsmrimnet/predictions.tsv' '$T/e2/predictions.tsv'"
check "a job computed on another engine than the reused ones is said once" bash -c "
  cp -r '$T/e2' '$T/e2r' && rm -f '$T/e2r/.work-qsmrimnet/fold2-seed1.tsv' &&
  '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/e2r' --folds 3 --seeds 2 --bootstrap 40 \
     --config '$T/tiny.yaml' --resume --device ref 2>'$T/resume-ref.err' &&
  test \$(grep -c 'the jobs of this cross-validation were computed on more than one engine (5 on cpu (.*), 1 on ref (.*): a run resumed on another device)' '$T/resume-ref.err') -eq 1"
check "resume refuses another seed, naming it" one_line_error 1 "used other settings ('seed: 1' there, 'seed: 9' now)" \
  "$Q" evaluate --manifest "$T/c/cohort.tsv" --report "$T/e2" --folds 3 --seeds 2 --seed 9 --config "$T/tiny.yaml" --resume --quiet
check "resume refuses another fold count" one_line_error 1 "another split" \
  "$Q" evaluate --manifest "$T/c/cohort.tsv" --report "$T/e2" --folds 2 --seeds 2 --config "$T/tiny.yaml" --resume --quiet
# a label corrected after a run: --resume refuses its finished jobs (the cohort is in the settings)
check "resume refuses a cohort whose labels changed" bash -c "
  mkdir -p '$T/cl' && for f in '$T'/c/*; do ln -sf \"\$f\" '$T/cl/'; done &&
  rm '$T/cl/sub-02_annotations.tsv' &&
  awk -F'\t' 'NR == 2 { \$2 = 1 - \$2 } { print }' OFS='\t' '$T/c/sub-02_annotations.tsv' >'$T/cl/sub-02_annotations.tsv' &&
  cp -r '$T/e2' '$T/e2l' &&
  ! '$Q' evaluate --manifest '$T/cl/cohort.tsv' --report '$T/e2l' --folds 3 --seeds 2 --config '$T/tiny.yaml' \
     --resume --quiet 2>'$T/labels.err' && grep -qE 'another split|used other settings .*cohort: ' '$T/labels.err'"
# train's held-out fold holds a rim+ subject even when fold 0 cannot (6 rim-free subjects, then 4
# with rim+ lesions, dealt in turn over 5 folds: fold 0 receives none of them whatever the seed)
check "train holds out a fold with rim+ subjects" bash -c "
  mkdir -p '$T/h' && head -1 '$T/c/cohort.tsv' >'$T/h/cohort.tsv' &&
  sed -n 2,11p '$T/c/cohort.tsv' | sed 's#\t\([^\t]*\)\t\([^\t]*\)\t\([^\t]*\)\t#\t../c/\1\t../c/\2\t../c/\3\t#' >>'$T/h/cohort.tsv' &&
  for i in 01 02 03 04 05 06; do awk -F'\t' 'NR > 1 { \$2 = 0 } { print }' OFS='\t' '$T/c/sub-'\$i'_annotations.tsv' >'$T/h/sub-'\$i'_annotations.tsv'; done &&
  for i in 07 08 09 10; do awk -F'\t' 'NR == 2 { \$2 = 1 } { print }' OFS='\t' '$T/c/sub-'\$i'_annotations.tsv' >'$T/h/sub-'\$i'_annotations.tsv'; done &&
  '$Q' train --manifest '$T/h/cohort.tsv' --out '$T/h/m.h5' --config '$T/tiny.yaml' --holdout 0.2 --quiet &&
  test -s '$T/h/m.h5'"
check "a trained network records its training voxel size (the mini cohort's 0.75 x 0.75 x 3 mm)" "$PY" -c "
import h5py; v = list(h5py.File('$T/h/m.h5', 'r').attrs['voxel_size_mm']); assert v == [0.75, 0.75, 3.0], v"
# two subjects of 1 mm voxels among ten of 0.75 x 0.75 x 3 mm: the model records the size the ten
# share (not a per-axis median that none has), and a warning names the others
mkdir -p "$T/vx" && cp "$T"/c/* "$T/vx/" 2>/dev/null
for i in 11 12; do for k in qsm flair lesions; do
  sed -i '0,/^space directions: (0.75,0,0) (0,0.75,0) (0,0,3)$/s//space directions: (1,0,0) (0,1,0) (0,0,1)/' "$T/vx/sub-${i}_$k.nrrd"
done; done
check "mixed voxel sizes: the model records the size most subjects have, and a warning names the others" bash -c "
  '$Q' train --manifest '$T/vx/cohort.tsv' --out '$T/vx/m.h5' --arch aprl-rf --config '$T/tiny.yaml' --holdout 0 2>'$T/vx.err' &&
  grep -q \"warning: 2 of the 12 training subjects have QSM voxels beyond 0.8 to 1.25 times the 0.75 x 0.75 x 3 mm (L, P, S) the others have and the model records ('sub-11': 1 x 1 x 1 mm)\" '$T/vx.err' &&
  '$PY' -c \"import h5py; v = list(h5py.File('$T/vx/m.h5', 'r').attrs['voxel_size_mm']); assert v == [0.75, 0.75, 3.0], v\""
check "evaluate --model warns once about subjects of another voxel size" bash -c "
  '$Q' evaluate --manifest '$T/vx/cohort.tsv' --model '$T/vx/m.h5' --report '$T/vx/ev' --bootstrap 0 2>'$T/vx-ev.err' &&
  test \$(grep -c \"warning: 2 of the 12 subjects have QSM voxels beyond 0.8 to 1.25 times the 0.75 x 0.75 x 3 mm (L, P, S) m.h5 was trained on ('sub-11': 1 x 1 x 1 mm)\" '$T/vx-ev.err') -eq 1"
check "evaluate's cross-validation (every subject trains) warns once about subjects of another voxel size" bash -c "
  '$Q' evaluate --manifest '$T/vx/cohort.tsv' --arch aprl-rf,aprl-nn --config '$T/tiny.yaml' --folds 2 --seeds 1 --report '$T/vx/cv' --bootstrap 0 2>'$T/vx-cv.err' &&
  test \$(grep -c \"warning: 2 of the 12 training subjects have QSM voxels beyond 0.8 to 1.25 times the 0.75 x 0.75 x 3 mm (L, P, S) most of the cohort has ('sub-11': 1 x 1 x 1 mm)\" '$T/vx-cv.err') -eq 1"
# finished jobs of another configuration are never reused (they would be reported as the new one)
sed 's/^epochs: 2$/epochs: 3/' "$T/tiny.yaml" >"$T/tiny3.yaml"
check "resume refuses another configuration, naming the setting" one_line_error 1 "used other settings ('epochs: 2' there, 'epochs: 3' now)" \
  "$Q" evaluate --manifest "$T/c/cohort.tsv" --report "$T/e2" --folds 3 --seeds 2 --config "$T/tiny3.yaml" --resume --quiet
check "aprl-rf: resume refuses another forest size" bash -c "
  sed 's/^rf_trees: 60$/rf_trees: 7/' '$T/tiny.yaml' >'$T/rf7.yaml' &&
  ! '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/e-aprl-rf' --arch aprl-rf --folds 3 --seeds 2 \
     --bootstrap 40 --config '$T/rf7.yaml' --resume --quiet 2>'$T/rf7.err' &&
  grep -q \"('rf_trees: 60' there, 'rf_trees: 7' now)\" '$T/rf7.err'"
check "a run without --resume removes the earlier jobs first, so a later --resume cannot take them up" bash -c "
  ls '$T/e2/.work-qsmrimnet/' | grep -q '^fold1-seed1.tsv$' &&
  '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/e2' --folds 3 --seeds 2 --bootstrap 40 \
     --config '$T/tiny3.yaml' --quiet &&
  grep -qx 'epochs: 3' '$T/e2/.work-qsmrimnet/settings.txt' &&
  '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/e2' --folds 3 --seeds 2 --bootstrap 40 \
     --config '$T/tiny3.yaml' --resume 2>'$T/resume3.err' && test \$(grep -c 'finished earlier, reused' '$T/resume3.err') -eq 6"

# several methods in one report: a subfolder each, DIR/metrics.json is the first method's
check "two methods in one report: a subfolder each" bash -c "
  '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/e3' --arch aprl-rf,qsmrimnet --folds 3 --seeds 2 \
     --bootstrap 40 --config '$T/tiny.yaml' --quiet &&
  cmp -s '$T/e3/metrics.json' '$T/e3/aprl-rf/metrics.json' && test -s '$T/e3/qsmrimnet/roc.png' &&
  cmp -s '$T/e-aprl-rf/predictions.tsv' '$T/e3/aprl-rf/predictions.tsv' && grep -q 'APRL (RF)' '$T/e3/report.html'"
check "two methods: the top level holds the first method's predictions and decisions" bash -c "
  cmp -s '$T/e3/predictions.tsv' '$T/e3/aprl-rf/predictions.tsv' && cmp -s '$T/e3/decisions.tsv' '$T/e3/aprl-rf/decisions.tsv' &&
  test ! -e '$T/e3/summary.tsv'"
# A report folder never mixes two runs: what the previous report wrote and this one does not is
# removed (a user's own file is kept), so --include reads the methods the folder holds now.
check "a two-method run over a one-method report leaves none of the old report's files" bash -c "
  '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/e4' --arch aprl-rf --name OLDRUN --folds 3 --seeds 1 \
     --bootstrap 20 --config '$T/tiny.yaml' --quiet && echo mine >'$T/e4/notes.txt' &&
  '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/e4' --arch aprl-rf,aprl-nn --folds 3 --seeds 1 \
     --bootstrap 20 --config '$T/tiny.yaml' --quiet &&
  test ! -e '$T/e4/summary.tsv' && test ! -e '$T/e4/roc.png' && test -s '$T/e4/aprl-nn/summary.tsv' &&
  cmp -s '$T/e4/predictions.tsv' '$T/e4/aprl-rf/predictions.tsv' && test \"\$(cat '$T/e4/notes.txt')\" = mine"
check "--include of that folder reads the methods it holds now" bash -c "
  '$Q' evaluate --report '$T/e5' --include '$T/e4' --quiet && grep -q 'APRL (NN)' '$T/e5/report.html' &&
  ! grep -q OLDRUN '$T/e5/report.html'"
check "a one-method run over it removes the method subfolders, keeps the user's file" bash -c "
  '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/e4' --arch aprl-rf --folds 3 --seeds 1 \
     --bootstrap 20 --config '$T/tiny.yaml' --quiet &&
  test ! -e '$T/e4/aprl-nn' && test ! -e '$T/e4/aprl-rf' && test -s '$T/e4/summary.tsv' && test -s '$T/e4/notes.txt'"
check "combining a report's own methods into it, or itself, removes none of their files" bash -c "
  '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/e7' --arch aprl-rf,aprl-nn --folds 3 --seeds 1 \
     --bootstrap 20 --config '$T/tiny.yaml' --quiet &&
  '$Q' evaluate --report '$T/e7' --include '$T/e7/aprl-rf' --include '$T/e7/aprl-nn' --quiet &&
  test -s '$T/e7/aprl-rf/summary.tsv' && test -s '$T/e7/aprl-nn/predictions.tsv' && test -s '$T/e7/predictions.tsv' &&
  '$Q' evaluate --report '$T/e7' --include '$T/e7' --quiet && test -s '$T/e7/aprl-nn/roc.png' && test -s '$T/e7/metrics.json'"
check "a computing run keeps what its --include folders hold, and only that" bash -c "
  '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/e7' --arch aprl-rf --include '$T/e7/aprl-nn' --folds 3 --seeds 1 \
     --bootstrap 20 --config '$T/tiny.yaml' --quiet &&
  test -s '$T/e7/aprl-nn/summary.tsv' && test ! -e '$T/e7/aprl-rf' && test -s '$T/e7/summary.tsv' &&
  grep -q 'APRL (NN)' '$T/e7/report.html'"
check "resume with another --arch list reuses the jobs of the method it shares" bash -c "
  '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/e8' --arch aprl-rf --folds 3 --seeds 1 --bootstrap 20 \
     --config '$T/tiny.yaml' --quiet &&
  '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/e8' --arch aprl-rf,rimnet --folds 3 --seeds 1 --bootstrap 20 \
     --config '$T/tiny.yaml' --resume 2>'$T/e8.err' && test \$(grep -c 'finished earlier, reused' '$T/e8.err') -eq 3"
check "--name is a method id, never a path" one_line_error 2 "a method id is" \
  "$Q" evaluate --manifest "$T/c/cohort.tsv" --report "$T/e6" --arch aprl-rf --name ../../x --config "$T/tiny.yaml"
check "a refused --name writes nothing" test ! -e "$T/e6"
# an image replaced after a run (another reconstruction, a corrected registration): --resume
# refuses the finished jobs, which were computed on the old image
check "resume refuses a cohort whose images changed" bash -c "
  mkdir -p '$T/ci' && for f in '$T'/c/*; do ln -sf \"\$f\" '$T/ci/'; done &&
  qsm=\$(awk -F'\t' 'NR == 3 { print \$2 }' '$T/c/cohort.tsv') && flair=\$(awk -F'\t' 'NR == 3 { print \$3 }' '$T/c/cohort.tsv') &&
  rm '$T/ci/'\$qsm && ln -s '$T/c/'\$flair '$T/ci/'\$qsm &&
  cp -r '$T/e4' '$T/e4i' &&
  ! '$Q' evaluate --manifest '$T/ci/cohort.tsv' --report '$T/e4i' --arch aprl-rf --folds 3 --seeds 1 \
     --config '$T/tiny.yaml' --resume --quiet 2>'$T/images.err' && grep -q \"used other settings ('image content: \" '$T/images.err'"

# The report folder is written as one unit (staged, then moved into place). Here the first method
# is computed anew with another seed and the second then fails (its checkpoints hold the old
# split): the previous report stays file for file as it was, and no staging folder remains.
report_files() { (cd "$1" && find . -path './.work-*' -prune -o -type f -print0 | sort -z | xargs -0 md5sum); }
report_files "$T/e3" >"$T/e3.md5"
rm -rf "$T/e3/.work-aprl-rf"
check "the second method fails after the first was computed" one_line_error 1 "used other settings ('seed: 1' there, 'seed: 9' now)" \
  "$Q" evaluate --manifest "$T/c/cohort.tsv" --report "$T/e3" --arch aprl-rf,qsmrimnet --folds 3 --seeds 2 --seed 9 \
  --bootstrap 40 --config "$T/tiny.yaml" --resume --quiet
check "a failed evaluation leaves the previous report as it was" diff "$T/e3.md5" <(report_files "$T/e3")

# train, then score the model
check "train qsmrimnet with a held-out share writes a model" \
  "$Q" train --manifest "$T/c/cohort.tsv" --out "$T/model.h5" --config "$T/tiny.yaml" --holdout 0.34 --seeds 2 \
  --report "$T/train-report" --quiet
check "train --report writes the held-out report" bash -c "
  test -s '$T/train-report/metrics.json' && test -s '$T/train-report/summary.tsv' && grep -q 'held-out' '$T/train-report/report.html' &&
  grep -q 'a trained model scored on the subjects listed (no cross-validation)' '$T/train-report/report.html'"
check "a combined report including the held-out report says it is not cross-validated" bash -c "
  '$Q' evaluate --report '$T/comb-tr' --include '$T/train-report' --quiet &&
  grep -q 'a trained model scored on the subjects listed (no cross-validation)' '$T/comb-tr/report.html'"
check "the held-out report names its subjects and lesions, its manifest and command" "$PY" - "$T" <<'PYEOF'
import json, sys
t = sys.argv[1]
m = json.load(open(t + "/train-report/metrics.json"))
assert m["manifest"].endswith("cohort.tsv") and m["command"].startswith("qsmrim train "), (m["manifest"], m["command"])
rows = [l.rstrip("\n").split("\t") for l in open(t + "/train-report/predictions.tsv")]
assert rows[0] == ["subject", "lesion_id", "fold", "label", "probability"], rows[0]
assert len(rows) - 1 == m["n_lesions"] and len({r[0] for r in rows[1:]}) == m["n_subjects"], (len(rows), m["n_subjects"])
labels = {}
for l in open(t + "/c/cohort.tsv").read().split("\n")[1:]:
    if not l: continue
    f = l.split("\t")
    for a in list(open(t + "/c/" + f[4]))[1:]:
        a = a.rstrip("\n").split("\t")
        labels[(f[0], a[0])] = a[1]
assert all(labels[(r[0], r[1])] == r[3] for r in rows[1:])
assert sum(int(r[3]) for r in rows[1:]) == m["n_rimpos"]
PYEOF
check "the model stores thresholds and held-out metrics" "$PY" -c "
import h5py, math
f = h5py.File('$T/model.h5', 'r')
txt = ' '.join(str(v) for v in f.attrs.values())
assert 'held-out' in txt, txt
" 
check "the model's provenance counts the subjects it was fitted on, not the held-out ones" "$PY" - "$T" <<'PYEOF'
import h5py, json, sys
t = sys.argv[1]
m = json.load(open(t + "/train-report/metrics.json"))  # the held-out subjects
lesions = rim = 0
for l in open(t + "/c/cohort.tsv").read().split("\n")[1:]:
    if not l: continue
    rows = [a.rstrip("\n").split("\t") for a in list(open(t + "/c/" + l.split("\t")[4]))[1:]]
    lesions += len(rows)
    rim += sum(int(a[1]) for a in rows)
want = "cohort.tsv (%d subjects, %d lesions, %d rim+; %d more held out)" % (
    12 - m["n_subjects"], lesions - m["n_lesions"], rim - m["n_rimpos"], m["n_subjects"])
got = h5py.File(t + "/model.h5", "r").attrs["training_data"]
got = got.decode() if isinstance(got, bytes) else str(got)
assert got == want, (got, want)
PYEOF
check "no checkpoint is left after training" bash -c "! ls '$T'/model.h5.*ckpt* 2>/dev/null | grep -q ."
check "evaluate --model scores every lesion with the model's thresholds (a CPU fallback said at most once)" bash -c "
  '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/scored' --model '$T/model.h5' --bootstrap 20 2>'$T/scored.err' &&
  grep -q \"stored thresholds\" '$T/scored/metrics.json' && test \$(grep -c 'running on the CPU' '$T/scored.err') -le 1"
check "scored report is complete" metrics_ok "$T/scored"
# stored thresholds that are not probabilities (a damaged or hand-edited file, re-sealed): refused
# by evaluate --model as by predict (it scored every lesion rim- at threshold_f1 = 1.5)
cp "$T/model.h5" "$T/thr.h5"
"$PY" -c "import h5py; f = h5py.File('$T/thr.h5', 'r+'); f.attrs['threshold_f1'] = 1.5; f.close()"
"$PY" "$QSMRIM_SOURCE_DIR/Resources/python/h5seal.py" "$T/thr.h5" >/dev/null
check "evaluate --model with a stored threshold of 1.5: refused naming it" one_line_error 1 \
  "thr.h5: stored threshold_f1 1.5 is not a probability" "$Q" evaluate --manifest "$T/c/cohort.tsv" --report "$T/thr" \
  --model "$T/thr.h5" --quiet
# the model records its training subjects (by their QSM images): scoring them is said not to be a test
check "scoring the subjects a model was trained on is warned about (8 of 12 trained on)" \
  grep -q "warning: 8 of the 12 subjects scored were used to train $T/model.h5 (the same QSM image)" "$T/scored.err"
check "the model file lists 8 training subjects by their QSM images' SHA-256" "$PY" -c "
import h5py, hashlib
v = [int(x) for x in h5py.File('$T/model.h5', 'r')['training_qsm_sha256'][:]]
subs = set(l.split()[0] for l in open('$T/train-report/predictions.tsv') if not l.startswith('subject'))
want = set(int(hashlib.sha256(open('$T/c/sub-%02d_qsm.nrrd' % i, 'rb').read()).hexdigest()[:16], 16)
           for i in range(1, 13) if 'sub-%02d' % i not in subs)
assert len(v) == 8 and set(v) == want, (v, want)"
check "scoring only the held-out subjects: no such warning" bash -c "
  head -1 '$T/c/cohort.tsv' >'$T/c/heldout.tsv' &&
  tail -n +2 '$T/train-report/predictions.tsv' | cut -f1 | sort -u >'$T/heldout.names' &&
  awk -F'\t' 'NR == FNR { keep[\$1] = 1; next } FNR > 1 && keep[\$1]' '$T/heldout.names' '$T/c/cohort.tsv' >>'$T/c/heldout.tsv' &&
  test \$(wc -l <'$T/c/heldout.tsv') -eq 5 &&
  '$Q' evaluate --manifest '$T/c/heldout.tsv' --report '$T/scored-ho' --model '$T/model.h5' --bootstrap 20 2>'$T/scored-ho.err' &&
  ! grep -q 'used to train' '$T/scored-ho.err'"
check "train names its held-out subjects (those of its report)" bash -c "
  '$Q' train --manifest '$T/c/cohort.tsv' --out '$T/names.h5' --config '$T/tiny.yaml' --holdout 0.34 --seeds 2 2>'$T/names.err' &&
  grep -qx \"qsmrim train: held-out subjects: \$(paste -sd, '$T/heldout.names' | sed 's/,/, /g')\" '$T/names.err'"
check "predict over the cohort: trained_on yes for the 8 training subjects, no for the held-out ones, a warning each" bash -c "
  '$Q' predict --manifest '$T/c/cohort.tsv' --out-dir '$T/pc' --model '$T/model.h5' >/dev/null 2>'$T/pc.err' &&
  test \$(awk -F'\t' 'NR > 1 && \$6 == \"yes\"' '$T/pc/subjects.tsv' | wc -l) -eq 8 &&
  awk -F'\t' 'NR > 1 && \$6 == \"no\" { print \$1 }' '$T/pc/subjects.tsv' | sort | cmp -s - '$T/heldout.names' &&
  test \$(grep -c 'is one of the 8 subjects model .*model.h5 was trained on (the same QSM image)' '$T/pc.err') -eq 8 &&
  grep -q 'warning: 8 of the 12 subjects were used to train the model' '$T/pc.err'"
check "predict on one training subject warns, on a held-out one not" bash -c "
  s=\$(awk -F'\t' 'NR > 1 && \$6 == \"yes\" { print \$1; exit }' '$T/pc/subjects.tsv')
  h=\$(head -1 '$T/heldout.names')
  one() { '$Q' predict --qsm '$T/c/'\$1'_qsm.nrrd' --flair '$T/c/'\$1'_flair.nrrd' --lesions '$T/c/'\$1'_lesions.nrrd' \
    --model '$T/model.h5' --out-table '$T/one.tsv' --quiet >/dev/null; }
  one \$s 2>'$T/one-t.err' && grep -q \"warning: .*\${s}_qsm.nrrd is one of the 8 subjects\" '$T/one-t.err' &&
  one \$h 2>'$T/one-h.err' && ! grep -q 'subjects model' '$T/one-h.err'"
check "train aprl-rf and score it" bash -c "
  '$Q' train --manifest '$T/c/cohort.tsv' --out '$T/rf.h5' --arch aprl-rf --config '$T/tiny.yaml' --quiet &&
  '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/rf-scored' --model '$T/rf.h5' --bootstrap 20 --quiet &&
  grep -q '\"method\": \"aprl-rf\"' '$T/rf-scored/metrics.json'"

# `qsmrim predict` with a trained model file: the same probabilities as `evaluate --model` (two code
# paths: the cohort loader and predict's one-subject inputs), the spread of a two-member model as
# the uncertainty, and a random-forest model file works as well.
predict_matches_evaluate() { # model report
  local model=$1 rep=$2
  tail -n +2 "$T/c/cohort.tsv" | while IFS=$'\t' read -r subj qsm flair les ann; do
    "$Q" predict --model "$model" --qsm "$T/c/$qsm" --flair "$T/c/$flair" --lesions "$T/c/$les" --no-flips \
      --out-table "$T/p-$subj.tsv" --quiet >/dev/null || return 1
  done
  "$PY" - "$T" "$rep" "$3" <<'PYEOF'
import sys, glob, os
t, rep, spread = sys.argv[1], sys.argv[2], sys.argv[3] == "spread"
ev = {}
for l in list(open(rep + "/predictions.tsv"))[1:]:
    f = l.rstrip("\n").split("\t")
    ev[(f[0], f[1])] = float(f[4])
n = wide = 0
for path in glob.glob(t + "/p-*.tsv"):
    subj = os.path.basename(path)[2:-4]
    for l in list(open(path))[1:]:
        f = l.rstrip("\n").split("\t")
        if (subj, f[0]) not in ev: continue  # lesions without annotation are not in the evaluation
        p, u = float(f[5]), float(f[6])
        assert abs(p - ev[(subj, f[0])]) <= 5.1e-7, (subj, f[0], p, ev[(subj, f[0])])
        assert 0 <= p - u and p + u <= 1, (p, u)  # mean +- half the gap of two members
        n += 1; wide += u > 1e-6
assert n == len(ev), (n, len(ev))
assert (wide > 0) == spread, (wide, spread)
PYEOF
}
check "predict with the two-member model equals evaluate --model; members' spread as uncertainty" \
  predict_matches_evaluate "$T/model.h5" "$T/scored" spread
rm -f "$T"/p-*.tsv
check "predict with a random-forest model file (one member: no spread, flips ignored)" \
  predict_matches_evaluate "$T/rf.h5" "$T/rf-scored" none

# a subject whose grid lies 40 degrees about S from the patient axes (its headers only, the same
# voxels): near 45 degrees the axis order the volumes are read in can flip with the header
mkdir -p "$T/ob" && cp "$T"/c/* "$T/ob/" 2>/dev/null
for k in qsm flair lesions; do
  sed -i '0,/^space directions: (0.75,0,0) (0,0.75,0) (0,0,3)$/s//space directions: (0.574533,0.482091,0) (-0.482091,0.574533,0) (0,0,3)/' "$T/ob/sub-12_$k.nrrd"
done
check "training with a subject 40 degrees oblique warns once, naming it" bash -c "
  '$Q' train --manifest '$T/ob/cohort.tsv' --out '$T/ob/m.h5' --arch aprl-nn --config '$T/tiny.yaml' --holdout 0 2>'$T/ob.err' &&
  test \$(grep -c \"warning: 1 of 12 subjects (the first: 'sub-12') have a grid axis up to 40.0 degrees from the patient axis it is read along\" '$T/ob.err') -eq 1"
check "predict on it warns with a network model, not with the forest (its first-order features follow no axis)" bash -c "
  c='$T/ob/sub-12' &&
  '$Q' predict --qsm \"\$c\"_qsm.nrrd --flair \"\$c\"_flair.nrrd --lesions \"\$c\"_lesions.nrrd --model '$T/model.h5' --out-table '$T/ob/n.tsv' 2>'$T/ob-n.err' &&
  grep -q 'sub-12_qsm.nrrd: an axis of its grid lies 40.0 degrees from the patient axis it is read along' '$T/ob-n.err' &&
  '$Q' predict --qsm \"\$c\"_qsm.nrrd --flair \"\$c\"_flair.nrrd --lesions \"\$c\"_lesions.nrrd --model '$T/rf.h5' --out-table '$T/ob/f.tsv' 2>'$T/ob-f.err' &&
  test -s '$T/ob/f.tsv' && ! grep -q 'degrees from the patient axis' '$T/ob-f.err'"

# Ctrl-C during training: exit 130 with one line naming the kept checkpoint, no model file;
# --resume finishes. The stop is sent twice 20 ms apart, as `timeout` and job schedulers deliver
# one (to the process, then its group): it counts as one stop, not as a second Ctrl-C.
printf 'width: 2\nepochs: 8\nbatch_size: 16\n' >"$T/long.yaml"
interrupted_then_resumed() {
  "$Q" train --manifest "$T/c/cohort.tsv" --out "$T/int.h5" --config "$T/long.yaml" --holdout 0.34 --quiet \
    2>"$T/int0.err" &
  local pid=$! waited=0
  while [ ! -e "$T/int.h5.seed1.ckpt.h5" ] && [ $waited -lt 600 ]; do sleep 0.2; waited=$((waited + 1)); done
  # a second run to the same model meanwhile is told that one is running (it took the checkpoint
  # for an interrupted run's)
  local rc2=0
  "$Q" train --manifest "$T/c/cohort.tsv" --out "$T/int.h5" --config "$T/long.yaml" --holdout 0.34 --quiet 2>"$T/int2.err" || rc2=$?
  [ $rc2 -eq 1 ] && grep -q "int.h5: another qsmrim train is writing this model" "$T/int2.err" ||
    { echo "  second run: rc=$rc2 $(cat "$T/int2.err")"; kill -9 $pid; return 1; }
  kill -INT $pid; sleep 0.02; kill -INT $pid; wait $pid; local rc=$?
  [ $rc -eq 130 ] || { echo "  rc=$rc"; return 1; }
  [ "$(wc -l <"$T/int0.err")" -eq 1 ] && grep -qE '^qsmrim train: error: training interrupted in epoch [0-9]+ \(the checkpoint of epoch [0-9]+ is kept\); add --resume to continue$' "$T/int0.err" ||
    { echo "  stderr: $(cat "$T/int0.err")"; return 1; }
  [ -e "$T/int.h5.seed1.ckpt.h5" ] && [ ! -e "$T/int.h5" ] || { echo "  checkpoint or model state wrong"; return 1; }
  # the checkpoint is not a model to predict with (no thresholds yet), and a run without --resume
  # does not drop it
  local c="$T/c/sub-01"
  one_line_error 1 "int.h5.seed1.ckpt.h5 is the checkpoint of an unfinished training run, not a model" \
    "$Q" predict --qsm "$c"_qsm.nrrd --flair "$c"_flair.nrrd --lesions "$c"_lesions.nrrd --model "$T/int.h5.seed1.ckpt.h5" \
    --out-table "$T/ckpt.tsv" --quiet || return 1
  [ ! -e "$T/ckpt.tsv" ] || { echo "  a table was written"; return 1; }
  # under the name of an evaluate job's checkpoint, the advice is evaluate's (train cannot continue it)
  mkdir -p "$T/.work-x" && cp "$T/int.h5.seed1.ckpt.h5" "$T/.work-x/fold3-seed1.ckpt.h5"
  one_line_error 1 "fold3-seed1.ckpt.h5 is the checkpoint of a cross-validation job of qsmrim evaluate, not a model: continue that evaluation with evaluate --resume" \
    "$Q" predict --qsm "$c"_qsm.nrrd --flair "$c"_flair.nrrd --lesions "$c"_lesions.nrrd --model "$T/.work-x/fold3-seed1.ckpt.h5" \
    --out-table "$T/ckpt.tsv" --quiet || return 1
  local sum0; sum0=$(md5sum <"$T/int.h5.seed1.ckpt.h5")
  one_line_error 1 "int.h5.seed1.ckpt.h5 holds an interrupted run of this model: add --resume to continue it, or remove the file" \
    "$Q" train --manifest "$T/c/cohort.tsv" --out "$T/int.h5" --config "$T/long.yaml" --holdout 0.34 --quiet || return 1
  [ "$(md5sum <"$T/int.h5.seed1.ckpt.h5")" = "$sum0" ] || { echo "  the checkpoint changed"; return 1; }
  # another epoch count would change the learning-rate schedule: refused in one line naming the
  # setting, the checkpoint kept
  printf 'width: 2\nepochs: 3\nbatch_size: 16\n' >"$T/short.yaml"
  "$Q" train --manifest "$T/c/cohort.tsv" --out "$T/int.h5" --config "$T/short.yaml" --holdout 0.34 --resume \
    --quiet 2>"$T/int.err" && { echo "  resumed with other settings"; return 1; }
  # (its advice is the one that works for train: without --resume the checkpoint is refused too)
  grep -q "int.h5.seed1.ckpt.h5: the checkpoint was written with other training settings ('epochs: 8' there, 'epochs: 3' now); remove it to start anew$" \
    "$T/int.err" && [ "$(wc -l <"$T/int.err")" -eq 1 ] &&
    [ -e "$T/int.h5.seed1.ckpt.h5" ] || { echo "  $(cat "$T/int.err")"; return 1; }
  # continued on another engine (the plain C reference here; a GPU run continued on the CPU):
  # said once, as the model then matches neither engine's uninterrupted run to the last digit
  "$Q" train --manifest "$T/c/cohort.tsv" --out "$T/int.h5" --config "$T/long.yaml" --holdout 0.34 --resume \
    --device ref 2>"$T/int3.err" &&
    [ -e "$T/int.h5" ] && [ ! -e "$T/int.h5.seed1.ckpt.h5" ] || { echo "  resume did not finish"; return 1; }
  [ "$(grep -c "int.h5.seed1.ckpt.h5 was written on cpu (.*) and training goes on on ref (.*): the model will differ from an uninterrupted run's on either in the last digits" "$T/int3.err")" -eq 1 ] ||
    { echo "  no notice of the other engine: $(cat "$T/int3.err")"; return 1; }
  # a finished model is not "resumed" by training anew over it
  local sum1; sum1=$(md5sum <"$T/int.h5")
  one_line_error 1 "--resume: $T/int.h5 is a finished model (no checkpoint of an interrupted run is beside it)" \
    "$Q" train --manifest "$T/c/cohort.tsv" --out "$T/int.h5" --config "$T/long.yaml" --holdout 0.34 --resume --quiet &&
    [ "$(md5sum <"$T/int.h5")" = "$sum1" ]
}
check "Ctrl-C keeps the checkpoint (exit 130) and --resume completes" interrupted_then_resumed
check "train --arch aprl-rf --resume: usage error (it keeps no checkpoints; it retrained and replaced the model)" \
  one_line_error 2 "--resume: aprl-rf trains in one step and keeps no checkpoints" \
  "$Q" train --manifest "$T/c/cohort.tsv" --out "$T/int.h5" --arch aprl-rf --resume

# combined report
check "combined report lists the included methods" bash -c "
  '$Q' evaluate --report '$T/all' --include '$T/e-qsmrimnet' --include '$T/e-aprl-rf' \
     --include '$T/e-aprl-nn' --quiet &&
  grep -q 'APRL (RF)' '$T/all/report.html' &&
  test \$(grep -c 'this report' '$T/all/report.html') -ge 3"

# bad input
check "missing manifest" one_line_error 1 "cannot open" "$Q" evaluate --manifest "$T/none.tsv" --report "$T/x"
printf 'subject\tqsm\tflair\tlesions\n' >"$T/bad1.tsv"
check "manifest without the annotations column" one_line_error 1 "column 'annotations' is missing" \
  "$Q" train --manifest "$T/bad1.tsv" --out "$T/x.h5"
tr '\n' '\r' <"$T/c/cohort.tsv" >"$T/c/cr.tsv"
check "a manifest with old Mac OS line ends (CR only) is read" bash -c "
  '$Q' train --manifest '$T/c/cr.tsv' --out '$T/cr.h5' --arch aprl-rf --config '$T/tiny.yaml' --holdout 0 2>'$T/cr.err' &&
  grep -q 'cohort: 12 subjects' '$T/cr.err'"
mkdir -p "$T/c/folder_annotations"
sed 's/sub-03_annotations.tsv/folder_annotations/' "$T/c/cohort.tsv" >"$T/c/bad4.tsv"
check "an annotations path that is a folder is said to be one" one_line_error 1 \
  "subject 'sub-03': annotations file $T/c/folder_annotations is a folder, not a table file" \
  "$Q" evaluate --manifest "$T/c/bad4.tsv" --report "$T/x"
sed 's/sub-02_qsm.nrrd/sub-02_gone.nrrd/' "$T/c/cohort.tsv" >"$T/c/bad2.tsv"
check "a missing image is named with its subject" one_line_error 1 "subject 'sub-02': qsm file" \
  "$Q" evaluate --manifest "$T/c/bad2.tsv" --report "$T/x"
# a lab's own tables, as spreadsheets and hand edits leave them
tr '\t' ',' <"$T/c/cohort.tsv" >"$T/c/comma.tsv"
check "a comma-separated manifest: the error quotes the header read and says what to change" one_line_error 1 \
  "its header reads 'subject,qsm,flair,lesions,annotations' - one column: columns must be separated by tabs" \
  "$Q" evaluate --manifest "$T/c/comma.tsv" --report "$T/x" --quiet
sed 's/sub-02_annotations.tsv$/sub-02_annotations.tsv /' "$T/c/cohort.tsv" >"$T/c/space.tsv"
check "a path with a trailing space: said so" one_line_error 1 \
  "sub-02_annotations.tsv ' does not exist (the name in the manifest has a space at its start or end)" \
  "$Q" evaluate --manifest "$T/c/space.tsv" --report "$T/x" --quiet
# sub-05's table has a header only; sub-06's is sub-07's copy (its subject column says so)
mkdir -p "$T/u" && for f in "$T"/c/*; do ln -sf "$f" "$T/u/"; done
rm "$T/u/sub-05_annotations.tsv" "$T/u/sub-06_annotations.tsv"
head -1 "$T/c/sub-05_annotations.tsv" >"$T/u/sub-05_annotations.tsv"
awk -F'\t' 'NR == 1 { print $0 "\tsubject"; next } { print $0 "\tsub-07" }' "$T/c/sub-06_annotations.tsv" >"$T/u/sub-06_annotations.tsv"
check "a subject without any annotation row is named and left out of the subject counts" bash -c "
  '$Q' evaluate --manifest '$T/u/cohort.tsv' --report '$T/e-u' --arch aprl-rf --folds 3 --seeds 1 --bootstrap 20 \
     --config '$T/tiny.yaml' --threads 1 2>'$T/u.err' &&
  grep -q \"of .* in 'sub-05' ($T/u/sub-05_annotations.tsv; the subject is left out)\" '$T/u.err' &&
  grep -q \"in 'sub-01' ($T/u/sub-01_annotations.tsv)\" '$T/u.err' &&
  grep -q '\"n_subjects\": 11,' '$T/e-u/metrics.json' && ! grep -q '^sub-05' '$T/e-u/predictions.tsv' &&
  grep -q 'radiomic features: [0-9]* of 12 subjects from the cache' '$T/u.err'"
# beyond the four subjects the notice lists, a subject left out altogether is still named
mkdir -p "$T/u2" && for f in "$T"/c/*; do ln -sf "$f" "$T/u2/"; done
for i in 02 03 04; do rm "$T/u2/sub-${i}_annotations.tsv"; sed '$d' "$T/c/sub-${i}_annotations.tsv" >"$T/u2/sub-${i}_annotations.tsv"; done
for i in 05 09; do rm "$T/u2/sub-${i}_annotations.tsv"; head -1 "$T/c/sub-${i}_annotations.tsv" >"$T/u2/sub-${i}_annotations.tsv"; done
check "subjects left out altogether beyond the four listed are named too" bash -c "
  '$Q' evaluate --manifest '$T/u2/cohort.tsv' --report '$T/e-u2' --arch aprl-rf --folds 3 --seeds 1 --bootstrap 0 \
     --config '$T/tiny.yaml' --threads 1 2>'$T/u2.err' &&
  grep -q \"in 'sub-04' (.*), and [0-9]* in 2 more subjects (left out altogether: 'sub-05', 'sub-09')\" '$T/u2.err' &&
  grep -q '\"n_subjects\": 10,' '$T/e-u2/metrics.json'"
# long table names: an entry that does not fit the notice is counted among the others, and a
# subject left out altogether is still named
mkdir -p "$T/u3" && for f in "$T"/c/*; do ln -sf "$f" "$T/u3/"; done
long=$(printf 'x%.0s' $(seq 1 200))
cp "$T/u3/cohort.tsv" "$T/u3/c0.tsv" && rm "$T/u3/cohort.tsv"
for i in 02 03 04 05; do
  if [ "$i" = 02 ] || [ "$i" = 03 ]; then sed '$d' "$T/c/sub-${i}_annotations.tsv" >"$T/u3/${long}_$i.tsv"
  else head -1 "$T/c/sub-${i}_annotations.tsv" >"$T/u3/${long}_$i.tsv"; fi
  sed -i "s/sub-${i}_annotations.tsv/${long}_$i.tsv/" "$T/u3/c0.tsv"
done
check "a notice of long table names still names every subject left out altogether" bash -c "
  '$Q' evaluate --manifest '$T/u3/c0.tsv' --report '$T/e-u3' --arch aprl-rf --folds 3 --seeds 1 --bootstrap 0 \
     --config '$T/tiny.yaml' --threads 1 2>'$T/u3.err' &&
  grep 'are not annotated' '$T/u3.err' | grep -q \"'sub-04'\" && grep 'are not annotated' '$T/u3.err' | grep -q \"'sub-05'\""
check "an annotation table whose subject column names another subject is warned about, once" \
  test "$(grep -c "warning: subject 'sub-06': $T/u/sub-06_annotations.tsv line 2: its subject column says 'sub-07'" "$T/u.err")" -eq 1
# no rim+ at all, or in one subject only: said before any work, naming the manifest
mkdir -p "$T/n" "$T/o" && for f in "$T"/c/*; do ln -sf "$f" "$T/n/"; ln -sf "$f" "$T/o/"; done
for a in "$T"/c/sub-*_annotations.tsv; do
  b=$(basename "$a"); rm "$T/n/$b" "$T/o/$b"
  awk -F'\t' 'NR > 1 { $2 = 0 } { print }' OFS='\t' "$a" >"$T/n/$b"
  awk -F'\t' -v one="$([ "$b" = sub-01_annotations.tsv ] && echo 1 || echo 0)" 'NR > 1 { $2 = (one && NR == 2) } { print }' OFS='\t' "$a" >"$T/o/$b"
done
check "evaluate on a cohort without rim+ lesions" one_line_error 1 "$T/n/cohort.tsv: every annotated lesion is rim-" \
  "$Q" evaluate --manifest "$T/n/cohort.tsv" --report "$T/x" --arch aprl-rf --quiet
check "train on a cohort without rim+ lesions" one_line_error 1 "$T/n/cohort.tsv: every annotated lesion is rim-" \
  "$Q" train --manifest "$T/n/cohort.tsv" --out "$T/x.h5" --arch aprl-rf --quiet
check "evaluate --model on a cohort without rim+ lesions: refused from the tables" one_line_error 1 \
  "$T/n/cohort.tsv: every annotated lesion is rim-: scoring a model (its metrics) needs" \
  "$Q" evaluate --manifest "$T/n/cohort.tsv" --report "$T/x" --model "$T/model.h5" --quiet
check "a cohort without rim+ lesions is refused before its images are read (no features cached)" test ! -e "$T/n/.qsmrim-cache"
check "a held-out split of a cohort with one rim+ subject: --holdout 0 is the way" one_line_error 1 \
  "$T/o/cohort.tsv: only one subject holds rim+ lesions ('sub-01'), .* use --holdout 0" \
  "$Q" train --manifest "$T/o/cohort.tsv" --out "$T/x.h5" --arch aprl-rf --config "$T/tiny.yaml" --holdout 0.34 --quiet
check "cross-validation of a cohort with one rim+ subject: refused naming it" one_line_error 1 \
  "$T/o/cohort.tsv: only one subject holds rim+ lesions ('sub-01'): the cross-validation fold that tests it" \
  "$Q" evaluate --manifest "$T/o/cohort.tsv" --report "$T/x" --arch aprl-rf --config "$T/tiny.yaml" --quiet
check "... both from the annotation tables, before any image is read (no features cached)" test ! -e "$T/o/.qsmrim-cache"
# outputs that are files of the cohort are refused before the work, the files kept
cp "$T/c/sub-02_qsm.nrrd" "$T/qsm-before.nrrd"
check "train --out onto a cohort image is refused" one_line_error 1 "the QSM of subject 'sub-02'" \
  "$Q" train --manifest "$T/c/cohort.tsv" --out "$T/c/sub-02_qsm.nrrd" --arch aprl-rf --config "$T/tiny.yaml"
check "the cohort image is unchanged" cmp -s "$T/c/sub-02_qsm.nrrd" "$T/qsm-before.nrrd"
mkdir -p "$T/b4/rep" && cp "$T"/c/sub-0[1-3]_* "$T/b4/" && head -4 "$T/c/cohort.tsv" | sed 's#\tsub-03_annotations.tsv#\trep/summary.tsv#' >"$T/b4/cohort.tsv"
cp "$T/b4/sub-03_annotations.tsv" "$T/b4/rep/summary.tsv"
check "evaluate --report over a folder holding a cohort file is refused" one_line_error 1 "the --report folder $T/b4/rep holds the annotation table of subject 'sub-03'" \
  "$Q" evaluate --manifest "$T/b4/cohort.tsv" --report "$T/b4/rep" --arch aprl-rf --config "$T/tiny.yaml" --quiet
check "the annotation table is unchanged" cmp -s "$T/b4/rep/summary.tsv" "$T/b4/sub-03_annotations.tsv"
(cat "$T/c/cohort.tsv"; grep '^sub-02' "$T/c/cohort.tsv" | sed 's/^sub-02/sub-02-rescan/') >"$T/c/dup.tsv"
check "one subject listed under two names is refused" one_line_error 1 "subjects 'sub-02' and 'sub-02-rescan' have the same QSM" \
  "$Q" evaluate --manifest "$T/c/dup.tsv" --report "$T/x" --arch aprl-rf --quiet
# a cohort whose rim+ lesions are all in one subject: the fold holding it leaves training without
# rim+ lesions, refused before any job is trained
mkdir -p "$T/one" && cp "$T"/c/sub-0[1-6]_* "$T/one/" && head -7 "$T/c/cohort.tsv" >"$T/one/cohort.tsv"
for s in 2 3 4 5 6; do awk 'BEGIN { FS = OFS = "\t" } NR > 1 { $2 = 0 } 1' "$T/c/sub-0${s}_annotations.tsv" >"$T/one/sub-0${s}_annotations.tsv"; done
check "one rim+ subject: refused before training" one_line_error 1 "only one subject holds rim+ lesions ('sub-01'): the cross-validation fold" \
  "$Q" evaluate --manifest "$T/one/cohort.tsv" --report "$T/x1" --arch aprl-rf --folds 3 --seeds 1 --config "$T/tiny.yaml" --quiet
check "nothing was trained" bash -c "test -z \"\$(find '$T/x1' -name '*.h5' 2>/dev/null)\""
mkdir -p "$T/b3" && cp "$T"/c/sub-0[1-3]_* "$T/b3/" && head -4 "$T/c/cohort.tsv" >"$T/b3/cohort.tsv"
printf 'lesion_id\trim\n1\t2\n' >"$T/b3/sub-02_annotations.tsv"
check "a rim value other than 0/1" one_line_error 1 "rim is 2" "$Q" evaluate --manifest "$T/b3/cohort.tsv" --report "$T/x" --arch aprl-rf --folds 3 --quiet
printf 'lesion_id\trim\n1\t1\n77\t0\n' >"$T/b3/sub-02_annotations.tsv"
check "an annotation of a lesion the map lacks" one_line_error 1 "annotates lesion 77" \
  "$Q" evaluate --manifest "$T/b3/cohort.tsv" --report "$T/x" --arch aprl-rf --folds 3 --quiet
# --device auto without a GPU: the fallback is said once for the run, not once per job
check "the CPU fallback notice is said at most once (3 seeds x 3 folds)" bash -c "
  '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/dev1' --arch aprl-nn --folds 3 --seeds 3 --bootstrap 20 \
    --config '$T/tiny.yaml' 2>'$T/dev1.err' && grep -q 'job 9/9' '$T/dev1.err' &&
  test \$(grep -c 'running on the CPU' '$T/dev1.err') -le 1"
# a held-out report that cannot be put in place (here a folder where metrics.json goes): the old
# model stays, the new one is kept beside it, and the one error line says both
mkdir -p "$T/unrep/rep/metrics.json"; echo OLD >"$T/unrep/m.h5"
check "train --report that fails: old model kept, new one beside it, one line" bash -c "
  ! '$Q' train --manifest '$T/c/cohort.tsv' --out '$T/unrep/m.h5' --arch aprl-rf --config '$T/tiny.yaml' --holdout 0.34 \
    --report '$T/unrep/rep' --quiet 2>'$T/unrep.err' && [ \$(wc -l <'$T/unrep.err') -eq 1 ] &&
  grep -q 'metrics.json: Is a directory; the new model is kept as $T/unrep/m.unreported.h5 ($T/unrep/m.h5 is unchanged)' '$T/unrep.err' &&
  grep -qx OLD '$T/unrep/m.h5' && [ -s '$T/unrep/m.unreported.h5' ] && [ -z \"\$(ls -A '$T/unrep' | grep '^\.')\" ]"
# a forest (no checkpoints) under a 251-byte model name: its temporary and lock names are cut to fit
longm="$T/$(printf 'm%.0s' $(seq 1 248)).h5"
check "a forest model under a 251-byte name trains" bash -c "
  '$Q' train --manifest '$T/c/cohort.tsv' --out '$longm' --arch aprl-rf --config '$T/tiny.yaml' --holdout 0 --quiet &&
  test -s '$longm' && rm -f '$longm'"
# a model name whose checkpoint names (NAME.seed<k>.ckpt.h5) would pass 255 bytes: said before any work
check "a model name too long for its checkpoints: usage error" one_line_error 2 "would have names over 255 bytes" \
  "$Q" train --manifest "$T/c/cohort.tsv" --out "$T/$(printf 'm%.0s' $(seq 1 245)).h5" --config "$T/tiny.yaml" --quiet
# a model that cannot be written (file-size limit): one error line and exit 1, no crash at exit
# (a failed HDF5 close left libhdf5's exit clean-up to crash), no temporary file left
mkdir -p "$T/fsz"
check "train past a file-size limit: exit 1, one error line, nothing left" bash -c "
  (ulimit -f 4; exec '$Q' train --manifest '$T/c/cohort.tsv' --out '$T/fsz/m.h5' --arch aprl-rf --config '$T/tiny.yaml' \
    --holdout 0 --quiet) 2>'$T/fsz.err'; rc=\$?
  [ \$rc -eq 1 ] && [ \$(grep -c error: '$T/fsz.err') -eq 1 ] && [ -z \"\$(ls -A '$T/fsz')\" ] ||
    { echo \"  rc=\$rc \$(cat '$T/fsz.err') \$(ls -A '$T/fsz')\"; exit 1; }"
# too few subjects for the split: said before any work, naming the manifest; no report folder left
check "more folds than subjects: refused naming the manifest" one_line_error 1 "$T/c/cohort.tsv: 13 folds need at least 13 subjects, it lists 12" \
  "$Q" evaluate --manifest "$T/c/cohort.tsv" --report "$T/xf" --arch aprl-rf --folds 13 --quiet
check "the failed evaluate left no report folder" test ! -e "$T/xf"
mkdir -p "$T/xf-kept"
check "a report folder the user had is kept" bash -c "
  ! '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/xf-kept/' --arch aprl-rf --folds 13 --quiet 2>/dev/null &&
  ! '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/xf2/' --arch aprl-rf --folds 13 --quiet 2>/dev/null &&
  test -d '$T/xf-kept' && test ! -e '$T/xf2'"
head -2 "$T/c/cohort.tsv" >"$T/c/single.tsv"
check "a held-out share the cohort cannot give: refused naming the manifest" one_line_error 1 \
  "$T/c/single.tsv: a held-out share of 0.5 needs at least 2 subjects, it lists 1" \
  "$Q" train --manifest "$T/c/single.tsv" --out "$T/single.h5" --arch aprl-rf --holdout 0.5 --quiet
check "a held-out share too small for any cohort is refused, not wrapped around" one_line_error 1 \
  "a held-out share of 1e-20 needs at least 2147483647 subjects, it lists 12" \
  "$Q" train --manifest "$T/c/cohort.tsv" --out "$T/tiny-share.h5" --arch aprl-rf --holdout 1e-20 --quiet
check "unknown architecture is a usage error" one_line_error 2 "unknown architecture" \
  "$Q" train --manifest "$T/c/cohort.tsv" --out "$T/x.h5" --arch resnet
printf 'epocs: 3\n' >"$T/bad.yaml"
check "unknown setting in TRAIN.yaml" one_line_error 1 "unknown setting 'epocs'" \
  "$Q" train --manifest "$T/c/cohort.tsv" --out "$T/x.h5" --config "$T/bad.yaml"
# a relative 'radiomics' file is taken from the folder of TRAIN.yaml, not from the current folder
mkdir -p "$T/cfg"
printf 'imageType:\n  Original: {}\nfeatureClass:\n  firstorder:\nsetting:\n  binWidth: 25\n  label: 1\n' >"$T/cfg/fo.yaml"
printf 'rf_trees: 20\nrf_tune_trees: 10\nrf_mtry: [2]\nradiomics: fo.yaml\n' >"$T/cfg/rf.yaml"
check "a relative radiomics file is read beside TRAIN.yaml when run from another folder" bash -c "
  cd '$T' && '$Q' train --manifest c/cohort.tsv --out rf-fo.h5 --arch aprl-rf --config cfg/rf.yaml --holdout 0 --quiet &&
  test -s rf-fo.h5"
check "a trained random forest records its training voxel size" "$PY" -c "
import h5py; v = list(h5py.File('$T/rf-fo.h5', 'r').attrs['voxel_size_mm']); assert v == [0.75, 0.75, 3.0], v"
# a radiomics file edited under the same name: a resumed run must not mix features of both
check "resume refuses a radiomics file whose contents changed, naming it" bash -c "
  '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/e-fo' --arch aprl-rf --folds 3 --seeds 1 --bootstrap 20 \
     --config '$T/cfg/rf.yaml' --quiet &&
  sed -i 's/binWidth: 25/binWidth: 10/' '$T/cfg/fo.yaml' &&
  ! '$Q' evaluate --manifest '$T/c/cohort.tsv' --report '$T/e-fo' --arch aprl-rf --folds 3 --seeds 1 --bootstrap 20 \
     --config '$T/cfg/rf.yaml' --resume --quiet 2>'$T/fo.err' &&
  grep -q \"used other settings ('radiomics_sha256: [0-9a-f]\\{16\\}' there, 'radiomics_sha256: [0-9a-f]\\{16\\}' now)\" '$T/fo.err' &&
  sed -i 's/binWidth: 10/binWidth: 25/' '$T/cfg/fo.yaml'"
printf 'radiomics: none.yaml\n' >"$T/cfg/missing.yaml"
check "a missing radiomics file names TRAIN.yaml and the key" one_line_error 1 \
  "$T/cfg/missing.yaml: 'radiomics': cannot open $T/cfg/none.yaml" \
  "$Q" train --manifest "$T/c/cohort.tsv" --out "$T/x.h5" --arch aprl-rf --config "$T/cfg/missing.yaml"
check "model path in a missing folder" one_line_error 1 "does not exist" \
  "$Q" train --manifest "$T/c/cohort.tsv" --out "$T/nofolder/x.h5"
check "scoring a file that is not a model" one_line_error 1 "$T/bad.yaml" \
  "$Q" evaluate --manifest "$T/c/cohort.tsv" --report "$T/x" --model "$T/bad.yaml" --quiet
check "an --include folder that holds no report is refused before the work" one_line_error 1 "not an evaluation report" \
  "$Q" evaluate --manifest "$T/c/cohort.tsv" --report "$T/x" --include "$T/c" --quiet
check "no run left a staging folder behind" bash -c "test -z \"\$(find '$T' -name '.qsmrim-staging-*')\""
# a random forest trained on one subject's lesions: mtry is not tuned (its inner CV needs two subjects)
"$MINI" "$T/c2" 2 3 || { echo "cannot write the two-subject cohort"; exit 1; }
check "aprl-rf on one training subject per fold: mtry not tuned, said so, evaluation completes" bash -c "
  '$Q' evaluate --manifest '$T/c2/cohort.tsv' --report '$T/e-two' --arch aprl-rf --folds 2 --seeds 1 --bootstrap 20 \
     --config '$T/tiny.yaml' 2>'$T/two.err' && grep -q 'mtry not tuned: the training lesions come from one subject' '$T/two.err' &&
  test -s '$T/e-two/metrics.json'"
check "--report without held-out subjects: usage error" one_line_error 2 "with holdout 0 there is none" \
  "$Q" train --manifest "$T/c/cohort.tsv" --out "$T/h0.h5" --arch aprl-rf --holdout 0 --report "$T/h0-report"
check "--holdout above 0.5: usage error" one_line_error 2 "must be in \[0, 0.5\]" \
  "$Q" train --manifest "$T/c/cohort.tsv" --out "$T/h0.h5" --arch aprl-rf --holdout 0.9
# an ensemble's P(rim+) is the mean of its members' and its uncertainty their standard deviation
# over the members (the population one: |p1 - p2| / 2 for two). Each member of a two-seed model is
# cut out into a model of its own with h5py (sealed again) and scored alone.
"$Q" train --manifest "$T/c/cohort.tsv" --out "$T/ens.h5" --arch aprl-nn --config "$T/tiny.yaml" --seeds 2 \
  --holdout 0 --threads 1 --quiet 2>/dev/null
"$PY" - "$T/ens.h5" "$T" <<'PYEOF'
import h5py, shutil, sys
for k in (0, 1):
    out = f"{sys.argv[2]}/member{k}.h5"
    shutil.copy(sys.argv[1], out)
    with h5py.File(out, "r+") as f:
        if k == 0:
            del f["member_001"]
        else:
            del f["member_000"]
            f.move("member_001", "member_000")
        f.attrs["n_members"] = 1
PYEOF
for m in ens member0 member1; do
  [ "$m" = ens ] || "$PY" "$QSMRIM_SOURCE_DIR/Resources/python/h5seal.py" "$T/$m.h5" >/dev/null
  "$Q" predict --qsm "$T/c/sub-01_qsm.nrrd" --flair "$T/c/sub-01_flair.nrrd" --lesions "$T/c/sub-01_lesions.nrrd" \
    --model "$T/$m.h5" --out-table "$T/$m.tsv" --threads 1 --quiet >/dev/null 2>&1
done
check "an ensemble's probability and uncertainty: the mean and population SD of its members'" "$PY" - "$T" <<'PYEOF'
import sys
t = sys.argv[1]
read = lambda n: {r.split("\t")[0]: r.split("\t") for r in open(f"{t}/{n}.tsv").read().splitlines()[1:]}
e, a, b = read("ens"), read("member0"), read("member1")
assert e and e.keys() == a.keys() == b.keys()
spread = 0
for i, row in e.items():
    p1, p2 = float(a[i][5]), float(b[i][5])
    assert abs(float(row[5]) - (p1 + p2) / 2) <= 1.5e-6, (i, row, p1, p2)
    assert abs(float(row[6]) - abs(p1 - p2) / 2) <= 1.5e-6, (i, row, p1, p2)
    spread = max(spread, abs(p1 - p2))
assert spread > 1e-3, spread  # members that differ, or the test could not fail
PYEOF
check "help of both commands" bash -c "'$Q' train --help | grep -q -- --holdout && '$Q' evaluate --help | grep -q -- --resume"

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
