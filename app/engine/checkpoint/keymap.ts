import { InvalidModelError } from '../model/errors.js';
import { bytesPerElement, type WeightInfo, type WeightSource } from '../graph/weights.js';

// The original (CompVis/Stability "LDM") single-file checkpoint layout mapped to the graph
// builder's diffusers/transformers names (docs/models.md): one view per network over the same
// file, each weight still read by offset when the graph is written. OpenCLIP's fused attention
// projection (SD 2.x) is split into q/k/v by row ranges of the fused tensor.

interface Mapped {
  source: string;
  /** Rows [start, end) of the source's first dimension (OpenCLIP's in_proj split). */
  rows?: [number, number];
  /** A matrix stored the other way round (OpenCLIP's text_projection is [width, projection], used as x @ P). */
  transpose?: boolean;
}

/** A row-major [rows, cols] matrix of `size`-byte elements, transposed. */
function transposeBytes(bytes: Uint8Array, rows: number, cols: number, size: number): Uint8Array {
  const out = new Uint8Array(bytes.byteLength);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out.set(bytes.subarray((r * cols + c) * size, (r * cols + c + 1) * size), (c * rows + r) * size);
  return out;
}

/** A renamed view of `base`: `map` from builder names to source names (and row slices). */
export function mappedWeights(base: WeightSource, label: string, map: Map<string, Mapped>): WeightSource {
  const info = (name: string): WeightInfo | undefined => {
    const m = map.get(name);
    const src = m ? base.info(m.source) : undefined;
    if (!m || !src) return undefined;
    if (m.transpose) return src.shape.length === 2 ? { dtype: src.dtype, shape: [src.shape[1]!, src.shape[0]!] } : undefined;
    return m.rows ? { dtype: src.dtype, shape: [m.rows[1] - m.rows[0], ...src.shape.slice(1)] } : src;
  };
  return {
    label,
    names: () => [...map.keys()].filter((n) => info(n) !== undefined),
    info,
    read: (name) => {
      const m = map.get(name);
      if (!m) throw new InvalidModelError(label, `${label} has no weight ${name}`);
      const bytes = base.read(m.source);
      const src = base.info(m.source)!;
      if (m.transpose) return transposeBytes(bytes, src.shape[0]!, src.shape[1]!, bytesPerElement(src.dtype));
      if (!m.rows) return bytes;
      const rowBytes = (src.shape.slice(1).reduce((a, b) => a * b, 1)) * bytesPerElement(src.dtype);
      return bytes.subarray(m.rows[0] * rowBytes, m.rows[1] * rowBytes);
    },
  };
}

function unknownKeys(label: string, part: string, keys: string[]): never {
  const shown = keys.slice(0, 3).join(', ');
  throw new InvalidModelError(part, `${label}: ${keys.length} ${part} weight(s) of an unknown architecture (${shown}${keys.length > 3 ? ', …' : ''})`);
}

const RESNET: [string, string][] = [
  ['in_layers.0.', 'norm1.'],
  ['in_layers.2.', 'conv1.'],
  ['emb_layers.1.', 'time_emb_proj.'],
  ['out_layers.0.', 'norm2.'],
  ['out_layers.3.', 'conv2.'],
  ['skip_connection.', 'conv_shortcut.'],
];

function resnet(rest: string): string | undefined {
  for (const [from, to] of RESNET) if (rest.startsWith(from)) return to + rest.slice(from.length);
  return undefined;
}

/** Number of levels and resnets per level of an LDM UNet, from its input_blocks. */
export function ldmUnetShape(keys: string[], prefix: string): { levels: number; layers: number } {
  const inputs = new Set<number>();
  let firstDown = -1;
  for (const k of keys) {
    const m = /^input_blocks\.(\d+)\./.exec(k.slice(prefix.length));
    if (!k.startsWith(prefix) || !m) continue;
    const i = Number(m[1]);
    inputs.add(i);
    if (k.slice(prefix.length).startsWith(`input_blocks.${i}.0.op.`) && (firstDown < 0 || i < firstDown)) firstDown = i;
  }
  const count = inputs.size;
  const layers = firstDown > 0 ? firstDown - 1 : count - 1;
  const levels = count / (layers + 1);
  return { levels, layers };
}

