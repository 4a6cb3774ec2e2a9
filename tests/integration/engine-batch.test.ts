import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GenerationRequest, type GenerationRequestInput } from '../../app/contract/index.js';
import { runPipeline, type PipelineImages, type PipelineProgress, type RgbaImage } from '../../app/engine/index.js';
import { candidatesPerCall, CANDIDATE_BATCH_ENV, groupsOf } from '../../app/engine/pipeline/batching.js';
import { fixture, fixtureModels } from '../helpers/fixture-models.js';

// Candidates in one UNet batch (docs/engine.md, "Candidates in one batch"): a request of batch N
// run as one group must give, for every k, the image that seed + k gives alone. On the CPU the
// tiny fixtures give bit-identical pixels; every graph variant the pipeline feeds differently
// with a batch (CFG halves, 9-channel inpainting, the inpainting blend, LCM's timestep_cond,
// float16 boundaries, ControlNet residuals, regions, SDXL's added conditioning, the refiner).

const STARTER = path.resolve('resources/models/starter');
const model = fixtureModels();

function request(input: Partial<GenerationRequestInput>): GenerationRequest {
  return GenerationRequest.parse({ model: 'x', prompt: 'a red house on a hill', negativePrompt: 'blurry', seed: 42, steps: 4, ...input });
}

function gradient(width = 64, height = 64): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([Math.round((x / width) * 255), Math.round((y / height) * 255), Math.abs(x - y) < 3 ? 20 : 128, 255], (y * width + x) * 4);
  }
  return { width, height, data };
}

function square(x0: number, x1: number, width = 64, height = 64): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = x >= x0 && x < x1 && y >= x0 && y < x1 ? 255 : 0;
      data.set([v, v, v, 255], (y * width + x) * 4);
    }
  }
  return { width, height, data };
}

/** Largest per-channel difference (0–255) between two images. */
function maxDiff(a: RgbaImage, b: RgbaImage): number {
  let worst = 0;
  for (let i = 0; i < a.data.length; i++) worst = Math.max(worst, Math.abs(a.data[i]! - b.data[i]!));
  return worst;
}

/** Runs `input` at batch 3 in one group, and each seed alone; returns the worst pixel difference and the batched run. */
async function batchedAgainstAlone(dir: string, input: Partial<GenerationRequestInput>, images: PipelineImages = {}): Promise<{ worst: number; distinct: boolean; perCall: number }> {
  const m = await model(dir);
  const together = await runPipeline(m, request({ model: dir, ...input, batch: 3 }), images, { candidateBatch: 3 });
  let worst = 0;
  for (const [k, c] of together.candidates.entries()) {
    const alone = await runPipeline(m, request({ model: dir, ...input, seed: (input.seed ?? 42) + k, batch: 1 }), images, { candidateBatch: 1 });
    expect(c.seed).toBe(alone.candidates[0]!.seed);
    worst = Math.max(worst, maxDiff(c.image, alone.candidates[0]!.image));
  }
  // the candidates differ from each other, so a batch that repeated candidate 0 would fail
  const distinct = maxDiff(together.candidates[0]!.image, together.candidates[1]!.image) > 0;
  return { worst, distinct, perCall: together.timings.candidatesPerCall! };
}

