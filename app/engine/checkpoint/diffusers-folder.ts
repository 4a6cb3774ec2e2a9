import fs from 'node:fs';
import path from 'node:path';
import { InvalidModelError } from '../model/errors.js';
import { safetensorsWeights, type WeightSource } from '../graph/weights.js';
import type { CheckpointFamily } from './detect.js';

// A diffusers-layout folder (unet/, vae/, text_encoder/ with .safetensors and config.json,
// tokenizer/ and scheduler/ optional) as the importer's networks (docs/models.md). Weights
// already carry the builder's names; configs come from the folder when present. SDXL folders
// add text_encoder_2/ (and tokenizer_2/); the refiner's has text_encoder_2/ alone.

export interface FolderNetworks {
  family: CheckpointFamily;
  inChannels: number;
  unet: { weights: WeightSource; config?: Record<string, unknown> };
  vae: { weights: WeightSource; config?: Record<string, unknown> };
  /** Absent only in an SDXL refiner's folder. */
  textEncoder?: { weights: WeightSource; config?: Record<string, unknown> };
  textEncoder2?: { weights: WeightSource; config?: Record<string, unknown> };
  refiner?: boolean;
  tokenizer2Dir?: string;
  prediction?: 'epsilon' | 'v_prediction';
  predictionFrom?: 'config';
  tokenizerDir?: string;
  scheduler?: Record<string, unknown>;
  bytes: number;
}

function readJson(file: string): Record<string, unknown> | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new InvalidModelError(path.relative(path.dirname(path.dirname(file)), file), `${file} is not a JSON object`);
}

export function diffusersFolderSource(dir: string): FolderNetworks {
  const label = path.basename(dir);
  const xl = fs.existsSync(path.join(dir, 'text_encoder_2'));
  const refiner = xl && !fs.existsSync(path.join(dir, 'text_encoder'));
  let bytes = 0;
  const part = (name: string) => {
    const sub = path.join(dir, name);
    const files = fs.existsSync(sub) ? fs.readdirSync(sub).filter((f) => f.endsWith('.safetensors')).sort() : [];
    if (files.length === 0) {
      const pickles = fs.existsSync(sub) ? fs.readdirSync(sub).filter((f) => /\.(bin|ckpt|pt|pth)$/.test(f)) : [];
      throw new InvalidModelError(name, pickles.length
        ? `${label}/${name} holds only pickled weights (${pickles[0]}), which can run code when loaded: Atelier imports .safetensors only`
        : `${label}/${name} has no .safetensors weights (a diffusers folder needs unet/, vae/ and text_encoder/)`);
    }
    // A folder may hold a full and a "fp16" variant of the same weights: prefer the full one.
    const full = files.filter((f) => !/\.fp16\.safetensors$/.test(f));
    const use = (full.length ? full : files).map((f) => path.join(sub, f));
    for (const f of use) bytes += fs.statSync(f).size;
    return { weights: safetensorsWeights(use), config: readJson(path.join(sub, 'config.json')) };
  };
  const unet = part('unet');
  const vae = part('vae');
  const textEncoder = refiner ? undefined : part('text_encoder');
  const textEncoder2 = xl ? part('text_encoder_2') : undefined;
  const widthOf = (te: typeof textEncoder, name: string): number => {
    const w = te?.weights.info('text_model.embeddings.token_embedding.weight')?.shape[1];
    if (w === undefined) throw new InvalidModelError(name, `${label}/${name} has no text_model.embeddings.token_embedding.weight (not a CLIP text encoder)`);
    return w;
  };
  const width = widthOf(textEncoder ?? textEncoder2, textEncoder ? 'text_encoder' : 'text_encoder_2');
  if (textEncoder2) {
    widthOf(textEncoder2, 'text_encoder_2');
    if (!textEncoder2.weights.info('text_projection.weight')) throw new InvalidModelError('text_encoder_2', `${label}/text_encoder_2 has no text_projection.weight (SDXL's second encoder is a CLIPTextModelWithProjection)`);
  }
  const inChannels = unet.weights.info('conv_in.weight')?.shape[1];
  if (inChannels !== 4 && inChannels !== 9) throw new InvalidModelError('unet', `${label}/unet takes ${String(inChannels)} input channels; Atelier imports 4 and 9 (inpainting)`);
  const sched = readJson(path.join(dir, 'scheduler', 'scheduler_config.json'));
  const out: FolderNetworks = {
    family: xl ? 'sdxl' : width === 1024 ? 'sd2' : 'sd1',
    inChannels,
    unet: { weights: unet.weights, ...(unet.config ? { config: unet.config } : {}) },
    vae: { weights: vae.weights, ...(vae.config ? { config: vae.config } : {}) },
    ...(textEncoder ? { textEncoder: { weights: textEncoder.weights, ...(textEncoder.config ? { config: textEncoder.config } : {}) } } : {}),
    ...(textEncoder2 ? { textEncoder2: { weights: textEncoder2.weights, ...(textEncoder2.config ? { config: textEncoder2.config } : {}) }, refiner } : {}),
    bytes,
  };
  if (sched) {
    out.scheduler = sched;
    if (sched.prediction_type === 'v_prediction' || sched.prediction_type === 'epsilon') Object.assign(out, { prediction: sched.prediction_type, predictionFrom: 'config' });
  }
  if (fs.existsSync(path.join(dir, 'tokenizer', 'vocab.json'))) out.tokenizerDir = path.join(dir, 'tokenizer');
  if (xl && fs.existsSync(path.join(dir, 'tokenizer_2', 'vocab.json'))) out.tokenizer2Dir = path.join(dir, 'tokenizer_2');
  return out;
}
