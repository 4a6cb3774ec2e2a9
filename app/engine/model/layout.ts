import fs from 'node:fs';
import path from 'node:path';
import type { ControlType, ModelInfo } from '../../contract/index.js';
import { findShippedControlNets } from './controlnet-layout.js';
import { readControlNetType } from './controlnet-type.js';
import { InvalidModelError } from './errors.js';
import { type GraphIO, type GraphReader, num, readJson } from './graph-io.js';
import { readSdxl } from './sdxl-layout.js';
import { readTextEncoder } from './text-encoder-layout.js';
import { readUnet } from './unet-layout.js';
import { readVaeDecoder, readVaeEncoder, vaeScaling } from './vae-layout.js';

// How a model folder's graphs want to be fed, read from the configs and from each graph's
// input/output metadata — never assumed (docs/model-formats.md lists the variants). One reader
// per part (text-encoder-layout, unet-layout, vae-layout, controlnet-layout); this file puts
// them together, checks the parts against each other and says what the model is (ModelInfo).

export type { GraphIO, GraphReader } from './graph-io.js';

/** The control map each shipped ControlNet takes, where its config.json or name says. */
function controlnetTypes(dirs: readonly string[]): Record<string, ControlType> {
  const out: Record<string, ControlType> = {};
  for (const dir of dirs) {
    const type = readControlNetType(dir);
    if (type) out[dir] = type;
  }
  return out;
}
export { readControlNetLayout } from './controlnet-layout.js';
export { orderResiduals, residualPlan } from './unet-layout.js';

export interface TextEncoderLayout {
  file: string;
  /** text_encoder/model.onnx or text_encoder_2/model.onnx. */
  part: string;
  /** Its own tokenizer folder (tokenizer/ or tokenizer_2/: SDXL's pad differently). */
  tokenizerDir: string;
  idsName: string;
  idsType: 'int32' | 'int64';
  /** last_hidden_state (SD) or the penultimate hidden_states.N (SDXL). */
  hiddenName: string;
  dim: number;
  /** SDXL text_encoder_2: the pooled, projected text_embeds output and its width. */
  pooledName?: string;
  pooledDim?: number;
}

/** SDXL's added conditioning inputs (diffusers addition_embed_type "text_time"). */
export interface AddedCondLayout {
  textEmbedsName: string;
  textEmbedsType: string;
  textEmbedsDim: number | undefined;
  timeIdsName: string;
  timeIdsType: string;
  /** 6: original size, crop top-left, target size; 5: the refiner's, with the aesthetic score. */
  timeIdsWidth: number | undefined;
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
  added?: AddedCondLayout;
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
  /** SDXL force_upcast with a float16 graph: run it rewritten to float32 (model/upcast.ts). */
  upcast?: boolean;
  inName: string;
  inType: string;
  outName: string;
  /** latent_parameters: mean ‖ logvar to sample from; latent_sample: already a latent. */
  kind: 'latent_parameters' | 'latent_sample';
}

export interface VaeDecoderLayout {
  file: string;
  /** SDXL force_upcast with a float16 graph: run it rewritten to float32 (model/upcast.ts). */
  upcast?: boolean;
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
  /** SDXL ControlNets take text_embeds and time_ids too. */
  added?: AddedCondLayout;
  downOutputNames: string[];
  midOutputName: string;
}

export interface SdxlLayout {
  /** time_ids of 5 (refiner: with the aesthetic score) or 6 (base) values per item. */
  timeIdsWidth: 5 | 6;
  /** Width of the pooled text_embeds the UNet takes. */
  pooledDim: number;
  /** model_index.json force_zeros_for_empty_prompt (diffusers' default true): no negative prompt → zero embeddings. */
  forceZerosForEmptyPrompt: boolean;
  /** vae config force_upcast: a float16 VAE decoder that overflows is run in float32. */
  forceUpcast: boolean;
}

export interface PreviewFactors {
  /** 4 rows (latent channels) × 3 columns (R, G, B). */
  factors: number[][];
  bias: number[];
}

