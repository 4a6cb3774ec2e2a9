// Device-side pieces of `npm run bench:gpu` (bench/gpu.ts): the UNet step with every input and
// output left on the device (onnxruntime-node's IO binding: `preferredOutputLocation:
// 'gpu-buffer'` and tensors whose location is 'gpu-buffer' as feeds), with and without WebGPU
// graph capture; and a Conv-by-input-channels check of the provider against the CPU.
//
// onnxruntime-node 1.30 gives JavaScript no way to make a device tensor from an array (no
// GPUDevice) and aborts the process on `getData()` of one, so values travel through one-node
// Identity graphs: "upload" has its output on the device, "download" takes a device tensor and
// returns a CPU one.
import path from 'node:path';
import { conv2d } from '../app/engine/graph/nn.js';
import { GraphBuilder, RandomWeights, writeModel } from '../app/engine/graph/index.js';
import { floatTensor, ort, toFloat32, type Session } from '../app/engine/model/session.js';

type Dtype = 'float32' | 'float16';

/** A one-node Identity graph over `dtype` tensors of rank `rank`, written into `dir`. */
function identityGraph(dir: string, dtype: Dtype, rank: number): string {
  const dims = Array.from({ length: rank }, (_, i) => `d${i}`);
  const g = new GraphBuilder({ name: 'identity', weights: new RandomWeights(new Map(), 1), dtype });
  g.output(g.input('x', dtype, dims, false), 'y', dtype, dims);
  return writeModel(path.join(dir, `identity-${dtype}-${rank}`), g.finish({})).file;
}

export interface DeviceIo {
  upload(t: ort.Tensor): Promise<ort.Tensor>;
  download(t: ort.Tensor): Promise<Float32Array>;
  release(): Promise<void>;
}

/** Upload/download through Identity sessions on `device` for one float type, one pair per tensor rank. */
export function deviceIo(dir: string, device: string, dtype: Dtype): DeviceIo {
  const pairs = new Map<number, Promise<{ up: Session; down: Session }>>();
  const pair = (rank: number) => {
    let p = pairs.get(rank);
    if (!p) {
      const file = identityGraph(dir, dtype, rank);
      p = Promise.all([
        ort.InferenceSession.create(file, { executionProviders: [device], logSeverityLevel: 3, preferredOutputLocation: 'gpu-buffer' }),
        ort.InferenceSession.create(file, { executionProviders: [device], logSeverityLevel: 3 }),
      ]).then(([up, down]) => ({ up, down }));
      pairs.set(rank, p);
    }
    return p;
  };
  return {
    upload: async (t) => (await (await pair(t.dims.length)).up.run({ x: t })).y!,
    download: async (t) => toFloat32((await (await pair(t.dims.length)).down.run({ x: t })).y!),
    release: async () => {
      for (const p of pairs.values()) {
        const { up, down } = await p;
        await up.release();
        await down.release();
      }
    },
  };
}

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
export async function residentSteps(file: string, device: string, dtype: Dtype, freeDimensions: Record<string, number>, inputs: Record<string, { shape: number[]; data: Float32Array }>, steps: number, capture: boolean, io: { float: DeviceIo; f32: DeviceIo }, reference: Float32Array): Promise<ResidentTiming> {
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
      feeds[name] = name === 'timestep' ? await io.f32.upload(new ort.Tensor('float32', v.data, v.shape)) : await io.float.upload(floatTensor(v.data, v.shape, dtype));
    }
    let out = (await session.run(feeds)).out_sample!;
    await io.float.download(out); // first run (and the capture) done
    const t = performance.now();
    for (let i = 0; i < steps; i++) out = (await session.run(feeds)).out_sample!;
    const result = await io.float.download(out);
    const mean = (performance.now() - t) / steps;
    let worst = 0;
    let scale = 1;
    for (let i = 0; i < result.length; i++) {
      worst = Math.max(worst, Math.abs(result[i]! - reference[i]!));
      scale = Math.max(scale, Math.abs(reference[i]!));
    }
    return { graph_capture: capture, mean_ms: mean, rel_diff_vs_cpu_io: worst / scale };
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
