import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GenerationRequest, type GenerationRequestInput } from '../../app/contract/index.js';
import { inspectModel, loadModel, runPipeline, type LoadedModel, type PipelineImages, type RgbaImage } from '../../app/engine/index.js';
import type { EngineModel } from '../../app/engine/model/load.js';
import { encodePrompts } from '../../app/engine/pipeline/text.js';
import { timeIds } from '../../app/engine/pipeline/sdxl.js';
import { ClipTokenizer } from '../../app/engine/tokenizer/clip-tokenizer.js';

// SDXL on the committed tiny fixtures (tests/fixtures/sdxl_fixtures.py): two text encoders,
// pooled text_embeds and time_ids, every mode, against PyTorch transcriptions of diffusers'
// StableDiffusionXLPipeline on the same weights (tests/fixtures/models/references/sdxl-*.json).

const FIXTURES = path.resolve('tests/fixtures/models');
const fixture = (name: string): string => path.join(FIXTURES, name);
const models = new Map<string, LoadedModel>();
const temps: string[] = [];

async function model(dir: string): Promise<LoadedModel> {
  let m = models.get(dir);
  if (!m) {
    m = await loadModel(dir, { device: 'cpu' });
    models.set(dir, m);
  }
  return m;
}

afterAll(async () => {
  for (const m of models.values()) await m.release();
  for (const t of temps) fs.rmSync(t, { recursive: true, force: true });
});

function request(input: Partial<GenerationRequestInput>): GenerationRequest {
  return GenerationRequest.parse({ model: 'x', prompt: 'a castle on the hill', negativePrompt: 'blurry', seed: 42, steps: 4, cfg: 5, sampler: 'euler', ...input });
}

async function run(dir: string, input: Partial<GenerationRequestInput>, images: PipelineImages = {}) {
  return runPipeline(await model(dir), request({ model: dir, ...input }), images);
}

/** sdxl-tiny copied with another scheduler config (SDXL Turbo / Lightning ship their own). */
function withScheduler(config: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-sdxl-'));
  temps.push(dir);
  fs.cpSync(fixture('sdxl-tiny'), dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'scheduler/scheduler_config.json'), JSON.stringify(config));
  return dir;
}

