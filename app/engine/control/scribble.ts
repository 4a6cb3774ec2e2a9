import { ApiError } from '../../contract/index.js';
import type { RgbaImage } from '../pipeline/types.js';
import { type Field, dilate, fieldToRgba } from './field.js';

// Sketch → scribble map. On the canvas an artist draws dark strokes on white paper or on a
// transparent layer; scribble ControlNets were trained on the opposite: white lines on black
// (lllyasviel/ControlNet, "scribble" and ControlNet 1.1 "control_v11p_sd15_scribble"), with
// lines a good deal thicker than a pen stroke — the 1.1 "fake scribble" annotators blur thin
// HED/PiDiNet edges with a Gaussian of σ = 3 px and threshold at 4/255: a one-pixel edge of
// value v peaks at v/(3√(2π)) and stays above 4 out to d = 3·√(2·ln(v/(12√(2π)))), i.e.
// lines about 10–13 px wide at 512 px for v from 128 to 255. So: ink = opacity × darkness, optional threshold, then a disc
// dilation that widens every stroke to at least the requested line width.

export interface ScribbleOptions {
  /**
   * Width in pixels that a one-pixel stroke grows to (odd widths are exact: a disc of radius
   * (w−1)/2). Default: 1/48 of the shorter side, at least 3 (11 px at 512×512).
   */
  lineWidth?: number;
  /** Ink level in (0, 1]: at or above becomes a full line, below vanishes. Omitted: ink kept as shades. */
  threshold?: number;
}

/**
 * How much ink each pixel carries, in [0, 1]: opacity × (1 − luma). Black opaque strokes give
 * 1; white paper and transparent pixels give 0, whatever their RGB.
 */
export function inkField(sketch: RgbaImage): Field {
  const n = sketch.width * sketch.height;
  const out = new Float32Array(n);
  const d = sketch.data;
  for (let p = 0, i = 0; p < n; p++, i += 4) {
    const y = (0.299 * d[i]! + 0.587 * d[i + 1]! + 0.114 * d[i + 2]!) / 255;
    out[p] = (d[i + 3]! / 255) * (1 - y);
  }
  return { width: sketch.width, height: sketch.height, data: out };
}

export function defaultScribbleLineWidth(width: number, height: number): number {
  return Math.max(3, Math.round(Math.min(width, height) / 48));
}

/** White-on-black scribble map (3 equal channels, opaque) from a canvas sketch. */
export function scribbleMap(sketch: RgbaImage, options: ScribbleOptions = {}): RgbaImage {
  const lineWidth = options.lineWidth ?? defaultScribbleLineWidth(sketch.width, sketch.height);
  if (!(lineWidth >= 1) || lineWidth > 256) throw new ApiError('bad_request', `Scribble line width must be between 1 and 256 pixels (got ${lineWidth})`);
  const { threshold } = options;
  if (threshold !== undefined && !(threshold > 0 && threshold <= 1)) {
    throw new ApiError('bad_request', `Scribble threshold must be in (0, 1] (got ${threshold})`);
  }
  const ink = inkField(sketch);
  if (threshold !== undefined) for (let p = 0; p < ink.data.length; p++) ink.data[p] = ink.data[p]! >= threshold ? 1 : 0;
  return fieldToRgba(dilate(ink, Math.floor((lineWidth - 1) / 2), 'disc'));
}
