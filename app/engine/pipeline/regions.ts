import { ApiError, type RegionPrompt, type SdxlConditioning } from '../../contract/index.js';
import { maskFromImage } from '../control/mask.js';
import { gaussianBlur } from '../control/field.js';
import { resizeImage } from '../image.js';
import type { EngineModel } from '../model/load.js';
import type { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';
import { addedCond, type AddedCond } from './sdxl.js';
import { encodePrompts, type PromptEmbedding } from './text.js';
import type { RgbaImage } from './types.js';

// Regional prompts (docs/canvas.md, "Regional prompts"): every region's prompt gets its own
// conditional noise prediction, and the predictions are blended by feathered region masks at
// latent size — MultiDiffusion's region-wise averaging (Bar-Tal et al. 2023) applied to the
// conditional branch, so it needs nothing from the UNet but what every SD-family ONNX UNet
// takes, and ControlNets act on each region's pass with that region's text. The unconditional
// branch is the base's, so classifier-free guidance is unchanged outside every region.

/** A region ready for the steps: its encoded prompt and its blend weight at latent size. */
export interface ActiveRegion {
  cond: PromptEmbedding;
  /** SDXL: the region's pooled text_embeds and time_ids at batch 1. */
  added?: AddedCond;
  /** Per latent pixel, how much of the region's prediction replaces the base's (weight × feathered mask, overlaps shared). */
  blend: Float32Array;
}

/** Mean of each factor×factor block (a region's share of each latent pixel), not nearest: thin regions keep their area. */
export function downsampleArea(field: Float32Array, width: number, height: number, factor: number): Float32Array {
  const w = Math.floor(width / factor);
  const h = Math.floor(height / factor);
  const out = new Float32Array(w * h);
  const area = factor * factor;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let sum = 0;
      for (let dy = 0; dy < factor; dy++) {
        const row = (y * factor + dy) * width + x * factor;
        for (let dx = 0; dx < factor; dx++) sum += field[row + dx]!;
      }
      out[y * w + x] = sum / area;
    }
  }
  return out;
}

/**
 * Region masks at generation size → blend weights at latent size: the mask's luma × opacity,
 * area-averaged down by `factor`, feathered by a Gaussian of σ = feather / factor latent
 * pixels, where regions overlap shared so their masks sum to at most 1, then × weight.
 */
export function regionBlends(masks: RgbaImage[], regions: Pick<RegionPrompt, 'weight' | 'feather'>[], width: number, height: number, factor: number): Float32Array[] {
  const lw = Math.floor(width / factor);
  const lh = Math.floor(height / factor);
  const fields = masks.map((image, i) => {
    if (image.width !== width || image.height !== height) throw new ApiError('bad_request', `region ${i + 1}'s mask is ${image.width}×${image.height} but the generation is ${width}×${height}`);
    const small = downsampleArea(maskFromImage(image).data, width, height, factor);
    return gaussianBlur({ width: lw, height: lh, data: small }, regions[i]!.feather / factor).data;
  });
  for (let p = 0; p < lw * lh; p++) {
    let sum = 0;
    for (const f of fields) sum += f[p]!;
    if (sum > 1) for (const f of fields) f[p] = f[p]! / sum;
  }
  return fields.map((f, i) => {
    const w = regions[i]!.weight;
    if (w !== 1) for (let p = 0; p < f.length; p++) f[p] = f[p]! * w;
    return f;
  });
}

/**
 * The blended conditional prediction: base + Σ blendᵢ·(regionᵢ − base), per channel of a
 * [channels, n] latent. Where no region reaches, it is the base's exactly.
 */
export function blendRegions(base: Float32Array, predictions: Float32Array[], blends: Float32Array[], n: number): Float32Array {
  const out = Float32Array.from(base);
  const channels = base.length / n;
  predictions.forEach((pred, i) => {
    const b = blends[i]!;
    for (let c = 0; c < channels; c++) {
      for (let p = 0; p < n; p++) {
        const w = b[p]!;
        if (w === 0) continue;
        const q = c * n + p;
        out[q] = out[q]! + w * (pred[q]! - base[q]!);
      }
    }
  });
  return out;
}

/**
 * Encodes each region's prompt (as the base prompt is, without a negative: the unconditional
 * branch is shared) and turns its mask into a blend at latent size. Masks of another size are
 * stretched to the generation's, as the service already fits them (generation-images.ts).
 */
export async function prepareRegions(
  model: EngineModel,
  tokenizers: ClipTokenizer[],
  regions: RegionPrompt[],
  masks: RgbaImage[],
  size: { width: number; height: number },
  timings: Record<string, number>,
  micro?: SdxlConditioning,
): Promise<ActiveRegion[]> {
  if (regions.length === 0) return [];
  if (masks.length < regions.length) throw new ApiError('bad_request', `${regions.length} regions requested but ${masks.length} region masks given`);
  const { width, height } = size;
  const fitted = await Promise.all(masks.slice(0, regions.length).map((m) => (m.width === width && m.height === height ? m : resizeImage(m, width, height, 'exact', 'linear'))));
  const blends = regionBlends(fitted, regions, width, height, model.layout.vaeScaleFactor);
  const out: ActiveRegion[] = [];
  const t = performance.now();
  for (const [i, region] of regions.entries()) {
    const scratch: Record<string, number> = {};
    const { cond } = await encodePrompts(model, tokenizers, region.prompt, '', false, scratch);
    out.push({ cond, blend: blends[i]!, ...(model.layout.sdxl ? { added: addedCond(model.layout.sdxl, cond, undefined, width, height, micro) } : {}) });
  }
  timings.regionTextEncoder = performance.now() - t;
  return out;
}
