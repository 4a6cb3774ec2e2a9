import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerationRequestInput, StudioEvent } from '../../app/contract/index.js';
import { decodeImage, encodePng } from '../../app/engine/image.js';
import { hashModelFiles, listModelFiles } from '../../app/library/model-hash.js';
import { QUEUE_NAME, parseQueueUrl } from '../../app/service/farm/connection.js';
import { FarmWorker, farmStatus } from '../../app/service/farm/index.js';
import { decodeFailure } from '../../app/service/farm/protocol.js';
import { importModel } from '../../app/service/model-import.js';
import { embeddingsDir, lorasDir } from '../../app/service/model-loras.js';
import { type StudioService, createStudio } from '../../app/service/index.js';
import { tempHome } from '../helpers/home.js';
import { type RedisHandle, type WorkerHandle, startRedis, startWorker, waitFor } from './farm-helpers.js';

// The render farm end to end (issue 18, docs/farm.md): redis-server on loopback with a password,
// three `atelier worker` processes (two holding the tiny SD 1.5 fixture, one that must fetch it
// from the studio's model endpoint) and a studio whose jobs go through Redis. One worker is
// SIGKILLed in the middle of a job: BullMQ's stalled-job check hands the job to another, and
// every job is in the library exactly once, with its lineage: the 30 jobs on 3 workers
// (a root and 29 one-candidate children), about as much UNet work as 11 batches of three.

const SD1 = path.resolve('tests/fixtures/models/sd1-tiny');
const CHILDREN = 29;

type Completed = Extract<StudioEvent, { type: 'job.completed' }>;
type Failed = Extract<StudioEvent, { type: 'job.failed' }>;

let redis: RedisHandle;
let holders: WorkerHandle[] = [];
let fetcher: WorkerHandle;
let studio: StudioService;
let modelsPort: number;
const events: StudioEvent[] = [];
const { home, cleanup } = tempHome();

beforeAll(async () => {
  redis = await startRedis();
  modelsPort = 20_000 + crypto.randomInt(20_000);
  process.env.ATELIER_FARM_MODELS = `127.0.0.1:${modelsPort}`;
  [fetcher, ...holders] = await Promise.all([startWorker(redis.url), startWorker(redis.url, ['--model', SD1]), startWorker(redis.url, ['--model', SD1])]);
  studio = await createStudio({ transport: 'cli', home, starterDir: SD1, queue: redis.url });
  studio.subscribe((e) => events.push(e));
});

afterAll(async () => {
  await studio?.close();
  for (const w of [fetcher, ...holders]) await w?.stop('SIGKILL');
  await redis?.stop();
  delete process.env.ATELIER_FARM_MODELS;
  cleanup();
});

/** Runs the `atelier` command; resolves to its stdout, rejects with its stderr. */
function atelier(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['bin/atelier.mjs', ...args], { env, timeout: 90_000 }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)));
  });
}

const ended = (jobId: string) => waitFor(() => events.find((e): e is Completed | Failed => (e.type === 'job.completed' || e.type === 'job.failed') && e.jobId === jobId), `job ${jobId} to end`, 90_000);

async function run(request: GenerationRequestInput): Promise<Completed> {
  const { jobId } = await studio.call('generate', { request });
  const end = await ended(jobId);
  expect(end, JSON.stringify(end)).toMatchObject({ type: 'job.completed' });
  return end as Completed;
}