export interface ModelLayout {
  dir: string;
  info: ModelInfo;
  /** One (SD 1.x/2.x, the SDXL refiner's text_encoder_2) or two (SDXL: CLIP-L, then bigG). */
  textEncoders: TextEncoderLayout[];
  /** The UNet's text width: the encoders' hidden widths added up (SDXL concatenates them). */
  textDim: number;
  /** SDXL: how the added conditioning is made (docs/model-formats.md). */
  sdxl?: SdxlLayout;
  unet: UnetLayout;
  /** A second UNet that takes ControlNet residuals, when unet/ does not. */
  controlUnet?: UnetLayout;
  vaeEncoder?: VaeEncoderLayout;
  vaeDecoder: VaeDecoderLayout;
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

const REQUIRED_FILES = ['unet/model.onnx', 'vae_decoder/model.onnx', 'scheduler/scheduler_config.json'];
const TOKENIZER_FILES = ['vocab.json', 'merges.txt'];

/**
 * SDXL's aspect buckets (the sizes SDXL base was trained at, about one megapixel each, as
 * Fooocus and Krita AI offer them), scaled to the model's default size and its size multiple.
 * Every family gets them around its own native size (SD 1.x 512², SD 2.x 768², the starter
 * 256², SDXL 1024²), so the studio's size presets keep the same aspects for each.
 */
const SDXL_BUCKETS: Array<[number, number]> = [[1024, 1024], [1152, 896], [896, 1152], [1216, 832], [832, 1216], [1344, 768], [768, 1344], [1536, 640], [640, 1536]];

export function familySizePresets(defaultSize: number, multiple: number): Array<{ width: number; height: number }> {
  const scale = defaultSize / 1024;
  const fit = (v: number): number => Math.max(multiple, Math.round((v * scale) / multiple) * multiple);
  const seen = new Set<string>();
  const out: Array<{ width: number; height: number }> = [];
  for (const [w, h] of SDXL_BUCKETS) {
    const size = { width: fit(w), height: fit(h) };
    const key = `${size.width}x${size.height}`;
    if (!seen.has(key)) out.push(size);
    seen.add(key);
  }
  return out;
}

/** Reads a model folder into a layout, checking every part against the others. */
export async function readModelLayout(dirIn: string, read: GraphReader): Promise<ModelLayout> {
  const dir = path.resolve(dirIn);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new InvalidModelError('.', `model folder ${dirIn} does not exist`);
  const notes: string[] = [];
  const index = readJson(dir, 'model_index.json', false);
  if (!index) notes.push('no model_index.json: reading the parts by their folder names');
  // SDXL: a second text encoder (the refiner has only that one), or a pipeline class that says so.
  const className = typeof index?._class_name === 'string' ? index._class_name : '';
  const hasFirst = fs.existsSync(path.join(dir, 'text_encoder/model.onnx'));
  const xl = fs.existsSync(path.join(dir, 'text_encoder_2/model.onnx')) || /XL/.test(className);
  const folders = [...(hasFirst || !xl ? ['text_encoder'] : []), ...(xl ? ['text_encoder_2'] : [])] as Array<'text_encoder' | 'text_encoder_2'>;
  const required = [...REQUIRED_FILES];
  for (const f of folders) {
    const tok = f === 'text_encoder' ? 'tokenizer' : 'tokenizer_2';
    required.push(`${f}/model.onnx`, ...TOKENIZER_FILES.map((t) => `${tok}/${t}`));
  }
  for (const part of required) {
    if (!fs.existsSync(path.join(dir, part))) throw new InvalidModelError(part, `${part} is missing`);
  }
  const schedulerConfig = readJson(dir, 'scheduler/scheduler_config.json', true)!;
  const unetConfig = readJson(dir, 'unet/config.json', false);
  const vaeConfig = readJson(dir, 'vae_decoder/config.json', false) ?? readJson(dir, 'vae_encoder/config.json', false);

  const texts = [];
  for (const folder of folders) texts.push(await readTextEncoder(dir, read, readJson(dir, `${folder}/config.json`, false), { folder, sdxl: xl }));
  const textDim = texts.reduce((sum, t) => sum + t.layout.dim, 0);
  const unetPart = await readUnet(dir, read, unetConfig, textDim, notes);
  const { unet, sdxl } = unetPart;
  const controlUnet = unetPart.control?.unet;
  const sdxlLayout = xl || sdxl ? readSdxl(dir, index, vaeConfig, texts.map((t) => t.layout), unet, controlUnet, sdxl) : undefined;
  const encoder = await readVaeEncoder(dir, read, notes);
  const decoder = await readVaeDecoder(dir, read);
  // diffusers' SDXL pipelines run a float16 VAE in float32 when its config says force_upcast
  // (SDXL's VAE overflows in float16); here the float16 graph is rewritten to float32.
  if (sdxlLayout?.forceUpcast) {
    for (const [vae, name] of [[encoder?.layout, 'vae_encoder'], [decoder.layout, 'vae_decoder']] as const) {
      if (vae?.inType !== 'float16') continue;
      vae.upcast = true;
      notes.push(`${name}: float16 graph run in float32 (force_upcast)`);
    }
  }

  const { scalingFactor, vaeScaleFactor } = vaeScaling(vaeConfig, notes);
  const unetBlocks = Array.isArray(unetConfig?.block_out_channels) ? (unetConfig.block_out_channels as unknown[]).length : 4;
  // Each UNet down block but the last halves the latent; ONNX exports cannot pad odd sizes.
  const sizeMultiple = vaeScaleFactor * 2 ** (unetBlocks - 1);
  const sampleSize = num(unetConfig, 'sample_size') ?? 64;

  for (const rel of ['text_encoder', 'text_encoder_2', 'unet', 'vae_encoder', 'vae_decoder', 'controlnet']) {
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
  const family = sdxlLayout ? 'sdxl' : textDim === 768 ? 'sd1' : textDim === 1024 ? 'sd2' : 'unknown';
  if (sdxlLayout) {
    notes.push(`SDXL: ${folders.join(' + ')} (penultimate hidden states${folders.length > 1 ? ', concatenated' : ''}), pooled text_embeds ${sdxlLayout.pooledDim} wide, time_ids ${sdxlLayout.timeIdsWidth === 5 ? 'with the aesthetic score (refiner)' : '(original size, crop, target size)'}`);
  }
  const preview = readPreview(dir);
  if (preview) notes.push('latent preview colours from preview.json');

  const components: ModelInfo['components'] = {};
  const add = (name: string, file: string, io: GraphIO): void => {
    components[name] = { path: path.relative(dir, file), inputs: io.inputs.map((m) => m.name), outputs: io.outputs.map((m) => m.name) };
  };
  for (const t of texts) add(path.dirname(t.layout.part), t.layout.file, t.io);
  add('unet', unet.file, unetPart.io);
  if (unetPart.control) add('controlnet_unet', unetPart.control.unet.file, unetPart.control.io);
  if (encoder) add('vae_encoder', encoder.layout.file, encoder.io);
  add('vae_decoder', decoder.layout.file, decoder.io);

  const acceptsControlnet = unet.downResidualNames.length > 0 || controlUnet !== undefined;
  const controlnets = acceptsControlnet ? await findShippedControlNets(dir, textDim, read, notes) : [];

  const info: ModelInfo = {
    path: dir,
    family,
    prediction: predictionRaw,
    unetInChannels: unet.inChannels,
    inpainting: unet.inChannels === 9,
    lcm,
    acceptsControlnet,
    textEmbedDim: textDim,
    defaultWidth: sampleSize * vaeScaleFactor,
    defaultHeight: sampleSize * vaeScaleFactor,
    sizeMultiple,
    sizePresets: familySizePresets(sampleSize * vaeScaleFactor, sizeMultiple),
    dtype: unet.sampleType === 'float16' ? 'float16' : 'float32',
    components,
    controlnets,
    controlnetTypes: controlnetTypes(controlnets),
    notes,
  };
  return {
    dir,
    info,
    textEncoders: texts.map((t) => t.layout),
    textDim,
    ...(sdxlLayout ? { sdxl: sdxlLayout } : {}),
    unet,
    ...(controlUnet ? { controlUnet } : {}),
    ...(encoder ? { vaeEncoder: encoder.layout } : {}),
    vaeDecoder: decoder.layout,
    schedulerConfig,
    scalingFactor,
    vaeScaleFactor,
    preview: preview ?? SD15_PREVIEW,
  };
}
