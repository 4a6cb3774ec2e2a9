"""Train the starter model in one time-budgeted run: data → VAE → latents → text encoder +
UNet + ControlNet (jointly) → probe; weights saved as float16 .npz files (readable by any
torch/numpy version) in --out, periodically, so a run cut off by its time limit still returns
weights and a later run can continue from them (--resume).

    # CPU smoke test (minutes; Debian's python3-torch):
    /usr/bin/python3 training/starter/train.py --smoke --out training/runs/smoke
    # One real run on the GPU machine (see training/README.md):
    python3 training/starter/train.py --budget 470 --out $OUT

Diffusion: DDPM epsilon prediction with SD's scaled_linear betas (0.00085–0.012, 1000 steps),
so the engine's standard schedulers apply; Min-SNR-γ loss weighting (Hang et al. 2023, γ=5);
classifier-free guidance dropout (empty caption 10%); the sketch is dropped 30% of the time
(ControlNet residuals zeroed, as the engine does when no ControlNet is active).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from multiprocessing import get_context

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scenes  # noqa: E402


def gen_chunk(seeds):
    imgs, sks, caps, labs = scenes.batch(seeds)
    return imgs, sks, caps, labs


def log_to(path):
    f = open(path, "a") if path else None

    def log(*a):
        msg = " ".join(str(x) for x in a)
        print(msg, flush=True)
        if f:
            f.write(msg + "\n")
            f.flush()
    return log


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--smoke", action="store_true", help="tiny CPU run of the whole recipe")
    ap.add_argument("--budget", type=float, default=470, help="seconds for the whole run")
    ap.add_argument("--data", type=int, default=80000, help="scenes to generate")
    ap.add_argument("--workers", type=int, default=14)
    ap.add_argument("--seed0", type=int, default=scenes.TRAIN_SEED0, help="first training seed (a continuation can take fresh scenes)")
    ap.add_argument("--vae-seconds", type=float, default=100)
    ap.add_argument("--probe-seconds", type=float, default=25)
    ap.add_argument("--batch", type=int, default=192)
    ap.add_argument("--vae-batch", type=int, default=48)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--resume", default="", help="folder with earlier .npz weights to continue from")
    ap.add_argument("--tokenizer", default=os.path.join(HERE, "../../resources/models/starter/tokenizer"))
    ap.add_argument("--save-every", type=float, default=60)
    a = ap.parse_args()
    if a.smoke:
        # Tiny scale for the CPU; flags given explicitly still win.
        small = dict(data=48, workers=2, vae_seconds=15, probe_seconds=5, batch=4, vae_batch=2, budget=90, save_every=20)
        for k, v in small.items():
            if getattr(a, k) == ap.get_default(k):
                setattr(a, k, v)
    T0 = time.time()
    os.makedirs(a.out, exist_ok=True)
    log = log_to(os.path.join(a.out, "train.log"))

    # Data workers start before CUDA is touched (fork after CUDA init is unsafe).
    n = a.data
    ctx_mp = get_context("fork")
    pool = ctx_mp.Pool(a.workers)
    chunk = 32 if not a.smoke else 8
    seeds = np.arange(a.seed0, a.seed0 + n)
    n_eval = 2000 if not a.smoke else 32
    eval_seeds = np.arange(scenes.EVAL_SEED0, scenes.EVAL_SEED0 + n_eval)
    S = scenes.SIZE
    imgs = np.zeros((n, S, S, 3), np.uint8)
    sks = np.zeros((n, S, S), np.uint8)
    caps = [""] * n
    labs = np.zeros((n, len(scenes.ATTRIBUTES)), np.int64)
    ready = [0]
    order = [seeds[i:i + chunk] for i in range(0, n, chunk)]

    def fill():
        pos = 0
        for im, sk, cp, lb in pool.imap(gen_chunk, order):
            k = len(cp)
            imgs[pos:pos + k], sks[pos:pos + k], labs[pos:pos + k] = im, sk, lb
            caps[pos:pos + k] = cp
            pos += k
            ready[0] = pos

    filler = threading.Thread(target=fill, daemon=True)
    filler.start()
    eval_async = pool.map_async(scenes.batch_small, [eval_seeds[i:i + 100] for i in range(0, n_eval, 100)])

    import torch
    import torch.nn.functional as F
    import models
    import probe as probe_mod
    from bpe import Tokenizer

    cuda = torch.cuda.is_available() and not a.smoke
    dev = "cuda" if cuda else "cpu"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        models.USE_SDPA[0] = True
    else:
        torch.set_num_threads(2)
    amp = torch.autocast(device_type="cuda", dtype=torch.bfloat16) if cuda else None
    cl = torch.channels_last if cuda else torch.contiguous_format
    log(f"torch {torch.__version__} on {dev}; {torch.cuda.get_device_name(0) if cuda else 'cpu'}")
    torch.manual_seed(0)
    tok = Tokenizer(a.tokenizer)
    arch = dict(vae_channels=[32, 64, 96, 128], vocab=len(tok.vocab), text_width=256, text_layers=2, text_heads=4,
                unet_channels=[64, 128, 128], heads=4, self_attn=[False, True, True])
    vae = models.AutoencoderKL(tuple(arch["vae_channels"])).to(dev, memory_format=cl)
    te = models.TextEncoder(arch["vocab"], arch["text_width"], arch["text_layers"], arch["text_heads"]).to(dev)
    unet = models.UNet(tuple(arch["unet_channels"]), arch["text_width"], arch["heads"], tuple(arch["self_attn"])).to(dev, memory_format=cl)
    cn = models.ControlNet(tuple(arch["unet_channels"]), arch["text_width"], arch["heads"], tuple(arch["self_attn"])).to(dev, memory_format=cl)
    log("params M: vae %.2f text %.2f unet %.2f controlnet %.2f" % tuple(models.count(m) / 1e6 for m in (vae, te, unet, cn)))
    meta = {"arch": arch, "image_size": S, "scaling_factor": None, "steps": 0, "vae_steps": 0}

    def load_npz(path):
        with np.load(path) as z:
            return {k: torch.from_numpy(z[k].astype(np.float32)) for k in z.files}

    vae_done = False
    old_scaling = None
    if a.resume:
        rp = a.resume
        if os.path.exists(os.path.join(rp, "vae.npz")):
            vae.load_state_dict(load_npz(os.path.join(rp, "vae.npz")))
            vae_done = True
        if os.path.exists(os.path.join(rp, "unet.npz")):
            unet.load_state_dict(load_npz(os.path.join(rp, "unet.npz")))
            te.load_state_dict(load_npz(os.path.join(rp, "text_encoder.npz")))
        if os.path.exists(os.path.join(rp, "controlnet.npz")):
            cn.load_state_dict(load_npz(os.path.join(rp, "controlnet.npz")))
        with open(os.path.join(rp, "meta.json")) as f:
            old = json.load(f)
        meta["steps"], meta["vae_steps"] = old.get("steps", 0), old.get("vae_steps", 0)
        old_scaling = old.get("scaling_factor")
        log(f"resumed from {rp} (steps {meta['steps']}, vae steps {meta['vae_steps']})")

    def save_npz(path, sd):
        tmp = path + ".tmp.npz"
        np.savez(tmp, **{k: v.detach().float().cpu().numpy().astype(np.float16) for k, v in sd.items()})
        os.replace(tmp, path)

    def save_meta():
        with open(os.path.join(a.out, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)

    def wait_for(k):
        while ready[0] < k:
            time.sleep(0.05)

    def batch_images(idx):
        x = torch.from_numpy(imgs[idx]).to(dev, non_blocking=True).permute(0, 3, 1, 2).float() / 127.5 - 1
        return x.contiguous(memory_format=cl)

    # ------------------------------------------------------------ VAE
    wait_for(min(n, 8 * chunk))
    if not vae_done or a.vae_seconds > 0:
        opt = torch.optim.AdamW(vae.parameters(), lr=5e-4, weight_decay=0.0)
        t_end = time.time() + a.vae_seconds
        t_start, step = time.time(), 0
        vae.train()
        while time.time() < t_end:
            frac = (time.time() - t_start) / a.vae_seconds
            for g in opt.param_groups:
                g["lr"] = 5e-4 * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1))))
            idx = np.random.randint(0, ready[0], a.vae_batch)
            x = batch_images(idx)
            with amp if amp else _null():
                mean, logvar = vae.encode(x)
                z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
                y = vae.decoder(z)
            y = y.float()
            err = y - x
            # L1 + L2 on pixels, L1 on image gradients (keeps stroke edges sharp), tiny KL as SD.
            gx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
            gy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
            loss = err.abs().mean() + (err ** 2).mean() + 0.5 * ((gx(y) - gx(x)).abs().mean() + (gy(y) - gy(x)).abs().mean())
            kl = 0.5 * (mean.float() ** 2 + logvar.float().exp() - 1 - logvar.float()).mean()
            loss = loss + 1e-6 * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % 100 == 0 or (a.smoke and step % 5 == 0):
                log(f"vae step {step} loss {loss.item():.4f} l1 {err.abs().mean().item():.4f} ready {ready[0]} t {time.time() - T0:.0f}s")
        meta["vae_steps"] += step
        vae.eval()
    save_npz(os.path.join(a.out, "vae.npz"), vae.state_dict())

    # ------------------------------------------------------------ latents
    filler.join()
    log(f"data ready: {ready[0]} scenes at {time.time() - T0:.0f}s")
    lat = torch.zeros(n, 4, S // 8, S // 8, dtype=torch.float16, device=dev)
    with torch.no_grad():
        eb = 256 if cuda else 8
        for i in range(0, n, eb):
            with amp if amp else _null():
                m, _ = vae.encode(batch_images(np.arange(i, min(n, i + eb))))
            lat[i:i + eb] = m.half()
    std = lat.float().std().item()
    scaling = 1.0 / std
    if vae_done and a.vae_seconds <= 0 and old_scaling:
        # Same VAE as the run we continue: keep the scale its UNet was trained with.
        scaling = old_scaling
    meta["scaling_factor"] = round(scaling, 5)
    log(f"latents std {std:.4f} → scaling_factor {scaling:.5f}; mean {lat.float().mean().item():.4f}; t {time.time() - T0:.0f}s")
    # Latent→RGB preview map (least squares on 32×32 pooled images), as the engine's live preview.
    with torch.no_grad():
        k = min(n, 2048)
        zl = lat[:k].float().permute(0, 2, 3, 1).reshape(-1, 4) * scaling
        px = F.avg_pool2d(batch_images(np.arange(k)).float(), 8).permute(0, 2, 3, 1).reshape(-1, 3)
        A = torch.cat([zl, torch.ones(zl.shape[0], 1, device=dev)], 1)
        sol = torch.linalg.lstsq(A.cpu(), px.cpu()).solution
        meta["preview"] = {
            "description": "rgb = latents · latent_rgb_factors + latent_rgb_bias; latents as the UNet sees them (scaled), rgb in [-1,1]",
            "latent_rgb_factors": [[round(float(v), 5) for v in row] for row in sol[:4]],
            "latent_rgb_bias": [round(float(v), 5) for v in sol[4]],
        }
    sk_dev = torch.from_numpy(sks).to(dev)
    ids = torch.tensor([tok.encode(c) for c in caps], dtype=torch.int64, device=dev)
    empty_ids = torch.tensor(tok.encode(""), dtype=torch.int64, device=dev)
    lab_dev = torch.from_numpy(labs).to(dev)
    imgs_probe = None
    if a.probe_seconds > 0:
        with torch.no_grad():
            imgs_probe = torch.cat([F.adaptive_avg_pool2d(batch_images(np.arange(i, min(n, i + 512))).float(), 64) * 0.5 + 0.5
                                    for i in range(0, n, 512)]).contiguous()
    del imgs
    save_meta()

    # ------------------------------------------------------------ diffusion
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    abar = torch.cumprod(1 - betas, 0).float().to(dev)
    snr = abar / (1 - abar)
    params = list(te.parameters()) + list(unet.parameters()) + list(cn.parameters())
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.01, betas=(0.9, 0.99))
    ema = [p.detach().clone().float() for p in params]
    t_diff_end = T0 + a.budget - a.probe_seconds - (20 if not a.smoke else 5)
    t_start = time.time()
    dur = max(1.0, t_diff_end - t_start)
    last_save, step = time.time(), 0
    te.train(), unet.train(), cn.train()

    def save_diffusion():
        # EMA weights into temporary copies of the modules' state.
        with torch.no_grad():
            live = [p.detach().clone() for p in params]
            for p, e in zip(params, ema):
                p.copy_(e)
            save_npz(os.path.join(a.out, "unet.npz"), unet.state_dict())
            save_npz(os.path.join(a.out, "text_encoder.npz"), te.state_dict())
            save_npz(os.path.join(a.out, "controlnet.npz"), cn.state_dict())
            for p, v in zip(params, live):
                p.copy_(v)
        save_meta()

    B = a.batch
    min_steps = 3 if a.smoke else 0
    while time.time() < t_diff_end or step < min_steps:
        frac = (time.time() - t_start) / dur
        lr = a.lr * min(1.0, (step + 1) / 200) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1))))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, n, (B,), device=dev)
        x0 = lat[idx].float() * scaling
        noise = torch.randn_like(x0)
        t = torch.randint(0, 1000, (B,), device=dev)
        ab = abar[t][:, None, None, None]
        xt = (ab.sqrt() * x0 + (1 - ab).sqrt() * noise).contiguous(memory_format=cl)
        cap = ids[idx]
        drop_text = torch.rand(B, device=dev) < 0.1
        cap = torch.where(drop_text[:, None], empty_ids[None].expand(B, -1), cap)
        sk = sk_dev[idx].float()[:, None] / 255.0
        # Thicker pens sometimes: sketches from people and from the engine's preprocessors vary.
        thick = (torch.rand(B, 1, 1, 1, device=dev) < 0.3).float()
        sk = thick * F.max_pool2d(sk, 3, 1, 1) + (1 - thick) * sk
        cond = sk.expand(-1, 3, -1, -1).contiguous(memory_format=cl)
        keep_sketch = (torch.rand(B, device=dev) >= 0.3).float()[:, None, None, None]
        tf = t.float()
        with amp if amp else _null():
            ctx, _ = te(cap)
            down, mid = cn(xt, tf, ctx, cond, 1.0)
            down = [d * keep_sketch for d in down]
            pred = unet(xt, tf, ctx, down, mid * keep_sketch)
        w = torch.clamp(snr[t], max=5.0) / snr[t]
        loss = (((pred.float() - noise) ** 2).mean(dim=(1, 2, 3)) * w).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            if hasattr(torch, "_foreach_mul_"):
                torch._foreach_mul_(ema, decay)
                torch._foreach_add_(ema, [p.detach().float() for p in params], alpha=1 - decay)
            else:
                for e, p in zip(ema, params):
                    e.mul_(decay).add_(p.detach().float(), alpha=1 - decay)
        if step % 100 == 0 or (a.smoke and step % 5 == 0):
            log(f"step {step} loss {loss.item():.4f} lr {lr:.2e} t {time.time() - T0:.0f}s")
        if time.time() - last_save > a.save_every:
            meta["steps_this_run"] = step
            save_diffusion()
            last_save = time.time()
    meta["steps"] += step
    meta["steps_this_run"] = step
    save_diffusion()
    log(f"diffusion: {step} steps of batch {B} in {time.time() - t_start:.0f}s")

    # ------------------------------------------------------------ probe
    if a.probe_seconds > 0:
        probe = probe_mod.train_probe(imgs_probe, lab_dev, a.probe_seconds, dev, batch=256 if cuda else 16, log=log)
        hx, hy = zip(*eval_async.get())
        hx, hy = np.concatenate(hx), np.concatenate(hy)
        pred, _ = probe_mod.predict(probe, probe_mod.to_input(hx).to(dev))
        acc = probe_mod.accuracy(pred, hy)
        meta["probe_heldout_accuracy"] = acc
        log("probe held-out accuracy", json.dumps(acc))
        probe_mod.save(probe, os.path.join(a.out, "probe.npz"))
        save_meta()
    pool.terminate()
    log(f"done in {time.time() - T0:.0f}s")


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


if __name__ == "__main__":
    main()
