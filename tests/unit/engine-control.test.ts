import { describe, expect, it } from 'vitest';
import {
  binarizeMask,
  canny,
  createField,
  dilate,
  dilateMask,
  featherMask,
  gaussianKernel,
  invertMask,
  maskBoundingBox,
  maskFromImage,
  preprocessControl,
  scribbleMap,
} from '../../app/engine/control/index.js';
import { createImage } from '../../app/engine/image.js';
import type { RgbaImage } from '../../app/engine/pipeline/types.js';

/** Opaque image filled with `bg`, with the rectangle [x0,x1)×[y0,y1) painted `fg`. */
function rectImage(w: number, h: number, x0: number, y0: number, x1: number, y1: number, fg: number, bg: number): RgbaImage {
  const img = createImage(w, h, [bg, bg, bg, 255]);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) img.data.set([fg, fg, fg, 255], (y * w + x) * 4);
  return img;
}

function edgePixels(map: { width: number; data: Uint8Array }): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  map.data.forEach((v, p) => {
    if (v) out.push([p % map.width, Math.floor(p / map.width)]);
  });
  return out;
}

describe('canny', () => {
  it('turns a white square on black into its one-pixel outline', () => {
    // Square occupies x,y in [10, 22). With OpenCV's tie rule the edge lands on the dark side.
    const edges = canny(rectImage(32, 32, 10, 10, 22, 22, 255, 0), { low: 100, high: 200 });
    const pixels = edgePixels(edges);
    expect(pixels.length).toBeGreaterThan(40);
    for (const [x, y] of pixels) {
      // Every edge pixel lies on a ring within one pixel of the square's boundary…
      const dOut = Math.max(9 - x, x - 22, 9 - y, y - 22);
      expect(dOut).toBeLessThanOrEqual(0);
      const inside = x >= 11 && x <= 20 && y >= 11 && y <= 20;
      expect(inside).toBe(false);
    }
    // …and each side's middle run is covered exactly once (one pixel thick).
    for (let t = 12; t <= 19; t++) {
      const row = pixels.filter(([, y]) => y === t).map(([x]) => x).sort((a, b) => a - b);
      expect(row).toEqual([9, 21]);
      const col = pixels.filter(([x]) => x === t).map(([, y]) => y).sort((a, b) => a - b);
      expect(col).toEqual([9, 21]);
    }
  });

  it('keeps strong edges and drops weak ones by threshold', () => {
    // Left square: contrast 255 (L1 |G| = 1020 across its sides); right square: contrast 30
    // (|G| = 120 across its sides, 180 at its inner corners where Gx = Gy = 90).
    const img = rectImage(64, 32, 8, 8, 24, 24, 255, 0);
    for (let y = 8; y < 24; y++) for (let x = 40; x < 56; x++) img.data.set([30, 30, 30, 255], (y * 64 + x) * 4);
    const strongOnly = edgePixels(canny(img, { low: 100, high: 200 }));
    expect(strongOnly.some(([x]) => x < 32)).toBe(true);
    expect(strongOnly.some(([x]) => x >= 32)).toBe(false);
    const both = edgePixels(canny(img, { low: 100, high: 150 }));
    expect(both.some(([x]) => x >= 32)).toBe(true);
  });

  it('keeps a weak edge only where it touches a strong one (hysteresis)', () => {
    // One vertical step whose contrast is 255 in the top half and 40 in the bottom half.
    const img = createImage(32, 32, [0, 0, 0, 255]);
    for (let y = 0; y < 32; y++) for (let x = 16; x < 32; x++) img.data.set(y < 16 ? [255, 255, 255, 255] : [40, 40, 40, 255], (y * 32 + x) * 4);
    const connected = edgePixels(canny(img, { low: 100, high: 500 }));
    expect(connected.some(([, y]) => y > 24)).toBe(true); // weak part kept through the strong part
    const isolated = createImage(32, 32, [0, 0, 0, 255]);
    for (let y = 0; y < 32; y++) for (let x = 16; x < 32; x++) isolated.data.set([40, 40, 40, 255], (y * 32 + x) * 4);
    expect(edgePixels(canny(isolated, { low: 100, high: 500 }))).toEqual([]);
  });

  it('measures L2 magnitude when asked: a diagonal step passes a threshold only L1 reaches', () => {
    // Diagonal step x + y >= 32: Gx = Gy = 765 inside the transition → L1 1530, L2 ≈ 1082.
    const img = createImage(32, 32, [0, 0, 0, 255]);
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) if (x + y >= 32) img.data.set([255, 255, 255, 255], (y * 32 + x) * 4);
    expect(edgePixels(canny(img, { low: 1200, high: 1200 })).length).toBeGreaterThan(0);
    expect(edgePixels(canny(img, { low: 1200, high: 1200, l2Gradient: true }))).toEqual([]);
  });

  it('finds an edge between equally bright colours per channel, as cv2.Canny on RGB does, but not in luma', () => {
    // Left (200, 0, 0) and right (0, 102, 0) have about the same BT.601 luma (59.8 vs 59.9).
    const img = createImage(32, 16, [200, 0, 0, 255]);
    for (let y = 0; y < 16; y++) for (let x = 16; x < 32; x++) img.data.set([0, 102, 0, 255], (y * 32 + x) * 4);
    const colour = edgePixels(canny(img, { low: 100, high: 200 }));
    expect(colour.length).toBeGreaterThan(0);
    expect(colour.every(([x]) => x === 15)).toBe(true);
    expect(edgePixels(canny(img, { low: 100, high: 200, gray: true }))).toEqual([]);
  });

  it('refuses low above high instead of swapping them', () => {
    expect(() => canny(createImage(8, 8, [0, 0, 0, 255]), { low: 200, high: 100 })).toThrow(/low threshold 200 exceeds/);
  });

  it('yields a 3-channel white-on-black opaque control map', () => {
    const map = preprocessControl(rectImage(32, 32, 10, 10, 22, 22, 255, 0), { preprocess: 'canny', cannyLow: 100, cannyHigh: 200 });
    for (let i = 0; i < map.data.length; i += 4) {
      expect(map.data[i + 3]).toBe(255);
      expect(map.data[i]).toBe(map.data[i + 1]);
      expect(map.data[i]).toBe(map.data[i + 2]);
      expect([0, 255]).toContain(map.data[i]);
    }
  });
});

