import fs from 'node:fs';
import path from 'node:path';
import { buildClipTextEncoder, type ClipBuildOptions } from './clip.js';
import { buildControlNet } from './controlnet.js';
import { writeModel, type FloatType, type WrittenModel } from './core.js';
import { buildUnet } from './unet.js';
import { buildVaeDecoder, buildVaeEncoder } from './vae.js';
import type { FusedChoice } from './fused.js';
import type { WeightSource } from './weights.js';

// Atelier's ONNX graph builder (docs/graph-builder.md): config + named weights → ONNX graphs
// with external weights, in the diffusers/Optimum folder layout the engine loads.

export { buildClipTextEncoder, parseClipConfig, withProjection } from './clip.js';
export type { ClipBuildOptions, ClipConfig } from './clip.js';
export { buildControlNet } from './controlnet.js';
export { biasSplitGeluFits, fusedFor, fusedOps, multiHeadAttentionFits, PROVIDER_FUSED_OPS } from './fused.js';
export { clipWeightShapes, RandomWeights, unetWeightShapes, vaeWeightShapes } from './random.js';
export type { FusedChoice, FusedOp } from './fused.js';
export { GraphBuilder, OPSET, readModelProto, writeGraphOnto, writeModel } from './core.js';
export { readBuiltGraph, rebuildGraph, writeGraphVariant } from './variant.js';
export type { BuiltGraphFile, GraphVariant } from './variant.js';
export type { BuiltGraph, FloatType, WeightIndex, WrittenModel } from './core.js';
export { clipConfigFromWeights, unetConfigFromWeights, vaeConfigFromWeights } from './infer.js';
export type { UnetKnown } from './infer.js';
export { buildUnet } from './unet.js';
export { parseUnetConfig } from './unet-blocks.js';
export { addedInputs, parseAddedCond } from './unet-sdxl.js';
export type { AddedCond } from './unet-sdxl.js';
export type { UnetConfig } from './unet-blocks.js';
export { buildVaeDecoder, buildVaeEncoder, parseVaeConfig } from './vae.js';
export { MemoryWeights, readSafetensorsBytes, readSafetensorsHeader, safetensorsWeights, withPrefix } from './weights.js';
export type { WeightDType, WeightInfo, WeightSource } from './weights.js';

/** A network's diffusers config.json object and its weights (names relative to that network). */
export interface NetworkSource {
  config: Record<string, unknown>;
  weights: WeightSource;
}

export interface PipelineGraphs {
  /** SD's text encoder; SDXL's CLIP-L (absent for the SDXL refiner, which has only text_encoder_2). */
  textEncoder?: NetworkSource;
  /** SDXL's OpenCLIP-bigG (config architectures: CLIPTextModelWithProjection), written as text_encoder_2/. */
  textEncoder2?: NetworkSource;
  unet: NetworkSource;
  /** AutoencoderKL weights: encoder.*, decoder.*, quant_conv.*, post_quant_conv.* */
  vae: NetworkSource;
  /** Written as controlnet/ inside the folder (the diffusers ControlNet pipeline layout). */
  controlnet?: NetworkSource;
}

export interface PipelineBuildOptions {
  dtype?: FloatType;
  compute?: FloatType;
  idsType?: ClipBuildOptions['idsType'];
  /** Give unet/ ControlNet residual inputs (needed to use a ControlNet with this model). */
  controlnetResiduals?: boolean;
  /** Fused operators for the provider the folder is built for (fused.ts; default plain ONNX). */
  fused?: FusedChoice;
}

function writeConfig(dir: string, config: Record<string, unknown>): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
}

/**
 * Writes text_encoder/ (and SDXL's text_encoder_2/), unet/, vae_encoder/, vae_decoder/ (and
 * controlnet/) with model.onnx, model.onnx_data and config.json each. The tokenizers,
 * scheduler/ and model_index.json are the caller's: they do not come from weights.
 */
export function writePipelineGraphs(dir: string, src: PipelineGraphs, opts: PipelineBuildOptions = {}): Record<string, WrittenModel> {
  const fp = { ...(opts.dtype ? { dtype: opts.dtype } : {}), ...(opts.compute ? { compute: opts.compute } : {}), ...(opts.fused ? { fused: opts.fused } : {}) };
  const out: Record<string, WrittenModel> = {};
  const part = (name: string, config: Record<string, unknown>, build: () => Parameters<typeof writeModel>[1]): void => {
    writeConfig(path.join(dir, name), config);
    out[name] = writeModel(path.join(dir, name), build());
  };
  const ids = opts.idsType ? { idsType: opts.idsType } : {};
  const { textEncoder: te, textEncoder2: te2 } = src;
  if (!te && !te2) throw new TypeError('writePipelineGraphs: a text encoder is needed');
  if (te) part('text_encoder', te.config, () => buildClipTextEncoder(te.config, te.weights, { ...fp, ...ids }));
  // SDXL: text_embeds is text_encoder_2's projection, which settles how many time ids the UNet takes
  const projection = te2 && typeof te2.config.projection_dim === 'number' ? { textEmbedsDim: te2.config.projection_dim } : {};
  if (te2) part('text_encoder_2', te2.config, () => buildClipTextEncoder(te2.config, te2.weights, { ...fp, ...ids }));
  part('unet', src.unet.config, () => buildUnet(src.unet.config, src.unet.weights, { ...fp, ...projection, controlnetResiduals: opts.controlnetResiduals === true }));
  part('vae_encoder', src.vae.config, () => buildVaeEncoder(src.vae.config, src.vae.weights, fp));
  part('vae_decoder', src.vae.config, () => buildVaeDecoder(src.vae.config, src.vae.weights, fp));
  if (src.controlnet) {
    const cn = src.controlnet;
    part('controlnet', cn.config, () => buildControlNet(cn.config, cn.weights, { ...fp, ...projection }));
  }
  return out;
}
