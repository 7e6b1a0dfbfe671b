#!/usr/bin/env bash
# `qsmrim predict --manifest COHORT.tsv --out-dir DIR`: every subject of a cohort with one model
# load. Each subject's outputs equal those of a one-subject `qsmrim predict`; queue.tsv ranks all
# lesions; a subject whose inputs cannot be used is recorded and the others are classified;
# --resume reuses exactly the unchanged subjects; an interrupted run keeps finished subjects;
# usage errors and unusable subject names are refused before anything is written.
# usage: test_predict_cohort.sh MINI_COHORT_EXECUTABLE
set -u
MINI=${1:?path of qsmrim_mini_cohort}
source "$(dirname "$0")/../cli_checks.sh"
"$PY" -c 'import csv' || exit 77

"$MINI" "$T/c" 5 11 || { echo "cannot write the mini cohort"; exit 1; }
C=$T/c/cohort.tsv
SUBJECTS=$(tail -n +2 "$C" | cut -f1)

# --- a whole cohort, compared subject by subject with one-subject predict ---
"$Q" predict --manifest "$C" --out-dir "$T/r" --format nrrd --threads 1 >"$T/r.out" 2>"$T/r.err"
rc=$?
check "cohort run succeeds" test "$rc" -eq 0
check "stdout summary line" grep -qP '^subjects=5 done=5 reused=0 failed=0 lesions=[0-9]+ rim_positive=[0-9]+ review=[0-9]+$' "$T/r.out"
check "a progress line per subject naming it" test "$(grep -c "subject 'sub-0[1-5]' ([1-5] of 5): " "$T/r.err")" -eq 5
same_as_single() {
  local s ok=0
  for s in $SUBJECTS; do
    "$Q" predict --qsm "$T/c/${s}_qsm.nrrd" --flair "$T/c/${s}_flair.nrrd" --lesions "$T/c/${s}_lesions.nrrd" \
      --out-labels "$T/one.nrrd" --out-probability "$T/onep.nrrd" --out-table "$T/one.tsv" --threads 1 --quiet >/dev/null &&
      cmp -s "$T/one.tsv" "$T/r/$s/lesions.tsv" && cmp -s "$T/one.nrrd" "$T/r/$s/overlay.nrrd" &&
      cmp -s "$T/onep.nrrd" "$T/r/$s/probability.nrrd" || { echo "  $s differs"; ok=1; }
  done
  return $ok
}
check "each subject's table, overlay and probability map equal one-subject predict's, byte for byte" same_as_single
queue_ok() { # queue_ok DIR SUBJECT...: the queue holds every subject table's rows, cells as written, ranked by probability
  "$PY" - "$@" <<'PYEOF'
import csv, sys
d, subjects = sys.argv[1], sys.argv[2:]
rows = list(csv.reader(open(f"{d}/queue.tsv"), delimiter="\t"))
assert rows[0] == ["rank", "subject", "lesion_id", "volume_mm3", "center_r", "center_a", "center_s",
                   "probability", "uncertainty", "decision"], rows[0]
body = rows[1:]
assert [int(r[0]) for r in body] == list(range(1, len(body) + 1))
want = []
for i, s in enumerate(subjects):
    t = list(csv.reader(open(f"{d}/{s}/lesions.tsv"), delimiter="\t"))[1:]
    want += [(s, *r) for r in t]
assert sorted(want) == sorted(tuple(r[1:]) for r in body), "queue rows differ from the subject tables"
key = [(-float(r[7]), subjects.index(r[1]), int(r[2])) for r in body]
assert key == sorted(key), "queue not ranked by probability, subject order, lesion id"
assert any(r[9] == "rim+" for r in body) and any(r[9] == "rim-" for r in body)
subj = list(csv.reader(open(f"{d}/subjects.tsv"), delimiter="\t"))
assert subj[0] == ["subject", "status", "lesions", "rim_positive", "review", "trained_on", "message"], subj[0]
for s, r in zip(subjects, subj[1:]):
    t = [x for x in body if x[1] == s]
    assert r[:6] == [s, "done", str(len(t)), str(sum(x[9] == "rim+" for x in t)),
                     str(sum(x[9] == "review" for x in t)), "-"], r
PYEOF
}
check "queue.tsv: every lesion once, as its subject's table has it, ranked; subjects.tsv counts" queue_ok "$T/r" $SUBJECTS
# ties: sub-03's images listed again first, as sub-00, so each of its lesions ties with itself;
# the queue puts the tied rows in the manifest's subject order (sub-00 first), then by lesion id
{ head -1 "$C"; grep -P '^sub-03\t' "$C" | sed 's/^sub-03/sub-00/'; tail -n +2 "$C"; } >"$T/c/dup.tsv"
"$Q" predict --manifest "$T/c/dup.tsv" --out-dir "$T/rd" --format nrrd --threads 1 --quiet >/dev/null 2>"$T/rd.err"
check "a cohort with one subject's images twice: ties ranked by the manifest's order (sub-00 first)" \
  queue_ok "$T/rd" sub-00 $SUBJECTS
