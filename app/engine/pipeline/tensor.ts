import type { PreviewFactors } from '../model/layout.js';
import type { RgbaImage } from './types.js';

// Conversions between 8-bit RGBA images and the CHW float tensors the graphs take.
// Single-item tensors are flat Float32Arrays in NCHW order with N = 1.

/** RGB → [3,H,W] in [-1, 1] (the VAE's input range, diffusers VaeImageProcessor.normalize). Alpha is ignored. */
export function imageToSigned(image: RgbaImage): Float32Array {
  const n = image.width * image.height;
  const out = new Float32Array(3 * n);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) out[c * n + p] = (image.data[p * 4 + c]! / 255) * 2 - 1;
  }
  return out;
}

/** RGB → [3,H,W] in [0, 1] (ControlNet conditioning images). */
export function imageToUnit(image: RgbaImage): Float32Array {
  const n = image.width * image.height;
  const out = new Float32Array(3 * n);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) out[c * n + p] = image.data[p * 4 + c]! / 255;
  }
  return out;
}

/** [3,H,W] in about [-1, 1] → opaque RGBA: (x/2 + 0.5) clamped, ×255 rounded (diffusers numpy_to_pil). */
export function signedToImage(data: Float32Array, width: number, height: number): RgbaImage {
  const n = width * height;
  const out = new Uint8Array(n * 4);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.min(1, Math.max(0, data[c * n + p]! / 2 + 0.5));
      out[p * 4 + c] = Math.round(v * 255);
    }
    out[p * 4 + 3] = 255;
  }
  return { width, height, data: out };
}

/**
 * The cheap preview: each latent pixel through a 4×3 linear map, ((rgb + 1)/2) clamped —
 * ComfyUI's latent_preview "Latent2RGB" with SD1.5's factors unless the model's
 * preview.json gives its own.
 */
export function latentToPreview(latents: Float32Array, width: number, height: number, preview: PreviewFactors): RgbaImage {
  const n = width * height;
  const out = new Uint8Array(n * 4);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) {
      let v = preview.bias[c]!;
      for (let k = 0; k < 4; k++) v += latents[k * n + p]! * preview.factors[k]![c]!;
      out[p * 4 + c] = Math.round(Math.min(1, Math.max(0, (v + 1) / 2)) * 255);
    }
    out[p * 4 + 3] = 255;
  }
  return { width, height, data: out };
}

/** Nearest downsampling of a [H,W] field by an integer factor, as torch.nn.functional.interpolate(mode='nearest'): source index floor(dst·factor). */
export function downsampleNearest(field: Float32Array, width: number, height: number, factor: number): Float32Array {
  const w = Math.floor(width / factor);
  const h = Math.floor(height / factor);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = field[y * factor * width + x * factor]!;
  return out;
}

/** Concatenates single-item tensors along the batch axis. */
export function concatBatch(items: Float32Array[]): Float32Array {
  const out = new Float32Array(items.reduce((s, a) => s + a.length, 0));
  let offset = 0;
  for (const a of items) {
    out.set(a, offset);
    offset += a.length;
  }
  return out;
}
