import type { ClipConfig } from './clip.js';
import type { UnetConfig } from './unet-blocks.js';
import type { VaeConfig } from './vae.js';
import { elementCount, type WeightInfo, type WeightSource } from './weights.js';

// Random weights for a diffusers UNet2DConditionModel of any config, under diffusers' names
// and shapes (docs/graph-builder.md, "Fused operators"): what bench/gpu.ts builds full-size
// SD 1.5 graphs from without a checkpoint or Python, and bench/models-sdxl.ts a full-size SDXL
// folder (with the CLIP and AutoencoderKL shapes below). Values are made when the writer reads a
// tensor, from a seed and the weight's name, so a 3 GB UNet never sits in memory and two runs
// give the same bytes.

/** Every weight of the UNet `cfg` describes: diffusers name → shape. */
export function unetWeightShapes(cfg: UnetConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const ch = cfg.blockOutChannels;
  const temb = ch[0]! * 4;
  const add = (name: string, shape: number[]): void => void shapes.set(name, shape);
  const affine = (p: string, c: number): void => {
    add(`${p}.weight`, [c]);
    add(`${p}.bias`, [c]);
  };
  const linear = (p: string, out: number, inp: number, bias = true): void => {
    add(`${p}.weight`, [out, inp]);
    if (bias) add(`${p}.bias`, [out]);
  };
  const conv = (p: string, out: number, inp: number, k: number): void => {
    add(`${p}.weight`, [out, inp, k, k]);
    add(`${p}.bias`, [out]);
  };
  const resnet = (p: string, inp: number, out: number): void => {
    affine(`${p}.norm1`, inp);
    conv(`${p}.conv1`, out, inp, 3);
    linear(`${p}.time_emb_proj`, out, temb);
    affine(`${p}.norm2`, out);
    conv(`${p}.conv2`, out, out, 3);
    if (inp !== out) conv(`${p}.conv_shortcut`, out, inp, 1);
  };
  const transformer = (p: string, c: number, block: number): void => {
    affine(`${p}.norm`, c);
    const proj = (name: string): void => (cfg.useLinearProjection ? linear(`${p}.${name}`, c, c) : conv(`${p}.${name}`, c, c, 1));
    proj('proj_in');
    for (let i = 0; i < cfg.transformerLayers[block]!; i++) {
      const b = `${p}.transformer_blocks.${i}`;
      for (const n of ['norm1', 'norm2', 'norm3']) affine(`${b}.${n}`, c);
      for (const [attn, kv] of [['attn1', c], ['attn2', cfg.crossAttentionDim]] as const) {
        linear(`${b}.${attn}.to_q`, c, c, false);
        linear(`${b}.${attn}.to_k`, c, kv, false);
        linear(`${b}.${attn}.to_v`, c, kv, false);
        linear(`${b}.${attn}.to_out.0`, c, c);
      }
      linear(`${b}.ff.net.0.proj`, 8 * c, c);
      linear(`${b}.ff.net.2`, c, 4 * c);
    }
    proj('proj_out');
  };

  conv('conv_in', ch[0]!, cfg.inChannels, 3);
  linear('time_embedding.linear_1', temb, ch[0]!);
  linear('time_embedding.linear_2', temb, temb);
  if (cfg.added) {
    linear('add_embedding.linear_1', temb, cfg.added.inputDim);
    linear('add_embedding.linear_2', temb, temb);
  }
  const skips = [ch[0]!];
  let channels = ch[0]!;
  cfg.downBlockTypes.forEach((type, b) => {
    for (let j = 0; j < cfg.layersPerBlock; j++) {
      resnet(`down_blocks.${b}.resnets.${j}`, channels, ch[b]!);
      channels = ch[b]!;
      if (type === 'CrossAttnDownBlock2D') transformer(`down_blocks.${b}.attentions.${j}`, channels, b);
      skips.push(channels);
    }
    if (b < ch.length - 1) {
      conv(`down_blocks.${b}.downsamplers.0.conv`, channels, channels, 3);
      skips.push(channels);
    }
  });
  resnet('mid_block.resnets.0', channels, channels);
  transformer('mid_block.attentions.0', channels, ch.length - 1);
  resnet('mid_block.resnets.1', channels, channels);
  cfg.upBlockTypes.forEach((type, i) => {
    const block = ch.length - 1 - i;
    for (let j = 0; j <= cfg.layersPerBlock; j++) {
      resnet(`up_blocks.${i}.resnets.${j}`, channels + skips.pop()!, ch[block]!);
      channels = ch[block]!;
      if (type === 'CrossAttnUpBlock2D') transformer(`up_blocks.${i}.attentions.${j}`, channels, block);
    }
    if (i < ch.length - 1) conv(`up_blocks.${i}.upsamplers.0.conv`, channels, channels, 3);
  });
  affine('conv_norm_out', ch[0]!);
  conv('conv_out', cfg.outChannels, ch[0]!, 3);
  return shapes;
}

