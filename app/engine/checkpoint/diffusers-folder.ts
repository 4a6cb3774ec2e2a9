import fs from 'node:fs';
import path from 'node:path';
import { InvalidModelError } from '../model/errors.js';
import { safetensorsWeights, type WeightSource } from '../graph/weights.js';
import type { CheckpointFamily } from './detect.js';

// A diffusers-layout folder (unet/, vae/, text_encoder/ with .safetensors and config.json,
// tokenizer/ and scheduler/ optional) as the importer's networks (docs/models.md). Weights
// already carry the builder's names; configs come from the folder when present.

export interface FolderNetworks {
  family: CheckpointFamily;
  inChannels: number;
  unet: { weights: WeightSource; config?: Record<string, unknown> };
  vae: { weights: WeightSource; config?: Record<string, unknown> };
  textEncoder: { weights: WeightSource; config?: Record<string, unknown> };
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
  if (fs.existsSync(path.join(dir, 'text_encoder_2'))) throw new InvalidModelError('text_encoder_2', `${label} is an SDXL diffusers folder; importing SDXL is not supported yet`);
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
  const textEncoder = part('text_encoder');
  const width = textEncoder.weights.info('text_model.embeddings.token_embedding.weight')?.shape[1];
  if (width === undefined) throw new InvalidModelError('text_encoder', `${label}/text_encoder has no text_model.embeddings.token_embedding.weight (not a CLIP text encoder)`);
  const inChannels = unet.weights.info('conv_in.weight')?.shape[1];
  if (inChannels !== 4 && inChannels !== 9) throw new InvalidModelError('unet', `${label}/unet takes ${String(inChannels)} input channels; Atelier imports 4 and 9 (inpainting)`);
  const sched = readJson(path.join(dir, 'scheduler', 'scheduler_config.json'));
  const out: FolderNetworks = {
    family: width === 1024 ? 'sd2' : 'sd1',
    inChannels,
    unet: { weights: unet.weights, ...(unet.config ? { config: unet.config } : {}) },
    vae: { weights: vae.weights, ...(vae.config ? { config: vae.config } : {}) },
    textEncoder: { weights: textEncoder.weights, ...(textEncoder.config ? { config: textEncoder.config } : {}) },
    bytes,
  };
  if (sched) {
    out.scheduler = sched;
    if (sched.prediction_type === 'v_prediction' || sched.prediction_type === 'epsilon') Object.assign(out, { prediction: sched.prediction_type, predictionFrom: 'config' });
  }
  if (fs.existsSync(path.join(dir, 'tokenizer', 'vocab.json'))) out.tokenizerDir = path.join(dir, 'tokenizer');
  return out;
}
