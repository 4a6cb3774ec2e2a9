import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { GraphBuilder, MemoryWeights, writeModel } from '../../app/engine/graph/index.js';
import { configureThreads, openSession, openSessionFromBytes } from '../../app/engine/model/session.js';

// Every session stops its threads' spinning when a run returns (session.ts SESSION_CONFIG;
// docs/performance.md): a ControlNet's idle pool must not spin against its UNet's.

let tmp: string;
let model: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-session-threads-'));
  const w = new MemoryWeights('tiny').set('proj.weight', Float32Array.from({ length: 32 * 32 }, (_, i) => Math.sin(i) / 8), [32, 32]);
  const g = new GraphBuilder({ name: 'tiny', weights: w, dtype: 'float32' });
  const x = g.input('x', 'float32', ['batch', 32]);
  g.output(g.op1('MatMul', [x, g.weight('proj.weight')]), 'y', 'float32', ['batch', 32]);
  model = writeModel(path.join(tmp, 'model'), g.finish()).file;
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

const configOf = (call: unknown[] | undefined) => ((call?.[1] as ort.InferenceSession.SessionOptions).extra as { session: Record<string, string> }).session;

describe('session thread settings', () => {
  it('plain, cached and in-memory opens all stop spinning between runs', async () => {
    const create = vi.spyOn(ort.InferenceSession, 'create');
    const plain = await openSession(model, 'tiny', 'cpu', [], true, {});
    expect(configOf(create.mock.calls.at(-1))).toMatchObject({ force_spinning_stop: '1' });
    await plain.session.release();

    // the cache's own entries (weights beside the optimised graph) come on top, not instead
    const cached = await openSession(model, 'tiny', 'cpu', [], true, { cacheDir: path.join(tmp, 'cache') });
    expect(configOf(create.mock.calls.at(-1))).toMatchObject({ force_spinning_stop: '1', optimized_model_external_initializers_min_size_in_bytes: '1024' });
    await cached.session.release();
    const again = await openSession(model, 'tiny', 'cpu', [], true, { cacheDir: path.join(tmp, 'cache') });
    expect(configOf(create.mock.calls.at(-1))).toMatchObject({ force_spinning_stop: '1' });
    await again.session.release();

    // (a graph with its weights inside: from bytes, ORT has no folder to find them in)
    const bytes = await openSessionFromBytes(fs.readFileSync(path.resolve('tests/fixtures/models/controlnet-tiny/model.onnx')), 'controlnet-tiny', 'cpu');
    expect(configOf(create.mock.calls.at(-1))).toMatchObject({ force_spinning_stop: '1' });
    expect(bytes.inputNames).toContain('controlnet_cond');
    await bytes.release();
  });

  it('configureThreads sets intra-op threads and turns spinning off for later sessions, and unset restores the defaults', async () => {
    const create = vi.spyOn(ort.InferenceSession, 'create');
    try {
      configureThreads({ intraOp: 1, spinning: false });
      const single = await openSession(model, 'tiny', 'cpu', [], true, {});
      const options = create.mock.calls.at(-1)?.[1] as ort.InferenceSession.SessionOptions;
      expect(options.intraOpNumThreads).toBe(1);
      expect(configOf(create.mock.calls.at(-1))).toMatchObject({ force_spinning_stop: '1', 'intra_op.allow_spinning': '0' });
      const out = await single.session.run({ x: new ort.Tensor('float32', new Float32Array(64).fill(1), [2, 32]) });
      expect(out.y!.dims).toEqual([2, 32]);
      await single.session.release();
    } finally {
      configureThreads({});
    }
    const plain = await openSession(model, 'tiny', 'cpu', [], true, {});
    expect((create.mock.calls.at(-1)?.[1] as ort.InferenceSession.SessionOptions).intraOpNumThreads).toBeUndefined();
    expect(configOf(create.mock.calls.at(-1))).not.toHaveProperty(['intra_op.allow_spinning']);
    await plain.session.release();
  });
});
