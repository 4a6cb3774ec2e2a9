import { ApiError } from '../../contract/index.js';
import type { RgbaImage } from '../pipeline/types.js';
import { type Field, gaussianBlur, luma } from './field.js';

// Canny edge detector (J. Canny, "A Computational Approach to Edge Detection", 1986) in the
// form of OpenCV's cv::Canny (imgproc/src/canny.cpp), which ControlNet's canny annotator
// calls as cv2.Canny(img, low, high):
//   - 3×3 Sobel derivatives of each 0..255 channel, unnormalised ([1 2 1]ᵀ·[−1 0 1]),
//     borders replicated;
//   - magnitude |Gx| + |Gy| (L1, OpenCV's default L2gradient=false) or √(Gx² + Gy²) (L2);
//     thresholds are on that same scale, so low/high mean what they mean in cv2.Canny
//     (a black/white step gives 1020 in L1, ≈ 1020 in L2 across a straight edge);
//   - non-maximum suppression along the gradient direction quantised to 0°, 45°, 90°, 135°
//     with OpenCV's tan 22.5° / tan 67.5° sector test and its tie rule (strictly greater than
//     the neighbour behind, greater or equal to the one ahead) so plateaus keep one pixel;
//   - double threshold: magnitude > high seeds an edge, > low may join one; hysteresis keeps
//     the weak pixels 8-connected to a seed.
// Like the annotator, a colour image is processed per channel, keeping the strongest
// channel's gradient at each pixel (a gray-luma mode is available). Beyond cv2.Canny: an
// optional Gaussian pre-blur (Canny's own smoothing step); the default σ = 0 leaves it off.

export interface CannyOptions {
  /** Weak-edge threshold on the gradient magnitude (0..255 gray scale, see above). */
  low: number;
  /** Strong-edge threshold. Must be ≥ low. */
  high: number;
  /** Gaussian pre-blur standard deviation in pixels; 0 (default) skips it, like cv2.Canny. */
  blurSigma?: number;
  /** √(Gx²+Gy²) instead of |Gx|+|Gy|. */
  l2Gradient?: boolean;
}

export interface EdgeMap {
  width: number;
  height: number;
  /** 255 on edges, 0 elsewhere. */
  data: Uint8Array;
}

const TAN_22_5 = Math.tan(Math.PI / 8);
const TAN_67_5 = Math.tan((3 * Math.PI) / 8);

/** Canny edges of a gray field on the 0..255 scale. */
export function cannyField(gray: Field, options: CannyOptions): EdgeMap {
  return cannyPlanes([gray], options);
}

/**
 * Canny over one or more planes (gray, or R, G, B): per pixel the plane with the strongest
 * gradient gives magnitude and direction, first plane on ties — how cv::Canny treats a
 * multi-channel image (canny.cpp: "for (int k = 1; k < cn; ++k) if (mag[jn+k] > mag[maxIdx])").
 */
