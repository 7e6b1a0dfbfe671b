#!/usr/bin/env bash
# qsmrim import-torch: a state dict of the released QSMRim-Net key layout (width 64, 527
# radiomic features, 'module.' prefixes as DataParallel saves them) imports, and qsmrim forward
# then gives PyTorch's logits; malformed checkpoints are refused with one line and exit 1.
set -euo pipefail
PY=${QSMRIM_PYTHON:-/usr/bin/python3}
if ! "$PY" -c "import torch, h5py" 2>/dev/null; then
  echo "python3-torch / python3-h5py not available: skipped"
  exit 77
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/nn_import.XXXXXX")
trap 'rm -rf "$W"' EXIT
export PYTHONPATH="$QSMRIM_SOURCE_DIR/Resources/python"
"$PY" - "$W" <<'PYEOF'
import sys, torch, h5py, numpy as np
import qsmrim_torch as qt
w = sys.argv[1]
torch.manual_seed(3)
m = qt.QSMRimNet("add", 64, 1, 2, 527)
with torch.no_grad():  # trained-looking BatchNorm statistics
    for mod in m.modules():
        if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm3d)):
            mod.running_mean.normal_(0, 0.1); mod.running_var.uniform_(0.5, 1.5)
            mod.weight.uniform_(0.8, 1.2); mod.bias.uniform_(-0.1, 0.1)
sd = {"module." + k: v for k, v in m.state_dict().items()}
torch.save(sd, f"{w}/released.pth")
torch.save({"epoch": 40, "state_dict": m.state_dict()}, f"{w}/wrapped.pth")
bad = dict(m.state_dict()); del bad["classifier.3.bias"]; torch.save(bad, f"{w}/missing.pth")
bad = dict(m.state_dict()); bad["encode_rad.4.weight"] = torch.zeros(512, 1000); torch.save(bad, f"{w}/shape.pth")
bad = dict(m.state_dict()); bad["encoder.fc.weight"] = torch.zeros(2, 512); torch.save(bad, f"{w}/extra.pth")
bad = dict(m.state_dict()); bad[7] = torch.zeros(2); torch.save(bad, f"{w}/intkey.pth")
bad = dict(m.state_dict()); bad["classifier.3.bias"] = bad["classifier.3.bias"].to_sparse(); torch.save(bad, f"{w}/sparse.pth")
bad = dict(m.state_dict()); bad["classifier.3.bias"] = bad["classifier.3.bias"].to(torch.complex64); torch.save(bad, f"{w}/complex.pth")
bad = dict(m.state_dict()); bad["encoder.norm1.running_var"] = -torch.ones_like(bad["encoder.norm1.running_var"]); torch.save(bad, f"{w}/negvar.pth")
bad = dict(m.state_dict()); bad["encoder.conv1.weight"] = torch.zeros(64, 2, 7, 7); torch.save(bad, f"{w}/conv4d.pth")
# a training checkpoint with plain numbers beside the weights, and the weights in bfloat16
torch.save({"epoch": 40, "lr": 0.01, "best_auc": 0.87, "step": np.int64(7), "best": np.float64(0.91), "tag": b"run1",
            "state_dict": m.state_dict()}, f"{w}/numbers.pth")
torch.save({k: v.bfloat16() if v.is_floating_point() else v for k, v in m.state_dict().items()}, f"{w}/bf16.pth")
# checkpoints whose pickle calls a function while it loads (both of torch.save's formats), and a
# pickled module: refused before anything runs
import os, pickle
class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {w}/RAN",))
pickle.dump(Payload(), open(f"{w}/evil_legacy.pth", "wb"))
torch.save({"state_dict": m.state_dict(), "extra": Payload()}, f"{w}/evil_zip.pth")
torch.save(m, f"{w}/module.pth")
# a numpy "scalar" of object dtype (its bytes would be taken as a pointer); the pre-1.6 format
class ObjectScalar:
    def __reduce__(self):
        return (np.core.multiarray.scalar, (np.dtype("O"), b"\x00" * 8))