check "... and the two copies' tables are the same (so their lesions tie)" \
  cmp -s "$T/rd/sub-00/lesions.tsv" "$T/rd/sub-03/lesions.tsv"

# --- --resume: unchanged subjects reused, changed ones computed again ---
cp "$T/r/queue.tsv" "$T/queue.first"
"$Q" predict --manifest "$C" --out-dir "$T/r" --format nrrd --resume --threads 1 >"$T/r2.out" 2>"$T/r2.err"
check "--resume on an unchanged cohort reuses every subject" grep -q '^subjects=5 done=0 reused=5 failed=0 ' "$T/r2.out"
check "... and writes the same queue" cmp -s "$T/queue.first" "$T/r/queue.tsv"
cp "$T/c/sub-03_flair.nrrd" "$T/c/sub-02_flair.nrrd"  # sub-02 gets another FLAIR (same grid)
echo "# edited" >>"$T/r/sub-04/lesions.tsv"            # sub-04's table edited by hand
rm "$T/r/sub-05/overlay.nrrd"                           # sub-05's overlay lost
"$Q" predict --manifest "$C" --out-dir "$T/r" --format nrrd --resume --threads 1 >"$T/r3.out" 2>"$T/r3.err"
check "--resume computes a changed input, an edited table and a lost output again, reuses the rest" \
  grep -q '^subjects=5 done=3 reused=2 failed=0 ' "$T/r3.out"
check "... saying why the others were computed again" bash -c "
  grep -q \"subject 'sub-02' (2 of 5): .*(computed again: its flair image changed)\" '$T/r3.err' &&
  grep -q \"subject 'sub-04' (4 of 5): .*(computed again: its lesions.tsv was changed or removed since)\" '$T/r3.err' &&
  grep -q \"subject 'sub-05' (5 of 5): .*(computed again: its overlay.nrrd was changed or removed since)\" '$T/r3.err' &&
  grep -qP '^sub-02\tdone\t.*\tits flair image changed$' '$T/r/subjects.tsv'"
check "... naming the reused ones" bash -c "grep -c 'reused: unchanged' '$T/r3.err' | grep -qx 2 &&
  grep -q \"subject 'sub-01' (1 of 5): .*reused\" '$T/r3.err' && grep -q \"subject 'sub-03' (3 of 5): .*reused\" '$T/r3.err'"
check "... the edited table kept as lesions.tsv.edited, with a warning, a new one written; the lost overlay written" bash -c "
  ! grep -q edited '$T/r/sub-04/lesions.tsv' && test \"\$(tail -1 '$T/r/sub-04/lesions.tsv.edited')\" = '# edited' &&
  cmp -s '$T/r/sub-04/lesions.tsv' <(head -n -1 '$T/r/sub-04/lesions.tsv.edited') &&
  grep -q \"warning: subject 'sub-04': $T/r/sub-04/lesions.tsv was changed since qsmrim wrote it: kept as lesions.tsv.edited\" '$T/r3.err' &&
  test -s '$T/r/sub-05/overlay.nrrd'"
"$Q" predict --manifest "$C" --out-dir "$T/r" --format nrrd --threshold 0.3 --resume --threads 1 >"$T/r4.out" 2>"$T/r4.err"
check "--resume with another threshold computes every subject again, saying so" bash -c "
  grep -q '^subjects=5 done=5 reused=0 ' '$T/r4.out' &&
  test \$(grep -c 'computed again: another threshold setting than the earlier run' '$T/r4.err') -eq 5"
