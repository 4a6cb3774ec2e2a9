import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerationRequest, type GenerationRequestInput } from '../../app/contract/index.js';
import { importCheckpoint, type ImportOptions, type ImportProgress } from '../../app/engine/checkpoint/index.js';
import { safetensorsWeights, writePipelineGraphs } from '../../app/engine/graph/index.js';
import { loadModel, runPipeline, type LoadedModel, type PipelineImages, type RgbaImage } from '../../app/engine/index.js';

// Issue 14 item 3 / issue 13: an SDXL single file in Stability's layout (conditioner.embedders.0
// = CLIP-L, .1 = OpenCLIP-bigG with fused q/k/v and an x @ P text_projection, label_emb),
// written by tests/fixtures/checkpoint_fixtures.py from the SDXL graph fixtures' weights,
// imports (`atelier models import` → importCheckpoint) into an SDXL folder that gives the
// images of the same weights assembled in the diffusers/Optimum layout by the graph builder.

const GRAPH = path.resolve('tests/fixtures/graph');
const CKPT = path.resolve('tests/fixtures/checkpoint');
// the SDXL fixture's tokenizers (CLIP vocabulary cut to the fixtures' 1000-id tables; tokenizer_2 pads with "!")
const TOKENIZER = path.resolve('tests/fixtures/models/sdxl-tiny/tokenizer');
// What the toy sizes make the defaults wrong about: norm groups, heads, the 8-wide time id sinusoid.
const HINTS = { unet: { heads: [2, 4, 4], normNumGroups: 4, sampleSize: 8, timeEmbedDim: 8 }, vaeNormGroups: 4, clipHeads: 4, clip2Heads: 4 };
let tmp: string;
const loaded: LoadedModel[] = [];

const net = (name: string) => ({ config: JSON.parse(fs.readFileSync(path.join(GRAPH, name, 'config.json'), 'utf8')) as Record<string, unknown>, weights: safetensorsWeights(path.join(GRAPH, name, 'model.safetensors')) });

function options(name: string, extra: Partial<ImportOptions> = {}): ImportOptions {
  return { modelsDir: path.join(tmp, 'models'), name, dtype: 'float32', compute: 'float32', tokenizer: { dir: TOKENIZER }, hints: HINTS, ...extra };
}

async function open(dir: string): Promise<LoadedModel> {
  const m = await loadModel(dir, { device: 'cpu' });
  loaded.push(m);
  return m;
}

async function generate(m: LoadedModel, dir: string, input: Partial<GenerationRequestInput>, images: PipelineImages = {}): Promise<RgbaImage> {
  const request = GenerationRequest.parse({ model: dir, prompt: 'a castle on a hill', negativePrompt: 'blurry', seed: 11, steps: 3, width: 64, height: 64, ...input });
  return (await runPipeline(m, request, images)).candidates[0]!.image;
}

function gradient(size: number): RgbaImage {
  const data = new Uint8Array(size * size * 4);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) data.set([(x * 255) / size, (y * 255) / size, 128, 255], (y * size + x) * 4);
  return { width: size, height: size, data };
}

/** Largest per-channel difference in levels of 255. */
function maxLevel(a: RgbaImage, b: RgbaImage): number {
  expect([a.width, a.height]).toEqual([b.width, b.height]);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i]! - b.data[i]!));
  return m;
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-ckpt-sdxl-'));
});
afterAll(async () => {
  for (const m of loaded) await m.release();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('SDXL checkpoint import', () => {
  it('an SDXL single file imports as an SDXL model and generates the images of the same weights in the Optimum layout', async () => {
    const seen: ImportProgress[] = [];
    const out = await importCheckpoint(path.join(CKPT, 'sdxl-tiny.safetensors'), options('Tiny XL', { onProgress: (p) => seen.push(p) }));
    expect(out).toMatchObject({ name: 'Tiny XL', family: 'sdxl', inpainting: false, refiner: false, prediction: 'epsilon', source: { kind: 'single-file' } });
    expect(seen.map((p) => p.stage)).toEqual(['hash', 'text_encoder', 'text_encoder_2', 'unet', 'vae_encoder', 'vae_decoder', 'done']);
    expect(fs.readdirSync(out.path).sort()).toEqual(['model_index.json', 'scheduler', 'text_encoder', 'text_encoder_2', 'tokenizer', 'tokenizer_2', 'unet', 'vae_decoder', 'vae_encoder']);
    const index = JSON.parse(fs.readFileSync(path.join(out.path, 'model_index.json'), 'utf8')) as Record<string, unknown>;
    expect(index).toMatchObject({ _class_name: 'ORTStableDiffusionXLPipeline', force_zeros_for_empty_prompt: true, requires_aesthetics_score: false, atelier: { family: 'sdxl' } });
    const json = (f: string) => JSON.parse(fs.readFileSync(path.join(out.path, f), 'utf8')) as Record<string, unknown>;
    expect(json('vae_decoder/config.json')).toMatchObject({ scaling_factor: 0.13025, force_upcast: true });
    expect(json('text_encoder_2/config.json')).toMatchObject({ architectures: ['CLIPTextModelWithProjection'], projection_dim: 24, hidden_act: 'gelu' });
    expect(json('unet/config.json')).toMatchObject({ addition_embed_type: 'text_time', addition_time_embed_dim: 8, projection_class_embeddings_input_dim: 72, transformer_layers_per_block: [1, 1, 2] });
    expect(json('tokenizer_2/special_tokens_map.json')).toMatchObject({ pad_token: '!' });
    expect(json('tokenizer/special_tokens_map.json')).toMatchObject({ pad_token: '<|endoftext|>' });

    // the same weights in diffusers naming, written by the builder: the "Optimum layout" folder
    const ref = path.join(tmp, 'ref-sdxl');
    const vae = net('vae');
    writePipelineGraphs(ref, { textEncoder: net('clip'), textEncoder2: net('clip-bigg'), unet: net('unet-sdxl'), vae: { ...vae, config: { ...vae.config, scaling_factor: 0.13025, force_upcast: true } } }, { controlnetResiduals: true });
    for (const sub of ['tokenizer', 'tokenizer_2', 'scheduler']) fs.cpSync(path.join(out.path, sub), path.join(ref, sub), { recursive: true });
    fs.writeFileSync(path.join(ref, 'model_index.json'), JSON.stringify({ _class_name: 'ORTStableDiffusionXLPipeline', force_zeros_for_empty_prompt: true }));
    // the single file's tensors, remapped, are the builder's: the weight files are byte-equal
    for (const part of ['text_encoder', 'text_encoder_2', 'unet', 'vae_encoder', 'vae_decoder']) {
      expect(fs.readFileSync(path.join(out.path, part, 'model.onnx_data')).equals(fs.readFileSync(path.join(ref, part, 'model.onnx_data'))), part).toBe(true);
    }

    const [mi, mr] = [await open(out.path), await open(ref)];
    expect(mi.info).toMatchObject({ family: 'sdxl', unetInChannels: 4, acceptsControlnet: true });
    const a = await generate(mi, out.path, {});
    expect(maxLevel(a, await generate(mr, ref, {}))).toBeLessThanOrEqual(1);
    const init = gradient(64);
    const img2img = { init: { path: 'i.png' }, strength: 0.6 };
    const b = await generate(mi, out.path, img2img, { init });
    expect(maxLevel(b, await generate(mr, ref, img2img, { init }))).toBeLessThanOrEqual(1);
    // the images are pictures of something: not flat, and the two modes differ
    expect(maxLevel(a, b)).toBeGreaterThan(10);
  });
});
