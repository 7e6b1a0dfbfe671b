#!/usr/bin/env python3
"""Time QSMRim-Net in PyTorch on a GPU, as `qsmrim bench cnn --device cuda` times the C engine.

  bench_torch_gpu.py [--batch 256] [--width 64] [--iters 20] [--warmup 3] [--mode both|infer|train]
                     [--tf32] [--cudnn-benchmark] [--device cuda:0]

Same network (Resources/python/qsmrim_torch.py: released architecture, fusion add, layer4 stride
1, 536 radiomic features, 2 x 16 x 32 x 32 patches), same random inputs with a quarter rim+.
Inference: eval mode under no_grad. Training step: train mode (BatchNorm batch statistics,
dropout), DeepSMOTE (released variant: for each rim+ sample its 3 nearest rim+ samples including
itself, lerp with U(0,1) weights - written here with tensor operations so it runs on the GPU;
the reference module's per-row Python loop builds CPU tensors), BCE with logits, backward, Adam.
Every timed iteration ends with torch.cuda.synchronize(). Precision: FP32 unless --tf32 (then
TF32 for convolutions and matrix products, as qsmrim's --precision tf32).

Prints torch_gpu_infer_ms_per_patch=X, torch_gpu_train_ms_per_patch=Y (medians) and the
corresponding patches per second.
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Resources", "python"))


def deepsmote_released(fea, lbl):
    """DeepSMOTE, released variant, vectorised: rim+ rows P (n > 2), for each the 3 nearest rim+
    rows by squared distance with itself first, appended rows lerp(x_i, x_j, a), a ~ U(0,1)."""
    import torch
    pos = torch.nonzero(lbl > 0).flatten()
    n = pos.numel()
    if n <= 2:
        return fea, lbl
    xp = fea[pos]
    with torch.no_grad():
        d = ((xp[:, None, :] - xp[None, :, :]) ** 2).sum(-1)
        d.fill_diagonal_(-1.0)
        order = torch.argsort(d, dim=1, stable=True)[:, :3]
    a = torch.rand(n, 3, 1, device=fea.device, dtype=fea.dtype)
    new = torch.lerp(xp[:, None, :].expand(n, 3, xp.shape[1]), xp[order], a).reshape(3 * n, -1)
    return torch.cat([fea, new], 0), torch.cat([lbl, torch.ones(3 * n, device=lbl.device, dtype=lbl.dtype)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--radiomic", type=int, default=536)
    ap.add_argument("--mode", choices=["both", "infer", "train"], default="both")
    ap.add_argument("--tf32", action="store_true")
    ap.add_argument("--cudnn-benchmark", action="store_true")
    ap.add_argument("--device", default="cuda:0")
    a = ap.parse_args()
    import torch
    if not torch.cuda.is_available():
        print("torch_gpu=unavailable (this torch has no CUDA or sees no GPU)")
        return 77
    dev = torch.device(a.device)
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.backends.cudnn.benchmark = a.cudnn_benchmark
    torch.manual_seed(0)
    from qsmrim_torch import QSMRimNet
    m = QSMRimNet("add", a.width, 1, 2, a.radiomic).to(dev)
    x = torch.randn(a.batch, 2, 16, 32, 32, device=dev)
    r = torch.randn(a.batch, a.radiomic, device=dev)
    y = (torch.rand(a.batch, device=dev) < 0.25).float()
    print(f"torch_version={torch.__version__} device={torch.cuda.get_device_name(dev)} cudnn={torch.backends.cudnn.version()} "
          f"tf32={int(a.tf32)} cudnn_benchmark={int(a.cudnn_benchmark)} batch={a.batch} width={a.width}")

    def timed(fn):
        for _ in range(a.warmup):
            fn()
        torch.cuda.synchronize(dev)
        ts = []
        for _ in range(a.iters):
            t0 = time.perf_counter()
            fn()
            torch.cuda.synchronize(dev)
            ts.append((time.perf_counter() - t0) * 1e3 / a.batch)
        return statistics.median(ts), min(ts), max(ts)

    if a.mode in ("both", "infer"):
        m.eval()

        def infer():
            with torch.no_grad():
                m(x, r)
        med, lo, hi = timed(infer)
        print(f"torch_gpu_infer_ms_per_patch_min={lo:.4f} torch_gpu_infer_ms_per_patch_max={hi:.4f}")
        print(f"torch_gpu_infer_patches_per_s={1e3 / med:.0f}")
        print(f"torch_gpu_infer_ms_per_patch={med:.4f}")
    if a.mode in ("both", "train"):
        m.train()
        opt = torch.optim.Adam(m.parameters(), lr=1e-4)

        def step():
            opt.zero_grad()
            z = m.features(x, r)
            z, lbl = deepsmote_released(z, y)
            logit = m.classifier(z).squeeze(1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, lbl)
            loss.backward()
            opt.step()
        med, lo, hi = timed(step)
        print(f"torch_gpu_train_ms_per_patch_min={lo:.4f} torch_gpu_train_ms_per_patch_max={hi:.4f}")
        print(f"torch_gpu_train_patch_steps_per_s={1e3 / med:.0f}")
        print(f"torch_gpu_train_ms_per_patch={med:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
