import { ApiError, type GenerationRequest } from '../../contract/index.js';
import { residualPlan, type AddedCondLayout, type UnetLayout } from '../model/layout.js';
import type { EngineModel, LoadedControlNet } from '../model/load.js';
import { floatTensor, numericTensor, toFloat32, type ort } from '../model/session.js';
import type { TorchCpuGenerator } from '../rng/torch-generator.js';
import type { Scheduler } from '../schedulers/index.js';
import { throwIfAborted } from './errors.js';
import { addedFeeds, type AddedCond } from './sdxl.js';
import { blendRegions, type ActiveRegion } from './regions.js';
import { conditioningFeeds } from './control-feeds.js';
import { concatBatch, latentToPreview } from './tensor.js';
import { addScaled, combinable, download, keepsTensorsOnDevice, ResidentFeeds, scaled } from './device.js';
import type { PromptEmbedding } from './text.js';
import type { RunOptions } from './types.js';

// The denoising steps themselves (run.ts prepares the plan and the initial latents): UNet feeds
// for every graph variant, ControlNet residuals, classifier-free guidance, the 4-channel
// inpainting blend, progress. A range of steps at a time, so that the SDXL refiner can take
// over from the base part-way (diffusers' denoising_end / denoising_start).

/** An active ControlNet: its session, conditioning image tensor and schedule. */
export interface ActiveControl {
  net: LoadedControlNet;
  cond: Float32Array;
  weight: number;
  start: number;
  end: number;
}

/** Everything the per-candidate loop needs, prepared once. */
export interface Plan {
  model: EngineModel;
  request: GenerationRequest;
  width: number;
  height: number;
  latentWidth: number;
  latentHeight: number;
  unet: UnetLayout;
  useCfg: boolean;
  /** With CFG: the uncond and cond halves as two UNet calls per step (batching.ts splitGuidance). */
  splitGuidance?: boolean;
  cond: PromptEmbedding;
  uncond?: PromptEmbedding;
  timestepCond?: Float32Array;
  /** SDXL: pooled text_embeds and time_ids, batched as the hidden states. */
  added?: AddedCond;
  controls: ActiveControl[];
  /** Regional prompts (regions.ts): one more conditional pass each per step. */
  regions?: ActiveRegion[];
  /** img2img / inpaint: the VAE encoder's output for the init image (unscaled). */
  initEncoding?: Float32Array;
  /** Inpainting: mask at latent size (1 = repaint). */
  latentMask?: Float32Array;
  /** 9-channel inpainting: the VAE encoder's output for the masked image (unscaled). */
  maskedImageEncoding?: Float32Array;
  timings: Record<string, number>;
  stepTimes: number[];
}

/** One candidate's state through its steps, shared by the base model's and the refiner's. */
export interface StepContext {
  scheduler: Scheduler;
  generator: TorchCpuGenerator;
  /** Candidate index, for progress. */
  k: number;
  opts: RunOptions;
  /** 4-channel inpainting: keep the original's latents (on the initial noise's path) outside the mask. */
  blend?: { imageLatents: Float32Array; noise: Float32Array };
  /** 9-channel inpainting: the masked image's latents. */
  maskedImageLatents?: Float32Array;
  /** Steps already run for this candidate (by the base before the refiner), and all it will run. */
  done: number;
  total: number;
}

export function timestepTensor(t: number, batch: number, layout: { timestepType: string; timestepRank: number }): ort.Tensor {
  const integer = layout.timestepType.startsWith('int');
  const v = integer ? Math.round(t) : t;
  if (layout.timestepRank === 0) return numericTensor(Float32Array.of(v), [], layout.timestepType);
  return numericTensor(new Float32Array(batch).fill(v), [batch], layout.timestepType);
}

/**
 * The text for a UNet call on `candidates` candidates at once: [uncond × B, cond × B] with CFG,
 * else [cond × B] — the layout of the sample batch runSteps builds (uncond halves first).
 */
export function hiddenBatch(plan: Plan, candidates = 1): { data: Float32Array; dims: number[] } {
  const dim = plan.model.layout.textDim;
  const halves = plan.useCfg ? [plan.uncond!.data, plan.cond.data] : [plan.cond.data];
  return { data: repeatHalves(halves, candidates), dims: [halves.length * candidates, plan.cond.sequence, dim] };
}

