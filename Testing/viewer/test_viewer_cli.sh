#!/usr/bin/env bash
# qsmrim-review's command line and bad input: usage errors (exit 2), failures (exit 1) with one
# line naming the input and the problem, nothing written over, headless export without a display.
source "$(dirname "$0")/viewer_common.sh"

FIX=$T/fix
"$FIXTURE" "$FIX" || { echo "fixture failed"; exit 1; }
"$FIXTURE" "$T/flip" --flip || { echo "fixture failed"; exit 1; }
S=(--qsm "$FIX/qsm.nii.gz" --flair "$FIX/flair.nii.gz" --lesions "$FIX/lesions.nii.gz")
P=(--table "$FIX/table.tsv" --overlay "$FIX/overlay.nrrd" --probability "$FIX/probability.nrrd")
echo quit >"$T/quit.txt"

check "--help documents the keys and exits 0 without a display" bash -c "
  env -u DISPLAY '$VIEWER' --help | grep -q 'r rim+, x rim-, u unsure'"
check "unknown option: usage error" one_line_error 2 "unknown option '--frobnicate'" "$VIEWER" --frobnicate
check "a subject needs all three images" one_line_error 2 "needs all of --qsm, --flair and --lesions" \
  env -u DISPLAY "$VIEWER" --qsm "$FIX/qsm.nii.gz" --export "$T/x.tsv"
check "prediction maps need their table" one_line_error 2 "need the --table" \
  env -u DISPLAY "$VIEWER" "${S[@]}" --overlay "$FIX/overlay.nrrd" --export "$T/x.tsv"
check "--opacity out of range" one_line_error 2 "between 0 and 1" env -u DISPLAY "$VIEWER" "${S[@]}" --opacity 2 --export "$T/x.tsv"
check "--connectivity 8" one_line_error 2 "6 or 26" env -u DISPLAY "$VIEWER" "${S[@]}" --connectivity 8 --export "$T/x.tsv"
check "--export with --script" one_line_error 2 "does not combine" env -u DISPLAY "$VIEWER" "${S[@]}" --script x --export "$T/x.tsv"
check "--threshold out of range: usage error before the subject is read" one_line_error 2 "--threshold: threshold '1.5' is not" \
  env -u DISPLAY "$VIEWER" "${S[@]}" --threshold 1.5 --export "$T/x.tsv"
check "--device misspelt: usage error" one_line_error 2 "--device: unknown device 'gpu'" env -u DISPLAY "$VIEWER" "${S[@]}" --device gpu --export "$T/x.tsv"
check "--subject without --cohort: usage error" one_line_error 2 "--subject names a subject of a --cohort manifest" \
  env -u DISPLAY "$VIEWER" "${S[@]}" --subject sub-009 --export "$T/x.tsv"
check "--model that does not exist: one line" one_line_error 1 "--model $T/none.h5: no such file" \
  env -u DISPLAY "$VIEWER" "${S[@]}" --model "$T/none.h5" --export "$T/x.tsv"

check "missing QSM file: one line naming it" one_line_error 1 "$T/nope.nii.gz" \
  run_viewer --qsm "$T/nope.nii.gz" --flair "$FIX/flair.nii.gz" --lesions "$FIX/lesions.nii.gz" --script "$T/quit.txt"
check "a prediction table of another lesion map is refused" one_line_error 1 "belongs to another lesion map" \
  run_viewer "${S[@]}" --table "$T/flip/table.tsv" --script "$T/quit.txt"
check "prediction maps on another grid are refused" one_line_error 1 "is not on the QSM grid" \
  run_viewer "${S[@]}" --table "$FIX/table.tsv" --overlay "$T/flip/overlay.nrrd" --script "$T/quit.txt"
# an overlay on the right grid whose codes do not match the table: every lesion voxel "rim-"
"$PY" - "$FIX/lesions.nii.gz" "$T/all_neg.nii.gz" <<'PYEOF'
import sys, nibabel as nib, numpy as np
m = nib.load(sys.argv[1])
nib.save(nib.Nifti1Image((np.asarray(m.dataobj) > 0).astype(np.uint8), m.affine, m.header), sys.argv[2])
PYEOF
check "an overlay that disagrees with the table is refused, naming the voxel count" one_line_error 1 "voxels disagree" \
  run_viewer "${S[@]}" --table "$FIX/table.tsv" --overlay "$T/all_neg.nii.gz" --script "$T/quit.txt"