interface Reference {
  model: string;
  prompt: string;
  negativePrompt: string;
  seed: number;
  steps: number;
  cfg: number;
  sampler: 'euler' | 'euler_a';
  timestep_spacing: 'leading' | 'trailing';
  width: number;
  height: number;
  time_ids: number[];
  negative_time_ids: number[];
  pooled: number[];
  negative_pooled: number[];
  hidden_first_token: number[];
  mode: 'txt2img' | 'img2img' | 'inpaint';
  strength: number;
  init_rgb_base64?: string;
  mask_rgb_base64?: string;
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

const TURBO_SCHEDULER = {
  _class_name: 'EulerAncestralDiscreteScheduler', beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear',
  num_train_timesteps: 1000, prediction_type: 'epsilon', steps_offset: 1, timestep_spacing: 'trailing',
};

/** SDXL base's scheduler with trailing spacing, as SDXL Lightning's model card sets it. */
const LIGHTNING_SCHEDULER = { ...TURBO_SCHEDULER, _class_name: 'EulerDiscreteScheduler', interpolation_type: 'linear', use_karras_sigmas: false };

describe('SDXL folders are read as SDXL', () => {
  it('inspects the base: both encoders, added conditioning, SDXL sizes', async () => {
    const info = await inspectModel(fixture('sdxl-tiny'));
    expect(info.family).toBe('sdxl');
    expect(info.textEmbedDim).toBe(32 + 48);
    expect(Object.keys(info.components).sort()).toEqual(['controlnet_unet', 'text_encoder', 'text_encoder_2', 'unet', 'vae_decoder', 'vae_encoder']);
    expect(info.components.unet!.inputs).toEqual(['sample', 'timestep', 'encoder_hidden_states', 'text_embeds', 'time_ids']);
    expect(info).toMatchObject({ defaultWidth: 64, defaultHeight: 64, sizeMultiple: 16, acceptsControlnet: true, inpainting: false });
    expect(info.sizePresets![0]).toEqual({ width: 64, height: 64 });
    expect(info.sizePresets!.every((s) => s.width % 16 === 0 && s.height % 16 === 0)).toBe(true);
    expect(info.notes.join('\n')).toMatch(/SDXL: text_encoder \+ text_encoder_2 .*time_ids \(original size, crop, target size\)/);
  });

  it('reads the refiner (text_encoder_2 only, five time ids) and the 9-channel inpainting UNet', async () => {
    const refiner = await inspectModel(fixture('sdxl-refiner-tiny'));
    expect(refiner.family).toBe('sdxl');
    expect(refiner.textEmbedDim).toBe(48);
    expect(Object.keys(refiner.components)).not.toContain('text_encoder');
    expect(refiner.notes.join('\n')).toMatch(/aesthetic score/);
    const inpaint = await inspectModel(fixture('sdxl-inpaint-tiny'));
    expect(inpaint).toMatchObject({ family: 'sdxl', inpainting: true, unetInChannels: 9 });
  });
});

describe('SDXL against diffusers (PyTorch transcription on the same weights)', () => {
  it('gives the pooled text_embeds, penultimate hidden states and time_ids diffusers gives', async () => {
    const ref = readReference('sdxl-tiny-txt2img');
    const m = (await model(fixture('sdxl-tiny'))) as EngineModel;
    const tokenizers = await Promise.all(m.layout.textEncoders.map((t) => ClipTokenizer.fromFolder(t.tokenizerDir)));
    const { cond, uncond } = await encodePrompts(m, tokenizers, ref.prompt, ref.negativePrompt, true, {});
    for (const [got, want] of [[cond.pooled!, ref.pooled], [uncond!.pooled!, ref.negative_pooled], [cond.data.subarray(80, 160), ref.hidden_first_token]] as const) {
      expect(got.length).toBe(want.length);
      want.forEach((v, i) => expect(Math.abs(got[i]! - v)).toBeLessThan(2e-5));
    }
    const ids = timeIds(m.layout.sdxl!, ref.width, ref.height);
    expect([...ids.cond]).toEqual(ref.time_ids);
    expect([...ids.uncond]).toEqual(ref.negative_time_ids);
  });

  it('applies A1111 emphasis per encoder and chunks long prompts for both, pooled from the first chunk', async () => {
    const m = (await model(fixture('sdxl-tiny'))) as EngineModel;
    const tokenizers = await Promise.all(m.layout.textEncoders.map((t) => ClipTokenizer.fromFolder(t.tokenizerDir)));
    const plain = (await encodePrompts(m, tokenizers, 'a castle on the hill', '', false, {})).cond;
    const weighted = (await encodePrompts(m, tokenizers, 'a (castle:1.5) on the hill', '', false, {})).cond;
    // Each encoder's own width (32 | 48) keeps its mean over the chunk (A1111 wraps each embedder).
    const mean = (e: { data: Float32Array }, from: number, width: number) => {
      let sum = 0;
      for (let tok = 0; tok < 77; tok++) for (let d = from; d < from + width; d++) sum += e.data[tok * 80 + d]!;
      return sum / (77 * width);
    };
    for (const [from, width] of [[0, 32], [32, 48]] as const) expect(mean(weighted, from, width)).toBeCloseTo(mean(plain, from, width), 4);
    // the emphasised token (castle, position 2) changed in both encoders' slices
    const token2 = (e: { data: Float32Array }) => e.data.subarray(2 * 80, 3 * 80);
    expect(Math.max(...token2(weighted).subarray(0, 32).map((v, d) => Math.abs(v - token2(plain)[d]!)))).toBeGreaterThan(0.01);
    expect(Math.max(...token2(weighted).subarray(32).map((v, d) => Math.abs(v - token2(plain)[32 + d]!)))).toBeGreaterThan(0.01);
    expect([...weighted.pooled!]).toEqual([...plain.pooled!]); // the pooled embedding takes no emphasis
    // 80 words: two 77-token chunks for both encoders; the pooled one is the first chunk's
    const long = Array.from({ length: 80 }, (_, i) => (i % 2 ? 'castle' : 'hill')).join(' ');
    const chunked = (await encodePrompts(m, tokenizers, long, '', false, {})).cond;
    const first = (await encodePrompts(m, tokenizers, Array.from({ length: 75 }, (_, i) => (i % 2 ? 'castle' : 'hill')).join(' '), '', false, {})).cond;
    expect(chunked.sequence).toBe(154);
    expect(chunked.data.length).toBe(154 * 80);
    expect([...chunked.pooled!]).toEqual([...first.pooled!]);
  });

  for (const [name, what] of [
    ['sdxl-tiny-txt2img', 'txt2img at 80×64 (Euler, CFG 5, a negative prompt)'],
    ['sdxl-tiny-zero-negative', 'an empty negative prompt as zeros (force_zeros_for_empty_prompt)'],
    ['sdxl-tiny-turbo', 'SDXL Turbo: trailing spacing, Euler a, one step, CFG 0'],
    ['sdxl-tiny-lightning', 'SDXL Lightning: trailing spacing, Euler, four steps, CFG 0'],
    ['sdxl-refiner-tiny-txt2img', 'the refiner: text_encoder_2 alone, aesthetic-score time ids'],
    ['sdxl-tiny-img2img', 'img2img (image latent sampled, then the noise; strength 0.5)'],
    ['sdxl-inpaint-tiny-inpaint', '9-channel inpainting (noise, then the masked image latent sampled)'],
  ] as const) {
    it(`reproduces ${what} within 1 level`, async () => {
      const ref = readReference(name);
      const dir = ref.timestep_spacing === 'trailing' ? withScheduler(ref.sampler === 'euler' ? LIGHTNING_SCHEDULER : TURBO_SCHEDULER) : fixture(ref.model);
      const images: PipelineImages = {};
      const input: Partial<GenerationRequestInput> = { prompt: ref.prompt, negativePrompt: ref.negativePrompt, seed: ref.seed, steps: ref.steps, cfg: ref.cfg, sampler: ref.sampler, width: ref.width, height: ref.height };
      if (ref.init_rgb_base64) {
        images.init = rgbToRgba(ref.init_rgb_base64, ref.width, ref.height);
        Object.assign(input, { init: { path: 'init.png' }, strength: ref.strength });
      }
      if (ref.mask_rgb_base64) {
        images.mask = rgbToRgba(ref.mask_rgb_base64, ref.width, ref.height);
        input.inpaint = { mask: { path: 'mask.png' } };
      }
      const r = await run(dir, input, images);
      const got = r.candidates[0]!.image;
      expect(got).toMatchObject({ width: ref.width, height: ref.height });
      expect(maxAbsDiff(got, rgbToRgba(ref.rgb_base64, ref.width, ref.height))).toBeLessThanOrEqual(1);
    });
  }
});

const square = (w: number, h: number): RgbaImage => {
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([(x * 4) % 256, (y * 4) % 256, 128, 255], (y * w + x) * 4);
  return { width: w, height: h, data };
};
const centreMask = (w: number, h: number): RgbaImage => {
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = x >= w / 4 && x < (3 * w) / 4 && y >= h / 4 && y < (3 * h) / 4 ? 255 : 0;
    data.set([v, v, v, 255], (y * w + x) * 4);
  }
  return { width: w, height: h, data };
};

