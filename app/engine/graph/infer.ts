import { InvalidModelError } from '../model/errors.js';
import type { WeightSource } from './weights.js';

// Configs derived from the weights' names and shapes (diffusers naming), for weights that come
// without a config.json — single-file checkpoints once their keys are mapped. Everything the
// shapes tell is read from them; what they cannot tell (attention heads, norm groups, sample
// size, scaling factor) comes from `known`, else SD 1.x/2.x's values (docs/graph-builder.md).

function shapeOf(w: WeightSource, name: string, part: string): readonly number[] {
  const info = w.info(name);
  if (!info) throw new InvalidModelError(part, `${part}: weight ${name} is missing from ${w.label}`);
  return info.shape;
}

function count(w: WeightSource, name: (i: number) => string): number {
  let n = 0;
  while (w.info(name(n))) n++;
  return n;
}

export interface UnetKnown {
  /** Heads per block, or one number for all (diffusers' attention_head_dim for SD 1.x/2.x). */
  heads?: number | number[];
  /** Or channels per head (SD 2.x: 64). */
  headDim?: number;
  normNumGroups?: number;
  sampleSize?: number;
  /** SDXL: addition_time_embed_dim (the sinusoid width per time id; default 256, SDXL's). */
  timeEmbedDim?: number;
}

/**
 * A diffusers UNet2DConditionModel (or ControlNetModel, when controlnet_cond_embedding.* is
 * present) config from its weights. Without heads or headDim: 8 heads for a 768-wide cross
 * attention (SD 1.x), 64 channels per head otherwise (SD 2.x).
 */
export function unetConfigFromWeights(w: WeightSource, known: UnetKnown = {}): Record<string, unknown> {
  const controlnet = w.info('controlnet_cond_embedding.conv_in.weight') !== undefined;
  const part = controlnet ? 'controlnet' : 'unet';
  const blocks = count(w, (i) => `down_blocks.${i}.resnets.0.conv1.weight`);
  if (blocks === 0) throw new InvalidModelError(part, `${part}: no down_blocks.0.resnets.0.conv1.weight in ${w.label} (not a UNet in diffusers naming?)`);
  const channels = Array.from({ length: blocks }, (_, i) => shapeOf(w, `down_blocks.${i}.resnets.0.conv1.weight`, part)[0]!);
  const layers = count(w, (j) => `down_blocks.0.resnets.${j}.conv1.weight`);
  const crossDown = channels.map((_, i) => w.info(`down_blocks.${i}.attentions.0.proj_in.weight`) !== undefined);
  const firstAttention = crossDown.indexOf(true) >= 0 ? `down_blocks.${crossDown.indexOf(true)}.attentions.0` : 'mid_block.attentions.0';
  const crossDim = shapeOf(w, `${firstAttention}.transformer_blocks.0.attn2.to_k.weight`, part)[1]!;
  const depth = channels.map((_, i) => (crossDown[i] ? count(w, (k) => `down_blocks.${i}.attentions.0.transformer_blocks.${k}.norm1.weight`) : 1));
  let heads: number[];
  if (known.heads !== undefined) heads = typeof known.heads === 'number' ? channels.map(() => known.heads as number) : known.heads;
  else if (known.headDim !== undefined || crossDim !== 768) heads = channels.map((c) => c / (known.headDim ?? 64));
  else heads = channels.map(() => 8);
  if (heads.some((h) => !Number.isInteger(h) || h <= 0)) throw new InvalidModelError(part, `${part}: block channels [${channels.join(', ')}] do not split into whole heads`);
  const config: Record<string, unknown> = {
    _class_name: controlnet ? 'ControlNetModel' : 'UNet2DConditionModel',
    in_channels: shapeOf(w, 'conv_in.weight', part)[1],
    block_out_channels: channels,
    layers_per_block: layers,
    cross_attention_dim: crossDim,
    attention_head_dim: heads.every((h) => h === heads[0]) ? heads[0] : heads,
    use_linear_projection: shapeOf(w, `${firstAttention}.proj_in.weight`, part).length === 2,
    transformer_layers_per_block: depth.every((d) => d === depth[0]) ? depth[0] : depth,
    norm_num_groups: known.normNumGroups ?? 32,
    sample_size: known.sampleSize ?? 64,
    down_block_types: crossDown.map((c) => (c ? 'CrossAttnDownBlock2D' : 'DownBlock2D')),
  };
  // SDXL's added conditioning (unet-sdxl.ts); LCM's cond_proj is kept so the builder refuses it by name.
  if (w.info('add_embedding.linear_1.weight')) {
    Object.assign(config, {
      addition_embed_type: 'text_time',
      addition_time_embed_dim: known.timeEmbedDim ?? 256,
      projection_class_embeddings_input_dim: shapeOf(w, 'add_embedding.linear_1.weight', part)[1],
    });
  }
  if (w.info('time_embedding.cond_proj.weight')) config.time_cond_proj_dim = shapeOf(w, 'time_embedding.cond_proj.weight', part)[1];
  if (controlnet) {
    const p = 'controlnet_cond_embedding';
    config.conditioning_channels = shapeOf(w, `${p}.conv_in.weight`, part)[1];
    const embed = [shapeOf(w, `${p}.conv_in.weight`, part)[0]!];
    for (let i = 1; w.info(`${p}.blocks.${i}.weight`); i += 2) embed.push(shapeOf(w, `${p}.blocks.${i}.weight`, part)[0]!);
    config.conditioning_embedding_out_channels = embed;
  } else {
    config.out_channels = shapeOf(w, 'conv_out.weight', part)[0];
    config.up_block_types = channels.map((_, i) => (w.info(`up_blocks.${i}.attentions.0.proj_in.weight`) ? 'CrossAttnUpBlock2D' : 'UpBlock2D'));
  }
  return config;
}

