#!/bin/bash
# run_gpu_check.sh [OUT_DIR] [STAGE...] - the whole GPU check of the CUDA backend in one command,
# on a machine with an NVIDIA GPU (H100/H200: the default build targets sm_90). Results, logs and
# summary.txt go to OUT_DIR (default build-gpu-check/YYYYmmdd-HHMMSS in the source tree).
#
# Stages (default: all, in this order; name some to run only those, e.g. to split the work over
# several calls - each stage appends to OUT_DIR/summary.txt):
#   env        machine, driver, toolkit, load (env.txt)
#   build      configure + build with CUDA into $QSMRIM_GPU_BUILD (default ./build-gpu; an
#              existing build is only brought up to date); CMAKE_CUDA_ARCHITECTURES from
#              $QSMRIM_CUDA_ARCH (default 90)
#   tests      ctest -L "gpu|cuda": layers against the reference, training against the CPU,
#              whole-network PyTorch parity (QSMRim-Net width 2 and 64, paper variant, RimNet,
#              APRL-NN), GPU patch sampling against the host sampler, device selection - FP32
#              (the default precision); and the learner tests (GPU- vs host-sampled training)
#   tf32       the layer and parity tests again with QSMRIM_PRECISION=tf32: the layers against
#              the reference in TF32 (its operands rounded the same way: they must pass), and how
#              far TF32 moves the network from PyTorch's FP32 (parity tolerances are FP32's, so
#              failures there are the measurement, not a defect); worst errors in tf32-parity.txt
#   sanitizer  compute-sanitizer memcheck/racecheck/synccheck/initcheck (run_compute_sanitizer.sh)
#   bench      qsmrim bench cnn --device cuda --batch 256 --width 64, FP32 and TF32, heuristic and
#              timed (find) cuDNN algorithms, 3 repeats each; a CPU run beside it (batch 64)
#   patches    qsmrim bench patches on a phantom subject: augmented training patches made by the
#              host sampler vs the GPU sampler (patch bank), QSMRim-Net and RimNet inputs, and a
#              width-64 QSMRim-Net training step fed each way (batch 256)
#   torch      PyTorch on the same GPU, same network and batch (bench_torch_gpu.py), FP32 and TF32,
#              if a Python with a CUDA-enabled torch is found ($QSMRIM_TORCH_PYTHON, python3,
#              /usr/bin/python3)
#   evaluate   the 5-fold x 3-seed evaluation of the default phantom cohort, timed (if the
#              phantom and evaluate commands exist in this build; a cohort already in
#              OUT_DIR/phantom is used again), in the precision of $QSMRIM_PRECISION (default fp32)
# Targets checked in summary.txt: inference >= 20,000 patches/s (width 64, batch 256),
# training >= 5,000 patch-steps/s, evaluation < 10 minutes.
#
# On a GPU machine without the project's build dependencies (no ITK, HDF5, cmake or compiler), run
# a kit made on a build machine by make_gpu_kit.py instead of building: QSMRIM_GPU_KIT=KIT_DIR (the
# build stage then only reports the kit; the tests run through kit_ctest.sh, not ctest).
#
# Exit status: 0 when every stage that ran passed, 1 otherwise, 77 when no usable GPU.
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$src/build-gpu-check/$(date +%Y%m%d-%H%M%S)}
[ $# -gt 0 ] && shift
stages=${*:-env build tests tf32 sanitizer bench patches torch evaluate}
mkdir -p "$out"
out=$(cd "$out" && pwd)
build=${QSMRIM_GPU_BUILD:-$src/build-gpu}
kit=${QSMRIM_GPU_KIT:-}
if [ -n "$kit" ]; then
    [ -f "$kit/tests.list" ] || { echo "run_gpu_check: QSMRIM_GPU_KIT=$kit is not a kit (no tests.list)" >&2; exit 1; }
    build=$(cd "$kit" && pwd)
fi
jobs=$(nproc 2> /dev/null || echo 4)
status=0
say() { echo "$*" | tee -a "$out/summary.txt"; }
fail() { say "FAIL: $*"; status=1; }
has() { case " $stages " in *" $1 "*) return 0 ;; esac; return 1; }
# the build's tests the way ctest runs them: ctest in a build tree, kit_ctest.sh in a kit
run_tests() {
    if [ -n "$kit" ]; then bash "$src/Testing/cuda/kit_ctest.sh" "$build" "$@"
    else (cd "$build" && ctest "$@")
    fi
}
# value of key=... in a file (last occurrence)
val() { grep -o "$1=[0-9.eE+-]*" "$2" 2> /dev/null | tail -1 | cut -d= -f2; }

