"""Sample from the trained weights in PyTorch (a check of the training run, independent of the
engine; the evaluation itself generates through Atelier's engine from the ONNX files).

    /usr/bin/python3 training/starter/sample_torch.py --weights training/checkpoints --out /tmp/samples
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenes  # noqa: E402
from bpe import Tokenizer  # noqa: E402
from export import build, load_npz  # noqa: E402


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default="training/checkpoints")
    ap.add_argument("--tokenizer", default="resources/models/starter/tokenizer")
    ap.add_argument("--out", default="training/runs/samples")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cfg", type=float, default=7.0)
    ap.add_argument("--no-sketch", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(2)
    meta = json.load(open(os.path.join(a.weights, "meta.json")))
    vae, te, unet, cn = build(meta)
    vae.load_state_dict(load_npz(os.path.join(a.weights, "vae.npz")))
    te.load_state_dict(load_npz(os.path.join(a.weights, "text_encoder.npz")))
    unet.load_state_dict(load_npz(os.path.join(a.weights, "unet.npz")))
    cn.load_state_dict(load_npz(os.path.join(a.weights, "controlnet.npz")))
    tok = Tokenizer(a.tokenizer)
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    abar = torch.cumprod(1 - betas, 0).float()
    ts = list(range(999, -1, -1000 // a.steps))[: a.steps]
    os.makedirs(a.out, exist_ok=True)
    sheet = Image.new("RGB", (256 * 3, 256 * a.n), "white")
    for i in range(a.n):
        img, sk, cap, _ = scenes.make_scene(scenes.EVAL_SEED0 + i)
        ids = torch.tensor([tok.encode(cap), tok.encode("")])
        ctx, _ = te(ids)
        cond = torch.from_numpy(np.asarray(sk)).float()[None, None].expand(2, 3, -1, -1) / 255
        g = torch.Generator().manual_seed(i)
        x = torch.randn(1, 4, 32, 32, generator=g)
        for k, t in enumerate(ts):
            xx = torch.cat([x, x])
            tt = torch.tensor([float(t)] * 2)
            if a.no_sketch:
                down, mid = None, None
            else:
                down, mid = cn(xx, tt, ctx, cond, 1.0)
            eps = unet(xx, tt, ctx, down, mid)
            e = eps[1:] + a.cfg * (eps[:1] - eps[1:])
            ab = abar[t]
            ab_prev = abar[ts[k + 1]] if k + 1 < len(ts) else torch.tensor(1.0)
            x0 = (x - (1 - ab).sqrt() * e) / ab.sqrt()
            x = ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * e  # DDIM, eta 0
        y = vae.decoder(x / meta["scaling_factor"])
        out = ((y[0].clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).byte().numpy()
        sheet.paste(img, (0, 256 * i))
        sheet.paste(Image.eval(sk, lambda v: 255 - v).convert("RGB"), (256, 256 * i))
        sheet.paste(Image.fromarray(out), (512, 256 * i))
        print(i, cap)
    sheet.save(os.path.join(a.out, "samples.png"))


if __name__ == "__main__":
    main()