printf 'lesion_id\tdecision\n1\trim+\n1\trim-\n' >"$T/dup.tsv"
cp "$T/dup.tsv" "$T/dup_before.tsv"
check "a corrupt review file: one line naming file and line, exit 1" one_line_error 1 "dup.tsv line 3: lesion 1 has a second row" \
  run_viewer "${S[@]}" --review "$T/dup.tsv" --script "$T/quit.txt"
check "... and the file is left as it was" cmp -s "$T/dup.tsv" "$T/dup_before.tsv"
check "a review file in a missing folder: one line, exit 1" one_line_error 1 "$T/no/such/r.tsv" \
  run_viewer "${S[@]}" --review "$T/no/such/r.tsv" --script "$T/quit.txt"
printf 'select 1\nfly away\nquit\n' >"$T/bad_script.txt"
check "an unknown script command: exit 1 naming the line" one_line_error 1 "script line 2: unknown command 'fly'" \
  run_viewer "${S[@]}" "${P[@]}" --review "$T/s.tsv" --script "$T/bad_script.txt"
printf 'click qsm 0.5 0.5\n' >"$T/bad_view.txt"
check "a script naming a view that does not exist: the views there are are listed" one_line_error 1 \
  "script line 1: no view 'qsm' (qsm-axial, qsm-coronal, qsm-sagittal, flair-axial, flair-coronal, flair-sagittal)" \
  run_viewer "${S[@]}" "${P[@]}" --review "$T/s.tsv" --script "$T/bad_view.txt"
printf 'select 99\n' >"$T/bad_select.txt"
check "selecting a lesion that does not exist: exit 1" one_line_error 1 "lesion 99 is not listed" \
  run_viewer "${S[@]}" "${P[@]}" --review "$T/s.tsv" --script "$T/bad_select.txt"

# in-viewer prediction that fails (a model file that is not a model) and one cancelled at once: the window keeps
# the prediction it showed, reports the failure, stays usable
printf 'state %s\npredict\nwait-predict 300\nstate %s\npredict cancel\nwait-predict 300\nstate %s\nkey r\nquit\n' \
  "$T/w0.json" "$T/w1.json" "$T/w2.json" >"$T/worker.txt"
check "prediction worker: a failing run and a cancelled run, then a decision" bash -c "
  '$VIEWER' ${S[*]} ${P[*]} --review '$T/w.tsv' --model '$FIX/table.tsv' --script '$T/worker.txt' 2>'$T/w.err' &&
  grep -q 'Prediction failed: ' '$T/w.err' &&
  grep -q '\"prediction\": \"failed: ' '$T/w1.json' && grep -q '\"prediction\": \"cancelled\"' '$T/w2.json' &&
  grep -q '\"has_prediction\": true' '$T/w2.json' &&
  test \"\$(grep -A7 '\"order\"' '$T/w0.json')\" = \"\$(grep -A7 '\"order\"' '$T/w2.json')\" &&
  test \$(tail -n +2 '$T/w.tsv' | wc -l) -eq 1"

# a lesion map without lesions: the viewer opens with an empty queue, keys do nothing
"$PY" - "$FIX/lesions.nii.gz" "$T/empty.nii.gz" <<'PYEOF'
import sys, nibabel as nib, numpy as np
m = nib.load(sys.argv[1])
nib.save(nib.Nifti1Image(np.zeros(m.shape, np.uint8), m.affine, m.header), sys.argv[2])
PYEOF
printf 'key r\nkey n\nstate %s\nquit\n' "$T/e.json" >"$T/empty.txt"
check "an empty lesion map: empty queue, no decision, header-only review file" bash -c "
  '$VIEWER' --qsm '$FIX/qsm.nii.gz' --flair '$FIX/flair.nii.gz' --lesions '$T/empty.nii.gz' --review '$T/e.tsv' --script '$T/empty.txt' 2>/dev/null &&
  grep -q '\"lesions\": 0' '$T/e.json' && grep -q '\"lesion\": 0' '$T/e.json' && test \$(wc -l <'$T/e.tsv') -eq 1"

# the default review file name, and cohort manifests as `qsmrim phantom` writes them
printf 'subject\tqsm\tflair\tlesions\tannotations\nsub-x\tfix/qsm.nii.gz\tfix/flair.nii.gz\tfix/lesions.nii.gz\tnone.tsv\n' >"$T/cohort.tsv"
printf 'key x\nquit\n' >"$T/one.txt"
check "--cohort opens the subject; the review file defaults to <lesion map>_review.tsv" bash -c "
  '$VIEWER' --cohort '$T/cohort.tsv' --subject sub-x --reviewer r2 --script '$T/one.txt' 2>/dev/null &&
  grep -qP '^[0-9]+\trim-\tr2\t' '$FIX/lesions_review.tsv'"