/** [h0 × B, h1 × B, …]: each half repeated once per candidate, in order (B = 1 returns the halves concatenated). */
export function repeatHalves(halves: readonly Float32Array[], candidates: number): Float32Array {
  if (halves.length === 1 && candidates === 1) return halves[0]!;
  return concatBatch(halves.flatMap((h) => Array.from({ length: candidates }, () => h)));
}

/** SDXL's added conditioning for B candidates, laid out as hiddenBatch lays out the text. */
function addedBatch(added: AddedCond | undefined, candidates: number): AddedCond | undefined {
  if (!added || candidates === 1) return added;
  const split = (data: Float32Array, width: number) => Array.from({ length: added.batch }, (_, h) => data.subarray(h * width, (h + 1) * width));
  return {
    ...added,
    textEmbeds: repeatHalves(split(added.textEmbeds, added.pooledDim), candidates),
    timeIds: repeatHalves(split(added.timeIds, added.timeIdsWidth), candidates),
    batch: added.batch * candidates,
  };
}

/**
 * Whether a ControlNet acts at step i of the n steps actually run (after img2img strength cuts
 * the schedule): diffusers keeps it unless i/n < start or (i+1)/n > end.
 */
export function controlActive(i: number, n: number, start: number, end: number): boolean {
  return !(i / n < start || (i + 1) / n > end);
}

/**
 * This step's summed ControlNet residuals: arrays, or — WebGPU, every active ControlNet giving
 * the UNet's residual types — device tensors, summed (and scaled, for a ControlNet without a
 * conditioning_scale input) by small device graphs (device.ts), which the UNet takes as they
 * are; the caller disposes them (docs/engine.md, "Tensors on the device"). Otherwise the
 * residuals come to JavaScript and are summed there, as on the CPU.
 */
async function runControlNets(plan: Plan, sample: Float32Array, batch: number, t: number, text: TextFeeds, i: number, n: number): Promise<Float32Array[] | ort.Tensor[] | undefined> {
  let sum: Float32Array[] | undefined;
  let onDevice: ort.Tensor[] | undefined;
  const device = plan.model.device;
  const lw = plan.latentWidth;
  const lh = plan.latentHeight;
  const active = plan.controls.filter((c) => controlActive(i, n, c.start, c.end));
  try {
    for (const c of active) {
      const L = c.net.layout;
      const feeds: Record<string, ort.Tensor> = {
        [L.sampleName]: floatTensor(sample, [batch, 4, lh, lw], L.sampleType),
        [L.timestepName]: timestepTensor(t, batch, L),
        ...(await conditioningFeeds(c, batch, plan)),
        ...(await textFeeds(text, L)),
      };
      if (L.scaleName) feeds[L.scaleName] = numericTensor(Float32Array.of(c.weight), L.scaleRank === 0 ? [] : [1], L.scaleType!);
      const out = await c.net.session.run(feeds);
      const names = [...L.downOutputNames, L.midOutputName];
      const tensors = names.map((name) => out[name]!);
      // outputs the UNet does not take would otherwise hold device memory until collected
      for (const [name, o] of Object.entries(out)) if (!names.includes(name) && o.location === 'gpu-buffer') o.dispose();
      const weight = L.scaleName ? 1 : c.weight;
      if (!sum && c.net.deviceOutputs && tensors.every((r, j) => r.type === plan.unet.residualTypes[j] && combinable(r.type))) {
        if (onDevice) {
          tensors.forEach((r, j) => {
            if (r.size !== onDevice![j]!.size) throw new ApiError('invalid_model', `ControlNet residual ${j} has ${r.size} values where another ControlNet gave ${onDevice![j]!.size}`);
          });
        }
        const prev = onDevice;
        onDevice = [];
        for (const [j, r] of tensors.entries()) onDevice.push(prev ? await addScaled(device, prev[j]!, r, weight) : weight === 1 ? r : await scaled(device, r, weight));
        for (const r of [...(prev ?? []), ...(prev || weight !== 1 ? tensors : [])]) r.dispose();
        continue;
      }
      const residuals = await toHost(device, tensors);
      // Without a conditioning_scale input the weight applies to the residuals themselves.
      if (!L.scaleName) for (const r of residuals) for (let j = 0; j < r.length; j++) r[j] = r[j]! * c.weight;
      // a sum begun on the device continues here (a ControlNet of other residual types)
      if (onDevice) {
        sum = await toHost(device, onDevice);
        onDevice = undefined;
      }
      // the first ControlNet's outputs are this step's own arrays: summed into in place, not copied
      if (!sum) sum = residuals;
      else residuals.forEach((r, j) => {
        const s = sum![j]!;
        if (s.length !== r.length) throw new ApiError('invalid_model', `ControlNet residual ${j} has ${r.length} values where another ControlNet gave ${s.length}`);
        for (let q = 0; q < r.length; q++) s[q] = s[q]! + r[q]!;
      });
    }
  } catch (error) {
    for (const r of onDevice ?? []) r.dispose();
    throw error;
  }
  if (onDevice) plan.timings.residualsOnDevice = (plan.timings.residualsOnDevice ?? 0) + 1;
  return onDevice ?? sum;
}

