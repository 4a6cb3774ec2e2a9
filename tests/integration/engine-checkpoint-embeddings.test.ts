import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerationRequest } from '../../app/contract/index.js';
import { applyEmbeddings, LoraError, readEmbedding } from '../../app/engine/checkpoint/index.js';
import { MemoryWeights, safetensorsWeights, writePipelineGraphs, type WeightSource } from '../../app/engine/graph/index.js';
import { toFloat32Values } from '../../app/engine/graph/weights.js';
import { loadModel, runPipeline, type LoadedModel, type RgbaImage } from '../../app/engine/index.js';

// Textual inversion (docs/models.md): the fixture embedding's two vectors, appended to the
// token table of a built folder and written in the prompt as its added tokens, give the image
// of a folder whose table has those vectors in place of the two tokens of "red" (517, 323 in
// the fixture vocabulary) prompted with "red".

const GRAPH = path.resolve('tests/fixtures/graph');
const EMB = path.resolve('tests/fixtures/checkpoint/embeddings/tiny-style.safetensors');
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

  it('refuses SDXL embeddings, other widths and files that are not embeddings, naming them', async () => {
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
    expect(() => readEmbedding(write('xl.safetensors', { clip_l: [2, 768], clip_g: [2, 1280] }))).toThrow(/xl\.safetensors is an SDXL embedding/);
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
