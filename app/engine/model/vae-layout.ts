import fs from 'node:fs';
import path from 'node:path';
import { InvalidModelError } from './errors.js';
import { type GraphIO, type GraphReader, type JsonObject, find, needed, num, staticDim, tensorInputs, tensorOutputs } from './graph-io.js';
import type { VaeDecoderLayout, VaeEncoderLayout } from './layout.js';

// vae_encoder/ (optional: without it the model does text-to-image only) and vae_decoder/,
// and the latent scale both share (scaling_factor, and the VAE's downsampling factor).

const ENCODER = 'vae_encoder/model.onnx';
const DECODER = 'vae_decoder/model.onnx';

/**
 * The encoder's output decides how a latent is drawn: `latent_parameters` (mean ‖ logvar, 8
 * channels, Optimum ≥ 1.23) is sampled with the candidate's generator; `latent_sample` (older
 * exports) is a latent already.
 */
export async function readVaeEncoder(dir: string, read: GraphReader, notes: string[]): Promise<{ layout: VaeEncoderLayout; io: GraphIO } | undefined> {
  if (!fs.existsSync(path.join(dir, ENCODER))) {
    notes.push(`no vae_encoder: text-to-image only (img2img and inpainting need ${ENCODER})`);
    return undefined;
  }
  const io = await read(path.join(dir, ENCODER), ENCODER);
  const inputs = tensorInputs(io);
  const outputs = tensorOutputs(io);
  const input = needed(find(inputs, ['sample']) ?? inputs[0], ENCODER, 'sample input');
  const out = needed(find(outputs, ['latent_parameters', 'latent_sample', 'latent_dist']) ?? outputs[0], ENCODER, 'output');
  const kind = out.name === 'latent_parameters' || staticDim(out, 1) === 8 ? 'latent_parameters' : 'latent_sample';
  return { layout: { file: path.join(dir, ENCODER), inName: input.name, inType: input.type, outName: out.name, kind }, io };
}

/** The decoder takes 4-channel latents (already divided by scaling_factor) and gives RGB in about [-1, 1]. */
export async function readVaeDecoder(dir: string, read: GraphReader): Promise<{ layout: VaeDecoderLayout; io: GraphIO }> {
  const io = await read(path.join(dir, DECODER), DECODER);
  const input = needed(find(tensorInputs(io), ['latent_sample']) ?? tensorInputs(io)[0], DECODER, 'latent_sample input');
  const out = needed(find(tensorOutputs(io), ['sample']) ?? tensorOutputs(io)[0], DECODER, 'sample output');
  const latentChannels = staticDim(input, 1) ?? 4;
  if (latentChannels !== 4) throw new InvalidModelError(DECODER, `${DECODER} takes ${latentChannels} latent channels; expected 4`);
  return { layout: { file: path.join(dir, DECODER), inName: input.name, inType: input.type, outName: out.name }, io };
}

/**
 * From the VAE's config.json: `scaling_factor` (SD 1.x/2.x's 0.18215 when absent, with a note)
 * and the pixels per latent, 2^(len(block_out_channels) − 1) (8 for SD).
 */
export function vaeScaling(config: JsonObject | undefined, notes: string[]): { scalingFactor: number; vaeScaleFactor: number } {
  let scalingFactor = num(config, 'scaling_factor');
  if (scalingFactor === undefined) {
    scalingFactor = 0.18215;
    notes.push('no scaling_factor in vae config.json: using SD 1.x/2.x 0.18215');
  }
  const blocks = Array.isArray(config?.block_out_channels) ? (config.block_out_channels as unknown[]).length : 4;
  return { scalingFactor, vaeScaleFactor: 2 ** (blocks - 1) };
}
