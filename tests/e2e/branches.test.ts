import path from 'node:path';
import { type Locator } from 'playwright-core';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { API_VERSION, type MethodName, type Params, type Result } from '../../app/contract/index.js';
import { screenshotsDir, useStudio } from './harness.js';

// Branches you can return to (issue 15, item 3) in web mode with the starter model on the
// CPU at 64² and two steps: each generation keeps the document it ran from, any node of the
// iteration tree comes back whole as one undo step, and two nodes open in Compare with
// their pictures, parameters and inputs.

const { studio, ui } = useStudio();

async function call<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>> {
  const response = await ui.page.evaluate(
    async (body) => (await fetch('/api/call', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as Promise<unknown>,
    { v: API_VERSION, method, params },
  );
  const r = response as { ok: boolean; result?: unknown; error?: unknown };
  if (!r.ok) throw new Error(`${method}: ${JSON.stringify(r.error)}`);
  return r.result as Result<M>;
}

function attrs(locator: Locator, name: string): Promise<string[]> {
  return locator.evaluateAll((els, n) => els.map((e) => (e as unknown as { getAttribute(a: string): string | null }).getAttribute(n) ?? ''), name);
}

const ids = () => attrs(ui.candidates(), 'data-candidate-id');

async function nextBatch(before: string[]): Promise<string> {
  await expect.poll(async () => {
    const now = await ids();
    return now.length === 1 && !before.includes(now[0]!);
  }, { timeout: 120_000 }).toBe(true);
  return (await ui.page.locator('.strip').getAttribute('data-generation-id'))!;
}

/** The canvas's pixels over the document's top-left 96², as shown fitted (0) with the pointer away. */
async function canvasPixels(): Promise<Buffer> {
  await ui.press('0');
  await ui.page.mouse.move(1, 1);
  await ui.nextFrames();
  const a = await ui.toScreen({ x: 0, y: 0 });
  const b = await ui.toScreen({ x: 96, y: 96 });
  const shot = await ui.page.screenshot({ clip: { x: Math.round(a.x), y: Math.round(a.y), width: Math.round(b.x - a.x), height: Math.round(b.y - a.y) } });
  return PNG.sync.read(shot).data;
}

/** Waits until the canvas shows exactly `expected`. */
async function shows(expected: Buffer): Promise<void> {
  await expect.poll(async () => (await canvasPixels()).equals(expected), { timeout: 15_000 }).toBe(true);
}

let firstId = '';
let secondId = '';
let firstLayers: string[] = [];
let firstPixels: Buffer = Buffer.alloc(0);
let laterLayers: string[] = [];
let laterPixels: Buffer = Buffer.alloc(0);

describe('branches you can return to', () => {
  it('keeps the document each generation ran from, its layer pixels by hash', async () => {
    await ui.settings({ width: 64, height: 64, steps: 2, batch: 1 });
    await ui.page.getByTestId('seed-policy').selectOption('fixed');
    await ui.settings({ seed: 100 });
    await ui.setPrompt('a red house beside a lake');
    await ui.press('b');
    await ui.page.getByTestId('stroke-width').fill('4');
    await ui.drag([{ x: 8, y: 40 }, { x: 56, y: 40 }]);
    // A painted mask: a raster layer, whose pixels the snapshot keeps in the library.
    await ui.press('m');
    await ui.page.getByTestId('stroke-width').fill('12');
    await ui.drag([{ x: 16, y: 16 }, { x: 48, y: 16 }]);
    await expect.poll(() => ui.layerNames()).toContain('Mask');
    await ui.page.getByTestId('generation-mode').selectOption('sketch');
    await ui.page.getByTestId('generate').click();
    firstId = await nextBatch([]);
    firstLayers = await ui.layerNames();
    firstPixels = await canvasPixels();
    expect(await ui.isMasked({ x: 32, y: 16 })).toBe(true);

    await expect.poll(() => call('library.snapshot', { id: firstId }), { timeout: 15_000 }).not.toBeNull();
    const snapshot = (await call('library.snapshot', { id: firstId }))!;
    expect(snapshot.snapshot.layers.map((l) => l.name).reverse()).toEqual(firstLayers);
    expect(Object.keys(snapshot.parts)).toHaveLength(1);
  }, 200_000);

  it('a later generation from a changed document shares the unchanged layers', async () => {
    // Paint more, take the candidate as a layer, drop the mask, generate from the canvas.
    await ui.press('b');
    await ui.page.getByTestId('stroke-width').fill('4');
    await ui.drag([{ x: 32, y: 4 }, { x: 32, y: 60 }]);
    await ui.candidates().first().getByTestId('accept').click();
    await expect.poll(() => ui.layerNames()).toContain('Seed 100');
    await ui.layer('Mask').getByTestId('layer-delete').click();
    await expect.poll(() => ui.layerNames()).not.toContain('Mask');
    await ui.settings({ seed: 200 });
    await ui.page.getByTestId('generation-mode').selectOption('canvas');
    const before = await ids();
    await ui.page.getByTestId('generate').click();
    secondId = await nextBatch(before);
    laterLayers = await ui.layerNames();
    laterPixels = await canvasPixels();
    expect(laterPixels.equals(firstPixels)).toBe(false);
    await expect.poll(() => call('library.snapshot', { id: secondId }), { timeout: 15_000 }).not.toBeNull();
    const [a, b] = [(await call('library.snapshot', { id: firstId }))!, (await call('library.snapshot', { id: secondId }))!];
    expect(b.sha256).not.toBe(a.sha256);
    expect(b.snapshot.layers.map((l) => l.kind)).toContain('generated');
  }, 200_000);

  it('restores the first node whole as one undo step; undo and redo switch between the branches', async () => {
    const node = ui.page.locator(`[data-testid="project-tree"] li[data-generation-id="${firstId}"]`);
    await node.getByTestId('tree-restore').first().click();
    await expect.poll(() => ui.layerNames()).toEqual(firstLayers);
    await shows(firstPixels);
    expect(await ui.isMasked({ x: 32, y: 16 })).toBe(true);
    expect(await ui.page.getByTestId('seed').inputValue()).toBe('100');
    expect(await ui.page.getByTestId('generation-mode').inputValue()).toBe('sketch');
    await ui.page.screenshot({ path: path.join(screenshotsDir, 'branch-restored.png') });

    await ui.undo();
    await expect.poll(() => ui.layerNames()).toEqual(laterLayers);
    await shows(laterPixels);
    await ui.redo();
    await expect.poll(() => ui.layerNames()).toEqual(firstLayers);
    await shows(firstPixels);
  }, 60_000);

  it('compares two nodes: pictures, parameters and inputs', async () => {
    const tree = ui.page.getByTestId('project-tree');
    await tree.locator(`li[data-generation-id="${firstId}"]`).getByTestId('tree-compare').first().click();
    await tree.locator(`li[data-generation-id="${secondId}"]`).getByTestId('tree-compare').first().click();
    const view = ui.page.getByTestId('compare-view');
    await view.waitFor();
    const [first, second] = [await call('library.get', { id: firstId }), await call('library.get', { id: secondId })];
    expect(await attrs(view.locator('.compare-sides img'), 'src')).toEqual([
      expect.stringContaining(first.candidates[0]!.sha256),
      expect.stringContaining(second.candidates[0]!.sha256),
    ]);
    const diff = view.getByTestId('param-diff');
    await expect.poll(() => diff.locator('tr', { hasText: 'seed' }).textContent()).toBe('seed100200');
    // The second ran from the canvas: an init image the first did not have, shown as a picture.
    const init = diff.locator('[data-testid="input-diff"][data-key="init image"]');
    await init.waitFor();
    expect(await init.locator('td').nth(1).textContent()).toBe('—');
    expect(await init.locator('img').getAttribute('data-sha256')).toBe((second.request!.init as { sha256: string }).sha256);
    await expect.poll(() => init.locator('img').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(64);
    // Both used the sketch's scribble, drawn differently: the control map row differs too.
    await diff.locator('[data-testid="input-diff"][data-key="control 1"]').waitFor();
    await ui.page.screenshot({ path: path.join(screenshotsDir, 'branch-compare.png') });
    await view.getByTestId('compare-close').click();
    await expect.poll(() => ui.page.getByTestId('compare-view').count()).toBe(0);
  }, 60_000);

  it('restores a node of a reopened project from the library: the mask the file no longer holds comes back', async () => {
    // The later branch, without the mask: a save writes only the parts the document shows.
    await ui.undo();
    await expect.poll(() => ui.layerNames()).toEqual(laterLayers);
    const file = path.join(studio.home, 'branches.atelier');
    await ui.saveAs(file);
    ui.page.once('dialog', (d) => void d.accept());
    await ui.newProject();
    await expect.poll(() => ui.page.getByTestId('project-tree-node').count()).toBe(0);
    await ui.open(file);
    await expect.poll(() => ui.layerNames()).toEqual(laterLayers);
    const node = ui.page.locator(`[data-testid="project-tree"] li[data-generation-id="${firstId}"]`);
    await node.getByTestId('tree-restore').first().click();
    await expect.poll(() => ui.layerNames()).toEqual(firstLayers);
    await expect.poll(() => ui.isMasked({ x: 32, y: 16 })).toBe(true);
    await shows(firstPixels);
    expect(await ui.errorToasts().count()).toBe(0);
  }, 60_000);

  it('restores an entry\'s canvas from History too', async () => {
    await ui.undo();
    await expect.poll(() => ui.layerNames()).toEqual(laterLayers);
    await ui.page.getByTestId('view-history').click();
    await ui.page.locator(`[data-testid="history-cell"][data-generation-id="${firstId}"]`).click();
    await ui.page.getByTestId('history-detail').getByTestId('restore-document').click();
    await ui.canvas.waitFor();
    await expect.poll(() => ui.layerNames()).toEqual(firstLayers);
    await shows(firstPixels);
  }, 60_000);

  it('shows a picture, mode, seed and time on each Iterations entry', async () => {
    const nodes = ui.page.getByTestId('project-tree-node');
    await expect.poll(() => nodes.count()).toBe(2);
    for (let i = 0; i < 2; i++) {
      const node = nodes.nth(i);
      await expect.poll(() => node.getByTestId('tree-thumb').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(64);
      expect(await node.textContent()).toMatch(/^(txt2img|img2img) #(100|200) · 1 \d\d:\d\d/);
    }
  });
});
