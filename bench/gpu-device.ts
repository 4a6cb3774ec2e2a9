// Device-side pieces of `npm run bench:gpu` (bench/gpu.ts): the UNet step with every input and
// output left on the device (onnxruntime-node's IO binding: `preferredOutputLocation:
// 'gpu-buffer'` and tensors whose location is 'gpu-buffer' as feeds), with and without WebGPU
// graph capture; and a Conv-by-input-channels check of the provider against the CPU.
//
// Values reach and leave the device through the engine's own Identity sessions
// (app/engine/pipeline/device.ts upload/download): onnxruntime-node 1.30 gives JavaScript no way
// to make a device tensor from an array and aborts the process on `getData()` of one.
import path from 'node:path';
import { A } from '../app/engine/graph/core.js';
import { attention, conv2d } from '../app/engine/graph/nn.js';
import { GraphBuilder, RandomWeights, writeModel } from '../app/engine/graph/index.js';
import { floatTensor, ort, toFloat32, type Session } from '../app/engine/model/session.js';
import { download, upload } from '../app/engine/pipeline/device.js';

type Dtype = 'float32' | 'float16';

export interface ResidentTiming {
  graph_capture: boolean;
  mean_ms?: number;
  error?: string;
  rel_diff_vs_cpu_io?: number;
}

/**
 * The UNet step with sample, timestep and text already on the device and the output left there
 * (downloaded once at the end, which also waits for the queued steps), `steps` times; with
 * `capture`, as a captured WebGPU graph replayed each run (enableGraphCapture: static shapes,
 * all on device). The timestep is float32, as the builder's UNet takes it.
 */
export async function residentSteps(file: string, device: string, dtype: Dtype, freeDimensions: Record<string, number>, inputs: Record<string, { shape: number[]; data: Float32Array }>, steps: number, capture: boolean, reference: Float32Array): Promise<ResidentTiming> {
  let session: Session | undefined;
  try {
    session = await ort.InferenceSession.create(file, {
      executionProviders: [device],
      logSeverityLevel: 3,
      graphOptimizationLevel: 'all',
      freeDimensionOverrides: freeDimensions,
      preferredOutputLocation: 'gpu-buffer',
      ...(capture ? { enableGraphCapture: true } : {}),
    });
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, v] of Object.entries(inputs)) {
      feeds[name] = await upload(device, name === 'timestep' ? new ort.Tensor('float32', v.data, v.shape) : floatTensor(v.data, v.shape, dtype));
    }
    let out = (await session.run(feeds)).out_sample!;
    await download(device, out); // first run (and the capture) done
    const t = performance.now();
    for (let i = 0; i < steps; i++) out = (await session.run(feeds)).out_sample!;
    const result = await download(device, out);
    const mean = (performance.now() - t) / steps;
    return { graph_capture: capture, mean_ms: mean, rel_diff_vs_cpu_io: relDiff(result, reference) };
  } catch (error) {
    return { graph_capture: capture, error: error instanceof Error ? error.message.split('\n')[0]! : String(error) };
  } finally {
    await session?.release();
  }
}

/** Input channel counts whose 3×3 Conv on `device` differs from the CPU's (tests/integration/engine-webgpu.test.ts found 6 and 9 on lavapipe). */
export async function convCheck(dir: string, device: string, channels = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16]): Promise<number[]> {
  const wrong: number[] = [];
  for (const c of channels) {
    const g = new GraphBuilder({ name: 'conv', weights: new RandomWeights(new Map([['c.weight', [16, c, 3, 3]], ['c.bias', [16]]]), 7), dtype: 'float32' });
    g.output(conv2d(g, g.input('x', 'float32', [2, c, 8, 8]), 'c', { inChannels: c }), 'y', 'float32', [2, 16, 8, 8]);
    const file = writeModel(path.join(dir, `conv${c}`), g.finish({})).file;
    const x = new ort.Tensor('float32', Float32Array.from({ length: 2 * c * 64 }, (_, i) => Math.cos(i * 0.31)), [2, c, 8, 8]);
    const out: Float32Array[] = [];
    for (const ep of ['cpu', device]) {
      const s = await ort.InferenceSession.create(file, { executionProviders: [ep], logSeverityLevel: 3 });
      out.push(Float32Array.from((await s.run({ x })).y!.data as Float32Array));
      await s.release();
    }
    if (out[0]!.some((v, i) => Math.abs(v - out[1]![i]!) > 1e-4)) wrong.push(c);
  }
  return wrong;
}

const MS = 'com.microsoft';
/** Deterministic values in ±amplitude. */
const wave = (n: number, seed: number, amplitude = 2): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * amplitude);

/** Largest |a − b| over the largest |b| (at least 1); NaN where either holds a non-finite value (a float16 overflow would otherwise read as 0). */
export function relDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]!) || !Number.isFinite(b[i]!)) return Number.NaN;
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return worst / scale;
}

async function runOnce(file: string, ep: string, feeds: Record<string, ort.Tensor>, output: string): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(file, { executionProviders: [ep], logSeverityLevel: 3 });
  try {
    return Float32Array.from(toFloat32((await s.run(feeds))[output]!));
  } finally {
    await s.release();
  }
}

