"""Procedural scenes for the starter model: a painted image, its caption and a hand-drawn sketch.

Every scene comes from one integer seed (``make_scene(seed)``), so the data set is unbounded
and reproducible. The scene is first described as a small dict of attributes (what an artist
would name: sky, house colour, where the tree stands ...), then its geometry is fixed once and
drawn twice: as a painting (gradients, jittered outlines, brush-stroke noise) and as a sketch
(wobbly pen strokes over the same layout, drawn the way a person scribbles, not exact edges).

Only numpy and PIL: runs the same on Debian's python3 and on the GPU machine.
"""
from __future__ import annotations

import math
import random
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 256

SKIES = ["day", "sunset", "night"]
HOUSE_COLOURS = ["red", "blue", "yellow", "white"]
POSITIONS = ["left", "center", "right"]
TERRAINS = ["none", "hills", "mountains"]

# The attributes the evaluation probe learns, with their classes. "none" is the absent class.
ATTRIBUTES: Dict[str, List[str]] = {
    "sky": SKIES,
    "house": ["none"] + HOUSE_COLOURS,
    "house_pos": ["none"] + POSITIONS,
    "tree": ["none", "left", "right"],
    "water": ["no", "yes"],
    "terrain": TERRAINS,
    "light": ["none", "sun", "moon"],
    "clouds": ["no", "yes"],
    "boat": ["no", "yes"],
}

_HOUSE_RGB = {
    "red": (190, 40, 35),
    "blue": (50, 80, 185),
    "yellow": (230, 195, 50),
    "white": (236, 234, 226),
}


def describe(rng: random.Random) -> Dict[str, str]:
    """Draw a scene description: the attributes, before any geometry."""
    sky = rng.choice(SKIES)
    water = rng.random() < 0.5
    d = {
        "sky": sky,
        "terrain": rng.choice(TERRAINS),
        "water": "yes" if water else "no",
        "house": rng.choice(["none"] + HOUSE_COLOURS + HOUSE_COLOURS[:2]) if rng.random() < 0.75 else "none",
        "tree": rng.choice(["none", "left", "right"]),
        "clouds": "yes" if (rng.random() < (0.5 if sky != "night" else 0.25)) else "no",
        "boat": "yes" if (water and rng.random() < 0.35) else "no",
        "light": "none",
    }
    if rng.random() < 0.7:
        d["light"] = "moon" if sky == "night" else "sun"
    d["house_pos"] = rng.choice(POSITIONS) if d["house"] != "none" else "none"
    # A tree and a house never stand on the same spot: move the tree to the free side.
    if d["tree"] != "none" and d["house_pos"] == d["tree"]:
        d["tree"] = "right" if d["tree"] == "left" else "left"
    return d


