import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ProjectDocument } from '../../app/contract/projects.js';
import { readZip } from '../../app/projects/zip.js';
import { useStudio } from './harness.js';
import { attributes } from './pages/studio-page.js';

// The artist's whole loop in web mode, on the CPU, with a tiny fixture model:
// sketch → 4 candidates → compare → accept → mask → refine → new candidates; the history
// shows both generations and their lineage; save → reload → open gives the same document;
// a bad model folder is refused with an error and the studio keeps working.
const MODEL = path.resolve('tests/fixtures/models/sd1-tiny');
const BROKEN = path.resolve('tests/fixtures/models/broken-missing-unet');

const { studio, ui } = useStudio();

describe('the artist loop', () => {
  it('adds a model folder, sketches, and generates four candidates', async () => {
    await ui.addModel(MODEL);
    await ui.page.getByTestId('model-picker').selectOption({ label: 'sd1-tiny' });
    await ui.settings({ width: 64, height: 64, steps: 2, batch: 4 });
    await ui.newProject();
    await ui.press('b');
    await ui.page.getByTestId('stroke-width').fill('4');
    await ui.drag([{ x: 8, y: 8 }, { x: 56, y: 56 }]);
    await ui.setPrompt('a red (barn:1.2) under a sunset sky');
    await ui.page.getByTestId('generate').click();
    await expect.poll(() => ui.candidates().count(), { timeout: 120_000 }).toBe(4);
    const seeds = (await attributes(ui.candidates(), 'data-seed')).map(Number);
    // Candidate k has seed + k.
    expect(seeds.map((s) => s - seeds[0]!)).toEqual([0, 1, 2, 3]);
  }, 150_000);

  it('compares two candidates with a parameter diff', async () => {
    await ui.candidates().nth(0).getByTestId('compare').click();
    await ui.candidates().nth(1).getByTestId('compare').click();
    const diff = ui.page.getByTestId('param-diff');
    await expect.poll(() => diff.textContent()).toMatch(/seed/);
    await ui.page.getByTestId('compare-slider-mode').click();
    expect(await ui.page.getByTestId('compare-view').locator('input[type=range]').count()).toBe(1);
    // Compare sits over the studio; closed, the strip is in reach again.
    await ui.page.getByTestId('compare-close').click();
    await ui.page.getByTestId('compare-view').waitFor({ state: 'detached' });
  });

  it('accepts a candidate onto the canvas as a new layer', async () => {
    const seed = await ui.candidates().nth(1).getAttribute('data-seed');
    await ui.candidates().nth(1).getByTestId('accept').click();
    await expect.poll(() => ui.layerNames()).toContain(`Seed ${seed}`);
    // The candidate now covers the paper: the middle is no longer white.
    await expect.poll(() => ui.isWhite({ x: 32, y: 40 })).toBe(false);
  });

  it('paints a mask and refines a candidate: new candidates appear', async () => {
    const before = await attributes(ui.candidates(), 'data-seed');
    await ui.press('m');
    await ui.page.getByTestId('stroke-width').fill('16');
    await ui.drag([{ x: 16, y: 32 }, { x: 48, y: 32 }]);
    await expect.poll(() => ui.layerNames()).toContain('Mask');
    await ui.page.getByTestId('seed-policy').selectOption('fixed');
    await ui.page.getByTestId('seed').fill('4242');
    await ui.candidates().nth(1).getByTestId('refine').click();
    await expect.poll(() => ui.candidates().first().getAttribute('data-seed'), { timeout: 120_000 }).toBe('4242');
    expect(await ui.candidates().count()).toBe(4);
    const after = await attributes(ui.candidates(), 'data-seed');
    expect(after).not.toEqual(before);
  }, 150_000);

  it('shows both generations in the project tree and in the history with their lineage', async () => {
    // The project's own iteration tree: the refinement hangs under the first generation.
    const projectTree = ui.page.getByTestId('project-tree');
    await expect.poll(() => projectTree.getByTestId('project-tree-node').count()).toBe(2);
    expect(await projectTree.locator('li li [data-testid="project-tree-node"]').getAttribute('data-mode')).toBe('inpaint');
    // Navigable: the first generation's candidates come back into the strip.
    const refined = await ui.candidates().first().getAttribute('data-candidate-id');
    await projectTree.locator('[data-testid="project-tree-node"][data-mode="txt2img"]').click();
    await expect.poll(() => ui.candidates().first().getAttribute('data-candidate-id')).not.toBe(refined);
    await ui.candidates().first().getByTestId('favourite').click();
    await projectTree.locator('[data-testid="project-tree-node"][data-mode="inpaint"]').click();
    await expect.poll(() => ui.candidates().first().getAttribute('data-candidate-id')).toBe(refined);

    await ui.setPrompt('something else');
    await ui.page.getByTestId('view-history').click();
    await expect.poll(() => ui.page.getByTestId('history-cell').count(), { timeout: 30_000 }).toBe(2);
    expect(await ui.page.getByTestId('history-total').textContent()).toMatch(/^2 entries/);
    // Newest first: the inpainting refinement.
    await ui.page.getByTestId('history-cell').first().click();
    const detail = ui.page.getByTestId('history-detail');
    await expect.poll(() => detail.getByTestId('history-params').textContent()).toMatch(/inpaint/);
    const tree = detail.getByTestId('iteration-tree');
    await expect.poll(() => tree.getByTestId('tree-node').count()).toBe(2);
    // The refinement hangs under the first generation.
    expect(await tree.locator('li li [data-testid="tree-node"]').getAttribute('data-mode')).toBe('inpaint');
    await tree.locator('[data-testid="tree-node"][data-mode="txt2img"]').click();
    await expect.poll(() => detail.getByTestId('history-params').textContent()).toMatch(/txt2img/);
    // Search finds it by its prompt; a word it lacks finds nothing.
    await ui.page.getByTestId('history-search').fill('barn');
    await expect.poll(() => ui.page.getByTestId('history-total').textContent()).toMatch(/^2 /);
    await ui.page.getByTestId('history-search').fill('lighthouse');
    await expect.poll(() => ui.page.getByTestId('history-total').textContent()).toMatch(/^0 /);
    await ui.page.getByTestId('history-search').fill('');
    // The favourite made in the strip is in the library too.
    await ui.page.getByText('favourites').click();
    await expect.poll(() => ui.page.getByTestId('history-total').textContent()).toMatch(/^1 entry/);
    await ui.page.getByText('favourites').click();
    // Recall puts the entry's settings back into the prompt panel (and shows it).
    await ui.page.getByTestId('history-cell').last().click();
    await ui.page.getByTestId('recall').click();
    await expect.poll(() => ui.page.getByTestId('prompt').inputValue()).toBe('a red (barn:1.2) under a sunset sky');
    expect(await ui.page.getByTestId('seed-policy').inputValue()).toBe('fixed');
  }, 60_000);

  it('saves, reloads the page, opens the file: the document is identical', async () => {
    const file = path.join(studio.home, 'loop.atelier');
    await ui.saveAs(file);
    await expect.poll(() => fs.existsSync(file)).toBe(true);
    await expect.poll(() => ui.page.getByTestId('project-name').getAttribute('data-dirty')).toBe('false');
    const layersBefore = await ui.layerNames();
    const pixelsBefore = await Promise.all([{ x: 32, y: 40 }, { x: 10, y: 10 }, { x: 50, y: 20 }].map((p) => ui.pixel(p)));

    await ui.page.reload();
    await ui.ready();
    expect(await ui.layerNames()).not.toEqual(layersBefore);
    await ui.open(file);
    await expect.poll(() => ui.layerNames()).toEqual(layersBefore);
    await expect.poll(() => ui.page.getByTestId('project-name').getAttribute('data-dirty')).toBe('false');
    // Raster layers decode asynchronously after the layer list appears: wait for the pixels, not a fixed time.
    await expect.poll(() => Promise.all([{ x: 32, y: 40 }, { x: 10, y: 10 }, { x: 50, y: 20 }].map((p) => ui.pixel(p))), { timeout: 15_000 }).toEqual(pixelsBefore);

    // The file on disk holds both generations and their lineage.
    const res = await studio.context.request.post(`${studio.origin}/api/call`, { data: { v: 1, method: 'projects.info', params: { path: file } } });
    const info = (await res.json()) as { ok: boolean; result: { generations: number; candidates: number } };
    expect(info.ok).toBe(true);
    expect(info.result.generations).toBe(2);
    expect(info.result.candidates).toBe(8);

    // Candidates by reference: the document names the library's images by hash, and the file
    // carries the library's own bytes for them (the service copied them; the page sent none).
    const { files } = await readZip(fs.readFileSync(file));
    const doc = JSON.parse(Buffer.from(files.get('document.json')!).toString('utf8')) as ProjectDocument;
    const candidates = doc.generations.flatMap((g) => g.candidates);
    expect(candidates.every((c) => c.image !== null && 'sha256' in c.image && c.image.sha256 === c.sha256)).toBe(true);
    const shaOf = new Map(candidates.map((c) => [c.id, c.sha256]));
    const accepted = doc.layers.filter((l) => l.kind === 'generated');
    expect(accepted.length).toBeGreaterThan(0);
    for (const layer of accepted) expect(layer.image).toEqual({ sha256: shaOf.get(layer.candidateId) });
    for (const c of candidates) {
      const bytes = files.get(`images/${c.sha256}.png`);
      expect(bytes && createHash('sha256').update(bytes).digest('hex')).toBe(c.sha256);
    }
    expect([...files.keys()].filter((name) => name.startsWith('parts/')).length).toBeLessThan(candidates.length);
  }, 90_000);

  it('exports PNG, OpenRaster, PSD and a contact sheet from the menu', async () => {
    for (const [format, name] of [['png', 'flat.png'], ['ora', 'layers.ora'], ['psd', 'layers.psd'], ['contact-sheet', 'sheet.png']] as const) {
      const out = path.join(studio.home, name);
      await ui.exportAs(format, out);
      await expect.poll(() => fs.existsSync(out) && fs.statSync(out).size > 0, { timeout: 30_000 }).toBe(true);
    }
    const ora = fs.readFileSync(path.join(studio.home, 'layers.ora'));
    // OpenRaster is a zip whose first entry is the uncompressed mimetype.
    expect(ora.subarray(30, 30 + 8 + 16).toString()).toBe('mimetypeimage/openraster');
    expect(fs.readFileSync(path.join(studio.home, 'layers.psd')).subarray(0, 4).toString()).toBe('8BPS');
    expect(await ui.errorToasts().count()).toBe(0);
  }, 90_000);

  it('refuses a bad model folder with a visible error and keeps working', async () => {
    const shown = await ui.candidates().first().getAttribute('data-candidate-id');
    await ui.addModel(BROKEN);
    await expect.poll(() => ui.errorToasts().count()).toBeGreaterThan(0);
    expect(await ui.errorToasts().last().textContent()).toMatch(/unet|model/i);
    // Still works: drawing and generating.
    await ui.page.getByTestId('model-picker').selectOption({ label: 'sd1-tiny' });
    await ui.press('b');
    await ui.drag([{ x: 4, y: 60 }, { x: 60, y: 60 }]);
    await ui.page.getByTestId('generate').click();
    await expect.poll(() => ui.candidates().first().getAttribute('data-candidate-id'), { timeout: 120_000 }).not.toBe(shown);
    expect(await ui.candidates().count()).toBe(4);
  }, 150_000);
});
