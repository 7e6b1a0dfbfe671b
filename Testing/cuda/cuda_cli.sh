#!/bin/bash
# cuda_cli.sh - device selection through the command line (label cuda; runs with or without a GPU):
#   without a usable GPU: `--device cuda` fails (exit != 0) with one error line naming cuda:0, and
#   `--device auto` runs on the CPU and says so in exactly one line;
#   with one: `--device cuda` runs and reports the GPU, `--device auto` picks it silently.
set -u
q=${QSMRIM:?QSMRIM not set}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args="bench cnn --width 1 --batch 2 --iters 1 --warmup 0 --mode infer"
fail() { echo "FAIL: $*"; exit 1; }

"$q" $args --device cuda > "$tmp/cuda.out" 2> "$tmp/cuda.err"
rc=$?
"$q" $args --device auto > "$tmp/auto.out" 2> "$tmp/auto.err" || fail "--device auto failed: $(cat "$tmp/auto.err")"
echo "--device cuda: exit $rc, stderr: $(cat "$tmp/cuda.err")"
echo "--device auto: $(grep device= "$tmp/auto.out"), stderr: $(cat "$tmp/auto.err")"
if [ $rc -eq 0 ]; then
    grep -q "^device=cuda:0 (" "$tmp/cuda.out" || fail "--device cuda ran but does not report the GPU"
    grep -q "^device=cuda:0 (" "$tmp/auto.out" || fail "--device auto did not pick the GPU"
    [ ! -s "$tmp/auto.err" ] || fail "--device auto printed a notice although the GPU works"
else
    [ "$(wc -l < "$tmp/cuda.err")" -eq 1 ] || fail "--device cuda: expected one error line"
    grep -q "error: .*cuda:0" "$tmp/cuda.err" || fail "--device cuda: the error does not name cuda:0"
    grep -q "infer_ms_per_patch=" "$tmp/cuda.out" && fail "--device cuda printed results"
    [ "$(wc -l < "$tmp/auto.err")" -eq 1 ] || fail "--device auto: expected one notice line"
    grep -q "running on the CPU" "$tmp/auto.err" || fail "--device auto: the notice does not say it runs on the CPU"
    grep -q "^device=cpu" "$tmp/auto.out" || fail "--device auto did not fall back to the CPU backend"
fi
# a run that fails before it shows anything prints its one error line only: the CPU-fallback notice
# of auto is held back until the run shows another line or succeeds (forward reads its input after
# the device is chosen; the input here is a text file)
echo "not HDF5" > "$tmp/x.h5"
"$q" forward --model "${QSMRIM_SOURCE_DIR:?}/Resources/models/qsmrim_demo.h5" --input "$tmp/x.h5" --out "$tmp/y.h5" \
    --device auto > /dev/null 2> "$tmp/fw.err" && fail "forward on a text file succeeded"
[ "$(wc -l < "$tmp/fw.err")" -eq 1 ] && grep -q "error: .*x.h5" "$tmp/fw.err" ||
    fail "a failing --device auto run: expected one error line, got: $(cat "$tmp/fw.err")"
"$q" $args --device cuda:x > /dev/null 2> "$tmp/bad.err" && fail "--device cuda:x accepted"
grep -q "cuda:x" "$tmp/bad.err" || fail "--device cuda:x: the error does not name it"
echo "ok"
