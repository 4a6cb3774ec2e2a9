// npm run bench:live [-- --strokes N --size S --steps N]
// Live mode's stroke-to-preview latency (docs: issue 15) with the bundled starter model:
// each "stroke" adds a line to a scribble map, which is sent as live mode sends it (the
// preview request of renderer/src/state/studio.ts: fixed seed, one candidate, few steps,
// DPM++ 2M — or LCM's sampler where the model has it — `preview: true`, the starter's scribble
// ControlNet) through the in-process studio; the latency is from the stroke's end to the
// preview's pixels in job.completed, plus the UI's debounce (state/live.ts). The first
// preview (model loading) is not counted. Prints p50/p95, and where the time goes (medians):
// the request until the job starts (PNG decoding, preprocessing, queue, model lookup), the
// denoising steps (job.started → last job.progress), and the rest (VAE decode, the preview's
// PNG); then how long cancelling a running preview takes, as a newer stroke does. With the date, commit and load average, so that the lead can re-measure on an idle
// machine and compare (docs/performance.md).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PNG } from 'pngjs';
import type { StudioEvent } from '../app/contract/index.js';
import { type StudioService, createStudio } from '../app/service/index.js';

const { values } = parseArgs({
  options: {
    strokes: { type: 'string', default: '20' },
    size: { type: 'string', default: '256' },
    steps: { type: 'string' },
  },
});
const STROKES = Number(values.strokes);
const SIZE = Number(values.size);
/** The UI's quiet time before a preview starts (renderer/src/state/live.ts). */
const DEBOUNCE_MS = 250;

const starterDir = path.resolve('resources/models/starter');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-bench-live-'));
const studio: StudioService = await createStudio({ transport: 'cli', home, starterDir });
const arrived = new Map<string, { event: StudioEvent; at: number }>();
/** When each job started and made its last step (performance.now()). */
const marks = new Map<string, { started?: number; lastStep?: number }>();
/** Checks waiting on a job's events. Waiting is event-driven: a polling loop here would take a core from the engine worker it measures. */
const waiters = new Map<string, () => void>();
studio.subscribe((e) => {
  if (e.type === 'job.completed' || e.type === 'job.failed') arrived.set(e.jobId, { event: e, at: performance.now() });
  if (e.type === 'job.started') marks.set(e.jobId, { ...marks.get(e.jobId), started: performance.now() });
  if (e.type === 'job.progress') marks.set(e.jobId, { ...marks.get(e.jobId), lastStep: performance.now() });
  if ('jobId' in e) waiters.get(e.jobId)?.();
});

/** Resolves once `ready()` holds, checked now and after each event of the job. */
function until(jobId: string, ready: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!ready()) return;
      waiters.delete(jobId);
      resolve();
    };
    waiters.set(jobId, check);
    check();
  });
}

/** The sketch so far, drawn as the canvas renders it for the scribble control: black ink on white. */
const sketch = new PNG({ width: SIZE, height: SIZE });
sketch.data.fill(255);
function stroke(i: number): string {
  const y0 = ((i * 37) % (SIZE - 20)) + 10;
  const y1 = ((i * 71 + 50) % (SIZE - 20)) + 10;
  for (let x = 10; x < SIZE - 10; x++) {
    const y = Math.round(y0 + ((y1 - y0) * (x - 10)) / (SIZE - 20));
    for (let w = -2; w <= 2; w++) {
      const o = ((y + w) * SIZE + x) * 4;
      if (o >= 0 && o < sketch.data.length) sketch.data.fill(0, o, o + 3);
    }
  }
  return PNG.sync.write(sketch).toString('base64');
}

interface Sample {
  total: number;
  /** stroke → job.started */
  request: number;
  /** job.started → last step */
  steps: number;
  /** last step → pixels */
  finish: number;
}

/** Sends stroke i's preview as live mode does; returns its job. */
async function submit(i: number, lcm: boolean): Promise<string> {
  const png = stroke(i);
  const fast = lcm ? { sampler: 'lcm' as const, steps: Number(values.steps ?? 4), cfg: 2 } : { sampler: 'dpmpp_2m' as const, steps: Number(values.steps ?? 4) };
  const { jobId } = await studio.call('generate', {
    request: {
      model: 'starter',
      prompt: 'a red house beside a lake under a blue sky',
      seed: 1,
      width: SIZE,
      height: SIZE,
      batch: 1,
      ...fast,
      controls: [{ type: 'scribble', model: path.join(starterDir, 'controlnet'), image: { png }, preprocess: 'scribble' }],
      preview: true,
    },
  });
  return jobId;
}

