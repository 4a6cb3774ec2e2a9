import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Request } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFiles, startStandInHub, type StandInHub } from '../helpers/stand-in-hub.js';
import { screenshotsDir, useStudio } from './harness.js';
import { ModelsPage } from './pages/models-page.js';

// The model manager through the studio (docs/models.md, "The model manager"): the tiny SD 1.x
// checkpoint imported by its path (its sidecar gives the hints), its hashes shown, defaults set
// and applied when it is used, a generation made with it; a rename; a download from a stand-in
// Hub on 127.0.0.1 (the studio's HF_ENDPOINT) with its progress and an error; delete with its
// confirmation, and the lists updated.

const CKPT = path.resolve('tests/fixtures/checkpoint/sd1-tiny.safetensors');
const ONNX = path.resolve('tests/fixtures/models/sd1-tiny');
const env: Record<string, string> = {};
let hub: StandInHub;
const incoming = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-e2e-incoming-'));

// Registered before useStudio's own hook, so the server starts with the stand-in's address.
beforeAll(async () => {
  hub = await startStandInHub();
  hub.repos.set('tester/tiny-onnx', new Map(listFiles(ONNX)));
  env.HF_ENDPOINT = hub.endpoint;
  // A second checkpoint with a preview beside it (A1111's NAME.preview.png) for the picture.
  fs.copyFileSync(CKPT, path.join(incoming, 'ink-wash.safetensors'));
  const sidecar = JSON.parse(fs.readFileSync(CKPT.replace('.safetensors', '.atelier.json'), 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(path.join(incoming, 'ink-wash.atelier.json'), JSON.stringify({ ...sidecar, tokenizer: path.join(ONNX, 'tokenizer') }));
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#2b4c7e"/><stop offset="1" stop-color="#e8c07d"/></linearGradient></defs><rect width="256" height="256" fill="url(#g)"/><circle cx="170" cy="90" r="40" fill="#f6e7c1"/><path d="M0 200 Q64 140 128 190 T256 170 V256 H0Z" fill="#1d2b3a"/></svg>`;
  await sharp(Buffer.from(svg)).png().toFile(path.join(incoming, 'ink-wash.preview.png'));
});
afterAll(async () => {
  await hub?.close();
  fs.rmSync(incoming, { recursive: true, force: true });
});

const { studio, ui } = useStudio({
  env,
  prepare: async (ui) => {
    await ui.settings({ width: 128, height: 128, steps: 4, batch: 1, cfg: 7 });
  },
});
/** Every `generate` request the page sent. */
const sent: Array<Record<string, unknown>> = [];

describe('model manager', () => {
  let models: ModelsPage;
  beforeAll(() => {
    models = new ModelsPage(ui.page);
    ui.page.on('request', (req: Request) => {
      if (!req.url().endsWith('/api/call') || req.method() !== 'POST') return;
      const body = req.postDataJSON() as { method?: string; params?: { request?: Record<string, unknown> } };
      if (body.method === 'generate' && body.params?.request) sent.push(body.params.request);
    });
  });

  it('imports the tiny checkpoint by its path, shows its hashes, applies its defaults and generates with it', async () => {
    await models.open();
    expect(await models.names()).toEqual(['Starter model (bundled)']);
    await models.importFile(CKPT, 'Tiny import');
    const job = await models.lastJobEnded();
    expect(await job.getAttribute('data-state'), await job.textContent() ?? '').toBe('completed');
    await models.row('Tiny import').waitFor();
    const detail = await models.select('Tiny import');
    const sha256 = crypto.createHash('sha256').update(fs.readFileSync(CKPT)).digest('hex');
    expect(await detail.getByTestId('model-sha256').textContent()).toBe(sha256);
    expect(await detail.getByTestId('model-autov2').textContent()).toBe(sha256.slice(0, 10));
    expect(await detail.getByTestId('model-source').textContent()).toContain(CKPT);
    expect(await models.row('Tiny import').textContent()).toMatch(/SD 1\.x · [\d.]+ (KiB|MiB) · imported file/);

    await models.setDefaults({ width: 64, height: 64, steps: 2, cfg: 6, sampler: 'dpmpp_2m' });
    await models.use();
    const id = await ui.page.getByTestId('model-picker').inputValue();
    expect(id).toMatch(/^m_/);
    expect(await ui.frameSize()).toEqual({ width: 64, height: 64 });
    expect(await ui.page.getByTestId('steps').inputValue()).toBe('2');
    expect(await ui.page.getByTestId('cfg').inputValue()).toBe('6');
    expect(await ui.page.getByTestId('sampler').inputValue()).toBe('dpmpp_2m');

    await ui.setPrompt('a red house on a hill');
    await ui.page.getByTestId('generate').click();
    await ui.candidates().first().waitFor({ timeout: 120_000 });
    expect(sent.at(-1)).toMatchObject({ model: id, width: 64, height: 64, steps: 2, cfg: 6, sampler: 'dpmpp_2m' });
    expect(await ui.errorToasts().count()).toBe(0);
  });

  it('renames a model; the picker follows', async () => {
    await models.open();
    await models.select('Tiny import');
    await models.rename('Tiny, renamed');
    expect(await models.names()).toContain('Tiny, renamed');
    await models.close();
    await ui.page.locator('[data-testid="model-picker"] option', { hasText: 'Tiny, renamed' }).waitFor({ state: 'attached' });
  });

  it('downloads a repo from the (stand-in) Hub with progress, and shows a Hub error', async () => {
    await models.open();
    hub.chunks = 6;
    hub.chunkDelayMs = 40;
    await models.download('tester/tiny-onnx', 'Hub tiny');
    // progress while it runs: the bar and the bytes of the file being fetched
    await models.dialog.getByTestId('models-job-progress').waitFor({ timeout: 60_000 });
    const job = await models.lastJobEnded();
    hub.chunks = 1;
    hub.chunkDelayMs = 0;
    expect(await job.getAttribute('data-state'), await job.textContent() ?? '').toBe('completed');
    const detail = await models.select('Hub tiny');
    expect(await detail.getByTestId('model-source').textContent()).toContain('Hub tester/tiny-onnx');
    expect(hub.seen.some((s) => s.url === '/api/models/tester/tiny-onnx/revision/main')).toBe(true);

    await models.download('tester/absent');
    const failed = await models.lastJobEnded();
    expect(await failed.getAttribute('data-state')).toBe('failed');
    expect(await failed.getByTestId('models-job-error').textContent()).toMatch(/^tester\/absent \(revision main\) was not found on 127\.0\.0\.1:\d+: check the repo id$/);

    // a slow download, cancelled from its row while it runs
    hub.repos.set('tester/slow', new Map([['slow.safetensors', fs.readFileSync(CKPT)]]));
    hub.chunks = 400;
    hub.chunkDelayMs = 50;
    await models.download('tester/slow');
    const slow = models.jobs().first();
    await slow.getByTestId('models-job-progress').waitFor({ timeout: 60_000 });
    await slow.getByTestId('models-job-cancel').click();
    const cancelled = await models.lastJobEnded();
    hub.chunks = 1;
    hub.chunkDelayMs = 0;
    expect(await cancelled.getAttribute('data-state')).toBe('cancelled');
    expect(await models.names()).not.toContain('slow');

    await models.importFile(path.join(incoming, 'ink-wash.safetensors'), 'Ink wash');
    expect(await (await models.lastJobEnded()).getAttribute('data-state')).toBe('completed');
    const ink = await models.select('Ink wash');
    await ink.getByTestId('model-preview').waitFor();
    await models.setDefaults({ width: 64, height: 64, steps: 4, cfg: 5.5, vae: 'vae-ft-mse-840000' });
    await ui.page.screenshot({ path: path.join(screenshotsDir, 'model-manager.png') });
  });

  it('picking a model applies its VAE default; a model without one drops it again', async () => {
    await models.use();
    expect(await ui.page.getByTestId('vae-picker').inputValue()).toBe('vae-ft-mse-840000');
    expect(await ui.page.getByTestId('cfg').inputValue()).toBe('5.5');
    const tiny = await ui.page.locator('[data-testid="model-picker"] option', { hasText: 'Tiny, renamed' }).getAttribute('value');
    await ui.page.getByTestId('model-picker').selectOption(tiny!);
    await expect.poll(() => ui.page.getByTestId('vae-picker').inputValue()).toBe('');
    expect(await ui.page.getByTestId('cfg').inputValue()).toBe('6');
  });

  it('deletes with a confirmation; the manager and the picker update, the folder is gone', async () => {
    await models.open();
    const detail = await models.select('Hub tiny');
    const folder = path.join(studio.home, 'models', 'Hub tiny');
    expect(fs.existsSync(folder)).toBe(true);
    await models.delete(false);
    expect(await models.names()).toContain('Hub tiny');
    await detail.getByTestId('model-delete').click();
    expect(await detail.getByTestId('model-delete-confirm').textContent()).toMatch(/Delete “Hub tiny” and its folder/);
    await detail.getByTestId('model-delete-yes').click();
    await models.row('Hub tiny').waitFor({ state: 'detached' });
    expect(await models.names()).toEqual(['Starter model (bundled)', 'Tiny, renamed', 'Ink wash']);
    expect(fs.existsSync(folder)).toBe(false);
    await models.select('Starter model (bundled)');
    expect(await models.detail.getByTestId('model-delete').count()).toBe(0);
    await models.close();
    await ui.page.locator('[data-testid="model-picker"] option', { hasText: 'Hub tiny' }).waitFor({ state: 'detached' });
    expect(await ui.page.locator('[data-testid="model-picker"] option').allTextContents()).toEqual(['Starter model (bundled)', 'Tiny, renamed', 'Ink wash']);
  });

  it('imports a checkpoint chosen in the browser\'s file picker, its preview and sidecar with it; the upload is gone after', async () => {
    await models.open();
    await models.uploadFiles(['ink-wash.safetensors', 'ink-wash.atelier.json', 'ink-wash.preview.png'].map((f) => path.join(incoming, f)), 'Picked ink');
    expect(await (await models.lastJobEnded()).getAttribute('data-state')).toBe('completed');
    const picked = await models.select('Picked ink');
    await picked.getByTestId('model-preview').waitFor();
    expect(await picked.textContent()).toContain(crypto.createHash('sha256').update(fs.readFileSync(CKPT)).digest('hex'));
    await ui.page.screenshot({ path: path.join(screenshotsDir, 'model-upload.png') });
    await expect.poll(() => fs.readdirSync(path.join(studio.home, 'uploads', 'models'))).toEqual([]);
    // a file that is not a checkpoint is refused in the page, before anything is sent
    await models.dialog.getByTestId('models-upload-input').setInputFiles([path.join(incoming, 'ink-wash.preview.png')]);
    await expect.poll(() => ui.errorToasts().allTextContents()).toContainEqual(expect.stringMatching(/Choose a \.safetensors checkpoint/));
  });
});
