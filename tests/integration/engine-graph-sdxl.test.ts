import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClipTextEncoder, buildControlNet, buildUnet, clipWeightShapes, parseClipConfig, parseUnetConfig, parseVaeConfig, readModelProto, unetWeightShapes, vaeWeightShapes, readSafetensorsBytes, readSafetensorsHeader, safetensorsWeights, writeModel, writePipelineGraphs, type BuiltGraph } from '../../app/engine/graph/index.js';
import { float16ToFloat32, float32ToFloat16 } from '../../app/engine/model/float16.js';

// SDXL in the graph builder (issue 14) against PyTorch on the same weights
// (tests/fixtures/graph/{clip-bigg,unet-sdxl}, written by graph_fixtures.py's SDXL section):
// OpenCLIP-bigG as CLIPTextModelWithProjection (GELU, text_embeds through text_projection at
// the end-of-text token, every hidden state) and the SDXL UNet (no attention in the first down
// block, linear projections, per-block transformer depth, text_embeds + time_ids through
// add_time_proj/add_embedding, ControlNet residual inputs). docs/graph-builder.md, "SDXL".

const FIXTURES = path.resolve('tests/fixtures/graph');
// Largest |graph − torch| as a fraction of the reference's largest |value| (at least 1), as in
// engine-graph.test.ts: float32 2e-5, float16 weights/IO/compute 2e-3.
const MODES = [
  { label: 'float32', dtype: 'float32', compute: 'float32', tol: 2e-5 },
  { label: 'float16', dtype: 'float16', compute: 'float16', tol: 2e-3 },
] as const;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-graph-sdxl-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const config = (net: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, net, 'config.json'), 'utf8')) as Record<string, unknown>;
const weights = (net: string) => safetensorsWeights(path.join(FIXTURES, net, 'model.safetensors'));

type Ref = { shape: number[]; data: Float32Array | BigInt64Array };
function io(net: string): Map<string, Ref> {
  const file = path.join(FIXTURES, net, 'io.safetensors');
  const out = new Map<string, Ref>();
  for (const [name, entry] of readSafetensorsHeader(file).entries) {
    const bytes = readSafetensorsBytes(file, entry).slice();
    out.set(name, { shape: entry.shape, data: entry.dtype === 'int64' ? new BigInt64Array(bytes.buffer) : new Float32Array(bytes.buffer) });
  }
  return out;
}

let counter = 0;
async function run(built: BuiltGraph, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const written = writeModel(path.join(tmp, `${built.name}-${counter++}`), built);
  const session = await ort.InferenceSession.create(written.file);
  try {
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.type === 'float16' ? float16ToFloat32(t.data as Uint16Array) : (t.data as Float32Array)]));
  } finally {
    await session.release();
  }
}

function tensor(v: Ref, type: 'float32' | 'float16' | 'int64' = 'float32'): ort.Tensor {
  if (type === 'int64') return new ort.Tensor('int64', v.data as BigInt64Array, v.shape);
  if (type === 'float16') return new ort.Tensor('float16', float32ToFloat16(v.data as Float32Array), v.shape);
  return new ort.Tensor('float32', v.data as Float32Array, v.shape);
}

/** Largest |got − want| over the reference's scale (at least 1); NaN fails. */
function relDiff(got: Float32Array | undefined, want: Ref | undefined): number {
  expect(got).toBeDefined();
  expect(want).toBeDefined();
  const w = want!.data as Float32Array;
  expect(got!.length).toBe(w.length);
  let m = 0;
  let s = 0;
  for (let i = 0; i < w.length; i++) {
    const d = Math.abs(got![i]! - w[i]!);
    if (!(d <= m)) m = d;
    s = Math.max(s, Math.abs(w[i]!));
  }
  return m / Math.max(1, s);
}

function scale(want: Ref | undefined): number {
  let m = 0;
  for (const v of want!.data as Float32Array) m = Math.max(m, Math.abs(v));
  return m;
}

