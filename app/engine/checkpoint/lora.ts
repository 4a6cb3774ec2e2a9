import path from 'node:path';
import { ApiError } from '../../contract/index.js';
import { readSafetensorsHeader, safetensorsWeights, toFloat32Values, type WeightSource } from '../graph/weights.js';
import { ldmUnetAliases } from './lora-names.js';

// LoRA / LoCon / LoHa files (docs/models.md): kohya's naming (lora_unet_*, lora_te_*, with
// lora_down / lora_up / alpha), diffusers' and PEFT's (unet.* / text_encoder.* with lora_A /
// lora_B, lora.down / lora.up, or attention-processor *_lora.down / .up), resolved against the
// weight names of the model they are applied to, and turned into weight deltas:
// ΔW = alpha/rank · up @ down (LoCon: the same over a convolution's in × kh × kw), LoHa:
// alpha/rank · (w1_a @ w1_b) ⊙ (w2_a @ w2_b). SDXL: kohya's lora_te1_ (CLIP-L, text_encoder) and
// lora_te2_ (OpenCLIP-bigG, text_encoder_2), its UNet modules by diffusers' or by the original
// layout's path (lora-names.ts); PEFT's text_encoder_2.* (LCM-LoRA-SDXL: PEFT names for the UNet).

export type LoraNetwork = 'unet' | 'text_encoder' | 'text_encoder_2';

/** A LoRA that cannot be used: `invalid_file` naming the file. */
export class LoraError extends ApiError {
  constructor(file: string, message: string) {
    super('invalid_file', message, { file: path.basename(file) });
    this.name = 'LoraError';
  }
}

interface Group {
  kind: 'lora' | 'loha';
  network?: LoraNetwork;
  /** diffusers module path (PEFT/diffusers naming) or kohya's underscored one. */
  module: string;
  kohya: boolean;
  tensors: Record<string, string>;
  /** Named as only SDXL LoRAs are (lora_te1_/lora_te2_, text_encoder_2., original-layout UNet paths of SDXL's depth). */
  sdxl?: boolean;
}

export interface LoraFile {
  file: string;
  label: string;
  groups: Group[];
  weights: WeightSource;
}

export interface LoraDelta {
  network: LoraNetwork;
  /** The model weight it changes, e.g. down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight */
  weight: string;
  /** The delta at strength 1, in the weight's own layout. */
  values(): Float32Array;
}

const ROLE: [RegExp, string, 'lora' | 'loha'][] = [
  [/^(.+)\.lora_down\.weight$/, 'down', 'lora'],
  [/^(.+)\.lora_up\.weight$/, 'up', 'lora'],
  [/^(.+)\.lora_A\.weight$/, 'down', 'lora'],
  [/^(.+)\.lora_B\.weight$/, 'up', 'lora'],
  [/^(.+)\.lora\.down\.weight$/, 'down', 'lora'],
  [/^(.+)\.lora\.up\.weight$/, 'up', 'lora'],
  [/^(.+_lora)\.down\.weight$/, 'down', 'lora'],
  [/^(.+_lora)\.up\.weight$/, 'up', 'lora'],
  [/^(.+)\.hada_w1_a$/, 'w1a', 'loha'],
  [/^(.+)\.hada_w1_b$/, 'w1b', 'loha'],
  [/^(.+)\.hada_w2_a$/, 'w2a', 'loha'],
  [/^(.+)\.hada_w2_b$/, 'w2b', 'loha'],
  [/^(.+)\.alpha$/, 'alpha', 'lora'],
];

/** diffusers' attention-processor LoRA names → the module they change. */
function processorModule(base: string): string {
  const m = /^(.+)\.processor\.(to_q|to_k|to_v|to_out)_lora$/.exec(base);
  return m ? `${m[1]}.${m[2] === 'to_out' ? 'to_out.0' : m[2]}` : base;
}

