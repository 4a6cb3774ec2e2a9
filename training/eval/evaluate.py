"""Evaluate the starter model through Atelier's engine (the exported ONNX files, not PyTorch).

    /usr/bin/python3 training/eval/evaluate.py --n 48          # writes training/eval/report.json, REPORT.md, samples.png

For N held-out scenes (seeds scenes.EVAL_SEED0 + i, never used in training) it writes the
caption and the sketch (dark pen on white paper, as an artist draws it), runs
`node bin/atelier.mjs generate --model resources/models/starter --control scribble:SKETCH
--controlnet resources/models/starter/controlnet --preprocess scribble --json` for each, and
measures:

- prompt adherence: share of the prompted attributes (sky, and each object the caption names
  with its colour/side) that the probe finds in the generated image;
- sketch adherence: edge F1 between the image's edges and the sketch's strokes, with a
  tolerance of TOL px (strokes are jittered by hand, so no metric should want pixel-exact);
- Fréchet distance in the probe's 256-d feature space (FID's formula, Heusel et al. 2017)
  between the generated images and a second held-out set of real scenes;
and the same three numbers for the real scenes themselves (real vs real) as the ceiling.
It also inpaints a masked region of a real scene and reports how well it blends.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import linalg, ndimage

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "../.."))
sys.path.insert(0, os.path.join(ROOT, "training/starter"))
import probe as probe_mod  # noqa: E402
import scenes  # noqa: E402

TOL = 6  # px at 256×256


# ---------------------------------------------------------------- metrics

def edges(img: np.ndarray, sigma: float = 1.5, thresh: float = 0.02) -> np.ndarray:
    """Boolean edge map: luma (in [0,1]) smoothed with a Gaussian of sigma px, Sobel gradient
    magnitude per pixel (the 3×3 Sobel kernels sum to 8× a unit step) above thresh. Smoothing
    keeps painterly texture from counting as edges; sigma and thresh were chosen on real
    scenes so that an image scores well against its own sketch (F1 ≈ 0.70) and badly against
    another scene's (≈ 0.26)."""
    y = (0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]) / 255.0
    y = ndimage.gaussian_filter(y, sigma)
    mag = np.hypot(ndimage.sobel(y, 0), ndimage.sobel(y, 1)) / 8.0
    return mag > thresh


def edge_f1(img: np.ndarray, sketch_white_on_black: np.ndarray, tol: int = TOL) -> float:
    """F1 of image edges vs sketch strokes, each matched within tol px (Martin et al.'s
    boundary F-measure, with a distance tolerance instead of one-to-one matching)."""
    e = edges(img)
    s = sketch_white_on_black > 127
    if not e.any() or not s.any():
        return 0.0
    dist_to_s = ndimage.distance_transform_edt(~s)
    dist_to_e = ndimage.distance_transform_edt(~e)
    precision = float((dist_to_s[e] <= tol).mean())
    recall = float((dist_to_e[s] <= tol).mean())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def prompted(d: dict) -> list:
    """Indices (into scenes.ATTRIBUTES) of the attributes a caption of d asks for."""
    keys = list(scenes.ATTRIBUTES)
    out = [keys.index("sky")]
    if d["house"] != "none":
        out += [keys.index("house"), keys.index("house_pos")]
    for k, absent in [("tree", "none"), ("water", "no"), ("terrain", "none"), ("light", "none"), ("clouds", "no"), ("boat", "no")]:
        if d[k] != absent:
            out.append(keys.index(k))
    return out


def adherence(pred: np.ndarray, labels: np.ndarray, descs: list) -> float:
    hits = total = 0
    for p, y, d in zip(pred, labels, descs):
        for i in prompted(d):
            hits += int(p[i] == y[i])
            total += 1
    return hits / max(1, total)


# ---------------------------------------------------------------- engine

