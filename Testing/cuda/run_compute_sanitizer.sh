#!/bin/bash
# run_compute_sanitizer.sh [BUILD_DIR] [OUT_DIR]
#
# The GPU tests under NVIDIA compute-sanitizer (needs a GPU):
#   memcheck  (out-of-bounds / misaligned accesses, leaks)   test_cuda_layers, test_cuda_device,
#                                                             test_cuda_train, test_cuda_patches
#   racecheck (shared-memory hazards)                         test_cuda_layers, test_cuda_patches
#   synccheck (barrier misuse)                                test_cuda_layers, test_cuda_patches
#   initcheck (reads of uninitialised device memory)          test_cuda_layers, test_cuda_patches
# Each run's log goes to OUT_DIR (default BUILD_DIR/compute-sanitizer) as <tool>-<test>.log and
# a line "tool test: clean|ERRORS|test failed (rc N)" to summary.txt. Exit 0 if everything is
# clean, 1 otherwise, 77 when there is no usable GPU or no compute-sanitizer.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
build=$(cd "$build" && pwd)
out=${2:-$build/compute-sanitizer}
mkdir -p "$out"
tests=$build/tests

cs=$(command -v compute-sanitizer || true)
for c in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
    [ -z "$cs" ] && [ -x "$c" ] && cs=$c
done
if [ -z "$cs" ]; then
    echo "compute-sanitizer not found (PATH, /usr/local/cuda/bin, /usr/local/cuda/compute-sanitizer)" | tee "$out/summary.txt"
    exit 77
fi
if ! "$tests/test_cuda_device" --probe > "$out/device.txt" 2>&1; then
    cat "$out/device.txt" | tee "$out/summary.txt"
    exit 77
fi
"$cs" --version > "$out/version.txt" 2>&1

status=0
: > "$out/summary.txt"
run() { # tool test [extra options...]
    local tool=$1 t=$2
    shift 2
    local log=$out/$tool-$t.log
    # all processes: in a kit the test is a wrapper script that starts the program
    "$cs" --tool "$tool" --target-processes all --error-exitcode 86 --print-limit 100 "$@" "$tests/$t" > "$log" 2>&1
    local rc=$?
    local verdict
    if [ $rc -eq 0 ]; then verdict=clean
    elif [ $rc -eq 86 ]; then verdict=ERRORS; status=1
    else verdict="test failed (rc $rc)"; status=1
    fi
    echo "$tool $t: $verdict ($(grep -m1 -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" || echo 'no summary line'))" |
        tee -a "$out/summary.txt"
}
run memcheck test_cuda_layers --leak-check full
run memcheck test_cuda_device --leak-check full
run memcheck test_cuda_train
run memcheck test_cuda_patches --leak-check full
run racecheck test_cuda_layers
run racecheck test_cuda_patches
run synccheck test_cuda_layers
run synccheck test_cuda_patches
run initcheck test_cuda_layers
run initcheck test_cuda_patches
exit $status
