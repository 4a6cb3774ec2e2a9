import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerationRequest, type GenerationRequestInput } from '../../app/contract/index.js';
import { importCheckpoint, type ImportOptions, type ImportProgress } from '../../app/engine/checkpoint/index.js';
import { ldmUnetAliases } from '../../app/engine/checkpoint/lora-names.js';
import { MemoryWeights, readSafetensorsBytes, readSafetensorsHeader, safetensorsWeights, writePipelineGraphs, type WeightSource } from '../../app/engine/graph/index.js';
import { float16ToFloat32, float32ToFloat16 } from '../../app/engine/model/float16.js';
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

/** `base` with some weights replaced. */
function overlay(base: WeightSource, top: WeightSource): WeightSource {
  return { label: base.label, names: base.names, info: (n) => top.info(n) ?? base.info(n), read: (n) => (top.info(n) ? top.read(n) : base.read(n)) };
}

type Entry = { dtype: string; shape: number[]; bytes: Uint8Array };
const CODE: Record<string, string> = { float16: 'F16', float32: 'F32', int64: 'I64' };

/** The SDXL fixture file's tensors, changed by `edit` (null removes one), written as a new .safetensors. */
function rewriteFixture(name: string, edit: (key: string, e: Entry) => [string, Entry] | null): string {
  const src = path.join(CKPT, 'sdxl-tiny.safetensors');
  const out: [string, Entry][] = [];
  for (const [key, entry] of readSafetensorsHeader(src).entries) {
    const e = edit(key, { dtype: CODE[entry.dtype]!, shape: [...entry.shape], bytes: readSafetensorsBytes(src, entry) });
    if (e) out.push(e);
  }
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [key, e] of out) {
    header[key] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.bytes.byteLength] };
    offset += e.bytes.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const file = path.join(tmp, name);
  fs.writeFileSync(file, Buffer.concat([len, json, ...out.map(([, e]) => Buffer.from(e.bytes))]));
  return file;
}

/** Columns [from, from + n) of a row-major float16 matrix [rows, cols]. */
function columns(bytes: Uint8Array, rows: number, cols: number, from: number, n: number): Uint16Array {
  const v = new Uint16Array(bytes.slice().buffer);
  const out = new Uint16Array(rows * n);
  for (let r = 0; r < rows; r++) out.set(v.subarray(r * cols + from, r * cols + from + n), r * n);
  return out;
}