"$Q" predict --manifest "$C" --out-dir "$T/r" --pictures --threads 1 >"$T/r5.out" 2>/dev/null
check "another --format replaces the images (no stale .nrrd left) and --pictures adds a picture" bash -c "
  test -s '$T/r/sub-01/overlay.nii.gz' && test -s '$T/r/sub-01/probability.nii.gz' && test -s '$T/r/sub-01/picture.png' &&
  ! ls '$T/r'/sub-0*/*.nrrd 2>/dev/null | grep -q ."
"$Q" predict --manifest "$C" --out-dir "$T/r" --threads 1 >/dev/null 2>&1
check "a run without --pictures removes the earlier picture" test ! -e "$T/r/sub-01/picture.png"

# --- what a rerun must leave alone or refuse ---
"$Q" predict --manifest "$C" --out-dir "$T/k" --format nrrd --quiet >/dev/null 2>&1
echo mine >"$T/k/sub-01/picture.png"; echo mine >"$T/k/sub-01/overlay.mha"; echo mine >"$T/k/sub-01/notes.txt"
"$Q" predict --manifest "$C" --out-dir "$T/k" --quiet >/dev/null 2>&1
check "a rerun removes only what the previous record lists (a user's picture.png, overlay.mha kept)" bash -c "
  grep -qx mine '$T/k/sub-01/picture.png' && grep -qx mine '$T/k/sub-01/overlay.mha' && grep -qx mine '$T/k/sub-01/notes.txt' &&
  test ! -e '$T/k/sub-01/overlay.nrrd' && test -s '$T/k/sub-01/overlay.nii.gz'"
mkdir -p "$T/elsewhere" && echo keep >"$T/elsewhere/overlay.nii.gz" && rm -rf "$T/k/sub-02" && ln -s ../elsewhere "$T/k/sub-02"
check "a subject folder that is a link: refused before anything is written" bash -c "
  ! '$Q' predict --manifest '$C' --out-dir '$T/k' --quiet >/dev/null 2>'$T/k.err' &&
  grep -q 'sub-02 is a link, not a folder' '$T/k.err' && grep -qx keep '$T/elsewhere/overlay.nii.gz' && test -s '$T/k/queue.tsv'"
rm "$T/k/sub-02"
check "another run writing into the folder: refused in one line" one_line_error 1 "another qsmrim predict is writing into this folder" \
  flock "$T/k/.qsmrim-predict.lock" "$Q" predict --manifest "$C" --out-dir "$T/k" --quiet
"$Q" predict --manifest "$C" --out-dir "$T/k" --quiet >/dev/null 2>&1
cp "$T/k/sub-02/overlay.nii.gz" "$T/k/sub-01/overlay.nii.gz"; echo junk >"$T/k/sub-03/probability.nii.gz"
"$Q" predict --manifest "$C" --out-dir "$T/k" --resume --quiet >"$T/k.out" 2>/dev/null
check "--resume computes again a subject whose overlay or probability map was replaced" \
  grep -q '^subjects=5 done=2 reused=3 ' "$T/k.out"
"$Q" predict --manifest "$C" --out-dir "$T/k" --resume --device ref --quiet >"$T/k.out" 2>/dev/null
check "--resume on another device computes every subject again" grep -q '^subjects=5 done=5 reused=0 ' "$T/k.out"
rm -rf "$T/k/sub-03/lesions.tsv" && mkdir "$T/k/sub-03/lesions.tsv"
check "a run stopped by a write failure leaves no queue.tsv or subjects.tsv of the earlier run" bash -c "
  ! '$Q' predict --manifest '$C' --out-dir '$T/k' --threshold 0.1 --quiet >/dev/null 2>&1 &&
  test ! -e '$T/k/queue.tsv' && test ! -e '$T/k/subjects.tsv'"
rmdir "$T/k/sub-03/lesions.tsv"
cp -r "$T/c" "$T/c2" && head -c 100 "$T/c/sub-02_qsm.nrrd" >"$T/c2/sub-02_qsm.nrrd"
"$Q" predict --manifest "$T/c2/cohort.tsv" --out-dir "$T/k" --quiet >/dev/null 2>&1
check "a subject failing in a rerun: its record removed (nothing reused or opened as current), its outputs kept" bash -c "
  grep -qP '^sub-02\tfailed\t' '$T/k/subjects.tsv' && test ! -e '$T/k/sub-02/.qsmrim-predict' &&
  test -s '$T/k/sub-02/lesions.tsv' && test -s '$T/k/sub-02/overlay.nii.gz' && test -s '$T/k/sub-01/.qsmrim-predict'"
sed "s#\tsub#\t$T/gone/sub#g" "$C" | cut -f1-4 >"$T/gone.tsv"
check "inputs out of reach (an unmounted disk): every subject failed, no output removed" bash -c "
  ! '$Q' predict --manifest '$T/gone.tsv' --out-dir '$T/k' --resume --quiet >/dev/null 2>&1 &&
  test \$(ls '$T'/k/sub-0*/lesions.tsv | wc -l) -eq 5 && test \$(ls '$T'/k/sub-0*/overlay.nii.gz | wc -l) -eq 5"
