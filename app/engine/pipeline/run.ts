import { ApiError, modeOf, type GenerationRequest } from '../../contract/index.js';
import { maskFromImage, binarizeMask } from '../control/mask.js';
import type { Field } from '../control/field.js';
import { flattenOnto, resizeImage } from '../image.js';
import { EngineModel } from '../model/load.js';
import { floatTensor, toFloat32 } from '../model/session.js';
import { TorchCpuGenerator } from '../rng/torch-generator.js';
import { candidateNoise, candidateSeeds } from '../rng/variation.js';
import { roundHalfEven } from '../schedulers/common.js';
import { createScheduler, guidanceScaleEmbedding, parseSchedulerConfig, startStepForStrength } from '../schedulers/index.js';
import { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';
import { throwIfAborted } from './errors.js';
import { downsampleNearest, imageToSigned, imageToUnit, signedToImage } from './tensor.js';
import { addedCond } from './sdxl.js';
import { prepareRegions } from './regions.js';
import { runSteps, type ActiveControl, type Plan, type StepContext } from './steps.js';
import { candidatesPerCall, graphBytes, groupsOf, largeGeneration, splitGuidance } from './batching.js';
import { encodePrompts } from './text.js';
export { controlActive } from './steps.js';
import type { EngineCandidate, LoadedModel, PipelineImages, PipelineResult, RgbaImage, RunOptions } from './types.js';

// The denoising loop in plain sight (diffusers' StableDiffusion{,Img2Img,Inpaint,ControlNet}
// pipelines and A1111's processing.py are the references). Candidates run in groups that share
// one UNet call per step (batching.ts: as many as the provider's memory budget holds, one at a
// time on the CPU), each with its own TorchCpuGenerator seeded seed + k and its own scheduler,
// so candidate k is a single run with that seed.

const tokenizers = new WeakMap<EngineModel, Promise<ClipTokenizer[]>>();

/** One tokenizer per text encoder (SDXL's two pad differently). */
function tokenizersFor(model: EngineModel): Promise<ClipTokenizer[]> {
  const cached = tokenizers.get(model);
  if (cached) return cached;
  const t = Promise.all(model.layout.textEncoders.map((te) => ClipTokenizer.fromFolder(te.tokenizerDir)));
  tokenizers.set(model, t);
  return t;
}

function bad(message: string): never {
  throw new ApiError('bad_request', message);
}

function resolveSize(request: GenerationRequest, multiple: number, fallback: { width: number; height: number }): { width: number; height: number } {
  const width = request.width ?? fallback.width;
  const height = request.height ?? fallback.height;
  for (const [name, v] of [['width', width], ['height', height]] as const) {
    if (v % multiple !== 0) bad(`${name} ${v} is not a multiple of ${multiple}, which this model needs`);
  }
  return { width, height };
}

export async function runPipeline(loaded: LoadedModel, request: GenerationRequest, images: PipelineImages, opts: RunOptions = {}): Promise<PipelineResult> {
  if (!(loaded instanceof EngineModel)) throw new TypeError('runPipeline needs a model from loadModel()');
  const model = loaded;
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const stepTimes: number[] = [];
  const { layout } = model;
  const info = layout.info;
  const mode = modeOf(request);
  if (mode !== 'txt2img' && !images.init) bad(`${mode} needs an init image`);
  if (mode === 'inpaint' && !images.mask) bad('inpainting needs a mask image');
  if (mode !== 'txt2img' && !layout.vaeEncoder) throw new ApiError('invalid_model', `vae_encoder/model.onnx is missing: ${mode} needs it`, { part: 'vae_encoder/model.onnx' });
  const micro = request.sdxlConditioning;
  if (micro && !layout.sdxl) bad(`original size, crop, target size and aesthetic score are SDXL's micro-conditioning; this model is ${info.family}, not SDXL`);
  if (micro && (micro.aestheticScore !== undefined || micro.negativeAestheticScore !== undefined) && layout.sdxl?.timeIdsWidth === 6 && !request.refiner) {
    bad('an aesthetic score conditions an SDXL refiner (five time ids); this model takes none and no refiner is given');
  }
  if (request.controls.length > (images.controls?.length ?? 0)) bad(`${request.controls.length} controls requested but ${images.controls?.length ?? 0} control images given`);

  const init = images.init ? flattenOnto(images.init) : undefined;
  // Omitted sizes: the init image's, rounded down to the model's multiple (as the generation
  // service does), else the model's default. A size that is asked for is never rounded.
  const m = info.sizeMultiple;
  const defaultSize = init
    ? { width: Math.max(m, init.width - (init.width % m)), height: Math.max(m, init.height - (init.height % m)) }
    : { width: info.defaultWidth, height: info.defaultHeight };
  const { width, height } = resolveSize(request, info.sizeMultiple, defaultSize);

  // Strength 0 keeps the init image: returned as is rather than through a lossy VAE round trip.
  if (init && request.strength === 0) {
    // inpainting results are the original with the mask's region repainted: here, the original
    const kept = mode === 'inpaint' || (init.width === width && init.height === height) ? init : await resizeImage(init, width, height, 'cover');
    const candidates = Array.from({ length: request.batch }, (_, k) => ({ index: k, seed: candidateSeeds(request, k).seed, image: kept }));
    timings.total = performance.now() - t0;
    return { candidates, device: model.device, timings };
  }

  // Inpainting: the mask binarized at the init's size; it steers the denoiser only. The one
  // pixel-space paste-back through the feathered mask (A1111's apply_overlay), and "only
  // masked" cropping, are the caller's: app/service/generation-images.ts fitInputs /
  // pasteGenerated, which the service and `atelier generate` both use. Blending here too made
  // the feather band a blend of a blend (generated weight m² instead of m).
  let mask: Field | undefined;
  if (mode === 'inpaint') {
    const mk = images.mask!;
    if (mk.width !== init!.width || mk.height !== init!.height) bad(`the mask is ${mk.width}×${mk.height} but the init image is ${init!.width}×${init!.height}; they must match`);
    mask = binarizeMask(maskFromImage(mk));
  }

  // The image the denoiser sees, at generation size: img2img crops to cover it; inpainting
  // stretches ("just resize"), so that the result maps back onto the original pixel for pixel.
  let work = init;
  let workMask = mask;
  if (init && (init.width !== width || init.height !== height)) {
    work = await resizeImage(init, width, height, mask ? 'exact' : 'cover');
    if (mask) workMask = await resizeField(mask, width, height);
  }

  const plan = await preparePlan(model, request, images, { width, height }, work, workMask, timings, stepTimes);
  const refiner = request.refiner ? await prepareRefiner(model, request, { width, height }, mode, timings) : undefined;
  const candidates: EngineCandidate[] = [];
  const perCall = candidatesPerCall(
    { device: model.device, latentWidth: plan.latentWidth, latentHeight: plan.latentHeight, halves: plan.useCfg ? 2 : 1, candidates: request.batch },
    opts.candidateBatch,
  );
  timings.candidatesPerCall = perCall;
  const large = guidanceRule(plan, opts);
  if (refiner) guidanceRule(refiner.plan, opts);
  // Every group denoised first, then decoded: a large generation on a model whose UNet is
  // transient closes it (and ONNX Runtime's memory for its steps) before the VAE decoder opens
  // (docs/engine.md, "Memory"); the next run opens it again.
  const denoised: { group: number[]; latents: Float32Array[]; last: Plan }[] = [];
  for (const group of groupsOf(request.batch, perCall)) denoised.push({ group, ...(await denoiseGroup(plan, group, opts, mode, refiner)) });
  if (large) {
    await model.done(plan.unet.file);
    if (refiner) await refiner.plan.model.done(refiner.plan.unet.file);
  }
  for (const { group, latents, last } of denoised) {
    const decoded: RgbaImage[] = [];
    for (const l of latents) {
      throwIfAborted(opts.signal);
      decoded.push(await vaeDecode(last, l));
    }
    for (const [j, k] of group.entries()) {
      // Inpainting was stretched to the generation size: stretch the result back onto the init's pixel grid.
      const image = mode === 'inpaint' && (init!.width !== width || init!.height !== height) ? await resizeImage(decoded[j]!, init!.width, init!.height, 'exact') : decoded[j]!;
      candidates.push({ index: k, seed: candidateSeeds(request, k).seed, image });
    }
  }
  await model.done(layout.vaeDecoder.file);
  if (refiner) await refiner.plan.model.done(refiner.plan.model.layout.vaeDecoder.file);
  summariseSteps(timings, stepTimes);
  if (refiner) summariseSteps(timings, refiner.plan.stepTimes, 'refiner');
  timings.total = performance.now() - t0;
  return { candidates, device: model.device, timings };
}

/** unetSteps, unetTotal, unetStepMean/Min/Max (or refinerSteps, … for the refiner's UNet). */
function summariseSteps(timings: Record<string, number>, stepTimes: number[], prefix: 'unet' | 'refiner' = 'unet'): void {
  if (stepTimes.length === 0) return;
  const total = stepTimes.reduce((a, b) => a + b, 0);
  timings[`${prefix}Steps`] = stepTimes.length;
  timings[`${prefix}Total`] = total;
  timings[`${prefix}StepMean`] = total / stepTimes.length;
  timings[`${prefix}StepMin`] = Math.min(...stepTimes);
  timings[`${prefix}StepMax`] = Math.max(...stepTimes);
}

/** Resizes a mask field with nearest sampling (it is binary; feathering happens at full size). */
async function resizeField(field: Field, width: number, height: number): Promise<Field> {
  const rgba = new Uint8Array(field.width * field.height * 4);
  for (let p = 0; p < field.data.length; p++) {
    const v = Math.round(field.data[p]! * 255);
    rgba.fill(v, p * 4, p * 4 + 3);
    rgba[p * 4 + 3] = 255;
  }
  const r = await resizeImage({ width: field.width, height: field.height, data: rgba }, width, height, 'exact', 'nearest');
  const out = new Float32Array(width * height);
  for (let p = 0; p < out.length; p++) out[p] = r.data[p * 4]! >= 128 ? 1 : 0;
  return { width, height, data: out };
}

async function preparePlan(
  model: EngineModel,
  request: GenerationRequest,
  images: PipelineImages,
  size: { width: number; height: number },
  work: RgbaImage | undefined,
  workMask: Field | undefined,
  timings: Record<string, number>,
  stepTimes: number[],
): Promise<Plan> {
  const { layout } = model;
  const { width, height } = size;
  const latentWidth = width / layout.vaeScaleFactor;
  const latentHeight = height / layout.vaeScaleFactor;

  // ControlNets that act at all (weight 0 is the same as none and costs nothing).
  const controls: ActiveControl[] = [];
  for (const [k, c] of request.controls.entries()) {
    if (c.weight === 0 || c.start >= 1) continue;
    const net = await model.controlnet(c.model);
    let img = flattenOnto(images.controls![k]!);
    if (img.width !== width || img.height !== height) img = await resizeImage(img, width, height, 'cover');
    controls.push({ net, cond: imageToUnit(img), weight: c.weight, start: c.start, end: c.end });
  }
  const takesResiduals = layout.unet.downResidualNames.length > 0;
  let unet = layout.unet;
  if (controls.length > 0 && !takesResiduals) {
    if (!layout.controlUnet) throw new ApiError('invalid_model', `model ${layout.dir} has no UNet that accepts ControlNet residuals`, { part: 'unet/model.onnx' });
    unet = layout.controlUnet;
  }

  const inpaint9 = unet.inChannels === 9;
  if (inpaint9 && !workMask) bad('this is an inpainting model (9-channel UNet): it needs an init image and a mask');
  const lcmCond = unet.timestepCondName !== undefined;
  // LCM models take the guidance scale as an embedding and run without the uncond batch.
  const useCfg = !lcmCond && request.cfg > 1;
  const { cond, uncond } = await encodePrompts(model, await tokenizersFor(model), request.prompt, request.negativePrompt, useCfg, timings);
  const plan: Plan = { model, request, width, height, latentWidth, latentHeight, unet, useCfg, cond, ...(uncond ? { uncond } : {}), controls, timings, stepTimes };
  if (layout.sdxl) plan.added = addedCond(layout.sdxl, cond, uncond, width, height, request.sdxlConditioning);
  if (lcmCond) plan.timestepCond = guidanceScaleEmbedding(request.cfg, unet.timestepCondDim ?? 256);
  if (request.regions && request.regions.length > 0) plan.regions = await prepareRegions(model, await tokenizersFor(model), request.regions, images.regions ?? [], size, timings, request.sdxlConditioning);

  if (work) {
    const t = performance.now();
    plan.initEncoding = await vaeEncode(model, imageToSigned(work), width, height);
    if (workMask) {
      plan.latentMask = downsampleNearest(workMask.data, width, height, layout.vaeScaleFactor);
      if (inpaint9) {
        // masked_image = image · (mask < 0.5): the region to repaint becomes 0 (mid grey).
        const signed = imageToSigned(work);
        const n = width * height;
        for (let c = 0; c < 3; c++) for (let p = 0; p < n; p++) if (workMask.data[p]! >= 0.5) signed[c * n + p] = 0;
        plan.maskedImageEncoding = await vaeEncode(model, signed, width, height);
      }
    }
    await vaeEncodeDone(model);
    timings.vaeEncode = performance.now() - t;
  }
  return plan;
}

async function vaeEncode(model: EngineModel, signed: Float32Array, width: number, height: number): Promise<Float32Array> {
  const enc = model.layout.vaeEncoder!;
  const session = await model.session(enc.file, 'vae_encoder/model.onnx', enc.upcast);
  const out = await session.run({ [enc.inName]: floatTensor(signed, [1, 3, height, width], enc.upcast ? 'float32' : enc.inType) });
  return toFloat32(out[enc.outName]!);
}

/** The VAE encoder's work for this request is done (an SDXL model closes it until the next). */
async function vaeEncodeDone(model: EngineModel): Promise<void> {
  if (model.layout.vaeEncoder) await model.done(model.layout.vaeEncoder.file);
}

/** The mean of the latent distribution (or the encoder's sample), × scaling_factor. */
function latentMean(model: EngineModel, encoding: Float32Array, n: number): Float32Array {
  const s = model.layout.scalingFactor;
  const out = new Float32Array(4 * n);
  for (let i = 0; i < 4 * n; i++) out[i] = encoding[i]! * s;
  return out;
}

/**
 * A latent drawn from the encoder's output: latent_parameters → mean + exp(0.5·clamp(logvar,
 * −30, 20))·ε (diffusers DiagonalGaussianDistribution.sample), ε from the candidate's
 * generator before its noise, as diffusers' img2img draws them; × scaling_factor.
 */
function sampleLatent(model: EngineModel, encoding: Float32Array, n: number, generator: TorchCpuGenerator): Float32Array {
  if (model.layout.vaeEncoder!.kind === 'latent_sample') return latentMean(model, encoding, n);
  const eps = generator.randn(4 * n);
  const s = model.layout.scalingFactor;
  const out = new Float32Array(4 * n);
  for (let i = 0; i < 4 * n; i++) {
    const logvar = Math.min(20, Math.max(-30, encoding[4 * n + i]!));
    out[i] = (encoding[i]! + Math.exp(0.5 * logvar) * eps[i]!) * s;
  }
  return out;
}

/** The SDXL refiner's part of a run: its own plan (text, added conditioning) and where it takes over. */
interface RefinerPart {
  plan: Plan;
  switchAt: number;
}

async function prepareRefiner(model: EngineModel, request: GenerationRequest, size: { width: number; height: number }, mode: string, timings: Record<string, number>): Promise<RefinerPart> {
  if (mode === 'inpaint') bad('the base → refiner hand-off is for text-to-image and img2img, not inpainting');
  const refiner = await model.refiner(request.refiner!.model);
  const m = refiner.layout.info.sizeMultiple;
  if (size.width % m !== 0 || size.height % m !== 0) bad(`${size.width}×${size.height} is not a multiple of ${m}, which the refiner needs`);
  // The refiner encodes the prompt with its own encoder(s) and gets no ControlNets.
  const own: Record<string, number> = {};
  // Its UNet steps are timed apart from the base's (refinerSteps, …; bench/engine.ts shows both).
  const plan = await preparePlan(refiner, { ...request, controls: [], regions: [] }, {}, size, undefined, undefined, own, []);
  timings.refinerTextEncoder = own.textEncoder ?? 0;
  // From here (its steps, the VAE decode it does for the run) it adds to the run's timings.
  plan.timings = timings;
  return { plan, switchAt: request.refiner!.switchAt };
}

/**
 * diffusers' discrete_timestep_cutoff for denoising_end / denoising_start:
 * int(round(T − fraction·T)); the base runs the timesteps at or above it, the refiner those below.
 */
function timestepCutoff(scheduler: { timesteps: number[] }, numTrain: number, fraction: number): { above: number; below: number } {
  const cutoff = roundHalfEven(numTrain - fraction * numTrain);
  const above = scheduler.timesteps.filter((t) => t >= cutoff).length;
  return { above, below: scheduler.timesteps.length - above };
}

/** One candidate's generator, scheduler and initial latents, drawn in diffusers' order. */
function prepareCandidate(plan: Plan, k: number, opts: RunOptions, mode: string): { ctx: StepContext; latents: Float32Array; start: number } {
  const { model, request, unet, latentWidth: lw, latentHeight: lh } = plan;
  const layout = model.layout;
  const n = lw * lh;
  const seeds = candidateSeeds(request, k);
  const generator = new TorchCpuGenerator(seeds.seed);
  const config = parseSchedulerConfig(layout.schedulerConfig, request.sampler);
  const scheduler = createScheduler(request.sampler, config);
  scheduler.setTimesteps(request.steps);
  const steps = scheduler.timesteps.length;

  const strengthMax = mode === 'txt2img' || request.strength >= 1;
  const start = mode === 'txt2img' ? 0 : startStepForStrength(steps, request.strength);
  // diffusers' order of draws (StableDiffusion{,XL}InpaintPipeline prepare_latents, then
  // prepare_mask_latents): the image latent's ε when the image latents are used (img2img, a
  // 4-channel inpainting blend, strength < 1), then the noise, then — 9-channel UNets — the
  // masked image's latent ε. So a seed gives diffusers' image for SD and SDXL inpainting alike.
  const inpaint9 = mode === 'inpaint' && unet.inChannels === 9;
  const imageLatents = plan.initEncoding && !(inpaint9 && strengthMax) ? sampleLatent(model, plan.initEncoding, n, generator) : undefined;
  // With a variation seed, blended toward its noise (A1111's variation seeds: rng/variation.ts).
  const noise = candidateNoise(generator, seeds, 4, lh, lw);
  const maskedImageLatents = inpaint9 ? sampleLatent(model, plan.maskedImageEncoding!, n, generator) : undefined;
  let latents: Float32Array;
  if (!imageLatents || (mode === 'inpaint' && strengthMax)) {
    latents = new Float32Array(4 * n);
    for (let i = 0; i < latents.length; i++) latents[i] = noise[i]! * scheduler.initNoiseSigma;
  } else {
    latents = scheduler.addNoise(imageLatents, noise, start);
  }

  const ctx: StepContext = {
    scheduler,
    generator,
    k,
    opts,
    ...(mode === 'inpaint' && unet.inChannels === 4 ? { blend: { imageLatents: imageLatents!, noise } } : {}),
    ...(maskedImageLatents ? { maskedImageLatents } : {}),
    done: 0,
    total: steps - start,
  };
  return { ctx, latents, start };
}

/**
 * Sets plan.splitGuidance (batching.ts splitGuidance) and returns whether the generation is
 * large for its model (batching.ts largeGeneration).
 */
function guidanceRule(plan: Plan, opts: RunOptions): boolean {
  const shape = { device: plan.model.device, latentWidth: plan.latentWidth, latentHeight: plan.latentHeight, unetBytes: graphBytes(plan.unet.file) };
  plan.splitGuidance = splitGuidance(shape, opts.splitGuidance);
  return largeGeneration(shape);
}

/**
 * Candidates `ks` denoised together (one UNet call per step for all of them, runSteps); the
 * caller decodes them one by one (the VAE at batch 1 keeps its memory at one image's) with the
 * plan that ran last (the refiner's after a hand-off).
 */
async function denoiseGroup(plan: Plan, ks: number[], opts: RunOptions, mode: string, refiner?: RefinerPart): Promise<{ latents: Float32Array[]; last: Plan }> {
  const prepared = ks.map((k) => prepareCandidate(plan, k, opts, mode));
  const group = prepared.map((p) => p.ctx);
  let latents = prepared.map((p) => p.latents);
  const { start } = prepared[0]!;
  const { scheduler } = group[0]!;
  const steps = scheduler.timesteps.length;
  let last = plan;
  if (!refiner) latents = await runSteps(plan, group, latents, start, steps);
  else {
    // Base → refiner: the base stops at the cutoff (denoising_end), the refiner's own schedule
    // continues from there on the same latents and generator without adding noise (denoising_start).
    const { request } = plan;
    const config = parseSchedulerConfig(plan.model.layout.schedulerConfig, request.sampler);
    const rConfig = parseSchedulerConfig(refiner.plan.model.layout.schedulerConfig, request.sampler);
    const rSchedulers = group.map(() => createScheduler(request.sampler, rConfig));
    for (const r of rSchedulers) r.setTimesteps(request.steps);
    const end = Math.max(start, timestepCutoff(scheduler, config.numTrainTimesteps, refiner.switchAt).above);
    const rSteps = rSchedulers[0]!.timesteps.length;
    const rFrom = Math.max(start, rSteps - timestepCutoff(rSchedulers[0]!, rConfig.numTrainTimesteps, refiner.switchAt).below);
    for (const ctx of group) ctx.total = end - start + (rSteps - rFrom);
    latents = await runSteps(plan, group, latents, start, end);
    const rGroup = group.map((ctx, j) => ({ scheduler: rSchedulers[j]!, generator: ctx.generator, k: ctx.k, opts, done: ctx.done, total: ctx.total }));
    latents = await runSteps(refiner.plan, rGroup, latents, rFrom, rSteps);
    last = refiner.plan;
  }
  return { latents, last };
}

async function vaeDecode(plan: Plan, latents: Float32Array): Promise<RgbaImage> {
  const t = performance.now();
  const { model } = plan;
  const dec = model.layout.vaeDecoder;
  const scaled = new Float32Array(latents.length);
  for (let i = 0; i < latents.length; i++) scaled[i] = latents[i]! / model.layout.scalingFactor;
  const session = await model.session(dec.file, 'vae_decoder/model.onnx', dec.upcast);
  const out = await session.run({ [dec.inName]: floatTensor(scaled, [1, 4, plan.latentHeight, plan.latentWidth], dec.upcast ? 'float32' : dec.inType) });
  const image = signedToImage(toFloat32(out[dec.outName]!), plan.width, plan.height);
  plan.timings.vaeDecode = (plan.timings.vaeDecode ?? 0) + (performance.now() - t);
  return image;
}