const f16bytes = (v: Uint16Array) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

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

  it('kohya SDXL LoRA names: every UNet module\'s original-layout path is the one the single file uses (lora-names.ts against the fixture script)', () => {
    const unet = net('unet-sdxl').weights.names();
    const aliases = ldmUnetAliases(unet);
    const modules = (names: Iterable<string>) => new Set([...names].map((n) => n.slice(0, n.lastIndexOf('.'))));
    const fileModules = modules([...readSafetensorsHeader(path.join(CKPT, 'sdxl-tiny.safetensors')).entries.keys()].filter((k) => k.startsWith('model.diffusion_model.')).map((k) => k.slice('model.diffusion_model.'.length)));
    expect(new Set(aliases.keys())).toEqual(fileModules);
    expect(new Set(aliases.values())).toEqual(modules(unet));
    expect(aliases.get('output_blocks.2.2.conv')).toBe('up_blocks.0.upsamplers.0.conv'); // after the attention
    expect(aliases.get('input_blocks.3.0.op')).toBe('down_blocks.0.downsamplers.0.conv');
  });

  it('an SDXL inpainting file (9-channel UNet) imports as SDXL inpainting and repaints as the same weights do', async () => {
    // the fixture's conv_in widened to 9 input channels (latents, mask, masked-image latents)
    const extra = float32ToFloat16(Float32Array.from({ length: 16 * 5 * 9 }, (_, i) => Math.sin(i * 12.9898) * 0.2));
    let wide: Uint16Array | undefined;
    const file = rewriteFixture('sdxl-inpaint-tiny.safetensors', (key, e) => {
      if (key !== 'model.diffusion_model.input_blocks.0.0.weight') return [key, e];
      const old = new Uint16Array(e.bytes.slice().buffer);
      wide = new Uint16Array(16 * 9 * 9);
      for (let o = 0; o < 16; o++) {
        wide.set(old.subarray(o * 36, o * 36 + 36), o * 81);
        wide.set(extra.subarray(o * 45, o * 45 + 45), o * 81 + 36);
      }
      return [key, { ...e, shape: [16, 9, 3, 3], bytes: f16bytes(wide) }];
    });
    const out = await importCheckpoint(file, options('XL inpaint'));
    expect(out).toMatchObject({ family: 'sdxl', inpainting: true, refiner: false });
    expect(JSON.parse(fs.readFileSync(path.join(out.path, 'model_index.json'), 'utf8'))).toMatchObject({ _class_name: 'ORTStableDiffusionXLInpaintPipeline' });

    const ref = path.join(tmp, 'ref-sdxl-inpaint');
    const unet = net('unet-sdxl');
    const convIn = new MemoryWeights('conv_in').set('conv_in.weight', float16ToFloat32(wide!), [16, 9, 3, 3]);
    const vae = net('vae');
    writePipelineGraphs(ref, { textEncoder: net('clip'), textEncoder2: net('clip-bigg'), unet: { config: { ...unet.config, in_channels: 9 }, weights: overlay(unet.weights, convIn) }, vae: { ...vae, config: { ...vae.config, scaling_factor: 0.13025, force_upcast: true } } });
    for (const sub of ['tokenizer', 'tokenizer_2', 'scheduler', 'model_index.json']) fs.cpSync(path.join(out.path, sub), path.join(ref, sub), { recursive: true });
    const [mi, mr] = [await open(out.path), await open(ref)];
    expect(mi.info).toMatchObject({ family: 'sdxl', unetInChannels: 9, inpainting: true });
    const mask: RgbaImage = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 4).map((_, i) => (i % 4 === 3 ? 255 : Math.floor(i / 4) % 64 >= 16 && Math.floor(i / 256) >= 16 && Math.floor(i / 256) < 48 ? 255 : 0)) };
    const input = { init: { path: 'i.png' }, inpaint: { mask: { path: 'm.png' } }, strength: 1 };
    const a = await generate(mi, out.path, input, { init: gradient(64), mask });
    expect(maxLevel(a, await generate(mr, ref, input, { init: gradient(64), mask }))).toBeLessThanOrEqual(1);
  });

  it('an SDXL refiner file (OpenCLIP-bigG alone at embedders.0, 5 time ids) imports as a refiner with the same images', async () => {
    // the base fixture made refiner-shaped: CLIP-L dropped, bigG moved to embedders.0, the UNet's
    // cross attention taking bigG's 48 features (the last 48 of 80) and add_embedding 24 + 5 · 8 inputs
    const file = rewriteFixture('sdxl-refiner-tiny.safetensors', (key, e) => {
      if (key.startsWith('conditioner.embedders.0.')) return null;
      if (key.startsWith('conditioner.embedders.1.')) return [key.replace('embedders.1.', 'embedders.0.'), e];
      if (/attn2\.to_[kv]\.weight$/.test(key)) return [key, { ...e, shape: [e.shape[0]!, 48], bytes: f16bytes(columns(e.bytes, e.shape[0]!, 80, 32, 48)) }];
      if (key === 'model.diffusion_model.label_emb.0.0.weight') return [key, { ...e, shape: [e.shape[0]!, 64], bytes: f16bytes(columns(e.bytes, e.shape[0]!, 72, 0, 64)) }];
      return [key, e];
    });
    const out = await importCheckpoint(file, options('XL refiner'));
    expect(out).toMatchObject({ family: 'sdxl', refiner: true, inpainting: false });
    expect(fs.readdirSync(out.path).sort()).toEqual(['model_index.json', 'scheduler', 'text_encoder_2', 'tokenizer_2', 'unet', 'vae_decoder', 'vae_encoder']);
    expect(JSON.parse(fs.readFileSync(path.join(out.path, 'model_index.json'), 'utf8'))).toMatchObject({ _class_name: 'ORTStableDiffusionXLImg2ImgPipeline', requires_aesthetics_score: true, force_zeros_for_empty_prompt: false });

    const unet = net('unet-sdxl');
    const sliced = new MemoryWeights('refiner');
    for (const name of unet.weights.names()) {
      const info = unet.weights.info(name)!;
      const cut = /attn2\.to_[kv]\.weight$/.test(name) ? [32, 48] : name === 'add_embedding.linear_1.weight' ? [0, 64] : undefined;
      if (cut) sliced.set(name, float16ToFloat32(columns(unet.weights.read(name), info.shape[0]!, info.shape[1]!, cut[0]!, cut[1]!)), [info.shape[0]!, cut[1]!]);
    }
    const ref = path.join(tmp, 'ref-sdxl-refiner');
    const vae = net('vae');
    writePipelineGraphs(ref, { textEncoder2: net('clip-bigg'), unet: { config: { ...unet.config, cross_attention_dim: 48, projection_class_embeddings_input_dim: 64 }, weights: overlay(unet.weights, sliced) }, vae: { ...vae, config: { ...vae.config, scaling_factor: 0.13025, force_upcast: true } } });
    for (const sub of ['tokenizer_2', 'scheduler', 'model_index.json']) fs.cpSync(path.join(out.path, sub), path.join(ref, sub), { recursive: true });
    for (const part of ['text_encoder_2', 'unet']) expect(fs.readFileSync(path.join(out.path, part, 'model.onnx_data')).equals(fs.readFileSync(path.join(ref, part, 'model.onnx_data'))), part).toBe(true);
    const [mi, mr] = [await open(out.path), await open(ref)];
    const init = gradient(64);
    const img2img = { init: { path: 'i.png' }, strength: 0.5 };
    expect(maxLevel(await generate(mi, out.path, img2img, { init }), await generate(mr, ref, img2img, { init }))).toBeLessThanOrEqual(1);
  });

  it('`atelier models import` takes the SDXL file with its sidecar: float16 weights equal to the builder\'s, the same image', async () => {
    const home = path.join(tmp, 'cli-home');
    const { stdout } = await promisify(execFile)(process.execPath, [path.resolve('bin/atelier.mjs'), 'models', 'import', path.join(CKPT, 'sdxl-tiny.safetensors'), '--name', 'XL cli', '--json'], { env: { ...process.env, ATELIER_HOME: home }, timeout: 180_000 });
    const out = JSON.parse(stdout) as { family: string; path: string };
    expect(out).toMatchObject({ family: 'sdxl', path: path.join(home, 'models', 'XL cli') });
    // the CLI's defaults: float16 storage, float32 compute, ControlNet-ready UNet
    const ref = path.join(tmp, 'ref-sdxl-cli');
    const vae = net('vae');
    writePipelineGraphs(ref, { textEncoder: net('clip'), textEncoder2: net('clip-bigg'), unet: net('unet-sdxl'), vae: { ...vae, config: { ...vae.config, scaling_factor: 0.13025, force_upcast: true } } }, { dtype: 'float16', compute: 'float32', controlnetResiduals: true });
    for (const part of ['text_encoder', 'text_encoder_2', 'unet', 'vae_encoder', 'vae_decoder']) {
      expect(fs.readFileSync(path.join(out.path, part, 'model.onnx_data')).equals(fs.readFileSync(path.join(ref, part, 'model.onnx_data'))), part).toBe(true);
    }
    for (const sub of ['tokenizer', 'tokenizer_2', 'scheduler', 'model_index.json']) fs.cpSync(path.join(out.path, sub), path.join(ref, sub), { recursive: true });
    expect(JSON.parse(fs.readFileSync(path.join(out.path, 'tokenizer_2', 'special_tokens_map.json'), 'utf8'))).toMatchObject({ pad_token: '!' });
    const [mi, mr] = [await open(out.path), await open(ref)];
    expect(maxLevel(await generate(mi, out.path, {}), await generate(mr, ref, {}))).toBeLessThanOrEqual(1);
  });

  it('an SDXL diffusers folder of .safetensors (text_encoder_2/, tokenizer_2/) imports to the same weights', async () => {
    const folder = path.join(tmp, 'diffusers-sdxl');
    const vae = net('vae');
    for (const [sub, from, file] of [['unet', 'unet-sdxl', 'diffusion_pytorch_model.safetensors'], ['vae', 'vae', 'diffusion_pytorch_model.safetensors'], ['text_encoder', 'clip', 'model.safetensors'], ['text_encoder_2', 'clip-bigg', 'model.safetensors']]) {
      fs.mkdirSync(path.join(folder, sub!), { recursive: true });
      fs.copyFileSync(path.join(GRAPH, from!, 'model.safetensors'), path.join(folder, sub!, file!));
      fs.copyFileSync(path.join(GRAPH, from!, 'config.json'), path.join(folder, sub!, 'config.json'));
    }
    fs.writeFileSync(path.join(folder, 'vae', 'config.json'), JSON.stringify({ ...vae.config, scaling_factor: 0.13025, force_upcast: true }));
    for (const sub of ['tokenizer', 'tokenizer_2', 'scheduler']) fs.cpSync(path.join(path.dirname(TOKENIZER), sub), path.join(folder, sub), { recursive: true });
    const out = await importCheckpoint(folder, { modelsDir: path.join(tmp, 'models'), name: 'xl-folder', dtype: 'float32', compute: 'float32', tokenizer: { clipBpe: '/nonexistent' } });
    expect(out).toMatchObject({ family: 'sdxl', refiner: false, source: { kind: 'diffusers-folder' } });
    const ref = path.join(tmp, 'ref-sdxl-folder');
    writePipelineGraphs(ref, { textEncoder: net('clip'), textEncoder2: net('clip-bigg'), unet: net('unet-sdxl'), vae: { ...vae, config: { ...vae.config, scaling_factor: 0.13025, force_upcast: true } } }, { controlnetResiduals: true });
    for (const part of ['text_encoder', 'text_encoder_2', 'unet', 'vae_encoder', 'vae_decoder']) {
      expect(fs.readFileSync(path.join(out.path, part, 'model.onnx_data')).equals(fs.readFileSync(path.join(ref, part, 'model.onnx_data'))), part).toBe(true);
    }
    // the folder's own tokenizers, tokenizer_2 padding with "!"
    expect(fs.readFileSync(path.join(out.path, 'tokenizer_2', 'special_tokens_map.json'), 'utf8')).toBe(fs.readFileSync(path.join(folder, 'tokenizer_2', 'special_tokens_map.json'), 'utf8'));
    expect(JSON.parse(fs.readFileSync(path.join(out.path, 'vae_decoder', 'config.json'), 'utf8'))).toMatchObject({ scaling_factor: 0.13025, force_upcast: true });
    expect((await open(out.path)).info).toMatchObject({ family: 'sdxl' });
  });
});