"$Q" predict --manifest "$C" --out-dir "$T/k" --quiet >/dev/null 2>&1
mkdir "$T/k/subjects.tsv.d" && rm "$T/k/subjects.tsv" && mv "$T/k/subjects.tsv.d" "$T/k/subjects.tsv"
check "an output table that cannot be written: refused before anything is changed (queue.tsv kept)" bash -c "
  ! '$Q' predict --manifest '$C' --out-dir '$T/k' --quiet >/dev/null 2>&1 && test -s '$T/k/queue.tsv'"
rmdir "$T/k/subjects.tsv"
echo edited >>"$T/k/sub-01/overlay.nii.gz"
"$Q" predict --manifest "$C" --out-dir "$T/k" --format nrrd --quiet >/dev/null 2>&1
check "an output edited since its run is not removed when the format changes" bash -c "
  tail -c 7 '$T/k/sub-01/overlay.nii.gz' | grep -q edited && test ! -e '$T/k/sub-02/overlay.nii.gz' && test -s '$T/k/sub-02/overlay.nrrd'"
rm "$T/k/sub-01/.qsmrim-predict" && mkfifo "$T/k/sub-01/.qsmrim-predict"
check "a pipe where a record or an output was: no hang" bash -c "
  timeout 60 '$Q' predict --manifest '$C' --out-dir '$T/k' --format nrrd --resume --quiet >/dev/null 2>&1 &&
  test -f '$T/k/sub-01/.qsmrim-predict'"
rm -f "$T/k/.qsmrim-predict.lock" && ln -s "$T/elsewhere/lock" "$T/k/.qsmrim-predict.lock"
check "a lock file that is a link: refused, nothing created through it" bash -c "
  ! '$Q' predict --manifest '$C' --out-dir '$T/k' --quiet >/dev/null 2>'$T/lk.err' && grep -q 'it is a link' '$T/lk.err' &&
  test ! -e '$T/elsewhere/lock'"
rm "$T/k/.qsmrim-predict.lock"
printf 'subject\tqsm\tflair\tlesions\tannotations\n' >"$T/ann.tsv"
sed -n 2p "$C" | cut -f1-4 | sed "s#\tsub#\t$T/c/sub#g" | sed "s#\$#\t$T/a/sub-01/ann.tsv#" >>"$T/ann.tsv"
check "an annotations path inside the output folder is not read, not refused" bash -c "
  '$Q' predict --manifest '$T/ann.tsv' --out-dir '$T/a' --quiet >/dev/null"
QSMRIM_CUDA_CONV_ALGO=$(head -c 3000 /dev/zero | tr '\0' x) "$Q" predict --manifest "$C" --out-dir "$T/env" --quiet >/dev/null 2>&1
check "an environment setting of any length: the record is never cut short (its inputs are in it)" bash -c "
  grep -qx 'cuda-conv-algo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' '$T/env/sub-01/.qsmrim-predict' &&
  grep -q '^qsm [0-9a-f]\{64\}$' '$T/env/sub-01/.qsmrim-predict' && grep -q '^output lesions.tsv ' '$T/env/sub-01/.qsmrim-predict'"
check "a model that cannot be opened: nothing created" bash -c "
  ! '$Q' predict --manifest '$C' --out-dir '$T/nomodel' --model '$T/none.h5' --quiet 2>/dev/null && test ! -e '$T/nomodel'"