export function cannyPlanes(planes: Field[], options: CannyOptions): EdgeMap {
  const { low, high } = options;
  if (!(low >= 0) || !(high >= 0)) throw new ApiError('bad_request', `Canny thresholds must be non-negative numbers (got low ${low}, high ${high})`);
  if (low > high) throw new ApiError('bad_request', `Canny low threshold ${low} exceeds the high threshold ${high}`);
  const { width: w, height: h } = planes[0]!;
  const n = w * h;
  const dx = new Float32Array(n);
  const dy = new Float32Array(n);
  const mag = new Float32Array(n).fill(-1);
  const l2 = options.l2Gradient === true;

  for (const plane of planes) {
    const src = options.blurSigma && options.blurSigma > 0 ? gaussianBlur(plane, options.blurSigma).data : plane.data;
    for (let y = 0; y < h; y++) {
      const up = (y > 0 ? y - 1 : 0) * w;
      const mid = y * w;
      const down = (y < h - 1 ? y + 1 : h - 1) * w;
      for (let x = 0; x < w; x++) {
        const xl = x > 0 ? x - 1 : 0;
        const xr = x < w - 1 ? x + 1 : w - 1;
        const a = src[up + xl]!, b = src[up + x]!, c = src[up + xr]!;
        const d = src[mid + xl]!, f = src[mid + xr]!;
        const g = src[down + xl]!, hh = src[down + x]!, i = src[down + xr]!;
        const gx = c + 2 * f + i - (a + 2 * d + g);
        const gy = g + 2 * hh + i - (a + 2 * b + c);
        const m = l2 ? Math.sqrt(gx * gx + gy * gy) : Math.abs(gx) + Math.abs(gy);
        const p = mid + x;
        if (m > mag[p]!) {
          dx[p] = gx;
          dy[p] = gy;
          mag[p] = m;
        }
      }
    }
  }

  // 0: not an edge, 1: weak candidate, 2: strong (seed).
  const label = new Uint8Array(n);
  const stack = new Int32Array(n);
  let top = 0;
  const at = (x: number, y: number) => (x < 0 || y < 0 || x >= w || y >= h ? 0 : mag[y * w + x]!);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      const m = mag[p]!;
      if (!(m > low)) continue;
      const gx = dx[p]!;
      const gy = dy[p]!;
      const ax = Math.abs(gx);
      const ay = Math.abs(gy);
      let isMax: boolean;
      if (ay < ax * TAN_22_5) {
        isMax = m > at(x - 1, y) && m >= at(x + 1, y); // gradient ~horizontal: compare left/right
      } else if (ay > ax * TAN_67_5) {
        isMax = m > at(x, y - 1) && m >= at(x, y + 1); // ~vertical: compare up/down
      } else {
        const s = gx * gy < 0 ? -1 : 1; // diagonal: the neighbours along the gradient
        isMax = m > at(x - s, y - 1) && m > at(x + s, y + 1);
      }
      if (!isMax) continue;
      if (m > high) {
        label[p] = 2;
        stack[top++] = p;
      } else {
        label[p] = 1;
      }
    }
  }

  const out = new Uint8Array(n);
  while (top > 0) {
    const p = stack[--top]!;
    out[p] = 255;
    const x = p % w;
    const y = (p - x) / w;
    for (let oy = -1; oy <= 1; oy++) {
      const yy = y + oy;
      if (yy < 0 || yy >= h) continue;
      for (let ox = -1; ox <= 1; ox++) {
        const xx = x + ox;
        if (xx < 0 || xx >= w) continue;
        const q = yy * w + xx;
        if (label[q] === 1) {
          label[q] = 2;
          stack[top++] = q;
        }
      }
    }
  }
  return { width: w, height: h, data: out };
}

/**
 * Canny edges of an image. By default over its R, G and B planes, as ControlNet's annotator
 * calls cv2.Canny on the RGB array (so an edge between equally bright colours counts);
 * `gray: true` uses BT.601 luma instead. Transparent pixels count by their RGB: flatten first.
 */
export function canny(image: RgbaImage, options: CannyOptions & { gray?: boolean }): EdgeMap {
  return options.gray ? cannyField(luma(image), options) : cannyPlanes(rgbPlanes(image), options);
}

function rgbPlanes(image: RgbaImage): Field[] {
  const n = image.width * image.height;
  const planes = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
  const d = image.data;
  for (let p = 0, i = 0; p < n; p++, i += 4) {
    planes[0]![p] = d[i]!;
    planes[1]![p] = d[i + 1]!;
    planes[2]![p] = d[i + 2]!;
  }
  return planes.map((data) => ({ width: image.width, height: image.height, data }));
}

/** An edge map as the ControlNet input: white edges on black, three equal channels, opaque. */
export function edgeMapToRgba(edges: EdgeMap): RgbaImage {
  const out = new Uint8Array(edges.width * edges.height * 4);
  for (let p = 0, i = 0; p < edges.data.length; p++, i += 4) {
    const v = edges.data[p]!;
    out[i] = v;
    out[i + 1] = v;
    out[i + 2] = v;
    out[i + 3] = 255;
  }
  return { width: edges.width, height: edges.height, data: out };
}