describe('SDXL modes', () => {
  const base = fixture('sdxl-tiny');
  const control = (weight: number, model = fixture('sdxl-controlnet-tiny')) => ({ type: 'scribble' as const, model, image: { path: 'c.png' }, weight });

  it('keeps the seed rule: candidate k of a batch is the single run with seed + k', async () => {
    const batch = await run(base, { seed: 300, batch: 2, steps: 3 });
    const single = await run(base, { seed: 301, steps: 3 });
    expect(batch.candidates[1]!.seed).toBe(301);
    expect(maxAbsDiff(batch.candidates[1]!.image, single.candidates[0]!.image)).toBe(0);
    expect(meanAbsDiff(batch.candidates[0]!.image, batch.candidates[1]!.image)).toBeGreaterThan(1);
  });

  it('inpaints with the 4-channel base UNet by blending the original back outside the mask', async () => {
    const init = square(64, 64);
    const images = { init, mask: centreMask(64, 64) };
    const inpaint = (seed: number) => run(base, { seed, init: { path: 'i.png' }, inpaint: { mask: { path: 'm.png' } }, strength: 1, steps: 4 }, images);
    const [a, b] = [(await inpaint(1)).candidates[0]!.image, (await inpaint(2)).candidates[0]!.image];
    // Two seeds repaint the centre differently but keep the original's latents in the corner.
    const region = (img: RgbaImage, x0: number, y0: number, size: number) => {
      const out: number[] = [];
      for (let y = y0; y < y0 + size; y++) for (let x = x0; x < x0 + size; x++) for (let c = 0; c < 3; c++) out.push(img.data[(y * 64 + x) * 4 + c]!);
      return out;
    };
    const diff = (p: number[], q: number[]) => p.reduce((s, v, i) => s + Math.abs(v - q[i]!), 0) / p.length;
    const corner = diff(region(a, 0, 0, 8), region(b, 0, 0, 8));
    const centre = diff(region(a, 24, 24, 16), region(b, 24, 24, 16));
    expect(centre).toBeGreaterThan(5 * corner + 2);
  });

  it('runs SDXL ControlNets through the residual UNet: weight 0 is none, two add up', async () => {
    const images = { controls: [square(64, 64), centreMask(64, 64)] };
    const plain = await run(base, { seed: 5, steps: 3 });
    const zero = await run(base, { seed: 5, steps: 3, controls: [control(0)] }, images);
    const one = await run(base, { seed: 5, steps: 3, controls: [control(1)] }, images);
    const two = await run(base, { seed: 5, steps: 3, controls: [control(1), control(0.7)] }, images);
    expect(maxAbsDiff(zero.candidates[0]!.image, plain.candidates[0]!.image)).toBe(0);
    expect(meanAbsDiff(one.candidates[0]!.image, plain.candidates[0]!.image)).toBeGreaterThan(0.5);
    expect(meanAbsDiff(two.candidates[0]!.image, one.candidates[0]!.image)).toBeGreaterThan(0.5);
    expect((await model(base)).info.controlnets).toContain(fixture('sdxl-controlnet-tiny'));
  });

  it('refuses an SD ControlNet on SDXL and an SDXL ControlNet on SD, naming the ControlNet', async () => {
    const images = { controls: [square(64, 64)] };
    await expect(run(base, { steps: 2, controls: [control(1, fixture('controlnet-tiny'))] }, images)).rejects.toMatchObject({ code: 'invalid_model', message: /text width 768/ });
    const sd = fixture('controlnet-unet-tiny');
    await expect(run(sd, { steps: 2, controls: [control(1)] }, images)).rejects.toMatchObject({ code: 'invalid_model', message: /controlnet-tiny/ });
  });

  it('closes the text encoders and the VAE after their phase when asked, and opens them again for the next run', async () => {
    // A few hundred KB of weights are far under a quarter of any machine's memory: kept open.
    expect([...((await model(base)) as EngineModel).transient]).toEqual([]);
    const m = (await loadModel(base, { device: 'cpu', phaseSessions: true })) as EngineModel;
    try {
      expect([...m.transient].map((f) => path.relative(base, f)).sort()).toEqual(['text_encoder/model.onnx', 'text_encoder_2/model.onnx', 'unet-controlnet/model.onnx', 'unet/model.onnx', 'vae_decoder/model.onnx', 'vae_encoder/model.onnx']);
      expect(m.info.notes.join('\n')).toMatch(/memory: text encoders and VAE opened for their phase of each run/);
      const open = (m as unknown as { sessions: Map<string, unknown> }).sessions;
      for (const f of m.transient) expect(open.has(f)).toBe(false); // read at load, not held
      const input = request({ model: base, seed: 9, steps: 2 });
      const first = await runPipeline(m, input, {});
      const again = await runPipeline(m, input, {});
      expect(maxAbsDiff(first.candidates[0]!.image, again.candidates[0]!.image)).toBe(0);
      const kept = await run(base, { seed: 9, steps: 2 });
      expect(maxAbsDiff(first.candidates[0]!.image, kept.candidates[0]!.image)).toBe(0);
      // the UNet, opened by the first run, stays open: only a large generation closes it before its decode
      for (const f of m.transient) expect(open.has(f)).toBe(f === m.layout.unet.file);
    } finally {
      await m.release();
    }
  });
});