# --- a subject that cannot be used: recorded, the others classified, exit 1 with one error line ---
mkdir -p "$T/bad"
{ printf 'subject\tqsm\tflair\tlesions\n'; sed -n 2,3p "$C" | cut -f1-4 | sed "s#\tsub#\t$T/c/sub#g"
  printf 'broken\t%s\t%s\t%s\n' "$T/c/missing_qsm.nrrd" "$T/c/sub-01_flair.nrrd" "$T/c/sub-01_lesions.nrrd"
  mkfifo "$T/c/pipe.nrrd"
  printf 'piped\t%s\t%s\t%s\n' "$T/c/sub-03_qsm.nrrd" "$T/c/pipe.nrrd" "$T/c/sub-03_lesions.nrrd"
} >"$T/bad/cohort.tsv"
timeout 120 "$Q" predict --manifest "$T/bad/cohort.tsv" --out-dir "$T/b" --quiet >"$T/b.out" 2>"$T/b.err"
rc=$?
check "failed subjects: exit 1 (a pipe is refused, not read)" test "$rc" -eq 1
check "... the last stderr line is the one error, naming the first failure and subjects.tsv" bash -c "
  test \$(grep -c 'error:' '$T/b.err') -eq 1 &&
  tail -1 '$T/b.err' | grep -q \"error: 2 of 4 subjects could not be classified (first: subject 'broken': .*missing_qsm.nrrd.*subjects.tsv\""
check "... the others classified, the failures and why in subjects.tsv" bash -c "
  grep -q '^subjects=4 done=2 reused=0 failed=2 ' '$T/b.out' &&
  grep -qP '^broken\tfailed\t-\t-\t-\t-\t.*missing_qsm.nrrd' '$T/b/subjects.tsv' &&
  grep -qP '^piped\tfailed\t.*not a regular file' '$T/b/subjects.tsv' && test -s '$T/b/sub-01/lesions.tsv' &&
  ! cut -f2 '$T/b/queue.tsv' | grep -q -e broken -e piped"

# --- interrupted: finished subjects kept, --resume completes the same queue ---
"$MINI" "$T/big" 40 5 >/dev/null || exit 1
"$Q" predict --manifest "$T/big/cohort.tsv" --out-dir "$T/full" --threads 1 --quiet >/dev/null 2>&1
"$Q" predict --manifest "$T/big/cohort.tsv" --out-dir "$T/i" --threads 1 --quiet >"$T/i.out" 2>"$T/i.err" &
pid=$!
for _ in $(seq 1 1000); do [ -e "$T/i/sub-01/.qsmrim-predict" ] && break; sleep 0.01; done
kill -INT $pid
wait $pid
rc=$?
if [ "$rc" -eq 0 ]; then
  echo "skip - interrupt: the run finished before the signal arrived"
else
  check "interrupted: exit 130, one error line saying --resume, no queue yet" bash -c "
    test $rc -eq 130 && grep -q 'rerun with --resume' '$T/i.err' && test ! -e '$T/i/queue.tsv' && test -s '$T/i/sub-01/lesions.tsv'"
  "$Q" predict --manifest "$T/big/cohort.tsv" --out-dir "$T/i" --threads 1 --resume --quiet >"$T/i2.out" 2>/dev/null
  check "... --resume reuses the finished subjects and gives the uninterrupted run's queue" bash -c "
    grep -qP '^subjects=40 done=[0-9]+ reused=[1-9][0-9]* failed=0 ' '$T/i2.out' && cmp -s '$T/full/queue.tsv' '$T/i/queue.tsv'"
fi

# --- refused before anything is written ---
printf 'subject\tqsm\tflair\tlesions\nsub-01\tc/sub-01_qsm.nrrd\tc/sub-01_flair.nrrd\tc/sub-01_lesions.nrrd\n../up\tc/sub-02_qsm.nrrd\tc/sub-02_flair.nrrd\tc/sub-02_lesions.nrrd\n' >"$T/names.tsv"
check "a subject name that is no folder name: error naming it, nothing written" bash -c "
  '$Q' predict --manifest '$T/names.tsv' --out-dir '$T/n' 2>'$T/n.err'; test \$? -eq 1 &&
  grep -q \"subject name '../up' starts with '.'\" '$T/n.err' && test ! -e '$T/n'"