/** `model.diffusion_model.*` → UNet2DConditionModel names. */
export function ldmUnetMap(keys: string[], prefix: string, label: string): Map<string, Mapped> {
  const { levels, layers } = ldmUnetShape(keys, prefix);
  if (!Number.isInteger(levels) || levels < 1 || layers < 1) throw new InvalidModelError('unet', `${label}: the UNet's input_blocks do not form levels of resnets (not an SD 1.x/2.x UNet)`);
  const map = new Map<string, Mapped>();
  const bad: string[] = [];
  const per = layers + 1;
  for (const key of keys) {
    if (!key.startsWith(prefix)) continue;
    const k = key.slice(prefix.length);
    let to: string | undefined;
    let m: RegExpExecArray | null;
    if ((m = /^time_embed\.(0|2)\.(.*)$/.exec(k))) to = `time_embedding.linear_${m[1] === '0' ? 1 : 2}.${m[2]}`;
    // SDXL's added conditioning (text_embeds ‖ time ids → MLP): diffusers' add_embedding
    else if ((m = /^label_emb\.0\.(0|2)\.(.*)$/.exec(k))) to = `add_embedding.linear_${m[1] === '0' ? 1 : 2}.${m[2]}`;
    else if ((m = /^input_blocks\.0\.0\.(.*)$/.exec(k))) to = `conv_in.${m[1]}`;
    else if ((m = /^out\.(0|2)\.(.*)$/.exec(k))) to = `${m[1] === '0' ? 'conv_norm_out' : 'conv_out'}.${m[2]}`;
    else if ((m = /^input_blocks\.(\d+)\.(\d)\.(.*)$/.exec(k))) {
      const i = Number(m[1]) - 1;
      const [b, l] = [Math.floor(i / per), i % per];
      if (l === layers && m[2] === '0' && m[3]!.startsWith('op.')) to = `down_blocks.${b}.downsamplers.0.conv.${m[3]!.slice(3)}`;
      else if (l < layers && m[2] === '0') to = mapOr(resnet(m[3]!), `down_blocks.${b}.resnets.${l}.`);
      else if (l < layers && m[2] === '1') to = `down_blocks.${b}.attentions.${l}.${m[3]}`;
    } else if ((m = /^middle_block\.(\d)\.(.*)$/.exec(k))) {
      if (m[1] === '1') to = `mid_block.attentions.0.${m[2]}`;
      else if (m[1] === '0' || m[1] === '2') to = mapOr(resnet(m[2]!), `mid_block.resnets.${m[1] === '0' ? 0 : 1}.`);
    } else if ((m = /^output_blocks\.(\d+)\.(\d)\.(.*)$/.exec(k))) {
      const i = Number(m[1]);
      const [b, l] = [Math.floor(i / per), i % per];
      const rest = m[3]!;
      if (m[2] === '0') to = mapOr(resnet(rest), `up_blocks.${b}.resnets.${l}.`);
      else if (rest.startsWith('conv.') && l === layers) to = `up_blocks.${b}.upsamplers.0.conv.${rest.slice(5)}`;
      else if (m[2] === '1') to = `up_blocks.${b}.attentions.${l}.${rest}`;
    }
    if (to) map.set(to, { source: key });
    else bad.push(key);
  }
  if (bad.length) unknownKeys(label, 'unet', bad);
  return map;
}

function mapOr(rest: string | undefined, head: string): string | undefined {
  return rest === undefined ? undefined : head + rest;
}

const VAE_ATTENTION: Record<string, string> = { norm: 'group_norm', q: 'to_q', k: 'to_k', v: 'to_v', proj_out: 'to_out.0' };

function vaeResnet(rest: string): string | undefined {
  const m = /^(norm1|conv1|norm2|conv2|nin_shortcut)\.(.*)$/.exec(rest);
  if (!m) return undefined;
  return `${m[1] === 'nin_shortcut' ? 'conv_shortcut' : m[1]}.${m[2]}`;
}

