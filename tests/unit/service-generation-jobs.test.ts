import { describe, expect, it } from 'vitest';
import { ApiError, GenerationRequest, type ModelInfo } from '../../app/contract/index.js';
import { createImage } from '../../app/engine/image.js';
import { fitInputs, generationSize, pasteGenerated } from '../../app/service/generation-images.js';
import { DEFAULT_MAX_WAITING, type Job, JobQueue } from '../../app/service/jobs.js';
import { until } from '../helpers/until.js';

const request = (over: Record<string, unknown> = {}) => GenerationRequest.parse({ model: 'm', prompt: 'p', seed: 1, ...over });
const info = { sizeMultiple: 8, defaultWidth: 512, defaultHeight: 512 } as ModelInfo;

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('job queue', () => {
  it('runs jobs one at a time in arrival order and reports positions', async () => {
    const order: string[] = [];
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const positions: number[] = [];
    const queue = new JobQueue<string>({
      run: async (job: Job<string>) => {
        order.push(`start ${job.payload}`);
        const gate = deferred();
        gates.set(job.payload, gate);
        await gate.promise;
        order.push(`end ${job.payload}`);
      },
      onQueued: (_job, position) => positions.push(position),
    });
    queue.enqueue(request(), 'a');
    queue.enqueue(request(), 'b');
    queue.enqueue(request(), 'c');
    expect(positions).toEqual([0, 1, 2]);
    await until(() => gates.has('a'), 'job a to start');
    expect(queue.list().map((j) => j.state)).toEqual(['running', 'queued', 'queued']);
    gates.get('a')!.resolve();
    (await until(() => gates.get('b'), 'job b to start')).resolve();
    (await until(() => gates.get('c'), 'job c to start')).resolve();
    await queue.idle();
    expect(order).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(queue.list().map((j) => j.state)).toEqual(['completed', 'completed', 'completed']);
  });

  it('cancels a queued job without running it and aborts the running one', async () => {
    const ran: string[] = [];
    const queue = new JobQueue<string>({
      run: async (job) => {
        ran.push(job.payload);
        await new Promise<void>((resolve) => job.abort.signal.addEventListener('abort', () => resolve()));
        job.state = 'cancelled';
      },
    });
    const a = queue.enqueue(request(), 'a');
    const b = queue.enqueue(request(), 'b');
    await until(() => ran.includes('a'), 'job a to run');
    expect(queue.cancel(b.id)).toBe(true);
    expect(queue.cancel(b.id)).toBe(false);
    expect(queue.cancel(a.id)).toBe(true);
    await queue.idle();
    expect(ran).toEqual(['a']);
    expect(queue.get(a.id)?.state).toBe('cancelled');
    expect(queue.get(b.id)?.state).toBe('cancelled');
    expect(queue.cancel('j_unknown')).toBe(false);
  });

  it('refuses a job past its bound with a typed busy error, and takes one again once room is made', async () => {
    const gate = deferred();
    const queue = new JobQueue<number>({ run: () => gate.promise, maxWaiting: 2 });
    const first = queue.enqueue(request(), 0);
    await until(() => queue.get(first.id)?.state === 'running', 'job 0 to run'); // two may wait behind it
    const waiting = [queue.enqueue(request(), 1), queue.enqueue(request(), 2)];
    let refused: unknown;
    try {
      queue.enqueue(request(), 3);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).code).toBe('busy');
    expect((refused as ApiError).message).toMatch(/2 jobs are already waiting/);
    expect(queue.list()).toHaveLength(3);
    queue.cancel(waiting[0]!.id);
    expect(() => queue.enqueue(request(), 4)).not.toThrow();
    gate.resolve();
    await queue.idle();
  });

  it('has a default bound, and takes nothing once stopped', async () => {
    const queue = new JobQueue<number>({ run: () => new Promise(() => undefined) });
    const first = queue.enqueue(request(), 0);
    await until(() => queue.get(first.id)?.state === 'running', 'job 0 to run'); // the bound counts those behind it
    for (let i = 1; i <= DEFAULT_MAX_WAITING; i++) queue.enqueue(request(), i);
    expect(() => queue.enqueue(request(), -1)).toThrow(expect.objectContaining({ code: 'busy' }) as Error);
    const stopped = new JobQueue<number>({ run: async () => undefined });
    await stopped.stop();
    expect(() => stopped.enqueue(request(), 0)).toThrow(/closing/);
  });

  it('keeps a bounded list of finished jobs', async () => {
    const queue = new JobQueue<number>({ run: async () => undefined, keepFinished: 3 });
    for (let i = 0; i < 5; i++) queue.enqueue(request(), i);
    await queue.idle();
    expect(queue.list()).toHaveLength(3);
  });
});