printf 'subject\tqsm\tflair\tlesions\nqueue.tsv\tc/sub-01_qsm.nrrd\tc/sub-01_flair.nrrd\tc/sub-01_lesions.nrrd\n' >"$T/names2.tsv"
check "a subject named like an output table: refused" one_line_error 1 "subject name 'queue.tsv' is the name of an output table" \
  "$Q" predict --manifest "$T/names2.tsv" --out-dir "$T/n"
check "an output folder holding the cohort's files: refused" one_line_error 1 "holds the --manifest file" \
  "$Q" predict --manifest "$C" --out-dir "$T/c" --quiet
check "--manifest without --out-dir: usage error" one_line_error 2 "needs --out-dir" "$Q" predict --manifest "$C"
# a folder holds a file only below a '/': inputs in "$T/in-x" are not inside an output folder "$T/in"
cp -r "$T/c" "$T/in-x" && mkdir "$T/in" # an existing output folder is checked against the inputs
check "an output folder whose name starts the inputs' folder name: accepted" bash -c "
  '$Q' predict --manifest '$T/in-x/cohort.tsv' --out-dir '$T/in' --threads 1 --quiet && test -s '$T/in/queue.tsv'"
# a QSM stored as a NIfTI pair (.hdr + .img): new voxels in the .img under the same .hdr are a new image
"$Q" phantom --out "$T/ph" --subjects 1 --seed 3 --quiet
"$PY" - "$T/ph/sub-001" <<'PYEOF' || echo "  cannot write the NIfTI pair"
import sys, nibabel as nib, numpy as np
d = sys.argv[1]
q = nib.load(f"{d}/sub-001_qsm.nii.gz")
nib.save(nib.Nifti1Pair(np.asarray(q.dataobj, dtype=np.float32), q.affine), f"{d}/qsm.hdr")
PYEOF
printf 'subject\tqsm\tflair\tlesions\nsub-001\tsub-001/qsm.hdr\tsub-001/sub-001_flair.nii.gz\tsub-001/sub-001_lesions.nii.gz\n' >"$T/ph/pair.tsv"
"$Q" predict --manifest "$T/ph/pair.tsv" --out-dir "$T/rp" --threads 1 --quiet >/dev/null 2>&1
"$PY" -c "
import sys, numpy as np
img = sys.argv[1]
v = np.fromfile(img, dtype=np.float32)
(v * 3).astype(np.float32).tofile(img)" "$T/ph/sub-001/qsm.img"
"$Q" predict --manifest "$T/ph/pair.tsv" --out-dir "$T/rp" --threads 1 --resume >"$T/rp.out" 2>"$T/rp.err"
check "--resume: a NIfTI pair whose .img changed under the same .hdr is computed again" bash -c "
  grep -q '^subjects=1 done=1 reused=0 failed=0 ' '$T/rp.out' && grep -q 'computed again: its qsm image changed' '$T/rp.err'"
check "--manifest with --qsm: usage error" one_line_error 2 "drop --qsm" \
  "$Q" predict --manifest "$C" --out-dir "$T/u" --qsm "$T/c/sub-01_qsm.nrrd"
check "--manifest with --out-table: usage error" one_line_error 2 "drop --out-labels" \
  "$Q" predict --manifest "$C" --out-dir "$T/u" --out-table "$T/x.tsv"
check "--resume without --manifest: usage error" one_line_error 2 "are for a cohort" \
  "$Q" predict --qsm a --flair b --lesions c --out-table "$T/x.tsv" --resume
check "an empty --out-dir: usage error" one_line_error 2 "need a path, not an empty one" \
  "$Q" predict --manifest "$C" --out-dir ""
check "--format outside the list: usage error" one_line_error 2 "--format 'png' is not" \
  "$Q" predict --manifest "$C" --out-dir "$T/u" --format png
check "nothing written by the refused runs" test ! -e "$T/u"
check "help describes the cohort mode" bash -c "'$Q' predict --help | grep -q -- '--manifest COHORT.tsv --out-dir DIR' &&
  '$Q' predict --help | grep -q queue.tsv"

[ "$fails" -eq 0 ] && echo "all passed" || { echo "$fails failed"; exit 1; }
