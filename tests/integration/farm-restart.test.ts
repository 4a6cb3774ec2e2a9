import fs from 'node:fs';
import path from 'node:path';
import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StudioEvent } from '../../app/contract/index.js';
import { QUEUE_NAME, parseQueueUrl } from '../../app/service/farm/connection.js';
import { FarmWorker } from '../../app/service/farm/index.js';
import { type StudioService, createStudio } from '../../app/service/index.js';
import { tempHome } from '../helpers/home.js';
import { type RedisHandle, startRedis, waitFor } from './farm-helpers.js';

// Nothing lost (issue 18, docs/farm.md): jobs queued in Redis survive Redis being SIGKILLed and
// started again (AOF, fsync always) while the studio that submitted them is closed; a worker
// runs them with interactive jobs ahead of batches, and the studio, started again, finds its
// results in Redis and records each once. Also: a result a hostile worker sends is refused and
// the job recorded as failed.

const SD1 = path.resolve('tests/fixtures/models/sd1-tiny');

let redis: RedisHandle;
let queue: Queue;
const { home, cleanup } = tempHome();
const opened: StudioService[] = [];

async function openStudio(events: StudioEvent[]): Promise<StudioService> {
  const studio = await createStudio({ transport: 'cli', home, starterDir: SD1, queue: redis.url });
  studio.subscribe((e) => events.push(e));
  opened.push(studio);
  return studio;
}

beforeAll(async () => {
  redis = await startRedis();
  queue = new Queue(QUEUE_NAME, { connection: parseQueueUrl(redis.url).redis });
});

afterAll(async () => {
  for (const s of opened) await s.close();
  await queue?.close();
  await redis?.stop();
  cleanup();
});