async function preview(i: number, lcm: boolean): Promise<Sample> {
  const start = performance.now();
  const jobId = await submit(i, lcm);
  await until(jobId, () => arrived.has(jobId));
  const done = arrived.get(jobId)!;
  if (done.event.type === 'job.failed') throw new Error(`preview failed: ${JSON.stringify(done.event.error)}`);
  const m = marks.get(jobId) ?? {};
  const started = m.started ?? done.at;
  const lastStep = m.lastStep ?? started;
  return { total: done.at - start + DEBOUNCE_MS, request: started - start, steps: lastStep - started, finish: done.at - lastStep };
}

/**
 * A newer stroke cancels the running preview (state/live.ts): the time from jobs.cancel, sent
 * once the preview's first step is done, to its job.failed (cancelled) — the engine stops at
 * the next step boundary. Undefined when the preview finished first.
 */
async function cancelLatency(i: number, lcm: boolean): Promise<number | undefined> {
  const jobId = await submit(i, lcm);
  await until(jobId, () => marks.get(jobId)?.lastStep !== undefined || arrived.has(jobId));
  const asked = performance.now();
  await studio.call('jobs.cancel', { jobId });
  await until(jobId, () => arrived.has(jobId));
  const done = arrived.get(jobId)!;
  return done.event.type === 'job.failed' && done.event.cancelled ? done.at - asked : undefined;
}

/** The commit measured, with `+` when app/ or bench/ have uncommitted changes. */
function commit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    return execFileSync('git', ['status', '--porcelain', '--untracked-files=no', 'app', 'bench'], { encoding: 'utf8' }).trim() ? `${head}+` : head;
  } catch {
    return 'unknown';
  }
}

const pct = (xs: number[], p: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

try {
  const models = await studio.call('models.list', {});
  const lcm = models.find((m) => m.id === 'starter')?.info?.lcm ?? false;
  console.log(`bench:live — ${os.cpus().length} CPU(s) (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, commit ${commit()}, ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`);
  console.log(`starter model at ${SIZE}², ${lcm ? 'LCM' : 'DPM++ 2M'} ${values.steps ?? 4} steps, scribble ControlNet, ${STROKES} strokes, debounce ${DEBOUNCE_MS} ms included`);
  await preview(0, lcm); // loads the model and opens the sessions
  const loadBefore = os.loadavg()[0]!.toFixed(2);
  const samples: Sample[] = [];
  for (let i = 1; i <= STROKES; i++) samples.push(await preview(i, lcm));
  const latencies = samples.map((s) => s.total);
  const med = (key: keyof Sample) => pct(samples.map((s) => s[key]), 50).toFixed(0);
  console.log(`stroke → preview: p50 ${pct(latencies, 50).toFixed(0)} ms, p95 ${pct(latencies, 95).toFixed(0)} ms (min ${Math.min(...latencies).toFixed(0)}, max ${Math.max(...latencies).toFixed(0)})`);
  console.log(`  medians: debounce ${DEBOUNCE_MS} + request → started ${med('request')} + steps ${med('steps')} + decode and PNG ${med('finish')} ms`);
  const cancels: number[] = [];
  for (let i = 0; i < Math.max(3, Math.floor(STROKES / 4)); i++) {
    const ms = await cancelLatency(STROKES + 1 + i, lcm);
    if (ms !== undefined) cancels.push(ms);
  }
  if (cancels.length > 0) console.log(`  cancel of a running preview → job.failed (cancelled): median ${pct(cancels, 50).toFixed(0)} ms, max ${Math.max(...cancels).toFixed(0)} ms (${cancels.length} cancels)`);
  console.log(`  load average ${loadBefore} → ${os.loadavg()[0]!.toFixed(2)} (1 min, before → after)`);
} finally {
  await studio.close();
  fs.rmSync(home, { recursive: true, force: true });
}
