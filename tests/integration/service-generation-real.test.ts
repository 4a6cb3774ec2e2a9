import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StudioEvent } from '../../app/contract/index.js';
import { createImage, decodeImage, encodePng } from '../../app/engine/image.js';
import { type StudioService, createStudio } from '../../app/service/index.js';
import { tempHome } from '../helpers/home.js';
import { until } from '../helpers/until.js';

// The whole studio as the doors build it (createStudio), with the real engine worker running
// the tiny ONNX fixtures on the CPU: generate → events → completed → recorded in the library.
const FIXTURES = path.resolve('tests/fixtures/models');
const engine = (await import('../../app/engine/index.js')) as Record<string, unknown>;
const hasPipeline = typeof engine.runPipeline === 'function';

const { home, cleanup } = tempHome();
let studio: StudioService;
const events: StudioEvent[] = [];

beforeAll(async () => {
  studio = await createStudio({ transport: 'web', home, starterDir: path.join(FIXTURES, 'sd1-tiny') });
  studio.subscribe((e) => events.push(e));
});
afterAll(async () => {
  await studio.close();
  cleanup();
});

async function finished(jobId: string): Promise<StudioEvent[]> {
  const mine = () => events.filter((e) => 'jobId' in e && e.jobId === jobId);
  // Under the test's own 120 s, so that a job that never ends says so.
  await until(() => mine().some((e) => e.type === 'job.completed' || e.type === 'job.failed'), { timeout: 100_000, what: `job ${jobId} to finish` });
  return mine();
}

describe.skipIf(!hasPipeline)('generation with the real engine', () => {
  it('makes candidates from the bundled model and records them with every parameter', async () => {
    const { jobId } = await studio.call('generate', { request: { model: 'starter', prompt: 'a red fox', seed: 3, steps: 2, batch: 2, sampler: 'euler' } });
    const mine = await finished(jobId);
    const last = mine.at(-1)!;
    expect(last, JSON.stringify(last)).toMatchObject({ type: 'job.completed' });
    expect(mine.some((e) => e.type === 'job.started' && e.device === 'cpu')).toBe(true);
    expect(mine.filter((e) => e.type === 'job.progress').length).toBeGreaterThanOrEqual(2);
    const done = last as Extract<StudioEvent, { type: 'job.completed' }>;
    expect(done.candidates.map((c) => [c.seed, c.width, c.height])).toEqual([[3, 64, 64], [4, 64, 64]]);
    // Different seeds give different pictures.
    expect(done.candidates[0]!.sha256).not.toBe(done.candidates[1]!.sha256);

    const record = (await studio.call('library.get', { id: done.generationId })) as { sampler: string; steps: number; device: string; modelHash: string | null; timings: Record<string, number> };
    expect(record).toMatchObject({ sampler: 'euler', steps: 2, device: 'cpu' });
    expect(record.modelHash).toBeTruthy();
  });

  it('gives the same pixels for the same seed, batch candidate or single run (the worker reuses the loaded model)', async () => {
    const pixels = async (sha: string) => Buffer.from((await decodeImage(studio.mediaFile('image', sha)!)).data);
    // Candidate 1 of the batch above used seed 3 + 1.
    const batch = events.find((e): e is Extract<StudioEvent, { type: 'job.completed' }> => e.type === 'job.completed')!;
    const { jobId } = await studio.call('generate', { request: { model: 'starter', prompt: 'a red fox', seed: 4, steps: 2, sampler: 'euler' } });
    const single = (await finished(jobId)).at(-1) as Extract<StudioEvent, { type: 'job.completed' }>;
    // File hashes differ (each PNG carries its own ids); the pixels must not.
    expect((await pixels(single.candidates[0]!.sha256)).equals(await pixels(batch.candidates[1]!.sha256))).toBe(true);
  });

  it('runs a scribble ControlNet on a ControlNet-ready model', async () => {
    const sketch = createImage(64, 64, [255, 255, 255, 255]);
    for (let x = 8; x < 56; x++) sketch.data.set([0, 0, 0, 255], (32 * 64 + x) * 4);
    const added = await studio.call('models.add', { path: path.join(FIXTURES, 'controlnet-unet-tiny') });
    const { jobId } = await studio.call('generate', {
      request: {
        model: added.id, prompt: 'a line', seed: 1, steps: 2,
        controls: [{ type: 'scribble', model: path.join(FIXTURES, 'controlnet-tiny'), image: { png: (await encodePng(sketch)).toString('base64') }, preprocess: 'scribble' }],
      },
    });
    const last = (await finished(jobId)).at(-1)!;
    expect(last, JSON.stringify(last)).toMatchObject({ type: 'job.completed' });
    const done = last as Extract<StudioEvent, { type: 'job.completed' }>;
    const image = await decodeImage(studio.mediaFile('image', done.candidates[0]!.sha256)!);
    expect(image.width).toBe(64);
    expect(await studio.call('library.get', { id: done.generationId })).toMatchObject({ hasControl: true });
  });
});