def caption(d: Dict[str, str], rng: random.Random) -> str:
    """The prompt an artist would type for this scene, e.g.
    "a red house beside a lake under a sunset sky, a tall tree on the left"."""
    sky_phrase = {
        "day": rng.choice(["under a blue sky", "on a sunny day", "under a clear day sky"]),
        "sunset": rng.choice(["under a sunset sky", "at sunset", "under an orange sunset sky"]),
        "night": rng.choice(["at night", "under a night sky", "under a starry night sky"]),
    }[d["sky"]]
    place = {"none": "in a field", "hills": "on green hills", "mountains": "below the mountains"}[d["terrain"]]
    if d["water"] == "yes":
        place = rng.choice(["beside a lake", "by a lake", "near the water"])
    if d["house"] != "none":
        subject = f"a {d['house']} house"
        if d["house_pos"] != "center" or rng.random() < 0.5:
            subject += {"left": " on the left", "right": " on the right", "center": " in the middle"}[d["house_pos"]]
        subject += " " + place
    elif d["water"] == "yes":
        subject = rng.choice(["a lake", "a calm lake", "a lake landscape"])
    elif d["terrain"] == "mountains":
        subject = rng.choice(["mountains", "a mountain landscape", "tall mountains"])
    elif d["terrain"] == "hills":
        subject = rng.choice(["green hills", "rolling hills", "a hilly landscape"])
    else:
        subject = rng.choice(["an open field", "a meadow", "a grassy field"])
    head = f"{subject} {sky_phrase}"
    extras = []
    if d["tree"] != "none":
        extras.append(f"a {rng.choice(['tall ', 'green ', ''])}tree on the {d['tree']}")
    if d["terrain"] == "mountains" and d["water"] == "yes":
        extras.append(rng.choice(["mountains in the distance", "mountains behind"]))
    if d["terrain"] == "hills" and d["water"] == "yes":
        extras.append(rng.choice(["green hills", "hills behind"]))
    if d["light"] == "sun":
        extras.append(rng.choice(["the sun", "a bright sun", "the sun in the sky"]))
    if d["light"] == "moon":
        extras.append(rng.choice(["the moon", "a full moon", "a bright moon"]))
    if d["clouds"] == "yes":
        extras.append(rng.choice(["clouds", "a few clouds", "white clouds"]))
    if d["boat"] == "yes":
        extras.append(rng.choice(["a boat on the water", "a small boat", "a sailing boat"]))
    rng.shuffle(extras)
    return ", ".join([head] + extras)


# ---------------------------------------------------------------- geometry

Stroke = List[Tuple[float, float]]


def _ridge(rng: random.Random, base: float, amp: float, jagged: bool) -> np.ndarray:
    """Heights of a hill or mountain ridge at x = 0..SIZE (one per 4 px)."""
    xs = np.linspace(0, SIZE, 65)
    if jagged:
        # Midpoint displacement gives mountain-like peaks.
        n = 65
        h = np.zeros(n)
        h[0], h[-1] = rng.uniform(-0.3, 0.5), rng.uniform(-0.3, 0.5)
        step, scale = n - 1, 1.0
        while step > 1:
            half = step // 2
            for i in range(half, n - 1, step):
                h[i] = 0.5 * (h[i - half] + h[i + half]) + rng.uniform(-scale, scale)
            step, scale = half, scale * 0.55
        h = (h - h.min()) / max(1e-6, h.max() - h.min())
    else:
        h = np.zeros_like(xs)
        for k in range(1, 4):
            h += rng.uniform(0.3, 1.0) / k * np.sin(xs / SIZE * math.pi * k * rng.uniform(0.8, 1.6) + rng.uniform(0, 6.28))
        h = (h - h.min()) / max(1e-6, h.max() - h.min())
    return base - amp * h


