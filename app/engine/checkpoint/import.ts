import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { ApiError } from '../../contract/index.js';
import { InvalidModelError } from '../model/errors.js';
import { buildClipTextEncoder, buildUnet, buildVaeDecoder, buildVaeEncoder, clipConfigFromWeights, readSafetensorsHeader, safetensorsWeights, unetConfigFromWeights, vaeConfigFromWeights, writeModel } from '../graph/index.js';
import type { FloatType, UnetKnown, WeightSource } from '../graph/index.js';
import { writeClipTokenizer } from './clip-vocab.js';
import { detectCheckpoint, type CheckpointFamily } from './detect.js';
import { diffusersFolderSource } from './diffusers-folder.js';
import { readVaeSource } from './vae-source.js';

// `atelier models import`: a single-file .safetensors checkpoint (or a diffusers folder of
// .safetensors) → an Atelier model folder in the diffusers/Optimum ONNX layout, graphs written
// by the graph builder (docs/models.md, docs/graph-builder.md). Everything is written into a
// hidden temporary folder beside the destination and renamed when complete, so a failed or
// interrupted import leaves nothing half-written in the models folder.

export type Prediction = 'epsilon' | 'v_prediction';

export interface ImportProgress {
  stage: 'hash' | 'text_encoder' | 'text_encoder_2' | 'unet' | 'vae_encoder' | 'vae_decoder' | 'done';
  /** Fraction of the whole import, 0..1. */
  fraction: number;
}

/** What shapes cannot tell, for checkpoints that differ from SD 1.x/2.x (the test fixtures do). */
export interface ImportHints {
  unet?: UnetKnown;
  vaeNormGroups?: number;
  vaeScalingFactor?: number;
  clipHeads?: number;
  /** SDXL's OpenCLIP-bigG heads (default width / 64: 20). */
  clip2Heads?: number;
}

export interface ImportOptions {
  /** The models folder; the model is written to `<modelsDir>/<name>`. */
  modelsDir: string;
  name: string;
  /** Default: the file's `v_pred` key or a sibling `.yaml` (A1111's convention) say; else SD 1.x epsilon, SD 2.x v_prediction. */
  prediction?: Prediction;
  /** Stored weights; default float16 (half the size), computed in float32 unless `compute` says. */
  dtype?: FloatType;
  compute?: FloatType;
  /** ControlNet residual inputs on the UNet (default true: ControlNets work with the model). */
  controlnetResiduals?: boolean;
  /** OpenAI's CLIP BPE file (resources/tokenizers/clip), or a tokenizer folder to copy. */
  tokenizer: { clipBpe: string } | { dir: string };
  hints?: ImportHints;
  /** A VAE to use instead of the checkpoint's: a .safetensors file (original or diffusers naming) or a diffusers vae/ folder. */
  vae?: string;
  onProgress?: (p: ImportProgress) => void;
}

export interface ImportedModel {
  path: string;
  name: string;
  family: CheckpointFamily;
  inpainting: boolean;
  /** SDXL's refiner (text_encoder_2 only, aesthetic-score time ids). */
  refiner?: boolean;
  prediction: Prediction;
  /** How the prediction type was chosen. */
  predictionFrom: 'option' | 'file' | 'yaml' | 'config' | 'default';
  source: { path: string; kind: 'single-file' | 'diffusers-folder'; bytes: number; sha256?: string; autov2?: string };
  dtype: FloatType;
  seconds: number;
}

const PICKLE = /\.(ckpt|pt|pth|bin|pkl)$/i;

/** The file's sha256, streamed (a 2–7 GB checkpoint never sits in memory). */
export async function sha256File(file: string, onBytes?: (done: number) => void): Promise<string> {
  const hash = crypto.createHash('sha256');
  let done = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 4 << 20 })) {
    hash.update(chunk as Buffer);
    done += (chunk as Buffer).length;
    onBytes?.(done);
  }
  return hash.digest('hex');
}

/** A1111's "AutoV2" short hash: the first 10 hex digits of the file's sha256. */
export function autoV2(sha256: string): string {
  return sha256.slice(0, 10);
}

