import fs from 'node:fs';
import path from 'node:path';
import type { ModelInfo } from '../../contract/index.js';
import { InvalidModelError } from './errors.js';
import { isTensorMeta, type TensorMetadata, type ValueMetadata } from './session.js';

// How a model folder's graphs want to be fed, read from the configs and from each graph's
// input/output metadata — never assumed (shared/design/MODEL-FORMATS.md lists the variants).

export interface GraphIO {
  inputs: readonly ValueMetadata[];
  outputs: readonly ValueMetadata[];
}

/** Reads a graph's metadata: `part` is the path relative to the model folder, for errors. */
export type GraphReader = (file: string, part: string) => Promise<GraphIO>;

export interface TextEncoderLayout {
  file: string;
  idsName: string;
  idsType: 'int32' | 'int64';
  hiddenName: string;
  dim: number;
}

export interface UnetLayout {
  file: string;
  part: string;
  sampleName: string;
  sampleType: string;
  inChannels: number;
  timestepName: string;
  timestepType: string;
  /** 0: one scalar for the whole batch; 1: one per batch item. */
  timestepRank: number;
  hiddenName: string;
  hiddenType: string;
  hiddenDim: number;
  timestepCondName?: string;
  timestepCondType?: string;
  timestepCondDim?: number;
  /** ControlNet residual inputs, down blocks in order, then the mid block. */
  downResidualNames: string[];
  midResidualName?: string;
  /** Channels of each residual input where the graph states them (else undefined). */
  residualChannels: Array<number | undefined>;
  /** dtype of each residual input, in the same order. */
  residualTypes: string[];
  /** From the UNet's config.json (SD1.5's when absent): where the residuals sit. */
  blockOutChannels: number[];
  layersPerBlock: number;
  outName: string;
}

export interface VaeEncoderLayout {
  file: string;
  inName: string;
  inType: string;
  outName: string;
  /** latent_parameters: mean ‖ logvar to sample from; latent_sample: already a latent. */
  kind: 'latent_parameters' | 'latent_sample';
}

export interface VaeDecoderLayout {
  file: string;
  inName: string;
  inType: string;
  outName: string;
}

export interface ControlNetLayout {
  dir: string;
  file: string;
  sampleName: string;
  sampleType: string;
  timestepName: string;
  timestepType: string;
  timestepRank: number;
  hiddenName: string;
  hiddenType: string;
  hiddenDim: number;
  condName: string;
  condType: string;
  scaleName?: string;
  scaleType?: string;
  scaleRank?: number;
  downOutputNames: string[];
  midOutputName: string;
}

export interface PreviewFactors {
  /** 4 rows (latent channels) × 3 columns (R, G, B). */
  factors: number[][];
  bias: number[];
}

export interface ModelLayout {
  dir: string;
  info: ModelInfo;
  textEncoder: TextEncoderLayout;
  unet: UnetLayout;
  /** A second UNet that takes ControlNet residuals, when unet/ does not. */
  controlUnet?: UnetLayout;
  vaeEncoder?: VaeEncoderLayout;
  vaeDecoder: VaeDecoderLayout;
  tokenizerDir: string;
  schedulerConfig: unknown;
  scalingFactor: number;
  vaeScaleFactor: number;
  preview: PreviewFactors;
}

/** SD 1.5's latent→RGB factors (as used by A1111's "Approx NN"-free cheap preview and ComfyUI's latent_formats.SD15). */
export const SD15_PREVIEW: PreviewFactors = {
  factors: [
    [0.3512, 0.2297, 0.3227],
    [0.3250, 0.4974, 0.2350],
    [-0.2829, 0.1762, 0.2721],
    [-0.2120, -0.2616, -0.7177],
  ],
  bias: [0, 0, 0],
};

const STANDARD_PARTS = new Set(['text_encoder', 'unet', 'vae_encoder', 'vae_decoder', 'tokenizer', 'scheduler', 'safety_checker', 'feature_extractor', 'text_encoder_2', 'tokenizer_2']);