describe.each(MODES)('SDXL graphs equal PyTorch on the same weights ($label)', (mode) => {
  const opts = { dtype: mode.dtype, compute: mode.compute };
  const float = (v: Ref) => tensor(v, mode.dtype);

  it('OpenCLIP-bigG (CLIPTextModelWithProjection): text_embeds, last hidden state, penultimate and last hidden states', async () => {
    const ref = io('clip-bigg');
    const out = await run(buildClipTextEncoder(config('clip-bigg'), weights('clip-bigg'), opts), { input_ids: tensor(ref.get('input_ids')!, 'int64') });
    // what app/engine/model/text-encoder-layout.ts reads from text_encoder_2: text_embeds and hidden_states.N
    expect(Object.keys(out).sort()).toEqual(['hidden_states.0', 'hidden_states.1', 'hidden_states.2', 'hidden_states.3', 'last_hidden_state', 'text_embeds']);
    for (const [got, want] of [['text_embeds', 'text_embeds'], ['last_hidden_state', 'last_hidden_state'], ['hidden_states.2', 'penultimate'], ['hidden_states.3', 'last_state']] as const) {
      expect(scale(ref.get(want))).toBeGreaterThan(0.5);
      expect(relDiff(out[got], ref.get(want)), got).toBeLessThan(mode.tol);
    }
  });

  it('SDXL UNet: noise prediction from text_embeds and time_ids, without and with ControlNet residuals', async () => {
    const ref = io('unet-sdxl');
    const base: Record<string, ort.Tensor> = {
      sample: float(ref.get('sample')!),
      timestep: tensor(ref.get('timestep')!),
      encoder_hidden_states: float(ref.get('encoder_hidden_states')!),
      text_embeds: float(ref.get('text_embeds')!),
      time_ids: tensor(ref.get('time_ids')!),
    };
    const plain = await run(buildUnet(config('unet-sdxl'), weights('unet-sdxl'), { ...opts, textEmbedsDim: 24 }), base);
    expect(scale(ref.get('out_sample'))).toBeGreaterThan(0.5);
    expect(relDiff(plain.out_sample, ref.get('out_sample'))).toBeLessThan(mode.tol);
    if (mode.dtype === 'float16') return; // the residual wiring is the SD UNet's, tested in float32 here
    const feeds: Record<string, ort.Tensor> = { ...base, mid_block_additional_residual: float(ref.get('mid_block_additional_residual')!) };
    for (const [name, value] of ref) if (/^down_block_\d+_additional_residual$/.test(name)) feeds[name] = float(value);
    const withResiduals = await run(buildUnet(config('unet-sdxl'), weights('unet-sdxl'), { ...opts, controlnetResiduals: true }), feeds);
    expect(relDiff(withResiduals.out_sample, ref.get('out_sample_with_residuals'))).toBeLessThan(mode.tol);
    expect(relDiff(plain.out_sample, ref.get('out_sample_with_residuals'))).toBeGreaterThan(10 * mode.tol);
  });
});

describe('SDXL ControlNet equals PyTorch (float32)', () => {
  it('every residual of an SDXL-config ControlNet (added embedding, per-block depth, no attention in the first block)', async () => {
    const ref = io('controlnet-sdxl');
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of ['sample', 'timestep', 'encoder_hidden_states', 'controlnet_cond', 'conditioning_scale', 'text_embeds', 'time_ids']) feeds[name] = tensor(ref.get(name)!);
    const out = await run(buildControlNet(config('controlnet-sdxl'), weights('controlnet-sdxl')), feeds);
    const names = [...ref.keys()].filter((n) => /res_sample/.test(n));
    expect(names).toHaveLength(10);
    expect(Object.keys(out).sort()).toEqual([...names].sort());
    for (const name of names) {
      expect(scale(ref.get(name))).toBeGreaterThan(0.05);
      expect(relDiff(out[name], ref.get(name)), name).toBeLessThan(2e-5);
    }
  });
});

