import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerationRequest } from '../../app/contract/index.js';
import { applyEmbeddings, LoraError, readEmbedding } from '../../app/engine/checkpoint/index.js';
import { MemoryWeights, safetensorsWeights, writePipelineGraphs, type WeightSource } from '../../app/engine/graph/index.js';
import { toFloat32Values } from '../../app/engine/graph/weights.js';
import { loadModel, runPipeline, type LoadedModel, type RgbaImage } from '../../app/engine/index.js';
import { ClipTokenizer } from '../../app/engine/tokenizer/clip-tokenizer.js';

// Textual inversion (docs/models.md): the fixture embedding's two vectors, appended to the
// token table of a built folder and written in the prompt as its added tokens, give the image
// of a folder whose table has those vectors in place of the two tokens of "red" (517, 323 in
// the fixture vocabulary) prompted with "red" — and for SDXL, clip_l's and clip_g's in the two
// encoders' tables at once.

const GRAPH = path.resolve('tests/fixtures/graph');
const EMB = path.resolve('tests/fixtures/checkpoint/embeddings/tiny-style.safetensors');
const EMB_XL = path.resolve('tests/fixtures/checkpoint/embeddings/tiny-xl-style.safetensors');
const MODELS = path.resolve('tests/fixtures/models');
const TABLE = 'text_model.embeddings.token_embedding.weight';
let tmp: string;
const loaded: LoadedModel[] = [];

function folder(name: string, clip: WeightSource): string {
  const dir = path.join(tmp, name);
  const cfg = (n: string) => JSON.parse(fs.readFileSync(path.join(GRAPH, n, 'config.json'), 'utf8')) as Record<string, unknown>;
  writePipelineGraphs(dir, {
    textEncoder: { config: cfg('clip'), weights: clip },
    unet: { config: cfg('unet-sd1'), weights: safetensorsWeights(path.join(GRAPH, 'unet-sd1', 'model.safetensors')) },
    vae: { config: cfg('vae'), weights: safetensorsWeights(path.join(GRAPH, 'vae', 'model.safetensors')) },
  });
  for (const sub of ['tokenizer', 'scheduler']) fs.cpSync(path.join(MODELS, 'sd1-tiny', sub), path.join(dir, sub), { recursive: true });
  fs.writeFileSync(path.join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'OnnxStableDiffusionPipeline' }));
  return dir;
}

