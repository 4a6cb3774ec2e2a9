import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, type ManagedModel, type ModelJob, type StudioEvent } from '../../app/contract/index.js';
import { type StudioService, createStudio } from '../../app/service/index.js';
import { modelsDir } from '../../app/service/model-import.js';
import { tempHome } from '../helpers/home.js';
import { ldmCheckpointTensors, writeSafetensors } from '../helpers/ldm-checkpoint.js';
import { listFiles, startStandInHub, type StandInHub } from '../helpers/stand-in-hub.js';
import { until } from '../helpers/until.js';

// The model manager's StudioApi members through the whole service (docs/models.md, "The model
// manager"): the catalog's details, an import as a job with progress events (the tiny fixture
// through its import sidecar), a preview, rename, per-model defaults, Hub downloads from a
// stand-in on 127.0.0.1 (HF_ENDPOINT; a token from settings.json; no server), refusals naming
// the file with nothing half-written, and delete.

const CKPT = path.resolve('tests/fixtures/checkpoint/sd1-tiny.safetensors');
const ONNX = path.resolve('tests/fixtures/models/sd1-tiny');
const { home, cleanup } = tempHome('atelier-models-service-');
let studio: StudioService;
let hub: StandInHub;
const events: StudioEvent[] = [];
const saved = { endpoint: process.env.HF_ENDPOINT, token: process.env.HF_TOKEN };

beforeAll(async () => {
  hub = await startStandInHub();
  const small = path.join(home, 'small-sd1.safetensors');
  // A single file whose sizes need no hints (tests/helpers/ldm-checkpoint.ts), as a Hub repo holds it.
  writeSafetensors(small, ldmCheckpointTensors({ unet: [32, 64], vae: [32, 32], clipLayers: 1, vocab: 1000 }));
  hub.repos.set('tester/small-sd1', new Map([['small-sd1.safetensors', fs.readFileSync(small)], ['README.md', Buffer.from('# small')]]));
  hub.repos.set('tester/tiny-onnx', new Map(listFiles(ONNX)));
  hub.repos.set('tester/gated-onnx', new Map(listFiles(ONNX)));
  hub.gated.add('tester/gated-onnx');
  // The studio reads the Hub's address as huggingface_hub does; the token is not in the environment here.
  process.env.HF_ENDPOINT = hub.endpoint;
  delete process.env.HF_TOKEN;
  studio = await createStudio({ transport: 'web', home });
  studio.subscribe((e) => events.push(e));
});
afterAll(async () => {
  await studio.close();
  await hub.close();
  for (const [key, value] of [['HF_ENDPOINT', saved.endpoint], ['HF_TOKEN', saved.token]] as const) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  cleanup();
});

function jobEvents(jobId: string): ModelJob[] {
  return events.filter((e): e is Extract<StudioEvent, { type: 'models.job' }> => e.type === 'models.job' && e.jobId === jobId);
}

/** Waits for the job's end and returns its last event. */
async function finished(jobId: string): Promise<ModelJob> {
  return until(() => jobEvents(jobId).find((e) => e.state === 'completed' || e.state === 'failed' || e.state === 'cancelled'), { timeout: 120_000, what: `model job ${jobId}` });
}

async function catalogEntry(id: string): Promise<ManagedModel | undefined> {
  return (await studio.call('models.catalog', {})).find((m) => m.id === id);
}

async function refusal(p: Promise<unknown>): Promise<ApiError> {
  const e = await p.then(() => undefined, (error: unknown) => error);
  expect(e).toBeInstanceOf(ApiError);
  return e as ApiError;
}

/** Folders in the models folder: no hidden .import-/.delete- leftovers among them. */
function modelFolders(): string[] {
  return fs.existsSync(modelsDir(home)) ? fs.readdirSync(modelsDir(home)).sort() : [];
}