export function readLora(file: string): LoraFile {
  const label = path.basename(file);
  if (!/\.safetensors$/i.test(file)) throw new LoraError(file, `${label}: LoRAs are read from .safetensors files only (pickles can run code)`);
  const header = readSafetensorsHeader(file);
  const groups = new Map<string, Group>();
  const unsupported: string[] = [];
  for (const key of header.entries.keys()) {
    if (/\.(lora_mid\.weight|hada_t1|hada_t2|lokr_w1|lokr_w2|lokr_w1_a|lokr_w2_a|oft_diag|diff)$/.test(key)) {
      unsupported.push(key);
      continue;
    }
    for (const [re, role, kind] of ROLE) {
      const m = re.exec(key);
      if (!m) continue;
      const base = m[1]!;
      const group = groups.get(base) ?? { kind, module: base, kohya: false, tensors: {} };
      if (role !== 'alpha') group.kind = kind;
      group.tensors[role] = key;
      groups.set(base, group);
      break;
    }
  }
  if (unsupported.length) throw new LoraError(file, `${label} uses a LyCORIS form Atelier does not apply (${unsupported[0]}): LoRA, LoCon and LoHa are supported`);
  const out: Group[] = [];
  for (const [base, g] of groups) {
    let module = base.replace(/^base_model\.model\./, '');
    // a second transformer block in input block 4: SDXL's depth (SD 1.x/2.x have one per attention)
    if (module.startsWith('lora_unet_input_blocks_4_1_transformer_blocks_1_')) g.sdxl = true;
    if (module.startsWith('lora_unet_')) [g.network, module, g.kohya] = ['unet', module.slice('lora_unet_'.length), true];
    else if (module.startsWith('lora_te_')) [g.network, module, g.kohya] = ['text_encoder', module.slice('lora_te_'.length), true];
    else if (module.startsWith('lora_te1_')) [g.network, module, g.kohya, g.sdxl] = ['text_encoder', module.slice('lora_te1_'.length), true, true];
    else if (module.startsWith('lora_te2_')) [g.network, module, g.kohya, g.sdxl] = ['text_encoder_2', module.slice('lora_te2_'.length), true, true];
    else if (module.startsWith('unet.')) [g.network, module] = ['unet', processorModule(module.slice(5))];
    else if (module.startsWith('text_encoder.')) [g.network, module] = ['text_encoder', module.slice('text_encoder.'.length)];
    else if (module.startsWith('text_encoder_2.')) [g.network, module, g.sdxl] = ['text_encoder_2', module.slice('text_encoder_2.'.length), true];
    else [g.network, module] = [undefined, processorModule(module)]; // bare diffusers UNet names
    g.module = module;
    const need = g.kind === 'loha' ? ['w1a', 'w1b', 'w2a', 'w2b'] : ['down', 'up'];
    const missing = need.filter((r) => !g.tensors[r]);
    if (missing.length) throw new LoraError(file, `${label}: ${base} lacks its ${missing.join(' and ')} weight`);
    out.push(g);
  }
  if (out.length === 0) throw new LoraError(file, `${label} is not a LoRA: none of its ${header.entries.size} tensors is a lora_down/lora_up, lora_A/lora_B or hada_* weight`);
  return { file, label, groups: out, weights: safetensorsWeights(file) };
}

/** A model's weights per network: name → shape (from its weight index); SDXL has text_encoder_2, its refiner no text_encoder. */
export type ModelWeights = { unet: Map<string, readonly number[]> } & Partial<Record<'text_encoder' | 'text_encoder_2', Map<string, readonly number[]>>>;

function values(lora: LoraFile, key: string): { v: Float32Array; shape: readonly number[] } {
  const info = lora.weights.info(key);
  if (!info) throw new LoraError(lora.file, `${lora.label}: ${key} is not a float tensor`);
  return { v: toFloat32Values(lora.weights.read(key), info.dtype), shape: info.shape };
}

/** a [n, r] @ b [r, m] → [n, m] */
function matmul(a: Float32Array, b: Float32Array, n: number, r: number, m: number): Float32Array {
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    const row = i * m;
    for (let k = 0; k < r; k++) {
      const s = a[i * r + k]!;
      if (s === 0) continue;
      const off = k * m;
      for (let j = 0; j < m; j++) out[row + j]! += s * b[off + j]!;
    }
  }
  return out;
}

/**
 * Each group of the LoRA matched to the model weight it changes. Kohya's underscored module
 * names are matched against the model's names with dots made underscores. A LoRA whose shapes
 * do not fit (another family's) or that matches nothing is refused, naming the file; modules
 * that match nothing while others do are returned in `unmatched`.
 */