torch.save({"state_dict": m.state_dict(), "x": ObjectScalar()}, f"{w}/objscalar.pth")
torch.save(m.state_dict(), f"{w}/legacy.pth", _use_new_zipfile_serialization=False)
# a small model of today's 536 PyRadiomics features (taken in qsmrim's order by predict)
torch.manual_seed(4)
torch.save(qt.QSMRimNet("add", 8, 1, 2, 536).state_dict(), f"{w}/f536.pth")
m.eval()
x = torch.randn(8, 2, 16, 32, 32); r = torch.randn(8, 527)
with torch.no_grad():
    z, _, _ = m(x, r)
with h5py.File(f"{w}/x.h5", "w") as f:
    f["patches"] = x.numpy(); f["radiomics"] = r.numpy(); f["torch_logits"] = z.numpy()
PYEOF
Q="$QSMRIM"
"$Q" import-torch "$W/released.pth" --out "$W/model.h5" --fusion add
"$Q" import-torch "$W/wrapped.pth" --out "$W/model2.h5" --quiet
# the model file is made as the user's other files are (umask), not private to its creator
(umask 002; "$Q" import-torch "$W/wrapped.pth" --out "$W/model3.h5" --quiet)
[ "$(stat -c %a "$W/model3.h5")" = 664 ] || { echo "FAIL: imported model mode $(stat -c %a "$W/model3.h5"), umask 002"; exit 1; }
"$Q" forward --model "$W/model.h5" --input "$W/x.h5" --out "$W/y.h5" --device cpu
"$Q" forward --model "$W/model2.h5" --input "$W/x.h5" --out "$W/y2.h5" --device cpu --quiet
"$PY" - "$W" <<'PYEOF'
import sys, h5py, numpy as np
w = sys.argv[1]
t = h5py.File(f"{w}/x.h5")["torch_logits"][()]
for name in ("y.h5", "y2.h5"):
    c = h5py.File(f"{w}/{name}")["logits"][()]
    err = np.abs(c - t).max() / np.abs(t).max()
    print(f"{name}: imported model vs PyTorch logits, scale-relative error {err:.2e}")
    assert err <= 1e-4, err
PYEOF
# the imported file is sealed (Resources/python/h5seal.py); an edit with h5py breaks the seal and
# the file is refused until it is sealed again; a sealed copy of an unsealed file gives the same logits
SEAL="$QSMRIM_SOURCE_DIR/Resources/python/h5seal.py"
"$PY" "$SEAL" --check "$W/model.h5" | grep -q ": sealed$" || { echo "FAIL: imported model not sealed"; exit 1; }
"$PY" -c "import h5py, sys; f = h5py.File(sys.argv[1], 'r+'); f.attrs['notes'] = 'edited'; f.close()" "$W/model2.h5"
"$PY" "$SEAL" --check "$W/model2.h5" >/dev/null && { echo "FAIL: h5seal --check passed an edited file"; exit 1; }
rc=0; "$Q" forward --model "$W/model2.h5" --input "$W/x.h5" --out "$W/y3.h5" --device cpu 2>"$W/seal.err" || rc=$?
[ $rc -eq 1 ] && grep -q "model2.h5: .* when it was written (damaged, or edited after qsmrim wrote it" "$W/seal.err" || { echo "FAIL: edited model: rc $rc $(cat "$W/seal.err")"; exit 1; }
"$PY" "$SEAL" "$W/model2.h5"
"$Q" forward --model "$W/model2.h5" --input "$W/x.h5" --out "$W/y3.h5" --device cpu --quiet
cmp <("$PY" -c "import h5py, sys; print(h5py.File(sys.argv[1])['logits'][()].tobytes().hex())" "$W/y2.h5") \
    <("$PY" -c "import h5py, sys; print(h5py.File(sys.argv[1])['logits'][()].tobytes().hex())" "$W/y3.h5") ||
  { echo "FAIL: the re-sealed model gives other logits"; exit 1; }
