#!/bin/bash
# bench_patches_cli.sh - `qsmrim bench patches` on a one-subject phantom (label cuda; runs with or
# without a GPU): the host sampler's figures for QSMRim-Net and RimNet inputs, a host-fed training
# step, usage errors; with a GPU also the device sampler's figures and a device-fed training step.
set -u
q=${QSMRIM:?QSMRIM not set}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
num() { grep -o "^.*$1=[0-9.]*" "$2" | grep -o "$1=[0-9.]*" | cut -d= -f2 | tail -1; }
positive() { awk -v v="${1:-0}" 'BEGIN { exit !(v > 0) }'; }

"$q" phantom --out "$tmp/ph" --subjects 1 --seed 5 --threads 2 > "$tmp/phantom.log" 2>&1 || fail "phantom: $(tail -1 "$tmp/phantom.log")"
s=$tmp/ph/sub-001/sub-001
in="--qsm ${s}_qsm.nii.gz --flair ${s}_flair.nii.gz --lesions ${s}_lesions.nii.gz"

gpu=0
"$q" bench patches $in --device cuda --batch 16 --iters 1 > "$tmp/cuda.out" 2> "$tmp/cuda.err" && gpu=1
for arch in qsmrimnet rimnet; do
    extra=""
    [ $arch = qsmrimnet ] && extra="--train-width 2"
    dev=cpu
    [ $gpu = 1 ] && dev=cuda
    f=$tmp/$arch.out
    "$q" bench patches $in --arch $arch --device $dev --batch 16 --iters 2 --threads 2 $extra > "$f" 2> "$tmp/err" ||
        fail "$arch on $dev: $(cat "$tmp/err")"
    cat "$f"
    grep -q "^arch=$arch lesions=[1-9][0-9]* batch=16 augment=yes" "$f" || fail "$arch: no run description"
    positive "$(num host_sample_ms_per_patch "$f")" || fail "$arch: no host sampling time"
    if [ $arch = qsmrimnet ]; then
        positive "$(num train_step_ms_per_patch_host_fed "$f")" || fail "no host-fed training step time"
    fi
    if [ $gpu = 1 ]; then
        positive "$(num device_sample_ms_per_patch "$f")" || fail "$arch: no device sampling time on the GPU"
        [ $arch = qsmrimnet ] && { positive "$(num train_step_ms_per_patch_device_fed "$f")" || fail "no device-fed step time"; }
    else
        grep -q "device_sample_ms_per_patch" "$f" && fail "$arch: device figures without a GPU"
        grep -q "host sampler only" "$f" || fail "$arch: the CPU run does not say it times the host sampler only"
    fi
done
"$q" bench patches $in --no-augment --batch 8 --iters 1 | grep -q "augment=no" || fail "--no-augment not reported"

# usage errors: exit 2 with one line
for bad in "--arch resnet" "--batch 1" "--arch rimnet --train-width 4" ""; do
    if [ -z "$bad" ]; then "$q" bench patches > /dev/null 2> "$tmp/u.err"; rc=$?
    else "$q" bench patches $in $bad > /dev/null 2> "$tmp/u.err"; rc=$?; fi
    [ $rc -eq 2 ] || fail "'$bad': exit $rc, expected 2"
    echo "usage error '$bad': $(head -1 "$tmp/u.err")"
done
"$q" bench patches --qsm "$tmp/none.nii.gz" --flair ${s}_flair.nii.gz --lesions ${s}_lesions.nii.gz > /dev/null 2> "$tmp/m.err" &&
    fail "a missing file was accepted"
grep -q "none.nii.gz" "$tmp/m.err" || fail "the missing file is not named: $(cat "$tmp/m.err")"
echo "ok (GPU: $gpu)"
