#!/usr/bin/env python3
"""Time QSMRim-Net in PyTorch exactly as `qsmrim bench cnn` times the C engine.

  bench_cnn_torch.py [--batch 64] [--iters N] [--threads T] [--width 64] [--warmup 2] [--cpu-time]

Inference: eval mode under no_grad, one batch of N patches (2 x 16 x 32 x 32) + radiomic vectors.
Training step: train mode (BatchNorm batch statistics, dropout), DeepSMOTE (released variant),
BCE with logits, backward, Adam step. Prints torch_infer_ms_per_patch=X and
torch_train_ms_per_patch=Y (medians over the timed iterations) plus min/max.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--radiomic", type=int, default=536)
    ap.add_argument("--mode", choices=["both", "infer", "train"], default="both")
    ap.add_argument("--cpu-time", action="store_true", help="process CPU time instead of wall time")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    from qsmrim_torch import QSMRimNet
    m = QSMRimNet("add", a.width, 1, 2, a.radiomic)
    x = torch.randn(a.batch, 2, 16, 32, 32)
    r = torch.randn(a.batch, a.radiomic)
    y = (torch.rand(a.batch) < 0.25).float()
    print(f"torch_version={torch.__version__} threads={torch.get_num_threads()} mkldnn={torch.backends.mkldnn.is_available()}")

    clock = time.process_time if a.cpu_time else time.perf_counter

    def timed(fn):
        for _ in range(a.warmup):
            fn()
        ts = []
        for _ in range(a.iters):
            t0 = clock()
            fn()
            ts.append((clock() - t0) * 1e3 / a.batch)
        return statistics.median(ts), min(ts), max(ts)

    if a.mode in ("both", "infer"):
        m.eval()

        def infer():
            with torch.no_grad():
                m(x, r)
        med, lo, hi = timed(infer)
        print(f"torch_infer_ms_per_patch_min={lo:.3f} torch_infer_ms_per_patch_max={hi:.3f}")
        print(f"torch_infer_ms_per_patch={med:.3f}")
    if a.mode in ("both", "train"):
        m.train()
        opt = torch.optim.Adam(m.parameters(), lr=1e-4)

        def step():
            opt.zero_grad()
            logit, lbl, _ = m(x, r, y, smote="released")
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, lbl)
            loss.backward()
            opt.step()
        med, lo, hi = timed(step)
        print(f"torch_train_ms_per_patch_min={lo:.3f} torch_train_ms_per_patch_max={hi:.3f}")
        print(f"torch_train_ms_per_patch={med:.3f}")


if __name__ == "__main__":
    main()
