import { InvalidModelError } from '../model/errors.js';
import { GraphBuilder, type BuiltGraph, type FloatType } from './core.js';
import { conv2d, convOut, silu } from './nn.js';
import { encoderHalf, midBlock, parseUnetConfig, unetInputs } from './unet-blocks.js';
import type { FusedChoice } from './fused.js';
import type { WeightSource } from './weights.js';

// diffusers' ControlNetModel: the UNet's encoder half with the conditioning image's embedding
// added after conv_in, a zero-initialised 1×1 conv per residual, all scaled by
// conditioning_scale. Inputs and outputs are named as app/engine/model/layout.ts reads a
// ControlNet (docs/engine.md): sample, timestep, encoder_hidden_states, controlnet_cond,
// conditioning_scale → down_block_res_sample_{i}, mid_block_res_sample.

export interface ControlNetBuildOptions {
  dtype?: FloatType;
  compute?: FloatType;
  /** Fused operators for a provider (fused.ts; default plain ONNX). */
  fused?: FusedChoice;
  /** SDXL ControlNets: text_embeds' width (unet-sdxl.ts). */
  textEmbedsDim?: number;
}

/** controlnet_cond_embedding: conv_in, pairs of (conv, strided conv), conv_out, SiLU between. */
function condEmbedding(g: GraphBuilder, cond: string, condChannels: number): string {
  const p = 'controlnet_cond_embedding';
  let h = silu(g, conv2d(g, cond, `${p}.conv_in`, { inChannels: condChannels }));
  let channels = convOut(g, `${p}.conv_in`);
  for (let i = 0; g.hasWeight(`${p}.blocks.${i}.weight`); i++) {
    h = silu(g, conv2d(g, h, `${p}.blocks.${i}`, { stride: i % 2 === 1 ? 2 : 1, inChannels: channels }));
    channels = convOut(g, `${p}.blocks.${i}`);
  }
  return conv2d(g, h, `${p}.conv_out`, { inChannels: channels });
}

export function buildControlNet(config: Record<string, unknown>, weights: WeightSource, opts: ControlNetBuildOptions = {}): BuiltGraph {
  const cfg = { ...parseUnetConfig(config, 'controlnet'), ...(opts.textEmbedsDim ? { textEmbedsDim: opts.textEmbedsDim } : {}) };
  const condChannels = config.conditioning_channels ?? 3;
  if (typeof condChannels !== 'number') throw new InvalidModelError('controlnet', 'controlnet config: conditioning_channels must be a number');
  if (config.global_pool_conditions === true) throw new InvalidModelError('controlnet', 'controlnet config: global_pool_conditions is not supported');
  const g = new GraphBuilder({ name: 'controlnet', weights, dtype: opts.dtype ?? 'float32', ...(opts.compute ? { compute: opts.compute } : {}), ...(opts.fused ? { fused: opts.fused } : {}) });
  const { sample, timestep, context } = unetInputs(g, cfg);
  const cond = g.input('controlnet_cond', g.dtype, ['batch', condChannels, 'image_height', 'image_width']);
  const scale = g.input('conditioning_scale', 'float32', [1]);
  const enc = encoderHalf(g, cfg, sample, timestep, context, (h) => g.op1('Add', [h, condEmbedding(g, cond, condChannels)]));
  const mid = midBlock(g, cfg, enc.hidden, enc.channels, enc.temb, context);
  enc.skips.forEach((s, i) => {
    const r = g.op1('Mul', [conv2d(g, s.value, `controlnet_down_blocks.${i}`, { inChannels: s.channels }), scale]);
    g.output(r, `down_block_res_sample_${i}`, g.dtype, ['batch', s.channels, `residual_${i}_height`, `residual_${i}_width`]);
  });
  if (g.hasWeight(`controlnet_down_blocks.${enc.skips.length}.weight`)) throw g.error(`has more controlnet_down_blocks than its config gives residuals (${enc.skips.length})`);
  const m = g.op1('Mul', [conv2d(g, mid, 'controlnet_mid_block', { inChannels: enc.channels }), scale]);
  g.output(m, 'mid_block_res_sample', g.dtype, ['batch', enc.channels, 'mid_height', 'mid_width']);
  return g.finish({ 'atelier.network': 'controlnet', 'atelier.config': JSON.stringify(config) });
}
