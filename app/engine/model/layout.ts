import fs from 'node:fs';
import path from 'node:path';
import type { ModelInfo } from '../../contract/index.js';
import { findShippedControlNets } from './controlnet-layout.js';
import { InvalidModelError } from './errors.js';
import { type GraphIO, type GraphReader, num, readJson } from './graph-io.js';
import { readTextEncoder } from './text-encoder-layout.js';
import { readUnet } from './unet-layout.js';
import { readVaeDecoder, readVaeEncoder, vaeScaling } from './vae-layout.js';

// How a model folder's graphs want to be fed, read from the configs and from each graph's
// input/output metadata — never assumed (docs/model-formats.md lists the variants). One reader
// per part (text-encoder-layout, unet-layout, vae-layout, controlnet-layout); this file puts
// them together, checks the parts against each other and says what the model is (ModelInfo).

export type { GraphIO, GraphReader } from './graph-io.js';
export { readControlNetLayout } from './controlnet-layout.js';
export { orderResiduals, residualPlan } from './unet-layout.js';

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

const REQUIRED_FILES = ['text_encoder/model.onnx', 'unet/model.onnx', 'vae_decoder/model.onnx', 'tokenizer/vocab.json', 'tokenizer/merges.txt', 'scheduler/scheduler_config.json'];

/** Reads a model folder into a layout, checking every part against the others. */
export async function readModelLayout(dirIn: string, read: GraphReader): Promise<ModelLayout> {
  const dir = path.resolve(dirIn);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new InvalidModelError('.', `model folder ${dirIn} does not exist`);
  const notes: string[] = [];
  if (!readJson(dir, 'model_index.json', false)) notes.push('no model_index.json: reading the parts by their folder names');
  for (const part of REQUIRED_FILES) {
    if (!fs.existsSync(path.join(dir, part))) throw new InvalidModelError(part, `${part} is missing`);
  }
  const schedulerConfig = readJson(dir, 'scheduler/scheduler_config.json', true)!;
  const unetConfig = readJson(dir, 'unet/config.json', false);
  const vaeConfig = readJson(dir, 'vae_decoder/config.json', false) ?? readJson(dir, 'vae_encoder/config.json', false);

  const text = await readTextEncoder(dir, read, readJson(dir, 'text_encoder/config.json', false));
  const textDim = text.layout.dim;
  const unetPart = await readUnet(dir, read, unetConfig, textDim, notes);
  const { unet, sdxl } = unetPart;
  const controlUnet = unetPart.control?.unet;
  const encoder = await readVaeEncoder(dir, read, notes);
  const decoder = await readVaeDecoder(dir, read);

  const { scalingFactor, vaeScaleFactor } = vaeScaling(vaeConfig, notes);
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
  add('text_encoder', text.layout.file, text.io);
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
    dtype: unet.sampleType === 'float16' ? 'float16' : 'float32',
    components,
    controlnets,
    notes,
  };
  return {
    dir,
    info,
    textEncoder: text.layout,
    unet,
    ...(controlUnet ? { controlUnet } : {}),
    ...(encoder ? { vaeEncoder: encoder.layout } : {}),
    vaeDecoder: decoder.layout,
    tokenizerDir: path.join(dir, 'tokenizer'),
    schedulerConfig,
    scalingFactor,
    vaeScaleFactor,
    preview: preview ?? SD15_PREVIEW,
  };
}
