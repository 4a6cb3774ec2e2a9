import { InvalidModelError } from '../model/errors.js';
import type { GraphBuilder } from './core.js';
import { addLayerNorm, attention, conv2d, fromTokens, geglu, groupNorm, layerNorm, linear, linearOut, resnet, silu, timestepEmbedding, toTokens } from './nn.js';
import { addedTimeEmbedding, parseAddedCond, type AddedCond } from './unet-sdxl.js';

// What diffusers' UNet2DConditionModel and ControlNetModel share: the config (read from a
// diffusers config.json, with diffusers' defaults), conv_in, the timestep embedding, the down
// blocks and the cross-attention mid block (docs/graph-builder.md).

export interface UnetConfig {
  inChannels: number;
  outChannels: number;
  sampleSize: number;
  blockOutChannels: number[];
  layersPerBlock: number;
  normNumGroups: number;
  normEps: number;
  crossAttentionDim: number;
  /** Heads per block (diffusers' attention_head_dim means heads for SD 1.x/2.x configs). */
  heads: number[];
  transformerLayers: number[];
  useLinearProjection: boolean;
  /** Scores and softmax in float32 in float16 graphs (SD 2.1's upcast_attention). */
  upcastAttention: boolean;
  flipSinToCos: boolean;
  freqShift: number;
  downBlockTypes: string[];
  upBlockTypes: string[];
  /** SDXL's added conditioning (addition_embed_type "text_time"; unet-sdxl.ts). */
  added?: AddedCond;
  /** text_embeds' width when the caller knows it (text_encoder_2's projection; unet-sdxl.ts addedInputs). */
  textEmbedsDim?: number;
}

const DOWN = new Set(['CrossAttnDownBlock2D', 'DownBlock2D']);
const UP = new Set(['CrossAttnUpBlock2D', 'UpBlock2D']);

function perBlock(value: unknown, n: number, key: string, part: string): number[] {
  if (typeof value === 'number') return new Array<number>(n).fill(value);
  if (Array.isArray(value) && value.length === n && value.every((v) => typeof v === 'number' && v > 0)) return value as number[];
  throw new InvalidModelError(part, `${part} config: ${key} must be a number or one per block (${n})`);
}