describe('SDXL float16 graphs', () => {
  /** sdxl-tiny with the float16 VAE decoder that overflows, force_upcast as given. */
  function withFp16Vae(forceUpcast: boolean): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-sdxl-fp16-'));
    temps.push(dir);
    fs.cpSync(fixture('sdxl-tiny'), dir, { recursive: true });
    fs.rmSync(path.join(dir, 'vae_decoder'), { recursive: true });
    fs.cpSync(fixture('sdxl-fp16-vae-tiny/vae_decoder'), path.join(dir, 'vae_decoder'), { recursive: true });
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'vae_decoder/config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(dir, 'vae_decoder/config.json'), JSON.stringify({ ...config, force_upcast: forceUpcast }));
    return dir;
  }

  it('feeds a float16 UNet (text_embeds and time_ids too) and stays within 3 levels of float32', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-sdxl-fp16u-'));
    temps.push(dir);
    fs.cpSync(fixture('sdxl-tiny'), dir, { recursive: true });
    fs.rmSync(path.join(dir, 'unet'), { recursive: true });
    fs.cpSync(fixture('sdxl-fp16-unet-tiny/unet'), path.join(dir, 'unet'), { recursive: true });
    expect((await inspectModel(dir)).dtype).toBe('float16');
    const ref = readReference('sdxl-tiny-txt2img');
    const r = await run(dir, { prompt: ref.prompt, negativePrompt: ref.negativePrompt, seed: ref.seed, steps: ref.steps, cfg: ref.cfg, sampler: ref.sampler, width: ref.width, height: ref.height });
    const expected = rgbToRgba(ref.rgb_base64, ref.width, ref.height);
    expect(maxAbsDiff(r.candidates[0]!.image, expected)).toBeLessThanOrEqual(3);
    expect(meanAbsDiff(r.candidates[0]!.image, expected)).toBeLessThan(0.5);
  });

  it('decodes a float16 VAE in float32 as diffusers does, where float16 would overflow', async () => {
    const ref = readReference('sdxl-tiny-txt2img');
    const input = { prompt: ref.prompt, negativePrompt: ref.negativePrompt, seed: ref.seed, steps: ref.steps, cfg: ref.cfg, sampler: ref.sampler, width: ref.width, height: ref.height };
    const expected = rgbToRgba(ref.rgb_base64, ref.width, ref.height);
    const upcast = withFp16Vae(true);
    expect((await inspectModel(upcast)).notes).toContain('vae_decoder: float16 graph run in float32 (force_upcast)');
    const good = await run(upcast, input);
    expect(maxAbsDiff(good.candidates[0]!.image, expected)).toBeLessThanOrEqual(1);
    // Without force_upcast the float16 graph runs as it is, and its overflow spoils the image.
    const overflowed = await run(withFp16Vae(false), input);
    expect(meanAbsDiff(overflowed.candidates[0]!.image, expected)).toBeGreaterThan(20);
  });
});