describe('the farm loses nothing', () => {
  it('refuses a hostile worker\'s result and records the job as failed', async () => {
    const events: StudioEvent[] = [];
    const studio = await openStudio(events);
    const hostile = new Worker(QUEUE_NAME, async () => ({ device: 'cpu', workerId: 'evil', timings: {}, candidates: [{ index: 0, seed: 1, png: 'AAAA' }] }), { connection: parseQueueUrl(redis.url).redis });
    try {
      const { jobId } = await studio.call('generate', { request: { model: 'starter', prompt: 'a poisoned result', seed: 1, steps: 2 } });
      const end = await waitFor(() => events.find((e) => e.type === 'job.failed' && e.jobId === jobId), 'the job to fail');
      expect(end).toMatchObject({ type: 'job.failed', cancelled: false, error: { code: 'engine_failed', message: expect.stringContaining('outside the farm\'s contract') } });
      const listed = await studio.call('library.search', { text: 'poisoned', statuses: ['failed'] });
      expect(listed.total).toBe(1);
      // Collected: Redis forgets it.
      await waitFor(async () => (await queue.getJob(jobId)) === undefined || undefined, 'the job to leave Redis');
    } finally {
      await hostile.close();
      await studio.close();
    }
  });

  it('keeps queued jobs through a Redis kill and a studio restart, runs interactive ones first, and records each once', async () => {
    const before: StudioEvent[] = [];
    const first = await openStudio(before);
    const batches: string[] = [];
    const singles: string[] = [];
    for (let i = 0; i < 3; i++) batches.push((await first.call('generate', { request: { model: 'starter', prompt: `a queued batch ${i}`, seed: 10 + i, steps: 2, batch: 2 } })).jobId);
    for (let i = 0; i < 2; i++) singles.push((await first.call('generate', { request: { model: 'starter', prompt: `a queued single ${i}`, seed: 20 + i, steps: 2 } })).jobId);
    const all = [...batches, ...singles];
    await waitFor(() => all.every((id) => before.some((e) => e.type === 'job.queued' && e.jobId === id)), 'all jobs in Redis');
    await first.close();

    await redis.kill();
    await redis.start();
    const counts = await queue.getJobCounts('waiting', 'prioritized');
    expect((counts.waiting ?? 0) + (counts.prioritized ?? 0)).toBe(5);

    // The worker runs them while no studio is open; the results wait in Redis.
    const worker = new FarmWorker({ url: redis.url, device: 'cpu', concurrency: 1, storeDir: path.join(home, 'worker-store'), models: [SD1], log: () => undefined });
    await worker.start();
    try {
      await waitFor(async () => (await queue.getJobCounts('completed')).completed === 5 || undefined, 'the worker to run all five', 90_000);
    } finally {
      await worker.close();
    }
    const order = (await queue.getJobs(['completed'])).sort((a, b) => (a.processedOn ?? 0) - (b.processedOn ?? 0)).map((j) => j.id);
    expect(order.slice(0, 2).sort()).toEqual([...singles].sort());

    const after: StudioEvent[] = [];
    const second = await openStudio(after);
    await waitFor(() => all.every((id) => after.some((e) => e.type === 'job.completed' && e.jobId === id)), 'the restarted studio to collect every result');
    for (const id of all) expect(after.filter((e) => e.type === 'job.completed' && e.jobId === id)).toHaveLength(1);
    const listed = await second.call('library.search', { text: 'queued', statuses: ['completed', 'failed', 'cancelled'], limit: 100 });
    expect(listed.total).toBe(5);
    expect(listed.items.reduce((n, g) => n + g.candidates.length, 0)).toBe(3 * 2 + 2);
    await waitFor(async () => (await queue.getJobCounts('completed')).completed === 0 || undefined, 'Redis to forget the collected jobs');
  });

  it('records a job once when two studio processes share a home (web server and atelier generate)', async () => {
    const a: StudioEvent[] = [];
    const b: StudioEvent[] = [];
    const first = await openStudio(a);
    const { jobId } = await first.call('generate', { request: { model: 'starter', prompt: 'one home two doors', seed: 5, steps: 2 } });
    await waitFor(() => a.some((e) => e.type === 'job.queued' && e.jobId === jobId), 'the job in Redis');
    const second = await openStudio(b);
    const worker = new FarmWorker({ url: redis.url, device: 'cpu', concurrency: 1, storeDir: path.join(home, 'worker-store'), models: [SD1], log: () => undefined });
    await worker.start();
    try {
      await waitFor(() => a.find((e) => e.type === 'job.completed' && e.jobId === jobId), 'the result');
      // The second studio leaves the first one's job alone.
      expect((await second.call('jobs.list', {})).map((j) => j.jobId)).not.toContain(jobId);
      expect(b.some((e) => 'jobId' in e && e.jobId === jobId)).toBe(false);
      expect((await first.call('library.search', { text: '"one home two doors"', statuses: ['completed', 'failed', 'cancelled'] })).total).toBe(1);
    } finally {
      await worker.close();
    }
  });

  it('takes the queue from settings.json, and cancels a queued job by removing it from Redis', async () => {
    const { home: other, cleanup: otherCleanup } = tempHome();
    fs.writeFileSync(path.join(other, 'settings.json'), JSON.stringify({ models: [], farm: { queue: redis.url } }));
    const events: StudioEvent[] = [];
    const studio = await createStudio({ transport: 'cli', home: other, starterDir: SD1 });
    try {
      studio.subscribe((e) => events.push(e));
      const { jobId } = await studio.call('generate', { request: { model: 'starter', prompt: 'from settings', seed: 6, steps: 2 } });
      await waitFor(() => events.some((e) => e.type === 'job.queued' && e.jobId === jobId), 'the job in Redis');
      expect(await queue.getJob(jobId)).toBeDefined();
      expect(await studio.call('jobs.cancel', { jobId })).toEqual({ cancelled: true });
      expect(events.filter((e) => e.type === 'job.failed' && e.jobId === jobId)).toMatchObject([{ cancelled: true }]);
      expect(await queue.getJob(jobId)).toBeUndefined();
      expect(fs.readdirSync(path.join(other, 'farm', 'pending'))).toEqual([]);
    } finally {
      await studio.close();
      otherCleanup();
    }
  });

  it('routes jobs to the worker that holds the model when the studio serves none', async () => {
    const events: StudioEvent[] = [];
    const studio = await openStudio(events);
    const holder = new FarmWorker({ url: redis.url, device: 'cpu', concurrency: 1, storeDir: path.join(home, 'worker-store'), models: [SD1], log: () => undefined });
    const lacking = new FarmWorker({ url: redis.url, device: 'cpu', concurrency: 1, storeDir: path.join(home, 'lacking-store'), log: () => undefined });
    await Promise.all([holder.start(), lacking.start()]);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push((await studio.call('generate', { request: { model: 'starter', prompt: `routed ${i}`, seed: 30 + i, steps: 2 } })).jobId);
      const ends = await Promise.all(ids.map((id) => waitFor(() => events.find((e) => (e.type === 'job.completed' || e.type === 'job.failed') && e.jobId === id), `job ${id}`, 60_000)));
      expect(ends.map((e) => e.type)).toEqual(['job.completed', 'job.completed', 'job.completed', 'job.completed']);
      // With nobody holding it, the job fails on the worker that took it.
      // Closing takes its advert away.
      await holder.close();
      const { jobId } = await studio.call('generate', { request: { model: 'starter', prompt: 'nobody has it', seed: 1, steps: 2 } });
      const end = await waitFor(() => events.find((e) => e.type === 'job.failed' && e.jobId === jobId), 'the failure', 60_000);
      expect(end).toMatchObject({ error: { code: 'invalid_model', message: expect.stringContaining('does not hold the model') } });
    } finally {
      await holder.close();
      await lacking.close();
    }
  });

  it('gets the result of a job to a studio that stayed open while Redis restarted', async () => {
    const events: StudioEvent[] = [];
    const studio = await openStudio(events);
    const { jobId } = await studio.call('generate', { request: { model: 'starter', prompt: 'through a restart', seed: 4, steps: 2 } });
    await waitFor(() => events.some((e) => e.type === 'job.queued' && e.jobId === jobId), 'the job in Redis');
    await redis.kill();
    await redis.start();
    const worker = new FarmWorker({ url: redis.url, device: 'cpu', concurrency: 1, storeDir: path.join(home, 'worker-store'), models: [SD1], log: () => undefined });
    await worker.start();
    try {
      const end = await waitFor(() => events.find((e) => (e.type === 'job.completed' || e.type === 'job.failed') && e.jobId === jobId), 'the result', 60_000);
      expect(end.type).toBe('job.completed');
      expect((await studio.call('library.search', { text: '"through a restart"' })).total).toBe(1);
    } finally {
      await worker.close();
    }
  });
});
