import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readProjectFile } from '../../app/projects/atelier-file.js';
import { hostileProjects } from '../fixtures/projects/craft.js';
import { useStudio } from './harness.js';

// Web mode with the browser's own files: open the committed sample through the file input,
// then export and download through browser downloads; a hostile file is refused visibly.
const SAMPLE = path.resolve('resources/samples/lake-house.atelier');

const { studio, ui } = useStudio();

describe('web mode: files from and to this computer', () => {
  it('opens the sample project chosen in the browser\'s file picker', async () => {
    const sample = await readProjectFile(SAMPLE);
    // The layer list shows the top layer first.
    const expected = sample.document.layers.map((l) => l.name).reverse();
    await ui.uploadProject(SAMPLE);
    await expect.poll(() => ui.layerNames(), { timeout: 30_000 }).toEqual(expected);
    await expect.poll(() => ui.page.getByTestId('project-name').textContent()).toContain(sample.document.name);
    expect(await ui.errorToasts().count()).toBe(0);
    // Kept on the studio's side under uploads/ so that Save writes back to it.
    expect(fs.readdirSync(path.join(studio.home, 'projects', 'uploads'))).toHaveLength(1);
  }, 60_000);

  it('exports a PSD as a browser download', async () => {
    const download = await ui.download('psd');
    expect(download.suggestedFilename()).toMatch(/\.psd$/);
    const saved = path.join(studio.home, 'downloaded.psd');
    await download.saveAs(saved);
    const bytes = fs.readFileSync(saved);
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('8BPS');
    expect(await ui.errorToasts().count()).toBe(0);
  }, 60_000);

  it('downloads the project as an .atelier that opens with the same layers', async () => {
    const download = await ui.download('atelier');
    expect(download.suggestedFilename()).toMatch(/\.atelier$/);
    const saved = path.join(studio.home, 'downloaded.atelier');
    await download.saveAs(saved);
    const [copy, sample] = await Promise.all([readProjectFile(saved), readProjectFile(SAMPLE)]);
    expect(copy.document.layers.map((l) => l.id)).toEqual(sample.document.layers.map((l) => l.id));
    await expect.poll(() => ui.page.getByTestId('project-name').getAttribute('data-dirty')).toBe('false');
  }, 60_000);

  it('refuses a hostile file with a visible error and keeps the open project', async () => {
    const before = await ui.layerNames();
    const evil = path.join(studio.home, 'evil.atelier');
    fs.writeFileSync(evil, hostileProjects['zip-slip ../ entry']!.bytes());
    await ui.uploadProject(evil);
    await expect.poll(() => ui.errorToasts().count(), { timeout: 30_000 }).toBeGreaterThan(0);
    expect(await ui.errorToasts().last().textContent()).toMatch(/evil\.atelier/);
    expect(await ui.layerNames()).toEqual(before);
    // The refused upload is gone; the sample's (and its safe-save backup) stay.
    const left = fs.readdirSync(path.join(studio.home, 'projects', 'uploads'));
    expect(left.filter((name) => name.startsWith('evil'))).toEqual([]);
    expect(left.filter((name) => name.endsWith('.atelier'))).toHaveLength(1);
  }, 60_000);
});
