#!/bin/bash
# gpu_kit.sh - the GPU kit (make_gpu_kit.py, kit_ctest.sh; label cuda, runs with or without a GPU):
# a kit made from this build, packed and unpacked elsewhere (it must not depend on where it lies),
#   - holds the GPU and CUDA tests with no path of this machine left in its test list,
#   - resolves every library of every executable inside the kit, except the driver, cuDNN and
#     cuBLAS, which come from the target (checked with the kit's own loader, as the wrappers run it),
#   - runs device selection, the command line's device handling and the emulated layer tests
#     through its wrappers and runner, and the GPU tests pass (with a GPU) or skip (without).
# Skipped (77) in a build without the CUDA backend (lib/libqsmrim_cuda.a).
set -u
bin=${QSMRIM_BIN:?QSMRIM_BIN not set}
src=${QSMRIM_SOURCE_DIR:?QSMRIM_SOURCE_DIR not set}
build=$(cd "$bin/.." && pwd)
py=${QSMRIM_PYTHON:-/usr/bin/python3}
[ -f "$build/lib/libqsmrim_cuda.a" ] || { echo "no CUDA backend in this build (skipped)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

states=--no-states
"$py" -c "import torch, h5py" 2> /dev/null && states=""
"$py" "$src/Testing/cuda/make_gpu_kit.py" --build "$build" --out "$tmp/made/kit" --tar "$tmp/kit.tar.gz" \
    --python "$py" $states > "$tmp/make.log" 2>&1 || fail "make_gpu_kit: $(tail -1 "$tmp/make.log")"
cat "$tmp/make.log"
# errors: not a build tree, a kit inside the build tree
"$py" "$src/Testing/cuda/make_gpu_kit.py" --build "$tmp" --out "$tmp/x" > "$tmp/err" 2>&1 &&
    fail "a folder without CMakeCache.txt accepted"
grep -q "not a configured build tree" "$tmp/err" || fail "unclear error for a non-build folder: $(cat "$tmp/err")"
mkdir -p "$tmp/cpu-build/lib" && cp "$build/CMakeCache.txt" "$tmp/cpu-build/"
"$py" "$src/Testing/cuda/make_gpu_kit.py" --build "$tmp/cpu-build" --out "$tmp/x" > "$tmp/err" 2>&1 &&
    fail "a build without the CUDA backend accepted"
grep -q "without the CUDA backend" "$tmp/err" || fail "unclear error for a CPU-only build: $(cat "$tmp/err")"
"$py" "$src/Testing/cuda/make_gpu_kit.py" --build "$build" --out "$build/kit-inside" > "$tmp/err" 2>&1 &&
    fail "a kit inside the build tree accepted"
[ -e "$build/kit-inside" ] && fail "the refused kit was written"

# unpacked in another place, beside the source tree's data (found through QSMRIM_SOURCE_DIR)
mkdir "$tmp/there"
tar -xzf "$tmp/kit.tar.gz" -C "$tmp/there" || fail "the packed kit does not unpack"
rm -rf "$tmp/made"
kit=$tmp/there/kit
for f in KIT.txt tests.list kit-env.sh bin/qsmrim tests/test_cuda_device tests/test_cuda_layers tests/test_nn_parity; do
    [ -e "$kit/$f" ] || fail "kit lacks $f"
done
cat "$kit/KIT.txt"
grep -q "^test test_cuda_layers$" "$kit/tests.list" || fail "test list lacks test_cuda_layers"
grep -q "^test test_train_learner$" "$kit/tests.list" || fail "test list lacks the learner tests"
grep -q "^test gpu_kit$" "$kit/tests.list" && fail "the kit lists its own test"
grep -n -e "$build" -e "$src" "$kit/tests.list" && fail "paths of this machine left in tests.list"
if [ -z "$states" ]; then
    grep -q "^arg @KIT@/parity/rimnet_w4.h5$" "$kit/tests.list" || fail "rimnet parity state not packed"
    [ -s "$kit/parity/rimnet_w4.h5" ] || fail "rimnet parity state missing"
    sed -n '/^test cuda_parity_full$/,/^end$/p' "$kit/tests.list" | grep -q "^arg --width$" ||
        fail "the full-width state must be written on the target (its arguments kept)"
fi

# every library resolved inside the kit, or in the target's cuDNN/cuBLAS/driver folders
cudalibs=$(QSMRIM_KIT=$kit bash -c '. "$1/kit-env.sh"; echo "$QSMRIM_KIT_CUDA_LIBS"' _ "$kit")
loader=$(ls "$kit"/lib/ld-linux* | head -1)
for exe in $(cd "$kit/real" && find . -type f | sed 's|^\./||'); do
    "$loader" --library-path "$kit/lib${cudalibs:+:$cudalibs}" --list "$kit/real/$exe" > "$tmp/libs" 2>&1 ||
        fail "$exe does not load: $(grep -m1 'not found' "$tmp/libs")"
    grep -q "not found" "$tmp/libs" && fail "$exe: $(grep 'not found' "$tmp/libs")"
    while read -r name arrow path rest; do
        [ "$arrow" = "=>" ] || continue
        case $path in
        "$kit"/lib/*) ;;
        *) case $name in
            libcudnn* | libcublas* | libcuda.so*) ;;
            *) fail "$exe: $name resolved outside the kit ($path)" ;;
            esac ;;
        esac
    done < "$tmp/libs"
done
echo "libraries: every executable resolves inside the kit (cuDNN/cuBLAS/driver from: ${cudalibs:-nowhere here})"

# through the wrappers and the runner
"$kit/bin/qsmrim" --version > "$tmp/version" 2>&1 || fail "kit qsmrim --version: $(cat "$tmp/version")"
grep -q "^qsmrim " "$tmp/version" || fail "kit qsmrim --version: $(cat "$tmp/version")"
bash "$src/Testing/cuda/kit_ctest.sh" "$kit" -R "^(test_cuda_device|cuda_cli|test_cuda_emu_layers)$" > "$tmp/run.log" 2>&1
rc=$?
cat "$tmp/run.log"
[ $rc -eq 0 ] || fail "kit tests failed"
grep -q "^100% tests passed, 0 tests failed out of 3$" "$tmp/run.log" || fail "kit runner: not 3 tests passed"
bash "$src/Testing/cuda/kit_ctest.sh" "$kit" -L gpu -V > "$tmp/gpu.log" 2>&1
rc=$?
grep -E "Test +#" "$tmp/gpu.log"
if "$kit/tests/test_cuda_device" --probe > /dev/null 2>&1; then
    [ $rc -eq 0 ] || { cat "$tmp/gpu.log"; fail "GPU tests failed in the kit"; }
else
    [ $rc -eq 0 ] || fail "GPU tests must skip without a GPU"
    [ "$(grep -c 'Skipped' "$tmp/gpu.log")" -ge 9 ] || fail "GPU tests did not skip"
    grep -q "Passed" "$tmp/gpu.log" && fail "a GPU test passed without a GPU"
fi
# the runner's own errors
bash "$src/Testing/cuda/kit_ctest.sh" "$tmp" > "$tmp/err" 2>&1 && fail "kit_ctest.sh accepted a folder without tests.list"
bash "$src/Testing/cuda/kit_ctest.sh" "$kit" -X > "$tmp/err" 2>&1 && fail "kit_ctest.sh accepted -X"
grep -q "unknown option -X" "$tmp/err" || fail "kit_ctest.sh: unclear error for -X"
echo "gpu kit: ok"