say "== qsmrim GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), stages: $stages"
say "source $(cd "$src" && git describe --always --dirty 2> /dev/null || echo '?'), build $build"

if has env; then
    {
        echo "date: $(date -u)"
        uname -a
        echo "cpus: $jobs"
        uptime
        command -v nvidia-smi > /dev/null && nvidia-smi
        command -v nvcc > /dev/null && nvcc --version
        [ -x /usr/local/cuda/bin/nvcc ] && /usr/local/cuda/bin/nvcc --version
        grep -h "define CUDNN_M" /usr/local/cuda/include/cudnn_version.h 2> /dev/null
        cmake --version 2> /dev/null | head -1
    } > "$out/env.txt" 2>&1
    say "env: $(command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1 || echo 'no nvidia-smi')"
fi

if has build && [ -n "$kit" ]; then
    kc=$(sed -n 's/^commit: //p' "$build/KIT.txt")
    say "build: prebuilt kit $build ($kc, made $(sed -n 's/^made: //p' "$build/KIT.txt"))"
    sed -n 's/^build: /  /p; s/^target needs: /  needs: /p' "$build/KIT.txt" | tee -a "$out/summary.txt"
    sc=$(cd "$src" && git describe --always --dirty 2> /dev/null || echo '?')
    [ "$kc" = "$sc" ] || say "  note: the kit was built from $kc, the source tree here is $sc"
    QSMRIM_KIT=$build bash -c '. "$1/kit-env.sh"; echo "  cuDNN/cuBLAS/driver folders: ${QSMRIM_KIT_CUDA_LIBS:-none found}"' _ "$build" |
        tee -a "$out/summary.txt"
elif has build; then
    t0=$(date +%s)
    if [ ! -f "$build/CMakeCache.txt" ]; then
        cmake -S "$src" -B "$build" -DQSMRIM_CUDA=ON -DQSMRIM_WIDGETS=OFF -DCMAKE_BUILD_TYPE=Release \
            -DCMAKE_CUDA_ARCHITECTURES="${QSMRIM_CUDA_ARCH:-90}" > "$out/build.log" 2>&1 || fail "configure (build.log)"
    fi
    cmake --build "$build" -j"$jobs" >> "$out/build.log" 2>&1 || fail "build (build.log)"
    say "build: $(($(date +%s) - t0)) s"
fi

qsmrim=$build/bin/qsmrim
probe=$build/tests/test_cuda_device
if has tests || has tf32 || has sanitizer || has bench || has patches || has torch || has evaluate; then
    if [ ! -x "$probe" ]; then
        fail "no build at $build (run the build stage)"
        exit 1
    fi
    rc=0
    "$probe" --probe > "$out/device.txt" 2>&1 || rc=$?
    if [ $rc -ne 0 ]; then # 77: no NVIDIA device here; otherwise one that cannot be used
        say "$(cat "$out/device.txt")"
        [ $rc -eq 77 ] || fail "the GPU cannot be used (device.txt)"
        exit $([ $rc -eq 77 ] && echo 77 || echo 1)
    fi
    say "device: $(cat "$out/device.txt")"
fi

