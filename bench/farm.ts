// npm run bench:farm — the render farm through a real Redis (docs/farm.md): a private
// redis-server on loopback (password, AOF), a studio whose jobs go to it, and farm workers
// (each with its own engine process). Prints jobs per minute with 1 and with 2 workers, and the
// time from `generate` to the first preview and to the first progress event on an idle, warm
// worker. Workers are warmed (engine started, model loaded) before anything is timed.
// Usage: npm run bench:farm [-- --model starter|DIR --jobs 12 --steps 8 --repeat 5]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { StudioEvent } from '../app/contract/index.js';
import { FarmWorker } from '../app/service/farm/index.js';
import { type StudioService, createStudio } from '../app/service/index.js';
import { startRedis, waitFor } from '../tests/integration/farm-helpers.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const MODEL = arg('model', 'starter');
const JOBS = Number(arg('jobs', '12'));
const STEPS = Number(arg('steps', '8'));
const REPEAT = Number(arg('repeat', '5'));
const starterDir = MODEL === 'starter' ? path.resolve('resources/models/starter') : path.resolve(MODEL);

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-bench-farm-'));
const redis = await startRedis();
const events: StudioEvent[] = [];
/** When each event arrived (the subscriber's clock, not the poll's). */
const arrivedAt = new Map<StudioEvent, number>();
const studio: StudioService = await createStudio({ transport: 'cli', home, starterDir, queue: redis.url });
studio.subscribe((e) => {
  arrivedAt.set(e, performance.now());
  events.push(e);
});
const workers: FarmWorker[] = [];

const ended = (jobId: string) => waitFor(() => events.find((e) => (e.type === 'job.completed' || e.type === 'job.failed') && e.jobId === jobId), `job ${jobId}`, 600_000);
const submit = async (seed: number): Promise<string> => (await studio.call('generate', { request: { model: 'starter', prompt: 'a lighthouse at dusk, oil painting', seed, steps: STEPS } })).jobId;

async function addWorker(): Promise<void> {
  const worker = new FarmWorker({ url: redis.url, device: 'cpu', concurrency: 1, storeDir: path.join(home, `store-${workers.length}`), models: [starterDir], log: () => undefined });
  await worker.start();
  workers.push(worker);
}

/** Runs `JOBS` jobs at once; every worker has run one first, so model loading is not timed. */
async function throughput(): Promise<number> {
  // One warm-up job per worker at once: each takes one (the others are busy).
  await Promise.all(await Promise.all(workers.map((_, i) => submit(9000 + i))).then((ids) => ids.map(ended)));
  const start = performance.now();
  const ids = [];
  for (let i = 0; i < JOBS; i++) ids.push(await submit(i));
  const ends = await Promise.all(ids.map(ended));
  const failed = ends.filter((e) => e.type === 'job.failed');
  if (failed.length) throw new Error(`failed jobs: ${JSON.stringify(failed[0])}`);
  return (JOBS / (performance.now() - start)) * 60_000;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  console.log(`bench:farm — ${os.cpus().length} CPU(s) (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, redis-server on loopback`);
  console.log(`model ${MODEL === 'starter' ? 'starter' : path.basename(starterDir)}, ${STEPS} steps, ${JOBS} jobs per run`);
  await addWorker();
  const one = await throughput();
  console.log(`1 worker:  ${one.toFixed(1)} jobs/min`);
  await addWorker();
  const two = await throughput();
  console.log(`2 workers: ${two.toFixed(1)} jobs/min (×${(two / one).toFixed(2)})`);

  const toPreview: number[] = [];
  const toProgress: number[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const start = performance.now();
    const jobId = await submit(500 + i);
    const progress = await waitFor(() => events.find((e) => e.type === 'job.progress' && e.jobId === jobId), 'first progress', 600_000);
    const preview = await waitFor(() => events.find((e) => e.type === 'job.progress' && e.jobId === jobId && e.preview !== undefined), 'first preview', 600_000);
    toProgress.push(arrivedAt.get(progress)! - start);
    toPreview.push(arrivedAt.get(preview)! - start);
    await ended(jobId);
  }
  console.log(`submit → first progress: median ${median(toProgress).toFixed(0)} ms (of ${REPEAT}: ${toProgress.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`submit → first preview:  median ${median(toPreview).toFixed(0)} ms (of ${REPEAT}: ${toPreview.map((x) => x.toFixed(0)).join(', ')})`);
} finally {
  await studio.close();
  for (const w of workers) await w.close();
  await redis.stop();
  fs.rmSync(home, { recursive: true, force: true });
}
