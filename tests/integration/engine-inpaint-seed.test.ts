import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GenerationRequest } from '../../app/contract/index.js';
import { loadModel, runPipeline, type RgbaImage } from '../../app/engine/index.js';

// Issue 14 item 6 for SD 1.x: a 9-channel inpainting UNet's masked-image latent is sampled from
// the candidate's generator after the initial noise (diffusers' prepare_latents, then
// prepare_mask_latents), so a seed gives diffusers' image. Reference: a PyTorch transcription of
// StableDiffusionInpaintPipeline on inpaint-tiny's weights with an encoder that returns the
// distribution's parameters (tests/fixtures/inpaint_reference.py). The SDXL 9-channel case is in
// engine-sdxl.test.ts (sdxl-inpaint-tiny-inpaint).

const FIXTURES = path.resolve('tests/fixtures/models');
const temps: string[] = [];
afterAll(() => {
  for (const t of temps) fs.rmSync(t, { recursive: true, force: true });
});

interface Reference { model: string; vae_encoder: string; prompt: string; negativePrompt: string; seed: number; steps: number; cfg: number; width: number; height: number; init_rgb_base64: string; mask_rgb_base64: string; rgb_base64: string }

function rgbToRgba(b64: string, width: number, height: number): RgbaImage {
  const rgb = Buffer.from(b64, 'base64');
  const data = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) data.set([rgb[p * 3]!, rgb[p * 3 + 1]!, rgb[p * 3 + 2]!, 255], p * 4);
  return { width, height, data };
}

const diff = (a: RgbaImage, b: RgbaImage, reduce: (m: number, d: number) => number) => {
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = reduce(m, Math.abs(a.data[i]! - b.data[i]!));
  return m;
};

describe('SD 1.x 9-channel inpainting draws the masked image latent as diffusers does', () => {
  it('reproduces StableDiffusionInpaintPipeline within 1 level for the same seed', async () => {
    const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'references', 'sd1-inpaint-tiny-inpaint.json'), 'utf8')) as Reference;
    // inpaint-tiny with its encoder in Optimum's form (latent_parameters: mean ‖ logvar, sampled by the pipeline).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-inpaint-seed-'));
    temps.push(dir);
    fs.cpSync(path.join(FIXTURES, ref.model), dir, { recursive: true });
    fs.rmSync(path.join(dir, 'vae_encoder'), { recursive: true });
    fs.cpSync(path.join(FIXTURES, ref.vae_encoder, 'vae_encoder'), path.join(dir, 'vae_encoder'), { recursive: true });
    const images = { init: rgbToRgba(ref.init_rgb_base64, ref.width, ref.height), mask: rgbToRgba(ref.mask_rgb_base64, ref.width, ref.height) };
    const request = (model: string, seed = ref.seed) => GenerationRequest.parse({
      model, prompt: ref.prompt, negativePrompt: ref.negativePrompt, seed, steps: ref.steps, cfg: ref.cfg, sampler: 'euler_a', width: ref.width, height: ref.height,
      init: { path: 'init.png' }, inpaint: { mask: { path: 'mask.png' } }, strength: 1,
    });
    const model = await loadModel(dir, { device: 'cpu' });
    try {
      expect(model.layout.vaeEncoder?.kind).toBe('latent_parameters');
      const got = (await runPipeline(model, request(dir), images)).candidates[0]!.image;
      const expected = rgbToRgba(ref.rgb_base64, ref.width, ref.height);
      expect(diff(got, expected, Math.max)).toBeLessThanOrEqual(1);
      // Candidate k of a batch is the single run with seed + k, the masked latent included.
      const batch = await runPipeline(model, { ...request(dir, ref.seed - 1), batch: 2 }, images);
      expect(diff(batch.candidates[1]!.image, got, Math.max)).toBe(0);
    } finally {
      await model.release();
    }
    // The plain fixture's encoder returns a ready latent: nothing is drawn for it, so the
    // generator's later draws (Euler a's noise) and the masked latent differ, and so does the image.
    const plain = await loadModel(path.join(FIXTURES, ref.model), { device: 'cpu' });
    try {
      const other = (await runPipeline(plain, request(path.join(FIXTURES, ref.model)), images)).candidates[0]!.image;
      expect(diff(other, rgbToRgba(ref.rgb_base64, ref.width, ref.height), (s, d) => s + d) / other.data.length).toBeGreaterThan(1);
    } finally {
      await plain.release();
    }
  });
});