/** Tensors as float32 arrays, device ones downloaded and disposed. */
async function toHost(device: string, tensors: ort.Tensor[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const r of tensors) {
    if (r.location !== 'gpu-buffer') {
      out.push(toFloat32(r));
      continue;
    }
    out.push(await download(device, r));
    r.dispose();
  }
  return out;
}

/** A call's text conditioning: its hidden states and SDXL's added conditioning, device-resident under `key` on WebGPU. */
interface TextFeeds {
  key: string;
  hidden: { data: Float32Array; dims: number[] };
  added: AddedCond | undefined;
  resident: ResidentFeeds;
}

/** The hidden-state and added-conditioning feeds of a UNet or ControlNet, of the types it takes. */
async function textFeeds(text: TextFeeds, L: { hiddenName: string; hiddenType: string; added?: AddedCondLayout }): Promise<Record<string, ort.Tensor>> {
  const { key, hidden, resident } = text;
  const feeds: Record<string, ort.Tensor> = {
    [L.hiddenName]: await resident.tensor(`${key}:${L.hiddenName}:${L.hiddenType}`, () => floatTensor(hidden.data, hidden.dims, L.hiddenType)),
  };
  for (const [name, t] of Object.entries(addedFeeds(L.added, text.added))) feeds[name] = await resident.tensor(`${key}:${name}:${t.type}`, () => t);
  return feeds;
}

/** One UNet pass: feeds for every graph variant, ControlNet residuals with this pass's text. */
async function predict(
  plan: Plan,
  session: ort.InferenceSession,
  p: { sample: Float32Array; controlSample: Float32Array; batch: number; text: TextFeeds; t: number; step: number; total: number },
): Promise<Float32Array> {
  const { unet, latentWidth: lw, latentHeight: lh } = plan;
  const { batch, text, t } = p;
  const feeds: Record<string, ort.Tensor> = {
    [unet.sampleName]: floatTensor(p.sample, [batch, unet.inChannels, lh, lw], unet.sampleType),
    [unet.timestepName]: timestepTensor(t, batch, unet),
    ...(await textFeeds(text, unet)),
  };
  if (unet.timestepCondName) feeds[unet.timestepCondName] = floatTensor(repeatHalves([plan.timestepCond!], batch), [batch, plan.timestepCond!.length], unet.timestepCondType!);
  let residuals: Float32Array[] | ort.Tensor[] | undefined;
  try {
    if (unet.downResidualNames.length > 0) {
      const tc = performance.now();
      residuals = plan.controls.length > 0 ? await runControlNets(plan, p.controlSample, batch, t, text, p.step, p.total) : undefined;
      if (plan.controls.length > 0) plan.timings.controlnet = (plan.timings.controlnet ?? 0) + (performance.now() - tc);
      const plannedResiduals = residualPlan(unet);
      const names = [...unet.downResidualNames, unet.midResidualName!];
      const shapes = [...plannedResiduals.down, plannedResiduals.mid];
      names.forEach((name, j) => {
        const { channels, scale } = shapes[j]!;
        const dims = [batch, channels, Math.ceil(lh / scale), Math.ceil(lw / scale)];
        const size = dims.reduce((a, b) => a * b, 1);
        const data = residuals?.[j] ?? new Float32Array(size);
        const length = data instanceof Float32Array ? data.length : data.size;
        if (length !== size) throw new ApiError('invalid_model', `ControlNet residual ${j} has ${length} values but ${unet.part} takes ${dims.join('×')}`);
        feeds[name] = data instanceof Float32Array ? floatTensor(data, dims, unet.residualTypes[j]!) : data;
      });
    }
    return toFloat32((await session.run(feeds))[unet.outName]!);
  } finally {
    // device residuals live for this one UNet call
    if (residuals) for (const r of residuals) if (!(r instanceof Float32Array)) r.dispose();
  }
}

