import { InvalidModelError } from '../model/errors.js';
import { A, type GraphBuilder } from './core.js';
import { linear, silu, timestepEmbedding } from './nn.js';
import type { UnetConfig } from './unet-blocks.js';

// SDXL's added conditioning in diffusers' UNet2DConditionModel (addition_embed_type
// "text_time"): the pooled, projected text embedding of text_encoder_2 and the micro-
// conditioning time ids (original size, crop top-left, target size — or the refiner's
// aesthetic score in place of the target size) → add_time_proj (the sinusoidal embedding of
// each id, addition_time_embed_dim wide) → concatenated after text_embeds → add_embedding
// (linear_1, SiLU, linear_2) → added to the time embedding. Graph inputs are named as Optimum
// exports them and as app/engine/model/unet-layout.ts reads them: text_embeds [batch, P],
// time_ids [batch, T] (docs/graph-builder.md, "SDXL").

export interface AddedCond {
  /** addition_time_embed_dim: the sinusoidal width per time id (SDXL: 256). */
  timeEmbedDim: number;
  /** projection_class_embeddings_input_dim: P + T · timeEmbedDim (SDXL base 2816, refiner 2560). */
  inputDim: number;
}

/** SDXL's added-conditioning keys of a UNet/ControlNet config (undefined when it has none); other addition types are refused by name. */
export function parseAddedCond(raw: Record<string, unknown>, part: string): AddedCond | undefined {
  const type = raw.addition_embed_type;
  if (type === undefined || type === null) return undefined;
  if (type !== 'text_time') throw new InvalidModelError(part, `${part} config: addition_embed_type ${JSON.stringify(type)} is not supported by the graph builder (SDXL's "text_time" is)`);
  const positive = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new InvalidModelError(part, `${part} config: addition_embed_type "text_time" needs ${key} (a positive integer)`);
    return v;
  };
  return { timeEmbedDim: positive('addition_time_embed_dim', 256), inputDim: positive('projection_class_embeddings_input_dim') };
}

/**
 * How many time ids and how wide text_embeds are. What a config cannot tell (2816 = 1280 + 6 ·
 * 256 for SDXL base, 2560 = 1280 + 5 · 256 for the refiner) comes from the text encoder's
 * projection width when the caller knows it, else SDXL base's 6 time ids.
 */
export function addedInputs(cfg: AddedCond, part: string, textEmbedsDim?: number): { textEmbedsDim: number; timeIds: number } {
  const text = textEmbedsDim ?? cfg.inputDim - 6 * cfg.timeEmbedDim;
  const rest = cfg.inputDim - text;
  if (text <= 0 || rest <= 0 || rest % cfg.timeEmbedDim !== 0) {
    throw new InvalidModelError(part, `${part}: projection_class_embeddings_input_dim ${cfg.inputDim} is not text_embeds (${text}) plus whole time ids of ${cfg.timeEmbedDim}`);
  }
  return { textEmbedsDim: text, timeIds: rest / cfg.timeEmbedDim };
}

/** temb + add_embedding(text_embeds ‖ add_time_proj(time_ids)); creates the two graph inputs. */
export function addedTimeEmbedding(g: GraphBuilder, cfg: UnetConfig, temb: string, textEmbedsDim?: number): string {
  const a = cfg.added!;
  const { textEmbedsDim: p, timeIds } = addedInputs(a, g.name, textEmbedsDim ?? cfg.textEmbedsDim);
  const text = g.input('text_embeds', g.dtype, ['batch', p]);
  // float32 like the timestep: sizes such as 1024 are exact in float16 too, but the sinusoid's arguments are not
  const ids = g.input('time_ids', 'float32', ['batch', timeIds], false);
  let t = timestepEmbedding(g, g.op1('Reshape', [ids, g.ints([-1])]), a.timeEmbedDim, cfg.flipSinToCos, cfg.freqShift);
  t = g.op1('Reshape', [t, g.ints([-1, timeIds * a.timeEmbedDim])]);
  if (g.compute !== 'float32') t = g.cast(t, g.compute);
  const joined = g.op1('Concat', [text, t], { axis: A.i(-1) });
  const aug = linear(g, silu(g, linear(g, joined, 'add_embedding.linear_1', a.inputDim)), 'add_embedding.linear_2');
  return g.op1('Add', [temb, aug]);
}
