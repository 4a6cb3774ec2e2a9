import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, ApiError, type StudioEvent } from '../../app/contract/index.js';
import { EngineClient } from '../../app/engine/client.js';
import { createImage, decodeImage, encodePng } from '../../app/engine/image.js';
import { forkTransportFactory } from '../../app/engine/worker/fork.js';
import { WORKER_ENGINE_MODULE_ENV } from '../../app/engine/worker/main.js';
import { WORKER_TEST_HOOKS_ENV } from '../../app/engine/worker/protocol.js';
import { type Library, openLibrary } from '../../app/library/index.js';
import { StudioService } from '../../app/service/index.js';
import { type GenerationArea, createGenerationArea } from '../../app/service/generation-handlers.js';
import { type WebServer, startWebServer } from '../../main/web/server.js';
import { tempHome } from '../helpers/home.js';
import { until } from '../helpers/until.js';

// The generation service end to end, in-process: StudioService.call → queue → a forked
// engine worker (running a stand-in engine with short, known steps) → events → library.
// The real engine on the tiny ONNX fixtures runs in service-generation-real.test.ts.
const FIXTURES = path.resolve('tests/fixtures/models');
const FAKE_ENGINE = path.resolve('tests/integration/engine-worker-fake-engine.ts');

const { home, cleanup } = tempHome();
let service: StudioService;
let library: Library;
let area: GenerationArea;
let server: WebServer;
const events: StudioEvent[] = [];

beforeAll(async () => {
  service = new StudioService({ transport: 'web', home });
  library = openLibrary(home);
  service.register({}, () => library.close());
  service.setMediaResolver((kind, sha) => (library.hasImage(sha) ? (kind === 'image' ? library.imagePath(sha) : library.thumbnailPath(sha)) : undefined));
  const engine = new EngineClient({
    transport: forkTransportFactory({ env: { [WORKER_TEST_HOOKS_ENV]: '1', [WORKER_ENGINE_MODULE_ENV]: FAKE_ENGINE, FAKE_ENGINE_STEP_MS: '30' } }),
  });
  area = createGenerationArea({ home, transport: 'web', emit: (e) => service.emit(e), library, engine, starterDir: path.join(FIXTURES, 'sd1-tiny'), previewIntervalMs: 500 });
  service.register(area.handlers, area.close);
  service.subscribe((e) => events.push(e));
  server = await startWebServer({ service, uiDir: 'dist/renderer' });
});
afterAll(async () => {
  await server.close();
  await service.close();
  cleanup();
});

type JobEvent = Extract<StudioEvent, { jobId: string }>;
function jobEvents(jobId: string): JobEvent[] {
  return events.filter((e): e is JobEvent => 'jobId' in e && e.jobId === jobId);
}
async function finished(jobId: string): Promise<JobEvent[]> {
  const done = () => jobEvents(jobId).some((e) => e.type === 'job.completed' || e.type === 'job.failed');
  await until(done, { timeout: 60_000, what: `job ${jobId} to finish` }).catch((error: unknown) => {
    throw new Error(`job ${jobId} did not finish: ${JSON.stringify(jobEvents(jobId).map((e) => e.type))}`, { cause: error });
  });
  return jobEvents(jobId);
}

async function failure(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('expected a failure');
}