def layout(d: Dict[str, str], rng: random.Random) -> Dict:
    """Fix every shape's position and size for a description."""
    g: Dict = {"d": d}
    horizon = rng.uniform(0.5, 0.64) * SIZE
    g["horizon"] = horizon
    if d["terrain"] == "mountains":
        g["ridge"] = _ridge(rng, horizon + 2, rng.uniform(0.22, 0.36) * SIZE, True)
    elif d["terrain"] == "hills":
        g["ridge"] = _ridge(rng, horizon + 2, rng.uniform(0.07, 0.14) * SIZE, False)
    if d["water"] == "yes":
        top = horizon + rng.uniform(0.02, 0.08) * SIZE
        g["lake"] = (rng.uniform(-0.3, 0.15) * SIZE, top, rng.uniform(0.85, 1.3) * SIZE, rng.uniform(0.86, 1.0) * SIZE)
    slots = {"left": 0.2, "center": 0.5, "right": 0.8}
    if d["light"] != "none":
        cx = rng.choice([rng.uniform(0.12, 0.3), rng.uniform(0.4, 0.6), rng.uniform(0.7, 0.88)]) * SIZE
        cy = rng.uniform(0.1, 0.28) * SIZE if d["sky"] != "sunset" else horizon - rng.uniform(0.1, 0.22) * SIZE
        g["light"] = (cx, cy, rng.uniform(0.05, 0.085) * SIZE)
    if d["clouds"] == "yes":
        g["clouds"] = [(rng.uniform(0.05, 0.95) * SIZE, rng.uniform(0.06, 0.3) * SIZE, rng.uniform(0.1, 0.18) * SIZE) for _ in range(rng.randint(1, 3))]
    ground_y = (g["lake"][1] - 4) if "lake" in g else horizon + rng.uniform(0.12, 0.3) * SIZE
    if d["house"] != "none":
        w = rng.uniform(0.18, 0.26) * SIZE
        h = w * rng.uniform(0.6, 0.85)
        cx = (slots[d["house_pos"]] + rng.uniform(-0.05, 0.05)) * SIZE
        base = max(ground_y, horizon + h * 0.35) + rng.uniform(0, 0.05) * SIZE
        if "lake" in g:
            # Houses stand on the shore, just above the water.
            base = g["lake"][1] + 2
        g["house"] = (cx - w / 2, base - h, cx + w / 2, base, h * rng.uniform(0.45, 0.7))
    if d["tree"] != "none":
        x = (0.1 if d["tree"] == "left" else 0.9) * SIZE + rng.uniform(-0.05, 0.05) * SIZE
        height = rng.uniform(0.3, 0.48) * SIZE
        base = (g["lake"][1] + 6) if "lake" in g else horizon + rng.uniform(0.15, 0.35) * SIZE
        g["tree"] = (x, base, height, height * rng.uniform(0.28, 0.4))
    if d["boat"] == "yes":
        lx0, ly0, lx1, ly1 = g["lake"]
        bx = rng.uniform(max(lx0, 0) + 30, min(lx1, SIZE) - 30)
        g["boat"] = (bx, rng.uniform(ly0 + 20, min(ly1, SIZE) - 25), rng.uniform(0.09, 0.14) * SIZE)
    return g


# ---------------------------------------------------------------- painting

_SKY_COLOURS = {
    "day": [((90, 150, 225), (175, 215, 245))],
    "sunset": [((70, 60, 130), (245, 140, 60)), ((120, 60, 110), (250, 170, 80)), ((60, 70, 140), (240, 110, 70))],
    "night": [((8, 10, 35), (30, 40, 85)), ((5, 8, 25), (40, 35, 80))],
}


def _jit(c, rng: random.Random, amt: int = 18):
    return tuple(int(max(0, min(255, v + rng.randint(-amt, amt)))) for v in c)


def _ellipse_pts(cx, cy, rx, ry, rng: random.Random, n=24, wob=0.06):
    ph = rng.uniform(0, 6.28)
    return [(cx + rx * (1 + wob * math.sin(3 * a + ph) + rng.uniform(-wob, wob)) * math.cos(a),
             cy + ry * (1 + wob * math.cos(2 * a + ph) + rng.uniform(-wob, wob)) * math.sin(a))
            for a in np.linspace(0, 2 * math.pi, n, endpoint=False)]


def _shade(rgb, f):
    return tuple(int(max(0, min(255, v * f))) for v in rgb)


