import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerationRequest, type GenerationRequestInput } from '../../app/contract/index.js';
import { importCheckpoint, type ImportOptions, type ImportProgress } from '../../app/engine/checkpoint/index.js';
import { safetensorsWeights, writePipelineGraphs } from '../../app/engine/graph/index.js';
import { loadModel, runPipeline, type LoadedModel, type PipelineImages, type RgbaImage } from '../../app/engine/index.js';

// Done-when of issue 13's import: single-file checkpoints written in the original layout by
// tests/fixtures/checkpoint_fixtures.py from the graph fixtures' weights import and give the
// very images of the same weights assembled in the builder's diffusers layout
// (txt2img, img2img, ControlNet on SD 1.x; 9-channel inpainting on the SD 2.x file, whose
// OpenCLIP q/k/v are fused) — docs/models.md.

const GRAPH = path.resolve('tests/fixtures/graph');
const CKPT = path.resolve('tests/fixtures/checkpoint');
const TOKENIZER = path.resolve('tests/fixtures/models/sd1-tiny/tokenizer');
// The fixtures' toy sizes: 4 norm groups, 4-wide CLIP heads — what SD's real sizes make the defaults.
const HINTS = { unet: { heads: 4, normNumGroups: 4, sampleSize: 8 }, vaeNormGroups: 4, clipHeads: 4 };
let tmp: string;
/** The builder-layout SD 1.x folder, built and opened once (its tokenizer and scheduler: the first import's). */
let sd1Ref: Promise<{ dir: string; m: LoadedModel }> | undefined;
const loaded: LoadedModel[] = [];

function net(name: string) {
  return { config: JSON.parse(fs.readFileSync(path.join(GRAPH, name, 'config.json'), 'utf8')) as Record<string, unknown>, weights: safetensorsWeights(path.join(GRAPH, name, 'model.safetensors')) };
}

function options(name: string, extra: Partial<ImportOptions> = {}): ImportOptions {
  return { modelsDir: path.join(tmp, 'models'), name, dtype: 'float32', compute: 'float32', tokenizer: { dir: TOKENIZER }, hints: HINTS, ...extra };
}

/** The same weights in the builder's layout, with the imported folder's tokenizer and scheduler. */
function reference(name: string, unet: string, imported: string, controlnet: boolean): string {
  const dir = path.join(tmp, name);
  writePipelineGraphs(dir, { textEncoder: net('clip'), unet: net(unet), vae: net('vae'), ...(controlnet ? { controlnet: net('controlnet') } : {}) }, { controlnetResiduals: controlnet });
  for (const sub of ['tokenizer', 'scheduler']) fs.cpSync(path.join(imported, sub), path.join(dir, sub), { recursive: true });
  fs.writeFileSync(path.join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'OnnxStableDiffusionPipeline' }));
  return dir;
}

/** Both SD 1.x imports write the same tokenizer and scheduler: one reference serves them. */
function sd1Reference(imported: string): Promise<{ dir: string; m: LoadedModel }> {
  sd1Ref ??= (async () => {
    const dir = reference('ref-sd1', 'unet-sd1', imported, true);
    return { dir, m: await open(dir) };
  })();
  return sd1Ref;
}

async function open(dir: string): Promise<LoadedModel> {
  const m = await loadModel(dir, { device: 'cpu' });
  loaded.push(m);
  return m;
}

async function generate(m: LoadedModel, dir: string, input: Partial<GenerationRequestInput>, images: PipelineImages = {}): Promise<RgbaImage> {
  const request = GenerationRequest.parse({ model: dir, prompt: 'a red house on a hill', negativePrompt: 'blurry', seed: 7, steps: 2, ...input });
  return (await runPipeline(m, request, images)).candidates[0]!.image;
}

function gradient(size: number): RgbaImage {
  const data = new Uint8Array(size * size * 4);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) data.set([(x * 255) / size, (y * 255) / size, 128, 255], (y * size + x) * 4);
  return { width: size, height: size, data };
}

function square(size: number): RgbaImage {
  const data = new Uint8Array(size * size * 4);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) data.fill(x >= 8 && x < 24 && y >= 8 && y < 24 ? 255 : 0, (y * size + x) * 4, (y * size + x) * 4 + 3);
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  return { width: size, height: size, data };
}

