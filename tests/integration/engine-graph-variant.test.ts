import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCheckpoint, type ImportOptions } from '../../app/engine/checkpoint/index.js';
import { applyEmbeddings, readEmbedding } from '../../app/engine/checkpoint/embeddings.js';
import { readBuiltGraph, readModelProto, rebuildGraph, writeGraphOnto } from '../../app/engine/graph/index.js';
import { listModelFiles, hashModelFiles } from '../../app/library/model-hash.js';
import { providerGraph, variantFor } from '../../app/engine/model/provider-graph.js';

// Graphs per provider (issue 16, docs/engine.md "Graphs per provider"): a folder the graph
// builder wrote (an import: float16 weights, float32 compute) is built again for a GPU
// provider to compute in float16 with its fused operators, over the same weight file. Proven
// here on the CPU: the options read back from a stored graph build it again byte for byte, and
// the float16 graph takes every weight from the existing file, casts nothing, and is kept
// beside the graph under a hidden name that leaves the model's hash alone. Its numbers are
// checked on WebGPU (tests/integration/engine-webgpu.test.ts, lavapipe where present).

const CKPT = path.resolve('tests/fixtures/checkpoint');
let tmp: string;
let sd1: string;
let sdxl: string;
const PARTS_SD1 = ['text_encoder', 'unet', 'vae_encoder', 'vae_decoder'];
const PARTS_XL = ['text_encoder', 'text_encoder_2', 'unet', 'vae_encoder', 'vae_decoder'];

function options(name: string, sidecar: string, extra: Partial<ImportOptions> = {}): ImportOptions {
  const side = JSON.parse(fs.readFileSync(path.join(CKPT, sidecar), 'utf8')) as { hints: ImportOptions['hints']; tokenizer: string };
  return { modelsDir: path.join(tmp, 'models'), name, tokenizer: { dir: path.resolve(CKPT, side.tokenizer) }, hints: side.hints, ...extra };
}

type Node = { opType: string; input?: string[]; domain?: string };
type Init = { name: string; dataType: number; externalData?: { key: string; value: string }[] };
const graphOf = (file: string) => readModelProto(file).graph as { node: Node[]; initializer: Init[]; input: { name: string; type: unknown }[]; output: { name: string; type: unknown }[] };

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-variant-'));
  sd1 = (await importCheckpoint(path.join(CKPT, 'sd1-tiny.safetensors'), options('sd1', 'sd1-tiny.atelier.json'))).path;
  sdxl = (await importCheckpoint(path.join(CKPT, 'sdxl-tiny.safetensors'), options('xl', 'sdxl-tiny.atelier.json'))).path;
}, 120_000);

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('a stored graph built again', () => {
  it('is the same graph, byte for byte, when built as it was (the options read back are right)', () => {
    for (const [dir, parts] of [[sd1, PARTS_SD1], [sdxl, PARTS_XL]] as const) {
      for (const part of parts) {
        const file = path.join(dir, part, 'model.onnx');
        const g = readBuiltGraph(file)!;
        expect(g, `${part} read back`).toBeDefined();
        const again = path.join(dir, part, '.again.onnx');
        writeGraphOnto(rebuildGraph(g, { compute: 'float32', fused: 'none' }, part), g.index, again);
        expect(Buffer.compare(fs.readFileSync(again), fs.readFileSync(file)), `${path.basename(dir)}/${part}`).toBe(0);
        fs.rmSync(again);
      }
    }
  });

  it('is not read as built when it is an exported graph', () => {
    expect(readBuiltGraph(path.resolve('resources/models/starter/unet/model.onnx'))).toBeUndefined();
    expect(providerGraph(path.resolve('resources/models/starter/unet/model.onnx'), 'webgpu')).toEqual({ file: path.resolve('resources/models/starter/unet/model.onnx') });
  });
});

