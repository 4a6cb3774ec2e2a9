import path from 'node:path';
import { InvalidModelError } from '../model/errors.js';
import type { WeightSource } from '../graph/weights.js';
import { detectSdxl } from './detect-sdxl.js';
import { ldmClipMap, ldmUnetMap, ldmVaeMap, mappedWeights, openClipMap } from './keymap.js';

// What a single-file checkpoint is, from its keys and shapes alone (docs/models.md), and its
// networks as builder-named weight views. Files that are something else (a LoRA, an
// embedding, a VAE or ControlNet alone) are refused by name, so the artist learns what they
// picked. SDXL files (sgm's `conditioner.embedders.*` layout) are read in detect-sdxl.ts.

export type CheckpointFamily = 'sd1' | 'sd2' | 'sdxl';

export interface DetectedCheckpoint {
  family: CheckpointFamily;
  /** 4: plain; 9: inpainting (latents + mask + masked-image latents). */
  inChannels: 4 | 9;
  /** Present when the file itself says (a `v_pred` key); otherwise the importer decides. */
  prediction?: 'v_prediction';
  unet: WeightSource;
  /** Absent only when the caller brings its own VAE (`withoutVae`). */
  vae?: WeightSource;
  /** SD's text encoder, SDXL's CLIP-L; absent for the SDXL refiner (OpenCLIP-bigG only). */
  textEncoder?: WeightSource;
  /** SDXL: OpenCLIP-bigG as CLIPTextModelWithProjection (text_encoder_2). */
  textEncoder2?: WeightSource;
  /** SDXL: the refiner (text_encoder_2 only; time ids with the aesthetic score). */
  refiner?: boolean;
}

const UNET = 'model.diffusion_model.';
const VAE = 'first_stage_model.';
const CLIP = 'cond_stage_model.transformer.';
const OPENCLIP = 'cond_stage_model.model.';

export function has(keys: string[], test: (k: string) => boolean): boolean {
  return keys.some(test);
}

/** Why a file without an SD 1.x/2.x UNet is not a checkpoint, as precisely as its keys tell. */
function notACheckpoint(label: string, keys: string[]): InvalidModelError {
  const say = (what: string) => new InvalidModelError('.', `${label} ${what}`);
  if (has(keys, (k) => k.startsWith('lora_') || k.includes('.lora_down.') || k.includes('.lora_A.') || k.includes('.hada_w1_a'))) return say('is a LoRA, not a checkpoint: put it in the LoRA folder and use <lora:NAME:WEIGHT> in the prompt');
  if (has(keys, (k) => k === 'emb_params' || k.startsWith('string_to_param') || k === 'clip_l' || k === 'clip_g')) return say('is a textual-inversion embedding, not a checkpoint');
  if (has(keys, (k) => k.startsWith('control_model.') || k.startsWith('input_hint_block.') || k.startsWith('controlnet_cond_embedding.'))) return say('is a ControlNet, not a checkpoint');
  if (has(keys, (k) => k.startsWith('encoder.conv_in.') || k.startsWith('decoder.conv_in.'))) return say('is a VAE alone, not a checkpoint');
  if (has(keys, (k) => k.startsWith('conditioner.embedders.'))) return say('holds SDXL text encoders (conditioner.embedders.*) but no UNet (model.diffusion_model.*): text encoders alone cannot be imported as a model');
  if (has(keys, (k) => k.startsWith('double_blocks.') || k.startsWith('joint_blocks.') || k.includes('model.diffusion_model.joint_blocks.'))) return say('is a Flux/SD3-style model, which Atelier cannot import');
  return say(`is not a Stable Diffusion checkpoint Atelier knows (no ${UNET}input_blocks.0.0.weight; first keys: ${keys.slice(0, 3).join(', ') || 'none'})`);
}

export function detectCheckpoint(file: string, all: WeightSource, headerKeys: string[], opts: { withoutVae?: boolean } = {}): DetectedCheckpoint {
  const label = path.basename(file);
  const keys = all.names();
  const convIn = all.info(`${UNET}input_blocks.0.0.weight`);
  if (!convIn) throw notACheckpoint(label, headerKeys);
  const inChannels = convIn.shape[1];
  if (inChannels !== 4 && inChannels !== 9) {
    throw new InvalidModelError('unet', `${label}: the UNet takes ${inChannels} input channels; Atelier imports 4 (text-to-image) and 9 (inpainting) channel models`);
  }
  if (has(keys, (k) => k.startsWith('conditioner.embedders.')) || all.info(`${UNET}label_emb.0.0.weight`)) {
    return detectSdxl(label, all, keys, inChannels, { unet: UNET, vae: VAE }, opts);
  }
  let textEncoder: WeightSource;
  let family: CheckpointFamily;
  if (has(keys, (k) => k.startsWith(OPENCLIP))) {
    family = 'sd2';
    textEncoder = mappedWeights(all, `${label} (text encoder)`, openClipMap(keys, OPENCLIP, all, label));
  } else if (has(keys, (k) => k.startsWith(CLIP))) {
    family = 'sd1';
    textEncoder = mappedWeights(all, `${label} (text encoder)`, ldmClipMap(keys, CLIP));
  } else {
    throw new InvalidModelError('text_encoder', `${label} has no text encoder (${CLIP}* or ${OPENCLIP}*): a UNet-only file cannot be imported as a model`);
  }
  const hasVae = has(keys, (k) => k.startsWith(VAE));
  if (!hasVae && !opts.withoutVae) throw new InvalidModelError('vae', `${label} has no VAE (${VAE}*): import it with a VAE of its own (--vae)`);
  const unet = mappedWeights(all, `${label} (UNet)`, ldmUnetMap(keys, UNET, label));
  const vae = hasVae ? mappedWeights(all, `${label} (VAE)`, ldmVaeMap(keys, VAE, label)) : undefined;
  const width = textEncoder.info('text_model.embeddings.token_embedding.weight')?.shape[1];
  const context = unet.info('down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight')?.shape[1] ?? unet.info('mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight')?.shape[1];
  if (width === undefined) throw new InvalidModelError('text_encoder', `${label}: the text encoder has no token embedding`);
  if (context !== undefined && context !== width) throw new InvalidModelError('unet', `${label}: the UNet's cross attention takes ${context}-wide text, the text encoder gives ${width}`);
  const detected: DetectedCheckpoint = { family, inChannels, unet, textEncoder, ...(vae ? { vae } : {}) };
  if (headerKeys.includes('v_pred')) detected.prediction = 'v_prediction';
  return detected;
}
