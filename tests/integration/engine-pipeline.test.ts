import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GenerationRequest, type GenerationRequestInput } from '../../app/contract/index.js';
import { binarizeMask, featherMask, maskFromImage } from '../../app/engine/control/mask.js';
import { GenerationCancelledError, runPipeline, type LoadedModel, type PipelineImages, type PipelineProgress, type RgbaImage } from '../../app/engine/index.js';
import { FIXTURES, fixture, fixtureModels } from '../helpers/fixture-models.js';

// The pipelines on the committed tiny fixtures (tests/fixtures/make_fixtures.py): seeds,
// batches, img2img, inpainting, ControlNet, cancellation, and every graph variant.

const load = fixtureModels();
const model = (name: string): Promise<LoadedModel> => load(fixture(name));

function request(input: Partial<GenerationRequestInput>): GenerationRequest {
  return GenerationRequest.parse({ model: 'x', prompt: 'a red house on a hill', negativePrompt: 'blurry', seed: 42, steps: 4, ...input });
}

async function run(name: string, input: Partial<GenerationRequestInput>, images: PipelineImages = {}, progress?: PipelineProgress[]) {
  return runPipeline(await model(name), request({ model: fixture(name), ...input }), images, progress ? { onProgress: (p) => progress.push(p) } : {});
}

/** A smooth colour gradient with a dark diagonal stroke. */
function testImage(width = 64, height = 64): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const stroke = Math.abs(x - y) < 3;
      data[i] = stroke ? 20 : Math.round((x / width) * 255);
      data[i + 1] = stroke ? 20 : Math.round((y / height) * 255);
      data[i + 2] = stroke ? 20 : 128;
      data[i + 3] = 255;
    }
  }
  return { width, height, data };
}

function squareMask(x0: number, x1: number, width = 64, height = 64): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = x >= x0 && x < x1 && y >= x0 && y < x1 ? 255 : 0;
      data.set([v, v, v, 255], (y * width + x) * 4);
    }
  }
  return { width, height, data };
}

function meanAbsDiff(a: RgbaImage, b: RgbaImage): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += Math.abs(a.data[i]! - b.data[i]!);
  return s / a.data.length;
}

function stdDev(img: RgbaImage): number {
  let s = 0;
  let s2 = 0;
  const n = img.data.length / 4;
  for (let p = 0; p < n; p++) {
    const v = img.data[p * 4]! + img.data[p * 4 + 1]! + img.data[p * 4 + 2]!;
    s += v;
    s2 += v * v;
  }
  return Math.sqrt(s2 / n - (s / n) ** 2);
}

beforeAll(async () => {
  await model('sd1-tiny');
});

describe('seeds and batches', () => {
  it('same seed → identical pixels; another seed → different pixels', async () => {
    const a = await run('sd1-tiny', { seed: 7 });
    const b = await run('sd1-tiny', { seed: 7 });
    const c = await run('sd1-tiny', { seed: 8 });
    expect(Buffer.from(a.candidates[0]!.image.data).equals(Buffer.from(b.candidates[0]!.image.data))).toBe(true);
    expect(meanAbsDiff(a.candidates[0]!.image, c.candidates[0]!.image)).toBeGreaterThan(1);
    expect(stdDev(a.candidates[0]!.image)).toBeGreaterThan(5); // not a flat image
    expect(a.device).toBe('cpu');
    expect(a.timings.unetSteps).toBe(4);
  });

  it('candidate k of a batch of 3 equals a single run with seed s + k (euler_a: ancestral noise too)', async () => {
    const batch = await run('sd1-tiny', { seed: 100, batch: 3, sampler: 'euler_a' });
    expect(batch.candidates.map((c) => c.seed)).toEqual([100, 101, 102]);
    for (const k of [0, 1, 2]) {
      const single = await run('sd1-tiny', { seed: 100 + k, sampler: 'euler_a' });
      expect(Buffer.from(batch.candidates[k]!.image.data).equals(Buffer.from(single.candidates[0]!.image.data)), `candidate ${k}`).toBe(true);
    }
  });
});

describe('img2img', () => {
  it('strength 0 returns the init image exactly; higher strength changes it more', async () => {
    const init = testImage();
    const kept = await run('sd1-tiny', { init: { path: 'init.png' }, strength: 0, batch: 2 }, { init });
    expect(kept.candidates).toHaveLength(2);
    for (const c of kept.candidates) expect(Buffer.from(c.image.data).equals(Buffer.from(init.data))).toBe(true);
    const progress: PipelineProgress[] = [];
    const light = await run('sd1-tiny', { init: { path: 'init.png' }, strength: 0.5, steps: 8 }, { init }, progress);
    expect(progress.map((p) => p.step)).toEqual([1, 2, 3, 4]); // int(8 · 0.5) steps
    const heavy = await run('sd1-tiny', { init: { path: 'init.png' }, strength: 1, steps: 8 }, { init });
    expect(meanAbsDiff(light.candidates[0]!.image, init)).toBeLessThan(meanAbsDiff(heavy.candidates[0]!.image, init));
  });
});

