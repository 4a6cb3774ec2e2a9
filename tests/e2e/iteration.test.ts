import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { type Browser, type Locator, type Page, chromium } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { API_VERSION, type MethodName, type Params, type Result } from '../../app/contract/index.js';
import { INTERRUPTED } from '../../app/service/generation-handlers.js';
import { tempHome } from '../helpers/home.js';
import { chromiumPath, screenshotsDir, useStudio } from './harness.js';
import { StudioPage } from './pages/studio-page.js';

// The iteration loop (issue 15) in web mode with the shipped starter model on the CPU, at
// 64² and two steps: earlier batches stay in the strip, Compare opens over the studio with
// each side's actions, Variations keep the controls and link to their parent with a
// variation strength, and the Iterations panel shows a picture, mode, seed and time.

const { studio, ui } = useStudio();

/** A StudioApi call from inside the page (its cookie carries the token). */
async function call<M extends MethodName>(method: M, params: Params<M>, page: Page = studio.page): Promise<Result<M>> {
  const response = await page.evaluate(
    async (body) => (await fetch('/api/call', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as Promise<unknown>,
    { v: API_VERSION, method, params },
  );
  const r = response as { ok: boolean; result?: unknown; error?: unknown };
  if (!r.ok) throw new Error(`${method}: ${JSON.stringify(r.error)}`);
  return r.result as Result<M>;
}

/** A library image's RGBA pixels, as a hash (equal pixels, equal hash). */
async function pixelsOf(sha256: string): Promise<string> {
  const response = await studio.context.request.get(`${studio.origin}/media/images/${sha256}.png`);
  expect(response.ok()).toBe(true);
  return createHash('sha256').update(PNG.sync.read(await response.body()).data).digest('hex');
}

/** An attribute of every element a locator matches (no DOM types on the Node side: a cast). */
function attrs(locator: Locator, name: string): Promise<string[]> {
  return locator.evaluateAll((els, n) => els.map((e) => (e as unknown as { getAttribute(a: string): string | null }).getAttribute(n) ?? ''), name);
}

const ids = () => attrs(ui.candidates(), 'data-candidate-id');
const seeds = async () => (await attrs(ui.candidates(), 'data-seed')).map(Number);
const shownGeneration = () => ui.page.locator('.strip').getAttribute('data-generation-id');

/** Waits until the strip shows `count` candidates none of which are in `before`. */
async function nextBatch(before: string[], count: number): Promise<string[]> {
  await expect.poll(async () => {
    const now = await ids();
    return now.length === count && now.every((id) => !before.includes(id));
  }, { timeout: 120_000 }).toBe(true);
  return ids();
}

let first: string[] = [];
let second: string[] = [];

describe('the strip keeps its history', () => {
  it('keeps an earlier batch reachable when a new one arrives, and brings it back', async () => {
    await ui.settings({ width: 64, height: 64, steps: 2, batch: 2 });
    await ui.page.getByTestId('seed-policy').selectOption('fixed');
    await ui.settings({ seed: 100 });
    await ui.setPrompt('a red house beside a lake');
    await ui.press('b');
    await ui.page.getByTestId('stroke-width').fill('4');
    await ui.drag([{ x: 8, y: 40 }, { x: 56, y: 40 }]);
    await ui.page.getByTestId('generate').click();
    first = await nextBatch([], 2);
    expect(await ui.page.getByTestId('earlier-batch').count()).toBe(0);

    await ui.settings({ seed: 200 });
    await ui.page.getByTestId('generate').click();
    second = await nextBatch(first, 2);
    expect(await seeds()).toEqual([200, 201]);
    // The first batch is one row below, with its pictures.
    const earlier = ui.page.getByTestId('earlier-batch');
    await expect.poll(() => earlier.count()).toBe(1);
    expect(await attrs(earlier.getByTestId('earlier-candidate'), 'data-candidate-id')).toEqual(first);
    expect(await earlier.textContent()).toMatch(/txt2img #100–101 · 2/);

    // A candidate compared with one of an earlier batch: pixels and parameters side by side.
    await ui.candidates().nth(0).getByTestId('compare').click();
    await earlier.getByTestId('earlier-compare').nth(1).click();
    const diff = ui.page.getByTestId('compare-overlay').getByTestId('param-diff');
    await expect.poll(() => diff.textContent()).toMatch(/seed200101/);
    expect(await ui.page.getByTestId('compare-overlay').locator('img').count()).toBe(2);
    await ui.page.getByTestId('compare-close').click();

    await earlier.getByTestId('earlier-show').click();
    await expect.poll(ids).toEqual(first);
    await expect.poll(() => attrs(ui.page.getByTestId('earlier-batch').getByTestId('earlier-candidate'), 'data-candidate-id')).toEqual(second);
  }, 300_000);

  it('opens Compare over the studio with Accept, Refine and Favourite on both sides', async () => {
    await ui.candidates().nth(0).getByTestId('compare').click();
    await ui.candidates().nth(1).getByTestId('compare').click();
    const overlay = ui.page.getByTestId('compare-overlay');
    await overlay.waitFor();
    // Over the page, not below the strip: it covers the viewport.
    const box = await overlay.boundingBox();
    expect(box).toMatchObject({ x: 0, y: 0, width: 1440, height: 900 });
    for (const side of ['compare-left', 'compare-right']) {
      for (const action of ['accept', 'refine', 'favourite']) expect(await overlay.getByTestId(side).getByTestId(action).count()).toBe(1);
    }
    await ui.page.screenshot({ path: path.join(screenshotsDir, 'compare-overlay.png') });
    // Favourite on the right marks that candidate in the strip too.
    const right = await overlay.getByTestId('compare-right').getAttribute('data-candidate-id');
    await overlay.getByTestId('compare-right').getByTestId('favourite').click();
    await expect.poll(() => ui.page.locator(`[data-testid="candidate"][data-candidate-id="${right}"] [data-testid="favourite"]`).getAttribute('aria-pressed')).toBe('true');
    // Accept on the left puts it on the canvas and closes the overlay.
    const leftSeed = await ui.candidates().nth(0).getAttribute('data-seed');
    await overlay.getByTestId('compare-left').getByTestId('accept').click();
    await expect.poll(() => ui.layerNames()).toContain(`Seed ${leftSeed}`);
    await overlay.waitFor({ state: 'detached' });
  });

  it('varies a candidate with its controls, linked to it, at the chosen variation strength', async () => {
    const parentId = first[1]!;
    const parentSeed = 101;
    await ui.page.getByTestId('variation-strength').fill('0.3');
    await ui.settings({ seed: 900 });
    await ui.page.locator(`[data-testid="candidate"][data-candidate-id="${parentId}"]`).getByTestId('variations').click();
    const varied = await nextBatch([...first, ...second], 2);
    // Every variation keeps the parent's seed; their noise differs by variation seed.
    expect(await seeds()).toEqual([parentSeed, parentSeed]);
    const record = await call('library.get', { id: (await shownGeneration())! });
    expect(record.parentCandidateId).toBe(parentId);
    expect(record.request?.variation).toEqual({ seed: 900, strength: 0.3 });
    // The sketch's scribble control went with it, as the parent's generation had it.
    const oldest = (await call('library.search', { sort: 'oldest', limit: 1 })).items[0]!;
    const parent = await call('library.get', { id: oldest.id });
    expect(parent.request?.controls.length).toBe(1);
    expect(record.request?.controls).toEqual(parent.request?.controls);
    expect(record.hasControl).toBe(true);
    // The two variations differ from each other (different variation seeds).
    expect(new Set(record.candidates.map((c) => c.sha256)).size).toBe(2);
    expect(varied).toHaveLength(2);
    // In the project's Iterations, the variation hangs under its parent candidate.
    const tree = ui.page.getByTestId('project-tree');
    await expect.poll(() => tree.locator('li li [data-testid="project-tree-node"]').count()).toBe(1);
  }, 200_000);

  it('shows a picture, mode, seed and time on each Iterations entry', async () => {
    const nodes = ui.page.getByTestId('project-tree-node');
    await expect.poll(() => nodes.count()).toBe(3);
    for (let i = 0; i < 3; i++) {
      const node = nodes.nth(i);
      await expect.poll(() => node.getByTestId('tree-thumb').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(64);
      expect(await node.textContent()).toMatch(/^(txt2img|img2img|inpaint) #\d+ · 2 \d\d:\d\d/);
    }
    expect(await nodes.nth(0).getByTestId('tree-seed').textContent()).toBe('#100');
  });
});

describe('history that helps', () => {
  let inpaintId = '';

  it('refines with a mask (an inpaint entry) and cancels a run (a cancelled entry)', async () => {
    await ui.press('m');
    await ui.page.getByTestId('stroke-width').fill('16');
    await ui.drag([{ x: 16, y: 32 }, { x: 48, y: 32 }]);
    await expect.poll(() => ui.layerNames()).toContain('Mask');
    await ui.settings({ seed: 4242 });
    const before = await ids();
    await ui.candidates().nth(0).getByTestId('refine').click();
    await nextBatch(before, 2);
    inpaintId = (await shownGeneration())!;
    expect((await call('library.get', { id: inpaintId })).mode).toBe('inpaint');

    // A long run, cancelled once it runs: recorded as cancelled.
    await ui.settings({ steps: 200 });
    await ui.page.getByTestId('generate').click();
    await ui.page.getByTestId('cancel-job').click();
    await expect.poll(async () => (await call('library.search', { statuses: ['cancelled'] })).total, { timeout: 60_000 }).toBe(1);
    await ui.settings({ steps: 2 });
  }, 200_000);

  it('hides cancelled and failed runs by default, and lists them on request', async () => {
    await ui.page.getByTestId('view-history').click();
    const total = ui.page.getByTestId('history-total');
    await expect.poll(() => total.textContent()).toBe('4 entries');
    expect(await ui.page.locator('[data-testid="history-cell"] .no-image').count()).toBe(0);
    await ui.page.getByTestId('history-status').selectOption('all');
    await expect.poll(() => total.textContent()).toBe('5 entries');
    await ui.page.getByTestId('history-status').selectOption('failed');
    await expect.poll(() => total.textContent()).toBe('1 entry');
    await ui.page.getByTestId('history-status').selectOption('made');
    await expect.poll(() => total.textContent()).toBe('4 entries');
  });

  it('shows an inpaint entry\'s init image, mask and control map, and recall restores them all', async () => {
    await ui.page.locator(`[data-testid="history-cell"][data-generation-id="${inpaintId}"]`).click();
    const detail = ui.page.getByTestId('history-detail');
    for (const input of ['input-init', 'input-mask', 'input-control']) {
      await expect.poll(() => detail.getByTestId(input).locator('img').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(64);
    }
    await ui.page.screenshot({ path: path.join(screenshotsDir, 'history-inputs.png') });
    await detail.getByTestId('recall').click();
    await ui.canvas.waitFor();
    await expect.poll(() => ui.layerNames()).toEqual(expect.arrayContaining(['Recalled init', 'Recalled mask', 'Recalled scribble']));
    expect(await ui.page.getByTestId('generation-mode').inputValue()).toBe('inpaint');
    expect(await ui.page.getByTestId('seed').inputValue()).toBe('4242');

    // Generate now makes the same request: the same init, mask and control map, so the same pictures.
    const before = await ids();
    await ui.page.getByTestId('generate').click();
    await nextBatch(before, 2);
    const again = await call('library.get', { id: (await shownGeneration())! });
    const original = await call('library.get', { id: inpaintId });
    expect(again.mode).toBe('inpaint');
    expect(again.request?.init).toEqual(original.request?.init);
    expect(again.request?.inpaint?.mask).toEqual(original.request?.inpaint?.mask);
    expect(again.request?.controls.map((c) => c.image)).toEqual(original.request?.controls.map((c) => c.image));
    // Everything else as the entry had it (lineage aside: the recall is a new branch).
    const { parentCandidateId: _a, ...againRest } = again.request!;
    const { parentCandidateId: _b, ...originalRest } = original.request!;
    expect(againRest).toEqual(originalRest);
    // The same pixels (the files differ: each PNG's stamp names its own generation).
    expect(await Promise.all(again.candidates.map((c) => pixelsOf(c.sha256)))).toEqual(await Promise.all(original.candidates.map((c) => pixelsOf(c.sha256))));
  }, 200_000);

  it('restores an older node of the iteration tree as a new branch that makes it again', async () => {
    const root = ui.page.getByTestId('project-tree').locator('li').first();
    expect(await root.getByTestId('tree-seed').first().textContent()).toBe('#100');
    await root.getByTestId('tree-restore').first().click();
    await expect.poll(() => ui.page.getByTestId('seed').inputValue()).toBe('100');
    expect(await ui.page.getByTestId('generation-mode').inputValue()).toBe('sketch');
    const before = await ids();
    await ui.page.getByTestId('generate').click();
    await nextBatch(before, 2);
    const again = await call('library.get', { id: (await shownGeneration())! });
    const oldest = (await call('library.search', { sort: 'oldest', limit: 1 })).items[0]!;
    expect(again.request?.controls.map((c) => c.image)).toEqual((await call('library.get', { id: oldest.id })).request?.controls.map((c) => c.image));
    expect(await Promise.all(again.candidates.map((c) => pixelsOf(c.sha256)))).toEqual(await Promise.all(oldest.candidates.map((c) => pixelsOf(c.sha256))));
  }, 200_000);
});

describe('live mode', () => {
  /** The page's `generate` calls for previews (their job ids) and its `jobs.cancel` calls, in order. */
  const previews: string[] = [];
  const cancels: string[] = [];

  it('previews the frame after each change, cancels stale runs, and keeps a preview as a layer', async () => {
    const page = ui.page;
    page.on('requestfinished', (req) => {
      if (!req.url().endsWith('/api/call')) return;
      const body = req.postDataJSON() as { method?: string; params?: { request?: { preview?: boolean }; jobId?: string } };
      if (body.method === 'jobs.cancel' && body.params?.jobId) cancels.push(body.params.jobId);
      if (body.method === 'generate' && body.params?.request?.preview) {
        void req.response().then(async (res) => {
          const json = (await res?.json()) as { result?: { jobId?: string } } | undefined;
          if (json?.result?.jobId) previews.push(json.result.jobId);
        });
      }
    });
    const historyBefore = (await call('library.search', {})).total;
    await ui.page.getByTestId('generation-mode').selectOption('sketch');
    // Big enough that a preview is still running when the next stroke lands: at the starter's
    // 256² a 4-step preview now takes about 0.3 s on this CPU (docs/performance.md), less than
    // a drag plus the 250 ms debounce; 512² takes several times that.
    await ui.settings({ width: 512, height: 512 });
    await page.getByTestId('live-toggle').click();
    const image = page.getByTestId('live-image');
    await image.waitFor({ timeout: 120_000 });
    const first = await image.getAttribute('data-job-id');

    // A stroke makes a new preview.
    await ui.press('b');
    await ui.drag([{ x: 20, y: 120 }, { x: 200, y: 120 }]);
    await expect.poll(() => image.getAttribute('data-job-id'), { timeout: 120_000 }).not.toBe(first);
    await page.getByTestId('live-status').and(page.locator('[data-updating="false"]')).waitFor({ timeout: 120_000 });
    const second = await image.getAttribute('data-job-id');
    expect(previews).toContain(second);

    // Another stroke while that one runs: the running preview is cancelled, the newest one shown.
    const sent = previews.length;
    await ui.drag([{ x: 20, y: 60 }, { x: 200, y: 200 }]);
    await expect.poll(() => previews.length, { timeout: 60_000 }).toBe(sent + 1);
    const running = previews.at(-1)!;
    await page.getByTestId('live-status').and(page.locator('[data-updating="true"]')).waitFor({ timeout: 60_000 });
    await ui.drag([{ x: 200, y: 60 }, { x: 20, y: 200 }]);
    await expect.poll(() => cancels, { timeout: 60_000 }).toContain(running);
    await expect.poll(async () => (await image.getAttribute('data-job-id')) === previews.at(-1) && previews.at(-1) !== running, { timeout: 120_000 }).toBe(true);
    // The README's live-mode.png comes from scripts/screenshots.ts (a clean sketch), not from here.
    // Previews are not history.
    expect((await call('library.search', {})).total).toBe(historyBefore);

    // One click keeps it as a layer.
    const seed = (await image.getAttribute('alt'))!.replace(/^.*seed /, '');
    await page.getByTestId('live-keep-layer').click();
    await expect.poll(() => ui.layerNames()).toContain(`Live preview #${seed}`);
  }, 300_000);

  it('lets a full generation go first', async () => {
    const before = await ids();
    await ui.settings({ width: 64, height: 64, batch: 2 });
    await ui.page.getByTestId('generate').click();
    await nextBatch(before, 2);
    // Whatever previews ran meanwhile, the history holds only the full generation's.
    expect((await call('library.get', { id: (await shownGeneration())! })).request?.preview).toBeUndefined();
    await ui.page.getByTestId('live-toggle').click();
    await ui.page.getByTestId('live-image').waitFor({ state: 'detached' });
  }, 200_000);
});

describe('per-region candidate mixing', () => {
  it('takes each region box\'s winner from a different candidate and cycles the alternatives in place', async () => {
    await ui.settings({ width: 64, height: 64, batch: 2 });
    await ui.press('g');
    await ui.page.getByTestId('region-label').fill('sky');
    await ui.drag([{ x: 4, y: 4 }, { x: 60, y: 28 }]);
    await ui.page.getByTestId('region-label').fill('lake');
    await ui.drag([{ x: 4, y: 36 }, { x: 60, y: 60 }]);
    const before = await ids();
    await ui.page.getByTestId('generate').click();
    const batch = await nextBatch(before, 2);
    const mixer = ui.page.getByTestId('region-mixer');
    const row = (label: string) => mixer.locator(`[data-testid="mixer-region"][data-label="${label}"]`);
    await expect.poll(() => mixer.getByTestId('mixer-region').count()).toBe(2);

    await row('sky').locator(`[data-testid="mixer-pick"][data-candidate-id="${batch[0]}"]`).click();
    await row('lake').locator(`[data-testid="mixer-pick"][data-candidate-id="${batch[1]}"]`).click();
    await expect.poll(() => ui.layerNames()).toEqual(expect.arrayContaining(['Region “sky”', 'Region “lake”']));
    await expect.poll(() => row('sky').getAttribute('data-candidate-id')).toBe(batch[0]);
    await expect.poll(() => row('lake').getAttribute('data-candidate-id')).toBe(batch[1]);
    // The README's region-mixer.png comes from scripts/screenshots.ts, not from this cluttered canvas.

    // The alternatives are one click away: the sky cycles through the batch, in the same layer.
    const layers = (await ui.layerNames()).length;
    await row('sky').getByTestId('mixer-cycle').click();
    await expect.poll(() => row('sky').getAttribute('data-candidate-id')).toBe(batch[1]);
    await row('sky').getByTestId('mixer-cycle').click();
    await expect.poll(() => row('sky').getAttribute('data-candidate-id')).toBe(batch[0]);
    expect((await ui.layerNames()).length).toBe(layers);
    // Undo takes back the last change of the sky only.
    await ui.undo();
    await expect.poll(() => row('sky').getAttribute('data-candidate-id')).toBe(batch[1]);
    expect(await row('lake').getAttribute('data-candidate-id')).toBe(batch[1]);
  }, 200_000);
});

describe('connection and queue survive a crash', () => {
  // Its own studio: `npm run web`'s way (no --port, so the port and token of the last run in
  // this data folder are used again), killed and started again under an open tab.
  const { home, cleanup } = tempHome('atelier-e2e-reconnect-');
  let server: ChildProcess | undefined;
  let browser: Browser | undefined;
  let output = '';

  async function startServer(): Promise<string> {
    output = '';
    const child = spawn(process.execPath, ['--import', 'tsx', 'main/web/start.ts', '--no-open'], { env: { ...process.env, ATELIER_HOME: home, CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    server = child;
    return new Promise<string>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const match = /ATELIER_URL=(\S+)/.exec(output);
        if (match?.[1]) resolve(match[1]);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => reject(new Error(`web server exited (${code}):\n${output}`)));
    });
  }

  async function kill(): Promise<void> {
    const child = server;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  afterAll(async () => {
    await browser?.close().catch(() => undefined); // a browser that already died has nothing left to close
    await kill();
    cleanup();
  });

  it('shows the loss at once, reconnects by itself, and accounts for every queued job', async () => {
    const url = await startServer();
    browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    const page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
    await page.goto(url);
    const tab = new StudioPage(page);
    await tab.ready();
    await page.getByTestId('seed-policy').selectOption('fixed');
    await tab.setPrompt('a lighthouse');
    // One long job, then two short ones behind it.
    await tab.settings({ width: 256, height: 256, steps: 150, batch: 1, seed: 1 });
    await page.getByTestId('generate').click();
    await tab.settings({ width: 64, height: 64, steps: 2, seed: 2 });
    await page.getByTestId('generate').click();
    await tab.settings({ seed: 3 });
    await page.getByTestId('generate').click();
    await page.getByTestId('progress').waitFor({ timeout: 120_000 });
    await expect.poll(() => page.getByTestId('pending-job').count()).toBe(2);

    // The studio dies mid-run: the tab says so within 2 s.
    const killedAt = Date.now();
    await kill();
    await page.getByTestId('disconnected').waitFor({ timeout: 30_000 });
    expect(Date.now() - killedAt).toBeLessThan(2000);
    expect(await page.getByTestId('progress-text').textContent()).toMatch(/^Studio unreachable · last heard at step \d+\/150/);
    await page.screenshot({ path: path.join(screenshotsDir, 'disconnected.png') });

    // Started again on the same data folder: same port and token, so the tab reconnects by itself.
    const again = await startServer();
    expect(again).toBe(url);
    await page.getByTestId('disconnected').waitFor({ state: 'detached', timeout: 60_000 });
    // The two waiting jobs ran after the restart; the one that was running is in the history as failed, with why.
    await expect.poll(async () => (await call('library.search', { statuses: ['completed'] }, page)).total, { timeout: 120_000 }).toBe(2);
    const completed = (await call('library.search', { statuses: ['completed'], sort: 'oldest' }, page)).items;
    expect(completed.map((g) => g.seed)).toEqual([2, 3]);
    const failed = (await call('library.search', { statuses: ['failed'] }, page)).items;
    expect(failed.map((g) => g.seed)).toEqual([1]);
    expect((await call('library.get', { id: failed[0]!.id }, page)).error).toBe(INTERRUPTED);
    // The tab's queue is empty again and the candidates of the re-queued jobs reached its strip.
    await expect.poll(() => page.getByTestId('queue').count()).toBe(0);
    await expect.poll(() => page.getByTestId('candidate').getAttribute('data-seed')).toBe('3');
    expect(await page.getByTestId('earlier-batch').count()).toBe(1);
  }, 300_000);
});
