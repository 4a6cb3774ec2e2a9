import { ApiError, type SdxlConditioning } from '../../contract/index.js';
import type { AddedCondLayout, SdxlLayout } from '../model/layout.js';
import { floatTensor, numericTensor, type ort } from '../model/session.js';
import { concatBatch } from './tensor.js';
import type { PromptEmbedding } from './text.js';

// SDXL's micro-conditioning (Podell et al. 2023, §2.2; diffusers StableDiffusionXLPipeline
// _get_add_time_ids): the UNet (and an SDXL ControlNet) takes the pooled text embedding of
// text_encoder_2 and six "time ids" — original size, crop top-left, target size, each as
// (height, width) — or, for the refiner, five: original size, crop, aesthetic score.

/** diffusers' defaults for the refiner's aesthetic_score / negative_aesthetic_score. */
export const AESTHETIC_SCORE = 6;
export const NEGATIVE_AESTHETIC_SCORE = 2.5;

/**
 * time_ids for a generation at width × height: the request's micro-conditioning (contract
 * SdxlConditioning) where it says, else diffusers' defaults — original size = target size =
 * the generation size, no crop, aesthetic scores 6 / 2.5; (height, width) and (top, left)
 * order, and the negative's sizes and crop equal the positive's (diffusers' _get_add_time_ids).
 */
export function timeIds(sdxl: Pick<SdxlLayout, 'timeIdsWidth'>, width: number, height: number, micro: SdxlConditioning = {}): { cond: Float32Array; uncond: Float32Array } {
  const original = micro.originalSize ?? { width, height };
  const crop = micro.crop ?? { top: 0, left: 0 };
  const target = micro.targetSize ?? { width, height };
  if (sdxl.timeIdsWidth === 5) {
    const ids = (score: number) => Float32Array.of(original.height, original.width, crop.top, crop.left, score);
    return { cond: ids(micro.aestheticScore ?? AESTHETIC_SCORE), uncond: ids(micro.negativeAestheticScore ?? NEGATIVE_AESTHETIC_SCORE) };
  }
  const ids = Float32Array.of(original.height, original.width, crop.top, crop.left, target.height, target.width);
  return { cond: ids, uncond: ids };
}

/** The added conditioning for one run, batched as the hidden states are: [uncond, cond] with CFG, else [cond]. */
export interface AddedCond {
  textEmbeds: Float32Array;
  timeIds: Float32Array;
  batch: number;
  pooledDim: number;
  timeIdsWidth: number;
}

export function addedCond(sdxl: SdxlLayout, cond: PromptEmbedding, uncond: PromptEmbedding | undefined, width: number, height: number, micro?: SdxlConditioning): AddedCond {
  const ids = timeIds(sdxl, width, height, micro);
  if (!cond.pooled || (uncond && !uncond.pooled)) throw new ApiError('invalid_model', 'text_encoder_2 gave no pooled text_embeds', { part: 'text_encoder_2/model.onnx' });
  const base = { pooledDim: sdxl.pooledDim, timeIdsWidth: sdxl.timeIdsWidth };
  if (uncond) return { textEmbeds: concatBatch([uncond.pooled!, cond.pooled]), timeIds: concatBatch([ids.uncond, ids.cond]), batch: 2, ...base };
  return { textEmbeds: cond.pooled, timeIds: ids.cond, batch: 1, ...base };
}

/** The text_embeds / time_ids feeds of a graph that takes them (none for one that does not). */
export function addedFeeds(layout: AddedCondLayout | undefined, added: AddedCond | undefined): Record<string, ort.Tensor> {
  if (!layout || !added) return {};
  return {
    [layout.textEmbedsName]: floatTensor(added.textEmbeds, [added.batch, added.pooledDim], layout.textEmbedsType),
    [layout.timeIdsName]: numericTensor(added.timeIds, [added.batch, added.timeIdsWidth], layout.timeIdsType),
  };
}