check "unknown cohort subject: one line listing the cohort's" one_line_error 1 "no subject 'sub-y' (it lists sub-x)" \
  env -u DISPLAY "$VIEWER" --cohort "$T/cohort.tsv" --subject sub-y --export "$T/x.tsv"
check "an empty --subject: usage error (it opened the first subject)" one_line_error 2 "--subject needs a subject name" \
  env -u DISPLAY "$VIEWER" --cohort "$T/cohort.tsv" --subject "" --export "$T/x.tsv"
# --results: a subject's outputs of `qsmrim predict --manifest --out-dir`, its review file beside them
check "--results opens the subject's cohort-run outputs (the exported model columns are its table's)" bash -c "
  '${QSMRIM:?}' predict --manifest '$T/cohort.tsv' --out-dir '$T/res' --quiet >/dev/null &&
  env -u DISPLAY '$VIEWER' --cohort '$T/cohort.tsv' --subject sub-x --results '$T/res' --export '$T/rx.tsv' &&
  diff <(tail -n +2 '$T/res/sub-x/lesions.tsv' | cut -f1,6,8 | sort) \
       <(tail -n +2 '$T/rx.tsv' | cut -f1,6,8 | sort)"
check "... and the review file is DIR/SUBJECT/review.tsv" bash -c "
  '$VIEWER' --cohort '$T/cohort.tsv' --results '$T/res' --reviewer r3 --script '$T/one.txt' 2>/dev/null &&
  grep -qP '^[0-9]+\trim-\tr3\t' '$T/res/sub-x/review.tsv' && ! grep -q r3 '$FIX/lesions_review.tsv'"
# ] and [ step through the cohort's subjects, each with its own outputs and review file
printf 'subject\tqsm\tflair\tlesions\nsub-x\tfix/qsm.nii.gz\tfix/flair.nii.gz\tfix/lesions.nii.gz\nsub-y\tflip/qsm.nii.gz\tflip/flair.nii.gz\tflip/lesions.nii.gz\n' >"$T/two.tsv"
printf 'key r\nkey ]\nstate %s\nkey x\nkey ]\nstate %s\nkey [\nstate %s\nquit\n' "$T/st1.json" "$T/st2.json" "$T/st3.json" >"$T/step.txt"
steps_ok() {
  "${QSMRIM:?}" predict --manifest "$T/two.tsv" --out-dir "$T/res2s" --quiet >/dev/null &&
    "$VIEWER" --cohort "$T/two.tsv" --results "$T/res2s" --reviewer r4 --script "$T/step.txt" 2>/dev/null &&
    test "$(field "$T/st1.json" 's["subject"], s["review_file"].endswith("res2s/sub-y/review.tsv"), s["has_prediction"]')" = 'sub-y True True' &&
    test "$(field "$T/st2.json" 's["subject"]')" = sub-y &&
    test "$(field "$T/st3.json" 's["subject"], s["table"].endswith("res2s/sub-x/lesions.tsv")')" = 'sub-x True' &&
    test "$(grep -cP '\trim\+\tr4\t' "$T/res2s/sub-x/review.tsv")" -eq 1 &&
    test "$(grep -cP '\trim-\tr4\t' "$T/res2s/sub-y/review.tsv")" -eq 1 &&
    test "$(grep -c r4 "$T/res2s/sub-x/review.tsv")" -eq 1 && test "$(grep -c r4 "$T/res2s/sub-y/review.tsv")" -eq 1
}
check "] and [ open the next and previous subject with their outputs; decisions go to each one's review file" steps_ok
# a note typed without Enter is kept when the subject changes: saved to the old subject's review file.
# step_note_ok REVIEWER NOTE HOW...: HOW is the script lines that open the next subject
step_note_ok() {
  local who=$1 note=$2; shift 2
  { printf 'key t\ntype %s\n' "$note"; printf '%s\n' "$@"; printf 'state %s\nquit\n' "$T/stn.json"; } >"$T/stepnote.txt"
  "$VIEWER" --cohort "$T/two.tsv" --results "$T/res2s" --reviewer "$who" --script "$T/stepnote.txt" 2>/dev/null &&
    test "$(field "$T/stn.json" 's["subject"]')" = sub-y &&
    grep -qP "\tnone\t$who\t.*\t$note\$" "$T/res2s/sub-x/review.tsv"
}
# leaving the field saves it (see test_viewer_review); a menu click takes no focus from the field, so
# the field never reports the edit finished: closing the subject must save it
check "a note typed without Enter, then the queue focused and ] pressed: saved to its subject's review file" \
  step_note_ok r6 "unconfirmed when leaving" "focus queue" "key ]"