"$PY" "$SEAL" --copy "$W/model.h5" "$W/model3.h5"
"$Q" forward --model "$W/model3.h5" --input "$W/x.h5" --out "$W/y4.h5" --device cpu --quiet
cmp <("$PY" -c "import h5py, sys; print(h5py.File(sys.argv[1])['logits'][()].tobytes().hex())" "$W/y.h5") \
    <("$PY" -c "import h5py, sys; print(h5py.File(sys.argv[1])['logits'][()].tobytes().hex())" "$W/y4.h5") ||
  { echo "FAIL: h5seal --copy changed the model"; exit 1; }
echo "seals: imported file sealed, an h5py edit refused, re-sealed file and sealed copy give the same logits"
# what runs killed outright (kill -9) left beside their outputs is removed by the next run there
# (temporary names carry a token of the boot and PID namespace: Logic/core/fileutil.c)
true & dead=$!; wait $dead
tok=$("$PY" "$(dirname "$0")/../leftover_token.py")
mkdir -p "$W/k" && echo partial >"$W/k/.y.h5.qsmrim-tmp-$tok-$dead-1"
"$Q" forward --model "$W/model.h5" --input "$W/x.h5" --out "$W/k/y.h5" --device cpu --quiet
[ "$(ls -A "$W/k" | tr '\n' ' ')" = "y.h5 " ] || { echo "FAIL: forward left a killed run's temporary: $(ls -A "$W/k")"; exit 1; }
echo partial >"$W/k/.m.h5.qsmrim-tmp-$tok-$dead-2"
"$Q" import-torch "$W/released.pth" --out "$W/k/m.h5" --fusion add --quiet
[ "$(ls -A "$W/k" | tr '\n' ' ')" = "m.h5 y.h5 " ] || { echo "FAIL: import-torch left a killed run's temporary: $(ls -A "$W/k")"; exit 1; }
echo "leftovers: forward and import-torch remove what killed runs left beside their outputs"
fail_case() { # pth expected-substring [extra args]
  local out rc=0
  out=$("$Q" import-torch "$W/$1" --out "$W/bad.h5" "${@:3}" 2>&1) || rc=$?
  if [ "$rc" -ne 1 ] || [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ] || [[ "$out" != *"$2"* ]]; then
    echo "FAIL: import-torch $1: rc $rc, output: $out (wanted '$2')"; exit 1
  fi
  [ ! -e "$W/bad.h5" ] || { echo "FAIL: $W/bad.h5 written for a bad checkpoint"; exit 1; }
  echo "refused as expected: $out"
}
fail_case missing.pth "tensor 'classifier.3.bias' is missing"
fail_case shape.pth "encode_rad.4.weight' has shape (512, 1000)"
fail_case extra.pth "unexpected tensor 'encoder.fc.weight'"
fail_case released.pth "--fusion concat does not fit" --fusion concat
fail_case intkey.pth "state dict key 7 is not a name (int)"
fail_case sparse.pth "tensor 'classifier.3.bias' is stored as torch.sparse_coo; only dense tensors"
fail_case complex.pth "tensor 'classifier.3.bias' holds complex numbers (torch.complex64)"
echo "not a checkpoint" > "$W/text.pth"
fail_case text.pth "is not a PyTorch checkpoint"
cp "$W/text.pth" "$W/a
b.pth"
fail_case "a
b.pth" 'a\nb.pth is not a PyTorch checkpoint' # a newline in the name: still one line
fail_case conv4d.pth "conv4d.pth: encoder.conv1.weight has shape (64, 2, 7, 7), expected"
fail_case evil_legacy.pth "evil_legacy.pth is in torch.save's format from before PyTorch 1.6 (not a zip archive)"
fail_case legacy.pth "legacy.pth is in torch.save's format from before PyTorch 1.6"
fail_case objscalar.pth "objscalar.pth names a numpy value of type 'O8'"
fail_case evil_zip.pth "evil_zip.pth names posix.system"
fail_case module.pth "module.pth names qsmrim_torch.QSMRimNet"
[ ! -e "$W/RAN" ] || { echo "FAIL: a checkpoint ran code while it was read"; exit 1; }
# a conversion the engine refuses (negative variance) leaves the old model in place
cp "$W/model.h5" "$W/keep.h5"
rc=0; out=$("$Q" import-torch "$W/negvar.pth" --out "$W/keep.h5" 2>&1) || rc=$?
[ $rc -eq 1 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] &&
  [[ "$out" == *"negvar.pth does not convert to a usable model (nothing written): member_000/encoder.norm1.running_var holds the negative variance"* ]] &&
  cmp -s "$W/model.h5" "$W/keep.h5" && [ -z "$(ls -A "$W" | grep '^\.keep')" ] ||
  { echo "FAIL: refused conversion: rc $rc, $out, $(ls -A "$W")"; exit 1; }