/** Every weight of transformers' CLIPTextModel (WithProjection when `cfg.projectionDim` is set): name → shape. */
export function clipWeightShapes(cfg: ClipConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const d = cfg.hiddenSize;
  const p = 'text_model';
  shapes.set(`${p}.embeddings.token_embedding.weight`, [cfg.vocabSize, d]);
  shapes.set(`${p}.embeddings.position_embedding.weight`, [cfg.maxPositions, d]);
  const linear = (name: string, out: number, inp: number): void => {
    shapes.set(`${name}.weight`, [out, inp]);
    shapes.set(`${name}.bias`, [out]);
  };
  const norm = (name: string): void => {
    shapes.set(`${name}.weight`, [d]);
    shapes.set(`${name}.bias`, [d]);
  };
  for (let i = 0; i < cfg.layers; i++) {
    const l = `${p}.encoder.layers.${i}`;
    norm(`${l}.layer_norm1`);
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) linear(`${l}.self_attn.${proj}`, d, d);
    norm(`${l}.layer_norm2`);
    linear(`${l}.mlp.fc1`, cfg.intermediateSize, d);
    linear(`${l}.mlp.fc2`, d, cfg.intermediateSize);
  }
  norm(`${p}.final_layer_norm`);
  if (cfg.projectionDim !== undefined) shapes.set('text_projection.weight', [cfg.projectionDim, d]);
  return shapes;
}

/** Every weight of diffusers' AutoencoderKL (encoder, decoder, quant convs): name → shape. */
export function vaeWeightShapes(cfg: VaeConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const ch = cfg.blockOutChannels;
  const n = ch.length;
  const affine = (p: string, c: number): void => {
    shapes.set(`${p}.weight`, [c]);
    shapes.set(`${p}.bias`, [c]);
  };
  const conv = (p: string, out: number, inp: number, k: number): void => {
    shapes.set(`${p}.weight`, [out, inp, k, k]);
    shapes.set(`${p}.bias`, [out]);
  };
  const resnet = (p: string, inp: number, out: number): void => {
    affine(`${p}.norm1`, inp);
    conv(`${p}.conv1`, out, inp, 3);
    affine(`${p}.norm2`, out);
    conv(`${p}.conv2`, out, out, 3);
    if (inp !== out) conv(`${p}.conv_shortcut`, out, inp, 1);
  };
  const mid = (p: string, c: number): void => {
    resnet(`${p}.mid_block.resnets.0`, c, c);
    affine(`${p}.mid_block.attentions.0.group_norm`, c);
    for (const proj of ['to_q', 'to_k', 'to_v', 'to_out.0']) {
      shapes.set(`${p}.mid_block.attentions.0.${proj}.weight`, [c, c]);
      shapes.set(`${p}.mid_block.attentions.0.${proj}.bias`, [c]);
    }
    resnet(`${p}.mid_block.resnets.1`, c, c);
  };
  conv('encoder.conv_in', ch[0]!, cfg.inChannels, 3);
  let c = ch[0]!;
  ch.forEach((out, i) => {
    for (let j = 0; j < cfg.layersPerBlock; j++) {
      resnet(`encoder.down_blocks.${i}.resnets.${j}`, c, out);
      c = out;
    }
    if (i < n - 1) conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, c, c, 3);
  });
  mid('encoder', c);
  affine('encoder.conv_norm_out', c);
  conv('encoder.conv_out', 2 * cfg.latentChannels, c, 3);
  conv('quant_conv', 2 * cfg.latentChannels, 2 * cfg.latentChannels, 1);
  conv('post_quant_conv', cfg.latentChannels, cfg.latentChannels, 1);
  c = ch[n - 1]!;
  conv('decoder.conv_in', c, cfg.latentChannels, 3);
  mid('decoder', c);
  [...ch].reverse().forEach((out, i) => {
    for (let j = 0; j <= cfg.layersPerBlock; j++) {
      resnet(`decoder.up_blocks.${i}.resnets.${j}`, c, out);
      c = out;
    }
    if (i < n - 1) conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, c, c, 3);
  });
  affine('decoder.conv_norm_out', c);
  conv('decoder.conv_out', cfg.outChannels, c, 3);
  return shapes;
}

/** FNV-1a of a string: the per-weight seed. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Weights of the given shapes, scaled as PyTorch initialises them (uniform ±1/√fan-in for
 * matrices and kernels), norm scales near 1 and small biases, so that activations stay in
 * float16 range through a full-size network.
 */
export class RandomWeights implements WeightSource {
  readonly label: string;

  constructor(
    private readonly shapes: ReadonlyMap<string, readonly number[]>,
    private readonly seed = 1,
  ) {
    this.label = `random weights (seed ${seed})`;
  }

  names(): string[] {
    return [...this.shapes.keys()];
  }

  info(name: string): WeightInfo | undefined {
    const shape = this.shapes.get(name);
    return shape ? { dtype: 'float32', shape: [...shape] } : undefined;
  }

  read(name: string): Uint8Array {
    const shape = this.shapes.get(name);
    if (!shape) throw new Error(`${this.label}: no weight ${name}`);
    const n = elementCount(shape);
    const out = new Float32Array(n);
    // mulberry32: fast, and the same sequence in every run
    let s = hash(`${this.seed}:${name}`);
    const next = (): number => {
      s = (s + 0x6d2b79f5) | 0;
      let t = Math.imul(s ^ (s >>> 15), 1 | s);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const norm = shape.length === 1 && !name.endsWith('.bias');
    const bound = shape.length > 1 ? 1 / Math.sqrt(n / shape[0]!) : 0.1;
    for (let i = 0; i < n; i++) out[i] = (norm ? 1 : 0) + (2 * next() - 1) * bound;
    return new Uint8Array(out.buffer);
  }
}
