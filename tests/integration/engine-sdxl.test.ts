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

const TURBO_SCHEDULER = {
  _class_name: 'EulerAncestralDiscreteScheduler', beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear',
  num_train_timesteps: 1000, prediction_type: 'epsilon', steps_offset: 1, timestep_spacing: 'trailing',
};

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

  for (const [name, what] of [
    ['sdxl-tiny-txt2img', 'txt2img at 80×64 (Euler, CFG 5, a negative prompt)'],
    ['sdxl-tiny-zero-negative', 'an empty negative prompt as zeros (force_zeros_for_empty_prompt)'],
    ['sdxl-tiny-turbo', 'SDXL Turbo: trailing spacing, Euler a, one step, CFG 0'],
    ['sdxl-refiner-tiny-txt2img', 'the refiner: text_encoder_2 alone, aesthetic-score time ids'],
  ] as const) {
    it(`reproduces ${what} within 1 level`, async () => {
      const ref = readReference(name);
      const dir = ref.timestep_spacing === 'trailing' ? withScheduler(TURBO_SCHEDULER) : fixture(ref.model);
      const r = await run(dir, { prompt: ref.prompt, negativePrompt: ref.negativePrompt, seed: ref.seed, steps: ref.steps, cfg: ref.cfg, sampler: ref.sampler, width: ref.width, height: ref.height });
      const got = r.candidates[0]!.image;
      expect(got).toMatchObject({ width: ref.width, height: ref.height });
      expect(maxAbsDiff(got, rgbToRgba(ref.rgb_base64, ref.width, ref.height))).toBeLessThanOrEqual(1);
    });
  }
});