/**
 * A transformers CLIPTextConfig from CLIPTextModel weights (text_model.*; with text_projection.weight:
 * CLIPTextModelWithProjection, SDXL's text_encoder_2). Heads default to width/64 (CLIP-L 12,
 * OpenCLIP-H 16, bigG 20); the activation to quick_gelu, gelu at width 1024 or 1280 (OpenCLIP-H and
 * -bigG, trained with GELU).
 */
export function clipConfigFromWeights(w: WeightSource, known: { heads?: number; hiddenAct?: 'quick_gelu' | 'gelu' } = {}): Record<string, unknown> {
  const part = 'text_encoder';
  const [vocab, hidden] = shapeOf(w, 'text_model.embeddings.token_embedding.weight', part);
  const layers = count(w, (i) => `text_model.encoder.layers.${i}.self_attn.q_proj.weight`);
  if (layers === 0) throw new InvalidModelError(part, `${part}: no text_model.encoder.layers.0 in ${w.label}`);
  if (known.heads === undefined && hidden! % 64 !== 0) throw new InvalidModelError(part, `${part}: width ${hidden} does not split into 64-wide heads; the number of heads must be given`);
  const projection = w.info('text_projection.weight')?.shape;
  return {
    architectures: [projection ? 'CLIPTextModelWithProjection' : 'CLIPTextModel'],
    model_type: 'clip_text_model',
    ...(projection ? { projection_dim: projection[0] } : {}),
    vocab_size: vocab,
    hidden_size: hidden,
    intermediate_size: shapeOf(w, 'text_model.encoder.layers.0.mlp.fc1.weight', part)[0],
    num_hidden_layers: layers,
    num_attention_heads: known.heads ?? hidden! / 64,
    max_position_embeddings: shapeOf(w, 'text_model.embeddings.position_embedding.weight', part)[0],
    hidden_act: known.hiddenAct ?? (hidden === 1024 || hidden === 1280 ? 'gelu' : 'quick_gelu'),
    layer_norm_eps: 1e-5,
  };
}

/** An AutoencoderKL config from its weights (encoder.*, decoder.*, quant_conv, post_quant_conv). */
export function vaeConfigFromWeights(w: WeightSource, known: { normNumGroups?: number; scalingFactor?: number; sampleSize?: number; forceUpcast?: boolean } = {}): Record<string, unknown> {
  const part = 'vae';
  const blocks = count(w, (i) => `encoder.down_blocks.${i}.resnets.0.conv1.weight`);
  if (blocks === 0) throw new InvalidModelError(part, `${part}: no encoder.down_blocks.0.resnets.0.conv1.weight in ${w.label} (not an AutoencoderKL in diffusers naming?)`);
  return {
    _class_name: 'AutoencoderKL',
    in_channels: shapeOf(w, 'encoder.conv_in.weight', part)[1],
    out_channels: shapeOf(w, 'decoder.conv_out.weight', part)[0],
    latent_channels: shapeOf(w, 'post_quant_conv.weight', part)[0],
    block_out_channels: Array.from({ length: blocks }, (_, i) => shapeOf(w, `encoder.down_blocks.${i}.resnets.0.conv1.weight`, part)[0]),
    layers_per_block: count(w, (j) => `encoder.down_blocks.0.resnets.${j}.conv1.weight`),
    norm_num_groups: known.normNumGroups ?? 32,
    scaling_factor: known.scalingFactor ?? 0.18215,
    sample_size: known.sampleSize ?? 512,
    down_block_types: new Array<string>(blocks).fill('DownEncoderBlock2D'),
    up_block_types: new Array<string>(blocks).fill('UpDecoderBlock2D'),
    // SDXL's VAE overflows in float16: diffusers decodes it in float32 (the pipeline reads this)
    ...(known.forceUpcast !== undefined ? { force_upcast: known.forceUpcast } : {}),
  };
}