describe('inpainting', () => {
  const init = testImage();
  const mask = squareMask(24, 40);
  const blur = 2;
  // Where the feathered mask is 0 the original must come back untouched (tolerance: exact).
  const feathered = featherMask(binarizeMask(maskFromImage(mask)), blur);

  function checkUnmasked(out: RgbaImage): void {
    let checked = 0;
    for (let p = 0; p < feathered.data.length; p++) {
      if (feathered.data[p] !== 0) continue;
      checked++;
      for (let c = 0; c < 4; c++) if (out.data[p * 4 + c] !== init.data[p * 4 + c]) throw new Error(`pixel ${p} channel ${c} changed outside the mask`);
    }
    expect(checked).toBeGreaterThan(64 * 64 * 0.6);
  }

  function maskedDiff(out: RgbaImage): number {
    let s = 0;
    for (let y = 26; y < 38; y++) for (let x = 26; x < 38; x++) for (let c = 0; c < 3; c++) s += Math.abs(out.data[(y * 64 + x) * 4 + c]! - init.data[(y * 64 + x) * 4 + c]!);
    return s / (12 * 12 * 3);
  }

  /**
   * Inpainting as its callers run it (the service and `atelier generate`): fit the inputs,
   * run the pipeline, paste back once through the feathered mask (generation-images.ts).
   */
  async function inpaint(name: string, inpaintOptions: { blur: number }): Promise<{ raw: RgbaImage; out: RgbaImage }> {
    const { fitInputs, pasteGenerated } = await import('../../app/service/generation-images.js');
    const m = await model(name);
    const req = request({ model: fixture(name), init: { path: 'i.png' }, inpaint: { mask: { path: 'm.png' }, ...inpaintOptions }, strength: 1, steps: 4 });
    const fitted = await fitInputs(req, m.info, { init, mask, controls: [] });
    const raw = (await runPipeline(m, { ...req, width: fitted.width, height: fitted.height }, fitted.images)).candidates[0]!.image;
    return { raw, out: await pasteGenerated(raw, fitted.pasteBack!) };
  }

  for (const name of ['inpaint-tiny', 'sd1-tiny']) {
    it(`${name}: repaints inside the mask and leaves the rest unchanged`, async () => {
      const { out } = await inpaint(name, { blur });
      checkUnmasked(out);
      expect(maskedDiff(out)).toBeGreaterThan(3);
    });
  }

  it('blends the feather band once: out = orig·(1−m) + gen·m', async () => {
    // The denoiser sees only the binarized mask, so the feather radius changes nothing but the
    // paste: with radius 0 the generated pixels show unblended wherever the binary mask is 1.
    const wide = 4;
    const sharp0 = await inpaint('sd1-tiny', { blur: 0 });
    const soft = await inpaint('sd1-tiny', { blur: wide });
    const binary = binarizeMask(maskFromImage(mask));
    const m = featherMask(binary, wide);
    let band = 0;
    let worst = 0;
    for (let p = 0; p < m.data.length; p++) {
      const w = m.data[p]!;
      if (binary.data[p] !== 1 || w >= 0.99 || w <= 0.5) continue;
      band++;
      for (let c = 0; c < 3; c++) {
        const once = init.data[p * 4 + c]! * (1 - w) + sharp0.out.data[p * 4 + c]! * w;
        worst = Math.max(worst, Math.abs(soft.out.data[p * 4 + c]! - once));
      }
    }
    expect(band).toBeGreaterThan(20);
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('"only masked" through the callers\' fitting (generation-images.ts): the crop alone is generated, then pasted back', async () => {
    const { fitInputs, pasteGenerated } = await import('../../app/service/generation-images.js');
    const m = await model('inpaint-tiny');
    const req = request({ model: fixture('inpaint-tiny'), init: { path: 'i.png' }, inpaint: { mask: { path: 'm.png' }, blur, onlyMasked: true, padding: 4 }, width: 64, height: 64 });
    const fitted = await fitInputs(req, m.info, { init, mask, controls: [] });
    expect(fitted.pasteBack!.region).toMatchObject({ width: 24, height: 24 }); // 16 px box + 4 px padding each side
    const progress: PipelineProgress[] = [];
    const r = await runPipeline(m, { ...req, width: fitted.width, height: fitted.height }, fitted.images, { onProgress: (p) => progress.push(p) });
    expect(r.candidates[0]!.image.width).toBe(64); // the crop, generated at full size
    const out = await pasteGenerated(r.candidates[0]!.image, fitted.pasteBack!);
    checkUnmasked(out);
    expect(maskedDiff(out)).toBeGreaterThan(3);
  });

  it('refuses a mask whose size differs from the init image', async () => {
    await expect(run('inpaint-tiny', { init: { path: 'i.png' }, inpaint: { mask: { path: 'm.png' } } }, { init, mask: squareMask(0, 8, 32, 32) })).rejects.toThrow(/mask is 32×32 but the init image is 64×64/);
  });
});

describe('ControlNet', () => {
  const cn = fixture('controlnet-tiny');
  const edges = squareMask(10, 50);
  const control = (weight: number, start = 0, end = 1) => ({ type: 'scribble' as const, model: cn, image: { path: 'c.png' }, weight, start, end });

  it('weight 0 and a window outside the steps equal no ControlNet; weight 1 differs; two sum', async () => {
    const none = await run('controlnet-unet-tiny', {});
    const zero = await run('controlnet-unet-tiny', { controls: [control(0)] }, { controls: [edges] });
    const outside = await run('controlnet-unet-tiny', { controls: [control(1, 1, 1)] }, { controls: [edges] });
    const one = await run('controlnet-unet-tiny', { controls: [control(1)] }, { controls: [edges] });
    const two = await run('controlnet-unet-tiny', { controls: [control(1), control(0.5, 0, 0.5)] }, { controls: [edges, testImage()] });
    const same = (a: typeof none, b: typeof none) => Buffer.from(a.candidates[0]!.image.data).equals(Buffer.from(b.candidates[0]!.image.data));
    expect(same(none, zero)).toBe(true);
    expect(same(none, outside)).toBe(true);
    expect(meanAbsDiff(none.candidates[0]!.image, one.candidates[0]!.image)).toBeGreaterThan(0.5);
    expect(meanAbsDiff(one.candidates[0]!.image, two.candidates[0]!.image)).toBeGreaterThan(0.1);
    expect(one.timings.controlnet).toBeGreaterThan(0);
  });

  it('refuses a ControlNet for a model without a residual UNet', async () => {
    await expect(run('sd1-tiny', { controls: [control(1)] }, { controls: [edges] })).rejects.toThrow(/no UNet that accepts ControlNet residuals/);
  });
});

describe('progress, previews and cancellation', () => {
  it('reports every step and sends previews', async () => {
    const progress: PipelineProgress[] = [];
    await run('sd1-tiny', { steps: 4, batch: 2 }, {}, progress);
    expect(progress.map((p) => `${p.candidateIndex}:${p.step}/${p.totalSteps}`)).toEqual(['0:1/4', '0:2/4', '0:3/4', '0:4/4', '1:1/4', '1:2/4', '1:3/4', '1:4/4']);
    const previews = progress.filter((p) => p.latentPreview);
    expect(previews.length).toBeGreaterThan(0);
    expect(previews[0]!.latentPreview).toMatchObject({ width: 8, height: 8 });
  });

  it('stops within one step of the abort', async () => {
    const controller = new AbortController();
    const steps: number[] = [];
    const m = await model('sd1-tiny');
    const job = runPipeline(m, request({ steps: 10, batch: 2 }), {}, {
      signal: controller.signal,
      onProgress: (p) => {
        steps.push(p.step);
        if (p.step === 2) controller.abort();
      },
    });
    await expect(job).rejects.toBeInstanceOf(GenerationCancelledError);
    expect(steps).toEqual([1, 2]);
  });
});

describe('every fixture variant runs', () => {
  const cases: Array<[string, Partial<GenerationRequestInput>]> = [
    ['sd1-tiny-optimum', { sampler: 'dpmpp_2m' }], // int64 ids, rank-0 timestep, external data
    ['sd2-vpred-tiny', { sampler: 'ddim' }], // v-prediction, int64 timestep [B], pad "!"
    ['lcm-tiny', { sampler: 'lcm', cfg: 1.5 }], // timestep_cond, no CFG batch
    ['fp16-tiny', { sampler: 'euler' }], // float16 at every boundary
  ];
  for (const [name, input] of cases) {
    it(name, async () => {
      const r = await run(name, input);
      expect(stdDev(r.candidates[0]!.image)).toBeGreaterThan(5);
    });
  }

  it('img2img through latent_parameters (mean ‖ logvar) and through latent_sample', async () => {
    const init = testImage();
    for (const name of ['sd1-tiny-optimum', 'fp16-tiny']) {
      const r = await run(name, { init: { path: 'i.png' }, strength: 0.5 }, { init });
      expect(meanAbsDiff(r.candidates[0]!.image, init)).toBeGreaterThan(0);
    }
  });

  it('long prompts (several chunks) against a short negative prompt', async () => {
    const long = Array.from({ length: 60 }, (_, i) => (i % 2 ? 'red house' : 'blue tree')).join(', ');
    const r = await run('sd1-tiny', { prompt: long, negativePrompt: 'ugly' });
    const short = await run('sd1-tiny', { prompt: 'red house' });
    expect(meanAbsDiff(r.candidates[0]!.image, short.candidates[0]!.image)).toBeGreaterThan(0);
  });

  it('emphasis weights change the image; weight 1 is the same as none', async () => {
    const plain = await run('sd1-tiny', { prompt: 'detailed landscape painting' });
    const same = await run('sd1-tiny', { prompt: 'detailed landscape (painting:1.0)' });
    const strong = await run('sd1-tiny', { prompt: 'detailed landscape (painting:1.6)' });
    expect(Buffer.from(plain.candidates[0]!.image.data).equals(Buffer.from(same.candidates[0]!.image.data))).toBe(true);
    expect(meanAbsDiff(plain.candidates[0]!.image, strong.candidates[0]!.image)).toBeGreaterThan(0);
  });

  it('refuses sizes the model cannot take', async () => {
    await expect(run('sd1-tiny', { width: 72, height: 64 })).rejects.toThrow('width 72 is not a multiple of 16, which this model needs');
  });
});

describe('against an independent reference', () => {
  interface Reference {
    model: string; prompt: string; negativePrompt: string; seed: number; steps: number; cfg: number; strength?: number;
    width: number; height: number; cond_ids: number[]; uncond_ids: number[]; init_rgb_base64?: string; rgb_base64: string;
  }

  function rgbToRgba(b64: string, width: number, height: number): RgbaImage {
    const rgb = Buffer.from(b64, 'base64');
    const data = new Uint8Array(width * height * 4);
    for (let p = 0; p < width * height; p++) data.set([rgb[p * 3]!, rgb[p * 3 + 1]!, rgb[p * 3 + 2]!, 255], p * 4);
    return { width, height, data };
  }

  // References written by make_fixtures.py: diffusers' pipelines transcribed in PyTorch, run on
  // the fixture's own torch modules with a CPU torch.Generator. ONNX Runtime and PyTorch differ
  // only in float32 rounding, so the pixels agree to within 2 levels of 255.
  for (const [file, what] of [
    ['sd1-tiny-txt2img.json', 'txt2img (euler_a, CFG 7.5)'],
    ['sd1-tiny-optimum-img2img.json', 'img2img (latent_parameters sampled first, strength 0.6, rank-0 timestep)'],
  ] as const) {
    it(`reproduces ${what}`, async () => {
      const fs = await import('node:fs');
      const { ClipTokenizer } = await import('../../app/engine/tokenizer/clip-tokenizer.js');
      const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'references', file), 'utf8')) as Reference;
      const tokenizer = await ClipTokenizer.fromFolder(path.join(fixture(ref.model), 'tokenizer'));
      expect(tokenizer.encode(ref.prompt)).toEqual(ref.cond_ids);
      expect(tokenizer.encode(ref.negativePrompt)).toEqual(ref.uncond_ids);
      const images: PipelineImages = ref.init_rgb_base64 ? { init: rgbToRgba(ref.init_rgb_base64, ref.width, ref.height) } : {};
      const r = await run(ref.model, {
        prompt: ref.prompt, negativePrompt: ref.negativePrompt, seed: ref.seed, steps: ref.steps, cfg: ref.cfg, sampler: 'euler_a', width: ref.width, height: ref.height,
        ...(images.init ? { init: { path: 'init.png' }, strength: ref.strength! } : {}),
      }, images);
      const expected = rgbToRgba(ref.rgb_base64, ref.width, ref.height);
      const got = r.candidates[0]!.image;
      let maxDiff = 0;
      for (let i = 0; i < got.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got.data[i]! - expected.data[i]!));
      expect(maxDiff).toBeLessThanOrEqual(2);
      expect(meanAbsDiff(got, expected)).toBeLessThan(0.2);
      if (images.init) expect(meanAbsDiff(got, images.init)).toBeGreaterThan(1); // it did change the image
    });
  }
});

describe('sizes from the init image', () => {
  it('rounds an omitted size down to the model multiple', async () => {
    const init = testImage(72, 50);
    const r = await run('sd1-tiny', { init: { path: 'i.png' }, strength: 0.5, steps: 2 }, { init });
    expect(r.candidates[0]!.image).toMatchObject({ width: 64, height: 48 });
  });
});