if has tests; then
    # FP32 whatever the caller's QSMRIM_PRECISION (test_cuda_emu_layers_tf32 sets its own)
    QSMRIM_PRECISION=fp32 run_tests -L "gpu|cuda" -V > "$out/ctest-fp32.log" 2>&1 || fail "GPU tests (ctest-fp32.log)"
    # the learner tests include GPU-sampled against host-sampled training (skipped without a GPU)
    QSMRIM_PRECISION=fp32 run_tests -R test_train_learner -V > "$out/ctest-learner.log" 2>&1 ||
        fail "learner tests (ctest-learner.log)"
    grep -E "GPU-sampled vs host-sampled" "$out/ctest-learner.log" | sed 's/^[0-9]*: /  /' | tee -a "$out/summary.txt"
    say "tests (FP32): $(grep -E 'tests passed|tests failed' "$out/ctest-fp32.log" | tail -1)"
    grep -E "Test +#.*(Skipped|\*\*\*Failed|Not Run)" "$out/ctest-fp32.log" | sed 's/^/  /' | tee -a "$out/summary.txt"
    grep -E "worst scale-relative|state .*device|second GPU run|after training" "$out/ctest-fp32.log" |
        sed 's/^[0-9]*: /  /' | tee -a "$out/summary.txt"
fi

if has tf32; then
    QSMRIM_PRECISION=tf32 run_tests -R "test_cuda_layers|cuda_parity" -V > "$out/tf32.log" 2>&1
    say "TF32 layer tests (against the TF32 reference): $(grep -q 'test_cuda_layers .*Passed' "$out/tf32.log" && echo passed || echo FAILED)"
    grep -E "worst scale-relative|state .*device|FAIL" "$out/tf32.log" | sed 's/^[0-9]*: /  /' > "$out/tf32-parity.txt"
    grep -E "worst scale-relative|state .*device" "$out/tf32-parity.txt" | tee -a "$out/summary.txt"
fi

if has sanitizer; then
    bash "$src/Testing/cuda/run_compute_sanitizer.sh" "$build" "$out/compute-sanitizer" > /dev/null 2>&1
    rc=$?
    if [ $rc -eq 77 ]; then say "compute-sanitizer: not run ($(head -1 "$out/compute-sanitizer/summary.txt"))"
    else
        sed 's/^/  /' "$out/compute-sanitizer/summary.txt" | tee -a "$out/summary.txt"
        [ $rc -eq 0 ] || fail "compute-sanitizer (compute-sanitizer/)"
    fi
fi

if has bench; then
    say "bench: qsmrim bench cnn --device cuda --batch 256 --width 64 --iters 20 --warmup 3 (3 repeats; median ms per patch)"
    best_i=0 best_t=0
    for prec in fp32 tf32; do
        for algo in heuristic find; do
            for rep in 1 2 3; do
                f=$out/bench-$prec-$algo-$rep.txt
                QSMRIM_PRECISION=$prec QSMRIM_CUDA_CONV_ALGO=$algo "$qsmrim" bench cnn --device cuda --batch 256 \
                    --width 64 --iters 20 --warmup 3 > "$f" 2>&1 || fail "bench $prec $algo (bench-$prec-$algo-$rep.txt)"
                ti=$(val infer_ms_per_patch "$f")
                tt=$(val train_ms_per_patch "$f")
                pi=$(awk -v t="${ti:-0}" 'BEGIN { if (t > 0) printf "%.0f", 1000 / t; else print 0 }')
                pt=$(awk -v t="${tt:-0}" 'BEGIN { if (t > 0) printf "%.0f", 1000 / t; else print 0 }')
                say "  $prec $algo #$rep: infer ${ti:-?} ms/patch = $pi patches/s, train ${tt:-?} ms/patch = $pt patch-steps/s"
                [ "$pi" -gt "$best_i" ] && best_i=$pi
                [ "$pt" -gt "$best_t" ] && best_t=$pt
            done
        done
    done
    say "  target inference >= 20000 patches/s: best $best_i -> $([ "$best_i" -ge 20000 ] && echo MET || echo NOT MET)"
    say "  target training  >= 5000 patch-steps/s: best $best_t -> $([ "$best_t" -ge 5000 ] && echo MET || echo NOT MET)"
    f=$out/bench-cpu.txt
    "$qsmrim" bench cnn --device cpu --batch 64 --width 64 --iters 3 --warmup 1 > "$f" 2>&1
    say "  CPU beside it ($(grep -m1 device= "$f" | cut -d= -f2-)): infer $(val infer_ms_per_patch "$f") ms/patch, train $(val train_ms_per_patch "$f") ms/patch"
