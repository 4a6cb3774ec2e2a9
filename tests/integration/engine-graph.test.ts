import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildClipTextEncoder,
  buildControlNet,
  buildUnet,
  buildVaeDecoder,
  buildVaeEncoder,
  GraphBuilder,
  MemoryWeights,
  readModelProto,
  readSafetensorsBytes,
  readSafetensorsHeader,
  safetensorsWeights,
  writeModel,
  type BuiltGraph,
} from '../../app/engine/graph/index.js';
import { float16ToFloat32, float32ToFloat16 } from '../../app/engine/model/float16.js';

// The graph builder against PyTorch on the same weights (tests/fixtures/graph, written by
// tests/fixtures/graph_fixtures.py): each network's outputs from the graph Atelier builds
// equal torch's within the tolerances below (docs/graph-builder.md lists what was measured).

const FIXTURES = path.resolve('tests/fixtures/graph');

interface Mode {
  label: string;
  dtype: 'float32' | 'float16';
  compute: 'float32' | 'float16';
  /** Largest |graph − torch| allowed, as a fraction of the reference's largest |value| (at least 1). */
  tol: number;
}
// Measured 2026-11-30 (onnxruntime-node 1.30 CPU, 2-core AMD EPYC): float32 ≤ 1.4e-6 of the
// reference's scale; float16 weights, inputs and outputs with float16 compute ≤ 6e-4, with
// float32 compute ≤ 3.5e-4 (the float16 rounding of the boundary values).
const FP32: Mode = { label: 'float32', dtype: 'float32', compute: 'float32', tol: 2e-5 };
const FP16: Mode = { label: 'float16', dtype: 'float16', compute: 'float16', tol: 2e-3 };
const FP16_IO: Mode = { label: 'float16 storage, float32 compute', dtype: 'float16', compute: 'float32', tol: 2e-3 };

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-graph-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function config(net: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, net, 'config.json'), 'utf8')) as Record<string, unknown>;
}

function weights(net: string) {
  return safetensorsWeights(path.join(FIXTURES, net, 'model.safetensors'));
}

/** The fixture's inputs and torch's outputs for one network. */
function io(net: string): Map<string, { dtype: string; shape: number[]; data: Float32Array | BigInt64Array }> {
  const file = path.join(FIXTURES, net, 'io.safetensors');
  const out = new Map<string, { dtype: string; shape: number[]; data: Float32Array | BigInt64Array }>();
  for (const [name, entry] of readSafetensorsHeader(file).entries) {
    const bytes = readSafetensorsBytes(file, entry).slice();
    const data = entry.dtype === 'int64' ? new BigInt64Array(bytes.buffer) : new Float32Array(bytes.buffer);
    out.set(name, { dtype: entry.dtype, shape: entry.shape, data });
  }
  return out;
}

let counter = 0;
async function run(built: BuiltGraph, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const dir = path.join(tmp, `${built.name}-${counter++}`);
  const written = writeModel(dir, built);
  const session = await ort.InferenceSession.create(written.file);
  try {
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.type === 'float16' ? float16ToFloat32(t.data as Uint16Array) : (t.data as Float32Array)]));
  } finally {
    await session.release();
  }
}

function tensor(values: { shape: number[]; data: Float32Array | BigInt64Array }, type: 'float32' | 'float16' | 'int64' | 'int32' = 'float32'): ort.Tensor {
  if (type === 'int64') return new ort.Tensor('int64', values.data as BigInt64Array, values.shape);
  if (type === 'int32') return new ort.Tensor('int32', Int32Array.from(values.data as BigInt64Array, Number), values.shape);
  if (type === 'float16') return new ort.Tensor('float16', float32ToFloat16(values.data as Float32Array), values.shape);
  return new ort.Tensor('float32', values.data as Float32Array, values.shape);
}

/** Largest |a − b| relative to the reference's scale, after checking the lengths agree and nothing is NaN. */
function relDiff(got: Float32Array | undefined, want: Float32Array | BigInt64Array | undefined): number {
  return maxDiff(got, want) / Math.max(1, scale(want));
}

