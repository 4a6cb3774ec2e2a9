import { InvalidModelError } from '../model/errors.js';
import { GraphBuilder, type BuiltGraph, type FloatType } from './core.js';
import { attention, conv2d, convOut, fromTokens, groupNorm, linear, resnet, toTokens, upsample2x } from './nn.js';
import type { FusedChoice } from './fused.js';
import type { WeightSource } from './weights.js';

// diffusers' AutoencoderKL as the two graphs of an Optimum export: vae_encoder (image →
// latent_parameters, the mean ‖ logvar moments after quant_conv) and vae_decoder (unscaled
// latent → image through post_quant_conv). Weights keep AutoencoderKL's names
// ("encoder.down_blocks.0.resnets.0.conv1.weight", "quant_conv.weight"; docs/graph-builder.md).

export interface VaeConfig {
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  blockOutChannels: number[];
  layersPerBlock: number;
  normNumGroups: number;
}

export function parseVaeConfig(raw: Record<string, unknown>, part = 'vae'): VaeConfig {
  const num = (key: string, fallback: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new InvalidModelError(part, `${part} config: ${key} must be a positive integer`);
    return v;
  };
  const blocks = raw.block_out_channels ?? [128, 256, 512, 512];
  if (!Array.isArray(blocks) || blocks.length === 0 || !blocks.every((b) => Number.isInteger(b) && b > 0)) throw new InvalidModelError(part, `${part} config: block_out_channels must be a list of channel counts`);
  for (const key of ['down_block_types', 'up_block_types']) {
    const types = raw[key];
    const want = key === 'down_block_types' ? 'DownEncoderBlock2D' : 'UpDecoderBlock2D';
    if (types !== undefined && (!Array.isArray(types) || types.length !== blocks.length || types.some((t) => t !== want))) {
      throw new InvalidModelError(part, `${part} config: ${key} must be ${blocks.length} × ${want}`);
    }
  }
  if (raw.mid_block_add_attention === false) throw new InvalidModelError(part, `${part} config: a mid block without attention is not supported`);
  return {
    inChannels: num('in_channels', 3),
    outChannels: num('out_channels', 3),
    latentChannels: num('latent_channels', 4),
    blockOutChannels: blocks as number[],
    layersPerBlock: num('layers_per_block', 2),
    normNumGroups: num('norm_num_groups', 32),
  };
}

const EPS = 1e-6;

/** The mid block's single-head spatial self-attention (group norm, q/k/v with bias, residual). */
function spatialAttention(g: GraphBuilder, x: string, prefix: string, channels: number, groups: number): string {
  const t = toTokens(g, groupNorm(g, x, `${prefix}.group_norm`, groups, EPS), channels);
  const q = linear(g, t, `${prefix}.to_q`, channels);
  const k = linear(g, t, `${prefix}.to_k`, channels);
  const v = linear(g, t, `${prefix}.to_v`, channels);
  // softmax over every pixel pair: float32 in float16 graphs, as diffusers' upcast_softmax
  const out = linear(g, attention(g, q, k, v, 1, channels, { upcast: true }), `${prefix}.to_out.0`, channels);
  return g.op1('Add', [fromTokens(g, out, x), x]);
}

function midBlock(g: GraphBuilder, cfg: VaeConfig, x: string, prefix: string, channels: number): string {
  const opts = { groups: cfg.normNumGroups, eps: EPS, inChannels: channels };
  let h = resnet(g, x, `${prefix}.resnets.0`, opts).out;
  h = spatialAttention(g, h, `${prefix}.attentions.0`, channels, cfg.normNumGroups);
  return resnet(g, h, `${prefix}.resnets.1`, opts).out;
}

export interface VaeBuildOptions {
  dtype?: FloatType;
  compute?: FloatType;
  /** Fused operators for a provider (fused.ts; default plain ONNX). */
  fused?: FusedChoice;
}

function builder(name: string, weights: WeightSource, opts: VaeBuildOptions): GraphBuilder {
  return new GraphBuilder({ name, weights, dtype: opts.dtype ?? 'float32', ...(opts.compute ? { compute: opts.compute } : {}), ...(opts.fused ? { fused: opts.fused } : {}) });
}

