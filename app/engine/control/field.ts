import type { RgbaImage } from '../pipeline/types.js';

// A Field is one float per pixel (gray levels, masks, edge strengths). These kernels are pure:
// arrays in, new arrays out, no DOM and no I/O, so they run the same in the worker, the
// service and tests.

export interface Field {
  width: number;
  height: number;
  data: Float32Array;
}

export function createField(width: number, height: number, fill = 0): Field {
  const data = new Float32Array(width * height);
  if (fill !== 0) data.fill(fill);
  return { width, height, data };
}

/**
 * Luma on the 0..255 scale with ITU-R BT.601 weights (0.299, 0.587, 0.114), the weights of
 * OpenCV's cvtColor RGB2GRAY that ControlNet's annotators use. Alpha is ignored: flatten a
 * transparent image first when transparency means "paper".
 */
export function luma(image: RgbaImage): Field {
  const out = new Float32Array(image.width * image.height);
  const d = image.data;
  for (let i = 0, p = 0; p < out.length; i += 4, p++) out[p] = 0.299 * d[i]! + 0.587 * d[i + 1]! + 0.114 * d[i + 2]!;
  return { width: image.width, height: image.height, data: out };
}

/** A field in [0, scale] as an opaque gray RGBA image (ControlNets read 3 equal channels). */
export function fieldToRgba(field: Field, scale = 1): RgbaImage {
  const out = new Uint8Array(field.width * field.height * 4);
  const k = 255 / scale;
  for (let p = 0, i = 0; p < field.data.length; p++, i += 4) {
    const v = Math.round(Math.min(255, Math.max(0, field.data[p]! * k)));
    out[i] = v;
    out[i + 1] = v;
    out[i + 2] = v;
    out[i + 3] = 255;
  }
  return { width: field.width, height: field.height, data: out };
}

/**
 * Normalised 1-D Gaussian of standard deviation `sigma`, truncated at ⌈3σ⌉ (PIL's
 * GaussianBlur and OpenCV's getGaussianKernel for σ-given kernels truncate similarly). Weights
 * are computed and normalised in float64 so a constant region stays exactly constant.
 */
export function gaussianKernel(sigma: number): Float64Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const kernel = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const w = Math.exp(-(i * i) / (2 * sigma * sigma));
    kernel[i + radius] = w;
    sum += w;
  }
  for (let i = 0; i < kernel.length; i++) kernel[i]! /= sum;
  return kernel;
}

/** Separable Gaussian blur, edges replicated (OpenCV's BORDER_REPLICATE). σ ≤ 0 copies. */
export function gaussianBlur(field: Field, sigma: number): Field {
  const { width, height } = field;
  if (!(sigma > 0)) return { width, height, data: field.data.slice() };
  const kernel = gaussianKernel(sigma);
  const r = (kernel.length - 1) / 2;
  const tmp = new Float32Array(width * height);
  const out = new Float32Array(width * height);
  const src = field.data;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (let k = -r; k <= r; k++) {
        const xx = x + k < 0 ? 0 : x + k >= width ? width - 1 : x + k;
        acc += kernel[k + r]! * src[row + xx]!;
      }
      tmp[row + x] = acc;
    }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (let k = -r; k <= r; k++) {
        const yy = y + k < 0 ? 0 : y + k >= height ? height - 1 : y + k;
        acc += kernel[k + r]! * tmp[yy * width + x]!;
      }
      out[y * width + x] = acc;
    }
  }
  return { width, height, data: out };
}

/**
 * Running maximum over a centred window of 2w+1 samples in O(n) (van Herk / Gil–Werman):
 * prefix maxima g and suffix maxima h over blocks of the window size; the window [i−w, i+w]
 * spans at most two blocks, so its maximum is max(h[i−w], g[i+w]). Samples outside are −∞.
 */
function runningMax(src: Float32Array, w: number, out: Float32Array, pad: Float32Array, g: Float32Array, h: Float32Array): void {
  const n = src.length;
  const k = 2 * w + 1;
  const m = n + 2 * w;
  pad.fill(-Infinity, 0, m);
  pad.set(src, w);
  for (let start = 0; start < m; start += k) {
    const end = Math.min(m, start + k);
    g[start] = pad[start]!;
    for (let i = start + 1; i < end; i++) g[i] = Math.max(g[i - 1]!, pad[i]!);
    h[end - 1] = pad[end - 1]!;
    for (let i = end - 2; i >= start; i--) h[i] = Math.max(h[i + 1]!, pad[i]!);
  }
  for (let i = 0; i < n; i++) out[i] = Math.max(h[i]!, g[i + 2 * w]!);
}

export type Footprint = 'disc' | 'square';

/**
 * Grayscale dilation (maximum filter) with a disc of radius r (pixels whose centre lies
 * within Euclidean distance r) or a (2r+1)² square. The disc is a union of horizontal runs,
 * one per row offset dy with half-width ⌊√(r²−dy²)⌋, so it costs one running max per
 * distinct half-width plus 2r+1 row lookups per pixel.
 */
export function dilate(field: Field, radius: number, footprint: Footprint = 'disc'): Field {
  const { width, height } = field;
  const r = Math.floor(radius);
  if (r <= 0) return { width, height, data: field.data.slice() };
  const maxLen = Math.max(width, height) + 2 * r;
  const pad = new Float32Array(maxLen);
  const g = new Float32Array(maxLen);
  const h = new Float32Array(maxLen);
  const lineIn = new Float32Array(Math.max(width, height));
  const lineOut = new Float32Array(Math.max(width, height));

  const horizontal = (w: number): Float32Array => {
    const res = new Float32Array(width * height);
    for (let y = 0; y < height; y++) {
      runningMax(field.data.subarray(y * width, (y + 1) * width), w, lineOut.subarray(0, width), pad, g, h);
      res.set(lineOut.subarray(0, width), y * width);
    }
    return res;
  };

  if (footprint === 'square') {
    const rows = horizontal(r);
    const out = new Float32Array(width * height);
    for (let x = 0; x < width; x++) {
      for (let y = 0; y < height; y++) lineIn[y] = rows[y * width + x]!;
      runningMax(lineIn.subarray(0, height), r, lineOut.subarray(0, height), pad, g, h);
      for (let y = 0; y < height; y++) out[y * width + x] = lineOut[y]!;
    }
    return { width, height, data: out };
  }

  const byHalfWidth = new Map<number, Float32Array>();
  const spans: Array<{ dy: number; rows: Float32Array }> = [];
  for (let dy = -r; dy <= r; dy++) {
    const w = Math.floor(Math.sqrt(r * r - dy * dy));
    let rows = byHalfWidth.get(w);
    if (!rows) {
      rows = w === 0 ? field.data : horizontal(w);
      byHalfWidth.set(w, rows);
    }
    spans.push({ dy, rows });
  }
  const out = new Float32Array(width * height).fill(-Infinity);
  for (const { dy, rows } of spans) {
    const y0 = Math.max(0, -dy);
    const y1 = Math.min(height, height - dy);
    for (let y = y0; y < y1; y++) {
      const o = y * width;
      const s = (y + dy) * width;
      for (let x = 0; x < width; x++) if (rows[s + x]! > out[o + x]!) out[o + x] = rows[s + x]!;
    }
  }
  return { width, height, data: out };
}