check "a note typed without Enter, then File > Next subject with the field focused: saved to its subject's review file" \
  step_note_ok r7 "typed then menu" "menu Next subject"
check "script: a menu entry that opens a dialog (Help > Keys and mouse...) is refused, not left waiting" one_line_error 1 "no menu entry 'Keys and mouse'" \
  timeout 60 "$VIEWER" --cohort "$T/two.tsv" --results "$T/res2s" --reviewer r4 --script <(printf 'menu Keys and mouse\nquit\n')
check "script: an unknown menu entry is an error naming the entries" one_line_error 1 "no menu entry 'Nxt subject' (entries without a dialog: .*Next subject" \
  "$VIEWER" --cohort "$T/two.tsv" --results "$T/res2s" --reviewer r4 --script <(printf 'menu Nxt subject\nquit\n')
# one decision per lesion: a second reviewer is told on open that their decisions replace the others'
others_ok() {
  "$VIEWER" --cohort "$T/two.tsv" --results "$T/res2s" --subject sub-x --reviewer r9 --script <(printf 'quit\n') 2>"$T/others.err" &&
    grep -q "res2s/sub-x/review.tsv holds [0-9]* decisions\? by other reviewers than r9 (lesion [0-9]*: [a-z+-]* by r[0-9]): a decision made here on such a lesion replaces theirs" "$T/others.err"
}
check "a review file with another reviewer's decisions: a notice on open that decisions here replace theirs" others_ok
check "... not for the same reviewer given with blanks around the name (the file stores it trimmed)" bash -c "
  '$VIEWER' --cohort '$T/two.tsv' --results '$T/res2s' --subject sub-x --reviewer ' r4 ' --script <(printf 'quit\n') 2>'$T/others2.err' &&
  ! grep -q 'by other reviewers' '$T/others2.err'"
check "--reviewer of blanks only: usage error" one_line_error 2 "--reviewer needs a name" \
  env -u DISPLAY "$VIEWER" "${S[@]}" --reviewer "   " --export "$T/x.tsv"
# the reviewed table of a whole cohort: every subject's lesions under a first column `subject`
cohort_export_ok() {
  env -u DISPLAY "$VIEWER" --cohort "$T/two.tsv" --results "$T/res2s" --export "$T/all.tsv" 2>"$T/all.err" &&
    test "$(head -1 "$T/all.tsv" | cut -f1-2)" = "$(printf 'subject\tlesion_id')" &&
    test "$(tail -n +2 "$T/all.tsv" | wc -l)" -eq $(( $(tail -n +2 "$T/res2s/sub-x/lesions.tsv" | wc -l) + $(tail -n +2 "$T/res2s/sub-y/lesions.tsv" | wc -l) )) &&
    diff <(tail -n +2 "$T/res2s/sub-y/lesions.tsv" | cut -f1,6,8 | sort) <(awk -F'\t' -v OFS='\t' '$1 == "sub-y" { print $2, $7, $9 }' "$T/all.tsv" | sort) &&
    test "$(awk -F'\t' '$1 == "sub-x" && $10 == "rim+" && $11 == "r4"' "$T/all.tsv" | wc -l)" -eq 1 &&
    test "$(awk -F'\t' '$1 == "sub-y" && $10 == "rim-" && $11 == "r4"' "$T/all.tsv" | wc -l)" -eq 1 &&
    grep -q "qsmrim-review: 2 subjects, [0-9]* lesions -> $T/all.tsv" "$T/all.err"
}
check "--export of a cohort (no --subject): every subject's reviewed lesions, with their decisions" cohort_export_ok
check "--export of a whole cohort with --review: usage error" one_line_error 2 "name one with --subject" \
  env -u DISPLAY "$VIEWER" --cohort "$T/two.tsv" --results "$T/res2s" --review "$T/r.tsv" --export "$T/all2.tsv"