fi

if has patches; then
    subj=$out/patches-subject
    if "$qsmrim" phantom --out "$subj" --subjects 1 --seed 5 > "$out/patches-phantom.log" 2>&1; then
        d=$(dirname "$(ls "$subj"/*/*_qsm.nii.gz | head -1)")
        n=$(basename "$d")
        args="--qsm $d/${n}_qsm.nii.gz --flair $d/${n}_flair.nii.gz --lesions $d/${n}_lesions.nii.gz --batch 256 --iters 20"
        say "patches: qsmrim bench patches --device cuda --batch 256 --iters 20 (phantom subject $n; medians)"
        for arch in qsmrimnet rimnet; do
            f=$out/patches-$arch.txt
            extra=""
            [ $arch = qsmrimnet ] && extra="--train-width 64"
            "$qsmrim" bench patches $args --device cuda --arch $arch $extra > "$f" 2>&1 || fail "bench patches $arch ($(basename "$f"))"
            say "  $arch: host $(val host_sample_ms_per_patch "$f") ms/patch ($(grep -m1 threads= "$f" | sed 's/.*threads=//') threads), device $(val device_sample_ms_per_patch "$f") ms/patch, x$(val sample_speedup_device_vs_host "$f")"
            [ $arch = qsmrimnet ] && say "  width-64 training step: host-fed $(val train_step_ms_per_patch_host_fed "$f") ms/patch, device-fed $(val train_step_ms_per_patch_device_fed "$f") ms/patch"
        done
    else
        fail "phantom subject for the patch benchmark (patches-phantom.log)"
    fi
fi

if has torch; then
    py=""
    for c in ${QSMRIM_TORCH_PYTHON:-} python3 /usr/bin/python3; do
        if [ -n "$c" ] && "$c" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" > /dev/null 2>&1; then
            py=$c
            break
        fi
    done
    if [ -z "$py" ]; then
        say "torch: no Python with a CUDA-enabled torch found (set QSMRIM_TORCH_PYTHON); PyTorch GPU comparison not run"
    else
        for variant in "" "--tf32" "--tf32 --cudnn-benchmark"; do
            name=torch-gpu$(echo "$variant" | tr -d ' ' | tr -- '-' '_')
            "$py" "$src/Testing/cuda/bench_torch_gpu.py" --batch 256 --width 64 --iters 20 --warmup 3 $variant \
                > "$out/$name.txt" 2>&1 || fail "PyTorch GPU benchmark $variant ($name.txt)"
            say "  PyTorch ${variant:-fp32}: infer $(val torch_gpu_infer_ms_per_patch "$out/$name.txt") ms/patch, train $(val torch_gpu_train_ms_per_patch "$out/$name.txt") ms/patch ($(head -1 "$out/$name.txt"))"
        done
    fi
fi

if has evaluate; then
    if "$qsmrim" phantom --help > /dev/null 2>&1 && "$qsmrim" evaluate --help > /dev/null 2>&1; then
        t0=$(date +%s)
        # a cohort left by an earlier call into the same OUT_DIR is used again (the evaluation
        # alone then fits in one 10-minute call)
        if [ ! -f "$out/phantom/cohort.tsv" ]; then
            "$qsmrim" phantom --out "$out/phantom" --seed 1 > "$out/phantom.log" 2>&1 || fail "phantom (phantom.log)"
        fi
        t1=$(date +%s)
        "$qsmrim" evaluate --manifest "$out/phantom/cohort.tsv" --report "$out/evaluate" --folds 5 --seeds 3 \
            > "$out/evaluate.log" 2>&1 || fail "evaluate (evaluate.log)"
        t2=$(date +%s)
        say "evaluate (${QSMRIM_PRECISION:-fp32}): phantom $((t1 - t0)) s, 5-fold x 3-seed evaluation $((t2 - t1)) s -> target < 600 s $([ $((t2 - t1)) -lt 600 ] && echo MET || echo NOT MET)"
    else
        say "evaluate: qsmrim phantom/evaluate not available in this build; not run"
    fi
fi

say "== done, status $status; results in $out"
exit $status