describe('SDXL graphs: what the added conditioning does', () => {
  it('time_ids and text_embeds change the prediction (a UNet that ignored them would pass nothing above by chance)', async () => {
    const ref = io('unet-sdxl');
    const feeds = (timeIds: Ref, text: Ref) => ({
      sample: tensor(ref.get('sample')!),
      timestep: tensor(ref.get('timestep')!),
      encoder_hidden_states: tensor(ref.get('encoder_hidden_states')!),
      text_embeds: tensor(text),
      time_ids: tensor(timeIds),
    });
    const built = () => buildUnet(config('unet-sdxl'), weights('unet-sdxl'));
    const base = await run(built(), feeds(ref.get('time_ids')!, ref.get('text_embeds')!));
    const swapped = ref.get('time_ids')!.data.slice() as Float32Array;
    swapped.copyWithin(0, 6, 12); // row 0 gets row 1's sizes and crop
    const otherIds = await run(built(), feeds({ shape: [2, 6], data: swapped }, ref.get('text_embeds')!));
    const otherText = await run(built(), feeds(ref.get('time_ids')!, { shape: [2, 24], data: (ref.get('text_embeds')!.data as Float32Array).map((v) => -v) }));
    const diff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
    const half = base.out_sample!.length / 2;
    expect(diff(base.out_sample!.subarray(0, half), otherIds.out_sample!.subarray(0, half))).toBeGreaterThan(1e-3);
    expect(diff(base.out_sample!.subarray(half), otherIds.out_sample!.subarray(half))).toBe(0); // row 1 unchanged
    expect(diff(base.out_sample!, otherText.out_sample!)).toBeGreaterThan(1e-3);
  });

  it('the refiner layout: 5 time ids when text_encoder_2 says text_embeds is 32 wide (72 = 32 + 5 · 8)', () => {
    const cfg = { ...config('unet-sdxl'), projection_class_embeddings_input_dim: 72 };
    const proto = readModelProto(writeModel(path.join(tmp, 'refiner-layout'), buildUnet(cfg, weights('unet-sdxl'), { textEmbedsDim: 32 })).file) as unknown as { graph: { input: { name: string; type: { tensorType: { shape: { dim: ({ dimValue: number } | { dimParam: string })[] } } } }[] } };
    const dims = (name: string) => proto.graph.input.find((i) => i.name === name)!.type.tensorType.shape.dim.map((d) => ('dimValue' in d ? d.dimValue : d.dimParam));
    expect(dims('time_ids')).toEqual(['batch', 5]);
    expect(dims('text_embeds')).toEqual(['batch', 32]);
    expect(() => buildUnet(cfg, weights('unet-sdxl'), { textEmbedsDim: 30 })).toThrow(/projection_class_embeddings_input_dim 72 is not text_embeds \(30\) plus whole time ids of 8/);
    expect(() => buildUnet({ ...cfg, addition_embed_type: 'text_image' }, weights('unet-sdxl'))).toThrow(/addition_embed_type "text_image" is not supported/);
  });

  it('writePipelineGraphs writes text_encoder_2/ and a UNet whose text_embeds width is text_encoder_2\'s projection', () => {
    const dir = path.join(tmp, 'pipeline');
    const net = (n: string) => ({ config: config(n), weights: weights(n) });
    const written = writePipelineGraphs(dir, { textEncoder: net('clip'), textEncoder2: net('clip-bigg'), unet: net('unet-sdxl'), vae: { ...net('vae'), config: { ...config('vae'), scaling_factor: 0.13025, force_upcast: true } } });
    expect(Object.keys(written).sort()).toEqual(['text_encoder', 'text_encoder_2', 'unet', 'vae_decoder', 'vae_encoder']);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'text_encoder_2', 'config.json'), 'utf8'))).toMatchObject({ architectures: ['CLIPTextModelWithProjection'], projection_dim: 24 });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'vae_decoder', 'config.json'), 'utf8'))).toMatchObject({ scaling_factor: 0.13025, force_upcast: true });
  });

  it('the random-weight shape tables (bench:models --sdxl) name and shape every weight of the torch fixtures', () => {
    const table = (net: string) => new Map(weights(net).names().map((n) => [n, [...weights(net).info(n)!.shape]]));
    expect(clipWeightShapes(parseClipConfig(config('clip-bigg')))).toEqual(table('clip-bigg'));
    expect(clipWeightShapes(parseClipConfig(config('clip')))).toEqual(table('clip'));
    expect(unetWeightShapes(parseUnetConfig(config('unet-sdxl')))).toEqual(table('unet-sdxl'));
    expect(vaeWeightShapes(parseVaeConfig(config('vae')))).toEqual(table('vae'));
  });
});
