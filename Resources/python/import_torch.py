#!/usr/bin/env python3
"""Convert a PyTorch state dict of the released QSMRim-Net key layout into a qsmrim model file.

  import_torch.py MODEL.pth --out MODEL.h5 [--fusion add|concat] [--layer4-stride 1|2]
                  [--patch D H W] [--name TEXT] [--out-name NAME] [--quiet]

(--out-name: how messages call the output, when --out is a temporary file that qsmrim checks
and then puts in place.)

Accepted inputs: a state dict saved with torch.save(model.state_dict()), or a dict holding one
under 'state_dict', 'model_state_dict' or 'model' (beside numbers, strings and other such
entries); 'module.' prefixes (DataParallel) are removed. A checkpoint is a Python pickle, which
can name any function to call while it loads: only tensors, their storages, dtypes, containers
and numpy scalars (rebuilt here from their type code and bytes) are let through (a pickled module
or any other object is refused before it is built; an allowed function is handed over wrapped, so
the pickle cannot change it). Checkpoints in torch.save's format from before PyTorch 1.6 (not zip)
are refused: that reader acts on what the pickle names even through allowed objects. torch.load(weights_only=True) would do this, but PyTorch 1.13's version refuses a
plain float in the checkpoint (a stored learning rate or score), and its torch.load ignores a
pickle_module given with weights_only=False: the checkpoint is read through torch.serialization's
own readers with the restricted unpickler (weights_only=True where they are not found). Half and bfloat16 tensors are
converted to float32 (exactly). The architecture is read off the tensor shapes: width w from
encoder.conv1.weight (w, C, 7, 7, 7), radiomic size F from encode_rad.0.weight (16w, F), fusion
from smote.fea_transform.0.weight (8w, 8w: add; 8w, 16w: concat). --fusion, when given, must
agree. The layer4 stride cannot be seen in the weights: 1 (released code) unless --layer4-stride.
Every key and shape is checked against the architecture; the first mismatch is reported in one
line and the exit code is 1. The output gets identity preprocessing (the released checkpoint
expects already-normalised inputs) and is written atomically (temporary file, then rename).
Note: the released network reads the two image channels 1 and 2 of a >= 3-channel input (which
of them is QSM is not published); the imported encoder takes a 2-channel patch in that order.
"""
import argparse
import os
import pickle
import sys
import tempfile
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def fail(msg):
    sys.stderr.write(f"qsmrim import-torch: error: {msg}\n")
    sys.exit(1)


# What a checkpoint's pickle may construct: tensors and their parts, plain containers, numpy
# scalars and arrays (numbers stored beside the weights). Anything else - a module class, a
# function such as os.system - is refused before it is looked up.
SAFE_GLOBALS = {
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor"), ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch._utils", "_rebuild_sparse_tensor"), ("torch._utils", "_rebuild_qtensor"),
    ("torch._tensor", "_rebuild_from_type_v2"), ("torch", "Tensor"), ("torch.nn.parameter", "Parameter"),
    ("torch", "Size"), ("torch", "device"), ("torch", "per_tensor_affine"), ("torch.serialization", "_get_layout"),
    ("_codecs", "encode"),  # how pickle protocol 2 (torch.save's default) stores bytes, e.g. of numpy scalars
}
# numpy scalars (a stored score or step) are rebuilt by the functions below, never by numpy's own:
# its dtype state can claim an object dtype, whose "values" would be raw pointers.
NUMPY_SCALAR = {("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}
NUMPY_DTYPE = {("numpy", "dtype")}


class DtypeSpec:
    """What a pickled numpy.dtype(spec, align, copy) and its state say: the type code and byte order."""

    def __init__(self, spec=None, *args):
        self.spec, self.order = spec, ""

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">"):
            self.order = state[1]


def numpy_scalar(spec, data=b""):
    import numpy as np
    if not isinstance(spec, DtypeSpec) or not isinstance(spec.spec, str) or not isinstance(data, bytes):
        raise RefusedObject("a numpy value built from other than a plain type and bytes")
    dt = np.dtype(spec.order + spec.spec)
    if dt.kind not in "biufc" or dt.hasobject or dt.fields or len(data) != dt.itemsize:
        raise RefusedObject(f"a numpy value of type {spec.spec!r}")
    return np.frombuffer(data, dtype=dt, count=1)[0]


class RefusedObject(Exception):
    pass


class LegacyFormat(Exception):
    pass


def restricted_pickle(torch):
    """A pickle module for torch.load whose unpickler builds only SAFE_GLOBALS (torch.load maps
    storage types itself before asking it)."""
    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) in NUMPY_SCALAR:
                return numpy_scalar
            if (module, name) in NUMPY_DTYPE:
                return DtypeSpec
            ok = (module, name) in SAFE_GLOBALS or (
                module == "torch" and (name.endswith("Storage") or isinstance(getattr(torch, name, None), torch.dtype)))
            if not ok:
                raise RefusedObject(f"{module}.{name}")
            real = super().find_class(module, name)
            if isinstance(real, types.FunctionType):  # a fresh wrapper: the pickle's BUILD cannot change the
                def call(*args, **kwargs):             # real function's attributes through it
                    return real(*args, **kwargs)
                return call
            return real

    return types.SimpleNamespace(__name__="qsmrim_restricted_pickle", Unpickler=Unpickler,
                                 load=lambda f, **kw: Unpickler(f, **kw).load())