# } follows the cohort queue across subjects, passing over lesions decided in any review file
printf 'key }\nstate %s\nkey }\nstate %s\nkey r\nkey }\nstate %s\nquit\n' "$T/q1.json" "$T/q2.json" "$T/q3.json" >"$T/queue.txt"
queue_ok() {
  "$QSMRIM" predict --manifest "$T/two.tsv" --out-dir "$T/resq" --quiet >/dev/null || return 1
  # the entries after sub-x's top lesion (where the window opens); the first of them is decided
  # beforehand in its subject's review file, so } goes to the second, then the third; a decision
  # there (r moves the selection on within its subject) and } goes on from the third: the fourth
  local want
  want=$("$PY" - "$T/resq" <<'PYEOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1] + "/queue.tsv")][1:]
q = [(r[1], int(r[2])) for r in rows]
r0 = next(k for k, e in enumerate(q) if e[0] == "sub-x")
skip, a, b, c = q[r0 + 1], q[r0 + 2], q[r0 + 3], q[r0 + 4]
open("%s/%s/review.tsv" % (sys.argv[1], skip[0]), "w").write("lesion_id\tdecision\n%d\trim-\n" % skip[1])
print("%s %d %s %d %s %d" % (a[0], a[1], b[0], b[1], c[0], c[1]))
PYEOF
) || return 1
  "$VIEWER" --cohort "$T/two.tsv" --results "$T/resq" --subject sub-x --script "$T/queue.txt" 2>/dev/null &&
    local got; got="$(field "$T/q1.json" 's["subject"], s["lesion"]') $(field "$T/q2.json" 's["subject"], s["lesion"]') $(field "$T/q3.json" 's["subject"], s["lesion"]')"
  [ "$got" = "$want" ] || { echo "  want $want, got $got"; return 1; }
}
check "} goes to the next lesion of the cohort queue without a decision, opening its subject" queue_ok
# with a queue filter that hides that lesion, } shows every lesion and selects it (it said it went
# there but left another lesion selected, which the next key decided)
printf 'filter reviewed\nkey }\nstate %s\nquit\n' "$T/q4.json" >"$T/queue4.txt"
queue_filter_ok() {
  local want got
  want=$("$PY" -c "
import sys
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1] + '/queue.tsv')][1:]
q = [(r[1], r[2]) for r in rows]
r0 = next(k for k, e in enumerate(q) if e[0] == 'sub-x')
print(*q[r0 + 2])" "$T/resq") || return 1
  "$VIEWER" --cohort "$T/two.tsv" --results "$T/resq" --subject sub-x --script "$T/queue4.txt" 2>/dev/null || return 1
  got="$(field "$T/q4.json" 's["subject"], s["lesion"]')"
  [ "$got" = "$want" ] || { echo "  want $want, got $got"; return 1; }
}
check "} with a queue filter hiding its lesion: the filter is cleared and that lesion selected" queue_filter_ok
# ] passes over a subject that cannot be opened (no finished prediction), saying so
printf 'subject\tqsm\tflair\tlesions\nsub-x\tfix/qsm.nii.gz\tfix/flair.nii.gz\tfix/lesions.nii.gz\nsub-y\tflip/qsm.nii.gz\tflip/flair.nii.gz\tflip/lesions.nii.gz\nsub-z\tfix/qsm.nii.gz\tfix/flair.nii.gz\tfix/lesions.nii.gz\n' >"$T/three.tsv"
printf 'key ]\nstate %s\nquit\n' "$T/skip.json" >"$T/skip.txt"
skip_ok() {
  "$QSMRIM" predict --manifest "$T/three.tsv" --out-dir "$T/res3s" --quiet >/dev/null && rm "$T/res3s/sub-y/.qsmrim-predict" &&
    "$VIEWER" --cohort "$T/three.tsv" --results "$T/res3s" --script "$T/skip.txt" 2>"$T/skip.err" &&
    test "$(field "$T/skip.json" 's["subject"], s["has_prediction"]')" = 'sub-z True' &&
    grep -q "subject 'sub-y' passed over: .*holds no finished prediction" "$T/skip.err"
}
check "] passes over a subject without a finished prediction, with a warning" skip_ok
check "--export of a cohort leaves out a subject without a finished prediction: warning, exit 1, the others written" bash -c "
  env -u DISPLAY '$VIEWER' --cohort '$T/three.tsv' --results '$T/res3s' --export '$T/all3.tsv' 2>'$T/all3.err'; test \$? -eq 1 &&
  grep -q \"warning: subject 'sub-y' left out: .*holds no finished prediction\" '$T/all3.err' &&
  tail -1 '$T/all3.err' | grep -q '^qsmrim-review: error: 1 of 3 subjects left out (sub-y); the table holds the others$' &&
  test \"\$(tail -n +2 '$T/all3.tsv' | cut -f1 | sort -u | paste -sd,)\" = sub-x,sub-z"