describe('LCM-distilled SDXL', () => {
  it('runs an LCM SDXL UNet (timestep_cond with the added conditioning) as diffusers does, within 1 level', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-sdxl-lcm-'));
    temps.push(dir);
    fs.cpSync(fixture('sdxl-tiny'), dir, { recursive: true });
    for (const part of ['unet', 'scheduler']) {
      fs.rmSync(path.join(dir, part), { recursive: true });
      fs.cpSync(fixture(`sdxl-lcm-tiny/${part}`), path.join(dir, part), { recursive: true });
    }
    expect(await inspectModel(dir)).toMatchObject({ family: 'sdxl', lcm: true });
    const ref = readReference('sdxl-lcm-tiny');
    const r = await run(dir, { prompt: ref.prompt, negativePrompt: '', seed: ref.seed, steps: ref.steps, cfg: ref.cfg, sampler: 'lcm', width: ref.width, height: ref.height });
    expect(maxAbsDiff(r.candidates[0]!.image, rgbToRgba(ref.rgb_base64, ref.width, ref.height))).toBeLessThanOrEqual(1);
  });
});

describe('SDXL base → refiner hand-off', () => {
  interface Refined { model: string; refiner: string; switchAt: number; prompt: string; negativePrompt: string; seed: number; steps: number; cfg: number; width: number; height: number; base_steps: number; refiner_start: number; rgb_base64: string }

  it('runs the base to the cutoff and the refiner from there, as diffusers does (within 1 level)', async () => {
    const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'references', 'sdxl-tiny-refined.json'), 'utf8')) as Refined;
    const progress: number[] = [];
    const m = await model(fixture(ref.model));
    const r = await runPipeline(m, request({
      model: fixture(ref.model), prompt: ref.prompt, negativePrompt: ref.negativePrompt, seed: ref.seed, steps: ref.steps, cfg: ref.cfg, sampler: 'euler', width: ref.width, height: ref.height,
      refiner: { model: fixture(ref.refiner), switchAt: ref.switchAt },
    }), {}, { onProgress: (p) => progress.push(p.step * 100 + p.totalSteps) });
    expect(maxAbsDiff(r.candidates[0]!.image, rgbToRgba(ref.rgb_base64, ref.width, ref.height))).toBeLessThanOrEqual(1);
    // one progress numbering over both: base steps then the refiner's
    const total = ref.base_steps + (ref.steps - ref.refiner_start);
    expect(progress).toEqual(Array.from({ length: total }, (_, i) => (i + 1) * 100 + total));
    // without the refiner the same request is another image
    const alone = await run(fixture(ref.model), { prompt: ref.prompt, negativePrompt: ref.negativePrompt, seed: ref.seed, steps: ref.steps, cfg: ref.cfg, width: ref.width, height: ref.height });
    expect(meanAbsDiff(alone.candidates[0]!.image, r.candidates[0]!.image)).toBeGreaterThan(1);
  });

  it('refuses a refiner for inpainting, and a non-SDXL model on either side', async () => {
    const refiner = { model: fixture('sdxl-refiner-tiny'), switchAt: 0.7 };
    const images = { init: square(64, 64), mask: centreMask(64, 64) };
    await expect(run(fixture('sdxl-tiny'), { refiner, init: { path: 'i.png' }, inpaint: { mask: { path: 'm.png' } }, steps: 2 }, images)).rejects.toMatchObject({ code: 'bad_request', message: /not inpainting/ });
    await expect(run(fixture('sd1-tiny'), { refiner, steps: 2 })).rejects.toMatchObject({ code: 'invalid_model', message: /two SDXL models/ });
    await expect(run(fixture('sdxl-tiny'), { refiner: { model: fixture('sd1-tiny'), switchAt: 0.7 }, steps: 2 })).rejects.toMatchObject({ code: 'invalid_model', message: /sd1-tiny is not SDXL/ });
  });
});
