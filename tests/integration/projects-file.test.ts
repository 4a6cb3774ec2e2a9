import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { readPsd } from 'ag-psd';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_SCHEMA_VERSION, type ProjectDocument } from '../../app/contract/projects.js';
import { readPngMetadata } from '../../app/formats/png-metadata.js';
import { encodeProjectFile, readProjectFile } from '../../app/projects/atelier-file.js';
import { addLayer, createControlLayer, dataUrlToPng, moveLayer, pngToDataUrl, renameProject, setCannyThresholds, setLayerProperties } from '../../app/projects/document/index.js';
import { flatten } from '../../app/projects/render.js';
import { exportOra, exportPsd } from '../../app/projects/export.js';
import { readOra, readPsdLayers } from '../../app/projects/import.js';
import { backupPathOf, writeFileAtomic } from '../../app/projects/safe-save.js';
import { readZip, writeZip } from '../../app/projects/zip.js';
import { createStudio, type StudioService } from '../../app/service/index.js';
import { realPng } from '../fixtures/projects/real-png.js';
import { buildSampleProject } from '../fixtures/projects/sample-document.js';
import { tempHome } from '../helpers/home.js';

const run = promisify(execFile);
const { document: sample, assets: sampleAssets } = buildSampleProject(realPng);

describe('.atelier files', () => {
  let home: ReturnType<typeof tempHome>;
  let studio: StudioService;
  beforeAll(async () => {
    home = tempHome();
    studio = await createStudio({ transport: 'web', home: home.home });
  });
  afterAll(async () => {
    await studio.close();
    home.cleanup();
  });

  it('save → open round-trips the document and every image byte for byte', async () => {
    const bytes = await encodeProjectFile(sample, sampleAssets, '0.1.0', '2026-11-26T11:00:00.000Z');
    const opened = await readProjectFile(bytes);
    expect(opened.document).toEqual(sample);
    expect(Object.keys(opened.assets).sort()).toEqual(Object.keys(sampleAssets).sort());
    for (const [part, url] of Object.entries(sampleAssets)) expect(Buffer.from(dataUrlToPng(opened.assets[part]!))).toEqual(Buffer.from(dataUrlToPng(url)));
    // Saving what was opened gives the same bytes: nothing drifts across generations of saves.
    expect(await encodeProjectFile(opened.document, opened.assets, '0.1.0', '2026-11-26T11:00:00.000Z')).toEqual(bytes);
    const { files } = await readZip(bytes);
    expect([...files.keys()].slice(0, 2)).toEqual(['manifest.json', 'document.json']);
    expect(JSON.parse(files.get('manifest.json')!.toString())).toMatchObject({ format: 'atelier', schemaVersion: PROJECT_SCHEMA_VERSION, appVersion: '0.1.0', images: [] });
  });

  it('save → open keeps a Canny control layer\'s thresholds; a file written without them opens with 100/200', async () => {
    let doc = addLayer(sample, createControlLayer({ id: 'ctl-canny', name: 'Canny', controlType: 'canny', sourceLayerId: 'paint' }));
    doc = setCannyThresholds(doc, 'ctl-canny', 35, 140);
    const bytes = await encodeProjectFile(doc, sampleAssets, '0.1.0', '2026-11-26T11:00:00.000Z');
    const opened = await readProjectFile(bytes);
    expect(opened.document.layers.find((l) => l.id === 'ctl-canny')).toMatchObject({ kind: 'control', preprocess: 'canny', cannyLow: 35, cannyHigh: 140 });
    expect(opened.document).toEqual(doc);
    // The same file as an Atelier before the thresholds existed wrote it.
    const { files } = await readZip(bytes);
    const older = JSON.parse(files.get('document.json')!.toString()) as { layers: Record<string, unknown>[] };
    for (const layer of older.layers) {
      delete layer.cannyLow;
      delete layer.cannyHigh;
    }
    const zipped = await writeZip(
      [...files].map(([name, data]) => ({ name, data: name === 'document.json' ? Buffer.from(JSON.stringify(older)) : data, compress: !name.endsWith('.png') })),
    );
    const reopened = await readProjectFile(zipped);
    expect(reopened.fileSchemaVersion).toBe(PROJECT_SCHEMA_VERSION);
    expect(reopened.document.layers.find((l) => l.id === 'ctl-canny')).toMatchObject({ cannyLow: 100, cannyHigh: 200 });
  });

  it('writes only referenced parts and refuses a document whose image is missing', async () => {
    const extra = { ...sampleAssets, 'parts/orphan.png': pngToDataUrl(realPng('orphan', 2, 2)) };
    const { files } = await readZip(await encodeProjectFile(sample, extra, '0.1.0'));
    expect(files.has('parts/orphan.png')).toBe(false);
    const { 'parts/mask.png': _gone, ...missing } = sampleAssets;
    await expect(encodeProjectFile(sample, missing, '0.1.0')).rejects.toThrow(/parts\/mask\.png, but no image was given/);
  });

  it('opens the preview (schema 0) file, migrating it forward', async () => {
    const opened = await studio.call('projects.open', { path: 'tests/fixtures/projects/preview-v0.atelier' });
    expect(opened.migratedFrom).toBe(0);
    // Saving it overwrites the old file in the new format (the old one stays as the .bak).
    expect(opened.path).toBe(path.resolve('tests/fixtures/projects/preview-v0.atelier'));
    const doc = opened.snapshot.document;
    expect(doc).toMatchObject({ schemaVersion: PROJECT_SCHEMA_VERSION, name: 'Lighthouse (preview)', settings: { prompt: 'a lighthouse at night', negativePrompt: 'blurry' } });
    expect(doc.layers.map((l) => [l.kind, l.name, l.visible, l.opacity])).toEqual([['paint', 'Background', true, 1], ['sketch', 'Lines', true, 0.8], ['mask', 'Sea', false, 0.5]]);
    // Saving writes the current schema; reopening needs no migration.
    const target = path.join(home.home, 'lighthouse.atelier');
    await studio.call('projects.saveAs', { sessionId: opened.sessionId, path: target });
    const again = await studio.call('projects.open', { path: target });
    expect(again.migratedFrom).toBeNull();
    expect(again.snapshot.document).toEqual(doc);
  });

  it('saves atomically and keeps the previous version as a backup', async () => {
    const target = path.join(home.home, 'backup.atelier');
    const v1 = await encodeProjectFile(sample, sampleAssets, '0.1.0');
    const v2 = await encodeProjectFile(renameProject(sample, 'second'), sampleAssets, '0.1.0');
    await writeFileAtomic(target, v1);
    expect(fs.existsSync(backupPathOf(target))).toBe(false);
    await writeFileAtomic(target, v2);
    expect(fs.readFileSync(target)).toEqual(v2);
    expect(fs.readFileSync(backupPathOf(target))).toEqual(v1);
    expect(fs.readdirSync(home.home).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('StudioApi: new → update → saveAs → open → save, with recent files', async () => {
    const created = await studio.call('projects.new', { name: 'Fresh', width: 512, height: 512 });
    expect(created.snapshot.document.settings).toMatchObject({ width: 512, height: 512 });
    await expect(studio.call('projects.save', { sessionId: created.sessionId })).rejects.toMatchObject({ code: 'conflict' });
    const doc: ProjectDocument = { ...sample, id: created.snapshot.document.id };
    // Parts the service has not seen must come along; a document referring to unknown parts is refused.
    await expect(studio.call('projects.update', { sessionId: created.sessionId, document: doc })).rejects.toMatchObject({ code: 'bad_request' });
    expect(await studio.call('projects.update', { sessionId: created.sessionId, document: doc, assets: sampleAssets })).toEqual({ dirty: true });
    const target = path.join(home.home, 'projects', 'fresh.atelier');
    fs.mkdirSync(path.dirname(target));
    const saved = await studio.call('projects.saveAs', { sessionId: created.sessionId, path: target });
    expect(saved.path).toBe(target);
    const reopened = await studio.call('projects.open', { path: target });
    expect(reopened.snapshot.document).toEqual(doc);
    expect(reopened.snapshot.assets).toEqual(sampleAssets);
    const recent = await studio.call('projects.recent', {});
    expect(recent[0]).toMatchObject({ path: target, name: sample.name, exists: true });
    await expect(studio.call('projects.saveAs', { sessionId: created.sessionId, path: path.join(home.home, 'x.png') })).rejects.toThrow(/ends in \.atelier/);
    expect(await studio.call('projects.close', { sessionId: created.sessionId })).toEqual({ closed: true });
  });
});

describe('exports and imports', () => {
  let home: ReturnType<typeof tempHome>;
  let file: string;
  beforeAll(async () => {
    home = tempHome();
    file = path.join(home.home, 'sample.atelier');
    fs.writeFileSync(file, await encodeProjectFile(sample, sampleAssets, '0.1.0'));
  });
  afterAll(() => home.cleanup());

  it('OpenRaster: mimetype first and stored, layers top first with names, opacity and visibility', async () => {
    const ora = await exportOra(sample, sampleAssets);
    expect(ora.subarray(30, 38).toString('latin1')).toBe('mimetype');
    expect(ora.subarray(38, 54).toString('latin1')).toBe('image/openraster');
    const { files } = await readZip(ora);
    const xml = files.get('stack.xml')!.toString();
    const layers = [...xml.matchAll(/<layer name="([^"]*)" src="([^"]*)"[^>]*opacity="([^"]*)" visibility="([^"]*)"/g)].map((m) => [m[1], m[3], m[4]]);
    expect(layers).toEqual([...sample.layers].reverse().map((l) => [l.name, String(l.opacity), l.visible ? 'visible' : 'hidden']));
    // Unscaled rasters keep their own size and offset (the reference is 32×24 at 4,4); the rest cover the canvas.
    for (const m of xml.matchAll(/src="data\/([^"]*)\.png" x="(\d+)" y="(\d+)"/g)) {
      const meta = await sharp(files.get(`data/${m[1]}.png`)!).metadata();
      const expected = m[1] === 'ref' ? [32, 24, '4', '4'] : [64, 48, '0', '0'];
      expect([meta.width, meta.height, m[2], m[3]]).toEqual(expected);
    }
    expect([...xml.matchAll(/src="data\//g)]).toHaveLength(sample.layers.length);
    expect(Buffer.from(files.get('data/ref.png')!)).toEqual(Buffer.from(dataUrlToPng(sampleAssets['parts/ref.png']!)));
    const thumb = await sharp(files.get('Thumbnails/thumbnail.png')!).metadata();
    expect(Math.max(thumb.width!, thumb.height!)).toBeLessThanOrEqual(256);
    // And it reads back: the same stack, bottom first.
    const back = await readOra(ora);
    expect(back.layers.map((l) => [l.name, l.opacity, l.visible])).toEqual(sample.layers.map((l) => [l.name, l.opacity, l.visible]));
    expect(back.layers.find((l) => l.name === 'Photo ref')).toMatchObject({ x: 4, y: 4, width: 32, height: 24 });
  });

  it('PSD: one layer per document layer, bottom first, pixels as rendered', async () => {
    const psdBytes = await exportPsd(sample, sampleAssets);
    const psd = readPsd(psdBytes, { useImageData: true, skipThumbnail: true });
    expect(psd).toMatchObject({ width: 64, height: 48 });
    expect(psd.children!.map((l) => [l.name, Math.round(l.opacity! * 100) / 100, !!l.hidden])).toEqual(sample.layers.map((l) => [l.name, l.opacity, !l.visible]));
    // The paint layer's pixels are the part's pixels (it covers the canvas exactly).
    const paint = psd.children!.find((l) => l.name === 'Underpaint')!;
    const expected = await sharp(dataUrlToPng(sampleAssets['parts/paint.png']!)).ensureAlpha().raw().toBuffer();
    expect(Buffer.from(paint.imageData!.data)).toEqual(expected);
    const imported = await readPsdLayers(Buffer.from(psdBytes));
    expect(imported.layers.map((l) => l.name)).toEqual(sample.layers.map((l) => l.name));
    expect(imported.layers.find((l) => l.name === 'Photo ref')).toMatchObject({ x: 4, y: 4, width: 32, height: 24 });
  });

  it('flattened PNG carries the candidate generation metadata; guides stay out', async () => {
    const out = path.join(home.home, 'out', 'flat.png');
    const studio = await createStudio({ transport: 'cli', home: home.home });
    try {
      const result = await studio.call('projects.export', { path: file, format: 'png', out });
      expect(result.bytes).toBe(fs.statSync(out).size);
    } finally {
      await studio.close();
    }
    const png = fs.readFileSync(out);
    const meta = readPngMetadata(png);
    const parameters = meta.chunks.parameters ?? '';
    expect(parameters).toMatch(/^a red barn at dusk\n/);
    expect(parameters).toMatch(/Seed: 9/);
    expect(JSON.parse(meta.chunks.atelier!)).toMatchObject({ format: 'atelier', candidateId: 'c2a', generationId: 'g2' });
    // The generated layer is opaque and covers the canvas, so the flattened picture is its pixels.
    const flat = await sharp(png).raw().toBuffer();
    const candidate = await sharp(dataUrlToPng(sampleAssets['parts/c2a.png']!)).ensureAlpha().raw().toBuffer();
    const opaque = (i: number) => candidate[i * 4 + 3] === 255;
    for (let i = 0; i < 64 * 48; i += 97) if (opaque(i)) expect([...flat.subarray(i * 4, i * 4 + 3)]).toEqual([...candidate.subarray(i * 4, i * 4 + 3)]);
    // Mask and control layers are guides: on top, visible and opaque, they still change nothing.
    let guidesOnTop = moveLayer(sample, 'mask', sample.layers.length - 1);
    guidesOnTop = moveLayer(guidesOnTop, 'ctl-depth', sample.layers.length - 1);
    guidesOnTop = setLayerProperties(guidesOnTop, 'mask', { opacity: 1 });
    expect(Buffer.from((await flatten(guidesOnTop, sampleAssets)).data)).toEqual(Buffer.from((await flatten(sample, sampleAssets)).data));
    // An offset layer at 60 % over the white background: src-over, straight alpha.
    let onlyRef = sample;
    for (const l of sample.layers) if (l.id !== 'ref') onlyRef = setLayerProperties(onlyRef, l.id, { visible: false });
    const refFlat = await flatten(onlyRef, sampleAssets);
    const ref = await sharp(dataUrlToPng(sampleAssets['parts/ref.png']!)).ensureAlpha().raw().toBuffer();
    const at = (img: Uint8Array, w: number, x: number, y: number) => [...img.subarray((y * w + x) * 4, (y * w + x) * 4 + 4)];
    expect(at(refFlat.data, 64, 0, 0)).toEqual([255, 255, 255, 255]);
    expect(at(refFlat.data, 64, 40, 30)).toEqual([255, 255, 255, 255]);
    const [r, g, b] = at(ref, 32, 10, 3);
    expect(at(refFlat.data, 64, 14, 7)).toEqual([Math.round(r! * 0.6 + 255 * 0.4), Math.round(g! * 0.6 + 255 * 0.4), Math.round(b! * 0.6 + 255 * 0.4), 255]);
    // The reference's own transparent corner lets the background through.
    expect(at(refFlat.data, 64, 4, 4)).toEqual([255, 255, 255, 255]);
    // Hiding the generated layer reveals the paint below.
    const hidden = await flatten(setLayerProperties(sample, 'gen', { visible: false }), sampleAssets);
    expect(Buffer.from(hidden.data)).not.toEqual(Buffer.from((await flatten(sample, sampleAssets)).data));
  });

  it('CLI: project info and every export format', async () => {
    const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', 'main/cli/main.ts', ...args], { env: { ...process.env, ATELIER_HOME: home.home } });
    const info = await cli('project', 'info', file);
    expect(info.stdout).toMatch(/Barn at dusk/);
    expect(info.stdout).toMatch(/canvas 64×48, 8 layers, 3 generations, 5 candidates/);
    const json = JSON.parse((await cli('project', 'info', file, '--json')).stdout);
    expect(json.layers[0]).toMatchObject({ id: 'gen', kind: 'generated' });
    for (const format of ['ora', 'contact-sheet']) {
      const out = path.join(home.home, 'cli', `sample.${format}`);
      expect((await cli('project', 'export', file, '--format', format, '--out', out)).stdout).toMatch(/^wrote /);
      expect(fs.statSync(out).size).toBeGreaterThan(100);
    }
    const sheet = await sharp(path.join(home.home, 'cli', 'sample.contact-sheet')).metadata();
    expect(sheet.format).toBe('png');
    const g0 = path.join(home.home, 'cli', 'g0.png');
    await cli('project', 'export', file, '--format', 'contact-sheet', '--generation', 'g0', '--out', g0);
    // Two candidates side by side: wider than one.
    expect((await sharp(g0).metadata()).width).toBeGreaterThan(sheet.width!);
    await expect(cli('project', 'export', file, '--format', 'contact-sheet', '--generation', 'nope', '--out', g0)).rejects.toMatchObject({ stderr: expect.stringMatching(/No generation "nope"/) });
    await expect(cli('project', 'info', path.join(home.home, 'missing.atelier'))).rejects.toMatchObject({ stderr: expect.stringMatching(/Cannot read/) });
  });

  it('imports a plain image and an .atelier as layers with fresh ids', async () => {
    const studio = await createStudio({ transport: 'cli', home: home.home });
    try {
      const jpg = path.join(home.home, 'photo.jpg');
      await sharp({ create: { width: 40, height: 30, channels: 3, background: '#336699' } }).jpeg().toFile(jpg);
      const image = await studio.call('projects.importLayers', { path: jpg, kind: 'reference' });
      expect(image.layers).toHaveLength(1);
      expect(image.layers[0]).toMatchObject({ kind: 'reference', name: 'photo.jpg', width: 40, height: 30 });
      const project = await studio.call('projects.importLayers', { path: file });
      expect(project.layers.map((l) => l.name)).toEqual(sample.layers.map((l) => l.name));
      expect(project.layers.some((l) => sample.layers.some((s) => s.id === l.id))).toBe(false);
      expect(project.layers.find((l) => l.name === 'Seed 9')!.kind).toBe('paint');
      const control = project.layers.find((l) => l.name === 'Scribble from sketch');
      expect(control).toMatchObject({ kind: 'control', sourceLayerId: project.layers.find((l) => l.name === 'Sketch')!.id });
      const opened = await studio.call('projects.open', { path: jpg });
      expect(opened).toMatchObject({ source: 'image', path: null, snapshot: { document: { canvas: { width: 40, height: 30 } } } });
    } finally {
      await studio.close();
    }
  });
});
