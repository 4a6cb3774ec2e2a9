import fs from 'node:fs';
import path from 'node:path';
import { InvalidModelError } from '../model/errors.js';
import { readSafetensorsHeader, safetensorsWeights, type WeightSource } from '../graph/weights.js';
import { ldmVaeMap, mappedWeights } from './keymap.js';

// A VAE to use instead of the checkpoint's own (docs/models.md): a .safetensors file in the
// original layout (vae-ft-mse-840000 style: encoder.down.0.block.0…, with or without
// first_stage_model.), in diffusers naming (encoder.down_blocks.0…), or a diffusers vae/ folder.

export interface VaeSource {
  weights: WeightSource;
  config?: Record<string, unknown>;
  file: string;
}

export function readVaeSource(source: string): VaeSource {
  const abs = path.resolve(source);
  const label = path.basename(abs);
  if (!fs.existsSync(abs)) throw new InvalidModelError('vae', `the VAE ${abs} does not exist`);
  if (fs.statSync(abs).isDirectory()) {
    const files = fs.readdirSync(abs).filter((f) => f.endsWith('.safetensors') && !f.endsWith('.fp16.safetensors'));
    if (!files.length) throw new InvalidModelError('vae', `${label} holds no .safetensors VAE weights`);
    const configFile = path.join(abs, 'config.json');
    const config = fs.existsSync(configFile) ? (JSON.parse(fs.readFileSync(configFile, 'utf8')) as Record<string, unknown>) : undefined;
    const weights = safetensorsWeights(files.map((f) => path.join(abs, f)));
    if (!weights.info('decoder.conv_in.weight')) throw new InvalidModelError('vae', `${label} is not an AutoencoderKL in diffusers naming (no decoder.conv_in.weight)`);
    return { weights, ...(config ? { config } : {}), file: abs };
  }
  if (!/\.safetensors$/i.test(abs)) throw new InvalidModelError('vae', `${label}: a VAE is read from a .safetensors file or a diffusers folder (pickles can run code)`);
  const keys = [...readSafetensorsHeader(abs).entries.keys()];
  const all = safetensorsWeights(abs);
  if (keys.some((k) => k.startsWith('encoder.down_blocks.'))) return { weights: all, file: abs };
  const prefix = keys.some((k) => k.startsWith('first_stage_model.')) ? 'first_stage_model.' : '';
  if (!keys.some((k) => k.startsWith(`${prefix}encoder.down.`)) || !keys.some((k) => k.startsWith(`${prefix}decoder.up.`))) {
    throw new InvalidModelError('vae', `${label} is not a VAE (no encoder.down / decoder.up weights)`);
  }
  const vaeKeys = all.names().filter((k) => k.startsWith(prefix) && (k.slice(prefix.length).startsWith('encoder.') || k.slice(prefix.length).startsWith('decoder.') || /quant_conv\./.test(k)));
  return { weights: mappedWeights(all, `${label} (VAE)`, ldmVaeMap(vaeKeys, prefix, label)), file: abs };
}