export function loraDeltas(lora: LoraFile, model: ModelWeights): { deltas: LoraDelta[]; unmatched: string[] } {
  const sdxlGroup = lora.groups.find((g) => g.sdxl);
  if (sdxlGroup && !model.text_encoder_2) {
    throw new LoraError(lora.file, `${lora.label} is a LoRA for SDXL (${sdxlGroup.module}); it cannot be applied to an SD 1.x/2.x model`);
  }
  const kohya: Record<LoraNetwork, Map<string, string>> = { unet: new Map(), text_encoder: new Map(), text_encoder_2: new Map() };
  for (const net of ['unet', 'text_encoder', 'text_encoder_2'] as const) {
    for (const name of model[net]?.keys() ?? []) if (name.endsWith('.weight')) kohya[net].set(name.slice(0, -7).replace(/\./g, '_'), name);
  }
  // SDXL kohya LoRAs name UNet modules by the original layout's paths
  for (const [ldm, mod] of ldmUnetAliases(model.unet.keys())) kohya.unet.set(ldm.replace(/\./g, '_'), `${mod}.weight`);
  const deltas: LoraDelta[] = [];
  const unmatched: string[] = [];
  for (const g of lora.groups) {
    const nets: LoraNetwork[] = g.network ? [g.network] : ['unet'];
    let found: { net: LoraNetwork; weight: string } | undefined;
    for (const net of nets) {
      const weight = g.kohya ? kohya[net].get(g.module) : model[net]?.has(`${g.module}.weight`) ? `${g.module}.weight` : undefined;
      if (weight) found = { net, weight };
    }
    if (!found) {
      unmatched.push(g.module);
      continue;
    }
    const shape = model[found.net]!.get(found.weight)!;
    const outCh = shape[0]!;
    const inFlat = shape.slice(1).reduce((a, b) => a * b, 1);
    const { net, weight } = found;
    const alphaKey = g.tensors.alpha;
    if (g.kind === 'lora') {
      const downInfo = lora.weights.info(g.tensors.down!)!;
      const upInfo = lora.weights.info(g.tensors.up!)!;
      const rank = downInfo.shape[0]!;
      const downFlat = downInfo.shape.slice(1).reduce((a, b) => a * b, 1);
      const upIn = upInfo.shape.slice(1).reduce((a, b) => a * b, 1);
      if (upInfo.shape[0] !== outCh || downFlat !== inFlat || upIn !== rank) {
        throw new LoraError(lora.file, `${lora.label} does not fit this model: ${g.module} is [${upInfo.shape[0]} × ${downFlat}] in the LoRA, [${outCh} × ${inFlat}] in the model (a LoRA for another model family?)`);
      }
      deltas.push({
        network: net,
        weight,
        values: () => {
          const alpha = alphaKey ? values(lora, alphaKey).v[0]! : rank;
          const d = matmul(values(lora, g.tensors.up!).v, values(lora, g.tensors.down!).v, outCh, rank, inFlat);
          const scale = alpha / rank;
          if (scale !== 1) for (let i = 0; i < d.length; i++) d[i]! *= scale;
          return d;
        },
      });
    } else {
      const w1a = lora.weights.info(g.tensors.w1a!)!.shape;
      const w1b = lora.weights.info(g.tensors.w1b!)!.shape;
      const w2b = lora.weights.info(g.tensors.w2b!)!.shape;
      const flat = (s: readonly number[]) => s.slice(1).reduce((a, b) => a * b, 1);
      if (w1a[0] !== outCh || flat(w1b) !== inFlat || flat(w2b) !== inFlat) {
        throw new LoraError(lora.file, `${lora.label} does not fit this model: ${g.module} is [${w1a[0]} × ${flat(w1b)}] in the LoHa, [${outCh} × ${inFlat}] in the model (a LoHa for another model family?)`);
      }
      deltas.push({
        network: net,
        weight,
        values: () => {
          const r1 = w1b[0]!;
          const r2 = w2b[0]!;
          const a = matmul(values(lora, g.tensors.w1a!).v, values(lora, g.tensors.w1b!).v, outCh, r1, inFlat);
          const b = matmul(values(lora, g.tensors.w2a!).v, values(lora, g.tensors.w2b!).v, outCh, r2, inFlat);
          const scale = (alphaKey ? values(lora, alphaKey).v[0]! : r1) / r1;
          for (let i = 0; i < a.length; i++) a[i] = a[i]! * b[i]! * scale;
          return a;
        },
      });
    }
  }
  if (deltas.length === 0) throw new LoraError(lora.file, `${lora.label} matches no weight of this model (first module: ${unmatched[0] ?? 'none'}): a LoRA for another model family or naming?`);
  // Some modules without a match (SD 2.x LoRAs train the text encoder's last layer, which SD 2.x
  // never uses and imported models leave out) are reported, not fatal.
  return { deltas, unmatched };
}
