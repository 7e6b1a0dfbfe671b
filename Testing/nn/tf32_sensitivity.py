#!/usr/bin/env python3
"""How far rounding alone moves one QSMRim-Net training step, in PyTorch (the reference).

  tf32_sensitivity.py [--width 16] [--batch 16] [--positives 6] [--seed 12] [--threads 2]

One training-mode step (BatchNorm on batch statistics, BCE loss, backward) of a freshly
initialised QSMRim-Net on random inputs, computed four ways: FP32, FP32 with float64 sums, TF32
(operands of convolutions and linear layers rounded to 10 mantissa bits, float32 sums) and TF32
with float64 sums (make_parity_state.use_tf32). Printed, scale-relative as in test_nn_parity
(max |a - b| / max |b|; gradients against max(the tensor's largest, 1e-2 of the network's
largest)): training logits, loss, and the median and worst gradient tensor of

  FP32 vs float64 sums        what float32 summation order does (the parity tests' margin)
  TF32 vs TF32, float64 sums  what summation order does once every layer's operands are rounded
  TF32 vs FP32                what TF32 does

If the second line is as large as the third, a TF32 gradient is only determined to that size by
the arithmetic: any two TF32 implementations (GPU and CPU emulation, or two GPUs) differ by that
much, and only trained metrics can say whether it matters.
"""
import argparse
import os
import statistics
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Resources", "python"))
import make_parity_state as mps  # noqa: E402
import qsmrim_torch as qt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--positives", type=int, default=6)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = qt.QSMRimNet("add", a.width, 1, 2, 536, "channels")
    x = torch.randn(a.batch, 2, 16, 32, 32)
    r = torch.randn(a.batch, 536)
    y = torch.zeros(a.batch)
    y[torch.randperm(a.batch)[:a.positives]] = 1
    masks = [(torch.rand(a.batch, 16 * a.width) >= 0.3).float() / 0.7,
             (torch.rand(a.batch, 2 * a.width) >= 0.5).float() / 0.5]

    def step(tf32, float64_sums):
        if tf32 or float64_sums:
            mps.use_tf32(round_operands=tf32, float64_sums=float64_sums)
        try:
            model.train()
            model.zero_grad()
            drops = [m for m in model.modules() if isinstance(m, qt.MaskDropout)]
            for d, m in zip(drops, masks):
                d.mask = m
            z, lbl, _ = model(x, r, y.clone(), smote=None, weights=None)
            loss = F.binary_cross_entropy_with_logits(z, lbl)
            loss.backward()
            return z.detach(), loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()}
        finally:
            mps.restore_fp32()
            with torch.no_grad():  # training mode moved the running statistics: put them back
                for n, b in model.named_buffers():
                    b.copy_(start[n])

    start = {n: b.clone() for n, b in model.named_buffers()}
    runs = {k: step(*k) for k in [(False, False), (False, True), (True, False), (True, True)]}

    def compare(name, a_, b_):
        za, la, ga = runs[a_]
        zb, lb, gb = runs[b_]
        top = max(v.abs().max().item() for v in gb.values())
        errs = [((ga[n] - gb[n]).abs().max() / max(gb[n].abs().max().item(), 1e-2 * top)).item() for n in gb]
        print(f"{name:28s} logits {((za - zb).abs().max() / zb.abs().max()).item():.2e}  loss {la:.7f} vs {lb:.7f}  "
              f"gradients median {statistics.median(errs):.2e} worst {max(errs):.2e} ({len(errs)} tensors)")

    print(f"QSMRim-Net width {a.width}, batch {a.batch}, seed {a.seed}, PyTorch {torch.__version__}")
    compare("FP32 vs float64 sums", (False, False), (False, True))
    compare("TF32 vs TF32, float64 sums", (True, False), (True, True))
    compare("TF32 vs FP32", (True, False), (False, False))


if __name__ == "__main__":
    main()