function get(urlPath: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: server.port, path: urlPath, headers: { host: `127.0.0.1:${server.port}`, ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
}

describe('models', () => {
  it('lists the bundled model and adds, keeps and removes a user folder', async () => {
    const before = await service.call('models.list', {});
    expect(before).toHaveLength(1);
    expect(before[0]).toMatchObject({ id: 'starter', builtIn: true, valid: true, info: { family: 'sd1' } });

    const added = await service.call('models.add', { path: path.join(FIXTURES, 'inpaint-tiny'), name: 'Inpaint tiny' });
    expect(added).toMatchObject({ name: 'Inpaint tiny', builtIn: false, valid: true, info: { inpainting: true } });
    const settings = JSON.parse(fs.readFileSync(path.join(home, 'settings.json'), 'utf8')) as { models: Array<{ id: string }> };
    expect(settings.models.map((m) => m.id)).toEqual([added.id]);
    expect((await service.call('models.list', {})).map((m) => m.id)).toEqual(['starter', added.id]);

    expect(await service.call('models.remove', { id: added.id })).toEqual({ removed: true });
    expect(await service.call('models.remove', { id: added.id })).toEqual({ removed: false });
    expect((await failure(service.call('models.remove', { id: 'starter' }))).code).toBe('bad_request');
  });

  it('lists the ControlNets a model ships in its entry, so the UI can offer them', async () => {
    const dir = path.join(home, 'models', 'with-controlnet');
    fs.cpSync(path.join(FIXTURES, 'controlnet-unet-tiny'), dir, { recursive: true });
    fs.cpSync(path.join(FIXTURES, 'controlnet-tiny'), path.join(dir, 'controlnet'), { recursive: true });
    const added = await service.call('models.add', { path: dir });
    const listed = (await service.call('models.list', {})).find((m) => m.id === added.id);
    expect(listed?.info?.controlnets).toEqual([path.join(dir, 'controlnet')]);
    expect((await service.call('models.list', {})).find((m) => m.id === 'starter')?.info?.controlnets).toEqual([]); // sd1-tiny ships none
    await service.call('models.remove', { id: added.id });
  });

  it('refuses a broken folder with invalid_model naming the part', async () => {
    const error = await failure(service.call('models.add', { path: path.join(FIXTURES, 'broken-missing-unet') }));
    expect(error.code).toBe('invalid_model');
    expect(error.details).toEqual({ part: 'unet/model.onnx' });
    expect(error.message).toMatch(/unet\/model\.onnx/);
    expect((await failure(service.call('models.inspect', { path: path.join(FIXTURES, 'broken-corrupt-onnx') }))).code).toBe('invalid_model');
  });

  it('lists a registered folder that broke later as invalid, with its error', async () => {
    const copy = path.join(home, 'models', 'tiny-copy');
    fs.cpSync(path.join(FIXTURES, 'sd1-tiny'), copy, { recursive: true });
    const added = await service.call('models.add', { path: copy });
    fs.rmSync(path.join(copy, 'unet'), { recursive: true });
    const listed = (await service.call('models.list', {})).find((m) => m.id === added.id);
    expect(listed).toMatchObject({ valid: false });
    expect(listed?.error).toMatch(/unet/);
    await service.call('models.remove', { id: added.id });
  });
});

describe('generate', () => {
  it('runs a job through queued → started → progress → completed and records it in the library', async () => {
    const { jobId } = await service.call('generate', { request: { model: 'starter', prompt: 'a red fox', seed: 5, steps: 6, batch: 2 } });
    const mine = await finished(jobId);
    const types = mine.map((e) => e.type);
    expect(types[0]).toBe('job.queued');
    expect(types[1]).toBe('job.started');
    expect(types.filter((t) => t === 'job.progress')).toHaveLength(6);
    expect(types.at(-1)).toBe('job.completed');
    const progress = mine.filter((e) => e.type === 'job.progress');
    expect(progress.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6]);
    // Previews at most every 500 ms (elapsedMs is taken at the same moment the service decides).
    const previews = progress.filter((p) => p.preview);
    expect(previews[0]).toBe(progress[0]);
    for (let i = 1; i < previews.length; i++) expect(previews[i]!.elapsedMs - previews[i - 1]!.elapsedMs).toBeGreaterThanOrEqual(500);
    expect((await decodeImage(Buffer.from(previews[0]!.preview!, 'base64'))).width).toBe(2);

    const completed = mine.at(-1) as Extract<StudioEvent, { type: 'job.completed' }>;
    expect(completed.candidates.map((c) => c.seed)).toEqual([5, 6]);
    // The history lists refresh on it, as on imports and edits.
    expect(events).toContainEqual({ type: 'library.changed', change: 'recorded', generationIds: [completed.generationId] });
    const record = library.get(completed.generationId);
    expect(record).toMatchObject({ status: 'completed', prompt: 'a red fox', steps: 6, seed: 5, device: 'cpu', model: 'starter', modelName: 'starter' });
    expect(record.modelHash).toMatch(/\S/);
    expect(record.appVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(record.timings.total).toBeGreaterThan(0);
    expect(record.candidates.map((c) => c.sha256).sort()).toEqual(completed.candidates.map((c) => c.sha256).sort());
    const c1 = completed.candidates.find((c) => c.index === 1)!;
    expect([c1.width, c1.height]).toEqual([64, 64]); // the model's default size
    const stored = await decodeImage(library.imagePath(c1.sha256));
    expect(stored.data[4]).toBe(6); // the stand-in engine fills candidate k with seed + k

    // The UI loads it through the web server's token-protected media route.
    expect(c1.url).toBe(`/media/images/${c1.sha256}.png`);
    const served = await get(c1.url, { authorization: `Bearer ${server.token}` });
    expect(served.status).toBe(200);
    expect(served.type).toBe('image/png');
    expect(served.body.equals(fs.readFileSync(library.imagePath(c1.sha256)))).toBe(true);
    expect((await get(c1.url)).status).toBe(401);
    expect((await get(`/media/images/${'0'.repeat(64)}.png`, { authorization: `Bearer ${server.token}` })).status).toBe(404);
    expect((await get(`/media/images/..%2Flibrary.sqlite`, { authorization: `Bearer ${server.token}` })).status).toBe(404);

    const listed = await service.call('jobs.list', {});
    expect(listed.find((j) => j.jobId === jobId)).toMatchObject({ state: 'completed', step: 6 });
  });

  it('reports a bad model as a job.failed event with invalid_model, and records nothing', async () => {
    const before = library.search({}).total;
    const { jobId } = await service.call('generate', { request: { model: path.join(FIXTURES, 'broken-missing-unet'), prompt: 'x', seed: 1, steps: 2 } });
    const failed = (await finished(jobId)).at(-1);
    expect(failed).toMatchObject({ type: 'job.failed', cancelled: false, error: { code: 'invalid_model' } });
    expect((failed as { error: { message: string } }).error.message).toMatch(/unet\/model\.onnx/);
    const { jobId: unknown } = await service.call('generate', { request: { model: 'no-such-model', prompt: 'x', seed: 1 } });
    expect((await finished(unknown)).at(-1)).toMatchObject({ type: 'job.failed', error: { code: 'invalid_model' } });
    expect(library.search({}).total).toBe(before);
  });

  it('refuses a bad image at once, and a size the model cannot make, with typed errors', async () => {
    const error = await failure(service.call('generate', { request: { model: 'starter', prompt: 'x', seed: 1, init: { png: Buffer.from('nope').toString('base64') } } }));
    expect(error.code).toBe('invalid_file');
    expect(error.message).toMatch(/init image/);
    const control = { type: 'canny' as const, model: 'cn', image: { sha256: 'c'.repeat(64) }, preprocess: 'canny' as const, cannyLow: 200, cannyHigh: 100 };
    const thresholds = await failure(service.call('generate', { request: { model: 'starter', prompt: 'x', seed: 1, controls: [control] } }));
    expect([thresholds.code, thresholds.message]).toEqual(['bad_request', 'Control 1: the Canny low threshold 200 exceeds the high threshold 100']);
    // A size off the model's multiple is only known once the model is: it fails the job, unrounded.
    const { jobId } = await service.call('generate', { request: { model: 'starter', prompt: 'x', seed: 1, width: 72, height: 64 } });
    const failed = (await finished(jobId)).at(-1);
    expect(failed).toMatchObject({ type: 'job.failed', error: { code: 'bad_request', message: 'The width 72 is not a multiple of 16, which this model needs' } });
  });

  it('cancels a queued job at once and a running one between steps, and keeps FIFO order', async () => {
    const { jobId: running } = await service.call('generate', { request: { model: 'starter', prompt: 'long', seed: 1, steps: 200 } });
    const { jobId: queued } = await service.call('generate', { request: { model: 'starter', prompt: 'waiting', seed: 2, steps: 2 } });
    const { jobId: after } = await service.call('generate', { request: { model: 'starter', prompt: 'after', seed: 3, steps: 2 } });
    expect(jobEvents(queued)[0]).toMatchObject({ type: 'job.queued', position: 1 });
    expect(await service.call('jobs.cancel', { jobId: queued })).toEqual({ cancelled: true });
    expect(jobEvents(queued).at(-1)).toMatchObject({ type: 'job.failed', cancelled: true, error: { code: 'cancelled' } });
    await until(() => jobEvents(running).some((e) => e.type === 'job.progress'), 'the long job to make progress');
    expect(await service.call('jobs.cancel', { jobId: running })).toEqual({ cancelled: true });
    const stopped = await finished(running);
    expect(stopped.at(-1)).toMatchObject({ type: 'job.failed', cancelled: true });
    expect(stopped.filter((e) => e.type === 'job.progress').length).toBeLessThan(200);
    // A run that started and was stopped is recorded (and announced); a job cancelled while queued never ran.
    const cancelledRun = () => library.search({ text: 'long' }).items.find((g) => g.status === 'cancelled');
    const announced = () => events.some((e) => e.type === 'library.changed' && e.generationIds.includes(cancelledRun()?.id ?? '-'));
    await until(announced, 'the cancelled run to be announced as recorded');
    expect(events).toContainEqual({ type: 'library.changed', change: 'recorded', generationIds: [cancelledRun()!.id] });
    expect((await finished(after)).at(-1)?.type).toBe('job.completed');
    expect(await service.call('jobs.cancel', { jobId: after })).toEqual({ cancelled: false });
    const states = Object.fromEntries((await service.call('jobs.list', {})).map((j) => [j.jobId, j.state]));
    expect([states[running], states[queued], states[after]]).toEqual(['cancelled', 'cancelled', 'completed']);
  });

  // FIFOs, /dev and /proc are POSIX things; Windows device names are paths.ts's own tests.
  it.skipIf(process.platform === 'win32')('refuses an image path that is a FIFO, a folder or on /dev, /proc, at once instead of hanging on it', async () => {
    const fifo = path.join(home, 'pipe.png');
    execFileSync('mkfifo', [fifo]);
    const cases: Array<[string, RegExp]> = [
      [fifo, /init image .*pipe\.png is not a regular file/],
      [home, /is not a regular file/],
      ['/dev/zero', /on a special file system/],
      ['/proc/self/environ', /on a special file system/],
    ];
    for (const [file, message] of cases) {
      const error = await failure(service.call('generate', { request: { model: 'starter', prompt: 'x', seed: 1, init: { path: file } } }));
      expect([error.code, error.message], file).toEqual(['invalid_file', expect.stringMatching(message)]);
    }
    const control = await failure(service.call('generate', { request: { model: 'starter', prompt: 'x', seed: 1, controls: [{ type: 'scribble', model: 'cn', image: { path: fifo } }] } }));
    expect(control.message).toMatch(/control image 1 .* is not a regular file/);
  });

  it('answers busy past the queue bound, before decoding the request\'s images', async () => {
    const small = new StudioService({ transport: 'cli', home });
    const engine = new EngineClient({
      transport: forkTransportFactory({ env: { [WORKER_TEST_HOOKS_ENV]: '1', [WORKER_ENGINE_MODULE_ENV]: FAKE_ENGINE, FAKE_ENGINE_STEP_MS: '30' } }),
    });
    const bounded = createGenerationArea({ home, transport: 'cli', emit: (e) => small.emit(e), library, engine, starterDir: path.join(FIXTURES, 'sd1-tiny'), maxWaitingJobs: 1 });
    small.register(bounded.handlers, bounded.close);
    try {
      await small.call('generate', { request: { model: 'starter', prompt: 'runs', seed: 1, steps: 200 } });
      await small.call('generate', { request: { model: 'starter', prompt: 'waits', seed: 2, steps: 2 } });
      // Not an image at all: had it been decoded, the answer would be invalid_file.
      const refused = await failure(small.call('generate', { request: { model: 'starter', prompt: 'one too many', seed: 3, init: { png: Buffer.from('nope').toString('base64') } } }));
      expect(refused.code).toBe('busy');
      expect(refused.message).toMatch(/1 jobs are already waiting/);
      expect((await small.call('jobs.list', {})).map((j) => j.state)).toEqual(['running', 'queued']);
    } finally {
      await small.close();
    }
  });

  it('inpaints only the masked box and pastes it back through the feathered mask', async () => {
    const init = createImage(128, 128, [10, 200, 30, 255]);
    const mask = createImage(128, 128, [0, 0, 0, 255]);
    for (let y = 40; y < 60; y++) for (let x = 50; x < 80; x++) mask.data.set([255, 255, 255, 255], (y * 128 + x) * 4);
    const { jobId } = await service.call('generate', {
      request: {
        model: 'starter', prompt: 'patch', seed: 99, steps: 1, width: 64, height: 64,
        init: { png: (await encodePng(init)).toString('base64') },
        inpaint: { mask: { png: (await encodePng(mask)).toString('base64') }, blur: 2, onlyMasked: true, padding: 8 },
      },
    });
    const done = (await finished(jobId)).at(-1) as Extract<StudioEvent, { type: 'job.completed' }>;
    expect(done.type).toBe('job.completed');
    const out = await decodeImage(library.imagePath(done.candidates[0]!.sha256));
    expect([out.width, out.height]).toEqual([128, 128]); // the artist's full image, not the crop
    const px = (x: number, y: number) => Array.from(out.data.subarray((y * 128 + x) * 4, (y * 128 + x) * 4 + 3));
    expect(px(5, 5)).toEqual([10, 200, 30]); // far outside the mask: untouched
    expect(px(65, 50)).toEqual([99, 99, 99]); // inside, farther than 3σ from the edge: generated
    const edge = px(50, 50)[0]!; // on the mask edge: a blend
    expect(edge).toBeGreaterThan(10);
    expect(edge).toBeLessThan(99);
    // The init and mask are kept with the generation so it can be re-run.
    expect(library.get(done.generationId).request?.init).toHaveProperty('sha256');
    const listed = (await service.call('jobs.list', {})).find((j) => j.jobId === jobId);
    expect(listed?.request.init).toHaveProperty('sha256'); // not the base64 it arrived with
  });

  it('preprocesses a control image (Canny) before it reaches the engine', async () => {
    const square = createImage(64, 64, [0, 0, 0, 255]);
    for (let y = 16; y < 48; y++) for (let x = 16; x < 48; x++) square.data.set([255, 255, 255, 255], (y * 64 + x) * 4);
    const { jobId } = await service.call('generate', {
      request: { model: 'starter', prompt: 'edges', seed: 0, steps: 1, controls: [{ type: 'canny', model: path.join(FIXTURES, 'controlnet-tiny'), image: { png: (await encodePng(square)).toString('base64') }, preprocess: 'canny' }] },
    });
    const done = (await finished(jobId)).at(-1) as Extract<StudioEvent, { type: 'job.completed' }>;
    expect(done.type).toBe('job.completed');
    // The stand-in engine copies the control map's first pixel: black, as Canny finds no edge in a flat corner.
    const out = await decodeImage(library.imagePath(done.candidates[0]!.sha256));
    expect(out.data[0]).toBe(0);
  });

  it('keeps the web server answering while jobs run', async () => {
    const res = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: server.port, path: '/api/call', method: 'POST', headers: { host: `127.0.0.1:${server.port}`, 'content-type': 'application/json', authorization: `Bearer ${server.token}` } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end(JSON.stringify({ v: API_VERSION, method: 'status', params: {} }));
    });
    expect(res).toBe(200);
  });
});