const same = (a: RgbaImage, b: RgbaImage) => Buffer.from(a.data).equals(Buffer.from(b.data));

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-ckpt-import-'));
});
afterAll(async () => {
  for (const m of loaded) await m.release();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('checkpoint import', () => {
  it('an SD 1.x single file imports and generates the images of the same weights in the builder layout', async () => {
    const seen: ImportProgress[] = [];
    const out = await importCheckpoint(path.join(CKPT, 'sd1-tiny.safetensors'), options('Tiny SD1', { onProgress: (p) => seen.push(p) }));
    expect(out).toMatchObject({ name: 'Tiny SD1', family: 'sd1', inpainting: false, prediction: 'epsilon', predictionFrom: 'default', source: { kind: 'single-file' } });
    expect(out.source.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(out.source.autov2).toBe(out.source.sha256!.slice(0, 10));
    expect(seen.map((p) => p.stage)).toEqual(expect.arrayContaining(['hash', 'text_encoder', 'unet', 'vae_encoder', 'vae_decoder', 'done']));
    expect(seen.every((p, i) => i === 0 || p.fraction >= seen[i - 1]!.fraction)).toBe(true);
    expect(fs.readdirSync(path.join(tmp, 'models'))).toEqual(['Tiny SD1']); // no temporary folder left
    const index = JSON.parse(fs.readFileSync(path.join(out.path, 'model_index.json'), 'utf8')) as { atelier: { source: { sha256: string } } };
    expect(index.atelier.source.sha256).toBe(out.source.sha256);

    const { dir: ref, m: mr } = await sd1Reference(out.path);
    const mi = await open(out.path);
    expect(mi.info).toMatchObject({ family: mr.info.family, unetInChannels: 4, acceptsControlnet: true, dtype: 'float32' });
    const a = await generate(mi, out.path, {});
    expect(same(a, await generate(mr, ref, {}))).toBe(true);
    const init = gradient(32);
    expect(same(await generate(mi, out.path, { init: { path: 'i.png' }, strength: 0.6 }, { init }), await generate(mr, ref, { init: { path: 'i.png' }, strength: 0.6 }, { init }))).toBe(true);
    const controls = () => ({ controls: [{ type: 'scribble' as const, model: path.join(ref, 'controlnet'), image: { path: 'c.png' }, weight: 1 }] });
    const withControl = await generate(mi, out.path, controls(), { controls: [square(32)] });
    expect(same(withControl, await generate(mr, ref, controls(), { controls: [square(32)] }))).toBe(true);
    expect(same(withControl, a)).toBe(false);
  });

  it('a diffusers folder of .safetensors (configs, tokenizer, scheduler inside) imports to the same weights', async () => {
    const folder = path.join(tmp, 'diffusers-sd1');
    for (const [sub, from, file] of [['unet', 'unet-sd1', 'diffusion_pytorch_model.safetensors'], ['vae', 'vae', 'diffusion_pytorch_model.safetensors'], ['text_encoder', 'clip', 'model.safetensors']]) {
      fs.mkdirSync(path.join(folder, sub!), { recursive: true });
      fs.copyFileSync(path.join(GRAPH, from!, 'model.safetensors'), path.join(folder, sub!, file!));
      fs.copyFileSync(path.join(GRAPH, from!, 'config.json'), path.join(folder, sub!, 'config.json'));
    }
    fs.cpSync(TOKENIZER, path.join(folder, 'tokenizer'), { recursive: true });
    fs.cpSync(path.resolve('tests/fixtures/models/sd1-tiny/scheduler'), path.join(folder, 'scheduler'), { recursive: true });
    const out = await importCheckpoint(folder, { modelsDir: path.join(tmp, 'models'), name: 'from-folder', dtype: 'float32', compute: 'float32', tokenizer: { clipBpe: '/nonexistent' } });
    expect(out).toMatchObject({ family: 'sd1', prediction: 'epsilon', predictionFrom: 'config', source: { kind: 'diffusers-folder' } });
    expect(out.source.sha256).toBeUndefined();
    // the same weights written by the same builder: byte-equal weight files, so equal images
    const { dir: ref } = await sd1Reference(out.path);
    for (const part of ['text_encoder', 'unet', 'vae_encoder', 'vae_decoder']) {
      expect(fs.readFileSync(path.join(out.path, part, 'model.onnx_data')).equals(fs.readFileSync(path.join(ref, part, 'model.onnx_data'))), part).toBe(true);
    }
  });

  it('an SD 2.x inpainting file (OpenCLIP, fused q/k/v, v_pred key) imports as a v-prediction inpainting model with the same images', async () => {
    const out = await importCheckpoint(path.join(CKPT, 'sd2-inpaint-tiny.safetensors'), options('sd2-inpaint', { hints: { ...HINTS, unet: { headDim: 8, normNumGroups: 4, sampleSize: 8 } }, controlnetResiduals: false }));
    expect(out).toMatchObject({ family: 'sd2', inpainting: true, prediction: 'v_prediction', predictionFrom: 'file' });
    const ref = reference('ref-sd2', 'unet-sd2-inpaint', out.path, false);
    const [mi, mr] = [await open(out.path), await open(ref)];
    expect(mi.info).toMatchObject({ unetInChannels: 9, inpainting: true, prediction: 'v_prediction' });
    const init = gradient(32);
    const input = { init: { path: 'i.png' }, inpaint: { mask: { path: 'm.png' } }, strength: 1 };
    const a = await generate(mi, out.path, input, { init, mask: square(32) });
    expect(same(a, await generate(mr, ref, input, { init, mask: square(32) }))).toBe(true);
  });
});