describe('candidates in one UNet batch', () => {
  const init = gradient();
  const mask = square(16, 48);
  const cn = fixture('controlnet-tiny');
  const cases: Array<[string, string, Partial<GenerationRequestInput>, PipelineImages]> = [
    ['txt2img, CFG, Euler a', 'sd1-tiny', { sampler: 'euler_a' }, {}],
    ['txt2img, DPM++ 2M, int64 ids and rank-0 timestep', 'sd1-tiny-optimum', { sampler: 'dpmpp_2m' }, {}],
    ['v-prediction, no CFG', 'sd2-vpred-tiny', { cfg: 1 }, {}],
    ['img2img with latent_parameters sampling', 'sd1-tiny-optimum', { init: { path: 'i.png' }, strength: 0.6 }, { init }],
    ['9-channel inpainting', 'inpaint-tiny', { init: { path: 'i.png' }, inpaint: { mask: { path: 'm.png' } }, strength: 1 }, { init, mask }],
    ['4-channel inpainting blend', 'sd1-tiny', { init: { path: 'i.png' }, inpaint: { mask: { path: 'm.png' } }, strength: 0.8 }, { init, mask }],
    ['LCM timestep_cond', 'lcm-tiny', { sampler: 'lcm', cfg: 4 }, {}],
    ['float16 boundaries', 'fp16-tiny', {}, {}],
    ['ControlNet residuals', 'controlnet-unet-tiny', { controls: [{ type: 'scribble', model: cn, image: { path: 'c.png' }, weight: 0.8, start: 0, end: 1 }] }, { controls: [square(10, 50)] }],
    ['regional prompt', 'sd1-tiny', { regions: [{ mask: { path: 'r.png' }, prompt: 'a blue boat at sea', weight: 1, feather: 4 }] }, { regions: [square(0, 32)] }],
    ['SDXL added conditioning', 'sdxl-tiny', { width: 80, height: 64, sampler: 'euler', cfg: 5 }, {}],
    ['SDXL base → refiner', 'sdxl-tiny', { sampler: 'euler', cfg: 5, refiner: { model: fixture('sdxl-refiner-tiny'), switchAt: 0.6 } }, {}],
  ];

  it.each(cases)('%s: candidate k equals seed + k alone, bit for bit on the CPU', async (_name, name, input, images) => {
    const r = await batchedAgainstAlone(fixture(name), input, images);
    expect(r.perCall).toBe(3);
    expect(r.distinct).toBe(true);
    expect(r.worst).toBe(0);
  });

  it.skipIf(!fs.existsSync(path.join(STARTER, 'unet', 'model.onnx')))('the starter model: batch 2 in one call equals each seed alone (CFG, 256²)', async () => {
    const r = await batchedAgainstAlone(STARTER, { width: 256, height: 256, steps: 3, sampler: 'euler_a', cfg: 7 });
    expect(r.distinct).toBe(true);
    expect(r.worst).toBe(0);
  }, 120_000);

  it('reports every candidate every step, in order within a step', async () => {
    const progress: PipelineProgress[] = [];
    const dir = fixture('sd1-tiny');
    await runPipeline(await model(dir), request({ model: dir, batch: 2, steps: 3 }), {}, { candidateBatch: 2, onProgress: (p) => progress.push(p) });
    expect(progress.map((p) => `${p.candidateIndex}:${p.step}`)).toEqual(['0:1', '1:1', '0:2', '1:2', '0:3', '1:3']);
    // the request's candidate-steps done, counted across the group (the studio's ETA)
    expect(progress.map((p) => p.completed)).toEqual([1, 2, 3, 4, 5, 6]);
    const capped: PipelineProgress[] = [];
    await runPipeline(await model(dir), request({ model: dir, batch: 3, steps: 2 }), {}, { candidateBatch: 2, onProgress: (p) => capped.push(p) });
    expect(capped.map((p) => p.completed)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(capped.map((p) => p.candidateIndex)).toEqual([0, 1, 0, 1, 2, 2]);
    expect(progress.filter((p) => p.step === 3).every((p) => p.latentPreview)).toBe(true);
  });

  it('splits a batch into groups by the cap, and the CPU default is one at a time', async () => {
    const dir = fixture('sd1-tiny');
    const capped = await runPipeline(await model(dir), request({ model: dir, batch: 3 }), {}, { candidateBatch: 2 });
    expect(capped.timings.candidatesPerCall).toBe(2);
    expect(capped.timings.unetSteps).toBe(8); // groups {0,1} and {2}, 4 steps each
    const byDefault = await runPipeline(await model(dir), request({ model: dir, batch: 3 }), {});
    expect(byDefault.timings.candidatesPerCall).toBe(1);
    for (const k of [0, 1, 2]) expect(maxDiff(capped.candidates[k]!.image, byDefault.candidates[k]!.image)).toBe(0);
  });
});

describe('the batch cap', () => {
  const shape = { latentWidth: 64, latentHeight: 64, halves: 2, candidates: 8 };
  it('holds as many candidates as the provider budget allows, at least one, at most the request', () => {
    expect(candidatesPerCall({ ...shape, device: 'webgpu' }, undefined, {})).toBe(4);
    expect(candidatesPerCall({ ...shape, device: 'webgpu', latentWidth: 128, latentHeight: 128 }, undefined, {})).toBe(1);
    expect(candidatesPerCall({ ...shape, device: 'webgpu', halves: 1, latentWidth: 32, latentHeight: 32 }, undefined, {})).toBe(8);
    expect(candidatesPerCall({ ...shape, device: 'cpu' }, undefined, {})).toBe(1);
    expect(candidatesPerCall({ ...shape, device: 'cpu' }, 3, {})).toBe(3);
    expect(candidatesPerCall({ ...shape, device: 'cpu', candidates: 2 }, 5, {})).toBe(2);
    expect(candidatesPerCall({ ...shape, device: 'cpu' }, undefined, { [CANDIDATE_BATCH_ENV]: '6' })).toBe(6);
  });

  it('refuses a cap that is not a whole number', () => {
    expect(() => candidatesPerCall({ ...shape, device: 'cpu' }, undefined, { [CANDIDATE_BATCH_ENV]: 'lots' })).toThrow(/ATELIER_CANDIDATE_BATCH=lots/);
    expect(() => candidatesPerCall({ ...shape, device: 'cpu' }, 1.5, {})).toThrow(/whole number/);
  });

  it('groups consecutive candidates', () => {
    expect(groupsOf(5, 2)).toEqual([[0, 1], [2, 3], [4]]);
    expect(groupsOf(2, 4)).toEqual([[0, 1]]);
  });
});