# what the command line names for its cohort subject stays with it: outputs and review file
printf 'key r\nkey ]\nkey [\nstate %s\nkey x\nquit\n' "$T/given.json" >"$T/given.txt"
given_ok() {
  "$VIEWER" --cohort "$T/three.tsv" --subject sub-x --table "$T/res3s/sub-x/lesions.tsv" \
    --overlay "$T/res3s/sub-x/overlay.nii.gz" --probability "$T/res3s/sub-x/probability.nii.gz" \
    --review "$T/mine.tsv" --reviewer r5 --script "$T/given.txt" 2>/dev/null &&
    test "$(field "$T/given.json" 's["subject"], s["has_prediction"], s["review_file"].endswith("mine.tsv")')" = 'sub-x True True' &&
    test "$(grep -c r5 "$T/mine.tsv")" -eq 2 && grep -qP '\trim\+\tr5\t' "$T/mine.tsv" && grep -qP '\trim-\tr5\t' "$T/mine.tsv" &&
    ! grep -q r5 "$FIX/lesions_review.tsv"
}
check "--cohort with --table and --review: kept for that subject, also after ] and [" given_ok
cp "$T/flip/qsm.nii.gz" "$T/res3s/other_qsm.nii.gz"
printf 'subject\tqsm\tflair\tlesions\nsub-x\tres3s/other_qsm.nii.gz\tfix/flair.nii.gz\tfix/lesions.nii.gz\n' >"$T/changed.tsv"
check "--results whose inputs changed since the run: one line, not stale probabilities" one_line_error 1 \
  "computed from another qsm than .*other_qsm.nii.gz (changed since)" \
  env -u DISPLAY "$VIEWER" --cohort "$T/changed.tsv" --subject sub-x --results "$T/res3s" --export "$T/x.tsv"
check "no display (DISPLAY unset, not --export): one line, exit 1, no review file created (Qt aborted with five lines)" bash -c "
  env -u DISPLAY -u WAYLAND_DISPLAY QT_QPA_PLATFORM=xcb '$VIEWER' ${S[*]} --review '$T/nodisplay.tsv' 2>'$T/nd.err' >/dev/null;
  test \$? -eq 1 && test \"\$(wc -l <'$T/nd.err')\" -eq 1 &&
  grep -q 'qsmrim-review: error: cannot open the window: could not connect to display (DISPLAY is not set)' '$T/nd.err' &&
  test ! -e '$T/nodisplay.tsv'"
check "a platform plugin that does not load: Qt's own lines kept, then one line of ours, exit 1 (not 'no display')" bash -c "
  env QT_QPA_PLATFORM=nosuch '$VIEWER' ${S[*]} --review '$T/nodisplay.tsv' 2>'$T/np.err' >/dev/null;
  test \$? -eq 1 && grep -q 'Could not find the Qt platform plugin \"nosuch\"' '$T/np.err' &&
  test \"\$(tail -1 '$T/np.err')\" = 'qsmrim-review: error: cannot open the window (see above)' &&
  ! grep -q DISPLAY '$T/np.err' && test ! -e '$T/nodisplay.tsv'"
check "--results without --cohort: usage error" one_line_error 2 "give its --cohort too" \
  env -u DISPLAY "$VIEWER" "${S[@]}" --results "$T/res" --export "$T/x.tsv"
check "--results with --table: usage error" one_line_error 2 "drop --table" \
  env -u DISPLAY "$VIEWER" --cohort "$T/cohort.tsv" --results "$T/res" --table "$FIX/table.tsv" --export "$T/x.tsv"
check "--results of a run that did not classify the subject: one line naming subjects.tsv" one_line_error 1 \
  "res2/sub-x holds no finished prediction of subject 'sub-x' (.qsmrim-predict is missing or damaged: was it classified? see .*res2/subjects.tsv)" \
  env -u DISPLAY "$VIEWER" --cohort "$T/cohort.tsv" --subject sub-x --results "$T/res2" --export "$T/x.tsv"
# the viewer opens what the subject's record lists, as it was written
"${QSMRIM:?}" predict --manifest "$T/cohort.tsv" --out-dir "$T/res3" --format nrrd --quiet >/dev/null
check "--results opens the outputs the record lists (not another format's file beside them)" bash -c "
  echo junk >'$T/res3/sub-x/overlay.nii.gz' &&
  env -u DISPLAY '$VIEWER' --cohort '$T/cohort.tsv' --subject sub-x --results '$T/res3' --export '$T/r3.tsv'"
check "--results with an output changed since its run: one line" one_line_error 1 "overlay.nrrd has changed since qsmrim predict wrote it" \
  bash -c "printf x >>'$T/res3/sub-x/overlay.nrrd' && env -u DISPLAY '$VIEWER' --cohort '$T/cohort.tsv' --subject sub-x --results '$T/res3' --export '$T/r3.tsv'"