/** Hints from an original LDM config beside the checkpoint (`NAME.yaml`), as A1111 reads them. */
function yamlHints(file: string): { prediction?: Prediction; heads?: number; headDim?: number; scalingFactor?: number } {
  const candidate = file.replace(/\.safetensors$/i, '.yaml');
  if (candidate === file || !fs.existsSync(candidate)) return {};
  let doc: unknown;
  try {
    doc = yaml.load(fs.readFileSync(candidate, 'utf8'));
  } catch (error) {
    throw new InvalidModelError('.', `${path.basename(candidate)} is not valid YAML: ${error instanceof Error ? error.message : String(error)}`);
  }
  const params = ((doc as { model?: { params?: Record<string, unknown> } })?.model?.params ?? {}) as Record<string, unknown>;
  const unet = ((params.unet_config as { params?: Record<string, unknown> })?.params ?? {}) as Record<string, unknown>;
  const out: ReturnType<typeof yamlHints> = {};
  if (params.parameterization === 'v') out.prediction = 'v_prediction';
  else if (params.parameterization === 'eps') out.prediction = 'epsilon';
  if (typeof unet.num_heads === 'number' && unet.num_heads > 0) out.heads = unet.num_heads;
  if (typeof unet.num_head_channels === 'number' && unet.num_head_channels > 0) out.headDim = unet.num_head_channels;
  if (typeof params.scale_factor === 'number') out.scalingFactor = params.scale_factor;
  return out;
}

/** Euler a defaults for SD (A1111's default sampler); SDXL base's own scheduler_config (EulerDiscreteScheduler, the same betas). */
function scheduler(prediction: Prediction, base: Record<string, unknown> = {}, xl = false): Record<string, unknown> {
  const pick = (k: string, d: unknown) => (base[k] !== undefined ? base[k] : d);
  return {
    _class_name: xl ? 'EulerDiscreteScheduler' : 'EulerAncestralDiscreteScheduler',
    ...(xl ? { interpolation_type: 'linear', use_karras_sigmas: false } : {}),
    num_train_timesteps: pick('num_train_timesteps', 1000),
    beta_start: pick('beta_start', 0.00085),
    beta_end: pick('beta_end', 0.012),
    beta_schedule: pick('beta_schedule', 'scaled_linear'),
    prediction_type: prediction,
    steps_offset: 1,
    timestep_spacing: 'leading',
    trained_betas: null,
  };
}