describe('scribble', () => {
  it('maps dark strokes on transparent paper to white lines on black, widened to the line width', () => {
    const sketch = createImage(64, 64, [255, 0, 0, 0]); // transparent (red RGB must not count)
    for (let x = 10; x < 54; x++) sketch.data.set([0, 0, 0, 255], (32 * 64 + x) * 4); // 1-px black line at y = 32
    const map = scribbleMap(sketch, { lineWidth: 5, threshold: 0.5 });
    const at = (x: number, y: number) => map.data[(y * 64 + x) * 4]!;
    for (let y = 30; y <= 34; y++) expect(at(32, y)).toBe(255);
    expect(at(32, 29)).toBe(0);
    expect(at(32, 35)).toBe(0);
    expect(at(32, 5)).toBe(0);
    expect(map.data[(5 * 64 + 5) * 4 + 3]).toBe(255);
  });

  it('widens a pen line to the annotator-like default of 11 px at 512×512', () => {
    const sketch = createImage(512, 512, [255, 255, 255, 255]);
    for (let x = 100; x < 400; x++) sketch.data.set([0, 0, 0, 255], (256 * 512 + x) * 4);
    const map = scribbleMap(sketch);
    let width = 0;
    for (let y = 0; y < 512; y++) if (map.data[(y * 512 + 250) * 4] === 255) width++;
    expect(width).toBe(11);
  });

  it('ignores strokes lighter than the threshold and light paper', () => {
    const sketch = createImage(16, 16, [250, 250, 250, 255]);
    for (let x = 0; x < 16; x++) sketch.data.set([200, 200, 200, 255], (8 * 16 + x) * 4); // faint pencil
    const map = scribbleMap(sketch, { lineWidth: 1, threshold: 0.5 });
    for (let i = 0; i < map.data.length; i += 4) expect(map.data[i]).toBe(0);
  });
});