/** Largest |a − b|, after checking the lengths agree and nothing is NaN. */
function maxDiff(got: Float32Array | undefined, want: Float32Array | BigInt64Array | undefined): number {
  expect(got).toBeDefined();
  expect(want).toBeDefined();
  expect(got!.length).toBe(want!.length);
  let m = 0;
  for (let i = 0; i < got!.length; i++) {
    const d = Math.abs(got![i]! - Number(want![i]!));
    if (!(d <= m)) m = d; // NaN propagates as a failure
  }
  return m;
}

/** The reference is not trivially small, so the tolerance means something. */
function scale(want: Float32Array | BigInt64Array | undefined): number {
  let m = 0;
  for (const v of want as Float32Array) m = Math.max(m, Math.abs(v));
  return m;
}

describe.each([FP32, FP16])('graph builder equals PyTorch on the same weights ($label)', (mode) => {
  const opts = { dtype: mode.dtype, compute: mode.compute };
  const float = (v: { shape: number[]; data: Float32Array | BigInt64Array }) => tensor(v, mode.dtype);

  it('CLIP text encoder: last hidden state, pooled output, penultimate hidden state (int64 and int32 ids)', async () => {
    const ref = io('clip');
    for (const idsType of ['int64', 'int32'] as const) {
      const built = buildClipTextEncoder(config('clip'), weights('clip'), { ...opts, idsType });
      const out = await run(built, { input_ids: tensor(ref.get('input_ids')!, idsType) });
      expect(scale(ref.get('last_hidden_state')?.data)).toBeGreaterThan(0.5);
      expect(relDiff(out.last_hidden_state, ref.get('last_hidden_state')?.data)).toBeLessThan(mode.tol);
      expect(relDiff(out.pooler_output, ref.get('pooler_output')?.data)).toBeLessThan(mode.tol);
      // three layers: hidden_states.0 = embeddings, .2 = after layer 2 = the penultimate
      expect(relDiff(out['hidden_states.2'], ref.get('penultimate')?.data)).toBeLessThan(mode.tol);
      expect(Object.keys(out).sort()).toEqual(['hidden_states.0', 'hidden_states.1', 'hidden_states.2', 'hidden_states.3', 'last_hidden_state', 'pooler_output']);
    }
  });

  // the SD 2.x-style UNet varies the topology, not the precision: float32 only, to keep the suite fast
  for (const net of mode === FP32 ? ['unet-sd1', 'unet-sd2-inpaint'] : ['unet-sd1']) {
    it(`${net}: noise prediction without and with ControlNet residual inputs`, async () => {
      const ref = io(net);
      const base = { sample: float(ref.get('sample')!), timestep: tensor(ref.get('timestep')!), encoder_hidden_states: float(ref.get('encoder_hidden_states')!) };
      const plain = await run(buildUnet(config(net), weights(net), opts), base);
      expect(scale(ref.get('out_sample')?.data)).toBeGreaterThan(0.5);
      expect(relDiff(plain.out_sample, ref.get('out_sample')?.data)).toBeLessThan(mode.tol);

      const residualFeeds: Record<string, ort.Tensor> = { ...base, mid_block_additional_residual: float(ref.get('mid_block_additional_residual')!) };
      for (const [name, value] of ref) if (/^down_block_\d+_additional_residual$/.test(name)) residualFeeds[name] = float(value);
      const withResiduals = await run(buildUnet(config(net), weights(net), { ...opts, controlnetResiduals: true }), residualFeeds);
      expect(relDiff(withResiduals.out_sample, ref.get('out_sample_with_residuals')?.data)).toBeLessThan(mode.tol);
      // the residuals really enter: the two references differ by far more than the tolerance
      expect(relDiff(plain.out_sample, ref.get('out_sample_with_residuals')?.data)).toBeGreaterThan(10 * mode.tol);
    });
  }

  if (mode === FP16) {
    it('unet-sd2-inpaint with upcast_attention (SD 2.1): float32 scores inside the float16 graph', async () => {
      const ref = io('unet-sd2-inpaint');
      const feeds = { sample: float(ref.get('sample')!), timestep: tensor(ref.get('timestep')!), encoder_hidden_states: float(ref.get('encoder_hidden_states')!) };
      const out = await run(buildUnet({ ...config('unet-sd2-inpaint'), upcast_attention: true }, weights('unet-sd2-inpaint'), opts), feeds);
      expect(relDiff(out.out_sample, ref.get('out_sample')?.data)).toBeLessThan(mode.tol);
    });
  }

  it('AutoencoderKL: encoder moments and decoded pixels', async () => {
    const ref = io('vae');
    const enc = await run(buildVaeEncoder(config('vae'), weights('vae'), opts), { sample: float(ref.get('image')!) });
    expect(scale(ref.get('latent_parameters')?.data)).toBeGreaterThan(0.5);
    expect(relDiff(enc.latent_parameters, ref.get('latent_parameters')?.data)).toBeLessThan(mode.tol);
    const dec = await run(buildVaeDecoder(config('vae'), weights('vae'), opts), { latent_sample: float(ref.get('latent_sample')!) });
    expect(scale(ref.get('sample')?.data)).toBeGreaterThan(0.5);
    expect(relDiff(dec.sample, ref.get('sample')?.data)).toBeLessThan(mode.tol);
  });

  it('ControlNet: every down-block residual and the mid-block residual', async () => {
    const ref = io('controlnet');
    const feeds: Record<string, ort.Tensor> = { timestep: tensor(ref.get('timestep')!), conditioning_scale: tensor(ref.get('conditioning_scale')!) };
    for (const name of ['sample', 'encoder_hidden_states', 'controlnet_cond']) feeds[name] = float(ref.get(name)!);
    const out = await run(buildControlNet(config('controlnet'), weights('controlnet'), opts), feeds);
    const names = [...ref.keys()].filter((n) => n.endsWith('_res_sample') || /res_sample_\d+$/.test(n));
    expect(names).toHaveLength(10); // down: 1 + 3 + 3 + 2 (three blocks of two layers), and the mid block
    expect(Object.keys(out).sort()).toEqual([...names].sort());
    for (const name of names) {
      expect(scale(ref.get(name)?.data)).toBeGreaterThan(0.05);
      expect(relDiff(out[name], ref.get(name)?.data)).toBeLessThan(mode.tol);
    }
  });
});

