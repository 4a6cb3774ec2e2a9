import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerationRecord, GenerationRequestInput, StudioEvent } from '../../app/contract/index.js';
import { decodeImage, type RgbaImage } from '../../app/engine/image.js';
import { readPngMetadata } from '../../app/formats/png-metadata.js';
import { settingsFromRequest } from '../../app/projects/document/requests.js';
import { GenerationSettings } from '../../app/contract/projects.js';
import { type StudioService, createStudio } from '../../app/service/index.js';
import { tempHome } from '../helpers/home.js';
import { until } from '../helpers/until.js';

// SDXL through the service, as every door reaches it (createStudio with the real engine
// worker on the CPU): the refiner named by a registered id is resolved to its folder, the
// hand-off gives diffusers' image (references/sdxl-tiny-refined.json), the history and the PNG
// carry it (A1111's "Refiner: name [hash], Refiner switch at: …"), recall restores it; the
// per-request micro-conditioning reaches the UNet; `atelier generate --refiner` does the same.

const FIXTURES = path.resolve('tests/fixtures/models');
const fixture = (name: string): string => path.join(FIXTURES, name);
const { home, cleanup } = tempHome();
let studio: StudioService;
const events: StudioEvent[] = [];

beforeAll(async () => {
  studio = await createStudio({ transport: 'web', home, starterDir: fixture('sd1-tiny') });
  studio.subscribe((e) => events.push(e));
});
afterAll(async () => {
  await studio.close();
  cleanup();
});

interface Reference { model: string; refiner?: string; switchAt?: number; prompt: string; negativePrompt: string; seed: number; steps: number; cfg: number; width: number; height: number; rgb_base64: string }
const readReference = (name: string): Reference => JSON.parse(fs.readFileSync(path.join(FIXTURES, 'references', `${name}.json`), 'utf8')) as Reference;

function maxRgbDiff(got: RgbaImage, b64: string): number {
  const rgb = Buffer.from(b64, 'base64');
  let m = 0;
  for (let p = 0; p < got.width * got.height; p++) for (let c = 0; c < 3; c++) m = Math.max(m, Math.abs(got.data[p * 4 + c]! - rgb[p * 3 + c]!));
  return m;
}

async function generate(request: GenerationRequestInput): Promise<StudioEvent> {
  const { jobId } = await studio.call('generate', { request });
  const mine = () => events.filter((e) => 'jobId' in e && e.jobId === jobId);
  await until(() => mine().some((e) => e.type === 'job.completed' || e.type === 'job.failed'), { timeout: 100_000, what: `job ${jobId} to finish` });
  return mine().at(-1)!;
}

function completed(event: StudioEvent): Extract<StudioEvent, { type: 'job.completed' }> {
  expect(event, JSON.stringify(event)).toMatchObject({ type: 'job.completed' });
  return event as Extract<StudioEvent, { type: 'job.completed' }>;
}

describe('SDXL base → refiner through the service', () => {
  it('resolves a registered refiner, makes diffusers\' image, and records it in the history and the PNG', async () => {
    const base = await studio.call('models.add', { path: fixture('sdxl-tiny'), name: 'XL base' });
    const refiner = await studio.call('models.add', { path: fixture('sdxl-refiner-tiny'), name: 'XL refiner' });
    expect(refiner.info?.family).toBe('sdxl');
    const ref = readReference('sdxl-tiny-refined');
    const done = completed(await generate({
      model: base.id, prompt: ref.prompt, negativePrompt: ref.negativePrompt, seed: ref.seed, steps: ref.steps, cfg: ref.cfg, sampler: 'euler',
      width: ref.width, height: ref.height, refiner: { model: refiner.id, switchAt: ref.switchAt! }, device: 'cpu',
    }));
    const file = studio.mediaFile('image', done.candidates[0]!.sha256)!;
    expect(maxRgbDiff(await decodeImage(file), ref.rgb_base64)).toBeLessThanOrEqual(1);

    const record = (await studio.call('library.get', { id: done.generationId })) as GenerationRecord;
    // The history keeps the refiner as asked (its id), so recall names the same model.
    expect(record.request?.refiner).toEqual({ model: refiner.id, switchAt: ref.switchAt });
    const hash = (await studio.call('library.get', { id: done.generationId })).modelHash;
    expect(hash).toBeTruthy();
    const parameters = readPngMetadata(fs.readFileSync(file)).chunks.parameters!;
    const refinerHash = /Refiner: XL refiner \[([0-9a-f]{10})\], Refiner switch at: 0\.6(,|$)/.exec(parameters);
    expect(refinerHash, parameters).not.toBeNull();
    // Its own hash, not the base's.
    expect(refinerHash![1]).not.toBe(hash!.slice(0, 10));

    // Recall restores the refiner into the prompt panel's settings; a request without one clears it.
    const settings = settingsFromRequest(GenerationSettings.parse({}), record.request!);
    expect(settings.refiner).toEqual({ model: refiner.id, switchAt: ref.switchAt });
    expect(settingsFromRequest(settings, { ...record.request!, refiner: undefined }).refiner).toBeUndefined();
  });

  it('refuses a refiner that is neither registered nor a folder, naming it, and records nothing', async () => {
    const before = (await studio.call('library.search', {})).total;
    const failed = await generate({ model: fixture('sdxl-tiny'), prompt: 'a castle', seed: 1, steps: 2, refiner: { model: 'no-such-refiner', switchAt: 0.7 }, device: 'cpu' });
    expect(failed).toMatchObject({ type: 'job.failed', error: { code: 'invalid_model', message: expect.stringMatching(/no-such-refiner/) } });
    expect((await studio.call('library.search', {})).total).toBe(before);
  });

  it('passes the per-request micro-conditioning to the engine (diffusers\' image with a crop)', async () => {
    const ref = readReference('sdxl-tiny-microcond');
    const done = completed(await generate({
      model: fixture(ref.model), prompt: ref.prompt, negativePrompt: ref.negativePrompt, seed: ref.seed, steps: ref.steps, cfg: ref.cfg, sampler: 'euler',
      width: ref.width, height: ref.height, device: 'cpu',
      sdxlConditioning: { originalSize: { width: 1024, height: 768 }, crop: { top: 16, left: 40 }, targetSize: { width: 160, height: 128 } },
    }));
    expect(maxRgbDiff(await decodeImage(studio.mediaFile('image', done.candidates[0]!.sha256)!), ref.rgb_base64)).toBeLessThanOrEqual(1);
    const record = (await studio.call('library.get', { id: done.generationId })) as GenerationRecord;
    expect(record.request?.sdxlConditioning?.crop).toEqual({ top: 16, left: 40 });
  });
});

