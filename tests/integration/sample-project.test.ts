import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { readPsd } from 'ag-psd';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAYER_KINDS, type ProjectDocument } from '../../app/contract/projects.js';
import { encodeProjectFile, readProjectFile } from '../../app/projects/atelier-file.js';
import { type ProjectAssets, findCandidate, iterationTree, lineage, referencedParts } from '../../app/projects/document/index.js';
import { readZip } from '../../app/projects/zip.js';
import { type StudioService, createStudio } from '../../app/service/index.js';
import { tempHome } from '../helpers/home.js';

// The committed sample project (resources/samples, made by scripts/make-sample.ts with the
// starter model): it opens through the projects area, holds every layer kind and a chain of
// refinements with their candidate images, re-saves to the same bytes, and exports. No
// generation here: the sample is the generation's output.

const run = promisify(execFile);
const SAMPLE = path.resolve('resources/samples/lake-house.atelier');
const BIN = path.resolve('bin/atelier.mjs');
const { home, cleanup } = tempHome();
let studio: StudioService;
let doc: ProjectDocument;
let assets: ProjectAssets;

beforeAll(async () => {
  studio = await createStudio({ transport: 'cli', home });
  const opened = await studio.call('projects.open', { path: SAMPLE });
  expect(opened).toMatchObject({ source: 'atelier', migratedFrom: null });
  doc = opened.snapshot.document;
  assets = opened.snapshot.assets;
});
afterAll(async () => {
  await studio.close();
  cleanup();
});