def paint(g: Dict, rng: random.Random, nrng: np.random.Generator) -> Image.Image:
    d = g["d"]
    night = d["sky"] == "night"
    top, bottom = rng.choice(_SKY_COLOURS[d["sky"]])
    top, bottom = _jit(top, rng), _jit(bottom, rng)
    horizon = g["horizon"]
    t = np.clip(np.arange(SIZE) / max(horizon, 1), 0, 1)[:, None, None]
    sky = (np.array(top)[None, None] * (1 - t) + np.array(bottom)[None, None] * t) * np.ones((SIZE, SIZE, 1))
    img = Image.fromarray(sky.astype(np.uint8))
    dr = ImageDraw.Draw(img)
    if night:
        for _ in range(rng.randint(15, 40)):
            x, y = rng.uniform(0, SIZE), rng.uniform(0, horizon * 0.9)
            r = rng.uniform(0.6, 1.4)
            dr.ellipse([x - r, y - r, x + r, y + r], fill=_jit((235, 235, 210), rng, 15))
    if "light" in g:
        cx, cy, r = g["light"]
        if d["light"] == "sun":
            col = (255, 236, 120) if d["sky"] == "day" else (255, 170, 70)
            glow = _shade(col, 0.95)
            dr.ellipse([cx - r * 1.6, cy - r * 1.6, cx + r * 1.6, cy + r * 1.6], fill=tuple(int(0.5 * a + 0.5 * b) for a, b in zip(glow, bottom)))
            dr.ellipse([cx - r, cy - r, cx + r, cy + r], fill=_jit(col, rng, 8))
        else:
            dr.ellipse([cx - r * 1.5, cy - r * 1.5, cx + r * 1.5, cy + r * 1.5], fill=(45, 55, 100))
            dr.ellipse([cx - r, cy - r, cx + r, cy + r], fill=_jit((235, 232, 205), rng, 8))
    for (cx, cy, w) in g.get("clouds", []):
        base = {"day": (245, 245, 250), "sunset": (245, 190, 170), "night": (90, 95, 125)}[d["sky"]]
        for k in range(5):
            ox = (k - 2) * w * 0.3 + rng.uniform(-4, 4)
            ry = w * rng.uniform(0.22, 0.35)
            dr.polygon(_ellipse_pts(cx + ox, cy + rng.uniform(-3, 3), w * 0.35, ry, rng, wob=0.1), fill=_jit(base, rng, 10))
    ground = _jit((75, 140, 60) if not night else (25, 50, 30), rng, 20)
    if d["sky"] == "sunset":
        ground = _shade(ground, 0.85)
    dr.rectangle([0, horizon, SIZE, SIZE], fill=ground)
    if "ridge" in g:
        xs = np.linspace(0, SIZE, len(g["ridge"]))
        pts = [(float(x), float(y)) for x, y in zip(xs, g["ridge"])] + [(SIZE, horizon + 6), (0, horizon + 6)]
        if d["terrain"] == "mountains":
            col = _jit((110, 110, 135) if not night else (40, 45, 70), rng, 15)
            if d["sky"] == "sunset":
                col = _jit((120, 85, 110), rng, 12)
            dr.polygon(pts, fill=col)
            # Snow on the peaks: the ridge clipped to its top band.
            ys = g["ridge"]
            snow_line = ys.min() + (horizon - ys.min()) * 0.28
            for i in range(len(xs) - 1):
                if ys[i] < snow_line and ys[i + 1] < snow_line + 8:
                    dr.polygon([(xs[i], ys[i]), (xs[i + 1], ys[i + 1]), (xs[i + 1], min(snow_line, ys[i + 1] + 10)), (xs[i], min(snow_line, ys[i] + 10))],
                               fill=(235, 235, 240) if not night else (120, 125, 150))
        else:
            dr.polygon(pts, fill=_shade(ground, rng.uniform(0.78, 0.92)))
        dr.rectangle([0, horizon + 4, SIZE, SIZE], fill=ground)
    if "lake" in g:
        x0, y0, x1, y1 = g["lake"]
        wcol = {"day": (60, 120, 200), "sunset": (150, 100, 130), "night": (20, 30, 70)}[d["sky"]]
        wcol = _jit(wcol, rng, 15)
        dr.polygon(_ellipse_pts((x0 + x1) / 2, y1 + (y1 - y0) * 0.25, (x1 - x0) / 2, (y1 - y0) * 1.25, rng, n=40, wob=0.02), fill=wcol)
        # Keep the far shore straight-ish: the lake is a band up to y0.
        for _ in range(rng.randint(6, 14)):
            yy = rng.uniform(y0 + 4, SIZE)
            xx = rng.uniform(x0, x1)
            dr.line([(xx, yy), (xx + rng.uniform(10, 35), yy)], fill=_shade(wcol, rng.uniform(1.15, 1.35)), width=1)
    if "boat" in g:
        bx, by, bw = g["boat"]
        hull = _jit((120, 70, 40), rng, 15)
        dr.polygon([(bx - bw / 2, by), (bx + bw / 2, by), (bx + bw * 0.35, by + bw * 0.25), (bx - bw * 0.35, by + bw * 0.25)], fill=hull)
        dr.polygon([(bx, by - 2), (bx, by - bw * 0.9), (bx + bw * 0.42, by - 2)], fill=(240, 238, 225) if not night else (150, 150, 160))
        dr.line([(bx, by), (bx, by - bw * 0.95)], fill=(60, 40, 30), width=1)
    if "house" in g:
        x0, y0, x1, y1, roof = g["house"]
        wall = _jit(_HOUSE_RGB[d["house"]], rng, 14)
        if night:
            wall = _shade(wall, 0.55)
        dr.polygon([(x0 + rng.uniform(-1, 1), y0), (x1 + rng.uniform(-1, 1), y0), (x1, y1), (x0, y1)], fill=wall)
        rcol = _jit(rng.choice([(110, 45, 35), (70, 60, 60), (130, 80, 50)]), rng, 12)
        if night:
            rcol = _shade(rcol, 0.6)
        ov = (x1 - x0) * 0.08
        dr.polygon([(x0 - ov, y0 + 1), ((x0 + x1) / 2 + rng.uniform(-2, 2), y0 - roof), (x1 + ov, y0 + 1)], fill=rcol)
        w = x1 - x0
        dx = x0 + w * rng.uniform(0.4, 0.55)
        dr.rectangle([dx, y1 - (y1 - y0) * 0.55, dx + w * 0.16, y1], fill=_shade(rcol, 0.8))
        win = (250, 220, 110) if night else (150, 190, 220)
        wx = x0 + w * 0.14
        dr.rectangle([wx, y0 + (y1 - y0) * 0.25, wx + w * 0.18, y0 + (y1 - y0) * 0.5], fill=win)
    if "tree" in g:
        x, base, height, crown = g["tree"]
        trunk = _jit((95, 60, 35), rng, 12)
        dr.polygon([(x - crown * 0.13, base), (x + crown * 0.13, base), (x + crown * 0.08, base - height * 0.55), (x - crown * 0.08, base - height * 0.55)], fill=trunk)
        leaf = _jit((40, 110, 45) if not night else (15, 45, 25), rng, 18)
        cy = base - height + crown
        for k in range(7):
            ox, oy = rng.uniform(-0.5, 0.5) * crown, rng.uniform(-0.6, 0.6) * crown
            rr = crown * rng.uniform(0.5, 0.7)
            dr.ellipse([x + ox - rr, cy + oy - rr, x + ox + rr, cy + oy + rr], fill=_shade(leaf, rng.uniform(0.8, 1.2)))
    return _brushwork(img, nrng)