/** `first_stage_model.*` → AutoencoderKL names (the decoder's levels are numbered in reverse). */
export function ldmVaeMap(keys: string[], prefix: string, label: string): Map<string, Mapped> {
  const upLevels = new Set(keys.filter((k) => k.startsWith(`${prefix}decoder.up.`)).map((k) => Number(k.slice(prefix.length).split('.')[2])));
  const n = upLevels.size;
  const map = new Map<string, Mapped>();
  const bad: string[] = [];
  for (const key of keys) {
    if (!key.startsWith(prefix)) continue;
    const k = key.slice(prefix.length);
    let to: string | undefined;
    let m: RegExpExecArray | null;
    if (/^(quant_conv|post_quant_conv|encoder\.conv_in|encoder\.conv_out|decoder\.conv_in|decoder\.conv_out)\./.test(k)) to = k;
    else if ((m = /^(encoder|decoder)\.norm_out\.(.*)$/.exec(k))) to = `${m[1]}.conv_norm_out.${m[2]}`;
    else if ((m = /^(encoder|decoder)\.mid\.block_(1|2)\.(.*)$/.exec(k))) to = mapOr(vaeResnet(m[3]!), `${m[1]}.mid_block.resnets.${Number(m[2]) - 1}.`);
    else if ((m = /^(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\.(.*)$/.exec(k))) to = `${m[1]}.mid_block.attentions.0.${VAE_ATTENTION[m[2]!]}.${m[3]}`;
    else if ((m = /^encoder\.down\.(\d+)\.block\.(\d+)\.(.*)$/.exec(k))) to = mapOr(vaeResnet(m[3]!), `encoder.down_blocks.${m[1]}.resnets.${m[2]}.`);
    else if ((m = /^encoder\.down\.(\d+)\.downsample\.conv\.(.*)$/.exec(k))) to = `encoder.down_blocks.${m[1]}.downsamplers.0.conv.${m[2]}`;
    else if ((m = /^decoder\.up\.(\d+)\.block\.(\d+)\.(.*)$/.exec(k))) to = mapOr(vaeResnet(m[3]!), `decoder.up_blocks.${n - 1 - Number(m[1])}.resnets.${m[2]}.`);
    else if ((m = /^decoder\.up\.(\d+)\.upsample\.conv\.(.*)$/.exec(k))) to = `decoder.up_blocks.${n - 1 - Number(m[1])}.upsamplers.0.conv.${m[2]}`;
    if (to) map.set(to, { source: key });
    else bad.push(key);
  }
  if (bad.length) unknownKeys(label, 'vae', bad);
  return map;
}

/** SD 1.x's `cond_stage_model.transformer.*` (transformers' CLIPTextModel, with or without `text_model.`). */
export function ldmClipMap(keys: string[], prefix: string): Map<string, Mapped> {
  const map = new Map<string, Mapped>();
  for (const key of keys) {
    if (!key.startsWith(prefix)) continue;
    const k = key.slice(prefix.length);
    if (k.endsWith('position_ids')) continue; // an index buffer, not a weight
    map.set(k.startsWith('text_model.') ? k : `text_model.${k}`, { source: key });
  }
  return map;
}

/**
 * SD 2.x's OpenCLIP ViT-H text tower (`cond_stage_model.model.*`) as a CLIPTextModel. SD 2.x
 * conditions on the penultimate layer followed by ln_final, so the last residual block is
 * left out, as diffusers' converted SD 2 text encoders (23 layers) do. SDXL's OpenCLIP-bigG
 * (`conditioner.embedders.{1,0}.model.*`, `sdxl`) keeps every block (it takes the penultimate
 * hidden state and pools after the last) and its text_projection, as CLIPTextModelWithProjection's
 * `text_projection.weight` (the transpose: open_clip multiplies x @ P).
 */
export function openClipMap(keys: string[], prefix: string, base: WeightSource, label: string, sdxl = false): Map<string, Mapped> {
  const map = new Map<string, Mapped>();
  const bad: string[] = [];
  const layers = new Set(keys.filter((k) => k.startsWith(`${prefix}transformer.resblocks.`)).map((k) => Number(k.slice(prefix.length).split('.')[2])));
  const last = layers.size - 1;
  const t = 'text_model.';
  const part = sdxl ? 'text_encoder_2' : 'text_encoder';
  for (const key of keys) {
    if (!key.startsWith(prefix)) continue;
    const k = key.slice(prefix.length);
    let m: RegExpExecArray | null;
    if (k === 'token_embedding.weight') map.set(`${t}embeddings.token_embedding.weight`, { source: key });
    else if (k === 'positional_embedding') map.set(`${t}embeddings.position_embedding.weight`, { source: key });
    else if ((m = /^ln_final\.(.*)$/.exec(k))) map.set(`${t}final_layer_norm.${m[1]}`, { source: key });
    else if (k === 'text_projection' && sdxl) map.set('text_projection.weight', { source: key, transpose: true });
    else if (k === 'text_projection' || k === 'logit_scale' || k === 'attn_mask') continue; // not used by SD's conditioning
    else if ((m = /^transformer\.resblocks\.(\d+)\.(.*)$/.exec(k))) {
      if (Number(m[1]) === last && !sdxl) continue;
      const layer = `${t}encoder.layers.${m[1]}.`;
      const rest = m[2]!;
      let r: RegExpExecArray | null;
      if ((r = /^ln_(1|2)\.(.*)$/.exec(rest))) map.set(`${layer}layer_norm${r[1]}.${r[2]}`, { source: key });
      else if ((r = /^mlp\.c_(fc|proj)\.(.*)$/.exec(rest))) map.set(`${layer}mlp.fc${r[1] === 'fc' ? 1 : 2}.${r[2]}`, { source: key });
      else if ((r = /^attn\.out_proj\.(.*)$/.exec(rest))) map.set(`${layer}self_attn.out_proj.${r[1]}`, { source: key });
      else if ((r = /^attn\.in_proj_(weight|bias)$/.exec(rest))) {
        const rows = base.info(key)!.shape[0]!;
        if (rows % 3 !== 0) throw new InvalidModelError(part, `${label}: ${key} has ${rows} rows, not three equal q/k/v parts`);
        const d = rows / 3;
        ['q', 'k', 'v'].forEach((p, j) => map.set(`${layer}self_attn.${p}_proj.${r![1]}`, { source: key, rows: [j * d, (j + 1) * d] }));
      } else bad.push(key);
    } else bad.push(key);
  }
  if (bad.length) unknownKeys(label, part, bad);
  return map;
}
