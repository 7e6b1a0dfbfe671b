#!/usr/bin/env python3
"""Write a PyTorch parity state file for the C engine's tests (the llm.c test_gpt2 pattern).

  make_parity_state.py --out STATE.h5 [--arch qsmrimnet|aprl-nn|rimnet] [--width 4]
        [--fusion add|concat] [--image-fusion channels|branches] [--smote released|paper|off] [--layer4-stride 1] [--radiomic 32]
        [--batch 6] [--positives 3] [--patch 16 32 32] [--steps 3] [--seed 1] [--all-grads] [--tf32]

--tf32: every convolution and linear layer computes in TF32 as a tensor core does - both
operands of the products rounded to 10 mantissa bits (nearest even), float32 sums, biases and
bias gradients from unrounded values - emulated on the CPU (PyTorch's own TF32 switch acts on
GPUs only). The C engine with --precision tf32 is compared against such a state.

The file is a valid qsmrim model file (root attributes + member_000 with the initial state dict
and a non-trivial preprocessing), so the C side loads it with qr_nn_model_load, plus /parity:
  patches (N,C,D,H,W), radiomics (N,F)  raw inputs (the model applies its preprocessing)
  labels (N)
  logits_eval (N)                       eval mode, initial parameters (rimnet: z1 - z0)
  step_k/ for k = 1..steps:
     dropout_radiomic (N,16w), dropout_classifier (Ntot,2w)   multipliers 0 or 1/(1-p)
     smote_weights (n_pos*k)            DeepSMOTE interpolation weights (pair order)
     smote_pairs (m,2)                  the (i, j) pairs PyTorch used (batch indices)
     logits (Ntot[,2]), loss ()         training-mode forward
     grads/<name>                       every parameter's gradient (step 1 always; all steps
                                        with --all-grads)
  params_after/<name>, buffers_after/<name>   after `steps` Adam steps (lr 1e-4)
  adam_sensitive/<name>                 uint8: 1 where some step's gradient is below 1e-2 of the
                                        tensor's largest |gradient| - there Adam's normalised
                                        update m/sqrt(v) depends on rounding-level differences
All values are float32; the inputs are quantised (exact in float32, compressible).
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qsmrim_torch as qt  # noqa: E402

LR = 1e-4  # the published learning rate


def tf32_round(t):
    """float32 tensor rounded to TF32 (10 mantissa bits, nearest even; Inf/NaN unchanged)."""
    u = t.detach().contiguous().view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    r = (u + 0xFFF + ((u >> 13) & 1)) & 0xFFFFE000
    r = torch.where((u & 0x7F800000) == 0x7F800000, u, r)
    r = torch.where(r >= 2 ** 31, r - 2 ** 32, r)
    return r.to(torch.int32).view(torch.float32).view(t.shape)


_conv3d, _linear = F.conv3d, F.linear


def use_tf32(round_operands=True, float64_sums=False):
    """Route the models' F.conv3d / F.linear calls through an emulation of tensor-core arithmetic:
    operands rounded to TF32 (round_operands), products summed in float32 or, to see how much
    summation order alone matters, in float64 (float64_sums); biases and bias gradients from
    unrounded values. restore_fp32() undoes it."""
    rd = tf32_round if round_operands else (lambda t: t)
    up = (lambda t: t.double()) if float64_sums else (lambda t: t)

    class Conv(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, b, stride, padding):
            xr, wr = rd(x), rd(w)
            ctx.save_for_backward(xr, wr)
            ctx.conf = (stride, padding, b is not None)
            y = _conv3d(up(xr), up(wr), None, stride, padding).float()
            return y if b is None else y + b.view(1, -1, 1, 1, 1)

        @staticmethod
        def backward(ctx, go):
            xr, wr = ctx.saved_tensors
            stride, padding, has_b = ctx.conf
            gr = up(rd(go))
            dx = torch.nn.grad.conv3d_input(xr.shape, up(wr), gr, stride, padding).float()
            dw = torch.nn.grad.conv3d_weight(up(xr), wr.shape, gr, stride, padding).float()
            return dx, dw, (go.sum(dim=(0, 2, 3, 4)) if has_b else None), None, None

    class Linear(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, b):
            xr, wr = rd(x), rd(w)
            ctx.save_for_backward(xr, wr)
            ctx.has_b = b is not None
            y = _linear(up(xr), up(wr)).float()
            return y if b is None else y + b

        @staticmethod
        def backward(ctx, go):
            xr, wr = ctx.saved_tensors
            gr = up(rd(go))
            return (gr @ up(wr)).float(), (gr.t() @ up(xr)).float(), (go.sum(0) if ctx.has_b else None)

    def conv3d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
        assert dilation in (1, (1, 1, 1)) and groups == 1
        return Conv.apply(x, w, b, stride, padding)

    F.conv3d = conv3d
    F.linear = lambda x, w, b=None: Linear.apply(x, w, b)


def restore_fp32():
    F.conv3d, F.linear = _conv3d, _linear


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--arch", default="qsmrimnet", choices=["qsmrimnet", "aprl-nn", "rimnet"])
    ap.add_argument("--width", type=int, default=4)
    ap.add_argument("--fusion", default="add", choices=["add", "concat"])
    ap.add_argument("--image-fusion", default="channels", choices=["channels", "branches"])
    ap.add_argument("--smote", default="released", choices=["released", "paper", "off"])
    ap.add_argument("--layer4-stride", type=int, default=1)
    ap.add_argument("--radiomic", type=int, default=32)
    ap.add_argument("--batch", type=int, default=6)
    ap.add_argument("--positives", type=int, default=3)
    ap.add_argument("--patch", type=int, nargs=3, default=None)
    ap.add_argument("--pool-stride", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--all-grads", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tf32", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.tf32:
        use_tf32()
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    N, w = a.batch, a.width
    if a.arch == "qsmrimnet":
        patch = a.patch or [16, 32, 32]
        C, Fr = 2, a.radiomic
        model = qt.QSMRimNet(a.fusion, w, a.layer4_stride, C, Fr, a.image_fusion)
    elif a.arch == "aprl-nn":
        patch, C, Fr = [0, 0, 0], 0, a.radiomic
        model = qt.AprlNet(w, Fr)
    else:
        patch = a.patch or [28, 28, 28]
        C, Fr = 2, 0
        model = qt.RimNet(w, tuple(patch), a.pool_stride)
    cfg = dict(arch=a.arch, fusion=a.fusion, image_fusion=a.image_fusion, width=w, layer4_stride=a.layer4_stride, in_channels=C, n_radiomic=Fr,
               patch_size=patch, rimnet_pool_stride=a.pool_stride if a.arch == "rimnet" else 1)
    # non-trivial BatchNorm state so that eval mode is not an identity
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm3d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    # preprocessing (powers of two / multiples of 1/8: exact in float32)
    pre = {}
    if C:
        pre["intensity_shift"] = rng.integers(-8, 8, C) / 8.0
        pre["intensity_scale"] = 2.0 ** rng.integers(-2, 3, C)
    if Fr:
        pre["radiomic_mean"] = rng.integers(-16, 16, Fr) / 8.0
        pre["radiomic_sd"] = 2.0 ** rng.integers(-3, 4, Fr)
    # raw inputs, quantised
    x_raw = r_raw = None
    if C:
        xn = np.round(rng.standard_normal((N, C) + tuple(patch)) * 16) / 16
        x_raw = (xn / pre["intensity_scale"][None, :, None, None, None] +
                 pre["intensity_shift"][None, :, None, None, None]).astype(np.float32)
    if Fr:
        rn = np.round(rng.standard_normal((N, Fr)) * 16) / 16
        r_raw = (rn * pre["radiomic_sd"][None] + pre["radiomic_mean"][None]).astype(np.float32)
    labels = np.zeros(N, np.float32)
    labels[rng.permutation(N)[:a.positives]] = 1
    # model inputs exactly as the C engine computes them (float32)
    x = r = None
    if C:
        sh = pre["intensity_shift"].astype(np.float32)[None, :, None, None, None]
        sc = pre["intensity_scale"].astype(np.float32)[None, :, None, None, None]
        x = torch.from_numpy(((x_raw - sh) * sc).astype(np.float32))
    if Fr:
        r = torch.from_numpy(((r_raw - pre["radiomic_mean"].astype(np.float32)) /
                              pre["radiomic_sd"].astype(np.float32)).astype(np.float32))
    y = torch.from_numpy(labels)

    out = h5py.File(a.out, "w")
    qt.write_model_file(out, model, cfg, pre, {"training_data": "parity state (random inputs)", "seed": a.seed,
                                               "smote": a.smote if a.arch == "qsmrimnet" else "",
                                               "notes": "written by make_parity_state.py"})
    comp = dict(compression="gzip", compression_opts=6, shuffle=True)
    pg = out.create_group("parity")
    pg.attrs["magic"] = "qsmrim-parity"
    pg.attrs["version"] = np.int64(1)
    pg.attrs["lr"] = LR
    pg.attrs["steps"] = np.int64(a.steps)
    pg.attrs["smote"] = a.smote
    pg.attrs["torch_version"] = str(torch.__version__)
    pg.attrs["precision"] = "tf32 (emulated)" if a.tf32 else "fp32"
    if C:
        pg.create_dataset("patches", data=x_raw, **comp)
    if Fr:
        pg.create_dataset("radiomics", data=r_raw, **comp)
    pg.create_dataset("labels", data=labels)

    def two_class(z):
        return (z[:, 1] - z[:, 0]) if a.arch == "rimnet" else z

    model.eval()
    with torch.no_grad():
        z, _, _ = model(x, r)
    pg.create_dataset("logits_eval", data=two_class(z).numpy().astype(np.float32))

    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    drops = [m for m in model.modules() if isinstance(m, qt.MaskDropout)]
    smote = a.smote if a.arch == "qsmrimnet" and a.smote != "off" else None
    npos = int(labels.sum())
    kk = 3 if a.smote == "released" else 2
    sensitive = {}
    for step in range(1, a.steps + 1):
        sg = pg.create_group(f"step_{step}")
        weights = None
        ntot = N
        if smote and npos > 2:
            weights = torch.rand(npos, kk)
            ntot = N + npos * kk
        if len(drops) == 2:
            p0, p1 = drops[0].p, drops[1].p
            m0 = (torch.rand(N, 16 * w) >= p0).float() / (1 - p0)
            m1 = (torch.rand(ntot, 2 * w) >= p1).float() / (1 - p1)
            drops[0].mask, drops[1].mask = m0, m1
            sg.create_dataset("dropout_radiomic", data=m0.numpy(), **comp)
            sg.create_dataset("dropout_classifier", data=m1.numpy(), **comp)
        opt.zero_grad()
        z, lbl, pairs = model(x, r, y.clone(), smote=smote, weights=weights)
        if a.arch == "rimnet":
            loss = F.cross_entropy(z, y.long())
        else:
            loss = F.binary_cross_entropy_with_logits(z, lbl)
        loss.backward()
        if weights is not None:
            sg.create_dataset("smote_weights", data=weights.numpy().reshape(-1).astype(np.float32))
            sg.create_dataset("smote_pairs", data=np.array([(i, j) for i, j, _ in pairs], np.int32))
        sg.create_dataset("logits", data=z.detach().numpy().astype(np.float32))
        sg.create_dataset("loss", data=np.float32(loss.item()))
        if step == 1 or a.all_grads:
            gg = sg.create_group("grads")
            for name, p in model.named_parameters():
                gg.create_dataset(name, data=p.grad.numpy().astype(np.float32))
        for name, p in model.named_parameters():
            g = np.abs(p.grad.numpy())
            sens = g < 1e-2 * g.max() if g.max() > 0 else np.ones(g.shape, bool)
            sensitive[name] = sens | sensitive.get(name, np.zeros(g.shape, bool))
        opt.step()
    gs = pg.create_group("adam_sensitive")
    for name, v in sensitive.items():
        gs.create_dataset(name, data=v.astype(np.uint8), **comp)
    ga, gb = pg.create_group("params_after"), pg.create_group("buffers_after")
    for name, v in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            gb.create_dataset(name, data=np.int64(v.item()))
        elif name.endswith("running_mean") or name.endswith("running_var"):
            gb.create_dataset(name, data=v.numpy().astype(np.float32))
        else:
            ga.create_dataset(name, data=v.detach().numpy().astype(np.float32))
    out.close()


if __name__ == "__main__":
    main()