def generate(args, prompt: str, seed: int, out_dir: str, extra: list) -> tuple:
    cmd = ["node", os.path.join(ROOT, "bin/atelier.mjs"), "generate", "--model", args.model, "--prompt", prompt,
           "--seed", str(seed), "--steps", str(args.steps), "--cfg", str(args.cfg), "--sampler", args.sampler,
           "--device", "cpu", "--out", out_dir, "--json"] + extra
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "ATELIER_HOME": args.home})
    if r.returncode != 0:
        raise SystemExit(f"engine failed ({' '.join(cmd)}):\n{r.stderr[-2000:]}")
    info = json.loads(r.stdout[r.stdout.index("{"):])
    img = np.asarray(Image.open(info["files"][0]).convert("RGB"))
    return img, info.get("timings", {})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--model", default=os.path.join(ROOT, "resources/models/starter"))
    ap.add_argument("--probe", default=os.path.join(ROOT, "resources/models/eval-probe/probe.npz"))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cfg", type=float, default=7.0)
    ap.add_argument("--sampler", default="euler_a")
    ap.add_argument("--preprocess", default="scribble", choices=["scribble", "none"],
                    help="scribble: dark-on-white sketch through the engine's scribble map (the artist's path); none: the white-on-black map as trained")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--real-ref", type=int, default=500, help="second held-out real set for the Fréchet distance")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="starter-eval-")
    a.home = os.path.join(work, "home")
    os.makedirs(a.home)
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()

    reals, gens, sks, caps, descs, labels, timings = [], [], [], [], [], [], []
    for i in range(a.n):
        seed = scenes.EVAL_SEED0 + i
        img, sk, cap, d = scenes.make_scene(seed)
        sk_path = os.path.join(work, f"sketch-{i}.png")
        if a.preprocess == "scribble":
            Image.eval(sk, lambda v: 255 - v).save(sk_path)  # pen on paper
        else:
            sk.convert("RGB").save(sk_path)
        extra = ["--control", f"scribble:{sk_path}", "--controlnet", os.path.join(a.model, "controlnet"), "--preprocess", a.preprocess]
        gen, tm = generate(a, cap, 1000 + i, os.path.join(work, "out"), extra)
        reals.append(np.asarray(img))
        gens.append(gen)
        sks.append(np.asarray(sk))
        caps.append(cap)
        descs.append(d)
        labels.append(scenes.labels(d))
        timings.append(tm)
        print(f"[{i + 1}/{a.n}] {time.time() - t0:.0f}s {cap}", flush=True)
    reals, gens, sks, labels = np.stack(reals), np.stack(gens), np.stack(sks), np.array(labels)

    probe = probe_mod.load(a.probe)
    import torch
    torch.set_num_threads(2)
    pred_g, feat_g = probe_mod.predict(probe, probe_mod.to_input(gens))
    pred_r, feat_r = probe_mod.predict(probe, probe_mod.to_input(reals))
    ref_imgs, ref_labels = scenes.batch_small(list(range(scenes.EVAL_SEED0 + 50_000, scenes.EVAL_SEED0 + 50_000 + a.real_ref)))
    pred_ref, feat_ref = probe_mod.predict(probe, probe_mod.to_input(ref_imgs))

    f1_g = [edge_f1(g, s) for g, s in zip(gens, sks)]
    f1_r = [edge_f1(r, s) for r, s in zip(reals, sks)]
    report = {
        "model": os.path.relpath(a.model, ROOT),
        "images": a.n,
        "settings": {"steps": a.steps, "cfg": a.cfg, "sampler": a.sampler, "size": "256x256", "control": f"scribble ControlNet, preprocess {a.preprocess}", "device": "cpu"},
        "probe_accuracy_heldout_real": probe_mod.accuracy(pred_ref, ref_labels),
        "prompt_adherence": {"generated": adherence(pred_g, labels, descs), "real_ceiling": adherence(pred_r, labels, descs)},
        "per_attribute_generated": {k: float((pred_g[:, i] == labels[:, i]).mean()) for i, k in enumerate(scenes.ATTRIBUTES)},
        "sketch_edge_f1": {"generated": float(np.mean(f1_g)), "real_ceiling": float(np.mean(f1_r)), "tolerance_px": TOL},
        "frechet_probe_features": {"generated_vs_real": frechet(feat_g, feat_ref), "real_vs_real_ceiling": frechet(feat_r, feat_ref),
                                    "reference_set": a.real_ref},
        "engine_timings_ms_median": {k: float(np.median([t[k] for t in timings if k in t])) for k in (timings[0] if timings else {})},
        "wall_seconds": round(time.time() - t0, 1),
    }
    report["inpainting"] = inpaint_check(a, work)
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    grid(os.path.join(a.out, "samples.png"), gens, sks, caps, min(12, a.n))
    print(json.dumps(report, indent=2))


def inpaint_check(a, work) -> dict:
    """Repaint a box of a held-out scene (white = repaint) and compare the seam: the mean colour
    step across the mask's border against the mean step between neighbouring pixels elsewhere."""
    img, sk, cap, d = scenes.make_scene(scenes.EVAL_SEED0 + 777)
    init = os.path.join(work, "inpaint-init.png")
    mask_path = os.path.join(work, "inpaint-mask.png")
    img.save(init)
    mask = Image.new("L", img.size, 0)
    box = (96, 40, 176, 120)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    mask.save(mask_path)
    out, _ = generate(a, cap, 4242, os.path.join(work, "inpaint"), ["--init", init, "--mask", mask_path])
    m = np.asarray(mask) > 127
    ring_in = m & ~ndimage.binary_erosion(m)
    ring_out = ndimage.binary_dilation(m) & ~m
    o = out.astype(np.float32)
    seam = float(np.abs(o[ring_in].mean(0) - o[ring_out].mean(0)).mean())
    base = np.abs(np.diff(o, axis=1)).mean()
    inside_change = float(np.abs(o[m] - np.asarray(img, np.float32)[m]).mean())
    Image.fromarray(np.concatenate([np.asarray(img), np.stack([np.asarray(mask)] * 3, -1), out], 1)).save(os.path.join(a.out, "inpaint.png"))
    return {"prompt": cap, "box": box, "seam_mean_colour_step": round(seam, 2), "typical_neighbour_step": round(float(base), 2),
            "mean_change_inside_mask": round(inside_change, 2), "image": "inpaint.png (init | mask | result)"}


def grid(path, gens, sks, caps, k):
    cell, cols = 192, 4
    rows = (k + cols - 1) // cols
    W, H = cell * 2 * cols, (cell + 44) * rows
    sheet = Image.new("RGB", (W, H), "white")
    dr = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i in range(k):
        x, y = (i % cols) * 2 * cell, (i // cols) * (cell + 44)
        sheet.paste(Image.fromarray(255 - sks[i]).convert("RGB").resize((cell, cell)), (x, y))
        sheet.paste(Image.fromarray(gens[i]).resize((cell, cell), Image.LANCZOS), (x + cell, y))
        words, line, lines = caps[i].split(), "", []
        for w in words:
            if len(line) + len(w) + 1 > 62:
                lines.append(line)
                line = w
            else:
                line = (line + " " + w).strip()
        lines.append(line)
        for j, ln in enumerate(lines[:3]):
            dr.text((x + 4, y + cell + 2 + 13 * j), ln, fill=(0, 0, 0), font=font)
    sheet.save(path)


if __name__ == "__main__":
    main()