def load_checkpoint(torch, path):
    """torch.load(path, map_location="cpu") through the restricted unpickler."""
    ser = torch.serialization
    if not all(hasattr(ser, n) for n in ("_open_file_like", "_is_zipfile", "_open_zipfile_reader", "_load", "_legacy_load")):
        return torch.load(path, map_location="cpu", weights_only=True)
    restricted = restricted_pickle(torch)
    with ser._open_file_like(path, "rb") as f:
        if not ser._is_zipfile(f):
            # torch.save's format before PyTorch 1.6 (a pickle stream, b"\x80" first): its reader
            # acts on what the pickle names even through allowed objects (source patches written
            # to files, tar members followed)
            f.seek(0)
            if f.read(1) == b"\x80":
                raise LegacyFormat()
            raise ValueError("neither a zip archive nor a pickle")
        with ser._open_zipfile_reader(f) as z:
            if hasattr(ser, "_is_torchscript_zip") and ser._is_torchscript_zip(z):
                raise RefusedObject("a TorchScript archive")
            return ser._load(z, "cpu", restricted, encoding="utf-8")


def main():
    ap = argparse.ArgumentParser(description="PyTorch QSMRim-Net state dict -> qsmrim model file")
    ap.add_argument("pth")
    ap.add_argument("--out", required=True)
    ap.add_argument("--fusion", choices=["add", "concat"])
    ap.add_argument("--layer4-stride", type=int, choices=[1, 2], default=1)
    ap.add_argument("--patch", type=int, nargs=3, default=[16, 32, 32])
    ap.add_argument("--name", default="")
    ap.add_argument("--out-name")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    out_name = a.out_name or a.out
    try:
        import h5py
        import torch
    except ImportError as e:
        fail(f"import-torch needs Debian's python3-torch and python3-h5py ({e})")
    import h5seal
    import qsmrim_torch as qt

    if not os.path.isfile(a.pth):
        fail(f"cannot open {a.pth}")
    try:
        obj = load_checkpoint(torch, a.pth)
    except RefusedObject as e:
        fail(f"{a.pth} names {e} (not a tensor or a plain value); loading it would run code from the file, so it is "
             "refused: save the weights with torch.save(model.state_dict(), ...)")
    except LegacyFormat:
        fail(f"{a.pth} is in torch.save's format from before PyTorch 1.6 (not a zip archive), whose reader can be made "
             "to act on the file's contents: save it again with a current PyTorch, from a source you trust")
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad input file
        fail(f"{a.pth} is not a PyTorch checkpoint ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
    if isinstance(obj, dict):
        for k in ("state_dict", "model_state_dict", "model"):
            if k in obj and isinstance(obj[k], dict):
                obj = obj[k]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        fail(f"{a.pth} does not hold a state dict of tensors")
    for k, v in obj.items():
        if not isinstance(k, str):
            fail(f"{a.pth}: state dict key {k!r} is not a name ({type(k).__name__}); a state dict maps names to tensors")
        if v.layout != torch.strided or v.is_quantized:
            fail(f"{a.pth}: tensor '{k}' is stored as {v.layout}{' quantized' if v.is_quantized else ''}; "
                 "only dense tensors can be imported (convert with .to_dense() / .dequantize())")
        if v.is_complex():
            fail(f"{a.pth}: tensor '{k}' holds complex numbers ({v.dtype})")
    sd = {(k[7:] if k.startswith("module.") else k): (v.float() if v.is_floating_point() else v) for k, v in obj.items()}

    def shape(k):
        if k not in sd:
            fail(f"{a.pth} has no tensor '{k}': not a QSMRim-Net state dict of the released layout")
        return tuple(sd[k].shape)

    c1 = shape("encoder.conv1.weight")
    if len(c1) != 5 or c1[2:] != (7, 7, 7):
        fail(f"{a.pth}: encoder.conv1.weight has shape {c1}, expected (w, C, 7, 7, 7)")
    w, C = c1[0], c1[1]
    r0 = shape("encode_rad.0.weight")
    if len(r0) != 2 or r0[0] != 16 * w:
        fail(f"{a.pth}: encode_rad.0.weight has shape {r0}, expected ({16 * w}, F) for width {w}")
    F = r0[1]
    s0 = shape("smote.fea_transform.0.weight")
    if s0 == (8 * w, 8 * w):
        fusion = "add"
    elif s0 == (8 * w, 16 * w):
        fusion = "concat"
    else:
        fail(f"{a.pth}: smote.fea_transform.0.weight has shape {s0}, expected ({8 * w}, {8 * w}) (add) or "
             f"({8 * w}, {16 * w}) (concat)")
    if a.fusion and a.fusion != fusion:
        fail(f"--fusion {a.fusion} does not fit {a.pth}: smote.fea_transform.0.weight {s0} means fusion {fusion}")

    model = qt.QSMRimNet(fusion, w, a.layer4_stride, C, F)
    ref = model.state_dict()
    for k in sd:
        if k not in ref:
            fail(f"{a.pth}: unexpected tensor '{k}' for QSMRim-Net (width {w}, fusion {fusion})")
    for k, v in ref.items():
        if k not in sd:
            fail(f"{a.pth}: tensor '{k}' is missing")
        if tuple(sd[k].shape) != tuple(v.shape):
            fail(f"{a.pth}: tensor '{k}' has shape {tuple(sd[k].shape)}, the architecture needs {tuple(v.shape)}")
        if sd[k].is_floating_point() and not torch.isfinite(sd[k]).all():
            fail(f"{a.pth}: tensor '{k}' holds non-finite values")
    cfg = dict(arch="qsmrimnet", fusion=fusion, width=w, layer4_stride=a.layer4_stride, in_channels=C, n_radiomic=F,
               patch_size=a.patch, rimnet_pool_stride=1)
    meta = {"notes": f"imported from a PyTorch state dict ({os.path.basename(a.pth)}){' ' + a.name if a.name else ''}",
            "training_data": "unknown (imported checkpoint)", "smote": "released" if fusion == "add" else "paper"}
    out_dir = os.path.dirname(os.path.abspath(a.out))
    if not os.path.isdir(out_dir):
        fail(f"cannot create {out_name}: folder {out_dir} does not exist")
    if a.out_name:  # --out is already a temporary name that qsmrim checks and puts in place
        tmp = a.out
    else:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(a.out) + ".tmp-", suffix=".h5", dir=out_dir)
        os.close(fd)
        umask = os.umask(0)  # mkstemp makes the file private; a model is read by others, as qsmrim's outputs
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
    try:
        with h5py.File(tmp, "w", userblock_size=h5seal.BLOCK) as f:
            qt.write_model_file(f, {k: sd[k] for k in ref}, cfg, None, meta)
        h5seal.seal(tmp)
        if tmp != a.out:
            os.replace(tmp, a.out)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        fail(f"cannot write {out_name} ({e.strerror or e})")
    if not a.quiet:
        print(f"qsmrim import-torch: QSMRim-Net width {w}, fusion {fusion}, {C} image channels, {F} radiomic features, "
              f"{sum(v.numel() for k, v in ref.items() if not k.endswith('num_batches_tracked'))} values -> {out_name}",
              file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except (SystemExit, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - one line instead of a traceback, as every qsmrim command
        first = str(e).splitlines()[0] if str(e) else ""
        fail(f"{sys.argv[1] if len(sys.argv) > 1 else 'the checkpoint'}: conversion failed ({type(e).__name__}: {first})")
