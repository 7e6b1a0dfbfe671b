#!/usr/bin/env bash
# QSMRimLesions driven exactly as 3D Slicer drives a CLI module (shared conventions: argv of
# separate flag/value entries in XML order, optional parameters left out, inputs written as
# uncompressed NRRD to a temporary folder, outputs read back through ITK, return parameters from
# --returnparameterfile, progress tags on stdout, Cancel = SIGSTOP then SIGKILL).
#   $1 = the slicer_io helper (Testing/predict/slicer_io.c)
set -euo pipefail
IO=$1
CLI="$QSMRIM_BIN/QSMRimLesions"
PY=${QSMRIM_PYTHON:-/usr/bin/python3}
W=$(mktemp -d "${TMPDIR:-/tmp}/qsmrim_slicer.XXXXXX")
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$W"' EXIT
pid=
fail() { echo "FAIL: $*" >&2; exit 1; }

# A phantom subject the demo model has not seen (its training cohort used seed 1).
"$QSMRIM" phantom --out "$W/ph" --subjects 1 --seed 3 --quiet
S="$W/ph/sub-001"
T="$W/slicer-tmp"  # Slicer's temporary folder: inputs as <id>_<name>.nrrd
mkdir -p "$T"
"$IO" export "$S/sub-001_qsm.nii.gz" "$T/ABCDE_inputQSM.nrrd"
"$IO" export "$S/sub-001_flair.nii.gz" "$T/ABCDE_inputFLAIR.nrrd"
"$IO" export "$S/sub-001_lesions.nii.gz" "$T/ABCDE_inputLesions.nrrd" --label
for f in "$T"/*.nrrd; do
  head -c 2000 "$f" | grep -aq '^encoding: raw' || fail "$f is not an uncompressed NRRD"
done

slicer_args() { # outdir extra-args... : ARGS = the command line Slicer builds (XML order; empty model left out)
  local o=$1; shift
  ARGS=(--returnparameterfile "$o/rp.params"
    --qsm "$T/ABCDE_inputQSM.nrrd" --flair "$T/ABCDE_inputFLAIR.nrrd" --lesions "$T/ABCDE_inputLesions.nrrd"
    --overlay "$o/ABCDE_outputOverlay.nrrd" --probability "$o/ABCDE_outputProbability.nrrd"
    --table "$o/ABCDE_outputTable.tsv" "$@")
}
slicer_run() { slicer_args "$@"; "$CLI" "${ARGS[@]}"; }
# a run in the background is started as "$CLI" "${ARGS[@]}" &, not through the function: $! must be
# the module's own process (a function runs in a subshell, and a signal would stop only that)

echo "== 1. a complete run as Slicer starts it"
O="$W/out1"; mkdir -p "$O"
slicer_run "$O" --device auto --threshold f1 >"$W/stdout1" 2>"$W/stderr1" || { cat "$W/stderr1"; fail "exit code $?"; }
"$PY" - "$W/stdout1" <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "nothing on stdout"
assert lines[0].startswith("<filter-start><filter-name>QSMRimLesions</filter-name>"), lines[0]
assert re.fullmatch(r"<filter-end><filter-name>QSMRimLesions</filter-name><filter-time>[0-9.]+</filter-time></filter-end>", lines[-1]), lines[-1]
prog = []
for l in lines[1:-1]:
    m = re.fullmatch(r"<filter-progress>([0-9.]+)</filter-progress>", l)
    if m:
        prog.append(float(m.group(1)))
    else:
        assert re.fullmatch(r'<filter-comment> ".+" </filter-comment>', l), "not a progress tag: " + l
assert len(prog) >= 4, prog
assert all(0 <= p <= 1 for p in prog) and prog == sorted(prog), prog
assert prog[-1] == 1.0, prog
# the bar reaches 1 only once the outputs are written: "Done" is the last stage
stages = [l for l in lines if l.startswith("<filter-comment>")]
assert stages[-2:] == ['<filter-comment> "Writing outputs" </filter-comment>', '<filter-comment> "Done" </filter-comment>'], stages
assert prog.count(1.0) == 1 and lines[-2] == "<filter-progress>1.0000</filter-progress>", lines[-3:]
print("stdout: %d progress tags, 0..1, non-decreasing" % len(prog))
EOF
grep -q '^numberOfRimPositive = [0-9][0-9]*$' "$O/rp.params" || fail "return parameter file: $(cat "$O/rp.params")"
npos=$(awk -F'\t' 'NR > 1 && $8 == "rim+"' "$O/ABCDE_outputTable.tsv" | wc -l)
grep -qx "numberOfRimPositive = $npos" "$O/rp.params" || fail "numberOfRimPositive $(cat "$O/rp.params") != $npos rim+ rows"
[ "$(head -1 "$O/ABCDE_outputTable.tsv")" = "$(printf 'lesion_id\tvolume_mm3\tcenter_r\tcenter_a\tcenter_s\tprobability\tuncertainty\tdecision')" ] ||
  fail "table header"
nles=$(( $(wc -l <"$O/ABCDE_outputTable.tsv") - 1 ))
nann=$(( $(wc -l <"$S/sub-001_annotations.tsv") - 1 ))
[ "$nles" -eq "$nann" ] || fail "$nles lesions in the table, the phantom has $nann"

echo "== 2. outputs read back: overlay codes and probabilities per lesion match the table"
"$IO" dump "$T/ABCDE_inputLesions.nrrd" >"$W/lesions.txt"
"$IO" dump "$O/ABCDE_outputOverlay.nrrd" >"$W/overlay.txt"
"$IO" dump "$O/ABCDE_outputProbability.nrrd" >"$W/prob.txt"
"$PY" - "$W" "$O/ABCDE_outputTable.tsv" <<'EOF'
import sys
w, table = sys.argv[1], sys.argv[2]
def dump(name):
    return {tuple(map(int, l.split()[:3])): float(l.split()[3]) for l in open(w + "/" + name)}
lab, ov, pr = dump("lesions.txt"), dump("overlay.txt"), dump("prob.txt")
rows = [l.rstrip("\n").split("\t") for l in open(table)][1:]
code = {"rim-": 1, "review": 2, "rim+": 3}
res = {int(r[0]): (float(r[5]), code[r[7]]) for r in rows}
probs = [float(r[5]) for r in rows]
assert probs == sorted(probs, reverse=True), "table not sorted by probability"
assert set(ov) == set(lab) and set(pr) <= set(lab), "outputs are non-zero outside the lesions"
for v, l in lab.items():
    p, c = res[int(l)]
    assert ov[v] == c, (v, l, ov[v], c)
    assert abs(pr.get(v, 0.0) - p) <= 5.1e-7, (v, l, pr.get(v), p)  # the table has 6 decimals
print("%d lesion voxels: overlay code and probability of their lesion" % len(lab))
EOF

echo "== 3. the same subject through qsmrim predict on the original NIfTI files: the same table"
"$QSMRIM" predict --qsm "$S/sub-001_qsm.nii.gz" --flair "$S/sub-001_flair.nii.gz" --lesions "$S/sub-001_lesions.nii.gz" \
  --out-table "$W/predict.tsv" --quiet >/dev/null
cmp "$W/predict.tsv" "$O/ABCDE_outputTable.tsv" || fail "QSMRimLesions on NRRD and qsmrim predict on NIfTI disagree"
# test-time flips (the boolean Slicer passes as a bare --flips): the same table as predict --flips,
# with a measured uncertainty
O2="$W/out-flips"; mkdir -p "$O2"
slicer_run "$O2" --flips >/dev/null 2>"$W/stderr-x" || fail "--flips: $(cat "$W/stderr-x")"
"$QSMRIM" predict --qsm "$S/sub-001_qsm.nii.gz" --flair "$S/sub-001_flair.nii.gz" --lesions "$S/sub-001_lesions.nii.gz" \
  --out-table "$W/predict-flips.tsv" --flips --quiet >/dev/null
cmp "$W/predict-flips.tsv" "$O2/ABCDE_outputTable.tsv" || fail "QSMRimLesions --flips and qsmrim predict --flips disagree"
awk -F'\t' 'NR > 1 && $7 > 0 {n++} END {exit !(n > 0)}' "$O2/ABCDE_outputTable.tsv" || fail "--flips: no uncertainty measured"
cmp -s "$W/predict.tsv" "$W/predict-flips.tsv" && fail "--flips changed nothing"

echo "== 4. errors: a wrong model file, a missing input, a bad precision (exit code, one line, no output)"
O="$W/out-err"; mkdir -p "$O"
set +e
slicer_run "$O" --model "$S/sub-001_annotations.tsv" >"$W/stdout-e" 2>"$W/stderr-e"; rc=$?
set -e
[ "$rc" -eq 1 ] || fail "wrong model file: exit code $rc"
grep -q "^QSMRimLesions: error: .*sub-001_annotations.tsv" "$W/stderr-e" || fail "wrong model: $(cat "$W/stderr-e")"
[ -z "$(ls -A "$O")" ] || fail "a failed run left files: $(ls "$O")"
set +e
"$CLI" --qsm "$T/missing.nrrd" --flair "$T/ABCDE_inputFLAIR.nrrd" --lesions "$T/ABCDE_inputLesions.nrrd" \
  --table "$O/t.tsv" >/dev/null 2>"$W/stderr-m"; rc=$?
set -e
[ "$rc" -eq 1 ] && grep -q "missing.nrrd" "$W/stderr-m" || fail "missing input: rc $rc, $(cat "$W/stderr-m")"
[ -z "$(ls -A "$O")" ] || fail "a failed run left files: $(ls "$O")"
# an input left on "None" in Slicer: the flag is absent; the one error line names it
rc=0
"$CLI" --qsm "$T/ABCDE_inputQSM.nrrd" --lesions "$T/ABCDE_inputLesions.nrrd" --table "$O/t.tsv" >/dev/null 2>"$W/stderr-n" || rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <"$W/stderr-n")" -eq 1 ] && grep -q "^QSMRimLesions: error: no FLAIR input given" "$W/stderr-n" ||
  fail "input not given: rc $rc, $(cat "$W/stderr-n")"
set +e
slicer_run "$O" --precision bf16 >/dev/null 2>"$W/stderr-p"; rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q "unknown precision 'bf16' (fp32 or tf32)" "$W/stderr-p" || fail "bad precision: rc $rc, $(cat "$W/stderr-p")"
# a value with a line break in it is quoted escaped: still one error line
set +e
slicer_run "$O" --precision $'tf\n32' >/dev/null 2>"$W/stderr-p2"; rc=$?
set -e
[ "$rc" -eq 2 ] && [ "$(wc -l <"$W/stderr-p2")" -eq 1 ] && grep -q "unknown precision 'tf\\\\n32'" "$W/stderr-p2" ||
  fail "precision with a line break: rc $rc, $(cat "$W/stderr-p2")"
[ -z "$(ls -A "$O")" ] || fail "a failed run left files: $(ls "$O")"
set +e
slicer_run "$O" --device gpu >/dev/null 2>"$W/stderr-d"; rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q -- "--device: unknown device 'gpu'" "$W/stderr-d" || fail "bad device: rc $rc, $(cat "$W/stderr-d")"
[ -z "$(ls -A "$O")" ] || fail "a failed run left files: $(ls "$O")"
# outputs checked before the work: an output in a missing folder, an output that is an input
rc=0
"$CLI" --qsm "$T/ABCDE_inputQSM.nrrd" --flair "$T/ABCDE_inputFLAIR.nrrd" --lesions "$T/ABCDE_inputLesions.nrrd" \
  --table "$W/no/such/folder/t.tsv" >"$W/stdout-o" 2>"$W/stderr-o" || rc=$?
[ "$rc" -eq 1 ] && grep -q "^QSMRimLesions: error: .*t.tsv: its folder .* does not exist" "$W/stderr-o" ||
  fail "output in a missing folder: rc $rc, $(cat "$W/stderr-o")"
! grep -q "filter-start" "$W/stdout-o" || fail "the output check came after the work started"
cp "$T/ABCDE_inputFLAIR.nrrd" "$W/flair_before.nrrd"
rc=0
"$CLI" --qsm "$T/ABCDE_inputQSM.nrrd" --flair "$T/ABCDE_inputFLAIR.nrrd" --lesions "$T/ABCDE_inputLesions.nrrd" \
  --probability "$T/ABCDE_inputFLAIR.nrrd" >/dev/null 2>"$W/stderr-o" || rc=$?
[ "$rc" -eq 1 ] && grep -q "ABCDE_inputFLAIR.nrrd: is also the FLAIR input" "$W/stderr-o" ||
  fail "output over an input: rc $rc, $(cat "$W/stderr-o")"
cmp -s "$T/ABCDE_inputFLAIR.nrrd" "$W/flair_before.nrrd" || fail "the refused run changed the FLAIR input"
# past a file-size limit (ulimit -f): one error line naming the output, exit 1, nothing written
O="$W/out-fsz"; mkdir -p "$O"
rc=0; (ulimit -f 100; exec "$CLI" --qsm "$T/ABCDE_inputQSM.nrrd" --flair "$T/ABCDE_inputFLAIR.nrrd" \
  --lesions "$T/ABCDE_inputLesions.nrrd" --probability "$O/p.nrrd" >/dev/null) 2>"$W/stderr-f" || rc=$?
[ "$rc" -eq 1 ] && [ "$(grep -c error: "$W/stderr-f")" -eq 1 ] && grep -q "^QSMRimLesions: error: .*p.nrrd" "$W/stderr-f" ||
  fail "file-size limit: rc $rc, $(cat "$W/stderr-f")"
[ -z "$(ls -A "$O")" ] || fail "a run past the file-size limit left files: $(ls -A "$O")"

echo "== 5. Cancel (SIGSTOP then SIGKILL) mid-run leaves no partial output and keeps old outputs"
# The reference backend (--device ref, the engine's slow specification) makes the run long enough
# to stop it while it classifies. Outputs of an earlier run sit at the same paths.
O="$W/out-kill"; mkdir -p "$O"
cp "$W/out1/ABCDE_outputTable.tsv" "$O/"; cp "$W/out1/ABCDE_outputOverlay.nrrd" "$O/"; cp "$W/out1/rp.params" "$O/"
before=$(cd "$O" && md5sum * | sort)
slicer_args "$O" --device ref
"$CLI" "${ARGS[@]}" >"$W/stdout-k" 2>"$W/stderr-k" &
pid=$!
# The stage's own comment line (the filter-start line names the module's title, which is the same text).
stage='<filter-comment> "Classifying lesions" </filter-comment>'
for _ in $(seq 1 3000); do
  grep -qxF "$stage" "$W/stdout-k" 2>/dev/null && break
  sleep 0.05
done
grep -qxF "$stage" "$W/stdout-k" || fail "the run never reached classification"
sleep 0.3
kill -STOP $pid; kill -KILL $pid
wait $pid 2>/dev/null || true
pid=
grep -q "filter-end" "$W/stdout-k" && fail "the run finished before it was killed (cannot test the kill)"
after=$(cd "$O" && md5sum * | sort)
[ "$before" = "$after" ] || fail "outputs changed or partial files appeared after SIGKILL: $(ls -la "$O")"
[ -z "$(ls -A "$O" | grep -v -e '^ABCDE_outputTable.tsv$' -e '^ABCDE_outputOverlay.nrrd$' -e '^rp.params$')" ] ||
  fail "stray files after SIGKILL: $(ls "$O")"
echo "killed at: $(grep -o '[0-9.]*</filter-progress>' "$W/stdout-k" | tail -1 | cut -d'<' -f1) of the run; outputs unchanged"

# What a run killed while writing leaves (hidden temporary files, a staging folder) is removed by
# the next run in that folder - those of processes that no longer run only.
# (temporary names carry a token of the boot and PID namespace: Logic/core/fileutil.c)
true & dead=$!; wait $dead
t=$("$PY" "$(dirname "$0")/../leftover_token.py")
mkdir -p "$O/.qsmrim-staging-$t-$dead-0" "$O/.qsmrim-staging-$t-$$-0"
echo partial >"$O/.qsmrim-staging-$t-$dead-0/ABCDE_outputProbability.nrrd"
echo partial >"$O/.ABCDE_outputTable.tsv.qsmrim-tmp-$t-$dead-2"; echo partial >"$O/.rp.params.qsmrim-tmp-$t-$dead-3"
echo live >"$O/.ABCDE_outputTable.tsv.qsmrim-tmp-$t-$$-2"
slicer_run "$O" >/dev/null 2>"$W/stderr-l" || fail "run after a killed one: $(cat "$W/stderr-l")"
[ ! -e "$O/.qsmrim-staging-$t-$dead-0" ] && [ ! -e "$O/.ABCDE_outputTable.tsv.qsmrim-tmp-$t-$dead-2" ] &&
  [ ! -e "$O/.rp.params.qsmrim-tmp-$t-$dead-3" ] || fail "a dead run's leftovers stayed: $(ls -A "$O")"
[ -d "$O/.qsmrim-staging-$t-$$-0" ] && [ "$(cat "$O/.ABCDE_outputTable.tsv.qsmrim-tmp-$t-$$-2")" = live ] ||
  fail "a live process's files were removed: $(ls -A "$O")"
rm -rf "$O/.qsmrim-staging-$t-$$-0" "$O/.ABCDE_outputTable.tsv.qsmrim-tmp-$t-$$-2"

echo "== 6. SIGTERM (a run stopped by hand) stops between steps: exit 130, one error line, no output changed"
before=$(cd "$O" && md5sum * | sort)
slicer_args "$O" --device ref
"$CLI" "${ARGS[@]}" >"$W/stdout-t" 2>"$W/stderr-t" &
pid=$!
for _ in $(seq 1 3000); do
  grep -qxF "$stage" "$W/stdout-t" 2>/dev/null && break
  sleep 0.05
done
sleep 0.3
kill -TERM $pid; sleep 0.02; kill -TERM $pid # one stop as `timeout` delivers it: to the process, then its group
rc=0; wait $pid || rc=$?
pid=
[ "$rc" -eq 130 ] && [ "$(grep -c error: "$W/stderr-t")" -eq 1 ] && grep -q "^QSMRimLesions: error: stopped; no output was changed" "$W/stderr-t" ||
  fail "SIGTERM: rc $rc, $(cat "$W/stderr-t")"
after=$(cd "$O" && md5sum * | sort)
[ "$before" = "$after" ] && [ "$(ls -A "$O" | wc -l)" -eq 4 ] || fail "SIGTERM: outputs changed or stray files: $(ls -A "$O")"

echo "all Slicer CLI checks passed ($nles lesions, $npos rim+)"
