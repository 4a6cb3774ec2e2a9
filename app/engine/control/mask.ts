import { ApiError } from '../../contract/index.js';
import type { Rect } from '../image.js';
import type { RgbaImage } from '../pipeline/types.js';
import { type Field, type Footprint, dilate, gaussianBlur } from './field.js';

// Inpainting masks as fields in [0, 1], white (1) = repaint, as in diffusers and A1111.

/**
 * A painted mask image → field: luma × opacity, so white strokes on black and white strokes
 * on a transparent layer both mean "repaint here".
 */
export function maskFromImage(image: RgbaImage): Field {
  const n = image.width * image.height;
  const out = new Float32Array(n);
  const d = image.data;
  for (let p = 0, i = 0; p < n; p++, i += 4) {
    out[p] = ((0.299 * d[i]! + 0.587 * d[i + 1]! + 0.114 * d[i + 2]!) / 255) * (d[i + 3]! / 255);
  }
  return { width: image.width, height: image.height, data: out };
}

/** 1 where the mask is at or above `threshold` (default 0.5, diffusers' mask[mask >= 0.5] = 1), else 0. */
export function binarizeMask(mask: Field, threshold = 0.5): Field {
  const out = new Float32Array(mask.data.length);
  for (let p = 0; p < out.length; p++) out[p] = mask.data[p]! >= threshold ? 1 : 0;
  return { width: mask.width, height: mask.height, data: out };
}

/** Grows the masked region by `pixels` (a disc by default, or a square). */
export function dilateMask(mask: Field, pixels: number, footprint: Footprint = 'disc'): Field {
  if (!(pixels >= 0)) throw new ApiError('bad_request', `Mask dilation must be a non-negative number of pixels (got ${pixels})`);
  return dilate(mask, pixels, footprint);
}

/**
 * Softens the mask edge: Gaussian blur with standard deviation = radius, as A1111's
 * "mask blur" (PIL ImageFilter.GaussianBlur(radius), whose radius is the σ). The kernel is
 * truncated at ⌈3σ⌉, so pixels farther than that from the edge stay exactly 0 or 1.
 */
export function featherMask(mask: Field, radius: number): Field {
  if (!(radius >= 0)) throw new ApiError('bad_request', `Mask feather radius must be non-negative (got ${radius})`);
  const out = gaussianBlur(mask, radius);
  for (let p = 0; p < out.data.length; p++) out.data[p] = Math.min(1, Math.max(0, out.data[p]!));
  return out;
}

export function invertMask(mask: Field): Field {
  const out = new Float32Array(mask.data.length);
  for (let p = 0; p < out.length; p++) out[p] = 1 - mask.data[p]!;
  return { width: mask.width, height: mask.height, data: out };
}

export interface MaskBoxOptions {
  /** Context added on every side, in pixels (clipped to the image). */
  padding?: number;
  /** Mask values at or above count as masked. Default 0.5. */
  threshold?: number;
  /**
   * Width/height ratio to grow the box to (the generation size's), so the crop scales to the
   * model's size without distortion — A1111's expand_crop_region. Clipped to the image.
   */
  aspect?: number;
}

/**
 * Bounding box of the masked region, padded, for "inpaint only masked" (A1111's
 * get_crop_region + expand_crop_region). Undefined when nothing is masked.
 */
export function maskBoundingBox(mask: Field, options: MaskBoxOptions = {}): Rect | undefined {
  const { width, height, data } = mask;
  const threshold = options.threshold ?? 0.5;
  const padding = options.padding ?? 0;
  if (!(padding >= 0)) throw new ApiError('bad_request', `Mask padding must be non-negative (got ${padding})`);
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[y * width + x]! >= threshold) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return undefined;
  // Half-open box [left, right) × [top, bottom).
  let left = Math.max(0, x0 - padding);
  let top = Math.max(0, y0 - padding);
  let right = Math.min(width, x1 + 1 + padding);
  let bottom = Math.min(height, y1 + 1 + padding);
  if (options.aspect !== undefined) {
    if (!(options.aspect > 0)) throw new ApiError('bad_request', `Aspect ratio must be positive (got ${options.aspect})`);
    const w = right - left;
    const h = bottom - top;
    if (w / h < options.aspect) {
      const grow = Math.min(width, Math.round(h * options.aspect)) - w;
      [left, right] = growSpan(left, right, grow, width);
    } else {
      const grow = Math.min(height, Math.round(w / options.aspect)) - h;
      [top, bottom] = growSpan(top, bottom, grow, height);
    }
  }
  return { x: left, y: top, width: right - left, height: bottom - top };
}

/** Grows [a, b) by `grow` pixels, centred, sliding it back inside [0, limit). */
function growSpan(a: number, b: number, grow: number, limit: number): [number, number] {
  if (grow <= 0) return [a, b];
  let start = a - Math.floor(grow / 2);
  let end = b + Math.ceil(grow / 2);
  if (start < 0) {
    end -= start;
    start = 0;
  }
  if (end > limit) {
    start -= end - limit;
    end = limit;
  }
  return [Math.max(0, start), end];
}
