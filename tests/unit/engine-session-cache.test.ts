import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { GraphBuilder, MemoryWeights, writeModel } from '../../app/engine/graph/index.js';
import { builderUnetDimensions, openSession, optimizedCacheKey } from '../../app/engine/model/session.js';

// Session set-up for speed (docs/engine.md, "Session set-up"): the optimised-graph cache key,
// reuse of a cached optimised graph, a broken cache entry rebuilt, fixed free dimensions.

let tmp: string;
let model: string;

/** y = x·W + b over [batch, n, 32] with W 32×32 (4 KiB, so it goes to the external weights). */
function buildTiny(dir: string): string {
  const w = new MemoryWeights('tiny')
    .set('proj.weight', Float32Array.from({ length: 32 * 32 }, (_, i) => Math.sin(i) / 8), [32, 32])
    .set('proj.bias', Float32Array.from({ length: 32 }, (_, i) => i / 32), [32]);
  const g = new GraphBuilder({ name: 'tiny', weights: w, dtype: 'float32' });
  const x = g.input('x', 'float32', ['batch', 'sequence', 32]);
  const y = g.op1('Add', [g.op1('MatMul', [x, g.weight('proj.weight', { transpose: true })]), g.weight('proj.bias')]);
  g.output(g.op1('Relu', [y]), 'y', 'float32', ['batch', 'sequence', 32]);
  return writeModel(dir, g.finish()).file;
}