/** A diffusers UNet / ControlNet config.json object → UnetConfig; what SD 1.x/2.x do not use is refused by name. */
export function parseUnetConfig(raw: Record<string, unknown>, part = 'unet'): UnetConfig {
  const num = (key: string, fallback: number): number => {
    const v = raw[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidModelError(part, `${part} config: ${key} must be a number`);
    return v;
  };
  const added = parseAddedCond(raw, part);
  for (const key of ['class_embed_type', 'encoder_hid_dim', 'time_cond_proj_dim']) {
    if (raw[key] !== undefined && raw[key] !== null) throw new InvalidModelError(part, `${part} config: ${key} (${JSON.stringify(raw[key])}) is not supported by the graph builder yet (SD 1.x/2.x/XL only)`);
  }
  for (const key of ['dual_cross_attention', 'only_cross_attention', 'resnet_time_scale_shift']) {
    const v = raw[key];
    if (v !== undefined && v !== false && v !== 'default') throw new InvalidModelError(part, `${part} config: ${key} ${JSON.stringify(v)} is not supported by the graph builder`);
  }
  const blocks = raw.block_out_channels ?? [320, 640, 1280, 1280];
  if (!Array.isArray(blocks) || blocks.length === 0 || !blocks.every((b) => Number.isInteger(b) && b > 0)) throw new InvalidModelError(part, `${part} config: block_out_channels must be a list of channel counts`);
  const n = blocks.length;
  const down = (raw.down_block_types ?? [...new Array<string>(n - 1).fill('CrossAttnDownBlock2D'), 'DownBlock2D']) as unknown[];
  const up = (raw.up_block_types ?? ['UpBlock2D', ...new Array<string>(n - 1).fill('CrossAttnUpBlock2D')]) as unknown[];
  if (!Array.isArray(down) || down.length !== n || !down.every((t) => typeof t === 'string' && DOWN.has(t))) {
    throw new InvalidModelError(part, `${part} config: down_block_types must be ${n} of ${[...DOWN].join(' / ')}`);
  }
  if (raw._class_name !== 'ControlNetModel' && (!Array.isArray(up) || up.length !== n || !up.every((t) => typeof t === 'string' && UP.has(t)))) {
    throw new InvalidModelError(part, `${part} config: up_block_types must be ${n} of ${[...UP].join(' / ')}`);
  }
  const mid = raw.mid_block_type ?? 'UNetMidBlock2DCrossAttn';
  if (mid !== 'UNetMidBlock2DCrossAttn') throw new InvalidModelError(part, `${part} config: mid_block_type ${String(mid)} is not supported`);
  const cross = raw.cross_attention_dim ?? 768;
  if (typeof cross !== 'number') throw new InvalidModelError(part, `${part} config: cross_attention_dim must be one number`);
  const layers = num('layers_per_block', 2);
  if (!Number.isInteger(layers) || layers < 1) throw new InvalidModelError(part, `${part} config: layers_per_block must be a positive integer`);
  return {
    inChannels: num('in_channels', 4),
    outChannels: num('out_channels', 4),
    sampleSize: num('sample_size', 64),
    blockOutChannels: blocks as number[],
    layersPerBlock: layers,
    normNumGroups: num('norm_num_groups', 32),
    normEps: num('norm_eps', 1e-5),
    crossAttentionDim: cross,
    // diffusers passes attention_head_dim on as the number of heads when num_attention_heads is unset
    heads: perBlock(raw.num_attention_heads ?? raw.attention_head_dim ?? 8, n, 'attention_head_dim', part),
    transformerLayers: perBlock(raw.transformer_layers_per_block ?? 1, n, 'transformer_layers_per_block', part),
    useLinearProjection: raw.use_linear_projection === true,
    upcastAttention: raw.upcast_attention === true,
    flipSinToCos: raw.flip_sin_to_cos !== false,
    freqShift: num('freq_shift', 0),
    downBlockTypes: down as string[],
    upBlockTypes: up as string[],
    ...(added ? { added } : {}),
  };
}

function crossAttention(g: GraphBuilder, x: string, context: string, prefix: string, heads: number, width: number, upcast: boolean): string {
  const q = linear(g, x, `${prefix}.to_q`, width);
  const k = linear(g, context, `${prefix}.to_k`);
  const v = linear(g, context, `${prefix}.to_v`);
  if (linearOut(g, `${prefix}.to_q`) !== width) throw g.error(`${prefix}.to_q gives ${linearOut(g, `${prefix}.to_q`)} features, expected ${width}`);
  return linear(g, attention(g, q, k, v, heads, width, { upcast }), `${prefix}.to_out.0`, width);
}

/** diffusers' BasicTransformerBlock: self-attention, cross-attention, GEGLU feed-forward, each pre-LayerNorm with a residual. */
function transformerBlock(g: GraphBuilder, x: string, context: string, prefix: string, heads: number, width: number, upcast: boolean): string {
  // each residual add and the LayerNorm after it are one SkipLayerNormalization where fused
  const n1 = layerNorm(g, x, `${prefix}.norm1`, 1e-5);
  const a1 = addLayerNorm(g, x, crossAttention(g, n1, n1, `${prefix}.attn1`, heads, width, upcast), `${prefix}.norm2`, 1e-5);
  const a2 = addLayerNorm(g, a1.sum, crossAttention(g, a1.normed, context, `${prefix}.attn2`, heads, width, upcast), `${prefix}.norm3`, 1e-5);
  const ff = linear(g, geglu(g, a2.normed, `${prefix}.ff.net.0.proj`, width), `${prefix}.ff.net.2`);
  return g.op1('Add', [a2.sum, ff]);
}

/** diffusers' Transformer2DModel on [B, C, H, W] (proj_in/proj_out as 1×1 convs, or linears with use_linear_projection). */
export function transformer2d(g: GraphBuilder, x: string, context: string, prefix: string, cfg: UnetConfig, block: number, width: number): string {
  const normed = groupNorm(g, x, `${prefix}.norm`, cfg.normNumGroups, 1e-6);
  let t: string;
  if (cfg.useLinearProjection) t = linear(g, toTokens(g, normed, width), `${prefix}.proj_in`, width);
  else t = toTokens(g, conv2d(g, normed, `${prefix}.proj_in`, { inChannels: width }), width);
  for (let i = 0; i < cfg.transformerLayers[block]!; i++) t = transformerBlock(g, t, context, `${prefix}.transformer_blocks.${i}`, cfg.heads[block]!, width, cfg.upcastAttention);
  const out = cfg.useLinearProjection ? fromTokens(g, linear(g, t, `${prefix}.proj_out`, width), x) : conv2d(g, fromTokens(g, t, x), `${prefix}.proj_out`, { inChannels: width });
  return g.op1('Add', [out, x]);
}

export interface EncoderHalf {
  hidden: string;
  channels: number;
  /** conv_in's output, then every resnet/attention pair's and downsampler's: the skip connections (and the ControlNet residual points). */
  skips: Array<{ value: string; channels: number }>;
  temb: string;
}

/**
 * conv_in (+ `addToInput`, the ControlNet's conditioning embedding), time embedding, down
 * blocks. `timestep` is a float32 [B] value.
 */
export function encoderHalf(g: GraphBuilder, cfg: UnetConfig, sample: string, timestep: string, context: string, addToInput?: (h: string) => string): EncoderHalf {
  const ch = cfg.blockOutChannels;
  let temb = timestepEmbedding(g, timestep, ch[0]!, cfg.flipSinToCos, cfg.freqShift);
  if (g.compute !== 'float32') temb = g.cast(temb, g.compute);
  temb = linear(g, silu(g, linear(g, temb, 'time_embedding.linear_1', ch[0])), 'time_embedding.linear_2');
  if (cfg.added) temb = addedTimeEmbedding(g, cfg, temb);
  let h = conv2d(g, sample, 'conv_in', { inChannels: cfg.inChannels });
  if (addToInput) h = addToInput(h);
  let channels = ch[0]!;
  const skips = [{ value: h, channels }];
  cfg.downBlockTypes.forEach((type, b) => {
    for (let j = 0; j < cfg.layersPerBlock; j++) {
      const r = resnet(g, h, `down_blocks.${b}.resnets.${j}`, { temb, groups: cfg.normNumGroups, eps: cfg.normEps, inChannels: channels });
      if (r.channels !== ch[b]) throw g.error(`down_blocks.${b}.resnets.${j} gives ${r.channels} channels, block_out_channels says ${ch[b]}`);
      h = r.out;
      channels = r.channels;
      if (type === 'CrossAttnDownBlock2D') h = transformer2d(g, h, context, `down_blocks.${b}.attentions.${j}`, cfg, b, channels);
      skips.push({ value: h, channels });
    }
    if (b < ch.length - 1) {
      h = conv2d(g, h, `down_blocks.${b}.downsamplers.0.conv`, { stride: 2, inChannels: channels });
      skips.push({ value: h, channels });
    }
  });
  return { hidden: h, channels, skips, temb };
}

/** UNetMidBlock2DCrossAttn: resnet, transformer, resnet. */
export function midBlock(g: GraphBuilder, cfg: UnetConfig, h: string, channels: number, temb: string, context: string): string {
  const last = cfg.blockOutChannels.length - 1;
  const opts = { temb, groups: cfg.normNumGroups, eps: cfg.normEps, inChannels: channels };
  let x = resnet(g, h, 'mid_block.resnets.0', opts).out;
  x = transformer2d(g, x, context, 'mid_block.attentions.0', cfg, last, channels);
  return resnet(g, x, 'mid_block.resnets.1', opts).out;
}

/** The graph inputs both networks take: sample, timestep (float32 [B]), encoder_hidden_states. */
export function unetInputs(g: GraphBuilder, cfg: UnetConfig): { sample: string; timestep: string; context: string } {
  const sample = g.input('sample', g.dtype, ['batch', cfg.inChannels, 'height', 'width']);
  const timestep = g.input('timestep', 'float32', ['batch'], false);
  const context = g.input('encoder_hidden_states', g.dtype, ['batch', 'sequence', cfg.crossAttentionDim]);
  return { sample, timestep, context };
}