describe('the render farm', () => {
  it('refuses an open Redis and anything but a redis:// URL', async () => {
    const open = `redis://127.0.0.1:${redis.port}`;
    await expect(createStudio({ transport: 'cli', home, queue: open })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringContaining('open Redis') });
    await expect(createStudio({ transport: 'cli', home, queue: 'http://example.com' })).rejects.toMatchObject({ code: 'bad_request' });
    // A password in the URL proves nothing: a Redis that answers without one is refused too.
    const unprotected = await startRedis({ open: true });
    try {
      const worker = new FarmWorker({ url: unprotected.url, device: 'cpu', concurrency: 1, storeDir: path.join(home, 'open-store'), log: () => undefined });
      await expect(worker.start()).rejects.toMatchObject({ code: 'bad_request', message: expect.stringContaining('answers without a password') });
      await worker.close();
      const { home: openHome, cleanup: openCleanup } = tempHome();
      const refused = await createStudio({ transport: 'cli', home: openHome, starterDir: SD1, queue: unprotected.url });
      try {
        const seen: StudioEvent[] = [];
        refused.subscribe((e) => seen.push(e));
        const { jobId } = await refused.call('generate', { request: { model: 'starter', prompt: 'into an open Redis', seed: 1, steps: 2 } });
        const failed = await waitFor(() => seen.find((e) => e.type === 'job.failed' && e.jobId === jobId), 'the refusal');
        expect(failed).toMatchObject({ error: { code: 'bad_request', message: expect.stringContaining('open Redis') } });
      } finally {
        await refused.close();
        openCleanup();
      }
    } finally {
      await unprotected.stop();
    }
    // TLS when the URL says so.
    expect(parseQueueUrl('rediss://farm:pw@redis.example:6380/2').redis).toMatchObject({ tls: { servername: 'redis.example' }, username: 'farm', password: 'pw', db: 2 });
  });

  it('shows the workers, their devices and models, and the queue in farm status', async () => {
    const hash = hashModelFiles(listModelFiles(SD1));
    const status = await farmStatus(redis.url);
    expect(status.queue).not.toContain(redis.password);
    expect(status.workers.map((w) => w.id).sort()).toEqual([fetcher, ...holders].map((w) => w.id).sort());
    for (const w of status.workers) expect(w).toMatchObject({ device: 'auto', concurrency: 1, models: holders.some((h) => h.id === w.id) ? [hash] : [] });
    expect(status.counts).toMatchObject({ active: 0 });
  });

  it('records a farm run exactly as a local run: same pixels, same fields', async () => {
    const request = { model: 'starter', prompt: 'a red fox', seed: 7, steps: 3, sampler: 'euler' } as const;
    const farm = await run(request);
    const { home: localHome, cleanup: localCleanup } = tempHome();
    const local = await createStudio({ transport: 'cli', home: localHome, starterDir: SD1 });
    try {
      const localEvents: StudioEvent[] = [];
      local.subscribe((e) => localEvents.push(e));
      const { jobId } = await local.call('generate', { request });
      const done = await waitFor(() => localEvents.find((e): e is Completed => e.type === 'job.completed' && e.jobId === jobId), 'the local run', 90_000);
      const pixels = async (s: StudioService, sha: string) => Buffer.from((await decodeImage(s.mediaFile('image', sha)!)).data);
      expect((await pixels(studio, farm.candidates[0]!.sha256)).equals(await pixels(local, done.candidates[0]!.sha256))).toBe(true);
      const fields = (r: Record<string, unknown>) => ({ prompt: r.prompt, seed: r.seed, steps: r.steps, sampler: r.sampler, modelHash: r.modelHash, device: r.device, status: r.status, request: r.request });
      expect(fields(await studio.call('library.get', { id: farm.generationId }))).toEqual(fields(await local.call('library.get', { id: done.generationId })));
    } finally {
      await local.close();
      localCleanup();
    }
  });

  it('carries region masks to the worker: a farm run with a region equals the local run', async () => {
    // The left half is the region (docs/canvas.md, "Regional prompts"); the fixture's default size is 64×64.
    const data = new Uint8Array(64 * 64 * 4);
    for (let p = 0; p < 64 * 64; p++) data.set(p % 64 < 32 ? [255, 255, 255, 255] : [0, 0, 0, 255], p * 4);
    const maskPath = path.join(home, 'region-left.png');
    fs.writeFileSync(maskPath, await encodePng({ width: 64, height: 64, data }));
    const plain = { model: 'starter', prompt: 'a red fox', seed: 11, steps: 3, sampler: 'euler' } as const;
    const request = { ...plain, regions: [{ mask: { path: maskPath }, prompt: 'a blue boat at sea', weight: 1, feather: 4 }] };
    const farm = await run(request);
    const without = await run(plain);
    const { home: localHome, cleanup: localCleanup } = tempHome();
    const local = await createStudio({ transport: 'cli', home: localHome, starterDir: SD1 });
    try {
      const localEvents: StudioEvent[] = [];
      local.subscribe((e) => localEvents.push(e));
      const { jobId } = await local.call('generate', { request });
      const done = await waitFor(() => localEvents.find((e): e is Completed | Failed => (e.type === 'job.completed' || e.type === 'job.failed') && e.jobId === jobId), 'the local run', 90_000);
      expect(done, JSON.stringify(done)).toMatchObject({ type: 'job.completed' });
      const pixels = async (s: StudioService, sha: string) => Buffer.from((await decodeImage(s.mediaFile('image', sha)!)).data);
      const farmPixels = await pixels(studio, farm.candidates[0]!.sha256);
      expect(farmPixels.equals(await pixels(local, (done as Completed).candidates[0]!.sha256))).toBe(true);
      // The region did act: without it the same seed gives other pixels.
      expect(farmPixels.equals(await pixels(studio, without.candidates[0]!.sha256))).toBe(false);
    } finally {
      await local.close();
      localCleanup();
    }
  });

  it('carries an SDXL refiner to the worker as a model by hash: diffusers\' base → refiner image', async () => {
    const ref = JSON.parse(fs.readFileSync(path.resolve('tests/fixtures/models/references/sdxl-tiny-refined.json'), 'utf8')) as { model: string; refiner: string; switchAt: number; prompt: string; negativePrompt: string; seed: number; steps: number; cfg: number; width: number; height: number; rgb_base64: string };
    const fixture = (name: string) => path.resolve('tests/fixtures/models', name);
    const farm = await run({
      model: fixture(ref.model), prompt: ref.prompt, negativePrompt: ref.negativePrompt, seed: ref.seed, steps: ref.steps, cfg: ref.cfg, sampler: 'euler',
      width: ref.width, height: ref.height, refiner: { model: fixture(ref.refiner), switchAt: ref.switchAt },
    });
    const got = await decodeImage(studio.mediaFile('image', farm.candidates[0]!.sha256)!);
    const rgb = Buffer.from(ref.rgb_base64, 'base64');
    let worst = 0;
    for (let p = 0; p < got.width * got.height; p++) for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(got.data[p * 4 + c]! - rgb[p * 3 + c]!));
    expect(worst).toBeLessThanOrEqual(1);
    expect((await studio.call('library.get', { id: farm.generationId })).request?.refiner).toEqual({ model: fixture(ref.refiner), switchAt: ref.switchAt });
    // No worker holds the refiner: the one that ran the job fetched it by its hash, as it does the model,
    // rather than opening the studio's folder path.
    const refinerHash = hashModelFiles(listModelFiles(fixture(ref.refiner)));
    expect([fetcher, ...holders].some((w) => fs.existsSync(path.join(w.home, 'farm', 'models', refinerHash)))).toBe(true);
  });

  it('runs the prompt\'s LoRA and embedding and the chosen VAE on the worker: the local run\'s pixels', async () => {
    // An imported checkpoint (LoRAs and embeddings patch built folders only) with the assets in
    // each home; the worker gets the patched model by hash, never the base and a studio path.
    const CKPT = path.resolve('tests/fixtures/checkpoint');
    const withAssets = async (h: string) => {
      const { entry } = await importModel({ home: h, source: path.join(CKPT, 'sd1-tiny.safetensors'), name: 'tiny', hints: { unet: { heads: 4, normNumGroups: 4, sampleSize: 8 }, vaeNormGroups: 4, clipHeads: 4 }, tokenizerDir: path.resolve('tests/fixtures/models/sd1-tiny/tokenizer') });
      fs.mkdirSync(lorasDir(h), { recursive: true });
      fs.copyFileSync(path.join(CKPT, 'lora', 'lora-kohya.safetensors'), path.join(lorasDir(h), 'style.safetensors'));
      fs.mkdirSync(embeddingsDir(h), { recursive: true });
      fs.copyFileSync(path.join(CKPT, 'embeddings', 'tiny-style.safetensors'), path.join(embeddingsDir(h), 'tiny-style.safetensors'));
      return entry.path;
    };
    const model = await withAssets(home);
    const request = { model, prompt: 'tiny-style, a red house <lora:style:0.8>', seed: 5, steps: 2, sampler: 'euler', width: 64, height: 64, vae: path.join(CKPT, 'vae-alt.safetensors') } as const;
    const farm = await run(request);
    const plain = await run({ ...request, prompt: 'a red house', vae: undefined });
    const { home: localHome, cleanup: localCleanup } = tempHome();
    const local = await createStudio({ transport: 'cli', home: localHome, starterDir: SD1 });
    try {
      const localEvents: StudioEvent[] = [];
      local.subscribe((e) => localEvents.push(e));
      const { jobId } = await local.call('generate', { request: { ...request, model: await withAssets(localHome) } });
      const done = await waitFor(() => localEvents.find((e): e is Completed | Failed => (e.type === 'job.completed' || e.type === 'job.failed') && e.jobId === jobId), 'the local run', 90_000);
      expect(done, JSON.stringify(done)).toMatchObject({ type: 'job.completed' });
      const pixels = async (s: StudioService, sha: string) => Buffer.from((await decodeImage(s.mediaFile('image', sha)!)).data);
      const farmPixels = await pixels(studio, farm.candidates[0]!.sha256);
      expect(farmPixels.equals(await pixels(local, (done as Completed).candidates[0]!.sha256))).toBe(true);
      // the assets did act: the plain prompt and the model's own VAE give other pixels
      expect(farmPixels.equals(await pixels(studio, plain.candidates[0]!.sha256))).toBe(false);
      // history names the base model by its checkpoint's sha256 (A1111's hash), as a local run does
      const entry = await studio.call('library.get', { id: farm.generationId });
      expect(entry.modelHash).toBe(crypto.createHash('sha256').update(fs.readFileSync(path.join(CKPT, 'sd1-tiny.safetensors'))).digest('hex'));
      expect(entry.modelHash).toBe((await local.call('library.get', { id: (done as Completed).generationId })).modelHash);
      expect(entry.prompt).toBe(request.prompt);
    } finally {
      await local.close();
      localCleanup();
    }
  });

  it('retries the job of a worker killed mid-job on another, and records every job once with its lineage', async () => {
    const root = await run({ model: 'starter', prompt: 'a lighthouse', seed: 1, steps: 4 });
    const parent = root.candidates[0]!;
    // The test's own view of the queue: it kills the first model-holding worker that reports a step.
    const watch = new QueueEvents(QUEUE_NAME, { connection: parseQueueUrl(redis.url).redis });
    await watch.waitUntilReady();
    let killed: { worker: WorkerHandle; jobId: string } | undefined;
    const stalled = new Set<string>();
    watch.on('stalled', ({ jobId }) => stalled.add(jobId));
    watch.on('progress', ({ jobId, data }) => {
      const p = data as { workerId?: string; step?: number };
      const victim = holders.find((w) => w.id === p.workerId);
      if (killed || !victim || (p.step ?? 0) < 1) return;
      killed = { worker: victim, jobId };
      victim.proc.kill('SIGKILL');
    });
    try {
      const jobIds: string[] = [];
      for (let i = 0; i < CHILDREN; i++) {
        const refine = i % 2 === 1 ? { init: { sha256: parent.sha256 }, strength: 0.6 } : {};
        // 20 steps: long enough that the kill, sent at a holder's first step, lands before the job ends.
        jobIds.push((await studio.call('generate', { request: { model: 'starter', prompt: `a lighthouse, take ${i}`, seed: 100 + i, steps: 20, batch: 1, parentCandidateId: parent.id, ...refine } })).jobId);
      }
      const ends = await Promise.all(jobIds.map(ended));
      expect(ends.filter((e) => e.type === 'job.failed'), 'failed jobs').toEqual([]);
      expect(killed, 'a worker was killed mid-job').toBeDefined();
      expect(stalled.has(killed!.jobId), 'the killed job was found stalled and retried').toBe(true);
      // Exactly once: one completion per job, one library entry per job.
      for (const jobId of [...jobIds, killed!.jobId]) expect(events.filter((e) => e.type === 'job.completed' && e.jobId === jobId)).toHaveLength(1);
      const listed = await studio.call('library.search', { text: 'lighthouse', statuses: ['completed', 'failed', 'cancelled'], limit: 100 });
      expect(listed.total).toBe(CHILDREN + 1);
      for (const end of ends as Completed[]) {
        const lineage = await studio.call('library.lineage', { id: end.generationId });
        expect(lineage.ancestors.map((a) => a.generationId)).toEqual([root.generationId]);
      }
      const img2img = await studio.call('library.get', { id: (ends[1] as Completed).generationId });
      expect(img2img).toMatchObject({ mode: 'img2img', strength: 0.6, parentCandidateId: parent.id });
    } finally {
      await watch.close();
    }
  });

  it('has a worker without the model fetch it from the studio, with the token only', async () => {
    const base = `http://127.0.0.1:${modelsPort}/farm/models`;
    const hash = hashModelFiles(listModelFiles(SD1));
    expect((await fetch(`${base}/${hash}/manifest`)).status).toBe(401);
    expect((await fetch(`${base}/${hash}/manifest`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    // Only the fetcher is left to take the job.
    for (const w of holders) await w.stop('SIGTERM');
    const done = await run({ model: 'starter', prompt: 'a fetched model', seed: 3, steps: 2 });
    expect(done.candidates).toHaveLength(1);
    const store = path.join(fetcher.home, 'farm', 'models', hash);
    expect(hashModelFiles(listModelFiles(store))).toBe(hash);
    expect(fs.readdirSync(path.dirname(store)).filter((n) => n.startsWith('.partial'))).toEqual([]);
  });

  it('takes atelier generate --queue and atelier farm status through the command line', async () => {
    const { home: cliHome, cleanup: cliCleanup } = tempHome();
    try {
      const env = { ...process.env, ATELIER_HOME: cliHome, ATELIER_QUEUE: '', ATELIER_FARM_MODELS: '' };
      const out = path.join(cliHome, 'out');
      const generated = await atelier(['generate', '--queue', redis.url, '--model', SD1, '--prompt', 'from the command line', '--seed', '2', '--steps', '2', '--out', out, '--json'], env);
      const summary = JSON.parse(generated) as { files: string[]; generationId: string; device: string };
      expect(summary.device).toBe('cpu');
      expect(fs.existsSync(summary.files[0]!)).toBe(true);
      const status = JSON.parse(await atelier(['farm', 'status', '--queue', redis.url, '--json'], env)) as { workers: Array<{ id: string }> };
      expect(status.workers.map((w) => w.id)).toContain(fetcher.id);
    } finally {
      cliCleanup();
    }
  });

  it('stops a running job within a step of the cancel, and records it as cancelled', async () => {
    const { jobId } = await studio.call('generate', { request: { model: 'starter', prompt: 'a long batch', seed: 9, steps: 200, batch: 16 } });
    await waitFor(() => events.some((e) => e.type === 'job.progress' && e.jobId === jobId && e.step >= 2), 'the batch to run', 90_000);
    const cancelledAt = Date.now();
    expect(await studio.call('jobs.cancel', { jobId })).toEqual({ cancelled: true });
    const end = await ended(jobId);
    // 3200 steps would take many seconds more: the worker stopped at its next step.
    expect(Date.now() - cancelledAt).toBeLessThan(5_000);
    expect(end).toMatchObject({ type: 'job.failed', cancelled: true, error: { code: 'cancelled' } });
    const listed = await studio.call('library.search', { text: '"a long batch"', statuses: ['cancelled'] });
    expect(listed.total).toBe(1);
  });

  it('fails a hostile job on the worker with a typed error, touching nothing', async () => {
    const queue = new Queue(QUEUE_NAME, { connection: parseQueueUrl(redis.url).redis });
    try {
      const jobId = `j_${crypto.randomUUID()}`;
      const job = await queue.add('generate', { v: 1, jobId, request: { model: '../../../../etc/passwd', prompt: 'x' }, models: [], images: { controls: [] }, source: { url: 'file:///etc/passwd', token: 'x' } }, { jobId });
      const state = await waitFor(async () => {
        const s = await job.getState();
        return s === 'failed' || s === 'completed' ? s : undefined;
      }, 'the hostile job to end');
      expect(state).toBe('failed');
      const failed = await queue.getJob(jobId);
      expect(decodeFailure(failed!.failedReason).code).toBe('bad_request');
      await failed!.remove();
    } finally {
      await queue.close();
    }
  });
});