describe('graph builder core', () => {
  it('emits operators of another domain with their opset import (com.microsoft, for fused graphs)', async () => {
    const g = new GraphBuilder({ name: 'fused', weights: new MemoryWeights('none'), dtype: 'float32' });
    const x = g.input('x', 'float32', ['batch', 4]);
    g.output(g.op('FastGelu', [x], {}, 1, 'com.microsoft')[0]!, 'y', 'float32', ['batch', 4]);
    const values = Float32Array.from([-3, -1, -0.25, 0, 0.5, 1, 2, 4]);
    const built = g.finish();
    const proto = readModelProto(writeModel(path.join(tmp, 'fused-proto'), built).file) as { opsetImport: Array<{ domain?: string; version: number }> };
    expect(proto.opsetImport).toEqual([{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }]);
    const out = await run(built, { x: new ort.Tensor('float32', values, [2, 4]) });
    const tanhGelu = values.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
    expect(maxDiff(out.y, tanhGelu)).toBeLessThan(1e-5);
  });


  it('float16 weights and boundary with float32 compute (a CPU-friendly float16 file) stay within the float16 rounding', async () => {
    const ref = io('unet-sd1');
    const built = buildUnet(config('unet-sd1'), weights('unet-sd1'), { dtype: FP16_IO.dtype, compute: FP16_IO.compute });
    const out = await run(built, {
      sample: tensor(ref.get('sample')!, 'float16'),
      timestep: tensor(ref.get('timestep')!),
      encoder_hidden_states: tensor(ref.get('encoder_hidden_states')!, 'float16'),
    });
    expect(relDiff(out.out_sample, ref.get('out_sample')?.data)).toBeLessThan(FP16_IO.tol);
    // the fixture's weights are float16 values: stored as float16 they take the same bytes (plus alignment)
    const written = writeModel(path.join(tmp, 'fp16-size'), built);
    expect(written.dataBytes).toBeLessThan(fs.statSync(path.join(FIXTURES, 'unet-sd1', 'model.safetensors')).size * 1.2);
  });
});