async function generate(dir: string, prompt: string): Promise<RgbaImage> {
  const m = await loadModel(dir, { device: 'cpu' });
  loaded.push(m);
  const request = GenerationRequest.parse({ model: dir, prompt, negativePrompt: '', seed: 5, steps: 2 });
  return (await runPipeline(m, request, {})).candidates[0]!.image;
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-emb-'));
});
afterAll(async () => {
  for (const m of loaded) await m.release();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('textual-inversion embeddings', () => {
  it('extend the token table: the embedding\'s tokens give the image of those vectors in the table', async () => {
    const clip = safetensorsWeights(path.join(GRAPH, 'clip', 'model.safetensors'));
    const base = folder('base', clip);
    const emb = readEmbedding(EMB);
    expect(emb).toMatchObject({ name: 'tiny-style', count: 2, width: 32 });
    const out = await applyEmbeddings(base, [emb], path.join(tmp, 'cache'));
    expect(out.replacements).toEqual({ 'tiny-style': '<emb_tiny-style_0><emb_tiny-style_1>' });
    expect(await applyEmbeddings(base, [emb], path.join(tmp, 'cache'))).toMatchObject({ dir: out.dir, cached: true });

    // the reference: rows 517 and 323 ("red") replaced by the vectors
    const info = clip.info(TABLE)!;
    const table = toFloat32Values(clip.read(TABLE), info.dtype);
    table.set(emb.vectors.subarray(0, 32), 517 * 32);
    table.set(emb.vectors.subarray(32, 64), 323 * 32);
    const swapped = new MemoryWeights('swapped').set(TABLE, table, info.shape);
    const overlay: WeightSource = { label: 'clip', names: clip.names, info: (n) => (n === TABLE ? swapped.info(n) : clip.info(n)), read: (n) => (n === TABLE ? swapped.read(n) : clip.read(n)) };
    const reference = folder('reference', overlay);

    const withEmbedding = await generate(out.dir, `a ${out.replacements['tiny-style']!} house`);
    const plain = await generate(base, 'a red house');
    expect(Buffer.from(withEmbedding.data).equals(Buffer.from(await generate(reference, 'a red house').then((i) => i.data)))).toBe(true);
    expect(Buffer.from(withEmbedding.data).equals(Buffer.from(plain.data))).toBe(false);
  });

  it('SDXL: clip_l extends text_encoder and clip_g text_encoder_2, each table as SD\'s does', async () => {
    const red = (await ClipTokenizer.fromFolder(path.join(MODELS, 'sdxl-tiny', 'tokenizer'))).tokenize('red');
    expect(red).toHaveLength(2); // the embedding's two vectors stand in for these two tokens
    const emb = readEmbedding(EMB_XL);
    expect(emb).toMatchObject({ name: 'tiny-xl-style', count: 2, width: 32, second: { width: 48 } });
    const net = (n: string) => ({ config: JSON.parse(fs.readFileSync(path.join(GRAPH, n, 'config.json'), 'utf8')) as Record<string, unknown>, weights: safetensorsWeights(path.join(GRAPH, n, 'model.safetensors')) });
    /** An SDXL folder whose two token tables are `tables` (the fixtures' where not given). */
    const xlFolder = (name: string, tables: { clip?: Float32Array; bigg?: Float32Array } = {}): string => {
      const dir = path.join(tmp, name);
      const swap = (n: string, table: Float32Array | undefined) => {
        const src = net(n);
        if (!table) return src;
        const swapped = new MemoryWeights('swapped').set(TABLE, table, src.weights.info(TABLE)!.shape);
        return { config: src.config, weights: { label: n, names: src.weights.names, info: (k: string) => (k === TABLE ? swapped.info(k) : src.weights.info(k)), read: (k: string) => (k === TABLE ? swapped.read(k) : src.weights.read(k)) } as WeightSource };
      };
      const vae = net('vae');
      writePipelineGraphs(dir, { textEncoder: swap('clip', tables.clip), textEncoder2: swap('clip-bigg', tables.bigg), unet: net('unet-sdxl'), vae: { ...vae, config: { ...vae.config, scaling_factor: 0.13025, force_upcast: true } } });
      for (const sub of ['tokenizer', 'tokenizer_2', 'scheduler', 'model_index.json']) fs.cpSync(path.join(MODELS, 'sdxl-tiny', sub), path.join(dir, sub), { recursive: true });
      return dir;
    };
    const base = xlFolder('xl-base');
    const out = await applyEmbeddings(base, [emb], path.join(tmp, 'cache-xl'));
    expect(out.replacements).toEqual({ 'tiny-xl-style': '<emb_tiny-xl-style_0><emb_tiny-xl-style_1>' });
    for (const tok of ['tokenizer', 'tokenizer_2']) expect(JSON.parse(fs.readFileSync(path.join(out.dir, tok, 'added_tokens.json'), 'utf8'))).toEqual({ '<emb_tiny-xl-style_0>': 1000, '<emb_tiny-xl-style_1>': 1001 });

    // the reference: in each table the rows of "red" replaced by that encoder's vectors
    const table = (n: string, vectors: Float32Array, width: number) => {
      const w = net(n).weights;
      const values = toFloat32Values(w.read(TABLE), w.info(TABLE)!.dtype);
      red.forEach((id, i) => values.set(vectors.subarray(i * width, (i + 1) * width), id * width));
      return values;
    };
    const reference = xlFolder('xl-reference', { clip: table('clip', emb.vectors, 32), bigg: table('clip-bigg', emb.second!.vectors, 48) });
    const generateXl = async (dir: string, prompt: string) => {
      const m = await loadModel(dir, { device: 'cpu' });
      loaded.push(m);
      const request = GenerationRequest.parse({ model: dir, prompt, negativePrompt: '', seed: 5, steps: 2, width: 64, height: 64, cfg: 5, sampler: 'euler' });
      return (await runPipeline(m, request, {})).candidates[0]!.image;
    };
    const withEmbedding = await generateXl(out.dir, `a ${out.replacements['tiny-xl-style']!} house`);
    expect(Buffer.from(withEmbedding.data).equals(Buffer.from((await generateXl(reference, 'a red house')).data))).toBe(true);
    expect(Buffer.from(withEmbedding.data).equals(Buffer.from((await generateXl(base, 'a red house')).data))).toBe(false);

    // an SD embedding on the SDXL model, and the SDXL one on an SD model, are refused by name
    await expect(applyEmbeddings(base, [readEmbedding(EMB)], path.join(tmp, 'cache-xl2'))).rejects.toThrow(/tiny-style\.safetensors is an SD 1\.x\/2\.x embedding; this SDXL model takes SDXL embeddings/);
    await expect(applyEmbeddings(folder('base-sd', safetensorsWeights(path.join(GRAPH, 'clip', 'model.safetensors'))), [emb], path.join(tmp, 'cache-xl3'))).rejects.toThrow(/tiny-xl-style\.safetensors is an SDXL embedding/);
  });

  it('refuses other widths and files that are not embeddings, naming them', async () => {
    const write = (name: string, tensors: Record<string, number[]>) => {
      const header: Record<string, unknown> = {};
      let offset = 0;
      for (const [k, shape] of Object.entries(tensors)) {
        const n = shape.reduce((a, b) => a * b, 1) * 4;
        header[k] = { dtype: 'F32', shape, data_offsets: [offset, offset + n] };
        offset += n;
      }
      const json = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      const file = path.join(tmp, name);
      fs.writeFileSync(file, Buffer.concat([len, json, Buffer.alloc(offset)]));
      return file;
    };
    expect(() => readEmbedding(write('half-xl.safetensors', { clip_l: [2, 768] }))).toThrow(/half-xl\.safetensors is an SDXL embedding with only clip_l/);
    expect(() => readEmbedding(write('odd-xl.safetensors', { clip_l: [2, 768], clip_g: [3, 1280] }))).toThrow(/clip_l has 2 vectors and clip_g 3/);
    expect(() => readEmbedding(write('lora.safetensors', { 'lora_unet_x.lora_down.weight': [4, 4] }))).toThrow(/lora\.safetensors is not a textual-inversion embedding/);
    const wide = readEmbedding(write('sd2-style.safetensors', { emb_params: [3, 1024] }));
    let caught: unknown;
    try {
      await applyEmbeddings(folder('base2', safetensorsWeights(path.join(GRAPH, 'clip', 'model.safetensors'))), [wide], path.join(tmp, 'cache2'));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(LoraError);
    expect((caught as Error).message).toMatch(/embedding sd2-style\.safetensors is 1024 wide, this model's text encoder 32/);
    expect(fs.existsSync(path.join(tmp, 'cache2'))).toBe(false);
  });
});