describe('atelier generate --refiner and the micro-conditioning flags', () => {
  const run = promisify(execFile);
  const cli = (...args: string[]) => run(process.execPath, [path.resolve('bin/atelier.mjs'), ...args], { env: { ...process.env, ATELIER_HOME: home }, timeout: 90_000 });

  it('runs base → refiner from MODEL:SWITCH and records the micro-conditioning', async () => {
    const ref = readReference('sdxl-tiny-refined');
    const out = path.join(home, 'cli-out');
    const { stdout } = await cli('generate', '--model', fixture(ref.model), '--refiner', `${fixture(ref.refiner!)}:${ref.switchAt}`, '--prompt', ref.prompt, '--negative', ref.negativePrompt,
      '--seed', String(ref.seed), '--steps', String(ref.steps), '--cfg', String(ref.cfg), '--sampler', 'euler', '--width', String(ref.width), '--height', String(ref.height),
      '--device', 'cpu', '--out', out, '--json');
    const file = (JSON.parse(stdout) as { files: string[] }).files[0]!;
    expect(maxRgbDiff(await decodeImage(fs.readFileSync(file)), ref.rgb_base64)).toBeLessThanOrEqual(1);
    expect(readPngMetadata(fs.readFileSync(file)).chunks.parameters).toMatch(/Refiner: sdxl-refiner-tiny \[[0-9a-f]{10}\], Refiner switch at: 0\.6/);

    const micro = await cli('generate', '--model', fixture('sdxl-tiny'), '--prompt', 'a castle', '--seed', '2', '--steps', '2', '--original-size', '1024x768', '--crop-top-left', '16,40',
      '--target-size', '160x128', '--device', 'cpu', '--out', out, '--json');
    const id = (JSON.parse(micro.stdout) as { generationId: string }).generationId;
    const record = (await cli('history', 'show', id, '--json')).stdout;
    expect(JSON.parse(record)).toMatchObject({ request: { sdxlConditioning: { originalSize: { width: 1024, height: 768 }, crop: { top: 16, left: 40 }, targetSize: { width: 160, height: 128 } } } });
    expect((await cli('history', 'show', id)).stdout).toContain('sdxl: original 1024x768, crop top-left 16,40, target 160x128');
    const refinedId = (JSON.parse(stdout) as { generationId: string }).generationId;
    expect((await cli('history', 'show', refinedId)).stdout).toContain(`refiner: ${fixture(ref.refiner!)}  switch at 0.6`);
  });

  it('refuses a switch outside (0, 1) and a malformed size before any work', async () => {
    await expect(cli('generate', '--model', fixture('sdxl-tiny'), '--prompt', 'x', '--refiner', `${fixture('sdxl-refiner-tiny')}:1.5`, '--out', home)).rejects.toMatchObject({ stderr: expect.stringMatching(/SWITCH 1\.5 must lie between 0 and 1/) });
    await expect(cli('generate', '--model', fixture('sdxl-tiny'), '--prompt', 'x', '--original-size', '1024', '--out', home)).rejects.toMatchObject({ stderr: expect.stringMatching(/--original-size must be WIDTHxHEIGHT/) });
  });
});
