#!/bin/bash
# cuda_parity.sh PARITY_BIN PROBE_BIN|- STATE [make_parity_state.py arguments...]
#
# The engine's whole-network parity test (Testing/nn/test_nn_parity.c: PyTorch logits, loss,
# every gradient, parameters after Adam) run on the GPU. Without an NVIDIA GPU: exit 77 (skipped);
# with one that cannot be used (driver, libraries): the probe's failure.
# With extra arguments the state file is first written by PyTorch (Resources/python/
# make_parity_state.py; exit 77 if python3-torch or h5py is missing).
set -u
parity=$1
probe=$2
state=$3
shift 3
# PROBE_BIN "-": no probe (the parity program runs the CUDA backend on its CPU emulation)
if [ "$probe" != "-" ]; then # 77 (no NVIDIA device) skips; a GPU that cannot be used fails
    rc=0
    "$probe" --probe || rc=$?
    [ $rc -eq 0 ] || exit $rc
fi
if [ ! -x "$parity" ]; then
    echo "parity test program $parity not built"
    exit 1
fi
if [ $# -gt 0 ]; then
    py=${QSMRIM_PYTHON:-/usr/bin/python3}
    if ! "$py" -c "import torch, h5py" 2>/dev/null; then
        echo "$py has no torch/h5py: cannot write the parity state (skipped)"
        exit 77
    fi
    mkdir -p "$(dirname "$state")"
    tmp="$state.tmp.$$"
    "$py" "$QSMRIM_SOURCE_DIR/Resources/python/make_parity_state.py" --out "$tmp" "$@" || { rm -f "$tmp"; exit 1; }
    mv -f "$tmp" "$state"
fi
exec "$parity" "$state" cuda
