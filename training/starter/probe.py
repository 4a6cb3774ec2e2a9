"""The evaluation probe: a small CNN that recognises the scene attributes of scenes.ATTRIBUTES
from a 64×64 image. Trained on generated scenes; its pooled features also serve as the feature
space for the Fréchet distance between generated and real scenes (as FID uses Inception's).
"""
from __future__ import annotations

import os
import sys
from typing import Dict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenes  # noqa: E402

PROBE_SIZE = 64


class Probe(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        w = width

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                                 nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())

        self.features = nn.Sequential(block(3, w), nn.MaxPool2d(2), block(w, 2 * w), nn.MaxPool2d(2),
                                      block(2 * w, 4 * w), nn.MaxPool2d(2), block(4 * w, 8 * w))
        # Positions matter (left/right): keep a coarse 2×2 grid instead of a global pool.
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(8 * w * 4, 256)
        self.heads = nn.ModuleList([nn.Linear(256, len(v)) for v in scenes.ATTRIBUTES.values()])

    def embed(self, x):
        """x: float [B,3,64,64] in [0,1] → 256-d features."""
        return F.relu(self.fc(self.pool(self.features(x)).flatten(1)))

    def forward(self, x):
        f = self.embed(x)
        return [h(f) for h in self.heads], f


def to_input(images_uint8: np.ndarray) -> torch.Tensor:
    """[N,H,W,3] uint8 at any size → [N,3,64,64] float in [0,1] (area downsampling)."""
    x = torch.from_numpy(np.ascontiguousarray(images_uint8)).permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-1] != PROBE_SIZE:
        x = F.adaptive_avg_pool2d(x, PROBE_SIZE)
    return x


def train_probe(x: torch.Tensor, y: torch.Tensor, seconds: float, device: str, batch=256, log=print) -> Probe:
    """x [N,3,64,64] float in [0,1] on device, y [N,A] int64 on device."""
    import time
    torch.manual_seed(0)
    probe = Probe().to(device)
    opt = torch.optim.AdamW(probe.parameters(), lr=2e-3, weight_decay=1e-4)
    t0, step = time.time(), 0
    probe.train()
    while time.time() - t0 < seconds:
        frac = (time.time() - t0) / seconds
        for g in opt.param_groups:
            g["lr"] = 2e-3 * 0.5 * (1 + np.cos(np.pi * min(frac, 1.0)))
        idx = torch.randint(0, x.shape[0], (batch,), device=x.device)
        xb = x[idx]
        # Small colour and brightness jitter so the probe judges content, not exact pixels.
        xb = (xb * (1 + 0.1 * (torch.rand(batch, 1, 1, 1, device=x.device) - 0.5)) + 0.03 * torch.randn_like(xb)).clamp(0, 1)
        logits, _ = probe(xb)
        loss = sum(F.cross_entropy(lg, y[idx, i]) for i, lg in enumerate(logits))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 200 == 0:
            log(f"probe step {step} loss {loss.item():.3f}")
    probe.eval()
    return probe


@torch.no_grad()
def predict(probe: Probe, x: torch.Tensor, batch=512):
    preds, feats = [], []
    for i in range(0, x.shape[0], batch):
        logits, f = probe(x[i:i + batch])
        preds.append(torch.stack([lg.argmax(-1) for lg in logits], dim=1))
        feats.append(f)
    return torch.cat(preds).cpu().numpy(), torch.cat(feats).cpu().numpy().astype(np.float64)


def accuracy(pred: np.ndarray, y: np.ndarray) -> Dict[str, float]:
    out = {k: float((pred[:, i] == y[:, i]).mean()) for i, k in enumerate(scenes.ATTRIBUTES)}
    out["mean"] = float(np.mean(list(out.values())))
    return out


def save(probe: Probe, path: str) -> None:
    np.savez(path, **{k: v.detach().cpu().numpy().astype(np.float32) for k, v in probe.state_dict().items()})


def load(path: str) -> Probe:
    probe = Probe()
    with np.load(path) as z:
        probe.load_state_dict({k: torch.from_numpy(z[k]) for k in z.files})
    probe.eval()
    return probe


if __name__ == "__main__":
    import argparse
    import time
    from multiprocessing import Pool

    ap = argparse.ArgumentParser(description="Train the probe on the CPU (the GPU recipe trains it too).")
    ap.add_argument("--n", type=int, default=12000)
    ap.add_argument("--seconds", type=float, default=240)
    ap.add_argument("--out", default="resources/models/eval-probe/probe.npz")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    t0 = time.time()
    seeds = [scenes.TRAIN_SEED0 + i for i in range(a.n)]
    with Pool(a.workers) as pool:
        parts = pool.map(scenes.batch_small, [seeds[i:i + 200] for i in range(0, a.n, 200)])
    xs = np.concatenate([p[0] for p in parts])
    ys = np.concatenate([p[1] for p in parts])
    print(f"data {time.time() - t0:.0f}s")
    torch.set_num_threads(2)
    probe = train_probe(to_input(xs), torch.from_numpy(ys), a.seconds, "cpu", batch=128)
    hx, hy = scenes.batch_small(list(range(scenes.EVAL_SEED0, scenes.EVAL_SEED0 + 2000)))
    pred, _ = predict(probe, to_input(hx))
    print(accuracy(pred, hy))
    save(probe, a.out)