const input = (batch: number) => ({ x: new ort.Tensor('float32', Float32Array.from({ length: batch * 3 * 32 }, (_, i) => Math.cos(i)), [batch, 3, 32]) });

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-session-'));
  model = buildTiny(path.join(tmp, 'model'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('optimised-graph cache key', () => {
  it('is stable for the same graph, provider and shapes, whatever order the dimensions come in', () => {
    const a = optimizedCacheKey(model, 'cpu', { batch: 2, sequence: 3 });
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(optimizedCacheKey(model, 'cpu', { sequence: 3, batch: 2 })).toBe(a);
  });

  it('changes with the provider, the fixed shapes, the graph bytes and the weights file', () => {
    const base = optimizedCacheKey(model, 'cpu');
    expect(optimizedCacheKey(model, 'webgpu')).not.toBe(base);
    expect(optimizedCacheKey(model, 'cpu', { batch: 2 })).not.toBe(base);
    expect(optimizedCacheKey(model, 'cpu', { batch: 4 })).not.toBe(optimizedCacheKey(model, 'cpu', { batch: 2 }));
    const copy = path.join(tmp, 'copy');
    fs.cpSync(path.dirname(model), copy, { recursive: true });
    const file = path.join(copy, 'model.onnx');
    const before = optimizedCacheKey(file, 'cpu');
    // a LoRA patches the weights in place: same size, new modification time
    const data = path.join(copy, 'model.onnx_data');
    fs.utimesSync(data, new Date(), new Date(Date.now() + 5000));
    const patched = optimizedCacheKey(file, 'cpu');
    expect(patched).not.toBe(before);
    fs.appendFileSync(file, Buffer.from([0]));
    expect(optimizedCacheKey(file, 'cpu')).not.toBe(patched);
  });

  it('reads only the ends of a graph over 64 MiB (weights inside), and still tells two apart', () => {
    const dir = path.join(tmp, 'big');
    fs.mkdirSync(dir, { recursive: true });
    const big = path.join(dir, 'model.onnx');
    fs.writeFileSync(big, '');
    fs.truncateSync(big, (64 << 20) + 4096); // sparse: quick to make
    const read = vi.spyOn(fs, 'readFileSync');
    const a = optimizedCacheKey(big, 'cpu');
    expect(read).not.toHaveBeenCalledWith(big);
    const fd = fs.openSync(big, 'r+');
    fs.writeSync(fd, Buffer.from([1]), 0, 1, (64 << 20) + 4000);
    fs.closeSync(fd);
    expect(optimizedCacheKey(big, 'cpu')).not.toBe(a);
  });
});

describe('openSession with an optimised-graph cache', () => {
  it('writes the optimised graph once and loads it, unoptimised, the next time; outputs are equal', async () => {
    const cacheDir = path.join(tmp, 'cache-reuse');
    const create = vi.spyOn(ort.InferenceSession, 'create');
    const plain = await openSession(model, 'tiny', 'cpu', [], true, {});
    const expected = (await plain.session.run(input(2))).y!.data as Float32Array;
    await plain.session.release();

    const first = await openSession(model, 'tiny', 'cpu', [], true, { cacheDir });
    const key = optimizedCacheKey(model, 'cpu');
    const cached = path.join(cacheDir, `${key}.onnx`);
    expect(fs.existsSync(cached)).toBe(true);
    expect(fs.readdirSync(cacheDir).some((n) => n.endsWith('.data'))).toBe(true); // weights beside it
    expect(fs.readdirSync(cacheDir).some((n) => n.includes('.tmp.'))).toBe(false);
    expect(create.mock.calls.at(-1)?.[0]).toBe(model);
    expect((create.mock.calls.at(-1)?.[1] as ort.InferenceSession.SessionOptions).optimizedModelFilePath).toContain(key);
    await first.session.release();

    const second = await openSession(model, 'tiny', 'cpu', [], true, { cacheDir });
    expect(create.mock.calls.at(-1)?.[0]).toBe(cached);
    expect((create.mock.calls.at(-1)?.[1] as ort.InferenceSession.SessionOptions).graphOptimizationLevel).toBe('disabled');
    expect(Array.from((await second.session.run(input(2))).y!.data as Float32Array)).toEqual(Array.from(expected));
    await second.session.release();
  });

  it('replaces a cached graph that no longer loads', async () => {
    const cacheDir = path.join(tmp, 'cache-broken');
    const key = optimizedCacheKey(model, 'cpu');
    fs.mkdirSync(cacheDir, { recursive: true });
    fs.writeFileSync(path.join(cacheDir, `${key}.onnx`), 'not a graph');
    const opened = await openSession(model, 'tiny', 'cpu', [], true, { cacheDir });
    expect(((await opened.session.run(input(1))).y!.data as Float32Array).length).toBe(3 * 32);
    await opened.session.release();
    expect(fs.statSync(path.join(cacheDir, `${key}.onnx`)).size).toBeGreaterThan(100);
    const again = await openSession(model, 'tiny', 'cpu', [], true, { cacheDir });
    await again.session.release();
  });

  it('keys fixed free dimensions separately and runs at that shape', async () => {
    const cacheDir = path.join(tmp, 'cache-dims');
    const dims = { batch: 2, sequence: 3 };
    const opened = await openSession(model, 'tiny', 'cpu', [], true, { cacheDir, freeDimensions: dims });
    expect(fs.existsSync(path.join(cacheDir, `${optimizedCacheKey(model, 'cpu', dims)}.onnx`))).toBe(true);
    expect(fs.existsSync(path.join(cacheDir, `${optimizedCacheKey(model, 'cpu')}.onnx`))).toBe(false);
    expect(((await opened.session.run(input(2))).y!.data as Float32Array).length).toBe(2 * 3 * 32);
    await opened.session.release();
  });

  it('metadata-only opens neither read nor write the cache', async () => {
    const cacheDir = path.join(tmp, 'cache-meta');
    const opened = await openSession(model, 'tiny', 'cpu', [], false, { cacheDir });
    await opened.session.release();
    expect(fs.existsSync(cacheDir)).toBe(false);
  });
});

describe('builder dimension names', () => {
  it('maps a UNet shape onto the graph builder\'s symbolic dimensions', () => {
    expect(builderUnetDimensions({ batch: 2, latentHeight: 64, latentWidth: 48, sequence: 77 })).toEqual({ batch: 2, height: 64, width: 48, sequence: 77 });
  });
});