describe('masks', () => {
  it('dilate grows a single pixel to a disc or a square of the right size', () => {
    const f = createField(21, 21);
    f.data[10 * 21 + 10] = 1;
    const disc = dilateMask(f, 3, 'disc');
    const square = dilateMask(f, 3, 'square');
    let discCount = 0;
    let squareCount = 0;
    for (let y = 0; y < 21; y++) {
      for (let x = 0; x < 21; x++) {
        const d2 = (x - 10) ** 2 + (y - 10) ** 2;
        expect(disc.data[y * 21 + x]).toBe(d2 <= 9 ? 1 : 0);
        expect(square.data[y * 21 + x]).toBe(Math.abs(x - 10) <= 3 && Math.abs(y - 10) <= 3 ? 1 : 0);
        discCount += disc.data[y * 21 + x]!;
        squareCount += square.data[y * 21 + x]!;
      }
    }
    expect(discCount).toBe(29); // lattice points within radius 3
    expect(squareCount).toBe(49);
  });

  it('dilate clips at the borders and handles radii larger than the image', () => {
    const f = createField(5, 4);
    f.data[0] = 0.7;
    const big = dilate(f, 50, 'square');
    expect(Array.from(big.data).every((v) => Math.abs(v - 0.7) < 1e-6)).toBe(true);
  });

  it('feather keeps exact 0 and 1 farther than 3σ from the edge and is monotone across it', () => {
    const f = createField(64, 8);
    for (let y = 0; y < 8; y++) for (let x = 32; x < 64; x++) f.data[y * 64 + x] = 1;
    const soft = featherMask(f, 4);
    const row = Array.from(soft.data.subarray(3 * 64, 4 * 64));
    for (let x = 0; x < 32 - 12; x++) expect(row[x]).toBe(0);
    for (let x = 32 + 12; x < 64; x++) expect(row[x]).toBe(1);
    for (let x = 1; x < 64; x++) expect(row[x]!).toBeGreaterThanOrEqual(row[x - 1]!);
    expect(row[31]!).toBeGreaterThan(0.3);
    expect(row[31]!).toBeLessThan(0.5);
    expect(gaussianKernel(4).length).toBe(25);
  });

  it('binarizes at 0.5 and inverts', () => {
    const f = { width: 4, height: 1, data: new Float32Array([0.2, 0.5, 0.49, 0.9]) };
    expect(Array.from(binarizeMask(f).data)).toEqual([0, 1, 0, 1]);
    expect(Array.from(invertMask(binarizeMask(f)).data)).toEqual([1, 0, 1, 0]);
  });

  it('reads white-on-transparent and white-on-black masks alike', () => {
    const img = createImage(2, 1);
    img.data.set([255, 255, 255, 255, 255, 255, 255, 0]);
    expect(Array.from(maskFromImage(img).data)).toEqual([1, 0]);
  });

  it('finds the masked bounding box with padding, clipped, or nothing', () => {
    const f = createField(100, 80);
    for (let y = 30; y < 40; y++) for (let x = 20; x < 25; x++) f.data[y * 100 + x] = 1;
    expect(maskBoundingBox(f, { padding: 8 })).toEqual({ x: 12, y: 22, width: 21, height: 26 });
    expect(maskBoundingBox(f, { padding: 50 })).toEqual({ x: 0, y: 0, width: 75, height: 80 });
    const square = maskBoundingBox(f, { padding: 0, aspect: 1 })!;
    expect(square.width).toBe(square.height);
    expect(square.x).toBeLessThanOrEqual(20);
    expect(square.x + square.width).toBeGreaterThanOrEqual(25);
    expect(maskBoundingBox(createField(10, 10))).toBeUndefined();
  });
});