# numbers beside the weights, bfloat16 weights (converted exactly): import
"$Q" import-torch "$W/numbers.pth" --out "$W/numbers.h5" --quiet
"$Q" import-torch "$W/bf16.pth" --out "$W/bf16.h5" --quiet
# a Python that fails without a word, or writes nothing: one line naming the interpreter
rc=0; out=$("$Q" import-torch "$W/released.pth" --out "$W/bad.h5" --python /bin/false 2>&1) || rc=$?
[ $rc -eq 1 ] && [[ "$out" == *"/bin/false exited with status 1 and no message"* ]] || { echo "FAIL: --python /bin/false: rc $rc, $out"; exit 1; }
rc=0; out=$("$Q" import-torch "$W/released.pth" --out "$W/bad.h5" --python /bin/true 2>&1) || rc=$?
[ $rc -eq 1 ] && [[ "$out" == *"/bin/true exited without writing a model"* ]] && [ ! -e "$W/bad.h5" ] ||
  { echo "FAIL: --python /bin/true: rc $rc, $out"; exit 1; }
# a pipe as the checkpoint is refused at once (Python's reader would wait for a writer forever)
mkfifo "$W/fifo.pth"
fail_case fifo.pth "fifo.pth: is a pipe, not a file"
rc=0; "$Q" import-torch "$W/none.pth" --out "$W/bad.h5" 2>/dev/null || rc=$?
[ "$rc" -eq 1 ] || { echo "FAIL: missing input gave rc $rc"; exit 1; }
# predict gives an imported model (no feature names) the radiomic features by position: the 527
# of the paper cannot be matched to today's 536 and are refused; 536 are taken in order
"$Q" phantom --out "$W/ph" --subjects 1 --seed 5 --quiet
S="$W/ph/sub-001/sub-001"
"$Q" import-torch "$W/f536.pth" --out "$W/f536.h5" --quiet
for m in model f536; do
  rc=0
  "$Q" predict --model "$W/$m.h5" --qsm "${S}_qsm.nii.gz" --flair "${S}_flair.nii.gz" --lesions "${S}_lesions.nii.gz" \
    --out-labels "$W/$m.lab.nii.gz" --out-probability "$W/$m.p.nii.gz" --out-table "$W/$m.tsv" --threshold 0.5 \
    --device cpu --quiet 2>"$W/$m.err" || rc=$?
  if [ $m = model ]; then
    [ $rc -eq 1 ] && [ "$(grep -c error: "$W/$m.err")" -eq 1 ] && [ ! -e "$W/$m.tsv" ] &&
      grep -q "the model takes 527 radiomic features by position, without their names (an imported checkpoint), and the radiomics settings give 536" "$W/$m.err" ||
      { echo "FAIL: a 527-feature import predicted: rc $rc, $(cat "$W/$m.err")"; exit 1; }
  else
    [ $rc -eq 0 ] && [ "$(tail -n +2 "$W/$m.tsv" | wc -l)" -gt 0 ] || { echo "FAIL: a 536-feature import: rc $rc, $(cat "$W/$m.err")"; exit 1; }
  fi
done
echo "predict: a 527-feature import refused, a 536-feature import classifies"
echo "import-torch checks pass"