describe('generation size and inputs', () => {
  it('uses the asked size, else the init size rounded down to the multiple, else the model default', () => {
    expect(generationSize(request({ width: 640, height: 384 }), info)).toEqual({ width: 640, height: 384 });
    expect(generationSize(request(), info, createImage(203, 97))).toEqual({ width: 200, height: 96 });
    expect(generationSize(request(), info)).toEqual({ width: 512, height: 512 });
    expect(() => generationSize(request({ width: 100, height: 64 }), info)).toThrow(/width 100 is not a multiple of 8/);
  });

  it('fits controls and the init image to the generation size', async () => {
    const control = { type: 'canny', model: 'cn', image: { sha256: 'c'.repeat(64) }, preprocess: 'canny' };
    const fitted = await fitInputs(request({ width: 128, height: 64, init: { sha256: 'a'.repeat(64) }, controls: [control] }), info, {
      init: createImage(300, 150, [1, 2, 3, 255]),
      controls: [createImage(10, 10, [255, 255, 255, 255])],
    });
    expect([fitted.images.init?.width, fitted.images.init?.height]).toEqual([128, 64]);
    expect([fitted.images.controls?.[0]?.width, fitted.images.controls?.[0]?.height]).toEqual([128, 64]);
    expect(fitted.pasteBack).toBeUndefined();
  });

  it('preprocesses controls at the generation size, so Canny edges stay crisp', async () => {
    const square = createImage(512, 256, [0, 0, 0, 255]);
    for (let y = 64; y < 192; y++) for (let x = 192; x < 320; x++) square.data.set([255, 255, 255, 255], (y * 512 + x) * 4);
    const control = { type: 'canny', model: 'cn', image: { sha256: 'c'.repeat(64) }, preprocess: 'canny' };
    const fitted = await fitInputs(request({ width: 128, height: 64, controls: [control] }), info, { controls: [square] });
    const map = fitted.images.controls![0]!;
    expect([map.width, map.height]).toEqual([128, 64]);
    const values = new Set(Array.from(map.data));
    expect(values).toEqual(new Set([0, 255]));
    // The square's outline at a quarter scale: x from 47 to 80, y from 15 to 48.
    expect(map.data[(32 * 128 + 47) * 4]).toBe(255);
  });

  it('refuses only-masked inpainting with an empty mask', async () => {
    const req = request({ width: 64, height: 64, init: { sha256: 'a'.repeat(64) }, inpaint: { mask: { sha256: 'b'.repeat(64) }, onlyMasked: true } });
    await expect(fitInputs(req, info, { init: createImage(64, 64, [9, 9, 9, 255]), mask: createImage(64, 64, [0, 0, 0, 255]), controls: [] })).rejects.toThrow(/mask is empty/);
  });

  it('pastes a full-image inpaint back at the init size, keeping unmasked pixels', async () => {
    const init = createImage(128, 128, [200, 0, 0, 255]);
    const mask = createImage(128, 128, [0, 0, 0, 255]);
    for (let y = 0; y < 128; y++) for (let x = 64; x < 128; x++) mask.data.set([255, 255, 255, 255], (y * 128 + x) * 4);
    const req = request({ width: 64, height: 64, init: { sha256: 'a'.repeat(64) }, inpaint: { mask: { sha256: 'b'.repeat(64) }, blur: 0 } });
    const fitted = await fitInputs(req, info, { init, mask, controls: [] });
    expect([fitted.images.mask?.width, fitted.images.init?.width]).toEqual([64, 64]);
    const out = await pasteGenerated(createImage(64, 64, [0, 0, 250, 255]), fitted.pasteBack!);
    expect([out.width, out.height]).toEqual([128, 128]);
    expect(Array.from(out.data.subarray(0, 4))).toEqual([200, 0, 0, 255]);
    expect(Array.from(out.data.subarray((5 * 128 + 100) * 4, (5 * 128 + 100) * 4 + 4))).toEqual([0, 0, 250, 255]);
  });
});