function readJson(dir: string, rel: string, required: boolean): Record<string, unknown> | undefined {
  const file = path.join(dir, rel);
  if (!fs.existsSync(file)) {
    if (required) throw new InvalidModelError(rel, `${rel} is missing`);
    return undefined;
  }
  try {
    const value: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Record<string, unknown>;
  } catch (error) {
    throw new InvalidModelError(rel, `${rel} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function tensorInputs(io: GraphIO): TensorMetadata[] {
  return io.inputs.filter(isTensorMeta);
}

function tensorOutputs(io: GraphIO): TensorMetadata[] {
  return io.outputs.filter(isTensorMeta);
}

function find(list: TensorMetadata[], names: string[]): TensorMetadata | undefined {
  for (const n of names) {
    const hit = list.find((m) => m.name === n);
    if (hit) return hit;
  }
  return undefined;
}

function require<T>(value: T | undefined, part: string, what: string): T {
  if (value === undefined) throw new InvalidModelError(part, `${part} has no ${what}`);
  return value;
}

function staticDim(m: TensorMetadata, axis: number): number | undefined {
  const d = m.shape[axis];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

function num(cfg: Record<string, unknown> | undefined, key: string): number | undefined {
  const v = cfg?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

const RESIDUAL_DOWN = /down_block_(\d+)|down_block_res_samples?_?(\d+)|^down_(\d+)/;
const RESIDUAL_MID = /mid_block/;

/** Down then mid residual names, by name pattern, else by position (auto-numbered exports). */
export function orderResiduals(names: string[]): { down: string[]; mid?: string } {
  if (names.length === 0) return { down: [] };
  const mid = names.find((n) => RESIDUAL_MID.test(n));
  const numbered = names
    .filter((n) => n !== mid)
    .map((n, position) => {
      const m = RESIDUAL_DOWN.exec(n);
      const index = m ? Number(m[1] ?? m[2] ?? m[3]) : NaN;
      return { n, index, position };
    });
  if (mid !== undefined && numbered.every((x) => Number.isFinite(x.index))) {
    return { down: numbered.sort((a, b) => a.index - b.index).map((x) => x.n), mid };
  }
  // Position: the exporters write the down residuals in order, the mid one last.
  return { down: names.slice(0, -1), mid: names[names.length - 1] };
}

const UNET_KNOWN = new Set(['sample', 'timestep', 'encoder_hidden_states', 'timestep_cond', 'text_embeds', 'time_ids']);

function readUnet(io: GraphIO, file: string, part: string, config: Record<string, unknown> | undefined): UnetLayout & { sdxl: boolean } {
  const inputs = tensorInputs(io);
  const outputs = tensorOutputs(io);
  const sample = require(find(inputs, ['sample']) ?? inputs[0], part, 'sample input');
  const timestep = require(find(inputs, ['timestep', 'timesteps']), part, 'timestep input');
  const hidden = require(find(inputs, ['encoder_hidden_states']), part, 'encoder_hidden_states input');
  const cond = find(inputs, ['timestep_cond']);
  const out = require(find(outputs, ['out_sample']) ?? outputs[0], part, 'output');
  const inChannels = require(staticDim(sample, 1), part, `fixed channel count in its ${sample.name} input`);
  const hiddenDim = require(staticDim(hidden, 2), part, `fixed width in its ${hidden.name} input`);
  const residualNames = inputs.map((m) => m.name).filter((n) => !UNET_KNOWN.has(n) && n !== sample.name && n !== timestep.name && n !== hidden.name);
  const { down, mid } = orderResiduals(residualNames);
  const byName = new Map(inputs.map((m) => [m.name, m]));
  const blocks = config?.block_out_channels;
  const blockOutChannels = Array.isArray(blocks) && blocks.length > 0 && blocks.every((b) => typeof b === 'number') ? (blocks as number[]) : [320, 640, 1280, 1280];
  const layers = config?.layers_per_block;
  return {
    file,
    part,
    sampleName: sample.name,
    sampleType: sample.type,
    inChannels,
    timestepName: timestep.name,
    timestepType: timestep.type,
    timestepRank: timestep.shape.length,
    hiddenName: hidden.name,
    hiddenType: hidden.type,
    hiddenDim,
    ...(cond ? { timestepCondName: cond.name, timestepCondType: cond.type, timestepCondDim: staticDim(cond, 1) ?? 256 } : {}),
    downResidualNames: down,
    ...(mid !== undefined ? { midResidualName: mid } : {}),
    residualChannels: [...down, ...(mid !== undefined ? [mid] : [])].map((n) => staticDim(byName.get(n)!, 1)),
    residualTypes: [...down, ...(mid !== undefined ? [mid] : [])].map((n) => byName.get(n)!.type),
    blockOutChannels,
    layersPerBlock: typeof layers === 'number' ? layers : 2,
    outName: out.name,
    sdxl: inputs.some((m) => m.name === 'text_embeds' || m.name === 'time_ids'),
  };
}

function readPreview(dir: string): PreviewFactors | undefined {
  const cfg = readJson(dir, 'preview.json', false);
  if (!cfg) return undefined;
  const factors = cfg.latent_rgb_factors;
  const bias = cfg.latent_rgb_bias ?? [0, 0, 0];
  const isRow = (r: unknown): r is number[] => Array.isArray(r) && r.length === 3 && r.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!Array.isArray(factors) || factors.length !== 4 || !factors.every(isRow) || !isRow(bias)) {
    throw new InvalidModelError('preview.json', 'preview.json needs latent_rgb_factors: 4 rows of 3 numbers (and optionally latent_rgb_bias: 3 numbers)');
  }
  return { factors, bias };
}

/**
 * Channels and downsampling of each ControlNet residual (diffusers UNet2DConditionModel):
 * conv_in, then per down block `layers_per_block` resnets plus a downsampler for every block
 * but the last; the mid block at the deepest level. SD1.5: 320@1 ×3, 320@½, 640@½ ×2, 640@¼,
 * 1280@¼ ×2, 1280@⅛ ×3; mid 1280@⅛.
 */
export function residualPlan(unet: Pick<UnetLayout, 'blockOutChannels' | 'layersPerBlock'>): { down: Array<{ channels: number; scale: number }>; mid: { channels: number; scale: number } } {
  const ch = unet.blockOutChannels;
  const down = [{ channels: ch[0]!, scale: 1 }];
  let scale = 1;
  ch.forEach((c, b) => {
    for (let l = 0; l < unet.layersPerBlock; l++) down.push({ channels: c, scale });
    if (b < ch.length - 1) {
      scale *= 2;
      down.push({ channels: c, scale });
    }
  });
  return { down, mid: { channels: ch[ch.length - 1]!, scale } };
}

function checkResiduals(unet: UnetLayout): void {
  if (unet.midResidualName === undefined) throw new InvalidModelError(unet.part, `${unet.part} has ControlNet down-block residual inputs but no mid-block residual input`);
  const plan = residualPlan(unet);
  if (plan.down.length !== unet.downResidualNames.length) {
    throw new InvalidModelError(unet.part, `${unet.part} takes ${unet.downResidualNames.length} down-block residuals but its config (block_out_channels ${unet.blockOutChannels.length}, layers_per_block ${unet.layersPerBlock}) implies ${plan.down.length}`);
  }
  [...plan.down, plan.mid].forEach((r, i) => {
    const stated = unet.residualChannels[i];
    if (stated !== undefined && stated !== r.channels) {
      throw new InvalidModelError(unet.part, `${unet.part} residual ${i} has ${stated} channels but its config implies ${r.channels}`);
    }
  });
}

/** Looks for a UNet that takes ControlNet residuals anywhere below the model folder but the standard parts. */
async function findControlUnet(dir: string, read: GraphReader): Promise<{ unet: UnetLayout; io: GraphIO } | undefined> {
  const found: string[] = [];
  const walk = (rel: string, depth: number): void => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const sub = rel ? `${rel}/${entry.name}` : entry.name;
      if (depth === 0 && STANDARD_PARTS.has(entry.name)) continue;
      if (fs.existsSync(path.join(dir, sub, 'model.onnx'))) found.push(sub);
      if (depth < 1) walk(sub, depth + 1);
    }
  };
  walk('', 0);
  for (const sub of found.sort()) {
    const part = `${sub}/model.onnx`;
    const io = await read(path.join(dir, part), part);
    const names = io.inputs.map((m) => m.name);
    if (!names.includes('encoder_hidden_states') || !names.some((n) => RESIDUAL_MID.test(n) || RESIDUAL_DOWN.test(n))) continue;
    const config = readJson(dir, `${sub}/config.json`, false);
    const { sdxl: _sdxl, ...unet } = readUnet(io, path.join(dir, part), part, config);
    if (unet.downResidualNames.length > 0 && unet.midResidualName !== undefined) return { unet, io };
  }
  return undefined;
}

function acceptsControlnet(unet: UnetLayout, controlUnet: UnetLayout | undefined): boolean {
  return unet.downResidualNames.length > 0 || controlUnet !== undefined;
}

/**
 * ControlNets the model folder ships: first-level subfolders (`controlnet/` in the diffusers
 * ControlNet pipeline layout, as the starter model has) whose model.onnx takes `controlnet_cond`.
 * Their absolute folders are what ControlInput.model names. One that cannot serve this model is
 * left out with a note, not made the model's failure: the model itself still generates.
 */
async function findShippedControlNets(dir: string, textDim: number, read: GraphReader, notes: string[]): Promise<string[]> {
  const found: string[] = [];
  const subs = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !STANDARD_PARTS.has(e.name) && fs.existsSync(path.join(dir, e.name, 'model.onnx')))
    .map((e) => e.name)
    .sort();
  for (const sub of subs) {
    const io = await read(path.join(dir, sub, 'model.onnx'), `${sub}/model.onnx`);
    if (!io.inputs.some((m) => m.name === 'controlnet_cond')) continue;
    try {
      const cn = await readControlNetLayout(path.join(dir, sub), read);
      if (cn.hiddenDim !== textDim) {
        notes.push(`${sub}/: a ControlNet for ${cn.hiddenDim}-wide text embeddings; this model's are ${textDim}`);
        continue;
      }
      found.push(cn.dir);
    } catch (error) {
      notes.push(`${sub}/: not a usable ControlNet (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  return found;
}

/** Reads a model folder into a layout, checking every part against the others. */
export async function readModelLayout(dirIn: string, read: GraphReader): Promise<ModelLayout> {
  const dir = path.resolve(dirIn);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new InvalidModelError('.', `model folder ${dirIn} does not exist`);
  const notes: string[] = [];
  const modelIndex = readJson(dir, 'model_index.json', false);
  if (!modelIndex) notes.push('no model_index.json: reading the parts by their folder names');

  for (const part of ['text_encoder/model.onnx', 'unet/model.onnx', 'vae_decoder/model.onnx', 'tokenizer/vocab.json', 'tokenizer/merges.txt', 'scheduler/scheduler_config.json']) {
    if (!fs.existsSync(path.join(dir, part))) throw new InvalidModelError(part, `${part} is missing`);
  }
  const schedulerConfig = readJson(dir, 'scheduler/scheduler_config.json', true)!;
  const unetConfig = readJson(dir, 'unet/config.json', false);
  const textConfig = readJson(dir, 'text_encoder/config.json', false);
  const vaeConfig = readJson(dir, 'vae_decoder/config.json', false) ?? readJson(dir, 'vae_encoder/config.json', false);

  // text encoder
  const teIo = await read(path.join(dir, 'text_encoder/model.onnx'), 'text_encoder/model.onnx');
  const teIn = tensorInputs(teIo);
  const ids = require(find(teIn, ['input_ids']) ?? teIn[0], 'text_encoder/model.onnx', 'input_ids input');
  if (ids.type !== 'int32' && ids.type !== 'int64') {
    throw new InvalidModelError('text_encoder/model.onnx', `text_encoder/model.onnx takes ${ids.name} as ${ids.type}; expected int32 or int64 token ids`);
  }
  const teOut = tensorOutputs(teIo);
  const hidden = require(find(teOut, ['last_hidden_state']) ?? teOut[0], 'text_encoder/model.onnx', 'last_hidden_state output');
  const textDim = staticDim(hidden, 2) ?? num(textConfig, 'hidden_size');
  if (textDim === undefined) throw new InvalidModelError('text_encoder/model.onnx', 'text_encoder output width is unknown (no fixed last dimension, no hidden_size in config.json)');
  const cfgHidden = num(textConfig, 'hidden_size');
  if (cfgHidden !== undefined && cfgHidden !== textDim) {
    throw new InvalidModelError('text_encoder/config.json', `text_encoder/config.json says hidden_size ${cfgHidden} but text_encoder/model.onnx outputs ${textDim}`);
  }
  const textEncoder: TextEncoderLayout = { file: path.join(dir, 'text_encoder/model.onnx'), idsName: ids.name, idsType: ids.type, hiddenName: hidden.name, dim: textDim };

  // unet
  const unetIo = await read(path.join(dir, 'unet/model.onnx'), 'unet/model.onnx');
  const unetRead = readUnet(unetIo, path.join(dir, 'unet/model.onnx'), 'unet/model.onnx', unetConfig);
  const { sdxl, ...unet } = unetRead;
  const cfgIn = num(unetConfig, 'in_channels');
  if (cfgIn !== undefined && cfgIn !== unet.inChannels) {
    throw new InvalidModelError('unet/config.json', `unet/config.json says in_channels ${cfgIn} but unet/model.onnx takes ${unet.inChannels} channels`);
  }
  const cfgCross = num(unetConfig, 'cross_attention_dim');
  if (cfgCross !== undefined && cfgCross !== unet.hiddenDim) {
    throw new InvalidModelError('unet/config.json', `unet/config.json says cross_attention_dim ${cfgCross} but unet/model.onnx takes ${unet.hiddenDim}`);
  }
  if (!sdxl && unet.hiddenDim !== textDim) {
    throw new InvalidModelError('unet/model.onnx', `text_encoder output dim ${textDim} does not match unet cross-attention dim ${unet.hiddenDim}`);
  }
  if (unet.inChannels !== 4 && unet.inChannels !== 9) {
    throw new InvalidModelError('unet/model.onnx', `unet/model.onnx takes ${unet.inChannels} channels; expected 4 (text/img2img) or 9 (inpainting)`);
  }
  if (unet.downResidualNames.length > 0) checkResiduals(unet);
  let controlUnet: UnetLayout | undefined;
  let controlUnetIo: GraphIO | undefined;
  if (unet.downResidualNames.length === 0) {
    const hit = await findControlUnet(dir, read);
    if (hit) {
      const found = hit.unet;
      controlUnetIo = hit.io;
      checkResiduals(found);
      if (found.hiddenDim !== textDim) throw new InvalidModelError(found.part, `text_encoder output dim ${textDim} does not match ${found.part} cross-attention dim ${found.hiddenDim}`);
      controlUnet = found;
      notes.push(`ControlNet-ready UNet: ${found.part}`);
    }
  }

  // VAE
  let vaeEncoder: VaeEncoderLayout | undefined;
  let encIo: GraphIO | undefined;
  if (fs.existsSync(path.join(dir, 'vae_encoder/model.onnx'))) {
    const io = await read(path.join(dir, 'vae_encoder/model.onnx'), 'vae_encoder/model.onnx');
    encIo = io;
    const ins = tensorInputs(io);
    const outs = tensorOutputs(io);
    const input = require(find(ins, ['sample']) ?? ins[0], 'vae_encoder/model.onnx', 'sample input');
    const out = require(find(outs, ['latent_parameters', 'latent_sample', 'latent_dist']) ?? outs[0], 'vae_encoder/model.onnx', 'output');
    const channels = staticDim(out, 1);
    const kind = out.name === 'latent_parameters' || channels === 8 ? 'latent_parameters' : 'latent_sample';
    vaeEncoder = { file: path.join(dir, 'vae_encoder/model.onnx'), inName: input.name, inType: input.type, outName: out.name, kind };
  } else {
    notes.push('no vae_encoder: text-to-image only (img2img and inpainting need vae_encoder/model.onnx)');
  }
  const decIo = await read(path.join(dir, 'vae_decoder/model.onnx'), 'vae_decoder/model.onnx');
  const decIn = require(find(tensorInputs(decIo), ['latent_sample']) ?? tensorInputs(decIo)[0], 'vae_decoder/model.onnx', 'latent_sample input');
  const decOut = require(find(tensorOutputs(decIo), ['sample']) ?? tensorOutputs(decIo)[0], 'vae_decoder/model.onnx', 'sample output');
  const latentChannels = staticDim(decIn, 1) ?? 4;
  if (latentChannels !== 4) throw new InvalidModelError('vae_decoder/model.onnx', `vae_decoder/model.onnx takes ${latentChannels} latent channels; expected 4`);
  const vaeDecoder: VaeDecoderLayout = { file: path.join(dir, 'vae_decoder/model.onnx'), inName: decIn.name, inType: decIn.type, outName: decOut.name };

  let scalingFactor = num(vaeConfig, 'scaling_factor');
  if (scalingFactor === undefined) {
    scalingFactor = 0.18215;
    notes.push('no scaling_factor in vae config.json: using SD 1.x/2.x 0.18215');
  }
  const vaeBlocks = Array.isArray(vaeConfig?.block_out_channels) ? (vaeConfig.block_out_channels as unknown[]).length : 4;
  const vaeScaleFactor = 2 ** (vaeBlocks - 1);
  const unetBlocks = Array.isArray(unetConfig?.block_out_channels) ? (unetConfig.block_out_channels as unknown[]).length : 4;
  // Each UNet down block but the last halves the latent; ONNX exports cannot pad odd sizes.
  const sizeMultiple = vaeScaleFactor * 2 ** (unetBlocks - 1);
  const sampleSize = num(unetConfig, 'sample_size') ?? 64;

  for (const rel of ['text_encoder', 'unet', 'vae_encoder', 'vae_decoder', 'controlnet']) {
    for (const ext of ['model.onnx_data', 'weights.pb']) {
      if (fs.existsSync(path.join(dir, rel, ext))) notes.push(`external weights: ${rel}/${ext}`);
    }
  }

  const predictionRaw = schedulerConfig.prediction_type ?? 'epsilon';
  if (predictionRaw !== 'epsilon' && predictionRaw !== 'v_prediction') {
    throw new InvalidModelError('scheduler/scheduler_config.json', `scheduler/scheduler_config.json: prediction_type ${String(predictionRaw)} is not supported (epsilon or v_prediction)`);
  }
  const schedulerClass = typeof schedulerConfig._class_name === 'string' ? schedulerConfig._class_name : '';
  const lcm = unet.timestepCondName !== undefined || schedulerClass === 'LCMScheduler';
  const family = sdxl ? 'sdxl' : textDim === 768 ? 'sd1' : textDim === 1024 ? 'sd2' : 'unknown';
  if (sdxl) notes.push('SDXL (text_embeds/time_ids inputs): detected but not supported by this engine yet');
  const preview = readPreview(dir);
  if (preview) notes.push('latent preview colours from preview.json');

  const components: ModelInfo['components'] = {};
  const add = (name: string, file: string, io: GraphIO): void => {
    components[name] = { path: path.relative(dir, file), inputs: io.inputs.map((m) => m.name), outputs: io.outputs.map((m) => m.name) };
  };
  add('text_encoder', textEncoder.file, teIo);
  add('unet', unet.file, unetIo);
  if (controlUnet && controlUnetIo) add('controlnet_unet', controlUnet.file, controlUnetIo);
  if (vaeEncoder && encIo) add('vae_encoder', vaeEncoder.file, encIo);
  add('vae_decoder', vaeDecoder.file, decIo);

  const controlnets = acceptsControlnet(unet, controlUnet) ? await findShippedControlNets(dir, textDim, read, notes) : [];

  const info: ModelInfo = {
    path: dir,
    family,
    prediction: predictionRaw,
    unetInChannels: unet.inChannels,
    inpainting: unet.inChannels === 9,
    lcm,
    acceptsControlnet: acceptsControlnet(unet, controlUnet),
    textEmbedDim: textDim,
    defaultWidth: sampleSize * vaeScaleFactor,
    defaultHeight: sampleSize * vaeScaleFactor,
    sizeMultiple,
    dtype: unet.sampleType === 'float16' ? 'float16' : 'float32',
    components,
    controlnets,
    notes,
  };
  return {
    dir,
    info,
    textEncoder,
    unet,
    ...(controlUnet ? { controlUnet } : {}),
    ...(vaeEncoder ? { vaeEncoder } : {}),
    vaeDecoder,
    tokenizerDir: path.join(dir, 'tokenizer'),
    schedulerConfig,
    scalingFactor,
    vaeScaleFactor,
    preview: preview ?? SD15_PREVIEW,
  };
}

/** Reads a ControlNet folder (model.onnx at its root, or in controlnet/). */
export async function readControlNetLayout(dirIn: string, read: GraphReader): Promise<ControlNetLayout> {
  const dir = path.resolve(dirIn);
  const label = path.basename(dir);
  if (!fs.existsSync(dir)) throw new InvalidModelError(label, `ControlNet folder ${dirIn} does not exist`);
  const rel = fs.existsSync(path.join(dir, 'model.onnx')) ? 'model.onnx' : fs.existsSync(path.join(dir, 'controlnet/model.onnx')) ? 'controlnet/model.onnx' : undefined;
  if (!rel) throw new InvalidModelError(`${label}/model.onnx`, `ControlNet ${label}/model.onnx is missing`);
  const part = `${label}/${rel}`;
  const io = await read(path.join(dir, rel), part);
  const ins = tensorInputs(io);
  const outs = tensorOutputs(io);
  const sample = require(find(ins, ['sample']), part, 'sample input');
  const timestep = require(find(ins, ['timestep', 'timesteps']), part, 'timestep input');
  const hidden = require(find(ins, ['encoder_hidden_states']), part, 'encoder_hidden_states input');
  const cond = require(find(ins, ['controlnet_cond']), part, 'controlnet_cond input (not a ControlNet?)');
  const scale = find(ins, ['conditioning_scale']);
  const hiddenDim = require(staticDim(hidden, 2), part, 'fixed encoder_hidden_states width');
  const { down, mid } = orderResiduals(outs.map((m) => m.name));
  if (down.length === 0 || mid === undefined) throw new InvalidModelError(part, `${part} has no residual outputs`);
  return {
    dir,
    file: path.join(dir, rel),
    sampleName: sample.name,
    sampleType: sample.type,
    timestepName: timestep.name,
    timestepType: timestep.type,
    timestepRank: timestep.shape.length,
    hiddenName: hidden.name,
    hiddenType: hidden.type,
    hiddenDim,
    condName: cond.name,
    condType: cond.type,
    ...(scale ? { scaleName: scale.name, scaleType: scale.type, scaleRank: scale.shape.length } : {}),
    downOutputNames: down,
    midOutputName: mid,
  };
}
