import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError, GenerationRequest, type GenerationRequestInput } from '../../app/contract/index.js';
import { EngineClient } from '../../app/engine/client.js';
import type { PipelineProgress } from '../../app/engine/pipeline/types.js';
import { forkTransportFactory } from '../../app/engine/worker/fork.js';
import { WORKER_TEST_HOOKS_ENV } from '../../app/engine/worker/protocol.js';

// The worker process with the real engine on the tiny ONNX fixtures (CPU).
const MODEL = path.resolve('tests/fixtures/models/sd1-tiny');
const engineModule = (await import('../../app/engine/index.js')) as Record<string, unknown>;
const hasPipeline = typeof engineModule.runPipeline === 'function';

const clients: EngineClient[] = [];
function client(): EngineClient {
  const c = new EngineClient({ transport: forkTransportFactory({ env: { [WORKER_TEST_HOOKS_ENV]: '1' } }), cancelGraceMs: 20_000 });
  clients.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

const request = (over: Partial<GenerationRequestInput> = {}) =>
  GenerationRequest.parse({ model: MODEL, prompt: 'a red fox', seed: 11, steps: 3, width: 64, height: 64, device: 'cpu', sampler: 'euler', ...over });

async function failure(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('expected a failure');
}

describe.skipIf(!hasPipeline)('engine worker with the real engine', () => {
  it('completes a job with progress for every step, reproducibly', async () => {
    const engine = client();
    const progress: PipelineProgress[] = [];
    const loaded: Array<{ device: string; reused: boolean }> = [];
    const a = await engine.generate(request(), {}, { onProgress: (p) => progress.push(p), onLoaded: (l) => loaded.push(l) });
    expect(progress.map((p) => p.step)).toEqual([1, 2, 3]);
    expect(a.device).toBe('cpu');
    expect(a.candidates[0]!.image.data.length).toBe(64 * 64 * 4);
    const b = await engine.generate(request(), {}, { onLoaded: (l) => loaded.push(l) });
    expect(Buffer.from(b.candidates[0]!.image.data).equals(Buffer.from(a.candidates[0]!.image.data))).toBe(true);
    expect(loaded).toEqual([{ device: 'cpu', reused: false }, { device: 'cpu', reused: true }]);
  });

  it('stops a cancelled job within one step', async () => {
    const engine = client();
    const abort = new AbortController();
    const steps: number[] = [];
    const job = engine.generate(request({ steps: 40 }), {}, {
      signal: abort.signal,
      onProgress: (p) => {
        steps.push(p.step);
        if (p.step === 2) abort.abort();
      },
    });
    const error = await failure(job);
    expect(error.code).toBe('cancelled');
    // Tiny-fixture steps take about a millisecond, less than the cancel's trip to the worker,
    // so count from when the worker got it: at most the step then running completes.
    const { cancelledAfterStep, lastStep } = error.details as { cancelledAfterStep: number; lastStep: number };
    expect(cancelledAfterStep).toBeGreaterThanOrEqual(2);
    expect(lastStep - cancelledAfterStep).toBeLessThanOrEqual(1);
    expect(Math.max(...steps)).toBeLessThan(40);
  });

  it('fails with engine_failed when the worker dies mid-job, and the next job runs on a fresh worker', async () => {
    const engine = client();
    const job = engine.generate(request({ steps: 40 }), {}, { onProgress: (p) => p.step === 1 && engine.crashWorkerForTest('kill') });
    expect((await failure(job)).code).toBe('engine_failed');
    const next = await engine.generate(request({ steps: 1 }), {});
    expect(next.candidates).toHaveLength(1);
    expect(engine.workersStarted).toBe(2);
  });

  it('reports a broken fixture as invalid_model naming the part', async () => {
    const error = await failure(client().generate(request({ model: path.resolve('tests/fixtures/models/broken-missing-unet') }), {}));
    expect(error.code).toBe('invalid_model');
    expect(error.message).toMatch(/unet\/model\.onnx/);
  });
});