/** Rows [from, from + rows) of a batch laid out row after row (rowSize values each), copied. */
function rowsOf(data: Float32Array, rowSize: number, from: number, rows: number): Float32Array {
  return data.slice(from * rowSize, (from + rows) * rowSize);
}

/**
 * The CFG pair as two UNet (and ControlNet) calls of the group's B candidates each, uncond then
 * cond, their outputs laid out as one call of 2·B gives them ([uncond × B, cond × B]): less
 * working memory per call (docs/engine.md, "Memory"), the same numbers.
 */
async function predictHalves(
  plan: Plan,
  session: ort.InferenceSession,
  p: { unetSamples: Float32Array[]; scaled: Float32Array[]; hidden: { data: Float32Array; dims: number[] }; added: AddedCond | undefined; resident: ResidentFeeds; t: number; step: number; total: number },
): Promise<Float32Array> {
  const B = p.unetSamples.length;
  const [, sequence, dim] = p.hidden.dims as [number, number, number];
  const sample = concatBatch(p.unetSamples);
  const controlSample = concatBatch(p.scaled);
  const outs: Float32Array[] = [];
  for (let h = 0; h < 2; h++) {
    const hidden = { data: rowsOf(p.hidden.data, sequence * dim, h * B, B), dims: [B, sequence, dim] };
    const a = p.added;
    const added = a ? { ...a, textEmbeds: rowsOf(a.textEmbeds, a.pooledDim, h * B, B), timeIds: rowsOf(a.timeIds, a.timeIdsWidth, h * B, B), batch: B } : undefined;
    const text = { key: `half${h}`, hidden, added, resident: p.resident };
    outs.push(await predict(plan, session, { sample, controlSample, batch: B, text, t: p.t, step: p.step, total: p.total }));
  }
  return concatBatch(outs);
}

/**
 * Runs steps [from, to) for a group of candidates (each its own scheduler, generator and
 * latents) through one UNet (and ControlNet) call per step: the sample batch is
 * [uncond_0 … uncond_B−1, cond_0 … cond_B−1] with CFG (docs/engine.md, "Candidates in one
 * batch"); returns each candidate's latents after them. A group of one is the batch-1 run.
 */
export async function runSteps(plan: Plan, group: StepContext[], latentsIn: Float32Array[], from: number, to: number): Promise<Float32Array[]> {
  // WebGPU: the text conditioning uploaded once and fed from the device to every call of these
  // steps, disposed when they end (device.ts); the CPU feeds plain tensors as it always did.
  const device = plan.model.device;
  const resident = new ResidentFeeds(keepsTensorsOnDevice(device) ? device : undefined);
  try {
    return await stepsWith(plan, group, latentsIn, from, to, resident);
  } finally {
    if (resident.device) plan.timings.textUploads = (plan.timings.textUploads ?? 0) + resident.uploads;
    await resident.dispose();
  }
}

