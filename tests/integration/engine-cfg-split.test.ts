import * as ort from 'onnxruntime-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GenerationRequest, type GenerationRequestInput } from '../../app/contract/index.js';
import { loadModel, runPipeline, type PipelineImages, type RgbaImage } from '../../app/engine/index.js';
import { EngineModel } from '../../app/engine/model/load.js';
import { CPU_LARGE_GENERATION, largeGeneration, SPLIT_GUIDANCE_ENV, splitGuidance } from '../../app/engine/pipeline/batching.js';
import { fixture, fixtureModels } from '../helpers/fixture-models.js';

// Classifier-free guidance as two UNet calls per step (docs/engine.md, "Memory"): the uncond and
// cond halves run apart for large generations on the CPU. A batch row computes what it computes
// alone, so the images must be the same bit for bit as one call of twice the batch; checked with
// the split forced on for every graph variant the pipeline feeds with CFG.

const model = fixtureModels();
afterEach(() => vi.restoreAllMocks());

function request(input: Partial<GenerationRequestInput>): GenerationRequest {
  return GenerationRequest.parse({ model: 'x', prompt: 'a red house on a hill', negativePrompt: 'blurry', seed: 7, steps: 3, cfg: 6, ...input });
}

function square(x0: number, x1: number, size = 64): RgbaImage {
  const data = new Uint8Array(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const v = x >= x0 && x < x1 && y >= x0 && y < x1 ? 255 : 40;
      data.set([v, (x * 4) & 255, (y * 4) & 255, 255], (y * size + x) * 4);
    }
  }
  return { width: size, height: size, data };
}

/** The first dimension of every `sample` fed to a session while `fn` runs (the UNet's and ControlNets' batches). */
async function sampleBatches<T>(fn: () => Promise<T>): Promise<{ result: T; batches: number[] }> {
  const batches: number[] = [];
  // the binding's class behind ort.InferenceSession.create (its type declares only the factory)
  const proto = (ort.InferenceSession as unknown as { prototype: ort.InferenceSession }).prototype;
  const run = proto.run;
  vi.spyOn(proto, 'run').mockImplementation(function (this: ort.InferenceSession, feeds: ort.InferenceSession.FeedsType, ...rest: unknown[]) {
    const sample = feeds.sample as ort.Tensor | undefined;
    if (sample) batches.push(sample.dims[0]!);
    return (run as (...a: unknown[]) => Promise<ort.InferenceSession.ReturnType>).call(this, feeds, ...rest);
  });
  const result = await fn();
  vi.restoreAllMocks();
  return { result, batches };
}

describe('the CFG pair as two UNet calls', () => {
  const mask = square(16, 48);
  const init = square(8, 40);
  const cn = fixture('controlnet-tiny');
  const cases: Array<[string, string, Partial<GenerationRequestInput>, PipelineImages]> = [
    ['txt2img, Euler a', 'sd1-tiny', { sampler: 'euler_a' }, {}],
    ['int64 ids and a rank-0 timestep', 'sd1-tiny-optimum', { sampler: 'dpmpp_2m' }, {}],
    ['9-channel inpainting', 'inpaint-tiny', { init: { path: 'i.png' }, inpaint: { mask: { path: 'm.png' } }, strength: 1 }, { init, mask }],
    ['4-channel inpainting blend', 'sd1-tiny', { init: { path: 'i.png' }, inpaint: { mask: { path: 'm.png' } }, strength: 0.8 }, { init, mask }],
    ['float16 boundaries', 'fp16-tiny', {}, {}],
    ['ControlNet residuals', 'controlnet-unet-tiny', { controls: [{ type: 'scribble', model: cn, image: { path: 'c.png' }, weight: 0.8, start: 0, end: 1 }] }, { controls: [square(10, 50)] }],
    ['regional prompt', 'sd1-tiny', { regions: [{ mask: { path: 'r.png' }, prompt: 'a blue boat at sea', weight: 1, feather: 4 }] }, { regions: [square(0, 32)] }],
    ['SDXL added conditioning', 'sdxl-tiny', { width: 80, height: 64, sampler: 'euler' }, {}],
    ['SDXL base → refiner', 'sdxl-tiny', { sampler: 'euler', refiner: { model: fixture('sdxl-refiner-tiny'), switchAt: 0.6 } }, {}],
  ];

  it.each(cases)('%s: the same pixels, two candidates in one group', async (_name, name, input, images) => {
    const dir = fixture(name);
    const m = await model(dir);
    const req = request({ model: dir, ...input, batch: 2 });
    const whole = await sampleBatches(() => runPipeline(m, req, images, { candidateBatch: 2, splitGuidance: false }));
    const split = await sampleBatches(() => runPipeline(m, req, images, { candidateBatch: 2, splitGuidance: true }));
    // one call of uncond × 2 + cond × 2 per step against two calls of 2 (regions: cond-only calls of 2 in both)
    expect(whole.batches).toContain(4);
    expect(split.batches).not.toContain(4);
    expect(split.batches.length).toBeGreaterThan(whole.batches.length);
    for (const k of [0, 1]) expect(Buffer.compare(Buffer.from(split.result.candidates[k]!.image.data), Buffer.from(whole.result.candidates[k]!.image.data))).toBe(0);
    // the candidates differ, so a split that repeated one half would not pass as the same
    expect(Buffer.compare(Buffer.from(whole.result.candidates[0]!.image.data), Buffer.from(whole.result.candidates[1]!.image.data))).not.toBe(0);
  });

  it('without CFG there is nothing to split', async () => {
    const dir = fixture('sd1-tiny');
    const { batches } = await sampleBatches(async () => runPipeline(await model(dir), request({ model: dir, cfg: 1 }), {}, { splitGuidance: true }));
    expect(batches).toEqual([1, 1, 1]);
  });
});