# how predict read the lesion map decides the lesion ids: the fixture's mask stored with the value 7
# is five lesions read as a mask (auto) and one lesion, id 7, read as labels
"$PY" -c "
import nibabel as nib, numpy as np
m = nib.load('$FIX/lesions.nii.gz')
nib.save(nib.Nifti1Image((np.asarray(m.dataobj) > 0).astype(np.int16) * 7, m.affine, m.header), '$T/fix/lesions7.nii.gz')"
printf 'subject\tqsm\tflair\tlesions\nsub-7\tfix/qsm.nii.gz\tfix/flair.nii.gz\tfix/lesions7.nii.gz\n' >"$T/seven.tsv"
"${QSMRIM:?}" predict --manifest "$T/seven.tsv" --out-dir "$T/res7" --lesion-input labels --quiet >/dev/null
check "--results of a run with --lesion-input labels reads the lesion map as that run did (lesion 7)" bash -c "
  env -u DISPLAY '$VIEWER' --cohort '$T/seven.tsv' --results '$T/res7' --export '$T/r7.tsv' &&
  test \"\$(tail -n +2 '$T/r7.tsv' | cut -f1,2)\" = \"sub-7\$(printf '\\t')7\""
S7=(--qsm "$FIX/qsm.nii.gz" --flair "$FIX/flair.nii.gz" --lesions "$T/fix/lesions7.nii.gz" --table "$T/res7/sub-7/lesions.tsv")
check "its table with the lesion map read as a mask (auto): refused, one line" one_line_error 1 "lesion 7 is not a lesion of the lesion map" \
  env -u DISPLAY "$VIEWER" "${S7[@]}" --export "$T/x.tsv"
check "... and with --lesion-input labels: opened, lesion 7" bash -c "
  env -u DISPLAY '$VIEWER' ${S7[*]} --lesion-input labels --export '$T/s7.tsv' &&
  test \"\$(tail -n +2 '$T/s7.tsv' | cut -f1)\" = 7"
# another cohort opened from a --results subject (File > Open cohort subject) reads its lesion maps as
# the command line says (auto here), not as the previous subject's run record said (labels)
printf 'open-cohort %s sub-x\nstate %s\nquit\n' "$T/cohort.tsv" "$T/oc.json" >"$T/oc.txt"
open_cohort_ok() {
  "$VIEWER" --cohort "$T/seven.tsv" --results "$T/res7" --script "$T/oc.txt" 2>/dev/null &&
    test "$(field "$T/oc.json" 's["subject"], s["lesions"], s["has_prediction"]')" = 'sub-x 5 False'
}
check "open-cohort after a --lesion-input labels results subject: the new cohort's mask is split as the command line says" open_cohort_ok
# the command line's own subject, given with its outputs and --lesion-input labels, keeps that reading
# when ] and [ bring it back (sub-x between them is read by the command line's settings too)
printf 'subject\tqsm\tflair\tlesions\nsub-7\tfix/qsm.nii.gz\tfix/flair.nii.gz\tfix/lesions7.nii.gz\nsub-x\tfix/qsm.nii.gz\tfix/flair.nii.gz\tfix/lesions.nii.gz\n' >"$T/seven2.tsv"
printf 'key ]\nstate %s\nkey [\nstate %s\nquit\n' "$T/back1.json" "$T/back2.json" >"$T/back.txt"
reopened_given_ok() {
  "$VIEWER" --cohort "$T/seven2.tsv" --subject sub-7 --table "$T/res7/sub-7/lesions.tsv" \
    --overlay "$T/res7/sub-7/overlay.nii.gz" --probability "$T/res7/sub-7/probability.nii.gz" \
    --lesion-input labels --review "$T/back-review.tsv" --script "$T/back.txt" 2>/dev/null &&
    test "$(field "$T/back1.json" 's["subject"], s["lesions"], s["has_prediction"]')" = 'sub-x 1 False' &&
    test "$(field "$T/back2.json" 's["subject"], s["lesions"], s["has_prediction"]')" = 'sub-7 1 True'
}
check "the command line's subject with its outputs and --lesion-input labels, left by ] and reopened by [: lesion 7, predicted" reopened_given_ok
check "--lesion-input misspelt: usage error" one_line_error 2 "--lesion-input" \
  env -u DISPLAY "$VIEWER" "${S7[@]}" --lesion-input label --export "$T/x.tsv"