async function stepsWith(plan: Plan, group: StepContext[], latentsIn: Float32Array[], from: number, to: number, resident: ResidentFeeds): Promise<Float32Array[]> {
  const { model, request, unet, latentWidth: lw, latentHeight: lh } = plan;
  const n = lw * lh;
  const B = group.length;
  const timesteps = group[0]!.scheduler.timesteps;
  const latents = [...latentsIn];
  const session = await model.session(unet.file, unet.part);
  const halves = plan.useCfg ? 2 : 1;
  const batch = halves * B;
  const hidden = hiddenBatch(plan, B);
  const added = addedBatch(plan.added, B);
  const total = group[0]!.total;
  const previewEvery = Math.max(1, Math.ceil(total / 10));
  const signal = group[0]!.opts.signal;

  for (let i = from; i < to; i++) {
    throwIfAborted(signal);
    const tStep = performance.now();
    const t = timesteps[i]!;
    const scaled = group.map((ctx, j) => ctx.scheduler.scaleModelInput(latents[j]!, i));
    const unetSamples = unet.inChannels === 9 ? scaled.map((s, j) => concatBatch([s, plan.latentMask!, group[j]!.maskedImageLatents!])) : scaled;
    const sampleBatch = halves === 2 ? concatBatch([...unetSamples, ...unetSamples]) : concatBatch(unetSamples);
    const controlSample = halves === 2 ? concatBatch([...scaled, ...scaled]) : concatBatch(scaled);
    const step = group[0]!.done + i - from;
    const out = halves === 2 && plan.splitGuidance
      ? await predictHalves(plan, session, { unetSamples, scaled, hidden, added, resident, t, step, total })
      : await predict(plan, session, { sample: sampleBatch, controlSample, batch, text: { key: 'all', hidden, added, resident }, t, step, total });
    const condOf = (j: number) => out.subarray(((halves - 1) * B + j) * 4 * n, ((halves - 1) * B + j + 1) * 4 * n);
    let conds = Array.from({ length: B }, (_, j) => condOf(j));
    // Regional prompts: each region's conditional prediction, blended into the base's by its mask.
    if (plan.regions && plan.regions.length > 0) {
      const predictions: Float32Array[] = [];
      const regionSample = concatBatch(unetSamples);
      const regionControl = concatBatch(scaled);
      for (const [q, r] of plan.regions.entries()) {
        const rHidden = { data: repeatHalves([r.cond.data], B), dims: [B, r.cond.sequence, model.layout.textDim] };
        const text = { key: `region${q}`, hidden: rHidden, added: addedBatch(r.added, B), resident };
        predictions.push(await predict(plan, session, { sample: regionSample, controlSample: regionControl, batch: B, text, t, step, total }));
      }
      const blends = plan.regions.map((r) => r.blend);
      conds = conds.map((c, j) => blendRegions(c, predictions.map((p) => p.subarray(j * 4 * n, (j + 1) * 4 * n)), blends, n));
    }
    for (let j = 0; j < B; j++) {
      const ctx = group[j]!;
      const condOut = conds[j]!;
      let modelOutput: Float32Array;
      if (halves === 2) {
        // classifier-free guidance: uncond + cfg·(cond − uncond) (Ho & Salimans 2022)
        const uncond = out.subarray(j * 4 * n, (j + 1) * 4 * n);
        modelOutput = new Float32Array(4 * n);
        for (let q = 0; q < 4 * n; q++) {
          const u = uncond[q]!;
          modelOutput[q] = u + request.cfg * (condOut[q]! - u);
        }
      } else modelOutput = condOut;
      const next = ctx.scheduler.step(modelOutput, i, latents[j]!, ctx.generator);
      if (ctx.blend) {
        // ordinary UNet inpainting: keep the unmasked region on the original's noise path
        // (diffusers StableDiffusionInpaintPipeline, num_channels_unet == 4)
        const proper = i < timesteps.length - 1 ? ctx.scheduler.addNoise(ctx.blend.imageLatents, ctx.blend.noise, i + 1) : ctx.blend.imageLatents;
        const m = plan.latentMask!;
        for (let c = 0; c < 4; c++) {
          for (let p = 0; p < n; p++) {
            const q = c * n + p;
            next[q] = (1 - m[p]!) * proper[q]! + m[p]! * next[q]!;
          }
        }
      }
      latents[j] = next;
    }
    plan.stepTimes.push(performance.now() - tStep);
    for (let j = 0; j < B; j++) {
      const ctx = group[j]!;
      if (!ctx.opts.onProgress) continue;
      const done = ctx.done + i - from + 1;
      const withPreview = done % previewEvery === 0 || done === total;
      ctx.opts.onProgress({
        candidateIndex: ctx.k,
        step: done,
        totalSteps: total,
        // groups are consecutive candidates (batching.ts groupsOf)
        completed: group[0]!.k * total + B * (done - 1) + j + 1,
        ...(withPreview ? { latentPreview: latentToPreview(ctx.scheduler.lastPredictedOriginal ?? latents[j]!, lw, lh, model.layout.preview) } : {}),
      });
    }
  }
  for (const ctx of group) ctx.done += Math.max(0, to - from);
  return latents;
}