describe('large generations', () => {
  const shape = { device: 'cpu', latentWidth: 128, latentHeight: 128 };
  const GB = 1e9;
  it('are SDXL at 1024² (float16 or float32 files) and SD 1.x float32 at 1024² on the CPU, not at 512² nor on a GPU', () => {
    expect(largeGeneration({ ...shape, unetBytes: 5.1 * GB })).toBe(true);
    expect(largeGeneration({ ...shape, unetBytes: 10.3 * GB })).toBe(true);
    expect(largeGeneration({ ...shape, unetBytes: 3.4 * GB })).toBe(true);
    expect(largeGeneration({ ...shape, latentWidth: 64, latentHeight: 64, unetBytes: 5.1 * GB })).toBe(false);
    expect(largeGeneration({ ...shape, latentWidth: 64, latentHeight: 64, unetBytes: 3.4 * GB })).toBe(false);
    expect(largeGeneration({ ...shape, device: 'cuda', unetBytes: 10.3 * GB })).toBe(false);
    expect(largeGeneration({ ...shape, unetBytes: CPU_LARGE_GENERATION / (128 * 128) - 1 })).toBe(false);
  });

  it('split the CFG pair unless told otherwise', () => {
    const big = { ...shape, unetBytes: 5.1 * GB };
    expect(splitGuidance(big, undefined, {})).toBe(true);
    expect(splitGuidance(big, false, {})).toBe(false);
    expect(splitGuidance(big, undefined, { [SPLIT_GUIDANCE_ENV]: '0' })).toBe(false);
    expect(splitGuidance({ ...big, unetBytes: 1 }, undefined, { [SPLIT_GUIDANCE_ENV]: '1' })).toBe(true);
    expect(() => splitGuidance(big, undefined, { [SPLIT_GUIDANCE_ENV]: 'yes' })).toThrow(SPLIT_GUIDANCE_ENV);
  });

  it('with phase sessions, an SDXL UNet is opened per phase too (closed at load, closed before a large decode)', async () => {
    const dir = fixture('sdxl-tiny');
    const m = await loadModel(dir, { device: 'cpu', phaseSessions: true });
    try {
      expect(m).toBeInstanceOf(EngineModel);
      const e = m as EngineModel;
      expect(e.transient.has(e.layout.unet.file)).toBe(true);
      const r = await runPipeline(m, request({ model: dir, sampler: 'euler' }), {});
      const kept = await runPipeline(await model(dir), request({ model: dir, sampler: 'euler' }), {});
      expect(Buffer.compare(Buffer.from(r.candidates[0]!.image.data), Buffer.from(kept.candidates[0]!.image.data))).toBe(0);
    } finally {
      await m.release();
    }
  });
});