describe('the sample project', () => {
  it('is small enough to ship and opens complete', () => {
    expect(fs.statSync(SAMPLE).size).toBeLessThan(3 * 1024 * 1024);
    expect(doc.canvas).toMatchObject({ width: 256, height: 256 });
    for (const part of referencedParts(doc)) expect(assets[part], part).toBeDefined();
  });

  it('has every layer kind, with content', () => {
    expect(new Set(doc.layers.map((l) => l.kind))).toEqual(new Set(LAYER_KINDS));
    const sketch = doc.layers.find((l) => l.kind === 'sketch');
    expect(sketch?.kind === 'sketch' && sketch.strokes.length).toBeGreaterThanOrEqual(5);
    const shapes = doc.layers.find((l) => l.kind === 'shapes');
    expect(shapes?.kind === 'shapes' && shapes.shapes.find((s) => s.type === 'region')).toMatchObject({ label: 'red house' });
    expect(new Set(shapes?.kind === 'shapes' ? shapes.shapes.map((s) => s.type) : [])).toEqual(new Set(['region', 'ellipse', 'rectangle', 'line']));
    // The control layer renders the sketch through scribble (the starter's own controlnet/).
    const control = doc.layers.find((l) => l.kind === 'control');
    expect(control).toMatchObject({ controlType: 'scribble', preprocess: 'scribble', sourceLayerId: sketch!.id, image: null });
    // Accepted images point at candidates of this document, with the same pixels.
    const generated = doc.layers.filter((l) => l.kind === 'generated');
    expect(generated.length).toBeGreaterThanOrEqual(2);
    for (const l of generated) {
      const found = findCandidate(doc, l.candidateId);
      expect(found?.generation.id).toBe(l.generationId);
      expect(l.image).toEqual(found?.candidate.image);
    }
  });

  it('records two rounds of refinement: txt2img + scribble → inpaint with the painted mask → img2img', () => {
    expect(doc.generations.length).toBeGreaterThanOrEqual(3);
    const [root, ...rest] = iterationTree(doc);
    expect(rest).toHaveLength(0);
    expect(root!.generation).toMatchObject({ mode: 'txt2img', parentCandidateId: null });
    expect(root!.generation.request).toMatchObject({ model: 'starter', steps: 12, device: 'cpu', controls: [{ type: 'scribble', model: 'resources/models/starter/controlnet', preprocess: 'scribble' }] });
    expect(root!.generation.candidates.length).toBeGreaterThanOrEqual(2);
    // Depth 2: a candidate of the root refined (inpaint), and a candidate of that refined again (img2img).
    const inpaint = root!.candidates.flatMap((c) => c.refinements)[0]!;
    expect(inpaint.generation).toMatchObject({ mode: 'inpaint', maskLayerId: 'mask' });
    expect(inpaint.generation.maskSnapshot).not.toBeNull();
    expect(inpaint.generation.request).toMatchObject({ init: { sha256: findCandidate(doc, inpaint.generation.parentCandidateId!)!.candidate.sha256 } });
    const img2img = inpaint.candidates.flatMap((c) => c.refinements)[0]!;
    expect(img2img.generation).toMatchObject({ mode: 'img2img', maskLayerId: null });
    expect(img2img.generation.candidates).toHaveLength(2);
    // The picture on top is the end of that chain.
    const top = [...doc.layers].reverse().find((l) => l.kind === 'generated' && l.visible);
    expect(top?.kind === 'generated' && lineage(doc, top.candidateId).map((g) => g.mode)).toEqual(['txt2img', 'inpaint', 'img2img']);
  });

  it("keeps every candidate's image, at its recorded size and seed order", async () => {
    for (const generation of doc.generations) {
      const seed = (generation.request as { seed: number }).seed;
      for (const c of generation.candidates) {
        expect(c.seed).toBe(seed + c.index);
        // By reference (schema 2): opening the file filed the library's bytes in this studio's library.
        expect(c.image).toEqual({ sha256: c.sha256 });
        const png = fs.readFileSync(studio.mediaFile('image', c.sha256)!);
        expect(createHash('sha256').update(png).digest('hex')).toBe(c.sha256);
        const meta = await sharp(png).metadata();
        expect([meta.format, meta.width, meta.height]).toEqual(['png', c.width, c.height]);
      }
    }
    // Different seeds made different pictures.
    const first = doc.generations[0]!.candidates.map((c) => c.sha256);
    expect(new Set(first).size).toBe(first.length);
  });

  it('re-saves to the same document, parts and bytes', async () => {
    const out = path.join(home, 'resaved.atelier');
    const opened = await studio.call('projects.open', { path: SAMPLE });
    await studio.call('projects.saveAs', { sessionId: opened.sessionId, path: out });
    const original = await readZip(fs.readFileSync(SAMPLE));
    const resaved = await readZip(fs.readFileSync(out));
    expect([...resaved.files.keys()].sort()).toEqual([...original.files.keys()].sort());
    for (const [name, bytes] of original.files) {
      if (name !== 'manifest.json') expect(Buffer.from(resaved.files.get(name)!).equals(Buffer.from(bytes)), name).toBe(true);
    }
    const manifest = (bytes: Uint8Array) => ({ ...JSON.parse(Buffer.from(bytes).toString('utf8')), savedAt: undefined }) as unknown;
    expect(manifest(resaved.files.get('manifest.json')!)).toEqual(manifest(original.files.get('manifest.json')!));
    // With the original save time, the whole file is byte-identical.
    const { savedAt, appVersion } = JSON.parse(Buffer.from(original.files.get('manifest.json')!).toString('utf8')) as { savedAt: string; appVersion: string };
    const reread = await readProjectFile(out);
    expect((await encodeProjectFile(reread.document, reread.assets, appVersion, savedAt)).equals(fs.readFileSync(SAMPLE))).toBe(true);
  });

  it('exports through `atelier project export` to OpenRaster and PSD with every layer', async () => {
    const out = (ext: string) => path.join(home, `sample.${ext}`);
    const env = { ...process.env, ATELIER_HOME: home };
    await Promise.all(
      ['ora', 'psd'].map((format) => run(process.execPath, [BIN, 'project', 'export', SAMPLE, '--format', format, '--out', out(format)], { env, timeout: 60_000 })),
    );
    const { files } = await readZip(fs.readFileSync(out('ora')));
    const stack = Buffer.from(files.get('stack.xml')!).toString('utf8');
    expect([...stack.matchAll(/<layer name="([^"]*)"/g)].map((m) => m[1])).toEqual([...doc.layers].reverse().map((l) => l.name));
    const merged = await sharp(files.get('mergedimage.png')!).metadata();
    expect([merged.width, merged.height]).toEqual([256, 256]);
    const psd = readPsd(fs.readFileSync(out('psd')), { skipLayerImageData: true, skipThumbnail: true, skipCompositeImageData: true });
    expect(psd).toMatchObject({ width: 256, height: 256 });
    expect(psd.children!.map((l) => [l.name, !!l.hidden])).toEqual(doc.layers.map((l) => [l.name, !l.visible]));
  });
});
