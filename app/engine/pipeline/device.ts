import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GraphBuilder, RandomWeights, writeModel } from '../graph/index.js';
import type { ElemType } from '../graph/core.js';
import { floatTensor, keepsTensorsOnDevice, ort, toFloat32, type Session } from '../model/session.js';

// Tensors that stay on the GPU between calls (docs/engine.md, "Tensors on the device"). On the
// WebGPU provider a run's text conditioning is uploaded once and the same device tensor is fed to
// every UNet and ControlNet call; ControlNet residuals go from one session into the next without
// reaching JavaScript. onnxruntime-node 1.30 gives JavaScript no way to make a device tensor from
// an array and aborts the process on `getData()` of one, so values cross through one-node
// Identity graphs: "upload" leaves its output on the device, "download" returns a CPU tensor.
// The CPU provider never comes here: its feeds are the plain tensors they always were.

const pairs = new Map<string, Promise<{ up: Session; down: Session }>>();
let graphDir: string | undefined;

/** A one-node Identity graph over `type` tensors of rank `rank`, written once per process. */
function identityGraph(type: ElemType, rank: number): string {
  graphDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-identity-'));
  const file = path.join(graphDir, `identity-${type}-${rank}`, 'model.onnx');
  if (fs.existsSync(file)) return file;
  const dims = Array.from({ length: rank }, (_, i) => `d${i}`);
  const g = new GraphBuilder({ name: 'identity', weights: new RandomWeights(new Map(), 1), dtype: type === 'float16' ? 'float16' : 'float32' });
  g.output(g.input('x', type, dims, false), 'y', type, dims);
  return writeModel(path.dirname(file), g.finish({})).file;
}

/** The upload and download sessions for one tensor type and rank on `device`, opened once per process. */
function pair(device: string, type: ElemType, rank: number): Promise<{ up: Session; down: Session }> {
  const key = `${device}:${type}:${rank}`;
  let p = pairs.get(key);
  if (!p) {
    const file = identityGraph(type, rank);
    const opts = { executionProviders: [device], logSeverityLevel: 3 as const };
    p = Promise.all([ort.InferenceSession.create(file, { ...opts, preferredOutputLocation: 'gpu-buffer' }), ort.InferenceSession.create(file, opts)]).then(([up, down]) => ({ up, down }));
    pairs.set(key, p);
    p.catch(() => pairs.delete(key));
  }
  return p;
}

export { keepsTensorsOnDevice };

/** A CPU tensor copied onto `device`. */
export async function upload(device: string, t: ort.Tensor): Promise<ort.Tensor> {
  return (await (await pair(device, t.type as ElemType, t.dims.length)).up.run({ x: t })).y!;
}

/** A device tensor's values as float32 (a copy through the download session). */
export async function download(device: string, t: ort.Tensor): Promise<Float32Array> {
  return toFloat32((await (await pair(device, t.type as ElemType, t.dims.length)).down.run({ x: t })).y!);
}

const combiners = new Map<string, Promise<Session>>();

/** Whether residuals of this type can be summed on the device (combiner graphs are float). */
export function combinable(type: string): boolean {
  return type === 'float32' || type === 'float16';
}

/** y = s + w·r (`withSum`) or y = w·r, over `type` tensors of rank `rank`, output left on `device`. */
function combiner(device: string, type: 'float32' | 'float16', rank: number, withSum: boolean): Promise<Session> {
  const key = `${device}:${type}:${rank}:${withSum}`;
  let p = combiners.get(key);
  if (!p) {
    graphDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-identity-'));
    const dir = path.join(graphDir, `${withSum ? 'axpy' : 'scale'}-${type}-${rank}`);
    const dims = Array.from({ length: rank }, (_, i) => `d${i}`);
    const g = new GraphBuilder({ name: 'combine', weights: new RandomWeights(new Map(), 1), dtype: type });
    const product = g.op('Mul', [g.input('r', type, dims, false), g.input('w', type, [], false)])[0]!;
    g.output(withSum ? g.op('Add', [g.input('s', type, dims, false), product])[0]! : product, 'y', type, dims);
    const file = writeModel(dir, g.finish({})).file;
    p = ort.InferenceSession.create(file, { executionProviders: [device], logSeverityLevel: 3, preferredOutputLocation: 'gpu-buffer' });
    combiners.set(key, p);
    p.catch(() => combiners.delete(key));
  }
  return p;
}

/** w·r on the device (a ControlNet whose weight multiplies its residuals). */
export async function scaled(device: string, r: ort.Tensor, w: number): Promise<ort.Tensor> {
  const type = r.type as 'float32' | 'float16';
  return (await (await combiner(device, type, r.dims.length, false)).run({ r, w: floatTensor(Float32Array.of(w), [], type) })).y!;
}

/** s + w·r on the device (the residuals of one more ControlNet added to the sum). */
export async function addScaled(device: string, s: ort.Tensor, r: ort.Tensor, w: number): Promise<ort.Tensor> {
  const type = r.type as 'float32' | 'float16';
  return (await (await combiner(device, type, r.dims.length, true)).run({ s, r, w: floatTensor(Float32Array.of(w), [], type) })).y!;
}

/**
 * One run's device-resident feeds, by key: uploaded the first time a key is asked for, the same
 * device tensor after that, all disposed by dispose(). Without a device (the CPU provider) every
 * call just makes the CPU tensor, as before.
 */
export class ResidentFeeds {
  private readonly tensors = new Map<string, Promise<ort.Tensor>>();
  /** Uploads made (one per key): what the tests count. */
  uploads = 0;

  constructor(readonly device: string | undefined) {}

  tensor(key: string, make: () => ort.Tensor): Promise<ort.Tensor> {
    if (!this.device) return Promise.resolve(make());
    let t = this.tensors.get(key);
    if (!t) {
      this.uploads++;
      t = upload(this.device, make());
      this.tensors.set(key, t);
    }
    return t;
  }

  async dispose(): Promise<void> {
    const all = [...this.tensors.values()];
    this.tensors.clear();
    for (const t of await Promise.allSettled(all)) if (t.status === 'fulfilled') t.value.dispose();
  }
}

/** Releases the Identity sessions (tests; a process that is done with the GPU). */
export async function releaseDeviceIo(): Promise<void> {
  const all = [...pairs.values()];
  pairs.clear();
  const sessions = [...combiners.values()];
  combiners.clear();
  for (const p of await Promise.allSettled(sessions)) if (p.status === 'fulfilled') await p.value.release();
  for (const p of await Promise.allSettled(all)) {
    if (p.status !== 'fulfilled') continue;
    await p.value.up.release();
    await p.value.down.release();
  }
}