function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** A model name usable as a folder name on every platform. */
export function checkModelName(name: string): string {
  const n = name.trim();
  if (!n || n.length > 100 || /[\\/:*?"<>|]/.test(n) || [...n].some((c) => c.charCodeAt(0) < 0x20) || n.startsWith('.') || /[. ]$/.test(n)) {
    throw new ApiError('bad_request', `"${name}" cannot be a model name: 1–100 characters, no \\ / : * ? " < > |, not starting with a dot`);
  }
  return n;
}

interface Networks {
  family: CheckpointFamily;
  inChannels: number;
  unet: { weights: WeightSource; config?: Record<string, unknown> };
  vae: { weights: WeightSource; config?: Record<string, unknown> };
  /** Absent only for the SDXL refiner. */
  textEncoder?: { weights: WeightSource; config?: Record<string, unknown> };
  textEncoder2?: { weights: WeightSource; config?: Record<string, unknown> };
  refiner?: boolean;
  prediction?: Prediction;
  predictionFrom?: ImportedModel['predictionFrom'];
  tokenizerDir?: string;
  tokenizer2Dir?: string;
  scheduler?: Record<string, unknown>;
}

export async function importCheckpoint(source: string, opts: ImportOptions): Promise<ImportedModel> {
  const started = Date.now();
  const abs = path.resolve(source);
  const label = path.basename(abs);
  const name = checkModelName(opts.name);
  const progress = (stage: ImportProgress['stage'], fraction: number) => opts.onProgress?.({ stage, fraction: Math.min(1, fraction) });
  if (!fs.existsSync(abs)) throw new ApiError('not_found', `${abs} does not exist`);
  const isDir = fs.statSync(abs).isDirectory();
  if (!isDir && PICKLE.test(abs)) throw new InvalidModelError('.', `${label} is a pickle (.ckpt/.pt/.bin), which can run code when loaded: Atelier imports .safetensors only (convert it with a trusted tool first)`);
  if (!isDir && !/\.safetensors$/i.test(abs)) throw new InvalidModelError('.', `${label} is not a .safetensors file`);
  const target = path.join(opts.modelsDir, name);
  if (fs.existsSync(target)) throw new ApiError('conflict', `a model named "${name}" already exists in ${opts.modelsDir}`, { path: target });

  // Headers and keys first: a wrong file is refused before anything is hashed or written.
  let nets: Networks;
  let bytes: number;
  if (isDir) {
    const folder = diffusersFolderSource(abs);
    nets = folder;
    bytes = folder.bytes;
  } else {
    const header = readSafetensorsHeader(abs);
    const detected = detectCheckpoint(abs, safetensorsWeights(abs), [...header.entries.keys()], { withoutVae: opts.vae !== undefined });
    // Without a VAE of its own the file must come with --vae (replaced below).
    nets = {
      family: detected.family,
      inChannels: detected.inChannels,
      unet: { weights: detected.unet },
      vae: { weights: detected.vae ?? detected.unet },
      ...(detected.textEncoder ? { textEncoder: { weights: detected.textEncoder } } : {}),
      ...(detected.textEncoder2 ? { textEncoder2: { weights: detected.textEncoder2 }, refiner: detected.refiner === true } : {}),
    };
    if (detected.prediction) Object.assign(nets, { prediction: detected.prediction, predictionFrom: 'file' });
    bytes = fs.statSync(abs).size;
  }
  const vae = opts.vae ? readVaeSource(opts.vae) : undefined;
  if (vae) nets.vae = { weights: vae.weights, ...(vae.config ? { config: vae.config } : {}) };
  const fromYaml = isDir ? {} : yamlHints(abs);
  let prediction: Prediction;
  let predictionFrom: ImportedModel['predictionFrom'];
  if (opts.prediction) [prediction, predictionFrom] = [opts.prediction, 'option'];
  else if (nets.prediction) [prediction, predictionFrom] = [nets.prediction, nets.predictionFrom ?? 'config'];
  else if (fromYaml.prediction) [prediction, predictionFrom] = [fromYaml.prediction, 'yaml'];
  // Most SD 2.x single files are 768-v models (the 512 "base" is the exception): --prediction overrides.
  else [prediction, predictionFrom] = [nets.family === 'sd2' ? 'v_prediction' : 'epsilon', 'default'];

  const hints = opts.hints ?? {};
  const xl = nets.family === 'sdxl';
  const sampleSize = xl ? 128 : nets.family === 'sd2' && prediction === 'v_prediction' ? 96 : 64;
  const unetKnown: UnetKnown = { ...(fromYaml.heads ? { heads: fromYaml.heads } : {}), ...(fromYaml.headDim ? { headDim: fromYaml.headDim } : {}), sampleSize, ...hints.unet };
  const unetConfig = nets.unet.config ?? unetConfigFromWeights(nets.unet.weights, unetKnown);
  // SDXL's VAE: scaling factor 0.13025, and decoded in float32 (it overflows in float16), as diffusers' config says
  const vaeConfig = nets.vae.config ?? vaeConfigFromWeights(nets.vae.weights, {
    ...(hints.vaeNormGroups ? { normNumGroups: hints.vaeNormGroups } : {}),
    scalingFactor: hints.vaeScalingFactor ?? fromYaml.scalingFactor ?? (xl ? 0.13025 : 0.18215),
    ...(xl ? { forceUpcast: true, sampleSize: 1024 } : {}),
  });
  const clipConfig = nets.textEncoder ? (nets.textEncoder.config ?? clipConfigFromWeights(nets.textEncoder.weights, hints.clipHeads ? { heads: hints.clipHeads } : {})) : undefined;
  // OpenCLIP-bigG was trained with GELU, whatever its width
  const clip2Config = nets.textEncoder2 ? (nets.textEncoder2.config ?? clipConfigFromWeights(nets.textEncoder2.weights, { hiddenAct: 'gelu', ...(hints.clip2Heads ? { heads: hints.clip2Heads } : {}) })) : undefined;
  const textEmbedsDim = typeof clip2Config?.projection_dim === 'number' ? { textEmbedsDim: clip2Config.projection_dim } : {};

  let sha256: string | undefined;
  if (!isDir) sha256 = await sha256File(abs, (done) => progress('hash', (0.15 * done) / bytes));

  fs.mkdirSync(opts.modelsDir, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(opts.modelsDir, `.import-${name.replace(/\s+/g, '_')}-`));
  const dtype = opts.dtype ?? 'float16';
  const fp = { dtype, compute: opts.compute ?? 'float32' };
  try {
    const te = nets.textEncoder;
    const te2 = nets.textEncoder2;
    type Step = [ImportProgress['stage'], string, Record<string, unknown>, () => Parameters<typeof writeModel>[1], number];
    const steps: Step[] = [
      ...(te && clipConfig ? [['text_encoder', 'text_encoder', clipConfig, () => buildClipTextEncoder(clipConfig, te.weights, fp), te2 ? 0.03 : 0.1] satisfies Step] : []),
      ...(te2 && clip2Config ? [['text_encoder_2', 'text_encoder_2', clip2Config, () => buildClipTextEncoder(clip2Config, te2.weights, fp), te ? 0.07 : 0.1] satisfies Step] : []),
      ['unet', 'unet', unetConfig, () => buildUnet(unetConfig, nets.unet.weights, { ...fp, ...textEmbedsDim, controlnetResiduals: opts.controlnetResiduals !== false }), 0.6],
      ['vae_encoder', 'vae_encoder', vaeConfig, () => buildVaeEncoder(vaeConfig, nets.vae.weights, fp), 0.05],
      ['vae_decoder', 'vae_decoder', vaeConfig, () => buildVaeDecoder(vaeConfig, nets.vae.weights, fp), 0.1],
    ];
    let done = isDir ? 0 : 0.15;
    const share = isDir ? 1 / 0.85 : 1;
    for (const [stage, dir, config, build, weight] of steps) {
      progress(stage, done);
      writeJson(path.join(tmp, dir, 'config.json'), config);
      writeModel(path.join(tmp, dir), build());
      done += weight * share;
    }
    // Both SDXL tokenizers are CLIP's vocabulary; diffusers' SDXL tokenizer_2 (OpenCLIP-bigG) pads with "!", as SD 2.x's does
    const tokenizers: [string, '<|endoftext|>' | '!'][] = [
      ...(te ? [['tokenizer', nets.family === 'sd2' ? '!' : '<|endoftext|>'] as [string, '!' | '<|endoftext|>']] : []),
      ...(te2 ? [['tokenizer_2', '!'] as [string, '!']] : []),
    ];
    for (const [sub, pad] of tokenizers) {
      const tokenizerDir = path.join(tmp, sub);
      // a tokenizer folder given for SD models serves both SDXL tokenizers, unless a `<dir>_2` sibling (diffusers' tokenizer_2/) is beside it
      const given = 'dir' in opts.tokenizer ? opts.tokenizer.dir : undefined;
      const sibling = given && sub === 'tokenizer_2' && fs.existsSync(`${given}_2`) ? `${given}_2` : given;
      const tokenizerFrom = (sub === 'tokenizer' ? nets.tokenizerDir : nets.tokenizer2Dir) ?? sibling;
      if (tokenizerFrom) {
        fs.mkdirSync(tokenizerDir, { recursive: true });
        for (const f of ['vocab.json', 'merges.txt', 'special_tokens_map.json', 'tokenizer_config.json']) {
          if (fs.existsSync(path.join(tokenizerFrom, f))) fs.copyFileSync(path.join(tokenizerFrom, f), path.join(tokenizerDir, f));
        }
      } else if ('clipBpe' in opts.tokenizer) {
        writeClipTokenizer(opts.tokenizer.clipBpe, tokenizerDir, pad);
      }
    }
    writeJson(path.join(tmp, 'scheduler', 'scheduler_config.json'), scheduler(prediction, nets.scheduler, xl));
    const src: ImportedModel['source'] = { path: abs, kind: isDir ? 'diffusers-folder' : 'single-file', bytes, ...(sha256 ? { sha256, autov2: autoV2(sha256) } : {}) };
    const ort = ['diffusers', 'OnnxRuntimeModel'];
    const refiner = nets.refiner === true;
    writeJson(path.join(tmp, 'model_index.json'), {
      _class_name: !xl ? 'OnnxStableDiffusionPipeline' : refiner ? 'ORTStableDiffusionXLImg2ImgPipeline' : nets.inChannels === 9 ? 'ORTStableDiffusionXLInpaintPipeline' : 'ORTStableDiffusionXLPipeline',
      ...(te ? { text_encoder: ort, tokenizer: ['transformers', 'CLIPTokenizer'] } : {}),
      ...(te2 ? { text_encoder_2: ort, tokenizer_2: ['transformers', 'CLIPTokenizer'] } : {}),
      unet: ort,
      vae_encoder: ort,
      vae_decoder: ort,
      scheduler: ['diffusers', xl ? 'EulerDiscreteScheduler' : 'EulerAncestralDiscreteScheduler'],
      // SDXL base pipelines zero the negative embeddings for an empty negative prompt; the refiner conditions on the aesthetic score
      ...(xl ? { force_zeros_for_empty_prompt: !refiner, requires_aesthetics_score: refiner } : { requires_safety_checker: false }),
      atelier: { name, family: nets.family, inpainting: nets.inChannels === 9, ...(xl ? { refiner } : {}), prediction, imported: new Date().toISOString(), source: src, ...(vae ? { vae: { path: vae.file } } : {}) },
    });
    if (fs.existsSync(target)) throw new ApiError('conflict', `a model named "${name}" appeared in ${opts.modelsDir} during the import`, { path: target });
    fs.renameSync(tmp, target);
    progress('done', 1);
    return { path: target, name, family: nets.family, inpainting: nets.inChannels === 9, ...(xl ? { refiner } : {}), prediction, predictionFrom, source: src, dtype, seconds: (Date.now() - started) / 1000 };
  } catch (error) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
}