describe('the graph a provider runs', () => {
  it('is the stored graph on the CPU, for float32 weights and for a VAE that must upcast', () => {
    const unet = readBuiltGraph(path.join(sd1, 'unet', 'model.onnx'))!;
    expect(variantFor('cpu', unet)).toBeUndefined();
    expect(variantFor('webgpu', unet)).toEqual({ compute: 'float16', fused: 'webgpu' });
    expect(variantFor('cuda', unet)).toEqual({ compute: 'float16', fused: 'cuda' });
    expect(variantFor('dml', unet)).toEqual({ compute: 'float16', fused: 'none' });
    expect(unet.compute).toBe('float32');
    expect(variantFor('webgpu', { ...unet, index: { ...unet.index, storage: 'float32' } })).toBeUndefined();
    // built to compute in float16 on purpose: run as it is, with the operators it has
    expect(variantFor('webgpu', { ...unet, compute: 'float16' })).toBeUndefined();
    // SDXL's VAE overflows in float16: force_upcast keeps it as stored
    const xlVae = readBuiltGraph(path.join(sdxl, 'vae_decoder', 'model.onnx'))!;
    expect(xlVae.config.force_upcast).toBe(true);
    expect(variantFor('webgpu', xlVae)).toBeUndefined();
    expect(providerGraph(path.join(sdxl, 'vae_decoder', 'model.onnx'), 'webgpu').file).toBe(path.join(sdxl, 'vae_decoder', 'model.onnx'));
    expect(variantFor('webgpu', readBuiltGraph(path.join(sd1, 'vae_decoder', 'model.onnx'))!)).toMatchObject({ compute: 'float16' });
  });

  it('is the stored graph where an import was built to compute in float16', async () => {
    const half = (await importCheckpoint(path.join(CKPT, 'sd1-tiny.safetensors'), options('sd1-half', 'sd1-tiny.atelier.json', { compute: 'float16' }))).path;
    const file = path.join(half, 'unet', 'model.onnx');
    expect(readBuiltGraph(file)!.compute).toBe('float16');
    expect(providerGraph(file, 'webgpu')).toEqual({ file });
  }, 60_000);

  it('computes in float16 with the fused operators, from the very weight bytes of the stored graph', () => {
    const hashBefore = hashModelFiles(listModelFiles(sd1));
    for (const part of PARTS_SD1) {
      const file = path.join(sd1, part, 'model.onnx');
      const chosen = providerGraph(file, 'webgpu');
      expect(chosen.compute).toBe('float16');
      expect(path.dirname(chosen.file)).toBe(path.dirname(file));
      expect(path.basename(chosen.file)).toMatch(/^\.model\.onnx\.webgpu-f16-[0-9a-f]{16}\.onnx$/);
      const stored = graphOf(file);
      const variant = graphOf(chosen.file);
      // the same inputs and outputs, so the pipeline feeds it as it feeds the stored graph
      expect(variant.input).toEqual(stored.input);
      expect(variant.output).toEqual(stored.output);
      // the stored graph casts its float16 weights up; the variant takes them as they are
      const inits = (g: typeof stored) => new Set(g.initializer.filter((i) => i.externalData?.length).map((i) => i.name));
      const castsOfWeights = (g: typeof stored) => g.node.filter((n) => n.opType === 'Cast' && inits(g).has(n.input?.[0] ?? '')).length;
      expect(castsOfWeights(stored)).toBeGreaterThan(0);
      expect(castsOfWeights(variant)).toBe(0);
      // every external weight points into the stored data file at a range the stored graph uses
      const ranges = (g: typeof stored) => new Set(g.initializer.filter((i) => i.externalData?.length).map((i) => i.externalData!.map((kv) => `${kv.key}=${kv.value}`).join(';')));
      const storedRanges = ranges(stored);
      for (const r of ranges(variant)) expect(storedRanges.has(r), `${part}: ${r}`).toBe(true);
      // the fixture's 4-wide heads keep attention plain on WebGPU (multiHeadAttentionFits); its other fusions are there
      if (part === 'unet') expect(variant.node.some((n) => n.opType === 'SkipLayerNormalization' && n.domain === 'com.microsoft')).toBe(true);
    }
    // hidden beside the graph: the model's content hash (history, A1111 hashes) is unchanged
    expect(hashModelFiles(listModelFiles(sd1))).toBe(hashBefore);
  });

  it('is built for every GPU provider and every part of SD 1.x and SDXL imports', () => {
    for (const ep of ['webgpu', 'cuda', 'dml', 'coreml']) {
      for (const [dir, parts] of [[sd1, PARTS_SD1], [sdxl, PARTS_XL]] as const) {
        for (const part of parts) {
          const chosen = providerGraph(path.join(dir, part, 'model.onnx'), ep);
          const upcast = dir === sdxl && part.startsWith('vae_');
          expect(chosen, `${ep} ${path.basename(dir)}/${part}`).toMatchObject(upcast ? { file: path.join(dir, part, 'model.onnx') } : { compute: 'float16' });
          expect(chosen.note).toBeUndefined();
        }
      }
    }
  });

  it('is written once and reused; a changed graph gets a new one and the old one goes', () => {
    const file = path.join(sd1, 'unet', 'model.onnx');
    const first = providerGraph(file, 'webgpu').file;
    const mtime = fs.statSync(first).mtimeMs;
    expect(providerGraph(file, 'webgpu').file).toBe(first);
    expect(fs.statSync(first).mtimeMs).toBe(mtime);
    // another provider: its own file beside
    const cuda = providerGraph(file, 'cuda').file;
    expect(cuda).not.toBe(first);
    expect(graphOf(cuda).node.some((n) => n.opType === 'GroupNorm')).toBe(true);
    expect(graphOf(cuda).node.some((n) => n.opType === 'MultiHeadAttention')).toBe(true);
    // config.json edited (what embeddings do to vocab_size): rebuilt, and the stale one removed
    const configFile = path.join(sd1, 'unet', 'config.json');
    const config = fs.readFileSync(configFile, 'utf8');
    try {
      fs.writeFileSync(configFile, `${config}\n`);
      const again = providerGraph(file, 'webgpu').file;
      expect(again).not.toBe(first);
      expect(fs.existsSync(first)).toBe(false);
    } finally {
      fs.writeFileSync(configFile, config);
    }
  });

  it('builds the text encoder of an embeddings copy with its longer token table', async () => {
    const embedding = fs.readdirSync(path.join(CKPT, 'embeddings')).find((f) => f.endsWith('.safetensors') && !/xl/i.test(f))!;
    const e = readEmbedding(path.join(CKPT, 'embeddings', embedding));
    const copy = await applyEmbeddings(sd1, [e], path.join(tmp, 'emb-cache'));
    const file = path.join(copy.dir, 'text_encoder', 'model.onnx');
    const chosen = providerGraph(file, 'webgpu');
    expect(chosen.compute).toBe('float16');
    const table = (g: ReturnType<typeof graphOf>) => g.initializer.find((i) => i.name.startsWith('text_model.embeddings.token_embedding.weight')) as unknown as { dims: number[] };
    expect(table(graphOf(chosen.file)).dims).toEqual(table(graphOf(file)).dims);
  });

  it('runs the stored graph, saying why, where the folder cannot be written', () => {
    if (process.getuid?.() === 0) return; // root writes anyway
    const dir = path.join(sdxl, 'text_encoder_2');
    fs.chmodSync(dir, 0o555);
    try {
      const chosen = providerGraph(path.join(dir, 'model.onnx'), 'webgpu');
      expect(chosen.file).toBe(path.join(dir, 'model.onnx'));
      expect(chosen.note).toMatch(/float16 graph for webgpu not written/);
    } finally {
      fs.chmodSync(dir, 0o755);
    }
  });
});