describe('the model manager', () => {
  let tinyId = '';

  it('lists the bundled starter with its details; it cannot be renamed or deleted', async () => {
    const starter = await catalogEntry('starter');
    expect(starter).toMatchObject({ builtIn: true, valid: true, source: { kind: 'bundled' }, ownsFiles: false, hashOf: 'folder', defaults: {} });
    expect(starter!.bytes).toBeGreaterThan(0);
    expect(starter!.autov2).toBe(starter!.sha256!.slice(0, 10));
    expect((await refusal(studio.call('models.delete', { id: 'starter' }))).message).toMatch(/starter model cannot be deleted/);
    expect((await refusal(studio.call('models.rename', { id: 'starter', name: 'x' }))).message).toMatch(/cannot be renamed/);
  });

  it('imports the tiny checkpoint as a job, with progress, through its sidecar; the catalog has its hashes and source', async () => {
    const { jobId } = await studio.call('models.import', { path: CKPT, name: 'Tiny SD1' });
    const end = await finished(jobId);
    expect(end, JSON.stringify(end)).toMatchObject({ state: 'completed', kind: 'import', label: CKPT, modelName: 'Tiny SD1', fraction: 1 });
    const seen = jobEvents(jobId);
    expect(seen[0]!.state).toBe('queued');
    // every stage of the conversion was announced, in order
    const stages = [...new Set(seen.map((e) => e.stage).filter(Boolean))];
    expect(stages).toEqual(['hash', 'text_encoder', 'unet', 'vae_encoder', 'vae_decoder', 'done']);
    expect(events).toContainEqual({ type: 'models.changed', change: 'added', id: end.modelId });
    tinyId = end.modelId!;
    const sha256 = crypto.createHash('sha256').update(fs.readFileSync(CKPT)).digest('hex');
    const entry = await catalogEntry(tinyId);
    expect(entry).toMatchObject({ name: 'Tiny SD1', valid: true, family: 'sd1', variant: 'text to image · epsilon', sha256, autov2: sha256.slice(0, 10), hashOf: 'file', source: { kind: 'checkpoint', path: CKPT }, ownsFiles: true });
    expect(entry!.bytes).toBe(listFiles(entry!.path).reduce((n, [, b]) => n + b.length, 0));
    // the sidecar's tokenizer (the fixture text encoder's 1000 ids), not the bundled CLIP vocabulary
    expect(fs.readFileSync(path.join(entry!.path, 'tokenizer', 'vocab.json')).equals(fs.readFileSync(path.join(ONNX, 'tokenizer', 'vocab.json')))).toBe(true);
    expect(modelFolders()).toEqual(['Tiny SD1']);
  });

  it('shows a preview kept beside the checkpoint (A1111\'s NAME.preview.png); a bad sidecar is refused by name', async () => {
    const dir = path.join(home, 'incoming');
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(CKPT, path.join(dir, 'pic.safetensors'));
    const sidecar = JSON.parse(fs.readFileSync(CKPT.replace('.safetensors', '.atelier.json'), 'utf8')) as { tokenizer: string };
    fs.writeFileSync(path.join(dir, 'pic.atelier.json'), JSON.stringify({ ...sidecar, tokenizer: path.join(ONNX, 'tokenizer') }));
    await sharp({ create: { width: 64, height: 48, channels: 3, background: '#c03020' } }).png().toFile(path.join(dir, 'pic.preview.png'));
    const { jobId } = await studio.call('models.import', { path: path.join(dir, 'pic.safetensors') });
    const end = await finished(jobId);
    expect(end.state).toBe('completed');
    const entry = await catalogEntry(end.modelId!);
    expect(entry!.preview).toMatch(/^data:image\/webp;base64,/);
    const shown = await sharp(Buffer.from(entry!.preview!.split(',')[1]!, 'base64')).metadata();
    expect([shown.width, shown.height]).toEqual([64, 48]);

    fs.copyFileSync(CKPT, path.join(dir, 'odd.safetensors'));
    fs.writeFileSync(path.join(dir, 'odd.atelier.json'), JSON.stringify({ hints: { unet: { heads: 'four' } } }));
    const bad = await finished((await studio.call('models.import', { path: path.join(dir, 'odd.safetensors') })).jobId);
    expect(bad.error).toMatchObject({ code: 'invalid_file' });
    expect(bad.error!.message).toMatch(/^odd\.atelier\.json is not an import sidecar/);
    expect(modelFolders()).toEqual(['Tiny SD1', 'pic']);
  });

  it('refuses bad input with typed errors naming the file, leaving nothing in the models folder', async () => {
    const missing = path.join(home, 'nowhere.safetensors');
    const e = await refusal(studio.call('models.import', { path: missing }));
    expect(e.code).toBe('not_found');
    expect(e.message).toContain(missing);
    const link = path.join(home, 'status.safetensors');
    fs.symlinkSync('/proc/self/status', link);
    const special = await refusal(studio.call('models.import', { path: link }));
    expect(special.code).toBe('bad_request');
    expect(special.message).toBe(`${link} is on a special file system (devices, /proc, /sys), not a model file`);
    // a FIFO would block the first read: refused before any job starts
    const fifo = path.join(home, 'pipe.safetensors');
    execFileSync('mkfifo', [fifo]);
    expect((await refusal(studio.call('models.import', { path: fifo }))).message).toBe(`${fifo} is neither a file nor a folder`);
    const pickle = path.join(home, 'old.ckpt');
    fs.writeFileSync(pickle, 'not really');
    const failed = await finished((await studio.call('models.import', { path: pickle })).jobId);
    expect(failed).toMatchObject({ state: 'failed', error: { code: 'invalid_model' } });
    expect(failed.error!.message).toMatch(/^old\.ckpt is a pickle/);
    const truncated = path.join(home, 'cut.safetensors');
    fs.writeFileSync(truncated, fs.readFileSync(CKPT).subarray(0, 5000));
    const cut = await finished((await studio.call('models.import', { path: truncated })).jobId);
    expect(cut.state).toBe('failed');
    expect(cut.error!.message).toContain('cut.safetensors');
    expect(modelFolders()).toEqual(['Tiny SD1', 'pic']);
    expect((await refusal(studio.call('models.import', { path: CKPT, name: 'Tiny SD1' }).then(async ({ jobId }) => {
      const end = await finished(jobId);
      throw ApiError.from(end.error as { code: 'conflict'; message: string });
    }))).code).toBe('conflict');
  });

  it('renames a model (the folder and id stay) and keeps per-model defaults', async () => {
    const renamed = await studio.call('models.rename', { id: tinyId, name: 'Tiny, renamed' });
    expect(renamed).toMatchObject({ id: tinyId, name: 'Tiny, renamed' });
    expect((await studio.call('models.list', {})).find((m) => m.id === tinyId)?.name).toBe('Tiny, renamed');
    expect(events).toContainEqual({ type: 'models.changed', change: 'renamed', id: tinyId });
    expect((await refusal(studio.call('models.rename', { id: tinyId, name: 'a\u0007b' }))).code).toBe('bad_request');
    expect((await refusal(studio.call('models.rename', { id: 'm_nope', name: 'x' }))).code).toBe('not_found');

    const info = (await catalogEntry(tinyId))!.info!;
    expect(info.sizeMultiple).toBeGreaterThan(1);
    const odd = await refusal(studio.call('models.setDefaults', { id: tinyId, defaults: { width: info.sizeMultiple * 16 + info.sizeMultiple / 2 } }));
    expect(odd.message).toMatch(/width \d+ is not a multiple of/);
    const defaults = { width: info.sizeMultiple * Math.ceil(128 / info.sizeMultiple), height: info.sizeMultiple * Math.ceil(96 / info.sizeMultiple), sampler: 'dpmpp_2m' as const, steps: 3, cfg: 5.5, vae: 'vae-ft-mse.safetensors' };
    expect(await studio.call('models.setDefaults', { id: tinyId, defaults })).toEqual(defaults);
    expect((await catalogEntry(tinyId))!.defaults).toEqual(defaults);
    const settings = JSON.parse(fs.readFileSync(path.join(home, 'settings.json'), 'utf8')) as { modelSettings: Record<string, unknown>; models: unknown[] };
    expect(settings.modelSettings[tinyId]).toEqual({ defaults });
    expect(settings.models).toHaveLength(2); // the registry's list is untouched by the manager's writes
    expect((await refusal(studio.call('models.setDefaults', { id: tinyId, defaults: { steps: 0 } }))).code).toBe('bad_request');
  });

  it('downloads from the Hub (HF_ENDPOINT): a single-file repo imported with download then import progress, an ONNX repo as it is', async () => {
    hub.chunks = 8;
    hub.chunkDelayMs = 60;
    const { jobId } = await studio.call('models.download', { ref: 'tester/small-sd1' });
    const end = await finished(jobId);
    hub.chunks = 1;
    hub.chunkDelayMs = 0;
    expect(end, JSON.stringify(end)).toMatchObject({ state: 'completed', kind: 'download', modelName: 'small-sd1' });
    const seen = jobEvents(jobId);
    const downloading = seen.filter((e) => e.stage === 'download');
    expect(downloading.length).toBeGreaterThan(1);
    expect(downloading.at(-1)).toMatchObject({ file: 'small-sd1.safetensors', total: fs.statSync(path.join(home, 'small-sd1.safetensors')).size });
    const fractions = seen.map((e) => e.fraction).filter((f): f is number => f !== undefined);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(seen.some((e) => e.stage === 'unet')).toBe(true);
    expect(await catalogEntry(end.modelId!)).toMatchObject({ source: { kind: 'hub', repo: 'tester/small-sd1', revision: 'main' }, hashOf: 'file', family: 'sd1' });

    const url = `${hub.endpoint}/tester/small-sd1/resolve/main/small-sd1.safetensors`;
    const byUrl = await finished((await studio.call('models.download', { ref: url, name: 'small by url' })).jobId);
    expect(byUrl, JSON.stringify(byUrl)).toMatchObject({ state: 'completed', modelName: 'small by url' });
    expect(await catalogEntry(byUrl.modelId!)).toMatchObject({ source: { kind: 'hub', url } });

    const onnx = await finished((await studio.call('models.download', { ref: 'tester/tiny-onnx', name: 'Tiny ONNX' })).jobId);
    expect(onnx.state).toBe('completed');
    expect(await catalogEntry(onnx.modelId!)).toMatchObject({ name: 'Tiny ONNX', source: { kind: 'hub', repo: 'tester/tiny-onnx' }, hashOf: 'folder', ownsFiles: true });
  });

  it('sends a token from settings.json for gated repos, says unauthorized without one, and offline with no server', async () => {
    const refused = await finished((await studio.call('models.download', { ref: 'tester/gated-onnx' })).jobId);
    expect(refused).toMatchObject({ state: 'failed', error: { code: 'unauthorized' } });
    expect(refused.error!.message).toMatch(/set HF_TOKEN/);
    const settingsFile = path.join(home, 'settings.json');
    fs.writeFileSync(settingsFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(settingsFile, 'utf8')), huggingface: { token: 'secret' } }));
    hub.seen.length = 0;
    const gated = await finished((await studio.call('models.download', { ref: 'tester/gated-onnx' })).jobId);
    expect(gated.state).toBe('completed');
    expect(hub.seen.filter((s) => s.url.startsWith('/api/')).every((s) => s.auth === 'Bearer secret')).toBe(true);

    process.env.HF_ENDPOINT = 'http://127.0.0.1:9';
    try {
      const offline = await finished((await studio.call('models.download', { ref: 'tester/tiny-onnx', name: 'never' })).jobId);
      expect(offline.error).toMatchObject({ code: 'bad_request', details: { offline: true } });
      expect(offline.error!.message).toMatch(/cannot reach 127\.0\.0\.1:9 \(offline\?/);
    } finally {
      process.env.HF_ENDPOINT = hub.endpoint;
    }
    expect(modelFolders()).not.toContain('never');
  });

  it('cancels a running download (its bytes kept for a resume) and a queued import (never run)', async () => {
    hub.repos.set('tester/slow', new Map([['slow.safetensors', fs.readFileSync(CKPT)]]));
    hub.chunks = 200;
    hub.chunkDelayMs = 50;
    let jobId = '';
    try {
      ({ jobId } = await studio.call('models.download', { ref: 'tester/slow' }));
      const queued = await studio.call('models.import', { path: CKPT, name: 'never imported' });
      // some bytes have arrived: the transfer is under way
      await until(() => jobEvents(jobId).some((e) => e.stage === 'download' && (e.done ?? 0) > 0), { timeout: 60_000, what: 'the download to start' });
      expect(await studio.call('models.cancel', { jobId: queued.jobId })).toEqual({ cancelled: true });
      expect(await studio.call('models.cancel', { jobId })).toEqual({ cancelled: true });
      expect(await finished(jobId)).toMatchObject({ state: 'cancelled', error: { code: 'cancelled' } });
      expect(await finished(queued.jobId)).toMatchObject({ state: 'cancelled' });
      expect(jobEvents(queued.jobId).map((e) => e.state)).toEqual(['queued', 'cancelled']);
    } finally {
      hub.chunks = 1;
      hub.chunkDelayMs = 0;
    }
    const part = path.join(home, 'downloads', 'tester--slow@main', 'slow.safetensors.part');
    expect(fs.statSync(part).size).toBeGreaterThan(0);
    expect(fs.statSync(part).size).toBeLessThan(fs.statSync(CKPT).size);
    expect(modelFolders().filter((n) => n === 'slow' || n === 'never imported' || n.startsWith('.'))).toEqual([]);
    expect((await refusal(studio.call('models.cancel', { jobId: 'mj_nope' }))).code).toBe('not_found');
    // a finished job cannot be cancelled
    expect(await studio.call('models.cancel', { jobId })).toEqual({ cancelled: false });
  });

  it('generates with the imported model, and refuses to delete it while a generation uses it', async () => {
    const { jobId } = await studio.call('generate', { request: { model: tinyId, prompt: 'a red house', seed: 1, steps: 1, width: 64, height: 64 } });
    const busy = await refusal(studio.call('models.delete', { id: tinyId }));
    expect(busy.code).toBe('busy');
    expect(busy.message).toMatch(/"Tiny, renamed" is used by a queued or running generation/);
    const end = await until(() => events.find((e) => 'jobId' in e && e.jobId === jobId && (e.type === 'job.completed' || e.type === 'job.failed')), { timeout: 120_000, what: 'the generation' });
    expect(end, JSON.stringify(end)).toMatchObject({ type: 'job.completed' });
  });

  it('deletes an imported model with its folder, takes an added folder off the list only, and lists what is left', async () => {
    const folder = (await catalogEntry(tinyId))!.path;
    expect(await studio.call('models.delete', { id: tinyId })).toEqual({ deleted: true, filesRemoved: true });
    expect(fs.existsSync(folder)).toBe(false);
    expect((await studio.call('models.list', {})).some((m) => m.id === tinyId)).toBe(false);
    expect(await catalogEntry(tinyId)).toBeUndefined();
    expect(events).toContainEqual({ type: 'models.changed', change: 'deleted', id: tinyId });
    const settings = JSON.parse(fs.readFileSync(path.join(home, 'settings.json'), 'utf8')) as { modelSettings: Record<string, unknown> };
    expect(settings.modelSettings[tinyId]).toBeUndefined();
    expect(modelFolders().some((n) => n.startsWith('.'))).toBe(false);
    expect((await refusal(studio.call('models.delete', { id: tinyId }))).code).toBe('not_found');

    const added = await studio.call('models.add', { path: ONNX, name: 'outside' });
    expect(await studio.call('models.delete', { id: added.id })).toEqual({ deleted: true, filesRemoved: false });
    expect(fs.existsSync(path.join(ONNX, 'unet', 'model.onnx'))).toBe(true);
    expect((await studio.call('models.jobs', {})).every((j) => ['completed', 'failed', 'cancelled'].includes(j.state))).toBe(true);
  });
});
