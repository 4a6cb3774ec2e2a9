import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError, GenerationRequest, type GenerationRequestInput } from '../../app/contract/index.js';
import { EngineClient } from '../../app/engine/client.js';
import type { PipelineProgress } from '../../app/engine/pipeline/types.js';
import { forkTransportFactory } from '../../app/engine/worker/fork.js';
import { WORKER_ENGINE_MODULE_ENV } from '../../app/engine/worker/main.js';
import { WORKER_TEST_HOOKS_ENV } from '../../app/engine/worker/protocol.js';
import { until } from '../helpers/until.js';

// The worker as a real child process (forked, advanced serialization), driving a stand-in
// engine whose steps take a known time. The real engine on the tiny ONNX fixtures is driven by
// the service tests.
const FAKE_ENGINE = path.resolve('tests/integration/engine-worker-fake-engine.ts');

const clients: EngineClient[] = [];
function client(stepMs = 25): EngineClient {
  const c = new EngineClient({
    transport: forkTransportFactory({ env: { [WORKER_TEST_HOOKS_ENV]: '1', [WORKER_ENGINE_MODULE_ENV]: FAKE_ENGINE, FAKE_ENGINE_STEP_MS: String(stepMs) } }),
    cancelGraceMs: 10_000,
  });
  clients.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

const request = (over: Partial<GenerationRequestInput> = {}) => GenerationRequest.parse({ model: '/models/a', prompt: 'a fox', seed: 42, steps: 4, ...over });

async function failure(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('expected a failure');
}

describe('engine worker', () => {
  it('completes a job, streams progress per step and carries typed arrays both ways', async () => {
    const engine = client();
    const progress: PipelineProgress[] = [];
    const control = { width: 2, height: 2, data: new Uint8Array(16).fill(77) };
    const result = await engine.generate(request({ batch: 2, width: 64, height: 64 }), { controls: [control] }, { onProgress: (p) => progress.push(p) });
    expect(progress.map((p) => p.step)).toEqual([1, 2, 3, 4]);
    expect(progress[0]!.latentPreview!.data).toBeInstanceOf(Uint8Array);
    expect(result.candidates.map((c) => c.seed)).toEqual([42, 43]);
    const image = result.candidates[1]!.image;
    expect(image.data).toBeInstanceOf(Uint8Array);
    expect(image.data.length).toBe(64 * 64 * 4);
    expect(image.data[0]).toBe(77);
    expect(image.data[5]).toBe(43);
    expect(result.device).toBe('cpu');
  });

  it('reuses the loaded model for the same model and device, and releases it for another', async () => {
    const engine = client(1);
    const a1 = await engine.generate(request(), {});
    const a2 = await engine.generate(request({ seed: 7 }), {});
    expect([a1.timings.loads, a2.timings.loads, a2.timings.releases]).toEqual([1, 1, 0]);
    const b = await engine.generate(request({ model: '/models/b' }), {});
    expect([b.timings.loads, b.timings.releases]).toEqual([2, 1]);
    expect(engine.workersStarted).toBe(1);
  });

  it('stops a cancelled job within one step', async () => {
    const engine = client(60);
    const abort = new AbortController();
    const steps: number[] = [];
    const job = engine.generate(request({ steps: 50 }), {}, {
      signal: abort.signal,
      onProgress: (p) => {
        steps.push(p.step);
        if (p.step === 2) abort.abort();
      },
    });
    const error = await failure(job);
    expect(error.code).toBe('cancelled');
    // Counted in the worker, from when the cancel reached it (a loaded machine delays the
    // message, not the stop): at most the step then running completes.
    const { cancelledAfterStep, lastStep } = error.details as { cancelledAfterStep: number; lastStep: number };
    expect(cancelledAfterStep).toBeGreaterThanOrEqual(2);
    expect(lastStep - cancelledAfterStep).toBeLessThanOrEqual(1);
    expect(Math.max(...steps)).toBeLessThan(50);
    const next = await engine.generate(request({ steps: 1 }), {});
    expect(next.candidates).toHaveLength(1);
  });

  it('fails a job with engine_failed when the worker dies, then the next job gets a fresh worker', async () => {
    const engine = client(40);
    const job = engine.generate(request({ steps: 50 }), {}, {
      onProgress: (p) => {
        if (p.step === 1) engine.crashWorkerForTest('kill');
      },
    });
    const error = await failure(job);
    expect(error.code).toBe('engine_failed');
    expect(error.message).toMatch(/SIGKILL/);
    const next = await engine.generate(request({ steps: 2 }), {});
    expect(next.candidates).toHaveLength(1);
    expect(engine.workersStarted).toBe(2);

    const exiting = engine.generate(request({ steps: 50 }), {}, { onProgress: (p) => p.step === 1 && engine.crashWorkerForTest('exit') });
    expect((await failure(exiting)).message).toMatch(/exited with code 134/);
  });

  it('reports a broken model as invalid_model naming the part, and keeps working', async () => {
    const engine = client(1);
    const error = await failure(engine.generate(request({ model: '/models/invalid' }), {}));
    expect(error.code).toBe('invalid_model');
    expect(error.details).toEqual({ part: 'unet/model.onnx' });
    expect((await engine.generate(request(), {})).candidates).toHaveLength(1);
  });

  it('stops an idle worker to free its memory, and starts a fresh one for the next job', async () => {
    const engine = new EngineClient({
      transport: forkTransportFactory({ env: { [WORKER_TEST_HOOKS_ENV]: '1', [WORKER_ENGINE_MODULE_ENV]: FAKE_ENGINE, FAKE_ENGINE_STEP_MS: '1' } }),
      idleStopMs: 50,
    });
    clients.push(engine);
    await engine.generate(request({ steps: 1 }), {});
    await until(() => !engine.hasWorker || engine.workersStarted !== 1, 'the idle worker to stop');
    expect(engine.hasWorker).toBe(false);
    expect((await engine.generate(request({ steps: 1 }), {})).candidates).toHaveLength(1);
    expect(engine.workersStarted).toBe(2);
  });

  it('refuses a second concurrent job with busy', async () => {
    const engine = client(20);
    const first = engine.generate(request(), {});
    expect((await failure(engine.generate(request(), {}))).code).toBe('busy');
    await first;
  });

  it('ignores the crash message unless the test hooks are on', async () => {
    const engine = new EngineClient({ transport: forkTransportFactory({ env: { [WORKER_TEST_HOOKS_ENV]: '', [WORKER_ENGINE_MODULE_ENV]: FAKE_ENGINE } }) });
    clients.push(engine);
    engine.crashWorkerForTest('exit');
    // Without hooks the worker also ignores the engine override, so it loads the real engine:
    // a job on a missing folder fails as invalid_model rather than as a dead worker.
    const error = await failure(engine.generate(request({ model: path.resolve('tests/fixtures/models/does-not-exist') }), {}));
    expect(error.code).not.toBe('engine_failed');
    expect(engine.workersStarted).toBe(1);
  });
});