def _brushwork(img: Image.Image, nrng: np.random.Generator) -> Image.Image:
    """Painterly texture: soft colour blotches plus short horizontal-ish strokes, so the model
    learns paint, not flat vector fills."""
    a = np.asarray(img, dtype=np.float32)
    low = nrng.standard_normal((SIZE // 16, SIZE // 16, 3)).astype(np.float32)
    low = np.asarray(Image.fromarray(((low * 40) + 128).clip(0, 255).astype(np.uint8)).resize((SIZE, SIZE), Image.BICUBIC), np.float32) - 128
    # Strokes: noise stretched along x, so texture reads as brush marks.
    st = nrng.standard_normal((SIZE // 2, SIZE // 8)).astype(np.float32)
    st = np.asarray(Image.fromarray(((st * 40) + 128).clip(0, 255).astype(np.uint8)).resize((SIZE, SIZE), Image.BILINEAR), np.float32) - 128
    a = a + 0.25 * low + 0.22 * st[..., None] + nrng.standard_normal(a.shape).astype(np.float32) * 3
    out = Image.fromarray(a.clip(0, 255).astype(np.uint8))
    return out.filter(ImageFilter.SMOOTH)


# ---------------------------------------------------------------- sketch

def _wobble(pts: Stroke, rng: random.Random, amt: float) -> Stroke:
    """Resample a polyline and push it around smoothly, as a hand would."""
    out: Stroke = []
    ph1, ph2 = rng.uniform(0, 6.28), rng.uniform(0, 6.28)
    f = rng.uniform(0.02, 0.05)
    off = (rng.uniform(-amt, amt), rng.uniform(-amt, amt))
    for i in range(len(pts) - 1):
        (xa, ya), (xb, yb) = pts[i], pts[i + 1]
        n = max(2, int(math.hypot(xb - xa, yb - ya) / 6))
        for k in range(n):
            s = k / n
            x, y = xa + (xb - xa) * s, ya + (yb - ya) * s
            out.append((x + off[0] + amt * 0.6 * math.sin(f * y + ph1) + rng.uniform(-0.6, 0.6),
                        y + off[1] + amt * 0.6 * math.sin(f * x + ph2) + rng.uniform(-0.6, 0.6)))
    out.append((pts[-1][0] + off[0], pts[-1][1] + off[1]))
    return out


def strokes(g: Dict, rng: random.Random) -> List[Stroke]:
    d = g["d"]
    S: List[Stroke] = []
    horizon = g["horizon"]
    if "ridge" in g:
        xs = np.linspace(0, SIZE, len(g["ridge"]))
        S.append([(float(x), float(y)) for x, y in zip(xs[::2], g["ridge"][::2])])
    else:
        S.append([(0, horizon), (SIZE, horizon)])
    if "lake" in g:
        x0, y0, x1, y1 = g["lake"]
        cx, cy, rx, ry = (x0 + x1) / 2, y1 + (y1 - y0) * 0.25, (x1 - x0) / 2, (y1 - y0) * 1.25
        pts = [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in np.linspace(math.pi, 2 * math.pi, 30)]
        S.append([(x, y) for x, y in pts])
    if "light" in g:
        cx, cy, r = g["light"]
        S.append([(cx + r * math.cos(a), cy + r * math.sin(a)) for a in np.linspace(0, 2 * math.pi + 0.4, 14)])
        if d["light"] == "sun" and rng.random() < 0.5:
            for a in np.linspace(0, 2 * math.pi, 8, endpoint=False):
                S.append([(cx + r * 1.35 * math.cos(a), cy + r * 1.35 * math.sin(a)), (cx + r * 1.75 * math.cos(a), cy + r * 1.75 * math.sin(a))])
    for (cx, cy, w) in g.get("clouds", []):
        # A cloud as a person draws it: a row of bumps over a flat base.
        pts = [(cx - w * 0.8, cy + w * 0.12)]
        for k in range(3):
            bx = cx - w * 0.8 + w * 0.53 * (k + 0.5)
            pts += [(bx + w * 0.27 * math.cos(a), cy - w * 0.02 + w * 0.25 * math.sin(a)) for a in np.linspace(math.pi, 2 * math.pi, 6)]
        pts += [(cx + w * 0.8, cy + w * 0.12), (cx - w * 0.8, cy + w * 0.12)]
        S.append(pts)
    if "house" in g:
        x0, y0, x1, y1, roof = g["house"]
        S.append([(x0, y0), (x0, y1), (x1, y1), (x1, y0), (x0, y0)])
        ov = (x1 - x0) * 0.08
        S.append([(x0 - ov, y0), ((x0 + x1) / 2, y0 - roof), (x1 + ov, y0)])
        w = x1 - x0
        dx = x0 + w * 0.47
        S.append([(dx, y1), (dx, y1 - (y1 - y0) * 0.55), (dx + w * 0.16, y1 - (y1 - y0) * 0.55), (dx + w * 0.16, y1)])
    if "tree" in g:
        x, base, height, crown = g["tree"]
        S.append([(x - crown * 0.12, base), (x - crown * 0.08, base - height * 0.5)])
        S.append([(x + crown * 0.12, base), (x + crown * 0.08, base - height * 0.5)])
        cy = base - height + crown
        S.append([(x + crown * 1.05 * math.cos(a), cy + crown * 1.1 * math.sin(a)) for a in np.linspace(0.5 * math.pi, 2.5 * math.pi + 0.3, 18)])
    if "boat" in g:
        bx, by, bw = g["boat"]
        S.append([(bx - bw / 2, by), (bx + bw / 2, by), (bx + bw * 0.35, by + bw * 0.25), (bx - bw * 0.35, by + bw * 0.25), (bx - bw / 2, by)])
        S.append([(bx, by), (bx, by - bw * 0.9), (bx + bw * 0.42, by)])
    return S


def draw_sketch(S: List[Stroke], rng: random.Random, jitter: float = 3.0) -> Image.Image:
    """White pen strokes on black (ControlNet's scribble convention), greyscale."""
    img = Image.new("L", (SIZE, SIZE), 0)
    dr = ImageDraw.Draw(img)
    for s in S:
        pts = _wobble(s, rng, jitter)
        dr.line(pts, fill=255, width=rng.choice([2, 3]), joint="curve")
    return img


def make_scene(seed: int) -> Tuple[Image.Image, Image.Image, str, Dict[str, str]]:
    """(painting RGB 256², sketch L 256² white-on-black, caption, description) for a seed."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    d = describe(rng)
    g = layout(d, rng)
    img = paint(g, rng, nrng)
    sk = draw_sketch(strokes(g, rng), rng)
    return img, sk, caption(d, rng), d


def labels(d: Dict[str, str]) -> List[int]:
    """Class index per attribute, in ATTRIBUTES order (the probe's targets)."""
    return [ATTRIBUTES[k].index(d[k]) for k in ATTRIBUTES]


# Seed ranges: training draws from TRAIN_SEED0 on; evaluation's held-out "real" scenes start at
# EVAL_SEED0 (a second set at EVAL_SEED0 + 50_000 gives the real-vs-real ceiling).
TRAIN_SEED0 = 1_000_000
EVAL_SEED0 = 0


def batch_small(seeds, size: int = 64):
    """Images at probe size plus labels only (cheap to pickle between processes)."""
    imgs, _, _, labs = batch(seeds, size)
    return imgs, labs


def batch(seeds, size: int = SIZE):
    """Arrays for a list of seeds: images uint8 [N,size,size,3], sketches uint8 [N,size,size],
    captions, labels int64 [N, len(ATTRIBUTES)]."""
    imgs, sks, caps, labs = [], [], [], []
    for s in seeds:
        im, sk, c, d = make_scene(int(s))
        if size != SIZE:
            im = im.resize((size, size), Image.BOX)
            sk = sk.resize((size, size), Image.BOX)
        imgs.append(np.asarray(im))
        sks.append(np.asarray(sk))
        caps.append(c)
        labs.append(labels(d))
    return np.stack(imgs), np.stack(sks), caps, np.array(labs, dtype=np.int64)


if __name__ == "__main__":
    import argparse
    import os
    import time

    ap = argparse.ArgumentParser(description="Write a few scenes (painting, sketch, caption) to look at.")
    ap.add_argument("--out", default="training/runs/scenes")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    sheet = Image.new("RGB", (SIZE * 4, SIZE * 2 * ((a.n + 3) // 4)), "white")
    for i in range(a.n):
        im, sk, c, d = make_scene(a.seed + i)
        sheet.paste(im, ((i % 4) * SIZE, (i // 4) * 2 * SIZE))
        sheet.paste(Image.eval(sk, lambda v: 255 - v).convert("RGB"), ((i % 4) * SIZE, (i // 4) * 2 * SIZE + SIZE))
        print(a.seed + i, c)
    sheet.save(os.path.join(a.out, "sheet.png"))
    print(f"{(time.time() - t0) / a.n * 1000:.1f} ms per scene")