/** Image in [−1, 1] (`sample`, [B, 3, H, W]) → `latent_parameters` [B, 2·latent, H/f, W/f]. */
export function buildVaeEncoder(config: Record<string, unknown>, weights: WeightSource, opts: VaeBuildOptions = {}): BuiltGraph {
  const cfg = parseVaeConfig(config, 'vae_encoder');
  const g = builder('vae_encoder', weights, opts);
  const ch = cfg.blockOutChannels;
  const image = g.input('sample', g.dtype, ['batch', cfg.inChannels, 'height', 'width']);
  let h = conv2d(g, image, 'encoder.conv_in', { inChannels: cfg.inChannels });
  let channels = convOut(g, 'encoder.conv_in');
  ch.forEach((c, b) => {
    for (let j = 0; j < cfg.layersPerBlock; j++) {
      const r = resnet(g, h, `encoder.down_blocks.${b}.resnets.${j}`, { groups: cfg.normNumGroups, eps: EPS, inChannels: channels });
      if (r.channels !== c) throw g.error(`encoder.down_blocks.${b}.resnets.${j} gives ${r.channels} channels, block_out_channels says ${c}`);
      h = r.out;
      channels = r.channels;
    }
    // diffusers' Downsample2D(padding=0): pad one row and column at the bottom/right, stride 2
    if (b < ch.length - 1) h = conv2d(g, h, `encoder.down_blocks.${b}.downsamplers.0.conv`, { stride: 2, pads: [0, 0, 1, 1], inChannels: channels });
  });
  h = midBlock(g, cfg, h, 'encoder.mid_block', channels);
  h = conv2d(g, groupNorm(g, h, 'encoder.conv_norm_out', cfg.normNumGroups, EPS, true), 'encoder.conv_out', { inChannels: channels });
  h = conv2d(g, h, 'quant_conv', { inChannels: 2 * cfg.latentChannels });
  g.output(h, 'latent_parameters', g.dtype, ['batch', 2 * cfg.latentChannels, 'latent_height', 'latent_width']);
  return g.finish({ 'atelier.network': 'vae_encoder', 'atelier.config': JSON.stringify(config) });
}

/** Unscaled latent (`latent_sample`, [B, latent, h, w]) → image in about [−1, 1] (`sample`). */
export function buildVaeDecoder(config: Record<string, unknown>, weights: WeightSource, opts: VaeBuildOptions = {}): BuiltGraph {
  const cfg = parseVaeConfig(config, 'vae_decoder');
  const g = builder('vae_decoder', weights, opts);
  const rev = [...cfg.blockOutChannels].reverse();
  const latent = g.input('latent_sample', g.dtype, ['batch', cfg.latentChannels, 'latent_height', 'latent_width']);
  let h = conv2d(g, latent, 'post_quant_conv', { inChannels: cfg.latentChannels });
  h = conv2d(g, h, 'decoder.conv_in', { inChannels: cfg.latentChannels });
  let channels = convOut(g, 'decoder.conv_in');
  h = midBlock(g, cfg, h, 'decoder.mid_block', channels);
  rev.forEach((c, b) => {
    for (let j = 0; j <= cfg.layersPerBlock; j++) {
      const r = resnet(g, h, `decoder.up_blocks.${b}.resnets.${j}`, { groups: cfg.normNumGroups, eps: EPS, inChannels: channels });
      if (r.channels !== c) throw g.error(`decoder.up_blocks.${b}.resnets.${j} gives ${r.channels} channels, block_out_channels says ${c}`);
      h = r.out;
      channels = r.channels;
    }
    if (b < rev.length - 1) h = conv2d(g, upsample2x(g, h), `decoder.up_blocks.${b}.upsamplers.0.conv`, { inChannels: channels });
  });
  h = conv2d(g, groupNorm(g, h, 'decoder.conv_norm_out', cfg.normNumGroups, EPS, true), 'decoder.conv_out', { inChannels: channels });
  g.output(h, 'sample', g.dtype, ['batch', cfg.outChannels, 'height', 'width']);
  return g.finish({ 'atelier.network': 'vae_decoder', 'atelier.config': JSON.stringify(config) });
}
