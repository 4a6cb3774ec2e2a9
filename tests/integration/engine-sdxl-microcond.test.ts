import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GenerationRequest, type GenerationRequestInput } from '../../app/contract/index.js';
import { runPipeline, type RgbaImage } from '../../app/engine/index.js';
import { timeIds } from '../../app/engine/pipeline/sdxl.js';
import { FIXTURES, fixture, fixtureModels } from '../helpers/fixture-models.js';

// SDXL's per-request micro-conditioning (GenerationRequest.sdxlConditioning: original size,
// crop top-left, target size, the refiner's aesthetic scores) against PyTorch transcriptions
// of diffusers' pipelines on the fixture weights (tests/fixtures/sdxl_fixtures.py writes
// references/sdxl-tiny-microcond.json and sdxl-refiner-tiny-aesthetic.json).

const model = fixtureModels();

interface Reference {
  model: string;
  prompt: string;
  negativePrompt: string;
  seed: number;
  steps: number;
  cfg: number;
  sampler: 'euler';
  width: number;
  height: number;
  time_ids: number[];
  negative_time_ids: number[];
  rgb_base64: string;
}

const readReference = (name: string): Reference => JSON.parse(fs.readFileSync(path.join(FIXTURES, 'references', `${name}.json`), 'utf8')) as Reference;

function rgbToRgba(b64: string, width: number, height: number): RgbaImage {
  const rgb = Buffer.from(b64, 'base64');
  const data = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) data.set([rgb[p * 3]!, rgb[p * 3 + 1]!, rgb[p * 3 + 2]!, 255], p * 4);
  return { width, height, data };
}

function maxAbsDiff(a: RgbaImage, b: RgbaImage): number {
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i]! - b.data[i]!));
  return m;
}

function meanAbsDiff(a: RgbaImage, b: RgbaImage): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += Math.abs(a.data[i]! - b.data[i]!);
  return s / a.data.length;
}

async function runRef(ref: Reference, extra: Partial<GenerationRequestInput> = {}): Promise<RgbaImage> {
  const dir = fixture(ref.model);
  const request = GenerationRequest.parse({
    model: dir, prompt: ref.prompt, negativePrompt: ref.negativePrompt, seed: ref.seed, steps: ref.steps, cfg: ref.cfg, sampler: ref.sampler, width: ref.width, height: ref.height, ...extra,
  });
  return (await runPipeline(await model(dir), request, {})).candidates[0]!.image;
}

describe('SDXL micro-conditioning per request', () => {
  it('builds time ids in diffusers\' (height, width) and (top, left) order, the negative\'s from the positive', () => {
    const base = timeIds({ timeIdsWidth: 6 }, 80, 64, { originalSize: { width: 1024, height: 768 }, crop: { top: 16, left: 40 }, targetSize: { width: 160, height: 128 } });
    expect([...base.cond]).toEqual(readReference('sdxl-tiny-microcond').time_ids);
    expect([...base.uncond]).toEqual([...base.cond]);
    const refiner = timeIds({ timeIdsWidth: 5 }, 64, 64, { originalSize: { width: 384, height: 512 }, crop: { top: 8, left: 24 }, aestheticScore: 7.5, negativeAestheticScore: 1.5 });
    const ref = readReference('sdxl-refiner-tiny-aesthetic');
    expect([...refiner.cond]).toEqual(ref.time_ids);
    expect([...refiner.uncond]).toEqual(ref.negative_time_ids);
    // Omitted: the generation size, no crop, aesthetic scores 6 and 2.5.
    expect([...timeIds({ timeIdsWidth: 6 }, 80, 64).cond]).toEqual([64, 80, 0, 0, 64, 80]);
    expect([...timeIds({ timeIdsWidth: 5 }, 80, 64).uncond]).toEqual([64, 80, 0, 0, 2.5]);
  });

  it('reproduces diffusers with another original size, a crop and another target size, within 1 level', async () => {
    const ref = readReference('sdxl-tiny-microcond');
    const got = await runRef(ref, { sdxlConditioning: { originalSize: { width: 1024, height: 768 }, crop: { top: 16, left: 40 }, targetSize: { width: 160, height: 128 } } });
    expect(maxAbsDiff(got, rgbToRgba(ref.rgb_base64, ref.width, ref.height))).toBeLessThanOrEqual(1);
  });

  it('omitted, the fields are diffusers\' defaults; the crop alone changes the picture', async () => {
    const ref = readReference('sdxl-tiny-txt2img');
    const expected = rgbToRgba(ref.rgb_base64, ref.width, ref.height);
    const omitted = await runRef(ref);
    const explicit = await runRef(ref, { sdxlConditioning: { originalSize: { width: 80, height: 64 }, crop: { top: 0, left: 0 }, targetSize: { width: 80, height: 64 } } });
    expect(maxAbsDiff(omitted, expected)).toBeLessThanOrEqual(1);
    expect(maxAbsDiff(explicit, omitted)).toBe(0);
    const cropped = await runRef(ref, { sdxlConditioning: { crop: { top: 32, left: 0 } } });
    expect(meanAbsDiff(cropped, omitted)).toBeGreaterThan(1);
  });

  it('gives the refiner its aesthetic scores, original size and crop, as diffusers does (within 1 level)', async () => {
    const ref = readReference('sdxl-refiner-tiny-aesthetic');
    const got = await runRef(ref, { sdxlConditioning: { originalSize: { width: 384, height: 512 }, crop: { top: 8, left: 24 }, aestheticScore: 7.5, negativeAestheticScore: 1.5 } });
    expect(maxAbsDiff(got, rgbToRgba(ref.rgb_base64, ref.width, ref.height))).toBeLessThanOrEqual(1);
    const plain = readReference('sdxl-refiner-tiny-txt2img');
    expect(meanAbsDiff(got, rgbToRgba(plain.rgb_base64, plain.width, plain.height))).toBeGreaterThan(1);
  });

  it('refuses micro-conditioning on a model that is not SDXL, and an aesthetic score with nothing to take it', async () => {
    const sd1 = fixture('sd1-tiny');
    const req = (dir: string, extra: Partial<GenerationRequestInput>) => GenerationRequest.parse({ model: dir, prompt: 'a house', seed: 1, steps: 1, ...extra });
    await expect(runPipeline(await model(sd1), req(sd1, { sdxlConditioning: { crop: { top: 8, left: 0 } } }), {})).rejects.toMatchObject({ code: 'bad_request', message: /SDXL's micro-conditioning; this model is sd1/ });
    const xl = fixture('sdxl-tiny');
    await expect(runPipeline(await model(xl), req(xl, { sdxlConditioning: { aestheticScore: 7 } }), {})).rejects.toMatchObject({ code: 'bad_request', message: /aesthetic score conditions an SDXL refiner/ });
  });
});