export interface AttentionCheck {
  head_width: number;
  /** max |Δ| of scale against the CPU's plain float32 attention; the error where it did not run. */
  fused_f32?: number;
  fused_f16?: number;
  plain_f16?: number;
  error?: string;
}

/**
 * One attention layer (q: 64 tokens, k/v: 77, 4 heads of each width) as com.microsoft
 * MultiHeadAttention in float32 and float16 and as plain ONNX in float16 on `device`, each
 * against the plain float32 graph on the CPU (docs/graph-builder.md: on lavapipe the fused
 * kernel is wrong under 32-wide heads).
 */
export async function attentionCheck(dir: string, device: string, widths = [8, 16, 24, 32, 40, 64, 80, 160]): Promise<AttentionCheck[]> {
  const out: AttentionCheck[] = [];
  const [heads, S, T] = [4, 64, 77];
  for (const d of widths) {
    const width = heads * d;
    const build = (dtype: Dtype, fused: boolean): string => {
      const g = new GraphBuilder({ name: 'attention', weights: new RandomWeights(new Map(), 1), dtype, fused: fused ? { ops: ['MultiHeadAttention'] } : 'none' });
      const y = attention(g, g.input('q', dtype, [1, S, width]), g.input('k', dtype, [1, T, width]), g.input('v', dtype, [1, T, width]), heads, width);
      g.output(y, 'y', dtype, [1, S, width]);
      return writeModel(path.join(dir, `attention-${d}-${dtype}-${fused ? 'mha' : 'plain'}`), g.finish({})).file;
    };
    const data = { q: wave(S * width, 1), k: wave(T * width, 2), v: wave(T * width, 3) };
    const feeds = (dtype: Dtype) => ({ q: floatTensor(data.q, [1, S, width], dtype), k: floatTensor(data.k, [1, T, width], dtype), v: floatTensor(data.v, [1, T, width], dtype) });
    const row: AttentionCheck = { head_width: d };
    try {
      const reference = await runOnce(build('float32', false), 'cpu', feeds('float32'), 'y');
      row.fused_f32 = relDiff(await runOnce(build('float32', true), device, feeds('float32'), 'y'), reference);
      row.fused_f16 = relDiff(await runOnce(build('float16', true), device, feeds('float16'), 'y'), reference);
      row.plain_f16 = relDiff(await runOnce(build('float16', false), device, feeds('float16'), 'y'), reference);
    } catch (error) {
      row.error = error instanceof Error ? error.message.split('\n')[0]! : String(error);
    }
    out.push(row);
  }
  return out;
}

/**
 * com.microsoft.BiasSplitGelu in float16 on `device` (it failed to run on lavapipe, so float16
 * WebGPU graphs leave it out: fused.ts) against the same function in float32 on the CPU in
 * plain ONNX: whether it runs, and how close it is.
 */
export async function biasSplitGeluCheck(dir: string, device: string): Promise<{ runs: boolean; rel_diff?: number; error?: string }> {
  const [tokens, D] = [64, 320];
  const fused = (() => {
    const g = new GraphBuilder({ name: 'bsg', weights: new RandomWeights(new Map(), 1), dtype: 'float16' });
    const y = g.op('BiasSplitGelu', [g.input('x', 'float16', [1, tokens, 2 * D]), g.input('b', 'float16', [2 * D])], {}, 1, MS)[0]!;
    g.output(y, 'y', 'float16', [1, tokens, D]);
    return writeModel(path.join(dir, 'bsg-f16'), g.finish({})).file;
  })();
  const plain = (() => {
    const g = new GraphBuilder({ name: 'bsg', weights: new RandomWeights(new Map(), 1), dtype: 'float32' });
    const sum = g.op1('Add', [g.input('x', 'float32', [1, tokens, 2 * D]), g.input('b', 'float32', [2 * D])]);
    const [left, right] = g.op('Split', [sum, g.ints([D, D])], { axis: A.i(-1) }, 2);
    const erf = g.op1('Erf', [g.op1('Div', [right!, g.scalar(Math.SQRT2)])]);
    const gelu = g.op1('Mul', [g.op1('Mul', [right!, g.op1('Add', [erf, g.scalar(1)])]), g.scalar(0.5)]);
    g.output(g.op1('Mul', [left!, gelu]), 'y', 'float32', [1, tokens, D]);
    return writeModel(path.join(dir, 'bsg-f32-plain'), g.finish({})).file;
  })();
  const x = wave(tokens * 2 * D, 4);
  const b = wave(2 * D, 5, 0.5);
  try {
    const reference = await runOnce(plain, 'cpu', { x: floatTensor(x, [1, tokens, 2 * D], 'float32'), b: floatTensor(b, [2 * D], 'float32') }, 'y');
    const got = await runOnce(fused, device, { x: floatTensor(x, [1, tokens, 2 * D], 'float16'), b: floatTensor(b, [2 * D], 'float16') }, 'y');
    return { runs: true, rel_diff: relDiff(got, reference) };
  } catch (error) {
    return { runs: false, error: error instanceof Error ? error.message.split('\n')[0]! : String(error) };
  }
}