check "--results with --connectivity: usage error (the run's record says)" one_line_error 2 "drop --connectivity" \
  env -u DISPLAY "$VIEWER" --cohort "$T/seven.tsv" --results "$T/res7" --connectivity 6 --export "$T/x.tsv"

# headless export: no prediction -> NA columns; orphan review rows are kept in the review file
printf 'lesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote\n77\trim+\tz\t2026-01-02T03:04:05Z\tNA\tnone\told map\n' >"$T/orphan.tsv"
check "export without prediction writes NA probabilities and warns about rows of unknown lesions" bash -c "
  env -u DISPLAY '$VIEWER' ${S[*]} --review '$T/orphan.tsv' --export '$T/np.tsv' 2>'$T/np.err' &&
  grep -q 'rows name lesions that are not in this lesion map' '$T/np.err' &&
  test \$(tail -n +2 '$T/np.tsv' | wc -l) -eq 5 &&
  ! tail -n +2 '$T/np.tsv' | awk -F'\t' '\$6 != \"NA\" || \$8 != \"none\" {bad=1} END {exit !bad}'"
id1=$(sed -n 2p "$FIX/table.tsv" | cut -f1)
printf 'lesion_id\tdecision\treviewer\ttime\tmodel_probability\tmodel_decision\tnote\n%s\trim+\tz\t2026-01-02T03:04:05Z\t0.123456\trim-\t\n' "$id1" >"$T/stale.tsv"
check "export warns about a decision recorded on another prediction than the table's, naming the lesion and both values" bash -c "
  env -u DISPLAY '$VIEWER' ${S[*]} ${P[*]} --review '$T/stale.tsv' --export '$T/st.tsv' 2>'$T/st.err' &&
  grep -q 'warning: .*stale.tsv: 1 decisions were made on another prediction than this table.s (lesion $id1: P(rim+) 0.123456 then, 0\.[0-9]* now)' '$T/st.err' &&
  env -u DISPLAY '$VIEWER' ${S[*]} ${P[*]} --review '$T/orphan.tsv' --export '$T/st2.tsv' 2>'$T/st2.err' &&
  ! grep -q 'another prediction' '$T/st2.err'"
check "a viewer session keeps the orphan row when it writes" bash -c "
  '$VIEWER' ${S[*]} --review '$T/orphan.tsv' --script '$T/one.txt' 2>/dev/null &&
  grep -qP '^77\trim\+\tz\t2026-01-02T03:04:05Z\tNA\tnone\told map$' '$T/orphan.tsv' &&
  test \$(tail -n +2 '$T/orphan.tsv' | wc -l) -eq 2"
check "export to a missing folder: one line, exit 1" one_line_error 1 "$T/missing/e.tsv" \
  env -u DISPLAY "$VIEWER" "${S[@]}" --export "$T/missing/e.tsv"
nl="$T/miss
ing/e.tsv"
check "a line break in a file name: the error stays one line (written as \\n)" one_line_error 1 'miss\\ning/e.tsv' \
  env -u DISPLAY "$VIEWER" "${S[@]}" --export "$nl"
check "a line break in an option's value: the usage error stays one line" one_line_error 2 "unknown option '--a\\\\nb'" \
  env -u DISPLAY "$VIEWER" "--a
b"
# an export never replaces the subject's files or the review file
cp -r "$FIX" "$T/fixcopy"
check "export onto the lesion map: one line, exit 1" one_line_error 1 "is also the lesion map" \
  env -u DISPLAY "$VIEWER" "${S[@]}" --export "$FIX/lesions.nii.gz"
check "export onto the review file: one line, exit 1" one_line_error 1 "is also the review file" \
  env -u DISPLAY "$VIEWER" "${S[@]}" --review "$T/orphan.tsv" --export "$T/orphan.tsv"
check "export onto the prediction table (another spelling): one line, exit 1" one_line_error 1 "is also the prediction table" \
  env -u DISPLAY "$VIEWER" "${S[@]}" "${P[@]}" --export "$FIX/../fix/table.tsv"
check "... and the subject's files are unchanged" diff -r "$FIX" "$T/fixcopy"
# a prediction table given as the review file: refused, not rewritten as decisions
cp "$FIX/table.tsv" "$T/table_before.tsv"
check "a prediction table as --review: one line, exit 1" one_line_error 1 "a prediction table (qsmrim predict --out-table), not a review file" \
  run_viewer "${S[@]}" --review "$FIX/table.tsv" --script "$T/quit.txt"
check "... and the table is left as it was" cmp -s "$FIX/table.tsv" "$T/table_before.tsv"

finish
